"""The evolution runner: the one loop of DESIGN.md, plus the run directory around it."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from .. import __version__, distributed, rundir
from .._stats import median
from ..encodings import create_encoding
from ..errors import ConfigError, RunDirError, UnknownNameError, first_line
from ..models import Classifier
from ..search import MapElites
from .config import EvolveConfig, load_classifier

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class GenerationStats:
    """What a progress display needs after each generation."""

    generation: int
    generations: int
    evaluations: int
    median: float
    min: float
    max: float
    counts: tuple[int, ...]  # classes at or above each threshold
    thresholds: tuple[float, ...]
    num_classes: int
    elapsed: float


Callback = Callable[[GenerationStats], None]


class Evolution:
    """A configured run: classifier, encoding, search, and their run directory."""

    def __init__(self, cfg: EvolveConfig, classifier: Classifier | None = None):
        """``classifier``: the network to fool, instead of building ``cfg.model`` (a network
        given through the Python API; or one loaded once for many short runs, as retraining
        does)."""
        self.cfg = cfg
        device = distributed.init(cfg.device)  # this rank's
        self.classifier, self.targets = load_classifier(
            classifier,
            cfg.model,
            cfg.classes,
            weights=cfg.weights,
            device=device,
            batch_size=cfg.eval_batch_size,
            autocast=cfg.autocast,
            crop=cfg.crop,
            **cfg.model_options(),
        )
        self._fingerprint: str | None = None  # of the classifier, for checkpoints
        spec = self.classifier.spec
        # Genomes render at their own resolution; the classifier resizes / crops to its input.
        size = cfg.size or spec.image_size
        channels = spec.input_channels
        settings: dict[str, Any] = {"channels": channels, "size": size, "device": device}
        if cfg.encoding == "direct":
            settings.update(
                colour=cfg.colour if channels == 3 else "rgb",
                dtype=cfg.genome_dtype or ("uint8" if channels == 3 else "float32"),
                mutation_rate=cfg.mutation_rate,
                eta_m=cfg.eta_m,
                crossover=cfg.crossover,
                crossover_rate=cfg.crossover_rate,
                eta_c=cfg.eta_c,
                halve_every=cfg.halve_every,
            )
        elif cfg.encoding == "cppn":
            settings.update(inputs=cfg.cppn_inputs, colour=cfg.colour)
        self.encoding = create_encoding(cfg.encoding, **settings)
        self.search = MapElites(
            self.encoding,
            len(self.targets),
            batch_size=cfg.batch_size,
            init_size=cfg.init_size,
            seed=cfg.seed,
            device=device,
        )
        self._target_index = torch.tensor(self.targets, device=device)
        self._all = self.targets == list(range(spec.num_classes))
        self.history: list[torch.Tensor] = []  # (K,) champion confidences per generation
        self.elapsed: list[float] = []

    @property
    def labels(self) -> list[str]:
        return [self.classifier.spec.label(k) for k in self.targets]

    def evaluate(self, images: torch.Tensor) -> torch.Tensor:
        """Probabilities ``(N, K_targets)`` of rendered images."""
        probs = self.classifier.probs(images)
        return probs if self._all else probs[:, self._target_index]

    @property
    def chunk(self) -> int:
        """Genomes rendered and scored at once: ``eval_batch_size``, else 1024, fewer for
        large images so one chunk's float images stay near 256 MB (341 at 3x256x256)."""
        if self.cfg.eval_batch_size is not None:
            return self.cfg.eval_batch_size
        pixels = self.encoding.channels * self.encoding.size**2
        return max(1, min(1024, (1 << 26) // pixels))

    def render_uint8(self, genomes: Any) -> torch.Tensor:
        """Images ``(N, C, H, W)`` as uint8 levels, rendered a chunk at a time (1000
        ImageNet champions take 197 MB so, not several GB of float temporaries)."""
        n = self.encoding.count(genomes)
        parts = []
        for start in range(0, n, self.chunk):
            index = torch.arange(start, min(n, start + self.chunk))
            part = self.encoding.take(genomes, index.to(self.search.generator.device))
            parts.append(self.encoding.render(part).mul_(255.0).round_().to(torch.uint8).cpu())
        return torch.cat(parts)

    def score(self, genomes: Any) -> torch.Tensor:
        """Render and score a batch in fixed chunks of ``eval_batch_size`` genomes, shared
        among the ranks when launched by torchrun; ``(N, K_targets)`` on every rank."""
        n = self.encoding.count(genomes)
        chunk = self.chunk

        def score_chunk(start: int, stop: int) -> torch.Tensor:
            part = genomes
            if (start, stop) != (0, n):
                index = torch.arange(start, stop, device=self.search.generator.device)
                part = self.encoding.take(genomes, index)
            return self.evaluate(self.encoding.render(part))

        return distributed.sharded_scores(
            n, chunk, score_chunk, len(self.targets), self.classifier.device
        )

    def config_json(self) -> dict[str, Any]:
        return {
            "kind": "evolve",
            "fooling_version": __version__,
            "torch_version": torch.__version__,
            "seed": self.cfg.seed,
            "evolve": self.cfg.to_dict(),
            "classifier": self.classifier.spec.to_dict(),
            "encoding": self.encoding.settings(),
            "search": {
                "algorithm": "map-elites",
                "batch_size": self.cfg.batch_size,
                "init_size": self.cfg.init_size,
                "selection": "uniform over classes",
                "replacement": "strictly better, every class",
            },
            "targets": self.targets,
            "target_labels": self.labels,
            "thresholds": list(self.search.archive.thresholds),
        }

    # -- the loop --------------------------------------------------------------------------

    def run(self, out: Path, *, callback: Callback | None = None, fresh: bool = True) -> dict:
        """Run (or continue) to ``cfg.generations`` and write the whole run directory."""
        cfg = self.cfg
        main = distributed.is_main()  # only rank 0 writes or reports
        if fresh and main:
            rundir.write_config_json(out, self.config_json())
        distributed.warn_idle_ranks(cfg.batch_size, self.chunk, "offspring", "--eval-batch-size")
        t0 = time.perf_counter() - (self.elapsed[-1] if self.elapsed else 0.0)
        search = self.search
        while search.generation <= cfg.generations:
            gen = search.generation
            genomes = search.ask()
            search.tell(genomes, self.score(genomes))
            self.history.append(search.archive.confidence.detach().cpu())
            self.elapsed.append(time.perf_counter() - t0)
            if callback is not None and main:
                callback(self.stats(gen))
            if main and (gen == cfg.generations or (gen and gen % cfg.checkpoint_every == 0)):
                self.checkpoint(out)
        summary = self.write_results(out) if main else {}
        distributed.barrier()
        return summary

    def evaluations(self, gen: int) -> int:
        return self.cfg.init_size + gen * self.cfg.batch_size

    def stats(self, gen: int) -> GenerationStats:
        conf = self.history[gen]
        archive = self.search.archive
        return GenerationStats(
            generation=gen,
            generations=self.cfg.generations,
            evaluations=self.evaluations(gen),
            median=float(median(conf)),
            min=float(conf.min()),
            max=float(conf.max()),
            counts=tuple(int((conf.double() >= t).sum()) for t in archive.thresholds),
            thresholds=archive.thresholds,
            num_classes=len(self.targets),
            elapsed=self.elapsed[gen],
        )

    # -- persistence -----------------------------------------------------------------------

    def checkpoint(self, out: Path) -> None:
        if self._fingerprint is None:
            self._fingerprint = self.classifier.fingerprint()
        state = {
            "search": self.search.state_dict(),
            "history": torch.stack(self.history),
            "elapsed": self.elapsed,
            "config": self.cfg.to_dict(),
            "classifier": self._fingerprint,
        }
        rundir.save_checkpoint(
            out,
            self.search.generation - 1,
            state,
            lambda path: self.encoding.save(self.search.champions, path),
        )
        self.write_metrics(out)

    def restore(self, out: Path) -> None:
        state, champions_path = rundir.load_checkpoint(out)
        if not isinstance(state, dict) or not {"search", "history", "elapsed"} <= state.keys():
            raise RunDirError(f"checkpoint in {out} is not a fooling evolve checkpoint")
        try:
            same = EvolveConfig.from_dict(state.get("config") or {}) == self.cfg
        except (ConfigError, TypeError):
            same = False
        if not same:
            raise RunDirError(f"checkpoint in {out} was written by a different config")
        rundir.check_same_classifier(out, state.get("classifier"), self.classifier)
        champions = self.encoding.load(champions_path)
        if self.encoding.count(champions) != len(self.targets):
            raise RunDirError(
                f"checkpoint in {out} holds {self.encoding.count(champions)} champions "
                f"for {len(self.targets)} classes"
            )
        try:
            self.search.load_state_dict(state["search"], champions)
            self.history = list(state["history"].unbind(0))
            self.elapsed = list(state["elapsed"])
        except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as e:
            raise RunDirError(f"checkpoint in {out} is damaged: {first_line(e)}") from None

    def write_metrics(self, out: Path) -> None:
        thresholds = self.search.archive.thresholds
        header = ["generation", "evaluations", "median", "min", "max"]
        header += [f"n_ge_{100 * t:g}" for t in thresholds]
        header += [f"conf_{k}" for k in self.targets]
        rows = []
        for gen, conf in enumerate(self.history):
            values = conf.tolist()
            row: list[Any] = [
                gen,
                self.evaluations(gen),
                repr(float(median(conf))),
                repr(min(values)),
                repr(max(values)),
            ]
            row += [int((conf.double() >= t).sum()) for t in thresholds]
            row += [repr(v) for v in values]
            rows.append(row)
        rundir.write_csv(out / "metrics.csv", header, rows)

    def write_results(self, out: Path) -> dict:
        """Champions (genomes, PNGs, grid), archive.json, metrics.csv and summary.json."""
        archive = self.search.archive
        champions = self.search.champions
        self.encoding.save(champions, out / rundir.champions_file(self.encoding.name))
        images = self.render_uint8(champions)
        conf = archive.confidence.cpu().tolist()
        labels = self.labels
        names = rundir.write_images(out, images, labels, conf, self.targets)
        rundir.write_grid(out / "grid.png", images, labels, conf)
        first = archive.first_crossing.cpu().tolist()
        found = archive.found.cpu().tolist()
        thresholds = archive.thresholds
        classes = [
            {
                "class": k,
                "label": lab,
                "confidence": c,
                "generation": f,
                "image": f"images/{n}",
                "first_generation": {f"{t:g}": first[i][j] for i, t in enumerate(thresholds)},
            }
            for j, (k, lab, c, f, n) in enumerate(zip(self.targets, labels, conf, found, names))
        ]
        _write(out / "archive.json", {"thresholds": list(thresholds), "classes": classes})
        self.write_metrics(out)
        gens = self.cfg.generations
        all_by: dict[str, int | None] = {}
        seconds_by: dict[str, float | None] = {}
        for i, t in enumerate(thresholds):
            row = first[i]
            g = max(row) if min(row) >= 0 else None
            all_by[f"{t:g}"] = g
            seconds_by[f"{t:g}"] = self.elapsed[g] if g is not None else None
        final = self.stats(gens)
        summary = {
            "kind": "evolve",
            "model": self.cfg.model,
            "encoding": self.encoding.name,
            "seed": self.cfg.seed,
            "generations": gens,
            "evaluations": self.evaluations(gens),
            "num_classes": len(self.targets),
            "median": final.median,
            "min": final.min,
            "max": final.max,
            "classes_at_or_above": {f"{t:g}": n for t, n in zip(thresholds, final.counts)},
            "generation_all_classes_reached": all_by,
            "seconds_all_classes_reached": seconds_by,
            "seconds": self.elapsed[gens],
            "seconds_per_generation": self.elapsed[gens] / (gens + 1),
            "confidences": conf,
        }
        _write(out / "summary.json", summary)
        return summary


def check_same_config(cfg: EvolveConfig, expect: Mapping[str, Any]) -> None:
    """Raise a one-line ``RunDirError`` naming the first field of ``expect`` that differs
    from ``cfg`` (``--seed 3 differs from the run's config (seed 0); ...``)."""
    EvolveConfig.check_keys(expect)
    for key, value in expect.items():
        stored = getattr(cfg, key)
        if isinstance(value, list):
            value = tuple(value)
        if value != stored:
            flag = "--" + key.replace("_", "-")
            raise RunDirError(
                f"{flag} {_show(value)} differs from the run's config ({key} {_show(stored)}); "
                "a resumed run keeps its config"
            )


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _write(path: Path, obj: Any) -> None:
    from .. import _io

    _io.write_json(path, obj)


def evolve(
    cfg: EvolveConfig,
    out: str | Path,
    *,
    callback: Callback | None = None,
    classifier: Classifier | None = None,
) -> dict[str, Any]:
    """Run MAP-Elites as configured into a new run directory ``out``; returns the summary.

    Args:
        cfg: the run's settings.
        out: a new (or empty) run directory.
        callback: called on rank 0 after every generation with its ``GenerationStats``.
        classifier: a network to fool instead of ``cfg.model`` (and its weights and
            preprocessing options): any ``nn.Module`` that returns logits, wrapped as
            ``Classifier(module, ClassifierSpec(...))``. The run records its spec's name as
            the model; ``resume(out, classifier=...)`` continues it with the same network.
    """
    if classifier is not None:
        cfg = dataclasses.replace(cfg, model=classifier.spec.name)
    evo = Evolution(cfg, classifier)  # every config and model error before anything is written
    distributed.prepare_run_dir(out)  # on rank 0; every rank stops on its error
    return evo.run(Path(out), callback=callback)


SAME_PATH = "every machine must see the run directory at the same path"


def _read_config(out: Path, expect: Mapping[str, Any]) -> EvolveConfig:
    """The evolve config of run ``out``, which must hold every field of ``expect``."""
    config = rundir.read_json(out / "config.json")
    if not isinstance(config, dict) or config.get("kind") != "evolve":
        raise RunDirError(f"{out} does not hold an evolve run")
    try:
        cfg = EvolveConfig.from_dict(config["evolve"])
    except (KeyError, TypeError, ConfigError) as e:
        raise RunDirError(f"{out / 'config.json'} holds no valid evolve config: {e}") from None
    check_same_config(cfg, expect)
    return cfg


def resume(
    out: str | Path,
    *,
    callback: Callback | None = None,
    expect: Mapping[str, Any] | None = None,
    classifier: Classifier | None = None,
) -> dict[str, Any]:
    """Continue a killed run from its last checkpoint; the result equals an unbroken run.

    Args:
        out: the run directory.
        callback: called after every generation.
        expect: ``EvolveConfig`` fields the caller asked for (the options given with
            ``--resume``); each must equal the run's own, since a resumed run keeps its config.
        classifier: the network a run started with ``evolve(..., classifier=...)`` fooled;
            it must be the same (name, weights and preprocessing).

    Raises:
        RunDirError: ``out`` holds no evolve run, its checkpoint is corrupt, or ``expect``
            differs from its config.
    """
    out = Path(out)
    distributed.join()  # before reading: a machine that cannot see ``out`` stops every rank
    cfg = distributed.together(
        lambda: _read_config(out, expect or {}),
        partial=SAME_PATH,
    )
    if distributed.unequal(cfg) is not None:  # copies of the run, edited apart
        raise RunDirError(f"the machines see different configs in {out}; {SAME_PATH}")
    if classifier is not None and classifier.spec.name != cfg.model:
        raise RunDirError(
            f"{out} fooled {cfg.model!r}; the classifier given is {classifier.spec.name!r}"
        )
    try:
        evo = Evolution(cfg, classifier)
    except UnknownNameError as e:
        raise UnknownNameError(
            f"{e} (a network given to evolve() in Python resumes with "
            "fooling.resume(RUN_DIR, classifier=...))"
        ) from None
    if distributed.is_main():
        rundir.remove_tmp_files(out)

    def restore() -> int | None:
        if distributed.is_main():  # the one rank that writes
            rundir.check_writable(out)
        if not (out / "checkpoint" / "LATEST").exists():
            return None  # killed before the first checkpoint: start again from generation 0
        evo.restore(out)
        return evo.search.generation

    restored = distributed.together(restore, partial=SAME_PATH)
    seen = distributed.unequal(restored)
    if seen is not None:  # every rank must continue the same search
        where = ", ".join(
            f"rank {r}: {'no checkpoint' if g is None else f'from generation {g}'}"
            for r, g in enumerate(seen)
        )
        raise RunDirError(f"the machines see different checkpoints of {out} ({where}); {SAME_PATH}")
    if restored is None:
        log.info("%s has no checkpoint yet; starting from generation 0", out)
    else:
        log.info("%s: resuming at generation %d from its checkpoint", out, restored)
    return evo.run(out, callback=callback, fresh=False)
