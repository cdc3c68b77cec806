"""What the Tunix stages (SFT and preference through PeftTrainer, GRPO through RLCluster's trainer)
share: the scheduled AdamW of the preference and GRPO stages, the step hooks a stage fills in, and the backend contract's `latest_step` and `restore` over the
judges' checkpoint layout (`tunix_nb.checkpoints`: CKPT_DIR/actor/<step>/model_params)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ... import checkpoints
from ...checkpoints import ACTOR
from ...config import Config
from ...errors import UserError
from ..common import Policy


def adamw(learning_rate: float, factor, steps: int, *, b1: float = 0.9, b2: float = 0.999, weight_decay: float = 0.0,
          max_grad_norm: float | None = None):
    """optax AdamW whose learning rate is `learning_rate * factor(step)` (a `common.lr_lambda`, tabled
    for `steps` steps and injected, so it can be read back), after global-norm clipping (if any)."""
    import jax.numpy as jnp
    import optax

    factors = jnp.asarray([factor(s) for s in range(steps)], dtype=jnp.float32)
    inner = optax.inject_hyperparams(optax.adamw)(
        learning_rate=lambda count: learning_rate * factors[jnp.minimum(count, steps - 1)],
        b1=b1, b2=b2, eps=1e-8, weight_decay=weight_decay)
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), inner) if max_grad_norm is not None else inner


def step_hooks():
    """Tunix's TrainingHooks with every hook a no-op but on_train_step_end (which a stage writes)."""
    from tunix.sft import hooks

    class StepHooks(hooks.TrainingHooks):
        def on_train_start(self, trainer): pass
        def on_train_end(self, trainer): pass
        def on_train_step_start(self, trainer): pass
        def on_eval_step_start(self, trainer): pass
        def on_eval_step_end(self, trainer, eval_loss): pass

    return StepHooks


def latest_step(root: Path, log=None, at_most: int | None = None) -> int:
    """The newest whole orbax checkpoint's step under `root`/actor (0 if none); a write cut short
    is removed, with a warning. With `at_most` (the stage's last logged metrics step), newer
    checkpoints are removed too: Tunix logs a step's row only after the next step (or at the end),
    so a kill can leave a checkpoint whose row was never written, and resuming from it would
    skip that row for good; resuming from the older one retrains the step, identically."""
    checkpoints.drop_torn(root, "tunix", log)
    steps = [step for step, _ in checkpoints.saved(root, "tunix")]
    for step in [n for n in steps if at_most is not None and n > at_most]:
        if log:
            log.warning("discarding checkpoint %s/%d: killed before its metrics row was logged", ACTOR, step)
        shutil.rmtree(checkpoints.tunix_dir(root, step))
        steps.remove(step)
    return steps[-1] if steps else 0


def restore(policy: Policy, root: Path, cfg: Config, log=None) -> int:
    """A finished run's final model into a freshly built policy (the backend contract's `restore`),
    as the judges do it: the largest `root`/actor/<step>/model_params (LoRA params, or every param
    without LoRA, as PeftTrainer saves them) restored onto the policy's own state; returns the step."""
    import orbax.checkpoint as ocp
    from flax import nnx

    step = latest_step(root, log)
    if not step:
        raise UserError(f"{root / ACTOR}: no checkpoint to evaluate; was the run trained with training.backend: tunix?")
    abstract = nnx.state(policy.model, nnx.LoRAParam) if cfg.training.lora is not None else nnx.state(policy.model)
    nnx.update(policy.model, ocp.StandardCheckpointer().restore(str(checkpoints.tunix_params(root, step)),
                                                                 target=abstract))
    return step
