"""What one training step holds beyond the weights, counted on any device (a CPU here): the peak
of live tensor bytes (every storage an op creates, until it is freed; the weights and buffers
excluded) over the forward and the backward of the Gemma-2B shape at 512 tokens, fp32, with a
few and with more decoder layers, so the per-layer figure and the rest (the output layer's
logits, the gradients) separate. `device.estimate_memory` is checked against these figures and
against the H200's measured peaks (tests/test_device.py).

    python bench/activation_memory.py            # ~1 minute, ~8 GB of RAM
"""

from __future__ import annotations

import argparse
import weakref
from pathlib import Path

import common

CASES = {"full": ["training.optimizer=adamw"],
         "lora-r16": ["training.lora.rank=16", "training.optimizer=adamw"],
         "lora-r16-grad-ckpt": ["training.lora.rank=16", "training.optimizer=adamw",
                                "training.gradient_checkpointing=true"]}


def live_peak(model, batch, chunk: int) -> dict:
    """Peak live bytes (GiB) of new storages in the forward, and over forward + backward."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    from tunix_nb.backends.torch import sft as train_torch

    class Live(TorchDispatchMode):
        def __init__(self, existing):
            super().__init__()
            self.seen, self.live, self.peak = set(existing), 0, 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    storage = t.untyped_storage()
                    key, size = storage.data_ptr(), storage.nbytes()
                    if size and key not in self.seen:  # a view of a live storage is not new memory
                        self.seen.add(key)
                        self.live += size
                        self.peak = max(self.peak, self.live)
                        weakref.finalize(storage, self.free, key, size)
            return out

        def free(self, key, size):
            self.live -= size
            self.seen.discard(key)

    existing = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    with Live(existing) as mode:
        loss = train_torch.batch_loss_sum(model, batch, chunk)
        forward = mode.peak
        loss.backward()
    return {"forward_gib": round(forward / 2**30, 3), "step_gib": round(mode.peak / 2**30, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", default="2,4", help="decoder layer counts to measure (the rest of the shape is Gemma 2B's)")
    ap.add_argument("--tokens", type=int, default=512)
    ap.add_argument("--out-dir", default=str(common.RESULTS))
    ap.add_argument("--name", default="activation_memory_cpu")
    args = ap.parse_args()

    import torch

    from tunix_nb.config import load_config

    rows = []
    layers = [int(n) for n in args.layers.split(",")]
    for case, overrides in CASES.items():
        for n in layers:
            t = load_config(common.ROOT / "training/configs/submission_local_gpu.yaml",
                            [f"training.loss_chunk_size={args.tokens}", *overrides]).training
            model = common.training_model(t, "cpu", shape={**common.GEMMA_2B_SHAPE, "num_hidden_layers": n})
            ids = torch.randint(10, 1000, (1, args.tokens), generator=torch.Generator().manual_seed(0))
            batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}
            rows.append({"case": case, "layers": n, **live_peak(model, batch, t.loss_chunk_size)})
            print(rows[-1], flush=True)
            del model
    per_layer = {}
    for case in CASES:  # the forward's growth per decoder layer, per token, in units of hidden x 4 bytes
        a, b = (next(r for r in rows if r["case"] == case and r["layers"] == n) for n in (layers[0], layers[-1]))
        gib = (b["forward_gib"] - a["forward_gib"]) / (layers[-1] - layers[0])
        per_layer[case] = {"gib_per_layer": round(gib, 4),
                           "hidden_x_fp32_per_token": round(gib * 2**30 / args.tokens / (common.GEMMA_2B_SHAPE["hidden_size"] * 4), 1)}
    payload = {"bench": "activation_memory", "tokens": args.tokens, "dtype": "fp32", "rows": rows,
               "per_layer": per_layer, "environment": common.environment("cpu")}
    print(per_layer)
    print(f"results: {common.write_results(args.name, payload, Path(args.out_dir))}")


if __name__ == "__main__":
    main()
