"""Model sources, resolved in one place, and loading them for the PyTorch backend.

Accepted `model.source` forms:
  - a local Hugging Face folder (config.json, safetensors weights, tokenizer files);
  - `builtin:tiny-gemma3`: the tiny Gemma 3 model tunix_nb builds from its own data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .config import resolve_path
from .errors import UserError
from .prompts import END_OF_TURN

BUILTIN_TINY = "builtin:tiny-gemma3"
ACCEPTED_FORMS = f"a local HF model folder (with config.json) or '{BUILTIN_TINY}'"


@dataclass(frozen=True)
class ModelSource:
    spec: str  # as written in the config
    kind: str  # "local" | "builtin"
    path: Path  # the HF folder on disk

    def to_dict(self) -> dict:
        return {**asdict(self), "path": str(self.path)}


def resolve_source(spec: str) -> ModelSource:
    """Find the folder behind a `model.source` value, building the tiny model if needed."""
    if spec == BUILTIN_TINY:
        from .tiny_model import ensure_tiny_model

        return ModelSource(spec=spec, kind="builtin", path=ensure_tiny_model())
    if spec.startswith("builtin:"):
        raise UserError(f"model.source: unknown built-in model {spec!r}; accepted: {ACCEPTED_FORMS}")
    path = resolve_path(spec)
    if not path.is_dir():
        raise UserError(f"model.source: {spec!r} is not a folder ({path} does not exist); accepted: {ACCEPTED_FORMS}")
    if not (path / "config.json").is_file():
        raise UserError(f"model.source: {path} has no config.json, so it is not an HF model folder; "
                        f"accepted: {ACCEPTED_FORMS}")
    return ModelSource(spec=spec, kind="local", path=path)


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    missing = [name for name, tid in (("bos", tok.bos_token_id), ("eos", tok.eos_token_id),
                                      (END_OF_TURN, stop_token_id(tok))) if tid is None]
    if missing:
        raise UserError(f"model.source: the tokenizer in {path} lacks {', '.join(missing)}; "
                        "a Gemma tokenizer is needed (chat turn markers and <bos>/<eos>)")
    if tok.pad_token_id is None:  # only for padding; masked out everywhere
        tok.pad_token = tok.eos_token
    return tok


def stop_token_id(tokenizer) -> int | None:
    tid = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    return None if tid == tokenizer.unk_token_id else tid


def stop_token_ids(tokenizer) -> list[int]:
    """Generation ends at the end of the model's turn, or at <eos>."""
    return [stop_token_id(tokenizer), tokenizer.eos_token_id]


def load_torch_model(source: ModelSource, *, dtype: str, lora: bool, attn_implementation: str):
    """Weights in fp32 (full fine-tuning keeps fp32 master weights and runs bf16 under autocast),
    or in bf16 for a frozen LoRA base when the plan says bf16."""
    import torch
    from transformers import AutoModelForCausalLM

    torch_dtype = torch.bfloat16 if (dtype == "bf16" and lora) else torch.float32
    return AutoModelForCausalLM.from_pretrained(
        source.path, dtype=torch_dtype, attn_implementation=attn_implementation
    )
