"""The Tunix GRPO stage's objective and learning, in process: the loss and gradients our wiring
computes are the GRPO objective computed by hand (fp32), and GRPO raises a reward the random tiny
model can reach, for two seeds. Real JAX, real Tunix. (Whole runs: test_tunix_grpo.py.)

Its own file, so it runs on another worker than the notebook-sharing runs of test_tunix_grpo."""

from types import SimpleNamespace

import numpy as np
import pytest

from conftest import COMPLETION, GRPO_SMOKE, PAD, PROMPT, REWARDS, ROOT, hand_logps, vowels
from tunix_nb.config import load_config
from tunix_nb.evidence import read_jsonl


# --- the loss is the GRPO objective --------------------------------------------------------------

def test_loss_and_gradients_equal_the_grpo_formula(tiny_model_dir):
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from tunix.rl import common, function_registry

    from tunix_nb import models
    from tunix_nb.backends.tunix import grpo, load

    cfg = load_config(GRPO_SMOKE, ["grpo.beta=0.1", "grpo.num_generations=4", "grpo.micro_batch_size=null"])
    g = cfg.grpo
    policy = load.load(cfg, models.resolve_source(cfg.model.source), SimpleNamespace(dtype="fp32"))
    # Move the adapters off zero, so the policy differs from the reference and the KL term matters.
    lora = nnx.state(policy.model, nnx.LoRAParam)
    nnx.update(policy.model, jax.tree.map(lambda x: x + 0.05 * jnp.sin(jnp.arange(x.size).reshape(x.shape)), lora))
    pad = PAD
    prompt, completion = jnp.array(PROMPT, dtype=jnp.int32), jnp.array(COMPLETION, dtype=jnp.int32)
    rewards = np.array(REWARDS)
    config, _ = grpo.algo_config(g)
    config.temperature = g.temperature  # what GRPOLearner sets from the rollout config
    advantages = function_registry.get_advantage_estimator(config.advantage_estimator)(
        rewards=rewards, num_generations=g.num_generations)
    tokens = jnp.concatenate([prompt, completion], axis=1)
    mask = tokens != pad
    cmask = (completion != pad).astype(jnp.float32)
    ref = hand_logps(policy.reference, tokens, mask, completion.shape[1], g.temperature)
    example = common.TrainExample(prompt_ids=prompt, prompt_mask=prompt != pad, completion_ids=completion,
                                  completion_mask=completion != pad, ref_per_token_logps=ref,
                                  advantages=jnp.asarray(advantages, jnp.float32), old_per_token_logps=None)
    loss_fn = function_registry.get_policy_loss_fn(config.policy_loss_fn)

    def ours(model):
        return loss_fn(model, example, algo_config=config, pad_id=pad, eos_id=1)[0]

    def by_hand(model):
        logp = hand_logps(model, tokens, mask, completion.shape[1], g.temperature)
        ratio = jnp.exp(logp - jax.lax.stop_gradient(logp))  # one policy update per rollout batch: ratio 1
        adv = jnp.asarray(advantages, jnp.float32)[:, None]
        surrogate = jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - g.epsilon, 1 + g.clip_high) * adv)
        kl = jnp.exp(ref - logp) - (ref - logp) - 1  # the low-variance KL estimator
        per_token = -surrogate + g.beta * kl
        return jnp.mean((per_token * cmask).sum(-1) / cmask.sum(-1))  # mean over sequences of token means

    # Group-normalised advantages: (r - mean) / (std + 1e-6), std with ddof 1.
    assert np.allclose(advantages, (rewards - rewards.mean()) / (rewards.std(ddof=1) + 1e-6), atol=1e-6)
    loss_a, grad_a = nnx.value_and_grad(ours, argnums=nnx.DiffState(0, nnx.LoRAParam))(policy.model)
    loss_b, grad_b = nnx.value_and_grad(by_hand, argnums=nnx.DiffState(0, nnx.LoRAParam))(policy.model)
    assert abs(float(loss_a) - float(loss_b)) < 1e-5 and abs(float(loss_a)) > 1e-4
    leaves_a, leaves_b = jax.tree.leaves(grad_a), jax.tree.leaves(grad_b)
    assert len(leaves_a) == len(leaves_b) > 0
    assert max(float(jnp.max(jnp.abs(a - b))) for a, b in zip(leaves_a, leaves_b)) < 1e-5
    assert max(float(jnp.max(jnp.abs(a))) for a in leaves_a) > 1e-4  # the gradient is not trivially zero


# --- GRPO learns ---------------------------------------------------------------------------------

# One seed here and another on the PyTorch stage (test_torch_grpo, the same settings): the two
# stages optimise one objective (test_loss_and_gradients_equal_the_grpo_formula and its PyTorch
# twin), so the two runs are two seeds of one claim, where a single lucky seed would prove little.
# Seeds 1-3 measured on each (below) rose alike; every further seed cost make test ~40 s.
@pytest.mark.parametrize("seed", [1])
def test_grpo_raises_a_reachable_reward(tmp_path, tiny_model_dir, seed):
    from tunix_nb import data, inputs, models
    from tunix_nb.backends.tunix import grpo, load
    from tunix_nb.evidence import Run
    from tunix_nb.stages import grpo_stage

    steps = 16
    cfg = load_config(GRPO_SMOKE, [f"training.seed={seed}", "training.max_steps=0", "eval.compare_base=false",
                                   f"grpo.max_steps={steps}", "grpo.learning_rate=1e-2", "grpo.lr_schedule=constant",
                                   "grpo.beta=0",
                                   "grpo.num_generations=8", "grpo.prompts_per_step=4", "grpo.micro_batch_size=32",
                                   "grpo.temperature=1.0",
                                   "grpo.max_new_tokens=8", "grpo.overlong_soft_tokens=4", "grpo.save_every=null",
                                   f"output.root={tmp_path}", f"output.run_id=learn{seed}"])
    source = models.resolve_source(cfg.model.source)
    tok = models.load_tokenizer(source.path)
    records = inputs.load_records(ROOT / cfg.data.train_file, "train")
    prompts, _ = data.grpo_prompts(records, tok, cfg.grpo.max_prompt_len)
    policy = load.load(cfg, source, SimpleNamespace(dtype="fp32"))
    run = Run.create(cfg, plan={}, model_source=source.to_dict(), datasets={})
    with run.guard():
        grpo.train(cfg, policy, tok, prompts, grpo_stage(run, cfg), plan=SimpleNamespace(dtype="fp32"), root=run.dir / "checkpoints",
                   rewards=[vowels])
    curve = [r["reward_mean"] for r in read_jsonl(run.dir / "metrics.jsonl")]
    assert len(curve) == steps
    # Measured (seeds 1-3, 32 rollouts a step): the mean of the first 4 steps ~0.30, of the last 4
    # +0.078 / +0.086 / +0.090 above it, rising steadily. The earlier 12 steps at lr 3e-2 (cosine)
    # gained +0.06 to +0.11 on one machine but only +0.01 / +0.02 (seeds 2, 3) on another, whose
    # CPU rounds differently: that lr overshoots and falls back (per-step noise ~0.03).
    first, last = np.mean(curve[:4]), np.mean(curve[-4:])
    assert last > first + 0.04, curve
