"""Byte-range reads of one object (local file or s3://), for readers that fetch parts of a file.

    size = object_size("s3://b/ds/shards/part-00000.parquet")
    data = read_range("s3://b/ds/shards/part-00000.parquet", offset=4, length=1 << 20)

Every call is one ranged GET (or one seek + read); `COUNTERS` tallies them per process. boto3
clients are not safe across fork, so a forked child (a DataLoader process) makes its own.
"""

from __future__ import annotations

import io
import os
from collections import Counter

from vrt import storage
from vrt.errors import UserError

COUNTERS: Counter = Counter()  # "requests", "bytes" read by this process

os.register_at_fork(after_in_child=storage._client.cache_clear)


def object_size(uri: str) -> int:
    """Size in bytes of the object at `uri`; UserError naming it when absent."""
    if not storage.is_s3(uri):
        if not os.path.isfile(uri):
            raise UserError(f"{uri} does not exist or is not a file: check the path")
        return os.path.getsize(uri)
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = storage.split_s3(uri)
    try:
        return int(storage.s3_client().head_object(Bucket=bucket, Key=key)["ContentLength"])
    except (ClientError, BotoCoreError) as e:
        raise storage._s3_error(e, uri) from e


def read_range(uri: str, offset: int, length: int) -> bytes:
    """Bytes [offset, offset + length) of the object; UserError when fewer come back."""
    if offset < 0 or length < 0:
        raise ValueError(f"bad range offset={offset} length={length}")
    if length == 0:
        return b""
    if storage.is_s3(uri):
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = storage.split_s3(uri)
        try:
            body = storage.s3_client().get_object(
                Bucket=bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}"
            )["Body"]
            data = body.read()
        except (ClientError, BotoCoreError) as e:
            raise storage._s3_error(e, uri) from e
    else:
        try:
            with open(uri, "rb") as f:
                f.seek(offset)
                data = f.read(length)
        except OSError as e:
            raise UserError(f"cannot read {uri} ({e}): check the path") from e
    COUNTERS.update(requests=1, bytes=len(data))
    if len(data) != length:
        raise UserError(f"{uri} is shorter than expected ({offset + len(data)} bytes): the dataset is corrupt")
    return data


class RangeStream(io.RawIOBase):
    """Sequential reads of an object from byte `start` on, fetched in ranged reads of `block` bytes
    (local files are read directly); memory is one block."""

    def __init__(self, uri: str, start: int = 0, block: int = 16 << 20) -> None:
        self.uri, self.pos, self.block = uri, start, block
        self.size = object_size(uri)
        self.buf, self.buf_start = b"", start

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n < 0 else min(n, self.size - self.pos)
        parts = []
        while n > 0:
            at = self.pos - self.buf_start
            if at >= len(self.buf):
                self.buf_start = self.pos
                self.buf = read_range(self.uri, self.pos, min(max(self.block, n), self.size - self.pos))
                at = 0
            piece = self.buf[at : at + n]
            parts.append(piece)
            self.pos += len(piece)
            n -= len(piece)
        return b"".join(parts)
