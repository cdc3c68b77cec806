"""Tunix (JAX) model loading: HF Gemma 2 / Gemma 3 safetensors folders and Kaggle Flax Gemma 2,
qwix LoRA on the configured modules, and the fsdp x tp mesh over every device.

`build_lora_policy` builds the model the way the Kaggle notebook's judges rebuild it, so the
checkpoints our stages write restore into it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ... import models
from ...config import Config, LoraConfig
from ...errors import UserError
from ..common import Policy

# HF Gemma module names (what training.lora.target_modules lists) -> Tunix's Gemma modules.
# k_proj and v_proj are one fused kv_einsum in Tunix: naming either adapts both.
_TUNIX_MODULES = {"q_proj": "q_einsum", "k_proj": "kv_einsum", "v_proj": "kv_einsum",
                  "o_proj": "attn_vec_einsum", "gate_proj": "gate_proj", "up_proj": "up_proj",
                  "down_proj": "down_proj"}


# --- model ---------------------------------------------------------------------------------

def tunix_model_config(path: Path, tensor_parallel: int = 1):
    """("gemma2" | "gemma3", Tunix's ModelConfig) for an HF Gemma 2 / Gemma 3 folder (from its
    config.json) or a Kaggle Flax Gemma 2 folder (from its weights' shapes).

    Refuses what Tunix's Gemma code cannot express (another architecture, a layer pattern other
    than the one it hard-wires) rather than computing a different function."""
    checkpoint = models.flax_checkpoint(path)
    if checkpoint is not None:
        return "gemma2", flax_model_config(checkpoint, tensor_parallel)
    cfg = json.loads((path / "config.json").read_text())
    cfg = cfg.get("text_config", cfg)
    kind = cfg.get("model_type")
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    if heads % tensor_parallel or kv_heads % tensor_parallel:
        raise UserError(f"training.tensor_parallel: {tensor_parallel} does not divide the model's {heads} "
                        f"attention heads and {kv_heads} KV heads; use 1 (all devices on the fsdp axis)")
    common = dict(num_layers=cfg["num_hidden_layers"], num_embed=cfg["vocab_size"], embed_dim=cfg["hidden_size"],
                  hidden_dim=cfg["intermediate_size"], num_heads=heads, head_dim=cfg["head_dim"],
                  num_kv_heads=kv_heads, sliding_window_size=cfg.get("sliding_window"))
    layer_types = cfg.get("layer_types")
    if kind in ("gemma3_text", "gemma3"):
        from tunix.models.gemma3 import model as g3

        pattern = ["full_attention" if t == g3.AttentionType.GLOBAL else "sliding_attention"
                   for _, t in zip(range(common["num_layers"]), _cycle(g3.GEMMA3_ATTENTION_PATTERN))]
        if layer_types and list(layer_types) != pattern:
            raise UserError(f"model.source: {path.name} has layer_types {layer_types}, but Tunix's Gemma 3 "
                            f"code fixes the pattern to {pattern}; use backend: torch for this model")
        rope = cfg.get("rope_parameters") or {}
        scaling = (rope.get("full_attention") or {}).get("factor") or (cfg.get("rope_scaling") or {}).get("factor")
        norm = (g3.QueryPreAttentionNormalisation.BY_ONE_OVER_SQRT_HEAD_DIM
                if cfg.get("query_pre_attn_scalar", cfg["head_dim"]) == cfg["head_dim"]
                else g3.QueryPreAttentionNormalisation.BY_ONE_OVER_SQRT_EMBED_DIM_DIV_NUM_HEADS)
        return "gemma3", g3.ModelConfig(
            **common,
            local_base_frequency=int((rope.get("sliding_attention") or {}).get("rope_theta",
                                                                             cfg.get("rope_local_base_freq", 10_000))),
            global_base_frequency=int((rope.get("full_attention") or {}).get("rope_theta",
                                                                           cfg.get("rope_theta", 1_000_000))),
            global_scale_factor=float(scaling or 1.0), query_pre_attn_norm=norm,
            shd_config=g3.ShardingConfig.get_default_sharding())
    if kind == "gemma2":
        from tunix.models.gemma import model as g2

        types = [g2.AttentionType.GLOBAL if t == "full_attention" else g2.AttentionType.LOCAL_SLIDING
                 for t in (layer_types or ["sliding_attention", "full_attention"] * (common["num_layers"] // 2))]
        if cfg.get("query_pre_attn_scalar", cfg["head_dim"]) != cfg["head_dim"]:
            raise UserError(f"model.source: {path.name} scales queries by query_pre_attn_scalar="
                            f"{cfg['query_pre_attn_scalar']}, which Tunix's Gemma 2 code does not; use backend: torch")
        return "gemma2", g2.ModelConfig(
            **common, final_logit_softcap=cfg.get("final_logit_softcapping"),
            attn_logits_soft_cap=cfg.get("attn_logit_softcapping"), use_post_attn_norm=True,
            use_post_ffw_norm=True, attention_types=tuple(types))
    raise UserError(f"model.source: {path.name} is a {kind!r} model; the Tunix backend loads Gemma 2 and "
                    "Gemma 3 (HF safetensors folders); use backend: torch for others")


def flax_model_config(checkpoint: Path, tensor_parallel: int = 1):
    """Gemma 2 from a Kaggle Flax checkpoint: sizes from the weights' shapes, the rest (soft-caps,
    alternating local/global attention, 4096 window, post norms) is what every Gemma 2 size shares."""
    from tunix.models.gemma import model as g2

    if not re.match(r"gemma-?2", checkpoint.name):
        raise UserError(f"model.source: {checkpoint.parent} holds {checkpoint.name!r}; the Tunix backend reads "
                        "Kaggle's Flax checkpoints of Gemma 2 (e.g. kaggle:google/gemma-2/flax/gemma2-2b-it)")
    shapes = models.flax_shapes(checkpoint)
    layers = len({k.split("/")[1] for k in shapes if k.split("/")[1].startswith("layer_")})
    vocab, embed = shapes["transformer/embedder/input_embedding"]
    heads, _, head_dim = shapes["transformer/layer_0/attn/q_einsum/w"]
    kv_heads = shapes["transformer/layer_0/attn/kv_einsum/w"][1]
    if heads % tensor_parallel or kv_heads % tensor_parallel:
        raise UserError(f"training.tensor_parallel: {tensor_parallel} does not divide the model's {heads} "
                        f"attention heads and {kv_heads} KV heads; use 1 (all devices on the fsdp axis)")
    return g2.ModelConfig(
        num_layers=layers, num_embed=vocab, embed_dim=embed, num_heads=heads, head_dim=head_dim,
        num_kv_heads=kv_heads, hidden_dim=shapes["transformer/layer_0/mlp/gating_einsum/w"][-1],
        final_logit_softcap=30.0, attn_logits_soft_cap=50.0, use_post_attn_norm=True, use_post_ffw_norm=True,
        attention_types=(g2.AttentionType.LOCAL_SLIDING, g2.AttentionType.GLOBAL) * (layers // 2),
        sliding_window_size=4096)


def _cycle(pattern):
    while True:
        yield from pattern


def jax_dtype(dtype: str):
    import jax.numpy as jnp

    return jnp.bfloat16 if dtype == "bf16" else jnp.float32


def load_model(path: Path, *, dtype: str, tensor_parallel: int = 1, remat: bool = False):
    """(model, model_config): the base model in Tunix, weights in `dtype` (bf16 on TPU/GPU, fp32 on CPU);
    `remat` recomputes each decoder block in the backward pass (training.gradient_checkpointing)."""
    import dataclasses

    family, model_config = tunix_model_config(path, tensor_parallel)
    checkpoint = models.flax_checkpoint(path)
    if checkpoint is not None:
        model = _load_flax(checkpoint, model_config, dtype=dtype, remat=remat)
        return model, model.config
    if family == "gemma3":
        from tunix.models.gemma3 import model as lib
        from tunix.models.gemma3 import params_safetensors as loader

        model_config = dataclasses.replace(model_config, param_dtype=jax_dtype(dtype))
    else:
        from tunix.models.gemma import model as lib
        from tunix.models.gemma import params_safetensors as loader
    if remat:
        model_config = dataclasses.replace(model_config, remat_config=lib.RematConfig.BLOCK)
    model = loader.create_model_from_safe_tensors(str(path), model_config, mesh=None, dtype=jax_dtype(dtype))
    return model, model_config


def _load_flax(checkpoint: Path, model_config, *, dtype: str, remat: bool):
    """Tunix's own route for Kaggle's Flax Gemma (`params.load_and_format_params`, then the linen ->
    nnx mapping `Gemma.from_params` uses), with our shape-derived config instead of a named preset."""
    import dataclasses

    import jax
    from flax import nnx
    from tunix.models.gemma import model as g2
    from tunix.models.gemma import params as params_lib

    if remat:
        model_config = dataclasses.replace(model_config, remat_config=g2.RematConfig.BLOCK)
    params = params_lib.load_and_format_params(str(checkpoint))
    model = g2.module_from_linen_variables(
        module_factory=lambda: g2.Gemma(model_config, rngs=nnx.Rngs(params=0)), variables=params["transformer"],
        map_key_fn=g2._map_linen_var_names, assign_val_fn=g2._assign_linen_params_to_nnx_state)
    state = nnx.state(model)
    nnx.update(model, jax.tree.map(lambda x: x.astype(jax_dtype(dtype)), state))
    return model


def qwix_module_path(targets: Sequence[str]) -> str:
    """The qwix `module_path` regex for HF-named LoRA targets (see _TUNIX_MODULES)."""
    unknown = [t for t in targets if t not in _TUNIX_MODULES]
    if unknown:
        raise UserError(f"training.lora.target_modules: {', '.join(unknown)} has no Tunix counterpart; "
                        f"the Tunix backend adapts {', '.join(_TUNIX_MODULES)}")
    names = sorted({_TUNIX_MODULES[t] for t in targets})
    return "|".join(f".*{n}" for n in names)


def apply_lora(model, lora: LoraConfig, seed: int):
    """qwix LoRA on the configured modules; only the `nnx.LoRAParam`s then train."""
    import qwix
    from flax import nnx

    provider = qwix.LoraProvider(module_path=qwix_module_path(lora.target_modules), rank=lora.rank,
                                 alpha=float(lora.alpha))
    return qwix.apply_lora_to_model(model, provider, rngs=nnx.Rngs(seed), **model.get_model_input())


def split_devices(cfg: Config) -> tuple[list, list]:
    """(the policy's devices, the judge's): with grpo.judge_devices = k the judge gets the last k
    devices, a sub-mesh of its own, and policy + reference the others; otherwise they share all."""
    import jax

    devices = jax.devices()
    k = cfg.grpo.judge_devices if cfg.grpo is not None else None
    return (devices[:-k], devices[-k:]) if k else (devices, devices)


def make_mesh(tensor_parallel: int = 1, devices=None):
    """`devices` (default: all): `fsdp` over devices // tp, `tp` over tensor_parallel (8 x 1 on a v5e-8)."""
    import jax

    devices = jax.devices() if devices is None else list(devices)
    if len(devices) % tensor_parallel:
        raise UserError(f"training.tensor_parallel: {tensor_parallel} does not divide the {len(devices)} devices")
    grid = np.array(devices).reshape(len(devices) // tensor_parallel, tensor_parallel)
    return jax.sharding.Mesh(grid, ("fsdp", "tp"))


def shard_model(model, mesh) -> None:
    """Place every weight by its partition spec (the model's ShardingConfig) on the mesh."""
    import jax
    from flax import nnx

    state = nnx.state(model)
    nnx.update(model, jax.device_put(state, nnx.get_named_sharding(state, mesh)))


def check(cfg: Config, source_path: Path) -> None:
    """Refuse, before anything is written, a model or LoRA targets the Tunix backend cannot handle, a
    judge sub-mesh that leaves the policy no devices, and preference batches its mesh cannot split."""
    import jax

    tunix_model_config(source_path, cfg.training.tensor_parallel)
    if cfg.training.lora is not None:
        qwix_module_path(cfg.training.lora.target_modules)
    n, tp = len(jax.devices()), cfg.training.tensor_parallel
    k = cfg.grpo.judge_devices if cfg.grpo is not None else None
    if k and k >= n:
        raise UserError(f"grpo.judge_devices: {k} of this machine's {n} devices leaves none for the policy; "
                        f"use at most {n - 1} (e.g. 4 of a v5e-8's 8), or null to share the devices")
    if k and (n - k) % tp:
        raise UserError(f"grpo.judge_devices: the {n - k} devices left for the policy are not a multiple of "
                        f"training.tensor_parallel ({tp}); change one of them")
    data_parallel = (n - (k or 0)) // tp
    if cfg.preference is not None and cfg.preference.pairs_per_step % data_parallel:
        raise UserError(f"preference.pairs_per_step: {cfg.preference.pairs_per_step} pairs cannot be split over the "
                        f"policy's {data_parallel} data-parallel devices; use a multiple of {data_parallel}")


def build_lora_policy(cfg: Config, source_path: Path, dtype: str, *, with_base: bool = False):
    """The model the judges restore into, built the notebook's way: base weights, then LoRA (if any),
    sharded over the mesh. Returns (lora_policy, model_config, mesh), and the base model (which
    shares the policy's backbone arrays) last when `with_base`."""
    t = cfg.training
    base, model_config = load_model(source_path, dtype=dtype, tensor_parallel=t.tensor_parallel,
                                    remat=t.gradient_checkpointing)
    model, mesh = place_policy(base, t.lora, t.seed, t.tensor_parallel, with_base=with_base,
                               devices=split_devices(cfg)[0])
    return (model, model_config, mesh, base) if with_base else (model, model_config, mesh)


def place_policy(base, lora: LoraConfig | None, seed: int, tensor_parallel: int = 1, *, with_base: bool = False,
                 devices=None):
    """A built base model with LoRA (if any) added and sharded over the mesh of `devices` (default:
    all): (policy, mesh). `with_base`: the base is placed first, so the policy's backbone is those
    very arrays (no second copy) and the base can serve as the reference."""
    mesh = make_mesh(tensor_parallel, devices)
    with mesh:
        if with_base:
            shard_model(base, mesh)
        model = apply_lora(base, lora, seed) if lora is not None else base
        shard_model(model, mesh)
    return model, mesh


def load(cfg: Config, source: models.ModelSource, plan) -> Policy:
    """The backend contract's `load`: the LoRA policy on its mesh (see build_lora_policy)."""
    model, model_config, mesh, base = build_lora_policy(cfg, source.path, plan.dtype, with_base=True)
    return Policy(model=model, config=model_config, mesh=mesh, reference=base if base is not model else None,
                  path=source.path)
