"""Real training of the real tiny Gemma 3 model on the project's data, on CPU."""

import json

import pytest
import torch

from conftest import ROOT
from types import SimpleNamespace

from tunix_nb import data, inputs, models
from tunix_nb.backends.torch import sft as train_torch
from tunix_nb.backends.torch.load import apply_lora, policy_from
from tunix_nb.config import load_config
from tunix_nb.evidence import Run, read_jsonl
from tunix_nb.stages import sft_stage

METRIC_KEYS = {"step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s"}


CPU = SimpleNamespace(device="cpu", dtype="fp32")


def fit(tmp_path, run_id, *overrides, max_steps=12):
    cfg = load_config(None, [
        "training.epochs=null", f"training.max_steps={max_steps}", "training.warmup_steps=2",
        "data.train_limit=96", f"output.root={tmp_path}", f"output.run_id={run_id}", *overrides])
    source = models.resolve_source(cfg.model.source)
    tok = models.load_tokenizer(source.path)
    records = inputs.load_records(ROOT / cfg.data.train_file, "train")[: cfg.data.train_limit]
    examples, _ = data.encode_train(records, tok, cfg.data.max_seq_len)
    model = models.load_torch_model(source, dtype="fp32", lora=cfg.training.lora is not None,
                                    attn_implementation="eager")
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    run = Run.create(cfg, plan={}, model_source=source.to_dict(), datasets={})
    with run.guard():
        result = train_torch.train(cfg, policy_from(model, cfg), tok, examples, sft_stage(run, cfg), plan=CPU, root=run.dir / "checkpoints")
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


def test_same_seed_same_loss_curve_other_seed_differs(tmp_path, tiny_model_dir):
    small = "training.max_batch_tokens=1024"
    _, _, run_a = fit(tmp_path, "seed-a", small, max_steps=4)
    _, _, run_b = fit(tmp_path, "seed-b", small, max_steps=4)
    _, _, run_c = fit(tmp_path, "seed-c", small, "training.seed=7", max_steps=4)
    losses = lambda r: [m["loss"] for m in read_jsonl(r.dir / "metrics.jsonl")]
    assert losses(run_a) == losses(run_b)
    assert losses(run_a) != losses(run_c)


def test_lora_trains_only_the_adapters(tmp_path, tiny_model_dir):
    result, before, run = fit(tmp_path, "lora", "training.lora.rank=8", "training.learning_rate=1e-2",
                              "training.save_every=5", "training.max_batch_tokens=1024")
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
                         "training.grad_accum=2", "training.lr_schedule=linear", "training.max_batch_tokens=1024",
                         max_steps=8)
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


# --- speed levers: each must leave the loss and its gradients unchanged ----------------------

def real_examples(tokenizer, n, start=0):
    records = inputs.load_records(ROOT / "training/data/dev-reasoning-v2.jsonl", "train")[start:start + n]
    return data.encode_train(records, tokenizer, 512)[0]


def loss_and_grads(model, batches, loss_chunk_size=None):
    """Summed loss over collated batches and every parameter's gradient (one backward each)."""
    model.zero_grad(set_to_none=True)
    total = 0.0
    for b in batches:
        loss = train_torch.batch_loss_sum(model, {k: torch.tensor(v) for k, v in b.items()}, loss_chunk_size)
        loss.backward()
        total += loss.item()
    return total, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def assert_same(a, b):
    (loss_a, grads_a), (loss_b, grads_b) = a, b
    assert loss_a == pytest.approx(loss_b, rel=1e-5)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for k in grads_a:  # fp32 rounding of a summed loss: tolerance relative to the tensor's scale
        scale = float(grads_a[k].abs().max())
        torch.testing.assert_close(grads_a[k], grads_b[k], rtol=1e-4, atol=1e-6 * max(scale, 1.0))


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_packed_loss_and_gradients_equal_the_padded_ones(tiny_model_dir, tiny_tokenizer, attn):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation=attn)
    exs = real_examples(tiny_tokenizer, 5)
    assert len({len(e) for e in exs}) > 1  # the padded batch really has padding
    padded = loss_and_grads(model, [data.collate(exs, tiny_tokenizer.pad_token_id)])
    packed = loss_and_grads(model, [data.collate_packed(exs)])
    assert_same(padded, packed)


def test_packed_attention_stays_inside_each_sample(tiny_model_dir, tiny_tokenizer):
    """Each sample's logits inside a packed row equal its logits alone; the same row with plain
    causal attention over the whole row (explicit all-ones mask) gives other logits, so it is the
    block-diagonal mask derived from the position restarts that keeps samples apart."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    exs = real_examples(tiny_tokenizer, 3)
    row = {k: torch.tensor(v) for k, v in data.collate_packed(exs).items() if k != "labels"}
    row["use_cache"] = False  # as in training (with a KV cache transformers skips the packed mask)
    with torch.no_grad():
        packed = model(**row).logits[0]
        leaky = model(**row, attention_mask=torch.ones_like(row["input_ids"])).logits[0]
        alone = [model(input_ids=torch.tensor([e.input_ids])).logits[0] for e in exs]
    torch.testing.assert_close(packed, torch.cat(alone), rtol=1e-4, atol=1e-4)
    second = slice(len(exs[0]), len(exs[0]) + len(exs[1]))
    assert (leaky[second] - alone[1]).abs().max() > 1e-2


@pytest.mark.parametrize("softcap", [None, 1.0])
@pytest.mark.parametrize("layout", ["padded", "packed"])
def test_chunked_loss_and_gradients_equal_the_plain_ones(tiny_model_dir, tiny_tokenizer, softcap, layout):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    model.config.final_logit_softcapping = softcap  # Gemma 2 caps final logits; HF's forward reads this
    exs = real_examples(tiny_tokenizer, 4, start=10)
    batch = data.collate(exs, tiny_tokenizer.pad_token_id) if layout == "padded" else data.collate_packed(exs)
    plain = loss_and_grads(model, [batch])
    for chunk in (37, 4096):  # 37 does not divide the target count; 4096 is one chunk
        assert_same(plain, loss_and_grads(model, [batch], loss_chunk_size=chunk))
    if softcap is not None:  # the cap really changes the result, so it is really applied
        model.config.final_logit_softcapping = None
        uncapped = loss_and_grads(model, [batch], 37)[1]["model.embed_tokens.weight"]
        capped = plain[1]["model.embed_tokens.weight"]
        assert (uncapped - capped).norm() > 0.05 * capped.norm()


def test_chunked_loss_never_computes_more_than_one_chunk_of_logits(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    exs = real_examples(tiny_tokenizer, 4)
    batch = {k: torch.tensor(v) for k, v in data.collate_packed(exs).items()}
    rows = []
    model.lm_head.register_forward_hook(lambda mod, args, out: rows.append(out.reshape(-1, out.shape[-1]).shape[0]))
    loss = train_torch.batch_loss_sum(model, batch, loss_chunk_size=50)
    forward_calls = len(rows)
    loss.backward()
    n_targets = int((batch["labels"][:, 1:] != -100).sum())
    assert forward_calls == -(-n_targets // 50) and max(rows) == 50
    assert len(rows) == 2 * forward_calls  # backward recomputed each chunk's logits instead of storing them
    assert sum(rows[:forward_calls]) == n_targets  # prompt positions never get logits


def test_chunked_loss_under_autocast_casts_the_output_layer_once(tiny_model_dir, tiny_tokenizer):
    """bf16 autocast: the lm_head weight is cast once per forward, not again in every chunk's
    recomputation in backward (Gemma's 256k x hidden matrix: ~0.7 ms a cast on an H200), and the
    loss and gradients are autocast's own (the same as the unchunked loss under autocast)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    big = model.lm_head.weight.shape

    class CastsOfTheOutputLayer(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten._to_copy.default and tuple(args[0].shape) == tuple(big):
                CastsOfTheOutputLayer.count += 1
            return func(*args, **(kwargs or {}))

    def loss_and_grads_autocast(chunk):  # as the training loop runs it: backward outside autocast
        model.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = train_torch.batch_loss_sum(model, {k: torch.tensor(v) for k, v in batch.items()}, chunk)
        loss.backward()
        return loss.item(), model.lm_head.weight.grad.clone()

    batch = data.collate_packed(real_examples(tiny_tokenizer, 4))
    plain = loss_and_grads_autocast(None)
    with CastsOfTheOutputLayer():
        chunked = loss_and_grads_autocast(40)
    n_chunks = -(-sum(l != -100 for l in batch["labels"][0][1:]) // 40)
    assert n_chunks >= 3 and CastsOfTheOutputLayer.count == 2  # the forward's cast, and its gradient's back
    assert chunked[0] == pytest.approx(plain[0], rel=1e-2)
    torch.testing.assert_close(chunked[1], plain[1], rtol=0.05, atol=0.05 * float(plain[1].abs().max()))


def test_chunked_loss_with_lora_equals_the_plain_loss(tiny_model_dir, tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    cfg = load_config(None, ["training.lora.rank=4"])
    model = apply_lora(model, cfg.training)
    for p in model.parameters():  # LoRA B starts at zero; move it so the adapters matter
        if p.requires_grad:
            torch.nn.init.normal_(p, std=0.02)
    batch = data.collate_packed(real_examples(tiny_tokenizer, 3))
    assert_same(loss_and_grads(model, [batch]), loss_and_grads(model, [batch], loss_chunk_size=64))


def test_packed_chunked_run_trains(tmp_path, tiny_model_dir):
    result, before, run = fit(tmp_path, "packed", "training.packing=true", "training.loss_chunk_size=256",
                              "training.max_batch_tokens=1024")
    rows = read_jsonl(run.dir / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 13))
    first, last = rows[0]["loss"], sum(r["loss"] for r in rows[-3:]) / 3
    assert last < 0.75 * first, (first, last)
    # A packed row holds several samples and no padding: tokens per step is the real count, within
    # the budget, and rows are nearly full (an epoch's leftover row may be short).
    tokens = sorted(r["tokens"] for r in rows)
    assert tokens[-1] <= 1024 and tokens[len(tokens) // 2] > 900
    after = result.model.state_dict()
    assert all(not torch.equal(v, after[k]) for k, v in before.items())


def test_compiled_layers_give_the_same_loss_and_gradients(tiny_model_dir, tiny_tokenizer):
    """training.compile: torch.compile of each decoder layer (dynamic shapes: packed rows of
    different lengths reuse one graph) is exact. About a minute on 2 CPU cores, mostly compiling."""
    from transformers import AutoModelForCausalLM

    eager = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    compiled = AutoModelForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa")
    train_torch.compile_layers(compiled)
    exs = real_examples(tiny_tokenizer, 6)
    for rows in (exs[:3], exs[3:]):
        batch = [data.collate_packed(rows)]
        assert_same(loss_and_grads(eager, batch, 64), loss_and_grads(compiled, batch, 64))
    assert compiled.state_dict().keys() == eager.state_dict().keys()  # checkpoints keep HF names
