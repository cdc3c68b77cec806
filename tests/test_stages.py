"""The stage harness (tunix_nb.stages) on literal steps and a real run dir: the row of each stage
kind (columns, order, rounding, tokens/s, elapsed), rows every log_every steps and at the last,
the log line, the resume offset, the time-budget record, and a TrainResult from the rows it held."""

import json
import logging
import math

import pytest

from tunix_nb import evidence, stages
from tunix_nb.config import load_config

SFT_STEP = dict(loss=2.123456789, lr=1.23456789e-7, grad_norm=0.5, tokens=300, target_tokens=120)


@pytest.fixture
def run(tmp_path):
    cfg = load_config(None, [f"output.root={tmp_path}", "output.run_id=r"])
    return evidence.Run.create(cfg, plan={}, model_source={}, datasets={})


def rows(run):
    return evidence.read_jsonl(run.dir / "metrics.jsonl")


def test_an_sft_row_in_its_order_rounded_with_tokens_per_s_and_elapsed(run):
    stage = stages.Stage(run, stages.SFT, budget=stages.Budget(None, stage_start=100.0))
    with stage.steps(3):
        row = stage.step(1, seconds=2.0, at=112.5, **SFT_STEP)
    assert list(row) == ["stage", "step", "loss", "lr", "grad_norm", "tokens", "target_tokens", "tokens_per_s",
                         "elapsed_s"]
    assert row == {"stage": "sft", "step": 1, "loss": 2.123457, "lr": 1.23456789e-7, "grad_norm": 0.5, "tokens": 300,
                   "target_tokens": 120, "tokens_per_s": 150.0, "elapsed_s": 12.5}
    assert rows(run) == [row]


def test_a_grpo_row_puts_each_reward_after_the_total_in_the_order_given(run):
    stage = stages.Stage(run, stages.GRPO)
    with stage.steps(1):
        row = stage.step(1, seconds=0.5, loss=0.1, lr=1e-3, grad_norm=1.0, kl=0.01, reward_mean=0.25,
                         reward_std=0.5, completion_len_mean=12.0, tokens=96, **{"reward/b": 1.0, "reward/a": 0.0})
    assert list(row) == ["stage", "step", "loss", "lr", "grad_norm", "reward_mean", "reward_std", "reward/b",
                         "reward/a", "kl", "completion_len_mean", "tokens", "tokens_per_s", "elapsed_s"]
    assert row["tokens_per_s"] == 192.0


def test_a_figure_the_kind_has_no_column_for_is_refused(run):
    stage = stages.Stage(run, stages.SFT)
    with stage.steps(1), pytest.raises(ValueError, match="no column"):
        stage.step(1, seconds=1.0, reward_mean=1.0, **SFT_STEP)
    assert rows(run) == []


def test_rows_every_log_every_steps_and_at_the_last_with_one_log_line_each(run, caplog):
    stage = stages.Stage(run, stages.SFT, log_every=2)
    with caplog.at_level(logging.INFO, logger=run.log.name), stage.steps(5):
        for step in range(1, 6):
            stage.step(step, seconds=1.0, **{**SFT_STEP, "loss": float(step)})
    assert [r["step"] for r in rows(run)] == [2, 4, 5]
    lines = [r.getMessage() for r in caplog.records if " step " in r.getMessage()]
    assert lines == [f"sft step {n}/5 loss {n:.4f} lr 1.23e-07 grad_norm 0.500 tokens/s 300" for n in (2, 4, 5)]
    result = stage.result("model", steps=5, checkpoint=None)
    # The losses of the first and last steps, logged or not; the rows are the logged ones.
    assert (result.first_loss, result.final_loss, result.tokens) == (1.0, 5.0, 1500)
    assert [r["step"] for r in result.rows] == [2, 4, 5]


def test_a_resumed_stage_holds_the_earlier_rows_and_its_clock_runs_on(run):
    first = stages.Stage(run, stages.SFT, budget=stages.Budget(None, stage_start=0.0))
    with first.steps(4):
        first.step(1, seconds=1.0, at=10.0, **{**SFT_STEP, "loss": 3.0})
        first.step(2, seconds=1.0, at=20.0, **{**SFT_STEP, "loss": 2.0})
    # Another process: a new clock, the stage resumed after step 2.
    again = stages.Stage(run, stages.SFT, budget=stages.Budget(None, stage_start=1000.0))
    with again.steps(4, resumed=2):
        again.step(3, seconds=1.0, at=1005.0, **{**SFT_STEP, "loss": 1.5})
        again.step(4, seconds=1.0, at=1006.0, **{**SFT_STEP, "loss": 1.0})
    assert [(r["step"], r["elapsed_s"]) for r in rows(run)] == [(1, 10.0), (2, 20.0), (3, 25.0), (4, 26.0)]
    result = again.result("model", steps=4, checkpoint=None)
    assert (result.first_loss, result.final_loss, result.tokens) == (3.0, 1.0, 1200)
    assert result.rows == rows(run)


def test_only_the_stages_own_rows_are_resumed(run):
    sft = stages.Stage(run, stages.SFT)
    with sft.steps(1):
        sft.step(1, seconds=1.0, **SFT_STEP)
    grpo = stages.Stage(run, stages.GRPO)
    with grpo.steps(2, resumed=1):
        pass
    result = grpo.result("model", steps=1, checkpoint=None)
    assert result.rows == [] and math.isnan(result.first_loss) and result.tokens == 0


def test_the_time_budget_is_recorded_per_stage_in_the_manifest(run, caplog):
    budget = stages.Budget(seconds=600.0)
    sft = stages.Stage(run, stages.SFT, budget=budget.stage())
    with sft.steps(3):
        sft.step(1, seconds=1.0, **SFT_STEP)
    sft.result("model", steps=3, checkpoint=None)
    grpo = stages.Stage(run, stages.GRPO, budget=budget.stage())
    with caplog.at_level(logging.WARNING, logger=run.log.name), grpo.steps(8):
        grpo.stop(before=3)
    grpo.result("model", steps=2, checkpoint=None)
    record = json.loads((run.dir / "run_manifest.json").read_text())["time_budget"]
    assert record["minutes"] == 10.0
    assert {k: record["sft"][k] for k in ("planned_steps", "trained_steps", "capped")} == {
        "planned_steps": 3, "trained_steps": 3, "capped": False}
    assert {k: record["grpo"][k] for k in ("planned_steps", "trained_steps", "capped")} == {
        "planned_steps": 8, "trained_steps": 2, "capped": True}
    assert "time budget: stopping GRPO after step 2 of 8" in caplog.text


@pytest.mark.parametrize("elapsed,step_s,queued,ok", [
    (0.0, None, 5, True),      # not measured yet
    (90.0, 2.0, 2, True),      # 90 + (2 + 2) * 2 = 98 <= 100
    (93.0, 2.0, 2, False),     # 93 + 8 = 101 > 100
    (50.0, 20.0, 1, False),    # 50 + (1 + 2) * 20 = 110 > 100
])
def test_may_start_step(elapsed, step_s, queued, ok):
    assert stages.may_start_step(budget_s=100.0, elapsed_s=elapsed, step_s=step_s, queued=queued) is ok
