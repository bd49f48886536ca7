"""Validate a custom resource (RayJob, InferenceService, ...) offline against its CRD schema.

The CRD files (e.g. `../shared/crds/`) hold `spec.versions[].schema.openAPIV3Schema`; the
served version named by the object's `apiVersion` is turned into a JSON schema and checked
with `jsonschema`. Like the API server with strict field validation, unknown fields are
errors unless the schema says `x-kubernetes-preserve-unknown-fields`. Usage:

    from vrt.k8s.crds import validate_custom_resource
    validate_custom_resource(rayjob_dict, Path("../shared/crds"))   # ValueError lists every error
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_EMBEDDED_KEYS = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}


def _yaml_loader() -> type:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=8)
def _load_crds(crd_dir: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(group, kind) -> CRD document for every CRD file in `crd_dir`."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(Path(crd_dir).glob("*.y*ml")):
        with open(path, encoding="utf-8") as f:
            for doc in yaml.load_all(f, Loader=_yaml_loader()):
                if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                    spec = doc["spec"]
                    found[(spec["group"], spec["names"]["kind"])] = doc
    return found


def _to_json_schema(node: Any) -> Any:
    """Translate Kubernetes' structural OpenAPI v3 schema into a plain JSON schema (a new tree)."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("x-kubernetes-embedded-resource"):
        out.setdefault("properties", {})
        for key, schema in _EMBEDDED_KEYS.items():
            out["properties"].setdefault(key, schema)
    if "required" in out and "properties" in node:
        # The API server fills defaults before validating: a defaulted field is never missing.
        props = node["properties"]
        out["required"] = [r for r in out["required"] if "default" not in props.get(r, {})]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    out.pop("nullable", None)
    if "properties" in node and "additionalProperties" not in node and not node.get(
        "x-kubernetes-preserve-unknown-fields"
    ):
        out["additionalProperties"] = False
    return out


@functools.lru_cache(maxsize=16)
def _schema_for(crd_dir: str, group: str, kind: str, version: str) -> dict[str, Any]:
    crds = _load_crds(crd_dir)
    crd = crds.get((group, kind))
    if crd is None:
        known = ", ".join(f"{g}/{k}" for g, k in sorted(crds)) or "none"
        raise ValueError(f"no CRD for kind {kind!r} in group {group!r} under {crd_dir} (known: {known})")
    served = {v["name"]: v for v in crd["spec"]["versions"] if v.get("served")}
    if version not in served:
        raise ValueError(
            f"{kind} version {version!r} is not served by {crd['metadata']['name']}; "
            f"use apiVersion {group}/<one of {sorted(served)}>"
        )
    schema = _to_json_schema(served[version]["schema"]["openAPIV3Schema"])
    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
    return schema


def _metadata_errors(obj: dict[str, Any]) -> list[str]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        return ["metadata: missing; set metadata.name"]
    name = meta.get("name") or meta.get("generateName")
    if not isinstance(name, str) or not name:
        return ["metadata.name: missing; set metadata.name (or metadata.generateName)"]
    probe = name.rstrip("-") if "name" not in meta else name
    if len(name) > 253 or not _NAME_RE.match(probe):
        return [f"metadata.name: {name!r} is not a DNS subdomain name (lower case a-z, 0-9, '-', '.')"]
    return []


def _split_api_version(obj: dict[str, Any]) -> tuple[str, str, str]:
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or "/" not in api_version or not isinstance(kind, str):
        raise ValueError(
            f"not a custom resource: apiVersion={api_version!r} kind={kind!r}; "
            "expected apiVersion 'group/version' (e.g. ray.io/v1) and a kind"
        )
    group, version = api_version.split("/", 1)
    return group, version, kind


def validate_custom_resource(obj: dict[str, Any], crd_dir: Path) -> None:
    """Raise ValueError listing every schema error of `obj` against its CRD found in `crd_dir`."""
    import jsonschema

    if not isinstance(obj, dict):
        raise TypeError(f"a custom resource must be a mapping, got {type(obj).__name__}")
    group, version, kind = _split_api_version(obj)
    crd_path = Path(crd_dir)
    if not crd_path.is_dir():
        raise ValueError(f"CRD directory {crd_path} does not exist; point crd_dir at the folder of CRD YAMLs")
    schema = _schema_for(str(crd_path.resolve()), group, kind, version)
    validator = jsonschema.Draft7Validator(schema)
    errors = _metadata_errors(obj)
    for err in sorted(validator.iter_errors(obj), key=lambda e: [str(p) for p in e.absolute_path]):
        where = ".".join(str(p) for p in err.absolute_path) or "<root>"
        errors.append(f"{where}: {err.message}")
    if errors:
        name = (obj.get("metadata") or {}).get("name", "?")
        listing = "\n  ".join(errors)
        raise ValueError(f"{kind} {name!r} does not match the {group}/{version} CRD schema:\n  {listing}")
