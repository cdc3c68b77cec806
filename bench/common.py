"""Shared parts of the bench scripts: the models, the data, the matmul ceiling, the results file.

Benchmarks are scripts, not timed tests: run them on the machine you want numbers for, e.g.
    python bench/train_throughput.py --model gemma-2b-shape      (a GPU)
    python bench/train_throughput.py --model tiny                (any CPU, ~1 minute)
Every figure they print is measured by them in that process; nothing is estimated.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
TRAIN_FILE = ROOT / "training" / "data" / "dev-reasoning-v2.jsonl"
EVAL_FILE = ROOT / "training" / "data" / "eval_v2.jsonl"

# Gemma 2B (the first Gemma): the shape of the model the users' recipe trained.
GEMMA_2B_SHAPE = dict(vocab_size=256_000, hidden_size=2048, num_hidden_layers=18, num_attention_heads=8,
                      num_key_value_heads=1, head_dim=256, intermediate_size=16_384, max_position_embeddings=8192)


def device_and_dtype(requested: str = "auto") -> tuple[str, str]:
    """cuda (bf16 where the card has it, else fp32) when there is a GPU, else cpu/fp32."""
    import torch

    dev = "cuda" if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()) else "cpu"
    bf16 = dev == "cuda" and torch.cuda.is_bf16_supported()
    return dev, "bf16" if bf16 else "fp32"


def tiny_tokenizer():
    from tunix_nb.models import load_tokenizer
    from tunix_nb.tiny_model import ensure_tiny_model

    return load_tokenizer(ensure_tiny_model())


def build_model(name: str, *, attn: str = "sdpa", device: str = "cpu", seed: int = 0, shape: dict | None = None):
    """`tiny`: the project's built-in tiny Gemma 3 (trained weights: none, it is random-init too);
    `gemma-2b-shape`: a random-init GemmaForCausalLM of Gemma 2B's shape (speed and memory do
    not depend on the weights' values; `shape` overrides GEMMA_2B_SHAPE), built directly on the
    device; anything else: an HF folder."""
    import torch
    from transformers import AutoModelForCausalLM, GemmaConfig, GemmaForCausalLM

    if name == "tiny":
        from tunix_nb.tiny_model import ensure_tiny_model

        return AutoModelForCausalLM.from_pretrained(ensure_tiny_model(), attn_implementation=attn).to(device)
    if name == "gemma-2b-shape":
        tok = tiny_tokenizer()
        config = GemmaConfig(**(shape or GEMMA_2B_SHAPE), pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                             eos_token_id=tok.eos_token_id, attn_implementation=attn)
        with torch.random.fork_rng(devices=[]), torch.device(device):
            torch.manual_seed(seed)
            return GemmaForCausalLM(config)
    return AutoModelForCausalLM.from_pretrained(name, attn_implementation=attn).to(device)


def training_model(t, device: str, shape: dict | None = None):
    """The Gemma-2B-shaped model as `training` (a TrainingConfig) trains it: LoRA adapters and
    gradient checkpointing when it asks for them, in train mode (the memory benches' model)."""
    from tunix_nb.backends.torch.load import apply_lora

    model = build_model("gemma-2b-shape", attn="sdpa", device=device, shape=shape)
    if t.lora is not None:
        model = apply_lora(model, t)
    if t.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model.train()


def train_examples(tokenizer, limit: int | None = None):
    """The project's training file, encoded with the one prompt template (prompt masked)."""
    from tunix_nb import data, inputs

    records = inputs.load_records(TRAIN_FILE, "train")[:limit]
    return data.encode_train(records, tokenizer, 4096)[0]


# The two sample sets every GPU-suite row trains on (`bench/prepare_samples.py` writes them):
#   records  our training records, encoded with Gemma 3's tokenizer (the packaged 270M's)
#   anchor   550 samples of 96-640 tokens (mean ~379), the shape of the earlier H100 anchors
SAMPLES_DIR = Path(os.environ.get("BENCH_SAMPLES_DIR", ROOT / "bench" / ".samples"))  # the dry run's own
SAMPLE_SETS = ("records", "anchor")


def anchor_samples(n: int = 550, seed: int = 0, vocab: int = 256_000, lo: int = 96, hi: int = 640):
    """Token ids only matter for their count here, so: lengths from a triangular distribution on
    [lo, hi] whose mode puts the mean at ~379 (the anchors' 96-640, mean 379), ids drawn at random
    from the vocabulary above the special tokens, the first quarter of each sample a masked prompt."""
    import numpy as np

    from tunix_nb.prompts import IGNORE_INDEX, Encoded

    rng = np.random.default_rng(seed)
    mode = 3 * 379 - lo - hi  # a triangular distribution's mean is (lo + mode + hi) / 3
    lengths = rng.triangular(lo, mode, hi, size=n)
    lengths = np.clip(np.rint(lengths + 379 - lengths.mean()), lo, hi).astype(int)  # the mean on the dot
    out = []
    for length in lengths:
        ids = [2, *rng.integers(min(1000, vocab // 2), vocab, size=length - 1).tolist()]  # <bos> first, as ours
        prompt = length // 4
        out.append(Encoded(ids, [IGNORE_INDEX] * prompt + ids[prompt:]))
    return out


def write_samples(name: str, samples, out_dir: Path = SAMPLES_DIR) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps([[e.input_ids, e.labels] for e in samples]))
    return path


def write_prompts(prompts: list[list[int]], out_dir: Path = SAMPLES_DIR) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "prompts.json"
    path.write_text(json.dumps(prompts))
    return path


def load_prompts(out_dir: Path = SAMPLES_DIR) -> list[list[int]]:
    path = out_dir / "prompts.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `python bench/prepare_samples.py` first")
    return json.loads(path.read_text())


def load_samples(name: str, out_dir: Path = SAMPLES_DIR):
    """A prepared sample set (`bench/prepare_samples.py`); token ids, so no tokenizer is needed
    where the bench runs."""
    from tunix_nb.prompts import Encoded

    path = out_dir / f"{name}.json"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `python bench/prepare_samples.py` first")
    return [Encoded(ids, labels) for ids, labels in json.loads(path.read_text())]


def matmul_ceiling_tflops(device: str, dtype: str) -> float:
    """Measured dense matmul rate on this device (bf16 on a GPU with bf16, else fp32): the
    denominator of MFU, so MFU is relative to what this machine really does, not a datasheet."""
    import torch

    n = 8192 if device == "cuda" else 1024
    dt = torch.bfloat16 if dtype == "bf16" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dt)
    b = torch.randn(n, n, device=device, dtype=dt)
    times = []
    for i in range(8):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(4):
            a @ b
        sync(device)
        if i >= 2:  # warm-up excluded
            times.append((time.perf_counter() - t0) / 4)
    return 2 * n**3 / min(times) / 1e12  # the best run: a ceiling, not a typical rate


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def profiler(device: str):
    """A torch.profiler recording the CPU's ops and, on a GPU, its kernels (start/stop it)."""
    import torch

    activities = [torch.profiler.ProfilerActivity.CPU]
    if device == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    return torch.profiler.profile(activities=activities)


def profile_summary(prof, repeats: int, device: str, wall_s: float, *, unit: str) -> dict:
    """Where `repeats` profiled units (a train step, a decode run) spent their device time, op by
    op (a GPU's kernels; a CPU's ops), per unit, printed and returned for the results JSON."""
    from torch.autograd import DeviceType

    time_of = "self_device_time_total" if device == "cuda" else "self_cpu_time_total"
    events = [e for e in prof.key_averages() if getattr(e, time_of) > 0]
    # On a GPU each kernel's time is listed twice, under the kernel and under the op that
    # launched it: the device's busy time counts the kernels, the ranking the ops.
    ops = [e for e in events if e.device_type == DeviceType.CPU]
    kernels = [e for e in events if e.device_type != DeviceType.CPU] or ops
    busy = sum(getattr(e, time_of) for e in kernels) / 1e3 / repeats  # us -> ms per unit
    top = sorted(ops, key=lambda e: -getattr(e, time_of))[:15]
    summary = {unit + "s": repeats, f"wall_ms_per_{unit}": round(wall_s * 1e3, 1),
               f"device_busy_ms_per_{unit}": round(busy, 1),
               "top_ops": [{"op": e.key[:90], f"ms_per_{unit}": round(getattr(e, time_of) / 1e3 / repeats, 2),
                            "share_of_busy": round(getattr(e, time_of) / 1e3 / repeats / busy, 3),
                            f"calls_per_{unit}": e.count // repeats} for e in top]}
    for op in summary["top_ops"]:
        print(f"profile: {op[f'ms_per_{unit}']:8.2f} ms/{unit} {op['share_of_busy']:6.1%}  "
              f"x{op[f'calls_per_{unit}']:<5} {op['op']}")
    print(f"profile: {unit} {summary[f'wall_ms_per_{unit}']} ms wall, device busy {summary[f'device_busy_ms_per_{unit}']} ms")
    return summary


def reset_peak(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gb(device: str) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None


def environment(device: str) -> dict:
    import torch
    import transformers

    return {"device": torch.cuda.get_device_name() if device == "cuda" else f"cpu ({platform.processor() or platform.machine()})",
            "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version(),
            "torch_threads": torch.get_num_threads()}


def write_results(name: str, payload: dict, out_dir: Path = RESULTS) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def print_table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """One plain text table; None shows as '-'."""
    cells = [[h for _, h in columns]] + [["-" if r.get(k) is None else _fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for j, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)
