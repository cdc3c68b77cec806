"""Logic: ordering puzzles. Seats in a row, places in a race or ranks by height, fixed by clues.

Teaches case analysis: track where each person can still be, follow what a clue forces, and when
nothing is forced, assume one option and drop the case at a contradiction. Every puzzle is solved by
brute force (every ordering) and kept only when exactly one ordering fits; the trace walks the same
search in words (propagation first, a case split only when nothing is forced) and is asserted to
reach that one solution."""

from __future__ import annotations

from itertools import permutations

from gen.common import NAMES, ordinal, pick
from gen.words import join

SECTION = "logic"

# --- ordering puzzles ----------------------------------------------------------------------
# A clue is (type, a, b-or-position); positions run 1..n (seat from the left, finishing place,
# rank from the tallest).

CONTEXTS = {
    "row": dict(noun="seat", before="{a} sits somewhere to the left of {b}",
                right_before="{a} sits directly to the left of {b}", at="{a} sits in seat {k}",
                not_at="{a} is not in seat {k}", end="{a} sits at an end", not_end="{a} is not at either end",
                next="{a} sits next to {b}", not_next="{a} does not sit next to {b}",
                gap1="{a} and {b} have one seat between them"),
    "race": dict(noun="place", before="{a} finished ahead of {b}", right_before="{b} finished right after {a}",
                 at="{a} finished {kth}", not_at="{a} did not finish {kth}", end="{a} finished first or last",
                 not_end="{a} was neither first nor last", next="{a} and {b} finished consecutively",
                 not_next="{a} and {b} did not finish consecutively", gap1="{a} and {b} had one runner between them"),
    "height": dict(noun="rank", before="{a} is taller than {b}", right_before="{b} is the next tallest after {a}",
                   at="{a} is the {kth}", not_at="{a} is not the {kth}", end="{a} is tallest or shortest",
                   not_end="{a} is neither tallest nor shortest", next="{a} and {b} are adjacent by height",
                   not_next="{a} and {b} are not adjacent by height", gap1="{a} and {b} are two ranks apart"),
}
WEIGHTS = {"before": 5, "right_before": 3, "at": 1, "not_at": 1, "end": 2, "not_end": 2, "next": 2,
           "not_next": 2, "gap1": 2}
UNARY = ("at", "not_at", "end", "not_end")


def _holds(c, pos, n) -> bool:
    t, a, b = c
    if t == "at":
        return pos[a] == b
    if t == "not_at":
        return pos[a] != b
    if t == "end":
        return pos[a] in (1, n)
    if t == "not_end":
        return pos[a] not in (1, n)
    gap = pos[b] - pos[a]
    return {"before": gap > 0, "right_before": gap == 1, "next": abs(gap) == 1, "not_next": abs(gap) != 1,
            "gap1": abs(gap) == 2}[t]


def _clue_text(c, ctx, n) -> str:
    t, a, b = c
    k = b if t in ("at", "not_at") else 0
    text = CONTEXTS[ctx][t].format(a=a, b=b, k=k, kth=_kth(k) if ctx == "height" else ordinal(k))
    return text[0].upper() + text[1:]


def _kth(k) -> str:
    return "tallest" if k == 1 else f"{ordinal(k)} tallest"


def _solutions(people, clues):
    n = len(people)
    return [dict(zip(perm, range(1, n + 1))) for perm in permutations(people)
            if all(_holds(c, dict(zip(perm, range(1, n + 1))), n) for c in clues)]


def _places(ks, noun) -> str:
    ks = sorted(ks)
    return f"{noun} {ks[0]}" if len(ks) == 1 else f"{noun} " + ", ".join(map(str, ks[:-1])) + f" or {ks[-1]}"


def _order_search(people, clues, ctx, lines):
    """Domain propagation plus case splits, in words; returns every arrangement that fits."""
    n, noun = len(people), CONTEXTS[ctx]["noun"]
    texts = [_clue_text(c, ctx, n) for c in clues]
    isin = lambda ks: "is in" if len(ks) == 1 else "can only be in"  # noqa: E731

    def propagate(dom, told) -> bool:
        while True:
            for p in people:  # a placed person takes the spot away from everybody else
                if len(dom[p]) == 1 and p not in told:
                    told.add(p)
                    k = dom[p][0]
                    hit = [q for q in people if q != p and k in dom[q]]
                    if hit:
                        for q in hit:
                            dom[q] = [x for x in dom[q] if x != k]
                        left = _grouped({q: dom[q] for q in hit}, noun)
                        lines.append(f"{p} is in {noun} {k}, so nobody else can be there. Now " + join(left) + "."
                                     + (" This case fails." if any(not dom[q] for q in hit) else ""))
                        if any(not dom[q] for q in hit):
                            return False
                        break
            else:
                changed = False
                for i, c in enumerate(clues):
                    if c[0] in UNARY:
                        continue
                    for x, y in ((c[1], c[2]), (c[2], c[1])):
                        new = [k for k in dom[x] if any(
                            j != k and _holds(c, {x: k, y: j}, n) for j in dom[y])]
                        if new != dom[x]:
                            head = f"Clue {i + 1}: {texts[i]}. Since {y} {isin(dom[y])} {_places(dom[y], noun)}, "
                            dom[x] = new
                            if not new:
                                lines.append(head + f"there is no {noun} left for {x}. This case fails.")
                                return False
                            lines.append(head + f"{x} {isin(new)} {_places(new, noun)}.")
                            changed = True
                            break
                    if changed:
                        break
                if changed:
                    continue
                for k in range(1, n + 1):
                    who = [p for p in people if k in dom[p]]
                    if not who:
                        lines.append(f"Nobody can be in {noun} {k} any more. This case fails.")
                        return False
                    if len(who) == 1 and len(dom[who[0]]) > 1:
                        dom[who[0]] = [k]
                        lines.append(f"Only {who[0]} can still be in {noun} {k}, so {who[0]} is in {noun} {k}.")
                        changed = True
                        break
                if not changed:
                    return True

    def explore(dom, told):
        if not propagate(dom, told):
            return []
        if all(len(dom[p]) == 1 for p in people):
            lines.append("Every clue fits: " + _arrangement({p: dom[p][0] for p in people}, noun) + ".")
            return [{p: dom[p][0] for p in people}]
        p = min((q for q in people if len(dom[q]) > 1), key=lambda q: len(dom[q]))
        found = []
        for k in dom[p]:
            lines.append(f"Suppose {p} is in {noun} {k}.")
            found += explore({**dom, p: [k]}, set(told))
        if not found:
            lines.append(f"No {noun} works for {p}, so this case fails.")
        return found

    dom = {p: list(range(1, n + 1)) for p in people}
    for i, c in enumerate(clues):
        if c[0] in UNARY:
            dom[c[1]] = [k for k in dom[c[1]] if _holds(c, {c[1]: k}, n)]
            lines.append(f"Clue {i + 1}: {texts[i]}. So {c[1]} {isin(dom[c[1]])} {_places(dom[c[1]], noun)}.")
    return explore(dom, set())


def _grouped(doms, noun) -> list[str]:
    """Phrases like "Sam and Ava can only be in seat 2 or 3", one phrase per distinct set of places left."""
    keys = []
    for ks in doms.values():
        if ks not in keys:
            keys.append(ks)
    out = []
    for ks in keys:
        who = [q for q in doms if doms[q] == ks]
        if not ks:
            out.append(f"{join(who)} {'has' if len(who) == 1 else 'have'} no {noun} left")
        elif len(ks) == 1:
            out.append(f"{who[0]} is in {noun} {ks[0]}" if len(who) == 1 else f"{join(who)} each have only {noun} {ks[0]} left")
        else:
            out.append(f"{join(who)} can only be in {_places(ks, noun)}")
    return out


def _arrangement(pos, noun) -> str:
    order = sorted(pos, key=pos.get)
    return ", ".join(f"{p} in {noun} {pos[p]}" for p in order)


def _pool(pos, n):
    """Every clue that is true of the arrangement `pos`."""
    people = sorted(pos, key=pos.get)
    pool = []
    for a in people:
        pool.append(("at", a, pos[a]))
        pool += [("not_at", a, k) for k in range(1, n + 1) if k != pos[a]]
        pool.append(("end" if pos[a] in (1, n) else "not_end", a, None))
        for b in people:
            if a != b:
                pool += [(t, a, b) for t in ("before", "right_before") if _holds((t, a, b), pos, n)]
                if pos[a] < pos[b]:  # symmetric clues once per pair, named in a random order later
                    pool += [(t, a, b) for t in ("next", "not_next", "gap1") if _holds((t, a, b), pos, n)]
    return pool


def ordering(rng, d):
    n = {"easy": 3, "medium": 4, "hard": 5}[d]
    ctx = pick(rng, ("row", "race", "height"))
    noun = CONTEXTS[ctx]["noun"]
    while True:
        people = rng.sample(NAMES, n)
        pos = dict(zip(rng.sample(people, n), range(1, n + 1)))
        pool = _pool(pos, n)
        clues = []
        while len(_solutions(people, clues)) > 1:  # add random true clues until one arrangement is left
            c = rng.choices(pool, [WEIGHTS[c[0]] for c in pool])[0]
            if c not in clues:
                clues.append(c if c[0] not in ("next", "not_next", "gap1") or rng.random() < 0.5
                             else (c[0], c[2], c[1]))
        for c in rng.sample(clues, len(clues)):  # drop clues the others already imply
            if len(_solutions(people, [x for x in clues if x != c])) == 1:
                clues.remove(c)
        if sum(c[0] == "at" for c in clues) > 1:
            continue
        rng.shuffle(clues)
        lines = []
        found = _order_search(people, clues, ctx, lines)
        if len(lines) > 30:
            continue
        assert found == [pos], (found, pos)
        break
    given = [c[1] for c in clues if c[0] == "at"]
    target = pick(rng, [p for p in people if p not in given])
    names = join(people)
    # Every intro ends with the names and every clue starts or ends near one: no long fixed runs.
    intro = pick(rng, {
        "row": (f"Seats 1 to {n} run from left to right, taken by {names}.",
                f"Sitting in seats 1 to {n}, left to right: {names}.",
                f"At the {pick(rng, ('cinema', 'theatre', 'counter', 'concert'))}, {names} take seats 1 to {n}, left to right."),
        "race": (f"{names} ran a {pick(rng, ('race', 'marathon', 'sprint', 'relay leg'))}, with no ties.",
                 f"In a {pick(rng, ('swimming race', 'bike race', 'sack race', 'fun run'))} with no ties, the runners were {names}.",
                 f"A {pick(rng, ('race', 'ski race', 'rowing race'))} had no ties; it was run by {names}."),
        "height": (f"{names} all have different heights.",
                   f"No two of {names} are the same height.",
                   f"For a photo, {names} line up; no two are equally tall."),
    }[ctx])
    texts = [_clue_text(c, ctx, n) for c in clues]
    listing = pick(rng, (" ".join(f"{i}) {t}." for i, t in enumerate(texts, 1)),
                         "; ".join(texts) + ".", " ".join(f"{t}." for t in texts)))
    lead = pick(rng, ("Clues:", "We know:", "Facts:", "Known:"))
    if rng.random() < 0.5:
        k = pos[target]
        answer = target
        ask = pick(rng, {"row": (f"Who sits in seat {k}?", f"Who is in seat {k}?", f"Whose seat is number {k}?"),
                         "race": (f"Who finished {ordinal(k)}?", f"Who came {ordinal(k)}?", f"Who took {ordinal(k)} place?"),
                         "height": (f"Who is the {_kth(k)}?", f"Which person is the {_kth(k)}?",
                                    f"Who ranks {ordinal(k)} by height, from the tallest?")}[ctx])
        ask += pick(rng, (" Give the name.", " Answer with a name.", " Name the person.", " Reply with a name."))
    else:
        answer = str(pos[target])
        ask = pick(rng, {"row": (f"Which seat is {target} in?", f"{target} sits in which seat?",
                                 f"What is {target}'s seat number?"),
                         "race": (f"In which place did {target} finish?", f"What place did {target} finish in?",
                                  f"Where did {target} finish?"),
                         "height": (f"What is {target}'s rank (1 is tallest)?", f"{target}'s rank, with 1 the tallest?",
                                    f"Ranking from tallest (1), where is {target}?")}[ctx])
        ask += pick(rng, (" Give a number.", " Answer with a number.", " Reply with the number.", " Just the number."))
    note = {"row": "seat 1 is the leftmost", "race": "place 1 is first", "height": "rank 1 is the tallest"}[ctx]
    trace = [f"Number the {noun}s 1 to {n} ({note}). Track where each person can still be."] + lines
    trace.append(f"The only arrangement is {_arrangement(pos, noun)}. So the answer is {answer}.")
    return f"{intro} {lead} {listing} {ask}", trace, answer


CATEGORIES = {"ordering": ordering}
