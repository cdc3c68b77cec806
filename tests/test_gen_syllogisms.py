"""The v3 syllogism records, re-judged from the question text.

The solver here shares no code with gen/syllogisms.py and uses another method: instead of listing
set models it asks, for each thing that some statement says exists, whether the universal
statements (all / no) force that thing into a contradiction. An argument is valid iff the premises
plus the denied conclusion demand such an impossible thing. (This is complete: all/no statements
are two-term clauses each with a negated term, so a thing that survives the forcing can be
completed by leaving it out of every class not forced on it.)"""

import re

from v3_data import records, rows

STATEMENT = re.compile(r"\b(all|no|some) ([a-z]+) are (not )?([a-z]+)", re.IGNORECASE)
DENY = {"all": "some_not", "some_not": "all", "no": "some", "some": "no"}


def _parse(question):
    found = [((q.lower() + ("_not" if neg else "")), x, y) for q, x, neg, y in STATEMENT.findall(question)]
    return found[:-1], found[-1]  # every template states the conclusion last


def _forced(start, universals):
    """The classes one thing is forced in (True) or out of (False), or None on a contradiction."""
    facts = dict(start)
    changed = True
    while changed:
        changed = False
        for q, x, y in universals:
            implications = ([((x, True), (y, True)), ((y, False), (x, False))] if q == "all" else
                            [((x, True), (y, False)), ((y, True), (x, False))])
            for (a, va), (b, vb) in implications:
                if facts.get(a) == va:
                    if b not in facts:
                        facts[b], changed = vb, True
                    elif facts[b] != vb:
                        return None
    return facts


def _consistent(statements, terms_exist):
    universals = [s for s in statements if s[0] in ("all", "no")]
    things = [[(x, True), (y, q == "some")] for q, x, y in statements if q in ("some", "some_not")]
    things += [[(t, True)] for t in terms_exist]
    return all(_forced(th, universals) is not None for th in things)


def _valid(premises, conclusion, terms_exist=()):
    denied = (DENY[conclusion[0]],) + conclusion[1:]
    return not _consistent(premises + [denied], terms_exist)


def test_syllogism_verdicts():
    diff = {r["id"]: r["difficulty"] for r in rows("syllogisms")}
    for rid, q, answer, _ in records("syllogisms"):
        premises, conclusion = _parse(q)
        terms = sorted({t for _, x, y in premises + [conclusion] for t in (x, y)})
        assert _consistent(premises, terms), (rid, q)  # never contradictory premises
        verdict = _valid(premises, conclusion)
        # no existential-import trap: the verdict is the same if every class is taken to be non-empty
        assert _valid(premises, conclusion, terms) == verdict, (rid, q)
        assert answer == ("valid" if verdict else "invalid"), (rid, q, answer)
        assert (len(premises), len(terms)) == {"easy": (2, 3), "medium": (3, 4), "hard": (3, 4)}[diff[rid]], (rid, q)


def test_solver_knows_the_classic_forms():
    cases = {"All a are b. All b are c. So all a are c.": True, "All a are b. Some c are a. So some c are b.": True,
             "No a are b. Some c are b. So some c are not a.": True, "All a are b. All c are b. So all a are c.": False,
             "Some a are b. Some b are c. So some a are c.": False,
             "All a are b. All b are c. So some a are c.": False}  # a might be empty
    for text, valid in cases.items():
        assert _valid(*_parse(text)) == valid, text


def test_syllogism_verdicts_are_balanced():
    answers = [a for _, _, a, _ in records("syllogisms")]
    share = answers.count("valid") / len(answers)
    assert 0.35 < share < 0.65, share
