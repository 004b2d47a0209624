"""Exact resume: a run killed with SIGKILL at random moments, then resumed, ends identical to
an uninterrupted run with the same seed."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest

FILES = ("metrics.csv", "archive.json", "champions.safetensors", "summary.json")
ARGS = ["--generations", "150", "--seed", "7", "--checkpoint-every", "9", "-q"]


def fooling(*args):
    return [sys.executable, "-m", "fooling", *args]


def compare(a, b):
    import json

    for name in FILES[:3]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    for key in ("median", "confidences", "generation_all_classes_reached", "evaluations"):
        assert sa[key] == sb[key], key
    assert sorted(p.name for p in (a / "images").iterdir()) == sorted(
        p.name for p in (b / "images").iterdir()
    )


def start(out):
    """Start a run; return the process once its run directory exists."""
    proc = subprocess.Popen(fooling("evolve", "--out", str(out), *ARGS))
    deadline = time.time() + 60
    while not (out / "config.json").exists() and time.time() < deadline:
        time.sleep(0.01)
    return proc


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, and how long it ran once its directory existed."""
    out = tmp_path_factory.mktemp("ref") / "run"
    proc = start(out)
    t0 = time.time()
    assert proc.wait() == 0
    return out, time.time() - t0


@pytest.mark.parametrize("trial", range(3))
def test_sigkill_at_a_random_moment_then_resume(reference, tmp_path, trial):
    reference, seconds = reference
    out = tmp_path / "run"
    rng = random.Random(1000 + trial)
    latest = out / "checkpoint" / "LATEST"
    after = 9 * rng.randint(1, 10)  # a checkpoint at generation 9 ... 90 of 150
    proc = start(out)
    # Once that checkpoint is written, a random moment within the next checkpoint interval
    # (as a share of the reference run's time), so the kill lands between checkpoints and
    # 50 generations or more before the end, on a machine of any speed.
    while proc.poll() is None and int(latest.read_text() if latest.exists() else -1) < after:
        time.sleep(0.002)
    time.sleep(rng.uniform(0.0, 1.0) * seconds * 9 / 150)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "summary.json").exists()  # killed mid-run
    checkpoint = int(latest.read_text())
    assert checkpoint >= after
    resumed = subprocess.run(
        fooling("-v", "evolve", "--resume", str(out), "-q"), check=True, capture_output=True,
        text=True,
    )  # fmt: skip
    assert f"resuming at generation {checkpoint + 1} from its checkpoint" in resumed.stderr
    compare(reference, out)


def test_resume_twice_in_a_row_is_harmless(reference, tmp_path):
    reference, _ = reference
    out = tmp_path / "run"
    subprocess.run(fooling("evolve", "--out", str(out), *ARGS), check=True)
    subprocess.run(fooling("evolve", "--resume", str(out), "-q"), check=True)
    compare(reference, out)


def test_a_cppn_run_stopped_mid_run_resumes_to_the_same_run(tmp_path):
    # The CPPN's own state: genomes saved as JSON (weights must round-trip exactly) and its
    # random draws, taken in blocks, restarted from the checkpointed generator.
    from fooling import EvolveConfig, evolve
    from fooling.experiments.evolve import resume

    class Stopped(Exception):
        pass

    def stop_at_13(stats):
        if stats.generation == 13:
            raise Stopped

    cfg = EvolveConfig(encoding="cppn", generations=20, seed=3, checkpoint_every=5)
    evolve(cfg, tmp_path / "whole")
    with pytest.raises(Stopped):
        evolve(cfg, tmp_path / "stopped", callback=stop_at_13)
    assert (tmp_path / "stopped" / "checkpoint" / "LATEST").read_text().strip() == "00000010"
    resume(tmp_path / "stopped")
    for name in ("metrics.csv", "archive.json", "champions.json"):
        whole = (tmp_path / "whole" / name).read_bytes()
        assert whole == (tmp_path / "stopped" / name).read_bytes(), name


class _Payload:
    """Pickles to code that would run on load."""

    def __reduce__(self):
        return (exec, ("import builtins; builtins.FOOLING_PWNED = True",))


def test_a_checkpoint_that_would_run_code_is_refused_unrun(tmp_path):
    import builtins

    import torch

    from fooling import EvolveConfig, evolve
    from fooling.errors import RunDirError
    from fooling.experiments.evolve import resume

    out = tmp_path / "run"
    evolve(EvolveConfig(generations=4, checkpoint_every=2), out)
    tag = (out / "checkpoint" / "LATEST").read_text().strip()
    torch.save({"x": _Payload()}, out / "checkpoint" / f"state_{tag}.pt")
    with pytest.raises(
        RunDirError,
        match="holds more than tensors, numbers and strings .not loaded: that could run code",
    ):
        resume(out)
    assert not hasattr(builtins, "FOOLING_PWNED")
