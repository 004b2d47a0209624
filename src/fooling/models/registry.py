"""The model registry (timm's ``register_model`` / ``create_model`` pattern)."""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, UnknownNameError
from .classifier import CROPS, Classifier

Factory = Callable[..., Classifier]
_MODELS: dict[str, Factory] = {}


def register_model(name: str) -> Callable[[Factory], Factory]:
    """Register ``factory(*, weights: Path | None, **options) -> Classifier`` under ``name``."""

    def wrap(factory: Factory) -> Factory:
        _MODELS[name] = factory
        return factory

    return wrap


def list_models() -> list[str]:
    """Names ``create_classifier`` accepts (besides ``"module.path:factory"``)."""
    return sorted(_MODELS)


def model_options(name: str) -> list[str]:
    """The keyword options a registered model's factory takes beyond ``weights``."""
    factory = _MODELS[name]
    params = inspect.signature(factory).parameters
    return [p for p in params if p != "weights"]


def create_classifier(
    name: str,
    *,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
    autocast: str | None = None,
    crop: str | None = None,
    **options: Any,
) -> Classifier:
    """Build a classifier on ``device``.

    Args:
        name: a registered name (``list_models()``), or ``"module.path:factory"`` for any
            PyTorch classifier (options: ``input_size``, ``input_channels``, ``scale``,
            ``mean``, ``std``, ``channel_order``, ``resize_size``, ``labels``; see
            ``fooling.models.user.user_classifier``).
        weights: a weights file to load instead of the default ones.
        device: where the network runs.
        batch_size: largest number of network inputs scored at once (``None``: the
            classifier's default for its device, see ``Classifier``).
        autocast: ``"bf16"`` or ``"fp16"``: score under ``torch.autocast``.
        crop: override the model's crop policy: ``"center"`` or ``"ten"``.
        **options: the model's own options (``model_options(name)``), e.g. ``mean_image``
            for ``caffenet``, ``subtract_mean`` for the LeNets.

    Raises:
        UnknownNameError: ``name`` is not registered (nor importable as module:factory).
        ConfigError: an option the model does not take, or a bad value.
        DataError: the weights are missing or corrupt.
    """
    if crop is not None and crop not in CROPS:
        raise ConfigError(f"crop must be one of {', '.join(CROPS)}, got {crop!r}")
    path = Path(weights) if weights is not None else None
    if ":" in name and name not in _MODELS:
        from .user import user_classifier

        try:
            clf = user_classifier(name, weights=path, **options)
        except TypeError as e:
            raise ConfigError(f"model {name!r}: {e}") from None
    else:
        try:
            factory = _MODELS[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown model {name!r}; known models: {', '.join(list_models())}, "
                "or module.path:factory"
            ) from None
        known = model_options(name)
        unknown = sorted(set(options) - set(known))
        if unknown:
            takes = f"it takes {', '.join(known)}" if known else "it takes none"
            raise ConfigError(f"model {name!r} has no option {', '.join(unknown)}; {takes}")
        clf = factory(weights=path, **options)
    if crop is not None and crop != clf.spec.crop:
        clf.spec = dataclasses.replace(clf.spec, crop=crop)
    clf.batch_size = batch_size
    clf.autocast = autocast
    return clf.to(device)
