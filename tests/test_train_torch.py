"""Real training of the real tiny Gemma 3 model on the project's data, on CPU."""

import json

import pytest
import torch

from conftest import ROOT
from tunix_nb import data, models, train_torch
from tunix_nb.config import load_config
from tunix_nb.evidence import Run, read_jsonl

METRIC_KEYS = {"step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s"}


def fit(tmp_path, run_id, *overrides, max_steps=12):
    cfg = load_config(None, [
        "training.epochs=null", f"training.max_steps={max_steps}", "training.warmup_steps=2",
        "data.train_limit=96", f"output.root={tmp_path}", f"output.run_id={run_id}", *overrides])
    source = models.resolve_source(cfg.model.source)
    tok = models.load_tokenizer(source.path)
    records = data.load_records(ROOT / cfg.data.train_file, "train")[: cfg.data.train_limit]
    examples, _ = data.encode_train(records, tok, cfg.data.max_seq_len)
    model = models.load_torch_model(source, dtype="fp32", lora=cfg.training.lora is not None,
                                    attn_implementation="eager")
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    run = Run.create(cfg, plan={}, model_source=source.to_dict(), datasets={})
    with run.guard():
        result = train_torch.train(cfg, model, tok, examples, run, "cpu", "fp32")
    return result, before, run


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, tiny_model_dir):
    return fit(tmp_path_factory.mktemp("runs"), "full-a")


def test_loss_falls_and_weights_change(full_run):
    result, before, run = full_run
    rows = read_jsonl(run.dir / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 13))
    assert all(METRIC_KEYS <= set(r) for r in rows)
    first, last = rows[0]["loss"], sum(r["loss"] for r in rows[-3:]) / 3
    assert last < 0.75 * first, (first, last)
    after = result.model.state_dict()
    changed = [k for k, v in before.items() if not torch.equal(v, after[k].cpu())]
    assert len(changed) == len(before)  # full fine-tuning moves every tensor


def test_metrics_are_consistent(full_run):
    _, _, run = full_run
    rows = read_jsonl(run.dir / "metrics.jsonl")
    assert all(r["tokens"] > r["target_tokens"] > 0 and r["grad_norm"] > 0 for r in rows)
    assert rows[0]["lr"] < rows[1]["lr"]  # warmup
    assert rows[-1]["lr"] < rows[2]["lr"]  # cosine decay
    assert [r["elapsed_s"] for r in rows] == sorted(r["elapsed_s"] for r in rows)


def test_checkpoint_is_a_loadable_hf_folder(full_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result, _, run = full_run
    assert result.checkpoint == run.dir / "checkpoints" / "step-000012"
    reloaded = AutoModelForCausalLM.from_pretrained(result.checkpoint)
    AutoTokenizer.from_pretrained(result.checkpoint)
    for k, v in reloaded.state_dict().items():
        torch.testing.assert_close(v, result.model.state_dict()[k])


def test_same_seed_same_loss_curve_other_seed_differs(full_run, tmp_path):
    _, _, run_a = full_run
    _, _, run_b = fit(tmp_path, "full-b")
    _, _, run_c = fit(tmp_path, "full-c", "training.seed=7")
    losses = lambda r: [m["loss"] for m in read_jsonl(r.dir / "metrics.jsonl")]
    assert losses(run_a) == losses(run_b)
    assert losses(run_a) != losses(run_c)


def test_lora_trains_only_the_adapters(tmp_path, tiny_model_dir):
    result, before, run = fit(tmp_path, "lora", "training.lora.rank=8", "training.learning_rate=1e-2",
                              "training.save_every=5")
    rows = read_jsonl(run.dir / "metrics.jsonl")
    assert rows[-1]["loss"] < rows[0]["loss"]
    state = result.model.get_base_model().state_dict()
    base = {k.replace(".base_layer", ""): v for k, v in state.items() if "lora_" not in k}
    assert base.keys() == before.keys()
    for k, v in before.items():
        torch.testing.assert_close(base[k], v, rtol=0, atol=0)  # frozen base
    lora = [v for k, v in state.items() if "lora_B" in k]
    assert lora and all(v.abs().sum() > 0 for v in lora)  # adapters (initialised at 0) moved
    ckpts = sorted(p.name for p in (run.dir / "checkpoints").iterdir())
    assert ckpts == ["step-000005", "step-000010", "step-000012"]
    cfg = json.loads((run.dir / "checkpoints" / "step-000012" / "adapter_config.json").read_text())
    assert cfg["r"] == 8


def test_adafactor_with_grad_accumulation_trains(tmp_path, tiny_model_dir):
    result, _, run = fit(tmp_path, "adafactor", "training.optimizer=adafactor", "training.learning_rate=1e-2",
                         "training.grad_accum=2", "training.lr_schedule=linear", max_steps=8)
    rows = read_jsonl(run.dir / "metrics.jsonl")
    assert len(rows) == 8 and rows[-1]["loss"] < rows[0]["loss"]


def test_loss_normalisation_makes_accumulation_exact(tiny_model_dir, tiny_tokenizer):
    """One padded micro-batch of 4 samples and 4 micro-batches of 1 give the same step loss
    (sum over target tokens / the step's target count), so grad accumulation changes nothing."""
    from transformers import AutoModelForCausalLM

    from tunix_nb.prompts import encode_example

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    exs = [encode_example(tiny_tokenizer, f"What is {i} + {i * 3}?", f"{i} + {i * 3} = {i * 4}." * i, str(i * 4))
           for i in range(1, 5)]

    def step_loss(groups):
        n_targets = sum(sum(l != -100 for l in e.labels) for e in exs)
        total = 0.0
        for g in groups:
            b = {k: torch.tensor(v) for k, v in data.collate(g, tiny_tokenizer.pad_token_id).items()}
            with torch.no_grad():
                logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
            total += float(train_torch.token_loss_sum(logits, b["labels"])) / n_targets
        return total

    assert step_loss([exs]) == pytest.approx(step_loss([[e] for e in exs]), rel=1e-5)


def test_logits_window_covers_every_target():
    ig = -100
    labels = [[ig, ig, ig, 5, 6, ig], [ig, ig, 7, 8, 9, 4]]
    keep = train_torch.logits_window(labels)
    assert keep == 5  # positions 1..5: position 1 predicts the first target (row 2, index 2)
    assert train_torch.logits_window([[ig, ig, ig, ig, 3]]) == 2


def test_windowed_loss_equals_the_full_loss(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    from tunix_nb.prompts import encode_example

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    exs = [encode_example(tiny_tokenizer, q, "2 + 2 = 4.", "4") for q in ("What is 2 + 2?", "Add two and two, please?")]
    b = data.collate(exs, tiny_tokenizer.pad_token_id)
    t = {k: torch.tensor(v) for k, v in b.items()}
    keep = train_torch.logits_window(b["labels"])
    with torch.no_grad():
        full = train_torch.token_loss_sum(model(input_ids=t["input_ids"], attention_mask=t["attention_mask"]).logits,
                                          t["labels"])
        window = train_torch.token_loss_sum(
            model(input_ids=t["input_ids"], attention_mask=t["attention_mask"], logits_to_keep=keep).logits,
            t["labels"][:, -keep:])
    assert keep < t["input_ids"].shape[1]
    torch.testing.assert_close(window, full)
