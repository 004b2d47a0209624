"""Datasets: MNIST (idx reader, download from mirrors with checksums, cache)."""

from __future__ import annotations

from .mnist import MIRRORS, cache_dir, load_mnist, mnist_dir, read_idx, search_dirs

__all__ = ["MIRRORS", "cache_dir", "load_mnist", "mnist_dir", "read_idx", "search_dirs"]
