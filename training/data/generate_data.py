#!/usr/bin/env python3
"""Deterministic generator of tunix_nb's own datasets (standard library only).

    python training/data/generate_data.py [--out-dir DIR] [--stats]

writes
- v2: `dev-reasoning-v2.jsonl` (550 training records with worked traces) and `eval_v2.jsonl` (100
  eval items in sections core / trace_sensitive / edge_case), from `gen/v2.py`;
- v3: `dev-reasoning-v3.jsonl` and `eval_v3.jsonl`, from every v3 domain module in `gen/` (those
  that define `SECTION`): 150 training records and 12 eval items per category, a third of each per
  difficulty, the eval items in one section per domain.
Every answer is computed at generation time from the sampled values (exact arithmetic with
`fractions.Fraction`, calendars with `datetime`, puzzles by brute force, code by running it), and
the trace's last line states it. Same output, byte for byte, on every run: each category draws
from its own seeded `random.Random`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # `gen` sits next to this script, also when a test loads it by path
    sys.path.insert(0, str(HERE))

from gen import v2  # noqa: E402
from gen.common import DIFFICULTIES, WEEKDAYS, norm  # noqa: E402

TRAIN_FILE, EVAL_FILE = "dev-reasoning-v2.jsonl", "eval_v2.jsonl"
V3_TRAIN_FILE, V3_EVAL_FILE = "dev-reasoning-v3.jsonl", "eval_v3.jsonl"
V3_TRAIN_PER_CATEGORY, V3_EVAL_PER_CATEGORY = 150, 12

_CANONICAL = re.compile(r"^-?\d+(\.\d+)?$|^-?\d+/\d+$|^(" + "|".join(WEEKDAYS) + ")$")
# A v3 answer that is not a number is a short text: a name, a word (knight, valid, north), a weekday,
# a time (14:05), a date (March 3) or a printed value: one line, no final full stop.
_TEXT_ANSWER = re.compile(r"^[\w:'()\[\], -]{1,40}$")


def _check(answer: str, steps: list[str]) -> None:
    assert _CANONICAL.match(answer), answer
    if "." in answer:
        assert not answer.endswith("0"), answer
    if steps:
        assert answer in steps[-1], (answer, steps[-1])


def _check_v3(answer: str, steps: list[str]) -> None:
    assert _CANONICAL.match(answer) or _TEXT_ANSWER.match(answer), answer
    if re.fullmatch(r"-?\d+\.\d+", answer):
        assert not answer.endswith("0"), answer
    assert steps and answer in steps[-1], (answer, steps[-1:])


def _unique(make, seen: set[str]):
    """Draw until the question is new (deterministic: the rng just moves on)."""
    for _ in range(1000):
        out = make()
        key = norm(out[0])  # every generator returns the question first
        if key not in seen:
            seen.add(key)
            return out
    raise RuntimeError("could not draw a new question")


# --- v2 ---------------------------------------------------------------------------------------

def generate() -> tuple[list[dict], list[dict]]:
    train, seen = [], set()
    for ci, (cat, gen) in enumerate(v2.CATEGORIES.items()):
        rng = random.Random(1000 + ci)
        for j in range(50):
            diff = DIFFICULTIES[j % 3]
            q, steps, ans = _unique(lambda: gen(rng, diff), seen)
            _check(ans, steps)
            train.append({"question": q, "reasoning": "\n".join(steps), "answer": ans,
                          "section": "trace_sensitive" if cat == "word_problems" else "core",
                          "category": cat, "difficulty": diff})
    random.Random(7).shuffle(train)
    train = [{"id": f"train-{i:04d}", **r} for i, r in enumerate(train, start=1)]

    evals = []
    core_cats = [c for c in v2.CATEGORIES if c != "word_problems"]
    for ci, cat in enumerate(core_cats):
        rng = random.Random(5000 + ci)
        for j in range(6):
            diff = DIFFICULTIES[j % 3]
            q, steps, ans = _unique(lambda: v2.CATEGORIES[cat](rng, diff), seen)
            _check(ans, steps)
            evals.append({"prompt": q, "expected_answer": ans, "section": "core", "category": cat, "difficulty": diff})
    rng = random.Random(6000)
    for j in range(20):
        diff = ("medium", "hard")[j % 2]
        q, steps, ans = _unique(lambda: v2.word_problems(rng, diff), seen)
        _check(ans, steps)
        evals.append({"prompt": q, "expected_answer": ans, "section": "trace_sensitive",
                      "category": "word_problems", "difficulty": diff})
    rng = random.Random(7000)
    for j in range(20):
        q, ans, cat = _unique(lambda: v2.edge_case(rng, j), seen)
        _check(ans, [])
        evals.append({"prompt": q, "expected_answer": ans, "section": "edge_case", "category": cat,
                      "difficulty": DIFFICULTIES[j % 3]})
    evals = [{"id": f"eval-{i:03d}", **r} for i, r in enumerate(evals, start=1)]

    assert len(train) == 550 and len(evals) == 100
    assert not {norm(r["question"]) for r in train} & {norm(r["prompt"]) for r in evals}
    return train, evals


# --- v3 ---------------------------------------------------------------------------------------

def v3_domains(only: list[str] | None = None) -> list:
    """The v3 domain modules of `gen/` (those defining SECTION), by file name; `only` names some
    (`--domains`, to work on one domain: the committed files hold them all)."""
    names = sorted(p.stem for p in (HERE / "gen").glob("*.py") if not p.stem.startswith("_"))
    mods = [importlib.import_module(f"gen.{n}") for n in names if only is None or n in only]
    return [m for m in mods if hasattr(m, "SECTION")]


def generate_v3(only: list[str] | None = None) -> tuple[list[dict], list[dict]]:
    """Training records first, then the eval items, each category from its own seeded draws; a
    question is never drawn twice, so no eval prompt equals a training question (normalised)."""
    seen: set[str] = set()
    train, evals = [], []
    for rows, split, count in ((train, "train", V3_TRAIN_PER_CATEGORY), (evals, "eval", V3_EVAL_PER_CATEGORY)):
        for mod in v3_domains(only):
            for cat, gen in mod.CATEGORIES.items():
                rng = random.Random(f"v3/{split}/{cat}")
                for j in range(count):
                    diff = DIFFICULTIES[j % 3]
                    q, steps, ans = _unique(lambda: gen(rng, diff), seen)
                    _check_v3(ans, steps)
                    rows.append({"question": q, "reasoning": "\n".join(steps), "answer": ans,
                                 "section": mod.SECTION, "category": cat, "difficulty": diff})
    random.Random(8).shuffle(train)
    train = [{"id": f"v3-train-{i:04d}", **r} for i, r in enumerate(train, start=1)]
    evals = [{"id": f"v3-eval-{i:03d}", "prompt": r["question"], "expected_answer": r["answer"],
              "section": r["section"], "category": r["category"], "difficulty": r["difficulty"]}
             for i, r in enumerate(evals, start=1)]
    return train, evals


# --- files ------------------------------------------------------------------------------------

def dumps(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write(out_dir: Path, only: list[str] | None = None) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for (train, evals), names in ((generate(), (TRAIN_FILE, EVAL_FILE)),
                                  (generate_v3(only), (V3_TRAIN_FILE, V3_EVAL_FILE))):
        (out_dir / names[0]).write_text(dumps(train), encoding="utf-8")
        (out_dir / names[1]).write_text(dumps(evals), encoding="utf-8")


def stats() -> str:
    lines = []
    for version, (train, evals) in (("v2", generate()), ("v3", generate_v3())):
        for name, rows in (("train", train), ("eval", evals)):
            lines.append(f"{version} {name}: {len(rows)} rows")
            for key in ("section", "category", "difficulty"):
                lines.append(f"  {key}: " + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r[key] for r in rows).items())))
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=HERE)
    ap.add_argument("--stats", action="store_true", help="print counts per section/category/difficulty")
    ap.add_argument("--domains", help="v3 from these gen/ modules only, comma-separated (for working on one)")
    args = ap.parse_args()
    only = args.domains.split(",") if args.domains else None
    if args.stats:
        print(stats())
    else:
        write(args.out_dir, only)
        print(f"wrote {TRAIN_FILE}, {EVAL_FILE}, {V3_TRAIN_FILE} and {V3_EVAL_FILE} in {args.out_dir}")
