"""The data section's config (`data:`, its `mix:` entries) and the column / row-range checks
the preference section shares."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Literal

from .config_io import require
from .schema import EVAL_MAPPABLE, TRAIN_FIELDS


def check_columns(columns: dict[str, str], setting: str, fields: tuple[str, ...] = TRAIN_FIELDS) -> None:
    for ours in columns:
        require(ours in fields, f"{setting}.{ours}",
                f"is not one of our fields ({', '.join(fields)}); map ours to theirs, e.g. "
                f"{{{fields[1]}: Problem}}")


_ROWS_RE = re.compile(r"^(-?\d+)?:(-?\d+)?$")


def rows_slice(spec: str | None) -> slice:
    """A row range "START:STOP" as Python slices it (negative counts from the end, either side may
    be empty): ":-200" is all but the last 200 rows, "-200:" the last 200."""
    if spec is None:
        return slice(None)
    m = _ROWS_RE.match(spec.replace(" ", ""))
    return slice(*(int(g) if g else None for g in m.groups()))


def check_rows(spec: str | None, setting: str) -> None:
    require(spec is None or bool(_ROWS_RE.match(spec.replace(" ", ""))), setting,
            f"{spec!r} is not a row range; write START:STOP as Python slices a list, e.g. \":-200\" "
            "(all but the last 200 rows) or \"-200:\" (the last 200)")


@dataclass(frozen=True, kw_only=True)
class MixSource:
    """One training source of `data.mix`."""
    # A path (.jsonl/.json/.csv/.parquet, a save_to_disk folder, a folder of data files) or hf:OWNER/NAME.
    file: str
    # Its share of the mixed rows (weights need not sum to 1; they are normalised).
    weight: float = 1.0
    # DatasetDict folder / HF id: the split (null: train, or the only one); HF id: subset and revision.
    split: str | None = None
    subset: str | None = None
    revision: str | None = None
    # ours: theirs, as data.columns.
    columns: dict[str, str] = dataclasses.field(default_factory=dict)
    # Only these rows of the source, in its order, as data.rows.
    rows: str | None = None

    def __post_init__(self) -> None:
        # Field names relative to the entry: the loader puts "data.mix[i]." in front.
        require(self.weight > 0, "weight", f"must be > 0 (got {self.weight})")
        check_columns(self.columns, "columns")
        check_rows(self.rows, "rows")


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    # Training rows: a path (.jsonl, .json, .csv, .parquet, a save_to_disk folder or a folder of
    # such files, e.g. a Kaggle dataset under /kaggle/input/...) or hf:OWNER/NAME (read from the Hub
    # only when a run names it). Schemas in ARCHITECTURE.md; GSM8K-style rows are recognised in
    # every format. null with data.mix (the mix names every training source).
    train_file: str | None = "training/data/dev-reasoning-v2.jsonl"
    # Eval items, any of the same forms.
    eval_file: str = "training/data/eval_v2.jsonl"
    # A save_to_disk DatasetDict or an HF id: the split of train_file (null: "train", or the only
    # one) and of eval_file (null: "test", or the only one).
    split: str | None = None
    eval_split: str | None = None
    # Only a range of the source's rows, in its order, "START:STOP" as Python slices a list: e.g. one
    # file split into training rows (rows ":-200") and held-out eval items (eval_rows "-200:").
    rows: str | None = None
    eval_rows: str | None = None
    # An HF id: its subset (config name, e.g. "main" for openai/gsm8k) and revision (commit or tag).
    subset: str | None = None
    revision: str | None = None
    # The training source's column names mapped onto ours, ours: theirs, e.g. {question: Problem,
    # reasoning: Steps, answer: Final} (also id, section, category, difficulty: missing ones default to
    # section core, category / difficulty unknown, counted in the manifest). With a mapping, columns
    # it does not name are left out. Also used for grpo.prompt_file.
    columns: dict[str, str] = dataclasses.field(default_factory=dict)
    # The eval source's, onto prompt, expected_answer, id, section, category, difficulty (or GSM8K's
    # question and answer), e.g. {prompt: Problem, expected_answer: Final}.
    eval_columns: dict[str, str] = dataclasses.field(default_factory=dict)
    # Several training sources drawn by weight (seeded by training.seed), e.g.
    # [{file: hf:openai/gsm8k, subset: main, weight: 0.7}, {file: training/data/dev-reasoning-v2.jsonl, weight: 0.3}].
    mix: tuple[MixSource, ...] | None = None
    # Training rows that repeat an eval item (same normalised text, or a shared 13-word run) are
    # dropped and counted in the manifest (drop), or refuse the run naming both ids (error).
    contamination: Literal["drop", "error"] = "drop"
    # Prompt + completion tokens; longer training samples are skipped (and counted), never cut,
    # because a truncated trace would teach the model to stop without an answer.
    max_seq_len: int = 512
    # Use only the first N training records (None: all); with data.mix, the number of mixed rows
    # (None: as many as all the sources hold).
    train_limit: int | None = None

    def __post_init__(self) -> None:
        require(self.max_seq_len >= 16, "data.max_seq_len", f"must be >= 16 (got {self.max_seq_len})")
        require(self.train_limit is None or self.train_limit >= 1, "data.train_limit",
                f"must be >= 1 or null (got {self.train_limit})")
        check_columns(self.columns, "data.columns")
        check_columns(self.eval_columns, "data.eval_columns", EVAL_MAPPABLE)
        check_rows(self.rows, "data.rows")
        check_rows(self.eval_rows, "data.eval_rows")
        if self.mix is not None:
            require(len(self.mix) > 0, "data.mix", "is empty; list sources, or set it to null")
            require(self.train_file is None, "data.train_file",
                    "must be null with data.mix (the mix names every training source); set data.train_file=null")
        else:
            require(self.train_file is not None, "data.train_file", "is null; name a training source or set data.mix")
