"""The Tunix backend (JAX: the competition's TPU stack, also CPU/GPU): the same functions as
`backends.torch`. JAX and Tunix are imported inside the functions, only when used."""

from pathlib import Path

from ... import checkpoints as layout
from .grpo import train as train_grpo
from .export import export_hf
from .load import check
from .load import load as load_policy
from .sample import predict_for as predict
from .trainer import latest_step, restore
from .sft import train as train_sft
from .preference import pair_logps, sample
from .preference import train as train_preference
from .judge import load_judge

__all__ = ["check", "load_policy", "checkpoints", "latest_step", "restore", "train_sft", "train_preference",
           "train_grpo", "predict", "sample", "pair_logps", "load_judge", "export_hf"]


def checkpoints(root: Path) -> list[tuple[int, Path]]:
    """The whole checkpoints under a stage's root, (step, folder), oldest first."""
    return layout.saved(root, "tunix")
