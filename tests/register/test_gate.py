"""Promotion gate decisions: exact margins and tolerances, first champion, bad configs."""

import pytest

from components.register.gate import GateConfig, decide

CFG = GateConfig(primary="A-mIoU", margin=0.01, guards=("R-LQ",), tolerance=0.02)


@pytest.mark.parametrize(
    ("candidate", "champion", "promote", "reason_start"),
    [
        ({"A-mIoU": 0.40, "R-LQ": 0.5}, None, True, "first champion"),
        (
            {"A-mIoU": 0.51, "R-LQ": 0.50},
            {"A-mIoU": 0.50, "R-LQ": 0.50},
            True,
            "A-mIoU 0.51 beats",
        ),  # gain == margin
        ({"A-mIoU": 0.5099, "R-LQ": 0.50}, {"A-mIoU": 0.50, "R-LQ": 0.50}, False, "A-mIoU 0.5099 vs"),
        (
            {"A-mIoU": 0.60, "R-LQ": 0.48},
            {"A-mIoU": 0.50, "R-LQ": 0.50},
            True,
            "A-mIoU 0.6 beats",
        ),  # drop == tol
        ({"A-mIoU": 0.60, "R-LQ": 0.4799}, {"A-mIoU": 0.50, "R-LQ": 0.50}, False, "guard R-LQ dropped"),
        (
            {"A-mIoU": 0.30, "R-LQ": 0.9},
            {"A-mIoU": 0.20, "R-LQ": 0.9},
            True,
            "A-mIoU 0.3 beats",
        ),  # 0.3-0.2 < 0.1 in floats
        ({"A-mIoU": 0.49, "R-LQ": 0.9}, {"A-mIoU": 0.50, "R-LQ": 0.1}, False, "A-mIoU 0.49 vs"),
    ],
)
def test_decisions(candidate, champion, promote, reason_start):
    decision = decide(candidate, champion, CFG)
    assert decision.promote is promote
    assert decision.alias == ("champion" if promote else "challenger")
    assert decision.reason.startswith(reason_start), decision.reason


def test_float_rounding_allows_exact_margin():
    cfg = GateConfig(margin=0.1, guards=())
    assert decide({"A-mIoU": 0.3}, {"A-mIoU": 0.2}, cfg).promote is True


def test_min_primary_blocks_first_champion():
    cfg = GateConfig(guards=(), min_primary=0.2)
    assert decide({"A-mIoU": 0.19}, None, cfg).promote is False
    assert decide({"A-mIoU": 0.2}, None, cfg).promote is True


@pytest.mark.parametrize(
    ("candidate", "champion", "message"),
    [
        ({"R-LQ": 0.5}, None, "candidate has no metric 'A-mIoU' (has: R-LQ)"),
        ({"A-mIoU": 0.5}, None, "candidate has no metric 'R-LQ' (has: A-mIoU)"),
        ({"A-mIoU": float("nan"), "R-LQ": 0.5}, None, "candidate metric 'A-mIoU' is nan"),
        ({"A-mIoU": 0.5, "R-LQ": 0.5}, {"R-LQ": 0.5}, "champion has no metric 'A-mIoU'"),
    ],
)
def test_missing_metrics_are_errors(candidate, champion, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decide(candidate, champion, CFG)


def test_config_validation_and_parsing():
    assert GateConfig.from_values("A-mIoU", "0.5", " R-LQ, R-SQ ,", 0.1).guards == ("R-LQ", "R-SQ")
    assert GateConfig.from_values("A-mIoU", 0, "", 0).guards == ()
    with pytest.raises(ValueError, match="margin must be a finite number >= 0"):
        GateConfig(margin=-0.1)
    with pytest.raises(ValueError, match="both the primary and a guard"):
        GateConfig(guards=("A-mIoU",))
