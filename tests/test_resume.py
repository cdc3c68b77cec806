"""Nothing lost: a real training subprocess is SIGKILLed in the middle of writing a checkpoint, and
the same command resumes it to the same result as an uninterrupted run; so does a new run that
continues the killed one's run dir, made read-only, as the next Kaggle session would (and writes
nothing there); SIGTERM and a full disk end it with the reason in the manifest."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import ROOT, SMOKE, listing, make_read_only, run_cli, wait_for
from tunix_nb.evidence import read_jsonl

STEPS, SAVE_EVERY = 8, 2


def command(root, run_id):
    return ["run", "--config", str(SMOKE), "--run-id", run_id, "--set", f"output.root={root}",
            "--set", "training.epochs=null", "--set", f"training.max_steps={STEPS}",
            "--set", f"training.save_every={SAVE_EVERY}", "--set", "training.warmup_steps=2",
            "--set", "data.train_limit=96", "--set", "training.max_batch_tokens=1024",  # small steps: resume, not learning
            "--set", "eval.limit=2", "--set", "eval.max_new_tokens=8"]


def start(root, run_id):
    return subprocess.Popen([sys.executable, "-m", "tunix_nb", *command(root, run_id)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))


def signal_at_step(root, run_id, step, sig):
    """Start a run and send `sig` once `step` metrics lines are logged; returns the process."""
    proc = start(root, run_id)
    metrics = root / run_id / "metrics.jsonl"
    wait_for(proc, lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= step, f"step {step}")
    proc.send_signal(sig)
    return proc


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cache_dir):
    root = tmp_path_factory.mktemp("runs")
    res = run_cli(*command(root, "ref"))
    assert res.returncode == 0, res.stderr[-3000:]
    return root / "ref"


def losses(run_dir):
    return [r["loss"] for r in read_jsonl(run_dir / "metrics.jsonl")]


def assert_same_as_reference(run_dir, reference):
    rows = read_jsonl(run_dir / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))  # every step exactly once
    assert losses(run_dir) == pytest.approx(losses(reference), rel=1e-5, abs=1e-6)
    final = f"checkpoints/step-{STEPS:06d}/model.safetensors"
    got, want = load_file(run_dir / final), load_file(reference / final)
    assert got.keys() == want.keys()
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)
    manifest = json.loads((run_dir / "run_manifest.json").read_text())
    assert manifest["status"] == "complete"
    return manifest


def test_sigkill_while_a_checkpoint_is_written_then_resume(tmp_path, reference):
    """The harder of the two SIGKILLs: between checkpoints the last one is whole; here the newest is
    half-written, so the resume must also ignore it and drop the rows logged after the one before
    (a kill between checkpoints: test_torch_grpo and the Tunix runs' SIGKILL tests)."""
    proc = start(tmp_path, "torn")
    ckpts = tmp_path / "torn" / "checkpoints"
    # Kill the moment a checkpoint after the first one is half-written (its temp folder exists).
    wait_for(proc, lambda: ckpts.is_dir() and any(p.name >= ".tmp-step-000004" for p in ckpts.glob(".tmp-step-*")),
             "a checkpoint write")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    torn = sorted(p.name for p in ckpts.glob(".tmp-step-*"))
    assert torn, "the kill did not land mid-write"
    whole = sorted(p.name for p in ckpts.glob("step-*"))
    resumed_step = int(torn[0].split("-")[-1]) - SAVE_EVERY
    run_dir = tmp_path / "torn"
    assert json.loads((run_dir / "run_manifest.json").read_text())["status"] == "running"  # killed: no chance to say
    status = run_cli("status", str(run_dir))
    assert "interrupted" in status.stdout and "resume: tunix-nb run --config" in status.stdout
    # Resuming it with another config is refused, and leaves it as it was (still resumable).
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    other = run_cli(*command(tmp_path, "torn"), "--set", "training.learning_rate=0.1")
    assert other.returncode == 2 and "started with a different config" in other.stderr
    assert before == {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}

    res = run_cli(*command(tmp_path, "torn"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"resuming torn from sft step {resumed_step}" in res.stdout, (torn, whole, res.stdout)
    assert "ignoring incomplete checkpoint" in (run_dir / "training_log.txt").read_text()
    assert not list(ckpts.glob(".tmp-step-*"))
    manifest = assert_same_as_reference(run_dir, reference)
    assert manifest["resumes"] == 1 and manifest["resumed_from"] == {"sft": resumed_step}


def test_a_new_session_continues_a_killed_read_only_run_dir_to_the_same_result(tmp_path, reference):
    """The competition's multi-session mode: the first session is SIGKILLed, its run dir comes back
    read-only; a new run dir continues it from its newest whole checkpoint (optimizer, schedule, RNG,
    data position), its metrics carry on the step numbering, and the end is the uninterrupted run's."""
    proc = signal_at_step(tmp_path, "first", 5, signal.SIGKILL)
    proc.wait()
    first = tmp_path / "first"
    carried = max(int(p.name.split("-")[1]) for p in (first / "checkpoints").glob("step-*")
                  if (p / "trainer_state.pt").is_file())
    before = make_read_only(first)
    res = run_cli(*command(tmp_path, "second"), "--continue-from", str(first))
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"continuing first ({first}) from sft step {carried}" in res.stdout
    assert listing(first) == before  # nothing written under the earlier session's dir
    manifest = assert_same_as_reference(tmp_path / "second", reference)
    assert manifest["continues"] == {"run_id": "first", "path": str(first), "stage": "sft", "step": carried,
                                     "steps": {"sft": carried}}
    assert "resumes" not in manifest and manifest["resumed_from"] == {"sft": carried}


def test_a_complete_run_is_never_resumed_or_overwritten(reference):
    before = {p: p.read_bytes() for p in reference.rglob("*") if p.is_file()}
    res = run_cli(*command(reference.parent, "ref"))
    assert res.returncode == 2 and "already exists and is complete" in res.stderr
    assert before == {p: p.read_bytes() for p in reference.rglob("*") if p.is_file()}


def test_sigterm_marks_the_run_failed_with_the_reason(tmp_path, cache_dir):
    proc = signal_at_step(tmp_path, "term", 2, signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    manifest = json.loads((tmp_path / "term" / "run_manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["status_reason"] == "terminated (SIGTERM)"
    assert "failed; reason: terminated (SIGTERM)" in run_cli("status", str(tmp_path / "term")).stdout


@pytest.fixture()
def tiny_disk(tmp_path):
    """A 3 MB filesystem: a real 'disk full' while the run writes its checkpoint."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3M", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_is_one_line_and_the_manifest_says_so(tiny_disk, cache_dir):
    res = run_cli(*command(tiny_disk, "full"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("error: out of disk space")
    manifest = json.loads((tiny_disk / "full" / "run_manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["status_reason"].startswith("out of disk space")
    assert not list((tiny_disk / "full" / "checkpoints").glob(".tmp-*"))
