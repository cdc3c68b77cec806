"""The committed v3 datasets, read by the per-domain solver tests (tests/test_gen_*.py).

`TUNIX_NB_V3_DIR` points them at another folder (`generate_data.py --out-dir DIR --domains …`, while
working on one domain)."""

import json
import os
from pathlib import Path

DATA = Path(os.environ.get("TUNIX_NB_V3_DIR") or Path(__file__).resolve().parents[1] / "training" / "data")


def _load(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def records(category: str) -> list[tuple[str, str, str, str]]:
    """(id, question, answer, reasoning or "") of every training record and eval item of `category`;
    fails when there is none (a solver test that checks nothing must not pass)."""
    rows = [(r["id"], r["question"], r["answer"], r["reasoning"]) for r in _load("dev-reasoning-v3.jsonl")
            if r["category"] == category]
    rows += [(r["id"], r["prompt"], r["expected_answer"], "") for r in _load("eval_v3.jsonl")
             if r["category"] == category]
    assert rows, f"no v3 record of category {category!r} in {DATA}"
    return rows
