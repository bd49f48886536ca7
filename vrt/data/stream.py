"""Streaming input for remote sources (s3:// or hf://datasets/NAME): no whole-dataset staging.

Input files are taken one at a time, as the chunk plan reaches them, through the
content-addressed raw cache (vrt.data.remote: a file already there is not downloaded again).

- TFRecord sources (vrt-80k, vrt-bench): each object's record offsets are scanned once and kept
  beside its blob (`CACHE/scans/<sha256>.json`); workers read their spans straight from the
  cached blob, by byte range when the cache is on S3.
- ReasonSeg (Parquet files): the planner holds one file at a time on local disk while it ships
  that file's rows with the chunks.
- VGR (JSON/JSONL annotations + image folders): the planner holds one annotation file at a time
  (a JSON list must be whole to be parsed); each record carries the one image file it names
  (`RemoteFolder`), which the conversion worker fetches when it converts the record.

Local disk, whatever the dataset size: the planner holds one input file (the largest TFRecord
object, Parquet file or annotation file) and each worker one image while it is first cached;
plus the cache itself when the cache is a local folder. `peak_disk` records the planner's share.

    inputs = RemoteInputs("vrt-80k", open_remote("s3://raw/vrt-80k", ""), "", "s3://b/raw-cache", Path(tmp))
    for f in inputs.files(): ...        # InputFile(name, blob URI, offsets), lazily
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from vrt import storage
from vrt.data import fetch, remote
from vrt.data.chunks import InputFile, scan_tfrecord
from vrt.data.remote import Remote, RemoteFile
from vrt.data.sources.common import check_tfrecords
from vrt.errors import UserError

# input file names of each source (as their converters' find_inputs select them)
PATTERNS = {"vrt-80k": ("ver_training_*.tfrecord",), "vrt-bench": ("*.tfrecord",), "reasonseg": ("*.parquet",),
            "vgr": ("*.json", "*.jsonl")}
TFRECORD_SOURCES = ("vrt-80k", "vrt-bench")


@dataclass(frozen=True)
class RemoteFolder:
    """Where a VGR record's image lives remotely: the annotation's folder and the one file its record
    names (absent when the source has no such file); read by the conversion worker."""

    remote: Remote
    cache: str
    where: str  # the annotation's folder, for messages
    files: tuple[tuple[str, RemoteFile], ...]  # (the record's relative image path, that file)

    def read(self, rel: str) -> bytes | None:
        found = dict(self.files).get(rel)
        return None if found is None else remote.read_cached(self.cache, self.remote, found)


class RemoteInputs:
    """The input files of one remote source; `identity` names them for the resume fingerprint."""

    def __init__(self, source: str, src: Remote, revision: str, cache: str, workdir: Path) -> None:
        self.source, self.remote, self.revision, self.cache, self.workdir = source, src, revision, cache, workdir
        self.peak_disk = 0  # most bytes the planner held on local disk at once
        self._listing: dict[str, RemoteFile] | None = None
        self.snapshot = self._snapshot()
        names = sorted(self.snapshot) if self.snapshot is not None else [
            n for n in self.listing if any(fnmatch.fnmatch(n.rpartition("/")[2], p) for p in PATTERNS[source])]
        if not names:
            raise UserError(f"no {' or '.join(PATTERNS[source])} file under {src.uri}: point --from at the "
                            f"{source} files")
        self.names = sorted(names, key=lambda n: PurePosixPath(n).parts)  # the order of a local conversion
        # a pinned revision is its own identity (the cache never re-reads it); else the listing's
        self.identity = [(n, f"revision:{revision}") if revision else
                         (n, f"etag:{self.listing[n].version}:{self.listing[n].size}") for n in self.names]

    @property
    def listing(self) -> dict[str, RemoteFile]:
        if self._listing is None:
            self._listing = {f.name: f for f in self.remote.listing()}
        return self._listing

    def _snapshot(self) -> dict[str, str] | None:
        """{name: sha256} of a pinned revision already in the cache (all blobs present), else None."""
        if not self.revision:
            return None
        uri = fetch._ref_uri(self.cache, f"{self.remote.uri}@{self.revision}")
        if not storage.exists(uri):
            return None
        files = json.loads(storage.read_bytes(uri))["files"]
        return files if all(storage.exists(fetch.blob_uri(self.cache, h)) for h in files.values()) else None

    def _local(self, name: str, local: Path) -> str:
        """Input file `name` at `local` (from the cache, else downloaded into it); returns its sha256."""
        digest = self.snapshot[name] if self.snapshot is not None else remote.cached_digest(
            self.cache, self.remote, self.listing[name])
        if digest is not None:
            fetch._get(fetch.blob_uri(self.cache, digest), local)
        else:
            digest = remote.fetch_to(self.cache, self.remote, self.listing[name], local)
        self.peak_disk = max(self.peak_disk, local.stat().st_size)
        return digest

    def _record_snapshot(self, digests: dict[str, str]) -> None:
        if self.revision and self.snapshot is None:
            doc = {"from": self.remote.uri, "revision": self.revision, "files": digests}
            fetch._write_ref(self.cache, f"{self.remote.uri}@{self.revision}", doc)

    def _tfrecord(self, name: str) -> tuple[str, tuple[int, ...]]:
        """(sha256, record offsets) of a TFRecord input, cached and scanned when first reached."""
        digest = self.snapshot[name] if self.snapshot is not None else remote.cached_digest(
            self.cache, self.remote, self.listing[name])
        scans = storage.join(self.cache, "scans", f"{digest}.json")
        if digest is not None and storage.exists(scans):
            return digest, tuple(json.loads(storage.read_bytes(scans)))
        local = self.workdir / "object"
        try:
            digest = self._local(name, local)
            try:
                check_tfrecords([local])
            except UserError:
                raise UserError(f"{storage.join(self.remote.uri, name)} is not a TFRecord file: check --source "
                                "and --from") from None
            offsets = scan_tfrecord(local)
        finally:
            local.unlink(missing_ok=True)
        storage.write_bytes(storage.join(self.cache, "scans", f"{digest}.json"), json.dumps(offsets).encode())
        return digest, offsets

    def files(self) -> Iterator[InputFile]:
        """TFRecord inputs in name order, each cached and scanned when reached; a pinned revision's snapshot
        is recorded once every object is cached."""
        digests = {}
        for name in self.names:
            digests[name], offsets = self._tfrecord(name)
            yield InputFile(name, fetch.blob_uri(self.cache, digests[name]), offsets)
        self._record_snapshot(digests)

    @property
    def root(self) -> Path:
        """The local folder `local_files` puts inputs under (record keys are relative to it)."""
        return self.workdir / "files"

    def local_files(self, check=None) -> Iterator[Path]:
        """Each input on local disk in turn, deleted once the consumer asks for the next; `check(path)`
        validates one (UserError when it is not an input of this source)."""
        digests = {}
        for name in self.names:
            local = self.root / name
            try:
                digests[name] = self._local(name, local)
                if check is not None:
                    try:
                        check(local)
                    except UserError as e:  # name the remote file, not the local copy
                        raise UserError(str(e).replace(str(local), storage.join(self.remote.uri, name))) from None
                yield local
            finally:
                local.unlink(missing_ok=True)
        self._record_snapshot(digests)

    def folder(self, annotation: Path, rec: object) -> RemoteFolder:
        """The remote folder of a local annotation file, with the image file record `rec` names."""
        prefix = annotation.parent.relative_to(self.root).as_posix()
        rel = rec.get("image") if isinstance(rec, dict) else None
        files = ()
        if isinstance(rel, str) and rel:
            found = self.listing.get(posixpath.normpath(posixpath.join(prefix, rel.replace("\\", "/"))))
            files = ((rel, found),) if found is not None else ()
        where = self.remote.uri if prefix == "." else storage.join(self.remote.uri, prefix)
        return RemoteFolder(self.remote, self.cache, where, files)
