"""PyTorch SFT stage: full fine-tuning or LoRA, AdamW or Adafactor, bf16 autocast or fp32.

Contract shared with the Tunix backend: `train(cfg, policy, tokenizer, examples, stage, ...) -> TrainResult`,
each step reported to the stage harness (`tunix_nb.stages`: the metrics rows, the clock), checkpoints
under the stage's root (`<root>/step-<N>`). The whole schedule (which samples
go into which micro-batch of which step) is planned up front by `data.plan_steps`, so a seed
gives the same data order and, on CPU, the same loss curve.

Speed levers, each exact (same loss up to float rounding): `training.packing` (padding-free
packed rows, attention kept inside each sample), `training.loss_chunk_size` (lm_head + CE over
chunks of target positions, recomputed in backward: never a full fp32 logits tensor) and
`training.compile` (torch.compile of each decoder layer).

Under torchrun (`training.distributed: ddp | fsdp`) each rank trains its share of every step's
micro-batches and rank 0 alone writes; the losses and weights are the one-process run's up to
float rounding (see `distributed`).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path
from typing import Sequence

from ... import checkpoints
from ...config import Config
from ...data import collate, collate_packed, plan_steps
from ...prompts import IGNORE_INDEX, Encoded
from ...stages import Stage, TrainResult
from ..common import Policy, lr_lambda
from . import distributed
from .checkpoint import latest_checkpoint, load_trainer_state, load_weights, save_checkpoint, seed_everything
from .optim import clip_and_norm, make_optimizer


def train(cfg: Config, policy: Policy, tokenizer, examples: Sequence[Encoded], stage: Stage, *, plan,
          root: Path) -> TrainResult:
    """Train, checkpoints in `root`/step-<N>; when `root` holds a whole checkpoint, continue after
    its step with its weights, optimizer, scheduler and RNG state, on the same planned schedule.
    (No time budget: it is the Tunix backend's, refused for torch at config load.)"""
    import torch

    t = cfg.training
    model, device, dtype = policy.model, plan.device, plan.dtype
    seed_everything(t.seed)
    resume = distributed.on_main(lambda: latest_checkpoint(root, stage.log))
    if t.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.config.use_cache = False  # no KV cache while training
    model.to(device).train()
    if t.compile:
        compile_layers(model)
    if resume is not None:  # weights now, before FSDP shards them; the optimizer's state once it exists
        load_weights(resume, model, lora=t.lora is not None)
    trainee = distributed.wrap(model, t.distributed, lambda m, batch: batch_loss_sum(m, batch, t.loss_chunk_size))

    schedule = plan_steps([len(e) for e in examples], seed=t.seed, grad_accum=t.grad_accum,
                          max_batch_tokens=t.max_batch_tokens, micro_batch_size=t.micro_batch_size,
                          epochs=t.epochs, max_steps=t.max_steps, packing=t.packing)
    params = trainee.params()
    optimizer = make_optimizer(params, t, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(t.warmup_steps, t.lr_schedule, len(schedule)))
    autocast = (torch.autocast(device_type=device, dtype=torch.bfloat16) if dtype == "bf16" else nullcontext())
    trainable = sum(p.numel() for p in params)
    state = {"step": 0, "tokens_seen": 0}
    if resume is not None:
        state = load_trainer_state(resume, optimizer, scheduler, trainee.load_optimizer)
        stage.log.info("resumed from %s (step %d)", resume.name, state["step"])
    stage.log.info("sft (torch): %d samples, %d steps, %d trainable params, device %s, dtype %s, %d rank(s)%s",
                   len(examples), len(schedule), trainable, device, dtype, distributed.world(),
                   f" ({t.distributed})" if distributed.world() > 1 else "")

    tokens_seen = state["tokens_seen"]
    with stage.steps(len(schedule), resumed=state["step"]):
        for step, micro_batches in enumerate(schedule, start=1):
            if step <= state["step"]:
                continue  # done before the resumed checkpoint
            step_start = time.perf_counter()
            batches = [collate_packed([examples[i] for i in mb]) if t.packing
                       else collate([examples[i] for i in mb], tokenizer.pad_token_id) for mb in micro_batches]
            # Normalise by the step's target-token count (every rank's micro-batches): every completion
            # token weighs the same, however the step was split into micro-batches, rows or ranks.
            n_targets = sum(sum(l != IGNORE_INDEX for l in row[1:]) for b in batches for row in b["labels"])
            step_tokens = sum(len(examples[i]) for mb in micro_batches for i in mb)  # real tokens, no padding
            loss_sum = 0.0
            mine = distributed.share(batches)
            for i, (b, weight) in enumerate(mine):
                tensors = {k: torch.tensor(v, device=device) for k, v in b.items()}
                with trainee.accumulating(last=i == len(mine) - 1):
                    with autocast:
                        loss = trainee.loss(tensors) / n_targets
                    (loss * (weight * trainee.grad_scale)).backward()
                loss_sum += loss.item() * weight
            loss_sum = distributed.all_sum(loss_sum)
            grad_norm = clip_and_norm(params, t.max_grad_norm)
            lr = scheduler.get_last_lr()[0]
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            tokens_seen += step_tokens
            stage.step(step, seconds=time.perf_counter() - step_start, loss=loss_sum, lr=lr, grad_norm=grad_norm,
                       tokens=step_tokens, target_tokens=n_targets)
            if (t.save_every and step % t.save_every == 0) or step == len(schedule):
                state.update(step=step, tokens_seen=tokens_seen)
                full_state = trainee.full_state(optimizer)  # FSDP: gathered from every rank
                if distributed.is_main():
                    save_checkpoint(model, tokenizer, root, step, optimizer=optimizer, scheduler=scheduler,
                                    state=state, full_state=full_state)
    if state["step"] < len(schedule):  # resumed from the final checkpoint: nothing left to train
        raise RuntimeError(f"training stopped at step {state['step']} of {len(schedule)}")
    model = trainee.unwrap()  # plain on rank 0 (FSDP: gathered whole), for evaluation; None on the others
    if model is not None:
        model.eval()
        model.config.use_cache = True
    return stage.result(model, steps=len(schedule), checkpoint=checkpoints.torch_dir(root, len(schedule)),
                        tokens=tokens_seen)


def batch_loss_sum(model, batch: dict, loss_chunk_size: int | None = None):
    """Summed next-token CE over a collated batch's targets (tensors: input_ids, labels and
    attention_mask or, for packed rows, position_ids). With loss_chunk_size, the decoder runs
    to hidden states and `chunked_loss_sum` does the rest; the value is the same."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    labels = batch["labels"]
    if loss_chunk_size is None:
        keep = logits_window(labels.tolist())
        # use_cache=False always: with a KV cache, transformers skips the packed-sequence mask.
        return token_loss_sum(model(**inputs, use_cache=False, logits_to_keep=keep).logits, labels[:, -keep:])
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft wraps LoRA models
    hidden = base.get_decoder()(**inputs, use_cache=False).last_hidden_state
    cap = getattr(base.config, "final_logit_softcapping", None)
    return chunked_loss_sum(hidden, labels, base.get_output_embeddings(), loss_chunk_size, softcap=cap)


def chunked_loss_sum(hidden, labels, lm_head, chunk_size: int, softcap: float | None = None):
    """`token_loss_sum(softcap(lm_head(hidden)), labels)` without ever holding more than
    chunk_size rows of logits: only positions that predict a target are kept, and each chunk's
    logits are recomputed in backward (activation checkpointing) instead of stored."""
    import torch
    from torch.utils.checkpoint import checkpoint

    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    h, y = hidden[:, :-1][keep], targets[keep]  # (n_targets, hidden), (n_targets,)
    weight = lm_head.weight
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        # Cast once, as autocast would: left to autocast, every chunk's recomputation in backward
        # casts the whole vocabulary x hidden matrix again (~0.7 ms each for Gemma's 256k rows).
        weight = weight.to(torch.get_autocast_dtype(device))
    total = hidden.new_zeros((), dtype=torch.float32)
    for lo in range(0, y.numel(), chunk_size):
        total = total + checkpoint(_chunk_loss_sum, lm_head, weight, softcap, h[lo:lo + chunk_size],
                                   y[lo:lo + chunk_size], use_reentrant=False)
    return total


def _chunk_loss_sum(lm_head, weight, softcap, h, y):
    import torch
    import torch.nn.functional as F

    logits = torch.func.functional_call(lm_head, {"weight": weight}, (h,))  # lm_head, with that weight
    if softcap is not None:  # Gemma 2's final logit soft-capping, in the same op order as HF's forward
        logits = torch.tanh(logits / softcap) * softcap
    return F.cross_entropy(logits.float(), y, reduction="sum")


def compile_layers(model) -> None:
    """torch.compile each decoder layer in place (state-dict names unchanged, so checkpoints are
    plain HF folders); the layers are identical modules, so one compiled graph serves all."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for layer in base.get_decoder().layers:
        layer.compile(dynamic=True)


def logits_window(labels: list[list[int]]) -> int:
    """How many trailing positions need logits: from the one before the earliest target on.
    Prompt positions never need them, and with a 256k vocabulary the output layer is most of
    the compute and memory of a small model."""
    first = min(next(i for i, l in enumerate(row) if l != IGNORE_INDEX) for row in labels)
    return len(labels[0]) - first + 1


def token_loss_sum(logits, labels):
    """Summed next-token cross-entropy over positions whose label is not ignored
    (logits and labels cover the same positions; logits at i predict the label at i + 1)."""
    import torch.nn.functional as F

    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:]
    return F.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="sum")
