import pytest
import torch

from conftest import ROOT
from tunix_nb import inputs
from tunix_nb.backends.torch import decode as generate
from tunix_nb.prompts import encode_prompt


def test_batched_left_padded_greedy_equals_one_by_one(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompts = [encode_prompt(tiny_tokenizer, q) for q in
               ("What is 2 + 2?", "A train travels 120 km in 2 hours. What is its average speed in km/h?", "Hi")]
    batched = generate.generate(model, tiny_tokenizer, prompts, max_new_tokens=12, batch_size=3, device="cpu")
    single = [generate.generate(model, tiny_tokenizer, [p], max_new_tokens=12, batch_size=1, device="cpu")[0]
              for p in prompts]
    assert batched == single
    assert all(isinstance(t, str) for t in batched)


@pytest.fixture
def model_forward(monkeypatch):
    """Decode through the model's own forward (not the CPU output-layer shortcut), so a forward hook
    on the model can force the logits the decoder sees."""
    monkeypatch.setattr(generate, "_output_head", lambda model: None)


def test_stops_at_end_of_turn(tiny_model_dir, tiny_tokenizer, model_forward):
    """Bias the model so it emits 'x x <end_of_turn>' then would continue: output stops there."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    eot = tiny_tokenizer.convert_tokens_to_ids("<end_of_turn>")
    x = tiny_tokenizer("x", add_special_tokens=False)["input_ids"][0]
    calls = {"n": 0}

    def force(module, args, output):
        calls["n"] += 1
        logits = output.logits
        forced = torch.full_like(logits[:, -1, :], -1e9)
        forced[:, eot if calls["n"] == 3 else x] = 0
        output.logits[:, -1, :] = forced
        return output

    handle = model.register_forward_hook(force)
    try:
        (text,) = generate.generate(model, tiny_tokenizer, [encode_prompt(tiny_tokenizer, "Q")],
                                    max_new_tokens=10, batch_size=1, device="cpu")
    finally:
        handle.remove()
    assert text == "xx"
    assert calls["n"] == 3  # no forward pass after the stop token


def test_cut_at_stop():
    assert generate._cut_at_stop([5, 6, 106, 0, 0], [106, 1]) == [5, 6]
    assert generate._cut_at_stop([5, 1, 7], [106, 1]) == [5]
    assert generate._cut_at_stop([5, 6], [106, 1]) == [5, 6]


def hf_greedy(model, tokenizer, prompts, max_new_tokens):
    """HF's own greedy generate on one left-padded batch: the reference our decoder must equal."""
    from transformers import GenerationConfig

    from tunix_nb.models import stop_token_ids

    width = max(len(p) for p in prompts)
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    config = GenerationConfig(do_sample=False, max_new_tokens=max_new_tokens, eos_token_id=stop_token_ids(tokenizer),
                              pad_token_id=tokenizer.pad_token_id)
    with torch.inference_mode():
        return model.generate(input_ids=ids, attention_mask=mask, generation_config=config)[:, width:].tolist()


@pytest.mark.parametrize("attn, static", [("eager", True), ("sdpa", True), ("sdpa", False)])
def test_decoder_equals_hf_generate_exactly(tiny_model_dir, tiny_tokenizer, attn, static):
    """Token for token, in fp32 on CPU: a left-padded batch of real eval prompts, generated past
    the tiny model's 256-token sliding window (so the sliding layers' cache wraps)."""
    from transformers import AutoModelForCausalLM

    from tunix_nb.models import stop_token_ids

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attn)
    records = inputs.load_records(ROOT / "training/data/eval_v2.jsonl", "eval")[:5]
    prompts = [encode_prompt(tiny_tokenizer, r.prompt) for r in records] + [encode_prompt(tiny_tokenizer, "Hi")]
    assert len({len(p) for p in prompts}) > 1
    new = 256 - min(len(p) for p in prompts) + 24
    ours = generate.Decoder(model, device="cpu", static_cache=static).greedy(prompts, max_new_tokens=new,
                                                         stop_ids=stop_token_ids(tiny_tokenizer),
                                                         pad_id=tiny_tokenizer.pad_token_id)
    reference = hf_greedy(model, tiny_tokenizer, prompts, new)
    # HF pads every row to the longest output; we stop when all rows have stopped.
    assert [r + [tiny_tokenizer.pad_token_id] * (len(h) - len(r)) for r, h in zip(ours, reference)] == reference
    assert max(len(p) + len(r) for p, r in zip(prompts, ours)) > 256


def test_decoder_stops_when_every_row_has_stopped(tiny_model_dir, tiny_tokenizer, model_forward):
    """Row 0 is forced to end its turn at the 2nd token, row 1 at the 4th: row 0 gets padding
    after its stop, and no forward pass runs once both have stopped."""
    from transformers import AutoModelForCausalLM

    from tunix_nb.models import stop_token_ids

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    eot, pad = tiny_tokenizer.convert_tokens_to_ids("<end_of_turn>"), tiny_tokenizer.pad_token_id
    x = tiny_tokenizer("x", add_special_tokens=False)["input_ids"][0]
    calls = {"n": 0}

    def force(module, args, output):
        calls["n"] += 1
        forced = torch.full_like(output.logits[:, -1, :], -1e9)
        forced[:, x] = 0
        for row, stop_at in enumerate((2, 4)):
            if calls["n"] == stop_at:
                forced[row] = -1e9
                forced[row, eot] = 0
        output.logits[:, -1, :] = forced
        return output

    model.register_forward_hook(force)
    prompts = [encode_prompt(tiny_tokenizer, q) for q in ("Q", "What is 2 + 2?")]
    rows = generate.Decoder(model, device="cpu").greedy(prompts, max_new_tokens=20, stop_ids=stop_token_ids(tiny_tokenizer),
                                                         pad_id=pad)
    assert rows == [[x, eot, pad, pad], [x, x, x, eot]]
    assert calls["n"] == 4


# --- the rollout sampler (GRPO) ------------------------------------------------------------------

def draws(logits, n=4000, **kw):
    """n tokens drawn from one row of `logits` (the row repeated), with a seeded generator."""
    g = torch.Generator().manual_seed(0)
    return generate.sample_next(torch.tensor([logits] * n), generator=g, **kw).tolist()


def test_sample_next_on_literal_logits():
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log().tolist()  # probabilities 0.5 / 0.3 / 0.15 / 0.05
    assert set(draws(logits, temperature=0)) == {0}  # temperature 0: argmax
    assert set(draws(logits, temperature=1.5, top_k=1)) == {0}  # top-k 1: argmax at any temperature
    assert set(draws(logits, temperature=1.0, top_p=0.5)) == {0}  # 0.5 reached by the first token
    assert set(draws(logits, temperature=1.0, top_p=0.7)) == {0, 1}
    assert set(draws(logits, temperature=1.0, top_p=0.85)) == {0, 1, 2}
    assert set(draws(logits, temperature=1.0)) == {0, 1, 2, 3}
    top2 = draws(logits, temperature=1.0, top_k=2)
    assert set(top2) == {0, 1} and top2.count(0) / len(top2) == pytest.approx(0.5 / 0.8, abs=0.03)
    sharp = draws(logits, temperature=0.5)  # p_i^2, renormalised
    assert sharp.count(0) / len(sharp) == pytest.approx(0.25 / (0.25 + 0.09 + 0.0225 + 0.0025), abs=0.03)


def test_sampler_is_greedy_at_temperature_0_or_top_k_1_and_a_seed_repeats(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    from tunix_nb.models import stop_token_ids

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompts = [encode_prompt(tiny_tokenizer, q) for q in ("What is 2 + 2?", "Hi", "Name three prime numbers.")]
    decoder = generate.Decoder(model, device="cpu")
    common = dict(max_new_tokens=16, stop_ids=stop_token_ids(tiny_tokenizer), pad_id=tiny_tokenizer.pad_token_id)
    greedy = decoder.greedy(prompts, **common)
    assert decoder.sample(prompts, temperature=0, seed=3, **common) == greedy
    assert decoder.sample(prompts, temperature=0.9, top_k=1, seed=3, **common) == greedy
    a = decoder.sample(prompts, temperature=1.0, top_k=50, top_p=0.95, seed=7, **common)
    assert decoder.sample(prompts, temperature=1.0, top_k=50, top_p=0.95, seed=7, **common) == a
    assert decoder.sample(prompts, temperature=1.0, top_k=50, top_p=0.95, seed=8, **common) != a
    assert a != greedy


def test_static_cache_under_bf16_autocast_equals_the_dynamic_one(tiny_model_dir, tiny_tokenizer):
    """Under bf16 autocast a layer's keys come as fp32 (RoPE) and its values as bf16: the static
    cache (the compiled decoder's) stores both as the dynamic cache attends to them."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    prompts = [encode_prompt(tiny_tokenizer, q) for q in ("What is 2 + 2?", "Name a prime number, please.")]
    rows = {static: generate.Decoder(model, device="cpu", dtype="bf16", static_cache=static).greedy(
        prompts, max_new_tokens=16, stop_ids=[], pad_id=tiny_tokenizer.pad_token_id) for static in (False, True)}
    assert rows[True] == rows[False] and all(len(r) == 16 for r in rows[True])
