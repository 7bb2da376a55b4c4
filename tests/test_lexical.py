"""The lexical TF-IDF control: fitted off the eval rows, shared strings retrieve, unshared do not."""
import numpy as np
import pytest

from xalign_utils import data, metrics
from xalign_utils.evaluate import alignment_table
from xalign_utils.lexical import TfidfControl


@pytest.fixture(scope="module")
def lex():
    return TfidfControl(["en", "de"], n_fit=800)


def test_vocabulary_comes_from_pretrain_text_only(lex, monkeypatch):
    seen = []
    real = data.corpus

    def spy(lang, split="pretrain", *a, **kw):
        seen.append(split)
        return real(lang, split, *a, **kw)

    monkeypatch.setattr(data, "corpus", spy)
    TfidfControl(["en", "ru"], n_fit=50)
    assert seen and set(seen) == {"pretrain"}


def test_identical_strings_retrieve_and_disjoint_scripts_do_not(lex):
    texts = ["Insert a pivot table", "Format cells", "Page style dialog", "Print preview window"]
    x = lex.encode(texts)
    assert metrics.retrieval_accuracy(x, x) == 1.0
    cyr = lex.encode(["Вставить сводную", "Формат ячеек", "Стиль страницы", "Окно просмотра"])
    assert metrics.cosine_matrix(x, cyr).max() == 0.0  # no shared n-gram: sparse products of disjoint supports
    assert metrics.retrieval_accuracy(x, cyr) == 1 / 4  # all-zero scores: chance, a mean of 1/4s


def test_sparse_vectors_go_through_the_whole_table(lex):
    texts = data.parallel(["en", "de"], "eval")
    embs = {lang: lex.encode(texts[lang][:80]) for lang in ("en", "de")}
    t = alignment_table(embs, k=5)
    assert np.isfinite(t.value).all()
    assert {"p_at_1_csls", "cka", "strong_map", "lid_probe"} <= set(t.measure)
    with pytest.raises(TypeError, match="list of texts"):
        lex.encode("one text")
