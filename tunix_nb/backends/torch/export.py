"""A trained torch policy as a plain HF folder (the backend contract's `export_hf`): LoRA adapters
folded into the weights by peft, saved with `save_pretrained` (safetensors) beside the base
model's tokenizer files, so transformers loads it with no peft and no tunix_nb."""

from __future__ import annotations

import shutil
from pathlib import Path

from ..common import Policy

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                   "generation_config.json")


def export_hf(policy: Policy, cfg, source_path: Path, out: Path) -> None:
    model = policy.model
    if hasattr(model, "merge_and_unload"):  # peft: W + B @ A * alpha / r, adapters removed
        model = model.merge_and_unload()
    model.save_pretrained(out, safe_serialization=True)
    copy_tokenizer(source_path, out)


def copy_tokenizer(source_path: Path, out: Path) -> None:
    for name in TOKENIZER_FILES:
        if (source_path / name).is_file() and not (out / name).exists():
            shutil.copyfile(source_path / name, out / name)
