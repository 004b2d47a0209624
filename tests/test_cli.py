"""The `fooling` command: a smoke run, and bad input answered with one line and exit 2."""

import os
import subprocess
import sys

import pytest

from fooling.cli import main


def snapshot(path):
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def existing_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["evolve", "--generations", "3", "--out", str(out), "-q"]) == 0
    return out


def test_evolve_smoke_prints_summary(existing_run, capsys, tmp_path):
    assert (
        main(["evolve", "--generations", "2", "--seed", "1", "--out", str(tmp_path / "x"), "-q"])
        == 0
    )
    out = capsys.readouterr().out
    assert "median" in out and "≥99.99%" in out
    assert (tmp_path / "x" / "summary.json").is_file()


def test_list_names_models_and_encodings(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "lenet-mnist" in out and "lenet-mnist-b" in out and "direct" in out


def corrupt_file(tmp_path):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(b"\x00\x01garbage" * 10)
    return str(p)


def truncated_file(tmp_path):
    from fooling.models.zoo import shipped_weights

    p = tmp_path / "trunc.safetensors"
    p.write_bytes(shipped_weights("lenet-mnist").read_bytes()[:5000])
    return str(p)


def file_parent(tmp_path):
    f = tmp_path / "plainfile"
    f.write_text("x")
    return str(f / "run")


BAD = {
    "unknown model": (lambda t: ["evolve", "--model", "resnet-9000"], "unknown model"),
    "unknown encoding": (lambda t: ["evolve", "--encoding", "pixels"], "unknown encoding"),
    "missing weights": (
        lambda t: ["evolve", "--weights", str(t / "nope.safetensors")],
        "not found",
    ),
    "corrupt weights": (lambda t: ["evolve", "--weights", corrupt_file(t)], "corrupt"),
    "truncated weights": (lambda t: ["evolve", "--weights", truncated_file(t)], "corrupt"),
    "zero generations": (lambda t: ["evolve", "--generations", "0"], "generations"),
    "negative generations": (lambda t: ["evolve", "--generations", "-3"], "generations"),
    "bad batch size": (lambda t: ["evolve", "--batch-size", "0"], "batch_size"),
    "bad mutation rate": (lambda t: ["evolve", "--mutation-rate", "2"], "mutation_rate"),
    "class out of range": (lambda t: ["evolve", "--classes", "3,12"], "out of range"),
    "bad class list": (lambda t: ["evolve", "--classes", "3-1"], "class list"),
    "unknown class name": (lambda t: ["evolve", "--classes", "zebra"], "no class named"),
    "option the model lacks": (lambda t: ["evolve", "--input-size", "64"], "no option"),
    "unwritable out": (lambda t: ["evolve", "--out", file_parent(t)], "cannot write"),
    "resume a non-run": (lambda t: ["evolve", "--resume", str(t)], "not found"),
    "non-integer seed": (lambda t: ["evolve", "--seed", "x"], "invalid int"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_exit_2(case, tmp_path, capsys):
    make_args, needle = BAD[case]
    args = (
        make_args(tmp_path)
        + ["--out", str(tmp_path / "new")]
        * ("--out" not in make_args(tmp_path) and "--resume" not in make_args(tmp_path))
        + ["-q"]
    )
    with pytest.raises(SystemExit) if case in ("bad class list", "non-integer seed") else _no():
        code = main(args)
        assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert needle in err
    assert "Traceback" not in err
    assert not (tmp_path / "new").exists()


class _no:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_existing_run_is_never_overwritten(existing_run, capsys):
    before = snapshot(existing_run)
    assert main(["evolve", "--generations", "2", "--out", str(existing_run), "-q"]) == 2
    err = capsys.readouterr().err
    assert "already holds another run" in err and len(err.strip().splitlines()) == 1
    assert snapshot(existing_run) == before


def test_errors_from_a_real_process_have_no_traceback(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fooling",
            "evolve",
            "--model",
            "nope",
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "fooling: error: unknown model 'nope'; known models: alexnet, caffenet, "
        "efficientnet-lite0, lenet-mnist, lenet-mnist-b, or module.path:factory"
    )
