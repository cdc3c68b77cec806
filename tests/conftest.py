"""Shared fixtures: the real tiny model (built once per session into a private cache) and a
helper that runs the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

# One JAX compilation cache for the whole test session (this process and every CLI subprocess it
# starts): the many Tunix runs of the suite compile the same programs, and compile once.
_JAX_CACHE = Path(tempfile.mkdtemp(prefix="tunix_nb-jax-cache-"))
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_JAX_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "training" / "configs" / "smoke_tiny.yaml"


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
