import json

import pytest

from tunix_nb import models
from tunix_nb.errors import UserError


def test_local_folder(tiny_model_dir):
    src = models.resolve_source(str(tiny_model_dir))
    assert (src.kind, src.path) == ("local", tiny_model_dir)
    assert src.to_dict()["path"] == str(tiny_model_dir)


def test_builtin(tiny_model_dir):
    assert models.resolve_source("builtin:tiny-gemma3").path == tiny_model_dir


@pytest.mark.parametrize("spec, fragment", [
    ("builtin:huge", "unknown model 'builtin:huge'"),
    ("packaged:gemma-9", "unknown model 'packaged:gemma-9'"),
    ("./no/such/dir", "is not a folder"),
    ("kaggle:google/gemma", "is not a Kaggle handle"),
])
def test_bad_sources_say_which_forms_are_accepted(spec, fragment):
    with pytest.raises(UserError) as e:
        models.resolve_source(spec)
    msg = str(e.value)
    assert msg.startswith("model.source:") and fragment in msg and "\n" not in msg


def test_folder_without_config(tmp_path):
    with pytest.raises(UserError, match="has no config.json"):
        models.resolve_source(str(tmp_path))


def test_unreachable_hub_id_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no network here; offline mode answers at once
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(UserError) as e:
        models.resolve_source("google/gemma-3-1b-it")
    assert "cannot download 'google/gemma-3-1b-it'" in str(e.value) and "\n" not in str(e.value)


def test_hub_id_from_the_local_hub_cache_records_the_commit(monkeypatch, tmp_path, tiny_model_dir):
    """A hub snapshot already in the HF cache resolves offline, and the commit is the revision."""
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "models--acme--tiny"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    import huggingface_hub.constants as c
    monkeypatch.setattr(c, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    src = models.resolve_source("acme/tiny")
    assert src.kind == "hub" and src.revision == commit
    assert json.loads((src.path / "config.json").read_text())["model_type"] == "gemma3_text"


def test_kaggle_handle_uses_the_mounted_input(monkeypatch, tmp_path, tiny_model_dir):
    import shutil

    base = tmp_path / "gemma-3" / "transformers" / "gemma-3-1b-it"
    for version in ("1", "2"):
        shutil.copytree(tiny_model_dir, base / version)
    monkeypatch.setattr(models, "KAGGLE_INPUT", tmp_path)
    latest = models.resolve_source("kaggle:google/gemma-3/transformers/gemma-3-1b-it")
    assert latest.path == base / "2" and latest.revision == "2" and latest.kind == "kaggle"
    pinned = models.resolve_source("kaggle:google/gemma-3/transformers/gemma-3-1b-it/1")
    assert pinned.path == base / "1"
