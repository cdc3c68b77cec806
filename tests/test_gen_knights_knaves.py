"""The v3 knights-and-knaves records, re-solved from the question text.

The solver here reads only the question, brute-forces every knight/knave assignment, and checks that
exactly one fits and that it gives the stored answer (it shares no code with gen/knights_knaves.py)."""

import re
from itertools import product

from v3_data import people, records, rows

NUM = {"one": 1, "two": 2, "three": 3, "four": 4}


def _atom(s, speaker):
    """'Ben is a knave' / 'I am a knight' -> (person, is_knight)."""
    m = re.fullmatch(r"(\w+) (?:is|am) a (knight|knave)", s)
    assert m, s
    return (speaker if m.group(1) == "I" else m.group(1)), m.group(2) == "knight"


def _claim(s, speaker, people):
    """The claim as a test of an assignment {name: is_knight}."""
    if m := re.fullmatch(r"(.+), or (.+), or both", s):
        (x, v), (y, w) = _atom(m.group(1), speaker), _atom(m.group(2), speaker)
        return lambda a: a[x] == v or a[y] == w
    if m := re.fullmatch(r"Exactly one of (\w+) and (\w+) is a knight", s):
        return lambda a: a[m.group(1)] != a[m.group(2)]
    if m := re.fullmatch(r"((?:\w+ is|I am) a \w+) and ((?:\w+ is|I am) a \w+)", s):
        (x, v), (y, w) = _atom(m.group(1), speaker), _atom(m.group(2), speaker)
        return lambda a: a[x] == v and a[y] == w
    if m := re.fullmatch(r"(\w+) and (\w+) are (the same kind|different kinds)", s):
        x, y = (speaker if g == "I" else g for g in m.group(1, 2))
        same = m.group(3) == "the same kind"
        return lambda a: (a[x] == a[y]) == same
    if m := re.fullmatch(r"I am (not )?the same kind as (\w+)", s):
        return lambda a: (a[speaker] == a[m.group(2)]) != bool(m.group(1))
    if re.fullmatch(r"At least one of us(?: \w+)? is a knave|Not all of us(?: \w+)? are knights", s):
        return lambda a: not all(a.values())
    if m := re.fullmatch(r"(?:We are both|All \w+ of us are|We \w+ are all) (knight|knave)s", s):
        return lambda a: all(v == (m.group(1) == "knight") for v in a.values())
    if m := re.fullmatch(r"Exactly (\w+) of us(?: \w+)? (?:is a knight|are knights)", s):
        return lambda a: sum(a.values()) == NUM[m.group(1)]
    if m := re.fullmatch(r"(\w+) is a (knight|knave)", s):
        return lambda a: a[m.group(1)] == (m.group(2) == "knight")
    raise AssertionError(f"unknown claim {s!r}")


def test_knights_knaves_answers_are_the_unique_solution():
    diff = {r["id"]: r["difficulty"] for r in rows("knights_knaves")}
    for rid, q, answer, _ in records("knights_knaves"):
        names = people(q)
        said = re.findall(r"(\w+) (?:says|tells you|claims|declares|insists|announces): \"([^\"]*)\.\"", q)
        assert said and all(s in names for s, _ in said), (rid, q)
        claims = [(s, _claim(text, s, names)) for s, text in said]
        sols = [a for a in (dict(zip(names, bits)) for bits in product((True, False), repeat=len(names)))
                if all(test(a) == a[s] for s, test in claims)]
        assert len(sols) == 1, (rid, q, sols)
        target = re.search(r"(?:Is|What is|Which is|\.\") (\w+)(?: a knight or a knave\?|: knight or knave\?|, knight)", q).group(1)
        assert answer == ("knight" if sols[0][target] else "knave"), (rid, q, answer)
        # difficulty changes the puzzle: 2 islanders, 3, then 3-4 with a compound claim
        n = len(names)
        compound = any(re.search(r"(?:I am|\w+ is) a \w+ and |, or both|Exactly one of [A-Z]", t) for _, t in said)
        assert {"easy": n == 2, "medium": n == 3, "hard": n in (3, 4) and compound}[diff[rid]], (rid, q)


def test_knights_and_knaves_answers_are_balanced():
    answers = [a for _, _, a, _ in records("knights_knaves")]
    assert 0.3 < answers.count("knight") / len(answers) < 0.7
