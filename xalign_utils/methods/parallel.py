"""Parallel-data objectives (survey §4.1): translation language modelling, word-level alignment,
multilingual distillation. Each objective is a batch builder plus a loss for `train.train_loop`.

Only `parallel`-split text may be passed to these functions (DESIGN §3); nothing here reads data.

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
    English (not the reverse, and not everything towards a point).

Multilingual distillation (Reimers & Gurevych 2020)
    A student learns to map an English sentence e and its translation x onto the frozen teacher's
    embedding of e: L = MSE(s(e), T(e)) + MSE(s(x), T(e)).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models import body
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
    rows = [tlm_pair_ids(tokenizer, s, t, max_len) for s, t in pairs]
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
                        src_all_frozen: torch.Tensor, reg: float = 1.0) -> torch.Tensor:
    """Cao et al. (2020): mean over aligned pairs of ‖f(i;s) − f(j;t)‖² plus `reg` × mean over all
    English words of ‖f(i;s) − f₀(i;s)‖².

    `src_vecs`, `tgt_vecs`: (n_pairs, d) vectors of the aligned words (row k of each is one pair);
    `src_all`, `src_all_frozen`: (n_words, d) every English word of the batch, under the trained and
    the frozen model. (Means instead of the paper's sums: the same optimum, a step size that does
    not depend on the batch's word count.)
    """
    if src_vecs.shape != tgt_vecs.shape or src_all.shape != src_all_frozen.shape:
        raise ValueError(f"word_alignment_loss: shapes differ ({tuple(src_vecs.shape)} vs {tuple(tgt_vecs.shape)}, "
                         f"{tuple(src_all.shape)} vs {tuple(src_all_frozen.shape)})")
    if len(src_vecs) == 0:
        raise ValueError("word_alignment_loss got no aligned pairs; check the dictionary or aligner output")
    align = ((src_vecs - tgt_vecs) ** 2).sum(-1).mean()
    keep = ((src_all - src_all_frozen.detach()) ** 2).sum(-1).mean() if len(src_all) else src_vecs.sum() * 0.0
    return align + reg * keep


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
def distillation_loss(student_en: torch.Tensor, student_x: torch.Tensor, teacher_en: torch.Tensor) -> torch.Tensor:
    """Reimers & Gurevych (2020): MSE(s(e), T(e)) + MSE(s(x), T(e)), MSE averaged over elements."""
    if not (student_en.shape == student_x.shape == teacher_en.shape):
        raise ValueError(f"distillation_loss: shapes differ {tuple(student_en.shape)}, {tuple(student_x.shape)}, "
                         f"{tuple(teacher_en.shape)}")
    target = teacher_en.detach()
    return F.mse_loss(student_en, target) + F.mse_loss(student_x, target)


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
