"""Flex attention for packed rows: the same loss and gradients as the unpacked path, masked
blocks skipped, and the CPU / decoding fallbacks (tunix_nb.backends.torch.attention)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from test_torch_sft import assert_same, loss_and_grads, real_examples  # noqa: E402

from tunix_nb import data  # noqa: E402
from tunix_nb.backends.torch import attention  # noqa: E402

SLIDING = 16  # shorter than every sample, so the window rule is exercised inside each one


def tiny(kind: str, attn: str, tiny_model_dir):
    """The project's tiny Gemma 3 (sliding-window layers), or a random tiny Gemma 2 with its
    attention-logit and final soft-capping, both with a 16-token window."""
    from transformers import AutoModelForCausalLM, Gemma2Config, Gemma2ForCausalLM

    if kind == "gemma3":
        return AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attn, sliding_window=SLIDING)
    vocab = AutoModelForCausalLM.from_pretrained(tiny_model_dir).config.vocab_size
    config = Gemma2Config(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=1, head_dim=16, intermediate_size=128, sliding_window=SLIDING,
                          attn_logit_softcapping=50.0, final_logit_softcapping=30.0, attn_implementation=attn)
    torch.manual_seed(0)
    return Gemma2ForCausalLM(config)


@pytest.fixture
def reference_flex(monkeypatch):
    """torch runs flex attention's backward on CUDA only; on a CPU, run transformers' real flex
    path (its BlockMask, mask_mod and score_mod) through torch's reference implementation of the
    same kernel (`math_attention`: plain differentiable ops). Records each BlockMask it gets."""
    import transformers.integrations.flex_attention as tfa
    from torch._higher_order_ops.flex_attention import math_attention

    masks = []

    def kernel(query, key, value, training=False, score_mod=None, block_mask=None, scale=None,
               kernel_options=None, **_):
        masks.append(block_mask)
        out, _lse, _max = math_attention(query, key, value, score_mod, block_mask.as_tuple(), scale,
                                         kernel_options or {})
        return out

    monkeypatch.setattr(tfa, "compile_friendly_flex_attention", kernel)
    return masks


@pytest.mark.parametrize("kind", ["gemma3", "gemma2"])
def test_flex_packed_loss_and_gradients_equal_the_unpacked_path(tiny_model_dir, tiny_tokenizer, reference_flex,
                                                               kind):
    """And the packed row's BlockMask computes far fewer blocks than plain causal attention over
    the row would: the blocks where one sample would see another are skipped, not masked."""
    from torch.nn.attention.flex_attention import create_block_mask

    exs = real_examples(tiny_tokenizer, 8)
    unpacked = loss_and_grads(tiny(kind, "eager", tiny_model_dir), [data.collate(exs, tiny_tokenizer.pad_token_id)])
    packed = loss_and_grads(tiny(kind, "flex_attention", tiny_model_dir), [data.collate_packed(exs)])
    assert reference_flex, "the flex path was not taken"
    assert_same(unpacked, packed)
    n = sum(len(e) for e in exs)
    causal = create_block_mask(lambda b, h, q, kv: q >= kv, 1, 1, n, n, device="cpu")
    assert n > 768 and reference_flex[-1].sparsity() > causal.sparsity() + 20  # percent of blocks skipped


def test_flex_kernel_forward_on_cpu_equals_the_unpacked_loss(tiny_model_dir, tiny_tokenizer):
    """torch's compiled flex kernel itself (forward: all a CPU runs) on a packed row."""
    from tunix_nb.backends.torch import sft

    exs = real_examples(tiny_tokenizer, 4)
    with torch.no_grad():
        losses = [sft.batch_loss_sum(tiny("gemma3", attn, tiny_model_dir),
                                     {k: torch.tensor(v) for k, v in batch.items()}).item()
                  for attn, batch in (("eager", data.collate(exs, tiny_tokenizer.pad_token_id)),
                                      ("flex_attention", data.collate_packed(exs)))]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


@pytest.mark.parametrize("kind, device, expected", [
    ("gemma3", "cuda", "flex_attention"), ("gemma3", "cpu", "sdpa"), ("gemma2", "cpu", "eager")])
def test_training_kernel_per_device(tiny_model_dir, kind, device, expected):
    """On a CPU the dense kernel with the model's numerics: eager where attention logits are
    soft-capped (Gemma 2; SDPA ignores the cap), SDPA otherwise."""
    model = tiny(kind, "flex_attention", tiny_model_dir)
    attention.prepare_for_training(model, device)
    assert model.config._attn_implementation == expected


def test_decoding_a_flex_model_uses_the_dense_kernel_then_flex_again(tiny_model_dir, tiny_tokenizer):
    from tunix_nb.backends.torch.decode import Decoder
    from tunix_nb.models import stop_token_ids
    from tunix_nb.prompts import encode_prompt

    prompts = [encode_prompt(tiny_tokenizer, q) for q in ("What is 2 + 2?", "Name three primes.")]
    outs = {}
    for attn in ("sdpa", "flex_attention"):
        model = tiny("gemma3", attn, tiny_model_dir).eval()
        outs[attn] = Decoder(model, device="cpu").greedy(prompts, max_new_tokens=24, stop_ids=stop_token_ids(
            tiny_tokenizer), pad_id=tiny_tokenizer.pad_token_id)
        assert model.config._attn_implementation == attn
    assert outs["flex_attention"] == outs["sdpa"]
