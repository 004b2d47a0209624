"""Re-render a CPPN run's champions at any resolution (``fooling render RUN_DIR --size 1024``).

A CPPN is a function of the pixel position, so the same genome draws the same picture at
28, 256 or 4096 pixels (with normalised inputs; with the released code's raw pixel indices
the picture changes with the grid). Genomes are rendered a few at a time so that a
1000-class run at 4096x4096 needs no more memory than a handful of images.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .. import distributed, rundir
from ..encodings.cppn import CPPNEncoding
from ..errors import ConfigError, RunDirError

MAX_SIZE = 8192


def render_run(
    run: str | Path,
    *,
    size: int,
    out: str | Path | None = None,
    device: str | torch.device = "cpu",
    chunk_elements: int = 1 << 25,
) -> list[Path]:
    """Render every champion of the CPPN run ``run`` at ``size`` x ``size`` to PNG.

    Args:
        run: an evolve run directory with the CPPN encoding.
        size: image side in pixels.
        out: a new or empty folder for the PNGs (default: ``<run>/render-<size>``, which a
            second render at that size refreshes); files are named as in
            ``images/`` (``<class>_<label>_<confidence>.png``, the confidence recorded at
            the run's own resolution).
        device: where to render.
        chunk_elements: float elements rendered at once, which bounds memory.

    Returns:
        The PNG paths written, in class order.

    Raises:
        ConfigError: a bad size.
        RunDirError: ``run`` is not a CPPN run directory, or ``out`` cannot be written.
        DataError: the genome file is missing or corrupt.
    """
    distributed.single_process("render")
    run = Path(run)
    if not isinstance(size, int) or not 1 <= size <= MAX_SIZE:
        raise ConfigError(f"size must be an integer in 1..{MAX_SIZE}, got {size!r}")
    distributed.check_device(device)
    config = rundir.read_json(run / "config.json")
    enc = config.get("encoding") if isinstance(config, dict) else None
    if not isinstance(enc, dict) or config.get("kind") != "evolve" or enc.get("encoding") != "cppn":
        raise RunDirError(
            f"{run} is not a CPPN run; only CPPN genomes can be drawn at another resolution"
        )
    try:
        channels = int(enc["channels"])
        encoding = CPPNEncoding(
            channels=channels,
            size=size,
            device=device,
            inputs=enc["inputs"],
            colour=enc["colour"] if channels == 3 else "hls",
            dtype=enc.get("dtype", "float32"),
        )
    except (KeyError, TypeError, ValueError, ConfigError) as e:
        raise RunDirError(f"{run}/config.json: bad CPPN encoding settings: {e}") from None
    archive = rundir.read_json(run / "archive.json")
    classes = archive.get("classes") if isinstance(archive, dict) else None
    names = _image_names(classes)
    if names is None:
        raise RunDirError(f"{run}/archive.json has no valid 'classes' list")
    genomes = encoding.load(run / rundir.champions_file("cppn"))
    if len(genomes) != len(names):
        raise RunDirError(f"{run}: {len(genomes)} genomes but {len(names)} classes in archive.json")
    # The default folder is this command's own: rendering again writes the same PNGs.
    folder = Path(out) if out is not None else run / f"render-{size}"
    if out is not None and folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise RunDirError(f"{folder} is not an empty folder; render into a new one")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"cannot write to {folder}: {e.strerror or e}") from None
    per_chunk = max(1, chunk_elements // (channels * size * size))
    paths: list[Path] = []
    for start in range(0, len(genomes), per_chunk):
        images = encoding.render(genomes[start : start + per_chunk])
        for image, name in zip(rundir.to_uint8(images), names[start : start + per_chunk]):
            rundir.write_png(folder / name, image)
            paths.append(folder / name)
    return paths


def _image_names(classes: object) -> list[str] | None:
    """The PNG name of every class entry of ``archive.json``, or None if one is malformed."""
    if not isinstance(classes, list):
        return None
    try:
        return [rundir.image_name(int(c["class"]), str(c["label"]), float(c["confidence"]))
                for c in classes]  # fmt: skip
    except (KeyError, TypeError, ValueError):
        return None
