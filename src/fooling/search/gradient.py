"""Gradient ascent on a class's probability, batched over target classes (PAPER.md §5).

This is the released code's ``find_image`` (branch ``ascent``, ``caffe/ascent/
find_fooling_image.py``) with every target class in one tensor: image ``i`` is pushed toward
class ``targets[i]``, and one forward and one backward pass per step serve every class at
once. The network treats the images of a batch independently (eval mode: no dropout, batch
norm with running statistics), so the gradient of ``sum_i p_i[targets[i]]`` with respect to
image ``i`` is the gradient of its own objective.

Each step, as in the released code:

1. clip the image to [0, 1] (the released code clips ``X + mean`` to [0, 255]);
2. forward; record the first step the target is top-1 and reaches each threshold, and the best;
3. the gradient ``g`` of the objective (softmax probability, or the logit as in Simonyan et
   al. 2013) with respect to the image; a target whose gradient is exactly zero stops (the
   released code's ``break``);
4. the "progress" step size: ``desired = min(early_prog, late_prog_mult * (1 - p))`` and
   ``lr = min(max_lr, desired / ||g||^2)``, so the first-order predicted gain is ``desired``;
5. ``X += lr * g`` on the mean-centred image ``X = x - mean``;
6. L2 decay toward the mean image: ``X *= 1 - decay``;
7. optional Gaussian blur of ``X`` (``blur_radius``, every ``blur_every`` steps, per channel;
   ``scipy.ndimage.gaussian_filter`` in the released code, a separable convolution here);
8. optional zeroing of the pixels of ``X`` below a percentile of their value, their norm over
   channels, their "benefit" ``sum_c -g * X`` or its absolute value.

The last step only evaluates (the released code does not move the image after its last
forward pass), so ``steps`` is the number of forward passes and the final image has had
``steps - 1`` updates.

Units. The search moves the image ``x`` in [0, 1], with ``g = dp/dx``. The released code moved
``X`` in pixel units on the 0-255 scale (CaffeNet's raw input), with ``G = dp/dX = g / 255``.
The progress step is the same in both: ``lr_x * g = desired * g / ||g||^2``, which is
``1/255`` of ``desired * G / ||G||^2`` — the same move of the image. Only the settings that
carry units differ, and they are all given in the released code's pixel units and converted:
``noise_std`` (N(0, 1) on 0-255, i.e. 1/255 in [0, 1]), ``max_lr`` and the constant ``lr``
(both divided by 255², since ``lr`` multiplies a gradient that is 255 times larger). Decay,
blur and the percentile masks carry no units.

Bookkeeping. Besides the released code's record on the float image, every step also scores
the 8-bit quantisation of the image (``round(255 x) / 255``: exactly what a PNG holds) in one
extra forward pass without gradient. The champion of a class is its best quantised image
(the released code keeps ``X_best``); thresholds are crossed at ``>=`` (the released code
tests ``>``, a difference of measure zero). With ``stop_at`` a class stops once its quantised
image reaches that confidence; its image no longer changes.

The search never imports the models (DESIGN.md): it receives a differentiable function from
images ``(N, C, H, W)`` in [0, 1] to logits ``(N, K)`` — a ``Classifier`` is one.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.nn import functional as F

from .._stats import median
from ..errors import ConfigError, check_positive_int
from .archive import THRESHOLDS

PIXEL = 255.0
"""Pixel units of the released code: 0-255 values, i.e. 255 times the [0, 1] image."""

OBJECTIVES = ("prob", "logit")
STARTS = ("mean_plus", "mean", "randu", "image")

Model = Callable[[torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class AscentStats:
    """What a progress display needs after each step (values over all targets)."""

    step: int
    steps: int
    active: int
    evaluations: int
    median: float
    min: float
    max: float
    counts: tuple[int, ...]  # targets whose best quantised image is at or above each threshold
    thresholds: tuple[float, ...]
    num_classes: int
    elapsed: float


@dataclasses.dataclass
class AscentResult:
    """The outcome of a gradient ascent over N targets.

    Steps are 0-based forward passes: step ``s`` scores the image after ``s`` updates, so a
    first crossing at step ``s`` means the target needed ``s`` gradient steps. ``-1``: never.

    Attributes:
        targets: ``(N,)`` int64 target classes.
        images: ``(N, C, H, W)`` each target's champion: its best 8-bit-quantised image.
        confidence: ``(N,)`` the champions' probabilities for their targets.
        found: ``(N,)`` the step each champion was scored.
        final: ``(N, C, H, W)`` the float images at the end (after the last step or the stop).
        final_prob: ``(N,)`` the target probability of ``final``.
        best_prob: ``(N,)`` the best target probability of a float image (released ``best``).
        best_step: ``(N,)`` the step of ``best_prob``.
        first_top1: ``(N,)`` the first step the float image's top-1 class is the target.
        first_crossing: ``(T, N)`` the first step the float image reached each threshold.
        first_top1_quantized: ``(N,)`` as ``first_top1``, for the quantised image.
        first_crossing_quantized: ``(T, N)`` as ``first_crossing``, for the quantised image.
        steps_run: ``(N,)`` forward passes each target took part in (< steps: it stopped).
        history: ``(S, N)`` the champions' confidence after each step run (best so far).
        prob_history: ``(S, N)`` the float image's target probability at each step (a stopped
            target repeats its last value).
        evaluations: ``(S,)`` images through forward and backward so far, after each step.
        elapsed: ``(S,)`` seconds since the start, after each step.
        thresholds: the T thresholds.
    """

    targets: torch.Tensor
    images: torch.Tensor
    confidence: torch.Tensor
    found: torch.Tensor
    final: torch.Tensor
    final_prob: torch.Tensor
    best_prob: torch.Tensor
    best_step: torch.Tensor
    first_top1: torch.Tensor
    first_crossing: torch.Tensor
    first_top1_quantized: torch.Tensor
    first_crossing_quantized: torch.Tensor
    steps_run: torch.Tensor
    history: torch.Tensor
    prob_history: torch.Tensor
    evaluations: torch.Tensor
    elapsed: torch.Tensor
    thresholds: tuple[float, ...]


_PER_TARGET_DIM = {  # AscentResult fields indexed by target, and the target dimension
    "targets": 0,
    "images": 0,
    "confidence": 0,
    "found": 0,
    "final": 0,
    "final_prob": 0,
    "best_prob": 0,
    "best_step": 0,
    "first_top1": 0,
    "first_crossing": 1,
    "first_top1_quantized": 0,
    "first_crossing_quantized": 1,
    "steps_run": 0,
    "history": 1,
    "prob_history": 1,
}


def result_to(result: AscentResult, device: str | torch.device) -> AscentResult:
    """``result`` with its per-target tensors on ``device`` (the step series stay where
    they are: on the CPU)."""
    moved = {
        name: getattr(result, name).to(device)
        for name in _PER_TARGET_DIM
        if name not in ("history", "prob_history")
    }
    return dataclasses.replace(result, **moved)


def concat_results(
    parts: Sequence[AscentResult], positions: Sequence[Sequence[int]]
) -> AscentResult:
    """One result from ascents over disjoint slices of a target list (``fooling.distributed``).

    ``parts[i]`` pushed the targets at ``positions[i]`` of the whole list; the result lists
    every target in list order, as one ascent over all of them would. A slice whose targets
    all stopped early has fewer steps: its rows are repeated to the longest, as a stopped
    target's values are in one ascent. Evaluations add up over the slices; the elapsed time
    is the slowest slice's.

    Args:
        parts: results on one device (the CPU after a gather).
        positions: for each part, the positions of its targets, in its order.
    """
    order = torch.tensor([p for pos in positions for p in pos], dtype=torch.long)
    if sorted(order.tolist()) != list(range(order.numel())):
        raise ValueError("positions must cover 0..N-1 once each")
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel())
    steps = max(r.history.shape[0] for r in parts)

    def pad(t: torch.Tensor) -> torch.Tensor:  # (S_i, ...) -> (steps, ...): last row repeated
        extra = steps - t.shape[0]
        return torch.cat([t, t[-1:].expand(extra, *t.shape[1:])]) if extra else t

    fields: dict[str, Any] = {}
    for name, dim in _PER_TARGET_DIM.items():
        pieces = [getattr(r, name) for r in parts]
        if name in ("history", "prob_history"):
            pieces = [pad(t) for t in pieces]
        whole = torch.cat(pieces, dim)
        fields[name] = whole.index_select(dim, inverse.to(whole.device))
    fields["evaluations"] = torch.stack([pad(r.evaluations) for r in parts]).sum(0)
    fields["elapsed"] = torch.stack([pad(r.elapsed) for r in parts]).amax(0)
    return AscentResult(**fields, thresholds=parts[0].thresholds)


def quantize(images: torch.Tensor) -> torch.Tensor:
    """[0, 1] images rounded to 8-bit levels, ``round(255 x) / 255`` (what a PNG stores)."""
    return torch.round(images.clamp(0.0, 1.0) * PIXEL) / PIXEL


def gaussian_kernel1d(sigma: float, *, truncate: float = 4.0) -> torch.Tensor:
    """The normalised 1-D Gaussian of ``scipy.ndimage.gaussian_filter``: radius
    ``int(truncate * sigma + 0.5)``, weights ``exp(-x^2 / (2 sigma^2))`` summing to 1 (float64)."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def check_blur_fits(sigma: float, h: int, w: int, *, truncate: float = 4.0) -> None:
    """Raise a ``ConfigError`` where ``gaussian_blur``'s kernel radius for ``sigma`` is not
    smaller than an ``h`` x ``w`` image (its mirrored borders need that)."""
    r = int(truncate * sigma + 0.5) if sigma > 0 else 0
    if r >= min(h, w):
        raise ConfigError(f"blur radius {sigma} needs images larger than {r} pixels; got {h}x{w}")


def gaussian_blur(images: torch.Tensor, sigma: float, *, truncate: float = 4.0) -> torch.Tensor:
    """Blur each channel of ``(N, C, H, W)`` images with a Gaussian of std ``sigma`` pixels.

    A separable convolution (rows, then columns) with the kernel of
    ``scipy.ndimage.gaussian_filter(..., mode="reflect")``: borders are mirrored with the
    edge pixel repeated (``c b a | a b c``), so a constant image stays constant.

    Raises:
        ConfigError: the kernel's radius is not smaller than the image.
    """
    if sigma <= 0:
        return images.clone()
    n, c, h, w = images.shape
    kernel = gaussian_kernel1d(sigma, truncate=truncate).to(images.device, images.dtype)
    r = (kernel.numel() - 1) // 2
    if r == 0:
        return images.clone()
    check_blur_fits(sigma, h, w, truncate=truncate)
    x = images.reshape(n * c, 1, h, w)
    x = torch.cat([x[..., :r].flip(-1), x, x[..., -r:].flip(-1)], dim=-1)
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    x = torch.cat([x[..., :r, :].flip(-2), x, x[..., -r:, :].flip(-2)], dim=-2)
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))
    return x.reshape(n, c, h, w)


def _below_percentile(values: torch.Tensor, percentile: float) -> torch.Tensor:
    """``values < percentile(values)`` per image; ``values`` is ``(N, ...)`` (numpy's linear
    interpolation, as ``np.percentile``)."""
    flat = values.flatten(1)
    level = torch.quantile(flat, percentile / 100.0, dim=1, keepdim=True)
    return (flat < level).view_as(values)


class GradientAscent:
    """The released code's gradient ascent (PAPER.md §5), all targets in one batch.

    Settings are the released code's, in its pixel units (0-255; see the module docstring).
    Defaults are hp seed -1 of ``hyperparam_search.py``: no regularisation, 500 steps.

    Args:
        steps: forward passes per target (N in the released code); the last only evaluates.
        objective: ``"prob"`` (softmax probability, the released code) or ``"logit"`` (the
            unnormalised score, Simonyan et al. 2013). The progress rule's ``1 - p`` always
            uses the probability.
        start: ``"mean_plus"``: the mean image plus N(0, ``noise_std``) noise (released
            default); ``"mean"``: the mean image itself (the released ``zero``: X = 0);
            ``"randu"``: U(0, 1) in every value; ``"image"``: the ``start_image`` of the call.
            One start image is drawn per call and shared by every target, as the released
            code seeds each class's start with the same ``rseed``.
        noise_std: std of the ``mean_plus`` noise in pixel units (1.0 = N(0, 1) on 0-255).
        decay: L2 decay toward the mean image, ``X *= 1 - decay`` after each step.
        early_prog: the desired gain in the objective per step, early on.
        late_prog_mult: later the desired gain is ``late_prog_mult * (1 - p)``.
        max_lr: cap on the progress step size, in pixel units (hyperparam_search: 1e7).
        lr: a constant step size in pixel units instead of the progress rule (the released
            ``lr_policy="constant"``); ``None``: the progress rule.
        blur_radius: std in pixels of a Gaussian blur of ``X`` (0: none).
        blur_every: blur at the steps ``s`` with ``s % blur_every == 0``.
        small_val_percentile: zero values of ``X`` whose magnitude is below this percentile.
        small_norm_percentile: zero pixels of ``X`` whose norm over channels is below it.
        px_benefit_percentile: zero pixels whose benefit ``sum_c -g X`` is below it.
        px_abs_benefit_percentile: zero pixels whose ``|benefit|`` is below it.
        stop_at: stop a target once its quantised image reaches this probability (``None``:
            run every step, as the released code).
        batch_size: largest number of images per forward/backward pass (``None``: all
            targets at once); lower it when the targets' activations do not fit in memory.
            Targets go in fixed chunks of ``batch_size`` consecutive targets (``batches``),
            the unit that ranks share under ``torchrun``.
        thresholds: confidence levels whose first crossing is recorded.
    """

    def __init__(
        self,
        *,
        steps: int = 500,
        objective: str = "prob",
        start: str = "mean_plus",
        noise_std: float = 1.0,
        decay: float = 0.0,
        early_prog: float = 0.02,
        late_prog_mult: float = 0.1,
        max_lr: float = 1e7,
        lr: float | None = None,
        blur_radius: float = 0.0,
        blur_every: int = 1,
        small_val_percentile: float = 0.0,
        small_norm_percentile: float = 0.0,
        px_benefit_percentile: float = 0.0,
        px_abs_benefit_percentile: float = 0.0,
        stop_at: float | None = None,
        batch_size: int | None = None,
        thresholds: Sequence[float] = THRESHOLDS,
    ):
        check_positive_int("steps", steps)
        if objective not in OBJECTIVES:
            raise ConfigError(
                f"objective must be one of {', '.join(OBJECTIVES)}; got {objective!r}"
            )
        if start not in STARTS:
            raise ConfigError(f"start must be one of {', '.join(STARTS)}; got {start!r}")
        for name, value in (
            ("noise_std", noise_std),
            ("early_prog", early_prog),
            ("late_prog_mult", late_prog_mult),
            ("max_lr", max_lr),
            ("blur_radius", blur_radius),
        ):
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        if lr is not None and (not math.isfinite(lr) or lr <= 0):
            raise ConfigError(f"lr must be a positive number, got {lr!r}")
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"decay must be in [0, 1), got {decay!r}")
        check_positive_int("blur_every", blur_every)
        for name, value in (
            ("small_val_percentile", small_val_percentile),
            ("small_norm_percentile", small_norm_percentile),
            ("px_benefit_percentile", px_benefit_percentile),
            ("px_abs_benefit_percentile", px_abs_benefit_percentile),
        ):
            if not 0.0 <= value <= 100.0:
                raise ConfigError(f"{name} must be in [0, 100], got {value!r}")
        if stop_at is not None and not 0.0 < stop_at <= 1.0:
            raise ConfigError(f"stop_at must be in (0, 1], got {stop_at!r}")
        if batch_size is not None:
            check_positive_int("batch_size", batch_size)
        self.steps = steps
        self.objective = objective
        self.start = start
        self.noise_std = float(noise_std)
        self.decay = float(decay)
        self.early_prog = float(early_prog)
        self.late_prog_mult = float(late_prog_mult)
        self.max_lr = float(max_lr)
        self.lr = None if lr is None else float(lr)
        self.blur_radius = float(blur_radius)
        self.blur_every = blur_every
        self.small_val_percentile = float(small_val_percentile)
        self.small_norm_percentile = float(small_norm_percentile)
        self.px_benefit_percentile = float(px_benefit_percentile)
        self.px_abs_benefit_percentile = float(px_abs_benefit_percentile)
        self.stop_at = None if stop_at is None else float(stop_at)
        self.batch_size = batch_size
        self.thresholds = tuple(float(t) for t in thresholds)

    def settings(self) -> dict[str, Any]:
        """The settings, JSON-ready (``config.json``)."""
        return {
            "steps": self.steps,
            "objective": self.objective,
            "start": self.start,
            "noise_std": self.noise_std,
            "decay": self.decay,
            "early_prog": self.early_prog,
            "late_prog_mult": self.late_prog_mult,
            "max_lr": self.max_lr,
            "lr": self.lr,
            "blur_radius": self.blur_radius,
            "blur_every": self.blur_every,
            "small_val_percentile": self.small_val_percentile,
            "small_norm_percentile": self.small_norm_percentile,
            "px_benefit_percentile": self.px_benefit_percentile,
            "px_abs_benefit_percentile": self.px_abs_benefit_percentile,
            "stop_at": self.stop_at,
            "batch_size": self.batch_size,
            "thresholds": list(self.thresholds),
            "units": "pixel (0-255) for noise_std, max_lr, lr",
        }

    def __repr__(self) -> str:
        s = self.settings()
        del s["units"], s["thresholds"]
        return f"GradientAscent({', '.join(f'{k}={v!r}' for k, v in s.items())})"

    # -- the pieces of a step ----------------------------------------------------------------

    def start_images(
        self,
        mean: torch.Tensor,
        *,
        start_image: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """The start image ``(C, H, W)`` for the mean image ``mean`` ``(C, H, W)``.

        Noise is drawn on the CPU from ``generator`` (the same start on every device).
        """
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        if self.start == "mean_plus":
            noise = torch.randn(mean.shape, generator=gen, dtype=torch.float32)
            return mean + noise.to(mean.device) * (self.noise_std / PIXEL)
        if self.start == "mean":
            return mean.clone()
        if self.start == "randu":
            return torch.rand(mean.shape, generator=gen, dtype=torch.float32).to(mean.device)
        if start_image is None:
            raise ConfigError("start 'image' needs a start image")
        if start_image.shape != mean.shape:
            raise ConfigError(
                f"start image is {tuple(start_image.shape)}; "
                f"the classifier takes {tuple(mean.shape)}"
            )
        return start_image.to(mean.device, torch.float32).clone()

    def step_size(self, p: torch.Tensor, grad_sq: torch.Tensor) -> torch.Tensor:
        """Per-image step size in [0, 1] units from the probability ``p`` ``(n,)`` and
        ``||g||^2`` ``(n,)`` (g with respect to the [0, 1] image)."""
        if self.lr is not None:
            return torch.full_like(grad_sq, self.lr / PIXEL**2)
        desired = torch.clamp(self.late_prog_mult * (1.0 - p), max=self.early_prog)
        return torch.clamp(desired / grad_sq, max=self.max_lr / PIXEL**2)

    def update(
        self, centred: torch.Tensor, grad: torch.Tensor, p: torch.Tensor, step: int
    ) -> torch.Tensor:
        """One update of mean-centred images ``(n, C, H, W)`` given their gradient and
        target probability ``(n,)``: progress step, decay, blur, percentile masks."""
        grad_sq = grad.flatten(1).pow(2).sum(1)
        lr = self.step_size(p, grad_sq)
        x = centred + lr.view(-1, 1, 1, 1) * grad
        x = x * (1.0 - self.decay)
        if self.blur_radius > 0 and step % self.blur_every == 0:
            x = gaussian_blur(x, self.blur_radius)
        if self.small_val_percentile > 0:
            x = torch.where(_below_percentile(x.abs(), self.small_val_percentile), 0.0, x)
        if self.small_norm_percentile > 0:
            small = _below_percentile(x.norm(dim=1), self.small_norm_percentile)
            x = torch.where(small.unsqueeze(1), 0.0, x)
        if self.px_benefit_percentile > 0:
            benefit = (grad * -x).sum(1)
            x = torch.where(
                _below_percentile(benefit, self.px_benefit_percentile).unsqueeze(1), 0.0, x
            )
        if self.px_abs_benefit_percentile > 0:
            benefit = (grad * -x).sum(1).abs()
            x = torch.where(
                _below_percentile(benefit, self.px_abs_benefit_percentile).unsqueeze(1), 0.0, x
            )
        return x

    def batches(self, positions: torch.Tensor) -> list[int]:
        """Sizes of the consecutive forward batches for the active targets at ``positions``
        ``(n,)`` (ascending) of the target list.

        Targets share a batch only when they lie in the same fixed chunk of ``batch_size``
        positions, so the batch a target is scored in never depends on which other targets
        have stopped, nor on how the chunks are shared among ranks (``fooling.distributed``):
        a target's numbers are the same to the bit either way.
        """
        n = positions.numel()
        if self.batch_size is None or n <= 1:
            return [n]
        _, counts = torch.unique_consecutive(
            torch.div(positions, self.batch_size, rounding_mode="floor"), return_counts=True
        )
        return counts.tolist()

    def _split(
        self, images: torch.Tensor, targets: torch.Tensor, sizes: Sequence[int] | None
    ) -> zip:
        if sizes is None:
            size = self.batch_size or max(1, images.shape[0])
            return zip(images.split(size), targets.split(size))
        return zip(images.split(list(sizes)), targets.split(list(sizes)))

    def gradient(
        self,
        model: Model,
        images: torch.Tensor,
        targets: torch.Tensor,
        *,
        sizes: Sequence[int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The objective's gradient for images ``(n, C, H, W)``, one forward and one backward
        pass per batch: consecutive batches of ``sizes`` images (``batches``), else of
        ``batch_size``.

        Returns:
            ``grad`` ``(n, C, H, W)``, the target probability ``(n,)`` and the top-1 class ``(n,)``.
        """
        grads, probs, top1 = [], [], []
        with torch.enable_grad():
            for x, t in self._split(images, targets, sizes):
                x = x.detach().requires_grad_(True)
                logits = model(x).float()
                p = torch.softmax(logits, dim=1)
                source = p if self.objective == "prob" else logits
                objective = source.gather(1, t.view(-1, 1)).sum()
                (g,) = torch.autograd.grad(objective, x)
                grads.append(g)
                probs.append(p.detach().gather(1, t.view(-1, 1)).squeeze(1))
                top1.append(logits.detach().argmax(1))
        return torch.cat(grads), torch.cat(probs), torch.cat(top1)

    @torch.no_grad()
    def score(
        self,
        model: Model,
        images: torch.Tensor,
        targets: torch.Tensor,
        *,
        sizes: Sequence[int] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Target probability ``(n,)`` and top-1 class ``(n,)`` of images, without gradient,
        in the batches of ``gradient``."""
        probs, top1 = [], []
        for x, t in self._split(images, targets, sizes):
            logits = model(x).float()
            probs.append(torch.softmax(logits, dim=1).gather(1, t.view(-1, 1)).squeeze(1))
            top1.append(logits.argmax(1))
        return torch.cat(probs), torch.cat(top1)

    # -- the loop ------------------------------------------------------------------------

    def __call__(
        self,
        model: Model,
        targets: torch.Tensor | Sequence[int],
        mean: torch.Tensor,
        *,
        start_image: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        callback: Callable[[AscentStats], None] | None = None,
    ) -> AscentResult:
        """Push image ``i`` toward class ``targets[i]`` for every target at once.

        Args:
            model: differentiable ``(n, C, H, W)`` [0, 1] images -> logits ``(n, K)``, in eval
                mode (images of a batch must not interact), on ``mean``'s device.
            targets: ``(N,)`` class indices.
            mean: ``(C, H, W)`` the mean image in [0, 1]: the start (``mean_plus``, ``mean``)
                and the point decay shrinks toward. For a classifier that subtracts a mean,
                the image its preprocessing maps to zero.
            start_image: ``(C, H, W)`` in [0, 1], for ``start="image"``.
            generator: draws the start noise (CPU); ``None``: a generator seeded with 0.
            callback: called with ``AscentStats`` after every step.

        Returns:
            An ``AscentResult``.
        """
        device = mean.device
        mean = mean.to(torch.float32)
        targets = torch.as_tensor(targets, dtype=torch.long, device=device).flatten()
        n = targets.numel()
        if n == 0:
            raise ConfigError("no target classes")
        start = self.start_images(mean, start_image=start_image, generator=generator)
        x = start.unsqueeze(0).repeat(n, 1, 1, 1)
        m = mean.unsqueeze(0)
        levels = torch.tensor(self.thresholds, dtype=torch.float64, device=device).view(-1, 1)
        t_count = len(self.thresholds)

        def never(*shape: int) -> torch.Tensor:
            return torch.full(shape, -1, dtype=torch.long, device=device)

        active = torch.ones(n, dtype=torch.bool, device=device)
        steps_run = torch.zeros(n, dtype=torch.long, device=device)
        best_prob = torch.full((n,), -math.inf, device=device)
        best_step, first_top1, first_top1_q, found = never(n), never(n), never(n), never(n)
        first, first_q = never(t_count, n), never(t_count, n)
        confidence = torch.full((n,), -math.inf, device=device)
        champions = quantize(x)
        current_p = torch.zeros(n, device=device)
        history, prob_history, evaluations, elapsed = [], [], [], []
        evaluated = 0
        t0 = time.perf_counter()

        for step in range(self.steps):
            idx = active.nonzero().squeeze(1)
            if idx.numel() == 0:
                break
            xa = x[idx].clamp_(0.0, 1.0)
            x[idx] = xa
            ta = targets[idx]
            sizes = self.batches(idx)
            grad, p, top1 = self.gradient(model, xa, ta, sizes=sizes)
            q = quantize(xa)
            pq, top1q = self.score(model, q, ta, sizes=sizes)
            evaluated += idx.numel()
            steps_run[idx] = step + 1
            current_p[idx] = p

            # The released code's record, on the float image ...
            better = p > best_prob[idx]
            best_prob[idx] = torch.where(better, p, best_prob[idx])
            best_step[idx] = torch.where(better, step, best_step[idx])
            hit = (top1 == ta) & (first_top1[idx] < 0)
            first_top1[idx] = torch.where(hit, step, first_top1[idx])
            newly = (p.double().unsqueeze(0) >= levels) & (first[:, idx] < 0)
            first[:, idx] = torch.where(newly, step, first[:, idx])
            # ... and on the quantised image, whose best is the champion.
            better = pq > confidence[idx]
            confidence[idx] = torch.where(better, pq, confidence[idx])
            found[idx] = torch.where(better, step, found[idx])
            champions[idx[better]] = q[better]
            hit = (top1q == ta) & (first_top1_q[idx] < 0)
            first_top1_q[idx] = torch.where(hit, step, first_top1_q[idx])
            newly = (pq.double().unsqueeze(0) >= levels) & (first_q[:, idx] < 0)
            first_q[:, idx] = torch.where(newly, step, first_q[:, idx])

            # A zero gradient ends a target (the released code's break); so does stop_at.
            done = grad.flatten(1).abs().amax(1) == 0
            if self.stop_at is not None:
                done |= pq.double() >= self.stop_at  # float64, as the thresholds
            if step < self.steps - 1:
                live = ~done
                if bool(live.any()):
                    rows = idx[live]
                    centred = self.update(xa[live] - m, grad[live], p[live], step)
                    x[rows] = m + centred
            active[idx[done]] = False

            history.append(confidence.clone())
            prob_history.append(current_p.clone())
            evaluations.append(evaluated)
            elapsed.append(time.perf_counter() - t0)
            if callback is not None:
                conf = confidence
                counts = (conf.double().unsqueeze(0) >= levels).sum(1).tolist()
                callback(
                    AscentStats(
                        step=step,
                        steps=self.steps,
                        active=int(active.sum()),
                        evaluations=evaluated,
                        median=float(median(conf)),
                        min=float(conf.min()),
                        max=float(conf.max()),
                        counts=tuple(int(c) for c in counts),
                        thresholds=self.thresholds,
                        num_classes=n,
                        elapsed=elapsed[-1],
                    )
                )

        return AscentResult(
            targets=targets,
            images=champions,
            confidence=confidence,
            found=found,
            final=x.clamp(0.0, 1.0),
            final_prob=current_p,
            best_prob=best_prob,
            best_step=best_step,
            first_top1=first_top1,
            first_crossing=first,
            first_top1_quantized=first_top1_q,
            first_crossing_quantized=first_q,
            steps_run=steps_run,
            history=torch.stack(history).cpu(),
            prob_history=torch.stack(prob_history).cpu(),
            evaluations=torch.tensor(evaluations),
            elapsed=torch.tensor(elapsed, dtype=torch.float64),
            thresholds=self.thresholds,
        )
