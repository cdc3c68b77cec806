"""Counting: outfits, handshakes, line-ups, committees, numbers made of given digits and grid paths.

Teaches the product rule, "ordered picks divided by the orders" (committees, handshakes, paths),
gluing neighbours into a block, complements and inclusion–exclusion. Every answer is counted by brute
force over the actual objects (itertools over the named people, options, digits and moves) and the
formula the trace explains is asserted to give that same count. The trace's arithmetic comes from
gen.steps in small checkable claims (a times-table product, or a bigger one broken down by place
value), the last one giving the answer."""

from __future__ import annotations

import itertools
import math

from gen.common import NAMES, pick
from gen.counting_steps import choose, done, fact, fall, product
from gen.steps import say
from gen.words import join

SECTION = "counting"


# --- outfits: the product rule, a banned pair (complement), two banned pairs (inclusion–exclusion) --

THEMES = (  # (thing, [(group, options)]); every option word is unique in its theme
    ("outfit", (("shirts", ("white", "striped", "plaid", "denim", "linen", "flannel")),
                ("kinds of trousers", ("jeans", "chinos", "cords", "joggers", "shorts")),
                ("hats", ("cap", "beanie", "fedora", "beret", "bowler")))),
    ("meal", (("starters", ("soup", "salad", "bruschetta", "olives", "samosas")),
              ("mains", ("pasta", "curry", "risotto", "tacos", "lasagne", "stew")),
              ("desserts", ("cake", "sorbet", "pudding", "tart", "trifle")))),
    ("pizza", (("bases", ("thin", "thick", "stuffed", "wholemeal")),
               ("sauces", ("tomato", "pesto", "barbecue", "garlic")),
               ("toppings", ("ham", "mushroom", "pepper", "onion", "pineapple", "sweetcorn")))),
    ("gift", (("boxes", ("red", "gold", "silver", "green", "blue")),
              ("ribbons", ("satin", "lace", "velvet", "cord")),
              ("cards", ("floral", "funny", "plain", "glitter", "vintage")))),
)


def outfits(rng, d):
    thing, groups = pick(rng, THEMES)
    ng = 3 if d == "hard" else rng.choice((2, 3))
    chosen = [(pl, rng.sample(opts, rng.randint(2, len(opts)))) for pl, opts in groups[:ng]]
    name = pick(rng, NAMES)
    glist = "; ".join(f"{pl} ({', '.join(o)})" for pl, o in chosen)
    q = pick(rng, (f"{name} is putting together a {thing} with one choice from each group: {glist}.",
                   f"{'An' if thing[0] in 'aeiou' else 'A'} {thing} at {name}'s place is one from each of these: {glist}.",
                   f"{name} picks one of each to make a {thing} - {glist}."))
    bans = []
    for _ in range({"easy": 0, "medium": 1, "hard": 2}[d]):
        while True:
            gi, gj = sorted(rng.sample(range(ng), 2))
            ban = (rng.choice(chosen[gi][1]), rng.choice(chosen[gj][1]))
            if ban not in bans:
                bans.append(ban)
                break
    for x, y in bans:
        q += pick(rng, (f" But {x} and {y} may never be chosen together.",
                        f" {name} refuses to combine {x} with {y}.",
                        f" Having both {x} and {y} is not allowed."))
    q += pick(rng, (f" How many different {thing}s can {name} make? Answer with a number.",
                    f" Count the {thing}s {name} could choose. Give a number.",
                    f" In how many ways can {name} choose? Reply with a number."))

    combos = list(itertools.product(*(o for _, o in chosen)))
    count = sum(1 for c in combos if not any(x in c and y in c for x, y in bans))
    sizes = [len(o) for _, o in chosen]
    text, total = product(sizes)
    lines = [f"There are {join(f'{n} {pl}' for n, (pl, _) in zip(sizes, chosen))}.",
             f"Every choice from one group goes with every choice from the others, so multiply: {text}."]
    if not bans:
        return (q, *done(lines, total, count))

    def with_all(items):  # combinations holding all these options: the other groups stay free
        where = {i for i, (_, o) in enumerate(chosen) for it in items if it in o}
        if len(where) < len(items):
            return 0, "impossible, since it would need two choices from one group"
        free = [sizes[i] for i in range(ng) if i not in where]
        if not free:
            return 1, "just 1 combination"
        return math.prod(free), f"the rest is free, {product(free)[0] if len(free) > 1 else free[0]} ways"

    bad = []
    for x, y in bans:
        n_bad, why = with_all((x, y))
        lines.append(f"{thing.capitalize()}s with both {x} and {y}: {why}.")
        bad.append(n_bad)
    if len(bans) == 1:
        lines.append(f"Take those away: {say(total, '-', bad[0])}.")
        return (q, *done(lines, total - bad[0], count))
    both_items = list(dict.fromkeys(bans[0] + bans[1]))
    n_both, why = with_all(both_items)
    lines.append(f"{thing.capitalize()}s breaking both rules at once ({join(both_items)}): {why}.")
    lines.append("Take away each kind of bad one, then add back those taken away twice: "
                 f"{say(total, '-', bad[0])}; {say(total - bad[0], '-', bad[1])}; {say(total - sum(bad), '+', n_both)}.")
    return (q, *done(lines, total - sum(bad) + n_both, count))


# --- handshakes: pairs of people, less the couples, less an absent person ----------------------

ACTS = (("shakes hands with everyone else once", "handshakes", "handshake"),
        ("plays everyone else once at chess", "games", "game"),
        ("high-fives everyone else once", "high-fives", "high-five"))


def handshakes(rng, d):
    act, nouns, noun = pick(rng, ACTS)
    k = rng.randint(2, 5) if d != "easy" else 0
    *people, host = rng.sample(NAMES, (2 * k if k else rng.randint(4, 9)) + 1)
    absent = people[0] if d == "hard" else None
    couples = [(people[2 * i], people[2 * i + 1]) for i in range(k)]
    rng.shuffle(couples)
    listed = sorted(people, key=lambda p: rng.random())
    q = pick(rng, (f"{join(listed)} meet, and each {act}.",
                   f"At {host}'s party, each of {join(listed)} {act}.",
                   f"There are {len(people)} friends: {join(listed)}. Each {act}."))
    if couples:
        q += f" The couples are {join(f'{a} & {b}' for a, b in couples)}; partners skip each other."
    if absent:
        q += pick(rng, (f" {absent} has a sore hand and sits out completely.",
                        f" {absent} arrives late and misses all of them."))
    q += pick(rng, (f" How many {nouns} does {host} count? Give a number.",
                    f" {host} counts the {nouns}. How many are there? Answer with a number.",
                    f" How many {nouns} will {host} see? Reply with a number."))

    present = [p for p in people if p != absent]
    ban = [set(c) for c in couples]
    count = sum(1 for pr in itertools.combinations(present, 2) if set(pr) not in ban)
    n = len(present)
    lines = [f"Count the pairs of people: each {noun} is one pair."]
    if absent:
        lines.append(f"{absent} takes part in none, so only the other {n} people count.")
    lines.append(f"Each of the {n} people pairs with {n - 1} others: {say(n, '×', n - 1)}.")
    pairs = n * (n - 1) // 2
    lines.append(f"That counts every {noun} twice, once from each side: {say(n * (n - 1), '/', 2)}.")
    if not couples:
        return (q, *done(lines, pairs, count))
    left = [c for c in couples if absent not in c]
    if absent:
        lines.append(f"The couple with {absent} is already gone, so {len(left)} couples remain.")
    lines.append(f"Remove the {len(left)} couple pairs: {say(pairs, '-', len(left))}.")
    return (q, *done(lines, pairs - len(left), count))


# --- line-ups: n!, one restriction, two restrictions ------------------------------------------

WORDS = ("CAT", "SUN", "DOG", "BIRD", "LAMP", "FISH", "WOLF", "FROG", "DESK", "PLANT", "TIGER", "HOUSE",
         "MOUSE", "CRANE", "BREAD", "CHAIR", "STORM", "CLOUD", "LEMON", "MANGO", "PIANO", "ROBIN", "PLANET",
         "FOREST", "GARDEN", "MONKEY", "SILVER", "CASTLE", "BRIDGE")  # no letter twice
LINES = ("For a photo, {p} stand in a row.", "{p} wait in a queue.", "At a show, {p} sit in a row of chairs.",
         "{p} give talks, one after another.")
SPELL = ("Tiles spelling {w} are mixed up and laid in a row.", "The letters of {w} (all different) are rearranged.",
         "Cards with the letters of {w} are shuffled and placed side by side.")
RULES = {  # rule: (difficulty, phrase); X, Y, Z are three of the people
    "first": ("medium", "{X} must be first"), "together": ("medium", "{X} and {Y} must be next to each other"),
    "not_end": ("medium", "{X} may not be at either end"), "before": ("medium", "{X} must come somewhere before {Y}"),
    "not_first_last": ("hard", "{X} may not be first and {Y} may not be last"),
    "together_first": ("hard", "{X} and {Y} must be next to each other and {Z} must be first"),
    "apart": ("hard", "{X} and {Y} must not be next to each other"),
}


def lineups(rng, d):
    n = rng.randint(3, 5) if d == "easy" else rng.randint(4, 6)
    letters = rng.random() < 0.4  # the letters of a word instead of people
    if letters:
        word = pick(rng, [w for w in WORDS if len(w) == n])
        people, what = rng.sample(list(word), n), "letters"
        q = pick(rng, SPELL).format(w=word)
    else:
        people, what = rng.sample(NAMES, n), "people"
        q = pick(rng, LINES).format(p=join(people))
    X, Y, Z = people[:3]
    rule = None if d == "easy" else pick(rng, [r for r, (rd, _) in RULES.items() if rd == d])
    if rule:
        q += " " + RULES[rule][1].format(X=X, Y=Y, Z=Z) + "."
    org = pick(rng, [p for p in NAMES if p not in people])
    q += pick(rng, (f" How many orders can {org} list? Answer with a number.",
                    f" {org} counts the possible orders. How many are there? Give a number.",
                    f" In how many orders can {org} arrange them? Reply with a number."))

    def ok(p):
        i, j, k = p.index(X), p.index(Y), p.index(Z)
        return {None: True, "first": i == 0, "together": abs(i - j) == 1, "not_end": 0 < i < n - 1,
                "before": i < j, "not_first_last": i != 0 and j != n - 1,
                "together_first": abs(i - j) == 1 and k == 0, "apart": abs(i - j) != 1}[rule]
    count = sum(1 for p in itertools.permutations(people) if ok(p))
    all_text, all_n = fact(n)
    f1_text, f1 = fact(n - 1)
    lines = []
    if rule in (None, "before", "not_first_last", "apart"):
        lines.append(f"With no rule, the first place can go to any of the {n} {what}, the next to any of the "
                     f"{n - 1} left, and so on: {all_text}.")
    if rule is None:
        return (q, *done(lines, all_n, count))
    if rule == "first":
        lines.append(f"{X} takes the first place; the other {n - 1} fill the rest in any order: {f1_text}.")
        return (q, *done(lines, f1, count))
    if rule in ("together", "apart"):
        lines.append(f"Glue {X} and {Y} into one block: that leaves {n - 1} units to order: {f1_text}.")
        lines.append(f"Inside the block they can stand in 2 orders: {say(f1, '×', 2)}.")
        if rule == "together":
            return (q, *done(lines, 2 * f1, count))
        lines.append(f"Those are exactly the orders where they are neighbours; take them away: {say(all_n, '-', 2 * f1)}.")
        return (q, *done(lines, all_n - 2 * f1, count))
    if rule == "not_end":
        lines.append(f"{X} can take any of the {n - 2} middle places; the other {n - 1} fill the rest: {f1_text}.")
        lines.append(f"Multiply: {say(n - 2, '×', f1)}.")
        return (q, *done(lines, (n - 2) * f1, count))
    if rule == "before":
        lines.append(f"Swapping {X} and {Y} pairs each order with one where the other comes first, "
                     f"so exactly half have {X} before {Y}: {say(all_n, '/', 2)}.")
        return (q, *done(lines, all_n // 2, count))
    f2_text, f2 = fact(n - 2)
    if rule == "together_first":
        lines.append(f"{Z} takes the first place. Glue {X} and {Y} into a block: {n - 2} units fill the "
                     f"other places: {f2_text}.")
        lines.append(f"The block has 2 inner orders: {say(f2, '×', 2)}.")
        return (q, *done(lines, 2 * f2, count))
    lines.append(f"Orders with {X} first: the other {n - 1} in any order, {f1_text}. Orders with {Y} last: "
                 f"also {f1}.")
    lines.append(f"Orders with both {X} first and {Y} last: the middle {n - 2} in any order, {f2_text}.")
    lines.append("Take away both bad kinds, then add back the ones taken away twice: "
                 f"{say(all_n, '-', f1)}; {say(all_n - f1, '-', f1)}; {say(all_n - 2 * f1, '+', f2)}.")
    return (q, *done(lines, all_n - 2 * f1 + f2, count))


# --- committees: C(n, k), with someone in or out, a feuding pair, at least one of each club ----------

def committees(rng, d):
    body = pick(rng, ("committee", "team", "panel"))
    if d == "hard" and rng.random() < 0.4:  # at least one from each of two clubs
        b, g = rng.randint(2, 5), rng.randint(2, 5)
        *people, picker = rng.sample(NAMES, b + g + 1)
        c1, c2 = people[:b], people[b:]
        k = 3
        q = pick(rng, (f"The chess club has {join(c1)}; the drama club has {join(c2)}.",
                       f"{join(c1)} are in the chess club, and {join(c2)} are in the drama club."))
        q += f" {picker} chooses a {body} of {k} from these {b + g} people with at least one member from each club."
    else:
        n = rng.randint(4, 7) if d == "easy" else rng.randint(5, 9)
        *people, picker = rng.sample(NAMES, n + 1)
        k = rng.choice((2, 3)) if d != "medium" else rng.choice((2, 3, n - 2))
        X, Y = people[:2]
        rule = {"easy": None, "medium": pick(rng, ("in", "out")), "hard": pick(rng, ("feud", "in_feud"))}[d]
        q = pick(rng, (f"{picker} chooses a {body} of {k} from {join(sorted(people, key=lambda p: rng.random()))}.",
                       f"From the {n} people {join(people)}, {picker} must pick a {body} of {k}."))
        q += {None: "", "in": f" {X} must be on it.", "out": f" {X} refuses to serve.",
              "feud": f" {X} and {Y} refuse to serve together.",
              "in_feud": f" {X} must be on it, and {Y} will not serve with {X}."}[rule]
    q += pick(rng, (f" How many different {body}s can {picker} choose? Answer with a number.",
                    f" In how many ways can {picker} do this? Give a number.",
                    f" Count the {body}s {picker} could pick. Reply with a number."))

    if "club" in q:
        count = sum(1 for t in itertools.combinations(people, k) if set(t) & set(c1) and set(t) & set(c2))
        lines, total = choose(b + g, k, "people")
        l1, only1 = choose(b, k, "chess players") if b >= k else ([], 0)
        l2, only2 = choose(g, k, "drama members") if g >= k else ([], 0)
        lines += [f"Now the {body}s that miss a club. All from chess:"] + (l1 or [f"Impossible with only {b}, so 0."])
        lines += ["All from drama:"] + (l2 or [f"Impossible with only {g}, so 0."])
        lines.append(f"Take both kinds away: {say(total, '-', only1)}; {say(total - only1, '-', only2)}.")
        return (q, *done(lines, total - only1 - only2, count))

    def ok(t):
        return {None: True, "in": X in t, "out": X not in t, "feud": not (X in t and Y in t),
                "in_feud": X in t and Y not in t}[rule]
    count = sum(1 for t in itertools.combinations(people, k) if ok(t))
    order = [f"The order of choosing does not matter, only who is on the {body}."]

    def seats(m):
        return f"{m} seats are" if m > 1 else "seat is"
    if rule is None:
        lines, c = choose(n, k, "people")
        return (q, *done(order + lines, c, count))
    if rule == "in":
        lines, c = choose(n - 1, k - 1, "others")
        return (q, *done(order + [f"{X} takes one seat; the other {seats(k - 1)} filled from the other {n - 1}."] + lines, c, count))
    if rule == "out":
        lines, c = choose(n - 1, k, "others")
        return (q, *done(order + [f"Leave {X} out: all {k} come from the other {n - 1}."] + lines, c, count))
    if rule == "in_feud":
        lines, c = choose(n - 2, k - 1, "people left")
        return (q, *done(order + [f"{X} takes one seat and {Y} is out, so the other {seats(k - 1)} "
                                  f"filled from the remaining {n - 2}."] + lines, c, count))
    lines, total = choose(n, k, "people")
    lines = order + ["First ignore the feud."] + lines
    bad_lines, bad = choose(n - 2, k - 2, "others")
    lines += [f"{body.capitalize()}s with both {X} and {Y}: the other {k - 2} come from the remaining {n - 2}."]
    lines += bad_lines + [f"Take those away: {say(total, '-', bad)}."]
    return (q, *done(lines, total - bad, count))


# --- numbers from given digits: place by place, the pickiest place first; a complement ------------

def digits(rng, d):
    ds = sorted(rng.sample(range(1, 10), rng.randint(3, 5) if d == "easy" else rng.randint(4, 6)))
    length = 2 if d == "easy" else 3
    rule = {"easy": pick(rng, ("repeat", "distinct")),
            "medium": pick(rng, ("distinct", "even", "big")),
            "hard": pick(rng, ("distinct_even", "distinct_big", "has"))}[d]
    evens, bigs = [x for x in ds if x % 2 == 0], [x for x in ds if x > 5]
    if ("even" in rule and not evens) or ("big" in rule and not bigs):
        return digits(rng, d)
    x = rng.choice(ds)
    distinct = "distinct" in rule
    dl = join(map(str, ds))
    name = pick(rng, NAMES)
    noun = f"{'even ' if 'even' in rule else ''}{length}-digit {pick(rng, ('numbers', 'codes'))}"
    noun += {"big": " above 600", "distinct_big": " above 600", "has": f" containing at least one {x}"}.get(rule, "")
    noun += pick(rng, (" (no repeats)", " (each digit at most once)") if distinct else
                 (" (repeats allowed)", " (a digit may be used again)"))
    q = pick(rng, (f"How many {noun} can {name} form from the digits {dl}?",
                   f"{name} may use only the digits {dl}. How many {noun} are possible?",
                   f"Using just {dl}, how many {noun} can {name} write?"))
    q += pick(rng, (" Answer with a number.", " Give a number.", " Reply with a number."))

    def ok(t):
        v = int("".join(map(str, t)))
        return ((not distinct or len(set(t)) == length) and (v % 2 == 0 or "even" not in rule)
                and (v > 600 or "big" not in rule) and (x in t or rule != "has"))
    count = sum(1 for t in itertools.product(ds, repeat=length) if ok(t))
    n = len(ds)
    lines = [f"There are {n} digits to use. Fill the places one at a time."]
    if rule == "has":
        all_text, total = product([n] * length)
        none_text, none = product([n - 1] * length)
        lines += [f"All {length}-digit numbers from these digits: {all_text}.",
                  f"Those with no {x} at all use only the other {n - 1} digits: {none_text}.",
                  f"The rest contain at least one {x}: {say(total, '-', none)}."]
        return (q, *done(lines, total - none, count))
    if rule in ("repeat", "distinct"):
        factors = [n] * length if rule == "repeat" else fall(n, length)
        lines.append("Each place can take any digit." if rule == "repeat" else
                     "Each place can take any digit not used yet, so each place has one choice fewer.")
    elif rule in ("even", "distinct_even"):
        factors = [len(evens)] + ([n] * 2 if rule == "even" else fall(n - 1, 2))
        lines.append(f"The last digit must be even: {join(map(str, evens))}, so {len(evens)} choices. "
                     + ("The other two places take any digit." if rule == "even" else
                        f"Then the first place has {n - 1} choices left and the middle place {n - 2}."))
    else:
        factors = [len(bigs)] + ([n] * 2 if rule == "big" else fall(n - 1, 2))
        lines.append(f"Greater than 600 means the first digit is more than 5: {join(map(str, bigs))}, "
                     f"so {len(bigs)} choice{'s' * (len(bigs) > 1)}. "
                     + ("The other two places take any digit." if rule == "big" else
                        f"Then the next place has {n - 1} choices left and the last place {n - 2}."))
    text, total = product(factors)
    lines.append(f"Multiply the choices: {text}.")
    return (q, *done(lines, total, count))


# --- grid paths: which of the moves go north; through a corner; avoiding a corner -----------------

def paths(rng, d):
    while True:
        a, b = rng.randint(2, 5), rng.randint(2, 5)
        x, y = rng.randint(0, a), rng.randint(0, b)
        if min(a, b) <= 3 and (x, y) not in ((0, 0), (a, b)) and (d == "medium" or 0 < x < a or 0 < y < b):
            break
    rule = "plain" if d == "medium" and rng.random() < 0.4 else ("via" if d == "medium" else "avoid")
    name = pick(rng, NAMES)
    q = pick(rng, (f"Going only east or north, {name} walks a street grid from (0, 0) to ({a}, {b}).",
                   f"Moving only east or north, {name}'s robot goes from (0, 0) to ({a}, {b}).",
                   f"On a grid, {name} travels from (0, 0) to ({a}, {b}) by unit steps east or north."))
    q += {"plain": "", "via": f" The route must pass through ({x}, {y}).",
          "avoid": pick(rng, (f" The corner ({x}, {y}) is closed and may not be used.",
                              f" The point ({x}, {y}) must be avoided."))}[rule]
    q += pick(rng, (f" How many different routes can {name} take? Answer with a number.",
                    f" Count {name}'s possible paths. Give a number.",
                    f" In how many ways can {name} make the trip? Reply with a number."))

    def visits(moves):
        px = py = 0
        seen = [(0, 0)]
        for m in moves:
            px, py = px + (m == "E"), py + (m == "N")
            seen.append((px, py))
        return (x, y) in seen
    walks = [["N" if i in c else "E" for i in range(a + b)] for c in itertools.combinations(range(a + b), b)]
    count = sum(1 for w in walks if {"plain": True, "via": visits(w), "avoid": not visits(w)}[rule])

    def routes(w, h, where):
        if min(w, h) == 0:
            return [f"{where}: a straight line, just 1 route."], 1
        lines, c = choose(w + h, min(w, h), "moves")
        return [f"{where}: {w} east and {h} north moves, {w + h} in all; a route is fixed by which "
                f"{min(w, h)} of them go {'east' if w <= h else 'north'}."] + lines, c
    total_lines, total = routes(a, b, f"From (0, 0) to ({a}, {b})")
    if rule == "plain":
        return (q, *done(total_lines, total, count))
    l1, c1 = routes(x, y, f"From (0, 0) to ({x}, {y})")
    l2, c2 = routes(a - x, b - y, f"From ({x}, {y}) to ({a}, {b})")
    lines = l1 + l2 + [f"Every first half goes with every second half: {say(c1, '×', c2)}."]
    if rule == "via":
        return (q, *done(lines, c1 * c2, count))
    lines = total_lines + [f"Now the routes through ({x}, {y}), to take away."] + lines
    lines.append(f"Routes that avoid ({x}, {y}): {say(total, '-', c1 * c2)}.")
    return (q, *done(lines, total - c1 * c2, count))


KINDS = {"easy": (outfits, handshakes, lineups, committees, digits),
         "medium": (outfits, handshakes, lineups, committees, digits, paths),
         "hard": (outfits, handshakes, lineups, committees, digits, paths)}


def counting(rng, d):
    return pick(rng, KINDS[d])(rng, d)


CATEGORIES = {"counting": counting}
