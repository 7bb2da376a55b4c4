"""Per-item outcomes beside the result rows: `record_results` with an evaluation object stores them,
`read_items` gives them back, a plain DataFrame stores none, `replace=True` replaces them."""
import numpy as np
import pandas as pd
import pytest

from xalign_utils import record as rec


class FakeEval:
    """What `record_results` needs of an evaluation: `.tidy()` rows and `.item_outcomes()`."""

    def __init__(self, outcomes):
        self.outcomes = outcomes

    def tidy(self):
        return pd.DataFrame([("en", col, 2, m, float(np.mean(x)), len(x))
                             for m, cols in self.outcomes.items() for col, x in cols.items()],
                            columns=["src", "tgt", "layer", "measure", "value", "n"])

    def item_outcomes(self):
        return self.outcomes


@pytest.fixture
def results(tmp_path, monkeypatch):
    path = tmp_path / "ci" / "01_parallel_data.csv"
    monkeypatch.setenv("XALIGN_RESULTS_PATH", str(path))
    monkeypatch.setenv("XALIGN_NOTEBOOK", "01_parallel_data")
    monkeypatch.setattr(rec, "_recorded", {})
    return path


def outcomes(rng, n=7):
    # expected hits and APs are fractions (float64 kept exactly); POS columns of different lengths
    return {"p_at_1_cosine": {"de": rng.random(n), "ru": rng.integers(0, 2, n).astype(float)},
            "strong_map": {"all": rng.random(2 * n) / 3},
            "pos_accuracy": {"de": rng.random(n + 3), "ru": rng.random(n - 2)}}


def assert_same(got, want):
    assert set(got) == set(want)
    for m in want:
        assert set(got[m]) == set(want[m]), m
        for c in want[m]:
            assert got[m][c].dtype == np.float64
            np.testing.assert_array_equal(got[m][c], want[m][c])  # bit for bit


def test_items_path_is_beside_the_results_csv():
    assert str(rec.items_path("_build/results/ci/01_parallel_data.csv")) == "_build/results/ci/01_parallel_data.items.npz"
    assert str(rec.items_path("out/results.csv")) == "out/results.items.npz"
    assert str(rec.items_path("x/01.partial.csv")) == "x/01.partial.items.npz"


def test_round_trip_two_variants_odd_names_and_a_replace(results, rng):
    odd = "last, λ = 1 + x/y=2 \"q\""  # spaces, commas, '=', '+', 'λ', '/', quotes
    a, b, b2 = outcomes(rng), outcomes(rng), outcomes(rng)
    rows = rec.record_results("base", FakeEval(a), seed=0)
    assert rows.value.tolist() == FakeEval(a).tidy().value.tolist()  # the rows come from .tidy()
    rec.record_results(odd, FakeEval(b), family="generative", seed=1)
    rec.record_results("base", FakeEval(b), seed=2)  # another seed of the same variant
    items = rec.read_items(rec.items_path(results))
    assert set(items) == {("base", 0), (odd, 1), ("base", 2)}
    assert_same(items[("base", 0)], a)
    assert_same(items[(odd, 1)], b)
    assert_same(items[("base", 2)], b)
    table = rec.read_results(results)
    assert len(table) == 3 * len(FakeEval(a).tidy()) and set(table.variant) == {"base", odd}
    with pytest.raises(ValueError, match="already recorded"):
        rec.record_results(odd, FakeEval(b2), seed=1)
    assert_same(rec.read_items(rec.items_path(results))[(odd, 1)], b)  # a refused call changes nothing
    rec.record_results(odd, FakeEval(b2), seed=1, replace=True)
    items = rec.read_items(rec.items_path(results))
    assert set(items) == {("base", 0), (odd, 1), ("base", 2)}
    assert_same(items[(odd, 1)], b2)
    assert_same(items[("base", 0)], a)
    got = rec.read_results(results).query("variant == @odd")
    assert got.value.tolist() == FakeEval(b2).tidy().value.tolist()


def test_a_dataframe_stores_no_items_and_replacing_with_one_drops_them(results, rng):
    table = pd.DataFrame({"measure": ["apps_accuracy"], "value": [0.5]})
    rec.record_results("control", table)
    assert results.exists() and not rec.items_path(results).exists()
    rec.record_results("base", FakeEval(outcomes(rng)))
    rec.record_results("base", table, replace=True)  # its rows and its items are replaced: none stay
    assert not rec.items_path(results).exists()
    assert rec.read_results(results).variant.tolist() == ["control", "base"]


def test_the_first_call_of_a_run_starts_the_items_afresh(results, rng):
    rec.record_results("old", FakeEval(outcomes(rng)))
    rec._recorded.clear()  # a new run of the notebook
    rec.record_results("new", FakeEval(outcomes(rng)))
    assert set(rec.read_items(rec.items_path(results))) == {("new", 0)}
    rec._recorded.clear()
    rec.record_results("rows only", pd.DataFrame({"measure": ["m"], "value": [1.0]}))
    assert not rec.items_path(results).exists()  # the earlier run's items are not this run's


def test_the_same_outcomes_give_the_same_bytes_and_np_load_reads_them(tmp_path, rng):
    items = {("v", 0): outcomes(rng)}
    rec.write_items(tmp_path / "a.items.npz", items)
    rec.write_items(tmp_path / "b.items.npz", {k: dict(reversed(list(v.items()))) for k, v in items.items()})
    assert (tmp_path / "a.items.npz").read_bytes() == (tmp_path / "b.items.npz").read_bytes()
    with np.load(tmp_path / "a.items.npz") as npz:  # an ordinary npz archive
        assert len(npz.files) == 1 + 5
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


@pytest.mark.parametrize("bad,match", [
    ({"m": {"de": np.zeros((2, 2))}}, "1-D"),
    ({"m": {"de": np.array([0.5, np.nan])}}, "finite"),
    ({"m": {"de": np.array([])}}, "non-empty"),
    ({"m": {3: np.ones(2)}}, "column names"),
])
def test_malformed_outcomes_are_refused_before_anything_is_written(results, bad, match):
    with pytest.raises(ValueError, match=match):
        rec.record_results("v", FakeEval(bad))
    assert not results.exists() and not rec.items_path(results).exists()
