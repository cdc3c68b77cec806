import pytest

from tunix_nb import data
from tunix_nb.prompts import IGNORE_INDEX, Encoded

GOOD_TRAIN = {"id": "t1", "question": "What is 2 + 3?", "reasoning": "2 + 3 = 5.", "answer": "5",
              "section": "core", "category": "arithmetic", "difficulty": "easy"}
GOOD_EVAL = {"id": "e1", "prompt": "What is 4 + 4?", "expected_answer": "8", "section": "core",
             "category": "arithmetic", "difficulty": "easy"}


def write_lines(path, lines):
    path.write_bytes(b"".join((l if isinstance(l, bytes) else l.encode()) + b"\n" for l in lines))
    return path


def rows(*dicts, file="f.jsonl"):
    return [(f"{file}:{i}", d) for i, d in enumerate(dicts, start=1)]


def test_rows_become_records_with_stated_defaults():
    recs, problems, defaults = data.records_from_rows(rows(GOOD_TRAIN, {"question": "q", "reasoning": "r", "answer": "1"}),
                                                      "train")
    assert problems == [] and [r.id for r in recs] == ["t1", "f-2"]
    assert (recs[1].section, recs[1].category, recs[1].difficulty) == ("core", "unknown", "unknown")
    assert defaults == {"section": 1, "category": 1, "difficulty": 1}
    (e,), problems, defaults = data.records_from_rows(rows({"prompt": "p?", "expected_answer": "8"}), "eval")
    assert problems == [] and (e.id, e.section, e.category, e.difficulty) == ("f-1", "core", "unknown", "unknown")


def test_gsm8k_rows_are_converted_for_every_kind():
    row = {"question": "Natalia sold 48 clips in April and half as many in May. How many in total?",
           "answer": "In May she sold 48/2 = <<48/2=24>>24 clips.\nIn total 48+24 = <<48+24=72>>72.\n#### 1,072"}
    (t,), problems, _ = data.records_from_rows(rows(row, file="gsm.csv"), "train")
    assert problems == [] and t.answer == "1072" and t.id == "gsm-1" and t.category == "gsm8k"
    assert t.reasoning == "In May she sold 48 / 2 = 24 clips.\nIn total 48 + 24 = 72."
    (e,), _, _ = data.records_from_rows(rows(row), "eval")
    assert (e.prompt, e.expected_answer, e.section, e.category) == (row["question"], "1072", "core", "gsm8k")
    _, problems, _ = data.records_from_rows(rows({"question": "q?", "answer": "steps #### "}), "eval")
    assert problems == ["f.jsonl:1: answer: nothing after '####'; GSM8K answers end in '#### <number>'"]


@pytest.mark.parametrize("text, steps", [
    ("Natalia sold 48/2 = <<48/2=24>>24 clips in May.", "Natalia sold 48 / 2 = 24 clips in May."),
    ("Weng earns 12/60 = $<<12/60=0.2>>0.2 per minute.", "Weng earns 12 / 60 = $0.2 per minute."),
    ("she earned 0.2 x 50 = $<<0.2*50=10>>10.", "she earned 0.2 × 50 = $10."),
    ("Betty needs 100 - 50 - 30 - 15 = $<<100-50-30-15=5>>5 more.", "Betty needs 100 - 50 - 30 - 15 = $5 more."),
    ("She has <<5+3=8>>8 apples.", "She has 5 + 3 = 8 apples."),          # the note was the only step
    ("It costs 4*3 = <<4*3=12>> dollars.", "It costs 4 × 3 = 12 dollars."),  # the result was left out
    ("So 1,000 - 200 = <<1000-200=800>>800 left.", "So 1000 - 200 = 800 left."),
    ("box 48/2 = <<48/2=24>>24", "box 48 / 2 = 24"),                      # an x ending a word is no operator
    ("No notes here.", "No notes here."),
])
def test_gsm8k_calculator_notes_become_plain_steps(text, steps):
    assert data.gsm8k_steps(text) == steps


def test_every_bad_row_is_reported_with_its_place_and_field():
    no_reasoning = {k: v for k, v in GOOD_TRAIN.items() if k != "reasoning"} | {"id": "t5"}
    recs, problems, _ = data.records_from_rows(rows(
        GOOD_TRAIN,                                   # 1 ok
        {"id": "t2", "question": "q", "reasoning": "r"},  # 2 no answer
        {**GOOD_TRAIN, "id": "t3", "answer": ""},     # 3 empty answer
        {**GOOD_TRAIN, "id": "t4", "answer": 5},      # 4 mistyped
        no_reasoning,                                 # 5 no reasoning: not for SFT
        {**GOOD_TRAIN, "id": "t6", "extra": "x"},     # 6 extra field
        GOOD_TRAIN,                                   # 7 duplicate id
    ), "train")
    assert [r.id for r in recs] == ["t1"]
    expect = [
        (2, "answer: missing (required: question, reasoning, answer)"), (3, "answer: is empty"),
        (4, "answer: expected a string, got 5"), (5, "reasoning: missing"),
        (6, "extra: unexpected field; valid fields: id, question"), (7, "id: duplicate id 't1' (first at f.jsonl:1)"),
    ]
    assert len(problems) == len(expect)
    for problem, (line, text) in zip(problems, expect):
        assert problem.startswith(f"f.jsonl:{line}: "), problem
        assert text in problem, problem
    (p,), problems, _ = data.records_from_rows(rows(no_reasoning), "prompts")  # a GRPO prompt needs no reasoning
    assert problems == [] and (p.question, p.answer, p.reasoning) == ("What is 2 + 3?", "5", "")


# --- tokens and batches on literal inputs --------------------------------------------------

def test_collate_right_pads_and_masks():
    batch = [Encoded([2, 5, 6], [IGNORE_INDEX, 5, 6]), Encoded([2, 7], [IGNORE_INDEX, 7])]
    out = data.collate(batch, pad_id=0)
    assert out == {"input_ids": [[2, 5, 6], [2, 7, 0]], "attention_mask": [[1, 1, 1], [1, 1, 0]],
                   "labels": [[IGNORE_INDEX, 5, 6], [IGNORE_INDEX, 7, IGNORE_INDEX]]}


LENGTHS = [10, 200, 35, 180, 90, 15, 60, 120, 75, 33, 150, 12] * 5


@pytest.mark.parametrize("budget, rows", [(400, None), (1000, 4), (None, 3)])
def test_epoch_batches_cover_every_sample_once_within_budget(budget, rows):
    batches = data.epoch_batches(LENGTHS, seed=1, epoch=0, max_batch_tokens=budget, micro_batch_size=rows)
    assert sorted(i for b in batches for i in b) == list(range(len(LENGTHS)))
    for b in batches:
        if budget:
            assert len(b) * max(LENGTHS[i] for i in b) <= budget
        if rows:
            assert len(b) <= rows


def test_bucketing_wastes_little_padding():
    batches = data.epoch_batches(LENGTHS, seed=1, epoch=0, max_batch_tokens=600, micro_batch_size=None)
    padded = sum(len(b) * max(LENGTHS[i] for i in b) for b in batches)
    assert sum(LENGTHS) / padded > 0.85  # batch-size-1 has no padding but no batching either


def test_batches_are_deterministic_per_seed_and_differ_across_seeds_and_epochs():
    kw = dict(max_batch_tokens=400, micro_batch_size=None)
    a = data.epoch_batches(LENGTHS, seed=3, epoch=0, **kw)
    assert a == data.epoch_batches(LENGTHS, seed=3, epoch=0, **kw)
    assert a != data.epoch_batches(LENGTHS, seed=4, epoch=0, **kw)
    assert a != data.epoch_batches(LENGTHS, seed=3, epoch=1, **kw)


def test_plan_steps_by_epochs_and_by_max_steps():
    kw = dict(seed=0, max_batch_tokens=400, micro_batch_size=None)
    one = data.epoch_batches(LENGTHS, epoch=0, **kw)
    steps = data.plan_steps(LENGTHS, grad_accum=2, epochs=1.0, **kw)
    assert [mb for s in steps for mb in s] == one
    assert len(steps) == -(-len(one) // 2)
    half = data.plan_steps(LENGTHS, grad_accum=1, epochs=0.5, **kw)
    assert len(half) == round(len(one) / 2)
    fixed = data.plan_steps(LENGTHS, grad_accum=3, max_steps=25, **kw)
    assert len(fixed) == 25 and all(len(s) == 3 for s in fixed)  # runs past one epoch
    with pytest.raises(ValueError):
        data.plan_steps(LENGTHS, grad_accum=1, epochs=1.0, max_steps=3, **kw)


def test_spread_subset_is_evenly_spaced_and_stable():
    items = list(range(100))
    assert data.spread_subset(items, 4) == [0, 25, 50, 75]
    assert data.spread_subset(items, None) == items and data.spread_subset(items, 500) == items
    sections = ["core"] * 60 + ["trace_sensitive"] * 20 + ["edge_case"] * 20  # the eval file's layout
    picked = data.spread_subset(sections, 10)
    assert picked.count("core") == 6 and picked.count("trace_sensitive") == 2 and picked.count("edge_case") == 2


# --- packing (training.packing) on literal inputs ------------------------------------------

def test_collate_packed_restarts_positions_and_never_crosses_a_sample():
    batch = [Encoded([2, 5, 6], [IGNORE_INDEX, 5, 6]), Encoded([2, 7, 8, 9], [IGNORE_INDEX, IGNORE_INDEX, 8, 9])]
    out = data.collate_packed(batch)
    assert out == {"input_ids": [[2, 5, 6, 2, 7, 8, 9]], "position_ids": [[0, 1, 2, 0, 1, 2, 3]],
                   "labels": [[IGNORE_INDEX, 5, 6, IGNORE_INDEX, IGNORE_INDEX, 8, 9]]}
    # Even a sample whose first label is a target (never the case for our prompts) is not
    # predicted from the previous sample's last token.
    out = data.collate_packed([Encoded([3, 4], [3, 4]), Encoded([5, 6], [5, 6])])
    assert out["labels"] == [[IGNORE_INDEX, 4, IGNORE_INDEX, 6]]


@pytest.mark.parametrize("budget", [200, 333, 1000])
def test_epoch_packs_hold_every_sample_once_within_budget(budget):
    rows = data.epoch_packs(LENGTHS, seed=1, epoch=0, max_batch_tokens=budget)
    assert sorted(i for r in rows for i in r) == list(range(len(LENGTHS)))
    assert all(sum(LENGTHS[i] for i in r) <= budget for r in rows)
    # First-fit-decreasing leaves rows nearly full: few more rows than the token count needs.
    assert len(rows) <= -(-sum(LENGTHS) // budget) + 2


def test_epoch_packs_on_literal_lengths():
    # 6 + 4 and 5 + 5 fill two rows of 10 exactly; 7 + 3 a third; 9 and 1 share the last.
    lengths = [6, 4, 5, 5, 7, 3, 9, 1]
    rows = data.epoch_packs(lengths, seed=0, epoch=0, max_batch_tokens=10)
    assert sorted(sorted(lengths[i] for i in r) for r in rows) == [[1, 9], [3, 7], [4, 6], [5, 5]]
    with pytest.raises(ValueError, match="exceeds max_batch_tokens"):
        data.epoch_packs([4, 12], seed=0, epoch=0, max_batch_tokens=10)


def test_packs_are_deterministic_per_seed_and_differ_across_seeds_and_epochs():
    kw = dict(max_batch_tokens=400)
    a = data.epoch_packs(LENGTHS, seed=3, epoch=0, **kw)
    assert a == data.epoch_packs(LENGTHS, seed=3, epoch=0, **kw)
    assert a != data.epoch_packs(LENGTHS, seed=4, epoch=0, **kw)
    assert a != data.epoch_packs(LENGTHS, seed=3, epoch=1, **kw)


def test_plan_steps_with_packing():
    kw = dict(seed=0, max_batch_tokens=400, micro_batch_size=None, packing=True)
    one = data.epoch_packs(LENGTHS, seed=0, epoch=0, max_batch_tokens=400)
    steps = data.plan_steps(LENGTHS, grad_accum=2, epochs=1.0, **kw)
    assert [mb for s in steps for mb in s] == one  # each micro-batch is one packed row
    fixed = data.plan_steps(LENGTHS, grad_accum=1, max_steps=40, **kw)
    assert len(fixed) == 40 and fixed == data.plan_steps(LENGTHS, grad_accum=1, max_steps=40, **kw)
    # Packing needs fewer micro-batches than padded buckets for the same token budget.
    padded = data.plan_steps(LENGTHS, grad_accum=1, epochs=1.0, **{**kw, "packing": False})
    assert len(one) < len(padded)
