"""Where the project's own files are: the presets, the shipped datasets and the notebooks.

From a checkout (an editable install, or running from the repo) they are the repo's
`training/configs`, `training/data` and `notebooks`. An installed wheel carries the same files, at
the same relative paths, under `tunix_nb/_resources/` (pyproject.toml maps them in at build time;
nothing is moved in the repo). So a preset's `training/data/eval_v2.jsonl` means the same file
either way, and every other module asks here instead of guessing from `__file__`.
"""

from __future__ import annotations

from pathlib import Path

from .errors import UserError

_PACKAGE = Path(__file__).resolve().parent
_REPO = _PACKAGE.parent
# A checkout has its pyproject.toml beside the package; site-packages never does.
CHECKOUT: Path | None = _REPO if (_REPO / "pyproject.toml").is_file() and (_REPO / "training" / "configs").is_dir() else None
# The root the project's relative paths (training/..., notebooks/...) are written against.
ROOT: Path = CHECKOUT or _PACKAGE / "_resources"
PRESETS = ROOT / "training" / "configs"
NOTEBOOKS = {"kaggle": ROOT / "notebooks" / "kaggle_submission.ipynb", "local": ROOT / "notebooks" / "local_gpu.ipynb"}


def resolve(p: str | Path) -> Path:
    """A path from a config or a notebook parameter. Absolute: as given. Relative, in a checkout:
    against the checkout (as always, so a preset works from any cwd). Relative, installed: against
    the cwd (the user's own files), falling back to the packaged file of that name (the presets' data)."""
    p = Path(p).expanduser()
    if p.is_absolute():
        return p
    if CHECKOUT is not None:
        return CHECKOUT / p
    here = Path.cwd() / p
    return here if here.exists() or not (ROOT / p).exists() else ROOT / p


def preset_names() -> list[str]:
    return sorted(f.stem for f in PRESETS.glob("*.yaml"))


def preset(name: str) -> Path:
    """The packaged preset called `name` (`smoke_tiny` or `smoke_tiny.yaml`)."""
    path = PRESETS / (name if name.endswith(".yaml") else f"{name}.yaml")
    if "/" in name or not path.is_file():
        raise UserError(f"{name}: no such config file or preset; presets: {', '.join(preset_names())}")
    return path


def preset_summary(path: Path) -> str:
    """The first line of a preset's header comment (what it is for)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip()
            if text:
                return text
        elif line.strip():
            break
    return ""


def notebook(kind: str) -> Path:
    if kind not in NOTEBOOKS:
        raise UserError(f"{kind}: unknown notebook; one of {', '.join(NOTEBOOKS)}")
    return NOTEBOOKS[kind]


def write_notebooks(kind: str | None, folder: Path) -> list[Path]:
    """Copy the packaged notebook(s) (`kaggle`, `local`, or both for None) into `folder`, for someone
    who installed the wheel and has no checkout. An existing file is never overwritten."""
    sources = [notebook(kind)] if kind else list(NOTEBOOKS.values())
    targets = [folder / s.name for s in sources]
    for t in targets:
        if t.exists():
            raise UserError(f"{t}: already exists; remove it or pick another --write folder")
    folder.mkdir(parents=True, exist_ok=True)
    for s, t in zip(sources, targets):
        t.write_bytes(s.read_bytes())
    return targets
