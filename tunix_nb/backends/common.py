"""What both backends share: the model as a backend holds it (`Policy`), the contract between the
pipeline and a backend (`Backend`), and the learning-rate schedule. The bookkeeping around a
training stage (metrics rows, the time budget, the result it hands on) is `tunix_nb.stages`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

from ..stages import Stage, TrainResult


def lr_lambda(warmup_steps: int, schedule: str, total_steps: int):
    """Linear warmup, then cosine or linear decay to zero (or constant)."""
    warmup = min(warmup_steps, max(total_steps - 1, 0))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if schedule == "constant":
            return 1.0
        done = (step - warmup) / max(1, total_steps - warmup)
        if schedule == "linear":
            return max(0.0, 1.0 - done)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))

    return factor


@dataclass
class Policy:
    """The model a run trains, as its backend holds it: torch — the transformers module (peft-wrapped
    once LoRA is applied), `config` its HF config; tunix — the nnx model, Tunix's ModelConfig and
    the device mesh; `reference` the base weights without adapters (tunix LoRA: the model the
    adapters were applied to, sharing its backbone arrays), for the KL term."""
    model: object
    config: object
    mesh: object = None
    reference: object = None
    path: Path | None = None  # the base weights' folder (to load a reference copy when one is needed)


class Backend(Protocol):
    """The contract between the pipeline and a backend (a sub-package: `backends.torch`,
    `backends.tunix`), chosen once per run by `backends.get`. Each exposes these functions at module
    level; tests/test_backends.py checks both against this class, parameter by parameter."""

    def check(self, cfg, source_path: Path) -> None:
        """Refuse what this backend cannot load or do, before the run dir exists."""

    def load_policy(self, cfg, source, plan) -> Policy:
        """The model to train (LoRA applied when configured)."""

    def checkpoints(self, root: Path) -> list[tuple[int, Path]]:
        """The whole checkpoints under a stage's checkpoint root, (step, folder), oldest first, in
        this backend's layout (tunix_nb.checkpoints)."""

    def latest_step(self, root: Path, log=None, at_most: int | None = None) -> int:
        """The newest whole checkpoint's step under a stage's checkpoint root (0: none)."""

    def restore(self, policy: Policy, root: Path, cfg, log=None) -> int:
        """A finished run's final model into a freshly loaded policy; returns its step."""

    def train_sft(self, cfg, policy: Policy, tokenizer, examples: Sequence, stage: Stage, *, plan,
                  root: Path) -> TrainResult:
        """Supervised fine-tuning, resuming from the newest checkpoint under `root`; steps reported
        to `stage` (its metrics rows, clock and time budget)."""

    def train_preference(self, cfg, policy: Policy, tokenizer, pairs: Sequence, stage: Stage, *, plan,
                         root: Path) -> TrainResult:
        """The preference stage (preference.algorithm) on encoded pairs (`tunix_nb.pairs.EncodedPair`,
        DPO's reference log-probs with them), resuming from the newest checkpoint under `root`."""

    def sample(self, policy: Policy, tokenizer, prompts: Sequence, *, cfg, plan) -> list[list[str]]:
        """preference.num_samples completions of each prompt (`data.GrpoPrompt`), at preference's
        temperature / top_k, seeded: the same config, the same texts."""

    def pair_logps(self, policy: Policy, pairs: Sequence, *, cfg, plan):
        """Each encoded pair's (chosen, rejected) summed log-probs under the policy, an (n, 2) array."""

    def load_judge(self, cfg, source_path: Path, plan):
        """The judge model (grpo.judge_source) as `next_logprobs(rows) -> (rows, vocab)`: the log-probs
        of the token after each row of token ids (`tunix_nb.judge.Judge` does the rest)."""

    def train_grpo(self, cfg, policy: Policy, tokenizer, prompts: Sequence, stage: Stage, *, plan, root: Path,
                   rewards: Sequence | None = None, judge=None) -> TrainResult:
        """GRPO, resuming from the newest checkpoint under `root`; steps reported to `stage`. `judge`:
        the judge reward (`tunix_nb.judge.Judge`) when grpo.rewards.judge weighs it."""

    def predict(self, policy: Policy, tokenizer, records: Sequence, *, cfg, plan, desc: str = "eval") -> list[dict]:
        """Greedy completions of the eval records: [{"id", "prediction"}]."""

    def export_hf(self, policy: Policy, cfg, source_path: Path, out: Path) -> None:
        """The policy as an HF `save_pretrained` folder in `out` (LoRA merged into the weights, the base
        model's tokenizer files beside them): what `tunix-nb export --format hf` writes."""
