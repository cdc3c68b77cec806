import hashlib

from tunix_nb import tiny_model
from tunix_nb.prompts import format_completion, format_prompt


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_loads_offline_with_auto_classes(tiny_model_dir, monkeypatch):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "gemma3_text"  # a layout Tunix can load too
    assert type(model).__name__ == "Gemma3ForCausalLM"
    assert model.config.vocab_size == len(tok)
    assert sum(p.numel() for p in model.parameters()) < 2_000_000


def test_gemma_special_tokens(tiny_tokenizer):
    tok = tiny_tokenizer
    assert (tok.pad_token_id, tok.eos_token_id, tok.bos_token_id) == (0, 1, 2)  # Gemma's ids
    for t in ("<start_of_turn>", "<end_of_turn>"):
        assert tok.convert_tokens_to_ids(t) not in (None, tok.unk_token_id)
        assert len(tok(t, add_special_tokens=False)["input_ids"]) == 1  # one special token
    ids = tok("What is 12 + 30?")["input_ids"]
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 1  # adds one <bos>, like Gemma


def test_round_trip_and_digits_split(tiny_tokenizer):
    tok = tiny_tokenizer
    text = format_prompt("A café sells 1,250 cups at $3.75 each; 12 × 7 = ?") + format_completion("ok", "84")
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    pieces = tok.convert_ids_to_tokens(tok("1250", add_special_tokens=False)["input_ids"])
    assert pieces == ["1", "2", "5", "0"]  # one digit per token, as in Gemma


def test_build_is_deterministic(tmp_path):
    texts = tiny_model.corpus_texts(tiny_model.CORPUS_FILE.read_bytes())
    tiny_model.build_tiny_model(tmp_path / "a", texts)
    tiny_model.build_tiny_model(tmp_path / "b", texts)
    a, b = digest(tmp_path / "a"), digest(tmp_path / "b")
    assert a == b and "model.safetensors" in a and "tokenizer.json" in a


def test_cache_is_reused(tiny_model_dir):
    mtime = (tiny_model_dir / "model.safetensors").stat().st_mtime_ns
    assert tiny_model.ensure_tiny_model() == tiny_model_dir
    assert (tiny_model_dir / "model.safetensors").stat().st_mtime_ns == mtime
