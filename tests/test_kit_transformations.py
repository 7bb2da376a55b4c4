"""The kit of notebook 05_transformations (xalign_utils.kit.transformations) on small made-up inputs:
its tables, figures, glue names and sentences, and the order of its comparisons."""
import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from xalign_utils import metrics, record
from xalign_utils.kit import transformations as kit

MEASURES = ["weak P@1", "strong mAP", "strong P@1", "same-language bias", "LID probe"]


@pytest.fixture
def glued(monkeypatch, tmp_path):
    """Everything glued (name -> text or value) and recorded (metrics.json in tmp_path)."""
    out = {}
    monkeypatch.setenv("XALIGN_METRICS_PATH", str(tmp_path / "metrics.json"))
    monkeypatch.setenv("XALIGN_RESULTS_PATH", str(tmp_path / "results.csv"))
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display=True: out.__setitem__(name, repr(value)))
    return out


def iv(mean, low, high):
    return metrics.Interval(mean, low, high, 10, 100, 0, 0.95)


def made_up_results():
    rows = {}
    for m, base in (("base", 0.1), ("random init", 0.05)):
        for i, t in enumerate(kit.KEYS):
            rows[(m, t)] = dict(zip(MEASURES, [base + i / 100, base + i / 50, 0.3, 0.9 - i / 20, 0.99 - i / 10]))
    return kit.results_table(rows)


def made_up_verdicts(centring=("better", "better", "better", "worse", "better")):
    measures = ["weak", "strong", "strong (random init)", "LID", "gain vs random init"]
    out = {}
    for t in list(kit.KEYS)[1:]:
        vs = centring if t == "centring" else ("inconclusive",) * 5
        out[t] = {m: (iv(0.02, 0.01, 0.03) if v == "better" else iv(-0.02, -0.03, -0.01) if v == "worse"
                      else iv(0.0, -0.01, 0.01), v) for m, v in zip(measures, vs)}
    return out


def test_results_table_is_indexed_by_model_and_transform():
    results = made_up_results()
    assert results.index.names == ["model", "transform"]
    assert list(results.columns) == MEASURES
    assert list(results.loc["base"].index) == list(kit.KEYS)
    assert results.loc[("random init", "none"), "weak P@1"] == pytest.approx(0.05)


def test_outcome_keeps_per_item_outcomes_and_the_means():
    hits = pd.DataFrame({"de": [1.0, 0.0], "ru": [0.5, 0.5]})
    strong = {"ap_per_item": np.array([0.2, 0.4]), "map": 0.3, "p_at_1": 0.25, "same_language_bias": 0.8}
    items, row = kit.outcome({"en": np.zeros((2, 3))}, hits, strong, 0.9, np.array([1.0, 0.8]))
    assert set(items) == {"hits", "ap", "lid", "embs"}
    assert row == {"weak P@1": 0.5, "strong mAP": 0.3, "strong P@1": 0.25, "same-language bias": 0.8,
                   "LID probe": 0.9}


def test_lid_against_a_chance_array_is_the_old_interval_against_chance():
    # the chapter compares the per-item LID probe with a constant chance array (one `compare`, counted by
    # `Verdicts.glue_count`); it is the interval of (outcome - chance) it read before, to the last digit
    lid = np.random.default_rng(0).random(300)
    comparisons = metrics.Verdicts(500, 0)
    got = comparisons.compare(lid, np.full(len(lid), 1 / 6))
    old = metrics.mean_interval(lid - 1 / 6, 500, 0)
    assert got == (old, metrics.verdict(old)) and got[1] == "better"
    assert list(comparisons) == ["better"]


def test_verdict_frame_has_an_interval_and_a_verdict_per_measure():
    table = kit.verdict_frame(made_up_verdicts())
    assert list(table.index) == list(kit.KEYS)[1:]
    assert list(table.columns) == ["weak P@1 Δ", "weak", "strong mAP Δ", "strong", "strong mAP Δ on random init",
                                   "strong (random init)", "base gain − random-init gain", "gain vs random init",
                                   "LID probe Δ", "LID"]
    assert table.loc["centring", "LID"] == "worse"
    assert table.loc["centring", "weak P@1 Δ"] == str(iv(0.02, 0.01, 0.03))


def test_chance_row_of_a_mixed_pool():
    row = kit.chance_row(10, 4)
    assert row["weak P@1"] == 0.1 and row["LID probe"] == 0.25
    assert row["strong P@1"] == pytest.approx(3 / 39) and row["same-language bias"] == pytest.approx(9 / 39)
    assert "strong P@1" not in kit.chance_row(10, 4, strong_p1=False)


def test_record_transforms_records_every_key_and_glues_intervals(glued, tmp_path):
    results = made_up_results()
    controls = pd.DataFrame({"chance": kit.chance_row(400, 6), "TF-IDF (no model)": kit.chance_row(5, 6)}).T
    kit.record_transforms(results, made_up_verdicts(), controls, lir_rank=2, lsar_rank=5, n_outliers=3)
    stored = pd.read_json(tmp_path / "metrics.json")
    for key in kit.KEYS.values():
        for m in ("weak_p1", "strong_map", "lid"):
            assert f"{key}_{m}" in stored
        assert f"control_{key}_strong_map" in stored
        if key != "none":
            assert glued[f"iv_strong_{key}"] == str(iv(0.0, -0.01, 0.01)) or key == "centring"
    assert glued["iv_weak_centring"] == str(iv(0.02, 0.01, 0.03))
    assert "iv_strong_none" not in glued
    assert (glued["lir_rank"], glued["lsar_rank"], glued["n_outliers"]) == ("2", "5", "3")
    assert glued["chance_weak"] == "0.0025" and glued["lexical_weak_p1"] == "0.200"
    assert stored["none_bias"]["value"] == pytest.approx(0.9)


@pytest.mark.parametrize("weak, strong, expected", [
    ("better", "better", "reproduced"),
    ("worse", "better", "partly reproduced (strong alignment; weak retrieval lower)"),
    ("inconclusive", "better", "partly reproduced (strong alignment; weak retrieval not measurably changed)"),
    ("better", "worse", "not reproduced"),
    ("better", "inconclusive", "inconclusive"),
])
def test_centring_status_for_every_verdict(weak, strong, expected):
    assert kit.centring_status(weak, strong) == expected


@pytest.mark.parametrize("strong, sentence", [("better", "reproduced"), ("worse", "contradicted"),
                                              ("inconclusive", "not reproduced (inconclusive)")])
def test_glue_findings_sentences(glued, strong, sentence):
    verdicts = made_up_verdicts(("inconclusive", strong, "better", "worse", "inconclusive"))
    kit.glue_findings(verdicts, made_up_results(), (iv(0.7, 0.6, 0.8), "better"), n_langs=6)
    assert glued["verdict_strong"] == sentence
    assert glued["lid_chance"] == "0.167"
    assert "n_verdicts" not in glued and "n_spurious" not in glued  # Verdicts.glue_count glues them
    assert glued["verdict_weak_centring"] == "does not measurably change"
    assert glued["verdict_strong_control"] == "raises"
    assert glued["verdict_gain_vs_control"] == "not distinguishable from the gain on the random-init control"
    assert glued["iv_gain_vs_control"] == str(iv(0.0, -0.01, 0.01))
    assert glued["verdict_lid"] == ("lowers the probe's accuracy (Δ " + str(iv(-0.02, -0.03, -0.01)) + "), which "
                                    "stays above chance: the language signal is not only in the mean")
    assert glued["verdict_lir"] == "does not measurably change"
    assert glued["status_finding4"].startswith(kit.centring_status("inconclusive", strong) + ": centring, weak P@1 Δ")
    assert "LIR 0.160, LSAR 0.180" in glued["status_finding4"]


@pytest.mark.parametrize("lid_verdict, end", [("inconclusive", "cannot be distinguished from chance"),
                                              ("worse", "falls below chance")])
def test_lid_against_chance_is_said_so(glued, lid_verdict, end):
    kit.glue_findings(made_up_verdicts(), made_up_results(), (iv(0.0, -0.1, 0.1), lid_verdict), n_langs=6)
    assert glued["verdict_lid"].endswith(end)


def test_the_chapters_verdict_count_is_glued_by_verdicts(glued):
    comparisons = metrics.Verdicts(100, 0)
    for shift in (0.5, -0.5, 0.0):
        comparisons.compare(np.linspace(0, 1, 40) + shift, np.linspace(0, 1, 40))
    assert list(comparisons) == ["better", "worse", "inconclusive"]
    assert comparisons.glue_count(extra=17) == 20
    assert (glued["n_verdicts"], glued["n_spurious"]) == ("20", "1.0")


def test_reference_table_rows_and_columns(monkeypatch):
    monkeypatch.setattr(metrics, "language_id_probe", lambda embs, seed: 0.5)  # the probe's cost is not tested here
    means = {("me5", t): dict(zip(MEASURES, [0.9, 0.5, 0.4, 0.8, 0.99])) for t in ("none", "centring")}
    means[("base", "LIR")] = dict(zip(MEASURES, [0.0] * 5))
    rng = np.random.default_rng(0)
    lex = {lang: rng.random((12, 8)) for lang in ("en", "de", "ru")}
    table = kit.reference_table(means, "me5", {"centring": (iv(0.2, 0.1, 0.3), "better")}, lex, [0, 2, 4, 6, 8], 3,
                                0)
    assert list(table.index) == ["none", "centring", "TF-IDF (no model)", "chance"]
    assert list(table.columns) == ["weak P@1", "strong mAP", "same-language bias", "LID probe", "strong mAP Δ"]
    assert table.loc["chance", "weak P@1"] == pytest.approx(1 / 5)
    assert table.loc["centring", "strong mAP Δ"] == str(iv(0.2, 0.1, 0.3))
    assert pd.isna(table.loc["none", "strong mAP Δ"])


def test_record_reference_and_its_absence(glued, tmp_path):
    table = pd.DataFrame({"none": {"weak P@1": 0.9, "strong mAP": 0.5, "LID probe": 0.99, "strong mAP Δ": None},
                          "centring": {"weak P@1": 0.9, "strong mAP": 0.8, "LID probe": 0.8, "strong mAP Δ": "+0.3"}}).T
    kit.record_reference(table, {"centring": (iv(0.3, 0.2, 0.4), "better"), "LIR": (iv(0, -1, 1), "inconclusive")},
                         100, 50, 12, "it is run here")
    assert (glued["ref_helped"], glued["ref_hurt"], glued["ref_layer"]) == ("centring", "none", "12")
    assert glued["iv_ref_strong_centring"] == "+0.3"
    stored = pd.read_json(tmp_path / "metrics.json")
    assert {"ref_none_strong_map", "ref_centring_lid", "ref_none_weak_p1"} <= set(stored)
    glued.clear()
    kit.glue_no_reference()
    assert set(glued) == set(kit.NO_REFERENCE) and set(glued.values()) == {"n/a"}


def test_full_rank_and_the_whitening_note():
    fits = {"en": np.zeros((50, 4)), "de": np.zeros((3, 4))}
    assert not kit.full_rank(fits, 4) and kit.full_rank({"en": np.zeros((5, 4))}, 4)
    assert kit.whitening_note(fits, 4) == "3 paragraphs for 4 dimensions: left out"
    assert kit.whitening_note({"en": np.zeros((5, 4))}, 4) == "it is run here"


def test_unique_pairs_use_each_word_once():
    pairs = [("house", "Haus"), ("home", "Haus"), ("house", "Heim"), ("cat", "Katze"), ("dog", "dog"),
             ("tree", "Baum")]
    assert kit.unique_pairs(pairs, {"house", "home", "cat", "dog", "tree"}, {"Haus", "Heim", "Katze", "dog"}) == [
        ("house", "Haus"), ("cat", "Katze")]


def test_word_row_and_record_words(glued, tmp_path):
    assert kit.word_row("de", 1500, 500) == {"lang": "de", "train pairs": 1000, "test pairs": 500, "chance": 0.002}
    words = pd.DataFrame({"base: no map": [0.1, 0.3], "base: Procrustes": [0.2, 0.4],
                          "random init: Procrustes": [0.0, 0.1]}, index=pd.Index(["de", "ru"], name="lang"))
    kit.record_words(words)
    assert glued["word_langs"] == "de, ru"
    assert pd.read_json(tmp_path / "metrics.json")["word_procrustes_p1"]["value"] == pytest.approx(0.3)


def test_hits_tables_keep_the_languages_every_model_has_a_map_for(monkeypatch):
    monkeypatch.setattr(kit, "unmapped_hits", lambda embs, lang: np.full(2, embs[lang]))
    mapped = {("a", "de"): np.ones(2), ("b", "de"): np.zeros(2), ("a", "ru"): np.ones(2)}
    evals = {"a": {"de": 0.5, "ru": 0.5}, "b": {"de": 0.25, "ru": 0.25}}
    h = kit.hits_tables(mapped, evals, ["a", "b"], ["de", "ru"])
    assert set(h) == {("a", "map"), ("a", "none"), ("b", "map"), ("b", "none")}
    assert list(h["a", "map"].columns) == ["de"]
    assert h["b", "none"]["de"].tolist() == [0.25, 0.25]


def test_record_maps(glued, tmp_path):
    curve = pd.DataFrame([{"model": m, "lang": lang, "pairs": p, "method": k, "P@1": v}
                          for m, v in (("base", 0.2), ("random init", 0.1)) for lang in ("de", "ru")
                          for p in (16, 512) for k in ("Procrustes", "least squares")])
    kit.record_maps(curve, {"base": 0.05, "random init": 0.01}, 512, (iv(0.1, 0.0, 0.2), "inconclusive"),
                    (iv(0.1, 0.05, 0.2), "better"))
    assert glued["max_pairs"] == "512" and glued["iv_map_dd"] == str(iv(0.1, 0.05, 0.2))
    stored = pd.read_json(tmp_path / "metrics.json")
    assert stored["control_procrustes_p1_max_pairs"]["value"] == pytest.approx(0.1)
    assert stored["no_map_p1"]["value"] == pytest.approx(0.05)


class FakeResult:
    def __init__(self, acc, majority):
        self.items = pd.DataFrame({"en": [acc, acc], "de": [acc / 2, acc / 2], "ru": [0.0, acc]})
        self.majority_items = pd.DataFrame({"en": [majority] * 2, "de": [majority] * 2, "ru": [majority] * 2})


def test_transfer_table_and_record_transfer(glued, tmp_path):
    apps = kit.transfer_table({"none": FakeResult(0.4, 0.1), "centring": FakeResult(0.6, 0.1),
                               "random init": FakeResult(0.2, 0.1), "TF-IDF": FakeResult(0.3, 0.1)},
                              "majority class", ["de", "ru"])
    assert list(apps.index) == ["none", "centring", "random init", "TF-IDF", "majority class"]
    assert apps.loc["centring", "mean over non-English"] == pytest.approx(0.3)
    pos = kit.transfer_table({"none": FakeResult(0.4, 0.2), "centring (transductive)": FakeResult(0.8, 0.2)},
                             "majority tag", ["de"])
    kit.record_transfer(apps, pos, (iv(0.1, 0.05, 0.2), "better"), (iv(0, -0.1, 0.1), "inconclusive"))
    assert glued["verdict_apps_centring"] == "helps"
    assert glued["verdict_pos_centring"] == "does not measurably change"
    assert glued["iv_pos_centring"] == str(iv(0, -0.1, 0.1))
    assert (glued["apps_majority_xling"], glued["pos_majority_xling"]) == ("0.100", "0.200")
    assert pd.read_json(tmp_path / "metrics.json")["pos_centring_xling"]["value"] == pytest.approx(0.4)


def test_transform_rows_name_every_measure():
    rows = kit.transform_rows(made_up_results(), "base", 1, 409)
    assert len(rows) == len(kit.KEYS) * len(MEASURES)
    assert {"none_p_at_1_cosine", "centring_strong_map", "whiten_lid_probe",
            "outlier_strong_same_language_bias"} <= set(rows.measure)
    assert set(rows.layer) == {1} and set(rows.n) == {409}


def test_figures_have_their_axes_and_labels():
    results = made_up_results()
    fig = kit.fig_transforms(results, 6)
    assert [ax.get_xlabel() for ax in fig.axes] == ["weak P@1", "strong mAP", "LID probe"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == list(kit.KEYS)
    langs = ["en", "de"]
    rng = np.random.default_rng(0)
    raw = {lang: rng.normal(size=(30, 5)) for lang in langs}
    fig = kit.fig_pca(raw, raw, langs, k=20)
    assert [ax.get_title() for ax in fig.axes] == ["raw", "centred per language"]
    assert len(fig.axes[0].collections) == 2
    sweep = pd.DataFrame({"a": {0: 0.1, 1: 0.2, 4: 0.3}, "b": {0: 0.2, 1: 0.1, 4: 0.0}}).rename_axis("r")
    fig = kit.fig_lir(sweep, 1)
    assert fig.axes[0].get_xlabel().startswith("LIR rank r")
    assert len(fig.axes[0].lines) == 3  # two columns and the chosen rank
    curve = pd.DataFrame([{"model": m, "lang": "de", "pairs": p, "method": "Procrustes", "P@1": 0.1}
                          for m in ("base", "random init") for p in (16, 32)])
    fig = kit.fig_pairs(curve, {"base": 0.05, "random init": 0.02})
    assert fig.axes[0].get_xlabel() == "parallel training pairs"
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["de→en", "no map (base)",
                                                                             "no map (random init)"]


def test_sweep_table_index_and_columns():
    rng = np.random.default_rng(0)
    embedded = {r: {lang: rng.normal(size=(8, 4)) for lang in ("en", "de")} for r in (0, 1)}
    table = kit.sweep_table({0: 0.1, 1: 0.2}, embedded, seed=0)
    assert table.index.name == "r" and list(table.index) == [0, 1]
    assert list(table.columns) == ["strong mAP (parallel split: chooses r)", "strong mAP (eval)", "LID probe (eval)"]


def test_classify_applies_a_transform_to_train_and_test(monkeypatch):
    seen = {}

    def fake_classify(train, train_y, test, test_y, n, seed):
        seen.update(train=train, test=test, n=n)
        return "result"

    monkeypatch.setattr("xalign_utils.transfer.classify_features", fake_classify)

    class Shift:
        def transform(self, embs):
            return {lang: x + 1 for lang, x in embs.items()}

    task = {"train_texts": ["a", "b"], "train_y": np.array([0, 1]), "test_texts": {"de": ["c"]},
            "test_y": np.array([1]), "labels": ["x", "y"]}
    features = kit.task_features(task, lambda texts: np.zeros((len(texts), 2)))
    assert kit.classify(task, features, 0, Shift()) == "result"
    assert seen["train"].tolist() == [[1, 1], [1, 1]] and seen["test"]["de"].tolist() == [[1, 1]] and seen["n"] == 2


def test_own_statistics_fit_each_set_on_itself():
    class Centre:
        def fit(self, embs):
            self.mean = {k: v.mean(0) for k, v in embs.items()}
            return self

        def transform(self, embs):
            return {k: v - self.mean[k] for k, v in embs.items()}

    feats = {"train": (np.array([[1.0], [3.0]]),), "de_pud": (np.array([[10.0], [20.0]]),)}
    tf = kit.own_statistics(feats, Centre)
    assert tf("de_pud", np.array([[15.0]])).tolist() == [[0.0]]
    assert tf("train", np.array([[2.0]])).tolist() == [[0.0]]


def test_glue_setup(glued):
    kit.glue_setup(409, 2000, 1)
    assert glued == {"n_eval": "409", "n_fit": "2000", "layer_base": "1"}


def test_reference_texts_sample_each_set():
    eval_texts = {"en": [f"e{i}" for i in range(10)], "de": [f"d{i}" for i in range(10)]}
    fit_texts = {"en": [f"f{i}" for i in range(30)], "de": [f"g{i}" for i in range(30)]}
    par = {"en": [f"p{i}" for i in range(30)], "de": [f"q{i}" for i in range(30)]}
    evals, fits, pars = kit.reference_texts(eval_texts, fit_texts, par, [1, 3], 5, 0)
    assert evals == {"en": ["e1", "e3"], "de": ["d1", "d3"]}
    assert [len(v) for v in fits.values()] == [5, 5] and pars["de"] == ["q0", "q1", "q2", "q3", "q4"]


def test_embed_all_embeds_the_same_texts_at_each_models_layer():
    class Fake:
        def __init__(self, d):
            self.d = d

        def encode(self, texts, layer=-1, pooling="mean"):
            return np.full((len(texts), self.d), float(layer))

    out = kit.embed_all({"a": Fake(2), "b": Fake(3)}, {"a": 1, "b": 4}, {"en": ["x", "y"], "de": ["z"]})
    assert out["a"]["en"].shape == (2, 2) and out["b"]["de"].tolist() == [[4.0, 4.0, 4.0]]


def test_choose_ranks_picks_the_best_score_on_the_pairs(monkeypatch):
    monkeypatch.setattr(metrics, "strong_alignment", lambda embs: {"map": -abs(embs["r"] - 2)})

    class Fake:
        def __init__(self, r=1):
            self.r = r

        def fit(self, embs):
            return self

        def transform(self, embs):
            return {"r": self.r}

    monkeypatch.setattr("xalign_utils.methods.transforms.LIR", type("LIR", (Fake,), {}))
    monkeypatch.setattr("xalign_utils.methods.transforms.LSAR", type("LSAR", (Fake,), {}))
    out = kit.choose_ranks({"en": 0, "de": 0, "ru": 0}, {})
    assert out["LIR"][0] == 2 and list(out["LIR"][1]) == list(kit.LIR_RANKS)
    assert out["LSAR"][0] == 2 and list(out["LSAR"][1]) == [0, 1, 2]


def test_unmapped_p1_averages_over_languages(monkeypatch):
    monkeypatch.setattr(kit, "unmapped_hits", lambda embs, lang: np.array(embs[lang]))
    evals = {"base": {"de": [1.0, 0.0], "ru": [1.0, 1.0]}, "random init": {"de": [0.0, 0.0], "ru": [0.5, 0.5]}}
    assert kit.unmapped_p1(evals, ["base", "random init"], ["de", "ru"]) == {"base": 0.75, "random init": 0.25}
