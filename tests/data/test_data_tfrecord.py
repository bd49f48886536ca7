"""TFRecord framing: CRC, round trip, and every damage case."""

from __future__ import annotations

import io
import struct

import google_crc32c

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


def test_truncated_body_and_header_end_the_file():
    data = tfrecord.frame(b"one") + tfrecord.frame(b"two")
    body_cut = _read(data[:-3])
    assert body_cut[0] == b"one"
    assert body_cut[1] == RecordError("truncated", 19, "record body cut off after 4 of 7 bytes")
    header_cut = _read(data[: 19 + 5])
    assert header_cut[1] == RecordError("truncated", 19, "record header has 5 of 12 bytes")


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
