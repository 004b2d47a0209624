"""Frozen configs for the experiments; the resolved config is written to ``config.json``."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import ConfigError


@dataclasses.dataclass(frozen=True)
class EvolveConfig:
    """A MAP-Elites run (PAPER.md §4). Defaults: the paper's MNIST direct-encoding run.

    Attributes:
        model: registered classifier name.
        weights: weights file replacing the model's default ones.
        encoding: ``"direct"`` or ``"cppn"``.
        generations: offspring generations after the initial random batch (generation 0).
        seed: seeds every random choice of the run.
        batch_size: offspring per generation.
        init_size: genomes in the initial random batch.
        classes: target class indices (``None``: every class of the model).
        device: where the classifier, the archive and the genomes live.
        eval_batch_size: largest batch the classifier scores at once.
        checkpoint_every: generations between checkpoints (one is always written at the end).
        size: rendered image side (``None``: the classifier's input size).
        mutation_rate, eta_m, crossover, crossover_rate, eta_c, halve_every: direct encoding.
            ``crossover`` is off by default: the paper describes mutation alone, and on MNIST
            the released code's SBX slows the search (README, "Variants").
        cppn_inputs, colour: CPPN encoding.
    """

    model: str = "lenet-mnist"
    weights: str | None = None
    encoding: str = "direct"
    generations: int = 200
    seed: int = 0
    batch_size: int = 200
    init_size: int = 200
    classes: tuple[int, ...] | None = None
    device: str = "cpu"
    eval_batch_size: int = 1024
    checkpoint_every: int = 50
    size: int | None = None
    mutation_rate: float = 0.1
    eta_m: float = 15.0
    crossover: bool = False
    crossover_rate: float = 0.5
    eta_c: float = 10.0
    halve_every: int = 0
    cppn_inputs: str = "normalized"
    colour: str = "hls"

    def __post_init__(self) -> None:
        positive = ("generations", "batch_size", "init_size", "eval_batch_size", "checkpoint_every")
        for key in positive:
            value = getattr(self, key)
            if not isinstance(value, int) or value <= 0:
                raise ConfigError(f"{key} must be a positive integer, got {value!r}")
        if self.size is not None and self.size <= 0:
            raise ConfigError(f"size must be positive, got {self.size}")
        if self.classes is not None:
            if not self.classes:
                raise ConfigError("classes must not be empty")
            if len(set(self.classes)) != len(self.classes):
                raise ConfigError("classes must not repeat")
        if self.cppn_inputs not in ("normalized", "raw"):
            raise ConfigError(
                f"cppn_inputs must be 'normalized' or 'raw', got {self.cppn_inputs!r}"
            )
        if self.colour not in ("hls", "hsv"):
            raise ConfigError(f"colour must be 'hls' or 'hsv', got {self.colour!r}")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["classes"] = list(self.classes) if self.classes is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvolveConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
        d = dict(d)
        if d.get("classes") is not None:
            d["classes"] = tuple(d["classes"])
        return cls(**d)
