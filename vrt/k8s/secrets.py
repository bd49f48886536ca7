"""Find secret values embedded in rendered manifests or a compiled pipeline (any YAML/JSON tree).

Secrets must be referenced (a Kubernetes Secret name + key), never written into a manifest.
`find_embedded_secrets` walks every mapping, list and string and reports, with its path:
- a `kind: Secret` that carries `data` / `stringData`;
- a secret-looking name (PASSWORD, SECRET, TOKEN, API_KEY, ACCESS_KEY, CREDENTIAL...) bound to a
  literal string: as a mapping key, or as an env entry `{name: ..., value: ...}`;
- strings shaped like credentials: URIs with a password, AWS access key ids, PEM private keys,
  bearer tokens, JWTs;
- any string containing one of `known_values` (the real secret values a test planted).

    from vrt.k8s.secrets import find_embedded_secrets
    problems = find_embedded_secrets(list(yaml.safe_load_all(text)), known_values=["s3cr3t"])
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

SECRET_NAME = re.compile(
    r"pass(word|wd)?$|passw(or)?d|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential",
    re.IGNORECASE,
)
# Keys whose value names a Secret or a key inside one (a reference, not a value).
REFERENCE_KEYS = frozenset(
    {
        "secretName", "secretKey", "secretKeyRef", "secretRef", "existingSecret", "secretNameParameter",
        "passwordKey", "uriKey", "accessKeyIdKey", "secretAccessKeyKey", "envVar", "configSecret",
        "imagePullSecrets", "automountServiceAccountToken", "serviceAccountToken",
    }
)
CREDENTIAL_PATTERNS = {
    "URI with an inline password": re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]+:(?!\$\()[^/\s@]+@"),
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "PEM private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "bearer token": re.compile(r"\bBearer\s+[A-Za-z0-9._~+/-]{16,}=*"),
    "JSON web token": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
}
# Keys ending like these name a Secret or a key (VRT_S3_CREDENTIALS_SECRET_NAME, tokenSecretRef).
_REFERENCE_SUFFIX = re.compile(r"(_NAME|Name|_REF|Ref)$")
# Literal values that are references or dummies rather than secrets.
_HARMLESS = re.compile(r"^(\$\([A-Za-z_][A-Za-z0-9_]*\)|\{\{.*\}\}|\$\{[A-Za-z_][A-Za-z0-9_]*\}|true|false|)$")


def _literal(value: Any) -> bool:
    return isinstance(value, str) and not _HARMLESS.match(value.strip())


def _scan_string(text: str, path: str, known: list[str]) -> list[str]:
    found = [f"{path}: {label}" for label, rx in CREDENTIAL_PATTERNS.items() if rx.search(text)]
    found += [f"{path}: contains a known secret value" for value in known if value in text]
    return found


def _scan_mapping(node: dict[str, Any], path: str, known: list[str]) -> list[str]:
    found: list[str] = []
    if node.get("kind") == "Secret" and (node.get("data") or node.get("stringData")):
        found.append(f"{path}: a Secret with inline data (create it outside the chart and reference it)")
    name = node.get("name")
    if isinstance(name, str) and "value" in node and SECRET_NAME.search(name) and _literal(node["value"]):
        found.append(f"{path}: env {name} has a literal value (use valueFrom.secretKeyRef)")
    for key, value in node.items():
        key_s = str(key)
        is_reference = key_s in REFERENCE_KEYS or _REFERENCE_SUFFIX.search(key_s)
        if not is_reference and SECRET_NAME.search(key_s) and _literal(value):
            found.append(f"{path}.{key_s}: secret-looking key holds a literal string")
        found += _walk(value, f"{path}.{key_s}", known)
    return found


def _walk(node: Any, path: str, known: list[str]) -> list[str]:
    if isinstance(node, dict):
        return _scan_mapping(node, path, known)
    if isinstance(node, list):
        return [f for i, item in enumerate(node) for f in _walk(item, f"{path}[{i}]", known)]
    if isinstance(node, str):
        return _scan_string(node, path, known)
    return []


def find_embedded_secrets(documents: Iterable[Any], known_values: Iterable[str] = ()) -> list[str]:
    """Every place in `documents` (parsed YAML/JSON) where a secret value is embedded; [] if none."""
    known = [v for v in known_values if v]
    if any(len(v) < 6 for v in known):
        raise ValueError("known_values must be at least 6 characters long, or every short string would match")
    found: list[str] = []
    for i, doc in enumerate(documents):
        label = f"doc[{i}]"
        if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
            label = f"{doc.get('kind', '?')}/{doc['metadata'].get('name', '?')}"
        found += _walk(doc, label, known)
    return found
