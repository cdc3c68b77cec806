"""Reading a dataset from wherever it lives, into rows with our column names.

A source is what `data.train_file`, `data.eval_file`, `grpo.prompt_file` or a `data.mix` entry
names:
  FILE.jsonl                our strict line reader (errors name the line; a bad line never
                            hides in a whole-file parse error)
  FILE.json / .csv / .parquet   HF `datasets`' builders
  FOLDER                    `Dataset.save_to_disk` / `DatasetDict.save_to_disk` output (then a
                            split), or any folder of the data files above, e.g. a Kaggle dataset
                            under /kaggle/input/<name> (files whose path names the split, if several)
  hf:OWNER/NAME             the HF Hub, read only when a run names one (subset, split, revision)

Every row carries where it came from as `FILE:ROW` for error messages: the line for JSONL and
CSV (the header is row 1, as a spreadsheet shows it), the 1-based record number otherwise.
`columns` ({ours: theirs}) renames a source's columns onto ours; with a mapping, columns it does
not name are left out (and listed), without one the rows go on as they are.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .cache import cache_root
from .config import resolve_path
from .errors import UserError

HF_PREFIX = "hf:"
BUILDERS = {".json": "json", ".csv": "csv", ".parquet": "parquet"}  # HF datasets' builder per suffix
DATA_SUFFIXES = (".jsonl", *BUILDERS)
DEFAULT_SPLIT = {"train": "train", "eval": "test"}  # when a source has splits and none is named


@dataclass(frozen=True)
class Source:
    """One dataset as a config names it."""
    file: str
    split: str | None = None
    subset: str | None = None
    revision: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)  # ours -> theirs
    setting: str = "data.train_file"  # the config field errors name
    rows: str | None = None  # "START:STOP", a range of the rows in the source's order


@dataclass(frozen=True)
class Table:
    """A source's rows, renamed onto our columns."""
    where: str  # the path or hf id (with its split) that errors and the manifest name
    kind: str  # jsonl | json | csv | parquet | save_to_disk | folder | hf
    rows: list[tuple[str, dict]]  # ("FILE:ROW", row)
    problems: list[str]  # lines the reader could not turn into rows ("FILE:LINE: -: invalid JSON ...")
    sha256: str
    ignored_columns: tuple[str, ...] = ()


def source_kind(spec: str) -> str:
    """What kind of source `spec` names, without reading it (an HF id is not looked up)."""
    if spec.startswith(HF_PREFIX):
        return "hf"
    path = resolve_path(spec)
    if path.is_dir():
        return "save_to_disk" if _is_saved_dataset(path) else "folder"
    if path.suffix in DATA_SUFFIXES:
        return path.suffix[1:]
    raise UserError(f"{spec}: unknown data format {path.suffix or '(no suffix)'!r}; use .jsonl, .json, .csv, "
                    f".parquet, a save_to_disk folder, a folder of such files, or hf:OWNER/NAME")


def read_table(src: Source, kind: str, wanted: tuple[str, ...]) -> Table:
    """All rows of `src` (a `kind` = train / eval source), columns mapped onto ours (`wanted`)."""
    spec = src.file
    if not spec.startswith(HF_PREFIX) and not resolve_path(spec).exists():
        raise UserError(f"{spec}: file not found ({src.setting}); give a path, relative to the project root "
                        "or absolute, or hf:OWNER/NAME")
    what = source_kind(spec)
    if what == "hf":
        where, parts = _read_hf(src, kind)
    elif what == "save_to_disk":
        where, parts = _read_saved(resolve_path(spec), src, kind)
    elif what == "folder":
        where, parts = str(resolve_path(spec)), [_read_file(p) for p in _folder_files(resolve_path(spec), src, kind)]
    else:
        where, parts = str(resolve_path(spec)), [_read_file(resolve_path(spec))]
    rows = [r for part in parts for r in part[0]]
    problems = [p for part in parts for p in part[1]]
    columns = list(dict.fromkeys(k for part in parts for k in part[2]))
    sha = hashlib.sha256("".join(part[3] for part in parts).encode()).hexdigest() if len(parts) > 1 else parts[0][3]
    mapped, ignored = map_columns(rows, columns, src, where, wanted)
    return Table(where=where, kind=what, rows=mapped, problems=problems, sha256=sha, ignored_columns=ignored)


def map_columns(rows: list[tuple[str, dict]], columns: list[str], src: Source, where: str,
                wanted: tuple[str, ...]) -> tuple[list[tuple[str, dict]], tuple[str, ...]]:
    """Rename `src.columns` (ours -> theirs) onto ours; only `wanted` fields of ours are mapped."""
    mapping = {ours: theirs for ours, theirs in src.columns.items() if ours in wanted}
    if not src.columns:
        return rows, ()
    for ours, theirs in mapping.items():
        if theirs not in columns:
            raise UserError(f"{where}: {_columns_setting(src)}.{ours}: column {theirs!r} is not in the data "
                            f"(its columns: {', '.join(columns) or 'none'}); fix the mapping")
    named = set(mapping.values())
    keep = [c for c in columns if c in wanted and c not in mapping and c not in named]  # already ours
    ignored = tuple(c for c in columns if c not in named and c not in keep)
    out = []
    for loc, row in rows:
        new = {ours: row[theirs] for ours, theirs in mapping.items() if theirs in row}
        new.update({c: row[c] for c in keep if c in row})
        out.append((loc, new))
    return out, ignored


def _columns_setting(src: Source) -> str:
    """data.columns (data.eval_columns for the eval file), data.mix[i].columns, or the CLI's --columns."""
    if src.setting == "data.eval_file":
        return "data.eval_columns"
    return src.setting.rsplit(".", 1)[0] + ".columns" if "." in src.setting else "--columns"


# --- readers --------------------------------------------------------------------------------

_Part = tuple  # (rows, problems, columns, sha256)


def _read_file(path: Path) -> _Part:
    if path.suffix == ".jsonl":
        return _read_jsonl(path)
    raw = path.read_bytes()
    if not raw.strip():
        return [], [f"{path}: -: no records (the file is empty)"], [], _sha(raw)
    ds = _builder(BUILDERS[path.suffix], path)
    first = 2 if path.suffix == ".csv" else 1  # a CSV's header is its row 1
    rows = [(f"{path}:{i + first}", _plain_row(r)) for i, r in enumerate(ds)]
    return rows, [], list(ds.column_names), _sha(raw)


def _read_jsonl(path: Path) -> _Part:
    raw = path.read_bytes()
    rows, problems, columns = [], [], {}
    for lineno, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line.decode("utf-8"))
        except UnicodeDecodeError as e:
            problems.append(f"{where}: -: not UTF-8 (byte {e.start + 1}); re-save the file as UTF-8")
            continue
        except json.JSONDecodeError as e:
            problems.append(f"{where}: -: invalid JSON ({e.msg} at column {e.colno})")
            continue
        if not isinstance(row, dict):
            problems.append(f"{where}: -: expected a JSON object, got {type(row).__name__}")
            continue
        columns.update(dict.fromkeys(row))
        rows.append((where, row))
    if not rows and not problems:
        problems.append(f"{path}: -: no records (the file is empty)")
    return rows, problems, list(columns), _sha(raw)


def _builder(name: str, path: Path):
    datasets = _datasets()
    try:
        with _quiet():
            return datasets.load_dataset(name, data_files=str(path), split="train",
                                         cache_dir=str(cache_root() / "hf_datasets"))
    except Exception as e:  # noqa: BLE001 (pyarrow/datasets raise many types; the user gets one line)
        cause = _root_cause(e)
        raise UserError(f"{path}: cannot be read as {path.suffix[1:].upper()} ({cause}); is it another format? "
                        "Name the file by what it holds (.jsonl, .json, .csv, .parquet)") from None


def _read_saved(path: Path, src: Source, kind: str) -> tuple[str, list[_Part]]:
    datasets = _datasets()
    try:
        with _quiet():
            loaded = datasets.load_from_disk(str(path))
    except Exception as e:  # noqa: BLE001
        raise UserError(f"{path}: not a readable save_to_disk folder ({_root_cause(e)})") from None
    split = None
    if isinstance(loaded, datasets.DatasetDict):
        split = _pick_split(list(loaded), src, kind, str(path))
        loaded = loaded[split]
    where = f"{path}[{split}]" if split else str(path)
    return where, [_dataset_part(loaded, where, _sha(_folder_digest(path).encode()))]


def _read_hf(src: Source, kind: str) -> tuple[str, list[_Part]]:
    name = src.file[len(HF_PREFIX):]
    datasets = _datasets()
    try:
        with _quiet():
            loaded = datasets.load_dataset(name, src.subset, revision=src.revision,
                                           cache_dir=str(cache_root() / "hf_datasets"))
    except Exception as e:  # noqa: BLE001 (offline, unknown id, gated, missing subset: one line each)
        raise UserError(f"{src.file}: cannot be read from the HF Hub ({_root_cause(e)}); check the id and "
                        f"data.subset, or, without network, save it elsewhere (Dataset.save_to_disk) or attach "
                        f"it on Kaggle and give that folder as {src.setting}") from None
    split = _pick_split(list(loaded), src, kind, src.file)
    where = f"{src.file}[{split}]"
    ds = loaded[split]
    return where, [_dataset_part(ds, where, None)]


def _dataset_part(ds, where: str, sha: str | None) -> _Part:
    rows = [(f"{where}:{i + 1}", _plain_row(r)) for i, r in enumerate(ds)]
    if sha is None:  # the Hub: a hash of the rows themselves
        sha = _sha("".join(json.dumps(r, sort_keys=True, default=str) + "\n" for _, r in rows).encode())
    problems = [] if rows else [f"{where}: -: no records (the split is empty)"]
    return rows, problems, list(ds.column_names), sha


def _pick_split(splits: list[str], src: Source, kind: str, where: str) -> str:
    setting = _split_setting(src, kind)
    if src.split is not None:
        if src.split not in splits:
            raise UserError(f"{where}: {setting}: no split {src.split!r}; it has {', '.join(splits)}")
        return src.split
    if len(splits) == 1:
        return splits[0]
    if DEFAULT_SPLIT[kind] in splits:
        return DEFAULT_SPLIT[kind]
    raise UserError(f"{where}: has splits {', '.join(splits)}; choose one with {setting}")


def _split_setting(src: Source, kind: str) -> str:
    if "." not in src.setting:
        return "--split"
    prefix = src.setting.rsplit(".", 1)[0]
    return f"{prefix}.split" if kind == "train" or prefix != "data" else "data.eval_split"


def _folder_files(folder: Path, src: Source, kind: str) -> list[Path]:
    """The data files of a plain folder (a Kaggle dataset): its only file, else the files whose path
    names the split (data.split, or train / test by default: `train.jsonl`, `main/train-0000.parquet`)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES)
    if not files:
        raise UserError(f"{folder}: holds no data files ({', '.join(DATA_SUFFIXES)}); give a file or another folder")
    if len(files) == 1 and src.split is None:
        return files
    split = src.split or DEFAULT_SPLIT[kind]
    named = [p for p in files if any(part == split or part.startswith((f"{split}-", f"{split}_"))
                                     for part in p.relative_to(folder).with_suffix("").parts)]
    if not named or len({p.suffix for p in named}) > 1:
        listed = ", ".join(p.relative_to(folder).as_posix() for p in files[:6])
        raise UserError(f"{folder}: no one set of data files names the split {split!r} (files: {listed}); give "
                        f"the file itself as {src.setting}, or name the split with {_split_setting(src, kind)}")
    return named


def _plain_row(row: dict) -> dict:
    """Cells as our records hold them: text. CSV and Parquet type their columns (an answer column of
    whole numbers reads as int64), so numbers become their text; an empty cell (None) is missing."""
    out = {}
    for k, v in row.items():
        if v is None:
            continue
        if isinstance(v, float) and v.is_integer():
            v = str(int(v))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            v = str(v)
        out[k] = v
    return out


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def _folder_digest(path: Path) -> str:
    return "".join(f"{p.relative_to(path).as_posix()} {_sha(p.read_bytes())}\n"
                   for p in sorted(path.rglob("*")) if p.is_file())


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _root_cause(e: BaseException) -> str:
    while e.__cause__ is not None or (e.__context__ is not None and not e.__suppress_context__):
        e = e.__cause__ or e.__context__
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}"[:240]


def _datasets():
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


@contextlib.contextmanager
def _quiet():
    """HF's retries and builder notes go to logging and stderr; a user sees our one line instead."""
    hub = logging.getLogger("huggingface_hub")
    level = hub.level
    hub.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        hub.setLevel(level)
