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
    return evidence.Run.create(cfg, plan={"device": "cpu"}, model_source={"spec": "x"}, datasets={"train": data})


def test_status_moves_running_to_complete(tmp_path):
    run = make_run(tmp_path)
    assert json.loads((run.dir / "run_manifest.json").read_text())["status"] == "running"
    with run.guard():
        run.log.info("hello from the run")
    m = json.loads((run.dir / "run_manifest.json").read_text())
    assert m["status"] == "complete" and m["finished_at"]
    assert "hello from the run" in (run.dir / "training_log.txt").read_text()
    assert m["datasets"]["train"]["sha256"] == evidence.sha256_file(tmp_path / "d.jsonl")


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
