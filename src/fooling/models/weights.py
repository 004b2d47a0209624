"""Weights and mean-image files, whatever their format: safetensors, a PyTorch state dict
(``.pt``/``.pth``/``.bin``), a Caffe ``.caffemodel``; mean images as ``.npy``,
``.binaryproto`` or an 8-bit image."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import DataError
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
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # both readers raise many types for a bad file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise DataError(
            f"cannot read weights {path}: corrupt or not a state dict ({first})"
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
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        lines = [x.strip() for x in str(e).strip().splitlines() if x.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else ""
        raise DataError(
            f"{path} does not hold {type(module).__name__} weights: {detail[:200]}"
        ) from None


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

    try:
        with Image.open(path) as im:
            arr = np.asarray(
                im.convert("L") if im.mode in ("L", "I", "I;16") else im.convert("RGB")
            )
    except OSError as e:
        raise DataError(f"cannot read mean image {path}: {e}") from None
    arr = arr.astype(np.float32)
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    if channel_order == "BGR" and arr.shape[0] == 3:
        arr = arr[::-1].copy()
    return arr
