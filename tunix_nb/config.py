"""Run configuration: frozen, keyword-only dataclasses loaded from YAML plus `--set a.b=v`.

Unknown keys are rejected with the list of valid ones, types are checked, and options that
cannot work together are refused here, at load time, with the field and the fix named.
Relative paths in a config are relative to the project root (the checkout), so the same
preset works from the CLI, from `make` and from a notebook whose cwd is `notebooks/`; from an
installed wheel they are relative to the cwd, with the packaged files as fallback (resources.py).
`--config` takes a file or a packaged preset's name (`smoke_tiny`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from . import resources
from .errors import UserError
from .rewards import MODEL_REWARDS, REWARDS
from .schema import EVAL_MAPPABLE, PAIR_FIELDS, TRAIN_FIELDS

PROJECT_ROOT = resources.ROOT  # the checkout, or the installed package's copy of its files
DEFAULT_CONFIG = resources.PRESETS / "smoke_tiny.yaml"
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _require(ok: bool, field: str, problem: str) -> None:
    if not ok:
        raise UserError(f"{field}: {problem}")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    # A local HF folder, "builtin:tiny-gemma3" (built by tunix_nb), "packaged:gemma-3-270m" (PyPI),
    # an HF hub id ("google/gemma-3-1b-it") or "kaggle:OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]".
    source: str = "builtin:tiny-gemma3"
    # Hub commit/tag to pin (null: the latest; the commit used is recorded in the manifest).
    revision: str | None = None
    # The Kaggle secret holding the HF token; read only when the source is a hub id.
    hf_secret_label: str = "HF_TOKEN"
    # "eager" is right for Gemma 2 (attention-logit soft-capping, which SDPA ignores);
    # "sdpa" is faster and exact for Gemma 3. "flex_attention" (GPU training, torch backend):
    # block-sparse attention that skips the blocks where a packed sample would see another, with
    # Gemma 2's soft-capping as its score_mod; on a CPU, and while decoding, the run uses the
    # dense kernel with the same numerics (backends/torch/attention.py).
    attn_implementation: Literal["eager", "sdpa", "flex_attention"] = "eager"


@dataclass(frozen=True, kw_only=True)
class LoraConfig:
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.0
    # Module names inside each decoder layer (HF Gemma naming).
    target_modules: tuple[str, ...] = (
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    )

    def __post_init__(self) -> None:
        _require(self.rank >= 1, "training.lora.rank", f"must be >= 1 (got {self.rank})")
        _require(self.alpha >= 1, "training.lora.alpha", f"must be >= 1 (got {self.alpha})")
        _require(0.0 <= self.dropout < 1.0, "training.lora.dropout",
                 f"must be in [0, 1) (got {self.dropout})")
        _require(len(self.target_modules) > 0, "training.lora.target_modules",
                 "is empty; list module names such as [q_proj, v_proj]")


def check_columns(columns: dict[str, str], setting: str, fields: tuple[str, ...] = TRAIN_FIELDS) -> None:
    for ours in columns:
        _require(ours in fields, f"{setting}.{ours}",
                 f"is not one of our fields ({', '.join(fields)}); map ours to theirs, e.g. "
                 f"{{{fields[1]}: Problem}}")


_ROWS_RE = re.compile(r"^(-?\d+)?:(-?\d+)?$")


def rows_slice(spec: str | None) -> slice:
    """A row range "START:STOP" as Python slices it (negative counts from the end, either side may
    be empty): ":-200" is all but the last 200 rows, "-200:" the last 200."""
    if spec is None:
        return slice(None)
    m = _ROWS_RE.match(spec.replace(" ", ""))
    return slice(*(int(g) if g else None for g in m.groups()))


def check_rows(spec: str | None, setting: str) -> None:
    _require(spec is None or bool(_ROWS_RE.match(spec.replace(" ", ""))), setting,
             f"{spec!r} is not a row range; write START:STOP as Python slices a list, e.g. \":-200\" "
             "(all but the last 200 rows) or \"-200:\" (the last 200)")


@dataclass(frozen=True, kw_only=True)
class MixSource:
    """One training source of `data.mix`."""
    # A path (.jsonl/.json/.csv/.parquet, a save_to_disk folder, a folder of data files) or hf:OWNER/NAME.
    file: str
    # Its share of the mixed rows (weights need not sum to 1; they are normalised).
    weight: float = 1.0
    # DatasetDict folder / HF id: the split (null: train, or the only one); HF id: subset and revision.
    split: str | None = None
    subset: str | None = None
    revision: str | None = None
    # ours: theirs, as data.columns.
    columns: dict[str, str] = dataclasses.field(default_factory=dict)
    # Only these rows of the source, in its order, as data.rows.
    rows: str | None = None

    def __post_init__(self) -> None:
        # Field names relative to the entry: the loader puts "data.mix[i]." in front.
        _require(self.weight > 0, "weight", f"must be > 0 (got {self.weight})")
        check_columns(self.columns, "columns")
        check_rows(self.rows, "rows")


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    # Training rows: a path (.jsonl, .json, .csv, .parquet, a save_to_disk folder or a folder of
    # such files, e.g. a Kaggle dataset under /kaggle/input/...) or hf:OWNER/NAME (read from the Hub
    # only when a run names it). Schemas in ARCHITECTURE.md; GSM8K-style rows are recognised in
    # every format. null with data.mix (the mix names every training source).
    train_file: str | None = "training/data/dev-reasoning-v2.jsonl"
    # Eval items, any of the same forms.
    eval_file: str = "training/data/eval_v2.jsonl"
    # A save_to_disk DatasetDict or an HF id: the split of train_file (null: "train", or the only
    # one) and of eval_file (null: "test", or the only one).
    split: str | None = None
    eval_split: str | None = None
    # Only a range of the source's rows, in its order, "START:STOP" as Python slices a list: e.g. one
    # file split into training rows (rows ":-200") and held-out eval items (eval_rows "-200:").
    rows: str | None = None
    eval_rows: str | None = None
    # An HF id: its subset (config name, e.g. "main" for openai/gsm8k) and revision (commit or tag).
    subset: str | None = None
    revision: str | None = None
    # The training source's column names mapped onto ours, ours: theirs, e.g. {question: Problem,
    # reasoning: Steps, answer: Final} (also id, section, category, difficulty: missing ones default to
    # section core, category / difficulty unknown, counted in the manifest). With a mapping, columns
    # it does not name are left out. Also used for grpo.prompt_file.
    columns: dict[str, str] = dataclasses.field(default_factory=dict)
    # The eval source's, onto prompt, expected_answer, id, section, category, difficulty (or GSM8K's
    # question and answer), e.g. {prompt: Problem, expected_answer: Final}.
    eval_columns: dict[str, str] = dataclasses.field(default_factory=dict)
    # Several training sources drawn by weight (seeded by training.seed), e.g.
    # [{file: hf:openai/gsm8k, subset: main, weight: 0.7}, {file: training/data/dev-reasoning-v2.jsonl, weight: 0.3}].
    mix: tuple[MixSource, ...] | None = None
    # Training rows that repeat an eval item (same normalised text, or a shared 13-word run) are
    # dropped and counted in the manifest (drop), or refuse the run naming both ids (error).
    contamination: Literal["drop", "error"] = "drop"
    # Prompt + completion tokens; longer training samples are skipped (and counted), never cut,
    # because a truncated trace would teach the model to stop without an answer.
    max_seq_len: int = 512
    # Use only the first N training records (None: all); with data.mix, the number of mixed rows
    # (None: as many as all the sources hold).
    train_limit: int | None = None

    def __post_init__(self) -> None:
        _require(self.max_seq_len >= 16, "data.max_seq_len", f"must be >= 16 (got {self.max_seq_len})")
        _require(self.train_limit is None or self.train_limit >= 1, "data.train_limit",
                 f"must be >= 1 or null (got {self.train_limit})")
        check_columns(self.columns, "data.columns")
        check_columns(self.eval_columns, "data.eval_columns", EVAL_MAPPABLE)
        check_rows(self.rows, "data.rows")
        check_rows(self.eval_rows, "data.eval_rows")
        if self.mix is not None:
            _require(len(self.mix) > 0, "data.mix", "is empty; list sources, or set it to null")
            _require(self.train_file is None, "data.train_file",
                     "must be null with data.mix (the mix names every training source); set data.train_file=null")
        else:
            _require(self.train_file is not None, "data.train_file", "is null; name a training source or set data.mix")


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    # "torch" (PyTorch + transformers: GPU or CPU) or "tunix" (JAX: the competition's TPU stack,
    # also on CPU/GPU); same data, metrics and evidence either way.
    backend: Literal["torch", "tunix"] = "torch"
    # "auto" picks CUDA when there is one, else CPU. An accelerator asked for by name and not
    # found is an error (never a silent CPU fallback).
    device: Literal["auto", "cpu", "cuda", "tpu"] = "auto"
    # "auto": bf16 where the device supports it (Ampere+ GPUs), else fp32. No fp16: Gemma overflows.
    dtype: Literal["auto", "bf16", "fp32"] = "auto"
    # LoRA adapters (peft); null means full fine-tuning.
    lora: LoraConfig | None = None
    optimizer: Literal["adamw", "adafactor"] = "adamw"
    learning_rate: float = 2e-5
    weight_decay: float = 0.0
    lr_schedule: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_steps: int = 0
    # Length of training: set exactly one of the two (a step is one optimizer update).
    # max_steps: 0 (with epochs: null) means no SFT stage: only the grpo section trains.
    epochs: float | None = None
    max_steps: int | None = None
    # Micro-batches come from length-sorted buckets; each holds at most max_batch_tokens padded
    # tokens and at most micro_batch_size rows (set one or both).
    max_batch_tokens: int | None = None
    micro_batch_size: int | None = None
    grad_accum: int = 1
    # Clip the global grad norm to this; null disables clipping.
    max_grad_norm: float | None = 1.0
    # Recompute activations in the backward pass (Tunix: remat of each decoder block).
    gradient_checkpointing: bool = False
    # Padding-free packing: each micro-batch is one row of whole samples back to back, up to
    # max_batch_tokens tokens, position ids restarting per sample and attention kept inside each
    # sample (block-diagonal mask), so the loss is exactly the unpacked one with no pad compute.
    # With eager/SDPA attention the masked row x row scores are still computed, so keep rows short
    # (~512-1024 tokens): on the tiny CPU model (hidden 128) packing is slower than bucketing.
    packing: bool = False
    # Compute lm_head + cross-entropy over this many target positions at a time, recomputed in
    # backward, so full fp32 logits over the vocabulary (256k for Gemma) are never held at once;
    # only positions that predict a target get logits. null: one full logits tensor (exact either way).
    loss_chunk_size: int | None = None
    # torch.compile the model (first steps are slow while it compiles; exact, same loss).
    compile: bool = False
    seed: int = 42
    log_every: int = 1
    # Save a checkpoint every N steps (null: only the final one, which is always saved).
    save_every: int | None = None
    # Tunix: stop early so training and its final checkpoint end within this many minutes
    # (measured step time after warm-up caps the steps; the manifest records what happened).
    time_budget_minutes: float | None = None
    # Tunix: devices on the mesh's tensor-parallel axis; the rest form the fsdp axis.
    tensor_parallel: int = 1
    # PyTorch SFT past one GPU, under `torchrun --nproc-per-node N`: "ddp" (a model replica per
    # rank) or "fsdp" (FSDP2: parameters, gradients and optimizer state sharded over the ranks).
    # Each rank trains its share of every step's micro-batches (keep grad_accum a multiple of N);
    # same losses and weights as one process. Launched without torchrun: one process, unchanged.
    distributed: Literal["none", "ddp", "fsdp"] = "none"

    def __post_init__(self) -> None:
        _require(self.learning_rate > 0, "training.learning_rate", f"must be > 0 (got {self.learning_rate})")
        _require(self.weight_decay >= 0, "training.weight_decay", f"must be >= 0 (got {self.weight_decay})")
        _require(self.warmup_steps >= 0, "training.warmup_steps", f"must be >= 0 (got {self.warmup_steps})")
        _require((self.epochs is None) != (self.max_steps is None), "training.epochs",
                 "set exactly one of training.epochs and training.max_steps, the other to null "
                 f"(got epochs={self.epochs}, max_steps={self.max_steps})")
        _require(self.epochs is None or self.epochs > 0, "training.epochs", f"must be > 0 (got {self.epochs})")
        _require(self.max_steps is None or self.max_steps >= 0, "training.max_steps",
                 f"must be >= 1, or 0 for no SFT stage (with a grpo section) (got {self.max_steps})")
        # The SFT batch shape matters only when there is an SFT stage.
        _require(self.max_steps == 0 or self.max_batch_tokens is not None or self.micro_batch_size is not None,
                 "training.max_batch_tokens", "set training.max_batch_tokens (recommended) "
                 "or training.micro_batch_size, or both")
        _require(self.max_batch_tokens is None or self.max_batch_tokens >= 1, "training.max_batch_tokens",
                 f"must be >= 1 (got {self.max_batch_tokens})")
        _require(self.micro_batch_size is None or self.micro_batch_size >= 1, "training.micro_batch_size",
                 f"must be >= 1 (got {self.micro_batch_size})")
        _require(self.grad_accum >= 1, "training.grad_accum", f"must be >= 1 (got {self.grad_accum})")
        _require(self.max_grad_norm is None or self.max_grad_norm > 0, "training.max_grad_norm",
                 f"must be > 0 or null (got {self.max_grad_norm})")
        _require(self.log_every >= 1, "training.log_every", f"must be >= 1 (got {self.log_every})")
        _require(self.save_every is None or self.save_every >= 1, "training.save_every",
                 f"must be >= 1 or null (got {self.save_every})")
        _require(self.loss_chunk_size is None or self.loss_chunk_size >= 1, "training.loss_chunk_size",
                 f"must be >= 1 or null (got {self.loss_chunk_size})")
        if self.packing:
            _require(self.max_batch_tokens is not None, "training.packing",
                     "needs training.max_batch_tokens (the length of a packed row), e.g. training.max_batch_tokens=4096")
            _require(self.micro_batch_size is None, "training.micro_batch_size",
                     "must be null with training.packing (a packed micro-batch is one row of up to "
                     "training.max_batch_tokens tokens); set training.micro_batch_size=null")
        _require(self.time_budget_minutes is None or self.time_budget_minutes > 0, "training.time_budget_minutes",
                 f"must be > 0 or null (got {self.time_budget_minutes})")
        _require(self.tensor_parallel >= 1, "training.tensor_parallel", f"must be >= 1 (got {self.tensor_parallel})")
        if self.backend == "torch":
            for name, value, default in (("time_budget_minutes", self.time_budget_minutes, None),
                                         ("tensor_parallel", self.tensor_parallel, 1)):
                _require(value == default, f"training.{name}",
                         "is used by backend: tunix only; remove it or set training.backend: tunix")
        if self.backend == "tunix":
            _require(self.lora is None or self.lora.dropout == 0.0, "training.lora.dropout",
                     "the Tunix backend (qwix LoRA) trains without dropout; set it to 0")
            for name, value, default in (("packing", self.packing, False), ("loss_chunk_size", self.loss_chunk_size, None),
                                         ("compile", self.compile, False)):
                _require(value == default, f"training.{name}",
                         "is a PyTorch backend lever (XLA compiles the Tunix step itself); remove it for backend: tunix")
            _require(self.distributed == "none", "training.distributed",
                     "is the PyTorch backend's torchrun setting (Tunix shards over its own device mesh, "
                     "training.tensor_parallel); remove it for backend: tunix")
        if self.max_steps:  # >= 1; 0 (no SFT stage) has no schedule to warm up
            _require(self.warmup_steps < self.max_steps, "training.warmup_steps",
                     f"({self.warmup_steps}) must be smaller than training.max_steps ({self.max_steps})")


# Reward weights by tunix_nb.rewards name, the starter's four kinds of reward (exact format, partial
# format, the answer, a close number) plus DAPO's overlong penalty: a correct answer counts most,
# exact format next; partial format, a close number and the length penalty only nudge.
DEFAULT_REWARD_WEIGHTS: dict[str, float] = {
    "format_exact": 1.0, "format_partial": 0.5, "answer_correct": 2.0, "numeric_close": 0.5, "overlong": 0.5,
}
# DAPO's clip-higher upper bound (its paper's 0.28), used when grpo.loss is dapo and epsilon_high is null.
DAPO_EPSILON_HIGH = 0.28


@dataclass(frozen=True, kw_only=True)
class GrpoConfig:
    """The GRPO stage (after SFT, or alone with training.max_steps: 0). Defaults: the competition's
    Tunix starter (grpo-demo-gemma*), except where a comment says why not."""

    # Completions sampled per prompt, the group G whose mean/std make the advantage (>= 2; starter: 2,
    # 4 here because a group of 2 only tells which of the two was better, never by how much).
    num_generations: int = 4
    # Prompts per optimizer step; the rollouts per step are prompts_per_step x num_generations.
    prompts_per_step: int = 2
    # Completions per forward/backward micro-batch (null: all of a step's completions at once). Must be
    # a multiple of num_generations (a group split across micro-batches breaks its normalisation
    # silently, google/tunix#816) and divide prompts_per_step x num_generations.
    micro_batch_size: int | None = None
    # GRPO optimizer steps (>= 1); 100 is a short first stage, the starter's ~3.4k is a full GSM8K pass.
    max_steps: int = 100
    # AdamW peak learning rate (starter: 3e-6; RL on an already-tuned policy wants small updates).
    learning_rate: float = 3e-6
    # Fraction of max_steps spent warming up linearly from 0 (starter: 10%), in [0, 1).
    warmup_ratio: float = 0.1
    # After warm-up: cosine to 0 (starter), linear to 0, or constant.
    lr_schedule: Literal["cosine", "linear", "constant"] = "cosine"
    # AdamW moments (starter: 0.9 / 0.99; b2 below the usual 0.999 reacts faster to noisy RL gradients).
    adam_b1: float = 0.9
    adam_b2: float = 0.99
    # AdamW decoupled weight decay (starter: 0.1).
    weight_decay: float = 0.1
    # Clip the global grad norm to this (starter: 0.1, tight: RL gradients spike); null disables it.
    max_grad_norm: float | None = 0.1
    # KL penalty weight against the reference (the starting) model (starter: 0.08); 0: no reference
    # model is kept or run (less memory, faster), as DAPO and TRL's default do.
    beta: float = 0.08
    # PPO-style clip range of the probability ratio, lower side (and upper when epsilon_high is null).
    epsilon: float = 0.2
    # Clip-higher upper bound (>= epsilon); null: = epsilon, or 0.28 for loss: dapo (DAPO's value).
    epsilon_high: float | None = None
    # The loss variant, as Tunix 0.1.7 ships them: grpo (GRPOConfig), dr_grpo (DrGRPOConfig: no std
    # normalisation, no per-sequence length normalisation), dapo (DAPOConfig: token-level, no KL).
    loss: Literal["grpo", "dr_grpo", "dapo"] = "grpo"
    # Policy updates per batch of rollouts, mu (starter: 1, fully on-policy; > 1 reuses rollouts).
    num_iterations: int = 1
    # Rollout sampling temperature (> 0: GRPO needs diverse samples in a group; starter: 0.9).
    temperature: float = 0.9
    # Top-k sampling (starter: 50); null: no top-k cut.
    top_k: int | None = 50
    # Nucleus sampling mass in (0, 1] (starter: 1.0, i.e. off); null: off.
    top_p: float | None = 1.0
    # Prompt tokens (starter: 256); longer prompts are skipped and counted, never cut.
    max_prompt_len: int = 256
    # Completion tokens sampled per rollout (starter: 768).
    max_new_tokens: int = 768
    # Rollout KV cache length; null: max_prompt_len + max_new_tokens, the least that fits.
    kv_cache_size: int | None = None
    # GRPO prompts: any data source (its rows need a question and an answer, which scores the
    # rollouts; data.columns maps them); null: the training rows.
    prompt_file: str | None = None
    # Use only the first N prompts (null: all).
    prompt_limit: int | None = None
    # The order prompts are met in (IDEA-E, 3rd in the Tunix Hack: curriculum-guided GRPO): none (a
    # seeded shuffle per epoch), difficulty (each epoch easy -> medium -> hard by the rows' difficulty),
    # pass_rate (each epoch from the prompts the SFT model already solves, greedy, to those it does not;
    # measured once before GRPO, kept in grpo_curriculum.jsonl, so a resumed run keeps the order).
    # Within a level the seeded shuffle stays.
    curriculum: Literal["none", "difficulty", "pass_rate"] = "none"
    # Weights by reward name (tunix_nb.rewards.REWARDS); a name not given keeps its default weight,
    # 0 switches a reward off. The total reward is the weighted sum. `trace` (scoring's trace check
    # of the reasoning's arithmetic) is off unless given a weight, e.g. --set grpo.rewards.trace=1.0.
    rewards: dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_REWARD_WEIGHTS))
    # The overlong reward's soft zone: 0 up to max_new_tokens - this, falling to -1 at max_new_tokens
    # (DAPO's soft overlong punishment; 128 is a sixth of the default 768); < max_new_tokens.
    overlong_soft_tokens: int = 128
    # The judge reward (weight grpo.rewards.judge; 1st place of the Tunix Hack, G-RaR: a Gemma 3 12B judge's
    # rubric score beside the verified rewards): any model.source grades each completion by the rubric
    # file's criteria and template; its probability-weighted score, scaled to [0, 1], is the reward.
    judge_source: str | None = None
    judge_rubric: str = "training/rubrics/reasoning_1_10.yaml"
    # Tunix: the devices the judge gets, a sub-mesh of its own (e.g. 4 of a v5e-8's 8 chips; the rest
    # hold policy + reference); null: the judge shares the policy's devices.
    judge_devices: int | None = None
    # Distinct completions the judge scores in one forward pass.
    judge_batch_size: int = 8
    # Rollout sampling seed; null: training.seed.
    seed: int | None = None
    # Log metrics every N GRPO steps (every step: GRPO steps are slow and noisy).
    log_every: int = 1
    # Checkpoint every N GRPO steps (null: only the final one, which is always saved).
    save_every: int | None = None

    def __post_init__(self) -> None:
        g = self.num_generations
        _require(g >= 2, "grpo.num_generations",
                 f"must be >= 2 (got {g}): the advantage compares completions within a group")
        _require(self.prompts_per_step >= 1, "grpo.prompts_per_step", f"must be >= 1 (got {self.prompts_per_step})")
        rollouts = self.prompts_per_step * g
        if self.micro_batch_size is not None:
            ok = [g * d for d in range(1, self.prompts_per_step + 1) if self.prompts_per_step % d == 0]
            _require(self.micro_batch_size % g == 0 and rollouts % self.micro_batch_size == 0,
                     "grpo.micro_batch_size",
                     f"({self.micro_batch_size}) must be a multiple of grpo.num_generations ({g}) that divides "
                     f"grpo.prompts_per_step x grpo.num_generations ({rollouts}): a group split across "
                     "micro-batches breaks its normalisation silently (google/tunix#816); "
                     f"use one of {', '.join(map(str, ok))} or null")
        _require(self.max_steps >= 1, "grpo.max_steps", f"must be >= 1 (got {self.max_steps})")
        _require(self.learning_rate > 0, "grpo.learning_rate", f"must be > 0 (got {self.learning_rate})")
        _require(0.0 <= self.warmup_ratio < 1.0, "grpo.warmup_ratio", f"must be in [0, 1) (got {self.warmup_ratio})")
        for name in ("adam_b1", "adam_b2"):
            value = getattr(self, name)
            _require(0.0 <= value < 1.0, f"grpo.{name}", f"must be in [0, 1) (got {value})")
        _require(self.weight_decay >= 0, "grpo.weight_decay", f"must be >= 0 (got {self.weight_decay})")
        _require(self.max_grad_norm is None or self.max_grad_norm > 0, "grpo.max_grad_norm",
                 f"must be > 0 or null (got {self.max_grad_norm})")
        _require(self.beta >= 0, "grpo.beta", f"must be >= 0 (got {self.beta})")
        _require(self.epsilon > 0, "grpo.epsilon", f"must be > 0 (got {self.epsilon})")
        _require(self.epsilon_high is None or self.epsilon_high >= self.epsilon, "grpo.epsilon_high",
                 f"({self.epsilon_high}) must be >= grpo.epsilon ({self.epsilon}), or null")
        if self.loss == "dapo":
            _require(self.beta == 0, "grpo.beta",
                     f"must be 0 with grpo.loss: dapo (DAPO has no KL term; got {self.beta}); "
                     "set grpo.beta=0 or choose grpo.loss: grpo")
            _require(self.clip_high >= self.epsilon, "grpo.epsilon_high",
                     f"is null, so DAPO's {DAPO_EPSILON_HIGH} is used, which is below grpo.epsilon "
                     f"({self.epsilon}); set grpo.epsilon_high")
        _require(self.num_iterations >= 1, "grpo.num_iterations", f"must be >= 1 (got {self.num_iterations})")
        _require(self.temperature > 0, "grpo.temperature",
                 f"must be > 0 (got {self.temperature}): GRPO needs diverse samples in a group")
        _require(self.top_k is None or self.top_k >= 1, "grpo.top_k", f"must be >= 1 or null (got {self.top_k})")
        _require(self.top_p is None or 0.0 < self.top_p <= 1.0, "grpo.top_p",
                 f"must be in (0, 1] or null (got {self.top_p})")
        _require(self.max_prompt_len >= 1, "grpo.max_prompt_len", f"must be >= 1 (got {self.max_prompt_len})")
        _require(self.max_new_tokens >= 1, "grpo.max_new_tokens", f"must be >= 1 (got {self.max_new_tokens})")
        need = self.max_prompt_len + self.max_new_tokens
        _require(self.kv_cache_size is None or self.kv_cache_size >= need, "grpo.kv_cache_size",
                 f"({self.kv_cache_size}) is smaller than grpo.max_prompt_len + grpo.max_new_tokens "
                 f"({self.max_prompt_len} + {self.max_new_tokens} = {need}); raise it to at least {need}, "
                 "lower those two, or set it to null")
        _require(self.prompt_limit is None or self.prompt_limit >= 1, "grpo.prompt_limit",
                 f"must be >= 1 or null (got {self.prompt_limit})")
        object.__setattr__(self, "rewards", _reward_weights(self.rewards, "grpo.rewards", MODEL_REWARDS))
        judged = self.rewards.get("judge", 0) != 0
        _require(judged == (self.judge_source is not None), "grpo.judge_source" if judged else "grpo.rewards.judge",
                 "is null, but grpo.rewards.judge weighs the judge reward; name the judge model (any model.source, "
                 "e.g. packaged:gemma-3-270m) or set grpo.rewards.judge=0" if judged else
                 "is 0 or missing, but grpo.judge_source names a judge; give it a weight, e.g. grpo.rewards.judge=1.0")
        _require(self.judge_devices is None or self.judge_devices >= 1, "grpo.judge_devices",
                 f"must be >= 1 or null (got {self.judge_devices})")
        _require(self.judge_devices is None or judged, "grpo.judge_devices",
                 "is set but there is no judge (grpo.judge_source); set it to null")
        _require(self.judge_batch_size >= 1, "grpo.judge_batch_size", f"must be >= 1 (got {self.judge_batch_size})")
        _require(1 <= self.overlong_soft_tokens < self.max_new_tokens, "grpo.overlong_soft_tokens",
                 f"({self.overlong_soft_tokens}) must be >= 1 and smaller than grpo.max_new_tokens "
                 f"({self.max_new_tokens}); lower it")
        _require(self.log_every >= 1, "grpo.log_every", f"must be >= 1 (got {self.log_every})")
        _require(self.save_every is None or self.save_every >= 1, "grpo.save_every",
                 f"must be >= 1 or null (got {self.save_every})")

    @property
    def clip_high(self) -> float:
        """The upper clip bound actually used: epsilon_high, else 0.28 for dapo, else epsilon."""
        if self.epsilon_high is not None:
            return self.epsilon_high
        return DAPO_EPSILON_HIGH if self.loss == "dapo" else self.epsilon

    @property
    def cache_size(self) -> int:
        """The rollout KV cache length actually used (kv_cache_size, else prompt + new tokens)."""
        return self.kv_cache_size if self.kv_cache_size is not None else self.max_prompt_len + self.max_new_tokens

    @property
    def rollouts_per_step(self) -> int:
        return self.prompts_per_step * self.num_generations


def _reward_weights(given: dict[str, float], field: str, model_rewards: tuple[str, ...] = ()) -> dict[str, float]:
    """Reward weights checked and completed: names not given keep their default weight; stored
    complete and in REWARDS order (then the model rewards given), so the resolved config (manifest,
    config.yaml, hash) shows every weight actually used."""
    names = (*REWARDS, *model_rewards)
    for name in given:
        _require(name in names, f"{field}.{name}", f"unknown reward; valid rewards: {', '.join(names)}")
    merged = {**DEFAULT_REWARD_WEIGHTS, **given}
    weights = {name: float(merged[name]) for name in names if name in merged}
    _require(any(w != 0 for w in weights.values()), field,
             "every weight is 0, so every completion would score 0 and nothing is learned; "
             "give at least one reward a nonzero weight")
    return weights


# β when preference.beta is null: DPO's usual 0.1 (Rafailov et al.; Tunix's default), SimPO's 2.0
# (Meng et al. 2024, their Gemma-2 setting: β 2-10 with γ/β ≈ 0.5; ORPO has no β).
PREFERENCE_BETA = {"dpo": 0.1, "simpo": 2.0}


@dataclass(frozen=True, kw_only=True)
class PreferenceConfig:
    """The preference stage, between SFT and GRPO (2nd place of the Tunix Hack, Pinocchio-1B: SFT,
    then SimPO to lock the format and stop verbosity, then GRPO). Pairs come from a file, or are
    built on-policy from the stage's starting model."""

    # dpo (against the stage's starting model, its log-probs computed once before the first step),
    # orpo (chosen NLL + odds-ratio term, no reference), simpo (length-normalised margin with a target
    # gap, no reference: the memory-lighter one). DPO and ORPO are Tunix's own on the Tunix backend.
    algorithm: Literal["dpo", "orpo", "simpo"] = "simpo"
    # A data source of {prompt, chosen, rejected} rows (any format data.train_file takes; prompt is the
    # question, chosen / rejected the model turn's text); null: on-policy pairs from the prompts below.
    pairs_file: str | None = None
    # The pairs source's column names mapped onto ours (prompt, chosen, rejected, id, section,
    # category, difficulty), e.g. {prompt: question, chosen: good, rejected: bad}.
    columns: dict[str, str] = dataclasses.field(default_factory=dict)
    # On-policy: the first N GRPO prompts (grpo.prompt_file, else the training rows) are each sampled
    # num_samples times and scored by `rewards`; chosen = the best, rejected = the worst, a prompt whose
    # samples all score the same gives no pair. The pairs go to <run dir>/preference_pairs.jsonl.
    prompt_limit: int = 64
    num_samples: int = 4
    temperature: float = 0.9
    top_k: int | None = 50
    max_prompt_len: int = 256
    max_new_tokens: int = 256
    # Weights by reward name, as grpo.rewards (names not given keep their default weight); `judge` ranks
    # the samples by grpo.judge_source's rubric score too (a continuous score: fewer ties).
    rewards: dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_REWARD_WEIGHTS))
    # Pairs kept out of training (a seeded pick): their mean chosen - rejected log-prob margin is
    # measured before and after the stage (the manifest's `preference`).
    held_out: int = 8
    # β (null: 0.1 for DPO, 2.0 for SimPO), SimPO's target margin γ (γ/β = 0.5, the paper's
    # setting), ORPO's λ, and label smoothing (conservative DPO; 0: off).
    beta: float | None = None
    gamma: float = 1.0
    lambda_orpo: float = 0.1
    label_smoothing: float = 0.0
    # Optimizer steps of pairs_per_step pairs each (the pairs reshuffled by the seed every pass).
    max_steps: int = 50
    pairs_per_step: int = 4
    # AdamW, linear warm-up over warmup_ratio of the steps, then cosine to 0; grad-norm clip.
    learning_rate: float = 5e-6
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float | None = 1.0
    # Pair order and sampling seed; null: training.seed.
    seed: int | None = None
    log_every: int = 1
    # Checkpoint every N steps (null: only the final one, which is always saved).
    save_every: int | None = None

    def __post_init__(self) -> None:
        check_columns(self.columns, "preference.columns", PAIR_FIELDS)
        for name in ("prompt_limit", "max_prompt_len", "max_new_tokens", "max_steps", "pairs_per_step", "log_every"):
            value = getattr(self, name)
            _require(value >= 1, f"preference.{name}", f"must be >= 1 (got {value})")
        _require(self.num_samples >= 2, "preference.num_samples",
                 f"must be >= 2 (got {self.num_samples}): a pair needs a best and a worst sample")
        _require(self.temperature > 0, "preference.temperature",
                 f"must be > 0 (got {self.temperature}): greedy samples of one prompt are all the same")
        _require(self.top_k is None or self.top_k >= 1, "preference.top_k", f"must be >= 1 or null (got {self.top_k})")
        _require(self.held_out >= 0, "preference.held_out", f"must be >= 0 (got {self.held_out})")
        _require(self.beta is None or self.beta > 0, "preference.beta", f"must be > 0 or null (got {self.beta})")
        _require(self.gamma >= 0, "preference.gamma", f"must be >= 0 (got {self.gamma})")
        _require(self.lambda_orpo >= 0, "preference.lambda_orpo", f"must be >= 0 (got {self.lambda_orpo})")
        _require(0.0 <= self.label_smoothing < 0.5, "preference.label_smoothing",
                 f"must be in [0, 0.5) (got {self.label_smoothing})")
        _require(self.learning_rate > 0, "preference.learning_rate", f"must be > 0 (got {self.learning_rate})")
        _require(0.0 <= self.warmup_ratio < 1.0, "preference.warmup_ratio",
                 f"must be in [0, 1) (got {self.warmup_ratio})")
        _require(self.weight_decay >= 0, "preference.weight_decay", f"must be >= 0 (got {self.weight_decay})")
        _require(self.max_grad_norm is None or self.max_grad_norm > 0, "preference.max_grad_norm",
                 f"must be > 0 or null (got {self.max_grad_norm})")
        _require(self.save_every is None or self.save_every >= 1, "preference.save_every",
                 f"must be >= 1 or null (got {self.save_every})")
        object.__setattr__(self, "rewards", _reward_weights(self.rewards, "preference.rewards", MODEL_REWARDS))

    @property
    def beta_used(self) -> float:
        """β actually used: preference.beta, else the algorithm's usual value (ORPO has none)."""
        return self.beta if self.beta is not None else PREFERENCE_BETA.get(self.algorithm, 0.0)


@dataclass(frozen=True, kw_only=True)
class EvalConfig:
    max_new_tokens: int = 256
    batch_size: int = 16
    # Evaluate N items spread evenly over the eval file (every k-th, so each section and category
    # stays represented; the same items every run); null: all.
    limit: int | None = None
    # Also evaluate the model before training on the same items: eval_summary.json then holds
    # both scorecards ("before" beside the fine-tuned one).
    compare_base: bool = False

    def __post_init__(self) -> None:
        _require(self.max_new_tokens >= 1, "eval.max_new_tokens", f"must be >= 1 (got {self.max_new_tokens})")
        _require(self.batch_size >= 1, "eval.batch_size", f"must be >= 1 (got {self.batch_size})")
        _require(self.limit is None or self.limit >= 1, "eval.limit", f"must be >= 1 or null (got {self.limit})")


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    # Run dirs go to <root>/<run_id>; an existing run dir is never overwritten.
    root: str = "submission_runs"
    # null: "<preset>-<UTC timestamp>".
    run_id: str | None = None

    def __post_init__(self) -> None:
        _require(self.run_id is None or bool(_RUN_ID_RE.match(self.run_id)), "output.run_id",
                 f"{self.run_id!r} is not a valid run id; use letters, digits, '.', '_' and '-'")


@dataclass(frozen=True, kw_only=True)
class Config:
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    training: TrainingConfig
    # The GRPO stage, after SFT (or alone with training.max_steps: 0); null: no GRPO stage.
    grpo: GrpoConfig | None = None
    # The preference stage, between SFT and GRPO; null: none.
    preference: PreferenceConfig | None = None
    eval: EvalConfig = EvalConfig()
    output: OutputConfig = OutputConfig()
    # The preset's file stem (set by the loader); names default run ids.
    name: str = "custom"

    def __post_init__(self) -> None:
        t = self.training
        _require(t.max_steps != 0 or self.grpo is not None or self.preference is not None, "training.max_steps",
                 "is 0 (no SFT stage) and there is no grpo or preference section, so nothing would be trained; "
                 "set training.max_steps >= 1 (or training.epochs) or add a grpo section "
                 "(e.g. --set grpo.max_steps=100)")
        if self.preference is not None and self.preference.rewards.get("judge", 0):
            _require(self.grpo is not None and self.grpo.judge_source is not None, "preference.rewards.judge",
                     "weighs the judge, but there is no judge model (grpo.judge_source); name one or set "
                     "preference.rewards.judge=0")
        if t.max_batch_tokens is not None:
            _require(t.max_batch_tokens >= self.data.max_seq_len, "training.max_batch_tokens",
                     f"({t.max_batch_tokens}) is smaller than data.max_seq_len ({self.data.max_seq_len}), "
                     "so the longest sample would not fit; raise it or lower data.max_seq_len")

    @property
    def runs_sft(self) -> bool:
        """False when training.max_steps is 0: the run has only the GRPO stage."""
        return self.training.max_steps != 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self, *, changed_only: bool = False) -> str:
        """The resolved config as YAML; with `changed_only`, only what differs from the built-in
        defaults: what the preset and the overrides chose (a short read; config.yaml holds it all)."""
        return yaml.safe_dump(_plain(_changed(self) if changed_only else self.to_dict()), sort_keys=False)

    def hash(self) -> str:
        """sha256 of the resolved config (canonical JSON): same hash, same run recipe. A switched-off
        optional section (grpo: null) is left out, so adding one to this module keeps old hashes
        (and the resume of older run dirs) valid."""
        d = {k: v for k, v in self.to_dict().items() if not (k in _OPTIONAL_SECTIONS and v is None)}
        blob = json.dumps(_plain(d), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


_OPTIONAL_SECTIONS = ("grpo", "preference")


def resolve_path(p: str | Path) -> Path:
    """A config path: absolute as given, relative to the project root otherwise (see resources.resolve)."""
    return resources.resolve(p)


def load_config(path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> Config:
    """Read a preset (default: smoke_tiny.yaml), apply `a.b=v` overrides, check everything."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    if not path.is_file() and not path.is_absolute() and resolve_path(path).is_file():
        path = resolve_path(path)
    if not path.is_file() and path.suffix in ("", ".yaml") and len(path.parts) == 1:
        path = resources.preset(path.name)  # a preset's name; an unknown one names them all
    if not path.is_file():
        raise UserError(f"{path}: config file not found; presets: {', '.join(resources.preset_names())}")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_ConfigLoader)  # noqa: S506 (a SafeLoader)
    except _DuplicateKey as e:
        raise UserError(f"{path}:{e.line}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; save the config as UTF-8") from None
    if raw is None:
        raise UserError(f"{path}: empty config; a preset needs at least a training section, "
                        "see training/configs/smoke_tiny.yaml")
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections (model, data, training, preference, grpo, eval, output)")
    for item in overrides:
        _apply_override(raw, item)
    raw.setdefault("name", path.stem)
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: dict[str, Any], source: str = "<config>") -> Config:
    try:
        return _build(Config, raw, "")
    except UserError as e:
        raise UserError(f"{source}: {e}") from None


class _DuplicateKey(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class _ConfigLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (plain PyYAML keeps the last one
    silently, so a preset edited in two places would run with whichever came later)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._where: dict[int, str] = {}  # id(mapping node) -> its dotted path

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        path = self._where.get(id(node), "")
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` may override on purpose
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: SafeLoader reports it below
                continue
            if duplicate:
                where = f"in {path}" if path else "at the top level"
                raise _DuplicateKey(f"key {key!r} given twice {where}; keep one", key_node.start_mark.line + 1)
            if isinstance(value_node, yaml.MappingNode):
                self._where[id(value_node)] = f"{path}.{key}" if path else str(key)
        return super().construct_mapping(node, deep=deep)


def _apply_override(raw: dict[str, Any], item: str) -> None:
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise UserError(f"--set {item!r}: expected section.key=value, e.g. training.max_steps=20")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        if node.get(part) is None:  # a null optional section (e.g. training.lora) is switched on
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise UserError(f"--set {item!r}: {part} is not a section")
    node[parts[-1]] = yaml.safe_load(text) if text.strip() else None


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise UserError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = prefix.rstrip(".") or "top level"
        raise UserError(f"unknown key {prefix}{unknown[0]!s}; valid keys in {where}: {', '.join(fields)}")
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and data.get(name) is None:
            what = "section" if dataclasses.is_dataclass(hints[name]) else "key"
            raise UserError(f"{what} {prefix}{name} is missing; add one, "
                            "e.g. as in training/configs/smoke_tiny.yaml")
    kwargs = {name: _check(value, hints[name], f"{prefix}{name}") for name, value in data.items()}
    return cls(**kwargs)


def _check(value: Any, hint: Any, name: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _check(value, inner, name)
    if dataclasses.is_dataclass(hint):
        # A non-optional section given as null (`model:` with nothing) takes its defaults.
        return _build(hint, {} if value is None else value, f"{name}.")
    if origin is Literal:
        if value not in args:
            raise UserError(f"{name}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is dict:
        value_hint = args[1]  # keys are always names (str)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            what = "numbers" if value_hint is float else "names"
            raise UserError(f"{name}: expected a mapping of names to {what}, got {value!r}")
        return {k: _check(v, value_hint, f"{name}.{k}") for k, v in value.items()}
    if origin is tuple and dataclasses.is_dataclass(args[0]):
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{name}: expected a list of mappings, got {value!r}")
        return tuple(_check_entry(v, args[0], f"{name}[{i}]") for i, v in enumerate(value))
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise UserError(f"{name}: expected a list of strings, got {value!r}")
        return tuple(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise UserError(f"{name}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{name}: expected an integer, got {value!r}")
        return value
    if hint is float:
        # PyYAML reads "2e-5" (no dot) as a string, so accept numeric strings here.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{name}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        # PyYAML reads a plain "-200:" (a row range) as the mapping {-200: None}: give it back as written.
        if isinstance(value, dict) and len(value) == 1 and None in value.values():
            value = f"{next(iter(value))}:"
        if not isinstance(value, str):
            raise UserError(f"{name}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} for {name}")  # a bug in this module


def _check_entry(value: Any, hint: Any, name: str) -> Any:
    """One entry of a list of sections (data.mix); its own checks name fields relative to it."""
    try:
        return _check(value, hint, name)
    except UserError as e:
        raise UserError(str(e) if name in str(e) else f"{name}.{e}") from None


def _changed(section: Any) -> dict[str, Any]:
    """The fields of a config dataclass that differ from their defaults (required ones always);
    nested sections are compared field by field with their own defaults."""
    out = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = dataclasses.MISSING
        if dataclasses.is_dataclass(value):
            inner = _changed(value)
            if inner or default is dataclasses.MISSING or default is None:
                out[f.name] = inner
        elif default is dataclasses.MISSING or value != default:
            out[f.name] = _asdict_any(value)
    return out


def _asdict_any(value: Any) -> Any:
    """A value as plain data (a list of sections, e.g. data.mix, becomes a list of dicts)."""
    if isinstance(value, (list, tuple)):
        return [_asdict_any(v) for v in value]
    return _changed(value) if dataclasses.is_dataclass(value) else value


def _plain(obj: Any) -> Any:
    """Tuples to lists, so YAML/JSON dumps are plain."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
