"""Pretraining the base model: monolingual MLM on the `pretrain` split, no parallel signal.

Introduced in notebook 00_measuring_alignment; run with `xalign pretrain --preset ci`. This file's
source (and tokenize.py's) is part of the checkpoint key, with the config and the training texts:
edit it and the shipped checkpoints no longer match, so `base_model` retrains (and a test says so).
The generic loop in train.py is guarded instead by the test that replays the first logged steps.

Batches are monolingual (one language per step, sampled ~ n_l^0.3), sequences are packed streams
of `<s> paragraph </s>` cut to `max_len` tokens, and the MLM head is computed on masked positions
only (about 3x the step throughput of the full-sequence head at ci size; see benchmarks/).

A full re-run reproduces a shipped checkpoint: the tokenizer trainer is deterministic (tokenize.py)
and each batch is a pure function of (seed, step). The log records the sha256 of the weights and of
the tokenizer's vocabulary (pieces and scores) so both can be checked.
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
from .cache import stable_hash
from .models import encode, encoder_config
from .presets import Preset
from .tokenize import language_sampling_weights, train_tokenizer
from .train import seed_everything, train_loop

IGNORE = -100


def pack_sequences(tokenizer, texts, max_len: int) -> np.ndarray:
    """Concatenate `<s> text </s>` streams and cut them into rows of `max_len` token ids."""
    ids = tokenizer(list(texts), add_special_tokens=True)["input_ids"]
    stream = np.fromiter((t for seq in ids for t in seq), dtype=np.int64)
    n = len(stream) // max_len
    return stream[: n * max_len].reshape(n, max_len)


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
    logits = model.lm_head(hidden[sel])
    return F.cross_entropy(logits, batch["labels"][sel])


def training_texts(preset: Preset) -> dict[str, tuple[str, ...]]:
    langs = tuple(preset.langs)
    return {lang: data.corpus(lang, "pretrain", preset.train.disjoint, langs)[1] for lang in langs}


def training_key(preset: Preset, seed: int) -> str:
    """Hash of everything that determines the weights: config, seed, training texts, training code."""
    texts = training_texts(preset)
    text_hash = hashlib.sha256("\x00".join(t for lang in preset.langs for t in texts[lang]).encode()).hexdigest()
    here = Path(__file__).resolve().parent
    code = "".join((here / f).read_text() for f in ("pretrain.py", "tokenize.py"))
    return stable_hash({"langs": preset.langs, "model": preset.to_dict()["model"],
                        "train": preset.to_dict()["train"], "seed": seed, "texts": text_hash,
                        "code": hashlib.sha256(code.encode()).hexdigest()})


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


def held_out_retrieval(model, tokenizer, langs, n: int = 1000) -> dict:
    """en->X P@1 (cosine, mean pooling) on held-out eval paragraphs, per layer, raw and mean-centred
    (`methods.transforms.LanguageCentering`, fitted on the same paragraphs, as notebook 00 does)."""
    from .methods.transforms import LanguageCentering
    from .metrics import retrieval_accuracy

    par = data.parallel(tuple(langs), "eval")
    n = min(n, len(par["key"]))
    embs = {lang: encode(model, tokenizer, par[lang][:n], layer="all") for lang in langs}
    n_layers = len(embs["en"])
    layers = {"raw": [{lang: e[l] for lang, e in embs.items()} for l in range(n_layers)]}
    layers["centred"] = [LanguageCentering().fit(by_lang).transform(by_lang) for by_lang in layers["raw"]]
    out: dict = {"n": n}
    for view, per_layer in layers.items():
        out[view] = {lang: [round(retrieval_accuracy(e["en"], e[lang]), 4) for e in per_layer]
                     for lang in langs if lang != "en"}
    return out


def mean_over_languages(per_language: dict[str, list[float]]) -> list[float]:
    """Per-layer mean of per-language P@1 lists."""
    return np.mean(list(per_language.values()), axis=0).round(4).tolist()


def compare_with_control(held: dict) -> dict:
    """Per view (raw, centred): mean en->X P@1 over languages per layer, for the trained model and the
    control, and whether the trained model's best layer beats the control's best layer."""
    out = {}
    for view in ("raw", "centred"):
        per = {name: mean_over_languages(held[name][view]) for name in ("trained", "random_init")}
        best = {name: max(v) for name, v in per.items()}
        out[view] = {"per_layer": per, "best": best, "beats_control": bool(best["trained"] > best["random_init"])}
    return out


def pretrain(preset: Preset, seed: int, out_dir: Path, steps: int | None = None, resume_dir: Path | None = None) -> dict:
    """Train tokenizer + MLM encoder and write an HF directory with `training_log.json` into `out_dir`."""
    t0 = time.time()
    steps = steps or preset.train.steps
    seed_everything(seed)
    tok: PreTrainedTokenizerFast = train_tokenizer(preset.langs, preset.model.vocab_size,
                                                   preset.train.lang_alpha, seed, preset.train.disjoint)
    t_tok = time.time() - t0
    batches = MLMBatches(preset, tok, seed)
    seed_everything(seed)
    model = XLMRobertaForMaskedLM(encoder_config(preset.model, tok))
    curve: list[dict] = []
    eval_every = max(1, steps // 12 // preset.train.log_every) * preset.train.log_every  # a logged step

    def on_log(step: int, loss: float) -> None:
        entry = {"step": step, "loss": round(loss, 4), "wall_s": round(time.time() - t0, 1)}
        if step % eval_every == 0 or step == steps:
            r = held_out_retrieval(model, tok, preset.langs, n=500)
            raw, centred = mean_over_languages(r["raw"]), mean_over_languages(r["centred"])
            entry.update(p_at_1_last_raw=raw[-1], p_at_1_last_centred=centred[-1], p_at_1_centred_per_layer=centred)
        curve.append(entry)

    losses = train_loop(model, mlm_loss, batches, steps, lr=preset.train.lr, warmup=preset.train.warmup,
                        weight_decay=preset.train.weight_decay, checkpoint_dir=resume_dir,
                        on_log=on_log, log_every=preset.train.log_every, desc=f"pretrain {preset.name}")
    wall = time.time() - t0
    trained = held_out_retrieval(model, tok, preset.langs)
    torch.manual_seed(seed)  # the same control as models.random_init_model(preset, seed, tok)
    control = held_out_retrieval(XLMRobertaForMaskedLM(encoder_config(preset.model, tok)).eval(), tok, preset.langs)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    weights = (out_dir / "model.safetensors").read_bytes()
    vocab = json.loads(tok.backend_tokenizer.to_str())["model"]["vocab"]
    log = {
        "preset": preset.name, "seed": seed, "key": training_key(preset, seed), "config": preset.to_dict(),
        "steps": steps, "tokens_seen": steps * preset.train.batch_size * preset.model.max_len,
        "wall_time_s": round(wall, 1), "tokenizer_time_s": round(t_tok, 1),
        "torch": torch.__version__, "machine": platform.machine(), "threads": torch.get_num_threads(),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "tokenizer_vocab_sha256": hashlib.sha256(json.dumps(vocab).encode()).hexdigest(),
        "losses_first_steps": [round(x, 6) for x in losses[:20]], "curve": curve,
        "held_out_retrieval": {"trained": trained, "random_init": control},
        "versus_control": compare_with_control({"trained": trained, "random_init": control}),
    }
    (out_dir / "training_log.json").write_text(json.dumps(log, indent=1))
    return log
