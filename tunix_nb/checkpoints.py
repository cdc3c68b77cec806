"""Where checkpoints live under a stage's checkpoint root, spelled once for every reader: the
backends that write and resume them, `tunix-nb status`, the judges' handles, the packaging tool.
Standard library only (the packaging tool imports it without torch or JAX).

  torch: <root>/step-NNNNNN/      HF weights (adapters for LoRA) + trainer_state.pt, written as
                                  <root>/.tmp-step-NNNNNN and renamed into place when whole
  tunix: <root>/actor/<step>/model_params
                                  orbax; the judges' layout (CKPT_DIR/actor/<step>/model_params),
                                  written as <step>.orbax-checkpoint-tmp-* until whole

The run's last trained stage owns `<run dir>/checkpoints` (CKPT_DIR), earlier ones
`<run dir>/checkpoints/<stage>` (pipeline.checkpoint_root).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ACTOR = "actor"
MODEL_PARAMS = "model_params"
TRAINER_STATE = "trainer_state.pt"  # what makes a torch checkpoint whole (written last)
_TORCH = re.compile(r"step-(\d{6,})")


def torch_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:06d}"


def torch_tmp_dir(root: Path, step: int) -> Path:
    return root / f".tmp-step-{step:06d}"


def tunix_dir(root: Path, step: int) -> Path:
    return root / ACTOR / str(step)


def tunix_params(root: Path, step: int) -> Path:
    """What the judges restore: CKPT_DIR/actor/<step>/model_params."""
    return tunix_dir(root, step) / MODEL_PARAMS


def saved(root: Path, backend: str) -> list[tuple[int, Path]]:
    """The whole checkpoints under `root` written by `backend`, as (step, folder), oldest first."""
    if backend == "torch":
        found = [(int(m.group(1)), p) for p in _children(root) if (m := _TORCH.fullmatch(p.name))
                 and (p / TRAINER_STATE).is_file()]
    elif backend == "tunix":
        found = [(int(p.name), p) for p in _children(root / ACTOR) if p.name.isdigit() and (p / MODEL_PARAMS).is_dir()]
    else:
        raise ValueError(f"unknown backend {backend!r}")
    return sorted(found)


def latest(root: Path, backend: str | None) -> tuple[int, Path] | None:
    """The newest whole checkpoint (step, folder) under `root`; backend None (a run dir whose
    manifest does not say, e.g. an old one): either layout."""
    found = [c for b in ((backend,) if backend else ("torch", "tunix")) for c in saved(root, b)]
    return max(found) if found else None


def run_backend(run_dir: Path) -> str | None:
    """The backend a run dir's manifest names (device_plan.backend), or None when it says nothing."""
    try:
        plan = json.loads((run_dir / "run_manifest.json").read_text(encoding="utf-8")).get("device_plan") or {}
    except (OSError, ValueError, AttributeError):
        return None
    return plan.get("backend") if plan.get("backend") in ("torch", "tunix") else None


def torn(root: Path, backend: str) -> list[Path]:
    """Leftovers of a checkpoint write cut short (a kill mid-write) under `root`."""
    if backend == "torch":
        return sorted(root.glob(".tmp-step-*")) if root.is_dir() else []
    if backend == "tunix":
        return sorted((root / ACTOR).glob("*.orbax-checkpoint-tmp*")) if (root / ACTOR).is_dir() else []
    raise ValueError(f"unknown backend {backend!r}")


def drop_torn(root: Path, backend: str, log=None) -> None:
    """Remove what `torn` finds (useless to a resume, and it holds disk space), with a warning."""
    import shutil

    for path in torn(root, backend):
        if log:
            log.warning("ignoring incomplete checkpoint %s (cut short while being written)", path.name)
        shutil.rmtree(path, ignore_errors=True)


def _children(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_dir()] if folder.is_dir() else []
