"""The preference stage's pairs: read from `preference.pairs_file`, or built on-policy, then encoded
for either backend, split into training and held-out pairs, and kept in the run dir.

On-policy (`preference.pairs_file: null`): each prompt is sampled `num_samples` times from the
stage's starting model and scored by the configured rewards (`rewards.score_all`, whose "correct"
is scoring's); chosen = the best sample, rejected = the worst; a prompt whose samples all score the
same gives no pair (nothing to prefer). The pairs are written once to `preference_pairs.jsonl`
(a pairs file like any other: `tunix-nb validate-data --kind pairs` reads it), so a resumed or
continued run trains on the same pairs instead of sampling new ones.

DPO's reference is the stage's starting model: its log-probs of every training pair are computed
once, before the first step, and kept in `preference_reference.jsonl`; no second model is held
while training, and a resume reads them back instead of asking the (by then trained) policy.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

from . import evidence, inputs, rewards
from .config import PreferenceConfig
from .data import GrpoPrompt, PairRecord
from .prompts import END_OF_TURN, encode_prompt

FILE = "preference_pairs.jsonl"
REFERENCE_FILE = "preference_reference.jsonl"


@dataclass(frozen=True)
class EncodedPair:
    """A pair as token ids: the prompt (one <bos>, chat-formatted) and each completion (ending in
    <end_of_turn>); `ref_*`: the reference model's summed log-probs of each (DPO)."""
    id: str
    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]
    ref_chosen: float | None = None
    ref_rejected: float | None = None

    @property
    def tokens(self) -> int:
        """Real tokens one training step reads for this pair (the prompt twice: once per completion)."""
        return 2 * len(self.prompt_ids) + len(self.chosen_ids) + len(self.rejected_ids)


def best_and_worst(prompt: GrpoPrompt, texts: Sequence[str], scores: Sequence[float]) -> PairRecord | None:
    """The pair one prompt's samples give: the best-scored text chosen, the worst rejected (the first
    of equals, so the pick is deterministic); None when every sample scores the same or the two texts
    are equal (a preference needs two different completions, one better)."""
    best = max(range(len(scores)), key=lambda i: (scores[i], -i))
    worst = min(range(len(scores)), key=lambda i: (scores[i], i))
    if scores[best] == scores[worst] or texts[best].strip() == texts[worst].strip():
        return None
    return PairRecord(id=prompt.id, prompt=prompt.question, chosen=texts[best].strip(), rejected=texts[worst].strip(),
                      difficulty=prompt.difficulty)


def on_policy(prompts: Sequence[GrpoPrompt], samples: Sequence[Sequence[str]], p: PreferenceConfig,
              count: Callable[[str], int], extra: dict | None = None) -> tuple[list[PairRecord], dict]:
    """Pairs from each prompt's samples scored by `p.rewards` (`extra`: model rewards by name, the
    judge: every sample is scored in one call, so the judge fills its batches); returns (pairs, the
    manifest's counts: prompts, pairs, ties dropped, mean best / worst reward)."""
    owner = [i for i, texts in enumerate(samples) for _ in texts]
    texts = [t for group in samples for t in group]
    totals = rewards.score_all([prompts[i].prompt for i in owner], texts, p.rewards,
                               answer=[prompts[i].answer for i in owner], max_tokens=p.max_new_tokens,
                               soft_tokens=max(1, p.max_new_tokens // 6),  # a sixth, as GRPO's default 128 of 768
                               count=count, extra=extra)["total"]
    pairs, best, worst = [], [], []
    for i, prompt in enumerate(prompts):
        scores = [total for total, j in zip(totals, owner) if j == i]
        pair = best_and_worst(prompt, samples[i], scores)
        if pair is not None:
            pairs.append(pair)
            best.append(max(scores))
            worst.append(min(scores))
    stats = {"source": "on-policy", "prompts": len(prompts), "samples_per_prompt": p.num_samples, "pairs": len(pairs),
             "ties_dropped": len(prompts) - len(pairs),
             "reward_chosen_mean": round(sum(best) / len(best), 6) if best else None,
             "reward_rejected_mean": round(sum(worst) / len(worst), 6) if worst else None}
    return pairs, stats


def encode(pairs: Sequence[PairRecord], tokenizer, p: PreferenceConfig) -> tuple[list[EncodedPair], int]:
    """(encoded pairs, how many were skipped): a pairs file's pair whose prompt is over `max_prompt_len`
    tokens or a completion over `max_new_tokens` (before its <end_of_turn>) is skipped and counted,
    never cut (a cut completion would be preferred or rejected for its missing end). On-policy pairs
    were sampled within those limits and are all kept (their decoded text can re-tokenize a little
    longer: a model's odd byte tokens come back as several)."""
    out, skipped = [], 0
    bounded = p.pairs_file is not None
    for pair in pairs:
        prompt = encode_prompt(tokenizer, pair.prompt)
        chosen, rejected = completion_ids(tokenizer, pair.chosen), completion_ids(tokenizer, pair.rejected)
        if bounded and (len(prompt) > p.max_prompt_len or max(len(chosen), len(rejected)) - 1 > p.max_new_tokens):
            skipped += 1
            continue
        out.append(EncodedPair(pair.id, prompt, chosen, rejected))
    return out, skipped


def completion_ids(tokenizer, text: str) -> list[int]:
    """A completion's tokens as the model writes them: the text, then <end_of_turn> (once)."""
    text = text.rstrip()
    if not text.endswith(END_OF_TURN):
        text += END_OF_TURN
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def split(pairs: Sequence[EncodedPair], held_out: int, seed: int) -> tuple[list[EncodedPair], list[EncodedPair]]:
    """(training pairs, held-out pairs): `held_out` of them picked by the seed, at most half, so
    there is always something to train on; both keep the pairs' order."""
    k = min(held_out, len(pairs) // 2)
    held = set(random.Random(seed).sample(range(len(pairs)), k))
    return [x for i, x in enumerate(pairs) if i not in held], [x for i, x in enumerate(pairs) if i in held]


def margin(logps) -> float | None:
    """Mean chosen - rejected summed log-prob over pairs ((n, 2) rows); None without pairs."""
    rows = [tuple(map(float, r)) for r in logps]
    return round(sum(c - r for c, r in rows) / len(rows), 6) if rows else None


def on_policy_plan(p: PreferenceConfig, run: evidence.Run, prompts: Sequence[GrpoPrompt],
                   sample: Callable[[Sequence[GrpoPrompt]], list[list[str]]], count: Callable[[str], int],
                   extra: dict | None = None) -> list[PairRecord]:
    """The on-policy stage's pairs: the ones an earlier process of this run wrote, else sampled now
    and written to the run dir, with their counts in the manifest."""
    path = run.dir / FILE
    if path.is_file():
        return inputs.load_records(path, "pairs")
    pairs, stats = on_policy(prompts, sample(prompts), p, count, extra)
    if pairs:  # none: the stage is refused, and a rerun samples the same again
        evidence.write_jsonl_atomic(path, [asdict(x) for x in pairs])
    run.update(preference={**(run.manifest.get("preference") or {}), **stats})
    return pairs


def with_reference(pairs: list[EncodedPair], run: evidence.Run,
                   logps: Callable[[Sequence[EncodedPair]], Sequence]) -> list[EncodedPair]:
    """DPO's reference log-probs on each pair: computed once with the stage's starting model and kept
    in the run dir; read back on resume (the policy has trained since)."""
    path = run.dir / REFERENCE_FILE
    if path.is_file():
        known = {r["id"]: (r["chosen"], r["rejected"]) for r in evidence.read_jsonl(path)}
    else:
        known = {x.id: tuple(map(float, row)) for x, row in zip(pairs, logps(pairs))}
        evidence.write_jsonl_atomic(path, [{"id": i, "chosen": c, "rejected": r} for i, (c, r) in known.items()])
    return [replace(x, ref_chosen=known[x.id][0], ref_rejected=known[x.id][1]) for x in pairs]
