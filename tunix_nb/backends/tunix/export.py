"""A trained Tunix policy in the two layouts others load (the backend contract's `export_hf`, and
`save_upstream` for `tunix-nb export --format tunix`):

- HF: Tunix's own LoRA merge (`gemma3.params.save_lora_merged_model_as_safetensors`: the base
  model's safetensors with B @ A * alpha / r added, the other files copied);
- upstream Flax/orbax: the layout of Kaggle's Gemma 3 Flax checkpoints, which Tunix's
  `gemma3.params.create_model_from_checkpoint` reads (`transformer/layer_N/...` modules; the MLP's
  gate and up projections stacked as `gating_einsum`). It is the exact inverse of Tunix's
  `map_from_upstream_checkpoint` for a text-only Gemma 3.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...errors import UserError
from ..common import Policy
from .load import tunix_model_config

PARAMS = "params"  # <export>/params: the orbax checkpoint
CONFIG = "tunix_model_config.json"  # the ModelConfig fields Tunix needs (it cannot read config.json)


def check(cfg, source_path: Path, fmt: str) -> None:
    """Refuse, before anything is written, what these converters do not cover."""
    family, _ = tunix_model_config(source_path)
    if family != "gemma3":
        raise UserError(f"--format {fmt}: export covers Gemma 3 models (the competition's); this run's model is "
                        f"{family}; its checkpoints stay usable as the run wrote them")
    if cfg.training.backend != "tunix":
        return
    if cfg.training.lora is None:
        if fmt == "hf":
            raise UserError("--format hf: Tunix's merge writes LoRA runs; this run trained every weight "
                            "(training.lora: null); export it with --format tunix")
    elif not (source_path / "model.safetensors").is_file():  # both formats start from Tunix's merge
        raise UserError(f"--format {fmt}: Tunix's LoRA merge reads the base model's single model.safetensors, "
                        f"which {source_path} does not have")


def export_hf(policy: Policy, cfg, source_path: Path, out: Path) -> None:
    from tunix.models.gemma3 import params as gemma3_params

    lora = cfg.training.lora
    gemma3_params.save_lora_merged_model_as_safetensors(str(source_path), str(out), policy.model, lora.rank,
                                                        float(lora.alpha))


def save_upstream(model, model_config, out: Path) -> None:
    """`model` (an nnx Gemma 3 without LoRA layers) as `out/params` (orbax) and `out/CONFIG`."""
    import orbax.checkpoint as ocp
    from flax import nnx

    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(str((out / PARAMS).resolve()), upstream_params(nnx.to_pure_dict(nnx.state(model))))
    checkpointer.wait_until_finished()
    (out / CONFIG).write_text(json.dumps(config_fields(model_config), indent=1) + "\n")


def upstream_params(state: dict) -> dict:
    """Tunix's nnx state of a Gemma 3 (pure dict) -> {"transformer/<module path>": {param: array}}."""
    from flax import traverse_util

    flat = {key: np.asarray(value) for key, value in traverse_util.flatten_dict(state).items()}
    out: dict[str, dict] = {}
    for key, value in flat.items():
        if key[0] != "layers":  # embedder/input_embedding, final_norm/scale
            out.setdefault(f"transformer/{key[0]}", {})[key[1]] = value
            continue
        layer, modules, name = f"transformer/layer_{key[1]}", key[2:-1], key[-1]
        if modules == ("mlp", "gate_proj"):
            up = flat[(*key[:3], "up_proj", "kernel")]
            out[f"{layer}/mlp/gating_einsum"] = {"w": np.stack([value.T, up.T])}
        elif modules == ("mlp", "down_proj"):
            out[f"{layer}/mlp/linear"] = {"w": value}
        elif modules != ("mlp", "up_proj"):  # (the up projection went into gating_einsum)
            out.setdefault("/".join((layer, *modules)), {})[name] = value
    return out


def config_fields(model_config) -> dict:
    """The Gemma 3 ModelConfig's plain fields, as `ModelConfig(**fields)` takes them (the query
    normalisation by its enum name); sharding, remat and dtype are the loader's choice."""
    fields = {k: getattr(model_config, k) for k in ("num_layers", "num_embed", "embed_dim", "hidden_dim", "num_heads",
                                                    "head_dim", "num_kv_heads", "sliding_window_size",
                                                    "local_base_frequency", "global_base_frequency",
                                                    "local_scale_factor", "global_scale_factor")}
    return {**fields, "query_pre_attn_norm": model_config.query_pre_attn_norm.name}
