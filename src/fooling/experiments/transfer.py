"""Transfer (PAPER.md §3.5): do the champions evolved against one network fool another?

Every champion PNG of the given runs is scored by every given classifier. For each (run,
model) cell: the median confidence on the champion's own class, the share of champions at
>= 99 % (and >= 99.99 %) on it, and the share whose top-1 class it is. Runs of one setting
(the same source model and encoding) are also pooled into one row. With ``lenet-mnist``'s
runs scored by ``lenet-mnist-b`` this is the paper's DNN A / DNN B experiment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .. import __version__, _io, distributed, rundir
from .._stats import median
from ..errors import ConfigError, RunDirError
from ..models import Classifier, create_classifier
from ..report.runs import setting_config
from .config import check_user_model_options

COLUMNS = ("n", "median_confidence", "share_ge_99", "share_ge_99_99", "share_top1")


def parse_model(text: str) -> tuple[str, str | None]:
    """``"name"`` or ``"name@weights-file"`` -> (name, weights)."""
    name, _, weights = text.strip().partition("@")
    if not name:
        raise ConfigError(f"not a model: {text!r} (e.g. lenet-mnist-b or lenet-mnist@FILE)")
    return name, (weights or None)


def model_title(name: str, weights: str | None) -> str:
    return name if weights is None else f"{name}@{Path(weights).name}"


def _champions(run: Path) -> tuple[dict[str, Any], list[dict[str, Any]], torch.Tensor]:
    config = rundir.read_json(run / "config.json")
    kind = config.get("kind") if isinstance(config, dict) else None
    if kind not in ("evolve", "ascent"):
        raise RunDirError(f"{run} holds no champions (kind {kind!r})")
    archive = rundir.read_json(run / "archive.json")
    try:
        classes: list[dict[str, Any]] = [
            {"class": int(e["class"]), "label": str(e["label"]), "image": str(e["image"])}
            for e in archive["classes"]
        ]
    except (KeyError, TypeError, ValueError) as e:
        what = f"missing key {e}" if isinstance(e, KeyError) else str(e)
        raise RunDirError(f"{run}/archive.json is malformed ({what})") from None
    if not classes:
        raise RunDirError(f"{run} has no champions")
    images = []
    for entry in classes:
        path = run / entry["image"]
        try:
            images.append(rundir.read_png(path))
        except OSError as e:
            raise RunDirError(f"cannot read champion image {path}: {e}") from None
    if len({im.shape for im in images}) != 1:
        raise RunDirError(f"{run}: champion images differ in size")
    return config, classes, torch.stack(images)


def _score(
    clf: Classifier, run: Path, classes: list[dict[str, Any]], images: torch.Tensor
) -> dict[str, Any]:
    spec = clf.spec
    if images.shape[1] != spec.input_channels:
        raise ConfigError(
            f"{spec.name} takes {spec.input_channels}-channel images; {run} has "
            f"{images.shape[1]}-channel champions"
        )
    ks = [int(e["class"]) for e in classes]
    for e in classes:
        k = int(e["class"])
        if k >= spec.num_classes or spec.label(k) != e["label"]:
            got = spec.label(k) if k < spec.num_classes else "no such class"
            raise ConfigError(
                f"{spec.name} does not share {run}'s classes: class {k} is "
                f"{e['label']!r} there, {got!r} here"
            )
    probs = clf.probs(images).cpu().double()
    index = torch.tensor(ks)
    conf = probs[torch.arange(len(ks)), index]
    return {
        "n": len(ks),
        "confidences": conf.tolist(),
        "top1": (probs.argmax(1) == index).tolist(),
    }


def _setting_labels(configs: Sequence[dict[str, Any]]) -> list[str]:
    """A label per run, equal for runs of one setting (the report's rule: the same config
    but for the seed, the device and batching): ``source-encoding``, e.g.
    ``lenet-mnist-direct``, followed where several settings share it by the config values
    that tell them apart, e.g. ``lenet-mnist-ascent (preset=hp169)``."""
    base, keys = [], []
    for config in configs:
        source = config.get("classifier", {}).get("name", "?")
        base.append(f"{source}-{config.get('encoding', {}).get('encoding', config.get('kind'))}")
        key = setting_config(config)
        keys.append(json.dumps(key if key is not None else config, sort_keys=True, default=str))
    labels = list(base)
    for name in dict.fromkeys(base):
        group = {k: json.loads(k) for b, k in zip(base, keys) if b == name}
        if len(group) < 2:
            continue
        cfgs = [c if isinstance(c, dict) else {} for c in group.values()]
        differ = [k for k in dict.fromkeys(k for c in cfgs for k in c)
                  if len({json.dumps(c.get(k), sort_keys=True) for c in cfgs}) > 1]  # fmt: skip
        for i, (b, k) in enumerate(zip(base, keys)):
            if b == name:
                values = ", ".join(f"{d}={_short(group[k].get(d))}" for d in differ)
                labels[i] = f"{name} ({values or k})"
    return labels


def _short(value: Any) -> str:
    """A config value for a label: a path by its file name."""
    text = value if isinstance(value, str) else json.dumps(value)
    return Path(text).name if isinstance(value, str) and "/" in value else text


def _stats(confidences: Sequence[float], top1: Sequence[bool]) -> dict[str, Any]:
    conf = torch.tensor(confidences, dtype=torch.float64)
    return {
        "n": len(conf),
        "median_confidence": float(median(conf)),
        "share_ge_99": float((conf >= 0.99).double().mean()),
        "share_ge_99_99": float((conf >= 0.9999).double().mean()),
        "share_top1": float(torch.tensor(top1).double().mean()),
    }


def transfer(
    runs: Sequence[str | Path],
    models: Sequence[str],
    out: str | Path,
    *,
    device: str = "cpu",
    user_model_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Score the champions of ``runs`` with each of ``models``; write ``out``.

    Args:
        runs: evolve or ascent run directories.
        models: ``"name"`` or ``"name@weights"`` (e.g. the paper's own LeNet:
            ``"lenet-mnist@lenet_iter_10000.caffemodel"``).
        out: a new directory: ``transfer.json`` (every cell, with per-champion
            confidences), ``transfer.csv`` (one row per cell), ``config.json``,
            ``summary.json``.
        device: where the classifiers run.
        user_model_options: preprocessing of the ``module.path:factory`` models among
            ``models`` (``input_size``, ``mean``, ``std``, ``labels``).

    Returns:
        The summary: ``rows`` (one per run and model) and ``pooled`` (one per setting and
        model), each with the ``COLUMNS``.
    """
    distributed.single_process("transfer")
    if not runs:
        raise ConfigError("give at least one run directory")
    if not models:
        raise ConfigError("give at least one model (--models A,B)")
    t0 = time.perf_counter()
    distributed.check_device(device)
    parsed = [parse_model(m) for m in models]
    loaded = [(Path(r), *_champions(Path(r))) for r in runs]
    user = user_model_options or {}
    check_user_model_options(user.get("input_size"), user.get("std"))
    if user and not any(":" in n for n, _ in parsed):
        raise ConfigError(f"{', '.join(user)}: for module:factory models, and none is given")
    classifiers = [
        (model_title(n, w),
         create_classifier(n, weights=w, device=device, **(user if ":" in n else {})))
        for n, w in parsed
    ]  # fmt: skip
    rows: list[dict[str, Any]] = []
    cells: list[dict[str, Any]] = []
    settings = _setting_labels([config for _, config, _, _ in loaded])
    for (run, _, classes, images), setting in zip(loaded, settings):  # errors before writes
        for title, clf in classifiers:
            cell = _score(clf, run, classes, images)
            cells.append({"run": str(run), "setting": setting, "model": title, **cell})
            stats = _stats(cell["confidences"], cell["top1"])
            rows.append({"run": str(run), "setting": setting, "model": title, **stats})
    rundir.prepare(out)
    out = Path(out)
    pooled = []
    for setting in dict.fromkeys(c["setting"] for c in cells):
        for title, _ in classifiers:
            mine = [c for c in cells if c["setting"] == setting and c["model"] == title]
            conf = [v for c in mine for v in c["confidences"]]
            top1 = [v for c in mine for v in c["top1"]]
            pooled.append(
                {"setting": setting, "runs": len(mine), "model": title, **_stats(conf, top1)}
            )
    _io.write_json(
        out / "config.json",
        {
            "kind": "transfer",
            "fooling_version": __version__,
            "runs": [str(r) for r, *_ in loaded],
            "models": [t for t, _ in classifiers],
            "user_model_options": user,
            "device": device,
        },
    )
    _io.write_json(out / "transfer.json", {"cells": cells})
    header = ["run", "setting", "model", *COLUMNS]
    rundir.write_csv(out / "transfer.csv", header, [[r[h] for h in header] for r in rows])
    summary = {
        "kind": "transfer",
        "models": [t for t, _ in classifiers],
        "rows": rows,
        "pooled": pooled,
        "seconds": time.perf_counter() - t0,
    }
    _io.write_json(out / "summary.json", summary)
    return summary
