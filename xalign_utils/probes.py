"""Pretraining probes: candidate base-model recipes trained at equal compute and measured with the
book's protocol, so choosing the shipped recipe is a measured decision (issue "Base model II").

Run outside CI (each probe takes its budget of CPU time, one thread):

    xalign probe run base --minutes 30          # train one candidate (resumable)
    xalign probe evaluate                       # measure every trained probe -> checkpoints/probes/

"Equal compute" is equal training time on one CPU thread: a probe first times 30 steps of its own
recipe and sets its step count so that the training steps fill the budget (the held-out checks
during training are not counted). The trained weights stay in the cache (`XALIGN_CACHE_DIR/probes`);
their training logs and the measured table are written to `checkpoints/probes/`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from transformers import XLMRobertaForMaskedLM

from .cache import atomic_dir, atomic_write_text, cache_dir
from .checkpoints import CHECKPOINTS
from .models import encoder_config
from .presets import Preset, get_preset
from .pretrain import MLMBatches, mlm_loss, preset_tokenizer, pretrain
from .train import seed_everything, train_loop

PROBE_DIR = CHECKPOINTS / "probes"

# Candidates from the literature, each a change to the ci recipe (2 layers x 128, dropout 0, 8k Unigram).
CANDIDATES: dict[str, dict] = {
    "base": {},
    # depth over width at about the same body size (K et al. 2020: depth matters for cross-lingual transfer)
    "deep-4x96": {"model": {"hidden_size": 96, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 384}},
    # regularisation against memorising 2.6M tokens
    "dropout-0.1": {"model": {"dropout": 0.1}},
    # a smaller model (Dufter & Schuetze 2020: overparameterisation hurts multilinguality)
    "narrow-2x64": {"model": {"hidden_size": 64, "intermediate_size": 256}},
    # tokenizer: characters beyond 99.95% coverage as byte pieces, slots freed for longer pieces
    "coverage-8k": {"model": {"character_coverage": 0.9995, "byte_fallback": True}},
    # tokenizer: a 16k vocabulary (fertility -13% in Latin/Cyrillic, see the tokenizer table)
    "vocab-16k": {"model": {"vocab_size": 16000, "character_coverage": 0.9995, "byte_fallback": True}},
}


def probe_preset(name: str, base: str = "ci") -> Preset:
    """The preset of candidate `name` (one-line error listing the candidates)."""
    if name not in CANDIDATES:
        raise ValueError(f"unknown probe {name!r}; choose one of: {', '.join(CANDIDATES)}")
    return get_preset(base).with_changes(**CANDIDATES[name])


def seconds_per_step(preset: Preset, seed: int = 0, steps: int = 30, warmup_steps: int = 5) -> float:
    """Wall seconds per training step of `preset` on this machine, timed after a few warm-up steps."""
    tok = preset_tokenizer(preset, seed)
    batches = MLMBatches(preset, tok, seed)
    seed_everything(seed)
    model = XLMRobertaForMaskedLM(encoder_config(preset.model, tok))
    train_loop(model, mlm_loss, batches, warmup_steps, lr=preset.train.lr, desc="warm-up")
    t0 = time.perf_counter()
    train_loop(model, mlm_loss, batches, steps, lr=preset.train.lr, desc="timing")
    return (time.perf_counter() - t0) / steps


def equal_compute_plans(costs: dict[str, float], base_steps: int, reference: str = "base",
                        round_to: int = 50) -> dict[str, int]:
    """Step counts that give every candidate the compute of `base_steps` steps of `reference`:
    steps = base_steps * cost(reference) / cost(candidate), costs in seconds per step measured side
    by side in one process (`seconds_per_step`), rounded to the nearest `round_to`."""
    return {name: max(round_to, int(round(base_steps * costs[reference] / c / round_to)) * round_to)
            for name, c in costs.items()}


def write_plans(costs: dict[str, float], base_steps: int, minutes: float) -> None:
    """Plan files for the candidates in `costs` (a probe started later trains the planned steps)."""
    for name, steps in equal_compute_plans(costs, base_steps).items():
        plan = {"name": name, "minutes": minutes, "seconds_per_step": round(costs[name], 4), "steps": steps,
                "threads": 1, "costs_measured_side_by_side": {k: round(v, 4) for k, v in costs.items()}}
        atomic_write_text(cache_dir() / "probes" / f".plan-{name}.json", json.dumps(plan))


def run_probe(name: str, minutes: float = 30.0, seed: int = 0, base: str = "ci") -> Path:
    """Train candidate `name` for `minutes` of training steps; returns its model directory (cached)."""
    preset = probe_preset(name, base)
    out = cache_dir() / "probes" / name
    if (out / "training_log.json").exists():
        return out
    plan_file = cache_dir() / "probes" / f".plan-{name}.json"
    if plan_file.exists():  # a resumed probe keeps the step count it planned
        plan = json.loads(plan_file.read_text())
    else:
        sps = seconds_per_step(preset, seed)
        log_every = preset.train.log_every
        plan = {"name": name, "minutes": minutes, "seconds_per_step": round(sps, 4),
                "steps": max(log_every, int(minutes * 60 / sps) // log_every * log_every),
                "threads": torch.get_num_threads()}
        atomic_write_text(plan_file, json.dumps(plan))
    preset = preset.with_changes(train={"steps": plan["steps"]})
    resume = cache_dir() / "probes" / f".resume-{name}"
    resume.mkdir(parents=True, exist_ok=True)
    atomic_dir(out, lambda tmp: _train(preset, seed, tmp, resume, plan))
    return out


def _train(preset: Preset, seed: int, out: Path, resume: Path, plan: dict) -> None:
    log = pretrain(preset, seed, out, resume_dir=resume)
    log["probe"] = plan
    (out / "training_log.json").write_text(json.dumps(log, indent=1))
    PROBE_DIR.mkdir(parents=True, exist_ok=True)
    atomic_write_text(PROBE_DIR / f"{plan['name']}.training_log.json", json.dumps(log, indent=1))


def training_minutes(log: dict) -> float:
    """Minutes spent in training steps (wall time minus the held-out checks), from a training log."""
    curve = log["curve"]
    return float(np.sum(np.diff([0.0] + [e["wall_s"] for e in curve]))) / 60
