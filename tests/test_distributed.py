"""torch.distributed: 1 rank and 2 ranks (gloo, CPU) give bit-identical runs."""

import os
import shutil
import subprocess
import sys

import pytest
import torch

from fooling import distributed

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


def torchrun(nproc: int, out):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        TORCHRUN,
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "fooling",
        *ARGS,
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
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


def test_sharded_scores_single_process_covers_every_chunk_in_order():
    calls = []

    def score(start, stop):
        calls.append((start, stop))
        return torch.arange(start, stop, dtype=torch.float32).view(-1, 1).repeat(1, 3)

    out = distributed.sharded_scores(10, 4, score, 3, torch.device("cpu"))
    assert calls == [(0, 4), (4, 8), (8, 10)]
    assert out[:, 0].tolist() == list(range(10))
    assert distributed.bytes_per_call(10, 4, 3) == 0
