"""Evidence of a run: `submission_runs/<run_id>/`, written as the run goes, never overwritten.

JSON files are written to a temp file and `os.replace`d, so a reader (or a killed process)
never sees half a file; `metrics.jsonl` is appended and flushed line by line. The manifest's
status moves running -> complete, or failed with the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

from .config import PROJECT_ROOT, Config, resolve_path
from .errors import UserError

PACKAGES = ("tunix_nb", "torch", "transformers", "tokenizers", "peft", "accelerate", "safetensors",
            "google-tunix", "jax", "flax", "numpy")
LOGGER = "tunix_nb"
KAGGLE_WORKING, KAGGLE_INPUT = Path("/kaggle/working"), Path("/kaggle/input")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; evidence is meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl_atomic(path: Path, rows: list[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def output_root(configured: str) -> Path:
    """Where run dirs go. On Kaggle a relative root lands in /kaggle/working (the only place whose
    files are kept); /kaggle/input is read-only and never written to."""
    if os.environ.get("KAGGLE_KERNEL_RUN_TYPE") and not Path(configured).is_absolute():
        root = KAGGLE_WORKING / configured
    else:
        root = resolve_path(configured)
    if str(root.resolve()).startswith(str(KAGGLE_INPUT)):
        raise UserError(f"output.root: {root} is under {KAGGLE_INPUT}, which is read-only; use /kaggle/working")
    return root


def default_run_id(cfg: Config) -> str:
    return f"{cfg.name}-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%d-%H%M%S')}"


class Run:
    """A run dir and its manifest. Create with `Run.create`; fields are updated with `update`."""

    def __init__(self, run_dir: Path, manifest: dict[str, Any]):
        self.dir = run_dir
        self.manifest = manifest
        self.log = logging.getLogger(LOGGER)

    @property
    def id(self) -> str:
        return self.manifest["run_id"]

    @classmethod
    def create(cls, cfg: Config, *, plan: dict, model_source: dict, datasets: dict[str, Path]) -> "Run":
        run_id = cfg.output.run_id or default_run_id(cfg)
        root = output_root(cfg.output.root)
        run_dir = root / run_id
        try:
            root.mkdir(parents=True, exist_ok=True)
            run_dir.mkdir()  # exclusive: an existing run dir is never reused
        except FileExistsError:
            raise UserError(f"{run_dir}: run dir already exists; pick a new output.run_id "
                            "(--run-id NAME) — evidence of earlier runs is never overwritten") from None
        except OSError as e:
            raise UserError(f"{root}: cannot create the run dir ({e.strerror}); set output.root "
                            "to a writable folder") from None
        manifest = {
            "run_id": run_id,
            "status": "running",
            "status_reason": None,
            "created_at": now(),
            "finished_at": None,
            "git": git_info(),
            "config": json.loads(json.dumps(cfg.to_dict())),
            "config_hash": cfg.hash(),
            "datasets": {name: {"path": str(p), "sha256": sha256_file(p)} for name, p in datasets.items()},
            "model_source": model_source,
            "packages": package_versions(),
            "device_plan": plan,
            "metrics": None,
            "eval": None,
            "kaggle": kaggle_fields(plan),
        }
        run = cls(run_dir, manifest)
        run.save_manifest()
        write_text_atomic(run_dir / "config.yaml", f"# resolved config of run {run_id}\n" + cfg.to_yaml())
        write_text_atomic(run_dir / "env_snapshot.txt", env_snapshot())
        write_text_atomic(run_dir / "gpu_snapshot.txt", gpu_snapshot())
        run._attach_log()
        return run

    def save_manifest(self) -> None:
        write_json_atomic(self.dir / "run_manifest.json", self.manifest)

    def update(self, **fields: Any) -> None:
        self.manifest.update(fields)
        self.save_manifest()

    @contextmanager
    def failing(self) -> Iterator["Run"]:
        """Mark the run failed, with the reason, when the block raises (a stage of the run)."""
        try:
            yield self
        except BaseException as e:
            reason = "interrupted (KeyboardInterrupt)" if isinstance(e, KeyboardInterrupt) else f"{type(e).__name__}: {e}"
            self.log.error("run failed: %s", reason)
            self.update(status="failed", status_reason=reason, finished_at=now())
            self._detach_log()
            raise

    def complete(self) -> None:
        self.update(status="complete", finished_at=now())
        self.log.info("run complete: %s", self.dir)
        self._detach_log()

    @contextmanager
    def guard(self) -> Iterator["Run"]:
        """A whole run in one block: failed when it raises, complete when it ends."""
        with self.failing():
            yield self
        self.complete()

    def _attach_log(self) -> None:
        self._handler = logging.FileHandler(self.dir / "training_log.txt", encoding="utf-8")
        self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        self.log.addHandler(self._handler)
        self.log.setLevel(logging.INFO)

    def _detach_log(self) -> None:
        if self._handler in self.log.handlers:
            self.log.removeHandler(self._handler)
            self._handler.close()


class MetricsWriter:
    """metrics.jsonl: one JSON object per logged step, flushed as written."""

    def __init__(self, path: Path):
        self._f = open(path, "a", encoding="utf-8")

    def write(self, row: dict) -> None:
        self._f.write(json.dumps(row) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def git_info() -> dict:
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def package_versions() -> dict[str, str | None]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def kaggle_fields(plan: dict) -> dict[str, str | None]:
    """Null off Kaggle; on Kaggle the session facts a reviewer needs to find the run."""
    run_type = os.environ.get("KAGGLE_KERNEL_RUN_TYPE")
    if not run_type:
        return {"kernel_run_type": None, "accelerator": None, "notebook_version": None}
    return {
        "kernel_run_type": run_type,  # "Interactive" or "Batch" (a committed/judged run)
        "accelerator": f"{plan.get('device_name')} x{plan.get('device_count')}" if plan else None,
        "notebook_version": os.environ.get("KAGGLE_KERNEL_VERSION"),  # set only where Kaggle provides it
    }


def env_snapshot() -> str:
    dists = sorted((d.metadata["Name"] or "?", d.version) for d in metadata.distributions())
    lines = [
        f"captured_at: {now()}",
        f"python: {sys.version.split()[0]} ({sys.executable})",
        f"platform: {platform.platform()}",
        f"machine: {platform.machine()}, cpus: {os.cpu_count()}",
        "",
        "packages:",
        *(f"  {n}=={v}" for n, v in dists),
    ]
    return "\n".join(lines) + "\n"


def gpu_snapshot() -> str:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return "no GPU (nvidia-smi not found)\n"
    try:
        out = subprocess.run([exe], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"nvidia-smi failed: {e}\n"
    return out.stdout if out.returncode == 0 else f"no GPU (nvidia-smi exited {out.returncode}: {out.stderr.strip()})\n"


def write_scores(out_dir: Path, rows: list[dict], summary: dict, *, eval_file: Path,
                 before: tuple[list[dict], dict] | None = None) -> None:
    """`predictions.jsonl` (one scored row per eval item) and `eval_summary.json` (the scorecard).
    With `before` (the base model's rows and summary on the same items) also
    `predictions_before.jsonl`, and the summary gains a "before" scorecard beside its own."""
    write_jsonl_atomic(out_dir / "predictions.jsonl", rows)
    extra = {}
    if before is not None:
        write_jsonl_atomic(out_dir / "predictions_before.jsonl", before[0])
        extra = {"before": before[1]}
    write_json_atomic(out_dir / "eval_summary.json", {
        "eval_file": str(eval_file),
        "eval_sha256": sha256_file(eval_file),
        "scored_at": now(),
        **summary,
        **extra,
    })
