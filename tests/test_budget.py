"""Budget curves (xalign_utils.budget): the budget rule on curves with known answers, one-line errors,
and a run that is resumable row by row (a stub method and harness: no training)."""
import numpy as np
import pandas as pd
import pytest

from xalign_utils import budget, curves


def curve(*points, n=400):
    """Per-item 0/1 outcomes by budget with exactly the given means, on items drawn independently per
    budget (seeded): neighbouring budgets share no structure beyond their means."""
    return {steps: np.random.default_rng(steps).permutation(np.arange(n) < round(mean * n)).astype(float)
            for steps, mean in points}


@pytest.mark.parametrize("points,expected", [
    # 256 -> 1024 adds 0.01 on 400 items: not measurably better, so 256
    (((0, 0.0), (64, 0.1), (256, 0.28), (1024, 0.29)), 256),
    # every step up is clearly better: the largest, still climbing
    (((0, 0.0), (64, 0.1), (256, 0.2), (1024, 0.3)), 1024),
    # flat from the first budget: the first
    (((0, 0.0), (64, 0.3), (256, 0.3), (1024, 0.3)), 64),
    # nothing beats the untrained model, and it keeps falling: still moving at the largest
    (((0, 0.5), (64, 0.4), (256, 0.45), (1024, 0.3)), 1024),
    # a measurable drop after a peak is moving too: the largest
    (((0, 0.0), (64, 0.1), (256, 0.3), (1024, 0.2)), 1024),
    # a fall that stops (random-init TLM in the stored curves): where it stops
    (((0, 0.065), (64, 0.15), (256, 0.02), (1024, 0.016)), 256),
    # flat, then a late rise: the late budget, not the first flat one
    (((0, 0.0), (64, 0.0), (256, 0.0), (1024, 0.4)), 1024),
    # a dip, then a rise above the start
    (((0, 0.3), (64, 0.15), (256, 0.15), (1024, 0.6)), 1024),
])
def test_choose_budget_follows_the_stated_rule(points, expected):
    steps, why = budget.choose_budget(curve(*points), 1000)
    assert steps == expected and why


def test_a_collapsed_model_at_every_budget_gets_the_smallest():
    chance = {b: np.full((400, 5), 1 / 400) for b in (0, 64, 256, 1024)}
    steps, why = budget.choose_budget(chance, 500)
    assert steps == 64 and why.startswith("no larger budget differs; 256 steps − 64: +0.000")
    assert not budget.measurable_gain(chance, 500)


def test_the_largest_budget_is_labelled_by_its_last_step():
    assert "still climbing" in budget.choose_budget(curve((0, 0.0), (64, 0.1), (256, 0.2), (1024, 0.35)), 1000)[1]
    assert "still falling" in budget.choose_budget(curve((0, 0.0), (64, 0.1), (256, 0.4), (1024, 0.2)), 1000)[1]


def test_one_budget_is_not_called_still_climbing():
    assert budget.choose_budget(curve((0, 0.0), (64, 0.3)), 500) == (64, "the only budget measured")


def test_book_budgets_refuse_incomplete_curves_naming_the_fix():
    table, outcomes = stored_like(("infonce",))
    with pytest.raises(ValueError, match="infonce from base has no untrained.*--methods infonce"):
        budget.book_budgets(table[(table.steps > 0) | (table.start != "base")], outcomes, 200)
    with pytest.raises(ValueError, match="no per-item outcomes for infonce.base.64"):
        budget.book_budgets(table, {k: v for k, v in outcomes.items() if "|64|" not in k}, 200)
    with pytest.raises(ValueError, match="several seeds"):
        budget.book_budgets(pd.concat([table, table.assign(seed=1)]), outcomes, 200)


def test_a_method_without_a_measurable_gain_gets_no_share():
    table, outcomes = stored_like(("infonce",), means={"base": (0.3, 0.3, 0.3, 0.3), "random init": (0.0, 0.1, 0.2, 0.3)})
    picks = budget.book_budgets(table, outcomes, 500)
    assert picks.loc["infonce", "weak P@1 gain from base"] == "none measurable"
    assert picks.loc["infonce", "why"].startswith("weak P@1 from random init")  # the curve that decided
    texts = budget.glue_chapter(table, picks, 64, outcomes, resamples=500)
    near = texts["budget_ci_gain"].split("[")[1].split("]")[0].split(", ")
    assert float(near[0]) < 0 < float(near[1])  # the gain at 64 steps: an interval that covers 0


def test_a_method_that_fills_one_measure_is_read_on_that_measure_only(monkeypatch):
    """A task adapter scored on the application task alone: its pick, gain and figure come from that
    measure; the empty weak P@1 column is not read."""
    import matplotlib.pyplot as plt

    table, outcomes = stored_like(("task_adapter",), means={"base": (0.0, 0.1, 0.2, 0.3), "random init": (0.0, 0.1, 0.2, 0.3)})
    table = table[table.start == "base"].assign(apps_accuracy=table.weak_p1, weak_p1=np.nan)
    outcomes = {k.replace("weak_p1", "apps_accuracy"): v for k, v in outcomes.items() if "|base|" in k and "weak_p1" in k}
    picks = budget.book_budgets(table, outcomes, 1000)
    assert picks.loc["task_adapter", "param"] == "task_steps" and picks.loc["task_adapter", "book steps"] == 1024
    assert picks.loc["task_adapter", "why"].startswith("apps accuracy from base")
    assert picks.loc["task_adapter", "apps accuracy gain from base"] == "measurable"
    monkeypatch.setattr("xalign_utils.record.glue_text", lambda k, v: None)
    texts = budget.glue_chapter(table, picks, {"task_steps": 48}, outcomes, resamples=500)
    assert texts["budget_task_ci_gain"].startswith("task adapter alone (apps) (apps accuracy) +0.100 [")
    fig = budget.fig_curves(table, outcomes=outcomes)
    assert [a.get_ylabel() for a in fig.axes] == ["apps accuracy"]
    plt.close("all")


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
        curves.check(*args)


class StubEval:
    def __init__(self, score):
        self.score = score

    def summary(self):
        return {"weak P@1": self.score, "apps accuracy": 0.5}

    def outcome(self, name):
        return np.full((10, 2), self.score if name == "weak P@1" else 0.5)


class StubHarness:
    def measure(self, encoder, pos=True, full=True):
        return StubEval(encoder["steps"] / 1000)


def stub_context(harness):
    return {"starts": {"base": {"steps": 0}, "random init": {"steps": 0}}, "harness": harness}


def test_run_writes_each_row_and_resumes_where_it_stopped(tmp_path, monkeypatch):
    trained = []

    def train(enc, ctx, steps, seed, batch_size, lr):
        assert (batch_size, lr) == (16, 1e-3)  # the method's own, as the CSV records them
        trained.append(steps)
        if len(trained) == 2:
            raise KeyboardInterrupt  # killed while training the second run
        return {"steps": steps}, [1.0] * steps

    monkeypatch.setitem(curves.METHODS, "stub", curves.Method("stub", "02_contrastive", "stub", 16, 1e-3, train))
    path = tmp_path / "curves.csv"
    h = StubHarness()
    with pytest.raises(KeyboardInterrupt):
        curves.run(["stub"], [4, 16], ["base"], path=path, ctx=stub_context(h), progress=lambda _: None)
    first = budget.read_curves(path)
    assert list(first.steps) == [0, 4]  # the rows done before the kill are kept, nothing of the third
    table = curves.run(["stub"], [4, 16], ["base", "random init"], path=path, ctx=stub_context(h),
                       progress=lambda _: None)
    assert trained == [4, 16, 16, 4, 16]  # the killed 16-step run again, then only what was missing
    assert len(table) == 6 and set(budget.COLUMNS) <= set(table.columns)
    assert table.set_index(["start", "steps"]).weak_p1.loc[("base", 16)] == pytest.approx(0.016)
    outcomes = budget.read_outcomes(path)
    assert len(outcomes) == 2 * len(table)  # both measures of every row
    assert outcomes[budget.outcome_key("stub", "base", 16, 0, "weak_p1")] == pytest.approx(np.full((10, 2), 0.016))


def test_book_budgets_take_the_largest_pick_over_starts_and_measures():
    table, outcomes = stored_like(("infonce",), means={"base": (0.0, 0.2, 0.3, 0.3), "random init": (0.0, 0.1, 0.2, 0.3)})
    out = budget.book_budgets(table, outcomes, 1000)
    assert out.loc["infonce", "book steps"] == 1024
    assert out.loc["infonce", "base, weak P@1"] == 256
    assert out.loc["infonce", "base, apps accuracy"] == 64  # flat


def stored_like(methods=("infonce", "distill"), budgets=(64, 256, 1024), means=None, n=400):
    """A curves table and its outcomes: weak P@1 means per start from `means` (default 0.02 + 0.1 per
    budget), flat application accuracy."""
    rows, outcomes = [], {}
    for m in methods:
        for start in budget.STARTS:
            levels = (means or {}).get(start) or [0.02 + 0.1 * i for i in range(len(budgets) + 1)]
            for steps, mean in zip((0, *budgets), levels):
                rows.append({"method": m, "label": curves.METHODS[m].label, "chapter": curves.METHODS[m].chapters,
                             "param": curves.METHODS[m].param, "start": start, "steps": steps,
                             "seed": 0, "weak_p1": mean, "apps_accuracy": 0.2, "commit": "abc",
                         "train_s": steps / 100})
                outcomes[budget.outcome_key(m, start, steps, 0, "weak_p1")] = curve((steps, mean), n=n)[steps]
                outcomes[budget.outcome_key(m, start, steps, 0, "apps_accuracy")] = curve((steps, 0.2), n=n)[steps]
    return pd.DataFrame(rows), outcomes


def test_chapter_glue_reads_the_stored_rows(monkeypatch):
    glued = {}
    monkeypatch.setattr("xalign_utils.record.glue_text", lambda k, v: glued.__setitem__(k, v))
    whole, outcomes = stored_like()
    table = budget.of_chapter(whole, "02_contrastive")
    picks = budget.book_budgets(table, outcomes, 1000)
    texts = budget.glue_chapter(table, picks, 64, outcomes, resamples=1000)
    assert glued == texts and texts["budget_commit"] == "abc" and texts["budget_largest"] == "1,024"
    assert texts["budget_picks"].startswith("sentence InfoNCE, 1,024 steps (weak P@1 from base: still climbing at the "
                                            "largest budget measured (1,024 − 256: +0.100 [")
    assert texts["budget_chapter_steps"] == "1,024" and texts["budget_run_steps"] == "64"
    assert texts["budget_run_why"] == "the ci preset's budget, set by CPU time"
    assert budget.glue_chapter(table, picks, 1024, outcomes, "book", 1000)["budget_run_why"].startswith(
        "the book budget, read off the curves below (")
    # gains over the untrained base (0.02 -> 0.12 at 64, 0.32 at 1,024) with their paired intervals
    assert texts["budget_ci_gain"].startswith("sentence InfoNCE +0.100 [") and "(at 1,024: +0.300 [" in texts["budget_ci_gain"]
    assert texts["budget_ci_steps"] == "64"
    assert budget.glue_chapter(table, picks, 50, outcomes, resamples=1000)["budget_ci_steps"] == "64"  # nearest 50
    assert budget.curve_table(table).shape == (2, 8)


def test_a_chapter_without_stored_curves_is_a_one_line_error():
    with pytest.raises(ValueError, match="python -m xalign_utils.curves --chapter 01_parallel_data"):
        budget.of_chapter(stored_like(("infonce",))[0], "01_parallel_data")


def test_the_curve_figure_is_closed_and_has_a_line_per_method_and_start():
    import matplotlib.pyplot as plt

    plt.close("all")
    table, outcomes = stored_like()
    fig = budget.fig_curves(table)
    assert plt.get_fignums() == [] and len(fig.axes[0].lines) == 4
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "64", "256", "1,024"]
    assert {t.get_text() for t in fig.axes[0].get_legend().get_texts()} >= {"from the base", "from random init"}
    fig = budget.fig_curves(table, outcomes=outcomes)  # with each point's interval over items
    assert len(fig.axes[0].containers) == 4


def test_the_stored_curves_are_complete_and_well_formed():
    """Every method with a recipe has a curve from each start its chapters train it from, at the same
    budgets from each, starting at its untrained point; the stored metadata is the recipe's."""
    table = budget.read_curves()
    assert set(table.method) == set(curves.METHODS), "every method has a curve"
    for m, rows in table.groupby("method"):
        meth = curves.METHODS[m]
        assert set(rows.start) == set(meth.starts), m
        assert (rows.chapter == meth.chapters).all() and (rows.param == meth.param).all() and (rows.label == meth.label).all()
        assert (rows.batch_size == meth.batch_size).all() and (rows.lr == meth.lr).all(), m
        for s, g in rows.groupby("start"):
            assert list(g.steps) == sorted(g.steps) and g.steps.iloc[0] == 0 and len(g) >= 4, (m, s)
            assert set(g.steps) == set(rows.steps), f"{m}: every start at the same budgets"
    outcomes = budget.read_outcomes()
    for r in table.itertuples():
        filled = curves.METHODS[r.method].measures
        assert all(0 <= getattr(r, c) <= 1 for c in filled), r  # every measure it fills, a rate
        assert all(pd.isna(getattr(r, c)) for c in budget.MEASURES if c not in filled), r
        assert all(budget.outcome_key(r.method, r.start, r.steps, r.seed, c) in outcomes for c in filled), r
    assert table.commit.str.len().ge(7).all()


def test_no_chapter_imports_the_training_recipes():
    """`curves` holds the recipes; the chapters read the stored rows through `budget`, so a new recipe
    restales no stored run (only the new rows restale the chapters that show them)."""
    from xalign_utils import closure
    from xalign_utils.layout import notebooks

    for stem in notebooks():
        assert "xalign_utils/curves.py" not in closure.chapter_modules(stem), stem


@pytest.mark.parametrize("method", ["infonce", "distill", "task_adapter", "afp"])
def test_a_stored_row_reproduces(method):
    """A stored 64-step run from the base (02/03's InfoNCE, 01's distillation, 03's task adapter, 06's AFP on
    the decoder), trained again here on as many threads as it was (another CPU rounds differently: the
    tolerance allows about 1 % of the outcomes to flip)."""
    import torch

    from xalign_utils.presets import get_preset

    table = budget.read_curves().set_index(["method", "start", "steps"])
    assert (method, "base", 64) in table.index, f"no stored row; python -m xalign_utils.curves --methods {method}"
    stored = table.loc[(method, "base", 64)]
    meth = curves.METHODS[method]
    threads = torch.get_num_threads()
    torch.set_num_threads(int(stored.threads))
    try:
        ctx = curves.CONTEXTS[meth.kind](list(get_preset("ci").langs))
        trained, _ = meth.fit(ctx["starts"]["base"], ctx, 64, 0)
        again, _ = meth.scores(ctx, trained)
    finally:
        torch.set_num_threads(threads)
    assert set(again) == set(meth.measures)
    for col, value in again.items():
        assert value == pytest.approx(getattr(stored, col), abs=0.01 if col == "weak_p1" else 0.02), col


def test_the_recipes_use_their_chapters_parameters():
    """Each recipe's batch size and learning rate are those of its chapter's parameters cell (a recipe that
    drifts from its chapter would time and pick budgets for another method)."""
    from xalign_utils.layout import notebook_parameters

    expected = {  # method: (chapter, batch-size parameter, learning-rate parameter)
        "tlm": ("01_parallel_data", "batch_size", "lr"), "distill": ("01_parallel_data", "batch_size", "lr"),
        "word_dict": ("01_parallel_data", "batch_size", "lr"), "word_induced": ("01_parallel_data", "batch_size", "lr"),
        "distill_teacher": ("01_parallel_data", "batch_size", "lr"), "infonce_01": ("01_parallel_data", "batch_size", "lr"),
        "infonce": ("02_contrastive", "batch_size", "lr"), "infonce_margin": ("02_contrastive", "batch_size", "lr"),
        "infonce_queue": ("02_contrastive", "batch_size", "lr"), "word_contrast": ("02_contrastive", "batch_size", "lr"),
        "simcse": ("02_contrastive", "batch_size", "lr"), "distill_lr1e-3": ("02_contrastive", "batch_size", "lr"),
        "lora_r1": ("03_adapters", "batch_size", "adapter_lr"), "lora_infonce": ("03_adapters", "batch_size", "adapter_lr"),
        "lora_r16": ("03_adapters", "batch_size", "adapter_lr"), "lang_adapters": ("03_adapters", "lang_batch", "adapter_lr"),
        "task_adapter": ("03_adapters", "task_batch", "adapter_lr"), "cs_mlm": ("04_augmentation", "mlm_batch", "lr"),
        "plain_mlm": ("04_augmentation", "mlm_batch", "lr"), "afp": ("06_generative", "batch_size", "lr"),
    }
    assert set(expected) == set(curves.METHODS)
    for m, (chapter, bs, lr) in expected.items():
        p = notebook_parameters(chapter)
        meth = curves.METHODS[m]
        assert chapter in meth.chapters.split() and meth.param in p, m
        assert (meth.batch_size, meth.lr) == (p[bs], p[lr]), m
    assert curves.METHODS["infonce"].lr == notebook_parameters("03_adapters")["lr"]  # 03's full fine-tuning


def test_a_chapters_curve_input_is_its_own_rows_and_its_upstreams(tmp_path, monkeypatch):
    """`build.budget_curves_digest` changes with the chapter's own rows or outcomes and not with another
    chapter's; 04, which re-runs 01's TLM at the steps 01's curves give it, also hashes 01's."""
    from xalign_utils import build

    whole, outcomes = stored_like(("infonce", "distill"))
    path = tmp_path / "c.csv"
    curves._write(whole, path)
    np.savez(budget.items_path(path), **outcomes)
    monkeypatch.setattr(budget, "CURVES", path)
    params = {"preset": "book", "langs": ["en", "de"]}
    first = {s: build.budget_curves_digest(s) for s in ("01_parallel_data", "02_contrastive")}
    assert all(first.values()) and build.budget_curves_digest("05_transformations") == ""
    changed = dict(outcomes)
    key = budget.outcome_key("distill", "base", 64, 0, "weak_p1")
    changed[key] = 1 - changed[key]
    np.savez(budget.items_path(path), **changed)
    assert build.budget_curves_digest("01_parallel_data") != first["01_parallel_data"]  # its own outcomes
    assert build.budget_curves_digest("02_contrastive") == first["02_contrastive"]  # another chapter's: no change
    assert build.input_components("04_augmentation", params)["01_parallel_data budget curves"] == \
        build.budget_curves_digest("01_parallel_data")


def test_a_run_killed_with_sigkill_resumes_at_the_row_where_it_stopped(tmp_path):
    """A real process, killed with SIGKILL while training its second run: the first row is stored
    whole, the file is never half-written, and the next run trains only what is missing."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    script = tmp_path / "curves.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        from xalign_utils import budget, curves

        import numpy as np

        class E:
            def __init__(self, x):
                self.x = x

            def summary(self):
                return {{"weak P@1": self.x, "apps accuracy": 0.5}}

            def outcome(self, name):
                return np.full((4, 2), self.x)

        class H:
            def measure(self, enc, pos=True, full=True):
                return E(enc["steps"] / 1000)

        def train(enc, ctx, steps, seed, batch_size, lr):
            open({str(tmp_path / "trained.log")!r}, "a").write(f"{{steps}}\\n")
            if steps == 16 and sys.argv[1] == "slow":
                time.sleep(60)  # killed here
            return {{"steps": steps}}, [1.0]

        curves.METHODS["stub"] = curves.Method("stub", "02_contrastive", "stub", 16, 1e-3, train)
        ctx = {{"starts": {{"base": {{"steps": 0}}}}, "harness": H()}}
        curves.run(["stub"], [4, 16], ["base"], path={str(tmp_path / "c.csv")!r}, ctx=ctx, progress=print)
    """))
    env = {**os.environ, "PYTHONPATH": str(budget.ROOT)}
    proc = subprocess.Popen([sys.executable, str(script), "slow"], env=env, stdout=subprocess.PIPE, text=True)
    log = tmp_path / "trained.log"
    deadline = time.time() + 120
    while not (log.exists() and log.read_text().split() == ["4", "16"]):
        assert time.time() < deadline and proc.poll() is None, "the run never reached its second budget"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = budget.read_curves(tmp_path / "c.csv")
    assert list(stored.steps) == [0, 4]  # what finished, whole
    subprocess.run([sys.executable, str(script), "fast"], env=env, check=True, capture_output=True)
    assert log.read_text().split() == ["4", "16", "16"]  # resumed at the killed run, nothing redone
    assert list(budget.read_curves(tmp_path / "c.csv").steps) == [0, 4, 16]


def test_a_chapter_trains_at_the_largest_book_budget_of_its_methods(tmp_path):
    # infonce climbs to 1024, simcse is flat after 64: chapter 02 (both) trains 1024 steps
    flat = (0.0, 0.3, 0.3, 0.3)
    a, oa = stored_like(("infonce",), means={"base": (0.0, 0.1, 0.2, 0.3), "random init": flat})
    b, ob = stored_like(("simcse",), means={"base": flat, "random init": flat})
    path = tmp_path / "curves.csv"
    curves._write(pd.concat([a, b]).reindex(columns=budget.COLUMNS), path)
    np.savez(budget.items_path(path), **oa, **ob)
    assert budget.chapter_steps("02_contrastive", path, resamples=1000) == {"steps": 1024}
    np.savez(budget.items_path(path), **ob)
    curves._write(b.reindex(columns=budget.COLUMNS), path)
    assert budget.chapter_steps("02_contrastive", path, resamples=1000) == {"steps": 64}  # simcse alone: flat after 64
    assert budget.chapter_steps("01_parallel_data", path) is None  # no rows stored for it: its own default
    with pytest.raises(ValueError, match="no budget curves stored for 01_parallel_data"):
        budget.of_chapter(budget.read_curves(path), "01_parallel_data")  # what the chapter's curve section reads
    assert budget.chapter_steps("05_transformations", path) is None  # no curves: its own default


def test_the_book_preset_passes_the_curves_budget_and_ci_keeps_the_notebooks_own(monkeypatch):
    from xalign_utils import build

    monkeypatch.setattr(budget, "chapter_steps", lambda stem: {"02_contrastive": {"steps": 1024},
                                                                "03_adapters": {"steps": 256, "lang_steps": 64}}.get(stem))
    assert build.preset_parameters("02_contrastive", "book")["steps"] == 1024
    three = build.preset_parameters("03_adapters", "book")
    assert (three["steps"], three["lang_steps"]) == (256, 64) and "task_steps" not in three
    assert "steps" not in build.preset_parameters("02_contrastive", "ci")
    assert "steps" not in build.preset_parameters("05_transformations", "book")  # no curves, no steps parameter


def test_the_stored_curves_give_the_book_budgets_of_their_chapters():
    table, outcomes = budget.read_curves(), budget.read_outcomes()
    for chapter in ("01_parallel_data", "02_contrastive", "03_adapters", "04_augmentation", "06_generative"):
        mine = budget.of_chapter(table, chapter)
        picks = budget.book_budgets(mine, outcomes, 1000)
        got = budget.chapter_steps(chapter, resamples=1000)
        assert set(got) == set(picks.param), chapter
        for param, steps in got.items():
            assert 0 < steps <= picks[picks.param == param]["book steps"].max()  # a pick, or capped below it
            assert steps in set(mine.steps), "a stored budget"


def cost_table():
    # two methods x starts timed at 5, 50, 500, 2500 s each: 3 seeds cost 60, 600, 6000, 30000 s per budget
    return pd.DataFrame([{"method": m, "start": s, "steps": b, "train_s": t, "param": p}
                         for m, p in (("m", "steps"), ("n", "lang_steps")) for s in budget.STARTS
                         for b, t in ((0, 0.0), (64, 5), (256, 50), (1024, 500), (4096, 2500))])


def test_the_book_budget_is_capped_at_what_three_seeds_can_afford():
    table = cost_table()
    one = table[table.method == "m"]
    assert list(budget.training_cost(one, 3)) == [30, 300, 3000, 15000]
    assert budget.affordable_steps(one, 3) == 1024  # 3,000 s fit 10,800; 15,000 do not
    assert budget.affordable_steps(one, 3, limit_s=1) == 64  # nothing fits: the smallest
    (steps, why), = budget.capped(one, {"steps": 4096}, 3).values()
    assert steps == 1024 and why.startswith("the curves ask for 4,096 steps; the chapter's training at its picks "
                                            "would take 4.2 h for 3 seeds")
    assert why.endswith("fits 3.0 h of one core (2 h on 2 cores) (0.8 h): the largest afforded, not a plateau")
    assert budget.capped(one, {"steps": 256}, 3)["steps"][0] == 256
    assert "read off the curves below (0.1 h" in budget.capped(one, {"steps": 256}, 3)["steps"][1]
    with pytest.raises(ValueError, match="seeds must be at least 1"):
        budget.training_cost(table, 0)


def test_a_budget_beyond_a_methods_curve_is_costed_by_its_steps():
    # "n" was measured up to 1,024 steps (500 s); at 4,096 it is counted 4 x 500 s, not 500 s
    table = cost_table()
    table = table[(table.method == "m") | (table.steps <= 1024)].assign(param="steps")
    assert budget._cost_at(table, {"steps": 4096}, 1) == 2 * 2500 + 2 * 4 * 500
    assert budget._cost_at(table, {"steps": 300}, 1) == 4 * 50  # between budgets: the stored one below


@pytest.mark.parametrize("seeds,cores,limit", [
    (3, 2, 7200 * 3 / 2),  # seeds 1 and 2 side by side, then seed 0: two rounds
    (1, 2, 7200), (2, 2, 7200), (3, 1, 7200), (5, 2, 7200 * 5 / 3),
])
def test_the_session_limit_counts_rounds_of_seeds(seeds, cores, limit):
    assert budget.session_limit(seeds, cores) == pytest.approx(limit)


def test_the_cap_counts_every_parameter_of_a_chapter():
    table = cost_table()
    # steps asks 4096 and lang_steps 256: 15,000 + 300 s do not fit; at a ceiling of 1024: 3,000 + 300 do
    got = budget.capped(table, {"steps": 4096, "lang_steps": 256}, 3)
    assert got["steps"][0] == 1024 and got["lang_steps"] == (256, "read off the curves below (256 steps)")
    # both at 1024: 6,000 s fit
    assert {p: v[0] for p, v in budget.capped(table, {"steps": 1024, "lang_steps": 1024}, 3).items()} == {
        "steps": 1024, "lang_steps": 1024}
    # nothing fits: the smallest stored budget, said so
    small = budget.capped(table, {"steps": 4096, "lang_steps": 4096}, 3, limit_s=10)
    assert small["steps"][0] == 64 and "the smallest measured, not a plateau" in small["steps"][1]
