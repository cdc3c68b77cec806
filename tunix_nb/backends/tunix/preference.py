"""Preference losses on the Tunix backend: DPO and ORPO are Tunix's own (`tunix.sft.dpo.dpo_trainer.
dpo_loss_fn`, what its `DPOTrainer` optimises); SimPO, which Tunix 0.1.7 lacks, is ours, written as
a loss function of the same signature so the same trainer runs it (`DPOTrainer.with_loss_fn`).
The formulas, term for term, and their sources: `backends/torch/preference.py`.
"""

from __future__ import annotations

from ..torch.preference import ALGORITHMS, PreferenceLoss

__all__ = ["ALGORITHMS", "PreferenceLoss", "loss_fn", "simpo_loss_fn"]


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
