"""Data augmentation with dictionaries (survey §4.4): code-switching task data (CoSDA-ML) and
pretraining text, and dictionaries induced from parallel text.

Only `parallel`-split text may be used to induce dictionaries, and only `pretrain` text or English
task-training data is code-switched (README, "Data and splits"); nothing here reads data.

Code-switching (Qin et al. 2020, CoSDA-ML)
    Each word of an English sentence that has an entry in at least one target-language dictionary is,
    with probability p, replaced by one of its translations: the language drawn uniformly among the
    languages that have an entry for it, the translation uniformly among that entry's words. One word
    is replaced by one word (the vendored dictionaries are single-word), so per-word labels (POS tags)
    stay aligned with the words. Capitalisation of the first letter is carried over.

Dictionary induction
    Word links from an aligner on translation pairs (SimAlign Argmax, `parallel.induced_links`) are
    counted per (English word, target word); an English word's entry keeps the target words seen at
    least `min_count` times, most frequent first. Precision@1 against a reference dictionary is the
    share of English words in both whose most frequent induced translation is listed in the reference.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

Dictionary = Mapping[str, Sequence[str]]  # lowercased English word -> its translations (one language)


def _content(word: str) -> bool:
    return any(c.isalpha() for c in word)


def code_switch(words: Sequence[str], dictionaries: Mapping[str, Dictionary], p: float,
                rng: np.random.Generator, protect: Callable[[str], bool] | None = None) -> tuple[list[str], list[str | None]]:
    """`words` with each word that has a dictionary entry replaced, with probability `p`, by a
    translation (see the module docstring). Words for which `protect(word)` is true are never
    replaced (e.g. product names that carry a task's label). Returns (new words, the language each
    word was switched to or None). The output has exactly as many words as the input.

    Three uniform numbers are drawn for every word whatever happens to it, so the random stream, and
    with it the fate of every other word, does not depend on `p` or on which words have entries."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"the switching probability p must be in [0, 1]; got {p}")
    langs = sorted(dictionaries)
    out, switched = [], []
    for w in words:
        u, r_lang, r_word = rng.random(3)
        key = w.lower()
        ok = _content(w) and not (protect is not None and protect(w))
        options = [l for l in langs if dictionaries[l].get(key)] if ok else []
        if options and u < p:
            lang = options[int(r_lang * len(options))]
            choices = sorted(dictionaries[lang][key])
            new = choices[int(r_word * len(choices))]
            if w[:1].isupper():
                new = new[:1].upper() + new[1:]
            out.append(new)
            switched.append(lang)
        else:
            out.append(w)
            switched.append(None)
    return out, switched


def code_switch_corpus(sentences: Sequence[Sequence[str]], dictionaries: Mapping[str, Dictionary], p: float,
                       seed: int = 0, protect: Callable[[str], bool] | None = None
                       ) -> tuple[list[list[str]], list[list[str | None]]]:
    """`code_switch` on every sentence with one seeded generator: deterministic for a seed."""
    rng = np.random.default_rng([seed, 41])
    pairs = [code_switch(s, dictionaries, p, rng, protect) for s in sentences]
    return [a for a, _ in pairs], [b for _, b in pairs]


def code_switch_texts(texts: Sequence[str], dictionaries: Mapping[str, Dictionary], p: float, seed: int = 0,
                      protect: Callable[[str], bool] | None = None) -> list[str]:
    """Running texts code-switched word by word (words as `word_alignment.split_words` finds them);
    everything between the words (spacing, punctuation) is kept as it was, so p = 0 returns the texts
    unchanged."""
    from .word_alignment import split_words

    split = [split_words(t) for t in texts]
    switched, langs = code_switch_corpus(split, dictionaries, p, seed, protect)
    out = []
    for text, words, new, by in zip(texts, split, switched, langs):
        pieces, pos = [], 0
        for w, n, lang in zip(words, new, by):
            start = text.index(w, pos)
            pieces.append(text[pos:start] + (n if lang else w))
            pos = start + len(w)
        out.append("".join(pieces) + text[pos:])
    return out


def vendored_dictionaries(langs: Sequence[str]) -> dict[str, dict[str, list[str]]]:
    """{lang: {English word: sorted translations}} from the vendored FreeDict dictionaries
    (lowercased, single-word); languages without one are left out."""
    from .parallel import dictionaries_for

    return {lang: {w: sorted(t) for w, t in d.items()} for lang, d in dictionaries_for(langs).items()}


def induce_dictionary(linked: Sequence[tuple[Sequence[str], Sequence[str], Sequence[tuple[int, int]]]],
                      min_count: int = 2) -> dict[str, list[str]]:
    """{English word: target words linked to it at least `min_count` times, most frequent first (ties
    alphabetical)} from (English words, target words, links) triples of one language pair. Words
    without a letter (numbers, punctuation) and identical strings (untranslated names) are skipped."""
    if min_count < 1:
        raise ValueError(f"min_count must be positive; got {min_count}")
    counts: dict[str, Counter] = defaultdict(Counter)
    for src, tgt, links in linked:
        for i, j in links:
            a, b = src[i].lower(), tgt[j].lower()
            if _content(a) and _content(b) and a != b:
                counts[a][b] += 1
    out = {}
    for a, c in counts.items():
        kept = sorted((b for b, n in c.items() if n >= min_count), key=lambda b: (-c[b], b))
        if kept:
            out[a] = kept
    return out


def precision_at_1(induced: Mapping[str, Sequence[str]], reference: Mapping[str, Sequence[str]]) -> tuple[float, int]:
    """(share of English words in both dictionaries whose first induced translation the reference
    lists, number of such words); (nan, 0) when they share no word."""
    shared = [w for w in induced if w in reference and induced[w]]
    if not shared:
        return float("nan"), 0
    return float(np.mean([induced[w][0] in set(reference[w]) for w in shared])), len(shared)


def coverage(words: Sequence[str], dictionary: Mapping[str, Sequence[str]]) -> float:
    """Share of the content words (with a letter) in `words` that have an entry in `dictionary`."""
    content = [w.lower() for w in words if _content(w)]
    if not content:
        raise ValueError("coverage needs at least one word with a letter")
    return float(np.mean([bool(dictionary.get(w)) for w in content]))


# ---------------------------------------------------------------- MLM on (code-switched) text
class TextMLMBatches:
    """batch_fn(step): `batch_size` packed rows of `max_len` tokens from `texts`, masked as in MLM
    (a pure function of the step)."""

    def __init__(self, tokenizer, texts: Sequence[str], batch_size: int = 8, max_len: int = 128,
                 mask_prob: float = 0.15, seed: int = 0):
        from ..pretrain import pack_sequences

        if batch_size < 1:
            raise ValueError(f"batch_size must be positive; got {batch_size}")
        self.rows = pack_sequences(tokenizer, texts, max_len)
        if len(self.rows) == 0:
            raise ValueError(f"the texts give no full sequence of {max_len} tokens; pass more text")
        self.tokenizer, self.batch_size, self.mask_prob, self.seed = tokenizer, batch_size, mask_prob, seed

    def __call__(self, step: int) -> dict:
        from ..pretrain import mask_tokens

        rng = np.random.default_rng([self.seed, 5, step])
        ids = torch.from_numpy(np.array(self.rows[rng.integers(0, len(self.rows), self.batch_size)]))
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + 77 + step)
        inputs, labels = mask_tokens(ids, self.tokenizer, self.mask_prob, gen)
        return {"input_ids": inputs, "labels": labels}


def train_mlm(encoder, texts: Sequence[str], steps: int, batch_size: int = 8, lr: float = 5e-4, seed: int = 0,
              max_len: int | None = None, desc: str = "MLM"):
    """A copy of `encoder` (with its MLM head) trained with MLM on `texts` for `steps` steps, and its
    loss per step. The starting encoder is never changed."""
    from ..pretrain import mlm_loss
    from ..train import fit_copy

    if steps < 1:
        raise ValueError(f"steps must be positive; got {steps}")
    max_len = max_len or min(encoder.max_length, 128)
    batches = TextMLMBatches(encoder.tokenizer, texts, batch_size, max_len, seed=seed)
    return fit_copy(encoder, mlm_loss, batches, steps, lr=lr, seed=seed, desc=desc, name=f"{encoder.name} + {desc}")
