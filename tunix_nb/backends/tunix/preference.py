"""The preference stage on the Tunix backend: Tunix's `DPOTrainer` (a PeftTrainer: the same
checkpoints in the judges' layout, `<root>/actor/<step>/model_params`, and the same resume). DPO and
ORPO are Tunix's own `dpo_loss_fn`; SimPO, which Tunix 0.1.7 lacks, is ours, written as a loss
function of the same signature so the same trainer runs it (`with_loss_fn`). The formulas, term
for term, and their sources: `backends/torch/preference.py`.

DPO's reference log-probs come with the pairs (`tunix_nb.pairs.with_reference`, computed once with
`pair_logps` before the first step) and are put into Tunix's `TrainExample`, so the trainer runs
without a reference model (`ref_model=None`): no second copy of the weights on the mesh.

Every step's batch has one shape (the prompts left-padded, the completions right-padded to the
longest of all pairs, rounded up), so XLA compiles the step once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ... import progress
from ...checkpoints import ACTOR
from ...data import GrpoPrompt, plan_prompt_steps
from ...models import stop_token_ids
from ...stages import Stage, TrainResult
from ..common import Policy, lr_lambda
from ..torch.preference import ALGORITHMS, PreferenceLoss, spec_of
from .sample import make_sampler, prompt_length
from .sft import round_up
from .trainer import adamw, latest_step, step_hooks

__all__ = ["ALGORITHMS", "PreferenceLoss", "loss_fn", "simpo_loss_fn", "train", "sample", "pair_logps"]
WIDTH_STEP = 16  # prompt and completion widths round up to this (fewer compiled shapes)


def simpo_loss_fn(model, train_example, beta: float = 2.0, gamma: float = 0.5, label_smoothing: float = 0.0):
    """SimPO as a Tunix DPO-trainer loss: (mean loss, aux). No reference model is read."""
    import jax
    import jax.numpy as jnp
    from tunix.sft.dpo.dpo_trainer import compute_logps

    chosen, rejected = compute_logps(model, train_example.input_ids, train_example.positions,
                                     train_example.attention_mask, train_example.logits_to_keep,
                                     train_example.completion_mask)
    half = train_example.completion_mask.shape[0] // 2
    lengths = jnp.maximum(train_example.completion_mask.sum(axis=-1), 1.0)
    chosen_reward, rejected_reward = beta * chosen / lengths[:half], beta * rejected / lengths[half:]
    delta = chosen_reward - rejected_reward - gamma
    losses = -(jax.nn.log_sigmoid(delta) * (1 - label_smoothing) + jax.nn.log_sigmoid(-delta) * label_smoothing)
    return losses.mean(), {"rewards/chosen": chosen_reward.mean(), "rewards/rejected": rejected_reward.mean(),
                           "rewards/margin": (chosen_reward - rejected_reward).mean(),
                           "rewards/accuracy": (chosen_reward > rejected_reward).mean(),
                           "log_probs/chosen": chosen.mean(), "log_probs/rejected": rejected.mean()}


def loss_fn(model, train_example, spec: PreferenceLoss):
    """The loss `spec` names on a Tunix `TrainExample` (chosen rows first, then rejected)."""
    if spec.algorithm == "simpo":
        return simpo_loss_fn(model, train_example, spec.beta, spec.gamma, spec.label_smoothing)
    from tunix.sft.dpo.dpo_trainer import dpo_loss_fn

    if spec.algorithm not in ALGORITHMS:
        raise ValueError(f"unknown preference algorithm {spec.algorithm!r}; one of {', '.join(ALGORITHMS)}")
    return dpo_loss_fn(model, train_example, algorithm=spec.algorithm, beta=spec.beta,
                       lambda_orpo=spec.lambda_orpo, label_smoothing=spec.label_smoothing)


def layout(pairs: Sequence, width_p: int, width_c: int) -> dict[str, np.ndarray]:
    """Tunix's DPO `TrainingInput` fields of the pairs: prompts left-padded to width_p, chosen and
    rejected completions right-padded to width_c; masks by position (pad id 0 only where masked)."""
    def rows(seqs, width, left):
        ids = np.zeros((len(seqs), width), np.int32)
        mask = np.zeros((len(seqs), width), np.int32)
        for i, x in enumerate(seqs):
            span = slice(width - len(x), width) if left else slice(0, len(x))
            ids[i, span], mask[i, span] = x, 1
        return ids, mask

    out = {}
    for name, seqs, width, left in (("prompt", [x.prompt_ids for x in pairs], width_p, True),
                                    ("chosen", [x.chosen_ids for x in pairs], width_c, False),
                                    ("rejected", [x.rejected_ids for x in pairs], width_c, False)):
        out[f"{name}_ids"], out[f"{name}_mask"] = rows(seqs, width, left)
    return out


def widths(pairs: Sequence) -> tuple[int, int]:
    """(prompt width, completion width) every batch of these pairs is padded to."""
    return (round_up(max(len(x.prompt_ids) for x in pairs), WIDTH_STEP),
            round_up(max(max(len(x.chosen_ids), len(x.rejected_ids)) for x in pairs), WIDTH_STEP))


def pair_logps(policy: Policy, pairs: Sequence, *, cfg, plan) -> np.ndarray:
    """The backend contract's `pair_logps`: each pair's (chosen, rejected) summed log-probs under the
    policy, (n, 2), in batches of eval.batch_size pairs (the last filled with copies: one shape)."""
    import jax.numpy as jnp
    from tunix.rl import common
    from tunix.sft.dpo.dpo_trainer import compute_logps

    if not pairs:
        return np.zeros((0, 2))
    width_p, width_c = widths(pairs)
    size = cfg.eval.batch_size
    out = []
    with policy.mesh:
        for lo in range(0, len(pairs), size):
            batch = list(pairs[lo:lo + size])
            n = len(batch)
            a = layout(batch + [batch[-1]] * (size - n), width_p, width_c)
            ids = np.concatenate([np.concatenate([a["prompt_ids"]] * 2), np.concatenate([a["chosen_ids"], a["rejected_ids"]])], 1)
            completion = np.concatenate([a["chosen_mask"], a["rejected_mask"]])
            mask = np.concatenate([np.concatenate([a["prompt_mask"]] * 2), completion], 1)
            chosen, rejected = compute_logps(policy.model, jnp.asarray(ids), common.build_positions_from_mask(mask),
                                             common.make_causal_attn_mask(jnp.asarray(mask)), width_c,
                                             jnp.asarray(completion))
            out += list(zip(np.asarray(chosen, np.float64)[:n], np.asarray(rejected, np.float64)[:n]))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def sample(policy: Policy, tokenizer, prompts: Sequence[GrpoPrompt], *, cfg, plan) -> list[list[str]]:
    """The backend contract's `sample`: preference.num_samples completions of each prompt from Tunix's
    sampler at preference's temperature / top_k, each batch seeded (preference.seed, else
    training.seed)."""
    p = cfg.preference
    seed = cfg.training.seed if p.seed is None else p.seed
    texts = [x.prompt for x in prompts for _ in range(p.num_samples)]  # the sampler adds <bos>
    width = prompt_length(max(x.prompt_tokens for x in prompts))
    size = cfg.eval.batch_size
    out: list[str] = []
    with policy.mesh, progress.bar(len(texts), "sample pairs", "completion") as bar:
        sampler = make_sampler(policy.model, policy.config, tokenizer, cache_size=width + p.max_new_tokens)
        for n, lo in enumerate(range(0, len(texts), size)):
            chunk = texts[lo:lo + size]
            # top_p must be given: without it Tunix's sampler decodes greedily, whatever the temperature.
            result = sampler(chunk + [chunk[-1]] * (size - len(chunk)), max_generation_steps=p.max_new_tokens,
                             max_prompt_length=width, temperature=p.temperature, top_k=p.top_k, top_p=1.0,
                             seed=seed * 100_003 + n, eos_tokens=stop_token_ids(tokenizer))
            out += [tokenizer.decode(list(t), skip_special_tokens=True) for t in result.tokens[:len(chunk)]]
            bar.update(len(chunk))
    return [out[i:i + p.num_samples] for i in range(0, len(out), p.num_samples)]


def train(cfg, policy: Policy, tokenizer, pairs: Sequence, stage: Stage, *, plan, root: Path) -> TrainResult:
    """The preference stage with Tunix's DPOTrainer on the mesh, checkpoints in `root`/actor/<step>; a
    root with checkpoints resumes after the latest (the trainer restores it and skips the batches it
    covered: the same planned pairs follow)."""
    import jax.numpy as jnp
    import orbax.checkpoint as ocp
    from tunix.sft.dpo import dpo_trainer

    p, t = cfg.preference, cfg.training
    seed = t.seed if p.seed is None else p.seed
    model, mesh = policy.model, policy.mesh
    schedule = plan_prompt_steps(len(pairs), prompts_per_step=p.pairs_per_step, steps=p.max_steps, seed=seed)
    width_p, width_c = widths(pairs)
    tokens = [sum(pairs[i].tokens for i in step) for step in schedule]
    spec = spec_of(p)
    with_reference = spec.algorithm == "dpo" and pairs[0].ref_chosen is not None
    resumed = latest_step(root, stage.log)
    budget = stage.budget
    factor = lr_lambda(int(p.warmup_ratio * p.max_steps), "cosine", p.max_steps)
    options = ocp.CheckpointManagerOptions(save_interval_steps=p.save_every or p.max_steps + 1, max_to_keep=2,
                                           cleanup_tmp_directories=True)
    config = dpo_trainer.DPOTrainingConfig(
        algorithm="orpo" if spec.algorithm == "orpo" else "dpo", beta=spec.beta, lambda_orpo=spec.lambda_orpo,
        label_smoothing=spec.label_smoothing, eval_every_n_steps=p.max_steps + 1, max_steps=None,
        checkpoint_root_directory=str(root / ACTOR), checkpointing_options=options, pbar_description=None)

    class Trainer(dpo_trainer.DPOTrainer):
        def _prepare_inputs(self, batch):
            example = super()._prepare_inputs(batch)
            if not with_reference:
                return example
            return example.replace(ref_chosen_logps=jnp.asarray(batch["ref_chosen"]),
                                   ref_rejected_logps=jnp.asarray(batch["ref_rejected"]))

    class StepLog(step_hooks()):
        """Reports each step to the stage harness (its row, in the PyTorch backend's schema)."""

        def on_train_step_end(self, trainer, train_step, train_loss):
            now = time.perf_counter()
            dt = now - (budget.step_ends[-1] if budget.step_ends else budget.stage_start)
            budget.step_ends.append(now)
            last = lambda name: float(trainer.metrics_logger.get_metric_history("", name, "train")[-1])  # noqa: E731
            stage.step(train_step, seconds=dt, at=now, loss=float(train_loss),
                       lr=p.learning_rate * factor(train_step - 1), grad_norm=last("grad_norm"),
                       reward_chosen=last("rewards/chosen"), reward_rejected=last("rewards/rejected"),
                       margin=last("rewards/margin"), accuracy=last("rewards/accuracy"), tokens=tokens[train_step - 1])

    def stream() -> Iterator[dict]:
        for n, step in enumerate(schedule):
            if n >= resumed and not budget.allows(n - resumed):
                stage.stop(before=n + 1)
                return
            batch = [pairs[i] for i in step]
            arrays = layout(batch, width_p, width_c)
            if with_reference:
                arrays.update(ref_chosen=np.asarray([x.ref_chosen for x in batch], np.float32),
                              ref_rejected=np.asarray([x.ref_rejected for x in batch], np.float32))
            yield arrays

    if resumed:
        stage.log.info("resuming the preference stage from %s (step %d)", root / ACTOR / str(resumed), resumed)
    stage.log.info("preference (tunix, %s): %d pairs, %d steps x %d pairs, mesh %s", p.describe(),
                   len(pairs), p.max_steps, p.pairs_per_step, dict(mesh.shape))
    optimizer = adamw(p.learning_rate, factor, p.max_steps, weight_decay=p.weight_decay, max_grad_norm=p.max_grad_norm)
    trainer = Trainer(model, None, optimizer, config)
    if spec.algorithm == "simpo":
        trainer.with_loss_fn(simpo_loss_fn, has_aux=True).with_gen_model_input_fn(
            lambda x: {"train_example": x, "beta": spec.beta, "gamma": spec.gamma,
                       "label_smoothing": spec.label_smoothing})
    trainer.with_training_hooks(StepLog())
    with stage.steps(p.max_steps, resumed=resumed), mesh:
        trainer.train(stream())
    steps = trainer.train_steps
    return stage.result(model, steps=steps, checkpoint=root / ACTOR / str(steps), tokens=sum(tokens[:steps]))
