"""A minimal Caffe protobuf *writer* for the tests: NetParameter with V1 ``layers`` or new
``layer`` lists, BlobProto with legacy 4-D or ``BlobShape`` shapes (caffe.proto numbering)."""

from __future__ import annotations

import numpy as np


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def key(field: int, wire: int) -> bytes:
    return varint(field << 3 | wire)


def ld(field: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return key(field, 2) + varint(len(payload)) + payload


def vint(field: int, value: int) -> bytes:
    return key(field, 0) + varint(value)


def blob(arr: np.ndarray, legacy: bool) -> bytes:
    arr = np.asarray(arr, dtype="<f4")
    if legacy:  # num, channels, height, width; leading 1s (V1 inner products: 1x1xOxI)
        dims = (1,) * (4 - arr.ndim) + arr.shape
        head = b"".join(vint(i + 1, d) for i, d in enumerate(dims))
    else:
        head = ld(7, ld(1, b"".join(varint(d) for d in arr.shape)))
    return head + ld(5, arr.tobytes())


def caffemodel(layers: list[tuple[str, str, list[np.ndarray]]], *, v1: bool) -> bytes:
    """``layers``: (name, type, blobs); layers without blobs are written too."""
    v1_types = {"Convolution": 4, "InnerProduct": 14, "ReLU": 18, "Pooling": 17, "LRN": 15}
    body = [ld(1, b"net")]
    for name, kind, blobs in layers:
        if v1:
            msg = ld(2, b"bottom") + ld(3, b"top") + ld(4, name.encode())
            msg += vint(5, v1_types.get(kind, 0))
            msg += b"".join(ld(6, blob(b, legacy=True)) for b in blobs)
            body.append(ld(2, msg))
        else:
            msg = ld(1, name.encode()) + ld(2, kind.encode()) + ld(3, b"bottom") + ld(4, b"top")
            msg += b"".join(ld(7, blob(b, legacy=False)) for b in blobs)
            body.append(ld(100, msg))
    return b"".join(body)
