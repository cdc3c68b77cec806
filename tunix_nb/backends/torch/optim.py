"""The PyTorch optimizers and gradient clipping both stages use."""

from __future__ import annotations

from ...config import TrainingConfig


def clip_and_norm(params, max_norm: float | None) -> float:
    """The global grad norm, the grads clipped to `max_norm` (torch's clip_grad_norm_, the norm
    summed in float64: fp32 sums over millions of squares drift by ~1e-5, differently however the
    grads are split, so a sharded (FSDP) run and a one-process run would disagree)."""
    import torch

    limit = max_norm if max_norm is not None else float("inf")
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g, dtype=torch.float64) for g in grads]))
    if hasattr(norm, "full_tensor"):  # FSDP: a DTensor of the shards' partial norms, reduced here
        norm = norm.full_tensor()
    torch.nn.utils.clip_grads_with_norm_(params, limit, norm.float())
    return float(norm)


def make_optimizer(params, t: TrainingConfig, device: str):
    import torch

    if t.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=t.learning_rate, weight_decay=t.weight_decay,
                                 fused=(device == "cuda"))
    from .adafactor import Adafactor

    # Fixed lr (our scheduler drives it), no parameter-scale heuristics: the HF Trainer recipe's
    # rule, fused per weight by torch.compile on a GPU (FSDP's sharded DTensors stay eager).
    return Adafactor(params, lr=t.learning_rate, weight_decay=t.weight_decay,
                     compile=device == "cuda" and t.distributed != "fsdp")
