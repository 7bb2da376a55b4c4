"""The vendored data and its splits: counts, alignment by key, no leakage, clear errors."""
import shutil

import pytest

from xalign_utils import data
from xalign_utils.languages import UnknownLanguageError, available
from xalign_utils.presets import PRESETS, UnknownPresetError, get_preset

# Deduplicated paragraphs per language and split (README, "Data and splits").
ROWS = {
    "en": (4833, 8242, 26595), "de": (4490, 7498, 24076), "es": (4163, 6220, 20926),
    "fr": (4449, 6574, 23490), "ru": (3507, 3920, 14902), "zh": (3808, 4261, 16705),
    "ja": (3193, 3026, 12330), "ko": (3245, 2957, 12208), "hi": (1142, 609, 3431),
    "tr": (3590, 4257, 15991), "fi": (3154, 2167, 10992), "id": (3937, 4436, 17689),
    "vi": (2756, 2608, 10647),
}
CI = PRESETS["ci"].langs


@pytest.mark.parametrize("lang", sorted(ROWS))
def test_rows_per_language_and_split(lang):
    got = tuple(len(data.corpus(lang, split)[1]) for split in data.SPLITS)
    assert got == ROWS[lang]


def test_eval_split_has_1000_paragraphs_in_every_ci_language():
    par = data.parallel(CI, "eval")
    assert len(par["key"]) >= data.EVAL_MIN_ROWS
    assert len(data.parallel(CI, "parallel")["key"]) == 515


def test_parallel_rows_are_aligned_by_key():
    par = data.parallel(("en", "de", "hi"), "parallel")
    for lang in ("en", "de", "hi"):
        rows = data.lohelp_rows(lang)
        assert all(rows[k] == t for k, t in zip(par["key"], par[lang]))
        assert len(set(par[lang])) == len(par[lang])  # no text repeats within a language


def test_splits_are_by_whole_pages_and_eval_never_leaks():
    splits = data.page_splits()
    for lang in CI:
        pages = {split: {data.page_of(k) for k in data.corpus(lang, split)[0]} for split in data.SPLITS}
        assert not pages["eval"] & (pages["pretrain"] | pages["parallel"])
        assert not pages["parallel"] & pages["pretrain"]
        assert all(splits[p] == s for s, ps in pages.items() for p in ps)
        eval_texts = set(data.corpus(lang, "eval")[1])
        assert not eval_texts & set(data.corpus(lang, "pretrain")[1])
        assert not eval_texts & set(data.corpus(lang, "parallel")[1])
        assert not eval_texts & set(data.parallel(CI, "parallel")[lang])


def test_no_eval_item_has_a_near_duplicate_in_pretrain_or_parallel():
    """After case/punctuation/digit normalisation, no eval paragraph of any language reappears in the
    training splits of any language ("Left" on an eval page, "LEFT" on a pretraining page)."""
    assert data.normalise("LEFT,") == data.normalise("Left") == "left"
    assert data.normalise("Step 12: Save!") == data.normalise("step 3 save") == "step 0 save"
    from xalign_utils.languages import available

    banned = {data.normalise(t) for lang in available("lohelp") for t in data.corpus(lang, "eval")[1]}
    for lang in available("lohelp"):
        for split in ("pretrain", "parallel"):
            texts = data.corpus(lang, split)[1]
            assert not {data.normalise(t) for t in texts} & banned, (lang, split)
    assert not {data.normalise(t) for t in data.parallel(list(CI), "parallel")["en"]} & banned


def test_disjoint_gives_each_page_to_one_language_and_matched_keeps_shared_pages():
    owners = {}
    for lang in CI:
        for key in data.corpus(lang, "pretrain", "disjoint")[0]:
            owners.setdefault(data.page_of(key), set()).add(lang)
    assert owners and all(len(v) == 1 for v in owners.values())
    sizes = {v: {lang: len(data.corpus(lang, "pretrain", v)[1]) for lang in CI} for v in data.CORPUS_VARIANTS}
    assert all(sizes["disjoint"][lang] < sizes["comparable"][lang] / 3 for lang in CI)
    # matched: the same pages in every language, about the disjoint corpus's size per language
    assert all(0.7 < sizes["matched"][lang] / sizes["disjoint"][lang] < 1.3 for lang in CI), sizes
    pages = {lang: {data.page_of(k) for k in data.corpus(lang, "pretrain", "matched")[0]} for lang in CI}
    assert len(pages["de"] & pages["ru"]) > 0.5 * len(pages["ru"])
    with pytest.raises(ValueError, match="unknown corpus variant 'shuffled'"):
        data.corpus("en", "pretrain", "shuffled")
    with pytest.raises(ValueError, match="only applies to split='pretrain'"):
        data.corpus("en", "eval", "disjoint")


def test_parallel_accepts_any_sequence_and_eval_items_split_by_length():
    assert data.parallel(["en", "de"], "eval") == data.parallel(("en", "de"), "eval")
    sentences, terms = data.eval_items(list(CI), "sentences"), data.eval_items(list(CI), "terms")
    assert len(sentences["key"]) == 409 and len(terms["key"]) == 594
    assert all(len(t.split()) >= data.SENTENCE_MIN_WORDS for t in sentences["en"])
    assert all(len(t.split()) < data.SENTENCE_MIN_WORDS for t in terms["en"])
    assert sorted(sentences["key"] + terms["key"]) == sorted(data.eval_items(list(CI), "all")["key"])
    assert set(sentences["key"]) <= set(data.parallel(list(CI), "eval")["key"])


def test_eval_sentences_are_neither_repeated_nor_quoted_in_training_text():
    items = data.eval_items(list(CI), "all")
    for lang in CI:
        norms = [data.normalise(t) for t in items[lang]]
        assert len(set(norms)) == len(norms), lang
    sentences = data.eval_items(list(CI), "sentences")
    for lang in CI:
        blob = "\x00".join(data.normalise(t) for s in ("pretrain", "parallel") for t in data.corpus(lang, s)[1])
        assert not any(data.normalise(t) in blob for t in sentences[lang]), lang
    with pytest.raises(ValueError, match="include 'en'"):
        data.eval_items(["de", "ru"])


def test_application_labels_come_from_the_page_key():
    assert data.application_of("text/scalc/01/04060101.xhp#par_id1") == "scalc"
    assert data.application_of("text/shared/01/01010000.xhp#hd_id1") is None
    labels = {data.application_of(k) for k in data.parallel(list(CI), "eval")["key"]} - {None}
    assert labels <= set(data.APPLICATIONS) and len(labels) >= 6


def test_out_of_domain_sets():
    nt = data.ntrex(["en", "de", "ar"])
    assert {len(v) for v in nt.values()} == {1997}
    src, eng = data.tatoeba("ar")
    assert len(src) == len(eng) == 1000
    pud = data.conllu("de_pud")
    assert len(pud) == 1000 and pud[0].sent_id == data.conllu("en_pud")[0].sent_id
    assert len(data.conllu("en_ewt", "dev")) == 2001
    s = pud[0]
    assert len(s.words) == len(s.upos) and {"NOUN", "VERB"} & set(s.upos)
    pairs = data.dictionary("en", "es")
    assert len(pairs) == 9210 and all(len(p) == 2 for p in pairs)
    assert data.dictionary("es", "en")[0] == pairs[0][::-1]


def test_registry_lists_every_file_with_licence():
    reg = data.registry()
    assert set(reg) == set(data.DATASETS)
    assert all(row["sha256"] and row["license"] for rows in reg.values() for row in rows)


def test_unknown_language_lists_available():
    with pytest.raises(UnknownLanguageError, match="unknown language 'xx' in lohelp; available: en de"):
        data.corpus("xx", "eval")
    with pytest.raises(UnknownLanguageError, match="in lohelp"):
        data.corpus("ar", "eval")  # Arabic exists only in the out-of-domain sets
    assert "ar" in available("ntrex")


def test_unknown_preset_and_split():
    with pytest.raises(UnknownPresetError, match="choose one of: ci, book, paper"):
        get_preset("huge")
    with pytest.raises(ValueError, match="unknown split 'test'"):
        data.corpus("en", "test")


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    dst = tmp_path / "data"
    shutil.copytree(data.data_dir(), dst, ignore=shutil.ignore_patterns("dict", "ud", "lohelp"))
    monkeypatch.setenv("XALIGN_DATA_DIR", str(dst))
    data.clear_caches()
    yield dst
    monkeypatch.undo()
    data.clear_caches()


def test_missing_file_names_path_and_manifest_entry(data_copy):
    with pytest.raises(data.DataError, match=r"missing data file .*en\.tsv\.gz \(MANIFEST entry 'lohelp/en\.tsv\.gz'\)"):
        data.corpus("en", "eval")


def test_checksum_mismatch_is_refused(data_copy):
    path = data_copy / "tatoeba" / "tatoeba.deu-eng.deu"
    path.write_text("tampered\n")
    with pytest.raises(data.DataError, match="checksum mismatch"):
        data.tatoeba("de")
