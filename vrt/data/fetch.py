"""The content-addressed raw cache in the object store, and the local `--from` root.

Remote raw files (an `s3://` prefix or `hf://datasets/NAME`, vrt.data.remote) are fetched one by
one as conversion reaches them and kept in the cache as

    CACHE/blobs/<sha256>                the file's bytes, stored once whatever its name
    CACHE/refs/<sha256 of the ref>.json  one file {"from", "sha256"} (ref "URI#VERSION#SIZE") or a
                                         pinned snapshot {"from", "revision", "files": {path: sha256}}
    CACHE/scans/<sha256>.json            record offsets of a TFRecord blob (vrt.data.stream)

A file is downloaded again only when its (URI, version, size) is new; a local `--from` is used in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from vrt import storage
from vrt.errors import UserError


def default_cache(out_uri: str) -> str:
    """`raw-cache` beside the output dataset (`s3://b/datasets/x` -> `s3://b/datasets/raw-cache`)."""
    if storage.is_s3(out_uri):
        bucket, key = storage.split_s3(out_uri)
        parent = key.rstrip("/").rpartition("/")[0]
        return storage.join(f"s3://{bucket}", parent, "raw-cache") if parent else f"s3://{bucket}/raw-cache"
    return str(Path(out_uri).resolve().parent / "raw-cache")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _get(uri: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not storage.is_s3(uri):
        if not Path(uri).is_file():
            raise UserError(f"{uri} does not exist: check the path")
        shutil.copyfile(uri, dest)
        return
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = storage.split_s3(uri)
    try:
        storage.s3_client().download_file(bucket, key, str(dest))
    except (ClientError, BotoCoreError) as e:
        raise storage._s3_error(e, uri) from e


def _put(path: Path, uri: str) -> None:
    """Copy a file to `uri`, atomically (workers may put and read the same blob at once)."""
    if not storage.is_s3(uri):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=Path(uri).parent, prefix=".put-")
        os.close(fd)
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, uri)
        finally:
            Path(tmp).unlink(missing_ok=True)
        return
    bucket, key = storage.split_s3(uri)
    storage.s3_client().upload_file(str(path), bucket, key)


def _ref_uri(cache: str, ref: str) -> str:
    return storage.join(cache, "refs", hashlib.sha256(ref.encode()).hexdigest() + ".json")


def blob_uri(cache: str, digest: str) -> str:
    return storage.join(cache, "blobs", digest)


def _store_blob(cache: str, path: Path) -> str:
    """Put a file's bytes in the cache under its sha256 (once); returns the hash."""
    digest = file_sha256(path)
    blob = blob_uri(cache, digest)
    if not storage.exists(blob):
        _put(path, blob)
    return digest


def _write_ref(cache: str, ref: str, doc: dict) -> None:
    storage.write_bytes(_ref_uri(cache, ref), json.dumps(doc, indent=1, sort_keys=True).encode())


def _s3_listing(from_uri: str) -> list[tuple[str, str, int]]:
    """(name relative to the prefix, ETag, size) of every object under an s3:// prefix."""
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = storage.split_s3(from_uri)
    prefix = key.rstrip("/") + "/" if key else ""
    entries = []
    try:
        for page in (
            storage.s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        ):
            entries += [
                (storage.safe_relative(o["Key"][len(prefix) :], from_uri), o["ETag"], o["Size"])
                for o in page.get("Contents", [])
            ]
    except (ClientError, BotoCoreError) as e:
        raise storage._s3_error(e, from_uri) from e
    if not entries:
        raise UserError(f"nothing under {from_uri}: check the URI (list it with `aws s3 ls {from_uri}/`)")
    return sorted(entries)


def local_root(from_uri: str) -> Path:
    """The local folder (or file) `--from` names; UserError when it is not there."""
    root = Path(from_uri)
    if not root.exists():
        raise UserError(
            f"--from {from_uri} does not exist: give a local folder, s3://BUCKET/PREFIX or hf://datasets/NAME"
        )
    return root
