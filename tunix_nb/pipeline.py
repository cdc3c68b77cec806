"""One run, start to finish. `run(cfg)` reads as the flow; the notebooks call the same stages cell
by cell (prepare -> start -> base -> sft -> preference -> grpo -> evaluate -> finish), so nothing is
done twice.

`prepare` checks everything that can be refused (config, device, auth, model source, data)
before the run dir exists, so bad input leaves nothing behind. The backend (torch or tunix) is
chosen once, in `prepare`; each stage calls the same function of whichever it is.

Stages: base (the untrained model, `eval.compare_base`) -> SFT (off with `training.max_steps: 0`)
-> preference (DPO / ORPO / SimPO; off with `preference: null`) -> GRPO (off with `grpo: null`). Each trained stage is scored on the same eval items; the last
stage owns `<run dir>/checkpoints` (the judges' `CKPT_DIR`), earlier ones `checkpoints/<stage>`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import (auth, backends, continuation, curriculum, data, device, evidence, inputs, judge, models, pairs, report,
               rewards, scoring, stages)
from .config import resolve_path
from .backends.common import Backend, Policy
from .backends.torch import distributed
from .stages import Budget, TrainResult
from .config import Config
from .errors import UserError

STAGES = ("base", "sft", "preference", "grpo")


@dataclass
class Session:
    """What the stages hand on to each other (and what a notebook keeps between cells)."""
    cfg: Config
    backend: Backend
    plan: device.DevicePlan
    source: models.ModelSource
    tokenizer: object
    examples: list
    skipped: int
    eval_records: list
    prompts: list  # GRPO prompts (empty without a GRPO stage)
    datasets: dict[str, dict]  # the manifest's entries (inputs.load_run_data)
    pairs: list = field(default_factory=list)  # preference.pairs_file's pairs, encoded (empty: none, or on-policy)
    pairs_skipped: int = 0  # the pairs file's pairs that did not fit preference's limits
    pair_prompts: list = field(default_factory=list)  # the GrpoPrompts an on-policy preference stage samples
    judge: judge.Judge | None = None  # the judge reward (grpo.judge_source), loaded before the run dir exists
    continues: continuation.Continuation | None = None  # an earlier session's run dir this run starts from
    run: evidence.Run | None = None
    policy: Policy | None = None
    budget: Budget | None = None
    results: dict[str, TrainResult] = field(default_factory=dict)
    stages: dict[str, tuple[list, dict]] = field(default_factory=dict, repr=False)  # stage -> (rows, summary)


def run(cfg: Config, continue_from: str | Path | None = None) -> evidence.Run:
    session = prepare(cfg, continue_from)
    start(session)
    base(session)
    sft(session)
    preference(session)
    grpo(session)
    evaluate(session)
    return finish(session)


def follow(cfg: Config) -> None:
    """A torchrun rank > 0 (`training.distributed`): once rank 0's run dir exists (its model is
    fetched by then), the same data and model, and SFT's share of each step beside rank 0; it
    writes nothing. Rank 0 runs `run`: the evidence, the checkpoints, then evaluation alone."""
    run_dir = Path(distributed.on_main(lambda: None))
    s = prepare(replace(cfg, output=replace(cfg.output, run_id=run_dir.name)))
    s.run = evidence.Run.follower(run_dir)
    s.policy = s.backend.load_policy(s.cfg, s.source, s.plan)
    if sft_on(s.cfg):
        s.backend.train_sft(s.cfg, s.policy, s.tokenizer, s.examples, stages.sft_stage(s.run, s.cfg), plan=s.plan,
                            root=checkpoint_root(s, "sft"))


def prepare(cfg: Config, continue_from: str | Path | None = None) -> Session:
    """Everything checked and loaded before the run dir exists. `continue_from`: an earlier session's
    run dir (possibly read-only) whose newest whole checkpoint this run starts from."""
    cfg = with_run_id(cfg)
    judged = judge_source(cfg)
    backend, source, plan = resolve_model(cfg, judge_model=judged)
    print(plan.describe())
    loaded = inputs.load_run_data(cfg)
    eval_records = data.spread_subset(loaded.eval, cfg.eval.limit)
    tokenizer = models.load_tokenizer(source.path)
    examples, skipped = data.encode_train(loaded.train, tokenizer, cfg.data.max_seq_len)
    if not examples and sft_on(cfg):
        raise UserError(f"data.max_seq_len: all {skipped} training samples of {loaded.datasets['train']['path']} "
                        f"are longer than {cfg.data.max_seq_len} tokens; raise data.max_seq_len")
    prompts = []
    if cfg.grpo is not None:
        prompts, too_long = data.grpo_prompts(loaded.prompts, tokenizer, cfg.grpo.max_prompt_len)
        if not prompts:
            where = loaded.datasets.get("grpo_prompts", loaded.datasets["train"])["path"]
            raise UserError(f"grpo.max_prompt_len: all {too_long} prompts of {where} are longer "
                            f"than {cfg.grpo.max_prompt_len} tokens; raise grpo.max_prompt_len")
    file_pairs, pairs_skipped, pair_prompts = preference_inputs(cfg, loaded, tokenizer)
    if cfg.training.lora is not None:
        models.check_lora_targets(source.path, cfg.training.lora.target_modules)
    backend.check(cfg, source.path)  # what this backend cannot load or do is refused before the run dir exists
    grader = load_judge(cfg, backend, plan, judged)
    continues = None
    if continue_from is not None:
        continues = continuation.find(continue_from, cfg, loaded.datasets, stages=trained_stages(cfg),
                                      at_most=lambda metrics: resume_limits(cfg, metrics))
    return Session(cfg=cfg, backend=backend, plan=plan, source=source, tokenizer=tokenizer, examples=examples,
                   skipped=skipped, eval_records=eval_records, prompts=prompts, datasets=loaded.datasets,
                   continues=continues, pairs=file_pairs, pairs_skipped=pairs_skipped,
                   pair_prompts=pair_prompts, judge=grader)


def load_judge(cfg: Config, backend: Backend, plan: device.DevicePlan,
               source: models.ModelSource | None) -> judge.Judge | None:
    """The judge reward of grpo.judge_source (`source`, fetched) with grpo.judge_rubric, its model
    loaded by the backend (Tunix: on its own devices, grpo.judge_devices); what cannot be read or
    loaded is refused naming the setting."""
    g = cfg.grpo
    if source is None:
        return None
    rubric = judge.load_rubric(resolve_path(g.judge_rubric))
    try:
        tokenizer = models.load_tokenizer(source.path)
        next_logprobs = backend.load_judge(cfg, source.path, plan)
    except UserError as e:
        raise _naming_the_judge(e, g.judge_source) from None
    except Exception as e:  # noqa: BLE001 - any loader failure is this setting's problem
        raise UserError(f"grpo.judge_source: {g.judge_source}: cannot load the judge model ({type(e).__name__}: "
                        f"{str(e).splitlines()[0][:200]}); name a Gemma HF folder, packaged:gemma-3-270m or a "
                        "Kaggle handle") from None
    print(f"judge: {g.judge_source} ({source.path}), rubric {g.judge_rubric}")
    return judge.Judge(rubric, tokenizer, next_logprobs, g.judge_batch_size)


def judge_source(cfg: Config) -> models.ModelSource | None:
    """grpo.judge_source fetched (or built) like model.source; errors name the judge's setting."""
    if cfg.grpo is None or cfg.grpo.judge_source is None:
        return None
    spec, label = cfg.grpo.judge_source, cfg.model.hf_secret_label
    try:
        token = auth.get_token(spec, label)
        return models.resolve_source(spec, None, token.value if token else None, label)
    except UserError as e:
        raise _naming_the_judge(e, spec) from None


def _naming_the_judge(e: UserError, spec: str) -> UserError:
    """A model loader's refusal (worded for model.source) as the judge's setting's."""
    return UserError(str(e).replace("model.source:", f"grpo.judge_source ({spec}):", 1))


def with_run_id(cfg: Config) -> Config:
    """The run id fixed now, so config.yaml and the manifest name the run (and can resume it)."""
    if cfg.output.run_id is not None:
        return cfg
    return replace(cfg, output=replace(cfg.output, run_id=evidence.default_run_id(cfg)))


def resolve_model(cfg: Config, *, judge_model: models.ModelSource | None = None
                  ) -> tuple[Backend, models.ModelSource, device.DevicePlan]:
    """The backend, the model source (fetched or converted once, auth where it needs it) and the
    device plan (`judge_model`: a training run's judge model, whose memory the preflight counts
    too); a complete run dir, or another config's, is refused before any model work. The plan is
    not printed here: a run or an evaluation says it, an export has no use for it."""
    evidence.Run.check_reopen(cfg)
    backend = backends.get(cfg.training.backend)
    hardware = device.detect(cfg.training.device)
    label = cfg.model.hf_secret_label
    token = auth.get_token(cfg.model.source, label)
    print(auth.describe(token, cfg.model.source, label))
    source = models.resolve_source(cfg.model.source, cfg.model.revision, token.value if token else None, label)
    plan = device.make_plan(cfg, hardware, models.model_shape(source.path), on_kaggle=auth.on_kaggle(),
                            judge_shape=models.model_shape(judge_model.path) if judge_model else None)
    return backend, source, plan


def start(s: Session) -> Path:
    """Create the run dir (manifest status running), or reopen an unfinished one with the same run
    id and config to resume each stage from its latest whole checkpoint; load the model. A run that
    continues an earlier session's run dir gets that dir's checkpoints and rows first, then resumes
    from them the same way (the time budget is this session's)."""
    s.run = evidence.Run.open(s.cfg, plan=s.plan.to_dict(), model_source=s.source.to_dict(), datasets=s.datasets)
    with s.run.failing():
        if s.continues is not None and not s.run.manifest.get("continues"):
            s.run.update(**s.continues.planned,
                         continues=continuation.carry_over(s.continues, s.run.dir, trained_stages(s.cfg)))
            print(f"continuing {s.continues.run_id} ({s.continues.source}) from "
                  + ", ".join(f"{k} step {v}" for k, v in s.continues.steps.items()))
    distributed.on_main(lambda: str(s.run.dir))  # torchrun: the other ranks wait for it in `follow`
    s.budget = Budget(seconds=s.cfg.training.time_budget_minutes * 60 if s.cfg.training.time_budget_minutes else None)
    print(f"run dir: {s.run.dir}")
    with s.run.failing():
        if s.run.manifest.get("resumes") or s.run.manifest.get("continues"):
            limits = resume_limits(s.cfg, s.run.dir / "metrics.jsonl")
            steps = {stage: s.backend.latest_step(checkpoint_root(s, stage), s.run.log, at_most=limits[stage])
                     for stage in trained_stages(s.cfg)}
            dropped = evidence.truncate_metrics(s.run.dir / "metrics.jsonl", steps)
            s.run.update(resumed_from=steps)
            print(f"resuming {s.run.id} from " + ", ".join(f"{k} step {v}" for k, v in steps.items())
                  + f" ({dropped} metrics lines after them dropped)")
        s.run.log.info("%s", s.plan.describe())
        s.run.log.info("data: %d training samples (%d skipped: longer than data.max_seq_len=%d), %d GRPO prompts, "
                       "%d eval items", len(s.examples), s.skipped, s.cfg.data.max_seq_len, len(s.prompts),
                       len(s.eval_records))
        s.policy = s.backend.load_policy(s.cfg, s.source, s.plan)
    return s.run.dir


def base(s: Session) -> dict | None:
    """Score the untrained model on the eval items (eval.compare_base); returns its summary."""
    if not s.cfg.eval.compare_base:
        return None
    with s.run.failing():
        s.stages["base"] = score_stage(s, "eval (base)")
        return s.stages["base"][1]


def sft(s: Session) -> Path | None:
    """Supervised fine-tuning (the format), then its scorecard; returns the loss curve's PNG."""
    if not sft_on(s.cfg):
        return None
    with s.run.failing():
        stage = stages.sft_stage(s.run, s.cfg, s.budget.stage())
        result = _stage(s, "sft", s.backend.train_sft(s.cfg, s.policy, s.tokenizer, s.examples, stage, plan=s.plan,
                                                      root=checkpoint_root(s, "sft")))
        return report.plot_loss(result.rows, s.run.dir / "loss_curve.png")


def preference_inputs(cfg: Config, loaded: inputs.RunData, tokenizer) -> tuple[list, int, list]:
    """(the pairs file's pairs encoded, how many did not fit, the prompts an on-policy stage samples):
    empty without a preference stage; a pairs file none of whose pairs fit, or prompts none of which
    do, are refused here."""
    p = cfg.preference
    if p is None:
        return [], 0, []
    if p.pairs_file is not None:
        encoded, skipped = pairs.encode(loaded.pairs, tokenizer, p)
        if not encoded:
            raise UserError(f"preference.max_prompt_len / preference.max_new_tokens: none of the {len(loaded.pairs)} "
                            f"pairs of {loaded.datasets['preference_pairs']['path']} fits ({p.max_prompt_len} prompt "
                            f"tokens, {p.max_new_tokens} per completion); raise them")
        return encoded, skipped, []
    prompts, too_long = data.grpo_prompts(loaded.pair_prompts, tokenizer, p.max_prompt_len)
    if not prompts:
        raise UserError(f"preference.max_prompt_len: all {too_long} prompts are longer than {p.max_prompt_len} "
                        "tokens; raise preference.max_prompt_len")
    return [], 0, prompts


def preference(s: Session) -> Path | None:
    """The preference stage (preference.algorithm on pairs from preference.pairs_file, or sampled
    from the model as SFT left it), then its scorecard; returns its curve's PNG. The held-out pairs'
    mean chosen - rejected log-prob margin is measured before and after (the manifest's `preference`)."""
    p = s.cfg.preference
    if p is None:
        return None
    with s.run.failing():
        logps = lambda batch: s.backend.pair_logps(s.policy, batch, cfg=s.cfg, plan=s.plan)  # noqa: E731
        sample = lambda prompts: s.backend.sample(s.policy, s.tokenizer, prompts, cfg=s.cfg, plan=s.plan)  # noqa: E731
        if p.pairs_file is not None:
            encoded, too_long = s.pairs, s.pairs_skipped
        else:
            records = pairs.on_policy_plan(p, s.run, s.pair_prompts, sample, rewards.token_counter(s.tokenizer),
                                           extra={"judge": s.judge} if s.judge is not None else None)
            encoded, too_long = pairs.encode(records, s.tokenizer, p)
        if len(encoded) < 1:
            raise UserError(f"preference: no pairs to train on ({len(s.pair_prompts)} prompts sampled "
                            f"{p.num_samples} times each, every prompt's samples scored alike by "
                            "preference.rewards); raise preference.num_samples or preference.temperature, weigh a "
                            "continuous reward (the judge), or give preference.pairs_file")
        train, held = pairs.split(encoded, p.held_out, s.cfg.training.seed if p.seed is None else p.seed)
        info = dict(s.run.manifest.get("preference") or {})
        if "held_out_margin_before" not in info:  # measured once, on the stage's starting model
            info.update(algorithm=p.algorithm, **p.hyperparameters, training_pairs=len(train), held_out_pairs=len(held),
                        skipped_too_long=too_long, held_out_margin_before=pairs.margin(logps(held)))
            s.run.update(preference=info)
        if p.algorithm == "dpo":
            train = pairs.with_reference(train, s.run, logps)
        stage = stages.preference_stage(s.run, s.cfg, s.budget.stage())
        result = _stage(s, "preference", s.backend.train_preference(s.cfg, s.policy, s.tokenizer, train, stage,
                                                                    plan=s.plan, root=checkpoint_root(s, "preference")))
        s.run.update(preference={**info, "held_out_margin_after": pairs.margin(logps(held))})
        return report.plot_preference(result.rows, s.run.dir / report.PREFERENCE_PNG)


def grpo(s: Session) -> Path | None:
    """GRPO (correctness, rewarded by our scorer), then its scorecard; returns the reward curve's PNG."""
    if s.cfg.grpo is None:
        return None
    with s.run.failing():
        prompts = curriculum.plan(s.cfg.grpo.curriculum, s.prompts, s.run, lambda records: s.backend.predict(
            s.policy, s.tokenizer, records, cfg=s.cfg, plan=s.plan, desc="curriculum"))
        stage = stages.grpo_stage(s.run, s.cfg, s.budget.stage())
        result = _stage(s, "grpo", s.backend.train_grpo(s.cfg, s.policy, s.tokenizer, prompts, stage, plan=s.plan,
                                                        root=checkpoint_root(s, "grpo"), judge=s.judge))
        return report.plot_rewards(result.rows, s.run.dir / "reward_curve.png")


def evaluate(s: Session) -> str:
    """Write the predictions and the scorecard of every stage (the last one's at the top level);
    returns the scorecard table, a column per stage."""
    with s.run.failing():
        if not s.stages:  # nothing was trained or scored yet: score the model as it is
            s.stages["base"] = score_stage(s, "eval")
        rows, summary = s.stages[list(s.stages)[-1]]
        evidence.write_scores(s.run.dir, rows, summary, eval_source=s.datasets["eval"], stages=s.stages)
        report.plot_scorecard({**summary, "stages": {k: v[1] for k, v in s.stages.items()}}, s.run.dir / "scorecard.png")
        s.run.update(eval=summary["overall"], eval_stages={k: v[1]["overall"] for k, v in s.stages.items()})
        table = scoring.format_scorecard(summary, stages={k: v[1] for k, v in s.stages.items()})
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
    MAX_PROMPT_LENGTH, CKPT_DIR, MAX_STEPS). They restore CKPT_DIR/actor/<largest step>/model_params
    into lora_policy and sample with Tunix (tunix backend; a torch run hands over its own model and
    config). After GRPO the largest step is GRPO's: the final model. MAX_STEPS is that step, not the
    planned one: Tunix's own example restores CKPT_DIR/actor/<MAX_STEPS>, and a time budget may stop
    training before the plan's last step."""
    prompt_len = s.cfg.grpo.max_prompt_len if s.cfg.grpo else s.cfg.data.max_seq_len
    ckpt_dir = s.run.dir / "checkpoints"
    return s.policy.model, s.tokenizer, s.policy.config, prompt_len, ckpt_dir, s.backend.latest_step(ckpt_dir)


def sft_on(cfg: Config) -> bool:
    return cfg.training.max_steps != 0


def trained_stages(cfg: Config) -> list[str]:
    return [stage for stage, on in (("sft", sft_on(cfg)), ("preference", cfg.preference is not None),
                                    ("grpo", cfg.grpo is not None)) if on]


def resume_limits(cfg: Config, metrics: Path) -> dict[str, int | None]:
    """Per trained stage, the newest checkpoint step a resume may start from: with every step logged,
    none newer than the stage's last logged row (else that row would be missing for good); else any."""
    logged = evidence.logged_steps(metrics)
    log_every = {"sft": cfg.training.log_every, "grpo": cfg.grpo.log_every if cfg.grpo else None,
                 "preference": cfg.preference.log_every if cfg.preference else None}
    return {stage: logged.get(stage, 0) if log_every[stage] == 1 else None for stage in trained_stages(cfg)}


def checkpoint_root(s: Session, stage: str) -> Path:
    return continuation.stage_root(s.run.dir, trained_stages(s.cfg), stage)


def _stage(s: Session, stage: str, result: TrainResult) -> TrainResult:
    s.results[stage] = result
    s.policy.model = result.model
    summaries = {k: v.summary() for k, v in s.results.items()}
    s.run.update(metrics={**result.summary(), "skipped_samples": s.skipped, "stages": summaries})
    s.stages[stage] = score_stage(s, f"eval ({stage})")
    return result


def score_stage(s: Session, desc: str) -> tuple[list, dict]:
    predictions = s.backend.predict(s.policy, s.tokenizer, s.eval_records, cfg=s.cfg, plan=s.plan, desc=desc)
    return scoring.score_predictions(predictions, [asdict(r) for r in s.eval_records])
