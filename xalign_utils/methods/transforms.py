"""Post-hoc representation transformations (notebook 05_transformations).

Each transform is defined in its docstring (equation and paper) and rendered in the notebook.

All follow scikit-learn's shape: `fit` on training-split embeddings (`parallel`/`pretrain` data,
never the evaluation set), then `transform`. Language-wise transforms take `{lang: (n, d) array}`
and return the same; the linear maps take paired arrays.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

Embs = Mapping[str, np.ndarray]


def _check_fitted(obj, attr: str) -> None:
    if not hasattr(obj, attr):
        raise RuntimeError(f"{type(obj).__name__} is not fitted; call .fit(...) on training-split embeddings first")


class _PerLanguage:
    """Base: per-language statistics; transform refuses languages not seen in fit."""

    def fit_transform(self, embs: Embs) -> dict[str, np.ndarray]:
        return self.fit(embs).transform(embs)

    def _langs(self, embs: Embs, attr: str) -> None:
        _check_fitted(self, attr)
        unseen = sorted(set(embs) - set(getattr(self, attr)))
        if unseen:
            raise ValueError(f"{type(self).__name__} was not fitted on {', '.join(unseen)}; fit on those languages too")


# A centred residual this much smaller than the vector it came from is float rounding, not signal:
# a collapsed model (one output for every input) must stay collapsed, and score chance, after centring.
COLLAPSE_TOL = 1e-5


def _zero_collapsed(residual: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Set to 0 the rows whose residual norm is below COLLAPSE_TOL x the norm of the original row."""
    small = np.linalg.norm(residual, axis=1) <= COLLAPSE_TOL * np.linalg.norm(original, axis=1)
    if small.any():
        residual = residual.copy()
        residual[small] = 0.0
    return residual


class LanguageCentering(_PerLanguage):
    """Subtract each language's mean (Libovický et al. 2020): x' = x - mu_lang.

    A row that centring leaves at rounding-noise level (|x'| <= 1e-5 |x|) becomes exactly 0, so the
    outputs of a collapsed model stay identical instead of turning float noise into "signal"."""

    def fit(self, embs: Embs) -> "LanguageCentering":
        self.means_ = {lang: np.asarray(e, dtype=np.float64).mean(0) for lang, e in embs.items()}
        return self

    def transform(self, embs: Embs) -> dict[str, np.ndarray]:
        self._langs(embs, "means_")
        out = {}
        for lang, e in embs.items():
            e = np.asarray(e, dtype=np.float64)
            out[lang] = _zero_collapsed(e - self.means_[lang], e)
        return out


class MeanVarNormalisation(_PerLanguage):
    """Per-language standardisation (Zhao et al. 2021): x' = (x - mu_lang) / sigma_lang, per dimension.

    Dimensions whose spread is at rounding-noise level (sigma <= 1e-5 |mu| + 1e-12) are set to 0
    instead of being divided by it, and collapsed rows stay collapsed (as in `LanguageCentering`)."""

    def fit(self, embs: Embs) -> "MeanVarNormalisation":
        self.means_ = {lang: np.asarray(e, dtype=np.float64).mean(0) for lang, e in embs.items()}
        self.stds_ = {lang: np.asarray(e, dtype=np.float64).std(0) for lang, e in embs.items()}
        return self

    def transform(self, embs: Embs) -> dict[str, np.ndarray]:
        self._langs(embs, "means_")
        out = {}
        for lang, e in embs.items():
            e = np.asarray(e, dtype=np.float64)
            mu, sd = self.means_[lang], self.stds_[lang]
            flat = sd <= COLLAPSE_TOL * np.abs(mu) + 1e-12
            z = _zero_collapsed(e - mu, e) / np.where(flat, 1.0, sd)
            z[:, flat] = 0.0
            out[lang] = z
        return out


class LIR(_PerLanguage):
    """Language Information Removal (Yang et al. 2021), as published: for each language, the top-r
    right singular vectors V_r of its **uncentred** embedding matrix M_l (n x d) span the language's
    identity subspace, and every embedding of that language is projected onto its complement,
    x' = x - V_r V_r^T x. Not centring is the point: the first singular direction of an uncentred
    matrix is close to the language's mean vector, the language component LIR is meant to remove
    (centring first would subtract exactly that direction before the SVD could find it).
    r = 0 is the identity."""

    def __init__(self, r: int = 1):
        if r < 0:
            raise ValueError(f"LIR rank r must be >= 0; got {r}")
        self.r = r

    def fit(self, embs: Embs) -> "LIR":
        self.components_ = {}
        for lang, e in embs.items():
            e = np.asarray(e, dtype=np.float64)
            if self.r > min(e.shape):
                raise ValueError(f"LIR rank r={self.r} exceeds the rank of {lang}'s {e.shape} matrix; lower r")
            _, _, vt = np.linalg.svd(e, full_matrices=False)
            self.components_[lang] = vt[: self.r]
        return self

    def transform(self, embs: Embs) -> dict[str, np.ndarray]:
        self._langs(embs, "components_")
        out = {}
        for lang, e in embs.items():
            e, v = np.asarray(e, dtype=np.float64), self.components_[lang]
            out[lang] = _zero_collapsed(e - (e @ v.T) @ v, e)
        return out


class LSAR(_PerLanguage):
    """Low-rank Subspace for language-Agnostic Representations (Xie et al. 2022): the language
    subspace U_r is spanned by the top-r right singular vectors of the matrix of language means
    (centred across languages); every embedding is projected onto its null space, x' = (I - U_r U_r^T) x."""

    def __init__(self, r: int = 1):
        if r < 0:
            raise ValueError(f"LSAR rank r must be >= 0; got {r}")
        self.r = r

    def fit(self, embs: Embs) -> "LSAR":
        if self.r > len(embs) - 1:
            raise ValueError(f"LSAR rank r={self.r} needs at least r+1 languages; got {len(embs)}")
        means = np.stack([np.asarray(e, dtype=np.float64).mean(0) for e in embs.values()])
        _, _, vt = np.linalg.svd(means - means.mean(0), full_matrices=False)
        self.subspace_ = vt[: self.r]
        self.langs_ = list(embs)
        return self

    def transform(self, embs: Embs) -> dict[str, np.ndarray]:
        _check_fitted(self, "subspace_")
        u = self.subspace_
        out = {}
        for lang, e in embs.items():
            e = np.asarray(e, dtype=np.float64)
            out[lang] = _zero_collapsed(e - (e @ u.T) @ u, e)
        return out


class Whitening(_PerLanguage):
    """ZCA whitening per language (Su et al. 2021): x' = (x - mu) U diag(1/sqrt(lambda + eps)) U^T,
    from the eigendecomposition of the language's covariance."""

    def __init__(self, eps: float = 1e-5):
        self.eps = eps

    def fit(self, embs: Embs) -> "Whitening":
        self.means_, self.maps_ = {}, {}
        for lang, e in embs.items():
            e = np.asarray(e, dtype=np.float64)
            mu = e.mean(0)
            lam, u = np.linalg.eigh(np.cov(e - mu, rowvar=False))
            self.means_[lang] = mu
            self.maps_[lang] = u @ np.diag(1 / np.sqrt(np.maximum(lam, 0) + self.eps)) @ u.T
        return self

    def transform(self, embs: Embs) -> dict[str, np.ndarray]:
        self._langs(embs, "maps_")
        out = {}
        for lang, e in embs.items():
            e = np.asarray(e, dtype=np.float64)
            out[lang] = _zero_collapsed(e - self.means_[lang], e) @ self.maps_[lang]
        return out


class OutlierDimensionRemoval(_PerLanguage):
    """Drop 'rogue' dimensions (Hämmerl et al. 2023): dimensions whose mean magnitude over all
    languages' embeddings exceeds `z` standard deviations of the per-dimension mean magnitudes."""

    def __init__(self, z: float = 3.0):
        self.z = z

    def fit(self, embs: Embs) -> "OutlierDimensionRemoval":
        allx = np.concatenate([np.asarray(e, dtype=np.float64) for e in embs.values()])
        mag = np.abs(allx.mean(0))
        self.outliers_ = np.flatnonzero(mag > mag.mean() + self.z * mag.std())
        self.keep_ = np.setdiff1d(np.arange(allx.shape[1]), self.outliers_)
        return self

    def transform(self, embs: Embs) -> dict[str, np.ndarray]:
        _check_fitted(self, "keep_")
        return {lang: np.asarray(e)[:, self.keep_] for lang, e in embs.items()}


def _paired(x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or x.shape != y.shape or len(x) == 0:
        raise ValueError(f"linear maps need paired (n, d) arrays of equal shape; got {x.shape} and {y.shape}")
    return x, y


class Procrustes:
    """Orthogonal map from source to target space (Xing et al. 2015; Conneau et al. 2018):
    W* = argmin_{W orthogonal} ||X W - Y||_F = U V^T, where U S V^T = svd(X^T Y)."""

    def fit(self, x, y) -> "Procrustes":
        x, y = _paired(x, y)
        u, _, vt = np.linalg.svd(x.T @ y)
        self.w_ = u @ vt
        return self

    def transform(self, x) -> np.ndarray:
        _check_fitted(self, "w_")
        return np.asarray(x) @ self.w_


class LinearMap:
    """Least-squares linear map (Mikolov et al. 2013; CLBT, Wang et al. 2019):
    W* = argmin_W ||X W - Y||_F^2 + l2 ||W||_F^2."""

    def __init__(self, l2: float = 1e-3):
        self.l2 = l2

    def fit(self, x, y) -> "LinearMap":
        x, y = _paired(x, y)
        d = x.shape[1]
        self.w_ = np.linalg.solve(x.T @ x + self.l2 * np.eye(d), x.T @ y)
        return self

    def transform(self, x) -> np.ndarray:
        _check_fitted(self, "w_")
        return np.asarray(x) @ self.w_
