"""Read a finished run directory (``fooling.rundir``) into a small, plotting-ready record.

Only files are read — ``config.json``, ``summary.json``, ``archive.json``, ``metrics.csv`` and
``images/*.png`` — so a report never needs the classifier, the encoding or a GPU. Both run
kinds are understood: ``evolve`` (rows of ``metrics.csv`` are generations) and ``ascent``
(rows are gradient steps; the extra ``prob_<k>`` columns are ignored).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RunDirError
from ..rundir import read_csv, read_json

# Config keys that do not change what a run computes (or only its seed): runs that differ in
# these alone are repeats of one setting, and the report takes medians across them.
KINDS = ("evolve", "ascent")  # run kinds read into RunData; others (retrain, transfer) are
# shown as OtherRun: their summary's tables and their own figures

_NOT_SETTING = frozenset({"seed", "device", "eval_batch_size", "checkpoint_every", "batch_size"})
_NOT_SETTING_BY_KIND = {
    # Ascent's batch_size only splits the forward passes; evolution's is the offspring count.
    "ascent": _NOT_SETTING,
    "evolve": _NOT_SETTING - {"batch_size"},
}


def setting_config(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """What makes a run's setting, from its ``config.json``: the config of its kind without
    the seed and the keys that do not change results (device, evaluation batching); None
    where the config has no such part. The classes are the resolved ``targets``, so that
    ``--classes 0-9`` and the default are one setting on a 10-class network."""
    kind = config.get("kind")
    if not isinstance(kind, str):
        return None
    cfg = config.get(kind)
    if not isinstance(cfg, Mapping):
        return None
    skip = _NOT_SETTING_BY_KIND.get(kind, _NOT_SETTING)
    if "targets" in config:
        skip = skip | {"classes"}
    key = {k: v for k, v in cfg.items() if k not in skip}
    if "targets" in config:
        key["targets"] = config["targets"]
    return key


@dataclasses.dataclass(frozen=True, eq=False)
class Champion:
    """One class's champion as ``archive.json`` records it.

    Attributes:
        index: the class index in the model's output.
        label: the class name.
        confidence: the champion's confidence (of its 8-bit PNG).
        generation: the generation (or ascent step) it was found.
        image: the PNG's path, or ``None`` where the file is missing.
        first_generation: threshold key (``"0.9999"``) -> the first generation (or step) the
            class's champion reached it; ``None``: never.
    """

    index: int
    label: str
    confidence: float
    generation: int
    image: Path | None
    first_generation: dict[str, int | None]


@dataclasses.dataclass(frozen=True, eq=False)
class RunData:
    """A run directory, read.

    Attributes:
        path: the run directory, as given.
        kind: ``"evolve"`` or ``"ascent"``.
        config: ``config.json``.
        summary: ``summary.json``.
        thresholds: the confidence thresholds ``(T,)``, ascending (``0.99, 0.999, 0.9999``).
        champions: one per target class ``(K,)``, in the order of ``metrics.csv``'s columns.
        generation: ``(G,)`` the generation (or step) of each ``metrics.csv`` row.
        median: ``(G,)`` the median champion confidence after each row.
        confidence: ``(G, K)`` each class's champion confidence after each row (NaN columns
            where ``metrics.csv`` has no per-class columns).
        counts: ``(G, T)`` classes at or above each threshold after each row.
    """

    path: Path
    kind: str
    config: dict[str, Any]
    summary: dict[str, Any]
    thresholds: tuple[float, ...]
    champions: tuple[Champion, ...]
    generation: np.ndarray
    median: np.ndarray
    confidence: np.ndarray
    counts: np.ndarray

    @property
    def name(self) -> str:
        """The run directory's own name."""
        return self.path.resolve().name if self.path.name in ("", ".", "..") else self.path.name

    @property
    def model(self) -> str:
        return str(self.summary.get("model") or _part(self.config, "classifier").get("name", "?"))

    @property
    def encoding(self) -> str:
        """``direct`` / ``cppn`` for evolution, ``gradient ascent <preset>`` for ascent."""
        if self.kind == "ascent":
            preset = self.summary.get("preset") or _part(self.config, "ascent").get("preset")
            return f"gradient ascent {preset}" if preset else "gradient ascent"
        return str(self.summary.get("encoding", "?"))

    @property
    def seed(self) -> Any:
        return self.summary.get("seed", self.config.get("seed"))

    @property
    def num_classes(self) -> int:
        return len(self.champions)

    @property
    def unit(self) -> str:
        """What a row of ``metrics.csv`` counts: ``"generation"`` or ``"step"``."""
        return "step" if self.kind == "ascent" else "generation"

    @property
    def length(self) -> int:
        """Generations run (evolution) or gradient steps configured (ascent)."""
        if self.kind == "ascent":
            return int(self.summary.get("steps", self.summary["generations"] + 1))
        return int(self.summary["generations"])

    @property
    def length_text(self) -> str:
        return f"{self.length} steps" if self.kind == "ascent" else str(self.length)

    def setting(self) -> str:
        """A key equal for runs of one setting: the resolved config of the run's kind without
        the seed and the keys that do not change results (device, evaluation batching)."""
        key: Any = setting_config(self.config)
        if key is None:  # an older or hand-written config: fall back on the summary's words
            key = [self.model, self.encoding, self.length]
        key = {"kind": self.kind, "config": key, "classes": [c.index for c in self.champions]}
        return json.dumps(key, sort_keys=True, default=str)

    def setting_label(self) -> str:
        """``lenet-mnist · direct · 200 generations · 10 classes``."""
        what = f"{self.length} steps" if self.kind == "ascent" else f"{self.length} generations"
        return f"{self.model} · {self.encoding} · {what} · {self.num_classes} classes"

    def threshold_key(self, t: float) -> str:
        """The key of threshold ``t`` in ``summary.json`` and ``archive.json`` (``"0.9999"``)."""
        return f"{t:g}"


@dataclasses.dataclass(frozen=True, eq=False)
class OtherRun:
    """A run directory of another kind (``retrain``, ``transfer``): shown as its summary's
    numbers and tables and the figures it drew itself.

    Attributes:
        path: the run directory, as given.
        kind: ``config.json``'s ``kind``.
        config: ``config.json``.
        summary: ``summary.json``.
        figures: the PNG files at the top of the directory (e.g. retrain's ``rounds.png``).
    """

    path: Path
    kind: str
    config: dict[str, Any]
    summary: dict[str, Any]
    figures: tuple[Path, ...]


def load_runs(paths: Iterable[str | Path] | str | Path) -> tuple[list[RunData], list[OtherRun]]:
    """Every run named by ``paths`` (``find_runs``), read: evolve and ascent runs as
    ``RunData``, other kinds as ``OtherRun``, each list in the order found.

    Raises:
        RunDirError: as ``find_runs`` and ``load_run``.
    """
    runs: list[RunData] = []
    others: list[OtherRun] = []
    for path in find_runs(paths):
        config = _object(read_json(path / "config.json"), path / "config.json")
        kind = str(config.get("kind") or "evolve")
        if kind in KINDS:
            runs.append(load_run(path))
        else:
            others.append(_load_other(path, kind, config))
    return runs, others


def _load_other(path: Path, kind: str, config: dict[str, Any]) -> OtherRun:
    if not (path / "summary.json").is_file():
        raise RunDirError(
            f"{path} has no summary.json: the {kind} run did not finish (resume it or run it again)"
        )
    summary = _object(read_json(path / "summary.json"), path / "summary.json")
    figures = tuple(sorted(p for p in path.glob("*.png") if p.is_file()))
    return OtherRun(path=path, kind=kind, config=config, summary=summary, figures=figures)


def load_run(path: str | Path) -> RunData:
    """Read one finished run directory.

    Args:
        path: a directory written by ``fooling evolve`` or ``fooling ascent``.

    Returns:
        The run's ``RunData``.

    Raises:
        RunDirError: ``path`` is not a run directory, the run did not finish (no
            ``summary.json``), or one of its files is missing or malformed.
    """
    path = Path(path)
    if not path.is_dir():
        raise RunDirError(f"run directory {path} not found")
    if not (path / "config.json").is_file():
        raise RunDirError(f"{path} is not a run directory (no config.json)")
    config = _object(read_json(path / "config.json"), path / "config.json")
    kind = str(config.get("kind") or "evolve")
    if kind not in KINDS:
        raise RunDirError(f"{path} holds a {kind} run, not an {' or '.join(KINDS)} run")
    if not (path / "summary.json").is_file():
        raise RunDirError(
            f"{path} has no summary.json: the run did not finish (resume it or run it again)"
        )
    summary = _object(read_json(path / "summary.json"), path / "summary.json")
    archive = _object(read_json(path / "archive.json"), path / "archive.json")
    try:
        thresholds = tuple(sorted(float(t) for t in archive["thresholds"]))
        champions = tuple(_champion(path, c) for c in archive["classes"])
        summary["median"] = _probability(summary["median"], "median")
        summary["generations"] = int(summary["generations"])
        if "steps" in summary:
            summary["steps"] = int(summary["steps"])
        for key in ("classes_at_or_above", "generation_all_classes_reached"):
            summary[key] = _int_map(summary.get(key), key)
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise RunDirError(f"{path}: malformed archive.json or summary.json ({_what(e)})") from None
    if not champions:
        raise RunDirError(f"{path}/archive.json lists no classes")
    generation, median, confidence, counts = _metrics(path, champions, thresholds)
    return RunData(
        path=path,
        kind=kind,
        config=config,
        summary=summary,
        thresholds=thresholds,
        champions=champions,
        generation=generation,
        median=median,
        confidence=confidence,
        counts=counts,
    )


def find_runs(paths: Iterable[str | Path] | str | Path) -> list[Path]:
    """Run directories named by ``paths``: each is a run directory (it has ``config.json``)
    or a folder whose immediate subfolders with a ``config.json`` are taken, sorted by name.

    Args:
        paths: run directories or folders of run directories (e.g. ``runs/``), or one.

    Returns:
        The run directories, in the order given, each once.

    Raises:
        RunDirError: a path does not exist, or is neither a run directory nor holds one, or
            no path was given.
    """
    if isinstance(paths, (str, Path)):  # one path, not a sequence of characters
        paths = [paths]
    found: list[Path] = []
    seen: set[Path] = set()
    for p in map(Path, paths):
        if not p.exists():
            raise RunDirError(f"run directory {p} not found")
        if (p / "config.json").is_file():
            runs = [p]
        elif p.is_dir():
            runs = sorted(
                (q for q in p.iterdir() if q.is_dir() and (q / "config.json").is_file()),
                key=lambda q: q.name,
            )
            if not runs:
                raise RunDirError(
                    f"{p} is not a run directory (no config.json) and holds no run directories"
                )
        else:
            raise RunDirError(f"{p} is not a run directory")
        for r in runs:
            if r.resolve() not in seen:
                seen.add(r.resolve())
                found.append(r)
    if not found:
        raise RunDirError("no run directories given")
    return found


def _object(obj: Any, path: Path) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise RunDirError(f"{path} does not hold a JSON object")
    return obj


def _part(config: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``config[key]`` where it is an object, else an empty one."""
    part = config.get(key)
    return part if isinstance(part, Mapping) else {}


def _int_map(value: Any, what: str) -> dict[str, int | None]:
    """A summary's ``{threshold: count or generation or null}`` (absent: empty)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} is not an object")
    return {str(k): None if v is None else int(v) for k, v in value.items()}


def _what(e: Exception) -> str:
    return f"missing key {e}" if isinstance(e, KeyError) else str(e)


def _probability(value: Any, what: str) -> float:
    """``value`` as a float in [0, 1] (a NaN or an infinity is a malformed file)."""
    p = float(value)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{what} {value!r} is not a probability")
    return p


def _champion(run: Path, c: Any) -> Champion:
    if not isinstance(c, Mapping):
        raise TypeError(f"a class entry is {type(c).__name__}, not an object")
    image = c.get("image")
    image_path = run / image if isinstance(image, str) else None
    if image_path is not None and not image_path.is_file():
        image_path = None
    first = {
        str(k): (int(v) if v is not None and int(v) >= 0 else None)
        for k, v in dict(c.get("first_generation") or {}).items()
    }
    return Champion(
        index=int(c["class"]),
        label=str(c.get("label", c["class"])),
        confidence=_probability(c["confidence"], "confidence"),
        generation=int(c.get("generation", -1)),
        image=image_path,
        first_generation=first,
    )


def _metrics(
    run: Path, champions: Sequence[Champion], thresholds: Sequence[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``metrics.csv`` as ``generation (G,)``, ``median (G,)``, ``confidence (G, K)`` and
    ``counts (G, T)``."""
    path = run / "metrics.csv"
    if not path.is_file():
        raise RunDirError(f"{path} not found: is {run} a finished run directory?")
    rows = read_csv(path)
    if not rows:
        raise RunDirError(f"{path} has no rows")
    header = rows[0].keys()
    conf_cols = [f"conf_{c.index}" for c in champions]
    have_conf = all(col in header for col in conf_cols)
    count_cols = [f"n_ge_{100 * t:g}" for t in thresholds]
    have_counts = all(col in header for col in count_cols)
    try:
        generation = np.array([int(r["generation"]) for r in rows], dtype=np.int64)
        if have_conf:
            confidence = np.array([[float(r[c]) for c in conf_cols] for r in rows])
        else:
            confidence = np.full((len(rows), len(champions)), math.nan)
        if "median" in header:
            median = np.array([float(r["median"]) for r in rows])
        elif have_conf:
            median = np.median(confidence, axis=1)
        else:
            raise KeyError("median")
        if have_counts:
            counts = np.array([[int(r[c]) for c in count_cols] for r in rows], dtype=np.int64)
        else:
            counts = (confidence[:, :, None] >= np.asarray(thresholds)).sum(axis=1)
    except (KeyError, TypeError, ValueError) as e:
        raise RunDirError(f"{path}: malformed ({_what(e)})") from None
    return generation, median, confidence, counts
