"""Code tracing: read a short Python snippet and say what it prints.

Teaches following a program the way it runs: the value of each variable after every line, one line per
loop iteration, which branch an `if` takes, string slicing and concatenation, list appends and indexing,
integer `//` and `%`, small function calls. Snippets are put together from sampled pieces (easy: a few
straight-line assignments; medium: one loop or one branch; hard: a loop with a branch, nested loops, a
while loop over digits, or a function). The answer is what `exec` of the snippet prints, captured at
generation time; the trace comes from walking the snippet's syntax tree with the same values
(gen/code_walk.py, its arithmetic in small steps by gen.steps), and the two must agree on every draw."""

from __future__ import annotations

import contextlib
import io
import re

from gen.code_walk import Retry, Tracer
from gen.common import pick

SECTION = "code"

_ANSWER = re.compile(r"^[\w:'()\[\], -]{1,40}$")
WORDS = ("garden", "planet", "rocket", "silver", "window", "basket", "candle", "forest", "pepper",
         "turtle", "marble", "yellow", "jacket", "orange", "pencil", "castle", "bridge", "dragon",
         "summer", "winter", "button", "mirror", "cactus", "parrot", "violin", "tomato", "lemon",
         "tiger", "river", "cloud", "stone", "apple", "music", "spoon", "horse", "paper", "banana",
         "comet", "meadow", "pirate", "shadow", "wizard", "island", "kitten", "rabbit", "sunset")
# Name pools, sampled per role: varied names keep templated snippets from sharing long word runs.
NUMS = ("a", "b", "c", "x", "y", "z", "p", "q", "r", "u", "v", "w", "m", "first", "second", "base", "step",
        "value", "size", "extra", "half", "part", "big", "low", "top", "rate")
STRS = ("word", "part", "rest", "name", "head", "tail", "s", "t", "text", "left", "right", "label", "piece",
        "bit", "front", "back", "mid", "tag", "key", "chunk")
LISTS = ("nums", "vals", "items", "data", "xs", "marks", "scores", "stack", "seen", "bag", "row", "picks", "ys")
ACCS = ("total", "acc", "result", "score", "s", "t", "tally", "points", "amount", "net", "run", "sum_all", "out")
COUNTS = ("count", "steps", "hits", "c", "rounds", "turns", "ticks", "moves", "laps", "tries")
LOOPS = ("i", "k", "j", "n", "v", "d", "e", "num", "item", "val", "pos", "idx")
CHARS = ("ch", "c", "letter", "char", "x")
FUNCS = ("f", "g", "h", "twice", "step", "grow", "shrink", "bump", "calc", "mix")
# --- snippets: each family returns the code lines --------------------------------------------

def _distinct(rng, *pools):
    """One name from each pool, all different (the pools overlap)."""
    names = []
    for pool in pools:
        names.append(pick(rng, [n for n in pool if n not in names]))
    return names


def _easy_arith(rng):
    names = rng.sample(NUMS, 3)
    lines, value = [f"{names[0]} = {rng.randint(3, 40)}"], None
    for prev, name in zip(names, names[1:rng.randint(2, 3)]):
        value = _run(lines)[prev]
        op = pick(rng, ["+", "-"] + (["*"] if value <= 20 else []) + (["//", "%"] if value >= 10 else []))
        b = str(rng.randint(2, 9) if op in ("*", "//", "%") else rng.randint(2, 25))
        lines.append(f"{name} = {prev} {op} {names[0] if op in '+-' and rng.random() < 0.4 else b}")
    last = lines[-1].split()[0]
    return lines + [f"print({pick(rng, (last, f'{last} + {names[0]}', f'{last} - {names[0]}'))})"]


def _run(lines) -> dict:
    env = {}
    exec("\n".join(lines), {}, env)  # noqa: S102 (assignments we just wrote)
    return env


def _easy_string(rng):
    w, part, rest = rng.sample(STRS, 3)
    word = pick(rng, WORDS)
    n = len(word)
    i = rng.randint(0, n - 3)
    pieces = [f"{w}[{i}:{rng.randint(i + 2, n)}]", f"{w}[:{rng.randint(2, n - 1)}]", f"{w}[{rng.randint(1, n - 2)}:]",
              f"{w}[-{rng.randint(2, 3)}:]", f"{w}[{rng.randint(0, n - 1)}]", f"{w}[-1]"]
    lines = [f'{w} = "{word}"', f"{part} = {pick(rng, pieces)}"]
    final = pick(rng, (f"{part} + {pick(rng, pieces)}", f"{pick(rng, pieces)} + {part}", f"{part} * 2",
                       f'{part} + "{pick(rng, WORDS)[:3]}"', f"len({w}) - len({part})"))
    if rng.random() < 0.4:
        lines.append(f"{rest} = {pick(rng, pieces)}")
        final = pick(rng, (f"{part} + {rest}", f"{rest} + {part}", f"{rest} + {w}[0]"))
    return lines + [f"print({final})"]


def _easy_list(rng):
    a = pick(rng, LISTS)
    n = rng.randint(4, 5)
    i, j = rng.randint(0, n - 1), rng.randint(-n, -1)
    lines = [f"{a} = {[rng.randint(1, 12) for _ in range(n - 1)]}", f"{a}.append({rng.randint(1, 12)})"]
    if rng.random() < 0.3:
        lines.append(f"{a}.append({a}[{i}] + {rng.randint(1, 9)})")
    final = pick(rng, (a, f"{a}[{i}] + {a}[{j}]", f"{a}[{j}] * {a}[{i}]", f"{a}[{i}] - {a}[{j}]", f"len({a}) + {a}[{i}]"))
    return lines + [f"print({final})"]


def _easy_divmod(rng):
    n, q, r = rng.sample(NUMS, 3)
    d = rng.randint(2, 9)
    final = pick(rng, (f"{q} + {r}", f"{q} - {r}", f"{r} * 10 + {q}", f"{q} * {r}", f"{r} + {q} + {r}"))
    return [f"{n} = {rng.randint(11, 99)}", f"{q} = {n} // {d}", f"{r} = {n} % {d}", f"print({final})"]


def _med_for_sum(rng):
    acc, x = _distinct(rng, ACCS, LOOPS)
    lo, c, start = rng.randint(0, 4), rng.randint(2, 5), rng.randint(0, 6)
    seq = pick(rng, (f"range({lo}, {lo + rng.randint(3, 6)})", f"range({lo}, {lo + rng.randint(5, 9)}, 2)",
                     str([rng.randint(1, 15) for _ in range(rng.randint(3, 5))])))
    body = pick(rng, (f"{acc} += {x}", f"{acc} += {x} * {c}", f"{acc} = {acc} + 2 * {x} + {c}", f"{acc} += {x} * {x}",
                      f"{acc} -= {x}", f"{acc} = {acc} + {x} - {c}", f"{acc} = {acc} * 2 - {x}", f"{acc} += {x} % {c + 1}",
                      f"{acc} = {x} - {acc}", f"{acc} += {x} // {c}"))
    return [f"{acc} = {start}", f"for {x} in {seq}:", f"    {body}", f"print({acc})"]


def _med_while(rng):
    n, steps = _distinct(rng, NUMS, COUNTS)
    kind = rng.randrange(3)
    if kind == 0:
        start, op, limit, cmp = rng.randint(1, 6), f"{n} * {rng.randint(2, 3)}", rng.randint(20, 90), "<"
    elif kind == 1:
        start, op, cmp = rng.randint(1, 10), f"{n} + {rng.randint(3, 9)}", pick(rng, ("<", "<="))
        limit = start + rng.randint(10, 30)
    else:
        start, op, limit, cmp = rng.randint(20, 99), f"{n} // 2", rng.randint(1, 9), pick(rng, (">", ">="))
    body = [f"    {n} = {op}", f"    {steps} += 1"]
    show = pick(rng, (steps, n, f"{n} + {steps}"))
    if show == n:
        body.reverse()  # update the printed variable last
    return [f"{n} = {start}", f"{steps} = 0", f"while {n} {cmp} {limit}:", *body, f"print({show})"]


def _med_branch(rng):
    x, y, z = rng.sample(NUMS, 3)
    d = rng.randint(3, 9)
    k = rng.randint(1, d - 1)
    test = pick(rng, (f"{y} > {k}", f"{y} == 0", f"{y} < {k}", f"{y} % 2 == 1", f"{x} > {rng.randint(15, 50)}"))
    lines = [f"{x} = {rng.randint(10, 60)}", f"{y} = {x} % {d}", f"if {test}:", f"    {z} = {pick(rng, (f'{x} + {y}', f'{x} - {y}'))}"]
    other = pick(rng, (f"{x} * 2", f"{x} - {d}", f"{y} * {d}", f"{y} + {rng.randint(2, 30)}"))
    return lines + ["else:", f"    {z} = {other}", f"print({z})"]


def _med_string_loop(rng):
    word, (out, w, ch) = pick(rng, WORDS), _distinct(rng, STRS, STRS, CHARS)
    kind = rng.randrange(3)
    if kind == 0:
        body = pick(rng, (f"{ch} + {out}", f"{out} + {ch} * 2", f'{out} + {ch} + "-"', f"{ch} * 2 + {out}"))
        return [f'{out} = ""', f'for {ch} in "{word[:rng.randint(3, 5)]}":', f"    {out} = {body}", f"print({out})"]
    if kind == 1:
        return [f'{w} = "{word}"', f'{out} = ""', f"for i in range({rng.randint(0, 2)}, len({w}), 2):",
                f"    {out} = {out} + {w}[i]", f"print({out})"]
    return [f'{w} = "{word}"', f'{out} = "{pick(rng, ("x", "z", "o", "q"))}"', f"for i in range({rng.randint(2, 4)}):",
            f"    {out} = {w}[i] + {out}", f"print({out})"]


def _med_list_build(rng):
    a, i = _distinct(rng, LISTS, LOOPS)
    lo, c = rng.randint(0, 3), rng.randint(2, 9)
    item = pick(rng, (f"{i} * {i}", f"{i} * {c}", f"{i} + {c + 10}", f"{i} * {i} - {c}", f"{i} % {c}", f"{c} - {i}"))
    final = pick(rng, (a, a, f"{a}[-1] + {a}[0]", f"{a}[1] * 2"))
    return [f"{a} = []", f"for {i} in range({lo}, {lo + rng.randint(3, 5)}):", f"    {a}.append({item})", f"print({final})"]


def _hard_loop_branch(rng):
    acc, x = _distinct(rng, ACCS, LOOPS)
    vals = [rng.randint(1, 20) for _ in range(rng.randint(4, 6))]
    k, c = rng.randint(5, 14), rng.randint(2, 4)
    test = pick(rng, (f"{x} % 2 == 0", f"{x} > {k}", f"{x} % 3 == 0", f"{x} < {k}", f"{x} % {c} == 1"))
    then = pick(rng, (f"{acc} += {x}", f"{acc} = {acc} + {x} * {c}", f"{acc} += {x} // {c}", f"{acc} -= {x}"))
    lines = [f"{acc} = {rng.randint(0, 5)}", f"for {x} in {vals}:", f"    if {test}:", f"        {then}"]
    if rng.random() < 0.6:
        lines += ["    else:", f"        {pick(rng, (f'{acc} -= {c - 1}', f'{acc} = {acc} + {c}', f'{acc} -= {x} % 5'))}"]
    return lines + [f"print({acc})"]


def _hard_nested(rng):
    acc, i, j = _distinct(rng, ACCS, LOOPS, LOOPS)
    outer, inner = pick(rng, (("range(1, 4)", f"range({i})"), ("range(2)", "range(3)"), ("range(3)", "range(2)"),
                              ("range(1, 3)", f"range({i}, 4)"), ("range(2, 5)", f"range(1, {i})"), ("range(2)", f"range({i}, 3)")))
    c = rng.randint(1, 5)
    body = pick(rng, (f"{acc} += {i} * {j}", f"{acc} += {i} + {j}", f"{acc} = {acc} + {j} - {i}", f"{acc} += {i} * 10 + {j}",
                      f"{acc} += {c}", f"{acc} = {acc} + {i} * {j} + {c}"))
    lines = [f"{acc} = {rng.randint(0, 5)}", f"for {i} in {outer}:", f"    for {j} in {inner}:"]
    if rng.random() < 0.4:
        return lines + [f"        if {i} {pick(rng, ('!=', '>', '<'))} {j}:", f"            {body}", f"print({acc})"]
    return lines + [f"        {body}", f"print({acc})"]


def _hard_function(rng):
    f, p, r = _distinct(rng, FUNCS, NUMS, NUMS)
    c, d = rng.randint(1, 9), rng.randint(2, 3)
    if rng.random() < 0.5:
        ret = pick(rng, (f"{p} * {d + 1} + {c}", f"{p} * {p} - {c}", f"({p} + {c}) * {d}", f"{p} // 2 + {c}", f"{p} % {d + 2} + {c}"))
        body = [f"def {f}({p}):", f"    return {ret}"]
    else:
        test = pick(rng, (f"{p} % {d} == 0", f"{p} > {c + 3}", f"{p} < {c + 2}"))
        body = [f"def {f}({p}):", f"    if {test}:", f"        return {pick(rng, (f'{p} // {d}', f'{p} - {c}', f'{p} * 2'))}",
                f"    return {p} * {d} + {rng.randint(1, 4)}"]
    a, b = rng.randint(2, 9), rng.randint(2, 9)
    return body + pick(rng, ([f"print({f}({a}) + {f}({b}))"], [f"print({f}({f}({a})))"], [f"{r} = {f}({a})", f"print({f}({r}) - {r})"],
                             [f"{r} = {f}({a})", f"print({r} + {f}({b}))"]))


def _hard_digits(rng):
    n, acc, d = _distinct(rng, ("n", "num", "x", "big", "code", "val"), ACCS, ("d", "digit", "last", "tail"))
    test = pick(rng, (f"{d} % 2 == 0", f"{d} > {rng.randint(3, 6)}", f"{d} % 2 == 1", f"{d} < {rng.randint(4, 7)}",
                      f"{d} % 3 == 0", f"{d} != {rng.randint(0, 9)}"))
    update = pick(rng, (f"{acc} += {d}", f"{acc} += 1", f"{acc} = {acc} + {d} * 2", f"{acc} += {d} + {rng.randint(1, 3)}"))
    step, body = [f"    {n} = {n} // 10"], [f"    if {test}:", f"        {update}"]
    lines = [f"{n} = {rng.randint(100, 99999)}", f"{acc} = {rng.randint(0, 3)}", f"while {n} > 0:", f"    {d} = {n} % 10"]
    return lines + (step + body if rng.random() < 0.5 else body + step) + [f"print({acc})"]


def _hard_letters(rng):
    word = pick(rng, WORDS)
    ch, count, out = _distinct(rng, CHARS, COUNTS, STRS)
    letters = "".join(sorted(rng.sample("abcdeilmnoprstu", rng.randint(3, 5))))
    lines = [f"{count} = {rng.randint(0, 2)}", f'{out} = ""', f'for {ch} in "{word}":',
             f'    if {ch} {pick(rng, ("in", "not in"))} "{letters}":', f"        {count} += {rng.randint(1, 3)}",
             "    else:", f"        {out} = {pick(rng, (f'{out} + {ch}', f'{ch} + {out}'))}"]
    return lines + [f"print({pick(rng, (count, out, f'{out} + {chr(34)}-{chr(34)} + {out}', f'{out}[:3]'))})"]


FAMILIES = {"easy": (_easy_arith, _easy_string, _easy_list, _easy_divmod),
            "medium": (_med_for_sum, _med_while, _med_branch, _med_string_loop, _med_list_build),
            "hard": (_hard_loop_branch, _hard_nested, _hard_function, _hard_digits, _hard_letters)}
INTROS = ("What does this code print?", "Trace this Python snippet.", "Run this code mentally.", "Some Python:",
          "Follow this code.")
TAILS = ("Answer with the printed output.", "Give exactly what it prints.", "Reply with the output only.",
         "What is printed? Give the output.")


def _printed(code: str) -> str | None:
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            exec(code, {})  # noqa: S102 (a snippet we just generated)
    except ArithmeticError:
        return None
    return buf.getvalue().strip()


def code_tracing(rng, difficulty):
    for _ in range(200):
        code = "\n".join(pick(rng, FAMILIES[difficulty])(rng))
        out = _printed(code)
        if out is None or not _ANSWER.match(out):
            continue
        tracer = Tracer(code)
        try:
            trace = tracer.run()
        except Retry:
            continue
        if re.search(r"\n\s+if ", code) and "its block runs" not in "".join(trace):
            continue  # a loop whose `if` never fires teaches little
        assert tracer.out == [out], (code, tracer.out, out)  # the walk must agree with the real run
        question = f"{pick(rng, INTROS)}\n\n```python\n{code}\n```\n\n{pick(rng, TAILS)}"
        return question, trace + [f"So the answer is {out}."], out
    raise RuntimeError("no snippet with a clean trace")


CATEGORIES = {"code_tracing": code_tracing}
