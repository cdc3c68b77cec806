"""A run's data, before any model work: every source read (`sources`), its rows made records
(`data`), the training sources mixed by weight (`mixing`) and checked against the eval items
(`contamination`). What each source gave, kept and dropped goes to the manifest's `datasets`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

from . import contamination, data, mixing
from .config import Config, rows_slice
from .errors import UserError
from .schema import EVAL_MAPPABLE, PAIR_FIELDS, TRAIN_FIELDS
from .sources import Source, read_table


@dataclass
class Loaded:
    """One source's records and the manifest entry describing it."""
    records: list
    info: dict
    problems: list[str] = field(default_factory=list)


def read(src: Source, kind: str) -> Loaded:
    """A source's records (`kind`: train / prompts / eval / pairs), and every bad row as a problem line."""
    wanted = {"eval": EVAL_MAPPABLE, "pairs": PAIR_FIELDS}.get(kind, TRAIN_FIELDS)
    table = read_table(src, "eval" if kind == "eval" else "train", wanted)
    rows = table.rows[rows_slice(src.rows)]  # their ids keep the rows' places in the source
    records, problems, defaults = data.records_from_rows(rows, kind)
    problems = table.problems + problems
    if not records and not problems:
        problems = [f"{table.where}: -: no records"]
    info = {"path": table.where, "kind": table.kind, "sha256": table.sha256, "rows_read": len(rows),
            "rows_used": len(records), "rows_dropped": {}, "defaults": dict(defaults),
            "columns": dict(src.columns), "ignored_columns": list(table.ignored_columns)}
    if src.rows is not None:
        info.update(rows=src.rows, rows_in_source=len(table.rows))
    if table.kind == "hf":  # what was asked of the Hub; sha256 is then a hash of the rows read
        info.update(subset=src.subset, revision=src.revision)
    return Loaded(records, info, problems)


def load(src: Source, kind: str) -> Loaded:
    """`read`, refusing the source at its first bad row (and saying how many more there are)."""
    loaded = read(src, kind)
    if loaded.problems:
        more = len(loaded.problems) - 1
        hint = (f" (and {more} more; list them with `tunix-nb validate-data {src.file} --kind {kind}`)"
                if more else "")
        raise UserError(loaded.problems[0] + hint)
    return loaded


@dataclass
class RunData:
    train: list  # TrainRecords for SFT (reasoning present when SFT runs)
    eval: list  # every eval item (eval.limit picks from these later)
    prompts: list  # TrainRecords whose questions and answers are GRPO's prompts (empty without GRPO)
    datasets: dict  # the manifest's `datasets`: train, eval (and grpo_prompts, preference_pairs) entries
    pairs: list = field(default_factory=list)  # PairRecords of preference.pairs_file (empty: none, or on-policy)
    pair_prompts: list = field(default_factory=list)  # TrainRecords an on-policy preference stage samples


def load_eval(cfg: Config) -> Loaded:
    """The eval items data.eval_file names (data.eval_split, data.eval_columns)."""
    d = cfg.data
    return load(Source(d.eval_file, d.eval_split, d.subset, d.revision, d.eval_columns, "data.eval_file", d.eval_rows), "eval")


def load_run_data(cfg: Config) -> RunData:
    d = cfg.data
    ev = load_eval(cfg)
    kind = "train" if cfg.training.max_steps != 0 else "prompts"  # no SFT: rows need no reasoning
    if d.mix is None:
        parts = [load(Source(d.train_file, d.split, d.subset, d.revision, d.columns, "data.train_file", d.rows), kind)]
    else:
        parts = [load(Source(m.file, m.split, m.subset, m.revision, m.columns, f"data.mix[{i}].file", m.rows), kind)
                 for i, m in enumerate(d.mix)]
    for part in parts:
        _decontaminate(part, ev.records, d.contamination)
    train, train_info = _combine(cfg, parts)
    datasets = {"train": train_info, "eval": ev.info}
    prompts = []
    if cfg.grpo is not None:
        if cfg.grpo.prompt_file is None:
            prompts = train
        else:
            src = load(Source(cfg.grpo.prompt_file, d.split, d.subset, d.revision, d.columns, "grpo.prompt_file"),
                       "prompts")
            _decontaminate(src, ev.records, d.contamination)
            prompts, datasets["grpo_prompts"] = src.records, src.info
        prompts = prompts[: cfg.grpo.prompt_limit]
    pairs, pair_prompts = [], []
    p = cfg.preference
    if p is not None and p.pairs_file is not None:
        src = load(Source(p.pairs_file, d.split, d.subset, d.revision, p.columns, "preference.pairs_file"), "pairs")
        pairs, datasets["preference_pairs"] = src.records, src.info
    elif p is not None:  # on-policy: the GRPO prompts, else the training rows
        pair_prompts = (prompts if cfg.grpo is not None and cfg.grpo.prompt_file is not None else train)[: p.prompt_limit]
    return RunData(train=train, eval=ev.records, prompts=prompts, datasets=datasets, pairs=pairs,
                   pair_prompts=pair_prompts)


def _decontaminate(part: Loaded, eval_records: list, mode: str) -> None:
    overlaps = contamination.find_overlaps(((r.id, r.question) for r in part.records),
                                           ((e.id, e.prompt) for e in eval_records))
    if overlaps and mode == "error":
        o = overlaps[0]
        raise UserError(f"{part.info['path']}: training row {o.train_id!r} overlaps eval item {o.eval_id!r} "
                        f"({o.how}){f' (and {len(overlaps) - 1} more)' if len(overlaps) > 1 else ''}; remove it "
                        "from the training data, or set data.contamination: drop")
    if not overlaps:
        return
    dropped = {o.train_id for o in overlaps}
    part.records = [r for r in part.records if r.id not in dropped]
    part.info["rows_used"] = len(part.records)
    part.info["rows_dropped"]["overlaps an eval item"] = len(dropped)
    part.info["contamination"] = [{"train_id": o.train_id, "eval_id": o.eval_id, "how": o.how} for o in overlaps[:50]]


def _combine(cfg: Config, parts: list[Loaded]) -> tuple[list, dict]:
    """One source: its first data.train_limit records. A mix: data.train_limit rows (or as many as
    the sources hold), drawn by weight."""
    limit = cfg.data.train_limit
    if cfg.data.mix is None:
        part = parts[0]
        if limit is not None and limit < len(part.records):
            part.info["rows_dropped"]["beyond data.train_limit"] = len(part.records) - limit
            part.records = part.records[:limit]
            part.info["rows_used"] = limit
        return part.records, part.info
    seen: dict[str, int] = {}
    for i, part in enumerate(parts):
        if not part.records:
            raise UserError(f"data.mix[{i}]: {part.info['path']}: no rows left (every row overlaps the eval set)")
        for r in part.records:
            if seen.setdefault(r.id, i) != i:
                raise UserError(f"data.mix[{i}]: {part.info['path']}: id {r.id!r} is also in data.mix[{seen[r.id]}]; "
                                "ids must be unique across the mix (rename them, or drop the id column to number rows)")
    sizes = [len(p.records) for p in parts]
    total = limit if limit is not None else sum(sizes)
    picked = mixing.draw(sizes, [m.weight for m in cfg.data.mix], total, cfg.training.seed)
    for i, part in enumerate(parts):
        drawn = Counter(row for source, row in picked if source == i)
        part.info.update(weight=cfg.data.mix[i].weight, rows_drawn=sum(drawn.values()), rows_used=len(drawn))
        if len(drawn) < len(part.records):
            part.info["rows_dropped"]["not drawn by the mix"] = len(part.records) - len(drawn)
    info = {"path": "data.mix", "kind": "mix", "rows_used": total, "seed": cfg.training.seed,
            "sha256": hashlib.sha256(" ".join(p.info["sha256"] for p in parts).encode()).hexdigest(), "sources": [p.info for p in parts]}
    return [parts[source].records[row] for source, row in picked], info


def load_records(path, kind: str) -> list:
    """The records of one local file or folder (our column names), refused at the first bad row."""
    return load(Source(str(path)), kind).records
