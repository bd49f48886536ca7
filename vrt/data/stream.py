"""Streaming input for TFRecord sources on s3:// (vrt-80k, vrt-bench): no whole-dataset staging.

Objects are taken one at a time, as the chunk plan reaches them: each goes into the
content-addressed raw cache (vrt.data.fetch; an object already there is not downloaded), and
its record offsets are scanned once and kept beside it (`CACHE/scans/<sha256>.json`).
Conversion workers then read their spans straight from the cached blob, by byte range when
the cache is on S3. Local disk: one object at a time while it is first cached and scanned
(plus the cache itself when the cache is a local folder); memory per worker: one read block.

    inputs = S3Inputs("vrt-80k", "s3://raw/vrt-80k", "", "s3://b/raw-cache", Path(tmp))
    for f in inputs.files(): ...        # InputFile(name, blob URI, offsets), lazily
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from pathlib import Path

from vrt import storage
from vrt.data import fetch
from vrt.data.chunks import InputFile, scan_tfrecord
from vrt.data.sources.common import check_tfrecords
from vrt.errors import UserError

# input file names of the TFRecord sources (as their converters' find_inputs select them)
PATTERNS = {"vrt-80k": "ver_training_*.tfrecord", "vrt-bench": "*.tfrecord"}


def streamable(source: str, from_uri: str) -> bool:
    return storage.is_s3(from_uri) and source in PATTERNS


class S3Inputs:
    """The input objects of one s3:// TFRecord source; `identity` names them for the resume fingerprint."""

    def __init__(self, source: str, from_uri: str, revision: str, cache: str, workdir: Path) -> None:
        self.from_uri, self.revision, self.cache, self.workdir = from_uri, revision, cache, workdir
        self.peak_disk = 0  # most bytes held on local disk at once by this object
        self.snapshot = self._snapshot()
        if self.snapshot is not None:
            names = sorted(self.snapshot)
        else:
            self.listing = {n: (etag, size) for n, etag, size in fetch._s3_listing(from_uri)}
            names = sorted(n for n in self.listing if fnmatch.fnmatch(n.rpartition("/")[2], PATTERNS[source]))
        if not names:
            raise UserError(f"no {PATTERNS[source]} file under {from_uri}: point --from at the {source} files")
        self.names = names
        # a pinned revision is its own identity (the cache never re-reads it); else the listing's
        self.identity = [(n, f"revision:{revision}") if revision else (n, f"etag:{self.listing[n][0]}:{self.listing[n][1]}")
                         for n in names]

    def _snapshot(self) -> dict[str, str] | None:
        """{name: sha256} of a pinned revision already in the cache (all blobs present), else None."""
        if not self.revision:
            return None
        uri = fetch._ref_uri(self.cache, f"{self.from_uri}@{self.revision}")
        if not storage.exists(uri):
            return None
        files = json.loads(storage.read_bytes(uri))["files"]
        return files if all(storage.exists(self._blob(h)) for h in files.values()) else None

    def _blob(self, digest: str) -> str:
        return storage.join(self.cache, "blobs", digest)

    def _cached(self, name: str) -> str:
        """sha256 of object `name`, putting it in the cache first when it is not there."""
        if self.snapshot is not None:
            return self.snapshot[name]
        etag, size = self.listing[name]
        ref = fetch._ref_uri(self.cache, f"{storage.join(self.from_uri, name)}#{etag}#{size}")
        if storage.exists(ref):
            digest = json.loads(storage.read_bytes(ref))["sha256"]
            if storage.exists(self._blob(digest)):
                return digest
        local = self.workdir / "object"
        try:
            digest = fetch._fetch_object(self.cache, storage.join(self.from_uri, name), etag, size, local)
            self._scan(name, digest, local)
        finally:
            local.unlink(missing_ok=True)
        return digest

    def _scan(self, name: str, digest: str, local: Path) -> tuple[int, ...]:
        """Record offsets of a local copy, checked to be a TFRecord file, kept in the cache."""
        self.peak_disk = max(self.peak_disk, local.stat().st_size)
        try:
            check_tfrecords([local])
        except UserError:
            raise UserError(
                f"{storage.join(self.from_uri, name)} is not a TFRecord file: check --source and --from"
            ) from None
        offsets = scan_tfrecord(local)
        storage.write_bytes(storage.join(self.cache, "scans", f"{digest}.json"), json.dumps(offsets).encode())
        return offsets

    def _offsets(self, name: str, digest: str) -> tuple[int, ...]:
        uri = storage.join(self.cache, "scans", f"{digest}.json")
        if storage.exists(uri):
            return tuple(json.loads(storage.read_bytes(uri)))
        local = self.workdir / "object"
        try:
            fetch._get(self._blob(digest), local)
            return self._scan(name, digest, local)
        finally:
            local.unlink(missing_ok=True)

    def files(self) -> Iterator[InputFile]:
        """The inputs in name order, each cached and scanned when reached; a pinned revision's snapshot
        is recorded once every object is cached."""
        digests = {}
        for name in self.names:
            digests[name] = self._cached(name)
            yield InputFile(name, self._blob(digests[name]), self._offsets(name, digests[name]))
        if self.revision and self.snapshot is None:
            doc = {"from": self.from_uri, "revision": self.revision, "files": digests}
            fetch._write_ref(self.cache, f"{self.from_uri}@{self.revision}", doc)
