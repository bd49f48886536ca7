"""Cut a source's input records into independent chunks that any process can convert.

A chunk of a TFRecord source is a list of spans (file, byte offset, first record number,
record count): a worker opens the files and reads just those records, so nothing but the
small span list travels to it. Spans come from a header-only scan that frames records the
way `tfrecord.iter_records` does (length CRC checked, data skipped), so chunk k holds exactly
the records a serial read would put in chunk k. Other sources (Parquet rows, JSON records
whose images are read by `convert`) ship their raw records with the chunk.

    for chunk in plan_chunks(conv, paths, root, size=1000):
        records = iter_chunk(conv, chunk, root)
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from vrt.data import tfrecord
from vrt.data.sources.common import RawRecord, iter_tfrecord_span


@dataclass(frozen=True)
class Span:
    """`count` consecutive records of one TFRecord file, from record number `first` at byte `offset`."""

    name: str  # relative to the input root
    offset: int
    first: int
    count: int


@dataclass(frozen=True)
class Chunk:
    index: int
    size: int  # input records
    spans: tuple[Span, ...] = ()
    records: tuple[RawRecord, ...] = ()  # shipped records (sources not read by span)


def scan_tfrecord(path: Path) -> list[int]:
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
    return offsets


def _span_chunks(paths: list[Path], root: Path, size: int) -> Iterator[Chunk]:
    items = ((p.relative_to(root).as_posix(), off, i) for p in paths for i, off in enumerate(scan_tfrecord(p)))
    for index in itertools.count():
        batch = list(itertools.islice(items, size))
        if not batch:
            return
        spans = []
        for name, group in itertools.groupby(batch, key=lambda t: t[0]):
            group = list(group)
            spans.append(Span(name, group[0][1], group[0][2], len(group)))
        yield Chunk(index, len(batch), spans=tuple(spans))


def _record_chunks(conv: ModuleType, paths: list[Path], root: Path, size: int) -> Iterator[Chunk]:
    records = conv.iter_raw(paths, root)
    for index in itertools.count():
        batch = tuple(itertools.islice(records, size))
        if not batch:
            return
        yield Chunk(index, len(batch), records=batch)


def by_span(paths: list[Path]) -> bool:
    """True when every input is a TFRecord file (chunks are then spans, read by the worker)."""
    return bool(paths) and all(p.suffix == ".tfrecord" for p in paths)


def plan_chunks(conv: ModuleType, paths: list[Path], root: Path, size: int) -> Iterator[Chunk]:
    """The chunks of `size` input records, in input order (lazily)."""
    return _span_chunks(paths, root, size) if by_span(paths) else _record_chunks(conv, paths, root, size)


def iter_chunk(chunk: Chunk, root: Path) -> Iterator[RawRecord]:
    """The raw records of a chunk, in order."""
    if not chunk.spans:
        yield from chunk.records
    for span in chunk.spans:
        yield from iter_tfrecord_span(root, span.name, span.offset, span.first, span.count)
