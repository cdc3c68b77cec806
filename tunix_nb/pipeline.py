"""One run, start to finish. `run(cfg)` reads as the flow; the notebooks call the same stages cell
by cell (prepare -> start -> train -> evaluate -> finish), so nothing is done twice.

`prepare` checks everything that can be refused (config, device, auth, model source, data)
before the run dir exists, so bad input leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import auth, data, device, evidence, generate, models, report, scoring, train_torch
from . import sample_tunix, train_tunix  # JAX/Tunix are imported inside their functions, only when used
from .config import Config, resolve_path
from .errors import UserError


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
    resume_from: Path | None = None  # the checkpoint an unfinished run continues from
    model: object = None
    model_config: object = None  # Tunix's ModelConfig (tunix backend)
    mesh: object = None  # the device mesh (tunix backend)
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
    if cfg.output.run_id is None:  # fixed now, so config.yaml and the manifest name the run (and can resume it)
        cfg = replace(cfg, output=replace(cfg.output, run_id=evidence.default_run_id(cfg)))
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
    if not examples:
        raise UserError(f"data.max_seq_len: all {skipped} training samples of {train_path} are longer than "
                        f"{cfg.data.max_seq_len} tokens; raise data.max_seq_len")
    if cfg.training.lora is not None:
        models.check_lora_targets(source.path, cfg.training.lora.target_modules)
    if cfg.training.backend == "tunix":  # what Tunix cannot load or adapt is refused before the run dir exists
        train_tunix.check(cfg, source.path)
    return Session(cfg=cfg, plan=plan, source=source, tokenizer=tokenizer, examples=examples, skipped=skipped,
                   eval_records=eval_records, train_path=train_path, eval_path=eval_path)


def start(s: Session) -> Path:
    """Create the run dir (manifest status running), or reopen an unfinished one with the same run
    id and config to resume it from its latest whole checkpoint; load the model."""
    s.run = evidence.Run.open(s.cfg, plan=s.plan.to_dict(), model_source=s.source.to_dict(),
                              datasets={"train": s.train_path, "eval": s.eval_path})
    print(f"run dir: {s.run.dir}")
    with s.run.failing():
        if s.run.manifest.get("resumes"):
            if tunix(s):
                step = train_tunix.latest_step(s.run.dir, s.run.log)
                name = f"step {step}" if step else None
            else:
                s.resume_from = train_torch.latest_checkpoint(s.run.dir, s.run.log)
                step = int(s.resume_from.name.split("-")[1]) if s.resume_from else 0
                name = s.resume_from.name if s.resume_from else None
            dropped = evidence.truncate_metrics(s.run.dir / "metrics.jsonl", step)
            s.run.update(resumed_from=name)
            print(f"resuming {s.run.id} from " + (f"checkpoint {name}" if name else "the start")
                  + f" ({dropped} metrics lines after it dropped)")
        s.run.log.info("%s", s.plan.describe())
        s.run.log.info("data: %d training samples (%d skipped: longer than data.max_seq_len=%d), %d eval items",
                       len(s.examples), s.skipped, s.cfg.data.max_seq_len, len(s.eval_records))
        if tunix(s):
            s.model, s.model_config, s.mesh = train_tunix.build_lora_policy(s.cfg, s.source.path, s.plan.dtype)
        else:
            s.model = models.load_torch_model(s.source, dtype=s.plan.dtype, lora=s.cfg.training.lora is not None,
                                              attn_implementation=s.cfg.model.attn_implementation)
    return s.run.dir


def train(s: Session) -> Path:
    """(Evaluate the base model first when asked,) train, plot the loss curve; returns its PNG."""
    with s.run.failing():
        if s.cfg.eval.compare_base:
            s.before = _score(s, s.model, "eval (base)")
        if tunix(s):
            s.result = train_tunix.train(s.cfg, s.model, s.tokenizer, s.examples, s.run, s.mesh)
        else:
            s.result = train_torch.train(s.cfg, s.model, s.tokenizer, s.examples, s.run, s.plan.device,
                                         s.plan.dtype, resume=s.resume_from)
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
    """Mark the run complete and write its report.html (after: the page shows the final status)."""
    s.run.complete()
    print(f"report: {report.write_report(s.run.dir)}")
    return s.run


def judge_handles(s: Session) -> tuple:
    """What the competition's judges' cells read after ours: (lora_policy, tokenizer, model_config,
    MAX_PROMPT_LENGTH, CKPT_DIR). They restore CKPT_DIR/actor/<largest step>/model_params into
    lora_policy and sample with Tunix (tunix backend; a torch run hands over its own model and config)."""
    model = s.result.model if s.result else s.model
    config = s.model_config if tunix(s) else model.config
    return model, s.tokenizer, config, s.cfg.data.max_seq_len, s.run.dir / "checkpoints"


def tunix(s: Session) -> bool:
    return s.cfg.training.backend == "tunix"


def _score(s: Session, model, desc: str) -> tuple[list, dict]:
    if tunix(s):
        with s.mesh:
            predictions = sample_tunix.predict(model, s.model_config, s.tokenizer, s.eval_records, desc=desc,
                                               max_new_tokens=s.cfg.eval.max_new_tokens,
                                               batch_size=s.cfg.eval.batch_size)
        return scoring.score_predictions(predictions, [asdict(r) for r in s.eval_records])
    predictions = generate.predict(model, s.tokenizer, s.eval_records, device=s.plan.device, dtype=s.plan.dtype,
                                   desc=desc, max_new_tokens=s.cfg.eval.max_new_tokens,
                                   batch_size=s.cfg.eval.batch_size)
    return scoring.score_predictions(predictions, [asdict(r) for r in s.eval_records])
