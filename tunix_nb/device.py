"""What hardware this run gets and how it will use it: detection, then a plan with a reason per choice.

`detect()` looks at the real machine (torch for CUDA, JAX for TPUs). `make_plan()` is a pure
function of the config, a `Hardware` description and the model's shape, so the planning for a T4,
an RTX 5090 or a v5e-8 is tested here on CPU from small, explicit descriptions. Refusals happen
before anything is written: an accelerator that was asked for but is absent, bf16 on a card
without it, a torch build not compiled for the card, a plan whose memory cannot fit.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import asdict, dataclass, field

from .config import Config
from .errors import UserError

GB = 1024**3
MEMORY_HEADROOM = 0.90  # leave room for the CUDA context, allocator fragmentation, eval
JUDGE_OVERHEAD = 1.25  # the judge's frozen weights, plus a forward pass of a batch (a quarter on top, roughly)
# Per backend: activations saved per token per decoder layer (x hidden size x activation bytes),
# and the fp32 copies of the logits alive at once. PyTorch: counted (40.2 full fine-tuning, 38.3
# LoRA; logits, their log-softmax and its gradient: bench/results/activation_memory_cpu.json) and
# within 10% of the H200's measured peaks (tests/test_device.py). Tunix (XLA fuses and
# rematerialises): not measured, the first rough figures.
ACTIVATIONS = {"torch": (40, 3), "tunix": (34, 2)}


@dataclass(frozen=True)
class Hardware:
    platform: str  # "cuda" | "tpu" | "cpu"
    name: str  # "Tesla T4", "NVIDIA GeForce RTX 5090", "TPU v5 lite", "CPU"
    count: int = 1  # GPUs or TPU chips visible
    memory_gb: float | None = None  # per device (VRAM / HBM); host RAM for the CPU
    compute_capability: tuple[int, int] | None = None
    bf16: bool = False
    torch_arch_list: tuple[str, ...] = ()  # what the installed torch was compiled for (CUDA)


@dataclass(frozen=True)
class ModelShape:
    """What memory planning needs to know of a model, read from its folder before loading it."""
    params: int
    num_layers: int
    hidden_size: int
    vocab_size: int


@dataclass(frozen=True)
class DevicePlan:
    mode: str  # "smoke" (prove the pipeline) | "full" (the judged TPU run) | "local" (own GPU/CPU)
    backend: str  # "torch" | "tunix"
    device: str  # "cpu" | "cuda"
    device_name: str
    device_count: int
    dtype: str  # "bf16" (autocast over fp32 master weights) | "fp32"
    batching: str
    model: str
    memory_gb: dict = field(default_factory=dict)  # the preflight estimate and what is available
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        head = (f"device plan: mode={self.mode} backend={self.backend} device={self.device} "
                f"({self.device_name} x{self.device_count}) dtype={self.dtype} model={self.model}")
        return "\n".join([head, *(f"  - {r}" for r in self.reasons)])


def detect(request: str = "auto") -> Hardware:
    """The machine's accelerator; refuses one that was asked for but is not there."""
    import torch

    if torch.cuda.is_available() and request in ("auto", "cuda"):
        props = torch.cuda.get_device_properties(0)
        return Hardware(platform="cuda", name=props.name, count=torch.cuda.device_count(),
                        memory_gb=round(props.total_memory / GB, 1),
                        compute_capability=(props.major, props.minor),
                        bf16=torch.cuda.is_bf16_supported(), torch_arch_list=tuple(torch.cuda.get_arch_list()))
    if request in ("auto", "tpu"):
        tpu = _detect_tpu()
        if tpu is not None:
            return tpu
    if request != "auto" and request != "cpu":
        raise UserError(f"training.device: {request} was asked for but none is visible "
                        f"(torch {torch.__version__} sees no CUDA GPU, JAX no TPU); never falling back to CPU "
                        "silently: use device: auto or cpu, or pick a session with that accelerator")
    return Hardware(platform="cpu", name="CPU", count=os.cpu_count() or 1, memory_gb=_host_memory_gb())


def _detect_tpu() -> Hardware | None:
    # JAX is asked only when torch saw no GPU, so it never grabs GPU memory from a torch run; and only
    # where it could find a TPU (JAX loads libtpu: the `libtpu` package or TPU_LIBRARY_PATH), so a
    # CPU-only run does not pay JAX's import.
    if os.environ.get("TPU_LIBRARY_PATH") is None and importlib.util.find_spec("libtpu") is None:
        return None
    try:
        import jax

        devices = jax.devices()
    except Exception:  # no JAX, or no usable backend: not a TPU machine
        return None
    if not devices or devices[0].platform != "tpu":
        return None
    stats = getattr(devices[0], "memory_stats", lambda: None)() or {}
    mem = stats.get("bytes_limit")
    return Hardware(platform="tpu", name=devices[0].device_kind, count=len(devices),
                    memory_gb=round(mem / GB, 1) if mem else None, bf16=True)


def _host_memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GB, 1)
    except (ValueError, OSError, AttributeError):
        return None


def make_plan(cfg: Config, hw: Hardware, shape: ModelShape | None, *, on_kaggle: bool = False,
              judge_shape: ModelShape | None = None) -> DevicePlan:
    """The device plan, and the memory preflight that refuses what cannot fit. `judge_shape`: the
    judge reward's model (grpo.judge_source); on Tunix with grpo.judge_devices the judge's own devices
    and the policy's (the rest) are checked each on their own."""
    t = cfg.training
    reasons: list[str] = []
    tunix = t.backend == "tunix"
    if hw.platform == "tpu" and not tunix:
        raise UserError(f"training.backend: torch cannot use the {hw.name} x{hw.count} it found; "
                        "TPU runs use the Tunix backend (backend: tunix), or pick a GPU/CPU session")
    if hw.platform == "tpu":
        reasons.append(f"{hw.name} x{hw.count}" + (f", {hw.memory_gb} GB HBM each" if hw.memory_gb else "")
                       + f"; mesh fsdp={hw.count // t.tensor_parallel} x tp={t.tensor_parallel}")
    elif hw.platform == "cuda":
        if not tunix:  # JAX brings its own CUDA kernels: the torch build does not matter to it
            _check_torch_build(hw)
        reasons.append(f"{hw.name} x{hw.count}: sm_{hw.compute_capability[0]}{hw.compute_capability[1]}, "
                       f"{hw.memory_gb} GB, bf16 {'yes' if hw.bf16 else 'no'}")
    else:
        reasons.append(f"no accelerator: CPU ({hw.count} cores" + (f", {hw.memory_gb} GB RAM)" if hw.memory_gb else ")"))

    if t.dtype == "bf16" and hw.platform == "cuda" and not hw.bf16:
        raise UserError(f"training.dtype: bf16 is not supported on {hw.name}; use fp32 "
                        "(fp16 is not offered: Gemma overflows in it)")
    fast_bf16 = hw.platform in ("cuda", "tpu") and hw.bf16
    dtype = "bf16" if t.dtype == "bf16" or (t.dtype == "auto" and fast_bf16) else "fp32"
    why = {("auto", True): f"bf16 supported on {hw.name}", ("auto", False): f"no fast bf16 on {hw.name}"}
    how = " (bf16 weights, fp32 loss)" if tunix else " (autocast, fp32 master weights)"
    reasons.append(f"training.dtype={t.dtype}: {why.get((t.dtype, fast_bf16), 'as configured')} -> {dtype}"
                   + (how if dtype == "bf16" else ""))

    small_model = cfg.model.source == "builtin:tiny-gemma3"
    mode = ("full" if hw.platform == "tpu" else
            "smoke" if small_model or (on_kaggle and hw.platform == "cuda") else "local")
    reasons.append(f"mode {mode}: " + ("TPU run (the judged setting)" if mode == "full" else
                                       "built-in tiny model" if small_model else
                                       "Kaggle GPU session (smoke run)" if mode == "smoke" else "own machine"))
    batching = (f"micro-batches of <= {t.max_batch_tokens or '-'} tokens / <= {t.micro_batch_size or '-'} rows "
                f"x grad_accum {t.grad_accum}; {'LoRA r=' + str(t.lora.rank) if t.lora else 'full fine-tuning'}, "
                f"{t.optimizer}, lr {t.learning_rate}")
    reasons.append(batching)

    memory = {}
    split = cfg.grpo.judge_devices if (tunix and cfg.grpo is not None) else None
    if split:
        reasons.append(f"judge on its own {split} device(s) (grpo.judge_devices), policy + reference on the "
                       "other(s)")
    if shape is not None:
        memory = estimate_memory(cfg, shape, dtype)
        # Tunix shards weights and optimizer state over every device of the mesh (the policy's mesh).
        sharded = tunix and hw.memory_gb and hw.platform != "cpu"
        available = hw.memory_gb * (hw.count - (split or 0)) if sharded else hw.memory_gb
        if judge_shape is not None:
            judge_gb = round(judge_shape.params * (2 if dtype == "bf16" else 4) * JUDGE_OVERHEAD / GB, 2)
            memory["judge_gb"] = judge_gb
            if split and sharded:  # the judge's own sub-mesh
                judge_available = round(hw.memory_gb * split, 1)
                memory["judge_available_gb"] = judge_available
                if judge_gb > judge_available * MEMORY_HEADROOM:
                    raise UserError(f"grpo.judge_devices: the judge ({_params(judge_shape.params)}) needs "
                                    f"~{judge_gb:.1f} GB but its {split} device(s) have {judge_available} GB; give "
                                    "it more devices or name a smaller grpo.judge_source")
            else:  # sharing the policy's memory
                memory["total_gb"] = round(memory["total_gb"] + judge_gb, 2)
        if available:
            memory["available_gb"] = available
            budget = available * MEMORY_HEADROOM
            reasons.append(f"memory preflight: ~{memory['total_gb']:.1f} GB needed of {available} GB "
                           f"({_params(shape.params)})")
            if memory["total_gb"] > budget:
                hint = ("use LoRA (training.lora: {rank: 16}) or the smoke preset (training/configs/smoke_tiny.yaml)"
                        if not t.lora else "lower training.max_batch_tokens / micro_batch_size, turn on "
                        "training.gradient_checkpointing, or use the smoke preset")
                if split:
                    hint = f"give the judge fewer devices (grpo.judge_devices: {split}), or " + hint
                raise UserError(f"training: this plan needs ~{memory['total_gb']:.1f} GB but {hw.name} has "
                                f"{available} GB ({_breakdown(memory)}); {hint}")
    else:
        reasons.append("memory preflight skipped: model shape unknown before download")
    return DevicePlan(mode=mode, backend=t.backend, device=hw.platform, device_name=hw.name, device_count=hw.count,
                      dtype=dtype, batching=batching, model=cfg.model.source, memory_gb=memory, reasons=reasons)


def _check_torch_build(hw: Hardware) -> None:
    major, minor = hw.compute_capability
    arch = f"sm_{major}{minor}"
    archs = hw.torch_arch_list
    # A build runs on an arch it lists, or JIT-compiles from a listed PTX (compute_XY) of the same major.
    if archs and arch not in archs and not any(a.startswith(f"compute_{major}") for a in archs):
        raise UserError(f"{hw.name} is {arch}, but this torch build supports only {' '.join(archs)}; "
                        f"install a torch wheel built for {arch} (for an RTX 50xx, sm_120: torch >= 2.7 "
                        "from the CUDA 12.8 'cu128' wheels)")


def estimate_memory(cfg: Config, shape: ModelShape, dtype: str) -> dict:
    """Weights + gradients + optimizer state + activations (+ logits) for the planned micro-batch, in GB.
    Deliberately simple and a little pessimistic: its job is to refuse plans that cannot fit."""
    t = cfg.training
    p = shape.params
    act_bytes = 2 if dtype == "bf16" else 4
    if t.lora is None:
        weights = 4 * p  # fp32 master weights
        grads = 4 * p
        optimizer = 8 * p if t.optimizer == "adamw" else 0.1 * 4 * p  # Adafactor keeps factored moments
    else:
        lora_params = 2 * t.lora.rank * shape.hidden_size * 7 * shape.num_layers  # ~A and B for 7 projections
        weights = (2 if dtype == "bf16" else 4) * p + 4 * lora_params
        grads = 4 * lora_params
        optimizer = 8 * lora_params
    tokens = t.max_batch_tokens or (t.micro_batch_size or 1) * cfg.data.max_seq_len
    per_layer, logit_copies = ACTIVATIONS[t.backend]
    layer = per_layer * shape.hidden_size * act_bytes  # per token
    if t.gradient_checkpointing:  # each layer's input kept; one layer at a time recomputed in backward
        activations = tokens * (shape.num_layers * 2 * shape.hidden_size * act_bytes + layer)
    else:
        activations = tokens * shape.num_layers * layer
    # fp32 logits; with training.loss_chunk_size only one chunk's at a time
    logits = min(tokens, t.loss_chunk_size or tokens) * shape.vocab_size * 4 * logit_copies
    parts = {"weights_gb": weights, "grads_gb": grads, "optimizer_gb": optimizer,
             "activations_gb": activations, "logits_gb": logits}
    out = {k: round(v / GB, 2) for k, v in parts.items()}
    out["total_gb"] = round(sum(parts.values()) / GB, 2)
    out["params_b"] = round(p / 1e9, 3)
    return out


def _params(n: int) -> str:
    """`2.51 B params`, `268 M params`, `1.2 M params`: a tiny model's count is not 0.00 B."""
    return f"{n / 1e9:.2f} B params" if n >= 1e9 else f"{n / 1e6:.3g} M params"


def _breakdown(m: dict) -> str:
    return ", ".join(f"{k[:-3]} {m[k]:.1f}" for k in ("weights_gb", "grads_gb", "optimizer_gb", "activations_gb", "logits_gb"))
