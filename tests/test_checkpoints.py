"""The checkpoint layouts (tunix_nb/checkpoints.py), on folders made here: whole checkpoints only,
in step order (not name order), leftovers of a cut-short write recognised, the run's own backend."""

import json

import pytest

from tunix_nb import checkpoints


def make_torch(root, step, whole=True):
    d = checkpoints.torch_dir(root, step)
    d.mkdir(parents=True)
    if whole:
        (d / checkpoints.TRAINER_STATE).write_bytes(b"x")
    return d


def make_tunix(root, step):
    checkpoints.tunix_params(root, step).mkdir(parents=True)
    return checkpoints.tunix_dir(root, step)


def test_torch_layout_lists_whole_checkpoints_in_step_order(tmp_path):
    a, b = make_torch(tmp_path, 8), make_torch(tmp_path, 1000000)  # step-1000000 sorts before step-000008 by name
    make_torch(tmp_path, 12, whole=False)  # no trainer state: not whole
    checkpoints.torch_tmp_dir(tmp_path, 16).mkdir()
    assert a.name == "step-000008"
    assert checkpoints.saved(tmp_path, "torch") == [(8, a), (1000000, b)]
    assert checkpoints.torn(tmp_path, "torch") == [tmp_path / ".tmp-step-000016"]
    assert checkpoints.latest(tmp_path, "torch") == (1000000, b)


def test_tunix_layout_is_the_judges(tmp_path):
    a, b = make_tunix(tmp_path, 20), make_tunix(tmp_path, 100)
    (tmp_path / "actor" / "60.orbax-checkpoint-tmp-1" / "model_params").mkdir(parents=True)
    (tmp_path / "actor" / "80").mkdir()  # no model_params: not a checkpoint
    assert checkpoints.tunix_params(tmp_path, 20) == tmp_path / "actor" / "20" / "model_params"
    assert checkpoints.saved(tmp_path, "tunix") == [(20, a), (100, b)]
    assert checkpoints.torn(tmp_path, "tunix") == [tmp_path / "actor" / "60.orbax-checkpoint-tmp-1"]
    assert checkpoints.saved(tmp_path / "nothing", "tunix") == [] and checkpoints.latest(tmp_path / "nothing", None) is None


def test_latest_follows_the_manifests_backend_and_either_layout_without_one(tmp_path):
    root = tmp_path / "checkpoints"
    make_torch(root, 50)
    tunix = make_tunix(root, 6)
    assert checkpoints.run_backend(tmp_path) is None  # no manifest
    assert checkpoints.latest(root, None) == (50, checkpoints.torch_dir(root, 50))
    (tmp_path / "run_manifest.json").write_text(json.dumps({"device_plan": {"backend": "tunix"}}))
    assert checkpoints.run_backend(tmp_path) == "tunix"
    assert checkpoints.latest(root, checkpoints.run_backend(tmp_path)) == (6, tunix)
    with pytest.raises(ValueError, match="unknown backend 'jax'"):
        checkpoints.saved(root, "jax")
