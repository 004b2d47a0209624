"""torch.distributed: 1 rank and 2 ranks (gloo, CPU) give bit-identical runs; an error on one
rank or machine stops them all with one line."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from fooling import EvolveConfig, create_classifier, distributed, evolve
from fooling.cli import main

TORCHRUN = shutil.which("torchrun", path=os.path.dirname(sys.executable)) or shutil.which(
    "torchrun"
)
ARGS = [
    "evolve",
    "--generations",
    "15",
    "--seed",
    "2",
    "--eval-batch-size",
    "40",
    "--checkpoint-every",
    "4",
    "-q",
]


# 5 classes in chunks of 2: rank 0 runs classes 0, 1 and 4, rank 1 classes 2 and 3; with
# --stop-at, class 1 stops after one step and rank 0's ascent ends at step 22, rank 1's at 29.
ASCENT = [
    "ascent",
    "--classes",
    "0-4",
    "--steps",
    "30",
    "--batch-size",
    "2",
    "--stop-at",
    "0.3",
    "-q",
]


def torchrun(nproc: int, out, args=ARGS, *, ok: bool = True):
    """``fooling *args --out OUT`` on ``nproc`` ranks of this machine (no ``--out`` where
    ``out`` is None)."""
    tests = os.path.dirname(__file__)  # conftest's classifiers, as --model conftest:...
    pythonpath = os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=pythonpath)
    cmd = [
        TORCHRUN,
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "fooling",
        *args,
        *(["--out", str(out)] if out is not None else []),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found beside the interpreter")
def test_one_and_two_ranks_are_bit_identical(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    torchrun(1, one)
    proc = torchrun(2, two)
    for name in ("metrics.csv", "archive.json", "champions.safetensors"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert proc.stdout.count("run:") == 1  # only rank 0 reports


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found beside the interpreter")
def test_cppn_one_and_two_ranks_are_bit_identical(tmp_path):
    # Each rank renders its own chunks of offspring: a genome must render to the same bits
    # in whichever rank's batch it lands.
    one, two = tmp_path / "one", tmp_path / "two"
    args = [*ARGS, "--encoding", "cppn", "--generations", "10"]
    torchrun(1, one, args)
    torchrun(2, two, args)
    for name in ("metrics.csv", "archive.json", "champions.json"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert sorted(p.name for p in (one / "images").iterdir()) == sorted(
        p.name for p in (two / "images").iterdir()
    )


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found beside the interpreter")
def test_a_run_killed_in_one_process_resumes_on_two_ranks_to_the_same_run(tmp_path):
    one, killed = tmp_path / "one", tmp_path / "killed"
    torchrun(1, one)

    class Killed(Exception):
        pass

    def kill_at_10(stats):
        if stats.generation == 10:
            raise Killed

    cfg = EvolveConfig(generations=15, seed=2, eval_batch_size=40, checkpoint_every=4)
    # One CPU thread, as torchrun gives each rank: LeNet's scores differ in the last bits
    # between 1 and 2 threads on some CPUs (AVX-512 convolution kernels).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.raises(Killed):
            evolve(cfg, killed, callback=kill_at_10)
    finally:
        torch.set_num_threads(threads)
    assert (killed / "checkpoint" / "LATEST").read_text().strip() == "00000008"
    torchrun(2, None, ["evolve", "--resume", str(killed), "-q"])
    for name in ("metrics.csv", "archive.json", "champions.safetensors"):
        assert (one / name).read_bytes() == (killed / name).read_bytes(), name


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found beside the interpreter")
def test_ascent_one_and_two_ranks_are_bit_identical(tmp_path):
    import json

    one, two = tmp_path / "one", tmp_path / "two"
    torchrun(1, one, ASCENT)
    proc = torchrun(2, two, ASCENT)
    for name in ("metrics.csv", "archive.json"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    images = sorted(p.name for p in (one / "images").iterdir())
    assert images == sorted(p.name for p in (two / "images").iterdir()) and len(images) == 5
    for name in images:
        assert (one / "images" / name).read_bytes() == (two / "images" / name).read_bytes()
    steps_run = [c["steps_run"] for c in json.loads((one / "archive.json").read_text())["classes"]]
    assert len(set(steps_run)) > 2  # classes stopped at different steps: ranks ran unevenly
    assert proc.stdout.count("run:") == 1  # only rank 0 reports


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found beside the interpreter")
def test_an_error_on_one_rank_stops_every_rank_with_one_line(tmp_path):
    # Rank 1's network returns NaN in generation 2: rank 1 says so, and rank 0, whose
    # all-gather lost its peer, says that instead of a gloo traceback.
    args = ["evolve", "--model", "conftest:nan_on_rank_one_classifier", "--input-size", "8",
            "--generations", "5", "--eval-batch-size", "50", "-q"]  # fmt: skip
    proc = torchrun(2, tmp_path / "run", args, ok=False)
    assert proc.returncode != 0
    errors = {line for line in proc.stderr.splitlines() if line.startswith("fooling: error:")}
    nan = "fooling: error: conftest:nan_on_rank_one_classifier returned NaN or infinite scores"
    peer = "fooling: error: another rank stopped (its error is above)"
    # torchrun may stop rank 0 before it has seen the lost peer; never with a traceback
    assert nan in errors and errors <= {nan, peer}, proc.stderr[-3000:]
    assert "RuntimeError" not in proc.stderr and "terminate called" not in proc.stderr


def two_machines(tmp_path, args):
    """``fooling *args`` on two "machines" of one rank each: two torchrun agents on loopback,
    node 0 working in ``tmp_path/a`` and node 1 in ``tmp_path/b``. Returns their exit codes
    and the ``fooling: error:`` lines each printed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [
        subprocess.Popen(
            [
                TORCHRUN,
                "--nnodes=2",
                f"--node_rank={node}",
                "--nproc_per_node=1",
                "--master_addr=127.0.0.1",
                f"--master_port={port}",
                "-m",
                "fooling",
                *args,
            ],
            cwd=tmp_path / d,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )  # fmt: skip
        for node, d in enumerate("ab")
    ]
    try:
        errs = [p.communicate(timeout=120)[1] for p in procs]  # a hang fails here
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    lines = [[x for x in e.splitlines() if x.startswith("fooling: error:")] for e in errs]
    return [p.returncode for p in procs], lines


def resume_on_two_machines(tmp_path, node_1_copy=None):
    """A 2-generation run in ``a/run``, resumed as ``run`` by node 0 in ``a/`` and node 1 in
    ``b/``, where ``node_1_copy(run, b/run)`` makes node 1's copy (default: none). Both must
    fail; returns their error lines."""
    run = tmp_path / "a" / "run"
    assert main(["evolve", "--generations", "2", "--out", str(run), "-q"]) == 0
    (tmp_path / "b").mkdir()
    if node_1_copy is not None:
        node_1_copy(run, tmp_path / "b" / "run")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    codes, lines = two_machines(tmp_path, ["evolve", "--resume", "run", "-q"])
    assert codes[0] != 0 and codes[1] != 0
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    return lines


def save_weights(model, path):
    """``model``'s network weights as a safetensors file ``path`` (folders made)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = create_classifier(model).module.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))


SAME_PATH = "every machine must see the run directory at the same path"


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found beside the interpreter")
def test_a_machine_that_cannot_see_the_run_stops_every_machine_with_its_error(tmp_path):
    # Resuming by a relative path that only node 0 has: node 1 cannot read the config, and
    # node 0, which can, must not wait for it in the process group.
    lines = resume_on_two_machines(tmp_path)
    message = "fooling: error: run/config.json not found: is run a run directory?"
    assert lines[1] == [f"{message} ({SAME_PATH})"]
    assert lines[0] == [f"{message} (rank 1 on {socket.gethostname()}; {SAME_PATH})"]


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found beside the interpreter")
def test_machines_that_see_different_checkpoints_refuse_to_resume(tmp_path):
    # Copies of a run, not one shared directory: node 1's copy has no checkpoint. Each
    # rank would continue its own search and the shared scores would fit neither.
    lines = resume_on_two_machines(
        tmp_path, lambda run, copy: shutil.copytree(run, copy, ignore=lambda d, f: {"checkpoint"})
    )
    expected = (
        "fooling: error: the machines see different checkpoints of run (rank 0: from generation "
        f"3, rank 1: no checkpoint); {SAME_PATH}"
    )
    assert lines == [[expected], [expected]]


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found beside the interpreter")
def test_machines_that_see_different_configs_refuse_to_resume(tmp_path):
    def other_seed(run, copy):
        shutil.copytree(run, copy)
        config = json.loads((copy / "config.json").read_text())
        config["evolve"]["seed"] = 7
        (copy / "config.json").write_text(json.dumps(config))

    lines = resume_on_two_machines(tmp_path, other_seed)
    expected = f"fooling: error: the machines see different configs in run; {SAME_PATH}"
    assert lines == [[expected], [expected]]


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found beside the interpreter")
def test_machines_that_load_different_weights_refuse_to_run(tmp_path):
    save_weights("lenet-mnist", tmp_path / "a" / "w.st")  # one path, two networks
    save_weights("lenet-mnist-b", tmp_path / "b" / "w.st")
    args = ["evolve", "--weights", "w.st", "--generations", "2", "--out", "out", "-q"]
    codes, lines = two_machines(tmp_path, args)
    assert codes[0] != 0 and codes[1] != 0
    expected = (
        "fooling: error: the ranks loaded different lenet-mnist networks: its weights, "
        "preprocessing or labels differ between the machines"
    )
    assert lines == [[expected], [expected]]
    assert not (tmp_path / "a" / "out").exists()


@pytest.mark.skipif(TORCHRUN is None, reason="torchrun not found beside the interpreter")
def test_a_weights_file_one_machine_lacks_stops_every_machine_with_its_error(tmp_path):
    save_weights("lenet-mnist", tmp_path / "a" / "w.safetensors")
    (tmp_path / "b").mkdir()
    args = ["evolve", "--weights", "w.safetensors", "--generations", "2", "--out", "out", "-q"]
    codes, lines = two_machines(tmp_path, args)
    assert codes[0] != 0 and codes[1] != 0
    assert len(lines[1]) == 1 and "w.safetensors" in lines[1][0]
    assert lines[0] == [f"{lines[1][0]} (rank 1 on {socket.gethostname()})"]
    assert not (tmp_path / "a" / "out").exists()  # nothing written


def test_shard_single_process_takes_everything_and_bytes_follow_the_formula():
    assert distributed.shard(5, 2) == [0, 1, 2, 3, 4]
    # 200 offspring in chunks of 100 on 2 ranks: each sends one chunk of 10 float32 scores
    assert distributed.bytes_per_call(200, 100, 10, world=2) == 100 * 10 * 4
    assert distributed.bytes_per_call(250, 100, 10, world=2) == 2 * 100 * 10 * 4


def test_sharded_scores_single_process_covers_every_chunk_in_order():
    calls = []

    def score(start, stop):
        calls.append((start, stop))
        return torch.arange(start, stop, dtype=torch.float32).view(-1, 1).repeat(1, 3)

    out = distributed.sharded_scores(10, 4, score, 3, torch.device("cpu"))
    assert calls == [(0, 4), (4, 8), (8, 10)]
    assert out[:, 0].tolist() == list(range(10))
    assert distributed.bytes_per_call(10, 4, 3) == 0


def _score_on_rank(rank: int, world: int, init: str, result: str) -> None:
    """One rank of a real gloo group: which chunks it scores, and what every rank gathers."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        calls = []

        def score(start, stop):
            calls.append((start, stop))
            return torch.arange(start, stop, dtype=torch.float32).view(-1, 1).repeat(1, 3)

        out = distributed.sharded_scores(11, 2, score, 3, torch.device("cpu"))
        torch.save({"calls": calls, "out": out, "shard": distributed.shard(11, 2)}, result)
    finally:
        dist.destroy_process_group()


def test_two_ranks_each_score_their_own_chunks_and_all_gather_every_score(tmp_path):
    import torch.multiprocessing as mp

    init = f"file://{tmp_path / 'store'}"
    results = [str(tmp_path / f"rank{r}.pt") for r in range(2)]
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_score_on_rank, args=(r, 2, init, results[r])) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    zero, one = (torch.load(r) for r in results)
    # 11 items in chunks of 2: chunks 0, 2, 4 on rank 0 and 1, 3, 5 on rank 1.
    assert zero["calls"] == [(0, 2), (4, 6), (8, 10)] and one["calls"] == [(2, 4), (6, 8), (10, 11)]
    assert zero["shard"] == [0, 1, 4, 5, 8, 9] and one["shard"] == [2, 3, 6, 7, 10]
    for r in (zero, one):
        assert r["out"][:, 0].tolist() == list(range(11)) and r["out"].shape == (11, 3)


def test_fewer_chunks_than_ranks_warns_with_the_option_that_shares_them(monkeypatch, caplog):
    # torchrun with 4 ranks and the default chunk of 1024: 200 offspring make one chunk, and
    # three ranks would idle without a word.
    monkeypatch.setattr(distributed, "world_size", lambda: 4)
    with caplog.at_level("WARNING", logger="fooling.distributed"):
        distributed.warn_idle_ranks(200, 1024, "offspring", "--eval-batch-size")
        distributed.warn_idle_ranks(200, 50, "offspring", "--eval-batch-size")  # 4 chunks
    assert [r.getMessage() for r in caplog.records] == [
        "200 offspring in chunks of 1024 keep 1 of 4 ranks busy; --eval-batch-size 50 shares them"
    ]
