"""Promotion gate: does a candidate model version replace the current champion?

Pure logic, no MLflow. The candidate becomes `champion` when its primary metric beats the
champion's by at least `margin` and no guard metric drops by more than `tolerance`; with no
champion yet it only needs every gated metric present (and the primary at least `min_primary`).
Comparisons allow 1e-9 of float rounding, so a gain of exactly `margin` passes.

    >>> cfg = GateConfig(primary="A-mIoU", margin=0.01, guards=("R-LQ",), tolerance=0.02)
    >>> decide({"A-mIoU": 0.52, "R-LQ": 0.60}, {"A-mIoU": 0.50, "R-LQ": 0.61}, cfg).promote
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

EPS = 1e-9


@dataclass(frozen=True)
class GateConfig:
    """Gate settings (per preset): primary metric and its required gain, guard metrics and their allowed drop."""

    primary: str = "A-mIoU"
    margin: float = 0.01
    guards: tuple[str, ...] = ("R-LQ",)
    tolerance: float = 0.02
    min_primary: float = 0.0

    def __post_init__(self) -> None:
        if not self.primary:
            raise ValueError("gate: primary metric name is empty; set primary (e.g. 'A-mIoU')")
        for name, value in (("margin", self.margin), ("tolerance", self.tolerance)):
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"gate: {name} must be a finite number >= 0, got {value!r}")
        if self.primary in self.guards:
            raise ValueError(f"gate: {self.primary!r} is both the primary and a guard metric; list it once")

    @classmethod
    def from_values(
        cls, primary: str, margin: float, guards: str | tuple[str, ...], tolerance: float
    ) -> GateConfig:
        """Build from step/CLI values; `guards` may be a comma-separated string ('' for none)."""
        if isinstance(guards, str):
            guards = tuple(g.strip() for g in guards.split(",") if g.strip())
        return cls(primary=primary, margin=float(margin), guards=tuple(guards), tolerance=float(tolerance))


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


def decide(candidate: Mapping[str, float], champion: Mapping[str, float] | None, cfg: GateConfig) -> Decision:
    """Gate decision for `candidate` against `champion` (None: there is no champion yet)."""
    cand_primary = _metric(candidate, cfg.primary, "candidate")
    cand_guards = {g: _metric(candidate, g, "candidate") for g in cfg.guards}
    if champion is None:
        if cand_primary < cfg.min_primary - EPS:
            return Decision(
                False, f"no champion yet, but {cfg.primary}={cand_primary:.4g} < min {cfg.min_primary:.4g}"
            )
        return Decision(True, f"first champion: {cfg.primary}={cand_primary:.4g}")
    champ_primary = _metric(champion, cfg.primary, "champion")
    gain = cand_primary - champ_primary
    if gain < cfg.margin - EPS:
        return Decision(
            False,
            f"{cfg.primary} {cand_primary:.4g} vs champion {champ_primary:.4g}: gain {gain:+.4g} < margin {cfg.margin:.4g}",
        )
    for name, value in cand_guards.items():
        drop = _metric(champion, name, "champion") - value
        if drop > cfg.tolerance + EPS:
            return Decision(False, f"guard {name} dropped by {drop:.4g} > tolerance {cfg.tolerance:.4g}")
    return Decision(
        True, f"{cfg.primary} {cand_primary:.4g} beats champion {champ_primary:.4g} by {gain:+.4g}"
    )
