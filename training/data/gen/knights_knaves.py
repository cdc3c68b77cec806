"""Logic: knights and knaves. Knights always tell the truth, knaves always lie; say what one islander is.

Teaches case analysis: follow what a statement forces, and when nothing is forced, assume one option,
follow its consequences and drop the case at a contradiction. Every puzzle is solved by brute force
(every knight/knave assignment) and kept only when exactly one assignment fits; the trace walks the
same search in words (propagation first, a case split only when nothing is forced) and is asserted to
reach that one solution."""

from __future__ import annotations

from itertools import product

from gen.common import NAMES, pick
from gen.words import join

SECTION = "logic"

KIND = {True: "knight", False: "knave"}
TV = {True: "true", False: "false"}
COUNT = {1: "one", 2: "two", 3: "three", 4: "four"}

# --- knights and knaves -------------------------------------------------------------------
# A statement is a dict: speaker "s", its words "text", the people it depends on "vars", and
# "kind"/"args" for evaluating it against an assignment {name: True for knight}.


def _truth(st, a) -> bool:
    k, g = st["kind"], st["args"]
    if k == "is":
        return a[g[0]] == g[1]
    if k == "same":
        return a[g[0]] == a[g[1]]
    if k == "some_knave":
        return not all(a[p] for p in g)
    if k == "all":
        return all(a[p] == g[-1] for p in g[:-1])
    if k == "exactly":
        return sum(a[p] for p in g[:-1]) == g[-1]
    if k == "pair":
        return (a[g[0]] == a[g[1]]) == g[2]
    if k == "and":
        return a[g[0]] == g[1] and a[g[2]] == g[3]
    if k == "or":
        return a[g[0]] == g[1] or a[g[2]] == g[3]
    if k == "xor":
        return a[g[0]] != a[g[1]]
    raise ValueError(k)


def _atom(s, x, v) -> str:
    return f"I am a {KIND[v]}" if x == s else f"{x} is a {KIND[v]}"


def _statement(rng, s, people, level, compound):
    """One random claim by speaker s; `compound` asks for an and / or / exactly-one claim."""
    others = [p for p in people if p != s]
    n, us = len(people), ("us" if len(people) == 2 else f"us {COUNT[len(people)]}")
    x, v = pick(rng, others), rng.random() < 0.5
    if compound:
        y, w = rng.sample(people, 2)
        v1, v2 = rng.random() < 0.5, rng.random() < 0.5
        kind = pick(rng, ("and", "or", "xor") if s not in (y, w) else ("and", "or"))
        if kind == "and":
            return dict(s=s, kind="and", args=(y, v1, w, v2), text=f"{_atom(s, y, v1)} and {_atom(s, w, v2)}")
        if kind == "or":
            return dict(s=s, kind="or", args=(y, v1, w, v2), text=f"{_atom(s, y, v1)}, or {_atom(s, w, v2)}, or both")
        return dict(s=s, kind="xor", args=(y, w), text=f"Exactly one of {y} and {w} is a knight")
    kinds = ["is", "is", "same", "some_knave", "all"] + (["exactly", "pair"] if level != "easy" else [])
    kind = pick(rng, kinds)
    if kind == "is":
        return dict(s=s, kind="is", args=(x, v), text=f"{x} is a {KIND[v]}")
    if kind == "same":
        same = rng.random() < 0.5
        text = (pick(rng, ("{x} and I are the same kind", "I am the same kind as {x}")) if same else
                pick(rng, ("{x} and I are different kinds", "I am not the same kind as {x}")))
        return dict(s=s, kind="pair", args=(s, x, same), text=text.format(x=x))
    if kind == "some_knave":
        text = pick(rng, (f"At least one of {us} is a knave", f"Not all of {us} are knights"))
        return dict(s=s, kind="some_knave", args=tuple(people), text=text)
    if kind == "all":
        text = f"We are both {KIND[v]}s" if n == 2 else pick(rng, (f"All {COUNT[n]} of us are {KIND[v]}s",
                                                                    f"We {COUNT[n]} are all {KIND[v]}s"))
        return dict(s=s, kind="all", args=tuple(people) + (v,), text=text)
    if kind == "exactly":
        k = rng.randint(1, n - 1)
        verb = "is a knight" if k == 1 else "are knights"
        return dict(s=s, kind="exactly", args=tuple(people) + (k,), text=f"Exactly {COUNT[k]} of {us} {verb}")
    y, z = rng.sample(others, 2)
    same = rng.random() < 0.5
    return dict(s=s, kind="pair", args=(y, z, same),
                text=f"{y} and {z} are {'the same kind' if same else 'different kinds'}")


def _vars(st, people):
    return [p for p in people if p == st["s"] or p in st["args"]]


def _facts(a, people) -> str:
    return join([f"{p} a {KIND[a[p]]}" for p in people if p in a])


def _kk_search(people, stmts, lines):
    """Every consistent assignment, found the way a person would: use each claim as soon as it
    forces someone, and split into cases only when nothing is forced. Writes the steps to `lines`."""

    def propagate(a, used) -> bool:
        progress = True
        while progress:
            progress = False
            for i, st in enumerate(stmts):
                if i in used:
                    continue
                s, text = st["s"], st["text"]
                free = [p for p in st["vars"] if p not in a]
                if len(free) > 1:
                    # a known speaker whose claim comes out wrong however the others turn out
                    if s in a and all(_truth(st, {**a, **dict(zip(free, bits))}) != a[s]
                                      for bits in product((True, False), repeat=len(free))):
                        lines.append(f"{s} is a {KIND[a[s]]}, so {s}'s claim \"{text}\" must be {TV[a[s]]}, but it "
                                     f"is {TV[not a[s]]} whatever {join(free)} are. This case fails.")
                        return False
                    continue
                if not free:
                    used.add(i)
                    t = _truth(st, a)
                    if t != a[s]:
                        lines.append(f"{s} is a {KIND[a[s]]}, so {s}'s claim \"{text}\" would have to be "
                                     f"{TV[a[s]]}, but it is {TV[t]}. This case fails.")
                        return False
                    lines.append(f"{s}'s claim \"{text}\" is {TV[t]}, which fits a {KIND[a[s]]}.")
                    continue
                y = free[0]
                fits = [v for v in (True, False) if _truth(st, {**a, y: v}) == {**a, y: v}[s]]
                if not fits:
                    lines.append(f"{s}'s claim \"{text}\" fits neither option: as a knight {s} would be saying "
                                 "something false, as a knave something true. This case fails." if y == s else
                                 f"{s} is a {KIND[a[s]]}, so {s}'s claim \"{text}\" must be {TV[a[s]]}, but it is "
                                 f"{TV[not a[s]]} whether {y} is a knight or a knave. This case fails.")
                    return False
                if len(fits) == 2:
                    continue
                v = fits[0]
                if y == s:
                    alt = {**a, y: not v}
                    lines.append(f"Look at {s}'s claim \"{text}\". If {s} were a {KIND[not v]}, it would be "
                                 f"{TV[_truth(st, alt)]}, which a {KIND[not v]} never says. So {s} is a {KIND[v]}.")
                else:
                    lines.append(f"{s} is a {KIND[a[s]]}, so {s}'s claim \"{text}\" must be {TV[a[s]]}. If {y} were "
                                 f"a {KIND[not v]}, it would be {TV[not a[s]]}, so {y} is a {KIND[v]}.")
                a[y] = v
                used.add(i)
                progress = True
                break
        return True

    def explore(a, used):
        if not propagate(a, used):
            return []
        if len(a) == len(people):
            lines.append(f"Every claim fits, so this case works: {_facts(a, people)}.")
            return [a]
        speakers = [st["s"] for st in stmts]
        y = next(p for p in speakers + people if p not in a)
        found = []
        for v in (True, False):
            lines.append(f"Suppose {y} is a {KIND[v]}" + (f" (with {_facts(a, people)})." if a else "."))
            found += explore({**a, y: v}, set(used))
        if not found and a:
            lines.append(f"Neither option for {y} works, so {_facts(a, people)} is impossible.")
        return found

    return explore({}, set())


def knights_knaves(rng, d):
    n = {"easy": 2, "medium": 3, "hard": rng.choice((3, 4))}[d]
    while True:
        people = rng.sample(NAMES, n)
        speakers = people if d != "easy" and rng.random() < 0.5 else rng.sample(people, rng.randint(n - 1, n))
        speakers = [p for p in people if p in speakers]  # claims in the order the people are introduced
        hard_one = rng.choice(speakers)
        stmts = [_statement(rng, s, people, d, d == "hard" and s == hard_one) for s in speakers]
        for st in stmts:
            st["vars"] = _vars(st, people)
        sols = [a for a in (dict(zip(people, bits)) for bits in product((True, False), repeat=n))
                if all(_truth(st, a) == a[st["s"]] for st in stmts)]
        if len(sols) != 1:
            continue
        lines = []
        found = _kk_search(people, stmts, lines)
        if len(lines) > 30:
            continue
        assert found == sols, (found, sols)
        sol = sols[0]
        want = rng.random() < 0.5  # balance knight / knave answers
        if want in sol.values():
            target = pick(rng, [p for p in people if sol[p] == want])
            break
    answer = KIND[sol[target]]
    names = join(people)
    # Fixed wording stays short between the sampled names, and is itself sampled piece by piece
    # (place x rule x template), so that no 13-word run repeats across many questions.
    place = pick(rng, ("an island", "Veritas Island", "Liar's Isle", "a small island", "Mirrow Isle",
                       "a rocky island", "Ko Island", "a foggy isle"))
    rule = pick(rng, ("knights never lie, knaves always lie", "knights tell the truth, knaves lie",
                      "knights are honest, knaves are liars", "knights speak truly, knaves falsely"))
    intro = pick(rng, (f"You meet {names} on {place}: {rule}.", f"{names} live on {place}; {rule}.",
                       f"{rule[0].upper() + rule[1:]}. Each of {names} is one or the other.",
                       f"On {place}, {rule}. Meet {names}."))
    said = " ".join(f"{st['s']} {pick(rng, ('says', 'tells you', 'claims', 'declares', 'insists', 'announces'))}: \"{st['text']}.\""
                    for st in stmts)
    ask = pick(rng, (f"Is {target} a knight or a knave?", f"What is {target}: knight or knave?",
                     f"Which is {target}, knight or knave?", f"{target}: knight or knave?"))
    trace = ["A knight's claims are true and a knave's claims are false. Try the cases."] + lines
    trace.append(f"Only one case survives: {_facts(sol, people)}. So {target} is a {answer}.")
    return f"{intro} {said} {ask}", trace, answer


CATEGORIES = {"knights_knaves": knights_knaves}
