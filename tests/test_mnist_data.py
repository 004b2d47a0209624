"""MNIST data: idx reader, local lookup order, download from a local HTTP mirror, checksums."""

from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from fooling.data import mnist
from fooling.data.mnist import load_mnist, mnist_dir, read_idx
from fooling.errors import DataError

TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
T10K = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _src() -> Path:
    from conftest import shared_path

    return shared_path("datasets", "mnist")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1; yields the base URL (with a slash)."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def mirror() -> Iterator[str]:
    """A good mirror: the four .gz files from ../shared/datasets/mnist."""
    with _serve(_src()) as url:
        yield url


@pytest.fixture
def closed_port_url() -> str:
    """A URL on a port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the real cache: XDG_CACHE_HOME and HOME point into tmp, no FOOLING_DATA."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FOOLING_DATA", raising=False)
    # Each test starts with no file known as verified.
    monkeypatch.setattr(mnist, "_VERIFIED", set())
    return tmp_path / "xdg" / "fooling" / "mnist"


def _decompressed(name: str) -> bytes:
    return gzip.decompress((_src() / f"{name}.gz").read_bytes())


def _put(folder: Path, names: tuple[str, ...] = T10K, *, gz: bool = False) -> Path:
    """Copy MNIST files into ``folder`` (as .gz or decompressed)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        if gz:
            (folder / f"{name}.gz").write_bytes((_src() / f"{name}.gz").read_bytes())
        else:
            (folder / name).write_bytes(_decompressed(name))
    return folder


def _check_test_split(images: torch.Tensor, labels: torch.Tensor) -> None:
    assert images.shape == (10_000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (10_000,) and labels.dtype == torch.int64
    assert torch.bincount(labels, minlength=10).tolist() == TEST_COUNTS
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert int(images.max()) == 255 and int(images.min()) == 0


# --- the idx reader ---------------------------------------------------------------------


def _idx(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_read_idx_round_trips_uint8_int32_and_gzip(tmp_path: Path) -> None:
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = read_idx(_idx(a, 0x08))
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4) and np.array_equal(out, a)
    assert out.flags.writeable

    b = np.array([-5, 0, 70_000], dtype=np.int32)
    out = read_idx(_idx(b, 0x0C))
    assert (
        out.dtype == np.dtype(np.int32) and out.dtype.isnative and out.tolist() == [-5, 0, 70_000]
    )

    path = tmp_path / "a.idx.gz"
    path.write_bytes(gzip.compress(_idx(a, 0x08)))
    assert np.array_equal(read_idx(path), a)
    assert np.array_equal(read_idx(str(path)), a)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 2]) + bytes(7), "truncated"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 2]) + bytes(3), "longer than its header"),
        (bytes([0, 0, 8, 3, 0, 0]), "truncated"),
        (b"\x12\x34\x08\x01\x00\x00\x00\x01\x00", "not an idx file"),
        (b"", "not an idx file"),
        (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 0]), "unknown idx type code 0x42"),
        (gzip.compress(bytes(100), mtime=0)[:-6], "corrupt or truncated gzip"),
        # dims whose product overflows int64 (65536^4 = 2^64 wraps to 0)
        (bytes([0, 0, 8, 4]) + bytes([0, 1, 0, 0]) * 4, "truncated"),
        (bytes([0, 0, 8, 2]) + b"\xff\xff\xff\xff" * 2, "needs 18446744065119617037"),
    ],
    ids=[
        "short-body",
        "long-body",
        "short-header",
        "bad-magic",
        "empty",
        "bad-type",
        "bad-gzip",
        "dims-overflow",
        "dims-huge",
    ],  # fmt: skip
)
def test_read_idx_rejects_corrupt_data(data: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_idx(data)


def test_read_idx_rejects_truncated_mnist_file(tmp_path: Path) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(_decompressed(T10K[1])[:5000])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte is truncated: 5000 bytes"):
        read_idx(path)
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "missing")


# --- download ---------------------------------------------------------------------------


def test_download_into_cache_then_load_offline(
    mirror: str, isolated_env: Path, closed_port_url: str
) -> None:
    cache = isolated_env
    assert mnist_dir() == cache
    _check_test_split(*load_mnist("test", mirrors=[mirror]))
    # Decompressed, verified files land in the cache; no temporaries remain.
    assert sorted(p.name for p in cache.iterdir()) == sorted(T10K)
    for name in T10K:
        assert (cache / name).read_bytes() == _decompressed(name)
    # A second load reads the cache: no working mirror and download off both succeed.
    _check_test_split(*load_mnist("t10k", mirrors=[closed_port_url]))
    _check_test_split(*load_mnist("test", download=False))
    assert mnist_dir(split="test") == cache


def test_download_full_train_split(mirror: str, tmp_path: Path) -> None:
    root = tmp_path / "root"
    images, labels = load_mnist("train", root=root, mirrors=[mirror])
    assert images.shape == (60_000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60_000,) and labels.dtype == torch.int64
    assert torch.bincount(labels, minlength=10).tolist() == TRAIN_COUNTS
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert sorted(p.name for p in root.iterdir()) == [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
    ]


def test_corrupt_mirror_file_fails_checksum_and_leaves_nothing(
    tmp_path: Path, isolated_env: Path
) -> None:
    bad = _put(tmp_path / "bad", gz=True)
    labels = bytearray(_decompressed(T10K[1]))
    labels[100] ^= 0xFF  # a valid gzip of wrong content: only the md5 can tell
    (bad / f"{T10K[1]}.gz").write_bytes(gzip.compress(bytes(labels)))
    with _serve(bad) as url, pytest.raises(DataError) as info:
        load_mnist("test", mirrors=[url])
    message = str(info.value)
    assert "\n" not in message
    assert "md5 checksum mismatch" in message and mnist.MD5[T10K[1]] in message
    assert "FOOLING_DATA" in message
    assert not (isolated_env / T10K[1]).exists()
    assert not list(isolated_env.glob("*.tmp"))
    # The good images file was kept (verified); the corrupt labels never written.
    assert (isolated_env / T10K[0]).read_bytes() == _decompressed(T10K[0])


def test_corrupt_gzip_from_mirror_then_good_mirror(
    tmp_path: Path, mirror: str, isolated_env: Path
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in T10K:
        (bad / f"{name}.gz").write_bytes((_src() / f"{name}.gz").read_bytes()[:1000])
    with _serve(bad) as url:
        _check_test_split(*load_mnist("test", mirrors=[url, mirror]))
    assert sorted(p.name for p in isolated_env.iterdir()) == sorted(T10K)


def test_failing_mirrors_then_good_one(mirror: str, closed_port_url: str) -> None:
    not_found = mirror + "no-such-prefix/"
    malformed = "ftp//not-a-url/"  # urllib refuses it before any connection
    mirrors = [closed_port_url, not_found, malformed, mirror]
    _check_test_split(*load_mnist("test", mirrors=mirrors))


def test_silent_mirror_times_out_then_good_one(mirror: str, tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        _check_test_split(*load_mnist("test", mirrors=[url, mirror], timeout=0.2))
        with pytest.raises(DataError, match="timed out"):
            load_mnist("test", root=tmp_path / "fresh", mirrors=[url], timeout=0.2)


def test_offline_without_files_names_where_to_put_them(
    mirror: str, closed_port_url: str, isolated_env: Path
) -> None:
    not_found = mirror + "no-such-prefix"  # no trailing slash: one is added
    with pytest.raises(DataError) as info:
        load_mnist("test", mirrors=[closed_port_url, not_found])
    message = str(info.value)
    assert "\n" not in message
    assert "FOOLING_DATA" in message and str(isolated_env) in message
    assert all(name in message for name in mnist.MD5)
    assert "every mirror failed" in message and "HTTP 404" in message
    assert f"{not_found}/t10k-images-idx3-ubyte.gz" in message

    with pytest.raises(DataError, match="download is off.*FOOLING_DATA"):
        load_mnist("test", download=False)
    assert not isolated_env.exists() or not any(isolated_env.iterdir())


def test_unknown_split() -> None:
    with pytest.raises(DataError, match="unknown MNIST split 'val'"):
        load_mnist("val", download=False)


# --- local lookup: root, $FOOLING_DATA, cache -------------------------------------------


def test_fooling_data_env_is_searched_before_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: Path
) -> None:
    data = _put(tmp_path / "data", gz=True)
    monkeypatch.setenv("FOOLING_DATA", str(data))
    assert mnist.search_dirs() == [data, isolated_env]
    assert mnist_dir(split="test") == data
    _check_test_split(*load_mnist("test", download=False))
    # The .gz files were read in place: nothing was written anywhere.
    assert sorted(p.name for p in data.iterdir()) == sorted(f"{n}.gz" for n in T10K)
    assert not isolated_env.exists()
    # Files missing in $FOOLING_DATA are found in the cache.
    monkeypatch.setenv("FOOLING_DATA", str(tmp_path / "empty"))
    _put(isolated_env)
    assert mnist_dir(split="test") == isolated_env
    _check_test_split(*load_mnist("test", download=False))


def test_explicit_root_wins_over_env_and_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror: str
) -> None:
    root = _put(tmp_path / "root")
    monkeypatch.setenv("FOOLING_DATA", str(_put(tmp_path / "env", gz=True)))
    assert mnist.search_dirs(root) == [root]
    assert mnist_dir(root) == root
    _check_test_split(*load_mnist("test", root=root, download=False))
    # A root without the files is not rescued by $FOOLING_DATA: it downloads into root.
    other = tmp_path / "other"
    assert mnist_dir(other) == other
    with pytest.raises(DataError, match="download is off") as info:
        load_mnist("test", root=other, download=False)
    assert str(other) in str(info.value)
    _check_test_split(*load_mnist("test", root=other, mirrors=[mirror]))
    assert sorted(p.name for p in other.iterdir()) == sorted(T10K)


def test_cache_dir_respects_xdg_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert mnist.cache_dir() == tmp_path / "xdg" / "fooling" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert mnist.cache_dir() == tmp_path / "home" / ".cache" / "fooling" / "mnist"
    assert mnist_dir() == tmp_path / "home" / ".cache" / "fooling" / "mnist"


def test_corrupt_local_file_is_named(tmp_path: Path) -> None:
    root = _put(tmp_path / "root")
    labels = root / T10K[1]
    data = bytearray(labels.read_bytes())
    data[200] ^= 0x01  # same size: only the md5 can tell
    labels.write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"corrupt MNIST file {labels}: md5"):
        load_mnist("test", root=root, download=False)
    labels.write_bytes(bytes(data[:-10]))
    with pytest.raises(DataError, match=f"corrupt MNIST file {labels}: 9998 bytes"):
        load_mnist("test", root=root, download=False)
    gz = tmp_path / "gz"
    gz.mkdir()
    (gz / f"{T10K[0]}.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match=f"corrupt MNIST file {gz / T10K[0]}.gz"):
        load_mnist("test", root=gz, download=False)


def test_md5_is_checked_once_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _put(tmp_path / "root")
    calls: list[int] = []
    real_md5 = mnist.hashlib.md5

    def counting_md5(data: bytes) -> object:
        calls.append(len(data))
        return real_md5(data)

    monkeypatch.setattr(mnist.hashlib, "md5", counting_md5)
    for _ in range(3):
        _check_test_split(*load_mnist("test", root=root, download=False))
    assert sorted(calls) == sorted(mnist.SIZES[n] for n in T10K)
    # A file changed on disk (here: a new mtime) is checked again.
    st = (root / T10K[1]).stat()
    os.utime(root / T10K[1], ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))
    load_mnist("test", root=root, download=False)
    assert len(calls) == 3 and calls[-1] == mnist.SIZES[T10K[1]]
