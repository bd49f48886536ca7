"""Read single row groups of canonical shards by byte range, verified against the manifest.

A shard's footer is fetched once per process (one ranged read, placed by the manifest); a row
group is one ranged read of exactly its column chunks, checked against the sha256 the
manifest recorded for it, then decoded. Shards from manifests without row-group entries are
described from their footer (and verified per whole shard only when read whole elsewhere).

    groups = RowGroups(uri, manifest)
    table = groups.read(shard=0, group=2)          # pyarrow.Table of that row group
    groups.sizes(0)                                # rows per row group of shard 0
"""

from __future__ import annotations

import hashlib
import io
import struct

import pyarrow as pa
import pyarrow.parquet as pq

from vrt import storage
from vrt.data.manifest import Manifest, Shard
from vrt.data.ranges import object_size, read_range
from vrt.data.schema import SCHEMA
from vrt.data.writer import row_group_ranges
from vrt.errors import UserError


class _Pieces(io.RawIOBase):
    """A read-only file of `size` bytes of which only some ranges are held; reading elsewhere is a bug."""

    def __init__(self, size: int, pieces: dict[int, bytes]) -> None:
        self.size, self.pieces, self.pos = size, pieces, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.pos if n < 0 else min(n, self.size - self.pos)
        for start, data in self.pieces.items():
            if start <= self.pos and self.pos + n <= start + len(data):
                out = data[self.pos - start : self.pos - start + n]
                self.pos += n
                return out
        raise OSError(f"bytes {self.pos}..{self.pos + n} were not fetched")


def _parse_footer(uri: str, size: int, tail: bytes) -> pq.FileMetaData:
    """Parquet metadata from the last `len(tail)` bytes of a `size`-byte file (UserError if damaged)."""
    if len(tail) < 8 or tail[-4:] != b"PAR1":
        raise UserError(f"{uri} is not a Parquet file: the dataset is corrupt, prepare it again")
    (footer_len,) = struct.unpack("<I", tail[-8:-4])
    if footer_len + 12 > size or footer_len + 8 > len(tail):
        raise UserError(f"{uri} has a damaged Parquet footer: the dataset is corrupt, prepare it again")
    try:  # offsets in the metadata stay the file's
        return pq.read_metadata(pa.BufferReader(b"PAR1" + tail[len(tail) - 8 - footer_len :]))
    except (OSError, pa.ArrowException) as e:
        raise UserError(f"{uri} has a damaged Parquet footer ({e}): the dataset is corrupt, prepare it again") from e


_FOOTERS: dict[tuple[str, int], pq.FileMetaData] = {}  # per process; a forked loader inherits its parent's


def read_footer(uri: str, size: int | None = None, start: int | None = None) -> tuple[int, pq.FileMetaData]:
    """(file size, Parquet metadata) of a shard, read once per process. Given the size and where the
    footer starts (from the manifest), one ranged read of [start, size); else a size request and two
    ranged reads (the 8-byte trailer, then the footer)."""
    if size is not None and (uri, size) in _FOOTERS:
        return size, _FOOTERS[uri, size]
    if size is not None and start is not None and 12 <= size - start <= size:
        tail = read_range(uri, start, size - start)
        (footer_len,) = struct.unpack("<I", tail[-8:-4]) if len(tail) >= 8 else (0,)
        if footer_len + 8 > len(tail):  # something unexpected between the row groups and the footer
            tail = read_range(uri, size - 8 - footer_len, footer_len + 8) if footer_len + 12 <= size else tail
    else:
        size = object_size(uri)
        trailer = read_range(uri, size - 8, 8) if size >= 12 else b""
        (footer_len,) = struct.unpack("<I", trailer[:4]) if trailer[-4:] == b"PAR1" else (0,)
        if trailer[-4:] == b"PAR1" and footer_len + 12 <= size:
            tail = read_range(uri, size - 8 - footer_len, footer_len) + trailer
        else:
            tail = trailer
    _FOOTERS[uri, size] = _parse_footer(uri, size, tail)
    return size, _FOOTERS[uri, size]


def footer_start(shard: Shard) -> int | None:
    """Where a shard's footer starts: right after its last row group (None for older manifests)."""
    return max((g["offset"] + g["length"] for g in shard.row_groups), default=None)


def check_schema(uri: str, schema: pa.Schema) -> None:
    if not schema.equals(SCHEMA, check_metadata=False):
        missing = sorted(set(SCHEMA.names) - set(schema.names))
        extra = sorted(set(schema.names) - set(SCHEMA.names))
        raise UserError(
            f"{uri} does not have the canonical schema v1 (missing columns {missing}, unexpected {extra}, "
            "or different types): re-run `vrt data prepare`"
        )


class RowGroups:
    """Row-group reads of one dataset; footers are cached for the life of the object (per process)."""

    def __init__(self, dataset_uri: str, manifest: Manifest) -> None:
        self.uri, self.manifest = dataset_uri, manifest
        self.footers: dict[int, tuple[int, pq.FileMetaData]] = {}

    def shard_uri(self, shard: int) -> str:
        return storage.join(self.uri, self.manifest.shards[shard].path)

    def footer(self, shard: int) -> tuple[int, pq.FileMetaData]:
        if shard not in self.footers:
            entry = self.manifest.shards[shard]
            self.footers[shard] = read_footer(self.shard_uri(shard), entry.bytes, footer_start(entry))
        return self.footers[shard]

    def sizes(self, shard: int) -> tuple[int, ...]:
        """Rows per row group of `shard` (from the manifest; from the footer for older manifests)."""
        recorded = self.manifest.shards[shard].row_groups
        if recorded:
            return tuple(g["rows"] for g in recorded)
        return tuple(rows for rows, _, _ in row_group_ranges(self.footer(shard)[1]))

    def read(self, shard: int, group: int, columns: list[str] | None = None) -> pa.Table:
        """Row group `group` of `shard` as a table. All columns: one ranged read, sha256-checked when the
        manifest recorded it. Some `columns`: only their column chunks are fetched (pages CRC-checked)."""
        uri = self.shard_uri(shard)
        size, meta = self.footer(shard)
        if columns is None:
            _, offset, length = row_group_ranges(meta)[group]
            pieces = {offset: read_range(uri, offset, length)}
            recorded = self.manifest.shards[shard].row_groups
            if recorded and hashlib.sha256(pieces[offset]).hexdigest() != recorded[group]["sha256"]:
                raise UserError(
                    f"{uri} row group {group} does not match the sha256 in its manifest: the dataset is corrupt, "
                    "prepare it again"
                )
        else:
            pieces = {off: read_range(uri, off, n) for off, n in column_ranges(meta, group, columns)}
        try:
            pf = pq.ParquetFile(_Pieces(size, pieces), metadata=meta, pre_buffer=False, page_checksum_verification=True)
            table = pf.read_row_group(group, columns)
        except (OSError, pa.ArrowException) as e:
            raise UserError(f"{uri} row group {group} does not decode ({e}): prepare the dataset again") from e
        if columns is None:
            check_schema(uri, table.schema)
        return table


def column_ranges(meta: pq.FileMetaData, group: int, columns: list[str]) -> list[tuple[int, int]]:
    """(offset, length) runs covering the column chunks of `columns` (top-level names) in a row group."""
    rg = meta.row_group(group)
    spans = []
    for c in range(rg.num_columns):
        col = rg.column(c)
        if col.path_in_schema.split(".")[0] in columns:
            start = col.data_page_offset
            if col.has_dictionary_page and col.dictionary_page_offset is not None:
                start = min(start, col.dictionary_page_offset)
            spans.append((start, start + col.total_compressed_size))
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end - start) for start, end in merged]
