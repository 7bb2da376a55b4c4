"""Adapters: parameter-efficient alignment (LoRA) and MAD-X-style modular transfer, with `peft`.

Introduced in notebook 03_adapters. Everything here is the `peft` library's LoRA {Hu et al. 2022}:
named adapters on one frozen base model (`add_adapter`, `set_adapter`, `save_pretrained`,
`PeftModel.from_pretrained`). Nothing is hand-written but the training recipes:

- `train_lora_contrastive`: notebook 02's sentence InfoNCE, trained through a LoRA adapter only
  (the base weights, the word embeddings included, stay frozen).
- `train_language_adapters`: MAD-X's language adapters {Pfeiffer et al. 2020}, one per language,
  each trained with MLM on that language's `pretrain` text. MAD-X's bottleneck adapters (a down- and
  up-projection after each feed-forward block, stacked in sequence with the task adapter) are not in
  `peft`; one LoRA per language stands in for them. Two stacked LoRA adapters *add* their weight
  updates (W + B_l A_l + B_t A_t) instead of composing functions, which `activate` documents.
- `activate`: which adapters are on, and which of them train; `task_prepare` gives the hook the
  fine-tuning functions of `transfer` call before training (English) and before each test language,
  so the language adapter is swapped and the task adapter kept.

Every function starts from a deep copy: the encoder passed in is never changed.
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model

from ..models import Encoder, body

# peft asks transformers a deprecated question when it wraps a model; the answer is the same
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

# LoRA on every linear map inside the transformer layers (attention q, k, v, output; feed-forward in,
# out); not on the embeddings, the LM head or the layer norms. A regular expression over module names.
LORA_TARGETS = (r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense|"
                r"intermediate\.dense|output\.dense)")
TASK_ADAPTER = "task"


def language_adapter(lang: str) -> str:
    """The name of `lang`'s language adapter."""
    return f"lang_{lang}"


def lora_config(rank: int, alpha: float | None = None, dropout: float = 0.0) -> LoraConfig:
    """A LoRA config of `rank` on `LORA_TARGETS`; `alpha` defaults to 2 x rank (a constant scale
    alpha / rank = 2 at every rank, so ranks differ in capacity, not in step size)."""
    if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or rank < 1:
        raise ValueError(f"LoRA rank must be a positive integer; got {rank!r}")
    return LoraConfig(r=int(rank), lora_alpha=float(alpha if alpha is not None else 2 * rank), lora_dropout=dropout,
                      target_modules=LORA_TARGETS, bias="none")


def add_lora(model: torch.nn.Module, name: str, rank: int, alpha: float | None = None) -> PeftModel:
    """`model` with one more LoRA adapter called `name` (wrapping a plain model in a `PeftModel` the
    first time; the wrapped model's own weights are frozen by `peft`)."""
    config = lora_config(rank, alpha)
    if isinstance(model, PeftModel):
        if name in model.peft_config:
            raise ValueError(f"the model already has an adapter called {name!r}")
        model.add_adapter(name, config)
        return model
    return get_peft_model(model, config, adapter_name=name)


def activate(model: PeftModel, names: str | Sequence[str], trainable: Sequence[str] = ()) -> PeftModel:
    """Switch on the adapters `names` (several LoRA adapters add their updates) and let only the
    adapters in `trainable` train: every other parameter, the base model's included, is frozen."""
    names = [names] if isinstance(names, str) else list(names)
    missing = [n for n in list(names) + list(trainable) if n not in model.peft_config]
    if missing:
        raise ValueError(f"no adapter called {', '.join(missing)}; the model has: {', '.join(model.peft_config)}")
    model.base_model.set_adapter(names)
    keys = [f".{n}." for n in trainable]
    for pname, p in model.named_parameters():
        p.requires_grad_("lora_" in pname and any(k in pname for k in keys))
    return model


def trainable_parameters(model: torch.nn.Module) -> int:
    """How many parameters train (requires_grad)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def adapter_parameters(model: PeftModel, name: str) -> int:
    """The size of adapter `name` (its LoRA matrices)."""
    return sum(p.numel() for n, p in model.named_parameters() if "lora_" in n and f".{name}." in n)


def base_state(model: PeftModel) -> dict[str, torch.Tensor]:
    """The wrapped base model's own parameters, under their names in the plain model (what LoRA
    training must leave bit-identical)."""
    out = {}
    for name, p in model.named_parameters():
        if "lora_" in name:
            continue
        plain = name.removeprefix("base_model.model.").replace(".base_layer.", ".")
        out[plain] = p.detach()
    return out


# ---------------------------------------------------------------- LoRA alignment
def train_lora_contrastive(encoder: Encoder, pairs, rank: int, steps: int, batch_size: int = 16, lr: float = 5e-3,
                           seed: int = 0, layer: int = -1, pooling: str = "mean", tau: float = 0.05,
                           alpha: float | None = None, desc: str | None = None, max_len: int | None = None):
    """Notebook 02's sentence InfoNCE (same batches, same loss) trained through a rank-`rank` LoRA
    adapter only. Returns (an `Encoder` around the `PeftModel`, the loss per step). `max_len`: tokens
    per text in training (default: the encoder's maximum)."""
    from ..train import fit_copy
    from .contrastive import SentenceContrastLoss, SentencePairBatches

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive; got {steps} and {batch_size}")
    config = lora_config(rank, alpha)  # checks the rank before any compute
    batches = SentencePairBatches(encoder.tokenizer, pairs, batch_size, max_len or encoder.max_length, seed)
    return fit_copy(encoder, SentenceContrastLoss(layer, pooling, tau), batches, steps, lr=lr, seed=seed,
                    desc=desc or f"InfoNCE through LoRA rank {rank}",
                    name=f"{encoder.name} + LoRA r{rank} InfoNCE",
                    wrap=lambda m: get_peft_model(m, config, adapter_name="align"))


# ---------------------------------------------------------------- MAD-X-style language adapters
def train_language_adapters(encoder: Encoder, texts: Mapping[str, Sequence[str]], rank: int, steps: int,
                            batch_size: int = 8, lr: float = 5e-3, seed: int = 0, max_len: int | None = None,
                            desc: str = "language adapter"):
    """One LoRA language adapter per language of `texts`, each trained with MLM on that language's
    text alone (the base model and the MLM head frozen). Returns (the `PeftModel` holding every
    adapter, {lang: loss per step})."""
    from ..pretrain import mlm_loss
    from ..train import seed_everything, train_loop
    from .augmentation import TextMLMBatches

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive; got {steps} and {batch_size}")
    lora_config(rank)
    if not hasattr(encoder.model, "lm_head"):
        raise ValueError(f"{encoder.name} has no MLM head; load it with mlm=True (language adapters train with MLM)")
    max_len = max_len or min(encoder.max_length, 128)
    batches = {lang: TextMLMBatches(encoder.tokenizer, t, batch_size, max_len, seed=seed) for lang, t in texts.items()}
    seed_everything(seed)
    model: torch.nn.Module = copy.deepcopy(encoder.model)
    losses = {}
    for i, lang in enumerate(texts):
        name = language_adapter(lang)
        torch.manual_seed(seed * 1_000 + i)  # each adapter's init depends on the seed and its position only
        model = add_lora(model, name, rank)
        activate(model, name, trainable=[name])
        model.train()
        losses[lang] = train_loop(model, mlm_loss, batches[lang], steps, lr=lr, warmup=max(1, steps // 10),
                                  params=[p for p in model.parameters() if p.requires_grad],
                                  desc=f"{desc} {lang}", log_every=max(1, steps // 5))
    return model.eval(), losses


def with_task_adapter(model: PeftModel, rank: int, seed: int = 0) -> PeftModel:
    """A copy of `model` (language adapters and all) with a fresh task adapter added."""
    torch.manual_seed(seed * 1_000 + 999)
    return add_lora(copy.deepcopy(model), TASK_ADAPTER, rank)


def task_prepare(language_adapters: bool):
    """The `prepare(model, lang)` hook for `transfer.finetune_classification` / `finetune_pos`:
    training (lang "en") and testing on `lang` run with the task adapter on, and with
    `language_adapters` also that language's adapter (stacked, frozen); only the task adapter trains.
    `model` is the fine-tuned copy's `PeftModel`."""
    def prepare(model: PeftModel, lang: str) -> None:
        names = ([language_adapter(lang)] if language_adapters else []) + [TASK_ADAPTER]
        activate(model, names, trainable=[TASK_ADAPTER])
    return prepare


def merged_encoder(model: PeftModel, names: Sequence[str], tokenizer, name: str) -> Encoder:
    """A plain (adapter-free) `Encoder` whose weights are the base plus the adapters `names` merged
    in: for measuring one language's configuration without switching adapters during encoding."""
    m = copy.deepcopy(model)
    activate(m, list(names))
    return Encoder(m.merge_and_unload().eval(), tokenizer, name=name)


def per_language_encoders(model: PeftModel, langs: Sequence[str], tokenizer, name: str,
                          extra: Sequence[str] = ()) -> dict[str, Encoder]:
    """{lang: the base with `lang`'s language adapter (and the adapters `extra`) merged in}."""
    return {lang: merged_encoder(model, [language_adapter(lang), *extra], tokenizer, f"{name} [{lang}]") for lang in langs}


# ---------------------------------------------------------------- saving
def save_adapters(model: PeftModel, out_dir: str | Path) -> dict[str, int]:
    """Save every adapter of `model` as a standard PEFT checkpoint under `out_dir` (peft's layout:
    one sub-folder per named adapter, each with `adapter_config.json` and `adapter_model.safetensors`);
    returns each adapter's size on disk in bytes."""
    model.save_pretrained(str(out_dir), selected_adapters=list(model.peft_config))
    return {name: (adapter_path(out_dir, name) / "adapter_model.safetensors").stat().st_size for name in model.peft_config}


def adapter_path(out_dir: str | Path, name: str) -> Path:
    """Where `save_adapters` put adapter `name` (peft saves an adapter called "default" at the top)."""
    return Path(out_dir) if name == "default" else Path(out_dir) / name


def load_adapters(base: torch.nn.Module, out_dir: str | Path, names: Sequence[str]) -> PeftModel:
    """The adapters `names` saved by `save_adapters` (first one first), loaded onto a copy of `base`
    (the plain model they were trained on)."""
    names = list(names)
    model = PeftModel.from_pretrained(copy.deepcopy(base), str(adapter_path(out_dir, names[0])), adapter_name=names[0])
    for name in names[1:]:
        model.load_adapter(str(adapter_path(out_dir, name)), adapter_name=name)
    return model.eval()


def pooled_states(encoder_or_model, tokenizer, texts: Sequence[str], layer: int = -1) -> torch.Tensor:
    """Mean-pooled hidden states at `layer` of `texts` (a tensor, for exact comparisons in tests)."""
    model = encoder_or_model.model if isinstance(encoder_or_model, Encoder) else encoder_or_model
    enc = tokenizer(list(texts), padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = body(model)(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                             output_hidden_states=True).hidden_states[layer]
    m = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1)
