"""`evaluate_alignment`: every View I measure per language pair and layer, as one tidy table, and the
protocol around it (which items, centring fitted off the eval rows, layer choice, controls).

Introduced in notebook 00_measuring_alignment; every notebook reports through it, so results
compare across chapters. Table columns: src, tgt, layer, measure, value (src = tgt = "all" for the
pooled measures: strong alignment and the language-ID probe).

The protocol (README, "How the book measures"): sentence-level measures use the eval items of at least
`data.SENTENCE_MIN_WORDS` English words (`items="sentences"`); the shorter ones are the "terms"
set. Nothing is fitted on eval rows: `fit_centring` estimates each language's mean on `pretrain`
paragraphs (inductive), and `choose_layer` picks a layer on `parallel`-split pairs. A number
computed with eval-fitted centring is labelled transductive where it is shown.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import sparse

from . import data, metrics
from .languages import LANGUAGES, check_languages
from .methods.transforms import LanguageCentering
from .models import Encoder

SOURCES = ("lohelp", "ntrex")
ITEM_SETS = ("sentences", "terms", "all")
MEASURES = ("all", "weak", "headline")


def parallel_texts(langs: Sequence[str], source: str = "lohelp", split: str = "eval", n: int | None = None,
                   items: str = "sentences") -> dict[str, list[str]]:
    """Parallel items per language: help paragraphs (`lohelp`; on the eval split restricted to
    `items`) or NTREX news sentences; the first `n` (all when None)."""
    if items not in ITEM_SETS:
        raise ValueError(f"unknown items {items!r}; choose one of: {', '.join(ITEM_SETS)}")
    if source == "lohelp":
        if split == "eval":
            if "en" not in langs:
                raise ValueError("eval items are split into sentences and terms by their English side; include 'en'")
            par = data.eval_items(langs, items)
        else:
            par = data.parallel(langs, split)
    elif source == "ntrex":
        par = data.ntrex(langs)
    else:
        raise ValueError(f"unknown source {source!r}; choose one of: {', '.join(SOURCES)}")
    return {lang: list(par[lang][:n]) for lang in langs}


def embed(encoder: Encoder, texts: Mapping[str, Sequence[str]], layer: int | str = "all",
          pooling: str = "mean") -> dict[str, np.ndarray]:
    """{lang: embeddings} of each language's texts: (layers+1, n, d) for layer="all", else (n, d)."""
    return {lang: encoder.encode(t, layer=layer, pooling=pooling) for lang, t in texts.items()}


def embed_parallel(encoder: Encoder, langs: Sequence[str], source: str = "lohelp", split: str = "eval",
                   n: int | None = None, pooling: str = "mean", items: str = "sentences") -> dict[str, np.ndarray]:
    """{lang: (layers+1, n, d)} embeddings of parallel items, every layer in one pass."""
    return embed(encoder, parallel_texts(langs, source, split, n, items), "all", pooling)


def fit_centring(encoder: Encoder, langs: Sequence[str], layer: int | str = "all", n_fit: int = 2000,
                 seed: int = 0, pooling: str = "mean", only: Sequence[str] | None = None
                 ) -> LanguageCentering | list[LanguageCentering]:
    """Language centring fitted inductively: each language's mean over `n_fit` random `pretrain`
    paragraphs (never eval rows). A list, one per hidden state, for layer="all". With `only`, the
    paragraphs are drawn exactly as for all of `langs` but only those languages are encoded and
    fitted (one encoder per language, `models.PerLanguage`, gets the same paragraphs)."""
    rng = np.random.default_rng(seed)
    texts = {}
    for lang in langs:
        pool = data.corpus(lang, "pretrain")[1]
        texts[lang] = [pool[i] for i in sorted(rng.choice(len(pool), min(n_fit, len(pool)), replace=False))]
    if only is not None:
        texts = {lang: texts[lang] for lang in only}
    fits = embed(encoder, texts, layer, pooling)
    if layer != "all":
        return LanguageCentering().fit(fits)
    n_hidden = next(iter(fits.values())).shape[0]
    return [LanguageCentering().fit({lang: e[i] for lang, e in fits.items()}) for i in range(n_hidden)]


def centre_layers(embs: Mapping[str, np.ndarray], centrings: Sequence[LanguageCentering]) -> dict[str, np.ndarray]:
    """Apply one fitted centring per hidden state to {lang: (layers+1, n, d)} embeddings."""
    n_hidden = next(iter(embs.values())).shape[0]
    if len(centrings) != n_hidden:
        raise ValueError(f"{len(centrings)} centrings for {n_hidden} hidden states; fit with layer='all'")
    per_layer = [centrings[i].transform({lang: e[i] for lang, e in embs.items()}) for i in range(n_hidden)]
    return {lang: np.stack([p[lang] for p in per_layer]) for lang in embs}


def alignment_table(embs: Mapping[str, np.ndarray], layers: Sequence[int] | None = None, k: int = 10,
                    seed: int = 0, measures: str = "all") -> pd.DataFrame:
    """All View I measures from embeddings: `embs[lang]` is (n, d) or (layers, n, d), rows parallel.

    `measures="weak"` skips the pooled measures (strong alignment, LID probe); `"headline"` keeps
    only cosine P@1 and the pooled measures (fast, for sweeps). Ties are scored by expectation.
    """
    if measures not in MEASURES:
        raise ValueError(f"unknown measures {measures!r}; choose one of: {', '.join(MEASURES)}")
    langs = list(embs)
    arrs = {lang: [e] if sparse.issparse(e) or np.ndim(e) == 2 else list(np.asarray(e)) for lang, e in embs.items()}
    n_layers = len(next(iter(arrs.values())))
    layers = list(range(n_layers)) if layers is None else list(layers)
    if len(layers) != n_layers:
        raise ValueError(f"{len(layers)} layer labels for {n_layers} stacked layers")
    rows = []
    for li, layer in enumerate(layers):
        e = {lang: arrs[lang][li] for lang in langs}
        for a, b in combinations(langs, 2):
            cos = metrics.cosine_matrix(e[a], e[b])
            if measures == "headline":
                for src, tgt, c in ((a, b, cos), (b, a, cos.T)):
                    hit = metrics.retrieval_outcomes(c, metrics.SCORE_SCALES["cosine"])["hit"]
                    rows.append((src, tgt, layer, "p_at_1_cosine", float(hit.mean())))
                continue
            rows.append((a, b, layer, "cka", metrics.linear_cka(e[a], e[b])))
            rows.append((a, b, layer, "cosine_gap", metrics.cosine_gap_from(cos)))
            for src, tgt, c in ((a, b, cos), (b, a, cos.T)):
                for scoring, sim in metrics.all_scores(c, k).items():
                    out = metrics.retrieval_outcomes(sim, metrics.SCORE_SCALES[scoring])
                    rows.append((src, tgt, layer, f"p_at_1_{scoring}", float(out["hit"].mean())))
                    if scoring == "cosine":
                        rows.append((src, tgt, layer, "mrr_cosine", float(out["rr"].mean())))
                rows.append((src, tgt, layer, "hubness", metrics.hubness_from(c, k, seed)))
        if measures in ("all", "headline"):
            strong = metrics.strong_alignment(e)
            for name, value in strong.items():
                rows.append(("all", "all", layer, f"strong_{name}", value))
            rows.append(("all", "all", layer, "lid_probe", metrics.language_id_probe(e, seed)))
    return pd.DataFrame(rows, columns=["src", "tgt", "layer", "measure", "value"])


def retrieval_hits(embs: Mapping[str, np.ndarray], src: str = "en", scoring: str = "cosine",
                   k: int = 10) -> pd.DataFrame:
    """Per-item outcomes of src->X retrieval: a DataFrame (items x target languages) of expected hits,
    the input of `metrics.paired_bootstrap`. `embs[lang]` is (n, d)."""
    if src not in embs:
        raise ValueError(f"source language {src!r} is not among the embedded languages {list(embs)}")
    out = {}
    for tgt in embs:
        if tgt != src:
            sim = metrics.all_scores(metrics.cosine_matrix(embs[src], embs[tgt]), k, (scoring,))[scoring]
            out[tgt] = metrics.retrieval_outcomes(sim, metrics.SCORE_SCALES[scoring])["hit"]
    return pd.DataFrame(out)


def evaluate_alignment(encoder: Encoder, langs: Sequence[str], layers: Sequence[int] | None = None,
                       split: str = "eval", n: int | None = None, source: str = "lohelp", k: int = 10,
                       seed: int = 0, pooling: str = "mean", items: str = "sentences",
                       centring: Sequence[LanguageCentering] | None = None) -> pd.DataFrame:
    """Tidy DataFrame (src, tgt, layer, measure, value) of all View I measures on held-out data.

    Layers index hidden states (0 = embeddings ... L = last; negative counts from the end; out of
    range is an error); all of them by default. Pairs are all ordered pairs of `langs`. `centring`:
    one fitted `LanguageCentering` per hidden state (from `fit_centring`), applied first.
    """
    langs = check_languages(langs, "lohelp" if source == "lohelp" else "ntrex")
    if len(langs) < 2:
        raise ValueError("evaluate_alignment needs at least two languages")
    if items not in ITEM_SETS:
        raise ValueError(f"unknown items {items!r}; choose one of: {', '.join(ITEM_SETS)}")
    layers = list(range(encoder.num_layers + 1)) if layers is None else [encoder.layer_index(l) for l in layers]
    embs = embed_parallel(encoder, langs, source, split, n, pooling, items)
    if centring is not None:
        embs = centre_layers(embs, centring)
    embs = {lang: e[layers] for lang, e in embs.items()}
    return alignment_table(embs, layers, k, seed)


def choose_layer(encoder: Encoder, langs: Sequence[str], centring: Sequence[LanguageCentering] | None = None,
                 n: int = 500, pooling: str = "mean") -> tuple[int, pd.Series]:
    """The hidden state with the best mean en->X P@1 on `parallel`-split pairs (never eval rows).
    Returns (layer, P@1 per layer)."""
    embs = embed_parallel(encoder, langs, "lohelp", "parallel", n, pooling)
    if centring is not None:
        embs = centre_layers(embs, centring)
    n_hidden = next(iter(embs.values())).shape[0]
    p1 = pd.Series([retrieval_hits({l: e[i] for l, e in embs.items()}).to_numpy().mean() for i in range(n_hidden)])
    return int(metrics.best_index(p1.to_numpy())), p1  # P@1 within the tie tolerance: the first such layer


def scripts_of(langs: Sequence[str]) -> dict[str, list[str]]:
    """{script: languages}, in the order the languages come."""
    out: dict[str, list[str]] = {}
    for lang in langs:
        out.setdefault(LANGUAGES[lang].script, []).append(lang)
    return out


def by_script(per_language: Mapping[str, float]) -> dict[str, float]:
    """Mean of a per-language value within each script (Latin, Cyrillic, Han, Devanagari, ...)."""
    return {script: float(np.mean([per_language[l] for l in ls])) for script, ls in scripts_of(list(per_language)).items()}


# ---------------------------------------------------------------- the pretraining log's check

def retrieval_monitor(encoder: Encoder, langs: Sequence[str], n: int | None = None, n_fit: int = 500) -> dict:
    """en->X P@1 (cosine, mean pooling) per layer on the eval sentence items, raw and centred with
    each language's mean over `n_fit` pretrain paragraphs (inductive). Written into training logs."""
    texts = parallel_texts(langs, "lohelp", "eval", n, "sentences")
    embs = embed(encoder, texts)
    centred = centre_layers(embs, fit_centring(encoder, langs, "all", n_fit))
    n_hidden = encoder.num_layers + 1
    out: dict = {"n": len(texts["en"])}
    for view, e in (("raw", embs), ("centred", centred)):
        per_layer = [retrieval_hits({l: x[i] for l, x in e.items()}) for i in range(n_hidden)]
        out[view] = {lang: [round(float(h[lang].mean()), 4) for h in per_layer] for lang in langs if lang != "en"}
    return out


def mean_over_languages(per_language: dict[str, list[float]]) -> list[float]:
    """Per-layer mean of per-language P@1 lists."""
    return np.mean(list(per_language.values()), axis=0).round(4).tolist()


def compare_with_control(held: dict) -> dict:
    """Per view (raw, centred): mean en->X P@1 over languages per layer, for the trained model and the
    control, and each one's best layer (as logged; the notebooks choose layers on the parallel split)."""
    out = {}
    for view in ("raw", "centred"):
        per = {name: mean_over_languages(held[name][view]) for name in ("trained", "random_init")}
        best = {name: max(v) for name, v in per.items()}
        out[view] = {"per_layer": per, "best": best, "beats_control": metrics.beats(best["trained"], best["random_init"])}
    return out


# ---------------------------------------------------------------- the base-model protocol

def item_subset(n_total: int, n: int | None, seed: int = 0) -> np.ndarray:
    """A seeded, sorted sample of `n` of `n_total` item indices (all of them when `n` is None or larger):
    the items a large model is measured on when all of them do not fit the time budget."""
    if n is None or n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, n, replace=False))


@dataclass
class Protocol:
    """One encoder measured with the book's sentence-retrieval protocol (see `measure_protocol`)."""

    name: str
    layer_raw: int  # chosen on parallel-split pairs, raw cosine
    layer_centred: int  # chosen on parallel-split pairs, inductively centred
    hits_raw: pd.DataFrame  # eval sentence items x target languages, at layer_raw
    hits_centred: pd.DataFrame  # the same at layer_centred, after inductive centring
    per_layer: pd.DataFrame  # mean en->X P@1 on eval per layer: columns raw, centred, centred_transductive
    embeddings: dict  # {lang: (layers+1, n, d)} raw eval-sentence embeddings, for further measures
    centring: list  # the fitted per-layer LanguageCentering

    def p_at_1(self, view: str = "centred") -> float:
        return float(getattr(self, f"hits_{view}").to_numpy().mean())


def measure_protocol(encoder, langs: Sequence[str], seed: int = 0, n_fit: int = 2000, n_parallel: int = 500,
                     name: str | None = None, rows: Sequence[int] | None = None) -> Protocol:
    """Sentence retrieval en->X the way the book reports it: eval items of >= 5 English words; each
    language's mean estimated on `pretrain` paragraphs (inductive centring); the layer chosen on
    `parallel`-split pairs, separately for raw and centred embeddings. Also returns the per-layer
    curve on eval (descriptive, never used for a choice) and the transductive upper bound (means
    fitted on the eval rows themselves), labelled as such. `rows`: only these eval sentence items
    (`item_subset`; a large model on CPU), in every language."""
    langs = check_languages(langs, "lohelp")
    if "en" not in langs:
        raise ValueError("the protocol retrieves en->X; include 'en' in langs")
    centring = fit_centring(encoder, langs, "all", n_fit, seed)
    par = embed_parallel(encoder, langs, "lohelp", "parallel", n_parallel)
    par_centred = centre_layers(par, centring)
    n_hidden = next(iter(par.values())).shape[0]

    def per_layer_p1(e):
        return [float(retrieval_hits({l: x[i] for l, x in e.items()}).to_numpy().mean()) for i in range(n_hidden)]

    layer_raw = int(metrics.best_index(per_layer_p1(par)))  # ties (within the tolerance): the first layer
    layer_centred = int(metrics.best_index(per_layer_p1(par_centred)))
    texts = parallel_texts(langs)
    if rows is not None:
        texts = {l: [t[i] for i in rows] for l, t in texts.items()}
    embs = embed(encoder, texts, "all")
    centred = centre_layers(embs, centring)
    transductive = centre_layers(embs, [LanguageCentering().fit({l: e[i] for l, e in embs.items()})
                                        for i in range(n_hidden)])
    curve = pd.DataFrame({"raw": per_layer_p1(embs), "centred": per_layer_p1(centred),
                          "centred_transductive": per_layer_p1(transductive)})
    curve.index.name = "layer"
    return Protocol(name or getattr(encoder, "name", "model"), layer_raw, layer_centred,
                    retrieval_hits({l: e[layer_raw] for l, e in embs.items()}),
                    retrieval_hits({l: e[layer_centred] for l, e in centred.items()}),
                    curve, embs, centring)
