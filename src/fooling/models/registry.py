"""The model registry (timm's ``register_model`` / ``create_model`` pattern)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from ..errors import UnknownNameError
from .classifier import Classifier

Factory = Callable[..., Classifier]
_MODELS: dict[str, Factory] = {}


def register_model(name: str) -> Callable[[Factory], Factory]:
    """Register ``factory(*, weights: Path | None) -> Classifier`` under ``name``."""

    def wrap(factory: Factory) -> Factory:
        _MODELS[name] = factory
        return factory

    return wrap


def list_models() -> list[str]:
    """Names ``create_classifier`` accepts."""
    return sorted(_MODELS)


def create_classifier(
    name: str,
    *,
    weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 1024,
) -> Classifier:
    """Build a registered classifier on ``device``.

    Args:
        name: a registered name (``list_models()``).
        weights: a weights file to load instead of the default ones.
        device: where the network runs.
        batch_size: largest batch scored at once.

    Raises:
        UnknownNameError: ``name`` is not registered.
        DataError: the weights are missing or corrupt.
    """
    try:
        factory = _MODELS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown model {name!r}; known models: {', '.join(list_models())}"
        ) from None
    clf = factory(weights=Path(weights) if weights is not None else None)
    clf.batch_size = batch_size
    return clf.to(device)
