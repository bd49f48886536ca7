"""Streaming shard writer: canonical rows in, one Parquet file of small row groups out.

Rows are buffered only up to `row_group_size`, then written as one row group, so a
conversion worker holds one row group of rows at a time whatever the shard size. The
`image` column is stored uncompressed and without statistics or dictionary (JPEG/PNG
bytes do not compress; min/max of megabyte blobs would bloat the footer); every other
column is Snappy-compressed. `close()` reports each row group's byte range and sha256,
so readers can fetch and verify single row groups.

    with ShardWriter(Path("part-00000.parquet"), row_group_size=32) as w:
        for row in rows:
            w.add(row)
    info = w.info   # rows, bytes, sha256, row_groups [{rows, offset, length, sha256}]
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Self

import pyarrow as pa
import pyarrow.parquet as pq

from vrt.data.schema import SCHEMA


def _leaves(name: str, type_: pa.DataType) -> list[str]:
    """Parquet leaf column paths of an Arrow field (lists as NAME.list.element, structs as NAME.CHILD)."""
    if pa.types.is_list(type_):
        return _leaves(f"{name}.list.element", type_.value_type)
    if pa.types.is_struct(type_):
        return [leaf for i in range(type_.num_fields) for leaf in _leaves(f"{name}.{type_.field(i).name}", type_.field(i).type)]
    return [name]


_SMALL_COLUMNS = [leaf for f in SCHEMA if f.name != "image" for leaf in _leaves(f.name, f.type)]


def writer_options() -> dict:
    """ParquetWriter keyword arguments for canonical shards (also used by tests that build shards)."""
    return {
        "compression": {**{name: "snappy" for name in _SMALL_COLUMNS}, "image": "none"},
        "use_dictionary": ["source"],
        "write_statistics": ["id", "width", "height"],
        "write_page_checksum": True,  # readers of single columns verify pages (no whole-file sha256 there)
    }


def row_group_ranges(metadata: pq.FileMetaData) -> list[tuple[int, int, int]]:
    """(rows, offset, length) of every row group: the bytes holding all its column chunks."""
    out = []
    for i in range(metadata.num_row_groups):
        rg = metadata.row_group(i)
        starts, ends = [], []
        for c in range(rg.num_columns):
            col = rg.column(c)
            start = col.data_page_offset
            if col.has_dictionary_page and col.dictionary_page_offset is not None:
                start = min(start, col.dictionary_page_offset)
            starts.append(start)
            ends.append(start + col.total_compressed_size)
        out.append((rg.num_rows, min(starts), max(ends) - min(starts)))
    return out


def describe_file(path: Path) -> dict:
    """rows, bytes, sha256 and row groups (rows, offset, length, sha256) of a written shard."""
    data = path.read_bytes()
    groups = [
        {"rows": rows, "offset": off, "length": n, "sha256": hashlib.sha256(data[off : off + n]).hexdigest()}
        for rows, off, n in row_group_ranges(pq.read_metadata(path))
    ]
    return {
        "rows": sum(g["rows"] for g in groups),
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "row_groups": groups,
    }


class ShardWriter:
    """Append canonical rows; each `row_group_size` rows become one row group on disk."""

    def __init__(self, path: Path, row_group_size: int) -> None:
        if row_group_size < 1:
            raise ValueError(f"row_group_size must be >= 1, got {row_group_size}")
        self.path, self.row_group_size = path, row_group_size
        self.rows: list[dict] = []
        self.written = 0
        self.info: dict | None = None
        self._writer = pq.ParquetWriter(str(path), SCHEMA, **writer_options())

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.row_group_size:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            table = pa.Table.from_pylist(self.rows, schema=SCHEMA)
            self._writer.write_table(table, row_group_size=len(self.rows))
            self.written += len(self.rows)
            self.rows = []

    def close(self) -> dict:
        """Finish the file; returns (and keeps in `info`) its description."""
        if self.info is None:
            self._flush()
            self._writer.close()
            self.info = describe_file(self.path)
        return self.info

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is None:
            self.close()
        else:
            self._writer.close()
