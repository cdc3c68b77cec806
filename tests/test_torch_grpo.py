"""The PyTorch GRPO objective equals the Tunix stage's: advantages and aggregation on literals
against Tunix's own functions, and the loss on the tiny model (real torch, real JAX + Tunix) on
the fixture of test_tunix_grpo_learning."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from conftest import GRPO_SMOKE
from test_tunix_grpo_learning import COMPLETION, PAD, PROMPT, REWARDS
from tunix_nb.backends.torch import grpo
from tunix_nb.config import load_config


def test_group_advantages_on_literals():
    r = [1.0, 0.0, 0.5, 0.5, 2.0, 2.0, 2.0, 2.0]  # two groups of 4; the second has no spread
    a = grpo.group_advantages(r, 4)
    first = np.array(r[:4])
    assert np.allclose(a[:4], (first - 0.5) / (first.std(ddof=1) + 1e-6))
    assert np.allclose(a[4:], 0.0)  # equal rewards: no signal, not a division by zero
    assert np.allclose(grpo.group_advantages(r, 4, "dr_grpo"), [0.5, -0.5, 0, 0, 0, 0, 0, 0])
    assert np.allclose(grpo.group_advantages(r, 4, "dapo"), a)
    assert np.allclose(grpo.group_advantages(r, 2), [0.7071, -0.7071, 0, 0, 0, 0, 0, 0], atol=1e-4)


@pytest.mark.parametrize("loss", ["grpo", "dr_grpo", "dapo"])
def test_advantages_and_aggregation_equal_tunixs(loss):
    import jax.numpy as jnp
    from tunix.rl import common, function_registry

    from tunix_nb.backends.tunix import grpo as tunix_grpo

    cfg = load_config(GRPO_SMOKE, [f"grpo.loss={loss}", "grpo.num_generations=4", "grpo.micro_batch_size=null",
                                   f"grpo.beta={0 if loss == 'dapo' else 0.04}"])
    config, _ = tunix_grpo.algo_config(cfg.grpo)
    rewards = np.array([0.3, 1.0, 0.0, 0.7, 0.2, 0.2, 0.9, 0.1])
    theirs = function_registry.get_advantage_estimator(config.advantage_estimator)(rewards=rewards, num_generations=4)
    assert np.allclose(grpo.group_advantages(rewards, 4, loss), theirs, atol=1e-6)
    assert grpo.VARIANTS[loss][1] == config.loss_agg_mode
    per_token = np.sin(np.arange(24.0)).reshape(4, 6)
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]], dtype=np.float32)
    ours = grpo.aggregate(torch.tensor(per_token, dtype=torch.float32), torch.tensor(mask), config.loss_agg_mode)
    ref = common.aggregate_loss(jnp.asarray(per_token, jnp.float32), jnp.asarray(mask), config.loss_agg_mode)
    assert float(ours) == pytest.approx(float(ref), abs=1e-6)


def test_loss_on_the_tiny_model_equals_the_tunix_stages(tiny_model_dir):
    """The same weights (the tiny model; Tunix's LoRA starts at B = 0, so its policy is the base),
    prompts, completions, rewards and reference log-probs: the two backends' losses agree (fp32)."""
    import jax.numpy as jnp
    from transformers import AutoModelForCausalLM
    from tunix.rl import common, function_registry

    from tunix_nb import models
    from tunix_nb.backends.tunix import grpo as tunix_grpo
    from tunix_nb.backends.tunix import load

    cfg = load_config(GRPO_SMOKE, ["grpo.beta=0.1", "grpo.num_generations=4", "grpo.micro_batch_size=null"])
    g = cfg.grpo
    config, _ = tunix_grpo.algo_config(g)
    config.temperature = g.temperature
    advantages = grpo.group_advantages(REWARDS, g.num_generations, g.loss)
    prompt, completion = torch.tensor(PROMPT), torch.tensor(COMPLETION)
    mask = completion != PAD

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, torch_dtype=torch.float32, attn_implementation="eager")
    logps = grpo.completion_logps(model, prompt, completion, pad_id=PAD, temperature=g.temperature)
    # A reference that differs from the policy (as after some training), the same on both sides.
    ref = (logps.detach() + 0.3 * torch.sin(torch.arange(logps.numel(), dtype=torch.float32)).reshape(logps.shape))
    ref = ref.masked_fill(~mask, 0.0)
    ours, kl = grpo.grpo_loss(logps, torch.tensor(advantages), mask, epsilon=g.epsilon, epsilon_high=g.clip_high,
                              beta=g.beta, loss=g.loss, ref_logps=ref)

    policy = load.load(cfg, models.resolve_source(cfg.model.source), SimpleNamespace(dtype="fp32"))
    example = common.TrainExample(prompt_ids=jnp.array(PROMPT, jnp.int32), prompt_mask=jnp.array(PROMPT) != PAD,
                                  completion_ids=jnp.array(COMPLETION, jnp.int32),
                                  completion_mask=jnp.array(COMPLETION) != PAD,
                                  ref_per_token_logps=jnp.asarray(ref.numpy()),
                                  advantages=jnp.asarray(advantages, jnp.float32), old_per_token_logps=None)
    theirs, aux = function_registry.get_policy_loss_fn(config.policy_loss_fn)(policy.model, example, algo_config=config,
                                                                              pad_id=PAD, eos_id=1)
    assert abs(float(theirs)) > 1e-3 and float(kl) > 1e-3  # both terms matter
    assert float(ours.detach()) == pytest.approx(float(theirs), abs=1e-6)  # measured: 7e-10 apart
    assert float(kl) == pytest.approx(float(aux["kl"]), abs=1e-6)
    # and the loss carries the policy's gradient (the ratio is 1 in value only)
    ours.backward()
    assert max(float(p.grad.abs().max()) for p in model.parameters() if p.grad is not None) > 1e-4
