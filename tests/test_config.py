from pathlib import Path

import pytest

from conftest import ROOT, run_cli
from tunix_nb.config import Config, load_config
from tunix_nb.errors import UserError

PRESETS = sorted((ROOT / "training" / "configs").glob("*.yaml"))


def test_presets_exist():
    names = {p.name for p in PRESETS}
    assert {"smoke_tiny.yaml", "submission_local_gpu.yaml"} <= names


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_every_shipped_config_loads_and_has_a_command_header(path: Path):
    cfg = load_config(path)
    assert isinstance(cfg, Config)
    assert cfg.name == path.stem
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    assert any("tunix-nb run --config training/configs/" + path.name in line for line in header), \
        "the header comment must give the preset's command"


def test_submission_local_gpu_is_the_users_recipe_with_the_fast_levers():
    cfg = load_config(ROOT / "training/configs/submission_local_gpu.yaml")
    t = cfg.training
    assert (t.dtype, t.optimizer, t.learning_rate, t.epochs) == ("bf16", "adafactor", 2e-5, 3)
    assert (t.packing, t.loss_chunk_size, t.compile, t.gradient_checkpointing) == (True, 256, True, False)
    # One packed row per step of ~4 samples (the recipe's batch 1 x accumulation 4).
    assert (t.max_batch_tokens, t.grad_accum, cfg.data.max_seq_len) == (512, 1, 512)
    assert cfg.model.attn_implementation == "flex_attention"  # attention kept inside each packed sample


def test_overrides_are_typed_and_nested():
    cfg = load_config(None, ["training.epochs=null", "training.max_steps=17", "training.learning_rate=1e-4",
                             "eval.limit=3", "training.lora.rank=4"])
    assert cfg.training.max_steps == 17 and cfg.training.epochs is None
    assert cfg.training.learning_rate == pytest.approx(1e-4)
    assert cfg.eval.limit == 3
    assert cfg.training.lora.rank == 4 and cfg.training.lora.alpha == 32  # null section switched on


def test_config_is_frozen_and_keyword_only():
    cfg = load_config()
    with pytest.raises(Exception):
        cfg.training.learning_rate = 1.0  # type: ignore[misc]
    from tunix_nb.config import EvalConfig
    with pytest.raises(TypeError):
        EvalConfig(10)  # type: ignore[misc]


def test_hash_changes_with_any_value():
    assert load_config().hash() == load_config().hash()
    assert load_config().hash() != load_config(None, ["training.seed=1"]).hash()


@pytest.mark.parametrize("override, fragment", [
    ("training.lr=1", "unknown key training.lr; valid keys in training: backend, device"),
    ("training.learning_rate=-1", "training.learning_rate: must be > 0"),
    ("training.learning_rate=fast", "training.learning_rate: expected a number"),
    ("training.max_steps=10", "set exactly one of training.epochs and training.max_steps"),
    ("training.grad_accum=1.5", "training.grad_accum: expected an integer"),
    ("training.optimizer=sgd", "training.optimizer: 'sgd' is not one of 'adamw', 'adafactor'"),
    ("training.max_batch_tokens=100", "training.max_batch_tokens: (100) is smaller than data.max_seq_len"),
    ("training.lora.target_modules=[]", "training.lora.target_modules: is empty"),
    ("output.run_id=../escape", "output.run_id: '../escape' is not a valid run id"),
    ("eval.limit=0", "eval.limit: must be >= 1"),
    ("training.loss_chunk_size=0", "training.loss_chunk_size: must be >= 1 or null"),
])
def test_bad_values_name_the_field_and_the_fix(override, fragment):
    with pytest.raises(UserError) as e:
        load_config(None, [override])
    assert fragment in str(e.value)
    assert "smoke_tiny.yaml" in str(e.value)


def test_bad_yaml_names_the_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("training:\n  epochs: 1\n  lr: [unclosed\n")
    with pytest.raises(UserError, match=r"bad.yaml:\d+: not valid YAML"):
        load_config(p)


def test_cli_bad_config_exits_2_with_one_line(tmp_path):
    p = tmp_path / "typo.yaml"
    p.write_text("training:\n  epochs: 1\n  max_batch_tokens: 4096\n  learnig_rate: 0.1\n")
    res = run_cli("run", "--config", str(p), "--set", f"output.root={tmp_path / 'runs'}")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert "typo.yaml" in lines[0] and "unknown key training.learnig_rate" in lines[0]
    assert "learning_rate" in lines[0]  # the valid keys are listed
    assert not (tmp_path / "runs").exists()  # nothing written


def test_packing_needs_a_row_length_and_no_row_count():
    with pytest.raises(UserError, match="training.packing: needs training.max_batch_tokens"):
        load_config(None, ["training.packing=true", "training.max_batch_tokens=null", "training.micro_batch_size=4"])
    with pytest.raises(UserError, match="training.micro_batch_size: must be null with training.packing"):
        load_config(None, ["training.packing=true", "training.micro_batch_size=4"])
    assert load_config(None, ["training.packing=true"]).training.packing


# --- the grpo section -------------------------------------------------------------------------

NO_SFT = ["training.epochs=null", "training.max_steps=0"]


def test_grpo_is_off_by_default_and_a_set_switches_it_on_with_the_starters_defaults():
    assert load_config().grpo is None
    g = load_config(None, ["grpo.max_steps=5"]).grpo
    assert g.max_steps == 5
    assert (g.num_generations, g.prompts_per_step, g.micro_batch_size, g.num_iterations) == (4, 2, None, 1)
    assert (g.learning_rate, g.warmup_ratio, g.lr_schedule) == (3e-6, 0.1, "cosine")
    assert (g.adam_b1, g.adam_b2, g.weight_decay, g.max_grad_norm) == (0.9, 0.99, 0.1, 0.1)
    assert (g.beta, g.epsilon, g.epsilon_high, g.loss) == (0.08, 0.2, None, "grpo")
    assert (g.temperature, g.top_k, g.top_p) == (0.9, 50, 1.0)
    assert (g.max_prompt_len, g.max_new_tokens, g.kv_cache_size, g.overlong_soft_tokens) == (256, 768, None, 128)
    assert (g.prompt_file, g.prompt_limit, g.seed, g.log_every, g.save_every) == (None, None, None, 1, None)
    assert g.rewards == {"format_exact": 1.0, "format_partial": 0.5, "answer_correct": 2.0,
                         "numeric_close": 0.5, "overlong": 0.5}
    assert (g.cache_size, g.clip_high, g.rollouts_per_step) == (1024, 0.2, 8)


def test_grpo_defaults_do_not_share_the_rewards_dict():
    from tunix_nb.config import GrpoConfig
    a, b = GrpoConfig(), GrpoConfig(rewards={"overlong": 0})
    assert a.rewards["overlong"] == 0.5 and b.rewards["overlong"] == 0.0
    assert GrpoConfig().rewards["overlong"] == 0.5


def test_grpo_null_section_stays_off(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("training:\n  epochs: 1\n  max_batch_tokens: 4096\n  lora:\ngrpo:\n")
    cfg = load_config(p)
    assert cfg.grpo is None and cfg.training.lora is None


def test_rewards_from_yaml_merge_over_the_defaults(tmp_path):
    p = tmp_path / "g.yaml"
    p.write_text("training:\n  epochs: 1\n  max_batch_tokens: 4096\n"
                 "grpo:\n  max_steps: 7\n  rewards: {answer_correct: 3, overlong: 0, format_exact: 2e-1}\n")
    g = load_config(p).grpo
    assert g.max_steps == 7
    # every weight is recorded (REWARDS order); a name not given keeps its default
    assert g.rewards == {"format_exact": 0.2, "format_partial": 0.5, "answer_correct": 3.0,
                         "numeric_close": 0.5, "overlong": 0.0}
    assert all(type(w) is float for w in g.rewards.values())


def test_rewards_via_set_and_the_dict_survives_to_dict_hash_and_yaml(tmp_path):
    cfg = load_config(None, ["grpo.rewards.answer_correct=3"])
    assert cfg.grpo.rewards["answer_correct"] == 3.0 and cfg.grpo.rewards["format_exact"] == 1.0
    assert cfg.to_dict()["grpo"]["rewards"]["answer_correct"] == 3.0
    assert cfg.hash() != load_config(None, ["grpo.rewards.answer_correct=4"]).hash()
    assert cfg.hash() == load_config(None, ["grpo.rewards.answer_correct=3.0"]).hash()
    p = tmp_path / "resolved.yaml"
    p.write_text(cfg.to_yaml())
    again = load_config(p)
    assert again.grpo == cfg.grpo and again.hash() == cfg.hash()


def test_a_switched_off_grpo_or_preference_leaves_the_hash_as_before():
    cfg = load_config()
    import hashlib, json
    d = cfg.to_dict()
    del d["grpo"], d["preference"]
    assert cfg.hash() == hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
    assert cfg.hash() != load_config(None, ["grpo.max_steps=100"]).hash()
    assert cfg.hash() != load_config(None, ["preference.max_steps=10"]).hash()


def test_grpo_works_with_both_backends():
    for preset in ("smoke_tiny.yaml", "smoke_tiny_tunix.yaml"):
        assert load_config(ROOT / "training/configs" / preset, ["grpo.max_steps=3"]).grpo.max_steps == 3


def test_dapo_with_beta_0_and_its_clip_higher_default():
    g = load_config(None, ["grpo.loss=dapo", "grpo.beta=0"]).grpo
    assert g.clip_high == 0.28
    assert load_config(None, ["grpo.loss=dapo", "grpo.beta=0", "grpo.epsilon_high=0.3"]).grpo.clip_high == 0.3
    assert load_config(None, ["grpo.epsilon_high=0.25"]).grpo.clip_high == 0.25


def test_micro_batches_of_whole_groups_are_accepted():
    for mb in (4, 8):
        assert load_config(None, [f"grpo.micro_batch_size={mb}"]).grpo.micro_batch_size == mb


@pytest.mark.parametrize("overrides, fragment", [
    (["grpo.num_generations=1"], "grpo.num_generations: must be >= 2"),
    (["grpo.prompts_per_step=0"], "grpo.prompts_per_step: must be >= 1"),
    (["grpo.micro_batch_size=2"], "grpo.micro_batch_size: (2) must be a multiple of grpo.num_generations (4)"),
    (["grpo.micro_batch_size=6"], "google/tunix#816); use one of 4, 8 or null"),
    (["grpo.micro_batch_size=16"], "grpo.micro_batch_size: (16) must be a multiple"),
    (["grpo.max_steps=0"], "grpo.max_steps: must be >= 1"),
    (["grpo.learning_rate=0"], "grpo.learning_rate: must be > 0"),
    (["grpo.warmup_ratio=1"], "grpo.warmup_ratio: must be in [0, 1)"),
    (["grpo.lr_schedule=step"], "grpo.lr_schedule: 'step' is not one of"),
    (["grpo.adam_b2=1.0"], "grpo.adam_b2: must be in [0, 1)"),
    (["grpo.weight_decay=-1"], "grpo.weight_decay: must be >= 0"),
    (["grpo.max_grad_norm=0"], "grpo.max_grad_norm: must be > 0 or null"),
    (["grpo.beta=-0.1"], "grpo.beta: must be >= 0"),
    (["grpo.epsilon=0"], "grpo.epsilon: must be > 0"),
    (["grpo.epsilon_high=0.1"], "grpo.epsilon_high: (0.1) must be >= grpo.epsilon (0.2)"),
    (["grpo.loss=ppo"], "grpo.loss: 'ppo' is not one of 'grpo', 'dr_grpo', 'dapo'"),
    (["grpo.loss=dapo"], "grpo.beta: must be 0 with grpo.loss: dapo"),
    (["grpo.loss=dapo", "grpo.beta=0", "grpo.epsilon=0.3"], "grpo.epsilon_high: is null, so DAPO's 0.28"),
    (["grpo.num_iterations=0"], "grpo.num_iterations: must be >= 1"),
    (["grpo.temperature=0"], "grpo.temperature: must be > 0"),
    (["grpo.top_k=0"], "grpo.top_k: must be >= 1 or null"),
    (["grpo.top_p=0"], "grpo.top_p: must be in (0, 1]"),
    (["grpo.top_p=1.5"], "grpo.top_p: must be in (0, 1]"),
    (["grpo.max_prompt_len=0"], "grpo.max_prompt_len: must be >= 1"),
    (["grpo.max_new_tokens=0"], "grpo.max_new_tokens: must be >= 1"),
    (["grpo.kv_cache_size=1000"], "grpo.kv_cache_size: (1000) is smaller than grpo.max_prompt_len + "
                                  "grpo.max_new_tokens (256 + 768 = 1024); raise it to at least 1024"),
    (["grpo.prompt_limit=0"], "grpo.prompt_limit: must be >= 1 or null"),
    (["grpo.rewards.correctness=1"], "grpo.rewards.correctness: unknown reward; valid rewards: format_exact, "
                                     "format_partial, answer_correct, numeric_close, overlong"),
    (["grpo.rewards.overlong=much"], "grpo.rewards.overlong: expected a number, got 'much'"),
    (["grpo.rewards.overlong=true"], "grpo.rewards.overlong: expected a number"),
    (["grpo.rewards=[answer_correct]"], "grpo.rewards: expected a mapping of names to numbers"),
    (["grpo.rewards={format_exact: 0, format_partial: 0, answer_correct: 0, numeric_close: 0, overlong: 0}"],
     "grpo.rewards: every weight is 0"),
    (["grpo.overlong_soft_tokens=768"], "grpo.overlong_soft_tokens: (768) must be >= 1 and smaller than "
                                        "grpo.max_new_tokens (768)"),
    (["grpo.overlong_soft_tokens=0"], "grpo.overlong_soft_tokens: (0) must be >= 1"),
    (["grpo.log_every=0"], "grpo.log_every: must be >= 1"),
    (["grpo.save_every=0"], "grpo.save_every: must be >= 1 or null"),
    (["grpo.steps=3"], "unknown key grpo.steps; valid keys in grpo: num_generations"),
    ([*NO_SFT], "training.max_steps: is 0 (no SFT stage) and there is no grpo or preference section, so nothing would be trained"),
    (["training.epochs=null", "training.max_steps=-1", "grpo.max_steps=3"], "training.max_steps: must be >= 1"),
    (["grpo.rewards.judge=1"], "grpo.judge_source: is null, but grpo.rewards.judge weighs the judge reward"),
    (["grpo.judge_source=packaged:gemma-3-270m"], "grpo.rewards.judge: is 0 or missing, but grpo.judge_source"),
    (["grpo.judge_source=packaged:gemma-3-270m", "grpo.rewards.judge=1", "grpo.judge_devices=0"],
     "grpo.judge_devices: must be >= 1 or null"),
    (["grpo.judge_devices=4"], "grpo.judge_devices: is set but there is no judge"),
    (["grpo.rewards.vibes=1"], "grpo.rewards.vibes: unknown reward; valid rewards: format_exact"),
])
def test_grpo_refusals_name_the_field(overrides, fragment):
    with pytest.raises(UserError) as e:
        load_config(None, overrides)
    assert fragment in str(e.value)


def test_no_sft_stage_with_grpo():
    cfg = load_config(None, [*NO_SFT, "grpo.max_steps=3"])
    assert cfg.training.max_steps == 0 and not cfg.runs_sft and cfg.grpo.max_steps == 3
    assert load_config().runs_sft
    # the SFT-only checks do not apply without an SFT stage: warm-up 10 (smoke) and no batch shape
    assert cfg.training.warmup_steps == 10
    assert load_config(None, [*NO_SFT, "grpo.max_steps=3", "training.max_batch_tokens=null"]).grpo
    # ...and still apply with one
    with pytest.raises(UserError, match="training.warmup_steps: \\(10\\) must be smaller than training.max_steps"):
        load_config(None, ["training.epochs=null", "training.max_steps=5"])
    with pytest.raises(UserError, match="training.max_batch_tokens: set training.max_batch_tokens"):
        load_config(None, ["training.max_batch_tokens=null"])


# --- YAML loading that never ends in a traceback -----------------------------------------------

@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n# and another\n", "---\n"])
def test_an_empty_config_is_refused_naming_the_file(tmp_path, text):
    p = tmp_path / "empty.yaml"
    p.write_text(text)
    with pytest.raises(UserError) as e:
        load_config(p, ["training.max_steps=3"])
    assert str(e.value) == (f"{p}: empty config; a preset needs at least a training section, "
                            "see training/configs/smoke_tiny.yaml")


@pytest.mark.parametrize("text", ["model:\n  source: builtin:tiny-gemma3\n", "training:\nmodel: {}\n", "{}\n"])
def test_a_missing_training_section_is_refused(tmp_path, text):
    p = tmp_path / "notrain.yaml"
    p.write_text(text)
    with pytest.raises(UserError) as e:
        load_config(p)
    assert str(e.value).startswith(f"{p}: section training is missing; ")
    assert "smoke_tiny.yaml" in str(e.value)


def test_missing_or_null_sections_take_their_defaults(tmp_path):
    from tunix_nb.config import DataConfig, EvalConfig, ModelConfig, OutputConfig
    p = tmp_path / "only_training.yaml"
    p.write_text("training:\n  epochs: 1\n  max_batch_tokens: 4096\n")
    cfg = load_config(p)
    assert (cfg.model, cfg.data, cfg.eval, cfg.output, cfg.grpo) == (
        ModelConfig(), DataConfig(), EvalConfig(), OutputConfig(), None)
    p.write_text("model:\ndata:\neval:\noutput:\ngrpo:\ntraining:\n  epochs: 1\n  max_batch_tokens: 4096\n")
    cfg = load_config(p)
    assert (cfg.model, cfg.data, cfg.eval, cfg.output, cfg.grpo) == (
        ModelConfig(), DataConfig(), EvalConfig(), OutputConfig(), None)


@pytest.mark.parametrize("text, line, fragment", [
    ("training:\n  epochs: 1\n  learning_rate: 1e-4\n  max_batch_tokens: 4096\n  learning_rate: 2e-4\n",
     5, "key 'learning_rate' given twice in training; keep one"),
    ("training:\n  epochs: 1\n  max_batch_tokens: 4096\n  lora:\n    rank: 4\n    rank: 8\n",
     6, "key 'rank' given twice in training.lora; keep one"),
    ("training:\n  epochs: 1\n  max_batch_tokens: 4096\ngrpo:\n  rewards:\n    overlong: 1\n    overlong: 0\n",
     7, "key 'overlong' given twice in grpo.rewards; keep one"),
    ("training:\n  epochs: 1\n  max_batch_tokens: 4096\neval:\n  limit: 3\ntraining:\n  epochs: 2\n",
     6, "key 'training' given twice at the top level; keep one"),
    ("training: {epochs: 1, epochs: 2, max_batch_tokens: 4096}\n", 1, "key 'epochs' given twice in training; keep one"),
])
def test_a_key_given_twice_is_refused_with_its_line(tmp_path, text, line, fragment):
    p = tmp_path / "dup.yaml"
    p.write_text(text)
    with pytest.raises(UserError) as e:
        load_config(p)
    assert str(e.value) == f"{p}:{line}: {fragment}"


def test_yaml_merge_keys_may_still_override(tmp_path):
    p = tmp_path / "merge.yaml"
    p.write_text("training:\n  epochs: 1\n  max_batch_tokens: 4096\n"
                 "eval:\n  <<: {limit: 3, batch_size: 4}\n  limit: 5\n")
    assert (load_config(p).eval.limit, load_config(p).eval.batch_size) == (5, 4)


def test_the_duplicate_check_is_only_in_config_loading():
    import yaml
    assert yaml.safe_load("a: 1\na: 2\n") == {"a": 2}


@pytest.mark.parametrize("preset", ["submission_tpu_gemma3_1b", "submission_tpu_gemma2_2b", "submission_local_gpu"])
def test_the_presets_people_run_train_on_a_mix_of_gsm8k_by_hf_id_and_our_v3_data(preset):
    from tunix_nb.sources import source_kind

    d = load_config(ROOT / f"training/configs/{preset}.yaml").data
    assert d.train_file is None and len(d.mix) == 2 and d.eval_file == "training/data/eval_v3.jsonl"
    kinds = [source_kind(m.file) for m in d.mix]  # resolved without reading: no Hub access
    assert kinds == ["hf", "jsonl"]
    gsm8k = d.mix[0]
    assert (gsm8k.file, gsm8k.subset, gsm8k.split) == ("hf:openai/gsm8k", "main", "train")
    assert gsm8k.weight > d.mix[1].weight and d.mix[1].file == "training/data/dev-reasoning-v3.jsonl"


def test_changed_only_yaml_lists_what_differs_from_the_defaults_and_loads_back_to_the_same_config(tmp_path):
    """What the notebook prints: only the chosen values (nested sections and mix entries too); loaded
    back as a preset it is the same config, so nothing that matters was left out."""
    import yaml

    cfg = load_config(ROOT / "training/configs/smoke_tiny.yaml", [
        "training.learning_rate=0.01", "training.grad_accum=1",  # the second is the default: not listed
        "data.train_file=null", "data.mix=[{file: training/data/dev-reasoning-v2.jsonl, weight: 0.5}]"])
    short = yaml.safe_load(cfg.to_yaml(changed_only=True))
    assert short["training"]["learning_rate"] == 0.01 and "grad_accum" not in short["training"]
    assert short["data"]["mix"] == [{"file": "training/data/dev-reasoning-v2.jsonl", "weight": 0.5}]
    assert short["name"] == "smoke_tiny" and "output" not in short  # a section left at its defaults
    assert len(cfg.to_yaml(changed_only=True).splitlines()) < len(cfg.to_yaml().splitlines()) / 4
    p = tmp_path / "short.yaml"
    p.write_text(yaml.safe_dump({k: v for k, v in short.items() if k != "name"}))
    assert load_config(p).to_dict() | {"name": cfg.name} == cfg.to_dict()
