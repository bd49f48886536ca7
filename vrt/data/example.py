"""`tf.train.Example` protobuf encode/decode by hand (no TensorFlow, no protobuf dependency).

Wire format: Example{1: Features{1: map<string, Feature>}}, Feature is a oneof of
BytesList{1: repeated bytes} (field 1), FloatList{1: packed float} (field 2) and
Int64List{1: packed int64} (field 3). Decoding accepts packed and unpacked numbers.

    data = encode_example({"key": b"k1", "ids": [1, 2], "score": [0.5]})
    decode_example(data)  # {"key": [b"k1"], "ids": [1, 2], "score": [0.5]}
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

Value = bytes | str | int | float | Sequence[bytes] | Sequence[str] | Sequence[int] | Sequence[float]
_WIRE_VARINT, _WIRE_64, _WIRE_LEN, _WIRE_32 = 0, 1, 2, 5


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len_field(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | _WIRE_LEN) + _varint(len(payload)) + payload


def _kind(values: list) -> str:
    if all(isinstance(v, bytes | str) for v in values):
        return "bytes"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "float"
    raise ValueError(f"feature values must be all bytes/str, all int or all float, got {values[:3]!r}")


def _feature(value: Value, packed: bool) -> bytes:
    values = list(value) if isinstance(value, list | tuple) else [value]
    kind = _kind(values) if values else "bytes"
    if kind == "bytes":
        items = b"".join(_len_field(1, v.encode() if isinstance(v, str) else v) for v in values)
        return _len_field(1, items)
    if kind == "int64":
        if packed:
            return _len_field(3, _len_field(1, b"".join(_varint(v) for v in values)) if values else b"")
        return _len_field(3, b"".join(_varint(1 << 3 | _WIRE_VARINT) + _varint(v) for v in values))
    floats = [struct.pack("<f", v) for v in values]
    if packed:
        return _len_field(2, _len_field(1, b"".join(floats)) if values else b"")
    return _len_field(2, b"".join(_varint(1 << 3 | _WIRE_32) + f for f in floats))


def encode_example(features: dict[str, Value], packed: bool = True) -> bytes:
    """A serialized tf.train.Example; bytes/str -> BytesList, int -> Int64List, float -> FloatList."""
    entries = b"".join(
        _len_field(1, _len_field(1, name.encode()) + _len_field(2, _feature(value, packed)))
        for name, value in features.items()
    )
    return _len_field(1, entries)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of one message; length-delimited values as bytes."""
    out, pos = [], 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if wire == _WIRE_VARINT:
            value, pos = _read_varint(buf, pos)
        elif wire == _WIRE_LEN:
            n, pos = _read_varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("length-delimited field runs past the end of the message")
            value, pos = buf[pos : pos + n], pos + n
        elif wire in (_WIRE_32, _WIRE_64):
            n = 4 if wire == _WIRE_32 else 8
            if pos + n > len(buf):
                raise ValueError("fixed-width field runs past the end of the message")
            value, pos = buf[pos : pos + n], pos + n
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((field, wire, value))
    return out


def _signed(n: int) -> int:
    return n - (1 << 64) if n >= 1 << 63 else n


def _decode_list(kind: int, buf: bytes) -> list:
    values: list = []
    for field, wire, value in _fields(buf):
        if field != 1:
            continue
        if kind == 1:
            values.append(bytes(value))
        elif kind == 2 and wire == _WIRE_LEN:
            values.extend(struct.unpack(f"<{len(value) // 4}f", value))
        elif kind == 2:
            values.append(struct.unpack("<f", value)[0])
        elif wire == _WIRE_LEN:
            pos = 0
            while pos < len(value):
                n, pos = _read_varint(value, pos)
                values.append(_signed(n))
        else:
            values.append(_signed(value))
    return values


def _decode_feature(buf: bytes) -> list:
    values: list = []
    for field, wire, value in _fields(buf):
        if field in (1, 2, 3) and wire == _WIRE_LEN:
            values = _decode_list(field, value)
    return values


def decode_example(data: bytes) -> dict[str, list]:
    """Feature name -> list of bytes / floats / ints. Raises ValueError on a malformed message."""
    out: dict[str, list] = {}
    for field, wire, features in _fields(data):
        if field != 1 or wire != _WIRE_LEN:
            continue
        for f, w, entry in _fields(features):
            if f != 1 or w != _WIRE_LEN:
                continue
            name, value = None, b""
            for ef, ew, ev in _fields(entry):
                if ef == 1 and ew == _WIRE_LEN:
                    name = bytes(ev).decode()
                elif ef == 2 and ew == _WIRE_LEN:
                    value = ev
            if name is None:
                raise ValueError("feature map entry without a name")
            out[name] = _decode_feature(value)
    return out
