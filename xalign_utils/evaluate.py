"""`evaluate_alignment`: every View I measure per language pair and layer, as one tidy table.

Introduced in notebook 00_measuring_alignment; every notebook reports through it, so results
compare across chapters. Columns: src, tgt, layer, measure, value (src = tgt = "all" for the
pooled measures: strong alignment and the language-ID probe).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from . import data, metrics
from .languages import check_languages
from .models import encode

SOURCES = ("lohelp", "ntrex")


def parallel_texts(langs: Sequence[str], source: str = "lohelp", split: str = "eval", n: int = 1000) -> dict[str, list[str]]:
    """n parallel items per language: held-out help paragraphs (`lohelp`) or NTREX news sentences."""
    if source == "lohelp":
        par = data.parallel(tuple(langs), split)
        return {lang: list(par[lang][:n]) for lang in langs}
    if source == "ntrex":
        nt = data.ntrex(langs)
        return {lang: nt[lang][:n] for lang in langs}
    raise ValueError(f"unknown source {source!r}; choose one of: {', '.join(SOURCES)}")


def alignment_table(embs: Mapping[str, np.ndarray], layers: Sequence[int] | None = None, k: int = 10,
                    seed: int = 0, measures: str = "all") -> pd.DataFrame:
    """All View I measures from embeddings: `embs[lang]` is (n, d) or (layers, n, d), rows parallel.

    `measures="weak"` skips the pooled measures (strong alignment, LID probe); `"headline"` keeps
    only cosine P@1 and the pooled measures (fast, for sweeps).
    """
    if measures not in ("all", "weak", "headline"):
        raise ValueError(f"unknown measures {measures!r}; choose 'all', 'weak' or 'headline'")
    langs = list(embs)
    arrs = {lang: np.asarray(e) for lang, e in embs.items()}
    arrs = {lang: e[None] if e.ndim == 2 else e for lang, e in arrs.items()}
    n_layers = next(iter(arrs.values())).shape[0]
    layers = list(range(n_layers)) if layers is None else list(layers)
    rows = []
    for li, layer in enumerate(layers):
        e = {lang: arrs[lang][li] for lang in langs}
        for a, b in combinations(langs, 2):
            cos = metrics.cosine_matrix(e[a], e[b])
            if measures == "headline":
                for src, tgt, c in ((a, b, cos), (b, a, cos.T)):
                    rows.append((src, tgt, layer, "p_at_1_cosine", float((metrics.ranks_of_gold(c) == 1).mean())))
                continue
            rows.append((a, b, layer, "cka", metrics.linear_cka(e[a], e[b])))
            rows.append((a, b, layer, "cosine_gap", metrics.cosine_gap_from(cos)))
            for src, tgt, c in ((a, b, cos), (b, a, cos.T)):
                for scoring, sim in metrics.all_scores(c, k).items():
                    ranks = metrics.ranks_of_gold(sim)
                    rows.append((src, tgt, layer, f"p_at_1_{scoring}", float((ranks == 1).mean())))
                    if scoring == "cosine":
                        rows.append((src, tgt, layer, "mrr_cosine", float((1.0 / ranks).mean())))
                rows.append((src, tgt, layer, "hubness", metrics.hubness_from(c, k)))
        if measures in ("all", "headline"):
            strong = metrics.strong_alignment(e)
            for name, value in strong.items():
                rows.append(("all", "all", layer, f"strong_{name}", value))
            rows.append(("all", "all", layer, "lid_probe", metrics.language_id_probe(e, seed)))
    return pd.DataFrame(rows, columns=["src", "tgt", "layer", "measure", "value"])


def embed_parallel(model, tokenizer, langs: Sequence[str], source: str = "lohelp", split: str = "eval",
                   n: int = 1000, pooling: str = "mean") -> dict[str, np.ndarray]:
    """{lang: (layers+1, n, d)} embeddings of n parallel items, every layer in one pass."""
    texts = parallel_texts(langs, source, split, n)
    return {lang: encode(model, tokenizer, texts[lang], layer="all", pooling=pooling) for lang in langs}


def evaluate_alignment(model, tokenizer, langs: Sequence[str], layers: Sequence[int] | None = None,
                       split: str = "eval", n: int = 1000, source: str = "lohelp", k: int = 10,
                       seed: int = 0, pooling: str = "mean") -> pd.DataFrame:
    """Tidy DataFrame (src, tgt, layer, measure, value) of all View I measures on held-out data.

    Layers index hidden states (0 = embeddings ... L = last); all of them by default. Pairs are all
    ordered pairs of `langs` (with English and between non-English languages).
    """
    langs = check_languages(langs, "lohelp" if source == "lohelp" else "ntrex")
    if len(langs) < 2:
        raise ValueError("evaluate_alignment needs at least two languages")
    embs = embed_parallel(model, tokenizer, langs, source, split, n, pooling)
    n_hidden = next(iter(embs.values())).shape[0]
    layers = list(range(n_hidden)) if layers is None else [l % n_hidden for l in layers]
    embs = {lang: e[layers] for lang, e in embs.items()}
    return alignment_table(embs, layers, k, seed)


def summarise(table: pd.DataFrame, measure: str, layer: int | None = None, pivot: bool = False):
    """Mean of one measure over pairs per layer (or, with `pivot`, a src x tgt matrix at `layer`)."""
    t = table[table.measure == measure]
    if layer is not None:
        t = t[t.layer == layer]
    if pivot:
        return t.pivot_table(index="src", columns="tgt", values="value")
    return t.groupby("layer")["value"].mean()
