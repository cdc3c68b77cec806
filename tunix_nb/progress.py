"""One progress bar for every stage (SFT, GRPO, evaluation), on both backends.

On a terminal the bar is redrawn in place about once a second. Anywhere else — a notebook kernel,
the output papermill forwards to `make run`, a CI log — each redraw becomes a line of its own, so
the bar is drawn at most every `LOG_INTERVAL_S` seconds there: a few lines a minute, not one a step.
Figures shown beside the bar (`show`) never force a redraw of their own.
"""

from __future__ import annotations

import os
import sys

TERMINAL_INTERVAL_S = 1.0
LOG_INTERVAL_S = 10.0


def bar(total: int, desc: str, unit: str, initial: int = 0):
    """A plain-text tqdm bar (it renders in terminals, logs and papermill outputs alike)."""
    from tqdm import tqdm

    interval = TERMINAL_INTERVAL_S if _interactive(sys.stderr) else LOG_INTERVAL_S
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True,
                mininterval=interval, maxinterval=max(interval, 10.0),
                disable=os.environ.get("RANK", "0") != "0")  # under torchrun, rank 0's bar only


def show(progress, **figures: str) -> None:
    """Figures beside the bar (loss, reward, tokens/s), drawn with its next redraw."""
    progress.set_postfix(figures, refresh=False)


def _interactive(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
