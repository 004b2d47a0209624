"""Any PyTorch classifier as ``"module.path:factory"``: the factory is called with no
arguments and returns an ``nn.Module`` (wrapped with the preprocessing given here) or a
ready ``Classifier``."""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, DataError, UnknownNameError, first_line
from .classifier import Classifier, ClassifierSpec
from .weights import load_weights_file


def read_labels(path: str | Path) -> tuple[str, ...]:
    """Class names from a text file (one per line) or a JSON list."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise DataError(f"cannot read labels {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise DataError(f"labels {path} is not UTF-8 text: {e}") from None
    if path.suffix.lower() == ".json":
        try:
            labels = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"labels {path} is not valid JSON: {e}") from None
        if not isinstance(labels, list):
            raise DataError(f"labels {path} must hold a JSON list of names")
        return tuple(str(x) for x in labels)
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return tuple(lines)


def user_classifier(
    name: str,
    *,
    weights: Path | None = None,
    input_size: int | None = None,
    input_channels: int = 3,
    scale: float = 1.0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    channel_order: str = "RGB",
    resize_size: int | None = None,
    labels: str | Path | None = None,
) -> Classifier:
    """Import ``module.path:factory`` and wrap what it returns.

    Args:
        name: ``"module.path:factory"``; the module must be importable.
        weights: a state dict (``.safetensors``, ``.pt``/``.pth``, ``.caffemodel``) to load.
        input_size: the network's input side (default 224).
        input_channels: 1 or 3.
        scale, mean, std: the network sees ``(x * scale - mean) / std`` for ``x`` in [0, 1]
            (default: ``x`` itself).
        channel_order: ``"RGB"`` or ``"BGR"``.
        resize_size: images of another size are resized to this, then centre-cropped.
        labels: a file of class names (one per line, or a JSON list).

    Raises:
        UnknownNameError: the module or factory cannot be found.
        ConfigError, DataError: bad settings, labels or weights.
    """
    modname, _, attr = name.partition(":")
    if not modname or not attr:
        raise UnknownNameError(f"model {name!r} must be 'module.path:factory'")
    try:
        module = importlib.import_module(modname)
    except ImportError as e:
        raise UnknownNameError(f"cannot import {modname!r} for model {name!r}: {e}") from None
    factory: Any = module
    for part in attr.split("."):
        factory = getattr(factory, part, None)
        if factory is None:
            raise UnknownNameError(f"module {modname!r} has no {attr!r} (model {name!r})")
    if not callable(factory):
        raise UnknownNameError(f"{name!r} is not callable")
    made = factory()
    if isinstance(made, Classifier):
        given = [k for k, v in (("input_size", input_size), ("mean", mean), ("std", std),
                                ("labels", labels)) if v is not None]  # fmt: skip
        if given:
            raise ConfigError(
                f"{name} returns a Classifier with its own preprocessing; drop {', '.join(given)}"
            )
        if weights is not None:
            load_weights_file(made.module, weights)
        return made
    if not isinstance(made, nn.Module):
        raise ConfigError(f"{name} returned {type(made).__name__}, not an nn.Module")
    if weights is not None:
        load_weights_file(made, weights)
    odd = sorted({str(p.dtype) for p in made.parameters() if p.dtype != torch.float32})
    if odd:
        raise ConfigError(
            f"{name} has {'/'.join(odd)} parameters; it is fed float32 images "
            "(return model.float() from the factory)"
        )
    size = input_size or 224
    names = read_labels(labels) if labels is not None else ()
    made.eval()
    if names:
        num_classes = len(names)
    else:  # one forward pass on a blank image tells the number of outputs
        blank = torch.zeros(1, input_channels, size, size)
        try:
            with torch.no_grad():
                out = made(blank)
        except Exception as e:  # the user's code: any failure is a bad setting
            raise ConfigError(
                f"{name} fails on a blank {input_channels}x{size}x{size} image "
                f"(input size and channels right?): {type(e).__name__}: {first_line(e)}"
            ) from None
        if not isinstance(out, torch.Tensor) or out.ndim != 2:
            what = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ConfigError(f"{name} returns {what}, not (N, K) logits")
        num_classes = int(out.shape[1])
    spec = ClassifierSpec(
        name=name,
        num_classes=num_classes,
        input_channels=input_channels,
        input_size=size,
        scale=scale,
        mean=tuple(mean) if mean is not None else (0.0,),
        std=tuple(std) if std is not None else (1.0,),
        channel_order=channel_order,
        labels=names,
        resize_size=resize_size,
    )
    return Classifier(made, spec)
