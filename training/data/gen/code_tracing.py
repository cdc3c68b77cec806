"""Code tracing: read a short Python snippet and say what it prints.

Teaches following a program the way it runs: the value of each variable after every line, one line per
loop iteration, which branch an `if` takes, string slicing and concatenation, list appends and indexing,
integer `//` and `%`, small function calls. Snippets are put together from sampled pieces (easy: a few
straight-line assignments; medium: one loop or one branch; hard: a loop with a branch, nested loops, a
while loop over digits, or a function). The answer is what `exec` of the snippet prints, captured at
generation time; the trace comes from walking the snippet's syntax tree with the same values, and the
two must agree on every draw. Arithmetic in the trace is kept to small steps (bigger sums and products
are split by place value; `% 10` and `// 10` are told as digits)."""

from __future__ import annotations

import ast
import contextlib
import io
import operator
import re

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
_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
        ast.Mod: operator.mod}
_CMP = {ast.Lt: ("<", operator.lt), ast.Gt: (">", operator.gt), ast.LtE: ("<=", operator.le),
        ast.GtE: (">=", operator.ge), ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne),
        ast.In: ("in", lambda a, b: a in b), ast.NotIn: ("not in", lambda a, b: a not in b)}


class _Retry(Exception):
    """This draw gives no clean trace (e.g. the printed value comes from no written step): draw again."""


class _Return(Exception):
    pass


# --- small arithmetic steps: (text, its last claim "EXPR = RESULT" or None) ----------------------

def _small(a: int, b: int) -> bool:
    a, b = abs(a), abs(b)
    return max(a, b) <= 9 or (min(a, b) <= 9 and max(a, b) <= 99)


def _addsub(a, b, sign):
    """a + b or a - b; a two-digit b goes in two steps: "39 + 56: 39 + 50 = 89, 89 + 6 = 95"."""
    c = a + b if sign == "+" else a - b
    if _small(a, b) or min(a, b) < 0 or b <= 9 or b % 10 == 0 or (sign == "+" and a % 10 == 0):
        return (f"{a} {sign} {f'({b})' if b < 0 else b} = {c}",) * 2
    tens = b - b % 10
    mid = a + tens if sign == "+" else a - tens
    last = f"{mid} {sign} {b % 10} = {c}"
    return f"{a} {sign} {b}: {a} {sign} {tens} = {mid}, {last}", last


def _mul(a, b):
    p = a * b
    if min(a, b) > 9 and 10 not in (a, b):
        raise _Retry  # two two-digit factors: too big a step for this domain
    big, s = (a, b) if a > b else (b, a)
    if max(abs(a), abs(b)) <= 9 or min(abs(a), abs(b)) in (0, 1, 10) or min(a, b) < 0 or big % 10 == 0:
        return (f"{a} × {b} = {p}",) * 2
    tens, ones = big - big % 10, big % 10
    last = f"{tens * s} + {ones * s} = {p}"
    return f"{a} × {b}: {tens} × {s} = {tens * s}, {ones} × {s} = {ones * s}, {last}", last


def _floordiv(a, b):
    q = a // b
    if a < b:
        return f"{a} // {b} is 0, since {a} is less than {b}", None
    if b == 10:
        return f"{a} // 10 drops the last digit of {a}, leaving {q}", None
    if a % b == 0:
        return (f"{a} ÷ {b} = {q}",) * 2
    if b == 2:
        return f"{a} is odd, so {a} // 2 is {a - 1} ÷ 2 = {q}", f"{a - 1} ÷ 2 = {q}"
    text, last = _mul(b, q)
    return f"{a} // {b} is {q}, because {text} and one more {b} would pass {a}", last


def _mod(a, b):
    r = a % b
    if b == 2:
        return f"{a} is {'even' if r == 0 else 'odd'}, so {a} % 2 is {r}", None
    if a < b:
        return f"{a} % {b} is {a}, since {a} is less than {b}", None
    if b == 10:
        return f"{a} % 10 is the last digit of {a}, which is {r}", None
    if r == 0:
        return f"{a} ÷ {b} = {a // b} with nothing left over, so {a} % {b} is 0", f"{a} ÷ {b} = {a // b}"
    mtext, _ = _mul(b, a // b)
    stext, last = _addsub(a, b * (a // b), "-")
    return f"{a} % {b}: {mtext}, and {stext} left over", last


def _show(v) -> str:
    return f'"{v}"' if isinstance(v, str) else str(v)


def _binop(op, a, b):
    """(text of `a op b`, its last claim or None, the value)."""
    v = _BIN[type(op)](a, b)
    if isinstance(a, int) and isinstance(b, int):
        if max(abs(a), abs(b), abs(v)) > 500 and b != 10 or (type(op) in (ast.FloorDiv, ast.Mod) and min(a, b) < 0):
            raise _Retry  # keep every number in the trace small and every division plain
        kind = type(op)
        text, last = (_addsub(a, b, "+") if kind is ast.Add else _addsub(a, b, "-") if kind is ast.Sub
                      else _mul(a, b) if kind is ast.Mult else _floordiv(a, b) if kind is ast.FloorDiv else _mod(a, b))
        return text, last, v
    if isinstance(op, ast.Add):
        return f"{_show(a)} + {_show(b)} is {_show(v)}", None, v
    if isinstance(op, ast.Mult) and isinstance(a, str):
        return f"{_show(a)} repeated {b} times is {_show(v)}", None, v
    raise _Retry


def _result(claim: str) -> int:
    return int(claim.rsplit("= ", 1)[1])


# --- the tracer: walks the snippet's syntax tree and says what every line does -------------------

class _Tracer:
    def __init__(self, code: str):
        self.src = code.splitlines()
        self.env, self.funcs = {}, {}
        self.lines, self.buf = [], []  # finished trace lines; phrases of the line being built
        self.label, self.ctx = "", []  # "Line 3"; the loop iterations we are in ("i = 2")
        self.last = None  # the last arithmetic claim written
        self.recall = {}  # variable -> the claim that gave its current value
        self.out = []

    def run(self) -> list[str]:
        for stmt in ast.parse("\n".join(self.src)).body:
            self.label = f"Line {stmt.lineno}"
            self.stmt(stmt)
            self.flush()
        return self.lines

    def say(self, head, texts=(), tail=None):
        """One phrase: "head: step, step, tail" (any part may be missing)."""
        body = ", ".join([t for t in [*texts, tail] if t])
        self.buf.append(f"{head}: {body}" if head and body else head or body)

    def flush(self):
        if self.buf:
            self.lines.append(f"{', '.join(self.ctx) or self.label}: {'; '.join(self.buf)}.")
            self.buf = []

    def code(self, node) -> str:
        return self.src[node.lineno - 1].strip().rstrip(":")

    def expr(self, node):
        """(phrases explaining the value, the value)."""
        if isinstance(node, ast.Constant):
            return [], node.value
        if isinstance(node, ast.Name):
            return [], self.env[node.id]
        if isinstance(node, ast.List):
            return [], [self.expr(e)[1] for e in node.elts]
        if isinstance(node, ast.BinOp):
            (lt, lv), (rt, rv) = self.expr(node.left), self.expr(node.right)
            text, last, v = _binop(node.op, lv, rv)
            self.last = last or self.last
            return lt + rt + [text], v
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            (lt, lv), (rt, rv) = self.expr(node.left), self.expr(node.comparators[0])
            sym, fn = _CMP[type(node.ops[0])]
            v = fn(lv, rv)
            return lt + rt + [f"{_show(lv)} {sym} {_show(rv)} is {'true' if v else 'false'}"], v
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            args = [self.expr(a) for a in node.args]
            texts, vals = [t for ts, _ in args for t in ts], [v for _, v in args]
            if node.func.id == "len":
                return texts + [f"len({_show(vals[0])}) is {len(vals[0])}"], len(vals[0])
            return self.call(node.func.id, vals, texts)
        raise _Retry

    def subscript(self, node):
        texts, base = self.expr(node.value)
        what = "letters" if isinstance(base, str) else "items"
        sl = node.slice
        if isinstance(sl, ast.Slice):
            lo, hi = (self.expr(e)[1] if e else None for e in (sl.lower, sl.upper))
            v = base[lo:hi]
            desc = (f"the first {hi} {what}" if lo is None else f"the last {-lo} {what}" if lo < 0
                    else f"the {what} from position {lo} to the end" if hi is None
                    else f"the {what} at positions {lo} to {hi - 1}")
            return texts + [f"{desc} of {_show(base)} are {_show(v)}"], v
        it, i = self.expr(sl)
        v = base[i]
        pos = (f"the last {what[:-1]}" if i == -1 else f"position {i} (counting from 0)" if i >= 0
               else f"position {i} (from the end)")
        return texts + it + [f"{pos} of {_show(base)} is {_show(v)}"], v

    def call(self, name, vals, texts):
        fn = self.funcs[name]
        params = [a.arg for a in fn.args.args]
        saved, self.env = self.env, dict(zip(params, vals))
        shown = f"{name}({', '.join(map(_show, vals))})"
        binds = ", ".join(f"{p} = {_show(v)}" for p, v in zip(params, vals))
        self.say("; ".join(texts + [f"call {shown} with {binds}"]))
        try:
            for s in fn.body:
                self.stmt(s)
            raise _Retry  # every function here ends in a return
        except _Return as r:
            self.env = saved
            return [f"{shown} is {_show(r.args[0])}"], r.args[0]

    def stmt(self, node):
        if isinstance(node, ast.FunctionDef):
            self.funcs[node.name] = node
            self.say(f"{self.code(node)} defines a function; its body runs only when it is called")
        elif isinstance(node, (ast.Assign, ast.AugAssign)):
            name = (node.targets[0] if isinstance(node, ast.Assign) else node.target).id
            before = self.last
            texts, v = self.expr(node.value)
            if isinstance(node, ast.AugAssign):
                text, last, v = _binop(node.op, self.env[name], v)
                texts, self.last = texts + [text], last or self.last
            self.env[name] = list(v) if isinstance(v, list) else v
            if self.last is not before and isinstance(v, int) and _result(self.last) == v:
                self.recall[name] = self.last  # the claim that gave the value, for the final print
            else:
                self.recall.pop(name, None)
            if isinstance(node.value, (ast.Constant, ast.List)) and isinstance(node, ast.Assign):
                self.say(f"{name} is {_show(v)}")
            else:
                self.say(self.code(node), texts, f"so {name} is {_show(v)}")
        elif isinstance(node, ast.Return):
            texts, v = self.expr(node.value)
            self.say(self.code(node), texts, f"it returns {_show(v)}")
            raise _Return(v)
        elif isinstance(node, ast.If):
            self.branch(node)
        elif isinstance(node, ast.For):
            self.loop_for(node)
        elif isinstance(node, ast.While):
            self.loop_while(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value.func, ast.Attribute):  # list.append(x)
            name = node.value.func.value.id
            texts, v = self.expr(node.value.args[0])
            self.env[name].append(v)
            self.say(self.code(node), texts, f"{name} is now {_show(self.env[name])}")
        elif isinstance(node, ast.Expr) and node.value.func.id == "print":
            self.printing(node, node.value.args[0])
        else:
            raise _Retry

    def branch(self, node):
        texts, v = self.expr(node.test)
        outcome = "its block runs" if v else "the else block runs" if node.orelse else "its block is skipped"
        self.say(f"check {self.code(node)}", texts, f"so {outcome}")
        for s in node.body if v else node.orelse:
            self.stmt(s)

    def loop_for(self, node):
        var = node.target.id
        if isinstance(node.iter, ast.Call) and node.iter.func.id == "range":
            argv = [self.expr(a) for a in node.iter.args]
            args = [v for _, v in argv]
            texts, seq = [t for ts, _ in argv for t in ts], list(range(*args))
            stop = args[1] if len(args) > 1 else args[0]
            shown = f"{', '.join(map(str, seq))} (a range stops before {stop})" if seq else "no values"
        else:
            texts, seq = self.expr(node.iter)
            shown = ", ".join(map(_show, seq))
        self.say(self.code(node), texts, f"{var} takes {shown}")
        self.flush()
        for v in seq:
            self.env[var] = v
            self.recall.pop(var, None)
            self.ctx.append(f"{var} = {_show(v)}")
            for s in node.body:
                self.stmt(s)
            self.flush()
            self.ctx.pop()

    def loop_while(self, node):
        self.say(self.code(node), (), "the condition is checked before every pass")
        self.flush()
        for k in range(1, 8):
            self.ctx.append(f"Check {k}")
            texts, v = self.expr(node.test)
            self.say(None, texts, "so the body runs" if v else "so the loop stops")
            for s in node.body if v else ():
                self.stmt(s)
            self.flush()
            self.ctx.pop()
            if not v:
                return
        raise _Retry  # too many passes for a readable trace

    def printing(self, node, arg):
        texts, v = self.expr(arg)
        out = _show(v) if isinstance(v, list) else str(v)
        if isinstance(v, int) and self.last is not None and _result(self.last) != v:
            # The last step written computed something else: recall the step that gave this value.
            if not (isinstance(arg, ast.Name) and arg.id in self.recall):
                raise _Retry
            self.last = self.recall[arg.id]
            texts.append(f"{arg.id} got that value from {self.last}")
        self.out.append(out)
        self.say(self.code(node), texts, f"it prints {out}")


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
        tracer = _Tracer(code)
        try:
            trace = tracer.run()
        except _Retry:
            continue
        if re.search(r"\n\s+if ", code) and "its block runs" not in "".join(trace):
            continue  # a loop whose `if` never fires teaches little
        assert tracer.out == [out], (code, tracer.out, out)  # the walk must agree with the real run
        question = f"{pick(rng, INTROS)}\n\n```python\n{code}\n```\n\n{pick(rng, TAILS)}"
        return question, trace + [f"So the answer is {out}."], out
    raise RuntimeError("no snippet with a clean trace")


CATEGORIES = {"code_tracing": code_tracing}
