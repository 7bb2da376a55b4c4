"""SimAlign Argmax word alignment: a hand-aligned pair, ties, scores by hand, word splitting, a real encoder."""
import numpy as np
import pytest

from _helpers import ci_tokenizer
from xalign_utils.methods import word_alignment as W
from xalign_utils.models import random_init_encoder


@pytest.fixture(scope="module")
def tokenizer():
    return ci_tokenizer()


def _vectors(words, concept_of, meaning, offset, rng):
    """Word vectors = the word's concept vector + a language offset + a little noise."""
    return np.stack([meaning[concept_of[w]] + offset + rng.normal(scale=0.01, size=offset.shape) for w in words])


def test_argmax_recovers_a_hand_aligned_pair_with_reordering(rng):
    en = "the red house is old".split()
    es = "la casa roja es vieja".split()
    gold = [(0, 0), (1, 2), (2, 1), (3, 3), (4, 4)]  # aligned by hand: red-roja, house-casa cross
    concept = {"the": 0, "la": 0, "red": 1, "roja": 1, "house": 2, "casa": 2, "is": 3, "es": 3, "old": 4, "vieja": 4}
    meaning = rng.normal(size=(5, 16))
    src = _vectors(en, concept, meaning, rng.normal(size=16) * 0.5, rng)
    tgt = _vectors(es, concept, meaning, rng.normal(size=16) * 0.5, rng)
    assert W.argmax_alignment(src, tgt) == gold
    assert W.alignment_scores([W.argmax_alignment(src, tgt)], [gold]) == W.AlignmentScores(1.0, 1.0, 1.0, 0.0)


def test_argmax_keeps_only_mutual_best_matches():
    # source 0 and 1 both prefer target 0; target 0 prefers source 1: only (1, 0) is mutual.
    src = np.array([[1.0, 0.2], [1.0, 0.0]])
    tgt = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert W.argmax_alignment(src, tgt) == [(1, 0)]


def test_a_collapsed_model_aligns_nothing():
    same = np.ones((4, 8))
    assert W.argmax_alignment(same, same) == []
    zeros = np.zeros((3, 8))
    assert W.argmax_alignment(zeros, np.eye(8)[:3]) == []
    assert W.argmax_alignment(np.zeros((0, 8)), np.eye(8)[:3]) == []


def test_alignment_scores_by_hand():
    pred = [[(0, 0), (1, 1)]]
    gold = [[(0, 0), (1, 2), (2, 1)]]
    s = W.alignment_scores(pred, gold)
    assert s.precision == 1 / 2 and s.recall == 1 / 3  # counts divided: exact
    assert s.f1 == pytest.approx(2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3), rel=1e-15)  # float64, a few operations
    assert s.aer == pytest.approx(1 - 2 * 1 / (2 + 3), rel=1e-15)
    with pytest.raises(ValueError, match="no gold links"):
        W.alignment_scores([[]], [[]])


def test_split_words_per_script():
    assert W.split_words("Экономика России.") == ["Экономика", "России", "."]
    assert W.split_words("经济发展 (GDP)") == ["经", "济", "发", "展", "(", "GDP", ")"]
    assert W.split_words("नमस्ते दुनिया") == ["नमस्ते", "दुनिया"]  # vowel signs stay in the word
    assert W.split_words("Click OK, then Save_As") == ["Click", "OK", ",", "then", "Save_As"]


def test_a_sentence_aligned_with_itself_gives_the_diagonal_through_a_real_encoder(tokenizer):
    enc = random_init_encoder("ci", tokenizer, seed=0)
    sents = [W.split_words("Choose Format - Cells and click the Numbers tab."), W.split_words("经济发展很快")]
    vecs = W.word_vectors(enc, sents)
    assert [v.shape for v in vecs] == [(len(s), enc.hidden_size) for s in sents]
    assert not np.isnan(vecs[1]).any()
    links = W.align(enc, sents, sents)
    assert links == [[(i, i) for i in range(len(s))] for s in sents]


def test_word_vectors_average_content_pieces_not_the_bare_space(tokenizer):
    """A Chinese character pre-split as a word often becomes "▁" + the character: its vector must be the
    character piece's hidden state, not the mean with the "▁" piece."""
    import torch

    enc = random_init_encoder("ci", tokenizer, seed=0)
    words = ["中国", "经济", "国", "घर"]
    batch = enc.tokenizer([words], is_split_into_words=True, return_tensors="pt")
    pieces = enc.tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    with torch.inference_mode():
        hidden = enc.model.base_model(**batch, output_hidden_states=True).hidden_states[-1][0]
    vecs = W.word_vectors(enc, [words])[0]
    checked = 0
    for w in range(len(words)):
        positions = [p for p, x in enumerate(batch.word_ids(0)) if x == w]
        content = [p for p in positions if pieces[p] != "▁"]
        if len(content) < len(positions):  # this word has a bare ▁ piece
            # float32 hidden states of O(1), batched vs by hand: a few ulp (~1e-6)
            np.testing.assert_allclose(vecs[w], hidden[content].mean(0).numpy(), atol=1e-5)
            checked += 1
    assert checked, "the test needs a word whose pieces include a bare ▁"


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="split_words"):
        W.word_vectors(None, ["a plain string"])
    with pytest.raises(ValueError, match="one width"):
        W.argmax_alignment(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="min_count"):
        W.induce_word_pairs(None, ["a"], ["b"], min_count=0)
