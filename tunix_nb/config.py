"""Run configuration: frozen, keyword-only dataclasses loaded from YAML plus `--set a.b=v`.

Unknown keys are rejected with the list of valid ones, types are checked, and options that
cannot work together are refused here, at load time, with the field and the fix named.
Relative paths in a config are relative to the project root (the checkout), so the same
preset works from the CLI, from `make` and from a notebook whose cwd is `notebooks/`.
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

from .errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "training" / "configs" / "smoke_tiny.yaml"
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
    # "sdpa" is faster and exact for Gemma 3.
    attn_implementation: Literal["eager", "sdpa"] = "eager"


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


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    # JSONL files (schemas in ARCHITECTURE.md; GSM8K-style rows are accepted too).
    train_file: str = "training/data/dev-reasoning-v2.jsonl"
    eval_file: str = "training/data/eval_v2.jsonl"
    # Prompt + completion tokens; longer training samples are skipped (and counted), never cut,
    # because a truncated trace would teach the model to stop without an answer.
    max_seq_len: int = 512
    # Use only the first N training records (None: all).
    train_limit: int | None = None

    def __post_init__(self) -> None:
        _require(self.max_seq_len >= 16, "data.max_seq_len", f"must be >= 16 (got {self.max_seq_len})")
        _require(self.train_limit is None or self.train_limit >= 1, "data.train_limit",
                 f"must be >= 1 or null (got {self.train_limit})")


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

    def __post_init__(self) -> None:
        _require(self.learning_rate > 0, "training.learning_rate", f"must be > 0 (got {self.learning_rate})")
        _require(self.weight_decay >= 0, "training.weight_decay", f"must be >= 0 (got {self.weight_decay})")
        _require(self.warmup_steps >= 0, "training.warmup_steps", f"must be >= 0 (got {self.warmup_steps})")
        _require((self.epochs is None) != (self.max_steps is None), "training.epochs",
                 "set exactly one of training.epochs and training.max_steps, the other to null "
                 f"(got epochs={self.epochs}, max_steps={self.max_steps})")
        _require(self.epochs is None or self.epochs > 0, "training.epochs", f"must be > 0 (got {self.epochs})")
        _require(self.max_steps is None or self.max_steps >= 1, "training.max_steps",
                 f"must be >= 1 (got {self.max_steps})")
        _require(self.max_batch_tokens is not None or self.micro_batch_size is not None,
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
                         f"is used by backend: tunix only; remove it or set training.backend: tunix")
        if self.backend == "tunix":
            _require(self.lora is None or self.lora.dropout == 0.0, "training.lora.dropout",
                     "the Tunix backend (qwix LoRA) trains without dropout; set it to 0")
            for name, value, default in (("packing", self.packing, False), ("loss_chunk_size", self.loss_chunk_size, None),
                                         ("compile", self.compile, False)):
                _require(value == default, f"training.{name}",
                         "is a PyTorch backend lever (XLA compiles the Tunix step itself); remove it for backend: tunix")
        if self.max_steps is not None:
            _require(self.warmup_steps < self.max_steps, "training.warmup_steps",
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
    eval: EvalConfig = EvalConfig()
    output: OutputConfig = OutputConfig()
    # The preset's file stem (set by the loader); names default run ids.
    name: str = "custom"

    def __post_init__(self) -> None:
        t = self.training
        if t.max_batch_tokens is not None:
            _require(t.max_batch_tokens >= self.data.max_seq_len, "training.max_batch_tokens",
                     f"({t.max_batch_tokens}) is smaller than data.max_seq_len ({self.data.max_seq_len}), "
                     "so the longest sample would not fit; raise it or lower data.max_seq_len")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(_plain(self.to_dict()), sort_keys=False)

    def hash(self) -> str:
        """sha256 of the resolved config (canonical JSON): same hash, same run recipe."""
        blob = json.dumps(_plain(self.to_dict()), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def resolve_path(p: str | Path) -> Path:
    """A config path: absolute as given, relative to the project root otherwise."""
    p = Path(p).expanduser()
    return p if p.is_absolute() else PROJECT_ROOT / p


def load_config(path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> Config:
    """Read a preset (default: smoke_tiny.yaml), apply `a.b=v` overrides, check everything."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    if not path.is_file() and not path.is_absolute() and resolve_path(path).is_file():
        path = resolve_path(path)
    if not path.is_file():
        raise UserError(f"{path}: config file not found; presets are in {PROJECT_ROOT / 'training/configs'}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise UserError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of sections (model, data, training, eval, output)")
    for item in overrides:
        _apply_override(raw, item)
    raw.setdefault("name", path.stem)
    return config_from_dict(raw, source=str(path))


def config_from_dict(raw: dict[str, Any], source: str = "<config>") -> Config:
    try:
        return _build(Config, raw, "")
    except UserError as e:
        raise UserError(f"{source}: {e}") from None


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
        return _build(hint, value, f"{name}.")
    if origin is Literal:
        if value not in args:
            raise UserError(f"{name}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
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
        if not isinstance(value, str):
            raise UserError(f"{name}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint!r} for {name}")  # a bug in this module


def _plain(obj: Any) -> Any:
    """Tuples to lists, so YAML/JSON dumps are plain."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
