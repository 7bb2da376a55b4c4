"""The method chapters' harness: a collapsed model scores exactly chance on every measure, and so does
one whose outputs differ only by rounding; per-item outcomes agree with the summary; gains are paired
comparisons."""
import numpy as np
import pytest

from _helpers import EXACT, ci_tokenizer, collapsed_encoder, tiny_encoder
from xalign_utils import measures
from xalign_utils import metrics
from xalign_utils.harness import Harness, gain_table

LANGS = ["en", "de", "ru"]


@pytest.fixture(scope="module")
def harness():
    return Harness(LANGS, n_fit=30, apps_train=150, pos_train_sentences=40, pos_test_sentences=20)


@pytest.fixture(scope="module")
def tokenizer():
    return ci_tokenizer()


def tiny(tokenizer, seed=0):
    return tiny_encoder(tokenizer, seed)


def as_measured(h, enc, langs=LANGS):
    """The eval sentences' embeddings encoded as `Harness.measure` encodes them: all its rows in one call
    per language (the same batches, hence the same float32 rounding; other batches pad differently
    and round differently, which can swap candidates that sit on a tie-grid line)."""
    embs = {l: enc.encode([h.items[l][r] for r in h.rows], layer="all")[-1][h._sent] for l in langs}
    assert all(np.array_equal([h.items[l][h.rows[i]] for i in h._sent], h.texts[l]) for l in langs)
    return embs


def collapsed(tokenizer):
    """Every hidden state of every token is exactly the all-ones vector (`collapsed_encoder`)."""
    return collapsed_encoder(tokenizer)


def test_the_collapsed_fixture_is_exactly_constant(tokenizer):
    """Pooled embeddings at every layer and the POS head's word features: all exactly 1, whatever the length."""
    from xalign_utils import data
    from xalign_utils.transfer import word_features

    enc = collapsed(tokenizer)
    assert (enc.encode(["OK", "Klicken Sie auf OK.", "中国经济发展 " * 40], layer="all") == 1).all()
    assert (word_features(enc, data.conllu("de_pud")[:5])[0] == 1).all()


@pytest.fixture(scope="module")
def collapsed_eval(harness, tokenizer):
    return harness.measure(collapsed(tokenizer))


def test_a_collapsed_model_scores_chance_on_every_measure(harness, collapsed_eval):
    s, chance = collapsed_eval.summary(), harness.chance()
    assert set(s) == set(chance) - {"weak P@1 X→Y (no English)"}
    for m in s:
        assert s[m] == pytest.approx(chance[m], rel=EXACT), m
    assert s["apps accuracy"] == 1 / len(harness.apps_task["labels"])  # a mean of 1/8s: exact in binary


def test_a_model_that_differs_only_by_rounding_scores_bit_identically(harness, tokenizer, collapsed_eval):
    """One vector for every text up to float32 rounding (about 1e-7 relative, the last LayerNorm's
    gain): every measure gives exactly the collapsed model's numbers, per item. Two models without
    information that differ only in their noise (the stand-in for two CPUs' kernels) agree bit for bit."""
    v = harness.measure(collapsed_encoder(tokenizer, noise=1e-7, seed=1))
    assert v.summary() == collapsed_eval.summary()
    for m in set(v.summary()) - {"same-language bias"}:  # every measure with per-item outcomes
        assert np.array_equal(np.asarray(v.outcome(m)), np.asarray(collapsed_eval.outcome(m))), m


def test_summary_is_the_mean_of_the_per_item_outcomes_and_light_mode_keeps_two(harness, tokenizer):
    enc = tiny(tokenizer, seed=1)
    v = harness.measure(enc, pos=False)
    assert v.summary()["weak P@1"] == float(np.asarray(v.outcome("weak P@1")).mean())  # the same mean
    strong = metrics.strong_alignment(as_measured(harness, enc), per_item=True)  # the harness's inputs
    assert np.array_equal(v.outcome("strong mAP"), strong["ap_per_item"])
    assert v.summary()["strong mAP"] == pytest.approx(strong["map"], rel=EXACT)  # means in another order
    with pytest.raises(ValueError, match="without POS accuracy"):
        v.outcome("POS accuracy")
    light = harness.measure(enc, full=False)
    assert set(light.summary()) == {"weak P@1", "apps accuracy"}
    assert light.summary()["weak P@1"] == v.summary()["weak P@1"]  # the same computation
    rows = light.tidy()
    assert set(rows.measure) == {"p_at_1_cosine", "apps_accuracy", "apps_majority", "apps_macro_f1", "apps_gap"}


def test_gain_table_is_a_paired_comparison(harness, tokenizer):
    a = harness.measure(tiny(tokenizer, seed=2), "a", pos=False)
    b = harness.measure(tiny(tokenizer, seed=3), "b", pos=False)
    t = gain_table({"a": a, "a again": a, "b": b}, "a", ["weak P@1", "strong mAP"], resamples=500)
    assert t.loc["a again", "weak P@1 Δ"].startswith("+0.000 [+0.000, +0.000]")
    assert t.loc["a again", "weak P@1: verdict"] == "inconclusive"
    iv, _ = metrics.compare(np.asarray(b.outcome("weak P@1")), np.asarray(a.outcome("weak P@1")), 500, 0)
    assert t.loc["b", "weak P@1 Δ"] == str(iv)


def test_bad_harness_parameters_are_refused():
    with pytest.raises(ValueError, match="include 'en'"):
        Harness(["de", "ru"])
    with pytest.raises(ValueError, match="n_fit must be positive"):
        Harness(LANGS, n_fit=0)


def test_non_english_pairs_are_measured_directly_and_a_collapsed_model_gets_chance(tokenizer):
    from xalign_utils.evaluate import retrieval_hits

    h = Harness(LANGS, n_fit=30, apps_train=150, pos_train_sentences=40, pos_test_sentences=20, non_english=True)
    assert h.non_english_pairs == [("de", "ru"), ("ru", "de")]
    enc = tiny(tokenizer, seed=4)
    v = h.measure(enc, pos=False, full=False)
    direct = retrieval_hits(as_measured(h, enc, ["de", "ru"]), src="de")["ru"]
    assert np.array_equal(v.hits["cosine non-English"]["de→ru"], direct)
    rows = v.tidy()
    got = rows[(rows.src == "de") & (rows.tgt == "ru")]
    assert len(got) == 1 and got.value.iloc[0] == direct.mean()  # the same mean of the same hits
    flat = h.measure(collapsed(tokenizer), pos=False).summary()
    assert flat["weak P@1 X→Y (no English)"] == pytest.approx(h.chance()["weak P@1 X→Y (no English)"], rel=EXACT)


def test_per_language_encoders_route_each_language_through_its_own_model(harness, tokenizer):
    """PerLanguage (MAD-X-style: one encoder per language): the same encoder for every language gives
    the plain encoder's numbers; one collapsed encoder per language scores chance; and the texts of a
    language really go through that language's encoder (a collapsed English encoder alone kills every
    en->X retrieval and the English-trained heads)."""
    from xalign_utils.models import PerLanguage

    enc = tiny(tokenizer, seed=2)
    plain = harness.measure(enc)
    same = harness.measure(PerLanguage({l: enc for l in LANGS}, "same everywhere"))
    # the same encoder calls on the same texts (centring paragraphs, PUD sets): the same numbers, bit for bit
    assert same.summary() == plain.summary()
    dead = harness.measure(PerLanguage({l: collapsed(tokenizer) for l in LANGS}, "collapsed"))
    chance = harness.chance()
    for m, value in dead.summary().items():
        assert value == pytest.approx(chance[m], rel=EXACT), m
    # every English query is the same vector, so whichever targets win, they win for every query: one
    # hit over all items, exactly chance on every machine, however the kernels round the targets
    mixed = harness.measure(PerLanguage({"en": collapsed(tokenizer), "de": enc, "ru": enc}, "dead English"), pos=False)
    for m in ("weak P@1", "weak P@1 centred", "weak P@1 CSLS"):
        assert mixed.summary()[m] == pytest.approx(chance[m], rel=EXACT), m
    assert mixed.summary()["apps accuracy"] == 1 / len(harness.apps_task["labels"])  # exact: a mean of 1/8s


def item_key(row, layer):
    """The `item_outcomes` entry (measure, column) behind one tidy row of a `VariantEval` (its docstring)."""
    if row.measure.startswith("p_at_1_"):
        if row.src != "en":
            return "p_at_1_cosine_non_english", f"{row.src}→{row.tgt}"
        return (row.measure if row.layer == layer else f"{row.measure}@{row.layer}"), row.tgt
    if row.measure in ("strong_map", "lid_probe"):
        return row.measure, "all"
    if row.measure.split("_", 1)[1] in ("accuracy", "majority") and row.tgt not in ("en", "en_ewt"):
        return row.measure, row.tgt
    return None  # no per-item form (bias, macro F1, gap) or English


def test_item_outcomes_are_the_items_behind_every_tidy_row(tokenizer):
    """Every per-item array's mean is its tidy row's value, and every tidy row with a per-item form has
    one. Tolerance EXACT: the same float64 numbers summed in another order (pandas vs numpy), and for
    POS per-sentence sums scaled by sentences/words (a few ulp each, n < 9000 terms)."""
    h = Harness(LANGS, n_fit=30, apps_train=150, pos_train_sentences=40, pos_test_sentences=20, also_layer=0,
                non_english=True)
    v = h.measure(tiny(tokenizer, seed=5))
    items = v.item_outcomes()
    assert {"p_at_1_cosine", "p_at_1_cosine_centred", "p_at_1_csls", "p_at_1_cosine@0", "p_at_1_cosine_non_english",
            "strong_map", "lid_probe", "apps_accuracy", "apps_majority", "pos_accuracy", "pos_majority"} == set(items)
    assert set(items["p_at_1_cosine"]) == {"de", "ru"} and set(items["apps_accuracy"]) == {"de", "ru"}
    assert set(items["p_at_1_cosine_non_english"]) == {"de→ru", "ru→de"}
    measures.check_names([*items, *v.tidy().measure])  # one registry of tidy names (encoder and decoder)
    used = set()
    for row in v.tidy().itertuples():
        key = item_key(row, v.layer)
        if key is None:
            continue
        x = items[key[0]][key[1]]
        assert x.dtype == np.float64 and x.ndim == 1
        assert x.mean() == pytest.approx(row.value, rel=EXACT, abs=EXACT), (row.measure, key)
        if not row.measure.startswith("pos_"):  # POS: n counts words, the items are sentences
            assert len(x) == row.n, key
        used.add(key)
    assert used == {(m, c) for m, cols in items.items() for c in cols}  # nothing stored without its row
    np.testing.assert_array_equal(items["strong_map"]["all"], v.outcome("strong mAP"))
    np.testing.assert_array_equal(np.column_stack([items["pos_accuracy"][c] for c in ("de", "ru")]),
                                  v.outcome("POS accuracy")[["de", "ru"]].to_numpy())
    light = h.measure(tiny(tokenizer, seed=5), full=False).item_outcomes()
    assert set(light) == {"p_at_1_cosine", "p_at_1_cosine@0", "p_at_1_cosine_non_english", "apps_accuracy", "apps_majority"}


def test_a_variant_eval_round_trips_through_record_results(harness, collapsed_eval, tmp_path, monkeypatch):
    import pandas as pd

    from xalign_utils import record as rec
    from xalign_utils.harness import with_rows

    path = tmp_path / "r.csv"
    monkeypatch.setenv("XALIGN_RESULTS_PATH", str(path))
    monkeypatch.setattr(rec, "_recorded", {})
    extra = pd.DataFrame([{"src": "all", "tgt": "all", "layer": 1, "measure": "trained_parameters", "value": 7.0, "n": -1}])
    rec.record_results("collapsed", collapsed_eval)
    rec.record_results("collapsed + rows", with_rows(collapsed_eval, extra))
    rows = rec.read_results(path)
    assert len(rows[rows.variant == "collapsed"]) == len(collapsed_eval.tidy())
    assert rows[rows.variant == "collapsed + rows"].measure.tolist()[-1] == "trained_parameters"
    items = rec.read_items(rec.items_path(path))
    for name in ("collapsed", "collapsed + rows"):
        got = items[(name, 0)]
        for m, cols in collapsed_eval.item_outcomes().items():
            for c, x in cols.items():
                np.testing.assert_array_equal(got[m][c], x)
