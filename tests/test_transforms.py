"""Post-hoc transforms on synthetic data with known answers."""
import numpy as np
import pytest

from _helpers import EXACT
from xalign_utils import metrics
from xalign_utils.methods import transforms as T
from xalign_utils.toy import toy_space


@pytest.fixture
def toy():
    return toy_space(n=300, d=32, offset=3.0, seed=1)


def test_centering_removes_a_known_offset_exactly(rng):
    meaning = rng.normal(size=(200, 8))
    meaning -= meaning.mean(0)
    offsets = {"en": rng.normal(size=8) * 5, "de": rng.normal(size=8) * 5}
    embs = {lang: meaning + off for lang, off in offsets.items()}
    out = T.LanguageCentering().fit_transform(embs)
    # float64: (meaning + offset) - mean, values of O(5): rounding ~1e-15
    np.testing.assert_allclose(out["en"], meaning, atol=1e-12)
    np.testing.assert_allclose(out["de"], meaning, atol=1e-12)


def test_centering_and_normalisation_make_the_toy_strongly_aligned(toy):
    assert metrics.strong_alignment(toy)["p_at_1"] < 0.1
    for t in (T.LanguageCentering(), T.MeanVarNormalisation(), T.LSAR(r=3)):
        assert metrics.strong_alignment(t.fit_transform(toy))["p_at_1"] == 1.0, type(t).__name__


def test_lir_as_published_restores_strong_alignment_on_the_toy_space(toy):
    """LIR (Yang et al. 2021) takes the SVD of the *uncentred* language matrix: its first direction is
    the language offset, so removing it makes the toy strongly aligned. Centring first (the old bug)
    would have removed that direction before the SVD and left strong P@1 at 0."""
    assert metrics.strong_alignment(toy)["p_at_1"] == 0.0
    assert metrics.strong_alignment(T.LIR(r=1).fit_transform(toy))["p_at_1"] == 1.0
    centred_first = {lang: np.linalg.svd(e - e.mean(0), full_matrices=False)[2][:1] for lang, e in toy.items()}
    buggy = {lang: e - (e @ v.T) @ v for (lang, e), v in zip(toy.items(), centred_first.values())}
    assert metrics.strong_alignment(buggy)["p_at_1"] < 0.1
    with pytest.raises(ValueError, match="exceeds the rank"):
        T.LIR(r=40).fit(toy)


def test_lir_rank_zero_is_identity_and_rank_removes_top_direction(rng):
    x = {"en": rng.normal(size=(50, 6)), "de": rng.normal(size=(50, 6))}
    out = T.LIR(r=0).fit_transform(x)
    np.testing.assert_array_equal(out["en"], x["en"])
    lir = T.LIR(r=2).fit(x)
    y = lir.transform(x)["en"]
    np.testing.assert_allclose(y @ lir.components_["en"].T, 0, atol=1e-10)  # float64 projection of O(1) rows: ~1e-15


def test_procrustes_recovers_a_known_rotation(rng):
    x = rng.normal(size=(500, 16))
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    p = T.Procrustes().fit(x, x @ q)
    assert np.abs(p.w_ - q).max() < 1e-5  # exact data: the SVD recovers q to float64 precision (~1e-14)
    np.testing.assert_allclose(p.w_ @ p.w_.T, np.eye(16), atol=1e-10)  # U V^T of a float64 SVD: ~1e-15


def test_linear_map_recovers_a_known_linear_map(rng):
    x = rng.normal(size=(500, 8))
    w = rng.normal(size=(8, 8))
    assert np.abs(T.LinearMap(l2=0).fit(x, x @ w).w_ - w).max() < 1e-8


def test_whitening_gives_identity_covariance(rng):
    x = {"en": rng.normal(size=(2000, 5)) @ rng.normal(size=(5, 5)) + 3}
    out = T.Whitening(eps=0).fit_transform(x)["en"]
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.eye(5), atol=1e-6)


def test_outlier_dimension_removal_finds_the_planted_dimension(rng):
    x = {"en": rng.normal(size=(300, 20)), "de": rng.normal(size=(300, 20))}
    for e in x.values():
        e[:, 7] += 25.0
    t = T.OutlierDimensionRemoval(z=3).fit(x)
    assert t.outliers_.tolist() == [7]
    assert t.transform(x)["en"].shape == (300, 19)


def test_errors_name_the_fix(rng):
    with pytest.raises(RuntimeError, match="not fitted"):
        T.LanguageCentering().transform({"en": rng.normal(size=(3, 2))})
    c = T.LanguageCentering().fit({"en": rng.normal(size=(3, 2))})
    with pytest.raises(ValueError, match="not fitted on de"):
        c.transform({"de": rng.normal(size=(3, 2))})
    with pytest.raises(ValueError, match="equal shape"):
        T.Procrustes().fit(rng.normal(size=(3, 2)), rng.normal(size=(4, 2)))
    with pytest.raises(ValueError, match="r\\+1 languages"):
        T.LSAR(r=2).fit({"en": rng.normal(size=(3, 2)), "de": rng.normal(size=(3, 2))})


@pytest.mark.parametrize("make", [T.LanguageCentering, T.MeanVarNormalisation, lambda: T.LIR(r=1), lambda: T.LSAR(r=1),
                                  T.Whitening], ids=["centring", "meanvar", "lir", "lsar", "whitening"])
def test_a_collapsed_model_stays_at_chance_after_every_transform(rng, make):
    """One output for every input, plus float32 rounding noise: no transform may turn the noise into signal."""
    c = rng.normal(size=16)
    embs = {lang: (c + 1e-7 * rng.normal(size=(120, 16))).astype(np.float32) for lang in ("en", "de", "ru")}
    fit = {lang: (c + 1e-7 * rng.normal(size=(300, 16))).astype(np.float32) for lang in ("en", "de", "ru")}
    out = make().fit(fit).transform(embs)
    assert metrics.retrieval_accuracy(out["en"], out["de"]) == pytest.approx(1 / 120, rel=EXACT)
    assert metrics.strong_alignment(out)["map"] == pytest.approx(metrics.chance_average_precision(2, 359), rel=EXACT)
