"""compare / gate on two run dirs made from the session's real smoke run: one as if trained with
seed 1, one with seed 2 whose predictions differ item by item (re-scored by `scoring`, flips both
ways): config diffs, scorecard deltas, per-item flips recomputed here by hand, the CLI's table and
files, the gate (a run against itself passes; a made-worse copy fails naming the section), and
package_submission --baseline. (Two real trainings per seed cost `make test` ~100 s of CPU; what
compare reads is the run dir, and these are real ones.)"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from tunix_nb import compare, scoring
from tunix_nb.errors import UserError

TOOL = ROOT / "tools" / "package_submission.py"


def as_run(src: Path, dst: Path, seed: int, texts: dict[int, str]) -> Path:
    """A copy of run dir `src` (without checkpoints) recorded as trained with `seed`, the
    predictions at the positions in `texts` replaced and every one re-scored by `scoring`: the
    final scorecard (top level and its stage) follows."""
    dst = Path(shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoints")))
    manifest = json.loads((dst / "run_manifest.json").read_text())
    manifest["config"]["training"]["seed"] = seed
    (dst / "run_manifest.json").write_text(json.dumps(manifest))
    old = read_jsonl(dst / "predictions.jsonl")
    predictions = [{"id": r["id"], "prediction": texts.get(i, r["prediction"])} for i, r in enumerate(old)]
    rows, card = scoring.score_predictions(predictions, old)  # the rows carry their records' fields
    write_jsonl(dst / "predictions.jsonl", rows)
    summary = json.loads((dst / "eval_summary.json").read_text())
    summary.update(card)
    if summary.get("stages"):
        summary["stages"][list(summary["stages"])[-1]] = card
    (dst / "eval_summary.json").write_text(json.dumps(summary))
    return dst


def answer(row: dict, value: str) -> str:
    return f"<reasoning>{row['prompt']}</reasoning><answer>{value}</answer>"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, smoke_run) -> tuple[Path, Path]:
    """(A, B): A gets item 0 right and well formed; B gets it wrong and unformatted, item 1 right
    and item 2 well formed but wrong (the smoke run's tiny model gets none right)."""
    src = smoke_run[1]
    rows = read_jsonl(src / "predictions.jsonl")
    root = tmp_path_factory.mktemp("runs")
    a = as_run(src, root / "s1", 1, {0: answer(rows[0], rows[0]["expected_answer"])})
    b = as_run(src, root / "s2", 2, {0: "<reasoning>I am not sure",
                                     1: answer(rows[1], rows[1]["expected_answer"]), 2: answer(rows[2], "-1")})
    return a, b


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def group(rows: list[dict]) -> dict:
    n, c, f = len(rows), sum(r["correct"] for r in rows), sum(r["format_ok"] for r in rows)
    return {"n": n, "correct": c, "format_ok": f, "accuracy": round(c / n, 4), "format_compliance": round(f / n, 4)}


def rescore(run_dir: Path, rows: list[dict]) -> None:
    """Rewrite a run dir's predictions and the summary computed from them (by hand)."""
    write_jsonl(run_dir / "predictions.jsonl", rows)
    summary = json.loads((run_dir / "eval_summary.json").read_text())
    summary["overall"] = group(rows)
    for key, field in (("per_section", "section"), ("per_category", "category"), ("per_difficulty", "difficulty")):
        summary[key] = {v: group([r for r in rows if r[field] == v]) for v in sorted({r[field] for r in rows})}
    (run_dir / "eval_summary.json").write_text(json.dumps(summary))


@pytest.fixture(scope="module")
def better(runs, tmp_path_factory) -> tuple[Path, str]:
    """A copy of run s1 whose largest section got every item right and well formatted: the baseline
    that s1 itself then regresses against."""
    dst = Path(shutil.copytree(runs[0], tmp_path_factory.mktemp("better") / "s1-better",
                               ignore=shutil.ignore_patterns("checkpoints")))
    rows = read_jsonl(dst / "predictions.jsonl")
    sections = [r["section"] for r in rows]
    section = max(set(sections), key=sections.count)
    assert not all(r["correct"] and r["format_ok"] for r in rows if r["section"] == section)
    rows = [dict(r, correct=True, format_ok=True, extracted_answer=r["expected_answer"]) if r["section"] == section
            else r for r in rows]
    rescore(dst, rows)
    return dst, section


def test_compare_runs_matches_flips_computed_by_hand(runs):
    a, b = runs
    c = compare.compare_runs(a, b)
    ra, rb = read_jsonl(a / "predictions.jsonl"), read_jsonl(b / "predictions.jsonl")
    by_b = {r["id"]: r for r in rb}
    expected = {"right_to_wrong": [], "wrong_to_right": [], "format_gained": [], "format_lost": []}
    for r in ra:
        other = by_b[r["id"]]
        if r["correct"] and not other["correct"]:
            expected["right_to_wrong"].append(r["id"])
        if not r["correct"] and other["correct"]:
            expected["wrong_to_right"].append(r["id"])
        if not r["format_ok"] and other["format_ok"]:
            expected["format_gained"].append(r["id"])
        if r["format_ok"] and not other["format_ok"]:
            expected["format_lost"].append(r["id"])
    assert {k: [f["id"] for f in c[k]] for k in expected} == expected
    ids = [r["id"] for r in ra]  # the fixture's flips, each kind at least once
    assert ids[0] in expected["right_to_wrong"] and ids[0] in expected["format_lost"]
    assert ids[1] in expected["wrong_to_right"] and {ids[1], ids[2]} <= set(expected["format_gained"])
    assert c["only_in_a"] == c["only_in_b"] == [] and c["common_items"] == len(ra) == len(rb)


def test_compare_runs_config_and_metric_deltas(runs):
    a, b = runs
    c = compare.compare_runs(a, b)
    diffs = {d["key"]: (d["a"], d["b"]) for d in c["config_diff"]}
    assert diffs == {"training.seed": (1, 2)}  # output.run_id differs too, and is ignored
    sa, sb = (json.loads((p / "eval_summary.json").read_text()) for p in runs)
    o = c["metrics"]["overall"]
    assert o["n_a"] == o["n_b"] == sa["n"] and o["accuracy"]["a"] == o["accuracy"]["b"] > 0  # one right each
    assert o["accuracy"] == {"a": sa["overall"]["accuracy"], "b": sb["overall"]["accuracy"],
                             "delta": round(sb["overall"]["accuracy"] - sa["overall"]["accuracy"], 4)}
    for key in ("per_section", "per_category", "per_difficulty"):
        assert set(c["metrics"][key]) == set(sa[key]) | set(sb[key])
        for name, g in c["metrics"][key].items():
            assert g["format_compliance"]["a"] == sa[key][name]["format_compliance"]


def test_flips_on_literal_rows():
    a = [{"id": "1", "correct": True, "format_ok": True}, {"id": "2", "correct": False, "format_ok": False},
         {"id": "3", "correct": True, "format_ok": False}, {"id": "4", "correct": True, "format_ok": True}]
    b = [{"id": "2", "correct": True, "format_ok": True}, {"id": "1", "correct": False, "format_ok": False},
         {"id": "3", "correct": True, "format_ok": False}, {"id": "5", "correct": True, "format_ok": True}]
    f = compare.flips(a, b)
    ids = {k: [x["id"] for x in f[k]] for k in compare.FLIP_KINDS}
    assert ids == {"right_to_wrong": ["1"], "wrong_to_right": ["2"], "format_gained": ["2"], "format_lost": ["1"]}
    assert (f["only_in_a"], f["only_in_b"], f["common_items"]) == (["4"], ["5"], 3)


def test_config_diff_on_literals():
    a = {"training": {"seed": 1, "lora": None}, "output": {"run_id": "x", "root": "r"}}
    b = {"training": {"seed": 1, "lora": {"rank": 8}}, "output": {"run_id": "y", "root": "r"}}
    assert compare.config_diff(a, b) == [{"key": "training.lora", "a": None, "b": compare.MISSING},
                                         {"key": "training.lora.rank", "a": compare.MISSING, "b": 8}]


def test_gate_on_literals():
    g = lambda n, acc, fmt: {"n": n, "accuracy": acc, "format_compliance": fmt}
    sa = {"overall": g(30, 0.5, 0.9), "per_section": {"core": g(20, 0.6, 0.9), "tiny": g(3, 1.0, 1.0)}}
    sb = {"overall": g(30, 0.49, 0.9), "per_section": {"core": g(20, 0.5, 0.95), "tiny": g(3, 0.0, 0.0)}}
    c = {"metrics": compare.metric_deltas(sa, sb)}
    problems = compare.gate(c, max_drop=0.02, min_items=10)
    assert len(problems) == 1 and problems[0].startswith("section core: accuracy fell from 60.0%")
    assert "50.0%" in problems[0]
    assert len(compare.gate(c, max_drop=0.02, min_items=3)) == 3  # tiny counts now: accuracy and format
    assert compare.gate(c, max_drop=0.2, min_items=4) == []  # tiny left out again, core within 20 pts


def test_load_run_names_the_missing_file(runs, tmp_path):
    broken = Path(shutil.copytree(runs[0], tmp_path / "broken", ignore=shutil.ignore_patterns("checkpoints")))
    (broken / "predictions.jsonl").unlink()
    with pytest.raises(UserError, match=r"broken/predictions.jsonl: missing"):
        compare.load_run(broken)
    res = run_cli("compare", str(runs[0]), str(broken))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "predictions.jsonl" in res.stderr


def test_cli_compare_prints_the_table_and_writes_files(runs, tmp_path):
    a, b = runs
    out = tmp_path / "cmp"
    res = run_cli("compare", str(a), str(b), "--out", str(out))
    assert res.returncode == 0, res.stderr
    for text in ("config differences: 1", "training.seed", "scorecard (B − A)", "overall", "per section",
                 "right_to_wrong:", "format_lost:"):
        assert text in res.stdout
    saved = json.loads((out / "compare.json").read_text())
    assert saved == json.loads(json.dumps(compare.compare_runs(a, b)))
    html = (out / "compare.html").read_text()
    assert "<h2>Config differences (1)</h2>" in html and "training.seed" in html
    assert "http://" not in html and "https://" not in html
    again = run_cli("compare", str(a), str(b), "--out", str(out))
    assert again.returncode == 2 and "compare.json: already exists" in again.stderr and again.stderr.count("\n") == 1


def test_gate_passes_for_a_run_against_itself(runs):
    res = run_cli("compare", "--baseline", str(runs[0]), str(runs[0]), "--max-drop", "0.02", "--min-items", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "gate passed" in res.stdout


def test_gate_fails_naming_the_section(runs, better):
    baseline, section = better
    res = run_cli("compare", "--baseline", str(baseline), str(runs[0]), "--max-drop", "0.02", "--min-items", "1")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "gate FAILED" in res.stdout
    assert f"section {section}: accuracy fell from 100.0%" in res.stdout
    assert "overall: accuracy fell" in res.stdout


def test_cli_compare_usage_errors(runs):
    res = run_cli("compare", str(runs[0]))
    assert res.returncode == 2 and "pass two" in res.stderr
    res = run_cli("compare", str(runs[0]), str(runs[1]), "--max-drop", "0.1")
    assert res.returncode == 2 and "--baseline" in res.stderr


def package(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL.relative_to(ROOT)), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_package_submission_refuses_a_worse_run(runs, better, tmp_path):
    baseline, section = better
    res = package("--run-dir", runs[0], "--baseline", baseline, "--out", tmp_path / "worse.zip")
    assert res.returncode == 2, res.stdout + res.stderr
    assert "overall: accuracy fell" in res.stderr and "Traceback" not in res.stderr  # its sections have < 10 items
    assert not (tmp_path / "worse.zip").exists()


def test_package_submission_accepts_an_identical_run(runs, tmp_path):
    res = package("--run-dir", runs[0], "--baseline", runs[0], "--out", tmp_path / "same.zip")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (tmp_path / "same.zip").is_file()


# ----------------------------------------------------------------------------- stages (literal run dirs)

def card(acc: float, fmt: float, n: int = 4) -> dict:
    g = {"n": n, "correct": round(n * acc), "format_ok": round(n * fmt), "accuracy": acc, "format_compliance": fmt}
    return {"n": n, "overall": g, "per_section": {"arith": g}, "per_category": {"add": g},
            "per_difficulty": {"easy": g}, "missing_ids": []}


def literal_run(root: Path, run_id: str, summary: dict, correct: list[bool], seed: int) -> Path:
    d = root / run_id
    d.mkdir()
    (d / "run_manifest.json").write_text(json.dumps({"run_id": run_id, "status": "complete",
                                                     "config": {"training": {"seed": seed}}}))
    (d / "eval_summary.json").write_text(json.dumps(summary))
    write_jsonl(d / "predictions.jsonl", [{"id": f"q{i}", "correct": c, "format_ok": True, "expected_answer": str(i),
                                           "extracted_answer": str(i if c else -1)} for i, c in enumerate(correct)])
    return d


def test_compare_with_stages_on_literal_run_dirs(tmp_path):
    # A: an old run dir (base model as `before`, SFT at the top level); B: base -> sft -> grpo
    a = literal_run(tmp_path, "old", {**card(0.5, 0.75), "before": card(0.25, 0.0)}, [True, True, False, False], 1)
    stages_b = {"base": card(0.25, 0.0), "sft": card(0.75, 1.0), "grpo": card(1.0, 1.0)}
    b = literal_run(tmp_path, "new", {**stages_b["grpo"], "stages": stages_b}, [True, True, True, True], 2)
    c = compare.compare_runs(a, b)
    assert (c["stages_a"], c["stages_b"]) == (["base", "sft"], ["base", "sft", "grpo"])
    assert list(c["stage_metrics"]) == ["base", "sft"]
    assert c["stage_metrics"]["base"]["accuracy"] == {"a": 0.25, "b": 0.25, "delta": 0.0}
    assert c["stage_metrics"]["sft"]["accuracy"] == {"a": 0.5, "b": 0.75, "delta": 0.25}
    assert c["stage_metrics"]["sft"]["format_compliance"] == {"a": 0.75, "b": 1.0, "delta": 0.25}
    # the final scorecards (A's sft, B's grpo) and the flips of the final predictions, as before
    assert c["metrics"]["overall"]["accuracy"] == {"a": 0.5, "b": 1.0, "delta": 0.5}
    assert [f["id"] for f in c["wrong_to_right"]] == ["q2", "q3"] and c["right_to_wrong"] == []
    text = compare.format_comparison(c)
    lines = text.splitlines()
    start = lines.index("per stage, overall (B − A):")
    assert lines[start + 1].split() == ["stage", "n", "A/B", "acc", "A", "acc", "B", "Δ", "acc", "(pts)", "fmt", "A",
                                        "fmt", "B", "Δ", "fmt", "(pts)", "trace", "A", "trace", "B", "Δ", "trace", "(pts)"]
    # literal scorecards without trace figures (scored before the trace check): "–"
    assert lines[start + 3].split() == ["base", "4/4", "25.0%", "25.0%", "+0.0", "0.0%", "0.0%", "+0.0", "–", "–", "–"]
    assert lines[start + 4].split() == ["sft", "4/4", "50.0%", "75.0%", "+25.0", "75.0%", "100.0%", "+25.0", "–", "–", "–"]
    assert lines[start + 5] == "  only in B: grpo"
    html = compare.comparison_html(c)
    assert "<h2>Per stage, overall (B − A)</h2>" in html
    assert ("<tr><td>sft</td><td>4/4</td><td>50.0%</td><td>75.0%</td><td>+25.0</td><td>75.0%</td><td>100.0%</td>"
            "<td>+25.0</td><td>–</td><td>–</td><td>–</td></tr>") in html
    assert "<p>only in B: grpo</p>" in html
    assert json.loads(json.dumps(c)) == c  # compare.json holds it as is


def test_compare_without_stages_prints_no_stage_table(tmp_path):
    a = literal_run(tmp_path, "a", card(0.5, 0.5), [True, False, True, False], 1)
    b = literal_run(tmp_path, "b", card(0.5, 0.5), [True, False, True, False], 1)
    c = compare.compare_runs(a, b)
    assert (c["stages_a"], c["stages_b"], c["stage_metrics"]) == ([], [], {})
    assert "per stage" not in compare.format_comparison(c) and "Per stage" not in compare.comparison_html(c)
    only_b = literal_run(tmp_path, "c", {**card(0.5, 0.5), "stages": {"sft": card(0.5, 0.5)}}, [True] * 4, 1)
    text = compare.format_comparison(compare.compare_runs(a, only_b))
    assert "per stage, overall (B − A):\n  no stage in both runs\n  only in B: sft\n" in text
