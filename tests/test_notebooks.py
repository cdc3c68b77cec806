"""Both notebooks, as committed and as executed headlessly by papermill on a real kernel."""

import ast
import json
import shutil
import subprocess
import sys
import zipfile

import nbformat
import papermill as pm
import pytest

from conftest import GRPO_FAST, GRPO_SMOKE, GRPO_STEPS, ROOT, judges_output, run_cli

NOTEBOOKS = {"kaggle_submission.ipynb", "local_gpu.ipynb"}
FAST = '["training.epochs=null", "training.max_steps=4", "training.warmup_steps=1", "data.train_limit=48", ' \
       '"eval.limit=4", "eval.max_new_tokens=16"]'
FAKE_TOKEN = "hf_FAKEtokenNEVERtoLEAK_42xyz"


def load(name):
    return nbformat.read(ROOT / "notebooks" / name, as_version=4)


def test_committed_notebooks_are_the_builders_output():
    res = subprocess.run([sys.executable, "notebooks/build_notebooks.py", "--check"], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert {p.name for p in (ROOT / "notebooks").glob("*.ipynb")} == NOTEBOOKS


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_shape(name):
    nb = load(name)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("id") for c in nb.cells)
    assert all(not c.outputs and c.execution_count is None for c in code)  # committed without outputs
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and code[0] is params[0]
    for node in ast.parse(params[0].source).body:  # literals only
        assert isinstance(node, ast.Assign)
        ast.literal_eval(node.value)
    flow = code[2:] if name == "local_gpu.ipynb" else code[3:]
    for cell in flow:  # one tunix_nb call per cell
        calls = [n for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Call)]
        assert calls and all(ast.unparse(c.func).startswith("nb.") for c in calls), cell.source


def test_kaggle_notebook_defines_the_competition_template_names():
    from tunix_nb import prompts

    cell = next(c for c in load("kaggle_submission.ipynb").cells if c.get("id") == "template")
    ns: dict = {}
    exec(cell.source, ns)
    assert ns["PROMPT_TEMPLATE"] == prompts.PROMPT_TEMPLATE and "{question}" in ns["PROMPT_TEMPLATE"]
    expected = dict(TEMPERATURE=0.7, TOP_K=50, TOP_P=0.9, MAX_GENERATION_STEPS=768, REASONING_START="<reasoning>",
                    REASONING_END="</reasoning>", SOLUTION_START="<answer>", SOLUTION_END="</answer>",
                    INF_TEMPERATURE=0, INF_TOP_K=1, INF_TOP_P=None, SEED=42)
    assert {k: ns[k] for k in expected} == expected
    assert (ns["REASONING_START"], ns["SOLUTION_END"]) == (prompts.REASONING_START, prompts.SOLUTION_END)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_bootstrap_cell_installs_tunix_nb_without_sys_path_or_chdir(name, tmp_path):
    """The cell runs before tunix_nb is importable: its own copy of install_source chooses, here on
    real files (an attached wheel under a fake /kaggle/input), with no tunix_nb in its namespace."""
    (cell,) = [c.source for c in load(name).cells if c.get("id") == "bootstrap"]
    assert "sys.path.insert" not in cell and "os.chdir" not in cell
    assert '"pip", "install", "-q", "--no-deps", source[1]' in cell
    definition = cell[:cell.index("\nsource = install_source(")]
    scope: dict = {}
    exec(definition, scope)  # noqa: S102 (our own generated cell)
    assert "tunix_nb" not in scope and "bootstrap" not in scope
    (tmp_path / "ds").mkdir()
    whl = tmp_path / "ds" / "tunix_nb-0.1.0-py3-none-any.whl"
    whl.write_bytes(b"")
    assert scope["install_source"](None, wheels=str(tmp_path), installed=False) == ("wheel", str(whl))
    assert scope["install_source"](str(ROOT), wheels=str(tmp_path / "none"), installed=False) == ("checkout", str(ROOT))


def test_kaggle_requirements_never_touch_the_images_accelerator_stack():
    names = [line.split("=")[0].split(">")[0].split("<")[0].strip().lower()
             for line in (ROOT / "requirements-kaggle.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert names and not {"torch", "jax", "jaxlib", "libtpu", "flax", "google-tunix"} & set(names)
    assert "datasets" in names  # every data source but JSONL is read through it


def outputs_text(nb) -> str:
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            parts.append(o.get("text", "") + json.dumps(o.get("data", {})) + o.get("evalue", ""))
    return "\n".join(parts)


def test_local_gpu_notebook_runs_sft_then_grpo_under_papermill_on_cpu(tmp_path, cache_dir):
    """The GRPO smoke preset on the PyTorch backend: SFT, then GRPO with our sampler."""
    out = tmp_path / "local_gpu.out.ipynb"
    overrides = ["training.backend=torch"] + [a for a in GRPO_FAST if a != "--set"] + [f"output.root={tmp_path / 'runs'}"]
    pm.execute_notebook(str(ROOT / "notebooks/local_gpu.ipynb"), str(out), cwd=str(ROOT), kernel_name="python3",
                        progress_bar=False, parameters={
                            "REPO": str(ROOT), "CONFIG": str(GRPO_SMOKE.relative_to(ROOT)), "DEVICE": "auto",
                            "RUN_ID": "nb-local", "PACKAGE": False, "OVERRIDES": overrides})
    nb = nbformat.read(out, as_version=4)
    text = outputs_text(nb)
    assert "device plan: mode=smoke" in text and "acc grpo" in text and "run complete" in text
    pngs = {c.id for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})}
    assert {"sft", "grpo"} <= pngs  # the loss curve, the reward curves
    run_dir = tmp_path / "runs" / "nb-local"
    assert json.loads((run_dir / "run_manifest.json").read_text())["status"] == "complete"
    assert set(json.loads((run_dir / "eval_summary.json").read_text())["stages"]) == {"base", "sft", "grpo"}
    assert (run_dir / "checkpoints" / f"step-{GRPO_STEPS:06d}").is_dir()  # the last stage's: GRPO's
    export = tmp_path / "exports" / "nb-local-hf"  # EXPORT_FORMAT "hf", the local notebook's default
    assert {"model.safetensors", "config.json", "README.md", "SHA256SUMS"} <= {p.name for p in export.iterdir()}
    assert "exported as `hf`" in text  # the model card is shown


@pytest.fixture()
def offline_hub(tmp_path, tiny_model_dir):
    """A hub id that resolves offline: the tiny model placed in an HF cache as snapshot 'acme/tiny',
    so the model source needs the HF token and the token is really read and handed on."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return {"HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_TOKEN": FAKE_TOKEN}


def test_make_run_path_kaggle_notebook_via_cli_and_the_token_never_leaks(tmp_path, offline_hub):
    overrides = json.loads(FAST) + [f"output.root={tmp_path / 'runs'}", "model.source=acme/tiny"]
    res = run_cli("notebook", "notebooks/kaggle_submission.ipynb", "--run-id", "nb-kaggle",
                  "-p", "OVERRIDES", json.dumps(overrides), env=offline_hub)
    assert res.returncode == 0, res.stderr[-4000:]
    console = (res.stdout + res.stderr).splitlines()
    # Quiet, readable output: no warning a reader must learn to ignore (the kernel's TCP warning
    # included), progress every few seconds at most rather than every step.
    assert not [line for line in console if "warning" in line.lower()], console
    assert len(console) <= 150
    run_dir = tmp_path / "runs" / "nb-kaggle"
    executed = run_dir / "kaggle_submission.executed.ipynb"
    zip_path = ROOT / "dist" / "submission-nb-kaggle.zip"
    try:
        assert f"executed notebook: {executed}" in res.stdout and f"zip: {zip_path}" in res.stdout
        manifest = json.loads((run_dir / "run_manifest.json").read_text())
        assert manifest["status"] == "complete" and manifest["model_source"]["kind"] == "hub"
        assert "HF token: from env:HF_TOKEN" in outputs_text(nbformat.read(executed, as_version=4))
        verify = subprocess.run([sys.executable, "tools/package_submission.py", "--verify", str(zip_path)],
                                cwd=ROOT, capture_output=True, text=True)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        # The token was used, and appears nowhere: outputs, files, notebook, zip members.
        assert FAKE_TOKEN not in res.stdout + res.stderr
        for path in run_dir.rglob("*"):
            if path.is_file():
                assert FAKE_TOKEN.encode() not in path.read_bytes(), path
        with zipfile.ZipFile(zip_path) as zf:
            members = zf.namelist()
            assert "submission_runs/nb-kaggle/kaggle_submission.executed.ipynb" in members
            for member in members:
                assert FAKE_TOKEN.encode() not in zf.read(member), member
    finally:
        zip_path.unlink(missing_ok=True)


def test_a_failing_cell_fails_the_run_with_the_cells_error(tmp_path, cache_dir):
    overrides = json.loads(FAST) + [f"output.root={tmp_path / 'runs'}", f"data.train_file={tmp_path / 'none.jsonl'}"]
    res = run_cli("notebook", "notebooks/kaggle_submission.ipynb", "--run-id", "nb-fail", "--no-package",
                  "-p", "OVERRIDES", json.dumps(overrides))
    assert res.returncode == 1
    assert "failed in cell" in res.stderr and "UserError" in res.stderr and "none.jsonl: file not found" in res.stderr
    assert not (tmp_path / "runs" / "nb-fail").exists()  # refused before the run dir was made


def test_unknown_notebook_parameter_is_refused_in_one_line():
    res = run_cli("notebook", "notebooks/local_gpu.ipynb", "-p", "CONFG", "x")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0
    assert "-p CONFG: not a parameter of local_gpu.ipynb" in res.stderr


def test_kaggle_notebook_sft_then_grpo_hands_the_judges_grpos_model(grpo_notebook):
    """The GRPO smoke preset (Tunix SFT then Tunix GRPO) under papermill on CPU (conftest's
    grpo_notebook); then the judges' own cells, appended after ours as they do, read lora_policy,
    tokenizer, model_config, MAX_PROMPT_LENGTH and CKPT_DIR, and restore the largest actor/<step>: GRPO's."""
    from conftest import GRPO_STEPS

    executed, run_dir = grpo_notebook
    text = outputs_text(executed)
    assert "backend=tunix" in text and "run complete" in text
    assert "Warning" not in text  # nothing a reader must learn to ignore (e.g. TqdmWarning: IProgress)
    images = {c.get("id"): any("image/png" in o.get("data", {}) for o in c.get("outputs", [])) for c in executed.cells}
    assert images["sft"] and images["grpo"] and images["evaluate"]  # loss, reward and scorecard inline
    assert f"CKPT_DIR={run_dir / 'checkpoints'}" in text
    judged = judges_output(text)
    assert judged["step"] == GRPO_STEPS and judged["policy"] == "Gemma3"
    assert judged["max_steps"] == GRPO_STEPS and f"MAX_STEPS={GRPO_STEPS}" in text  # nb.judge_handles' MAX_STEPS
    assert judged["restored"] and judged["restored"][0]  # the restored policy answers
    assert json.loads((run_dir / "run_manifest.json").read_text())["status"] == "complete"
