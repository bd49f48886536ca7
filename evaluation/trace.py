"""Trace parsing: `<think>`/`<answer>` spans and the role of every `[SEG]` (TASKS.md §1.3).

Rules (exactly the scoring rules of VRT-Bench):
- the answer span is the first `<answer>` and the first `</answer>` after it (both tags needed,
  case-sensitive); an unterminated `<answer>` is no answer span;
- a `[SEG]` before the answer span is a *reasoning* mask, one inside it an *answer* mask, one
  after it is *dropped*;
- with no answer span every `[SEG]` is dropped (nothing is scored).

    >>> seg_roles("<think>a [SEG]</think><answer>b [SEG]</answer> [SEG]")
    ['reasoning', 'answer', 'dropped']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEG = "[SEG]"
REASONING, ANSWER, DROPPED = "reasoning", "answer", "dropped"
_SEG_RE = re.compile(re.escape(SEG))


@dataclass(frozen=True)
class Trace:
    """A parsed model output. Spans are (start, end) character offsets including the tags."""

    text: str
    think_span: tuple[int, int] | None
    answer_span: tuple[int, int] | None
    seg_positions: tuple[int, ...]  # character offset of each `[SEG]`, in order
    roles: tuple[str, ...]  # one role per `[SEG]`

    @property
    def has_answer(self) -> bool:
        return self.answer_span is not None

    def indices(self, role: str) -> list[int]:
        """Indices (into the `[SEG]` / mask list) of the masks with `role`."""
        return [i for i, r in enumerate(self.roles) if r == role]


def _span(text: str, open_tag: str, close_tag: str) -> tuple[int, int] | None:
    start = text.find(open_tag)
    if start < 0:
        return None
    end = text.find(close_tag, start + len(open_tag))
    if end < 0:
        return None
    return start, end + len(close_tag)


def _role(pos: int, answer: tuple[int, int] | None) -> str:
    if answer is None:
        return DROPPED
    if pos < answer[0]:
        return REASONING
    if pos + len(SEG) <= answer[1]:
        return ANSWER
    return DROPPED


def parse_trace(text: str) -> Trace:
    """Spans, `[SEG]` positions and roles of one model output."""
    if not isinstance(text, str):
        raise ValueError(f"trace text must be a string, got {type(text).__name__}")  # noqa: TRY004 (ValueError is this library's bad-input contract)
    answer = _span(text, "<answer>", "</answer>")
    positions = tuple(m.start() for m in _SEG_RE.finditer(text))
    return Trace(
        text=text,
        think_span=_span(text, "<think>", "</think>"),
        answer_span=answer,
        seg_positions=positions,
        roles=tuple(_role(p, answer) for p in positions),
    )


def seg_roles(text: str) -> list[str]:
    """One role per `[SEG]` in order: 'reasoning', 'answer' or 'dropped'."""
    return list(parse_trace(text).roles)
