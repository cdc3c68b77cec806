"""Detection on the real machine (torch, JAX on CPU) and planning for hardware this machine cannot
show, described explicitly: a Kaggle T4, an RTX 5090 (with and without an sm_120 torch build), a
TPU v5e-8 and a CPU."""

import json

import pytest

from conftest import ROOT
from tunix_nb import device
from tunix_nb.config import load_config
from tunix_nb.device import Hardware, ModelShape
from tunix_nb.errors import UserError

T4 = Hardware(platform="cuda", name="Tesla T4", count=2, memory_gb=15.0, compute_capability=(7, 5), bf16=False,
              torch_arch_list=("sm_50", "sm_60", "sm_70", "sm_75", "sm_80", "sm_86", "sm_90"))
RTX5090 = Hardware(platform="cuda", name="NVIDIA GeForce RTX 5090", memory_gb=31.4, compute_capability=(12, 0),
                   bf16=True, torch_arch_list=("sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"))
RTX5090_OLD_TORCH = Hardware(**{**RTX5090.__dict__, "torch_arch_list": ("sm_50", "sm_60", "sm_70", "sm_75",
                                                                           "sm_80", "sm_86", "sm_90")})
V5E8 = Hardware(platform="tpu", name="TPU v5 lite", count=8, memory_gb=15.75, bf16=True)
CPU = Hardware(platform="cpu", name="CPU", count=2, memory_gb=23.4)
# Gemma 2 2B: 2.61 B parameters, 26 layers, hidden 2304, vocab 256000.
GEMMA2_2B = ModelShape(params=2_614_341_888, num_layers=26, hidden_size=2304, vocab_size=256_000)
TINY = ModelShape(params=1_000_000, num_layers=4, hidden_size=128, vocab_size=1024)

LOCAL_GPU = "training/configs/submission_local_gpu.yaml"


def test_detect_on_this_machine_is_cpu():
    hw = device.detect("auto")
    assert hw.platform == "cpu" and hw.count >= 1 and hw.memory_gb > 0


@pytest.mark.parametrize("request_", ["cuda", "tpu"])
def test_an_absent_accelerator_is_an_error_not_a_cpu_fallback(request_):
    with pytest.raises(UserError, match=f"training.device: {request_} was asked for but none is visible"):
        device.detect(request_)


def test_cpu_plan():
    plan = device.make_plan(load_config(), CPU, TINY)
    assert (plan.mode, plan.backend, plan.device, plan.dtype) == ("smoke", "torch", "cpu", "fp32")
    assert any("no accelerator" in r for r in plan.reasons)
    assert plan.memory_gb["total_gb"] < 1 and "device plan: mode=smoke" in plan.describe()
    assert f"({TINY.params / 1e6:.3g} M params)" in plan.describe()  # not "0.00 B"


def test_t4_full_fine_tuning_of_gemma_2b_is_refused_by_the_memory_preflight():
    cfg = load_config(LOCAL_GPU, ["training.dtype=auto"])
    with pytest.raises(UserError) as e:
        device.make_plan(cfg, T4, GEMMA2_2B, on_kaggle=True)
    msg = str(e.value)
    assert "needs ~" in msg and "Tesla T4 has 15.0 GB" in msg and "use LoRA" in msg and "smoke preset" in msg


def test_t4_has_no_bf16():
    with pytest.raises(UserError, match="training.dtype: bf16 is not supported on Tesla T4; use fp32"):
        device.make_plan(load_config(LOCAL_GPU), T4, GEMMA2_2B)
    plan = device.make_plan(load_config(None, ["training.dtype=auto"]), T4, TINY, on_kaggle=True)
    assert plan.dtype == "fp32" and plan.mode == "smoke"
    assert any("no fast bf16" in r and "T4" in r for r in plan.reasons)


def test_t4_lora_gemma_2b_fits_only_with_gradient_checkpointing():
    lora = ["training.dtype=auto", "training.lora.rank=16", "training.optimizer=adamw"]
    with pytest.raises(UserError, match="turn on training.gradient_checkpointing"):
        device.make_plan(load_config(LOCAL_GPU, lora), T4, GEMMA2_2B, on_kaggle=True)
    cfg = load_config(LOCAL_GPU, [*lora, "training.gradient_checkpointing=true"])
    plan = device.make_plan(cfg, T4, GEMMA2_2B, on_kaggle=True)
    assert plan.memory_gb["total_gb"] < 15 * device.MEMORY_HEADROOM and plan.dtype == "fp32"


def test_rtx5090_runs_the_users_recipe_in_bf16():
    plan = device.make_plan(load_config(LOCAL_GPU), RTX5090, GEMMA2_2B)
    assert (plan.mode, plan.device, plan.dtype) == ("local", "cuda", "bf16")
    assert plan.memory_gb["total_gb"] < 31.4 * device.MEMORY_HEADROOM
    assert any("sm_120" in r for r in plan.reasons) and any("memory preflight" in r for r in plan.reasons)


def test_rtx5090_with_a_torch_build_lacking_sm120_names_the_wheel():
    with pytest.raises(UserError) as e:
        device.make_plan(load_config(LOCAL_GPU), RTX5090_OLD_TORCH, GEMMA2_2B)
    msg = str(e.value)
    assert "sm_120" in msg and "cu128" in msg and "torch >= 2.7" in msg


def test_v5e8_is_refused_for_the_torch_backend_with_the_fix():
    with pytest.raises(UserError, match=r"torch cannot use the TPU v5 lite x8.*backend: tunix"):
        device.make_plan(load_config(), V5E8, TINY, on_kaggle=True)


@pytest.mark.parametrize("preset", ["submission_tpu_gemma3_1b", "submission_tpu_gemma2_2b"])
def test_v5e8_plan_for_the_tunix_presets(preset):
    cfg = load_config(f"training/configs/{preset}.yaml")
    plan = device.make_plan(cfg, V5E8, GEMMA2_2B, on_kaggle=True)
    assert (plan.mode, plan.backend, plan.device, plan.dtype, plan.device_count) == ("full", "tunix", "tpu", "bf16", 8)
    assert "mesh fsdp=8 x tp=1" in plan.describe()
    # Tunix shards over the mesh: the preflight compares with all 8 chips' HBM.
    assert plan.memory_gb["available_gb"] == pytest.approx(8 * 15.75)


def test_tunix_on_a_gpu_skips_the_torch_build_check():
    cfg = load_config("training/configs/smoke_tiny_tunix.yaml")
    plan = device.make_plan(cfg, RTX5090_OLD_TORCH, TINY)  # JAX brings its own CUDA kernels
    assert (plan.backend, plan.dtype) == ("tunix", "bf16") and "bf16 weights" in plan.describe()


def test_memory_estimate_parts():
    cfg = load_config(LOCAL_GPU)  # full fine-tuning, Adafactor, bf16 autocast, packed rows of 512 tokens
    m = device.estimate_memory(cfg, GEMMA2_2B, "bf16")
    assert m["weights_gb"] == m["grads_gb"] == pytest.approx(4 * GEMMA2_2B.params / device.GB, abs=0.01)
    assert m["optimizer_gb"] < m["weights_gb"] / 5  # factored second moments
    adamw = device.estimate_memory(load_config(LOCAL_GPU, ["training.optimizer=adamw"]), GEMMA2_2B, "bf16")
    assert adamw["optimizer_gb"] == pytest.approx(2 * m["weights_gb"], abs=0.01)
    ckpt = device.estimate_memory(load_config(LOCAL_GPU, ["training.gradient_checkpointing=true"]), GEMMA2_2B, "bf16")
    assert ckpt["activations_gb"] < m["activations_gb"] / 10
    chunked = device.estimate_memory(load_config(LOCAL_GPU, ["training.loss_chunk_size=128"]), GEMMA2_2B, "bf16")
    assert chunked["logits_gb"] == pytest.approx(128 * GEMMA2_2B.vocab_size * 12 / device.GB, abs=0.01)


# The Gemma-2B shape the GPU suite measures (bench/common.py: GEMMA_2B_SHAPE), 2,506 M parameters
GEMMA_2B = ModelShape(params=2_506_172_416, num_layers=18, hidden_size=2048, vocab_size=256_000)
T4_PLANS = {"lora-r16": ["training.lora.rank=16", "training.optimizer=adamw"],
            "lora-r16-grad-ckpt": ["training.lora.rank=16", "training.optimizer=adamw",
                                   "training.gradient_checkpointing=true"],
            "full-adafactor": ["training.optimizer=adafactor"], "full-adamw": ["training.optimizer=adamw"]}


def t4_plan_estimate(row: str) -> float:
    """The estimate for a row of the GPU suite's memory part (512 tokens, fp32, as it ran)."""
    cfg = load_config(LOCAL_GPU, ["training.loss_chunk_size=512", "training.max_batch_tokens=512", *T4_PLANS[row]])
    return device.estimate_memory(cfg, GEMMA_2B, "fp32")["total_gb"]


def test_memory_estimate_is_within_a_tenth_of_the_peaks_measured_on_the_h200():
    """The preflight against the peaks `torch.cuda.max_memory_allocated` measured (committed
    evidence), and what needs the planner to refuse: each plan's estimate over the headroom covers
    its peak, and no estimate is off by more than 10% either way."""
    measured = json.loads((ROOT / "bench/results/gpu_suite_h200.json").read_text())["parts"]["memory"]["result"]
    assert measured["model"] == "gemma-2b-shape" and measured["tokens"] == 512
    peaks = {r["row"]: r["peak_memory_gb"] for r in measured["rows"]}
    assert peaks.keys() == T4_PLANS.keys()
    for row, peak in peaks.items():
        estimate = t4_plan_estimate(row)
        assert estimate / device.MEMORY_HEADROOM > peak and 0.9 < estimate / peak < 1.1, (row, estimate, peak)


def test_activation_terms_follow_the_counted_live_bytes():
    """The per-layer activation term is what bench/activation_memory.py counted (live tensor bytes
    of a step, fp32, 512 tokens), rounded up; checkpointing keeps a sliver per layer."""
    counted = json.loads((ROOT / "bench/results/activation_memory_cpu.json").read_text())["per_layer"]
    estimated = {row: (device.estimate_memory(load_config(LOCAL_GPU, ["training.max_batch_tokens=512", *T4_PLANS[row]]),
                                              GEMMA_2B, "fp32")["activations_gb"]) for row in ("lora-r16", "full-adamw")}
    for row, case in (("lora-r16", "lora-r16"), ("full-adamw", "full")):
        per_token_layer = estimated[row] * device.GB / 512 / 18 / (2048 * 4)
        assert counted[case]["hidden_x_fp32_per_token"] <= per_token_layer + 0.5 < 1.1 * counted[case]["hidden_x_fp32_per_token"] + 0.5
    assert counted["lora-r16-grad-ckpt"]["hidden_x_fp32_per_token"] <= 2


def test_plan_is_stored_in_the_manifest_form():
    d = device.make_plan(load_config(), CPU, TINY).to_dict()
    assert {"mode", "backend", "device", "device_name", "device_count", "dtype", "batching", "model",
            "memory_gb", "reasons"} <= set(d)
