"""The committed v3 datasets as a whole: counts, coverage, one eval section per domain, no eval
prompt among the training questions, and every worked trace accepted by the trace check. (Each
answer is re-derived from its question by an independent solver in tests/test_gen_<domain>.py.)"""

import json
import re
from collections import Counter

from conftest import ROOT
from tunix_nb.contamination import find_overlaps
from tunix_nb.scoring import check_trace

DATA = ROOT / "training" / "data"
TRAIN = [json.loads(line) for line in (DATA / "dev-reasoning-v3.jsonl").read_text(encoding="utf-8").splitlines()]
EVAL = [json.loads(line) for line in (DATA / "eval_v3.jsonl").read_text(encoding="utf-8").splitlines()]
# The sections of the domains that are not arithmetic (the issue asks for at least six).
NEW_DOMAINS = {"logic", "syllogisms", "code", "reading", "counting", "navigation", "calendar"}


def normalise(s):
    return " ".join(re.sub(r"[^\w\s]", " ", s.lower()).split())


def test_counts_fields_and_coverage():
    assert len(TRAIN) >= 2000
    assert len({r["id"] for r in TRAIN}) == len(TRAIN) and len({r["id"] for r in EVAL}) == len(EVAL)
    for r in TRAIN:
        assert list(r) == ["id", "question", "reasoning", "answer", "section", "category", "difficulty"]
        assert all(isinstance(v, str) and v.strip() for v in r.values())
    for r in EVAL:
        assert list(r) == ["id", "prompt", "expected_answer", "section", "category", "difficulty"]
        assert all(isinstance(v, str) and v.strip() for v in r.values())
    train_cats, eval_cats = Counter(r["category"] for r in TRAIN), Counter(r["category"] for r in EVAL)
    assert set(train_cats) == set(eval_cats) and min(eval_cats.values()) >= 10, eval_cats
    for cat in train_cats:
        for rows in (TRAIN, EVAL):
            assert {r["difficulty"] for r in rows if r["category"] == cat} == {"easy", "medium", "hard"}, cat


def test_a_section_per_new_domain():
    sections = {r["section"] for r in EVAL}
    assert NEW_DOMAINS <= sections and len(NEW_DOMAINS) >= 6
    for r in EVAL:  # a category belongs to one section
        assert len({e["section"] for e in EVAL if e["category"] == r["category"]}) == 1


def test_no_eval_prompt_is_a_training_question():
    train_q = [normalise(r["question"]) for r in TRAIN]
    assert len(set(train_q)) == len(train_q)
    assert not {normalise(r["prompt"]) for r in EVAL} & set(train_q)


def test_every_trace_passes_the_trace_check_or_has_no_checkable_step():
    verdicts = Counter()
    for r in TRAIN:
        t = check_trace(f"<reasoning>{r['reasoning']}</reasoning><answer>{r['answer']}</answer>", r["answer"])
        assert t.ok is not False, (r["id"], t.errors)
        assert r["answer"] in r["reasoning"].splitlines()[-1], r["id"]
        verdicts[t.ok] += 1
    assert verdicts[True] > len(TRAIN) // 2, verdicts  # most traces carry checked arithmetic


def test_the_contamination_check_keeps_most_training_rows():
    """Training on v3 and scoring on eval_v3 (the v3 preset) drops the rows our own contamination check
    flags (shared 13-grams); templated boilerplate must not make that most of the data."""
    overlaps = find_overlaps([(r["id"], r["question"]) for r in TRAIN], [(r["id"], r["prompt"]) for r in EVAL])
    assert len(overlaps) <= len(TRAIN) // 10, len(overlaps)
