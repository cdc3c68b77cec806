"""GRPO step speed, side by side: tunix_nb's PyTorch GRPO step and TRL's GRPOTrainer at the same
settings, beside the decode floor measured in the same process.

    python bench/grpo_step.py                    # the real Gemma 3 270M (cpu_gemma3_270m_grpo.yaml), ~10 min on 2 cores
    python bench/grpo_step.py --model tiny       # the built-in tiny model, under a minute
    python bench/grpo_step.py --device cuda      # the same script on a GPU

Both systems get the preset's model, LoRA, group size, prompts per step, max_new_tokens,
temperature, top-k, beta, clipping and learning rate, and the same prompts in the same order:

  floor      the time to read every weight of the policy once (`sum` over each tensor, the best of
             5): a decode step, which reads them all, cannot be faster; at a handful of rows it
             is memory-bound, so this is its bound on this machine.
  tunix-nb   `grpo.rollout` (our sampler) then `grpo.update` (loss, backward, optimizer step): the
             two halves of the stage's step, each timed.
  trl-grpo   TRL's GRPOTrainer (no vLLM: transformers' generate), each optimizer step timed by a
             callback, its rollouts by timing the model's `generate` (skipped with a note when trl is
             not installed: it is a bench-only dependency, `pip install trl`).

Per system: step time, rollout tokens/s (completion tokens / rollout time), update tokens/s
(prompt + completion tokens through the forward/backward / update time) and the decode step time
(rollout time / decode steps, the batch's longest completion) against the floor. Figures are
medians over the steps after the first (its time includes one-off warm-up); every step's figures
are in the results file, bench/results/grpo_step_<device>.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from types import SimpleNamespace

import common

PRESET = "training/configs/cpu_gemma3_270m_grpo.yaml"
MODELS = {"gemma-3-270m": "packaged:gemma-3-270m", "tiny": "builtin:tiny-gemma3"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gemma-3-270m", choices=sorted(MODELS))
    ap.add_argument("--rows", default="tunix-nb,trl-grpo")
    ap.add_argument("--steps", type=int, default=3, help="GRPO steps per system; the first is warm-up")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for the preset")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--name", default=None, help="results file name (default: grpo_step_<device>, tiny: _tiny)")
    ap.add_argument("--out-dir", type=Path, default=common.RESULTS)
    args = ap.parse_args()

    from tunix_nb import data, inputs, models
    from tunix_nb.config import load_config

    device, dtype = common.device_and_dtype(args.device)
    cfg = load_config(common.ROOT / PRESET, [f"model.source={MODELS[args.model]}", *args.set])
    g = cfg.grpo
    source = models.resolve_source(cfg.model.source)
    tok = models.load_tokenizer(source.path)
    prompts, _ = data.grpo_prompts(inputs.load_records(common.ROOT / cfg.data.train_file, "train"), tok,
                                   g.max_prompt_len)
    seed = cfg.training.seed if g.seed is None else g.seed
    schedule = data.plan_prompt_steps(len(prompts), prompts_per_step=g.prompts_per_step, steps=args.steps, seed=seed)
    steps = [[prompts[i] for i in chosen] for chosen in schedule]  # the same prompts, in order, for every system
    setup = SimpleNamespace(cfg=cfg, source=source, tok=tok, steps=steps, seed=seed, device=device, dtype=dtype)

    floor = read_floor(setup)
    print(f"floor: reading the {floor['weights_gb']} GB of weights once takes {floor['read_s']:.4f} s")
    runners = {"tunix-nb": run_ours, "trl-grpo": run_trl}
    rows = []
    for name in args.rows.split(","):
        common.reset_peak(device)
        try:
            per_step, note = runners[name](setup)
        except ImportError as e:
            rows.append({"row": name, "status": "skipped", "note": f"{e.name} not installed"})
            print(f"{name}: skipped ({e.name} not installed)")
            continue
        rows.append({"row": name, "status": "ok", "note": note, **summary(per_step, floor), "steps": per_step,
                     "peak_memory_gb": common.peak_gb(device)})
        print(f"{name}: {rows[-1]['step_s']:.2f} s a step")
    ours, trl = ({r["row"]: r for r in rows if r["status"] == "ok"}.get(k) for k in ("tunix-nb", "trl-grpo"))
    payload = {"bench": "grpo_step", "model": args.model, "preset": PRESET, "overrides": args.set, "dtype": dtype,
               "settings": {"prompts_per_step": g.prompts_per_step, "num_generations": g.num_generations,
                            "max_new_tokens": g.max_new_tokens, "temperature": g.temperature, "top_k": g.top_k,
                            "top_p": g.top_p, "beta": g.beta, "loss": g.loss, "learning_rate": g.learning_rate,
                            "lora_rank": cfg.training.lora.rank if cfg.training.lora else None,
                            "steps": args.steps, "warmup_steps": 1},
               "floor": floor, "environment": common.environment(device), "rows": rows,
               "speedup_vs_trl": round(trl["step_s"] / ours["step_s"], 2) if ours and trl else None}
    common.print_table(rows, [("row", "row"), ("step_s", "step s"), ("rollout_s", "rollout s"),
                              ("rollout_tokens_per_s", "rollout tok/s"), ("update_s", "update s"),
                              ("update_tokens_per_s", "update tok/s"), ("decode_step_s", "decode step s"),
                              ("decode_vs_floor", "x floor"), ("note", "note")])
    if payload["speedup_vs_trl"]:
        print(f"tunix-nb steps {payload['speedup_vs_trl']}x TRL's rate")
    name = args.name or f"grpo_step_{device}" + ("" if args.model == "gemma-3-270m" else f"_{args.model}")
    print(f"results: {common.write_results(name, payload, args.out_dir)}")


def read_floor(s) -> dict:
    """The time to read every weight of the model once, the best of 5 (after one untimed pass)."""
    import torch

    from tunix_nb import models

    model = models.load_torch_model(s.source, dtype=s.dtype, lora=False, attn_implementation="sdpa").to(s.device)
    tensors = [p.detach() for p in model.parameters()]
    times = []
    with torch.inference_mode():
        for i in range(6):
            common.sync(s.device)
            t0 = time.perf_counter()
            for w in tensors:
                w.sum()
            common.sync(s.device)
            if i:
                times.append(time.perf_counter() - t0)
    size = sum(w.numel() * w.element_size() for w in tensors)
    return {"weights_gb": round(size / 1e9, 3), "dtype": str(tensors[0].dtype).removeprefix("torch."),
            "read_s": round(min(times), 5), "gb_per_s": round(size / 1e9 / min(times), 1)}


def score(s, prompts: list[str], answers: list[str], completions: list[str]) -> list[float]:
    """The configured rewards' weighted sum (the stage's reward), one per completion."""
    from tunix_nb import rewards

    g = s.cfg.grpo
    return rewards.score_all(prompts, completions, g.rewards, max_tokens=g.max_new_tokens,
                             soft_tokens=g.overlong_soft_tokens, count=rewards.token_counter(s.tok),
                             answer=answers)["total"]


def run_ours(s) -> tuple[list[dict], str]:
    import torch

    from tunix_nb.backends.torch import grpo, load
    from tunix_nb.backends.torch.decode import Decoder

    g = s.cfg.grpo
    model = load.load(s.cfg, s.source, SimpleNamespace(device=s.device, dtype=s.dtype)).model.to(s.device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=g.learning_rate, betas=(g.adam_b1, g.adam_b2), weight_decay=g.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    autocast = torch.autocast(device_type=s.device, dtype=torch.bfloat16) if s.dtype == "bf16" else nullcontext()
    decoder = Decoder(model, device=s.device, dtype=s.dtype)
    per_step = []
    for n, rows in enumerate(s.steps):
        common.sync(s.device)
        t0 = time.perf_counter()
        batch = grpo.rollout(decoder, s.tok, rows, g, seed=grpo.rollout_seed(s.seed, n))
        common.sync(s.device)
        t1 = time.perf_counter()
        group = [p for p in rows for _ in range(g.num_generations)]
        rewards = score(s, [p.prompt for p in group], [p.answer for p in group], batch.texts)
        advantages = grpo.group_advantages(rewards, g.num_generations, g.loss)
        t2 = time.perf_counter()
        grpo.update(model, optimizer, scheduler, batch, advantages, g, device=s.device, autocast=autocast)
        common.sync(s.device)
        t3 = time.perf_counter()
        per_step.append(step_figures(t3 - t0, t1 - t0, t3 - t2, completion_tokens=sum(batch.lengths),
                                     decode_steps=len(batch.completions[0]),
                                     update_tokens=sum(len(p) for p in batch.prompt_ids) + sum(batch.lengths)))
        print(f"  tunix-nb step {n + 1}: {per_step[-1]['step_s']:.2f} s")
    return per_step, "our sampler (KV cache, one decode batch a step) + one forward/backward of the group"


def run_trl(s) -> tuple[list[dict], str]:
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from tunix_nb import models

    g, t = s.cfg.grpo, s.cfg.training
    model = models.load_torch_model(s.source, dtype=s.dtype, lora=False,
                                    attn_implementation=s.cfg.model.attn_implementation)
    dataset = Dataset.from_list([{"prompt": p.prompt, "answer": p.answer} for rows in s.steps for p in rows])

    def reward(prompts, completions, answer, **_):
        return score(s, prompts, answer, completions)

    marks: list[float] = []
    generate_s: list[float] = []

    class Clock(TrainerCallback):
        def on_train_begin(self, *a, **k):
            marks.append(time.perf_counter())

        def on_step_end(self, *a, **k):
            common.sync(s.device)
            marks.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(output_dir=out, per_device_train_batch_size=g.prompts_per_step * g.num_generations,
                            num_generations=g.num_generations, max_completion_length=g.max_new_tokens,
                            temperature=g.temperature, top_k=g.top_k or 0, top_p=g.top_p or 1.0, beta=g.beta,
                            epsilon=g.epsilon, loss_type="grpo", learning_rate=g.learning_rate,
                            lr_scheduler_type="constant", warmup_steps=0, max_grad_norm=g.max_grad_norm,
                            max_steps=len(s.steps), logging_steps=1, report_to=[], save_strategy="no",
                            shuffle_dataset=False, seed=s.seed, use_cpu=s.device == "cpu", bf16=s.dtype == "bf16",
                            gradient_checkpointing=False, disable_tqdm=True, dataloader_num_workers=0,
                            # the stage's stop tokens (<end_of_turn> and <eos>), not <eos> alone
                            generation_kwargs={"eos_token_id": models.stop_token_ids(s.tok)})
        lora = LoraConfig(r=t.lora.rank, lora_alpha=t.lora.alpha, lora_dropout=0.0,
                          target_modules=list(t.lora.target_modules), task_type="CAUSAL_LM")
        trainer = GRPOTrainer(model=model, reward_funcs=[reward], args=config, train_dataset=dataset,
                              processing_class=s.tok, peft_config=lora, callbacks=[Clock()])
        trainer.remove_callback(PrinterCallback)  # our own line per step instead of its log dicts
        generate = trainer.model.generate

        def timed_generate(*a, **k):  # the rollouts: TRL calls the (unwrapped) model's generate
            common.sync(s.device)
            t0 = time.perf_counter()
            try:
                return generate(*a, **k)
            finally:
                common.sync(s.device)
                generate_s.append(time.perf_counter() - t0)

        trainer.model.generate = timed_generate
        trainer.train()
        logs = [h for h in trainer.state.log_history if "completions/mean_length" in h]
    rows = g.prompts_per_step * g.num_generations
    per_step = []
    for n, log in enumerate(logs):
        step_s = marks[n + 1] - marks[n]
        rollout_s = generate_s[n] if len(generate_s) == len(logs) else None
        completion_tokens = round(log["completions/mean_length"] * rows)
        prompt_tokens = sum(len(s.tok(p.prompt)["input_ids"]) for p in s.steps[n]) * g.num_generations
        per_step.append(step_figures(step_s, rollout_s, step_s - rollout_s if rollout_s is not None else None,
                                     completion_tokens=completion_tokens,
                                     decode_steps=round(log["completions/max_length"]),
                                     update_tokens=prompt_tokens + completion_tokens))
        print(f"  trl-grpo step {n + 1}: {step_s:.2f} s")
    note = "transformers generate (no vLLM); update = the step minus generate (rewards, logps, backward, step)"
    return per_step, note if len(generate_s) == len(logs) else note + "; generate not timed"


def step_figures(step_s, rollout_s, update_s, *, completion_tokens, decode_steps, update_tokens) -> dict:
    rate = lambda n, secs: round(n / secs, 1) if secs else None  # noqa: E731
    return {"step_s": round(step_s, 3), "rollout_s": round(rollout_s, 3) if rollout_s is not None else None,
            "update_s": round(update_s, 3) if update_s is not None else None,
            "completion_tokens": completion_tokens, "decode_steps": decode_steps, "update_tokens": update_tokens,
            "rollout_tokens_per_s": rate(completion_tokens, rollout_s),
            "update_tokens_per_s": rate(update_tokens, update_s),
            "decode_step_s": round(rollout_s / decode_steps, 4) if rollout_s and decode_steps else None}


def summary(per_step: list[dict], floor: dict) -> dict:
    """Medians over the steps after the first (warm-up)."""
    timed = per_step[1:] or per_step
    med = lambda k: (round(statistics.median(v), 4) if (v := [p[k] for p in timed if p[k] is not None])  # noqa: E731
                     else None)
    out = {k: med(k) for k in ("step_s", "rollout_s", "update_s", "rollout_tokens_per_s", "update_tokens_per_s",
                               "decode_step_s")}
    out["decode_vs_floor"] = round(out["decode_step_s"] / floor["read_s"], 2) if out["decode_step_s"] else None
    return out


if __name__ == "__main__":
    main()
