"""A toy embedding space f(x) = meaning(x) + offset(language) (notebook 00_measuring_alignment).

Meanings are unit vectors in the first `d - len(langs)` dimensions; each language adds an offset of
norm `offset` along its own extra dimension. Every translation is the nearest neighbour among
candidates of the target language (weak alignment holds), but with `offset` > 1 a same-language
non-equivalent is nearer than the translation (strong alignment fails) until the language means
are subtracted.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def toy_space(n: int = 500, d: int = 64, langs: Sequence[str] = ("en", "de", "ru", "zh"),
              offset: float = 2.0, noise: float = 0.02, seed: int = 0) -> dict[str, np.ndarray]:
    """{lang: (n, d)} embeddings of n shared meanings plus a per-language offset and a little noise."""
    rng = np.random.default_rng(seed)
    k = d - len(langs)
    if k < 2:
        raise ValueError(f"d={d} leaves no room for meanings with {len(langs)} languages; raise d")
    meaning = rng.normal(size=(n, k))
    meaning /= np.linalg.norm(meaning, axis=1, keepdims=True)
    out = {}
    for i, lang in enumerate(langs):
        x = np.zeros((n, d))
        x[:, :k] = meaning + noise * rng.normal(size=(n, k))
        x[:, k + i] = offset
        out[lang] = x
    return out
