"""The classifier wrapper: an ``nn.Module`` plus the spec of the input it expects.

Images outside the classifier are float32 ``(N, C, H, W)`` in [0, 1] (DESIGN.md). The wrapper
owns every preprocessing step between that and the network: scale, mean/std, channel order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, FoolingError


@dataclasses.dataclass(frozen=True)
class ClassifierSpec:
    """What a network expects and what its outputs mean.

    The network sees ``(x * scale - mean) / std`` per channel, with ``x`` in [0, 1] and the
    channels reordered to ``channel_order``.

    Attributes:
        name: registry name.
        num_classes: K, the number of outputs.
        input_channels: C of the images the wrapper accepts (1 grey, 3 RGB).
        input_size: native side H = W of the network's input.
        scale: multiplies [0, 1] images first (255/256 for the paper's LeNet: pixel/256).
        mean: per-channel mean subtracted after scaling.
        std: per-channel std divided after the mean.
        channel_order: ``"RGB"`` or ``"BGR"`` (the network's order; images arrive as RGB).
        labels: the K class names.
    """

    name: str
    num_classes: int
    input_channels: int
    input_size: int
    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    channel_order: str = "RGB"
    labels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.labels and len(self.labels) != self.num_classes:
            raise ConfigError(
                f"{self.name}: {len(self.labels)} labels given for {self.num_classes} classes"
            )

    def label(self, k: int) -> str:
        return self.labels[k] if self.labels else str(k)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["labels"] = [self.label(k) for k in range(self.num_classes)]
        return d


class Classifier(nn.Module):
    """A network with its preprocessing; ``probs`` is the batched scoring path.

    Args:
        module: maps preprocessed ``(N, C, H, W)`` to logits ``(N, K)``.
        spec: what the module expects.
        batch_size: largest batch ``probs`` sends through ``module`` at once.
    """

    def __init__(self, module: nn.Module, spec: ClassifierSpec, *, batch_size: int = 1024):
        super().__init__()
        self.module = module.eval()
        self.spec = spec
        self.batch_size = batch_size
        c = spec.input_channels
        mean = torch.tensor(_per_channel(spec.mean, c), dtype=torch.float32)
        std = torch.tensor(_per_channel(spec.std, c), dtype=torch.float32)
        # (x * scale - mean) / std  ==  x * a + b, folded once.
        self.register_buffer("_a", (spec.scale / std).view(1, c, 1, 1), persistent=False)
        self.register_buffer("_b", (-mean / std).view(1, c, 1, 1), persistent=False)

    @property
    def device(self) -> torch.device:
        return self._a.device

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] RGB/grey ``(N, C, H, W)`` -> the network's input."""
        s = self.spec
        if images.ndim != 4 or images.shape[1] != s.input_channels:
            raise FoolingError(
                f"{s.name} takes images (N, {s.input_channels}, H, W); got {tuple(images.shape)}"
            )
        if images.shape[-2:] != (s.input_size, s.input_size):
            raise FoolingError(
                f"{s.name} takes {s.input_size}x{s.input_size} images; "
                f"got {images.shape[-2]}x{images.shape[-1]}"
            )
        x = images.to(self.device, torch.float32) * self._a + self._b
        if s.channel_order == "BGR":
            x = x.flip(1)
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Differentiable logits ``(N, K)`` of images ``(N, C, H, W)`` in [0, 1]."""
        return self.module(self.preprocess(images))

    @torch.inference_mode()
    def probs(self, images: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities ``(N, K)`` float32, computed in batches of ``batch_size``."""
        out = [
            torch.softmax(self.forward(chunk).float(), dim=1)
            for chunk in images.split(self.batch_size)
        ]
        probs = torch.cat(out) if out else images.new_zeros(0, self.num_classes)
        if probs.shape != (images.shape[0], self.num_classes):
            raise FoolingError(
                f"{self.spec.name} returned {tuple(probs.shape)}; "
                f"expected ({images.shape[0]}, {self.num_classes})"
            )
        if not torch.isfinite(probs).all():
            raise FoolingError(f"{self.spec.name} returned NaN or infinite scores")
        return probs

    def extra_repr(self) -> str:
        return f"spec={self.spec.name!r}, num_classes={self.num_classes}"


def _per_channel(values: Sequence[float], c: int) -> list[float]:
    values = list(values)
    if len(values) == 1:
        return values * c
    if len(values) != c:
        raise ConfigError(f"expected 1 or {c} per-channel values, got {len(values)}")
    return values
