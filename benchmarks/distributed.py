"""torch.distributed: evaluations per second of an evolve run with 1 and 2 ranks.

Launches ``torchrun --standalone --nproc_per_node=W -m fooling evolve ...`` (gloo, CPU) with
W = 1 and W = 2 on the same cores: 1 rank with ``OMP_NUM_THREADS=C`` against 2 ranks with
``C / 2`` threads each (C = --cores, default 2), so both use the same cores; and, since
intra-op threads help little on small batches, 1 rank with ``C / 2`` threads too. From each
run's summary.json (the loop's seconds and its evaluations; start-up and model loading are
not in it) it prints evaluations per second, the ratios 2 ranks / 1 rank, the bytes
all-gathered per generation (``fooling.distributed.bytes_per_call`` and its formula) and
whether every run wrote the same metrics.csv (they must: sharding never changes a number).
Runs alternate; medians over --repeats are quoted.

Configurations (--configs, comma-separated):
  lenet         lenet-mnist, direct encoding, 200 offspring per generation in chunks of
                --eval-batch-size 100: one chunk per rank (--generations, default 40);
  efficientnet  efficientnet-lite0 at 256x256, 64 offspring in chunks of 32, 2 generations
                (a heavier network: the forward pass dominates).

Run: python benchmarks/distributed.py [--configs lenet,efficientnet] [--repeats 3] [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from fooling import distributed

CONFIGS: dict[str, dict[str, object]] = {
    "lenet": {
        "model": "lenet-mnist",
        "batch_size": 200,
        "init_size": 200,
        "eval_batch_size": 100,
        "generations": None,  # --generations
        "classes": 10,
    },
    "efficientnet": {
        "model": "efficientnet-lite0",
        "batch_size": 64,
        "init_size": 64,
        "eval_batch_size": 32,
        "generations": 2,
        "classes": 1000,
    },
}


def torchrun() -> str:
    found = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which(
        "torchrun"
    )
    if found is None:
        sys.exit("torchrun not found beside the interpreter")
    return found


def run(ranks: int, threads: int, cfg: dict[str, object], generations: int, out: Path) -> dict:
    """One evolve run under torchrun; its summary.json."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    cmd = [
        torchrun(),
        "--standalone",
        f"--nproc_per_node={ranks}",
        "-m",
        "fooling",
        "evolve",
        "--model",
        str(cfg["model"]),
        "--generations",
        str(cfg["generations"] or generations),
        "--batch-size",
        str(cfg["batch_size"]),
        "--init-size",
        str(cfg["init_size"]),
        "--eval-batch-size",
        str(cfg["eval_batch_size"]),
        "--seed",
        "0",
        "--out",
        str(out),
        "-q",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    return json.loads((out / "summary.json").read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default="lenet", help="lenet, efficientnet, or both")
    p.add_argument("--generations", type=int, default=40, help="lenet generations")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--cores", type=int, default=2, help="cores both configurations share")
    args = p.parse_args()
    if args.cores < 2 or args.cores % 2:
        sys.exit("--cores must be even and at least 2")
    half = args.cores // 2
    setups = [(1, args.cores), (2, half), (1, half)]  # (ranks, threads per rank)
    print(
        f"gloo on CPU, {args.cores} cores: 1 rank x {args.cores} threads vs 2 ranks x {half} "
        f"thread(s) (OMP_NUM_THREADS); also 1 rank x {half} thread(s)"
    )
    for name in args.configs.split(","):
        cfg = CONFIGS[name.strip()]
        rates: dict[tuple[int, int], list[float]] = {setup: [] for setup in setups}
        same = True
        with tempfile.TemporaryDirectory() as tmp:
            for rep in range(args.repeats):
                metrics = set()
                for ranks, threads in setups:
                    out = Path(tmp) / f"{rep}-{ranks}-{threads}"
                    summary = run(ranks, threads, cfg, args.generations, out)
                    rates[ranks, threads].append(summary["evaluations"] / summary["seconds"])
                    metrics.add((out / "metrics.csv").read_bytes())
                    evaluations, gens = summary["evaluations"], summary["generations"]
                same = same and len(metrics) == 1
        one, two, one_half = (statistics.median(rates[setup]) for setup in setups)
        n, chunk, k = int(cfg["batch_size"]), int(cfg["eval_batch_size"]), int(cfg["classes"])
        sent = distributed.bytes_per_call(n, chunk, k, world=2)
        print(
            f"\n{cfg['model']}: {gens} generations x {n} offspring (+{cfg['init_size']} at "
            f"generation 0) = {evaluations} evaluations, chunks of {chunk}, "
            f"median of {args.repeats}"
        )
        print(f"  1 rank  x {args.cores} threads : {one:10.1f} evaluations/s")
        print(f"  2 ranks x {half} thread(s): {two:10.1f} evaluations/s")
        print(f"  1 rank  x {half} thread(s): {one_half:10.1f} evaluations/s")
        print(f"  ratio 2 ranks / 1 rank (same {args.cores} cores): {two / one:.2f}")
        print(f"  ratio 2 ranks / 1 rank with {half} thread(s): {two / one_half:.2f}")
        print(
            f"  all-gathered per generation: each rank sends "
            f"ceil(ceil(N/chunk)/W) * chunk * K * 4 = ceil(ceil({n}/{chunk})/2) * {chunk} * "
            f"{k} * 4 = {sent} bytes; {2 * sent} bytes in all (W = 2)"
        )
        print(f"  metrics.csv identical in every run: {same}")


if __name__ == "__main__":
    main()
