#!/usr/bin/env python3
"""Writes the two thin notebooks from one description, so they stay consistent:

    python notebooks/build_notebooks.py           # (re)write notebooks/*.ipynb
    python notebooks/build_notebooks.py --check   # exit 1 if the committed files differ

Each notebook: one `parameters` cell of literals (papermill overrides it), a bootstrap cell, then
one `tunix_nb.notebook` call per cell. Committed without outputs, with a kernelspec and cell ids.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's tunix_nb (the cell embeds its bootstrap)
from tunix_nb import bootstrap  # noqa: E402

# tunix_nb is not importable yet when this cell starts: it carries install_source's own source.
BOOTSTRAP = '''\
import os, subprocess, sys, warnings
''' + inspect.getsource(bootstrap.install_source) + '''
source = install_source(REPO, INSTALL_FROM)
if source:  # --no-deps: the image's torch/jax/libtpu are never touched; what it lacks follows below
    print(f"installing tunix_nb from the {source[0]}: {source[1]}")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", source[1]], check=True)
if os.environ.get("KAGGLE_KERNEL_RUN_TYPE"):
    # Kaggle's image already has jax/libtpu/flax/torch: install only what it lacks, never those,
    # and google-tunix at the version we test (--no-deps).
    from tunix_nb.bootstrap import ensure_kaggle
    ensure_kaggle()
# Progress bars are plain text here (no ipywidgets needed), and the deprecations are inside the
# libraries, not ours: neither is something a reader should have to learn to ignore.
warnings.filterwarnings("ignore", message="IProgress not found")
warnings.filterwarnings("ignore", category=DeprecationWarning)
from tunix_nb import notebook as nb'''

TEMPLATE_CONSTANTS = '''\
from tunix_nb.prompts import PROMPT_TEMPLATE  # our one template: training, evaluation and the judges use it

TEMPERATURE = 0.7
TOP_K = 50
TOP_P = 0.9
MAX_GENERATION_STEPS = 768

# Fixed by the competition template ("do not change"):
REASONING_START = "<reasoning>"
REASONING_END = "</reasoning>"
SOLUTION_START = "<answer>"
SOLUTION_END = "</answer>"
INF_TEMPERATURE = 0
INF_TOP_K = 1
INF_TOP_P = None
SEED = 42'''

# (cell id, the markdown cell before it saying what the stage does and why (or None), the one call)
FLOW = [
    ("configure", "**Configuration.** One preset (a YAML file) holds every setting; the resolved config is printed "
                  "and stored with the run, so the run can be repeated exactly.",
     "cfg = nb.configure(CONFIG, OVERRIDES + [f\"model.hf_secret_label={HF_SECRET_LABEL}\"], RUN_ID, DEVICE)"),
    ("prepare", "**Device plan and data.** The accelerator, dtype, batching and a memory check are decided before "
                "anything is written; the training records, the RL prompts and the eval items are validated and "
                "tokenized with the one prompt template.",
     "session = nb.prepare(cfg, CONTINUE_FROM)"),
    ("start", None, "nb.start(session)"),
    ("base", "**Base model.** The untrained model is scored first on the eval items, so every later stage is "
             "compared with where it started (when `eval.compare_base` is set).",
     "nb.base(session)"),
    ("sft", "**Supervised fine-tuning: the format.** LoRA imitation of worked solutions teaches the model to write "
            "`<reasoning>…</reasoning><answer>…</answer>`; the curve is the training loss.",
     "nb.sft(session)"),
    ("preference", "**Preference optimization: lock the format, stop the rambling.** Pairs of a better and a worse answer "
                   "to the same question (from a file, or sampled from the SFT model and ranked by the GRPO rewards) "
                   "trained with DPO, ORPO or SimPO: the 2nd place's stage between SFT and GRPO. It runs when the "
                   "config has a `preference` section; the curves are the loss and the chosen \u2212 rejected margin.",
     "nb.preference(session)"),
    ("grpo", "**GRPO: correctness.** The model samples a group of answers per prompt; each is rewarded by the same "
             "scorer as the scorecard (format, correct answer, numeric closeness, length), and the policy moves "
             "towards the better answers of its group, held near the base model by a KL term (`grpo.beta`). The curves are the "
             "mean reward (± its spread), each reward on its own, and the KL.",
     "nb.grpo(session)"),
    ("evaluate", "**Evaluation.** Greedy answers on the same eval items after each stage: accuracy and format per "
                 "section, category and difficulty, a column per stage.",
     "nb.evaluate(session)"),
    ("finish", None, "run_dir = nb.finish(session)"),
    ("package", None, "nb.package(run_dir) if PACKAGE else \"packaging skipped (PACKAGE=False)\""),
    ("export", "**Export (off unless `EXPORT_FORMAT` is set).** The final model as a folder that loads without "
               "tunix_nb: `tunix` (Flax/orbax, read by Tunix's own Gemma 3 loader: the form a Kaggle model takes "
               "for the multi-session prize), `hf` (transformers) or `peft` (the LoRA adapter of a PyTorch run), "
               "with a model card and checksums; `EXPORT_UPLOAD` (a Kaggle model handle) uploads it when Kaggle "
               "credentials are present.",
     "nb.export(run_dir, EXPORT_FORMAT, EXPORT_UPLOAD)"),
    ("evaluate-other", "**Another model, for comparison (off unless `EVAL_MODEL` is set).** Any model source (the "
                       "base model, last week's checkpoint) or a finished run dir, scored on `EVAL_FILE` without "
                       "training, into a run dir of its own, by the same scoring code.",
     "nb.evaluate_model(EVAL_MODEL, EVAL_FILE, CONFIG, OVERRIDES)"),
]

JUDGES = "lora_policy, tokenizer, model_config, MAX_PROMPT_LENGTH, CKPT_DIR, MAX_STEPS = nb.judge_handles(session)"


def parameters(config: str, device: str, export: str | None) -> str:
    export_literal = f'"{export}"' if export else "None"
    return f'''\
# Parameters: literals only; papermill's -p NAME VALUE overrides them.
REPO = "."                       # a tunix_nb checkout to install from when no wheel is attached (None: none)
INSTALL_FROM = None              # or: a tunix_nb .whl, a git URL (git+https://...) or a checkout; None: the first of an
                                 # installed tunix_nb, a tunix_nb-*.whl under /kaggle/input, REPO
CONFIG = "{config}"
RUN_ID = None                    # None: <preset>-<UTC time>; an existing run dir is never overwritten
CONTINUE_FROM = None             # an earlier session's run dir (read-only is fine, e.g. its output attached under
                                 # /kaggle/input/...): this run starts from its newest checkpoint; None: from the model
# OVERRIDES: config values to change, as "section.key=value" strings, like --set on the CLI
OVERRIDES = []
DEVICE = "{device}"                 # auto | cpu | cuda | tpu; an accelerator asked for and absent is an error
HF_SECRET_LABEL = "HF_TOKEN"     # Kaggle secret with the HF token; read only when the model needs it
PACKAGE = True                   # zip the run (code, data, evidence) at the end
EXPORT_FORMAT = {export_literal:<17}# tunix | hf | peft: also write the final model as exports/<run_id>-<format>
EXPORT_UPLOAD = None             # ... and upload it as this Kaggle model (OWNER/MODEL/FRAMEWORK/VARIATION)
EVAL_MODEL = None                # also score another model, untrained: a model source or a finished run dir
EVAL_FILE = "training/data/eval_v3.jsonl"  # ... on these eval items (any file, folder or hf:OWNER/NAME)'''


def parameters_cell(config: str, device: str, export: str | None):
    return new_code_cell(parameters(config, device, export), id="parameters", metadata={"tags": ["parameters"]})


def build(kind: str):
    if kind == "kaggle":
        intro = ("# tunix_nb: teach Gemma to show its work (Kaggle)\n\n"
                 "SFT so the model answers as `<reasoning>…</reasoning><answer>…</answer>`, then GRPO rewarded by our "
                 "scorer to make those answers right (the stages the competition's winners combined). On a Kaggle T4 (or any "
                 "machine) the default preset is a smoke run of the whole pipeline; evidence goes to "
                 "`submission_runs/<run_id>/` (on Kaggle under `/kaggle/working`). Headless: "
                 "`tunix-nb notebook notebooks/kaggle_submission.ipynb` or "
                 "`papermill notebooks/kaggle_submission.ipynb out.ipynb -p CONFIG training/configs/smoke_tiny.yaml`.\n\n"
                 "On a Kaggle TPU v5e-8 (the judged run, Tunix): set `CONFIG` to "
                 "`training/configs/submission_tpu_gemma3_1b.yaml` (or `submission_tpu_gemma2_2b.yaml`) and "
                 "`DEVICE = \"tpu\"`. The last cells hand the judges `lora_policy`, `tokenizer`, `model_config`, "
                 "`MAX_PROMPT_LENGTH`, `CKPT_DIR` (checkpoints at `CKPT_DIR/actor/<step>/model_params`) and `MAX_STEPS` "
                 "(the final checkpoint's step, also when a time budget stopped training early).\n\n"
                 "Training longer than one 9-hour session: save this notebook's output, attach it in the next session "
                 "and set `CONTINUE_FROM` to its run dir (`/kaggle/input/<output>/submission_runs/<run_id>`): the new run "
                 "starts from that run's newest checkpoint, with its optimizer, schedule and data position, and writes "
                 "only under `/kaggle/working`.")
        cells = [new_markdown_cell(intro, id="intro"),
                 parameters_cell("training/configs/smoke_tiny.yaml", "auto", None),
                 new_code_cell(BOOTSTRAP, id="bootstrap"),
                 new_markdown_cell("The competition template's names (the judges' cells read them).", id="template-md"),
                 new_code_cell(TEMPLATE_CONSTANTS, id="template")]
    else:
        intro = ("# tunix_nb on a local GPU (PyTorch)\n\n"
                 "For an RTX 5090 or similar: `papermill notebooks/local_gpu.ipynb out.ipynb` "
                 "(defaults: `submission_local_gpu.yaml`, `DEVICE=cuda`); on a CPU: "
                 "`-p CONFIG training/configs/smoke_tiny.yaml -p DEVICE auto`.")
        cells = [new_markdown_cell(intro, id="intro"),
                 parameters_cell("training/configs/submission_local_gpu.yaml", "cuda", "hf"),
                 new_code_cell(BOOTSTRAP, id="bootstrap")]
    for cid, why, src in FLOW:
        if why:
            cells.append(new_markdown_cell(why, id=f"{cid}-md"))
        cells.append(new_code_cell(src, id=cid))
    if kind == "kaggle":  # the judges append their cells after these and read these names
        after_finish = next(i for i, c in enumerate(cells) if c.id == "finish") + 1
        cells[after_finish:after_finish] = [new_markdown_cell("For the judges' cells: the trained model and where its checkpoints are.",
                                          id="judges-md"),
                        new_code_cell(JUDGES, id="judges")]
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    nbformat.validate(nb)
    return nb


TARGETS = {"kaggle_submission.ipynb": "kaggle", "local_gpu.ipynb": "local"}


def render(kind: str) -> str:
    return nbformat.writes(build(kind)) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    stale = []
    for name, kind in TARGETS.items():
        path, text = HERE / name, render(kind)
        if args.check:
            if not path.is_file() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"out of date: {', '.join(stale)}; run python notebooks/build_notebooks.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
