"""The preference stage on the PyTorch backend, whole, through the CLI on the tiny model: SFT, then
SimPO on on-policy pairs (sampled from the SFT model, scored by the configured rewards); and DPO alone
on those pairs read back as a pairs file. The pairs file validates; every pair's chosen reward is above
its rejected one; the held-out margin rises; DPO's first step, where the policy is its own
reference, has the loss ln 2 exactly; rows, scorecard, curve and report carry the stage; SIGKILL
mid-stage and the same command resume it to the uninterrupted run's rows and weights."""

import json
import math
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, SMOKE, run_cli, wait_for
from tunix_nb import checkpoints, rewards
from tunix_nb.config import load_config
from tunix_nb.evidence import read_jsonl
from tunix_nb.inputs import load_records

SFT = ["--set", "training.epochs=null", "--set", "training.max_steps=30", "--set", "eval.limit=6",
       "--set", "eval.max_new_tokens=32", "--set", "eval.batch_size=6"]
PREFERENCE = ["--set", "preference.max_steps=8", "--set", "preference.prompt_limit=16", "--set",
              "preference.max_new_tokens=48", "--set", "preference.learning_rate=1e-3", "--set", "preference.held_out=4"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("pref")
    res = run_cli("run", "--config", str(SMOKE), "--run-id", "simpo", "--set", f"output.root={root}", *SFT, *PREFERENCE)
    assert res.returncode == 0, res.stderr[-3000:]
    dpo = ["--set", "preference.algorithm=dpo", "--set", f"preference.pairs_file={root / 'simpo' / 'preference_pairs.jsonl'}",
           "--set", "preference.max_steps=3", "--set", "training.max_steps=0"]  # DPO alone, on the base model
    res = run_cli("run", "--config", str(SMOKE), "--run-id", "dpo", "--set", f"output.root={root}", *SFT, *PREFERENCE, *dpo)
    assert res.returncode == 0, res.stderr[-3000:]
    return root


def manifest(run_dir):
    return json.loads((run_dir / "run_manifest.json").read_text())


def test_on_policy_pairs_validate_and_prefer_the_higher_reward(runs, tiny_tokenizer):
    run_dir = runs / "simpo"
    path = run_dir / "preference_pairs.jsonl"
    res = run_cli("validate-data", str(path), "--kind", "pairs")
    assert res.returncode == 0, res.stderr
    cfg = load_config(run_dir / "config.yaml")
    rows = read_jsonl(path)
    info = manifest(run_dir)["preference"]
    assert len(rows) == info["pairs"] >= 8 and info["ties_dropped"] == 16 - len(rows)
    answers = {r.id: r.answer for r in load_records(ROOT / cfg.data.train_file, "train")}
    for r in rows:
        scores = rewards.score_all(["q"] * 2, [r["chosen"], r["rejected"]], cfg.preference.rewards,
                                   answer=[answers[r["id"]]] * 2, max_tokens=48, soft_tokens=48 // 6,
                                   count=rewards.token_counter(tiny_tokenizer))["total"]
        assert scores[0] > scores[1], r


def test_simpo_raises_the_held_out_margin_and_reports_the_stage(runs):
    run_dir = runs / "simpo"
    m = manifest(run_dir)
    info = m["preference"]
    assert info["algorithm"] == "simpo" and info["skipped_too_long"] == 0
    # the settings SimPO's loss read (β resolved from null), none it did not
    assert info["beta"] == 2.0 and info["gamma"] == load_config(run_dir / "config.yaml").preference.gamma
    assert "lambda_orpo" not in info
    assert info["held_out_pairs"] == 4 and info["training_pairs"] == info["pairs"] - 4
    assert info["held_out_margin_after"] > info["held_out_margin_before"], info
    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("stage") == "preference"]
    assert [r["step"] for r in rows] == list(range(1, 9))
    assert set(rows[0]) >= {"loss", "lr", "grad_norm", "reward_chosen", "reward_rejected", "margin", "accuracy"}
    assert rows[-1]["margin"] > rows[0]["margin"]
    assert set(m["eval_stages"]) == {"sft", "preference"}
    summary = json.loads((run_dir / "eval_summary.json").read_text())
    assert set(summary["stages"]) == {"sft", "preference"}
    assert (run_dir / "preference_curve.png").stat().st_size > 10_000
    assert "Preference stage" in (run_dir / "report.html").read_text()
    # the last stage owns checkpoints/ (the judges' CKPT_DIR), SFT's beside it
    assert checkpoints.torch_dir(run_dir / "checkpoints", 8).is_dir()
    assert checkpoints.torch_dir(run_dir / "checkpoints" / "sft", 30).is_dir()


def test_dpo_on_a_pairs_file_starts_at_ln2_against_its_own_reference(runs):
    run_dir = runs / "dpo"
    m = manifest(run_dir)
    assert m["datasets"]["preference_pairs"]["rows_used"] == manifest(runs / "simpo")["preference"]["pairs"]
    assert not (run_dir / "preference_pairs.jsonl").exists()  # a pairs file is the data, not a plan
    reference = read_jsonl(run_dir / "preference_reference.jsonl")
    assert len(reference) == m["preference"]["training_pairs"]
    rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("stage") == "preference"]
    # the policy is its own reference at step 1: every log-ratio is 0, so the loss is -log σ(0)
    assert rows[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert rows[0]["margin"] == pytest.approx(0.0, abs=1e-5)
    assert rows[-1]["margin"] > 0


def test_sigkill_mid_preference_then_resume_trains_like_the_uninterrupted_run(runs, tmp_path):
    """Killed after the preference stage's step 3 (checkpoints every 2 steps), the same command resumes
    from step 2 with the pairs it wrote (not sampled again) and the margin measured before: the rows
    and the final weights are the uninterrupted run's ("simpo", the same recipe)."""
    from safetensors.numpy import load_file

    args = ["run", "--config", str(SMOKE), "--run-id", "killed", "--set", f"output.root={tmp_path}", *SFT,
            *PREFERENCE, "--set", "preference.save_every=2"]
    proc = subprocess.Popen([sys.executable, "-m", "tunix_nb", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    metrics = tmp_path / "killed" / "metrics.jsonl"
    logged = lambda: metrics.read_text().count('"stage": "preference"') if metrics.exists() else 0  # noqa: E731
    wait_for(proc, lambda: logged() >= 3, "preference step 3", timeout=300)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    pairs = (tmp_path / "killed" / "preference_pairs.jsonl").read_text()
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr[-3000:]
    # step 3 logged, the checkpoint of step 4 not yet written (a slow poll may see step 4's, then 4 it is)
    assert re.search(r"resuming killed from sft step 30, preference step [24] ", res.stdout), res.stdout[-2000:]
    assert "sample pairs" not in res.stderr and (tmp_path / "killed" / "preference_pairs.jsonl").read_text() == pairs
    got, want = (manifest(d)["preference"] for d in (tmp_path / "killed", runs / "simpo"))
    assert got == want  # the same pairs, split and margins
    got, want = ([r for r in read_jsonl(d / "metrics.jsonl") if r["stage"] == "preference"]
                 for d in (tmp_path / "killed", runs / "simpo"))
    assert [r["step"] for r in got] == list(range(1, 9))  # each step once
    assert [r["loss"] for r in got] == pytest.approx([r["loss"] for r in want], abs=1e-5)
    a, b = (load_file(checkpoints.torch_dir(d / "checkpoints", 8) / "model.safetensors")
            for d in (tmp_path / "killed", runs / "simpo"))
    assert max(float(np.max(np.abs(a[k] - b[k]))) for k in a) < 1e-5
