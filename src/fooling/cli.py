"""The ``fooling`` command. The only module that reads argv or prints."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from . import __version__
from ._stats import percent
from .errors import ConfigError, FoolingError

if TYPE_CHECKING:  # imported lazily at run time, so that --help stays fast
    from .experiments.config import EvolveConfig
    from .experiments.evolve import GenerationStats
    from .search.gradient import AscentStats

Subparsers = argparse._SubParsersAction  # what add_subparsers returns

EXIT_USAGE = 2
MAX_CLASSES = 1_000_000  # a range longer than any classifier's output is a typo
SEED_HELP = "random seed: the same seed gives the same result"
DEVICE_HELP = "cpu, cuda, cuda:1, ..."


class _HelpFormatter(argparse.HelpFormatter):
    """Shows an option's default after its help, unless the help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or default is None
            or isinstance(default, bool)
            or default == argparse.SUPPRESS
            or "default" in text
            or f"({default})" in text
        ):
            return action.help
        return f"{text} (default: %(default)s)".lstrip()


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _classes(text: str) -> tuple[int | str, ...]:
    """``"0-9"``, ``"1,5,7"``, ``"0-4,9"`` or class names (``"tench,goldfish"``) -> class
    indices and names (names are resolved against the model's labels later)."""
    out: list[int | str] = []
    for part in (p.strip() for p in text.split(",")):
        lo, dash, hi = part.partition("-")
        if part.isdigit():
            out.append(int(part))
        elif dash and lo.strip().isdigit() and hi.strip().isdigit():
            if int(hi) < int(lo):
                raise argparse.ArgumentTypeError(
                    f"not a class list: {text!r} ({part}: empty range)"
                )
            if int(hi) - int(lo) >= MAX_CLASSES:
                raise argparse.ArgumentTypeError(
                    f"not a class list: {text!r} ({part}: more than {MAX_CLASSES} classes)"
                )
            out.extend(range(int(lo), int(hi) + 1))
        elif part and not part[0].isdigit() and part[0] != "-":
            out.append(part)
        elif part or not out:
            raise argparse.ArgumentTypeError(
                f"not a class list: {text!r} (e.g. 0-9, 1,5,7 or tench,goldfish)"
            )
    return tuple(out)


def _floats(text: str) -> tuple[float, ...]:
    """``"0.485,0.456,0.406"`` -> a tuple of floats."""
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None


def _add_user_model_options(group: Any) -> None:
    """The preprocessing options of ``module.path:factory`` models."""
    group.add_argument("--input-size", type=int, help="module:factory models: input side (224)")
    group.add_argument("--mean", type=_floats, help="module:factory models: per-channel mean")
    group.add_argument("--std", type=_floats, help="module:factory models: per-channel std")
    group.add_argument("--labels", help="module:factory models: class names, one per line")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="fooling",
        description="Evolve and study images that a classifier labels with near-certainty "
        "but no person would recognise (Nguyen, Yosinski & Clune, CVPR 2015).",
        epilog="Run 'fooling COMMAND --help' for a command's options.",
    )
    p.add_argument("--version", action="version", version=f"fooling {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    e = sub.add_parser("evolve", help="evolve fooling images with MAP-Elites")
    e.add_argument("--model", default="lenet-mnist", help="registered classifier: see fooling list")
    e.add_argument("--weights", help="weights file replacing the model's default ones")
    e.add_argument("--encoding", default="direct", help="direct or cppn")
    e.add_argument("--generations", type=int, default=200,
                   help="generations of offspring after the initial population")  # fmt: skip
    e.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    e.add_argument(
        "--out", type=Path, help="new run directory (default: runs/<model>-<enc>-s<seed>)"
    )
    e.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a killed run")
    e.add_argument("--batch-size", type=int, default=200, help="offspring per generation")
    e.add_argument("--init-size", type=int, default=200, help="initial random genomes")
    e.add_argument(
        "--classes", type=_classes, help="target classes, e.g. 0-9, 1,5,7 or tench,goldfish"
    )
    e.add_argument("--device", default="cpu", help=DEVICE_HELP)
    e.add_argument(
        "--eval-batch-size",
        type=int,
        help="genomes rendered and scored at once, and network inputs per forward pass "
        "(default: 1024 genomes; 32 inputs on the CPU for ImageNet networks, else 1024)",
    )
    e.add_argument("--autocast", choices=["bf16", "fp16"], help="score under torch.autocast")
    e.add_argument(
        "--checkpoint-every", type=int, default=50,
        help="generations between checkpoints (what --resume continues from)",
    )  # fmt: skip
    e.add_argument(
        "--size",
        type=int,
        help="rendered image side (default: the model's image size, 256 for ImageNet models)",
    )
    m = e.add_argument_group("classifier preprocessing")
    m.add_argument(
        "--crop", choices=["center", "ten"], help="one centre crop, or the paper's 10 crops"
    )
    m.add_argument(
        "--mean-image", help="mean image file (.npy, .binaryproto, PNG) for caffenet / LeNet"
    )
    m.add_argument(
        "--subtract-mean",
        action="store_true",
        help="LeNet: the released code's query preprocessing (mean image subtracted)",
    )
    m.add_argument(
        "--scramble",
        action="store_true",
        help="LeNet: feed it the image as the released code's grey-image bug did "
        "(read as 3-channel bytes; PAPER.md §1.1), an ablation",
    )
    _add_user_model_options(m)
    d = e.add_argument_group("direct encoding")
    d.add_argument("--mutation-rate", type=float, default=0.1,
                   help="per-pixel probability of polynomial mutation")  # fmt: skip
    d.add_argument("--eta-m", type=float, default=15.0,
                   help="polynomial mutation's distribution index")  # fmt: skip
    d.add_argument(
        "--crossover",
        default="none",
        choices=["none", "sbx"],
        help="none: mutation only, as the paper describes (default); "
        "sbx: the released code's SBX before mutation",
    )
    d.add_argument("--crossover-rate", type=float, default=0.5,
                   help="sbx: probability that a pair of parents is crossed")  # fmt: skip
    d.add_argument("--eta-c", type=float, default=10.0, help="sbx: distribution index")
    d.add_argument(
        "--genome-dtype",
        choices=["float32", "uint8"],
        help="genome storage (default: uint8 for colour, float32 for grey)",
    )
    d.add_argument(
        "--halve-every",
        type=int,
        default=1000,
        help="halve the mutation rate every N generations (default: 1000, the paper's "
        "schedule; 0: constant, as the released code)",
    )
    c = e.add_argument_group("CPPN encoding")
    c.add_argument("--cppn-inputs", default="normalized", choices=["normalized", "raw"],
                   help="x, y in [-1, 1] (the same picture at any size), or the released "
                   "code's raw pixel indices")  # fmt: skip
    c.add_argument(
        "--colour",
        default="hls",
        choices=["hls", "hsv", "rgb"],
        help="colour decoding (both encodings): OpenCV 8-bit HLS as released (default), "
        "clean HSV, or RGB (direct only)",
    )
    e.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    t = sub.add_parser("train", help="train a network")
    t.add_argument("network", choices=["lenet"])
    t.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    t.add_argument("--iterations", type=int, default=10_000, help="solver iterations")
    t.add_argument("--data", type=Path, help="folder with the MNIST files (default: cache)")
    t.add_argument("--out", type=Path, required=True, help="checkpoint to write (.safetensors)")
    t.add_argument("-q", "--quiet", action="store_true", help="no progress messages")

    _add_ascent_parser(sub)

    _add_retrain_parser(sub)

    from .paper import EXPERIMENTS

    y = sub.add_parser("reproduce", help="one experiment of the paper, with a report")
    y.add_argument("experiment", choices=EXPERIMENTS)
    y.add_argument("--quick", action="store_true", help="the CPU scale, not the paper's")
    y.add_argument("--seeds", type=int, help="independent runs (default: the experiment's)")
    y.add_argument("--generations", type=int, help="override every evolution's generations")
    y.add_argument("--model", help="ImageNet network (default efficientnet-lite0; caffenet)")
    y.add_argument("--weights", help="that network's weights file")
    y.add_argument("--data", help="MNIST folder (retrain-mnist)")
    y.add_argument("--real-images", help="folder of real photos (retrain-imagenet)")
    y.add_argument("--caffe-lenet", help="the paper's lenet_iter_10000.caffemodel (transfer)")
    y.add_argument("--device", default="cpu", help=DEVICE_HELP)
    y.add_argument("--out", type=Path, help="directory (default: runs/reproduce-EXPERIMENT)")
    y.add_argument("-q", "--quiet", action="store_true", help="no progress messages")

    x = sub.add_parser("transfer", help="score runs' champions with other classifiers")
    x.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR", help="evolve or ascent runs")
    x.add_argument(
        "--models",
        required=True,
        help="comma-separated target classifiers, NAME or NAME@WEIGHTS "
        "(e.g. lenet-mnist-b,lenet-mnist@lenet_iter_10000.caffemodel)",
    )
    x.add_argument("--out", type=Path, help="new directory (default: runs/transfer)")
    x.add_argument("--device", default="cpu", help=DEVICE_HELP)
    _add_user_model_options(x.add_argument_group("preprocessing of the module:factory models"))

    r = sub.add_parser("render", help="re-render a CPPN run's champions at any resolution")
    r.add_argument("run", type=Path, metavar="RUN_DIR", help="a CPPN evolve run directory")
    r.add_argument("--size", type=int, default=1024, help="image side in pixels (1024)")
    r.add_argument("--out", type=Path, help="folder for the PNGs (default: RUN_DIR/render-SIZE)")
    r.add_argument("--device", default="cpu", help=DEVICE_HELP)
    rp = sub.add_parser("report", help="an HTML report of finished runs")
    rp.add_argument(
        "runs",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help="run directories, or folders of run directories (e.g. runs/)",
    )
    rp.add_argument("--out", type=Path, required=True, help="HTML file to write")
    rp.add_argument("--title", help="page title (default: from the runs)")
    rp.add_argument(
        "--comparison",
        type=Path,
        metavar="FILE",
        help='JSON list of table rows, e.g. [{"quantity": ..., "ours": ..., "paper": ...}]',
    )
    sub.add_parser("list", help="list models and encodings")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from ._alloc import keep_freed_memory

    keep_freed_memory()  # CPU scoring of large images: see fooling._alloc
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what was given (--resume)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        commands = {
            "evolve": _evolve,
            "train": _train,
            "list": _list,
            "ascent": _ascent,
            "render": _render,
            "retrain": _retrain,
            "reproduce": _reproduce,
            "transfer": _transfer,
            "report": _report,
        }
        return commands[args.command](args)
    except FoolingError as err:
        print(f"fooling: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # a disk that fills or turns read-only mid-run, ...
        if err.strerror is None:
            raise
        where = f"{err.filename}: " if err.filename is not None else ""
        print(f"fooling: error: {where}{err.strerror}", file=sys.stderr)
        return EXIT_USAGE
    except (MemoryError, RuntimeError) as err:
        if _peer_failed(err):
            print("fooling: error: another rank stopped (its error is above)", file=sys.stderr)
            return EXIT_USAGE
        if not _out_of_memory(err):
            raise
        print("fooling: error: out of memory: use smaller images or batches", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fooling: interrupted", file=sys.stderr)
        return 130
    finally:
        _leave_process_group()


def _peer_failed(err: BaseException) -> bool:
    """Under torchrun: a collective failed because another rank exited (its own error)."""
    from . import distributed

    return distributed.launched() and (
        type(err).__name__ in ("DistBackendError", "DistNetworkError")
        or "closed by peer" in str(err)
        or "Connection reset by peer" in str(err)
    )


def _leave_process_group() -> None:
    """Shut the process group down (if joined), so an error exit does not abort in gloo's
    threads at interpreter exit."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _out_of_memory(err: BaseException) -> bool:
    """A failed allocation: Python's, torch's on the CPU, or an accelerator's."""
    return (
        isinstance(err, MemoryError)
        or type(err).__name__ == "OutOfMemoryError"
        or "can't allocate memory" in str(err)
    )


class _Bar:
    """A tqdm bar opened at its first report (so errors come first). It redraws at most
    every 0.1 s, since a fast MNIST run reports 60 times a second and one line a report
    floods a log file. It closes, drawing the last state, at the last step or at ``close``."""

    def __init__(self, quiet: bool, unit: str):
        self.quiet = quiet
        self.unit = unit
        self.bar: Any = None  # a tqdm bar

    def show(self, done: int, total: int, postfix: str, start: int = 0) -> None:
        """``done`` of ``total`` finished; ``start`` were done before this process (resume)."""
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, initial=start, unit=self.unit, disable=self.quiet,
                dynamic_ncols=True,
            )  # fmt: skip
        self.bar.set_postfix_str(postfix, refresh=False)
        self.bar.update(done - self.bar.n)
        if done >= total:  # what follows (writing files, testing) is not part of its time
            self.bar.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Progress(_Bar):
    """Evolution's bar: generations, classes >= 99.99 % and the median."""

    def __init__(self, quiet: bool):
        super().__init__(quiet, "gen")

    def __call__(self, s: GenerationStats) -> None:
        postfix = f"≥99.99%: {s.counts[-1]}/{s.num_classes}  median {percent(s.median)}%"
        self.show(s.generation + 1, s.generations + 1, postfix, start=s.generation)


def _evolve(args: argparse.Namespace) -> int:
    from .experiments.config import EvolveConfig
    from .experiments.evolve import evolve, resume

    if args.resume is not None:
        progress = _Progress(args.quiet)
        try:
            summary = resume(args.resume, callback=progress, expect=_given_with_resume(args))
        finally:
            progress.close()
        out = args.resume
    else:
        cfg = EvolveConfig(
            model=args.model,
            weights=args.weights,
            encoding=args.encoding,
            generations=args.generations,
            seed=args.seed,
            batch_size=args.batch_size,
            init_size=args.init_size,
            classes=args.classes,
            device=args.device,
            eval_batch_size=args.eval_batch_size,
            checkpoint_every=args.checkpoint_every,
            size=args.size,
            mutation_rate=args.mutation_rate,
            eta_m=args.eta_m,
            crossover=args.crossover == "sbx",
            crossover_rate=args.crossover_rate,
            eta_c=args.eta_c,
            halve_every=args.halve_every,
            cppn_inputs=args.cppn_inputs,
            colour=args.colour,
            genome_dtype=args.genome_dtype,
            autocast=args.autocast,
            crop=args.crop,
            mean_image=args.mean_image,
            subtract_mean=args.subtract_mean,
            scramble=args.scramble,
            input_size=args.input_size,
            mean=args.mean,
            std=args.std,
            labels=args.labels,
        )
        out = args.out or _default_out(cfg)
        progress = _Progress(args.quiet)
        try:
            summary = evolve(cfg, out, callback=progress)
        finally:
            progress.close()
    from . import distributed

    if not distributed.is_main():
        return 0
    reached = summary["generation_all_classes_reached"]
    n = summary["num_classes"]
    print(f"run: {out}")
    print(
        f"median {percent(summary['median'])}%  "
        + "  ".join(
            f"≥{100 * float(t):g}%: {c}/{n}" for t, c in summary["classes_at_or_above"].items()
        )
    )
    print(
        "all classes ≥99.99% at generation "
        f"{reached['0.9999'] if reached['0.9999'] is not None else '— (not reached)'}"
        f"  ({summary['seconds']:.1f} s)"
    )
    return 0


def _given_with_resume(args: argparse.Namespace) -> dict[str, Any]:
    """The evolve options given on the command line beside ``--resume`` (parsed again with
    no defaults), as ``EvolveConfig`` fields; ``--out`` must name the run itself."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    evolve = sub.choices["evolve"]
    for action in evolve._actions:  # not set_defaults: its values reach the namespace
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(getattr(args, "argv", None) or ["evolve"]))
    out = given.pop("out", None)
    if out is not None and Path(out).resolve() != Path(args.resume).resolve():
        raise ConfigError(
            f"--out {out} differs from --resume {args.resume}; a resumed run stays where it is"
        )
    for key in ("command", "verbose", "resume", "quiet", "argv"):
        given.pop(key, None)
    if "crossover" in given:
        given["crossover"] = given["crossover"] == "sbx"
    return given


def _default_out(cfg: EvolveConfig) -> Path:
    return _new_path(Path("runs") / f"{cfg.model.replace(':', '-')}-{cfg.encoding}-s{cfg.seed}")


def _train(args: argparse.Namespace) -> int:
    from .experiments.train import train_lenet_checkpoint

    if args.iterations <= 0:
        raise ConfigError(f"iterations must be positive, got {args.iterations}")
    bar = _Bar(args.quiet, "it")

    def progress(it: int, loss: float) -> None:
        bar.show(it, args.iterations, f"loss {loss:.4f}")

    try:
        meta = train_lenet_checkpoint(
            args.out,
            seed=args.seed,
            iterations=args.iterations,
            data=args.data,
            progress=progress,
        )
    finally:
        bar.close()
    print(f"wrote {args.out}: test accuracy {percent(meta['test_accuracy'], 2)}%")
    return 0


def _list(args: argparse.Namespace) -> int:
    from . import distributed
    from .encodings import ENCODINGS
    from .models import list_models

    distributed.single_process("list")

    print("models:    " + ", ".join(list_models()) + ", module.path:factory")
    print("encodings: " + ", ".join(ENCODINGS))
    print("searches:  map-elites (fooling evolve), gradient ascent (fooling ascent)")
    from .experiments.ascent import PRESETS as ASCENT
    from .experiments.retrain import PRESETS as RETRAIN
    from .paper import EXPERIMENTS

    print("presets:   ascent " + ", ".join(ASCENT) + "; retrain " + ", ".join(RETRAIN))
    print("reproduce: " + ", ".join(EXPERIMENTS) + " (each with --quick)")
    return 0


def _render(args: argparse.Namespace) -> int:
    from .experiments.render import render_run

    paths = render_run(args.run, size=args.size, out=args.out, device=args.device)
    folder = paths[0].parent if paths else args.out
    print(f"wrote {len(paths)} images of {args.size}x{args.size} to {folder}")
    return 0


def _transfer(args: argparse.Namespace) -> int:
    from .experiments.transfer import transfer

    models = [m for m in args.models.split(",") if m.strip()]
    out = args.out or _new_path(Path("runs") / "transfer")
    options = {"input_size": args.input_size, "mean": args.mean, "std": args.std,
               "labels": args.labels}  # fmt: skip
    summary = transfer(
        args.runs,
        models,
        out,
        device=args.device,
        user_model_options={k: v for k, v in options.items() if v is not None},
    )
    print(f"wrote {out}")
    print(f"{'setting / run':<40} {'model':<24} median   ≥99%   ≥99.99%  top-1")
    for r in summary["pooled"]:
        name = f"{r['setting']} ({r['runs']} runs)"
        print(
            f"{name:<40} {r['model']:<24} {_pct(r['median_confidence']):>7} "
            f"{_pct(r['share_ge_99'], 0):>6} {_pct(r['share_ge_99_99'], 0):>8} "
            f"{_pct(r['share_top1'], 0):>6}"
        )
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    from .experiments.reproduce import ReproduceConfig, reproduce

    cfg = ReproduceConfig(
        experiment=args.experiment,
        quick=args.quick,
        seeds=args.seeds,
        generations=args.generations,
        model=args.model,
        weights=args.weights,
        data=args.data,
        real_images=args.real_images,
        caffe_lenet=args.caffe_lenet,
        device=args.device,
    )

    def progress(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    result = reproduce(cfg, args.out, progress=progress)
    for row in result["comparison"]:
        print(f"{row['quantity']}\n  this run: {row['this run']}\n  paper:    {row['paper']}")
    print(f"report: {result['report']}")
    return 0


# -- fooling retrain ---------------------------------------------------------------------

_RETRAIN_OVERRIDES = (  # (flag, type, help): None unless given, so the preset's value stands
    ("--model", str, "DNN_1, a registered classifier"),
    ("--weights", str, "DNN_1's weights file"),
    ("--rounds", int, "networks evolved against (mnist: 15)"),
    ("--first-images", int, "fooling images gathered in round 1 (mnist: 6000)"),
    ("--images-per-round", int, "fooling images added by each later round (mnist: 1000)"),
    ("--generations", int, "generations of each MAP-Elites run (200)"),
    ("--batch-size", int, "offspring per generation"),
    ("--init-size", int, "initial random genomes per run"),
    ("--encoding", str, "cppn (the paper) or direct"),
    ("--cppn-inputs", str, "raw (the paper's pixel indices) or normalized"),
    ("--probe-images", int, "fresh random CPPN images scored by each network"),
    ("--train-iterations", int, "solver iterations, training a LeNet from scratch"),
    ("--finetune-steps", int, "SGD steps, fine-tuning another network"),
    ("--finetune-lr", float, "fine-tuning learning rate"),
    ("--finetune-batch", int, "fine-tuning batch size"),
    ("--data", str, "MNIST folder (default: the usual lookup, else download)"),
    ("--real-images", str, "fine-tuning: photos in class subfolders, or one per class"),
    ("--device", str, DEVICE_HELP),
)


def _add_retrain_parser(sub: Subparsers) -> None:
    from .experiments.retrain import PRESETS

    t = sub.add_parser(
        "retrain", help='retrain with an extra "fooling" class, round after round (PAPER.md §6)'
    )
    t.add_argument("--preset", default="mnist", choices=list(PRESETS),
                   help="mnist: the paper's 15 rounds; imagenet: its DNN_1 -> DNN_2; -quick: "
                   "a scale a CPU finishes in minutes")  # fmt: skip
    t.add_argument("--seed", type=int, default=0, help=SEED_HELP)
    t.add_argument("--classes", type=_classes, help="target classes (default: all)")
    t.add_argument("--out", type=Path, help="new experiment directory (default: runs/retrain-...)")
    t.add_argument("--resume", type=Path, metavar="DIR", help="continue a killed experiment")
    for flag, kind, text in _RETRAIN_OVERRIDES:
        t.add_argument(flag, type=kind, help=text)
    t.add_argument("-q", "--quiet", action="store_true", help="no progress messages")


def _retrain(args: argparse.Namespace) -> int:
    from .experiments.retrain import RetrainConfig, resume_retrain, retrain

    def progress(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    if args.resume is not None:
        keep = ("--resume", "-q", "--quiet", "-v", "--verbose")
        given = [a.split("=")[0] for a in args.argv[1:] if a.startswith("--")]
        given = [a for a in given if not any(k.startswith(a) for k in keep)]
        if given:
            raise ConfigError(
                f"{', '.join(given)} beside --resume: a resumed experiment keeps its config"
            )
        out = args.resume
        summary = resume_retrain(out, progress=progress)
    else:
        overrides = {
            flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_"))
            for flag, _, _ in _RETRAIN_OVERRIDES
        }
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if args.classes is not None:
            if not all(isinstance(c, int) for c in args.classes):
                raise ConfigError("retrain takes class indices, e.g. --classes 0-9")
            overrides["classes"] = tuple(args.classes)
        cfg = RetrainConfig.from_preset(args.preset, seed=args.seed, **overrides)
        out = args.out or _new_path(Path("runs") / f"retrain-{cfg.preset}-s{cfg.seed}")
        summary = retrain(cfg, out, progress=progress)
    print(f"experiment: {out}")
    print("round  accuracy  prev->fooling  random->fooling  median conf  classes>=99.99%")
    for r in summary["rounds"]:
        print(
            f"{r['round']:>5}  {_pct(r['clean_accuracy']):>8}  "
            f"{_pct(r['share_previous_fooling_in_fooling_class']):>13}  "
            f"{_pct(r['share_random_cppn_in_fooling_class']):>15}  "
            f"{_pct(r['median_confidence'], 4):>11}  "
            f"{r['classes_ge_99_99_median_over_runs']:g}/{r['num_targets']} (median run)"
        )
    return 0


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{percent(value, digits)}%"


def _new_path(base: Path) -> Path:
    """``base``, or ``base-2``, ``base-3``, ... whichever does not exist yet."""
    out, i = base, 2
    while out.exists():
        out = base.with_name(f"{base.name}-{i}")
        i += 1
    return out


# -- fooling ascent ----------------------------------------------------------------------

_ASCENT_SEARCH = (  # (flag, type, help): None unless given, so the preset's value stands
    ("--steps", int, "forward passes per class (preset: 500, 1500, 1000, 1500)"),
    ("--decay", float, "L2 decay toward the mean image per step"),
    ("--early-prog", float, "desired gain in the objective per step, early"),
    ("--late-prog-mult", float, "later the desired gain is this times (1 - p)"),
    ("--max-lr", float, "cap on the progress step size (pixel units, 0-255)"),
    ("--lr", float, "constant step size (pixel units) instead of the progress rule"),
    ("--noise-std", float, "std of the start noise in pixel units (default 1 = N(0,1) on 0-255)"),
    ("--blur-radius", float, "std in pixels of a Gaussian blur (0: none)"),
    ("--blur-every", int, "blur every k steps"),
    ("--small-val-percentile", float, "zero values below this percentile of |X|"),
    ("--small-norm-percentile", float, "zero pixels below this percentile of their norm"),
    ("--px-benefit-percentile", float, "zero pixels below this percentile of benefit -g.X"),
    ("--px-abs-benefit-percentile", float, "zero pixels below this percentile of |benefit|"),
    (
        "--stop-at",
        float,
        "stop a class once its 8-bit image reaches this confidence "
        "(default: run every step, as the released code)",
    ),
    ("--batch-size", int, "largest batch per forward/backward (default: all classes at once)"),
)


def _add_ascent_parser(sub: Subparsers) -> None:
    from .experiments.ascent import PRESET_HELP

    a = sub.add_parser("ascent", help="gradient ascent on class probabilities (PAPER.md §5)")
    a.add_argument("--model", default="lenet-mnist", help="registered classifier: see fooling list")
    a.add_argument("--weights", help="weights file replacing the model's default ones")
    a.add_argument("--classes", type=_classes, help="target classes, e.g. 0-9 or 1,5,7")
    a.add_argument(
        "--preset",
        default="hp-1",
        choices=list(PRESET_HELP),
        help="; ".join(f"{k}: {v}" for k, v in PRESET_HELP.items()),
    )
    a.add_argument("--seed", type=int, default=0, help="seeds the start noise")
    a.add_argument(
        "--out", type=Path, help="new run directory (default: runs/<model>-ascent-<preset>-s<seed>)"
    )
    a.add_argument("--device", default="cpu", help=DEVICE_HELP)
    a.add_argument(
        "--objective",
        default="prob",
        choices=["prob", "logit"],
        help="softmax probability (released code) or logit (Simonyan 2013)",
    )
    a.add_argument(
        "--start",
        default="mean_plus",
        choices=["mean_plus", "mean", "randu", "image"],
        help="mean image + N(0,1) noise (default), the mean image, U(0,1), or --start-image",
    )
    a.add_argument("--start-image", help="PNG to start from (with --start image)")
    a.add_argument(
        "--mean-image",
        help="PNG mean image (default: the image the classifier's preprocessing maps to zero)",
    )
    for flag, kind, text in _ASCENT_SEARCH:
        a.add_argument(flag, type=kind, help=text)
    _add_user_model_options(a.add_argument_group("preprocessing of a module:factory model"))
    a.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _ascent(args: argparse.Namespace) -> int:
    from .experiments.ascent import AscentConfig, ascent

    overrides = {
        flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_"))
        for flag, _, _ in _ASCENT_SEARCH
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    start = "image" if args.start_image is not None and args.start == "mean_plus" else args.start
    cfg = AscentConfig.from_preset(
        args.preset,
        model=args.model,
        weights=args.weights,
        classes=args.classes,
        seed=args.seed,
        device=args.device,
        objective=args.objective,
        start=start,
        start_image=args.start_image,
        mean_image=args.mean_image,
        input_size=args.input_size,
        mean=args.mean,
        std=args.std,
        labels=args.labels,
        **overrides,
    )
    out = args.out
    if out is None:
        out = _new_path(
            Path("runs") / f"{cfg.model.replace(':', '-')}-ascent-{cfg.preset}-s{cfg.seed}"
        )
    bar = _Bar(args.quiet, "step")

    def progress(s: AscentStats) -> None:
        bar.show(
            s.step + 1,
            s.steps,
            f"≥99.99%: {s.counts[-1]}/{s.num_classes}  median {percent(s.median)}%  "
            f"active {s.active}",
        )

    try:
        summary = ascent(cfg, out, callback=progress)
    finally:
        bar.close()
    from . import distributed

    if not distributed.is_main():  # under torchrun only rank 0 reports
        return 0
    n = summary["num_classes"]
    reached = summary["generation_all_classes_reached"]["0.9999"]
    print(f"run: {out}")
    print(
        f"median {percent(summary['median'])}%  "
        + "  ".join(
            f"≥{100 * float(t):g}%: {c}/{n}" for t, c in summary["classes_at_or_above"].items()
        )
    )
    steps = summary["steps_to_reach"]["0.9999"]
    print(
        "steps to ≥99.99% (8-bit): "
        + " ".join(
            f"{k}:{s if s is not None else '—'}" for k, s in zip(cfg.classes or range(n), steps)
        )
    )
    print(
        "all classes ≥99.99% at step "
        f"{reached if reached is not None else '— (not reached)'}"
        f"  ({summary['seconds']:.1f} s, {summary['seconds_per_step'] * 1000:.1f} ms/step)"
    )
    return 0


def _report(args: argparse.Namespace) -> int:
    from . import distributed
    from .report import read_comparison, write_report

    distributed.single_process("report")  # every rank would write the same page

    comparison = read_comparison(args.comparison) if args.comparison is not None else None
    out = write_report(args.runs, args.out, title=args.title, comparison=comparison)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
