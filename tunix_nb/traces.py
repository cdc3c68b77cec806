"""The trace check: the arithmetic claims inside `<reasoning>`, each recomputed. Pure, standard library.

A *step* is a claim `EXPR = RESULT` on one line: EXPR is numbers (with `$`, thousands commas,
decimals) and `+ - − × x * ÷ / ^ ( )`, where `X%` is X per cent and `X% of Y` is X/100 × Y, and
`√` / `sqrt(…)` of a perfect square (a root with no exact value is not a checkable step);
RESULT is one number, possibly `$`, a fraction `1/2`, a `%`, and then a unit word ("24 clips").
Chains (`15% of 400 = 400 × 15 / 100 = 60`) are a step per expression, each against the final
number. A step is right when RESULT equals EXPR exactly or, written with d >= 1 decimals, equals
EXPR rounded to d decimals (an integer RESULT must be exact); a `%` RESULT may be read as the
per-cent value or the number written. Text that is not such a claim (`2x + 3 = 11`, `5 km + 3 km`)
is not a step: it is not checked, and never counts against a trace.

`check(text, answer)` gives a prediction's `trace_steps`, `trace_errors` (the wrong steps as
written) and `trace_ok`: true when there is a step, every step is right and the answer equals the
last step's RESULT (by `scoring.answers_match`); false when a step is wrong or the answer differs;
None when there is no `<reasoning>` or no step in it. A text answer (a weekday, a name, `knave`)
is not a number a step computes: its trace's steps are checked, the last-result rule is not.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

_TOKEN = re.compile(r"""
    (?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)
  | (?P<cur>[$€£])
  | (?P<pct>%)
  | (?P<op>[-+\u2212×*÷/^])
  | (?P<fn>√)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<eq>=)
  | (?P<word>[^\W\d_]+)
  | (?P<space>[ \t]+)
  | (?P<other>.)
""", re.VERBOSE)
_REASONING = re.compile(r"<reasoning>(.*?)</reasoning>", re.DOTALL)
_EXPR_KINDS = {"num", "cur", "pct", "op", "lp", "rp", "of", "fn"}
_MAX_EXPONENT = 64


@dataclass(frozen=True)
class Tok:
    kind: str  # num cur pct op lp rp eq word of other
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Step:
    text: str  # as written: "39 + 56 = 83"
    result: str  # RESULT as written: "$10", "25%", "1/2"
    right: bool


@dataclass(frozen=True)
class TraceCheck:
    steps: list[Step]
    ok: bool | None

    @property
    def errors(self) -> list[str]:
        return [s.text for s in self.steps if not s.right]


def check(text: str, answer: str | None, answers_match: Callable[[str | None, str], bool],
          is_number: Callable[[str], bool]) -> TraceCheck:
    """The trace verdict of a model output whose extracted answer is `answer` (see the module doc);
    `answers_match` and `is_number` are scoring's rules for "the same answer" and "a number"."""
    found = _REASONING.search(text)
    if found is None:
        return TraceCheck([], None)
    steps = [s for line in found.group(1).splitlines() for s in line_steps(line)]
    if not steps:
        return TraceCheck(steps, None)
    text_answer = answer is not None and not is_number(answer)
    ok = all(s.right for s in steps) and (text_answer or answers_match(answer, steps[-1].result))
    return TraceCheck(steps, ok)


def line_steps(line: str) -> list[Step]:
    """Every step on one line, in order."""
    toks = _tokens(line)
    steps: list[Step] = []
    i = 0
    while i < len(toks):
        if toks[i].kind not in _EXPR_KINDS and toks[i].kind != "eq":
            i += 1
            continue
        j = i
        while j < len(toks) and (toks[j].kind in _EXPR_KINDS or toks[j].kind == "eq"):
            j += 1
        # "2x + 3 = 11": a run that goes on from a variable is part of an expression we cannot read.
        after_variable = i > 0 and _is_variable(toks[i - 1]) and toks[i].kind == "op"
        if not after_variable:
            steps += _run_steps(line, toks[i:j])
        i = j
    return steps


def _is_variable(t: Tok) -> bool:
    return t.kind == "word" and (len(t.text) == 1 or any(c.isdigit() for c in t.text))


def _run_steps(line: str, run: list[Tok]) -> list[Step]:
    """The steps of one run of expression tokens and `=`s: its segments, each against the last
    (a plain number). The first segment is trimmed from the left to its longest valid tail."""
    segments: list[list[Tok]] = [[]]
    for t in run:
        if t.kind == "eq":
            segments.append([])
        else:
            segments[-1].append(t)
    if len(segments) < 2:
        return []
    result = _plain_number(segments[-1])
    if result is None:
        return []
    value_r, decimals, pct, result_text = result
    steps = []
    for k, seg in enumerate(segments[:-1]):
        if k == 0:
            tail = _longest_valid_tail(seg)
            if tail and len(tail) < len(seg) and seg[len(seg) - len(tail) - 1].kind == "fn":
                continue  # "√-4": the root could not be taken, and what follows it is not the claim
            seg = tail
        parsed = _evaluate(seg) if seg else None
        computes = any(t.kind in ("pct", "fn") or (t.kind == "op" and i > 0) for i, t in enumerate(seg))
        if parsed is None or not computes:
            continue  # not an expression (a number, or a signed number): not a step
        value = parsed[0]  # None: a division by zero, never right
        right = value is not None and _matches(value, value_r, decimals, pct)
        steps.append(Step(text=f"{line[seg[0].start:seg[-1].end]} = {result_text}", result=result_text, right=right))
    return steps


def _matches(value: Fraction, written: Fraction, decimals: int, pct: bool) -> bool:
    targets = [written / 100, written] if pct else [written]
    if decimals == 0:
        return any(value == t for t in targets)
    tol = Fraction(5, 10 ** (decimals + 1))
    # A per-cent RESULT rounded to d decimals: the value x 100, or as written.
    return any(abs(v - written) <= tol for v in ([value * 100, value] if pct else [value]))


def _plain_number(seg: list[Tok]) -> tuple[Fraction, int, bool, str] | None:
    """(value, decimals written, per cent?, text) of a RESULT: [$] [-] [$] NUM [/ NUM | %]."""
    kinds = [t.kind for t in seg]
    i = 0
    negative = False
    if i < len(kinds) and kinds[i] == "cur":
        i += 1
    if i < len(kinds) and kinds[i] == "op" and seg[i].text in "-\u2212":
        negative, i = True, i + 1
    if i < len(kinds) and kinds[i] == "cur":
        i += 1
    if i >= len(kinds) or kinds[i] != "num":
        return None
    num = seg[i]
    value, i = _num(num.text), i + 1
    decimals = len(num.text.split(".")[1]) if "." in num.text else 0
    pct = False
    if i + 1 < len(kinds) and kinds[i] == "op" and seg[i].text == "/" and kinds[i + 1] == "num" and "." not in seg[i + 1].text:
        den = _num(seg[i + 1].text)
        if den == 0:
            return None
        value, i = value / den, i + 2
    elif i < len(kinds) and kinds[i] == "pct":
        pct, i = True, i + 1
    if i != len(kinds):
        return None
    text = "".join(t.text if k == 0 or seg[k - 1].end == t.start else f" {t.text}" for k, t in enumerate(seg))
    return (-value if negative else value), decimals, pct, text


def _longest_valid_tail(seg: list[Tok]) -> list[Tok]:
    for start in range(len(seg)):
        if _evaluate(seg[start:]) is not None:
            return seg[start:]
    return []


def _num(text: str) -> Fraction:
    return Fraction(text.replace(",", ""))


# --- tokens and a small recursive-descent evaluator ----------------------------------------------

def _tokens(line: str) -> list[Tok]:
    raw = [Tok(m.lastgroup, m.group(), m.start(), m.end()) for m in _TOKEN.finditer(line) if m.lastgroup != "space"]
    out = []
    for k, t in enumerate(raw):
        prev = raw[k - 1] if k else None
        nxt = raw[k + 1] if k + 1 < len(raw) else None
        if t.kind == "word" and t.text in ("x", "X") and prev and nxt and prev.kind in ("num", "rp", "pct") \
                and nxt.kind in ("num", "lp", "cur") and prev.end < t.start:
            t = Tok("op", "×", t.start, t.end)  # "0.2 x 50": times, not a variable
        elif t.kind == "word" and t.text == "sqrt" and nxt and nxt.kind == "lp":
            t = Tok("fn", "√", t.start, t.end)  # "sqrt(576)": the square root
        elif t.kind == "word" and t.text == "of" and prev and prev.kind == "pct":
            t = Tok("of", t.text, t.start, t.end)  # "15% of 400"
        elif t.kind == "num" and prev and prev.kind == "word" and prev.end == t.start:
            t = Tok("word", t.text, t.start, t.end)  # "x2", "a1": part of a name
        elif t.kind == "word" and prev and prev.kind == "num" and prev.end == t.start:
            out[-1] = Tok("word", prev.text + t.text, prev.start, t.end)  # "2x": a term with a variable
            continue
        out.append(t)
    return out


class _Parser:
    """expr := term (+|- term)*; term := unary ((×|*|x|/|÷) unary)*; unary := (-|+) unary | power;
    power := atom (^ unary)?; atom := [$] NUM [% [of unary]] | ( expr ) | √ atom. Values are exact
    Fractions (a square root only of a perfect square; others are not checkable); None marks a
    division by zero (the claim is wrong, not unreadable)."""

    def __init__(self, toks: list[Tok]):
        self.toks, self.i = toks, 0

    def peek(self, *kinds_or_ops: str) -> bool:
        if self.i >= len(self.toks):
            return False
        t = self.toks[self.i]
        return t.kind in kinds_or_ops or (t.kind == "op" and t.text in kinds_or_ops)

    def take(self) -> Tok:
        self.i += 1
        return self.toks[self.i - 1]

    def expr(self):
        value = self.term()
        while self.peek("+", "-", "\u2212"):
            op, rhs = self.take().text, self.term()
            value = None if value is None or rhs is None else value + rhs if op == "+" else value - rhs
        return value

    def term(self):
        value = self.unary()
        while self.peek("×", "*", "/", "÷"):
            op, rhs = self.take().text, self.unary()
            if value is None or rhs is None:
                value = None
            elif op in "×*":
                value = value * rhs
            else:
                value = None if rhs == 0 else value / rhs
        return value

    def unary(self):
        if self.peek("-", "\u2212", "+"):
            op, value = self.take().text, self.unary()
            return value if value is None or op == "+" else -value
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek("^"):
            self.take()
            exp = self.unary()
            if base is None or exp is None:
                return None
            if exp.denominator != 1 or abs(exp) > _MAX_EXPONENT or (base == 0 and exp < 0):
                raise ValueError("not a checkable power")
            return base ** int(exp)
        return base

    def atom(self):
        if self.peek("fn"):
            self.take()
            return _sqrt(self.atom())
        if self.peek("lp"):
            self.take()
            value = self.expr()
            if not self.peek("rp"):
                raise ValueError("unclosed (")
            self.take()
            return value
        if self.peek("cur"):
            self.take()
        if not self.peek("num"):
            raise ValueError("expected a number")
        value = _num(self.take().text)
        if self.peek("pct"):
            self.take()
            value = value / 100
            if self.peek("of"):
                self.take()
                rhs = self.unary()
                return None if rhs is None else value * rhs
        return value


def _sqrt(value: Fraction | None) -> Fraction | None:
    if value is None:
        return None
    if value < 0:
        raise ValueError("the square root of a negative number")
    num, den = math.isqrt(value.numerator), math.isqrt(value.denominator)
    if num * num != value.numerator or den * den != value.denominator:
        raise ValueError("not a perfect square: no exact value to check against")
    return Fraction(num, den)


def _evaluate(toks: list[Tok]) -> tuple[Fraction | None] | None:
    """(value,) of a whole token list that is one expression (value None: a division by zero), or
    None when it is not one."""
    if not toks:
        return None
    p = _Parser(toks)
    try:
        value = p.expr()
    except (ValueError, IndexError):
        return None
    return (value,) if p.i == len(toks) else None
