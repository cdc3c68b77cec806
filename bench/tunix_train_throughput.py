"""Training throughput of tunix_nb's Tunix (JAX) SFT backend, on the GPU suite's prepared samples.

The code path is the backend's own: `backends.tunix.sft.train` (Tunix's PeftTrainer, our loss,
our optax optimizer, our fixed-shape micro-batches: lengths padded to multiples of 128, each
micro-batch holding at most --max-batch-tokens padded tokens), on the backend's mesh with the
weights placed by `load.shard_model` (and qwix LoRA by `load.apply_lora` with --lora-rank).
The model:

  gemma-2b-shape  a random-init Tunix Gemma (tunix.models.gemma) of the Gemma 2B shape
                  (bench/common.py GEMMA_2B_SHAPE: Tunix's gemma_2b preset with the 256,000-token
                  vocabulary of the PyTorch rows), bf16 weights on a GPU/TPU, full fine-tuning
  tiny            the same Tunix Gemma with tiny sizes (2 layers, hidden 128, a 4,096-token vocabulary:
                  sample ids past it are folded into it), for a CPU dry run of the same code path

Per sample set: samples/s, tokens/s (real tokens, padding excluded), MFU = 6 * params (all,
embeddings included) * tokens/s / the bf16 (fp32 on a CPU) matmul rate this script measures
with JAX, the device's peak memory, the compile seconds. XLA compiles one train step per batch
shape, so timing starts --warmup-steps steps after the last step that brought a new shape;
then --seconds of training, cut into --windows windows of equal length; each figure is the
median over the windows. One JSON (--out) with a row per sample set; a row that fails says so
(status "error") and the script still writes its JSON and exits 0.

    python bench/tunix_train_throughput.py --model gemma-2b-shape --samples records,anchor   # GPU
    python bench/tunix_train_throughput.py --model tiny --seconds 6 --windows 2 --out /tmp/t.json
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # before JAX: leave the GPU to others

import argparse
import dataclasses
import gc
import json
import platform
import re
import statistics
import tempfile
import time
import traceback
from pathlib import Path
from types import SimpleNamespace

import common

PRESETS = {"gemma-2b-shape": "training/configs/submission_tpu_gemma2_2b.yaml",
           "tiny": "training/configs/smoke_tiny_tunix.yaml"}
# Micro-batches: (max padded tokens, max rows). On a GPU: 16 rows of up to 640 tokens (the longest
# samples, padded) = 10,240 tokens; shorter buckets keep 16 rows. Tiny (CPU dry runs): 2 rows.
BATCH = {"gemma-2b-shape": (16 * 640, 16), "tiny": (2 * 640, 2)}
TINY_VOCAB = 4096  # the tiny model's: sample ids past it are folded into it
PAD_ID, BOS_ID = 0, 2  # Gemma's (and the tiny tokenizer's) <pad> and <bos>; the samples start with 2


class TimeUp(Exception):
    """Raised from the stage's step hook: the backend's loop has no stop hook of its own."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--samples", default="records,anchor", help="prepared sample sets, comma separated")
    ap.add_argument("--seconds", type=float, default=60.0, help="measured seconds per sample set, after warm-up")
    ap.add_argument("--windows", type=int, default=3, help="figures are medians over this many equal windows")
    ap.add_argument("--warmup-steps", type=int, default=3,
                    help="steps excluded after the last step that compiled a new batch shape")
    ap.add_argument("--max-batch-tokens", type=int, default=None,
                    help="padded tokens per micro-batch, at most (training.max_batch_tokens; default: "
                         + ", ".join(f"{m} {b[0]}" for m, b in BATCH.items()) + "; 0: no limit)")
    ap.add_argument("--micro-batch-size", type=int, default=None,
                    help="rows per micro-batch, at most (training.micro_batch_size; default: "
                         + ", ".join(f"{m} {b[1]}" for m, b in BATCH.items()) + "; 0: no limit)")
    ap.add_argument("--grad-accum", type=int, default=1)
    ap.add_argument("--lora-rank", type=int, default=0, help="qwix LoRA of this rank (0: full fine-tuning)")
    ap.add_argument("--lora-alpha", type=float, default=None, help="default: the rank")
    ap.add_argument("--optimizer", default="adamw", choices=["adamw", "adafactor"])
    ap.add_argument("--remat", action="store_true", help="training.gradient_checkpointing (remat per block)")
    ap.add_argument("--dtype", default="auto", choices=["auto", "bf16", "fp32"],
                    help="auto: bf16 on a GPU/TPU, fp32 on a CPU")
    ap.add_argument("--max-steps", type=int, default=1000,
                    help="the planned schedule's length (an upper bound: the run stops at its deadline)")
    ap.add_argument("--compile-cache", default=None,
                    help="JAX persistent compilation cache folder (default: a temporary one, so the second "
                         "sample set reuses the first one's compiled steps)")
    ap.add_argument("--out", type=Path, default=None,
                    help="results JSON (default bench/results/tunix_train_<model>_<device>.json)")
    args = ap.parse_args()
    default_tokens, default_rows = BATCH[args.model]
    args.max_batch_tokens = default_tokens if args.max_batch_tokens is None else args.max_batch_tokens or None
    args.micro_batch_size = default_rows if args.micro_batch_size is None else args.micro_batch_size or None
    sets = [s.strip() for s in args.samples.split(",") if s.strip()]
    window_s = args.seconds / args.windows

    rows: list[dict] = []
    payload = {"bench": "tunix_train_throughput", "model": args.model,
               "training": {"lora_rank": args.lora_rank or None, "optimizer": args.optimizer,
                            "max_batch_tokens": args.max_batch_tokens, "micro_batch_size": args.micro_batch_size,
                            "grad_accum": args.grad_accum, "remat": args.remat, "max_steps": args.max_steps},
               "seconds": args.seconds, "windows": args.windows, "window_seconds": window_s,
               "warmup_steps": args.warmup_steps,
               "peak_memory_note": "the device's peak since the process started (JAX cannot reset it): "
                                   "a later row's covers the earlier rows", "rows": rows}
    out = args.out
    cache = tempfile.TemporaryDirectory(prefix="jax-cache-") if args.compile_cache is None else None
    try:
        env = setup(args, cache.name if cache else args.compile_cache)
        ceiling = env.pop("ceiling")
        payload.update(matmul_ceiling_tflops=round(ceiling, 4), **env)
        out = out or common.RESULTS / f"tunix_train_{args.model}_{env['environment']['backend']}.json"
        model, cfg_for, params = build(args, env["dtype"])
        payload.update(params=params, setup_s=round(time.perf_counter() - START, 2))
    except (Exception, SystemExit) as e:  # no model, no rows: each says why
        out = out or common.RESULTS / f"tunix_train_{args.model}_unknown.json"
        payload["error"] = last_line(e)
        traceback.print_exc()
        rows += [{"samples": s, "status": "error", "note": last_line(e)} for s in sets]
        write(out, payload)
        summary(rows, payload)
        return
    for set_name in sets:
        row = {"samples": set_name}
        try:
            row.update(run_set(args, set_name, model, cfg_for, params, ceiling, window_s))
        except (Exception, SystemExit) as e:  # out of memory, a missing sample set, an API that changed
            traceback.print_exc()
            row.update(status="error", note=last_line(e), peak_memory_gb=peak_gb())
        rows.append(row)
        gc.collect()
        write(out, payload)  # row by row: a run cut short keeps its rows
    write(out, payload)
    summary(rows, payload)
    print(f"results: {out}")
    if cache:
        cache.cleanup()


START = time.perf_counter()


def protobuf_guard() -> None:
    """Tunix imports perfetto at import time (unused here), whose generated protobuf code (6.31)
    refuses an older protobuf runtime; the GPU image's protobuf version is not known ahead."""
    try:
        from google.protobuf import __version__ as version
    except ImportError:
        return
    if tuple(int(x) for x in re.findall(r"\d+", version)[:2]) < (6, 31):
        os.environ.setdefault("TEMPORARILY_DISABLE_PROTOBUF_VERSION_CHECK", "true")


def setup(args, cache_dir: str) -> dict:
    """JAX's device, dtype, compilation cache, matmul ceiling and versions."""
    import importlib.metadata as md

    import jax

    protobuf_guard()

    jax.config.update("jax_compilation_cache_dir", cache_dir)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    backend = jax.default_backend()  # "gpu" | "tpu" | "cpu"
    dtype = ("bf16" if backend in ("gpu", "tpu") else "fp32") if args.dtype == "auto" else args.dtype

    def version(name: str) -> str | None:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    dev = jax.devices()[0]
    environment = {"device": getattr(dev, "device_kind", str(dev)), "backend": backend,
                   "device_count": jax.device_count(), "python": platform.python_version(),
                   **{name: version(name) for name in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint",
                                                      "google-tunix", "qwix", "numpy")}}
    if backend == "cpu":
        environment["device"] = f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    ceiling = matmul_ceiling_tflops(backend)
    print(f"{environment['device']}: matmul ceiling {ceiling:.4g} TFLOP/s "
          f"({'bf16 8192^3' if backend != 'cpu' else 'fp32 1024^3'}), dtype {dtype}, jax {environment['jax']}, "
          f"flax {environment['flax']}, tunix {environment['google-tunix']}", flush=True)
    return {"environment": environment, "dtype": dtype, "ceiling": ceiling,
            "ceiling_dtype": "bf16" if backend != "cpu" else "fp32"}


def matmul_ceiling_tflops(backend: str) -> float:
    """The measured dense matmul rate (8192^3 bf16 on a GPU/TPU, 1024^3 fp32 on a CPU): the
    denominator of MFU, best of several runs after warm-up."""
    import jax
    import jax.numpy as jnp

    n, dt = (8192, jnp.bfloat16) if backend != "cpu" else (1024, jnp.float32)
    ka, kb = jax.random.split(jax.random.key(0))
    a, b = jax.random.normal(ka, (n, n), dt), jax.random.normal(kb, (n, n), dt)
    matmul = jax.jit(jnp.matmul)
    matmul(a, b).block_until_ready()
    times = []
    for i in range(10):
        t0 = time.perf_counter()
        for _ in range(4):
            c = matmul(a, b)
        c.block_until_ready()
        if i >= 2:  # warm-up excluded
            times.append((time.perf_counter() - t0) / 4)
    del a, b, c
    return 2 * n**3 / min(times) / 1e12


# --- model and config ------------------------------------------------------------------------

def config_for(args, dtype: str, examples, out_root: Path):
    """The backend's Config: the model's Tunix preset with the bench's batch, length and LoRA."""
    from tunix_nb.config import load_config

    lora = (["training.lora.rank=%d" % args.lora_rank, f"training.lora.alpha={args.lora_alpha or args.lora_rank}"]
            if args.lora_rank else ["training.lora=null"])
    overrides = ["training.device=auto", f"training.dtype={dtype}", "training.epochs=null",
                 f"training.max_steps={args.max_steps}", "training.warmup_steps=0", "training.save_every=null",
                 "training.time_budget_minutes=null", "training.log_every=1", f"training.optimizer={args.optimizer}",
                 f"training.max_batch_tokens={args.max_batch_tokens or 'null'}",
                 f"training.micro_batch_size={args.micro_batch_size if args.micro_batch_size else 'null'}",
                 f"training.grad_accum={args.grad_accum}",
                 f"training.gradient_checkpointing={'true' if args.remat else 'false'}",
                 f"data.max_seq_len={max(640, max(len(e) for e in examples))}",
                 f"output.root={out_root}", "output.run_id=bench", *lora]
    return load_config(common.ROOT / PRESETS[args.model], overrides)


def model_config(name: str, remat: bool):
    """Tunix's Gemma 2B preset (tunix.models.gemma), the vocabulary made bench/common.py's
    GEMMA_2B_SHAPE's (the PyTorch rows' 256,000; Tunix pads its preset to 256,128) and every other
    size checked against it; `tiny`: the same model with tiny sizes (CPU dry runs)."""
    from tunix.models.gemma import model as g2

    s = common.GEMMA_2B_SHAPE
    mc = dataclasses.replace(g2.ModelConfig.gemma_2b(), num_embed=s["vocab_size"])
    got = (mc.embed_dim, mc.num_layers, mc.num_heads, mc.num_kv_heads, mc.head_dim, mc.hidden_dim)
    want = (s["hidden_size"], s["num_hidden_layers"], s["num_attention_heads"], s["num_key_value_heads"],
            s["head_dim"], s["intermediate_size"])
    if got != want:
        raise RuntimeError(f"tunix's gemma_2b preset {got} is not GEMMA_2B_SHAPE {want}")
    if name == "tiny":
        mc = dataclasses.replace(mc, num_layers=2, num_embed=TINY_VOCAB, embed_dim=128, hidden_dim=512, num_heads=4,
                                 head_dim=32, attention_types=(g2.AttentionType.GLOBAL,) * 2)
    if remat:
        mc = dataclasses.replace(mc, remat_config=g2.RematConfig.BLOCK)
    return g2, mc


def random_model(name: str, dtype: str, remat: bool, seed: int = 0):
    """A random-init Tunix Gemma, its weights cast to `dtype` the way the backend's Flax loader
    (`load._load_flax`) casts loaded ones (speed and memory do not depend on the values)."""
    import jax
    from flax import nnx

    from tunix_nb.backends.tunix.load import jax_dtype

    g2, mc = model_config(name, remat)
    model = g2.Gemma(mc, rngs=nnx.Rngs(params=seed))
    state = nnx.state(model)
    nnx.update(model, jax.tree.map(lambda x: x.astype(jax_dtype(dtype)), state))
    return model, mc


def build(args, dtype: str):
    """(model, config maker, parameter count): the base model, LoRA'd and placed on the mesh by
    the backend's own `load.place_policy` (as `load.build_lora_policy` does after loading a folder)."""
    from tunix_nb.backends.tunix import load
    from tunix_nb.config import LoraConfig

    t0 = time.perf_counter()
    base, model_config = random_model(args.model, dtype, args.remat)
    lora = LoraConfig(rank=args.lora_rank, alpha=args.lora_alpha or args.lora_rank) if args.lora_rank else None
    model, mesh = load.place_policy(base, lora, seed=42)  # LoRA on all 7 modules
    params = count_params(model)
    print(f"{args.model}: {params / 1e6:,.1f} M params ({'LoRA rank %d' % args.lora_rank if args.lora_rank else 'full FT'}"
          f", {dtype}) built in {time.perf_counter() - t0:.1f} s", flush=True)
    return SimpleNamespace(model=model, config=model_config, mesh=mesh, dtype=dtype), config_for, params


def count_params(model) -> int:
    import jax
    from flax import nnx

    return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))  # LoRAParam is a Param


def fold_ids(examples, vocab: int):
    """Token ids at or past `vocab` folded into [4, vocab) (the special ids 0-3 stay put): lengths,
    masks and so the work are unchanged; only for a model with a smaller vocabulary (tiny)."""
    from tunix_nb.prompts import IGNORE_INDEX, Encoded

    def fold(i):
        return i if i < vocab else 4 + (i - 4) % (vocab - 4)

    return [Encoded([fold(i) for i in e.input_ids], [l if l == IGNORE_INDEX else fold(l) for l in e.labels])
            for e in examples]


# --- one sample set ----------------------------------------------------------------------------

def run_set(args, set_name: str, built, cfg_for, params: int, ceiling: float, window_s: float) -> dict:
    """Train on one sample set through `sft.train` until the deadline; the row's figures."""
    from tunix_nb.backends.common import Policy
    from tunix_nb.backends.tunix import sft
    from tunix_nb.data import plan_steps
    from tunix_nb.evidence import Run
    from tunix_nb.stages import sft_stage

    examples = common.load_samples(set_name)
    vocab = built.config.num_embed
    folded = max(max(e.input_ids) for e in examples) >= vocab
    if folded:
        examples = fold_ids(examples, vocab)
    policy = Policy(model=built.model, config=built.config, mesh=built.mesh)
    data_parallel = built.mesh.shape["fsdp"]
    with tempfile.TemporaryDirectory(prefix="tunix-bench-") as tmp:
        cfg = cfg_for(args, built.dtype, examples, Path(tmp))
        t = cfg.training
        # The very schedule sft.train plans (same call): samples, real and padded tokens per step,
        # and the steps that bring a batch shape not compiled yet.
        schedule = plan_steps([sft.padded_len(len(e)) for e in examples], seed=t.seed, grad_accum=t.grad_accum,
                              max_batch_tokens=t.max_batch_tokens, micro_batch_size=t.micro_batch_size,
                              epochs=t.epochs, max_steps=t.max_steps)
        shapes, new_shape_steps, per_step = [], [], []
        for n, step in enumerate(schedule, start=1):
            padded = 0
            for mb in step:
                width = sft.padded_len(max(len(examples[i]) for i in mb))
                rows = sft.batch_rows(width, t, data_parallel)
                padded += rows * width
                if (rows, width) not in shapes:
                    shapes.append((rows, width))
                    new_shape_steps.append(n)
            if len(step) < t.grad_accum and (data_parallel, sft.SHAPE_STEP) not in shapes:  # zero-weight filler
                shapes.append((data_parallel, sft.SHAPE_STEP))
                new_shape_steps.append(n)
            per_step.append((sum(len(mb) for mb in step), sum(len(examples[i]) for mb in step for i in mb), padded))
        # Step n's batches are dispatched (so compiled) before step n-1's hook runs.
        start_after = max(max(new_shape_steps) - 1, 1) + args.warmup_steps

        run = Run.create(cfg, plan={}, model_source={}, datasets={})
        stage = sft_stage(run, cfg)
        record = stage.step
        marks: list[tuple[float, int]] = []  # (time the step's loss was ready, step)
        clock = SimpleNamespace(begin=time.perf_counter(), start=None)

        def step(n, **figures):  # the StepLog hook's call: its loss was read, so step n has finished
            now = time.perf_counter()
            out = record(n, **figures)
            assert figures["tokens"] == per_step[n - 1][1], "the schedule differs from sft.train's"
            marks.append((now, n))
            if n == start_after:
                clock.start = now
            if clock.start is not None and now - clock.start >= args.seconds:
                raise TimeUp
            if n == len(schedule):  # stop before the final checkpoint is written
                raise TimeUp
            return out

        stage.step = step
        tokenizer = SimpleNamespace(pad_token_id=PAD_ID, bos_token_id=BOS_ID)
        try:
            sft.train(cfg, policy, tokenizer, examples, stage, plan=SimpleNamespace(dtype=built.dtype),
                      root=run.dir / "checkpoints")
        except TimeUp:
            pass
        finally:
            run.complete()
    if clock.start is None:
        raise RuntimeError(f"the schedule ({len(schedule)} steps) ended before warm-up did (step {start_after}); "
                           "raise --max-steps")
    figures = window_figures(marks, per_step, clock.start, window_s, args.windows)
    real = sum(p[1] for p in per_step[:marks[-1][1]])
    padded = sum(p[2] for p in per_step[:marks[-1][1]])
    # The interval ending at step k's mark holds the compile of step k+1's new shapes (dispatched
    # before step k's hook runs); less a typical step, that is the compile's time.
    ends = {n: t for t, n in marks}
    spans = {n: ends[n] - ends.get(n - 1, clock.begin) for n in ends}
    compile_s = sum(spans[k] - figures["step_s"] for k in {max(n - 1, 1) for n in new_shape_steps} if k in spans)
    note = (f"{'LoRA r%d' % args.lora_rank if args.lora_rank else 'full FT'}, {t.optimizer}, "
            f"<= {t.max_batch_tokens} padded tok/micro-batch"
            + (f", <= {t.micro_batch_size} rows" if t.micro_batch_size else "")
            + f" x accum {t.grad_accum}, {len(shapes)} shapes {shape_list(shapes)}"
            + (", remat" if t.gradient_checkpointing else "") + (", ids folded into the vocab" if folded else ""))
    if marks[-1][1] == len(schedule) and marks[-1][0] - clock.start < args.seconds:
        note += f"; schedule ran out after {len(schedule)} steps (raise --max-steps)"
    tokens_s = figures["tokens_per_s"]
    return {"status": "ok", **figures, "mfu": round(6 * params * tokens_s / (ceiling * 1e12), 5),
            "peak_memory_gb": peak_gb(), "first_step_s": round(spans[1], 2),
            "compile_s": round(compile_s, 2),
            "warmup_s": round(clock.start - clock.begin, 2), "warmup_until_step": start_after,
            "compile_steps": new_shape_steps, "steps": marks[-1][1], "padding_efficiency": round(real / padded, 4),
            "samples_in_set": len(examples), "note": note}


def shape_list(shapes) -> str:
    return "[" + ", ".join(f"{r}x{w}" for r, w in sorted(shapes, key=lambda s: s[1])) + "]"


def window_figures(marks, per_step, start: float, window_s: float, windows: int) -> dict:
    """Windows of `window_s` from `start`: each one's rate over the steps that end in it (the
    first such step's end to the last's); medians over the windows."""
    cum_samples, cum_tokens, s, k = [0], [0], 0, 0
    for samples, tokens, _ in per_step:
        s, k = s + samples, k + tokens
        cum_samples.append(s)
        cum_tokens.append(k)
    per_window = []
    for w in range(windows):
        inside = [(t, n) for t, n in marks if start + w * window_s <= t <= start + (w + 1) * window_s]
        if len(inside) >= 2:
            (ta, a), (tb, b) = inside[0], inside[-1]
            per_window.append(((cum_samples[b] - cum_samples[a]) / (tb - ta), (cum_tokens[b] - cum_tokens[a]) / (tb - ta),
                               (tb - ta) / (b - a)))
    if not per_window:
        raise RuntimeError(f"no window held two step ends: make --seconds ({windows * window_s:g}) longer")
    return {"samples_per_s": round(statistics.median(x[0] for x in per_window), 3),
            "tokens_per_s": round(statistics.median(x[1] for x in per_window), 1),
            "step_s": round(statistics.median(x[2] for x in per_window), 4),
            "window_tokens_per_s": [round(x[1], 1) for x in per_window],
            "steps_measured": sum(1 for t, _ in marks if t > start)}


# --- output --------------------------------------------------------------------------------------

def peak_gb() -> float | None:
    """The device's peak memory in use since the process started (JAX cannot reset it, so a later
    row's peak covers the earlier rows too); None where the backend does not report it (CPU)."""
    try:
        import jax

        stats = jax.devices()[0].memory_stats() or {}
    except Exception:
        return None
    peak = stats.get("peak_bytes_in_use")
    return round(peak / 2**30, 2) if peak is not None else None


def last_line(e: BaseException) -> str:
    lines = [line for line in (str(e) or "").strip().splitlines() if line.strip()]
    return f"{type(e).__name__}: {lines[-1].strip()[:300] if lines else ''}"


def write(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")


def summary(rows: list[dict], payload: dict) -> None:
    env = payload.get("environment", {})
    for r in rows:
        if r.get("status") != "ok":
            print(f"tunix-backend on {r['samples']}: {r.get('status')} ({r.get('note')})")
            continue
        peak = "-" if r["peak_memory_gb"] is None else f"{r['peak_memory_gb']} GB"
        print(f"tunix-backend on {r['samples']}: {r['tokens_per_s']:,.0f} tokens/s, {r['samples_per_s']:.4g} samples/s, "
              f"MFU {r['mfu']:.4g}, step {r['step_s']:.3g} s, peak {peak}, compile ~{r['compile_s']} s, warm-up "
              f"{r['warmup_s']} s (first step {r['first_step_s']} s), padding eff. {r['padding_efficiency']:.3f}; {r['note']}")
    if "params" in payload:
        print(f"{payload['model']}: {payload['params'] / 1e6:,.1f} M params, {payload.get('dtype')}, matmul ceiling "
              f"{payload['matmul_ceiling_tflops']:.4g} TFLOP/s ({payload.get('ceiling_dtype')}), {env.get('device')}, "
              f"jax {env.get('jax')}, flax {env.get('flax')}, tunix {env.get('google-tunix')}")


if __name__ == "__main__":
    main()
