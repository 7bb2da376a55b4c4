"""Unsupervised word alignment from contextual embeddings: SimAlign's "Argmax" method.

Jalili Sabet et al. (2020), "SimAlign: High Quality Word Alignments without Parallel Training Data
using Static and Contextualized Embeddings". Each sentence of a translation pair is encoded once;
a word's vector is the mean of its sub-word pieces' hidden states at one layer (SimAlign averages
pieces too); source word i and target word j are aligned when j is i's most similar target word
**and** i is j's most similar source word (the intersection of the two argmax directions).

Written once for the book: the parallel-data chapter induces word pairs with it (Cao et al. 2020's
word-level objective), the contrastive and augmentation chapters reuse the pairs.

Choices where the paper is silent:
- A maximum shared by several candidates (tied by `metrics.tie_levels`: cosines within 1e-5) gives
  **no** link: a collapsed model, whose word vectors are all equal up to rounding, aligns nothing
  instead of aligning every word to the first one (or to whichever word rounding favours).
- Words are whitespace/punctuation tokens (`split_words`); Chinese, written without spaces, is cut
  into single Han characters (a stand-in for a word segmenter; say so where it matters).
- A bare "▁" piece (the tokenizer's word-start marker on pre-split words) is not content and is not
  averaged, as in `transfer.word_features`.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from ..metrics import SCORE_SCALES, top_ties
from ..models import Encoder

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def split_words(text: str) -> list[str]:
    """Words of a text: runs of letters/digits, single punctuation marks, single Han characters.

    Devanagari vowel signs (combining marks, not `\\w`) stay inside their word.
    """
    words, current = [], ""
    for ch in text:
        if ch.isspace():
            if current:
                words.append(current)
            current = ""
        elif _HAN.match(ch):
            if current:
                words.append(current)
            words.append(ch)
            current = ""
        elif ch.isalnum() or ch == "_" or (current and unicodedata.category(ch).startswith("M")):
            current += ch
        else:
            if current:
                words.append(current)
            words.append(ch)
            current = ""
    if current:
        words.append(current)
    return words


@torch.inference_mode()
def word_vectors(encoder: Encoder, sentences: Sequence[Sequence[str]], layer: int = -1,
                 batch_size: int = 64) -> list[np.ndarray]:
    """One (n_words, d) array per pre-split sentence: the mean of each word's content pieces at `layer`.

    A word cut off by truncation at the model's maximum length gets a row of NaN (never aligned).
    """
    from ..transfer import word_states

    if isinstance(sentences, str) or any(isinstance(s, str) for s in sentences):
        raise TypeError("word_vectors() takes pre-split sentences (lists of words); use split_words(text)")
    out = [np.zeros((0, encoder.hidden_size), dtype=np.float32) for _ in sentences]
    was_training = encoder.model.training
    encoder.model.eval()
    nonempty = [i for i, s in enumerate(sentences) if len(s)]
    for i, positions, hidden in word_states(encoder, sentences, layer, batch_size, nonempty):
        vecs = np.full((len(sentences[i]), hidden.shape[-1]), np.nan, dtype=np.float32)
        for w, p in positions.items():
            vecs[w] = hidden[p].float().mean(0).numpy()
        out[i] = vecs
    encoder.model.train(was_training)
    return out


def _unique_argmax(sim: np.ndarray, axis: int) -> np.ndarray:
    """Index of the maximum along `axis`, or -1 where it is shared (a tie, `metrics.tie_levels`) or
    undefined (NaN)."""
    rows = np.moveaxis(np.where(np.isnan(sim), -np.inf, sim), axis, -1)
    top = top_ties(rows, SCORE_SCALES["cosine"])  # no finite score: no winner at all
    return np.where(top.sum(-1) == 1, top.argmax(-1), -1)


def argmax_alignment(src: np.ndarray, tgt: np.ndarray) -> list[tuple[int, int]]:
    """SimAlign Argmax on two word-vector arrays: the (i, j) that are each other's unique best match
    by cosine similarity, sorted by i."""
    src, tgt = np.asarray(src, dtype=np.float64), np.asarray(tgt, dtype=np.float64)
    if src.ndim != 2 or tgt.ndim != 2 or (len(src) and len(tgt) and src.shape[1] != tgt.shape[1]):
        raise ValueError(f"argmax_alignment needs two (n_words, d) arrays of one width; got {src.shape} and {tgt.shape}")
    if len(src) == 0 or len(tgt) == 0:
        return []

    def unit(x):
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(norm > 0, x / np.where(norm > 0, norm, 1), np.nan)

    sim = unit(src) @ unit(tgt).T
    fwd = _unique_argmax(sim, axis=1)  # best target of each source word
    bwd = _unique_argmax(sim, axis=0)  # best source of each target word
    return [(i, int(j)) for i, j in enumerate(fwd) if j >= 0 and bwd[j] == i]


def align(encoder: Encoder, src_sentences: Sequence[Sequence[str]], tgt_sentences: Sequence[Sequence[str]],
          layer: int = -1, batch_size: int = 64) -> list[list[tuple[int, int]]]:
    """Argmax alignments of each pre-split sentence pair (word indices). Each distinct sentence is
    encoded once (an English sentence aligned to several languages repeats)."""
    if len(src_sentences) != len(tgt_sentences):
        raise ValueError(f"align() needs as many target as source sentences; got {len(src_sentences)} and "
                         f"{len(tgt_sentences)}")
    distinct = sorted({tuple(s) for s in (*src_sentences, *tgt_sentences)})
    vecs = dict(zip(distinct, word_vectors(encoder, [list(s) for s in distinct], layer, batch_size)))
    return [argmax_alignment(vecs[tuple(s)], vecs[tuple(t)]) for s, t in zip(src_sentences, tgt_sentences)]


@dataclass(frozen=True)
class AlignmentScores:
    precision: float
    recall: float
    f1: float
    aer: float  # alignment error rate (Och & Ney 2003) with every gold link counted as sure


def alignment_scores(predicted: Sequence[Sequence[tuple[int, int]]],
                     gold: Sequence[Sequence[tuple[int, int]]]) -> AlignmentScores:
    """Micro-averaged precision, recall, F1 and AER of predicted links against gold links."""
    if len(predicted) != len(gold):
        raise ValueError(f"alignment_scores needs one gold alignment per prediction; got {len(gold)} and {len(predicted)}")
    n_pred = n_gold = n_hit = 0
    for p, g in zip(predicted, gold):
        p, g = set(map(tuple, p)), set(map(tuple, g))
        n_pred, n_gold, n_hit = n_pred + len(p), n_gold + len(g), n_hit + len(p & g)
    if n_gold == 0:
        raise ValueError("alignment_scores got no gold links")
    precision = n_hit / n_pred if n_pred else 0.0
    recall = n_hit / n_gold
    f1 = 2 * precision * recall / (precision + recall) if n_hit else 0.0
    aer = 1.0 - 2 * n_hit / (n_pred + n_gold)
    return AlignmentScores(precision, recall, f1, aer)


def induce_word_pairs(encoder: Encoder, src_texts: Sequence[str], tgt_texts: Sequence[str], layer: int = -1,
                      min_count: int = 2, lowercase: bool = True) -> Counter:
    """Word pairs aligned by Argmax across a parallel corpus, with their counts (pairs seen fewer than
    `min_count` times and punctuation-only words dropped). Pass only `parallel`-split text."""
    if min_count < 1:
        raise ValueError(f"min_count must be at least 1; got {min_count}")
    src = [split_words(t.lower() if lowercase else t) for t in src_texts]
    tgt = [split_words(t.lower() if lowercase else t) for t in tgt_texts]
    counts: Counter = Counter()
    for s, t, links in zip(src, tgt, align(encoder, src, tgt, layer)):
        for i, j in links:
            if any(c.isalnum() for c in s[i]) and any(c.isalnum() for c in t[j]):
                counts[(s[i], t[j])] += 1
    return Counter({pair: c for pair, c in counts.items() if c >= min_count})
