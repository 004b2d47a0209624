"""Process-level tuning of glibc's allocator for CPU scoring; called by the ``fooling`` command
and the benchmarks (the applications), never on import.

glibc serves every allocation above its mmap threshold with a fresh ``mmap`` and returns it on
free, so each of a CNN's large activation tensors costs page faults on every forward pass. On
the project's 2-core machines that kernel time exceeded the convolutions themselves:
EfficientNet-Lite0 ran 23 images/s in batches of 200 (twice as much system as user time), and
131 images/s in batches of 32 with freed memory kept in the heap (benchmarks/throughput.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Activations of a batch stay in the heap up to 1 GiB each; older glibc caps the threshold at
# 32 MiB on 64-bit and refuses more, which is then what is set.
_THRESHOLDS = (1 << 30, 32 << 20)
_done = False


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds so freed activations are reused, not unmapped.

    Returns whether it applied (glibc on Linux only; a no-op elsewhere or the second time).
    """
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = any(libc.mallopt(_M_MMAP_THRESHOLD, t) for t in _THRESHOLDS)
        ok = bool(libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)) and ok
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    _done = ok
    log.debug("glibc mallopt: keep freed memory in the heap: %s", ok)
    return ok
