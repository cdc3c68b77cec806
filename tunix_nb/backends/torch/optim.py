"""The PyTorch optimizers and gradient clipping both stages use."""

from __future__ import annotations

from ...config import TrainingConfig


def clip_and_norm(params, max_norm: float | None) -> float:
    import torch

    limit = max_norm if max_norm is not None else float("inf")
    return float(torch.nn.utils.clip_grad_norm_(params, limit))


def make_optimizer(params, t: TrainingConfig, device: str):
    import torch

    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.learning_rate, weight_decay=t.weight_decay,
                                 fused=(device == "cuda"))
    from transformers.optimization import Adafactor

    # Fixed lr (our scheduler drives it), no parameter-scale heuristics: the HF Trainer recipe.
    return Adafactor(params, lr=t.learning_rate, weight_decay=t.weight_decay,
                     scale_parameter=False, relative_step=False, warmup_init=False)
