"""Evaluation sampling on the Tunix backend: Tunix's `Sampler`, greedy, stopping at the end of turn.

The same rows as `generate.predict` (`{"id", "prediction"}`), so scoring and evidence do not
care which backend wrote them. Batches keep one shape (the last is filled with copies) and
prompts pad to one length, so the sampler compiles once.
"""

from __future__ import annotations

from typing import Sequence

from ... import progress
from ...data import EvalRecord
from ...models import stop_token_ids
from ...prompts import encode_prompt, format_prompt


def make_sampler(model, model_config, tokenizer, cache_size: int):
    from tunix.generate import sampler as sampler_lib

    return sampler_lib.Sampler(model, tokenizer, sampler_lib.CacheConfig(
        cache_size=cache_size, num_layers=model_config.num_layers, num_kv_heads=model_config.num_kv_heads,
        head_dim=model_config.head_dim))


def prompt_length(n: int) -> int:
    """Prompts left-pad to a power of two (at least 64), as Tunix's sampler itself rounds."""
    return max(64, 1 << (n - 1).bit_length())


def predict(model, model_config, tokenizer, records: Sequence[EvalRecord], *, max_new_tokens: int,
            batch_size: int, desc: str = "eval") -> list[dict]:
    """Greedy completions (temperature 0, top_k 1: the judges' INF_* settings) of the eval prompts."""

    # The sampler adds <bos> itself (and drops a doubled one): it gets the prompt text.
    texts = [format_prompt(r.prompt) for r in records]
    width = prompt_length(max(len(encode_prompt(tokenizer, r.prompt)) for r in records))
    sampler = make_sampler(model, model_config, tokenizer, cache_size=width + max_new_tokens)
    stops = stop_token_ids(tokenizer)
    outputs: list[str] = []
    with progress.bar(len(texts), desc, "item") as bar:
        for lo in range(0, len(texts), batch_size):
            chunk = texts[lo:lo + batch_size]
            filled = chunk + [chunk[-1]] * (batch_size - len(chunk))
            out = sampler(filled, max_generation_steps=max_new_tokens, max_prompt_length=width,
                          temperature=0.0, top_k=1, top_p=None, eos_tokens=stops)
            # The sampler cuts each row before its first stop token.
            outputs += [tokenizer.decode(list(tokens), skip_special_tokens=True) for tokens in out.tokens[:len(chunk)]]
            bar.update(len(chunk))
    return [{"id": r.id, "prediction": t} for r, t in zip(records, outputs)]


def predict_for(policy, tokenizer, records: Sequence[EvalRecord], *, cfg, plan, desc: str = "eval") -> list[dict]:
    """The backend contract's `predict`: greedy completions on the policy's mesh."""
    with policy.mesh:
        return predict(policy.model, policy.config, tokenizer, records, desc=desc,
                       max_new_tokens=cfg.eval.max_new_tokens, batch_size=cfg.eval.batch_size)
