"""Which attention kernel a PyTorch run uses, per device and per phase.

`model.attn_implementation: flex_attention` is for packed training on a GPU: transformers turns
the packed row's position-id restarts, the causal rule and Gemma's sliding window into one
`mask_mod` and builds a block-sparse `BlockMask` from it, so the blocks where a sample would
see another sample are skipped, not computed and masked; Gemma 2's attention-logit
soft-capping is its `score_mod`. Long packed rows then cost about what their samples cost alone.

Two places where flex is the wrong tool, handled here so no caller has to know:
- a CPU, where torch (2.13) runs flex forward only (no backward): training falls back to the
  kernel the same numerics need (eager when the model soft-caps attention logits, which SDPA
  ignores; SDPA otherwise);
- decoding one token at a time over a KV cache, where a fresh BlockMask per step costs more than
  the step: `decoding(model)` switches to the same fallback for the duration of a decode.
"""

from __future__ import annotations

from contextlib import contextmanager

FLEX = "flex_attention"


def dense_kernel(model_config) -> str:
    """The non-flex kernel with the model's exact numerics."""
    text = getattr(model_config, "text_config", None) or model_config
    return "eager" if getattr(text, "attn_logit_softcapping", None) else "sdpa"


def prepare_for_training(model, device: str) -> None:
    """Training runs the requested kernel, except flex on a CPU (no flex backward there): the
    dense one with the same numerics instead."""
    if device == "cpu" and model.config._attn_implementation == FLEX:
        model.set_attn_implementation(dense_kernel(model.config))


@contextmanager
def decoding(model):
    """Within the block a flex model attends with its dense kernel (same numerics), then flex again."""
    current = model.config._attn_implementation
    if current != FLEX:
        yield
        return
    model.set_attn_implementation(dense_kernel(model.config))
    try:
        yield
    finally:
        model.set_attn_implementation(FLEX)
