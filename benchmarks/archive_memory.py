"""Memory of a 1000-class direct-encoding MAP-Elites archive at 256x256 (goal < 250 MB).

No network is needed (the search never sees one): generations are told random probabilities
(N, 1000), so every generation replaces champions as a real run would. Prints the champions'
bytes, the archive's own tensors, and the growth of the process's peak RSS over the run, for
uint8 genomes (the default for colour) and, for comparison, float32 ones.

Run: python benchmarks/archive_memory.py [--classes 1000] [--size 256] [--generations 5]
"""

from __future__ import annotations

import argparse
import gc
import resource
import time

import torch

from fooling.encodings import DirectEncoding
from fooling.search import MapElites


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(dtype: str, classes: int, size: int, batch: int, generations: int) -> None:
    gc.collect()
    before = peak_rss_mb()
    enc = DirectEncoding(channels=3, size=size, colour="hls", dtype=dtype)
    search = MapElites(enc, classes, batch_size=batch, init_size=batch, seed=0)
    gen = torch.Generator().manual_seed(1)
    t = time.perf_counter()
    tell = 0.0
    for _ in range(generations + 1):
        genomes = search.ask()
        probs = torch.softmax(torch.randn(batch, classes, generator=gen) * 5, dim=1)
        t1 = time.perf_counter()
        search.tell(genomes, probs)
        tell += time.perf_counter() - t1
    dt = time.perf_counter() - t
    champions = search.champions
    champ_mb = champions.numel() * champions.element_size() / 1e6
    arch_mb = sum(v.numel() * v.element_size() for v in search.archive.state_dict().values()) / 1e6
    print(
        f"{dtype:>7}: champions {tuple(champions.shape)} = {champ_mb:.1f} MB, archive tensors "
        f"{arch_mb:.3f} MB, peak RSS +{peak_rss_mb() - before:.0f} MB over "
        f"{generations} generations of {batch} ({dt / (generations + 1):.2f} s/gen, "
        f"tell {1000 * tell / (generations + 1):.1f} ms/gen)"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--generations", type=int, default=5)
    p.add_argument("--float32", action="store_true", help="also measure float32 genomes")
    args = p.parse_args()
    measure("uint8", args.classes, args.size, args.batch, args.generations)
    if args.float32:
        measure("float32", args.classes, args.size, args.batch, args.generations)


if __name__ == "__main__":
    main()
