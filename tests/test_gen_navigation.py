"""The navigation domain (training/data/gen/navigation.py) re-solved from the question text alone: the
start, the heading and the commands are read back from the words and walked by a simulator of our own
(a heading as a unit vector, turned by rotation), independently of the generator."""

import re

from v3_data import records, rows

VECTOR = {"north": (0, 1), "east": (1, 0), "south": (0, -1), "west": (-1, 0)}
COMMAND = re.compile(r"turn (left|right|around)|(U-turn)|(forward|back|north|east|south|west) (\d+)"
                     r"|(\d+) steps? (forward|back|north|east|south|west)")


def walk(q: str) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(start, end, heading vector at the end)."""
    x0, y0 = map(int, re.search(r"\((\d+), (\d+)\)", q).groups())
    facing = re.search(r"facing (north|east|south|west)", q)
    hx, hy = VECTOR[facing.group(1)] if facing else (0, 1)
    commands = re.search(r"(?:Moves|follows|Commands|commands are): (.*?)(?: \(back means|\.)", q).group(1)
    x, y = x0, y0
    for turn, uturn, word, n, n2, word2 in COMMAND.findall(commands):
        if turn == "left":
            hx, hy = -hy, hx  # rotate +90 degrees
        elif turn == "right":
            hx, hy = hy, -hx  # rotate -90 degrees
        elif turn == "around" or uturn:
            hx, hy = -hx, -hy
        else:
            word, n = word or word2, int(n or n2)
            dx, dy = {"forward": (hx, hy), "back": (-hx, -hy)}.get(word) or VECTOR[word]
            x, y = x + n * dx, y + n * dy
    return (x0, y0), (x, y), (hx, hy)


def solve(q: str) -> str:
    (x0, y0), (x, y), heading = walk(q)
    if re.search(r"how far|taxicab", q):
        return str(abs(x - x0) + abs(y - y0))
    if "(x, y)" in q:
        return f"({x}, {y})"
    assert re.search(r"face|heading|facing\?", q), q
    return next(name for name, v in VECTOR.items() if v == heading)


def test_every_navigation_answer_matches_a_fresh_simulation():
    asked = set()
    for rid, q, answer, _ in records("grid_navigation"):
        assert answer == solve(q), (rid, q, answer)
        asked.add("distance" if answer.isdigit() else "point" if answer.startswith("(") else "heading")
    assert asked == {"distance", "point", "heading"}


def test_hard_walks_are_long():
    hard = [r for r in rows("grid_navigation") if r["split"] == "train" and r["difficulty"] == "hard"]
    assert hard
    assert not [r["id"] for r in hard if len(COMMAND.findall(r["question"])) < 6]
