"""`tunix-nb score` on a hand-made fixture: the eval_summary.json equals a scorecard computed by hand."""

import json

from conftest import run_cli

EVAL = [
    {"id": "a", "prompt": "p", "expected_answer": "1,000", "section": "core", "category": "arithmetic", "difficulty": "easy"},
    {"id": "b", "prompt": "p", "expected_answer": "0.75", "section": "core", "category": "probability", "difficulty": "hard"},
    {"id": "c", "prompt": "p", "expected_answer": "Tuesday", "section": "edge_case", "category": "dates", "difficulty": "easy"},
    {"id": "d", "prompt": "p", "expected_answer": "12", "section": "edge_case", "category": "arithmetic", "difficulty": "hard"},
]
PRED = [
    {"id": "a", "prediction": "<reasoning>10*100 = 1,000</reasoning><answer>1000</answer>"},  # right, ok, trace true
    {"id": "b", "prediction": "<reasoning>3 of 4</reasoning><answer>3/4</answer> done"},       # right, bad format
    {"id": "c", "prediction": "<reasoning>+1 day, 1 + 1 = 3</reasoning>\n<answer>Wednesday</answer>"},  # wrong, ok, trace false
    {"id": "d", "prediction": "<answer>$12.00</answer><reasoning>x</reasoning>"},              # right, bad format
]


def group(n, correct, ok, checked, trace_ok):
    return {"n": n, "correct": correct, "format_ok": ok, "accuracy": round(correct / n, 4),
            "format_compliance": round(ok / n, 4), "trace_checked": checked, "trace_ok": trace_ok,
            "trace_ok_rate": round(trace_ok / checked, 4) if checked else None}


def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_score_cli_writes_the_hand_computed_scorecard(tmp_path):
    ev, pr = write(tmp_path / "eval.jsonl", EVAL), write(tmp_path / "pred.jsonl", PRED)
    res = run_cli("score", str(pr), "--eval", str(ev), "--out", str(tmp_path / "out"))
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "out" / "eval_summary.json").read_text())
    assert summary["overall"] == group(4, 3, 2, 2, 1)
    assert summary["per_section"] == {"core": group(2, 2, 1, 1, 1), "edge_case": group(2, 1, 1, 1, 0)}
    assert summary["per_category"] == {"arithmetic": group(2, 2, 1, 1, 1), "dates": group(1, 0, 1, 1, 0),
                                       "probability": group(1, 1, 0, 0, 0)}
    assert summary["per_difficulty"] == {"easy": group(2, 1, 2, 2, 1), "hard": group(2, 2, 0, 0, 0)}
    rows = [json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert [(r["trace_ok"], r["trace_steps"], r["trace_errors"]) for r in rows] == [
        (True, 1, []), (None, 0, []), (False, 1, ["1 + 1 = 3"]), (None, 0, [])]
    rows = [json.loads(l) for l in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()]
    assert [(r["id"], r["extracted_answer"], r["correct"], r["format_ok"]) for r in rows] == [
        ("a", "1000", True, True), ("b", "3/4", True, False), ("c", "Wednesday", False, True),
        ("d", "$12.00", True, False)]
    assert "75.0" in res.stdout  # the table is printed

    again = run_cli("score", str(pr), "--eval", str(ev), "--out", str(tmp_path / "out"))
    assert again.returncode == 2 and "already exists" in again.stderr  # never overwritten


def test_score_cli_rejects_unknown_ids_in_one_line(tmp_path):
    ev = write(tmp_path / "eval.jsonl", EVAL)
    pr = write(tmp_path / "pred.jsonl", PRED + [{"id": "zz", "prediction": "x"}])
    res = run_cli("score", str(pr), "--eval", str(ev), "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "'zz'" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_python_dash_m_and_help():
    res = run_cli("--help")
    assert res.returncode == 0
    for cmd in ("run", "score", "validate-data"):
        assert cmd in res.stdout
