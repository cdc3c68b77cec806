"""`data.mix`: several training sources drawn by weight, deterministically from the seed. Pure."""

from __future__ import annotations

import random
from typing import Sequence


def quotas(weights: Sequence[float], total: int) -> list[int]:
    """Rows per source: total x weight share, rounded by largest remainder so they sum to total."""
    share = [total * w / sum(weights) for w in weights]
    counts = [int(s) for s in share]
    by_remainder = sorted(range(len(share)), key=lambda i: (counts[i] - share[i], i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def draw(sizes: Sequence[int], weights: Sequence[float], total: int, seed: int) -> list[tuple[int, int]]:
    """(source, row) pairs: each source's quota from seeded shuffles of its rows (a source asked for
    more rows than it has goes round again, reshuffled), all of them shuffled together."""
    picked = []
    for source, (size, quota) in enumerate(zip(sizes, quotas(weights, total))):
        rows: list[int] = []
        epoch = 0
        while len(rows) < quota:
            order = list(range(size))
            random.Random(f"{seed}:mix:{source}:{epoch}").shuffle(order)
            rows += order
            epoch += 1
        picked += [(source, r) for r in rows[:quota]]
    random.Random(f"{seed}:mix").shuffle(picked)
    return picked
