from tunix_nb import prompts
from tunix_nb.prompts import IGNORE_INDEX


def test_template_is_gemma_chat_with_the_question_slot():
    t = prompts.PROMPT_TEMPLATE
    assert "{question}" in t
    assert t.startswith("<start_of_turn>user\n") and t.endswith("<end_of_turn>\n<start_of_turn>model\n")
    assert "<bos>" not in t  # added once, as a token, by encode_prompt


def test_format_prompt_and_completion_literals():
    p = prompts.format_prompt("  What is 2+2?\n")
    assert p.endswith("What is 2+2?<end_of_turn>\n<start_of_turn>model\n")
    c = prompts.format_completion(" 2 + 2 = 4. ", " 4 ")
    assert c == "<reasoning>2 + 2 = 4.</reasoning>\n<answer>4</answer><end_of_turn>"


def test_exactly_one_bos_and_prompt_masked(tiny_tokenizer):
    tok = tiny_tokenizer
    enc = prompts.encode_example(tok, "What is 2 + 3?", "2 + 3 = 5.", "5")
    assert enc.input_ids.count(tok.bos_token_id) == 1 and enc.input_ids[0] == tok.bos_token_id
    prompt_ids = prompts.encode_prompt(tok, "What is 2 + 3?")
    n = len(prompt_ids)
    assert enc.input_ids[:n] == prompt_ids
    assert enc.labels[:n] == [IGNORE_INDEX] * n
    assert enc.labels[n:] == enc.input_ids[n:]  # loss on every completion token
    completion = tok.decode(enc.input_ids[n:])
    assert completion == "<reasoning>2 + 3 = 5.</reasoning>\n<answer>5</answer><end_of_turn>"
    assert enc.input_ids[-1] == tok.convert_tokens_to_ids("<end_of_turn>")  # the model learns to stop


def test_prompt_and_completion_concatenate_to_the_full_text(tiny_tokenizer):
    tok = tiny_tokenizer
    enc = prompts.encode_example(tok, "Q?", "R.", "A")
    full = prompts.format_prompt("Q?") + prompts.format_completion("R.", "A")
    assert tok.decode(enc.input_ids[1:]) == full
