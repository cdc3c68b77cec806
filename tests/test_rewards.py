"""Tests for tunix_nb.rewards: literal completions in, literal rewards out."""

import pytest

from tunix_nb.prompts import END_OF_TURN, EOS
from tunix_nb.rewards import (
    REWARDS,
    answer_correct,
    format_exact,
    format_partial,
    make_reward_fns,
    numeric_close,
    overlong,
    score_all,
)
from tunix_nb.scoring import score_predictions


def ans(a: str) -> str:
    return f"<reasoning>work</reasoning>\n<answer>{a}</answer>"


def one(fn, completion, **kw):
    (value,) = fn(["prompt"], [completion], **kw)
    return value


# --------------------------------------------------------------------------- format_exact


@pytest.mark.parametrize(
    "text, expected",
    [
        (ans("4"), 1.0),
        (ans("4") + END_OF_TURN, 1.0),
        (ans("4") + END_OF_TURN + EOS + "\n", 1.0),
        ("  " + ans("4") + "  \n", 1.0),
        (ans("4") + " and more", 0.0),
        ("<reasoning>r</reasoning><answer>4", 0.0),
        ("<answer>4</answer><reasoning>r</reasoning>", 0.0),
        ("<reasoning>r</reasoning><answer>4</answer><answer>5</answer>", 0.0),
        ("<reasoning></reasoning><answer>4</answer>", 0.0),
        ("just 4", 0.0),
        ("", 0.0),
    ],
)
def test_format_exact(text, expected):
    assert one(format_exact, text) == expected


# --------------------------------------------------------------------------- format_partial


@pytest.mark.parametrize(
    "text, expected",
    [
        (ans("4"), 1.0),
        (ans("4") + END_OF_TURN, 1.0),
        ("Sure! " + ans("4"), 1.0),  # a preamble costs format_exact, not the tags
        (ans("4") + " trailing chatter", 0.75),  # </answer> must end the completion
        ("<reasoning>r</reasoning> answer is 4", 0.5),
        ("<reasoning>r</reasoning><answer>4", 0.75),  # unclosed answer
        ("<reasoning>r<answer>4</answer>", 0.75),  # unclosed reasoning
        ("<answer>4</answer>", 0.5),  # missing tags do not block the others
        ("<answer>4</answer><reasoning>r</reasoning>", 0.0),  # wrong block order
        ("</reasoning>r<reasoning><answer>4</answer>", 0.5),  # swapped reasoning tags
        ("<reasoning>r</reasoning><answer>4</answer><answer>5</answer>", 0.0),  # 0.5 - 0.5
        ("<reasoning>a</reasoning><reasoning>b</reasoning><answer>4</answer>", 0.0),  # 0.5 - 0.5
        ("<answer>" * 6 + "</answer>" * 6, -1.0),  # clipped from -2.5
        ("no tags at all", 0.0),
        ("", 0.0),
    ],
)
def test_format_partial(text, expected):
    assert one(format_partial, text) == pytest.approx(expected)


@pytest.mark.parametrize("text", [ans("4"), "<reasoning>x</reasoning>   <answer> y </answer>\n" + END_OF_TURN])
def test_format_partial_is_full_when_format_exact(text):
    assert one(format_exact, text) == 1.0 and one(format_partial, text) == 1.0


# --------------------------------------------------------------------------- answer_correct


@pytest.mark.parametrize(
    "predicted, expected, reward",
    [
        ("1,000", "1000", 1.0),
        ("1000", "1,000", 1.0),
        ("$12.00", "12", 1.0),
        ("3/4", "0.75", 1.0),
        ("50%", "50", 1.0),
        ("12 km", "12", 1.0),
        ("x = 5", "5", 1.0),
        ("-7", "-7", 1.0),
        ("13", "12", 0.0),
        ("1,00", "100", 0.0),
        ("Paris.", "paris", 1.0),
        ("  PARIS  ", "Paris", 1.0),
        ("London", "Paris", 0.0),
    ],
)
def test_answer_correct(predicted, expected, reward):
    assert one(answer_correct, ans(predicted), answer=[expected]) == reward


@pytest.mark.parametrize(
    "text",
    ["the answer is 12", "<reasoning>12</reasoning>", "<answer>12", ""],
)
def test_answer_correct_missing_answer(text):
    assert one(answer_correct, text, answer=["12"]) == 0.0


def test_answer_correct_uses_last_answer_block_and_strips_end_marker():
    text = "<reasoning>r</reasoning><answer>3</answer><answer>12</answer>" + END_OF_TURN
    assert one(answer_correct, text, answer=["12"]) == 1.0


def test_extra_columns_are_ignored():
    completions = [ans("12"), ans("11")]
    kw = {"answer": ["12", "12"], "mode": "train", "question": ["q", "q"], "id": [1, 2]}
    assert answer_correct(["p", "p"], completions, **kw) == [1.0, 0.0]
    assert format_exact(["p", "p"], completions, **kw) == [1.0, 1.0]
    assert overlong(["p", "p"], completions, **kw) == [0.0, 0.0]


@pytest.mark.parametrize("answer", [None, "12", ["12", "13"]])
def test_answer_column_must_be_one_per_completion(answer):
    with pytest.raises(ValueError, match="answer"):
        answer_correct(["p"], [ans("12")], answer=answer)


def test_answer_correct_agrees_with_scorecard():
    cases = [("1,000", "1000"), ("$12.00", "12"), ("3/4", "0.75"), ("0.33", "1/3"), ("Paris.", "paris"),
             ("12 km", "13"), (None, "5")]
    texts = ["no answer" if p is None else ans(p) for p, _ in cases]
    records = [{"id": i, "expected_answer": e, "section": "s", "category": "c", "difficulty": "d"}
               for i, (_, e) in enumerate(cases)]
    rows, _ = score_predictions([{"id": i, "prediction": t} for i, t in enumerate(texts)], records)
    rewards = answer_correct(["p"] * len(texts), texts, answer=[e for _, e in cases])
    assert rewards == [1.0 if r["correct"] else 0.0 for r in rows]
    assert rewards == [1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0]


# --------------------------------------------------------------------------- numeric_close


@pytest.mark.parametrize(
    "predicted, expected, reward",
    [
        ("100", "100", 1.0),
        ("110", "100", 0.5),  # 10 % off
        ("90", "100", 0.5),
        ("95", "100", 0.75),
        ("120", "100", 0.0),  # 20 % off
        ("125", "100", 0.0),  # 25 % off
        ("-110", "-100", 0.5),  # negative numbers
        ("110", "-100", 0.0),  # wrong sign is far off
        ("0.1", "0", 0.5),  # expected 0: absolute scale of 1
        ("0", "0", 1.0),
        ("1,100", "1000", 0.5),  # scoring's number rules flow through
        ("$11", "10", 0.5),
        ("3/4", "0.75", 1.0),
        ("Paris", "paris", 1.0),  # correct under scoring's rule
        ("Paris", "100", 0.0),
        ("100", "Paris", 0.0),
    ],
)
def test_numeric_close(predicted, expected, reward):
    assert one(numeric_close, ans(predicted), answer=[expected]) == reward


def test_numeric_close_no_answer_and_tolerance():
    assert one(numeric_close, "it is 100", answer=["100"]) == 0.0
    assert one(numeric_close, ans("110"), answer=["100"], tolerance=0.5) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="tolerance"):
        numeric_close(["p"], [ans("1")], answer=["1"], tolerance=0)


# --------------------------------------------------------------------------- overlong


@pytest.mark.parametrize(
    "words, reward",
    [
        (0, 0.0),
        (50, 0.0),
        (60, 0.0),  # the soft zone starts after max - soft
        (70, -0.25),
        (80, -0.5),
        (96, -0.9),
        (100, -1.0),  # at max
        (150, -1.0),  # beyond max
    ],
)
def test_overlong(words, reward):
    text = " ".join(["w"] * words) + END_OF_TURN
    assert one(overlong, text, max_tokens=100, soft_tokens=40) == pytest.approx(reward)


def test_overlong_custom_count_and_validation():
    assert one(overlong, "abcdefghij", max_tokens=10, soft_tokens=4, count=len) == -1.0
    assert one(overlong, "abcdefgh", max_tokens=10, soft_tokens=4, count=len) == pytest.approx(-0.5)
    assert one(overlong, "x " * 768) == -1.0  # default 768 / 128
    assert one(overlong, "x " * 640) == 0.0
    with pytest.raises(ValueError):
        overlong(["p"], ["x"], max_tokens=10, soft_tokens=11)


# --------------------------------------------------------------------------- make_reward_fns / score_all


def test_rewards_registry_order():
    assert list(REWARDS) == ["format_exact", "format_partial", "answer_correct", "numeric_close", "overlong", "trace"]


def test_make_reward_fns_weights_and_names():
    fns = make_reward_fns({"overlong": 0.5, "answer_correct": 2.0, "format_exact": 0.0}, max_tokens=10, soft_tokens=4)
    assert [f.__name__ for f in fns] == ["answer_correct", "overlong"]
    completions = [ans("12"), ans("1 2 3 4 5 6 7 8 9 10 11")]
    values = [f(["p", "p"], completions, answer=["12", "12"], mode="train") for f in fns]
    assert values[0] == [2.0, 0.0]
    assert values[1] == [0.0, -0.5]  # 11 words is beyond max_tokens=10


def test_make_reward_fns_binds_count():
    (fn,) = make_reward_fns({"overlong": 1.0}, max_tokens=10, soft_tokens=4, count=len)
    assert fn(["p"], ["abcdefgh"]) == [pytest.approx(-0.5)]


def test_make_reward_fns_unknown_name():
    with pytest.raises(ValueError, match=r"'corectness'.*format_exact, format_partial, answer_correct"):
        make_reward_fns({"corectness": 1.0}, max_tokens=10, soft_tokens=4)


def test_score_all_total_is_weighted_sum():
    weights = {"format_exact": 0.5, "answer_correct": 2.0, "numeric_close": 1.0, "format_partial": 0.0}
    completions = [ans("100"), "<answer>110</answer> more", "nothing"]
    out = score_all(["p"] * 3, completions, weights, answer=["100"] * 3, mode="train")
    assert set(out) == {*weights, "total"}
    assert out["format_exact"] == [1.0, 0.0, 0.0]
    assert out["answer_correct"] == [1.0, 0.0, 0.0]
    assert out["numeric_close"] == [1.0, 0.5, 0.0]
    assert out["format_partial"] == [1.0, 0.25, 0.0]  # unweighted even at weight 0
    assert out["total"] == [pytest.approx(3.5), pytest.approx(0.5), 0.0]


def test_score_all_unknown_name():
    with pytest.raises(ValueError, match="valid rewards"):
        score_all(["p"], [ans("1")], {"nope": 1.0}, answer=["1"])


# --------------------------------------------------------------------------- trace

def test_the_trace_reward_agrees_with_the_checker_through_both_backends_entry_points():
    """Every literal trace case (trace_cases.py): the reward is the checker's verdict as 1 / 0 / -1,
    called as the Tunix stage calls it (make_reward_fns) and as the PyTorch stage does (score_all)."""
    from trace_cases import CASES

    from tunix_nb import rewards, scoring

    completions = [f"<reasoning>{r}</reasoning><answer>{a}</answer><end_of_turn>" if a is not None
                   else f"<reasoning>{r}</reasoning><end_of_turn>" for r, a, _ in CASES]
    verdicts = [scoring.check_trace(c.removesuffix("<end_of_turn>"), a).ok for c, (_, a, _) in zip(completions, CASES)]
    assert verdicts == [ok for _, _, (ok, _, _) in CASES]
    expected = [rewards.TRACE_VALUES[v] for v in verdicts]
    prompts, answers = ["q"] * len(CASES), ["0"] * len(CASES)
    (tunix_fn,) = make_reward_fns({"trace": 2.0}, max_tokens=64, soft_tokens=8)
    assert tunix_fn.__name__ == "trace"
    assert tunix_fn(prompts, completions, answer=answers) == [2.0 * v for v in expected]
    both = score_all(prompts, completions, {"trace": 2.0, "answer_correct": 1.0}, answer=answers)
    assert both["trace"] == expected and both["total"] == [2.0 * v + a for v, a in zip(expected, both["answer_correct"])]
    assert set(expected) == {1.0, 0.0, -1.0}
