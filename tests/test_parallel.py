"""Parallel-data objectives against hand computations: TLM pairs and masking, Cao et al.'s word-level
loss, dictionary links, distillation, nested data-efficiency subsets."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from xalign_utils.checkpoints import shipped_checkpoint
from xalign_utils.methods import parallel as P
from xalign_utils.models import random_init_model
from xalign_utils.pretrain import IGNORE
from xalign_utils.presets import get_preset
from xalign_utils.train import train_loop


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(shipped_checkpoint("ci"))


def test_tlm_pair_is_xlmr_pair_format_with_positions_restarting(tokenizer):
    ids, pos = P.tlm_pair_ids(tokenizer, "Click OK.", "Klicken Sie auf OK.", max_len=64)
    a = tokenizer("Click OK.", add_special_tokens=False)["input_ids"]
    b = tokenizer("Klicken Sie auf OK.", add_special_tokens=False)["input_ids"]
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    assert ids == [cls] + a + [sep, sep] + b + [sep]
    start = tokenizer.pad_token_id + 1
    assert pos == list(range(start, start + len(a) + 2)) + list(range(start, start + len(b) + 2))


def test_tlm_halves_are_cut_separately(tokenizer):
    ids, pos = P.tlm_pair_ids(tokenizer, "word " * 200, "Wort " * 3, max_len=32)
    assert len(ids) <= 32 and ids.count(tokenizer.sep_token_id) == 3
    assert max(pos) <= tokenizer.pad_token_id + 16  # within the model's position table


def test_tlm_batch_targets_both_halves_and_never_padding_or_specials(tokenizer):
    g = torch.Generator().manual_seed(0)
    batch = P.tlm_batch(tokenizer, [("Open the file.", "Öffnen Sie die Datei."), ("Save", "Speichern")],
                        max_len=64, mask_prob=1.0, generator=g)
    special = set(tokenizer.all_special_ids)
    for r in range(2):
        n = int(batch["attention_mask"][r].sum())
        true_ids = P.tlm_pair_ids(tokenizer, *[("Open the file.", "Öffnen Sie die Datei."), ("Save", "Speichern")][r], 64)[0]
        for t in range(batch["labels"].shape[1]):
            want = IGNORE if t >= n or true_ids[t] in special else true_ids[t]
            assert int(batch["labels"][r, t]) == want


def test_tlm_loss_is_the_hf_mlm_loss_with_restarted_positions(tokenizer):
    model = random_init_model("ci", seed=0, tokenizer=tokenizer)
    g = torch.Generator().manual_seed(1)
    batch = P.tlm_batch(tokenizer, [("Open the file.", "Öffnen Sie die Datei.")], 64, 0.3, g)
    ours = P.tlm_loss(model, batch)
    ref = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                position_ids=batch["position_ids"], labels=batch["labels"]).loss
    assert float(ours.detach()) == pytest.approx(float(ref.detach()), abs=1e-5)
    default_positions = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                              labels=batch["labels"]).loss
    assert float(default_positions.detach()) != pytest.approx(float(ref.detach()), abs=1e-6)  # the restart is really used


def test_a_few_tlm_steps_on_one_batch_lower_its_loss(tokenizer):
    cfg = get_preset("ci").with_changes(model={"hidden_size": 32, "num_hidden_layers": 1, "intermediate_size": 64})
    model = random_init_model(cfg, seed=0, tokenizer=tokenizer)
    batch = P.tlm_batch(tokenizer, [("Open the file.", "Öffnen Sie die Datei.")] * 4, 64, 0.3,
                        torch.Generator().manual_seed(2))
    losses = train_loop(model, P.tlm_loss, lambda step: batch, steps=30, lr=3e-3, desc="tlm test")
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_word_alignment_loss_by_hand():
    src = torch.tensor([[1.0, 0.0]])
    tgt = torch.tensor([[0.0, 0.0]])
    src_all = torch.tensor([[1.0, 0.0], [2.0, 2.0]])
    frozen = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    # alignment: ||(1,0)||^2 = 1; regulariser: mean(0, 4) = 2, times 0.5
    assert float(P.word_alignment_loss(src, tgt, src_all, frozen, reg=0.5)) == pytest.approx(1.0 + 0.5 * 2.0)
    with pytest.raises(ValueError, match="no aligned pairs"):
        P.word_alignment_loss(src[:0], tgt[:0], src_all, frozen)


def test_word_alignment_loss_does_not_move_the_frozen_model():
    frozen = torch.ones(3, 2, requires_grad=True)
    src_all = torch.zeros(3, 2, requires_grad=True)
    P.word_alignment_loss(src_all[:1], src_all[1:2], src_all, frozen).backward()
    assert frozen.grad is None and src_all.grad is not None


def test_dictionary_links_skip_ambiguous_words():
    dictionary = {"house": {"haus"}, "the": {"das", "die"}, "red": {"rot"}}
    en = "The red house and the house".split()
    de = "Das rote Haus".split()
    # 'the' and 'house' repeat in English: skipped; 'red' -> 'rot' is not in the German sentence
    assert P.word_pair_links(en, de, dictionary) == []
    assert P.word_pair_links("The red house".split(), "Das Haus ist rot".split(), dictionary) == [(0, 0), (1, 3), (2, 1)]


def test_distillation_loss_by_hand():
    t = torch.tensor([[1.0, 1.0]])
    assert float(P.distillation_loss(torch.tensor([[1.0, 1.0]]), torch.tensor([[3.0, 1.0]]), t)) == pytest.approx(0 + 4 / 2)
    x = torch.tensor([[0.0, 1.0]], requires_grad=True)
    teacher = torch.tensor([[1.0, 1.0]], requires_grad=True)
    P.distillation_loss(x, x, teacher).backward()
    assert teacher.grad is None


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert float(P.mean_pool(hidden, torch.tensor([[1, 1, 0]]))) == 2.0


def test_data_efficiency_subsets_are_nested_and_checked():
    small, large = P.sample_pairs(100, 8, seed=0), P.sample_pairs(100, 32, seed=0)
    assert list(large[:8]) == list(small) and len(set(large)) == 32
    with pytest.raises(ValueError, match="between 1 and 100"):
        P.sample_pairs(100, 101, seed=0)
