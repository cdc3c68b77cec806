"""Quantitative reasoning (eval section "arithmetic"): the order of operations, percentages, multi-step
money and counting stories, and unit conversions.

Each trace says in words what is computed and why ("The discount is 15% of 400."), then works every
operation by place value with `gen/steps.py`, so no step asks a small model for a multi-digit result
at once. Answers are the exact results those steps return from the sampled values;
tests/test_gen_quantitative.py re-derives each one from the question text alone.
"""

from __future__ import annotations

from fractions import Fraction

from gen import steps
from gen.common import ITEMS, NAMES, num, pick

SECTION = "arithmetic"

# Templates stay short and the answer form comes first (in a story, the end is where words repeat):
# a run of 13 words shared by many questions would make the contamination check pair train and eval items.
ASK = ("Answer with a number.", "Give just the number.", "Reply with a number.", "Just the number, please.",
       "Answer in digits.", "Write the number only.")
THINGS = ("jacket", "bike", "lamp", "tent", "guitar", "camera", "desk", "kettle", "scooter", "backpack")


def _say(trace: list[str], lead: str, step, expr: str | None = None) -> Fraction:
    """Append one operation's lines after a phrase saying what it computes ("Cost of the books: 4 × 12
    = 48."; a breakdown goes on the lines after "Cost of the books: 4 × 17."); returns its result."""
    lines, result = step
    if len(lines) == 1 and ":" not in lines[0]:
        trace.append(f"{lead}: {lines[0]}")
    else:
        trace.append(f"{lead}: {expr}." if expr else f"{lead}.")
        trace.extend(lines)
    return result


def _op(trace: list[str], lead: str, a, op: str, b) -> Fraction:
    return _say(trace, lead, steps.calc(a, op, b), f"{num(a)} {op} {num(b)}")


# --- arithmetic: expressions with precedence ----------------------------------------------------

PREC = {"+": 1, "-": 1, "×": 2, "÷": 2}
OP_NAME = {"+": "addition", "-": "subtraction", "×": "multiplication", "÷": "division"}


def _shape(rng, n_ops: int, ops: str):
    """A random expression tree with n_ops operators (a leaf is None); a division's right side is a
    one-digit leaf, so it divides by a table fact."""
    if n_ops == 0:
        return None
    op = pick(rng, ops)
    left = rng.randrange(n_ops) if op != "÷" else n_ops - 1
    return [op, _shape(rng, left, ops), _shape(rng, n_ops - 1 - left, ops)]


def _fill(rng, node, d: str, parent: str = "+", right: bool = False):
    """The tree with numbers, or None when a subtraction goes negative, a division is not exact or a
    product is too big for the difficulty (hard: two-digit × two-digit)."""
    if node is None:
        if parent == "÷" and right:
            return rng.randint(2, 9)
        return rng.randint(2, 40 if d == "hard" else 9) if parent == "×" else rng.randint(2, 99)
    op, left, right_node = node
    r = _fill(rng, right_node, d, op, True)
    l = rng.randint(2, 40 if d == "hard" else 12) * r if op == "÷" and left is None else _fill(rng, left, d, op)
    if l is None or r is None:
        return None
    a, b = _value(l), _value(r)
    small = min(a, b) <= (99 if d == "hard" else 9) and max(a, b) <= 99
    if op == "-" and a < b or op == "÷" and a % b or op == "×" and not small or not 0 < _value([op, l, r]) <= 9999:
        return None
    return [op, l, r]


def _value(t) -> int:
    if isinstance(t, int):
        return t
    op, a, b = t[0], _value(t[1]), _value(t[2])
    return a + b if op == "+" else a - b if op == "-" else a * b if op == "×" else a // b


def _paren(child, parent_op: str, right: bool) -> bool:
    """Parentheses a child needs: lower precedence, or the same on the right (kept as written)."""
    if isinstance(child, int):
        return False
    return PREC[child[0]] < PREC[parent_op] or right and PREC[child[0]] == PREC[parent_op]


def _render(t) -> str:
    if isinstance(t, int):
        return str(t)
    op, l, r = t
    a, b = _render(l), _render(r)
    return f"{f'({a})' if _paren(l, op, False) else a} {op} {f'({b})' if _paren(r, op, True) else b}"


def _evaluate(t, trace: list[str], paren: bool = False, parent: str | None = None, group: bool = False) -> int:
    """Work the tree out in the order of operations (its post-order), one reason and its steps per
    operator; `group`: somewhere inside parentheses."""
    if isinstance(t, int):
        return t
    op, l, r = t
    group = group or paren
    a = _evaluate(l, trace, _paren(l, op, False), op, group)
    b = _evaluate(r, trace, _paren(r, op, True), op, group)
    if paren:
        lead = "Inside the parentheses"
    elif parent is not None and PREC[op] > PREC[parent]:
        lead = f"{OP_NAME[op].capitalize()} comes before {OP_NAME[parent]}"
    elif group:
        lead = "Inside the parentheses, from left to right"
    elif parent is None:
        lead = "Last"
    else:
        lead = "Next, from left to right"
    return int(_op(trace, lead, a, "/" if op == "÷" else op, b))


def arithmetic(rng, d):
    n_ops = {"easy": 2, "medium": 3, "hard": 4}[d]
    while True:
        t = _fill(rng, _shape(rng, n_ops, "+-×÷"), d)
        text = "" if t is None else _render(t)
        mixed = set(text) & {"×", "÷"} and set(text) & {"+", "-"}  # precedence matters
        if mixed and ("(" in text) == (d != "easy"):  # easy: precedence alone; harder: parentheses too
            break
    if rng.random() < 0.4:
        text = text.replace("×", "*").replace("÷", "/")
    q = pick(rng, ("What is {e}?", "Compute {e}.", "Evaluate {e}, multiplying and dividing first.",
                   "{n} enters {e} on a calculator. What does it show?", "Work out {e}."))
    trace: list[str] = []
    value = _evaluate(t, trace)
    trace.append(f"So the answer is {value}.")
    return f"{q.format(e=text, n=pick(rng, NAMES))} {pick(rng, ASK)}", trace, num(value)


# --- percentages ----------------------------------------------------------------------------------

def _rate(rng) -> int:
    return pick(rng, (5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 60, 75, 80, 12, 8, 4))


def _percent_of(rng):
    """p and n with p% of n a whole number."""
    while True:
        p, n = _rate(rng), pick(rng, (rng.randint(1, 30) * 100, rng.randint(2, 60) * 10, rng.randint(8, 200)))
        if p * n % 100 == 0:
            return p, n


def percentages(rng, d):
    name, (items, _), thing = pick(rng, NAMES), pick(rng, ITEMS), pick(rng, THINGS)
    trace: list[str] = []
    if d == "easy":
        p, n = _percent_of(rng)
        q = pick(rng, (f"What is {p}% of {n}?", f"Find {p} percent of {n}.",
                       f"A club has {n} members; {p}% are new. How many new members?",
                       f"Of {name}'s {n} {items}, {p}% are damaged. How many is that?"))
        r = _say(trace, f"Percent means out of every hundred, so {p}% of {n} is {n} × {p} / 100", steps.percent(p, n))
    elif d == "medium" and rng.random() < 0.35:  # what percent one number is of another
        whole = pick(rng, (2, 4, 5, 10, 20, 25, 50, 100 * rng.randint(2, 9)))
        part = rng.randint(1, whole - 1) if whole <= 100 else whole // 100 * rng.randint(1, 99)
        q = pick(rng, (f"What percent of {whole} is {part}? Answer without the % sign.",
                       f"{name} scores {part} out of {whole}. What percentage is that?",
                       f"{part} of {whole} {items} are broken. What percent is that?"))
        trace.append(f"A percentage is a part out of 100, so rewrite {part} out of {whole} as a number out of 100.")
        if whole <= 100:
            trace.append(f"{whole} fits into 100 exactly: 100 / {whole} = {100 // whole}, "
                         f"so scale {part} up by the same.")
            r = _op(trace, f"{part} out of {whole} is this many out of 100", part, "×", 100 // whole)
        else:
            trace.append(f"{whole} is {whole // 100} hundreds, so share {part} among those {whole // 100} hundreds.")
            r = _op(trace, f"{part} out of {whole} is this many out of 100", part, "/", whole // 100)
    elif d == "medium":  # a discount or an increase
        p, n = _percent_of(rng)
        up = rng.random() < 0.5
        if up:
            q = pick(rng, (f"A ${n} {thing} rises {p}% in price. New price in dollars?",
                           f"{name}'s ${n} rent goes up {p}%. What is the new rent in dollars?",
                           f"A town of {n} people grows by {p}%. How many people now?"))
        else:
            q = pick(rng, (f"A ${n} {thing} is {p}% off. What is the sale price in dollars?",
                           f"{name} buys a ${n} {thing} at {p}% off. How many dollars does {name} pay?",
                           f"The ${n} {thing} is reduced by {p}%. What does it cost now, in dollars?"))
        change = _say(trace, f"The {'increase' if up else 'discount'} is {p}% of {n}", steps.percent(p, n))
        word = "plus the increase" if up else "minus the discount"
        r = _op(trace, f"The new amount is {n} {word}", n, "+" if up else "-", change)
    else:
        q, r = _percent_hard(rng, name, thing, trace)
    trace.append(f"So the answer is {num(r)}.")
    return f"{pick(rng, ASK)} {q}", trace, num(r)


def _percent_hard(rng, name, thing, trace):
    """Two percentage steps, or a percentage inside a longer story: (question, answer)."""
    kind = rng.randrange(3)
    if kind == 0:  # up, then down from the new price
        while True:
            p, n = _rate(rng), rng.randint(2, 20) * 50
            if p * n % 100 == 0:
                break
        qd = pick(rng, (10, 20, 25, 50, 5, 40))
        q = pick(rng, (
            f"A ${n} {thing} rises {p}%, then falls {qd}%. What does it cost now, in dollars?",
            f"{name}'s ${n} in shares gains {p}%, then loses {qd}%. Worth now, in dollars?",
            f"A shop marks a ${n} {thing} up {p}%, then sells it {qd}% off. Sale price in dollars?"))
        up = _say(trace, f"First the rise: {p}% of {n}", steps.percent(p, n))
        mid = _op(trace, f"The new value is {n} plus the rise", n, "+", up)
        down = _say(trace, f"The fall is {qd}% of the new value {num(mid)}, not of {n}", steps.percent(qd, mid))
        return q, _op(trace, "The final value is the new value minus the fall", mid, "-", down)
    if kind == 1:  # a tip, then the bill shared
        while True:
            k, p, n = rng.randint(2, 6), pick(rng, (10, 15, 20, 25)), rng.randint(8, 120) * 5
            if n * p % 100 == 0 and (n + n * p // 100) % k == 0:
                break
        q = pick(rng, (
            f"A ${n} dinner for {k} gets a {p}% tip, split evenly. Dollars each?",
            f"{name} and {k - 1} friends split a ${n} bill plus {p}% tip. What is each share in dollars?",
            f"The bill is ${n} plus a {p}% tip, shared by {k} people. Dollars per person?"))
        tip = _say(trace, f"The tip is {p}% of {n}", steps.percent(p, n))
        total = _op(trace, "The total is the bill plus the tip", n, "+", tip)
        return q, _op(trace, f"{k} people share it equally, so divide by {k}", total, "/", k)
    while True:  # a share of a wage saved each month, some spent
        n, p, k = rng.randint(10, 40) * 100, pick(rng, (5, 10, 15, 20, 25, 30)), rng.randint(3, 12)
        saved = n * p // 100 * k
        c = rng.randint(1, 40) * 10
        if c < saved:
            break
    q = pick(rng, (
        f"{name} earns ${n} a month, saves {p}% for {k} months, then spends ${c}. How many dollars are left?",
        f"Each month {name} saves {p}% of a ${n} wage. After {k} months {name} spends ${c}. Dollars left?",
        f"For {k} months {name} saves {p}% of ${n} pay, then spends ${c}. How much is left, in dollars?"))
    month = _say(trace, f"Each month {name} saves {p}% of {n}", steps.percent(p, n))
    total = _op(trace, f"Over {k} months that is {num(month)} times {k}", month, "×", k)
    return q, _op(trace, f"Take away the {c} spent", total, "-", c)


# --- word problems: stories with names, items and money -------------------------------------------

def word_problems(rng, d):
    a, b = rng.sample(NAMES, 2)
    (items, _), (items2, _) = pick(rng, ITEMS), pick(rng, ITEMS[4:] + ITEMS[:4])
    items2 = items2 if items2 != items else "erasers"
    kind = rng.randrange(3)
    t: list[str] = []
    if d == "easy" and kind == 0:
        k, m = rng.randint(3, 12), rng.randint(4, 25)
        g = rng.randint(2, k * m - 1)
        q = pick(rng, (f"{a} buys {k} packs of {m} {items} and gives {g} to {b}. How many {items} are left?",
                       f"{a} has {k} boxes of {m} {items} and gives away {g}. How many are left?",
                       f"There are {k} bags with {m} {items} each. {a} takes {g}. How many {items} remain?"))
        tot = _op(t, f"There are {k} groups of {m}, so multiply", k, "×", m)
        r = _op(t, f"Then {g} go away, so subtract", tot, "-", g)
    elif d == "easy" and kind == 1:
        k, p = rng.randint(2, 9), rng.randint(2, 30)
        bill = pick(rng, [x for x in (10, 20, 50, 100, 200, 500) if x > k * p])  # a note bigger than the cost
        q = pick(rng, (f"{a} buys {k} {items} at ${p} each with a ${bill} note. How many dollars of change?",
                       f"{k} {items} cost ${p} each. {a} pays ${bill}. What is the change in dollars?",
                       f"{a} pays ${bill} for {k} {items} at ${p} apiece. How many dollars come back?"))
        cost = _op(t, f"The {items} cost {k} times {p} dollars", k, "×", p)
        r = _op(t, "The change is what was paid minus the cost", bill, "-", cost)
    elif d == "easy":
        x, y = rng.randint(12, 250), rng.randint(3, 99)
        q = pick(rng, (f"{a} has {x} {items}; {b} has {y} more. How many {items} do they have together?",
                       f"{a} collected {x} {items} and {b} {y} more than that. How many in all?",
                       f"{b} owns {y} more {items} than {a}, who owns {x}. How many do both own?"))
        bx = _op(t, f"{b} has {y} more than {a}'s {x}", x, "+", y)
        r = _op(t, f"Together: {a}'s {x} plus {b}'s {num(bx)}", x, "+", bx)
    elif d == "medium" and kind == 0:
        k1, p1, k2, p2 = rng.randint(2, 9), rng.randint(2, 25), rng.randint(2, 9), rng.randint(2, 25)
        cost = k1 * p1 + k2 * p2
        pay = (cost // 50 + 1) * 50
        q = pick(rng, (f"{a} buys {k1} {items} at ${p1} each and {k2} {items2} at ${p2} each, paying ${pay}. "
                       "Change in dollars?",
                       f"At a fair {a} gets {k1} {items} for ${p1} each and {k2} {items2} for ${p2} each, "
                       f"paying ${pay}. How many dollars come back?",
                       f"{a} pays ${pay} for {k1} {items} (${p1} each) and {k2} {items2} (${p2} each). "
                       "What is the change in dollars?"))
        c1 = _op(t, f"The {items} cost {k1} times {p1}", k1, "×", p1)
        c2 = _op(t, f"The {items2} cost {k2} times {p2}", k2, "×", p2)
        tot = _op(t, "Together they cost", c1, "+", c2)
        r = _op(t, f"The change is {pay} minus the cost", pay, "-", tot)
    elif d == "medium" and kind == 1:
        h, s, w = rng.randint(5, 90), rng.randint(3, 40), rng.randint(3, 12)
        c = rng.randint(5, h + s * w - 1)
        q = pick(rng, (f"{a} has ${h}, saves ${s} a week for {w} weeks, then spends ${c}. How many dollars now?",
                       f"Starting with ${h}, {a} adds ${s} each week for {w} weeks and pays ${c} for a ticket. "
                       "Dollars left?",
                       f"{a} had ${h} in the bank, deposited ${s} weekly for {w} weeks, and withdrew ${c}. "
                       "What is the balance in dollars?"))
        added = _op(t, f"{w} weeks of {s} dollars", s, "×", w)
        have = _op(t, f"Add that to the {h} {a} started with", h, "+", added)
        r = _op(t, f"Then {c} is spent", have, "-", c)
    elif d == "medium":
        while True:
            x, k, m, f = rng.randint(2, 60), rng.randint(2, 9), rng.randint(5, 24), rng.randint(2, 9)
            if (x + k * m) % f == 0:
                break
        q = pick(rng, (f"{a} has {x} {items} and buys {k} packs of {m}, then shares all equally among {f} friends. "
                       "How many each?",
                       f"{a} owns {x} {items} and gets {k} packs of {m}. "
                       f"Split evenly into {f} boxes, how many per box?",
                       f"With {x} {items} plus {k} bags of {m}, {a} deals them equally to {f} players. "
                       "How many does each get?"))
        more = _op(t, f"{k} packs of {m}", k, "×", m)
        tot = _op(t, f"With the {x} {a} had", x, "+", more)
        r = _op(t, f"Shared equally among {f}", tot, "/", f)
    elif kind == 0:
        c = pick(rng, [n for n in NAMES if n not in (a, b)])
        x, k = rng.randint(6, 80), rng.randint(2, 9)
        y = rng.randint(1, k * x - 1)
        q = pick(rng, (f"{a} has {x} {items}. {b} has {k} times as many. {c} has {y} fewer than {b}. "
                       "How many in total?",
                       f"{a} collected {x} {items}, {b} {k} times as many, and {c} {y} fewer than {b}. "
                       "How many altogether?",
                       f"{b} owns {k} times as many {items} as {a}, who owns {x}; {c} owns {y} fewer than {b}. Total?"))
        bx = _op(t, f"{b} has {k} times {a}'s {x}", x, "×", k)
        cx = _op(t, f"{c} has {y} fewer than {b}", bx, "-", y)
        two = _op(t, f"Add up: {a} and {b} first", x, "+", bx)
        r = _op(t, f"Then {c}'s {num(cx)}", two, "+", cx)
    elif kind == 1:
        s, k, m = rng.randint(100, 900), rng.randint(2, 9), rng.randint(6, 48)
        s1, s2 = min(rng.randint(10, 99), s // 3), min(rng.randint(10, 99), s // 3)
        q = pick(rng, (f"{a}'s shop has {s} {items}, sells {s1} on Monday and {s2} on Tuesday, "
                       f"then gets {k} boxes of {m}. How many now?",
                       f"A stall run by {a} holds {s} {items}. "
                       f"{s1} sell in the morning, {s2} later, then {k} crates of {m} arrive. How many now?",
                       f"{a} keeps {s} {items}, hands out {s1} one day and {s2} the next, "
                       f"then unpacks {k} cartons of {m}. How many now?"))
        left = _op(t, f"After the first {s1} go", s, "-", s1)
        left = _op(t, f"After {s2} more go", left, "-", s2)
        new = _op(t, f"The delivery is {k} boxes of {m}", k, "×", m)
        r = _op(t, "Add the delivery to what was left", left, "+", new)
    else:
        while True:
            k1, p1, k2, p2 = rng.randint(2, 9), rng.randint(3, 40), rng.randint(2, 9), rng.randint(3, 40)
            f = rng.randint(2, 6)
            spent = k1 * p1 + k2 * p2
            money = (spent // 100 + 1) * 100 + rng.randint(0, 20) * 10
            if (money - spent) % f == 0:
                break
        q = pick(rng, (f"{a} has ${money}, buys {k1} {items} at ${p1} each and {k2} {items2} at ${p2} each, "
                       f"and splits the rest into {f} jars. Dollars per jar?",
                       f"With ${money}, {a} buys {k1} {items} (${p1} each) and {k2} {items2} (${p2} each), "
                       f"then shares the rest among {f} cousins. Dollars each?",
                       f"{a} starts with ${money}, "
                       f"buys {k1} {items} for ${p1} apiece and {k2} {items2} for ${p2} apiece. "
                       f"{a} splits the rest into {f} envelopes. Dollars per envelope?"))
        c1 = _op(t, f"The {items} cost {k1} times {p1}", k1, "×", p1)
        c2 = _op(t, f"The {items2} cost {k2} times {p2}", k2, "×", p2)
        tot = _op(t, "Together they cost", c1, "+", c2)
        rest = _op(t, f"Money left from {money}", money, "-", tot)
        r = _op(t, f"Split equally {f} ways", rest, "/", f)
    t.append(f"So the answer is {num(r)}.")
    return f"{pick(rng, ASK)} {q}", t, num(r)


# --- unit conversion ---------------------------------------------------------------------------------

# (big unit, its singular, small unit, its singular, small units in one big unit)
UNITS = (("kilometers", "kilometer", "meters", "meter", 1000), ("meters", "meter", "centimeters", "centimeter", 100),
         ("hours", "hour", "minutes", "minute", 60), ("kilograms", "kilogram", "grams", "gram", 1000),
         ("dollars", "dollar", "cents", "cent", 100))
QUARTERS = {15: "a quarter of", 30: "half", 45: "three quarters of"}  # the minutes left are whole quarters
PIECES = {"meters": "laps", "centimeters": "ribbons", "minutes": "lessons", "grams": "bags", "cents": "stamps"}


def _mixed(n: int, m: int, big: str, one: str, small: str, one_small: str) -> str:
    """An amount in two units: "2 hours 35 minutes", "1 kilometer 1 meter", "$4.35"."""
    if small == "cents":
        return f"${n}.{m:02d}"
    return f"{n} {one if n == 1 else big} {m} {one_small if m == 1 else small}"


def _to_big(t: list[str], x: int, k: int, small: str, big: str) -> Fraction:
    """x small units as big units: a shift for a power of ten; for minutes, whole hours and a quarter part."""
    if k != 60:
        return _op(t, f"Divide by {k} to turn {small} into {big}", x, "/", k)
    whole, rest = divmod(x, 60)
    if whole == 0:
        t.append(f"{x} minutes is {QUARTERS[x]} an hour: {x} / 60 = {num(Fraction(x, 60))}.")
        return Fraction(x, 60)
    if rest == 0:
        return _op(t, "Divide by 60 to turn minutes into hours", x, "/", 60)
    full = _op(t, f"{whole} whole hours in minutes", whole, "×", 60)
    left = _op(t, "Minutes left over", x, "-", full)
    t.append(f"{num(left)} minutes is {QUARTERS[int(left)]} an hour: {num(left)} / 60 = {num(Fraction(left, 60))}.")
    return _op(t, "Put the hours together", whole, "+", Fraction(left, 60))


def unit_conversion(rng, d):
    big, one, small, one_small, k = pick(rng, UNITS)
    name = pick(rng, NAMES)
    t: list[str] = []
    if d == "easy":
        n = rng.randint(2, 99)
        if rng.random() < 0.5:
            q = pick(rng, (f"How many {small} are in {n} {big}?", f"Convert {n} {big} to {small}.",
                           f"{name} writes down {n} {big}. How many {small} is that?"))
            t.append(f"One {one} is {k} {small}, so multiply by {k}.")
            r = _op(t, f"{n} {big} in {small}", n, "×", k)
        else:
            q = pick(rng, (f"How many {big} are in {n * k} {small}?", f"Convert {n * k} {small} to {big}.",
                           f"{name} writes down {n * k} {small}. How many {big} is that?"))
            t.append(f"Every {k} {small} make one {one}, so divide by {k}.")
            r = _op(t, f"{n * k} {small} in {big}", n * k, "/", k)
    elif d == "medium" and rng.random() < 0.5:  # a mixed amount in the small unit
        n, m = rng.randint(1, 30), rng.randint(1, k - 1)
        mixed = _mixed(n, m, big, one, small, one_small)
        q = pick(rng, (f"How many {small} are in {mixed}?", f"Convert {mixed} to {small}.",
                       f"{name}'s result is {mixed}. Write it in {small} only."))
        t.append((f"{mixed} is {n} dollars and {m} cents. " if small == "cents" else "")
                 + f"One {one} is {k} {small}, so turn the {big} into {small} and add the rest.")
        whole = _op(t, f"{n} {big} in {small}", n, "×", k)
        r = _op(t, f"Add the {m} {small}", whole, "+", m)
    elif d == "medium":  # the small unit as a decimal of the big one
        x = k
        while x % k == 0:  # a decimal answer
            x = rng.randint(1, 40) * k // pick(rng, (4, 2, 5, 10) if k != 60 else (4, 2))
        q = pick(rng, (f"How many {big} is {x} {small}?", f"Convert {x} {small} to {big}.",
                       f"{name} writes down {x} {small}. How many {big} is that? Decimals are fine."))
        t.append(f"One {one} is {k} {small}, so {x} {small} is {x} / {k} {big}.")
        r = _to_big(t, x, k, small, big)
    else:
        r, q = _conversion_hard(rng, name, big, one, small, one_small, k, t)
    t.append(f"So the answer is {num(r)}.")
    return f"{pick(rng, ASK)} {q}", t, num(r)


def _conversion_hard(rng, name, big, one, small, one_small, k, t):
    if rng.random() < 0.5:  # two mixed amounts added, answered in the big unit
        while True:
            n1, n2, m1, m2 = rng.randint(1, 9), rng.randint(1, 9), rng.randint(1, k - 1), rng.randint(1, k - 1)
            if k != 60 or (m1 + m2) % 15 == 0:
                break
        say = lambda n, m: _mixed(n, m, big, one, small, one_small)  # noqa: E731
        q = pick(rng, (f"{name} has two amounts, {say(n1, m1)} and {say(n2, m2)}. How many {big} in total?",
                       f"Add {say(n1, m1)} to {say(n2, m2)} and give the total in {big}.",
                       f"{name} logs {say(n1, m1)} on Monday and {say(n2, m2)} on Tuesday. Total in {big}?"))
        t.append(f"Put everything in {small} first, add, then turn the total into {big}.")
        a1 = _op(t, f"The first amount: {n1} {big} in {small}", n1, "×", k)
        a1 = _op(t, f"Plus {m1} {small}", a1, "+", m1)
        a2 = _op(t, f"The second amount: {n2} {big} in {small}", n2, "×", k)
        a2 = _op(t, f"Plus {m2} {small}", a2, "+", m2)
        tot = _op(t, f"Total in {small}", a1, "+", a2)
        return _to_big(t, int(tot), k, small, big), q
    while True:  # many equal amounts in the small unit, answered in the big unit
        c, each = rng.randint(3, 12), rng.randint(11, k - 1)
        if k != 60 or c * each % 15 == 0:
            break
    noun = PIECES[small]
    q = pick(rng, (f"{name} has {c} {noun} of {each} {small} each. How many {big} altogether?",
                   f"There are {c} {noun}, each {each} {small}. What is that in {big}?",
                   f"{name} adds up {c} {noun} of {each} {small}. Total in {big}?"))
    t.append(f"First the total in {small}, then turn it into {big} ({k} {small} in one {one}).")
    tot = _op(t, f"{c} {noun} of {each} {small}", c, "×", each)
    return _to_big(t, int(tot), k, small, big), q


CATEGORIES = {"arithmetic": arithmetic, "percentages": percentages, "word_problems": word_problems,
              "unit_conversion": unit_conversion}
