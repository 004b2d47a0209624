"""Gradient ascent: seconds per step with every class in one batch vs. one class at a time.

Prints, for a registered classifier and N target classes:
  - seconds per step of one batched run over the N classes (one forward + backward pass, and
    one scoring pass of the 8-bit images, per step for all of them);
  - seconds per step of N single-class runs, summed (what a per-class loop like the released
    code's costs);
  - their ratio, the batched speed-up.
Runs are interleaved and repeated; medians are quoted. No stop: every run does every step.

Run: python benchmarks/ascent.py [--model lenet-mnist] [--classes 10] [--steps 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from fooling import GradientAscent, create_classifier
from fooling._alloc import keep_freed_memory
from fooling.experiments.ascent import mean_image


def timed(fn, device: str) -> float:
    t = time.perf_counter()
    fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="lenet-mnist")
    p.add_argument("--classes", type=int, default=10, help="targets 0..N-1 (ImageNet: spread)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    keep_freed_memory()  # as the fooling command does

    clf = create_classifier(args.model, device=args.device)
    k = clf.num_classes
    targets = [i * (k // args.classes) for i in range(args.classes)]
    mean = mean_image(clf)
    ga = GradientAscent(steps=args.steps)

    def run(ts: list[int]) -> None:
        ga(clf, ts, mean, generator=torch.Generator().manual_seed(0))

    run(targets[:2])  # warm-up (allocator, kernels, threads)
    batched, single = [], []
    for _ in range(args.repeats):
        batched.append(timed(lambda: run(targets), args.device) / args.steps)
        single.append(sum(timed(lambda t=t: run([t]), args.device) for t in targets) / args.steps)
    b, s = statistics.median(batched), statistics.median(single)
    print(
        f"model {args.model}  device {args.device}  classes {args.classes}  steps {args.steps}"
        f"  torch threads {torch.get_num_threads()}"
    )
    print(f"batched:        {1000 * b:9.2f} ms/step for all {args.classes} classes")
    print(
        f"single-class:   {1000 * s:9.2f} ms/step for {args.classes} runs of one class "
        f"({1000 * s / args.classes:.2f} ms each)"
    )
    print(f"batched speed-up: {s / b:.2f}x")


if __name__ == "__main__":
    main()
