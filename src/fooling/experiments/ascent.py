"""The gradient-ascent runner (PAPER.md §5): a classifier, every target class in one batch, and
a run directory in the same format as evolution (``fooling.rundir``).

What differs from an evolution run directory, and why:

- ``config.json`` has ``kind: "ascent"`` and the resolved ``ascent`` config (preset included).
- ``metrics.csv`` has one row per step with the evolution columns (``generation`` is the step:
  the number of gradient updates behind the images scored in that row; ``evaluations`` counts
  images through forward and backward), ``conf_<k>`` the best quantised confidence so far (as
  a champion's), then ``prob_<k>``: the float image's probability at that step.
- ``archive.json`` has the evolution keys per class (``confidence``, ``generation`` found,
  ``image``, ``first_generation`` per threshold, all for the 8-bit image) plus ``first_top1``,
  ``steps_run`` and ``float``: the released code's record on the un-quantised image.
- There are no genomes and no checkpoint: the images are the result, and a run is short
  (a killed run leaves ``config.json`` alone, and readers report the missing summary).

Under ``torchrun`` the target classes are shared among the ranks in fixed chunks of
``batch_size`` classes (``fooling.distributed.shard``): every rank draws the same start image,
runs the ascent of its chunks, and rank 0 gathers the results and writes the run directory,
bit-identical to one process. With ``batch_size`` unset all classes are one chunk, which one
rank runs; the progress display shows rank 0's classes.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import __version__, _io, distributed, rundir
from .._stats import median
from ..errors import ConfigError, UnknownNameError
from ..models import Classifier
from ..search.gradient import (
    AscentResult,
    AscentStats,
    GradientAscent,
    check_blur_fits,
    concat_results,
    result_to,
)
from .config import DictConfig, check_seed, check_user_model_options, load_classifier

log = logging.getLogger(__name__)

# The released code's four settings for the supplementary images (run_chosen_supplementary.sh;
# hyperparam_search.py, max_lr 1e7), hp seeds replayed through numpy's legacy RNG (PAPER.md §5).
_BASE: dict[str, Any] = {
    "max_lr": 1e7,
    "blur_radius": 0.0,
    "blur_every": 1,
    "small_val_percentile": 0.0,
    "small_norm_percentile": 0.0,
    "px_benefit_percentile": 0.0,
    "px_abs_benefit_percentile": 0.0,
}
PRESETS: dict[str, dict[str, Any]] = {
    "hp-1": {**_BASE, "decay": 0.0, "steps": 500, "early_prog": 0.02, "late_prog_mult": 0.1},
    "hp169": {
        **_BASE,
        "decay": 0.01,
        "steps": 1500,
        "early_prog": 0.03,
        "late_prog_mult": 0.02,
        "blur_every": 4,
    },
    "hp188": {
        **_BASE,
        "decay": 0.001,
        "steps": 1000,
        "early_prog": 0.03,
        "late_prog_mult": 0.05,
        "blur_radius": 0.4,
        "blur_every": 2,
    },
    "hp360": {
        **_BASE,
        "decay": 0.001,
        "steps": 1500,
        "early_prog": 0.03,
        "late_prog_mult": 0.05,
        "blur_radius": 0.3,
        "blur_every": 1,
        "small_norm_percentile": 20.0,
        "px_abs_benefit_percentile": 20.0,
    },
}
PRESET_HELP = {
    "hp-1": "hp seed -1: no regularisation, 500 steps (default)",
    "hp169": "hp seed 169: L2 decay 0.01, 1500 steps",
    "hp188": "hp seed 188: decay 0.001, blur 0.4 every 2 steps, 1000 steps",
    "hp360": "hp seed 360: decay 0.001, blur 0.3 every step, 20th-percentile norm and "
    "|benefit| masks, 1500 steps",
}


@dataclasses.dataclass(frozen=True)
class AscentConfig(DictConfig):
    """A gradient-ascent run. Defaults: preset ``hp-1`` on ``lenet-mnist``, every class.

    Attributes:
        model: registered classifier name.
        weights: weights file replacing the model's default ones.
        classes: target class indices (``None``: every class of the model).
        preset: the name of the preset the search settings started from (``PRESETS``); a
            label only — ``from_preset`` fills the settings from it, the constructor does not.
        seed: seeds the start noise.
        device: where the classifier and the images live.
        mean_image: a PNG to use as the mean image instead of the one the classifier's
            preprocessing maps to zero.
        start_image: a PNG to start from (with ``start="image"``).
        steps ... batch_size: ``GradientAscent``'s settings (pixel units: 0-255).
        input_size, mean, std, labels: preprocessing of a ``module.path:factory`` model.
    """

    model: str = "lenet-mnist"
    weights: str | None = None
    classes: tuple[int | str, ...] | None = None
    preset: str = "hp-1"
    seed: int = 0
    device: str = "cpu"
    mean_image: str | None = None
    start_image: str | None = None
    steps: int = 500
    objective: str = "prob"
    start: str = "mean_plus"
    noise_std: float = 1.0
    decay: float = 0.0
    early_prog: float = 0.02
    late_prog_mult: float = 0.1
    max_lr: float = 1e7
    lr: float | None = None
    blur_radius: float = 0.0
    blur_every: int = 1
    small_val_percentile: float = 0.0
    small_norm_percentile: float = 0.0
    px_benefit_percentile: float = 0.0
    px_abs_benefit_percentile: float = 0.0
    stop_at: float | None = None
    batch_size: int | None = None
    input_size: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    labels: str | None = None

    def __post_init__(self) -> None:
        check_seed(self.seed)
        if self.preset not in PRESETS:
            raise UnknownNameError(
                f"unknown preset {self.preset!r}; known presets: {', '.join(PRESETS)}"
            )
        if self.classes is not None:
            if not self.classes:
                raise ConfigError("classes must not be empty")
            if len(set(self.classes)) != len(self.classes):
                raise ConfigError("classes must not repeat")
        if self.start == "image" and self.start_image is None:
            raise ConfigError("start 'image' needs --start-image")
        if self.start_image is not None and self.start != "image":
            raise ConfigError(f"a start image is given but start is {self.start!r}, not 'image'")
        check_user_model_options(self.input_size, self.std)
        self.search()  # every search setting is checked here, before anything runs

    @classmethod
    def from_preset(cls, preset: str = "hp-1", **overrides: Any) -> AscentConfig:
        """The preset's settings, then ``overrides`` (keys are field names)."""
        if preset not in PRESETS:
            raise UnknownNameError(
                f"unknown preset {preset!r}; known presets: {', '.join(PRESETS)}"
            )
        cls.check_keys(overrides)
        return cls(**{**PRESETS[preset], **overrides, "preset": preset})

    def search(self) -> GradientAscent:
        """The configured ``GradientAscent``."""
        names = (
            "steps",
            "objective",
            "start",
            "noise_std",
            "decay",
            "early_prog",
            "late_prog_mult",
            "max_lr",
            "lr",
            "blur_radius",
            "blur_every",
            "small_val_percentile",
            "small_norm_percentile",
            "px_benefit_percentile",
            "px_abs_benefit_percentile",
            "stop_at",
            "batch_size",
        )
        return GradientAscent(**{k: getattr(self, k) for k in names})

    def model_options(self) -> dict[str, Any]:
        """The classifier options this config sets (``create_classifier``)."""
        options = {"input_size": self.input_size, "mean": self.mean, "std": self.std,
                   "labels": self.labels}  # fmt: skip
        return {k: v for k, v in options.items() if v is not None}


def mean_image(classifier: Classifier) -> torch.Tensor:
    """The image ``(C, H, W)`` in [0, 1] that the classifier's preprocessing maps to zero.

    The network sees ``(x * scale - mean) / std``, so it is ``mean / scale`` per channel,
    clipped to [0, 1] — black for ``lenet-mnist`` (no mean), mid-grey (127/255) for
    EfficientNet-Lite's ``(255 x - 127) / 128``, and the per-pixel ImageNet mean (its centre
    227 window) for ``caffenet``, as the released code used.
    """
    return classifier.zero_image()


Callback = Callable[[AscentStats], None]


class Ascent:
    """A configured run: classifier, targets, mean and start images, and the search."""

    def __init__(self, cfg: AscentConfig, classifier: Classifier | None = None):
        self.cfg = cfg
        self.search = cfg.search()
        device = distributed.init(cfg.device)  # this rank's
        self.classifier, self.targets = load_classifier(
            classifier,
            cfg.model,
            cfg.classes,
            weights=cfg.weights,
            device=device,
            **cfg.model_options(),
        )
        side = self.classifier.spec.input_size
        check_blur_fits(self.search.blur_radius, side, side)  # before the run folder exists
        # Image files one machine lacks stop every rank too.
        self.mean, self.start_image = distributed.together(self._images)

    def _images(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The mean image (``cfg.mean_image`` or the classifier's) and the start image."""
        cfg = self.cfg
        mean = (
            self._image(cfg.mean_image, "mean image")
            if cfg.mean_image is not None
            else mean_image(self.classifier)
        )
        start = None
        if cfg.start_image is not None:
            start = self._image(cfg.start_image, "start image")
        return mean, start

    def _image(self, path: str, what: str) -> torch.Tensor:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{what} {p} not found")
        try:
            image = rundir.read_png(p)
        except Exception as e:  # Pillow raises many types for a file that is not an image
            raise ConfigError(f"cannot read {what} {p}: {e}") from None
        spec = self.classifier.spec
        want = (spec.input_channels, spec.input_size, spec.input_size)
        if tuple(image.shape) != want:
            raise ConfigError(
                f"{what} {p} is {image.shape[0]}x{image.shape[1]}x{image.shape[2]} (CxHxW); "
                f"{spec.name} takes {want[0]}x{want[1]}x{want[2]}"
            )
        return image.to(self.classifier.device)

    @property
    def labels(self) -> list[str]:
        return [self.classifier.spec.label(k) for k in self.targets]

    def config_json(self) -> dict[str, Any]:
        return {
            "kind": "ascent",
            "fooling_version": __version__,
            "torch_version": torch.__version__,
            "seed": self.cfg.seed,
            "ascent": self.cfg.to_dict(),
            "classifier": self.classifier.spec.to_dict(),
            "search": {
                "algorithm": "gradient-ascent",
                **self.search.settings(),
                "mean_image": self.cfg.mean_image or "zero of the preprocessing",
                "start_shared_by_all_targets": True,
            },
            "targets": self.targets,
            "target_labels": self.labels,
            "thresholds": list(self.search.thresholds),
        }

    def run(self, out: Path, *, callback: Callback | None = None) -> dict[str, Any]:
        """Run the search into the prepared directory ``out``; returns the summary (``{}``
        on ranks other than 0, which write nothing)."""
        if distributed.world_size() == 1:
            rundir.write_config_json(out, self.config_json())
            result = self.search(
                self.classifier,
                self.targets,
                self.mean,
                start_image=self.start_image,
                generator=torch.Generator().manual_seed(self.cfg.seed),
                callback=callback,
            )
            return self.write_results(out, result)
        main = distributed.is_main()
        if main:
            rundir.write_config_json(out, self.config_json())
        shard = self.run_shard(callback=callback if main else None)
        summary = self.write_results(out, shard) if shard is not None else {}
        distributed.barrier()
        return summary

    def run_shard(self, *, callback: Callback | None = None) -> AscentResult | None:
        """This rank's chunks of classes (``distributed.shard``), gathered on rank 0: the
        whole result there, ``None`` on the other ranks."""
        n = len(self.targets)
        chunk = self.search.batch_size or n
        distributed.warn_idle_ranks(n, chunk, "classes", "--batch-size")
        mine = distributed.shard(n, chunk)
        part = None
        if mine:  # every rank draws the same start image from the seed
            part = self.search(
                self.classifier,
                [self.targets[i] for i in mine],
                self.mean,
                start_image=self.start_image,
                generator=torch.Generator().manual_seed(self.cfg.seed),
                callback=callback,
            )
            part = result_to(part, "cpu")
        gathered = distributed.gather_to_main((mine, part))
        if gathered is None:
            return None
        pieces = [(pos, r) for pos, r in gathered if r is not None]
        result = concat_results([r for _, r in pieces], [pos for pos, _ in pieces])
        return result_to(result, self.classifier.device)

    # -- the run directory -----------------------------------------------------------------

    def write_results(self, out: Path, result: AscentResult) -> dict[str, Any]:
        images = result.images
        index = torch.arange(len(self.targets), device=images.device)
        # The recorded confidences are the PNGs' own: the saved images re-scored in one batch.
        conf = self.classifier.probs(images)[index, result.targets].cpu().tolist()
        drift = max(abs(a - b) for a, b in zip(conf, result.confidence.cpu().tolist()))
        if drift > 1e-5:
            log.warning("re-scoring the champions moved a confidence by %.2g", drift)
        labels = self.labels
        names = rundir.write_images(out, images, labels, conf, self.targets)
        rundir.write_grid(out / "grid.png", images, labels, conf)
        thresholds = result.thresholds
        first_q = result.first_crossing_quantized.cpu().tolist()
        first_f = result.first_crossing.cpu().tolist()
        found = result.found.cpu().tolist()
        top1_q = result.first_top1_quantized.cpu().tolist()
        top1_f = result.first_top1.cpu().tolist()
        steps_run = result.steps_run.cpu().tolist()
        best = result.best_prob.cpu().tolist()
        best_step = result.best_step.cpu().tolist()
        final_prob = result.final_prob.cpu().tolist()
        classes = []
        for j, (k, lab, c, n) in enumerate(zip(self.targets, labels, conf, names)):
            classes.append(
                {
                    "class": k,
                    "label": lab,
                    "confidence": c,
                    "generation": found[j],
                    "image": f"images/{n}",
                    "first_generation": {f"{t:g}": first_q[i][j] for i, t in enumerate(thresholds)},
                    "first_top1": top1_q[j],
                    "steps_run": steps_run[j],
                    "float": {
                        "first_top1": top1_f[j],
                        "first_generation": {
                            f"{t:g}": first_f[i][j] for i, t in enumerate(thresholds)
                        },
                        "best": best[j],
                        "best_step": best_step[j],
                        "final": final_prob[j],
                    },
                }
            )
        _io.write_json(out / "archive.json", {"thresholds": list(thresholds), "classes": classes})
        self.write_metrics(out, result)

        rows = result.history.shape[0]
        last = rows - 1
        elapsed = result.elapsed.tolist()
        final = torch.tensor(conf)
        all_by: dict[str, int | None] = {}
        seconds_by: dict[str, float | None] = {}
        steps_to: dict[str, list[int | None]] = {}
        for i, t in enumerate(thresholds):
            row = first_q[i]
            g = max(row) if min(row) >= 0 else None
            all_by[f"{t:g}"] = g
            seconds_by[f"{t:g}"] = elapsed[g] if g is not None else None
            steps_to[f"{t:g}"] = [s if s >= 0 else None for s in row]
        summary = {
            "kind": "ascent",
            "model": self.cfg.model,
            "encoding": "pixels",
            "search": "gradient-ascent",
            "preset": self.cfg.preset,
            "seed": self.cfg.seed,
            "generations": last,
            "steps": self.search.steps,
            "steps_run": rows,
            "evaluations": int(result.evaluations[-1]),
            "num_classes": len(self.targets),
            "median": float(median(final)),
            "min": float(final.min()),
            "max": float(final.max()),
            "classes_at_or_above": {f"{t:g}": int((final.double() >= t).sum()) for t in thresholds},
            "generation_all_classes_reached": all_by,
            "seconds_all_classes_reached": seconds_by,
            "steps_to_reach": steps_to,
            "seconds": elapsed[last],
            "seconds_per_generation": elapsed[last] / rows,
            "seconds_per_step": elapsed[last] / rows,
            "confidences": conf,
        }
        _io.write_json(out / "summary.json", summary)
        return summary

    def write_metrics(self, out: Path, result: AscentResult) -> None:
        thresholds = result.thresholds
        header = ["generation", "evaluations", "median", "min", "max"]
        header += [f"n_ge_{100 * t:g}" for t in thresholds]
        header += [f"conf_{k}" for k in self.targets]
        header += [f"prob_{k}" for k in self.targets]
        rows = []
        for step, (conf, prob) in enumerate(zip(result.history, result.prob_history)):
            values = conf.tolist()
            row: list[Any] = [
                step,
                int(result.evaluations[step]),
                repr(float(median(conf))),
                repr(min(values)),
                repr(max(values)),
            ]
            row += [int((conf.double() >= t).sum()) for t in thresholds]
            row += [repr(v) for v in values]
            row += [repr(v) for v in prob.tolist()]
            rows.append(row)
        rundir.write_csv(out / "metrics.csv", header, rows)


def ascent(
    cfg: AscentConfig,
    out: str | Path,
    *,
    callback: Callback | None = None,
    classifier: Classifier | None = None,
) -> dict[str, Any]:
    """Run gradient ascent as configured into a new run directory ``out``; returns the summary.

    ``classifier``: a network to fool instead of ``cfg.model``, as for :func:`evolve`; the
    run records its spec's name as the model.
    """
    if classifier is not None:
        cfg = dataclasses.replace(cfg, model=classifier.spec.name)
    run = Ascent(cfg, classifier)  # every config, model and file error before anything is written
    distributed.prepare_run_dir(out)  # on rank 0; every rank stops on its error
    return run.run(Path(out), callback=callback)
