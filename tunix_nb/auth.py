"""The HF token: found in the right place, only when the model source needs it, never shown.

Order (first found wins): a Kaggle secret (on Kaggle only) -> env HF_TOKEN -> env
HUGGING_FACE_HUB_TOKEN -> huggingface_hub's cached login (`hf auth login`, under HF_HOME).
Nothing here sets an environment variable or writes the token to disk: callers pass the
value explicitly (e.g. `models.resolve_source(..., token=tok.value)`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from .config import resolve_path

SECRET_LABEL = "HF_TOKEN"
ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")  # HF's own priority: HF_TOKEN first
TOKENS_PAGE = "https://huggingface.co/settings/tokens"
# Sources that never go to the HF hub: our own models, and Kaggle handles (Kaggle's credentials).
_NO_HUB_PREFIXES = ("builtin:", "packaged:", "kaggle:")
_PATH_PREFIXES = (".", "/", "~")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # "owner/name": the form models.py resolves on the hub


@dataclass(frozen=True)
class HFToken:
    """A token and where it came from. Only `value` is secret: it is left out of repr and str,
    so logging or printing the object (or an f-string of it) never leaks it."""

    value: str = field(repr=False)
    origin: str  # "kaggle-secret:<label>" | "env:HF_TOKEN" | "env:HUGGING_FACE_HUB_TOKEN" | "hf-cached-login"

    def __str__(self) -> str:
        return f"HF token from {self.origin}"


def on_kaggle() -> bool:
    """True inside a Kaggle notebook session (interactive or batch)."""
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE"))


def needs_token(model_source: str) -> bool:
    """True only for an HF hub id (`owner/name`); local folders, built-in/packaged models and
    Kaggle handles never need the HF token."""
    if model_source.startswith(_NO_HUB_PREFIXES + _PATH_PREFIXES):
        return False
    if resolve_path(model_source).is_dir():  # a local folder wins over a hub id, as in models.py
        return False
    return bool(HUB_ID.match(model_source))


def _clean(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None  # blank counts as unset


def _from_kaggle(label: str) -> str | None:
    try:
        from kaggle_secrets import UserSecretsClient  # exists only on Kaggle's images

        return _clean(UserSecretsClient().get_secret(label))
    except Exception:  # missing secret, internet off, no module: all mean "no token from Kaggle"
        return None


def _from_cached_login() -> str | None:
    try:
        from huggingface_hub import get_token

        # It reads HF_TOKEN itself too, so it is asked only after our env checks came up empty:
        # whatever it returns then is the login saved under HF_HOME (or HF_TOKEN_PATH).
        return _clean(get_token())
    except Exception:  # e.g. a failed CI OIDC exchange: no token, not a crash
        return None


def find_token(secret_label: str = SECRET_LABEL) -> HFToken | None:
    """The first token found (Kaggle secret `secret_label` -> env -> cached login), or None."""
    if on_kaggle() and (value := _from_kaggle(secret_label)):
        return HFToken(value, f"kaggle-secret:{secret_label}")
    for name in ENV_VARS:
        if value := _clean(os.environ.get(name)):
            return HFToken(value, f"env:{name}")
    if value := _from_cached_login():
        return HFToken(value, "hf-cached-login")
    return None


def get_token(model_source: str, secret_label: str = SECRET_LABEL) -> HFToken | None:
    """The token for `model_source`: None without looking when it needs none; otherwise
    `find_token` — None there is not an error (public hub models need no token)."""
    return find_token(secret_label) if needs_token(model_source) else None


def describe(token: HFToken | None, model_source: str, secret_label: str = SECRET_LABEL) -> str:
    """One line for the notebook/log saying where the token came from (never its value)."""
    if not needs_token(model_source):
        return f"HF token: not needed for {model_source}"
    if token is not None:
        return f"HF token: from {token.origin}"
    return (f"HF token: none found (public models only; for gated ones add a Kaggle secret named "
            f"{secret_label}: Add-ons > Secrets, or set HF_TOKEN)")


def missing_token_message(model_source: str, secret_label: str = SECRET_LABEL) -> str:
    """The one-line error for a gated hub model when no token was found."""
    return (f"model.source: {model_source} is gated and no HF token was found; accept its licence on "
            f"https://huggingface.co/{model_source}, create a read token at {TOKENS_PAGE}, then on Kaggle "
            f"add it under Add-ons > Secrets > Add a new secret with the label {secret_label} "
            "(and attach it to the notebook), or elsewhere set the HF_TOKEN environment variable")
