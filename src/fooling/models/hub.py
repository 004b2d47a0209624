"""Pretrained weights: downloaded once into the user cache, checked, then read from there.

The cache folder is ``$FOOLING_CACHE/models``, else ``$XDG_CACHE_HOME/fooling/models``, else
``~/.cache/fooling/models``. A file is streamed into a temporary file beside its final name
while its hash is computed, and moved into place only when the hash matches, so the cache never
holds a partial or wrong file (torch.hub's ``download_url_to_file`` does the same). The
expected hash is either given (sha256 or sha1), or, as torchvision names its files, the hex
digits after the last ``-`` of the file name are a prefix of the file's sha256.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from .. import __version__, _io
from ..errors import DataError

log = logging.getLogger(__name__)

ENV_VAR = "FOOLING_CACHE"
TIMEOUT_S = 60.0
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{6,})\.")
_CHUNK = 1 << 20


def cache_dir() -> Path:
    """The folder downloaded weights are kept in."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "fooling" / "models"


def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix a torchvision-style name carries (``alexnet-owt-7be5be79.pth``)."""
    m = _HASH_IN_NAME.search(filename)
    return m.group(1) if m else None


def cached_download(
    url: str,
    *,
    filename: str | None = None,
    sha256: str | None = None,
    sha1: str | None = None,
    what: str = "weights",
    hint: str = "",
    timeout: float = TIMEOUT_S,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """The cached copy of ``url``, downloaded and checked first if absent.

    Args:
        url: where the file lives.
        filename: its name in the cache (default: the URL's last component).
        sha256: the full or leading hex digits of its sha256 (default: the prefix in the
            file name, if any).
        sha1: its full sha1, where that is what its publisher gives.
        what: what the file is, for messages.
        hint: appended to errors (e.g. "or pass --weights FILE").
        timeout: seconds without data before giving up.
        progress: called with (bytes so far, total or None) while downloading.

    Raises:
        DataError: the download failed or the file's hash does not match; nothing is left
            in the cache.
    """
    name = filename or url.rstrip("/").rsplit("/", 1)[-1]
    path = cache_dir() / name
    if path.is_file():
        return path
    expected_sha256 = (sha256 or hash_prefix(name) or "").lower() or None
    hint = f"; {hint}" if hint else ""
    log.info("downloading %s %s to %s", what, url, path)
    request = urllib.request.Request(url, headers={"User-Agent": f"fooling/{__version__}"})
    h256, h1 = hashlib.sha256(), hashlib.sha1()
    try:
        with _io.atomic_path(path) as tmp:
            with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as f:
                total = response.headers.get("Content-Length")
                total = int(total) if total and total.isdigit() else None
                done = 0
                while chunk := response.read(_CHUNK):
                    f.write(chunk)
                    h256.update(chunk)
                    if sha1:
                        h1.update(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            if total is not None and done != total:
                raise _Mismatch(f"got {done} of {total} bytes")
            digest = h256.hexdigest()
            if expected_sha256 and not digest.startswith(expected_sha256):
                raise _Mismatch(f"sha256 {digest[:16]}... does not match {expected_sha256}")
            if sha1 and h1.hexdigest() != sha1.lower():
                raise _Mismatch(f"sha1 {h1.hexdigest()} does not match {sha1}")
    except _Mismatch as e:
        raise DataError(
            f"corrupt download of {what} from {url}: {e}; nothing cached{hint}"
        ) from None
    except urllib.error.HTTPError as e:
        raise DataError(
            f"cannot download {what} from {url}: HTTP {e.code} {e.reason}{hint}"
        ) from None
    except urllib.error.URLError as e:
        raise DataError(f"cannot download {what} from {url}: {e.reason}{hint}") from None
    except (OSError, http.client.HTTPException, ValueError) as e:
        reason = getattr(e, "strerror", None) or str(e) or type(e).__name__
        raise DataError(f"cannot download {what} from {url}: {reason}{hint}") from None
    log.info("cached %s (%d bytes, sha256 %s)", path, done, digest)
    return path


class _Mismatch(Exception):
    pass
