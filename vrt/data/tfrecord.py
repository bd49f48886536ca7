"""TFRecord framing without TensorFlow: write records, read them back with CRC checks.

Each record is `uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)`
(little endian). Reading yields the record bytes, or a `RecordError` for a record that
cannot be trusted, so a converter can quarantine it and go on:

- `crc_mismatch` on the data: the length was sound, reading continues with the next record;
- `crc_mismatch` on the length, `truncated`, or a length over the bytes left in the stream
  (a crafted 2^40 is never allocated): the rest of the file cannot be framed, it ends. That
  last error carries the unreadable tail: `tail_bytes` from its offset to the end of the stream
  and `tail_records`, an estimate of the records lost (tail / mean record size so far, >= 1).

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
    tail_bytes: int = 0  # bytes from `offset` to the end that could not be read (0: reading goes on)
    tail_records: int = 0  # estimated records in that tail, this one included (0: reading goes on)


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


_CHUNK = 16 * 1024 * 1024


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    """Up to `n` bytes (fewer at the end of the stream), read in chunks: a huge `n` allocates nothing up front."""
    parts, got = [], 0
    while got < n:
        more = stream.read(min(n - got, _CHUNK))
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _drain(stream: BinaryIO) -> int:
    """Bytes left in a stream that cannot seek, read and dropped chunk by chunk."""
    total = 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
    return total


def _remaining(stream: BinaryIO) -> int | None:
    """Bytes left after the current position (None for a stream that cannot seek)."""
    try:
        here = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(here)
    except (OSError, ValueError):
        return None
    return end - here


class _Tail:
    """Sizes of the records read so far, to estimate how many an unreadable tail held."""

    def __init__(self) -> None:
        self.records = 0
        self.bytes = 0

    def add(self, framed: int) -> None:
        self.records += 1
        self.bytes += framed

    def error(self, kind: str, offset: int, detail: str, tail_bytes: int) -> RecordError:
        mean = self.bytes / self.records if self.records else 0
        estimate = max(1, round(tail_bytes / mean)) if mean else 1
        return RecordError(kind, offset, detail, tail_bytes, estimate)


def iter_records(stream: BinaryIO, verify: bool = True) -> Iterator[bytes | RecordError]:
    """Records of a TFRecord stream in order; damaged ones as `RecordError` (see module doc)."""
    offset, seen = 0, _Tail()
    while True:
        left = _remaining(stream)
        header = _read_exact(stream, 12)
        if not header:
            return
        if len(header) < 12:
            yield seen.error("truncated", offset, f"record header has {len(header)} of 12 bytes", len(header))
            return
        length_bytes, (length_crc,) = header[:8], _U32.unpack_from(header, 8)
        if verify and masked_crc(length_bytes) != length_crc:
            tail = left if left is not None else len(header) + _drain(stream)
            yield seen.error(
                "crc_mismatch", offset, "length CRC mismatch: the rest of the file cannot be framed", tail
            )
            return
        (length,) = _U64.unpack(length_bytes)
        have = None if left is None else left - 12  # body bytes in the file, known without reading them
        body = b"" if have is not None and have < length + 4 else _read_exact(stream, length + 4)
        if len(body) < length + 4:
            detail = f"record body cut off after {len(body) if have is None else have} of {length + 4} bytes"
            yield seen.error("truncated", offset, detail, left if left is not None else 12 + len(body))
            return
        data = body[:length]
        seen.add(12 + length + 4)
        if verify and masked_crc(data) != _U32.unpack_from(body, length)[0]:
            yield RecordError("crc_mismatch", offset, "data CRC mismatch")
        else:
            yield data
        offset += 12 + length + 4
