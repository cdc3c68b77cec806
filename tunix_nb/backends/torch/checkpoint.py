"""PyTorch checkpoints and the state they carry, for both stages (SFT and GRPO): HF weights (the
adapters for LoRA) plus optimizer, scheduler, RNG and step, written whole or not at all, in the
layout of `tunix_nb.checkpoints`; and the backend contract's `latest_step` and `restore`."""

from __future__ import annotations

import errno
import os
import random
import shutil
from pathlib import Path

from ... import checkpoints
from ...config import Config
from ...errors import UserError
from ..common import Policy


def save_checkpoint(model, tokenizer, root: Path, step: int, *, optimizer, scheduler, state: dict,
                    full_state: tuple[dict | None, dict] | None = None) -> Path:
    """HF format (adapters only for LoRA) plus what resuming needs (optimizer, scheduler, RNG, step),
    written to a temp name and renamed into place only when whole. `full_state`: (weights or None,
    optimizer state) gathered whole from sharded ranks (`distributed.Trainee.full_state`), saved
    instead of the model's and the optimizer's own, in the same layout."""
    import torch

    weights, optimizer_state = full_state or (None, optimizer.state_dict())
    root.mkdir(parents=True, exist_ok=True)
    final, tmp = checkpoints.torch_dir(root, step), checkpoints.torch_tmp_dir(root, step)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(tmp, safe_serialization=True, state_dict=weights)
        tokenizer.save_pretrained(tmp)
        torch.save({"state": dict(state), "optimizer": optimizer_state, "scheduler": scheduler.state_dict(),
                    "rng": rng_state()}, tmp / checkpoints.TRAINER_STATE)
    except Exception as e:
        # safetensors and torch report a full disk in their own exception types: say it plainly.
        if "No space left on device" in str(e) and not isinstance(e, OSError):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp)) from e
        raise
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def latest_checkpoint(root: Path, log=None) -> Path | None:
    """The newest whole checkpoint under `root`; temp leftovers of a write cut short are removed,
    with a warning."""
    checkpoints.drop_torn(root, "torch", log)
    whole = checkpoints.saved(root, "torch")
    return whole[-1][1] if whole else None


def load_checkpoint(path: Path, model, optimizer, scheduler, *, lora: bool) -> dict:
    load_weights(path, model, lora=lora)
    return load_trainer_state(path, optimizer, scheduler)


def load_trainer_state(path: Path, optimizer, scheduler, load_optimizer=None) -> dict:
    """A checkpoint's optimizer, scheduler and RNG state (`load_optimizer(optimizer, state)`: how,
    when not the optimizer's own `load_state_dict`); returns its step state."""
    import torch

    saved = torch.load(path / checkpoints.TRAINER_STATE, weights_only=False)
    if load_optimizer is None:
        optimizer.load_state_dict(saved["optimizer"])
    else:
        load_optimizer(optimizer, saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    set_rng_state(saved["rng"])
    return saved["state"]


def load_weights(path: Path, model, *, lora: bool) -> None:
    """A checkpoint's weights into `model`: the LoRA adapters, or every weight of a full fine-tune."""
    from safetensors.torch import load_file

    if lora:
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(path / "adapter_model.safetensors"))
    else:
        weights = {}
        for f in sorted(path.glob("model*.safetensors")):
            weights.update(load_file(f))
        missing, unexpected = model.load_state_dict(weights, strict=False)
        tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
        if unexpected or set(missing) - tied:
            raise RuntimeError(f"{path}: checkpoint does not match the model (missing {missing}, unexpected {unexpected})")


def restore(policy: Policy, root: Path, cfg: Config, log=None) -> int:
    """A finished run's final model into a freshly loaded policy (the backend contract's `restore`):
    the newest whole checkpoint under `root` (its last stage's); returns its step."""
    path = latest_checkpoint(root, log)
    if path is None:
        raise UserError(f"{root}: no checkpoint to evaluate; was the run trained with training.backend: torch?")
    load_weights(path, policy.model, lora=cfg.training.lora is not None)
    policy.model.eval()
    return int(path.name.split("-")[1])


def latest_step(root: Path, log=None, at_most: int | None = None) -> int:
    """The step of the newest whole checkpoint under `root` (0: none). This trainer logs a step's
    row before saving its checkpoint, so `at_most` (the Tunix backend's concern) is not needed."""
    path = latest_checkpoint(root, log)
    return int(path.name.split("-")[1]) if path else 0


def rng_state() -> dict:
    import numpy as np
    import torch

    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def set_rng_state(s: dict) -> None:
    import numpy as np
    import torch

    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
    torch.set_rng_state(s["torch"])
    if s["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
