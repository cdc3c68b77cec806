"""Run configuration: frozen, keyword-only dataclasses loaded from YAML plus `--set a.b=v`.

Unknown keys are rejected with the list of valid ones, types are checked, and options that
cannot work together are refused here, at load time, with the field and the fix named.
Relative paths in a config are relative to the project root (the checkout), so the same
preset works from the CLI, from `make` and from a notebook whose cwd is `notebooks/`; from an
installed wheel they are relative to the cwd, with the packaged files as fallback (resources.py).
`--config` takes a file or a packaged preset's name (`smoke_tiny`).

Here: the model, training, eval and output sections, the whole `Config` and its loading; the data
section is `config_data`'s, the grpo and preference sections `config_rl`'s, and reading YAML and
checking types `config_io`'s. Callers import every section from here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from . import resources
from .config_data import DataConfig, MixSource, check_columns, check_rows, rows_slice  # noqa: F401 (re-exported)
from .config_io import apply_override, build, changed, plain, read_yaml, require
from .config_rl import GrpoConfig, PreferenceConfig
from .errors import UserError

PROJECT_ROOT = resources.ROOT  # the checkout, or the installed package's copy of its files
DEFAULT_CONFIG = resources.PRESETS / "smoke_tiny.yaml"
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


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
        require(self.rank >= 1, "training.lora.rank", f"must be >= 1 (got {self.rank})")
        require(self.alpha >= 1, "training.lora.alpha", f"must be >= 1 (got {self.alpha})")
        require(0.0 <= self.dropout < 1.0, "training.lora.dropout",
                f"must be in [0, 1) (got {self.dropout})")
        require(len(self.target_modules) > 0, "training.lora.target_modules",
                "is empty; list module names such as [q_proj, v_proj]")


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
        require(self.learning_rate > 0, "training.learning_rate", f"must be > 0 (got {self.learning_rate})")
        require(self.weight_decay >= 0, "training.weight_decay", f"must be >= 0 (got {self.weight_decay})")
        require(self.warmup_steps >= 0, "training.warmup_steps", f"must be >= 0 (got {self.warmup_steps})")
        require((self.epochs is None) != (self.max_steps is None), "training.epochs",
                "set exactly one of training.epochs and training.max_steps, the other to null "
                f"(got epochs={self.epochs}, max_steps={self.max_steps})")
        require(self.epochs is None or self.epochs > 0, "training.epochs", f"must be > 0 (got {self.epochs})")
        require(self.max_steps is None or self.max_steps >= 0, "training.max_steps",
                f"must be >= 1, or 0 for no SFT stage (with a grpo section) (got {self.max_steps})")
        # The SFT batch shape matters only when there is an SFT stage.
        require(self.max_steps == 0 or self.max_batch_tokens is not None or self.micro_batch_size is not None,
                "training.max_batch_tokens", "set training.max_batch_tokens (recommended) "
                "or training.micro_batch_size, or both")
        require(self.max_batch_tokens is None or self.max_batch_tokens >= 1, "training.max_batch_tokens",
                f"must be >= 1 (got {self.max_batch_tokens})")
        require(self.micro_batch_size is None or self.micro_batch_size >= 1, "training.micro_batch_size",
                f"must be >= 1 (got {self.micro_batch_size})")
        require(self.grad_accum >= 1, "training.grad_accum", f"must be >= 1 (got {self.grad_accum})")
        require(self.max_grad_norm is None or self.max_grad_norm > 0, "training.max_grad_norm",
                f"must be > 0 or null (got {self.max_grad_norm})")
        require(self.log_every >= 1, "training.log_every", f"must be >= 1 (got {self.log_every})")
        require(self.save_every is None or self.save_every >= 1, "training.save_every",
                f"must be >= 1 or null (got {self.save_every})")
        require(self.loss_chunk_size is None or self.loss_chunk_size >= 1, "training.loss_chunk_size",
                f"must be >= 1 or null (got {self.loss_chunk_size})")
        if self.packing:
            require(self.max_batch_tokens is not None, "training.packing",
                    "needs training.max_batch_tokens (the length of a packed row), e.g. training.max_batch_tokens=4096")
            require(self.micro_batch_size is None, "training.micro_batch_size",
                    "must be null with training.packing (a packed micro-batch is one row of up to "
                    "training.max_batch_tokens tokens); set training.micro_batch_size=null")
        require(self.time_budget_minutes is None or self.time_budget_minutes > 0, "training.time_budget_minutes",
                f"must be > 0 or null (got {self.time_budget_minutes})")
        require(self.tensor_parallel >= 1, "training.tensor_parallel", f"must be >= 1 (got {self.tensor_parallel})")
        if self.backend == "torch":
            for name, value, default in (("time_budget_minutes", self.time_budget_minutes, None),
                                         ("tensor_parallel", self.tensor_parallel, 1)):
                require(value == default, f"training.{name}",
                        "is used by backend: tunix only; remove it or set training.backend: tunix")
        if self.backend == "tunix":
            require(self.lora is None or self.lora.dropout == 0.0, "training.lora.dropout",
                    "the Tunix backend (qwix LoRA) trains without dropout; set it to 0")
            for name, value, default in (("packing", self.packing, False), ("loss_chunk_size", self.loss_chunk_size, None),
                                         ("compile", self.compile, False)):
                require(value == default, f"training.{name}",
                        "is a PyTorch backend lever (XLA compiles the Tunix step itself); remove it for backend: tunix")
            require(self.distributed == "none", "training.distributed",
                    "is the PyTorch backend's torchrun setting (Tunix shards over its own device mesh, "
                    "training.tensor_parallel); remove it for backend: tunix")
        if self.max_steps:  # >= 1; 0 (no SFT stage) has no schedule to warm up
            require(self.warmup_steps < self.max_steps, "training.warmup_steps",
                    f"({self.warmup_steps}) must be smaller than training.max_steps ({self.max_steps})")


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
        require(self.max_new_tokens >= 1, "eval.max_new_tokens", f"must be >= 1 (got {self.max_new_tokens})")
        require(self.batch_size >= 1, "eval.batch_size", f"must be >= 1 (got {self.batch_size})")
        require(self.limit is None or self.limit >= 1, "eval.limit", f"must be >= 1 or null (got {self.limit})")


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    # Run dirs go to <root>/<run_id>; an existing run dir is never overwritten.
    root: str = "submission_runs"
    # null: "<preset>-<UTC timestamp>".
    run_id: str | None = None

    def __post_init__(self) -> None:
        require(self.run_id is None or bool(_RUN_ID_RE.match(self.run_id)), "output.run_id",
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
        require(t.max_steps != 0 or self.grpo is not None or self.preference is not None, "training.max_steps",
                "is 0 (no SFT stage) and there is no grpo or preference section, so nothing would be trained; "
                "set training.max_steps >= 1 (or training.epochs) or add a grpo section "
                "(e.g. --set grpo.max_steps=100)")
        if self.preference is not None and self.preference.rewards.get("judge", 0):
            require(self.grpo is not None and self.grpo.judge_source is not None, "preference.rewards.judge",
                    "weighs the judge, but there is no judge model (grpo.judge_source); name one or set "
                    "preference.rewards.judge=0")
        if t.max_batch_tokens is not None:
            require(t.max_batch_tokens >= self.data.max_seq_len, "training.max_batch_tokens",
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
        return yaml.safe_dump(plain(changed(self) if changed_only else self.to_dict()), sort_keys=False)

    def hash(self) -> str:
        """sha256 of the resolved config (canonical JSON): same hash, same run recipe. A switched-off
        optional section (grpo: null) is left out, so adding one to this module keeps old hashes
        (and the resume of older run dirs) valid."""
        d = {k: v for k, v in self.to_dict().items() if not (k in _OPTIONAL_SECTIONS and v is None)}
        blob = json.dumps(plain(d), sort_keys=True).encode()
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
    raw = read_yaml(path)
    if raw is None:
        raise UserError(f"{path}: empty config; a preset needs at least a training section, "
                        "see training/configs/smoke_tiny.yaml")
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections (model, data, training, preference, grpo, eval, output)")
    for item in overrides:
        apply_override(raw, item)
    raw.setdefault("name", path.stem)
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: dict[str, Any], source: str = "<config>") -> Config:
    try:
        return build(Config, raw, "")
    except UserError as e:
        raise UserError(f"{source}: {e}") from None
