"""The CPPN encoding: genome validity under mutation, operator rates, serialisation, the
batched renderer against the per-genome reference, and colour decoding."""

from __future__ import annotations

import colorsys
import json
import math

import pytest
import torch

from fooling.encodings import create_encoding
from fooling.encodings.cppn import (
    _FOLD,
    ACTIVATIONS,
    CPPNBatch,
    CPPNEncoding,
    CPPNGenome,
    _hls_formula,
    _input_grid,
    _plan,
    _render_reference,
    _topological_order,
    decode,
    hls_bytes_to_rgb,
    hsv_to_rgb,
)
from fooling.errors import ConfigError, DataError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def grown(enc: CPPNEncoding, n: int, seed: int, lo: int = 20, hi: int = 50) -> list[CPPNGenome]:
    """``n`` genomes, genome i grown by its own number of mutations in [lo, hi]."""
    g = gen(seed)
    stop = torch.randint(lo, hi + 1, (n,), generator=g).tolist()
    pop = enc.init(n, g)
    out = list(pop)
    for r in range(1, hi + 1):
        pop = enc.vary(pop, g)
        for i, s in enumerate(stop):
            if s == r:
                out[i] = pop[i]
    return out


def is_acyclic(genome: CPPNGenome) -> bool:
    """Independent check: iterative three-colour DFS."""
    succ: dict[int, list[int]] = {}
    for s, t, _ in genome.edges:
        succ.setdefault(s, []).append(t)
    state = [0] * genome.num_nodes  # 0 new, 1 on stack, 2 done
    for root in range(genome.num_nodes):
        if state[root]:
            continue
        stack = [(root, iter(succ.get(root, ())))]
        state[root] = 1
        while stack:
            v, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[v] = 2
                stack.pop()
            elif state[nxt] == 1:
                return False
            elif state[nxt] == 0:
                state[nxt] = 1
                stack.append((nxt, iter(succ.get(nxt, ()))))
    return True


def assert_valid(genome: CPPNGenome, outputs: int) -> None:
    assert genome.outputs == outputs
    n = genome.num_nodes
    first_hidden = 4 + outputs
    assert len(genome.activations) == n - 4
    assert all(0 <= a < 4 for a in genome.activations)
    for s, t, g in genome.edges:
        assert 0 <= s < n and 0 <= t < n  # endpoints exist
        assert t >= 4  # nothing enters an input
        assert not 4 <= s < first_hidden  # nothing leaves an output
        assert 0.0 <= g <= 1.0 and -10.0 <= 20 * g - 10 <= 10.0
    assert is_acyclic(genome)
    genome.validate()


# -- genomes and mutation ------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3])
def test_init_connects_every_input_to_every_output(channels):
    enc = CPPNEncoding(channels=channels)
    pop = enc.init(500, gen())
    weights = []
    for genome in pop:
        assert_valid(genome, channels)
        assert genome.num_hidden == 0
        pairs = sorted((s, t) for s, t, _ in genome.edges)
        assert pairs == [(i, 4 + o) for i in range(4) for o in range(channels)]
        weights += genome.weights
    w = torch.tensor(weights)
    assert w.min() >= -10 and w.max() < 10
    assert abs(float(w.mean())) < 0.3 and abs(float(w.std()) - 20 / math.sqrt(12)) < 0.2
    acts = torch.tensor([a for genome in pop for a in genome.activations])
    assert torch.bincount(acts, minlength=4).min() > 0.2 * acts.numel()


@pytest.mark.parametrize(
    "rates",
    [
        {},  # the released code's rates
        {"add_connection_rate": 1.0, "add_node_rate": 1.0, "delete_node_rate": 0.5},
        {"delete_connection_rate": 1.0, "delete_node_rate": 1.0, "add_node_rate": 1.0},
    ],
)
def test_mutation_keeps_genomes_valid_acyclic_and_serialisable(rates, tmp_path):
    for channels in (1, 3):
        enc = CPPNEncoding(channels=channels, **rates)
        g = gen(7)
        pop = enc.init(60, g)
        for _ in range(40):
            parents = pop
            pop = enc.vary(parents, g)
            assert len(pop) == len(parents)
            for genome in pop:
                assert_valid(genome, channels)
        if not rates.get("delete_connection_rate"):
            assert max(genome.num_hidden for genome in pop) > 0
        path = tmp_path / f"g{channels}.json"
        enc.save(pop, path)
        back = enc.load(path)
        assert back == pop  # exact: every gene is the same float
        assert [x.edges for x in back] == [x.edges for x in pop]


def test_vary_leaves_parents_untouched():
    enc = CPPNEncoding()
    parents = enc.init(30, gen(1))
    snapshot = [CPPNGenome(p.outputs, p.activations, p.edges) for p in parents]
    enc.vary(parents, gen(2))
    assert parents == snapshot


def within_binomial(hits: int, n: int, p: float, sigmas: float = 4.5) -> bool:
    return abs(hits - n * p) <= sigmas * math.sqrt(n * p * (1 - p)) + 1


def test_operator_frequencies_match_the_released_rates():
    enc = CPPNEncoding(channels=3)
    g = gen(3)
    counts: dict[str, int] = {}
    pop = enc.init(200, g)
    n = 0
    for _ in range(20):  # 4000 mutations on genomes of growing size
        pop = enc.vary(pop, g, counts=counts)
        n += len(pop)
    assert n == 4000
    for op, p in [
        ("add_connection", 0.5),
        ("delete_connection", 0.3),
        ("add_node", 0.5),
        ("delete_node", 0.2),
    ]:
        assert within_binomial(counts[op], n, p), (op, counts[op])
        assert counts[f"{op}_done"] <= counts[op]
    # Add connection only fails when no valid target exists; that is rare.
    assert counts["add_connection_done"] >= 0.95 * counts["add_connection"]
    assert within_binomial(counts["weights_mutated"], counts["weights"], 0.1)
    assert within_binomial(counts["activations_resampled"], counts["activations"], 0.1)


def test_add_connection_alone():
    enc = CPPNEncoding(weight_rate=0, activation_rate=0, delete_connection_rate=0,
                       add_node_rate=0, delete_node_rate=0)  # fmt: skip
    parents = enc.init(2000, gen(4))
    children = enc.vary(parents, gen(5))
    added = 0
    for p, c in zip(parents, children, strict=True):
        assert c.edges[: len(p.edges)] == p.edges and c.activations == p.activations
        if len(c.edges) == len(p.edges) + 1:
            added += 1
            s, t, gene = c.edges[-1]
            assert s < 4 and t == 4  # from an input (the only non-outputs) to the output
            assert 0 <= gene < 1
        else:
            assert c == p
    assert within_binomial(added, 2000, 0.5)


def test_add_connection_never_targets_an_ancestor_of_its_source():
    # A chain in -> h1 -> h2 -> out; a connection from h2 may only go to out (h1 and h2
    # are ancestors or itself), from h1 to h2 or out.
    chain = CPPNGenome(1, (0, 0, 0), ((0, 5, 0.5), (5, 6, 0.5), (6, 4, 0.5)))
    enc = CPPNEncoding(weight_rate=0, activation_rate=0, add_connection_rate=1.0,
                       delete_connection_rate=0, add_node_rate=0, delete_node_rate=0)  # fmt: skip
    seen = set()
    for child in enc.vary([chain] * 3000, gen(6)):
        s, t, _ = child.edges[-1]
        seen.add((s, t))
        assert_valid(child, 1)
    assert (6, 5) not in seen and (5, 5) not in seen and (6, 6) not in seen
    assert {(5, 6), (5, 4), (6, 4), (0, 5), (1, 6), (3, 4)} <= seen
    assert all(t >= 4 for _, t in seen) and all(not s == 4 for s, _ in seen)


def test_delete_connection_alone():
    enc = CPPNEncoding(weight_rate=0, activation_rate=0, add_connection_rate=0,
                       add_node_rate=0, delete_node_rate=0)  # fmt: skip
    parents = enc.init(2000, gen(8))
    children = enc.vary(parents, gen(9))
    removed = sum(len(c.edges) == len(p.edges) - 1 for p, c in zip(parents, children, strict=True))
    assert within_binomial(removed, 2000, 0.3)


def test_add_node_splits_an_edge_and_both_halves_keep_its_weight():
    enc = CPPNEncoding(weight_rate=0, activation_rate=0, add_connection_rate=0,
                       delete_connection_rate=0, delete_node_rate=0)  # fmt: skip
    parents = enc.init(2000, gen(10))
    children = enc.vary(parents, gen(11))
    split = 0
    for p, c in zip(parents, children, strict=True):
        if c.num_hidden == 0:
            assert c == p
            continue
        split += 1
        assert c.num_hidden == 1 and len(c.edges) == len(p.edges) + 1
        (gone,) = set(p.edges) - set(c.edges)
        s, t, gene = gone
        assert set(c.edges) - set(p.edges) == {(s, 5, gene), (5, t, gene)}
    assert within_binomial(split, 2000, 0.5)


def test_delete_node_removes_a_hidden_node_with_its_edges_and_renumbers():
    # Hidden nodes 5, 6, 7 with distinct activations; deleting one shifts the later ids.
    genome = CPPNGenome(
        1, (3, 0, 1, 2), ((0, 5, 0.1), (5, 6, 0.2), (6, 7, 0.3), (7, 4, 0.4), (1, 7, 0.5))
    )
    enc = CPPNEncoding(weight_rate=0, activation_rate=0, add_connection_rate=0,
                       delete_connection_rate=0, add_node_rate=0)  # fmt: skip
    children = enc.vary([genome] * 3000, gen(12))
    deleted = [c for c in children if c.num_hidden == 2]
    assert all(c == genome for c in children if c.num_hidden == 3)
    assert within_binomial(len(deleted), 3000, 0.2)
    expected = {
        (3, 1, 2): ((6, 4, 0.4), (1, 6, 0.5)) + ((5, 6, 0.3),),  # node 5 gone
        (3, 0, 2): ((0, 5, 0.1), (6, 4, 0.4), (1, 6, 0.5)),  # node 6 gone
        (3, 0, 1): ((0, 5, 0.1), (5, 6, 0.2)),  # node 7 gone
    }
    for c in deleted:
        assert_valid(c, 1)
        assert set(c.edges) == set(expected[c.activations])
    assert {c.activations for c in deleted} == set(expected)


def test_weight_mutation_is_the_released_polynomial_in_genotype_space():
    enc = CPPNEncoding(weight_rate=1.0, activation_rate=0, add_connection_rate=0,
                       delete_connection_rate=0, add_node_rate=0, delete_node_rate=0)  # fmt: skip
    parent = CPPNGenome(1, (0,), tuple((i, 4, 0.5) for i in range(4)) * 50)
    children = enc.vary([parent] * 100, gen(13))
    delta = torch.tensor([g - 0.5 for c in children for _, _, g in c.edges])
    # E|delta| = 1 / (eta + 2) for the unbounded variant (no clip from 0.5: |delta| <= 0.5
    # except in the rare tails, which then clip to 0 or 1).
    assert abs(float(delta.abs().mean()) - 1 / 17) < 0.003
    assert abs(float(delta.mean())) < 0.003
    clipped = enc.vary([CPPNGenome(1, (0,), ((0, 4, 0.999),) * 400)] * 10, gen(14))
    assert max(g for c in clipped for _, _, g in c.edges) == 1.0


def test_activation_resampling_changes_about_three_quarters_of_the_drawn():
    enc = CPPNEncoding(channels=3, weight_rate=0, add_connection_rate=0,
                       delete_connection_rate=0, add_node_rate=0, delete_node_rate=0)  # fmt: skip
    parents = enc.init(4000, gen(15))
    children = enc.vary(parents, gen(16))
    changed = sum(
        a != b
        for p, c in zip(parents, children, strict=True)
        for a, b in zip(p.activations, c.activations, strict=True)
    )
    assert within_binomial(changed, 12000, 0.1 * 0.75)


def test_same_seed_same_genomes_and_images():
    enc = CPPNEncoding(channels=3, size=32)
    a, b = grown(enc, 40, seed=21), grown(enc, 40, seed=21)
    assert a == b
    assert torch.equal(enc.render(a), enc.render(b))
    assert grown(enc, 40, seed=22) != a


# -- rendering --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channels", "inputs", "colour"),
    [(1, "normalized", "hls"), (1, "raw", "hls"), (3, "normalized", "hls"), (3, "raw", "hsv")],
)
def test_batched_render_equals_the_reference(channels, inputs, colour):
    size = 40
    enc = CPPNEncoding(channels=channels, size=size, inputs=inputs, colour=colour)
    pop = grown(enc, 60, seed=30 + channels)
    assert len({(len(p.edges), p.num_hidden) for p in pop}) > 10  # many topologies
    # float64: the same maths up to summation order
    enc64 = CPPNEncoding(channels=channels, size=size, inputs=inputs, colour=colour,
                         dtype="float64")  # fmt: skip
    ref = torch.stack([_render_reference(p, size=size, inputs=inputs) for p in pop])
    out = enc64.outputs(pop)
    assert out.shape == (60, channels, size, size) and out.dtype == torch.float64
    assert float((out - ref).abs().max()) <= 1e-5
    assert float((enc64.render(pop) == decode(ref, colour)).float().mean()) >= 0.999
    # float32 (the default): as close to the float64 images as a float32 reference is (the
    # batched renderer's tanh(p / 2) is, if anything, closer than 2 sigmoid(p) - 1), and
    # equal to that reference almost everywhere: the rest are rounding ties.
    ref32 = torch.stack(
        [_render_reference(p, size=size, inputs=inputs, dtype=torch.float32) for p in pop]
    )
    images, truth = enc.render(pop), decode(ref, colour)
    same = float((images == truth).float().mean())
    assert same >= float((decode(ref32, colour) == truth).float().mean()) - 1e-4
    assert float((images == decode(ref32, colour)).float().mean()) >= 0.997
    assert float((enc.outputs(pop) - ref32).abs().mean()) < 1e-5


@pytest.mark.parametrize(("dtype", "size"), [("float32", 23), ("float32", 28), ("float64", 23)])
def test_a_genome_renders_to_the_same_bits_in_any_batch_chunking_and_thread_count(dtype, size):
    # The champions' PNGs are rendered in other batches than the offspring that were
    # scored; both must be the same image.
    enc = CPPNEncoding(channels=3, size=size, dtype=dtype)
    pop = grown(enc, 24, seed=40)
    whole = enc.outputs(pop)
    for i, genome in enumerate(pop):
        assert torch.equal(enc.outputs([genome]), whole[i : i + 1])
    assert torch.equal(enc.outputs(pop[::-1]), whole.flip(0))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert torch.equal(enc.outputs(pop), whole)
    finally:
        torch.set_num_threads(threads)
    enc.chunk_elements = 1  # one genome at a time, the pixels in chunks
    assert torch.equal(enc.outputs(pop[:3]), whole[:3])
    enc.chunk_elements = 7 * 300  # a few genomes per run
    assert torch.equal(enc.outputs(pop), whole)
    assert torch.equal(enc.render(pop), decode(whole, enc.colour))


def test_large_images_render_in_runs_of_genomes_over_pixel_chunks_to_the_same_bits():
    enc = CPPNEncoding(channels=3, size=72, chunk_elements=1 << 30)
    pop = grown(enc, 12, seed=41, lo=5, hi=15)
    whole = enc.render(pop)  # one run over all pixels
    enc.chunk_elements = 4096 * 40  # runs of a few genomes, each over two pixel chunks
    runs = list(enc._groups(enc.batch(pop), 72 * 72))
    assert 1 < len(runs) < len(pop) and all(hi - lo > 1 for lo, hi in runs[:-1])
    assert torch.equal(enc.render(pop), whole)


def offspring(enc: CPPNEncoding, parents: int, each: int, seed: int) -> CPPNBatch:
    """``each`` children of every one of ``parents`` grown genomes, as MAP-Elites breeds
    them: siblings share most of their parent's nodes."""
    champions = enc.batch(grown(enc, parents, seed=seed, lo=10, hi=30))
    picks = torch.arange(parents).repeat_interleave(each)
    return enc.vary(enc.take(champions, picks), gen(seed + 1))


@pytest.mark.parametrize(("channels", "dtype"), [(1, "float32"), (3, "float64")])
def test_siblings_share_their_rows_and_render_as_if_alone(channels, dtype):
    enc = CPPNEncoding(channels=channels, size=20, dtype=dtype)
    children = offspring(enc, parents=4, each=12, seed=70)
    plan = _plan(children, getattr(torch, dtype), torch.device("cpu"))
    nodes = int(children.node_count.sum())
    assert plan.rows < 4 + 0.8 * nodes  # equal nodes were computed once
    whole = enc.outputs(children)
    for i in range(len(children)):
        assert torch.equal(enc.outputs([children[i]]), whole[i : i + 1])
    ref = torch.stack([_render_reference(c, size=20) for c in children])
    enc64 = CPPNEncoding(channels=channels, size=20, dtype="float64")
    assert float((enc64.outputs(children) - ref).abs().max()) <= 1e-5


def distinct_live_nodes(genomes: list[CPPNGenome]) -> int:
    """Independent count of the rows a float64 plan needs. A node fed by the bias and
    constant nodes only is constant: its consumers add its value into their bias weight,
    and it takes no row unless it is an output. Another node takes a row if it has a path
    to an output, the same row as a node with its activation and in-edges (each source's
    own row and the weight, in the order of the sources' depth, activation and id, then
    edge order; the folded bias after x, y, d), where depth counts non-constant nodes."""
    act_fn = (math.sin, math.tanh, lambda p: math.exp(-min(p * p, 690.0)),
              lambda p: min(max(p, -1.0), 1.0))  # fmt: skip
    table: dict[tuple, int] = {}
    for g in genomes:
        act = dict(enumerate(g.activations, start=4))
        inc: dict[int, list[tuple[int, int, float]]] = {}
        succ: dict[int, set[int]] = {}
        for k, (s, t, gene) in enumerate(g.edges):
            inc.setdefault(t, []).append((s, k, (20.0 * gene - 10.0) * _FOLD[act[t]]))
            succ.setdefault(s, set()).add(t)
        varies = {0: True, 1: True, 2: True, 3: False}
        value, depth = {3: 1.0}, {i: 0 for i in range(4)}
        topo = [v for v in _topological_order(g) if v >= 4]
        for v in topo:
            ins = inc.get(v, [])
            varies[v] = any(varies[s] for s, _, _ in ins)
            depth[v] = 1 + max((depth[s] for s, _, _ in ins if varies[s]), default=0)
            if not varies[v]:
                pre = 0.0
                for s, _, w in ins:
                    pre += w * value[s]
                value[v] = act_fn[act[v]](pre)
        live = set(range(4, 4 + g.outputs))
        for v in reversed(topo):
            if varies[v] and succ.get(v, set()) & live:
                live.add(v)
        order = {v: (depth[v], act[v], v) for v in act} | {i: (0, 0, i) for i in range(4)}
        row: dict[int, object] = {i: ("input", i) for i in range(4)}
        for v in sorted(live, key=order.__getitem__):
            entries, bias = [], None
            for s, k, w in inc.get(v, []):
                if varies[s]:
                    entries.append((order[s], k, row[s], w))
                else:
                    bias = (0.0 if bias is None else bias) + w * value[s]
            if bias is not None:
                entries.append((order[3], -1, row[3], bias))
            key = (act[v], tuple((r, w) for _, _, r, w in sorted(entries)))
            row[v] = table.setdefault(key, len(table))
    return len(table)


def test_a_plan_has_one_row_per_distinct_live_node():
    for channels, seed in [(1, 80), (3, 81), (1, 82)]:
        enc = CPPNEncoding(channels=channels, size=8)
        batches = [offspring(enc, parents=5, each=10, seed=seed), enc.batch(grown(enc, 40, seed))]
        for batch in batches:
            plan = _plan(batch, torch.float64, torch.device("cpu"))
            assert plan.rows == 4 + distinct_live_nodes(list(batch))
            assert sum(len(level.offsets) - 1 for level in plan.levels) == plan.rows - 4
    # Copies of one genome take its rows once; a node that feeds no output takes none.
    g = CPPNGenome(outputs=1, activations=(0, 1, 2),
                   edges=((0, 4, 0.7), (0, 5, 0.3), (5, 4, 0.9), (1, 6, 0.2)))  # fmt: skip
    plan = _plan(CPPNBatch.from_genomes([g] * 7, 1), torch.float64, torch.device("cpu"))
    assert plan.rows == 4 + 2
    assert plan.out_rows.tolist() == [5] * 7  # node 5 (depth 1), then the output


def test_constant_nodes_fold_into_the_bias_weight():
    # bias -> 5 -> 6 -> output 4, and x -> 4: nodes 5 and 6 are the same at every pixel.
    edges = ((3, 5, 0.8), (5, 6, 0.3), (6, 4, 0.9), (0, 4, 0.6), (3, 4, 0.45))
    g = CPPNGenome(outputs=1, activations=(3, 2, 1), edges=edges)
    plan = _plan(CPPNBatch.from_genomes([g], 1), torch.float64, torch.device("cpu"))
    assert plan.rows == 4 + 1 and len(plan.levels) == 1
    (level,) = plan.levels
    assert level.index.tolist() == [0, 3]  # x, then the bias with node 6 folded in
    c5 = math.exp(-((20 * 0.8 - 10) ** 2))  # Gaussian(6), fold 1
    c6 = math.tanh((20 * 0.3 - 10) * c5 / 2)  # the rescaled sigmoid is tanh(p / 2)
    w_x, w_bias = (20 * 0.6 - 10) / 3, ((20 * 0.45 - 10) + (20 * 0.9 - 10) * c6) / 3
    assert level.weights.tolist() == pytest.approx([w_x, w_bias], rel=1e-14)
    ref = _render_reference(g, size=16)
    out = CPPNEncoding(channels=1, size=16, dtype="float64").outputs([g])[0]
    assert float((out - ref).abs().max()) <= 1e-12
    # A constant output keeps its row, at depth 1, and renders af(its folded weight).
    k = CPPNGenome(outputs=1, activations=(0, 3), edges=((3, 5, 0.7), (5, 4, 0.2), (3, 4, 0.1)))
    plan = _plan(CPPNBatch.from_genomes([k], 1), torch.float64, torch.device("cpu"))
    assert plan.rows == 4 + 1 and plan.levels[0].index.tolist() == [3]
    ref = _render_reference(k, size=4)
    assert torch.allclose(CPPNEncoding(channels=1, size=4, dtype="float64").outputs([k])[0], ref,
                          rtol=0, atol=1e-12)  # fmt: skip


def test_special_graphs():
    enc = CPPNEncoding(channels=1, size=8, dtype="float64")
    # An output with no incoming edge outputs af(0): sine 0, sigmoid 0, Gaussian 1, linear 0.
    for act, value in zip(range(4), (0.0, 0.0, 1.0, 0.0), strict=True):
        out = enc.outputs([CPPNGenome(1, (act,), ())])
        assert torch.all(out == value)
    # bias -> output with weight w (gene g): af(w) everywhere.
    w = 20 * 0.6 - 10
    expected = (math.sin(w), 2 * (1 / (1 + math.exp(-w)) - 0.5), math.exp(-w * w), 2 / 3)
    for act, value in enumerate(expected):
        out = enc.outputs([CPPNGenome(1, (act,), ((3, 4, 0.6),))])
        assert torch.allclose(out, torch.full_like(out, value))
    # Parallel edges add up; a dangling hidden node (no outputs downstream) is harmless.
    par = CPPNGenome(1, (3, 0), ((3, 4, 0.525), (3, 4, 0.525), (0, 5, 0.9)))
    assert torch.allclose(
        enc.outputs([par]), torch.full((1, 1, 8, 8), 1.0 / 3.0, dtype=torch.float64)
    )
    # A mixed batch of very different depths.
    deep = CPPNGenome(1, (3,) * 8, tuple((v, v + 1, 0.55) for v in range(4, 11))[1:]
                      + ((3, 5, 0.55), (11, 4, 0.55)))  # fmt: skip
    deep.validate()
    batch = [deep, par, CPPNGenome(1, (2,), ()), deep]
    ref = torch.stack([_render_reference(p, size=8) for p in batch])
    assert torch.allclose(enc.outputs(batch), ref, rtol=0, atol=1e-12)


def test_cycles_are_rejected():
    cyclic = CPPNGenome(1, (0, 0, 0), ((0, 5, 0.5), (5, 6, 0.5), (6, 5, 0.5), (6, 4, 0.5)))
    with pytest.raises(ValueError, match="cycle"):
        cyclic.validate()
    with pytest.raises(ValueError, match="cycle"):
        CPPNEncoding().outputs([cyclic])
    for bad in (
        CPPNGenome(1, (0,), ((4, 0, 0.5),)),  # into an input
        CPPNGenome(1, (0, 0), ((4, 5, 0.5),)),  # out of an output
        CPPNGenome(1, (0,), ((0, 9, 0.5),)),  # missing node
        CPPNGenome(1, (0,), ((0, 4, 1.5),)),  # gene out of range
        CPPNGenome(1, (7,), ()),  # activation id
    ):
        with pytest.raises(ValueError):
            bad.validate()


@pytest.mark.parametrize(("channels", "size", "colour"), [(1, 28, "hls"), (3, 64, "hls"),
                                                          (3, 64, "hsv")])  # fmt: skip
def test_render_shape_dtype_range_and_8bit_levels(channels, size, colour):
    enc = CPPNEncoding(channels=channels, size=size, colour=colour)
    pop = grown(enc, 20, seed=50, lo=5, hi=15)
    img = enc.render(pop)
    assert img.shape == (20, channels, size, size) and img.dtype == torch.float32
    assert img.device == enc.device and img.is_contiguous()
    assert 0.0 <= float(img.min()) and float(img.max()) <= 1.0
    levels = img * 255
    assert torch.equal(levels, levels.round())
    assert float(img.std()) > 0.05  # not a blank page
    if channels == 1:
        assert torch.equal(levels, torch.trunc(enc.outputs(pop) * 255).abs())
    # any resolution, same networks
    big = enc.render(pop[:2], size=100)
    assert big.shape == (2, channels, 100, 100)
    assert enc.render([]).shape == (0, channels, size, size)


def test_input_grid_raw_and_normalized():
    raw = _input_grid(5, "raw", torch.float64).reshape(4, 5, 5)
    norm = _input_grid(5, "normalized", torch.float64).reshape(4, 5, 5)
    # x is the column, y the row
    steps = torch.arange(5, dtype=torch.float64)
    assert torch.equal(raw[0, 2], steps) and torch.equal(raw[1, :, 2], steps)
    assert torch.equal(norm[0, 0], steps / 2 - 1)
    assert torch.equal(norm[1].T, norm[0])
    # d is normalised in both modes; bias is 1
    assert torch.equal(raw[2], norm[2]) and float(norm[2, 0, 0]) == pytest.approx(math.sqrt(2))
    assert float(norm[2, 2, 2]) == 0.0 and torch.all(raw[3] == 1)
    assert torch.equal(_input_grid(1, "normalized", torch.float64)[:, 0],
                       torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64))  # fmt: skip


def test_raw_and_normalized_inputs_render_differently():
    pop = grown(CPPNEncoding(), 10, seed=60, lo=5, hi=10)
    a = CPPNEncoding(inputs="normalized").render(pop)
    b = CPPNEncoding(inputs="raw").render(pop)
    assert float((a != b).float().mean()) > 0.3


# -- colour --------------------------------------------------------------------------------

# cv2.cvtColor(hls_uint8, cv2.COLOR_HLS2RGB) on OpenCV 5.0.0 (the torch port also matched
# OpenCV on all 2^24 byte triples when checked).
HLS_GOLDEN = [
    ((217, 163, 130), (188, 210, 116)), ((69, 78, 10), (75, 81, 77)),
    ((19, 4, 44), (5, 4, 3)), ((208, 166, 233), (247, 236, 85)),
    ((128, 155, 248), (110, 58, 252)), ((186, 161, 139), (212, 130, 110)),
    ((143, 239, 71), (241, 235, 243)), ((208, 171, 0), (171, 171, 171)),
    ((100, 219, 141), (199, 226, 239)), ((8, 195, 186), (239, 175, 151)),
    ((216, 44, 22), (46, 48, 40)), ((220, 5, 138), (6, 8, 2)),
    ((20, 76, 123), (113, 88, 39)), ((108, 103, 7), (100, 102, 106)),
    ((1, 31, 2), (31, 31, 31)), ((171, 134, 165), (212, 56, 103)),
    ((65, 157, 195), (82, 232, 107)), ((98, 117, 255), (0, 172, 234)),
    ((206, 251, 97), (253, 252, 249)), ((175, 243, 166), (251, 235, 238)),
    ((215, 176, 180), (213, 232, 120)), ((99, 224, 34), (220, 226, 228)),
    ((148, 184, 216), (236, 124, 244)), ((134, 96, 79), (94, 66, 126)),
]  # fmt: skip


def hls_rgb_bytes(hls: list[tuple[int, int, int]]) -> list[tuple[int, ...]]:
    t = torch.tensor(hls, dtype=torch.float32).T[None, :, :, None]  # (1, 3, K, 1)
    rgb = (hls_bytes_to_rgb(t)[0, :, :, 0].T * 255).round().to(torch.int64)
    return [tuple(x) for x in rgb.tolist()]


def test_hls_matches_opencv_golden_values():
    assert hls_rgb_bytes([h for h, _ in HLS_GOLDEN]) == [rgb for _, rgb in HLS_GOLDEN]


def test_hls_hue_bytes_wrap_past_180():
    h = torch.arange(180, 256)
    a = torch.stack([h, torch.full_like(h, 120), torch.full_like(h, 200)], 1).tolist()
    b = torch.stack([h - 180, torch.full_like(h, 120), torch.full_like(h, 200)], 1).tolist()
    assert hls_rgb_bytes(a) == hls_rgb_bytes(b)
    # hue byte 60 is 120 degrees: green; L 128, S 255: pure-ish
    assert hls_rgb_bytes([(60, 128, 255)]) == [(1, 255, 1)]


def test_hls_matches_opencv_on_all_2_to_the_24_inputs():
    cv2 = pytest.importorskip("cv2", reason="opencv-python-headless (the test extra) is absent")
    import numpy as np

    v = np.arange(256, dtype=np.uint8)
    h, l_, s = np.meshgrid(v, v, v, indexing="ij")
    hls = np.stack([h, l_, s], -1).reshape(256, -1, 3)
    expected = cv2.cvtColor(hls, cv2.COLOR_HLS2RGB)
    t = torch.from_numpy(hls).permute(2, 0, 1)[None].float()
    ours = (hls_bytes_to_rgb(t)[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(ours, expected)


def test_hls_lookup_is_the_float32_formula_on_all_2_to_the_24_inputs():
    i = torch.arange(1 << 24)
    hls = torch.stack([i >> 16, (i >> 8) & 255, i & 255]).view(1, 3, 4096, 4096)
    out = torch.full(hls.shape, -1.0)
    assert hls_bytes_to_rgb(hls.to(torch.uint8), out=out) is out
    assert torch.equal(out, _hls_formula(hls))
    assert torch.equal(hls_bytes_to_rgb(hls.double()), out)  # any dtype of whole bytes


def test_hsv_matches_colorsys():
    hsv = torch.rand(1, 3, 50, 50, generator=gen(70), dtype=torch.float64)
    rgb = hsv_to_rgb(hsv)
    flat = hsv[0].reshape(3, -1).T.tolist()
    expected = torch.tensor([colorsys.hsv_to_rgb(*x) for x in flat], dtype=torch.float64).T.reshape(
        3, 50, 50
    )
    assert torch.allclose(rgb[0], torch.round(expected * 255) / 255, atol=1e-12)


def test_grey_is_the_absolute_truncated_byte():
    out = torch.tensor([-1.0, -0.5, 0.0, 0.999, 1.0, 0.25, -0.0039]).reshape(1, 1, 1, 7)
    assert (decode(out) * 255).round().flatten().tolist() == [255, 127, 0, 254, 255, 63, 0]


def test_grey_bytes_are_taken_in_the_outputs_own_precision():
    # float64 outputs one float32 ulp under k / 255 must stay level k - 1 (trunc(255 out)).
    out = torch.tensor([254.999999999 / 255, -100.0000001 / 255, 3.0 / 255], dtype=torch.float64)
    levels = (decode(out.reshape(1, 1, 1, 3)) * 255).round().flatten().tolist()
    assert levels == [254, 100, 3]


@pytest.mark.parametrize(("channels", "colour", "dtype"),
                         [(1, "hls", torch.float32), (1, "hls", torch.float64),
                          (3, "hls", torch.float32), (3, "hsv", torch.float64)])  # fmt: skip
def test_decode_into_a_given_tensor_is_decode(channels, colour, dtype):
    g = torch.Generator().manual_seed(95)
    outputs = (torch.rand(6, channels, 9, 9, generator=g, dtype=dtype) * 2 - 1)[..., :7]
    out = torch.full((6, channels, 9, 7), -1.0)
    assert decode(outputs, colour, out=out) is out
    assert torch.equal(out, decode(outputs, colour))


def test_colour_decodes_absolute_outputs():
    out = torch.rand(2, 3, 5, 5, generator=gen(71)) * 2 - 1
    for colour in ("hls", "hsv"):
        assert torch.equal(decode(out, colour), decode(out.abs(), colour))


# -- batches, files, settings ----------------------------------------------------------------


def test_take_cat_put_count():
    enc = CPPNEncoding()
    a, b = enc.init(5, gen(80)), enc.init(3, gen(81))
    both = enc.cat(a, b)
    assert enc.count(both) == 8 and both[:5] == a and both[5:] == b
    assert enc.take(both, torch.tensor([7, 0, 0, 3])) == [b[2], a[0], a[0], a[3]]
    assert enc.take(both, torch.tensor([], dtype=torch.long)) == []
    put = enc.put(a, torch.tensor([4, 1]), b[:2])
    assert put == [a[0], b[1], a[2], a[3], b[0]] and a == enc.init(5, gen(80))
    # images follow the genomes
    imgs = enc.render(both)
    assert torch.equal(enc.render(enc.take(both, torch.tensor([6, 2]))), imgs[[6, 2]])


def test_a_batch_is_a_read_only_sequence_of_genomes():
    enc = CPPNEncoding(channels=3)
    genomes = grown(enc, 12, seed=82, lo=3, hi=12)
    batch = enc.batch(genomes)
    assert isinstance(batch, CPPNBatch) and enc.batch(batch) is batch
    assert len(batch) == 12 and batch == genomes and genomes == batch and list(batch) == genomes
    assert batch[-1] == genomes[-1] and batch[3:9:2] == genomes[3:9:2]
    assert batch != genomes[:-1] and batch != genomes[::-1] and batch != "genomes"
    assert CPPNBatch.from_genomes([], 3) == [] and len(enc.init(0, gen())) == 0
    assert len(batch.acts) == int(batch.node_count.sum()) == sum(g.num_nodes - 4 for g in genomes)
    with pytest.raises(IndexError):
        batch[12]
    with pytest.raises(ValueError, match="read-only"):
        batch.gene[0] = 0.5
    assert "12 genomes" in repr(batch)


@pytest.mark.parametrize(
    ("genome", "message"),
    [
        (CPPNGenome(1, (0,), ((4, 0, 0.5),)), "enters an input"),
        (CPPNGenome(1, (0, 0), ((4, 5, 0.5),)), "leaves an output"),
        (CPPNGenome(1, (0,), ((0, 9, 0.5),)), "not a node"),
        (CPPNGenome(1, (0,), ((-1, 4, 0.5),)), "not a node"),
        (CPPNGenome(1, (0,), ((0, 4, 1.5),)), "outside"),
        (CPPNGenome(1, (0,), ((0, 4, float("nan")),)), "outside"),
        (CPPNGenome(1, (7,), ()), "activation"),
        (CPPNGenome(1, (), ()), "fewer nodes"),
        (CPPNGenome(1, (0,), ((0.5, 4, 0.5),)), "integers"),  # type: ignore[arg-type]
    ],
)
def test_malformed_genomes_are_refused_before_rendering(genome, message):
    with pytest.raises(ValueError, match=message):
        CPPNEncoding().render([CPPNEncoding().init(1, gen())[0], genome])


def test_save_is_json_and_load_rejects_bad_files(tmp_path):
    enc = CPPNEncoding(channels=3)
    pop = grown(enc, 10, seed=90, lo=5, hi=10)
    path = tmp_path / "champions.json"
    enc.save(pop, path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "fooling.cppn" and len(doc["genomes"]) == 10
    assert doc["genomes"][0]["activations"][0] in ACTIVATIONS
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left nothing behind
    assert enc.load(path) == pop
    with pytest.raises(DataError, match="outputs"):
        CPPNEncoding(channels=1).load(path)
    bad = dict(doc, genomes=[{"outputs": 3, "activations": ["sine"] * 4,
                              "edges": [[5, 4, 0.5], [4, 5, 0.5]]}])  # fmt: skip
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(DataError, match="genome 0"):
        enc.load(tmp_path / "bad.json")
    (tmp_path / "trunc.json").write_text(path.read_text()[:50])
    with pytest.raises(DataError):
        enc.load(tmp_path / "trunc.json")
    with pytest.raises(DataError):
        enc.load(tmp_path / "missing.json")
    for genomes in (5, None, {"0": doc["genomes"][0]}):
        (tmp_path / "notlist.json").write_text(json.dumps(dict(doc, genomes=genomes)))
        with pytest.raises(DataError, match="must be a list"):
            enc.load(tmp_path / "notlist.json")
    (tmp_path / "nogenomes.json").write_text(json.dumps({"format": "fooling.cppn", "version": 1}))
    with pytest.raises(DataError, match="must be a list"):
        enc.load(tmp_path / "nogenomes.json")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("outputs", 1.9), ("outputs", "1"), ("outputs", True), ("outputs", float("inf")),
        ("edge", [0.9, 4, 0.5]), ("edge", [0, 4.0, 0.5]), ("edge", [True, 4, 0.5]),
        ("edge", [float("inf"), 4, 0.5]), ("edge", "041"), ("edge", [0, 4]),
        ("edge", [0, 4, "0.5"]), ("edge", [0, 4, float("nan")]), ("edge", [0, 4, True]),
    ],
)  # fmt: skip
def test_from_dict_rejects_instead_of_coercing(field, value):
    good = {"outputs": 1, "activations": ["sine"], "edges": [[0, 4, 0.5]]}
    assert CPPNGenome.from_dict(good) == CPPNGenome(1, (0,), ((0, 4, 0.5),))
    bad = dict(good, outputs=value) if field == "outputs" else dict(good, edges=[value])
    with pytest.raises(ValueError, match="malformed genome|gene"):
        CPPNGenome.from_dict(bad)


def test_settings_registry_and_errors():
    enc = create_encoding("cppn", channels=3, size=64, inputs="raw", colour="hls")
    assert isinstance(enc, CPPNEncoding) and enc.name == "cppn"
    s = enc.settings()
    json.dumps(s)
    assert s["inputs"] == "raw" and s["colour"] == "hls" and s["crossover"] == "none"
    assert (s["add_connection_rate"], s["delete_connection_rate"], s["add_node_rate"],
            s["delete_node_rate"], s["weight_rate"], s["activation_rate"],
            s["eta_m"]) == (0.5, 0.3, 0.5, 0.2, 0.1, 0.1, 15.0)  # fmt: skip
    assert "inputs='raw'" in repr(enc)
    assert CPPNEncoding(channels=1, colour="hsv").settings()["colour"] == "grey"
    for bad in ({"inputs": "pixels"}, {"colour": "rgb"}, {"channels": 2},
                {"add_node_rate": 1.5}, {"eta_m": -1}, {"dtype": "float16"}):  # fmt: skip
        with pytest.raises(ConfigError):
            CPPNEncoding(**bad)
    with pytest.raises(ValueError, match="outputs"):
        CPPNEncoding(channels=3).render(CPPNEncoding(channels=1).init(2, gen()))
    for size in (0, -2, 2.5, True):
        with pytest.raises(ConfigError, match="render size"):
            CPPNEncoding().render(CPPNEncoding().init(1, gen()), size=size)
