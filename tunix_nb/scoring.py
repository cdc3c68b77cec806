"""Scoring of model outputs of the form ``<reasoning>…</reasoning><answer>…</answer>``.

Pure functions, standard library only:

* :func:`extract_answer` – the content of the last ``<answer>`` block.
* :func:`is_format_ok` – strict check of the two-block output format.
* :func:`parse_number` / :func:`answers_match` – lenient answer comparison
  (numbers compare as numbers, everything else as normalised text).
* :func:`check_trace` – the arithmetic steps of the reasoning, each recomputed (`traces`).
* :func:`score_predictions` – per-record rows plus an aggregate summary.
* :func:`format_scorecard` – the summary as a plain-text table.
"""

from __future__ import annotations

import re
from fractions import Fraction

from . import traces

__all__ = [
    "NUMERIC_REL_TOL",
    "extract_answer",
    "is_format_ok",
    "parse_number",
    "answers_match",
    "check_trace",
    "score_predictions",
    "format_scorecard",
]

# Relative tolerance for numbers written as decimals: |a - b| <= tol * max(1, |b|).
# 1e-6 lets a rounded decimal such as 0.333333333 (9 threes) match 1/3, while
# 0.33 or 0.3333 do not. (0.3333333, 7 threes, is 3.3e-8 away and so matches.)
NUMERIC_REL_TOL = Fraction(1, 10**6)

_TAGS = ("<reasoning>", "</reasoning>", "<answer>", "</answer>")
_TRAILING_PUNCT = ".!?,;:"

# Whole text = optional whitespace, reasoning block, optional whitespace, answer block.
_FORMAT_RE = re.compile(
    r"\s*<reasoning>(?P<reasoning>.*)</reasoning>\s*<answer>(?P<answer>.*)</answer>\s*",
    re.DOTALL,
)

# A leading single-letter assignment such as "x = 5" or "n=3".
_ASSIGN_RE = re.compile(r"^[A-Za-z]\s*=\s*")

# An unsigned decimal literal: digits with optional comma groups of exactly three, optional ".digits".
_DECIMAL = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"

# Sign and currency in either order ("-$5", "$-5"), then the number, an optional "%", then a unit.
_NUMBER_RE = re.compile(
    r"""
    (?P<sign1>[-+\u2212]?)\s*
    (?P<currency>[$€£]?)\s*
    (?P<sign2>[-+\u2212]?)\s*
    (?:
        (?P<num>\d+)\s*/\s*(?P<den>\d+)     # integer fraction a/b
      | (?P<dec>""" + _DECIMAL + r""")     # integer or decimal
    )
    \s*%?                                  # percent sign is dropped
    (?P<unit>\s*(?:[^\W\d_]|°)(?:[^\W\d_]|[°/.\s²³]|\^[23])*)?   # unit: letters, / ^2 ^3 ² ³ spaces dots
    """,
    re.VERBOSE,
)


def extract_answer(text: str) -> str | None:
    """Return the stripped content of the last ``<answer>…</answer>`` pair, or None."""
    # The last closing tag and the nearest opening tag before it form the last pair.
    end = text.rfind("</answer>")
    if end == -1:
        return None
    start = text.rfind("<answer>", 0, end)
    if start == -1:
        return None
    return text[start + len("<answer>") : end].strip()


def is_format_ok(text: str) -> bool:
    """True iff ``text`` is exactly one non-empty reasoning block followed by one non-empty answer block.

    Only whitespace may surround the blocks or sit between them. Tags are
    case-sensitive.
    """
    # Each tag exactly once rules out repeated, nested and unclosed blocks.
    if any(text.count(tag) != 1 for tag in _TAGS):
        return False
    # Order and "nothing else" are enforced by a full match of the layout.
    match = _FORMAT_RE.fullmatch(text)
    if match is None:
        return False
    # Empty blocks carry no reasoning / no answer.
    return bool(match["reasoning"].strip()) and bool(match["answer"].strip())


def _parse_number(s: str) -> tuple[Fraction, bool] | None:
    """Parse ``s`` to ``(value, came_from_decimal)``; None when ``s`` is not a plain number."""
    # Surrounding whitespace and sentence punctuation are not part of the answer ("7." is 7).
    s = s.strip().rstrip(_TRAILING_PUNCT).strip()
    # "x = 5" states the value 5.
    s = _ASSIGN_RE.sub("", s, count=1)
    match = _NUMBER_RE.fullmatch(s)
    if match is None:
        return None
    # At most one sign, before or after the currency symbol.
    if match["sign1"] and match["sign2"]:
        return None
    negative = (match["sign1"] or match["sign2"]) in ("-", "\u2212")
    if match["num"] is not None:
        den = int(match["den"])
        # Division by zero is not a number.
        if den == 0:
            return None
        value, from_decimal = Fraction(int(match["num"]), den), False
    else:
        literal = match["dec"].replace(",", "")
        # Fraction(str) is exact, so 7.50 == 7.5 == 15/2.
        value, from_decimal = Fraction(literal), "." in literal
    return (-value if negative else value), from_decimal


def parse_number(s: str) -> Fraction | None:
    """Parse an answer string as an exact number, or return None if it is not a plain number.

    Accepts ``1,000``, ``1,234,567.5``, ``$12.00``, ``-$5``, ``$-5``, ``50%``,
    ``3/4``, ``-3 / 4``, ``x = 5``, ``7.``, ``12 km``, ``5 m²``, ``20 °C``.
    Rejects ``1,00``, ``3 apples and 2 pears``, ``1/0`` and non-numbers.
    """
    parsed = _parse_number(s)
    return None if parsed is None else parsed[0]


def _normalise_text(s: str) -> str:
    # Case, spacing and a final full stop do not change a textual answer.
    s = " ".join(s.casefold().split())
    return s.rstrip(_TRAILING_PUNCT).strip()


def answers_match(predicted: str | None, expected: str) -> bool:
    """Whether a predicted answer equals the expected one.

    Numbers compare as numbers (exactly, or within :data:`NUMERIC_REL_TOL`
    relative to the expected value when either side was written as a
    decimal); otherwise both sides compare as normalised text.
    """
    # No extracted answer is never correct.
    if predicted is None:
        return False
    expected = str(expected)
    p, e = _parse_number(predicted), _parse_number(expected)
    if p is not None and e is not None:
        (a, a_dec), (b, b_dec) = p, e
        if a == b:
            return True
        # Decimals are often rounded, so they get a small relative tolerance.
        return (a_dec or b_dec) and abs(a - b) <= NUMERIC_REL_TOL * max(1, abs(b))
    return _normalise_text(predicted) == _normalise_text(expected)


def check_trace(text: str, answer: str | None) -> traces.TraceCheck:
    """The trace verdict of a model output (`traces.check`), the answer compared by our one rule."""
    return traces.check(text, answer, answers_match, lambda s: parse_number(s) is not None)


def _group(rows: list[dict]) -> dict:
    n = len(rows)
    correct = sum(1 for r in rows if r["correct"])
    format_ok = sum(1 for r in rows if r["format_ok"])
    checked = [r["trace_ok"] for r in rows if r.get("trace_ok") is not None]
    return {
        "n": n,
        "correct": correct,
        "format_ok": format_ok,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "format_compliance": round(format_ok / n, 4) if n else 0.0,
        # Over the items whose reasoning has a checkable step (null when none has).
        "trace_checked": len(checked),
        "trace_ok": sum(checked),
        "trace_ok_rate": round(sum(checked) / len(checked), 4) if checked else None,
    }


def _groups_by(rows: list[dict], key: str) -> dict:
    buckets: dict[str, list[dict]] = {}
    for row in rows:
        buckets.setdefault(str(row[key]), []).append(row)
    return {name: _group(buckets[name]) for name in sorted(buckets)}


def score_predictions(predictions: list[dict], eval_records: list[dict]) -> tuple[list[dict], dict]:
    """Score raw model outputs against the eval set.

    Returns ``(rows, summary)``: one row per eval record, in eval order (with
    the record's ``prompt``, so a report can show the question), and the
    overall / per-section / per-category / per-difficulty aggregates.
    Raises ValueError for a prediction id not in the eval set, a duplicated
    prediction id, or a duplicated eval id.
    """
    eval_ids: set = set()
    for record in eval_records:
        # Two records with one id would make the prediction ambiguous.
        if record["id"] in eval_ids:
            raise ValueError(f"eval id {record['id']!r} is duplicated in the eval set")
        eval_ids.add(record["id"])

    by_id: dict = {}
    for pred in predictions:
        pid = pred["id"]
        # A prediction for an unknown question means the files do not belong together.
        if pid not in eval_ids:
            raise ValueError(f"prediction id {pid!r} is not in the eval set")
        # Two answers to one question cannot both be scored.
        if pid in by_id:
            raise ValueError(f"prediction id {pid!r} is duplicated")
        by_id[pid] = pred

    rows, missing = [], []
    for record in eval_records:
        rid = record["id"]
        if rid in by_id:
            text = by_id[rid].get("prediction") or ""
        else:
            # A missing prediction scores like an empty output: wrong and badly formatted.
            text = ""
            missing.append(rid)
        extracted = extract_answer(text)
        trace = check_trace(text, extracted)
        rows.append(
            {
                "id": rid,
                "prompt": record.get("prompt"),
                "prediction": text,
                "extracted_answer": extracted,
                "expected_answer": record["expected_answer"],
                "correct": answers_match(extracted, record["expected_answer"]),
                "format_ok": is_format_ok(text),
                "trace_ok": trace.ok,
                "trace_steps": len(trace.steps),
                "trace_errors": trace.errors,
                "section": record["section"],
                "category": record["category"],
                "difficulty": record["difficulty"],
            }
        )

    summary = {
        "n": len(rows),
        "overall": _group(rows),
        "per_section": _groups_by(rows, "section"),
        "per_category": _groups_by(rows, "category"),
        "per_difficulty": _groups_by(rows, "difficulty"),
        "missing_ids": missing,
    }
    return rows, summary


def format_scorecard(summary: dict, stages: dict[str, dict] | None = None) -> str:
    """Render a summary from :func:`score_predictions` as a plain-text table.

    With ``stages`` ({name: summary} of at least two stages evaluated on the same items, in run
    order, e.g. base, sft, grpo) the table has one accuracy and one format column per stage
    (``acc base | acc sft | acc grpo | fmt base | fmt sft | fmt grpo``); ``n`` and the rows come
    from ``summary``, a group a stage lacks shows ``–``. With no or one stage: the single table.
    """
    lines: list[tuple[str, str | None, str | None]] = [("overall", None, None)]
    for title, key in (("section", "per_section"), ("category", "per_category"), ("difficulty", "per_difficulty")):
        lines.append((f"-- per {title} --", None, None))
        lines.extend((f"  {name}", key, name) for name in summary[key])

    def group(s: dict, key: str | None, name: str | None) -> dict:
        return s["overall"] if key is None else (s.get(key) or {}).get(name, {})

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{100 * x:.1f}%"

    multi = dict(stages) if stages and len(stages) >= 2 else None
    header = ["group", "n", "accuracy", "format", "trace"] if multi is None else \
        ["group", "n", *(f"acc {name}" for name in multi), *(f"fmt {name}" for name in multi),
         *(f"trace {name}" for name in multi)]
    rows = []
    for label, key, name in lines:
        if label.startswith("--"):
            rows.append([label])
            continue
        g = group(summary, key, name)
        if multi is None:
            rows.append([label, str(g["n"]), pct(g["accuracy"]), pct(g["format_compliance"]), pct(g.get("trace_ok_rate"))])
        else:
            per_stage = [group(st, key, name) for st in multi.values()]
            rows.append([label, str(g["n"]), *(pct(b.get("accuracy")) for b in per_stage),
                         *(pct(b.get("format_compliance")) for b in per_stage),
                         *(pct(b.get("trace_ok_rate")) for b in per_stage)])
    widths = [max(len(r[i]) for r in [header, *rows] if len(r) > 1) for i in range(len(header))]

    def fmt(cells: list[str]) -> str:
        if len(cells) == 1:
            return cells[0]
        return " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    out = [fmt(header)]
    out.append("-" * len(out[0]))
    out += [fmt(r) for r in rows]
    if summary.get("missing_ids"):
        out.append(f"missing predictions: {len(summary['missing_ids'])}")
    return "\n".join(out) + "\n"
