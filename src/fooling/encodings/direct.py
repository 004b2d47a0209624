"""The direct encoding (PAPER.md §2): one gene per pixel and channel, in [0, 1].

A genome batch is a tensor ``(N, C, H, W)`` on the encoding's device: float32 genes ``g`` in
[0, 1], each rendering to the 8-bit level ``trunc(255 g)`` as in the released code, or -- to hold
1000 ImageNet champions at 256x256 in a quarter of the memory -- uint8 genes that *are* the
levels. Variation of a uint8 gene ``b`` acts on the centre of its level, ``(b + 0.5) / 255``,
and the result is quantised back (``trunc(255 g)``), so a step is unbiased; what is lost is
only the drift of a float gene inside one level.

Three channels are decoded as colour like the released code: the levels read as OpenCV 8-bit
HLS (hue byte ``h`` is ``2 h`` degrees, bytes 180..255 wrap; PAPER.md §2), or as a clean HSV,
or taken as RGB directly.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from .. import _io
from ..errors import ConfigError, DataError
from .cppn import hls_bytes_to_rgb, hsv_to_rgb

COLOURS = ("hls", "hsv", "rgb")
DTYPES = ("float32", "uint8")


class DirectEncoding:
    """Pixels as genes, with the released code's polynomial mutation and SBX crossover.

    Args:
        channels: C (1 grey; 3 colour).
        size: image side H = W.
        device: where genomes live.
        colour: for 3 channels, how the three levels of a pixel become RGB: ``"hls"``
            (OpenCV 8-bit HLS with the hue wrap, the released code), ``"hsv"`` (a clean HSV,
            each level / 255) or ``"rgb"`` (the levels are R, G, B).
        dtype: genome storage, ``"float32"`` or ``"uint8"`` (the 8-bit levels themselves).
        mutation_rate: per-gene probability of polynomial mutation (paper and code: 0.1).
        eta_m: polynomial mutation distribution index (15).
        crossover: apply SBX to consecutive parent pairs before mutation (the released code
            does; the paper's text describes mutation alone, the default).
        crossover_rate: probability that a pair is crossed (0.5).
        eta_c: SBX distribution index (10).
        halve_every: if > 0, the mutation rate halves every ``halve_every`` generations (the
            paper's text: 1000, the default); 0 keeps it constant (the released code).
    """

    name = "direct"

    def __init__(
        self,
        *,
        channels: int = 1,
        size: int = 28,
        device: str | torch.device = "cpu",
        mutation_rate: float = 0.1,
        eta_m: float = 15.0,
        crossover: bool = False,
        crossover_rate: float = 0.5,
        eta_c: float = 10.0,
        halve_every: int = 1000,
        colour: str = "rgb",
        dtype: str = "float32",
    ):
        for key, value in (("mutation_rate", mutation_rate), ("crossover_rate", crossover_rate)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{key} must be in [0, 1], got {value}")
        if not (eta_m >= 0 and eta_c >= 0):  # NaN too
            raise ConfigError(f"eta_m and eta_c must be >= 0, got {eta_m} and {eta_c}")
        if halve_every < 0:
            raise ConfigError(f"halve_every must be >= 0, got {halve_every}")
        if channels not in (1, 3) or size < 1:
            raise ConfigError(f"bad image shape: {channels} channels, side {size}")
        if colour not in COLOURS:
            raise ConfigError(f"colour must be one of {', '.join(COLOURS)}, got {colour!r}")
        if dtype not in DTYPES:
            raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.colour = colour
        self.dtype = dtype
        self.channels = channels
        self.size = size
        self.device = torch.device(device)
        self.rng_device = self.device  # draw random genes where they are used
        self.mutation_rate = mutation_rate
        self.eta_m = eta_m
        self.crossover = crossover
        self.crossover_rate = crossover_rate
        self.eta_c = eta_c
        self.halve_every = halve_every

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.settings().items() if k != "encoding")
        return f"DirectEncoding({args})"

    def settings(self) -> dict[str, Any]:
        return {
            "encoding": self.name,
            "channels": self.channels,
            "size": self.size,
            "mutation_rate": self.mutation_rate,
            "mutation": "polynomial (released code: unbounded delta, then clip)",
            "eta_m": self.eta_m,
            "mutation_schedule": (
                f"halve every {self.halve_every} generations (paper)"
                if self.halve_every
                else "constant (released code)"
            ),
            "halve_every": self.halve_every,
            "crossover": "sbx" if self.crossover else "none",
            "crossover_rate": self.crossover_rate,
            "eta_c": self.eta_c,
            "colour": "grey" if self.channels == 1 else self.colour,
            "genome_dtype": self.dtype,
        }

    # -- genomes -------------------------------------------------------------------------

    def _rand(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        return torch.rand(shape, generator=generator, device=generator.device).to(self.device)

    def init(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``n`` genomes, every gene uniform in [0, 1) (uint8: its level, 0..254)."""
        return self._from_genes(self._rand((n, self.channels, self.size, self.size), generator))

    @property
    def _bytes(self) -> bool:
        return self.dtype == "uint8"

    def _to_genes(self, g: torch.Tensor) -> torch.Tensor:
        """Stored genes -> float genes in [0, 1] (uint8: the centre of the level; level 255,
        which only the gene 1.0 has, is 1.0: above the bounds, SBX would give NaN)."""
        return g.float().add_(0.5).div_(255.0).clamp_(max=1.0) if self._bytes else g

    def _from_genes(self, g: torch.Tensor) -> torch.Tensor:
        """Float genes in [0, 1] -> stored genes (uint8: the level ``trunc(255 g)``). ``g`` is
        a temporary of the caller's and is overwritten (no second float copy of a batch)."""
        if self._bytes:
            return g.mul_(255.0).floor_().clamp_(0.0, 255.0).to(torch.uint8)
        return g

    def rate(self, generation: int) -> float:
        """The per-gene mutation rate at ``generation``."""
        if self.halve_every:
            return self.mutation_rate * 0.5 ** (generation // self.halve_every)
        return self.mutation_rate

    def vary(
        self, parents: torch.Tensor, generator: torch.Generator, generation: int = 0
    ) -> torch.Tensor:
        """SBX on consecutive pairs (if enabled), then polynomial mutation of every child."""
        children = parents.clone(memory_format=torch.contiguous_format)
        if self.crossover and parents.shape[0] >= 2:
            children = self._sbx(children, generator)
        return self._mutate(children, generator, self.rate(generation))

    def _mutate(self, g: torch.Tensor, generator: torch.Generator, rate: float) -> torch.Tensor:
        # The released code's polynomial mutation: delta in [-1, 1], not scaled by the
        # distance to the bounds, then clipped. Only the chosen genes (a share `rate`) draw a
        # delta, so the cost of the transcendental maths scales with the rate.
        flat = g.view(-1)
        chosen = bernoulli_positions(flat.numel(), rate, generator).to(flat.device)
        r = self._rand(chosen.shape, generator)
        e = 1.0 / (self.eta_m + 1.0)
        # delta = (2 r)^e - 1 if r < 0.5, else 1 - (2 (1 - r))^e, with one power: 2 (1 - r)
        # and 2 - 2 r are the same float, and so are 1 - b and -(b - 1).
        low = r < 0.5
        two_r = r.mul_(2.0)
        b = torch.where(low, two_r, 2.0 - two_r).pow_(e).sub_(1.0)
        delta = torch.where(low, b, -b)
        genes = self._to_genes(flat.index_select(0, chosen)).add_(delta).clamp_(0.0, 1.0)
        flat.index_copy_(0, chosen, self._from_genes(genes))  # positions are distinct
        return g

    def _sbx(self, g: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        # Deb's bounded SBX (bounds [0, 1]) on every gene where the two parents differ;
        # children swapped per gene at random. Pairs are (0, 1), (2, 3), ...; an odd last
        # parent is copied unchanged. Only the pairs drawn for crossover do the maths.
        n_pairs = g.shape[0] // 2
        crossed = (self._rand((n_pairs,), generator) < self.crossover_rate).nonzero().squeeze(1)
        i1, i2 = 2 * crossed, 2 * crossed + 1
        p1, p2 = self._to_genes(g[i1]), self._to_genes(g[i2])
        u = self._rand(p1.shape, generator)
        swap = self._rand(p1.shape, generator) < 0.5
        y1, y2 = torch.minimum(p1, p2), torch.maximum(p1, p2)
        diff = y2 - y1
        differ = diff > 1e-14
        span = torch.where(differ, diff, torch.ones_like(diff))
        ex = 1.0 / (self.eta_c + 1.0)

        def betaq(beta: torch.Tensor) -> torch.Tensor:
            alpha = 2.0 - beta ** (-(self.eta_c + 1.0))
            ua = u * alpha
            # u <= 1/alpha  <=>  u * alpha <= 1 (alpha > 1)
            return torch.where(ua <= 1.0, ua, 1.0 / (2.0 - ua)) ** ex

        c1 = (0.5 * ((y1 + y2) - betaq(1.0 + 2.0 * y1 / span) * diff)).clamp_(0.0, 1.0)
        c2 = (0.5 * ((y1 + y2) + betaq(1.0 + 2.0 * (1.0 - y2) / span) * diff)).clamp_(0.0, 1.0)
        c1, c2 = torch.where(swap, c2, c1), torch.where(swap, c1, c2)
        g[i1] = self._from_genes(torch.where(differ, c1, p1))
        g[i2] = self._from_genes(torch.where(differ, c2, p2))
        return g

    def render(self, genomes: torch.Tensor) -> torch.Tensor:
        """8-bit levels ``trunc(255 g)``: grey or RGB ``level / 255``, or decoded from HLS /
        HSV (RGB out, on 8-bit levels); ``(N, C, H, W)`` float32."""
        if self._bytes:
            levels = genomes.to(torch.float32)
            if self.channels == 1 or self.colour == "rgb":
                return levels / 255.0
        else:
            if self.channels == 1 or self.colour == "rgb":
                return torch.floor(genomes * 255.0) / 255.0
            levels = torch.floor(genomes * 255.0)
        if self.colour == "hls":
            return hls_bytes_to_rgb(levels)
        return hsv_to_rgb(levels / 255.0)

    def take(self, genomes: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return genomes.index_select(0, index.to(genomes.device))

    def cat(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([a, b])

    def put(
        self, champions: torch.Tensor, index: torch.Tensor, newcomers: torch.Tensor
    ) -> torch.Tensor:
        """Overwrite ``champions[index]`` in place (no copy of the whole archive)."""
        champions[index.to(champions.device)] = newcomers
        return champions

    def count(self, genomes: torch.Tensor) -> int:
        return int(genomes.shape[0])

    def save(self, genomes: torch.Tensor, path: Path) -> None:
        _io.write_safetensors(path, {"genomes": genomes.detach().cpu().contiguous()})

    def load(self, path: Path) -> torch.Tensor:
        try:
            g = load_file(str(path))["genomes"]
        except Exception as e:  # any unreadable file is a corrupt genome file
            raise DataError(f"cannot read genomes {path}: {e}") from None
        if g.ndim != 4 or tuple(g.shape[1:]) != (self.channels, self.size, self.size):
            raise DataError(
                f"{path}: genomes of shape {tuple(g.shape)} do not fit "
                f"{self.channels}x{self.size}x{self.size} images"
            )
        if not self._bytes and g.is_floating_point():
            g = g.float()
        want = torch.uint8 if self._bytes else torch.float32
        if g.dtype != want:
            raise DataError(f"{path}: genomes stored as {g.dtype}, this encoding uses {want}")
        return g.to(self.device)


def bernoulli_positions(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    """Sorted positions in ``[0, n)`` each chosen independently with probability ``p``.

    Draws the geometric gaps between chosen positions (about ``n p`` random numbers) rather
    than one uniform per position: the same distribution at a tenth of the cost for p = 0.1.
    """
    if p <= 0.0 or n == 0:
        return torch.empty(0, dtype=torch.long)
    if p >= 1.0:
        return torch.arange(n)
    log_q = math.log1p(-p)
    mean = n * p
    parts: list[torch.Tensor] = []
    start = -1
    while start < n - 1:
        m = int(mean + 6.0 * math.sqrt(mean) + 16)
        u = torch.rand(m, generator=generator, dtype=torch.float64, device=generator.device)
        # Geometric(p) gaps >= 1: floor(log(1 - u) / log(1 - p)) + 1, with 1 - u in (0, 1].
        # A gap past the end is capped there: the same positions, and no int64 overflow
        # (an endless loop) when p is tiny.
        gaps = u.neg_().log1p_().div_(log_q).floor_().add_(1.0).clamp_(max=n + 1.0).long()
        pos = gaps.cpu().cumsum_(0).add_(start)
        parts.append(pos[: int(torch.searchsorted(pos, n))])
        start = int(pos[-1])
    return parts[0] if len(parts) == 1 else torch.cat(parts)
