"""The package's own files by name (presets, data, notebooks), in a checkout and from a built wheel:
the wheel is built once per session from the tracked files (as a fresh clone has them), installed
--no-deps into a fresh venv that sees this one's packages, and run from an empty directory."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from tunix_nb import __version__, resources
from tunix_nb.config import load_config
from tunix_nb.errors import UserError

# One step on a few rows, one eval item: the run is whole (every evidence file), just short.
SHORT = ["--set", "training.epochs=null", "--set", "training.max_steps=1", "--set", "training.warmup_steps=0",
         "--set", "data.train_limit=4", "--set", "eval.limit=1", "--set", "eval.max_new_tokens=4"]


def test_a_preset_by_name_is_the_preset_file_and_a_path_still_works():
    by_name, by_path = load_config("smoke_tiny"), load_config("training/configs/smoke_tiny.yaml")
    assert by_name == by_path and by_name.name == "smoke_tiny"
    assert resources.preset("smoke_tiny.yaml") == ROOT / "training" / "configs" / "smoke_tiny.yaml"


def test_a_checkout_resolves_relative_paths_against_the_checkout_as_before(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resources.CHECKOUT == ROOT
    assert resources.resolve("training/data/eval_v2.jsonl") == ROOT / "training/data/eval_v2.jsonl"
    assert resources.resolve(tmp_path / "x.jsonl") == tmp_path / "x.jsonl"


def test_an_unknown_preset_is_one_line_naming_the_presets():
    with pytest.raises(UserError, match=r"^nope: no such config file or preset; presets: .*smoke_tiny"):
        load_config("nope")
    res = run_cli("run", "--config", "nope")
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "smoke_tiny_tunix" in res.stderr


def test_presets_lists_every_preset_with_its_headers_first_line():
    res = run_cli("presets")
    assert res.returncode == 0, res.stderr
    lines = dict(line.split(None, 1) for line in res.stdout.splitlines())
    assert sorted(lines) == sorted(p.stem for p in (ROOT / "training/configs").glob("*.yaml"))
    assert lines["smoke_tiny"].startswith("The embedded default: a tiny Gemma 3 model")


def test_notebook_write_copies_the_packaged_notebooks_and_never_overwrites(tmp_path):
    res = run_cli("notebook", "kaggle", "--write", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "kaggle_submission.ipynb").read_bytes() == (ROOT / "notebooks/kaggle_submission.ipynb").read_bytes()
    assert not (tmp_path / "local_gpu.ipynb").exists()
    again = run_cli("notebook", "--write", str(tmp_path))
    assert again.returncode == 2 and "kaggle_submission.ipynb: already exists" in again.stderr


# --- the built wheel -------------------------------------------------------------------------------

def _tracked_copy(dest: Path) -> Path:
    """The files a fresh clone has (tracked, plus new ones git does not ignore), without build litter."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = _tracked_copy(tmp_path_factory.mktemp("clone"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True)
    (whl,) = out.glob("tunix_nb-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv (seeing this venv's packages) with the wheel installed --no-deps; its bin folder."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    # --system-site-packages sees the base interpreter's packages; when the tests run in a venv, its
    # packages (torch, transformers, ...) are added after the new venv's own (a .pth line runs last).
    (site_dir,) = venv.glob("lib/python*/site-packages")
    (site_dir / "test_venv.pth").write_text("".join(f"import site; site.addsitedir({d!r})\n"
                                                    for d in site.getsitepackages()))
    # --ignore-installed: this venv's editable tunix_nb is visible through the system site-packages.
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", "--ignore-installed", str(wheel)], check=True, capture_output=True)
    return venv / "bin"


def _in_empty_dir(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only the installed package
    return subprocess.run([str(bin_dir / "tunix-nb"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_wheel_carries_presets_data_and_notebooks_and_nothing_of_a_workspace(wheel):
    assert wheel.name == f"tunix_nb-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    res = "tunix_nb/_resources/"
    for p in (ROOT / "training/configs").glob("*.yaml"):
        assert f"{res}training/configs/{p.name}" in names
    for p in (ROOT / "training/data").glob("*.jsonl"):
        assert f"{res}training/data/{p.name}" in names
    assert {f"{res}notebooks/kaggle_submission.ipynb", f"{res}notebooks/local_gpu.ipynb",
            "tunix_nb/backends/torch/sft.py", "tunix_nb/backends/tunix/sft.py"} <= set(names)
    assert not [n for n in names if n.split("/")[0] in ("tests", "bench", "tools", "submission_runs", ".venv")
                or "__pycache__" in n or n.endswith(".pyc") or "/checkpoints/" in n or "/gen/" in n]


def test_the_installed_wheel_runs_a_preset_by_name_from_an_empty_directory(installed, tmp_path, tiny_model_dir):
    where = subprocess.run([str(installed / "python"), "-c", "import tunix_nb; print(tunix_nb.__file__)"], cwd=tmp_path,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, capture_output=True,
                           text=True, check=True).stdout
    assert where.startswith(str(installed.parent)), where  # the wheel's copy, not this checkout
    presets = _in_empty_dir(installed, tmp_path, "presets")
    assert presets.returncode == 0 and presets.stdout.startswith("cpu_gemma3_270m "), presets.stderr
    res = _in_empty_dir(installed, tmp_path, "run", "--config", "smoke_tiny", "--run-id", "wheel", *SHORT)
    assert res.returncode == 0, res.stderr[-3000:]
    run_dir = tmp_path / "submission_runs" / "wheel"  # a relative output root: the cwd's, as a user expects
    assert res.stdout.strip().splitlines()[-1] == str(run_dir)
    manifest = json.loads((run_dir / "run_manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["packages"]["tunix_nb"] == __version__
    assert (run_dir / "eval_summary.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["submission_runs"]
    # The notebooks' last step zips the run with the code and data: from the wheel, into ./dist.
    zipped = subprocess.run([str(installed / "python"), "-c", "import sys; from tunix_nb.notebook import package; "
                             "print(package(sys.argv[1]))", str(run_dir)], cwd=tmp_path, capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert zipped.returncode == 0, zipped.stderr[-2000:]
    members = zipfile.ZipFile(tmp_path / "dist" / "submission-wheel.zip").namelist()
    assert {"tunix_nb/pipeline.py", "tunix_nb/backends/torch/sft.py", "training/configs/smoke_tiny.yaml",
            "training/data/eval_v2.jsonl", "notebooks/kaggle_submission.ipynb", "tools/package_submission.py",
            "submission_runs/wheel/run_manifest.json"} <= set(members)
    assert not [m for m in members if "_resources" in m]
    written = _in_empty_dir(installed, tmp_path, "notebook", "kaggle", "--write", "nb")
    assert written.returncode == 0 and (tmp_path / "nb" / "kaggle_submission.ipynb").is_file(), written.stderr
