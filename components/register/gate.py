"""Promotion gate: does a candidate model version replace the current champion?

Pure logic, no MLflow. Metric names carry their benchmark (`vrt_bench/A-mIoU`, `reasonseg/gIoU`:
evaluation/score.py NAMESPACE). The candidate becomes `champion` when its primary metric beats the
champion's by at least `margin` and no guard metric of any benchmark drops by more than its tolerance
(`tolerances[name]`, else `tolerance`); a refusal names the metric and its benchmark. With no champion
yet it only needs every gated metric present (and the primary at least `min_primary`). A champion
registered before a benchmark was evaluated has none of its metrics: those guards are not compared,
and the reason says so. Comparisons allow 1e-9 of float rounding, so a gain of exactly `margin` passes.

    >>> cfg = GateConfig(guards=("vrt_bench/R-LQ", "reasonseg/gIoU"), tolerances={"reasonseg/gIoU": 0.02})
    >>> decide({"vrt_bench/A-mIoU": 0.52, "vrt_bench/R-LQ": 0.60, "reasonseg/gIoU": 0.40},
    ...        {"vrt_bench/A-mIoU": 0.50, "vrt_bench/R-LQ": 0.61, "reasonseg/gIoU": 0.431}, cfg, "3").reason
    'reasonseg/gIoU dropped by 0.031 > tolerance 0.02 vs champion v3 (ReasonSeg gIoU 0.4 vs 0.431)'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from evaluation.score import HEADLINE, NAMESPACE

EPS = 1e-9
BENCH_OF = {ns: bench for bench, ns in NAMESPACE.items()}  # vrt_bench -> vrt-bench
TITLE = {"vrt_bench": "VRT-Bench", "reasonseg": "ReasonSeg"}


def check_metric_name(name: str, what: str) -> None:
    """ValueError unless `name` is `<benchmark namespace>/<a metric that benchmark reports>[/<class>]`."""
    namespace, _, metric = name.partition("/")
    if namespace not in BENCH_OF or not metric:
        raise ValueError(
            f"gate: {what} {name!r} names no benchmark: write <benchmark>/<metric> with benchmark one of "
            f"{', '.join(BENCH_OF)} (e.g. 'vrt_bench/A-mIoU', 'reasonseg/gIoU')"
        )
    valid = HEADLINE[BENCH_OF[namespace]]
    if metric.split("/")[0] not in valid:
        raise ValueError(
            f"gate: {what} {name!r}: {TITLE[namespace]} reports no {metric.split('/')[0]!r}; "
            f"use one of {', '.join(f'{namespace}/{m}' for m in valid)}"
        )


def legacy_names(metrics: Mapping[str, float]) -> dict[str, float]:
    """Metrics of a version registered before namespacing (then VRT-Bench was the only benchmark) under
    the names the gate reads: `A-mIoU` -> `vrt_bench/A-mIoU`; namespaced names stay as they are."""
    return {k if k.partition("/")[0] in BENCH_OF else f"vrt_bench/{k}": v for k, v in metrics.items()}


@dataclass(frozen=True)
class GateConfig:
    """Gate settings (per preset): primary metric and its required gain, guard metrics and their allowed drop."""

    primary: str = "vrt_bench/A-mIoU"
    margin: float = 0.01
    guards: tuple[str, ...] = ("vrt_bench/R-LQ",)
    tolerance: float = 0.02  # allowed drop of a guard without an entry in `tolerances`
    tolerances: Mapping[str, float] = field(default_factory=dict)
    min_primary: float = 0.0

    def __post_init__(self) -> None:
        check_metric_name(self.primary, "primary metric")
        for name in self.guards:
            check_metric_name(name, "guard metric")
        for name, value in (("margin", self.margin), ("tolerance", self.tolerance), *self.tolerances.items()):
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"gate: {name} must be a finite number >= 0, got {value!r}")
        if self.primary in self.guards:
            raise ValueError(f"gate: {self.primary!r} is both the primary and a guard metric; list it once")
        if stray := sorted(set(self.tolerances) - set(self.guards)):
            raise ValueError(f"gate: tolerance given for {', '.join(stray)}, which is no guard: add it to the guards")

    def tolerance_of(self, name: str) -> float:
        return float(self.tolerances.get(name, self.tolerance))

    @classmethod
    def from_values(cls, primary: str, margin: float, guards: str | tuple[str, ...], tolerance: float) -> GateConfig:
        """Build from step/CLI values; `guards` may be a comma-separated string ('' for none) whose entries
        are `name` (allowed drop: `tolerance`) or `name=drop`."""
        if isinstance(guards, str):
            guards = tuple(g.strip() for g in guards.split(",") if g.strip())
        names, own = [], {}
        for entry in guards:
            name, eq, drop = (part.strip() for part in entry.partition("="))
            if eq:
                try:
                    own[name] = float(drop)
                except ValueError:
                    raise ValueError(f"gate: guard {entry!r}: the allowed drop after '=' must be a number") from None
            names.append(name)
        return cls(primary=primary, margin=float(margin), guards=tuple(names), tolerance=float(tolerance),
                   tolerances=own)

    def guard_spec(self) -> str:
        """The guards as `from_values` reads them: `name=drop,...` (what the KFP step receives)."""
        return ",".join(f"{g}={self.tolerance_of(g):g}" for g in self.guards)


@dataclass(frozen=True)
class Decision:
    """Outcome of the gate: `alias` is 'champion' or 'challenger'; `reason` says why, with the numbers."""

    promote: bool
    reason: str

    @property
    def alias(self) -> str:
        return "champion" if self.promote else "challenger"


def _metric(metrics: Mapping[str, float], name: str, who: str) -> float:
    if name not in metrics:
        raise ValueError(f"{who} has no metric {name!r} (has: {', '.join(sorted(metrics)) or 'none'})")
    value = float(metrics[name])
    if not math.isfinite(value):
        raise ValueError(f"{who} metric {name!r} is {value}, not a finite number")
    return value


def _described(name: str) -> str:
    """`reasonseg/gIoU` -> 'ReasonSeg gIoU'."""
    namespace, _, metric = name.partition("/")
    return f"{TITLE[namespace]} {metric}"


def decide(
    candidate: Mapping[str, float], champion: Mapping[str, float] | None, cfg: GateConfig, champion_version: str = ""
) -> Decision:
    """Gate decision for `candidate` against `champion` (None: there is no champion yet), whose version
    number, when given, the reason names."""
    cand_primary = _metric(candidate, cfg.primary, "candidate")
    cand_guards = {g: _metric(candidate, g, "candidate") for g in cfg.guards}
    if champion is None:
        if cand_primary < cfg.min_primary - EPS:
            return Decision(
                False, f"no champion yet, but {cfg.primary}={cand_primary:.4g} < min {cfg.min_primary:.4g}"
            )
        return Decision(True, f"first champion: {cfg.primary}={cand_primary:.4g}")
    who = f"champion v{champion_version}" if champion_version else "champion"
    champ_primary = _metric(champion, cfg.primary, who)
    gain = cand_primary - champ_primary
    if gain < cfg.margin - EPS:
        return Decision(
            False,
            f"{cfg.primary} {cand_primary:.4g} vs {who} {champ_primary:.4g}: gain {gain:+.4g} < margin {cfg.margin:.4g}",
        )
    unmatched = []
    for name, value in cand_guards.items():
        if name not in champion:
            unmatched.append(name)
            continue
        old = _metric(champion, name, who)
        if (drop := old - value) > cfg.tolerance_of(name) + EPS:
            return Decision(
                False,
                f"{name} dropped by {drop:.4g} > tolerance {cfg.tolerance_of(name):.4g} vs {who} "
                f"({_described(name)} {value:.4g} vs {old:.4g})",
            )
    note = f"; not compared ({who} has no such metric): {', '.join(unmatched)}" if unmatched else ""
    return Decision(True, f"{cfg.primary} {cand_primary:.4g} beats {who} {champ_primary:.4g} by {gain:+.4g}{note}")
