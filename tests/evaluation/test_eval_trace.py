"""evaluation.trace: spans and [SEG] roles, exactly the VRT-Bench rules."""

import pytest

from evaluation.trace import parse_trace, seg_roles


@pytest.mark.parametrize(
    "text, roles",
    [
        ("<think>a [SEG] b [SEG]</think><answer>c [SEG]</answer>", ["reasoning", "reasoning", "answer"]),
        ("<think>a [SEG]</think><answer>b [SEG]</answer> tail [SEG]", ["reasoning", "answer", "dropped"]),
        ("<think>a [SEG]</think> no answer [SEG]", ["dropped", "dropped"]),
        ("<think>a [SEG]</think><answer>unterminated [SEG]", ["dropped", "dropped"]),
        ("[SEG] outside think <answer>[SEG][SEG]</answer>", ["reasoning", "answer", "answer"]),
        ("<answer>x</answer><answer>[SEG]</answer>", ["dropped"]),
        ("<ANSWER>[SEG]</ANSWER>", ["dropped"]),
        ("<think>nothing</think><answer>none</answer>", []),
    ],
)
def test_seg_roles(text, roles):
    assert seg_roles(text) == roles


def test_parse_trace_spans_and_positions():
    text = "<think>a [SEG]</think><answer>b [SEG]</answer>"
    t = parse_trace(text)
    assert t.think_span == (0, 22)
    assert t.answer_span == (22, len(text))
    assert t.seg_positions == (9, 32)
    assert t.has_answer and t.indices("answer") == [1] and t.indices("reasoning") == [0]
    assert parse_trace("plain").think_span is None and not parse_trace("plain").has_answer


def test_parse_trace_rejects_non_text():
    with pytest.raises(ValueError, match="must be a string"):
        parse_trace(None)
