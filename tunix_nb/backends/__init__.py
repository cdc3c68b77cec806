"""Training backends, one sub-package each, exposing the same functions:

  check(cfg, source_path)                       refuse what this backend cannot do, before any write
  load_policy(cfg, source, plan) -> Policy      the model (with LoRA when configured)
  latest_step(root, log) -> int                 the newest whole checkpoint's step under a stage root
  train_sft(cfg, policy, tokenizer, examples, run, *, plan, root, budget) -> TrainResult
  train_grpo(cfg, policy, tokenizer, prompts, run, *, plan, root, budget) -> TrainResult   (tunix)
  predict(policy, tokenizer, records, *, cfg, plan, desc) -> [{"id", "prediction"}]

The pipeline picks one with `get(cfg.training.backend)`, once.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def get(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{name}")
