"""Bad input across the commands: one table, one test (DESIGN.md rule 8).

Every row is a command line a user could type: a bad config value; an unknown model,
encoding or preset; a missing, truncated or corrupt weights file, caffemodel, checkpoint or
genome file; an image of the wrong size; a classifier that returns NaN or the wrong shape;
an interrupted download; an unwritable path; a resume whose options differ from the run's
config. Each must be answered with exit code 2 and one line on stderr that names the problem
(no traceback, no log warnings), and must change nothing on disk: the whole test folder,
which is also the working directory, is compared byte for byte before and after.

To add a row: one entry in ``BAD``, a function of a ``Case`` (its ``tmp`` folder and helpers
that make files in it) returning the argv, and a word the error line must contain.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import logging
import shutil
import socket
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fooling.cli import main
from fooling.data import mnist


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small evolve run (seed 1, 3 generations) with a checkpoint, copied by resume rows."""
    out = tmp_path_factory.mktemp("bad-input") / "run"
    args = ["evolve", "--generations", "3", "--seed", "1", "--checkpoint-every", "2"]
    assert main([*args, "--out", str(out), "-q"]) == 0
    return out


@pytest.fixture(scope="module")
def finished_cppn_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small CPPN evolve run (seed 1, 2 generations), copied by the render rows."""
    out = tmp_path_factory.mktemp("bad-input-cppn") / "run"
    args = ["evolve", "--encoding", "cppn", "--generations", "2", "--seed", "1"]
    assert main([*args, "--out", str(out), "-q"]) == 0
    return out


@dataclasses.dataclass
class Case:
    """What a row's argv function gets: the test folder and helpers that fill it."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    stack: contextlib.ExitStack
    finished_run: Path
    finished_cppn_run: Path

    def path(self, name: str) -> str:
        return str(self.tmp / name)

    def file(self, name: str, data: bytes) -> str:
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return str(p)

    def png(self, name: str, shape: tuple[int, ...]) -> str:
        from PIL import Image

        p = self.tmp / name
        Image.fromarray(np.zeros(shape, dtype=np.uint8)).save(p)
        return str(p)

    def plain_file_parent(self, name: str) -> str:
        """A path whose parent is a plain file: it can never be written."""
        return str(Path(self.file("plainfile", b"x")) / name)

    def lenet_weights(self, keep: float = 1.0) -> str:
        """The shipped lenet-mnist weights, or their first ``keep`` fraction."""
        from fooling.models.zoo import shipped_weights

        data = shipped_weights("lenet-mnist").read_bytes()
        return self.file("lenet.safetensors", data[: int(len(data) * keep)])

    def lenet_caffemodel(self, keep: float = 1.0) -> str:
        """LeNet's weights as a .caffemodel (V1 layers), or its first ``keep`` fraction."""
        from caffe_proto import caffemodel
        from fooling.models.lenet import LeNet

        net = LeNet()
        layers = [
            (name, "Convolution" if name.startswith("conv") else "InnerProduct",
             [m.weight.detach().numpy(), m.bias.detach().numpy()])
            for name, m in net.named_children()
        ]  # fmt: skip
        data = caffemodel(layers, v1=True)
        return self.file("lenet.caffemodel", data[: int(len(data) * keep)])

    def run(self, damage: Callable[[Path], None] | None = None) -> str:
        """A copy of the finished run, damaged by ``damage(run)`` where given."""
        run = self.tmp / "run"
        shutil.copytree(self.finished_run, run)
        if damage is not None:
            damage(run)
        return str(run)

    def cppn_run(self, damage: Callable[[Path], None]) -> str:
        """A copy of the finished CPPN run, damaged by ``damage(run)``."""
        run = self.tmp / "cppn-run"
        shutil.copytree(self.finished_cppn_run, run)
        damage(run)
        return str(run)

    def interrupted_mirror(self) -> None:
        """MNIST downloads come from a local server that hangs up after 1000 bytes."""
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HangUp)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join()

        self.stack.callback(stop)
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        self.monkeypatch.setattr(mnist, "MIRRORS", [url])


class _HangUp(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"\x1f\x8b" + bytes(998))  # then the connection closes

    def log_message(self, format: str, *args: object) -> None:
        pass


def overwrite(pattern: str, data: bytes | Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """A ``damage`` that replaces each file of the run matching ``pattern`` with ``data``
    (bytes, or a function of the old bytes)."""

    def damage(run: Path) -> None:
        files = sorted(run.glob(pattern))
        assert files, pattern
        for f in files:
            f.write_bytes(data(f.read_bytes()) if callable(data) else data)

    return damage


def edit_config(key: str, value: object) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        config = json.loads((run / "config.json").read_text())
        config["evolve"][key] = value
        (run / "config.json").write_text(json.dumps(config))

    return damage


def edit_json(name: str, edit: Callable[[Any], None]) -> Callable[[Path], None]:
    """A ``damage`` that loads the run's JSON file ``name``, applies ``edit`` and saves it
    (``allow_nan``: JSON as Python writes it, ``Infinity`` included)."""

    def damage(run: Path) -> None:
        doc = json.loads((run / name).read_text())
        edit(doc)
        (run / name).write_text(json.dumps(doc))

    return damage


def half(data: bytes) -> bytes:
    return data[: len(data) // 2]


GARBAGE = b"\x00\x01garbage" * 10
NOT_UTF8 = b"\xff\xfe{}"  # bytes no UTF-8 text has


def _three_champions(data: bytes) -> bytes:
    """A direct champions file cut to its first 3 genomes."""
    from safetensors.torch import load, save

    return save({"genomes": load(data)["genomes"][:3].contiguous()})


def _torch_state(edit: Callable[[Any], Any]) -> Callable[[bytes], bytes]:
    """A checkpoint state file's bytes -> those of ``edit(state)``, still a valid pickle."""

    def damage(data: bytes) -> bytes:
        import io

        import torch

        buf = io.BytesIO()
        torch.save(edit(torch.load(io.BytesIO(data), weights_only=False)), buf)
        return buf.getvalue()

    return damage


def _without(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda state: {k: v for k, v in state.items() if k != key}


def under_torchrun(c: Case, argv: list[str]) -> list[str]:
    """``argv`` as torchrun would start it on one of 2 ranks (the environment it sets)."""
    c.monkeypatch.setenv("WORLD_SIZE", "2")
    return argv


def evolve(c: Case, *args: str) -> list[str]:
    return ["evolve", *args, "--out", c.path("new"), "-q"]


def ascent(c: Case, *args: str) -> list[str]:
    return ["ascent", *args, "--out", c.path("new"), "-q"]


def resume(c: Case, damage: Callable[[Path], None] | None = None, *args: str) -> list[str]:
    return ["evolve", "--resume", c.run(damage), *args, "-q"]


def render(c: Case, damage: Callable[[Path], None]) -> list[str]:
    return ["render", c.cppn_run(damage), "--size", "8"]


def _first_edge_source(value: float) -> Callable[[Any], None]:
    def edit(doc: Any) -> None:
        doc["genomes"][0]["edges"][0][0] = value

    return edit


def transfer(c: Case, run: str) -> list[str]:
    return ["transfer", run, "--models", "lenet-mnist", "--out", c.path("t")]


def train(c: Case, *args: str) -> list[str]:
    (c.tmp / "mnist").mkdir(exist_ok=True)  # an empty data folder: files must be downloaded
    return ["train", "lenet", "--iterations", "2", "--data", c.path("mnist"), *args, "-q"]


@dataclasses.dataclass(frozen=True)
class Bad:
    """A row: ``argv(case)`` is the command line; ``keyword`` must be in the error line."""

    argv: Callable[[Case], list[str]]
    keyword: str


BAD: dict[str, Bad] = {
    # -- evolve ------------------------------------------------------------------------------
    "evolve: unknown model": Bad(lambda c: evolve(c, "--model", "resnet-9000"), "unknown model"),
    "evolve: unknown encoding": Bad(
        lambda c: evolve(c, "--encoding", "pixels"), "unknown encoding"
    ),
    "evolve: missing weights": Bad(
        lambda c: evolve(c, "--weights", c.path("nope.safetensors")), "not found"
    ),
    "evolve: corrupt weights": Bad(
        lambda c: evolve(c, "--weights", c.file("bad.safetensors", GARBAGE)), "corrupt"
    ),
    "evolve: truncated weights": Bad(
        lambda c: evolve(c, "--weights", c.lenet_weights(keep=0.05)), "corrupt"
    ),
    "evolve: corrupt caffemodel": Bad(
        lambda c: evolve(c, "--weights", c.file("bad.caffemodel", GARBAGE)), "not a valid"
    ),
    "evolve: truncated caffemodel": Bad(
        lambda c: evolve(c, "--weights", c.lenet_caffemodel(keep=0.5)), "truncated"
    ),
    "evolve: zero generations": Bad(lambda c: evolve(c, "--generations", "0"), "generations"),
    "evolve: negative generations": Bad(lambda c: evolve(c, "--generations", "-3"), "generations"),
    "evolve: bad batch size": Bad(lambda c: evolve(c, "--batch-size", "0"), "batch_size"),
    "evolve: bad mutation rate": Bad(lambda c: evolve(c, "--mutation-rate", "2"), "mutation_rate"),
    "evolve: class out of range": Bad(lambda c: evolve(c, "--classes", "3,12"), "out of range"),
    "evolve: bad class list": Bad(lambda c: evolve(c, "--classes", "3-1"), "class list"),
    "evolve: unknown class name": Bad(lambda c: evolve(c, "--classes", "zebra"), "no class named"),
    "evolve: non-integer seed": Bad(lambda c: evolve(c, "--seed", "x"), "invalid int"),
    "evolve: option the model lacks": Bad(lambda c: evolve(c, "--input-size", "64"), "no option"),
    "evolve: --scramble for a model that is not a LeNet": Bad(
        lambda c: evolve(c, "--model", "efficientnet-lite0", "--scramble"), "no option scramble"
    ),
    "evolve: mean image of the wrong size": Bad(
        lambda c: evolve(c, "--mean-image", c.png("mean.png", (5, 5))), "smaller than the input"
    ),
    "evolve: classifier returns NaN": Bad(
        lambda c: evolve(c, "--model", "conftest:nan_classifier", "--input-size", "28"), "NaN"
    ),
    "evolve: classifier returns (N,) scores": Bad(
        lambda c: evolve(c, "--model", "conftest:flat_classifier", "--input-size", "28"),
        "not (N, K)",
    ),
    "evolve: classifier ignores the batch": Bad(
        lambda c: evolve(c, "--model", "conftest:first_row_classifier", "--input-size", "28"),
        "expected (2, 10)",
    ),
    "evolve: classifier returns probabilities": Bad(
        lambda c: evolve(c, "--model", "conftest:softmax_classifier", "--input-size", "28"),
        "returns probabilities",
    ),
    "evolve: classifier with float64 parameters": Bad(
        lambda c: evolve(c, "--model", "conftest:float64_classifier", "--input-size", "28"),
        "float64 parameters",
    ),
    "evolve: labels file that is not UTF-8": Bad(
        lambda c: evolve(
            c,
            "--model",
            "conftest:eight_pixel_classifier",
            "--input-size",
            "8",
            "--labels",
            c.file("labels.txt", NOT_UTF8),
        ),
        "not UTF-8",
    ),  # fmt: skip
    "evolve: classifier returns a tuple": Bad(
        lambda c: evolve(c, "--model", "conftest:tuple_classifier", "--input-size", "28"),
        "returns tuple, not (N, K)",
    ),
    "evolve: classifier fails on its input": Bad(
        lambda c: evolve(c, "--model", "conftest:crashing_classifier", "--input-size", "28"),
        "fails on a blank 3x28x28 image",
    ),
    "ascent: classifier returns probabilities": Bad(
        lambda c: ascent(c, "--model", "conftest:softmax_classifier"), "returns probabilities"
    ),
    "evolve: NaN eta_m": Bad(lambda c: evolve(c, "--eta-m", "nan"), "eta_m"),
    "evolve: NaN eta_c": Bad(lambda c: evolve(c, "--crossover", "sbx", "--eta-c", "nan"), "eta_c"),
    "evolve: unusable device": Bad(lambda c: evolve(c, "--device", "nope"), "not usable"),
    "evolve: one GPU for every rank under torchrun": Bad(
        lambda c: under_torchrun(c, evolve(c, "--device", "cuda:0")), "LOCAL_RANK"
    ),
    "ascent: one GPU for every rank under torchrun": Bad(
        lambda c: under_torchrun(c, ascent(c, "--device", "cuda:1")), "LOCAL_RANK"
    ),
    "evolve: seed past 2^63": Bad(lambda c: evolve(c, "--seed", str(2**64)), "seed must be"),
    "evolve: negative seed": Bad(lambda c: evolve(c, "--seed", "-1"), "seed must be"),
    "evolve: a class range of billions": Bad(
        lambda c: evolve(c, "--classes", "0-99999999999"), "more than 1000000 classes"
    ),
    "evolve: image side too large to hold": Bad(
        lambda c: evolve(c, "--size", "100000"), "size must be in 1..4096"
    ),
    "evolve: unknown factory module": Bad(
        lambda c: evolve(c, "--model", "no_such_module:net"), "cannot import"
    ),
    "evolve: unwritable out": Bad(
        lambda c: ["evolve", "--out", c.plain_file_parent("run"), "-q"], "cannot write"
    ),
    "evolve: out path that is not UTF-8": Bad(  # runs record their folder as text
        lambda c: ["evolve", "--out", c.path("bad\udcffname"), "-q"], "is not valid UTF-8"
    ),
    "evolve: out holds other files": Bad(
        lambda c: ["evolve", "--out", str(Path(c.file("full/notes.txt", b"x")).parent), "-q"],
        "already holds other files",
    ),
    "evolve: out holds another run": Bad(
        lambda c: ["evolve", "--out", c.run(), "--generations", "2", "-q"],
        "already holds another run; choose another --out (or fooling evolve --resume ",
    ),
    # -- evolve --resume -------------------------------------------------------------------
    "resume: not a run": Bad(lambda c: ["evolve", "--resume", str(c.tmp), "-q"], "not found"),
    "resume: WORLD_SIZE set, but not the rest of torchrun's environment": Bad(
        lambda c: under_torchrun(c, ["evolve", "--resume", c.run(), "-q"]),
        "cannot join the torchrun process group",
    ),
    "resume: config.json that is not UTF-8": Bad(
        lambda c: resume(c, overwrite("config.json", NOT_UTF8)), "cannot read"
    ),
    "resume: checkpoint/LATEST that is not UTF-8": Bad(
        lambda c: resume(c, overwrite("checkpoint/LATEST", NOT_UTF8)), "is corrupt"
    ),
    "resume: corrupt config.json": Bad(
        lambda c: resume(c, overwrite("config.json", b"{not json")), "cannot read"
    ),
    "resume: config.json of another kind": Bad(
        lambda c: resume(c, overwrite("config.json", b'{"kind": "ascent"}')),
        "does not hold an evolve run",
    ),
    "resume: invalid config value": Bad(
        lambda c: resume(c, edit_config("generations", -1)), "generations"
    ),
    "resume: config edited since the checkpoint": Bad(
        lambda c: resume(c, edit_config("generations", 9)), "different config"
    ),
    "resume: corrupt checkpoint state": Bad(
        lambda c: resume(c, overwrite("checkpoint/state_*.pt", GARBAGE)), "corrupt"
    ),
    "resume: truncated checkpoint state": Bad(
        lambda c: resume(c, overwrite("checkpoint/state_*.pt", half)), "corrupt"
    ),
    "resume: checkpoint with too few champions": Bad(
        lambda c: resume(c, overwrite("checkpoint/champions_*", _three_champions)),
        "holds 3 champions for 10 classes",
    ),
    "resume: missing checkpoint state": Bad(
        lambda c: resume(c, overwrite("checkpoint/LATEST", b"00000077\n")), "missing or corrupt"
    ),
    "resume: corrupt genome file": Bad(
        lambda c: resume(c, overwrite("checkpoint/champions_*", GARBAGE)), "cannot read genomes"
    ),
    "resume: truncated genome file": Bad(
        lambda c: resume(c, overwrite("checkpoint/champions_*", half)), "cannot read genomes"
    ),
    "resume: checkpoint state that is not a dict": Bad(
        lambda c: resume(c, overwrite("checkpoint/state_*.pt", _torch_state(lambda s: [1]))),
        "not a fooling evolve checkpoint",
    ),
    "resume: checkpoint state without its search": Bad(
        lambda c: resume(c, overwrite("checkpoint/state_*.pt", _torch_state(_without("search")))),
        "not a fooling evolve checkpoint",
    ),
    "resume: checkpoint with a damaged search state": Bad(
        lambda c: resume(
            c, overwrite("checkpoint/state_*.pt", _torch_state(lambda s: {**s, "search": {}}))
        ),
        "is damaged",
    ),
    "resume: --seed differs": Bad(lambda c: resume(c, None, "--seed", "3"), "--seed 3 differs"),
    "resume: --seed given as its default differs": Bad(
        lambda c: resume(c, None, "--seed", "0"), "(seed 1)"
    ),
    "resume: --generations differs": Bad(
        lambda c: resume(c, None, "--generations", "500"), "--generations 500 differs"
    ),
    "resume: --model differs": Bad(
        lambda c: resume(c, None, "--model", "lenet-mnist-b"), "keeps its config"
    ),
    "resume: --crossover differs": Bad(
        lambda c: resume(c, None, "--crossover", "sbx"), "--crossover"
    ),
    "resume: --out elsewhere": Bad(lambda c: resume(c, None, "--out", c.path("other")), "--out"),
    # -- ascent ------------------------------------------------------------------------------
    "ascent: unknown model": Bad(lambda c: ascent(c, "--model", "resnet-9000"), "unknown model"),
    "ascent: unknown preset": Bad(lambda c: ascent(c, "--preset", "hp7"), "invalid choice"),
    "ascent: zero steps": Bad(lambda c: ascent(c, "--steps", "0"), "steps"),
    "ascent: blur wider than the image": Bad(  # refused before the run folder exists
        lambda c: ascent(c, "--blur-radius", "20"), "blur radius 20.0 needs images larger"
    ),
    "ascent: non-integer steps": Bad(lambda c: ascent(c, "--steps", "x"), "invalid int"),
    "ascent: bad decay": Bad(lambda c: ascent(c, "--decay", "1.5"), "decay"),
    "ascent: bad stop": Bad(lambda c: ascent(c, "--stop-at", "2"), "stop_at"),
    "ascent: bad percentile": Bad(
        lambda c: ascent(c, "--small-norm-percentile", "120"), "small_norm_percentile"
    ),
    "ascent: class out of range": Bad(lambda c: ascent(c, "--classes", "3,12"), "out of range"),
    "ascent: unusable device": Bad(lambda c: ascent(c, "--device", "nonsense"), "not usable"),
    "ascent: start image option without file": Bad(
        lambda c: ascent(c, "--start", "image"), "start-image"
    ),
    "ascent: missing start image": Bad(
        lambda c: ascent(c, "--start-image", c.path("none.png")), "not found"
    ),
    "ascent: corrupt start image": Bad(
        lambda c: ascent(c, "--start-image", c.file("start.png", GARBAGE)), "cannot read"
    ),
    "ascent: start image of the wrong size": Bad(
        lambda c: ascent(c, "--start-image", c.png("start.png", (32, 32, 3))), "takes 1x28x28"
    ),
    "ascent: mean image of the wrong size": Bad(
        lambda c: ascent(c, "--mean-image", c.png("mean.png", (5, 5))), "takes 1x28x28"
    ),
    "ascent: corrupt caffemodel": Bad(
        lambda c: ascent(c, "--weights", c.file("bad.caffemodel", GARBAGE)), "not a valid"
    ),
    "ascent: truncated caffemodel": Bad(
        lambda c: ascent(c, "--weights", c.lenet_caffemodel(keep=0.5)), "truncated"
    ),
    "ascent: classifier returns NaN": Bad(
        lambda c: ascent(c, "--model", "conftest:nan_classifier"), "NaN"
    ),
    "ascent: classifier ignores the batch": Bad(
        lambda c: ascent(c, "--model", "conftest:first_row_classifier"), "expected (2, 10)"
    ),
    "ascent: unwritable out": Bad(
        lambda c: ["ascent", "--steps", "2", "--out", c.plain_file_parent("run"), "-q"],
        "cannot write",
    ),
    "ascent: out holds another run": Bad(
        lambda c: ["ascent", "--steps", "2", "--out", c.run(), "-q"], "already holds another run"
    ),
    # -- train -------------------------------------------------------------------------------
    "train: unknown network": Bad(
        lambda c: ["train", "alexnet", "--out", c.path("w.safetensors")], "invalid choice"
    ),
    "train: zero iterations": Bad(
        lambda c: ["train", "lenet", "--iterations", "0", "--out", c.path("w.safetensors")],
        "iterations",
    ),
    "train: out under a plain file": Bad(
        lambda c: train(c, "--out", c.plain_file_parent("w.safetensors")), "not a directory"
    ),
    "train: out is a directory": Bad(lambda c: train(c, "--out", str(c.tmp)), "is a directory"),
    "train: interrupted download": Bad(
        lambda c: (c.interrupted_mirror(), train(c, "--out", c.path("w.safetensors")))[1],
        "download interrupted after 1000 of 100000 bytes",
    ),
    "train: no mirror reachable": Bad(
        lambda c: train(c, "--out", c.path("w.safetensors")), "every mirror failed"
    ),
    "train: corrupt MNIST file": Bad(
        lambda c: (
            c.file("mnist/train-images-idx3-ubyte", GARBAGE),
            train(c, "--out", c.path("w.safetensors")),
        )[1],
        "corrupt MNIST file",
    ),
    # -- render, transfer, retrain, reproduce, report --------------------------------------------
    "render: a direct run": Bad(
        lambda c: ["render", str(c.finished_run), "--size", "64"], "not a CPPN run"
    ),
    "render: unusable device": Bad(
        lambda c: ["render", str(c.finished_run), "--size", "8", "--device", "nope"], "not usable"
    ),
    "transfer: unusable device": Bad(
        lambda c: [
            "transfer",
            str(c.finished_run),
            "--models",
            "lenet-mnist",
            "--device",
            "nope",
            "--out",
            c.path("t"),
        ],
        "not usable",
    ),  # fmt: skip
    "render: --out into the run's own images": Bad(
        lambda c: [
            "render",
            (r := c.cppn_run(lambda run: None)),
            "--size",
            "8",
            "--out",
            str(Path(r) / "images"),
        ],
        "not an empty folder",
    ),  # fmt: skip
    "render: zero size": Bad(lambda c: ["render", str(c.finished_run), "--size", "0"], "size"),
    "render: genome with an infinite node id": Bad(
        lambda c: render(c, edit_json("champions.json", _first_edge_source(float("inf")))),
        "edge source must be an integer",
    ),
    "render: genome with a fractional node id": Bad(
        lambda c: render(c, edit_json("champions.json", _first_edge_source(0.5))),
        "edge source must be an integer",
    ),
    "render: genome list that is not a list": Bad(
        lambda c: render(c, edit_json("champions.json", lambda d: d.update(genomes=5))),
        "'genomes' must be a list",
    ),
    "render: archive without classes": Bad(
        lambda c: render(c, edit_json("archive.json", lambda d: d.pop("classes"))),
        "no valid 'classes' list",
    ),
    "render: config without the CPPN inputs": Bad(
        lambda c: render(c, edit_json("config.json", lambda d: d["encoding"].pop("inputs"))),
        "bad CPPN encoding settings",
    ),
    "transfer: model of another input": Bad(
        lambda c: [
            "transfer",
            str(c.finished_run),
            "--models",
            "efficientnet-lite0",
            "--out",
            c.path("t"),
        ],  # fmt: skip
        "3-channel",
    ),
    "transfer: archive.json without its classes": Bad(
        lambda c: transfer(c, c.run(overwrite("archive.json", b"{}"))), "missing key 'classes'"
    ),
    "transfer: archive entry without its image": Bad(
        lambda c: transfer(
            c, c.run(edit_json("archive.json", lambda d: d["classes"][0].pop("image")))
        ),
        "missing key 'image'",
    ),
    "transfer: config.json that is a list": Bad(
        lambda c: transfer(c, c.run(overwrite("config.json", b"[1]"))), "holds no champions"
    ),
    "transfer: not a run": Bad(
        lambda c: ["transfer", c.path(""), "--models", "lenet-mnist", "--out", c.path("t")],
        "not found",
    ),
    "retrain: unknown preset": Bad(lambda c: ["retrain", "--preset", "cifar"], "invalid choice"),
    "retrain: zero rounds": Bad(lambda c: ["retrain", "--rounds", "0", "-q"], "rounds"),
    # Refused before the experiment folder exists: a half-made one could not be resumed.
    "retrain: unknown encoding": Bad(
        lambda c: ["retrain", "--encoding", "pixels", "--out", c.path("r"), "-q"],
        "unknown encoding",
    ),
    "retrain: bad CPPN inputs": Bad(
        lambda c: ["retrain", "--cppn-inputs", "polar", "--out", c.path("r"), "-q"], "cppn_inputs"
    ),
    "retrain: repeated classes": Bad(
        lambda c: ["retrain", "--classes", "0,0", "--out", c.path("r"), "-q"], "must not repeat"
    ),
    "retrain: no MNIST and no mirror": Bad(
        lambda c: ["retrain", "--data", c.path("mnist"), "--out", c.path("r"), "-q"],
        "every mirror failed",
    ),
    "retrain: fine-tune without photos": Bad(
        lambda c: ["retrain", "--preset", "imagenet-quick", "-q"], "real images"
    ),
    "retrain: options beside --resume": Bad(
        lambda c: ["retrain", "--resume", str(c.finished_run), "--rounds", "4", "-q"],
        "--rounds beside --resume: a resumed experiment keeps its config",
    ),
    "retrain: resume an evolve run": Bad(
        lambda c: ["retrain", "--resume", str(c.finished_run)], "does not hold a retrain"
    ),
    "retrain: resume a config without its settings": Bad(
        lambda c: ["retrain", "--resume", c.file("r/config.json", b'{"kind": "retrain"}')[:-12]],
        "no valid retrain config",
    ),
    "retrain: resume a config that is a list": Bad(
        lambda c: ["retrain", "--resume", c.file("r/config.json", b"[1]")[:-12]],
        "does not hold a retrain",
    ),
    "retrain: under torchrun": Bad(
        lambda c: under_torchrun(c, ["retrain", "--out", c.path("r"), "-q"]), "one process"
    ),
    "transfer: under torchrun": Bad(
        lambda c: under_torchrun(
            c, ["transfer", str(c.finished_run), "--models", "lenet-mnist", "--out", c.path("t")]
        ),
        "one process",
    ),
    "render: under torchrun": Bad(
        lambda c: under_torchrun(c, ["render", str(c.finished_cppn_run), "--size", "8"]),
        "one process",
    ),
    "train: under torchrun": Bad(
        lambda c: under_torchrun(c, train(c, "--out", c.path("l.safetensors"))), "one process"
    ),
    "report: under torchrun": Bad(
        lambda c: under_torchrun(c, ["report", str(c.finished_run), "--out", c.path("r.html")]),
        "one process",
    ),
    "list: under torchrun": Bad(lambda c: under_torchrun(c, ["list"]), "one process"),
    "reproduce: under torchrun": Bad(
        lambda c: under_torchrun(c, ["reproduce", "mnist-direct", "--quick", "--out", c.path("p")]),
        "one process",
    ),
    "reproduce: unknown experiment": Bad(lambda c: ["reproduce", "cifar-direct"], "invalid choice"),
    "reproduce: into another run": Bad(
        lambda c: ["reproduce", "mnist-direct", "--quick", "--out", str(c.finished_run), "-q"],
        "something else",
    ),
    "reproduce: out is a file": Bad(
        lambda c: ["reproduce", "mnist-direct", "--quick", "--out", c.file("p", b"x"), "-q"],
        "not a directory",
    ),
    "reproduce: reproduce.json that is a list": Bad(
        lambda c: [
            "reproduce",
            "mnist-direct",
            "--quick",
            "-q",
            "--out",
            str(Path(c.file("p/reproduce.json", b"[1]")).parent),
        ],
        "other settings",
    ),  # fmt: skip
    "report: metrics.csv that is not UTF-8": Bad(
        lambda c: ["report", c.run(overwrite("metrics.csv", NOT_UTF8)), "--out", c.path("r.html")],
        "cannot read",
    ),
    "report: not a run": Bad(lambda c: ["report", c.path(""), "--out", c.path("r.html")], "no run"),
    "report: summary counts that are a list": Bad(
        lambda c: report(c, edit_json("summary.json", lambda d: d.update(classes_at_or_above=[1]))),
        "malformed",
    ),
    "report: a generation that is text": Bad(
        lambda c: report(
            c,
            edit_json(
                "summary.json", lambda d: d.update(generation_all_classes_reached={"0.9999": "a"})
            ),
        ),
        "malformed",
    ),
    "report: steps that are text": Bad(
        lambda c: report(c, edit_json("summary.json", lambda d: d.update(steps="x"))), "malformed"
    ),
    "report: a class entry that is not an object": Bad(
        lambda c: report(c, edit_json("archive.json", lambda d: d.update(classes=["x"]))),
        "malformed",
    ),
}


def report(c: Case, damage: Callable[[Path], None]) -> list[str]:
    """``fooling report`` of a damaged copy of the finished run, over an existing report."""
    out = c.file("r.html", b'<meta name="generator" content="fooling report 0">')
    return ["report", c.run(damage), "--out", out]


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (``None``) under ``root``."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    finished_run: Path,
    finished_cppn_run: Path,
) -> None:
    row = BAD[name]
    monkeypatch.chdir(tmp_path)  # default output folders (runs/...) would land here
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # and downloads here
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path.parent / "mpl"))  # matplotlib's font cache
    monkeypatch.delenv("FOOLING_DATA", raising=False)
    monkeypatch.setattr(mnist, "MIRRORS", [_closed_port_url()])  # never the network
    monkeypatch.setattr(mnist, "_VERIFIED", set())
    monkeypatch.setattr("sys.dont_write_bytecode", True)  # no __pycache__ from user models
    caplog.set_level(logging.WARNING)
    with contextlib.ExitStack() as stack:
        argv = row.argv(Case(tmp_path, monkeypatch, stack, finished_run, finished_cppn_run))
        before = snapshot(tmp_path)
        capsys.readouterr()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                code = main(argv)
            except SystemExit as e:  # argparse's own errors
                code = e.code
    err = capsys.readouterr().err
    # In a real process, log warnings and Python warnings are stderr lines too.
    lines = err.strip().splitlines() + [r.getMessage() for r in caplog.records]
    lines += [str(w.message) for w in caught]
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert row.keyword in lines[0], lines[0]
    assert "Traceback" not in err
    assert snapshot(tmp_path) == before, "a bad input changed the disk"
