"""The CPPN (indirect) encoding (PAPER.md §3): small feed-forward networks drawn over the
pixel grid.

A genome is a DAG over 4 inputs (``x``, ``y``, ``d``, ``bias``), hidden nodes and 1 (grey)
or 3 (colour) outputs. Every non-input node computes ``af(sum w * in)`` with one of four
activations (sine, rescaled sigmoid, Gaussian, clipped linear); weights lie in [-10, 10] and
are stored as their genotype ``g`` in [0, 1] (``w = 20 g - 10``), exactly as the released
code's ``evo_float`` genes. Variation is mutation only, with the released code's operators
and rates; no operator ever creates a cycle.

A genome batch is a ``list`` of immutable :class:`CPPNGenome`. Rendering packs the whole
batch -- whatever the topologies -- into one table of nodes sorted by depth and activation,
and evaluates it one depth at a time over all pixels at once: a sparse matrix product for
the weighted sums, then one in-place call per activation (see :func:`_plan`). Planning is
numpy over the flattened batch, with one Python loop step per depth. The slow per-genome
:func:`_render_reference` is kept for the tests and the benchmark.

Colour: 1 output is grey, ``|trunc(255 out)|``. 3 outputs are read as OpenCV 8-bit HLS
bytes (the released code: hue byte ``h`` is ``2 h`` degrees, so bytes 180..255 wrap) and
converted to RGB with OpenCV's ``HLS2RGB`` arithmetic, or, with ``colour="hsv"``, as a
clean HSV in [0, 1].
"""

from __future__ import annotations

import functools
import itertools
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class _Uniforms:
    """U[0, 1) float64 numbers drawn from a ``torch.Generator`` in blocks and handed out one
    at a time to Python code. The same generator state gives the same sequence.

    ``u()`` is the next number; hot loops call ``u.next``, the same without a Python frame.
    """

    def __init__(self, generator: torch.Generator, block: int):
        self.next = self._blocks(generator, max(int(block), 64)).__next__

    @staticmethod
    def _blocks(generator: torch.Generator, block: int) -> Iterator[float]:
        while True:  # a block is drawn when the previous one is used up
            yield from torch.rand(
                block, generator=generator, dtype=torch.float64, device=generator.device
            ).tolist()

    def __call__(self) -> float:
        return self.next()

    def index(self, k: int) -> int:
        """Uniform integer in ``[0, k)``."""
        return min(int(self.next() * k), k - 1)


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


def _activate_(act: int, x: torch.Tensor) -> torch.Tensor:
    """Activation ``act`` applied to ``x`` in place."""
    if act == 0:  # sine
        return x.sin_()
    if act == 1:  # sigmoid rescaled to (-1, 1), as the released code writes it
        return x.sigmoid_().sub_(0.5).mul_(2.0)
    if act == 2:  # Gaussian
        # x^2 is capped so that exp(-x^2) >= ~1e-30 (float32; ~1e-300 in float64). The
        # change is far below any 8-bit level, and it keeps subnormal numbers, which slow
        # every later CPU operation that touches them tenfold and more, out of the table.
        cap = 69.0 if x.dtype == torch.float32 else 690.0
        return x.square_().clamp_(max=cap).neg_().exp_()
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


def hls_bytes_to_rgb(hls: torch.Tensor) -> torch.Tensor:
    """OpenCV 8-bit ``COLOR_HLS2RGB`` in torch: HLS bytes ``(N, 3, ...)`` -> RGB in [0, 1].

    The input holds integer values 0..255 (any float dtype). Hue byte ``h`` is ``2 h``
    degrees; bytes 180..255 wrap to 0..150 degrees. L and S are on 0..255. The float32
    arithmetic follows OpenCV's ``HLS2RGB_b`` / ``HLS2RGB_f`` (``l / 255``, ``p1``, ``p2``,
    the sector ramps, ``round(255 v)`` half to even); the result equals
    ``cv2.cvtColor(uint8_hls, cv2.COLOR_HLS2RGB) / 255`` on all 2^24 inputs (checked
    against OpenCV 5.0).
    """
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


def decode(outputs: torch.Tensor, colour: str = "hls") -> torch.Tensor:
    """Network outputs ``(N, O, ...)`` -> images ``(N, C, ...)`` float32 on 8-bit levels.

    One output: grey ``|trunc(255 out)| / 255``. Three: ``colour="hls"`` reads the bytes
    ``|trunc(255 out)|`` as OpenCV HLS (:func:`hls_bytes_to_rgb`); ``"hsv"`` reads
    ``|out|`` as HSV (:func:`hsv_to_rgb`). Channels come out in RGB order.
    """
    if outputs.shape[1] == 1:
        return _bytes(outputs) / 255.0
    if colour == "hls":
        return hls_bytes_to_rgb(_bytes(outputs))
    return hsv_to_rgb(outputs.to(torch.float32).abs().clamp_(max=1.0))


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


@dataclass
class _Level:
    """The nodes of one depth: value-table rows ``start .. stop``.

    Their pre-activations are ``matrix @ values[:start]``: a sparse CSR matrix holding
    every in-edge weight (parallel edges merged) whose sources all sit in earlier rows.
    Rows are sorted by activation, so ``acts`` lists one ``(activation, lo, hi)`` slice,
    relative to ``start``, per activation present.
    """

    start: int
    stop: int
    matrix: torch.Tensor
    acts: list[tuple[int, int, int]]


@dataclass
class _Plan:
    rows: int  # value-table rows: the 4 shared input rows, then every non-input node
    levels: list[_Level]
    out_rows: torch.Tensor  # (N * O,) long: each genome's output rows


def _plan(genomes: Sequence[CPPNGenome], dtype: torch.dtype, device: torch.device) -> _Plan:
    """Pack a batch, whatever its topologies, into one value table: 4 shared input rows,
    then every non-input node of every genome, sorted by (depth, activation, genome, node).

    All of it is numpy over the flattened batch; the only Python loop runs once per depth.
    A node's sources keep the same relative order whatever else is
    in the batch, so a genome renders to the same bits alone or in any batch.
    """
    chain = itertools.chain.from_iterable
    n_gen = len(genomes)
    n_act = np.fromiter((len(g.activations) for g in genomes), np.int64, n_gen)
    offset = np.zeros(n_gen + 1, np.int64)  # flat id of each genome's first non-input node
    np.cumsum(n_act, out=offset[1:])
    total = int(offset[-1])
    acts = np.fromiter(chain(g.activations for g in genomes), np.int64, total)
    n_edges = np.fromiter((len(g.edges) for g in genomes), np.int64, n_gen)
    n_e = int(n_edges.sum())
    flat = np.fromiter(chain(chain(g.edges for g in genomes)), np.float64, 3 * n_e)
    flat = flat.reshape(n_e, 3)
    shift = np.repeat(offset[:-1], n_edges)
    # Node codes: an input's id 0..3, else 4 + its flat id.
    src = flat[:, 0].astype(np.int64)
    hidden_src = src >= N_INPUTS
    src[hidden_src] += shift[hidden_src]
    dst = flat[:, 1].astype(np.int64) + shift - N_INPUTS  # flat id of the target

    # Longest-path depth by relaxation: a DAG settles after (max depth) rounds.
    depth = np.ones(total, np.int64)
    h_src, h_dst = src[hidden_src] - N_INPUTS, dst[hidden_src]
    for _ in range(total + 1):
        new = depth.copy()
        np.maximum.at(new, h_dst, depth[h_src] + 1)
        if np.array_equal(new, depth):
            break
        depth = new
    else:
        raise ValueError("a genome has a cycle")

    order = np.lexsort((acts, depth))  # stable: ties stay in (genome, node) order
    row = np.empty(total, np.int64)
    row[order] = N_INPUTS + np.arange(total)
    code_row = np.concatenate([np.arange(N_INPUTS), row])
    rows = N_INPUTS + total
    # CSR order is (target row, source row); parallel edges merge, summed in float64.
    key, inverse = np.unique(row[dst] * rows + code_row[src], return_inverse=True)
    weight = np.bincount(inverse.ravel(), 2.0 * WEIGHT_RANGE * flat[:, 2] - WEIGHT_RANGE,
                         minlength=len(key))  # fmt: skip
    crow = np.searchsorted(key // rows, np.arange(rows + 1))
    col = torch.from_numpy(key % rows).to(device)
    val = torch.from_numpy(weight).to(device=device, dtype=dtype)

    # Row boundaries of every (depth, activation) group, in one search.
    na = len(ACTIVATIONS)
    group = (depth * na + acts)[order]
    cut = (N_INPUTS + np.searchsorted(group, np.arange((group[-1] // na + 1) * na + 1))).tolist()
    crow_t = torch.from_numpy(crow).to(device)
    levels = []
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore")
        for d in range(1, len(cut) // na):
            lo, hi = cut[d * na], cut[d * na + na]
            a, b = int(crow[lo]), int(crow[hi])
            matrix = torch.sparse_csr_tensor(
                crow_t[lo : hi + 1] - a, col[a:b], val[a:b], size=(hi - lo, lo),
                check_invariants=False,
            )  # fmt: skip
            acts_ = [(k, cut[d * na + k] - lo, cut[d * na + k + 1] - lo) for k in range(na)]
            levels.append(_Level(lo, hi, matrix, [g for g in acts_ if g[2] > g[1]]))

    n_out = genomes[0].outputs
    out_rows = row[offset[:-1, None] + np.arange(n_out)[None, :]].reshape(-1)
    return _Plan(rows, levels, torch.from_numpy(out_rows).to(device))


def _evaluate(plan: _Plan, grid: torch.Tensor) -> torch.Tensor:
    """Run a plan over the pixels ``grid`` ``(4, P)``: the outputs ``(N * O, P)``.

    Per depth, one sparse matrix product and one in-place activation per activation
    present. Each pre-activation sums its in-edges in a fixed order, one pixel at a time,
    so the result does not depend on the batch or on how the pixels are chunked.
    """
    values = torch.empty((plan.rows, grid.shape[1]), dtype=grid.dtype, device=grid.device)
    values[:N_INPUTS] = grid
    for level in plan.levels:
        pre = values[level.start : level.stop]
        torch.mm(level.matrix, values[: level.start], out=pre)
        for act, lo, hi in level.acts:
            _activate_(act, pre[lo:hi])
    return values.index_select(0, plan.out_rows)


# -- the encoding ----------------------------------------------------------------------------


class CPPNEncoding:
    """CPPN genomes with the released code's mutation operators, rendered in one batch.

    Args:
        channels: C: 1 (one grey output) or 3 (three outputs decoded as colour).
        size: image side H = W the images render at.
        device: where images are rendered (genomes are Python objects).
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
            a batch renders in runs of genomes whose table over all pixels fits (one genome
            at least), and one genome over pixel chunks only if it alone does not fit
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

    def init(self, n: int, generator: torch.Generator) -> list[CPPNGenome]:
        """``n`` genomes: inputs fully connected to the outputs, weights U[-10, 10], a random
        activation on every output, no hidden node."""
        o = self.outputs_per_genome
        u = _Uniforms(generator, n * (N_INPUTS * o + o))
        genomes = []
        for _ in range(n):
            edges = tuple((i, N_INPUTS + k, u()) for i in range(N_INPUTS) for k in range(o))
            acts = tuple(u.index(len(ACTIVATIONS)) for _ in range(o))
            genomes.append(CPPNGenome(o, acts, edges))
        return genomes

    def vary(
        self,
        parents: list[CPPNGenome],
        generator: torch.Generator,
        generation: int = 0,
        *,
        counts: dict[str, int] | None = None,
    ) -> list[CPPNGenome]:
        """One mutated copy of each parent (the CPPN has no crossover).

        Args:
            parents: the genomes to copy.
            generator: the source of every random choice.
            generation: unused (the rates are constant, as in the released code).
            counts: if given, operator tallies are added to it: ``"<op>"`` counts the
                times an operator was drawn, ``"<op>_done"`` the times it changed the
                genome (it cannot when there is no edge, no hidden node, or no valid
                target), for ops ``add_connection``, ``delete_connection``, ``add_node``,
                ``delete_node``; ``weights``/``weights_mutated`` and
                ``activations``/``activations_resampled`` count genes seen and drawn.
        """
        block = sum(len(p.edges) + len(p.activations) for p in parents) * 1.3 + 16 * len(parents)
        u = _Uniforms(generator, int(block))
        tally = counts if counts is not None else {}
        return [self._mutate(p, u, tally) for p in parents]

    def _mutate(self, genome: CPPNGenome, u: _Uniforms, counts: dict[str, int]) -> CPPNGenome:
        def bump(key: str, k: int = 1) -> None:
            counts[key] = counts.get(key, 0) + k

        edges = list(genome.edges)
        acts = list(genome.activations)
        o = genome.outputs
        n_act = len(ACTIVATIONS)

        # 1. Weights: simplified polynomial mutation in genotype space, then clip.
        e = 1.0 / (self.eta_m + 1.0)
        draw, rate, hits = u.next, self.weight_rate, 0
        for k, (s, t, g) in enumerate(edges):
            if draw() < rate:
                r = draw()
                delta = (2.0 * r) ** e - 1.0 if r < 0.5 else 1.0 - (2.0 * (1.0 - r)) ** e
                edges[k] = (s, t, min(max(g + delta, 0.0), 1.0))
                hits += 1
        bump("weights_mutated", hits)
        bump("weights", len(edges))

        # 2. Activations: resampled uniformly (may come back the same).
        rate, hits = self.activation_rate, 0
        for k in range(len(acts)):
            if draw() < rate:
                acts[k] = u.index(n_act)
                hits += 1
        bump("activations_resampled", hits)
        bump("activations", len(acts))

        # 3. Add connection: source any non-output node; target any non-input node that is
        #    neither the source nor one of its ancestors, so no cycle can form.
        if u() < self.add_connection_rate:
            bump("add_connection")
            n_nodes = N_INPUTS + len(acts)
            sources = [*range(N_INPUTS), *range(N_INPUTS + o, n_nodes)]
            src = sources[u.index(len(sources))]
            banned = _ancestors(src, edges)
            targets = [v for v in range(N_INPUTS, n_nodes) if v not in banned]
            if targets:
                edges.append((src, targets[u.index(len(targets))], u()))
                bump("add_connection_done")

        # 4. Delete connection: one random edge.
        if u() < self.delete_connection_rate:
            bump("delete_connection")
            if edges:
                del edges[u.index(len(edges))]
                bump("delete_connection_done")

        # 5. Add node: split a random edge; both halves keep its weight.
        if u() < self.add_node_rate:
            bump("add_node")
            if edges:
                s, t, g = edges.pop(u.index(len(edges)))
                new = N_INPUTS + len(acts)
                acts.append(u.index(n_act))
                edges += [(s, new, g), (new, t, g)]
                bump("add_node_done")

        # 6. Delete node: a random hidden node and its edges; later ids shift down by one.
        if u() < self.delete_node_rate:
            bump("delete_node")
            hidden = len(acts) - o
            if hidden:
                v = N_INPUTS + o + u.index(hidden)
                edges = [(s - (s > v), t - (t > v), g) for s, t, g in edges if s != v and t != v]
                del acts[v - N_INPUTS]
                bump("delete_node_done")

        return CPPNGenome(o, tuple(acts), tuple(edges))

    # -- rendering -----------------------------------------------------------------------

    def _run(self, genomes: Sequence[CPPNGenome], size: int | None, decoded: bool) -> torch.Tensor:
        size = self.size if size is None else size
        check_positive_int("render size", size)
        dtype = getattr(torch, self.dtype)
        o = self.outputs_per_genome
        if any(g.outputs != o for g in genomes):
            raise ValueError(f"genomes must have {o} outputs for {self.channels} channels")
        out_dtype = torch.float32 if decoded else dtype
        if not genomes:
            return torch.empty((0, o, size, size), dtype=out_dtype, device=self.device)
        p = size * size
        lanes = _lanes(self.device)
        grid = _input_grid(size, self.inputs, dtype, self.device, lanes)
        padded = grid.shape[1]
        out = torch.empty((len(genomes), o, p), dtype=out_dtype, device=self.device)
        for lo, hi in self._groups(genomes, padded):
            plan = _plan(genomes[lo:hi], dtype, self.device)
            # Pixel chunks only where one run of genomes is too large for chunk_elements.
            width = max(1, self.chunk_elements // plan.rows // lanes) * lanes
            for a in range(0, p, width):
                res = _evaluate(plan, grid[:, a : a + width]).view(hi - lo, o, -1)
                if decoded:
                    res = decode(res, self.colour)
                out[lo:hi, :, a : a + width] = res[:, :, : p - a]
        return out.view(len(genomes), o, size, size)

    def _groups(self, genomes: Sequence[CPPNGenome], pixels: int) -> Iterator[tuple[int, int]]:
        """Consecutive ranges ``[lo, hi)`` of genomes whose value table over all ``pixels``
        fits ``chunk_elements`` (a range holds one genome at least)."""
        cap = self.chunk_elements // pixels
        lo, rows = 0, N_INPUTS
        for i, g in enumerate(genomes):
            rows += len(g.activations)
            if rows > cap and i > lo:
                yield lo, i
                lo, rows = i, N_INPUTS + len(g.activations)
        yield lo, len(genomes)

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

    def take(self, genomes: list[CPPNGenome], index: torch.Tensor) -> list[CPPNGenome]:
        return [genomes[i] for i in index.tolist()]

    def cat(self, a: list[CPPNGenome], b: list[CPPNGenome]) -> list[CPPNGenome]:
        return [*a, *b]

    def put(
        self, champions: list[CPPNGenome], index: torch.Tensor, newcomers: list[CPPNGenome]
    ) -> list[CPPNGenome]:
        """``champions`` with ``newcomers[j]`` at ``index[j]`` (a new list; genomes are
        immutable, so nothing is copied but references)."""
        out = list(champions)
        for i, g in zip(index.tolist(), newcomers, strict=True):
            out[i] = g
        return out

    def count(self, genomes: list[CPPNGenome]) -> int:
        return len(genomes)

    def save(self, genomes: list[CPPNGenome], path: Path) -> None:
        """JSON: node and edge lists per genome; genes round-trip exactly."""
        doc = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "inputs": list(INPUTS),
            "encoding": self.settings(),
            "genomes": [g.to_dict() for g in genomes],
        }
        _io.write_text(path, json.dumps(doc, separators=(",", ":")) + "\n")

    def load(self, path: Path) -> list[CPPNGenome]:
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
        return genomes
