"""Wording shared by the v3 domain modules (a helper: no SECTION)."""

from __future__ import annotations


def join(parts) -> str:
    """Names or words as a list in a sentence: "Ava", "Ava and Ben", "Ava, Ben and Cy"."""
    parts = list(parts)
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
