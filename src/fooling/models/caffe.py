"""Caffe's binary protobuf files, read in pure Python: ``.caffemodel`` weights and
``.binaryproto`` mean images. No Caffe and no ``protobuf`` package needed.

Only the fields that carry weights are decoded (``caffe.proto``):

- ``NetParameter``: ``layers`` = 2 (the old V1 ``V1LayerParameter`` list) and ``layer`` = 100
  (the newer ``LayerParameter`` list); a file may hold either.
- ``V1LayerParameter``: ``name`` = 4, ``blobs`` = 6.  ``LayerParameter``: ``name`` = 1,
  ``blobs`` = 7.
- ``BlobProto``: ``num``/``channels``/``height``/``width`` = 1-4 (legacy 4-D shape),
  ``data`` = 5 (float, packed or not), ``shape`` = 7 (``BlobShape``: ``dim`` = 1, int64),
  ``double_data`` = 8.

Blob data is taken from the file's bytes with ``numpy.frombuffer``, so a 240 MB CaffeNet loads
at disk speed. Caffe's ``Convolution`` and ``InnerProduct`` blobs are (out, in / group, kh, kw)
and (out, in), the same layout as ``torch.nn.Conv2d`` and ``nn.Linear`` weights; old files store
an inner product's weight as (1, 1, out, in), which is reshaped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import DataError

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


class _ProtoError(ValueError):
    pass


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _ProtoError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise _ProtoError("varint too long")


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """``(field number, wire type, value)`` of every field of one message; a
    length-delimited value is a memoryview into ``buf`` (no copy)."""
    pos, end = 0, len(buf)
    value: int | memoryview
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise _ProtoError("field number 0")
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _I64:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == _LEN:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + n], pos + n
        elif wire == _I32:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise _ProtoError(f"unsupported wire type {wire}")
        if pos > end:
            raise _ProtoError("truncated message")
        yield field, wire, value


def _packed_varints(value: int | memoryview, wire: int) -> list[int]:
    if isinstance(value, int):  # wire type varint
        return [value]
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(v)
    return out


def _floats(value: object, dtype: str) -> np.ndarray:
    """Little-endian floats from a field's bytes (a whole number of them)."""
    size = np.dtype(dtype).itemsize
    if isinstance(value, int) or len(value) % size:  # type: ignore[arg-type]
        raise _ProtoError(f"float data of {size}-byte values has a bad length")
    return np.frombuffer(value, dtype=dtype)  # type: ignore[call-overload]


def parse_blob(buf: memoryview) -> np.ndarray:
    """One ``BlobProto`` message -> a float32 array of its shape."""
    legacy = [0, 0, 0, 0]
    dims: list[int] = []
    chunks: list[np.ndarray] = []
    for field, wire, value in _fields(buf):
        if field in (1, 2, 3, 4) and wire == _VARINT:
            legacy[field - 1] = int(value)
        elif field == 5:  # float data: packed, or one float per field
            chunks.append(_floats(value, "<f4"))
        elif field == 8:
            chunks.append(_floats(value, "<f8").astype(np.float32))
        elif field == 7 and isinstance(value, memoryview) and wire == _LEN:
            for f, w, v in _fields(value):
                if f == 1:
                    dims += _packed_varints(v, w)
    data = chunks[0] if len(chunks) == 1 else np.concatenate(chunks) if chunks else np.empty(0)
    shape = dims or [d or 1 for d in legacy]
    if not dims and not any(legacy):
        shape = [data.size]
    if int(np.prod(shape)) != data.size:
        raise _ProtoError(f"blob of shape {tuple(shape)} holds {data.size} values")
    return data.astype(np.float32, copy=False).reshape(shape)


def parse_caffemodel(data: bytes | bytearray) -> dict[str, list[np.ndarray]]:
    """A ``NetParameter`` -> ``{layer name: [blob, ...]}`` for every layer with blobs, in file
    order; old V1 ``layers`` and new ``layer`` lists both count."""
    buf = memoryview(data)
    layers: dict[str, list[np.ndarray]] = {}
    for field, wire, value in _fields(buf):
        if wire != _LEN or field not in (2, 100) or not isinstance(value, memoryview):
            continue
        name_field, blob_field = (4, 6) if field == 2 else (1, 7)
        name, blobs = "", []
        for f, w, v in _fields(value):
            if not isinstance(v, memoryview):  # wire type varint
                continue
            if f == name_field and w == _LEN:
                name = bytes(v).decode("utf-8", "replace")
            elif f == blob_field and w == _LEN:
                blobs.append(parse_blob(v))
        if blobs:
            layers[name] = blobs
    return layers


def _read(path: Path) -> bytearray:
    # A writable buffer, so the arrays numpy views in it are writable too (torch warns on
    # read-only ones) without a second copy of the file.
    with open(path, "rb") as f:
        data = bytearray(os.fstat(f.fileno()).st_size)
        n = f.readinto(data)
    return data[:n] if n != len(data) else data


def read_caffemodel(path: str | Path) -> dict[str, list[np.ndarray]]:
    """The weight blobs of a ``.caffemodel`` file, by layer name.

    Raises:
        DataError: the file is missing, unreadable, or not a Caffe ``NetParameter`` with
            weights.
    """
    path = Path(path)
    try:
        data = _read(path)
    except OSError as e:
        raise DataError(f"cannot read Caffe model {path}: {e.strerror or e}") from None
    try:
        layers = parse_caffemodel(data)
    except _ProtoError as e:
        raise DataError(f"{path} is not a valid .caffemodel: {e}") from None
    if not layers:
        raise DataError(f"{path} holds no layer weights: not a .caffemodel?")
    return layers


def read_binaryproto(path: str | Path) -> np.ndarray:
    """A ``.binaryproto`` ``BlobProto`` (a Caffe mean image) as float32 ``(C, H, W)``."""
    path = Path(path)
    try:
        blob = parse_blob(memoryview(_read(path)))
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None
    except _ProtoError as e:
        raise DataError(f"{path} is not a valid .binaryproto blob: {e}") from None
    if blob.ndim == 4 and blob.shape[0] == 1:
        blob = blob[0]
    if blob.ndim != 3:
        raise DataError(f"{path}: expected a (C, H, W) image, got shape {blob.shape}")
    return blob


def load_caffe_weights(module: nn.Module, layers: dict[str, list[np.ndarray]], source: str) -> None:
    """Copy Caffe blobs into ``module``'s submodules of the same names (weight, then bias).

    Every submodule with parameters must have a layer; layers without a submodule are an
    error too, so a file for another network never loads silently.

    Raises:
        DataError: a layer is missing or extra, or a blob does not fit.
    """
    targets = {
        name: m
        for name, m in module.named_modules()
        if name and isinstance(m, nn.Conv2d | nn.Linear)
    }
    missing = [n for n in targets if n not in layers]
    extra = [n for n in layers if n not in targets]
    if missing or extra:
        what = (f"lacks layers {', '.join(missing)}" if missing else "") + (
            ("; " if missing and extra else "") + f"has unknown layers {', '.join(extra)}"
            if extra
            else ""
        )
        raise DataError(f"{source} does not fit {type(module).__name__}: it {what}")
    with torch.no_grad():
        for name, m in targets.items():
            params = [m.weight] + ([m.bias] if m.bias is not None else [])
            blobs = layers[name]
            if len(blobs) != len(params):
                raise DataError(
                    f"{source}: layer {name} has {len(blobs)} blobs, expected {len(params)}"
                )
            for p, blob in zip(params, blobs):
                if blob.size != p.numel() or (
                    blob.ndim == p.ndim and tuple(blob.shape) != tuple(p.shape)
                ):
                    raise DataError(
                        f"{source}: layer {name} blob of shape {tuple(blob.shape)} does not "
                        f"fit {tuple(p.shape)}"
                    )
                p.copy_(torch.from_numpy(blob.reshape(p.shape)))
