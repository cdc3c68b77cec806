"""The judge reward: the rubric file and its refusals, the score arithmetic on literal log-probs
(multi-token scores such as Gemma's "1","0" for 10), batching and reuse with a counting stand-in
for the model, the real Gemma 3 270M as the judge of literal completions, and the two backends'
judges agreeing."""

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import ROOT
from tunix_nb import judge
from tunix_nb.errors import UserError
from tunix_nb.prompts import format_prompt

RUBRIC = ROOT / "training" / "rubrics" / "reasoning_1_10.yaml"
GOOD = "<reasoning>2 + 3 = 5</reasoning>\n<answer>5</answer>"


@pytest.mark.parametrize("text, fragment", [
    (None, "rubric file not found"),
    ("criteria: [a]\nscale: [1, 10]\n", "template is missing"),
    ("criteria: [a]\nscale: [1, 10]\ntemplate: x\nhint: y\n", "unknown field 'hint'"),
    ("criteria: [a]\nscale: [10, 1]\ntemplate: '{criteria}{question}{completion}'\n", "scale: expected [low, high]"),
    ("criteria: [a, {b: c}]\nscale: [1, 10]\ntemplate: '{criteria}{question}{completion}'\n", "criteria: expected a list"),
    ("criteria: [a]\nscale: [1, 10]\ntemplate: 'grade {question}'\n", "template: must contain {criteria}"),
    ("- just\n- a list\n", "expected a mapping"),
])
def test_a_bad_rubric_is_refused_naming_the_setting_and_the_field(tmp_path, text, fragment):
    path = tmp_path / "rubric.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(UserError, match="^grpo.judge_rubric: ") as e:
        judge.load_rubric(path)
    assert fragment in str(e.value) and str(path) in str(e.value)


def test_the_packaged_rubric_renders_criteria_question_and_completion():
    rubric = judge.load_rubric(RUBRIC)
    assert (rubric.low, rubric.high) == (1, 10) and len(rubric.criteria) == 5
    text = rubric.render("What is 2 + 3?", GOOD + "<end_of_turn>")
    assert all(f"- {c}" in text for c in rubric.criteria)
    assert "What is 2 + 3?" in text and GOOD + "\n" in text and "<end_of_turn>\n\nGive" not in text
    assert "from 1 (fails every criterion) to 10" in text and text.endswith("<start_of_turn>model\n")
    assert judge.question_of(format_prompt("What is 2 + 3?")) == "What is 2 + 3?"


# The tiny tokenizer writes 1..9 as one token each and 10 as "1", "0" (as Gemma's does).
TOKENS = judge.ScoreTokens(scores=tuple(range(1, 11)), sequences=tuple((d,) for d in range(1, 10)) + ((1, 0),),
                           prefixes=((), (1,)))


def logprobs(first: dict[int, float], after_one: dict[int, float]) -> dict:
    def row(p):
        out = np.full(12, -1e9)
        for tok, prob in p.items():
            out[tok] = math.log(prob)
        return out
    return {(): row(first), (1,): row(after_one)}


def test_the_score_is_the_probability_weighted_mean_scaled_to_0_1():
    # P(first = 1) = 0.4, of which half goes on to "10"; P(first = 5) = 0.2; the rest is not a score.
    lp = logprobs({1: 0.4, 5: 0.2, 11: 0.4}, {0: 0.5, 11: 0.5})
    mean = (1 * 0.2 + 10 * 0.2 + 5 * 0.2) / 0.6  # renormalised over the mass on scores
    assert judge.expected_score(TOKENS, lp, 1, 10) == pytest.approx((mean - 1) / 9)
    assert judge.expected_score(TOKENS, logprobs({1: 1.0}, {0: 1.0}), 1, 10) == pytest.approx(1.0)  # surely 10
    assert judge.expected_score(TOKENS, logprobs({1: 1.0}, {11: 1.0}), 1, 10) == pytest.approx(0.0)  # surely 1
    assert judge.expected_score(TOKENS, logprobs({11: 1.0}, {11: 1.0}), 1, 10) == 0.0  # no score at all


def test_the_judge_batches_distinct_items_and_reuses_the_last_calls_scores(tiny_tokenizer):
    rows_seen = []

    def next_logprobs(rows):
        rows_seen.append(rows)
        out = np.full((len(rows), tiny_tokenizer.vocab_size + 64), -1e9)
        for i, row in enumerate(rows):  # a "judge" whose score depends on the row: scores differ by item
            out[i, tiny_tokenizer(str(1 + sum(row) % 9), add_special_tokens=False)["input_ids"][0]] = 0.0
        return out

    j = judge.Judge(judge.load_rubric(RUBRIC), tiny_tokenizer, next_logprobs, batch_size=8)
    prompts = [format_prompt(f"What is {i} + 3?") for i in range(8)]
    completions = [GOOD + " " * i for i in range(8)]
    scores = j(prompts * 2, completions * 2)  # each item twice, as a GRPO group repeats completions
    assert j.calls == 1 and len(rows_seen[0]) == 8 * 2  # 8 distinct items, 2 prefixes each, one call
    assert scores[:8] == scores[8:] and all(0.0 <= s <= 1.0 for s in scores) and len(set(scores)) > 1
    assert "What is 3 + 3?" in tiny_tokenizer.decode(rows_seen[0][6])  # the question, not the chat prompt
    assert j(prompts, completions) == scores[:8] and j.calls == 1  # the same step asks again: reused
    j(prompts[:1], ["another completion"])
    assert j.calls == 2


def judge_of(backend: str, model_dir, *, rubric_path=RUBRIC):
    """A Judge whose model is loaded by `backend` (fp32 on the CPU, sharing the devices)."""
    from tunix_nb import backends, models

    cfg, plan = SimpleNamespace(grpo=None), SimpleNamespace(dtype="fp32", device="cpu")
    return judge.Judge(judge.load_rubric(rubric_path), models.load_tokenizer(model_dir),
                       backends.get(backend).load_judge(cfg, model_dir, plan))


QUESTIONS = [f"What is {a} + {b}?" for a, b in [(2, 3), (7, 5), (10, 4), (6, 6)]]
COMPLETIONS = [f"<reasoning>{a} + {b} = {a + b}</reasoning>\n<answer>{a + b}</answer>" for a, b in
               [(2, 3), (7, 5), (10, 4), (6, 6)]] + ["I don't know.", "5", "<answer>99</answer>", "banana " * 20]
PROMPTS = [format_prompt(q) for q in QUESTIONS] * 2


def test_the_270m_judge_scores_literal_completions_in_0_1_the_same_on_rerun(gemma_dir):
    grader = judge_of("torch", gemma_dir)
    scores = grader(PROMPTS, COMPLETIONS)
    assert grader.calls == 1  # a batch of 8 scored in one call
    assert all(0.0 <= s <= 1.0 for s in scores) and len(set(scores)) == 8
    fresh = judge.Judge(grader.rubric, grader.tokenizer, grader.next_logprobs)
    assert fresh(PROMPTS, COMPLETIONS) == scores  # deterministic: no sampling


def test_both_backends_judge_alike(tiny_model_dir):
    """The same judge model through transformers and through Tunix (the tiny model: the arithmetic and
    the row layout are what is compared; the 270M's Tunix forward is the export tests' business)."""
    torch_scores = judge_of("torch", tiny_model_dir)(PROMPTS, COMPLETIONS)
    assert judge_of("tunix", tiny_model_dir)(PROMPTS, COMPLETIONS) == pytest.approx(torch_scores, abs=1e-4)
