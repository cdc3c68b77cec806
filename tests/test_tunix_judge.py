"""The winners' recipe preset on the CPU (training/configs/cpu_tiny_rubric.yaml: SFT -> SimPO on
on-policy pairs -> GRPO with the judge reward, prompts by pass rate), with the judge on its own
sub-mesh (grpo.judge_devices) of 8 fake CPU devices: the policy (and its reference) on the first 4,
the judge on the last 4, every array of each on its own side. Every stage is scored, and the judges'
restore of the finished run gives the final model. Test-sized: fewer steps, and the tiny model as the
judge (the packaged 270M judges in tests/test_judge.py); a subprocess, since JAX fixes the device
count when it starts."""

import json
import os
import subprocess
import sys

from conftest import ROOT, XLA_TEST_FLAGS
from tunix_nb.evidence import read_jsonl

PRESET = ROOT / "training" / "configs" / "cpu_tiny_rubric.yaml"
SCRIPT = """
import json, sys
import jax
from flax import nnx
from tunix_nb import pipeline
from tunix_nb.config import load_config

s = pipeline.prepare(load_config(sys.argv[1], sys.argv[2:]))
pipeline.start(s)
for stage in (pipeline.sft, pipeline.preference, pipeline.grpo, pipeline.evaluate, pipeline.finish):
    stage(s)

def devices(model):
    return sorted({d.id for leaf in jax.tree.leaves(nnx.state(model)) for d in leaf.devices()})

# the judges' restore: a fresh policy, the largest CKPT_DIR/actor/<step> restored into it, greedy again
fresh = s.backend.load_policy(s.cfg, s.source, s.plan)
step = s.backend.restore(fresh, s.run.dir / "checkpoints", s.cfg)
restored = s.backend.predict(fresh, s.tokenizer, s.eval_records, cfg=s.cfg, plan=s.plan)
print("RESULT " + json.dumps({"policy": devices(s.policy.model), "judge": devices(s.judge.next_logprobs.model),
                              "mesh": sorted(d.id for d in s.policy.mesh.devices.flat), "restored_step": step,
                              "restored": {r["id"]: r["prediction"] for r in restored}}))
"""
SMALL = ["training.max_steps=3", "training.warmup_steps=1", "preference.max_steps=2", "preference.prompt_limit=6",
         "preference.max_new_tokens=12", "preference.held_out=2", "preference.pairs_per_step=4", "grpo.max_steps=2",
         "grpo.prompt_limit=4", "grpo.max_new_tokens=12", "grpo.overlong_soft_tokens=4", "grpo.save_every=null",
         "eval.limit=4", "eval.max_new_tokens=12", "eval.batch_size=4", "eval.compare_base=false",
         "grpo.judge_source=builtin:tiny-gemma3", "grpo.judge_devices=4"]


def test_the_recipe_runs_every_stage_with_the_judge_on_its_own_devices(tmp_path, tiny_model_dir):
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count=8 {XLA_TEST_FLAGS}"}
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(PRESET), *SMALL, f"output.root={tmp_path}",
                          "output.run_id=recipe"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(next(line for line in res.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert out["mesh"] == [0, 1, 2, 3] and out["policy"] == [0, 1, 2, 3]  # policy + reference: one backbone
    assert out["judge"] == [4, 5, 6, 7]
    run_dir = tmp_path / "recipe"
    manifest = json.loads((run_dir / "run_manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["curriculum"]
    assert list(manifest["eval_stages"]) == ["sft", "preference", "grpo"]  # a scorecard per trained stage
    rows = read_jsonl(run_dir / "metrics.jsonl")
    assert [r["step"] for r in rows if r["stage"] == "preference"] == [1, 2]
    grpo = [r for r in rows if r["stage"] == "grpo"]
    assert len(grpo) == 2 and all(0.0 <= r["reward/judge"] <= 1.0 and "reward/trace" in r for r in grpo)
    # the judges' restore: the largest CKPT_DIR/actor/<step> is GRPO's, and it gives the final model
    assert out["restored_step"] == 2
    assert out["restored"] == {r["id"]: r["prediction"] for r in read_jsonl(run_dir / "predictions.jsonl")}
