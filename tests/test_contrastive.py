"""Contrastive objectives against hand computations: InfoNCE on a 3x3 case, the additive margin, the
negative queue, word-level InfoNCE, SimCSE's dropout positives, and the training entry point."""
import math

import numpy as np
import pytest
import torch

from _helpers import ci_tokenizer, tiny_encoder
from xalign_utils.methods import contrastive as C
from xalign_utils.methods import parallel as P


@pytest.fixture(scope="module")
def tokenizer():
    return ci_tokenizer()


def tiny(tokenizer, seed=0, dropout=0.0):
    return tiny_encoder(tokenizer, seed, dropout=dropout)


# three unit vectors at known angles: cosines are the dot products
A = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
B = torch.tensor([[0.8, 0.6], [0.0, 1.0], [1.0, 0.0]])


def hand_info_nce(a, b, tau, margin=0.0):
    """−mean_i log softmax_j((cos_ij − m[i=j]) / tau)_ii, written out with math.exp."""
    total = 0.0
    for i in range(len(a)):
        logits = []
        for j in range(len(b)):
            cos = sum(x * y for x, y in zip(a[i], b[j])) / (math.hypot(*a[i]) * math.hypot(*b[j]))
            logits.append((cos - (margin if i == j else 0.0)) / tau)
        total += -(logits[i] - math.log(sum(math.exp(z) for z in logits)))
    return total / len(a)


def test_info_nce_equals_a_hand_computation_on_3x3():
    # float32 against float64: logits of at most 4 through a 3-term log-sum-exp, a few ulp of O(1)
    # (unit roundoff 6e-8) whatever the kernels: 1e-6 bounds it
    a, b = A.tolist(), B.tolist()
    one_way = C.info_nce(A, B, tau=0.5, symmetric=False)
    assert float(one_way) == pytest.approx(hand_info_nce(a, b, 0.5), abs=1e-6)
    both = C.info_nce(A, B, tau=0.5)
    assert float(both) == pytest.approx((hand_info_nce(a, b, 0.5) + hand_info_nce(b, a, 0.5)) / 2, abs=1e-6)
    # scale does not matter (cosine), and the margin enters the hand formula too
    assert float(C.info_nce(3 * A, 2 * B, tau=0.5, margin=0.2, symmetric=False)) == pytest.approx(
        hand_info_nce(a, b, 0.5, 0.2), abs=1e-6)


def test_the_margin_lowers_the_positive_logit_by_exactly_m_and_nothing_else():
    plain = C.contrastive_logits(A, B)
    with_margin = C.contrastive_logits(A, B, margin=0.3)
    diff = plain - with_margin
    # cos - 0.3 rounds once (half an ulp below 1: 3e-8) and cos minus that is exact (Sterbenz)
    assert torch.allclose(diff.diagonal(), torch.full((3,), 0.3), atol=1e-7)
    assert torch.equal(diff - torch.diag(diff.diagonal()), torch.zeros(3, 3))
    # and the loss rises with the margin (the positive is harder to win)
    assert float(C.info_nce(A, B, margin=0.3)) > float(C.info_nce(A, B))


def test_excluded_rows_are_not_negatives():
    # rows 0 and 2 are translations of the same paragraph: excluding them equals dropping each from the other's softmax
    exclude = torch.tensor([[False, False, True], [False, False, False], [True, False, False]])
    logits = C.contrastive_logits(A, B, exclude=exclude)
    assert logits[0, 2] == float("-inf") and logits[2, 0] == float("-inf")
    assert torch.isfinite(logits.diagonal()).all()
    loss = C.info_nce(A, B, tau=0.5, exclude=exclude, symmetric=False)
    a, b = A.tolist(), B.tolist()
    row0 = hand_info_nce([a[0]], [b[0], b[1]], 0.5)
    row1 = hand_info_nce([a[1]], [b[1], b[0], b[2]], 0.5)
    row2 = hand_info_nce([a[2]], [b[2], b[1]], 0.5)
    assert float(loss) == pytest.approx((row0 + row1 + row2) / 3, abs=1e-6)  # float32 vs float64, as above


def test_queue_never_holds_positives_of_the_current_batch_and_is_fifo():
    q = C.NegativeQueue(size=4, dim=2)
    q.push(torch.ones(3, 2), 2 * torch.ones(3, 2), torch.tensor([0, 1, 2]))
    q.push(3 * torch.ones(2, 2), 4 * torch.ones(2, 2), torch.tensor([3, 4]))
    assert len(q) == 4 and q.ids.tolist() == [1, 2, 3, 4]  # the oldest (id 0) fell out
    qa, qb = q.negatives(torch.tensor([2, 4, 7]))
    assert len(qa) == 2 and qb[:, 0].tolist() == [2.0, 4.0]  # ids 1 and 3 remain: no current paragraph
    # in training: every step's negatives come from earlier batches and never share a paragraph id
    loss = C.SentenceContrastLoss(queue_size=8, dim=2)
    seen = []
    real = loss.queue.negatives

    def spy(ids):
        held = loss.queue.ids.tolist()
        seen.append(set(held) & set(ids.tolist()))
        out = real(ids)
        assert len(out[0]) == sum(h not in ids.tolist() for h in held)
        return out
    loss.queue.negatives = spy

    class Fixed(torch.nn.Module):  # a stand-in "model": embeddings are learnable rows indexed by token
        def __init__(self):
            super().__init__()
            self.table = torch.nn.Embedding(10, 2)

    fixed = Fixed()
    loss.embed = lambda model, ids, mask: fixed.table(ids[:, 0])
    for ids in ([0, 1], [1, 2], [2, 3], [0, 3]):
        t = torch.tensor(ids)
        loss(None, {"a_ids": t[:, None], "a_mask": None, "b_ids": t[:, None] + 5, "b_mask": None, "ids": t})
    assert len(seen) == 4 and all(s for s in seen[1:])  # overlaps existed in the queue...
    assert len(loss.queue) == 8  # ...and were filtered out at use, not dropped from the queue


def test_word_contrast_loss_by_hand_and_same_strings_are_not_negatives():
    src = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    tgt = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    links = torch.tensor([[0, 0], [1, 2]])
    loss = C.word_contrast_loss(src, tgt, links, ["file", "open"], ["datei", "datei", "öffnen"], tau=1.0)
    # src 0 -> tgt 0 among tgt {0, 2} (tgt 1 has the positive's string "datei"); src 1 -> tgt 2 among all three
    fwd = (-(1.0 - math.log(math.exp(1.0) + math.exp(0.0)))
           - (1.0 - math.log(math.exp(0.0) + math.exp(0.8) + math.exp(1.0)))) / 2
    # back: tgt 0 -> src 0 among src {0, 1}; tgt 2 -> src 1 among src {0, 1}
    back = (-(1.0 - math.log(math.exp(1.0) + math.exp(0.0))) - (1.0 - math.log(math.exp(0.0) + math.exp(1.0)))) / 2
    assert float(loss) == pytest.approx((fwd + back) / 2, abs=1e-6)  # float32 vs float64 on O(1): a few ulp
    with pytest.raises(ValueError, match="no links"):
        C.word_contrast_loss(src, tgt, links[:0], ["a", "b"], ["c", "d", "e"])


def test_sentence_batches_hold_distinct_paragraphs_and_simcse_repeats_english(tokenizer):
    pairs = [(lang, f"English {k}.", f"{lang} {k}.") for k in range(6) for lang in ("de", "ru")]
    b = C.SentencePairBatches(tokenizer, pairs, batch_size=4, max_len=32, seed=0)
    for step in range(5):
        batch = b(step)
        assert len(set(batch["ids"].tolist())) == 4
        assert torch.equal(batch["a_ids"], b(step)["a_ids"])  # a pure function of the step
        for row, g in enumerate(batch["ids"].tolist()):
            text = tokenizer.decode(batch["b_ids"][row], skip_special_tokens=True)
            assert text.endswith(f" {g}.") and text.split()[0] in ("de", "ru")
    s = C.SentencePairBatches(tokenizer, pairs, batch_size=4, max_len=32, seed=0, english_only=True)(0)
    assert torch.equal(s["a_ids"], s["b_ids"])
    with pytest.raises(ValueError, match="between 2 and 6"):
        C.SentencePairBatches(tokenizer, pairs, batch_size=7, max_len=32)


def test_simcse_needs_dropout_and_gets_it_only_in_training(tokenizer):
    enc = tiny(tokenizer)  # built without dropout, like the ci base model
    model = enc.model.train()
    ids = tokenizer(["Open the file."], return_tensors="pt")
    run = lambda: model.roberta(**ids).last_hidden_state
    assert torch.equal(run(), run())  # no dropout: SimCSE's two passes would be identical
    model.roberta.encoder.layer[0].attention.self.dropout.p = 0.05  # a module with its own rate
    before = C.set_dropout(model, 0.1)
    assert len(before) > 0 and not torch.equal(run(), run())
    C.restore_dropout(model, before)
    assert model.roberta.encoder.layer[0].attention.self.dropout.p == 0.05
    C.set_dropout(model, 0.0)
    pairs = [("de", f"English paragraph number {k}.", f"Deutsch {k}.") for k in range(8)]
    trained, losses = C.train_contrastive(enc, "simcse", pairs, steps=3, batch_size=4, lr=1e-3)
    assert all(m.p == 0.0 for m in trained.model.modules() if isinstance(m, torch.nn.Dropout))
    assert np.isfinite(losses).all()


@pytest.mark.parametrize("method", ["infonce", "word_contrast", "simcse"])
def test_every_objective_trains_the_body_and_leaves_the_start_unchanged(tokenizer, method):
    enc = tiny(tokenizer)
    before = {k: v.clone() for k, v in enc.model.state_dict().items()}
    pairs = [("de", "Open the file and save it.", "Öffnen Sie die Datei und speichern Sie sie."),
             ("de", "Close the window.", "Schließen Sie das Fenster."),
             ("ru", "Open the file and save it.", "Откройте файл и сохраните его."),
             ("ru", "Select the cell.", "Выделите ячейку.")]
    links = P.dictionary_links(pairs, {"de": {"file": {"datei"}, "window": {"fenster"}, "open": {"öffnen"}},
                                       "ru": {"file": {"файл"}}})
    trained, losses = C.train_contrastive(enc, method, pairs, steps=4, batch_size=2, lr=1e-2, links=links, queue_size=4)
    assert len(losses) == 4 and np.isfinite(losses).all()
    assert all(torch.equal(before[k], v) for k, v in enc.model.state_dict().items())
    after = trained.model.state_dict()
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("word_embeddings" in k for k in moved) and any("encoder.layer.0" in k for k in moved)


def test_train_contrastive_refuses_bad_input_before_compute(tokenizer):
    enc = tiny(tokenizer)
    pairs = [("de", "a b", "c d"), ("de", "e f", "g h")]
    with pytest.raises(ValueError, match="unknown method 'moco'"):
        C.train_contrastive(enc, "moco", pairs, 1)
    with pytest.raises(ValueError, match="steps and batch_size must be positive"):
        C.train_contrastive(enc, "infonce", pairs, 0)
    with pytest.raises(ValueError, match="needs links="):
        C.train_contrastive(enc, "word_contrast", pairs, 1)
    with pytest.raises(ValueError, match="temperature"):
        C.info_nce(A, B, tau=0.0)
    with pytest.raises(ValueError, match="at least one negative"):
        C.info_nce(A[:1], B[:1])
    with pytest.raises(ValueError, match="pooling"):
        C.SentenceContrastLoss(pooling="max")
