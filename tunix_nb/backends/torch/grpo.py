"""PyTorch GRPO stage: sampled rollouts through our own decoder, the same rewards, and the same
objective as the Tunix stage's loss (tunix 0.1.7's `grpo_loss_fn` with our `algo_config`), term
for term, so the two backends optimise one objective. Reference = the policy with its LoRA
adapters disabled (no second copy of the model). Checkpoints and resume follow the SFT trainer
(`<root>/step-<N>`, weights + optimizer + scheduler + RNG), the metrics rows are the stage
harness's GRPO rows (`tunix_nb.stages`); each step's prompts and rollout seed are fixed up front,
so a resumed run samples the same.

The objective:

- advantages: group-normalised rewards, (r - mean) / (std with ddof 1 + 1e-6) per prompt's group
  (Dr. GRPO: r - mean, no division);
- the clipped surrogate on the probability ratio (clip range 1 - epsilon .. 1 + epsilon_high);
- the KL term: Schulman's low-variance estimator exp(ref - logp) - (ref - logp) - 1, weighted by
  beta (0 for DAPO: the config refuses anything else);
- aggregation: grpo — the mean over sequences of each one's token mean; dr_grpo — each sequence's
  token sum over the completion width; dapo — the mean over all completion tokens.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ... import checkpoints
from ... import rewards as rewards_lib
from ...config import Config, GrpoConfig
from ...data import GrpoPrompt, plan_prompt_steps
from ...models import stop_token_ids
from ...prompts import encode_formatted
from ...stages import Stage, TrainResult
from ..common import Policy, lr_lambda
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint, seed_everything
from .optim import clip_and_norm

# Per loss variant: (whether advantages are divided by the group's std, how token losses are
# aggregated). Tunix: GRPOConfig, DrGRPOConfig, DAPOConfig.
VARIANTS = {"grpo": (True, "sequence-mean-token-mean"),
            "dr_grpo": (False, "sequence-mean-token-scale"),
            "dapo": (True, "token-mean")}


def group_advantages(rewards, num_generations: int, loss: str = "grpo") -> np.ndarray:
    """Each completion's reward against its group's (the consecutive `num_generations` rows of one prompt)."""
    r = np.asarray(rewards, dtype=np.float64).reshape(-1, num_generations)
    centred = r - r.mean(axis=1, keepdims=True)
    if VARIANTS[loss][0]:
        centred = centred / (r.std(axis=1, ddof=1, keepdims=True) + 1e-6)
    return centred.reshape(-1)


def completion_logps(model, prompt_ids, completion_ids, *, pad_id: int, temperature: float = 1.0):
    """Per-token log-probs of each completion token (rows x completion width; 0 at pad positions),
    the logits scaled by the rollout temperature as Tunix scales them. Prompts are left-padded,
    completions right-padded with pad_id.

    The output layer runs only at the positions that predict a real completion token: on the 270M
    it is 262k x 640, most of an update's FLOPs, and a group's completions stop at different
    lengths (the padding after the shorter ones was ~a quarter of its rows). A model whose output
    layer is not a plain Linear takes the full forward."""
    import torch

    from .decode import _output_head, soft_capped

    tokens = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = tokens != pad_id
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    width = completion_ids.size(1)
    inputs = dict(input_ids=tokens, attention_mask=mask.long(), position_ids=positions, use_cache=False)
    keep = completion_ids != pad_id
    head = _output_head(model)
    if head is None:
        logits = model(**inputs, logits_to_keep=width + 1).logits[:, :-1][keep]
    else:
        decoder, weight, softcap = head
        hidden = decoder(**inputs).last_hidden_state[:, -width - 1:-1][keep]  # position t predicts t + 1
        logits = soft_capped(hidden @ weight.T, softcap)
    logits = logits.float()
    if temperature not in (0.0, 1.0):
        logits = logits / temperature
    kept = logits.log_softmax(-1).gather(-1, completion_ids[keep][:, None])[:, 0]
    return torch.zeros(completion_ids.shape, dtype=kept.dtype, device=kept.device).masked_scatter(keep, kept)


def grpo_loss(logps, advantages, mask, *, epsilon: float, epsilon_high: float, beta: float, loss: str = "grpo",
              old_logps=None, ref_logps=None, width: int | None = None):
    """(loss, mean KL over completion tokens) for one micro-batch. `old_logps` None: one policy
    update per rollout batch, so the ratio is 1 in value but carries the policy's gradient.
    `width`: Dr. GRPO's per-sequence norm (Tunix: the completion width, max_new_tokens)."""
    import torch

    mask = mask.float()
    old = logps.detach() if old_logps is None else old_logps
    ratio = torch.exp((logps - old).clamp(-20.0, 20.0))
    adv = advantages.float()[:, None]
    per_token = torch.maximum(-adv * ratio, -adv * ratio.clamp(1 - epsilon, 1 + epsilon_high))
    agg = VARIANTS[loss][1]
    total = aggregate(per_token, mask, agg, width)
    kl_mean = logps.new_zeros(())
    if ref_logps is not None:
        diff = ref_logps - logps
        kl = torch.exp(diff) - diff - 1
        kl_mean = (kl * mask).sum() / mask.sum().clamp(min=1)
        if beta:
            total = total + beta * aggregate(kl, mask, agg, width)
    return total, kl_mean.detach()


def aggregate(per_token, mask, mode: str, width: int | None = None):
    """Tunix's `aggregate_loss` for the three modes our variants use."""
    lengths = mask.sum(-1)
    rows = (lengths > 0).sum().clamp(min=1)
    if mode == "token-mean":
        return (per_token * mask).sum() / mask.sum().clamp(min=1)
    if mode == "sequence-mean-token-mean":
        return ((per_token * mask).sum(-1) / lengths.clamp(min=1)).sum() / rows
    if mode == "sequence-mean-token-scale":  # over the completion width (Tunix's default norm)
        return ((per_token * mask).sum(-1) / (width or per_token.size(-1))).sum() / rows
    raise ValueError(f"unknown aggregation {mode!r}")


# --- the stage -----------------------------------------------------------------------------------

def train(cfg: Config, policy: Policy, tokenizer, prompts: Sequence[GrpoPrompt], stage: Stage, *, plan, root: Path,
          rewards: Sequence | None = None, judge=None) -> TrainResult:
    """GRPO for grpo.max_steps steps, checkpoints in `root`/step-<N>; a root with a whole
    checkpoint resumes after it. (No time budget: it is the Tunix backend's, refused for torch at
    config load; the manifest records the stage all the same.) `rewards`: reward functions to use
    instead of the configured `grpo.rewards` (their sum is the reward; the rows still log each
    configured reward). `judge`: the judge reward, weighed by grpo.rewards.judge."""
    import torch

    from .decode import Decoder

    g, t = cfg.grpo, cfg.training
    seed = t.seed if g.seed is None else g.seed
    model, device = policy.model, plan.device
    seed_everything(seed)
    schedule = plan_prompt_steps(len(prompts), prompts_per_step=g.prompts_per_step, steps=g.max_steps, seed=seed,
                                 levels=[p.level for p in prompts])
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=g.learning_rate, betas=(g.adam_b1, g.adam_b2),
                                  weight_decay=g.weight_decay)
    factor = lr_lambda(int(g.warmup_ratio * g.max_steps), g.lr_schedule, g.max_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    state = {"step": 0, "tokens_seen": 0}
    resume = latest_checkpoint(root, stage.log)
    if resume is not None:
        state = load_checkpoint(resume, model, optimizer, scheduler, lora=t.lora is not None)
        stage.log.info("resuming GRPO from %s (step %d)", resume, state["step"])
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16) if plan.dtype == "bf16" else nullcontext()
    decoder = Decoder(model, device=device, dtype=plan.dtype)
    count = rewards_lib.token_counter(tokenizer)
    G = g.num_generations
    stage.log.info("grpo (torch, %s): %d prompts, %d steps x %d prompts x %d generations, beta %s, device %s",
                 g.loss, len(prompts), g.max_steps, g.prompts_per_step, G, g.beta, device)

    steps = state["step"]
    with stage.steps(g.max_steps, resumed=state["step"]):
        for n, chosen in enumerate(schedule):
            if n < state["step"]:
                continue  # done before the resumed checkpoint
            step_start = time.perf_counter()
            rows = [prompts[i] for i in chosen]
            batch = rollout(decoder, tokenizer, rows, g, seed=rollout_seed(seed, n))
            prompt_texts = [p.prompt for p in rows for _ in range(G)]
            answers = [p.answer for p in rows for _ in range(G)]
            parts = rewards_lib.score_all(prompt_texts, batch.texts, g.rewards, max_tokens=g.max_new_tokens,
                                          extra={"judge": judge} if judge is not None else None,
                                          soft_tokens=g.overlong_soft_tokens, count=count, answer=answers)
            total = (np.sum([fn(prompt_texts, batch.texts, answer=answers) for fn in rewards], axis=0) if rewards
                     else np.asarray(parts["total"]))  # the configured rewards' weighted sum
            figures = update(model, optimizer, scheduler, batch, group_advantages(total, G, g.loss), g,
                             device=device, autocast=autocast)
            steps = n + 1
            row = stage.step(steps, seconds=time.perf_counter() - step_start, **figures,
                             reward_mean=np.mean(total), reward_std=np.std(total),
                             **{f"reward/{k}": np.mean(parts[k]) for k in g.rewards},
                             completion_len_mean=np.mean(batch.lengths), tokens=int(sum(batch.lengths)))
            state["tokens_seen"] += row["tokens"]
            if (g.save_every and steps % g.save_every == 0) or steps == g.max_steps:
                state.update(step=steps)
                save_checkpoint(model, tokenizer, root, steps, optimizer=optimizer, scheduler=scheduler, state=state)
    model.eval()
    return stage.result(model, steps=steps, checkpoint=checkpoints.torch_dir(root, steps), tokens=state["tokens_seen"])


@dataclass
class Rollouts:
    """One step's rollouts: each prompt's G completions side by side."""
    prompt_ids: list[list[int]]
    completions: list[list[int]]  # as decoded: pad after a stop, to the batch's longest row
    texts: list[str]
    lengths: list[int]  # tokens before the stop
    pad_id: int


def rollout(decoder, tokenizer, prompts: Sequence[GrpoPrompt], g: GrpoConfig, *, seed: int) -> Rollouts:
    """The first half of a GRPO step: `g.num_generations` completions of each prompt, sampled at
    the rollout temperature (top-k / top-p) with a generator seeded by `seed`."""
    from .decode import _cut_at_stop

    stops = stop_token_ids(tokenizer)
    ids = [encode_formatted(tokenizer, p.prompt) for p in prompts]
    group_ids = [x for x in ids for _ in range(g.num_generations)]
    # All of a step's rollouts in one decode batch: a decode step costs about the same for 8 rows as
    # for 16 (on a CPU the 262k-row lm_head dominates), so fewer, wider batches win.
    completions = decoder.sample(group_ids, max_new_tokens=g.max_new_tokens, stop_ids=stops,
                                 pad_id=tokenizer.pad_token_id, temperature=g.temperature, top_k=g.top_k,
                                 top_p=g.top_p or 1.0, seed=seed)
    cut = [_cut_at_stop(c, stops) for c in completions]  # without the stop token and the padding
    return Rollouts(prompt_ids=group_ids, completions=completions,
                    texts=[tokenizer.decode(c, skip_special_tokens=True) for c in cut], lengths=[len(c) for c in cut],
                    pad_id=tokenizer.pad_token_id)


def update(model, optimizer, scheduler, batch: Rollouts, advantages, g: GrpoConfig, *, device: str,
           autocast=None) -> dict:
    """The second half of a GRPO step: the loss over the rollouts (micro-batches of whole groups,
    the reference pass only when beta > 0), one optimizer step. Returns the row's loss, lr,
    grad_norm and kl."""
    import torch

    pad = batch.pad_id
    params = [p for group in optimizer.param_groups for p in group["params"]]
    micro = g.micro_batch_size or len(batch.prompt_ids)  # completions per forward/backward
    model.train()
    loss_sum, kl_sum, n_micro = 0.0, 0.0, math.ceil(len(batch.prompt_ids) / micro)
    for lo in range(0, len(batch.prompt_ids), micro):
        prompt_t, completion_t = pad_rows(batch.prompt_ids[lo:lo + micro], batch.completions[lo:lo + micro], pad,
                                          device)
        mask = completion_t != pad
        with autocast or nullcontext():
            ref = None
            if g.beta:
                with torch.no_grad(), model.disable_adapter():
                    ref = completion_logps(model, prompt_t, completion_t, pad_id=pad, temperature=g.temperature)
            logps = completion_logps(model, prompt_t, completion_t, pad_id=pad, temperature=g.temperature)
            loss, kl = grpo_loss(logps, torch.tensor(advantages[lo:lo + micro], device=device), mask,
                                 epsilon=g.epsilon, epsilon_high=g.clip_high, beta=g.beta, loss=g.loss,
                                 ref_logps=ref, width=g.max_new_tokens)
        (loss / n_micro).backward()
        loss_sum += float(loss.detach()) / n_micro
        kl_sum += float(kl) / n_micro
    grad_norm = clip_and_norm(params, g.max_grad_norm)
    lr = scheduler.get_last_lr()[0]
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return {"loss": loss_sum, "lr": lr, "grad_norm": grad_norm, "kl": kl_sum}


def rollout_seed(seed: int, step: int) -> int:
    """The sampling seed of one step's rollouts: fixed by the step, not by the process."""
    return seed * 100_003 + step


def pad_rows(prompts: Sequence[list[int]], completions: Sequence[list[int]], pad: int, device: str):
    """Prompts left-padded and completions right-padded (already padded after their stop) to the
    micro-batch's longest, as tensors."""
    import torch

    width = max(len(p) for p in prompts)
    cut = max(len(c) for c in completions)
    prompt_t = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts], device=device)
    completion_t = torch.tensor([list(c) + [pad] * (cut - len(c)) for c in completions], device=device)
    return prompt_t, completion_t
