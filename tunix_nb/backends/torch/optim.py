"""The PyTorch optimizers and gradient clipping both stages use."""

from __future__ import annotations

import functools

from ...config import TrainingConfig


def clip_and_norm(params, max_norm: float | None, *, fused: bool | None = None) -> float:
    """The global grad norm, the grads clipped to `max_norm` (torch's clip_grad_norm_, the norm
    summed in float64: fp32 sums over millions of squares drift by ~1e-5, differently however the
    grads are split, so a sharded (FSDP) run and a one-process run would disagree).

    `fused` (default: on a GPU, unsharded grads) torch.compiles each gradient's float64 norm into
    one reduction: eager, `vector_norm(dtype=float64)` writes a float64 copy of every gradient
    first (13 ms of a Gemma-2B step on the H200, bench/results/gpu_h200.md)."""
    import torch

    limit = max_norm if max_norm is not None else float("inf")
    grads = [p.grad for p in params if p.grad is not None]
    if fused is None:
        fused = bool(grads) and grads[0].is_cuda and not hasattr(grads[0], "full_tensor")
    norm_of = _compiled_norm64() if fused else _norm64
    # .detach(): dynamo keeps a parameter's .grad at a static shape (one graph per shape otherwise)
    norm = torch.linalg.vector_norm(torch.stack([norm_of(g.detach() if fused else g) for g in grads]))
    if hasattr(norm, "full_tensor"):  # FSDP: a DTensor of the shards' partial norms, reduced here
        norm = norm.full_tensor()
    torch.nn.utils.clip_grads_with_norm_(params, limit, norm.float())
    return float(norm)


def _norm64(g):
    import torch

    return torch.linalg.vector_norm(g, dtype=torch.float64)


@functools.cache
def _compiled_norm64():
    import torch

    return torch.compile(_norm64, dynamic=True, fullgraph=True)


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
