"""The Tunix GRPO stage in whole runs: a real SFT -> GRPO run on the tiny model (the Kaggle
notebook's, under papermill) leaves both stages' rows, scorecards and checkpoints, with the largest
CKPT_DIR/actor/<step> GRPO's; a CLI run killed mid-GRPO is continued by a new session's run (its dir
read-only) to the same LoRA params. Real JAX, real Tunix, real subprocesses. (The objective and learning itself: test_tunix_grpo_learning.py.)"""

import json
import signal
import subprocess
import sys

import pytest

from conftest import GRPO_FAST as FAST
from conftest import (FRESH_NOTEBOOK, GRPO_SMOKE, GRPO_STEPS, JUDGES_CELLS, ROOT, SFT_STEPS, judges_output, listing,
                      make_read_only, max_difference, run_cli, tunix_params, wait_for)
from tunix_nb.config import load_config
from tunix_nb.evidence import read_jsonl


def command(root, run_id):
    # No base scorecard: the resume is compared with the notebook's run on its training only.
    return ["run", "--config", str(GRPO_SMOKE), "--run-id", run_id, "--set", f"output.root={root}", *FAST,
            "--set", "eval.compare_base=false"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir):
    return tmp_path_factory.mktemp("grpo-runs")


@pytest.fixture(scope="module")
def grpo_run(grpo_notebook):
    """The Kaggle notebook's run of the GRPO smoke preset (conftest): the CLI and the notebook run
    the same stages, and the resume test below checks them against each other."""
    return grpo_notebook[1]


def test_sft_then_grpo_rows_each_step_once(grpo_run):
    rows = read_jsonl(grpo_run / "metrics.jsonl")
    assert [r["step"] for r in rows if r["stage"] == "sft"] == list(range(1, SFT_STEPS + 1))
    grpo = [r for r in rows if r["stage"] == "grpo"]
    assert [r["step"] for r in grpo] == list(range(1, GRPO_STEPS + 1))
    for r in grpo:
        assert {"reward_mean", "reward_std", "kl", "completion_len_mean", "tokens_per_s", "elapsed_s",
                "reward/format_exact", "reward/answer_correct", "reward/overlong"} <= set(r)
        assert 0 < r["completion_len_mean"] and r["kl"] >= 0
        # The total is the weighted sum of the rewards logged one by one.
        weights = load_config(GRPO_SMOKE).grpo.rewards
        assert r["reward_mean"] == pytest.approx(sum(w * r[f"reward/{k}"] for k, w in weights.items()), abs=1e-4)
    assert grpo[-1]["elapsed_s"] > grpo[0]["elapsed_s"]


def test_the_largest_judged_step_is_grpos(grpo_run):
    actor = grpo_run / "checkpoints" / "actor"
    steps = sorted(int(p.name) for p in actor.iterdir() if p.name.isdigit())
    assert steps[-1] == GRPO_STEPS and (actor / str(GRPO_STEPS) / "model_params").is_dir()
    sft = sorted(int(p.name) for p in (grpo_run / "checkpoints" / "sft" / "actor").iterdir() if p.name.isdigit())
    assert sft[-1] == SFT_STEPS  # SFT's checkpoints stay out of the judged actor/ folder
    manifest = json.loads((grpo_run / "run_manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["time_budget"]["sft"]["trained_steps"] == SFT_STEPS
    assert manifest["time_budget"]["grpo"]["trained_steps"] == GRPO_STEPS


def test_every_stage_is_scored_on_the_same_items(grpo_run):
    summary = json.loads((grpo_run / "eval_summary.json").read_text())
    assert list(summary["stages"]) == ["base", "sft", "grpo"]
    assert summary["overall"] == summary["stages"]["grpo"]["overall"]
    ids = {stage: [r["id"] for r in read_jsonl(grpo_run / f"predictions_{stage}.jsonl")] for stage in summary["stages"]}
    assert ids["base"] == ids["sft"] == ids["grpo"] and len(ids["base"]) == 6
    assert (grpo_run / "reward_curve.png").stat().st_size > 0


def test_the_judges_restore_grpos_model_in_a_fresh_process(grpo_run, tiny_tokenizer):
    final = read_jsonl(grpo_run / "predictions.jsonl")
    sft = {r["id"]: r["prediction"] for r in read_jsonl(grpo_run / "predictions_sft.jsonl")}
    notebook = FRESH_NOTEBOOK.replace("cfg.data.max_seq_len", "cfg.grpo.max_prompt_len")  # what judge_handles gives
    proc = subprocess.run([sys.executable, "-c", notebook + JUDGES_CELLS, str(grpo_run)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          input="".join(json.dumps({"prompt": p["prompt"]}) + "\n" for p in final))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = judges_output(proc.stdout)
    assert out["step"] == out["max_steps"] == GRPO_STEPS
    n = 24  # the run's own evaluation generated eval.max_new_tokens=24 tokens per prompt
    restored = [tiny_tokenizer.decode(t[:n], skip_special_tokens=True) for t in out["restored"]]
    assert restored == [p["prediction"] for p in final]  # the judges get GRPO's model, not SFT's
    changed = [i for i, p in enumerate(final) if p["prediction"] != sft[p["id"]]]
    assert changed, "GRPO changed no prediction: the test could not tell the stages apart"
    assert all(restored[i] != sft[final[i]["id"]] for i in changed)


def test_eval_of_the_finished_tunix_run_equals_its_final_predictions(grpo_run, tmp_path):
    """`tunix-nb eval --model RUN_DIR` restores GRPO's final LoRA params (orbax) as the judges do and
    scores the same items with the same settings: the run's own final predictions, item for item."""
    res = run_cli("eval", "--model", str(grpo_run), "--eval", "training/data/eval_v2.jsonl", "--run-id", "ev",
                  "--set", f"output.root={tmp_path}")
    assert res.returncode == 0, res.stderr[-3000:]
    ev = tmp_path / "ev"
    assert read_jsonl(ev / "predictions.jsonl") == read_jsonl(grpo_run / "predictions.jsonl")
    ours, theirs = (json.loads((d / "eval_summary.json").read_text()) for d in (ev, grpo_run))
    assert ours["overall"] == theirs["overall"] and ours["per_category"] == theirs["per_category"]
    evaluates = json.loads((ev / "run_manifest.json").read_text())["evaluates"]
    assert evaluates == {"model": str(grpo_run.resolve()), "stage": "grpo", "checkpoint_step": GRPO_STEPS}


def test_sigkill_mid_grpo_then_a_new_session_continues_it(runs, grpo_run):
    """Both stages carried into the next session: SFT's final checkpoint and GRPO's newest whole one
    (the in-place resume of a killed run: test_tunix_sft, test_torch_grpo)."""
    args = [sys.executable, "-m", "tunix_nb", *command(runs, "killed")]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = runs / "killed" / "metrics.jsonl"
    grpo_rows = lambda: [l for l in metrics.read_text().splitlines() if '"stage": "grpo"' in l] if metrics.exists() else []
    wait_for(proc, lambda: len(grpo_rows()) >= 2, "GRPO step 2", timeout=400)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = make_read_only(runs / "killed")
    res = run_cli(*command(runs, "next"), "--continue-from", str(runs / "killed"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"continuing killed ({runs / 'killed'}) from sft step {SFT_STEPS}, grpo step" in res.stdout
    assert listing(runs / "killed") == before
    rows = read_jsonl(runs / "next" / "metrics.jsonl")
    assert [r["step"] for r in rows if r["stage"] == "sft"] == list(range(1, SFT_STEPS + 1))
    assert [r["step"] for r in rows if r["stage"] == "grpo"] == list(range(1, GRPO_STEPS + 1))  # each step once
    ref = {r["step"]: r for r in read_jsonl(grpo_run / "metrics.jsonl") if r["stage"] == "grpo"}
    for r in rows:
        if r["stage"] == "grpo":  # the same prompts, rollouts and rewards as the uninterrupted run
            assert r["reward_mean"] == pytest.approx(ref[r["step"]]["reward_mean"], abs=1e-6)
    assert max_difference(tunix_params(runs / "next", GRPO_STEPS), tunix_params(grpo_run, GRPO_STEPS)) < 1e-5
