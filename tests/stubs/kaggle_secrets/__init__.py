"""Boundary stand-in for Kaggle's `kaggle_secrets` module, which exists only on Kaggle's images.

Used only by tests that put `tests/stubs` on sys.path (monkeypatch.syspath_prepend). A secret
LABEL is "set" by the env var FAKE_KAGGLE_SECRET_<LABEL>; a missing one raises, as Kaggle's does.
"""

import os


class UserSecretsClient:
    def get_secret(self, label: str) -> str:
        value = os.environ.get(f"FAKE_KAGGLE_SECRET_{label}")
        if value is None:
            raise Exception("secret not found")
        return value
