"""`tunix-nb` (also `python -m tunix_nb`): the same functions the notebooks call.

User errors print one line and exit 2 (`--debug` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import errno
import json
import signal
import sys
from pathlib import Path

import yaml

from .errors import Terminated, UserError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.func(args)
    except UserError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno != errno.ENOSPC or args.debug:
            raise
        print(f"error: out of disk space writing {e.filename or 'evidence'}; free some space and re-run the same "
              "command (an unfinished run resumes from its last checkpoint)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated (SIGTERM); re-run the same command to resume", file=sys.stderr)
        return 143


def _on_sigterm(signum, frame):
    raise Terminated()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tunix-nb", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show tracebacks for user errors")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="train + evaluate + write evidence; prints the run dir")
    r.add_argument("--config", help="a preset's name (`tunix-nb presets`) or a YAML file (default: smoke_tiny)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set training.max_steps=20 (repeatable)")
    r.add_argument("--run-id", help="name of the run dir (default: <preset>-<UTC time>)")
    r.add_argument("--continue-from", metavar="RUN_DIR",
                   help="an earlier session's run dir (may be read-only, e.g. under /kaggle/input): a new run "
                        "starts from its newest whole checkpoint and continues its step numbering")
    r.set_defaults(func=cmd_run)

    e = sub.add_parser("eval", help="evaluate a model source or a finished run's final model on an eval set, "
                                    "without training, into a run dir of its own; prints the run dir")
    e.add_argument("--model", required=True, metavar="SOURCE|RUN_DIR",
                   help="a model.source (folder, HF id, kaggle:..., packaged:gemma-3-270m, builtin:tiny-gemma3) "
                        "or a complete run dir (its final model)")
    e.add_argument("--eval", required=True, metavar="SOURCE", help="eval items: a file, folder or hf:OWNER/NAME")
    e.add_argument("--config", help="preset for the model, eval and backend settings (default: the run's own "
                                    "config for a run dir, else training/configs/smoke_tiny.yaml)")
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a setting, e.g. --set eval.limit=30 (repeatable)")
    e.add_argument("--run-id", help="name of the run dir (default: eval-<model>-<UTC time>)")
    e.set_defaults(func=cmd_eval)

    s = sub.add_parser("score", help="score raw model texts against an eval set")
    s.add_argument("predictions", help='JSONL rows {"id", "prediction"}')
    s.add_argument("--eval", required=True, help="eval JSONL")
    s.add_argument("--out", required=True, help="folder for eval_summary.json and predictions.jsonl")
    s.set_defaults(func=cmd_score)

    v = sub.add_parser("validate-data", help="check a dataset; lists every bad row as FILE:ROW: field: problem")
    v.add_argument("file", help=".jsonl, .json, .csv, .parquet, a save_to_disk folder, a folder of data files, "
                                "or hf:OWNER/NAME")
    v.add_argument("--kind", choices=("train", "eval", "prompts", "pairs"), required=True,
                   help="train: SFT rows (with reasoning); prompts: GRPO prompts (reasoning optional); eval: eval items; "
                        "pairs: preference pairs {prompt, chosen, rejected}")
    v.add_argument("--columns", default="", metavar="OURS=THEIRS,...",
                   help="map the file's columns onto ours, e.g. question=Problem,answer=Final")
    v.add_argument("--split", help="a save_to_disk DatasetDict's or an HF id's split")
    v.set_defaults(func=cmd_validate)

    c = sub.add_parser("show-config", help="print the resolved config (after --set overrides)")
    c.add_argument("--config")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    c.set_defaults(func=cmd_show_config)

    n = sub.add_parser("notebook", help="execute a notebook headlessly (papermill), keep it in the run dir, zip the run; "
                                        "or, with --write, copy the packaged notebooks out")
    n.add_argument("notebook", nargs="?", help="e.g. notebooks/kaggle_submission.ipynb, or kaggle | local")
    n.add_argument("--write", metavar="DIR", help="write the packaged notebook (kaggle, local, or both when none is "
                                                  "named) into DIR instead of running it; an existing file is kept")
    n.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="notebook parameter, e.g. -p CONFIG training/configs/smoke_tiny.yaml (values read as YAML)")
    n.add_argument("--run-id", help="name of the run dir (default: <preset>-<UTC time>)")
    n.add_argument("--no-package", action="store_true", help="do not zip the run afterwards")
    n.set_defaults(func=cmd_notebook)

    pr = sub.add_parser("presets", help="list the packaged presets (for --config NAME) with what each is for")
    pr.set_defaults(func=cmd_presets)

    st = sub.add_parser("status", help="say whether a run dir is complete, running, interrupted or failed")
    st.add_argument("run_dir", nargs="+")
    st.set_defaults(func=cmd_status)

    t = sub.add_parser("tiny-model", help="build (once) the built-in tiny Gemma 3 model and print its folder")
    t.set_defaults(func=cmd_tiny_model)

    cm = sub.add_parser("compare", help="compare two run dirs (config, scorecard B−A, per-item flips); "
                                        "with --baseline, fail (exit 1) on regressions")
    cm.add_argument("runs", nargs="+", metavar="RUN", help="RUN_A RUN_B; with --baseline RUN_A, just RUN_B")
    cm.add_argument("--baseline", metavar="RUN_A", help="gate RUN_B against this run: exit 1 listing every "
                    "drop larger than --max-drop (overall, and sections with at least --min-items items)")
    cm.add_argument("--max-drop", type=float, metavar="X", help="largest allowed drop of accuracy or format "
                    "compliance, as a fraction (default 0.02); with --baseline")
    cm.add_argument("--min-items", type=int, metavar="N", help="gate only sections with at least N items in "
                    "both runs (default 10; overall is always gated); with --baseline")
    cm.add_argument("--out", metavar="DIR", help="also write DIR/compare.json and DIR/compare.html (never overwritten)")
    cm.set_defaults(func=cmd_compare)

    ex = sub.add_parser("export", help="a finished run's final model as a folder that loads without tunix_nb "
                                       "(tunix: Flax/orbax for Tunix's Gemma loader; hf; peft), with a model card")
    ex.add_argument("run_dir", metavar="RUN_DIR")
    ex.add_argument("--format", dest="fmt", required=True, metavar="FORMAT", help="tunix | hf | peft")
    ex.add_argument("--out", required=True, metavar="DIR", help="the folder to write (must not exist)")
    ex.add_argument("--upload", metavar="HANDLE", help="then upload it as a Kaggle model (OWNER/MODEL/FRAMEWORK/"
                    "VARIATION) when Kaggle credentials are present; else say what would be uploaded")
    ex.set_defaults(func=cmd_export)

    ls = sub.add_parser("runs", help="list the run dirs under a root: status, date, model, backend, scores")
    ls.add_argument("--root", help="folder holding the run dirs (default: submission_runs of this checkout)")
    ls.set_defaults(func=cmd_runs)
    return p


def cmd_export(args) -> int:
    from . import export

    export.export_and_upload(args.run_dir, args.fmt, args.out, args.upload)
    return 0


def cmd_run(args) -> int:
    from . import pipeline
    from .backends.torch import distributed
    from .config import load_config

    overrides = list(args.overrides) + ([f"output.run_id={args.run_id}"] if args.run_id else [])
    cfg = load_config(args.config, overrides)
    with distributed.process_group(cfg.training.distributed, cfg.training.device):  # torchrun; else nothing
        if not distributed.is_main():
            pipeline.follow(cfg)
            return 0
        run = pipeline.run(cfg, args.continue_from)
    print(run.dir)
    return 0


def cmd_eval(args) -> int:
    from . import evaluation

    cfg, trained = evaluation.config_for(args.model, args.eval, args.overrides, config=args.config, run_id=args.run_id)
    run = evaluation.run(cfg, trained)
    print(run.dir)
    return 0


def cmd_score(args) -> int:
    from . import evidence, inputs, scoring
    from .sources import Source
    from dataclasses import asdict

    out = Path(args.out)
    for name in ("eval_summary.json", "predictions.jsonl"):
        if (out / name).exists():
            raise UserError(f"{out / name}: already exists; choose another --out (scores are never overwritten)")
    ev = inputs.load(Source(args.eval, setting="--eval"), "eval")
    records = ev.records
    predictions = read_predictions(Path(args.predictions))
    try:
        rows, summary = scoring.score_predictions(predictions, [asdict(r) for r in records])
    except ValueError as e:
        raise UserError(f"{args.predictions}: {e}") from None
    out.mkdir(parents=True, exist_ok=True)
    evidence.write_scores(out, rows, summary, eval_source=ev.info)
    print(scoring.format_scorecard(summary))
    print(out / "eval_summary.json")
    return 0


def read_predictions(path: Path) -> list[dict]:
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    rows = []
    for lineno, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise UserError(f"{path}:{lineno}: -: not a JSON line ({e})") from None
        if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not isinstance(row.get("prediction"), str):
            raise UserError(f"{path}:{lineno}: id/prediction: expected {{\"id\": str, \"prediction\": str}}")
        rows.append(row)
    return rows


def cmd_validate(args) -> int:
    from . import inputs
    from .sources import Source

    columns = parse_columns(args.columns, args.kind)
    loaded = inputs.read(Source(args.file, split=args.split, columns=columns, setting="the FILE argument"),
                         args.kind)
    records, problems = loaded.records, loaded.problems
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 2
    print(f"{args.file}: {len(records)} {args.kind} records, all valid")
    return 0


def parse_columns(text: str, kind: str) -> dict[str, str]:
    """`--columns question=Problem,answer=Final` -> {ours: theirs}, checked as data.columns (or, for
    --kind eval, data.eval_columns; for --kind pairs, preference.columns) is."""
    from .config import check_columns
    from .schema import EVAL_MAPPABLE, PAIR_FIELDS, TRAIN_FIELDS

    pairs = [p for p in text.split(",") if p.strip()]
    bad = [p for p in pairs if p.count("=") != 1 or not all(x.strip() for x in p.split("="))]
    if bad:
        raise UserError(f"--columns: {bad[0]!r} is not ours=theirs; e.g. --columns question=Problem,answer=Final")
    columns = dict(tuple(x.strip() for x in p.split("=")) for p in pairs)
    check_columns(columns, "--columns", {"eval": EVAL_MAPPABLE, "pairs": PAIR_FIELDS}.get(kind, TRAIN_FIELDS))
    return columns


def cmd_show_config(args) -> int:
    from .config import load_config

    print(load_config(args.config, args.overrides).to_yaml(), end="")
    return 0


def cmd_notebook(args) -> int:
    from . import resources
    if args.write:  # before importing .notebook, which imports the whole pipeline
        for path in resources.write_notebooks(args.notebook, Path(args.write)):
            print(path)
        return 0
    if args.notebook is None:
        raise UserError("notebook: name a notebook to run (e.g. notebooks/kaggle_submission.ipynb), "
                        "or --write DIR to copy the packaged ones out")
    from .notebook import execute

    notebook = Path(args.notebook)
    if not notebook.exists() and args.notebook in resources.NOTEBOOKS:
        notebook = resources.notebook(args.notebook)  # `tunix-nb notebook kaggle` runs the packaged one
    return execute(notebook, {k: yaml.safe_load(v) for k, v in args.parameter}, run_id=args.run_id,
                   zip_run=not args.no_package)


def cmd_presets(args) -> int:
    from . import resources

    names = resources.preset_names()
    width = max(map(len, names))
    for name in names:
        print(f"{name:<{width}}  {resources.preset_summary(resources.preset(name))}")
    return 0


def cmd_status(args) -> int:
    from .evidence import run_status

    for run_dir in args.run_dir:
        print(run_status(Path(run_dir)))
    return 0


def cmd_tiny_model(args) -> int:
    from .tiny_model import ensure_tiny_model

    print(ensure_tiny_model())
    return 0


def cmd_compare(args) -> int:
    from . import compare

    if args.baseline is None and (args.max_drop is not None or args.min_items is not None):
        raise UserError("--max-drop/--min-items: they set the gate, which needs --baseline RUN_A; "
                        "e.g. tunix-nb compare --baseline RUN_A RUN_B --max-drop 0.02")
    runs = ([args.baseline] if args.baseline else []) + args.runs
    if len(runs) != 2:
        raise UserError(f"compare: got {len(runs)} run dirs; pass two: tunix-nb compare RUN_A RUN_B "
                        "(or tunix-nb compare --baseline RUN_A RUN_B)")
    max_drop = compare.DEFAULT_MAX_DROP if args.max_drop is None else args.max_drop
    min_items = compare.DEFAULT_MIN_ITEMS if args.min_items is None else args.min_items
    if not 0 <= max_drop < 1:
        raise UserError(f"--max-drop: {max_drop} is not a fraction in [0, 1); e.g. 0.02 for 2 points")
    if min_items < 0:
        raise UserError(f"--min-items: must be >= 0 (got {min_items})")
    comparison = compare.compare_runs(Path(runs[0]), Path(runs[1]))
    if args.out:
        comparison_paths = compare.write_outputs(comparison, Path(args.out))
    print(compare.format_comparison(comparison), end="")
    if args.out:
        print("\n".join(str(p) for p in comparison_paths))
    if args.baseline is None:
        return 0
    regressions = compare.gate(comparison, max_drop, min_items)
    if regressions:
        print(f"\ngate FAILED: {len(regressions)} regression(s) of more than {100 * max_drop:.1f} pts "
              f"(overall, and sections with >= {min_items} items in both runs):")
        print("\n".join(f"  {line}" for line in regressions))
        return 1
    print(f"\ngate passed: no drop of more than {100 * max_drop:.1f} pts overall or in any section with "
          f">= {min_items} items")
    return 0


def cmd_runs(args) -> int:
    from . import runs
    from .evidence import output_root

    root = Path(args.root) if args.root else output_root("submission_runs")
    rows = runs.list_runs(root)
    if not rows:
        print(f"no run dirs under {root}")
        return 0
    print(runs.format_runs(rows), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
