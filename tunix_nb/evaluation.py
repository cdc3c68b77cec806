"""`tunix-nb eval`: score a model without training it, into a run dir of its own.

The model is any `model.source` form (the base model: "what does it score?") or a finished run's
dir (its final model: the last stage's newest checkpoint, restored by that run's backend into the
same freshly built policy). The settings come from the run's own config.yaml, or from a preset
(`--config`, default smoke_tiny.yaml) for a model source; `--eval` names any eval source. The
stages are the pipeline's own (start of a run dir, scoring, scorecard, report), so the predictions
equal those a training run writes for the same model, items and settings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from . import data, evidence, inputs, models, pipeline
from .config import Config, load_config
from .errors import UserError


def config_for(model: str, eval_source: str, overrides: Sequence[str] = (), *, config: str | None = None,
               run_id: str | None = None) -> tuple[Config, Path | None]:
    """The eval run's config and the finished run dir it evaluates (None for a model source)."""
    trained = finished_run(model)
    preset = config or (trained / "config.yaml" if trained else None)
    label = trained.name if trained else re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_")[-60:]
    ours = [f"data.eval_file={eval_source}", "data.eval_split=null", "data.eval_columns={}", "eval.compare_base=false",
            f"name=eval-{label}", *([] if trained else [f"model.source={model}"]),
            *([f"output.run_id={run_id}"] if run_id else [])]
    return load_config(preset, [*ours, *overrides]), trained


def finished_run(model: str, purpose: str = "evaluate") -> Path | None:
    """The run dir `model` names (None when it names a model source); refused unless complete."""
    path = Path(model).expanduser()
    if not (path / "run_manifest.json").is_file():
        return None
    status = evidence.read_manifest(path).get("status")
    if status != "complete":
        raise UserError(f"{path}: the run is {status}, not complete; {purpose} a finished run (resume it first: "
                        "re-run its command with the same --run-id)")
    return path.resolve()


def run(cfg: Config, trained: Path | None = None) -> evidence.Run:
    s = prepare(cfg)
    start(s, trained)
    pipeline.evaluate(s)
    return pipeline.finish(s)


def prepare(cfg: Config) -> pipeline.Session:
    """What `pipeline.prepare` checks, for the eval items only (no training data is read)."""
    cfg = pipeline.with_run_id(cfg)
    backend, source, plan = pipeline.resolve_model(cfg)
    print(plan.describe())
    ev = inputs.load_eval(cfg)
    tokenizer = models.load_tokenizer(source.path)
    backend.check(cfg, source.path)
    return pipeline.Session(cfg=cfg, backend=backend, plan=plan, source=source, tokenizer=tokenizer, examples=[],
                            skipped=0, eval_records=data.spread_subset(ev.records, cfg.eval.limit), prompts=[],
                            datasets={"eval": ev.info})


def start(s: pipeline.Session, trained: Path | None) -> Path:
    """The run dir; the policy loaded, and a finished run's final weights restored into it; scored
    as that run's last stage (base for a model source)."""
    s.run = evidence.Run.open(s.cfg, plan=s.plan.to_dict(), model_source=s.source.to_dict(), datasets=s.datasets)
    print(f"run dir: {s.run.dir}")
    stage = pipeline.trained_stages(s.cfg)[-1] if trained else "base"
    with s.run.failing():
        s.run.log.info("%s", s.plan.describe())
        s.policy = s.backend.load_policy(s.cfg, s.source, s.plan)
        step = s.backend.restore(s.policy, trained / "checkpoints", s.cfg, s.run.log) if trained else None
        s.run.update(evaluates={"model": str(trained) if trained else s.cfg.model.source, "stage": stage,
                                "checkpoint_step": step})
        s.stages[stage] = pipeline.score_stage(s, f"eval ({stage})")
    return s.run.dir
