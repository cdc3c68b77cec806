"""Tunix (JAX) GRPO stage: `GRPOLearner` over an `RLCluster`, the competition's own method.

Actor = the policy the SFT stage trained (the same LoRA params, continued); reference = the base
weights (the model the adapters sit on: a shared backbone, no second copy); rollouts through
Tunix's vanilla sampler on the same mesh, stopping at `<end_of_turn>` and `<eos>` (without them
Gemma 3 rollouts run on: google/tunix#842). Rewards are `tunix_nb.rewards` (the scorecard's rule
of "correct"), weighted by `grpo.rewards`. Checkpoints: `<root>/actor/<step>/model_params`, so
when GRPO is a run's last stage the largest step the judges restore is GRPO's.

Metrics rows (stage "grpo") come from a metric function that sees each step's rollouts and the
trainer's step hook (Tunix logs a step one step late, and the last at the end); the prompt
stream asks the time budget before each step, as the SFT stage does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ... import rewards as rewards_lib
from ...checkpoints import ACTOR
from ...config import Config, GrpoConfig
from ...data import GrpoPrompt, plan_prompt_steps
from ...models import stop_token_ids
from ...stages import Stage, TrainResult
from ..common import Policy, lr_lambda
from .trainer import adamw, latest_step, step_hooks

# Rollouts per step and groups must line up: Tunix repeats each prompt G times inside a
# micro-batch, so micro-batches are counted in prompts here (grpo.micro_batch_size / G).


def algo_config(g: GrpoConfig):
    """Tunix's algorithm config for `grpo.loss`, and the learner class that goes with it."""
    from tunix.rl.grpo import dapo_learner, drgrpo_learner, grpo_learner

    # KL: Schulman's low-variance estimator (r - 1) - log r, the GRPO paper's; Tunix's default "kl"
    # (logp - ref_logp) is unbiased but high-variance.
    common = dict(num_generations=g.num_generations, num_iterations=g.num_iterations, epsilon=g.epsilon,
                  kl_loss_mode="low_var_kl")
    if g.loss == "dapo":  # no KL term; our own overlong reward replaces DAPO's character-count shaping
        return dapo_learner.DAPOConfig(**common, epsilon_high=g.clip_high,
                                       overlong_buffer=None), dapo_learner.DAPOLearner
    extra = {"epsilon_high": g.clip_high}
    if g.loss == "dr_grpo":
        config = drgrpo_learner.DrGRPOConfig(**common, beta=g.beta)
        return _with(config, extra), drgrpo_learner.DrGRPOLearner
    return _with(grpo_learner.GRPOConfig(**common, beta=g.beta), extra), grpo_learner.GRPOLearner


def _with(config, extra: dict):
    for k, v in extra.items():  # epsilon_high is read by the loss with getattr (not a declared field)
        setattr(config, k, v)
    return config


def make_optimizer(g: GrpoConfig):
    """AdamW (the starter's b1/b2/weight decay), warmup then decay over grpo.max_steps, clipping."""
    factor = lr_lambda(int(g.warmup_ratio * g.max_steps), g.lr_schedule, g.max_steps)
    return adamw(g.learning_rate, factor, g.max_steps, b1=g.adam_b1, b2=g.adam_b2, weight_decay=g.weight_decay,
                 max_grad_norm=g.max_grad_norm)


def reward_fns(g: GrpoConfig, tokenizer, judge=None) -> list:
    """The weighted rewards Tunix sums (each logged by Tunix as rewards/<name>); `judge`: the judge reward."""
    return rewards_lib.make_reward_fns(g.rewards, max_tokens=g.max_new_tokens, soft_tokens=g.overlong_soft_tokens,
                                       count=rewards_lib.token_counter(tokenizer),
                                       extra={"judge": judge} if judge is not None else None)


def cluster(cfg: Config, policy: Policy, tokenizer, *, root: Path, seed: int, dtype: str):
    """The RLCluster: actor, reference (beta > 0) and rollout on the policy's mesh."""
    import orbax.checkpoint as ocp
    from tunix.rl import rl_cluster as rl
    from tunix.rl.rollout import base_rollout

    g = cfg.grpo
    micro = (g.micro_batch_size or g.prompts_per_step * g.num_generations) // g.num_generations
    training = rl.RLTrainingConfig(
        actor_optimizer=make_optimizer(g), eval_every_n_steps=g.max_steps + 1, max_steps=g.max_steps,
        mini_batch_size=g.prompts_per_step, train_micro_batch_size=micro,
        rollout_micro_batch_size=micro, compute_logps_micro_batch_size=micro,
        checkpoint_root_directory=str(root),  # RLCluster appends "actor"
        checkpointing_options=ocp.CheckpointManagerOptions(save_interval_steps=g.save_every or g.max_steps + 1,
                                                           max_to_keep=2, cleanup_tmp_directories=True),
        pbar_description=None)
    rollout = base_rollout.RolloutConfig(
        max_tokens_to_generate=g.max_new_tokens, max_prompt_length=g.max_prompt_len,
        kv_cache_size=g.kv_cache_size or g.max_prompt_len + g.max_new_tokens,
        temperature=g.temperature, top_k=g.top_k, top_p=g.top_p, eos_tokens=stop_token_ids(tokenizer),
        seed=seed)  # an int: the sampler makes a fresh key per call (it donates the key array it is given)
    mesh = policy.mesh
    roles = {rl.Role.ACTOR: mesh, rl.Role.REFERENCE: mesh, rl.Role.ROLLOUT: mesh}
    config = rl.ClusterConfig(role_to_mesh=roles, rollout_engine="vanilla", offload_to_cpu=False,
                              training_config=training, rollout_config=rollout)
    reference = reference_model(cfg, policy, dtype) if g.beta else None
    return rl.RLCluster(actor=policy.model, reference=reference, tokenizer=tokenizer, cluster_config=config), rollout


def reference_model(cfg: Config, policy: Policy, dtype: str):
    """The KL term's reference: the base weights. With LoRA that is the model under the adapters,
    re-pointed at the policy's current backbone arrays (an earlier stage's train steps replaced
    them: JAX donates buffers), so the two share one backbone. Full fine-tuning changed the
    backbone itself, so the base is loaded again (twice the weights' memory)."""
    from flax import nnx
    from flax.nnx import filterlib

    from .load import load_model, shard_model

    if policy.reference is not None:
        nnx.update(policy.reference, nnx.state(policy.model, filterlib.Not(nnx.LoRAParam)))
        return policy.reference
    base, _ = load_model(policy.path, dtype=dtype, tensor_parallel=cfg.training.tensor_parallel)
    with policy.mesh:
        shard_model(base, policy.mesh)
    return base


def train(cfg: Config, policy: Policy, tokenizer, prompts: Sequence[GrpoPrompt], stage: Stage, *, plan, root: Path,
          rewards: Sequence | None = None, judge=None) -> TrainResult:
    """GRPO for grpo.max_steps steps (or until the time budget says stop), checkpoints in
    `root`/actor/<step>. A root with checkpoints resumes after the latest one (Tunix restores the
    LoRA params and optimizer and skips the prompts it covered: the same prompt order).
    `rewards`: reward functions to use instead of the configured `grpo.rewards` (their sum is the
    reward; the rows still log each configured reward on its own). `judge`: the judge reward, weighed
    by grpo.rewards.judge (its scores of a step are reused by the rows, not asked for twice)."""
    g = cfg.grpo
    seed = cfg.training.seed if g.seed is None else g.seed
    schedule = plan_prompt_steps(len(prompts), prompts_per_step=g.prompts_per_step, steps=g.max_steps, seed=seed,
                                 levels=[p.level for p in prompts])
    resumed = latest_step(root, stage.log)
    budget = stage.budget
    rl_cluster, rollout_config = cluster(cfg, policy, tokenizer, root=root, seed=seed, dtype=plan.dtype)
    config, learner_cls = algo_config(g)
    count = rewards_lib.token_counter(tokenizer)
    per_step: dict[int, dict] = {}  # step -> what its rollouts scored (filled by `observe`)
    new_stats = lambda: {"rewards": [], "parts": {k: [] for k in g.rewards}, "lengths": []}
    factor = lr_lambda(int(g.warmup_ratio * g.max_steps), g.lr_schedule, g.max_steps)
    trainer = rl_cluster.actor_trainer

    def observe(prompts, completions, rewards, advantages, **columns):
        """Tunix metric fn: called with each micro-batch's rollouts before it trains."""
        step = trainer.train_steps + 1
        raw = rewards_lib.score_all(prompts, completions, g.rewards, max_tokens=g.max_new_tokens,
                                    soft_tokens=g.overlong_soft_tokens, count=count,
                                    extra={"judge": judge} if judge is not None else None, **columns)
        s = per_step.setdefault(step, new_stats())
        s["rewards"] += [float(r) for r in rewards]
        for k in g.rewards:
            s["parts"][k] += raw[k]
        s["lengths"] += [count(c) for c in completions]
        return {}

    class StepLog(step_hooks()):
        def on_train_step_end(self, trainer, train_step, train_loss):
            # Tunix reports step k after step k+1 ran (and the last at the end): its time is
            # from its own rollouts' start to the next step's start.
            s = per_step.pop(train_step, None) or new_stats()
            end = per_step.get(train_step + 1, {}).get("start", time.perf_counter())
            history = lambda name: trainer.metrics_logger.get_metric_history(trainer.metrics_prefix, name, "train")[-1]
            stage.step(train_step, seconds=end - s.get("start", budget.stage_start), at=end, loss=float(train_loss),
                       lr=g.learning_rate * factor(train_step - 1), grad_norm=float(history("grad_norm")),
                       reward_mean=_mean(s["rewards"]), reward_std=_std(s["rewards"]),
                       **{f"reward/{k}": _mean(v) for k, v in s["parts"].items()},
                       kl=float(history("kl")) if g.beta else 0.0, completion_len_mean=_mean(s["lengths"]),
                       tokens=int(sum(s["lengths"])))

    def stream() -> Iterator[dict]:
        for n, step in enumerate(schedule):
            if n >= resumed:
                if n > resumed:
                    budget.step_ends.append(time.perf_counter())  # step n-1 has trained
                if not budget.allows(n - resumed):
                    stage.stop(before=n + 1)
                    return
                per_step.setdefault(n + 1, new_stats())["start"] = time.perf_counter()
                # A new rollout seed per step: deterministic, but not the same noise every step.
                rollout_config.seed = seed * 100_003 + n
            rows = [prompts[i] for i in step]
            # numpy columns: the learner repeats each prompt G times with np.repeat over the batch's leaves.
            yield {"prompts": np.array([p.prompt for p in rows]), "answer": np.array([p.answer for p in rows])}

    learner = learner_cls(rl_cluster=rl_cluster, algo_config=config,
                          reward_fns=list(rewards) if rewards else reward_fns(g, tokenizer, judge),
                          metric_fns=[observe])
    # The vanilla rollout's sampler keeps the arrays it was built with; with a shared model Tunix
    # skips the weight sync, so without this the rollouts would come from the starting policy forever.
    learner.should_sync_weights = True
    trainer.with_training_hooks(StepLog())
    if resumed:
        stage.log.info("resuming GRPO from %s (step %d)", root / ACTOR / str(resumed), resumed)
    stage.log.info("grpo (tunix, %s): %d prompts, %d steps x %d prompts x %d generations, beta %s, mesh %s", g.loss,
                   len(prompts), g.max_steps, g.prompts_per_step, g.num_generations, g.beta, dict(policy.mesh.shape))
    with stage.steps(g.max_steps, resumed=resumed), policy.mesh:
        learner.train(stream())
    steps = trainer.train_steps
    return stage.result(policy.model, steps=steps, checkpoint=root / ACTOR / str(steps))


def _mean(v: Sequence[float]) -> float:
    return float(np.mean(v)) if len(v) else 0.0


def _std(v: Sequence[float]) -> float:
    return float(np.std(v)) if len(v) else 0.0
