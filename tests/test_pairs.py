"""The preference stage's pairs, on literals: chosen = best, rejected = worst, ties dropped, scored by
the same rewards GRPO uses; encoding with one <end_of_turn>, over-long pairs skipped; the held-out
split; the pairs file kind (validated like every dataset, columns mapped)."""

import json
from dataclasses import asdict

import pytest

from conftest import run_cli
from tunix_nb import pairs, rewards
from tunix_nb.config import PreferenceConfig
from tunix_nb.data import GrpoPrompt, PairRecord, records_from_rows
from tunix_nb.inputs import load_records

GOOD = "<reasoning>2 + 3 = 5</reasoning>\n<answer>5</answer>"
WRONG = "<reasoning>2 + 3 = 6</reasoning>\n<answer>6</answer>"
NO_FORMAT = "five, probably"


def prompt(i: int, answer: str = "5") -> GrpoPrompt:
    return GrpoPrompt(id=f"p{i}", prompt=f"<start_of_turn>user\nq{i}<end_of_turn>\n<start_of_turn>model\n",
                      answer=answer, prompt_tokens=9, question=f"What is 2 + 3? ({i})", difficulty="easy")


def test_best_and_worst_picks_the_extremes_and_drops_ties():
    pair = pairs.best_and_worst(prompt(0), ["b", "a", "c", "d"], [0.5, 1.0, -1.0, 1.0])
    assert (pair.chosen, pair.rejected) == ("a", "c")  # the first of two equal bests
    assert (pair.id, pair.prompt, pair.difficulty) == ("p0", "What is 2 + 3? (0)", "easy")
    assert pairs.best_and_worst(prompt(0), ["a", "b", "c"], [0.3, 0.3, 0.3]) is None  # nothing to prefer
    assert pairs.best_and_worst(prompt(0), ["same ", "same"], [1.0, 0.0]) is None  # one text, two scores


def test_on_policy_pairs_prefer_what_the_rewards_prefer():
    p = PreferenceConfig(max_new_tokens=64)
    samples = [[WRONG, GOOD, NO_FORMAT, GOOD], [GOOD, GOOD, GOOD, GOOD], [NO_FORMAT, WRONG, NO_FORMAT, WRONG]]
    found, stats = pairs.on_policy([prompt(0), prompt(1), prompt(2)], samples, p, count=len)
    assert [(x.id, x.chosen, x.rejected) for x in found] == [("p0", GOOD, NO_FORMAT), ("p2", WRONG, NO_FORMAT)]
    assert stats["pairs"] == 2 and stats["ties_dropped"] == 1 and stats["prompts"] == 3
    for x in found:  # every pair's chosen reward above its rejected one, by the configured rewards
        scored = rewards.score_all(["q"] * 2, [x.chosen, x.rejected], p.rewards, answer=["5", "5"],
                                   max_tokens=64, soft_tokens=10, count=len)["total"]
        assert scored[0] > scored[1]
    assert stats["reward_chosen_mean"] > stats["reward_rejected_mean"]


def test_the_judge_ranks_on_policy_samples_when_weighed():
    p = PreferenceConfig(max_new_tokens=64, rewards={"judge": 1.0})
    by_length = lambda prompts, completions, **columns: [len(c) / 100 for c in completions]  # noqa: E731
    found, stats = pairs.on_policy([prompt(0)], [[NO_FORMAT, "far longer than five", "ok"]], p, count=len,
                                   extra={"judge": by_length})
    assert (found[0].chosen, found[0].rejected) == ("far longer than five", "ok")  # alike but for the judge


def test_encode_ends_each_completion_once_and_skips_what_is_too_long(tiny_tokenizer):
    end = tiny_tokenizer.convert_tokens_to_ids("<end_of_turn>")
    records = [PairRecord("a", "What is 2 + 3?", GOOD, WRONG + "<end_of_turn>"),
               PairRecord("b", "What is 2 + 3?", GOOD, "x " * 200)]
    encoded, skipped = pairs.encode(records, tiny_tokenizer, PreferenceConfig(max_new_tokens=64, pairs_file="f.jsonl"))
    assert skipped == 1 and [e.id for e in encoded] == ["a"]
    assert pairs.encode(records, tiny_tokenizer, PreferenceConfig(max_new_tokens=64))[1] == 0  # on-policy: all kept
    e = encoded[0]
    assert e.chosen_ids[-1] == end and e.rejected_ids[-1] == end and e.rejected_ids.count(end) == 1
    assert e.prompt_ids[0] == tiny_tokenizer.bos_token_id and e.prompt_ids.count(tiny_tokenizer.bos_token_id) == 1
    assert e.tokens == 2 * len(e.prompt_ids) + len(e.chosen_ids) + len(e.rejected_ids)


def test_split_is_seeded_disjoint_and_keeps_half_for_training():
    items = [pairs.EncodedPair(str(i), [2], [3], [4]) for i in range(10)]
    train, held = pairs.split(items, 3, seed=7)
    assert len(held) == 3 and len(train) == 7 and not {x.id for x in train} & {x.id for x in held}
    assert pairs.split(items, 3, seed=7) == (train, held)
    assert len(pairs.split(items, 50, seed=7)[1]) == 5  # at most half held out
    assert pairs.margin([(-3.0, -5.0), (-1.0, -2.0)]) == 1.5 and pairs.margin([]) is None


def test_pairs_rows_are_validated_like_every_dataset():
    rows = [("f.jsonl:1", {"prompt": "q", "chosen": "a", "rejected": "b", "difficulty": "hard"}),
            ("f.jsonl:2", {"prompt": "q", "chosen": "a"}),
            ("f.jsonl:3", {"prompt": "q", "chosen": "a", "rejected": " a "}),
            ("f.jsonl:4", {"prompt": "q", "chosen": "a", "rejected": "b", "score": "1"})]
    records, problems, _ = records_from_rows(rows, "pairs")
    assert records == [PairRecord("f-1", "q", "a", "b", difficulty="hard")]
    assert problems[0] == "f.jsonl:2: rejected: missing (required: prompt, chosen, rejected)"
    assert problems[1] == "f.jsonl:3: rejected: the same text as chosen; a pair needs two different completions"
    assert problems[2].startswith("f.jsonl:4: score: unexpected field")


def test_validate_data_reads_a_pairs_file_with_mapped_columns(tmp_path):
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps({"question": f"q{i}", "good": GOOD, "bad": WRONG}) + "\n" for i in range(3)))
    res = run_cli("validate-data", str(path), "--kind", "pairs", "--columns", "prompt=question,chosen=good,rejected=bad")
    assert res.returncode == 0, res.stderr
    assert "3 pairs records, all valid" in res.stdout
    bare = tmp_path / "ours.jsonl"
    pairs.evidence.write_jsonl_atomic(bare, [asdict(PairRecord("x", "q", GOOD, WRONG))])
    assert load_records(bare, "pairs") == [PairRecord("x", "q", GOOD, WRONG)]


@pytest.mark.parametrize("setting, fragment", [
    ({"algorithm": "kto"}, "preference.algorithm: 'kto' is not one of"),
    ({"num_samples": 1}, "preference.num_samples: must be >= 2"),
    ({"rewards": {"vibes": 1.0}}, "preference.rewards.vibes: unknown reward"),
    ({"columns": {"question": "q"}}, "preference.columns.question: is not one of our fields"),
    ({"rewards": {"judge": 1.0}}, "preference.rewards.judge: weighs the judge, but there is no judge model"),
    ({"algorithm": "orpo", "beta": 0.5}, "preference.beta: ORPO has no β .got 0.5.; its preference term is weighed by preference.lambda_orpo"),
])
def test_preference_settings_are_checked(setting, fragment):
    from tunix_nb.config import config_from_dict
    from tunix_nb.errors import UserError

    with pytest.raises(UserError, match=fragment.replace("(", r"\(")):
        config_from_dict({"training": {"max_steps": 1, "max_batch_tokens": 4096}, "preference": setting})
    assert PreferenceConfig(algorithm="dpo").beta_used == 0.1 and PreferenceConfig().beta_used == 2.0
    # what each loss reads, as its log line and the manifest show it
    assert PreferenceConfig(algorithm="orpo").describe() == "orpo, lambda_orpo 0.1, label_smoothing 0.0"
    assert PreferenceConfig(algorithm="simpo", beta=2.5).hyperparameters == {"beta": 2.5, "gamma": 1.0, "label_smoothing": 0.0}
    assert PreferenceConfig(algorithm="dpo").hyperparameters == {"beta": 0.1, "label_smoothing": 0.0}
