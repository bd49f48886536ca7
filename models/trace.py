"""Trace: one model output — text, the role of each `[SEG]`, and one mask (RLE) + score per `[SEG]`.

trace.to_prediction("sample-1")  # {"id", "text", "masks", "scores", "truncated"}: a predictions JSONL line
"""

from __future__ import annotations

from dataclasses import dataclass

from evaluation.trace import parse_trace


@dataclass(frozen=True)
class Trace:
    """A generated answer with its masks; masks are COCO RLE dicts at the image's resolution."""

    text: str
    seg_positions: tuple[int, ...]  # character offset of each `[SEG]` in `text`
    roles: tuple[str, ...]  # 'reasoning' | 'answer' | 'dropped', one per `[SEG]`
    masks: tuple[dict, ...]
    scores: tuple[float, ...]  # SAM 2's predicted IoU of each mask
    token_ids: tuple[int, ...] = ()  # the completion's token ids (up to and including the end token)
    truncated: bool = False  # generation used its whole budget without closing </answer>

    def __post_init__(self) -> None:
        n = len(self.seg_positions)
        if not len(self.roles) == len(self.masks) == len(self.scores) == n:
            raise ValueError(
                f"trace has {n} [SEG] but {len(self.roles)} roles, {len(self.masks)} masks, {len(self.scores)} scores"
            )

    @classmethod
    def build(cls, text: str, masks: list[dict], scores: list[float], token_ids: list[int]) -> Trace:
        """Parse `text` for `[SEG]` positions and roles (evaluation.trace rules) and attach the masks."""
        parsed = parse_trace(text)
        return cls(text, parsed.seg_positions, parsed.roles, tuple(masks), tuple(scores), tuple(token_ids))

    def to_prediction(self, sample_id: str) -> dict:
        """The predictions JSONL record of the evaluation contract (plus per-mask scores)."""
        return {
            "id": sample_id,
            "text": self.text,
            "masks": list(self.masks),
            "scores": list(self.scores),
            "truncated": self.truncated,
        }
