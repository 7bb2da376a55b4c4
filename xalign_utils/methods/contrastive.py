"""Contrastive objectives (survey §4.2): sentence-level InfoNCE on translation pairs, word-level
contrastive alignment, English-only SimCSE. Each is a batch builder plus a loss for `train.train_loop`.

Only `parallel`-split text may be passed to these functions (README, "Data and splits"); nothing here
reads data.

Sentence-level InfoNCE (translation ranking; LaBSE, Feng et al. 2022; InfoXLM, Chi et al. 2021)
    For a batch of B pairs (e_i, x_i) with pooled, L2-normalised embeddings u_i = f(e_i), v_i = f(x_i):
        s_ij = u_i·v_j − m·[i = j]                    (additive margin m on the positive only)
        L_e→x = −(1/B) Σ_i log( exp(s_ii/τ) / Σ_j exp(s_ij/τ) ),
    and symmetrically L_x→e with u and v swapped; L = (L_e→x + L_x→e) / 2. The negatives of e_i are the
    other translations in the batch, plus, with a queue (MoCo / InfoXLM), the embeddings of earlier
    batches. Two rows that are translations of the same English paragraph are never each other's
    negatives (`exclude`), and the queue never holds a paragraph of the current batch.

Word-level contrastive alignment (Wu & Dredze 2020; Gaschi et al. 2023)
    The same loss over words: for each aligned word pair (i in e, j in x) the positive is the linked
    word, the negatives are all other words of the batch on the other side (words with the same
    string as the positive are excluded: they are not negatives). Word vectors are the mean of a
    word's content pieces at the trained layer (`parallel.pool_words`).

English-only SimCSE (Gao et al. 2021; the mSimCSE idea, Wang et al. 2022)
    The positive of an English paragraph is the same paragraph passed through the model a second time
    with a different dropout mask; the negatives are the other English paragraphs. No parallel data.
    The `ci` base model is pretrained without dropout, so SimCSE switches dropout on (p = 0.1, SimCSE's
    default) in the trained copy; evaluation runs in eval mode (no dropout) as for every model.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models import body
from .parallel import WordAlignBatches, mean_pool, side_words


# ---------------------------------------------------------------- the loss
def contrastive_logits(a: torch.Tensor, b: torch.Tensor, margin: float = 0.0, extra: torch.Tensor | None = None,
                       exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Cosine similarities (B, B + Q) of each row of `a` to every row of `b` (then of `extra`, the
    queued negatives), with `margin` subtracted from the positives (the diagonal) and the entries
    where `exclude` (B, B; the diagonal is ignored) is true set to −inf."""
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"contrastive_logits: a and b must be (batch, dim) of one shape; got {tuple(a.shape)}, {tuple(b.shape)}")
    if len(a) < 2 and (extra is None or len(extra) == 0):
        raise ValueError("contrastive_logits needs at least one negative: a batch of 2 or more, or a queue")
    a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    eye = torch.eye(len(a), dtype=torch.bool, device=a.device)
    sim = a @ b.T - margin * eye.to(a.dtype)
    if exclude is not None:
        sim = sim.masked_fill(exclude.to(torch.bool) & ~eye, float("-inf"))
    if extra is not None and len(extra):
        sim = torch.cat([sim, a @ F.normalize(extra, dim=-1).T], dim=1)
    return sim


def info_nce(a: torch.Tensor, b: torch.Tensor, tau: float = 0.05, margin: float = 0.0,
             queue_a: torch.Tensor | None = None, queue_b: torch.Tensor | None = None,
             exclude: torch.Tensor | None = None, symmetric: bool = True) -> torch.Tensor:
    """The InfoNCE loss of the module docstring: row i of `a` and row i of `b` are a positive pair.
    `queue_b` are extra negatives for a→b, `queue_a` for b→a; `exclude` (B, B) marks pairs of rows
    that must not serve as each other's negatives."""
    if not tau > 0:
        raise ValueError(f"the temperature tau must be positive; got {tau}")
    target = torch.arange(len(a), device=a.device)
    loss = F.cross_entropy(contrastive_logits(a, b, margin, queue_b, exclude) / tau, target)
    if not symmetric:
        return loss
    back = F.cross_entropy(contrastive_logits(b, a, margin, queue_a, None if exclude is None else exclude.T) / tau, target)
    return (loss + back) / 2


class NegativeQueue:
    """A first-in-first-out queue of detached embeddings from earlier batches (both sides of each
    pair, with the paragraph id they came from). `negatives(ids)` returns only the entries whose id
    is not among `ids`, so a paragraph of the current batch is never its own negative. Without a
    momentum encoder (MoCo, InfoXLM) the queued embeddings come from the model as it was a few steps
    earlier."""

    def __init__(self, size: int, dim: int):
        if size < 1:
            raise ValueError(f"queue size must be positive; got {size}")
        self.size = size
        self.a, self.b = torch.empty(0, dim), torch.empty(0, dim)
        self.ids = torch.empty(0, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.ids)

    def negatives(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        keep = ~torch.isin(self.ids, ids.cpu())
        return self.a[keep].to(ids.device), self.b[keep].to(ids.device)

    def push(self, a: torch.Tensor, b: torch.Tensor, ids: torch.Tensor) -> None:
        self.a = torch.cat([self.a, a.detach().cpu()])[-self.size:]
        self.b = torch.cat([self.b, b.detach().cpu()])[-self.size:]
        self.ids = torch.cat([self.ids, ids.detach().cpu()])[-self.size:]


# ---------------------------------------------------------------- sentence level
class SentencePairBatches:
    """batch_fn(step): `batch_size` pairs of **distinct** English paragraphs (each with one of its
    translations, language drawn at random), tokenised, with the paragraph id of each row. With
    `english_only`, the second side is the English paragraph again (SimCSE: dropout makes the two
    passes differ)."""

    def __init__(self, tokenizer, pairs: Sequence[tuple[str, str, str]], batch_size: int, max_len: int,
                 seed: int = 0, english_only: bool = False):
        if not pairs:
            raise ValueError("SentencePairBatches got no pairs")
        english = sorted({e for _, e, _ in pairs})
        self.group = {e: k for k, e in enumerate(english)}
        self.by_group: list[list[tuple[str, str, str]]] = [[] for _ in english]
        for p in pairs:
            self.by_group[self.group[p[1]]].append(p)
        if not 2 <= batch_size <= len(english):
            raise ValueError(f"batch_size must be between 2 and {len(english)} (the distinct English paragraphs); got {batch_size}")
        self.tokenizer, self.batch_size, self.max_len, self.seed = tokenizer, batch_size, max_len, seed
        self.english_only = english_only

    def _tok(self, texts):
        return self.tokenizer(list(texts), truncation=True, max_length=self.max_len, padding=True, return_tensors="pt")

    def choose(self, step: int) -> tuple[np.ndarray, list[tuple[str, str, str]]]:
        """The paragraph ids and (language, English, translation) pairs of batch `step`."""
        rng = np.random.default_rng([self.seed, step])
        groups = rng.choice(len(self.by_group), self.batch_size, replace=False)
        return groups, [self.by_group[g][rng.integers(len(self.by_group[g]))] for g in groups]

    def __call__(self, step: int) -> dict:
        groups, chosen = self.choose(step)
        en = self._tok([e for _, e, _ in chosen])
        x = en if self.english_only else self._tok([t for _, _, t in chosen])
        return {"a_ids": en["input_ids"], "a_mask": en["attention_mask"], "b_ids": x["input_ids"],
                "b_mask": x["attention_mask"], "ids": torch.as_tensor(groups, dtype=torch.long)}


class SentenceContrastLoss:
    """loss_fn(model, batch): `info_nce` on pooled hidden state `layer` ("mean" or "cls" pooling),
    with an optional queue of `queue_size` earlier embeddings as extra negatives."""

    def __init__(self, layer: int = -1, pooling: str = "mean", tau: float = 0.05, margin: float = 0.0,
                 queue_size: int = 0, dim: int | None = None):
        if pooling not in ("mean", "cls"):
            raise ValueError(f"unknown pooling {pooling!r}; use 'mean' or 'cls'")
        if queue_size < 0:
            raise ValueError(f"queue_size must be non-negative; got {queue_size}")
        if queue_size and dim is None:
            raise ValueError("a queue needs the embedding dimension (dim=)")
        self.layer, self.pooling, self.tau, self.margin = layer, pooling, tau, margin
        self.queue = NegativeQueue(queue_size, dim) if queue_size else None

    def embed(self, model, ids, mask):
        hidden = body(model)(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[self.layer]
        return mean_pool(hidden, mask) if self.pooling == "mean" else hidden[:, 0]

    def __call__(self, model, batch: dict) -> torch.Tensor:
        a = self.embed(model, batch["a_ids"], batch["a_mask"])
        b = self.embed(model, batch["b_ids"], batch["b_mask"])
        ids = batch["ids"]
        qa = qb = None
        if self.queue is not None:
            qa, qb = self.queue.negatives(ids)
        loss = info_nce(a, b, self.tau, self.margin, qa, qb, exclude=ids[:, None] == ids[None, :])
        if self.queue is not None:
            self.queue.push(a, b, ids)
        return loss


# ---------------------------------------------------------------- word level
def word_contrast_loss(src: torch.Tensor, tgt: torch.Tensor, links: torch.Tensor, src_words: Sequence[str],
                       tgt_words: Sequence[str], tau: float = 0.1) -> torch.Tensor:
    """InfoNCE over words: for link k = (i, j), `src[i]`'s positive is `tgt[j]` among every row of
    `tgt` (and the reverse); candidates with the positive's string (other than the positive) are
    excluded. `src` (n_src, d) and `tgt` (n_tgt, d) are every word of the batch on each side."""
    if len(links) == 0:
        raise ValueError("word_contrast_loss got no links; check the dictionary or aligner output")
    if not tau > 0:
        raise ValueError(f"the temperature tau must be positive; got {tau}")
    s, t = F.normalize(src, dim=-1), F.normalize(tgt, dim=-1)
    i, j = links[:, 0], links[:, 1]

    def one_side(q, cands, pos, words_c):
        vocab: dict[str, int] = {}
        string = torch.tensor([vocab.setdefault(w, len(vocab)) for w in words_c], device=q.device)
        slot = torch.arange(len(words_c), device=q.device)
        same = (string[None, :] == string[pos][:, None]) & (slot[None, :] != pos[:, None])  # same string, not the positive
        return F.cross_entropy(((q @ cands.T) / tau).masked_fill(same, float("-inf")), pos)

    return (one_side(s[i], t, j, tgt_words) + one_side(t[j], s, i, src_words)) / 2


class WordContrastLoss:
    """loss_fn(model, batch) for `WordAlignBatches(..., all_target_words=True)` batches:
    `word_contrast_loss` at hidden state `layer`."""

    def __init__(self, layer: int = -1, tau: float = 0.1):
        self.layer, self.tau = layer, tau

    def __call__(self, model, batch: dict) -> torch.Tensor:
        src, tgt = side_words(model, batch, "src", self.layer), side_words(model, batch, "tgt", self.layer)
        if len(batch["links"]) == 0:
            return src.sum() * 0.0
        return word_contrast_loss(src, tgt, batch["links"], batch["src_words"], batch["tgt_words"], self.tau)


# ---------------------------------------------------------------- training runs
METHODS = ("infonce", "word_contrast", "simcse")
METHOD_NAMES = {"infonce": "sentence InfoNCE", "word_contrast": "word-level contrastive", "simcse": "English-only SimCSE"}


def check_method(name: str) -> str:
    """The method name, or a one-line error listing the methods."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of: {', '.join(METHODS)}")
    return name


def set_dropout(model: torch.nn.Module, p: float) -> dict[str, float]:
    """Set every `nn.Dropout` of `model` to probability `p`; returns each module's previous
    probability (by module name), for `restore_dropout`."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout must be in [0, 1); got {p}")
    before = {}
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Dropout):
            before[name], m.p = m.p, p
    return before


def restore_dropout(model: torch.nn.Module, before: dict[str, float]) -> None:
    """Put back the probabilities `set_dropout` returned."""
    for name, m in model.named_modules():
        if name in before:
            m.p = before[name]


def train_contrastive(encoder, method: str, pairs: Sequence[tuple[str, str, str]], steps: int, batch_size: int = 16,
                      lr: float = 5e-4, seed: int = 0, layer: int = -1, pooling: str = "mean", tau: float = 0.05,
                      margin: float = 0.0, queue_size: int = 0, links=None, word_tau: float = 0.1,
                      dropout: float = 0.1, max_len: int | None = None, desc: str | None = None,
                      freeze_embeddings: bool = False):
    """A trained copy of `encoder` and its loss per step. The encoder body is trained (the tied word
    embeddings included); the starting encoder is never changed.

    `method`: "infonce" (translation pairs `pairs`, with `tau`, `margin`, `queue_size`),
    "word_contrast" (word links `links` from `parallel.dictionary_links` / `induced_links`, `word_tau`),
    "simcse" (the English side of `pairs` only, dropout `dropout` during training; with `dropout=0` the
    two passes are identical and only the push between different paragraphs is left: its control).
    `freeze_embeddings` keeps the word embeddings as they are (no gradient, no optimiser state: for a
    real model's 250k-row vocabulary, most of whose rows a short run never sees).
    """
    from functools import partial

    from ..train import fit_copy

    check_method(method)
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive; got {steps} and {batch_size}")
    if method == "word_contrast" and links is None:
        raise ValueError("method 'word_contrast' needs links= (parallel.dictionary_links or induced_links)")
    max_len = max_len or encoder.max_length
    tok = encoder.tokenizer
    if method == "word_contrast":
        batches = WordAlignBatches(tok, links, batch_size, max_len, seed, all_target_words=True)
        loss = WordContrastLoss(layer, word_tau)
    else:
        batches = SentencePairBatches(tok, pairs, batch_size, max_len, seed, english_only=method == "simcse")
        loss = SentenceContrastLoss(layer, pooling, tau, margin, queue_size, encoder.hidden_size)
    # SimCSE trains with its own dropout, then goes back to the starting model's settings
    prepare = (lambda m: partial(restore_dropout, m, set_dropout(m, dropout))) if method == "simcse" else None
    params = lambda m: body(m).parameters()  # noqa: E731
    if freeze_embeddings:
        prepare = freeze_word_embeddings(prepare)
        params = lambda m: [p for p in body(m).parameters() if p.requires_grad]  # noqa: E731
    return fit_copy(encoder, loss, batches, steps, lr=lr, seed=seed, desc=desc or METHOD_NAMES[method],
                    name=f"{encoder.name} + {METHOD_NAMES[method]}", params=params, prepare=prepare)


def freeze_word_embeddings(prepare=None):
    """A `fit_copy` prepare hook: the word embeddings get no gradient during training (then back as
    they were), after `prepare` (if any) has run."""
    def hook(model):
        undo = prepare(model) if prepare is not None else None
        weight = body(model).get_input_embeddings().weight
        weight.requires_grad_(False)

        def restore():
            weight.requires_grad_(True)
            if undo is not None:
                undo()
        return restore
    return hook
