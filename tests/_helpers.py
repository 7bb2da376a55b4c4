"""Shared by several test files: the shipped ci tokenizer, tiny random-init encoders, collapsed
encoders and embeddings (exact, and up to rounding), the relative tolerance of "exactly chance", and
the provenance replay of a checkpoint's first training steps."""
import numpy as np
import torch
from transformers import AutoTokenizer

from xalign_utils.checkpoints import shipped_checkpoint
from xalign_utils.models import Encoder, random_init_model
from xalign_utils.presets import get_preset
from xalign_utils.train import seed_everything, train_loop


def ci_tokenizer(arch: str = "encoder"):
    """The tokenizer shipped with checkpoints/ci (or, for arch="decoder", checkpoints/ci-decoder)."""
    return AutoTokenizer.from_pretrained(shipped_checkpoint("ci", arch=arch))


def tiny_encoder(tokenizer, seed: int = 0, layers: int = 1, dropout: float = 0.0) -> Encoder:
    """An untrained 32-wide encoder of `layers` layers on the ci tokenizer's vocabulary."""
    cfg = get_preset("ci").with_changes(model={"hidden_size": 32, "num_hidden_layers": layers, "intermediate_size": 64,
                                               "dropout": dropout})
    return Encoder(random_init_model(cfg, seed=seed, tokenizer=tokenizer), tokenizer, name=f"tiny-{seed}")


# "Exact up to float64 summation": a value that equals its expectation by construction (chance, for a
# model without information) but is a mean of n < 9000 float64 terms, or goes through harmonic numbers
# (digamma, a few ulp): summing errs by at most n * 2^-53 relative (1e-12 at n = 9000), on any CPU.
EXACT = 1e-12


def quasi_collapsed(rng, n: int, d: int = 16, noise: float = 1e-7, base=None) -> np.ndarray:
    """(n, d) float32 rows: one vector (`base`, else drawn from `rng`) plus noise of `noise` times its
    scale, drawn from `rng`: what a collapsed model outputs once float32 rounding has touched it."""
    c = rng.normal(size=d) if base is None else np.asarray(base, dtype=np.float64)
    return (c + noise * np.abs(c).mean() * rng.normal(size=(n, len(c)))).astype(np.float32)


def collapsed_encoder(tokenizer, noise: float = 0.0, seed: int = 0) -> Encoder:
    """A model without information. `noise=0`: every weight zero and every LayerNorm bias one, so every
    hidden state of every token is exactly the all-ones vector (zero weights times anything, plus a
    bias of one, has no rounding), and so is every mean-pooled embedding (a mean of ones is exact).
    `noise > 0`: random weights (`seed`), but the last LayerNorm's gain is `noise` and its bias a
    fixed vector c, so the last hidden state of every token is c + noise x (its normalised state):
    one vector up to differences of about `noise` relative, as float32 rounding leaves them."""
    enc = tiny_encoder(tokenizer, seed)
    with torch.no_grad():
        if noise == 0:
            for name, p in enc.model.named_parameters():
                p.fill_(1.0 if ("LayerNorm.bias" in name or "layer_norm.bias" in name) else 0.0)
        else:
            norm = enc.model.roberta.encoder.layer[-1].output.LayerNorm
            norm.weight.fill_(noise)
            norm.bias.copy_(torch.linspace(1.0, 2.0, norm.bias.numel()))
    enc.name = f"collapsed (noise {noise:g}, seed {seed})"
    return enc


# Steps replayed to prove that shipped weights come from this code: step 1's loss fixes the initialisation,
# the tokenizer, the first batch and the loss; steps 2 and 3 fix the update rule (optimiser, learning
# rate, its warm-up slope, weight decay). More steps repeat the same checks at the cost of CI time.
REPLAY_STEPS = 3


def replay_first_steps(make_model, loss_fn, batches, preset, seed: int, steps: int = REPLAY_STEPS) -> list[float]:
    """The losses of the first `steps` training steps from the logged seed, with the preset's optimiser
    settings: what a shipped checkpoint's `losses_first_steps` must begin with."""
    seed_everything(seed)
    model = make_model()
    return train_loop(model, loss_fn, batches, steps=steps, lr=preset.train.lr, warmup=preset.train.warmup,
                      weight_decay=preset.train.weight_decay)


def capture_glue(monkeypatch, tmp_path) -> dict:
    """Everything a test glues (name -> its text, as myst-nb would show it), and record() writing into
    tmp_path/metrics.json instead of the working directory."""
    import myst_nb

    out = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: out.__setitem__(name, repr(value)))
    monkeypatch.setenv("XALIGN_METRICS_PATH", str(tmp_path / "metrics.json"))
    return out
