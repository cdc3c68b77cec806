"""The walker behind the code-tracing traces (a helper: no SECTION): it runs a snippet's syntax tree
itself and says what every line does, the values after each line, one line per loop iteration, which
branch an `if` takes; `Tracer(code).run()` gives the trace lines and `.out` what it printed, which
gen/code_tracing.py checks against a real `exec`. Integer arithmetic is worked out by gen.steps
(place value for bigger sums and products); `% 10` and `// 10` are told as digits, and `//` and `%`
by other divisors through a product and a difference."""

from __future__ import annotations

import ast
import operator

from gen.steps import add, calc, div, inline, mul, sub

_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.FloorDiv: operator.floordiv,
        ast.Mod: operator.mod}
_CMP = {ast.Lt: ("<", operator.lt), ast.Gt: (">", operator.gt), ast.LtE: ("<=", operator.le),
        ast.GtE: (">=", operator.ge), ast.Eq: ("==", operator.eq), ast.NotEq: ("!=", operator.ne),
        ast.In: ("in", lambda a, b: a in b), ast.NotIn: ("not in", lambda a, b: a not in b)}


class Retry(Exception):
    """This draw gives no clean trace (e.g. the printed value comes from no written step): draw again."""


class _Return(Exception):
    pass


# --- arithmetic: each operation worked out by gen.steps; returns (phrase, its last claim or None) ----

def _last_claim(lines: list[str]) -> str:
    """The closing "EXPR = RESULT" claim of an operation's lines (gen.steps ends each with its result)."""
    last = lines[-1].rstrip(".").removeprefix("So ")
    return last.rsplit(", ", 1)[-1].rsplit(": ", 1)[-1]


def _worked(lines: list[str]) -> tuple[str, str]:
    return inline(lines), _last_claim(lines)


def _paren(v: int) -> str:
    return f"({v})" if v < 0 else str(v)


def _arith(a: int, op: str, b: int) -> tuple[str, str]:
    """a + b, a - b or a × b. gen.steps works with sizes, so a negative operand is done by sizes
    first (adding or taking away, by the signs), then the sign is put back in a closing claim."""
    if a >= 0 and b >= 0:
        return _worked(calc(a, op, b)[0])
    if op == "×":
        lines = mul(abs(a), abs(b))[0]
    elif (op == "+") == ((a < 0) == (b < 0)):  # -5 + (-3), -5 - 3, 5 - (-3): the sizes add up
        lines = add(abs(a), abs(b))[0]
    else:  # -5 + 3, 5 + (-3), -5 - (-3): the smaller size comes off the bigger
        lines = sub(max(abs(a), abs(b)), min(abs(a), abs(b)))[0]
    v, shown = {"+": a + b, "-": a - b, "×": a * b}[op], f"{a} {op} {_paren(b)}"
    return _worked([f"{shown} has a negative number: work with the sizes"] + lines + [f"So {shown} = {v}."])


def _floordiv(a: int, b: int) -> tuple[str, str | None]:
    q = a // b
    if a < b:
        return f"{a} // {b} is 0, since {a} is less than {b}", None
    if b == 10:
        return f"{a} // 10 drops the last digit of {a}, leaving {q}", None
    if a % b == 0:
        return _worked(div(a, b)[0])
    if b == 2:
        text, last = _worked(div(a - 1, 2)[0])
        return f"{a} is odd, so {a} // 2 is the same as {text}", last
    text, last = _worked(mul(b, q)[0])
    return f"{a} // {b} is {q}, because {text}, and one more {b} would pass {a}", last


def _mod(a: int, b: int) -> tuple[str, str | None]:
    r = a % b
    if b == 2:
        return f"{a} is {'even' if r == 0 else 'odd'}, so {a} % 2 is {r}", None
    if a < b:
        return f"{a} % {b} is {a}, since {a} is less than {b}", None
    if b == 10:
        return f"{a} % 10 is the last digit of {a}, which is {r}", None
    if r == 0:
        text, last = _worked(div(a, b)[0])
        return f"{text}, with nothing left over, so {a} % {b} is 0", last
    mtext, _ = _worked(mul(b, a // b)[0])
    stext, last = _worked(sub(a, b * (a // b))[0])
    return f"{a} % {b}: {mtext}, and {stext} left over", last


def _show(v) -> str:
    return f'"{v}"' if isinstance(v, str) else str(v)


def _binop(op, a, b):
    """(text of `a op b`, its last claim or None, the value)."""
    v = _BIN[type(op)](a, b)
    if isinstance(a, int) and isinstance(b, int):
        if max(abs(a), abs(b), abs(v)) > 500 and b != 10 or (type(op) in (ast.FloorDiv, ast.Mod) and min(a, b) < 0):
            raise Retry  # keep every number in the trace small and every division plain
        kind = type(op)
        if kind is ast.Mult and min(a, b) > 9 and 10 not in (a, b):
            raise Retry  # two two-digit factors: too big a step for this domain
        if kind in (ast.FloorDiv, ast.Mod) and len(str(b).strip("0")) != 1:
            raise Retry  # gen.steps divides only by a divisor with one non-zero digit
        text, last = (_floordiv(a, b) if kind is ast.FloorDiv else _mod(a, b) if kind is ast.Mod
                      else _arith(a, {ast.Add: "+", ast.Sub: "-", ast.Mult: "×"}[kind], b))
        return text, last, v
    if isinstance(op, ast.Add):
        return f"{_show(a)} + {_show(b)} is {_show(v)}", None, v
    if isinstance(op, ast.Mult) and isinstance(a, str):
        return f"{_show(a)} repeated {b} times is {_show(v)}", None, v
    raise Retry


def _result(claim: str) -> int:
    return int(claim.rsplit("= ", 1)[1])


# --- the tracer: walks the snippet's syntax tree and says what every line does -------------------

class Tracer:
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
        raise Retry

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
            raise Retry  # every function here ends in a return
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
            raise Retry

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
        raise Retry  # too many passes for a readable trace

    def printing(self, node, arg):
        texts, v = self.expr(arg)
        out = _show(v) if isinstance(v, list) else str(v)
        if isinstance(v, int) and self.last is not None and _result(self.last) != v:
            # The last step written computed something else: recall the step that gave this value.
            if not (isinstance(arg, ast.Name) and arg.id in self.recall):
                raise Retry
            self.last = self.recall[arg.id]
            texts.append(f"{arg.id} got that value from {self.last}")
        self.out.append(out)
        self.say(self.code(node), texts, f"it prints {out}")
