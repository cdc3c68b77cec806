"""`tunix-nb export` of a PyTorch LoRA run, three ways, each loaded by someone else's code: the HF
folder by transformers, the adapter by peft on the base model, the Flax/orbax folder by Tunix's own
Gemma 3 loader in a process without tunix_nb; all three write the run's own greedy predictions (the
Tunix export of a Tunix run: test_tunix_sft). The model card, the checksums and the upload's dry run."""

import hashlib
import json

import pytest

from conftest import SMOKE, FAST, greedy_from_hf, greedy_from_tunix_export, run_cli
from tunix_nb import export
from tunix_nb.evidence import read_jsonl

N = 24  # FAST's eval.max_new_tokens


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, cache_dir):
    root = tmp_path_factory.mktemp("export-runs")
    res = run_cli("run", "--config", str(SMOKE), "--run-id", "lora", "--set", f"output.root={root}", *FAST,
                  "--set", "training.lora.rank=8", "--set", "training.learning_rate=0.02")
    assert res.returncode == 0, res.stderr[-3000:]
    return root / "lora"


@pytest.fixture(scope="module")
def exports(lora_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports")
    res = run_cli("export", str(lora_run), "--format", "tunix", "--out", str(out / "tunix"))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "device plan" not in res.stdout and "export (tunix):" in res.stdout  # what it wrote, not how a run trains
    for fmt in ("hf", "peft"):
        export.export(lora_run, fmt, out / fmt)
    return out


def test_every_format_writes_the_runs_predictions_in_other_code(lora_run, exports, tiny_model_dir, tiny_tokenizer):
    preds = read_jsonl(lora_run / "predictions.jsonl")
    questions, want = [p["prompt"] for p in preds], [p["prediction"] for p in preds]
    assert greedy_from_hf(tiny_model_dir, questions, n=N) != want  # the base model writes otherwise
    assert greedy_from_hf(exports / "hf", questions, n=N) == want
    assert greedy_from_hf(tiny_model_dir, questions, n=N, adapter=exports / "peft") == want
    # Trained by PyTorch, sampled by Tunix: the same texts across backends.
    assert greedy_from_tunix_export(exports / "tunix", questions, tiny_tokenizer, n=N) == want


def test_each_export_has_a_card_and_checksums_of_every_file(lora_run, exports):
    manifest = json.loads((lora_run / "run_manifest.json").read_text())
    for fmt in ("tunix", "hf", "peft"):
        folder = exports / fmt
        card = (folder / "README.md").read_text()
        assert f"exported as `{fmt}`" in card and manifest["config_hash"] in card and "builtin:tiny-gemma3" in card
        assert "| base |" not in card and "| sft | 6 |" in card and "LoRA: rank 8" in card
        sums = dict(reversed(line.split("  ", 1)) for line in (folder / "SHA256SUMS").read_text().splitlines())
        files = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"SHA256SUMS"}
        assert set(sums) == files and "README.md" in files
        assert all(hashlib.sha256((folder / f).read_bytes()).hexdigest() == h for f, h in sums.items())
    assert {"adapter_model.safetensors", "adapter_config.json"} <= {p.name for p in (exports / "peft").iterdir()}
    assert not list(exports.glob(".*tmp-export"))  # written under a temporary name, renamed when whole


def test_upload_without_credentials_says_what_and_how(exports, monkeypatch, tmp_path):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_KERNEL_RUN_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path))
    said = export.upload(exports / "tunix", "me/gemma3-reasoning/jax/v1", "tunix")
    assert said.startswith("not uploaded: no Kaggle credentials. Would upload") and "KAGGLE_KEY" in said
    assert "to me/gemma3-reasoning/jax/v1" in said


def test_upload_with_credentials_hands_the_folder_to_kagglehub(exports, monkeypatch):
    import kagglehub

    calls = []  # Kaggle's servers cannot be reached from here: the call is recorded instead
    monkeypatch.setattr(kagglehub, "model_upload", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setenv("KAGGLE_USERNAME", "me")
    monkeypatch.setenv("KAGGLE_KEY", "not-a-real-key")
    said = export.upload(exports / "tunix", "me/gemma3-reasoning/jax/v1", "tunix")
    assert said.startswith("uploaded") and calls[0][0] == ("me/gemma3-reasoning/jax/v1", str(exports / "tunix"))
    assert calls[0][1]["license_name"] == "Gemma"


@pytest.mark.parametrize("overrides, fmt, refusal", [
    (["training.lora=null"], "hf", "--format hf: Tunix's merge writes LoRA runs"),
    ([], "tunix", "Tunix's LoRA merge reads the base model's single model.safetensors")])
def test_what_the_tunix_converters_do_not_cover_is_refused_before_any_work(overrides, fmt, refusal, tiny_model_dir,
                                                                          tmp_path):
    import shutil

    from tunix_nb.backends.tunix import export as tunix_export
    from tunix_nb.config import load_config
    from tunix_nb.errors import UserError

    cfg = load_config(SMOKE.with_name("smoke_tiny_tunix.yaml"), overrides)
    source = tiny_model_dir
    if fmt == "tunix":  # a base model whose weights are not one model.safetensors
        source = shutil.copytree(tiny_model_dir, tmp_path / "sharded")
        (source / "model.safetensors").rename(source / "model-00001-of-00001.safetensors")
    with pytest.raises(UserError, match=refusal):
        tunix_export.check(cfg, source, fmt)
