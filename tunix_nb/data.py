"""Datasets: JSONL -> validated records -> token ids + loss mask -> length-bucketed batches,
or (training.packing) padding-free packed rows: several samples back to back in one row, with
position ids restarting at 0 per sample so attention stays inside each sample.

Everything here is a pure function of its inputs (the tokenizer is an argument), so the data
order for a given seed is the same on every machine and every rerun.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from .errors import UserError
from .prompts import IGNORE_INDEX, Encoded, encode_example, encode_prompt, format_prompt
from .schema import DEFAULTS, EVAL_FIELDS, PAIR_FIELDS, TRAIN_FIELDS


@dataclass(frozen=True)
class TrainRecord:
    id: str
    question: str
    reasoning: str
    answer: str
    section: str = DEFAULTS["section"]
    category: str = DEFAULTS["category"]
    difficulty: str = DEFAULTS["difficulty"]


@dataclass(frozen=True)
class EvalRecord:
    id: str
    prompt: str
    expected_answer: str
    section: str
    category: str
    difficulty: str


@dataclass(frozen=True)
class PairRecord:
    """A preference pair: the question, and the model turn's preferred and rejected text."""
    id: str
    prompt: str
    chosen: str
    rejected: str
    section: str = DEFAULTS["section"]
    category: str = DEFAULTS["category"]
    difficulty: str = DEFAULTS["difficulty"]


_GSM8K_NOTE = re.compile(r"<<([^<>=]*)=([^<>]*)>>")  # GSM8K's "<<48/2=24>>" calculator notes
_KINDS = {"train": TRAIN_FIELDS, "prompts": TRAIN_FIELDS, "eval": EVAL_FIELDS, "pairs": PAIR_FIELDS}


def records_from_rows(rows: Iterable[tuple[str, dict]], kind: str) -> tuple[list, list[str], Counter]:
    """(records, problems, defaults used) from a source's rows (`sources.read_table`). `kind`: "train"
    (SFT needs the reasoning), "prompts" (GRPO prompts: the reasoning may be missing), "eval" or
    "pairs" (preference pairs).
    Every problem reads `FILE:ROW: field: what is wrong`; a row without an id is `<file stem>-<row>`."""
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {', '.join(_KINDS)}, not {kind!r}")
    records, problems, seen, defaults = [], [], {}, Counter()
    for where, row in rows:
        file, _, number = where.rpartition(":")
        rec, errs, used = _record(row, kind, f"{Path(file).stem}-{number}")
        problems += [f"{where}: {e}" for e in errs]
        if rec is None:
            continue
        if rec.id in seen:
            problems.append(f"{where}: id: duplicate id {rec.id!r} (first at {seen[rec.id]})")
            continue
        seen[rec.id] = where
        defaults.update(used)
        records.append(rec)
    return records, problems, defaults


def _record(row: dict, kind: str, default_id: str) -> tuple[TrainRecord | EvalRecord | PairRecord | None, list[str],
                                                            list[str]]:
    fields = _KINDS[kind]
    if kind != "pairs" and _is_gsm8k(row, kind):
        reasoning, answer, errs = split_gsm8k(row["answer"])
        if errs:
            return None, errs, []
        ours = ({"prompt": row["question"], "expected_answer": answer} if kind == "eval"
                else {"question": row["question"], "reasoning": reasoning, "answer": answer})
        row = {"category": "gsm8k", **{k: v for k, v in row.items() if k not in ("question", "answer")}, **ours}
    errs = []
    for key, value in row.items():
        if key not in fields:
            errs.append(f"{key}: unexpected field; valid fields: {', '.join(fields)} "
                        "(map other names onto these with data.columns, or data.eval_columns)")
        elif not isinstance(value, str):
            errs.append(f"{key}: expected a string, got {json.dumps(value, default=str)}; quote it")
        elif not value.strip():
            errs.append(f"{key}: is empty")
    required = {"train": ("question", "reasoning", "answer"), "prompts": ("question", "answer"),
                "eval": ("prompt", "expected_answer"), "pairs": ("prompt", "chosen", "rejected")}[kind]
    for key in required:
        if key not in row:
            hint = ("; SFT learns from it: add it, or use these rows only as GRPO prompts (grpo.prompt_file, "
                    "or training.max_steps: 0)") if key == "reasoning" else ""
            errs.append(f"{key}: missing (required: {', '.join(required)}){hint}")
    if kind == "pairs" and not errs and row["chosen"].strip() == row["rejected"].strip():
        errs.append("rejected: the same text as chosen; a pair needs two different completions")
    if errs:
        return None, errs, []
    used = [k for k in DEFAULTS if k not in row]
    values = {**DEFAULTS, "id": default_id, **{k: v.strip() for k, v in row.items()}}
    if kind == "eval":
        return EvalRecord(**{k: values[k] for k in EVAL_FIELDS}), [], used
    if kind == "pairs":
        return PairRecord(**{k: values[k] for k in PAIR_FIELDS}), [], used
    return TrainRecord(**{k: values.get(k, "") for k in TRAIN_FIELDS}), [], used


def _is_gsm8k(row: dict, kind: str) -> bool:
    """GSM8K's shape in any format: a question and an answer ending in `#### N`, and no field of
    ours that the conversion would fill."""
    taken = ("prompt", "expected_answer") if kind == "eval" else ("reasoning",)
    return (isinstance(row.get("question"), str) and isinstance(row.get("answer"), str) and "####" in row["answer"]
            and not any(k in row for k in taken))


def split_gsm8k(text: str) -> tuple[str, str, list[str]]:
    """(reasoning, answer, problems) of a GSM8K answer: the steps before `#### N`, calculator notes
    made plain steps (`gsm8k_steps`), and N without thousands commas."""
    body, _, final = text.rpartition("####")
    answer = final.strip().replace(",", "")
    if not answer:
        return "", "", ["answer: nothing after '####'; GSM8K answers end in '#### <number>'"]
    return gsm8k_steps(body.strip()), answer, []


def gsm8k_steps(text: str) -> str:
    """GSM8K's calculator notes as plain steps: "sold 48/2 = <<48/2=24>>24 clips" -> "sold 48 / 2 = 24
    clips". Where the text writes the note's expression before "=", that expression is spaced out;
    where it does not ("has <<5+3=8>>8 apples"), the note's expression is put in ("has 5 + 3 = 8
    apples"); a result the text leaves out is written. Every note becomes one `EXPR = RESULT` claim."""
    out, pos = [], 0
    for m in _GSM8K_NOTE.finditer(text):
        expr, result = m.group(1).strip(), m.group(2).strip()
        spaced = _spaced(expr)
        before, written = _respell_written(text[pos:m.start()], expr, spaced)
        shown = text[m.end():].startswith(result)
        out += [before, ("" if written else f"{spaced} = ") + ("" if shown else result)]
        pos = m.end()
    out.append(text[pos:])
    return re.sub(r"[ \t]{2,}", " ", "".join(out))


_EXPR_CHARS = set("0123456789.,$() +-*/x×÷")


def _respell_written(before: str, expr: str, spaced: str) -> tuple[str, bool]:
    """`before` with the expression it writes just before a trailing "= " (or "= $") spaced out, and
    whether it writes one at all."""
    eq = re.search(r"=\s*(\$?)\s*$", before)
    if not eq:
        return before, False
    head = before[:eq.start()]
    k = len(head)
    while k and head[k - 1] in _EXPR_CHARS:
        k -= 1
    for i in range(k, len(head)):
        if head[i] != " " and _norm_expr(head[i:]) == _norm_expr(expr):
            return f"{head[:i]}{spaced} = {eq.group(1)}", True
    return before, False


def _spaced(expr: str) -> str:
    """`48/2` -> `48 / 2`, `0.2*50` -> `0.2 × 50` (a leading minus stays on its number)."""
    expr = re.sub(r"(?<=[\d)%])\s*([-+*/x×÷])\s*(?=[\d(.$-])", r" \1 ", expr.replace(" ", ""))
    return expr.replace(" * ", " × ").replace(" x ", " × ")


def _norm_expr(s: str) -> str:
    return re.sub(r"[\s$,]", "", s).replace("x", "*").replace("×", "*").replace("÷", "/")


def spread_subset(records: Sequence, limit: int | None) -> list:
    """`limit` items evenly spaced through `records` (all of them when limit is None)."""
    n = len(records)
    if limit is None or limit >= n:
        return list(records)
    return [records[(i * n) // limit] for i in range(limit)]


# --- tokens ---------------------------------------------------------------------------------

def encode_train(records: Iterable[TrainRecord], tokenizer, max_seq_len: int) -> tuple[list[Encoded], int]:
    """Encode records; samples longer than max_seq_len are skipped (returned count), not cut."""
    kept, skipped = [], 0
    for r in records:
        enc = encode_example(tokenizer, r.question, r.reasoning, r.answer)
        if len(enc) > max_seq_len:
            skipped += 1
        else:
            kept.append(enc)
    return kept, skipped


def collate(batch: Sequence[Encoded], pad_id: int) -> dict[str, list[list[int]]]:
    """Right-pad a micro-batch: input_ids, attention_mask, labels (pad positions ignored)."""
    width = max(len(e) for e in batch)
    out = {"input_ids": [], "attention_mask": [], "labels": []}
    for e in batch:
        pad = width - len(e)
        out["input_ids"].append(e.input_ids + [pad_id] * pad)
        out["attention_mask"].append([1] * len(e) + [0] * pad)
        out["labels"].append(e.labels + [IGNORE_INDEX] * pad)
    return out


def collate_packed(batch: Sequence[Encoded]) -> dict[str, list[list[int]]]:
    """One padding-free row: the samples back to back, position_ids restarting at 0 for each.

    No attention_mask on purpose: given none, transformers derives a block-diagonal (per-sample)
    causal mask from the position-id restarts (`masking_utils.find_packed_sequence_indices`), so
    no token attends across a sample boundary. Each sample's first label is ignored, so no
    token is ever trained to predict the next sample's first token."""
    ids, pos, labels = [], [], []
    for e in batch:
        ids += e.input_ids
        pos += range(len(e))
        labels += [IGNORE_INDEX, *e.labels[1:]]
    return {"input_ids": [ids], "position_ids": [pos], "labels": [labels]}


# --- batching -------------------------------------------------------------------------------

BUCKET_SIZE = 256  # samples sorted together: big enough to cut padding, small enough to stay random


def epoch_batches(lengths: Sequence[int], *, seed: int, epoch: int, max_batch_tokens: int | None,
                  micro_batch_size: int | None) -> list[list[int]]:
    """One epoch of micro-batches (lists of sample indices).

    Shuffle, cut into buckets, sort each bucket by length, fill micro-batches greedily while
    rows * longest <= max_batch_tokens (and rows <= micro_batch_size), then shuffle the
    micro-batches so long and short ones alternate through training."""
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    for start in range(0, len(order), BUCKET_SIZE):
        bucket = sorted(order[start:start + BUCKET_SIZE], key=lambda i: (-lengths[i], i))
        current: list[int] = []
        for i in bucket:
            rows, longest = len(current) + 1, max([lengths[j] for j in current] + [lengths[i]])
            fits = (max_batch_tokens is None or rows * longest <= max_batch_tokens) and (
                micro_batch_size is None or rows <= micro_batch_size)
            if current and not fits:
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
    rng.shuffle(batches)
    return batches


def epoch_packs(lengths: Sequence[int], *, seed: int, epoch: int, max_batch_tokens: int) -> list[list[int]]:
    """One epoch of packed rows (lists of sample indices), each at most max_batch_tokens tokens.

    Shuffle, cut into buckets, pack each bucket first-fit-decreasing (rows come out nearly
    full), then shuffle the rows. Nothing is padded, so a row's cost is its real token count."""
    too_long = [i for i, n in enumerate(lengths) if n > max_batch_tokens]
    if too_long:
        raise ValueError(f"sample {too_long[0]} ({lengths[too_long[0]]} tokens) exceeds max_batch_tokens={max_batch_tokens}")
    rng = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    rows: list[list[int]] = []
    for start in range(0, len(order), BUCKET_SIZE):
        bucket_rows: list[list[int]] = []
        free: list[int] = []
        for i in sorted(order[start:start + BUCKET_SIZE], key=lambda i: (-lengths[i], i)):
            slot = next((r for r, room in enumerate(free) if lengths[i] <= room), None)
            if slot is None:
                bucket_rows.append([])
                free.append(max_batch_tokens)
                slot = len(free) - 1
            bucket_rows[slot].append(i)
            free[slot] -= lengths[i]
        rows += bucket_rows
    rng.shuffle(rows)
    return rows


def plan_steps(lengths: Sequence[int], *, seed: int, grad_accum: int, max_batch_tokens: int | None,
               micro_batch_size: int | None, epochs: float | None = None,
               max_steps: int | None = None, packing: bool = False) -> list[list[list[int]]]:
    """The whole run's schedule: steps -> micro-batches -> sample indices, decided up front so
    the data position of any step is known (and the same on every rerun). With packing, a
    micro-batch is one packed row (`epoch_packs`) instead of a padded bucket."""
    if (epochs is None) == (max_steps is None):
        raise ValueError("give exactly one of epochs and max_steps")
    if not lengths:
        raise UserError("data.train_file: no training samples left (all longer than data.max_seq_len?)")
    if packing:
        if max_batch_tokens is None:
            raise ValueError("packing needs max_batch_tokens")
        make = lambda epoch: epoch_packs(lengths, seed=seed, epoch=epoch, max_batch_tokens=max_batch_tokens)
    else:
        make = lambda epoch: epoch_batches(lengths, seed=seed, epoch=epoch, max_batch_tokens=max_batch_tokens,
                                           micro_batch_size=micro_batch_size)
    stream: list[list[int]] = []
    if epochs is not None:
        for epoch in range(math.ceil(epochs)):
            batches = make(epoch)
            fraction = min(1.0, epochs - epoch)
            stream += batches[: max(1, round(fraction * len(batches)))]
    else:
        epoch = 0
        while len(stream) < max_steps * grad_accum:
            stream += make(epoch)
            epoch += 1
        stream = stream[: max_steps * grad_accum]
    return [stream[i:i + grad_accum] for i in range(0, len(stream), grad_accum)]


# --- GRPO prompts ------------------------------------------------------------------------------

@dataclass(frozen=True)
class GrpoPrompt:
    """One RL prompt: the chat-formatted prompt text (no <bos>: samplers add it) and the columns the
    rewards read (`answer`: the expected answer, compared by scoring's rule). `level`: its place in
    the curriculum (grpo.curriculum; lower levels first in each epoch, all 0 without one)."""
    id: str
    prompt: str
    answer: str
    prompt_tokens: int
    question: str = ""
    difficulty: str = DEFAULTS["difficulty"]
    level: int = 0


def grpo_prompts(records: Iterable[TrainRecord], tokenizer, max_prompt_len: int) -> tuple[list[GrpoPrompt], int]:
    """Prompts of at most max_prompt_len tokens (<bos> included); longer ones are skipped and counted,
    never cut (a cut question has another answer)."""
    kept, skipped = [], 0
    for r in records:
        n = len(encode_prompt(tokenizer, r.question))
        if n > max_prompt_len:
            skipped += 1
            continue
        kept.append(GrpoPrompt(id=r.id, prompt=format_prompt(r.question), answer=r.answer, prompt_tokens=n,
                               question=r.question, difficulty=r.difficulty))
    return kept, skipped


def plan_prompt_steps(n: int, *, prompts_per_step: int, steps: int, seed: int,
                      levels: Sequence[int] | None = None) -> list[list[int]]:
    """Which prompts each GRPO step uses: a seeded shuffle per epoch, `prompts_per_step` a step,
    decided up front (a resumed run continues with the same prompts). With `levels` (each prompt's
    curriculum level) each epoch goes from the lowest level up, shuffled within a level. An epoch's
    tail that cannot fill a step goes on into the next epoch, so no prompt is dropped."""
    if n < 1:
        raise UserError("grpo.prompt_file: no prompts left (all longer than grpo.max_prompt_len?)")
    stream: list[int] = []
    epoch = 0
    while len(stream) < steps * prompts_per_step:
        order = list(range(n))
        random.Random(f"{seed}:grpo:{epoch}").shuffle(order)
        if levels is not None:
            order.sort(key=lambda i: levels[i])  # stable: the shuffle stays within a level
        stream += order
        epoch += 1
    return [stream[i * prompts_per_step:(i + 1) * prompts_per_step] for i in range(steps)]
