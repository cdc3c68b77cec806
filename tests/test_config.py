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
