"""Training backends, one sub-package each (`torch`, `tunix`), exposing the same functions: the
contract is `common.Backend` (check, load_policy, checkpoints, latest_step, restore, train_sft, train_grpo,
predict). The pipeline picks one with `get(cfg.training.backend)`, once.
"""

from __future__ import annotations

import importlib
from typing import cast

from .common import Backend


def get(name: str) -> Backend:
    """The backend sub-package `name` (a module satisfies the Protocol by its functions)."""
    return cast(Backend, importlib.import_module(f"{__name__}.{name}"))
