"""The Tunix backend: the same function as PyTorch (logits, first loss), the same data in fixed
shapes, checkpoints the judges restore in a fresh process, a run on an 8-device mesh killed and
resumed that trains like one device, and the time budget. Real JAX, real Tunix, real subprocesses."""

import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import (FRESH_NOTEBOOK, JUDGES_CELLS, ROOT, XLA_TEST_FLAGS, greedy_from_hf, greedy_from_tunix_export,
                      judges_output, listing, make_read_only, max_difference, run_cli, tunix_params, wait_for)
from tunix_nb import checkpoints
from tunix_nb.backends.tunix import load as tload
from tunix_nb.backends.tunix import sft as tt
from tunix_nb.backends.tunix import trainer
from tunix_nb.config import LoraConfig, load_config
from tunix_nb.errors import UserError
from tunix_nb.evidence import read_jsonl
from tunix_nb.prompts import IGNORE_INDEX, Encoded

TUNIX_SMOKE = ROOT / "training" / "configs" / "smoke_tiny_tunix.yaml"
TORCH_SMOKE = ROOT / "training" / "configs" / "smoke_tiny.yaml"
STEPS = 6
# Eight samples a step: the same batch on every backend and mesh. The reference run (and its
# killed-and-resumed twin) accumulates two micro-batches of four; the PyTorch run and the 8-device
# mesh take one micro-batch of eight, so comparing them checks the accumulation too.
SMALL = ["--set", "training.epochs=null", "--set", f"training.max_steps={STEPS}", "--set", "training.warmup_steps=1",
         "--set", "data.train_limit=8", "--set", "training.max_batch_tokens=null",
         "--set", "training.micro_batch_size=4", "--set", "training.grad_accum=2",
         "--set", "training.save_every=2", "--set", "training.learning_rate=0.01",
         "--set", "eval.limit=4", "--set", "eval.max_new_tokens=16", "--set", "eval.batch_size=4"]
ONE_MICRO_BATCH = ["--set", "training.micro_batch_size=8", "--set", "training.grad_accum=1"]
EIGHT_DEVICES = {"XLA_FLAGS": f"--xla_force_host_platform_device_count=8 {XLA_TEST_FLAGS}"}


def command(root, run_id, *extra):
    return ["run", "--config", str(TUNIX_SMOKE), "--run-id", run_id, "--set", f"output.root={root}", *SMALL, *extra]


def tunix_run(root, run_id, *extra, env=None):
    res = run_cli(*command(root, run_id, *extra), env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return root / run_id


def kill_after_step_3(root, run_id, *extra, env=None):
    """Start a run and SIGKILL it once step 3 is logged and a whole checkpoint >= 2 is on disk: orbax
    writes it asynchronously (besides its initial save of step 1), so "step 3 logged" alone may find
    only actor/1. Returns the newest checkpoint whose step was logged: where a resume starts."""
    proc = subprocess.Popen([sys.executable, "-m", "tunix_nb", *command(root, run_id, *extra)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    metrics = root / run_id / "metrics.jsonl"
    saved = lambda: [s for s, _ in checkpoints.saved(root / run_id / "checkpoints", "tunix")]  # noqa: E731
    wait_for(proc, lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= 3 and max(saved(), default=0) >= 2,
             "step 3 and checkpoint 2", timeout=300)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    logged = len(read_jsonl(metrics))
    return max(s for s in saved() if s <= logged)


def losses(run_dir):
    return [r["loss"] for r in read_jsonl(run_dir / "metrics.jsonl")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cache_dir):
    return tmp_path_factory.mktemp("tunix-runs")


@pytest.fixture(scope="module")
def reference(runs):
    return tunix_run(runs, "ref")


# --- pure pieces, on literals ----------------------------------------------------------------

def test_lora_targets_map_to_tunix_modules():
    assert tload.qwix_module_path(["q_proj", "v_proj", "k_proj"]) == ".*kv_einsum|.*q_einsum"
    assert tload.qwix_module_path(["o_proj", "down_proj"]) == ".*attn_vec_einsum|.*down_proj"
    with pytest.raises(UserError, match="training.lora.target_modules: dense has no Tunix counterpart"):
        tload.qwix_module_path(["dense"])


def test_shapes_are_few_and_rows_fill_the_token_budget():
    cfg = load_config(TUNIX_SMOKE)
    t = cfg.training  # max_batch_tokens 4096
    assert [tt.padded_len(n) for n in (1, 128, 129, 300, 512)] == [128, 128, 256, 384, 512]
    assert [tt.batch_rows(w, t, 1) for w in (128, 256, 384, 512)] == [32, 16, 10, 8]
    assert [tt.batch_rows(w, t, 8) for w in (128, 384)] == [32, 16]  # whole rows per device


def test_a_step_weighs_every_target_token_once():
    a = Encoded(input_ids=[2, 10, 11, 12], labels=[IGNORE_INDEX, IGNORE_INDEX, 11, 12])
    b = Encoded(input_ids=[2, 20, 21], labels=[IGNORE_INDEX, 20, 21])
    cfg = load_config(TUNIX_SMOKE, ["training.grad_accum=3", "training.max_batch_tokens=null",
                                    "training.micro_batch_size=2"])
    batches = tt.step_batches([a, b], [[0], [1]], t=cfg.training, pad_id=0, bos_id=2, data_parallel=2)
    assert len(batches) == 3  # a short step is filled up to grad_accum with a zero-weight batch
    first = batches[0]
    assert first["input_tokens"].shape == (2, 128) and first["input_tokens"].dtype == np.int32
    assert first["input_tokens"][0, :5].tolist() == [2, 10, 11, 12, 0]
    assert first["input_tokens"][1, :2].tolist() == [2, 0]  # filler row: one <bos>, weight 0
    assert first["input_mask"][0, :5].tolist() == [False, False, True, True, False]
    # 4 target tokens in the step (labels after the first position); MultiSteps averages 3 micro-batches.
    assert first["weights"].tolist() == [3 / 4, 0.0]
    assert batches[1]["weights"].tolist() == [3 / 4, 0.0] and batches[2]["weights"].tolist() == [0.0, 0.0]


def test_latest_step_ignores_and_removes_a_torn_write(tmp_path):
    root = tmp_path / "checkpoints" / "actor"
    for name in ("2", "4", "6.orbax-checkpoint-tmp-123"):
        (root / name / "model_params").mkdir(parents=True)
    (root / "8").mkdir()  # no model_params: not a checkpoint
    assert trainer.latest_step(tmp_path / "checkpoints") == 4
    assert not (root / "6.orbax-checkpoint-tmp-123").exists()
    assert trainer.latest_step(tmp_path / "nothing") == 0


# --- model configs -----------------------------------------------------------------------------

def test_model_config_follows_the_folder_and_refuses_what_tunix_cannot_compute(tmp_path, tiny_model_dir):
    family, mc = tload.tunix_model_config(tiny_model_dir)
    spec = json.loads((tiny_model_dir / "config.json").read_text())
    assert family == "gemma3"
    assert (mc.num_layers, mc.num_embed, mc.embed_dim, mc.hidden_dim, mc.num_heads, mc.num_kv_heads, mc.head_dim,
            mc.sliding_window_size) == (spec["num_hidden_layers"], spec["vocab_size"], spec["hidden_size"],
                                        spec["intermediate_size"], spec["num_attention_heads"],
                                        spec["num_key_value_heads"], spec["head_dim"], spec["sliding_window"])
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({**spec, "layer_types": ["full_attention"] * 6}))
    with pytest.raises(UserError, match="Tunix's Gemma 3 code fixes the pattern"):
        tload.tunix_model_config(other)
    (other / "config.json").write_text(json.dumps({**spec, "model_type": "llama"}))
    with pytest.raises(UserError, match="is a 'llama' model; the Tunix backend loads Gemma 2 and Gemma 3"):
        tload.tunix_model_config(other)
    with pytest.raises(UserError, match="training.tensor_parallel: 2 does not divide"):
        tload.tunix_model_config(tiny_model_dir, tensor_parallel=2)  # 1 KV head


# google/gemma-3-1b-it and google/gemma-2-2b-it config.json (the fields that shape the model).
GEMMA3_1B = {"model_type": "gemma3_text", "num_hidden_layers": 26, "vocab_size": 262144, "hidden_size": 1152,
             "intermediate_size": 6912, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
             "sliding_window": 512, "rope_local_base_freq": 10000, "rope_theta": 1000000, "rope_scaling": None,
             "query_pre_attn_scalar": 256}
GEMMA2_2B = {"model_type": "gemma2", "num_hidden_layers": 26, "vocab_size": 256000, "hidden_size": 2304,
             "intermediate_size": 9216, "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256,
             "sliding_window": 4096, "final_logit_softcapping": 30.0, "attn_logit_softcapping": 50.0,
             "query_pre_attn_scalar": 256}


def test_hub_configs_give_tunix_own_presets(tmp_path):
    from tunix.models.gemma import model as g2
    from tunix.models.gemma3 import model as g3

    fields3 = ["num_layers", "num_embed", "embed_dim", "hidden_dim", "num_heads", "head_dim", "num_kv_heads",
               "sliding_window_size", "local_base_frequency", "global_base_frequency", "global_scale_factor",
               "query_pre_attn_norm"]
    (tmp_path / "config.json").write_text(json.dumps(GEMMA3_1B))
    _, got = tload.tunix_model_config(tmp_path)
    want = g3.ModelConfig.gemma3_1b_it()
    assert {f: getattr(got, f) for f in fields3} == {f: getattr(want, f) for f in fields3}
    (tmp_path / "config.json").write_text(json.dumps(GEMMA2_2B))
    _, got = tload.tunix_model_config(tmp_path, tensor_parallel=4)
    want = g2.ModelConfig.gemma2_2b_it()
    fields2 = ["num_layers", "embed_dim", "hidden_dim", "num_heads", "head_dim", "num_kv_heads", "final_logit_softcap",
               "attn_logits_soft_cap", "sliding_window_size", "use_post_attn_norm", "use_post_ffw_norm"]
    assert {f: getattr(got, f) for f in fields2} == {f: getattr(want, f) for f in fields2}
    assert tuple(got.attention_types) == tuple(want.attention_types)
    assert got.num_embed == 256000  # the checkpoint's vocabulary (Tunix's preset pads to 256128)


# --- same function as the PyTorch backend ------------------------------------------------------------

def long_example(tokenizer):
    """A real training sample made longer than the sliding window (256), so local layers matter."""
    from tunix_nb.inputs import load_records
    from tunix_nb.prompts import encode_example

    r = load_records(ROOT / "training/data/dev-reasoning-v2.jsonl", "train")[0]
    return encode_example(tokenizer, r.question, " ".join([r.reasoning] * 6), r.answer)


def test_forward_logits_match_pytorch(tiny_model_dir, tiny_tokenizer):
    import jax.numpy as jnp
    import torch
    from transformers import AutoModelForCausalLM

    ex = long_example(tiny_tokenizer)
    assert len(ex) > 300
    model, _ = tload.load_model(tiny_model_dir, dtype="fp32")
    n = len(ex)
    logits_jax, _ = model(jnp.array([ex.input_ids]), jnp.arange(n)[None], None,
                          jnp.tril(jnp.ones((1, n, n), dtype=bool)))
    hf = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        logits_pt = hf(torch.tensor([ex.input_ids])).logits.numpy()
    assert np.abs(np.asarray(logits_jax) - logits_pt).max() < 1e-4


def test_loss_on_a_padded_batch_matches_pytorch(tiny_model_dir, tiny_tokenizer):
    """The Tunix loss on a fixed-shape batch (padding, filler rows, masked prompt) equals the
    PyTorch backend's per-token loss on the same samples."""
    import torch
    from transformers import AutoModelForCausalLM

    from tunix_nb.data import collate
    from tunix_nb.backends.torch.sft import token_loss_sum

    samples = [long_example(tiny_tokenizer), *tt_samples(tiny_tokenizer, 3)]
    cfg = load_config(TUNIX_SMOKE)
    (batch,) = tt.step_batches(samples, [list(range(4))], t=cfg.training, pad_id=tiny_tokenizer.pad_token_id,
                               bos_id=tiny_tokenizer.bos_token_id, data_parallel=1)
    model, _ = tload.load_model(tiny_model_dir, dtype="fp32")
    loss_jax = float(tt.loss_fn(model, **tt.model_inputs(tiny_tokenizer.pad_token_id)(batch)))
    hf = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32, attn_implementation="eager").eval()
    b = {k: torch.tensor(v) for k, v in collate(samples, tiny_tokenizer.pad_token_id).items()}
    with torch.no_grad():
        logits = hf(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        n_targets = int((b["labels"][:, 1:] != IGNORE_INDEX).sum())
        loss_pt = float(token_loss_sum(logits, b["labels"])) / n_targets
    assert loss_jax == pytest.approx(loss_pt, abs=1e-4)


def tt_samples(tokenizer, n):
    from tunix_nb.data import encode_train
    from tunix_nb.inputs import load_records

    return encode_train(load_records(ROOT / "training/data/dev-reasoning-v2.jsonl", "train")[1:1 + n], tokenizer, 512)[0]


@pytest.fixture(scope="module")
def torch_run(runs):
    """The PyTorch backend on the same data, one step, in one micro-batch of eight."""
    res = run_cli("run", "--config", str(TORCH_SMOKE), "--run-id", "torch-1", "--set", f"output.root={runs}",
                  *SMALL, *ONE_MICRO_BATCH, "--set", "training.max_steps=1", "--set", "training.warmup_steps=0")
    assert res.returncode == 0, res.stderr[-3000:]
    return runs / "torch-1"


def test_first_step_loss_matches_the_pytorch_trainer(reference, torch_run):
    first_torch = read_jsonl(torch_run / "metrics.jsonl")[0]
    first_tunix = read_jsonl(reference / "metrics.jsonl")[0]
    assert first_tunix.keys() == first_torch.keys()  # one metrics schema, whichever backend wrote it
    assert (first_tunix["tokens"], first_tunix["target_tokens"]) == (first_torch["tokens"], first_torch["target_tokens"])
    assert first_tunix["loss"] == pytest.approx(first_torch["loss"], abs=1e-4)


# --- whole runs ------------------------------------------------------------------------------------

def shape(obj):
    """The key structure of a JSON value (what a reader of the evidence relies on)."""
    if isinstance(obj, dict):
        return {k: shape(v) for k, v in obj.items()}
    return type(obj).__name__ if not isinstance(obj, (int, float)) or isinstance(obj, bool) else "number"


def test_a_run_completes_with_the_same_evidence_as_pytorch(reference, torch_run):
    manifest = json.loads((reference / "run_manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["device_plan"]["backend"] == "tunix"
    assert manifest["time_budget"]["sft"]["trained_steps"] == STEPS and not manifest["time_budget"]["sft"]["capped"]
    rows = read_jsonl(reference / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert rows[-1]["loss"] < rows[0]["loss"]
    summary = json.loads((reference / "eval_summary.json").read_text())
    assert summary["overall"]["n"] == 4
    assert shape(summary) == shape(json.loads((torch_run / "eval_summary.json").read_text()))
    preds = read_jsonl(reference / "predictions.jsonl")
    assert len(preds) == 4 and all(p["prediction"] for p in preds)
    assert [p.keys() for p in preds] == [p.keys() for p in read_jsonl(torch_run / "predictions.jsonl")]
    steps = sorted(int(p.name) for p in (reference / "checkpoints" / "actor").iterdir())
    assert steps[-1] == STEPS and (reference / "checkpoints" / "actor" / str(STEPS) / "model_params").is_dir()


def test_sigkill_on_an_eight_device_mesh_then_resume_trains_like_one_device(reference, runs):
    """The judged run trains on v5e-8's 8 devices: a run on an 8-device mesh (one micro-batch of 8)
    is SIGKILLed, the same command resumes it, and every step is logged once with the losses of the
    uninterrupted one-device reference (two micro-batches of 4 accumulated): the batch is split over
    devices and over micro-batches, every target token weighs the same, and the resume loses nothing."""
    start = kill_after_step_3(runs, "killed", *ONE_MICRO_BATCH, env=EIGHT_DEVICES)
    status = run_cli("status", str(runs / "killed")).stdout
    assert "interrupted" in status and re.search(r"latest checkpoint actor/[24]\b", status), status  # save_every 2
    # The resume starts from the newest checkpoint whose step was logged (a newer one is discarded).
    res = run_cli(*command(runs, "killed", *ONE_MICRO_BATCH), env=EIGHT_DEVICES)
    assert res.returncode == 0, res.stderr[-3000:]
    assert start >= 2 and f"resuming killed from sft step {start}" in res.stdout
    log = (runs / "killed" / "training_log.txt").read_text()
    assert "mesh {'fsdp': 8, 'tp': 1}" in log and "<= 8 rows x grad_accum 1" in log
    assert "<= 4 rows x grad_accum 2" in (reference / "training_log.txt").read_text()
    rows = read_jsonl(runs / "killed" / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    # Eight devices and two micro-batches add the same terms in other orders: in fp32 the losses agree
    # to ~1e-5 on most steps, and step 4 differed by 2.1e-5 relative (1.3e-4) on one of our CPUs.
    # Averaging each micro-batch over its own tokens instead moved five of six by up to 2.4e-2.
    assert losses(runs / "killed") == pytest.approx(losses(reference), rel=5e-5)


def test_a_new_session_continues_a_killed_read_only_run_dir_to_the_same_lora_params(reference, runs):
    """The competition's multi-session mode on the judged backend: the first session is SIGKILLed,
    its run dir comes back read-only; a new run dir continues it and ends with the uninterrupted
    run's steps and LoRA params (and optimizer: the steps after the carried checkpoint match)."""
    carried = kill_after_step_3(runs, "first")
    first = runs / "first"
    before = make_read_only(first)
    res = run_cli(*command(runs, "second"), "--continue-from", str(first))
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"continuing first ({first}) from sft step {carried}" in res.stdout
    assert listing(first) == before  # nothing written under the earlier session's dir
    second = runs / "second"
    assert [r["step"] for r in read_jsonl(second / "metrics.jsonl")] == list(range(1, STEPS + 1))
    assert losses(second) == pytest.approx(losses(reference), abs=1e-5)
    assert max_difference(tunix_params(second, STEPS), tunix_params(reference, STEPS)) < 1e-5
    assert json.loads((second / "run_manifest.json").read_text())["continues"]["step"] == carried


def test_the_exported_lora_run_loads_in_tunix_alone_and_in_transformers_with_the_runs_predictions(
        reference, runs, tiny_model_dir, tiny_tokenizer):
    """The multi-session prize's format: `export --format tunix` is read by Tunix's own Gemma 3 loader
    in a process without tunix_nb, `--format hf` by transformers; both, sampled greedily, write the
    run's own final predictions (the LoRA merge and the layout lose nothing)."""
    from tunix_nb import export

    res = run_cli("export", str(reference), "--format", "tunix", "--out", str(runs / "exp-tunix"))
    assert res.returncode == 0, res.stderr[-3000:]
    export.export(reference, "hf", runs / "exp-hf")
    preds = read_jsonl(reference / "predictions.jsonl")
    questions, want = [p["prompt"] for p in preds], [p["prediction"] for p in preds]
    assert greedy_from_tunix_export(runs / "exp-tunix", questions, tiny_tokenizer, n=16) == want
    assert greedy_from_hf(runs / "exp-hf", questions, n=16) == want
    assert greedy_from_hf(tiny_model_dir, questions, n=16) != want  # the base model writes otherwise
    card = (runs / "exp-tunix" / "README.md").read_text()
    manifest = json.loads((reference / "run_manifest.json").read_text())
    assert manifest["config_hash"] in card and "| sft | 4 |" in card and "create_model_from_checkpoint" in card


def test_options_of_the_other_backend_are_refused_at_load():
    with pytest.raises(UserError, match="training.lora.dropout: the Tunix backend"):
        load_config(TUNIX_SMOKE, ["training.lora.dropout=0.1"])
    with pytest.raises(UserError, match="training.packing: is a PyTorch backend lever"):
        load_config(TUNIX_SMOKE, ["training.packing=true"])
    with pytest.raises(UserError, match="training.time_budget_minutes: is used by backend: tunix only"):
        load_config(TORCH_SMOKE, ["training.time_budget_minutes=5"])


def test_apply_lora_trains_only_lora_params(tiny_model_dir):
    from flax import nnx

    model, _ = tload.load_model(tiny_model_dir, dtype="fp32")
    lora = tload.apply_lora(model, LoraConfig(rank=4, alpha=8), seed=0)
    params = nnx.state(lora, nnx.LoRAParam)
    names = {".".join(map(str, p)) for p, _ in nnx.to_flat_state(params)}
    assert any("q_einsum" in n for n in names) and any("down_proj" in n for n in names)
    assert len(names) == 2 * 6 * 6  # A and B for 6 Tunix modules (kv fused) in each of 6 layers


# --- Kaggle's Flax Gemma 2 checkpoints ------------------------------------------------------------

@pytest.fixture(scope="module")
def kaggle_flax_dir(tmp_path_factory, cache_dir):
    """A Kaggle-style Flax Gemma 2 download, made small: `gemma2-tiny/` (an orbax checkpoint with
    Gemma's flat linen keys) beside a SentencePiece `tokenizer.model` trained on our data.
    Returns (folder, the Tunix model whose weights were written)."""
    import io

    import orbax.checkpoint as ocp
    import sentencepiece as spm
    from flax import nnx
    from tunix.models.gemma import model as g2

    from tunix_nb.tiny_model import CORPUS_FILE, corpus_texts

    root = tmp_path_factory.mktemp("kaggle") / "gemma-2" / "flax" / "gemma2-tiny" / "1"
    root.mkdir(parents=True)
    config = g2.ModelConfig(num_layers=2, num_embed=700, embed_dim=64, hidden_dim=128, num_heads=2, head_dim=32,
                            num_kv_heads=1, final_logit_softcap=30.0, attn_logits_soft_cap=50.0,
                            use_post_attn_norm=True, use_post_ffw_norm=True, sliding_window_size=4096,
                            attention_types=(g2.AttentionType.LOCAL_SLIDING, g2.AttentionType.GLOBAL))
    model = g2.Gemma(config, rngs=nnx.Rngs(params=7))
    flat = {tuple(map(str, path)): np.asarray(v.get_value()) for path, v in nnx.to_flat_state(nnx.state(model))}
    ckpt = {"transformer/embedder": {"input_embedding": flat[("embedder", "input_embedding")]},
            "transformer/final_norm": {"scale": flat[("final_norm", "scale")]}}
    for i in range(config.num_layers):
        layer = lambda *k: flat[("layers", str(i), *k)]  # noqa: E731
        prefix = f"transformer/layer_{i}"
        for name in ("q_einsum", "kv_einsum", "attn_vec_einsum"):
            ckpt[f"{prefix}/attn/{name}"] = {"w": layer("attn", name, "w")}
        ckpt[f"{prefix}/mlp/gating_einsum"] = {"w": np.stack([layer("mlp", "gate_proj", "kernel"),
                                                                layer("mlp", "up_proj", "kernel")])}
        ckpt[f"{prefix}/mlp/linear"] = {"w": layer("mlp", "down_proj", "kernel")}
        for ours, theirs in (("pre_attention_norm", "pre_attention_norm"), ("post_attn_norm", "post_attention_norm"),
                             ("pre_ffw_norm", "pre_ffw_norm"), ("post_ffw_norm", "post_ffw_norm")):
            ckpt[f"{prefix}/{theirs}"] = {"scale": layer(ours, "scale")}
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(str(root / "gemma2-tiny"), ckpt)
    checkpointer.wait_until_finished()  # orbax writes in the background
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus_texts(CORPUS_FILE.read_bytes())), model_writer=buf, vocab_size=700,
        model_type="bpe", byte_fallback=True, split_digits=True, normalization_rule_name="identity",
        add_dummy_prefix=False, remove_extra_whitespaces=False, pad_id=0, eos_id=1, bos_id=2, unk_id=3,
        pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
        user_defined_symbols=["<start_of_turn>", "<end_of_turn>"], minloglevel=2)
    (root / "tokenizer.model").write_bytes(buf.getvalue())
    return root, model


def test_kaggle_flax_gemma2_loads_with_its_weights_and_tokenizer(kaggle_flax_dir):
    import jax.numpy as jnp
    import sentencepiece as spm

    from tunix_nb import models

    root, original = kaggle_flax_dir
    source = models.resolve_source(str(root))
    shape = models.model_shape(source.path)
    assert (shape.num_layers, shape.hidden_size, shape.vocab_size) == (2, 64, 700)
    tok = models.load_tokenizer(source.path)
    sp = spm.SentencePieceProcessor(model_file=str(root / "tokenizer.model"))
    for text in ["What is 12 + 30?", "<start_of_turn>user\nHi  there<end_of_turn>\n", "Price: €4.50 (x2)"]:
        assert tok(text)["input_ids"] == [2] + sp.encode(text), text  # exactly one <bos>, then SentencePiece's ids
    model, config = tload.load_model(source.path, dtype="fp32")
    assert (config.num_layers, config.num_heads, config.num_kv_heads, config.hidden_dim) == (2, 2, 1, 128)
    ids = jnp.array([tok("Find 3 + 4.")["input_ids"]])
    n = ids.shape[1]
    args = (ids, jnp.arange(n)[None], None, jnp.tril(jnp.ones((1, n, n), dtype=bool)))
    np.testing.assert_allclose(np.asarray(model(*args)[0]), np.asarray(original(*args)[0]), atol=1e-6)


def test_a_flax_checkpoint_is_refused_by_the_torch_backend(kaggle_flax_dir):
    from tunix_nb import models

    root, _ = kaggle_flax_dir
    with pytest.raises(UserError, match="is a Flax checkpoint, which only the Tunix backend loads"):
        models.load_torch_model(models.resolve_source(str(root)), dtype="fp32", lora=False, attn_implementation="eager")


BUDGET_MIN = 0.4


@pytest.fixture(scope="module")
def budget_run(kaggle_flax_dir, runs):
    """A whole run on the Kaggle Flax checkpoint (its own loading path) with 2000 planned steps and
    a time budget that stops it long before."""
    root, _ = kaggle_flax_dir
    return tunix_run(runs, "flax-budget", "--set", f"model.source={root}", "--set", "training.max_steps=2000",
                     "--set", f"training.time_budget_minutes={BUDGET_MIN}", "--set", "training.save_every=null")


def test_a_kaggle_flax_model_trains_under_a_time_budget_and_saves_inside_it(budget_run):
    """The time budget: 2000 planned steps are capped, and the final checkpoint is written inside it."""
    run, budget_min = budget_run, BUDGET_MIN
    manifest = json.loads((run / "run_manifest.json").read_text())
    assert manifest["status"] == "complete"
    tb = manifest["time_budget"]["sft"]
    assert tb["capped"] and tb["planned_steps"] == 2000 and 3 <= tb["trained_steps"] < 2000
    assert tb["train_s"] <= budget_min * 60 + 5  # the final checkpoint is written within the budget (+ slack)
    rows = read_jsonl(run / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, tb["trained_steps"] + 1))
    assert trainer.latest_step(run / "checkpoints") == tb["trained_steps"]
    assert (run / "checkpoints" / "actor" / str(tb["trained_steps"]) / "model_params").is_dir()


def test_the_judges_restore_the_final_model_through_max_steps_in_a_fresh_process(budget_run):
    """The judges' cells in a fresh process, after the run the time budget stopped: MAX_STEPS (Tunix's
    example restores CKPT_DIR/actor/<MAX_STEPS>) is the final checkpoint's step, not the 2000
    planned, and the restored policy answers as the run's own final evaluation did."""
    from tunix_nb import models

    preds = read_jsonl(budget_run / "predictions.jsonl")
    trained = json.loads((budget_run / "run_manifest.json").read_text())["time_budget"]["sft"]["trained_steps"]
    proc = subprocess.run([sys.executable, "-c", FRESH_NOTEBOOK + JUDGES_CELLS, str(budget_run)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600,
                          input="".join(json.dumps({"prompt": p["prompt"]}) + "\n" for p in preds))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = judges_output(proc.stdout)
    assert out["step"] == out["max_steps"] == trained < 2000
    tokenizer = models.load_tokenizer(models.resolve_source(load_config(budget_run / "config.yaml").model.source).path)
    n = 16  # the trained model's own evaluation generated 16 tokens per prompt before saving
    restored = [tokenizer.decode(t[:n], skip_special_tokens=True) for t in out["restored"]]
    untrained = [tokenizer.decode(t[:n], skip_special_tokens=True) for t in out["untrained"]]
    assert restored == [p["prediction"] for p in preds]
    assert untrained != restored  # the restore is what made the difference
