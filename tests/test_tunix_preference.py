"""The preference stage on the Tunix backend (Tunix's DPOTrainer), whole, through the CLI on the tiny
model with LoRA: DPO alone (Tunix's loss, our reference log-probs put into its TrainExample) on a
pairs file. DPO's first step has the loss ln 2 exactly (the policy is its own reference); the
held-out margin rises; the checkpoints are in the judges' layout. On-policy sampling is seeded: the
same texts twice. (SFT -> SimPO on on-policy pairs -> GRPO, and the judges' restore after it, run in
the recipe test: tests/test_tunix_judge.py.)"""

import json
import math

import pytest

from conftest import ROOT, run_cli
from tunix_nb.evidence import read_jsonl
from tunix_nb.inputs import load_records
from tunix_nb.prompts import END_OF_TURN, format_completion

TUNIX = ROOT / "training" / "configs" / "smoke_tiny_tunix.yaml"
FAST = ["--set", "training.epochs=null", "--set", "training.max_steps=0",
        "--set", "eval.limit=6", "--set", "eval.max_new_tokens=16", "--set", "eval.batch_size=6",
        "--set", "preference.max_steps=4", "--set", "preference.learning_rate=1e-3", "--set", "preference.held_out=4"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tunix_pref")
    pairs = root / "pairs.jsonl"  # the worked solution preferred to a bare claim of its answer
    pairs.write_text("".join(json.dumps({"id": r.id, "prompt": r.question, "rejected": f"The answer is {r.answer}.",
                                         "chosen": format_completion(r.reasoning, r.answer).removesuffix(END_OF_TURN)})
                             + "\n" for r in load_records(ROOT / "training/data/dev-reasoning-v2.jsonl", "train")[:12]))
    res = run_cli("run", "--config", str(TUNIX), "--run-id", "dpo", "--set", f"output.root={root}", *FAST,
                  "--set", "preference.algorithm=dpo", "--set", f"preference.pairs_file={pairs}")
    assert res.returncode == 0, res.stderr[-3000:]
    return root


def rows(run_dir):
    return [r for r in read_jsonl(run_dir / "metrics.jsonl") if r.get("stage") == "preference"]


def test_dpo_starts_at_ln2_and_raises_the_held_out_margin(runs):
    m = json.loads((runs / "dpo" / "run_manifest.json").read_text())
    info = m["preference"]
    assert info["held_out_pairs"] == 4 and info["training_pairs"] == 8
    assert info["held_out_margin_after"] > info["held_out_margin_before"], info
    first = rows(runs / "dpo")[0]
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-5) and first["margin"] == pytest.approx(0, abs=1e-5)
    assert len(read_jsonl(runs / "dpo" / "preference_reference.jsonl")) == 8
    assert set(m["eval_stages"]) == {"preference"}
    assert (runs / "dpo" / "checkpoints" / "actor" / "4" / "model_params").is_dir()  # the judges' CKPT_DIR layout


def test_on_policy_sampling_is_seeded_and_gives_n_texts_per_prompt(tiny_model_dir, tiny_tokenizer):
    """Tunix's sampler at preference's temperature: num_samples texts a prompt, the same on a rerun,
    not all alike (a pair needs two different ones)."""
    from types import SimpleNamespace

    from tunix_nb.backends.tunix import load, preference
    from tunix_nb.config import load_config
    from tunix_nb.data import grpo_prompts

    cfg = load_config(TUNIX, ["preference.num_samples=3", "preference.max_new_tokens=12", "eval.batch_size=4"])
    policy = load.load(cfg, SimpleNamespace(path=tiny_model_dir), SimpleNamespace(dtype="fp32"))
    prompts, _ = grpo_prompts(load_records(ROOT / "training/data/dev-reasoning-v2.jsonl", "train")[:3], tiny_tokenizer, 256)
    first = preference.sample(policy, tiny_tokenizer, prompts, cfg=cfg, plan=None)
    assert [len(texts) for texts in first] == [3, 3, 3]
    assert preference.sample(policy, tiny_tokenizer, prompts, cfg=cfg, plan=None) == first
    assert len({t for texts in first for t in texts}) > 3
