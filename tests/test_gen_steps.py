"""The place-value step helpers of the v3 traces (training/data/gen/steps.py): literal breakdowns, and
over many seeded random operands, every claim is right by the real trace checker, small enough for a
small model (no multi-digit × multi-digit, no adding two numbers of three non-zero digits each), and
the returned result is the exact one."""

import random
import re
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from tunix_nb.scoring import check_trace
from tunix_nb.traces import line_steps

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "training" / "data"))
from gen import steps  # noqa: E402


def _text(x: Fraction) -> str:
    """A terminating decimal as plain text (our own, not the helpers' formatter)."""
    d = Decimal(x.numerator) / Decimal(x.denominator)
    return format(d.normalize(), "f") if d != d.to_integral_value() else str(int(d))


@pytest.mark.parametrize("fn, a, b, lines", [
    (steps.add, 39, 56, ["39 + 56: 30 + 50 = 80, 9 + 6 = 15, 80 + 15 = 95."]),
    (steps.add, 47, 8, ["47 + 8 = 55."]),
    (steps.add, 347, 8, ["347 + 8 = 355."]),
    (steps.add, 4995, 8, ["4995 + 8: 5 + 8 = 13, 4990 + 13 = 5003."]),
    (steps.add, 370600, 872, ["370600 + 872: 600 + 800 = 1400, 370000 + 1400 = 371400, 371400 + 72 = 371472."]),
    (steps.add, 9000.7, 146.5, ["9000.7 + 146.5 = 9147.2."]),
    (steps.add, 35.47, 3530, ["35.47 + 3530: 30 + 30 = 60, 3500 + 60 = 3560, 3560 + 5.47 = 3565.47."]),
    (steps.sub, 83, 26, ["83 - 26: 83 - 20 = 63, 63 - 6 = 57."]),
    (steps.sub, 57, 26, ["57 - 26 = 31."]),
    (steps.sub, 70, 10.5, ["70 - 10.5: 70 - 10 = 60, 60 - 0.5 = 59.5."]),
    (steps.sub, 20, 35, ["20 - 35: 35 is the bigger, so work out 35 - 20 and make it negative.",
                         "35 - 20 = 15.", "So 20 - 35 = -15."]),
    (steps.mul, 47, 6, ["47 × 6: 40 × 6 = 240, 7 × 6 = 42, 240 + 42 = 282."]),
    (steps.mul, 40, 30, ["40 × 30 = 1200."]),
    (steps.mul, 2.5, 4, ["2.5 × 4: 2 × 4 = 8, 0.5 × 4 = 2, 8 + 2 = 10."]),
    (steps.mul, 0.5, 2.5, ["0.5 × 2.5: 0.5 × 2 = 1, 0.5 × 0.5 = 0.25, 1 + 0.25 = 1.25."]),
    (steps.mul, 47, 36, ["47 × 36: split 36 into 30 and 6.",
                         "47 × 30: 40 × 30 = 1200, 7 × 30 = 210, 1200 + 210 = 1410.",
                         "47 × 6: 40 × 6 = 240, 7 × 6 = 42, 240 + 42 = 282.",
                         "1410 + 282: 400 + 200 = 600, 10 + 80 = 90, 1000 + 600 = 1600, 1600 + 90 = 1690, "
                         "1690 + 2 = 1692.",
                         "So 47 × 36 = 1692."]),
    (steps.mul, 12, 4, ["12 × 4 = 48."]),
    (steps.div, 432, 6, ["432 / 6: 6 × 70 = 420, 432 - 420 = 12, 12 / 6 = 2, 70 + 2 = 72."]),
    (steps.div, 1728, 6, ["1728 / 6: 6 × 200 = 1200, 1728 - 1200 = 528, 6 × 80 = 480.",
                          "528 - 480: 528 - 400 = 128, 128 - 80 = 48.",
                          "1728 / 6: 48 / 6 = 8, 200 + 80 = 280, 280 + 8 = 288."]),
    (steps.div, 560, 8, ["560 / 8 = 70."]),
    (steps.div, 0, 7, ["0 / 7 = 0."]),
    (steps.div, 69, 3, ["69 / 3: 3 × 20 = 60, 69 - 60 = 9, 9 / 3 = 3, 20 + 3 = 23."]),
    (steps.div, 435, 100, ["435 / 100 = 4.35."]),
    (steps.percent, 15, 400, ["15% of 400: 400 / 100 = 4.", "4 × 15: 4 × 10 = 40, 4 × 5 = 20, 40 + 20 = 60.",
                              "So 15% of 400 = 60."]),
    (steps.percent, 20, 300, ["20% of 300: 300 / 100 = 3, 3 × 20 = 60."]),
    (steps.percent, 25, 480, ["25% of 480: 100 / 25 = 4.",
                              "480 / 4: 4 × 100 = 400, 480 - 400 = 80, 80 / 4 = 20, 100 + 20 = 120.",
                              "So 25% of 480 = 120."]),
    (steps.percent, 50, 86, ["50% of 86: 100 / 50 = 2.", "86 / 2: 2 × 40 = 80, 86 - 80 = 6, 6 / 2 = 3, 40 + 3 = 43.",
                             "So 50% of 86 = 43."]),
    (steps.percent, 15, 70, ["70 × 15: 70 × 10 = 700, 70 × 5 = 350, 700 + 350 = 1050.",
                             "15% of 70: 1050 / 100 = 10.5."]),
])
def test_literal_breakdowns(fn, a, b, lines):
    assert fn(a, b)[0] == lines


def _nonzero_digits(text: str) -> int:
    return sum(1 for c in text if c in "123456789")


def _small(claim: str) -> bool:
    """Our own bound on one claim: one fact-sized operation (independent of the helpers' rules)."""
    m = re.fullmatch(r"(\S+) ([-+×/]) (\S+) = (\S+)", claim)
    if m is None:
        return False
    a, op, b, r = m.groups()
    pow10 = lambda t: re.fullmatch(r"10*|0\.0*1", t) is not None  # noqa: E731
    if op == "+":  # or digits put side by side: 3560 + 5.47 = 3565.47
        return min(_nonzero_digits(a), _nonzero_digits(b)) <= 2 \
            or _nonzero_digits(r) == _nonzero_digits(a) + _nonzero_digits(b)
    if op == "-":
        return _nonzero_digits(b) <= 2
    if op == "×":
        return pow10(a) or pow10(b) or "0" in (a, b) or min(_nonzero_digits(a), _nonzero_digits(b)) <= 1 \
            and max(_nonzero_digits(a), _nonzero_digits(b)) <= 2
    return pow10(b) or a == "100" or _nonzero_digits(b) == 1 and _nonzero_digits(r) == 1


def _check(lines: list[str], result: Fraction, want: Fraction) -> None:
    assert result == want
    text = "\n".join(lines)
    t = check_trace(f"<reasoning>{text}</reasoning><answer>{_text(want)}</answer>", _text(want))
    assert t.ok is True, (t.errors, text)
    for line in lines:
        if line.startswith("So "):  # a restatement of what the lines above worked out
            continue
        for step in line_steps(line):
            assert _small(step.text), (step.text, text)


def _operand(rng: random.Random) -> int:
    return rng.randint(0, 10 ** rng.randint(1, 4))


def test_add_sub_mul_over_random_operands():
    rng = random.Random(1)
    for _ in range(400):
        a, b = _operand(rng), _operand(rng)
        _check(*steps.add(a, b), Fraction(a + b))
        _check(*steps.sub(a, b), Fraction(a - b))
        x, y = rng.randint(0, 10 ** rng.randint(1, 3)), rng.randint(0, 10 ** rng.randint(1, 3))
        _check(*steps.mul(x, y), Fraction(x * y))


def test_decimals_over_random_operands():
    rng = random.Random(2)
    for _ in range(200):
        a, b = Fraction(_operand(rng), 10 ** rng.randint(0, 2)), Fraction(_operand(rng), 10 ** rng.randint(0, 2))
        _check(*steps.add(a, b), a + b)
        _check(*steps.sub(a, b), a - b)
        k = rng.randint(2, 99)
        _check(*steps.mul(a, k), a * k)


def test_div_over_random_operands():
    rng = random.Random(3)
    for _ in range(200):
        b = rng.randint(1, 9) * 10 ** rng.randint(0, 2)
        q = rng.randint(1, 3000)
        _check(*steps.div(b * q, b), Fraction(q))
        a = _operand(rng)
        _check(*steps.div(a, 100), Fraction(a, 100))
        c = Fraction(rng.randint(1, 999), 10)  # a decimal dividend: 10.5 / 3
        _check(*steps.div(c * 3, 3), c)


def test_percent_over_random_operands():
    rng = random.Random(4)
    for _ in range(200):
        p, n = rng.randint(1, 99), rng.randint(1, 5000)
        _check(*steps.percent(p, n), Fraction(p * n, 100))


def test_calc_dispatches_by_symbol():
    for op, want in (("+", 15), ("-", 9), ("×", 36), ("*", 36), ("/", 4), ("÷", 4)):
        assert steps.calc(12, op, 3)[1] == want


@pytest.mark.parametrize("a, op, b, text", [
    (47, "×", 6, "47 × 6: 40 × 6 = 240, 7 × 6 = 42, 240 + 42 = 282"),
    (4.35, "+", 1, "4.35 + 1 = 5.35"),
    (20, "-", 35, "20 - 35: 35 is the bigger, so work out 35 - 20 and make it negative; 35 - 20 = 15; "
                  "so 20 - 35 = -15"),
    (1728, "÷", 6, "1728 / 6: 6 × 200 = 1200, 1728 - 1200 = 528, 6 × 80 = 480; "
                   "528 - 480: 528 - 400 = 128, 128 - 80 = 48; 1728 / 6: 48 / 6 = 8, 200 + 80 = 280, 280 + 8 = 288"),
])
def test_say_gives_the_lines_as_one_phrase(a, op, b, text):
    assert steps.say(a, op, b) == text
    assert steps.inline(steps.calc(a, op, b)[0]) == text


def test_division_it_cannot_break_down_is_refused():
    with pytest.raises(ValueError):
        steps.div(100, 7)  # not exact
    with pytest.raises(ValueError):
        steps.div(144, 12)  # a divisor with two non-zero digits
