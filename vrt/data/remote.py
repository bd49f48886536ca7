"""Remote raw sources, one file at a time: list a source, fetch one file through the content-hash cache.

The one seam between conversion and where raw files live. `open_remote(--from, --revision)`
gives an `S3Remote` (an s3:// prefix: list_objects_v2, one GET per object) or an `HfRemote`
(`hf://datasets/OWNER/NAME` at a pinned revision: the Hub's tree listing, `hf_hub_download` of
one file); both are small picklable values, so a conversion worker can fetch the file it needs.

Files go through the raw cache (vrt.data.fetch layout): `CACHE/refs/<sha256 of "URI#VERSION#SIZE">.json`
-> `{"from", "sha256"}` and `CACHE/blobs/<sha256>`. A file whose (URI, version, size) is there is
not downloaded again; the version is the S3 ETag or the Hub's blob id.

    remote = open_remote("s3://raw/vgr", "")
    for f in remote.listing(): ...                      # RemoteFile(name, version, size)
    data = read_cached(cache, remote, f)                # bytes, fetched at most once per cache
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vrt import storage
from vrt.data import fetch
from vrt.errors import UserError


@dataclass(frozen=True)
class RemoteFile:
    name: str  # path relative to the source root
    version: str  # S3 ETag, or the Hub's blob id at the pinned revision
    size: int


@dataclass(frozen=True)
class S3Remote:
    uri: str

    def listing(self) -> list[RemoteFile]:
        return [RemoteFile(n, etag, size) for n, etag, size in fetch._s3_listing(self.uri)]

    def download(self, name: str, dest: Path) -> None:
        fetch._get(storage.join(self.uri, name), dest)


@dataclass(frozen=True)
class HfRemote:
    uri: str  # hf://datasets/OWNER/NAME
    revision: str
    endpoint: str | None = None  # HF_ENDPOINT (default: the Hub)

    @property
    def repo(self) -> str:
        return self.uri.removeprefix("hf://datasets/").strip("/")

    def _error(self, e: Exception) -> UserError:
        detail = " ".join(str(e).split())  # one line
        return UserError(f"cannot read {self.uri} at {self.revision} ({detail}): check the name, revision and HF_TOKEN")

    def listing(self) -> list[RemoteFile]:
        from huggingface_hub import HfApi
        from huggingface_hub.hf_api import RepoFile

        try:
            tree = HfApi(endpoint=self.endpoint).list_repo_tree(self.repo, recursive=True, revision=self.revision,
                                                                repo_type="dataset")
            files = [RemoteFile(storage.safe_relative(f.path, self.uri), f.blob_id, f.size)
                     for f in tree if isinstance(f, RepoFile) and not f.path.startswith(".")]
        except UserError:
            raise
        except Exception as e:  # the hub client raises its HTTP library's errors, which vary by version
            raise self._error(e) from e
        if not files:
            raise UserError(f"nothing in {self.uri} at {self.revision}: check the name and revision")
        return sorted(files, key=lambda f: f.name)

    def download(self, name: str, dest: Path) -> None:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()  # one bar per file would flood the log
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".hf-") as tmp:
            try:
                got = hf_hub_download(self.repo, name, repo_type="dataset", revision=self.revision, local_dir=tmp,
                                      endpoint=self.endpoint)
            except Exception as e:  # as in listing
                raise self._error(e) from e
            os.replace(got, dest)


Remote = S3Remote | HfRemote


def open_remote(from_uri: str, revision: str) -> Remote | None:
    """The remote behind `--from` (None for a local path)."""
    if from_uri.startswith("hf://"):
        if not from_uri.startswith("hf://datasets/") or not from_uri.removeprefix("hf://datasets/").strip("/"):
            raise UserError(f"{from_uri!r}: write hf://datasets/OWNER/NAME")
        if not revision:
            raise UserError(f"{from_uri} needs --revision COMMIT_SHA (pin the dataset version you train on)")
        return HfRemote(from_uri, revision, os.environ.get("HF_ENDPOINT") or None)
    return S3Remote(from_uri) if storage.is_s3(from_uri) else None


def _ref(remote: Remote, f: RemoteFile) -> str:
    return f"{storage.join(remote.uri, f.name)}#{f.version}#{f.size}"


def cached_digest(cache: str, remote: Remote, f: RemoteFile) -> str | None:
    """sha256 of `f` when the cache holds it (its ref and its blob), else None."""
    ref = fetch._ref_uri(cache, _ref(remote, f))
    if storage.exists(ref):
        digest = json.loads(storage.read_bytes(ref))["sha256"]
        if storage.exists(fetch.blob_uri(cache, digest)):
            return digest
    return None


def fetch_to(cache: str, remote: Remote, f: RemoteFile, dest: Path) -> str:
    """Download `f` to `dest` and keep it in the cache; returns its sha256 (the caller deletes `dest`)."""
    remote.download(f.name, dest)
    digest = fetch._store_blob(cache, dest)
    fetch._write_ref(cache, _ref(remote, f), {"from": storage.join(remote.uri, f.name), "sha256": digest})
    return digest


def read_cached(cache: str, remote: Remote, f: RemoteFile) -> bytes:
    """The bytes of `f`, from the cache (checked against their sha256) or downloaded into it; local disk:
    this one file while it is cached."""
    if (digest := cached_digest(cache, remote, f)) is not None:
        data = storage.read_bytes(fetch.blob_uri(cache, digest))
        if hashlib.sha256(data).hexdigest() == digest:
            return data
        storage.delete(fetch.blob_uri(cache, digest))  # damaged in the cache: fetch it again
    fd, tmp = tempfile.mkstemp(prefix="vrt-remote-")
    os.close(fd)
    try:
        fetch_to(cache, remote, f, Path(tmp))
        return Path(tmp).read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)
