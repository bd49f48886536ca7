"""Dataset manifest (`manifest.json`): what a canonical dataset holds, written last (the publish step).

A dataset directory (local or s3://) is complete exactly when its manifest exists:
converters write shards and `quarantine.jsonl` first and the manifest last.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from vrt import storage
from vrt.data.schema import SCHEMA_VERSION
from vrt.errors import UserError

MANIFEST = "manifest.json"
QUARANTINE = "quarantine.jsonl"


@dataclass(frozen=True)
class Shard:
    path: str  # relative to the dataset directory
    rows: int
    bytes: int
    sha256: str
    # [{rows, offset, length, sha256}] per Parquet row group: lets readers fetch and verify one row
    # group by byte range; empty for shards written before row groups were recorded
    row_groups: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.row_groups and sum(g["rows"] for g in self.row_groups) != self.rows:
            raise ValueError(f"{self.path}: row groups hold {sum(g['rows'] for g in self.row_groups)} rows, not {self.rows}")


@dataclass(frozen=True)
class Manifest:
    source: str
    revision: str
    counts: dict[str, int]  # input, written, quarantined
    quarantine_reasons: dict[str, int]
    shards: list[Shard]
    schema_version: int = SCHEMA_VERSION
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        c = self.counts
        if set(c) != {"input", "written", "quarantined"}:
            raise ValueError(f"manifest counts must be input/written/quarantined, got {sorted(c)}")
        if c["written"] + c["quarantined"] != c["input"]:
            raise ValueError(f"manifest counts do not add up: {c}")
        if sum(s.rows for s in self.shards) != c["written"]:
            raise ValueError(f"shard rows {sum(s.rows for s in self.shards)} != written {c['written']}")
        if sum(self.quarantine_reasons.values()) != c["quarantined"]:
            raise ValueError(f"quarantine reasons {self.quarantine_reasons} do not add up to {c['quarantined']}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @property
    def sha256(self) -> str:
        """Content hash of the manifest (identifies the dataset version for lineage)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, text: str, where: str = "manifest.json") -> Manifest:
        try:
            d = json.loads(text)
            shards = [Shard(**s) for s in d.pop("shards")]
            m = cls(shards=shards, **d)
        except (ValueError, TypeError, KeyError) as e:
            raise UserError(f"{where} is not a valid dataset manifest ({e}): re-run `vrt data prepare`") from e
        if m.schema_version != SCHEMA_VERSION:
            raise UserError(
                f"{where} has schema_version {m.schema_version}, this vrt reads {SCHEMA_VERSION}: "
                "re-run `vrt data prepare` with this version"
            )
        return m


def read_manifest(dataset_uri: str) -> Manifest:
    """The manifest of a published dataset; a missing one means the dataset is absent or incomplete."""
    uri = storage.join(dataset_uri, MANIFEST)
    if not storage.exists(uri):
        raise UserError(
            f"{uri} not found: {dataset_uri} is not a published dataset "
            "(absent, or a `vrt data prepare` that did not finish: run it again)"
        )
    return Manifest.from_json(storage.read_bytes(uri).decode(), where=uri)


def write_manifest(dataset_uri: str, manifest: Manifest) -> str:
    """Publish: write the manifest (atomically) after everything it points to."""
    uri = storage.join(dataset_uri, MANIFEST)
    storage.write_bytes(uri, manifest.to_json().encode())
    return uri
