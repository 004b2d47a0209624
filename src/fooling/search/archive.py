"""One champion per class (PAPER.md §4): the archive of MAP-Elites for fooling images.

The archive holds numbers only — per-class confidence, the generation a champion was found,
the first generation each threshold was crossed. The genomes stay with the search, which
moves them with the indices ``update`` returns. Every update is a handful of tensor
operations on the probabilities' device; there is no loop over classes or images.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

THRESHOLDS: tuple[float, ...] = (0.99, 0.999, 0.9999)


class ClassArchive:
    """Per-class champions' confidences.

    Args:
        num_classes: K, the number of cells (one per target class).
        thresholds: confidence levels whose first crossing is recorded per class.
        device: where the tensors live (the classifier's device).

    Attributes:
        confidence: ``(K,)`` float32, the champion's probability for its class
            (``-inf`` while the cell is empty).
        found: ``(K,)`` int64, the generation the champion was found (-1 empty).
        first_crossing: ``(T, K)`` int64, the first generation the class's champion reached
            each threshold (-1 not yet).
    """

    def __init__(
        self,
        num_classes: int,
        *,
        thresholds: Sequence[float] = THRESHOLDS,
        device: str | torch.device = "cpu",
    ):
        self.num_classes = num_classes
        self.thresholds = tuple(float(t) for t in thresholds)
        self.confidence = torch.full((num_classes,), float("-inf"), device=device)
        self.found = torch.full((num_classes,), -1, dtype=torch.long, device=device)
        self.first_crossing = torch.full(
            (len(self.thresholds), num_classes), -1, dtype=torch.long, device=device
        )
        # float64: float32(0.9999) is below 0.9999, so a float32 comparison would count
        # a confidence that the files record as 0.99989998... as at or above 0.9999.
        self._levels = torch.tensor(self.thresholds, dtype=torch.float64, device=device)[:, None]

    @property
    def occupied(self) -> torch.Tensor:
        """``(K,)`` bool: cells that hold a champion."""
        return self.found >= 0

    def update(self, probs: torch.Tensor, generation: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Let each image take every class whose champion it strictly beats.

        Among images of one batch that tie for a class, the first wins, as when the released
        code inserts a batch one image after another with a strict comparison.

        Args:
            probs: ``(N, K)`` probabilities of a batch of N images.
            generation: the generation the batch belongs to.

        Returns:
            ``classes`` ``(M,)``: the classes that got a new champion, and ``winners``
            ``(M,)``: the index in the batch of each one's new champion.
        """
        if probs.ndim != 2 or probs.shape[1] != self.num_classes:
            raise ValueError(f"probs must be (N, {self.num_classes}), got {tuple(probs.shape)}")
        best, winner = probs.to(self.confidence.device).max(dim=0)
        improved = best > self.confidence
        self.confidence = torch.where(improved, best, self.confidence)
        self.found = torch.where(improved, generation, self.found)
        newly = (self.confidence.double()[None] >= self._levels) & (self.first_crossing < 0)
        self.first_crossing = torch.where(newly, generation, self.first_crossing)
        classes = improved.nonzero().squeeze(1)
        return classes, winner[classes]

    def counts(self) -> list[int]:
        """The number of classes at or above each threshold."""
        return (self.confidence.unsqueeze(0) >= self._levels).sum(1).tolist()

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "confidence": self.confidence,
            "found": self.found,
            "first_crossing": self.first_crossing,
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        device = self.confidence.device
        for key in ("confidence", "found", "first_crossing"):
            value = state[key].to(device)
            if value.shape != getattr(self, key).shape:
                raise ValueError(f"archive {key}: shape {tuple(value.shape)} does not fit")
            setattr(self, key, value)
