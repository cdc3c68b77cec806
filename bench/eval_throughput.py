"""Evaluation throughput: the project's eval prompts, greedy, up to N new tokens each, three ways:

  tunix-nb        tunix_nb.backends.torch.decode (static KV cache, own decode loop), batches of --batch-size
  hf-one-by-one   HF `generate`, one prompt at a time (no padding)
  hf-batch        HF `generate`, all prompts as one left-padded batch
  tunix-nb-rollout  the GRPO rollout sampler (`Decoder.sample`, as `grpo.rollout` calls it): the
                  first --rollout-prompts prompts x --rollout-group completions, T 0.9, top-k 50

Reports seconds, new tokens/s and agreement: the fraction of prompts whose generated token ids
equal tunix_nb's exactly (greedy decoding is deterministic, so anything below 1.0 on fp32 is a
bug; in bf16, batching itself can flip near-ties). Prints one table, writes bench/results/<name>.json.

    python bench/eval_throughput.py --model tiny                          # any CPU
    python bench/eval_throughput.py --model gemma-2b-shape --compile      # on the GPU box
    python bench/eval_throughput.py --model gemma-2b-shape --prepared --forced --compile   # the GPU suite's row
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import common


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny", help="tiny | gemma-2b-shape | an HF model folder")
    ap.add_argument("--prompts", type=int, default=100, help="eval prompts (the first N of the eval file)")
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=100, help="tunix-nb batch size")
    ap.add_argument("--rows", default="tunix-nb,hf-one-by-one,hf-batch")
    ap.add_argument("--compile", action="store_true", help="torch.compile tunix-nb's decode step (CUDA graphs on a GPU)")
    ap.add_argument("--attn", default="sdpa", choices=["eager", "sdpa"])
    ap.add_argument("--prepared", action="store_true",
                    help="the prepared eval prompts' token ids (bench/prepare_samples.py) instead of the tiny tokenizer's")
    ap.add_argument("--forced", action="store_true", help="no stop tokens: every prompt gets --max-new-tokens")
    ap.add_argument("--warmup-runs", type=int, default=0, help="untimed runs of each row first")
    ap.add_argument("--repeats", type=int, default=1, help="timed runs of each row; the figure is their median")
    ap.add_argument("--profile", default="", help="rows run once more under torch.profiler after their timed runs "
                                                  "(where the device time goes, op by op), e.g. tunix-nb")
    ap.add_argument("--rollout-prompts", type=int, default=4)
    ap.add_argument("--rollout-group", type=int, default=4)
    ap.add_argument("--name", default=None, help="results file name (default: eval_<model>_<device>)")
    ap.add_argument("--out-dir", type=Path, default=common.RESULTS)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = ap.parse_args()

    import torch

    from tunix_nb import inputs
    from tunix_nb.backends.torch.decode import Decoder
    from tunix_nb.models import stop_token_ids
    from tunix_nb.prompts import encode_prompt

    device, dtype = common.device_and_dtype(args.device)
    tokenizer = common.tiny_tokenizer() if args.model in ("tiny", "gemma-2b-shape") else None
    if tokenizer is None:
        from tunix_nb.models import load_tokenizer

        tokenizer = load_tokenizer(Path(args.model))
    model = common.build_model(args.model, attn=args.attn, device=device).eval()
    if args.prepared:
        prompts = common.load_prompts()[: args.prompts]
    else:
        prompts = [encode_prompt(tokenizer, r.prompt) for r in inputs.load_records(common.EVAL_FILE, "eval")[: args.prompts]]
    stops, pad = ([] if args.forced else stop_token_ids(tokenizer)), tokenizer.pad_token_id
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=dtype == "bf16")

    def tunix_nb() -> list[list[int]]:
        decoder = Decoder(model, device=device, dtype=dtype, compile=args.compile)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))  # as generate.generate batches
        out = [None] * len(prompts)
        for lo in range(0, len(order), args.batch_size):
            idx = order[lo:lo + args.batch_size]
            for i, row in zip(idx, decoder.greedy([prompts[i] for i in idx], max_new_tokens=args.max_new_tokens,
                                                  stop_ids=stops, pad_id=pad)):
                out[i] = row
        return out

    def hf(batch: list[list[int]]) -> list[list[int]]:
        from transformers import GenerationConfig

        config = GenerationConfig(do_sample=False, max_new_tokens=args.max_new_tokens, eos_token_id=stops or None,
                                  min_new_tokens=args.max_new_tokens if args.forced else 0, pad_token_id=pad)
        width = max(len(p) for p in batch)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch], device=device)
        with torch.inference_mode(), autocast:
            return model.generate(input_ids=ids, attention_mask=mask, generation_config=config)[:, width:].tolist()

    def tunix_nb_eager() -> list[list[int]]:  # our decoder without the compiled step
        return Decoder(model, device=device, dtype=dtype).greedy(prompts, max_new_tokens=args.max_new_tokens,
                                                                 stop_ids=stops, pad_id=pad)

    def rollout() -> list[list[int]]:
        group = [p for p in prompts[: args.rollout_prompts] for _ in range(args.rollout_group)]
        return Decoder(model, device=device, dtype=dtype).sample(
            group, max_new_tokens=args.max_new_tokens, stop_ids=stops, pad_id=pad, temperature=0.9, top_k=50, seed=0)

    runners = {"tunix-nb": tunix_nb, "hf-one-by-one": lambda: [hf([p])[0] for p in prompts], "hf-batch": lambda: hf(prompts),
               "tunix-nb-eager": tunix_nb_eager, "tunix-nb-rollout": rollout}
    outputs, rows = {}, []
    payload = {"bench": "eval_throughput", "model": args.model, "prompts": len(prompts),
               "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size, "compile": args.compile,
               "warmup_runs": args.warmup_runs, "repeats": args.repeats, "attn": args.attn, "dtype": dtype,
               "forced": args.forced, "prepared_prompts": args.prepared,
               "rollout": {"prompts": args.rollout_prompts, "group": args.rollout_group, "temperature": 0.9, "top_k": 50},
               "environment": common.environment(device), "rows": rows}
    name_out = args.name or f"eval_{args.model}_{device}"
    for name in args.rows.split(","):
        common.reset_peak(device)
        times = []
        try:
            for _ in range(args.warmup_runs + args.repeats):  # the warm-up runs (compile, CUDA graphs) are not timed
                common.sync(device)
                start = time.perf_counter()
                outputs[name] = [cut(r, stops) for r in runners[name]()]
                common.sync(device)
                times.append(time.perf_counter() - start)
        except Exception as e:  # one row's failure (a compile error, out of memory) is that row's result
            outputs.pop(name, None)
            rows.append({"row": name, "status": "error", "note": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"})
            print(f"{name}: {rows[-1]['note']}")
            common.write_results(name_out, payload, args.out_dir)
            continue
        seconds = statistics.median(times[args.warmup_runs:])
        new = sum(len(r) for r in outputs[name])
        rows.append({"row": name, "status": "ok", "seconds": round(seconds, 3), "new_tokens": new,
                     "new_tokens_per_s": round(new / seconds, 1), "peak_memory_gb": common.peak_gb(device),
                     "warmup_s": round(sum(times[:args.warmup_runs]), 2) if args.warmup_runs else None})
        if name in args.profile.split(","):
            rows[-1]["profile"] = profile(runners[name], device)
        # Greedy rows against HF's batched generate (ours against each other where it did not run);
        # the rollout is sampled: nothing to agree with.
        ref = outputs.get("hf-batch") or outputs.get("tunix-nb")
        for r in rows:
            if ref is not None and r["row"] in outputs and r["row"] != "tunix-nb-rollout":
                r["agreement"] = round(sum(a == b for a, b in zip(outputs[r["row"]], ref)) / len(ref), 4)
        print(f"{name}: {seconds:.2f} s")
        common.write_results(name_out, payload, args.out_dir)  # row by row: a run cut short keeps its rows
    common.print_table(rows, [("row", "row"), ("seconds", "seconds"), ("new_tokens", "new tokens"),
                              ("new_tokens_per_s", "tokens/s"), ("agreement", "agreement"), ("peak_memory_gb", "peak GB")])
    print(f"{len(prompts)} prompts x <= {args.max_new_tokens} new tokens, {dtype}, {payload['environment']['device']}")
    print(f"results: {common.write_results(name_out, payload, args.out_dir)}")


def profile(runner, device: str) -> dict:
    """One more (untimed) run of a row under torch.profiler: what limits it, op by op."""
    common.sync(device)
    prof = common.profiler(device)
    start = time.perf_counter()
    with prof:
        runner()
        common.sync(device)
    return common.profile_summary(prof, 1, device, time.perf_counter() - start, unit="run")


def cut(row: list[int], stops: list[int]) -> list[int]:
    """Up to (not including) the first stop id: what is decoded into the prediction text."""
    for j, t in enumerate(row):
        if t in stops:
            return row[:j]
    return row


if __name__ == "__main__":
    main()
