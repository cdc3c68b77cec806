"""Training throughput, one process, same data, three ways to train:

  hf-trainer   the recipe users ran: HF Trainer, batch 1 x grad accumulation 4, Adafactor,
               bf16 where the card has it, SDPA attention
  trl-sft      TRL's SFTTrainer, packing (4096-token rows) x batch 2, no gradient checkpointing
               (skipped, with a note, when trl is not installed)
  tunix-nb     tunix_nb's PyTorch trainer with the preset a user would pick (submission_local_gpu.yaml
               for the Gemma-2B shape, smoke_tiny.yaml for the tiny model); tunix-nb-plain is the
               same preset with packing, chunked loss and compile switched off

Per row: samples/s, tokens/s (real tokens, padding excluded), MFU = 6 * params * tokens/s /
the bf16 (fp32 on CPU) matmul rate this script measures, peak GPU memory. Each row runs for
--warmup optimizer steps (excluded), then --windows windows of --window-seconds each; each
figure is the median over the windows. Prints one table and writes bench/results/<name>.json.

    python bench/train_throughput.py --model gemma-2b-shape          # on the GPU box
    python bench/train_throughput.py --model tiny                    # any CPU, about a minute
    python bench/train_throughput.py --samples records,anchor ...    # the prepared sample sets
    python bench/train_throughput.py --t4-memory                     # Gemma-2B-shaped LoRA / full FT peak memory (CUDA)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import common

PRESETS = {"gemma-2b-shape": "training/configs/submission_local_gpu.yaml", "tiny": "training/configs/smoke_tiny.yaml"}
# Our rows: the preset as it is, and with one thing changed.
VARIANTS = {"tunix-nb": [],
            "tunix-nb-plain": ["training.packing=false", "training.loss_chunk_size=null", "training.compile=false"],
            "tunix-nb-sdpa": ["model.attn_implementation=sdpa"]}  # packed rows, dense masked attention


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny", help="tiny | gemma-2b-shape | an HF model folder")
    ap.add_argument("--rows", default="hf-trainer,trl-sft,tunix-nb,tunix-nb-plain")
    ap.add_argument("--warmup", type=int, default=2, help="optimizer steps excluded from the figures")
    ap.add_argument("--windows", type=int, default=3, help="figures are medians over this many windows")
    ap.add_argument("--window-seconds", type=float, default=5.0, help="the length of each window")
    ap.add_argument("--profile-steps", type=int, default=0,
                    help="after our rows' windows, profile this many steps (CUDA): the top GPU ops per step")
    ap.add_argument("--samples", default=None,
                    help="prepared sample sets (bench/prepare_samples.py), e.g. records,anchor; each row runs on "
                         "each (default: the v2 training file, tiny tokenizer)")
    ap.add_argument("--preset", default=None, help="tunix-nb preset (default: by --model)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override for the tunix-nb rows' preset, e.g. --set training.packing=true")
    ap.add_argument("--name", default=None, help="results file name (default: train_<model>_<device>)")
    ap.add_argument("--out-dir", type=Path, default=common.RESULTS)
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--t4-memory", action="store_true", help="measure Gemma-2B-shaped LoRA and full FT peak memory")
    args = ap.parse_args()
    device, dtype = common.device_and_dtype(args.device)
    if args.t4_memory:
        return t4_memory(args, device)

    tokenizer = common.tiny_tokenizer()
    sets = ({name: common.load_samples(name) for name in args.samples.split(",")} if args.samples
            else {"v2-tiny-tokenizer": common.train_examples(tokenizer)})
    ceiling = common.matmul_ceiling_tflops(device, dtype)
    params = sum(p.numel() for p in common.build_model(args.model, device="meta" if args.model != "tiny" else "cpu")
                 .parameters())
    runners = {"hf-trainer": run_hf_trainer, "trl-sft": run_trl, **{name: run_tunix for name in VARIANTS}}
    rows = []
    payload = {"bench": "train_throughput", "model": args.model, "params": params, "dtype": dtype,
               "matmul_ceiling_tflops": round(ceiling, 3), "ceiling_dtype": "bf16" if dtype == "bf16" else "fp32",
               "warmup_steps": args.warmup, "windows": args.windows, "window_seconds": args.window_seconds,
               "sample_sets": {k: {"samples": len(v), "tokens": sum(len(e) for e in v)} for k, v in sets.items()},
               "environment": common.environment(device), "rows": rows}
    name_out = args.name or f"train_{args.model}_{device}"
    for name in args.rows.split(","):
        for set_name, examples in sets.items():
            common.reset_peak(device)
            row = {"row": name, "samples": set_name}
            try:
                marks, note, *extra = runners[name](name, args, device, dtype, tokenizer, examples,
                                                    Deadline(args, device))
                measured = {**figures(marks, args, params, ceiling, device), **(extra[0] if extra else {})}
            except ImportError as e:
                rows.append({**row, "status": "skipped", "note": f"{e.name} not installed"})
                print(f"{name} on {set_name}: skipped ({e.name} not installed)")
                break
            except Exception as e:  # one row's failure (out of memory, a kernel missing) is that row's result
                rows.append({**row, "status": "error", "note": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}",
                             "peak_memory_gb": common.peak_gb(device)})
                print(f"{name} on {set_name}: {rows[-1]['note']}")
                continue
            rows.append({**row, "status": "ok", "note": note, **measured})
            print(f"{name} on {set_name}: {rows[-1]['tokens_per_s']} tokens/s")
            common.write_results(name_out, payload, args.out_dir)  # row by row: a run cut short keeps its rows
    common.print_table(rows, [("row", "row"), ("samples", "data"), ("samples_per_s", "samples/s"),
                              ("tokens_per_s", "tokens/s"), ("mfu", "MFU"), ("peak_memory_gb", "peak GB"),
                              ("note", "note")])
    print(f"matmul ceiling {ceiling:.3g} TFLOP/s ({payload['ceiling_dtype']}), {params / 1e6:.1f} M params, "
          f"{payload['environment']['device']}")
    print(f"results: {common.write_results(name_out, payload, args.out_dir)}")


MAX_STEPS = 100_000  # rows stop on their Deadline long before


class Deadline:
    """Ends a row --warmup steps plus --windows x --window-seconds after it starts; `done()` is
    asked after every optimizer step (once its work is on the clock: the GPU synchronised)."""

    def __init__(self, args, device: str):
        self.warmup, self.seconds, self.device = args.warmup, args.windows * args.window_seconds, device
        self.steps, self.start = 0, None

    def done(self) -> bool:
        self.steps += 1
        if self.steps == self.warmup:
            self.start = time.perf_counter()
        return self.start is not None and time.perf_counter() - self.start >= self.seconds


class Profiler:
    """After a row's windows, `steps` more optimizer steps under torch.profiler: where a step's
    device time goes, op by op (the GPU's kernels; a CPU's ops), and how busy the device is."""

    def __init__(self, steps: int, device: str):
        self.steps, self.device, self.done, self.prof, self.summary = steps, device, 0, None, None

    @property
    def running(self) -> bool:
        return self.prof is not None

    def start(self) -> bool:
        if not self.steps:
            return False
        common.sync(self.device)
        self.prof = common.profiler(self.device)
        self.prof.start()
        self.begun = time.perf_counter()
        return True

    def step(self) -> None:
        self.done += 1
        if self.done < self.steps:
            return
        common.sync(self.device)
        wall = (time.perf_counter() - self.begun) / self.steps
        self.prof.stop()
        self.summary = common.profile_summary(self.prof, self.steps, self.device, wall, unit="step")
        raise TimeUp


class TimeUp(Exception):
    """Raised from inside a training loop that has no stop hook of its own (ours)."""


def figures(marks: list[tuple[float, int, int]], args, params: int, ceiling: float, device: str) -> dict:
    """marks: (time, cumulative samples, cumulative real tokens) after each optimizer step. After
    the warm-up steps, windows of --window-seconds: each one's rate over the steps that end in it."""
    start = marks[args.warmup][0]
    per_window = []
    for w in range(args.windows):
        inside = [m for m in marks[args.warmup:]
                  if start + w * args.window_seconds <= m[0] <= start + (w + 1) * args.window_seconds]
        if len(inside) >= 2:
            a, b = inside[0], inside[-1]
            per_window.append(((b[1] - a[1]) / (b[0] - a[0]), (b[2] - a[2]) / (b[0] - a[0])))
    if not per_window:
        raise RuntimeError(f"no window held two step ends: make --window-seconds ({args.window_seconds}) longer")
    samples_s = statistics.median(s for s, _ in per_window)
    tokens_s = statistics.median(t for _, t in per_window)
    return {"samples_per_s": round(samples_s, 3), "tokens_per_s": round(tokens_s, 1),
            "mfu": round(6 * params * tokens_s / (ceiling * 1e12), 5), "peak_memory_gb": common.peak_gb(device),
            "window_tokens_per_s": [round(t, 1) for _, t in per_window], "steps_measured": len(marks) - 1 - args.warmup}


class Counter:
    """Wraps a collator: counts the samples and real tokens each optimizer step consumed."""

    def __init__(self, collate, count):
        self.collate, self.count = collate, count
        self.samples = self.tokens = 0

    def __call__(self, features):
        batch = self.collate(features)
        samples, tokens = self.count(batch)
        self.samples += samples
        self.tokens += tokens
        return batch


def step_marks(counter: Counter, device: str, deadline: Deadline):
    """A TrainerCallback recording (time, samples, tokens) at every optimizer step's end and
    stopping the trainer at the deadline."""
    from transformers import TrainerCallback

    marks = [(time.perf_counter(), 0, 0)]

    class Marks(TrainerCallback):
        def on_step_end(self, args, state, control, **__):
            common.sync(device)
            marks.append((time.perf_counter(), counter.samples, counter.tokens))
            control.should_training_stop = deadline.done()

    return Marks(), marks


def run_hf_trainer(name, args, device, dtype, tokenizer, examples, deadline):
    import torch
    from transformers import Trainer, TrainingArguments

    model = common.build_model(args.model, attn="sdpa", device=device)

    def collate(features):  # batch 1: no padding at all
        ids = torch.tensor([f["input_ids"] for f in features])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([f["labels"] for f in features])}

    counter = Counter(collate, lambda b: (b["input_ids"].shape[0], int(b["attention_mask"].sum())))
    callback, marks = step_marks(counter, device, deadline)
    with tempfile.TemporaryDirectory() as tmp:
        targs = TrainingArguments(output_dir=tmp, per_device_train_batch_size=1, gradient_accumulation_steps=4,
                                  optim="adafactor", learning_rate=2e-5, bf16=dtype == "bf16", max_steps=MAX_STEPS,
                                  logging_strategy="no", save_strategy="no", report_to=[], seed=42, disable_tqdm=True,
                                  dataloader_num_workers=0, remove_unused_columns=False, use_cpu=device == "cpu")
        data = [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]
        Trainer(model=model, args=targs, train_dataset=data, data_collator=counter, callbacks=[callback]).train()
    return marks, "batch 1 x accum 4, Adafactor, sdpa" + (", bf16" if dtype == "bf16" else ", fp32")


def run_trl(name, args, device, dtype, tokenizer, examples, deadline):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    model = common.build_model(args.model, attn="sdpa", device=device)
    data = Dataset.from_list([{"input_ids": e.input_ids, "completion_mask": [int(l != -100) for l in e.labels]}
                              for e in examples])
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SFTConfig(output_dir=tmp, packing=True, max_length=4096, per_device_train_batch_size=2,
                        gradient_checkpointing=False, completion_only_loss=True, bf16=dtype == "bf16",
                        max_steps=MAX_STEPS, logging_strategy="no", save_strategy="no", report_to=[], seed=42, disable_tqdm=True,
                        use_cpu=device == "cpu")
        trainer = SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tokenizer)

        def count(b):  # padding-free rows: one sequence starts at every position id 0
            if "position_ids" in b:
                return int((b["position_ids"] == 0).sum()), int(b["input_ids"].numel())
            return b["input_ids"].shape[0], int(b["attention_mask"].sum())

        counter = Counter(trainer.data_collator, count)
        trainer.data_collator = counter
        callback, marks = step_marks(counter, device, deadline)
        trainer.add_callback(callback)
        trainer.train()
    return marks, f"packing bfd 4096 x batch 2, {trainer.model.config._attn_implementation}"


def run_tunix(name, args, device, dtype, tokenizer, examples, deadline):
    from types import SimpleNamespace

    from tunix_nb import data
    from tunix_nb.backends.torch import attention
    from tunix_nb.backends.torch import sft as train_torch
    from tunix_nb.backends.torch.load import policy_from
    from tunix_nb.config import load_config
    from tunix_nb.evidence import Run, read_jsonl
    from tunix_nb.stages import sft_stage

    preset = args.preset or PRESETS.get(args.model, PRESETS["gemma-2b-shape"])
    with tempfile.TemporaryDirectory() as tmp:
        overrides = ["training.epochs=null", f"training.max_steps={MAX_STEPS}", "training.warmup_steps=0",
                     "training.save_every=null", f"output.root={tmp}", "output.run_id=bench",
                     f"data.max_seq_len={max(640, max(len(e) for e in examples))}",
                     *args.set, *VARIANTS[name]]
        cfg = load_config(common.ROOT / preset, overrides)
        t = cfg.training
        model = common.build_model(args.model, attn=cfg.model.attn_implementation, device=device)
        attention.prepare_for_training(model, device)
        kernel = model.config._attn_implementation  # flex falls back to a dense kernel on a CPU
        run = Run.create(cfg, plan={}, model_source={}, datasets={})
        stage = sft_stage(run, cfg)
        record = stage.step

        profiler = Profiler(args.profile_steps, device)

        def step(*a, **kw):  # our loop has no stop hook: the row ends at its deadline from here
            record(*a, **kw)
            if profiler.running:
                profiler.step()
            elif deadline.done() and not profiler.start():
                raise TimeUp

        stage.step = step
        try:
            train_torch.train(cfg, policy_from(model, cfg), tokenizer, examples, stage,
                              plan=SimpleNamespace(device=device, dtype=dtype), root=run.dir / "checkpoints")
        except TimeUp:
            pass
        rows = read_jsonl(run.dir / "metrics.jsonl")
    schedule = data.plan_steps([len(e) for e in examples], seed=t.seed, grad_accum=t.grad_accum,
                               max_batch_tokens=t.max_batch_tokens, micro_batch_size=t.micro_batch_size,
                               epochs=None, max_steps=len(rows), packing=t.packing)
    marks, samples, tokens = [(0.0, 0, 0)], 0, 0
    for r, step in zip(rows, schedule):
        samples += sum(len(mb) for mb in step)
        tokens += r["tokens"]
        marks.append((r["elapsed_s"], samples, tokens))
    extra = {"profile": profiler.summary} if profiler.summary else {}
    note = (f"{Path(preset).stem}: " + ("packed " if t.packing else "bucketed ") + f"<= {t.max_batch_tokens or '-'} tok"
            + f" / <= {t.micro_batch_size or '-'} rows x accum {t.grad_accum}, {t.optimizer}, "
            + f"chunk {t.loss_chunk_size or 'off'}, compile {'on' if t.compile else 'off'}, {kernel}")
    return marks, note, extra


def t4_memory(args, device: str) -> None:
    """Peak GPU memory of one training step of the Gemma-2B shape at 512 tokens, fp32 (a T4 has no
    bf16): LoRA rank 16 on attention+MLP (as it is, with gradient checkpointing, with the loss in
    128-position chunks), and full fine-tuning (AdamW and Adafactor)."""
    payload = {"bench": "t4_memory", "model": "gemma-2b-shape", "tokens": 512, "dtype": "fp32"}
    if device != "cuda":
        print("--t4-memory needs CUDA (it measures torch.cuda.max_memory_allocated); no GPU here, nothing measured")
        payload.update(status="skipped", note="needs CUDA")
    else:
        import torch

        from tunix_nb.backends.torch import sft as train_torch
        from tunix_nb.backends.torch.optim import make_optimizer
        from tunix_nb.config import load_config

        payload["environment"] = common.environment(device)
        cases = {"lora-r16": ["training.lora.rank=16", "training.optimizer=adamw"],
                 "lora-r16-grad-ckpt": ["training.lora.rank=16", "training.optimizer=adamw",
                                        "training.gradient_checkpointing=true"],
                 # the loss in 4 chunks of 128 positions: ~1 GiB of 256k-wide fp32 logits less at once
                 "lora-r16-chunk128": ["training.lora.rank=16", "training.optimizer=adamw",
                                       "training.loss_chunk_size=128"],
                 "full-adafactor": ["training.optimizer=adafactor"], "full-adamw": ["training.optimizer=adamw"]}
        rows = []
        for name, extra in cases.items():
            common.reset_peak(device)
            t = load_config(common.ROOT / PRESETS["gemma-2b-shape"], ["training.loss_chunk_size=512", *extra]).training
            try:
                model = common.training_model(t, device)
                params = [p for p in model.parameters() if p.requires_grad]
                opt = make_optimizer(params, t, device)
                ids = torch.randint(10, 1000, (1, 512), device=device)
                batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids.clone()}
                for _ in range(2):  # the second step has the optimizer state allocated
                    train_torch.batch_loss_sum(model, batch, t.loss_chunk_size).backward()
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                rows.append({"row": name, "status": "ok", "peak_memory_gb": common.peak_gb(device)})
            except torch.cuda.OutOfMemoryError:
                rows.append({"row": name, "status": "out of memory", "peak_memory_gb": common.peak_gb(device)})
            finally:
                model = opt = params = None
            print(rows[-1])
        payload["rows"] = rows
        common.print_table(rows, [("row", "row"), ("status", "status"), ("peak_memory_gb", "peak GB")])
    print(f"results: {common.write_results(args.name or 't4_memory', payload, args.out_dir)}")


if __name__ == "__main__":
    main()
