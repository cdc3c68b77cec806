"""The v3 reading records, re-answered from the question text.

Passages: every sentence is parsed into a fact (each must read as exactly one of the known sentence
shapes), the question's noun phrase is unwound from the inside ("the owner of the place where Ava
works" -> works(Ava) -> owner(...)), and the facts are looked up. Tables: the rendered table
(markdown or space-aligned) is read back into rows, the question is matched against its phrasings,
and the answer is found by filtering and comparing the rows here. Nothing of gen/reading.py is used.
Worked traces must end on the answer and quote only sentences / cells that are really there (the trace
check itself is tests/test_data_v3.py's)."""

import re

from v3_data import records, rows

# --- passages ------------------------------------------------------------------------------------

SENTENCES = {  # relation: shapes; the groups are (subject, object) or (subject, species, object)
    "works": (r"(\w+) works at the (\w+)", r"(\w+) has a job at the (\w+)"),
    "owner": (r"The (\w+) is owned by (\w+)", r"(?P<o>\w+) owns the (?P<s>\w+)"),
    "street": (r"The (\w+) is on ([\w ]+)", r"You can find the (\w+) on ([\w ]+)"),
    "lives": (r"(\w+) lives in (\w+)", r"(\w+)'s home is in (\w+)"),
    "pet": (r"(\w+) keeps an? \w+ called (\w+)", r"(\w+) has an? \w+ named (\w+)"),
    "mentor": (r"(\w+)'s mentor is (\w+)", r"(?P<o>\w+) is the mentor of (?P<s>\w+)"),
}
ASKS = {  # final relation: question shapes around the noun phrase
    "owner": (r"Who owns (.+)\?", r"Who is the owner of (.+)\?", r"Name the owner of (.+)\.", r"(.+) belongs to whom\?"),
    "street": (r"On which street is (.+)\?", r"Which street is (.+) on\?", r"What street can (.+) be found on\?",
               r"Name the street of (.+)\."),
    "lives": (r"In which town does (.+) live\?", r"Where does (.+) live\?", r"Which town is home to (.+)\?",
              r"Name the town where (.+) lives\."),
    "pet": (r"Name the pet that (.+) keeps\.", r"What is the pet of (.+) called\?", r"Which pet belongs to (.+)\?",
            r"What pet does (.+) have\?"),
    "works": (r"Where does (.+) work\?", r"At which place does (.+) work\?", r"Which place employs (.+)\?",
              r"Name the workplace of (.+)\."),
    "mentor": (r"Who is the mentor of (.+)\?", r"Who mentors (.+)\?", r"Name the mentor of (.+)\.",
               r"Who acts as mentor to (.+)\?"),
}
NOUNS = {"works": r"the place where (.+) works", "owner": r"the owner of (.+)", "mentor": r"the mentor of (.+)"}


def _facts(passage):
    facts = {}
    for sentence in re.split(r"(?<=\.) ", passage.strip()):
        found = [(rel, m) for rel, shapes in SENTENCES.items() for shape in shapes
                 if (m := re.fullmatch(shape + r"\.", sentence))]
        assert len(found) == 1, (sentence, found)
        rel, m = found[0]
        s, o = (m.group("s"), m.group("o")) if "s" in m.groupdict() else (m.group(1), m.group(2))
        assert (s, rel) not in facts, (s, rel)  # one fact per subject and relation: one answer
        facts[(s, rel)] = o
    return facts


def _resolve(np, facts, hops):
    """The thing a noun phrase names, counting the hops it takes."""
    for rel, shape in NOUNS.items():
        m = re.fullmatch(shape, np, re.IGNORECASE)
        if m:
            hops.append(rel)
            return facts[(_resolve(m.group(1), facts, hops), rel)]
    assert re.fullmatch(r"[A-Z]\w+", np), np  # every chain starts from a named person
    return np


def _answer_passage(question):
    _, passage, ask = question.split("\n\n")
    facts = _facts(passage)
    for rel, shapes in ASKS.items():
        for shape in shapes:
            m = re.match(shape + " ", ask)
            if m:
                hops = [rel]
                return facts[(_resolve(m.group(1), facts, hops), rel)], len(hops)
    raise AssertionError(ask)


def test_passage_answers_follow_the_facts():
    diff = {r["id"]: r["difficulty"] for r in rows("passage_two_hop")}
    for rid, q, answer, _ in records("passage_two_hop"):
        got, hops = _answer_passage(q)
        assert got == answer, (rid, q, got, answer)
        assert hops == (3 if diff[rid] == "hard" else 2), (rid, q)
        n = len(re.split(r"(?<=\.) ", q.split("\n\n")[1]))
        assert n <= {"easy": 5, "medium": 8, "hard": 10}[diff[rid]], (rid, n)


# --- tables --------------------------------------------------------------------------------------

COLUMNS = {"population": "Population", "founding year": "Founded", "age": "Age", "salary": "Salary",
           "score": "Score", "height": "Height", "price": "Price", "stock count": "Stock",
           "first ascent year": "First climbed"}
UP = {"larger", "later", "higher", "greater", "largest", "latest", "highest", "greatest"}
DOWN = {"smaller", "earlier", "lower", "smallest", "earliest", "lowest"}
# "the most populous city": adjective -> (column, pick the largest?), or per column for "oldest"
ADJECTIVES = {"most populous": ("Population", True), "least populous": ("Population", False),
              "newest": ("Founded", True), "youngest": ("Age", False), "best-paid": ("Salary", True),
              "lowest-paid": ("Salary", False), "top-scoring": ("Score", True), "lowest-scoring": ("Score", False),
              "tallest": ("Height", True), "shortest": ("Height", False), "priciest": ("Price", True),
              "cheapest": ("Price", False), "best-stocked": ("Stock", True), "least-stocked": ("Stock", False),
              "highest": ("Height", True), "lowest": ("Height", False), "last-climbed": ("First climbed", True),
              "first-climbed": ("First climbed", False)}


def _table(text):
    lines = [ln for ln in text.splitlines() if not re.fullmatch(r"\|(---\|)+", ln)]
    split = (lambda ln: [c.strip() for c in ln.strip("|").split("|")]) if lines[0].startswith("|") else \
        (lambda ln: re.split(r"\s{2,}", ln.strip()))
    header, *body = [split(ln) for ln in lines]
    rows = {r[0]: {h: (int(c) if c.isdigit() and h != header[1] else c) for h, c in zip(header, r)} for r in body}
    assert all(len(r) == len(header) for r in body)
    return header, rows


def _column(header, noun):
    return next(h for h in header if h.startswith(COLUMNS[noun]))


def _adjective(header, adj):
    if adj == "oldest":
        return ("Founded", False) if "Founded" in header else ("Age", True)
    col, up = ADJECTIVES[adj]
    return next(h for h in header if h.startswith(col)), up


def _best(rows, names, col, up):
    values = [rows[n][col] for n in names]
    assert len(set(values)) == len(values)  # no ties
    return (max if up else min)(names, key=lambda n: rows[n][col])


def _group_of(header, rows, name, group_word):
    assert header[1].lower() == group_word
    g = rows[name][header[1]]
    return [n for n in rows if rows[n][header[1]] == g]


def _answer_table(question):
    _, table, ask = question.split("\n\n")
    header, rows = _table(table)
    W = r"(\w+)"
    m = (re.match(rf"Which has the {W} (.+), {W} or {W}\? ", ask)
         or re.match(rf"Of {W} and {W}, which has the {W} (.+)\? ", ask)
         or re.match(rf"Between {W} and {W}, which \w+ has the {W} (.+)\? ", ask))
    if m:
        g = m.groups()
        word, noun, names = (g[0], g[1], g[2:]) if ask.startswith("Which") else (g[2], g[3], g[:2])
        return _best(rows, list(names), _column(header, noun), word in UP), "compare"
    m = (re.match(rf"Of {W}, {W} and {W}, which has the {W} (.+)\? ", ask)
         or re.match(rf"Among {W}, {W} and {W}, which \w+ has the {W} (.+)\? ", ask))
    if m:
        *names, word, noun = m.groups()
        return _best(rows, names, _column(header, noun), word in UP), "pick"
    m = re.match(rf"Which \w+ has the {W} (.+): {W}, {W} or {W}\? ", ask)
    if m:
        word, noun, *names = m.groups()
        return _best(rows, names, _column(header, noun), word in UP), "pick"
    m = (re.match(rf"The \w+ with the {W} (.+) among {W}, {W} and {W} belongs to which {W}\? ", ask)
         or re.match(rf"Give the {W} of whichever has the {W} (.+) among {W}, {W} and {W}\. ", ask))
    if m:
        g = m.groups()
        word, noun, names, gw = (g[0], g[1], g[2:5], g[5]) if ask.startswith("The") else (g[1], g[2], g[3:6], g[0])
        assert header[1].lower() == gw
        return rows[_best(rows, list(names), _column(header, noun), word in UP)][header[1]], "three_group"
    m = re.match(rf"Name the {W} of the (.+) \w+ out of {W}, {W} and {W}\. ", ask)
    if m:
        gw, adj, *names = m.groups()
        assert header[1].lower() == gw
        return rows[_best(rows, names, *_adjective(header, adj))][header[1]], "three_group"
    m = (re.match(rf"What is the (.+) of the (.+) \w+ in {W}'s {W}\? ", ask)
         or re.match(rf"Find the (.+) \w+ in {W}'s {W} and give (?:its|their) (.+)\. ", ask)
         or re.match(rf"Which (.+) belongs to the (.+) \w+ in {W}'s {W}\? ", ask))
    if m:
        g = m.groups()
        noun, adj, x, gw = (g[3], g[0], g[1], g[2]) if ask.startswith("Find") else g
        win = _best(rows, _group_of(header, rows, x, gw), *_adjective(header, adj))
        return str(rows[win][_column(header, noun)]), "group_lookup"
    m = (re.match(rf"Not counting {W}, which \w+ in \1's {W} has the {W} (.+)\? ", ask)
         or re.match(rf"Which other \w+ in {W}'s {W} has the {W} (.+)\? ", ask))
    m2 = re.match(rf"Among the other \w+ with the same {W} as {W}, which has the {W} (.+)\? ", ask)
    if m or m2:
        x, gw, word, noun = m.groups() if m else (m2.group(2), m2.group(1), m2.group(3), m2.group(4))
        others = [n for n in _group_of(header, rows, x, gw) if n != x]
        assert len(others) >= 2
        return _best(rows, others, _column(header, noun), word in UP), "same_group"
    m = (re.match(rf"What is the difference in (.+) between {W} and the (.+) \w+ in {W}'s {W}\? ", ask)
         or re.match(rf"How big is the gap in (.+) between {W} and the (.+) \w+ in {W}'s {W}\? ", ask)
         or re.match(rf"How far apart are the (.+) values of {W} and of the (.+) \w+ in {W}'s {W}\? ", ask))
    if m:
        noun, x, adj, y, gw = m.groups()
        group = _group_of(header, rows, y, gw)
        assert x not in group
        col = _column(header, noun)
        win = _best(rows, group, *_adjective(header, adj))
        assert _adjective(header, adj)[0] == col
        return str(abs(rows[x][col] - rows[win][col])), "difference"
    raise AssertionError(ask)


KINDS = {"easy": {"compare", "pick"}, "medium": {"three_group", "group_lookup"}, "hard": {"same_group", "difference"}}


def test_table_answers_follow_the_rows():
    diff = {r["id"]: r["difficulty"] for r in rows("table_two_hop")}
    for rid, q, answer, _ in records("table_two_hop"):
        got, kind = _answer_table(q)
        assert got == answer, (rid, q, got, answer)
        assert kind in KINDS[diff[rid]], (rid, kind)
        n_rows = len(_table(q.split("\n\n")[1])[1])
        assert 4 <= n_rows <= 7, (rid, n_rows)


# --- both ----------------------------------------------------------------------------------------

def test_traces_end_on_the_answer_and_quote_what_is_there():
    checked = 0
    for category in ("passage_two_hop", "table_two_hop"):
        for rid, q, answer, reasoning in records(category):
            if not reasoning:
                continue  # an eval item
            assert reasoning.splitlines()[-1] == f"So the answer is {answer}.", rid
            for quote in re.findall(r'The passage says: "([^"]+)"', reasoning):
                assert quote in q, (rid, quote)
            if category == "table_two_hop":
                header, rows = _table(q.split("\n\n")[1])
                for name, col, value in re.findall(r"Row (\w+): ([A-Z][\w ()]*?) (\w+)\.", reasoning):
                    assert str(rows[name][col]) == value, (rid, name, col, value)
            checked += 1
    assert checked >= 300


def test_the_solvers_read_a_hand_made_passage_and_table():
    q = ("Passage:\n\nAva works at the bakery. Ben owns the bakery. Ben's home is in Dover. Cleo lives in Wells."
         "\n\nWhere does the owner of the place where Ava works live? Just the town.")
    assert _answer_passage(q) == ("Dover", 3)
    table = ("Read the table.\n\nCity    Country  Founded\nArby    Peru     1500\nBelton  Peru     1400\n"
             "Corby   Chile    1450\n\n")
    assert _answer_table(table + "Which has the earlier founding year, Arby or Corby? Give just the name.") == \
        ("Corby", "compare")
    assert _answer_table(table + "Give the country of whichever has the latest founding year among Arby, Belton "
                                 "and Corby. Reply with one word.") == ("Peru", "three_group")
