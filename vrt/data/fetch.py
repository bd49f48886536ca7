"""Fetch raw source files to a local folder, through a content-addressed raw cache in the object store.

`--from` is a local path (used in place), an `s3://` prefix, or `hf://datasets/NAME` (downloaded
with huggingface_hub at the pinned `--revision`). Remote files are kept in the cache as

    CACHE/blobs/<sha256>                the file's bytes, stored once whatever its name
    CACHE/refs/<sha256 of the ref>.json  a snapshot {"from", "revision", "files": {path: sha256}}
                                         or one s3 object {"from", "sha256"}

The ref of an hf:// source, or of an s3:// source given a `--revision`, is (URI, revision):
once cached, the source is not read again. Each s3:// object is also keyed by (URI, ETag,
size): the source is listed (cheap) and only new or changed objects are fetched again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
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
    if not storage.is_s3(uri):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, uri)
        return
    bucket, key = storage.split_s3(uri)
    storage.s3_client().upload_file(str(path), bucket, key)


def _ref_uri(cache: str, ref: str) -> str:
    return storage.join(cache, "refs", hashlib.sha256(ref.encode()).hexdigest() + ".json")


def _from_cache(cache: str, ref: str, dest: Path) -> Path | None:
    """Materialise a cached ref under `dest`; None when the ref or one of its blobs is absent."""
    uri = _ref_uri(cache, ref)
    if not storage.exists(uri):
        return None
    files = json.loads(storage.read_bytes(uri))["files"]
    if not all(storage.exists(storage.join(cache, "blobs", h)) for h in files.values()):
        return None
    for rel, h in files.items():
        _get(storage.join(cache, "blobs", h), dest / rel)
    return dest


def _store_blob(cache: str, path: Path) -> str:
    """Put a file's bytes in the cache under its sha256 (once); returns the hash."""
    digest = file_sha256(path)
    blob = storage.join(cache, "blobs", digest)
    if not storage.exists(blob):
        _put(path, blob)
    return digest


def _write_ref(cache: str, ref: str, doc: dict) -> None:
    storage.write_bytes(_ref_uri(cache, ref), json.dumps(doc, indent=1, sort_keys=True).encode())


def _to_cache(cache: str, ref: str, from_uri: str, revision: str, root: Path) -> None:
    files = {
        p.relative_to(root).as_posix(): _store_blob(cache, p) for p in sorted(root.rglob("*")) if p.is_file()
    }
    _write_ref(cache, ref, {"from": from_uri, "revision": revision, "files": files})


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


def _fetch_object(cache: str, uri: str, etag: str, size: int, dest: Path) -> str:
    """One s3 object into `dest`, from the cache when this (URI, ETag, size) was fetched before."""
    ref = f"{uri}#{etag}#{size}"
    ref_uri = _ref_uri(cache, ref)
    if storage.exists(ref_uri):
        digest = json.loads(storage.read_bytes(ref_uri))["sha256"]
        blob = storage.join(cache, "blobs", digest)
        if storage.exists(blob):
            _get(blob, dest)
            return digest
    _get(uri, dest)
    digest = _store_blob(cache, dest)
    _write_ref(cache, ref, {"from": uri, "sha256": digest})
    return digest


def _from_s3(from_uri: str, revision: str, cache: str, dest: Path) -> Path:
    ref = f"{from_uri}@{revision}"
    if revision and (hit := _from_cache(cache, ref, dest)):
        return hit
    files = {
        name: _fetch_object(cache, storage.join(from_uri, name), etag, size, dest / name)
        for name, etag, size in _s3_listing(from_uri)
    }
    if revision:
        _write_ref(cache, ref, {"from": from_uri, "revision": revision, "files": files})
    return dest


def _from_hf(from_uri: str, revision: str, cache: str, dest: Path) -> Path:
    name = from_uri.removeprefix("hf://datasets/").strip("/")
    if not name or not from_uri.startswith("hf://datasets/"):
        raise UserError(f"{from_uri!r}: write hf://datasets/OWNER/NAME")
    if not revision:
        raise UserError(f"{from_uri} needs --revision COMMIT_SHA (pin the dataset version you train on)")
    ref = f"{from_uri}@{revision}"
    if hit := _from_cache(cache, ref, dest):
        return hit
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        snapshot_download(repo_id=name, repo_type="dataset", revision=revision, local_dir=dest)
    except (RepositoryNotFoundError, RevisionNotFoundError, HfHubHTTPError, OSError) as e:
        raise UserError(
            f"cannot download {from_uri} at {revision} ({e}): check the name, revision and HF_TOKEN"
        ) from e
    shutil.rmtree(dest / ".cache", ignore_errors=True)
    _to_cache(cache, ref, from_uri, revision, dest)
    return dest


def fetch(from_uri: str, revision: str, cache: str, workdir: Path) -> Path:
    """A local folder with the raw files of `from_uri` (the path itself for a local source)."""
    if from_uri.startswith("hf://"):
        return _from_hf(from_uri, revision, cache, workdir / "raw")
    if storage.is_s3(from_uri):
        return _from_s3(from_uri, revision, cache, workdir / "raw")
    root = Path(from_uri)
    if not root.exists():
        raise UserError(
            f"--from {from_uri} does not exist: give a local folder, s3://BUCKET/PREFIX or hf://datasets/NAME"
        )
    return root
