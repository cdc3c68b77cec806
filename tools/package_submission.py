"""Package a finished run as a validated, checksummed, deterministic zip (standard library only).

    python tools/package_submission.py --run-dir submission_runs/ID                  # -> dist/submission-ID.zip
    python tools/package_submission.py --run-dir submission_runs/ID --out my.zip --include-checkpoint
    python tools/package_submission.py --verify dist/submission-ID.zip
    python tools/package_submission.py --run-dir submission_runs/NEW --baseline submission_runs/OLD [--max-drop 0.02]

The zip holds the code that made the run (notebooks, configs, the `tunix_nb` package, tools, the
datasets, README/requirements/pyproject), the run's evidence under `submission_runs/<ID>/`
(everything but `checkpoints/`; `--include-checkpoint` adds the last one) and, last, `SHA256SUMS`
covering every other member. The same inputs give a byte-identical zip. An existing zip is never
overwritten. With `--baseline` the run must not regress against that run (accuracy or format
compliance, overall or in a section with enough items, lower by more than `--max-drop`); that check
is `tunix_nb.compare.gate`, imported only then; otherwise the tool needs only the standard library
and `tunix_nb.checkpoints` (itself standard-library-only: where each backend keeps its checkpoints).

Exit status: 0 ok; 1 `--verify` found a mismatch; 2 a user error (incomplete or malformed run dir,
existing output, not a zip, a regression against --baseline) — one line per problem on stderr,
`PATH: what is wrong; the fix`, and nothing written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import zipfile
from numbers import Real
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
# From an installed wheel this file is tunix_nb/_resources/tools/ (see pyproject.toml): REPO_ROOT is
# then the packaged copy of the repo's files, the code is the package itself, and zips go to ./dist.
INSTALLED = REPO_ROOT.name == "_resources" and REPO_ROOT.parent.name == "tunix_nb"

# (folder under the repo root, glob): the code and data that reproduce a run. Missing ones are skipped.
SOURCES = (
    ("notebooks", "*.ipynb"),
    ("training/configs", "*.yaml"),
    ("tunix_nb", "**/*.py"),
    ("tools", "*.py"),
    ("training/data", "*.jsonl"),
    ("training/data", "**/*.py"),  # generate_data.py and its gen/ package
    (".", "README.md"),
    (".", "requirements.txt"),
    (".", "pyproject.toml"),
)
SUMS_NAME = "SHA256SUMS"

REQUIRED_FILES = ("run_manifest.json", "config.yaml", "metrics.jsonl", "predictions.jsonl",
                  "eval_summary.json", "env_snapshot.txt", "gpu_snapshot.txt", "training_log.txt")
MANIFEST_KEYS = ("run_id", "status", "status_reason", "created_at", "finished_at", "git", "config",
                 "config_hash", "datasets", "model_source", "packages", "device_plan", "metrics",
                 "eval", "kaggle")
METRIC_KEYS = ("step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s")
PREDICTION_KEYS = ("id", "prediction", "extracted_answer", "expected_answer", "correct", "format_ok",
                   "section", "category", "difficulty")
SUMMARY_KEYS = ("n", "overall", "per_section", "per_category", "per_difficulty")
GROUP_KEYS = ("n", "correct", "format_ok", "accuracy", "format_compliance")
MAX_LINE_PROBLEMS = 5  # per JSONL file; a wholly broken file should not print thousands of lines

# Determinism: every member gets the same timestamp, mode and compression, whatever the disk says.
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold
ZIP_FILE_MODE = 0o100644  # regular file, rw-r--r--
ZIP_COMPRESSLEVEL = 6

# Size warnings (bytes). Kaggle keeps at most 20 GB under /kaggle/working; a dataset upload over
# about 1 GB is slow and fragile from a browser.
KAGGLE_OUTPUT_LIMIT_BYTES = 20 * 10**9
KAGGLE_OUTPUT_WARN_FRACTION = 0.8
COMFORTABLE_UPLOAD_BYTES = 1 * 10**9


class PackageError(Exception):
    """A user error: its message is one line, `PATH: what is wrong; the fix`; exit status 2."""


# ----------------------------------------------------------------------------- validation

def validate_run_dir(run_dir: Path) -> list[str]:
    """Every problem that makes `run_dir` unfit to hand in, one line each (empty: fine)."""
    if not run_dir.is_dir():
        return [f"{run_dir}: run dir not found; pass --run-dir submission_runs/<run_id>"]
    problems = [f"{run_dir / name}: missing; package a run dir that `tunix-nb run` finished (it writes {name})"
                for name in REQUIRED_FILES if not (run_dir / name).is_file()]
    checks = (("run_manifest.json", _check_manifest), ("metrics.jsonl", _check_metrics),
              ("eval_summary.json", _check_summary))
    for name, check in checks:
        if (run_dir / name).is_file():
            problems += check(run_dir / name)
    pred_path = run_dir / "predictions.jsonl"
    if pred_path.is_file():
        rows, bad = _read_jsonl(pred_path, PREDICTION_KEYS, numeric=False)
        problems += bad
        summary = _parse_json(run_dir / "eval_summary.json")[0]  # its problems are reported above
        overall = summary.get("overall") if isinstance(summary, dict) else None
        overall_n = overall.get("n") if isinstance(overall, dict) else None
        if not bad and overall_n is not None and overall_n != len(rows):
            problems.append(f"{pred_path}: {len(rows)} prediction rows but eval_summary.json says overall n "
                            f"= {overall_n}; re-score the predictions (tunix-nb score) or re-run the eval")
    return problems


def _parse_json(path: Path) -> tuple[object, list[str]]:
    if not path.is_file():
        return None, []  # reported as missing
    try:
        return json.loads(path.read_text(encoding="utf-8")), []
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, [f"{path}: not valid JSON ({e}); restore it from the run (it is written atomically)"]


def _missing(obj: dict, keys: tuple[str, ...]) -> list[str]:
    return [k for k in keys if k not in obj]


def _check_manifest(path: Path) -> list[str]:
    manifest, problems = _parse_json(path)
    if problems:
        return problems
    if not isinstance(manifest, dict):
        return [f"{path}: expected a JSON object; restore the manifest written by the run"]
    if missing := _missing(manifest, MANIFEST_KEYS):
        problems.append(f"{path}: missing keys {', '.join(missing)}; restore the manifest written by the run")
    if manifest.get("status") != "complete":
        problems.append(f"{path}: status is {manifest.get('status')!r}, not 'complete'; "
                        "finish or resume the run before packaging")
    return problems


def _check_metrics(path: Path) -> list[str]:
    rows, problems = _read_jsonl(path, METRIC_KEYS, numeric=True)
    if not rows and not problems:
        problems.append(f"{path}: no logged steps; package a run that trained at least one step")
    return problems


def _check_summary(path: Path) -> list[str]:
    summary, problems = _parse_json(path)
    if problems:
        return problems
    if not isinstance(summary, dict):
        return [f"{path}: expected a JSON object; re-score the predictions (tunix-nb score)"]
    # Every stage's scorecard too (old runs: their `before`).
    stages = summary.get("stages") if isinstance(summary.get("stages"), dict) else {}
    scorecards = [("", summary)] + [(f"stages.{name}.", card) for name, card in stages.items()] \
        + ([("before.", summary["before"])] if "before" in summary else [])
    for prefix, card in scorecards:
        if not isinstance(card, dict):
            problems.append(f"{path}: {prefix or 'summary'} is not an object; re-score the predictions")
            continue
        if missing := _missing(card, SUMMARY_KEYS):
            problems.append(f"{path}: missing keys {', '.join(prefix + k for k in missing)}; "
                            "re-score the predictions (tunix-nb score)")
        for key in ("overall", "per_section", "per_category", "per_difficulty"):
            if key in card and not isinstance(card[key], dict):
                problems.append(f"{path}: {prefix}{key} is not an object; re-score the predictions")
        overall = card.get("overall")
        if isinstance(overall, dict) and (missing := _missing(overall, GROUP_KEYS)):
            problems.append(f"{path}: {prefix}overall lacks {', '.join(missing)}; re-score the predictions")
    return problems


def _read_jsonl(path: Path, keys: tuple[str, ...], *, numeric: bool) -> tuple[list[dict], list[str]]:
    """The rows of a JSONL file and one problem line per bad line (the first few, then a count)."""
    rows, problems = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        return [], [f"{path}: not UTF-8 text ({e}); restore the file written by the run"]
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        problem = None
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            problem = f"not a JSON line ({e.msg})"
        else:
            if not isinstance(row, dict):
                problem = "not a JSON object"
            elif missing := _missing(row, keys):
                problem = f"missing {', '.join(missing)}"
            elif numeric and (bad := [k for k in keys if isinstance(row[k], bool) or not isinstance(row[k], Real)]):
                problem = f"not numeric: {', '.join(bad)}"
            else:
                rows.append(row)
        if problem:
            problems.append(f"{path}:{lineno}: {problem}; restore the file written by the run")
    if len(problems) > MAX_LINE_PROBLEMS:
        extra = len(problems) - MAX_LINE_PROBLEMS
        problems = problems[:MAX_LINE_PROBLEMS] + [f"{path}: {extra} more bad lines not shown; restore the file written by the run"]
    return rows, problems


# ----------------------------------------------------------------------------- members

def _visible_files(folder: Path, pattern: str) -> list[Path]:
    """Files matching `pattern` under `folder`, without hidden names (temp files) or `__pycache__`."""
    return [p for p in folder.glob(pattern) if p.is_file()
            and not any(part.startswith(".") or part == "__pycache__" for part in p.relative_to(folder).parts)]


def last_checkpoint(run_dir: Path) -> Path | None:
    """The whole checkpoint folder with the highest step in the layout of the run's backend
    (tunix_nb.checkpoints: `checkpoints/step-NNNNNN` or `checkpoints/actor/<step>`), or None."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tunix_nb import checkpoints

    found = checkpoints.latest(run_dir / "checkpoints", checkpoints.run_backend(run_dir))
    return found[1] if found else None


def collect_members(run_dir: Path, *, include_checkpoint: bool = False, root: Path = REPO_ROOT) -> list[tuple[str, Path]]:
    """(name in the zip, file on disk) for every member but SHA256SUMS, sorted by name."""
    members: dict[str, Path] = {}
    for folder, pattern in SOURCES:
        base = root.parent if folder == "tunix_nb" and root.name == "_resources" else root / folder
        if base.is_dir():
            for p in _visible_files(base, pattern):
                if "_resources" not in p.relative_to(base).parts:  # an installed package's data: listed by folder
                    members[f"{folder}/{p.relative_to(base).as_posix()}".removeprefix("./")] = p
    run_dir = run_dir.resolve()
    prefix = f"submission_runs/{run_dir.name}"
    for p in _visible_files(run_dir, "**/*"):
        if p.relative_to(run_dir).parts[0] == "checkpoints":  # weights: only on request, below
            continue
        members[f"{prefix}/{p.relative_to(run_dir).as_posix()}"] = p
    if include_checkpoint:
        ckpt = last_checkpoint(run_dir)
        if ckpt is None:
            raise PackageError(f"{run_dir / 'checkpoints'}: no step-NNNNNN or actor/<step> checkpoint folder; "
                               "drop --include-checkpoint or package a run that saved one")
        for p in [q for q in ckpt.rglob("*") if q.is_file() and "__pycache__" not in q.parts]:
            members[f"{prefix}/{p.relative_to(run_dir).as_posix()}"] = p
    return sorted(members.items())


# ----------------------------------------------------------------------------- zip

def _zipinfo(name: str, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    # Python 3.13 renamed ZipInfo._compresslevel; zf.open(info, "w") reads it from the ZipInfo.
    setattr(info, "compress_level" if hasattr(info, "compress_level") else "_compresslevel", ZIP_COMPRESSLEVEL)
    info.create_system = 3  # unix, so external_attr means the same on every OS
    info.external_attr = ZIP_FILE_MODE << 16
    info.file_size = size  # known up front: zip64 is chosen by size alone, not by chance
    return info


def write_zip(members: list[tuple[str, Path]], out: Path) -> None:
    """Write the zip (members in the given order, then SHA256SUMS) to a temp file beside `out`,
    then move it into place, so `out` is either absent or complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        sums = []
        with zipfile.ZipFile(tmp, "w") as zf:
            for name, path in members:
                h = hashlib.sha256()
                # Streamed in chunks: checkpoint files can be larger than memory.
                with open(path, "rb") as src, zf.open(_zipinfo(name, path.stat().st_size), "w") as dst:
                    for chunk in iter(lambda: src.read(1 << 20), b""):
                        h.update(chunk)
                        dst.write(chunk)
                sums.append(f"{h.hexdigest()}  {name}\n")
            data = "".join(sums).encode("utf-8")
            with zf.open(_zipinfo(SUMS_NAME, len(data)), "w") as dst:
                dst.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the zip is meant to be shared
        if out.exists():  # checked again: another process may have written it meanwhile
            raise PackageError(f"{out}: already exists; pass --out NEW.zip (a zip is never overwritten)")
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def verify_zip(zip_path: Path) -> tuple[int, list[str]]:
    """Recompute every member's SHA256 and compare with SHA256SUMS: (members checked, problem lines).
    Raises PackageError when the file is not a zip or has no SHA256SUMS."""
    try:
        zf = zipfile.ZipFile(zip_path)
    except FileNotFoundError:
        raise PackageError(f"{zip_path}: file not found; pass the path of a zip written by this tool") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise PackageError(f"{zip_path}: not a zip file ({e}); pass a zip written by this tool") from None
    with zf:
        names = zf.namelist()
        if SUMS_NAME not in names:
            raise PackageError(f"{zip_path}: no {SUMS_NAME} member; only zips written by this tool can be verified")
        problems = [f"{zip_path}: {n}: duplicate member (tampered?)" for n in sorted({n for n in names if names.count(n) > 1})]
        expected: dict[str, str] = {}
        try:
            sums_text = zf.read(SUMS_NAME).decode("utf-8")
        except (zipfile.BadZipFile, UnicodeDecodeError, OSError) as e:
            raise PackageError(f"{zip_path}: {SUMS_NAME} cannot be read ({e}); re-package the run") from None
        for lineno, line in enumerate(sums_text.splitlines(), start=1):
            m = re.fullmatch(r"([0-9a-f]{64})  (.+)", line)
            if m:
                expected[m.group(2)] = m.group(1)
            else:
                problems.append(f"{zip_path}: {SUMS_NAME}:{lineno}: not a 'sha256  path' line (tampered?)")
        checked = 0
        for name in sorted(set(names) - {SUMS_NAME}):
            if name not in expected:
                problems.append(f"{zip_path}: {name}: extra member, not in {SUMS_NAME} (tampered?)")
                continue
            h = hashlib.sha256()
            try:
                with zf.open(name) as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
            except (zipfile.BadZipFile, OSError, EOFError) as e:  # e.g. a bad CRC-32
                problems.append(f"{zip_path}: {name}: cannot be read ({e}) (corrupted?)")
                continue
            checked += 1
            if h.hexdigest() != expected[name]:
                problems.append(f"{zip_path}: {name}: hash mismatch (tampered?)")
        for name in sorted(set(expected) - set(names)):
            problems.append(f"{zip_path}: {name}: missing member, listed in {SUMS_NAME}")
    return checked, problems


def size_warning(size_bytes: int) -> str | None:
    """One line when the zip is uncomfortably large for Kaggle, else None."""
    limit = KAGGLE_OUTPUT_LIMIT_BYTES * KAGGLE_OUTPUT_WARN_FRACTION
    if size_bytes > limit:
        return (f"warning: {size_bytes / 1e9:.1f} GB is over {KAGGLE_OUTPUT_WARN_FRACTION:.0%} of Kaggle's "
                f"{KAGGLE_OUTPUT_LIMIT_BYTES / 1e9:.0f} GB /kaggle/working limit; leave out --include-checkpoint")
    if size_bytes > COMFORTABLE_UPLOAD_BYTES:
        return (f"warning: {size_bytes / 1e9:.1f} GB is over {COMFORTABLE_UPLOAD_BYTES / 1e9:.0f} GB, too big to "
                "upload comfortably as a Kaggle dataset; consider leaving out --include-checkpoint")
    return None


def default_out(run_dir: Path, root: Path | None = None) -> Path:
    root = root or (Path.cwd() if INSTALLED else REPO_ROOT)
    return root / "dist" / f"submission-{run_dir.resolve().name}.zip"


# ----------------------------------------------------------------------------- CLI

def gate_problems(baseline: Path, run_dir: Path, max_drop: float) -> list[str]:
    """The regressions of `run_dir` against `baseline` (tunix_nb.compare.gate), one line each."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from tunix_nb.compare import compare_runs, gate
    from tunix_nb.errors import UserError

    try:
        comparison = compare_runs(baseline, run_dir)
    except UserError as e:
        raise PackageError(f"--baseline: {e}") from None
    return [f"{run_dir}: regression against {baseline}: {line}; fix the run or drop --baseline"
            for line in gate(comparison, max_drop)]


def package(run_dir: Path, out: Path | None = None, *, include_checkpoint: bool = False,
            baseline: Path | None = None, max_drop: float = 0.02) -> int:
    problems = validate_run_dir(run_dir)
    if not problems and baseline is not None:
        problems = gate_problems(baseline, run_dir, max_drop)
    if problems:
        for line in problems:
            print(line, file=sys.stderr)
        return 2
    out = out or default_out(run_dir)
    if out.exists():
        raise PackageError(f"{out}: already exists; pass --out NEW.zip (a zip is never overwritten)")
    members = collect_members(run_dir, include_checkpoint=include_checkpoint)
    try:
        write_zip(members, out)
    except OSError as e:
        raise PackageError(f"{out}: cannot write the zip ({e.strerror or e}); pass --out in a writable folder "
                           "with enough free space") from None
    checked, problems = verify_zip(out)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 1
    size = out.stat().st_size
    print(f"{checked} members + {SUMS_NAME}, {size / 1e6:.2f} MB, checksums verified")
    if warning := size_warning(size):
        print(warning, file=sys.stderr)
    print(out)
    return 0


def verify(zip_path: Path) -> int:
    checked, problems = verify_zip(zip_path)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 1
    print(f"{zip_path}: {checked} members verified")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="package_submission.py", description=__doc__.splitlines()[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--run-dir", type=Path, help="a finished run dir, e.g. submission_runs/ID")
    what.add_argument("--verify", type=Path, metavar="ZIP", help="check a zip against its SHA256SUMS")
    p.add_argument("--out", type=Path, help="zip to write (default: dist/submission-<run_id>.zip; never overwritten)")
    p.add_argument("--include-checkpoint", action="store_true", help="add the last checkpoint (large)")
    p.add_argument("--baseline", type=Path, metavar="RUN_DIR", help="refuse to package a run that regresses "
                   "against this run dir (overall, or a section with >= 10 items in both)")
    p.add_argument("--max-drop", type=float, metavar="X", help="with --baseline: largest allowed drop of accuracy "
                   "or format compliance, as a fraction (default 0.02)")
    args = p.parse_args(argv)
    if args.verify and (args.out or args.include_checkpoint or args.baseline):
        p.error("--out, --include-checkpoint and --baseline go with --run-dir, not --verify")
    if args.max_drop is not None and (args.baseline is None or not 0 <= args.max_drop < 1):
        p.error("--max-drop needs --baseline and a fraction in [0, 1), e.g. 0.02")
    try:
        if args.verify:
            return verify(args.verify)
        return package(args.run_dir, args.out, include_checkpoint=args.include_checkpoint, baseline=args.baseline,
                       max_drop=0.02 if args.max_drop is None else args.max_drop)
    except PackageError as e:
        print(e, file=sys.stderr)
        return 2
    except OSError as e:  # e.g. an unreadable file in the run dir
        print(f"{e.filename or '?'}: {e.strerror or e}; check the path and its permissions", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
