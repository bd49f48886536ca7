"""TFRecord framing: CRC, round trip, and every damage case."""

from __future__ import annotations

import io
import struct

import google_crc32c
import pytest

from vrt.data import tfrecord
from vrt.data.tfrecord import RecordError


def _read(data: bytes) -> list:
    return list(tfrecord.iter_records(io.BytesIO(data)))


def test_masked_crc_follows_tfrecord_formula():
    crc = google_crc32c.value(b"123456789")
    assert crc == 0xE3069283  # the CRC-32C check value
    assert tfrecord.masked_crc(b"123456789") == (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def test_round_trip_and_index():
    buf = io.BytesIO()
    index = tfrecord.write_records(buf, [b"abc", b"", b"x" * 1000])
    assert index == [(0, 19), (19, 16), (35, 1016)]
    assert _read(buf.getvalue()) == [b"abc", b"", b"x" * 1000]
    assert tfrecord.format_index(index) == b"0 19\n19 16\n35 1016\n"
    assert struct.unpack_from("<Q", buf.getvalue())[0] == 3


def test_data_crc_mismatch_skips_only_that_record():
    data = bytearray(tfrecord.frame(b"one") + tfrecord.frame(b"two") + tfrecord.frame(b"three"))
    data[19 + 12] ^= 0xFF  # first byte of "two"
    items = _read(bytes(data))
    assert items[0] == b"one" and items[2] == b"three"
    assert items[1] == RecordError("crc_mismatch", 19, "data CRC mismatch")


def test_length_crc_mismatch_ends_the_file():
    data = bytearray(tfrecord.frame(b"one") + tfrecord.frame(b"two") + tfrecord.frame(b"three"))
    data[19 + 9] ^= 0x01  # inside the length CRC of record 2
    items = _read(bytes(data))
    assert items[0] == b"one"
    assert len(items) == 2 and items[1].kind == "crc_mismatch" and items[1].offset == 19
    assert (items[1].tail_bytes, items[1].tail_records) == (len(data) - 19, 2)  # "two" and "three" lost


def test_truncated_body_and_header_end_the_file():
    data = tfrecord.frame(b"one") + tfrecord.frame(b"two")
    body_cut = _read(data[:-3])
    assert body_cut[0] == b"one"
    assert body_cut[1] == RecordError("truncated", 19, "record body cut off after 4 of 7 bytes", 16, 1)
    header_cut = _read(data[: 19 + 5])
    assert header_cut[1] == RecordError("truncated", 19, "record header has 5 of 12 bytes", 5, 1)


def test_verify_false_passes_damaged_data_through():
    data = bytearray(tfrecord.frame(b"one"))
    data[12] ^= 0xFF
    assert list(tfrecord.iter_records(io.BytesIO(bytes(data)), verify=False)) == [
        bytes([ord("o") ^ 0xFF]) + b"ne"
    ]


def test_count_records_reads_headers_only():
    data = tfrecord.frame(b"a") + tfrecord.frame(b"") + tfrecord.frame(b"ccc" * 100)
    assert tfrecord.count_records(io.BytesIO(data)) == 3
    assert tfrecord.count_records(io.BytesIO(data + b"\x00" * 5)) == 3


class _Pipe(io.RawIOBase):
    """A non-seekable stream (a pipe or socket): the reader cannot know the bytes left."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        chunk = self._data.read(len(buf))
        buf[: len(chunk)] = chunk
        return len(chunk)


def _crafted_length(length: int) -> bytes:
    header = struct.pack("<Q", length)
    return header + struct.pack("<I", tfrecord.masked_crc(header)) + b"xy"


TWELVE = b"".join(tfrecord.frame(b"r%02d" % i + b"." * 20) for i in range(12))  # 12 records of 39 bytes


def _flip(data: bytes, position: int) -> bytes:
    out = bytearray(data)
    out[position] ^= 0x01
    return bytes(out)


@pytest.mark.parametrize("seekable", [True, False], ids=["file", "pipe"])
@pytest.mark.parametrize(
    ("data", "records", "error"),
    [
        (TWELVE, 12, None),
        (_flip(TWELVE, 4 * 39 + 9), 4, ("crc_mismatch", 4 * 39, 8 * 39, 8)),  # length CRC of record 5
        (_flip(TWELVE, 4 * 39 + 2), 4, ("crc_mismatch", 4 * 39, 8 * 39, 8)),  # the length itself
        (_flip(TWELVE, 4 * 39 + 20), 11, ("crc_mismatch", 4 * 39, 0, 0)),  # data only: reading goes on
        (TWELVE[:-1], 11, ("truncated", 11 * 39, 38, 1)),
        (TWELVE[:5], 0, ("truncated", 0, 5, 1)),
        (TWELVE[:39] + _crafted_length(2**40), 1, ("truncated", 39, 14, 1)),
        (_crafted_length(2**64 - 1), 0, ("truncated", 0, 14, 1)),
        (b"", 0, None),
    ],
    ids=[
        "intact",
        "length-crc",
        "length-bits",
        "data-crc",
        "cut-body",
        "cut-header",
        "2^40",
        "2^64-1",
        "empty",
    ],
)
def test_reader_corruption_table(data, records, error, seekable):
    """Every damage is a RecordError, a huge length allocates nothing, and a lost tail is counted."""
    stream = io.BufferedReader(_Pipe(data)) if not seekable else io.BytesIO(data)
    items = list(tfrecord.iter_records(stream))
    good = [i for i in items if isinstance(i, bytes)]
    errors = [i for i in items if isinstance(i, RecordError)]
    assert len(good) == records
    if error is None:
        assert errors == []
        return
    kind, offset, tail_bytes, tail_records = error
    assert (errors[-1].kind, errors[-1].offset) == (kind, offset)
    assert (errors[-1].tail_bytes, errors[-1].tail_records) == (tail_bytes, tail_records)
