"""Pretraining the base model: monolingual MLM on the `pretrain` split, no parallel signal; and its
decoder twin (`arch="decoder"`), a small Llama-shaped causal LM trained the same way.

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

The decoder (`xalign pretrain --preset ci --decoder`, shipped as `checkpoints/ci-decoder/`) goes
through the same `pretrain` with `arch="decoder"`: a `transformers.LlamaForCausalLM` of the preset's
size (`models.decoder_config`: hidden size, layers, heads with as many key/value heads, intermediate
size, `max_position_embeddings = max_len`, tied embeddings, the preset's dropout on attention, eager
attention so CPU and GPU compute the same float32 sums), the SAME shared tokenizer plus one special
token per language, `<xx>` for language `xx` (`<en>`, `<de>`, ... appended after the 8000 pieces in
the preset's language order; `decoder_tokenizer`). Its rows are packed streams of
`<s> <xx> paragraph </s>` cut to `max_len` tokens, its batches monolingual and sampled exactly as the
encoder's (`CLMBatches`, a pure function of (seed, step)), its loss the causal-LM cross-entropy over
every position of a row (`clm_loss`), its held-out measure the perplexity per language on
`parallel`-split text (`HeldOutCLM`). Its training key adds the architecture and
`DECODER_CODE_VERSION` to the encoder's hashed fields (the encoder's keys stay as they were).
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast, XLMRobertaForMaskedLM

from . import data
from .cache import atomic_write_text, stable_hash
from .evaluate import compare_with_control, mean_over_languages, retrieval_monitor
from .models import Encoder, decoder_config, encoder_config
from .presets import Preset
from .tokenize import language_sampling_weights, train_tokenizer
from .train import seed_everything, train_loop

IGNORE = -100
TRAINING_CODE_VERSION = 2  # 1: up to the deterministic tokenizer; 2: shared tokenizer, near-duplicate-free data
HELD_OUT_SEQUENCES = 32  # packed sequences per language for the held-out MLM loss
CONTROL_SEEDS = (0, 1, 2)
ARCHS = ("encoder", "decoder")
DECODER_CODE_VERSION = 1  # bump when a change changes what the decoder's training computes (not the encoder's)


_STREAMS: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}  # (vocabulary hash, texts hash) -> (ids, starts)
_PACKED: dict[tuple, np.ndarray] = {}  # (vocabulary hash, texts hash, max_len, prefix) -> packed rows, per process


def pack_sequences(tokenizer, texts, max_len: int, prefix: tuple[int, ...] = ()) -> np.ndarray:
    """Concatenate `<s> text </s>` streams and cut them into rows of `max_len` token ids (memoised:
    the same tokenizer and texts are tokenized once per process). `prefix` ids go right after each
    `<s>` (the decoder's language tag: `<s> <xx> text </s>`)."""
    texts = list(texts)
    prefix = tuple(int(t) for t in prefix)
    vocab = tokenizer.backend_tokenizer.to_str() if hasattr(tokenizer, "backend_tokenizer") else repr(tokenizer)
    base = (hashlib.sha256(vocab.encode()).hexdigest(), hashlib.sha256("\x00".join(texts).encode()).hexdigest())
    key = base + (max_len, prefix)
    if key not in _PACKED:
        if base not in _STREAMS:
            backend = getattr(tokenizer, "backend_tokenizer", None)
            if backend is not None and backend.truncation is None and backend.padding is None:
                ids = [e.ids for e in backend.encode_batch_fast(texts, add_special_tokens=True)]  # the same ids, 2x faster
            else:
                ids = tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
            starts = np.cumsum([0] + [len(seq) for seq in ids])[:-1]  # where each <s> is
            _STREAMS[base] = (np.fromiter((t for seq in ids for t in seq), dtype=np.int64, count=sum(map(len, ids))),
                              starts)
        stream, starts = _STREAMS[base]
        if prefix:  # after each sequence's first token (<s>)
            stream = np.insert(stream, np.repeat(starts + 1, len(prefix)), np.tile(np.array(prefix, dtype=np.int64),
                                                                                 len(starts)))
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


def clm_loss(model: LlamaForCausalLM, batch: dict) -> torch.Tensor:
    """Causal-LM cross-entropy: every position predicts the next token of its row (rows are packed,
    full length, no padding), averaged over the batch's rows x (max_len - 1) targets."""
    ids = batch["input_ids"]
    logits = model(input_ids=ids).logits
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten())


def training_texts(preset: Preset) -> dict[str, tuple[str, ...]]:
    """The MLM training texts of each language (the preset's corpus variant)."""
    langs = tuple(preset.langs)
    return {lang: data.corpus(lang, "pretrain", preset.train.corpus, langs)[1] for lang in langs}


def _texts_hash(texts: dict[str, tuple[str, ...]], langs) -> str:
    return hashlib.sha256("\x00".join(t for lang in langs for t in texts[lang]).encode()).hexdigest()


def check_arch(arch: str) -> str:
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(ARCHS)}")
    return arch


def training_key(preset: Preset, seed: int, arch: str = "encoder") -> str:
    """Hash of everything that determines the weights: config, seed, training texts (tokenizer and
    MLM), and `TRAINING_CODE_VERSION`; for the decoder also the arch and `DECODER_CODE_VERSION`
    (added only then, so the encoders' keys are unchanged)."""
    langs = tuple(preset.langs)
    tokenizer_texts = {lang: data.corpus(lang, "pretrain")[1] for lang in langs}
    cfg = preset.to_dict()
    train = {k: v for k, v in cfg["train"].items() if k != "log_every"}  # logging does not change the weights
    fields = {"version": TRAINING_CODE_VERSION, "langs": langs, "model": cfg["model"], "train": train,
              "seed": seed, "tokenizer_texts": _texts_hash(tokenizer_texts, langs),
              "mlm_texts": _texts_hash(training_texts(preset), langs)}
    if check_arch(arch) == "decoder":
        fields.update(arch=arch, decoder_version=DECODER_CODE_VERSION)
    return stable_hash(fields)


def preset_tokenizer(preset: Preset, seed: int) -> PreTrainedTokenizerFast:
    """Train the preset's shared tokenizer (deterministic; the same for every corpus variant)."""
    m = preset.model
    return train_tokenizer(preset.langs, m.vocab_size, preset.train.lang_alpha, seed, m.character_coverage,
                           m.byte_fallback)


def language_tag(lang: str) -> str:
    """The decoder's language token of `lang`: `<en>`, `<de>`, ..."""
    return f"<{lang}>"


def decoder_tokenizer(preset: Preset, seed: int) -> PreTrainedTokenizerFast:
    """The preset's shared tokenizer plus one special token per language (`language_tag`), appended
    in the preset's language order after the shared vocabulary (ids vocab_size, vocab_size+1, ...).
    A copy: the shared tokenizer itself is left as it is."""
    m = preset.model
    return copy.deepcopy(_decoder_tokenizer(tuple(preset.langs), m.vocab_size, preset.train.lang_alpha, seed,
                                            m.character_coverage, m.byte_fallback))


@functools.lru_cache(maxsize=4)
def _decoder_tokenizer(langs, vocab_size, lang_alpha, seed, character_coverage, byte_fallback):
    tok = copy.deepcopy(train_tokenizer(langs, vocab_size, lang_alpha, seed, character_coverage, byte_fallback))
    tok.add_special_tokens({"additional_special_tokens": [language_tag(lang) for lang in langs]})
    return tok


def language_tag_ids(tokenizer, langs) -> dict[str, int]:
    """{lang: id of its tag}; an error if the tokenizer lacks a tag (an encoder's tokenizer)."""
    ids = {lang: tokenizer.convert_tokens_to_ids(language_tag(lang)) for lang in langs}
    missing = [lang for lang, i in ids.items() if i is None or i == tokenizer.unk_token_id]
    if missing:
        raise ValueError(f"the tokenizer has no language tag for {', '.join(missing)}; use decoder_tokenizer()")
    return ids


class MLMBatches:
    """batch_fn(step): a monolingual batch of packed, masked sequences; a pure function of (seed, step)."""

    def __init__(self, preset: Preset, tokenizer, seed: int):
        self.tokenizer, self.seed, self.cfg = tokenizer, seed, preset.train
        texts = training_texts(preset)
        self.langs = list(preset.langs)
        self.seqs = [self.pack(texts[lang], lang, preset.model.max_len) for lang in self.langs]
        self.weights = language_sampling_weights([len(s) for s in self.seqs], self.cfg.lang_alpha)

    def pack(self, texts, lang: str, max_len: int) -> np.ndarray:
        return pack_sequences(self.tokenizer, texts, max_len)

    def rows(self, step: int) -> tuple[int, torch.Tensor]:
        """(language index, packed rows) of step `step`: the language ~ n_l^alpha, rows uniform."""
        rng = np.random.default_rng([self.seed, step])
        li = int(rng.choice(len(self.langs), p=self.weights))
        rows = rng.integers(0, len(self.seqs[li]), self.cfg.batch_size)
        return li, torch.from_numpy(self.seqs[li][rows])

    def __call__(self, step: int) -> dict:
        li, ids = self.rows(step)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        inputs, labels = mask_tokens(ids, self.tokenizer, self.cfg.mask_prob, gen)
        return {"input_ids": inputs, "labels": labels, "lang": self.langs[li]}


class CLMBatches(MLMBatches):
    """The decoder's batch_fn(step): the same monolingual sampling as `MLMBatches` over packed
    `<s> <xx> paragraph </s>` streams, unmasked; a pure function of (seed, step)."""

    def pack(self, texts, lang: str, max_len: int) -> np.ndarray:
        return pack_sequences(self.tokenizer, texts, max_len, (language_tag_ids(self.tokenizer, [lang])[lang],))

    def __call__(self, step: int) -> dict:
        li, ids = self.rows(step)
        return {"input_ids": ids, "lang": self.langs[li]}


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
        device = next(model.parameters()).device
        out = {lang: round(float(mlm_loss(model, {k: v.to(device) for k, v in b.items()})), 4)
               for lang, b in self.batches.items()}
        model.train(was_training)
        return out


class HeldOutCLM:
    """The decoder's overfitting check: perplexity (exp of the mean next-token cross-entropy) per
    language on packed `<s> <xx> paragraph </s>` rows of `parallel`-split text, never trained on."""

    def __init__(self, tokenizer, langs, max_len: int, n_seqs: int = HELD_OUT_SEQUENCES):
        tags = language_tag_ids(tokenizer, langs)
        self.batches = {lang: torch.from_numpy(np.array(pack_sequences(
            tokenizer, data.corpus(lang, "parallel")[1], max_len, (tags[lang],))[:n_seqs])) for lang in langs}

    @torch.inference_mode()
    def __call__(self, model) -> dict[str, float]:
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        out = {lang: round(math.exp(float(clm_loss(model, {"input_ids": ids.to(device)}))), 3)
               for lang, ids in self.batches.items()}
        model.train(was_training)
        return out


def _load_curve(resume_dir: Path | None) -> list[dict]:
    path = Path(resume_dir) / "curve.json" if resume_dir else None
    return json.loads(path.read_text()) if path is not None and path.exists() else []


def _device_name(model) -> str:
    device = next(model.parameters()).device
    return f"{device} ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else str(device)


def pretrain(preset: Preset, seed: int, out_dir: Path, steps: int | None = None, resume_dir: Path | None = None,
             checkpoint_every: int = 500, eval_points: int = 12, arch: str = "encoder") -> dict:
    """Train tokenizer + MLM encoder (or, with `arch="decoder"`, the causal-LM decoder; see the module
    docstring) and write an HF directory with `training_log.json` into `out_dir`.

    With `resume_dir`, training state is saved there every `checkpoint_every` steps and an
    interrupted run resumes from it, its loss curve and held-out checks included. On a CUDA machine
    training runs there in float32 with TF32 off, so a CPU replay of the first steps matches.
    """
    decoder = check_arch(arch) == "decoder"
    torch.backends.cuda.matmul.allow_tf32 = False  # full float32 products on a GPU: the CPU replay must match
    torch.backends.cudnn.allow_tf32 = False
    t0 = time.time()
    steps = steps or preset.train.steps
    seed_everything(seed)
    tok = decoder_tokenizer(preset, seed) if decoder else preset_tokenizer(preset, seed)
    t_tok = time.time() - t0
    batches = (CLMBatches if decoder else MLMBatches)(preset, tok, seed)
    held_out = (HeldOutCLM if decoder else HeldOutMLM)(tok, preset.langs, preset.model.max_len)
    held_name = "held_out_perplexity" if decoder else "held_out_mlm_loss"
    held_per_language = "held_out_perplexity_per_language" if decoder else "held_out_mlm_per_language"

    def new_model():
        if decoder:
            return LlamaForCausalLM(decoder_config(preset.model, tok))
        return XLMRobertaForMaskedLM(encoder_config(preset.model, tok))

    seed_everything(seed)
    model = new_model()
    encoder = Encoder(model, tok, "training")
    curve: list[dict] = _load_curve(resume_dir)
    eval_every = max(1, steps // eval_points // preset.train.log_every) * preset.train.log_every  # a logged step

    def on_log(step: int, loss: float) -> None:
        curve[:] = [e for e in curve if e["step"] < step]  # steps redone after a resume replace their entries
        entry = {"step": step, "loss": round(loss, 4), "wall_s": round(time.time() - t0, 1)}
        if step % eval_every == 0 or step == steps:
            held = held_out(model)
            r = retrieval_monitor(encoder, preset.langs, n=500)
            raw, centred = mean_over_languages(r["raw"]), mean_over_languages(r["centred"])
            entry.update({held_name: round(float(np.mean(list(held.values()))), 4), held_per_language: held,
                          "p_at_1_last_raw": raw[-1], "p_at_1_last_centred": centred[-1],
                          "p_at_1_centred_per_layer": centred})
        curve.append(entry)
        if resume_dir is not None:
            atomic_write_text(Path(resume_dir) / "curve.json", json.dumps(curve))

    losses = train_loop(model, clm_loss if decoder else mlm_loss, batches, steps, lr=preset.train.lr,
                        warmup=preset.train.warmup, weight_decay=preset.train.weight_decay, checkpoint_dir=resume_dir,
                        checkpoint_every=checkpoint_every, on_log=on_log, log_every=preset.train.log_every,
                        desc=f"pretrain {preset.name}{' decoder' if decoder else ''}")
    wall = time.time() - t0
    trained = retrieval_monitor(encoder, preset.langs)
    controls = {}
    for s in CONTROL_SEEDS:
        torch.manual_seed(s)  # the same control as models.random_init_model / random_init_decoder(preset, s, tok)
        controls[s] = retrieval_monitor(Encoder(new_model().eval(), tok), preset.langs)
    model.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)
    weights = (out_dir / "model.safetensors").read_bytes()
    vocab = json.loads(tok.backend_tokenizer.to_str())["model"]["vocab"]
    log = {
        "preset": preset.name, "seed": seed, "key": training_key(preset, seed, arch), "code_version": TRAINING_CODE_VERSION,
        "config": preset.to_dict(), "steps": steps,
        "tokens_seen": steps * preset.train.batch_size * preset.model.max_len,
        "training_tokens_per_language": {lang: int(s.size) for lang, s in zip(batches.langs, batches.seqs)},
        "wall_time_s": round(wall, 1), "tokenizer_time_s": round(t_tok, 1),
        "torch": torch.__version__, "machine": platform.machine(), "threads": torch.get_num_threads(),
        "device": _device_name(model),
        "weights_sha256": hashlib.sha256(weights).hexdigest(),
        "tokenizer_vocab_sha256": hashlib.sha256(json.dumps(vocab).encode()).hexdigest(),
        "losses_first_steps": [round(x, 6) for x in losses[:20]], "curve": curve,
        held_name: held_out(model),
        "held_out_retrieval": {"trained": trained, "random_init": controls[seed if seed in controls else 0],
                               "random_init_seeds": {str(s): c for s, c in controls.items()}},
        "versus_control": compare_with_control({"trained": trained, "random_init": controls[seed if seed in controls else 0]}),
    }
    if decoder:
        import tokenizers
        import transformers

        log.update(arch=arch, decoder_code_version=DECODER_CODE_VERSION, transformers=transformers.__version__,
                   tokenizers=tokenizers.__version__, attn_implementation=model.config._attn_implementation,
                   language_tags={lang: [language_tag(lang), i] for lang, i in language_tag_ids(tok, preset.langs).items()})
    (out_dir / "training_log.json").write_text(json.dumps(log, indent=1))
    return log
