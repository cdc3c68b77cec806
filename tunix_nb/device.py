"""What hardware this run gets and how it will use it: the device plan, with a reason per choice.

Refusals happen here, before anything is written: a GPU that was asked for but is not there,
bf16 on a card without it (T4), a torch build that was not compiled for the card (RTX 5090).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .config import Config
from .errors import UserError


@dataclass(frozen=True)
class DevicePlan:
    backend: str  # "torch"
    device: str  # "cpu" | "cuda"
    device_name: str
    dtype: str  # "bf16" | "fp32": compute precision (bf16 is autocast over fp32 master weights)
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        lines = [f"device plan: backend={self.backend} device={self.device} ({self.device_name}) dtype={self.dtype}"]
        return "\n".join(lines + [f"  - {r}" for r in self.reasons])


def plan_torch(cfg: Config) -> DevicePlan:
    import torch

    t = cfg.training
    reasons: list[str] = []
    has_cuda = torch.cuda.is_available()
    if t.device == "cuda" and not has_cuda:
        raise UserError("training.device: cuda was asked for but torch sees no CUDA GPU "
                        f"(torch {torch.__version__}); use device: auto or cpu")
    device = "cuda" if (t.device == "cuda" or (t.device == "auto" and has_cuda)) else "cpu"
    reasons.append(f"training.device={t.device}: " + ("CUDA GPU found" if has_cuda else "no CUDA GPU")
                   + f" -> {device}")

    if device == "cuda":
        major, minor = torch.cuda.get_device_capability(0)
        name = torch.cuda.get_device_name(0)
        arch, archs = f"sm_{major}{minor}", torch.cuda.get_arch_list()
        if archs and arch not in archs and f"compute_{major}{minor}" not in archs:
            raise UserError(f"{name} is {arch}, but this torch build ({torch.__version__}) supports only "
                            f"{' '.join(archs)}; install a torch wheel built for {arch} "
                            "(for an RTX 50xx, sm_120: torch >= 2.7 from the CUDA 12.8 'cu128' wheels)")
        bf16_ok = torch.cuda.is_bf16_supported()
    else:
        name, bf16_ok = "CPU", False  # CPU bf16 is slow emulation on most hosts: fp32 is the right default

    if t.dtype == "bf16" and device == "cuda" and not bf16_ok:
        raise UserError(f"training.dtype: bf16 is not supported on {name}; use fp32 "
                        "(fp16 is not offered: Gemma overflows in it)")
    dtype = "bf16" if t.dtype == "bf16" or (t.dtype == "auto" and bf16_ok) else "fp32"
    reasons.append(f"training.dtype={t.dtype}: " + ("bf16 supported" if bf16_ok else "no fast bf16 here")
                   + f" -> {dtype}" + (" (autocast, fp32 master weights)" if dtype == "bf16" else ""))
    mode = "LoRA" if t.lora else "full fine-tuning"
    reasons.append(f"{mode}, optimizer {t.optimizer}, lr {t.learning_rate}, "
                   f"micro-batches of <= {t.max_batch_tokens or '-'} tokens / <= {t.micro_batch_size or '-'} rows "
                   f"x grad_accum {t.grad_accum}")
    return DevicePlan(backend="torch", device=device, device_name=name, dtype=dtype, reasons=reasons)
