"""`tunix-nb` (also `python -m tunix_nb`): the same functions the notebooks call.

User errors print one line and exit 2 (`--debug` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from .errors import UserError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UserError as e:
        if args.debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tunix-nb", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show tracebacks for user errors")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="train + evaluate + write evidence; prints the run dir")
    r.add_argument("--config", help="preset YAML (default: training/configs/smoke_tiny.yaml)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set training.max_steps=20 (repeatable)")
    r.add_argument("--run-id", help="name of the run dir (default: <preset>-<UTC time>)")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("score", help="score raw model texts against an eval set")
    s.add_argument("predictions", help='JSONL rows {"id", "prediction"}')
    s.add_argument("--eval", required=True, help="eval JSONL")
    s.add_argument("--out", required=True, help="folder for eval_summary.json and predictions.jsonl")
    s.set_defaults(func=cmd_score)

    v = sub.add_parser("validate-data", help="check a dataset; lists every bad row as FILE:LINE: field: problem")
    v.add_argument("file")
    v.add_argument("--kind", choices=("train", "eval"), required=True)
    v.set_defaults(func=cmd_validate)

    c = sub.add_parser("show-config", help="print the resolved config (after --set overrides)")
    c.add_argument("--config")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE")
    c.set_defaults(func=cmd_show_config)

    n = sub.add_parser("notebook", help="execute a notebook headlessly (papermill), keep it in the run dir, zip the run")
    n.add_argument("notebook", help="e.g. notebooks/kaggle_submission.ipynb")
    n.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="notebook parameter, e.g. -p CONFIG training/configs/smoke_tiny.yaml (values read as YAML)")
    n.add_argument("--run-id", help="name of the run dir (default: <preset>-<UTC time>)")
    n.add_argument("--no-package", action="store_true", help="do not zip the run afterwards")
    n.set_defaults(func=cmd_notebook)

    t = sub.add_parser("tiny-model", help="build (once) the built-in tiny Gemma 3 model and print its folder")
    t.set_defaults(func=cmd_tiny_model)
    return p


def cmd_run(args) -> int:
    from . import pipeline
    from .config import load_config

    overrides = list(args.overrides) + ([f"output.run_id={args.run_id}"] if args.run_id else [])
    cfg = load_config(args.config, overrides)
    run = pipeline.run(cfg)
    print(run.dir)
    return 0


def cmd_score(args) -> int:
    from . import data, evidence, scoring
    from dataclasses import asdict

    out = Path(args.out)
    for name in ("eval_summary.json", "predictions.jsonl"):
        if (out / name).exists():
            raise UserError(f"{out / name}: already exists; choose another --out (scores are never overwritten)")
    records = data.load_records(args.eval, "eval")
    predictions = read_predictions(Path(args.predictions))
    try:
        rows, summary = scoring.score_predictions(predictions, [asdict(r) for r in records])
    except ValueError as e:
        raise UserError(f"{args.predictions}: {e}") from None
    out.mkdir(parents=True, exist_ok=True)
    evidence.write_scores(out, rows, summary, eval_file=Path(args.eval))
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
    from .data import validate_file

    records, problems = validate_file(args.file, args.kind)
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 2
    print(f"{args.file}: {len(records)} {args.kind} records, all valid")
    return 0


def cmd_show_config(args) -> int:
    from .config import load_config

    print(load_config(args.config, args.overrides).to_yaml(), end="")
    return 0


def cmd_notebook(args) -> int:
    from .notebook import execute

    return execute(Path(args.notebook), {k: yaml.safe_load(v) for k, v in args.parameter}, run_id=args.run_id,
                   zip_run=not args.no_package)


def cmd_tiny_model(args) -> int:
    from .tiny_model import ensure_tiny_model

    print(ensure_tiny_model())
    return 0


if __name__ == "__main__":
    sys.exit(main())
