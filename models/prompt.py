"""Prompt and target text of R-Sa2VA (TASKS.md §1.2).

Canonical text references pool objects as `<ref:ID>`. For the target, objects are renumbered
`<obj1>, <obj2>, ...` by first appearance and every mention becomes `<objN> [SEG]` (a repeated
mention gets its own `[SEG]`); the target is `<think>{reasoning}</think>\\n\\n<answer>{answer}</answer>`.

    >>> build_target({"id": "s", "reasoning": "see <ref:a>", "answer": "<ref:a>",
    ...               "reasoning_ids": ["a"], "answer_ids": ["a"]})
    ('<think>see <obj1> [SEG]</think>\\n\\n<answer><obj1> [SEG]</answer>', ['a', 'a'])
"""

from __future__ import annotations

import re
from typing import Any

from models.tokenizer import SEG_TOKEN

REF_PATTERN = re.compile(r"<ref:([^>]+)>")
PROMPT_TEMPLATE = (
    "{question}\n"
    "Think about the question first, then answer it. Segment every object you mention, both in the "
    "thinking process and in the answer, by writing a segmentation token right after it. Put the "
    "thinking process inside <think> </think> tags and the answer inside <answer> </answer> tags."
)


def user_prompt(question: str, sample_id: str = "?") -> str:
    """The instruction shown after the image for `question`."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"sample {sample_id}: the question is empty; every sample needs a question")
    if SEG_TOKEN in question:
        raise ValueError(
            f"sample {sample_id}: the question contains {SEG_TOKEN}; remove it (it is a model token)"
        )
    return PROMPT_TEMPLATE.format(question=question.strip())


def _fallback_text(ids: list[str], joiner: str) -> str:
    return joiner.join(f"<ref:{i}>" for i in ids)


def _rewrite(text: str, numbers: dict[str, int], order: list[str]) -> str:
    def sub(match: re.Match) -> str:
        obj = match.group(1)
        numbers.setdefault(obj, len(numbers) + 1)
        order.append(obj)
        return f"<obj{numbers[obj]}> {SEG_TOKEN}"

    return REF_PATTERN.sub(sub, text)


def build_target(sample: dict[str, Any]) -> tuple[str, list[str]]:
    """Target text and the pool id behind each `[SEG]`, in order.

    Missing reasoning/answer text (the VRT-Bench layout) falls back to listing the reasoning /
    answer objects, so every required mask still has its `[SEG]`.
    """
    sid = sample.get("id", "?")
    reasoning = sample.get("reasoning") or _fallback_text(list(sample.get("reasoning_ids") or []), ", ")
    answer = sample.get("answer") or _fallback_text(list(sample.get("answer_ids") or []), ", ")
    for part in (reasoning, answer):
        if SEG_TOKEN in part:
            raise ValueError(
                f"sample {sid}: text contains a literal {SEG_TOKEN}; reference objects as <ref:ID>"
            )
    numbers: dict[str, int] = {}
    order: list[str] = []
    think = _rewrite(reasoning, numbers, order)
    ans = _rewrite(answer, numbers, order)
    needs_masks = bool(sample.get("reasoning_ids") or sample.get("answer_ids"))
    if needs_masks and not order:
        raise ValueError(
            f"sample {sid}: has reasoning/answer objects but its text has no <ref:ID> mention, so no {SEG_TOKEN}"
            " would carry their masks; reference the objects in the text"
        )
    return f"<think>{think}</think>\n\n<answer>{ans}</answer>", order
