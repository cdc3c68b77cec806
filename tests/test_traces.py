"""The trace check on literal traces: each rule of tunix_nb.traces, with its verdict (trace_ok
true / false / None), its step count and the wrong steps as written."""

import pytest

from trace_cases import CASES
from tunix_nb.scoring import check_trace


def verdict(reasoning: str, answer: str | None):
    text = f"<reasoning>{reasoning}</reasoning><answer>{answer}</answer>" if answer is not None else \
        f"<reasoning>{reasoning}</reasoning>"
    t = check_trace(text, answer)
    return t.ok, len(t.steps), t.errors


@pytest.mark.parametrize("reasoning, answer, expected", CASES, ids=[c[0][:40] for c in CASES])
def test_trace_check_on_literal_traces(reasoning, answer, expected):
    assert verdict(reasoning, answer) == expected


def test_there_are_at_least_forty_literal_cases():
    assert len(CASES) >= 40


def test_every_trace_of_our_training_data_passes_or_has_no_checkable_step():
    """The project's own worked solutions (dev-reasoning-v2.jsonl): the checker finds no wrong step
    and no answer that differs from the last result in any of them."""
    import json
    from collections import Counter

    from conftest import ROOT

    rows = [json.loads(line) for line in (ROOT / "training/data/dev-reasoning-v2.jsonl").read_text().splitlines()]
    verdicts = Counter(check_trace(f"<reasoning>{r['reasoning']}</reasoning><answer>{r['answer']}</answer>",
                                   r["answer"]).ok for r in rows)
    assert verdicts[False] == 0 and verdicts[True] > 400, verdicts


def test_no_reasoning_block_is_not_checked():
    t = check_trace("<answer>7</answer> 3 + 4 = 7", "7")
    assert (t.ok, t.steps, t.errors) == (None, [], [])
