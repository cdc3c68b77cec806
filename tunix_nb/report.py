"""What people would rather look at than read: the plots (SFT loss and lr curve, the preference
stage's loss and margin, GRPO reward / KL curves, scorecard bars with one bar per stage: base, sft,
preference, grpo) and `report.html`, one
self-contained page per run (images as data: URIs, inline CSS, no scripts, no
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
from .evidence import metrics_stage, read_jsonl, stages_of

GROUPS = (("section", "per_section"), ("category", "per_category"), ("difficulty", "per_difficulty"))
LOSS_PNG, REWARDS_PNG, PREFERENCE_PNG = "loss_curve.png", "reward_curve.png", "preference_curve.png"
SCORECARD_PNGS = ("scorecard.png", "scorecard_difficulty.png")
IMAGES = (LOSS_PNG, PREFERENCE_PNG, REWARDS_PNG, *SCORECARD_PNGS)
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


def sft_rows(metrics: list[dict]) -> list[dict]:
    """The SFT rows of metrics.jsonl (stage "sft", or no stage: runs from before GRPO)."""
    return [m for m in metrics if metrics_stage(m) == "sft"]


def grpo_rows(metrics: list[dict]) -> list[dict]:
    return [m for m in metrics if metrics_stage(m) == "grpo"]


def preference_rows(metrics: list[dict]) -> list[dict]:
    return [m for m in metrics if metrics_stage(m) == "preference"]


def _points(rows: list[dict], key: str) -> tuple[list, list]:
    """(steps, values) of the rows that logged `key` as a number."""
    pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
    return [p[0] for p in pts], [p[1] for p in pts]


def _integer_ticks():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _step_axis(ax, label: str) -> None:
    """The shared x axis of a stage's curves: its steps, whole numbers."""
    ax.set_xlabel(label)
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.grid(alpha=0.3)


def _save(plt, fig, out: Path) -> Path:
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _empty_figure(plt, out: Path, title: str, text: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 2))
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="dimgray", transform=ax.transAxes)
    ax.set_axis_off()
    ax.set_title(title)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_loss(metrics: list[dict], out: Path) -> Path:
    """The SFT loss per step (left axis) and the learning rate (right axis, when logged); rows of
    other stages are left out. Without SFT rows (GRPO straight from an instruction-tuned model) a
    figure that says "no SFT stage"."""
    plt = _pyplot()
    metrics = [m for m in sft_rows(metrics) if "loss" in m]
    if not metrics:
        return _empty_figure(plt, out, "training loss", "no SFT stage in this run")
    steps = [m["step"] for m in metrics]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(steps, [m["loss"] for m in metrics], color="tab:blue", label="loss")
    ax.set_xlabel("SFT step")
    ax.xaxis.set_major_locator(_integer_ticks())
    ax.set_ylabel("loss (per completion token)")
    ax.grid(alpha=0.3)
    lines = ax.get_lines()
    if all("lr" in m for m in metrics):
        ax2 = ax.twinx()
        lines += ax2.plot(steps, [m["lr"] for m in metrics], color="tab:orange", alpha=0.6, label="lr")
        ax2.set_ylabel("learning rate")
    ax.legend(lines, [ln.get_label() for ln in lines], loc="upper right")
    ax.set_title("training loss (SFT)")
    return _save(plt, fig, out)


def reward_names(metrics: list[dict]) -> list[str]:
    """The names of the rewards logged as `reward/<name>`, in first-seen order."""
    names: dict[str, None] = {}
    for m in metrics:
        names.update({k.partition("/")[2]: None for k in m if k.startswith("reward/")})
    return list(names)


def plot_rewards(metrics: list[dict], out: Path) -> Path:
    """GRPO (rows with stage "grpo"), x = GRPO step. Top: `reward_mean` with a ±`reward_std` band
    and each reward's own mean (`reward/<name>`); bottom: `kl` (left axis; none when every row's is
    0, a KL-free run) and `completion_len_mean` (right axis). Without GRPO rows a figure that says
    "no GRPO stage"."""
    plt = _pyplot()
    rows = grpo_rows(metrics)
    if not rows:
        return _empty_figure(plt, out, "GRPO rewards", "no GRPO stage in this run")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True, height_ratios=(3, 2))
    steps, mean = _points(rows, "reward_mean")
    if steps:
        top.plot(steps, mean, color="black", lw=2, label="reward_mean")
        band = [(r["step"], r["reward_mean"], r["reward_std"]) for r in rows
                if isinstance(r.get("reward_mean"), (int, float)) and isinstance(r.get("reward_std"), (int, float))]
        if band:
            top.fill_between([x for x, _, _ in band], [m - sd for _, m, sd in band], [m + sd for _, m, sd in band],
                             color="gray", alpha=0.25, label="± reward_std")
    for name in reward_names(rows):
        xs, ys = _points(rows, f"reward/{name}")
        top.plot(xs, ys, lw=1.2, alpha=0.85, label=name)
    top.set_ylabel("reward (mean over completions)")
    top.grid(alpha=0.3)
    if top.get_legend_handles_labels()[0]:
        top.legend(loc="best", fontsize=8)
    top.set_title("GRPO rewards")
    lines = []
    xs, ys = _points(rows, "kl")
    if any(ys):  # a KL-free run (grpo.beta 0) logs kl 0 at every step: not computed, not zero
        lines += bottom.plot(xs, ys, color="tab:red", label="kl")
        bottom.set_ylabel("KL to the reference")
    elif xs:
        bottom.set_ylabel("KL: not computed (beta 0)")
    xs, ys = _points(rows, "completion_len_mean")
    if xs:
        ax2 = bottom.twinx()
        lines += ax2.plot(xs, ys, color="tab:purple", alpha=0.7, label="completion_len_mean")
        ax2.set_ylabel("completion length (tokens)")
    if lines:
        bottom.legend(lines, [ln.get_label() for ln in lines], loc="best", fontsize=8)
    _step_axis(bottom, "GRPO step")
    return _save(plt, fig, out)


def plot_preference(metrics: list[dict], out: Path) -> Path:
    """The preference stage (rows with stage "preference"), x = its step. Top: the loss; bottom: the
    chosen - rejected reward margin (left axis) and the share of pairs whose chosen reward is the
    higher (right axis)."""
    plt = _pyplot()
    rows = preference_rows(metrics)
    if not rows:
        return _empty_figure(plt, out, "preference stage", "no preference stage in this run")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    top.plot(*_points(rows, "loss"), color="tab:blue", label="loss")
    top.set_ylabel("preference loss")
    top.grid(alpha=0.3)
    top.set_title("preference stage")
    lines = bottom.plot(*_points(rows, "margin"), color="black", label="margin (chosen - rejected reward)")
    ax2 = bottom.twinx()
    lines += ax2.plot(*_points(rows, "accuracy"), color="tab:green", alpha=0.7, label="accuracy")
    ax2.set_ylim(-0.05, 1.05)
    ax2.set_ylabel("pairs ranked right")
    bottom.set_ylabel("reward margin")
    bottom.legend(lines, [ln.get_label() for ln in lines], loc="best", fontsize=8)
    _step_axis(bottom, "preference step")
    return _save(plt, fig, out)


STAGE_COLORS = {"base": "tab:gray", "sft": "tab:blue", "preference": "tab:orange", "grpo": "tab:green"}


def plot_groups(stages: dict[str, dict[str, dict]], out: Path, title: str) -> Path:
    """Three panels (accuracy | format compliance | trace ok), a bar per group; with several stages
    ({stage: groups}, the last one's group names used) one bar per stage in each group. A group with
    no checkable trace (trace_ok_rate null) is labelled "–"."""
    plt = _pyplot()
    last = list(stages.values())[-1]
    names = list(last)
    k = len(stages)
    height = 0.8 / k
    fig, axes = plt.subplots(1, 3, figsize=(14, (0.2 + 0.18 * k) * len(names) + 1.4), sharey=True)
    for ax, metric, label in zip(axes, ("accuracy", "format_compliance", "trace_ok_rate"),
                                 ("accuracy %", "format compliance %", "trace ok % (items with a checkable step)")):
        ys = range(len(names))
        for i, (stage, groups) in enumerate(stages.items()):
            raw = [groups.get(n, {}).get(metric) for n in names]
            offset = (i - (k - 1) / 2) * height
            color = STAGE_COLORS.get(stage, f"C{i}") if k > 1 else "tab:blue"
            bars = ax.barh([y + offset for y in ys], [100 * (v or 0.0) for v in raw], height=height * (0.75 if k == 1 else 1),
                           color=color, label=stage)
            ax.bar_label(bars, labels=["–" if v is None else f"{100 * v:.0f}%" for v in raw],
                         fontsize=8 if k == 1 else 7, padding=2)
        ax.set_yticks(list(ys), [f"{n} (n={last[n]['n']})" for n in names])
        ax.set_xlim(0, 110)
        ax.set_xticks(range(0, 101, 20))
        ax.set_xlabel(label)
        ax.grid(axis="x", alpha=0.3)
    axes[0].invert_yaxis()
    fig.suptitle(title)
    if k > 1:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="upper right", ncol=k, frameon=False)
    return _save(plt, fig, out)


def _stage_groups(summary: dict, keys: tuple[str, ...]) -> dict[str, dict[str, dict]]:
    """{stage: groups} for the plots: every stage when the summary holds two or more, else the
    top-level scorecard alone."""
    stages = stages_of(summary)
    if len(stages) < 2:
        stages = {"final": summary}
    return {name: _card_groups(s, keys) for name, s in stages.items()}


def plot_scorecard(summary: dict, out: Path) -> Path:
    """Overall, per section and per category; one bar per stage when the summary has >= 2 stages."""
    return plot_groups(_stage_groups(summary, ("per_section", "per_category")), out, "scorecard")


def plot_difficulty(summary: dict, out: Path) -> Path:
    """The scorecard per difficulty (one bar per stage when the summary has >= 2 stages)."""
    return plot_groups(_stage_groups(summary, ("per_difficulty",)), out, "scorecard by difficulty")


def _card_groups(summary: dict, keys: tuple[str, ...]) -> dict[str, dict]:
    prefix = {"per_section": "section:", "per_category": "", "per_difficulty": ""}
    groups = {"overall": summary["overall"]}
    for key in keys:
        groups.update({f"{prefix[key]}{name}": g for name, g in (summary.get(key) or {}).items()})
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
    """Floats to 6 significant digits; a dict (e.g. per-stage metrics) as "key value, ..." on one line."""
    if isinstance(v, dict):
        return "; ".join(f"{k} ({_short_float(x)})" if isinstance(x, dict) else f"{k} {_short_float(x)}"
                         for k, x in v.items() if x is not None)
    return f"{v:.6g}" if isinstance(v, float) else v


# ----------------------------------------------------------------------------- report sections

def render_report(manifest: dict, *, summary: dict | None = None, predictions: list[dict] | None = None,
                  stage_predictions: dict[str, list[dict]] | None = None, metrics: list[dict] | None = None,
                  images: dict[str, bytes] | None = None) -> str:
    """The report page from loaded evidence (missing parts omitted) and PNGs keyed by file name.
    `stage_predictions`: {stage: scored rows} of the stages before the final one (their outputs sit
    beside the final model's); `metrics`: the metrics.jsonl rows (a per-stage summary of them)."""
    images = images or {}
    run_id, status = manifest.get("run_id", "?"), manifest.get("status", "?")
    parts = [f"<h1>Run report: {esc(run_id)}</h1>",
             f'<p>status: <b class="status-{esc(status)}">{esc(status)}</b>'
             + (f" — {esc(manifest['status_reason'])}" if manifest.get("status_reason") else "")
             + "".join(f' <span class="muted">{k} {esc(manifest[f"{k}_at"])}</span>' for k in ("created", "finished")
                       if manifest.get(f"{k}_at")) + "</p>",
             config_section(manifest), device_section(manifest.get("device_plan")),
             training_section(manifest.get("metrics"), images, metrics)]
    if summary:
        parts.append(scorecard_section(summary, images))
    if predictions is not None:
        parts.append(predictions_section(predictions, stage_predictions))
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
                       f"batch_size {e.get('batch_size')}"
                       + (f", compare_base {e['compare_base']}" if "compare_base" in e else "")),
        ("preference", _scalars(cfg.get("preference"))),
        ("grpo", _scalars(cfg.get("grpo"))),
        ("config hash", manifest.get("config_hash")),
        ("git", git.get("commit") and f"{git['commit']}" + (" (dirty)" if git.get("dirty") else "")),
    ]
    full = table(["key", "value"], sorted(runs.flatten(cfg).items())) if cfg else ""
    return (f"<h2>Config</h2>\n{kv_table(pairs)}\n"
            + (f"<details><summary>full resolved config</summary>{full}</details>" if full else ""))


def _scalars(d: Any) -> str | None:
    """The plain (non-nested) settings of a config section on one line, or None."""
    if not isinstance(d, dict) or not d:
        return None
    return ", ".join(f"{k} {v}" for k, v in d.items() if not isinstance(v, (dict, list))) or None


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


def training_section(summary: dict | None, images: dict[str, bytes], metrics: list[dict] | None = None) -> str:
    """The manifest's metrics summary, a line per training stage logged in metrics.jsonl, the SFT
    loss curve and (when GRPO ran) the reward and KL curves."""
    loss_png, rewards_png = images.get(LOSS_PNG), images.get(REWARDS_PNG)
    if not summary and not loss_png and not rewards_png and not metrics:
        return ""
    parts = ["<h2>Training</h2>"]
    if summary:
        parts.append(kv_table(list(summary.items())))
    if metrics:
        parts.append(stage_metrics_table(metrics))
    if loss_png:
        parts.append(img(loss_png, "training loss and learning rate"))
    if images.get(PREFERENCE_PNG):
        parts += ["<h3>Preference stage</h3>", img(images[PREFERENCE_PNG], "preference loss, margin and accuracy")]
    if rewards_png:
        parts += ["<h3>GRPO rewards and KL</h3>", img(rewards_png, "GRPO rewards, KL and completion length")]
    return "\n".join(parts)


def stage_metrics_table(metrics: list[dict]) -> Raw:
    """One row per training stage in metrics.jsonl: logged steps and first → last of its curves."""
    def span(rows: list[dict], key: str) -> str:
        vals = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
        return f"{vals[0]:.4g} → {vals[-1]:.4g}" if vals else "–"

    grpo_keys = ("reward_mean", "kl", "completion_len_mean") if grpo_rows(metrics) else ()
    body = []
    for stage, rows in (("sft", sft_rows(metrics)), ("preference", preference_rows(metrics)),
                        ("grpo", grpo_rows(metrics))):
        if rows:
            body.append([stage, len(rows), f"{rows[0].get('step')}–{rows[-1].get('step')}", span(rows, "loss"),
                         *(span(rows, k) for k in grpo_keys)])
    return table(["stage", "logged steps", "steps", "loss", *grpo_keys], body)


def scorecard_rows(summary: dict) -> list[tuple[str, str | None, str | None]]:
    """(label, summary key, group name) in table order: ("overall", None, None) first, then per
    key a heading row (label, key, None) and its groups (name, key, name)."""
    rows: list[tuple[str, str | None, str | None]] = [("overall", None, None)]
    for title, key in GROUPS:
        rows.append((f"per {title}", key, None))
        rows += [(name, key, name) for name in summary.get(key) or {}]
    return rows


def scorecard_table(summary: dict) -> Raw:
    """The top-level (final) scorecard; with >= 2 stages (`evidence.stages_of`) an accuracy and a
    format column per stage, each followed by Δ of the last stage vs the first."""
    stages = stages_of(summary)
    multi = len(stages) >= 2
    names = list(stages)
    if multi:
        delta = f"({names[-1]} − {names[0]})"
        header = ["group", "n", *(f"accuracy {n}" for n in names), f"Δ accuracy {delta}",
                  *(f"format {n}" for n in names), f"Δ format {delta}",
                  *(f"trace ok {n}" for n in names), f"Δ trace ok {delta}"]
    else:
        header = ["group", "n", "accuracy", "format", "trace ok"]
    body, heads = [], set()
    for label, key, name in scorecard_rows(summary):
        if key is not None and name is None:
            heads.add(len(body))
            body.append([label] + [""] * (len(header) - 1))
            continue
        g = summary["overall"] if key is None else summary[key][name]
        if not multi:
            body.append([label, g["n"], pct(g["accuracy"]), pct(g["format_compliance"]), pct(g.get("trace_ok_rate"))])
            continue
        per_stage = [s["overall"] if key is None else (s.get(key) or {}).get(name, {}) for s in stages.values()]
        body.append([label, g["n"], *_stage_cells(per_stage, "accuracy"), *_stage_cells(per_stage, "format_compliance"),
                     *_stage_cells(per_stage, "trace_ok_rate")])
    return table(header, body, row_class=lambda i, _: "group" if i in heads else None)


def _stage_cells(groups: list[dict], metric: str) -> list[str]:
    """The metric of each stage's group, then last − first in points ("–" where a side lacks it)."""
    first, last = groups[0].get(metric), groups[-1].get(metric)
    delta = f"{100 * (last - first):+.1f} pts" if first is not None and last is not None else "–"
    return [pct(g.get(metric)) for g in groups] + [delta]


def scorecard_section(summary: dict, images: dict[str, bytes]) -> str:
    missing = summary.get("missing_ids") or []
    pics = "".join(img(images[n], n) for n in SCORECARD_PNGS if n in images)
    note = f"<p>scored {esc(summary.get('scored_at'))} against {esc(summary.get('eval_file'))}</p>" \
        if summary.get("eval_file") else ""
    stages = list(stages_of(summary))
    if stages:
        note += (f"<p>stages, each evaluated on the same items: {esc(' → '.join(stages))}; "
                 f"the final model ({esc(stages[-1])}) is the one scored at the top level</p>")
    gone = f"<p class=\"bad\">missing predictions: {esc(', '.join(missing))}</p>" if missing else ""
    return f"<h2>Scorecard</h2>\n{note}{scorecard_table(summary)}\n{gone}{pics}"


def predictions_section(rows: list[dict], stages: dict[str, list[dict]] | None = None) -> str:
    """One row per eval item: the final model's answer, and for each earlier stage in `stages`
    ({stage: scored rows}, run order) its extracted answer and correctness; every output in
    `<details>`."""
    by_stage = {name: {r.get("id"): r for r in stage_rows} for name, stage_rows in (stages or {}).items()}
    header = ["#", "id", "section / category / difficulty", "question", "expected", "extracted", "correct",
              "format"]
    for name in by_stage:
        header += [f"{name}: extracted", f"{name} correct"]
    header.append("model output")
    body = []
    for i, r in enumerate(rows, start=1):
        others = {name: rows_by_id.get(r.get("id")) for name, rows_by_id in by_stage.items()}
        cells = [f"{i}", r.get("id"), f"{r.get('section')} / {r.get('category')} / {r.get('difficulty')}",
                 Raw(f'<div class="q">{esc(r.get("prompt"))}</div>') if r.get("prompt") else "–",
                 r.get("expected_answer"), r.get("extracted_answer"), mark(r.get("correct")), mark(r.get("format_ok"))]
        for b in others.values():
            cells += [b.get("extracted_answer") if b else "–", mark(b.get("correct")) if b else "–"]
        cells.append(_output_details(r, others))
        body.append(cells)
    correct = sum(1 for r in rows if r.get("correct"))
    return (f"<h2>Predictions</h2>\n<p>{len(rows)} items, {correct} correct. Click “show” for the full model output"
            + (" of each stage" if by_stage else "") + ".</p>\n"
            + table(header, body, row_class=lambda i, row: "pred"))


def _output_details(r: dict, others: dict[str, dict | None]) -> Raw:
    inner = f"<pre>{esc(r.get('prediction'))}</pre>"
    for name, b in others.items():
        if b is not None:
            inner += f'<p class="muted">{esc(name)} model:</p><pre>{esc(b.get("prediction"))}</pre>'
    return Raw(f"<details><summary>show</summary>{inner}</details>")


# ----------------------------------------------------------------------------- the file

def draw_plots(run_dir: Path, metrics: list[dict] | None, summary: dict | None) -> dict[str, bytes]:
    """(Re)draw the PNGs beside the evidence; an existing PNG whose data is gone is kept and used."""
    if metrics:
        plot_loss(metrics, run_dir / LOSS_PNG)
        if grpo_rows(metrics):
            plot_rewards(metrics, run_dir / REWARDS_PNG)
        if preference_rows(metrics):
            plot_preference(metrics, run_dir / PREFERENCE_PNG)
    if summary:
        plot_scorecard(summary, run_dir / SCORECARD_PNGS[0])
        plot_difficulty(summary, run_dir / SCORECARD_PNGS[1])
    return {name: (run_dir / name).read_bytes() for name in IMAGES if (run_dir / name).is_file()}


def load_stage_predictions(run_dir: Path, summary: dict | None) -> dict[str, list[dict]]:
    """{stage: rows} of `predictions_<stage>.jsonl` for the stages of `summary` before the final
    one (whose rows are predictions.jsonl), where the file exists; an old run's base model rows are
    `predictions_before.jsonl`."""
    names = list(stages_of(summary or {}))[:-1]
    out = {}
    for name in names:
        path = run_dir / f"predictions_{name}.jsonl"
        if not path.is_file() and name == "base":
            path = run_dir / "predictions_before.jsonl"
        if path.is_file():
            out[name] = read_jsonl(path)
    return out


def write_report(run_dir: Path) -> Path:
    """`run_dir/report.html` from whatever evidence the run dir holds (the manifest is required)."""
    from .evidence import write_text_atomic

    run_dir = Path(run_dir)
    manifest = runs.read_json(run_dir / "run_manifest.json")
    summary = runs.read_optional(run_dir / "eval_summary.json", runs.read_json)
    metrics = runs.read_optional(run_dir / "metrics.jsonl", read_jsonl)
    predictions = runs.read_optional(run_dir / "predictions.jsonl", read_jsonl)
    stage_predictions = load_stage_predictions(run_dir, summary)
    images = draw_plots(run_dir, metrics, summary)
    out = run_dir / "report.html"
    write_text_atomic(out, render_report(manifest, summary=summary, predictions=predictions,
                                         stage_predictions=stage_predictions, metrics=metrics, images=images))
    return out
