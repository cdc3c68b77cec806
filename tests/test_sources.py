"""Every source form, read for real through HF datasets (files written by `datasets` itself)."""

import json

import datasets
import pytest

from tunix_nb.errors import UserError
from tunix_nb.schema import EVAL_FIELDS, TRAIN_FIELDS
from tunix_nb.sources import Source, read_table, source_kind

THEIRS = [{"Problem": "What is 2 + 3?", "Steps": "2 + 3 = 5.", "Final": 5, "Topic": "sums"},
          {"Problem": "What is 7 - 4?", "Steps": "7 - 4 = 3.", "Final": 3, "Topic": "differences"}]
MAP = {"question": "Problem", "reasoning": "Steps", "answer": "Final"}


def write_all(tmp_path) -> dict:
    """The same two rows as CSV, JSON, Parquet and a save_to_disk DatasetDict (train + test)."""
    ds = datasets.Dataset.from_list(THEIRS)
    paths = {"csv": tmp_path / "d.csv", "json": tmp_path / "d.json", "parquet": tmp_path / "d.parquet",
             "save_to_disk": tmp_path / "saved"}
    ds.to_csv(str(paths["csv"]), index=False)
    paths["json"].write_text(json.dumps(THEIRS))  # a JSON array, as people write them by hand
    ds.to_parquet(str(paths["parquet"]))
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(str(paths["save_to_disk"]))
    return paths


@pytest.mark.parametrize("kind", ["csv", "json", "parquet", "save_to_disk"])
def test_every_format_reads_with_columns_mapped(tmp_path, kind):
    path = write_all(tmp_path)[kind]
    assert source_kind(str(path)) == kind
    table = read_table(Source(str(path), columns=MAP), "train", TRAIN_FIELDS)
    assert [row for _, row in table.rows] == [
        {"question": "What is 2 + 3?", "reasoning": "2 + 3 = 5.", "answer": "5"},   # numbers become text
        {"question": "What is 7 - 4?", "reasoning": "7 - 4 = 3.", "answer": "3"}]
    assert table.ignored_columns == ("Topic",) and table.problems == [] and len(table.sha256) == 64
    first = {"csv": f"{path}:2", "save_to_disk": f"{path}[train]:1"}.get(kind, f"{path}:1")  # a CSV's header is row 1
    assert table.rows[0][0] == first


def test_a_dataset_dict_folder_takes_the_split_asked_for(tmp_path):
    path = write_all(tmp_path)["save_to_disk"]
    table = read_table(Source(str(path), split="test", columns={"prompt": "Problem", "expected_answer": "Final"}),
                       "eval", EVAL_FIELDS)
    assert table.where == f"{path}[test]" and [r for _, r in table.rows] == [{"prompt": "What is 2 + 3?",
                                                                            "expected_answer": "5"}]
    assert len(read_table(Source(str(path)), "eval", EVAL_FIELDS).rows) == 1  # eval's default split: test
    with pytest.raises(UserError, match=r"data\.split: no split 'dev'; it has train, test"):
        read_table(Source(str(path), split="dev"), "train", TRAIN_FIELDS)


def test_a_kaggle_style_folder_reads_the_files_naming_the_split(tmp_path):
    folder = tmp_path / "kaggle" / "input" / "gsm8k" / "main"
    folder.mkdir(parents=True)
    (folder / "train-00000-of-00001.jsonl").write_text(json.dumps({"question": "q1?", "answer": "a #### 1"}) + "\n")
    (folder / "test-00000-of-00001.jsonl").write_text(json.dumps({"question": "q2?", "answer": "b #### 2"}) + "\n")
    root = folder.parent
    assert source_kind(str(root)) == "folder"
    assert [r["question"] for _, r in read_table(Source(str(root)), "train", TRAIN_FIELDS).rows] == ["q1?"]
    assert [r["question"] for _, r in read_table(Source(str(root)), "eval", EVAL_FIELDS).rows] == ["q2?"]
    with pytest.raises(UserError, match="no one set of data files names the split 'dev'"):
        read_table(Source(str(root), split="dev"), "train", TRAIN_FIELDS)


def test_jsonl_lines_that_are_not_rows_are_problems_with_their_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"question": "q"}\n\n{"id": \n' + b'{"q": "caf\xe9"}\n[1, 2]\n')
    table = read_table(Source(str(p)), "train", TRAIN_FIELDS)
    assert [where for where, _ in table.rows] == [f"{p}:1"]
    assert [t.split(": ", 2)[0] for t in table.problems] == [f"{p}:3", f"{p}:4", f"{p}:5"]
    assert "invalid JSON" in table.problems[0] and "not UTF-8" in table.problems[1]
    assert "expected a JSON object" in table.problems[2]


@pytest.mark.parametrize("setup, message", [
    (lambda t: (t / "d.csv", {"question": "Nope"}),
     r"d\.csv: data\.columns\.question: column 'Nope' is not in the data \(its columns: Problem, Steps, Final, Topic\)"),
    (lambda t: ((t / "e.csv").write_text("") and None or t / "e.csv", {}), r"e\.csv: -: no records"),
    (lambda t: ((t / "fake.parquet").write_text("a,b\n1,2\n") and None or t / "fake.parquet", {}),
     r"fake\.parquet: cannot be read as PARQUET \(ArrowInvalid: .*\); is it another format\?"),
    (lambda t: (t / "none.csv", {}), r"none\.csv: file not found \(data\.train_file\)"),
    (lambda t: ((t / "d.txt").write_text("x") and None or t / "d.txt", {}), r"unknown data format '\.txt'"),
])
def test_bad_sources_are_one_line_naming_the_file(tmp_path, setup, message):
    write_all(tmp_path)
    path, columns = setup(tmp_path)
    try:
        table = read_table(Source(str(path), columns=columns), "train", TRAIN_FIELDS)
    except UserError as e:
        assert len(str(e).splitlines()) == 1
        assert __import__("re").search(message, str(e)), str(e)
    else:
        assert any(__import__("re").search(message, p) for p in table.problems), table.problems


def test_an_hf_id_without_network_is_one_line(monkeypatch, tmp_path):
    # No network reaches the Hub here; offline mode fails the same way without 23 s of retries.
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("TUNIX_NB_CACHE", str(tmp_path))
    assert source_kind("hf:openai/gsm8k") == "hf"
    with pytest.raises(UserError) as e:
        read_table(Source("hf:openai/gsm8k", subset="main"), "train", TRAIN_FIELDS)
    text = str(e.value)
    assert text.startswith("hf:openai/gsm8k: cannot be read from the HF Hub (") and len(text.splitlines()) == 1
    assert "Dataset.save_to_disk" in text
