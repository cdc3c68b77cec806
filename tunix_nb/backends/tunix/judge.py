"""The judge model on the Tunix backend: loaded like the policy's base (Tunix's Gemma), frozen, and
sharded over a mesh of its own devices when `grpo.judge_devices` is set (the last k devices; policy
and reference hold the others: 1st place of the Tunix Hack ran policy and judge on separate meshes
of one v5e-8), giving `tunix_nb.judge.Judge` the log-probs of the token after each row. Rows are
left-padded to a width rounded up to 64 and their count to a power of two (a multiple of the
judge's devices), so the forward pass compiles for a few shapes only."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from .load import load_model, make_mesh, shard_model, split_devices
from .sft import round_up


def load_judge(cfg, source_path: Path, plan) -> Callable[[list[list[int]]], np.ndarray]:
    """The backend contract's `load_judge`: `next_logprobs(rows) -> (rows, vocab)` of the judge model
    at `source_path`, on its own sub-mesh (grpo.judge_devices) or the policy's devices."""
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from tunix.sft import utils

    model, _ = load_model(source_path, dtype=plan.dtype)
    devices = split_devices(cfg)[1]
    mesh = make_mesh(1, devices)
    with mesh:
        shard_model(model, mesh)
    rows_sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("fsdp"))

    @nnx.jit
    def forward(model, tokens, valid):
        logits, _ = model(tokens, utils.build_positions_from_mask(valid), None, utils.make_causal_attn_mask(valid))
        return jax.nn.log_softmax(logits[:, -1].astype(jnp.float32), axis=-1)

    def next_logprobs(rows: list[list[int]]) -> np.ndarray:
        width = round_up(max(map(len, rows)), 64)
        count = max(len(devices), 1 << (len(rows) - 1).bit_length())
        count = round_up(count, len(devices))
        tokens = np.zeros((count, width), np.int32)
        valid = np.zeros((count, width), bool)
        for i in range(count):
            row = rows[min(i, len(rows) - 1)]  # filler rows repeat the last one
            tokens[i, width - len(row):], valid[i, width - len(row):] = row, True
        with mesh:
            out = forward(model, jax.device_put(tokens, rows_sharding), jax.device_put(valid, rows_sharding))
        return np.asarray(out)[:len(rows)]

    next_logprobs.model, next_logprobs.mesh = model, mesh  # where the judge's arrays live (its sub-mesh)
    return next_logprobs
