"""The counting rules the counting traces share (a helper: no SECTION): running products, n!,
C(n, k) as ordered picks divided by the orders, and the closing line, which checks the explained
count against the brute-force one. All arithmetic is phrased by gen.steps, so every claim is small."""

from __future__ import annotations

import math

from gen.common import num
from gen.steps import say


def product(factors: list[int]) -> tuple[str, int]:
    """'5 × 4 = 20; 20 × 3 = 60': the running product, each step broken down by gen.steps."""
    acc, parts = factors[0], []
    for f in factors[1:]:
        parts.append(say(acc, '×', f))
        acc *= f
    return "; ".join(parts) if parts else f"{acc}", acc


def fall(n: int, k: int) -> list[int]:
    """The k factors n, n - 1, ... of the ordered picks."""
    return list(range(n, n - k, -1))


def fact(n: int) -> tuple[str, int]:
    """n! as a running product: the orders of n things."""
    return product(list(range(n, 1, -1))) if n > 1 else ("1", 1)


def choose(n: int, k: int, what: str) -> tuple[list[str], int]:
    """Lines explaining C(n, k) as ordered picks divided by the orders of one group."""
    lines = []
    if k > n - k:
        lines.append(f"Choosing the {k} is the same as choosing the {n - k} left out.")
        k = n - k
    if k == 0:
        return lines + ["There is exactly 1 way."], 1
    if k == 1:
        return lines + [f"There are {n} ways to choose 1 of the {n} {what}."], n
    text, ordered = product(fall(n, k))
    orders = math.factorial(k)
    lines.append(f"Picking {k} of the {n} {what} one after another: {text}.")
    lines.append(f"Each group of {k} turns up in {' × '.join(map(str, fall(k, k)))} = {orders} orders, "
                 f"so divide: {say(ordered, '/', orders)}.")
    return lines, ordered // orders


def done(lines: list[str], count: int, enumerated: int) -> tuple[list[str], str]:
    assert count == enumerated, (count, enumerated, lines)  # the explained formula = the brute force
    return lines + [f"So the answer is {count}."], num(count)
