"""The v3 quantitative domain (training/data/gen/quantitative.py): an independent solver per category
reads each committed question's text (the expression, or the story's numbers by its template) and
re-derives the answer with exact Fractions; every training trace has a checked arithmetic step."""

import ast
import re
from collections import Counter
from fractions import Fraction

import pytest
from v3_data import records, rows

from tunix_nb.scoring import check_trace

CATEGORIES = ("arithmetic", "percentages", "word_problems", "unit_conversion")
F = Fraction


def _solve_by_template(question: str, templates: list[tuple[str, object]]) -> Fraction:
    """The one template whose regex finds the question's numbers, applied to them."""
    found = [(fn, m) for pattern, fn in templates if (m := re.search(pattern, question))]
    assert len(found) == 1, (question, len(found))
    fn, m = found[0]
    return F(fn(*(F(g) for g in m.groups())))


# --- arithmetic: the expression, evaluated by Python's own parser over Fractions -----------------

def _eval(node) -> Fraction:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return F(node.value)
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left), _eval(node.right)
        ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b, ast.Div: lambda: a / b}
        return ops[type(node.op)]()
    raise AssertionError(f"not arithmetic: {ast.dump(node)}")


def solve_arithmetic(question: str) -> Fraction:
    runs = re.findall(r"[\d(][\d\s+\-×÷*/()]*[\d)]", question)
    expr = max(runs, key=len).replace("×", "*").replace("÷", "/")
    assert re.search(r"[-+*/]", expr), question
    return _eval(ast.parse(expr, mode="eval"))


# --- percentages ------------------------------------------------------------------------------------

def _pct(p, n):
    return p * n / 100


PERCENT_TEMPLATES = [
    (r"What is (\d+)% of (\d+)\?", _pct),
    (r"Find (\d+) percent of (\d+)\.", _pct),
    (r"A club has (\d+) members; (\d+)% are new", lambda n, p: _pct(p, n)),
    (r"Of \w+'s (\d+) \w+, (\d+)% are damaged", lambda n, p: _pct(p, n)),
    (r"What percent of (\d+) is (\d+)\?", lambda whole, part: part / whole * 100),
    (r"scores (\d+) out of (\d+)\.", lambda part, whole: part / whole * 100),
    (r"(\d+) of (\d+) \w+ are broken", lambda part, whole: part / whole * 100),
    (r"A \$(\d+) \w+ rises (\d+)% in price", lambda n, p: n + _pct(p, n)),
    (r"\$(\d+) rent goes up (\d+)%", lambda n, p: n + _pct(p, n)),
    (r"A town of (\d+) people grows by (\d+)%", lambda n, p: n + _pct(p, n)),
    (r"A \$(\d+) \w+ is (\d+)% off", lambda n, p: n - _pct(p, n)),
    (r"buys a \$(\d+) \w+ at (\d+)% off", lambda n, p: n - _pct(p, n)),
    (r"The \$(\d+) \w+ is reduced by (\d+)%", lambda n, p: n - _pct(p, n)),
    (r"A \$(\d+) \w+ rises (\d+)%, then falls (\d+)%", lambda n, p, q: n * (100 + p) / 100 * (100 - q) / 100),
    (r"\$(\d+) in shares gains (\d+)%, then loses (\d+)%", lambda n, p, q: n * (100 + p) / 100 * (100 - q) / 100),
    (r"marks a \$(\d+) \w+ up (\d+)%, then sells it (\d+)% off", lambda n, p, q: n * (100 + p) / 100 * (100 - q) / 100),
    (r"A \$(\d+) dinner for (\d+) gets a (\d+)% tip", lambda n, k, p: (n + _pct(p, n)) / k),
    (r"and (\d+) friends split a \$(\d+) bill plus (\d+)% tip", lambda others, n, p: (n + _pct(p, n)) / (others + 1)),
    (r"The bill is \$(\d+) plus a (\d+)% tip, shared by (\d+) people", lambda n, p, k: (n + _pct(p, n)) / k),
    (r"earns \$(\d+) a month, saves (\d+)% for (\d+) months, "
     r"then spends \$(\d+)", lambda n, p, k, c: _pct(p, n) * k - c),
    (r"saves (\d+)% of a \$(\d+) wage\. After (\d+) months \w+ spends \$(\d+)", lambda p, n, k, c: _pct(p, n) * k - c),
    (r"For (\d+) months \w+ saves (\d+)% of \$(\d+) pay, then spends \$(\d+)", lambda k, p, n, c: _pct(p, n) * k - c),
]


# --- word problems ------------------------------------------------------------------------------------

def _spend(money, k1, p1, k2, p2):
    return money - k1 * p1 - k2 * p2


WORD_TEMPLATES = [
    (r"buys (\d+) packs of (\d+) \w+ and gives (\d+) to", lambda k, m, g: k * m - g),
    (r"has (\d+) boxes of (\d+) \w+ and gives away (\d+)\.", lambda k, m, g: k * m - g),
    (r"There are (\d+) bags with (\d+) \w+ each\. \w+ takes (\d+)\.", lambda k, m, g: k * m - g),
    (r"buys (\d+) \w+ at \$(\d+) each with a \$(\d+) note", lambda k, p, bill: bill - k * p),
    (r"(\d+) \w+ cost \$(\d+) each\. \w+ pays \$(\d+)\.", lambda k, p, bill: bill - k * p),
    (r"pays \$(\d+) for (\d+) \w+ at \$(\d+) apiece", lambda bill, k, p: bill - k * p),
    (r"has (\d+) \w+; \w+ has (\d+) more\.", lambda x, y: x + x + y),
    (r"collected (\d+) \w+ and \w+ (\d+) more than that", lambda x, y: x + x + y),
    (r"owns (\d+) more \w+ than \w+, who owns (\d+)\.", lambda y, x: x + x + y),
    (r"buys (\d+) \w+ at \$(\d+) each and (\d+) \w+ at \$(\d+) each, paying \$(\d+)\.",
     lambda k1, p1, k2, p2, pay: _spend(pay, k1, p1, k2, p2)),
    (r"gets (\d+) \w+ for \$(\d+) each and (\d+) \w+ for \$(\d+) each, paying \$(\d+)\.",
     lambda k1, p1, k2, p2, pay: _spend(pay, k1, p1, k2, p2)),
    (r"pays \$(\d+) for (\d+) \w+ \(\$(\d+) each\) and (\d+) \w+ \(\$(\d+) each\)\. What is the change",
     lambda pay, k1, p1, k2, p2: _spend(pay, k1, p1, k2, p2)),
    (r"has \$(\d+), saves \$(\d+) a week for (\d+) weeks, then spends \$(\d+)\.", lambda h, s, w, c: h + s * w - c),
    (r"Starting with \$(\d+), \w+ adds \$(\d+) each week for (\d+) weeks and pays \$(\d+)",
     lambda h, s, w, c: h + s * w - c),
    (r"had \$(\d+) in the bank, deposited \$(\d+) weekly for (\d+) weeks, "
     r"and withdrew \$(\d+)", lambda h, s, w, c: h + s * w - c),
    (r"has (\d+) \w+ and buys (\d+) packs of (\d+), "
     r"then shares all equally among (\d+) friends", lambda x, k, m, f: (x + k * m) / f),
    (r"owns (\d+) \w+ and gets (\d+) packs of (\d+)\. "
     r"Split evenly into (\d+) boxes", lambda x, k, m, f: (x + k * m) / f),
    (r"With (\d+) \w+ plus (\d+) bags of (\d+), "
     r"\w+ deals them equally to (\d+) players", lambda x, k, m, f: (x + k * m) / f),
    (r"has (\d+) \w+\. \w+ has (\d+) times as many\. \w+ has (\d+) fewer than", lambda x, k, y: x + 2 * k * x - y),
    (r"collected (\d+) \w+, \w+ (\d+) times as many, and \w+ (\d+) fewer", lambda x, k, y: x + 2 * k * x - y),
    (r"owns (\d+) times as many \w+ as \w+, who owns (\d+); \w+ owns (\d+) fewer", lambda k, x, y: x + 2 * k * x - y),
    (r"shop has (\d+) \w+, sells (\d+) on Monday and (\d+) on Tuesday, then gets (\d+) boxes of (\d+)\.",
     lambda s, a, b, k, m: s - a - b + k * m),
    (r"holds (\d+) \w+\. (\d+) sell in the morning, (\d+) later, then (\d+) crates of (\d+) arrive",
     lambda s, a, b, k, m: s - a - b + k * m),
    (r"keeps (\d+) \w+, hands out (\d+) one day and (\d+) the next, then unpacks (\d+) cartons of (\d+)\.",
     lambda s, a, b, k, m: s - a - b + k * m),
    (r"has \$(\d+), buys (\d+) \w+ at \$(\d+) each and (\d+) \w+ at \$(\d+) each, and splits the rest into (\d+) jars",
     lambda money, k1, p1, k2, p2, f: _spend(money, k1, p1, k2, p2) / f),
    (r"With \$(\d+), \w+ buys (\d+) \w+ \(\$(\d+) each\) and (\d+) \w+ \(\$(\d+) each\), "
     r"then shares the rest among (\d+) cousins",
     lambda money, k1, p1, k2, p2, f: _spend(money, k1, p1, k2, p2) / f),
    (r"starts with \$(\d+), buys (\d+) \w+ for \$(\d+) apiece and (\d+) \w+ for \$(\d+) apiece\. "
     r"\w+ splits the rest into (\d+) envelopes",
     lambda money, k1, p1, k2, p2, f: _spend(money, k1, p1, k2, p2) / f),
]


# --- unit conversion: every amount in base units, summed (or counted), in the unit asked for ------------

BASE = {"kilometer": 1000, "meter": 1, "centimeter": F(1, 100), "hour": 60, "minute": 1, "kilogram": 1000,
        "gram": 1, "dollar": 100, "cent": 1}
DIMENSION = {"kilometer": "m", "meter": "m", "centimeter": "m", "hour": "t", "minute": "t", "kilogram": "g",
             "gram": "g", "dollar": "$", "cent": "$"}
UNIT = r"(kilometers?|meters?|centimeters?|hours?|minutes?|kilograms?|grams?|dollars?|cents?)\b"


def solve_unit_conversion(question: str) -> Fraction:
    amounts = [(F(n), u.rstrip("s")) for n, u in re.findall(r"(\d+(?:\.\d+)?) " + UNIT, question)]
    amounts += [(F(n), "dollar") for n in re.findall(r"\$(\d+(?:\.\d+)?)", question)]
    # The unit asked for is the one named without a number in front of it.
    targets = [m.group(1).rstrip("s") for m in re.finditer(r"(?<![\d.] )\b" + UNIT, question)]
    assert len(set(targets)) == 1 and amounts, question
    target = targets[0]
    assert {DIMENSION[u] for _, u in amounts} == {DIMENSION[target]}, question
    total = sum(n * BASE[u] for n, u in amounts)
    count = re.search(r"(\d+) (?:laps|ribbons|lessons|bags|stamps)\b", question)
    if count:  # "5 laps of 350 meters each": one amount, that many times
        assert len(amounts) == 1, question
        total *= int(count.group(1))
    return total / BASE[target]


SOLVERS = {
    "arithmetic": solve_arithmetic,
    "percentages": lambda q: _solve_by_template(q, PERCENT_TEMPLATES),
    "word_problems": lambda q: _solve_by_template(q, WORD_TEMPLATES),
    "unit_conversion": solve_unit_conversion,
}


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_answer_matches_an_independent_solution(category):
    rows = records(category)
    assert len(rows) >= 150
    for rid, question, answer, _ in rows:
        assert F(answer) == SOLVERS[category](question), (rid, question, answer)


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_training_trace_has_a_checked_step(category):
    train = [r for r in rows(category) if r["split"] == "train"]
    assert train
    for r in train:
        t = check_trace(f"<reasoning>{r['reasoning']}</reasoning><answer>{r['answer']}</answer>", r["answer"])
        assert t.ok is True, (r["id"], t.errors, r["reasoning"])  # every trace here computes: None would mean no step


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_difficulty_has_40_training_rows(category):
    counts = Counter(r["difficulty"] for r in rows(category) if r["split"] == "train")
    assert all(counts[d] >= 40 for d in ("easy", "medium", "hard")), counts


def test_the_solvers_read_literal_questions():
    # Guards the solvers themselves (a solver that agreed with anything would pass the tests above).
    assert solve_arithmetic("Ava enters (12 + 8) × 3 - 36 ÷ 4 on a calculator. What does it show?") == 51
    assert SOLVERS["percentages"]("Answer in digits. A $400 lamp rises 15%, then falls 20%. "
                                  "What does it cost now, in dollars?") == 368
    assert SOLVERS["word_problems"]("Give just the number. Ben has 3 boxes of 12 cards and gives away 5. "
                                    "How many are left?") == 31
    assert solve_unit_conversion("Add 1 hour 45 minutes to 2 hours 30 minutes and give the total in hours.") == F(17, 4)
    assert solve_unit_conversion("Ava has 4 stamps of 35 cents each. How many dollars altogether?") == F(7, 5)
    assert solve_unit_conversion("How many cents are in $4.35?") == 435
