"""What every generator module shares: canonical number text, names and items, the seeded draws.

A category generator is `gen(rng, difficulty) -> (question, [trace lines], answer)`; each module of
this package that defines `CATEGORIES` (name -> generator) and `SECTION` (its eval section) is a
v3 domain (`generate_data.py` finds them)."""

from __future__ import annotations

import random
import re
from fractions import Fraction

DIFFICULTIES = ("easy", "medium", "hard")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
NAMES = ("Ava", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Isla", "Jamal", "Kira",
         "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor")
ITEMS = (("apples", "apple"), ("pencils", "pencil"), ("stickers", "sticker"), ("marbles", "marble"),
         ("cookies", "cookie"), ("books", "book"), ("cards", "card"), ("shells", "shell"))



def num(x) -> str:
    """Canonical text of a number: 42, -7, 7.5 (terminating decimals, exact at any size), 3/8 (otherwise)."""
    x = Fraction(x)
    if x.denominator == 1:
        return str(x.numerator)
    d, places = x.denominator, 0
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d != 1:
        return f"{x.numerator}/{x.denominator}"
    while (x * 10**places).denominator != 1:
        places += 1
    whole, part = divmod(abs(x.numerator * 10**places // x.denominator), 10**places)
    return f"{'-' if x < 0 else ''}{whole}.{str(part).rjust(places, '0')}"


def frac(x: Fraction) -> str:
    """A probability, always as a reduced fraction (or 0/1)."""
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def par(x) -> str:
    """A number as a right-hand operand: negatives in parentheses, "5 + (-7)"."""
    return f"({num(x)})" if x < 0 else num(x)


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def pick(rng: random.Random, options):
    return options[rng.randrange(len(options))]


def norm(s: str) -> str:
    """A question as the overlap checks compare it: lower case, punctuation to spaces, spaces collapsed."""
    return " ".join(re.sub(r"[^\w\s]", " ", s.lower()).split())
