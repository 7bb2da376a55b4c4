"""Shared by several test files: the shipped ci tokenizer, tiny random-init encoders, and the
provenance replay of a checkpoint's first training steps."""
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


def replay_first_steps(make_model, loss_fn, batches, preset, seed: int, steps: int = 20) -> list[float]:
    """The losses of the first `steps` training steps from the logged seed, with the preset's optimiser
    settings: what a shipped checkpoint's `losses_first_steps` must equal."""
    seed_everything(seed)
    model = make_model()
    return train_loop(model, loss_fn, batches, steps=steps, lr=preset.train.lr, warmup=preset.train.warmup,
                      weight_decay=preset.train.weight_decay)
