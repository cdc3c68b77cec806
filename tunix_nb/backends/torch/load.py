"""PyTorch model loading: the transformers model in the plan's dtype, LoRA adapters (peft) when
configured, seeded so the adapters' initial weights are the same every run."""

from __future__ import annotations

from pathlib import Path

from ... import models
from ...config import Config, TrainingConfig
from ...errors import UserError
from ..common import Policy
from . import attention, distributed


def check(cfg: Config, source_path: Path) -> None:
    """Refuse up front what this backend does not do yet."""
    g = cfg.grpo
    if g is None:
        return
    if distributed.world() > 1:
        raise UserError("grpo: the PyTorch GRPO stage runs in one process, and torchrun started "
                        f"{distributed.world()}; run without torchrun, or train SFT alone (grpo: null) under it")
    if g.num_iterations != 1:
        raise UserError(f"grpo.num_iterations: the PyTorch GRPO stage updates once per rollout batch (got "
                        f"{g.num_iterations}); set grpo.num_iterations=1 or training.backend: tunix")
    if g.beta and cfg.training.lora is None:
        raise UserError("grpo.beta: the KL reference is the policy with its LoRA adapters disabled, and full "
                        "fine-tuning has none; configure training.lora or set grpo.beta=0")
    if g.judge_devices is not None:
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if g.judge_devices != 1 or gpus < 2:
            raise UserError(f"grpo.judge_devices: on the PyTorch backend the judge takes 1 CUDA device of its own, "
                            f"the last one, and this machine has {gpus}; set it to 1 on a machine with 2 or more "
                            "GPUs, or null (the judge shares the run's device)")


def load(cfg: Config, source: models.ModelSource, plan) -> Policy:
    model = models.load_torch_model(source, dtype=plan.dtype, lora=cfg.training.lora is not None,
                                    attn_implementation=cfg.model.attn_implementation)
    attention.prepare_for_training(model, plan.device)
    return policy_from(model, cfg)


def policy_from(model, cfg: Config) -> Policy:
    """A loaded transformers model as the policy the stages train: LoRA adapters added when configured."""
    from .checkpoint import seed_everything

    t = cfg.training
    if t.lora is not None:
        seed_everything(t.seed)  # peft draws the adapters' A matrices from torch's RNG
        model = apply_lora(model, t)
    return Policy(model=model, config=model.config)


def apply_lora(model, t: TrainingConfig):
    from peft import LoraConfig, get_peft_model

    lc = t.lora
    config = LoraConfig(r=lc.rank, lora_alpha=lc.alpha, lora_dropout=lc.dropout,
                        target_modules=list(lc.target_modules), task_type="CAUSAL_LM")
    return get_peft_model(model, config)
