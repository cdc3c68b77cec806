"""A run's data end to end: sources of every form train real (tiny) runs; mixes; contamination."""

import json
import os
import re
from pathlib import Path

import datasets
import pytest

from conftest import GRPO_SMOKE, ROOT, SMOKE, run_cli
from tunix_nb import inputs, pipeline
from tunix_nb.config import load_config
from tunix_nb.errors import UserError

# GSM8K's public train split, beside the checkout (never shipped, never read by the package itself).
GSM8K = Path(os.environ.get("TUNIX_NB_GSM8K", ROOT.parent / "shared" / "data" / "gsm8k" / "train.jsonl"))
EVAL = [{"id": f"e{i}", "prompt": q, "expected_answer": a, "section": "core", "category": "arithmetic",
         "difficulty": "easy"} for i, (q, a) in enumerate([
             ("A baker makes 24 rolls every morning and sells them in bags of 6. How many bags does the baker fill?", "4"),
             ("Tom has 3 red pens and 4 blue pens. How many pens does he have?", "7")])]


def jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def train_rows(prefix: str, n: int) -> list[dict]:
    return [{"id": f"{prefix}{i}", "question": f"{prefix} question number {i}: what is {i} + 1?",
             "reasoning": f"{i} + 1 = {i + 1}.", "answer": str(i + 1)} for i in range(n)]


def cfg_with(tmp_path, *overrides, preset=SMOKE):
    return load_config(preset, [f"data.eval_file={jsonl(tmp_path / 'eval.jsonl', EVAL)}", f"output.root={tmp_path / 'runs'}",
                                *overrides])


def test_a_mix_draws_rows_by_weight_the_same_for_the_same_seed(tmp_path):
    a, b = jsonl(tmp_path / "a.jsonl", train_rows("a", 60)), jsonl(tmp_path / "b.jsonl", train_rows("b", 40))
    mix = f"data.mix=[{{file: {a}, weight: 0.75}}, {{file: {b}, weight: 0.25}}]"
    load = lambda seed: inputs.load_run_data(cfg_with(tmp_path, "data.train_file=null", mix, "data.train_limit=41",
                                                      f"training.seed={seed}"))
    first, again, other = load(1), load(1), load(2)
    ids = [r.id for r in first.train]
    assert len(ids) == 41 and abs(sum(i.startswith("a") for i in ids) - 0.75 * 41) <= 1
    assert abs(sum(i.startswith("b") for i in ids) - 0.25 * 41) <= 1
    assert ids == [r.id for r in again.train] and ids != [r.id for r in other.train]
    src_a, src_b = first.datasets["train"]["sources"]
    assert (src_a["rows_read"], src_a["rows_used"], src_a["rows_dropped"]) == (60, 31, {"not drawn by the mix": 29})
    assert (src_b["rows_read"], src_b["rows_used"], src_b["weight"]) == (40, 10, 0.25)
    assert len(src_a["sha256"]) == 64 and first.datasets["train"]["kind"] == "mix"


def test_row_ranges_hold_out_the_end_of_one_file(tmp_path):
    """data.rows / data.eval_rows / a mix entry's rows: one file split into training rows and held-out
    eval items, in the file's order (Python's slices), the rows' ids keeping their places."""
    rows = train_rows("g", 10)
    both = jsonl(tmp_path / "g.jsonl", rows)
    cfg = cfg_with(tmp_path, f"data.train_file={both}", "data.rows=:-3", f"data.eval_file={both}", "data.eval_rows=-3:",
                   "data.eval_columns={id: id, prompt: question, expected_answer: answer}")
    loaded = inputs.load_run_data(cfg)
    assert [r.id for r in loaded.train] == [f"g{i}" for i in range(7)]
    assert [r.id for r in loaded.eval] == ["g7", "g8", "g9"] and loaded.eval[0].expected_answer == "8"
    info = loaded.datasets["train"]
    assert (info["rows"], info["rows_in_source"], info["rows_read"], info["rows_used"]) == (":-3", 10, 7, 7)
    mix = f"data.mix=[{{file: {both}, rows: '2:5'}}]"
    assert sorted(r.id for r in inputs.load_run_data(cfg_with(tmp_path, "data.train_file=null", mix)).train) == ["g2", "g3", "g4"]
    for bad, setting in (("data.rows=1-3", "data.rows"), ("data.eval_rows=last", "data.eval_rows"),
                         ("data.mix=[{file: x.jsonl, rows: '1:a'}]", "data.mix[0].rows")):
        with pytest.raises(UserError, match=rf"{re.escape(setting)}: .* is not a row range; write START:STOP"):
            cfg_with(tmp_path, "data.train_file=null" if "mix" in bad else "data.rows=null", bad)


def test_contamination_drops_a_duplicate_and_a_13_gram_near_duplicate_or_refuses(tmp_path):
    planted = train_rows("t", 5) + [
        {"id": "dup", "question": EVAL[1]["prompt"].upper(), "reasoning": "3 + 4 = 7.", "answer": "7"},
        {"id": "near", "question": "Each day a baker makes 24 rolls every morning and sells them in bags of 6. "
                                   "How many rolls are left?", "reasoning": "None.", "answer": "0"}]
    train = jsonl(tmp_path / "t.jsonl", planted)
    loaded = inputs.load_run_data(cfg_with(tmp_path, f"data.train_file={train}"))
    info = loaded.datasets["train"]
    assert [r.id for r in loaded.train] == [f"t{i}" for i in range(5)]
    assert info["rows_dropped"] == {"overlaps an eval item": 2} and info["rows_used"] == 5
    assert [(c["train_id"], c["eval_id"], c["how"].split(" ")[0]) for c in info["contamination"]] == [
        ("dup", "e1", "same"), ("near", "e0", "13-gram")]
    res = run_cli("run", "--config", str(SMOKE), "--set", f"data.train_file={train}", "--set",
                  f"data.eval_file={tmp_path / 'eval.jsonl'}", "--set", "data.contamination=error",
                  "--set", f"output.root={tmp_path / 'err'}")
    assert res.returncode == 2 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "training row 'dup' overlaps eval item 'e1' (same text) (and 1 more)" in res.stderr
    assert not (tmp_path / "err").exists()


def test_rows_without_reasoning_are_grpo_prompts_but_not_sft_data(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "reasoning"} for r in train_rows("p", 4)]
    prompts = jsonl(tmp_path / "p.jsonl", rows)
    with pytest.raises(UserError, match=rf"{prompts}:1: reasoning: missing .*GRPO prompts"):
        inputs.load_run_data(cfg_with(tmp_path, f"data.train_file={prompts}"))
    only_grpo = inputs.load_run_data(cfg_with(tmp_path, f"data.train_file={prompts}", "training.max_steps=0",
                                              preset=GRPO_SMOKE))
    assert [(p.id, p.answer) for p in only_grpo.prompts] == [("p0", "1"), ("p1", "2"), ("p2", "3"), ("p3", "4")]


THEIRS = [{"Problem": f"Sam has {i} apples and finds {i + 2} more. How many apples now?",
           "Work": f"{i} + {i + 2} = {2 * i + 2}.", "Final": 2 * i + 2} for i in range(24)]
MAPPED = "data.columns={question: Problem, reasoning: Work, answer: Final}"


def format_sources(tmp_path) -> dict[str, Path]:
    ds = datasets.Dataset.from_list(THEIRS)
    out = {"csv": tmp_path / "own.csv", "json": tmp_path / "own.json", "parquet": tmp_path / "own.parquet",
           "save_to_disk": tmp_path / "own_saved"}
    ds.to_csv(str(out["csv"]), index=False)
    out["json"].write_text(json.dumps(THEIRS, indent=1))
    ds.to_parquet(str(out["parquet"]))
    datasets.DatasetDict({"train": ds}).save_to_disk(str(out["save_to_disk"]))
    return out


def test_every_format_with_its_own_columns_trains_a_tiny_run_and_gsm8k_rows_too(tmp_path, cache_dir):
    fast = ["training.epochs=null", "training.max_steps=2", "training.warmup_steps=0", "eval.limit=2",
            "eval.max_new_tokens=8"]
    runs = {kind: (path, [MAPPED]) for kind, path in format_sources(tmp_path).items()}
    if GSM8K.is_file():  # the raw rows as GSM8K ships them: question, answer with <<notes>> and "#### N"
        runs["gsm8k"] = (jsonl(tmp_path / "gsm8k200.jsonl",
                               [json.loads(line) for line in GSM8K.read_text().splitlines()[:200]]), [])
    for kind, (path, extra) in runs.items():
        cfg = cfg_with(tmp_path, f"data.train_file={path}", f"output.run_id={kind}", *fast, *extra)
        run = pipeline.run(cfg)
        manifest = json.loads((run.dir / "run_manifest.json").read_text())
        train = manifest["datasets"]["train"]
        assert manifest["status"] == "complete" and train["kind"] == ("jsonl" if kind == "gsm8k" else kind), kind
        assert train["rows_read"] == len(THEIRS) if kind != "gsm8k" else train["rows_read"] == 200
        assert train["ignored_columns"] == [] and train["defaults"]["section"] == train["rows_used"], kind
        losses = [json.loads(line)["loss"] for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
        assert len(losses) == 2 and all(loss > 0 for loss in losses), kind


@pytest.mark.skipif(not GSM8K.is_file(), reason=f"GSM8K's train split is not at {GSM8K}")
def test_the_first_200_raw_gsm8k_rows_validate(tmp_path):
    sample = tmp_path / "gsm8k200.jsonl"
    sample.write_text("".join(GSM8K.read_text().splitlines(keepends=True)[:200]))
    res = run_cli("validate-data", str(sample), "--kind", "train")
    assert res.returncode == 0 and f"{sample}: 200 train records, all valid" in res.stdout, res.stderr
    first = inputs.load_records(sample, "train")[0]
    assert first.reasoning.startswith("Natalia sold 48 / 2 = 24 clips in May.") and first.answer == "72"


def test_cli_validate_data_maps_columns_and_lists_bad_rows(tmp_path):
    csv = format_sources(tmp_path)["csv"]
    res = run_cli("validate-data", str(csv), "--kind", "train", "--columns", "question=Problem,reasoning=Work,answer=Final")
    assert res.returncode == 0 and f"{csv}: 24 train records, all valid" in res.stdout, res.stderr
    csv.write_text(csv.read_text().replace(THEIRS[1]["Work"], "", 1))  # row 3 (after the header) loses its work
    res = run_cli("validate-data", str(csv), "--kind", "train", "--columns", "question=Problem,reasoning=Work,answer=Final")
    assert res.returncode == 2 and res.stderr.splitlines()[0].startswith(f"{csv}:3: reasoning: missing")


def test_gsm8k_shaped_eval_rows_under_other_names_map_and_convert(tmp_path):
    p = jsonl(tmp_path / "g.jsonl", [{"Q": "Ann has 3 pens and buys 4. How many?", "A": "3+4 = <<3+4=7>>7\n#### 7"}])
    (e,) = inputs.load(inputs.Source(str(p), columns={"question": "Q", "answer": "A"}), "eval").records
    assert (e.prompt, e.expected_answer, e.category) == ("Ann has 3 pens and buys 4. How many?", "7", "gsm8k")
