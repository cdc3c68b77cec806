"""report.html from a real run dir (conftest's short real run of the tiny model, base model scored too)
and from literal run dirs (base -> sft -> grpo; an old one with `before`): self-contained (inline
PNGs, no URLs), the sections people look for, a column per stage, one row per eval item; the plots'
data (SFT loss, GRPO rewards/KL, a bar per stage); and headless Chromium renders it
(tools/check_report.py) when Chromium is installed."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT
from tunix_nb import evidence, report
from tunix_nb.errors import UserError

HEADINGS = ("Config", "Device plan", "Training", "Scorecard", "Predictions")
CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, smoke_run) -> Path:
    """A copy of conftest's real run (base model scored too), without its checkpoints."""
    return Path(shutil.copytree(smoke_run[1], tmp_path_factory.mktemp("runs") / "rep",
                                ignore=shutil.ignore_patterns("checkpoints")))


@pytest.fixture(scope="module")
def html_text(run_dir) -> str:
    out = report.write_report(run_dir)
    assert out == run_dir / "report.html"
    return out.read_text(encoding="utf-8")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_report_has_the_sections_and_no_urls(html_text):
    for h in HEADINGS:
        assert f"<h2>{h}</h2>" in html_text
    assert "http://" not in html_text and "https://" not in html_text
    assert "<script" not in html_text.lower()


def test_report_embeds_png_images(html_text, run_dir):
    payloads = re.findall(r'<img src="data:image/png;base64,([^"]*)"', html_text)
    assert len(payloads) >= 3
    for p in payloads:
        assert base64.b64decode(p, validate=True).startswith(PNG_MAGIC)
    assert len(re.findall(r"<img ", html_text)) == len(payloads)  # no other kind of image
    for name in ("loss_curve.png", "scorecard.png", "scorecard_difficulty.png"):  # saved beside it too
        assert (run_dir / name).read_bytes().startswith(PNG_MAGIC)


def test_report_has_one_prediction_row_per_item_with_the_question(html_text, run_dir):
    rows = read_jsonl(run_dir / "predictions.jsonl")
    assert len(rows) == 6
    assert html_text.count('<tr class="pred">') == len(rows)
    for r in rows:
        assert r["prompt"]  # scoring now keeps the question
        assert report.esc(r["prompt"]) in html_text
        assert f"<td>{r['id']}</td>" in html_text
        assert f"<pre>{report.esc(r['prediction'])}</pre>" in html_text  # full output, inside <details>
    assert html_text.count("<details><summary>show</summary>") == len(rows)


def test_report_scorecard_has_a_column_per_stage(html_text, run_dir):
    summary = json.loads((run_dir / "eval_summary.json").read_text())
    assert list(evidence.stages_of(summary)) == ["base", "sft"]
    for col in ("accuracy base", "accuracy sft", "Δ accuracy (sft − base)", "format base", "format sft",
                "Δ format (sft − base)"):
        assert f"<th>{col}</th>" in html_text
    for name in [*summary["per_section"], *summary["per_category"], *summary["per_difficulty"]]:
        assert f"<td>{name}</td>" in html_text
    assert "<th>base: extracted</th>" in html_text  # the base model's answers beside the tuned ones


def test_report_of_a_run_dir_without_optional_parts(run_dir, tmp_path):
    bare = Path(shutil.copytree(run_dir, tmp_path / "bare", ignore=shutil.ignore_patterns("checkpoints", "*.png",
                                                                                            "report.html")))
    for p in bare.glob("predictions_*.jsonl"):
        p.unlink()
    summary = json.loads((bare / "eval_summary.json").read_text())
    summary.pop("stages", None)
    summary.pop("before", None)
    (bare / "eval_summary.json").write_text(json.dumps(summary))
    text = report.write_report(bare).read_text()
    assert "<th>accuracy</th>" in text and "accuracy base" not in text and "base: extracted" not in text
    (bare / "metrics.jsonl").unlink()
    (bare / "loss_curve.png").unlink()
    assert "training loss" not in report.write_report(bare).read_text()  # no curve, no broken image


# ----------------------------------------------------------------------------- literal run dirs

def write_jsonl(path: Path, rows: list) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def card(acc: float, fmt: float, trace: float | None = None) -> dict:
    g = {"n": 4, "correct": round(4 * acc), "format_ok": round(4 * fmt), "accuracy": acc, "format_compliance": fmt,
         "trace_ok_rate": trace}
    return {"n": 4, "overall": g, "per_section": {"arith": g}, "per_category": {"add": g},
            "per_difficulty": {"easy": g}, "missing_ids": []}


def stage_rows(stage: str, n_correct: int) -> list[dict]:
    return [{"id": f"q{i}", "prompt": f"what is {i} + {i}?", "prediction": f"<reasoning>{stage} thinks</reasoning>"
             f"<answer>{2 * i if i < n_correct else -1}</answer>", "extracted_answer": str(2 * i if i < n_correct else -1),
             "expected_answer": str(2 * i), "correct": i < n_correct, "format_ok": True, "section": "arith",
             "category": "add", "difficulty": "easy"} for i in range(4)]


SFT_METRICS = [{"stage": "sft", "step": s, "loss": 2.0 - 0.5 * s, "lr": 1e-4, "grad_norm": 1.0, "tokens": 500,
                "target_tokens": 200, "tokens_per_s": 100.0, "elapsed_s": float(s)} for s in (1, 2, 3)]
GRPO_METRICS = [{"stage": "grpo", "step": s, "loss": 0.01, "lr": 3e-6, "grad_norm": 0.2, "reward_mean": 0.1 * s,
                 "reward_std": 0.05 * s, "reward/format_exact": 0.2 * s, "reward/answer_correct": 0.05 * s,
                 "kl": 0.001 * s, "completion_len_mean": 40.0 + s, "tokens": 900, "tokens_per_s": 120.0,
                 "elapsed_s": 30.0 + s} for s in (1, 2, 3, 4, 5)]
MANIFEST = {"run_id": "staged", "status": "complete", "config": {"training": {"backend": "torch"}},
            "device_plan": {"mode": "smoke", "backend": "torch", "device": "cpu", "dtype": "fp32", "reasons": ["CPU"]},
            "metrics": {"sft": {"steps": 3, "final_loss": 0.5}, "grpo": {"steps": 5, "final_reward_mean": 0.5}}}


@pytest.fixture
def staged_dir(tmp_path) -> Path:
    """A literal run dir base -> sft -> grpo: 4 items, base gets 1 right, sft 2, grpo 3."""
    d = tmp_path / "staged"
    d.mkdir()
    (d / "run_manifest.json").write_text(json.dumps(MANIFEST))
    write_jsonl(d / "metrics.jsonl", SFT_METRICS + GRPO_METRICS)
    stages = {"base": card(0.25, 0.0), "sft": card(0.5, 0.75, 0.5), "grpo": card(0.75, 1.0, 0.75)}
    (d / "eval_summary.json").write_text(json.dumps({"eval_file": "eval.jsonl", **stages["grpo"], "stages": stages}))
    for name, n in (("base", 1), ("sft", 2), ("grpo", 3)):
        write_jsonl(d / f"predictions_{name}.jsonl", stage_rows(name, n))
    write_jsonl(d / "predictions.jsonl", stage_rows("grpo", 3))
    return d


def _png_payload(text: str, alt: str) -> bytes:
    m = re.search(r'<img src="data:image/png;base64,([^"]*)" alt="' + re.escape(alt) + '"', text)
    assert m, f"no image {alt!r}"
    return base64.b64decode(m.group(1), validate=True)


def test_report_of_a_three_stage_run_dir(staged_dir):
    text = report.write_report(staged_dir).read_text(encoding="utf-8")
    header = ["group", "n", "accuracy base", "accuracy sft", "accuracy grpo", "Δ accuracy (grpo − base)",
              "format base", "format sft", "format grpo", "Δ format (grpo − base)",
              "trace ok base", "trace ok sft", "trace ok grpo", "Δ trace ok (grpo − base)"]
    assert "<thead><tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr></thead>" in text
    assert ('<tr class=""><td>overall</td>' not in text)  # a plain row has no class
    assert ("<tr><td>overall</td><td class=\"num\">4</td><td>25.0%</td><td>50.0%</td><td>75.0%</td>"
            "<td>+50.0 pts</td><td>0.0%</td><td>75.0%</td><td>100.0%</td><td>+100.0 pts</td>"
            "<td>–</td><td>50.0%</td><td>75.0%</td><td>–</td></tr>") in text  # base had no checkable step
    assert "base → sft → grpo" in text and "final model (grpo)" in text
    # the SFT loss curve and the GRPO curves, inline and saved beside the evidence
    for name, alt in (("loss_curve.png", "training loss and learning rate"),
                      ("reward_curve.png", "GRPO rewards, KL and completion length")):
        assert _png_payload(text, alt) == (staged_dir / name).read_bytes()
        assert (staged_dir / name).read_bytes().startswith(PNG_MAGIC)
    assert "<h3>GRPO rewards and KL</h3>" in text
    # a line per training stage from metrics.jsonl
    assert "<tr><td>sft</td><td class=\"num\">3</td><td>1–3</td><td>1.5 → 0.5</td><td>–</td>" in text
    assert ("<tr><td>grpo</td><td class=\"num\">5</td><td>1–5</td><td>0.01 → 0.01</td><td>0.1 → 0.5</td>"
            "<td>0.001 → 0.005</td><td>41 → 45</td></tr>") in text
    assert ("<tr><th>sft</th><td>steps 3; final_loss 0.5</td></tr>"  # the manifest's metrics, per stage
            "<tr><th>grpo</th><td>steps 5; final_reward_mean 0.5</td></tr>") in text
    # predictions: the final model's answer, then base's and sft's beside it
    for col in ("base: extracted", "base correct", "sft: extracted", "sft correct"):
        assert f"<th>{col}</th>" in text
    assert "grpo: extracted" not in text  # the final stage is the main columns
    assert text.count('<tr class="pred">') == 4
    row_q1 = re.search(r'<tr class="pred"><td>2</td><td>q1</td>.*?</tr>', text).group(0)
    # q1: grpo right (2), base wrong (-1), sft right (2)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row_q1)
    assert cells[4:8] == ["2", "2", '<span class="ok">✓</span>', '<span class="ok">✓</span>']
    assert cells[8:12] == ["-1", '<span class="bad">✗</span>', "2", '<span class="ok">✓</span>']
    assert '<p class="muted">base model:</p><pre>&lt;reasoning&gt;base thinks' in row_q1
    assert '<p class="muted">sft model:</p><pre>&lt;reasoning&gt;sft thinks' in row_q1


def test_report_of_an_old_run_dir_with_before(staged_dir):
    """A run dir written before stages existed: `before` in the summary, predictions_before.jsonl."""
    old = staged_dir
    for p in old.glob("predictions_*.jsonl"):
        p.unlink()
    write_jsonl(old / "predictions_before.jsonl", stage_rows("base", 1))
    write_jsonl(old / "predictions.jsonl", stage_rows("sft", 2))
    write_jsonl(old / "metrics.jsonl", [{k: v for k, v in r.items() if k != "stage"} for r in SFT_METRICS])
    (old / "eval_summary.json").write_text(json.dumps({**card(0.5, 0.75), "before": card(0.25, 0.0)}))
    text = report.write_report(old).read_text(encoding="utf-8")
    assert "<th>accuracy base</th><th>accuracy sft</th><th>Δ accuracy (sft − base)</th>" in text
    assert "<td>25.0%</td><td>50.0%</td><td>+25.0 pts</td>" in text
    assert "<th>base: extracted</th>" in text and '<p class="muted">base model:</p>' in text
    assert "<h3>GRPO rewards and KL</h3>" not in text and not (old / "reward_curve.png").exists()
    assert "<tr><td>sft</td><td class=\"num\">3</td><td>1–3</td><td>1.5 → 0.5</td></tr>" in text  # rows without stage
    assert "<th>reward_mean</th>" not in text


@pytest.fixture
def figures(monkeypatch) -> list:
    """The matplotlib figures saved while the test runs (to read the plotted data back)."""
    import matplotlib.figure

    saved, original = [], matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, *a, **k: (saved.append(self), original(self, *a, **k))[1])
    return saved


def _lines(ax) -> dict[str, tuple[list, list]]:
    return {ln.get_label(): (list(ln.get_xdata()), [round(float(y), 6) for y in ln.get_ydata()]) for ln in ax.get_lines()}


def test_plot_rewards_draws_the_grpo_rows(tmp_path, figures):
    out = report.plot_rewards(SFT_METRICS + GRPO_METRICS, tmp_path / "r.png")
    assert out == tmp_path / "r.png" and out.read_bytes().startswith(PNG_MAGIC)
    fig = figures[-1]
    top, bottom, twin = fig.axes
    steps = [1, 2, 3, 4, 5]
    assert _lines(top) == {"reward_mean": (steps, [0.1, 0.2, 0.3, 0.4, 0.5]),
                           "format_exact": (steps, [0.2, 0.4, 0.6, 0.8, 1.0]),
                           "answer_correct": (steps, [0.05, 0.1, 0.15, 0.2, 0.25])}
    band = top.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(0.1 - 0.05) and band[:, 1].max() == pytest.approx(0.5 + 0.25)
    assert _lines(bottom) == {"kl": (steps, [0.001, 0.002, 0.003, 0.004, 0.005])}
    assert _lines(twin) == {"completion_len_mean": (steps, [41.0, 42.0, 43.0, 44.0, 45.0])}
    assert bottom.get_xlabel() == "GRPO step"
    report.plot_rewards([dict(r, kl=0.0) for r in GRPO_METRICS], tmp_path / "kl-free.png")  # grpo.beta 0
    top, bottom, twin = figures[-1].axes
    assert _lines(bottom) == {} and bottom.get_ylabel() == "KL: not computed (beta 0)"
    assert _lines(twin) == {"completion_len_mean": (steps, [41.0, 42.0, 43.0, 44.0, 45.0])}


def test_plot_loss_uses_sft_rows_only_and_says_when_there_are_none(tmp_path, figures):
    report.plot_loss([{"step": 1, "loss": 3.0, "lr": 1e-4}] + SFT_METRICS[1:] + GRPO_METRICS, tmp_path / "l.png")
    ax = figures[-1].axes[0]
    assert _lines(ax) == {"loss": ([1, 2, 3], [3.0, 1.0, 0.5])}  # a row without stage is SFT; no GRPO loss
    out = report.plot_loss(GRPO_METRICS, tmp_path / "none.png")  # GRPO straight from an instruction-tuned model
    assert out.read_bytes().startswith(PNG_MAGIC)
    assert [t.get_text() for t in figures[-1].axes[0].texts] == ["no SFT stage in this run"]
    report.plot_loss([], tmp_path / "empty.png")
    assert [t.get_text() for t in figures[-1].axes[0].texts] == ["no SFT stage in this run"]


def test_plot_scorecard_has_a_bar_per_stage(tmp_path, figures):
    stages = {"base": card(0.25, 0.0), "sft": card(0.5, 0.75, 0.5), "grpo": card(0.75, 1.0, 0.75)}
    report.plot_scorecard({**stages["grpo"], "stages": stages}, tmp_path / "s.png")
    acc, fmt, trace = figures[-1].axes
    groups = ["overall (n=4)", "section:arith (n=4)", "add (n=4)"]
    assert [t.get_text() for t in acc.get_yticklabels()] == groups
    widths = [round(b.get_width(), 6) for b in acc.patches]
    assert widths == [25.0] * 3 + [50.0] * 3 + [75.0] * 3  # base, sft, grpo bars for each group
    assert [round(b.get_width(), 6) for b in fmt.patches] == [0.0] * 3 + [75.0] * 3 + [100.0] * 3
    assert [round(b.get_width(), 6) for b in trace.patches] == [0.0] * 3 + [50.0] * 3 + [75.0] * 3
    labels = [t.get_text() for t in trace.texts]
    assert labels == ["–"] * 3 + ["50%"] * 3 + ["75%"] * 3  # base had no checkable step: "–", not 0%
    assert [t.get_text() for t in figures[-1].legends[0].get_texts()] == ["base", "sft", "grpo"]
    report.plot_difficulty({**stages["grpo"], "stages": stages}, tmp_path / "d.png")
    assert len(figures[-1].axes[0].patches) == 3 * 2  # overall and easy, three stages each
    report.plot_scorecard(card(0.75, 1.0), tmp_path / "one.png")  # no stages: one bar per group, no legend
    assert [round(b.get_width(), 6) for b in figures[-1].axes[0].patches] == [75.0] * 3 and not figures[-1].legends


def test_render_report_on_a_manifest_alone():
    text = report.render_report({"run_id": "x<1>", "status": "failed", "status_reason": "boom & <bust>"})
    assert "x&lt;1&gt;" in text and "boom &amp; &lt;bust&gt;" in text and "<h2>Config</h2>" in text
    assert "<h2>Scorecard</h2>" not in text and "<h2>Predictions</h2>" not in text
    assert "<td>{}</td>" not in text and "<td>None</td>" not in text


def test_predictions_are_escaped():
    rows = [{"id": "q1", "prompt": "is 2 < 3 & 4 > 1?", "prediction": "<reasoning>x</reasoning><answer>yes</answer>",
             "extracted_answer": "yes", "expected_answer": "yes", "correct": True, "format_ok": True,
             "section": "s", "category": "c", "difficulty": "easy"}]
    text = report.predictions_section(rows)
    assert "is 2 &lt; 3 &amp; 4 &gt; 1?" in text
    assert "&lt;reasoning&gt;x&lt;/reasoning&gt;" in text and "<reasoning>" not in text
    assert text.count('class="ok"') == 2


def test_write_report_needs_a_manifest(tmp_path):
    with pytest.raises(UserError, match="run_manifest.json: missing"):
        report.write_report(tmp_path)


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="Chromium is not installed (apt-get install chromium)")
def test_chromium_renders_the_report(html_text, run_dir, tmp_path):
    check_in_chromium(run_dir, tmp_path)


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="Chromium is not installed (apt-get install chromium)")
def test_chromium_renders_a_three_stage_report(staged_dir, tmp_path):
    report.write_report(staged_dir)
    check_in_chromium(staged_dir, tmp_path)


def check_in_chromium(run_dir: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    res = subprocess.run([sys.executable, "tools/check_report.py", str(run_dir), "--screenshot", str(shot)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.startswith("OK")
    assert shot.stat().st_size > 20_000
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (4000, 1280)
    assert len({tuple(pixels[y, x][:3]) for y in range(0, 4000, 97) for x in range(0, 1280, 61)}) > 3  # not blank


@pytest.mark.skipif(not CHROMIUM.is_file(), reason="Chromium is not installed (apt-get install chromium)")
def test_check_report_fails_on_a_page_with_network_images(tmp_path):
    (tmp_path / "report.html").write_text('<html><body><h2>Config</h2><img src="http://example.invalid/a.png">'
                                          "</body></html>")
    res = subprocess.run([sys.executable, "tools/check_report.py", str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 1
    assert "no heading 'Predictions'" in res.stderr
    assert "net log: the page requested 'http://example.invalid/a.png'" in res.stderr


def test_check_report_without_chromium_exits_2(run_dir, html_text):
    res = subprocess.run([sys.executable, "tools/check_report.py", str(run_dir)], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={"CHROMIUM": "/nonexistent/chromium", "PATH": "/usr/bin:/bin"})
    assert res.returncode == 2
    assert "apt-get install chromium" in res.stderr and "Traceback" not in res.stderr
