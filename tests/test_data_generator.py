"""The committed datasets are exactly the generator's output, and the v2 files have the promised shape
(the v3 files: test_data_v3.py and the per-domain solvers, tests/test_gen_*.py)."""

import importlib.util
import json
import re
from fractions import Fraction
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "training" / "data"
WEEKDAYS = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}


def load(name):
    return [json.loads(l) for l in (DATA / name).read_text(encoding="utf-8").splitlines()]


TRAIN, EVAL = load("dev-reasoning-v2.jsonl"), load("eval_v2.jsonl")


def test_files_are_the_generators_output(tmp_path):
    spec = importlib.util.spec_from_file_location("generate_data", DATA / "generate_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.write(tmp_path)
    for name in ("dev-reasoning-v2.jsonl", "eval_v2.jsonl", "dev-reasoning-v3.jsonl", "eval_v3.jsonl"):
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


def test_counts_fields_and_coverage():
    assert len(TRAIN) == 550 and len(EVAL) == 100
    assert len({r["id"] for r in TRAIN}) == 550 and len({r["id"] for r in EVAL}) == 100
    for r in TRAIN:
        assert list(r) == ["id", "question", "reasoning", "answer", "section", "category", "difficulty"]
        assert all(isinstance(v, str) and v.strip() for v in r.values())
    for r in EVAL:
        assert list(r) == ["id", "prompt", "expected_answer", "section", "category", "difficulty"]
        assert all(isinstance(v, str) and v.strip() for v in r.values())
    for rows in (TRAIN, EVAL):
        assert len({r["category"] for r in rows}) >= 10
        assert {r["difficulty"] for r in rows} == {"easy", "medium", "hard"}
    assert {r["section"] for r in EVAL} == {"core", "trace_sensitive", "edge_case"}
    assert all(r["category"] == "word_problems" for r in EVAL if r["section"] == "trace_sensitive")


def normalise(s):
    return " ".join(re.sub(r"[^\w\s]", " ", s.lower()).split())


def test_no_eval_question_appears_in_training():
    train_q = {normalise(r["question"]) for r in TRAIN}
    assert not [r["id"] for r in EVAL if normalise(r["prompt"]) in train_q]
    assert len(train_q) == 550  # no duplicates within training either


def parse(answer):
    if answer in WEEKDAYS:
        return answer
    assert re.fullmatch(r"-?\d+(\.\d*[1-9])?|-?\d+/\d+", answer), answer
    return Fraction(answer)


@pytest.mark.parametrize("rec", TRAIN + EVAL, ids=lambda r: r["id"])
def test_answers_are_canonical(rec):
    answer = rec.get("answer", rec.get("expected_answer"))
    value = parse(answer)
    if rec["category"] == "probability":
        assert isinstance(value, Fraction) and 0 <= value <= 1
        assert "/" in answer or answer in ("0", "1")
    if rec["category"] == "dates" and not value.__class__ is Fraction:
        assert value in WEEKDAYS


def _safe_eval(expr):
    """Exact value of + - * / ^ and parentheses over integers and decimals, without eval()."""
    tokens = re.findall(r"\d+(?:\.\d+)?|[-+*/()^]", expr)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def atom():
        tok = take()
        if tok == "(":
            v = add()
            assert take() == ")"
            return v
        if tok == "-":
            return -atom()
        v = Fraction(tok)
        if peek() == "^":
            take()
            v = v ** int(take())
        return v

    def mul():
        v = atom()
        while peek() in ("*", "/"):
            v = v * atom() if take() == "*" else v / atom()
        return v

    def add():
        v = mul()
        while peek() in ("+", "-"):
            v = v + mul() if take() == "+" else v - mul()
        return v

    value = add()
    assert pos == len(tokens), expr
    return value


ARITH = r"[-+*/()^\d.\s]*"


def equations(line):
    """(lhs, rhs) for each '... = ...' in a trace line whose both sides are plain arithmetic.
    A left side right after a word ("of 185 = ...", "Term 51 = ...") is prose, not an expression."""
    parts = line.split("=")
    for left, right in zip(parts, parts[1:]):
        lhs = re.search(ARITH + "$", left).group().strip()
        rhs = re.match(ARITH, right).group().strip().rstrip(".").strip()
        before = left[: len(left.rstrip()) - len(lhs)].rstrip() if lhs else ""
        if not re.search(r"\d", lhs) or not re.search(r"\d", rhs) or lhs[0] in "+*/^.":
            continue
        if before and before[-1].isalpha():
            continue
        yield lhs, rhs


def test_every_trace_equation_is_arithmetically_true():
    """Each 'A op B = C' in every trace is recomputed independently, with exact fractions."""
    checked = 0
    for r in TRAIN:
        for line in r["reasoning"].splitlines():
            for lhs, rhs in equations(line):
                assert _safe_eval(lhs) == _safe_eval(rhs), (r["id"], line, lhs, rhs)
                checked += 1
    assert checked > 900, checked


def test_last_trace_line_states_the_answer():
    for r in TRAIN:
        assert r["answer"] in r["reasoning"].splitlines()[-1], r["id"]
