"""Pretraining the base model: monolingual MLM on the `pretrain` split, no parallel signal.

Introduced in notebook 00_measuring_alignment; run with `xalign pretrain --preset ci`. A shipped
checkpoint is identified by its training key (`training_key`): the preset's config, the seed, a
hash of the training texts and `TRAINING_CODE_VERSION`. Bump that constant whenever a change here
(or in tokenize.py / train.py) changes what training computes; refactoring that keeps the numbers
needs no bump, and the provenance test that replays the first logged steps fails if a bump was
forgotten.

Batches are monolingual (one language per step, sampled ~ n_l^0.3), sequences are packed streams
of `<s> paragraph </s>` cut to `max_len` tokens, and the MLM head is computed on masked positions
only (about 3x the step throughput of the full-sequence head at ci size; see benchmarks/).

A full re-run reproduces a shipped checkpoint: the tokenizer trainer is deterministic (tokenize.py)
and each batch is a pure function of (seed, step). The log records the sha256 of the weights and of
the tokenizer's vocabulary (pieces and scores) so both can be checked, the training loss, a held-out
MLM loss per language (on `parallel`-split text, never trained on) and a held-out retrieval check.
"""
from __future__ import annotations

import hashlib
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerFast, XLMRobertaForMaskedLM

from . import data
from .cache import atomic_write_text, stable_hash
from .evaluate import compare_with_control, mean_over_languages, retrieval_monitor
from .models import Encoder, encoder_config
from .presets import Preset
from .tokenize import language_sampling_weights, train_tokenizer
from .train import seed_everything, train_loop

IGNORE = -100
TRAINING_CODE_VERSION = 2  # 1: up to the deterministic tokenizer; 2: shared tokenizer, near-duplicate-free data
HELD_OUT_SEQUENCES = 32  # packed sequences per language for the held-out MLM loss
CONTROL_SEEDS = (0, 1, 2)


_PACKED: dict[tuple, np.ndarray] = {}  # (vocabulary hash, texts hash, max_len) -> packed rows, per process


def pack_sequences(tokenizer, texts, max_len: int) -> np.ndarray:
    """Concatenate `<s> text </s>` streams and cut them into rows of `max_len` token ids (memoised:
    the same tokenizer and texts are packed once per process)."""
    texts = list(texts)
    vocab = tokenizer.backend_tokenizer.to_str() if hasattr(tokenizer, "backend_tokenizer") else repr(tokenizer)
    key = (hashlib.sha256(vocab.encode()).hexdigest(), hashlib.sha256("\x00".join(texts).encode()).hexdigest(), max_len)
    if key not in _PACKED:
        ids = tokenizer(texts, add_special_tokens=True)["input_ids"]
        stream = np.fromiter((t for seq in ids for t in seq), dtype=np.int64)
        n = len(stream) // max_len
        _PACKED[key] = stream[: n * max_len].reshape(n, max_len)
        _PACKED[key].flags.writeable = False
    return _PACKED[key]


def mask_tokens(input_ids: torch.Tensor, tokenizer, mask_prob: float, generator: torch.Generator):
    """BERT masking: `mask_prob` of non-special tokens become targets (80% <mask>, 10% random, 10% kept)."""
    labels = input_ids.clone()
    special = torch.zeros_like(input_ids, dtype=torch.bool)
    for t in tokenizer.all_special_ids:
        special |= input_ids == t
    probs = torch.full(input_ids.shape, mask_prob)
    probs[special] = 0.0
    targets = torch.bernoulli(probs, generator=generator).bool()
    labels[~targets] = IGNORE
    inputs = input_ids.clone()
    replace = torch.bernoulli(torch.full(input_ids.shape, 0.8), generator=generator).bool() & targets
    inputs[replace] = tokenizer.mask_token_id
    rand = torch.bernoulli(torch.full(input_ids.shape, 0.5), generator=generator).bool() & targets & ~replace
    n_special = len(tokenizer.all_special_ids)
    inputs[rand] = torch.randint(n_special, len(tokenizer), input_ids.shape, generator=generator)[rand]
    return inputs, labels


def mlm_loss(model: XLMRobertaForMaskedLM, batch: dict, masked_only: bool = True) -> torch.Tensor:
    """Cross-entropy of the MLM head; with `masked_only` the vocabulary projection runs on masked rows only."""
    if not masked_only:
        return model(input_ids=batch["input_ids"], labels=batch["labels"]).loss
    hidden = model.roberta(input_ids=batch["input_ids"]).last_hidden_state
    sel = batch["labels"] != IGNORE
    if not bool(sel.any()):
        return hidden.sum() * 0.0  # no target in this batch (short inputs): a zero loss, not NaN
    logits = model.lm_head(hidden[sel])
    return F.cross_entropy(logits, batch["labels"][sel])


def training_texts(preset: Preset) -> dict[str, tuple[str, ...]]:
    """The MLM training texts of each language (the preset's corpus variant)."""
    langs = tuple(preset.langs)
    return {lang: data.corpus(lang, "pretrain", preset.train.corpus, langs)[1] for lang in langs}


def _texts_hash(texts: dict[str, tuple[str, ...]], langs) -> str:
    return hashlib.sha256("\x00".join(t for lang in langs for t in texts[lang]).encode()).hexdigest()


def training_key(preset: Preset, seed: int) -> str:
    """Hash of everything that determines the weights: config, seed, training texts (tokenizer and
    MLM), and `TRAINING_CODE_VERSION`."""
    langs = tuple(preset.langs)
    tokenizer_texts = {lang: data.corpus(lang, "pretrain")[1] for lang in langs}
    cfg = preset.to_dict()
    train = {k: v for k, v in cfg["train"].items() if k != "log_every"}  # logging does not change the weights
    return stable_hash({"version": TRAINING_CODE_VERSION, "langs": langs, "model": cfg["model"], "train": train,
                        "seed": seed, "tokenizer_texts": _texts_hash(tokenizer_texts, langs),
                        "mlm_texts": _texts_hash(training_texts(preset), langs)})


def preset_tokenizer(preset: Preset, seed: int) -> PreTrainedTokenizerFast:
    """Train the preset's shared tokenizer (deterministic; the same for every corpus variant)."""
    m = preset.model
    return train_tokenizer(preset.langs, m.vocab_size, preset.train.lang_alpha, seed, m.character_coverage,
                           m.byte_fallback)


class MLMBatches:
    """batch_fn(step): a monolingual batch of packed, masked sequences; a pure function of (seed, step)."""

    def __init__(self, preset: Preset, tokenizer, seed: int):
        self.tokenizer, self.seed, self.cfg = tokenizer, seed, preset.train
        texts = training_texts(preset)
        self.langs = list(preset.langs)
        self.seqs = [pack_sequences(tokenizer, texts[lang], preset.model.max_len) for lang in self.langs]
        self.weights = language_sampling_weights([len(s) for s in self.seqs], self.cfg.lang_alpha)

    def __call__(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        li = int(rng.choice(len(self.langs), p=self.weights))
        rows = rng.integers(0, len(self.seqs[li]), self.cfg.batch_size)
        ids = torch.from_numpy(self.seqs[li][rows])
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        inputs, labels = mask_tokens(ids, self.tokenizer, self.cfg.mask_prob, gen)
        return {"input_ids": inputs, "labels": labels, "lang": self.langs[li]}


class HeldOutMLM:
    """MLM loss on `parallel`-split text (never in pretraining), fixed masks: the overfitting check."""

    def __init__(self, tokenizer, langs, max_len: int, n_seqs: int = HELD_OUT_SEQUENCES, seed: int = 12345):
        self.batches = {}
        for i, lang in enumerate(langs):
            seqs = np.array(pack_sequences(tokenizer, data.corpus(lang, "parallel")[1], max_len)[:n_seqs])
            gen = torch.Generator().manual_seed(seed + i)
            inputs, labels = mask_tokens(torch.from_numpy(seqs), tokenizer, 0.15, gen)
            self.batches[lang] = {"input_ids": inputs, "labels": labels}

    @torch.inference_mode()
    def __call__(self, model) -> dict[str, float]:
        was_training = model.training
        model.eval()
        out = {lang: round(float(mlm_loss(model, b)), 4) for lang, b in self.batches.items()}
        model.train(was_training)
        return out


def _load_curve(resume_dir: Path | None) -> list[dict]:
    path = Path(resume_dir) / "curve.json" if resume_dir else None
    return json.loads(path.read_text()) if path is not None and path.exists() else []


def pretrain(preset: Preset, seed: int, out_dir: Path, steps: int | None = None, resume_dir: Path | None = None,
             checkpoint_every: int = 500, eval_points: int = 12) -> dict:
    """Train tokenizer + MLM encoder and write an HF directory with `training_log.json` into `out_dir`.

    With `resume_dir`, training state is saved there every `checkpoint_every` steps and an
    interrupted run resumes from it, its loss curve and held-out checks included.
    """
    t0 = time.time()
    steps = steps or preset.train.steps
    seed_everything(seed)
    tok = preset_tokenizer(preset, seed)
    t_tok = time.time() - t0
    batches = MLMBatches(preset, tok, seed)
    held_out = HeldOutMLM(tok, preset.langs, preset.model.max_len)
    seed_everything(seed)
    model = XLMRobertaForMaskedLM(encoder_config(preset.model, tok))
    encoder = Encoder(model, tok, "training")
    curve: list[dict] = _load_curve(resume_dir)
    eval_every = max(1, steps // eval_points // preset.train.log_every) * preset.train.log_every  # a logged step

    def on_log(step: int, loss: float) -> None:
        curve[:] = [e for e in curve if e["step"] < step]  # steps redone after a resume replace their entries
        entry = {"step": step, "loss": round(loss, 4), "wall_s": round(time.time() - t0, 1)}
        if step % eval_every == 0 or step == steps:
            mlm = held_out(model)
            r = retrieval_monitor(encoder, preset.langs, n=500)
            raw, centred = mean_over_languages(r["raw"]), mean_over_languages(r["centred"])
            entry.update(held_out_mlm_loss=round(float(np.mean(list(mlm.values()))), 4), held_out_mlm_per_language=mlm,
                         p_at_1_last_raw=raw[-1], p_at_1_last_centred=centred[-1], p_at_1_centred_per_layer=centred)
        curve.append(entry)
        if resume_dir is not None:
            atomic_write_text(Path(resume_dir) / "curve.json", json.dumps(curve))

    losses = train_loop(model, mlm_loss, batches, steps, lr=preset.train.lr, warmup=preset.train.warmup,
                        weight_decay=preset.train.weight_decay, checkpoint_dir=resume_dir,
                        checkpoint_every=checkpoint_every, on_log=on_log, log_every=preset.train.log_every,
                        desc=f"pretrain {preset.name}")
    wall = time.time() - t0
    trained = retrieval_monitor(encoder, preset.langs)
    controls = {}
    for s in CONTROL_SEEDS:
        torch.manual_seed(s)  # the same control as models.random_init_model(preset, s, tok)
        control = XLMRobertaForMaskedLM(encoder_config(preset.model, tok)).eval()
        controls[s] = retrieval_monitor(Encoder(control, tok), preset.langs)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    weights = (out_dir / "model.safetensors").read_bytes()
    vocab = json.loads(tok.backend_tokenizer.to_str())["model"]["vocab"]
    log = {
        "preset": preset.name, "seed": seed, "key": training_key(preset, seed), "code_version": TRAINING_CODE_VERSION,
        "config": preset.to_dict(), "steps": steps,
        "tokens_seen": steps * preset.train.batch_size * preset.model.max_len,
        "training_tokens_per_language": {lang: int(s.size) for lang, s in zip(batches.langs, batches.seqs)},
        "wall_time_s": round(wall, 1), "tokenizer_time_s": round(t_tok, 1),
        "torch": torch.__version__, "machine": platform.machine(), "threads": torch.get_num_threads(),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "tokenizer_vocab_sha256": hashlib.sha256(json.dumps(vocab).encode()).hexdigest(),
        "losses_first_steps": [round(x, 6) for x in losses[:20]], "curve": curve,
        "held_out_mlm_loss": held_out(model),
        "held_out_retrieval": {"trained": trained, "random_init": controls[seed if seed in controls else 0],
                               "random_init_seeds": {str(s): c for s, c in controls.items()}},
        "versus_control": compare_with_control({"trained": trained, "random_init": controls[seed if seed in controls else 0]}),
    }
    (out_dir / "training_log.json").write_text(json.dumps(log, indent=1))
    return log
