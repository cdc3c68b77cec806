"""The v3 ordering puzzles (seats, races, heights), re-solved from the question text.

The solver here reads only the question, brute-forces every ordering, and checks that exactly one fits
and that it gives the stored answer (it shares no code with gen/ordering.py)."""

import re
from itertools import permutations

from v3_data import people, records, rows

ORDER_CLUES = {  # context -> [(pattern, clue type)]: positions count from the left / first / tallest
    "row": [(r"(\w+) sits somewhere to the left of (\w+)", "before"), (r"(\w+) sits directly to the left of (\w+)", "just"),
            (r"(\w+) sits in seat (\d)", "at"), (r"(\w+) is not in seat (\d)", "not_at"),
            (r"(\w+) sits at an end", "end"), (r"(\w+) is not at either end", "not_end"),
            (r"(\w+) sits next to (\w+)", "next"), (r"(\w+) does not sit next to (\w+)", "not_next"),
            (r"(\w+) and (\w+) have one seat between them", "gap1")],
    "race": [(r"(\w+) finished ahead of (\w+)", "before"), (r"(\w+) finished right after (\w+)", "just_after"),
             (r"(\w+) finished (\d)(?:st|nd|rd|th)", "at"), (r"(\w+) did not finish (\d)(?:st|nd|rd|th)", "not_at"),
             (r"(\w+) finished first or last", "end"), (r"(\w+) was neither first nor last", "not_end"),
             (r"(\w+) and (\w+) finished consecutively", "next"), (r"(\w+) and (\w+) did not finish consecutively", "not_next"),
             (r"(\w+) and (\w+) had one runner between them", "gap1")],
    "height": [(r"(\w+) is taller than (\w+)", "before"), (r"(\w+) is the next tallest after (\w+)", "just_after"),
               (r"(\w+) is the (tallest|\d(?:st|nd|rd|th) tallest)", "at"),
               (r"(\w+) is not the (tallest|\d(?:st|nd|rd|th) tallest)", "not_at"),
               (r"(\w+) is tallest or shortest", "end"), (r"(\w+) is neither tallest nor shortest", "not_end"),
               (r"(\w+) and (\w+) are adjacent by height", "next"), (r"(\w+) and (\w+) are not adjacent by height", "not_next"),
               (r"(\w+) and (\w+) are two ranks apart", "gap1")],
}


def _rank(s):
    return 1 if s == "tallest" else int(s[0])


def _order_test(kind, args, n):
    a, b = args[0], args[1] if len(args) > 1 else None
    return {
        "before": lambda p: p[a] < p[b], "just": lambda p: p[b] == p[a] + 1, "just_after": lambda p: p[a] == p[b] + 1,
        "at": lambda p: p[a] == _rank(b), "not_at": lambda p: p[a] != _rank(b), "end": lambda p: p[a] in (1, n),
        "not_end": lambda p: p[a] not in (1, n), "next": lambda p: abs(p[a] - p[b]) == 1,
        "not_next": lambda p: abs(p[a] - p[b]) != 1, "gap1": lambda p: abs(p[a] - p[b]) == 2,
    }[kind]


def test_ordering_answers_are_the_unique_solution():
    diff = {r["id"]: r["difficulty"] for r in rows("ordering")}
    for rid, q, answer, _ in records("ordering"):
        names = people(q)
        n = len(names)
        ctx = "row" if "seat" in q else "height" if "tall" in q else "race"
        body = re.split(r"(?:Clues|We know|Facts|Known): ", q, maxsplit=1)[1]
        ask_at = re.search(r"[.;] ([^.;]*\?)", body).start() + 2  # the question: the sentence with "?"
        clue_part, ask = body[:ask_at], body[ask_at:]
        tests = []
        for piece in re.split(r"\d\) |[.;] ?", clue_part):
            if not piece.strip():
                continue
            found = [(kind, m.groups()) for pat, kind in ORDER_CLUES[ctx] if (m := re.fullmatch(pat, piece.strip()))]
            assert len(found) == 1, (rid, piece)
            tests.append(_order_test(*found[0], n))
        sols = [p for p in (dict(zip(perm, range(1, n + 1))) for perm in permutations(names))
                if all(t(p) for t in tests)]
        assert len(sols) == 1, (rid, q, sols)
        named = [p for p in names if re.search(rf"\b{p}\b", ask)]
        if named:
            assert answer == str(sols[0][named[0]]), (rid, q, answer)
        else:
            k = int(m.group(1)) if (m := re.search(r"(\d)", ask)) else 1  # "Who is the tallest?"
            assert answer == next(p for p in names if sols[0][p] == k), (rid, q, answer)
        assert n == {"easy": 3, "medium": 4, "hard": 5}[diff[rid]], (rid, q)
