"""The counting domain (training/data/gen/counting.py) re-solved from the question text alone: the
people, options, digits or grid are read back from the words and every arrangement is enumerated
here, independently of the generator's formulas."""

import itertools
import re

from tunix_nb.scoring import check_trace
from v3_data import records, rows

NAMES = ("Ava", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Isla", "Jamal", "Kira",
         "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Victor")


def names_in(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Z][a-z]+", text) if w in NAMES]


def first(pattern: str, q: str) -> str | None:
    m = re.search(pattern, q)
    return next((g for g in m.groups() if g), None) if m else None


def solve_outfits(q: str) -> int:
    groups = [g.split(", ") for g in re.findall(r"\(([^)]*)\)", q)]
    options = [o for g in groups for o in g]
    bans = []
    for sentence in re.split(r"(?<=[.?]) ", q):
        if "(" not in sentence:
            found = [o for o in options if re.search(rf"\b{re.escape(o)}\b", sentence)]
            if len(found) == 2:
                bans.append(found)
    return sum(1 for c in itertools.product(*groups) if not any(x in c and y in c for x, y in bans))


def solve_handshakes(q: str) -> int:
    host = first(r"(?:does|will) (\w+) (?:count|see)|(\w+) counts the", q)
    people = [p for p in dict.fromkeys(names_in(q)) if p != host]
    away = first(r"(\w+) (?:has a sore hand|arrives late)", q)
    couples = [set(c) for c in re.findall(r"(\w+) & (\w+)", q)]
    present = [p for p in people if p != away]
    return sum(1 for pair in itertools.combinations(present, 2) if set(pair) not in couples)


def solve_lineups(q: str) -> int:
    org = first(r"can (\w+) (?:list|arrange)|(\w+) counts the possible", q)
    word = first(r"(?:spelling|letters of) ([A-Z]+)\b", q)
    items = list(word) if word else [p for p in dict.fromkeys(names_in(q)) if p != org]
    rules = []
    for x in re.findall(r"(\w+) must be first", q):
        rules.append(lambda p, x=x: p[0] == x)
    for x in re.findall(r"(\w+) may not be first", q):
        rules.append(lambda p, x=x: p[0] != x)
    for x in re.findall(r"(\w+) may not be last", q):
        rules.append(lambda p, x=x: p[-1] != x)
    for x in re.findall(r"(\w+) may not be at either end", q):
        rules.append(lambda p, x=x: x not in (p[0], p[-1]))
    for x, y in re.findall(r"(\w+) must come somewhere before (\w+)", q):
        rules.append(lambda p, x=x, y=y: p.index(x) < p.index(y))
    for x, y, neg in re.findall(r"(\w+) and (\w+) must (not )?be next to each other", q):
        rules.append(lambda p, x=x, y=y, neg=neg: (abs(p.index(x) - p.index(y)) == 1) != bool(neg))
    return sum(1 for p in itertools.permutations(items) if all(r(p) for r in rules))


def solve_committees(q: str) -> int:
    k = int(first(r"(?:committee|team|panel) of (\d+)", q))
    picker = first(r"(\w+) chooses a|(\w+) must pick", q)
    if "club" in q:
        m = re.search(r"chess club has (.*?); the drama club has (.*?)\.", q) or \
            re.search(r"^(.*?) are in the chess club, and (.*?) are in the drama club", q)
        chess, drama = names_in(m.group(1)), names_in(m.group(2))
        return sum(1 for t in itertools.combinations(chess + drama, k) if set(t) & set(chess) and set(t) & set(drama))
    people = [p for p in dict.fromkeys(names_in(q)) if p != picker]
    rules = [lambda t, x=x: x in t for x in re.findall(r"(\w+) must be on it", q)]
    rules += [lambda t, x=x: x not in t for x in re.findall(r"(\w+) refuses to serve", q)]
    feuds = re.findall(r"(\w+) and (\w+) refuse to serve together", q) + re.findall(r"(\w+) will not serve with (\w+)", q)
    rules += [lambda t, x=x, y=y: not (x in t and y in t) for x, y in feuds]
    return sum(1 for t in itertools.combinations(people, k) if all(r(t) for r in rules))


def solve_digits(q: str) -> int:
    listed = first(r"the digits ([\d, and]+)[.?]|Using just ([\d, and]+), how", q)
    digits = [int(c) for c in re.findall(r"\d", listed)]
    length = int(first(r"(\d)-digit", q))
    has = first(r"at least one (\d)", q)
    distinct = "no repeats" in q or "at most once" in q

    def ok(t):
        v = int("".join(map(str, t)))
        return ((not distinct or len(set(t)) == length) and ("even" not in q or v % 2 == 0)
                and ("above 600" not in q or v > 600) and (has is None or int(has) in t))
    return sum(1 for t in itertools.product(digits, repeat=length) if ok(t))


def solve_paths(q: str) -> int:
    a, b = map(int, re.search(r"\(0, 0\) to (?:corner )?\((\d), (\d)\)", q).groups())
    via = re.search(r"pass through \((\d), (\d)\)", q)
    avoid = re.search(r"\((\d), (\d)\) is closed|point \((\d), (\d)\) must be avoided", q)
    count = 0
    for moves in itertools.product("EN", repeat=a + b):
        if moves.count("E") != a:
            continue
        x = y = 0
        seen = {(0, 0)}
        for m in moves:
            x, y = x + (m == "E"), y + (m == "N")
            seen.add((x, y))
        if via and tuple(map(int, via.groups())) not in seen:
            continue
        if avoid and tuple(int(g) for g in avoid.groups() if g) in seen:
            continue
        count += 1
    return count


def kind(q: str) -> str:
    if "(0, 0)" in q:
        return "paths"
    if "-digit" in q:
        return "digits"
    if re.search(r"committee|team|panel", q):
        return "committees"
    if re.search(r"hands|chess|high-fives", q):
        return "handshakes"
    if "order" in q:
        return "lineups"
    return "outfits"


def test_every_counting_answer_matches_an_enumeration_of_the_question():
    seen = set()
    for rid, q, answer, _ in records("counting"):
        seen.add(kind(q))
        assert answer == str(globals()["solve_" + kind(q)](q)), (rid, q, answer)
    assert seen == {"paths", "digits", "committees", "handshakes", "lineups", "outfits"}


def test_most_training_traces_carry_checked_steps():
    train = [r for r in rows("counting") if r["split"] == "train"]
    checked = sum(1 for r in train if check_trace(f"<reasoning>{r['reasoning']}</reasoning>", r["answer"]).ok)
    assert checked > len(train) // 2, (checked, len(train))
