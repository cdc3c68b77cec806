import json
import os

import pytest

from tunix_nb import evidence
from tunix_nb.config import load_config
from tunix_nb.errors import UserError


def test_atomic_write_leaves_no_temp_files(tmp_path):
    p = tmp_path / "x.json"
    evidence.write_json_atomic(p, {"a": 1})
    evidence.write_json_atomic(p, {"a": 2})
    assert json.loads(p.read_text()) == {"a": 2}
    assert [f.name for f in tmp_path.iterdir()] == ["x.json"]


def test_atomic_write_keeps_the_old_file_when_serialising_fails(tmp_path):
    p = tmp_path / "x.json"
    evidence.write_json_atomic(p, {"a": 1})
    with pytest.raises(TypeError):
        evidence.write_json_atomic(p, {"a": object()})
    assert json.loads(p.read_text()) == {"a": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["x.json"]


def make_run(tmp_path, run_id="r1"):
    cfg = load_config(None, [f"output.root={tmp_path}", f"output.run_id={run_id}"])
    data = tmp_path / "d.jsonl"
    data.write_text("{}\n")
    entry = {"path": str(data), "sha256": evidence.sha256_file(data), "rows_read": 1}
    return evidence.Run.create(cfg, plan={"device": "cpu"}, model_source={"spec": "x"}, datasets={"train": entry})


def test_status_moves_running_to_complete(tmp_path):
    run = make_run(tmp_path)
    assert json.loads((run.dir / "run_manifest.json").read_text())["status"] == "running"
    with run.guard():
        run.log.info("hello from the run")
    m = json.loads((run.dir / "run_manifest.json").read_text())
    assert m["status"] == "complete" and m["finished_at"]
    assert "hello from the run" in (run.dir / "training_log.txt").read_text()
    assert m["datasets"]["train"] == {"path": str(tmp_path / "d.jsonl"), "rows_read": 1,
                                      "sha256": evidence.sha256_file(tmp_path / "d.jsonl")}


def test_failure_is_recorded_with_the_reason(tmp_path):
    run = make_run(tmp_path)
    with pytest.raises(RuntimeError):
        with run.guard():
            raise RuntimeError("out of memory")
    m = json.loads((run.dir / "run_manifest.json").read_text())
    assert m["status"] == "failed" and m["status_reason"] == "RuntimeError: out of memory"


def test_run_dir_is_exclusive(tmp_path):
    make_run(tmp_path)
    with pytest.raises(UserError, match="r1: run dir already exists"):
        make_run(tmp_path)


def test_snapshots():
    env = evidence.env_snapshot()
    assert "python:" in env and "torch==" in env
    gpu = evidence.gpu_snapshot()
    assert gpu.strip()  # nvidia-smi output, or a plain "no GPU" line
    if not any(os.access(os.path.join(d, "nvidia-smi"), os.X_OK) for d in os.environ["PATH"].split(os.pathsep)):
        assert gpu.startswith("no GPU")


def test_on_kaggle_runs_go_to_kaggle_working_and_never_to_input(monkeypatch, tmp_path):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    monkeypatch.setattr(evidence, "KAGGLE_WORKING", tmp_path / "working")
    monkeypatch.setattr(evidence, "KAGGLE_INPUT", tmp_path / "input")
    assert evidence.output_root("submission_runs") == tmp_path / "working" / "submission_runs"
    with pytest.raises(UserError, match="read-only; use /kaggle/working"):
        evidence.output_root(str(tmp_path / "input" / "runs"))
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE")
    assert evidence.output_root("submission_runs").name == "submission_runs"
    assert evidence.output_root("submission_runs").parent != tmp_path / "working"


def test_kaggle_fields_are_null_off_kaggle_and_filled_on_it(monkeypatch):
    plan = {"device_name": "Tesla T4", "device_count": 2}
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    assert set(evidence.kaggle_fields(plan).values()) == {None}
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    fields = evidence.kaggle_fields(plan)
    assert fields["kernel_run_type"] == "Interactive" and fields["accelerator"] == "Tesla T4 x2"


# ----------------------------------------------------------------------------- scores per stage

def card(acc: float, fmt: float, n: int = 4) -> dict:
    """A literal scorecard: overall and one section, category and difficulty."""
    g = {"n": n, "correct": round(acc * n), "format_ok": round(fmt * n), "accuracy": acc, "format_compliance": fmt}
    return {"n": n, "overall": g, "per_section": {"arith": g}, "per_category": {"add": g},
            "per_difficulty": {"easy": g}, "missing_ids": []}


def scored(tag: str) -> list[dict]:
    return [{"id": f"q{i}", "prediction": f"{tag} {i}", "correct": i % 2 == 0, "format_ok": True} for i in range(2)]


def source(path):
    return {"path": str(path), "sha256": evidence.sha256_file(path)}


def test_write_scores_with_three_stages(tmp_path):
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text('{"id": "q0"}\n')
    stages = {"grpo": (scored("grpo"), card(0.75, 1.0)), "base": (scored("base"), card(0.25, 0.0)),
              "sft": (scored("sft"), card(0.5, 0.75))}  # given out of order: written in run order
    evidence.write_scores(tmp_path, scored("grpo"), card(0.75, 1.0), eval_source=source(eval_file), stages=stages)
    saved = json.loads((tmp_path / "eval_summary.json").read_text())
    assert list(saved["stages"]) == ["base", "sft", "grpo"]
    assert saved["stages"]["sft"] == card(0.5, 0.75) and saved["stages"]["base"]["overall"]["accuracy"] == 0.25
    assert saved["overall"] == saved["stages"]["grpo"]["overall"] == card(0.75, 1.0)["overall"]
    assert saved["eval_sha256"] == evidence.sha256_file(eval_file) and "before" not in saved
    for name in ("base", "sft", "grpo"):
        rows = [json.loads(line) for line in (tmp_path / f"predictions_{name}.jsonl").read_text().splitlines()]
        assert [r["prediction"] for r in rows] == [f"{name} 0", f"{name} 1"]
    final = [json.loads(line) for line in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert final == scored("grpo")
    assert evidence.stages_of(saved) == {"base": card(0.25, 0.0), "sft": card(0.5, 0.75), "grpo": card(0.75, 1.0)}


def test_write_scores_without_stages_writes_no_stage_files(tmp_path):
    eval_file = tmp_path / "eval.jsonl"
    eval_file.write_text("{}\n")
    evidence.write_scores(tmp_path, scored("m"), card(0.5, 0.5), eval_source=source(eval_file))
    saved = json.loads((tmp_path / "eval_summary.json").read_text())
    assert "stages" not in saved and saved["overall"]["accuracy"] == 0.5
    assert sorted(p.name for p in tmp_path.glob("predictions*")) == ["predictions.jsonl"]
    assert evidence.stages_of(saved) == {}
    with pytest.raises(ValueError, match="'../x'"):
        evidence.write_scores(tmp_path, [], card(0, 0), eval_source=source(eval_file), stages={"../x": ([], card(0, 0))})


def test_stages_of_an_old_before_summary():
    old = {"eval_file": "e.jsonl", **card(0.6, 0.9), "before": card(0.1, 0.0)}  # as in submission_runs/cpu270-*
    stages = evidence.stages_of(old)
    assert list(stages) == ["base", "sft"]
    assert stages["base"] == card(0.1, 0.0)
    assert stages["sft"]["overall"]["accuracy"] == 0.6 and "before" not in stages["sft"]
    assert stages["sft"]["eval_file"] == "e.jsonl"
    # `stages` wins over a stray `before`; unknown stage names come after base, sft, grpo
    new = {**card(0.7, 1.0), "before": card(0.0, 0.0), "stages": {"dpo": card(0.8, 1.0), "base": card(0.2, 0.1)}}
    assert list(evidence.stages_of(new)) == ["base", "dpo"]


def test_stages_of_the_committed_runs_reads_before_as_base():
    from tunix_nb.config import PROJECT_ROOT

    for path in sorted((PROJECT_ROOT / "submission_runs").glob("*/eval_summary.json")):
        summary = json.loads(path.read_text())
        stages = evidence.stages_of(summary)
        if "before" in summary:
            assert stages["base"] == summary["before"] and stages["sft"]["overall"] == summary["overall"]
        elif "stages" not in summary:
            assert stages == {}


def write_lines(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def test_truncate_metrics_per_stage(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rows = [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.9},  # old rows without a stage: sft
            {"stage": "sft", "step": 3, "loss": 1.8}, {"stage": "sft", "step": 4, "loss": 1.7},
            {"stage": "grpo", "step": 1, "reward_mean": 0.1}, {"stage": "grpo", "step": 2, "reward_mean": 0.2},
            {"stage": "grpo", "step": 3, "reward_mean": 0.3}, '{"stage": "grpo", "step": 4, "rew']  # torn
    write_lines(path, rows)
    assert evidence.truncate_metrics(path, {"sft": 3, "grpo": 2}) == 3  # sft 4, grpo 3, the torn line
    kept = [json.loads(line) for line in path.read_text().splitlines()]
    assert kept == rows[:3] + rows[4:6]
    # a stage not in the dict keeps none of its rows (GRPO resumed from before its first checkpoint)
    assert evidence.truncate_metrics(path, {"sft": 3}) == 2
    assert [json.loads(line) for line in path.read_text().splitlines()] == rows[:3]
    assert evidence.truncate_metrics(path, {}) == 3 and path.read_text() == ""
    assert evidence.truncate_metrics(tmp_path / "absent.jsonl", {"sft": 1}) == 0
