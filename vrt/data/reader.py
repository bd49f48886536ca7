"""Read a published canonical dataset (local directory or s3:// prefix).

Whole shards (sha256-checked against the manifest), or only some columns (`read_columns`, e.g.
everything but the images), or the images of a few samples (`read_images`): the last two fetch
just the column chunks they need, by byte range, row group by row group.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from vrt import storage
from vrt.data.manifest import Manifest, read_manifest
from vrt.data.rowgroups import RowGroups
from vrt.data.schema import SCHEMA
from vrt.errors import UserError

NO_IMAGE = [name for name in SCHEMA.names if name != "image"]


def read_shard(dataset_uri: str, manifest: Manifest, index: int, verify: bool = True) -> pa.Table:
    """One shard as a table; `verify` checks its sha256 against the manifest."""
    shard = manifest.shards[index]
    uri = storage.join(dataset_uri, shard.path)
    data = storage.read_bytes(uri)
    if verify and hashlib.sha256(data).hexdigest() != shard.sha256:
        raise UserError(f"{uri} does not match the sha256 in its manifest: the dataset is corrupt, prepare it again")
    table = pq.read_table(io.BytesIO(data))
    if not table.schema.equals(SCHEMA, check_metadata=False):
        raise UserError(f"{uri} does not have the canonical schema: prepare the dataset again")
    return table


def read_table(dataset_uri: str, verify: bool = True) -> tuple[Manifest, pa.Table]:
    """The manifest and all rows of a dataset."""
    manifest = read_manifest(dataset_uri)
    tables = [read_shard(dataset_uri, manifest, i, verify) for i in range(len(manifest.shards))]
    return manifest, pa.concat_tables(tables) if tables else SCHEMA.empty_table()


def _check_columns(columns: list[str]) -> None:
    unknown = sorted(set(columns) - set(SCHEMA.names))
    if unknown:
        raise ValueError(f"unknown columns {unknown}: the canonical schema has {SCHEMA.names}")


def read_columns(dataset_uri: str, columns: list[str]) -> tuple[Manifest, pa.Table]:
    """The manifest and `columns` of every row, fetching only those columns' bytes."""
    _check_columns(columns)
    manifest = read_manifest(dataset_uri)
    groups = RowGroups(dataset_uri, manifest)
    tables = [groups.read(s, g, columns) for s in range(len(manifest.shards)) for g in range(len(groups.sizes(s)))]
    schema = pa.schema([SCHEMA.field(c) for c in columns])
    return manifest, pa.concat_tables(tables) if tables else schema.empty_table()


def read_images(dataset_uri: str, ids: list[str]) -> dict[str, bytes]:
    """{id: image bytes} of the samples `ids` (absent ids are left out): reads the id column, then the
    image column chunks of the row groups holding them."""
    wanted = set(ids)
    manifest = read_manifest(dataset_uri)
    groups = RowGroups(dataset_uri, manifest)
    out: dict[str, bytes] = {}
    for s in range(len(manifest.shards)):
        for g in range(len(groups.sizes(s))):
            if wanted.intersection(groups.read(s, g, ["id"]).column("id").to_pylist()):
                table = groups.read(s, g, ["id", "image"])
                out.update((i, b) for i, b in zip(table.column("id").to_pylist(), table.column("image").to_pylist(),
                                                  strict=True) if i in wanted)
    return out


def iter_samples(dataset_uri: str, verify: bool = True, columns: list[str] | None = None) -> Iterator[dict]:
    """Rows as plain dicts (the canonical sample), shard by shard; with `columns`, only those fields
    (read row group by row group, nothing else fetched)."""
    manifest = read_manifest(dataset_uri)
    if columns is not None:
        _check_columns(columns)
        groups = RowGroups(dataset_uri, manifest)
        for s in range(len(manifest.shards)):
            for g in range(len(groups.sizes(s))):
                yield from groups.read(s, g, columns).to_pylist()
        return
    for i in range(len(manifest.shards)):
        yield from read_shard(dataset_uri, manifest, i, verify).to_pylist()
