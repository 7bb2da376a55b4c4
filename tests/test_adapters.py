"""Adapters through `peft`: saved adapters reload exactly, the base model is never touched, swapping a
language adapter changes only what that adapter's parameters contribute, and the fine-tuning hooks
train only the task adapter."""
import copy

import numpy as np
import pytest
import torch

from _helpers import ci_tokenizer, tiny_encoder
from xalign_utils import data, transfer
from xalign_utils.methods import adapters as A
from xalign_utils.models import Encoder, PerLanguage

TEXTS = ["The dialog box opens.", "Klicken Sie auf OK.", "Haga clic en Aceptar para cerrar el cuadro."]
PAIRS = [("de", "Open the file.", "Öffnen Sie die Datei."), ("es", "Close the window.", "Cierre la ventana."),
         ("de", "Save the document.", "Speichern Sie das Dokument."), ("es", "Print the page.", "Imprima la página."),
         ("de", "Select a cell.", "Wählen Sie eine Zelle."), ("es", "Insert a table.", "Inserte una tabla.")]


@pytest.fixture(scope="module")
def tokenizer():
    return ci_tokenizer()


def tiny(tokenizer, seed=0):
    return tiny_encoder(tokenizer, seed, layers=2)


def plain_state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def lang_model(tokenizer):
    """Three language adapters (en, de, es) trained with MLM for a few steps on a tiny model."""
    enc = tiny(tokenizer)
    texts = {lang: list(data.corpus(lang, "pretrain")[1][:40]) for lang in ("en", "de", "es")}
    before = plain_state(enc.model)
    model, losses = A.train_language_adapters(enc, texts, rank=2, steps=3, batch_size=2, lr=1e-2, max_len=32)
    return enc, before, model, losses


def test_lora_targets_every_linear_map_of_the_layers_and_nothing_else(tokenizer):
    model = A.add_lora(copy.deepcopy(tiny(tokenizer).model), "x", rank=3)
    wrapped = {n.removeprefix("base_model.model.") for n, m in model.named_modules() if hasattr(m, "lora_A")}
    expected = {f"roberta.encoder.layer.{i}.{m}" for i in range(2) for m in
                ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                 "intermediate.dense", "output.dense")}
    assert wrapped == expected
    # per layer: 4 maps 32->32 and 32->64, 64->32; LoRA rank r adds r * (in + out) per map
    assert A.adapter_parameters(model, "x") == 2 * 3 * (4 * (32 + 32) + (32 + 64) + (64 + 32))
    assert A.trainable_parameters(model) == A.adapter_parameters(model, "x")


def test_training_leaves_the_base_weights_bit_identical_and_the_start_model_unchanged(lang_model):
    enc, before, model, losses = lang_model
    assert set(losses) == {"en", "de", "es"} and all(len(v) == 3 and np.isfinite(v).all() for v in losses.values())
    after = A.base_state(model)
    assert set(after) == set(dict(enc.model.named_parameters()))
    for name, value in after.items():
        assert torch.equal(value, before[name]), name
    for name, value in enc.model.state_dict().items():
        assert torch.equal(value, before[name]), name
    # and the adapters did learn something: their up-projections left zero
    assert any(float(p.abs().sum()) > 0 for n, p in model.named_parameters() if "lora_B" in n and ".lang_de." in n)


def test_lora_alignment_trains_only_the_adapter(tokenizer):
    enc = tiny(tokenizer)
    before = plain_state(enc.model)
    trained, losses = A.train_lora_contrastive(enc, PAIRS, rank=2, steps=3, batch_size=3, lr=1e-2)
    assert len(losses) == 3 and np.isfinite(losses).all()
    for name, value in A.base_state(trained.model).items():
        assert torch.equal(value, before[name]), name
    assert not torch.allclose(A.pooled_states(trained, tokenizer, TEXTS), A.pooled_states(enc, tokenizer, TEXTS))


def test_a_saved_adapter_reloads_to_identical_outputs(lang_model, tokenizer, tmp_path):
    enc, _, model, _ = lang_model
    sizes = A.save_adapters(model, tmp_path)
    assert set(sizes) == {"lang_en", "lang_de", "lang_es"}
    assert (tmp_path / "lang_de" / "adapter_config.json").exists()
    reloaded = A.load_adapters(enc.model, tmp_path, ["lang_en", "lang_de", "lang_es"])
    for lang in ("de", "es"):
        A.activate(model, A.language_adapter(lang))
        A.activate(reloaded, A.language_adapter(lang))
        assert torch.equal(A.pooled_states(model, tokenizer, TEXTS), A.pooled_states(reloaded, tokenizer, TEXTS))
    # an adapter is a small fraction of the model on disk
    assert sizes["lang_de"] * 4 < sum(p.numel() * 4 for p in enc.model.parameters())


def test_swapping_a_language_adapter_changes_only_what_its_parameters_contribute(lang_model, tokenizer):
    _, _, model, _ = lang_model
    m = copy.deepcopy(model)
    A.activate(m, "lang_de")
    de = A.pooled_states(m, tokenizer, TEXTS)
    A.activate(m, "lang_es")
    es = A.pooled_states(m, tokenizer, TEXTS)
    assert not torch.allclose(de, es)
    # give es exactly de's parameters: the swap then changes nothing, so the difference above came
    # from the adapter's own parameters and nothing else
    params = dict(m.named_parameters())
    with torch.no_grad():
        for name, p in params.items():
            if ".lang_es." in name:
                p.copy_(params[name.replace(".lang_es.", ".lang_de.")])
    A.activate(m, "lang_es")
    assert torch.equal(A.pooled_states(m, tokenizer, TEXTS), de)


def test_training_a_task_adapter_over_a_language_adapter_changes_only_the_task_adapter(lang_model):
    _, _, model, _ = lang_model
    m = A.with_task_adapter(model, rank=2)
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    prepare = A.task_prepare(language_adapters=True)
    prepare(m, "de")
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert trainable and all(".task." in n for n in trainable)
    assert set(m.base_model.active_adapter) == {"lang_de", "task"}
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.1)
    ids = torch.tensor([[0, 100, 200, 300, 2]])
    labels = ids.clone()
    from xalign_utils.pretrain import mlm_loss
    loss = mlm_loss(m, {"input_ids": ids, "labels": labels})
    loss.backward()
    opt.step()
    changed = {n for n, p in m.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable


def test_merged_per_language_encoders_equal_the_switched_adapters(lang_model, tokenizer):
    _, _, model, _ = lang_model
    encs = A.per_language_encoders(model, ["de", "es"], tokenizer, "tiny")
    routed = PerLanguage(encs, "tiny + language adapters")
    m = copy.deepcopy(model)
    for lang in ("de", "es"):
        A.activate(m, A.language_adapter(lang))
        # W + BA merged in float32 vs applied as W x + B(A x): rounding of O(1) states through a
        # 32-wide model, ~1e-6
        torch.testing.assert_close(A.pooled_states(routed[lang], tokenizer, TEXTS), A.pooled_states(m, tokenizer, TEXTS),
                                   atol=1e-5, rtol=1e-5)
    with pytest.raises(KeyError, match="has no encoder for 'ru'"):
        routed["ru"]


def test_pos_fine_tuning_learns_english_and_a_constant_model_predicts_one_tag_for_every_word(tokenizer):
    """A tagger on a real model learns English tags above the majority tag; a model whose hidden
    states are constant (every weight zero) can only predict one tag for everything."""
    enc = tiny(tokenizer)
    _, res = transfer.finetune_pos(enc, ["de"], steps=40, batch_size=8, lr=5e-3, max_train_sentences=100,
                                   max_test_sentences=20)
    en = res.table.set_index("treebank").loc["en_ewt"]
    assert en["accuracy"] > en["majority"] + 0.05
    assert set(res.items.columns) == {"de"} and len(res.items) == 20
    dead = copy.deepcopy(enc)
    with torch.no_grad():
        for p in dead.model.parameters():
            p.zero_()
    _, res0 = transfer.finetune_pos(dead, ["de"], steps=10, batch_size=8, lr=5e-3, max_train_sentences=50,
                                    max_test_sentences=20)
    # every word gets the same scores, so one tag is predicted for all: the accuracy is that tag's share
    from collections import Counter
    gold = Counter(t for s in data.conllu("de_pud")[:20] for t in s.upos)
    shares = {t: c / sum(gold.values()) for t, c in gold.items()}
    acc = res0.table.set_index("treebank").loc["de_pud", "accuracy"]
    assert acc in list(shares.values()) + [0.0]  # one tag's count over the words: the same division, exact


def test_bad_adapter_arguments_are_refused_before_any_compute(tokenizer):
    enc = tiny(tokenizer)
    with pytest.raises(ValueError, match="LoRA rank must be a positive integer; got 0"):
        A.train_lora_contrastive(enc, PAIRS, rank=0, steps=2)
    with pytest.raises(ValueError, match="steps and batch_size must be positive"):
        A.train_language_adapters(enc, {"de": TEXTS}, rank=2, steps=0)
    m = A.add_lora(copy.deepcopy(enc.model), "lang_de", 2)
    with pytest.raises(ValueError, match="no adapter called lang_ru; the model has: lang_de"):
        A.activate(m, "lang_ru")
    with pytest.raises(ValueError, match="already has an adapter called 'lang_de'"):
        A.add_lora(m, "lang_de", 2)


def test_mad_x_fine_tuning_trains_only_the_task_adapter_and_head_and_swaps_the_language_adapter(lang_model, tokenizer,
                                                                                           monkeypatch):
    """The MAD-X path end to end (`finetune_pos` with `task_prepare`): in the returned model the base
    weights and both language adapters are bit-identical to before, the task adapter changed, and each
    test language is scored with its own language adapter (and the task adapter) switched on."""
    enc, _, model, _ = lang_model
    start = A.with_task_adapter(model, rank=2)
    before = {n: p.detach().clone() for n, p in start.named_parameters()}
    seen = []
    prepare = A.task_prepare(language_adapters=True)

    def spy(m, lang):
        prepare(m, lang)
        seen.append((lang, tuple(sorted(m.base_model.active_adapter))))

    tuned, res = transfer.finetune_pos(Encoder(start, tokenizer, "tiny"), ["de", "es"], steps=3, batch_size=4, lr=1e-2,
                                       max_train_sentences=20, max_test_sentences=5, prepare=spy)
    after = dict(tuned.model.named_parameters())
    for name, p in before.items():
        if ".task." in name and "lora_B" in name:
            assert not torch.equal(after[name], p), name  # the task adapter learned
        elif ".task." not in name:
            assert torch.equal(after[name], p), name  # base and language adapters untouched
    assert seen[0] == ("en", ("lang_en", "task"))
    assert ("de", ("lang_de", "task")) in seen and ("es", ("lang_es", "task")) in seen
    assert set(res.items.columns) == {"de", "es"}
