"""The bench scripts run end to end on the tiny model (small sizes) and write the JSON they
promise. Their figures are not checked against thresholds: benchmarks are not timed tests."""

import json
import subprocess
import sys

import pytest

from conftest import ROOT


def bench(script, *args, tmp_path):
    res = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args, "--out-dir", str(tmp_path),
                          "--name", "out", "--device", "cpu"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout, json.loads((tmp_path / "out.json").read_text())


@pytest.mark.slow
def test_train_throughput_bench_on_the_tiny_model(tmp_path, tiny_model_dir):
    out, result = bench("train_throughput.py", "--model", "tiny", "--rows", "hf-trainer,tunix-nb,tunix-nb-plain",
                        "--warmup", "1", "--windows", "2", "--window-steps", "1",
                        "--set", "training.packing=true", "--set", "training.loss_chunk_size=64",
                        "--set", "training.max_batch_tokens=512", tmp_path=tmp_path)
    assert [r["row"] for r in result["rows"]] == ["hf-trainer", "tunix-nb", "tunix-nb-plain"]
    assert result["matmul_ceiling_tflops"] > 0 and result["params"] > 1e6 and result["samples"] == 550
    for r in result["rows"]:
        assert r["status"] == "ok" and r["steps_measured"] == 2 and len(r["window_tokens_per_s"]) == 2
        assert r["tokens_per_s"] > r["samples_per_s"] > 0 and r["mfu"] > 0
        assert r["peak_memory_gb"] is None  # CPU: no CUDA allocator to ask
        assert r["row"] in out  # the printed table
    notes = {r["row"]: r["note"] for r in result["rows"]}
    assert "packed" in notes["tunix-nb"] and "chunk 64" in notes["tunix-nb"]
    assert "bucketed" in notes["tunix-nb-plain"] and "chunk off" in notes["tunix-nb-plain"]


def test_t4_memory_mode_says_it_needs_cuda(tmp_path):
    out, result = bench("train_throughput.py", "--t4-memory", tmp_path=tmp_path)
    assert "needs CUDA" in out and result["status"] == "skipped" and "rows" not in result


@pytest.mark.slow
def test_eval_throughput_bench_agrees_with_hf_generate(tmp_path, tiny_model_dir):
    out, result = bench("eval_throughput.py", "--model", "tiny", "--prompts", "5", "--max-new-tokens", "12",
                        "--batch-size", "3", tmp_path=tmp_path)
    assert [r["row"] for r in result["rows"]] == ["tunix-nb", "hf-one-by-one", "hf-batch"]
    for r in result["rows"]:
        assert r["agreement"] == 1.0  # greedy in fp32: token for token the same
        assert 0 < r["new_tokens"] <= 5 * 12 and r["seconds"] > 0
    assert result["prompts"] == 5 and result["max_new_tokens"] == 12 and "agreement" in out


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
