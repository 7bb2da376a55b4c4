"""The kit of chapter 01_parallel_data (xalign_utils/kit/parallel.py) on small made-up inputs: the link
statistics, the tables, the figures, the sentences for every verdict and the names it glues and records."""
import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from _helpers import capture_glue  # noqa: E402

matplotlib.use("Agg")

from xalign_utils import record  # noqa: E402
from xalign_utils.harness import VariantEval, gain_table  # noqa: E402
from xalign_utils.kit import parallel as kit  # noqa: E402
from xalign_utils.metrics import Interval, Verdicts  # noqa: E402
from xalign_utils.transfer import TransferResult  # noqa: E402

NON_EN = ["de", "ru"]
N = 40


@pytest.fixture
def glued(monkeypatch, tmp_path):
    """Everything glued (name -> its text) and recorded (metrics.json in tmp_path)."""
    return capture_glue(monkeypatch, tmp_path)


def transfer(rng, p, cols=("en", *NON_EN)):
    items = pd.DataFrame({c: (rng.random(N) < p).astype(float) for c in cols})
    majority = pd.DataFrame({c: np.full(N, 0.25) for c in cols})
    return TransferResult(pd.DataFrame({"lang": list(cols)}), items, majority)


def fake_eval(name, p, seed, pos=True, full=True):
    rng = np.random.default_rng(seed)
    hits = {v: pd.DataFrame({c: (rng.random(N) < p).astype(float) for c in NON_EN})
            for v in ("cosine", "centred", "cosine layer 1")}
    return VariantEval(name, 2, hits, rng.random(N) * p if full else None, 0.5,
                       (rng.random(N) < 0.9).astype(float) if full else None, transfer(rng, p),
                       transfer(rng, p) if pos else None)


@pytest.fixture(scope="module")
def evals():
    names = ["base", *kit.METHOD_KEYS, kit.MLM_CONTROL, kit.SHUFFLED_CONTROL]
    out = {n: fake_eval(n, 0.1 + 0.1 * i, i) for i, n in enumerate(names)}
    out["random init"] = fake_eval("random init", 0.3, 10, pos=False)
    for i, m in enumerate(kit.METHOD_KEYS):
        out[m + kit.RI] = fake_eval(m + kit.RI, 0.3, 11 + i, pos=False)
    return out


def test_link_stats_counts_links_identical_strings_and_dictionary_agreement():
    linked = [(["the", "house", "OK"], ["das", "Haus", "ok"], [(1, 1), (2, 2)]),
              (["a", "cat"], ["eine", "Katze"], [(0, 1)]),
              (["Moscow"], ["Москва"], [(0, 0)])]
    stats = kit.link_stats(linked, ["de", "de", "ru"], {"de": {"house": {"haus"}, "a": {"ein"}}}, NON_EN)
    assert list(stats.index) == NON_EN
    assert stats.loc["de", "links per pair"] == 1.5
    assert stats.loc["de", "identical strings"] == pytest.approx(1 / 3)  # OK→ok
    assert stats.loc["de", "checkable links"] == 2 and stats.loc["de", "dictionary agreement"] == 0.5
    assert np.isnan(stats.loc["ru", "dictionary agreement"])  # no dictionary: nothing to check


def test_link_table_glue_and_examples(glued):
    pairs = [("de", "e1", "d1"), ("ru", "e1", "r1"), ("de", "e2", "d2"), ("ru", "e2", "r2")]
    one = (["a", "b", "c", "d", "e"], ["v", "w", "x", "y", "z"], [(0, 0)])
    four = (["a", "b", "c", "d", "e"], ["v", "w", "x", "y", "z"], [(i, i) for i in range(4)])
    links = {"dictionary": [one] * 4, "induced (base)": [one, one, four, one], "induced (random init)": [four] * 4}
    table = kit.link_table(links, pairs, {"de": {"a": {"v"}}}, NON_EN)
    assert list(table.columns.levels[0]) == sorted(links)
    assert table["induced (random init)"].loc["ru", "links per pair"] == 4
    kit.glue_links(table, {"de": {"a": {"v"}}}, NON_EN)
    assert glued["links_base"] == "1.8" and glued["links_control"] == "4.0" and glued["links_dictionary"] == "1.0"
    assert glued["links_identical_base"] == "0.00" and glued["links_precision_base"] == "1.00"
    assert glued["dict_links_latin"] == "1.00" and glued["dict_links_other"] == "1.00"
    assert glued["no_dictionary"] == "no dictionary for Russian"
    examples = kit.link_examples(links["induced (base)"], pairs, NON_EN)
    assert list(examples.index) == NON_EN  # Russian has no pair with four links: its row says so
    assert examples.loc["de", "links (English → target)"] == "a→v, b→w, c→x, d→y"
    assert examples.loc["ru", "links (English → target)"] == "none"
    assert examples.loc["ru", "English"] == "none (no pair with 4 or more links)"
    assert list(kit.link_examples(links["induced (base)"], pairs, NON_EN, min_links=1).loc["ru"]) == [
        "a b c d e", "a→v"]


def test_setup_glue(glued):
    class H:
        n_items, n_fit, pos_train, pos_test = 409, 100, 150, 60
        apps_task = {"train_texts": ["x"] * 500}

    kit.glue_setup(H, 515, 2575, 50, 16, 5e-4, 2, 1, 1e-3)
    assert glued["lr"] == "0.0005" and glued["lr_ratio"] == "0.5" and glued["apps_train"] == "500"
    assert {"n_par", "n_pairs", "n_items", "steps", "batch_size", "layer", "best_layer", "n_fit", "pos_train",
            "pos_test"} <= set(glued)


def test_fig_curves_one_panel_per_family_dotted_from_random_init():
    curves = {n: np.linspace(3, 1, 5) for n in ["TLM", kit.MLM_CONTROL, "TLM" + kit.RI, "distillation"]}
    fig = kit.fig_curves(curves, 5)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["TLM and its control", "word-level alignment", "distillation and its control"]
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["TLM", "TLM (random init)", "MLM on the same text"]
    assert fig.axes[0].lines[1].get_linestyle() == ":" and fig.axes[0].get_ylabel() == "training loss"


def test_summary_table_records_and_references(evals, glued, tmp_path):
    chance = {"weak P@1": 0.01, "strong mAP": 0.005, "LID probe": 1 / 3, "apps accuracy": 0.125, "other": 1.0}
    lexical = {"weak P@1": 0.2, "strong mAP": 0.04, "apps accuracy": 0.22}
    table = kit.summary_table(evals, chance, lexical)
    assert list(table.index)[-3:] == ["chance", "majority class / tag", "TF-IDF (no model)"]
    assert "other" not in table.columns and table.loc["majority class / tag", "POS accuracy"] == 0.25
    assert np.isnan(table.loc["random init", "POS accuracy"])
    kit.record_summary(evals)
    recorded = json.loads((tmp_path / "metrics.json").read_text())
    assert "tlm_weak_p1" in recorded and "control_weak_p1" in recorded and "control_pos" not in recorded
    assert recorded["distill_ri_lid"]["value"] == pytest.approx(table.loc["distillation" + kit.RI, "LID probe"])
    kit.glue_references(table, lexical)
    assert glued["chance_p1"] == "0.0100" and glued["lexical_apps"] == "0.220" and glued["pos_majority"] == "0.250"
    assert glued["apps_majority"] == "0.250"


def test_pos_majority_is_glued_as_n_a_when_the_base_model_has_no_pos(evals, glued):
    chance = {"weak P@1": 0.01, "strong mAP": 0.005, "apps accuracy": 0.125}
    lexical = {"weak P@1": 0.2, "strong mAP": 0.04, "apps accuracy": 0.22}
    no_pos = {"base": fake_eval("base", 0.1, 0, pos=False), "TLM": fake_eval("TLM", 0.2, 1, pos=False)}
    table = kit.summary_table(no_pos, chance, lexical)
    assert "POS accuracy" not in table.loc["majority class / tag"].dropna().index
    kit.glue_references(table, lexical)
    assert glued["pos_majority"] == "n/a" and glued["apps_majority"] == "0.250"


def test_gain_verdicts_and_glue_of_the_gains(evals, glued):
    measures = ["weak P@1", "weak P@1 centred", "strong mAP", "LID probe", "apps accuracy", "POS accuracy"]
    base = {n: v for n, v in evals.items() if kit.RI not in n and n != "random init"}
    gains = gain_table(base, "base", measures + ["weak P@1, layer 1"], 200, 0, {"LID probe": False})
    ri = {n: v for n, v in evals.items() if kit.RI in n or n == "random init"}
    gains_ri = gain_table(ri, "random init", measures[:5], 200, 0, {"LID probe": False})
    verdicts = Verdicts().extend_gains(gains)
    assert len(verdicts) == 6 * 7 and set(verdicts) <= {"better", "worse", "inconclusive"}
    kit.glue_gains(gains, gains_ri, list(kit.METHOD_KEYS), 1)
    for key in kit.METHOD_KEYS.values():
        for m in ("p1", "map", "apps", "pos", "p1c", "p1best", "lid"):
            assert f"iv_{key}_{m}" in glued and f"verdict_{key}_{m}" in glued
        assert glued[f"iv_{key}_ri_p1"].startswith(("+", "-"))
    lid = gains.loc["distillation", "LID probe: verdict"]
    assert glued["verdict_distill_lid"] == {"better": "lowers", "worse": "raises"}.get(lid, "does not measurably change")


def test_pairing_table_one_row_per_method():
    iv = Interval(0.01, -0.01, 0.03, 10, 100, 0, 0.95)
    table = kit.pairing_table({("TLM", "weak P@1"): (iv, "inconclusive"), ("TLM", "strong mAP"): (iv, "better"),
                               ("distillation", "weak P@1"): (iv, "worse")})
    assert list(table.index) == ["TLM − its control", "distillation − its control"]
    assert table.loc["TLM − its control", "strong mAP"] == f"{iv} better"


@pytest.mark.parametrize("base, above, starts", [
    ("worse", ["distillation"], "At this layer monolingual pretraining left the base model less aligned"),
    ("inconclusive", [], "The gains over the base model are gains over a model that is not below"),
])
def test_repair_sentence(base, above, starts):
    methods = ["TLM", "distillation"]
    level = {"base": (None, base), **{m: (None, "better" if m in above else "worse") for m in methods}}
    text = kit.repair_sentence(level, methods)
    assert text.startswith(starts)
    if base == "worse":
        assert text.endswith("distillation ends above the untrained control.")
        level["distillation"] = (None, "inconclusive")
        assert kit.repair_sentence(level, methods).endswith("no method ends above the untrained control.")


@pytest.mark.parametrize("gain, pairing, starts", [
    ("better", "better", "TLM's gain survives"), ("better", "inconclusive", "At 50 steps of a 2-layer model"),
    ("worse", "inconclusive", "TLM lowers retrieval"), ("inconclusive", "better", "At 50 steps"),
])
def test_tlm_sentence_for_every_verdict(gain, pairing, starts):
    assert kit.tlm_sentence(gain, pairing, 50, 2).startswith(starts)


def test_glue_of_starts_groups_pairing_lexical_and_status(evals, glued):
    iv = Interval(0.02, 0.01, 0.03, 10, 100, 0, 0.95)
    methods = list(kit.METHOD_KEYS)
    level = {m: (iv, "better") for m in ["base", *methods]}
    kit.glue_starts(level, {m: (iv, "inconclusive") for m in methods}, methods)
    assert glued["verdict_level_base"] == "above" and glued["iv_level_tlm"] == str(iv)
    assert glued["verdict_ends_distill"] == "not distinguishable between the two starting points"
    kit.glue_groups({"TLM": (iv, "worse")}, methods)
    assert glued["verdict_group_tlm"] == "larger for the other scripts" and glued["iv_group_distill"] == "n/a"
    measures = ["weak P@1", "weak P@1 centred", "strong mAP", "LID probe", "apps accuracy", "POS accuracy"]
    base = {n: v for n, v in evals.items() if kit.RI not in n and n != "random init"}
    gains = gain_table(base, "base", measures, 200, 0, {"LID probe": False})
    pairing = {(m, c): (iv, "better") for m in ("TLM", "distillation") for c, _ in kit.PAIRING_KEYS}
    kit.glue_pairing(pairing, gains, 50, 2)
    assert glued["verdict_pairing_tlm_pos"] == "above"
    assert glued["iv_mlm_p1"] == gains.loc[kit.MLM_CONTROL, "weak P@1 Δ"]
    assert glued["iv_shuffled_pos"] == gains.loc[kit.SHUFFLED_CONTROL, "POS accuracy Δ"]
    kit.glue_lexical("distillation", (iv, "worse"))
    assert glued["tfidf_sentence"] == f"distillation − TF-IDF: {iv}; every trained model is below the lexical control"
    kit.glue_status(gains, pairing, methods, ["TLM", "distillation"], 50)
    assert glued["status_finding_parallel"].endswith("(one seed, 50 steps)")
    helped = [m for m in methods if gains.loc[m, "weak P@1: verdict"] == "better"]
    assert glued["helped"] == (", ".join(helped) or "none of the four methods")


def test_per_language_intervals_table_and_figure(evals):
    methods = list(kit.METHOD_KEYS)
    ivs = kit.per_language_intervals(evals, methods, 200, 0)
    assert list(ivs) == methods and list(ivs["TLM"]) == NON_EN
    table = kit.per_language_table(evals, ivs)
    assert list(table.columns) == ["de (Latin)", "ru (Cyrillic)"]
    assert table.loc["TLM", "de (Latin)"].endswith(f"({ivs['TLM']['de']})")
    fig = kit.fig_langs(ivs)
    ax = fig.axes[0]
    assert len(ax.patches) == len(methods) * len(NON_EN)
    assert [t.get_text() for t in ax.get_xticklabels()][1] == "word align.\n(dictionary)"
    assert ax.patches[0].get_height() == pytest.approx(ivs["TLM"]["de"].diff)


def test_sweep_table_values_sentence_records_and_figure(evals, glued, tmp_path):
    sweep = {("tlm", 8): fake_eval("tlm-n8", 0.2, 30, full=False), ("tlm", 100): evals["TLM"],
             ("distill", 8): fake_eval("distill-n8", 0.3, 31, full=False), ("distill", 100): evals["distillation"]}
    table = kit.sweep_table(sweep, evals["base"], 200, 0)
    assert len(table) == 8 and set(table.method) == {"TLM", "distillation"}
    assert (table.low <= table.gain).all() and (table.gain <= table.high).all()
    values = kit.sweep_values(table)
    assert list(values.columns) == ["apps accuracy", "weak P@1"] and len(values) == 4
    kit.record_sweep(sweep, [8])
    assert set(json.loads((tmp_path / "metrics.json").read_text())) == {"tlm_n8_weak_p1", "distill_n8_weak_p1"}
    iv = Interval(-0.01, -0.02, 0.0, 10, 100, 0, 0.95)
    text = kit.sweep_sentence({("tlm", 8): 0.1234}, {("tlm", 8): (iv, "worse")}, 100)
    assert text == f"TLM on 8 paragraphs 0.123 (− all 100: {iv}, lower)"
    kit.glue_sweep(sweep, {("tlm", 8): (iv, "inconclusive"), ("distill", 8): (iv, "better")}, 100)
    assert glued["sweep_sentence"].count("; ") == 1 and "distillation on 8 paragraphs" in glued["sweep_sentence"]
    assert glued["sweep_sizes"] == "8"  # the smaller sizes compared with the full split ("32 or 128" in 01)
    fig = kit.fig_sweep(table)
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel().startswith("apps accuracy gain")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["8", "100"]
    assert kit.glue_shown({"TLM": {"de": iv, "ru": iv}}, table) == 4 + 8
    assert glued["n_shown"] == "12" and "n_verdicts" not in glued  # counted by Verdicts.glue_count


def test_variant_results_names_families_and_order(evals):
    sweep = {("tlm", 8): evals["TLM"], ("tlm", 100): evals["TLM"]}
    rows = kit.variant_results(evals, sweep, 100, 3)
    calls = [(r["variant"], r["family"], r.get("n")) for r in rows]
    assert calls[:2] == [("base", "base", None), ("random-init-3", "control", None)]
    assert ("mlm-unpaired", "parallel", None) in calls and ("random-init+distill", "control", None) in calls
    assert calls[-1] == ("tlm-n8", "parallel", 8) and len(calls) == len(evals) + 1
    assert all(r["seed"] == 3 for r in rows) and rows[0]["table"] is evals["base"]
    assert rows[-1]["table"] is evals["TLM"]


# ---------------------------------------------------------------- a real teacher

TEACHER = "me5-small"


@pytest.fixture(scope="module")
def every(evals):
    out = dict(evals)
    for i, name in enumerate((kit.teacher_label(TEACHER), kit.INFONCE)):
        out[name] = fake_eval(name, 0.5, 40 + i, pos=False, full=False)
        out[name + kit.RI] = fake_eval(name + kit.RI, 0.4, 50 + i, pos=False, full=False)
    return out


def versus_of(every, verdicts=None):
    metrics = Verdicts(200, 0)
    out = {k: metrics.compare(every[a].outcome(k[1]), every[b].outcome(k[1]))
           for k, (a, b) in kit.teacher_contrasts(TEACHER).items()}
    return {k: (iv, (verdicts or {}).get(k, v)) for k, (iv, v) in out.items()}


def test_teacher_contrasts_cover_both_starts_and_skip_the_ends_read_above():
    contrasts = kit.teacher_contrasts(TEACHER)
    assert len(contrasts) == 7 * 2 - 1 and kit.SELF_ENDS not in contrasts
    t = "distillation from me5-small"
    assert contrasts[("real teacher − self-distillation, from random init", "weak P@1")] == (
        t + kit.RI, "distillation" + kit.RI)
    assert contrasts[("InfoNCE: from base − from random init", "apps accuracy")] == ("InfoNCE", "InfoNCE" + kit.RI)
    assert {label for label, _ in contrasts} == set(kit.CONTRAST_KEYS)
    assert kit.teacher_contrasts("") == {} and kit.teacher_variants("") == []


def test_teacher_table_rows_and_references(every):
    table = kit.teacher_table(every, TEACHER, {"weak P@1": 0.01, "apps accuracy": 0.25, "strong mAP": 0.1},
                              {"weak P@1": 0.2, "apps accuracy": 0.3, "strong mAP": 0.1})
    assert list(table.columns) == list(kit.TEACHER_MEASURES)
    assert list(table.index) == ["base", "random init", *kit.teacher_variants(TEACHER), "chance",
                                 kit.common.MAJORITY, kit.common.TFIDF]
    assert table.loc["InfoNCE" + kit.RI, "weak P@1"] == every["InfoNCE" + kit.RI].summary()["weak P@1"]
    assert table.loc["chance", "weak P@1"] == 0.01 and table.loc[kit.common.TFIDF, "apps accuracy"] == 0.3
    assert "skipped" in kit.teacher_table(every, "", {}, {}).columns


def test_versus_table_fills_the_self_ends_from_above(every):
    versus = versus_of(every)
    iv = Interval(0.01, 0.0, 0.02, 10, 100, 0, 0.95)
    table = kit.versus_table(versus, {"distillation": (iv, "better")})
    assert list(table.index) == list(kit.CONTRAST_KEYS) and list(table.columns) == list(kit.TEACHER_MEASURES)
    assert table.loc["self-distillation: from base − from random init", "weak P@1"] == f"{iv} better"
    assert "skipped" in kit.versus_table({}, {}).columns


@pytest.mark.parametrize("base", ["better", "worse", "inconclusive"])
@pytest.mark.parametrize("ri", ["better", "worse", "inconclusive"])
@pytest.mark.parametrize("nce", ["better", "worse", "inconclusive"])
def test_teacher_sentence_for_every_verdict(base, ri, nce):
    text = kit.teacher_sentence({"teacher_self": base, "teacher_self_ri": ri, "teacher_infonce": nce}, TEACHER)
    assert text.startswith("Distilling me5-small") and text.endswith(".") and "  " not in text
    assert ("from random weights it also does better" in text) == (ri == "better")
    assert "carries alignment" not in text  # whether it does is the fit's conclusion (fit_conclusion)
    assert ("beats InfoNCE" in text) == (nce == "better")
    with pytest.raises(ValueError, match="unknown verdict"):
        kit.teacher_sentence({"teacher_self": "maybe", "teacher_self_ri": ri, "teacher_infonce": nce}, TEACHER)


def test_glue_teacher_records_and_results(every, glued, tmp_path):
    iv = Interval(0.01, 0.0, 0.02, 10, 100, 0, 0.95)
    versus = versus_of(every, {("real teacher − self-distillation, from random init", "weak P@1"): "better"})
    kit.glue_teacher(versus, {"distillation": (iv, "worse")}, every, TEACHER)
    assert glued["teacher"] == TEACHER and glued["verdict_ends_self_p1"] == "below" and glued["iv_ends_self_p1"] == str(iv)
    assert glued["verdict_teacher_self_ri_p1"] == "above"
    assert glued["tv_infonce_ri_p1"] == f"{every['InfoNCE' + kit.RI].summary()['weak P@1']:.3f}"
    assert "from random weights it also does better" in glued["teacher_sentence"]
    want = {f"{p}_{k}_{m}" for p in ("iv", "verdict") for k in kit.CONTRAST_KEYS.values() for m in ("p1", "apps")}
    assert want <= set(glued)
    names = kit.record_teacher(every, TEACHER)
    assert names == [f"{v}_{m}" for v in ("distill_teacher", "distill_teacher_ri", "infonce", "infonce_ri")
                     for m in ("weak_p1", "apps")]
    assert set(json.loads((tmp_path / "metrics.json").read_text())) == set(names)
    rows = kit.teacher_results(every, TEACHER, 3)
    assert [(r["variant"], r["family"], r["seed"]) for r in rows] == [
        ("distill-teacher-me5", "parallel", 3), ("random-init+distill-teacher-me5", "control", 3),
        ("infonce-01", "contrastive", 3), ("random-init+infonce-01", "control", 3)]
    assert rows[1]["table"] is every["distillation from me5-small" + kit.RI]


def test_glue_teacher_when_skipped(glued):
    kit.glue_teacher({}, {}, {}, "")
    assert glued["teacher"] == "n/a" and glued["iv_teacher_self_p1"] == "n/a" and glued["tv_self_ri_apps"] == "n/a"
    assert "skipped" in glued["teacher_sentence"]
    assert kit.record_teacher({}, "") == [] and kit.teacher_results({}, "", 0) == []


def test_teacher_fit_by_hand_and_its_sentence(glued):
    t = kit.teacher_label(TEACHER)
    curves = {t: [5.0, 4.0, 3.0, 1.0, 2.0], t + kit.RI: [9.0, 9.0, 9.0, 3.0, 5.0]}
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    f = kit.teacher_fit(curves, TEACHER, x, tail=2)
    # cosines: (0 + 1/√2 + 1/√2) x 2 over 6 ordered pairs; the mean row (2/3, 2/3): squared deviations
    # (1/9 + 4/9) + (4/9 + 1/9) + (1/9 + 1/9) = 12/9 over 6 entries, twice
    assert f["cosine"] == pytest.approx(2 * 2 ** -0.5 / 3) and f["floor"] == pytest.approx(2 * 12 / 9 / 6)
    assert f["end"] == 1.5 and f["end_ri"] == 4.0
    with pytest.raises(ValueError, match="needs widths="):
        kit.glue_teacher_fit(curves, TEACHER, x, tail=2)
    kit.glue_teacher_fit(curves, TEACHER, x, (128, 384), tail=2)
    assert glued["student_width"] == "128" and glued["teacher_width"] == "384"
    assert "ends at 1.500 from the base model and 4.000 from random init (mean of the last 2 steps). " \
        in glued["teacher_fit_sentence"]
    assert glued["teacher_fit_sentence"].endswith(kit.fit_conclusion(kit.teacher_fit(curves, TEACHER, x, tail=2)))
    kit.glue_teacher_fit({}, "", None)
    assert "skipped" in glued["teacher_fit_sentence"] and glued["teacher_width"] == "n/a"
    with pytest.raises(ValueError, match="at least two target rows"):
        kit.teacher_fit(curves, TEACHER, x[:1])


def test_fit_conclusion_answers_only_when_a_student_beat_the_mean():
    assert kit.fit_conclusion({"floor": 0.36, "end": 0.38, "end_ri": 0.37}).startswith("Neither student")
    assert "does not answer" in kit.fit_conclusion({"floor": 0.36, "end": 0.38, "end_ri": 0.37})
    assert kit.fit_conclusion({"floor": 0.36, "end": 0.30, "end_ri": 0.37}).startswith("Only the student from the base")
    assert kit.fit_conclusion({"floor": 0.36, "end": 0.30, "end_ri": 0.20}).startswith("Both students")
