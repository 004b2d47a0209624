"""MNIST: the idx reader, the local file lookup, download from mirrors, and checksums.

The four files are looked for (as ``name`` or ``name.gz``) in an explicit ``root``; else in
``$FOOLING_DATA`` and then the user cache (``$XDG_CACHE_HOME/fooling/mnist``, by default
``~/.cache/fooling/mnist``). Missing files are downloaded as ``<mirror><name>.gz`` from
:data:`MIRRORS`, tried in order, decompressed, checked against the md5 of the decompressed
file, and written atomically (decompressed) into ``root`` or the cache. A file that fails its
checksum is never written. Every local file is md5-checked once per process.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import logging
import math
import os
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from .._io import write_bytes
from ..errors import DataError

log = logging.getLogger(__name__)

MIRRORS: list[str] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
"""Public mirrors, tried in order; a file is fetched as ``<mirror><name>.gz``."""

FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
"""Split -> (images file, labels file), names of the decompressed files."""

MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
"""md5 of each DECOMPRESSED file."""

SIZES: dict[str, int] = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}
"""Size in bytes of each decompressed file: a cheap check before the md5."""

ENV_VAR = "FOOLING_DATA"
TIMEOUT_S = 30.0

_SPLIT_ALIASES = {"train": "train", "test": "test", "t10k": "test"}

# idx type code -> numpy dtype (big-endian, as stored).
_IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"

# Local files already md5-checked in this process, keyed by (path, size, mtime, inode):
# a changed file changes the key and is checked again.
_VERIFIED: set[tuple[str, int, int, int]] = set()


def read_idx(
    path_or_bytes: str | os.PathLike[str] | bytes | bytearray | memoryview,
    *,
    name: str | None = None,
) -> np.ndarray:
    """Parse an idx file (the MNIST format), plain or gzip-compressed.

    Args:
        path_or_bytes: A file path, or the file's content.
        name: What to call the data in error messages (default: the path, or "idx data").

    Returns:
        An array of the stored shape ``(d0, d1, ...)`` and dtype (uint8 for MNIST), native
        byte order, writable.

    Raises:
        DataError: The file cannot be read, is not idx (wrong magic or type code), or its size
            does not match its header (truncated or trailing bytes).
    """
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
        label = name or "idx data"
    else:
        label = name or str(path_or_bytes)
        try:
            data = Path(path_or_bytes).read_bytes()
        except OSError as exc:
            raise DataError(f"cannot read {label}: {exc.strerror or exc}") from None
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{label} is a corrupt or truncated gzip file ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{label} is not an idx file (bad magic {data[:4].hex() or 'empty'})")
    dtype = _IDX_DTYPES.get(data[2])
    if dtype is None:
        raise DataError(f"{label} has an unknown idx type code 0x{data[2]:02x}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{label} is truncated: {len(data)} bytes, header needs {header}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    count = math.prod(dims)  # Python ints: no overflow on absurd headers
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(f"{label} is {what}: {len(data)} bytes, header {dims} needs {expected}")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    # astype copies: the result is writable (torch.from_numpy wants that) and native-endian.
    return array.astype(dtype.newbyteorder("="), copy=True)


def cache_dir() -> Path:
    """The user cache for MNIST: ``$XDG_CACHE_HOME/fooling/mnist`` or ``~/.cache/fooling/mnist``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "fooling" / "mnist"


def search_dirs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for the MNIST files, in order.

    Args:
        root: An explicit folder; when given it is the only one searched.

    Returns:
        ``[root]``, or ``[$FOOLING_DATA, cache]`` (``$FOOLING_DATA`` only where set).
    """
    if root is not None:
        return [Path(root).expanduser()]
    dirs = []
    env = os.environ.get(ENV_VAR)
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(cache_dir())
    return dirs


def mnist_dir(root: str | os.PathLike[str] | None = None, *, split: str | None = None) -> Path:
    """The folder the MNIST files are read from, or downloaded into when absent.

    Args:
        root: An explicit folder (then it is the answer).
        split: Only consider this split's files ("train" or "test"); default all four.

    Returns:
        The first searched folder that holds the files (each as ``name`` or ``name.gz``),
        else the download folder (``root`` or the user cache).
    """
    names = _split_files(split) if split is not None else tuple(MD5)
    for folder in search_dirs(root):
        if all(_local_file(folder, n) is not None for n in names):
            return folder
    return _download_dir(root)


def load_mnist(
    split: str = "train",
    *,
    root: str | os.PathLike[str] | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    timeout: float = TIMEOUT_S,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load an MNIST split, downloading missing files where allowed.

    Args:
        split: "train" (60 000 images) or "test" (10 000; "t10k" also accepted).
        root: Folder holding the files; missing ones are downloaded into it. Default: look in
            ``$FOOLING_DATA`` then the user cache, and download into the cache.
        download: Fetch missing files from ``mirrors``.
        mirrors: URL prefixes tried in order (default :data:`MIRRORS`).
        timeout: Seconds to wait on a mirror before trying the next.

    Returns:
        ``images`` uint8 ``(N, 28, 28)`` and ``labels`` int64 ``(N,)``.

    Raises:
        DataError: Unknown split; a local file is corrupt; a file is missing and cannot be
            downloaded from any mirror.
    """
    images_name, labels_name = _split_files(split)
    images = read_idx(_file_bytes(images_name, root, download, mirrors, timeout), name=images_name)
    labels = read_idx(_file_bytes(labels_name, root, download, mirrors, timeout), name=labels_name)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise DataError(f"MNIST {split} files have shapes {images.shape} and {labels.shape}")
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def _split_files(split: str) -> tuple[str, str]:
    key = _SPLIT_ALIASES.get(split)
    if key is None:
        raise DataError(f"unknown MNIST split {split!r}; expected 'train' or 'test'")
    return FILES[key]


def _download_dir(root: str | os.PathLike[str] | None) -> Path:
    return Path(root).expanduser() if root is not None else cache_dir()


def _local_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` or else ``folder/name.gz``, whichever exists first."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _file_bytes(
    name: str,
    root: str | os.PathLike[str] | None,
    download: bool,
    mirrors: Sequence[str] | None,
    timeout: float,
) -> bytes:
    """The verified decompressed content of MNIST file ``name``: local, else downloaded."""
    dirs = search_dirs(root)
    for folder in dirs:
        path = _local_file(folder, name)
        if path is not None:
            return _read_verified(path, name)
    where = ", ".join(str(d) for d in dirs)
    hint = f"put {', '.join(MD5)} (or their .gz) in {where}"
    if root is None:
        hint += f", or set ${ENV_VAR} to a folder holding them"
    if not download:
        raise DataError(f"MNIST file {name} not found in {where} (download is off); {hint}")
    mirrors = MIRRORS if mirrors is None else list(mirrors)
    if not mirrors:
        raise DataError(f"MNIST file {name} not found in {where} and no mirrors given; {hint}")
    last_error = ""
    for mirror in mirrors:
        url = mirror if mirror.endswith("/") else mirror + "/"
        url += f"{name}.gz"
        try:
            data = _fetch_verified(url, name, timeout)
        except _MirrorError as exc:
            # info, not warning: the next mirror may serve the file, and if none does the
            # error names the last failure in its one line (-v shows every one).
            log.info("MNIST mirror failed: %s", exc)
            last_error = str(exc)
            continue
        target = _download_dir(root) / name
        try:
            write_bytes(target, data)
        except OSError as exc:
            raise DataError(f"cannot write MNIST file {target}: {exc.strerror or exc}") from None
        _mark_verified(target)
        log.info("downloaded %s to %s", url, target)
        return data
    raise DataError(
        f"MNIST file {name} not found in {where} and every mirror failed "
        f"(last error: {last_error}); {hint}"
    )


class _MirrorError(Exception):
    """One mirror could not deliver a good file; the next is tried."""


def _fetch_verified(url: str, name: str, timeout: float) -> bytes:
    try:
        request = urllib.request.Request(url, headers={"User-Agent": f"fooling/{__version__}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as exc:
        raise _MirrorError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _MirrorError(f"{url}: {exc.reason}") from None
    except http.client.IncompleteRead as exc:
        got = len(exc.partial)
        total = f" of {got + exc.expected}" if exc.expected is not None else ""
        raise _MirrorError(f"{url}: download interrupted after {got}{total} bytes") from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # ValueError: a malformed mirror URL; OSError covers timeouts and resets mid-read.
        raise _MirrorError(f"{url}: {exc or type(exc).__name__}") from None
    if payload[:2] == _GZIP_MAGIC:
        try:
            payload = gzip.decompress(payload)
        except (OSError, EOFError, zlib.error) as exc:
            raise _MirrorError(f"{url}: corrupt gzip data ({exc})") from None
    digest = hashlib.md5(payload).hexdigest()
    if digest != MD5[name]:
        raise _MirrorError(f"{url}: md5 checksum mismatch ({digest}, expected {MD5[name]})")
    return payload


def _stat_key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)


def _mark_verified(path: Path) -> None:
    try:
        _VERIFIED.add(_stat_key(path))
    except OSError:
        pass


def _read_verified(path: Path, name: str) -> bytes:
    """Read ``path`` (``name`` or ``name.gz``), decompress, check size and md5 (once)."""
    fix = "delete it to download it again, or replace it"
    try:
        key = _stat_key(path)
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read MNIST file {path}: {exc.strerror or exc}") from None
    data = raw
    if raw[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"corrupt MNIST file {path} (bad gzip: {exc}); {fix}") from None
    if len(data) != SIZES[name]:
        raise DataError(
            f"corrupt MNIST file {path}: {len(data)} bytes decompressed, "
            f"expected {SIZES[name]}; {fix}"
        )
    if key not in _VERIFIED:
        digest = hashlib.md5(data).hexdigest()
        if digest != MD5[name]:
            raise DataError(f"corrupt MNIST file {path}: md5 {digest}, expected {MD5[name]}; {fix}")
        _VERIFIED.add(key)
    return data
