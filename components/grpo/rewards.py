"""GRPO reward functions: pure, typed, a batch of `RewardSample`s in, one float per sample out.

    from components.grpo.rewards import RewardSample, get_reward, combine
    r = get_reward("vrt_format")([RewardSample("<think>a [SEG]</think><answer>b [SEG]</answer>")])
    total = combine({"vrt_format": r}, {"vrt_format": 1.0})

Registry (`REWARDS`): `vrt_format`, `vrt_answer_iou`, `think_format`, `no_repeat` (here) and
`seg_zero`, `vision_reasoner` (`box_rewards.py`). A completion that cannot be parsed earns 0
from every reward that needs parsing; no reward raises on model output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from evaluation import masks
from evaluation.matching import hungarian_ious
from evaluation.trace import ANSWER, parse_trace

Box = tuple[float, float, float, float]
Point = tuple[float, float]
IOU_SIZE = (256, 256)  # answer masks are compared at 256x256, as in the paper's reward
_THINK_ANSWER = re.compile(r"\s*<think>.*?</think>\s*<answer>.*?</answer>\s*", re.DOTALL)


@dataclass(frozen=True)
class RewardSample:
    """One completion with what its rewards compare it to.

    `pred_masks` holds one RLE per `[SEG]` of `completion`, in order. Boxes and points are in the
    pixel frame the model answers in: `gt_boxes[i]` is object i's box, `gt_points[i]` its points.
    """

    completion: str
    pred_masks: tuple[dict, ...] = ()
    gt_answer_masks: tuple[dict, ...] = ()
    gt_boxes: tuple[Box, ...] = ()
    gt_points: tuple[tuple[Point, ...], ...] = ()


RewardFn = Callable[[Sequence[RewardSample]], list[float]]


def vrt_format(samples: Sequence[RewardSample]) -> list[float]:
    """1.0 if `[SEG]` is inside both `<think>…</think>` and `<answer>…</answer>`, 0.5 if only in the answer,
    else 0."""
    out = []
    for s in samples:
        trace = parse_trace(s.completion)
        in_answer = ANSWER in trace.roles
        think = trace.think_span
        in_think = think is not None and any(think[0] <= p < think[1] for p in trace.seg_positions)
        out.append(1.0 if in_answer and in_think else 0.5 if in_answer else 0.0)
    return out


def answer_iou_score(iou: np.ndarray, threshold: float = 0.5, penalty: float = 0.1) -> float:
    """Mean matched IoU above `threshold` minus penalty·(N + M − 2K); 0 when no match passes (K = 0).

    `iou` is the (N predicted, M ground-truth) IoU matrix; matching is Hungarian on 1 − IoU.
    """
    n, m = iou.shape
    per_gt, _ = hungarian_ious(iou)
    good = per_gt[per_gt > threshold]
    k = int(good.size)
    if k == 0:
        return 0.0
    return float(good.mean()) - penalty * (n + m - 2 * k)


def _answer_iou_one(s: RewardSample) -> float:
    trace = parse_trace(s.completion)
    idx = trace.indices(ANSWER)
    if not idx or not s.gt_answer_masks or len(s.pred_masks) != len(trace.roles):
        return 0.0
    preds = [masks.resize(s.pred_masks[i], IOU_SIZE) for i in idx]
    gts = [masks.resize(g, IOU_SIZE) for g in s.gt_answer_masks]
    return answer_iou_score(masks.iou_matrix(preds, gts))


def vrt_answer_iou(samples: Sequence[RewardSample]) -> list[float]:
    """Answer-mask reward of the paper (TASKS.md §1.5) at 256x256; 0 without an answer `[SEG]` or masks."""
    return [_answer_iou_one(s) for s in samples]


def think_format(samples: Sequence[RewardSample]) -> list[float]:
    """1.0 if the completion is exactly `<think>…</think>` then `<answer>…</answer>` (whitespace around),
    else 0."""
    return [1.0 if _THINK_ANSWER.fullmatch(s.completion) else 0.0 for s in samples]


def _repeats(text: str) -> bool:
    seen: set[str] = set()
    for sentence in (p.strip() for p in re.split(r"[.!?\n]", text)):
        if not sentence:
            continue
        if sentence in seen:
            return True
        seen.add(sentence)
    return False


def no_repeat(samples: Sequence[RewardSample]) -> list[float]:
    """1.0 if no sentence (split on . ! ? and newlines, stripped) occurs twice in the completion, else 0."""
    return [0.0 if _repeats(s.completion) else 1.0 for s in samples]


def _registry() -> dict[str, RewardFn]:
    from components.grpo.box_rewards import seg_zero, vision_reasoner

    return {
        "vrt_format": vrt_format,
        "vrt_answer_iou": vrt_answer_iou,
        "think_format": think_format,
        "seg_zero": seg_zero,
        "vision_reasoner": vision_reasoner,
        "no_repeat": no_repeat,
    }


REWARDS: dict[str, RewardFn] = _registry()


def get_reward(name: str) -> RewardFn:
    """The reward function registered as `name`; ValueError listing the valid names otherwise."""
    if name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}: valid rewards are {', '.join(sorted(REWARDS))}")
    return REWARDS[name]


def compute_rewards(samples: Sequence[RewardSample], weights: Mapping[str, float]) -> dict[str, list[float]]:
    """Every weighted reward of every sample, by name (checks each list has one value per sample)."""
    out = {}
    for name in weights:
        values = [float(v) for v in get_reward(name)(samples)]
        if len(values) != len(samples):
            raise ValueError(f"reward {name!r} returned {len(values)} values for {len(samples)} samples")
        out[name] = values
    return out


def combine(per_reward: Mapping[str, Sequence[float]], weights: Mapping[str, float]) -> list[float]:
    """Σ weight·reward per sample over the rewards named in `weights`."""
    if not weights:
        raise ValueError(
            "no rewards configured: set grpo.rewards, e.g. {vrt_format: 1.0, vrt_answer_iou: 1.0}"
        )
    lengths = {len(per_reward[name]) for name in weights}
    if len(lengths) != 1:
        raise ValueError(f"rewards disagree on the batch size: {sorted(lengths)}")
    n = lengths.pop()
    return [sum(w * float(per_reward[name][i]) for name, w in weights.items()) for i in range(n)]
