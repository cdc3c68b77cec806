"""report.html from a real run dir (a short real run of the tiny model, base model evaluated too):
self-contained (inline PNGs, no URLs), the sections people look for, one row per eval item; and
headless Chromium renders it (tools/check_report.py) when Chromium is installed."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from tunix_nb import report
from tunix_nb.errors import UserError

QUICK = ["--set", "training.epochs=null", "--set", "training.max_steps=3", "--set", "training.warmup_steps=1",
         "--set", "data.train_limit=24", "--set", "eval.limit=6", "--set", "eval.max_new_tokens=8"]
HEADINGS = ("Config", "Device plan", "Training", "Scorecard", "Predictions")
CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, cache_dir) -> Path:
    root = tmp_path_factory.mktemp("runs")
    res = run_cli("run", "--run-id", "rep", "--set", f"output.root={root}", "--set", "eval.compare_base=true", *QUICK)
    assert res.returncode == 0, res.stderr[-3000:]
    return root / "rep"


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


def test_report_scorecard_has_before_and_after_columns(html_text, run_dir):
    summary = json.loads((run_dir / "eval_summary.json").read_text())
    assert "before" in summary
    for col in ("accuracy before", "accuracy after", "format before", "format after"):
        assert f"<th>{col}</th>" in html_text
    for name in [*summary["per_section"], *summary["per_category"], *summary["per_difficulty"]]:
        assert f"<td>{name}</td>" in html_text
    assert "<th>base: extracted</th>" in html_text  # the base model's answers beside the tuned ones


def test_report_of_a_run_dir_without_optional_parts(run_dir, tmp_path):
    bare = Path(shutil.copytree(run_dir, tmp_path / "bare", ignore=shutil.ignore_patterns("checkpoints", "*.png",
                                                                                            "report.html")))
    (bare / "predictions_before.jsonl").unlink()
    summary = json.loads((bare / "eval_summary.json").read_text())
    del summary["before"]
    (bare / "eval_summary.json").write_text(json.dumps(summary))
    text = report.write_report(bare).read_text()
    assert "<th>accuracy</th>" in text and "accuracy before" not in text and "base: extracted" not in text
    (bare / "metrics.jsonl").unlink()
    (bare / "loss_curve.png").unlink()
    assert "training loss" not in report.write_report(bare).read_text()  # no curve, no broken image


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
