"""The order GRPO meets its prompts in (`grpo.curriculum`; IDEA-E, 3rd in the Tunix Hack, trained
with a curriculum-guided GRPO). Each prompt gets a level; every epoch of the prompt schedule
(`data.plan_prompt_steps`) goes from the lowest level up, shuffled by the seed within a level.

- `difficulty`: the rows' own label, easy 0, medium 1, hard 2 (any other label after them);
- `pass_rate`: the model GRPO starts from (after SFT), greedy on each prompt and scored by
  `scoring` (the rule the rewards use): 0 answers it right, 1 is well-formed but wrong, 2 is neither.

The levels are planned once, before the first GRPO step, and written to `grpo_curriculum.jsonl` in
the run dir (the manifest keeps the count per level); a resumed run reads them back instead of
measuring again, so the order survives a kill.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable, Sequence

from . import evidence, scoring
from .data import EvalRecord, GrpoPrompt
from .schema import DEFAULTS

FILE = "grpo_curriculum.jsonl"
DIFFICULTY_LEVEL = {"easy": 0, "medium": 1, "hard": 2}


def by_difficulty(prompts: Sequence[GrpoPrompt]) -> list[int]:
    return [DIFFICULTY_LEVEL.get(p.difficulty, len(DIFFICULTY_LEVEL)) for p in prompts]


def as_eval_records(prompts: Sequence[GrpoPrompt]) -> list[EvalRecord]:
    """The prompts as eval items, so a backend's `predict` and `scoring` take them as they are."""
    return [EvalRecord(id=p.id, prompt=p.question, expected_answer=p.answer, section=DEFAULTS["section"],
                       category=DEFAULTS["category"], difficulty=p.difficulty) for p in prompts]


def by_pass_rate(prompts: Sequence[GrpoPrompt], predictions: list[dict]) -> list[int]:
    rows, _ = scoring.score_predictions(predictions, [asdict(r) for r in as_eval_records(prompts)])
    scored = {r["id"]: r for r in rows}
    return [0 if scored[p.id]["correct"] else 1 if scored[p.id]["format_ok"] else 2 for p in prompts]


def plan(kind: str, prompts: list[GrpoPrompt], run: evidence.Run,
         predict: Callable[[list[EvalRecord]], list[dict]]) -> list[GrpoPrompt]:
    """The prompts with their levels (unchanged for `none`). `predict(records)`: the current model's
    greedy predictions, called only for `pass_rate` and only when no earlier plan is on file."""
    if kind == "none":
        return prompts
    path = run.dir / FILE
    levels = _read(path, prompts)
    if levels is None:
        levels = by_difficulty(prompts) if kind == "difficulty" else by_pass_rate(prompts, predict(as_eval_records(prompts)))
        evidence.write_jsonl_atomic(path, [{"id": p.id, "difficulty": p.difficulty, "level": level}
                                           for p, level in zip(prompts, levels)])
        counts = Counter(levels)
        run.update(curriculum={"kind": kind, "file": FILE, "prompts_per_level": {str(k): counts[k] for k in sorted(counts)}})
    return [replace(p, level=level) for p, level in zip(prompts, levels)]


def _read(path: Path, prompts: Sequence[GrpoPrompt]) -> list[int] | None:
    """The levels an earlier start of this run planned, when they cover exactly these prompts."""
    if not path.is_file():
        return None
    planned = {r["id"]: r["level"] for r in evidence.read_jsonl(path)}
    return [planned[p.id] for p in prompts] if planned.keys() == {p.id for p in prompts} else None
