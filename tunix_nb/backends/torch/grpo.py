"""PyTorch GRPO objective: the same computation as the Tunix stage's loss (tunix 0.1.7's
`grpo_loss_fn` with our `algo_config`), term for term, so the two backends optimise one objective.

- advantages: group-normalised rewards, (r - mean) / (std with ddof 1 + 1e-6) per prompt's group
  (Dr. GRPO: r - mean, no division);
- the clipped surrogate on the probability ratio (clip range 1 - epsilon .. 1 + epsilon_high);
- the KL term: Schulman's low-variance estimator exp(ref - logp) - (ref - logp) - 1, weighted by
  beta (0 for DAPO: the config refuses anything else);
- aggregation: grpo — the mean over sequences of each one's token mean; dr_grpo — each sequence's
  token sum over the completion width; dapo — the mean over all completion tokens.
"""

from __future__ import annotations

import numpy as np

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
    completions right-padded with pad_id."""
    import torch

    tokens = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = tokens != pad_id
    positions = (mask.long().cumsum(-1) - 1).clamp(min=0)
    width = completion_ids.size(1)
    logits = model(input_ids=tokens, attention_mask=mask.long(), position_ids=positions, use_cache=False,
                   logits_to_keep=width + 1).logits[:, :-1].float()
    if temperature not in (0.0, 1.0):
        logits = logits / temperature
    logps = logits.log_softmax(-1).gather(-1, completion_ids[..., None])[..., 0]
    return logps.masked_fill(completion_ids == pad_id, 0.0)  # where, not a product: a pad row's NaN stays out


def grpo_loss(logps, advantages, mask, *, epsilon: float, epsilon_high: float, beta: float, loss: str = "grpo",
              old_logps=None, ref_logps=None):
    """(loss, mean KL over completion tokens) for one micro-batch. `old_logps` None: one policy
    update per rollout batch, so the ratio is 1 in value but carries the policy's gradient."""
    import torch

    mask = mask.float()
    old = logps.detach() if old_logps is None else old_logps
    ratio = torch.exp((logps - old).clamp(-20.0, 20.0))
    adv = advantages.float()[:, None]
    per_token = torch.maximum(-adv * ratio, -adv * ratio.clamp(1 - epsilon, 1 + epsilon_high))
    agg = VARIANTS[loss][1]
    total = aggregate(per_token, mask, agg)
    kl_mean = logps.new_zeros(())
    if ref_logps is not None:
        diff = ref_logps - logps
        kl = torch.exp(diff) - diff - 1
        kl_mean = (kl * mask).sum() / mask.sum().clamp(min=1)
        if beta:
            total = total + beta * aggregate(kl, mask, agg)
    return total, kl_mean.detach()


def aggregate(per_token, mask, mode: str):
    """Tunix's `aggregate_loss` for the three modes our variants use."""
    lengths = mask.sum(-1)
    rows = (lengths > 0).sum().clamp(min=1)
    if mode == "token-mean":
        return (per_token * mask).sum() / mask.sum().clamp(min=1)
    if mode == "sequence-mean-token-mean":
        return ((per_token * mask).sum(-1) / lengths.clamp(min=1)).sum() / rows
    if mode == "sequence-mean-token-scale":  # over the completion width (Tunix's default norm)
        return ((per_token * mask).sum(-1) / per_token.size(-1)).sum() / rows
    raise ValueError(f"unknown aggregation {mode!r}")
