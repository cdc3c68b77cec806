"""Training rows that repeat an eval item: the same question after normalisation, or a shared run
of 13 words (the n-gram window GPT-3 and most contamination reports since use). Pure functions."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Iterable, Sequence

NGRAM = 13


@dataclass(frozen=True)
class Overlap:
    train_id: str
    eval_id: str
    how: str  # "same text" or "13-gram '...'"


def normalise(text: str) -> str:
    """Case, accents, punctuation and spacing removed: what two copies of one question share."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


def _ngrams(words: Sequence[str], n: int) -> Iterable[tuple[str, ...]]:
    return (tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def find_overlaps(train: Iterable[tuple[str, str]], evals: Iterable[tuple[str, str]], n: int = NGRAM) -> list[Overlap]:
    """Every training (id, text) that repeats an eval (id, text): by normalised text, else by a
    shared n-gram of normalised words (texts shorter than n words can only match whole)."""
    whole: dict[str, str] = {}
    grams: dict[tuple[str, ...], str] = {}
    for eval_id, text in evals:
        norm = normalise(text)
        whole.setdefault(norm, eval_id)
        for g in _ngrams(norm.split(), n):
            grams.setdefault(g, eval_id)
    found = []
    for train_id, text in train:
        norm = normalise(text)
        if norm in whole:
            found.append(Overlap(train_id, whole[norm], "same text"))
            continue
        hit = next((g for g in _ngrams(norm.split(), n) if g in grams), None)
        if hit is not None:
            found.append(Overlap(train_id, grams[hit], f"{n}-gram '{' '.join(hit)}'"))
    return found
