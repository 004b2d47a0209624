"""Batched CPPN rendering vs. the per-genome reference renderer.

For a population of 200 genomes grown by ~30 mutations each, prints the time to render the
whole population as one tensor program (``CPPNEncoding.render``) and with the slow
per-genome reference (``_render_reference`` + the same colour decoding, one genome at a
time, each vectorised over its pixels), and their ratio (goal >= 10). Both run in float32
on the same device; the share of identical 8-bit pixel values is printed as a check.

By default: 28x28 grey (MNIST) and 256x256 colour (ImageNet, HLS), then a real lenet-mnist
CPPN run: render time / generation time inside it, and the ratio on its last offspring.
Ratios only, no asserts. On a CPU the 256x256 ratio is bounded by arithmetic: both
renderers then spend their time in the same per-pixel maths and colour decoding (the
reference's ops are vectorised over 65,536 pixels), and batching mainly removes per-node
overhead: the benchmark prints that overhead, the reference's time at 1x1 (the same ops on
one pixel).
The run's line gives the render time a generation would need for the share goal. Last, a
fresh process's first render, which pays once for starting numba (the compiled plan).

Run: python benchmarks/cppn_render.py [--genomes 200] [--mutations 30] [--device cuda]
     [--threads 1] [--inputs raw]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from functools import partial

import torch

from fooling._alloc import keep_freed_memory
from fooling.encodings import cppn
from fooling.encodings.cppn import CPPNEncoding, _render_reference, decode


def best_time(fn, repeats: int, device: torch.device, budget: float = 0.5) -> float:
    """The fastest of at least ``repeats`` calls, and of as many more as fit ``budget``
    seconds (a 2 ms render otherwise takes its minimum over too few calls to be steady)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()  # warm-up
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - start < budget and len(times) < 500):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return min(times)


def population(enc: CPPNEncoding, n: int, mutations: int, seed: int) -> list:
    g = torch.Generator().manual_seed(seed)
    pop = enc.init(n, g)
    for _ in range(mutations):
        pop = enc.vary(pop, g)
    return pop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genomes", type=int, default=200)
    ap.add_argument("--mutations", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--inputs", default="normalized", choices=["normalized", "raw"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    ap.add_argument("--plain-malloc", action="store_true", help="leave glibc's allocator as it is")
    args = ap.parse_args()
    if not args.plain_malloc:
        keep_freed_memory()  # as the fooling command does
    device = torch.device(args.device)
    if args.threads:
        # On a shared machine, multi-threaded ops wait for busy cores at every op.
        torch.set_num_threads(args.threads)

    print(f"device {device}, torch threads {torch.get_num_threads()}, "
          f"{args.genomes} genomes x {args.mutations} mutations, inputs={args.inputs}")  # fmt: skip
    header = f"{'size':>9} {'C':>2} {'nodes':>6} {'edges':>6} {'batched ms':>11} "
    print(header + f"{'reference ms':>13} {'ratio':>7} {'same px':>8}")
    rows = []
    for size, channels in ((28, 1), (256, 3)):
        enc = CPPNEncoding(channels=channels, size=size, device=device, inputs=args.inputs)
        pop = population(enc, args.genomes, args.mutations, args.seed)
        nodes = statistics.mean(p.num_nodes for p in pop)
        edges = statistics.mean(len(p.edges) for p in pop)

        def batched(enc=enc, pop=pop):
            return enc.render(pop)

        def reference(enc=enc, pop=pop, size=size):
            return torch.cat([
                decode(_render_reference(p, size=size, inputs=enc.inputs,
                                         dtype=torch.float32, device=device)[None], enc.colour)
                for p in pop
            ])  # fmt: skip

        t_batch = best_time(batched, args.repeats, device)
        t_ref = best_time(reference, args.repeats, device)
        same = float((batched() == reference()).float().mean())
        print(f"{size:>4}x{size:<4} {channels:>2} {nodes:>6.1f} {edges:>6.1f} "
              f"{t_batch * 1e3:>11.1f} {t_ref * 1e3:>13.1f} {t_ref / t_batch:>7.2f} "
              f"{same:>8.5f}")  # fmt: skip
        rows.append((size, t_ref, best_time(partial(reference, size=1), args.repeats, device)))

    # The reference's time at 1x1 (the same ops on one pixel) is its per-op overhead, the
    # part that batching removes; the rest grows with the pixels.
    for size, t_ref, t_one in rows:
        print(f"{size}x{size}: the reference's per-op overhead (its time at 1x1) "
              f"{t_one * 1e3:.1f} ms of {t_ref * 1e3:.1f} ms ({t_one / t_ref:.0%})")  # fmt: skip

    render_share(device, repeats=args.repeats)
    first_render(device)


def first_render(device: torch.device) -> None:
    """A fresh process's first render of 200 genomes at 28x28 against its second: the
    one-off cost of starting numba and loading the compiled plan from its cache (the first
    render after installing compiles it, a few seconds), which the timings above leave
    out."""
    code = (
        "import time, torch\n"
        "from fooling.encodings.cppn import CPPNEncoding\n"
        f"enc = CPPNEncoding(channels=1, size=28, device={str(device)!r})\n"
        "pop = enc.init(200, torch.Generator().manual_seed(0))\n"
        "times = []\n"
        "for _ in range(2):\n"
        "    t = time.perf_counter()\n"
        "    enc.render(pop)\n"
        "    times.append(time.perf_counter() - t)\n"
        "print(*times)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = map(float, run.stdout.split())
    print(
        f"a fresh process's first render: {first * 1e3:.0f} ms, its second "
        f"{second * 1e3:.1f} ms (starting numba and loading the compiled plan)"
    )


def render_share(device: torch.device, generations: int = 200, repeats: int = 3) -> None:
    """CPPN render time / whole generation time in a real MAP-Elites run (lenet-mnist,
    200 offspring a generation, 28x28): the renderer timed inside the run. Then the
    batched vs. reference ratio on that run's last offspring, the genomes the renderer
    really sees."""
    from fooling import EvolveConfig
    from fooling.experiments.evolve import Evolution

    evo = Evolution(EvolveConfig(encoding="cppn", generations=generations, device=str(device)))
    spent = [0.0]
    calls = [0]
    render, vary, probs = evo.encoding.render, evo.encoding.vary, evo.classifier.probs
    others = {"mutation": 0.0, "classifier": 0.0}

    def timed_render(genomes, **kw):
        t = time.perf_counter()
        out = render(genomes, **kw)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        spent[0] += time.perf_counter() - t
        calls[0] += 1
        return out

    def timed(fn, key, into=others):
        def call(*args, **kw):
            t = time.perf_counter()
            out = fn(*args, **kw)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            into[key] += time.perf_counter() - t
            return out

        return call

    evo.encoding.render = timed_render
    evo.encoding.vary = timed(vary, "mutation")
    evo.classifier.probs = timed(probs, "classifier")
    # The render's own stages: _run looks both up in the module at each call.
    stages = {"plan": 0.0, "evaluation": 0.0}
    plan, evaluate = cppn._plan, cppn._evaluate
    cppn._plan, cppn._evaluate = timed(plan, "plan", stages), timed(evaluate, "evaluation", stages)
    search = evo.search
    t0 = time.perf_counter()
    while search.generation <= generations:
        genomes = search.ask()
        search.tell(genomes, evo.score(genomes))
    total = time.perf_counter() - t0
    cppn._plan, cppn._evaluate = plan, evaluate
    print(f"lenet-mnist CPPN, {generations} generations of 200: render {spent[0]:.2f} s of "
          f"{total:.2f} s; render / generation {spent[0] / total:.3f} (goal <= 0.1)")  # fmt: skip
    rest = (total - spent[0]) / calls[0]
    parts = ", ".join(f"{k} {v / calls[0] * 1e3:.2f} ms" for k, v in others.items())
    print(f"per generation: render {spent[0] / calls[0] * 1e3:.2f} ms, the rest "
          f"{rest * 1e3:.2f} ms ({parts}); the goal needs a render <= "
          f"{rest / 9 * 1e3:.2f} ms")  # fmt: skip
    per = {k: v / calls[0] * 1e3 for k, v in stages.items()}
    other = spent[0] / calls[0] * 1e3 - sum(per.values())
    print(f"per render: plan {per['plan']:.2f} ms, evaluation {per['evaluation']:.2f} ms, "
          f"decoding and copies {other:.2f} ms; with a plan that took no time the share "
          f"would be {(spent[0] - stages['plan']) / (total - stages['plan']):.3f}")  # fmt: skip

    enc = evo.encoding
    t_batch = best_time(lambda: render(genomes), repeats, device)
    t_ref = best_time(
        lambda: [decode(_render_reference(p, size=enc.size, inputs=enc.inputs,
                                          dtype=torch.float32, device=device)[None])
                 for p in genomes],
        repeats, device,
    )  # fmt: skip
    nodes = statistics.mean(p.num_nodes for p in genomes)
    edges = statistics.mean(len(p.edges) for p in genomes)
    print(
        f"its last 200 offspring ({nodes:.1f} nodes, {edges:.1f} edges): batched "
        f"{t_batch * 1e3:.1f} ms, reference {t_ref * 1e3:.1f} ms, ratio {t_ref / t_batch:.2f}"
    )
    # Inside the run each render follows the classifier's forward pass, which evicts the
    # caches; re-rendered back to back, the same genomes find them warm.
    print(
        f"render in the run: {spent[0] / calls[0] * 1e3:.2f} ms a generation on average; "
        f"its last offspring re-rendered warm: {t_batch * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
