"""Parallel-data objectives (survey §4.1): translation language modelling, word-level alignment,
multilingual distillation. Each objective is a batch builder plus a loss for `train.train_loop`.

Only `parallel`-split text may be passed to these functions (README, "Data and splits"); nothing here
reads data.

TLM (Conneau & Lample 2019)
    A translation pair becomes one input `<s> x </s></s> y </s>` (XLM-R's pair format), tokens of
    both halves are masked as in MLM, and **positions restart** at the second half, as XLM does, so
    the model cannot tell the halves apart by position alone and must look across them:
    L_TLM = −Σ_{masked t} log p(w_t | masked pair).

Word-level alignment (Cao, Kitaev & Klein 2020)
    For aligned word pairs (i in English sentence s, j in its translation t), with f the model's
    word vector at one layer and f₀ the frozen original model's:
    L = Σ_{(i,j)} ‖f(i; s) − f(j; t)‖²  +  λ Σ_{i ∈ s} ‖f(i; s) − f₀(i; s)‖²,
    the second term keeping English vectors where they were, so the other languages move towards
    English (not the reverse, and not everything towards a point). Cao et al. take their links from
    fast_align on parallel text; here they come from the vendored dictionaries or from SimAlign's
    Argmax on the model's own embeddings (`dictionary_links`, `induced_links`).

Multilingual distillation (Reimers & Gurevych 2020)
    A student learns to map an English sentence e and its translation x onto the frozen teacher's
    embedding of e: L = MSE(s(e), T(e)) + MSE(s(x), T(e)). Its control without parallel signal
    ("distill_shuffled") maps x onto the embedding of *another* English paragraph, T(e'), with the
    same steps, the same texts and the same English term. With a real teacher ("distill_teacher",
    e.g. multilingual-e5-small) the widths differ: a trained linear map W takes the student's pooled
    vector to the teacher's width, L = MSE(W s(e), c T(e)) + MSE(W s(x), c T(e)) (c: `TeacherDistillLoss`);
    the teacher embeds e with its own tokenizer and conventions (`Encoder.encode`), once per English
    text the run draws.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models import Encoder, body
from ..pretrain import IGNORE, mask_tokens


# ---------------------------------------------------------------- TLM
def tlm_pair_ids(tokenizer, src: str, tgt: str, max_len: int) -> tuple[list[int], list[int]]:
    """Token ids of `<s> src </s></s> tgt </s>` and their position ids, restarting at the second half.

    Each half is cut to (max_len // 2) tokens so neither language is truncated away. Position ids
    follow XLM-R's convention (the first real position is padding_idx + 1).
    """
    if max_len < 8:
        raise ValueError(f"max_len must be at least 8 for a TLM pair; got {max_len}")
    half = max_len // 2
    a = tokenizer(src, add_special_tokens=False)["input_ids"][: half - 2]
    b = tokenizer(tgt, add_special_tokens=False)["input_ids"][: half - 2]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    first = [cls] + a + [sep]
    second = [sep] + b + [sep]
    start = tokenizer.pad_token_id + 1
    positions = list(range(start, start + len(first))) + list(range(start, start + len(second)))
    return first + second, positions


def tlm_batch(tokenizer, pairs: Sequence[tuple[str, str]], max_len: int, mask_prob: float,
              generator: torch.Generator) -> dict:
    """A padded, masked TLM batch: input_ids, position_ids, attention_mask, labels (IGNORE = not a target)."""
    if not pairs:
        raise ValueError("tlm_batch got no pairs")
    return _masked_batch(tokenizer, [tlm_pair_ids(tokenizer, s, t, max_len) for s, t in pairs], mask_prob, generator)


def _masked_batch(tokenizer, rows: Sequence[tuple[list[int], list[int]]], mask_prob: float,
                  generator: torch.Generator) -> dict:
    """Pad (token ids, position ids) rows into a batch and mask it as in MLM."""
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    pos = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (i, p) in enumerate(rows):
        ids[r, :len(i)], pos[r, :len(p)], mask[r, :len(i)] = torch.tensor(i), torch.tensor(p), 1
    inputs, labels = mask_tokens(ids, tokenizer, mask_prob, generator)  # pad is special: never a target
    return {"input_ids": inputs, "position_ids": pos, "attention_mask": mask, "labels": labels}


def tlm_loss(model, batch: dict) -> torch.Tensor:
    """MLM cross-entropy on the masked positions of a TLM batch (positions as given)."""
    hidden = body(model)(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         position_ids=batch["position_ids"]).last_hidden_state
    sel = batch["labels"] != IGNORE
    if not bool(sel.any()):
        return hidden.sum() * 0.0  # no target in this batch (tiny inputs): a zero loss with a graph
    return F.cross_entropy(model.lm_head(hidden[sel]), batch["labels"][sel])


# ---------------------------------------------------------------- word-level alignment
def word_alignment_loss(src_vecs: torch.Tensor, tgt_vecs: torch.Tensor, src_all: torch.Tensor,
                        src_all_frozen: torch.Tensor, reg: float = 1.0, n_sentences: int = 1) -> torch.Tensor:
    """Cao et al. (2020): the sum over aligned pairs of ‖f(i;s) − f(j;t)‖² plus `reg` × the sum over
    all English words of ‖f(i;s) − f₀(i;s)‖², divided by the batch's `n_sentences` sentence pairs.

    `src_vecs`, `tgt_vecs`: (n_pairs, d) vectors of the aligned words (row k of each is one pair);
    `src_all`, `src_all_frozen`: (n_words, d) every English word of the batch, under the trained and
    the frozen model. Sums, as in the paper, keep the weight of the regulariser relative to the
    alignment term independent of how many links a batch has (means would scale it by
    words/links, which differs between dictionary and induced links); dividing by the number of
    sentence pairs only sets the step size.
    """
    if src_vecs.shape != tgt_vecs.shape or src_all.shape != src_all_frozen.shape:
        raise ValueError(f"word_alignment_loss: shapes differ ({tuple(src_vecs.shape)} vs {tuple(tgt_vecs.shape)}, "
                         f"{tuple(src_all.shape)} vs {tuple(src_all_frozen.shape)})")
    if len(src_vecs) == 0:
        raise ValueError("word_alignment_loss got no aligned pairs; check the dictionary or aligner output")
    if n_sentences < 1:
        raise ValueError(f"n_sentences must be positive; got {n_sentences}")
    align = ((src_vecs - tgt_vecs) ** 2).sum()
    keep = ((src_all - src_all_frozen.detach()) ** 2).sum() if len(src_all) else src_vecs.sum() * 0.0
    return (align + reg * keep) / n_sentences


def word_pair_links(src_words: Sequence[str], tgt_words: Sequence[str],
                    dictionary: dict[str, set[str]]) -> list[tuple[int, int]]:
    """Dictionary links inside one sentence pair, as Cao et al. use them: (i, j) where the lowercased
    target word is a translation of the lowercased source word and both occur **once** in their
    sentence (ambiguous repeats are skipped)."""
    s = [w.lower() for w in src_words]
    t = [w.lower() for w in tgt_words]
    s_once = {w for w in s if s.count(w) == 1}
    t_index = {w: j for j, w in enumerate(t) if t.count(w) == 1}
    links = []
    for i, w in enumerate(s):
        if w not in s_once:
            continue
        hits = [t_index[x] for x in dictionary.get(w, ()) if x in t_index]
        if len(hits) == 1:
            links.append((i, hits[0]))
    return links


# ---------------------------------------------------------------- distillation
def distillation_loss(student_en: torch.Tensor, student_x: torch.Tensor, teacher_en: torch.Tensor,
                      teacher_x: torch.Tensor | None = None) -> torch.Tensor:
    """Reimers & Gurevych (2020): MSE(s(e), T(e)) + MSE(s(x), T(e)), MSE averaged over elements.
    `teacher_x` replaces the target of the translation side (the shuffled-pairs control)."""
    teacher_x = teacher_en if teacher_x is None else teacher_x
    if not (student_en.shape == student_x.shape == teacher_en.shape == teacher_x.shape):
        raise ValueError(f"distillation_loss: shapes differ {tuple(student_en.shape)}, {tuple(student_x.shape)}, "
                         f"{tuple(teacher_en.shape)}")
    return F.mse_loss(student_en, teacher_en.detach()) + F.mse_loss(student_x, teacher_x.detach())


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean over non-padding tokens (the pooling of `Encoder.encode(pooling="mean")`), differentiable."""
    m = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def sample_pairs(n_available: int, n: int | None, seed: int) -> np.ndarray:
    """Indices of the first `n` of a seeded permutation of the parallel pairs (the data-efficiency
    axis: the 32 pairs are a subset of the 128, which are a subset of the 512)."""
    if n is not None and not 1 <= n <= n_available:
        raise ValueError(f"n must be between 1 and {n_available} (the parallel pairs available); got {n}")
    order = np.random.default_rng(seed).permutation(n_available)
    return order if n is None else order[:n]


# ---------------------------------------------------------------- batches and training runs
# Everything below turns the objectives above into `train.train_loop` runs. A batch is a pure
# function of (seed, step), so runs are reproducible and resumable.

METHODS = ("tlm", "mlm", "word_dict", "word_induced", "distill", "distill_shuffled")
# methods that need a separate teacher model (`train_method(..., teacher=)`), not run by the loop over METHODS
TEACHER_METHODS = ("distill_teacher",)
METHOD_NAMES = {"tlm": "TLM", "mlm": "MLM on the same text (no pairing)", "word_dict": "word alignment (dictionary)",
                "word_induced": "word alignment (induced)", "distill": "distillation",
                "distill_shuffled": "distillation on shuffled pairs (no pairing)",
                "distill_teacher": "distillation from a real teacher"}


def check_method(name: str) -> str:
    """The method name, or a one-line error listing the methods."""
    if name not in METHODS + TEACHER_METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(METHODS + TEACHER_METHODS)}")
    return name


def paragraph_pairs(par: dict, langs: Sequence[str], idx: Sequence[int]) -> list[tuple[str, str, str]]:
    """(language, English paragraph, its translation) for the English paragraphs `idx` of a parallel
    split, one pair per non-English language: n paragraphs give n x (languages - 1) pairs."""
    return [(lang, par["en"][i], par[lang][i]) for i in idx for lang in langs if lang != "en"]


def mono_batch(tokenizer, texts: Sequence[str], max_len: int, mask_prob: float, generator: torch.Generator) -> dict:
    """Each text alone as `<s> text </s>` (ordinary positions), masked as in MLM: the TLM control that
    sees the same sentences without their pairing."""
    if not texts:
        raise ValueError("mono_batch got no texts")
    start = tokenizer.pad_token_id + 1  # XLM-R's first position, as HF derives it
    rows = [tokenizer(t, add_special_tokens=True, truncation=True, max_length=max_len // 2)["input_ids"] for t in texts]
    return _masked_batch(tokenizer, [(i, list(range(start, start + len(i)))) for i in rows], mask_prob, generator)


class TLMBatches:
    """batch_fn(step) for TLM (`paired=True`) or its control (`paired=False`: the same sentences, each
    alone): `batch_size` translation pairs, plus a monolingual MLM batch from `mono` (a
    `pretrain.MLMBatches`, the base model's own pretraining stream) when given, as XLM mixes them."""

    def __init__(self, tokenizer, pairs: Sequence[tuple[str, str, str]], batch_size: int, max_len: int,
                 mask_prob: float = 0.15, seed: int = 0, paired: bool = True, mono=None):
        if not pairs:
            raise ValueError("TLMBatches got no translation pairs")
        self.tokenizer, self.pairs, self.batch_size, self.max_len = tokenizer, list(pairs), batch_size, max_len
        self.mask_prob, self.seed, self.paired, self.mono = mask_prob, seed, paired, mono

    def __call__(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        chosen = [self.pairs[i] for i in rng.integers(0, len(self.pairs), self.batch_size)]
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        if self.paired:
            batch = tlm_batch(self.tokenizer, [(e, x) for _, e, x in chosen], self.max_len, self.mask_prob, gen)
        else:
            batch = mono_batch(self.tokenizer, [t for _, e, x in chosen for t in (e, x)], self.max_len, self.mask_prob, gen)
        if self.mono is not None:
            m = self.mono(step)
            batch.update({"mono_input_ids": m["input_ids"], "mono_labels": m["labels"]})
        return batch


class MonoMLMBatches:
    """batch_fn(step): a monolingual MLM batch of packed `pretrain` sequences (one language per step,
    sampled ~ n_l^alpha as in pretraining), the stream XLM mixes into TLM. Only a seeded sample of
    `n_paragraphs` paragraphs per language is packed: a short continued-training run needs a few
    hundred sequences, not the whole corpus."""

    def __init__(self, tokenizer, langs: Sequence[str], batch_size: int = 4, max_len: int = 128,
                 n_paragraphs: int = 500, mask_prob: float = 0.15, alpha: float = 0.3, seed: int = 0):
        from .. import data
        from ..pretrain import pack_sequences
        from ..tokenize import language_sampling_weights

        if batch_size < 1 or n_paragraphs < 1:
            raise ValueError(f"batch_size and n_paragraphs must be positive; got {batch_size} and {n_paragraphs}")
        rng = np.random.default_rng(seed)
        self.langs, self.seqs = list(langs), []
        for lang in self.langs:
            pool = data.corpus(lang, "pretrain")[1]
            texts = [pool[i] for i in sorted(rng.choice(len(pool), min(n_paragraphs, len(pool)), replace=False))]
            self.seqs.append(pack_sequences(tokenizer, texts, max_len))
        self.weights = language_sampling_weights([len(s) for s in self.seqs], alpha)
        self.tokenizer, self.batch_size, self.mask_prob, self.seed = tokenizer, batch_size, mask_prob, seed

    def __call__(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, 7, step])
        li = int(rng.choice(len(self.langs), p=self.weights))
        ids = torch.from_numpy(np.array(self.seqs[li][rng.integers(0, len(self.seqs[li]), self.batch_size)]))
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + 500_009 + step)
        inputs, labels = mask_tokens(ids, self.tokenizer, self.mask_prob, gen)
        return {"input_ids": inputs, "labels": labels, "lang": self.langs[li]}


def tlm_mixed_loss(model, batch: dict) -> torch.Tensor:
    """TLM (or its unpaired control) plus, when the batch carries one, the monolingual MLM loss."""
    loss = tlm_loss(model, batch)
    if "mono_input_ids" in batch:
        from ..pretrain import mlm_loss

        loss = loss + mlm_loss(model, {"input_ids": batch["mono_input_ids"], "labels": batch["mono_labels"]})
    return loss


# word-level alignment -------------------------------------------------------------------------

def dictionary_links(pairs: Sequence[tuple[str, str, str]], dictionaries: dict[str, dict[str, set[str]]]):
    """Per pair: (English words, target words, dictionary links) with `word_pair_links`; languages
    without a dictionary get no links."""
    from .word_alignment import split_words

    out = []
    for lang, e, x in pairs:
        sw, tw = split_words(e), split_words(x)
        out.append((sw, tw, word_pair_links(sw, tw, dictionaries.get(lang, {}))))
    return out


def induced_links(encoder, pairs: Sequence[tuple[str, str, str]], layer: int = -1):
    """Per pair: (English words, target words, SimAlign Argmax links between content words) from
    `encoder`'s own embeddings (no dictionary, no supervision)."""
    from .word_alignment import align, split_words

    src = [split_words(e) for _, e, _ in pairs]
    tgt = [split_words(x) for _, _, x in pairs]
    content = lambda w: any(c.isalnum() for c in w)
    return [(s, t, [(i, j) for i, j in links if content(s[i]) and content(t[j])])
            for s, t, links in zip(src, tgt, align(encoder, src, tgt, layer))]


def _word_index(tokenizer, word_lists, max_len):
    """Tokenised pre-split sentences and, per sentence, {word: content-piece positions}."""
    from ..transfer import _space_id, word_positions

    enc = tokenizer([list(w) for w in word_lists], is_split_into_words=True, truncation=True, max_length=max_len,
                    padding=True, return_tensors="pt")
    sid = _space_id(tokenizer)
    return enc, [word_positions(enc, r, sid) for r in range(len(word_lists))]


def _pool_spec(positions_by_row: list[dict[int, list[int]]], wanted: list[list[int]], width: int):
    """Flat token indices, their word slot, and the slot of each (row, word) in `wanted` (missing
    words, cut by truncation, get no slot)."""
    flat, slot_of_token, slots = [], [], {}
    for r, (positions, words) in enumerate(zip(positions_by_row, wanted)):
        for w in words:
            if w in positions:
                slots[(r, w)] = len(slots)
                for p in positions[w]:
                    flat.append(r * width + p)
                    slot_of_token.append(slots[(r, w)])
    return torch.tensor(flat, dtype=torch.long), torch.tensor(slot_of_token, dtype=torch.long), slots


def pool_words(hidden: torch.Tensor, flat: torch.Tensor, slot: torch.Tensor, n_slots: int) -> torch.Tensor:
    """(n_slots, d): each word's mean over its content pieces, differentiable. `hidden` is (B, T, d)."""
    d = hidden.shape[-1]
    sums = torch.zeros(n_slots, d, dtype=hidden.dtype, device=hidden.device).index_add(0, slot, hidden.reshape(-1, d)[flat])
    counts = torch.zeros(n_slots, dtype=hidden.dtype, device=hidden.device).index_add(
        0, slot, torch.ones_like(slot, dtype=hidden.dtype))
    return sums / counts.clamp(min=1).unsqueeze(-1)


class WordAlignBatches:
    """batch_fn(step) for Cao et al.'s objective: `batch_size` sentence pairs that have links, tokenised,
    with the pooling specs of every English word (for the regulariser) and of the linked target words."""

    def __init__(self, tokenizer, linked: Sequence[tuple[list[str], list[str], list[tuple[int, int]]]],
                 batch_size: int, max_len: int, seed: int = 0, all_target_words: bool = False):
        self.examples = [ex for ex in linked if ex[2]]
        if not self.examples:
            raise ValueError("WordAlignBatches: no sentence pair has a word link; check the dictionary or aligner")
        self.tokenizer, self.batch_size, self.max_len, self.seed = tokenizer, batch_size, max_len, seed
        self.all_target_words = all_target_words  # pool every target word too (the contrastive negatives)

    def __call__(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        chosen = [self.examples[i] for i in rng.integers(0, len(self.examples), self.batch_size)]
        s_enc, s_pos = _word_index(self.tokenizer, [c[0] for c in chosen], self.max_len)
        t_enc, t_pos = _word_index(self.tokenizer, [c[1] for c in chosen], self.max_len)
        s_flat, s_slot, s_slots = _pool_spec(s_pos, [list(range(len(c[0]))) for c in chosen], s_enc["input_ids"].shape[1])
        wanted = [list(range(len(c[1]))) if self.all_target_words else sorted({j for _, j in c[2]}) for c in chosen]
        t_flat, t_slot, t_slots = _pool_spec(t_pos, wanted, t_enc["input_ids"].shape[1])
        links = [(s_slots[(r, i)], t_slots[(r, j)]) for r, c in enumerate(chosen) for i, j in c[2]
                 if (r, i) in s_slots and (r, j) in t_slots]
        return {"src_ids": s_enc["input_ids"], "src_mask": s_enc["attention_mask"], "src_flat": s_flat,
                "src_slot": s_slot, "n_src": len(s_slots), "tgt_ids": t_enc["input_ids"],
                "tgt_mask": t_enc["attention_mask"], "tgt_flat": t_flat, "tgt_slot": t_slot, "n_tgt": len(t_slots),
                "links": torch.tensor(links, dtype=torch.long).reshape(-1, 2),
                # the lowercased string in each slot (slots are numbered in insertion order)
                "src_words": [chosen[r][0][i].lower() for r, i in s_slots],
                "tgt_words": [chosen[r][1][j].lower() for r, j in t_slots]}


def side_words(model, batch: dict, side: str, layer: int) -> torch.Tensor:
    """(n words, d): the pooled words of one side ("src" or "tgt") of a `WordAlignBatches` batch at
    hidden state `layer`, differentiable."""
    hidden = body(model)(input_ids=batch[f"{side}_ids"], attention_mask=batch[f"{side}_mask"],
                         output_hidden_states=True).hidden_states[layer]
    return pool_words(hidden, batch[f"{side}_flat"], batch[f"{side}_slot"], batch[f"n_{side}"])


class WordAlignLoss:
    """loss_fn(model, batch) of Cao et al. at hidden state `layer`, with `frozen` (the starting model,
    never updated) for the regulariser on English words."""

    def __init__(self, frozen, layer: int = -1, reg: float = 1.0):
        self.frozen, self.layer, self.reg = frozen.eval(), layer, reg
        for p in self.frozen.parameters():
            p.requires_grad_(False)

    def __call__(self, model, batch: dict) -> torch.Tensor:
        src, tgt = side_words(model, batch, "src", self.layer), side_words(model, batch, "tgt", self.layer)
        with torch.no_grad():
            src0 = side_words(self.frozen, batch, "src", self.layer)
        links = batch["links"]
        if len(links) == 0:
            return src.sum() * 0.0
        return word_alignment_loss(src[links[:, 0]], tgt[links[:, 1]], src, src0, self.reg, batch["src_ids"].shape[0])


# distillation ---------------------------------------------------------------------------------

class DistillBatches:
    """batch_fn(step) for Reimers & Gurevych: `batch_size` (English, translation) pairs, tokenised, and
    the frozen teacher's mean-pooled embedding of each English side at `layer` (computed once).
    With `shuffled`, the translation's target is the embedding of another English paragraph (a
    seeded derangement of the distinct English paragraphs): the same texts without the pairing."""

    def __init__(self, teacher, pairs: Sequence[tuple[str, str, str]], batch_size: int, max_len: int,
                 layer: int = -1, seed: int = 0, shuffled: bool = False):
        if not pairs:
            raise ValueError("DistillBatches got no translation pairs")
        self.tokenizer, self.pairs, self.batch_size, self.max_len, self.seed = teacher.tokenizer, list(pairs), batch_size, max_len, seed
        english = sorted({e for _, e, _ in self.pairs})
        vecs = teacher.encode(english, layer=layer)
        self.target = {e: torch.from_numpy(v) for e, v in zip(english, vecs)}
        self.other = {e: e for e in english}
        if shuffled:
            if len(english) < 2:
                raise ValueError("the shuffled control needs at least two distinct English paragraphs")
            perm = np.random.default_rng([seed, 13]).permutation(len(english))
            self.other = {english[perm[k]]: english[perm[(k + 1) % len(perm)]] for k in range(len(perm))}

    def _tok(self, texts):
        return self.tokenizer(list(texts), truncation=True, max_length=self.max_len, padding=True, return_tensors="pt")

    def __call__(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        chosen = [self.pairs[i] for i in rng.integers(0, len(self.pairs), self.batch_size)]
        en, x = self._tok([e for _, e, _ in chosen]), self._tok([t for _, _, t in chosen])
        return {"en_ids": en["input_ids"], "en_mask": en["attention_mask"], "x_ids": x["input_ids"],
                "x_mask": x["attention_mask"], "teacher": torch.stack([self.target[e] for _, e, _ in chosen]),
                "teacher_x": torch.stack([self.target[self.other[e]] for _, e, _ in chosen])}


class DistillLoss:
    """loss_fn(model, batch): `distillation_loss` on the student's mean-pooled hidden state `layer`."""

    def __init__(self, layer: int = -1):
        self.layer = layer

    def _embed(self, model, ids, mask):
        hidden = body(model)(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[self.layer]
        return mean_pool(hidden, mask)

    def __call__(self, model, batch: dict) -> torch.Tensor:
        return distillation_loss(self._embed(model, batch["en_ids"], batch["en_mask"]),
                                 self._embed(model, batch["x_ids"], batch["x_mask"]), batch["teacher"],
                                 batch.get("teacher_x"))


def teacher_draws(pairs: Sequence[tuple[str, str, str]], steps: int, batch_size: int, seed: int) -> list[str]:
    """The distinct English texts that `steps` batches of `DistillBatches(..., seed=seed)` draw, sorted:
    the only texts a teacher has to embed."""
    if not pairs:
        raise ValueError("teacher_draws got no translation pairs")
    drawn = {int(i) for step in range(steps) for i in np.random.default_rng([seed, step]).integers(0, len(pairs), batch_size)}
    return sorted({pairs[i][1] for i in drawn})


def teacher_targets(teacher, texts: Sequence[str]) -> dict[str, torch.Tensor]:
    """{text: the teacher's embedding}: `teacher.encode` (its own tokenizer, prefix, pooling and
    normalisation), cached under `cache_dir()/teacher_targets` by the teacher's weights, tokenizer,
    conventions and the texts, so a re-run loads them."""
    from ..cache import load_or_compute, model_fingerprint

    texts = sorted(set(texts))
    if not texts:
        raise ValueError("teacher_targets got no texts")
    key = {"teacher": model_fingerprint(teacher.model, teacher.tokenizer), "conventions": teacher.conventions(),
           "texts": texts}
    vecs = load_or_compute("teacher_targets", key, lambda: teacher.encode(texts))
    return {t: torch.from_numpy(np.asarray(v, dtype=np.float32)) for t, v in zip(texts, vecs)}


def target_scale(teacher) -> float:
    """The factor c of the real teacher's targets (`TeacherDistillLoss`): √(width) for a teacher that
    L2-normalises its embeddings (each coordinate then has a mean square of 1), else 1."""
    return float(teacher.hidden_size) ** 0.5 if teacher.normalize else 1.0


class TeacherDistillBatches(DistillBatches):
    """`DistillBatches` (the same seeded draws) with a separate teacher: the student's tokenizer for
    both sides, and `targets` ({English text: teacher embedding}, from `teacher_targets`) as the
    target of both (no shuffling: the real-teacher run has no shuffled control here)."""

    def __init__(self, tokenizer, targets: dict, pairs: Sequence[tuple[str, str, str]], batch_size: int,
                 max_len: int, seed: int = 0):
        if not pairs:
            raise ValueError("TeacherDistillBatches got no translation pairs")
        self.tokenizer, self.pairs, self.batch_size, self.max_len, self.seed = tokenizer, list(pairs), batch_size, max_len, seed
        self.target = dict(targets)
        self.other = {e: e for e in self.target}

    def __call__(self, step: int) -> dict:
        rng = np.random.default_rng([self.seed, step])
        missing = {self.pairs[i][1] for i in rng.integers(0, len(self.pairs), self.batch_size)} - set(self.target)
        if missing:
            raise ValueError(f"no teacher target for {len(missing)} English text(s) of step {step}; compute the "
                             "targets with teacher_targets(teacher, teacher_draws(pairs, steps, batch_size, seed))")
        return super().__call__(step)


class TeacherDistillLoss(DistillLoss):
    """loss_fn(model, batch): `distillation_loss` of `proj` (a trained linear map from the student's
    width to the teacher's, initialised from `seed`) applied to the student's mean-pooled hidden state
    `layer` of each side, against `target_scale` x the teacher's embedding of the English side.

    `train_method` sets it with `target_scale`: √(teacher width) for a teacher that L2-normalises (e5): each
    target coordinate then has a mean square of 1, the scale of the student's layer-normed states
    through a projection of nn.Linear's initial range; unit-norm targets (coordinates of ~0.05) would
    spend a short run shrinking the projection's output. Scaling changes no cosine between targets."""

    def __init__(self, student_width: int, teacher_width: int, layer: int = -1, seed: int = 0,
                 target_scale: float = 1.0):
        super().__init__(layer)
        if student_width < 1 or teacher_width < 1:
            raise ValueError(f"widths must be positive; got {student_width} and {teacher_width}")
        if not target_scale > 0:
            raise ValueError(f"target_scale must be positive; got {target_scale!r}")
        self.target_scale = float(target_scale)
        self.proj = torch.nn.Linear(student_width, teacher_width)
        g, bound = torch.Generator().manual_seed(seed), student_width ** -0.5  # nn.Linear's own init range
        with torch.no_grad():
            self.proj.weight.copy_(torch.rand(teacher_width, student_width, generator=g) * 2 * bound - bound)
            self.proj.bias.copy_(torch.rand(teacher_width, generator=g) * 2 * bound - bound)

    def __call__(self, model, batch: dict) -> torch.Tensor:
        en = self._embed(model, batch["en_ids"], batch["en_mask"])
        self.proj.to(en.device)  # in place: the optimiser keeps the same parameters
        return distillation_loss(self.proj(en), self.proj(self._embed(model, batch["x_ids"], batch["x_mask"])),
                                 batch["teacher"] * self.target_scale, batch["teacher_x"] * self.target_scale)


def dictionaries_for(langs: Sequence[str]) -> dict[str, dict[str, set[str]]]:
    """{lang: {English word: its translations}} (lowercased) from the vendored FreeDict dictionaries;
    languages without one (Chinese in `ci`) are left out."""
    from .. import data
    from ..languages import LANGUAGES

    out = {}
    for lang in langs:
        if lang == "en":
            continue
        try:
            pairs = data.dictionary("en", lang)
        except (ValueError, data.DataError):
            continue
        d: dict[str, set[str]] = {}
        for a, b in pairs:
            d.setdefault(a.lower(), set()).add(b.lower())
        out[lang] = d
    return out


def train_method(encoder, method: str, pairs: Sequence[tuple[str, str, str]], steps: int, batch_size: int = 16,
                 lr: float = 1e-4, seed: int = 0, layer: int = -1, mono=None, links=None, reg: float = 1.0,
                 max_len: int | None = None, desc: str | None = None, teacher=None):
    """A trained copy of `encoder` (an `models.Encoder` with its MLM head) and its loss per step.

    `method`: "tlm" (TLM + `mono` MLM), "mlm" (the same sentences unpaired + `mono` MLM), "word_dict"
    / "word_induced" (Cao et al. on `links`, from `dictionary_links` / `induced_links`), "distill"
    (the frozen `encoder` on English is the teacher), "distill_shuffled" (its control: translations
    mapped onto other paragraphs' embeddings), "distill_teacher" (`teacher`, another `models.Encoder`,
    embeds the English side; a linear map from the student's width to the teacher's is trained with
    the student and then dropped: the returned encoder is the student alone). The starting encoder and
    the teacher are never changed.
    """
    import copy

    from ..train import fit_copy

    check_method(method)
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive; got {steps} and {batch_size}")
    if method.startswith("word") and links is None:
        raise ValueError(f"method {method!r} needs links= (dictionary_links or induced_links)")
    if (method == "distill_teacher") != (teacher is not None):
        raise ValueError("teacher= goes with method 'distill_teacher' only, which needs it (an Encoder, e.g. "
                         "models.load_model('me5-small'))" if teacher is not None
                         else "method 'distill_teacher' needs teacher= (an Encoder, e.g. models.load_model('me5-small'))")
    if teacher is not None and not isinstance(teacher, Encoder):
        raise ValueError(f"teacher must be an Encoder (models.load_model); got {type(teacher).__name__}")
    max_len = max_len or encoder.max_length
    tok = encoder.tokenizer
    extra = []
    if method == "distill_teacher":
        targets = teacher_targets(teacher, teacher_draws(pairs, steps, batch_size, seed))
        batches = TeacherDistillBatches(tok, targets, pairs, batch_size, max_len, seed)
        loss = TeacherDistillLoss(encoder.hidden_size, teacher.hidden_size, layer, seed, target_scale(teacher))
        extra = list(loss.proj.parameters())
    elif method in ("tlm", "mlm"):
        batches, loss = TLMBatches(tok, pairs, batch_size, max_len, seed=seed, paired=method == "tlm", mono=mono), tlm_mixed_loss
    elif method.startswith("word"):
        batches = WordAlignBatches(tok, links, batch_size, max_len, seed)
        loss = WordAlignLoss(copy.deepcopy(encoder.model), layer, reg)
    else:
        batches = DistillBatches(encoder, pairs, batch_size, max_len, layer, seed, shuffled=method == "distill_shuffled")
        loss = DistillLoss(layer)
    # the MLM objectives train everything; the others train the encoder body (the embeddings included:
    # they are tied to the MLM head's decoder, so filtering by parameter name would drop them)
    params = (lambda m: m.parameters()) if method in ("tlm", "mlm") else (lambda m: [*body(m).parameters(), *extra])
    return fit_copy(encoder, loss, batches, steps, lr=lr, seed=seed, desc=desc or METHOD_NAMES[method],
                    name=f"{encoder.name} + {METHOD_NAMES[method]}", params=params)
