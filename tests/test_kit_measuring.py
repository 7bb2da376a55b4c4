"""The kit of chapter 00_measuring_alignment (xalign_utils.kit.measuring), on small made-up inputs: the
tables' rows and columns, every verdict phrase and status branch, the glue names, the figures' axes."""
import json

import matplotlib
import numpy as np
import pandas as pd
import pytest

from xalign_utils import metrics
from xalign_utils.evaluate import Protocol, retrieval_hits
from xalign_utils.kit import measuring as kit
from xalign_utils.methods.transforms import LanguageCentering
from xalign_utils.record import record_results
from xalign_utils.transfer import TransferResult

matplotlib.use("Agg")
LANGS = ("en", "de", "ru")


@pytest.fixture
def glued(monkeypatch, tmp_path):
    """Every glue (name -> its plain-text form); metrics and results go to tmp_path."""
    import myst_nb

    out = {}

    def fake_glue(name, value, display=True):
        assert name not in out, f"glue key {name!r} glued twice"
        out[name] = repr(value) if not hasattr(value, "savefig") else value

    monkeypatch.setattr(myst_nb, "glue", fake_glue)
    monkeypatch.setenv("XALIGN_METRICS_PATH", str(tmp_path / "metrics.json"))
    monkeypatch.setenv("XALIGN_RESULTS_PATH", str(tmp_path / "results.csv"))
    return out


def recorded(tmp_path) -> dict:
    return {k: v["value"] for k, v in json.loads((tmp_path / "metrics.json").read_text()).items()}


def fake_protocol(seed=0, n=12, d=6, layers=2, noise=0.3, name="fake"):
    """A Protocol of made-up embeddings: shared meanings plus noise and a per-language offset."""
    rng = np.random.default_rng(seed)
    meaning = rng.normal(size=(layers + 1, n, d))
    embs = {l: meaning + noise * rng.normal(size=meaning.shape) + i for i, l in enumerate(LANGS)}
    centring = [LanguageCentering().fit({l: e[i] for l, e in embs.items()}) for i in range(layers + 1)]
    hits = retrieval_hits({l: e[layers] for l, e in embs.items()})
    per_layer = pd.DataFrame({"raw": np.linspace(0.2, 0.4, layers + 1), "centred": np.linspace(0.3, 0.6, layers + 1),
                              "centred_transductive": np.linspace(0.35, 0.7, layers + 1)})
    per_layer.index.name = "layer"
    return Protocol(name, layers - 1, layers, hits, hits * 0.5, per_layer, embs, centring)


def transfer(values: dict, majority: float = 0.25, n: int = 8) -> TransferResult:
    items = pd.DataFrame({l: np.full(n, v) for l, v in values.items()})
    table = pd.DataFrame({"lang": list(values), "n": n, "accuracy": list(values.values()), "macro_f1": 0.5,
                          "majority": majority})
    return TransferResult(table, items, pd.DataFrame({l: np.full(n, majority) for l in values}))


def iv(diff, low, high):
    return metrics.Interval(diff, low, high, 10, 100, 0, 0.95)


BETTER, WORSE, SAME = (iv(0.1, 0.05, 0.15), "better"), (iv(-0.1, -0.15, -0.05), "worse"), (iv(0.0, -0.1, 0.1),
                                                                                              "inconclusive")


# ---------------------------------------------------------------- verdict phrases and statuses

@pytest.mark.parametrize("result, centred, ood", [(BETTER, "beats", "beats"), (WORSE, "loses to", "loses to"),
                                                  (SAME, kit.SAME, kit.SAME)])
def test_glue_verdicts_phrases_every_outcome_and_glues_each_interval_once(glued, result, centred, ood):
    kit.glue_verdicts({"centred": result, "ntrex": result, "terms": result, "ref_strong": result,
                       "matched_disjoint": result})
    assert glued["verdict_centred"] == centred and glued["verdict_ood"] == ood
    assert glued["iv_centred"] == glued["iv_ntrex"] == glued["iv_terms"] == str(result[0])
    assert glued["verdict_matched"] == kit.says(result[1], *kit.MATCHED)
    assert "verdict_terms" not in glued and "verdict_ref_strong" not in glued


def test_glue_verdicts_without_the_corpus_comparison_says_it_was_not_measured(glued):
    kit.glue_verdicts({"lexical": WORSE, "lid_chance": SAME})
    assert glued["verdict_lexical"] == "is below"
    assert glued["verdict_lid_chance"] == "not distinguishable from"
    assert glued["verdict_matched"] == "were not measured against"


def scripts(latin, cyrillic, han="inconclusive"):
    return pd.DataFrame({"Latin": {"languages": "de es", "verdict": latin},
                         "Cyrillic": {"languages": "ru", "verdict": cyrillic},
                         "Han": {"languages": "zh", "verdict": han}}).T


@pytest.mark.parametrize("latin, cyrillic, han, starts", [
    ("inconclusive", "better", "inconclusive",
     "Languages in a script other than English's align beyond the control too (Cyrillic)"),
    ("better", "inconclusive", "inconclusive", "Only the languages that share English's script"),
    ("inconclusive", "inconclusive", "worse", "No script aligns beyond the control, and some fall below it"),
    ("inconclusive", "inconclusive", "inconclusive", "No script aligns beyond the control, the Latin-script"),
])
def test_script_reading_every_branch(latin, cyrillic, han, starts):
    assert kit.script_reading(scripts(latin, cyrillic, han)).startswith(starts)


def test_glue_scripts_names_each_verdict_and_the_best_tfidf_script(glued):
    lex = pd.DataFrame({"de": [1.0, 1.0], "es": [0.0, 1.0], "ru": [0.0, 0.0], "zh": [1.0, 0.0]})
    kit.glue_scripts(scripts("better", "inconclusive", "worse"), lex, "worse")
    assert glued["verdict_scripts"] == "Latin (de es): better; Cyrillic (ru): inconclusive; Han (zh): worse"
    assert glued["lexical_best_script"] == "Latin (de es), where TF-IDF retrieves 0.750"
    assert glued["heading_lexical"] == "Shared strings explain more than the model."


@pytest.mark.parametrize("centred, raw, md, status", [
    ("better", "inconclusive", "better", "reproduced"),
    ("inconclusive", "better", None, "partly reproduced (alignment, but no measured help from comparable data)"),
    ("worse", "inconclusive", "better", "not reproduced"),
    ("inconclusive", "inconclusive", "better", "inconclusive"),
])
def test_finding1_every_branch(centred, raw, md, status):
    assert kit.finding1_status(centred, raw, md) == status


@pytest.mark.parametrize("lid, strong, status", [
    ("better", "better", "reproduced"), ("worse", "better", "not reproduced"),
    ("inconclusive", "better", "inconclusive"),
    ("better", "inconclusive", "partly reproduced (language identity encoded; centring does not raise strong mAP)"),
])
def test_finding2_every_branch(lid, strong, status):
    assert kit.finding2_status(lid, strong) == status


@pytest.mark.parametrize("last, first, status", [("better", "better", "reproduced"),
                                                 ("better", "worse", "not reproduced"),
                                                 ("inconclusive", "better", "inconclusive")])
def test_finding3_every_branch(last, first, status):
    assert kit.finding3_status(last, first) == status


def test_middle_layer_comparisons_compare_the_middle_with_the_last_then_the_embeddings():
    base = fake_protocol(layers=4)
    calls = []

    def compare(a, b):
        calls.append((a.copy(), b.copy()))
        return f"[interval {len(calls)}]", "better" if len(calls) == 1 else "worse"

    middle = kit.middle_layer_comparisons(base, compare, last=4)
    assert list(middle) == ["middle_last", "middle_embeddings"]
    assert [v for _, v in middle.values()] == ["better", "worse"]
    from xalign_utils.evaluate import centre_layers
    centred = centre_layers(base.embeddings, base.centring)
    at = {i: retrieval_hits({l: x[i] for l, x in centred.items()}) for i in (0, 2, 4)}
    pd.testing.assert_frame_equal(calls[0][0], at[2])  # middle layer 4 // 2 = 2 ...
    pd.testing.assert_frame_equal(calls[0][1], at[4])  # ... against the last
    pd.testing.assert_frame_equal(calls[1][1], at[0])  # ... then the embeddings
    with pytest.raises(TypeError):
        kit.middle_layer_comparisons(base, compare, 4)  # the last layer is named


def test_glue_findings_glues_the_three_statuses_and_compares_nothing(glued):
    comparisons = metrics.Verdicts(200, 0)
    base = fake_protocol()
    comparisons.compare(np.ones(5), np.zeros(5))  # an earlier comparison of the chapter
    middle = kit.middle_layer_comparisons(base, comparisons.compare, last=2)
    view1 = pd.DataFrame({"base, raw": {"language-ID probe": 0.9, "same-language bias": 0.4}})
    kit.glue_findings({"centred": BETTER, "raw": SAME, "lid_chance": BETTER, "strong_centring": SAME}, view1,
                      pd.DataFrame({"de": [1.0, 0.0]}), base, n_langs=3, middle=middle, last=2)
    assert len(comparisons) == 3  # glue_findings made none of its own
    assert comparisons.glue_count() == 3
    assert glued["n_verdicts"] == "3" and glued["n_spurious"] == "0.2"
    assert glued["status_finding1"].startswith("partly reproduced (alignment, but no") and "not measured" in glued[
        "status_finding1"]
    assert glued["status_finding2"].startswith("partly reproduced") and "chance 0.333" in glued["status_finding2"]
    assert "with 2 layers: centred P@1 at the middle layer 1" in glued["status_finding3"]
    assert str(middle["middle_last"][0]) in glued["status_finding3"]


# ---------------------------------------------------------------- measurements' helpers and tables

def test_layer_of_and_at_layer_read_the_chosen_layer_raw_or_centred():
    p = fake_protocol()
    assert kit.layer_of(p, "raw") == 1 and kit.layer_of(p, "centred") == 2
    with pytest.raises(ValueError, match="unknown view 'mean'"):
        kit.layer_of(p, "mean")
    np.testing.assert_allclose(kit.at_layer(p, "raw")["de"], p.embeddings["de"][1])
    centred = kit.at_layer(p, "centred", layer=0)
    np.testing.assert_allclose(centred["ru"].mean(0), 0, atol=1e-12)


def test_control_means_average_over_the_seeds_named():
    proto = {"a": fake_protocol(0), "b": fake_protocol(1), "base": fake_protocol(2)}
    mean = kit.control_hits(proto, ["a", "b"], "raw")
    pd.testing.assert_frame_equal(mean, (proto["a"].hits_raw + proto["b"].hits_raw) / 2)
    results = {"a": transfer({"en": 1.0}), "b": transfer({"en": 0.0})}
    assert kit.control_items(results, ["a", "b"])["en"].tolist() == [0.5] * 8
    with pytest.raises(ValueError, match="at least one control"):
        kit.control_mean({}, [])


def test_collapsed_table_reads_the_pair_it_is_given_and_the_pool_beside_chance():
    rows = [("en", "de", 0, "p_at_1_cosine", 0.05), ("en", "de", 0, "mrr_cosine", 0.18),
            ("de", "en", 0, "mrr_cosine", 1.0),
            ("en", "ru", 0, "p_at_1_cosine", 0.5), ("en", "ru", 0, "mrr_cosine", 0.6),
            ("ru", "en", 0, "p_at_1_cosine", 1.0),
            ("all", "all", 0, "strong_map", 0.1), ("all", "all", 0, "lid_probe", 0.33)]
    table = pd.DataFrame(rows, columns=["src", "tgt", "layer", "measure", "value"])
    t = kit.collapsed_table(table, ("en", "de"), n=20)
    assert list(t.index) == ["weak P@1", "MRR", "strong mAP", "language-ID probe"]
    assert t["collapsed model"].tolist() == [0.05, 0.18, 0.1, 0.33]
    assert t["chance"].tolist() == pytest.approx([1 / 20, metrics.chance_mrr(20),
                                                  metrics.chance_average_precision(2, 59), 1 / 3])
    assert kit.collapsed_table(table, ("en", "ru"), n=20)["collapsed model"].tolist()[:2] == [0.5, 0.6]
    with pytest.raises(ValueError, match="no weak measures from 'de' to 'ru'"):
        kit.collapsed_table(table, ("de", "ru"), n=20)


def test_strong_table_and_record_toy(glued, tmp_path):
    s = {"p_at_1": 0.5, "map": 0.6, "same_language_bias": 0.2}
    strong = {"toy space": s, "language means subtracted": s, "LIR, r = 1": s}
    table = kit.strong_table(strong)
    assert list(table.columns) == ["strong P@1", "strong mAP", "same-language bias"] and len(table) == 3
    kit.record_toy(0.9, strong)
    assert recorded(tmp_path) == {"toy_weak_p1": 0.9, "toy_strong_p1": 0.5, "toy_strong_bias": 0.2,
                                  "toy_centred_strong_p1": 0.5, "toy_lir_strong_p1": 0.5}


def test_headline_and_script_tables(glued, tmp_path):
    base = fake_protocol()
    ctrl = {"raw": base.hits_raw * 0, "centred": base.hits_centred * 0}
    lex = base.hits_raw * 0.5
    head = kit.headline_table(base, ctrl, lex, ["de", "ru"], 12)
    assert list(head.columns) == ["de", "ru", "mean"]
    assert head.loc["chance", "mean"] == pytest.approx(1 / 12)
    calls = []

    def compare(a, b):
        calls.append(list(a.columns))
        return BETTER

    table = kit.script_table(base, ctrl, lex, ["de", "ru"], compare)
    assert calls == [["de"], ["ru"]] and list(table.index) == ["Latin", "Cyrillic"]
    assert list(table.columns) == ["languages", "base", "random init", "TF-IDF", "base − random init", "verdict"]


def test_record_headline_glues_the_band_and_the_layers(glued, tmp_path):
    proto = {"base": fake_protocol(0), "random init 0": fake_protocol(1), "random init 1": fake_protocol(2)}
    kit.record_headline(proto, ["random init 0", "random init 1"], proto["base"].hits_raw, 12, 200, 0)
    assert glued["layer_centred"] == "2" and glued["layer_raw"] == "1"
    assert " – " in glued["control_band_centred"]
    assert recorded(tmp_path)["chance_retrieval"] == pytest.approx(1 / 12)


def test_view1_table_averages_the_controls_and_adds_chance(glued, tmp_path):
    proto = {"base": fake_protocol(0), "random init 0": fake_protocol(1)}
    measured = {(n, v): kit.protocol_view(p, v, 0, 12) for n, p in proto.items() for v in kit.VIEWS}
    measured["TF-IDF", "—"] = kit.view_one({l: e[0] for l, e in proto["base"].embeddings.items()}, -1, 0, 12)
    assert set(measured["base", "raw"][1].n) == {12}
    table = kit.view1_table(measured, ["random init 0"], 3, 12)
    assert list(table.columns) == ["base, raw", "base, centred", "random init, raw", "random init, centred", "TF-IDF",
                                   "chance"]
    assert table.loc["weak P@1 (cosine)", "chance"] == pytest.approx(1 / 12)
    assert table.loc["language-ID probe", "chance"] == pytest.approx(1 / 3)
    assert np.isnan(table.loc["CKA (en vs X)", "chance"])
    kit.record_view1(table, 3)
    assert glued["lid_chance"] == "0.333"
    assert recorded(tmp_path)["base_strong_map"] == pytest.approx(table.loc["strong mAP", "base, raw"])


def test_terms_and_ood_tables(glued, tmp_path):
    hits = pd.DataFrame({"de": [1.0, 0.0, 1.0, 1.0], "ar": [0.0, 0.0, 1.0, 0.0]})
    term_hits = {"base": hits, "TF-IDF": hits * 0}
    assert list(kit.terms_table(term_hits, hits * 0.5, ["de"]).index) == ["base (centred)", "random init (centred)",
                                                                          "TF-IDF"]
    kit.record_terms(term_hits, hits * 0.5)
    assert glued["chance_terms"] == "0.2500"
    tat = {"base": pd.concat([hits["de"]], keys=["de"]), "TF-IDF": pd.concat([hits["de"] * 0], keys=["de"])}
    table = kit.ood_table({"base": hits, "TF-IDF": hits}, hits, tat, tat["base"])
    assert table.loc["de", "Tatoeba X→en: base"] == 0.75 and np.isnan(table.loc["ar", "Tatoeba X→en: base"])
    kit.record_ood({"base": hits, "TF-IDF": hits}, hits * 0, tat, tat["TF-IDF"], 500)
    assert glued["n_ood"] == "500" and glued["ntrex_control_p1_ar"] == "0.000"
    assert recorded(tmp_path)["ntrex_base_p1_ar"] == 0.25


def test_tatoeba_hits_retrieves_each_language_into_english():
    class Identity:  # text "i" -> the i-th unit vector
        def encode(self, texts, layer=None):
            return np.eye(12)[[int(t) for t in texts]]

    same = [str(i) for i in range(12)]
    pairs = {"de": (same, same), "ru": (same, same[1:] + same[:1])}
    out = kit.tatoeba_hits(Identity(), pairs)
    assert list(out.index.get_level_values(0)) == ["de"] * 12 + ["ru"] * 12
    assert out.loc["de"].tolist() == [1.0] * 12 and out.loc["ru"].tolist() == [0.0] * 12


def test_ood_languages_add_arabic_and_pud_languages_split_off_english():
    assert kit.ood_languages(["en", "de"])[-1] == "ar"
    pud, non_en = kit.pud_languages(["en", "de", "ru"])
    assert pud == ["en", "de", "ru"] and non_en == ["de", "ru"]


def test_apps_and_pos_tables_and_records(glued, tmp_path):
    apps = {"base": transfer({"en": 0.9, "de": 0.6}), "TF-IDF": transfer({"en": 0.8, "de": 0.5})}
    ctrl = pd.DataFrame({"en": np.full(8, 0.3), "de": np.full(8, 0.2)})
    acc = kit.apps_table(apps, ctrl, apps, ["de"])
    assert list(acc.index) == ["base", "random init (mean of seeds)", "TF-IDF", "majority class",
                               "base, names masked", "TF-IDF, names masked"]
    assert acc.loc["base", kit.MEAN_NON_EN] == pytest.approx(0.6)
    kit.record_apps(acc, apps["base"], {"test_y": np.zeros(8), "train_y": np.zeros(30)})
    assert glued["n_apps"] == "8" and glued["n_apps_train"] == "30"
    assert recorded(tmp_path)["apps_base_en"] == pytest.approx(0.9)
    pos = kit.pos_table({"base": transfer({"en": 0.7, "de": 0.4})}, ctrl, ["de"])
    assert list(pos.index) == ["base", "random init (mean of seeds)", "majority tag"]
    seg = pd.DataFrame({"pieces per word": [1.5, 2.0], "share with an <unk> piece": [0.01, 0.2]}, index=["en", "de"])
    kit.record_pos(pos, seg, 20)
    assert glued["unk_worst"] == "de (20% of words)" and glued["pos_sentences"] == "20"


def test_corpus_comparisons_in_order_and_their_tables(glued, tmp_path):
    corpora = {"matched": fake_protocol(0), "disjoint": fake_protocol(1), "comparable": fake_protocol(2)}
    apps_of = {c: transfer({"en": 0.9, "de": x}) for c, x in zip(corpora, (0.6, 0.5, 0.7))}
    calls = []

    def compare(a, b):
        calls.append(float(np.asarray(a).mean() - np.asarray(b).mean()))
        return SAME

    out = kit.corpus_comparisons(compare, corpora, apps_of, ["de"])
    assert list(out) == ["matched_disjoint", "comparable_matched", "matched_disjoint_apps"]
    assert calls[2] == pytest.approx(0.1)
    table = kit.corpus_table(corpora, apps_of, ["de"])
    assert list(table.index) == list(corpora) and table.loc["comparable", "apps accuracy (non-English)"] == 0.7
    logs = {c: {"steps": s, "training_tokens_per_language": {"en": 2000 * k, "de": 1000 * k, "fi": 99999}}
            for c, s, k in (("matched", 100, 1), ("disjoint", 100, 1), ("comparable", 300, 3))}
    assert kit.sizes_table(logs, ["en", "de"]).loc["comparable", "de"] == 3
    kit.glue_corpora(logs, table, ["en", "de"])
    assert glued["size_ratio"] == "3.0"  # over the chapter's languages only
    assert glued["steps_note"].startswith("the same budget")
    assert set(recorded(tmp_path)) == {"matched_p1_centred", "matched_apps_xling", "disjoint_p1_centred",
                                       "disjoint_apps_xling"}


def test_glue_corpora_without_the_base_model_says_n_a(glued):
    kit.glue_corpora(None, None)
    assert glued["iv_matched_disjoint"] == "n/a (only for the base model)"
    assert glued["matched_p1_centred"] == glued["steps_note"] == "n/a"


def test_pretraining_glue_with_and_without_a_log(glued):
    kit.glue_pretrain(None)
    assert all(glued[k] == "n/a" for k in kit.PRETRAIN_KEYS)
    glued.clear()
    log = {"tokens_seen": 2_000_000, "steps": 100, "training_tokens_per_language": {"en": 600_000, "de": 400_000},
           "wall_time_s": 600, "threads": 2,
           "curve": [{"step": 10, "loss": 5.0, "held_out_mlm_loss": 4.0}, {"step": 20, "loss": 4.0,
                                                                            "held_out_mlm_loss": 3.5},
                     {"step": 30, "loss": 3.0, "held_out_mlm_loss": 3.6}]}
    kit.glue_pretrain(log)
    assert (glued["pretrain_tokens_m"], glued["unique_tokens_m"], glued["pretrain_minutes"]) == ("2.0", "1.0", "10")
    assert (glued["heldout_best_step"], glued["heldout_best"], glued["heldout_final"]) == ("20", "3.50", "3.60")


def test_reference_glue_when_not_run_and_the_card_summary(glued):
    kit.glue_reference_model(None)
    assert set(kit.REF_KEYS) <= set(glued) and glued["ref_lid_reading"] == "n/a"
    assert kit.tatoeba_card(None, ["de"], 10, 100, 0) is None
    kit.record_card(None)  # not run: nothing glued beyond the "n/a" above
    row = kit.card_row(np.array([1.0, 1.0, 0.0, 1.0]), 4, 80.0, 200, 0)
    assert row["accuracy (%)"] == 75.0 and row["ours − card"] == -5.0
    card = pd.DataFrame({"de": {"ours − card": -1.0}, "ru": {"ours − card": 3.0}}).T
    assert kit.card_summary(card) == ("from -1.0 to +3.0 points (de, ru); 1 of 2 within the 2 points this project "
                                      "asks of the conversion")
    assert kit.card_summary(pd.DataFrame()).startswith("not measured")


def test_record_card_records_each_language_and_glues_the_summary(glued, tmp_path):
    card = pd.DataFrame({"de": {"accuracy (%)": 91.25, "ours − card": -1.0},
                         "ru": {"accuracy (%)": 88.0, "ours − card": 3.0}}).T
    kit.record_card(card)
    got = recorded(tmp_path)
    assert (got["ref_tatoeba_de"], got["ref_tatoeba_ru"]) == (91.25, 88.0)
    assert glued["ref_card_summary"] == kit.card_summary(card)


def test_sample_names_the_non_english_and_pud_languages_and_the_ci_label():
    sample = kit.Sample(np.arange(3), ("en", "de", "ru"), 0, kit.ci_label("base", "whatever"))
    assert sample.label == "ci base" and kit.ci_label("xlm-roberta-base", "xlmr") == "xlmr"
    assert sample.non_en == ["de", "ru"]
    assert sample.pud_non_en == kit.pud_languages(["en", "de", "ru"])[1]


def reference_setting():
    """A made-up real model (its protocol on 12 of 24 items), a ci base model and both tasks' results."""
    ref = fake_protocol(seed=1, n=12, name="me5")
    base = fake_protocol(seed=2, n=24)
    sample = kit.Sample(np.arange(0, 24, 2), LANGS, 0, "ci base")
    apps = {"me5": transfer({"en": 0.9, "de": 0.8, "ru": 0.7}), "ci base": transfer({"en": 0.9, "de": 0.4, "ru": 0.3})}
    pos = {"me5": transfer({"en": 0.8, "de": 0.6, "ru": 0.5}), "ci base": transfer({"en": 0.8, "de": 0.2, "ru": 0.2})}
    return sample, ref, base, apps, pos


def test_reference_comparisons_make_six_comparisons_in_order_on_the_same_items():
    sample, ref, base, apps, pos = reference_setting()
    calls = []

    def compare(a, b):
        calls.append((np.asarray(a, float), np.asarray(b, float)))
        return f"[interval {len(calls)}]", f"verdict {len(calls)}"

    out, values = kit.reference_comparisons(sample, compare, ref, base, apps=apps, pos=pos)
    assert tuple(out) == kit.REF_COMPARISONS == ("ref_weak", "ref_strong", "ref_strong_weak", "ref_lid",
                                                 "ref_apps", "ref_pos")
    assert [v for _, v in out.values()] == [f"verdict {i}" for i in range(1, 7)]
    assert set(values) == {"ref_p1_raw", "ref_strong_map", "ref_lid", "ref_base_p1_raw"}
    base_rows = {l: x[sample.rows] for l, x in kit.at_layer(base, "raw").items()}
    np.testing.assert_allclose(calls[0][1], retrieval_hits(base_rows).to_numpy())  # the base model on the rows
    assert values["ref_base_p1_raw"] == pytest.approx(calls[0][1].mean())
    assert values["ref_p1_raw"] == pytest.approx(calls[0][0].mean())
    np.testing.assert_allclose(calls[3][1], 1 / 3)  # LID against chance, 1 / number of languages
    np.testing.assert_allclose(calls[4][0].mean(axis=0), [0.8, 0.7])  # applications, the non-English items
    np.testing.assert_allclose(calls[4][1].mean(axis=0), [0.4, 0.3])
    np.testing.assert_allclose(calls[5][1], 0.2)  # POS: the PUD languages (de, ru) of the ci model
    with pytest.raises(TypeError):
        kit.reference_comparisons(sample, compare, ref, base, apps, pos)  # the tasks are named


def test_reference_tables_put_the_four_models_side_by_side():
    sample, ref, base, apps, pos = reference_setting()
    proto = {"base": base, "random init 0": fake_protocol(seed=3, n=24)}
    apps["random init 0"] = transfer({"en": 0.5, "de": 0.2, "ru": 0.2})
    apps["TF-IDF"] = transfer({"en": 0.5, "de": 0.3, "ru": 0.3})
    pos["random init 0"] = transfer({"en": 0.5, "de": 0.1, "ru": 0.1})
    lex = {l: np.random.default_rng(i).normal(size=(24, 5)) for i, l in enumerate(LANGS)}
    four, view2 = kit.reference_tables(sample, ref, apps, pos, proto=proto, names=["random init 0"], lex_embs=lex,
                                       n_items=24)
    assert list(four.columns) == ["me5, raw", "me5, centred", "ci base, raw", "ci base, centred", "random init, raw",
                                  "TF-IDF", "chance"]
    assert four.loc["weak P@1 (cosine)", "chance"] == pytest.approx(1 / 12)  # 12 sampled candidates
    assert view2.loc["apps accuracy (non-English)", "ci base"] == pytest.approx(0.35)
    assert view2.loc["POS accuracy (non-English)", "random init"] == pytest.approx(0.1)


def test_chapter_results_take_their_sizes_by_name(glued, tmp_path):
    p = fake_protocol()
    t = pd.DataFrame({"src": "en", "tgt": "de", "layer": 1, "measure": ["p_at_1_cosine"], "value": [0.5], "n": 12})
    measured = {(n, v): (None, t) for n in ("base", "random init 0") for v in kit.VIEWS}
    measured["TF-IDF", "—"] = (None, t)
    apps = {n: transfer({"en": 0.9, "de": 0.6, "ru": 0.5}) for n in ("base", "random init 0", "TF-IDF")}
    pos = {n: transfer({"en": 0.8, "de": 0.5, "ru": 0.4}) for n in ("base", "random init 0")}
    for r in kit.chapter_results({"base": p, "random init 0": p}, measured, apps, pos, control_seeds=[0],
                                 names=["random init 0"], corpus_p={"comparable": p, "matched": p},
                                 corpus_apps={"matched": apps["base"]}, non_en=["de", "ru"], n_items=12, seed=0):
        record_results(**r)
    rows = pd.read_csv(tmp_path / "results.csv")
    assert set(rows.variant) == {"base", "random-init-0", "tfidf", "base-matched"}
    with pytest.raises(TypeError):
        kit.chapter_results({"base": p}, measured, apps, pos, [0], ["random init 0"], {}, {}, ["de"], 12, 0)


def test_reference_view2_averages_the_controls_and_adds_the_majority():
    apps = {"me5": transfer({"en": 0.9, "de": 0.8}), "ci base": transfer({"en": 0.9, "de": 0.4}),
            "random init 0": transfer({"en": 0.5, "de": 0.2}), "random init 1": transfer({"en": 0.5, "de": 0.4}),
            "TF-IDF": transfer({"en": 0.5, "de": 0.3})}
    pos = {n: transfer({"en": 0.8, "de": 0.5}) for n in ("me5", "ci base", "random init 0", "random init 1")}
    view2 = kit.reference_view2(apps, pos, ["random init 0", "random init 1"], "me5", ["de"], ["de"])
    assert list(view2.columns) == ["me5", "ci base", "TF-IDF", "random init", "majority class / tag"]
    assert view2.loc["apps accuracy (non-English)", "random init"] == pytest.approx(0.3)
    assert np.isnan(view2.loc["POS accuracy (non-English)", "TF-IDF"])


def test_record_reference_glues_its_sizes_and_the_lid_reading(glued, tmp_path):
    four = pd.DataFrame({"me5, raw": {"weak P@1 (CSLS)": 0.8, "same-language bias": 0.1}})
    view2 = pd.DataFrame({"me5": {"apps accuracy (non-English)": 0.7, "POS accuracy (non-English)": 0.6}})
    values = {"ref_p1_raw": 0.9, "ref_strong_map": 0.5, "ref_lid": 0.99, "ref_base_p1_raw": 0.2}
    kit.record_reference(values, four, view2, "inconclusive", "me5", {"ref_items": 100, "ref_model_label": "ci base"})
    assert glued["ref_items"] == "100" and glued["ref_model_label"] == "ci base"
    assert glued["ref_lid_reading"] == "so the language of a sentence is not recoverable from it"
    assert recorded(tmp_path)["ref_pos_xling"] == 0.6


def test_results_rows_suffix_centred_measures_and_add_the_tasks():
    p = fake_protocol()
    t = pd.DataFrame({"src": "en", "tgt": "de", "layer": 1, "measure": ["p_at_1_cosine"], "value": [0.5], "n": 12})
    rows = kit.results_rows(p, transfer({"en": 0.9, "de": 0.6}), ["de", "ru"], 12, transfer({"en": 0.8, "de": 0.5}),
                            [("raw", t), ("centred", t)])
    assert {"p_at_1_cosine", "p_at_1_cosine_centred", "eval_p1_centred", "apps_accuracy", "pos_accuracy"} <= set(
        rows.measure)
    assert rows[rows.measure == "eval_p1_centred"].tgt.tolist() == ["de", "ru"]


# ---------------------------------------------------------------- figures

def test_figures_have_their_axes_and_are_closed():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    toy = {"toy space": {l: np.random.default_rng(i).normal(size=(20, 4)) for i, l in enumerate(LANGS)}}
    toy["language means subtracted"] = toy["toy space"]
    fig = kit.fig_toy(toy, per_lang_points=10)
    assert [ax.get_title() for ax in fig.axes] == ["toy space", "language means subtracted"]
    proto = {"base": fake_protocol(0), "random init 0": fake_protocol(1)}
    fig = kit.fig_layers(proto, ["random init 0"], proto["base"].hits_raw, 12)
    assert fig.axes[0].get_ylabel().startswith("en→X P@1") and fig.axes[1].get_title() == "centred embeddings"
    cols = ["base, raw", "base, centred", "random init, raw", "random init, centred", "TF-IDF", "chance"]
    view1 = pd.DataFrame(0.5, index=["strong mAP", "same-language bias", "language-ID probe"], columns=cols)
    assert [ax.get_xlabel() for ax in kit.fig_strong(view1).axes] == ["strong mAP", "same-language bias",
                                                                      "language-ID probe accuracy"]
    apps = {"base": transfer({"en": 0.9, "de": 0.6}), "TF-IDF": transfer({"en": 0.8, "de": 0.5})}
    fig = kit.fig_apps(apps, apps["base"].items, ["en", "de"], 0)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["base", "random init", "TF-IDF", "majority"]
    no_log = kit.fig_pretrain(None, "xlm-roberta-base")
    assert no_log.axes[0].texts[0].get_text() == "xlm-roberta-base: no xalign training log"
    assert kit.fig_placeholder().axes[0].texts[0].get_text() == "not run (no reference model)"
    assert plt.get_fignums() == before
