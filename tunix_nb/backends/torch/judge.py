"""The judge model on the PyTorch backend: a transformers model, frozen, in eval mode on the run's
device (or, with grpo.judge_devices: 1, on the last GPU, a device of its own), giving
`tunix_nb.judge.Judge` the log-probs of the token after each row (rows left-padded into one batch:
one forward pass per call)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np


def load_judge(cfg, source_path: Path, plan) -> Callable[[list[list[int]]], np.ndarray]:
    """The backend contract's `load_judge`: `next_logprobs(rows) -> (rows, vocab)` of the judge model
    at `source_path`, in the run's dtype."""
    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if plan.dtype == "bf16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(source_path, dtype=dtype, attn_implementation="eager")
    # grpo.judge_devices: 1 puts the judge on the last GPU, beside the policy's (checked in `load.check`)
    device = f"cuda:{torch.cuda.device_count() - 1}" if cfg.grpo and cfg.grpo.judge_devices else plan.device
    model.to(device).eval().requires_grad_(False)

    def next_logprobs(rows: list[list[int]]) -> np.ndarray:
        width = max(map(len, rows))
        ids = torch.tensor([[0] * (width - len(r)) + r for r in rows], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1).logits[:, -1]
        return torch.log_softmax(logits.float(), dim=-1).cpu().numpy()

    return next_logprobs
