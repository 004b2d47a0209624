"""Training the paper's MNIST LeNet into a safetensors checkpoint with its metadata."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import __version__, distributed
from ..data.mnist import load_mnist
from ..errors import RunDirError
from ..models.lenet import SolverConfig, accuracy, train_lenet
from ..models.zoo import save_checkpoint


def mnist_tensors(split: str, root: str | Path | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST as LeNet sees it: ``(N, 1, 28, 28)`` float32 pixel/256, labels ``(N,)``."""
    images, labels = load_mnist(split, root=root)
    return lenet_input(images), labels


def lenet_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 MNIST images ``(N, 28, 28)`` as LeNet is trained on them: ``(N, 1, 28, 28)``
    float32 pixel/256 (the Caffe scale)."""
    return images.unsqueeze(1).float() / 256.0


def train_lenet_checkpoint(
    out: str | Path,
    *,
    seed: int = 0,
    iterations: int = 10_000,
    data: str | Path | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train LeNet on the full MNIST training set and write ``out`` with its metadata.

    Returns:
        The metadata written (test accuracy, seed, solver, ...).

    Raises:
        RunDirError: ``out`` cannot be written (checked before the data are read).
        DataError: MNIST is missing, corrupt or cannot be downloaded.
    """
    distributed.single_process("train")
    out = Path(out)
    check_writable_file(out)
    x_train, y_train = mnist_tensors("train", data)
    x_test, y_test = mnist_tensors("test", data)
    solver = SolverConfig(iterations=iterations)
    t0 = time.perf_counter()
    model = train_lenet(x_train, y_train, solver=solver, seed=seed, progress=progress)
    meta = {
        "architecture": "lenet (Caffe MNIST; PAPER.md 1.1)",
        "num_classes": 10,
        "test_accuracy": accuracy(model, x_test, y_test),
        "train_accuracy": accuracy(model, x_train, y_train),
        "seed": seed,
        "solver": dataclasses.asdict(solver),
        "preprocessing": "pixel / 256, no mean",
        "train_seconds": round(time.perf_counter() - t0, 1),
        "fooling_version": __version__,
        "torch_version": torch.__version__,
    }
    try:
        save_checkpoint(model, out, meta)
    except OSError as e:
        raise RunDirError(f"cannot write {out}: {e.strerror or e}") from None
    return meta


def check_writable_file(path: Path) -> None:
    """Raise a one-line ``RunDirError`` where a file cannot be written at ``path``: it is a
    directory, or its nearest existing ancestor is not a writable directory. Creates nothing.
    """
    if path.is_dir():
        raise RunDirError(f"cannot write {path}: it is a directory; name a file in it")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise RunDirError(f"cannot write {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK):
        raise RunDirError(f"cannot write {path}: {ancestor} is not writable")
