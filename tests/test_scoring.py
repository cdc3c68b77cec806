"""Tests for tunix_nb.scoring."""

from fractions import Fraction

import pytest

from tunix_nb.scoring import (
    answers_match,
    extract_answer,
    format_scorecard,
    is_format_ok,
    parse_number,
    score_predictions,
)

GOOD = "<reasoning>2 + 2 is 4.</reasoning><answer>4</answer>"


# --------------------------------------------------------------------------- extract_answer


@pytest.mark.parametrize(
    "text, expected",
    [
        (GOOD, "4"),
        ("<answer>1</answer> then <answer>2</answer> and finally <answer>3</answer>", "3"),
        ("<answer>   spaced out \n </answer>", "spaced out"),
        ("<answer>line one\nline two\n</answer>", "line one\nline two"),
        ("<reasoning>r</reasoning><answer></answer>", ""),
        ("<answer>first</answer> <answer>unclosed", "first"),
        ("prefix <answer>a<answer>b</answer>", "b"),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "The answer is 4.",
        "<reasoning>only reasoning</reasoning>",
        "<answer>never closed",
        "</answer> closed before <answer>",
        "<ANSWER>4</ANSWER>",
    ],
)
def test_extract_answer_none(text):
    assert extract_answer(text) is None


# --------------------------------------------------------------------------- is_format_ok


@pytest.mark.parametrize(
    "text",
    [
        GOOD,
        "<reasoning>r</reasoning><answer>a</answer>",
        "\n  <reasoning>\nstep 1\nstep 2\n</reasoning>\n\n<answer> 42 </answer>\n\n",
        "\t<reasoning>r</reasoning>   \n <answer>a b c</answer>  ",
    ],
)
def test_format_ok(text):
    assert is_format_ok(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "<answer>4</answer><reasoning>r</reasoning>",  # wrong order
        "Sure! <reasoning>r</reasoning><answer>4</answer>",  # text before
        "<reasoning>r</reasoning><answer>4</answer> Hope this helps.",  # text after
        "<reasoning>r</reasoning> so <answer>4</answer>",  # text between
        "<reasoning>r</reasoning><answer>4</answer><answer>5</answer>",  # two answers
        "<reasoning>r</reasoning><reasoning>s</reasoning><answer>4</answer>",  # two reasonings
        "<reasoning>a <reasoning>b</reasoning> c</reasoning><answer>4</answer>",  # nested
        "<reasoning>r<answer>4</answer></reasoning><answer>4</answer>",  # answer inside reasoning
        "<reasoning>r</reasoning><answer>4",  # missing </answer>
        "<reasoning>r<answer>4</answer>",  # missing </reasoning>
        "<answer>4</answer>",  # no reasoning
        "<reasoning>r</reasoning>",  # no answer
        "<reasoning>   </reasoning><answer>4</answer>",  # empty reasoning
        "<reasoning>r</reasoning><answer> \n </answer>",  # empty answer
        "<Reasoning>r</Reasoning><Answer>4</Answer>",  # tags are case-sensitive
        "",
    ],
)
def test_format_not_ok(text):
    assert is_format_ok(text) is False


# --------------------------------------------------------------------------- parse_number


@pytest.mark.parametrize(
    "s, value",
    [
        ("7", Fraction(7)),
        ("7.", Fraction(7)),
        ("  7!  ", Fraction(7)),
        ("7.50", Fraction(15, 2)),
        ("12.00", Fraction(12)),
        (".5", Fraction(1, 2)),
        ("-4", Fraction(-4)),
        ("+4", Fraction(4)),
        ("1,000", Fraction(1000)),
        ("1,234,567.5", Fraction(2469135, 2)),
        ("$12.00", Fraction(12)),
        ("€3", Fraction(3)),
        ("£ 3.5", Fraction(7, 2)),
        ("-$5", Fraction(-5)),
        ("$-5", Fraction(-5)),
        ("50%", Fraction(50)),
        ("3/4", Fraction(3, 4)),
        ("3 / 4", Fraction(3, 4)),
        ("-3/4", Fraction(-3, 4)),
        ("x = 5", Fraction(5)),
        ("n=5", Fraction(5)),
        ("x = -3/4.", Fraction(-3, 4)),
        ("12 km", Fraction(12)),
        ("60 km/h", Fraction(60)),
        ("9 cm^2", Fraction(9)),
        ("9 m²", Fraction(9)),
        ("8 m³.", Fraction(8)),
        ("200 sq ft", Fraction(200)),
        ("25 dollars", Fraction(25)),
        ("90 degrees", Fraction(90)),
        ("90°", Fraction(90)),
        ("20 °C", Fraction(20)),
        ("3.5 a.m.", Fraction(7, 2)),
    ],
)
def test_parse_number(s, value):
    assert parse_number(s) == value


@pytest.mark.parametrize(
    "s",
    [
        "",
        "seven",
        "Tuesday",
        "1,00",
        "1,0000",
        "12,5",
        "3 apples and 2 pears",
        "1/0",
        "1.2.3",
        "5 - 3",
        "--5",
        "-$-5",
        "$",
        "x = y",
        "3 @ 4",
        "The answer is 5",
    ],
)
def test_parse_number_rejects(s):
    assert parse_number(s) is None


# --------------------------------------------------------------------------- answers_match


@pytest.mark.parametrize(
    "predicted, expected",
    [
        ("1,000", "1000"),
        ("$12.00", "12"),
        ("7.50", "7.5"),
        ("7.5", "15/2"),
        ("50%", "50"),
        ("3/4", "0.75"),
        ("0.75", "3/4"),
        ("12 km", "12"),
        ("x = 5", "5"),
        ("-3/4", "-0.75"),
        ("7.", "7"),
        ("-$5", "-5"),
        ("$-5", "-5"),
        ("1,234,567.5", "1234567.5"),
        ("0.333333333", "1/3"),  # 9 threes: within the 1e-6 relative tolerance
        ("1/3", "0.333333333"),
        ("1000000.1", "1000000"),  # relative tolerance scales with |expected|
        ("Tuesday.", "tuesday"),
        ("  New   York ", "new york"),
        ("ABC!", "abc"),
        ("Straße", "STRASSE"),  # casefold, not just lower
    ],
)
def test_answers_match(predicted, expected):
    assert answers_match(predicted, expected) is True


@pytest.mark.parametrize(
    "predicted, expected",
    [
        ("1,00", "100"),
        ("13", "12"),
        ("3 apples and 2 pears", "3"),
        (None, "0"),
        (None, ""),
        ("0.33", "1/3"),
        ("0.3333", "1/3"),  # 3.3e-5 away: outside the tolerance
        ("1/3", "0.33"),
        ("1/3", "1/4"),  # fractions compare exactly, no tolerance
        ("1000001", "1000000"),  # integers compare exactly
        ("-5", "5"),
        ("50%", "0.5"),  # percent sign is dropped, not divided
        ("Tuesday", "Wednesday"),
        ("", "0"),
        ("twelve", "12"),
    ],
)
def test_answers_do_not_match(predicted, expected):
    assert answers_match(predicted, expected) is False


# --------------------------------------------------------------------------- score_predictions

EVAL = [
    {"id": "q1", "prompt": "5+7?", "expected_answer": "12", "section": "arith", "category": "add", "difficulty": "easy"},
    {"id": "q2", "prompt": "3 of 4?", "expected_answer": "0.75", "section": "arith", "category": "frac", "difficulty": "hard"},
    {"id": "q3", "prompt": "10*100?", "expected_answer": "1000", "section": "arith", "category": "add", "difficulty": "hard"},
    {"id": "q4", "prompt": "After Monday?", "expected_answer": "Tuesday", "section": "words", "category": "days", "difficulty": "easy"},
    {"id": "q5", "prompt": "Before Saturday?", "expected_answer": "Friday", "section": "words", "category": "days", "difficulty": "hard"},
    {"id": "q6", "prompt": "Half?", "expected_answer": "1/2", "section": "words", "category": "frac", "difficulty": "easy"},
]

# Deliberately out of eval order; q6 has no prediction.
PREDICTIONS = [
    {"id": "q4", "prediction": "<reasoning>after monday: 1 + 1 = 3</reasoning><answer>Wednesday</answer>"},  # wrong, format ok, trace false
    {"id": "q1", "prediction": "<reasoning>5+7 = 12</reasoning><answer>12</answer>"},  # right, format ok, trace true
    {"id": "q3", "prediction": "Sure! <reasoning>10*100 = 1,000</reasoning><answer>1,000</answer>"},  # right, format bad, trace true
    {"id": "q2", "prediction": "<reasoning>3 of 4</reasoning>\n<answer> 3/4 </answer>"},  # right, format ok
    {"id": "q5", "prediction": "The answer is Friday."},  # no answer tag: wrong, format bad
]

# Hand-computed:
#   overall: n 6, correct {q1,q2,q3}=3, format {q1,q2,q4}=3
#   arith {q1,q2,q3}: correct 3, format 2 | words {q4,q5,q6}: correct 0, format 1
#   add {q1,q3}: 2, 1 | days {q4,q5}: 0, 1 | frac {q2,q6}: 1, 1
#   easy {q1,q4,q6}: 1, 2 | hard {q2,q3,q5}: 2, 1
#   trace (checked, ok): q1 true, q3 true, q4 false, q2/q5/q6 no step: overall 3, 2 | arith 2, 2 | words 1, 0
#   add 2, 2 | days 1, 0 | frac 0, 0 (rate null) | easy 2, 1 | hard 1, 1
EXPECTED_SUMMARY = {
    "n": 6,
    "overall": {"n": 6, "correct": 3, "format_ok": 3, "accuracy": 0.5, "format_compliance": 0.5, "trace_checked": 3, "trace_ok": 2, "trace_ok_rate": 0.6667},
    "per_section": {
        "arith": {"n": 3, "correct": 3, "format_ok": 2, "accuracy": 1.0, "format_compliance": 0.6667, "trace_checked": 2, "trace_ok": 2, "trace_ok_rate": 1.0},
        "words": {"n": 3, "correct": 0, "format_ok": 1, "accuracy": 0.0, "format_compliance": 0.3333, "trace_checked": 1, "trace_ok": 0, "trace_ok_rate": 0.0},
    },
    "per_category": {
        "add": {"n": 2, "correct": 2, "format_ok": 1, "accuracy": 1.0, "format_compliance": 0.5, "trace_checked": 2, "trace_ok": 2, "trace_ok_rate": 1.0},
        "days": {"n": 2, "correct": 0, "format_ok": 1, "accuracy": 0.0, "format_compliance": 0.5, "trace_checked": 1, "trace_ok": 0, "trace_ok_rate": 0.0},
        "frac": {"n": 2, "correct": 1, "format_ok": 1, "accuracy": 0.5, "format_compliance": 0.5, "trace_checked": 0, "trace_ok": 0, "trace_ok_rate": None},
    },
    "per_difficulty": {
        "easy": {"n": 3, "correct": 1, "format_ok": 2, "accuracy": 0.3333, "format_compliance": 0.6667, "trace_checked": 2, "trace_ok": 1, "trace_ok_rate": 0.5},
        "hard": {"n": 3, "correct": 2, "format_ok": 1, "accuracy": 0.6667, "format_compliance": 0.3333, "trace_checked": 1, "trace_ok": 1, "trace_ok_rate": 1.0},
    },
    "missing_ids": ["q6"],
}


def test_score_predictions_summary():
    _, summary = score_predictions(PREDICTIONS, EVAL)
    assert summary == EXPECTED_SUMMARY
    for key in ("per_section", "per_category", "per_difficulty"):
        assert list(summary[key]) == sorted(summary[key])


def test_score_predictions_rows():
    rows, _ = score_predictions(PREDICTIONS, EVAL)
    assert [r["id"] for r in rows] == ["q1", "q2", "q3", "q4", "q5", "q6"]
    assert [r["correct"] for r in rows] == [True, True, True, False, False, False]
    assert [r["format_ok"] for r in rows] == [True, True, False, True, False, False]
    assert [r["extracted_answer"] for r in rows] == ["12", "3/4", "1,000", "Wednesday", None, None]
    assert rows[0] == {
        "id": "q1",
        "prompt": "5+7?",
        "prediction": "<reasoning>5+7 = 12</reasoning><answer>12</answer>",
        "extracted_answer": "12",
        "expected_answer": "12",
        "correct": True,
        "format_ok": True,
        "trace_ok": True,
        "trace_steps": 1,
        "trace_errors": [],
        "section": "arith",
        "category": "add",
        "difficulty": "easy",
    }
    assert rows[5] == {
        "id": "q6",
        "prompt": "Half?",
        "prediction": "",
        "extracted_answer": None,
        "expected_answer": "1/2",
        "correct": False,
        "format_ok": False,
        "trace_ok": None,
        "trace_steps": 0,
        "trace_errors": [],
        "section": "words",
        "category": "frac",
        "difficulty": "easy",
    }


def test_score_predictions_empty():
    rows, summary = score_predictions([], [])
    assert rows == []
    assert summary == {
        "n": 0,
        "overall": {"n": 0, "correct": 0, "format_ok": 0, "accuracy": 0.0, "format_compliance": 0.0,
                    "trace_checked": 0, "trace_ok": 0, "trace_ok_rate": None},
        "per_section": {},
        "per_category": {},
        "per_difficulty": {},
        "missing_ids": [],
    }


def test_score_predictions_extra_keys_ignored():
    preds = [dict(p, latency_s=1.0) for p in PREDICTIONS]
    _, summary = score_predictions(preds, EVAL)
    assert summary == EXPECTED_SUMMARY


def test_unknown_prediction_id_raises():
    preds = PREDICTIONS + [{"id": "zz9", "prediction": GOOD}]
    with pytest.raises(ValueError, match="prediction id 'zz9' is not in the eval set"):
        score_predictions(preds, EVAL)


def test_duplicate_prediction_id_raises():
    preds = PREDICTIONS + [{"id": "q1", "prediction": GOOD}]
    with pytest.raises(ValueError, match="'q1'"):
        score_predictions(preds, EVAL)


def test_duplicate_eval_id_raises():
    with pytest.raises(ValueError, match="'q1'"):
        score_predictions([], EVAL + [dict(EVAL[0])])


# --------------------------------------------------------------------------- format_scorecard


def test_format_scorecard():
    _, summary = score_predictions(PREDICTIONS, EVAL)
    card = format_scorecard(summary)
    assert isinstance(card, str)
    for name in ("overall", "arith", "words", "add", "days", "frac", "easy", "hard"):
        assert name in card
    for header in ("group", "n", "accuracy", "format"):
        assert header in card.splitlines()[0]
    overall_line = next(line for line in card.splitlines() if line.startswith("overall"))
    assert "50.0%" in overall_line
    arith_line = next(line for line in card.splitlines() if line.strip().startswith("arith"))
    assert "100.0%" in arith_line and "66.7%" in arith_line
    easy_line = next(line for line in card.splitlines() if line.strip().startswith("easy"))
    assert "33.3%" in easy_line and "66.7%" in easy_line


def _card(acc: float, fmt: float, sections: tuple[str, ...] = ("arith",), trace: float | None = None) -> dict:
    g = {"n": 4, "correct": round(4 * acc), "format_ok": round(4 * fmt), "accuracy": acc, "format_compliance": fmt,
         "trace_ok_rate": trace}
    return {"n": 4, "overall": g, "per_section": {s: g for s in sections}, "per_category": {"add": g},
            "per_difficulty": {"easy": g}, "missing_ids": []}


def test_format_scorecard_with_three_stages():
    # base lacks section arith and has no checkable trace
    base, sft, grpo = _card(0.25, 0.0, ()), _card(0.5, 0.75, trace=0.5), _card(0.75, 1.0, trace=1.0)
    card = format_scorecard(grpo, stages={"base": base, "sft": sft, "grpo": grpo})
    lines = card.splitlines()
    assert lines[0] == ("group   | n | acc base | acc sft | acc grpo | fmt base | fmt sft | fmt grpo | trace base | "
                        "trace sft | trace grpo")
    assert lines[1] == "-" * len(lines[0])
    assert lines[2] == ("overall | 4 |    25.0% |   50.0% |    75.0% |     0.0% |   75.0% |   100.0% |          – | "
                        "    50.0% |     100.0%")
    assert lines[3] == "-- per section --"
    assert lines[4] == ("  arith | 4 |        – |   50.0% |    75.0% |        – |   75.0% |   100.0% |          – | "
                        "    50.0% |     100.0%")
    assert [line.split("|")[0].strip() for line in lines[2:]] == [
        "overall", "-- per section --", "arith", "-- per category --", "add", "-- per difficulty --", "easy"]


def test_format_scorecard_with_one_stage_is_the_single_table():
    grpo = _card(0.75, 1.0)
    assert format_scorecard(grpo, stages={"grpo": grpo}) == format_scorecard(grpo) == format_scorecard(grpo, None)
    assert format_scorecard(grpo).splitlines()[0] == "group   | n | accuracy | format | trace"
