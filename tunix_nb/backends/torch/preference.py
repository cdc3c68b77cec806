"""Preference losses on the PyTorch backend, the same formulas as the Tunix backend's
(`backends/tunix/preference.py`: Tunix's own DPO and ORPO, our SimPO), term for term:

- DPO (Rafailov et al. 2023): -log σ(β·((c - c_ref) - (r - r_ref))), with label smoothing ε:
  -(1-ε)·log σ(β·Δ) - ε·log σ(-β·Δ); the reference terms drop out without a reference model;
- ORPO (Hong et al. 2024): the chosen completion's length-normalised NLL + λ·-log σ(log-odds),
  log-odds = (c - r) - (log(1 - e^c) - log(1 - e^r)) on the summed log-probs, as Tunix and TRL do;
- SimPO (Meng et al. 2024): -log σ(β·(c/|c| - r/|r|) - γ), length-normalised, no reference
  (the 2nd place of the Tunix Hack, Pinocchio-1B, used it to lock the format and stop verbosity).

c, r are a completion's summed log-probs under the policy; |c|, |r| its token counts.
"""

from __future__ import annotations

from dataclasses import dataclass

ALGORITHMS = ("dpo", "orpo", "simpo")


@dataclass(frozen=True)
class PreferenceLoss:
    algorithm: str
    beta: float = 0.1  # DPO's and SimPO's β
    lambda_orpo: float = 0.1
    gamma: float = 0.5  # SimPO's target margin γ
    label_smoothing: float = 0.0


def completion_logps(model, input_ids, attention_mask, completion_mask):
    """(summed log-prob of each row's completion tokens, their count): `completion_mask` marks the
    completion's positions in `input_ids` (the prompt and the padding are 0)."""
    import torch

    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # left-padded prompts start at position 0
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions).logits[:, :-1].float()
    token_logps = torch.log_softmax(logits, dim=-1).gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    mask = completion_mask[:, 1:].to(token_logps.dtype)
    return (token_logps * mask).sum(-1), mask.sum(-1)


def loss(spec: PreferenceLoss, chosen, rejected, chosen_len, rejected_len, ref_chosen=None, ref_rejected=None):
    """(mean loss over the pairs, the logged figures: chosen / rejected reward and their margin)."""
    import torch
    import torch.nn.functional as F

    eps = spec.label_smoothing
    if spec.algorithm == "dpo":
        c = chosen - (ref_chosen if ref_chosen is not None else 0.0)
        r = rejected - (ref_rejected if ref_rejected is not None else 0.0)
        delta = spec.beta * (c - r)
        losses = -(F.logsigmoid(delta) * (1 - eps) + F.logsigmoid(-delta) * eps)
        chosen_reward, rejected_reward = spec.beta * c, spec.beta * r
    elif spec.algorithm == "orpo":
        log_odds = (chosen - rejected) - (torch.log1p(-torch.exp(chosen)) - torch.log1p(-torch.exp(rejected)))
        or_loss = -(F.logsigmoid(log_odds) * (1 - eps) + F.logsigmoid(-log_odds) * eps)
        losses = -chosen / chosen_len.clamp(min=1.0) + spec.lambda_orpo * or_loss
        chosen_reward, rejected_reward = spec.lambda_orpo * chosen, spec.lambda_orpo * rejected
    elif spec.algorithm == "simpo":
        chosen_reward = spec.beta * chosen / chosen_len.clamp(min=1.0)
        rejected_reward = spec.beta * rejected / rejected_len.clamp(min=1.0)
        delta = chosen_reward - rejected_reward - spec.gamma
        losses = -(F.logsigmoid(delta) * (1 - eps) + F.logsigmoid(-delta) * eps)
    else:
        raise ValueError(f"unknown preference algorithm {spec.algorithm!r}; one of {', '.join(ALGORITHMS)}")
    aux = {"reward_chosen": chosen_reward.mean(), "reward_rejected": rejected_reward.mean(),
           "margin": (chosen_reward - rejected_reward).mean()}
    return losses.mean(), aux
