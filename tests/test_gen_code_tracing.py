"""The v3 code-tracing records, re-run from the question text.

The snippet between the ```python fences is compiled and executed here on its own (nothing of
gen/code_tracing.py is used): what it prints must be the stored answer. Its shape must fit its
difficulty (easy: straight-line code; medium: one loop or one branch; hard: nested loops, a loop
with a branch, or a function), and no statement inside a loop may run more than six times (counted
with a line tracer while it runs). Worked traces must state the printed
value (tests/test_data_v3.py runs the trace check on every trace)."""

import contextlib
import io
import re
import sys
from collections import Counter

from v3_data import records, rows

FENCE = re.compile(r"```python\n(.*?)\n```", re.DOTALL)


def _run(code):
    """(what the snippet prints, how often each line ran)."""
    compiled, runs, out = compile(code, "<snippet>", "exec"), Counter(), io.StringIO()

    def tracer(frame, event, arg):
        if frame.f_code.co_filename == "<snippet>" and event == "line":
            runs[frame.f_lineno] += 1
        return tracer

    sys.settrace(tracer)
    try:
        with contextlib.redirect_stdout(out):
            exec(compiled, {})
    finally:
        sys.settrace(None)
    return out.getvalue().strip(), runs


def _shape(code):
    lines = code.splitlines()
    loops = sum(bool(re.match(r"\s*(for|while) ", ln)) for ln in lines)
    ifs = sum(bool(re.match(r"\s*if ", ln)) for ln in lines)
    has_def = any(ln.startswith("def ") for ln in lines)
    nested = any(re.match(r"\s+(for|while) ", ln) for ln in lines)
    return len(lines), loops, ifs, has_def, nested


def test_every_answer_is_what_the_snippet_prints():
    for rid, q, answer, _ in records("code_tracing"):
        code = FENCE.search(q).group(1)
        assert code.count("print(") == 1, (rid, code)
        printed, runs = _run(code)
        assert printed == answer, (rid, code, printed, answer)
        body = [n for n, ln in enumerate(code.splitlines(), start=1) if not ln.rstrip().endswith(":")]
        assert max(runs[n] for n in body) <= 6, (rid, code, runs)


def test_snippet_shapes_fit_the_difficulty():
    diff = {r["id"]: r["difficulty"] for r in rows("code_tracing")}
    seen = Counter()
    for rid, q, _, _ in records("code_tracing"):
        n, loops, ifs, has_def, nested = _shape(FENCE.search(q).group(1))
        level = diff[rid]
        seen[level] += 1
        if level == "easy":
            assert 2 <= n <= 4 and loops == ifs == 0 and not has_def, (rid, q)
        elif level == "medium":
            assert 4 <= n <= 7 and loops + ifs == 1 and not has_def, (rid, q)
        else:
            assert has_def or nested or (loops >= 1 and ifs >= 1), (rid, q)
    assert set(seen) == {"easy", "medium", "hard"}, seen


def test_traces_state_the_output():
    checked = 0
    for rid, _, answer, reasoning in records("code_tracing"):
        if not reasoning:
            continue  # an eval item
        assert f"it prints {answer}" in reasoning and reasoning.splitlines()[-1] == f"So the answer is {answer}.", rid
        checked += 1
    assert checked >= 150


def test_the_runner_sees_what_a_snippet_prints_and_how_often_lines_run():
    printed, runs = _run("t = 0\nfor i in range(3):\n    t += i\nprint(t)")
    assert printed == "3" and runs[3] == 3
