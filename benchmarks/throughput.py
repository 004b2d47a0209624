"""End-to-end MAP-Elites throughput vs. the raw classifier, and time to 99.99 % (MNIST).

Prints, for lenet-mnist with the direct encoding by default:
  - at batch 200 and 1000: end-to-end evaluations per second (ask + render + score + tell)
    divided by the raw network's batched forward rate on the same batches (goal >= 0.9);
  - over 5 seeds: the median generations and seconds until all 10 classes are >= 99.99 %.

For an ImageNet network, genomes render at the classifier's image size (256) and the end-to-end
side includes the wrapper's crop(s); the raw side is the network alone on already-preprocessed
inputs. On this CPU, e.g.:

  python benchmarks/throughput.py --model efficientnet-lite0 --encoding cppn --batches 200 \
      --repeats 2 --warmup 1 --rounds 3 --seeds 0

Run: python benchmarks/throughput.py [--model lenet-mnist] [--seeds 5] [--repeats 50]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from fooling import EvolveConfig, create_classifier, evolve
from fooling._alloc import keep_freed_memory
from fooling.encodings import create_encoding
from fooling.search import MapElites


def rate(fn, n_images: int, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    return n_images * repeats / (time.perf_counter() - t)


def throughput(
    model: str,
    encoding: str,
    batch: int,
    repeats: int,
    device: str,
    *,
    warmup: int = 3,
    rounds: int = 5,
    autocast: str | None = None,
    eval_batch: int | None = None,
) -> tuple:
    # The classifier's own forward batch (eval_batch; default: its device's default), the
    # same on both sides: the raw side runs the network on the same chunks.
    clf = create_classifier(model, device=device, batch_size=eval_batch, autocast=autocast)
    spec = clf.spec
    settings = {}
    if spec.input_channels == 3:
        settings["colour"] = "hls"
        if encoding == "direct":
            settings["dtype"] = "uint8"
    enc = create_encoding(
        encoding,
        channels=spec.input_channels,
        size=spec.image_size,
        device=device,
        **settings,
    )
    search = MapElites(
        enc, spec.num_classes, batch_size=batch, init_size=batch, seed=0, device=device
    )
    g = search.ask()
    search.tell(g, clf.probs(enc.render(g)))

    def generation() -> None:
        genomes = search.ask()
        search.tell(genomes, clf.probs(enc.render(genomes)))
        if device != "cpu":
            torch.cuda.synchronize()

    x = clf.preprocess(enc.render(enc.init(batch, torch.Generator().manual_seed(1))))

    @torch.inference_mode()
    def raw() -> None:
        with clf._precision():
            for part in x.split(clf.batch_size):
                clf.module(part)
        if device != "cpu":
            torch.cuda.synchronize()

    # Interleave to share any drift of the machine's speed between the two.
    e2e, fwd = [], []
    for _ in range(rounds):
        e2e.append(rate(generation, batch, repeats, warmup))
        fwd.append(rate(raw, batch, repeats, warmup))
    return statistics.median(e2e), statistics.median(fwd)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="lenet-mnist")
    p.add_argument("--encoding", default="direct")
    p.add_argument("--batches", default="200,1000")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--generations", type=int, default=200)
    p.add_argument("--device", default="cpu")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls before each timing")
    p.add_argument("--rounds", type=int, default=5, help="interleaved timings (median)")
    p.add_argument("--autocast", choices=["bf16", "fp16"])
    p.add_argument("--eval-batch", type=int, help="network inputs per forward pass")
    p.add_argument("--plain-malloc", action="store_true", help="leave glibc's allocator as it is")
    args = p.parse_args()
    if not args.plain_malloc:
        keep_freed_memory()  # as the fooling command does
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    for batch in (int(b) for b in args.batches.split(",")):
        e2e, fwd = throughput(
            args.model,
            args.encoding,
            batch,
            args.repeats,
            args.device,
            warmup=args.warmup,
            rounds=args.rounds,
            autocast=args.autocast,
            eval_batch=args.eval_batch,
        )
        print(
            f"{args.model} {args.encoding}{' ' + args.autocast if args.autocast else ''} "
            f"batch {batch:5d}: end-to-end {e2e:9.1f} img/s, "
            f"raw forward {fwd:9.1f} img/s, ratio {e2e / fwd:.3f}"
        )
    if args.seeds <= 0:
        return
    gens, secs = [], []
    for seed in range(args.seeds):
        with tempfile.TemporaryDirectory() as d:
            s = evolve(
                EvolveConfig(
                    model=args.model,
                    encoding=args.encoding,
                    seed=seed,
                    generations=args.generations,
                    device=args.device,
                ),
                d,
            )
        g = s["generation_all_classes_reached"]["0.9999"]
        gens.append(g if g is not None else float("inf"))
        secs.append(s["seconds_all_classes_reached"]["0.9999"] or float("inf"))
        print(
            f"seed {seed}: all classes >= 99.99 % at generation {g}, "
            f"{secs[-1]:.2f} s; final median {100 * s['median']:.5f} %"
        )
    print(
        f"median over {args.seeds} seeds: generation {statistics.median(gens)}, "
        f"{statistics.median(secs):.2f} s"
    )


if __name__ == "__main__":
    main()
