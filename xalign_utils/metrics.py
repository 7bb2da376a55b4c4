"""Alignment measures: View I (weak and strong retrieval) and the diagnostics around it.

Introduced in notebook 00_measuring_alignment; every later notebook reports through
`alignment_table` / `evaluate_alignment`. All measures are pure functions over arrays where row i
of `src` translates row i of `tgt`; each is tested against an independent formula (tests/).

- weak alignment (target-language candidates only): `retrieval_accuracy` (P@1), `mrr`, with
  cosine, CSLS (Conneau et al. 2018) or ratio-margin (Artetxe & Schwenk 2019) scoring;
- strong alignment (mixed-language pool, Roy et al. 2020): `strong_alignment`;
- `linear_cka` (Kornblith et al. 2019), `cosine_gap`, `hubness`, `language_id_probe`.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

SCORINGS = ("cosine", "csls", "margin")


def _as_matrix(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (n, d); got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values; check the model's embeddings")
    return x


def _pair(src, tgt) -> tuple[np.ndarray, np.ndarray]:
    s, t = _as_matrix(src, "src"), _as_matrix(tgt, "tgt")
    if s.shape != t.shape:
        raise ValueError(f"src and tgt must have the same shape (row i translates row i); got {s.shape} and {t.shape}")
    return s, t


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _topk_mean(sim: np.ndarray, k: int) -> np.ndarray:
    """Mean of the k largest values in each row."""
    return np.partition(sim, -k, axis=1)[:, -k:].mean(1)


def similarity(src, tgt, scoring: str = "cosine", k: int = 10) -> np.ndarray:
    """(n_src, n_tgt) score matrix: cosine, CSLS or ratio margin with k neighbours."""
    if scoring not in SCORINGS:
        raise ValueError(f"unknown scoring {scoring!r}; choose one of: {', '.join(SCORINGS)}")
    s, t = _as_matrix(src, "src"), _as_matrix(tgt, "tgt")
    return all_scores(_normalise(s) @ _normalise(t).T, k, (scoring,))[scoring]


def all_scores(cos: np.ndarray, k: int = 10, scorings=SCORINGS) -> dict[str, np.ndarray]:
    """Cosine, CSLS and ratio-margin score matrices from one cosine matrix (shared neighbourhoods)."""
    out = {"cosine": cos}
    if set(scorings) - {"cosine"}:
        if k < 1 or k > min(cos.shape):
            raise ValueError(f"k={k} neighbours needs 1 <= k <= n (n = {min(cos.shape)}); lower k or add rows")
        r_src = _topk_mean(cos, k)  # mean similarity of each source to its k nearest targets
        r_tgt = _topk_mean(cos.T, k)  # mean similarity of each target to its k nearest sources
        if "csls" in scorings:
            out["csls"] = 2 * cos - r_src[:, None] - r_tgt[None, :]
        if "margin" in scorings:
            out["margin"] = cos / ((r_src[:, None] + r_tgt[None, :]) / 2)
    return {name: out[name] for name in scorings}


def cosine_matrix(src, tgt) -> np.ndarray:
    """Cosine similarities of every src row with every tgt row."""
    return _normalise(_as_matrix(src, "src")) @ _normalise(_as_matrix(tgt, "tgt")).T


def ranks_of_gold(scores: np.ndarray) -> np.ndarray:
    """1-based rank of the gold item (the diagonal) in each row; ties are not counted against it."""
    gold = np.diag(scores)
    return (scores > gold[:, None]).sum(1) + 1


def retrieval_accuracy(src, tgt, scoring: str = "cosine", k: int = 10) -> float:
    """Weak alignment P@1: how often tgt[i] is the best-scored of all tgt rows for src[i]."""
    s, t = _pair(src, tgt)
    return float((ranks_of_gold(similarity(s, t, scoring, k)) == 1).mean())


def mrr(src, tgt, scoring: str = "cosine", k: int = 10) -> float:
    """Mean reciprocal rank of tgt[i] among all tgt rows for query src[i]."""
    s, t = _pair(src, tgt)
    return float((1.0 / ranks_of_gold(similarity(s, t, scoring, k))).mean())


def strong_alignment(embs: Mapping[str, np.ndarray], chunk: int = 1024) -> dict[str, float]:
    """Strong alignment over the pooled mixed-language set (query itself removed).

    `embs` maps language -> (n, d) array of the same n parallel items. For every query, the relevant
    items are its equivalents in the other languages; everything else (including same-language
    non-equivalents) is a distractor. Returns `map` (mean average precision), `p_at_1` (nearest
    non-self item is an equivalent) and `same_language_bias` (nearest non-self item is a
    non-equivalent in the query's own language).
    """
    langs = list(embs)
    if len(langs) < 2:
        raise ValueError("strong_alignment needs at least two languages")
    mats = [_as_matrix(embs[lang], f"embs[{lang!r}]") for lang in langs]
    if len({m.shape for m in mats}) != 1:
        raise ValueError(f"all languages need the same (n, d) shape; got {[m.shape for m in mats]}")
    n, n_lang = mats[0].shape[0], len(langs)
    x = _normalise(np.concatenate(mats))
    item = np.tile(np.arange(n), n_lang)
    lang = np.repeat(np.arange(n_lang), n)
    others = np.array([[b for b in range(n_lang) if b != a] for a in range(n_lang)])
    aps, p1, bias = [], [], []
    for start in range(0, len(x), chunk):
        q = np.arange(start, min(start + chunk, len(x)))
        sim = x[q] @ x.T
        sim[np.arange(len(q)), q] = -np.inf  # remove the query itself
        rel_idx = others[lang[q]] * n + item[q][:, None]  # equivalents in the other languages
        rel_scores = -np.sort(-np.take_along_axis(sim, rel_idx, 1), axis=1)
        # rank of the j-th best relevant item = j + number of distractors scored strictly higher
        distract = sim.copy()
        np.put_along_axis(distract, rel_idx, -np.inf, 1)
        ranks = (distract[:, :, None] > rel_scores[:, None, :]).sum(1) + np.arange(1, n_lang)[None, :]
        precision = np.arange(1, n_lang)[None, :] / ranks
        aps.append(precision.mean(1))
        nearest = sim.argmax(1)
        p1.append((item[nearest] == item[q]) & (lang[nearest] != lang[q]))
        bias.append((lang[nearest] == lang[q]) & (item[nearest] != item[q]))
    return {"map": float(np.concatenate(aps).mean()), "p_at_1": float(np.concatenate(p1).mean()),
            "same_language_bias": float(np.concatenate(bias).mean())}


def linear_cka(x, y) -> float:
    """Linear CKA (Kornblith et al. 2019): ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F)."""
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y need the same number of rows; got {x.shape[0]} and {y.shape[0]}")
    x, y = x - x.mean(0), y - y.mean(0)
    num = np.linalg.norm(y.T @ x) ** 2
    den = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(num / den) if den > 0 else 0.0


def cosine_gap(src, tgt) -> float:
    """Mean cosine of translation pairs minus the mean cosine of all non-translation pairs."""
    s, t = _pair(src, tgt)
    if len(s) < 2:
        raise ValueError("cosine_gap needs at least 2 pairs")
    return cosine_gap_from(_normalise(s) @ _normalise(t).T)


def cosine_gap_from(cos: np.ndarray) -> float:
    """`cosine_gap` from a square cosine matrix (translations on the diagonal)."""
    n = len(cos)
    diag = np.trace(cos)
    return float(diag / n - (cos.sum() - diag) / (n * n - n))


def hubness(src, tgt, k: int = 10) -> float:
    """Skewness of the k-occurrence distribution of tgt rows in src's k-NN lists (cosine)."""

    s, t = _pair(src, tgt)
    if k < 1 or k > len(t):
        raise ValueError(f"k={k} neighbours needs 1 <= k <= n (n = {len(t)})")
    return hubness_from(_normalise(s) @ _normalise(t).T, k)


def hubness_from(cos: np.ndarray, k: int = 10) -> float:
    """`hubness` from a cosine matrix (queries in rows)."""
    from scipy.stats import skew

    nn = np.argpartition(-cos, k - 1, axis=1)[:, :k]
    counts = np.bincount(nn.ravel(), minlength=cos.shape[1])
    return float(skew(counts)) if counts.std() > 0 else 0.0


def language_id_probe(embs: Mapping[str, np.ndarray], seed: int = 0, train_fraction: float = 0.5) -> float:
    """Held-out accuracy of a logistic-regression classifier predicting the language of an embedding.

    Items are split by index, so no test item's translation is seen in training.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    langs = list(embs)
    if len(langs) < 2:
        raise ValueError("language_id_probe needs at least two languages")
    mats = [_as_matrix(embs[lang], f"embs[{lang!r}]") for lang in langs]
    n = min(m.shape[0] for m in mats)
    if n < 4:
        raise ValueError("language_id_probe needs at least 4 items per language")
    perm = np.random.default_rng(seed).permutation(n)
    cut = int(n * train_fraction)
    tr, te = perm[:cut], perm[cut:]
    xtr = np.concatenate([m[tr] for m in mats])
    xte = np.concatenate([m[te] for m in mats])
    ytr = np.repeat(np.arange(len(mats)), len(tr))
    yte = np.repeat(np.arange(len(mats)), len(te))
    scaler = StandardScaler().fit(xtr)
    clf = LogisticRegression(max_iter=500, random_state=seed).fit(scaler.transform(xtr), ytr)
    return float((clf.predict(scaler.transform(xte)) == yte).mean())


def evaluate_alignment(*args, **kwargs):
    """See `xalign_utils.evaluate.evaluate_alignment` (re-exported here as the issue names it)."""
    from .evaluate import evaluate_alignment as _evaluate_alignment

    return _evaluate_alignment(*args, **kwargs)
