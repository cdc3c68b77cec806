"""What people would rather look at than read: the plots (loss and lr curve, scorecard bars) and
`report.html`, one self-contained page per run (images as data: URIs, inline CSS, no scripts, no
external URLs; `<details>` collapses the long parts).

`write_report(run_dir)` loads the run dir, (re)draws the plots beside it and writes the page;
`render_report(...)` is the pure part (loaded evidence + PNG bytes -> HTML text). The small HTML
helpers (`page`, `table`, `Raw`) are shared with `compare.py`.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any, Iterable

from . import runs
from .evidence import read_jsonl

GROUPS = (("section", "per_section"), ("category", "per_category"), ("difficulty", "per_difficulty"))
IMAGES = ("loss_curve.png", "scorecard.png", "scorecard_difficulty.png")
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#1b1b1b;line-height:1.4}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #d4d4d4;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f1f1f1}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.group td{background:#fafafa;font-weight:600}
.ok{color:#137333;font-weight:700}.bad{color:#b3261e;font-weight:700}
.status-complete{color:#137333}.status-failed{color:#b3261e}.status-running{color:#b06000}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f6f6;padding:.5em;margin:.3em 0;max-width:60em}
td.q{max-width:32em;white-space:pre-wrap}img{max-width:100%;border:1px solid #eee;margin:.4em 0}
.muted{color:#666}summary{cursor:pointer}table.kv th{text-align:left;white-space:nowrap}
tr.pred td:nth-child(2){white-space:nowrap}
"""


# ----------------------------------------------------------------------------- plots

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only; notebooks display the saved PNGs
    import matplotlib.pyplot as plt

    return plt


def plot_loss(metrics: list[dict], out: Path) -> Path:
    """Loss per step (left axis) and the learning rate (right axis, when logged)."""
    plt = _pyplot()
    steps = [m["step"] for m in metrics]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(steps, [m["loss"] for m in metrics], color="tab:blue", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (per completion token)")
    ax.grid(alpha=0.3)
    lines = ax.get_lines()
    if metrics and all("lr" in m for m in metrics):
        ax2 = ax.twinx()
        lines += ax2.plot(steps, [m["lr"] for m in metrics], color="tab:orange", alpha=0.6, label="lr")
        ax2.set_ylabel("learning rate")
    ax.legend(lines, [ln.get_label() for ln in lines], loc="upper right")
    ax.set_title("training loss")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_groups(groups: dict[str, dict], out: Path, title: str, before: dict[str, dict] | None = None) -> Path:
    """Two panels (accuracy | format compliance), a bar per group; with `before` (the base model's
    groups, same names) a before bar beside each after bar."""
    plt = _pyplot()
    names = list(groups)
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.38 * len(names) + 1.4), sharey=True)
    for ax, metric, label in zip(axes, ("accuracy", "format_compliance"), ("accuracy %", "format compliance %")):
        ys = range(len(names))
        after = [100 * groups[n][metric] for n in names]
        if before is None:
            ax.bar_label(ax.barh(list(ys), after, height=0.6, color="tab:blue"), fmt="%.0f%%", fontsize=8, padding=2)
        else:
            base = [100 * before.get(n, {}).get(metric, 0.0) for n in names]
            bars = ax.barh([y - 0.2 for y in ys], base, height=0.4, color="tab:gray", label="before")
            ax.bar_label(bars, fmt="%.0f%%", fontsize=7, padding=2, color="dimgray")
            bars = ax.barh([y + 0.2 for y in ys], after, height=0.4, color="tab:blue", label="after")
            ax.bar_label(bars, fmt="%.0f%%", fontsize=7, padding=2)
        ax.set_yticks(list(ys), [f"{n} (n={groups[n]['n']})" for n in names])
        ax.set_xlim(0, 110)
        ax.set_xticks(range(0, 101, 20))
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].invert_yaxis()
    fig.suptitle(title)
    if before is not None:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="upper right", ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_scorecard(summary: dict, out: Path) -> Path:
    """Overall, per section and per category; before/after bars when the summary holds `before`."""
    return plot_groups(_card_groups(summary, ("per_section", "per_category")), out, "scorecard",
                       _card_groups(summary["before"], ("per_section", "per_category")) if summary.get("before") else None)


def plot_difficulty(summary: dict, out: Path) -> Path:
    """The scorecard per difficulty (before/after when present)."""
    return plot_groups(_card_groups(summary, ("per_difficulty",)), out, "scorecard by difficulty",
                       _card_groups(summary["before"], ("per_difficulty",)) if summary.get("before") else None)


def _card_groups(summary: dict, keys: tuple[str, ...]) -> dict[str, dict]:
    prefix = {"per_section": "section:", "per_category": "", "per_difficulty": ""}
    groups = {"overall": summary["overall"]}
    for key in keys:
        groups.update({f"{prefix[key]}{name}": g for name, g in summary.get(key, {}).items()})
    return groups


# ----------------------------------------------------------------------------- HTML helpers

class Raw(str):
    """Text that is already HTML (built from escaped parts); `table` does not escape it again."""


def esc(value: Any) -> str:
    if isinstance(value, Raw):
        return value
    return html.escape("" if value is None else str(value))


def table(header: Iterable[Any], rows: Iterable[Iterable[Any]], *, row_class=None) -> Raw:
    """An HTML table; cells are escaped unless `Raw`; numbers are right-aligned. `row_class(i, row)`
    may give a row's class."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        row = list(row)
        cls = row_class(i, row) if row_class else None
        cells = "".join(f'<td class="num">{esc(c)}</td>' if isinstance(c, (int, float)) and not isinstance(c, bool)
                        else f"<td>{esc(c)}</td>" for c in row)
        body.append(f'<tr class="{esc(cls)}">{cells}</tr>' if cls else f"<tr>{cells}</tr>")
    return Raw(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n")


def img(png: bytes, alt: str) -> Raw:
    return Raw(f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{esc(alt)}">')


def mark(ok: Any) -> Raw:
    return Raw('<span class="ok">✓</span>' if ok else '<span class="bad">✗</span>')


def pct(x: Any) -> str:
    return f"{100 * x:.1f}%" if isinstance(x, (int, float)) and not isinstance(x, bool) else "–"


def kv_table(pairs: Iterable[tuple[str, Any]]) -> Raw:
    """A two-column key/value table (no header); empty values (None, "", {}) are left out, floats shortened."""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(_short_float(v))}</td></tr>" for k, v in pairs
                   if v is not None and v != "" and v != {})
    return Raw(f'<table class="kv"><tbody>{rows}</tbody></table>')


def _short_float(v: Any) -> Any:
    return f"{v:.6g}" if isinstance(v, float) else v


# ----------------------------------------------------------------------------- report sections

def render_report(manifest: dict, *, summary: dict | None = None, predictions: list[dict] | None = None,
                  before: list[dict] | None = None, images: dict[str, bytes] | None = None) -> str:
    """The report page from loaded evidence (missing parts omitted) and PNGs keyed by file name."""
    images = images or {}
    run_id, status = manifest.get("run_id", "?"), manifest.get("status", "?")
    parts = [f"<h1>Run report: {esc(run_id)}</h1>",
             f'<p>status: <b class="status-{esc(status)}">{esc(status)}</b>'
             + (f" — {esc(manifest['status_reason'])}" if manifest.get("status_reason") else "")
             + "".join(f' <span class="muted">{k} {esc(manifest[f"{k}_at"])}</span>' for k in ("created", "finished")
                       if manifest.get(f"{k}_at")) + "</p>",
             config_section(manifest), device_section(manifest.get("device_plan")),
             training_section(manifest.get("metrics"), images.get("loss_curve.png"))]
    if summary:
        parts.append(scorecard_section(summary, images))
    if predictions is not None:
        parts.append(predictions_section(predictions, before))
    return page(f"tunix_nb run {run_id}", "\n".join(parts))


def config_section(manifest: dict) -> str:
    cfg = manifest.get("config") or {}
    t, d, e, m = (cfg.get(k) or {} for k in ("training", "data", "eval", "model"))
    src = manifest.get("model_source") or {}
    sha = {k: v.get("sha256", "")[:12] for k, v in (manifest.get("datasets") or {}).items() if isinstance(v, dict)}
    git = manifest.get("git") or {}
    pairs = [
        ("model source", " | ".join(str(x) for x in (src.get("spec") or m.get("source"), src.get("kind"),
                                                      src.get("path"), src.get("revision")) if x)),
        ("training", _training_summary(t)),
        ("batching", t and f"max_batch_tokens {t.get('max_batch_tokens')}, micro_batch_size "
                           f"{t.get('micro_batch_size')}, grad_accum {t.get('grad_accum')}, dtype {t.get('dtype')}"),
        ("train data", d.get("train_file") and f"{d['train_file']} (sha256 {sha.get('train', '?')}…, "
                                               f"limit {d.get('train_limit')}, max_seq_len {d.get('max_seq_len')})"),
        ("eval data", d.get("eval_file") and f"{d['eval_file']} (sha256 {sha.get('eval', '?')}…)"),
        ("eval", e and f"limit {e.get('limit')}, max_new_tokens {e.get('max_new_tokens')}, "
                       f"batch_size {e.get('batch_size')}, compare_base {e.get('compare_base')}"),
        ("config hash", manifest.get("config_hash")),
        ("git", git.get("commit") and f"{git['commit']}" + (" (dirty)" if git.get("dirty") else "")),
    ]
    full = table(["key", "value"], sorted(runs.flatten(cfg).items())) if cfg else ""
    return (f"<h2>Config</h2>\n{kv_table(pairs)}\n"
            + (f"<details><summary>full resolved config</summary>{full}</details>" if full else ""))


def _training_summary(t: dict) -> str | None:
    """Method (full fine-tuning or LoRA), backend, optimizer, lr schedule, length, seed, in one line."""
    if not t:
        return None
    lora = t.get("lora")
    method = (f"LoRA rank {lora.get('rank')}, alpha {lora.get('alpha')}, dropout {lora.get('dropout')}"
              if isinstance(lora, dict) else "full fine-tuning")
    length = f"max_steps {t['max_steps']}" if t.get("max_steps") else f"epochs {t.get('epochs')}"
    return (f"{method}; backend {t.get('backend')}, optimizer {t.get('optimizer')}, lr {t.get('learning_rate')} "
            f"({t.get('lr_schedule')}, warmup {t.get('warmup_steps')}), {length}, seed {t.get('seed')}")


def device_section(plan: dict | None) -> str:
    if not isinstance(plan, dict):
        return ""
    mem = plan.get("memory_gb") or {}
    pairs = [(k, plan.get(k)) for k in ("mode", "backend", "device", "device_name", "device_count", "dtype",
                                        "batching", "model")]
    if mem:
        pairs.append(("memory", f"~{mem.get('total_gb')} GB needed of {mem.get('available_gb')} GB"))
    reasons = "".join(f"<li>{esc(r)}</li>" for r in plan.get("reasons") or [])
    return f"<h2>Device plan</h2>\n{kv_table(pairs)}\n" + (f"<p>Why:</p><ul>{reasons}</ul>" if reasons else "")


def training_section(metrics: dict | None, loss_png: bytes | None) -> str:
    if not metrics and not loss_png:
        return ""
    body = kv_table(list((metrics or {}).items())) if metrics else ""
    return f"<h2>Training</h2>\n{body}\n" + (img(loss_png, "training loss and learning rate") if loss_png else "")


def scorecard_rows(summary: dict) -> list[tuple[str, str | None, str | None]]:
    """(label, summary key, group name) in table order: ("overall", None, None) first, then per
    key a heading row (label, key, None) and its groups (name, key, name)."""
    rows: list[tuple[str, str | None, str | None]] = [("overall", None, None)]
    for title, key in GROUPS:
        rows.append((f"per {title}", key, None))
        rows += [(name, key, name) for name in summary.get(key, {})]
    return rows


def scorecard_table(summary: dict) -> Raw:
    before = summary.get("before")
    header = ["group", "n", "accuracy", "format"] if not before else \
        ["group", "n", "accuracy before", "accuracy after", "Δ accuracy", "format before", "format after", "Δ format"]
    body, heads = [], set()
    for label, key, name in scorecard_rows(summary):
        if key is not None and name is None:
            heads.add(len(body))
            body.append([label] + [""] * (len(header) - 1))
            continue
        g = summary["overall"] if key is None else summary[key][name]
        if not before:
            body.append([label, g["n"], pct(g["accuracy"]), pct(g["format_compliance"])])
            continue
        b = before["overall"] if key is None else before.get(key, {}).get(name, {})
        body.append([label, g["n"], *_before_after(b, g, "accuracy"), *_before_after(b, g, "format_compliance")])
    return table(header, body, row_class=lambda i, _: "group" if i in heads else None)


def _before_after(b: dict, g: dict, metric: str) -> list[str]:
    if metric not in b:
        return ["–", pct(g[metric]), "–"]
    return [pct(b[metric]), pct(g[metric]), f"{100 * (g[metric] - b[metric]):+.1f} pts"]


def scorecard_section(summary: dict, images: dict[str, bytes]) -> str:
    missing = summary.get("missing_ids") or []
    pics = "".join(img(images[n], n) for n in IMAGES[1:] if n in images)
    note = f"<p>scored {esc(summary.get('scored_at'))} against {esc(summary.get('eval_file'))}</p>" \
        if summary.get("eval_file") else ""
    gone = f"<p class=\"bad\">missing predictions: {esc(', '.join(missing))}</p>" if missing else ""
    return f"<h2>Scorecard</h2>\n{note}{scorecard_table(summary)}\n{gone}{pics}"


def predictions_section(rows: list[dict], before: list[dict] | None = None) -> str:
    base = {r.get("id"): r for r in before or []}
    header = ["#", "id", "section / category / difficulty", "question", "expected", "extracted", "correct",
              "format"] + (["base: extracted", "base correct"] if base else []) + ["model output"]
    body = []
    for i, r in enumerate(rows, start=1):
        b = base.get(r.get("id"))
        cells = [f"{i}", r.get("id"), f"{r.get('section')} / {r.get('category')} / {r.get('difficulty')}",
                 Raw(f'<div class="q">{esc(r.get("prompt"))}</div>') if r.get("prompt") else "–",
                 r.get("expected_answer"), r.get("extracted_answer"), mark(r.get("correct")), mark(r.get("format_ok"))]
        if base:
            cells += [b.get("extracted_answer") if b else "–", mark(b.get("correct")) if b else "–"]
        cells.append(_output_details(r, b))
        body.append(cells)
    correct = sum(1 for r in rows if r.get("correct"))
    return (f"<h2>Predictions</h2>\n<p>{len(rows)} items, {correct} correct. Click “show” for the full model output.</p>\n"
            + table(header, body, row_class=lambda i, row: "pred"))


def _output_details(r: dict, b: dict | None) -> Raw:
    inner = f"<pre>{esc(r.get('prediction'))}</pre>"
    if b is not None:
        inner += f'<p class="muted">base model:</p><pre>{esc(b.get("prediction"))}</pre>'
    return Raw(f"<details><summary>show</summary>{inner}</details>")


# ----------------------------------------------------------------------------- the file

def draw_plots(run_dir: Path, metrics: list[dict] | None, summary: dict | None) -> dict[str, bytes]:
    """(Re)draw the PNGs beside the evidence; an existing PNG whose data is gone is kept and used."""
    if metrics:
        plot_loss(metrics, run_dir / "loss_curve.png")
    if summary:
        plot_scorecard(summary, run_dir / "scorecard.png")
        plot_difficulty(summary, run_dir / "scorecard_difficulty.png")
    return {name: (run_dir / name).read_bytes() for name in IMAGES if (run_dir / name).is_file()}


def write_report(run_dir: Path) -> Path:
    """`run_dir/report.html` from whatever evidence the run dir holds (the manifest is required)."""
    from .evidence import write_text_atomic

    run_dir = Path(run_dir)
    manifest = runs.read_json(run_dir / "run_manifest.json")
    summary = runs.read_optional(run_dir / "eval_summary.json", runs.read_json)
    metrics = runs.read_optional(run_dir / "metrics.jsonl", read_jsonl)
    predictions = runs.read_optional(run_dir / "predictions.jsonl", read_jsonl)
    before = runs.read_optional(run_dir / "predictions_before.jsonl", read_jsonl)
    images = draw_plots(run_dir, metrics, summary)
    out = run_dir / "report.html"
    write_text_atomic(out, render_report(manifest, summary=summary, predictions=predictions, before=before,
                                         images=images))
    return out
