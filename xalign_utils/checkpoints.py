"""Where base models come from: the shipped checkpoints, the cache, or a fresh pretraining run.

Introduced in notebook 00_measuring_alignment. `base_model(preset)` loads the checkpoint shipped in
`checkpoints/<preset>[-<corpus>]/` when its recorded training key matches the current config, data
and `pretrain.TRAINING_CODE_VERSION`; otherwise it pretrains once (progress bar) and caches the
result under `XALIGN_CACHE_DIR` (atomically).
"""
from __future__ import annotations

import json
from pathlib import Path

from .cache import atomic_dir, cache_dir
from .models import Encoder, load_model
from .presets import Preset, get_preset
from .pretrain import pretrain, training_key

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def shipped_checkpoint(preset: str | Preset, seed: int = 0) -> Path:
    """Where the shipped checkpoint of (preset, seed) lives: checkpoints/<preset>[-<corpus>][-seed<n>]/."""
    p = get_preset(preset)
    corpus = "" if p.train.corpus == "comparable" else f"-{p.train.corpus}"
    return CHECKPOINTS / (p.name + corpus + (f"-seed{seed}" if seed else ""))


def read_training_log(path: str | Path) -> dict:
    """The `training_log.json` written next to a pretrained checkpoint."""
    return json.loads((Path(path) / "training_log.json").read_text())


class StaleCheckpointError(RuntimeError):
    """A shipped checkpoint trained from other code or data than the current ones."""


def checkpoint_for(preset: Preset, seed: int = 0, train: bool = True) -> Path:
    """The directory holding the base model for (preset, seed): shipped, cached, or freshly trained.

    With `train=False` a missing model is an error instead of a (long) pretraining run."""
    key = training_key(preset, seed)
    shipped = shipped_checkpoint(preset, seed)
    if (shipped / "training_log.json").exists() and read_training_log(shipped)["key"] == key:
        return shipped
    target = cache_dir() / "models" / f"{preset.name}-{key}"
    if not (target / "training_log.json").exists() and not train:
        what = f"{shipped.relative_to(CHECKPOINTS.parent)} was trained from other code or data" if shipped.exists() \
            else f"there is no {shipped.relative_to(CHECKPOINTS.parent)}"
        corpus = "" if preset.train.corpus == "comparable" else f" --corpus {preset.train.corpus}"
        raise StaleCheckpointError(f"{what} (training key {key} not found); run `xalign pretrain --preset "
                                   f"{preset.name}{corpus}` (hours on a CPU) or call base_model(..., allow_training=True)")
    if not (target / "training_log.json").exists():
        resume = cache_dir() / "models" / f".resume-{preset.name}-{key}"
        resume.mkdir(parents=True, exist_ok=True)
        atomic_dir(target, lambda tmp: pretrain(preset, seed, tmp, resume_dir=resume))
    return target


def base_model(preset: str | Preset = "ci", seed: int = 0, allow_training: bool | None = None,
               corpus: str = "comparable", **changes) -> Encoder:
    """The preset's pretrained base model as an `Encoder` (its `.model` keeps the MLM head).

    `changes` may hold `model={...}` / `train={...}` field overrides; `corpus="disjoint"` (or
    "matched") selects the shipped comparison model of that corpus (`Preset.variant`).
    a changed config (or another seed) trains once and is cached, keyed by config + data +
    training-code version. A shipped recipe (the preset, any corpus variant, seed 0) whose checkpoint
    is stale (trained from other code or data) raises `StaleCheckpointError` instead of pretraining
    for hours, unless `allow_training=True`.
    """
    p = get_preset(preset).variant(corpus)
    if changes:
        p = p.with_changes(**changes)
    if allow_training is None:  # the shipped recipes (any corpus variant, seed 0) never train silently
        allow_training = p != get_preset(p.name).variant(p.train.corpus) or seed != 0
    path = checkpoint_for(p, seed, allow_training)
    enc = load_model(path, mlm=True)
    enc.name = path.name
    return enc
