"""Models: preset encoder configs, the shipped/cached base model, hub/local loading and `encode`.

Introduced in notebook 00_measuring_alignment. `base_model(preset)` loads the checkpoint shipped in
`checkpoints/<preset>/` when its recorded training key matches the current config, data and
training code; otherwise it pretrains once (progress bar) and caches under `XALIGN_CACHE_DIR`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase, XLMRobertaConfig, XLMRobertaForMaskedLM
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()  # no load reports or weight-loading bars in the book's outputs
hf_logging.disable_progress_bar()

from .presets import ModelConfig, Preset, get_preset

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


class ModelLoadError(RuntimeError):
    """A model that cannot be found or loaded (offline hub name, missing directory, no CUDA)."""


def encoder_config(model: ModelConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> XLMRobertaConfig:
    """XLM-R-shaped config for a preset's `ModelConfig`."""
    pad = tokenizer.pad_token_id if tokenizer is not None else 1
    return XLMRobertaConfig(
        vocab_size=model.vocab_size, hidden_size=model.hidden_size, num_hidden_layers=model.num_hidden_layers,
        num_attention_heads=model.num_attention_heads, intermediate_size=model.intermediate_size,
        max_position_embeddings=model.max_len + 2, pad_token_id=pad, bos_token_id=0, eos_token_id=2,
        type_vocab_size=1, tie_word_embeddings=True,
        hidden_dropout_prob=model.dropout, attention_probs_dropout_prob=model.dropout,
    )


def random_init_model(preset: str | Preset = "ci", seed: int = 0, tokenizer=None) -> XLMRobertaForMaskedLM:
    """The control: an untrained model with the preset's shape (and the shared tokenizer's vocabulary)."""
    p = get_preset(preset)
    torch.manual_seed(seed)
    model = XLMRobertaForMaskedLM(encoder_config(p.model, tokenizer))
    return model.eval()


def base_model(preset: str | Preset = "ci", seed: int = 0, **changes):
    """(model, tokenizer) of the preset's pretrained base model: shipped checkpoint, cache, or train.

    `changes` may hold `model={...}` / `train={...}` field overrides; a changed config trains once
    and is cached (atomically) under `XALIGN_CACHE_DIR`, keyed by config + data + training code.
    """
    p = get_preset(preset)
    if changes:
        p = p.with_changes(**changes)
    return load_model(checkpoint_for(p, seed), mlm=True)


def shipped_checkpoint(preset: str | Preset, seed: int = 0) -> Path:
    """Where the shipped checkpoint of (preset, seed) lives: checkpoints/<preset>[-disjoint][-seed<n>]/."""
    p = get_preset(preset)
    name = p.name + ("-disjoint" if p.train.disjoint else "") + (f"-seed{seed}" if seed else "")
    return CHECKPOINTS / name


def checkpoint_for(preset: Preset, seed: int = 0) -> Path:
    """The directory holding the base model for (preset, seed): shipped, cached, or freshly trained."""
    from .cache import atomic_dir, cache_dir
    from .pretrain import pretrain, training_key  # heavy; imported on use

    key = training_key(preset, seed)
    shipped = shipped_checkpoint(preset, seed)
    if (shipped / "training_log.json").exists():
        if json.loads((shipped / "training_log.json").read_text())["key"] == key:
            return shipped
    target = cache_dir() / "models" / f"{preset.name}-{key}"
    if not (target / "training_log.json").exists():
        resume = cache_dir() / "models" / f".resume-{preset.name}-{key}"
        resume.mkdir(parents=True, exist_ok=True)
        atomic_dir(target, lambda tmp: pretrain(preset, seed, tmp, resume_dir=resume))
    return target


def load_model(name_or_path: str | Path, mlm: bool = False, device: str = "cpu"):
    """(model, tokenizer) from a local HF directory or, when online, a hub name; eval mode.

    Offline (`HF_HUB_OFFLINE=1`, as in CI) a hub name that is not in the local HF cache gets a
    one-line error naming the fix.
    """
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} asked for but CUDA is not available; use device='cpu'")
    path = Path(name_or_path)
    local = path.is_dir()
    if not local and (str(name_or_path).startswith((".", "/")) or path.suffix):
        raise ModelLoadError(f"model directory {name_or_path} does not exist; pass an HF model directory")
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"
    try:
        tok = AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=offline or local)
        cls = XLMRobertaForMaskedLM if mlm else AutoModel
        model = cls.from_pretrained(str(name_or_path), local_files_only=offline or local)
    except OSError as e:
        if local:
            raise ModelLoadError(f"{name_or_path} is not a loadable HF model directory ({e.__class__.__name__})") from None
        raise ModelLoadError(
            f"hub model {name_or_path!r} is not available offline; download it once with network access "
            "or pass a local model directory"
        ) from None
    return model.to(device).eval(), tok


def _encoder(model):
    """The transformer body of an MLM/encoder model (hidden states without the LM head)."""
    return getattr(model, "roberta", None) or getattr(model, "base_model", model)


@torch.inference_mode()
def encode(model, tokenizer, texts: Sequence[str], layer: int | str = -1, pooling: str = "mean",
           batch_size: int = 128, max_length: int | None = None) -> np.ndarray:
    """Sentence embeddings: float32 array (n, d), or (layers+1, n, d) for `layer="all"`.

    Batches are sorted by token count (not characters: scripts differ), run in inference mode, and
    returned in the original order. `layer` indexes hidden states (0 = embeddings, -1 = last);
    `pooling` is "mean" (over non-padding tokens) or "cls" (first token).
    """
    if pooling not in ("mean", "cls"):
        raise ValueError(f"unknown pooling {pooling!r}; use 'mean' or 'cls'")
    texts = list(texts)
    if not texts:
        raise ValueError("encode() got no texts")
    enc_model = _encoder(model)
    device = next(enc_model.parameters()).device
    max_length = max_length or min(getattr(model.config, "max_position_embeddings", 514) - 2, 512)
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([len(x) for x in ids], kind="stable")
    n_layers = model.config.num_hidden_layers
    if layer != "all" and not -(n_layers + 1) <= int(layer) <= n_layers:
        raise ValueError(f"layer {layer} out of range for a {n_layers}-layer model (0..{n_layers} or 'all')")
    out = None
    pad = tokenizer.pad_token_id
    for start in range(0, len(texts), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(ids[i]) for i in idx)
        batch = torch.full((len(idx), width), pad, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            batch[row, :len(ids[i])] = torch.tensor(ids[i])
            mask[row, :len(ids[i])] = 1
        hidden = enc_model(input_ids=batch.to(device), attention_mask=mask.to(device),
                           output_hidden_states=True).hidden_states
        hs = torch.stack(hidden) if layer == "all" else hidden[int(layer)].unsqueeze(0)
        if pooling == "mean":
            m = mask.to(device).unsqueeze(0).unsqueeze(-1).to(hs.dtype)
            pooled = (hs * m).sum(2) / m.sum(2)
        else:
            pooled = hs[:, :, 0]
        pooled = pooled.float().cpu().numpy()
        if out is None:
            out = np.empty((pooled.shape[0], len(texts), pooled.shape[2]), dtype=np.float32)
        out[:, idx] = pooled
    return out if layer == "all" else out[0]


def model_summary(model) -> dict:
    """Layers, hidden size and parameter count of a model (for tables and logs)."""
    cfg = model.config
    return {"layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size,
            "parameters": sum(p.numel() for p in model.parameters())}


def read_training_log(path: str | Path) -> dict:
    """The `training_log.json` written next to a pretrained checkpoint."""
    return json.loads((Path(path) / "training_log.json").read_text())
