"""The GPU suite: every GPU figure of issue 15 in one run of <= 8 minutes, one JSON, one table.

Parts, each its own process (a crash or an out-of-memory in one is that part's result, and the
next part starts on a clean GPU), in order of importance, each within its own time limit and the
suite's:

  train   (a) HF Trainer recipe, (b) TRL packed, (c) tunix_nb PyTorch with submission_local_gpu.yaml's
          levers (packed rows, flex attention inside each sample, chunked loss, compiled layers):
          bench/train_throughput.py on the Gemma-2B shape, both sample sets
  eval    (e) 100 prompts x 256 forced new tokens, HF batched `generate` vs ours (compiled decode
          step), with the rate of identical outputs and one profiled run of ours (what limits
          it); (g) the GRPO rollout sampler's tokens/s: bench/eval_throughput.py
  memory  (f) the T4-shaped memory plan (LoRA r16, 512 tokens, fp32) and full fine-tuning peaks:
          bench/train_throughput.py --t4-memory
  tunix   (d) tunix_nb's Tunix backend (JAX on the same GPU) on the same samples:
          bench/tunix_train_throughput.py

The sample sets are token ids prepared beforehand (bench/prepare_samples.py), so the device needs
no tokenizer or network. Every figure is measured here, in this run; the summary holds the ratios
the issue's goals are stated in, each beside its goal.

    python bench/prepare_samples.py && bash bench/gpu_suite.sh      # on the GPU machine (see the .sh)
    python bench/gpu_suite.py --dry-run                              # any CPU: the tiny model, ~2 minutes
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

BENCH = common.ROOT / "bench"

# (part, script, arguments on the GPU, arguments in a CPU dry run, seconds allowed on the GPU)
PARTS = [
    ("train", "train_throughput.py",
     ["--model", "gemma-2b-shape", "--samples", "records,anchor", "--rows", "tunix-nb,trl-sft,hf-trainer",
      "--warmup", "4", "--windows", "3", "--window-seconds", "3", "--set", "training.max_batch_tokens=4096",
      "--profile-steps", "3"],
     ["--model", "tiny", "--samples", "records,anchor", "--rows", "tunix-nb,hf-trainer",  # TRL: GPU only (minutes here)
      "--warmup", "2", "--windows", "1", "--window-seconds", "1.5",
      "--set", "model.attn_implementation=flex_attention", "--set", "training.packing=true",
      "--set", "training.max_batch_tokens=1024", "--set", "training.loss_chunk_size=256", "--profile-steps", "2"],
     200),
    ("eval", "eval_throughput.py",
     ["--model", "gemma-2b-shape", "--prepared", "--forced", "--compile", "--max-new-tokens", "256",
      "--batch-size", "100", "--rows", "tunix-nb,hf-batch,tunix-nb-rollout,tunix-nb-eager", "--warmup-runs", "1", "--repeats", "2",
      "--profile", "tunix-nb"],
     ["--model", "tiny", "--prepared", "--forced", "--prompts", "6", "--max-new-tokens", "12", "--batch-size", "6",
      "--rows", "tunix-nb,hf-batch,tunix-nb-rollout", "--profile", "tunix-nb"],
     95),
    ("memory", "train_throughput.py", ["--t4-memory"], ["--t4-memory"], 35),
    ("tunix", "tunix_train_throughput.py",
     ["--model", "gemma-2b-shape", "--samples", "records,anchor", "--seconds", "12", "--windows", "3"],
     ["--model", "tiny", "--samples", "records,anchor", "--seconds", "2", "--windows", "2"],
     150),  # XLA compiles one step per batch shape (4 of them) before the clock starts
]

# The goals, each checked against the figure it names.
GOALS = {"sft_mfu": 0.55, "sft_vs_trl": 2.0, "sft_vs_hf": 15.0, "eval_seconds": 3.0, "eval_vs_hf": 6.0,
         "eval_equal": 0.95, "t4_lora_peak_gb": 14.0, "full_ft_peak_gb": 30.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="the tiny model on this machine's CPU, short windows")
    ap.add_argument("--parts", default=",".join(p[0] for p in PARTS))
    ap.add_argument("--budget", type=float, default=450, help="seconds for the whole suite")
    ap.add_argument("--name", default=None, help="results file name (default: gpu_suite_<device>)")
    ap.add_argument("--out-dir", type=Path, default=common.RESULTS)
    args = ap.parse_args()

    start = time.monotonic()
    wanted = args.parts.split(",")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if args.dry_run:
        env["CUDA_VISIBLE_DEVICES"] = ""  # the dry run is a CPU run even on a GPU machine
    parts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, script, gpu_args, dry_args, limit in PARTS:
            if name not in wanted:
                continue
            left = args.budget - (time.monotonic() - start)
            if left < 20:
                parts[name] = {"status": "not run", "note": f"the suite's {args.budget:.0f} s were spent"}
                continue
            parts[name] = run_part(name, script, dry_args if args.dry_run else gpu_args, min(limit, left), Path(tmp), env)
            print(f"== {name}: {parts[name]['status']} in {parts[name]['seconds']} s", flush=True)
    summary = summarise(parts)
    device = next((p["result"]["environment"]["device"] for p in parts.values()
                   if p.get("result", {}).get("environment")), "unknown")
    payload = {"bench": "gpu_suite", "dry_run": args.dry_run, "device": device,
               "seconds": round(time.monotonic() - start, 1), "goals": GOALS, "summary": summary, "parts": parts}
    print_summary(summary)
    tag = "cpu_dry_run" if args.dry_run else device.lower().replace("nvidia ", "").replace(" ", "_")
    print(f"results: {common.write_results(args.name or f'gpu_suite_{tag}', payload, args.out_dir)}")


def run_part(name: str, script: str, argv: list[str], limit: float, tmp: Path, env: dict) -> dict:
    """One part in its own process; its JSON back, or why there is none (the log's last lines)."""
    out = tmp / f"{name}.json"
    cmd = [sys.executable, str(BENCH / script), *argv,
           *(["--out", str(out)] if script == "tunix_train_throughput.py" else ["--name", name, "--out-dir", str(tmp)])]
    begun = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=env, cwd=common.ROOT)
        status, log, rc = ("ok" if proc.returncode == 0 else "failed"), proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        status, rc = "timed out", None
        log = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace")
    seconds = round(time.monotonic() - begun, 1)
    sys.stdout.write(log[-3000:])
    part = {"status": status, "seconds": seconds, "limit_s": round(limit), "returncode": rc, "command": cmd[1:]}
    if out.exists():
        part["result"] = json.loads(out.read_text())
    if status != "ok" or not out.exists():
        part["log_tail"] = log.strip().splitlines()[-15:]
    return part


def rows_of(parts: dict, name: str) -> list[dict]:
    return parts.get(name, {}).get("result", {}).get("rows", [])


def summarise(parts: dict) -> dict:
    """The figures the goals are stated in, per sample set; None where a row did not run."""
    out: dict = {}
    train = {(r["row"], r.get("samples")): r for r in rows_of(parts, "train") if r.get("status") == "ok"}
    tunix = {r.get("samples"): r for r in rows_of(parts, "tunix") if r.get("status") == "ok"}
    for s in {k[1] for k in train} | set(tunix):
        ours, trl, hf = (train.get((row, s), {}) for row in ("tunix-nb", "trl-sft", "hf-trainer"))
        out[f"sft/{s}"] = {
            "tokens_per_s": {"tunix-nb": ours.get("tokens_per_s"), "tunix-nb-sdpa": train.get(("tunix-nb-sdpa", s), {})
                             .get("tokens_per_s"), "trl-sft": trl.get("tokens_per_s"), "hf-trainer": hf.get("tokens_per_s"),
                             "tunix-backend": tunix.get(s, {}).get("tokens_per_s")},
            "sft_mfu": ours.get("mfu"), "tunix_backend_mfu": tunix.get(s, {}).get("mfu"),
            "sft_vs_trl": ratio(ours.get("tokens_per_s"), trl.get("tokens_per_s")),
            "sft_vs_hf": ratio(ours.get("tokens_per_s"), hf.get("tokens_per_s")),
            "peak_gb": {"tunix-nb": ours.get("peak_memory_gb"), "trl-sft": trl.get("peak_memory_gb"),
                        "hf-trainer": hf.get("peak_memory_gb"), "tunix-backend": tunix.get(s, {}).get("peak_memory_gb")}}
    ev = {r["row"]: r for r in rows_of(parts, "eval") if r.get("status", "ok") == "ok"}
    if ev:
        ours, hf = ev.get("tunix-nb", {}), ev.get("hf-batch", {})
        out["eval"] = {"eval_seconds": ours.get("seconds"), "hf_batch_seconds": hf.get("seconds"),
                       "eval_vs_hf": ratio(hf.get("seconds"), ours.get("seconds")),
                       "eval_equal": ours.get("agreement") if "hf-batch" in ev else None,
                       "eager_seconds": ev.get("tunix-nb-eager", {}).get("seconds"),
                       "rollout_tokens_per_s": ev.get("tunix-nb-rollout", {}).get("new_tokens_per_s")}
    mem = {r["row"]: r.get("peak_memory_gb") for r in rows_of(parts, "memory")}
    if mem:
        out["memory"] = {"t4_lora_peak_gb": mem.get("lora-r16"), "t4_lora_grad_ckpt_peak_gb": mem.get("lora-r16-grad-ckpt"),
                         "t4_lora_chunk128_peak_gb": mem.get("lora-r16-chunk128"),
                         "full_ft_peak_gb": mem.get("full-adafactor"), "full_ft_adamw_peak_gb": mem.get("full-adamw")}
    for figures in out.values():  # each goal's verdict beside its figure
        figures["met"] = {k: met(k, v) for k, v in figures.items() if k in GOALS and v is not None}
    return out


def ratio(a, b):
    return round(a / b, 2) if a and b else None


def met(goal: str, value: float) -> bool:
    lower_is_better = goal in ("eval_seconds", "t4_lora_peak_gb", "full_ft_peak_gb")
    return value <= GOALS[goal] if lower_is_better else value >= GOALS[goal]


def print_summary(summary: dict) -> None:
    rows = []
    for section, figures in summary.items():
        for k, v in figures.items():
            if k == "met":
                continue
            if isinstance(v, dict):
                v = ", ".join(f"{a} {b:,.0f}" if isinstance(b, (int, float)) else f"{a} -" for a, b in v.items())
            rows.append({"part": section, "figure": k, "value": v, "goal": GOALS.get(k),
                         "met": figures["met"].get(k)})
    common.print_table(rows, [("part", "part"), ("figure", "figure"), ("value", "value"), ("goal", "goal"),
                              ("met", "met")])


if __name__ == "__main__":
    main()
