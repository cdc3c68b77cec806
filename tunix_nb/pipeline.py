"""One run, start to finish. `run(cfg)` reads as the flow; the notebooks call the same stages cell
by cell (prepare -> start -> train -> evaluate -> finish), so nothing is done twice.

`prepare` checks everything that can be refused (config, device, auth, model source, data)
before the run dir exists, so bad input leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import auth, data, device, evidence, generate, models, report, scoring, train_torch
from .config import Config, resolve_path


@dataclass
class Session:
    """What the stages hand on to each other (and what a notebook keeps between cells)."""
    cfg: Config
    plan: device.DevicePlan
    source: models.ModelSource
    tokenizer: object
    examples: list
    skipped: int
    eval_records: list
    train_path: Path
    eval_path: Path
    run: evidence.Run | None = None
    model: object = None
    result: train_torch.TrainResult | None = None
    before: tuple[list, dict] | None = field(default=None, repr=False)
    summary: dict | None = None


def run(cfg: Config) -> evidence.Run:
    session = prepare(cfg)
    start(session)
    train(session)
    evaluate(session)
    return finish(session)


def prepare(cfg: Config) -> Session:
    hardware = device.detect(cfg.training.device)
    label = cfg.model.hf_secret_label
    token = auth.get_token(cfg.model.source, label)
    print(auth.describe(token, cfg.model.source, label))
    source = models.resolve_source(cfg.model.source, cfg.model.revision, token.value if token else None, label)
    plan = device.make_plan(cfg, hardware, models.model_shape(source.path), on_kaggle=auth.on_kaggle())
    print(plan.describe())
    train_path, eval_path = resolve_path(cfg.data.train_file), resolve_path(cfg.data.eval_file)
    train_records = data.load_records(train_path, "train")[: cfg.data.train_limit]
    eval_records = data.spread_subset(data.load_records(eval_path, "eval"), cfg.eval.limit)
    tokenizer = models.load_tokenizer(source.path)
    examples, skipped = data.encode_train(train_records, tokenizer, cfg.data.max_seq_len)
    return Session(cfg=cfg, plan=plan, source=source, tokenizer=tokenizer, examples=examples, skipped=skipped,
                   eval_records=eval_records, train_path=train_path, eval_path=eval_path)


def start(s: Session) -> Path:
    """Create the run dir (manifest status running) and load the model."""
    s.run = evidence.Run.create(s.cfg, plan=s.plan.to_dict(), model_source=s.source.to_dict(),
                                datasets={"train": s.train_path, "eval": s.eval_path})
    print(f"run dir: {s.run.dir}")
    with s.run.failing():
        s.run.log.info("%s", s.plan.describe())
        s.run.log.info("data: %d training samples (%d skipped: longer than data.max_seq_len=%d), %d eval items",
                       len(s.examples), s.skipped, s.cfg.data.max_seq_len, len(s.eval_records))
        s.model = models.load_torch_model(s.source, dtype=s.plan.dtype, lora=s.cfg.training.lora is not None,
                                          attn_implementation=s.cfg.model.attn_implementation)
    return s.run.dir


def train(s: Session) -> Path:
    """(Evaluate the base model first when asked,) train, plot the loss curve; returns its PNG."""
    with s.run.failing():
        if s.cfg.eval.compare_base:
            s.before = _score(s, s.model, "eval (base)")
        s.result = train_torch.train(s.cfg, s.model, s.tokenizer, s.examples, s.run, s.plan.device, s.plan.dtype)
        s.run.update(metrics={**s.result.summary(), "skipped_samples": s.skipped})
        return report.plot_loss(evidence.read_jsonl(s.run.dir / "metrics.jsonl"), s.run.dir / "loss_curve.png")


def evaluate(s: Session) -> str:
    """Generate, score, write predictions and the scorecard; returns the scorecard table."""
    with s.run.failing():
        rows, s.summary = _score(s, s.result.model, "eval")
        before_summary = s.before[1] if s.before else None
        evidence.write_scores(s.run.dir, rows, s.summary, eval_file=s.eval_path, before=s.before)
        report.plot_scorecard(s.summary, s.run.dir / "scorecard.png")
        s.run.update(eval=s.summary["overall"], eval_before=before_summary["overall"] if before_summary else None)
        table = scoring.format_scorecard(s.summary, before=before_summary)
        s.run.log.info("scorecard:\n%s", table)
        print(table)
        return table


def finish(s: Session) -> evidence.Run:
    s.run.complete()
    return s.run


def _score(s: Session, model, desc: str) -> tuple[list, dict]:
    predictions = generate.predict(model, s.tokenizer, s.eval_records, device=s.plan.device, dtype=s.plan.dtype,
                                   desc=desc, max_new_tokens=s.cfg.eval.max_new_tokens,
                                   batch_size=s.cfg.eval.batch_size)
    return scoring.score_predictions(predictions, [asdict(r) for r in s.eval_records])
