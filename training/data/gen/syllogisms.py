"""Syllogisms: does a conclusion follow from two or three premises with all / no / some / some ... not?

Teaches the difference between "must be true" and "could be true". Validity is decided by brute
force over set models: each region of the Venn diagram of the 3-4 terms is empty or not, and the
argument is valid iff the conclusion holds in every model where the premises hold. Arguments whose
verdict would change if every term were assumed non-empty are skipped (no existential-import
trap), and so are contradictory premises. The trace argues in words: for a valid argument it
assumes the conclusion false, follows one object through the premises to a contradiction; for an
invalid one it describes a small situation where every premise is true and the conclusion false."""

from __future__ import annotations

from gen.common import NAMES, pick

SECTION = "syllogisms"

# (plural, singular) class terms: made-up words, so that what we know about the world cannot help.
TERMS = (("glimps", "glimp"), ("florbs", "florb"), ("zorbles", "zorble"), ("quenks", "quenk"),
         ("dravs", "drav"), ("blickets", "blicket"), ("wugs", "wug"), ("tamps", "tamp"), ("snarks", "snark"),
         ("vorps", "vorp"), ("plinks", "plink"), ("grobs", "grob"), ("yeebs", "yeeb"), ("frells", "frell"),
         ("kreels", "kreel"), ("mibbles", "mibble"), ("trunes", "trune"), ("oomps", "oomp"), ("jindles", "jindle"),
         ("painters", "painter"), ("cyclists", "cyclist"), ("gardeners", "gardener"), ("musicians", "musician"),
         ("sailors", "sailor"), ("poets", "poet"), ("dancers", "dancer"), ("pilots", "pilot"), ("bakers", "baker"),
         ("climbers", "climber"), ("archers", "archer"), ("jugglers", "juggler"), ("weavers", "weaver"))
QUANTS = ("all", "no", "some", "some_not")
NEGATE = {"all": "some_not", "some_not": "all", "no": "some", "some": "no"}


def text(st, terms) -> str:
    q, x, y = st
    X, Y = terms[x][0], terms[y][0]
    return {"all": f"All {X} are {Y}", "no": f"No {X} are {Y}", "some": f"Some {X} are {Y}",
            "some_not": f"Some {X} are not {Y}"}[q]


def _lower(s: str) -> str:
    return s[0].lower() + s[1:]


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


# --- the brute force over set models -------------------------------------------------------
# A model is a bit mask over the regions 1 .. 2^k - 1 of the Venn diagram (region r holds the things
# in exactly the terms whose bits r has); bit r - 1 set means region r is non-empty.

def _mask(k, test) -> int:
    return sum(1 << (r - 1) for r in range(1, 2 ** k) if test(r))


def _parts(st, k):
    """(quantifier kind, region mask): "empty" statements need the mask empty, "exists" need it not."""
    q, x, y = st
    both = _mask(k, lambda r: r >> x & 1 and r >> y & 1)
    only_x = _mask(k, lambda r: r >> x & 1 and not r >> y & 1)
    return {"all": ("empty", only_x), "no": ("empty", both), "some": ("exists", both),
            "some_not": ("exists", only_x)}[q]


def _holds(st, model, k) -> bool:
    kind, m = _parts(st, k)
    return (model & m == 0) if kind == "empty" else (model & m != 0)


def counter_model(premises, concl, k, import_terms=False):
    """A model where every premise holds and the conclusion fails (None if there is none: valid).
    Every model in which a universal premise fails is skipped at once: only the subsets of the
    regions those premises leave open can satisfy them, and each such subset is checked."""
    full = 2 ** (2 ** k - 1) - 1
    allowed = full
    for st in premises:
        kind, m = _parts(st, k)
        if kind == "empty":
            allowed &= ~m
    need = [_parts(st, k)[1] for st in premises if _parts(st, k)[0] == "exists"]
    if import_terms:  # "Aristotle's" reading: every term names at least one thing
        need += [_mask(k, lambda r, t=t: r >> t & 1) for t in range(k)]
    c_kind, c_mask = _parts(concl, k)
    sub = allowed
    while True:
        concl_holds = (sub & c_mask == 0) if c_kind == "empty" else (sub & c_mask != 0)
        if not concl_holds and all(sub & m for m in need):
            return sub
        if sub == 0:
            return None
        sub = (sub - 1) & allowed


def _satisfiable(premises, k, import_terms) -> bool:
    # "Some X are not X" fails in every model, so a counter-model to it is any model of the premises.
    return counter_model(premises, ("some_not", 0, 0), k, import_terms) is not None


# --- the trace: one object followed through the premises ------------------------------------
# A rule (from_literal, to_literal, reason) reads "whatever is (not) X is (not) Y"; a literal is
# (term, True/False). "All X are Y" gives X -> Y and not Y -> not X; "No X are Y" gives X -> not Y
# and Y -> not X.

def _rules(st, reason):
    q, x, y = st
    if q == "all":
        return [((x, True), (y, True), reason), ((y, False), (x, False), reason)]
    if q == "no":
        return [((x, True), (y, False), reason), ((y, True), (x, False), reason)]
    return []


def _lit(lit, terms) -> str:
    return ("" if lit[1] else "not ") + _a(terms[lit[0]][1])


def _chase(start, rules):
    """Apply the rules to one object known to satisfy `start`; returns (facts, derivation order,
    conflict) where facts maps a term to (value, the rule and fact it came from)."""
    facts = {t: (v, None) for t, v in start}
    order = [(t, v) for t, v in start]
    progress = True
    while progress:
        progress = False
        for src, dst, reason in rules:
            if facts.get(src[0], (None,))[0] != src[1]:
                continue
            if dst[0] not in facts:
                facts[dst[0]] = (dst[1], (src, reason))
                order.append(dst)
                progress = True
            elif facts[dst[0]][0] != dst[1]:
                return facts, order, (src, dst, reason)
    return facts, order, None


def _valid_trace(premises, concl, terms):
    """The words for a valid argument: a start whose object runs into a contradiction."""
    neg = (NEGATE[concl[0]],) + concl[1:]
    rules = [r for i, st in enumerate(premises, 1) for r in _rules(st, f"premise {i} says {_lower(text(st, terms))}")]
    rules += _rules(neg, f"with the conclusion false, {_lower(text(neg, terms))}")
    starts = [(neg, f"With the conclusion false, {_lower(text(neg, terms))}: take one such thing, x.")] * (
        neg[0] in ("some", "some_not"))
    starts += [(st, f"Premise {i} says {_lower(text(st, terms))}: take one such thing, x.")
               for i, st in enumerate(premises, 1) if st[0] in ("some", "some_not")]
    for st, intro in starts:
        q, x, y = st
        facts, order, conflict = _chase([(x, True), (y, q == "some")], rules)
        if conflict is None:
            continue
        src, dst, reason = conflict
        needed = set()

        def need(t):  # the facts this conclusion depends on
            needed.add(t)
            if facts[t][1] is not None:
                need(facts[t][1][0][0])
        need(src[0])
        need(dst[0])
        lines = [intro, f"So x is {_lit((x, True), terms)} and {_lit((y, q == 'some'), terms)}."]
        for t, v in order[2:]:
            if t in needed:
                (s_lit, why) = facts[t][1]
                lines.append(f"x is {_lit(s_lit, terms)}, and {why}, so x is {_lit((t, v), terms)}.")
        lines.append(f"x is {_lit(src, terms)}, and {reason}, so x is {_lit(dst, terms)}. "
                     f"But x is also {_lit((dst[0], not dst[1]), terms)}: impossible.")
        return lines
    raise AssertionError("a valid argument whose contradiction was not found")


def _members(model, k):
    return [[bool(r >> t & 1) for t in range(k)] for r in range(1, 2 ** k) if model >> (r - 1) & 1]


def _describe(thing, terms) -> str:
    pos = [_a(terms[t][1]) for t, v in enumerate(thing) if v]
    neg = [_a(terms[t][1]) for t, v in enumerate(thing) if not v]
    out = " and ".join(pos)
    return out + ("" if not neg else ", but not " + " and not ".join(neg))


def _why(st, things, terms) -> str:
    """Why `st` is true (or false) in the situation `things`, in words."""
    q, x, y = st
    X, Y = _a(terms[x][1]), _a(terms[y][1])
    which = lambda test: [i for i, th in enumerate(things, 1) if test(th)]  # noqa: E731
    names = lambda ids: " and ".join(f"thing {i}" for i in ids)  # noqa: E731
    xs, both, only = which(lambda th: th[x]), which(lambda th: th[x] and th[y]), which(lambda th: th[x] and not th[y])
    if q in ("all", "some_not"):
        ok_all = not only
        return (f"every {terms[x][1]} here ({names(xs)}) is {Y}" if ok_all else f"{names(only[:1])} is {X} but not {Y}")
    return f"{names(both[:1])} is both {X} and {Y}" if both else f"nothing here is both {X} and {Y}"


def _invalid_trace(premises, concl, terms, model):
    k = len(terms)
    things = _members(model, k)
    lines = ["Look for a situation where every premise is true but the conclusion is false.",
             "Imagine just these things: " + "; ".join(f"thing {i} is {_describe(th, terms)}"
                                                       for i, th in enumerate(things, 1)) + "."]
    for i, st in enumerate(premises, 1):
        lines.append(f"Premise {i}, \"{text(st, terms)}\", is true: {_why(st, things, terms)}.")
    lines.append(f"The conclusion \"{text(concl, terms)}\" is false: {_why(concl, things, terms)}.")
    return lines


def _small_model(premises, concl, k, model):
    """Drop non-empty regions while the situation still works (every term still has a member)."""
    for bit in range(2 ** k - 1):
        smaller = model & ~(1 << bit)
        if (smaller != model and all(_holds(st, smaller, k) for st in premises) and not _holds(concl, smaller, k)
                and all(smaller & _mask(k, lambda r, t=t: r >> t & 1) for t in range(k))):
            model = smaller
    return model


# --- the generator -------------------------------------------------------------------------

def _links(rng, d, k):
    """The pairs of terms the premises relate, and the pair the conclusion relates."""
    if d != "hard":
        return [(i, i + 1) for i in range(k - 1)], (0, k - 1)
    order = rng.sample(range(k), k)
    links = [(order[i], order[rng.randrange(i)]) for i in range(1, k)]  # a random tree on the terms
    rng.shuffle(links)
    linked = [tuple(sorted(p)) for p in links]
    free = [(a, b) for a in range(k) for b in range(a + 1, k) if (a, b) not in linked]
    return links, pick(rng, free)


def syllogisms(rng, d):
    k = 3 if d == "easy" else 4
    want_valid = rng.random() < 0.5
    while True:
        terms = rng.sample(TERMS, k)
        links, (a, b) = _links(rng, d, k)
        # "all" and "no" make valid arguments possible; draw them more often when we want one.
        weights = (4, 2, 2, 1) if want_valid else (2, 1, 2, 2)
        premises = [(rng.choices(QUANTS, weights)[0],) + (p if rng.random() < 0.5 else p[::-1]) for p in links]
        concl = (rng.choices(QUANTS, weights)[0],) + ((a, b) if rng.random() < 0.5 else (b, a))
        if not (_satisfiable(premises, k, False) and _satisfiable(premises, k, True)):
            continue
        model = counter_model(premises, concl, k)
        if (model is None) != want_valid:
            continue
        with_import = counter_model(premises, concl, k, import_terms=True)
        if (with_import is None) != want_valid:
            continue  # the verdict would hinge on whether empty classes count
        break
    ptexts = [text(st, terms) for st in premises]
    ctext = text(concl, terms)
    if want_valid:
        trace = ["Suppose every premise is true but the conclusion is false, and look for a contradiction."]
        trace += _valid_trace(premises, concl, terms)
        trace.append("So the conclusion cannot be false while the premises are true: the argument is valid.")
    else:
        trace = _invalid_trace(premises, concl, terms, _small_model(premises, concl, k, with_import))
        trace.append("The premises do not force the conclusion, so the argument is invalid.")
    answer = "valid" if want_valid else "invalid"
    who = pick(rng, NAMES)
    joined = ", ".join(_lower(p) for p in ptexts[:-1]) + " and " + _lower(ptexts[-1])
    numbered = " ".join(f"({i}) {p}." for i, p in enumerate(ptexts, 1))
    ask = pick(rng, ("Valid or invalid?", "Answer valid or invalid.", "Is it valid or invalid?",
                     "Reply valid if it must follow, else invalid.", "Say valid or invalid."))
    question = pick(rng, (
        f"Premises: {'. '.join(ptexts)}. Conclusion: {ctext}. {ask}",
        f"Assume that {joined}. Does it follow that {_lower(ctext)}? {ask}",
        f"{who} reasons: \"{'. '.join(ptexts)}. So {_lower(ctext)}.\" Is {who}'s argument valid or invalid?",
        f"Consider {numbered} Conclusion: {ctext}. {ask}"))
    return question, trace, answer


CATEGORIES = {"syllogisms": syllogisms}
