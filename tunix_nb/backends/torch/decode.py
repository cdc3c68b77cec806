"""Batched greedy generation for evaluation (PyTorch): left padding, KV cache, stop at end of turn.

Prompts are sorted by length before batching so a batch carries little padding; outputs are
returned in the input order. The decode loop is our own, not `model.generate`: no logits
processors or stopping-criteria objects, one argmax and one "all rows done?" check per step,
and a mask over the whole cache made once per batch. It computes exactly what HF's greedy
`generate` computes (a test compares the token ids). With `compile=True` the one-token decode
step is torch.compiled ("reduce-overhead": CUDA graphs on a GPU) over a static KV cache
(allocated once per batch, so every step has the same shapes); without it the cache is HF's
dynamic one (as fast on CPU, and it accepts the mixed fp32/bf16 keys bf16 autocast can produce).

`Decoder.sample` is the same loop for GRPO rollouts: temperature, top-k and top-p, drawn from a
seeded `torch.Generator` (the same seed gives the same completions; temperature 0 is greedy).
"""

from __future__ import annotations

import functools
import time
from typing import Sequence

from ... import progress
from ...data import EvalRecord
from ...models import stop_token_ids
from ...prompts import encode_prompt
from . import attention


def generate(model, tokenizer, prompts: Sequence[list[int]], *, max_new_tokens: int, batch_size: int,
             device: str, dtype: str = "fp32", desc: str = "eval", compile: bool = False) -> list[str]:
    """Greedy completions of token-id prompts, decoded without special tokens."""

    stops = stop_token_ids(tokenizer)
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    outputs: list[str] = [""] * len(prompts)
    new_tokens = 0
    start = time.perf_counter()
    bar = progress.bar(len(prompts), desc, "item")
    decoder = Decoder(model, device=device, dtype=dtype, compile=compile)
    try:
        for lo in range(0, len(order), batch_size):
            idx = order[lo:lo + batch_size]
            rows = decoder.greedy([prompts[i] for i in idx], max_new_tokens=max_new_tokens, stop_ids=stops,
                                  pad_id=tokenizer.pad_token_id)
            for row, i in zip(rows, idx):
                row = _cut_at_stop(row, stops)
                new_tokens += len(row)
                outputs[i] = tokenizer.decode(row, skip_special_tokens=True)
            bar.update(len(idx))
            progress.show(bar, tok_s=f"{new_tokens / max(time.perf_counter() - start, 1e-9):,.0f}")
    finally:
        bar.close()
    return outputs


class Decoder:
    """Greedy decoding over a KV cache (static when compiled, or when static_cache=True); one
    instance serves many batches (the compiled decode step is reused)."""

    def __init__(self, model, *, device: str, dtype: str = "fp32", compile: bool = False,
                 static_cache: bool | None = None):
        import torch

        self.model, self.device = model, device
        self.static_cache = compile if static_cache is None else static_cache
        # Same precision as training: bf16 autocast over the fp32 master weights.
        self.autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=(dtype == "bf16"))
        self.step = model
        self.head = None
        if compile:
            # Static shapes (the cache and the full-length mask never change size within a batch),
            # so CUDA graphs can replay the step.
            self.step = torch.compile(model, mode="reduce-overhead", dynamic=False)
        elif device == "cpu":
            self.head = _output_head(model)

    def _next_logits(self, first: bool, **inputs):
        """The logits of each row's last position. On a CPU the output layer is applied here as
        `weight @ hidden.T`: for a handful of rows that GEMM runs ~2x faster than `linear`'s
        `hidden @ weight.T` (measured on the 270M's 262k x 640 lm_head: 76 ms vs 152 ms for 8 rows),
        and it is most of a decode step's time."""
        if self.head is None:
            return (self.model if first else self.step)(**inputs, logits_to_keep=1).logits[:, -1]
        decoder, weight, softcap = self.head
        hidden = decoder(**inputs).last_hidden_state[:, -1]
        return soft_capped((weight @ hidden.T).T, softcap)

    def greedy(self, prompts: Sequence[list[int]], *, max_new_tokens: int, stop_ids: Sequence[int],
               pad_id: int) -> list[list[int]]:
        """New token ids per prompt (left-padded together); a row that emitted a stop id gets
        pad_id after it, and decoding ends when every row has stopped."""
        return self._decode(prompts, max_new_tokens=max_new_tokens, stop_ids=stop_ids, pad_id=pad_id,
                            pick=lambda logits: logits.argmax(-1))

    def sample(self, prompts: Sequence[list[int]], *, max_new_tokens: int, stop_ids: Sequence[int], pad_id: int,
               temperature: float, top_k: int | None = None, top_p: float = 1.0, seed: int = 0) -> list[list[int]]:
        """`greedy`, but each token drawn at `temperature` from the top-k / top-p filtered
        distribution, with a generator seeded by `seed`: the same seed, the same rows."""
        import torch

        generator = torch.Generator(device=self.device).manual_seed(seed)
        return self._decode(prompts, max_new_tokens=max_new_tokens, stop_ids=stop_ids, pad_id=pad_id,
                            pick=lambda logits: sample_next(logits, temperature=temperature, top_k=top_k,
                                                            top_p=top_p, generator=generator))

    def _decode(self, prompts: Sequence[list[int]], *, max_new_tokens: int, stop_ids: Sequence[int], pad_id: int,
                pick) -> list[list[int]]:
        import torch
        from transformers import DynamicCache

        model, device = self.model, self.device
        model.eval()
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[pad_id] * (width - len(p)) + list(p) for p in prompts], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        # HF's positions for left padding: count real tokens; pads get a dummy position (masked anyway).
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
        # One mask over the whole cache (future slots marked real; causality hides them), so every
        # decode step sees the same shapes.
        full_mask = torch.cat([mask, mask.new_ones(len(prompts), max_new_tokens)], dim=1)
        cache = (_static_cache_class()(config=model.config, max_cache_len=width + max_new_tokens) if self.static_cache
                 else DynamicCache(config=model.config))
        stops = torch.tensor(list(stop_ids), device=device)
        out = torch.full((len(prompts), max_new_tokens), pad_id, dtype=torch.long, device=device)
        done = torch.zeros(len(prompts), dtype=torch.bool, device=device)
        with torch.inference_mode(), self.autocast, attention.decoding(model):
            logits = self._next_logits(True, input_ids=ids, attention_mask=full_mask, position_ids=positions,
                                       past_key_values=cache, use_cache=True)
            position = positions[:, -1:] + 1
            n = 0
            for n in range(1, max_new_tokens + 1):
                token = torch.where(done, pad_id, pick(logits))
                out[:, n - 1] = token
                done |= torch.isin(token, stops)
                if n == max_new_tokens or bool(done.all()):
                    break
                logits = self._next_logits(False, input_ids=token[:, None], attention_mask=full_mask,
                                           position_ids=position, past_key_values=cache, use_cache=True)
                position = position + 1
        return out[:, :n].tolist()


@functools.cache
def _static_cache_class():
    """transformers' StaticCache, with each update cast to the dtype its layer was allocated in.
    Under bf16 autocast a layer's keys come as fp32 (RoPE's fp32 cos/sin promote them) and its
    values as bf16, and a compiled decode step can give bf16 keys; StaticCache allocates both
    tensors in the first keys' dtype and `index_copy_` refuses to mix, where the dynamic cache
    keeps each as it comes (`torch.cat` promotes). Casting up to the allocated fp32 is exact, so
    the values attended to are the dynamic cache's. One class for the process, so a compiled
    step's guards on it hold across batches."""
    from transformers import StaticCache

    class Cache(StaticCache):
        def update(self, key_states, value_states, layer_idx, *args, **kwargs):
            layer = self.layers[layer_idx]
            dtype = layer.keys.dtype if layer.is_initialized else key_states.dtype
            return super().update(key_states.to(dtype), value_states.to(dtype), layer_idx, *args, **kwargs)

    return Cache


def sample_next(logits, *, temperature: float, top_k: int | None = None, top_p: float = 1.0, generator=None):
    """One token per row of `logits` (rows x vocab): argmax at temperature 0; otherwise drawn from
    softmax(logits / temperature) restricted to the `top_k` largest logits and then to the smallest
    set of those whose probability reaches `top_p` (the most likely token always stays).

    The draw is by inverse CDF over the kept tokens only: one uniform number per row from
    `generator`, located in the running sum of their probabilities. `torch.multinomial` draws an
    exponential number for every vocabulary entry instead: on the 270M's 262k-token vocabulary
    that was ~60 ms of a ~350 ms rollout step for 8 rows on a CPU, where this takes ~3 ms."""
    import torch

    if temperature == 0:
        return logits.argmax(-1)
    logits = logits.float() / temperature
    index = None  # the kept tokens' vocabulary ids, largest logit first (None: the whole vocabulary)
    if top_k is not None and top_k < logits.size(-1):
        logits, index = torch.topk(logits, top_k, dim=-1)
    elif top_p < 1.0:
        logits, index = torch.sort(logits, dim=-1, descending=True)
    probs = logits.softmax(-1)
    if top_p < 1.0:  # sorted here: the mass before a token already reaching top_p leaves it out
        probs = probs.masked_fill(probs.cumsum(-1) - probs >= top_p, 0.0)
    cdf = probs.cumsum(-1)
    u = torch.rand(cdf.size(0), 1, generator=generator, device=cdf.device, dtype=cdf.dtype) * cdf[:, -1:]
    # The first token whose running sum exceeds u: a token of probability 0 never is one; the
    # bound keeps a u rounded up to the total on the last kept token.
    last = (probs > 0).sum(-1, keepdim=True) - 1 if top_p < 1.0 else cdf.size(-1) - 1
    choice = torch.minimum(torch.searchsorted(cdf, u, right=True), torch.as_tensor(last, device=cdf.device))
    return (choice if index is None else index.gather(-1, choice))[:, 0]


def soft_capped(logits, softcap: float | None):
    """Gemma 2's final logit soft-capping (None: none), as HF's forward applies it."""
    import torch

    return logits if softcap is None else torch.tanh(logits / softcap) * softcap


def _output_head(model):
    """(decoder, lm_head weight, final soft-cap) of a causal LM (peft-wrapped or not) whose output
    layer is a plain bias-free Linear; None for anything else (the model's own forward is used)."""
    import torch

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings()
    if type(head) is not torch.nn.Linear or head.bias is not None:
        return None
    return base.get_decoder(), head.weight, getattr(base.config, "final_logit_softcapping", None)


def _cut_at_stop(row: list[int], stops: list[int]) -> list[int]:
    """Drop the stop token and the padding appended after a row finished early."""
    for j, tok in enumerate(row):
        if tok in stops:
            return row[:j]
    return row


def predict(model, tokenizer, records: Sequence[EvalRecord], *, max_new_tokens: int, batch_size: int,
            device: str, dtype: str = "fp32", desc: str = "eval", compile: bool = False) -> list[dict]:
    """Rows `{"id", "prediction"}` (the raw model text), the input of `scoring.score_predictions`."""
    prompts = [encode_prompt(tokenizer, r.prompt) for r in records]
    texts = generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size,
                     device=device, dtype=dtype, desc=desc, compile=compile)
    return [{"id": r.id, "prediction": t} for r, t in zip(records, texts)]


def predict_for(policy, tokenizer, records: Sequence[EvalRecord], *, cfg, plan, desc: str = "eval") -> list[dict]:
    """The backend contract's `predict`: greedy completions of the eval records at `cfg.eval`'s settings."""
    return predict(policy.model, tokenizer, records, device=plan.device, dtype=plan.dtype, desc=desc,
                   max_new_tokens=cfg.eval.max_new_tokens, batch_size=cfg.eval.batch_size)
