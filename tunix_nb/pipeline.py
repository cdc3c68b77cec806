"""One run, start to finish. Reads as the flow: plan -> model -> data -> train -> evaluate -> evidence.

Everything that can be refused (config, device, model source, data) is checked before the run
dir exists, so bad input leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import asdict

from . import data, device, evidence, generate, models, report, scoring, train_torch
from .config import Config, resolve_path


def run(cfg: Config) -> evidence.Run:
    plan = device.plan_torch(cfg)
    print(plan.describe())
    source = models.resolve_source(cfg.model.source, cfg.model.revision)
    train_path, eval_path = resolve_path(cfg.data.train_file), resolve_path(cfg.data.eval_file)
    train_records = data.load_records(train_path, "train")[: cfg.data.train_limit]
    eval_records = data.spread_subset(data.load_records(eval_path, "eval"), cfg.eval.limit)
    tokenizer = models.load_tokenizer(source.path)
    examples, skipped = data.encode_train(train_records, tokenizer, cfg.data.max_seq_len)

    run = evidence.Run.create(cfg, plan=plan.to_dict(), model_source=source.to_dict(),
                              datasets={"train": train_path, "eval": eval_path})
    print(f"run dir: {run.dir}")
    with run.guard():
        run.log.info("%s", plan.describe())
        run.log.info("data: %d training samples (%d skipped: longer than data.max_seq_len=%d), %d eval items",
                     len(examples), skipped, cfg.data.max_seq_len, len(eval_records))
        model = models.load_torch_model(source, dtype=plan.dtype, lora=cfg.training.lora is not None,
                                        attn_implementation=cfg.model.attn_implementation)
        before = evaluate(model, tokenizer, eval_records, cfg, plan, "eval (base)") if cfg.eval.compare_base else None

        result = train_torch.train(cfg, model, tokenizer, examples, run, plan.device, plan.dtype)
        run.update(metrics={**result.summary(), "skipped_samples": skipped})
        report.plot_loss(evidence.read_jsonl(run.dir / "metrics.jsonl"), run.dir / "loss_curve.png")

        rows, summary = evaluate(result.model, tokenizer, eval_records, cfg, plan, "eval")
        evidence.write_scores(run.dir, rows, summary, eval_file=eval_path, before=before)
        report.plot_scorecard(summary, run.dir / "scorecard.png")
        run.update(eval=summary["overall"], eval_before=before[1]["overall"] if before else None)
        scorecard = scoring.format_scorecard(summary, before=before[1] if before else None)
        run.log.info("scorecard:\n%s", scorecard)
        print(scorecard)
    return run


def evaluate(model, tokenizer, records, cfg: Config, plan: device.DevicePlan, desc: str):
    """Generate for every eval record and score: (rows, summary)."""
    predictions = generate.predict(model, tokenizer, records, device=plan.device, dtype=plan.dtype, desc=desc,
                                   max_new_tokens=cfg.eval.max_new_tokens, batch_size=cfg.eval.batch_size)
    return scoring.score_predictions(predictions, [asdict(r) for r in records])
