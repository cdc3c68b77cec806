"""auth: where the HF token comes from, when it is asked for, and that its value never shows.

Kaggle's `kaggle_secrets` exists only on Kaggle, so tests that need it put the stand-in in
tests/stubs on sys.path; huggingface_hub's cached login is a real token file under a tmp HF_HOME."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import constants as hf_constants

from tunix_nb import auth
from tunix_nb.auth import HFToken, describe, find_token, get_token, missing_token_message, needs_token, on_kaggle

ROOT = Path(__file__).resolve().parents[1]
STUBS = Path(__file__).resolve().parent / "stubs"
SECRET = "hf_TESTSECRET_abc123"
CLEARED = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "KAGGLE_KERNEL_RUN_TYPE", "HF_OIDC_RESOURCE",
           "FAKE_KAGGLE_SECRET_HF_TOKEN", "FAKE_KAGGLE_SECRET_MY_HF")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No token anywhere: env cleared, an empty HF_HOME (so a real login on this machine can't leak
    in), and no `kaggle_secrets` module left over from another test."""
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    hf_home = tmp_path / "hf_home"
    hf_home.mkdir()
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.delenv("HF_TOKEN_PATH", raising=False)
    # huggingface_hub reads HF_HOME when imported, so the path it derives is patched too.
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(hf_home / "token"))
    sys.modules.pop("kaggle_secrets", None)
    yield hf_home
    sys.modules.pop("kaggle_secrets", None)


def kaggle(monkeypatch, stub: bool = True) -> None:
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    if stub:
        monkeypatch.syspath_prepend(str(STUBS))


# --- where the token comes from -------------------------------------------------------------------

def test_kaggle_secret_wins_on_kaggle(monkeypatch):
    kaggle(monkeypatch)
    monkeypatch.setenv("FAKE_KAGGLE_SECRET_HF_TOKEN", SECRET)
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    tok = find_token()
    assert on_kaggle()
    assert tok.origin == "kaggle-secret:HF_TOKEN" and tok.value == SECRET


def test_custom_secret_label(monkeypatch):
    kaggle(monkeypatch)
    monkeypatch.setenv("FAKE_KAGGLE_SECRET_MY_HF", SECRET)
    tok = find_token("MY_HF")
    assert tok.origin == "kaggle-secret:MY_HF" and tok.value == SECRET
    assert find_token() is None  # the default label HF_TOKEN is not set


def test_off_kaggle_the_secret_is_not_consulted(monkeypatch):
    monkeypatch.syspath_prepend(str(STUBS))
    monkeypatch.setenv("FAKE_KAGGLE_SECRET_HF_TOKEN", SECRET)
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    assert not on_kaggle()
    assert find_token().origin == "env:HF_TOKEN"
    assert "kaggle_secrets" not in sys.modules  # not even imported


def test_on_kaggle_missing_secret_falls_back_to_env(monkeypatch):
    kaggle(monkeypatch)  # the stub raises: no FAKE_KAGGLE_SECRET_HF_TOKEN
    monkeypatch.setenv("HF_TOKEN", SECRET)
    tok = find_token()
    assert tok.origin == "env:HF_TOKEN" and tok.value == SECRET


def test_on_kaggle_without_the_module_falls_back_to_env(monkeypatch):
    kaggle(monkeypatch, stub=False)
    monkeypatch.setitem(sys.modules, "kaggle_secrets", None)  # makes the import raise ImportError
    monkeypatch.setenv("HF_TOKEN", SECRET)
    assert find_token().origin == "env:HF_TOKEN"


def test_env_order_and_blank_values(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", " hf_first \n")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_second")
    tok = find_token()
    assert (tok.origin, tok.value) == ("env:HF_TOKEN", "hf_first")
    monkeypatch.setenv("HF_TOKEN", "   ")
    tok = find_token()
    assert (tok.origin, tok.value) == ("env:HUGGING_FACE_HUB_TOKEN", "hf_second")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "")
    assert find_token() is None


def test_blank_kaggle_secret_falls_back(monkeypatch):
    kaggle(monkeypatch)
    monkeypatch.setenv("FAKE_KAGGLE_SECRET_HF_TOKEN", "  ")
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", SECRET)
    assert find_token().origin == "env:HUGGING_FACE_HUB_TOKEN"


def test_cached_login_from_hf_home(clean_env, monkeypatch):
    (clean_env / "token").write_text(SECRET + "\n")
    tok = find_token()
    assert (tok.origin, tok.value) == ("hf-cached-login", SECRET)
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")  # env still comes before the cached login
    assert find_token().origin == "env:HF_TOKEN"


def test_cached_login_respects_hf_home_in_a_fresh_process(tmp_path):
    """End to end: huggingface_hub reads HF_HOME at import, so a new process shows it is honoured."""
    (tmp_path / "token").write_text(SECRET)
    env = {k: v for k, v in os.environ.items() if k not in CLEARED and k != "HF_TOKEN_PATH"}
    code = "from tunix_nb.auth import find_token; t = find_token(); print(t.origin if t else None, t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**env, "HF_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "hf-cached-login HF token from hf-cached-login"
    assert SECRET not in out.stdout + out.stderr


def test_nothing_anywhere_is_none(monkeypatch):
    kaggle(monkeypatch)
    assert find_token() is None
    assert get_token("google/gemma-3-1b-it") is None  # a public model needs none: not an error


# --- when it is asked for -------------------------------------------------------------------------

@pytest.mark.parametrize("source, expected", [
    ("google/gemma-3-1b-it", True),
    ("google/gemma-2-2b-it", True),
    ("builtin:tiny-gemma3", False),
    ("packaged:gemma-3-270m", False),
    ("kaggle:google/gemma-3/transformers/gemma-3-1b-it", False),
    ("./models/gemma", False),
    ("/data/gemma", False),
    ("~/models/gemma", False),
    ("gemma-3-1b-it", False),  # not owner/name
    ("a/b/c", False),
])
def test_needs_token(source, expected):
    assert needs_token(source) is expected


def test_existing_local_folder_needs_no_token(tmp_path):
    (tmp_path / "owner" / "name").mkdir(parents=True)
    assert needs_token(str(tmp_path)) is False
    assert needs_token(str(tmp_path / "owner" / "name")) is False
    # A relative path is relative to the checkout (config.resolve_path); this one looks like owner/name.
    assert (ROOT / "training" / "configs").is_dir()
    assert needs_token("training/configs") is False


def test_get_token_only_looks_when_needed(clean_env, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", SECRET)
    assert get_token("builtin:tiny-gemma3") is None
    assert get_token("packaged:gemma-3-270m") is None
    assert get_token("kaggle:google/gemma-3/transformers/gemma-3-1b-it") is None
    before = dict(os.environ)
    tok = get_token("google/gemma-3-1b-it")
    assert tok.origin == "env:HF_TOKEN"
    assert dict(os.environ) == before  # sets no variable
    assert list(clean_env.iterdir()) == []  # and writes no login to disk


# --- never shown ----------------------------------------------------------------------------------

def test_value_never_shown(monkeypatch, caplog):
    kaggle(monkeypatch)
    monkeypatch.setenv("FAKE_KAGGLE_SECRET_HF_TOKEN", SECRET)
    tok = get_token("google/gemma-3-1b-it")
    assert tok.value == SECRET
    log = logging.getLogger("tunix_nb.test_auth")
    with caplog.at_level(logging.DEBUG):
        log.info("token %s", tok)
        log.info("token %r", tok)
        log.info(tok)
        log.info("tokens %s", [tok])
    shown = [repr(tok), str(tok), f"{tok}", f"{tok!r}", f"{tok=}", str([tok]), caplog.text,
             describe(tok, "google/gemma-3-1b-it"), describe(None, "google/gemma-3-1b-it"),
             missing_token_message("google/gemma-3-1b-it", "HF_TOKEN")]
    for text in shown:
        assert SECRET not in text
        assert SECRET[:6] not in text  # not even a prefix
    assert str(tok) == "HF token from kaggle-secret:HF_TOKEN"
    assert repr(tok) == "HFToken(origin='kaggle-secret:HF_TOKEN')"
    assert "HF token from kaggle-secret:HF_TOKEN" in caplog.text


def test_describe():
    assert describe(None, "packaged:gemma-3-270m") == "HF token: not needed for packaged:gemma-3-270m"
    assert describe(HFToken(SECRET, "env:HF_TOKEN"), "google/gemma-3-1b-it") == "HF token: from env:HF_TOKEN"
    line = describe(None, "google/gemma-3-1b-it")
    assert line.startswith("HF token: none found (public models only;")
    assert "HF_TOKEN" in line and "Add-ons > Secrets" in line and "\n" not in line


def test_missing_token_message():
    msg = missing_token_message("google/gemma-3-1b-it", "MY_HF")
    assert "\n" not in msg
    for part in ("google/gemma-3-1b-it", "MY_HF", "Secrets", "Add a new secret", "licence",
                 auth.TOKENS_PAGE, "HF_TOKEN environment variable"):
        assert part in msg
