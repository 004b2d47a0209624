"""The `fooling` command: a smoke run, a run never overwritten, errors without a traceback
(the table of bad inputs is tests/test_bad_input.py)."""

import itertools
import json
import os
import subprocess
import sys

import pytest

from fooling._stats import percent
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
    summary = json.loads((tmp_path / "x" / "summary.json").read_text())
    n, counts = summary["num_classes"], summary["classes_at_or_above"]
    assert f"median {percent(summary['median'])}%" in out
    assert f"≥99.99%: {counts['0.9999']}/{n}" in out and f"≥99%: {counts['0.99']}/{n}" in out


def test_list_names_models_and_encodings(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "lenet-mnist" in out and "lenet-mnist-b" in out and "direct" in out


def test_every_option_has_help_and_shows_its_default(capsys):
    import argparse

    from fooling.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    undocumented = [
        f"{name} {action.option_strings[-1]}"
        for name, parser in sub.choices.items()
        for action in parser._actions
        if action.option_strings and not action.help
    ]
    assert undocumented == []
    with pytest.raises(SystemExit):
        main(["evolve", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "population (default: 200)" in text  # --generations
    assert "result (default: 0)" in text  # --seed
    assert "distribution index (default: 15.0)" in text  # --eta-m
    assert "(default: 1024 genomes;" in text  # a help that gives its default is kept
    assert "(default: None)" not in text and "(default: False)" not in text


def test_existing_run_is_never_overwritten(existing_run, capsys):
    before = snapshot(existing_run)
    assert main(["evolve", "--generations", "2", "--out", str(existing_run), "-q"]) == 2
    err = capsys.readouterr().err
    assert "already holds another run" in err and len(err.strip().splitlines()) == 1
    assert snapshot(existing_run) == before


def test_resume_accepts_options_equal_to_the_runs_config(existing_run, capsys):
    # The options a run was started with may be repeated beside --resume (a wrong one is a
    # row of tests/test_bad_input.py); --out may name the run itself.
    before = (existing_run / "metrics.csv").read_bytes()
    args = ["--generations", "3", "--seed", "0", "--crossover", "none", "--model", "lenet-mnist"]
    code = main(["evolve", "--resume", str(existing_run), *args, "--out", str(existing_run), "-q"])
    assert code == 0, capsys.readouterr().err
    assert (existing_run / "metrics.csv").read_bytes() == before


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


def test_class_names_with_commas_resolve_from_a_comma_separated_list():
    from fooling.cli import _classes
    from fooling.errors import ConfigError
    from fooling.experiments.config import resolve_classes

    labels = ["tench", "Tights for gymnastics, a one-piece leotard, or a sport jersey",
              "goldfish", "tights"]  # fmt: skip
    text = "goldfish,tights for gymnastics, a one-piece leotard,or a sport jersey,TENCH,3"
    assert resolve_classes(_classes(text), labels, "m") == [2, 1, 0, 3]
    assert resolve_classes(_classes("tights,goldfish"), labels, "m") == [3, 2]
    with pytest.raises(ConfigError, match="no class named 'tights for gymnastics'"):
        resolve_classes(_classes("tights for gymnastics,goldfish"), labels, "m")


@pytest.mark.parametrize(
    "error",
    [MemoryError(), RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried ...")],
)
def test_running_out_of_memory_is_one_line_and_exit_2(error, monkeypatch, capsys):
    import fooling.cli

    def evolve(args):
        raise error

    monkeypatch.setattr(fooling.cli, "_evolve", evolve)
    assert main(["evolve"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "fooling: error: out of memory: use smaller images or batches"
    ]
    monkeypatch.setattr(fooling.cli, "_evolve", lambda args: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # a bug stays a traceback
        main(["evolve"])


def test_progress_bar_redraws_at_most_every_tenth_of_a_second_and_ends_on_the_last_state(
    tmp_path, capsys, monkeypatch
):
    # 100 direct generations of LeNet take about a second; one redraw per generation would
    # flood a log file with 100 bars. tqdm's clock is made to advance 5 ms a reading, so
    # the count does not depend on how busy the machine is.
    clock = itertools.count()
    monkeypatch.setattr("tqdm.std.time", lambda: 0.005 * next(clock))
    assert main(["evolve", "--generations", "100", "--out", str(tmp_path / "run")]) == 0
    captured = capsys.readouterr()
    bars = [b for b in captured.err.replace("\n", "\r").split("\r") if "gen/s" in b or "gen]" in b]
    assert 1 <= len(bars) < 50
    final = captured.out.split("≥99.99%: ")[1].split()[0]  # "k/10" from the summary line
    assert "101/101" in bars[-1] and f"≥99.99%: {final}" in bars[-1]


def test_resume_into_a_directory_it_cannot_write_stops_before_computing(
    existing_run, tmp_path, monkeypatch, capsys
):
    import shutil
    from pathlib import Path

    run = tmp_path / "run"
    shutil.copytree(existing_run, run)
    before = snapshot(run)
    write_bytes = Path.write_bytes

    def read_only(self, data):  # the run directory turned read-only (root ignores chmod)
        if self.parent == run:
            raise PermissionError(13, "Permission denied", str(self))
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", read_only)
    assert main(["evolve", "--resume", str(run), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"fooling: error: cannot write to output directory {run}: Permission denied"]
    assert snapshot(run) == before


def test_a_disk_that_fills_mid_run_is_one_line_not_a_traceback(tmp_path, monkeypatch, capsys):
    import errno

    from fooling import _io

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(_io, "write_bytes", full)
    assert main(["evolve", "--generations", "3", "--out", str(tmp_path / "r"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fooling: error: ")
    assert err[0].endswith(": No space left on device") and str(tmp_path / "r") in err[0]
