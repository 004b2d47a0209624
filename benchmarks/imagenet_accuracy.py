"""Top-1 / top-5 accuracy of an ImageNet classifier through the wrapper on a folder of photos
named ``<wnid>_<name>.JPEG``, one per class, whose sorted order is the class index (the
project's ``../shared/datasets/imagenet-samples``).

The photos are loaded at 256x256 (shorter side resized, centre square); everything after that
is the classifier's own preprocessing. ``--wrong-preprocessing`` swaps in torchvision's
mean/std, the mistake this check exists to catch (about 10 points lower for EfficientNet-Lite0).

Run: python benchmarks/imagenet_accuracy.py [--model efficientnet-lite0] [--limit N]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch

from fooling import create_classifier
from fooling._alloc import keep_freed_memory
from fooling.data import image_files, load_images
from fooling.models.classifier import Classifier

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "imagenet-samples"


def accuracy(clf: Classifier, folder: Path, limit: int | None, chunk: int = 50) -> tuple:
    files = image_files(folder)
    if len(files) != clf.num_classes:
        raise SystemExit(f"{folder} holds {len(files)} images, expected {clf.num_classes}")
    index = list(range(len(files)))
    if limit:  # an even spread over the classes
        index = index[:: max(1, len(files) // limit)][:limit]
    top1 = top5 = 0
    for i in range(0, len(index), chunk):
        part = index[i : i + chunk]
        probs = clf.probs(load_images([files[k] for k in part], clf.spec.image_size))
        target = torch.tensor(part)
        top = probs.topk(5, dim=1).indices
        top1 += int((top[:, 0] == target).sum())
        top5 += int((top == target[:, None]).any(1).sum())
    return top1, top5, len(index)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="efficientnet-lite0")
    p.add_argument("--weights")
    p.add_argument("--folder", type=Path, default=DEFAULT)
    p.add_argument("--limit", type=int, help="score an even spread of N photos")
    p.add_argument("--crop", choices=["center", "ten"])
    p.add_argument("--autocast", choices=["bf16", "fp16"])
    p.add_argument("--wrong-preprocessing", action="store_true")
    args = p.parse_args()
    keep_freed_memory()  # as the fooling command does
    clf = create_classifier(
        args.model, weights=args.weights, crop=args.crop, autocast=args.autocast
    )
    if args.wrong_preprocessing:  # torchvision's mean/std on [0, 1] instead
        spec = dataclasses.replace(
            clf.spec, scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
        )
        clf = Classifier(clf.module, spec)
    t = time.perf_counter()
    top1, top5, n = accuracy(clf, args.folder, args.limit)
    dt = time.perf_counter() - t
    print(
        f"{args.model} (crop {clf.spec.crop}{', ' + args.autocast if args.autocast else ''}"
        f"{', WRONG mean/std' if args.wrong_preprocessing else ''}): "
        f"top-1 {100 * top1 / n:.1f}% ({top1}/{n}), top-5 {100 * top5 / n:.1f}%  [{dt:.0f} s]"
    )


if __name__ == "__main__":
    main()
