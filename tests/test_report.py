"""The method chapters' harness: a collapsed model scores chance on every measure; per-item outcomes
agree with the summary; gains are paired comparisons."""
import numpy as np
import pytest
import torch

from _helpers import ci_tokenizer, tiny_encoder
from xalign_utils import metrics
from xalign_utils.report import Harness, gain_table
from xalign_utils.transfer import UPOS

LANGS = ["en", "de", "ru"]


@pytest.fixture(scope="module")
def harness():
    return Harness(LANGS, n_fit=30, apps_train=150, pos_train_sentences=40, pos_test_sentences=20)


@pytest.fixture(scope="module")
def tokenizer():
    return ci_tokenizer()


def tiny(tokenizer, seed=0):
    return tiny_encoder(tokenizer, seed)


def collapsed(tokenizer):
    """Every hidden state of every token is the all-ones vector: weights zero, LayerNorm biases one."""
    enc = tiny(tokenizer)
    with torch.no_grad():
        for name, p in enc.model.named_parameters():
            p.fill_(1.0 if ("LayerNorm.bias" in name or "layer_norm.bias" in name) else 0.0)
    return enc


def test_a_collapsed_model_scores_chance_on_every_measure(harness, tokenizer):
    v = harness.measure(collapsed(tokenizer))
    s, chance = v.summary(), harness.chance()
    for m in ("weak P@1", "weak P@1 centred", "weak P@1 CSLS", "strong mAP", "LID probe"):
        assert s[m] == pytest.approx(chance[m], rel=1e-6), m
    assert s["apps accuracy"] == pytest.approx(1 / len(harness.apps_task["labels"]))
    assert s["POS accuracy"] == pytest.approx(1 / len(UPOS))


def test_summary_is_the_mean_of_the_per_item_outcomes_and_light_mode_keeps_two(harness, tokenizer):
    enc = tiny(tokenizer, seed=1)
    v = harness.measure(enc, pos=False)
    assert v.summary()["weak P@1"] == pytest.approx(float(np.asarray(v.outcome("weak P@1")).mean()))
    assert v.summary()["strong mAP"] == pytest.approx(metrics.strong_alignment(
        {l: enc.encode([harness.texts[l][i] for i in range(harness.n_items)]) for l in LANGS})["map"], rel=1e-5)
    with pytest.raises(ValueError, match="without POS accuracy"):
        v.outcome("POS accuracy")
    light = harness.measure(enc, full=False)
    assert set(light.summary()) == {"weak P@1", "apps accuracy"}
    assert light.summary()["weak P@1"] == pytest.approx(v.summary()["weak P@1"])
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
    embs = {l: enc.encode(h.texts[l]) for l in ("de", "ru")}
    direct = retrieval_hits(embs, src="de")["ru"]
    assert np.allclose(v.hits["cosine non-English"]["de→ru"], direct, atol=1e-6)
    rows = v.tidy()
    got = rows[(rows.src == "de") & (rows.tgt == "ru")]
    assert len(got) == 1 and got.value.iloc[0] == pytest.approx(direct.mean())
    flat = h.measure(collapsed(tokenizer), pos=False).summary()
    assert flat["weak P@1 X→Y (no English)"] == pytest.approx(h.chance()["weak P@1 X→Y (no English)"])


def test_per_language_encoders_route_each_language_through_its_own_model(harness, tokenizer):
    """PerLanguage (MAD-X-style: one encoder per language): the same encoder for every language gives
    the plain encoder's numbers; one collapsed encoder per language scores chance; and the texts of a
    language really go through that language's encoder (a collapsed English encoder alone kills every
    en->X retrieval and the English-trained heads)."""
    from xalign_utils.models import PerLanguage

    enc = tiny(tokenizer, seed=2)
    plain = harness.measure(enc)
    same = harness.measure(PerLanguage({l: enc for l in LANGS}, "same everywhere"))
    for m in ("weak P@1", "weak P@1 centred", "weak P@1 CSLS", "strong mAP", "LID probe", "apps accuracy", "POS accuracy"):
        assert same.summary()[m] == pytest.approx(plain.summary()[m], abs=1e-9), m
    dead = harness.measure(PerLanguage({l: collapsed(tokenizer) for l in LANGS}, "collapsed"))
    chance = harness.chance()
    for m in ("weak P@1", "weak P@1 centred", "strong mAP", "LID probe", "apps accuracy", "POS accuracy"):
        assert dead.summary()[m] == pytest.approx(chance[m], rel=1e-6), m
    mixed = harness.measure(PerLanguage({"en": collapsed(tokenizer), "de": enc, "ru": enc}, "dead English"), pos=False)
    assert mixed.summary()["weak P@1"] == pytest.approx(chance["weak P@1"], rel=1e-6)
    assert mixed.summary()["apps accuracy"] == pytest.approx(1 / len(harness.apps_task["labels"]))
