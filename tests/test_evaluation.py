"""`tunix-nb eval` on the PyTorch backend (the Tunix run's is in test_tunix_grpo): a finished run's
final model and a model source, each scored into a run dir of its own, item for item as the
training run scored them."""

import json

from conftest import SMOKE, run_cli
from tunix_nb.evidence import read_jsonl

EVAL = "training/data/eval_v2.jsonl"


def scorecard(run_dir):
    summary = json.loads((run_dir / "eval_summary.json").read_text())
    return {k: v for k, v in summary.items() if k not in ("scored_at", "stages")}


def test_eval_of_a_finished_run_equals_its_final_predictions(smoke_run, tmp_path):
    _, trained = smoke_run
    res = run_cli("eval", "--model", str(trained), "--eval", EVAL, "--run-id", "ev", "--set", f"output.root={tmp_path}")
    assert res.returncode == 0, res.stderr[-3000:]
    ev = tmp_path / "ev"
    assert res.stdout.strip().splitlines()[-1] == str(ev)
    assert read_jsonl(ev / "predictions.jsonl") == read_jsonl(trained / "predictions.jsonl")
    assert scorecard(ev) == scorecard(trained)
    manifest = json.loads((ev / "run_manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["metrics"] is None
    assert manifest["evaluates"] == {"model": str(trained), "stage": "sft", "checkpoint_step": 12}
    assert set(manifest["datasets"]) == {"eval"} and (ev / "report.html").is_file()
    base = read_jsonl(trained / "predictions_base.jsonl")  # the restore is what made them equal
    assert [p["prediction"] for p in base] != [p["prediction"] for p in read_jsonl(ev / "predictions.jsonl")]


def test_eval_of_a_model_source_equals_the_runs_base_stage(smoke_run, tmp_path):
    _, trained = smoke_run
    res = run_cli("eval", "--model", "builtin:tiny-gemma3", "--config", str(SMOKE), "--eval", EVAL, "--run-id", "base",
                  "--set", "eval.limit=6", "--set", "eval.max_new_tokens=24", "--set", f"output.root={tmp_path}")
    assert res.returncode == 0, res.stderr[-3000:]
    assert read_jsonl(tmp_path / "base" / "predictions.jsonl") == read_jsonl(trained / "predictions_base.jsonl")
    summary = json.loads((tmp_path / "base" / "eval_summary.json").read_text())
    assert summary["overall"] == json.loads((trained / "eval_summary.json").read_text())["stages"]["base"]["overall"]
