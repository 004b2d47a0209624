"""The classifier wrapper: an ``nn.Module`` plus the spec of the input it expects.

Images outside the classifier are float32 ``(N, C, H, W)`` in [0, 1] (DESIGN.md), at whatever
resolution their encoding renders (28 for MNIST, 256 for ImageNet as in the paper). The wrapper
owns every preprocessing step between that and the network:

1. geometry: an image already at the network's input size goes in as it is; any other is
   resized (bilinear, antialiased; the shorter side) to ``resize_size`` and cut to the input
   size, either by one centre crop or by the paper's 10 crops (4 corners and the centre, and
   their mirrors), whose softmax outputs are averaged (PAPER.md §1.2);
2. values: ``x * scale`` then per-channel ``(. - mean) / std``, the channels reordered to the
   network's order, and a per-pixel mean image subtracted where the network has one (CaffeNet,
   and the released code's MNIST query preprocessing).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, FoolingError, check_positive_int, first_line

CROPS = ("center", "ten")
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclasses.dataclass(frozen=True)
class ClassifierSpec:
    """What a network expects and what its outputs mean.

    The network sees ``(x * scale - mean) / std`` per channel, with ``x`` in [0, 1] and the
    channels reordered to ``channel_order``, minus the classifier's mean image if it has one.

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
        resize_size: side an image of another size than ``input_size`` is resized to (the
            shorter side) before cropping (``None``: ``input_size``, no crop). It is also the
            resolution evolution renders at by default (256 for the ImageNet networks).
        crop: ``"center"`` (one centre crop) or ``"ten"`` (the paper's 10 crops, softmax
            averaged).
        mean_image: where the per-pixel mean image subtracted comes from (``None``: none);
            the pixels themselves are held by the ``Classifier``.
        notes: free text for the run directory (weights' origin, substitutions).
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
    resize_size: int | None = None
    crop: str = "center"
    mean_image: str | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        check_positive_int(f"{self.name}: num_classes", self.num_classes)
        if self.input_channels not in (1, 3):
            raise ConfigError(
                f"{self.name}: input_channels must be 1 (grey) or 3 (colour), "
                f"got {self.input_channels!r}"
            )
        if not (math.isfinite(self.scale) and self.scale != 0):
            raise ConfigError(
                f"{self.name}: scale must be a finite non-zero number, got {self.scale!r}"
            )
        for what, values in (("mean", self.mean), ("std", self.std)):
            if len(values) not in (1, self.input_channels):
                raise ConfigError(
                    f"{self.name}: {what} needs 1 or {self.input_channels} values, "
                    f"got {len(values)}"
                )
            if not all(math.isfinite(v) for v in values):
                raise ConfigError(f"{self.name}: {what} must be finite, got {values!r}")
        if any(v == 0 for v in self.std):
            raise ConfigError(f"{self.name}: std must not be zero")
        if self.labels and len(self.labels) != self.num_classes:
            raise ConfigError(
                f"{self.name}: {len(self.labels)} labels given for {self.num_classes} classes"
            )
        if self.crop not in CROPS:
            raise ConfigError(f"crop must be one of {', '.join(CROPS)}, got {self.crop!r}")
        check_positive_int(f"{self.name}: input size", self.input_size)
        if self.resize_size is not None and self.resize_size < self.input_size:
            raise ConfigError(
                f"{self.name}: resize size {self.resize_size} is smaller than the input "
                f"size {self.input_size}"
            )
        if self.channel_order not in ("RGB", "BGR"):
            raise ConfigError(f"channel order must be RGB or BGR, got {self.channel_order!r}")

    @property
    def image_size(self) -> int:
        """The side images are best rendered at: ``resize_size`` or the input size."""
        return self.resize_size or self.input_size

    @property
    def views(self) -> int:
        """Network inputs per image: 10 for the 10-crop policy, else 1."""
        return 10 if self.crop == "ten" else 1

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
        batch_size: largest number of network inputs (crops) ``probs`` sends through
            ``module`` at once; ``None``: 32 for inputs of 128 px and more on the CPU (where
            small batches keep activations in cache and out of fresh page-mapped memory), 1024
            otherwise.
        mean_image: ``(C, S, S)`` per-pixel mean in the network's units and channel order,
            subtracted from every view; ``S`` at least the input size (its centre window is
            used for every crop, as the released code did).
        autocast: ``"bf16"`` or ``"fp16"`` to score under ``torch.autocast`` (``None``: off).
    """

    _a: torch.Tensor
    _b: torch.Tensor
    _mean_image: torch.Tensor | None

    def __init__(
        self,
        module: nn.Module,
        spec: ClassifierSpec,
        *,
        batch_size: int | None = None,
        mean_image: torch.Tensor | None = None,
        autocast: str | None = None,
    ):
        super().__init__()
        self.module = module.eval()
        self.spec = spec
        self.batch_size = batch_size
        self.autocast = autocast
        c = spec.input_channels
        mean = torch.tensor(_per_channel(spec.mean, c), dtype=torch.float32)
        std = torch.tensor(_per_channel(spec.std, c), dtype=torch.float32)
        # (x * scale - mean) / std  ==  x * a + b, folded once.
        self.register_buffer("_a", (spec.scale / std).view(1, c, 1, 1), persistent=False)
        self.register_buffer("_b", (-mean / std).view(1, c, 1, 1), persistent=False)
        if mean_image is not None:
            mean_image = _centre(mean_image.to(torch.float32), spec.input_size, spec.name)
            if mean_image.shape[0] != c:
                raise ConfigError(
                    f"{spec.name}: mean image has {mean_image.shape[0]} channels, expected {c}"
                )
            mean_image = mean_image.unsqueeze(0).contiguous()
        self.register_buffer("_mean_image", mean_image, persistent=False)

    @property
    def batch_size(self) -> int:
        """Network inputs per forward pass in ``probs`` (see the class docstring)."""
        if self._batch_size is not None:
            return self._batch_size
        return 32 if self.device.type == "cpu" and self.spec.input_size >= 128 else 1024

    @batch_size.setter
    def batch_size(self, value: int | None) -> None:
        if value is not None:
            check_positive_int("batch size", value)
        self._batch_size = value

    @property
    def autocast(self) -> str | None:
        return self._autocast

    @autocast.setter
    def autocast(self, value: str | None) -> None:
        if value is not None and value not in AUTOCAST:
            raise ConfigError(f"autocast must be one of {', '.join(AUTOCAST)}, got {value!r}")
        self._autocast = value

    @property
    def device(self) -> torch.device:
        return self._a.device

    @property
    def num_classes(self) -> int:
        return self.spec.num_classes

    def views(self, images: torch.Tensor) -> torch.Tensor:
        """The geometry step: ``(N, C, H, W)`` -> ``(V * N, C, s, s)`` network-sized views,
        view-major (the first N are the first view of every image). ``V`` is 1, or 10 for
        an image that is not already at the input size under the 10-crop policy."""
        s = self.spec
        if images.ndim != 4 or images.shape[1] != s.input_channels:
            raise FoolingError(
                f"{s.name} takes images (N, {s.input_channels}, H, W); got {tuple(images.shape)}"
            )
        h, w = images.shape[-2:]
        side = s.input_size
        if (h, w) == (side, side):
            return images
        r = s.image_size
        if min(h, w) != r:
            nh, nw = (r, max(r, round(w * r / h))) if h <= w else (max(r, round(h * r / w)), r)
            images = nn.functional.interpolate(
                images, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True
            )
            h, w = nh, nw
        top, left = (h - side) // 2, (w - side) // 2
        if s.crop == "center":
            return images[:, :, top : top + side, left : left + side]
        corners = [(0, 0), (0, w - side), (h - side, 0), (h - side, w - side), (top, left)]
        crops = [images[:, :, y : y + side, x : x + side] for y, x in corners]
        crops += [c.flip(-1) for c in crops]
        return torch.cat(crops)

    def normalize(self, views: torch.Tensor) -> torch.Tensor:
        """The value step: network-sized [0, 1] RGB/grey views -> the network's input."""
        x = views.to(self.device, torch.float32) * self._a + self._b
        if self.spec.channel_order == "BGR":
            x = x.flip(1)
        if self._mean_image is not None:
            x = x - self._mean_image
        return x

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[0, 1] RGB/grey ``(N, C, H, W)`` -> the network's input ``(V * N, C, s, s)``."""
        return self.normalize(self.views(images.to(self.device)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Differentiable logits ``(N, K)`` of images ``(N, C, H, W)`` in [0, 1].

        Under the 10-crop policy these are the log of the mean softmax over the crops, so
        ``softmax(forward(x))`` is the paper's 10-crop confidence.
        """
        n = images.shape[0]
        x = self.preprocess(images)
        logits = self.module(x)
        if x.shape[0] == n:
            return logits
        probs = torch.softmax(logits.float(), dim=1).view(-1, n, logits.shape[1]).mean(0)
        return probs.clamp_min(torch.finfo(torch.float32).tiny).log()

    @contextlib.contextmanager
    def _precision(self) -> Iterator[None]:
        if self.autocast is None:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=AUTOCAST[self.autocast]):
            yield

    @torch.inference_mode()
    def probs(self, images: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities ``(N, K)`` float32 (10-crop: the mean over the crops),
        computed in chunks of at most ``batch_size`` network inputs."""
        chunk = max(1, self.batch_size // self.spec.views)
        out = []
        with self._precision():
            for part in images.split(chunk):
                logits = self.forward(part).float()
                out.append(torch.softmax(logits, dim=1))
        probs = torch.cat(out) if out else images.new_zeros(0, self.num_classes)
        if probs.shape != (images.shape[0], self.num_classes):
            raise FoolingError(
                f"{self.spec.name} returned {tuple(probs.shape)}; "
                f"expected ({images.shape[0]}, {self.num_classes})"
            )
        if not torch.isfinite(probs).all():
            raise FoolingError(f"{self.spec.name} returned NaN or infinite scores")
        return probs

    def probe(self) -> None:
        """Score a black and a white image once, so that a network returning the wrong
        shape or NaN fails with one line before a run writes anything.

        Also refuses a network that returns probabilities instead of logits: they would be
        put through the softmax a second time, which flattens every confidence towards
        ``1 / K``.

        Raises:
            FoolingError: the network fails on the images, its scores are not ``(2, K)`` or
                not finite, or they are already probabilities.
        """
        s = self.spec
        shape = (s.input_channels, s.image_size, s.image_size)
        images = torch.stack([torch.zeros(shape), torch.ones(shape)]).to(self.device)
        try:
            self.probs(images)
            with torch.inference_mode(), self._precision():
                scores = self.module(self.preprocess(images)).float()
        except FoolingError:
            raise
        except Exception as e:  # a user's network or weights that do not fit
            raise FoolingError(
                f"{s.name} fails on a {'x'.join(map(str, shape))} probe image: "
                f"{type(e).__name__}: {first_line(e)}"
            ) from None
        if scores.shape[1] > 1 and (scores >= 0).all() and (scores.sum(1) - 1).abs().max() < 1e-4:
            raise FoolingError(
                f"{s.name} returns probabilities (non-negative rows that sum to 1); it must "
                "return logits: drop its final softmax, or return log(p)"
            )

    def zero_image(self) -> torch.Tensor:
        """The input-sized image ``(C, s, s)`` in [0, 1] (clipped) that the preprocessing
        maps to zero: the mean image for networks that subtract one."""
        s = self.spec
        x = torch.zeros(1, s.input_channels, s.input_size, s.input_size, device=self.device)
        if self._mean_image is not None:
            x = x + self._mean_image
        if s.channel_order == "BGR":
            x = x.flip(1)
        return ((x - self._b) / self._a).clamp(0.0, 1.0)[0]

    def fingerprint(self) -> str:
        """SHA-256 (hex) of what decides this classifier's scores: its spec (less the
        free-text notes and the mean image's origin), every tensor of its module's state
        dict, its preprocessing constants and its mean image. Resume compares it, so a run is
        never continued against other weights than it started with."""
        h = hashlib.sha256()
        spec = self.spec.to_dict()
        for key in ("notes", "mean_image"):
            spec.pop(key, None)
        h.update(json.dumps(spec, sort_keys=True).encode())
        tensors = {f"module.{k}": v for k, v in self.module.state_dict().items()}
        tensors.update(_a=self._a, _b=self._b)
        if self._mean_image is not None:
            tensors["_mean_image"] = self._mean_image
        for name, t in sorted(tensors.items()):
            if not isinstance(t, torch.Tensor):
                continue
            t = t.detach().to("cpu").contiguous().reshape(-1)
            h.update(f"\n{name} {t.dtype} {t.numel()}\n".encode())
            h.update(t.view(torch.uint8).numpy().data)
        return h.hexdigest()

    def extra_repr(self) -> str:
        s = self.spec
        return (
            f"spec={s.name!r}, num_classes={self.num_classes}, input_size={s.input_size}, "
            f"crop={s.crop!r}, batch_size={self.batch_size}, autocast={self.autocast!r}"
        )


def _per_channel(values: Sequence[float], c: int) -> list[float]:
    values = list(values)
    if len(values) == 1:
        return values * c
    if len(values) != c:
        raise ConfigError(f"expected 1 or {c} per-channel values, got {len(values)}")
    return values


def _centre(image: torch.Tensor, side: int, name: str) -> torch.Tensor:
    """The centre ``side`` x ``side`` window of a ``(C, H, W)`` image."""
    if image.ndim != 3:
        raise ConfigError(f"{name}: a mean image must be (C, H, W), got {tuple(image.shape)}")
    h, w = image.shape[-2:]
    if h < side or w < side:
        raise ConfigError(f"{name}: mean image {h}x{w} is smaller than the input {side}x{side}")
    top, left = (h - side) // 2, (w - side) // 2
    return image[:, top : top + side, left : left + side]
