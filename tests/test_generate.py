import torch

from tunix_nb import generate
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


def test_stops_at_end_of_turn(tiny_model_dir, tiny_tokenizer):
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
