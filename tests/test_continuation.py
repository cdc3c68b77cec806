"""Continuing an earlier session's run dir, on literals and real files (no model): which config
fields may change between sessions, which checkpoint of each stage is carried over, what is copied
into the new run dir, and that the earlier dir is only read. (Whole runs continued on both backends:
test_resume, test_tunix_sft, test_tunix_grpo; refusals through the CLI: test_bad_inputs.)"""

import json

import pytest

from conftest import SMOKE, listing, make_read_only
from tunix_nb import continuation
from tunix_nb.config import load_config
from tunix_nb.errors import UserError

BASE = ["training.epochs=null", "training.max_steps=8", "training.warmup_steps=2", "grpo.max_steps=4"]
CFG = load_config(SMOKE, BASE)
STAGES = ["sft", "grpo"]
DATASETS = {"train": {"path": "/a/train.jsonl", "sha256": "t1", "rows_used": 8},
            "eval": {"path": "/a/eval.jsonl", "sha256": "e1"}}


def as_json(cfg):
    return json.loads(json.dumps(cfg.to_dict()))


def torch_checkpoint(root, step, whole=True):
    d = root / f"step-{step:06d}"
    d.mkdir(parents=True)
    (d / "adapter_model.safetensors").write_bytes(bytes([step]) * 16)
    if whole:
        (d / "trainer_state.pt").write_bytes(b"state %d" % step)


@pytest.fixture()
def earlier(tmp_path):
    """A run dir killed in GRPO: SFT done (checkpoints 4, 8), GRPO checkpoints 2 (whole) and 4 (torn),
    rows up to GRPO step 3."""
    run = tmp_path / "session1"
    for step in (4, 8):
        torch_checkpoint(run / "checkpoints" / "sft", step)
    torch_checkpoint(run / "checkpoints", 2)
    torch_checkpoint(run / "checkpoints", 4, whole=False)
    rows = [{"stage": "sft", "step": n, "loss": 1.0 / n} for n in range(1, 9)]
    rows += [{"stage": "grpo", "step": n, "reward_mean": n / 10} for n in range(1, 4)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifest = {"run_id": "session1", "status": "running", "config": as_json(CFG), "datasets": DATASETS}
    (run / "run_manifest.json").write_text(json.dumps(manifest))
    return run


def find(run, cfg=CFG, datasets=DATASETS):
    return continuation.find(run, cfg, datasets, stages=STAGES, at_most=lambda metrics: {"sft": None, "grpo": None})


def test_the_session_may_change_where_runs_go_how_they_are_scored_and_its_budget():
    other = load_config(SMOKE, [*BASE, "output.root=/kaggle/working/runs", "output.run_id=s2", "eval.limit=3",
                                "data.train_file=/kaggle/input/d/train.jsonl"])
    assert continuation._recipe_difference(as_json(CFG), as_json(other)) is None
    budgets = ({"training": {"time_budget_minutes": m, "seed": 1}} for m in (480, 30))  # the Tunix backend's
    assert continuation._recipe_difference(*budgets) is None


@pytest.mark.parametrize("override, field", [
    ("training.learning_rate=0.5", "training.learning_rate"), ("grpo.beta=0.5", "grpo.beta"),
    ("training.lora.rank=4", "training.lora"), ("model.source=/elsewhere", "model.source"),
    ("training.seed=7", "training.seed"), ("data.mix=[{file: a.csv}, {file: b.csv}]", "data.mix")])
def test_any_other_field_is_the_recipe_and_is_named(override, field):
    overrides = [*BASE, override]
    if override.startswith("data.mix"):
        overrides.append("data.train_file=null")
    assert continuation._recipe_difference(as_json(CFG), as_json(load_config(SMOKE, overrides)))[0] == field


def test_datasets_are_compared_by_content_not_by_path(earlier):
    moved = {role: {**info, "path": "/kaggle/input/x/" + role} for role, info in DATASETS.items()}
    assert find(earlier, datasets=moved).steps == {"sft": 8, "grpo": 2}
    with pytest.raises(UserError, match="the train data differs"):
        find(earlier, datasets={**DATASETS, "train": {**DATASETS["train"], "rows_used": 7}})


def test_each_stage_carries_its_newest_whole_checkpoint_within_the_logged_rows(earlier):
    assert find(earlier).steps == {"sft": 8, "grpo": 2}  # GRPO's 4 is torn
    limited = continuation.find(earlier, CFG, DATASETS, stages=STAGES, at_most=lambda m: {"sft": 6, "grpo": 1})
    assert limited.steps == {"sft": 4, "grpo": 0}  # none newer than the stage's last logged row


def test_no_whole_checkpoint_is_refused(tmp_path, earlier):
    for folder in ("checkpoints/sft/step-000004", "checkpoints/sft/step-000008", "checkpoints/step-000002"):
        (earlier / folder / "trainer_state.pt").unlink()
    with pytest.raises(UserError, match="no whole checkpoint to continue from"):
        find(earlier)
    with pytest.raises(UserError, match="not a run dir"):
        find(tmp_path / "nothing")


def test_carry_over_copies_the_carried_checkpoints_and_rows_and_only_reads_the_source(tmp_path, earlier):
    c = find(earlier)
    before = make_read_only(earlier)
    new = tmp_path / "session2"
    new.mkdir()
    record = continuation.carry_over(c, new, STAGES)
    assert listing(earlier) == before
    assert record == {"run_id": "session1", "path": str(earlier), "stage": "grpo", "step": 2,
                      "steps": {"sft": 8, "grpo": 2}}
    assert sorted(str(p.relative_to(new)) for p in new.rglob("*") if p.is_file()) == [
        "checkpoints/sft/step-000008/adapter_model.safetensors", "checkpoints/sft/step-000008/trainer_state.pt",
        "checkpoints/step-000002/adapter_model.safetensors", "checkpoints/step-000002/trainer_state.pt",
        "metrics.jsonl"]
    assert (new / "checkpoints/step-000002/trainer_state.pt").read_bytes() == b"state 2"
    assert (new / "checkpoints/step-000002").stat().st_mode & 0o200  # writable: the new run may replace it
    rows = [json.loads(line) for line in (new / "metrics.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["step"]) for r in rows] == [("sft", n) for n in range(1, 9)] + [("grpo", 1), ("grpo", 2)]


def test_carry_over_again_after_a_kill_mid_copy_gives_the_same_dir(tmp_path, earlier):
    c = find(earlier)
    new = tmp_path / "session2"
    (new / ".tmp-continue" / "sft").mkdir(parents=True)  # a copy cut short
    (new / ".tmp-continue" / "sft" / "half").write_bytes(b"x")
    continuation.carry_over(c, new, STAGES)
    first = listing(new)
    continuation.carry_over(c, new, STAGES)
    assert listing(new) == first and not (new / ".tmp-continue").exists()
