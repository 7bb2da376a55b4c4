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


def readable(fd: int) -> None:
    """Give a file made by `tempfile.mkstemp` (mode 0600) the mode an ordinary `open` would (0666 less the
    umask), so an atomically written output is as readable as any other."""
    mask = os.umask(0)
    os.umask(mask)
    os.fchmod(fd, 0o666 & ~mask)


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to `path` via a temp file + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    readable(fd)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def package_fingerprint() -> str:
    """Hash of the package's source and the data manifest: a cached result computed by other code or
    on other data is never reused."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    manifest = root.parent / "data" / "MANIFEST.tsv"
    if manifest.exists():
        h.update(manifest.read_bytes())
    return h.hexdigest()[:16]


def model_fingerprint(model, tokenizer=None) -> str:
    """Hash of a torch model's config and every parameter and buffer (bytes, in state-dict order), and of
    the tokenizer's vocabulary: two models with this fingerprint compute the same function."""
    import numpy as np
    import torch

    h = hashlib.sha256()
    config = getattr(model, "config", None)
    if config is not None:
        h.update(config.to_json_string(use_diff=False).encode())
    for name, tensor in model.state_dict().items():
        h.update(name.encode())
        h.update(np.ascontiguousarray(tensor.detach().to("cpu", torch.float32).numpy()).tobytes())
    if tokenizer is not None:
        h.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    return h.hexdigest()[:16]


def load_or_compute(kind: str, key, compute: Callable[[], object]):
    """`compute()`'s result, pickled under `cache_dir()/kind/<hash of key>.pkl` (atomic write); later
    calls with an equal key load it. `key` must hold everything the result depends on."""
    import pickle

    path = cache_dir() / kind / f"{stable_hash(key)}.pkl"
    if path.exists():
        try:
            with open(path, "rb") as f:
                return pickle.load(f)
        except Exception:  # a corrupt or incompatible entry is recomputed, never trusted
            path.unlink(missing_ok=True)
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    readable(fd)
    with os.fdopen(fd, "wb") as f:
        pickle.dump(result, f)
    os.replace(tmp, path)
    return result
