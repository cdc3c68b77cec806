"""The whole flow through the real CLI in a subprocess: config -> train -> eval -> evidence."""

import json
from dataclasses import asdict

from conftest import FAST, ROOT, SMOKE, run_cli
from tunix_nb import data, inputs, scoring
from tunix_nb.evidence import read_jsonl

EVIDENCE = ["run_manifest.json", "config.yaml", "metrics.jsonl", "predictions.jsonl", "eval_summary.json",
            "env_snapshot.txt", "gpu_snapshot.txt", "training_log.txt", "loss_curve.png", "scorecard.png"]


def test_run_dir_has_all_evidence(smoke_run):
    res, run_dir = smoke_run
    assert res.stdout.strip().splitlines()[-1] == str(run_dir)  # prints its path last
    for name in EVIDENCE:
        assert (run_dir / name).is_file() and (run_dir / name).stat().st_size > 0, name
    assert (run_dir / "checkpoints" / "step-000012" / "model.safetensors").is_file()
    assert "device plan:" in res.stdout and "overall" in res.stdout  # plan and scorecard printed


def test_manifest(smoke_run):
    _, run_dir = smoke_run
    m = json.loads((run_dir / "run_manifest.json").read_text())
    assert m["status"] == "complete" and m["status_reason"] is None and m["finished_at"]
    assert m["run_id"] == "e2e"
    assert m["config"]["training"]["max_steps"] == 12 and len(m["config_hash"]) == 64
    assert set(m["datasets"]) == {"train", "eval"} and all(len(d["sha256"]) == 64 for d in m["datasets"].values())
    assert m["model_source"]["spec"] == "builtin:tiny-gemma3"
    assert m["packages"]["torch"] and m["packages"]["transformers"]
    assert m["device_plan"]["device"] == "cpu" and m["device_plan"]["dtype"] == "fp32"
    assert m["metrics"]["steps"] == 12 and m["metrics"]["final_loss"] < m["metrics"]["first_loss"]
    assert m["eval"]["n"] == 6
    assert set(m["kaggle"]) >= {"kernel_run_type"} and m["kaggle"]["kernel_run_type"] is None
    assert "commit" in m["git"]


def test_eval_summary_matches_an_independent_rescoring(smoke_run):
    _, run_dir = smoke_run
    rows = read_jsonl(run_dir / "predictions.jsonl")
    assert len(rows) == 6
    records = data.spread_subset(inputs.load_records(ROOT / "training/data/eval_v2.jsonl", "eval"), 6)
    assert [r["id"] for r in rows] == [r.id for r in records]
    for r in rows:
        assert r["extracted_answer"] == scoring.extract_answer(r["prediction"])
        assert r["format_ok"] == scoring.is_format_ok(r["prediction"])
    summary = json.loads((run_dir / "eval_summary.json").read_text())
    assert summary["overall"]["n"] == 6
    assert summary["overall"]["correct"] == sum(r["correct"] for r in rows)
    assert summary["overall"]["format_ok"] == sum(r["format_ok"] for r in rows)
    _, again = scoring.score_predictions([{"id": r["id"], "prediction": r["prediction"]} for r in rows],
                                         [asdict(r) for r in records])
    assert {k: summary[k] for k in again} == again


def test_config_yaml_is_the_resolved_config(smoke_run):
    import yaml

    _, run_dir = smoke_run
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert cfg["training"]["max_steps"] == 12 and cfg["data"]["train_limit"] == 96


def test_existing_run_dir_is_never_overwritten(smoke_run):
    _, run_dir = smoke_run
    before = {p: p.read_bytes() for p in run_dir.glob("*") if p.is_file()}
    res = run_cli("run", "--config", str(SMOKE), "--run-id", "e2e", "--set", f"output.root={run_dir.parent}", *FAST)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and "e2e: run dir already exists" in res.stderr
    assert before == {p: p.read_bytes() for p in run_dir.glob("*") if p.is_file()}


def test_bad_data_exits_2_before_writing_anything(tmp_path, cache_dir):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "q", "reasoning": "r"}\n')
    res = run_cli("run", "--config", str(SMOKE), "--set", f"output.root={tmp_path / 'runs'}",
                  "--set", f"data.train_file={bad}", *FAST)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == f"error: {bad}:1: answer: missing (required: question, reasoning, answer)"
    assert not (tmp_path / "runs").exists()


def test_missing_model_folder_exits_2(tmp_path):
    res = run_cli("run", "--set", f"model.source={tmp_path / 'nope'}", "--set", f"output.root={tmp_path}")
    assert res.returncode == 2 and "model.source:" in res.stderr and "accepted:" in res.stderr


def test_submission_local_gpu_preset_runs_unchanged_but_for_model_and_device(tmp_path, tiny_model_dir):
    """The GPU preset's recipe (bf16 autocast, Adafactor, packed rows, chunked loss, linear decay) runs
    through the same code on CPU; only the model folder, device and length are overridden, and
    torch.compile (on CPU its C++ build takes minutes; its equality with eager is test_torch_sft's), and
    the mix's GSM8K source, which is read from the Hub (no network here): the mix keeps our file."""
    res = run_cli("run", "--config", str(ROOT / "training/configs/submission_local_gpu.yaml"), "--run-id", "gpu-preset",
                  "--set", f"output.root={tmp_path}", "--set", f"model.source={tiny_model_dir}",
                  "--set", "training.device=cpu", "--set", "training.compile=false",
                  "--set", "data.mix=[{file: training/data/dev-reasoning-v2.jsonl, weight: 0.1}]",
                  "--set", "training.epochs=null", "--set", "training.max_steps=3",
                  "--set", "eval.limit=2", "--set", "eval.max_new_tokens=8",
                  "--set", "grpo.max_steps=2", "--set", "grpo.max_new_tokens=8", "--set", "grpo.overlong_soft_tokens=4")
    assert res.returncode == 0, res.stderr[-3000:]
    m = json.loads((tmp_path / "gpu-preset" / "run_manifest.json").read_text())
    assert m["status"] == "complete" and m["device_plan"]["dtype"] == "bf16"
    rows = read_jsonl(tmp_path / "gpu-preset" / "metrics.jsonl")
    assert [r["stage"] for r in rows] == ["sft"] * 3 + ["grpo"] * 2
    assert all(r["target_tokens"] > 0 for r in rows[:3]) and all(r["completion_len_mean"] > 0 for r in rows[3:])
