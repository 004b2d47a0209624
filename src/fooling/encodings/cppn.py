"""The CPPN (indirect) encoding (PAPER.md §3): small feed-forward networks drawn over the
pixel grid.

A genome is a DAG over 4 inputs (``x``, ``y``, ``d``, ``bias``), hidden nodes and 1 (grey)
or 3 (colour) outputs. Every non-input node computes ``af(sum w * in)`` with one of four
activations (sine, rescaled sigmoid, Gaussian, clipped linear); weights lie in [-10, 10] and
are stored as their genotype ``g`` in [0, 1] (``w = 20 g - 10``), exactly as the released
code's ``evo_float`` genes. Variation is mutation only, with the released code's operators
and rates; no operator ever creates a cycle.

One genome is an immutable :class:`CPPNGenome`; a population is a :class:`CPPNBatch`, every
genome packed into flat node and edge arrays, so that mutation is numpy calls over the whole
population, never a Python loop over genomes or edges. Rendering packs a batch -- whatever
the topologies -- into one table of nodes sorted by depth and activation (equal nodes once,
nodes that reach no output not at all; a compiled walk over the batch, see :func:`_plan`),
and evaluates it one depth at a time over all pixels at once: an embedding bag for the
weighted sums, then one call per activation. The slow per-genome :func:`_render_reference`
is kept for the tests and the benchmark.

Colour: 1 output is grey, ``|trunc(255 out)|``. 3 outputs are read as OpenCV 8-bit HLS
bytes (the released code: hue byte ``h`` is ``2 h`` degrees, so bytes 180..255 wrap) and
converted to RGB with OpenCV's ``HLS2RGB`` arithmetic, or, with ``colour="hsv"``, as a
clean HSV in [0, 1].
"""

from __future__ import annotations

import functools
import itertools
import json
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np
import torch
from torch import nn

from .. import _io
from ..errors import ConfigError, DataError, check_positive_int

INPUTS = ("x", "y", "d", "bias")
ACTIVATIONS = ("sine", "sigmoid", "gaussian", "linear")
N_INPUTS = len(INPUTS)
WEIGHT_RANGE = 10.0
FORMAT = "fooling.cppn"
FORMAT_VERSION = 1


# -- genomes ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CPPNGenome:
    """One CPPN: nodes and weighted edges.

    Node ids: ``0..3`` are the inputs ``x, y, d, bias``; ``4 .. 4 + outputs - 1`` the
    outputs; the hidden nodes follow. Parallel edges are allowed (their weights add up).

    Attributes:
        outputs: number of output nodes O (1 grey, 3 colour).
        activations: activation index (into ``ACTIVATIONS``) of every non-input node, node
            ``4 + i`` at position ``i``: outputs first, then hidden nodes.
        edges: ``(source, target, gene)`` triples; the weight is ``20 * gene - 10`` with the
            gene in [0, 1].
    """

    outputs: int
    activations: tuple[int, ...]
    edges: tuple[tuple[int, int, float], ...]

    @property
    def num_nodes(self) -> int:
        """All nodes, inputs included."""
        return N_INPUTS + len(self.activations)

    @property
    def num_hidden(self) -> int:
        """Hidden nodes."""
        return len(self.activations) - self.outputs

    @property
    def weights(self) -> tuple[float, ...]:
        """Edge weights in [-10, 10], in edge order."""
        return tuple(_weight(g) for _, _, g in self.edges)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form; genes are Python floats, which JSON round-trips exactly."""
        return {
            "outputs": self.outputs,
            "activations": [ACTIVATIONS[a] for a in self.activations],
            "edges": [[s, t, g] for s, t, g in self.edges],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CPPNGenome:
        """Inverse of :meth:`to_dict`; raises ``ValueError`` on any malformed field."""
        try:
            acts = tuple(ACTIVATIONS.index(a) for a in data["activations"])
            edges = tuple(_edge(e) for e in data["edges"])
            genome = cls(_integer(data["outputs"], "outputs"), acts, edges)
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"malformed genome: {e}") from None
        genome.validate()
        return genome

    def validate(self) -> None:
        """Raise ``ValueError`` unless this is a well-formed feed-forward CPPN.

        Checks: O >= 1 outputs; activation ids in range; every edge endpoint exists; no edge
        into an input or out of an output; genes in [0, 1]; no cycle.
        """
        if self.outputs < 1 or len(self.activations) < self.outputs:
            raise ValueError(f"{self.outputs} outputs but {len(self.activations)} nodes")
        if any(not 0 <= a < len(ACTIVATIONS) for a in self.activations):
            raise ValueError("activation id out of range")
        n = self.num_nodes
        first_hidden = N_INPUTS + self.outputs
        for s, t, g in self.edges:
            if not (0 <= s < n and 0 <= t < n):
                raise ValueError(f"edge {s}->{t} has an endpoint outside 0..{n - 1}")
            if t < N_INPUTS:
                raise ValueError(f"edge {s}->{t} enters an input")
            if N_INPUTS <= s < first_hidden:
                raise ValueError(f"edge {s}->{t} leaves an output")
            if not 0.0 <= g <= 1.0:
                raise ValueError(f"gene {g!r} outside [0, 1]")
        _depths(self)  # raises on a cycle


def _integer(value: Any, what: str) -> int:
    """``value`` if it is a JSON integer (not a bool, a float or a string)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return value


def _edge(item: Any) -> tuple[int, int, float]:
    """A JSON ``[source, target, gene]`` triple: two integer node ids and a number."""
    if not isinstance(item, list | tuple) or len(item) != 3:
        raise ValueError(f"an edge must be [source, target, gene], got {item!r}")
    s, t, g = item
    if isinstance(g, bool) or not isinstance(g, int | float):
        raise ValueError(f"gene must be a number, got {g!r}")
    return _integer(s, "edge source"), _integer(t, "edge target"), float(g)


def _weight(gene: float) -> float:
    return 2.0 * WEIGHT_RANGE * gene - WEIGHT_RANGE


def _depths(genome: CPPNGenome) -> list[int]:
    """Longest-path depth of every node: inputs 0, a non-input node ``1 + max(preds)`` (1
    if it has no incoming edge). Raises ``ValueError`` on a cycle (Kahn's algorithm)."""
    n = genome.num_nodes
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for s, t, _ in genome.edges:
        succ[s].append(t)
        indeg[t] += 1
    depth = [0] * N_INPUTS + [1] * (n - N_INPUTS)
    ready = [v for v in range(n) if indeg[v] == 0]
    seen = 0
    while ready:
        v = ready.pop()
        seen += 1
        for t in succ[v]:
            depth[t] = max(depth[t], depth[v] + 1)
            indeg[t] -= 1
            if indeg[t] == 0:
                ready.append(t)
    if seen != n:
        raise ValueError("the graph has a cycle")
    return depth


def _topological_order(genome: CPPNGenome) -> list[int]:
    """Nodes sorted by depth (inputs first): a valid evaluation order."""
    depth = _depths(genome)
    return sorted(range(genome.num_nodes), key=lambda v: (depth[v], v))


def _ancestors(node: int, edges: Sequence[tuple[int, int, float]]) -> set[int]:
    """``node`` and every node with a path to it."""
    preds: dict[int, list[int]] = {}
    for s, t, _ in edges:
        preds.setdefault(t, []).append(s)
    seen = {node}
    stack = [node]
    while stack:
        for s in preds.get(stack.pop(), ()):
            if s not in seen:
                seen.add(s)
                stack.append(s)
    return seen


# -- populations: many genomes in flat arrays ------------------------------------------------


def _offsets(counts: np.ndarray) -> np.ndarray:
    """``[0, c0, c0 + c1, ...]``: where each segment of a flat array starts (and the end)."""
    out = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _segments(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenated ranges ``starts[i] .. starts[i] + lengths[i] - 1``, without a loop."""
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    return np.arange(total, dtype=np.int64) + np.repeat(starts - ends + lengths, lengths)


def _frozen(a: np.ndarray, dtype: type) -> np.ndarray:
    """A read-only contiguous view of ``a`` as ``dtype`` (a copy where it must)."""
    view = np.ascontiguousarray(a, dtype=dtype).view()
    view.flags.writeable = False
    return view


class CPPNBatch(Sequence[CPPNGenome]):
    """A population of CPPNs packed into flat arrays, the form the mutation operators and
    the renderer work on: a whole population is varied with numpy calls over all its nodes
    and edges at once, never a Python loop over genomes or edges, and planned for rendering
    in one compiled call.

    Genome ``i`` owns the activations ``acts[node_offsets[i]:node_offsets[i + 1]]`` (of its
    nodes ``4, 5, ...`` in order) and the edges ``src, dst, gene[edge_offsets[i]:
    edge_offsets[i + 1]]`` in its own edge order, with node ids local to the genome. The
    arrays are read-only; operations build new batches. Indexing and iteration give
    :class:`CPPNGenome` values, and a batch equals any sequence of the same genomes.

    Attributes:
        outputs: output nodes O of every genome.
        node_count: ``(N,)`` non-input nodes per genome.
        acts: ``(sum node_count,)`` activation ids.
        edge_count: ``(N,)`` edges per genome.
        src, dst: ``(sum edge_count,)`` edge endpoints (local node ids).
        gene: ``(sum edge_count,)`` weight genes in [0, 1].
    """

    ARRAYS = ("node_count", "acts", "edge_count", "src", "dst", "gene")  # the constructor's
    __slots__ = ("outputs", *ARRAYS, "node_offsets", "edge_offsets")

    def __init__(
        self,
        outputs: int,
        node_count: np.ndarray,
        acts: np.ndarray,
        edge_count: np.ndarray,
        src: np.ndarray,
        dst: np.ndarray,
        gene: np.ndarray,
    ):
        self.outputs = int(outputs)
        self.node_count = _frozen(node_count, np.int64)
        self.acts = _frozen(acts, np.int64)
        self.edge_count = _frozen(edge_count, np.int64)
        self.src = _frozen(src, np.int64)
        self.dst = _frozen(dst, np.int64)
        self.gene = _frozen(gene, np.float64)
        self.node_offsets = _frozen(_offsets(self.node_count), np.int64)
        self.edge_offsets = _frozen(_offsets(self.edge_count), np.int64)

    @classmethod
    def from_genomes(cls, genomes: Sequence[CPPNGenome], outputs: int) -> CPPNBatch:
        """Pack genomes with ``outputs`` outputs each; raises ``ValueError`` on a genome that
        is not well formed (cycles are found when the batch is rendered)."""
        if isinstance(genomes, CPPNBatch):
            if len(genomes) and genomes.outputs != outputs:
                raise ValueError(f"genomes must have {outputs} outputs, not {genomes.outputs}")
            return genomes
        genomes = list(genomes)
        if any(g.outputs != outputs for g in genomes):
            raise ValueError(f"genomes must have {outputs} outputs")
        chain = itertools.chain.from_iterable
        n = len(genomes)
        node_count = np.fromiter((len(g.activations) for g in genomes), np.int64, n)
        edge_count = np.fromiter((len(g.edges) for g in genomes), np.int64, n)
        acts = np.fromiter(chain(g.activations for g in genomes), np.int64, int(node_count.sum()))
        e = int(edge_count.sum())
        flat = np.fromiter(chain(chain(g.edges for g in genomes)), np.float64, 3 * e).reshape(e, 3)
        src, dst = flat[:, 0].astype(np.int64), flat[:, 1].astype(np.int64)
        if not (np.array_equal(src, flat[:, 0]) and np.array_equal(dst, flat[:, 1])):
            raise ValueError("edge endpoints must be integers")
        batch = cls(outputs, node_count, acts, edge_count, src, dst, flat[:, 2])
        batch.check()
        return batch

    def check(self) -> None:
        """Raise ``ValueError`` unless every genome is well formed, cycles aside (see
        :meth:`CPPNGenome.validate`): O >= 1 outputs, activation ids in range, edge endpoints
        that exist, no edge into an input or out of an output, genes in [0, 1]."""
        o = self.outputs
        if o < 1 or (self.node_count < o).any():
            raise ValueError(f"a genome has fewer nodes than its {o} outputs")
        if ((self.acts < 0) | (self.acts >= len(ACTIVATIONS))).any():
            raise ValueError("activation id out of range")
        n = N_INPUTS + self.per_edge(self.node_count)
        s, t = self.src, self.dst
        if ((s < 0) | (s >= n) | (t >= n)).any():
            raise ValueError("an edge has an endpoint that is not a node of its genome")
        if (t < N_INPUTS).any():
            raise ValueError("an edge enters an input")
        if ((s >= N_INPUTS) & (s < N_INPUTS + o)).any():
            raise ValueError("an edge leaves an output")
        if not ((self.gene >= 0.0) & (self.gene <= 1.0)).all():  # NaN too
            raise ValueError("a gene is outside [0, 1]")

    def per_edge(self, per_genome: np.ndarray) -> np.ndarray:
        """``per_genome`` ``(N,)`` repeated for every edge: each edge's genome's value."""
        return np.repeat(per_genome, self.edge_count)

    # -- a sequence of genomes -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.node_count)

    @overload
    def __getitem__(self, i: int) -> CPPNGenome: ...

    @overload
    def __getitem__(self, i: slice) -> CPPNBatch: ...

    def __getitem__(self, i: int | slice) -> CPPNGenome | CPPNBatch:
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        n = len(self)
        k = operator.index(i) + (n if operator.index(i) < 0 else 0)
        if not 0 <= k < n:
            raise IndexError(f"genome {i} of {n}")
        a, b = self.node_offsets[k : k + 2]
        c, d = self.edge_offsets[k : k + 2]
        edges = zip(self.src[c:d].tolist(), self.dst[c:d].tolist(), self.gene[c:d].tolist())
        return CPPNGenome(self.outputs, tuple(self.acts[a:b].tolist()), tuple(edges))

    def __iter__(self) -> Iterator[CPPNGenome]:
        acts, nodes = self.acts.tolist(), self.node_offsets.tolist()
        edges = list(zip(self.src.tolist(), self.dst.tolist(), self.gene.tolist()))
        offsets = self.edge_offsets.tolist()
        for k in range(len(self)):
            yield CPPNGenome(
                self.outputs,
                tuple(acts[nodes[k] : nodes[k + 1]]),
                tuple(edges[offsets[k] : offsets[k + 1]]),
            )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CPPNBatch):
            return len(self) == len(other) and (
                not len(self)
                or self.outputs == other.outputs
                and all(np.array_equal(getattr(self, f), getattr(other, f))
                        for f in self.ARRAYS)
            )  # fmt: skip
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-looking: equality is by value

    def __repr__(self) -> str:
        return (f"CPPNBatch({len(self)} genomes, {self.outputs} outputs, "
                f"{len(self.acts)} nodes, {len(self.gene)} edges)")  # fmt: skip

    # -- batches ---------------------------------------------------------------------------

    def take(self, index: np.ndarray) -> CPPNBatch:
        """The genomes at ``index`` (any order, repeats allowed)."""
        index = np.asarray(index, np.int64).reshape(-1)
        nodes = _segments(self.node_offsets[index], self.node_count[index])
        edges = _segments(self.edge_offsets[index], self.edge_count[index])
        return CPPNBatch(
            self.outputs, self.node_count[index], self.acts[nodes], self.edge_count[index],
            self.src[edges], self.dst[edges], self.gene[edges],
        )  # fmt: skip

    def range(self, lo: int, hi: int) -> CPPNBatch:
        """Genomes ``lo .. hi - 1``: views, nothing copied."""
        a, b = self.node_offsets[lo], self.node_offsets[hi]
        c, d = self.edge_offsets[lo], self.edge_offsets[hi]
        return CPPNBatch(
            self.outputs, self.node_count[lo:hi], self.acts[a:b], self.edge_count[lo:hi],
            self.src[c:d], self.dst[c:d], self.gene[c:d],
        )  # fmt: skip

    @staticmethod
    def concat(batches: Sequence[CPPNBatch]) -> CPPNBatch:
        """The batches one after another (all with the same outputs)."""
        full = [b for b in batches if len(b)]
        if not full:
            return batches[0]
        if len({b.outputs for b in full}) > 1:
            raise ValueError("cannot join genomes with different numbers of outputs")

        def cat(field: str) -> np.ndarray:
            return np.concatenate([getattr(b, field) for b in full])

        return CPPNBatch(full[0].outputs, *(cat(f) for f in CPPNBatch.ARRAYS))


class _Draws:
    """U[0, 1) float64 numbers from a ``torch.Generator``, as numpy arrays: the same
    generator state gives the same numbers."""

    def __init__(self, generator: torch.Generator):
        self.generator = generator

    def __call__(self, n: int) -> np.ndarray:
        u = torch.rand(n, generator=self.generator, dtype=torch.float64,
                       device=self.generator.device)  # fmt: skip
        return u.cpu().numpy()

    def index(self, k: np.ndarray) -> np.ndarray:
        """A uniform integer in ``[0, k[i])`` for every ``k[i] >= 1``."""
        return np.minimum((self(len(k)) * k).astype(np.int64), k - 1)


# -- rendering: inputs, activations, colour --------------------------------------------------


@functools.lru_cache(maxsize=16)
def _input_grid(
    size: int, inputs: str, dtype: torch.dtype, device: torch.device | str = "cpu", lanes: int = 1
) -> torch.Tensor:
    """The 4 CPPN inputs at every pixel: ``(4, size * size)``, pixels row-major, then zero
    columns up to a multiple of ``lanes``. Cached: callers only read it.

    ``x`` is the column, ``y`` the row. ``inputs="normalized"`` maps both to [-1, 1]
    (``-1 + 2 x / (S - 1)``; 0 when S = 1); ``"raw"`` keeps the pixel indices 0..S-1 as the
    released code does. ``d`` is always the distance from the centre in normalised
    coordinates; ``bias`` is 1.
    """
    idx = torch.arange(size, dtype=torch.float64, device=device)
    norm = -1.0 + idx * (2.0 / (size - 1)) if size > 1 else torch.zeros_like(idx)
    yn, xn = torch.meshgrid(norm, norm, indexing="ij")
    d = torch.sqrt(xn.square() + yn.square())
    if inputs == "raw":
        y, x = torch.meshgrid(idx, idx, indexing="ij")
    else:
        x, y = xn, yn
    grid = torch.stack([x, y, d, torch.ones_like(d)]).reshape(N_INPUTS, size * size)
    return nn.functional.pad(grid, (0, -(-size * size // lanes) * lanes - size * size)).to(dtype)


def _gaussian_cap(dtype: torch.dtype) -> float:
    """The bound on the Gaussian's ``x^2``: ``exp(-x^2) >= ~1e-30`` in float32 (~1e-300 in
    float64). The change is far below any 8-bit level, and it keeps subnormal numbers,
    which slow every later CPU operation that touches them tenfold and more, out of the
    table."""
    return 69.0 if dtype == torch.float32 else 690.0


def _activate_(act: int, x: torch.Tensor) -> torch.Tensor:
    """Activation ``act`` applied to ``x`` in place."""
    if act == 0:  # sine
        return x.sin_()
    if act == 1:  # sigmoid rescaled to (-1, 1), as the released code writes it
        return x.sigmoid_().sub_(0.5).mul_(2.0)
    if act == 2:  # Gaussian, x^2 capped
        return x.square_().clamp_(max=_gaussian_cap(x.dtype)).neg_().exp_()
    if act == 3:  # linear, clipped
        return x.clamp_(-3.0, 3.0).div_(3.0)
    raise ValueError(f"activation id {act}")


def _bytes(out: torch.Tensor) -> torch.Tensor:
    """``|trunc(255 out)|`` in float32, as the released code converts a float output to a
    byte (negative outputs are mirrored, not clipped). Computed as ``floor(|255 out|)``,
    the same number, because ``trunc`` is several times slower on the CPU. The product is
    taken in the outputs' own dtype: a float64 output just under ``k / 255`` stays level
    ``k - 1``."""
    return torch.mul(out, 255.0).abs_().floor_().to(torch.float32)


def _hls_hue_table() -> torch.Tensor:
    """Per channel r, g, b and hue byte 0..255, ``(3, 256)``: the coefficient ``c`` with
    channel value ``p1 + (p2 - p1) c``, computed as OpenCV does (float32 ``h * 6/180``, one
    wrap, sector, fraction ``f``): 1 selects p2, 0 p1, ``1 - f`` the falling and ``f`` the
    rising ramp."""
    f32 = torch.float32
    hscale = torch.tensor(6.0, dtype=f32) / torch.tensor(180.0, dtype=f32)
    h = torch.arange(256, dtype=f32) * hscale
    h = torch.where(h >= 6.0, h - 6.0, h)
    sector = torch.floor(h)
    f = h - sector
    # OpenCV's sector table (b, g, r) over [p2, p1, falling, rising], reordered to r, g, b.
    table = torch.tensor([[0, 3, 1], [2, 0, 1], [1, 0, 3], [1, 2, 0], [3, 1, 0], [0, 1, 2]])
    ones = torch.ones_like(f)
    choices = torch.stack([ones, torch.zeros_like(f), ones - f, f], 1)  # (256, 4)
    return torch.gather(choices, 1, table[sector.long()]).T.contiguous()  # (3, 256)


_HLS_HUE = _hls_hue_table()


def _hls_formula(hls: torch.Tensor) -> torch.Tensor:
    """OpenCV's float32 HLS -> RGB arithmetic: HLS bytes ``(N, 3, ...)`` -> RGB in [0, 1],
    ``l / 255``, ``p1``, ``p2``, the sector ramps and ``round(255 v)`` half to even, as
    ``HLS2RGB_b`` / ``HLS2RGB_f`` compute them. It builds :func:`_hls_table`."""
    f32 = torch.float32
    hls = hls.to(f32)
    hue, lum, s = hls[:, 0], hls[:, 1], hls[:, 2]
    # 1.f/255.f is a float32 quotient in OpenCV; as a Python float it stays exact in f32.
    inv255 = (torch.tensor(1.0, dtype=f32) / torch.tensor(255.0, dtype=f32)).item()
    lum = lum * inv255
    s = s * inv255
    p2 = torch.where(lum <= 0.5, lum * (1.0 + s), lum + s - lum * s)
    p1 = 2.0 * lum - p2
    span = p2 - p1
    coef = _HLS_HUE.to(hls.device)[:, hue.long()].movedim(0, 1)  # (N, 3, ...)
    rgb = torch.addcmul(p1.unsqueeze(1), span.unsqueeze(1), coef)
    rgb = torch.where((s == 0).unsqueeze(1), lum.unsqueeze(1), rgb)
    return torch.round(rgb.mul_(255.0)).clamp_(0.0, 255.0).div_(255.0)


@functools.cache
def _hls_table(device: torch.device) -> torch.Tensor:
    """``(2^24, 3)`` uint8 on ``device``: the RGB bytes of every HLS byte triple, at row
    ``65536 h + 256 l + s``, from :func:`_hls_formula` (48 MiB, built once per device in
    0.5 s). A CPPN image is smooth, so neighbouring pixels read neighbouring rows: one
    lookup takes less than half the time of the formula (20 tensor ops)."""
    step = 1 << 20
    rows = []
    for lo in range(0, 1 << 24, step):
        i = torch.arange(lo, lo + step)
        hls = torch.stack([i >> 16, (i >> 8) & 255, i & 255])[None]  # (1, 3, step)
        rows.append(torch.round(_hls_formula(hls)[0].T * 255.0).to(torch.uint8))
    return torch.cat(rows).to(device)


def hls_bytes_to_rgb(hls: torch.Tensor, *, out: torch.Tensor | None = None) -> torch.Tensor:
    """OpenCV 8-bit ``COLOR_HLS2RGB`` in torch: HLS bytes ``(N, 3, ...)`` -> RGB in [0, 1].

    The input holds integer values 0..255 (any dtype). Hue byte ``h`` is ``2 h`` degrees;
    bytes 180..255 wrap to 0..150 degrees. L and S are on 0..255. Each pixel is looked up
    in a table of OpenCV's float32 arithmetic (:func:`_hls_formula`); the result equals
    ``cv2.cvtColor(uint8_hls, cv2.COLOR_HLS2RGB) / 255`` on all 2^24 inputs (checked
    against OpenCV 5). With ``out`` (float32, the input's shape), the result is written
    there and it is returned.
    """
    hls = hls.to(torch.float32)  # 65536 h + 256 l + s < 2^24 is exact in float32
    index = torch.addcmul(hls[:, 2], hls[:, 1], hls.new_tensor(256.0))
    index = torch.addcmul(index, hls[:, 0], hls.new_tensor(65536.0)).to(torch.int32)
    rgb = _hls_table(hls.device).index_select(0, index.reshape(-1)).view(*index.shape, 3)
    return torch.div(rgb.movedim(-1, 1), hls.new_tensor(255.0), out=out)


# Clean HSV: r, g, b per sector as indices into (v, p, q, t).
_HSV_SECTORS = torch.tensor([[0, 3, 1], [2, 0, 1], [1, 0, 3], [1, 2, 0], [3, 1, 0], [0, 1, 2]])


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """Clean HSV -> RGB: ``(N, 3, ...)`` with H, S, V in [0, 1] (H = 1 is 360 degrees) ->
    RGB in [0, 1], rounded to 8-bit levels."""
    h, s, v = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    h6 = h * 6.0
    sector = torch.floor(h6)
    f = h6 - sector
    p = v * (1.0 - s)
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    tab = torch.stack([v, p, q, t])
    index = _HSV_SECTORS.to(hsv.device)[sector.long() % 6].movedim(-1, 0)
    rgb = torch.gather(tab, 0, index)
    return (torch.round(rgb * 255.0).clamp_(0.0, 255.0) / 255.0).movedim(0, 1).contiguous()


def decode(
    outputs: torch.Tensor, colour: str = "hls", *, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Network outputs ``(N, O, ...)`` -> images ``(N, C, ...)`` float32 on 8-bit levels.

    One output: grey ``|trunc(255 out)| / 255``. Three: ``colour="hls"`` reads the bytes
    ``|trunc(255 out)|`` as OpenCV HLS (:func:`hls_bytes_to_rgb`); ``"hsv"`` reads
    ``|out|`` as HSV (:func:`hsv_to_rgb`). Channels come out in RGB order. With ``out``
    (float32, the images' shape), the images are written there and it is returned.
    """
    if outputs.shape[1] == 1:
        if out is not None and outputs.dtype == torch.float32:  # the same ops, in place
            return torch.mul(outputs, 255.0, out=out).abs_().floor_().div_(255.0)
        images = _bytes(outputs) / 255.0
    elif colour == "hls":
        return hls_bytes_to_rgb(_bytes(outputs), out=out)
    else:
        images = hsv_to_rgb(outputs.to(torch.float32).abs().clamp_(max=1.0))
    return images if out is None else out.copy_(images)


def _render_reference(
    genome: CPPNGenome,
    *,
    size: int,
    inputs: str = "normalized",
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Slow, obvious renderer for tests and benchmarks: network outputs ``(O, S, S)``.

    Walks one genome's nodes in topological order, each vectorised over the pixels, summing
    incoming edges one by one in edge order.
    """
    grid = _input_grid(size, inputs, dtype, device)
    values: dict[int, torch.Tensor] = {i: grid[i] for i in range(N_INPUTS)}
    incoming: dict[int, list[tuple[int, float]]] = {}
    for s, t, g in genome.edges:
        incoming.setdefault(t, []).append((s, _weight(g)))
    for v in _topological_order(genome):
        if v < N_INPUTS:
            continue
        pre = torch.zeros(size * size, dtype=dtype, device=device)
        for s, w in incoming.get(v, ()):
            pre = pre + w * values[s]
        values[v] = _activate_(genome.activations[v - N_INPUTS], pre)
    outs = [values[N_INPUTS + o] for o in range(genome.outputs)]
    return torch.stack(outs).reshape(genome.outputs, size, size)


def _lanes(device: torch.device) -> int:
    """Rendered rows are padded to a multiple of this many pixels.

    On the CPU an elementwise op runs in SIMD blocks of up to 32 numbers, split evenly
    over the threads, and the ragged end of each thread's share goes through a scalar path
    whose ``sin`` or ``exp`` can differ in the last bit. With rows of whole blocks per
    thread no pixel takes that path, so a genome renders to the same bits in any batch
    (the champions' PNGs are rendered in other batches than the offspring were scored in).
    """
    return 32 * torch.get_num_threads() if device.type == "cpu" else 1


# -- the batched render plan -----------------------------------------------------------------

# Per activation, a factor folded into the node's in-edge weights so that the activation is
# one tensor op: the rescaled sigmoid 2 sigmoid(p) - 1 is tanh(p / 2), and the clipped
# linear clip(p, -3, 3) / 3 is clip(p / 3, -1, 1).
_FOLD = np.array([1.0, 0.5, 1.0, 1.0 / 3.0])

# The plan's weights come out in the render's dtype.
_NUMPY_LIKE = {torch.float32: np.empty(0, np.float32), torch.float64: np.empty(0, np.float64)}


def _activate_into(act: int, pre: torch.Tensor, out: torch.Tensor, zero: torch.Tensor) -> None:
    """``out = af(pre)`` for a pre-activation whose weights carry ``_FOLD[act]``; ``zero``
    is a 0-d zero of their dtype and device."""
    if act == 0:  # sine
        torch.sin(pre, out=out)
    elif act == 1:  # sigmoid rescaled to (-1, 1)
        torch.tanh(pre, out=out)
    elif act == 2:  # Gaussian: -x^2 (one op, from zero), capped as in _activate_
        cap = _gaussian_cap(pre.dtype)
        torch.addcmul(zero, pre, pre, value=-1.0, out=out).clamp_(min=-cap).exp_()
    elif act == 3:  # linear, clipped
        torch.clamp(pre, -1.0, 1.0, out=out)
    else:
        raise ValueError(f"activation id {act}")


@dataclass
class _Level:
    """The rows of one depth. Row ``r``'s pre-activation is ``sum weights[k] *
    values[index[k]]`` over ``k`` in ``offsets[r] .. offsets[r + 1]``, in that order: an
    embedding bag over the rows above. Rows are sorted by activation: ``acts[j]`` applies to
    the next ``sizes[j]`` rows."""

    index: torch.Tensor
    offsets: torch.Tensor
    weights: torch.Tensor
    acts: list[int]
    sizes: list[int]


@dataclass
class _Plan:
    rows: int  # value-table rows: the 4 shared input rows, then the nodes
    levels: list[_Level]
    split: list[int]  # the table's row groups: the inputs, then each level's activations
    out_rows: torch.Tensor  # (N * O,) long: each genome's output rows


def _plan(batch: CPPNBatch, dtype: torch.dtype, device: torch.device) -> _Plan:
    """Pack a batch, whatever its topologies, into one value table: 4 shared input rows,
    then one row per distinct node that reaches an output, sorted by (depth, activation,
    genome, node). Nodes without a path to an output get no row; constant nodes (fed by
    the bias and other constants only) are computed once, in the plan, and folded into
    their consumers' bias weights; equal nodes (the same activation and in-edges from
    equal rows, as siblings bred from one champion share most of theirs) get one row. In
    a lenet-mnist run, 200 offspring have ~1,435 nodes and ~740 rows.

    A node sums its in-edges in an order that its own genome fixes (by its sources' depth,
    activation and id), so a genome renders to the same bits alone or in any batch. The
    walk over nodes and edges is compiled: see :func:`._cppn_plan.plan_arrays`.
    """
    from ._cppn_plan import plan_arrays  # numba: imported by the first render only

    rows, ints, val, level_nnz, counts = plan_arrays(
        batch.node_offsets, batch.acts, batch.edge_offsets, batch.src, batch.dst, batch.gene,
        batch.outputs, N_INPUTS, _FOLD, WEIGHT_RANGE, _gaussian_cap(dtype),
        _NUMPY_LIKE[dtype],
    )  # fmt: skip
    nnz = level_nnz.tolist()
    per_level = counts.tolist()
    acts = [[a for a, c in enumerate(level) if c] for level in per_level]
    sizes = [[c for c in level if c] for level in per_level]
    bags = [sum(s) + 1 for s in sizes]
    parts = [*itertools.chain.from_iterable(zip(nnz, bags)), len(batch) * batch.outputs]
    # split_with_sizes, not Tensor.split: the same views without the latter's Python
    # wrapper, which costs several microseconds a call inside a run (also below).
    *levels, out_rows = torch.from_numpy(ints).to(device).split_with_sizes(parts)
    weights = torch.from_numpy(val).to(device).split_with_sizes(nnz)
    return _Plan(
        rows,
        [_Level(*level) for level in zip(levels[0::2], levels[1::2], weights, acts, sizes)],
        [N_INPUTS, *itertools.chain.from_iterable(sizes)],
        out_rows,
    )


def _evaluate(plan: _Plan, grid: torch.Tensor) -> torch.Tensor:
    """Run a plan over the pixels ``grid`` ``(4, P)``: the outputs ``(N * O, P)``.

    Per depth, one embedding bag (the weighted sums) and one call per activation present.
    Each pre-activation sums its in-edges in a fixed order, one pixel at a time, so the
    result does not depend on the batch or on how the pixels are chunked.
    """
    values = torch.empty((plan.rows, grid.shape[1]), dtype=grid.dtype, device=grid.device)
    inputs, *groups = values.split_with_sizes(plan.split)
    inputs.copy_(grid)
    zero = grid.new_zeros(())
    into = iter(groups)
    for level in plan.levels:
        # The aten op itself (mode 0 is "sum", the last offset closes the last bag):
        # nn.functional.embedding_bag's argument checks cost ~2 % of a 28x28 render.
        pre = torch.embedding_bag(
            values, level.index, level.offsets, False, 0, False, level.weights, True
        )[0]
        for act, x in zip(level.acts, pre.split_with_sizes(level.sizes)):
            _activate_into(act, x, next(into), zero)
    return values.index_select(0, plan.out_rows)


# -- the encoding ----------------------------------------------------------------------------

# The fewest pixels a render chunk is planned for (a float32 row of 16 KiB): narrower chunks
# pay the per-op overhead too often, wider ones plan too few genomes at once.
_CHUNK_PIXELS = 4096


class CPPNEncoding:
    """CPPN genomes with the released code's mutation operators, rendered in one batch.

    Args:
        channels: C: 1 (one grey output) or 3 (three outputs decoded as colour).
        size: image side H = W the images render at.
        device: where images are rendered (genomes stay in numpy arrays on the CPU).
        inputs: ``"normalized"`` (x, y in [-1, 1]) or ``"raw"`` (pixel indices 0..S-1, the
            released code). ``d`` is always normalised.
        colour: for 3 channels, ``"hls"`` (OpenCV 8-bit HLS with the hue wrap, the
            released code) or ``"hsv"`` (a clean HSV in [0, 1]).
        weight_rate: per-edge probability of a polynomial weight mutation (0.1).
        eta_m: polynomial mutation index in genotype space [0, 1] (15).
        activation_rate: per-node probability of resampling its activation (0.1).
        add_connection_rate: probability of the add-connection operator (0.5).
        delete_connection_rate: probability of deleting a random edge (0.3).
        add_node_rate: probability of splitting a random edge with a new node (0.5).
        delete_node_rate: probability of deleting a random hidden node (0.2).
        dtype: ``"float32"`` (the released code's precision) or ``"float64"`` network maths.
        chunk_elements: value-table elements rendered at once, which bounds render memory:
            a batch renders in runs of genomes whose table over 4096 pixels (or all, if
            fewer) fits (one genome at least), each run in chunks of pixels whose table fits
            (default: 2^22 on CPU, 2^27 elsewhere). The images do not depend on it.
    """

    name = "cppn"

    def __init__(
        self,
        *,
        channels: int = 1,
        size: int = 28,
        device: str | torch.device = "cpu",
        inputs: str = "normalized",
        colour: str = "hls",
        weight_rate: float = 0.1,
        eta_m: float = 15.0,
        activation_rate: float = 0.1,
        add_connection_rate: float = 0.5,
        delete_connection_rate: float = 0.3,
        add_node_rate: float = 0.5,
        delete_node_rate: float = 0.2,
        dtype: str = "float32",
        chunk_elements: int | None = None,
    ):
        if channels not in (1, 3) or size < 1:
            raise ConfigError(f"bad image shape: {channels} channels, side {size}")
        if inputs not in ("normalized", "raw"):
            raise ConfigError(f"inputs must be 'normalized' or 'raw', got {inputs!r}")
        if colour not in ("hls", "hsv"):
            raise ConfigError(f"colour must be 'hls' or 'hsv', got {colour!r}")
        if dtype not in ("float32", "float64"):
            raise ConfigError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        rates = {
            "weight_rate": weight_rate,
            "activation_rate": activation_rate,
            "add_connection_rate": add_connection_rate,
            "delete_connection_rate": delete_connection_rate,
            "add_node_rate": add_node_rate,
            "delete_node_rate": delete_node_rate,
        }
        for key, value in rates.items():
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"{key} must be in [0, 1], got {value}")
        if not eta_m >= 0:  # NaN too
            raise ConfigError(f"eta_m must be >= 0, got {eta_m}")
        if chunk_elements is not None and chunk_elements < 1:
            raise ConfigError(f"chunk_elements must be >= 1, got {chunk_elements}")
        self.channels = channels
        self.size = size
        self.device = torch.device(device)
        self.inputs = inputs
        self.colour = colour
        self.weight_rate = weight_rate
        self.eta_m = eta_m
        self.activation_rate = activation_rate
        self.add_connection_rate = add_connection_rate
        self.delete_connection_rate = delete_connection_rate
        self.add_node_rate = add_node_rate
        self.delete_node_rate = delete_node_rate
        self.dtype = dtype
        if chunk_elements is None:
            # CPU: a table that stays near the caches; accelerators: few, large chunks.
            chunk_elements = 1 << 22 if self.device.type == "cpu" else 1 << 27
        self.chunk_elements = chunk_elements

    def __repr__(self) -> str:
        keys = ("channels", "size", "inputs", "colour", "weight_rate", "eta_m",
                "activation_rate", "add_connection_rate", "delete_connection_rate",
                "add_node_rate", "delete_node_rate", "dtype")  # fmt: skip
        return f"CPPNEncoding({', '.join(f'{k}={getattr(self, k)!r}' for k in keys)})"

    @property
    def outputs_per_genome(self) -> int:
        """Network outputs O: 1 for grey, 3 for colour."""
        return self.channels

    def settings(self) -> dict[str, Any]:
        return {
            "encoding": self.name,
            "channels": self.channels,
            "size": self.size,
            "inputs": self.inputs,
            "input_nodes": list(INPUTS),
            "colour": "grey" if self.channels == 1 else self.colour,
            "activations": list(ACTIVATIONS),
            "weight_range": [-WEIGHT_RANGE, WEIGHT_RANGE],
            "init": "inputs fully connected to outputs, no hidden nodes",
            "weight_rate": self.weight_rate,
            "weight_mutation": "polynomial in genotype [0, 1] (released code: unbounded delta, "
            "then clip)",
            "eta_m": self.eta_m,
            "activation_rate": self.activation_rate,
            "add_connection_rate": self.add_connection_rate,
            "delete_connection_rate": self.delete_connection_rate,
            "add_node_rate": self.add_node_rate,
            "delete_node_rate": self.delete_node_rate,
            "crossover": "none",
            "dtype": self.dtype,
        }

    # -- genomes -------------------------------------------------------------------------

    def init(self, n: int, generator: torch.Generator) -> CPPNBatch:
        """``n`` genomes: inputs fully connected to the outputs, weights U[-10, 10], a random
        activation on every output, no hidden node."""
        o = self.outputs_per_genome
        draw = _Draws(generator)
        gene = draw(n * N_INPUTS * o)
        acts = draw.index(np.full(n * o, len(ACTIVATIONS)))
        src = np.tile(np.repeat(np.arange(N_INPUTS), o), n)  # edges (i, 4 + k), i outer
        dst = np.tile(N_INPUTS + np.arange(o), N_INPUTS * n)
        return CPPNBatch(o, np.full(n, o), acts, np.full(n, N_INPUTS * o), src, dst, gene)

    def vary(
        self,
        parents: Sequence[CPPNGenome],
        generator: torch.Generator,
        generation: int = 0,
        *,
        counts: dict[str, int] | None = None,
    ) -> CPPNBatch:
        """One mutated copy of each parent (the CPPN has no crossover).

        Args:
            parents: the genomes to copy (a :class:`CPPNBatch` or any sequence of genomes).
            generator: the source of every random choice.
            generation: unused (the rates are constant, as in the released code).
            counts: if given, operator tallies are added to it: ``"<op>"`` counts the
                times an operator was drawn, ``"<op>_done"`` the times it changed the
                genome (it cannot when there is no edge, no hidden node, or no valid
                target), for ops ``add_connection``, ``delete_connection``, ``add_node``,
                ``delete_node``; ``weights``/``weights_mutated`` and
                ``activations``/``activations_resampled`` count genes seen and drawn.
        """
        tally = counts if counts is not None else {}
        return self._mutate(self.batch(parents), _Draws(generator), tally)

    def _mutate(self, parents: CPPNBatch, draw: _Draws, counts: dict[str, int]) -> CPPNBatch:
        """The released code's six operators, in its order (PAPER.md §3), each applied to
        every genome of the batch at once."""

        def bump(key: str, k: int | np.integer) -> None:
            counts[key] = counts.get(key, 0) + int(k)

        n, o, n_act = len(parents), parents.outputs, len(ACTIVATIONS)
        node_count, acts = parents.node_count.copy(), parents.acts.copy()
        edge_count, src, dst = parents.edge_count.copy(), parents.src, parents.dst
        gene = parents.gene.copy()

        # 1. Weights: simplified polynomial mutation in genotype space, then clip.
        hit = draw(len(gene)) < self.weight_rate
        r = draw(int(hit.sum()))
        e = 1.0 / (self.eta_m + 1.0)
        low = r < 0.5
        delta = np.empty_like(r)
        delta[low] = (2.0 * r[low]) ** e - 1.0
        delta[~low] = 1.0 - (2.0 * (1.0 - r[~low])) ** e
        gene[hit] = np.clip(gene[hit] + delta, 0.0, 1.0)
        bump("weights", len(gene))
        bump("weights_mutated", hit.sum())

        # 2. Activations: resampled uniformly (may come back the same).
        hit = draw(len(acts)) < self.activation_rate
        acts[hit] = draw.index(np.full(int(hit.sum()), n_act))
        bump("activations", len(acts))
        bump("activations_resampled", hit.sum())

        # 3. Add connection: source any non-output node; target any non-input node that is
        #    neither the source nor one of its ancestors, so no cycle can form.
        chosen = np.flatnonzero(draw(n) < self.add_connection_rate)
        bump("add_connection", len(chosen))
        if len(chosen):
            k = draw.index(N_INPUTS + node_count[chosen] - o)
            source = np.where(k < N_INPUTS, k, k + o)  # skip the outputs
            # Mark each source's ancestors, itself included, walking edges backwards until
            # nothing changes (once per depth); nodes are numbered genome by genome.
            base = _offsets(N_INPUTS + node_count)
            mark = np.zeros(int(base[-1]), bool)
            mark[base[chosen] + source] = True
            genome = np.repeat(np.arange(n), edge_count)
            mine = np.zeros(n, bool)
            mine[chosen] = True
            walk = mine[genome]
            from_, to = (base[genome] + src)[walk], (base[genome] + dst)[walk]
            while (grow := mark[to] & ~mark[from_]).any():
                mark[from_[grow]] = True
            # The j-th unmarked non-input node of each chosen genome.
            free = ~mark[_segments(base[chosen] + N_INPUTS, node_count[chosen])]
            start = _offsets(node_count[chosen])[:-1]  # each chosen genome's first node
            n_free = np.add.reduceat(free, start, dtype=np.int64)
            j = draw.index(np.maximum(n_free, 1))
            new_gene = draw(len(chosen))
            seen = np.cumsum(free)
            before = seen[start] - free[start]
            target = N_INPUTS + np.searchsorted(seen, before + j + 1) - start
            ok = n_free > 0
            src, dst, gene, edge_count = _append_edges(
                src, dst, gene, edge_count, chosen[ok], source[ok], target[ok], new_gene[ok]
            )
            bump("add_connection_done", ok.sum())

        # 4. Delete connection: one random edge.
        chosen = np.flatnonzero(draw(n) < self.delete_connection_rate)
        bump("delete_connection", len(chosen))
        chosen = chosen[edge_count[chosen] > 0]
        gone = _random_edges(edge_count, chosen, draw)
        src, dst, gene = np.delete(src, gone), np.delete(dst, gone), np.delete(gene, gone)
        edge_count[chosen] -= 1
        bump("delete_connection_done", len(chosen))

        # 5. Add node: split a random edge; both halves keep its weight.
        chosen = np.flatnonzero(draw(n) < self.add_node_rate)
        bump("add_node", len(chosen))
        chosen = chosen[edge_count[chosen] > 0]
        split = _random_edges(edge_count, chosen, draw)
        s, t, g = src[split], dst[split], gene[split]
        new = N_INPUTS + node_count[chosen]
        acts = np.insert(acts, _offsets(node_count)[1:][chosen],
                         draw.index(np.full(len(chosen), n_act)))  # fmt: skip
        node_count[chosen] += 1
        src, dst, gene = np.delete(src, split), np.delete(dst, split), np.delete(gene, split)
        edge_count[chosen] -= 1
        src, dst, gene, edge_count = _append_edges(
            src, dst, gene, edge_count, np.repeat(chosen, 2),
            np.stack([s, new], 1).ravel(), np.stack([new, t], 1).ravel(), np.repeat(g, 2),
        )  # fmt: skip
        bump("add_node_done", len(chosen))

        # 6. Delete node: a random hidden node and its edges; later ids shift down by one.
        chosen = np.flatnonzero(draw(n) < self.delete_node_rate)
        bump("delete_node", len(chosen))
        hidden = node_count - o
        chosen = chosen[hidden[chosen] > 0]
        victim = np.full(n, np.iinfo(np.int64).max)  # per genome; none: above every id
        victim[chosen] = N_INPUTS + o + draw.index(hidden[chosen])
        v = np.repeat(victim, edge_count)
        keep = (src != v) & (dst != v)
        src, dst = (src - (src > v))[keep], (dst - (dst > v))[keep]
        gene = gene[keep]
        edge_count = np.bincount(np.repeat(np.arange(n), edge_count)[keep], minlength=n)
        acts = np.delete(acts, _offsets(node_count)[chosen] + victim[chosen] - N_INPUTS)
        node_count[chosen] -= 1
        bump("delete_node_done", len(chosen))

        return CPPNBatch(o, node_count, acts, edge_count, src, dst, gene)

    def batch(self, genomes: Sequence[CPPNGenome]) -> CPPNBatch:
        """``genomes`` as a :class:`CPPNBatch` (itself if it is one); ``ValueError`` if a
        genome is malformed or has another number of outputs than this encoding's."""
        return CPPNBatch.from_genomes(genomes, self.outputs_per_genome)

    # -- rendering -----------------------------------------------------------------------

    def _run(self, genomes: Sequence[CPPNGenome], size: int | None, decoded: bool) -> torch.Tensor:
        size = self.size if size is None else size
        check_positive_int("render size", size)
        dtype = getattr(torch, self.dtype)
        o = self.outputs_per_genome
        batch = self.batch(genomes)
        out_dtype = torch.float32 if decoded else dtype
        if not len(batch):
            return torch.empty((0, o, size, size), dtype=out_dtype, device=self.device)
        p = size * size
        lanes = _lanes(self.device)
        grid = _input_grid(size, self.inputs, dtype, self.device, lanes)
        padded = grid.shape[1]
        out = torch.empty((len(batch), o, p), dtype=out_dtype, device=self.device)
        for lo, hi in self._groups(batch, padded):
            part = batch if (lo, hi) == (0, len(batch)) else batch.range(lo, hi)
            plan = _plan(part, dtype, self.device)
            # Pixel chunks where the run's table over all pixels exceeds chunk_elements.
            width = max(1, self.chunk_elements // plan.rows // lanes) * lanes
            for a in range(0, p, width):
                res = _evaluate(plan, grid[:, a : a + width]).view(hi - lo, o, -1)
                dst = out[lo:hi, :, a : a + width]
                res = res[:, :, : dst.shape[2]]
                if decoded:
                    decode(res, self.colour, out=dst)
                else:
                    dst.copy_(res)
        return out.view(len(batch), o, size, size)

    def _groups(self, batch: CPPNBatch, pixels: int) -> Iterator[tuple[int, int]]:
        """Consecutive ranges ``[lo, hi)`` of genomes, each planned once, whose value table
        over ``min(pixels, _CHUNK_PIXELS)`` pixels fits ``chunk_elements`` (a range holds one
        genome at least). Large images are then drawn in chunks of pixels: one plan for many
        genomes, and more equal nodes, beat one plan for each few genomes over all
        pixels (a 256x256 population of 200: 222 ms against 294)."""
        nodes = batch.node_offsets
        room = self.chunk_elements // min(pixels, _CHUNK_PIXELS) - N_INPUTS  # rows a range may have
        if nodes[-1] <= room:  # the whole batch (every generation of a 28x28 run)
            yield 0, len(batch)
            return
        lo = 0
        while lo < len(batch):
            hi = int(np.searchsorted(nodes, nodes[lo] + room, side="right")) - 1
            hi = min(max(hi, lo + 1), len(batch))
            yield lo, hi
            lo = hi

    def outputs(self, genomes: Sequence[CPPNGenome], *, size: int | None = None) -> torch.Tensor:
        """Un-quantised network outputs ``(N, O, S, S)`` in [-1, 1], in ``dtype``, on
        ``device``; the whole batch as one tensor program.

        Args:
            genomes: the batch (any mix of topologies).
            size: render side S (default: ``self.size``); any resolution works.
        """
        return self._run(genomes, size, decoded=False)

    def render(self, genomes: Sequence[CPPNGenome], *, size: int | None = None) -> torch.Tensor:
        """Images ``(N, C, S, S)`` float32 in [0, 1] on 8-bit levels, RGB order, on
        ``device``: :meth:`outputs` decoded by :func:`decode`, chunk by chunk."""
        return self._run(genomes, size, decoded=True)

    # -- batches -------------------------------------------------------------------------

    def take(self, genomes: Sequence[CPPNGenome], index: torch.Tensor) -> CPPNBatch:
        return self.batch(genomes).take(index.cpu().numpy())

    def cat(self, a: Sequence[CPPNGenome], b: Sequence[CPPNGenome]) -> CPPNBatch:
        return CPPNBatch.concat([self.batch(a), self.batch(b)])

    def put(
        self, champions: Sequence[CPPNGenome], index: torch.Tensor, newcomers: Sequence[CPPNGenome]
    ) -> CPPNBatch:
        """``champions`` with ``newcomers[j]`` at ``index[j]`` (a new batch)."""
        champions = self.batch(champions)
        k = len(champions)
        order = np.arange(k)
        order[index.cpu().numpy()] = k + np.arange(len(newcomers))
        return self.cat(champions, newcomers).take(order)

    def count(self, genomes: Sequence[CPPNGenome]) -> int:
        return len(genomes)

    def save(self, genomes: Sequence[CPPNGenome], path: Path) -> None:
        """JSON: node and edge lists per genome; genes round-trip exactly."""
        doc = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "inputs": list(INPUTS),
            "encoding": self.settings(),
            "genomes": [g.to_dict() for g in genomes],
        }
        _io.write_text(path, json.dumps(doc, separators=(",", ":")) + "\n")

    def load(self, path: Path) -> CPPNBatch:
        try:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DataError(f"cannot read genomes {path}: {e}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise DataError(f"{path} is not a CPPN genome file")
        if doc.get("version") != FORMAT_VERSION:
            raise DataError(f"{path}: unsupported CPPN genome file version {doc.get('version')}")
        items = doc.get("genomes")
        if not isinstance(items, list):
            raise DataError(f"{path}: 'genomes' must be a list of genomes")
        genomes = []
        for i, item in enumerate(items):
            try:
                genome = CPPNGenome.from_dict(item)
            except ValueError as e:
                raise DataError(f"{path}: genome {i}: {e}") from None
            if genome.outputs != self.outputs_per_genome:
                raise DataError(
                    f"{path}: genome {i} has {genome.outputs} outputs; "
                    f"{self.channels}-channel images need {self.outputs_per_genome}"
                )
            genomes.append(genome)
        return self.batch(genomes)


def _random_edges(edge_count: np.ndarray, genomes: np.ndarray, draw: _Draws) -> np.ndarray:
    """The flat index of one uniformly drawn edge of each of ``genomes`` (each has one)."""
    return _offsets(edge_count)[genomes] + draw.index(edge_count[genomes])


def _append_edges(
    src: np.ndarray,
    dst: np.ndarray,
    gene: np.ndarray,
    edge_count: np.ndarray,
    genomes: np.ndarray,
    s: np.ndarray,
    t: np.ndarray,
    g: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges ``(s, t, g)`` appended to the edge lists of ``genomes`` (ascending; a genome
    named twice gets its edges in the order given): the new flat arrays and counts."""
    at = _offsets(edge_count)[1:][genomes]
    return (
        np.insert(src, at, s),
        np.insert(dst, at, t),
        np.insert(gene, at, g),
        edge_count + np.bincount(genomes, minlength=len(edge_count)),
    )
