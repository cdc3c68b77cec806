"""Reading run dirs back: strict loaders for one run (a missing or broken file is a one-line
`UserError` naming it), and a tolerant listing of every run under a root (`tunix-nb runs`), where
a broken or partial run dir shows as "unreadable" instead of stopping the listing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import UserError

UNREADABLE = "unreadable"
COLUMNS = ("run_id", "status", "created_at", "model", "backend", "accuracy", "format")


# ----------------------------------------------------------------------------- strict loaders

def read_json(path: Path) -> dict:
    """A JSON object from an evidence file, or a UserError naming the file."""
    if not path.is_file():
        raise UserError(f"{path}: missing; pass a run dir that `tunix-nb run` finished (it writes {path.name})")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"{path}: not readable JSON ({type(e).__name__}); restore the file written by the run") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a JSON object; restore the file written by the run")
    return obj


def read_optional(path: Path, reader) -> Any:
    """`reader(path)` when the file exists, else None (optional evidence such as the base model's)."""
    return reader(path) if path.is_file() else None


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """A nested dict as dotted keys: {"a": {"b": 1}} -> {"a.b": 1}. An empty dict stays a value."""
    out: dict[str, Any] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


# ----------------------------------------------------------------------------- listing

def summarize_run(run_dir: Path) -> dict[str, Any]:
    """One listing row for a run dir; never raises for a broken one (status "unreadable", `note` says why)."""
    row: dict[str, Any] = dict.fromkeys(COLUMNS, None) | {"run_id": run_dir.name, "note": None}
    try:
        manifest = read_json(run_dir / "run_manifest.json")
    except UserError as e:
        return row | {"status": UNREADABLE, "note": str(e).split(";")[0].replace(f"{run_dir}/", "")}
    plan = manifest.get("device_plan") if isinstance(manifest.get("device_plan"), dict) else {}
    source = manifest.get("model_source") if isinstance(manifest.get("model_source"), dict) else {}
    row.update(run_id=manifest.get("run_id") or run_dir.name, status=manifest.get("status") or UNREADABLE,
               created_at=manifest.get("created_at"), model=source.get("spec"), backend=plan.get("backend"),
               note=manifest.get("status_reason"))
    overall = _overall(run_dir, manifest)
    if overall:
        row.update(accuracy=overall.get("accuracy"), format=overall.get("format_compliance"))
    return row


def _overall(run_dir: Path, manifest: dict) -> dict | None:
    try:
        overall = read_json(run_dir / "eval_summary.json").get("overall")
    except UserError:
        overall = manifest.get("eval")
    return overall if isinstance(overall, dict) else None


def list_runs(root: Path) -> list[dict[str, Any]]:
    """A row per run dir under `root` (its non-hidden subfolders), oldest first, undated ones last."""
    if not root.is_dir():
        raise UserError(f"{root}: no such folder; pass --root with the folder that holds the run dirs")
    rows = [summarize_run(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(rows, key=lambda r: (not isinstance(r["created_at"], str), str(r["created_at"] or ""), r["run_id"]))


def format_runs(rows: list[dict[str, Any]]) -> str:
    """The listing as a plain-text table (blank accuracy/format when a run was not evaluated)."""
    header = ["run id", "status", "created", "model", "backend", "accuracy", "format", "note"]
    body = [[str(r["run_id"]), str(r["status"]), _date(r["created_at"]), r["model"] or "", r["backend"] or "",
             _pct(r["accuracy"]), _pct(r["format"]), _short(r["note"])] for r in rows]
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in [header, *body]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines) + "\n"


def _pct(x: Any) -> str:
    return f"{100 * x:.1f}%" if isinstance(x, (int, float)) and not isinstance(x, bool) else ""


def _date(x: Any) -> str:
    return x.replace("T", " ")[:19] if isinstance(x, str) else ""


def _short(note: Any, width: int = 60) -> str:
    text = " ".join(str(note).split()) if note else ""
    return text if len(text) <= width else text[: width - 1] + "…"
