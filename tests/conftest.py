"""Tiny classifiers and shared fixtures (DESIGN.md: tests are fast, offline, behavioural)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from fooling.models import Classifier, ClassifierSpec

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with a clear reason where it is absent.

    Under CI (``CI`` set), which always has ../shared beside the clone, a missing path fails
    the test instead: a moved folder must not turn these tests into silent skips.
    """
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} not found, and CI always has ../shared beside the clone")
        pytest.skip(f"{path} not found: ../shared is absent in this clone (CI provides it)")
    return path


class Brightness(nn.Module):
    """Class 1 = bright, class 0 = dark: logits ±gain·(mean − 0.5). Any search must drive
    the brightness class to confidence -> 1 in a few generations."""

    def __init__(self, gain: float = 40.0):
        super().__init__()
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3)) - 0.5
        return torch.stack([-self.gain * m, self.gain * m], dim=1)


class Patches(nn.Module):
    """K classes; class k's logit is gain·(mean of patch k − mean of the others)."""

    def __init__(self, k: int = 4, size: int = 8, gain: float = 20.0):
        super().__init__()
        self.k, self.size, self.gain = k, size, gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        chunks = flat.chunk(self.k, dim=1)
        means = torch.stack([c.mean(1) for c in chunks], dim=1)
        return self.gain * (means - means.mean(1, keepdim=True))


def tiny_classifier(
    module: nn.Module, classes: int, channels: int = 1, size: int = 8
) -> Classifier:
    spec = ClassifierSpec(
        name="tiny",
        num_classes=classes,
        input_channels=channels,
        input_size=size,
        labels=tuple(f"c{k}" for k in range(classes)),
    )
    return Classifier(module, spec)


@pytest.fixture
def brightness() -> Classifier:
    return tiny_classifier(Brightness(), 2)


@pytest.fixture
def patches() -> Classifier:
    return tiny_classifier(Patches(), 4)


# -- broken classifiers for the bad-input table: ``--model conftest:<factory>`` -----------


class _NaNScores(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0], 10), float("nan")) + 0 * x.flatten(1)[:, :1]


class _FlatScores(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2, 3))  # (N,): no class dimension


class _FirstRowOnly(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:1, :10]  # (1, 10) whatever the batch


class _Softmaxed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8 * 8, 10)

    def logits(self, x: torch.Tensor) -> torch.Tensor:  # any channels and size
        return self.linear(nn.functional.adaptive_avg_pool2d(x.mean(1), 8).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.logits(x), dim=1)  # probabilities, not logits


class _TupleScores(_Softmaxed):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.logits(x), self.logits(x)


class _Crashes(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied\n(a second line)")


class _EightPixels(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(3 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))  # only 3x8x8 inputs fit


class _NaNOnRankOneLater(_EightPixels):
    """Good scores, except on torchrun's rank 1 from its 4th forward pass on: NaN."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        out = self.linear(nn.functional.adaptive_avg_pool2d(x, 8).flatten(1))
        if os.environ.get("RANK") == "1" and self.calls > 3:
            return out * float("nan")
        return out


def nan_on_rank_one_classifier() -> nn.Module:
    """A classifier that fails on one rank only, in the middle of a run."""
    return _NaNOnRankOneLater()


def eight_pixel_classifier() -> nn.Module:
    """A classifier that takes 3x8x8 images only (``--input-size 8``)."""
    return _EightPixels()


def softmax_classifier() -> nn.Module:
    """A classifier that returns probabilities instead of logits."""
    return _Softmaxed()


def float64_classifier() -> nn.Module:
    """A classifier with float64 parameters."""
    return _Softmaxed().double()


def tuple_classifier() -> nn.Module:
    """A classifier returning a tuple of tensors."""
    return _TupleScores()


def crashing_classifier() -> nn.Module:
    """A classifier whose forward pass raises (e.g. an input of the wrong size)."""
    return _Crashes()


def nan_classifier() -> nn.Module:
    """A classifier whose every score is NaN."""
    return _NaNScores()


def flat_classifier() -> nn.Module:
    """A classifier returning ``(N,)`` instead of ``(N, K)``."""
    return _FlatScores()


def first_row_classifier() -> nn.Module:
    """A classifier returning one row of scores for a batch of any size."""
    return _FirstRowOnly()
