"""Cut a source's input records into independent chunks that any process can convert.

A chunk of a TFRecord source is a list of spans (file, byte offset, first record number,
record count): a worker reads just those records, from a local file or by ranged reads of an
s3:// object, so nothing but the small span list travels to it. Spans come from a
header-only scan that frames records the way `tfrecord.iter_records` does (length CRC
checked, data skipped), so chunk k holds exactly the records a serial read would put in
chunk k. Other sources (Parquet rows, JSON records whose images are read by `convert`) ship
their raw records with the chunk.

    for chunk in plan_chunks(conv, paths, root, size=1000):
        records = iter_chunk(chunk)
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from vrt import storage
from vrt.data import tfrecord
from vrt.data.ranges import RangeStream
from vrt.data.sources.common import RawRecord, iter_tfrecord_stream


@dataclass(frozen=True)
class Span:
    """`count` consecutive records of one TFRecord file, from record number `first` at byte `offset`."""

    name: str  # the file's name relative to the input root (record keys use it)
    uri: str  # where to read it: a local path or an s3:// object
    offset: int
    first: int
    count: int


@dataclass(frozen=True)
class Chunk:
    index: int
    size: int  # input records
    spans: tuple[Span, ...] = ()
    records: tuple[RawRecord, ...] = ()  # shipped records (sources not read by span)


@dataclass(frozen=True)
class InputFile:
    """A TFRecord input: its name, where workers read it, and the byte offsets of its items."""

    name: str
    uri: str
    offsets: tuple[int, ...]


def scan_tfrecord(path: Path) -> tuple[int, ...]:
    """Byte offsets of the items `tfrecord.iter_records` yields for this file (records, and a final
    damaged one where framing stops), reading 12 header bytes per record."""
    offsets: list[int] = []
    with open(path, "rb") as f:
        end = f.seek(0, 2)
        pos = 0
        while pos < end:
            offsets.append(pos)
            f.seek(pos)
            header = f.read(12)
            if len(header) < 12 or tfrecord.masked_crc(header[:8]) != struct.unpack_from("<I", header, 8)[0]:
                break
            (length,) = struct.unpack_from("<Q", header)
            if pos + 16 + length > end:
                break
            pos += 16 + length
    return tuple(offsets)


def local_tfrecords(paths: list[Path], root: Path) -> Iterator[InputFile]:
    for p in paths:
        yield InputFile(p.relative_to(root).as_posix(), str(p), scan_tfrecord(p))


def span_chunks(files: Iterable[InputFile], size: int) -> Iterator[Chunk]:
    """Chunks of `size` items over the files in order (lazily: a file is asked for when reached)."""
    items = ((f.name, f.uri, off, i) for f in files for i, off in enumerate(f.offsets))
    for index in itertools.count():
        batch = list(itertools.islice(items, size))
        if not batch:
            return
        spans = []
        for _, group in itertools.groupby(batch, key=lambda t: t[1]):
            group = list(group)
            name, uri, offset, first = group[0]
            spans.append(Span(name, uri, offset, first, len(group)))
        yield Chunk(index, len(batch), spans=tuple(spans))


def record_chunks(records: Iterator[RawRecord], size: int) -> Iterator[Chunk]:
    """Chunks of `size` raw records shipped with the chunk, in order (lazily)."""
    for index in itertools.count():
        batch = tuple(itertools.islice(records, size))
        if not batch:
            return
        yield Chunk(index, len(batch), records=batch)


def by_span(paths: list[Path]) -> bool:
    """True when every input is a TFRecord file (chunks are then spans, read by the worker)."""
    return bool(paths) and all(p.suffix == ".tfrecord" for p in paths)


def plan_chunks(conv: ModuleType, paths: list[Path], root: Path, size: int) -> Iterator[Chunk]:
    """The chunks of `size` input records of local inputs, in input order (lazily)."""
    if by_span(paths):
        return span_chunks(local_tfrecords(paths, root), size)
    return record_chunks(conv.iter_raw(paths, root), size)


def iter_chunk(chunk: Chunk) -> Iterator[RawRecord]:
    """The raw records of a chunk, in order."""
    yield from chunk.records
    for span in chunk.spans:
        if storage.is_s3(span.uri):
            yield from iter_tfrecord_stream(RangeStream(span.uri, span.offset), span.name, span.offset,
                                            span.first, span.count)
        else:
            with open(span.uri, "rb") as f:
                f.seek(span.offset)
                yield from iter_tfrecord_stream(f, span.name, span.offset, span.first, span.count)
