"""Load-or-compute with atomic writes, keyed by a hash of everything that affects the result.

Introduced in notebook 00_measuring_alignment. `XALIGN_CACHE_DIR` (default ~/.cache/xalign) holds
the entries; a half-written entry never replaces a good one (write to a temp dir, then rename).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_dir() -> Path:
    """`$XALIGN_CACHE_DIR`, else ~/.cache/xalign."""
    return Path(os.environ.get("XALIGN_CACHE_DIR", Path.home() / ".cache" / "xalign"))


def stable_hash(obj) -> str:
    """sha256 of a JSON-serialisable object with sorted keys (16 hex digits)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def atomic_dir(target: Path, fill: Callable[[Path], None]) -> Path:
    """Create `target` by calling fill(tmpdir) and renaming; an existing good `target` is kept."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        fill(tmp)
        os.chmod(tmp, 0o755)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to `path` via a temp file + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
