"""One training loop for the whole book (HF `accelerate`): progress bar, checkpoint/resume, seeding.

Introduced in notebook 00_measuring_alignment (pretraining the base model); every method notebook
trains through `train_loop`. Batches are a pure function of the step number (`batch_fn(step)`), so
a resumed run sees exactly the batches an uninterrupted one would.
"""
from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from tqdm import tqdm


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def linear_warmup_decay(optimizer: torch.optim.Optimizer, warmup: int, steps: int):
    """LR multiplier: linear warm-up to 1 over `warmup` steps, then linear decay to 0 at `steps`."""
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (steps - step) / max(1, steps - warmup))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def train_loop(
    model: torch.nn.Module,
    loss_fn: Callable[[torch.nn.Module, dict], torch.Tensor],
    batch_fn: Callable[[int], dict],
    steps: int,
    lr: float = 1e-3,
    warmup: int = 0,
    weight_decay: float = 0.0,
    params=None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 500,
    on_log: Callable[[int, float], None] | None = None,
    log_every: int = 50,
    desc: str = "training",
    max_grad_norm: float = 1.0,
) -> list[float]:
    """Train `model` for `steps` steps of `loss_fn(model, batch_fn(step))`; returns the loss per step.

    With `checkpoint_dir`, state (model, optimizer, scheduler, RNG, losses) is saved every
    `checkpoint_every` steps (atomically) and an interrupted run resumes from the last save.
    """
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    params = list(params) if params is not None else [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = linear_warmup_decay(optimizer, warmup, steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    losses: list[float] = []
    start = 0
    ckpt = Path(checkpoint_dir) / "train_state.pt" if checkpoint_dir else None
    if ckpt is not None and ckpt.exists():
        state = torch.load(ckpt, weights_only=False)
        accelerator.unwrap_model(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        losses, start = state["losses"], state["step"]
    model.train()
    bar = tqdm(range(start, steps), initial=start, total=steps, desc=desc, mininterval=2.0,
               disable=os.environ.get("XALIGN_QUIET") == "1")
    for step in bar:
        batch = {k: v.to(accelerator.device) if torch.is_tensor(v) else v for k, v in batch_fn(step).items()}
        loss = loss_fn(model, batch)
        accelerator.backward(loss)
        if max_grad_norm:
            accelerator.clip_grad_norm_(params, max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if (step + 1) % log_every == 0 or step + 1 == steps:
            recent = float(np.mean(losses[-log_every:]))
            bar.set_postfix(loss=f"{recent:.3f}")
            if on_log is not None:
                model.eval()
                on_log(step + 1, recent)
                model.train()
        if ckpt is not None and ((step + 1) % checkpoint_every == 0) and step + 1 < steps:
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"model": accelerator.unwrap_model(model).state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
                        "losses": losses, "step": step + 1}, tmp)
            os.replace(tmp, ckpt)
    bar.close()
    model.eval()
    if ckpt is not None and ckpt.exists():
        ckpt.unlink()
    return losses


def fit_copy(encoder, loss_fn: Callable[[torch.nn.Module, dict], torch.Tensor], batch_fn: Callable[[int], dict],
             steps: int, *, lr: float, seed: int, desc: str, name: str,
             params: Callable[[torch.nn.Module], Iterable] | None = None,
             wrap: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
             prepare: Callable[[torch.nn.Module], Callable[[], None] | None] | None = None):
    """Train a copy of `encoder`'s model (the starting model is left untouched) with `train_loop`: the one
    place for seed + deepcopy + train loop that every method shares. Returns (an `Encoder` named `name`
    around the trained copy, the loss per step).

    `wrap(copy)` replaces the copy before training (e.g. `peft.get_peft_model`; its initialisation draws
    from the seeded RNG); `params(model)` names what the optimiser updates (default: every parameter that
    requires a gradient); `prepare(model)` changes the copy for training and returns a function that undoes
    it afterwards (e.g. SimCSE's dropout). Warm-up: the first tenth of the steps; the loss is logged five
    times.
    """
    from .models import Encoder

    seed_everything(seed)
    model = copy.deepcopy(encoder.model)
    if wrap is not None:
        model = wrap(model)
    model.train()
    undo = prepare(model) if prepare is not None else None
    losses = train_loop(model, loss_fn, batch_fn, steps, lr=lr, warmup=max(1, steps // 10),
                        params=list(params(model)) if params is not None else None, desc=desc,
                        log_every=max(1, steps // 5))
    if undo is not None:
        undo()
    return Encoder(model.eval(), encoder.tokenizer, name=name), losses
