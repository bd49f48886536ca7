"""Report cards and HTML: colours follow the matching, chips link to masks, output is deterministic."""

import re

import numpy as np
import pytest
from eval_cases import A, B, C, D, H, W, line
from PIL import Image

from evaluation import render
from evaluation.cards import pick
from evaluation.report import card_panels_png
from evaluation.score import flat_metrics, namespaced, score
from evaluation.vrt_bench import VRTGroundTruth

GTS = [
    VRTGroundTruth("s1", H, W, (A, B, C), (B,), ("#visf",), question="which <one>?"),
    VRTGroundTruth("s2", H, W, (A,), (A,), ("#loc",)),
]
LINES = [
    # mask 1 -> C (R3), mask 2 -> D (unmatched), mask 3 -> A (R1), mask 4 -> B (A1), mask 5 dropped
    line("s1", "<think>x [SEG] [SEG] [SEG]</think><answer>[SEG]</answer> [SEG]", [C, D, A, B, B]),
    line("s2", "<think>[SEG]</think><answer>[SEG]</answer>", [A, A]),
]
GREY = render.hex_colour(render.UNMATCHED)


def chips(page: str, anchor: str) -> list[tuple[str, str]]:
    return re.findall(rf'href="#{anchor}-m(\d+)" style="background:(#[0-9a-f]{{6}})"', page)


def test_chip_colours_follow_matching_and_gt_colours():
    out = score("vrt-bench", GTS, LINES, cards=1)
    assert [c.id for c in out.worst] == ["s1"] and [c.id for c in out.best] == ["s2"]
    c0, c1, c2 = (render.hex_colour(render.colour(i)) for i in range(3))
    # GT slots: A=R1 (0), B=R2 and A1 (1, shared), C=R3 (2)
    assert [layer.label for layer in out.worst[0].gt] == ["R1", "R2·A1", "R3"]
    assert chips(out.html, "w1") == [("1", c2), ("2", GREY), ("3", c0), ("4", c1), ("5", GREY)]
    assert chips(out.html, "b1") == [("1", c0), ("2", c0)]
    assert 'id="w1-m5"' in out.html and "dropped (not scored)" in out.html
    assert "which &lt;one&gt;?" in out.html  # escaped text


def test_report_is_deterministic_and_self_contained():
    first, second = score("vrt-bench", GTS, LINES).html, score("vrt-bench", GTS, LINES).html
    assert first == second
    assert "<script" not in first and 'src="http' not in first
    assert first.count("data:image/png;base64,") == 2 * 2 + 5 + 2


def test_overlay_fills_and_outlines_in_the_layer_colour():
    base = Image.new("RGB", (W, H), (0, 0, 0))
    out = np.asarray(render.overlay(base, [render.Layer(A, (200, 100, 0))]))
    assert tuple(out[0, 0]) == (200, 100, 0)  # border pixel: the colour itself
    assert tuple(out[2, 2]) == (90, 45, 0)  # interior: 45 % of the colour over black
    assert tuple(out[9, 9]) == (0, 0, 0)
    png = card_panels_png(score("vrt-bench", GTS, LINES).worst[0], max_side=100)
    assert Image.open(__import__("io").BytesIO(png)).size == (208, 100)


def test_pick_orders_without_repeats_and_flat_metrics():
    out = score("vrt-bench", GTS, LINES, cards=5)
    assert [c.id for c in out.worst] == ["s1", "s2"] and out.best == []
    assert pick([], 3) == ([], [])
    flat = flat_metrics(out.metrics_json)
    assert flat["R-LQ"] == 0.75 and flat["R-LQ/visf"] == 2 / 3 and flat["A-mIoU/loc"] == 1.0
    assert "R-LQ/comp" not in flat and flat["count/dropped_masks"] == 1.0


@pytest.mark.parametrize(
    ("bench", "flat", "expected"),
    [
        ("vrt-bench", {"R-LQ": 0.5, "R-LQ/visf": 0.25, "count/samples": 2.0},
         {"vrt_bench/R-LQ": 0.5, "vrt_bench/R-LQ/visf": 0.25, "vrt_bench/count/samples": 2.0}),
        ("reasonseg", {"gIoU": 0.3, "count/empty_rule_samples": 1.0},
         {"reasonseg/gIoU": 0.3, "reasonseg/count/empty_rule_samples": 1.0}),
        ("reasonseg", {}, {}),
    ],
)
def test_namespaced_metrics_name_their_benchmark(bench, flat, expected):
    assert namespaced(bench, flat) == expected


def test_namespaced_refuses_an_unknown_benchmark():
    with pytest.raises(ValueError, match="unknown benchmark 'refcoco': use one of vrt-bench, reasonseg"):
        namespaced("refcoco", {"gIoU": 0.1})
