"""Prompt and target text of R-Sa2VA, as the authors' code writes them (docs/fidelity.md).

The user turn is the image, then `user_prompt(question)`:
"\\n{question}\\n\\n{think prompt}\\n\\n{format prompt}". Inference uses the first think prompt;
SFT picks one of the two per sample (`prompt_variant`, seeded). No system prompt.

Canonical text references pool objects as `<ref:ID>`. For the target, objects are renumbered
`<obj1>, <obj2>, ...` by first appearance and every mention becomes `<objN> [SEG]` (a repeated
mention gets its own `[SEG]`), wrapped as `<ver>…</ver>` in the reasoning and `<vea>…</vea>` in the
answer; the target is `<think>{reasoning}</think>\\n\\n<answer>{answer}</answer>`.

    >>> build_target({"id": "s", "reasoning": "see <ref:a>", "answer": "<ref:a>",
    ...               "reasoning_ids": ["a"], "answer_ids": ["a"]})
    ('<think>see <ver><obj1> [SEG]</ver></think>\\n\\n<answer><vea><obj1> [SEG]</vea></answer>', ['a', 'a'])
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from models.tokenizer import SEG_TOKEN

REF_PATTERN = re.compile(r"<ref:([^>]+)>")
_THINK = "You should first think about the reasoning process in the mind and then provides the user with the answer."
THINK_PROMPTS = (
    f"{_THINK} Please respond with segmentation mask in both the thinking process and the answer.",
    f"{_THINK} Please output the segmentation mask in both the thinking process and the answer.",
)
# The project's own (the authors train no row without answer masks): a training row whose answer carries no
# mask (the VGR mix-in: "Final answer: red") is asked for masks in the thinking process only, so that its
# target does not teach a mask-less answer to the prompt that asks for answer masks (docs/fidelity.md 5b).
THINK_ONLY_PROMPTS = tuple(p.replace("both the thinking process and the answer", "the thinking process")
                           for p in THINK_PROMPTS)
FORMAT_PROMPT = (
    "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
    "respectively, i.e., <think> reasoning process here </think> <answer> answers here </answer>."
)
# a mention with the wrapper the authors' text carries, if the canonical text kept it
_MENTION = {
    "ver": re.compile(r"(?:<ver>\s*)?<ref:([^>]+)>(?:\s*</ver>)?"),
    "vea": re.compile(r"(?:<vea>\s*)?<ref:([^>]+)>(?:\s*</vea>)?"),
}


def user_prompt(question: str, sample_id: str = "?", variant: int = 0, answer_masks: bool = True) -> str:
    """The text after the image for `question` (think prompt `variant`: 0 at inference, 0 or 1 in SFT;
    `answer_masks` False: a training row whose answer has no mask, `THINK_ONLY_PROMPTS`)."""
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"sample {sample_id}: the question is empty; every sample needs a question")
    if SEG_TOKEN in question:
        raise ValueError(
            f"sample {sample_id}: the question contains {SEG_TOKEN}; remove it (it is a model token)"
        )
    think = (THINK_PROMPTS if answer_masks else THINK_ONLY_PROMPTS)[variant]
    return f"\n{question}\n\n{think}\n\n{FORMAT_PROMPT}"


def prompt_variant(sample_id: str, seed: int) -> int:
    """The think prompt an SFT sample gets: 0 or 1, fixed by (seed, sample id)."""
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return digest[0] % len(THINK_PROMPTS)


def _fallback_text(ids: list[str], joiner: str) -> str:
    return joiner.join(f"<ref:{i}>" for i in ids)


def _rewrite(text: str, wrapper: str, numbers: dict[str, int], order: list[str]) -> str:
    def sub(match: re.Match) -> str:
        obj = match.group(1)
        numbers.setdefault(obj, len(numbers) + 1)
        order.append(obj)
        return f"<{wrapper}><obj{numbers[obj]}> {SEG_TOKEN}</{wrapper}>"

    return _MENTION[wrapper].sub(sub, text)


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
    think = _rewrite(reasoning, "ver", numbers, order)
    ans = _rewrite(answer, "vea", numbers, order)
    needs_masks = bool(sample.get("reasoning_ids") or sample.get("answer_ids"))
    if needs_masks and not order:
        raise ValueError(
            f"sample {sid}: has reasoning/answer objects but its text has no <ref:ID> mention, so no {SEG_TOKEN}"
            " would carry their masks; reference the objects in the text"
        )
    return f"<think>{think}</think>\n\n<answer>{ans}</answer>", order
