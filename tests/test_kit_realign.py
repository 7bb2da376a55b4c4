"""The realignment kit shared by notebooks 02 and 03 (`xalign_utils.kit.realign`)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from _helpers import ci_tokenizer, tiny_encoder  # noqa: E402
from xalign_utils import measures, metrics  # noqa: E402
from xalign_utils import record as records  # noqa: E402
from xalign_utils.kit import realign as R  # noqa: E402
from xalign_utils.me5 import MODEL_CARD_TATOEBA  # noqa: E402

LANGS = ["en", "de", "zh", "hi"]  # hi: on no card; NTREX has all four
SIZES = dict(items=12, ntrex=10, tatoeba=6, candidates=15)


@pytest.fixture(scope="module")
def es():
    return R.eval_set(LANGS, seed=0, **SIZES)


class Lookup:
    """An encoder that embeds a text as the vector of its row: every translation of row i gets row i's
    vector (a perfectly aligned model), or one vector for all (`collapsed`: no information)."""
    prefix, pooling, normalize = "", "mean", True

    def __init__(self, es, collapsed: bool = False, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.vec, self.collapsed, self.calls, self.name = {}, collapsed, 0, "lookup"
        groups = [es.items, es.ntrex] + [{"x": q, "en": c} for q, c in es.tatoeba.values()]
        for g in groups:
            for texts in g.values():
                for i, t in enumerate(texts):
                    self.vec.setdefault((id(g), i), rng.normal(size=8))
        self.row = {t: (id(g), i) for g in groups for texts in g.values() for i, t in enumerate(texts)}

    def encode(self, texts):
        self.calls += 1
        if self.collapsed:
            return np.ones((len(texts), 8), dtype=np.float32)
        return np.stack([self.vec[self.row[t]] for t in texts]).astype(np.float32)


def test_the_eval_set_is_seeded_sized_and_holds_the_translations(es):
    assert es.sizes() == SIZES and es.non_en == ["de", "zh", "hi"]
    assert set(es.items) == set(LANGS) and all(len(v) == SIZES["items"] for v in es.items.values())
    assert set(es.ntrex) == set(LANGS)
    assert set(es.tatoeba) == {"de", "zh"}
    assert es.card == {"de": MODEL_CARD_TATOEBA["de"], "zh": MODEL_CARD_TATOEBA["zh"]}
    from xalign_utils import data

    xs, en = data.tatoeba("de")
    q, cand = es.tatoeba["de"]
    for i, text in enumerate(q):  # query i's translation is candidate i; the rest are other English rows
        assert cand[i] == en[xs.index(text)]
    assert len(set(cand)) <= len(cand) and len(cand) == SIZES["candidates"]
    again, other = R.eval_set(LANGS, seed=0, **SIZES), R.eval_set(LANGS, seed=1, **SIZES)
    assert again.key() == es.key() and other.key() != es.key()


@pytest.mark.parametrize("bad, match", [
    (dict(items=1), "at least 2"), (dict(tatoeba=20), "above reference_tatoeba"),
    (dict(candidates=1001), "at most 1000"), (dict(ntrex=0), "reference_ntrex must be a positive"),
    (dict(items=2.5), "reference_items must be a positive integer")])
def test_bad_sizes_get_one_line_errors(bad, match):
    with pytest.raises(ValueError, match=match) as e:
        R.check_sizes(**(SIZES | bad), steps=1, batch=2, max_len=8)
    assert "\n" not in str(e.value)


def test_the_reference_sizes_parameter_is_checked_as_a_list_of_four():
    assert R.sizes([30, 20, 25, 150]) == {"items": 30, "ntrex": 20, "tatoeba": 25, "candidates": 150}
    with pytest.raises(ValueError, match="list of 4 integers"):
        R.sizes([30, 20])


def test_an_aligned_model_hits_every_item_and_a_collapsed_one_scores_chance(es):
    good = R.measure(Lookup(es), es, "good")
    assert good.summary() == {"in-domain P@1": 1.0, "NTREX P@1": 1.0, "Tatoeba accuracy": 1.0}
    flat = R.measure(Lookup(es, collapsed=True), es, "flat")
    for m, v in flat.summary().items():  # ties broken at random: the expected hit is 1 / candidates
        assert v == pytest.approx(R.chance(es)[m], abs=1e-12)
    assert R.chance(es) == {"in-domain P@1": 1 / 12, "NTREX P@1": 1 / 10, "Tatoeba accuracy": 1 / 15}


def test_outcomes_tidy_rows_and_item_outcomes_agree(es):
    ev = R.measure(Lookup(es), es, "good")
    rng = np.random.default_rng(0)
    ev.hits = {m: h.apply(lambda c: (rng.random(len(c)) < 0.5).astype(float)) for m, h in ev.hits.items()}
    tidy = ev.tidy()
    measures.check_names(tidy.measure)
    measures.check_names(ev.item_outcomes())
    tat = tidy[tidy.measure == "tatoeba_accuracy"]
    assert set(tat.tgt) == {"en"} and set(tat.src) == {"de", "zh"} and set(tat.n) == {6}
    for m, h in ev.hits.items():
        assert ev.outcome(m).mean() == pytest.approx(h.to_numpy().mean())
        if m == "Tatoeba accuracy":  # each language its own queries: one after another
            assert np.array_equal(ev.outcome(m)[:len(h)], h.iloc[:, 0].to_numpy())
        else:  # row i is the same item in every language: (items, languages), resampled together
            assert np.array_equal(ev.outcome(m), h.to_numpy())
        for col, arr in ev.item_outcomes()[R.MEASURES[m]].items():
            row = tidy[(tidy.measure == R.MEASURES[m]) & ((tidy.tgt == col) | (tidy.src == col))]
            assert float(row.value.iloc[0]) == pytest.approx(arr.mean())
    with pytest.raises(KeyError, match="was not measured"):
        ev.outcome("CKA")


def test_the_before_measurement_is_cached(es, tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_CACHE_DIR", str(tmp_path))
    enc = tiny_encoder(ci_tokenizer())
    calls = []
    real = enc.encode
    monkeypatch.setattr(enc, "encode", lambda texts: calls.append(1) or real(texts))
    first = R.measure_cached(enc, es, "tiny")
    n = len(calls)
    second = R.measure_cached(enc, es, "tiny")
    assert n > 0 and len(calls) == n  # the second came from the cache
    assert all(np.array_equal(first.outcome(m), second.outcome(m)) for m in first.hits)
    with torch.no_grad():
        next(enc.model.parameters()).add_(1.0)  # another model: measured again
    R.measure_cached(enc, es, "tiny")
    assert len(calls) == 2 * n


def test_training_pairs_get_the_prefix_and_the_trained_copy_keeps_the_conventions():
    from xalign_utils.methods import adapters as AD
    from xalign_utils.models import Encoder

    tok = ci_tokenizer()
    tiny = tiny_encoder(tok)
    ref = Encoder(tiny.model, tok, name="ref", prefix="query: ", normalize=True)
    pairs = R.prefixed([("de", "a b", "c d"), ("de", "e f", "g h")], ref)
    assert pairs == [("de", "query: a b", "query: c d"), ("de", "query: e f", "query: g h")]
    trained, _ = AD.train_lora_contrastive(ref, pairs, 2, 1, 2, 1e-2, 0, max_len=8)
    out = R.as_reference(trained, ref, "ref+lora")
    assert out.conventions() == ref.conventions() and out.name == "ref+lora"
    assert not hasattr(out.model, "peft_config")  # merged
    texts = ["a b c", "d e"]
    assert np.allclose(out.encode(texts), Encoder(trained.model, tok, **ref.conventions()).encode(texts), atol=1e-5)


def test_full_fine_tuning_can_leave_the_word_embeddings_frozen():
    from xalign_utils.methods import contrastive as CM
    from xalign_utils.models import body

    tok = ci_tokenizer()
    enc = tiny_encoder(tok, layers=1)
    pairs = [("de", f"english {i} text", f"deutsch {i} text") for i in range(6)]
    emb = lambda e: body(e.model).get_input_embeddings().weight.detach().clone()  # noqa: E731
    frozen, _ = CM.train_contrastive(enc, "infonce", pairs, 2, 4, 1e-2, 0, freeze_embeddings=True, max_len=8)
    free, _ = CM.train_contrastive(enc, "infonce", pairs, 2, 4, 1e-2, 0, max_len=8)
    assert torch.equal(emb(frozen), emb(enc)) and not torch.equal(emb(free), emb(enc))
    layer = lambda e: body(e.model).encoder.layer[0].output.dense.weight  # noqa: E731
    assert not torch.equal(layer(frozen), layer(enc))  # the rest of the body trained
    assert body(frozen.model).get_input_embeddings().weight.requires_grad  # put back after training


def _iv(d):
    return metrics.Interval(d, d - 0.01, d + 0.01, 10, 100, 0, 0.95)


def test_pairs_tables_and_glue(es, monkeypatch, tmp_path):
    before = R.measure(Lookup(es), es, "me5-small")
    evals = {"me5-small": before, "random init": R.measure(Lookup(es, collapsed=True), es)}
    evals["me5-small+infonce-full"] = before
    assert R.pairs(evals) == [("me5-small+infonce-full", "me5-small")]
    evals["me5-small+infonce-lora"] = before
    assert R.pairs(evals)[-1] == ("me5-small+infonce-lora", "me5-small+infonce-full")
    changes = {(a, b, m): (_iv(0.1), "better") for a, b in R.pairs(evals) for m in R.MEASURES}
    table, card, diff = R.tables(evals, es, changes, 200, 0)
    assert list(table.index) == [*evals, "chance"] and list(table.columns) == list(R.MEASURES)
    assert list(card.index) == ["de", "zh"]
    assert "me5-small − card" not in card.columns  # ranked among fewer than the card's 1000 candidates
    assert "not comparable" in R.card_sentence(evals, es, ["me5-small"])
    assert len(diff) == 3 * len(R.MEASURES)
    glued = {}
    import myst_nb

    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: glued.__setitem__(name, repr(value)))
    monkeypatch.setenv("XALIGN_METRICS_PATH", str(tmp_path / "metrics.json"))
    R.glue_changes("x", changes, "me5-small+infonce-full", "me5-small")
    assert glued["verdict_x_id"] == "raises" and glued["iv_x_tatoeba"] == str(_iv(0.1))
    R.glue_changes("y", {}, "a", "b")
    assert glued["verdict_y_ntrex"] == "was not compared on" and glued["iv_y_ntrex"] == "n/a"
    R.glue_setup("s", es, steps=10, batch=8, max_len=32, lr=2e-5, seconds=12.3, trained=21_300_000)
    assert glued["s_pairs_seen"] == "80" and glued["s_candidates"] == "15" and glued["s_trained"] == "21.3 M"
    R.glue_setup("n", None, steps=10, batch=8, max_len=32, lr=2e-5)
    assert glued["n_steps"] == "n/a"
    R.record_values("rl", evals, {"before": "me5-small"})
    assert glued["rl_before_id"] == "1.000"
    assert "card 94.4 %" in R.card_sentence(evals, es, ["me5-small"])
    fig = R.fig_realign(evals, es, 200, 0)
    assert [ax.get_title() for ax in fig.axes] == list(R.MEASURES)
    assert "model card" in fig.axes[-1].get_legend_handles_labels()[1]


def test_results_go_to_the_table_and_a_later_chapter_reads_them_back(es, tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_RESULTS_PATH", str(tmp_path / "r.csv"))
    before = R.measure(Lookup(es), es, "me5-small")
    after = R.measure(Lookup(es, seed=1), es)
    rng = np.random.default_rng(3)
    after.hits = {m: h.apply(lambda c: (rng.random(len(c)) < 0.7).astype(float)) for m, h in after.hits.items()}
    evals = {"me5-small": before, "me5-small+infonce-full": after}
    rows = R.results(evals, {"me5-small": "reference", "me5-small+infonce-full": "contrastive"}, 0)
    assert [(r["variant"], r["family"]) for r in rows] == [("me5-small", "reference"),
                                                           ("me5-small+infonce-full", "contrastive")]
    for r in rows:
        records.record_results(**r)
    from xalign_utils import layout

    monkeypatch.setattr(layout, "items_file", lambda preset, stem: records.items_path(tmp_path / "r.csv"))
    ours = {"me5-small": before}
    assert R.read_back(ours, "ci", "02_contrastive", 0) == "me5-small+infonce-full"
    assert all(np.array_equal(ours["me5-small+infonce-full"].outcome(m), after.outcome(m)) for m in R.MEASURES)
    other = R.measure(Lookup(es, seed=2), es, "me5-small")
    other.hits["in-domain P@1"].iloc[0, 0] = 0.5  # another "before": not the same items or model
    assert R.read_back({"me5-small": other}, "ci", "02_contrastive", 0) is None
    assert R.read_back({"me5-small": before}, "ci", "02_contrastive", 1) is None  # another seed
    monkeypatch.setattr(layout, "items_file", lambda preset, stem: tmp_path / "missing.npz")
    assert R.read_back({"me5-small": before}, "ci", "02_contrastive", 0) is None
    assert R.variant("me5-small", "lora") == "me5-small+infonce-lora"
    with pytest.raises(ValueError, match="unknown realignment"):
        R.variant("me5-small", "half")


@pytest.mark.parametrize("stem", ["02_contrastive", "03_adapters"])
@pytest.mark.parametrize("bad, match", [
    ({"reference": "xlm-r"}, "reference must be one of"), ({"reference_steps": 0}, "reference_steps must be a positive"),
    ({"reference_sizes": [30, 20, 25]}, "list of 4 integers"),
    ({"reference_sizes": [30, 20, 200, 150]}, "reference_candidates must be above reference_tatoeba")])
def test_each_chapter_refuses_bad_realignment_parameters_in_one_line(stem, bad, match):
    from xalign_utils.build import validate_parameters

    assert validate_parameters(stem, {})["reference"] == "me5-small"
    assert validate_parameters(stem, {"reference": ""})["reference"] == ""  # "" skips the section
    with pytest.raises(ValueError, match=match) as e:
        validate_parameters(stem, bad)
    assert "\n" not in str(e.value)


def test_setup_sizes_and_model_means_never_share_a_glue_key(es, monkeypatch, tmp_path):
    import myst_nb

    keys = []
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: keys.append(name))
    monkeypatch.setenv("XALIGN_METRICS_PATH", str(tmp_path / "metrics.json"))
    R.glue_setup("rl_full", es, steps=10, batch=8, max_len=32, lr=2e-5)
    setup = set(keys)
    keys.clear()
    R.record_values("rl", {}, {"full": "me5-small+infonce-full"})  # skipped: every key glued as n/a
    assert keys and not setup & set(keys)  # a duplicate glue key fails the book's render
