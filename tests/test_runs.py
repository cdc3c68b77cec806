"""`tunix-nb runs --root` over two real run dirs (copies of one run, one made to look failed and
older) and broken dirs: every dir is listed with its status, oldest first, and a broken one shows
as "unreadable" instead of crashing."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import run_cli
from tunix_nb import runs
from tunix_nb.errors import UserError

@pytest.fixture(scope="module")
def root(tmp_path_factory, smoke_run) -> Path:
    """Two copies of conftest's real smoke run, `first` and `second`, and two broken dirs."""
    root = tmp_path_factory.mktemp("runs")
    for run_id in ("first", "second"):
        shutil.copytree(smoke_run[1], root / run_id, ignore=shutil.ignore_patterns("checkpoints"))
        edit_manifest(root / run_id, run_id=run_id)
    # "second" started an hour earlier and stopped before evaluating: failed, no scorecard.
    created = datetime.fromisoformat(json.loads((root / "first" / "run_manifest.json").read_text())["created_at"])
    edit_manifest(root / "second", status="failed", status_reason="KeyboardInterrupt: stopped by hand", eval=None,
                  created_at=(created - timedelta(hours=1)).isoformat())
    (root / "second" / "eval_summary.json").unlink()
    (root / "broken").mkdir()
    (root / "broken" / "run_manifest.json").write_text("{not json")
    (root / "empty").mkdir()
    return root


def edit_manifest(run_dir: Path, **changes) -> None:
    path = run_dir / "run_manifest.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_cli_runs_lists_every_dir_with_its_status(root):
    res = run_cli("runs", "--root", str(root))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "id", "status"]
    body = {line.split()[0]: line for line in lines[2:]}
    assert set(body) == {"first", "second", "broken", "empty"}
    assert body["first"].split()[1] == "complete" and "builtin:tiny-gemma3" in body["first"]
    assert "torch" in body["first"] and "%" in body["first"]
    assert body["second"].split()[1] == "failed" and "%" not in body["second"]  # not evaluated: blank
    assert body["broken"].split()[1] == "unreadable" and "not readable JSON" in body["broken"]
    assert body["empty"].split()[1] == "unreadable" and "run_manifest.json: missing" in body["empty"]
    order = [line.split()[0] for line in lines[2:]]
    created = {r: json.loads((root / r / "run_manifest.json").read_text())["created_at"] for r in ("first", "second")}
    assert order[:2] == sorted(created, key=lambda r: (created[r], r)) == ["second", "first"]  # by date, then id
    assert order[2:] == ["broken", "empty"]  # undated (unreadable) ones last


def test_list_runs_rows(root):
    rows = {r["run_id"]: r for r in runs.list_runs(root)}
    first = json.loads((root / "first" / "eval_summary.json").read_text())["overall"]
    assert rows["first"]["accuracy"] == first["accuracy"] and rows["first"]["format"] == first["format_compliance"]
    assert rows["second"]["accuracy"] is None and rows["second"]["note"].startswith("KeyboardInterrupt")
    assert rows["broken"]["created_at"] is None


def test_runs_missing_root_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such folder"):
        runs.list_runs(tmp_path / "nope")
    res = run_cli("runs", "--root", str(tmp_path / "nope"))
    assert res.returncode == 2 and res.stderr.count("\n") == 1


def test_runs_empty_root(tmp_path):
    res = run_cli("runs", "--root", str(tmp_path))
    assert res.returncode == 0 and "no run dirs under" in res.stdout


def test_format_runs_on_literals():
    rows = [{"run_id": "r1", "status": "complete", "created_at": "2026-01-02T03:04:05+00:00", "model": "m",
             "backend": "torch", "accuracy": 0.5, "format": 1.0, "note": None},
            {"run_id": "r2", "status": "unreadable", "created_at": None, "model": None, "backend": None,
             "accuracy": None, "format": None, "note": "run_manifest.json: missing"}]
    lines = runs.format_runs(rows).splitlines()
    assert lines[2].split() == ["r1", "complete", "2026-01-02", "03:04:05", "m", "torch", "50.0%", "100.0%"]
    assert lines[3].split()[:2] == ["r2", "unreadable"]


def test_flatten():
    assert runs.flatten({"a": {"b": 1, "c": {"d": None}}, "e": [1, 2], "f": {}}) == {
        "a.b": 1, "a.c.d": None, "e": [1, 2], "f": {}}
