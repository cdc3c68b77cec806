"""Bad input, everywhere, one line: each case exits 2 with a message naming the culprit, prints no
traceback, and leaves no new or changed file behind (a before/after listing of every place a run,
a score or a zip could write)."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from conftest import FAST, ROOT, SMOKE
from tunix_nb import cli

GOOD_TRAIN = {"id": "t1", "question": "What is 2 + 3?", "reasoning": "2 + 3 = 5.", "answer": "5"}
GOOD_EVAL = {"id": "e1", "prompt": "What is 4 + 4?", "expected_answer": "8", "section": "core",
             "category": "arithmetic", "difficulty": "easy"}


def jl(*rows):
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)


@pytest.fixture(scope="module")
def ws(tmp_path_factory, tiny_model_dir, smoke_run):
    """A workspace: bad files, a complete run, a killed-looking run, a zip, all under one folder."""
    w = tmp_path_factory.mktemp("bad")
    files = {
        "json.jsonl": jl(GOOD_TRAIN, '{"id": "t2", "question": '),
        "missing.jsonl": jl({k: v for k, v in GOOD_TRAIN.items() if k != "reasoning"}),
        "extra.jsonl": jl({**GOOD_TRAIN, "hint": "x"}),
        "typed.jsonl": jl({**GOOD_TRAIN, "answer": 5}),
        "empty.jsonl": "",
        "dup.jsonl": jl(GOOD_TRAIN, GOOD_TRAIN),
        "emptyanswer.jsonl": jl({**GOOD_TRAIN, "answer": "  "}),
        "gsm.jsonl": jl({"question": "q?", "answer": "steps #### "}),
        "eval_missing.jsonl": jl({k: v for k, v in GOOD_EVAL.items() if k != "expected_answer"}),
        "own.csv": "Problem,Work,Final\nWhat is 2 + 3?,2 + 3 = 5.,5\n",
        "empty.csv": "",
        "fake.parquet": "Problem,Work,Final\nWhat is 2 + 3?,2 + 3 = 5.,5\n",
        "train_ok.jsonl": jl(GOOD_TRAIN, {**GOOD_TRAIN, "id": "t2"}),
        "unknown.yaml": "training:\n  epochs: 1\n  max_batch_tokens: 4096\n  learnig_rate: 0.1\n",
        "syntax.yaml": "training:\n  epochs: [1\n",
        "empty_config.yaml": "# nothing but a comment\n",
        "notrain.yaml": "model:\n  source: builtin:tiny-gemma3\neval:\n  limit: 3\n",
        "dupkey.yaml": "training:\n  epochs: 1\n  learning_rate: 1.0e-4\n  learning_rate: 2.0e-4\n"
                       "  max_batch_tokens: 4096\n",
        "pred_unknown.jsonl": jl({"id": "zz", "prediction": "x"}),
        "pred_bad.jsonl": "not json\n",
        "notazip.zip": "hello",
        "eval_ok.jsonl": jl(GOOD_EVAL),
        "pairs_norejected.jsonl": jl({"prompt": "What is 2 + 3?", "chosen": "<reasoning>2 + 3 = 5</reasoning>"}),
        "pairs_same.jsonl": jl({"prompt": "What is 2 + 3?", "chosen": "<answer>5</answer>", "rejected": "<answer>5</answer>"}),
    }
    for name, text in files.items():
        (w / name).write_text(text)
    (w / "garbage.json").write_bytes(b"\x00\x01\x02 not JSON at all")
    import datasets

    datasets.DatasetDict({"train": datasets.Dataset.from_list([GOOD_TRAIN])}).save_to_disk(str(w / "saved"))
    (w / "latin1.jsonl").write_bytes(b'{"id": "t1", "question": "caf\xe9", "reasoning": "r", "answer": "1"}\n')
    (w / "a_file").write_text("not a folder")
    runs = w / "runs"
    shutil.copytree(smoke_run[1], runs / "done")  # a real complete run (conftest's)
    shutil.copytree(runs / "done", runs / "running")
    m = json.loads((runs / "running" / "run_manifest.json").read_text())
    (runs / "running" / "run_manifest.json").write_text(json.dumps({**m, "run_id": "running", "status": "running"}))
    shutil.copytree(runs / "done", runs / "failed")
    (runs / "failed" / "run_manifest.json").write_text(json.dumps({**m, "run_id": "failed", "status": "failed"}))
    shutil.copytree(runs / "done", runs / "nopred")
    (runs / "nopred" / "predictions.jsonl").unlink()
    shutil.copytree(runs / "done", runs / "nockpt")  # killed before its first checkpoint was whole
    shutil.rmtree(runs / "nockpt" / "checkpoints")
    shutil.copytree(tiny_model_dir, w / "other_model")
    (runs / "broken").mkdir()
    (runs / "broken" / "run_manifest.json").write_text("{not json")
    llama = Path(shutil.copytree(tiny_model_dir, w / "llama"))  # weights fine, architecture Tunix cannot load
    (llama / "config.json").write_text(json.dumps({**json.loads((llama / "config.json").read_text()),
                                                   "model_type": "llama"}))
    (w / "out_exists").mkdir()
    (w / "out_exists" / "eval_summary.json").write_text("{}")
    return w


RUN = ["run", "--config", str(SMOKE), *FAST]
TUNIX_RUN = ["run", "--config", str(SMOKE.with_name("smoke_tiny_tunix.yaml")), *FAST]
CASES = [
    # datasets
    ("validate-data", ["validate-data", "{w}/json.jsonl", "--kind", "train"], "json.jsonl:2: -: invalid JSON"),
    ("missing field", ["validate-data", "{w}/missing.jsonl", "--kind", "train"], "missing.jsonl:1: reasoning: missing"),
    ("extra field", ["validate-data", "{w}/extra.jsonl", "--kind", "train"], "extra.jsonl:1: hint: unexpected field"),
    ("mistyped field", ["validate-data", "{w}/typed.jsonl", "--kind", "train"], "typed.jsonl:1: answer: expected a string"),
    ("empty file", ["validate-data", "{w}/empty.jsonl", "--kind", "eval"], "empty.jsonl: -: no records"),
    ("duplicate ids", ["validate-data", "{w}/dup.jsonl", "--kind", "train"], "dup.jsonl:2: id: duplicate id 't1'"),
    ("non-UTF-8", ["validate-data", "{w}/latin1.jsonl", "--kind", "train"], "latin1.jsonl:1: -: not UTF-8"),
    ("empty answer", ["validate-data", "{w}/emptyanswer.jsonl", "--kind", "train"], "emptyanswer.jsonl:1: answer: is empty"),
    ("gsm8k no answer", ["validate-data", "{w}/gsm.jsonl", "--kind", "eval"], "gsm.jsonl:1: answer: nothing after '####'"),
    ("data file missing", ["validate-data", "{w}/nope.jsonl", "--kind", "train"], "nope.jsonl: file not found"),
    ("bad train file in run", [*RUN, "--set", "data.train_file={w}/missing.jsonl"], "missing.jsonl:1: reasoning: missing"),
    ("bad eval file in run", [*RUN, "--set", "data.eval_file={w}/eval_missing.jsonl"],
     "eval_missing.jsonl:1: expected_answer: missing"),
    ("columns: absent column", ["validate-data", "{w}/own.csv", "--kind", "train", "--columns", "question=Nope"],
     "own.csv: --columns.question: column 'Nope' is not in the data (its columns: Problem, Work, Final)"),
    ("columns: absent column in run", [*RUN, "--set", "data.train_file={w}/own.csv", "--set",
                                       "data.columns={question: Problem, reasoning: Steps, answer: Final}"],
     "data.columns.reasoning: column 'Steps' is not in the data"),
    ("eval columns: absent column", [*RUN, "--set", "data.eval_columns={prompt: Problem}"],
     "eval_v2.jsonl: data.eval_columns.prompt: column 'Problem' is not in the data"),
    ("columns: unknown field", [*RUN, "--set", "data.columns.questoin=Problem"],
     "data.columns.questoin: is not one of our fields"),
    ("row range: not START:STOP", [*RUN, "--set", "data.eval_rows=last200"],
     "data.eval_rows: 'last200' is not a row range; write START:STOP"),
    ("columns: not ours=theirs", ["validate-data", "{w}/own.csv", "--kind", "train", "--columns", "question"],
     "--columns: 'question' is not ours=theirs"),
    ("empty csv", ["validate-data", "{w}/empty.csv", "--kind", "train"], "empty.csv: -: no records"),
    ("unreadable json", ["validate-data", "{w}/garbage.json", "--kind", "train"], "garbage.json: cannot be read as JSON"),
    ("parquet that is a csv", [*RUN, "--set", "data.train_file={w}/fake.parquet"],
     "fake.parquet: cannot be read as PARQUET (ArrowInvalid"),
    ("hf id without network", [*RUN, "--set", "data.train_file=hf:openai/gsm8k", "--set", "data.subset=main"],
     "hf:openai/gsm8k: cannot be read from the HF Hub"),
    ("split that does not exist", [*RUN, "--set", "data.train_file={w}/saved", "--set", "data.split=dev"],
     "data.split: no split 'dev'; it has train"),
    ("mix beside a train file", [*RUN, "--set", "data.mix=[{file: x.csv}]"], "data.train_file: must be null with data.mix"),
    ("mix weight", [*RUN, "--set", "data.train_file=null", "--set", "data.mix=[{file: x.csv, weight: -1}]"],
     "data.mix[0].weight: must be > 0"),
    ("samples too long", [*RUN, "--set", "data.train_file={w}/train_ok.jsonl", "--set", "data.max_seq_len=16",
                          "--set", "training.max_batch_tokens=64"], "data.max_seq_len: all 2 training samples"),
    ("pairs without rejected", ["validate-data", "{w}/pairs_norejected.jsonl", "--kind", "pairs"],
     "pairs_norejected.jsonl:1: rejected: missing (required: prompt, chosen, rejected)"),
    ("pairs without rejected in run", [*RUN, "--set", "preference.pairs_file={w}/pairs_norejected.jsonl"],
     "pairs_norejected.jsonl:1: rejected: missing"),
    ("pair of equal texts", ["validate-data", "{w}/pairs_same.jsonl", "--kind", "pairs"],
     "pairs_same.jsonl:1: rejected: the same text as chosen"),
    # configs
    ("unknown preference algorithm", [*RUN, "--set", "preference.algorithm=kto"],
     "preference.algorithm: 'kto' is not one of 'dpo', 'orpo', 'simpo'"),
    ("judge on every device", [*TUNIX_RUN, "--set", "grpo.judge_source=builtin:tiny-gemma3", "--set",
                               "grpo.rewards.judge=1", "--set", "grpo.judge_devices=1"],
     "grpo.judge_devices: 1 of this machine's 1 devices leaves none for the policy"),
    ("judge on a GPU this machine lacks", [*RUN, "--set", "grpo.beta=0", "--set", "grpo.judge_source=builtin:tiny-gemma3",
                                           "--set", "grpo.rewards.judge=1", "--set", "grpo.judge_devices=1"],
     "grpo.judge_devices: on the PyTorch backend the judge takes 1 CUDA device of its own"),
    ("judge rubric missing", [*RUN, "--set", "grpo.beta=0", "--set", "grpo.judge_source=builtin:tiny-gemma3", "--set",
                              "grpo.rewards.judge=1", "--set", "grpo.judge_rubric={w}/nope.yaml"],
     "grpo.judge_rubric: {w}/nope.yaml: rubric file not found"),
    ("judge that cannot load", [*RUN, "--set", "grpo.beta=0", "--set", "grpo.judge_source={w}/a_file", "--set",
                                "grpo.rewards.judge=1"], "grpo.judge_source ({w}/a_file):"),
    ("judge without a weight", [*RUN, "--set", "grpo.beta=0", "--set", "grpo.judge_source=builtin:tiny-gemma3"],
     "grpo.rewards.judge: is 0 or missing, but grpo.judge_source names a judge"),
    ("unknown key", ["run", "--config", "{w}/unknown.yaml"], "unknown key training.learnig_rate"),
    ("yaml syntax", ["run", "--config", "{w}/syntax.yaml"], "syntax.yaml:3: not valid YAML"),
    ("config missing", ["run", "--config", "{w}/nope.yaml"], "nope.yaml: config file not found"),
    ("empty config", ["run", "--config", "{w}/empty_config.yaml"], "empty_config.yaml: empty config; a preset needs"),
    ("no training section", ["run", "--config", "{w}/notrain.yaml"], "notrain.yaml: section training is missing"),
    ("duplicated key", ["run", "--config", "{w}/dupkey.yaml"],
     "dupkey.yaml:4: key 'learning_rate' given twice in training; keep one"),
    ("wrong type", [*RUN, "--set", "training.grad_accum=two"], "training.grad_accum: expected an integer"),
    ("lr <= 0", [*RUN, "--set", "training.learning_rate=0"], "training.learning_rate: must be > 0"),
    ("negative steps", [*RUN, "--set", "training.max_steps=-3"], "training.max_steps: must be >= 1"),
    ("both lengths", ["run", "--set", "training.max_steps=5"], "set exactly one of training.epochs and training.max_steps"),
    ("bad choice", [*RUN, "--set", "training.optimizer=sgd"], "training.optimizer: 'sgd' is not one of"),
    ("nothing to train", [*RUN, "--set", "training.max_steps=0"],
     "training.max_steps: is 0 (no SFT stage) and there is no grpo or preference section"),
    ("grpo group of one", [*RUN, "--set", "grpo.num_generations=1"], "grpo.num_generations: must be >= 2"),
    ("grpo micro-batch splits a group", [*RUN, "--set", "grpo.micro_batch_size=2"],
     "grpo.micro_batch_size: (2) must be a multiple of grpo.num_generations (4)"),
    ("grpo kv cache too small", [*RUN, "--set", "grpo.max_prompt_len=256", "--set", "grpo.max_new_tokens=512",
                                 "--set", "grpo.kv_cache_size=512"],
     "grpo.kv_cache_size: (512) is smaller than grpo.max_prompt_len + grpo.max_new_tokens (256 + 512 = 768)"),
    ("grpo unknown reward", [*RUN, "--set", "grpo.rewards.correctness=1"],
     "grpo.rewards.correctness: unknown reward; valid rewards: format_exact"),
    ("torch grpo iterations", [*RUN, "--set", "grpo.num_iterations=2"],
     "grpo.num_iterations: the PyTorch GRPO stage updates once per rollout batch"),
    ("torch grpo kl without lora", [*RUN, "--set", "training.lora=null", "--set", "grpo.beta=0.04"],
     "grpo.beta: the KL reference is the policy with its LoRA adapters disabled"),
    ("bad --set", [*RUN, "--set", "training.max_steps"], "expected section.key=value"),
    ("model folder missing", [*RUN, "--set", "model.source={w}/no_model"], "model.source:"),
    ("not a model folder", [*RUN, "--set", "model.source={w}/runs"], "has no config.json"),
    ("unknown builtin", [*RUN, "--set", "model.source=builtin:giant"], "unknown model 'builtin:giant'"),
    ("bad kaggle handle", [*RUN, "--set", "model.source=kaggle:google"], "is not a Kaggle handle"),
    ("absent cuda", [*RUN, "--set", "training.device=cuda"], "training.device: cuda was asked for but none is visible"),
    ("absent tpu", [*RUN, "--set", "training.device=tpu"], "training.device: tpu was asked for but none is visible"),
    ("lora target", [*RUN, "--set", "training.lora.target_modules=[query]"], "training.lora.target_modules: query not found"),
    ("batch < seq", [*RUN, "--set", "training.max_batch_tokens=100"], "training.max_batch_tokens: (100) is smaller"),
    ("bad run id", [*RUN, "--run-id", "../x"], "output.run_id: '../x' is not a valid run id"),
    ("torch with a tunix option", [*RUN, "--set", "training.tensor_parallel=2"],
     "training.tensor_parallel: is used by backend: tunix only"),
    ("tunix lora dropout", [*TUNIX_RUN, "--set", "training.lora.dropout=0.1"], "training.lora.dropout: the Tunix backend"),
    ("tunix with packing", [*TUNIX_RUN, "--set", "training.packing=true"], "training.packing: is a PyTorch backend lever"),
    ("tunix non-gemma model", [*TUNIX_RUN, "--set", "model.source={w}/llama"], "is a 'llama' model; the Tunix backend"),
    ("tunix tp over kv heads", [*TUNIX_RUN, "--set", "training.tensor_parallel=2"],
     "training.tensor_parallel: 2 does not divide the model's 4 attention heads and 1 KV heads"),
    # run dirs
    ("complete run dir", [*RUN, "--run-id", "done", "--set", "output.root={w}/runs"], "done: run dir already exists and is complete"),
    ("different config resume", [*RUN, "--run-id", "running", "--set", "output.root={w}/runs",
                                 "--set", "training.seed=9"], "started with a different config"),
    ("continue from a non-run", [*RUN, "--continue-from", "{w}/saved"], "--continue-from " + "{w}/saved: not a run dir"),
    ("continue without a checkpoint", [*RUN, "--continue-from", "{w}/runs/nockpt"],
     "nockpt: no whole checkpoint to continue from"),
    ("continue another model", [*RUN, "--set", "model.source={w}/other_model", "--continue-from", "{w}/runs/done"],
     "done: model.source was 'builtin:tiny-gemma3' there and is '{w}/other_model' here"),
    ("continue another recipe", [*RUN, "--set", "training.learning_rate=0.1", "--continue-from", "{w}/runs/done"],
     "training.learning_rate was 0.003 there and is 0.1 here; a continued run keeps its recipe"),
    ("continue on other data", [*RUN, "--set", "data.train_file={w}/train_ok.jsonl", "--continue-from", "{w}/runs/done"],
     "done: the train data differs from the data that run trained on"),
    ("unreadable manifest", [*RUN, "--run-id", "broken", "--set", "output.root={w}/runs"], "broken/run_manifest.json: cannot read the manifest"),
    ("root not writable", [*RUN, "--set", "output.root={w}/a_file"], "a_file: cannot create the run dir"),
    ("status of a non-run", ["status", "{w}/runs/broken"], "cannot read the manifest"),
    ("eval of an unfinished run", ["eval", "--model", "{w}/runs/running", "--eval", "training/data/eval_v2.jsonl"],
     "running: the run is running, not complete; evaluate a finished run"),
    ("eval of a missing model", ["eval", "--model", "{w}/no_model", "--eval", "training/data/eval_v2.jsonl"], "model.source:"),
    ("eval of a bad eval file", ["eval", "--model", "builtin:tiny-gemma3", "--eval", "{w}/eval_missing.jsonl"],
     "eval_missing.jsonl:1: expected_answer: missing"),
    # exports
    ("export of an unfinished run", ["export", "{w}/runs/running", "--format", "hf", "--out", "{w}/e1"],
     "running: the run is running, not complete; export a finished run"),
    ("export of a failed run", ["export", "{w}/runs/failed", "--format", "tunix", "--out", "{w}/e0"],
     "failed: the run is failed, not complete; export a finished run"),
    ("export in an unknown format", ["export", "{w}/runs/done", "--format", "onnx", "--out", "{w}/e2"],
     "--format onnx: unknown format; use one of tunix, hf, peft"),
    ("export peft of a full fine-tune", ["export", "{w}/runs/done", "--format", "peft", "--out", "{w}/e3"],
     "--format peft: the adapter alone comes from a PyTorch LoRA run; done is backend torch without LoRA"),
    ("export over a folder", ["export", "{w}/runs/done", "--format", "hf", "--out", "{w}/out_exists"],
     "out_exists: already exists; pick a new folder"),
    ("export of a non-run", ["export", "{w}/saved", "--format", "hf", "--out", "{w}/e4"], "saved: not a run dir"),
    ("export upload handle", ["export", "{w}/runs/done", "--format", "tunix", "--out", "{w}/e5", "--upload", "me/x"],
     "--upload me/x: a Kaggle model handle is OWNER/MODEL/FRAMEWORK/VARIATION"),
    # scoring
    ("score unknown id", ["score", "{w}/pred_unknown.jsonl", "--eval", "{w}/eval_ok.jsonl", "--out", "{w}/o1"], "'zz'"),
    ("score bad line", ["score", "{w}/pred_bad.jsonl", "--eval", "{w}/eval_ok.jsonl", "--out", "{w}/o2"], "pred_bad.jsonl:1"),
    ("score out exists", ["score", "{w}/pred_unknown.jsonl", "--eval", "{w}/eval_ok.jsonl", "--out", "{w}/out_exists"],
     "already exists"),
    # notebooks
    ("notebook param", ["notebook", "notebooks/local_gpu.ipynb", "-p", "CONFG", "x"], "-p CONFG: not a parameter"),
    ("notebook missing", ["notebook", "notebooks/nope.ipynb"], "nope.ipynb: notebook not found"),
]
PACKAGING = [
    ("package missing run dir", ["--run-dir", "{w}/runs/nope"], "nope"),
    ("package unfinished run", ["--run-dir", "{w}/runs/running", "--out", "{w}/p1.zip"], "status is 'running'"),
    ("package missing evidence", ["--run-dir", "{w}/runs/nopred", "--out", "{w}/p2.zip"], "predictions.jsonl"),
    ("verify not a zip", ["--verify", "{w}/notazip.zip"], "notazip.zip"),
]


def listing(*roots):
    out = {}
    for root in roots:
        for p in Path(root).rglob("*"):
            if p.is_file() and "__pycache__" not in p.parts:
                st = p.stat()
                out[p] = (st.st_size, st.st_mtime_ns)
    return out


def check(code, err, fragment, before, roots):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert fragment in lines[0], lines[0]
    assert listing(*roots) == before  # nothing new, nothing changed


@pytest.mark.parametrize("name, argv, fragment", CASES, ids=[c[0] for c in CASES])
def test_cli_bad_input(name, argv, fragment, ws, capsys, monkeypatch):
    import datasets
    import huggingface_hub.constants

    monkeypatch.chdir(ROOT)
    # No network reaches the Hub here; offline mode fails the same way without 23 s of retries.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    roots = [ws, ROOT / "submission_runs", ROOT / "dist", ROOT / "training"]
    before = listing(*roots)
    code = cli.main([a.replace("{w}", str(ws)) for a in argv])
    check(code, capsys.readouterr().err, fragment.replace("{w}", str(ws)), before, roots)


def _tool():
    spec = importlib.util.spec_from_file_location("package_submission", ROOT / "tools" / "package_submission.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name, argv, fragment", PACKAGING, ids=[c[0] for c in PACKAGING])
def test_packaging_bad_input(name, argv, fragment, ws, capsys):
    roots = [ws, ROOT / "dist"]
    before = listing(*roots)
    code = _tool().main([a.replace("{w}", str(ws)) for a in argv])
    out = capsys.readouterr()
    assert code == 2 and "Traceback" not in out.err and fragment in out.err, out.err
    assert listing(*roots) == before


def test_there_are_at_least_thirty_cases():
    assert len(CASES) + len(PACKAGING) >= 30
