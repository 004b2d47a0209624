"""The encoding protocol: how genomes are made, varied, rendered and stored.

A *genome batch* ``G`` is whatever an encoding finds convenient (a tensor for the direct
encoding, a packed batch of graphs for the CPPN); the search only ever handles it through
``take`` and ``cat``, so the archive never needs to know what a genome is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import torch

G = TypeVar("G")


@runtime_checkable
class Encoding(Protocol[G]):
    """Genomes -> images.

    Attributes:
        name: registry name (``"direct"``, ``"cppn"``).
        channels: image channels C (1 grey, 3 colour).
        size: image side H = W in pixels.
        device: where genomes live and images are rendered.
    """

    name: str
    channels: int
    size: int
    device: torch.device

    def init(self, n: int, generator: torch.Generator) -> G:
        """``n`` random genomes."""

    def vary(self, parents: G, generator: torch.Generator, generation: int = 0) -> G:
        """Offspring of ``parents`` (crossover, if any, between consecutive pairs, then
        mutation); as many offspring as parents."""

    def render(self, genomes: G) -> torch.Tensor:
        """Images ``(N, C, H, W)`` float32 in [0, 1], multiples of 1/255, on ``device``."""

    def take(self, genomes: G, index: torch.Tensor) -> G:
        """The genomes at ``index`` (a 1-D long tensor), in that order."""

    def cat(self, a: G, b: G) -> G:
        """``a`` followed by ``b``."""

    def count(self, genomes: G) -> int:
        """Number of genomes in a batch."""

    def save(self, genomes: G, path: Path) -> None:
        """Write a batch to ``path`` (atomically)."""

    def load(self, path: Path) -> G:
        """Read a batch written by ``save``."""

    def settings(self) -> dict[str, Any]:
        """JSON-able settings, written to ``config.json``."""
