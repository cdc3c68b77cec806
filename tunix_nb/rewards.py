"""GRPO reward functions, pure (standard library plus scoring and prompts).

Every reward is ``f(prompts, completions, **columns) -> list[float]``, one float per completion:
the signature both Tunix's ``GRPOLearner`` and our PyTorch loop call. ``columns`` are dataset
columns repeated per completion (``answer``: the expected answer string); any other key (``mode``,
…) is ignored. Parameters are keyword-only with defaults. A trailing ``<end_of_turn>`` / ``<eos>``
is stripped first. "Correct" and "format ok" are :mod:`tunix_nb.scoring`'s rules, so the reward
and the scorecard can never disagree.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from fractions import Fraction

from . import scoring
from .prompts import END_OF_TURN, EOS, REASONING_END, REASONING_START, SOLUTION_END, SOLUTION_START

__all__ = ["REWARDS", "format_exact", "format_partial", "answer_correct", "numeric_close", "overlong", "trace",
           "make_reward_fns", "score_all"]

_TAGS = (REASONING_START, REASONING_END, SOLUTION_START, SOLUTION_END)


def _clean(text: str) -> str:
    # Generation stops at either marker; whether it is decoded into the text varies by sampler.
    text = text.rstrip()
    while text.endswith((END_OF_TURN, EOS)):
        text = text[: -len(END_OF_TURN if text.endswith(END_OF_TURN) else EOS)].rstrip()
    return text


def _answers(completions: list[str], answer) -> list[str]:
    # A bare string would silently zip character by character.
    if answer is None or isinstance(answer, str) or len(answer) != len(completions):
        raise ValueError("the `answer` column must be a list with one expected answer per completion")
    return [str(a) for a in answer]


def format_exact(prompts, completions, **columns) -> list[float]:
    """1.0 when the completion passes :func:`scoring.is_format_ok`, else 0.0."""
    return [1.0 if scoring.is_format_ok(_clean(c)) else 0.0 for c in completions]


def _partial(text: str) -> float:
    counts = [text.count(t) for t in _TAGS]
    once = {i: text.find(t) for i, t in enumerate(_TAGS) if counts[i] == 1}
    score = 0.0
    for i, pos in once.items():
        # Well placed: after every earlier single tag and before every later one.
        ordered = all(p < pos for j, p in once.items() if j < i) and all(p > pos for j, p in once.items() if j > i)
        # The answer block only closes cleanly when the model stops there.
        closes = i != 3 or not text[pos + len(_TAGS[3]):].strip()
        score += 0.25 if ordered and closes else 0.0
    score -= 0.25 * sum(max(0, c - 1) for c in counts)
    return max(-1.0, min(1.0, score))


def format_partial(prompts, completions, **columns) -> list[float]:
    """Partial credit towards the exact format, in [-1, 1].

    Each of ``<reasoning>``, ``</reasoning>``, ``<answer>``, ``</answer>`` earns +0.25 when it is
    *well placed*: it occurs exactly once, it comes after every earlier tag (in that order) and
    before every later tag among those that also occur exactly once, and, for ``</answer>`` only,
    nothing but whitespace follows it. Missing tags earn nothing but do not stop the others
    counting (``<answer>5</answer>`` alone earns 0.5). Every occurrence of a tag beyond its first
    costs 0.25. The sum is clipped to [-1, 1]. Any text passing ``format_exact`` earns 1.0.
    """
    return [_partial(_clean(c)) for c in completions]


def answer_correct(prompts, completions, *, answer=None, **columns) -> list[float]:
    """1.0 when the last answer block matches ``answer`` under :func:`scoring.answers_match`."""
    return [1.0 if scoring.answers_match(scoring.extract_answer(_clean(c)), e) else 0.0
            for c, e in zip(completions, _answers(completions, answer))]


def numeric_close(prompts, completions, *, answer=None, tolerance: float = 0.2, **columns) -> list[float]:
    """Credit near the expected number: max(0, 1 - |p - e| / (tolerance * max(1, |e|))).

    Exact (and anything scoring calls correct) is 1.0, 10 % off is 0.5 at the default 0.2,
    20 % off or more is 0.0; 0.0 when no answer was extracted or either side is not a number.
    """
    # str() keeps 0.2 as exactly 1/5, so 10 % off is exactly 0.5.
    tol = Fraction(str(tolerance))
    if tol <= 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    return [_close(scoring.extract_answer(_clean(c)), e, tol)
            for c, e in zip(completions, _answers(completions, answer))]


def _close(got: str | None, expected: str, tol: Fraction) -> float:
    if scoring.answers_match(got, expected):
        return 1.0
    p = None if got is None else scoring.parse_number(got)
    e = scoring.parse_number(expected)
    if p is None or e is None:
        return 0.0
    return float(max(Fraction(0), 1 - abs(p - e) / (tol * max(1, abs(e)))))


def overlong(prompts, completions, *, max_tokens: int = 768, soft_tokens: int = 128,
             count: Callable[[str], int] | None = None, **columns) -> list[float]:
    """DAPO's soft over-length penalty: 0 up to ``max_tokens - soft_tokens``, then linearly down
    to -1 at ``max_tokens``, -1 beyond. ``count`` (text -> length, e.g. a bound tokenizer) measures
    the completion without its end marker; by default it counts whitespace-separated words."""
    if max_tokens <= 0 or not 0 <= soft_tokens <= max_tokens:
        raise ValueError(f"need max_tokens > 0 and 0 <= soft_tokens <= max_tokens, got {max_tokens}, {soft_tokens}")
    count = count or (lambda text: len(text.split()))
    free = max_tokens - soft_tokens
    lengths = [count(_clean(c)) for c in completions]
    return [0.0 if n <= free else -1.0 if n >= max_tokens else (free - n) / soft_tokens for n in lengths]


TRACE_VALUES = {True: 1.0, None: 0.0, False: -1.0}


def trace(prompts, completions, **columns) -> list[float]:
    """:func:`scoring.check_trace`'s verdict on the reasoning's arithmetic: 1.0 when every step is
    right and the answer is the last step's result, -1.0 when a step is wrong or the answer is not
    that result, 0.0 when there is no checkable step (nothing to reward or blame)."""
    out = []
    for c in completions:
        text = _clean(c)
        out.append(TRACE_VALUES[scoring.check_trace(text, scoring.extract_answer(text)).ok])
    return out


# Config keys; the order is the display order.
REWARDS: dict[str, Callable[..., list[float]]] = {
    "format_exact": format_exact,
    "format_partial": format_partial,
    "answer_correct": answer_correct,
    "numeric_close": numeric_close,
    "overlong": overlong,
    "trace": trace,
}


# Rewards that need a model (not pure functions): the pipeline builds them and hands them in as `extra`.
MODEL_REWARDS = ("judge",)


def _check(weights: dict[str, float], extra: dict | None = None) -> None:
    unknown = [name for name in weights if name not in REWARDS and name not in (extra or {})]
    if unknown:
        raise ValueError(f"unknown reward {unknown[0]!r}; valid rewards: {', '.join(REWARDS)}"
                         + (" (the judge reward needs grpo.judge_source)" if unknown[0] in MODEL_REWARDS else ""))


def _weighted(name: str, weight: float, params: dict, fn: Callable[..., list[float]]) -> Callable[..., list[float]]:
    # Bind only the parameters this reward declares; the rest would be mistaken for columns.
    mine = {k: v for k, v in params.items() if k in inspect.signature(fn).parameters and v is not None}

    def reward(prompts, completions, **columns):
        return [weight * v for v in fn(prompts, completions, **{**columns, **mine})]

    # Tunix logs each reward as rewards/<__name__>, so it must be the config key.
    reward.__name__ = reward.__qualname__ = name
    return reward


def token_counter(tokenizer) -> Callable[[str], int]:
    """The `count` the overlong reward takes: a completion's length in the model's tokens."""
    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])
    return count


def make_reward_fns(weights: dict[str, float], *, max_tokens: int, soft_tokens: int,
                    count: Callable[[str], int] | None = None,
                    extra: dict[str, Callable[..., list[float]]] | None = None) -> list[Callable[..., list[float]]]:
    """One ``weight * reward`` callable per nonzero weight, in :data:`REWARDS` order, then the `extra`
    (model) rewards, e.g. {"judge": judge.Judge(...)}."""
    _check(weights, extra)
    params = {"max_tokens": max_tokens, "soft_tokens": soft_tokens, "count": count}
    fns = {**REWARDS, **(extra or {})}
    return [_weighted(name, float(weights[name]), params, fns[name]) for name in fns if weights.get(name, 0)]


def score_all(prompts, completions, weights: dict[str, float], *,
              extra: dict[str, Callable[..., list[float]]] | None = None, **kw) -> dict[str, list[float]]:
    """Unweighted values of every reward in ``weights`` (``kw``: columns and parameters; `extra`: model
    rewards by name), plus ``"total"``, the weighted sum per completion."""
    _check(weights, extra)
    fns = {**REWARDS, **(extra or {})}
    out = {name: fns[name](prompts, completions, **kw) for name in fns if name in weights}
    out["total"] = [sum(float(weights[name]) * out[name][i] for name in weights) for i in range(len(completions))]
    return out
