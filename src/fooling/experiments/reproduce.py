"""``fooling reproduce EXPERIMENT``: each experiment of the paper (PAPER.md §7) as one command.

An experiment runs its runs into ``<out>/runs/``, then writes ``comparison.json`` (our numbers
beside the paper's, labelled as the paper's, naming the model actually used where it is a
substitute) and ``report.html``. The paper's settings are the default; ``quick`` scales an
experiment down for a CPU. A run already finished in ``<out>`` is reused and a killed one
resumed, so a reproduction interrupted at any point continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

from .. import _io, distributed, rundir
from .._stats import median, percent
from ..errors import ConfigError, UnknownNameError, check_positive_int
from ..paper import PAPER

log = logging.getLogger(__name__)

# The paper's ImageNet classes are 1000; a quick run targets these 10 well-known ones.
QUICK_IMAGENET_CLASSES = (
    "king penguin", "starfish", "baseball", "electric guitar", "remote control",
    "school bus", "matchstick", "lemon", "honeycomb", "volcano",
)  # fmt: skip
# The 20 classes of the released code's supplementary ascent images (PAPER.md §5).
ASCENT_IMAGENET_CLASSES = (200, 207, 215, 279, 366, 367, 390, 414, 445, 500,
                           509, 580, 643, 657, 704, 713, 782, 805, 826, 906)  # fmt: skip
ASCENT_PRESETS = ("hp-1", "hp169", "hp188", "hp360")


@dataclasses.dataclass(frozen=True)
class ReproduceConfig:
    """What to reproduce and at which scale.

    Attributes:
        experiment: a key of ``fooling.paper.PAPER``.
        quick: the CPU scale instead of the paper's.
        seeds: independent runs (``None``: the experiment's default at that scale).
        generations: override the generations of every evolution run.
        model: the ImageNet network (``None``: ``efficientnet-lite0``, the offline
            substitute for the paper's CaffeNet; ``caffenet`` with ``weights`` is the
            paper's own).
        weights: that network's weights file.
        data: the MNIST folder for the retraining experiments.
        real_images: a folder of real photos for retrain-imagenet.
        caffe_lenet: the paper's own LeNet (``lenet_iter_10000.caffemodel``): a third
            network for the transfer experiment.
        device: where networks run.
    """

    experiment: str
    quick: bool = False
    seeds: int | None = None
    generations: int | None = None
    model: str | None = None
    weights: str | None = None
    data: str | None = None
    real_images: str | None = None
    caffe_lenet: str | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.experiment not in PAPER:
            raise UnknownNameError(
                f"unknown experiment {self.experiment!r}; known: {', '.join(PAPER)}"
            )
        for key in ("seeds", "generations"):
            value = getattr(self, key)
            if value is not None:
                check_positive_int(key, value)
        if self.experiment == "retrain-imagenet" and self.real_images is None:
            raise ConfigError("retrain-imagenet needs a folder of real photos (--real-images)")

    @property
    def imagenet_model(self) -> str:
        return self.model or "efficientnet-lite0"


Progress = Callable[[str], None]


# The paper's CPPNs took the released code's raw pixel indices as inputs (PAPER.md §3, §9).
_PAPER_CPPN: dict[str, dict[str, Any]] = {"cppn": {"cppn_inputs": "raw"}}


class Reproduction:
    """Runs one experiment into ``out`` and compares it with the paper."""

    def __init__(self, cfg: ReproduceConfig, out: Path, progress: Progress | None = None):
        self.cfg = cfg
        self.out = out
        self.progress = progress or (lambda message: None)
        self.runs: list[Path] = []
        self.extra: list[Path] = []  # retrain / transfer directories for the report

    def seeds(self, quick: int, full: int) -> range:
        return range(self.cfg.seeds or (quick if self.cfg.quick else full))

    # -- running, with reuse of finished runs --------------------------------------------------

    def evolve(self, name: str, **settings: Any) -> Path:
        from .config import EvolveConfig
        from .evolve import evolve, resume

        run = self.out / "runs" / name
        cfg = EvolveConfig(device=self.cfg.device, **settings)
        self._run(run, lambda: evolve(cfg, run), lambda: resume(run))
        self.runs.append(run)
        return run

    def ascent(self, name: str, preset: str, **settings: Any) -> Path:
        from .ascent import AscentConfig, ascent

        run = self.out / "runs" / name
        cfg = AscentConfig.from_preset(preset, device=self.cfg.device, **settings)
        self._run(run, lambda: ascent(cfg, run), None)
        self.runs.append(run)
        return run

    def _run(self, run: Path, start: Callable[[], Any], resume: Callable[[], Any] | None) -> None:
        if (run / "summary.json").exists():
            self.progress(f"{run.name}: finished before, reused")
            return
        self.progress(f"{run.name}: running")
        if run.exists() and resume is not None and (run / "config.json").exists():
            resume()
            return
        if run.exists():  # an ascent killed mid-way has no checkpoint: start it again
            import shutil

            shutil.rmtree(run)
        start()

    # -- the experiments -----------------------------------------------------------------------

    def run(self) -> list[dict[str, Any]]:
        name = self.cfg.experiment.replace("-", "_")
        rows = getattr(self, name)()
        return rows

    def _mnist(self, encoding: str) -> list[Path]:
        gens = self.cfg.generations or (200 if self.cfg.quick else 1000)
        return [
            self.evolve(
                f"lenet-mnist-{encoding}-s{s}",
                encoding=encoding,
                generations=gens,
                seed=s,
                **_PAPER_CPPN.get(encoding, {}),
            )  # fmt: skip
            for s in self.seeds(5, 10)
        ]

    def mnist_direct(self) -> list[dict[str, Any]]:
        return self._evolution_rows(self._mnist("direct"), "mnist-direct", at=200)

    def mnist_cppn(self) -> list[dict[str, Any]]:
        return self._evolution_rows(self._mnist("cppn"), "mnist-cppn", at=200)

    def _imagenet(self, encoding: str) -> list[Path]:
        cfg = self.cfg
        quick: dict[str, Any] = {"classes": QUICK_IMAGENET_CLASSES, "generations": 30}
        full: dict[str, Any] = (
            {"generations": 20_000}
            if encoding == "direct"
            else {"generations": 5000, "batch_size": 400, "init_size": 400}
        )
        settings = {**(quick if cfg.quick else full), **_PAPER_CPPN.get(encoding, {})}
        if cfg.generations:
            settings["generations"] = cfg.generations
        if cfg.imagenet_model == "caffenet":
            settings["crop"] = "ten"  # the paper's 10-crop confidence
        return [
            self.evolve(
                f"{cfg.imagenet_model}-{encoding}-s{s}",
                model=cfg.imagenet_model,
                weights=cfg.weights,
                encoding=encoding,
                seed=s,
                **settings,
            )  # fmt: skip
            for s in self.seeds(1, 1 if encoding == "direct" else 5)
        ]

    def imagenet_direct(self) -> list[dict[str, Any]]:
        return self._evolution_rows(self._imagenet("direct"), "imagenet-direct", at=None)

    def imagenet_cppn(self) -> list[dict[str, Any]]:
        return self._evolution_rows(self._imagenet("cppn"), "imagenet-cppn", at=None)

    def _ascent(
        self, model: str, classes: Sequence[int] | None, experiment: str, **extra: Any
    ) -> list[dict[str, Any]]:
        presets = ("hp-1",) if self.cfg.quick else ASCENT_PRESETS
        runs = [
            self.ascent(
                f"{model}-ascent-{p}-s{s}", p, model=model, classes=classes, seed=s, **extra
            )  # fmt: skip
            for p in presets
            for s in self.seeds(1, 5)
        ]
        summaries = [rundir.read_json(r / "summary.json") for r in runs]
        reached = [x["classes_at_or_above"]["0.9999"] for x in summaries]
        n = summaries[0]["num_classes"]
        return self._compare(
            experiment,
            [
                f"{min(reached)}–{max(reached)} of {n} classes ≥ 99.99 % after 8-bit "
                f"quantisation ({len(runs)} runs; median {_pct(median_of(summaries))})"
            ],
            model,
        )

    def ascent_mnist(self) -> list[dict[str, Any]]:
        return self._ascent("lenet-mnist", None, "ascent-mnist")

    def ascent_imagenet(self) -> list[dict[str, Any]]:
        classes = ASCENT_IMAGENET_CLASSES[:5] if self.cfg.quick else ASCENT_IMAGENET_CLASSES
        extra = {"steps": 300} if self.cfg.quick else {}
        return self._ascent(self.cfg.imagenet_model, classes, "ascent-imagenet", **extra)

    def _retrain(self, preset: str, experiment: str, **extra: Any) -> list[dict[str, Any]]:
        from .retrain import RetrainConfig, resume_retrain, retrain

        folder = self.out / "retrain"
        cfg = RetrainConfig.from_preset(preset, device=self.cfg.device, **extra)
        if (folder / "summary.json").exists():
            summary = rundir.read_json(folder / "summary.json")
        elif (folder / "config.json").exists():
            summary = resume_retrain(folder, progress=self.progress)
        else:
            summary = retrain(cfg, folder, progress=self.progress)
        self.extra.append(folder)
        rounds = summary["rounds"]
        first, last = rounds[0], rounds[-1]
        fooled = (
            f"DNN_{last['round']}: {last['classes_ge_99_99_in_any_run']} of "
            f"{last['num_targets']} classes ≥ 99.99 % in some run; median "
            f"{_pct(last['median_confidence'])}"
        )
        if experiment == "retrain-mnist":
            errors = ", ".join(f"{_pct(1 - r['clean_accuracy'])}" for r in rounds)
            return self._compare(experiment, [fooled, f"test error by round: {errors}"],
                                 "lenet-mnist")  # fmt: skip
        return self._compare(
            experiment,
            [
                f"{_pct(first['median_confidence'])} → {_pct(last['median_confidence'])}",
                f"{_pct(last['share_random_cppn_in_fooling_class'])} of "
                f"{cfg.probe_images} random CPPN images",
            ],
            self.cfg.imagenet_model,
        )

    def retrain_mnist(self) -> list[dict[str, Any]]:
        extra = {"data": self.cfg.data} if self.cfg.data else {}
        return self._retrain("mnist-quick" if self.cfg.quick else "mnist", "retrain-mnist",
                             **extra)  # fmt: skip

    def retrain_imagenet(self) -> list[dict[str, Any]]:
        preset = "imagenet-quick" if self.cfg.quick else "imagenet"
        extra: dict[str, Any] = {"real_images": self.cfg.real_images}
        if self.cfg.model:
            extra.update(model=self.cfg.model, weights=self.cfg.weights)
        return self._retrain(preset, "retrain-imagenet", **extra)

    def transfer(self) -> list[dict[str, Any]]:
        from .transfer import transfer

        gens = self.cfg.generations or 200
        runs = [
            self.evolve(
                f"lenet-mnist-{enc}-s{s}",
                encoding=enc,
                generations=gens,
                seed=s,
                **_PAPER_CPPN.get(enc, {}),
            )  # fmt: skip
            for enc in ("direct", "cppn")
            for s in self.seeds(5, 5)
        ]
        models = ["lenet-mnist", "lenet-mnist-b"]
        if self.cfg.caffe_lenet:
            models.append(f"lenet-mnist@{self.cfg.caffe_lenet}")
        folder = self.out / "transfer"
        if (folder / "summary.json").exists():
            summary = rundir.read_json(folder / "summary.json")
        else:
            if folder.exists():
                import shutil

                shutil.rmtree(folder)
            summary = transfer(runs, models, folder, device=self.cfg.device)
        self.extra.append(folder)
        ours = "; ".join(
            f"{p['setting']} → {p['model']}: median {_pct(p['median_confidence'])}, "
            f"{_pct(p['share_ge_99_99'], 0)} ≥ 99.99 %"
            for p in summary["pooled"]
            if p["model"] != "lenet-mnist"
        )
        return self._compare("transfer", [ours], "lenet-mnist → lenet-mnist-b")

    # -- the comparison ------------------------------------------------------------------------

    def _evolution_rows(
        self, runs: list[Path], experiment: str, *, at: int | None
    ) -> list[dict[str, Any]]:
        summaries = [rundir.read_json(r / "summary.json") for r in runs]
        n = summaries[0]["num_classes"]
        gens = summaries[0]["generations"]
        if at is not None and at <= gens:
            medians = [float(rundir.read_csv(r / "metrics.csv")[at]["median"]) for r in runs]
            where = f"generation {at}"
        else:
            medians = [s["median"] for s in summaries]
            where = f"generation {gens}"
        reached = [s["generation_all_classes_reached"]["0.9999"] for s in summaries]
        done = [g for g in reached if g is not None]
        median_confidence = (
            f"{_pct(float(median(_tensor(medians))))} at {where} (median of {len(runs)} runs' "
            f"medians; range {_pct(min(medians))}–{_pct(max(medians))})"
        )
        if experiment.startswith("mnist"):
            second = (
                f"{len(done)} of {len(runs)} runs; generation {sorted(done)}"
                if done
                else f"not reached in {gens} generations"
            )
        else:
            key = "0.99" if experiment == "imagenet-direct" else "0.9999"
            counts = [s["classes_at_or_above"][key] for s in summaries]
            second = f"{counts} of {n} (per run, after {gens} generations)"
        model = summaries[0]["model"]
        return self._compare(experiment, [median_confidence, second], model)

    def _compare(self, experiment: str, ours: Sequence[str], model: str) -> list[dict[str, Any]]:
        substitute = {
            "efficientnet-lite0": "EfficientNet-Lite0 (offline substitute for CaffeNet)",
            "alexnet": "torchvision AlexNet (substitute for CaffeNet)",
            "lenet-mnist": "our LeNet (the paper's architecture and solver, our training)",
        }
        # The paper's gradient ascent ran on CaffeNet only, with Yosinski's own weights and
        # one centre crop (PAPER.md §5); its transfer test on both networks.
        paper_model = {
            "transfer": "Caffe LeNet and CaffeNet",
            "ascent-mnist": "CaffeNet, caffenet-yos-weights, centre crop",
            "ascent-imagenet": "CaffeNet, caffenet-yos-weights, centre crop",
        }.get(experiment, "CaffeNet" if "imagenet" in experiment else "Caffe LeNet")
        used = substitute.get(model, model)
        rows = []
        for entry, value in zip(PAPER[experiment], ours):
            rows.append(
                {
                    "experiment": experiment,
                    "quantity": entry["quantity"],
                    "this run": value,
                    "paper": f"{entry['paper']} ({paper_model}; {entry['where']}, "
                    f"{entry['status']})",
                    "model used": used,
                }
            )
        return rows


def _tensor(values: Sequence[float]) -> torch.Tensor:
    import torch

    return torch.tensor(values, dtype=torch.float64)


def median_of(summaries: Sequence[dict[str, Any]]) -> float:
    return float(median(_tensor([s["median"] for s in summaries])))


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{percent(value, digits)} %"


def default_out(cfg: ReproduceConfig) -> Path:
    return Path("runs") / f"reproduce-{cfg.experiment}{'-quick' if cfg.quick else ''}"


def reproduce(
    cfg: ReproduceConfig, out: str | Path | None = None, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Run ``cfg.experiment`` into ``out`` (reusing what a previous call finished there);
    writes ``comparison.json`` and ``report.html``; returns ``{"comparison", "report"}``."""
    distributed.single_process("reproduce")
    out = Path(out) if out is not None else default_out(cfg)
    marker = out / "reproduce.json"
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output path {out} exists and is not a directory")
    if out.exists() and any(out.iterdir()) and not marker.exists():
        raise ConfigError(f"{out} holds something else than a reproduction; choose another --out")
    if marker.exists():
        before = rundir.read_json(marker)
        if not isinstance(before, dict) or before.get("config") != dataclasses.asdict(cfg):
            raise ConfigError(
                f"{out} holds a reproduction with other settings; choose another --out"
            )
    else:
        rundir.prepare(out)
        _io.write_json(marker, {"config": dataclasses.asdict(cfg)})
    job = Reproduction(cfg, out, progress)
    rows = job.run()
    from ..report import write_report  # matplotlib: only once there is something to draw

    _io.write_json(out / "comparison.json", rows)
    report = write_report(
        [*job.runs, *job.extra],
        out / "report.html",
        title=f"fooling reproduce {cfg.experiment}{' --quick' if cfg.quick else ''}",
        comparison=rows,
    )
    return {"comparison": rows, "report": str(report), "runs": [str(r) for r in job.runs]}
