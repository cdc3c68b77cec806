"""Reading: answer a question that chains facts from a short generated passage or table.

Teaches multi-hop lookup: find the fact about the named thing, carry its value into the next lookup
("the place where Ava works" -> the bakery -> "the owner of the bakery"), and filter / compare rows of
a small table before the final lookup. Passages are built from a sampled world of people, places,
towns, pets and mentors (every relation a function, so each question has one answer); hard passages
add distractor sentences and a third hop. Tables hold distinct numbers per column (no ties). The
answer is computed from the sampled world / rows by following the chain; the trace quotes each fact
used, in order, then concludes."""

from __future__ import annotations

from gen.common import NAMES, pick

# More people than common.NAMES: every passage question names someone, and a wider pool keeps
# questions from repeating word for word.
PEOPLE = NAMES + ("Aria", "Bram", "Carla", "Dev", "Elena", "Felix", "Gemma", "Hugo", "Ines", "Jonah", "Lena",
                  "Marco", "Nadia", "Omar", "Paula", "Ravi", "Sofia", "Theo", "Vera", "Wes", "Yara", "Zane",
                  "Alma", "Boris", "Cleo", "Dara", "Eli", "Fiona", "Gil", "Hana", "Ivan", "Jade", "Kofi", "Lola")

SECTION = "reading"

# --- passages ------------------------------------------------------------------------------------

PLACES = ("bakery", "library", "pharmacy", "garage", "bookshop", "florist", "museum", "cinema", "bank",
          "gym", "school", "clinic", "diner", "hotel", "market", "studio")
STREETS = ("Elm Street", "Oak Avenue", "Pine Road", "Mill Lane", "High Street", "River Road", "Park Avenue",
           "Church Lane", "Maple Drive", "Station Road", "King Street", "Bridge Street")
TOWNS = ("Dover", "Ashford", "Kendal", "Bexley", "Truro", "Ludlow", "Selby", "Alston", "Wells", "Ripon",
         "Malton", "Hexham", "Thirsk", "Bude")
PETS = ("Biscuit", "Pepper", "Luna", "Kiwi", "Mango", "Shadow", "Ziggy", "Pickles", "Nala", "Oscar",
        "Waffles", "Bruno", "Coco", "Tiger")
SPECIES = ("dog", "cat", "parrot", "rabbit", "hamster", "tortoise", "goldfish")

# relation -> (subject kind, object kind, sentence templates)
RELATIONS = {
    "works": ("person", "place", ("{s} works at the {o}.", "{s} has a job at the {o}.")),
    "owner": ("place", "person", ("The {s} is owned by {o}.", "{o} owns the {s}.")),
    "street": ("place", "street", ("The {s} is on {o}.", "You can find the {s} on {o}.")),
    "lives": ("person", "town", ("{s} lives in {o}.", "{s}'s home is in {o}.")),
    "pet": ("person", "pet", ("{s} keeps a {sp} called {o}.", "{s} has a {sp} named {o}.")),
    "mentor": ("person", "person", ("{s}'s mentor is {o}.", "{o} is the mentor of {s}.")),
}
# How a chain step reads inside a question, and how the last step is asked.
NOUN = {"works": "the place where {x} works", "owner": "the owner of {x}", "mentor": "the mentor of {x}"}
ASK = {
    "owner": ("Who owns {x}?", "Who is the owner of {x}?", "Name the owner of {x}.", "{x} belongs to whom?"),
    "street": ("On which street is {x}?", "Which street is {x} on?", "What street can {x} be found on?",
               "Name the street of {x}."),
    "lives": ("In which town does {x} live?", "Where does {x} live?", "Which town is home to {x}?",
              "Name the town where {x} lives."),
    "pet": ("Name the pet that {x} keeps.", "What is the pet of {x} called?", "Which pet belongs to {x}?",
            "What pet does {x} have?"),
    "works": ("Where does {x} work?", "At which place does {x} work?", "Which place employs {x}?",
              "Name the workplace of {x}."),
    "mentor": ("Who is the mentor of {x}?", "Who mentors {x}?", "Name the mentor of {x}.", "Who acts as mentor to {x}?"),
}
FORM = {"person": ("Answer with the name.", "Give just the name.", "Reply with a name.", "One name, please."),
        "street": ("Answer with the street name.", "Give the street.", "Reply with the street.", "Just the street."),
        "town": ("Answer with the town.", "Give just the town.", "Reply with the town name.", "Just the town."),
        "pet": ("Answer with the pet's name.", "Give the pet's name only.", "Reply with the pet's name.", "Just its name."),
        "place": ("Answer with the place in one word.", "Give the place (one word).", "Reply with one word.",
                  "One word: the place.")}
# Chains start from a person, so every question names someone (templated words alone never run long).
CHAINS = {
    2: (("works", "owner"), ("works", "street"), ("mentor", "works"), ("mentor", "lives"), ("mentor", "pet"),
        ("mentor", "mentor")),
    3: (("works", "owner", "lives"), ("works", "owner", "pet"), ("works", "owner", "mentor"), ("works", "owner", "works"),
        ("mentor", "works", "owner"), ("mentor", "works", "street"), ("mentor", "mentor", "lives"),
        ("mentor", "mentor", "pet"), ("mentor", "mentor", "works")),
}
PASSAGE_INTROS = ("Read the passage.", "Here is a short passage:", "Passage:", "Read this:",
                  "Use the story below.")


def _world(rng, n_people, n_places):
    """A sampled world: every (subject, relation) has exactly one object (mentors form no cycle)."""
    people = rng.sample(PEOPLE, n_people)
    places = rng.sample(PLACES, n_places)
    streets, towns, pets = rng.sample(STREETS, n_places), rng.sample(TOWNS, n_people), rng.sample(PETS, n_people)
    facts = {}
    for i, p in enumerate(people):
        facts[(p, "works")] = pick(rng, places)
        facts[(p, "lives")] = pick(rng, towns[:max(2, n_people - 1)])  # some people share a town
        facts[(p, "pet")] = pets[i]
        if i + 1 < n_people:  # mentors come later in the order: no cycles
            facts[(p, "mentor")] = people[rng.randint(i + 1, n_people - 1)]
    for pl, st in zip(places, streets):
        facts[(pl, "street")] = st
        facts[(pl, "owner")] = pick(rng, people)
    species = {pets[i]: pick(rng, SPECIES) for i in range(n_people)}
    return people, places, facts, species


def _sentence(rng, subject, rel, obj, species):
    text = pick(rng, RELATIONS[rel][2]).format(s=subject, o=obj, sp=species.get(obj, ""))
    return text[0].upper() + text[1:]


def passage_two_hop(rng, difficulty):
    hops = 3 if difficulty == "hard" else 2
    n_people, n_places, n_sent = {"easy": (3, 2, (4, 5)), "medium": (4, 3, (6, 8)), "hard": (5, 4, (8, 10))}[difficulty]
    for _ in range(100):
        people, places, facts, species = _world(rng, n_people, n_places)
        chain = pick(rng, CHAINS[hops])
        start = pick(rng, people)
        path, x = [start], start
        for rel in chain:
            x = facts.get((x, rel))
            if x is None:
                break
            path.append(x)
        if x is None or len(set(path)) < len(path):
            continue  # a missing fact, or the chain comes back to where it was
        used = [(path[k], rel) for k, rel in enumerate(chain)]
        others = [k for k in facts if k not in used]
        rng.shuffle(others)
        keys = used + others[:rng.randint(*n_sent) - hops]
        said = {k: _sentence(rng, k[0], k[1], facts[k], species) for k in keys}
        rng.shuffle(keys)
        text = " ".join(said[k] for k in keys)
        return _passage_question(rng, text, chain, path, [said[k] for k in used])
    raise RuntimeError("no passage")


def _passage_question(rng, text, chain, path, quotes):
    np = path[0]
    nouns = [np]
    for rel in chain[:-1]:
        np = NOUN[rel].format(x=np)
        nouns.append(np)
    ask = pick(rng, ASK[chain[-1]]).format(x=np)
    ask = ask[0].upper() + ask[1:]
    form = pick(rng, FORM[RELATIONS[chain[-1]][1]])
    question = f"{pick(rng, PASSAGE_INTROS)}\n\n{text}\n\n{ask} {form}"
    trace = [f"First find {nouns[-1]}, starting from {nouns[0]} and following the facts one by one."]
    for k, rel in enumerate(chain):
        a, b = path[k], path[k + 1]
        what = {"works": f"{a} works at the {b}", "owner": f"the {a} is owned by {b}",
                "street": f"the {a} is on {b}", "lives": f"{a} lives in {b}", "pet": f"{a}'s pet is called {b}",
                "mentor": f"{a}'s mentor is {b}"}[rel]
        trace.append(f'The passage says: "{quotes[k]}" So {what}.')
    trace.append(f"So the answer is {path[-1]}.")
    return question, trace, path[-1]


# --- tables --------------------------------------------------------------------------------------

_SYL1 = ("Ar", "Bel", "Cor", "Dun", "El", "Fen", "Gar", "Hol", "Ist", "Kel", "Lor", "Mar", "Nor", "Or", "Pel",
         "Ros", "Sal", "Tor", "Val", "Wen")
_SYL2 = ("ton", "mere", "by", "wick", "ford", "haven", "mont", "dale", "stead", "burn")


class _Num:
    """A numeric column: header, the noun a question uses, comparatives, superlatives, the adjectives
    for the top / bottom row ("the most populous city"), and the range of its values."""

    def __init__(self, label, noun, more, less, most, least, top, bottom, lo, hi):
        self.label, self.noun, self.more, self.less, self.most, self.least = label, noun, more, less, most, least
        self.top, self.bottom, self.lo, self.hi = top, bottom, lo, hi


# (entity column, entity noun singular/plural, name kind, group column, groups, two numeric columns)
SCHEMAS = (
    ("City", ("city", "cities"), "places", "Country", ("France", "Spain", "Italy", "Norway", "Peru", "Chile", "Kenya", "Japan"),
     (_Num("Population (thousands)", "population", "larger", "smaller", "largest", "smallest", "most populous",
           "least populous", 20, 990),
      _Num("Founded", "founding year", "later", "earlier", "latest", "earliest", "newest", "oldest", 1100, 1950))),
    ("Employee", ("employee", "employees"), "people", "Department", ("Sales", "Finance", "Legal", "Design", "Support", "Research"),
     (_Num("Age", "age", "higher", "lower", "highest", "lowest", "oldest", "youngest", 21, 64),
      _Num("Salary", "salary", "higher", "lower", "highest", "lowest", "best-paid", "lowest-paid", 2100, 9800))),
    ("Student", ("student", "students"), "people", "Class", ("7A", "7B", "7C", "8A", "8B", "9A"),
     (_Num("Score", "score", "higher", "lower", "highest", "lowest", "top-scoring", "lowest-scoring", 40, 100),
      _Num("Height (cm)", "height", "greater", "smaller", "greatest", "smallest", "tallest", "shortest", 140, 190))),
    ("Product", ("product", "products"), "goods", "Store", ("Northgate", "Riverside", "Hillcrest", "Lakeview", "Westfield"),
     (_Num("Price", "price", "higher", "lower", "highest", "lowest", "priciest", "cheapest", 3, 99),
      _Num("Stock", "stock count", "higher", "lower", "highest", "lowest", "best-stocked", "least-stocked", 0, 80))),
    ("Mountain", ("mountain", "mountains"), "places", "Range", ("Alder", "Brume", "Cinder", "Drake", "Ember", "Frost"),
     (_Num("Height (m)", "height", "greater", "smaller", "greatest", "smallest", "highest", "lowest", 1200, 4800),
      _Num("First climbed", "first ascent year", "later", "earlier", "latest", "earliest", "last-climbed",
           "first-climbed", 1780, 1990))),
)
GOODS = ("kettle", "lamp", "chair", "desk", "mug", "fan", "clock", "rug", "toaster", "mirror", "pillow", "vase",
         "teapot", "radio", "sofa", "shelf", "jar", "bucket", "scarf", "helmet", "tent", "ladder", "wallet", "drill",
         "camera", "easel", "guitar", "hammock", "kite", "lantern", "napkin", "oven", "puzzle", "quilt", "saucepan",
         "blender", "stool", "basket", "candle")
TABLE_INTROS = ("The table lists {n} {pl}.", "Some {pl}:", "Here are {n} {pl}:", "Read the table.",
                "A small table ({n} rows):")


def _names(rng, kind, n):
    if kind == "people":
        return rng.sample(PEOPLE, n)
    if kind == "goods":
        return rng.sample(GOODS, n)
    return [a + b for a, b in rng.sample([(a, b) for a in _SYL1 for b in _SYL2], n)]


def _render(rng, header, rows):
    cells = [header] + [[str(c) for c in r] for r in rows]
    if rng.random() < 0.5:
        lines = ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join(lines[:1] + ["|" + "---|" * len(header)] + lines[1:])
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def _minus(a, b):
    """a - b (a >= b) by place value of b: "812 - 347: 812 - 300 = 512, 512 - 40 = 472, 472 - 7 = 465"."""
    parts = [int(d) * 10 ** i for i, d in enumerate(reversed(str(b))) if d != "0"][::-1]
    if len(parts) <= 1 or b <= 9:
        return f"{a} - {b} = {a - b}"
    steps, x = [], a
    for p in parts:
        steps.append(f"{x} - {p} = {x - p}")
        x -= p
    return f"{a} - {b}: " + ", ".join(steps)


def table_two_hop(rng, difficulty):
    ent, (one, many), kind, gcol, groups, nums = pick(rng, SCHEMAS)
    n_rows = {"easy": rng.randint(4, 5), "medium": rng.randint(5, 6), "hard": rng.randint(6, 7)}[difficulty]
    a, b = nums if rng.random() < 0.5 else nums[::-1]
    for _ in range(100):
        names = _names(rng, kind, n_rows)
        gs = [pick(rng, three) for three in [rng.sample(groups, 3)] for _ in names]  # few groups: they repeat
        va, vb = rng.sample(range(a.lo, a.hi + 1), n_rows), rng.sample(range(b.lo, b.hi + 1), n_rows)
        rows = {nm: {gcol: g, a.label: x, b.label: y} for nm, g, x, y in zip(names, gs, va, vb)}
        made = _table_question(rng, difficulty, one, many, gcol, a, b, rows)
        if made:
            break
    else:
        raise RuntimeError("no table question")
    ask, form, trace, answer = made
    columns = [ent, gcol] + [c.label for c in nums]
    table = _render(rng, columns, [[nm] + [r[c] for c in columns[1:]] for nm, r in rows.items()])
    intro = pick(rng, TABLE_INTROS).format(n=n_rows, pl=many)
    return f"{intro}\n\n{table}\n\n{ask} {form}", trace + [f"So the answer is {answer}."], answer


def _quote(nm, r, cols):
    return f"{nm}: " + ", ".join(f"{c} {r[c]}" for c in cols)


def _best(rows, names, col, most):
    return (max if most else min)(names, key=lambda nm: rows[nm][col])


def _table_question(rng, difficulty, one, many, gcol, a, b, rows):
    """(question, answer form, trace, answer) of one question kind for the difficulty, or None when
    these rows do not suit it. Every question names rows (the templated words alone stay short)."""
    names = list(rows)
    by_group = {}
    for nm in names:
        by_group.setdefault(rows[nm][gcol], []).append(nm)
    most = rng.random() < 0.5
    sup, adj, g_low = (a.most, a.top, gcol.lower()) if most else (a.least, a.bottom, gcol.lower())
    its = "their" if one in ("employee", "student") else "its"
    name_form = pick(rng, ("Answer with the name.", "Give just the name.", f"Reply with the {one}."))
    num_form = pick(rng, ("Answer with a number.", "Give the number only.", "Reply with the number."))
    x, y, z = rng.sample(names, 3)
    kind = pick(rng, {"easy": ("compare", "pick_three"), "medium": ("three_group", "group_lookup"),
                      "hard": ("same_group", "difference")}[difficulty])
    if kind == "compare":
        word = a.more if most else a.less
        win = _best(rows, [x, y], a.label, most)
        ask = pick(rng, (f"Which has the {word} {a.noun}, {x} or {y}?", f"Between {x} and {y}, which {one} has the {word} {a.noun}?",
                         f"Of {x} and {y}, which has the {word} {a.noun}?"))
        trace = [f"Row {_quote(x, rows[x], [a.label])}.", f"Row {_quote(y, rows[y], [a.label])}.",
                 f"{rows[win][a.label]} is the {word} {a.noun}, so it is {win}."]
        return ask, name_form, trace, win
    if kind in ("pick_three", "three_group"):
        trio = f"{x}, {y} and {z}"
        win = _best(rows, [x, y, z], a.label, most)
        trace = [f"Row {_quote(t, rows[t], [a.label])}." for t in (x, y, z)]
        trace.append(f"The {sup} {a.noun} of these is {rows[win][a.label]}, so it is {win}.")
        if kind == "pick_three":
            ask = pick(rng, (f"Of {trio}, which has the {sup} {a.noun}?", f"Which {one} has the {sup} {a.noun}: {x}, {y} or {z}?",
                             f"Among {trio}, which {one} has the {sup} {a.noun}?"))
            return ask, name_form, trace, win
        ask = pick(rng, (f"The {one} with the {sup} {a.noun} among {trio} belongs to which {g_low}?",
                         f"Give the {g_low} of whichever has the {sup} {a.noun} among {trio}.",
                         f"Name the {g_low} of the {adj} {one} out of {trio}."))
        form = pick(rng, (f"Answer with the {g_low}.", f"Give the {g_low} only.", "Reply with one word."))
        return ask, form, trace + [f"Row {_quote(win, rows[win], [gcol])}."], rows[win][gcol]
    g = rows[x][gcol]
    members = by_group[g] if kind == "group_lookup" else [m for m in by_group[g] if m != x]
    if kind in ("group_lookup", "same_group"):
        if len(members) < 2:
            return None
        win = _best(rows, members, a.label, most)
        trace = [f"Row {_quote(x, rows[x], [gcol])}.",
                 f"The {'other ' if kind == 'same_group' else ''}{many} with {gcol} {g}: "
                 + "; ".join(_quote(m, rows[m], [a.label]) for m in members) + ".",
                 f"Of these, the {sup} {a.noun} is {rows[win][a.label]}, which belongs to {win}."]
        if kind == "same_group":
            ask = pick(rng, (f"Not counting {x}, which {one} in {x}'s {g_low} has the {sup} {a.noun}?",
                             f"Among the other {many} with the same {g_low} as {x}, which has the {sup} {a.noun}?",
                             f"Which other {one} in {x}'s {g_low} has the {sup} {a.noun}?"))
            return ask, name_form, trace, win
        ask = pick(rng, (f"What is the {b.noun} of the {adj} {one} in {x}'s {g_low}?",
                         f"Find the {adj} {one} in {x}'s {g_low} and give {its} {b.noun}.",
                         f"Which {b.noun} belongs to the {adj} {one} in {x}'s {g_low}?"))
        return ask, num_form, trace + [f"Row {_quote(win, rows[win], [b.label])}."], str(rows[win][b.label])
    # difference: x's value against the best of y's group, a group x is not in
    h = rows[y][gcol]
    if h == g or len(by_group[h]) < 2:
        return None
    win = _best(rows, by_group[h], a.label, most)
    hi, lo = sorted((rows[x][a.label], rows[win][a.label]), reverse=True)
    ask = pick(rng, (f"What is the difference in {a.noun} between {x} and the {adj} {one} in {y}'s {g_low}?",
                     f"How big is the gap in {a.noun} between {x} and the {adj} {one} in {y}'s {g_low}?",
                     f"How far apart are the {a.noun} values of {x} and of the {adj} {one} in {y}'s {g_low}?"))
    trace = [f"Row {_quote(x, rows[x], [a.label])}.", f"Row {_quote(y, rows[y], [gcol])}.",
             f"The {many} with {gcol} {h}: " + "; ".join(_quote(m, rows[m], [a.label]) for m in by_group[h]) + ".",
             f"Of these, the {sup} {a.noun} is {rows[win][a.label]}, which belongs to {win}.",
             f"The difference is the larger minus the smaller: {_minus(hi, lo)}."]
    return ask, num_form, trace, str(hi - lo)


CATEGORIES = {"passage_two_hop": passage_two_hop, "table_two_hop": table_two_hop}
