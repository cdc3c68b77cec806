"""The bench scripts run end to end on the tiny model (small sizes) and write the JSON they
promise. Their figures are not checked against thresholds: benchmarks are not timed tests."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT


def bench(script, *args, tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args, "--out-dir", str(tmp_path),
                          "--name", "out", "--device", "cpu"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout, json.loads((tmp_path / "out.json").read_text())


@pytest.fixture(scope="module")
def gpu_suite_dry_run(tmp_path_factory, tiny_model_dir):
    """The GPU suite's CPU dry run, once: every part on the tiny model, on sample sets prepared
    with the tiny tokenizer (its own folder: the GPU's are prepared with Gemma 3's)."""
    tmp = tmp_path_factory.mktemp("gpu_suite")
    env = {**os.environ, "BENCH_SAMPLES_DIR": str(tmp / "samples")}
    prep = subprocess.run([sys.executable, str(ROOT / "bench" / "prepare_samples.py"), "--tiny", "--limit", "300"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert prep.returncode == 0, prep.stderr[-3000:]
    # The tunix part's dry run (JAX compiles five step shapes, ~1 minute here) is left to
    # `python bench/gpu_suite.py --dry-run`: make test stays under 10 minutes.
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_suite.py"), "--dry-run", "--parts",
                          "train,eval,memory", "--out-dir", str(tmp), "--name", "out"], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout, json.loads((tmp / "out.json").read_text())


@pytest.mark.slow
def test_gpu_suite_dry_run_measures_every_part_on_both_sample_sets(gpu_suite_dry_run):
    out, result = gpu_suite_dry_run
    assert result["dry_run"] and list(result["parts"]) == ["train", "eval", "memory"]
    train = result["parts"]["train"]["result"]
    assert train["window_seconds"] == 1.5 and set(train["sample_sets"]) == {"records", "anchor"}
    assert [(r["row"], r["samples"]) for r in train["rows"]] == [
        ("tunix-nb", "records"), ("tunix-nb", "anchor"), ("hf-trainer", "records"), ("hf-trainer", "anchor")]
    for r in train["rows"]:  # windows of a fixed duration after the warm-up steps
        assert r["status"] == "ok" and len(r["window_tokens_per_s"]) == 1 and r["steps_measured"] >= 2
        assert r["tokens_per_s"] > r["samples_per_s"] > 0 and r["mfu"] > 0 and r["peak_memory_gb"] is None
    ours = next(r for r in train["rows"] if r["row"] == "tunix-nb")
    # flex attention asked for; a CPU trains with the dense kernel of the same numerics
    assert "packed <= 1024" in ours["note"] and "chunk 256" in ours["note"] and ours["note"].endswith("sdpa")
    profile = ours["profile"]  # after the windows: where a step's time goes, op by op
    assert profile["steps"] == 2 and profile["top_ops"] and "aten::mm" in {op["op"] for op in profile["top_ops"]}
    assert 0 < profile["top_ops"][0]["share_of_busy"] <= 1 and "profile: step" in out
    ev = {r["row"]: r for r in result["parts"]["eval"]["result"]["rows"]}
    assert ev["tunix-nb"]["agreement"] == 1.0  # fp32 greedy: token for token HF's
    assert ev["tunix-nb"]["profile"]["runs"] == 1 and ev["tunix-nb"]["profile"]["top_ops"]  # what limits our decode
    assert ev["tunix-nb"]["new_tokens"] == 6 * 12 and ev["tunix-nb-rollout"]["new_tokens"] == 16 * 12  # forced
    memory = result["parts"]["memory"]["result"]  # CUDA's allocator only
    assert memory["status"] == "skipped" and memory["note"] == "needs CUDA" and "rows" not in memory
    for s in ("records", "anchor"):  # the summary: each goal's figure beside its goal
        figures = result["summary"][f"sft/{s}"]
        assert figures["sft_vs_hf"] > 0 and figures["met"].keys() == {"sft_mfu", "sft_vs_hf"}
    assert result["summary"]["eval"]["eval_equal"] == 1.0 and "eval_vs_hf" in out


@pytest.mark.slow
def test_grpo_step_bench_times_both_halves_of_our_step_beside_the_floor(tmp_path, tiny_model_dir):
    # TRL is a bench-only dependency: where it is not installed its row says so instead of failing.
    out, result = bench("grpo_step.py", "--model", "tiny", "--steps", "2", "--set", "grpo.max_new_tokens=8", "--set", "grpo.overlong_soft_tokens=4",
                        tmp_path=tmp_path)
    assert result["floor"]["read_s"] > 0 and result["floor"]["weights_gb"] > 0
    ours = next(r for r in result["rows"] if r["row"] == "tunix-nb")
    assert ours["status"] == "ok" and len(ours["steps"]) == 2
    for step in ours["steps"]:
        assert 0 < step["rollout_s"] < step["step_s"] and 0 < step["update_s"] < step["step_s"]
        assert 0 < step["completion_tokens"] <= 8 * 8 and 1 <= step["decode_steps"] <= 8
        assert step["update_tokens"] > step["completion_tokens"]
    assert ours["decode_vs_floor"] == pytest.approx(ours["decode_step_s"] / result["floor"]["read_s"], rel=0.01)
    trl = next(r for r in result["rows"] if r["row"] == "trl-grpo")
    assert trl["status"] == "ok" or trl["note"] == "trl not installed"
    assert result["settings"]["num_generations"] == 4 and "tunix-nb" in out
