"""View II: what the POS head reads, the classification task's data hygiene, the tidy outputs."""
import numpy as np
import pandas as pd
import pytest

from _helpers import EXACT, quasi_collapsed
from xalign_utils import data
from xalign_utils.checkpoints import base_model
from xalign_utils.lexical import TfidfControl
from xalign_utils.transfer import (APPLICATION_NAMES, TransferResult, classification_data, classify_features,
                                   mask_application_names, tidy, word_features, word_positions, zero_shot_pos)


@pytest.fixture(scope="module")
def ci_model():
    return base_model("ci")


def first_pieces(encoder, words):
    enc = encoder.tokenizer([words], is_split_into_words=True)
    space = encoder.tokenizer.convert_tokens_to_ids("▁")
    positions = word_positions(enc, 0, space)
    tokens = encoder.tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    return [tokens[positions[w][0]] for w in range(len(words))]


def test_pos_feature_of_a_chinese_and_a_hindi_word_is_not_the_bare_space(ci_model):
    """The tokenizer puts "▁" before every pre-split word; 中国 becomes "▁" + "中国" and the feature
    must come from "中国", never from the contentless "▁"."""
    tok = ci_model.tokenizer
    pieces = tok.convert_ids_to_tokens(tok(["中国"], is_split_into_words=True, add_special_tokens=False)["input_ids"])
    assert pieces[0] == "▁", pieces  # the situation the fix is for
    assert first_pieces(ci_model, ["中国", "经济", "发展"])[0] not in ("▁", "<s>")
    assert "中" in first_pieces(ci_model, ["中国", "经济", "发展"])[0]
    hindi = ["भारत", "की", "अर्थव्यवस्था", "बढ़", "रही", "है"]
    assert all(p != "▁" for p in first_pieces(ci_model, hindi))


def test_word_features_read_the_first_content_piece(ci_model):
    sent = data.Sentence("s1", ("中国", "经济"), ("PROPN", "NOUN"))
    feats, tags, sent_of, dropped = word_features(ci_model, [sent], layer=0)
    enc = ci_model.tokenizer([list(sent.words)], is_split_into_words=True, return_tensors="pt")
    emb = ci_model.model.roberta.embeddings(input_ids=enc["input_ids"]).detach()[0].numpy()
    pos = word_positions(enc, 0, ci_model.tokenizer.convert_tokens_to_ids("▁"))
    # two float32 paths through the embedding LayerNorm (values of O(1)): a few ulp, ~1e-6
    np.testing.assert_allclose(feats[0], emb[pos[0][0]], atol=1e-5)
    assert tags.tolist() == [11, 7] and sent_of.tolist() == [0, 0] and dropped == 0
    mean_feats, *_ = word_features(ci_model, [sent], layer=0, word_pooling="mean")
    np.testing.assert_allclose(mean_feats[1], emb[pos[1]].mean(0), atol=1e-5)


def test_zero_shot_pos_table_and_per_sentence_items(ci_model):
    res = zero_shot_pos(ci_model, ["en", "de"], max_train_sentences=300, max_test_sentences=120)
    t = res.table.set_index("lang")
    assert list(res.table.lang) == ["en_ewt", "en", "de"]
    assert t.loc["en", "accuracy"] > t.loc["en", "majority"] + 0.1 and t.loc["en", "gap"] == 0.0
    assert res.items.shape == (120, 2)
    assert res.items["de"].mean() == pytest.approx(t.loc["de", "accuracy"], rel=EXACT)  # scaled to word accuracy


def test_classifier_never_trains_on_an_eval_page():
    task = classification_data(["en", "de"], max_train=None)
    splits = data.page_splits()
    train_keys = [k for s in ("pretrain", "parallel") for k in data.corpus("en", s)[0] if data.application_of(k)]
    assert len(task["train_texts"]) == len(train_keys)
    assert all(splits[data.page_of(k)] != "eval" for k in train_keys)
    assert all(splits[data.page_of(k)] == "eval" for k in task["keys"])
    eval_norm = {data.normalise(t) for t in data.corpus("en", "eval")[1]}
    assert not {data.normalise(t) for t in task["train_texts"]} & eval_norm
    assert len(task["test_texts"]["en"]) == len(task["test_texts"]["de"]) == len(task["test_y"])
    assert set(task["test_y"]) <= set(range(len(data.APPLICATIONS)))
    # the test items are the protocol's: no normalised repeats (which would narrow the intervals)
    for lang in ("en", "de"):
        norms = [data.normalise(t) for t in task["test_texts"][lang]]
        assert len(set(norms)) == len(norms), lang
    assert set(task["keys"]) <= set(data.eval_items(["en", "de"], "all")["key"])


def test_masking_removes_application_names():
    assert mask_application_names("Open LibreOffice Calc and Writer, then Basic.") == "Open LibreOffice and , then ."
    task = classification_data(["en", "ru"], max_train=500, mask_names=True)
    assert not any(APPLICATION_NAMES.search(t) for t in task["train_texts"] + task["test_texts"]["ru"])


def test_macro_f1_penalises_predicting_an_absent_class():
    from xalign_utils.transfer import macro_f1

    gold, pred = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1])
    # classes 0, 1, 2: F1 = 2/3, 1, 0 -> 0.556 (sklearn's default); restricted to gold classes it would be 0.833
    assert macro_f1(gold, pred) == pytest.approx((2 / 3 + 1 + 0) / 3, rel=EXACT)


def test_classify_features_by_hand_and_constant_features_give_the_majority():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    x = np.eye(3)[y] * 5 + rng.normal(scale=0.1, size=(120, 3))
    res = classify_features(x, y, {"en": x, "xx": np.zeros_like(x)}, y, 3)
    t = res.table.set_index("lang")
    assert t.loc["en", "accuracy"] == 1.0 and t.loc["en", "macro_f1"] == 1.0
    # one constant input -> one class for every item, right on its 40 of 120: 40 / 120 exactly
    assert t.loc["xx", "accuracy"] == 40 / 120 and t.loc["xx", "gap"] == 1 - 40 / 120
    assert res.items.shape == (120, 2)
    flat = classify_features(np.ones_like(x), y, {"en": np.ones_like(x)}, y, 3)  # a collapsed encoder
    assert flat.accuracy("en") == pytest.approx(1 / 3, rel=EXACT)  # a mean of 120 thirds
    with pytest.raises(ValueError, match="non-empty label set"):
        classify_features(x[:0], y[:0], {"en": x}, y, 3)


def test_both_heads_score_exactly_chance_on_features_that_differ_only_by_rounding():
    """The classification and POS heads on a collapsed encoder's features (one vector plus noise of 1e-7
    relative): no input survives `informative_dims`, every class ties, the accuracy is exactly 1/K, and
    two noise draws (the stand-in for two CPUs) give the same per-item outcomes, bit for bit."""
    from xalign_utils.transfer import UPOS, pos_accuracy

    base = np.random.default_rng(7).normal(size=16)
    labels = np.random.default_rng(8)
    apps_y, train_tags, test_tags = np.repeat(np.arange(4), 30), labels.integers(0, 17, 200), labels.integers(0, 17, 90)
    sent_of = np.repeat(np.arange(30), 3)  # 30 test sentences of 3 words
    results = []
    for seed in (1, 2):
        rng = np.random.default_rng(seed)
        feats = lambda n: quasi_collapsed(rng, n, base=base)
        apps = classify_features(feats(120), apps_y, {"en": feats(120), "de": feats(120)}, apps_y, 4)
        assert apps.table.accuracy.tolist() == [0.25, 0.25]  # a mean of 1/4s: exact in binary
        pos = pos_accuracy({"train": (feats(200), train_tags, np.arange(200), 0, 200),
                            "en_ewt": (feats(90), test_tags, sent_of, 0, 30), "de_pud": (feats(90), test_tags, sent_of, 0, 30)})
        assert pos.table.accuracy.to_numpy() == pytest.approx(1 / len(UPOS), rel=EXACT)
        results.append((apps, pos))
    (apps_a, pos_a), (apps_b, pos_b) = results
    assert apps_a.table.equals(apps_b.table) and apps_a.items.equals(apps_b.items)
    assert pos_a.table.equals(pos_b.table) and pos_a.items.equals(pos_b.items)


def test_lexical_control_classifies_and_tidy_rows():
    langs = ["en", "es"]
    lex = TfidfControl(langs, n_fit=500)
    from xalign_utils.transfer import zero_shot_classification

    res = zero_shot_classification(lex, langs, max_train=1500)
    assert isinstance(res, TransferResult) and set(res.table.lang) == {"en", "es"}
    rows = tidy(res, "apps")
    assert set(rows.measure) == {"apps_accuracy", "apps_macro_f1", "apps_gap", "apps_majority"}
    assert list(rows.columns) == ["src", "tgt", "layer", "measure", "value", "n"]
    assert isinstance(rows, pd.DataFrame) and (rows.src == "en").all()


def test_finetuning_learns_a_separable_english_task_and_leaves_the_start_unchanged():
    import torch
    from transformers import AutoTokenizer

    from xalign_utils.checkpoints import shipped_checkpoint
    from xalign_utils.models import Encoder, random_init_model
    from xalign_utils.presets import get_preset
    from xalign_utils.transfer import finetune_classification

    tok = AutoTokenizer.from_pretrained(shipped_checkpoint("ci"))
    cfg = get_preset("ci").with_changes(model={"hidden_size": 32, "num_hidden_layers": 1, "intermediate_size": 64})
    enc = Encoder(random_init_model(cfg, seed=0, tokenizer=tok), tok, name="tiny")
    before = {k: v.clone() for k, v in enc.model.state_dict().items()}
    words = [["cell", "sheet", "formula", "column"], ["slide", "presentation", "animation", "master"]]
    rng = np.random.default_rng(0)
    train = [(" ".join(rng.choice(words[y], 3)), y) for y in rng.integers(0, 2, 64)]
    test = [" ".join(w[:3]) for w in words] * 5
    task = {"labels": ["calc", "impress"], "train_texts": [t for t, _ in train], "train_y": np.array([y for _, y in train]),
            "test_texts": {"en": test, "xx": ["zzz qqq"] * len(test)}, "test_y": np.array([0, 1] * 5)}
    tuned, result = finetune_classification(enc, task, steps=60, batch_size=16, lr=3e-3)
    assert result.accuracy("en") == 1.0
    assert result.accuracy("xx") == 0.5  # one input for every item: one prediction (or a tie), half right: exact
    assert result.items["en"].mean() == result.accuracy("en")  # hits of exactly 1
    assert all(torch.equal(before[k], v) for k, v in enc.model.state_dict().items())
    assert any(not torch.equal(before[k], v) for k, v in tuned.model.state_dict().items())
    with pytest.raises(ValueError, match="positive"):
        finetune_classification(enc, task, steps=0)
