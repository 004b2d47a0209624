"""The run directory: the contract between the runs that write it and the reports that read it.

```
<run>/
  config.json            resolved config, classifier spec with labels, versions, seed
  metrics.csv            one row per generation: summary columns, then conf_<k> per class
  archive.json           per class: label, confidence, generation found; threshold crossings
  champions.<ext>        the champions' genomes (the encoding's format)
  images/<k>_<label>_<confidence>.png   8-bit lossless, exactly the scored image
  grid.png               every champion with its label and confidence
  summary.json           the numbers a report quotes
  checkpoint/            LATEST -> state_<gen>.pt + champions_<gen>.<ext>
```

Every file is written atomically (``fooling._io``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import pickle
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from . import _io
from ._stats import percent
from .errors import RunDirError, first_line

if TYPE_CHECKING:
    from .models import Classifier

CHAMPION_FILES = {"direct": "champions.safetensors", "cppn": "champions.json"}


def champions_file(encoding: str) -> str:
    return CHAMPION_FILES.get(encoding, f"champions.{encoding}")


def prepare(path: str | os.PathLike[str]) -> Path:
    """Make ``path`` ready for a new run: it must be new or empty, and writable.

    Raises:
        RunDirError: it already holds something (never overwritten) or cannot be written.
    """
    path = Path(path)
    try:  # runs name their folders in JSON and CSV text, and are read back by name
        os.fsdecode(path.absolute()).encode("utf-8")
    except UnicodeEncodeError:
        raise RunDirError(f"output path {ascii(str(path))} is not valid UTF-8") from None
    if path.exists() and not path.is_dir():
        raise RunDirError(f"output path {path} exists and is not a directory")
    if path.is_dir() and any(path.iterdir()):
        kind = _kind(path / "config.json")
        what = "other files" if kind is None else "another run"
        resumable = ("evolve", "retrain")  # the commands that resume
        hint = f" (or fooling {kind} --resume {path} to continue it)" if kind in resumable else ""
        raise RunDirError(
            f"output directory {path} already holds {what}; choose another --out{hint}"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"cannot write to output directory {path}: {e.strerror or e}") from None
    check_writable(path)
    return path


def _kind(config: Path) -> str | None:
    """The ``kind`` of the run whose ``config.json`` this is (``""`` where it cannot be
    read), or ``None`` where there is no such file."""
    if not config.is_file():
        return None
    try:
        kind = json.loads(config.read_bytes()).get("kind", "")
    except (OSError, ValueError, AttributeError):
        return ""
    return kind if isinstance(kind, str) else ""


def check_writable(path: Path) -> None:
    """Raise a ``RunDirError`` unless a file can be created in the directory ``path`` (before
    a run or a resumed run computes anything it could not save)."""
    probe = path / ".write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise RunDirError(f"cannot write to output directory {path}: {e.strerror or e}") from None


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunDirError(f"{path} not found: is {path.parent} a run directory?") from None
    except (OSError, ValueError) as e:  # ValueError: bad JSON, or bytes that are not UTF-8
        raise RunDirError(f"cannot read {path}: {e}") from None


def safe_label(label: str) -> str:
    """A label fit for a file name."""
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-")[:40] or "class"


def image_name(k: int, label: str, confidence: float) -> str:
    return f"{k}_{safe_label(label)}_{percent(confidence)}.png"


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``(N, C, H, W)`` in [0, 1] on 8-bit levels (or uint8 levels already) ->
    ``(N, H, W, C)`` uint8 (exact)."""
    if images.dtype == torch.uint8:
        return images.detach().cpu().permute(0, 2, 3, 1).numpy()
    return (
        (images.detach().float().cpu() * 255)
        .round()
        .clamp(0, 255)
        .byte()
        .permute(0, 2, 3, 1)
        .numpy()
    )


def write_png(path: Path, image: np.ndarray) -> None:
    """Write one ``(H, W, C)`` uint8 image as a lossless PNG, atomically."""
    mode = "L" if image.shape[2] == 1 else "RGB"
    buf = io.BytesIO()
    Image.fromarray(image[:, :, 0] if mode == "L" else image, mode).save(buf, format="PNG")
    _io.write_bytes(path, buf.getvalue())


def eight_bit(im: Image.Image) -> Image.Image:
    """``im`` as 8-bit grey (``L``) or ``RGB``. 16-bit grey is scaled (``round(v / 257)``):
    Pillow's own ``convert`` clips it at 255, which turns most of the image white."""
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        levels = np.asarray(im, dtype=np.float64) / 257.0
        return Image.fromarray(np.clip(np.round(levels), 0, 255).astype(np.uint8), "L")
    return im.convert("L") if im.mode == "L" else im.convert("RGB")


def read_png(path: Path) -> torch.Tensor:
    """A PNG as ``(C, H, W)`` float32 in [0, 1] (grey stays one channel)."""
    with Image.open(path) as im:
        arr = np.asarray(eight_bit(im))
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255.0


def write_images(
    run: Path,
    images: torch.Tensor,
    labels: Sequence[str],
    confidences: Sequence[float],
    classes: Sequence[int],
) -> list[str]:
    """Write every champion's PNG into ``run/images``; stale champions' files are removed."""
    folder = run / "images"
    folder.mkdir(exist_ok=True)
    arrays = to_uint8(images)
    names = []
    for arr, k, label, conf in zip(arrays, classes, labels, confidences):
        name = image_name(k, label, conf)
        write_png(folder / name, arr)
        names.append(name)
    keep = set(names)
    for old in folder.glob("*.png"):
        if old.name not in keep:
            old.unlink()
    return names


def write_grid(
    path: Path,
    images: torch.Tensor,
    labels: Sequence[str],
    confidences: Sequence[float],
    *,
    tile: int = 112,
) -> None:
    """Every champion in a grid with its label and confidence under it (the paper's Fig. 4/5)."""
    arrays = to_uint8(images)
    n = len(arrays)
    cols = min(n, max(5, math.ceil(math.sqrt(n))))
    rows = math.ceil(n / cols)
    text_h = 30
    font = _font(12)
    canvas = Image.new("RGB", (cols * tile, rows * (tile + text_h)), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (arr, label, conf) in enumerate(zip(arrays, labels, confidences)):
        r, c = divmod(i, cols)
        x, y = c * tile, r * (tile + text_h)
        im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr).convert("RGB")
        canvas.paste(im.resize((tile - 4, tile - 4), Image.Resampling.NEAREST), (x + 2, y + 2))
        draw.text((x + 3, y + tile), label[:18], fill="black", font=font)
        draw.text((x + 3, y + tile + 14), f"{percent(conf)}%", fill="black", font=font)
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    _io.write_bytes(path, buf.getvalue())


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    _io.write_text(path, buf.getvalue())


def read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise RunDirError(f"cannot read {path}: {e}") from None


# -- checkpoints -------------------------------------------------------------------------


def save_checkpoint(
    run: Path, generation: int, state: dict[str, Any], save_champions: Callable[[Path], None]
) -> None:
    """Write ``checkpoint/state_<gen>.pt`` and the champions, then point LATEST at them.

    ``save_champions(path)`` writes the genomes. LATEST is replaced last, so a kill at any
    moment leaves it naming a complete pair; older pairs are removed after.
    """
    folder = run / "checkpoint"
    folder.mkdir(exist_ok=True)
    tag = f"{generation:08d}"
    save_champions(folder / f"champions_{tag}")
    with _io.atomic_path(folder / f"state_{tag}.pt") as tmp:
        torch.save(state, tmp)
    _io.write_text(folder / "LATEST", tag + "\n")
    for old in folder.iterdir():
        if old.name != "LATEST" and tag not in old.name and not old.name.startswith("."):
            old.unlink()


def load_checkpoint(run: Path) -> tuple[dict[str, Any], Path]:
    """The latest checkpoint's state and the path of its champions file."""
    folder = run / "checkpoint"
    try:
        tag = (folder / "LATEST").read_text().strip()
    except OSError:
        raise RunDirError(f"{run} has no checkpoint to resume from") from None
    except UnicodeDecodeError:
        raise RunDirError(f"checkpoint {folder / 'LATEST'} is corrupt") from None
    state_path = folder / f"state_{tag}.pt"
    try:
        # weights_only: a checkpoint holds tensors, numbers and strings; no pickled code runs
        state = torch.load(state_path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's message suggests weights_only=False: not here
        raise RunDirError(
            f"checkpoint {state_path} is corrupt, or holds more than tensors, numbers and "
            "strings (not loaded: that could run code)"
        ) from None
    except Exception as e:  # a truncated or corrupt file raises many types
        raise RunDirError(
            f"checkpoint {state_path} is missing or corrupt: {first_line(e)}"
        ) from None
    return state, folder / f"champions_{tag}"


def check_same_classifier(run: Path, recorded: str | None, classifier: Classifier) -> None:
    """Raise ``RunDirError`` where ``classifier`` is not the network whose fingerprint the
    run recorded (``None``: a run from before fingerprints, not checked)."""
    if recorded is not None and recorded != classifier.fingerprint():
        raise RunDirError(
            f"{run} was run against other weights, mean image or labels than "
            f"{classifier.spec.name!r} loads now (relative paths in its config.json are read "
            "from the current directory)"
        )


def remove_tmp_files(run: Path) -> None:
    """Remove temporary files a killed writer may have left."""
    for p in run.rglob(".*.tmp"):
        try:
            os.unlink(p)
        except OSError:
            pass


def write_config_json(run: Path, config: dict[str, Any]) -> None:
    _io.write_json(run / "config.json", config)
