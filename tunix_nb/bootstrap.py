"""The Kaggle notebook's first step: install tunix_nb itself, then make the image's Python match
what tunix_nb is tested with, without touching what the image owns. Standard library only (it runs
before anything else; `install_source` runs before tunix_nb is even importable, so the notebook's
bootstrap cell carries its source, written in by notebooks/build_notebooks.py).

tunix_nb comes from an attached wheel (a Kaggle dataset: the only way without internet), a
checkout, or a git URL, whichever is found; always --no-deps, so pip never reaches for the image's
torch or jax; what the image lacks comes from requirements-kaggle.txt (carried in the package).

Kaggle's TPU image ships jax/libtpu/flax (and a CPU torch); reinstalling any of them breaks the
TPU. Tunix is what moves under users' feet (0.1.6 and 0.1.7 rename arguments; an unpinned install
picks 0.1.6), so google-tunix is pinned to the version we test, installed with --no-deps together
with only those of its pure-Python dependencies the image lacks. jax and flax are reported, never
changed: a different version gets one warning line saying what we test with.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from typing import Callable, Mapping

# What tunix_nb's tests run with (requirements.txt resolves these on a plain machine).
TESTED = {"google-tunix": "0.1.7", "jax": "0.10.2", "flax": "0.12.8"}
# google-tunix 0.1.7's own pure-Python dependencies, installed --no-deps only when absent.
TUNIX_DEPS = ("qwix", "google-metrax", "clu", "perfetto", "tensorboardX", "dill", "ml_collections", "grain")
NEVER_TOUCHED = ("jax", "jaxlib", "libtpu", "flax", "torch")


def install_source(repo, install_from=None, wheels="/kaggle/input", installed=None):
    """(kind, pip target) to install tunix_nb from, or None when it is installed already.
    `install_from` (a .whl, a git URL, a checkout) wins; else the newest tunix_nb-*.whl under
    `wheels` (attached datasets), else the checkout `repo`. Raises when there is nothing to install."""
    import re
    from importlib import metadata
    from pathlib import Path

    def kind_of(target):
        if target.endswith(".whl"):
            return "wheel", target
        if target.startswith(("git+", "http://", "https://", "git@")):
            return "git", target if target.startswith("git+") else "git+" + target
        return "checkout", target

    if install_from:
        return kind_of(str(install_from))
    if installed is None:
        try:
            installed = bool(metadata.version("tunix_nb"))
        except metadata.PackageNotFoundError:
            installed = False
    if installed:
        return None
    version = lambda p: tuple(int(n) for n in re.findall(r"\d+", p.name.split("-")[1]))  # noqa: E731
    found = sorted(Path(wheels).glob("**/tunix_nb-*.whl"), key=version) if Path(wheels).is_dir() else []
    if found:
        return "wheel", str(found[-1])
    if repo and (Path(repo) / "pyproject.toml").is_file() and (Path(repo) / "tunix_nb" / "__init__.py").is_file():
        return "checkout", str(Path(repo).resolve())
    raise RuntimeError(f"tunix_nb is not installed, no tunix_nb-*.whl is under {wheels} and REPO={repo!r} is no "
                       "checkout: attach the wheel as a dataset, or set INSTALL_FROM to a .whl, git URL or checkout")


def ensure_kaggle(run: Callable = subprocess.run) -> list[str]:
    """On Kaggle, after tunix_nb itself: what the image lacks (requirements-kaggle.txt, which never
    names torch/jax/libtpu/flax), then google-tunix as tested (`ensure_tunix`)."""
    from .resources import ROOT

    run([sys.executable, "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements-kaggle.txt")], check=True)
    return ensure_tunix(run)


def installed_versions(names) -> dict[str, str | None]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def plan(installed: Mapping[str, str | None]) -> tuple[list[list[str]], list[str]]:
    """(pip commands to run, report lines) for the installed versions (name -> version or None)."""
    commands, lines = [], []
    for name in ("jax", "flax"):
        have, want = installed.get(name), TESTED[name]
        if have != want:
            lines.append(f"warning: {name} {have or 'not installed'} (tunix_nb is tested with {want}); "
                         f"left as the image has it")
    have = installed.get("google-tunix")
    if have == TESTED["google-tunix"]:
        lines.append(f"google-tunix {have}: as tested")
    else:
        missing = [d for d in TUNIX_DEPS if installed.get(d) is None]
        commands.append([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                         f"google-tunix=={TESTED['google-tunix']}", *missing])
        lines.append(f"google-tunix {have or 'not installed'} -> {TESTED['google-tunix']} (--no-deps"
                     + (f", with {', '.join(missing)}" if missing else "") + ")")
    assert not any(p.split("=")[0] in NEVER_TOUCHED for c in commands for p in c[6:])  # the image's own stay
    return commands, lines


def ensure_tunix(run: Callable = subprocess.run) -> list[str]:
    """Check the versions, install what `plan` says, print and return the report lines."""
    commands, lines = plan(installed_versions(["jax", "flax", "google-tunix", *TUNIX_DEPS]))
    for command in commands:
        run(command, check=True)
    for line in lines:
        print(line)
    return lines
