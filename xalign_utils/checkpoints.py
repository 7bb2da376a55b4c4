"""Where base models come from: the shipped checkpoints, the cache, or a fresh pretraining run.

Introduced in notebook 00_measuring_alignment. `base_model(preset)` loads the checkpoint shipped in
`checkpoints/<preset>[-<corpus>]/` when its recorded training key matches the current config, data
and `pretrain.TRAINING_CODE_VERSION`; otherwise it pretrains once (progress bar) and caches the
result under `XALIGN_CACHE_DIR` (atomically). `decoder_model(preset)` does the same for the small
causal-LM decoder shipped in `checkpoints/<preset>-decoder/` (`xalign pretrain --preset ci --decoder`).
"""
from __future__ import annotations

import json
from pathlib import Path

from .cache import atomic_dir, cache_dir
from .models import Encoder, load_model, random_init_decoder
from .presets import Preset, get_preset
from .pretrain import check_arch, decoder_tokenizer, pretrain, training_key

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


def shipped_checkpoint(preset: str | Preset, seed: int = 0, arch: str = "encoder") -> Path:
    """Where the shipped checkpoint of (preset, seed) lives: checkpoints/<preset>[-<corpus>][-decoder][-seed<n>]/
    (`<preset>` is `Preset.models` where the preset uses another's models: `book` uses `ci`'s)."""
    p = get_preset(preset)
    corpus = "" if p.train.corpus == "comparable" else f"-{p.train.corpus}"
    kind = "-decoder" if check_arch(arch) == "decoder" else ""
    return CHECKPOINTS / ((p.models or p.name) + corpus + kind + (f"-seed{seed}" if seed else ""))


def read_training_log(path: str | Path) -> dict:
    """The `training_log.json` written next to a pretrained checkpoint."""
    return json.loads((Path(path) / "training_log.json").read_text())


class StaleCheckpointError(RuntimeError):
    """A shipped checkpoint trained from other code or data than the current ones."""


def checkpoint_for(preset: Preset, seed: int = 0, train: bool = True, arch: str = "encoder") -> Path:
    """The directory holding the base model (or, with `arch="decoder"`, the decoder) for (preset, seed):
    shipped, cached, or freshly trained.

    With `train=False` a missing model is an error instead of a (long) pretraining run."""
    key = training_key(preset, seed, arch)
    shipped = shipped_checkpoint(preset, seed, arch)
    if (shipped / "training_log.json").exists() and read_training_log(shipped)["key"] == key:
        return shipped
    kind = "-decoder" if arch == "decoder" else ""
    target = cache_dir() / "models" / f"{preset.name}{kind}-{key}"
    if not (target / "training_log.json").exists() and not train:
        what = f"{shipped.relative_to(CHECKPOINTS.parent)} was trained from other code or data" if shipped.exists() \
            else f"there is no {shipped.relative_to(CHECKPOINTS.parent)}"
        corpus = "" if preset.train.corpus == "comparable" else f" --corpus {preset.train.corpus}"
        flag, fn = (" --decoder", "decoder_model") if arch == "decoder" else ("", "base_model")
        seed_flag = f" --seed {seed}" if seed else ""
        raise StaleCheckpointError(f"{what} (training key {key} not found); run `xalign pretrain --preset "
                                   f"{preset.name}{corpus}{flag}{seed_flag}` (hours on a CPU) or call "
                                   f"{fn}(..., allow_training=True)")
    if not (target / "training_log.json").exists():
        resume = cache_dir() / "models" / f".resume-{preset.name}{kind}-{key}"
        resume.mkdir(parents=True, exist_ok=True)
        atomic_dir(target, lambda tmp: pretrain(preset, seed, tmp, resume_dir=resume, arch=arch))
    return target


def base_model(preset: str | Preset = "ci", seed: int = 0, allow_training: bool | None = None,
               corpus: str = "comparable", **changes) -> Encoder:
    """The preset's pretrained base model as an `Encoder` (its `.model` keeps the MLM head).

    `changes` may hold `model={...}` / `train={...}` field overrides; `corpus="disjoint"` (or
    "matched") selects the shipped comparison model of that corpus (`Preset.variant`).
    a changed config trains once and is cached, keyed by config + data + training-code version. The
    shipped recipes (the preset, any corpus variant) never pretrain silently: a stale checkpoint (trained
    from other code or data), or another pretraining `seed` than the shipped 0, raises
    `StaleCheckpointError` naming the command, unless `allow_training=True`. (A chapter's `seed` is the
    seed of its methods, not of pretraining: the chapters load the shipped base.)
    """
    p = get_preset(preset).variant(corpus)
    if changes:
        p = p.with_changes(**changes)
    if allow_training is None:  # the shipped recipes (any corpus variant, any seed) never train silently
        allow_training = p != get_preset(p.name).variant(p.train.corpus)
    path = checkpoint_for(p, seed, allow_training)
    enc = load_model(path, mlm=True)
    enc.name = path.name
    return enc


def decoder_model(preset: str | Preset = "ci", seed: int = 0, allow_training: bool | None = None,
                  corpus: str = "comparable", **changes) -> Encoder:
    """The preset's pretrained decoder as an `Encoder` wrapping its `LlamaForCausalLM` (eval mode, LM
    head kept; `encode` mean-pools its hidden states); found as `base_model` finds the encoder:
    `checkpoints/<preset>-decoder/` when its training key matches, else the cache, else a pretraining
    run. A shipped recipe whose checkpoint is stale or missing raises `StaleCheckpointError` naming the
    fix (`xalign pretrain --preset ci --decoder`) unless `allow_training=True`."""
    p = get_preset(preset).variant(corpus)
    if changes:
        p = p.with_changes(**changes)
    if allow_training is None:  # as base_model: the shipped recipes never train silently
        allow_training = p != get_preset(p.name).variant(p.train.corpus)
    path = checkpoint_for(p, seed, allow_training, arch="decoder")
    enc = load_model(path, clm=True, attn_implementation="eager")  # as trained (models.decoder_config)
    enc.name = path.name
    return enc


def random_init_decoder_model(preset: str | Preset = "ci", seed: int = 0, tokenizer=None) -> Encoder:
    """The decoder's random-init control as an `Encoder`: the same shape and tokenizer (the shipped
    decoder's when none is given, else the rebuilt `decoder_tokenizer`), untrained weights (torch seed
    `seed`), as `pretrain` logs it."""
    p = get_preset(preset)
    if tokenizer is None:
        shipped = shipped_checkpoint(p, 0, "decoder")
        if (shipped / "tokenizer.json").exists():
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(shipped), local_files_only=True)
        else:
            tokenizer = decoder_tokenizer(p, 0)
    return Encoder(random_init_decoder(p, seed, tokenizer), tokenizer, name=f"random init decoder (seed {seed})")
