"""Adafactor as the HF Trainer recipe runs it (transformers' `Adafactor(scale_parameter=False,
relative_step=False, warmup_init=False)`: a fixed lr our scheduler drives, no first moment), one
parameter's update per call, compiled on a GPU.

Why not transformers' class: on the lent H200 its step took 113 ms of a 256 ms Gemma-2B step
(bench/results/gpu_h200.md): a Python loop of ~12 unfused element-wise passes over every fp32
weight, plus an RMS of each weight it never uses with these settings. The same arithmetic as
one function per parameter lets torch.compile fuse it into a few passes (the row/column means,
the update and its RMS, the write). Why not `torch.optim.Adafactor`: a different rule (it
scales the step by each weight's RMS and caps it by 1/sqrt(t)), so not the recipe users ran.

State keys and layout are transformers' (`step`, `exp_avg_sq_row` / `exp_avg_sq_col` for
matrices, `exp_avg_sq` for vectors), so either class resumes the other's checkpoint.
"""

from __future__ import annotations

import math

import torch

EPS = 1e-30  # transformers' eps[0], added to the squared gradient
CLIP = 1.0  # transformers' clip_threshold: the update's RMS is capped at 1
DECAY = -0.8  # transformers' decay_rate: beta2 at step t is 1 - t^-0.8


def _factored_step(p, g, row, col, beta2t, lr, weight_decay):
    """One matrix's update in place; transformers' op order (see the module's docstring)."""
    g = g.float()
    sq = g * g + EPS
    row.mul_(beta2t).add_(sq.mean(dim=-1) * (1.0 - beta2t))
    col.mul_(beta2t).add_(sq.mean(dim=-2) * (1.0 - beta2t))
    r = (row / row.mean(dim=-1, keepdim=True)).rsqrt().unsqueeze(-1)
    update = r * col.unsqueeze(-2).rsqrt() * g
    _apply(p, update, lr, weight_decay)


def _vector_step(p, g, v, beta2t, lr, weight_decay):
    """A vector's (unfactored) update in place."""
    g = g.float()
    v.mul_(beta2t).add_((g * g + EPS) * (1.0 - beta2t))
    _apply(p, v.rsqrt() * g, lr, weight_decay)


def _apply(p, update, lr, weight_decay):
    rms = update.norm(2) / update.numel() ** 0.5  # not math.sqrt: it would fix the shape in a compiled graph
    update = update / (rms / CLIP).clamp(min=1.0) * lr
    if weight_decay != 0:
        p.add_(p * (-weight_decay * lr))
    p.sub_(update)


class Adafactor(torch.optim.Optimizer):
    """transformers' Adafactor rule (see the module); `compile=True` fuses each
    parameter's update with torch.compile (a GPU's choice: on a CPU the compile costs more than
    it saves)."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0, *, compile: bool = False):
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})
        self._factored, self._vector = _factored_step, _vector_step
        if compile:
            # Symbolic shapes, and lr / beta2 as 0-d tensors: one graph per rule, not one per
            # weight shape or per learning rate (a float argument is guarded on its value).
            self._factored = torch.compile(_factored_step, fullgraph=True, dynamic=True)
            self._vector = torch.compile(_vector_step, fullgraph=True, dynamic=True)
        self._compiled = compile

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, weight_decay = float(group["lr"]), float(group["weight_decay"])
            scalars = {}  # (step, device) -> (beta2t, lr): one host-to-device copy a step, not one a weight
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    if p.dim() >= 2:
                        state["exp_avg_sq_row"] = p.new_zeros(p.shape[:-1], dtype=torch.float32)
                        state["exp_avg_sq_col"] = p.new_zeros(p.shape[:-2] + p.shape[-1:], dtype=torch.float32)
                    else:
                        state["exp_avg_sq"] = p.new_zeros(p.shape, dtype=torch.float32)
                state["step"] += 1
                key = (state["step"], p.device)
                if key not in scalars:
                    beta2t = 1.0 - math.pow(state["step"], DECAY)
                    scalars[key] = (torch.tensor([beta2t, lr], device=p.device).unbind() if self._compiled
                                    else (beta2t, lr))
                beta2t, lr_t = scalars[key]
                # fp32 weights are updated in place through a detached view (dynamo keeps a
                # Parameter's shape static: one graph per weight shape); half-precision ones in an
                # fp32 copy written back, as transformers does.
                w = p.detach() if p.dtype == torch.float32 else p.float()
                if p.dim() >= 2:
                    self._factored(w, p.grad.detach(), state["exp_avg_sq_row"], state["exp_avg_sq_col"], beta2t, lr_t,
                                   weight_decay)
                else:
                    self._vector(w, p.grad.detach(), state["exp_avg_sq"], beta2t, lr_t, weight_decay)
                if p.dtype != torch.float32:
                    p.copy_(w)
        return loss
