"""The evaluation protocol: nothing fitted on eval rows, layer checks, per-item outcomes, scripts."""
import numpy as np
import pytest

from _helpers import EXACT
from xalign_utils import data, metrics
from xalign_utils.evaluate import (alignment_table, by_script, choose_layer, evaluate_alignment, fit_centring,
                                   parallel_texts, retrieval_hits, scripts_of)
from xalign_utils.languages import UnknownLanguageError, available
from xalign_utils.models import Encoder
from xalign_utils.toy import toy_space


class SpyEncoder(Encoder):
    """A fake 2-layer encoder that hashes texts to vectors and remembers every text it was given."""

    def __init__(self):
        self.seen: list[str] = []
        self.name = "spy"

    num_layers = 2
    hidden_size = 8

    def encode(self, texts, layer=-1, pooling="mean", batch_size=128):
        texts = list(texts)
        self.seen.extend(texts)
        rng = [np.random.default_rng(abs(hash(t)) % 2**32).normal(size=8) for t in texts]
        x = np.stack(rng).astype(np.float32)
        return np.stack([x, x + 1, x * 2]) if layer == "all" else x


@pytest.fixture(scope="module")
def eval_normalised():
    return {data.normalise(t) for lang in available("lohelp") for t in data.corpus(lang, "eval")[1]}


def test_inductive_centring_never_reads_eval_rows(eval_normalised):
    spy = SpyEncoder()
    centrings = fit_centring(spy, ["en", "de", "hi"], "all", n_fit=300)
    assert len(centrings) == 3 and len(spy.seen) == 900
    assert not {data.normalise(t) for t in spy.seen} & eval_normalised


def test_layer_choice_never_reads_eval_rows(eval_normalised):
    spy = SpyEncoder()
    layer, per_layer = choose_layer(spy, ["en", "de"], n=200)
    assert 0 <= layer <= 2 and len(per_layer) == 3
    assert not {data.normalise(t) for t in spy.seen} & eval_normalised


def test_eval_sentence_items_and_terms():
    s = parallel_texts(["en", "de"], items="sentences")
    t = parallel_texts(["en", "de"], items="terms")
    assert all(len(x.split()) >= data.SENTENCE_MIN_WORDS for x in s["en"])
    assert all(len(x.split()) < data.SENTENCE_MIN_WORDS for x in t["en"])
    assert len(parallel_texts(["en", "de"], n=10)["de"]) == 10


def test_evaluate_alignment_refuses_bad_layers_and_languages():
    spy = SpyEncoder()
    spy.layer_index = Encoder.layer_index.__get__(spy)
    spy.model = type("M", (), {"config": type("C", (), {"num_hidden_layers": 2})()})()
    with pytest.raises(ValueError, match="layer 5 is out of range for a 2-layer model"):
        evaluate_alignment(spy, ["en", "de"], layers=[5])
    with pytest.raises(UnknownLanguageError, match="unknown language 'ar' in lohelp"):
        evaluate_alignment(spy, ["en", "ar"])  # Arabic has no help text, hence no eval data
    with pytest.raises(ValueError, match="unknown items"):
        evaluate_alignment(spy, ["en", "de"], items="words")
    table = evaluate_alignment(spy, ["en", "de"], layers=[-1], n=50)
    assert set(table.layer) == {2}


def test_retrieval_hits_are_the_per_item_form_of_p_at_1(rng):
    embs = {lang: e + rng.normal(scale=0.8, size=e.shape) for lang, e in toy_space(n=60).items()}
    hits = retrieval_hits(embs, "en")
    assert list(hits.columns) == ["de", "ru", "zh"] and len(hits) == 60
    for lang in hits:
        assert hits[lang].mean() == pytest.approx(metrics.retrieval_accuracy(embs["en"], embs[lang]), rel=EXACT)
    table = alignment_table(embs, measures="weak")
    got = table[(table.measure == "p_at_1_cosine") & (table.src == "en")].set_index("tgt").value
    assert got.to_dict() == pytest.approx(hits.mean().to_dict(), rel=EXACT)  # the same hits, summed by pandas


def test_results_per_script():
    assert scripts_of(["de", "es", "ru", "zh", "hi"]) == {"Latin": ["de", "es"], "Cyrillic": ["ru"],
                                                          "Han": ["zh"], "Devanagari": ["hi"]}
    assert by_script({"de": 0.2, "es": 0.4, "ru": 0.1}) == pytest.approx({"Latin": 0.3, "Cyrillic": 0.1}, rel=EXACT)


class ConstantEncoder(SpyEncoder):
    """A collapsed model: the same vector for every text, up to float32 rounding."""

    def encode(self, texts, layer=-1, pooling="mean", batch_size=128):
        texts = list(texts)
        base = np.linspace(1, 2, 8)
        noise = np.stack([np.random.default_rng(len(t)).normal(scale=1e-7, size=8) for t in texts])
        x = (base + noise).astype(np.float32)
        return np.stack([x, x, x]) if layer == "all" else x


def test_a_collapsed_encoder_scores_chance_through_the_whole_protocol():
    from xalign_utils.evaluate import measure_protocol

    p = measure_protocol(ConstantEncoder(), ["en", "de", "ru"], n_fit=200, n_parallel=100)
    n = len(p.hits_centred)
    assert p.p_at_1("raw") == pytest.approx(1 / n, rel=EXACT) and p.p_at_1("centred") == pytest.approx(1 / n, rel=EXACT)
    assert p.per_layer["centred_transductive"].max() == pytest.approx(1 / n, rel=EXACT)
    # the language-ID probe reads nothing from the rounding noise either (it varies with text length)
    from xalign_utils import data, metrics

    items = data.eval_items(["en", "de", "ru"])
    embs = {lang: ConstantEncoder().encode(items[lang]) for lang in ("en", "de", "ru")}
    assert metrics.language_id_probe(embs) == pytest.approx(1 / 3, rel=EXACT)
