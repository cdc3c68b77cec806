"""The harness every training stage runs in, on either backend: a backend's stage is the engine
(its loop, optimizer and checkpoints), this is the bookkeeping it would otherwise redo.

A `Stage` is made by the pipeline and handed to the backend's `train_sft` / `train_grpo`. The
stage announces its plan (`steps(total, resumed)`), reports each finished step's figures
(`step(...)`) and hands back `result(...)`. The harness owns:

- the metrics row of each stage kind (`SFT`, `PREFERENCE`, `GRPO`): its
  columns in order, their rounding, `tokens_per_s` and `elapsed_s`;
- `metrics.jsonl` (one row per logged step, every `log_every` steps and the last), the log line
  and the compact progress bar;
- the resume offset: a resumed stage's clock runs on from its last logged row;
- the time budget (`Budget`): the clock the stage asks before each step, and the record the
  manifest keeps of what each stage planned and trained;
- the `TrainResult`, built from the rows it holds in memory (nothing re-reads metrics.jsonl).
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from . import evidence, progress

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
    rows: list[dict] = field(default_factory=list, repr=False)  # the stage's metrics rows (resumed ones first)

    def summary(self) -> dict:
        return {"steps": self.steps, "first_loss": self.first_loss, "final_loss": self.final_loss,
                "tokens": self.tokens, "train_seconds": round(self.train_seconds, 2),
                "tokens_per_s": round(self.tokens / max(self.train_seconds, 1e-9), 1),
                "checkpoint": str(self.checkpoint) if self.checkpoint else None}


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


@dataclass(frozen=True)
class Kind:
    """A stage kind's metrics row: the figures a step reports, in the row's order (`prefix*`: every
    figure named so, in the order given), and what the log line and the progress bar show."""
    name: str
    columns: tuple[str, ...]
    line: Callable[[dict], str]
    bar: Callable[[dict], dict[str, str]]

    def row(self, step: int, figures: dict, *, tokens_per_s: float, elapsed_s: float) -> dict:
        row: dict = {"stage": self.name, "step": step}
        for column in self.columns:
            names = ([k for k in figures if k.startswith(column[:-1])] if column.endswith("*")
                     else [column])
            for name in names:
                row[name] = _rounded(name, figures[name])
        unknown = set(figures) - set(row)
        if unknown:
            raise ValueError(f"{self.name} rows have no column {sorted(unknown)}")
        return {**row, "tokens_per_s": round(tokens_per_s, 1), "elapsed_s": round(elapsed_s, 3)}


def _rounded(name: str, value):
    if name == "lr" or isinstance(value, (int, bool)):  # a learning rate keeps its digits (3e-6 warms up to 1e-7)
        return value
    return round(float(value), 6)


SFT = Kind("sft", ("loss", "lr", "grad_norm", "tokens", "target_tokens"),
           line=lambda r: f"loss {r['loss']:.4f} lr {r['lr']:.3g} grad_norm {r['grad_norm']:.3f} "
                          f"tokens/s {r['tokens_per_s']:.0f}",
           bar=lambda r: {"loss": f"{r['loss']:.4f}", "tok_s": f"{r['tokens_per_s']:,.0f}"})

GRPO = Kind("grpo", ("loss", "lr", "grad_norm", "reward_mean", "reward_std", "reward/*", "kl",
                     "completion_len_mean", "tokens"),
            line=lambda r: f"reward {r['reward_mean']:.3f}±{r['reward_std']:.3f} kl {r['kl']:.4f} "
                           f"loss {r['loss']:.4f} len {r['completion_len_mean']:.0f} tokens/s {r['tokens_per_s']:.0f}",
            bar=lambda r: {"reward": f"{r['reward_mean']:.3f}", "kl": f"{r['kl']:.4f}",
                           "tok_s": f"{r['tokens_per_s']:,.0f}"})


PREFERENCE = Kind("preference", ("loss", "lr", "grad_norm", "reward_chosen", "reward_rejected", "margin", "accuracy",
                                 "tokens"),
                  line=lambda r: f"loss {r['loss']:.4f} margin {r['margin']:.3f} accuracy {r['accuracy']:.2f} "
                                 f"lr {r['lr']:.3g} tokens/s {r['tokens_per_s']:.0f}",
                  bar=lambda r: {"loss": f"{r['loss']:.4f}", "margin": f"{r['margin']:.3f}",
                                 "tok_s": f"{r['tokens_per_s']:,.0f}"})


class Stage:
    """One stage of one run (see the module docstring). `log` is the run's logger, for what a
    stage says beyond its steps; `budget` its clock."""

    def __init__(self, run: evidence.Run, kind: Kind, *, log_every: int = 1, budget: Budget | None = None):
        self.run, self.kind, self.log_every = run, kind, log_every
        self.log = run.log
        self.budget = budget or Budget(seconds=None)
        self.rows: list[dict] = []  # logged rows: those before a resume, then this process's
        self.total = 0
        self.first_loss: float | None = None
        self.final_loss: float | None = None
        self._tokens = 0
        self._offset = 0.0
        self._writer: evidence.MetricsWriter | None = None
        self._bar = None

    @contextmanager
    def steps(self, total: int, resumed: int = 0) -> Iterator["Stage"]:
        """Around the stage's loop: `total` planned steps, `resumed` of them done by an earlier
        process (their rows are in metrics.jsonl, trimmed to the checkpoint by the pipeline)."""
        self.total = total
        path = self.run.dir / "metrics.jsonl"
        if resumed and path.exists():
            self.rows = [r for r in evidence.read_jsonl(path) if evidence.metrics_stage(r) == self.kind.name]
        if self.rows:
            self._offset = self.rows[-1]["elapsed_s"]
            self.first_loss, self.final_loss = self.rows[0]["loss"], self.rows[-1]["loss"]
            self._tokens = sum(r.get("tokens", 0) for r in self.rows)
        self._writer = self.run.metrics_writer()
        self._bar = progress.bar(total, self.kind.name, "step", initial=resumed)
        try:
            yield self
        finally:
            self._bar.close()
            self._writer.close()

    def elapsed(self, at: float | None = None) -> float:
        """The stage's seconds so far (at `at`, a perf_counter time), running on across a resume."""
        return self._offset + (time.perf_counter() if at is None else at) - self.budget.stage_start

    def step(self, step: int, *, seconds: float, at: float | None = None, **figures) -> dict:
        """A finished step: its row (tokens/s over `seconds`; elapsed at `at`, default now) held,
        written and logged every `log_every` steps and at the last, the bar moved on."""
        row = self.kind.row(step, figures, tokens_per_s=figures["tokens"] / max(seconds, 1e-9),
                            elapsed_s=self.elapsed(at))
        self._tokens += row["tokens"]
        if self.first_loss is None:
            self.first_loss = row["loss"]
        self.final_loss = row["loss"]
        if step % self.log_every == 0 or step == self.total:
            self.rows.append(row)
            self._writer.write(row)
            self.log.info("%s step %d/%d %s", self.kind.name, step, self.total, self.kind.line(row))
        progress.show(self._bar, **self.kind.bar(row))
        self._bar.update(1)
        return row

    def stop(self, before: int) -> None:
        """The time budget ends the stage before its step `before` (1-based)."""
        self.budget.stopped_before = before
        self.log.warning("time budget: stopping %s after step %d of %d (step time %.2f s)", self.kind.name.upper(),
                         before - 1, self.total, self.budget.step_s() or 0.0)

    def result(self, model, *, steps: int, checkpoint: Path | None, tokens: int | None = None) -> TrainResult:
        """The stage's TrainResult (`tokens`: when the stage counts them itself, e.g. from its
        checkpoint's state; else the sum over the steps it saw), its time budget recorded."""
        record = dict(self.run.manifest.get("time_budget") or {})
        record["minutes"] = self.budget.seconds / 60 if self.budget.seconds else None
        record[self.kind.name] = {"planned_steps": self.total, "trained_steps": steps, **self.budget.record()}
        self.run.update(time_budget=record)
        return TrainResult(model=model, steps=steps, first_loss=_or_nan(self.first_loss),
                           final_loss=_or_nan(self.final_loss), tokens=self._tokens if tokens is None else tokens,
                           train_seconds=self.elapsed(), checkpoint=checkpoint, rows=list(self.rows))


def _or_nan(x: float | None) -> float:
    return math.nan if x is None else x


def sft_stage(run: evidence.Run, cfg, budget: Budget | None = None) -> Stage:
    """The SFT stage of `run` (rows every `training.log_every` steps)."""
    return Stage(run, SFT, log_every=cfg.training.log_every, budget=budget)


def grpo_stage(run: evidence.Run, cfg, budget: Budget | None = None) -> Stage:
    """The GRPO stage of `run` (rows every `grpo.log_every` steps)."""
    return Stage(run, GRPO, log_every=cfg.grpo.log_every, budget=budget)


def preference_stage(run: evidence.Run, cfg, budget: Budget | None = None) -> Stage:
    """The preference stage of `run` (rows every `preference.log_every` steps)."""
    return Stage(run, PREFERENCE, log_every=cfg.preference.log_every, budget=budget)
