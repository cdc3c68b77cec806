"""The GRPO curriculum (grpo.curriculum) on literals and a real run dir: levels by difficulty and by
the scored greedy answers, every epoch of the prompt schedule from the lowest level up (and no
curriculum the schedule it always was), the plan written once and read back on resume."""

import json

import pytest

from conftest import SMOKE
from tunix_nb import curriculum
from tunix_nb.config import load_config
from tunix_nb.data import GrpoPrompt, plan_prompt_steps
from tunix_nb.evidence import Run

PROMPTS = [GrpoPrompt(id=f"p{i}", prompt=f"<turn>{q}", question=q, answer=a, prompt_tokens=5, difficulty=d)
           for i, (q, a, d) in enumerate([("1+1?", "2", "hard"), ("2+2?", "4", "easy"), ("3+3?", "6", "medium"),
                                          ("4+4?", "8", "easy"), ("5+5?", "10", "unknown"), ("6+6?", "12", "hard")])]


def test_levels_by_difficulty_put_unlabelled_rows_last():
    assert curriculum.by_difficulty(PROMPTS) == [2, 0, 1, 0, 3, 2]


def test_levels_by_pass_rate_follow_the_scorer():
    answer = "<reasoning>r</reasoning>\n<answer>{}</answer>"
    predictions = [{"id": "p0", "prediction": answer.format(2)}, {"id": "p1", "prediction": answer.format(5)},
                   {"id": "p2", "prediction": "6"}, {"id": "p3", "prediction": answer.format(8)},
                   {"id": "p4", "prediction": ""}, {"id": "p5", "prediction": answer.format("12")}]
    # right -> 0, well-formed but wrong -> 1, neither -> 2 (a bare "6" has no <answer> block: the
    # scorer extracts no answer from it, as it would not for the judges)
    assert curriculum.by_pass_rate(PROMPTS, predictions) == [0, 1, 2, 0, 2, 0]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_every_epoch_runs_from_the_lowest_level_up_and_no_curriculum_is_the_old_schedule(seed):
    levels = curriculum.by_difficulty(PROMPTS)
    steps = plan_prompt_steps(6, prompts_per_step=2, steps=9, seed=seed, levels=levels)  # three epochs
    stream = [i for step in steps for i in step]
    for epoch in range(3):
        order = stream[epoch * 6:(epoch + 1) * 6]
        assert sorted(order) == list(range(6)) and [levels[i] for i in order] == sorted(levels)
    assert plan_prompt_steps(6, prompts_per_step=2, steps=9, seed=seed, levels=[0] * 6) == \
        plan_prompt_steps(6, prompts_per_step=2, steps=9, seed=seed)


@pytest.fixture()
def run(tmp_path):
    cfg = load_config(SMOKE, [f"output.root={tmp_path}", "output.run_id=r"])
    return Run.create(cfg, plan={}, model_source={}, datasets={})


def test_the_plan_is_written_once_and_a_resume_reads_it_back(run):
    calls = []

    def predict(records):
        calls.append([r.id for r in records])
        return [{"id": r.id, "prediction": "<reasoning>x</reasoning>\n<answer>4</answer>"} for r in records]

    planned = curriculum.plan("pass_rate", PROMPTS, run, predict)
    assert calls == [[p.id for p in PROMPTS]]
    assert [p.level for p in planned] == [1, 0, 1, 1, 1, 1]  # only 2+2 is answered right
    rows = [json.loads(line) for line in (run.dir / curriculum.FILE).read_text().splitlines()]
    assert [(r["id"], r["level"]) for r in rows] == [(p.id, p.level) for p in planned]
    assert run.manifest["curriculum"] == {"kind": "pass_rate", "file": curriculum.FILE,
                                          "prompts_per_level": {"0": 1, "1": 5}}
    again = curriculum.plan("pass_rate", PROMPTS, run, lambda records: pytest.fail("measured twice"))
    assert again == planned and len(calls) == 1


def test_no_curriculum_leaves_the_prompts_and_the_run_dir_alone(run):
    assert curriculum.plan("none", PROMPTS, run, lambda records: pytest.fail("measured")) == PROMPTS
    assert not (run.dir / curriculum.FILE).exists() and "curriculum" not in run.manifest
