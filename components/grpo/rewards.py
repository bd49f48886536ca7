"""GRPO reward functions: pure, typed, a batch of `RewardSample`s in, one float per sample out.

    from components.grpo.rewards import RewardSample, get_reward, combine
    r = get_reward("vrt_format")([RewardSample("<think>a [SEG]</think><answer>b [SEG]</answer>")])
    total = combine({"vrt_format": r}, {"vrt_format": 1.0})

Registry (`REWARDS`): `vrt_format`, `vrt_answer_iou`, `vrt_answer_iou_hungarian`, `think_format`,
`no_repeat` (here) and `seg_zero`, `vision_reasoner` (`box_rewards.py`). The `vrt_*` rewards are
the authors' (docs/fidelity.md gives their file:line). A completion that cannot be parsed
earns 0 from every reward that needs parsing; no reward raises on model output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from evaluation import masks

Box = tuple[float, float, float, float]
Point = tuple[float, float]
IOU_SIZE = (256, 256)  # answer masks are compared at 256x256, as in the authors' reward
IOU_EPS = 1e-6
_FORMAT_FULL = re.compile(r"<think>.*?\[SEG\].*?</think>.*?<answer>.*?\[SEG\].*?</answer>.*?", re.DOTALL)
_FORMAT_ANSWER = re.compile(r"<think>.*?</think>.*?<answer>.*?\[SEG\].*?</answer>.*?", re.DOTALL)
_ANSWER_SPAN = re.compile(r"<answer>.*?</answer>", re.DOTALL)
_SEG = re.compile(r"\[SEG\]")
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
    """The authors' format reward: 1.0 if the whole completion is `<think>…[SEG]…</think>…<answer>…[SEG]…</answer>…`,
    0.5 if it is `<think>…</think>…<answer>…[SEG]…</answer>…`, else 0 (text before `<think>` scores 0)."""
    out = []
    for s in samples:
        if _FORMAT_FULL.fullmatch(s.completion):
            out.append(1.0)
        elif _FORMAT_ANSWER.fullmatch(s.completion):
            out.append(0.5)
        else:
            out.append(0.0)
    return out


def seg_indices(text: str) -> tuple[list[int], list[int]]:
    """Indices (among all `[SEG]`s of `text`) of the reasoning `[SEG]`s (before the answer span) and of
    the answer `[SEG]`s (inside it); `[SEG]`s after it are in neither.

    The span is the non-greedy `<answer>.*?</answer>` match; no span or more than one gives ([], []).
    """
    spans = [m.span() for m in _ANSWER_SPAN.finditer(text)]
    if len(spans) != 1:
        return [], []
    start, end = spans[0]
    reasoning, answer = [], []
    for i, m in enumerate(_SEG.finditer(text)):
        if start <= m.start() < end:
            answer.append(i)
        elif m.start() < start:
            reasoning.append(i)
    return reasoning, answer


def seg_count(text: str) -> int:
    """Number of `[SEG]`s in `text`."""
    return len(_SEG.findall(text))


def resize_256(rles: Sequence[dict]) -> torch.Tensor:
    """Masks as a float32 (K, 256, 256) tensor, resized with torch's `nearest` rule (source index
    floor(i·in/out)), the rule the authors' reward applies to the ground truth."""
    grids = [torch.from_numpy(masks.decode(r).astype(np.float32))[None, None] for r in rles]
    return torch.cat([F.interpolate(g, size=IOU_SIZE, mode="nearest")[0] for g in grids])


def iou_matrix_eps(preds: torch.Tensor, gts: torch.Tensor) -> torch.Tensor:
    """(N, M) IoU of binary float masks (N, H, W) and (M, H, W) as I / (U + 1e-6), in float32."""
    a, b = preds.flatten(1).float(), gts.flatten(1).float()
    inter = a @ b.T
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return inter / (union + IOU_EPS)


def matched_pairs(iou: torch.Tensor, first_pair_if_single: bool) -> list[tuple[int, int]]:
    """Prediction/GT pairs: Hungarian on 1 − IoU; with `first_pair_if_single`, only (0, 0) when
    N == 1 or M == 1 (the authors' matcher)."""
    n, m = iou.shape
    if first_pair_if_single and (n == 1 or m == 1):
        return [(0, 0)]
    rows, cols = linear_sum_assignment(1 - iou.numpy())  # float32 cost, as the authors
    return [(int(r), int(c)) for r, c in zip(rows, cols)]


def answer_iou_score(
    iou: torch.Tensor, first_pair_if_single: bool, threshold: float = 0.5, penalty: float = 0.1
) -> float:
    """Mean IoU of the matched pairs above `threshold` minus penalty·(N + M − 2K); 0 when K = 0.

    `iou` is the float32 (N predicted, M ground-truth) matrix; computed in float32 as the authors do.
    """
    n, m = iou.shape
    if n == 0 or m == 0:
        return 0.0
    good = [iou[i, j] for i, j in matched_pairs(iou, first_pair_if_single) if iou[i, j] > threshold]
    if not good:
        return 0.0
    return float(torch.stack(good).mean() - penalty * (n + m - 2 * len(good)))


def _answer_iou_one(s: RewardSample, first_pair_if_single: bool) -> float:
    idx = seg_indices(s.completion)[1]
    if not idx or not s.gt_answer_masks or len(s.pred_masks) != seg_count(s.completion):
        return 0.0
    preds = resize_256([s.pred_masks[i] for i in idx])
    return answer_iou_score(iou_matrix_eps(preds, resize_256(s.gt_answer_masks)), first_pair_if_single)


def vrt_answer_iou(samples: Sequence[RewardSample]) -> list[float]:
    """The authors' answer reward (`answer_rewards_v3`): answer-span masks vs GT at 256x256; a single
    prediction or a single GT object is scored on the pair (first answer mask, first GT) only."""
    return [_answer_iou_one(s, first_pair_if_single=True) for s in samples]


def vrt_answer_iou_hungarian(samples: Sequence[RewardSample]) -> list[float]:
    """`vrt_answer_iou` with Hungarian matching for every N, M (the paper's description)."""
    return [_answer_iou_one(s, first_pair_if_single=False) for s in samples]


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
        "vrt_answer_iou_hungarian": vrt_answer_iou_hungarian,
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
