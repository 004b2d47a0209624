"""Encodings: genomes -> images, with their variation operators."""

from __future__ import annotations

from typing import Any

from ..errors import UnknownNameError
from .base import Encoding
from .direct import DirectEncoding

ENCODINGS = ("direct", "cppn")


def create_encoding(name: str, **settings: Any) -> Encoding:
    """Build an encoding by name with keyword settings."""
    if name == "direct":
        return DirectEncoding(**settings)
    if name == "cppn":
        from .cppn import CPPNEncoding

        return CPPNEncoding(**settings)
    raise UnknownNameError(f"unknown encoding {name!r}; known encodings: {', '.join(ENCODINGS)}")


__all__ = ["ENCODINGS", "DirectEncoding", "Encoding", "create_encoding"]
