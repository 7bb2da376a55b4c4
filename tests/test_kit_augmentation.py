"""The kit of notebook 04_augmentation on small made-up results: tables, figures, records and glue."""
import json

import numpy as np
import pandas as pd
import pytest

from xalign_utils import layout, metrics
from xalign_utils.data import Sentence
from xalign_utils.kit import augmentation as kit
from xalign_utils.record import record_results
from xalign_utils.transfer import TransferResult

COLS = {"apps": ["de", "zh"], "POS": ["de"]}


@pytest.fixture
def glued(monkeypatch):
    """Every glue of the test, name -> its text."""
    import myst_nb

    out = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: out.update({name: repr(value)}))
    return out


def result(columns, hits):
    """A TransferResult with English plus `columns`, each with the per-item outcomes `hits`."""
    items = pd.DataFrame({c: np.asarray(hits, float) for c in ["en", *columns]})
    table = pd.DataFrame({"lang": list(items.columns), "accuracy": items.mean().to_numpy(), "n": len(items)})
    return TransferResult(table, items, items * 0)


def runs():
    """Made-up CoSDA-ML runs: switching helps from the base model, nothing changes from random init."""
    low, high = [0, 1, 0, 1, 0, 1, 0, 0], [1, 1, 1, 1, 1, 1, 0, 1]
    out = {}
    for start in ("base", "random init"):
        for q in (0.0, 0.5):
            hits = high if (start, q) == ("base", 0.5) else low
            out[(start, q)] = (result(COLS["apps"], hits), result(COLS["POS"], hits))
    return out


def iv(diff, low, high):
    return metrics.Interval(diff, low, high, 8, 100, 0, 0.95)


def test_results_of_refuses_a_chapter_not_built_yet(tmp_path, monkeypatch):
    monkeypatch.setattr(kit.layout, "results_file", lambda preset, stem: tmp_path / f"{stem}.csv")
    with pytest.raises(FileNotFoundError, match="reads notebook 01's results .* --preset ci"):
        kit.results_of("ci", "01_parallel_data")
    from xalign_utils.record import RESULT_COLUMNS

    rows = {c: ["x", "x"] for c in RESULT_COLUMNS} | {"value": [0.5, 0.7], "seed": [0, 1]}
    pd.DataFrame(rows).to_csv(tmp_path / "01_parallel_data.csv", index=False)
    assert kit.results_of("ci", "01_parallel_data").value.tolist() == [0.5, 0.7]
    assert kit.results_of("ci", "01_parallel_data", 1).value.tolist() == [0.7]  # one training seed's rows


def test_glue_parameters_formats_numbers_as_the_prose_cites_them(glued):
    class Harness:
        apps_task, pos_train, pos_test = {"train_texts": ["a", "b", "c"]}, 40, 20

    kit.glue_parameters(Harness(), n_pairs=12, p=0.5, p_sweep=[0.25, 1.0], lr=5e-4, mlm_steps=50, mlm_batch=4,
                        min_count=2, mlm_paragraphs=2000)
    assert glued["apps_train"] == "3" and glued["p"] == "0.5" and glued["lr"] == "0.0005"
    assert glued["p_sweep"] == "0.25, 1" and glued["n_pairs"] == "12" and len(glued) == 11


def test_dictionary_table_glue_and_figure():
    vendored = {"de": {"house": ["haus"], "dog": ["hund"]}}
    induced = {"de": {"house": ["haus"], "dog": ["katze"]}, "zh": {"house": ["房子"]}}
    used = {"de": vendored["de"], "zh": induced["zh"]}
    sents = [Sentence("s1", ("The", "dog", "."), ("DET", "NOUN", "PUNCT"))]
    table = kit.dictionary_table(["de", "zh"], vendored, induced, used, ["the house, the dog"], sents)
    assert list(table.index) == ["de", "zh"]
    assert table.loc["de", "induced precision@1"] == 0.5 and table.loc["de", "shared words"] == 2
    assert np.isnan(table.loc["zh", "induced precision@1"]) and table.loc["zh", "used for augmentation"] == "induced"
    assert table.loc["de", "coverage, apps texts"] == 0.5 and table.loc["zh", "coverage, POS sentences"] == 0.0
    fig = kit.fig_coverage(table)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["de\n(vendored)", "zh\n(induced)"]
    assert len(ax.patches) == 4 and ax.get_ylim() == (0, 1)
    # apps-text bars, then POS-sentence bars, one per language: the table's coverages
    want = [*table["coverage, apps texts"], *table["coverage, POS sentences"]]
    assert [b.get_height() for b in ax.patches] == pytest.approx(want) and want[0] == 0.5 and want[-1] == 0.0


def test_glue_dictionaries_names_the_missing_languages_and_the_ranges(glued):
    table = pd.DataFrame({"induced entries": [10, 30], "induced precision@1": [0.4, np.nan], "shared words": [5, 0],
                          "used for augmentation": ["vendored", "induced"],
                          "coverage, apps texts": [0.61, 0.2]}, index=["de", "zh"])
    kit.glue_dictionaries(table)
    assert glued["dict_sentence"].startswith("There is no vendored dictionary for Chinese;")
    assert glued["precision_range"] == "0.40 to 0.40 (on 5 to 5 shared words per language)"
    assert glued["induced_range"] == "10 to 30" and (glued["coverage_min"], glued["coverage_max"]) == ("0.20", "0.61")
    table["used for augmentation"] = "vendored"
    table["induced precision@1"] = np.nan
    kit.glue_dictionaries(table)
    assert glued["dict_sentence"] == "Every language has a vendored dictionary."
    assert glued["precision_range"] == "not measurable"


def test_switch_examples_one_row_per_dictionary_and_one_mixed():
    dicts = {"de": {"dog": ["hund"]}, "es": {"dog": ["perro"], "cat": ["gato"]}}
    shown = kit.switch_examples(["The", "dog", "and", "cat"], dicts, {"de": {}}, 1.0, 0)
    assert list(shown.index) == ["English", "de (vendored)", "es (induced)", "all languages, p = 1"]
    assert shown.loc["de (vendored)", "sentence"] == "The hund and cat"
    assert shown.loc["es (induced)", "sentence"] == "The perro and gato"
    assert shown.loc["all languages, p = 1", "sentence"].endswith("gato[es]")


def test_cosda_table_pivot_and_figure():
    table = kit.cosda_table(runs(), COLS, 200, 0)
    assert len(table) == 8 and set(table.task) == {"apps", "POS"}
    at_zero = table[table.p == 0.0]
    assert (at_zero.gain == 0).all()
    up = table[(table.start == "base") & (table.p == 0.5) & (table.task == "apps")].iloc[0]
    assert up.gain == pytest.approx(0.5) and up.low <= up.gain <= up.high and up.English == 0.875
    pivot = kit.accuracy_pivot(table)
    assert list(pivot.index) == [("base", 0.0), ("base", 0.5), ("random init", 0.0), ("random init", 0.5)]
    assert pivot.loc[("base", 0.5), ("accuracy", "POS")] == 0.875
    fig = kit.fig_cosda(table)
    assert [ax.get_xlabel() for ax in fig.axes] == ["switching probability p"] * 2
    assert "zero-shot POS accuracy gain" in fig.axes[1].get_ylabel()
    line = fig.axes[0].containers[0].lines[0]  # apps from the base model: the gain at each p
    assert list(line.get_ydata()) == pytest.approx([0.0, 0.5])
    assert list(line.get_xdata()) == pytest.approx([-0.01, 0.49])  # drawn slightly apart


def test_language_intervals_table_and_figure():
    per = kit.language_intervals(runs(), 0.5, COLS, 200, 0)
    assert list(per) == ["apps", "POS"] and list(per["apps"]) == ["de", "zh"]
    before, after, interval = per["POS"]["de"]
    assert (before, after, interval.diff) == (0.375, 0.875, pytest.approx(0.5))
    table = kit.language_table(per)
    assert table.loc["de", "POS"].startswith("0.375 → 0.875 (+0.500 [") and pd.isna(table.loc["zh", "POS"])
    fig = kit.fig_cosda_langs(per, 0.5)
    assert [ax.get_title() for ax in fig.axes] == ["apps, p = 0.5", "POS, p = 0.5"]
    assert len(fig.axes[0].patches) == 2
    heights = [b.get_height() for b in fig.axes[1].patches]
    assert heights == pytest.approx([per["POS"]["de"][2].diff])


@pytest.mark.parametrize("base_vs_ri, ri_gain, starts", [
    ("better", "better", "part of it uses what pretraining learned, and the part"),
    ("better", "inconclusive", "part of it uses what pretraining learned."),
    ("worse", "better", "untrained weights gain more"),
    ("inconclusive", "better", "a gain that untrained weights share"),
    ("inconclusive", "worse", "neither start's gain"),
])
def test_ri_reading_every_branch(base_vs_ri, ri_gain, starts):
    assert kit.ri_reading(base_vs_ri, ri_gain).startswith(starts)


def test_glue_cosda_verdicts_status_and_languages(glued):
    up, flat, down = (iv(0.1, 0.05, 0.15), "better"), (iv(0.0, -0.1, 0.1), "inconclusive"), (iv(-0.1, -0.2, -0.05), "worse")
    verdicts = {("base", "apps"): up, ("base", "POS"): flat, ("random init", "apps"): flat, ("random init", "POS"): up}
    langs = {("apps", "de"): up, ("apps", "zh"): down, ("POS", "de"): flat}
    kit.glue_cosda(verdicts, {"apps": flat, "POS": up}, langs, down, 0.5)
    assert glued["verdict_cosda_base_apps"] == "raises" and glued["iv_cosda_ri_pos"] == "+0.100 [+0.050, +0.150]"
    assert glued["status_finding9"].startswith("partly reproduced (code-switched task data helps apps;")
    assert "p = 0.5 from the base model" in glued["status_finding9"]
    assert glued["lang_apps"] == "up for de, down for zh" and glued["lang_pos"] == "up for none, down for none"
    assert glued["verdict_base_vs_ri_apps"] == "not distinguishable between the two starting points"
    assert glued["ri_reading"].startswith("part of it uses what pretraining learned, and")
    assert glued["verdict_english_cost"] == "falls"


def gains_table(names, verdict="better"):
    cols = {}
    for m in kit.GLUED_MEASURES:
        cols[f"{m} Δ"] = [f"+0.010 [+0.001, +0.020] {n}" for n in names]
        cols[f"{m}: verdict"] = [verdict] * len(names)
    return pd.DataFrame(cols, index=names)



def test_glue_mlm_and_stand_in(glued):
    gains = gains_table([kit.CS, kit.MLM, kit.TLM])
    gains_ri = gains_table([kit.CS + kit.RI, kit.TLM + kit.RI])
    up = (iv(0.02, 0.01, 0.03), "better")
    cs_vs = {(o, m): up for o in (kit.MLM, kit.TLM)
             for m in ("weak P@1", "weak P@1 centred", "apps accuracy", "POS accuracy")}
    kit.glue_mlm(gains, gains_ri, cs_vs, (iv(0.0, -0.01, 0.01), "inconclusive"))
    assert glued["verdict_tlm_map"] == "raises" and glued["iv_mlm_pos"].endswith(kit.MLM)
    assert glued["verdict_csvs_tlm_p1c"] == "above" and glued["verdict_csvs_ri"] == "not distinguishable from"
    assert glued["iv_cs_ri_p1"].endswith(kit.CS + kit.RI) and glued["iv_tlm_ri_p1"].endswith(kit.TLM + kit.RI)
    line = kit.glue_stand_in(gains, cs_vs, mlm_steps=50, mlm_batch=4, max_length=512, tlm_steps=50,
                             tlm_tokens=607.6)
    assert line.startswith("reproduced on weak P@1, application classification, POS")
    assert line.endswith("(one seed; code-switched MLM 50 steps × 512 tokens, TLM 50 steps × about 608 tokens)")
    assert glued["tokens_per_step"] == "512" and glued["tlm_tokens"] == "608" and glued["tlm_steps"] == "50"
    assert kit.mlm_tokens_per_step(4, 64) == 256


def test_glue_references(glued):
    kit.glue_references({"weak P@1": 0.01}, {"weak P@1": 0.25, "apps accuracy": 0.5})
    assert glued == {"chance_p1": "0.0100", "lexical_p1": "0.250", "lexical_apps": "0.500"}  # counts: glue_count


def test_tlm_tokens_per_step_averages_pair_and_monolingual_tokens(monkeypatch):
    import torch

    from xalign_utils.methods import parallel

    class Batches:
        def __init__(self, tokenizer, pairs, n_pairs, max_len, seed=0, mono=None):
            pass

        def __call__(self, step):
            return {"attention_mask": torch.ones(2, 3 + step), "mono_input_ids": torch.zeros(1, 4)}

    monkeypatch.setattr(parallel, "TLMBatches", Batches)
    assert kit.tlm_tokens_per_step(None, [], n_pairs=16, max_len=128, mono=None, seed=0, steps=2) == 11.0


class Eval:
    """A made-up measured variant: its summary and tidy rows."""

    def __init__(self, summary):
        self._summary = summary

    def summary(self):
        return dict(self._summary)

    def tidy(self):
        return pd.DataFrame({"measure": list(self._summary), "value": list(self._summary.values())})


def evals():
    full = {"weak P@1": 0.3, "weak P@1 centred": 0.4, "strong mAP": 0.2, "apps accuracy": 0.6, "POS accuracy": 0.5}
    short = {"weak P@1": 0.1, "apps accuracy": 0.3}
    return {n: Eval(short if n == "random init" or kit.RI in n else full) for n in kit.SHORTS}


def test_summary_table_adds_chance_and_tfidf_below_the_variants():
    table = kit.summary_table(evals(), {"weak P@1": 0.01, "apps accuracy": 0.25, "other": 1.0},
                              {"weak P@1": 0.123456, "strong mAP": 0.3, "apps accuracy": 0.5, "hits": None})
    assert list(table.index)[-2:] == ["chance", "TF-IDF (no model)"] and "other" not in table.columns
    assert table.loc["TF-IDF (no model)", "weak P@1"] == 0.123


def test_records_every_variant_and_cosda_run(tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_METRICS_PATH", str(tmp_path / "metrics.json"))
    monkeypatch.setenv("XALIGN_RESULTS_PATH", str(tmp_path / "results.csv"))
    monkeypatch.setattr("myst_nb.glue", lambda *a, **k: None)
    kit.record_summaries(evals())
    for r in kit.variant_results(evals(), 0) + kit.cosda_results(runs(), -1, 0):
        record_results(**r)
    verdicts = {(s, t): (iv(0.1, 0.0, 0.2), "inconclusive") for s in ("base", "random init") for t in ("apps", "POS")}
    kit.record_cosda(verdicts)
    recorded = json.loads((tmp_path / "metrics.json").read_text())
    assert recorded["tlm_pos"]["value"] == 0.5 and "control_pos" not in recorded and "mlm_ri_weak_p1" in recorded
    assert recorded["cosda_ri_pos_gain"]["value"] == 0.1
    rows = pd.read_csv(tmp_path / "results.csv")
    families = rows.groupby("variant").family.first().to_dict()
    assert families["random-init-0"] == "control" and families["random-init+tlm-01-recipe"] == "control"
    assert families["csmlm"] == families["cosda-p0.5"] == "augmentation" and families["cosda-p0"] == "base"
    assert families["random-init+cosda-p0.5"] == "control" and families["mlm-plain"] == "augmentation"


def test_nb01_table_and_glue(glued):
    def rows(variant, values):
        return pd.DataFrame({"variant": variant, "src": "en", "tgt": ["de", "zh"], "layer": 4,
                             "measure": "p_at_1_cosine", "value": values})

    all_01 = pd.concat([rows("base", [0.2, 0.4]), rows("tlm", [0.3, 0.5]), rows("word-dict", [0.35, 0.45])])
    table = kit.nb01_table(all_01, 4)
    assert table["notebook 01 (recorded)"].tolist()[:3] == pytest.approx([0.3, 0.4, 0.4]) and np.isnan(table.loc["distill"].iloc[0])
    same = kit.tlm_check(all_01, rows("x", [0.3, 0.5]).drop(columns="variant"))
    assert list(same.columns) == ["rows", "re-run here (mean)", "notebook 01 (mean)", "largest |difference|"]
    assert same.loc["p_at_1_cosine"].tolist() == pytest.approx([2, 0.4, 0.4, 0.0])
    kit.glue_nb01(same, all_01, 4)
    assert glued["tlm_matches"] == "equal, on all 2 shared measures (largest difference 0.0e+00), to"
    assert glued["nb01_word_dict_gain"] == "+0.100" and glued["nb01_distill_gain"] == "+nan"
    other = kit.tlm_check(all_01, rows("x", [0.3, 0.6]).drop(columns="variant"))
    assert other.loc["p_at_1_cosine"].tolist() == pytest.approx([2, 0.45, 0.4, 0.1])
    kit.glue_nb01(other, all_01, 4)
    assert glued["tlm_matches"] == "different (largest difference 0.1) from"
    # only the rows both have are compared: a measure notebook 01 did not record is left out
    extra = pd.concat([rows("x", [0.3, 0.5]), rows("x", [0.9, 0.9]).assign(measure="map")]).drop(columns="variant")
    assert list(kit.tlm_check(all_01, extra).index) == ["p_at_1_cosine"]
    none = kit.tlm_check(all_01[all_01.variant != "tlm"], rows("x", [0.3, 0.6]))
    assert none.empty
    kit.glue_nb01(none, all_01[all_01.variant != "tlm"], 4)
    assert glued["tlm_matches"].startswith("not comparable with")


def test_nb01_recipe_reads_notebook_01s_parameters_cell(monkeypatch):
    import xalign_utils.build as build

    monkeypatch.setattr(layout, "notebook_parameters", lambda stem: {"steps": 7, "batch_size": 3, "lr": 2e-3, "seed": 0}
                        if stem == "01_parallel_data" else {})
    assert kit.nb01_recipe() == (7, 3, 2e-3)
    from xalign_utils import budget

    # at the book preset notebook 01 trains the steps its curves give it: the re-run must train the same
    monkeypatch.setattr(budget, "chapter_steps", lambda stem: {"steps": 1024} if stem == "01_parallel_data" else None)
    assert kit.nb01_recipe("book") == (1024, 3, 2e-3) and kit.nb01_recipe("ci") == (7, 3, 2e-3)
    glued = {}
    monkeypatch.setattr(kit, "glue_text", lambda k, v: glued.setdefault(k, v))
    kit.glue_recipe(*kit.nb01_recipe())
    assert glued["tlm_recipe"] == "7 steps of 3 translation pairs plus 2 monolingual sequences, learning rate 2e-3"
