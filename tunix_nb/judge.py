"""The judge reward: another model grades each completion against a rubric (1st place of the Tunix
Hack, G-RaR: a Gemma 3 12B judge's rubric score beside the verified rewards, its discrete score made
continuous). Configured by `grpo.judge_source` (any model.source), `grpo.judge_rubric` (a rubric
file) and the weight `grpo.rewards.judge`.

The rubric file (YAML) holds the criteria, the score scale and one prompt template:

    criteria: [The reasoning is correct step by step., ...]
    scale: [1, 10]
    template: "<start_of_turn>user\\n...{criteria}...{question}...{completion}...{low}...{high}<end_of_turn>\\n<start_of_turn>model\\nScore: "

The score is not sampled: it is the probability-weighted mean over the scale's scores of the judge's
next tokens after the template, so it is continuous and the same on every rerun. A score written in
several tokens (Gemma writes "10" as "1", "0") takes its tokens' joint probability, and a score
another one extends ("1" before "10") keeps only the mass that does not go on to the longer one. The
mean is scaled to [0, 1]; a judge that puts no mass on any score gives 0.

`Judge` is backend-neutral: it builds the rows and does the arithmetic; a backend supplies
`next_logprobs(rows)`, the judge model's log-probabilities of the token after each row (torch:
`backends.torch.judge`; Tunix: `backends.tunix.judge`, on its own sub-mesh). A call scores its
distinct (question, completion) items once each (GRPO groups repeat completions), in batches of
`batch_size` items, every prefix a score needs in the same forward pass; the previous call's scores
are reused (a GRPO step asks for its rollouts' rewards, then its rows log them).
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import yaml

from . import progress
from .errors import UserError
from .prompts import END_OF_TURN, EOS, format_prompt

FIELDS = ("criteria", "scale", "template")
PROGRESS_FROM = 4  # batches in one call from which the judge shows a progress bar
PLACES = ("{criteria}", "{question}", "{completion}")


@dataclass(frozen=True)
class Rubric:
    criteria: tuple[str, ...]
    low: int
    high: int
    template: str

    def render(self, question: str, completion: str) -> str:
        """The judge's prompt for one completion (no <bos>: the row adds one)."""
        criteria = "\n".join(f"- {c}" for c in self.criteria)
        return (self.template.replace("{criteria}", criteria).replace("{low}", str(self.low))
                .replace("{high}", str(self.high)).replace("{question}", question.strip())
                .replace("{completion}", _clean(completion)))


def load_rubric(path: Path, setting: str = "grpo.judge_rubric") -> Rubric:
    """A rubric file, each problem refused naming the setting, the file and the field."""
    if not path.is_file():
        raise UserError(f"{setting}: {path}: rubric file not found; give a YAML file with {', '.join(FIELDS)} "
                        "(e.g. training/rubrics/reasoning_1_10.yaml)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise UserError(f"{setting}: {path}: not a YAML mapping ({type(e).__name__}); fix the file") from None
    if not isinstance(raw, dict):
        raise UserError(f"{setting}: {path}: expected a mapping with {', '.join(FIELDS)}")
    unknown = sorted(set(raw) - set(FIELDS))
    missing = [f for f in FIELDS if f not in raw]
    if unknown or missing:
        what = f"unknown field {unknown[0]!r}" if unknown else f"{missing[0]} is missing"
        raise UserError(f"{setting}: {path}: {what}; a rubric has {', '.join(FIELDS)}")
    criteria, scale, template = raw["criteria"], raw["scale"], raw["template"]
    if not isinstance(criteria, list) or not criteria or not all(isinstance(c, str) and c.strip() for c in criteria):
        raise UserError(f"{setting}: {path}: criteria: expected a list of sentences, got {criteria!r}")
    if (not isinstance(scale, list) or len(scale) != 2 or not all(isinstance(x, int) and x >= 0 for x in scale)
            or scale[0] >= scale[1]):
        raise UserError(f"{setting}: {path}: scale: expected [low, high], whole numbers >= 0 with low < high, "
                        f"e.g. [1, 10]; got {scale!r}")
    if not isinstance(template, str) or not all(p in template for p in PLACES):
        raise UserError(f"{setting}: {path}: template: must contain {', '.join(PLACES)} (and may use {{low}}, "
                        "{high})")
    return Rubric(tuple(c.strip() for c in criteria), scale[0], scale[1], template)


def _clean(text: str) -> str:
    text = text.rstrip()
    while text.endswith((END_OF_TURN, EOS)):
        text = text[: -len(END_OF_TURN if text.endswith(END_OF_TURN) else EOS)].rstrip()
    return text


@dataclass(frozen=True)
class ScoreTokens:
    """Each score of the scale as the judge's tokens, and the prefixes whose next token must be read
    (the empty prefix: the prompt itself; "1" for "10")."""
    scores: tuple[int, ...]
    sequences: tuple[tuple[int, ...], ...]
    prefixes: tuple[tuple[int, ...], ...]


def score_tokens(rubric: Rubric, tokenizer) -> ScoreTokens:
    scores = tuple(range(rubric.low, rubric.high + 1))
    sequences = tuple(tuple(tokenizer(str(s), add_special_tokens=False)["input_ids"]) for s in scores)
    if len(set(sequences)) != len(sequences):
        raise UserError("grpo.judge_rubric: the judge's tokenizer writes two scores of the scale alike; "
                        "use another scale")
    prefixes = tuple(sorted({seq[:i] for seq in sequences for i in range(len(seq))}, key=lambda p: (len(p), p)))
    return ScoreTokens(scores, sequences, prefixes)


def expected_score(st: ScoreTokens, logprobs: dict[tuple[int, ...], np.ndarray], low: int, high: int) -> float:
    """The probability-weighted mean score scaled to [0, 1], from the next-token log-probs after
    each prefix (`logprobs[prefix][token]`)."""
    def joint(seq: tuple[int, ...]) -> float:
        return math.exp(sum(float(logprobs[seq[:i]][tok]) for i, tok in enumerate(seq)))

    mass = {seq: joint(seq) for seq in st.sequences}
    own = {}
    for seq in st.sequences:  # the mass that ends here, not in a longer score starting with it
        longer = [t for t in st.sequences if len(t) > len(seq) and t[:len(seq)] == seq
                  and not any(len(seq) < len(m) < len(t) and t[:len(m)] == m for m in st.sequences)]
        own[seq] = max(0.0, mass[seq] - sum(mass[t] for t in longer))
    total = sum(own.values())
    if total <= 0.0:
        return 0.0
    mean = sum(s * own[seq] for s, seq in zip(st.scores, st.sequences)) / total
    return (mean - low) / (high - low)


class Judge:
    """The `judge` reward: f(prompts, completions, **columns) -> [0, 1] per completion, unweighted
    (the reward list weighs it). `question` (a column) is what the judge sees as the question; without
    it, the question inside the chat-formatted prompt. `next_logprobs(rows)` -> (rows, vocab) log-probs of each row's next token;
    `calls` counts them (one per batch of `batch_size` distinct items)."""

    def __init__(self, rubric: Rubric, tokenizer, next_logprobs: Callable[[list[list[int]]], np.ndarray],
                 batch_size: int = 8):
        self.rubric, self.tokenizer, self.next_logprobs, self.batch_size = rubric, tokenizer, next_logprobs, batch_size
        self.tokens = score_tokens(rubric, tokenizer)
        self.calls = 0
        self._last: dict[tuple[str, str], float] = {}  # the previous call's scores (a step asks twice: reward, row)

    def __call__(self, prompts: Sequence[str], completions: Sequence[str], *, question=None, **columns) -> list[float]:
        questions = list(question) if question is not None else [question_of(p) for p in prompts]
        items = list(dict.fromkeys(zip(questions, completions)))  # distinct, in order: each scored once
        scores = {item: self._last[item] for item in items if item in self._last}
        todo = [item for item in items if item not in scores]
        many = len(todo) > PROGRESS_FROM * self.batch_size  # ranking pairs: a bar; a GRPO step's few batches: none
        with progress.bar(len(todo), "judge", "completion") if many else nullcontext() as bar:
            for lo in range(0, len(todo), self.batch_size):
                batch = todo[lo:lo + self.batch_size]
                scores.update(zip(batch, self.score_batch(batch)))
                if bar is not None:
                    bar.update(len(batch))
        self._last = scores
        return [scores[(q, c)] for q, c in zip(questions, completions)]

    def score_batch(self, items: Sequence[tuple[str, str]]) -> list[float]:
        """One forward pass: every item's prompt followed by each prefix a score needs."""
        bos = self.tokenizer.bos_token_id
        prompts = [[bos, *self.tokenizer(self.rubric.render(q, c), add_special_tokens=False)["input_ids"]]
                   for q, c in items]
        rows = [p + list(prefix) for p in prompts for prefix in self.tokens.prefixes]
        self.calls += 1
        logprobs = np.asarray(self.next_logprobs(rows), dtype=np.float64)
        k = len(self.tokens.prefixes)
        return [expected_score(self.tokens, {prefix: logprobs[i * k + j] for j, prefix in enumerate(self.tokens.prefixes)},
                               self.rubric.low, self.rubric.high) for i in range(len(items))]


def question_of(prompt: str) -> str:
    """The question inside one of our chat-formatted prompts (for rewards given no question column)."""
    head, _, tail = format_prompt("\x00").partition("\x00")
    return prompt[len(head):len(prompt) - len(tail)] if prompt.startswith(head) and prompt.endswith(tail) else prompt
