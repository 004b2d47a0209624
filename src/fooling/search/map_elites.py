"""MAP-Elites with one champion per class (Nguyen et al. 2015, PAPER.md §4), ask/tell style.

Every offspring is scored against every class and replaces the champion of each class whose
probability it strictly beats, so one image may hold many classes. Parents are drawn
uniformly from the champions list, in which a genome holding k classes appears k times —
that is, a parent is the champion of a class drawn uniformly.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import torch

from ..encodings.base import Encoding
from .archive import THRESHOLDS, ClassArchive

G = TypeVar("G")


class MapElites(Generic[G]):
    """The search; it receives probabilities and never sees a classifier.

    Args:
        encoding: makes, varies and stores genomes.
        num_classes: K, the number of target classes (cells).
        batch_size: offspring per generation (paper: 200 for MNIST, 400 for ImageNet CPPN).
        init_size: size of the initial random batch (generation 0).
        seed: seeds the search's own generator; every random choice draws from it.
        device: where the archive's tensors live (the classifier's device).
        thresholds: confidence levels whose first crossing is recorded.
    """

    def __init__(
        self,
        encoding: Encoding[G],
        num_classes: int,
        *,
        batch_size: int = 200,
        init_size: int = 200,
        seed: int = 0,
        device: str | torch.device = "cpu",
        thresholds: tuple[float, ...] = THRESHOLDS,
    ):
        self.encoding = encoding
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.init_size = init_size
        self.seed = seed
        rng_device = getattr(encoding, "rng_device", torch.device("cpu"))
        self.generator = torch.Generator(device=rng_device).manual_seed(seed)
        self.archive = ClassArchive(num_classes, thresholds=thresholds, device=device)
        self.champions: G | None = None
        self.generation = 0

    def __repr__(self) -> str:
        return (
            f"MapElites(encoding={self.encoding.name!r}, num_classes={self.num_classes}, "
            f"batch_size={self.batch_size}, init_size={self.init_size}, seed={self.seed})"
        )

    def ask(self) -> G:
        """The next batch: random genomes at generation 0, offspring of champions after."""
        if self.champions is None:
            return self.encoding.init(self.init_size, self.generator)
        classes = torch.randint(
            self.num_classes,
            (self.batch_size,),
            generator=self.generator,
            device=self.generator.device,
        )
        parents = self.encoding.take(self.champions, classes)
        return self.encoding.vary(parents, self.generator, generation=self.generation)

    def tell(self, genomes: G, probs: torch.Tensor) -> torch.Tensor:
        """Insert a scored batch; returns the classes ``(M,)`` that got a new champion."""
        classes, winners = self.archive.update(probs, self.generation)
        if self.champions is None:
            # Generation 0 fills every cell (any probability beats -inf).
            order = torch.empty(self.num_classes, dtype=torch.long, device=winners.device)
            order[classes] = winners
            self.champions = self.encoding.take(genomes, order)
        elif classes.numel():
            newcomers = self.encoding.take(genomes, winners)
            self.champions = _replace(self.encoding, self.champions, classes, newcomers)
        self.generation += 1
        return classes

    # -- checkpoints ---------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything but the champions' genomes (the encoding stores those)."""
        return {
            "generation": self.generation,
            "generator": self.generator.get_state(),
            "archive": self.archive.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any], champions: G) -> None:
        self.generation = int(state["generation"])
        self.generator.set_state(state["generator"])
        self.archive.load_state_dict(state["archive"])
        self.champions = champions


def _replace(encoding: Encoding[G], champions: G, classes: torch.Tensor, newcomers: G) -> G:
    """``champions`` with ``newcomers`` at ``classes``; in place where the encoding can."""
    put = getattr(encoding, "put", None)
    if put is not None:
        return put(champions, classes, newcomers)
    k = encoding.count(champions)
    index = torch.arange(k, device=classes.device)
    index[classes] = k + torch.arange(classes.numel(), device=classes.device)
    return encoding.take(encoding.cat(champions, newcomers), index)
