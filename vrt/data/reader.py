"""Read a published canonical dataset (local directory or s3:// prefix)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from vrt import storage
from vrt.data.manifest import Manifest, read_manifest
from vrt.data.schema import SCHEMA
from vrt.errors import UserError


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


def iter_samples(dataset_uri: str, verify: bool = True) -> Iterator[dict]:
    """Rows as plain dicts (the canonical sample), shard by shard."""
    manifest = read_manifest(dataset_uri)
    for i in range(len(manifest.shards)):
        yield from read_shard(dataset_uri, manifest, i, verify).to_pylist()
