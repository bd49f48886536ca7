"""Promotion gate decisions over both benchmarks: exact margins and per-guard tolerances, the metric and
benchmark that blocked a candidate, first champion, champions without a benchmark, bad configs."""

import pytest

from components.register.gate import GateConfig, decide, legacy_names

CFG = GateConfig(
    primary="vrt_bench/A-mIoU", margin=0.01, guards=("vrt_bench/R-LQ", "reasonseg/gIoU", "reasonseg/cIoU"),
    tolerance=0.02, tolerances={"reasonseg/cIoU": 0.05},
)
CHAMP = {"vrt_bench/A-mIoU": 0.50, "vrt_bench/R-LQ": 0.50, "reasonseg/gIoU": 0.40, "reasonseg/cIoU": 0.40}


def cand(**changes: float) -> dict[str, float]:
    """The champion's metrics with some changed: cand(A=0.6, gIoU=0.3) (short names of CHAMP's keys)."""
    short = {k.split("/")[1]: k for k in CHAMP}
    return {**CHAMP, **{short[k.replace("_", "-")]: v for k, v in changes.items()}}


@pytest.mark.parametrize(
    ("candidate", "champion", "promote", "reason"),
    [
        (cand(A_mIoU=0.40), None, True, "first champion: vrt_bench/A-mIoU=0.4"),
        (cand(A_mIoU=0.51), CHAMP, True, "vrt_bench/A-mIoU 0.51 beats champion v3 0.5 by +0.01"),  # gain == margin
        (cand(A_mIoU=0.5099), CHAMP, False,
         "vrt_bench/A-mIoU 0.5099 vs champion v3 0.5: gain +0.0099 < margin 0.01"),
        (cand(A_mIoU=0.60, R_LQ=0.48), CHAMP, True, "vrt_bench/A-mIoU 0.6 beats champion v3 0.5 by +0.1"),  # drop == tol
        (cand(A_mIoU=0.60, R_LQ=0.4799), CHAMP, False,
         "vrt_bench/R-LQ dropped by 0.0201 > tolerance 0.02 vs champion v3 (VRT-Bench R-LQ 0.4799 vs 0.5)"),
        # Better on VRT-Bench, worse on ReasonSeg beyond the tolerance: refused, naming metric and benchmark.
        (cand(A_mIoU=0.70, R_LQ=0.70, gIoU=0.369), CHAMP, False,
         "reasonseg/gIoU dropped by 0.031 > tolerance 0.02 vs champion v3 (ReasonSeg gIoU 0.369 vs 0.4)"),
        (cand(A_mIoU=0.70, gIoU=0.38), CHAMP, True, "vrt_bench/A-mIoU 0.7 beats champion v3 0.5 by +0.2"),
        # cIoU has its own allowed drop (0.05), not the shared 0.02.
        (cand(A_mIoU=0.70, cIoU=0.35), CHAMP, True, "vrt_bench/A-mIoU 0.7 beats champion v3 0.5 by +0.2"),
        (cand(A_mIoU=0.70, cIoU=0.3499), CHAMP, False,
         "reasonseg/cIoU dropped by 0.0501 > tolerance 0.05 vs champion v3 (ReasonSeg cIoU 0.3499 vs 0.4)"),
        # The first failing guard in the configured order is the one named.
        (cand(A_mIoU=0.70, R_LQ=0.1, gIoU=0.1), CHAMP, False,
         "vrt_bench/R-LQ dropped by 0.4 > tolerance 0.02 vs champion v3 (VRT-Bench R-LQ 0.1 vs 0.5)"),
        # A champion registered before ReasonSeg was evaluated: those guards are not compared, and said so.
        (cand(A_mIoU=0.60, gIoU=0.0), {"vrt_bench/A-mIoU": 0.5, "vrt_bench/R-LQ": 0.5}, True,
         ("vrt_bench/A-mIoU 0.6 beats champion v3 0.5 by +0.1; not compared (champion v3 has no such metric): "
         "reasonseg/gIoU, reasonseg/cIoU")),
        (cand(A_mIoU=0.30), {**CHAMP, "vrt_bench/A-mIoU": 0.20}, True,
         "vrt_bench/A-mIoU 0.3 beats champion v3 0.2 by +0.1"),  # 0.3-0.2 < 0.1 in floats
    ],
)
def test_decisions(candidate, champion, promote, reason):
    decision = decide(candidate, champion, CFG, "3")
    assert (decision.promote, decision.alias, decision.reason) == (
        promote, "champion" if promote else "challenger", reason
    )


def test_without_a_version_the_reason_says_champion():
    assert decide(cand(A_mIoU=0.5), CHAMP, CFG).reason == (
        "vrt_bench/A-mIoU 0.5 vs champion 0.5: gain +0 < margin 0.01"
    )


def test_min_primary_blocks_first_champion():
    cfg = GateConfig(guards=(), min_primary=0.2)
    assert decide({"vrt_bench/A-mIoU": 0.19}, None, cfg).promote is False
    assert decide({"vrt_bench/A-mIoU": 0.2}, None, cfg).promote is True


@pytest.mark.parametrize(
    ("candidate", "champion", "message"),
    [
        ({"vrt_bench/R-LQ": 0.5}, None, "candidate has no metric 'vrt_bench/A-mIoU' (has: vrt_bench/R-LQ)"),
        ({"vrt_bench/A-mIoU": 0.5, "vrt_bench/R-LQ": 0.5}, None, "candidate has no metric 'reasonseg/gIoU'"),
        ({**CHAMP, "vrt_bench/A-mIoU": float("nan")}, None, "candidate metric 'vrt_bench/A-mIoU' is nan"),
        (CHAMP, {"vrt_bench/R-LQ": 0.5}, "champion v3 has no metric 'vrt_bench/A-mIoU'"),
    ],
)
def test_missing_metrics_are_errors(candidate, champion, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decide(candidate, champion, CFG, "3")


def test_legacy_names_are_vrt_bench_metrics():
    assert legacy_names({"A-mIoU": 0.1, "R-LQ/visf": 0.2, "reasonseg/gIoU": 0.3, "vrt_bench/R-SQ": 0.4}) == {
        "vrt_bench/A-mIoU": 0.1, "vrt_bench/R-LQ/visf": 0.2, "reasonseg/gIoU": 0.3, "vrt_bench/R-SQ": 0.4,
    }


def test_config_parsing_round_trips():
    cfg = GateConfig.from_values("vrt_bench/A-mIoU", "0.5", " vrt_bench/R-LQ, reasonseg/gIoU=0.03 ,", 0.1)
    assert (cfg.guards, dict(cfg.tolerances)) == (("vrt_bench/R-LQ", "reasonseg/gIoU"), {"reasonseg/gIoU": 0.03})
    assert cfg.guard_spec() == "vrt_bench/R-LQ=0.1,reasonseg/gIoU=0.03"
    again = GateConfig.from_values(cfg.primary, cfg.margin, cfg.guard_spec(), 0.5)
    assert [again.tolerance_of(g) for g in again.guards] == [0.1, 0.03]
    assert GateConfig.from_values("vrt_bench/A-mIoU", 0, "", 0).guards == ()
    assert GateConfig(guards=("vrt_bench/R-LQ/visf",)).guards == ("vrt_bench/R-LQ/visf",)  # a per-class metric


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"margin": -0.1}, "gate: margin must be a finite number >= 0, got -0.1"),
        ({"guards": ("vrt_bench/A-mIoU",)}, "both the primary and a guard"),
        ({"primary": "A-mIoU"}, ("gate: primary metric 'A-mIoU' names no benchmark: write <benchmark>/<metric> "
                                "with benchmark one of vrt_bench, reasonseg")),
        ({"guards": ("reasonseg/giou",)}, ("gate: guard metric 'reasonseg/giou': ReasonSeg reports no 'giou'; "
                                          "use one of reasonseg/gIoU, reasonseg/cIoU")),
        ({"guards": ("vrtbench/R-LQ",)}, "guard metric 'vrtbench/R-LQ' names no benchmark"),
        ({"tolerances": {"reasonseg/gIoU": 0.1}}, "gate: tolerance given for reasonseg/gIoU, which is no guard"),
        ({"tolerances": {"vrt_bench/R-LQ": -1}}, "gate: vrt_bench/R-LQ must be a finite number >= 0, got -1"),
    ],
)
def test_config_errors_say_what_to_set(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        GateConfig(**kwargs)
    with pytest.raises(ValueError, match="allowed drop after '=' must be a number"):
        GateConfig.from_values("vrt_bench/A-mIoU", 0.01, "reasonseg/gIoU=lots", 0.02)
