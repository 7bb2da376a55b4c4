"""Alignment measures: View I (weak and strong retrieval), the diagnostics around it, and the
statistics every comparison uses (paired bootstrap intervals and the verdict read from them).

Introduced in notebook 00_measuring_alignment; every later notebook reports through
`evaluate.alignment_table` / `evaluate.evaluate_alignment`. All measures are pure functions over
arrays where row i of `src` translates row i of `tgt`; each is tested against an independent
formula (tests/).

- weak alignment (target-language candidates only): `retrieval_accuracy` (P@1), `mrr`, with
  cosine, CSLS (Conneau et al. 2018) or ratio-margin (Artetxe & Schwenk 2019) scoring;
- strong alignment (mixed-language pool, Roy et al. 2020): `strong_alignment`;
- `linear_cka` (Kornblith et al. 2019), `cosine_gap`, `hubness`, `language_id_probe`;
- `paired_bootstrap` and `verdict`.

**Ties are scored by their expectation under random tie-breaking**, everywhere a rank is taken: a
gold item tied with t others counts as a hit with probability 1/(t+1). So a collapsed model (every
embedding the same) scores exactly chance (P@1 = 1/n, MRR = H_n/n, the random-ranking mAP), never
"perfect alignment".

**What counts as a tie** (`tie_levels`, the one rule every rank and argmax over scores goes through,
here, in `evaluate`, `transfer` and the methods that measure): scores closer than `TIE_RTOL` = 1e-5
times their *scale* (`SCORE_SCALES`). Float32 rounding of a cosine is about 1e-7, and BLAS and
torch's CPU kernels round equal products differently from one machine to another (and from one row
of a matrix to the next), so a strict comparison lets rounding pick the winners; a real difference
below 1e-5 of the scale is not a finding. The scale is that of the inputs a score is built from,
never the score's own magnitude (a collapsed model's CSLS is 0 up to rounding): cosine 1 (unit vectors:
the rounding error of a cosine is eps x sum |x_k y_k| <= eps, whatever its value), CSLS 4
(2|cos| + |r_src| + |r_tgt| <= 4), ratio margin 2 (cos / den with den close to cos near the top:
its rounding is (d cos + margin d den) / den, about 2 eps), class probabilities 1. Ties are grouped
on a grid of that step hung from each row's best score: level 0 (within one tolerance of the best)
are the winners, level 1 the next step down, and so on. A grid makes ties transitive, so queries
whose scores repeat each other's up to rounding get the same groups (unless a score lies within
rounding of a grid line: odds of about 1e-7 / 1e-5 per score, and only the top line matters for
P@1), and queries without information (one embedding for all) add up to exactly one hit.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse
from scipy.special import digamma

SCORINGS = ("cosine", "csls", "margin")
TIE_RTOL = 1e-5  # scores within TIE_RTOL x scale are ties (float32 rounding of a cosine: ~1e-7)
SCORE_SCALES = {"cosine": 1.0, "csls": 4.0, "margin": 2.0}  # the scale of each scoring's inputs (docstring)
VERDICTS = ("better", "worse", "inconclusive")


def _as_matrix(x, name: str):
    """A float64 (n, d) array, or a CSR matrix for scipy sparse input (e.g. TF-IDF vectors)."""
    if sparse.issparse(x):
        x = sparse.csr_matrix(x, dtype=np.float64)
        values = x.data
    else:
        x = np.asarray(x, dtype=np.float64)
        values = x
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (n, d); got shape {x.shape}")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values; check the model's embeddings")
    return x


def _pair(src, tgt) -> tuple[np.ndarray, np.ndarray]:
    s, t = _as_matrix(src, "src"), _as_matrix(tgt, "tgt")
    if s.shape != t.shape:
        raise ValueError(f"src and tgt must have the same shape (row i translates row i); got {s.shape} and {t.shape}")
    return s, t


def _normalise(x):
    if sparse.issparse(x):
        norms = np.sqrt(np.asarray(x.multiply(x).sum(1)).ravel())
        return sparse.diags(1 / np.maximum(norms, 1e-12)) @ x
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _dense(x) -> np.ndarray:
    return x.toarray() if sparse.issparse(x) else np.asarray(x)


def harmonic(n) -> np.ndarray:
    """H_n = 1 + 1/2 + ... + 1/n (H_0 = 0), for arrays of non-negative integers."""
    n = np.asarray(n, dtype=np.float64)
    return digamma(n + 1) + np.euler_gamma


def tie_levels(scores, scale: float = 1.0) -> np.ndarray:
    """Tie group of every score in its row: how many whole tolerances (`TIE_RTOL` x `scale`) it lies
    below the row's best score. Level 0 = the winners; equal levels = tied. Non-finite scores (a
    removed candidate at -inf) get level inf: below everything, tied with nothing finite."""
    s = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(s)
    best = np.where(finite, s, -np.inf).max(-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        levels = np.floor((best - s) / (TIE_RTOL * scale))
    return np.where(finite, levels, np.inf)


def top_ties(scores, scale: float = 1.0) -> np.ndarray:
    """Mask of the winners of each row: the scores within one tolerance of the row's best (level 0)."""
    return tie_levels(scores, scale) == 0


def expected_hits(scores, gold, scale: float = 1.0) -> np.ndarray:
    """Per row, the probability that `gold` (a column index per row) is picked when ties among the
    winners are broken at random: 1/(number of winners) if gold is one of them, else 0."""
    top = top_ties(scores, scale)
    return top[np.arange(len(top)), np.asarray(gold)] / np.maximum(top.sum(-1), 1)


def best_index(scores, scale: float = 1.0) -> np.ndarray:
    """Per row, one deterministic winner (the first column among the tied winners), for outputs that
    need a single pick (a prediction for macro-F1, a chosen layer): rounding cannot reorder ties."""
    return np.argmax(top_ties(scores, scale), axis=-1)


def beats(a: float, b: float, scale: float = 1.0) -> bool:
    """a above b by more than the tie tolerance (a real difference, not rounding)."""
    return bool(tie_levels([[a, b]], scale)[0, 1] > 0)


def _topk_mean(sim: np.ndarray, k: int) -> np.ndarray:
    """Mean of the k largest values in each row."""
    return np.partition(sim, -k, axis=1)[:, -k:].mean(1)


def cosine_matrix(src, tgt) -> np.ndarray:
    """Cosine similarities of every src row with every tgt row (the one cosine helper of the project)."""
    return _dense(_normalise(_as_matrix(src, "src")) @ _normalise(_as_matrix(tgt, "tgt")).T)


def all_scores(cos: np.ndarray, k: int = 10, scorings=SCORINGS) -> dict[str, np.ndarray]:
    """Cosine, CSLS and ratio-margin score matrices from one cosine matrix (shared neighbourhoods)."""
    unknown = set(scorings) - set(SCORINGS)
    if unknown:
        raise ValueError(f"unknown scoring {sorted(unknown)[0]!r}; choose one of: {', '.join(SCORINGS)}")
    out = {"cosine": cos}
    empty = ~cos.any(1)  # queries with an all-zero vector (e.g. TF-IDF of an unseen script): no information
    if set(scorings) - {"cosine"}:
        if k < 1 or k > min(cos.shape):
            raise ValueError(f"k={k} neighbours needs 1 <= k <= n (n = {min(cos.shape)}); lower k or add rows")
        r_src = _topk_mean(cos, k)  # mean similarity of each source to its k nearest targets
        r_tgt = _topk_mean(cos.T, k)  # mean similarity of each target to its k nearest sources
        if "csls" in scorings:
            out["csls"] = 2 * cos - r_src[:, None] - r_tgt[None, :]
        if "margin" in scorings:
            den = (r_src[:, None] + r_tgt[None, :]) / 2
            out["margin"] = cos / np.where(np.abs(den) < 1e-12, 1e-12, den)
        if empty.any():  # an empty query scores every candidate alike (chance), never "nearest to other empties"
            for name in ("csls", "margin"):
                if name in out:
                    out[name][empty] = 0.0
    return {name: out[name] for name in scorings}


def similarity(src, tgt, scoring: str = "cosine", k: int = 10) -> np.ndarray:
    """(n_src, n_tgt) score matrix: cosine, CSLS or ratio margin with k neighbours."""
    return all_scores(cosine_matrix(src, tgt), k, (scoring,))[scoring]


def gold_rank_counts(scores: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per row: (number of candidates scored above the gold item (the diagonal), number tied with it),
    ties by `tie_levels` at `scale` (`SCORE_SCALES[scoring]`; 1 for cosines)."""
    levels = tie_levels(scores, scale)
    gold = np.diag(levels)[:, None]
    above = (levels < gold).sum(1)
    tied = (levels == gold).sum(1) - 1  # the gold item itself is not a tie
    return above, tied


def retrieval_outcomes(scores: np.ndarray, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Per query, under random tie-breaking: `hit` = P(gold ranked first) and `rr` = E[1 / rank].
    `scale`: the scores' `SCORE_SCALES` entry (1, the default, for cosines)."""
    above, tied = gold_rank_counts(scores, scale)
    hit = (above == 0) / (tied + 1)
    rr = (harmonic(above + tied + 1) - harmonic(above)) / (tied + 1)
    return {"hit": hit, "rr": rr}


def ranks_of_gold(scores: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Expected 1-based rank of the gold item (the diagonal) in each row under random tie-breaking."""
    above, tied = gold_rank_counts(scores, scale)
    return above + 1 + tied / 2


def retrieval_accuracy(src, tgt, scoring: str = "cosine", k: int = 10) -> float:
    """Weak alignment P@1: how often tgt[i] is the best-scored of all tgt rows for src[i] (ties: expected)."""
    s, t = _pair(src, tgt)
    return float(retrieval_outcomes(similarity(s, t, scoring, k), SCORE_SCALES[scoring])["hit"].mean())


def mrr(src, tgt, scoring: str = "cosine", k: int = 10) -> float:
    """Mean reciprocal rank of tgt[i] among all tgt rows for query src[i] (ties: expected)."""
    s, t = _pair(src, tgt)
    return float(retrieval_outcomes(similarity(s, t, scoring, k), SCORE_SCALES[scoring])["rr"].mean())


def chance_p_at_1(n: int) -> float:
    """P@1 of a random ranking of n candidates."""
    return 1.0 / n


def chance_mrr(n: int) -> float:
    """MRR of a random ranking of n candidates: H_n / n."""
    return float(harmonic(n) / n)


def chance_average_precision(n_relevant: int, n_candidates: int) -> float:
    """Expected average precision of a random ranking (R relevant among N): (H_N + (R-1)/(N-1) (N - H_N)) / N."""
    r, n = n_relevant, n_candidates
    h = float(harmonic(n))
    return (h + ((r - 1) / (n - 1) if n > 1 else 0.0) * (n - h)) / n


def _expected_precision_terms(levels: np.ndarray, rel_levels: np.ndarray) -> np.ndarray:
    """Expected precision at each relevant item's position under random tie-breaking (McSherry & Najork 2008).

    levels: (q, N) `tie_levels` of all candidates' scores (the query itself at inf); rel_levels:
    (q, R) those of the relevant ones. A relevant item tied with n - 1 others, c candidates and R_c
    relevant ones above, r_G relevant ones in the tie group (itself included), contributes
    (1/n) [(R_c + 1) dH + (r_G - 1)/(n - 1) (n - (c + 1) dH)], dH = H_{c+n} - H_c.
    """
    above = (levels[:, :, None] < rel_levels[:, None, :]).sum(1)
    group = (levels[:, :, None] == rel_levels[:, None, :]).sum(1)  # n, the item included
    rel_above = (rel_levels[:, None, :] < rel_levels[:, :, None]).sum(2)  # [q, i, j]: j above i
    rel_group = (rel_levels[:, None, :] == rel_levels[:, :, None]).sum(1)
    dh = harmonic(above + group) - harmonic(above)
    second = np.where(group > 1, (rel_group - 1) / np.maximum(group - 1, 1) * (group - (above + 1) * dh), 0.0)
    return ((rel_above + 1) * dh + second) / group


def strong_alignment(embs: Mapping[str, np.ndarray], chunk: int = 512, per_item: bool = False) -> dict:
    """Strong alignment over the pooled mixed-language set (query itself removed).

    `embs` maps language -> (n, d) array of the same n parallel items. For every query, the relevant
    items are its equivalents in the other languages; everything else (including same-language
    non-equivalents) is a distractor. Returns `map` (mean average precision), `p_at_1` (nearest
    non-self item is an equivalent) and `same_language_bias` (nearest non-self item is a
    non-equivalent in the query's own language), all with ties scored by their expectation.
    With `per_item`, also `ap_per_item`: (n,) mean AP of each item's queries over languages.
    """
    langs = list(embs)
    if len(langs) < 2:
        raise ValueError("strong_alignment needs at least two languages")
    mats = [_as_matrix(embs[lang], f"embs[{lang!r}]") for lang in langs]
    if len({m.shape for m in mats}) != 1:
        raise ValueError(f"all languages need the same (n, d) shape; got {[m.shape for m in mats]}")
    n, n_lang = mats[0].shape[0], len(langs)
    x = _normalise(sparse.vstack(mats).tocsr() if sparse.issparse(mats[0]) else np.concatenate(mats))
    item = np.tile(np.arange(n), n_lang)
    lang = np.repeat(np.arange(n_lang), n)
    others = np.array([[b for b in range(n_lang) if b != a] for a in range(n_lang)])
    aps, p1, bias = [], [], []
    for start in range(0, x.shape[0], chunk):
        q = np.arange(start, min(start + chunk, x.shape[0]))
        sim = _dense(x[q] @ x.T)
        sim[np.arange(len(q)), q] = -np.inf  # remove the query itself
        rel_idx = others[lang[q]] * n + item[q][:, None]  # equivalents in the other languages
        levels = tie_levels(sim, SCORE_SCALES["cosine"])
        aps.append(_expected_precision_terms(levels, np.take_along_axis(levels, rel_idx, 1)).mean(1))
        at_top = levels == 0
        n_top = at_top.sum(1)
        relevant = (item[None, :] == item[q][:, None]) & (lang[None, :] != lang[q][:, None])
        same_lang_other = (lang[None, :] == lang[q][:, None]) & (item[None, :] != item[q][:, None])
        p1.append((at_top & relevant).sum(1) / n_top)
        bias.append((at_top & same_lang_other).sum(1) / n_top)
    ap = np.concatenate(aps)
    out = {"map": float(ap.mean()), "p_at_1": float(np.concatenate(p1).mean()),
           "same_language_bias": float(np.concatenate(bias).mean())}
    if per_item:
        out["ap_per_item"] = ap.reshape(n_lang, n).mean(0)
    return out


def linear_cka(x, y) -> float:
    """Linear CKA (Kornblith et al. 2019): ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F); 0 if constant
    (dense columns that vary only at rounding level, `informative_dims`, count as constant: CKA is
    scale-free and would otherwise read a collapsed model's rounding noise as a representation).

    Sparse inputs use the equivalent Gram-matrix form <H K_x H, H K_y H> / (||H K_x H|| ||H K_y H||)."""
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y need the same number of rows; got {x.shape[0]} and {y.shape[0]}")
    if sparse.issparse(x) or sparse.issparse(y):
        def centred_gram(m):
            k = _dense(m @ m.T)
            return k - k.mean(0) - k.mean(1, keepdims=True) + k.mean()

        kx, ky = centred_gram(x), centred_gram(y)
        den = np.linalg.norm(kx) * np.linalg.norm(ky)
        return float((kx * ky).sum() / den) if den > 1e-12 else 0.0
    x, y = x[:, informative_dims(x)], y[:, informative_dims(y)]
    x, y = x - x.mean(0), y - y.mean(0)
    num = np.linalg.norm(y.T @ x) ** 2
    den = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(num / den) if den > 1e-12 else 0.0


def cosine_gap(src, tgt) -> float:
    """Mean cosine of translation pairs minus the mean cosine of all non-translation pairs."""
    s, t = _pair(src, tgt)
    if len(s) < 2:
        raise ValueError("cosine_gap needs at least 2 pairs")
    return cosine_gap_from(cosine_matrix(s, t))


def cosine_gap_from(cos: np.ndarray) -> float:
    """`cosine_gap` from a square cosine matrix (translations on the diagonal)."""
    n = len(cos)
    diag = np.trace(cos)
    return float(diag / n - (cos.sum() - diag) / (n * n - n))


def hubness(src, tgt, k: int = 10, seed: int = 0) -> float:
    """Skewness of the k-occurrence distribution of tgt rows in src's k-NN lists (cosine)."""
    s, t = _pair(src, tgt)
    return hubness_from(cosine_matrix(s, t), k, seed)


def hubness_from(cos: np.ndarray, k: int = 10, seed: int = 0) -> float:
    """`hubness` from a cosine matrix (queries in rows). Ties (`tie_levels`) are broken at random
    (seeded), so a collapsed space gives the skew of random neighbour lists (about 1/sqrt(k)), not one
    giant hub, on every machine."""
    from scipy.stats import skew

    if k < 1 or k > cos.shape[1]:
        raise ValueError(f"k={k} neighbours needs 1 <= k <= n (n = {cos.shape[1]})")
    jitter = np.random.default_rng(seed).uniform(0, 1, cos.shape)  # below one tolerance: orders ties only
    nn = np.argpartition(tie_levels(cos, SCORE_SCALES["cosine"]) + jitter, k - 1, axis=1)[:, :k]
    counts = np.bincount(nn.ravel(), minlength=cos.shape[1])
    return float(skew(counts)) if counts.std() > 0 else 0.0


def informative_dims(x: np.ndarray, rel_tol: float = TIE_RTOL) -> np.ndarray:
    """Mask of the columns of `x` that vary beyond float32 rounding noise: standard deviation above
    `rel_tol` times the column's magnitude (mean absolute value), or the features' overall magnitude
    where that is larger (a component near 0 comes out of cancellations, whose rounding is that of
    the terms). Scale-free, so a collapsed model's mean-pooling noise, about 1e-7 of the value, is
    dropped whatever the features' scale."""
    x = np.asarray(x, dtype=np.float64)
    size = np.abs(x)
    return x.std(0) > rel_tol * np.maximum(size.mean(0), size.mean()) + 1e-12


def language_id_probe(embs: Mapping[str, np.ndarray], seed: int = 0, train_fraction: float = 0.5,
                      per_item: bool = False):
    """Held-out accuracy of a logistic-regression classifier predicting the language of an embedding.

    The probe is trained on a random half of the items (all their languages) and tested on the other
    half, so no test item, nor any of its translations, is seen in training. Chance is 1/L. With
    `per_item`, returns (accuracy, per-test-item expected correctness averaged over languages).
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
    stack = (lambda ms: sparse.vstack(ms).tocsr()) if sparse.issparse(mats[0]) else np.concatenate
    xtr = stack([m[tr] for m in mats])
    xte = stack([m[te] for m in mats])
    ytr = np.repeat(np.arange(len(mats)), len(tr))
    yte = np.repeat(np.arange(len(mats)), len(te))
    if not sparse.issparse(xtr):
        keep = informative_dims(xtr)  # rounding noise of a collapsed model is not a feature
        xtr, xte = xtr[:, keep], xte[:, keep]
    if xtr.shape[1] == 0:
        proba = np.ones((len(yte), len(mats)))  # no input varies: every language ties
    else:
        scaler = StandardScaler(with_mean=not sparse.issparse(xtr)).fit(xtr)
        clf = LogisticRegression(max_iter=500, random_state=seed).fit(scaler.transform(xtr), ytr)
        proba = clf.predict_proba(scaler.transform(xte))
    # expected accuracy with ties in the predicted probabilities (scale 1) broken at random (a constant input: 1/L)
    correct = expected_hits(proba, yte, 1.0)
    if per_item:
        return float(correct.mean()), correct.reshape(len(mats), len(te)).mean(0)
    return float(correct.mean())


# ---------------------------------------------------------------- comparisons

@dataclass(frozen=True)
class Interval:
    """Mean difference of two systems on the same items with its bootstrap interval."""

    diff: float
    low: float
    high: float
    n: int
    resamples: int
    seed: int
    confidence: float

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.diff:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def _per_item(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:  # (items, e.g. languages): one outcome per item, resampled as a cluster
        x = x.mean(1)
    if x.ndim != 1 or len(x) < 2:
        raise ValueError(f"{name} must hold per-item outcomes, shape (n,) or (n, k) with n >= 2; got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite outcomes")
    return x


def paired_bootstrap(a, b, resamples: int = 10_000, seed: int = 0, confidence: float = 0.95) -> Interval:
    """Mean of a - b over items with a percentile bootstrap interval (items resampled with replacement).

    `a` and `b` are per-item outcomes of two systems on the same items (0/1 hits, reciprocal ranks,
    AP, ...), shape (n,) or (n, k) where the k columns of an item (e.g. its target languages) are
    averaged first, so the interval respects that they are not independent.

    Inside a run of a chapter over several training seeds (`seeds`: the book preset runs each chapter
    once per seed), the other seeds' runs record the same call's outcomes and the last run combines
    them: the interval is then `seed_item_bootstrap` over seeds and items, with the mean over seeds.
    """
    from . import seeds

    combined = seeds.outcomes_of_every_seed(a, b)
    if combined is not None:
        return seed_item_bootstrap(*combined, resamples=resamples, seed=seed, confidence=confidence)
    return _item_bootstrap(a, b, resamples, seed, confidence)


def _item_bootstrap(a, b, resamples: int = 10_000, seed: int = 0, confidence: float = 0.95) -> Interval:
    """`paired_bootstrap` on the outcomes of one run (items resampled)."""
    a, b = _per_item(a, "a"), _per_item(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must be outcomes on the same items; got {len(a)} and {len(b)} items")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    d = a - b
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    step = max(1, 2_000_000 // len(d))
    for start in range(0, resamples, step):
        m = min(step, resamples - start)
        means[start:start + m] = d[rng.integers(0, len(d), (m, len(d)))].mean(1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(float(d.mean()), float(low), float(high), len(d), resamples, seed, confidence)


def seed_item_bootstrap(a, b, resamples: int = 10_000, seed: int = 0, confidence: float = 0.95) -> Interval:
    """Mean of a - b over seeds and items, with an interval that covers both the spread over items and the
    spread between training runs.

    `a` and `b` have shape (seeds, n) or (seeds, n, k): per-item outcomes of two systems, run s of one
    paired with run s of the other (same initialisation and data-order seed), on the same items (items are
    crossed with seeds). With one seed it is `paired_bootstrap`. With S > 1 seeds the two sources of error
    are added in quadrature on each side of the mean m:

    - items: the percentile bootstrap (items resampled) of the per-item differences averaged over the seeds,
      giving m - lo_items and hi_items - m;
    - seeds: a t interval over the S per-seed mean differences, t(S - 1) x sd / sqrt(S). A percentile
      bootstrap over 3 seeds has 10 distinct draws and shrinks their variance by 2/3 (its 95 % interval
      covered the truth about 77 % of the time in a simulation where the seeds' spread dominates); the t
      interval with S - 1 = 2 degrees of freedom (t = 4.30) is what 3 seeds can honestly say.

    The interaction of seeds and items enters both terms, so the interval errs on the wide side.
    `Interval.n` is the number of items."""
    from scipy.stats import t as student_t

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim not in (2, 3) or a.shape != b.shape:
        raise ValueError(f"a and b must be per-seed, per-item outcomes of the same shape (seeds, n[, k]); "
                         f"got {a.shape} and {b.shape}")
    if a.shape[0] == 1:
        return _item_bootstrap(a[0], b[0], resamples, seed, confidence)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence}")
    d = np.stack([_per_item(a[s], "a") - _per_item(b[s], "b") for s in range(a.shape[0])])  # (seeds, n)
    n_seeds, n = d.shape
    items = _item_bootstrap(d.mean(0), np.zeros(n), resamples, seed, confidence)
    m = float(d.mean())
    per_seed = d.mean(1)
    half = float(student_t.ppf((1 + confidence) / 2, n_seeds - 1) * per_seed.std(ddof=1) / np.sqrt(n_seeds))
    low = m - float(np.hypot(m - items.low, half))
    high = m + float(np.hypot(items.high - m, half))
    return Interval(m, low, high, n, resamples, seed, confidence)


def compare_seeds(a, b, resamples: int = 10_000, seed: int = 0, higher_is_better: bool = True) -> tuple[Interval, str]:
    """`seed_item_bootstrap(a, b)` and its `verdict`: `compare` for outcomes of several training seeds."""
    iv = seed_item_bootstrap(a, b, resamples, seed)
    return iv, verdict(iv, higher_is_better)


def mean_interval(a, resamples: int = 10_000, seed: int = 0, confidence: float = 0.95) -> Interval:
    """Bootstrap interval of one system's mean outcome (`paired_bootstrap` against zero)."""
    a = _per_item(a, "a")
    return paired_bootstrap(a, np.zeros_like(a), resamples, seed, confidence)


def verdict(interval: Interval, higher_is_better: bool = True) -> str:
    """'better' if the interval lies above 0, 'worse' if below, else 'inconclusive' (the one rule of the book)."""
    if interval.low > 0:
        return "better" if higher_is_better else "worse"
    if interval.high < 0:
        return "worse" if higher_is_better else "better"
    return "inconclusive"


def compare(a, b, resamples: int = 10_000, seed: int = 0, higher_is_better: bool = True) -> tuple[Interval, str]:
    """`paired_bootstrap(a, b)` and its `verdict`: the one way the book decides "better/worse"."""
    iv = paired_bootstrap(a, b, resamples, seed)
    return iv, verdict(iv, higher_is_better)


class Verdicts(list):
    """Every verdict a chapter reads, in order (a list of "better"/"worse"/"inconclusive"): `compare(a, b)`
    is `metrics.compare` with the chapter's resamples and seed, and records its verdict here, so the chapter
    can say how many comparisons it made (and how many false "better"s 5 % would give)."""

    def __init__(self, resamples: int = 10_000, seed: int = 0):
        super().__init__()
        self.resamples, self.seed = resamples, seed

    def compare(self, a, b, higher_is_better: bool = True) -> tuple[Interval, str]:
        iv, v = compare(np.asarray(a), np.asarray(b), self.resamples, self.seed, higher_is_better)
        self.append(v)
        return iv, v

    def extend_gains(self, table) -> list[str]:
        """Count the verdicts of a `harness.gain_table`, row by row. The empty cells of a joined table
        (a measure a variant was not measured on) are not verdicts and are not counted."""
        cols = [c for c in table.columns if str(c).endswith("verdict")]
        got = [v for v in table[cols].to_numpy().ravel().tolist() if isinstance(v, str)]
        self.extend(got)
        return got

    def glue_count(self, extra: int = 0) -> int:
        """Glue how many verdicts the chapter read (`n_verdicts`: these plus `extra` read elsewhere) and
        how many false "better"/"worse" a 5 % error rate would give among them (`n_spurious`)."""
        from .record import glue_text

        n = len(self) + extra
        glue_text("n_verdicts", str(n))
        glue_text("n_spurious", f"{0.05 * n:.1f}")
        return n

    def table(self, results, column: str = "difference"):
        """A table of `compare` results ({label: (interval, verdict)}): one row per label."""
        return verdict_table(results, column)


def verdict_table(results, column: str = "difference"):
    """{label: (Interval, verdict)} as a table with the interval (as text) and the verdict per row."""
    import pandas as pd

    return pd.DataFrame({k: {column: str(iv), "verdict": v} for k, (iv, v) in results.items()}).T
