"""The Tunix GRPO stage: the loss our wiring computes is the GRPO objective (by hand, fp32), and
a real SFT -> GRPO run on the tiny model leaves both stages' rows, scorecards and checkpoints,
with the largest CKPT_DIR/actor/<step> GRPO's. Real JAX, real Tunix, a real CLI subprocess."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import ROOT, run_cli
from tunix_nb.config import load_config
from tunix_nb.evidence import read_jsonl

GRPO_SMOKE = ROOT / "training" / "configs" / "smoke_tiny_tunix_grpo.yaml"
SFT_STEPS, GRPO_STEPS = 4, 4
FAST = ["--set", f"training.max_steps={SFT_STEPS}", "--set", "training.warmup_steps=1", "--set", "training.save_every=2",
        "--set", f"grpo.max_steps={GRPO_STEPS}", "--set", "grpo.save_every=2", "--set", "grpo.max_new_tokens=24",
        "--set", "grpo.overlong_soft_tokens=8", "--set", "eval.limit=6", "--set", "eval.max_new_tokens=24",
        "--set", "eval.batch_size=6"]


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory, cache_dir):
    root = tmp_path_factory.mktemp("grpo-runs")
    res = run_cli("run", "--config", str(GRPO_SMOKE), "--run-id", "g", "--set", f"output.root={root}", *FAST)
    assert res.returncode == 0, res.stderr[-3000:]
    return root / "g"


def test_sft_then_grpo_rows_each_step_once(grpo_run):
    rows = read_jsonl(grpo_run / "metrics.jsonl")
    assert [r["step"] for r in rows if r["stage"] == "sft"] == list(range(1, SFT_STEPS + 1))
    grpo = [r for r in rows if r["stage"] == "grpo"]
    assert [r["step"] for r in grpo] == list(range(1, GRPO_STEPS + 1))
    for r in grpo:
        assert {"reward_mean", "reward_std", "kl", "completion_len_mean", "tokens_per_s", "elapsed_s",
                "reward/format_exact", "reward/answer_correct", "reward/overlong"} <= set(r)
        assert 0 < r["completion_len_mean"] and r["kl"] >= 0
        # The total is the weighted sum of the rewards logged one by one.
        weights = load_config(GRPO_SMOKE).grpo.rewards
        assert r["reward_mean"] == pytest.approx(sum(w * r[f"reward/{k}"] for k, w in weights.items()), abs=1e-4)
    assert grpo[-1]["elapsed_s"] > grpo[0]["elapsed_s"]


def test_the_largest_judged_step_is_grpos(grpo_run):
    actor = grpo_run / "checkpoints" / "actor"
    steps = sorted(int(p.name) for p in actor.iterdir() if p.name.isdigit())
    assert steps[-1] == GRPO_STEPS and (actor / str(GRPO_STEPS) / "model_params").is_dir()
    sft = sorted(int(p.name) for p in (grpo_run / "checkpoints" / "sft" / "actor").iterdir() if p.name.isdigit())
    assert sft[-1] == SFT_STEPS  # SFT's checkpoints stay out of the judged actor/ folder
    manifest = json.loads((grpo_run / "run_manifest.json").read_text())
    assert manifest["status"] == "complete"
    assert manifest["time_budget"]["sft"]["trained_steps"] == SFT_STEPS
    assert manifest["time_budget"]["grpo"]["trained_steps"] == GRPO_STEPS


def test_every_stage_is_scored_on_the_same_items(grpo_run):
    summary = json.loads((grpo_run / "eval_summary.json").read_text())
    assert list(summary["stages"]) == ["base", "sft", "grpo"]
    assert summary["overall"] == summary["stages"]["grpo"]["overall"]
    ids = {stage: [r["id"] for r in read_jsonl(grpo_run / f"predictions_{stage}.jsonl")] for stage in summary["stages"]}
    assert ids["base"] == ids["sft"] == ids["grpo"] and len(ids["base"]) == 6
    assert (grpo_run / "reward_curve.png").stat().st_size > 0


# --- the loss is the GRPO objective --------------------------------------------------------------

def hand_logps(model, tokens, mask, n_completion, temperature):
    """Per-token log-probs of the completion, computed here: positions from the mask, a causal mask
    over real tokens, the model's logits scaled by the rollout temperature."""
    import jax
    import jax.numpy as jnp

    positions = jnp.maximum(jnp.cumsum(mask, axis=-1) - 1, 0)
    causal = jnp.tril(jnp.ones((tokens.shape[1], tokens.shape[1]), dtype=bool))
    attn = causal[None] & mask[:, None, :].astype(bool)
    logits, _ = model(tokens, positions, None, attn)
    logits = logits[:, -n_completion - 1:-1].astype(jnp.float32) / temperature
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, tokens[:, -n_completion:, None], axis=-1)[..., 0]


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
    pad = 0
    prompt = jnp.array([[pad, pad, 2, 40, 41], [pad, 2, 50, 51, 52]] * 2, dtype=jnp.int32)  # left-padded
    completion = jnp.array([[60, 61, 62, 106, pad, pad], [70, 71, 106, pad, pad, pad],
                            [80, 81, 82, 83, 84, 106], [90, 106, pad, pad, pad, pad]], dtype=jnp.int32)
    rewards = np.array([1.0, 0.0, 0.5, 0.25])
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
