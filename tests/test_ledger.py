"""The claim-check rules of chapter 07 (xalign_utils.ledger) on made-up inputs with known answers."""
import numpy as np
import pandas as pd
import pytest

from xalign_utils import ledger, metrics
from xalign_utils.metrics import Interval, paired_bootstrap


def iv(low, high):
    return Interval((low + high) / 2, low, high, 100, 1000, 0, 0.95)


def test_clear_improvement_is_reproduced():
    assert ledger.check_verdict(iv(0.02, 0.10)) == "reproduced"
    assert ledger.check_verdict(iv(-0.10, -0.02), predicted=-1) == "reproduced"


def test_overlapping_interval_is_inconclusive():
    assert ledger.check_verdict(iv(-0.01, 0.05)) == "inconclusive at this scale"
    assert ledger.check_verdict(iv(-0.05, 0.01), predicted=-1) == "inconclusive at this scale"


def test_clear_reverse_is_not_reproduced():
    assert ledger.check_verdict(iv(-0.10, -0.02)) == "not reproduced"
    assert ledger.check_verdict(iv(0.02, 0.10), predicted=-1) == "not reproduced"


def test_not_worse_needs_the_interval_above_minus_the_margin():
    assert ledger.MARGIN == 0.01
    assert ledger.check_verdict(iv(-0.008, 0.02), kind="not worse") == "reproduced"
    assert ledger.check_verdict(iv(-0.5, 0.001), kind="not worse") == "inconclusive at this scale"  # wide: no
    assert ledger.check_verdict(iv(-0.03, -0.01), kind="not worse") == "not reproduced"


def test_a_bound_within_the_margin_of_its_threshold_is_fragile():
    assert ledger.fragile(iv(0.004, 0.08))  # reproduced, but drift could flip it
    assert not ledger.fragile(iv(0.02, 0.08))
    assert ledger.fragile(iv(-0.08, -0.005))  # not reproduced, bound near 0
    assert ledger.fragile(iv(-0.015, 0.02), kind="not worse")  # low near -0.01
    assert "fragile (2 checks within 0.01 of the threshold)" in ledger.caveats([3, 3], "book", 2)


def test_bad_direction_or_kind_is_refused():
    with pytest.raises(ValueError, match="predicted"):
        ledger.check_verdict(iv(0, 1), predicted=0)
    with pytest.raises(ValueError, match="kind"):
        ledger.check_verdict(iv(0, 1), kind="similar")


def test_finding_verdict_combines_checks():
    R, N, I = ledger.CLAIM_VERDICTS
    assert ledger.finding_verdict([R, R]) == R
    assert ledger.finding_verdict([R, I]) == I
    assert ledger.finding_verdict([R, N, I]) == N
    with pytest.raises(ValueError):
        ledger.finding_verdict([])
    with pytest.raises(ValueError, match="unknown"):
        ledger.finding_verdict(["better"])


def test_single_seed_rows_are_flagged():
    assert ledger.caveats([1, 3], "book") == ["one seed"]
    assert ledger.caveats([3, 3], "book") == []
    assert ledger.caveats([3], "ci") == ["ci budget"]


def test_one_seed_bootstrap_is_the_paired_bootstrap():
    rng = np.random.default_rng(1)
    a, b = rng.random(50), rng.random(50)
    one = ledger.seed_item_bootstrap([a], [b], 500, 3)
    two = paired_bootstrap(a, b, 500, 3)
    assert (one.diff, one.low, one.high) == (two.diff, two.low, two.high)


def test_seed_spread_widens_the_interval():
    # three seeds with the same item noise but seed-level shifts of +-0.1: the two-level interval must be
    # wider than the item-only interval of the pooled seeds, and contain the mean difference
    rng = np.random.default_rng(0)
    base = rng.normal(0, 0.2, 400)
    a = [base + 0.05 + shift for shift in (-0.1, 0.0, 0.1)]
    b = [np.zeros(400)] * 3
    two = ledger.seed_item_bootstrap(a, b, 4000, 0)
    pooled = paired_bootstrap(np.concatenate(a), np.concatenate(b), 4000, 0)
    assert two.low < two.diff < two.high
    assert two.diff == pytest.approx(0.05 + base.mean(), rel=1e-12)
    assert (two.high - two.low) > 2 * (pooled.high - pooled.low)


def test_identical_systems_give_a_zero_interval():
    a = [np.ones(30), np.zeros(30)]
    out = ledger.seed_item_bootstrap(a, a, 200, 0)
    assert (out.diff, out.low, out.high) == (0.0, 0.0, 0.0)
    assert ledger.check_verdict(out) == "inconclusive at this scale"


def test_spearman_known_values():
    assert ledger.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0, rel=1e-12)
    assert ledger.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0, rel=1e-12)
    # 1 - 6 sum d^2 / (n (n^2 - 1)) with ranks (1,2,3,4,5) vs (2,1,4,3,5): d^2 sum 4 -> 0.8
    assert ledger.spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8, rel=1e-12)
    assert ledger.spearman([1, 1, 1], [1, 2, 3]) == 0.0  # a constant side carries no order


def test_language_only_correlation_vanishes_within_languages():
    # x and y both just follow the language (two languages, values ordered by language, random within):
    # the pooled rho is high, the within-language rho is not
    rng = np.random.default_rng(0)
    groups = np.repeat(["de", "zh"], 40)
    x = np.where(groups == "de", 1.0, 0.0) + rng.random(80) * 0.1
    y = np.where(groups == "de", 1.0, 0.0) + rng.random(80) * 0.1
    pooled = ledger.spearman_interval(x, y, resamples=300)
    within = ledger.spearman_interval(x, y, groups=groups, resamples=300)
    assert pooled.low > 0.5
    assert within.low < 0 < within.high


def test_correlation_units_move_together():
    # 5 variants x 4 languages; resampling variants (not rows) gives 5 units
    x = np.repeat(np.arange(5.0), 4)
    out = ledger.spearman_interval(x, x + 0.0, units=np.repeat(list("abcde"), 4), resamples=200)
    assert out.n == 5
    assert out.diff == pytest.approx(1.0, rel=1e-12)


def test_pretraining_pairs_follow_the_chapters_naming():
    names = ["base", "tlm", "random-init+tlm", "λ = 0", "λ = 0 (from random init)", "random-init+gone"]
    assert ledger.pretraining_pairs(names) == [("tlm", "random-init+tlm"), ("λ = 0", "λ = 0 (from random init)")]


def test_missing_chapter_is_one_line_naming_the_command(tmp_path):
    with pytest.raises(ledger.MissingResults) as e:
        ledger.Results.load("ci", ["03_adapters"], tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "03_adapters" in msg and "xalign build --preset ci --notebook 03_adapters" in msg


def test_sortable_html_marks_the_table():
    html = ledger.sortable_html(pd.DataFrame({"variant": ["a<b"], "x": [0.12345]}))
    assert 'class="dataframe sortable"' in html and "0.123" in html and "a&lt;b" in html


def test_findings_page_rows_are_the_ledger_rows_in_order():
    from xalign_utils.build import ROOT

    page = (ROOT / "book" / "findings.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(ledger.FINDINGS)
    for i, (row, (claim, _, keys)) in enumerate(zip(rows, ledger.FINDINGS), 1):
        assert row.startswith(f"| {i} | {claim} {{cite:p}}`{keys}`."), row[:120]
        assert f"::f{i}_verdict" in row and f"::f{i}_evidence" in row


def _rows(records):
    cols = ["notebook", "variant", "family", "src", "tgt", "layer", "measure", "value", "seed", "n"]
    return pd.DataFrame([dict(zip(cols, r)) for r in records])


def test_leaderboard_reads_the_reporting_layer_not_the_extra_one():
    # a harness that also reports weak P@1 at layer 1 (`also_layer`); the variant has no strong-mAP row
    rows = _rows([("01_x", "v", "parallel", "en", "de", 1, "p_at_1_cosine", 0.02, 0, 9),
                  ("01_x", "v", "parallel", "en", "de", 2, "p_at_1_cosine", 0.08, 0, 9),
                  ("01_x", "v", "parallel", "all", "de", 2, "apps_accuracy", 0.3, 0, 9),
                  ("01_x", "v", "parallel", "all", "en", 2, "apps_accuracy", 0.9, 0, 9)])
    board = ledger.leaderboard(rows, {"chance": {"weak P@1": 0.1}})
    assert list(board.variant) == ["chance", "v"]
    row = board.iloc[1]
    assert row["layer"] == "2" and row["weak P@1"] == 0.08 and row["apps accuracy"] == 0.3  # English left out


def test_correlations_count_each_model_once_and_leave_out_random_starts():
    recs = []
    for nb, variant, family, value in [("01_a", "base", "base", 0.1), ("02_b", "base", "base", 0.1),
                                       ("01_a", "random-init+m", "control", 0.3), ("02_b", "m", "c", 0.2),
                                       ("00_z", "other", "base", 0.4), ("01_a", "tfidf", "lexical", 0.5)]:
        recs += [(nb, variant, family, "all", "all", 2, "strong_map", value, 0, 9),
                 (nb, variant, family, "all", "all", 2, "lid_probe", 1 - value, 0, 9),
                 (nb, variant, family, "en", "de", 2, "p_at_1_cosine", value, 0, 9),
                 (nb, variant, family, "all", "de", 2, "apps_accuracy", value, 0, 9)]
    points = ledger.trained_points(ledger.view_points(_rows(recs)))
    assert sorted(zip(points.notebook, points.variant)) == [("01_a", "base"), ("02_b", "m")]


def test_a_paired_check_refuses_different_columns():
    R = ledger.Results("ci", pd.DataFrame(), {"01_x": {
        ("a", 0): {"p_at_1_cosine": {"de": np.ones(5), "ru": np.ones(5)}},
        ("b", 0): {"p_at_1_cosine": {"de": np.zeros(5)}}}})
    with pytest.raises(ValueError, match="different 'p_at_1_cosine' columns"):
        ledger.paired_check(R, "01_x", "a", "b", "p_at_1_cosine")
    ok = ledger.paired_check(R, "01_x", "a", "b", "p_at_1_cosine", columns=["de"], resamples=100)
    assert (ok.interval.diff, ok.verdict) == (1.0, "reproduced")


def test_a_decoders_per_layer_columns_are_read_at_the_last_layer():
    R = ledger.Results("ci", pd.DataFrame(), {"06_x": {
        ("d", 0): {"p_at_1_cosine": {"de@0": np.zeros(4), "de@1": np.zeros(4), "de@2": np.ones(4)}}}})
    assert R.columns("06_x", "d", "p_at_1_cosine") == ["de@2"]
    assert R.outcomes("06_x", "d", "p_at_1_cosine")[0].mean() == 1.0


def test_random_init_names_follow_the_chapters():
    assert ledger.random_init_name("base") == "random-init-0"
    assert ledger.random_init_name("base decoder") == "random init"
    assert ledger.random_init_name("infonce") == "random-init+infonce"
    assert ledger.random_init_name("λ = 0") == "λ = 0 (from random init)"


def test_the_control_of_each_seed_is_paired_with_the_base_of_that_seed():
    """The chapters record the random-init control as `random-init-<s>` at seed s; the ledger's control
    (`random-init-0`) stands for all of them, so base - control resamples every seed, paired by seed."""
    rng = np.random.default_rng(0)
    items = {}
    for s in (0, 1, 2):
        items[("base", s)] = {"p_at_1_cosine": {"de": rng.random(30) + 0.1 * s}}
        items[(f"random-init-{s}", s)] = {"p_at_1_cosine": {"de": rng.random(30)}}
    items[("random-init-1", 0)] = {"p_at_1_cosine": {"de": np.ones(30)}}  # another seed's control at seed 0
    R = ledger.Results("book", pd.DataFrame(), {"00_x": items})
    assert R.seeds("00_x", ledger.CONTROL) == [0, 1, 2]
    check = ledger.paired_check(R, "00_x", "base", ledger.CONTROL, "p_at_1_cosine", resamples=200)
    want = metrics.seed_item_bootstrap(
        np.stack([items[("base", s)]["p_at_1_cosine"]["de"] for s in (0, 1, 2)]),
        np.stack([items[(f"random-init-{s}", s)]["p_at_1_cosine"]["de"] for s in (0, 1, 2)]), 200, 0)
    assert check.seeds == [0, 1, 2] and check.interval == want


def test_checks_are_rerun_on_the_random_init_start_where_it_was_trained():
    one, zero = np.ones(6), np.zeros(6)
    R = ledger.Results("ci", pd.DataFrame(), {"02_x": {
        ("m", 0): {"p_at_1_cosine": {"de": one}}, ("base", 0): {"p_at_1_cosine": {"de": zero}},
        ("random-init+m", 0): {"p_at_1_cosine": {"de": zero}}, ("random-init-0", 0): {"p_at_1_cosine": {"de": one}},
        ("n", 0): {"p_at_1_cosine": {"de": one}}}})  # n has no random-init run: no control row
    checks = [ledger.paired_check(R, "02_x", "m", "base", "p_at_1_cosine", resamples=100),
              ledger.paired_check(R, "02_x", "n", "base", "p_at_1_cosine", resamples=100)]
    out = ledger.on_random_init(R, [ledger.Finding(1, "c", "x", checks, "ci")], resamples=100)
    assert len(out) == 1
    row = out.iloc[0]
    assert (row["from the base"].diff, row["verdict"]) == (1.0, "reproduced")
    assert str(row["from random init"]) == "-1.000 [-1.000, -1.000]" and row["random-init verdict"] == "not reproduced"


def test_end_checks_skip_missing_variants_and_pair_across_chapters():
    rng = np.random.default_rng(0)
    hit = rng.random((40,)) < 0.5
    R = ledger.Results("ci", pd.DataFrame(), {
        "02_x": {("full", 0): {"p_at_1_cosine": {"de": hit.astype(float)}},
                 ("before", 0): {"p_at_1_cosine": {"de": hit.astype(float)}}},
        "03_x": {("lora", 0): {"p_at_1_cosine": {"de": np.ones(40)}}}})
    checks = [ledger.EndCheck(2, "02_x", "full", "before", "p_at_1_cosine", "full − before"),
              ledger.EndCheck(11, "03_x", "lora", "full", "p_at_1_cosine", "lora − full", kind="not worse",
                              b_chapter="02_x"),
              ledger.EndCheck(1, "00b_x", "fake", "fake-ri", "p_at_1_fake_english", "not built")]
    out = ledger.end_checks(R, checks, resamples=200)
    assert [e.finding for e, _ in out] == [2, 11]  # the chapter that recorded nothing is left out
    same, lora = out[0][1], out[1][1]
    assert (same.interval.diff, same.interval.low, same.interval.high) == (0.0, 0.0, 0.0)
    assert same.verdict == "inconclusive at this scale"  # identical systems: no difference either way
    assert lora.interval.diff == pytest.approx(1 - hit.mean()) and lora.verdict == "reproduced"
    table = ledger.end_table(out)
    assert list(table.finding) == [2, 11] and table.verdict.iloc[1] == "reproduced"


def test_end_checks_refuse_different_items_across_chapters():
    R = ledger.Results("ci", pd.DataFrame(), {
        "02_x": {("full", 0): {"p_at_1_cosine": {"de": np.ones(30)}}},
        "03_x": {("lora", 0): {"p_at_1_cosine": {"de": np.ones(25)}}}})
    check = ledger.EndCheck(11, "03_x", "lora", "full", "p_at_1_cosine", "lora − full", b_chapter="02_x")
    with pytest.raises(ValueError, match="different items"):
        ledger.end_checks(R, [check], resamples=100)


def test_every_end_check_names_a_ledger_finding():
    assert {e.finding for e in ledger.END_CHECKS} <= set(range(1, len(ledger.FINDINGS) + 1))
    assert all(e.kind in ledger.KINDS and e.predicted in (1, -1) for e in ledger.END_CHECKS)


def test_an_end_check_can_read_b_as_the_mean_of_its_seeds():
    R = ledger.Results("ci", pd.DataFrame(), {"00b_x": {
        ("fake", 0): {"m": {"en-fake": np.ones(6)}},
        ("ri", 0): {"m": {"en-fake": np.zeros(6)}}, ("ri", 1): {"m": {"en-fake": np.ones(6)}},
        ("ri", 2): {"m": {"en-fake": np.ones(6)}}}})
    (_, c), = ledger.end_checks(R, [ledger.EndCheck(1, "00b_x", "fake", "ri", "m", "t", b_seed_mean=True)],
                                resamples=100)
    assert c.interval.diff == pytest.approx(1 / 3) and c.seeds == [0]
