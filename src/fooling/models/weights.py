"""Weights and mean-image files, whatever their format: safetensors, a PyTorch state dict
(``.pt``/``.pth``/``.bin``), a Caffe ``.caffemodel``; mean images as ``.npy``,
``.binaryproto`` or an 8-bit image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import DataError, first_line
from .caffe import load_caffe_weights, read_binaryproto, read_caffemodel


def uninitialized(make: Callable[[], nn.Module]) -> nn.Module:
    """``make()`` built without running its weight initialisers (on the meta device, then
    given uninitialised CPU storage): for a network whose every parameter and buffer is about
    to be loaded strictly, which spares seconds of random init on a 61M-parameter AlexNet."""
    with torch.device("meta"):
        module = make()
    return module.to_empty(device="cpu")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a ``torch.save`` file (also one nested under
    ``"state_dict"`` or ``"model"``), on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"weights file not found: {path}")
    state: Any
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # both readers raise many types for a bad file
        raise DataError(
            f"cannot read weights {path}: corrupt or not a state dict ({first_line(e)})"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"{path} does not hold a state dict of tensors")
    return state


def load_weights_file(module: nn.Module, path: str | Path) -> None:
    """Load ``path`` into ``module`` strictly: a ``.caffemodel`` by layer names, any other
    file as a state dict.

    Raises:
        DataError: the file is missing, unreadable, or holds weights of another network.
    """
    path = Path(path)
    if path.suffix == ".caffemodel":
        load_caffe_weights(module, read_caffemodel(path), str(path))
        return
    state = read_state_dict(path)
    fit_head(module, state)
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        lines = [x.strip() for x in str(e).strip().splitlines() if x.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else ""
        raise DataError(
            f"{path} does not hold {type(module).__name__} weights: {detail[:200]}"
        ) from None


def head(module: nn.Module) -> tuple[str, nn.Linear]:
    """The name and layer of ``module``'s last ``nn.Linear`` (its classifier head)."""
    found = [(name, m) for name, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise DataError(f"{type(module).__name__} has no linear classifier head")
    return found[-1]


def resize_head(module: nn.Module, num_classes: int) -> nn.Linear:
    """Give ``module``'s head ``num_classes`` outputs, keeping the rows it shares with the
    old head (a new class starts from the mean of the old rows, so it begins as likely as
    an average class; fine-tuning then separates it)."""
    name, old = head(module)
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None)
    new = new.to(old.weight.device, old.weight.dtype)
    k = min(num_classes, old.out_features)
    with torch.no_grad():
        new.weight[:k] = old.weight[:k]
        new.weight[k:] = old.weight.mean(0)
        if old.bias is not None:
            new.bias[:k] = old.bias[:k]
            new.bias[k:] = old.bias.mean()
    parent, _, attr = name.rpartition(".")
    setattr(module.get_submodule(parent) if parent else module, attr, new)
    return new


def fit_head(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Resize ``module``'s head to the number of classes a checkpoint holds (a network
    retrained with an extra "fooling" class loads into the registry's architecture)."""
    name, layer = head(module)
    weight = state.get(f"{name}.weight")
    if (
        weight is not None
        and weight.ndim == 2
        and weight.shape[1] == layer.in_features
        and weight.shape[0] != layer.out_features
    ):
        resize_head(module, weight.shape[0])


def class_labels(base: tuple[str, ...], num_classes: int, path: str | Path) -> tuple[str, ...]:
    """Labels for a network with ``num_classes`` outputs whose first classes are ``base``:
    the checkpoint's own ``labels`` metadata (safetensors), else ``base`` plus
    ``"fooling"`` for one extra class (PAPER.md §6)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        try:
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                text = (f.metadata() or {}).get("labels")
        except Exception:  # already read once as weights; metadata is optional
            text = None
        if text:
            import json

            labels = tuple(json.loads(text))
            if len(labels) == num_classes:
                return labels
    if num_classes == len(base):
        return base
    if num_classes == len(base) + 1:
        return (*base, "fooling")
    raise DataError(f"{path} holds {num_classes} classes; expected {len(base)} or {len(base) + 1}")


def read_mean_image(path: str | Path, channel_order: str = "RGB") -> np.ndarray:
    """A mean image as float32 ``(C, H, W)`` on the 0-255 scale in ``channel_order``.

    ``.npy`` and ``.binaryproto`` files are Caffe's: (C, H, W) already in the network's order
    (BGR for CaffeNet); any other file is read as an 8-bit image (RGB or grey) and reordered.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"mean image {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".binaryproto":
        return read_binaryproto(path)
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read mean image {path}: {e}") from None
        arr = np.asarray(arr, dtype=np.float32)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise DataError(f"mean image {path} has shape {arr.shape}; expected (C, H, W)")
        return arr
    from PIL import Image

    from ..rundir import eight_bit

    try:
        with Image.open(path) as im:
            arr = np.asarray(eight_bit(im))  # 16-bit grey scaled, not clipped at 255
    except OSError as e:
        raise DataError(f"cannot read mean image {path}: {e}") from None
    arr = arr.astype(np.float32)
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    if channel_order == "BGR" and arr.shape[0] == 3:
        arr = arr[::-1].copy()
    return arr
