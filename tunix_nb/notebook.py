"""One function per notebook cell: each runs a stage of `pipeline` and returns what the cell should
show (the config, the device plan, the loss curve, the scorecard, the run dir, the zip).

The notebooks stay thin; the CLI (`tunix-nb run`) calls the same pipeline stages.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from . import pipeline, resources
from .config import PROJECT_ROOT, Config, load_config


def configure(config: str, overrides: list[str] | None = None, run_id: str | None = None,
              device: str = "auto") -> Config:
    """Load the preset with the notebook's overrides and print what they set (every other setting
    keeps its default; the run dir's config.yaml holds the whole resolved config)."""
    extra = [f"training.device={device}"] + ([f"output.run_id={run_id}"] if run_id else [])
    cfg = load_config(config, [*(overrides or []), *extra])
    print(f"# {config}{' + overrides' if overrides else ''}: the settings that differ from the defaults "
          "(the whole resolved config is saved as config.yaml in the run dir)")
    print(cfg.to_yaml(changed_only=True), end="")
    return cfg


def prepare(cfg: Config, continue_from: str | None = None) -> pipeline.Session:
    """Device plan, HF auth (only when the model needs it), model source, data: prints the plan.
    `continue_from`: an earlier session's run dir to continue (checked here, copied at `start`)."""
    return pipeline.prepare(cfg, continue_from)


def start(session: pipeline.Session) -> Path:
    return pipeline.start(session)


def base(session: pipeline.Session):
    """Score the untrained model (eval.compare_base); prints its overall figures."""
    summary = pipeline.base(session)
    return "base model not scored (eval.compare_base: false)" if summary is None else summary["overall"]


def sft(session: pipeline.Session):
    """Supervised fine-tuning, then show the loss curve."""
    png = pipeline.sft(session)
    return "no SFT stage (training.max_steps: 0)" if png is None else _image(png)


def preference(session: pipeline.Session):
    """The preference stage (DPO / ORPO / SimPO), then show its loss and margin curves."""
    png = pipeline.preference(session)
    return "no preference stage (preference: null)" if png is None else _image(png)


def grpo(session: pipeline.Session):
    """GRPO, then show the reward and KL curves."""
    png = pipeline.grpo(session)
    return "no GRPO stage (grpo: null)" if png is None else _image(png)


def evaluate(session: pipeline.Session):
    """Write every stage's scorecard; prints the table (a column per stage) and shows it as bars."""
    pipeline.evaluate(session)
    return _image(session.run.dir / "scorecard.png")


def evaluate_model(model: str | None, eval_file: str, config: str, overrides: list[str] | None = None):
    """Score another model without training it (`tunix-nb eval`): a finished run dir with its own
    settings, or a model source with this notebook's preset; shows its scorecard. Off when model is None."""
    if model is None:
        return "no other model evaluated (EVAL_MODEL = None)"
    from . import evaluation

    preset = None if evaluation.finished_run(model) else config
    cfg, trained = evaluation.config_for(model, eval_file, [] if preset is None else list(overrides or []),
                                         config=preset)
    run = evaluation.run(cfg, trained)
    return _image(run.dir / "scorecard.png")


def finish(session: pipeline.Session) -> Path:
    run = pipeline.finish(session)
    print(f"run complete: {run.dir}")
    return run.dir


def judge_handles(session: pipeline.Session) -> tuple:
    """The names the competition's judges read: (lora_policy, tokenizer, model_config,
    MAX_PROMPT_LENGTH, CKPT_DIR, MAX_STEPS); prints where the final checkpoint is."""
    handles = pipeline.judge_handles(session)
    print(f"lora_policy: {type(handles[0]).__name__}; MAX_PROMPT_LENGTH={handles[3]}; CKPT_DIR={handles[4]}; "
          f"MAX_STEPS={handles[5]} (the final checkpoint's step)")
    return handles


def package(run_dir: Path) -> Path:
    """Zip the run with the code and data (tools/package_submission.py), verified."""
    tool = _load_tool()
    out = tool.default_out(Path(run_dir))
    code = tool.main(["--run-dir", str(run_dir), "--out", str(out)])
    if code != 0:
        raise RuntimeError(f"packaging {run_dir} failed (exit {code}); see the lines above")
    return out


def export(run_dir: Path, fmt: str | None, upload: str | None = None):
    """`tunix-nb export` of the finished run into exports/<run_id>-<format> beside the runs' root (on
    Kaggle under /kaggle/working, kept as the notebook's output); shows the model card. Off when fmt is None."""
    if fmt is None:
        return "no export (EXPORT_FORMAT = None)"
    from . import export as exporter

    run_dir = Path(run_dir)
    out = exporter.export_and_upload(run_dir, fmt, run_dir.parent.parent / "exports" / f"{run_dir.name}-{fmt}", upload)
    return _markdown((out / "README.md").read_text(encoding="utf-8"))


def _ipc_kernel_manager():
    """The kernel papermill starts talks to us over local IPC sockets (files in Jupyter's runtime
    dir), not TCP: nothing listens on a port, and the kernel has no reason to warn that TCP traffic
    is unencrypted (a warning a reader of `make run` would have to learn to ignore)."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    return IPCKernelManager


def _load_tool():
    spec = importlib.util.spec_from_file_location("package_submission", PROJECT_ROOT / "tools" / "package_submission.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _markdown(text: str):
    try:
        from IPython.display import Markdown
    except ImportError:  # outside Jupyter: the text is the result
        return text
    return Markdown(text)


def _image(path: Path):
    try:
        from IPython.display import Image
    except ImportError:  # outside Jupyter: the path is the result
        return path
    return Image(filename=str(path))


def execute(notebook: Path, parameters: dict, *, run_id: str | None = None, zip_run: bool = True) -> int:
    """Run a notebook headlessly with papermill on a real kernel (what `make run` does): the executed
    notebook goes into the run dir, then the run is zipped and the zip verified. Returns an exit code."""
    import ast
    import datetime as dt
    import shutil
    import sys
    import tempfile

    import papermill as pm

    from .errors import UserError
    from .evidence import output_root

    if not notebook.is_file():
        raise UserError(f"{notebook}: notebook not found")
    defaults = {k: ast.literal_eval(v["default"]) for k, v in pm.inspect_notebook(str(notebook)).items()}
    unknown = sorted(set(parameters) - set(defaults))
    if unknown:
        raise UserError(f"-p {unknown[0]}: not a parameter of {notebook.name}; its parameters: {', '.join(defaults)}")
    params = {**defaults, **parameters}
    cfg = load_config(params["CONFIG"], params["OVERRIDES"])  # refuses a bad preset before the kernel starts
    run_id = run_id or params["RUN_ID"] or f"{cfg.name}-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%d-%H%M%S')}"
    run_dir = output_root(cfg.output.root) / run_id
    if run_dir.exists():
        raise UserError(f"{run_dir}: run dir already exists; pick a new --run-id (evidence is never overwritten)")
    # REPO: the checkout the bootstrap cell would install from (None for an installed wheel: it is installed).
    params.update(REPO=str(resources.CHECKOUT) if resources.CHECKOUT else None, RUN_ID=run_id,
                  PACKAGE=False)  # zipped below, with the notebook in it

    executed = Path(tempfile.mkdtemp(prefix="tunix_nb-")) / f"{notebook.stem}.executed.ipynb"
    try:
        # The kernel's stdout and stderr, once each: log_output would also copy every stderr write
        # (each progress update) through papermill's logger.
        pm.execute_notebook(str(notebook), str(executed), parameters=params,
                            cwd=str(resources.CHECKOUT or Path.cwd()),  # the kernel resolves paths as we do
                            kernel_name="python3", progress_bar=False, log_output=False,
                            stdout_file=sys.stdout, stderr_file=sys.stderr,
                            kernel_manager_class=_ipc_kernel_manager())
    except pm.PapermillExecutionError as e:
        print(f"error: {notebook.name} failed in cell {e.exec_count}: {e.ename}: {e.evalue}; "
              f"executed notebook: {executed}", file=sys.stderr)
        return 1
    kept = run_dir / executed.name
    shutil.move(executed, kept)
    print(f"executed notebook: {kept}")
    print(f"run dir: {run_dir}")
    if zip_run:
        print(f"zip: {package(run_dir)}")
    return 0
