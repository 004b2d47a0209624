"""torch.distributed helpers: every rank holds the same search; only scores travel.

Launched by ``torchrun`` (``torchrun --nproc_per_node=K -m fooling evolve ...``, or the
multi-node flags), every rank draws the same offspring from the shared seed, scores its share
of fixed-size chunks of the batch, and the ``(N, K)`` probabilities are all-gathered. Chunks
have the same boundaries whatever the number of ranks, so the numbers — and the run — are
bit-identical to a single process scoring the same chunks.

Gradient ascent (``fooling ascent``) shards its target classes the same way: rank r takes the
fixed chunks r, r + W, ... of ``batch_size`` classes (``shard``), runs the ascent of those
classes from the same start image, and rank 0 gathers the results (``gather_to_main``) and
writes the run. A class's forward batch is its chunk whatever the number of ranks, so the
run is bit-identical to one process.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist

from .errors import ConfigError, FoolingError, first_line

log = logging.getLogger(__name__)

T = TypeVar("T")


def launched() -> bool:
    """True when started by torchrun (or any launcher that sets WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def single_process(command: str) -> None:
    """Raise a one-line ``ConfigError`` when launched with several ranks: ``command`` runs
    in one process (every rank would write the same files)."""
    if launched():
        raise ConfigError(
            f"{command} runs in one process; under torchrun only evolve and ascent share "
            "their work between ranks"
        )


def check_device(device: str | torch.device) -> torch.device:
    """This rank's ``device`` (:func:`local_device`); a one-line ``ConfigError`` where it
    cannot hold a tensor here."""
    try:
        local = local_device(device)
        torch.empty(0, device=local)
    except (RuntimeError, AssertionError, ValueError, TypeError) as e:
        raise ConfigError(f"device {str(device)!r} is not usable: {first_line(e)}") from None
    return local


def join() -> None:
    """Join the process group torchrun describes, once; nothing in one process.

    Gloo carries CPU tensors and, where this torch has it, nccl CUDA tensors. The backend
    does not depend on the run's device, so the ranks join before any of them reads a
    config or loads a network, and from then on stop together on a user's error
    (:func:`together`) instead of waiting for a rank that has already stopped.
    """
    if not launched() or dist.is_initialized():
        return
    backend = "cpu:gloo"
    if torch.cuda.is_available() and dist.is_nccl_available():
        backend += ",cuda:nccl"
    try:
        dist.init_process_group(backend=backend)
    except (ValueError, dist.DistError) as e:  # no RANK or MASTER_ADDR; no master to reach
        raise ConfigError(f"cannot join the torchrun process group: {first_line(e)}") from None
    log.info("rank %d of %d (%s)", rank(), world_size(), backend)


def init(device: str | torch.device = "cpu") -> torch.device:
    """Join the process group (:func:`join`) and check ``device`` on every rank; idempotent.
    Returns this rank's device: under torchrun, ``cuda`` means each rank's own GPU
    (``LOCAL_RANK``); an explicit ``cuda:N`` would put every rank on the same GPU."""
    if launched() and str(device).startswith("cuda:"):  # the same arguments on every rank
        raise ConfigError(
            f"--device {device} under torchrun: give --device cuda, and each rank takes the GPU "
            "of its LOCAL_RANK (CUDA_VISIBLE_DEVICES chooses which GPUs)"
        )
    join()
    local = together(lambda: check_device(device))
    if launched() and local.type == "cuda":
        torch.cuda.set_device(local)  # where nccl puts this rank's buffers
    return local


def together(step: Callable[[], T], *, partial: str = "") -> T:
    """``step()`` on every rank; a ``FoolingError`` raised on any rank is raised on all.

    A user's error can differ between machines (a file one of them lacks); without this,
    the ranks that got past it would wait in their next collective for one that stopped.
    A rank that failed raises its own error; every other rank raises the lowest failing
    rank's, naming that rank and its host. ``partial`` is added where some ranks succeeded.
    """
    if world_size() == 1:
        return step()
    result, report = None, None
    try:
        result = step()
    except FoolingError as e:
        report = (type(e), str(e), socket.gethostname())
    reports: list[tuple[type[FoolingError], str, str] | None] = [None] * world_size()
    dist.all_gather_object(reports, report)
    failed = [(r, rep) for r, rep in enumerate(reports) if rep is not None]
    if not failed:
        return result  # type: ignore[return-value]
    # A rank that failed raises its own error; the others, the lowest failing rank's.
    r, (kind, message, host) = (rank(), report) if report is not None else failed[0]
    notes = [f"rank {r} on {host}"] if r != rank() else []
    if partial and len(failed) < len(reports):
        notes.append(partial)
    raise kind(f"{message} ({'; '.join(notes)})" if notes else message)


def unequal(value: T) -> list[T] | None:
    """Every rank's ``value``, in rank order, where they are not all equal; else ``None``
    (always in one process). ``value`` must be picklable."""
    if world_size() == 1:
        return None
    values: list[T] = [value] * world_size()
    dist.all_gather_object(values, value)
    return None if all(v == values[0] for v in values) else values


def local_device(device: str | torch.device) -> torch.device:
    """``cuda`` becomes this rank's GPU (``LOCAL_RANK``); other devices stay as they are."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and launched():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def sharded_scores(
    n: int,
    chunk: int,
    score: Callable[[int, int], torch.Tensor],
    num_classes: int,
    device: torch.device,
) -> torch.Tensor:
    """Score items ``[0, n)`` in chunks ``[c * chunk, (c + 1) * chunk)`` across the ranks.

    Rank r scores chunks r, r + W, r + 2W, ... with ``score(start, stop) -> (stop - start, K)``
    and the results are all-gathered into ``(n, K)`` on every rank. Only these numbers
    travel (``bytes_per_call``), never images.
    """
    starts = list(range(0, n, chunk))
    w, r = world_size(), rank()
    if w == 1:
        return torch.cat([score(s, min(s + chunk, n)) for s in starts])
    mine = starts[r::w]
    per_rank = -(-len(starts) // w)  # chunks per rank, padded to the same count
    buf = torch.zeros(per_rank * chunk, num_classes, device=device)
    for i, s in enumerate(mine):
        e = min(s + chunk, n)
        buf[i * chunk : i * chunk + (e - s)] = score(s, e)
    gathered = [torch.empty_like(buf) for _ in range(w)]
    dist.all_gather(gathered, buf)
    out = torch.empty(n, num_classes, device=device)
    for c, s in enumerate(starts):
        src, i = c % w, c // w
        e = min(s + chunk, n)
        out[s:e] = gathered[src][i * chunk : i * chunk + (e - s)]
    return out


def bytes_per_call(n: int, chunk: int, num_classes: int, *, world: int | None = None) -> int:
    """Bytes each rank sends per ``sharded_scores`` call (float32 probabilities).

    Every rank sends ``ceil(ceil(n / chunk) / W) * chunk * num_classes * 4`` bytes (its
    chunks, padded to the same count) and receives that from each of the other ``W - 1``.

    Args:
        n: items scored per call (offspring per generation).
        chunk: items per chunk (``eval_batch_size``).
        num_classes: scores per item.
        world: the number of ranks ``W`` (default: this process group's).
    """
    w = world_size() if world is None else world
    if w == 1:
        return 0
    chunks = -(-n // chunk)
    return -(-chunks // w) * chunk * num_classes * 4


def warn_idle_ranks(n: int, chunk: int, what: str, option: str) -> None:
    """On rank 0, a warning where ``n`` items in chunks of ``chunk`` leave ranks idle (fewer
    chunks than ranks), naming the ``option`` that sets smaller chunks. Chunk boundaries
    do not follow the number of ranks (they would change what a run computes), so the
    user chooses."""
    chunks, ranks = -(-n // chunk), world_size()
    if chunks < ranks and is_main():
        log.warning(
            "%d %s in chunks of %d keep %d of %d ranks busy; %s %d shares them",
            n, what, chunk, chunks, ranks, option, -(-n // ranks),
        )  # fmt: skip


def shard(n: int, chunk: int) -> list[int]:
    """The items of ``[0, n)`` this rank handles: chunks ``r, r + W, ...`` of ``chunk`` items,
    the split ``sharded_scores`` uses; every item in one process."""
    w, r = world_size(), rank()
    return [i for s in range(r * chunk, n, w * chunk) for i in range(s, min(s + chunk, n))]


def gather_to_main(obj: T) -> list[T] | None:
    """Every rank's ``obj`` (picklable; CPU tensors), in rank order, on rank 0; ``None`` on
    the other ranks. ``[obj]`` in one process."""
    if world_size() == 1:
        return [obj]
    out: list[T] | None = [None] * world_size() if is_main() else None  # type: ignore[list-item]
    dist.gather_object(obj, out, dst=0)
    return out


def prepare_run_dir(out: str | os.PathLike[str]) -> None:
    """``rundir.prepare(out)`` on rank 0; its error is raised on every rank, so all stop
    together.

    Raises:
        RunDirError: ``out`` holds something already or cannot be written.
    """
    from . import rundir

    together(lambda: rundir.prepare(out) if is_main() else None)
