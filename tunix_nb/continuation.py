"""Continue a run in a new session from an earlier session's run dir (`--continue-from DIR`): the
competition's multi-session mode, where a Kaggle session ends after 9 hours and its output comes
back in the next session read-only, under /kaggle/input.

`find` checks, before anything is written, that DIR can be continued by this session's config: a
run dir of the same recipe (the config equal but for what may change between sessions, the same
training data by content) holding a whole checkpoint. `carry_over` copies into the new run dir what
a resume reads: each trained stage's newest whole checkpoint, the metrics rows up to it, what was
planned once (the GRPO curriculum, the preference pairs and their reference log-probs) and the
manifest's record of it. From
there the new run resumes exactly as a killed run resumes in its own dir (optimizer, schedule
position, data order and RNG come with the checkpoint). Nothing is ever written under DIR.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from . import checkpoints, curriculum, evidence, pairs
from .config import Config
from .errors import UserError

# What may differ between sessions: where runs go and what they are called, how the model is scored,
# this session's time budget, and where (not what) the data is: a dataset is compared by content.
# Anything else is the recipe, and a continued run with another value would be another run.
SESSION_FIELDS = re.compile(r"(output|eval|name|training\.time_budget_minutes)(\.|$)")
DATA_LOCATIONS = re.compile(r"(data\.(train_file|eval_file|mix\.\d+\.file)|grpo\.prompt_file|preference\.pairs_file)$")
# Planned once in a run dir and read back on resume (measuring or sampling again would differ).
PLANNED_FILES = (curriculum.FILE, pairs.FILE, pairs.REFERENCE_FILE)
PLANNED_ENTRIES = ("curriculum", "preference")  # their manifest records


@dataclass(frozen=True)
class Continuation:
    source: Path  # the earlier session's run dir
    run_id: str
    steps: dict[str, int]  # trained stage -> the step of its checkpoint carried over (0: none yet)
    backend: str
    planned: dict  # the source manifest's PLANNED_ENTRIES, carried into the new run's manifest

    def record(self) -> dict:
        """The manifest's `continues`: which run, from which step of which stage."""
        stage = [s for s, n in self.steps.items() if n][-1]
        return {"run_id": self.run_id, "path": str(self.source), "stage": stage, "step": self.steps[stage],
                "steps": dict(self.steps)}


def stage_root(run_dir: Path, stages: list[str], stage: str) -> Path:
    """A stage's checkpoint root: the last trained stage writes where the judges look
    (`checkpoints/`, their CKPT_DIR), earlier ones beside it (`checkpoints/<stage>`)."""
    root = run_dir / "checkpoints"
    return root if stage == stages[-1] else root / stage


def find(source: str | Path, cfg: Config, datasets: dict, *, stages: list[str], at_most) -> Continuation:
    """What a new run of `cfg` continues from `source`, or a UserError naming what stands in the way.
    `at_most(metrics_path)`: per stage, the newest step a resume may start from (pipeline's rule)."""
    flag = "--continue-from"
    src = Path(source).expanduser()
    if not (src / "run_manifest.json").is_file():
        raise UserError(f"{flag} {src}: not a run dir (no run_manifest.json); pass the run dir an earlier "
                        "session wrote (on Kaggle: its output attached under /kaggle/input/...)")
    manifest = evidence.read_manifest(src)
    if difference := _recipe_difference(manifest.get("config") or {}, json.loads(json.dumps(cfg.to_dict()))):
        field, was, now = difference
        raise UserError(f"{flag} {src}: {field} was {was!r} there and is {now!r} here; a continued run keeps its "
                        "recipe (only output.*, eval.* and training.time_budget_minutes may change between "
                        f"sessions): set {field}={json.dumps(was)} or start a new run")
    for role, info in (manifest.get("datasets") or {}).items():
        if _without_paths(info) != _without_paths(datasets.get(role)):
            raise UserError(f"{flag} {src}: the {role} data differs from the data that run trained on "
                            f"({(info or {}).get('path')}); continue with the same data or start a new run")
    backend = cfg.training.backend
    limits = at_most(src / "metrics.jsonl")
    steps = {stage: max((n for n, _ in checkpoints.saved(stage_root(src, stages, stage), backend)
                         if limits[stage] is None or n <= limits[stage]), default=0) for stage in stages}
    if not any(steps.values()):
        raise UserError(f"{flag} {src}: no whole checkpoint to continue from (that session stopped before its "
                        "first save); start a new run, or lower training.save_every next time")
    return Continuation(source=src, run_id=manifest.get("run_id", src.name), steps=steps, backend=backend,
                        planned={k: manifest[k] for k in PLANNED_ENTRIES if k in manifest})


def carry_over(c: Continuation, run_dir: Path, stages: list[str]) -> dict:
    """Copy each stage's carried checkpoint and the metrics rows up to it into the new `run_dir`;
    returns the manifest's `continues`. Safe to repeat after a kill: each copy is staged under
    `.tmp-continue` and moved into place whole."""
    staging = run_dir / ".tmp-continue"
    shutil.rmtree(staging, ignore_errors=True)
    for stage, step in c.steps.items():
        if not step:
            continue
        root = stage_root(c.source, stages, stage)
        folder = dict(checkpoints.saved(root, c.backend))[step]
        target = stage_root(run_dir, stages, stage) / folder.relative_to(root)
        _copy_tree(folder, staging / stage)
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        (staging / stage).rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    rows = [r for r in evidence.read_jsonl(c.source / "metrics.jsonl")
            if r.get("step", 0) <= c.steps.get(evidence.metrics_stage(r), 0)] if (c.source / "metrics.jsonl").exists() else []
    evidence.write_jsonl_atomic(run_dir / "metrics.jsonl", rows)
    for name in PLANNED_FILES:
        if (c.source / name).is_file():
            shutil.copyfile(c.source / name, run_dir / name)
    return c.record()


def _copy_tree(src: Path, dst: Path) -> None:
    """Contents only: a read-only source's permission bits are not copied, so the new run may later
    replace or delete what it carried over."""
    for path in sorted(src.rglob("*")):
        out = dst / path.relative_to(src)
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
    dst.mkdir(parents=True, exist_ok=True)


def _recipe_difference(old, new, prefix: str = "") -> tuple[str, object, object] | None:
    """The first config field (dotted; a list item by its index) whose value differs and is part of
    the recipe, as (field, old, new); a section set on one side only is named whole."""
    if isinstance(old, dict) and isinstance(new, dict):
        pairs = [(key, old.get(key), new.get(key)) for key in sorted(old.keys() | new.keys())]
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        pairs = list(zip(range(len(old)), old, new))
    else:
        field = prefix[:-1]
        if old == new or SESSION_FIELDS.match(field) or DATA_LOCATIONS.match(field):
            return None
        return field, old, new
    for key, a, b in pairs:
        if found := _recipe_difference(a, b, f"{prefix}{key}."):
            return found
    return None


def _without_paths(info):
    """A dataset entry of the manifest without where the file was: its content (sha256, rows) stays."""
    if isinstance(info, dict):
        return {k: _without_paths(v) for k, v in info.items() if k != "path"}
    if isinstance(info, list):
        return [_without_paths(v) for v in info]
    return info
