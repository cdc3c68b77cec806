"""Grid navigation: a walker on a grid follows moves and turns; where does it end up, which way does it
face, how many grid steps from the start is it?

Teaches keeping two pieces of state (position and heading) through a list of instructions: relative
turns (left, right, around), forward and backward moves along the heading, and compass moves. Answers
come from simulating the instructions at generation time; the trace states the position and heading
after every instruction, with each coordinate change a one-digit sum or difference (the walk stays on
the 0..9 grid)."""

from __future__ import annotations

from gen.common import NAMES, num, pick

SECTION = "navigation"

HEADINGS = ("north", "east", "south", "west")  # clockwise: a right turn is +1
STEP = {"north": (0, 1), "east": (1, 0), "south": (0, -1), "west": (-1, 0)}
CONVENTIONS = ("x east, y north", "east is +x, north +y", "x grows eastward, y northward")


def _steps(n: int) -> str:
    return f"{n} step" + ("s" if n != 1 else "")


def _say(kind: str, n: int, style: int) -> str:
    """One command, short, so a run of 13 words spans several sampled commands; style 0 puts the
    number after the word ("forward 3"), style 1 before it ("3 steps forward")."""
    if kind in ("L", "R", "U"):
        return {"L": "turn left", "R": "turn right", "U": ("turn around", "U-turn")[style]}[kind]
    word = {"F": "forward", "B": "back"}.get(kind, kind)
    return f"{word} {n}" if style == 0 else f"{_steps(n)} {word}"


def _plan(rng, d: str, compass: bool) -> list[tuple[str, int]]:
    """The instruction kinds and step counts (the turns carry 0)."""
    size = {"easy": (2, 3), "medium": (4, 6), "hard": (6, 9)}[d]
    if compass:
        return [(pick(rng, HEADINGS), rng.randint(1, 4)) for _ in range(rng.randint(*size))]
    kinds = {"easy": ("F", "F", "L", "R"), "medium": ("F", "F", "L", "R"), "hard": ("F", "F", "L", "R", "U", "B")}[d]
    while True:
        n = rng.randint(*size)
        plan = [(k, rng.randint(1, 4) if k in "FB" else 0) for k in (pick(rng, kinds) for _ in range(n))]
        turns = [k for k, _ in plan if k in "LRU"]
        moves = [k for k, _ in plan if k in "FB"]
        need_turns = {"easy": 1, "medium": 2, "hard": 3}[d]
        if (d == "easy" and len(turns) > 1) or len(turns) < min(need_turns, n - 1) or len(moves) < 2:
            continue
        if d == "hard" and "U" not in turns:
            continue
        if plan[-1][0] not in "FB" and d != "hard":  # end on a move, so the last turn matters for position
            continue
        return plan


def _walk(x: int, y: int, facing: str, plan) -> list[tuple[int, int, str]]:
    """The (x, y, heading) after each instruction."""
    out = []
    for kind, n in plan:
        h = HEADINGS.index(facing)
        if kind in ("L", "R", "U"):
            facing = HEADINGS[(h + {"L": -1, "R": 1, "U": 2}[kind]) % 4]
        else:
            way = kind if kind in STEP else facing if kind == "F" else HEADINGS[(h + 2) % 4]
            dx, dy = STEP[way]
            x, y = x + n * dx, y + n * dy
        out.append((x, y, facing))
    return out


def _explain(x, y, facing, plan, path, compass) -> list[str]:
    lines = [f"Start at ({x}, {y})" + ("." if compass else f", facing {facing}.")]
    for (kind, n), (nx, ny, nf) in zip(plan, path):
        if kind in ("L", "R", "U"):
            turn = {"L": "a left turn", "R": "a right turn", "U": "turning around"}[kind]
            lines.append(f"Turn {'around' if kind == 'U' else {'L': 'left', 'R': 'right'}[kind]}: "
                         f"from {facing}, {turn} means facing {nf}. Still at ({x}, {y}).")
        else:
            way = kind if kind in STEP else facing if kind == "F" else HEADINGS[(HEADINGS.index(facing) + 2) % 4]
            axis, old, new = ("x", x, nx) if way in ("east", "west") else ("y", y, ny)
            sign = "+" if way in ("east", "north") else "-"
            what = {"F": f"Move {_steps(n)} forward, which is {way}",
                    "B": f"Step {n} back while facing {facing}, which moves {way}"}.get(kind, f"Walk {_steps(n)} {way}")
            lines.append(f"{what}: {axis} goes from {old} to {old} {sign} {n} = {new}. Now at ({nx}, {ny})"
                         + ("." if compass else f", facing {nf}."))
        x, y, facing = nx, ny, nf
    return lines


def grid_navigation(rng, d):
    compass = d != "hard" and rng.random() < 0.3
    while True:
        x0, y0, f0 = rng.randint(1, 8), rng.randint(1, 8), pick(rng, HEADINGS)
        plan = _plan(rng, d, compass)
        path = _walk(x0, y0, f0, plan)
        if all(0 <= px <= 9 and 0 <= py <= 9 for px, py, _ in path):
            break
    ask = pick(rng, ("position", "distance") if compass else ("position", "facing", "distance"))
    name = pick(rng, NAMES + ("The robot", "The rover"))
    who = name if name in NAMES else name.lower()
    style = rng.randint(0, 1)
    cmds = ", ".join(_say(k, n, style) for k, n in plan)
    if any(k == "B" for k, _ in plan):
        cmds += " (back means stepping backward without turning)"
    conv = pick(rng, CONVENTIONS)
    start = "" if compass else f" facing {f0}"
    q = pick(rng, (f"{name} starts at ({x0}, {y0}){start} ({conv}). Moves: {cmds}.",
                   f"With {conv}, {who} stands at ({x0}, {y0}){start} and follows: {cmds}.",
                   f"{name} ({conv}) is at ({x0}, {y0}){start}. Commands: {cmds}."))
    q += " " + {
        "position": pick(rng, (f"Where does {who} finish? Answer as (x, y).",
                               f"Give the point where {who} stops, as (x, y).",
                               f"At which point does {who} end up? Reply like (x, y).")),
        "facing": pick(rng, (f"Which way does {who} face at the end? Answer north, east, south or west.",
                             f"What is {who}'s final heading? Give a compass direction.",
                             f"In the end, which compass direction is {who} facing? Name a direction.")),
        "distance": pick(rng, (f"At the end, how far is {who} from ({x0}, {y0}) in grid steps (x plus y)? Give a number.",
                               f"What is the taxicab distance from ({x0}, {y0}) to where {who} stops? Reply with a number.",
                               f"Counting x and y steps, how far does {who} end from ({x0}, {y0})? Answer with a number."))}[ask]

    lines = _explain(x0, y0, f0, plan, path, compass)
    x1, y1, f1 = path[-1]
    if ask == "position":
        return q, lines + [f"So the answer is ({x1}, {y1})."], f"({x1}, {y1})"
    if ask == "facing":
        return q, lines + [f"So the answer is {f1}."], f1
    parts = []
    for axis, a, b in (("x", x0, x1), ("y", y0, y1)):
        lo, hi = sorted((a, b))
        parts.append(f"{axis} changed from {a} to {b}: {hi} - {lo} = {hi - lo}" if a != b
                     else f"{axis} is {a} at both ends: 0")
    dx, dy = abs(x1 - x0), abs(y1 - y0)
    lines.append(f"From ({x0}, {y0}) to ({x1}, {y1}): {parts[0]}; {parts[1]}.")
    lines.append(f"Add the two: {dx} + {dy} = {dx + dy}.")
    return q, lines + [f"So the answer is {dx + dy}."], num(dx + dy)


CATEGORIES = {"grid_navigation": grid_navigation}
