"""Model registry on MLflow: register versions with lineage tags, gated promotion, rollback.

Aliases only (MLflow stages are deprecated): `champion` is the version served, `challenger`
the latest version that did not pass the gate. A version is an MLflow 3 LoggedModel (pyfunc);
its evaluation metrics are metrics of that LoggedModel (and of the register run), its lineage
model-version tags (`vrt.<lineage key>`); every champion change is appended to the registered
model's tag `vrt.champion_history` (JSON), which `rollback` walks back.

    from components.register import registry
    registry.promote("vrt-tiny", "3", force=True, reason="hotfix")
    registry.rollback("vrt-tiny")
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from components.register.gate import Decision, GateConfig, decide, legacy_names
from vrt.errors import UserError

CHAMPION, CHALLENGER = "champion", "challenger"
HISTORY_TAG = "vrt.champion_history"
ROLLBACK_TAG = "vrt.rollback_log"
GATE_TAG, REASON_TAG = "vrt.gate", "vrt.gate_reason"
HISTORY_KEEP = 200


@dataclass(frozen=True)
class VersionInfo:
    """One registered version: number, aliases, metrics and other tags, source and run."""

    name: str
    version: str
    aliases: tuple[str, ...]
    metrics: dict[str, float]
    tags: dict[str, str]
    source: str
    run_id: str
    created_ms: int

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def client():
    """An MlflowClient on vrt.tracking's URI (local SQLite under .vrt/ unless MLFLOW_TRACKING_URI is set)."""
    import mlflow

    from vrt.tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    return mlflow.MlflowClient()


def version_metrics(mv: Any) -> dict[str, float]:
    """The evaluation metrics of a version: its LoggedModel's metrics, else its run's."""
    c = client()
    if model_id := logged_model_id(mv):
        return {m.key: float(m.value) for m in (c.get_logged_model(model_id).metrics or [])}
    return dict(c.get_run(mv.run_id).data.metrics) if mv.run_id else {}


def logged_model_id(mv: Any) -> str:
    """The LoggedModel of a version (its model_id, or the `models:/<model id>` source it was created from)."""
    source = str(mv.source or "")
    return getattr(mv, "model_id", None) or (source[len("models:/") :] if source.startswith("models:/m-") else "")


def _info(mv: Any, alias_map: dict[str, str] | None = None) -> VersionInfo:
    own = getattr(mv, "aliases", None) or [a for a, v in (alias_map or {}).items() if v == str(mv.version)]
    return VersionInfo(
        name=mv.name,
        version=str(mv.version),
        aliases=tuple(sorted(own)),
        metrics=version_metrics(mv),
        tags=dict(mv.tags or {}),
        source=mv.source,
        run_id=mv.run_id or "",
        created_ms=int(mv.creation_timestamp or 0),
    )


def _mlflow_call(what: str, fn, *args, **kwargs):
    """Run an MLflow call; a missing model/version/alias becomes a UserError saying what to check."""
    from mlflow.exceptions import MlflowException

    try:
        return fn(*args, **kwargs)
    except MlflowException as e:
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise UserError(f"{what}: {e.message} (list versions with `vrt model list NAME`)") from e
        raise


def aliases(name: str) -> dict[str, str]:
    """alias -> version of registered model `name`."""
    model = _mlflow_call(f"model {name!r}", client().get_registered_model, name)
    return {a: str(v) for a, v in (model.aliases or {}).items()}


def get_version(name: str, ref: str) -> VersionInfo:
    """`ref` is a version number or an alias ('champion', 'challenger', ...)."""
    c = client()
    if ref.isdigit():
        return _info(
            _mlflow_call(f"model {name!r} version {ref}", c.get_model_version, name, ref), aliases(name)
        )
    return _info(_mlflow_call(f"model {name!r} alias {ref!r}", c.get_model_version_by_alias, name, ref))


def champion(name: str) -> VersionInfo | None:
    """The current champion of `name`, or None (no model or no champion yet)."""
    from mlflow.exceptions import MlflowException

    try:
        return _info(client().get_model_version_by_alias(name, CHAMPION))
    except MlflowException as e:
        if e.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def list_versions(name: str) -> list[VersionInfo]:
    """All versions of `name`, newest first."""
    current = aliases(name)
    versions = [_info(mv, current) for mv in client().search_model_versions(f"name = '{name}'")]
    return sorted(versions, key=lambda v: int(v.version), reverse=True)


def list_models() -> list[tuple[str, dict[str, str]]]:
    """Every registered model as (name, alias -> version), sorted by name."""
    models = client().search_registered_models()
    return sorted((m.name, {a: str(v) for a, v in (m.aliases or {}).items()}) for m in models)


def history(name: str) -> list[dict[str, str]]:
    """Champion history of `name`, oldest first: [{version, reason, at}]."""
    model = _mlflow_call(f"model {name!r}", client().get_registered_model, name)
    return json.loads((model.tags or {}).get(HISTORY_TAG, "[]"))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _set_champion(name: str, version: str, reason: str) -> None:
    c = client()
    entries = history(name) + [{"version": version, "reason": reason, "at": _now()}]
    c.set_registered_model_alias(name, CHAMPION, version)
    c.set_registered_model_tag(name, HISTORY_TAG, json.dumps(entries[-HISTORY_KEEP:]))
    if aliases(name).get(CHALLENGER) == version:
        c.delete_registered_model_alias(name, CHALLENGER)


def _record(name: str, version: str, decision: Decision) -> None:
    c = client()
    c.set_model_version_tag(name, version, GATE_TAG, decision.alias)
    c.set_model_version_tag(name, version, REASON_TAG, decision.reason)


def gate(name: str, version: str, cfg: GateConfig) -> Decision:
    """Run the gate for `version` against the current champion and move the aliases accordingly."""
    candidate = get_version(name, version)
    current = champion(name)
    if current is not None and current.version == candidate.version:
        raise UserError(f"{name} version {version} is already the champion")
    try:
        decision = decide(
            legacy_names(candidate.metrics),
            legacy_names(current.metrics) if current else None,
            cfg,
            current.version if current else "",
        )
    except ValueError as e:
        raise UserError(
            f"cannot gate {name} version {version}: {e}; register it with evaluation metrics"
        ) from e
    if decision.promote:
        _set_champion(name, candidate.version, decision.reason)
    else:
        client().set_registered_model_alias(name, CHALLENGER, candidate.version)
    _record(name, candidate.version, decision)
    return decision


def promote(name: str, version: str, cfg: GateConfig, force: bool = False, reason: str = "") -> Decision:
    """Make `version` the champion: through the gate, or unconditionally with `force` (then `reason` is required)."""
    if not force:
        decision = gate(name, version, cfg)
        if not decision.promote:
            raise UserError(
                f"{name} version {version} did not pass the gate: {decision.reason}; "
                "it is now the challenger (use --force --reason '...' to override)"
            )
        return decision
    if not reason.strip():
        raise UserError("--force needs --reason 'why' (it is recorded in the champion history)")
    target = get_version(name, version)
    current = champion(name)
    if current is not None and current.version == target.version:
        raise UserError(f"{name} version {version} is already the champion")
    decision = Decision(True, f"forced by operator: {reason.strip()}")
    _set_champion(name, target.version, decision.reason)
    _record(name, target.version, decision)
    return decision


def rollback(name: str) -> tuple[str, str]:
    """Re-point `champion` to the previous champion; returns (from_version, to_version)."""
    entries = history(name)
    current = champion(name)
    if current is None:
        raise UserError(f"{name} has no champion to roll back")
    if len(entries) < 2:
        raise UserError(f"{name} has no previous champion to roll back to (history: {len(entries)} entry)")
    c = client()
    previous = entries[-2]["version"]
    _mlflow_call(f"model {name!r} version {previous}", c.set_registered_model_alias, name, CHAMPION, previous)
    c.set_registered_model_tag(name, HISTORY_TAG, json.dumps(entries[:-1]))
    model = c.get_registered_model(name)
    log = json.loads((model.tags or {}).get(ROLLBACK_TAG, "[]"))
    log.append({"from": current.version, "to": previous, "at": _now()})
    c.set_registered_model_tag(name, ROLLBACK_TAG, json.dumps(log[-HISTORY_KEEP:]))
    c.set_model_version_tag(name, current.version, "vrt.rolled_back_at", _now())
    return current.version, previous
