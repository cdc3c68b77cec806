"""Place-value arithmetic for the v3 traces: no step asks a small model for a multi-digit result at once.

Every helper takes its operands and returns `(lines, result)`: trace lines whose every `EXPR = RESULT`
claim can be checked by one fact, and the exact result (a `Fraction`). The style:
- a small operation is one claim: a one-digit fact, possibly scaled by tens (`6 × 7 = 42`,
  `40 × 30 = 1200`, `560 / 8 = 70`), a shift by a power of ten (`435 / 100 = 4.35`), two-digit ± one-digit
  (`47 + 8 = 55`), or place-value work touching at most two columns with no carry (`240 + 42 = 282`);
- a bigger one gets a line headed by the operation, its claims by place value, in order:
  `39 + 56: 30 + 50 = 80, 9 + 6 = 15, 80 + 15 = 95.`
  `83 - 26: 83 - 20 = 63, 63 - 6 = 57.`
  `47 × 6: 40 × 6 = 240, 7 × 6 = 42, 240 + 42 = 282.`
  `432 / 6: 6 × 70 = 420, 432 - 420 = 12, 12 / 6 = 2, 70 + 2 = 72.`
  `20% of 300: 300 / 100 = 3, 3 × 20 = 60.`
- a step inside that needs its own breakdown gets its own line(s); the operation's header comes back
  for its remaining claims, and a closing `So A op B = R.` restates the result when the last line
  was such an inner one, so the result is always the last claim.

Operands are non-negative terminating decimals (ints, Fractions, or floats read by their text); a
subtraction may go negative. Division is exact, by a power of ten or by a whole divisor with one
non-zero digit (6, 40, 300); anything else raises ValueError.
"""

from __future__ import annotations

import re
from fractions import Fraction

from gen.common import num


# One fact each, so a percentage with such a rate is "divide by" (25% of 480 is 480 / 4).
PERCENT_PARTS = {50: 2, 25: 4, 20: 5, 10: 10, 5: 20}


# --- digits -------------------------------------------------------------------------------------

def _f(x) -> Fraction:
    """A number as an exact Fraction (a float by its shortest text: 0.7 is 7/10)."""
    return Fraction(str(x)) if isinstance(x, float) else Fraction(x)


def _scale(*xs: Fraction) -> int:
    """The power of ten that makes every x a whole number."""
    s = 1
    while any((x * s).denominator != 1 for x in xs):
        s *= 10
        if s > 10**12:
            raise ValueError(f"not terminating decimals: {xs}")
    return s


def _pieces(n: int) -> list[int]:
    """The non-zero place-value parts of n, highest first: 4305 -> [4000, 300, 5]."""
    out, p = [], 1
    while n:
        if n % 10:
            out.append(n % 10 * p)
        n, p = n // 10, p * 10
    return out[::-1]


def _digit(n: int, k: int) -> int:
    return n // 10**k % 10


def _strip(n: int) -> int:
    """n without its trailing zeros (the fact behind a scaled product: 4 for 400)."""
    while n and n % 10 == 0:
        n //= 10
    return n


def _is_pow10(x: Fraction) -> bool:
    """1, 10, 100, ... or 0.1, 0.01, ...: multiplying or dividing by it only shifts the digits."""
    whole, part = max(x.numerator, x.denominator), min(x.numerator, x.denominator)
    return x > 0 and part == 1 and re.fullmatch(r"10*", str(whole)) is not None


# --- when one claim is enough -------------------------------------------------------------------

def _small_add(a: int, b: int) -> bool:
    """One number with at most two non-zero digits, and at most one column where both have a digit
    (one carry at most) or two with no carry."""
    overlap = sum(1 for k in range(len(str(max(a, b)))) if _digit(a, k) and _digit(b, k))
    carries, c, x, y = 0, 0, a, b
    while x or y:
        c = int(x % 10 + y % 10 + c >= 10)
        carries, x, y = carries + c, x // 10, y // 10
    few = min(len(_pieces(a)), len(_pieces(b))) <= 2  # 370600 + 872 is not one claim
    return few and ((overlap <= 1 and carries <= 1) or (overlap <= 2 and carries == 0))


def _small_sub(a: int, b: int) -> bool:
    """One non-zero digit to take away, or two with no borrowing."""
    borrow = any(_digit(a, k) < _digit(b, k) for k in range(len(str(b))))
    return len(_pieces(b)) <= 1 or (len(_pieces(b)) == 2 and not borrow)


def _small_mul(a: int, b: int) -> bool:
    """A times-table fact scaled by tens, or two-digit × one-digit where no digit product carries."""
    x, y = sorted((_strip(a), _strip(b)))
    if x <= 9 and y <= 9:
        return True
    return x <= 9 and y <= 99 and all(int(d) * x < 10 for d in str(y))


# --- the work of one operation ------------------------------------------------------------------

class _Work:
    """The lines of one broken-down operation (see the module doc)."""

    def __init__(self, expr: str):
        self.expr, self.lines, self.cur = expr, [], []

    def say(self, text: str) -> None:
        self._flush()
        self.lines.append(text)

    def claim(self, text: str) -> None:
        self.cur.append(text)

    def inner(self, lines: list[str]) -> None:
        """An inner operation: inline when it is one claim, else its own lines."""
        if len(lines) == 1 and ":" not in lines[0] and not lines[0].startswith("So "):
            self.cur.append(lines[0].rstrip("."))
        else:
            self._flush()
            self.lines += lines

    def _flush(self) -> None:
        if self.cur:
            self.lines.append(f"{self.expr}: {', '.join(self.cur)}.")
            self.cur = []

    def done(self, result: Fraction) -> tuple[list[str], Fraction]:
        inner_last = not self.cur
        self._flush()
        if inner_last:
            self.lines.append(f"So {self.expr} = {num(result)}.")
        return self.lines, result


def _one(a, op: str, b, r) -> tuple[list[str], Fraction]:
    return [f"{num(a)} {op} {num(b)} = {num(r)}."], Fraction(r)


# --- the operations -----------------------------------------------------------------------------

def add(a, b) -> tuple[list[str], Fraction]:
    """a + b column by column: each column where both have a digit is a fact, then the parts are
    put together from the highest (digits that only one number has are carried along as they are)."""
    a, b = _f(a), _f(b)
    if a < 0 or b < 0:
        raise ValueError("add takes non-negative numbers")
    s = _scale(a, b)
    x, y = int(a * s), int(b * s)
    if _small_add(x, y):
        return _one(a, "+", b, a + b)
    w = _Work(f"{num(a)} + {num(b)}")
    parts: list[list] = []  # [value, whose]: "a", "b" or "both"
    for k in range(len(str(max(x, y))) - 1, -1, -1):
        da, db, p = _digit(x, k), _digit(y, k), 10**k
        if da and db:
            w.claim(f"{num(Fraction(da * p, s))} + {num(Fraction(db * p, s))} = {num(Fraction((da + db) * p, s))}")
            parts.append([(da + db) * p, "both"])
        elif da or db:
            whose = "a" if da else "b"
            if parts and parts[-1][1] == whose:
                parts[-1][0] += (da or db) * p  # 347 + 8: 340 stays one part
            else:
                parts.append([(da or db) * p, whose])
    acc = parts[0][0]
    for v, _ in parts[1:]:
        w.claim(f"{num(Fraction(acc, s))} + {num(Fraction(v, s))} = {num(Fraction(acc + v, s))}")
        acc += v
    return w.done(a + b)


def sub(a, b) -> tuple[list[str], Fraction]:
    """a - b by taking b away one place at a time, highest first: 83 - 20 = 63, 63 - 6 = 57."""
    a, b = _f(a), _f(b)
    if a < b:  # the other way round, then the sign
        lines, r = sub(b, a)
        return ([f"{num(a)} - {num(b)}: {num(b)} is the bigger, so work out {num(b)} - {num(a)} and make it negative."]
                + lines + [f"So {num(a)} - {num(b)} = {num(-r)}."]), -r
    s = _scale(a, b)
    x, y = int(a * s), int(b * s)
    if _small_sub(x, y):
        return _one(a, "-", b, a - b)
    w = _Work(f"{num(a)} - {num(b)}")
    acc = x
    for p in _pieces(y):
        w.claim(f"{num(Fraction(acc, s))} - {num(Fraction(p, s))} = {num(Fraction(acc - p, s))}")
        acc -= p
    return w.done(a - b)


def _split_parts(x: Fraction) -> list[Fraction]:
    s = _scale(x)
    return [Fraction(p, s) for p in _pieces(int(x * s))]


def mul(a, b) -> tuple[list[str], Fraction]:
    """a × b: a factor with one non-zero digit times each place-value part of the other, then the
    partial products added; two factors with several digits: split the one with fewer, each partial
    product worked out on its own line."""
    a, b = _f(a), _f(b)
    if a == 0 or b == 0 or _is_pow10(a) or _is_pow10(b):
        return _one(a, "×", b, a * b)
    sa, sb = _scale(a), _scale(b)
    if _small_mul(int(a * sa), int(b * sb)):
        return _one(a, "×", b, a * b)
    w = _Work(f"{num(a)} × {num(b)}")
    pa, pb = _split_parts(a), _split_parts(b)
    if len(pb) == 1:  # 47 × 6: split 47
        partials = [p * b for p in pa]
        for p in pa:
            w.claim(f"{num(p)} × {num(b)} = {num(p * b)}")
    elif len(pa) == 1:  # 6 × 47: split 47
        partials = [a * p for p in pb]
        for p in pb:
            w.claim(f"{num(a)} × {num(p)} = {num(a * p)}")
    else:  # 47 × 36: split the one with fewer parts (36 into 30 and 6)
        split_b = len(pb) <= len(pa)
        parts = pb if split_b else pa
        w.say(f"{num(a)} × {num(b)}: split {num(b if split_b else a)} into "
              f"{', '.join(num(p) for p in parts[:-1])} and {num(parts[-1])}.")
        partials = []
        for p in parts:
            lines, r = mul(a, p) if split_b else mul(p, b)
            w.inner(lines)
            partials.append(r)
    acc = partials[0]
    for p in partials[1:]:
        w.inner(add(acc, p)[0])
        acc += p
    return w.done(a * b)


def div(a, b) -> tuple[list[str], Fraction]:
    """a / b, exact. By a power of ten: a shift. By a divisor with one non-zero digit: take away the
    biggest `b × (digit, scaled)` that fits, one place at a time, then add up the quotient's parts."""
    a, b = _f(a), _f(b)
    if _is_pow10(b):
        return _one(a, "/", b, a / b)
    if b.denominator != 1 or len(_pieces(int(b))) != 1 or a < 0:
        raise ValueError(f"div({a}, {b}): the divisor must be a power of ten or have one non-zero digit")
    q = a / b
    s = _scale(a)
    if (q * s).denominator != 1:
        raise ValueError(f"{a} / {b} is not exact")
    if len(_pieces(int(q * s))) <= 1:  # a times-table fact backwards, scaled: 560 / 8 = 70
        return _one(a, "/", b, q)
    w = _Work(f"{num(a)} / {num(b)}")
    rem, parts = int(a * s), []
    for k in range(len(str(rem)), -1, -1):
        unit = int(b) * 10**k
        d = rem // unit
        if not d:
            continue
        chunk, part = d * unit, Fraction(d * 10**k, s)
        if chunk == rem:
            w.claim(f"{num(Fraction(rem, s))} / {num(b)} = {num(part)}")
        else:
            w.claim(f"{num(b)} × {num(part)} = {num(Fraction(chunk, s))}")
            w.inner(sub(Fraction(rem, s), Fraction(chunk, s))[0])
        rem -= chunk
        parts.append(part)
    acc = parts[0]
    for p in parts[1:]:
        w.inner(add(acc, p)[0])
        acc += p
    return w.done(q)


def calc(a, op: str, b) -> tuple[list[str], Fraction]:
    """One operation by its symbol: + - × * / ÷."""
    fn = {"+": add, "-": sub, "×": mul, "*": mul, "/": div, "÷": div}[op]
    return fn(a, b)


def inline(lines: list[str]) -> str:
    """One operation's lines as a phrase inside a sentence: joined by semicolons, without their full
    stops ("so" in small letters), e.g. "15 × 12: split 12 into 10 and 2; 15 × 2: ...; so 15 × 12 = 180"."""
    return "; ".join(line[:-1] if line.endswith(".") else line for line in lines).replace("; So ", "; so ")


def say(a, op: str, b) -> str:
    """calc(a, op, b) as one phrase (see inline): its last claim gives the result."""
    return inline(calc(a, op, b)[0])


def percent(p, n) -> tuple[list[str], Fraction]:
    """p% of n: by hundreds when n is whole hundreds (400 / 100 = 4, 4 × 15 = 60), by a known part
    when p is one (25% is a quarter: 480 / 4), else n × p, then / 100."""
    p, n = _f(p), _f(n)
    w = _Work(f"{num(p)}% of {num(n)}")
    if n % 100 == 0:
        lines, hundreds = div(n, 100)
        w.inner(lines)
        w.inner(mul(hundreds, p)[0])
    elif p in PERCENT_PARTS and (n / PERCENT_PARTS[int(p)]).denominator == 1:
        k = PERCENT_PARTS[int(p)]
        w.claim(f"100 / {num(p)} = {k}")
        w.inner(div(n, k)[0])
    else:
        lines, prod = mul(n, p)
        w.inner(lines)
        w.inner(div(prod, 100)[0])
    return w.done(p * n / 100)
