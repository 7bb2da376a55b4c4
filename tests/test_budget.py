"""Budget curves (xalign_utils.budget): the budget rule on curves with known answers, one-line errors,
and a run that is resumable row by row (a stub method and harness: no training)."""
import pandas as pd
import pytest

from xalign_utils import budget


def curve(*points):
    return pd.Series(dict(points))


@pytest.mark.parametrize("points,expected", [
    # gain 0.3; 256 -> 1024 adds 0.02 < 0.03: 256
    (((0, 0.0), (64, 0.1), (256, 0.28), (1024, 0.30)), 256),
    # every step up adds >= 10 % of the gain: the largest
    (((0, 0.0), (64, 0.1), (256, 0.2), (1024, 0.3)), 1024),
    # flat from the first budget: the first
    (((0, 0.0), (64, 0.3), (256, 0.3), (1024, 0.3)), 64),
    # nothing beats the untrained model: the smallest
    (((0, 0.5), (64, 0.4), (256, 0.45), (1024, 0.3)), 64),
])
def test_choose_budget_follows_the_stated_rule(points, expected):
    steps, why = budget.choose_budget(curve(*points))
    assert steps == expected and why


def test_a_drop_after_a_peak_counts_as_flattened():
    steps, _ = budget.choose_budget(curve((0, 0.0), (64, 0.1), (256, 0.3), (1024, 0.2)))
    assert steps == 256


def test_a_curve_without_its_untrained_point_is_refused():
    with pytest.raises(ValueError, match="steps 0"):
        budget.choose_budget(curve((64, 0.1), (256, 0.2)))


@pytest.mark.parametrize("args,match", [
    ((["nope"], [64], ["base"]), "unknown method 'nope'"),
    ((["infonce"], [64], ["scratch"]), "unknown start 'scratch'"),
    ((["infonce"], [0], ["base"]), "positive step counts"),
    ((["infonce"], [True], ["base"]), "positive step counts"),
])
def test_bad_arguments_are_one_line_errors(args, match):
    with pytest.raises(ValueError, match=match):
        budget.check(*args)


class StubHarness:
    def __init__(self):
        self.calls = 0

    def measure(self, encoder, pos=True, full=True):
        self.calls += 1
        score = encoder["steps"] / 1000
        return type("E", (), {"summary": lambda self: {"weak P@1": score, "apps accuracy": 0.5}})()


def stub_context(harness):
    return {"starts": {"base": {"steps": 0}, "random init": {"steps": 0}}, "harness": harness}


def test_run_writes_each_row_and_resumes_where_it_stopped(tmp_path, monkeypatch):
    trained = []

    def train(enc, ctx, steps, seed):
        trained.append(steps)
        if len(trained) == 2:
            raise KeyboardInterrupt  # killed while training the second run
        return {"steps": steps}, [1.0] * steps

    monkeypatch.setitem(budget.METHODS, "stub", budget.Method("stub", "02_contrastive", "stub", 16, 1e-3, train))
    path = tmp_path / "curves.csv"
    h = StubHarness()
    with pytest.raises(KeyboardInterrupt):
        budget.run(["stub"], [4, 16], ["base"], path=path, ctx=stub_context(h), progress=lambda _: None)
    first = budget.read_curves(path)
    assert list(first.steps) == [0, 4]  # the rows done before the kill are kept, nothing of the third
    table = budget.run(["stub"], [4, 16], ["base", "random init"], path=path, ctx=stub_context(h),
                       progress=lambda _: None)
    assert trained == [4, 16, 16, 4, 16]  # the killed 16-step run again, then only what was missing
    assert len(table) == 6 and set(budget.COLUMNS) <= set(table.columns)
    assert table.set_index(["start", "steps"]).weak_p1.loc[("base", 16)] == pytest.approx(0.016)


def test_book_budgets_take_the_largest_pick_over_starts_and_measures():
    rows = []
    for start, p1 in (("base", [0.0, 0.2, 0.3, 0.3]), ("random init", [0.0, 0.1, 0.2, 0.3])):
        for steps, v in zip((0, 64, 256, 1024), p1):
            rows.append({"method": "infonce", "start": start, "steps": steps, "weak_p1": v, "apps_accuracy": 0.5})
    out = budget.book_budgets(pd.DataFrame(rows))
    assert out.loc["infonce", "book steps"] == 1024
    assert out.loc["infonce", "base, weak P@1"] == 256
