"""The lexical control: character n-gram TF-IDF, no neural model (scikit-learn).

Introduced in notebook 00_measuring_alignment. Help text shares numbers, names, code and untranslated
UI terms across languages; whatever this control retrieves or classifies, shared surface strings
alone explain. It is fitted (vocabulary and IDF) on `pretrain` paragraphs of the given languages,
never on eval rows, and `encode` returns L2-normalised sparse vectors that every measure in
`metrics` and both View II tasks accept.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import data
from .languages import check_languages


class TfidfControl:
    """Character n-grams within word boundaries (`char_wb`), sublinear TF, IDF from pretrain text."""

    def __init__(self, langs: Sequence[str], ngram_range: tuple[int, int] = (2, 4), n_fit: int = 5000,
                 max_features: int = 200_000, seed: int = 0):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.langs = check_languages(langs, "lohelp")
        self.name = f"TF-IDF char {ngram_range[0]}-{ngram_range[1]}-grams"
        rng = np.random.default_rng(seed)
        fit = []
        for lang in self.langs:
            pool = data.corpus(lang, "pretrain")[1]
            fit.extend(pool[i] for i in sorted(rng.choice(len(pool), min(n_fit, len(pool)), replace=False)))
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=ngram_range, sublinear_tf=True,
                                          max_features=max_features, dtype=np.float32).fit(fit)

    def __repr__(self) -> str:
        return f"TfidfControl({self.name}, {len(self.vectorizer.vocabulary_)} features)"

    def encode(self, texts: Sequence[str], **_ignored):
        """L2-normalised sparse TF-IDF rows (n, features); layer/pooling arguments are ignored."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        if not texts:
            raise ValueError("encode() got no texts")
        return self.vectorizer.transform(texts).tocsr()
