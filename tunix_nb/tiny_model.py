"""A tiny Gemma 3 model and tokenizer, built deterministically from the project's own data.

It proves the whole pipeline on a CPU in minutes and loads like any HF folder
(`AutoModelForCausalLM/AutoTokenizer.from_pretrained(path)`, offline). Gemma 3 layout on
purpose: the Tunix backend reads the same safetensors folder (Gemma 1 layout does not load there).
Built once into the cache (`cache.build_once`), keyed by the spec and the corpus.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .cache import build_once, cache_root
from .config import PROJECT_ROOT
from .prompts import BOS, END_OF_TURN, EOS, START_OF_TURN, format_completion, format_prompt

NAME = "tiny-gemma3"
SPEC = {
    "version": 2,  # bump when the build changes, so caches are rebuilt
    "vocab_size": 1024,
    "hidden_size": 128,
    "intermediate_size": 512,
    "num_hidden_layers": 6,
    "num_attention_heads": 4,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "sliding_window": 256,
    "max_position_embeddings": 2048,
    "seed": 1234,
}
# Gemma's ids for the first four; the turn markers follow (Gemma has them at 105/106).
SPECIAL_TOKENS = ["<pad>", EOS, BOS, "<unk>", START_OF_TURN, END_OF_TURN]
CORPUS_FILE = PROJECT_ROOT / "training" / "data" / "dev-reasoning-v2.jsonl"


def ensure_tiny_model() -> Path:
    """Path of the tiny model's HF folder, building it first if the cache lacks it."""
    corpus = CORPUS_FILE.read_bytes()
    key = hashlib.sha256(json.dumps(SPEC, sort_keys=True).encode() + corpus).hexdigest()[:12]
    return build_once(cache_root() / "models" / f"{NAME}-{key}",
                      lambda tmp: build_tiny_model(tmp, corpus_texts(corpus)))


def corpus_texts(jsonl: bytes) -> list[str]:
    """Training texts exactly as the model will see them (template included)."""
    texts = []
    for line in jsonl.decode("utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            texts.append(format_prompt(r["question"]) + format_completion(r["reasoning"], r["answer"]))
    return texts


def build_tokenizer(texts: list[str]):
    """Byte-level BPE (exact round trip for any text), digits split one per token as in Gemma."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(pattern="<start_of_turn>|<end_of_turn>", behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=SPEC["vocab_size"],
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    # Like Gemma's: encode(text) with special tokens prepends one <bos>.
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS, eos_token=EOS, pad_token="<pad>", unk_token="<unk>",
        additional_special_tokens=[START_OF_TURN, END_OF_TURN],
        padding_side="left",
        model_max_length=SPEC["max_position_embeddings"],
    )


def build_tiny_model(out_dir: Path, texts: list[str]) -> None:
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    tokenizer = build_tokenizer(texts)
    config = Gemma3TextConfig(
        vocab_size=len(tokenizer),
        hidden_size=SPEC["hidden_size"],
        intermediate_size=SPEC["intermediate_size"],
        num_hidden_layers=SPEC["num_hidden_layers"],
        num_attention_heads=SPEC["num_attention_heads"],
        num_key_value_heads=SPEC["num_key_value_heads"],
        head_dim=SPEC["head_dim"],
        query_pre_attn_scalar=SPEC["head_dim"],
        sliding_window=SPEC["sliding_window"],
        # Gemma 3's own pattern (five sliding-window layers, then a global one), which Tunix's
        # Gemma 3 code hard-wires: the two backends then compute the same function.
        layer_types=["full_attention" if (i + 1) % 6 == 0 else "sliding_attention"
                     for i in range(SPEC["num_hidden_layers"])],
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
                         "full_attention": {"rope_type": "default", "rope_theta": 1_000_000.0}},
        max_position_embeddings=SPEC["max_position_embeddings"],
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(END_OF_TURN)],
        tie_word_embeddings=True,
    )
    # Fork the RNG so building never disturbs the caller's seed; CPU init is deterministic.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SPEC["seed"])
        model = Gemma3ForCausalLM(config)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
