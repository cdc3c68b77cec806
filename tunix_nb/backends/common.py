"""What both backends' stages share: the result a stage hands on, the learning-rate schedule,
and the time budget that spans every stage of a run."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

from .. import progress

WARMUP_STEPS = 2  # steps whose time includes compilation: not used to predict the step time


@dataclass
class TrainResult:
    model: object  # the trained model (torch: in eval mode, peft-wrapped for LoRA; tunix: the nnx policy)
    steps: int
    first_loss: float
    final_loss: float
    tokens: int  # real (non-pad) tokens seen
    train_seconds: float
    checkpoint: Path | None

    def summary(self) -> dict:
        return {"steps": self.steps, "first_loss": self.first_loss, "final_loss": self.final_loss,
                "tokens": self.tokens, "train_seconds": round(self.train_seconds, 2),
                "tokens_per_s": round(self.tokens / max(self.train_seconds, 1e-9), 1),
                "checkpoint": str(self.checkpoint) if self.checkpoint else None}


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


def may_start_step(*, budget_s: float, elapsed_s: float, step_s: float | None, queued: int) -> bool:
    """Start another step only if it, the `queued` steps dispatched before it and the final
    checkpoint (about a step's time for LoRA params) all end inside the budget."""
    if step_s is None:  # not measured yet (still warming up)
        return True
    return elapsed_s + (queued + 2) * step_s <= budget_s


@dataclass
class Budget:
    """`training.time_budget_minutes` over the whole run (the 9-hour rule: every stage's final
    checkpoint lands inside it). One per run; each stage takes its own clock with `stage()`, so
    step times are measured per stage while the deadline stays the run's."""
    seconds: float | None
    start: float = field(default_factory=time.perf_counter)
    stage_start: float = field(default_factory=time.perf_counter)
    step_ends: list[float] = field(default_factory=list)
    stopped_before: int | None = None

    def stage(self) -> "Budget":
        return Budget(seconds=self.seconds, start=self.start)

    def step_s(self) -> float | None:
        ends = self.step_ends[WARMUP_STEPS - 1:]
        return (ends[-1] - ends[0]) / (len(ends) - 1) if len(ends) >= 2 else None

    def allows(self, started: int) -> bool:
        """Whether the stage may start its step number `started` (0-based, counted in this process)."""
        if self.seconds is None:
            return True
        return may_start_step(budget_s=self.seconds, elapsed_s=time.perf_counter() - self.start,
                              step_s=self.step_s(), queued=started - len(self.step_ends))

    def record(self) -> dict:
        """What the manifest's time_budget records for a stage."""
        return {"capped": self.stopped_before is not None,
                "step_s": round(self.step_s(), 4) if self.step_s() else None,
                "train_s": round(time.perf_counter() - self.stage_start, 2)}


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

    def train_sft(self, cfg, policy: Policy, tokenizer, examples: Sequence, run, *, plan, root: Path,
                  budget: Budget) -> TrainResult:
        """Supervised fine-tuning, resuming from the newest checkpoint under `root`."""

    def train_grpo(self, cfg, policy: Policy, tokenizer, prompts: Sequence, run, *, plan, root: Path,
                   budget: Budget, rewards: Sequence | None = None) -> TrainResult:
        """GRPO, resuming from the newest checkpoint under `root`."""

    def predict(self, policy: Policy, tokenizer, records: Sequence, *, cfg, plan, desc: str = "eval") -> list[dict]:
        """Greedy completions of the eval records: [{"id", "prediction"}]."""


def record_budget(run, stage: str, budget: Budget, *, planned: int, trained: int) -> None:
    """The manifest's `time_budget`: the run's minutes, and per stage what it planned and did."""
    record = dict(run.manifest.get("time_budget") or {})
    record["minutes"] = budget.seconds / 60 if budget.seconds else None
    record[stage] = {"planned_steps": planned, "trained_steps": trained, **budget.record()}
    run.update(time_budget=record)


def stage_elapsed(run, stage: str) -> float:
    """The stage's elapsed_s so far (its last metrics row), so a resumed stage's clock runs on."""
    from ..evidence import read_jsonl

    path = run.dir / "metrics.jsonl"
    rows = [r for r in read_jsonl(path) if r.get("stage", "sft") == stage] if path.exists() else []
    return rows[-1]["elapsed_s"] if rows else 0.0


def log_grpo_step(run, metrics, bar, row: dict, g) -> None:
    """A GRPO step's row into metrics.jsonl and the log (every grpo.log_every steps, and the last),
    and the progress bar moved on: both backends' stages report a step the same way."""
    step = row["step"]
    if step % g.log_every == 0 or step == g.max_steps:
        metrics.write(row)
        run.log.info("grpo step %d/%d reward %.3f±%.3f kl %.4f loss %.4f len %.0f tokens/s %.0f", step, g.max_steps,
                     row["reward_mean"], row["reward_std"], row["kl"], row["loss"], row["completion_len_mean"],
                     row["tokens_per_s"])
    progress.show(bar, reward=f"{row['reward_mean']:.3f}", kl=f"{row['kl']:.4f}", tok_s=f"{row['tokens_per_s']:,.0f}")
    bar.update(1)
