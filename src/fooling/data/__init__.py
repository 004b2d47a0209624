"""Datasets: MNIST (idx reader, download from mirrors with checksums, cache); ImageNet class
names and photo folders."""

from __future__ import annotations

from .imagenet import image_files, imagenet_labels, load_image, load_images
from .mnist import MIRRORS, cache_dir, load_mnist, mnist_dir, read_idx, search_dirs

__all__ = [
    "MIRRORS",
    "cache_dir",
    "image_files",
    "imagenet_labels",
    "load_image",
    "load_images",
    "load_mnist",
    "mnist_dir",
    "read_idx",
    "search_dirs",
]
