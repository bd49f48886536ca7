"""TFRecord framing without TensorFlow: write records, read them back with CRC checks.

Each record is `uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)`
(little endian). Reading yields the record bytes, or a `RecordError` for a record that
cannot be trusted, so a converter can quarantine it and go on:

- `crc_mismatch` on the data: the length was sound, reading continues with the next record;
- `crc_mismatch` on the length, or `truncated`: the rest of the file cannot be framed, it ends.

    from vrt.data import tfrecord
    with open("x.tfrecord", "rb") as f:
        for item in tfrecord.iter_records(f):
            ...
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import google_crc32c

_MASK_DELTA = 0xA282EAD8
_U64 = struct.Struct("<Q")
_U32 = struct.Struct("<I")


def masked_crc(data: bytes) -> int:
    """TFRecord's masked CRC32C of `data`."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


@dataclass(frozen=True)
class RecordError:
    """A record that failed framing checks: `kind` is `crc_mismatch` or `truncated`."""

    kind: str
    offset: int  # byte offset of the record's header in the file
    detail: str


def frame(data: bytes) -> bytes:
    """One framed record."""
    header = _U64.pack(len(data))
    return header + _U32.pack(masked_crc(header)) + data + _U32.pack(masked_crc(data))


def write_records(stream: BinaryIO, records: Iterable[bytes]) -> list[tuple[int, int]]:
    """Write framed records; returns (offset, framed length) per record (the `.index` lines)."""
    index = []
    offset = 0
    for data in records:
        framed = frame(data)
        stream.write(framed)
        index.append((offset, len(framed)))
        offset += len(framed)
    return index


def format_index(index: list[tuple[int, int]]) -> bytes:
    """The text `.index` file beside a TFRecord: one `offset length` line per record."""
    return "".join(f"{o} {n}\n" for o, n in index).encode()


def count_records(stream: BinaryIO) -> int:
    """Number of records, reading only the headers (seeking over the data); no CRC checks."""
    n = 0
    end = stream.seek(0, 2)
    pos = stream.seek(0)
    while pos + 12 <= end:
        (length,) = _U64.unpack(stream.read(8))
        pos = stream.seek(pos + 12 + length + 4)
        n += 1
    return n


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    buf = stream.read(n)
    if len(buf) == n or not buf:
        return buf
    parts = [buf]
    got = len(buf)
    while got < n:
        more = stream.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def iter_records(stream: BinaryIO, verify: bool = True) -> Iterator[bytes | RecordError]:
    """Records of a TFRecord stream in order; damaged ones as `RecordError` (see module doc)."""
    offset = 0
    while True:
        header = _read_exact(stream, 12)
        if not header:
            return
        if len(header) < 12:
            yield RecordError("truncated", offset, f"record header has {len(header)} of 12 bytes")
            return
        length_bytes, (length_crc,) = header[:8], _U32.unpack_from(header, 8)
        if verify and masked_crc(length_bytes) != length_crc:
            yield RecordError(
                "crc_mismatch", offset, "length CRC mismatch: the rest of the file cannot be framed"
            )
            return
        (length,) = _U64.unpack(length_bytes)
        body = _read_exact(stream, length + 4)
        if len(body) < length + 4:
            yield RecordError(
                "truncated", offset, f"record body cut off after {len(body)} of {length + 4} bytes"
            )
            return
        data = body[:length]
        if verify and masked_crc(data) != _U32.unpack_from(body, length)[0]:
            yield RecordError("crc_mismatch", offset, "data CRC mismatch")
        else:
            yield data
        offset += 12 + length + 4
