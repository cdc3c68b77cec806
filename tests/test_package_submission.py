"""tools/package_submission.py on a real run dir (a 3-step run of the real tiny model), through the
real script in subprocesses: contents, determinism, never overwriting, --verify, validation."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT

TOOL = ROOT / "tools" / "package_submission.py"
EVIDENCE = ("run_manifest.json", "config.yaml", "metrics.jsonl", "predictions.jsonl", "eval_summary.json",
            "env_snapshot.txt", "gpu_snapshot.txt", "training_log.txt", "loss_curve.png", "scorecard.png")

_spec = importlib.util.spec_from_file_location("package_submission", TOOL)
ps = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ps)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory, smoke_run) -> Path:
    """A real, complete run dir: conftest's smoke run (12 training steps, 6 eval items), copied as `pkg`."""
    run = Path(shutil.copytree(smoke_run[1], tmp_path_factory.mktemp("runs") / "pkg"))
    assert (run / "checkpoints" / "step-000012").is_dir()
    return run


@pytest.fixture(scope="session")
def repo_snapshot(tmp_path_factory) -> Path:
    """A copy of the checkout (tool included), so zips compared byte for byte cannot differ because
    someone edited a source file between the two runs, and dist/ is not written in the real repo."""
    dst = tmp_path_factory.mktemp("snap") / "repo"
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(
        ".venv", ".git", ".pytest_cache", "__pycache__", "submission_runs", "dist", "tests", "bench"))
    return dst


@pytest.fixture
def run_copy(run_dir, tmp_path) -> Path:
    """A private copy of the run dir (without weights) that a test may break."""
    return Path(shutil.copytree(run_dir, tmp_path / "runs" / "pkg", ignore=shutil.ignore_patterns("checkpoints")))


def tool(*args, tool_path: Path = TOOL, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`python tools/package_submission.py ARGS` from the repo root, as a user runs it."""
    return subprocess.run([sys.executable, str(tool_path.relative_to(cwd)), *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def assert_one_line_errors(res, n_lines: int):
    lines = res.stderr.strip().splitlines()
    assert len(lines) == n_lines, res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""


def test_packages_code_data_and_evidence_with_checksums(run_dir, tmp_path):
    out = tmp_path / "sub.zip"
    res = tool("--run-dir", run_dir, "--out", out)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == str(out) and "MB" in res.stdout
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert names[-1] == "SHA256SUMS" and names[:-1] == sorted(names[:-1])
        assert {"tunix_nb/pipeline.py", "tunix_nb/cli.py", "training/configs/smoke_tiny.yaml",
                "training/data/dev-reasoning-v2.jsonl", "training/data/eval_v2.jsonl",
                "training/data/generate_data.py", "training/data/gen/common.py", "tools/package_submission.py", "README.md",
                "requirements.txt", "pyproject.toml"} <= set(names)
        assert {f"submission_runs/pkg/{f}" for f in EVIDENCE} <= set(names)
        assert not [n for n in names if "checkpoints/" in n or "__pycache__" in n or "/." in n]
        # Evidence is stored byte for byte; SHA256SUMS covers every other member, sorted by path.
        assert zf.read("submission_runs/pkg/metrics.jsonl") == (run_dir / "metrics.jsonl").read_bytes()
        sums = zf.read("SHA256SUMS").decode().splitlines()
        assert sums == [f"{sha(zf.read(n))}  {n}" for n in names[:-1]]
        for info in zf.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0) and info.external_attr >> 16 == 0o100644
            assert info.compress_type == zipfile.ZIP_DEFLATED and info.comment == b""
    assert f"{len(names) - 1} members" in res.stdout


def test_include_checkpoint_adds_only_the_last_checkpoint(run_dir, tmp_path):
    copy = Path(shutil.copytree(run_dir, tmp_path / "pkg"))
    (copy / "checkpoints" / "step-000006").mkdir()  # an earlier step: must not be packed
    (copy / "checkpoints" / "step-000006" / "old.txt").write_text("old")
    out = tmp_path / "with-ckpt.zip"
    res = tool("--run-dir", copy, "--out", out, "--include-checkpoint")
    assert res.returncode == 0, res.stderr
    last = run_dir / "checkpoints" / "step-000012"
    with zipfile.ZipFile(out) as zf:
        ckpt = sorted(n for n in zf.namelist() if "/checkpoints/" in n)
        assert ckpt == sorted(f"submission_runs/pkg/checkpoints/step-000012/{p.name}" for p in last.iterdir())
        assert "submission_runs/pkg/checkpoints/step-000012/model.safetensors" in ckpt
        assert zf.read(ckpt[0]) == (last / Path(ckpt[0]).name).read_bytes()
    assert ps.last_checkpoint(copy) == copy / "checkpoints" / "step-000012"


def test_last_checkpoint_finds_the_tunix_layout(tmp_path):
    actor = tmp_path / "checkpoints" / "actor"
    for name in ("20", "40", "60.orbax-checkpoint-tmp-1"):  # the last: an unfinished orbax write
        (actor / name / "model_params").mkdir(parents=True)
    assert ps.last_checkpoint(tmp_path) == actor / "40"


def test_same_inputs_give_a_byte_identical_zip(run_copy, repo_snapshot, tmp_path):
    snap_tool = repo_snapshot / "tools" / "package_submission.py"
    first = tool("--run-dir", run_copy, "--out", tmp_path / "a.zip", tool_path=snap_tool, cwd=repo_snapshot)
    assert first.returncode == 0, first.stderr
    # New mtimes and modes on disk must not leak into the zip.
    for p in run_copy.iterdir():
        os.utime(p, (2_000_000_000, 2_000_000_000))
    os.chmod(run_copy / "config.yaml", 0o600)
    second = tool("--run-dir", run_copy, "--out", tmp_path / "b.zip", tool_path=snap_tool, cwd=repo_snapshot)
    assert second.returncode == 0, second.stderr
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    # Without --out the zip goes to dist/submission-<run_id>.zip under the repo root.
    default = tool("--run-dir", run_copy, tool_path=snap_tool, cwd=repo_snapshot)
    assert default.returncode == 0, default.stderr
    assert (repo_snapshot / "dist" / "submission-pkg.zip").read_bytes() == (tmp_path / "a.zip").read_bytes()


def test_an_existing_zip_is_never_overwritten(run_copy, tmp_path):
    out = tmp_path / "out" / "sub.zip"
    assert tool("--run-dir", run_copy, "--out", out).returncode == 0
    before = out.read_bytes()
    (run_copy / "training_log.txt").write_text("changed\n")
    res = tool("--run-dir", run_copy, "--out", out)
    assert res.returncode == 2
    assert_one_line_errors(res, 1)
    assert str(out) in res.stderr and "--out" in res.stderr
    assert out.read_bytes() == before
    assert [p.name for p in out.parent.iterdir()] == ["sub.zip"]  # no temp file left behind


def rewrite(src: Path, dst: Path, *, change: str | None = None, drop: str | None = None, add: str | None = None):
    """A readable copy of a zip with one member's content changed / one left out / one added."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == drop:
                continue
            if info.filename == change:
                data = bytes([data[0] ^ 1]) + data[1:]  # flip one bit of the first byte
            zout.writestr(info, data)
        if add:
            zout.writestr(add, b"smuggled in\n")


def test_verify_passes_a_fresh_zip_and_names_tampered_members(run_copy, tmp_path):
    good = tmp_path / "good.zip"
    assert tool("--run-dir", run_copy, "--out", good).returncode == 0
    res = tool("--verify", good)
    assert res.returncode == 0, res.stderr
    with zipfile.ZipFile(good) as zf:
        n = len(zf.namelist()) - 1
    assert res.stdout.strip() == f"{good}: {n} members verified"

    bad = tmp_path / "bad.zip"
    rewrite(good, bad, change="submission_runs/pkg/eval_summary.json")
    res = tool("--verify", bad)
    assert res.returncode == 1
    assert_one_line_errors(res, 1)
    assert res.stderr.strip() == f"{bad}: submission_runs/pkg/eval_summary.json: hash mismatch (tampered?)"

    worse = tmp_path / "worse.zip"
    rewrite(good, worse, drop="tunix_nb/pipeline.py", add="tunix_nb/backdoor.py")
    res = tool("--verify", worse)
    assert res.returncode == 1
    assert_one_line_errors(res, 2)
    assert "tunix_nb/pipeline.py: missing member" in res.stderr and "tunix_nb/backdoor.py: extra member" in res.stderr


def test_verify_refuses_a_non_zip_and_a_zip_without_sums(run_copy, tmp_path):
    res = tool("--verify", run_copy / "config.yaml")
    assert res.returncode == 2 and "not a zip" in res.stderr
    assert_one_line_errors(res, 1)
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("README.md", "hi")
    res = tool("--verify", plain)
    assert res.returncode == 2 and "SHA256SUMS" in res.stderr
    assert_one_line_errors(res, 1)


def set_status_running(run: Path) -> str:
    m = json.loads((run / "run_manifest.json").read_text())
    m["status"] = "running"
    (run / "run_manifest.json").write_text(json.dumps(m))
    return "run_manifest.json"


def delete_predictions(run: Path) -> str:
    (run / "predictions.jsonl").unlink()
    return "predictions.jsonl"


def corrupt_metrics_line(run: Path) -> str:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    lines[1] = lines[1][: len(lines[1]) // 2]  # a line cut in half, as by a crash mid-write
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return "metrics.jsonl:2"


@pytest.mark.parametrize("breakage, expect", [(set_status_running, "'complete'"),
                                              (delete_predictions, "missing"),
                                              (corrupt_metrics_line, "not a JSON line")])
def test_a_broken_run_dir_is_refused_in_one_line_and_nothing_is_written(run_copy, tmp_path, breakage, expect):
    named = breakage(run_copy)
    out = tmp_path / "dist" / "sub.zip"
    res = tool("--run-dir", run_copy, "--out", out)
    assert res.returncode == 2
    assert_one_line_errors(res, 1)
    assert res.stderr.startswith(f"{run_copy / named}:") and expect in res.stderr
    assert not out.parent.exists()


def test_a_missing_run_dir_is_one_line(tmp_path):
    res = tool("--run-dir", tmp_path / "nope", "--out", tmp_path / "x.zip")
    assert res.returncode == 2
    assert_one_line_errors(res, 1)
    assert str(tmp_path / "nope") in res.stderr
    assert not (tmp_path / "x.zip").exists()


def test_schema_problems_are_listed_one_per_line(run_copy):
    assert ps.validate_run_dir(run_copy) == []
    metrics = [json.loads(l) for l in (run_copy / "metrics.jsonl").read_text().splitlines()]
    metrics[0]["grad_norm"] = "big"
    del metrics[1]["tokens_per_s"]
    (run_copy / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    preds = (run_copy / "predictions.jsonl").read_text().splitlines()
    (run_copy / "predictions.jsonl").write_text("\n".join(preds[:-1]) + "\n")  # one row fewer than n
    summary = json.loads((run_copy / "eval_summary.json").read_text())
    del summary["overall"]["format_compliance"], summary["per_category"]
    (run_copy / "eval_summary.json").write_text(json.dumps(summary))
    manifest = json.loads((run_copy / "run_manifest.json").read_text())
    del manifest["config_hash"]
    (run_copy / "run_manifest.json").write_text(json.dumps(manifest))

    problems = ps.validate_run_dir(run_copy)
    assert all("\n" not in p and "; " in p for p in problems)
    text = "\n".join(problems)
    assert f"{run_copy / 'metrics.jsonl'}:1: not numeric: grad_norm" in text
    assert f"{run_copy / 'metrics.jsonl'}:2: missing tokens_per_s" in text
    assert f"{run_copy / 'predictions.jsonl'}: {len(preds) - 1} prediction rows" in text
    assert "per_category" in text and "format_compliance" in text and "config_hash" in text
    assert len(problems) == 6, problems


def test_size_warnings_follow_the_kaggle_limits():
    assert ps.size_warning(10**6) is None
    assert ps.size_warning(ps.COMFORTABLE_UPLOAD_BYTES) is None
    assert "upload" in ps.size_warning(ps.COMFORTABLE_UPLOAD_BYTES + 1)
    over = int(ps.KAGGLE_OUTPUT_LIMIT_BYTES * ps.KAGGLE_OUTPUT_WARN_FRACTION) + 1
    assert "/kaggle/working" in ps.size_warning(over)
    assert ps.default_out(Path("/x/submission_runs/r7")) == ps.REPO_ROOT / "dist" / "submission-r7.zip"
