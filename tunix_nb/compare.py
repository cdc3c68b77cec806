"""Two runs side by side (`tunix-nb compare RUN_A RUN_B`): what changed in the config, how the
final scorecard moved (B − A, overall and per section/category/difficulty), how each stage both runs
evaluated moved (base, sft, grpo: overall), and which eval items of the final models flipped,
joined on `id`. `gate` turns a comparison into a list of regressions (`--baseline`, and
`tools/package_submission.py --baseline`).

`load_run` reads a run dir (a missing or broken file is a one-line UserError naming it); everything
after it is pure: `compare_loaded(a, b)` -> a JSON-able dict, `format_comparison` (terminal),
`comparison_html` (a self-contained page), `gate`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import report, runs
from .evidence import read_jsonl, stages_of
from .errors import UserError

MISSING = "(not set)"
IGNORED_KEYS = ("output.run_id",)  # always differs between two runs; not a difference in recipe
GROUP_KEYS = (("section", "per_section"), ("category", "per_category"), ("difficulty", "per_difficulty"))
METRICS = ("accuracy", "format_compliance", "trace_ok_rate")  # trace_ok_rate: None in runs scored before it
GATED = ("accuracy", "format_compliance")
FLIP_KINDS = ("right_to_wrong", "wrong_to_right", "format_gained", "format_lost")
DEFAULT_MAX_DROP, DEFAULT_MIN_ITEMS = 0.02, 10
OUT_FILES = ("compare.json", "compare.html")


# ----------------------------------------------------------------------------- loading

def load_run(run_dir: Path) -> dict[str, Any]:
    """{"dir", "manifest", "summary", "predictions"} of a finished run dir, checked enough to compare."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: run dir not found; pass a folder such as submission_runs/<run_id>")
    summary = runs.read_json(run_dir / "eval_summary.json")
    if not isinstance(summary.get("overall"), dict):
        raise UserError(f"{run_dir / 'eval_summary.json'}: no overall scorecard; re-score the predictions (tunix-nb score)")
    predictions = read_jsonl(run_dir / "predictions.jsonl")
    for i, row in enumerate(predictions, start=1):
        if missing := [k for k in ("id", "correct", "format_ok") if k not in row]:
            raise UserError(f"{run_dir / 'predictions.jsonl'}: row {i} lacks {', '.join(missing)}; "
                            "re-score the predictions (tunix-nb score)")
    return {"dir": str(run_dir), "manifest": runs.read_json(run_dir / "run_manifest.json"),
            "summary": summary, "predictions": predictions}


def compare_runs(a: Path, b: Path) -> dict[str, Any]:
    """Compare run dir `a` (the baseline) with run dir `b`."""
    return compare_loaded(load_run(a), load_run(b))


# ----------------------------------------------------------------------------- the comparison

def compare_loaded(a: dict, b: dict) -> dict[str, Any]:
    """The comparison of two loaded runs (see `load_run`): plain JSON-able data."""
    return {
        "a": _identity(a), "b": _identity(b),
        "config_diff": config_diff(a["manifest"].get("config") or {}, b["manifest"].get("config") or {}),
        "metrics": metric_deltas(a["summary"], b["summary"]),
        **stage_deltas(a["summary"], b["summary"]),
        **flips(a["predictions"], b["predictions"]),
    }


def _identity(run: dict) -> dict[str, Any]:
    m = run["manifest"]
    return {"run_id": m.get("run_id"), "dir": run["dir"], "status": m.get("status"),
            "model": (m.get("model_source") or {}).get("spec"), "config_hash": m.get("config_hash")}


def config_diff(a: dict, b: dict) -> list[dict[str, Any]]:
    """[{"key", "a", "b"}] for every dotted key whose values differ (MISSING where a side lacks it)."""
    fa, fb = runs.flatten(a), runs.flatten(b)
    keys = sorted((set(fa) | set(fb)) - set(IGNORED_KEYS))
    return [{"key": k, "a": fa.get(k, MISSING), "b": fb.get(k, MISSING)} for k in keys
            if fa.get(k, MISSING) != fb.get(k, MISSING)]


def group_delta(ga: dict | None, gb: dict | None) -> dict[str, Any]:
    """n of each side and, per metric, A, B and B − A (None where a side lacks the group)."""
    out: dict[str, Any] = {"n_a": (ga or {}).get("n", 0), "n_b": (gb or {}).get("n", 0)}
    for metric in METRICS:
        va, vb = (ga or {}).get(metric), (gb or {}).get(metric)
        out[metric] = {"a": va, "b": vb, "delta": round(vb - va, 4) if va is not None and vb is not None else None}
    return out


def metric_deltas(sa: dict, sb: dict) -> dict[str, Any]:
    out: dict[str, Any] = {"overall": group_delta(sa["overall"], sb["overall"])}
    for _, key in GROUP_KEYS:
        ga, gb = sa.get(key) or {}, sb.get(key) or {}
        out[key] = {name: group_delta(ga.get(name), gb.get(name)) for name in sorted(set(ga) | set(gb))}
    return out


def stage_deltas(sa: dict, sb: dict) -> dict[str, Any]:
    """The stages each run recorded (`evidence.stages_of`: an old `before` is base, its top level
    sft) and, for each stage both have, the overall group delta (B − A), in run order."""
    ta, tb = stages_of(sa), stages_of(sb)
    return {"stages_a": list(ta), "stages_b": list(tb),
            "stage_metrics": {name: group_delta(ta[name].get("overall"), tb[name].get("overall"))
                              for name in ta if name in tb}}


def flips(rows_a: list[dict], rows_b: list[dict]) -> dict[str, Any]:
    """Items whose correctness or format compliance changed from A to B (in A's order), and the ids
    only one run has."""
    by_b = {r["id"]: r for r in rows_b}
    ids_a = {r["id"] for r in rows_a}
    out: dict[str, Any] = {kind: [] for kind in FLIP_KINDS}
    common = 0
    for ra in rows_a:
        rb = by_b.get(ra["id"])
        if rb is None:
            continue
        common += 1
        item = {"id": ra["id"], "expected_answer": ra.get("expected_answer"),
                "a_extracted": ra.get("extracted_answer"), "b_extracted": rb.get("extracted_answer")}
        for kind, key, was in (("right_to_wrong", "correct", True), ("wrong_to_right", "correct", False),
                               ("format_lost", "format_ok", True), ("format_gained", "format_ok", False)):
            if bool(ra[key]) == was and bool(rb[key]) != was:
                out[kind].append(item)
    out["common_items"] = common
    out["only_in_a"] = [r["id"] for r in rows_a if r["id"] not in by_b]
    out["only_in_b"] = [r["id"] for r in rows_b if r["id"] not in ids_a]
    return out


# ----------------------------------------------------------------------------- the gate

def gate(comparison: dict, max_drop: float = DEFAULT_MAX_DROP, min_items: int = DEFAULT_MIN_ITEMS) -> list[str]:
    """Regressions of B against the baseline A: overall, or a section with at least `min_items`
    items in both runs, where B's accuracy or format compliance is lower by more than `max_drop`."""
    m = comparison["metrics"]
    groups = [("overall", m["overall"])] + [(f"section {name}", g) for name, g in m["per_section"].items()
                                            if g["n_a"] >= min_items and g["n_b"] >= min_items]
    problems = []
    for where, g in groups:
        for metric in GATED:
            va, vb = g[metric]["a"], g[metric]["b"]
            if va is not None and vb is not None and va - vb > max_drop + 1e-9:
                problems.append(f"{where}: {metric.replace('_', ' ')} fell from {_pct(va)} (baseline, n={g['n_a']}) "
                                f"to {_pct(vb)} (n={g['n_b']}), a drop of {100 * (va - vb):.1f} pts > "
                                f"{100 * max_drop:.1f} allowed")
    return problems


# ----------------------------------------------------------------------------- rendering

def _pct(x: Any) -> str:
    return report.pct(x)


def _pts(x: Any) -> str:
    return f"{100 * x:+.1f}" if isinstance(x, (int, float)) else "–"


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def metric_rows(c: dict) -> list[list[str]]:
    """[group, n A/B, acc A, acc B, Δ acc, fmt A, fmt B, Δ fmt, trace A, trace B, Δ trace] rows; heading
    rows have one cell."""
    m = c["metrics"]
    rows = [["overall", *_delta_cells(m["overall"])]]
    for title, key in GROUP_KEYS:
        rows.append([f"per {title}"])
        rows += [[f"  {name}", *_delta_cells(g)] for name, g in m[key].items()]
    return rows


def _delta_cells(g: dict) -> list[str]:
    cells = [f"{g['n_a']}/{g['n_b']}"]
    for metric in METRICS:
        cells += [_pct(g[metric]["a"]), _pct(g[metric]["b"]), _pts(g[metric]["delta"])]
    return cells


METRIC_HEADER = ["group", "n A/B", "acc A", "acc B", "Δ acc (pts)", "fmt A", "fmt B", "Δ fmt (pts)",
                 "trace A", "trace B", "Δ trace (pts)"]
STAGE_HEADER = ["stage", *METRIC_HEADER[1:]]


def stage_rows(c: dict) -> list[list[str]]:
    """[stage, n A/B, acc A, acc B, Δ acc, fmt A, fmt B, Δ fmt, trace A, trace B, Δ trace] per stage both
    runs have."""
    return [[name, *_delta_cells(g)] for name, g in c.get("stage_metrics", {}).items()]


def _has_stages(c: dict) -> bool:
    return bool(c.get("stages_a") or c.get("stages_b"))


def _stage_note(c: dict) -> str:
    """Which stages only one run has ("" when both have the same)."""
    sa, sb = c.get("stages_a", []), c.get("stages_b", [])
    only = (("A", [n for n in sa if n not in sb]), ("B", [n for n in sb if n not in sa]))
    return "; ".join(f"only in {side}: {', '.join(names)}" for side, names in only if names)


def _text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    full = [r for r in [header, *rows] if len(r) == len(header)]
    widths = [max(len(r[i]) for r in full) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return [fmt(header), "-" * len(fmt(header))] + [fmt(r) if len(r) == len(header) else r[0] for r in rows]


def _flip_line(item: dict) -> str:
    return (f"{item['id']} (expected {item['expected_answer']!s}; A: {item['a_extracted']!s}, "
            f"B: {item['b_extracted']!s})")


def format_comparison(c: dict) -> str:
    a, b = c["a"], c["b"]
    out = [f"A: {a['run_id']} ({a['dir']})", f"B: {b['run_id']} ({b['dir']})", ""]
    diffs = c["config_diff"]
    out.append(f"config differences: {len(diffs)}" + ("" if diffs else " (same recipe)"))
    if diffs:
        out += ["  " + line for line in _text_table(["key", "A", "B"], [[d["key"], _value(d["a"]), _value(d["b"])]
                                                                         for d in diffs])]
    out += ["", "scorecard (B − A):"] + ["  " + line for line in _text_table(METRIC_HEADER, metric_rows(c))]
    if _has_stages(c):
        out += ["", "per stage, overall (B − A):"]
        rows, note = stage_rows(c), _stage_note(c)
        out += ["  " + line for line in _text_table(STAGE_HEADER, rows)] if rows else ["  no stage in both runs"]
        if note:
            out.append(f"  {note}")
    out += ["", f"flips over {c['common_items']} items in both runs:"]
    for kind in FLIP_KINDS:
        out.append(f"  {kind}: {len(c[kind])}")
        out += [f"    {_flip_line(item)}" for item in c[kind]]
    for side in ("only_in_a", "only_in_b"):
        if c[side]:
            out.append(f"  {side}: {len(c[side])}: {', '.join(c[side])}")
    return "\n".join(out) + "\n"


def comparison_html(c: dict) -> str:
    a, b = c["a"], c["b"]
    esc, table, Raw = report.esc, report.table, report.Raw
    diffs = c["config_diff"]
    heads = {i for i, r in enumerate(metric_rows(c)) if len(r) == 1}
    metric_body = [r if len(r) > 1 else r + [""] * (len(METRIC_HEADER) - 1) for r in metric_rows(c)]
    parts = [f"<h1>Compare: {esc(a['run_id'])} → {esc(b['run_id'])}</h1>",
             table(["", "run id", "dir", "status", "model", "config hash"],
                   [[side, r["run_id"], r["dir"], r["status"], r["model"], r["config_hash"]]
                    for side, r in (("A", a), ("B", b))]),
             f"<h2>Config differences ({len(diffs)})</h2>",
             table(["key", "A", "B"], [[d["key"], _value(d["a"]), _value(d["b"])] for d in diffs])
             if diffs else "<p>none: the same recipe</p>",
             "<h2>Scorecard (B − A)</h2>",
             table(METRIC_HEADER, metric_body, row_class=lambda i, _: "group" if i in heads else None),
             _stages_html(c),
             f"<h2>Flips ({c['common_items']} items in both runs)</h2>"]
    for kind in FLIP_KINDS:
        rows = [[f["id"], f["expected_answer"], f["a_extracted"], f["b_extracted"]] for f in c[kind]]
        parts.append(f"<h3>{esc(kind)}: {len(rows)}</h3>"
                     + (table(["id", "expected", "A extracted", "B extracted"], rows) if rows else ""))
    for side in ("only_in_a", "only_in_b"):
        if c[side]:
            parts.append(Raw(f"<p>{esc(side)}: {esc(', '.join(c[side]))}</p>"))
    return report.page(f"compare {a['run_id']} vs {b['run_id']}", "\n".join(parts))


def _stages_html(c: dict) -> str:
    if not _has_stages(c):
        return ""
    rows, note = stage_rows(c), _stage_note(c)
    return ("<h2>Per stage, overall (B − A)</h2>"
            + (report.table(STAGE_HEADER, rows) if rows else "<p>no stage in both runs</p>")
            + (f"<p>{report.esc(note)}</p>" if note else ""))


def write_outputs(c: dict, out_dir: Path) -> list[Path]:
    """compare.json and compare.html in `out_dir`; an existing one is never overwritten."""
    from .evidence import write_text_atomic

    paths = [out_dir / name for name in OUT_FILES]
    for p in paths:
        if p.exists():
            raise UserError(f"{p}: already exists; choose another --out (comparisons are never overwritten)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{out_dir}: cannot create the folder ({e.strerror}); pass a writable --out") from None
    write_text_atomic(paths[0], json.dumps(c, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(paths[1], comparison_html(c))
    return paths
