"""Tunix (JAX) SFT stage: `PeftTrainer` with qwix LoRA or full fine-tuning, on a mesh over every device.

Contract shared with the PyTorch backend: `train(cfg, policy, tokenizer, examples, stage, ...) -> TrainResult`,
the same planned schedule (`data.plan_steps`), each step reported to the stage harness
(`tunix_nb.stages`: the same metrics rows), checkpoints in the run dir, where the competition's
judges look for them: `<ckpt root>/actor/<step>/model_params` (orbax; LoRA params only when LoRA
is on); the last stage of a run owns `<run dir>/checkpoints` (= the notebook's `CKPT_DIR`),
earlier ones a sub-folder.

XLA compiles one train step per batch shape, so micro-batches are padded to a few fixed shapes:
lengths round up to a multiple of SHAPE_STEP, rows to the token budget's count for that length
(a multiple of the data-parallel size, so every device gets whole rows).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from ...checkpoints import ACTOR  # the judges' layout: CKPT_DIR/actor/<step>/model_params
from ...config import Config, TrainingConfig
from ...data import plan_steps
from ...prompts import IGNORE_INDEX, Encoded
from ...stages import Stage, TrainResult
from ..common import Policy, lr_lambda
from .trainer import latest_step, step_hooks

SHAPE_STEP = 128


# --- batches -------------------------------------------------------------------------------

def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def padded_len(n: int) -> int:
    """The length a sample of n tokens is padded to (one of a few compiled shapes)."""
    return round_up(n, SHAPE_STEP)


def batch_rows(width: int, t: TrainingConfig, data_parallel: int) -> int:
    """Rows of every micro-batch of this (padded) width: one compiled shape per width."""
    rows = t.max_batch_tokens // width if t.max_batch_tokens else t.micro_batch_size
    if t.micro_batch_size:
        rows = min(rows, t.micro_batch_size)
    return round_up(max(rows, 1), data_parallel)


def make_batch(samples: Sequence[Encoded], *, rows: int, width: int, pad_id: int, bos_id: int,
               weight: float) -> dict[str, np.ndarray]:
    """A fixed-shape micro-batch. `input_mask` marks the tokens that are targets (the completion):
    the prompt is masked through it. `weights` scales each row's summed loss (0 on filler rows),
    so every target token of a step weighs the same, however the step was split."""
    tokens = np.full((rows, width), pad_id, dtype=np.int32)
    tokens[:, 0] = bos_id  # filler rows hold one real token, so their attention is never empty
    target = np.zeros((rows, width), dtype=bool)
    weights = np.zeros((rows,), dtype=np.float32)
    for r, e in enumerate(samples):
        tokens[r, :len(e)] = e.input_ids
        target[r, :len(e)] = [label != IGNORE_INDEX for label in e.labels]
        weights[r] = weight
    return {"input_tokens": tokens, "input_mask": target, "weights": weights}


def step_batches(examples: Sequence[Encoded], step: Sequence[Sequence[int]], *, t: TrainingConfig, pad_id: int,
                 bos_id: int, data_parallel: int) -> list[dict[str, np.ndarray]]:
    """One optimizer step's micro-batches, always `grad_accum` of them (a short last step is filled
    with zero-weight batches, so the accumulating optimizer still updates once)."""
    targets = sum(sum(label != IGNORE_INDEX for label in examples[i].labels[1:]) for mb in step for i in mb)
    weight = t.grad_accum / max(targets, 1)  # optax.MultiSteps averages the grad_accum gradients
    out = []
    for mb in step:
        width = padded_len(max(len(examples[i]) for i in mb))
        out.append(make_batch([examples[i] for i in mb], rows=batch_rows(width, t, data_parallel), width=width,
                              pad_id=pad_id, bos_id=bos_id, weight=weight))
    while len(out) < t.grad_accum:
        out.append(make_batch([], rows=data_parallel, width=SHAPE_STEP, pad_id=pad_id, bos_id=bos_id, weight=0.0))
    return out


def model_inputs(pad_id: int):
    """PeftTrainer's `gen_model_input_fn`: positions and the causal mask from the non-pad tokens."""
    from tunix.sft import utils

    def fn(batch):
        valid = batch["input_tokens"] != pad_id
        return {"input_tokens": batch["input_tokens"], "input_mask": batch["input_mask"],
                "weights": batch["weights"], "positions": utils.build_positions_from_mask(valid),
                "attention_mask": utils.make_causal_attn_mask(valid)}

    return fn


def loss_fn(model, input_tokens, input_mask, weights, positions, attention_mask):
    """Weighted summed next-token cross-entropy over target tokens (PyTorch backend: token_loss_sum / n)."""
    import jax.numpy as jnp
    import optax

    logits, _ = model(input_tokens, positions, None, attention_mask)
    nll = optax.softmax_cross_entropy_with_integer_labels(logits[:, :-1].astype(jnp.float32), input_tokens[:, 1:])
    return jnp.sum(nll * input_mask[:, 1:] * weights[:, None])


# --- optimizer and time budget -------------------------------------------------------------

def make_optimizer(t: TrainingConfig, total_steps: int):
    """optax AdamW/Adafactor with the PyTorch backend's warmup + decay and clipping; the learning
    rate is injected so it can be read back."""
    import jax.numpy as jnp
    import optax

    factors = jnp.asarray([lr_lambda(t.warmup_steps, t.lr_schedule, total_steps)(s) for s in range(total_steps)], dtype=jnp.float32)

    def schedule(count):
        return t.learning_rate * factors[jnp.minimum(count, total_steps - 1)]

    if t.optimizer == "adamw":
        inner = optax.inject_hyperparams(optax.adamw)(learning_rate=schedule, b1=0.9, b2=0.999, eps=1e-8,
                                                      weight_decay=t.weight_decay)
    else:
        inner = optax.inject_hyperparams(optax.adafactor)(learning_rate=schedule, weight_decay_rate=t.weight_decay
                                                          or None)
    if t.max_grad_norm is not None:
        return optax.chain(optax.clip_by_global_norm(t.max_grad_norm), inner)
    return inner


# --- training ------------------------------------------------------------------------------

def train(cfg: Config, policy: Policy, tokenizer, examples: Sequence[Encoded], stage: Stage, *, plan,
          root: Path) -> TrainResult:
    """Train with PeftTrainer on the mesh, checkpoints in `root`/actor/<step>. A root with
    checkpoints resumes after the latest one (PeftTrainer restores it and skips the micro-batches
    it covered: the same data order)."""
    import orbax.checkpoint as ocp
    from tunix.sft import peft_trainer

    t = cfg.training
    model, mesh = policy.model, policy.mesh
    schedule = plan_steps([padded_len(len(e)) for e in examples], seed=t.seed, grad_accum=t.grad_accum,
                          max_batch_tokens=t.max_batch_tokens, micro_batch_size=t.micro_batch_size,
                          epochs=t.epochs, max_steps=t.max_steps)
    data_parallel = mesh.shape["fsdp"]
    pad_id, bos_id = tokenizer.pad_token_id, tokenizer.bos_token_id
    tokens = [sum(len(examples[i]) for mb in step for i in mb) for step in schedule]
    targets = [sum(sum(l != IGNORE_INDEX for l in examples[i].labels[1:]) for mb in step for i in mb)
               for step in schedule]
    resumed = latest_step(root, stage.log)
    budget = stage.budget
    options = ocp.CheckpointManagerOptions(save_interval_steps=t.save_every or len(schedule) + 1, max_to_keep=2,
                                           cleanup_tmp_directories=True)
    config = peft_trainer.TrainingConfig(eval_every_n_steps=len(schedule) + 1, max_steps=None,
                                         gradient_accumulation_steps=t.grad_accum if t.grad_accum > 1 else None,
                                         checkpoint_root_directory=str(root / ACTOR), checkpointing_options=options,
                                         pbar_description=None)
    factor = lr_lambda(t.warmup_steps, t.lr_schedule, len(schedule))

    class StepLog(step_hooks()):
        """Reports each step to the stage harness (its row, in the PyTorch backend's schema)."""

        def on_train_step_end(self, trainer, train_step, train_loss):
            now = time.perf_counter()
            dt = now - (budget.step_ends[-1] if budget.step_ends else budget.stage_start)
            budget.step_ends.append(now)
            i = train_step - 1
            stage.step(train_step, seconds=dt, at=now, loss=float(train_loss), lr=t.learning_rate * factor(i),
                       grad_norm=float(trainer.metrics_logger.get_metric_history("", "grad_norm", "train")[-1]),
                       tokens=tokens[i], target_tokens=targets[i])

    def stream() -> Iterator[dict]:
        for n, step in enumerate(schedule):
            if n >= resumed and not budget.allows(n - resumed):
                stage.stop(before=n + 1)
                return
            yield from step_batches(examples, step, t=t, pad_id=pad_id, bos_id=bos_id, data_parallel=data_parallel)

    if resumed:
        stage.log.info("resuming SFT from %s (step %d)", root / ACTOR / str(resumed), resumed)
    trainable = "LoRA" if t.lora is not None else "all"
    stage.log.info("sft (tunix): %d samples, %d steps, %s params, mesh %s", len(examples), len(schedule),
                   trainable, dict(mesh.shape))
    trainer = peft_trainer.PeftTrainer(model, make_optimizer(t, len(schedule)), config)
    trainer = trainer.with_gen_model_input_fn(model_inputs(pad_id)).with_loss_fn(loss_fn)
    trainer.with_training_hooks(StepLog())
    with stage.steps(len(schedule), resumed=resumed), mesh:
        trainer.train(stream())
    steps = trainer.train_steps
    return stage.result(model, steps=steps, checkpoint=root / ACTOR / str(steps), tokens=sum(tokens[:steps]))
