"""xalign_utils.kit.contrastive (the kit of notebooks/02_contrastive.ipynb) on small made-up measurements."""
from __future__ import annotations

import json
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from xalign_utils import metrics
from xalign_utils.harness import VariantEval
from xalign_utils.kit import contrastive as kit
from xalign_utils.transfer import TransferResult

LANGS = ["en", "de", "ru"]
N = 24


def _result(acc: dict[str, float], n: int = N, seed: int = 0) -> TransferResult:
    rng = np.random.default_rng(seed)
    items = pd.DataFrame({l: (rng.random(n) < a).astype(float) for l, a in acc.items()})
    majority = pd.DataFrame({l: np.full(n, 0.25) for l in acc})
    table = pd.DataFrame({"lang": list(acc), "accuracy": [items[l].mean() for l in acc], "n": n})
    return TransferResult(table, items, majority)


def _eval(name: str, p: float = 0.3, seed: int = 0, full: bool = True, pos: bool = True) -> VariantEval:
    """A measured model whose hits are round(p N) of its N items per language, shuffled (seeded)."""
    rng = np.random.default_rng(seed)
    draw = lambda cols: pd.DataFrame({c: rng.permutation(np.arange(N) < round(p * N)).astype(float)  # noqa: E731
                                      for c in cols})
    hits = {"cosine": draw(["de", "ru"]), "cosine layer 1": draw(["de", "ru"]),
            "cosine non-English": draw(["de→ru", "ru→de"])}
    if full:
        hits.update({"centred": draw(["de", "ru"]), "csls": draw(["de", "ru"])})
    return VariantEval(name, 2, hits, rng.random(N) * p if full else None, 0.5,
                       (rng.random(N) < 1 - p).astype(float) if full else None,
                       _result({"en": 0.6, "de": p, "ru": p}, seed=seed),
                       _result({"en": 0.7, "de": p, "ru": p}, seed=seed + 1) if pos and full else None)


@pytest.fixture
def glued(monkeypatch, tmp_path):
    """Every myst_nb.glue call (name -> its text) and every record() into a temporary metrics.json."""
    import myst_nb

    out = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: out.__setitem__(name, repr(value)))
    monkeypatch.setenv("XALIGN_METRICS_PATH", str(tmp_path / "metrics.json"))
    out["_metrics"] = tmp_path / "metrics.json"
    return out


def _iv(diff: float, low: float, high: float) -> metrics.Interval:
    return metrics.Interval(diff, low, high, N, 100, 0, 0.95)


BETTER, WORSE, SAME = (_iv(0.1, 0.05, 0.15), "better"), (_iv(-0.1, -0.15, -0.05), "worse"), (_iv(0.0, -0.1, 0.1),
                                                                                               "inconclusive")


@pytest.fixture
def evals():
    names = ["base", "random init", *kit.KEYS.keys(), *[m + kit.RI for m in kit.THREE]]
    out = {}
    for i, n in enumerate(dict.fromkeys(names)):
        out[n] = _eval(n, p=(4 + i) / N, seed=i, full=kit.RI not in n and n != "random init",
                       pos=n in ("base", *kit.THREE))
    return out


def test_glue_setup_glues_every_parameter_the_prose_cites(glued):
    params = SimpleNamespace(steps=4, batch_size=8, lr=1e-3, tau=0.05, margin=0.3, queue_size=16, word_tau=0.1,
                             pooling="mean", negatives=[2, 4], finetune_steps=3)
    harness = SimpleNamespace(n_items=N, apps_task={"train_texts": ["a"] * 5}, pos_train=7, pos_test=3,
                              non_english_pairs=[("de", "ru"), ("ru", "de")])
    values = kit.glue_setup(params, harness, 100, 200, 4, 2, n_link_pairs=512)
    assert values["lr"] == "0.001" and values["n_link_pairs"] == "200" and values["n_drawn"] == "32"
    assert values["sweep_negatives"] == "1, 3, 7" and values["sweep_batches"] == "2, 4"
    assert glued["n_non_en_pairs"] == "2" and glued["layer"] == "4" and glued["apps_train"] == "5"


def test_link_sample_is_seeded_ordered_and_capped():
    pairs = list(range(50))
    a, b = kit.link_sample(pairs, 0, n=10), kit.link_sample(pairs, 0, n=10)
    assert a == b == sorted(a) and len(set(a)) == 10
    assert kit.link_sample(pairs, 1, n=500) == pairs


def test_lexical_xy_averages_the_non_english_pairs():
    texts = {"en": ["x"] * 5, "de": ["a", "b", "c", "d", "e"], "ru": ["a", "b", "c", "d", "e"]}
    harness = SimpleNamespace(langs=LANGS, texts=texts, non_english_pairs=[("de", "ru"), ("ru", "de")])
    tfidf = SimpleNamespace(encode=lambda t: np.eye(5)[[ord(s) - ord("a") for s in t]])
    assert kit.lexical_xy(harness, tfidf) == pytest.approx(1.0)



def test_summary_table_adds_chance_majority_and_tfidf_rows(evals, glued):
    chance = {"weak P@1": 1 / N, "strong mAP": 0.01, "LID probe": 1 / 3, "apps accuracy": 0.125}
    lexical = {"weak P@1": 0.5, kit.XY: 0.4, "strong mAP": 0.3, "apps accuracy": 0.2}
    table = kit.summary_table(evals, chance, lexical)
    assert list(table.index[-3:]) == ["chance", kit.MAJORITY, "TF-IDF (no model)"]
    assert table.loc[kit.MAJORITY, "apps accuracy"] == pytest.approx(0.25)
    assert list(table.columns) == list(kit.common.summary_frame(evals).columns)
    assert table.loc["TF-IDF (no model)", kit.XY] == 0.4 and np.isnan(table.loc["TF-IDF (no model)", "LID probe"])
    kit.glue_references(table, lexical)
    assert glued["chance_p1"] == f"{1 / N:.4f}" and glued["lexical_xy"] == "0.400"
    assert glued["pos_majority"] == "0.250" and glued["lid_chance"] == "0.333"
    assert glued["lid_base"] == f"{table.loc['base', 'LID probe']:.3f}"


def test_record_summary_records_each_measured_value(evals, glued):
    names = kit.record_summary(evals)
    stored = json.loads(glued["_metrics"].read_text())
    assert set(names) == set(stored)
    assert "infonce_pos" in stored and "infonce_margin_pos" not in stored  # POS only where measured
    assert "infonce_ri_weak_p1" in stored and "infonce_ri_lid" not in stored
    assert stored["base_weak_p1"]["value"] == pytest.approx(evals["base"].summary()["weak P@1"])


def test_fig_curves_has_a_panel_per_family_with_random_init_dotted():
    curves = {n: list(np.linspace(2, 1, 5)) for n in [*kit.KEYS, "sentence InfoNCE" + kit.RI]}
    fig = kit.fig_curves(curves, 5)
    axes = fig.axes
    assert len(axes) == 3 and axes[0].get_ylabel() == "training loss"
    labels = [line.get_label() for line in axes[0].lines]
    assert "sentence InfoNCE (random init)" in labels and "InfoNCE + queue" in labels
    assert [ax.get_title() for ax in axes] == list(kit.THREE)
    assert [line.get_label() for line in axes[1].lines] == ["word-level contrastive"]
    # a variant that was not trained is left out of its panel (no KeyError)
    fig = kit.fig_curves({"sentence InfoNCE": curves["sentence InfoNCE"]}, 5)
    assert [line.get_label() for line in fig.axes[0].lines] == ["sentence InfoNCE"] and not fig.axes[2].lines


def test_comparison_tables_name_each_comparison():
    tables = kit.comparison_tables({("sentence InfoNCE", "weak P@1"): BETTER}, {"weak P@1": SAME},
                                   {"base": WORSE}, {"sentence InfoNCE": BETTER})
    assert tables[0].index[0] == "sentence InfoNCE − distillation, weak P@1"
    assert tables[1].loc["SimCSE − no-dropout control, weak P@1", "verdict"] == "inconclusive"
    assert list(tables[2].columns) == ["weak P@1 − untrained random init", "verdict"]
    assert tables[3].loc["sentence InfoNCE", "weak P@1: from base − from random init"] == str(BETTER[0])


def test_glue_gains_reads_lower_lid_as_the_gain(evals, glued):
    measures = ["weak P@1", kit.XY, "weak P@1 centred", "weak P@1 CSLS", "strong mAP", "LID probe",
                "apps accuracy", "weak P@1, layer 1"]
    rows = {m: {f"{x} Δ": "+0.010 [+0.001, +0.020]" for x in measures + ["POS accuracy"]} for m in kit.KEYS}
    for m in kit.KEYS:
        rows[m].update({f"{x}: verdict": "better" for x in measures})
    rows["sentence InfoNCE"]["weak P@1: verdict"] = "worse"
    gains = pd.DataFrame(rows).T
    gains_ri = pd.DataFrame({m + kit.RI: {"weak P@1 Δ": f"ri {m}"} for m in kit.THREE}).T
    kit.glue_gains(gains, gains_ri, 1)
    assert glued["verdict_infonce_p1"] == "lowers" and glued["verdict_word_p1"] == "raises"
    assert glued["verdict_infonce_lid"] == "lowers" and glued["verdict_nodrop_p1best"] == "raises"
    assert glued["iv_simcse_ri_p1"] == "ri English-only SimCSE" and "iv_margin_pos" not in glued


def test_level_sentence_follows_the_verdicts():
    s = kit.level_sentence({"base": WORSE, "distillation": BETTER, "sentence InfoNCE": SAME})
    assert s.startswith("At this layer monolingual pretraining left the base model below")
    assert s.endswith("distillation ends above the untrained control.")
    s = kit.level_sentence({"base": SAME, "sentence InfoNCE": SAME})
    assert s == ("The base model is not below the untrained control at this layer; no trained model ends above "
                 "the untrained control.")


def test_glue_comparisons_glues_every_key(glued):
    vs_distill = {(v, m): SAME for v in ("sentence InfoNCE", "InfoNCE + margin")
                  for m in ("weak P@1", kit.XY, "strong mAP")}
    kit.glue_comparisons(vs_distill, {"weak P@1": BETTER, "weak P@1 centred": WORSE, kit.XY: SAME},
                         {"base": WORSE, "InfoNCE + margin": BETTER}, {m: BETTER for m in kit.THREE}, WORSE,
                         "sentence InfoNCE")
    assert glued["verdict_vs_distill_margin_map"] == "not distinguishable from"
    assert glued["verdict_simcse_control_p1"] == "above" and glued["verdict_simcse_control_p1c"] == "below"
    assert glued["verdict_level_base"] == "below" and glued["iv_level_margin"] == str(BETTER[0])
    assert glued["verdict_ends_word"] == "higher from the base model than from random init"
    assert glued["tfidf_sentence"].endswith("sentence InfoNCE is below the lexical control")
    assert glued["level_sentence"].endswith("InfoNCE + margin ends above the untrained control.")


def test_xy_ratio_is_read_only_after_an_en_x_gain(evals, glued):
    assert kit.xy_ratio(evals["sentence InfoNCE"], evals["base"], "inconclusive") == "n/a (no en→X gain)"
    s, b = evals["sentence InfoNCE"].summary(), evals["base"].summary()
    want = (s[kit.XY] - b[kit.XY]) / (s["weak P@1"] - b["weak P@1"])
    assert kit.xy_ratio(evals["sentence InfoNCE"], evals["base"], "better") == f"{want:.2f}"
    gains = pd.DataFrame({"weak P@1: verdict": {m: "better" for m in kit.THREE}})
    xy = {"sentence InfoNCE": BETTER, "word-level contrastive": WORSE, "English-only SimCSE": SAME}
    table = kit.xy_table(xy, evals, gains)
    assert list(table.columns) == ["X→Y gain", "verdict", "X→Y gain / en→X gain"]
    kit.glue_transitivity(xy, evals, gains)
    assert glued["verdict_xy_infonce"] == "rises" and glued["verdict_xy_word"] == "falls"
    assert glued["verdict_xy_simcse"] == "shows no measurable change" and glued["ratio_infonce"] == f"{want:.2f}"


def test_p1_matrix_fills_measured_directions_only(evals):
    m = kit.p1_matrix(evals["base"], LANGS)
    assert list(m.index) == LANGS and np.isnan(m.loc["de", "en"]) and np.isnan(m.loc["en", "en"])
    assert m.loc["en", "de"] == pytest.approx(evals["base"].hits["cosine"]["de"].mean())
    assert m.loc["ru", "de"] == pytest.approx(evals["base"].hits["cosine non-English"]["ru→de"].mean())
    diff = kit.p1_change(evals["base"], evals["sentence InfoNCE"], LANGS)
    assert diff.loc["en", "ru"] == pytest.approx(kit.p1_matrix(evals["sentence InfoNCE"], LANGS).loc["en", "ru"]
                                                 - m.loc["en", "ru"])


def test_figures_have_their_panels_and_labels(evals):
    names = [*kit.KEYS][:3]
    fig = kit.fig_weak_strong(evals, names, 200, 0)
    assert len(fig.axes) == 4 and fig.axes[3].get_title() == "Δ LID probe (lower: less identity)"
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == names  # top to bottom
    fig = kit.fig_transitivity(evals["base"], evals["sentence InfoNCE"], LANGS)
    assert [ax.get_title() for ax in fig.axes[:2]] == ["base model", "after sentence InfoNCE"]
    assert fig.axes[0].get_ylabel() == "query language"
    ivs = kit.per_language_intervals(evals, kit.THREE, 200, 0)
    fig = kit.fig_langs(ivs)
    assert len(fig.axes[0].patches) == 2 * 3  # a bar per target language and method
    assert fig.axes[0].patches[0].get_height() == pytest.approx(ivs["sentence InfoNCE"]["de"].diff)
    assert fig.axes[0].get_legend() is not None


def test_sweep_table_summary_and_figure(evals, glued):
    sweep = {2: evals["InfoNCE + margin"], 8: evals["InfoNCE + queue"], 4: evals["sentence InfoNCE"]}
    table = kit.sweep_table(sweep, evals["base"], 200, 0)
    assert list(table.batch) == [2, 2, 4, 4, 8, 8] and set(table.measure) == {"weak P@1", "apps accuracy"}
    assert (table.low <= table.gain).all() and (table.gain <= table.high).all()
    summary = kit.sweep_summary(sweep)
    assert list(summary.index) == [1, 3, 7] and list(summary.columns) == ["apps accuracy", "weak P@1"]
    fig = kit.fig_negatives(sweep, evals["base"], 200, 0)
    assert fig.axes[0].get_xlabel() == "in-batch negatives per row (batch size − 1)"
    sentence = kit.record_sweep(sweep, [2, 8], SAME, 2, 8)
    assert sentence == f"batch 8 − batch 2: {SAME[0]}, no difference the interval can tell from zero"
    assert set(json.loads(glued["_metrics"].read_text())) == {"infonce_batch2_weak_p1", "infonce_batch8_weak_p1"}


def test_script_groups_and_their_glue(glued, evals):
    kit.glue_groups(["de"], [], {})
    assert glued["other_langs"] == "none" and glued["iv_group_word"] == "n/a"
    assert glued["verdict_group_simcse"] == "not compared (the languages fall in one group)"
    kit.glue_groups(["de"], ["ru"], {m: WORSE for m in kit.THREE})
    assert glued["verdict_group_infonce"] == "larger for the other scripts" and glued["latin_langs"] == "German"
    ivs = kit.per_language_intervals(evals, kit.THREE, 200, 0)
    table = kit.per_language_table(evals, ivs)
    assert list(table.index) == list(kit.THREE) and list(table.columns) == ["de (Latin)", "ru (Cyrillic)"]
    assert table.loc["sentence InfoNCE", "ru (Cyrillic)"].endswith(f"({ivs['sentence InfoNCE']['ru']})")


def _finetuned(evals):
    names = ("base", "sentence InfoNCE", "word-level contrastive")
    ft_eval = {n: _eval(n + " + fine-tuned", 0.2, seed=10 + i, full=False) for i, n in enumerate(names)}
    ft_result = {n: _result({"en": 0.8, "de": 0.5, "ru": 0.4}, seed=20 + i) for i, n in enumerate(names)}
    return ft_eval, ft_result


def test_finetune_tables_and_glue(evals, glued):
    ft_eval, ft_result = _finetuned(evals)
    table = kit.finetune_table(evals, ft_eval, ft_result, LANGS)
    assert list(table.columns) == ["weak P@1 before fine-tuning", "weak P@1 after", "English accuracy (fine-tuned)",
                                   "zero-shot accuracy (non-English mean)", "de", "ru"]
    learned = {"base": BETTER, "sentence InfoNCE": BETTER, "word-level contrastive": SAME}
    survive = {n: {"lost": WORSE, "lost_base": SAME, "kept": BETTER, "transfer": WORSE}
               for n in ("sentence InfoNCE", "word-level contrastive")}
    shown = kit.finetune_tables(learned, survive)
    assert list(shown[0].index) == list(learned) and shown[1].shape == (2, 3)
    kit.glue_finetune(learned, survive, table)
    assert glued["ft_transfer_infonce"] == "transfers worse than the fine-tuned base classifier"
    assert glued["ft_transfer_word"].startswith("is not read against the fine-tuned base classifier")
    assert glued["verdict_lost_infonce"] == "falls" and glued["verdict_kept_word"] == "stays above"
    assert glued["verdict_lost_base"] == "does not measurably change" and glued["ft_learned_base"] == "beats"
    assert set(json.loads(glued["_metrics"].read_text())) == {
        f"ft_{s}_{m}" for s in ("base", "infonce", "word") for m in ("weak_p1", "apps", "apps_en")}
    fig = kit.fig_finetune(evals, ft_eval, ft_result, LANGS, 1 / N, 0.25)
    assert fig.axes[1].get_ylabel() == "accuracy of the fine-tuned classifier"
    assert "majority class" in [line.get_label() for line in fig.axes[1].lines]


def test_variant_results_names_families_and_order(evals):
    # the chapter's hidden cell records these: for r in kit.variant_results(...): record_results(**r)
    ft_eval, ft_result = _finetuned(evals)
    sweep = {2: evals["InfoNCE + margin"], 8: evals["InfoNCE + queue"]}
    rows = kit.variant_results(evals, sweep, [2, 8], ft_eval, ft_result, 0, 2)
    done = [(r["variant"], r["family"]) for r in rows]
    assert all(r["seed"] == 0 for r in rows) and len(set(done)) == len(done)
    families = dict(done)
    assert families["base"] == "base" and families["random-init-0"] == "control"
    assert families["simcse-nodropout"] == "control" and families["distill"] == "parallel"
    assert families["random-init+infonce"] == "control" and families["word-contrast"] == "contrastive"
    assert [r.get("n") for r in rows if r["variant"] == "infonce-batch8"] == [8]
    assert families["infonce+finetuned"] == "contrastive"
    assert [v for v, _ in done][:2] == ["base", "random-init-0"]
    assert [v for v, _ in done][-5:] == ["infonce-batch2", "infonce-batch8", "base+finetuned", "infonce+finetuned",
                                        "word-contrast+finetuned"]
    assert rows[0]["table"] is evals["base"]
    assert not hasattr(kit, "record_variants")


def test_variant_results_record_what_the_old_kit_call_recorded(evals, tmp_path, monkeypatch):
    # recording the returned arguments writes one results file with every variant, in order
    from xalign_utils import record

    monkeypatch.setenv("XALIGN_RESULTS_PATH", str(tmp_path / "results.csv"))
    ft_eval, ft_result = _finetuned(evals)
    rows = kit.variant_results(evals, {2: evals["InfoNCE + margin"], 8: evals["InfoNCE + queue"]}, [2, 8],
                               ft_eval, ft_result, 0, 2)
    for r in rows:
        record.record_results(**r)
    table = record.read_results(tmp_path / "results.csv")
    assert list(dict.fromkeys(table.variant)) == [r["variant"] for r in rows]
    assert len(table[table.variant == "infonce-batch8"]) == len(evals["InfoNCE + queue"].tidy())


def test_glue_status(glued):
    rows = {}
    for m in kit.KEYS:
        rows[m] = {f"{x}: verdict": "better" for x in ("weak P@1", "apps accuracy", "POS accuracy")}
        rows[m].update({f"{x} Δ": f"Δ{x}" for x in ("weak P@1", "apps accuracy", "POS accuracy")})
    gains = pd.DataFrame(rows).T
    gains.loc["word-level contrastive", "apps accuracy: verdict"] = "inconclusive"
    table = pd.DataFrame({"apps accuracy": {"base": 0.5, kit.MAJORITY: 0.25},
                          "POS accuracy": {"base": 0.6, kit.MAJORITY: 0.2}})
    learned = {"base": BETTER, "sentence InfoNCE": BETTER, "word-level contrastive": BETTER}
    survive = {n: {"transfer": WORSE} for n in ("sentence InfoNCE", "word-level contrastive")}
    s6, s5 = kit.glue_status(gains, {("sentence InfoNCE", "weak P@1"): BETTER}, {"weak P@1": BETTER}, learned,
                             survive, table, 8)
    assert s6 == "reproduced" and s5.startswith("reproduced (transfer gains are less reliable: 3 of 6")
    assert glued["status_finding6"].startswith("reproduced: weak P@1 over the base model")
    assert glued["status_finding5"].endswith("against majority baselines 0.250 and 0.200)")
    assert not hasattr(kit, "glue_count")  # the chapter counts with Verdicts.glue_count
