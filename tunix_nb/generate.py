"""Batched greedy generation for evaluation (PyTorch): left padding, KV cache, stop at end of turn.

Prompts are sorted by length before batching so a batch carries little padding; outputs are
returned in the input order.
"""

from __future__ import annotations

import time
from typing import Sequence

from .data import EvalRecord
from .models import stop_token_ids
from .prompts import encode_prompt


def generate(model, tokenizer, prompts: Sequence[list[int]], *, max_new_tokens: int, batch_size: int,
             device: str, dtype: str = "fp32", desc: str = "eval") -> list[str]:
    """Greedy completions of token-id prompts, decoded without special tokens."""
    import torch
    from tqdm import tqdm  # plain text bars: they render in terminals, logs and papermill outputs
    from transformers import GenerationConfig

    stops = stop_token_ids(tokenizer)
    # Explicit config: a checkpoint's own generation_config may ask for sampling.
    gen_config = GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=stops,
                                  pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id)
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    outputs: list[str] = [""] * len(prompts)
    new_tokens = 0
    start = time.perf_counter()
    bar = tqdm(total=len(prompts), desc=desc, unit="item", dynamic_ncols=True, mininterval=1.0)
    # Same precision as training: bf16 autocast over the fp32 master weights.
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=(dtype == "bf16"))
    model.eval()
    try:
        for lo in range(0, len(order), batch_size):
            idx = order[lo:lo + batch_size]
            width = max(len(prompts[i]) for i in idx)
            ids = [[tokenizer.pad_token_id] * (width - len(prompts[i])) + prompts[i] for i in idx]
            mask = [[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in idx]
            with torch.inference_mode(), autocast:
                out = model.generate(input_ids=torch.tensor(ids, device=device),
                                     attention_mask=torch.tensor(mask, device=device),
                                     generation_config=gen_config)
            for row, i in zip(out[:, width:].tolist(), idx):
                row = _cut_at_stop(row, stops)
                new_tokens += len(row)
                outputs[i] = tokenizer.decode(row, skip_special_tokens=True)
            bar.update(len(idx))
            bar.set_postfix(tok_s=f"{new_tokens / max(time.perf_counter() - start, 1e-9):,.0f}")
    finally:
        bar.close()
    return outputs


def _cut_at_stop(row: list[int], stops: list[int]) -> list[int]:
    """Drop the stop token and the padding generate() appends after a row finished early."""
    for j, tok in enumerate(row):
        if tok in stops:
            return row[:j]
    return row


def predict(model, tokenizer, records: Sequence[EvalRecord], *, max_new_tokens: int, batch_size: int,
            device: str, dtype: str = "fp32", desc: str = "eval") -> list[dict]:
    """Rows `{"id", "prediction"}` (the raw model text), the input of `scoring.score_predictions`."""
    prompts = [encode_prompt(tokenizer, r.prompt) for r in records]
    texts = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                     device=device, dtype=dtype, desc=desc)
    return [{"id": r.id, "prediction": t} for r, t in zip(records, texts)]
