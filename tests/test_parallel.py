"""Parallel-data objectives against hand computations: TLM pairs and masking, Cao et al.'s word-level
loss, dictionary links, distillation, nested data-efficiency subsets."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _helpers import ci_tokenizer
from xalign_utils.methods import parallel as P
from xalign_utils.models import random_init_model
from xalign_utils.pretrain import IGNORE
from xalign_utils.presets import get_preset
from xalign_utils.train import train_loop


@pytest.fixture(scope="module")
def tokenizer():
    return ci_tokenizer()


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
    # one float32 cross-entropy (about 9) computed twice, the LM head on other row sets (other GEMM
    # blocking): at most (masked tokens ~10) x unit roundoff (6e-8) x 9 = 5e-6
    assert float(ours.detach()) == pytest.approx(float(ref.detach()), abs=1e-5)
    default_positions = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                              labels=batch["labels"]).loss
    assert abs(float(default_positions.detach()) - float(ref.detach())) > 1e-3  # the restart is really used


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
    # alignment: ||(1,0)||^2 = 1; regulariser: 0 + 4 = 4 (sums, as in the paper), times 0.5
    assert float(P.word_alignment_loss(src, tgt, src_all, frozen, reg=0.5)) == 1.0 + 0.5 * 4.0  # small integers: exact
    # divided by the number of sentence pairs in the batch
    assert float(P.word_alignment_loss(src, tgt, src_all, frozen, reg=0.5, n_sentences=2)) == 1.5
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
    assert float(P.distillation_loss(torch.tensor([[1.0, 1.0]]), torch.tensor([[3.0, 1.0]]), t)) == 0 + 4 / 2  # exact
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


# ---------------------------------------------------------------- batches, losses on a real model, training runs
from xalign_utils.methods.word_alignment import word_vectors  # noqa: E402
from xalign_utils.models import Encoder  # noqa: E402


def tiny_encoder(tokenizer, seed=0):
    cfg = get_preset("ci").with_changes(model={"hidden_size": 32, "num_hidden_layers": 1, "intermediate_size": 64,
                                               "num_attention_heads": 2})
    return Encoder(random_init_model(cfg, seed=seed, tokenizer=tokenizer), tokenizer, name="tiny")


PAIRS = [("de", "Open the file.", "Öffnen Sie die Datei."), ("ru", "Save the document.", "Сохраните документ."),
         ("de", "Click the red button.", "Klicken Sie auf die rote Schaltfläche."),
         ("ru", "The file is open.", "Файл открыт.")]


def test_tlm_masks_both_halves_and_the_unpaired_control_uses_ordinary_positions(tokenizer):
    g = torch.Generator().manual_seed(0)
    b = P.tlm_batch(tokenizer, [(e, x) for _, e, x in PAIRS] * 8, 64, 0.5, g)
    sep = tokenizer.sep_token_id
    in_first = in_second = 0
    for r in range(b["input_ids"].shape[0]):
        ids = P.tlm_pair_ids(tokenizer, *[(e, x) for _, e, x in PAIRS][r % 4], 64)[0]
        cut = ids.index(sep) + 1  # end of the English half
        targets = (b["labels"][r] != IGNORE).nonzero().ravel().tolist()
        in_first += sum(t < cut for t in targets)
        in_second += sum(t >= cut for t in targets)
    assert in_first > 0 and in_second > 0
    model = tiny_encoder(tokenizer).model
    mono = P.mono_batch(tokenizer, ["Open the file.", "Öffnen Sie die Datei."], 64, 0.5, torch.Generator().manual_seed(1))
    assert mono["input_ids"].shape[0] == 2 and int((mono["input_ids"] == sep).sum()) == 2  # each text alone
    ref = model(input_ids=mono["input_ids"], attention_mask=mono["attention_mask"], labels=mono["labels"]).loss
    assert float(P.tlm_loss(model, mono).detach()) == pytest.approx(float(ref), abs=1e-5)  # HF's own positions; bound as above


@pytest.mark.parametrize("method", ["tlm", "mlm", "word", "distill"])
def test_every_objective_sends_gradients_to_the_encoder_weights(tokenizer, method):
    enc = tiny_encoder(tokenizer)
    model = enc.model.train()
    if method in ("tlm", "mlm"):
        batch = P.TLMBatches(tokenizer, PAIRS, 4, 64, paired=method == "tlm")(0)
        loss = P.tlm_mixed_loss(model, batch)
    elif method == "word":
        linked = [(e.split(), x.split(), [(0, 0)]) for _, e, x in PAIRS]
        import copy
        batch = P.WordAlignBatches(tokenizer, linked, 4, 64)(0)
        model.roberta.embeddings.word_embeddings.weight.data += 0.01  # so the regulariser is not at its minimum
        loss = P.WordAlignLoss(copy.deepcopy(tiny_encoder(tokenizer).model))(model, batch)
    else:
        batch = P.DistillBatches(tiny_encoder(tokenizer, seed=1), PAIRS, 4, 64)(0)
        loss = P.DistillLoss()(model, batch)
    loss.backward()
    assert torch.isfinite(loss)
    body = model.roberta
    for name, p in (("word embeddings (tied to the MLM decoder)", body.embeddings.word_embeddings.weight),
                    ("layer 0 query", body.encoder.layer[0].attention.self.query.weight),
                    ("layer 0 output", body.encoder.layer[0].output.dense.weight)):
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name


def test_cao_regulariser_is_zero_for_the_unchanged_model_and_pools_like_the_aligner(tokenizer):
    import copy

    enc = tiny_encoder(tokenizer)
    src = [["Open", "the", "file", "."], ["Save", "the", "document", "."]]
    tgt = [["Öffnen", "Sie", "die", "Datei", "."], ["Сохраните", "документ", "."]]
    linked = [(src[0], tgt[0], [(2, 3), (0, 0)]), (src[1], tgt[1], [(2, 1)])]
    batches = P.WordAlignBatches(tokenizer, linked, 2, 64)
    batch = batches(0)
    loss_fn = P.WordAlignLoss(copy.deepcopy(enc.model))
    with torch.no_grad():
        with_reg = float(loss_fn(enc.model.eval(), batch))
        loss_fn.reg = 0.0
        without = float(loss_fn(enc.model, batch))
    # the regulariser vanishes at the start: the frozen copy computes the same states, so it adds 0
    # (or float32 differences of two runs: squares of ~1e-7)
    assert with_reg == pytest.approx(without, abs=1e-6)
    # the alignment term, by hand, from the aligner's own word vectors (mean of content pieces)
    chosen = [linked[i] for i in np.random.default_rng([0, 0]).integers(0, 2, 2)]
    s_vecs = word_vectors(enc, [c[0] for c in chosen])
    t_vecs = word_vectors(enc, [c[1] for c in chosen])
    d = [((s_vecs[r][i] - t_vecs[r][j]) ** 2).sum() for r, c in enumerate(chosen) for i, j in c[2]]
    # summed over links, per sentence pair; a sum of squared differences of float32 vectors of O(1) from
    # two code paths (batched vs by hand, each rounding at ~1e-7 of O(1) values), relative to a sum of
    # O(0.01-1): 1e-4 bounds it
    assert without == pytest.approx(float(np.sum(d)) / 2, rel=1e-4)


def test_distillation_targets_are_the_frozen_teachers_english_embeddings(tokenizer):
    teacher = tiny_encoder(tokenizer, seed=3)
    b = P.DistillBatches(teacher, PAIRS, 4, 64)
    batch = b(5)
    chosen = [PAIRS[i] for i in np.random.default_rng([0, 5]).integers(0, len(PAIRS), 4)]
    want = teacher.encode([e for _, e, _ in chosen])
    assert np.allclose(batch["teacher"].numpy(), want, atol=1e-6)  # one encoder, other batches: a few ulp of O(1)
    # a student identical to the teacher has zero loss on the English half
    student = __import__("copy").deepcopy(teacher.model).eval()
    en = P.DistillLoss()._embed(student, batch["en_ids"], batch["en_mask"])
    # the same model on the same texts: differences of ~1e-7 at most, squared
    assert float(torch.nn.functional.mse_loss(en, batch["teacher"])) == pytest.approx(0.0, abs=1e-10)
    assert torch.equal(batch["teacher_x"], batch["teacher"])  # the translation's target is its own English side
    # the shuffled control: the same texts, each translation's target another paragraph's embedding
    shuffled = P.DistillBatches(teacher, PAIRS, 4, 64, shuffled=True)(5)
    assert torch.equal(shuffled["x_ids"], batch["x_ids"]) and torch.equal(shuffled["teacher"], batch["teacher"])
    for row in range(4):
        assert not torch.equal(shuffled["teacher_x"][row], batch["teacher"][row])
        assert any(torch.equal(shuffled["teacher_x"][row], t) for t in b.target.values())


def test_pool_words_by_hand():
    hidden = torch.tensor([[[1.0], [2.0], [6.0]], [[10.0], [20.0], [30.0]]])
    flat = torch.tensor([0, 1, 2, 4])  # (row 0: pos 0, 1 -> word slot 0; pos 2 -> slot 1), (row 1: pos 1 -> slot 2)
    slot = torch.tensor([0, 0, 1, 2])
    assert P.pool_words(hidden, flat, slot, 3).ravel().tolist() == [1.5, 6.0, 20.0]


def test_train_method_refuses_bad_input_before_compute_and_leaves_the_start_unchanged(tokenizer):
    enc = tiny_encoder(tokenizer)
    with pytest.raises(ValueError, match="unknown method 'tml'; choose one of: tlm, mlm"):
        P.train_method(enc, "tml", PAIRS, 2)
    with pytest.raises(ValueError, match="steps and batch_size must be positive"):
        P.train_method(enc, "distill", PAIRS, 0)
    with pytest.raises(ValueError, match="needs links="):
        P.train_method(enc, "word_dict", PAIRS, 2)
    before = {n: p.detach().clone() for n, p in enc.model.named_parameters()}
    trained, losses = P.train_method(enc, "distill", PAIRS, 3, batch_size=2, lr=1e-2)
    assert len(losses) == 3
    assert all(torch.equal(before[n], p) for n, p in enc.model.named_parameters())
    assert any(not torch.equal(before[n], p) for n, p in trained.model.named_parameters())
    # the word embeddings (tied to the MLM decoder) are trained too
    assert not torch.equal(enc.model.roberta.embeddings.word_embeddings.weight, trained.model.roberta.embeddings.word_embeddings.weight)


def test_links_from_dictionaries_and_the_aligner(tokenizer):
    linked = P.dictionary_links([("de", "The red house", "Das Haus ist rot")], {"de": {"house": {"haus"}, "red": {"rot"}}})
    assert linked[0][2] == [(1, 3), (2, 1)]
    assert P.dictionary_links([("zh", "The house", "房子")], {})[0][2] == []  # no dictionary: no links
    enc = tiny_encoder(tokenizer)
    same = P.induced_links(enc, [("de", "Open the file now", "Open the file now")])
    assert same[0][2] == [(0, 0), (1, 1), (2, 2), (3, 3)]  # a sentence aligns with itself word by word


def test_mono_stream_is_deterministic_and_monolingual(tokenizer):
    m = P.MonoMLMBatches(tokenizer, ["en", "de"], batch_size=3, max_len=32, n_paragraphs=20, seed=0)
    a, b = m(4), m(4)
    assert torch.equal(a["input_ids"], b["input_ids"]) and a["input_ids"].shape == (3, 32)
    assert a["lang"] in ("en", "de")


def test_tlm_and_its_unpaired_control_see_the_same_sentences_and_the_mono_term(tokenizer):
    mono = P.MonoMLMBatches(tokenizer, ["en", "de"], batch_size=2, max_len=32, n_paragraphs=20, seed=0)
    paired = P.TLMBatches(tokenizer, PAIRS, 3, 64, mask_prob=0.0, seed=0, paired=True, mono=mono)(7)
    alone = P.TLMBatches(tokenizer, PAIRS, 3, 64, mask_prob=0.0, seed=0, paired=False, mono=mono)(7)
    special = set(tokenizer.all_special_ids)
    content = lambda ids: sorted(t for t in ids.ravel().tolist() if t not in special)
    assert content(paired["input_ids"]) == content(alone["input_ids"])  # same tokens, only the pairing differs
    assert alone["input_ids"].shape[0] == 2 * paired["input_ids"].shape[0]
    assert torch.equal(paired["mono_input_ids"], alone["mono_input_ids"])
    model = tiny_encoder(tokenizer).model
    masked = P.TLMBatches(tokenizer, PAIRS, 3, 64, mask_prob=0.5, seed=0, mono=mono)(7)
    from xalign_utils.pretrain import mlm_loss
    want = P.tlm_loss(model, masked) + mlm_loss(model, {"input_ids": masked["mono_input_ids"], "labels": masked["mono_labels"]})
    # the same two float32 losses (about 9 each) added in the same order: equal up to an ulp (1e-7 relative)
    assert float(P.tlm_mixed_loss(model, masked).detach()) == pytest.approx(float(want.detach()), rel=1e-6)


def test_the_regulariser_reads_english_words_only(tokenizer):
    import copy

    enc = tiny_encoder(tokenizer)
    linked = [(["Open", "the", "file"], ["Öffnen", "Sie", "die", "Datei"], [(2, 3)])]
    batch = P.WordAlignBatches(tokenizer, linked, 1, 64)(0)
    assert batch["n_src"] == 3 and batch["n_tgt"] == 1  # every English word, only the linked target word
    frozen = copy.deepcopy(enc.model)
    with torch.no_grad():  # move the model: only the English words' drift may enter the regulariser
        w = enc.model.roberta.embeddings.word_embeddings.weight
        w.add_(0.1 * torch.randn(w.shape, generator=torch.Generator().manual_seed(0)))  # (a constant shift LayerNorm undoes)
    loss_fn = P.WordAlignLoss(frozen)
    total = float(loss_fn(enc.model.eval(), batch).detach())
    loss_fn.reg = 0.0
    align_only = float(loss_fn(enc.model, batch).detach())
    src = P.side_words(enc.model, batch, "src", loss_fn.layer)
    src0 = P.side_words(frozen, batch, "src", loss_fn.layer)
    drift = float(((src - src0) ** 2).sum())
    # total - align_only cancels two float32 losses of O(1) (error ~1e-7 each) to leave the drift (> 1e-3)
    assert drift > 1e-3 and total - align_only == pytest.approx(drift, rel=1e-4)


# ---------------------------------------------------------------- distillation from a real teacher
def wide_teacher(tokenizer, seed=5):
    """A 48-wide teacher with e5's conventions (a prefix, L2-normalised means) on the ci vocabulary."""
    cfg = get_preset("ci").with_changes(model={"hidden_size": 48, "num_hidden_layers": 1, "intermediate_size": 64,
                                               "num_attention_heads": 2})
    return Encoder(random_init_model(cfg, seed=seed, tokenizer=tokenizer), tokenizer, name="wide", prefix="query: ",
                   normalize=True)


def test_teacher_draws_are_the_english_texts_of_the_batches(tokenizer):
    drawn = P.teacher_draws(PAIRS, 3, 2, seed=4)
    want = {PAIRS[i][1] for s in range(3) for i in np.random.default_rng([4, s]).integers(0, len(PAIRS), 2)}
    assert drawn == sorted(want)
    batches = P.TeacherDistillBatches(tokenizer, {e: torch.zeros(3) for e in drawn}, PAIRS, 2, 64, seed=4)
    for s in range(3):
        batches(s)  # every step finds its targets
    short = P.TeacherDistillBatches(tokenizer, {drawn[0]: torch.zeros(3)}, PAIRS, 2, 64, seed=4)
    if len(drawn) > 1:
        with pytest.raises(ValueError, match="no teacher target .* teacher_targets"):
            for s in range(3):
                short(s)


def test_teacher_targets_use_the_teachers_own_conventions_and_are_cached(tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_CACHE_DIR", str(tmp_path))
    teacher = wide_teacher(tokenizer)
    texts = ["Save the document.", "Open the file."]
    targets = P.teacher_targets(teacher, texts)
    # by hand: prefix, the teacher's tokenizer, mean over tokens, unit length
    for t in texts:
        ids = tokenizer(["query: " + t], return_tensors="pt")
        with torch.no_grad():
            h = teacher.model.roberta(**ids).last_hidden_state[0].mean(0)
        # one text through two code paths (batched, alone): float32 rounding of O(1) values
        assert np.allclose(targets[t].numpy(), (h / h.norm()).numpy(), atol=1e-5)
        assert targets[t].shape == (48,)
    assert len(list((tmp_path / "teacher_targets").glob("*.pkl"))) == 1
    monkeypatch.setattr(Encoder, "encode", lambda *a, **k: pytest.fail("recomputed instead of loaded"))
    again = P.teacher_targets(teacher, texts[::-1])
    assert all(torch.equal(again[t], targets[t]) for t in texts)


def test_teacher_distillation_loss_by_hand_with_projection_shapes(tokenizer):
    student = tiny_encoder(tokenizer)
    loss_fn = P.TeacherDistillLoss(32, 48, seed=2, target_scale=3.0)
    assert tuple(loss_fn.proj.weight.shape) == (48, 32) and tuple(loss_fn.proj.bias.shape) == (48,)
    assert torch.equal(P.TeacherDistillLoss(32, 48, seed=2).proj.weight, loss_fn.proj.weight)  # seeded
    assert not torch.equal(P.TeacherDistillLoss(32, 48, seed=3).proj.weight, loss_fn.proj.weight)
    targets = {e: torch.linspace(-1, 1, 48) * (k + 1) for k, (_, e, _) in enumerate(PAIRS)}
    batch = P.TeacherDistillBatches(tokenizer, targets, PAIRS, 3, 64, seed=0)(1)
    with torch.no_grad():
        ours = float(loss_fn(student.model.eval(), batch))
    chosen = [PAIRS[i] for i in np.random.default_rng([0, 1]).integers(0, len(PAIRS), 3)]
    W, b = (p.detach().double().numpy() for p in (loss_fn.proj.weight, loss_fn.proj.bias))

    def pooled(text):  # one text alone: no padding, the mean of the last layer over its tokens
        with torch.no_grad():
            return student.model.roberta(**tokenizer([text], return_tensors="pt")).last_hidden_state[0].mean(0).double().numpy()

    want = sum(np.mean((W @ pooled(e) + b - 3 * targets[e].double().numpy()) ** 2)
               + np.mean((W @ pooled(x) + b - 3 * targets[e].double().numpy()) ** 2) for _, e, x in chosen) / 3
    # float32 forward (batched and padded vs alone) against float64 by hand, squared errors of O(1): 1e-5 relative
    assert ours == pytest.approx(want, rel=1e-5)


def test_teacher_distillation_trains_student_and_projection_never_the_teacher(tokenizer, tmp_path, monkeypatch):
    from xalign_utils.cache import model_fingerprint

    monkeypatch.setenv("XALIGN_CACHE_DIR", str(tmp_path))
    enc, teacher = tiny_encoder(tokenizer), wide_teacher(tokenizer)
    with pytest.raises(ValueError, match="method 'distill_teacher' needs teacher= "):
        P.train_method(enc, "distill_teacher", PAIRS, 2)
    with pytest.raises(ValueError, match="teacher= goes with method 'distill_teacher' only"):
        P.train_method(enc, "distill", PAIRS, 2, teacher=teacher)
    with pytest.raises(ValueError, match="teacher must be an Encoder"):
        P.train_method(enc, "distill_teacher", PAIRS, 2, teacher="me5-small")
    before_teacher, before_start = model_fingerprint(teacher.model), model_fingerprint(enc.model)
    seen = []
    original = P.TeacherDistillLoss.__call__
    monkeypatch.setattr(P.TeacherDistillLoss, "__call__",
                        lambda self, m, b: seen.append(self.proj.weight.detach().clone()) or original(self, m, b))
    trained, losses = P.train_method(enc, "distill_teacher", PAIRS, 4, batch_size=2, lr=1e-2, teacher=teacher)
    assert len(losses) == 4 and all(np.isfinite(losses))
    assert model_fingerprint(teacher.model) == before_teacher and model_fingerprint(enc.model) == before_start
    assert model_fingerprint(trained.model) != before_start
    assert trained.hidden_size == 32  # the student alone: the projection is not part of what is measured
    assert not torch.equal(seen[0], seen[-1])  # the projection is trained with the student
    with pytest.raises(ValueError, match="target_scale must be positive"):
        P.TeacherDistillLoss(32, 48, target_scale=0)
