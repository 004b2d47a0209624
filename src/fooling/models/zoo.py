"""Registered classifiers. Adding one = a factory here + one row in the registry test."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, safe_open, save_file

from .. import _io
from ..errors import DataError
from .classifier import Classifier, ClassifierSpec
from .lenet import LeNet
from .registry import register_model

MNIST_LABELS = tuple(str(k) for k in range(10))


def lenet_spec(name: str) -> ClassifierSpec:
    # Caffe fed LeNet pixel/256 (scale 0.00390625); our images are pixel/255.
    return ClassifierSpec(
        name=name,
        num_classes=10,
        input_channels=1,
        input_size=28,
        scale=255.0 / 256.0,
        labels=MNIST_LABELS,
    )


def shipped_weights(name: str) -> Path:
    """Path of a checkpoint that ships inside the package."""
    return Path(str(resources.files("fooling.models") / "weights" / f"{name}.safetensors"))


def save_checkpoint(model: torch.nn.Module, path: str | Path, metadata: dict[str, Any]) -> None:
    """Write ``model``'s state dict as safetensors with JSON metadata, atomically."""
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with _io.atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint written by ``save_checkpoint``."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    out: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def load_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise DataError(f"weights file not found: {path}")
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises several types for a bad file
        raise DataError(
            f"cannot read weights {path}: corrupt or not a safetensors file ({e})"
        ) from None


def load_lenet(path: Path, name: str) -> Classifier:
    state = load_state(path)
    model = LeNet(10)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise DataError(f"{path} does not hold LeNet weights: {first}") from None
    return Classifier(model, lenet_spec(name))


@register_model("lenet-mnist")
def lenet_mnist(*, weights: Path | None = None) -> Classifier:
    """The paper's MNIST LeNet (DNN A), trained by ``fooling train lenet --seed 0``."""
    return load_lenet(weights or shipped_weights("lenet-mnist"), "lenet-mnist")


@register_model("lenet-mnist-b")
def lenet_mnist_b(*, weights: Path | None = None) -> Classifier:
    """A second LeNet (DNN B, another seed) for transfer experiments."""
    return load_lenet(weights or shipped_weights("lenet-mnist-b"), "lenet-mnist-b")
