"""Retraining with an extra "fooling" class, round after round (PAPER.md §6).

Round 1 takes DNN_1 (a registered network, or its ``weights``). Each round i:

1. **train** (i >= 2): DNN_i learns the n real classes plus class n+1, "fooling", made of
   every fooling image gathered in rounds 1..i-1 — from scratch with the Caffe solver for
   the MNIST LeNet, or fine-tuned from DNN_1 for other (ImageNet) networks;
2. **eval**: DNN_i's clean accuracy, the share of the earlier rounds' fooling images it puts
   in class n+1, the share of fresh random CPPN images it puts there;
3. **evolve**: many short MAP-Elites runs against DNN_i, whose targets are the n real
   classes only (the fooling class competes inside the softmax). Each run gives its
   champions of the first and of the last generation (one per class each, as the paper
   sampled); they are the next round's new fooling images.

Each round lives in ``round_<i>/``; each step writes its files atomically and is never
recomputed, and every run of the evolve step is kept as it finishes, so a killed run
resumes where it stopped and ends with the same figures as an unbroken one.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file

from .. import __version__, _io, distributed, rundir
from .._stats import median
from ..encodings import create_encoding
from ..errors import ConfigError, DataError, RunDirError, check_positive_int, first_line
from ..models import Classifier, create_classifier
from ..models.weights import resize_head
from .config import DictConfig, EvolveConfig, check_seed
from .evolve import Evolution

log = logging.getLogger(__name__)

LENETS = ("lenet-mnist", "lenet-mnist-b")


@dataclasses.dataclass(frozen=True)
class RetrainConfig(DictConfig):
    """A retraining experiment. Defaults: the paper's MNIST setting (PAPER.md §6).

    Attributes:
        preset: the preset it came from (``PRESETS``), for the record.
        model: DNN_1, a registered classifier.
        weights: DNN_1's weights file (``None``: the model's own).
        rounds: k, the number of networks DNN_1..DNN_k evolved against.
        first_images: fooling images gathered in round 1 (paper MNIST: 6000 = 300 runs).
        images_per_round: fooling images added by each later round (paper MNIST: 1000).
        generations: generations of each MAP-Elites run.
        batch_size, init_size: MAP-Elites offspring per generation and initial batch.
        encoding: ``"cppn"`` (the paper) or ``"direct"``.
        cppn_inputs: CPPN x/y inputs, ``"raw"`` (the released code's pixel indices, as the
            paper ran it) or ``"normalized"``.
        classes: the target classes (``None``: every class of DNN_1).
        probe_images: fresh random CPPN images scored by each DNN_i.
        train: ``"scratch"`` (LeNet, the Caffe solver) or ``"finetune"``.
        train_iterations: solver iterations when training from scratch.
        finetune_steps, finetune_lr, finetune_batch: SGD fine-tuning of other networks.
        data: the MNIST folder (``None``: the usual lookup, ``fooling.data.mnist``).
        real_images: for fine-tuning: a folder of real photos (class subfolders, or one
            photo per class whose sorted order is the class order).
        seed: seeds every random choice.
        device: where networks run.
    """

    preset: str = "mnist"
    model: str = "lenet-mnist"
    weights: str | None = None
    rounds: int = 15
    first_images: int = 6000
    images_per_round: int = 1000
    generations: int = 200
    batch_size: int = 200
    init_size: int = 200
    encoding: str = "cppn"
    cppn_inputs: str = "raw"
    classes: tuple[int, ...] | None = None
    probe_images: int = 1000
    train: str = "scratch"
    train_iterations: int = 10_000
    finetune_steps: int = 300
    finetune_lr: float = 1e-3
    finetune_batch: int = 32
    data: str | None = None
    real_images: str | None = None
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_seed(self.seed)
        for key in (
            "rounds",
            "first_images",
            "images_per_round",
            "generations",
            "batch_size",
            "init_size",
            "probe_images",
            "train_iterations",
            "finetune_steps",
            "finetune_batch",
        ):
            value = getattr(self, key)
            check_positive_int(key, value)
        if self.train not in ("scratch", "finetune"):
            raise ConfigError(f"train must be 'scratch' or 'finetune', got {self.train!r}")
        if self.train == "scratch" and self.model not in LENETS:
            raise ConfigError(
                f"training from scratch is for the MNIST LeNets; use train='finetune' "
                f"for {self.model}"
            )
        if self.train == "finetune" and self.real_images is None and self.rounds > 1:
            raise ConfigError("fine-tuning needs a folder of real images (--real-images)")
        if not self.finetune_lr > 0:
            raise ConfigError(f"finetune_lr must be positive, got {self.finetune_lr}")
        if self.classes is not None and not self.classes:
            raise ConfigError("classes must not be empty")

    @classmethod
    def from_preset(cls, preset: str = "mnist", **overrides: Any) -> RetrainConfig:
        if preset not in PRESETS:
            raise ConfigError(f"unknown retrain preset {preset!r}; known: {', '.join(PRESETS)}")
        cls.check_keys(overrides)
        return cls(**{**PRESETS[preset], "preset": preset, **overrides})


PRESETS: dict[str, dict[str, Any]] = {
    # The paper: 300 runs x 20 images in round 1, +1000 a round, 15 rounds (PAPER.md §6).
    # DNN_15 trains on rounds 1-14: 6000 + 13 x 1000 = 19,000 fooling images, 24 % of its
    # data. PAPER.md's 25 % (6000 + 14 x 1000) counts a round DNN_15 was not trained on.
    "mnist": {},
    # This CPU in about a quarter of an hour: 3 rounds, 50 + 25 + 25 runs, half the solver.
    "mnist-quick": {
        "rounds": 3,
        "first_images": 1000,
        "images_per_round": 500,
        "train_iterations": 5000,
    },
    # The paper: DNN_1 -> DNN_2 with 9000 fooling images, 5000-generation CPPN runs of 400.
    "imagenet": {
        "model": "efficientnet-lite0",
        "rounds": 2,
        "first_images": 9000,
        "images_per_round": 9000,
        "generations": 5000,
        "batch_size": 400,
        "init_size": 400,
        "train": "finetune",
        "finetune_steps": 3000,
        "finetune_batch": 64,
    },
    # A small configuration a CPU finishes in minutes: 10 classes, 2 short runs a round.
    "imagenet-quick": {
        "model": "efficientnet-lite0",
        "rounds": 2,
        "first_images": 40,
        "images_per_round": 40,
        "generations": 20,
        "batch_size": 100,
        "init_size": 100,
        "classes": tuple(range(10)),
        "probe_images": 100,
        "train": "finetune",
        "finetune_steps": 40,
        "finetune_batch": 16,
    },
}


def _seed(*parts: int) -> int:
    """A seed for one step of the experiment, independent of every other step's."""
    return int(np.random.SeedSequence([p & 0xFFFFFFFF for p in parts]).generate_state(1)[0])


Progress = Callable[[str], None]


class Retraining:
    """A configured retraining experiment in its directory ``out``."""

    def __init__(self, cfg: RetrainConfig, out: Path, progress: Progress | None = None):
        self.cfg = cfg
        self.out = out
        self.progress = progress or (lambda message: None)
        distributed.check_device(cfg.device)
        self.device = torch.device(cfg.device)
        self.dnn1 = self._classifier(cfg.weights)
        self.n = self.dnn1.num_classes  # the real classes; n is also the fooling class index
        self.targets = list(cfg.classes) if cfg.classes is not None else list(range(self.n))
        if any(not 0 <= k < self.n for k in self.targets):
            raise ConfigError(f"classes out of range for {cfg.model} ({self.n})")
        # Every round's runs; built now, so that its settings are checked before any file.
        self.evolve_cfg = EvolveConfig(
            model=cfg.model,
            encoding=cfg.encoding,
            generations=cfg.generations,
            batch_size=cfg.batch_size,
            init_size=cfg.init_size,
            classes=tuple(self.targets),
            device=cfg.device,
            cppn_inputs=cfg.cppn_inputs,
        )
        self._mnist: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if cfg.train == "scratch":  # read (or download) MNIST now: no run folder on an error
            from ..data.mnist import load_mnist

            self._mnist = {s: load_mnist(s, root=cfg.data) for s in ("train", "test")}
        self.real: tuple[torch.Tensor, torch.Tensor] | None = None
        if cfg.train == "finetune" and cfg.real_images is not None:  # required for 2+ rounds
            self.real = _real_images(Path(cfg.real_images), self.dnn1.spec.labels)

    # -- helpers -----------------------------------------------------------------------------

    def _classifier(self, weights: str | Path | None) -> Classifier:
        return create_classifier(
            self.cfg.model,
            weights=str(weights) if weights is not None else None,
            device=self.device,
        )

    def mnist(self, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """An MNIST split as LeNet is trained on it: ``(N, 1, 28, 28)`` pixel/256, labels."""
        from .train import lenet_input

        images, labels = self._mnist[split]
        return lenet_input(images), labels

    def round_dir(self, i: int) -> Path:
        return self.out / f"round_{i:02d}"

    def network(self, i: int) -> Classifier:
        return self.dnn1 if i == 1 else self._classifier(self.round_dir(i) / "model.safetensors")

    def images_in_round(self, i: int) -> int:
        return self.cfg.first_images if i == 1 else self.cfg.images_per_round

    def fooling_images(self, upto: int) -> torch.Tensor:
        """Every fooling image of rounds ``1..upto`` as uint8 ``(N, C, H, W)``."""
        parts = [load_file(str(self.round_dir(j) / "fooling.safetensors"))["images"]
                 for j in range(1, upto + 1)]  # fmt: skip
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.uint8)

    # -- the rounds ----------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        # Seconds spent by earlier processes on finished steps (a killed step's are lost).
        timing = self.out / "seconds.json"
        before = float(rundir.read_json(timing)["seconds"]) if timing.exists() else 0.0
        t0 = time.perf_counter()

        def step_done() -> None:
            _io.write_json(timing, {"seconds": before + time.perf_counter() - t0})

        rows = []
        for i in range(1, self.cfg.rounds + 1):
            folder = self.round_dir(i)
            folder.mkdir(exist_ok=True)
            if i > 1 and not (folder / "model.safetensors").exists():
                self.progress(f"round {i}: training DNN_{i}")
                self.train(i)
                step_done()
            if not (folder / "eval.json").exists():
                self.progress(f"round {i}: evaluating DNN_{i}")
                _io.write_json(folder / "eval.json", self.evaluate(i))
                step_done()
            if not (folder / "evolve.json").exists():
                self.evolve(i)
                step_done()
            rows.append(
                {
                    "round": i,
                    **rundir.read_json(folder / "eval.json"),
                    **rundir.read_json(folder / "evolve.json")["summary"],
                }
            )
        return self.write_results(rows, before + time.perf_counter() - t0)

    def train(self, i: int) -> None:
        """DNN_i from the real data plus every earlier fooling image as class n."""
        fooling = self.fooling_images(i - 1)
        seed = _seed(self.cfg.seed, i, 1)
        labels = (*self.dnn1.spec.labels, "fooling")
        meta: dict[str, Any] = {
            "labels": list(labels),
            "num_classes": len(labels),
            "round": i,
            "fooling_images": int(fooling.shape[0]),
            "seed": seed,
            "fooling_version": __version__,
        }
        model: torch.nn.Module
        if self.cfg.train == "scratch":
            from ..models.lenet import SolverConfig, train_lenet

            x, y = self.mnist("train")
            x = torch.cat([x, fooling.float() / 256.0])  # LeNet sees pixel/256
            y = torch.cat([y, torch.full((fooling.shape[0],), self.n, dtype=y.dtype)])
            solver = SolverConfig(iterations=self.cfg.train_iterations)
            model = train_lenet(x, y, num_classes=self.n + 1, solver=solver, seed=seed)
            meta["solver"] = dataclasses.asdict(solver)
        else:
            model = self.finetune(fooling, seed)
            meta["finetune"] = {
                "steps": self.cfg.finetune_steps,
                "lr": self.cfg.finetune_lr,
                "batch": self.cfg.finetune_batch,
                "from": self.cfg.weights or f"{self.cfg.model} pretrained",
            }
        from ..models.zoo import save_checkpoint

        save_checkpoint(model, self.round_dir(i) / "model.safetensors", meta)

    def finetune(self, fooling: torch.Tensor, seed: int) -> torch.nn.Module:
        """DNN_1 fine-tuned with SGD (momentum 0.9) to n + 1 classes on the real photos and
        the fooling images, batches drawn uniformly from their union; batch-norm
        statistics stay frozen (small batches)."""
        cfg = self.cfg
        clf = self._classifier(cfg.weights)  # a fresh copy of DNN_1
        resize_head(clf.module, self.n + 1)
        clf.spec = dataclasses.replace(
            clf.spec, num_classes=self.n + 1, labels=(*clf.spec.labels, "fooling")
        )
        clf.to(self.device)
        assert self.real is not None  # RetrainConfig requires real images to fine-tune
        real_x, real_y = self.real
        size = real_x.shape[-1]
        fool_x = fooling.float() / 255.0
        if fool_x.shape[-1] != size:
            fool_x = torch.nn.functional.interpolate(fool_x, size=(size, size), mode="nearest")
        x = torch.cat([real_x, fool_x])
        y = torch.cat([real_y, torch.full((fool_x.shape[0],), self.n, dtype=torch.long)])
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.SGD(clf.module.parameters(), lr=cfg.finetune_lr, momentum=0.9)
        clf.module.train()
        for m in clf.module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
        for step in range(cfg.finetune_steps):
            idx = torch.randint(len(x), (cfg.finetune_batch,), generator=gen)
            loss = torch.nn.functional.cross_entropy(
                clf(x[idx].to(self.device)), y[idx].to(self.device)
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if (step + 1) % 10 == 0:
                log.info("fine-tune step %d: loss %.4f", step + 1, float(loss))
        return clf.module.eval()

    def evaluate(self, i: int) -> dict[str, Any]:
        net = self.network(i)
        fooling_class = net.num_classes > self.n
        x: torch.Tensor | None
        y: torch.Tensor | None
        if self.cfg.train == "scratch":
            x, y = self.mnist("test")
            x = x * (256.0 / 255.0)  # back to [0, 1] images; the wrapper divides by 256
            what = "MNIST test set"
        elif self.real is not None:  # DNN_1 too, the baseline of every later round
            x, y = self.real
            what = f"real images ({self.cfg.real_images}): the fine-tuning set, not held out"
        else:
            x = y = None
            what = None
        accuracy = None
        if x is not None and y is not None:
            pred = torch.cat([net.probs(part).argmax(1).cpu() for part in x.split(1000)])
            accuracy = float((pred == y).double().mean())
        previous = self.fooling_images(i - 1) if i > 1 else None
        probe = self.random_images(i)
        share_prev = share_random = None
        if fooling_class:
            if previous is not None and len(previous):
                share_prev = _share_in(net, previous.float() / 255.0, self.n)
            share_random = _share_in(net, probe, self.n)
        return {
            "num_classes": net.num_classes,
            "clean_accuracy": accuracy,
            "accuracy_on": what,
            "previous_fooling_images": int(previous.shape[0]) if previous is not None else 0,
            "share_previous_fooling_in_fooling_class": share_prev,
            "share_random_cppn_in_fooling_class": share_random,
        }

    def random_images(self, i: int) -> torch.Tensor:
        """Fresh random CPPN images (initial genomes), at the evolution's resolution."""
        spec = self.dnn1.spec
        enc = create_encoding(
            "cppn",
            channels=spec.input_channels,
            size=spec.image_size,
            device=self.device,
            inputs=self.cfg.cppn_inputs,
        )
        gen = torch.Generator().manual_seed(_seed(self.cfg.seed, i, 2))
        return enc.render(enc.init(self.cfg.probe_images, gen))

    def evolve(self, i: int) -> None:
        """The evolve step: runs against DNN_i, each kept in ``runs/`` as it finishes."""
        cfg = self.cfg
        folder = self.round_dir(i)
        net = self.network(i)
        per_run = 2 * len(self.targets)
        wanted = self.images_in_round(i)
        n_runs = math.ceil(wanted / per_run)
        runs = folder / "runs"
        runs.mkdir(exist_ok=True)
        rundir.remove_tmp_files(runs)
        for r in range(n_runs):
            path = runs / f"run_{r:04d}.safetensors"
            if path.exists():
                continue
            self.progress(f"round {i}: evolution run {r + 1}/{n_runs}")
            run_cfg = dataclasses.replace(self.evolve_cfg, seed=_seed(cfg.seed, i, 3, r))
            first, first_conf, last, last_conf = _short_run(run_cfg, net)
            tensors = {
                "first": first,
                "first_confidence": first_conf,
                "last": last,
                "last_confidence": last_conf,
            }
            _io.write_safetensors(path, tensors)  # a kill leaves no half file to skip later
        picked, picked_conf, classes, confs = [], [], [], []
        # Half from the first generation, half from the last (PAPER.md §6), run by run;
        # where the runs give more than wanted, the last run's two halves are cut alike.
        left = {"first": (wanted + 1) // 2, "last": wanted // 2}
        for r in range(n_runs):
            t = load_file(str(runs / f"run_{r:04d}.safetensors"))
            for key in ("first", "last"):
                take = min(len(t[key]), left[key])
                left[key] -= take
                picked.append(t[key][:take])
                picked_conf.append(t[f"{key}_confidence"][:take])
                classes += self.targets[:take]
            confs.append(t["last_confidence"])
        images = torch.cat(picked)
        image_conf = torch.cat(picked_conf)
        labels = torch.tensor(classes)
        _io.write_safetensors(
            folder / "fooling.safetensors",
            {"images": images.contiguous(), "classes": labels, "confidence": image_conf},
        )
        conf = torch.stack(confs).double()  # (runs, K) champions at the last generation
        medians = median(conf, 1)
        at_9999 = (conf >= 0.9999).sum(1)
        summary = {
            "runs": n_runs,
            "fooling_images_added": int(images.shape[0]),
            "median_confidence": float(median(conf)),
            "median_of_run_medians": float(median(medians)),
            "classes_ge_99_99_median_over_runs": float(median(at_9999)),
            "classes_ge_99_99_best_run": int(at_9999.max()),
            "classes_ge_99_99_in_any_run": int((conf >= 0.9999).any(0).sum()),
            "classes_ge_99_median_over_runs": float(median((conf >= 0.99).sum(1))),
            "num_targets": len(self.targets),
        }
        grid = images[: min(len(images), 4 * len(self.targets))]
        names = [self.dnn1.spec.label(int(k)) for k in labels[: len(grid)]]
        rundir.write_grid(folder / "samples.png", grid, names, image_conf[: len(grid)].tolist())
        _io.write_json(  # last: it marks the step done
            folder / "evolve.json",
            {
                "summary": summary,
                "run_medians": medians.tolist(),
                "run_classes_ge_99_99": at_9999.tolist(),
                "confidences": conf.tolist(),
            },
        )

    # -- results -----------------------------------------------------------------------------

    def write_results(self, rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
        keys = [
            "round",
            "clean_accuracy",
            "share_previous_fooling_in_fooling_class",
            "share_random_cppn_in_fooling_class",
            "median_confidence",
            "median_of_run_medians",
            "classes_ge_99_99_median_over_runs",
            "classes_ge_99_99_best_run",
            "classes_ge_99_99_in_any_run",
            "runs",
            "fooling_images_added",
            "previous_fooling_images",
        ]
        rundir.write_csv(
            self.out / "metrics.csv",
            keys,
            [["" if row.get(k) is None else row.get(k) for k in keys] for row in rows],
        )
        summary = {
            "kind": "retrain",
            "model": self.cfg.model,
            "encoding": self.cfg.encoding,
            "preset": self.cfg.preset,
            "seed": self.cfg.seed,
            "rounds": rows,
            "seconds": seconds,
        }
        from ..report.retrain import retrain_figure

        fig = retrain_figure(rows, title=f"{self.cfg.model}, preset {self.cfg.preset}")
        _io.write_bytes(self.out / "rounds.png", _png(fig))
        _io.write_json(self.out / "summary.json", summary)
        return summary

    def config_json(self) -> dict[str, Any]:
        return {
            "kind": "retrain",
            "fooling_version": __version__,
            "torch_version": torch.__version__,
            "seed": self.cfg.seed,
            "retrain": self.cfg.to_dict(),
            "classifier": self.dnn1.spec.to_dict(),
            "classifier_sha256": self.dnn1.fingerprint(),  # checked by resume_retrain
            "targets": self.targets,
            "fooling_class": self.n,
        }


def _png(fig: Any) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def _share_in(net: Classifier, images: torch.Tensor, k: int) -> float:
    top = torch.cat([net.probs(part).argmax(1).cpu() for part in images.split(500)])
    return float((top == k).double().mean())


def _short_run(
    cfg: EvolveConfig, net: Classifier
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One MAP-Elites run: champions (uint8 images, confidences) after generation 0 and
    after the last generation."""
    evo = Evolution(cfg, classifier=net)
    search = evo.search
    first = first_conf = None
    while search.generation <= cfg.generations:
        genomes = search.ask()
        search.tell(genomes, evo.score(genomes))
        if search.generation == 1:
            first = evo.render_uint8(search.champions)
            first_conf = search.archive.confidence.detach().cpu().clone()
    last = evo.render_uint8(search.champions)
    assert first is not None and first_conf is not None  # generation 0 always runs
    return first, first_conf, last, search.archive.confidence.detach().cpu().clone()


def _real_images(folder: Path, labels: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """A folder of photos as ``(N, 3, 256, 256)`` in [0, 1] and their classes ``(N,)``.

    Layouts: class subfolders named by class index or class name; or photos directly in
    the folder, one per class, whose sorted order is the class order (the layout of
    ImageNet samples named ``<wnid>_<name>.JPEG``).
    """
    from ..data.imagenet import image_files, load_images

    if not folder.is_dir():
        raise DataError(f"real-image folder {folder} not found")
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
    lookup = {lab.strip().lower(): k for k, lab in enumerate(labels)}
    paths: list[Path] = []
    classes: list[int] = []
    if subdirs:
        for d in subdirs:
            name = d.name.strip().lower()
            k = int(name) if name.isdigit() else lookup.get(name.replace("_", " "))
            if k is None or not 0 <= k < len(labels):
                raise DataError(f"{d}: not a class index or class name")
            files = image_files(d)
            paths += files
            classes += [k] * len(files)
    else:
        paths = image_files(folder)
        if len(paths) != len(labels):
            raise DataError(
                f"{folder} holds {len(paths)} photos; without class subfolders it needs one "
                f"photo per class ({len(labels)}) in class order"
            )
        classes = list(range(len(labels)))
    if not paths:
        raise DataError(f"no photos in {folder}")
    return load_images(paths), torch.tensor(classes)


def retrain(
    cfg: RetrainConfig, out: str | Path, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Run a retraining experiment into the new directory ``out``; returns the summary."""
    distributed.single_process("retrain")
    out = Path(out)
    experiment = Retraining(cfg, out, progress)  # config and model errors first
    rundir.prepare(out)
    _io.write_json(out / "config.json", experiment.config_json())
    return experiment.run()


def resume_retrain(out: str | Path, *, progress: Progress | None = None) -> dict[str, Any]:
    """Continue a killed retraining experiment; finished steps are not recomputed."""
    distributed.single_process("retrain")
    out = Path(out)
    config = rundir.read_json(out / "config.json")
    if not isinstance(config, dict) or config.get("kind") != "retrain":
        raise RunDirError(f"{out} does not hold a retrain experiment")
    try:
        cfg = RetrainConfig.from_dict(config["retrain"])
    except (KeyError, TypeError, AttributeError, ConfigError) as e:
        raise RunDirError(
            f"{out / 'config.json'} holds no valid retrain config: {first_line(e)}"
        ) from None
    experiment = Retraining(cfg, out, progress)
    rundir.check_same_classifier(out, config.get("classifier_sha256"), experiment.dnn1)
    rundir.check_writable(out)
    rundir.remove_tmp_files(out)
    return experiment.run()
