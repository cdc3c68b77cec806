"""The committed v3 datasets, read by the per-domain solver tests (tests/test_gen_*.py).

`TUNIX_NB_V3_DIR` points them at another folder (`generate_data.py --out-dir DIR --domains …`, while
working on one domain)."""

import json
import os
import re
from pathlib import Path

DATA = Path(os.environ.get("TUNIX_NB_V3_DIR") or Path(__file__).resolve().parents[1] / "training" / "data")
NAME_LIST = re.compile(r"([A-Z][a-z]+(?:, [A-Z][a-z]+)* and [A-Z][a-z]+)")


def _load(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


def rows(category: str) -> list[dict]:
    """Every record of `category` as stored (training rows first, then eval items), each with a "split"
    key added ("train" or "eval"); fails when there is none (a test that checks nothing must not pass)."""
    found = [{**r, "split": split} for split, name in (("train", "dev-reasoning-v3.jsonl"), ("eval", "eval_v3.jsonl"))
             for r in _load(name) if r["category"] == category]
    assert found, f"no v3 record of category {category!r} in {DATA}"
    return found


def records(category: str) -> list[tuple[str, str, str, str]]:
    """(id, question, answer, reasoning or "") of every training record and eval item of `category`."""
    return [(r["id"], r["question"], r["answer"], r["reasoning"]) if r["split"] == "train"
            else (r["id"], r["prompt"], r["expected_answer"], "") for r in rows(category)]


def people(question: str) -> list[str]:
    """The islanders / contestants a logic puzzle lists first ("Ava, Ben and Chloe")."""
    return re.split(r", | and ", NAME_LIST.search(question).group(1))
