"""Each measure against an independent (loop) computation or a case with a known answer."""
import numpy as np
import pytest
from scipy.stats import skew

from _helpers import EXACT, quasi_collapsed
from xalign_utils import metrics
from xalign_utils.evaluate import alignment_table
from xalign_utils.toy import toy_space


def cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def naive_scores(src, tgt, scoring, k):
    n = len(src)
    c = np.array([[cos(src[i], tgt[j]) for j in range(n)] for i in range(n)])
    if scoring == "cosine":
        return c
    r_s = np.array([np.mean(sorted(c[i])[-k:]) for i in range(n)])
    r_t = np.array([np.mean(sorted(c[:, j])[-k:]) for j in range(n)])
    if scoring == "csls":
        return np.array([[2 * c[i, j] - r_s[i] - r_t[j] for j in range(n)] for i in range(n)])
    return np.array([[c[i, j] / ((r_s[i] + r_t[j]) / 2) for j in range(n)] for i in range(n)])


def test_identity_pairs_give_perfect_retrieval(rng):
    x = rng.normal(size=(50, 8))  # every gold beats the rest by far more than the tie tolerance: hits of exactly 1
    for scoring in metrics.SCORINGS:
        assert metrics.retrieval_accuracy(x, x, scoring, k=5) == 1.0
        assert metrics.mrr(x, x, scoring, k=5) == 1.0


def test_random_permutation_is_chance(rng):
    n = 400
    x = rng.normal(size=(n, 32))
    perm = rng.permutation(n)
    acc = metrics.retrieval_accuracy(x, x[perm])  # correct target at row i is x[i], now elsewhere
    assert acc == np.mean(perm == np.arange(n))  # hits of exactly 0 or 1: the same mean
    assert acc <= 5 / n


@pytest.mark.parametrize("scoring", ["cosine", "csls", "margin"])
def test_retrieval_matches_naive_loops(rng, scoring):
    src = rng.normal(size=(30, 6))
    tgt = src + rng.normal(scale=1.2, size=(30, 6))
    s = naive_scores(src, tgt, scoring, 4)
    # float64 scores of O(1) from a few dozen operations (margin: over a mean of cosines > 0.1): ~1e-14
    np.testing.assert_allclose(metrics.similarity(src, tgt, scoring, 4), s, atol=1e-12)
    # no score within the tie tolerance of its row's gold, so a strict ranking of the gold is the tie rule's
    gaps = np.abs(s - np.diag(s)[:, None])[~np.eye(30, dtype=bool)]
    assert gaps.min() > metrics.TIE_RTOL * metrics.SCORE_SCALES[scoring]
    ranks = [1 + sum(s[i, j] > s[i, i] for j in range(30)) for i in range(30)]
    assert metrics.retrieval_accuracy(src, tgt, scoring, 4) == np.mean([r == 1 for r in ranks])  # 0/1 hits
    assert metrics.mrr(src, tgt, scoring, 4) == pytest.approx(np.mean([1 / r for r in ranks]), rel=EXACT)  # via digamma


def test_csls_fixes_a_hub():
    # one target is near every source (a hub): cosine retrieves it for everyone, CSLS discounts it
    rng = np.random.default_rng(1)
    common = rng.normal(size=16)
    src = common + rng.normal(size=(40, 16))
    tgt = src + 0.8 * rng.normal(size=src.shape)
    tgt[0] = 3 * common  # near every source
    assert metrics.retrieval_accuracy(src, tgt, "csls", 5) > metrics.retrieval_accuracy(src, tgt, "cosine", 5)


def naive_strong(embs):
    langs = list(embs)
    n = len(embs[langs[0]])
    pool = [(lang, i, embs[lang][i]) for lang in langs for i in range(n)]
    aps, p1, bias = [], [], []
    for qi, (ql, qn, qv) in enumerate(pool):
        cands = [(cos(qv, v), lang, i) for j, (lang, i, v) in enumerate(pool) if j != qi]
        cands.sort(key=lambda c: -c[0])
        rel = [(lang != ql and i == qn) for _, lang, i in cands]
        hits, precs = 0, []
        for r, is_rel in enumerate(rel, 1):
            if is_rel:
                hits += 1
                precs.append(hits / r)
        aps.append(np.mean(precs))
        p1.append(rel[0])
        bias.append(cands[0][1] == ql and cands[0][2] != qn)
    return np.mean(aps), np.mean(p1), np.mean(bias)


def test_strong_alignment_matches_naive_loops(rng):
    meaning = rng.normal(size=(12, 5))
    embs = {lang: meaning + rng.normal(scale=0.9, size=(12, 5)) + off
            for lang, off in zip("abc", rng.normal(size=(3, 5)))}
    got = metrics.strong_alignment(embs, chunk=7)
    x = np.concatenate(list(embs.values()))
    c = metrics.cosine_matrix(x, x)
    assert np.abs(np.diff(np.sort(c, 1), axis=1)).min() > metrics.TIE_RTOL  # no ties: strict sorting is the rule
    m, p, b = naive_strong(embs)
    assert got["map"] == pytest.approx(m, rel=EXACT)  # precisions through harmonic differences (digamma)
    assert got["p_at_1"] == p and got["same_language_bias"] == b  # means of 0/1 outcomes


def test_toy_space_is_weak_not_strong_until_centred(rng):
    embs = toy_space(n=200)
    weak = [metrics.retrieval_accuracy(embs["en"], embs[lang]) for lang in ("de", "ru", "zh")]
    assert min(weak) == 1.0
    strong = metrics.strong_alignment(embs)
    assert strong["p_at_1"] < 0.1 and strong["same_language_bias"] > 0.9
    centred = {lang: e - e.mean(0) for lang, e in embs.items()}
    assert metrics.strong_alignment(centred)["p_at_1"] == 1.0


def test_linear_cka_known_answers(rng):
    x = rng.normal(size=(100, 10))
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    # float64 on (100, 10) matrices: relative rounding ~1e-14, far below 1e-12
    assert metrics.linear_cka(x, x) == pytest.approx(1.0, rel=1e-12)
    assert metrics.linear_cka(x, 3 * x @ q + 7) == pytest.approx(1.0, rel=1e-12)  # invariant to rotation, scale, shift
    # independent formula: HSIC with centring matrix H
    y = rng.normal(size=(100, 4))
    h = np.eye(100) - 1 / 100
    kx, ky = h @ x @ x.T @ h, h @ y @ y.T @ h
    expected = np.trace(kx @ ky) / np.sqrt(np.trace(kx @ kx) * np.trace(ky @ ky))
    assert metrics.linear_cka(x, y) == pytest.approx(expected, rel=1e-12)


def test_cosine_gap_and_hubness_against_loops(rng):
    src, tgt = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    trans = np.mean([cos(src[i], tgt[i]) for i in range(20)])
    other = np.mean([cos(src[i], tgt[j]) for i in range(20) for j in range(20) if i != j])
    assert metrics.cosine_gap(src, tgt) == pytest.approx(trans - other, abs=1e-12)  # means of 400 float64 cosines
    assert metrics.cosine_gap(src, src) > 0.9
    c = np.array([[cos(a, b) for b in tgt] for a in src])
    assert np.abs(np.diff(np.sort(c, 1), axis=1)).min() > metrics.TIE_RTOL  # no ties: the neighbour lists are unique
    k = 3
    counts = np.zeros(20)
    for i in range(20):
        for j in sorted(range(20), key=lambda j: -cos(src[i], tgt[j]))[:k]:
            counts[j] += 1
    assert metrics.hubness(src, tgt, k) == skew(counts)  # the same counts, the same skew


def test_language_id_probe(rng):
    embs = toy_space(n=100)
    assert metrics.language_id_probe(embs) == 1.0
    same = rng.normal(size=(100, 8))
    shuffled = {lang: same[rng.permutation(100)] for lang in "abcd"}  # language carries no signal
    assert metrics.language_id_probe(shuffled) < 0.5


def test_alignment_table_is_tidy(rng):
    embs = toy_space(n=40)
    table = alignment_table({lang: np.stack([e, e]) for lang, e in embs.items()}, k=5)
    assert list(table.columns) == ["src", "tgt", "layer", "measure", "value"]
    assert set(table.layer) == {0, 1}
    p1 = table[(table.measure == "p_at_1_cosine") & (table.layer == 0)]
    assert len(p1) == 12 and (p1.value == 1.0).all()  # 4 languages -> 12 ordered pairs
    assert table[(table.measure == "strong_p_at_1")].value.max() < 0.1


def test_headline_and_full_tables_agree_on_cosine_p_at_1_with_ties(rng):
    """The fast path and the full path score ties the same way: by expectation under random tie-breaking."""
    x = rng.normal(size=(6, 4))
    y = x.copy()
    y[3] = y[2]  # query 2 and query 3 each tie between their gold row and the other one
    embs = {"a": x, "b": y}
    full = alignment_table(embs, k=2, measures="weak")
    fast = alignment_table(embs, measures="headline")
    pick = lambda t: t[t.measure == "p_at_1_cosine"].set_index(["src", "tgt"]).value
    assert pick(full).to_dict() == pick(fast).to_dict()
    assert pick(fast)[("a", "b")] == 5 / 6  # 4 sure hits + 2 coin flips: (4 + 0.5 + 0.5) / 6, exact sums
    assert pick(fast)[("a", "b")] == metrics.retrieval_accuracy(x, y)


# ---------------------------------------------------------------- degenerate inputs score chance

@pytest.mark.parametrize("scoring", metrics.SCORINGS)
def test_constant_embeddings_score_chance_on_weak_retrieval(scoring):
    n = 40
    x = np.ones((n, 8))
    assert metrics.retrieval_accuracy(x, x, scoring, k=5) == pytest.approx(1 / n, rel=EXACT)
    assert metrics.mrr(x, x, scoring, k=5) == pytest.approx(sum(1 / r for r in range(1, n + 1)) / n, rel=EXACT)
    assert metrics.mrr(x, x, scoring, k=5) == pytest.approx(metrics.chance_mrr(n), rel=EXACT)


def test_constant_embeddings_score_chance_on_strong_alignment(rng):
    n, langs = 30, "abcd"
    embs = {lang: np.full((n, 5), 0.7) for lang in langs}
    got = metrics.strong_alignment(embs)
    pool = n * len(langs) - 1
    assert got["p_at_1"] == pytest.approx((len(langs) - 1) / pool, rel=EXACT)
    assert got["same_language_bias"] == pytest.approx((n - 1) / pool, rel=EXACT)
    assert got["map"] == pytest.approx(metrics.chance_average_precision(len(langs) - 1, pool), rel=EXACT)
    # the closed form is the mean AP of random rankings (simulated independently)
    sims = []
    for _ in range(4000):
        rel = np.sort(rng.choice(pool, len(langs) - 1, replace=False)) + 1
        sims.append(np.mean(np.arange(1, len(rel) + 1) / rel))
    assert abs(np.mean(sims) - got["map"]) < 5 * np.std(sims) / np.sqrt(len(sims))  # 5 standard errors


def test_collapsed_model_scores_chance_in_the_whole_table():
    n = 25
    embs = {lang: np.ones((n, 6)) for lang in ("en", "de", "ru")}
    t = alignment_table(embs, k=5).set_index(["src", "tgt", "measure"]).value
    for scoring in metrics.SCORINGS:
        assert t[("en", "de", f"p_at_1_{scoring}")] == pytest.approx(1 / n, rel=EXACT)
    assert t[("en", "de", "mrr_cosine")] == pytest.approx(metrics.chance_mrr(n), rel=EXACT)
    assert t[("all", "all", "lid_probe")] == pytest.approx(1 / 3, rel=EXACT)
    # the gap: cosines of equal unit vectors, 1 up to float64 rounding (1e-16), minus their mean
    assert t[("en", "de", "cka")] == 0.0 and abs(t[("en", "de", "cosine_gap")]) < 1e-12
    assert t[("all", "all", "strong_map")] == pytest.approx(metrics.chance_average_precision(2, 3 * n - 1), rel=EXACT)


# ------------------------------------------- a model without information, up to rounding: exactly chance

BASE = np.random.default_rng(7).normal(size=16)  # the one vector a collapsed model outputs


def collapsed_space(seed, langs=("en", "de", "ru"), n=50):
    """{lang: (n, 16)}: BASE for every text of every language plus noise of 1e-7 relative (draw `seed`)."""
    rng = np.random.default_rng(seed)
    return {lang: quasi_collapsed(rng, n, base=BASE) for lang in langs}


@pytest.mark.parametrize("scoring", metrics.SCORINGS)
def test_a_model_that_differs_only_by_rounding_scores_exactly_chance_on_weak_retrieval(scoring):
    draws = [collapsed_space(seed) for seed in (1, 2)]
    n = 50
    for e in draws:
        assert metrics.retrieval_accuracy(e["en"], e["de"], scoring, k=5) == pytest.approx(1 / n, rel=EXACT)
        assert metrics.mrr(e["en"], e["de"], scoring, k=5) == pytest.approx(metrics.chance_mrr(n), rel=EXACT)
    a, b = (metrics.retrieval_outcomes(metrics.similarity(e["en"], e["de"], scoring, 5), metrics.SCORE_SCALES[scoring])
            for e in draws)
    assert all(np.array_equal(a[o], b[o]) for o in ("hit", "rr"))  # per query, bit for bit


@pytest.mark.parametrize("scoring", metrics.SCORINGS)
def test_queries_without_information_score_exactly_chance_against_real_targets(rng, scoring):
    """The filed AVX-512 failure: a collapsed English encoder against working ones. Every query is the
    same vector up to rounding, so whichever targets win, they win for every query: one hit over all
    queries, P@1 = 1/n. Here the best target has a near-duplicate (one text encoded in two batches:
    equal up to rounding), which a strict comparison let each query's rounding order."""
    n = 60
    queries = quasi_collapsed(rng, n, base=BASE)
    targets = rng.normal(size=(n, 16))
    targets[7] = BASE + 0.3 * rng.normal(size=16)  # the best match of every query...
    targets[31] = targets[7] * (1 + 1e-7 * rng.normal(size=16))  # ...and its duplicate up to rounding
    assert metrics.retrieval_accuracy(queries, targets, scoring, k=5) == pytest.approx(1 / n, rel=EXACT)
    hits = metrics.retrieval_outcomes(metrics.similarity(queries, targets, scoring, 5), metrics.SCORE_SCALES[scoring])["hit"]
    assert hits[7] == hits[31] == 0.5 and hits.sum() == 1.0


def test_ties_are_transitive_so_identical_queries_share_exactly_one_hit():
    """Identical queries (a collapsed encoder's) against targets whose best three are one text rounded
    three ways, 6e-10 apart: a pairwise window ties the first with the second and the second with the
    third, not the first with the third, and hands out 1/2 + 1/3 + 0 hits; the grid ties all three in
    every row, whatever the row-to-row rounding of the products: one hit, and H_n of reciprocal rank."""
    rng = np.random.default_rng(0)
    n = 30
    row = rng.uniform(0, 0.8, n)
    row[[4, 11, 20]] = 0.9, 0.9 - 6e-10, 0.9 - 1.2e-9
    scores = np.tile(row, (n, 1)) + 1e-16 * rng.normal(size=(n, n))
    out = metrics.retrieval_outcomes(scores)
    assert out["hit"][[4, 11, 20]].tolist() == [1 / 3] * 3 and out["hit"].sum() == pytest.approx(1.0, rel=EXACT)
    assert out["rr"].sum() == pytest.approx(float(metrics.harmonic(n)), rel=EXACT)


def test_a_model_that_differs_only_by_rounding_scores_exactly_chance_on_strong_alignment_and_lid():
    n, langs = 50, ("en", "de", "ru", "zh")
    pool = n * len(langs) - 1
    results = []
    for seed in (1, 2):
        e = collapsed_space(seed, langs)
        strong = metrics.strong_alignment(e, chunk=64, per_item=True)
        assert strong["map"] == pytest.approx(metrics.chance_average_precision(len(langs) - 1, pool), rel=EXACT)
        assert strong["p_at_1"] == pytest.approx((len(langs) - 1) / pool, rel=EXACT)
        assert strong["same_language_bias"] == pytest.approx((n - 1) / pool, rel=EXACT)
        lid, lid_items = metrics.language_id_probe(e, per_item=True)
        assert lid == pytest.approx(1 / len(langs), rel=EXACT)
        results.append((strong, lid_items))
    (a, la), (b, lb) = results
    assert {k: v for k, v in a.items() if k != "ap_per_item"} == {k: v for k, v in b.items() if k != "ap_per_item"}
    assert np.array_equal(a["ap_per_item"], b["ap_per_item"]) and np.array_equal(la, lb)


def test_two_noise_draws_of_a_collapsed_model_give_the_same_table_bit_for_bit():
    """The stand-in for two CPUs: every ranked measure (P@1 and MRR with every scoring, hubness, strong
    alignment, the LID probe) and CKA agree exactly; the cosine gap is 0 up to the noise squared."""
    a, b = (alignment_table(collapsed_space(seed), k=5).set_index(["src", "tgt", "measure"]).value for seed in (1, 2))
    gap = a.index.get_level_values("measure") == "cosine_gap"
    assert a[~gap].to_dict() == b[~gap].to_dict()
    assert (a[gap].abs() < 1e-10).all() and (b[gap].abs() < 1e-10).all()  # second order: (2.4e-7)^2 x a few
    assert (a[a.index.get_level_values("measure") == "cka"] == 0).all()


def test_tie_levels_by_hand():
    tol = metrics.TIE_RTOL
    s = np.array([[0.9, 0.9 - 0.4 * tol, 0.9 - 1.2 * tol, 0.5, -np.inf]])
    assert metrics.tie_levels(s).tolist() == [[0, 0, 1, np.floor(0.4 / tol), np.inf]]
    assert metrics.tie_levels(s, scale=4.0)[0, :3].tolist() == [0, 0, 0]  # CSLS: 4 x the step
    assert metrics.top_ties(s).tolist() == [[True, True, False, False, False]]
    assert metrics.expected_hits(s, [1]).tolist() == [0.5] and metrics.best_index(s).tolist() == [0]
    assert metrics.beats(1.0, 1.0 - 2 * tol) and not metrics.beats(1.0, 1.0 - 0.5 * tol)


def brute_force_expected_ap(scores, relevant):
    """Mean AP over every ordering that breaks ties (enumerated), ranking by score descending."""
    from itertools import permutations

    idx = list(range(len(scores)))
    values = []
    for perm in permutations(idx):
        order = sorted(perm, key=lambda i: -scores[i])  # stable: ties in the order of perm
        hits, precs = 0, []
        for rank, i in enumerate(order, 1):
            if relevant[i]:
                hits += 1
                precs.append(hits / rank)
        values.append(np.mean(precs))
    return np.mean(values)


@pytest.mark.parametrize("scores,relevant", [
    ([0.9, 0.5, 0.5, 0.5, 0.1, 0.5], [1, 0, 1, 0, 0, 1]),
    ([0.3, 0.3, 0.3, 0.3, 0.3], [0, 1, 0, 1, 0]),
    ([0.8, 0.7, 0.2, 0.2, 0.9, 0.2], [0, 1, 1, 0, 0, 0]),
])
def test_expected_average_precision_equals_all_tie_breakings(scores, relevant):
    scores, relevant = np.array(scores), np.array(relevant, dtype=bool)
    levels = metrics.tie_levels(scores[None, :])
    terms = metrics._expected_precision_terms(levels, levels[:, relevant])
    assert terms.mean() == pytest.approx(brute_force_expected_ap(scores, relevant), rel=EXACT)  # 720 orderings


def test_ties_expected_rank_and_reciprocal_rank_by_hand():
    scores = np.array([[0.5, 0.5, 0.5, 0.9],  # gold (0.5) below one, tied with two: ranks 2, 3, 4
                       [0.1, 0.2, 0.0, 0.0]])  # gold 0.2 first
    out = metrics.retrieval_outcomes(scores)
    assert out["hit"].tolist() == [0.0, 1.0] and metrics.ranks_of_gold(scores).tolist() == [3.0, 1.0]
    np.testing.assert_allclose(out["rr"], [(1 / 2 + 1 / 3 + 1 / 4) / 3, 1.0], rtol=EXACT)  # via digamma


def test_hubness_of_a_collapsed_space_is_that_of_random_neighbours():
    x = np.ones((400, 4))
    n, k = 400, 10
    p = k / n  # random neighbour lists: k-occurrence ~ Binomial(n, k/n)
    binomial_skew = (1 - 2 * p) / np.sqrt(n * p * (1 - p))
    mean_skew = np.mean([metrics.hubness(x, x, k, seed=s) for s in range(8)])
    # the skew of 400 counts has a standard error of about sqrt(6 / 400) = 0.12, so 0.043 over 8 seeds:
    # 0.15 is 3.5 standard errors (one giant hub would be a skew of ~20)
    assert mean_skew == pytest.approx(binomial_skew, abs=0.15)


# ---------------------------------------------------------------- paired intervals and verdicts

def test_bootstrap_interval_covers_the_true_difference(rng):
    """Simulated pairs of systems on 300 items (correlated hits, true P@1 0.35 vs 0.30): the 95 %
    interval covers the true difference in at least 90 % of 200 trials."""
    covered = 0
    for trial in range(200):
        easy = rng.uniform(size=300)  # item difficulty shared by both systems (paired)
        a = (easy < 0.35).astype(float)
        b = ((easy < 0.30) ^ (rng.uniform(size=300) < 0.0)).astype(float)
        flip = rng.uniform(size=300) < 0.2  # each system also errs independently on some items
        a[flip] = (rng.uniform(size=flip.sum()) < 0.35)
        b[flip] = (rng.uniform(size=flip.sum()) < 0.30)
        iv = metrics.paired_bootstrap(a, b, resamples=1000, seed=trial)
        covered += iv.low <= 0.05 <= iv.high
    assert covered >= 180, covered


def test_paired_bootstrap_known_answers_and_verdicts():
    a = np.array([1, 1, 1, 0, 1, 1, 0, 1] * 30, dtype=float)
    iv = metrics.paired_bootstrap(a, a)
    assert iv.diff == 0 and iv.low == 0 and iv.high == 0 and metrics.verdict(iv) == "inconclusive"
    better = metrics.paired_bootstrap(np.ones(50), np.zeros(50))
    assert better.diff == 1 and metrics.verdict(better) == "better"
    assert metrics.verdict(better, higher_is_better=False) == "worse"
    per_lang = np.stack([np.ones(40), np.zeros(40)], 1)  # (items, languages): averaged per item first
    assert metrics.paired_bootstrap(per_lang, np.zeros((40, 2))).diff == 0.5  # a mean of 0.5s: exact
    with pytest.raises(ValueError, match="same items"):
        metrics.paired_bootstrap(np.ones(5), np.ones(6))
    with pytest.raises(ValueError, match="per-item outcomes"):
        metrics.paired_bootstrap(np.ones(1), np.ones(1))
    assert metrics.paired_bootstrap(a, 1 - a).as_dict().keys() >= {"diff", "low", "high", "n", "resamples", "seed"}


def test_sparse_inputs_match_dense(rng):
    from scipy import sparse

    x, y = rng.normal(size=(30, 12)), rng.normal(size=(30, 12))
    x[x < 0.5] = 0
    y[y < 0.5] = 0
    xs, ys = sparse.csr_matrix(x), sparse.csr_matrix(y)
    # float64 cosines from sums of 12 products: ~1e-16 apart, and tied on the same grid
    np.testing.assert_allclose(metrics.cosine_matrix(xs, ys), metrics.cosine_matrix(x, y), atol=1e-12)
    assert metrics.linear_cka(xs, ys) == pytest.approx(metrics.linear_cka(x, y), rel=1e-12)  # Gram vs feature form
    dense, sp = metrics.strong_alignment({"a": x, "b": y}), metrics.strong_alignment({"a": xs, "b": ys})
    assert sp == dense  # the same tie levels, hence the same numbers


@pytest.mark.parametrize("bad,match", [
    (lambda r: (r.normal(size=(5, 3)), r.normal(size=(4, 3))), "same shape"),
    (lambda r: (np.zeros((0, 3)), np.zeros((0, 3))), "non-empty"),
    (lambda r: (np.full((4, 3), np.nan), r.normal(size=(4, 3))), "NaN"),
])
def test_bad_inputs_get_clear_errors(rng, bad, match):
    src, tgt = bad(rng)
    with pytest.raises(ValueError, match=match):
        metrics.retrieval_accuracy(src, tgt)


def test_k_larger_than_n_is_refused(rng):
    x = rng.normal(size=(5, 3))
    with pytest.raises(ValueError, match="k=10 neighbours"):
        metrics.retrieval_accuracy(x, x, "csls", k=10)
    with pytest.raises(ValueError, match="unknown scoring"):
        metrics.retrieval_accuracy(x, x, "dot")


def test_empty_rows_score_chance_under_csls_and_margin(rng):
    """All-zero vectors (TF-IDF of an unseen script) carry no information: empty queries must not find
    each other through the neighbourhood terms of CSLS or margin."""
    x, y = rng.normal(size=(20, 6)), rng.normal(size=(20, 6))
    x[:5] = 0
    y[:5] = 0
    for scoring in ("csls", "margin"):
        out = metrics.retrieval_outcomes(metrics.similarity(x, y, scoring, k=3))
        assert (out["hit"][:5] == 1 / 20).all()  # 1 / (19 ties + 1)


def test_language_id_probe_per_item_and_chance():
    embs = {lang: np.ones((40, 5)) for lang in "abcd"}
    acc, items = metrics.language_id_probe(embs, per_item=True)
    assert acc == 0.25 and items.shape == (20,) and (items == 0.25).all()  # means of 1/4s: exact in binary


def test_language_id_probe_ignores_the_rounding_noise_of_a_collapsed_model(rng):
    """A collapsed model's mean-pooled vectors differ only by float32 rounding, and the rounding depends
    on the sequence length, which depends on the language: that must not identify the language."""
    v = rng.normal(size=16).astype(np.float32)
    embs = {}
    for k, lang in enumerate("abc"):
        lengths = rng.integers(5 + 20 * k, 25 + 20 * k, size=60)  # languages differ in token counts
        embs[lang] = np.stack([np.mean(np.tile(v, (m, 1)), axis=0, dtype=np.float32) for m in lengths])
    assert not all(np.array_equal(embs["a"][0], e[0]) for e in embs.values())  # the noise is there
    assert metrics.language_id_probe(embs) == pytest.approx(1 / 3, rel=EXACT)
    # and a real language signal far below the features' scale is still read
    shifted = {lang: e + 1e-3 * k for k, (lang, e) in enumerate(embs.items())}
    assert metrics.language_id_probe(shifted) > 0.9


def test_informative_dims_by_hand():
    x = np.array([[1.0, 5.0, 0.0], [1.0 + 1e-8, 6.0, 0.0]])
    assert metrics.informative_dims(x).tolist() == [False, True, False]


def test_verdicts_record_every_comparison_in_order():
    v = metrics.Verdicts(500, 3)
    a, b = np.ones(40), np.zeros(40)
    iv, verdict = v.compare(a, b)
    assert verdict == "better" and (iv.diff, iv.low, iv.high) == (1.0, 1.0, 1.0)
    assert v.compare(b, a)[1] == "worse" and v.compare(a, a)[1] == "inconclusive"
    assert v.compare(a, b, higher_is_better=False)[1] == "worse"
    assert v == ["better", "worse", "inconclusive", "worse"]
    rng = np.random.default_rng(0)
    x, y = rng.random(50), rng.random(50)
    assert v.compare(x, y)[0] == metrics.compare(x, y, 500, 3)[0]  # the chapter's resamples and seed


# ---------------------------------------------------------------- seeds x items

def test_seed_item_bootstrap_with_one_seed_is_the_paired_bootstrap():
    rng = np.random.default_rng(3)
    a, b = rng.random((1, 50)), rng.random((1, 50))
    assert metrics.seed_item_bootstrap(a, b, 2000, 1) == metrics.paired_bootstrap(a[0], b[0], 2000, 1)


def test_seed_item_bootstrap_of_a_constant_difference_is_a_point():
    a = np.full((3, 40), 0.7)
    iv = metrics.seed_item_bootstrap(a, a - 0.25, 2000, 0)
    assert (iv.diff, iv.low, iv.high, iv.n) == pytest.approx((0.25, 0.25, 0.25, 40))


def test_seed_item_bootstrap_covers_the_spread_between_runs():
    # every item agrees within a run; the runs differ by 0, 1, 2: items alone would give [1, 1]; the seeds'
    # t interval is 1 +- t(0.975, 2) x sd(0, 1, 2) / sqrt(3) = 1 +- 4.303 / sqrt(3)
    from scipy.stats import t

    d = np.repeat(np.array([[0.0], [1.0], [2.0]]), 30, axis=1)
    iv = metrics.seed_item_bootstrap(d, np.zeros_like(d), 4000, 0)
    half = t.ppf(0.975, 2) * 1.0 / np.sqrt(3)
    assert half == pytest.approx(2.484, abs=1e-3)
    assert (iv.diff, iv.low, iv.high) == pytest.approx((1.0, 1.0 - half, 1.0 + half))
    item_only = metrics.paired_bootstrap(d.mean(0), np.zeros(30), 4000, 0)
    assert item_only.low == item_only.high == pytest.approx(1.0)


def test_seed_item_interval_covers_the_truth_at_its_level_when_seeds_dominate():
    # three training runs whose mean differences scatter around a true 0.1 (sd 0.05), with small item noise:
    # a 95 % interval must contain 0.1 in about 95 % of repetitions (a percentile bootstrap over the three
    # seeds does so in about 77 %)
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        shift = 0.1 + rng.normal(0, 0.05, (3, 1))
        d = shift + rng.normal(0, 0.02, (3, 60))
        iv = metrics.seed_item_bootstrap(d, np.zeros_like(d), 400, int(rng.integers(1 << 30)))
        hits += iv.low <= 0.1 <= iv.high
    assert 0.9 <= hits / 400 <= 1.0


def test_seed_item_bootstrap_of_identical_collapsed_systems_is_inconclusive():
    chance = np.full((3, 100, 5), 1 / 100)  # a collapsed model scores chance on every item and seed
    iv, v = metrics.compare_seeds(chance, chance.copy(), 1000, 0)
    assert v == "inconclusive" and iv.diff == 0 and iv.low == iv.high == 0


def test_seed_item_bootstrap_refuses_unpaired_shapes():
    with pytest.raises(ValueError, match="same shape"):
        metrics.seed_item_bootstrap(np.zeros((3, 10)), np.zeros((2, 10)))
    with pytest.raises(ValueError, match="same shape"):
        metrics.seed_item_bootstrap(np.zeros(10), np.zeros(10))


def test_seed_item_bootstrap_draws_the_same_items_for_every_seed():
    # three identical runs carry no more information than one: with one item draw shared by the runs the
    # interval is as wide as one run's; independent draws per run would shrink it by about 1/sqrt(3)
    x = np.random.default_rng(0).random(80)
    a = np.stack([x, x, x])
    iv = metrics.seed_item_bootstrap(a, np.zeros_like(a), 4000, 0)
    one_run = metrics.paired_bootstrap(x, np.zeros(80), 4000, 0)
    assert iv.diff == pytest.approx(x.mean())
    assert (iv.high - iv.low) / (one_run.high - one_run.low) == pytest.approx(1.0, abs=0.1)
