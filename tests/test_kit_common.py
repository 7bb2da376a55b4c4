"""xalign_utils.kit.common (what the kits of chapters 01 and 02 share) on small made-up measurements."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from _helpers import capture_glue  # noqa: E402

from xalign_utils import metrics  # noqa: E402
from xalign_utils.harness import VariantEval  # noqa: E402
from xalign_utils.kit import common  # noqa: E402
from xalign_utils.transfer import TransferResult  # noqa: E402

NON_EN = ["de", "ru"]
N = 30


def _result(p: float, seed: int, majority: float = 0.25) -> TransferResult:
    rng = np.random.default_rng(seed)
    cols = ["en", *NON_EN]
    items = pd.DataFrame({c: (rng.random(N) < p).astype(float) for c in cols})
    return TransferResult(pd.DataFrame({"lang": cols}), items, pd.DataFrame({c: np.full(N, majority) for c in cols}))


def _eval(name: str, p: float, seed: int, pos: bool = True) -> VariantEval:
    rng = np.random.default_rng(seed)
    hits = {"cosine": pd.DataFrame({c: (rng.random(N) < p).astype(float) for c in NON_EN})}
    return VariantEval(name, 2, hits, rng.random(N) * p, 0.5, (rng.random(N) < 0.9).astype(float),
                       _result(p, seed), _result(p, seed + 1, 0.4) if pos else None)


@pytest.fixture
def glued(monkeypatch, tmp_path):
    """Everything glued (name -> its text); record() into tmp_path/metrics.json."""
    return capture_glue(monkeypatch, tmp_path)


@pytest.fixture
def evals():
    return {"base": _eval("base", 0.2, 0), "A": _eval("A", 0.5, 1), "random init": _eval("random init", 0.3, 2, False),
            "A" + common.RI: _eval("A" + common.RI, 0.4, 3, False)}


CHANCE = {"weak P@1": 0.01, "strong mAP": 0.005, "LID probe": 0.5, "not a column": 1.0}
LEXICAL = {"weak P@1": 0.2, "strong mAP": 0.04, "apps accuracy": 0.3, "hits": None}


def test_summary_table_reference_rows(evals):
    table = common.summary_table(evals, CHANCE, LEXICAL, ("weak P@1", "apps accuracy"))
    assert list(table.index) == [*evals, "chance", common.MAJORITY, common.TFIDF]
    assert list(table.columns) == list(common.summary_frame(evals).columns)  # no "not a column"
    assert table.loc[common.MAJORITY, "apps accuracy"] == 0.25
    assert table.loc[common.MAJORITY, "POS accuracy"] == pytest.approx(0.4)
    assert table.loc[common.TFIDF, "apps accuracy"] == 0.3 and np.isnan(table.loc[common.TFIDF, "strong mAP"])
    assert table.loc["A", "weak P@1"] == pytest.approx(evals["A"].hits["cosine"].to_numpy().mean())


def test_references_are_glued_and_an_unmeasured_one_reads_n_a(evals, glued):
    table = common.summary_table(evals, CHANCE, LEXICAL, ("weak P@1",))
    common.glue_references(table, LEXICAL)
    assert glued["chance_p1"] == "0.0100" and glued["chance_map"] == "0.0050" and glued["lexical_apps"] == "0.300"
    assert glued["apps_majority"] == "0.250" and glued["pos_majority"] == "0.400"
    no_pos = {n: _eval(n, 0.3, i, pos=False) for i, n in enumerate(["base", "A"])}
    table = common.summary_table(no_pos, CHANCE, LEXICAL, ("weak P@1",))
    common.glue_references(table, LEXICAL)
    assert glued["pos_majority"] == "n/a"  # not the string "nan"
    assert common.reference_text(table, "base", "no such column") == "n/a"
    assert common.reference_text(table, "chance", "weak P@1", 2) == "0.01"


def test_record_summary_skips_unmeasured_values_and_needs_every_variant(evals, glued, tmp_path):
    names = common.record_summary(evals, {"base": "base", "random init": "control"},
                                  {"weak P@1": "p1", "POS accuracy": "pos", "absent": "x"})
    assert names == ["base_p1", "base_pos", "control_p1"]  # the control has no POS
    stored = json.loads((tmp_path / "metrics.json").read_text())
    assert stored["control_p1"]["value"] == pytest.approx(evals["random init"].summary()["weak P@1"])
    with pytest.raises(KeyError):
        common.record_summary(evals, {"not measured": "x"}, {"weak P@1": "p1"})


def test_variant_results_names_and_families(evals):
    evals = {**evals, "B (control)": evals["A"]}
    rows = common.variant_results(evals, {"A": "a", "B (control)": "b"}, seed=7, family="parallel",
                                  families={"B (control)": "control"})
    assert [(r["variant"], r["family"]) for r in rows] == [
        ("base", "base"), ("random-init-7", "control"), ("a", "parallel"), ("random-init+a", "control"),
        ("b", "control")]
    assert {r["seed"] for r in rows} == {7} and rows[2]["table"] is evals["A"]


def test_per_language_intervals_table_figure_and_gains(evals):
    ivs = common.per_language_intervals(evals, ["A", "random init"], 200, 0)
    assert list(ivs) == ["A", "random init"] and list(ivs["A"]) == NON_EN
    a, b = evals["A"].hits["cosine"]["ru"], evals["base"].hits["cosine"]["ru"]
    assert ivs["A"]["ru"] == metrics.paired_bootstrap(a, b, 200, 0)
    assert common.n_intervals(ivs) == 4
    gains = common.hit_gains(evals, ["A"])
    assert gains["A"]["ru"].tolist() == (a - b).tolist()
    table = common.per_language_table(evals, ivs)
    assert list(table.columns) == ["de (Latin)", "ru (Cyrillic)"]
    assert table.loc["A", "ru (Cyrillic)"] == f"{b.mean():.3f} → {a.mean():.3f} ({ivs['A']['ru']})"
    fig = common.fig_langs({"word alignment (induced)": ivs["A"], "B": ivs["random init"]})
    ax = fig.axes[0]
    assert len(ax.patches) == 4 and ax.patches[0].get_height() == pytest.approx(ivs["A"]["de"].diff)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["word align.\n(induced)", "B"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["de (Latin)", "ru (Cyrillic)"]


def test_glue_groups_verdicts_or_n_a(glued):
    iv = metrics.Interval(0.1, 0.05, 0.15, N, 100, 0, 0.95)
    common.glue_groups({"A": (iv, "better")}, {"A": "a", "B": "b"})
    assert glued["verdict_group_a"] == "larger for the Latin-script languages" and glued["iv_group_a"] == str(iv)
    assert glued["iv_group_b"] == "n/a"
    assert glued["verdict_group_b"] == "not compared (the languages fall in one group)"


def test_sweep_table_rows_in_sweep_order_with_paired_gains(evals):
    sweep = {("x", 8): evals["A"], ("x", 2): evals["random init"]}
    table = common.sweep_table(sweep, evals["base"], 200, 0, measures=("weak P@1", "apps accuracy"),
                               describe=lambda key: {"method": key[0], "size": key[1]})
    assert list(table.columns) == ["method", "size", "measure", "value", "gain", "low", "high"]
    assert list(table["size"]) == [8, 8, 2, 2] and list(table.measure[:2]) == ["weak P@1", "apps accuracy"]
    iv = metrics.paired_bootstrap(np.asarray(evals["A"].outcome("weak P@1")),
                                  np.asarray(evals["base"].outcome("weak P@1")), 200, 0)
    assert (table.loc[0, "gain"], table.loc[0, "low"], table.loc[0, "high"]) == (iv.diff, iv.low, iv.high)
    assert table.loc[0, "value"] == evals["A"].summary()["weak P@1"]
    assert (table.low <= table.gain).all() and (table.gain <= table.high).all()
