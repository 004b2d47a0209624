"""Weights downloads: the AlexNet path against a local HTTP server on 127.0.0.1 serving a state
dict made here (and corrupted ones: a one-line error and nothing left in the cache)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import threading

import pytest
import torch

from fooling.errors import DataError
from fooling.models import alexnet as alexnet_module
from fooling.models import create_classifier, hub


@contextlib.contextmanager
def serve(folder):
    """A loopback HTTP server over ``folder``; yields its base URL and a request log."""
    hits: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # quiet, but count the requests
            hits.append(self.path)

    handler = functools.partial(Handler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FOOLING_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def cache_files(cache):
    return sorted(p.name for p in cache.rglob("*")) if cache.exists() else []


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("FOOLING_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.cache_dir() == tmp_path / "xdg" / "fooling" / "models"
    monkeypatch.setenv("FOOLING_CACHE", str(tmp_path / "mine"))
    assert hub.cache_dir() == tmp_path / "mine" / "models"


def test_alexnet_downloads_once_checks_and_loads(tmp_path, cache, monkeypatch):
    torch.manual_seed(0)
    net = alexnet_module.AlexNet()
    served = tmp_path / "www"
    served.mkdir()
    raw = served / "raw.pth"
    torch.save(net.state_dict(), raw)
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    name = f"alexnet-owt-{digest[:8]}.pth"  # torchvision's naming: a sha256 prefix
    raw.rename(served / name)
    with serve(served) as (url, hits):
        monkeypatch.setattr(alexnet_module, "URL", f"{url}/{name}")
        clf = create_classifier("alexnet")
        assert hits == [f"/{name}"]
    assert cache_files(cache) == [name]  # no temporary file left beside it
    for a, b in zip(clf.module.parameters(), net.parameters()):
        assert torch.equal(a, b)
    s = clf.spec
    assert (s.input_size, s.resize_size, s.mean) == (224, 256, (0.485, 0.456, 0.406))
    # the server is gone: the cached copy is used
    again = create_classifier("alexnet")
    assert torch.equal(again.module.classifier[6].bias, net.classifier[6].bias)


def test_corrupt_download_is_a_clear_error_and_caches_nothing(tmp_path, cache, monkeypatch):
    served = tmp_path / "www"
    served.mkdir()
    name = "alexnet-owt-7be5be79.pth"
    (served / name).write_bytes(b"not the weights" * 1000)  # the wrong sha256
    with serve(served) as (url, _):
        monkeypatch.setattr(alexnet_module, "URL", f"{url}/{name}")
        with pytest.raises(DataError) as e:
            create_classifier("alexnet")
    msg = str(e.value)
    assert "corrupt download" in msg and "sha256" in msg and "--weights" in msg
    assert "\n" not in msg
    assert cache_files(cache) == []


def test_missing_file_and_dead_server_are_clear_errors(tmp_path, cache):
    with serve(tmp_path) as (url, _):
        with pytest.raises(DataError, match="HTTP 404"):
            hub.cached_download(f"{url}/nothing-abcdef12.pth", hint="or pass --weights FILE")
        dead = url  # the port closes with the server
    with pytest.raises(DataError, match="cannot download"):
        hub.cached_download(f"{dead}/x-abcdef12.pth", timeout=2)
    assert cache_files(cache) == []


def test_full_sha256_and_sha1_checks(tmp_path, cache):
    data = b"mean image bytes" * 100
    (tmp_path / "m.npy").write_bytes(data)
    with serve(tmp_path) as (url, _):
        with pytest.raises(DataError, match="sha1"):
            hub.cached_download(f"{url}/m.npy", sha1="0" * 40)
        assert cache_files(cache) == []
        path = hub.cached_download(
            f"{url}/m.npy",
            sha256=hashlib.sha256(data).hexdigest(),
            sha1=hashlib.sha1(data).hexdigest(),
        )
    assert path.read_bytes() == data


def test_weights_file_replaces_the_download(tmp_path, cache):
    torch.manual_seed(1)
    net = alexnet_module.AlexNet()
    path = tmp_path / "mine.pth"
    torch.save({"state_dict": net.state_dict()}, path)
    clf = create_classifier("alexnet", weights=path)
    assert torch.equal(clf.module.features[0].weight, net.features[0].weight)
    assert cache_files(cache) == []
    wrong = tmp_path / "wrong.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, wrong)
    with pytest.raises(DataError, match="does not hold AlexNet weights"):
        create_classifier("alexnet", weights=wrong)
