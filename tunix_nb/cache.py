"""The model cache: things built once (the tiny model, the converted Gemma 3 270M) and reused.

Each entry is a folder named by a content hash; it is built under a temp name and renamed into
place only when whole, so a killed build never leaves a half folder that looks finished.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable


def cache_root() -> Path:
    """$TUNIX_NB_CACHE, or ~/.cache/tunix_nb."""
    return Path(os.environ.get("TUNIX_NB_CACHE", Path.home() / ".cache" / "tunix_nb"))


def build_once(target: Path, build: Callable[[Path], None], done_marker: str = "config.json") -> Path:
    """`target`, calling `build(tmp_dir)` first if it is not there yet."""
    if (target / done_marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        build(tmp)
        tmp.chmod(0o755)
        try:
            tmp.rename(target)
        except OSError:  # another process finished first: same inputs, same content
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
