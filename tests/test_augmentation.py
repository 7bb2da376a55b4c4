"""Dictionary code-switching and dictionary induction against hand-made cases."""
import numpy as np
import pytest
import torch

from xalign_utils.methods import augmentation as A

DICTS = {"de": {"file": ["datei"], "open": ["öffnen", "aufmachen"], "the": ["die", "der", "das"]},
         "ru": {"file": ["файл"], "save": ["сохранить"]}}
WORDS = ["Open", "the", "file", "and", "save", "it", "."]
TAGS = ["VERB", "DET", "NOUN", "CCONJ", "VERB", "PRON", "PUNCT"]


def test_p0_is_the_identity_and_p1_replaces_every_word_with_an_entry():
    same, langs = A.code_switch(WORDS, DICTS, 0.0, np.random.default_rng(0))
    assert same == WORDS and langs == [None] * len(WORDS)
    for seed in range(20):
        out, langs = A.code_switch(WORDS, DICTS, 1.0, np.random.default_rng(seed))
        has_entry = [any(w.lower() in d for d in DICTS.values()) for w in WORDS]
        assert [l is not None for l in langs] == has_entry
        for w, new, lang in zip(WORDS, out, langs):
            if lang is None:
                assert new == w
            else:
                assert new.lower() in DICTS[lang][w.lower()]
    assert A.code_switch(["Open"], {"de": {"open": ["öffnen"]}}, 1.0, np.random.default_rng(0))[0] == ["Öffnen"]


def test_code_switching_keeps_word_label_alignment_and_is_deterministic():
    sents = [WORDS, WORDS[:3], ["save", "."]]
    a, la = A.code_switch_corpus(sents, DICTS, 0.5, seed=3)
    b, lb = A.code_switch_corpus(sents, DICTS, 0.5, seed=3)
    assert a == b and la == lb
    assert [len(s) for s in a] == [len(s) for s in sents]  # one word for one word: tags stay aligned
    c, _ = A.code_switch_corpus(sents * 10, DICTS, 0.5, seed=4)
    assert c != A.code_switch_corpus(sents * 10, DICTS, 0.5, seed=3)[0]  # another seed, other switches
    rate = np.mean([l is not None for ls in A.code_switch_corpus([WORDS] * 400, DICTS, 0.3, seed=0)[1] for l in ls])
    # 4 of 7 words have an entry: 1600 Bernoulli(0.3) draws over 2800 words, a standard deviation of 0.0065:
    # 0.03 is 4.6 of them
    assert rate == pytest.approx(0.3 * 4 / 7, abs=0.03)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        A.code_switch(WORDS, DICTS, 1.5, np.random.default_rng(0))


def test_code_switch_texts_keeps_everything_between_words():
    texts = ["Open  the file.", "Save it (Calc)."]
    assert A.code_switch_texts(texts, {"de": {"file": ["datei"]}}, 0.0) == texts
    assert A.code_switch_texts(texts, {"de": {"file": ["datei"], "calc": ["kalk"]}}, 1.0) == [
        "Open  the datei.", "Save it (Kalk)."]
    protected = A.code_switch_texts(texts, {"de": {"file": ["datei"], "calc": ["kalk"]}}, 1.0,
                                    protect=lambda w: w == "Calc")
    assert protected == ["Open  the datei.", "Save it (Calc)."]


def test_the_random_stream_does_not_depend_on_p_or_on_entries():
    # a word's fate depends only on its own draws: adding an entry for one word leaves the others alone
    words = ["open", "the", "file", "and", "save"] * 20
    a, la = A.code_switch_corpus([words], {"de": {"file": ["datei"]}}, 0.5, seed=1)
    b, lb = A.code_switch_corpus([words], {"de": {"file": ["datei"], "open": ["öffnen"]}}, 0.5, seed=1)
    assert [x for x, w in zip(la[0], words) if w == "file"] == [x for x, w in zip(lb[0], words) if w == "file"]
    # and a word switched at p is switched at every larger p
    c, lc = A.code_switch_corpus([words], {"de": {"file": ["datei"]}}, 0.8, seed=1)
    assert all(y is not None for x, y in zip(la[0], lc[0]) if x is not None)


def test_induced_dictionary_and_its_precision_on_a_hand_made_case():
    linked = [(["the", "file", "opens", "2"], ["die", "datei", "öffnet", "2"], [(0, 0), (1, 1), (2, 2), (3, 3)]),
              (["the", "file"], ["der", "datei"], [(0, 0), (1, 1)]),
              (["a", "file", "Calc"], ["eine", "akte", "Calc"], [(0, 0), (1, 1), (2, 2)]),
              (["opens"], ["öffnet"], [(0, 0)])]
    induced = A.induce_dictionary(linked, min_count=2)
    # 'the' -> die/der once each (dropped); '2' and 'Calc' are skipped (no letter / identical string)
    assert induced == {"file": ["datei"], "opens": ["öffnet"]}
    assert A.induce_dictionary(linked, min_count=1)["file"] == ["datei", "akte"]
    reference = {"file": ["datei", "akte"], "opens": ["öffnen"], "house": ["haus"]}
    # shared words: file (datei listed: hit), opens (öffnet not listed: miss)
    assert A.precision_at_1(induced, reference) == (0.5, 2)
    assert np.isnan(A.precision_at_1({"x": ["y"]}, reference)[0])
    assert A.coverage(["The", "file", "2", "."], {"file": ["datei"]}) == 0.5
    with pytest.raises(ValueError, match="min_count"):
        A.induce_dictionary(linked, min_count=0)


def test_text_mlm_batches_are_deterministic_and_train_mlm_leaves_the_start_unchanged():
    from transformers import AutoTokenizer

    from xalign_utils.checkpoints import shipped_checkpoint
    from xalign_utils.models import Encoder, random_init_model
    from xalign_utils.presets import get_preset

    tok = AutoTokenizer.from_pretrained(shipped_checkpoint("ci"))
    texts = ["Open the file and save it. " * 3, "Select the cell in the sheet. " * 3] * 8
    b = A.TextMLMBatches(tok, texts, batch_size=2, max_len=16)
    assert torch.equal(b(3)["input_ids"], b(3)["input_ids"]) and b(3)["input_ids"].shape == (2, 16)
    cfg = get_preset("ci").with_changes(model={"hidden_size": 32, "num_hidden_layers": 1, "intermediate_size": 64})
    enc = Encoder(random_init_model(cfg, seed=0, tokenizer=tok), tok, name="tiny")
    before = {k: v.clone() for k, v in enc.model.state_dict().items()}
    trained, losses = A.train_mlm(enc, texts, steps=3, batch_size=2, max_len=16)
    assert len(losses) == 3 and np.isfinite(losses).all()
    assert all(torch.equal(before[k], v) for k, v in enc.model.state_dict().items())
    with pytest.raises(ValueError, match="no full sequence"):
        A.TextMLMBatches(tok, ["short"], max_len=64)


def test_switched_pos_sentences_keep_one_feature_and_one_tag_per_word():
    """Through the POS feature extractor: a translation that the tokenizer cuts into several pieces
    still gives one feature per word, with the original word's tag."""
    from transformers import AutoTokenizer

    from xalign_utils import data
    from xalign_utils.checkpoints import shipped_checkpoint
    from xalign_utils.models import Encoder, random_init_model
    from xalign_utils.presets import get_preset
    from xalign_utils.transfer import UPOS, word_features

    tok = AutoTokenizer.from_pretrained(shipped_checkpoint("ci"))
    cfg = get_preset("ci").with_changes(model={"hidden_size": 32, "num_hidden_layers": 1, "intermediate_size": 64})
    enc = Encoder(random_init_model(cfg, seed=0, tokenizer=tok), tok, name="tiny")
    hindi = {"hi": {"file": ["फ़ाइलप्रबंधक"], "open": ["खोलना"]}}
    assert len(tok("फ़ाइलप्रबंधक", add_special_tokens=False)["input_ids"]) > 1  # several pieces
    words, _ = A.code_switch(WORDS, hindi, 1.0, np.random.default_rng(0))
    sent = data.Sentence("s1", tuple(words), tuple(TAGS))
    feats, tags, sent_of, dropped = word_features(enc, [sent], layer=-1)
    assert len(feats) == len(WORDS) and dropped == 0
    assert [UPOS[t] for t in tags] == TAGS and words[2] == "फ़ाइलप्रबंधक"
