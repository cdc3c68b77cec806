"""The v2 datasets' eleven quantitative categories and the eval edge cases (unchanged: the v2 files
stay byte-identical). Not a v3 domain: it defines no `SECTION`."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from fractions import Fraction

from gen.common import ITEMS, MONTHS, NAMES, WEEKDAYS, frac, num, ordinal, par, pick

# --- the eleven categories: gen(rng, difficulty) -> (question, [steps], answer) ---------------

def arithmetic(rng, d):
    if d == "easy":
        a, b, c = rng.randint(10, 99), rng.randint(10, 99), rng.randint(1, 40)
        q = pick(rng, ("What is {a} + {b} - {c}?", "Compute {a} plus {b} minus {c}.",
                       "Calculate {a} + {b} - {c}.", "Find the value of {a} + {b} - {c}."))
        s1 = a + b
        return q.format(a=a, b=b, c=c), [f"First add: {a} + {b} = {s1}.", f"Then subtract: {s1} - {c} = {s1 - c}."], num(s1 - c)
    if d == "medium":
        a, b, c = rng.randint(12, 60), rng.randint(3, 19), rng.randint(10, 300)
        q = pick(rng, ("What is {a} * {b} + {c}?", "Compute {a} times {b}, plus {c}.",
                       "Calculate {a} x {b} + {c}.", "Evaluate {c} + {a} * {b}."))
        p = a * b
        return q.format(a=a, b=b, c=c), [f"Multiply first: {a} * {b} = {p}.", f"Then add: {p} + {c} = {p + c}."], num(p + c)
    a, b, d_, e = rng.randint(12, 45), rng.randint(11, 30), rng.randint(3, 12), rng.randint(2, 9)
    c = d_ * rng.randint(5, 40)
    q = pick(rng, ("What is {a} * {b} - {c} / {d} + {e}?", "Evaluate {a} * {b} - {c} / {d} + {e}.",
                   "Compute ({a} * {b}) - ({c} / {d}) + {e}.", "Find {a} times {b}, minus {c} divided by {d}, plus {e}."))
    p, r = a * b, c // d_
    return q.format(a=a, b=b, c=c, d=d_, e=e), [
        f"Multiply: {a} * {b} = {p}.", f"Divide: {c} / {d_} = {r}.",
        f"Subtract: {p} - {r} = {p - r}.", f"Add: {p - r} + {e} = {p - r + e}."], num(p - r + e)


def percentages(rng, d):
    if d == "easy":
        p = pick(rng, (10, 20, 25, 30, 40, 50, 60, 75, 5, 15))
        n = rng.randint(2, 40) * 20
        q = pick(rng, ("What is {p}% of {n}?", "Find {p} percent of {n}.", "Calculate {p}% of {n}.",
                       "How much is {p}% of {n}?"))
        r = Fraction(p, 100) * n
        return q.format(p=p, n=n), [f"{p}% means {p}/100.", f"{p}/100 * {n} = {num(r)}."], num(r)
    if d == "medium":
        price, p = rng.randint(4, 60) * 5, pick(rng, (10, 20, 25, 30, 40, 15))
        up = rng.random() < 0.5
        word = "increases" if up else "is discounted"
        q = pick(rng, ("A jacket costs ${price}. Its price {word} by {p}%. What is the new price in dollars?",
                       "A bike sells for ${price}. The price {word} by {p}%. What is the new price?",
                       "A game costs ${price} and its price {word} by {p} percent. What does it cost now, in dollars?",
                       "The price of a lamp is ${price}. It {word} by {p}%. Find the new price."))
        change = Fraction(p, 100) * price
        new = price + change if up else price - change
        sign = "+" if up else "-"
        return q.format(price=price, word=word, p=p), [
            f"The change is {p}% of {price}: {p}/100 * {price} = {num(change)}.",
            f"New price = {price} {sign} {num(change)} = {num(new)}."], num(new)
    if rng.random() < 0.5:
        whole = rng.randint(4, 40) * 5
        part = whole * pick(rng, (1, 2, 3, 4)) // 5
        q = pick(rng, ("What percent of {w} is {p}?", "{p} is what percent of {w}?",
                       "A class of {w} students has {p} who walk to school. What percent walk?",
                       "Out of {w} emails, {p} were spam. What percentage were spam?"))
        r = Fraction(part, whole) * 100
        return q.format(w=whole, p=part), [f"Divide the part by the whole: {part} / {whole} = {num(Fraction(part, whole))}.",
                                           f"Multiply by 100: {num(Fraction(part, whole))} * 100 = {num(r)}."], num(r)
    price, p1, p2 = rng.randint(4, 40) * 25, pick(rng, (10, 20, 40, 50)), pick(rng, (10, 20, 25, 50))
    q = pick(rng, ("A TV costs ${x}. It is marked up {a}% and then the new price is discounted {b}%. What is the final price in dollars?",
                   "A stock worth ${x} rises {a}% and then falls {b}%. What is it worth now?",
                   "A ${x} phone's price goes up {a}%, then down {b}%. Find the final price.",
                   "Start with ${x}. Increase by {a}%, then decrease the result by {b}%. What is the final amount?"))
    mid = price * Fraction(100 + p1, 100)
    fin = mid * Fraction(100 - p2, 100)
    return q.format(x=price, a=p1, b=p2), [
        f"After the {p1}% increase: {price} * {num(Fraction(100 + p1, 100))} = {num(mid)}.",
        f"After the {p2}% decrease: {num(mid)} * {num(Fraction(100 - p2, 100))} = {num(fin)}."], num(fin)


# (big unit, its singular, small unit, small units per big unit)
UNITS = (("kilometers", "kilometer", "meters", 1000), ("meters", "meter", "centimeters", 100),
         ("hours", "hour", "minutes", 60), ("kilograms", "kilogram", "grams", 1000),
         ("liters", "liter", "milliliters", 1000), ("feet", "foot", "inches", 12), ("yards", "yard", "feet", 3),
         ("minutes", "minute", "seconds", 60), ("days", "day", "hours", 24), ("gallons", "gallon", "quarts", 4))


def unit_conversion(rng, d):
    big, one, small, k = pick(rng, UNITS)
    if d == "easy":
        n = rng.randint(2, 30)
        q = pick(rng, ("How many {s} are in {n} {b}?", "Convert {n} {b} to {s}.", "{n} {b} is how many {s}?",
                       "Express {n} {b} in {s}."))
        return q.format(s=small, n=n, b=big), [f"1 {one} = {k} {small}.",
                                                 f"{n} * {k} = {n * k}."], num(n * k)
    if d == "medium":
        m, n = pick(rng, (1, 2, 4, 5, 10)), rng.randint(3, 90)
        while (k * n) % m or k * n // m <= k:
            n += 1
        x = k * n // m  # x / k = n / m: a terminating decimal
        q = pick(rng, ("Convert {x} {s} to {b}.", "How many {b} is {x} {s}?", "{x} {s} equals how many {b}?",
                       "Express {x} {s} in {b}."))
        r = Fraction(x, k)
        return q.format(x=x, s=small, b=big), [f"There are {k} {small} in one {one}.",
                                                 f"{x} / {k} = {num(r)}."], num(r)
    if rng.random() < 0.5:
        kmh = rng.randint(2, 40) * 18
        q = pick(rng, ("A car drives at {v} km/h. What is its speed in meters per second?",
                       "Convert {v} km/h to m/s.", "A train moves at {v} kilometers per hour. How many meters does it cover per second?",
                       "What is {v} km/h expressed in m/s?"))
        m, ms = kmh * 1000, Fraction(kmh * 1000, 3600)
        return q.format(v=kmh), [f"{kmh} km = {kmh} * 1000 = {m} m.", "1 hour = 3600 s.", f"{m} / 3600 = {num(ms)} m/s."], num(ms)
    h, mnt, s = rng.randint(1, 5), rng.randint(1, 59), rng.randint(1, 59)
    q = pick(rng, ("How many seconds are in {h} hours, {m} minutes and {s} seconds?",
                   "Convert {h} h {m} min {s} s to seconds.", "A race took {h} hours {m} minutes {s} seconds. How many seconds is that?",
                   "Express {h} hours, {m} minutes and {s} seconds in seconds."))
    t = h * 3600 + mnt * 60 + s
    return q.format(h=h, m=mnt, s=s), [f"{h} hours = {h} * 3600 = {h * 3600} s.", f"{mnt} minutes = {mnt} * 60 = {mnt * 60} s.",
                                        f"Total: {h * 3600} + {mnt * 60} + {s} = {t}."], num(t)


def word_problems(rng, d):
    name, (items, _) = pick(rng, NAMES), pick(rng, ITEMS)
    if d == "easy":
        boxes, per, away = rng.randint(3, 12), rng.randint(4, 15), rng.randint(2, 20)
        q = pick(rng, ("{n} has {b} boxes of {i} with {p} in each box. {n} gives away {a} {i}. How many {i} are left?",
                       "{n} buys {b} packs of {i}, each with {p} {i}, then loses {a}. How many {i} does {n} have now?",
                       "There are {b} bags with {p} {i} each. {a} {i} are eaten. How many {i} remain?",
                       "{n} collects {p} {i} a day for {b} days and then gives {a} to a friend. How many are left?"))
        tot = boxes * per
        return q.format(n=name, b=boxes, i=items, p=per, a=away), [
            f"Total {items}: {boxes} * {per} = {tot}.", f"After giving away {away}: {tot} - {away} = {tot - away}."], num(tot - away)
    if d == "medium":
        price, qty, paid = rng.randint(2, 15), rng.randint(3, 9), 0
        extra = rng.randint(1, 9)
        paid = (price * qty + extra) // 10 * 10 + 10
        q = pick(rng, ("{n} buys {q} {i} at ${p} each and a bag for ${e}. {n} pays with ${m}. How much change does {n} get?",
                       "{n} orders {q} {i} costing ${p} each plus ${e} for delivery, paying with a ${m} note. What is the change in dollars?",
                       "At a fair, {q} {i} cost ${p} each and a ticket costs ${e}. {n} hands over ${m}. How much money comes back?",
                       "{n} has ${m}, spends ${p} on each of {q} {i} and ${e} on a snack. How many dollars are left?"))
        cost = price * qty
        return q.format(n=name, q=qty, i=items, p=price, e=extra, m=paid), [
            f"The {items} cost {qty} * {price} = {cost} dollars.", f"With the extra: {cost} + {extra} = {cost + extra}.",
            f"Change: {paid} - {cost + extra} = {paid - cost - extra}."], num(paid - cost - extra)
    people, per_day, days, kept = rng.randint(2, 6), rng.randint(5, 25), rng.randint(3, 9), rng.randint(1, 15)
    total = per_day * days
    while (total - kept) % people:
        kept += 1
    q = pick(rng, ("{n} makes {p} {i} a day for {d} days, keeps {k}, and shares the rest equally among {m} friends. How many does each friend get?",
                   "A shop bakes {p} {i} every day for {d} days. It keeps {k} and splits the rest equally into {m} boxes. How many {i} per box?",
                   "{n} earns {p} {i} each day for {d} days, spends {k}, and divides what is left equally among {m} siblings. How many does each get?",
                   "Over {d} days {n} gathers {p} {i} per day. After setting aside {k}, the rest go equally to {m} classes. How many per class?"))
    share = (total - kept) // people
    return q.format(n=name, p=per_day, i=items, d=days, k=kept, m=people), [
        f"Made in total: {per_day} * {days} = {total}.", f"After keeping {kept}: {total} - {kept} = {total - kept}.",
        f"Shared among {people}: {total - kept} / {people} = {share}."], num(share)


def algebra(rng, d):
    x = rng.randint(-9, 20) if d != "easy" else rng.randint(1, 20)
    if d == "easy":
        a, b = rng.randint(2, 9), rng.randint(1, 30)
        c = a * x + b
        q = pick(rng, ("Solve for x: {a}x + {b} = {c}.", "Find x if {a}x + {b} = {c}.", "If {a}x + {b} = {c}, what is x?",
                       "What value of x satisfies {a}x + {b} = {c}?"))
        return q.format(a=a, b=b, c=c), [f"Subtract {b} from both sides: {a}x = {c} - {b} = {c - b}.",
                                          f"Divide by {a}: x = {c - b} / {a} = {x}."], num(x)
    if d == "medium":
        a, b = rng.randint(2, 7), rng.randint(1, 12)
        c = a * (x + b)
        q = pick(rng, ("Solve for x: {a}(x + {b}) = {c}.", "Find x when {a}(x + {b}) = {c}.", "If {a}(x + {b}) = {c}, what is x?",
                       "What is x if {a} times (x + {b}) equals {c}?"))
        return q.format(a=a, b=b, c=c), [f"Divide both sides by {a}: x + {b} = {c} / {a} = {c // a}.",
                                          f"Subtract {b}: x = {c // a} - {b} = {x}."], num(x)
    y = rng.randint(-5, 15)
    s, t = x + y, x - y
    if rng.random() < 0.5:
        q = pick(rng, ("Solve the system x + y = {s} and x - y = {t}. What is x?", "If x + y = {s} and x - y = {t}, find x.",
                       "Find x given that x + y = {s} and x - y = {t}.",
                       "Given x + y = {s} and x - y = {t}, what is the value of x?"))
        return q.format(s=s, t=t), [f"Add the equations: 2x = {s} + {par(t)} = {s + t}.", f"So x = {s + t} / 2 = {x}."], num(x)
    q = pick(rng, ("Solve the system x + y = {s} and x - y = {t}. What is y?", "If x + y = {s} and x - y = {t}, find y.",
                   "Given x + y = {s} and x - y = {t}, what is the value of y?",
                   "x and y satisfy x + y = {s} and x - y = {t}. Find y."))
    return q.format(s=s, t=t), [f"Subtract the equations: 2y = {s} - {par(t)} = {s - t}.", f"So y = {s - t} / 2 = {y}."], num(y)


def _factor(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    return out + ([n] if n > 1 else [])


def number_theory(rng, d):
    if d == "easy":
        a, b = rng.randint(20, 500), rng.randint(3, 19)
        q = pick(rng, ("What is the remainder when {a} is divided by {b}?", "Find {a} mod {b}.",
                       "When {a} is divided by {b}, what is the remainder?", "Compute the remainder of {a} / {b}."))
        qq, r = divmod(a, b)
        return q.format(a=a, b=b), [f"{b} * {qq} = {b * qq}.", f"{a} - {b * qq} = {r}, which is less than {b}.",
                                    f"The remainder is {r}."], num(r)
    if d == "medium":
        g = rng.randint(2, 15)
        a, b = g * rng.randint(2, 20), g * rng.randint(2, 20)
        if a == b:
            b += g
        want_lcm = rng.random() < 0.5
        x, y, steps = max(a, b), min(a, b), []
        while y:
            steps.append(f"{x} = {x // y} * {y} + {x % y}.")
            x, y = y, x % y
        gg = x
        if want_lcm:
            q = pick(rng, ("What is the least common multiple of {a} and {b}?", "Find the LCM of {a} and {b}.",
                           "Compute lcm({a}, {b}).", "What is the smallest number divisible by both {a} and {b}?"))
            l = a * b // gg
            return q.format(a=a, b=b), steps[:3] + [f"So gcd = {gg}.", f"LCM = {a} * {b} / {gg} = {l}."], num(l)
        q = pick(rng, ("What is the greatest common divisor of {a} and {b}?", "Find the GCD of {a} and {b}.",
                       "Compute gcd({a}, {b}).", "What is the largest number that divides both {a} and {b}?"))
        return q.format(a=a, b=b), steps[:4] + [f"The last nonzero remainder gives gcd = {gg}."], num(gg)
    n = rng.randint(30, 600)
    fs = _factor(n)
    counts = Counter(fs)
    fact = " * ".join(f"{p}^{e}" if e > 1 else str(p) for p, e in sorted(counts.items()))
    if rng.random() < 0.5:
        q = pick(rng, ("How many positive divisors does {n} have?", "Count the positive divisors of {n}.",
                       "Find the number of divisors of {n}.", "How many whole numbers divide {n} exactly?"))
        k = math.prod(e + 1 for e in counts.values())
        prod = " * ".join(f"({e} + 1)" for _, e in sorted(counts.items()))
        return q.format(n=n), [f"Prime factorization: {n} = {fact}.", f"Number of divisors = {prod} = {k}."], num(k)
    q = pick(rng, ("What is the largest prime factor of {n}?", "Find the greatest prime that divides {n}.",
                   "Which is the biggest prime factor of {n}?", "Name the largest prime dividing {n}."))
    return q.format(n=n), [f"Prime factorization: {n} = {fact}.", f"The largest prime factor is {max(fs)}."], num(max(fs))


def sequences(rng, d):
    if d == "easy":
        a, k = rng.randint(1, 40), rng.randint(2, 15)
        terms = [a + i * k for i in range(5)]
        q = pick(rng, ("What is the next number in the sequence {t}, ...?", "Find the next term: {t}, ...",
                       "Continue the pattern: {t}, ?", "Which number comes next: {t}?"))
        return q.format(t=", ".join(map(str, terms[:4]))), [
            f"The difference between terms is {terms[1]} - {terms[0]} = {k}.", f"Next term: {terms[3]} + {k} = {terms[4]}."], num(terms[4])
    if d == "medium":
        if rng.random() < 0.5:
            a, r = rng.randint(1, 6), rng.randint(2, 4)
            terms = [a * r ** i for i in range(5)]
            q = pick(rng, ("What is the next number in the sequence {t}, ...?", "Find the next term: {t}, ...",
                           "Continue the geometric pattern: {t}, ?", "Which number comes next: {t}?"))
            return q.format(t=", ".join(map(str, terms[:4]))), [
                f"Each term is {r} times the previous: {terms[1]} / {terms[0]} = {r}.", f"Next term: {terms[3]} * {r} = {terms[4]}."], num(terms[4])
        a, k, n = rng.randint(1, 30), rng.randint(2, 12), rng.randint(10, 60)
        t = a + (n - 1) * k
        q = pick(rng, ("An arithmetic sequence starts {a}, {b}, {c}, ... What is term number {n}?",
                       "Find the {nth} term of the sequence {a}, {b}, {c}, ...", "In the sequence {a}, {b}, {c}, ..., what is the {nth} term?",
                       "What is the value of term {n} in {a}, {b}, {c}, ...?"))
        return q.format(a=a, b=a + k, c=a + 2 * k, n=n, nth=ordinal(n)), [
            f"The first term is {a} and the difference is {k}.", f"Term {n} = {a} + ({n} - 1) * {k} = {a} + {(n - 1) * k} = {t}."], num(t)
    a, k, n = rng.randint(1, 20), rng.randint(2, 9), rng.randint(8, 40)
    last = a + (n - 1) * k
    s = n * (a + last) // 2
    q = pick(rng, ("What is the sum of the first {n} terms of {a}, {b}, {c}, ...?",
                   "Add up the first {n} terms of the arithmetic sequence {a}, {b}, {c}, ...",
                   "Find the sum of {n} terms of the sequence {a}, {b}, {c}, ...", "Compute {a} + {b} + {c} + ... up to {n} terms."))
    return q.format(n=n, a=a, b=a + k, c=a + 2 * k), [
        f"Last term = {a} + ({n} - 1) * {k} = {last}.", f"Sum = {n} * ({a} + {last}) / 2 = {n} * {a + last} / 2 = {s}."], num(s)


def probability(rng, d):
    if d == "easy":
        r, b = rng.randint(1, 12), rng.randint(1, 12)
        color = pick(rng, ("red", "blue"))
        fav = r if color == "red" else b
        q = pick(rng, ("A bag holds {r} red and {b} blue marbles. One is drawn at random. What is the probability it is {c}? Give a fraction.",
                       "There are {r} red and {b} blue balls in a box. What is the probability of picking a {c} ball?",
                       "A jar has {r} red candies and {b} blue candies. If one candy is chosen at random, what is the probability it is {c}?",
                       "{r} red and {b} blue tokens are mixed in a hat. What is P({c}) for one random token?"))
        p = Fraction(fav, r + b)
        return q.format(r=r, b=b, c=color), [f"Total: {r} + {b} = {r + b}.", f"Favourable: {fav}.",
                                             f"Probability = {fav}/{r + b} = {frac(p)}."], frac(p)
    if d == "medium":
        s = rng.randint(2, 12)
        pairs = [(i, j) for i in range(1, 7) for j in range(1, 7) if i + j == s]
        q = pick(rng, ("Two fair dice are rolled. What is the probability that the sum is {s}?",
                       "Roll two six-sided dice. What is the chance their total is {s}? Answer as a fraction.",
                       "What is the probability of rolling a sum of {s} with two dice?",
                       "Two dice are thrown. Find the probability that the numbers add up to {s}."))
        p = Fraction(len(pairs), 36)
        shown = ", ".join(f"({i},{j})" for i, j in pairs[:6])
        return q.format(s=s), ["There are 6 * 6 = 36 equally likely outcomes.", f"Sum {s}: {shown}, which is {len(pairs)} outcomes.",
                               f"Probability = {len(pairs)}/36 = {frac(p)}."], frac(p)
    r, b = rng.randint(2, 9), rng.randint(2, 9)
    n = r + b
    q = pick(rng, ("A box has {r} red and {b} blue socks. Two are drawn without replacement. What is the probability both are red?",
                   "From {r} red and {b} blue pens, two are taken at random without replacement. Find the probability both are red.",
                   "A bag has {r} red and {b} blue marbles. Drawing two without putting the first back, what is P(both red)?",
                   "Pick 2 of {r} red and {b} blue cards without replacement. What is the chance both are red?"))
    p = Fraction(r, n) * Fraction(r - 1, n - 1)
    return q.format(r=r, b=b), [f"First red: {r}/{n}.", f"Second red: {r - 1}/{n - 1}.",
                                f"Both: {r}/{n} * {r - 1}/{n - 1} = {r * (r - 1)}/{n * (n - 1)} = {frac(p)}."], frac(p)


TRIPLES = ((3, 4, 5), (5, 12, 13), (8, 15, 17), (7, 24, 25), (20, 21, 29))


def geometry(rng, d):
    if d == "easy":
        w, h = rng.randint(2, 30), rng.randint(2, 30)
        if rng.random() < 0.5:
            q = pick(rng, ("A rectangle is {w} cm wide and {h} cm long. What is its area in square cm?",
                           "Find the area of a {w} by {h} rectangle.", "What is the area of a rectangular garden {w} m by {h} m?",
                           "A rug measures {w} ft by {h} ft. What is its area?"))
            return q.format(w=w, h=h), ["Area = width * length.", f"{w} * {h} = {w * h}."], num(w * h)
        q = pick(rng, ("What is the perimeter of a rectangle {w} cm by {h} cm?", "Find the perimeter of a {w} by {h} rectangle.",
                       "A fence goes around a {w} m by {h} m yard. How long is the fence?",
                       "How far is it around a rectangle with sides {w} and {h}?"))
        return q.format(w=w, h=h), ["Perimeter = 2 * (width + length).", f"2 * ({w} + {h}) = 2 * {w + h} = {2 * (w + h)}."], num(2 * (w + h))
    if d == "medium":
        if rng.random() < 0.5:
            a, b = rng.randint(20, 100), rng.randint(20, 100)
            while a + b >= 170:
                b = rng.randint(10, 60)
            q = pick(rng, ("Two angles of a triangle are {a} and {b} degrees. What is the third angle?",
                           "A triangle has angles of {a} degrees and {b} degrees. Find the third angle in degrees.",
                           "In a triangle, two angles measure {a} and {b} degrees. How big is the remaining angle?",
                           "Find the missing angle of a triangle whose other angles are {a} and {b} degrees."))
            return q.format(a=a, b=b), ["Angles of a triangle add up to 180.", f"{a} + {b} = {a + b}.",
                                        f"180 - {a + b} = {180 - a - b}."], num(180 - a - b)
        base, h = rng.randint(2, 30), rng.randint(2, 30)
        q = pick(rng, ("A triangle has base {b} cm and height {h} cm. What is its area?", "Find the area of a triangle with base {b} and height {h}.",
                       "What is the area of a triangle whose base is {b} m and height is {h} m?",
                       "A triangular sail has base {b} ft and height {h} ft. Find its area."))
        ar = Fraction(base * h, 2)
        return q.format(b=base, h=h), ["Area = base * height / 2.", f"{base} * {h} = {base * h}.", f"{base * h} / 2 = {num(ar)}."], num(ar)
    a, b, c = pick(rng, TRIPLES)
    k = rng.randint(1, 6)
    a, b, c = a * k, b * k, c * k
    if rng.random() < 0.5:
        q = pick(rng, ("A right triangle has legs {a} and {b}. How long is the hypotenuse?",
                       "The legs of a right triangle are {a} cm and {b} cm. Find the hypotenuse.",
                       "A ladder reaches {b} m up a wall with its foot {a} m from the wall. How long is the ladder?",
                       "What is the diagonal of a {a} by {b} rectangle?"))
        return q.format(a=a, b=b), [f"Use Pythagoras: {a}^2 + {b}^2 = {a * a} + {b * b} = {a * a + b * b}.",
                                    f"sqrt({a * a + b * b}) = {c}."], num(c)
    q = pick(rng, ("A right triangle has hypotenuse {c} and one leg {a}. How long is the other leg?",
                   "The hypotenuse of a right triangle is {c} cm and a leg is {a} cm. Find the other leg.",
                   "A {c} m ladder leans on a wall with its foot {a} m away. How high does it reach?",
                   "One leg of a right triangle is {a} and the hypotenuse is {c}. What is the other leg?"))
    return q.format(a=a, c=c), [f"Use Pythagoras: {c}^2 - {a}^2 = {c * c} - {a * a} = {c * c - a * a}.",
                                f"sqrt({c * c - a * a}) = {b}."], num(b)


def statistics(rng, d):
    size = {"easy": 5, "medium": 6, "hard": 7}[d] + rng.randint(0, 2)
    xs = [rng.randint(1, 60 if d != "easy" else 20) for _ in range(size)]
    shown = ", ".join(map(str, xs))
    kind = pick(rng, ("mean", "median", "range", "mode") if d != "easy" else ("mean", "range", "median"))
    srt = sorted(xs)
    if kind == "mode":
        xs[rng.randrange(size)] = xs[0]
        xs[rng.randrange(size)] = xs[0]
        counts = Counter(xs)
        top = max(counts.values())
        if sum(1 for v in counts.values() if v == top) > 1:
            kind = "median"
        else:
            shown, srt = ", ".join(map(str, xs)), sorted(xs)
            m = [v for v, c in counts.items() if c == top][0]
            q = pick(rng, ("What is the mode of {x}?", "Find the mode of the data {x}.",
                           "Which value appears most often in {x}?", "Give the mode of these numbers: {x}."))
            return q.format(x=shown), [f"Sorted: {', '.join(map(str, srt))}.", f"{m} appears {top} times, more than any other value."], num(m)
    if kind == "mean":
        while Fraction(sum(xs), size).denominator not in (1, 2, 4, 5, 8, 10):
            xs[-1] += 1
        shown, srt = ", ".join(map(str, xs)), sorted(xs)
        m = Fraction(sum(xs), size)
        q = pick(rng, ("What is the mean of {x}?", "Find the average of {x}.", "Compute the arithmetic mean of {x}.",
                       "The scores were {x}. What is the average score?"))
        return q.format(x=shown), [f"Sum: {' + '.join(map(str, xs))} = {sum(xs)}.", f"Count: {size}.",
                                   f"Mean = {sum(xs)} / {size} = {num(m)}."], num(m)
    if kind == "range":
        q = pick(rng, ("What is the range of {x}?", "Find the range of the data {x}.",
                       "What is the difference between the largest and smallest of {x}?", "Compute the range: {x}."))
        return q.format(x=shown), [f"Largest: {srt[-1]}. Smallest: {srt[0]}.", f"Range = {srt[-1]} - {srt[0]} = {srt[-1] - srt[0]}."], num(srt[-1] - srt[0])
    q = pick(rng, ("What is the median of {x}?", "Find the median of {x}.", "Give the middle value (median) of {x}.",
                   "The ages are {x}. What is the median age?"))
    n = len(srt)
    if n % 2:
        med = srt[n // 2]
        last = f"The middle (value {n // 2 + 1} of {n}) is {med}."
    else:
        lo, hi = srt[n // 2 - 1], srt[n // 2]
        med = Fraction(lo + hi, 2)
        last = f"Two middle values: ({lo} + {hi}) / 2 = {num(med)}."
    return q.format(x=shown), [f"Sorted: {', '.join(map(str, srt))}.", last], num(med)


def dates(rng, d):
    if d == "easy":
        start, n = rng.randrange(7), rng.randint(2, 30)
        q = pick(rng, ("If today is {w}, what day of the week will it be in {n} days?",
                       "Today is {w}. What weekday is it {n} days from now?", "What day of the week is {n} days after a {w}?",
                       "Starting on a {w}, which day is it after {n} days?"))
        end = WEEKDAYS[(start + n) % 7]
        return q.format(w=WEEKDAYS[start], n=n), [f"Weekdays repeat every 7 days: {n} = 7 * {n // 7} + {n % 7}.",
                                                  f"{n % 7} days after {WEEKDAYS[start]} is {end}."], end
    year = rng.randint(2001, 2030)
    if d == "medium":
        date = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
        q = pick(rng, ("What day of the week was {d}?", "On which weekday did {d} fall?", "{d} was which day of the week?",
                       "Name the weekday of {d}."))
        ref = dt.date(year, 1, 1)
        diff = (date - ref).days
        wd = WEEKDAYS[date.weekday()]
        text = f"{MONTHS[date.month - 1]} {date.day}, {year}"
        return q.format(d=text), [f"January 1, {year} was a {WEEKDAYS[ref.weekday()]}.",
                                  f"{text} is {diff} days later; {diff} = 7 * {diff // 7} + {diff % 7}.",
                                  f"{diff % 7} days after {WEEKDAYS[ref.weekday()]} is {wd}."], wd
    a = dt.date(year, rng.randint(1, 6), rng.randint(1, 28))
    b = a + dt.timedelta(days=rng.randint(20, 200))
    q = pick(rng, ("How many days are there from {a} to {b}?", "Count the days between {a} and {b}.",
                   "How many days after {a} is {b}?", "A trip runs from {a} to {b}. How many days apart are the two dates?"))
    fa, fb = f"{MONTHS[a.month - 1]} {a.day}, {year}", f"{MONTHS[b.month - 1]} {b.day}, {b.year}"
    steps, cur = [], a
    while (cur.year, cur.month) != (b.year, b.month):
        nxt = dt.date(cur.year + cur.month // 12, cur.month % 12 + 1, 1)
        steps.append((nxt - cur).days)
        cur = nxt
    steps.append((b - cur).days)
    total = (b - a).days
    if len(steps) == 1:
        first = f"Both dates are in {MONTHS[a.month - 1]}: {b.day} - {a.day} = {total}."
    else:
        first = f"Days counted month by month from {fa}: {' + '.join(map(str, steps))}."
    return q.format(a=fa, b=fb), [first, f"Total: {total} days."], num(total)


CATEGORIES = {f.__name__: f for f in (arithmetic, percentages, unit_conversion, word_problems, algebra,
                                      number_theory, sequences, probability, geometry, statistics, dates)}


# --- edge cases: formatting quirks in the question, canonical expected answers -----------------

WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen twenty").split()


def edge_case(rng, i) -> tuple[str, str, str]:
    """(question, answer, category) with one formatting quirk per kind."""
    kind = i % 10
    if kind == 0:
        a, b = rng.randint(100, 999) * 25, rng.randint(20, 199) * 25
        q = f"A book costs ${a / 100:.2f} and a pen costs ${b / 100:.2f}. How much do they cost together, in dollars?"
        return q, num(Fraction(a + b, 100)), "arithmetic"
    if kind == 1:
        a, b = rng.randint(1_000_000, 9_000_000), rng.randint(100_000, 900_000)
        return f"A city has {a:,} residents and {b:,} move away. How many residents remain?", num(a - b), "arithmetic"
    if kind == 2:
        t, drop = rng.randint(-5, 10), rng.randint(12, 30)
        return f"The temperature is {t} degrees and then drops by {drop} degrees. What is the new temperature?", num(t - drop), "arithmetic"
    if kind == 3:
        whole = rng.randint(2, 30) * 4
        part = whole * rng.randint(1, 3) // 4
        return f"What percent of {whole} is {part}? (Answer with a number such as 25.)", num(Fraction(part, whole) * 100), "percentages"
    if kind == 4:
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        k = rng.randint(2, 8)
        g = math.gcd(a, b)
        a, b = a // g, b // g
        if a == b:
            b += 1
        return f"Simplify the fraction {a * k}/{b * k}.", frac(Fraction(a, b)), "number_theory"
    if kind == 5:
        a, b = Fraction(rng.randint(10, 99), 10), Fraction(rng.randint(100, 999), 100)
        return f"Add {float(a):.2f} and {float(b):.3f}.", num(a + b), "arithmetic"
    if kind == 6:
        m = rng.randint(11, 99) * 100
        return f"How many km is {m} m?", num(Fraction(m, 1000)), "unit_conversion"
    if kind == 7:
        a, b = rng.randint(2, 19), rng.randint(2, 12)
        c = b * rng.randint(1, 5)
        while (a * c) % b:
            c += 1
        return f"WHAT   IS  {a} × {c} ÷ {b} ?", num(Fraction(a * c, b)), "arithmetic"
    if kind == 8:
        start, n = rng.randrange(7), rng.randint(8, 60)
        return f"if today is {WEEKDAYS[start].lower()}, what day will it be {n} days from now?", WEEKDAYS[(start + n) % 7], "dates"
    a, b = rng.randint(2, 20), rng.randint(2, 20)
    return f"Add {WORDS[a]} and {WORDS[b]}, then multiply the sum by two.", num((a + b) * 2), "arithmetic"
