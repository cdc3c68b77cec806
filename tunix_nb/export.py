"""`tunix-nb export RUN_DIR --format tunix|hf|peft --out DIR [--upload HANDLE]`: a finished run's
final model as a folder that loads without tunix_nb, for the competition's multi-session prize
(a Kaggle model that Tunix's own Gemma code loads) and for anyone who wants the model elsewhere.

- `tunix`: the merged weights (LoRA folded in) as a Flax/orbax checkpoint in the layout of Kaggle's
  Gemma 3 Flax checkpoints, which `tunix.models.gemma3.params.create_model_from_checkpoint` reads,
  plus the tokenizer and the ModelConfig fields Tunix needs (`tunix_model_config.json`);
- `hf`: a transformers `save_pretrained` folder (safetensors), LoRA merged in;
- `peft`: the LoRA adapter alone (PyTorch LoRA runs).

The run's own backend rebuilds its policy and restores the final checkpoint (as `tunix-nb eval`
does), then writes the format. Every export has a model card (README.md: base model, data, stages,
each stage's scorecard, run id, config hash, how to load it) and SHA256SUMS. It is written under a
temporary name and renamed when whole; an existing folder is never overwritten.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import __version__, evaluation, evidence, pipeline
from .backends.torch.export import copy_tokenizer
from .config import Config, load_config
from .errors import UserError

FORMATS = ("tunix", "hf", "peft")
KAGGLE_FRAMEWORK = {"tunix": "jax", "hf": "transformers", "peft": "transformers"}


def export_and_upload(run_dir: str | Path, fmt: str, out: str | Path, handle: str | None = None) -> Path:
    """What the CLI and the notebooks call: the export, then its upload to `handle` (a bad handle is
    refused before any work); says where it went."""
    if handle:
        check_handle(handle, fmt)
    folder = export(run_dir, fmt, out)
    print(f"export ({fmt}): {folder}")
    if handle:
        print(upload(folder, handle, fmt))
    return folder


def export(run_dir: str | Path, fmt: str, out: str | Path) -> Path:
    """Write the export of a finished run; returns its folder."""
    run, cfg, out = check(run_dir, fmt, out)
    backend, source, plan = pipeline.resolve_model(cfg)
    if fmt == "tunix" or cfg.training.backend == "tunix":
        from .backends.tunix import export as tunix_export

        tunix_export.check(cfg, source.path, fmt)
    policy = backend.load_policy(cfg, source, plan)
    step = backend.restore(policy, run / "checkpoints", cfg)
    staging = out.parent / f".{out.name}.tmp-export"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        if fmt == "peft":
            policy.model.save_pretrained(staging)  # peft: the adapter's weights and adapter_config.json
            copy_tokenizer(source.path, staging)
        elif fmt == "hf":
            backend.export_hf(policy, cfg, source.path, staging)
        else:
            _write_tunix(policy, cfg, backend, source.path, staging)
        (staging / "README.md").write_text(model_card(run, cfg, fmt, step), encoding="utf-8")
        write_checksums(staging)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def check(run_dir: str | Path, fmt: str, out: str | Path) -> tuple[Path, Config, Path]:
    """What can be refused before a model is loaded: (run dir, its config, the output folder)."""
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt}: unknown format; use one of {', '.join(FORMATS)}")
    run = evaluation.finished_run(str(run_dir), "export")
    if run is None:
        raise UserError(f"{run_dir}: not a run dir (no run_manifest.json); export the folder a run wrote")
    out = Path(out).expanduser().resolve()
    if out.exists():
        raise UserError(f"--out {out}: already exists; pick a new folder (an export is never overwritten)")
    # Rebuilt on this machine's CPU in fp32 (a v5e-8 run included): exact weights, any model that fits in RAM.
    cfg = load_config(run / "config.yaml", ["output.run_id=null", "training.device=cpu"])
    if fmt == "peft" and (cfg.training.backend != "torch" or cfg.training.lora is None):
        raise UserError(f"--format peft: the adapter alone comes from a PyTorch LoRA run; {run.name} is "
                        f"backend {cfg.training.backend}{'' if cfg.training.lora else ' without LoRA'}: "
                        "use --format hf or --format tunix")
    return run, cfg, out


def _write_tunix(policy, cfg: Config, backend, source_path: Path, out: Path) -> None:
    """A Tunix full fine-tune is written from its own weights; otherwise the merged HF weights are
    written first (Tunix's merge for a Tunix LoRA run, peft's for a PyTorch run) and read back by
    Tunix's safetensors loader, so both backends' runs reach the same layout the same way."""
    from .backends.tunix import export as tunix_export
    from .backends.tunix import load as tunix_load

    if cfg.training.backend == "tunix" and cfg.training.lora is None:
        tunix_export.save_upstream(policy.model, policy.config, out)
    else:
        merged = out / ".merged-hf"
        merged.mkdir()
        backend.export_hf(policy, cfg, source_path, merged)
        model, model_config = tunix_load.load_model(merged, dtype="fp32")
        tunix_export.save_upstream(model, model_config, out)
        shutil.rmtree(merged)
    copy_tokenizer(source_path, out)


def write_checksums(folder: Path) -> None:
    lines = [f"{evidence.sha256_file(p)}  {p.relative_to(folder).as_posix()}"
             for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "SHA256SUMS"]
    (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")


LOADING = {
    "tunix": '''```python
import json
from tunix.models.gemma3 import model as gemma3, params
fields = json.load(open("tunix_model_config.json"))
fields["query_pre_attn_norm"] = gemma3.QueryPreAttentionNormalisation[fields["query_pre_attn_norm"]]
model = params.create_model_from_checkpoint("params", gemma3.ModelConfig(**fields))  # absolute path on Kaggle
```
The tokenizer is the HF one beside it (`transformers.AutoTokenizer.from_pretrained(".")`).''',
    "hf": '''```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained(".")
tokenizer = AutoTokenizer.from_pretrained(".")
```''',
    "peft": '''```python
from peft import PeftModel
from transformers import AutoModelForCausalLM
model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(BASE_MODEL), ".")
```''',
}


def model_card(run: Path, cfg: Config, fmt: str, step: int) -> str:
    manifest = evidence.read_manifest(run)
    stages = (manifest.get("metrics") or {}).get("stages") or {}
    trained = ", ".join(f"{k.upper()} {v.get('steps')} steps" for k, v in stages.items()) or "-"
    data = "\n".join(f"- {role}: `{Path(str(info.get('path'))).name}` (sha256 {str(info.get('sha256'))[:12]}…, "
                     f"{info.get('rows_used', '?')} rows used)" for role, info in (manifest.get("datasets") or {}).items())
    rows = "\n".join(f"| {stage} | {o.get('n')} | {o.get('accuracy')} | {o.get('format_compliance')} |"
                     for stage, o in (manifest.get("eval_stages") or {}).items())
    continues = manifest.get("continues")
    sessions = (f"\nThe run continued run `{continues['run_id']}` from its {continues['stage']} step "
                f"{continues['step']} (an earlier session).\n" if continues else "")
    return f"""# {run.name}: {cfg.model.source}, taught to show its work

A model that answers as `<reasoning>…</reasoning><answer>…</answer>`, trained by tunix_nb
{__version__} and exported as `{fmt}` from the run's final checkpoint (step {step}).

- Run: `{manifest.get('run_id')}`, config sha256 `{manifest.get('config_hash')}`, backend {cfg.training.backend}
- Base model: `{cfg.model.source}`
- Stages: {trained}; LoRA: {f"rank {cfg.training.lora.rank}, alpha {cfg.training.lora.alpha} (merged)" if cfg.training.lora else "none (every weight trained)"}
{sessions}
## Data
{data}

## Scorecard (greedy, the run's eval items)
| stage | n | accuracy | format |
|---|---|---|---|
{rows}

## Loading
{LOADING[fmt]}

The prompt the model was trained with is tunix_nb's `PROMPT_TEMPLATE` (Gemma chat turns, the
instruction at the top of the user turn). Every file's sha256 is in `SHA256SUMS`.
"""


def upload(folder: Path, handle: str, fmt: str) -> str:
    """`kagglehub.model_upload` when Kaggle credentials are present; otherwise what would be uploaded
    and how to log in (nothing leaves the machine)."""
    check_handle(handle, fmt)
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    what = f"{folder} ({sum(1 for p in folder.rglob('*') if p.is_file())} files, {size / 1e6:.1f} MB) to {handle}"
    if not kaggle_credentials():
        return (f"not uploaded: no Kaggle credentials. Would upload {what}. Log in with KAGGLE_USERNAME and "
                "KAGGLE_KEY in the environment (on Kaggle: add them as Secrets) or ~/.kaggle/kaggle.json, "
                "then run the same command again")
    import kagglehub

    kagglehub.model_upload(handle, str(folder), license_name="Gemma",
                           version_notes=f"tunix_nb {__version__}: {folder.name}")
    return f"uploaded {what}"


def check_handle(handle: str, fmt: str) -> None:
    parts = handle.split("/")
    if len(parts) != 4 or not all(parts):
        raise UserError(f"--upload {handle}: a Kaggle model handle is OWNER/MODEL/FRAMEWORK/VARIATION, e.g. "
                        f"me/gemma3-reasoning/{KAGGLE_FRAMEWORK.get(fmt, 'jax')}/v1")


def kaggle_credentials() -> bool:
    """Environment variables, kaggle.json, or a Kaggle notebook (kagglehub uses the notebook's own)."""
    home = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))
    return (bool(os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY")) or (home / "kaggle.json").is_file()
            or bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE")))
