"""Tokenizer, encode(), the shipped checkpoint and its provenance, cache behaviour."""
import hashlib
import json
import unicodedata

import numpy as np
import pytest
import torch

from xalign_utils import data
from xalign_utils.models import (ModelLoadError, base_model, checkpoint_for, encode, load_model, random_init_model,
                                 shipped_checkpoint)
from xalign_utils.presets import get_preset
from xalign_utils.pretrain import MLMBatches, compare_with_control, mlm_loss, training_key
from xalign_utils.tokenize import train_tokenizer
from xalign_utils.train import seed_everything, train_loop

CI = get_preset("ci")
SHIPPED = shipped_checkpoint("ci")


@pytest.fixture(scope="module")
def ci_model():
    return base_model("ci")


@pytest.fixture(scope="module")
def log():
    """The training log `xalign pretrain --preset ci` wrote beside the shipped weights."""
    return json.loads((SHIPPED / "training_log.json").read_text())


@pytest.fixture(scope="module")
def rebuilt_tokenizer(log):
    """The ci tokenizer trained again here, from the pretraining split (about 15 s)."""
    return train_tokenizer(CI.langs, CI.model.vocab_size, CI.train.lang_alpha, log["seed"], CI.train.disjoint)


def vocab(tok) -> list:
    return json.loads(tok.backend_tokenizer.to_str())["model"]["vocab"]


def test_tokenizer_round_trip(ci_model):
    """decode(encode(text)) == text (NFKC, whitespace-normalised) unless a character is unknown (rare)."""
    _, tok = ci_model
    for lang in CI.langs:
        texts = data.corpus(lang, "eval")[1][:300]
        with_unk = 0
        for text in texts:
            ids = tok(text)["input_ids"]
            assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
            if tok.unk_token_id in ids:
                with_unk += 1
                continue
            expected = " ".join(unicodedata.normalize("NFKC", text).split())
            assert " ".join(tok.decode(ids, skip_special_tokens=True).split()) == expected
        assert with_unk <= 0.02 * len(texts), f"{lang}: {with_unk} of {len(texts)} texts hit <unk>"


def test_encode_batched_equals_one_by_one_in_order(ci_model):
    model, tok = ci_model
    texts = [t for lang in CI.langs for t in data.corpus(lang, "eval")[1][:6]]
    batched = encode(model, tok, texts, batch_size=7)
    single = np.stack([encode(model, tok, [t], batch_size=1)[0] for t in texts])
    assert batched.dtype == np.float32 and batched.shape == (len(texts), model.config.hidden_size)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    all_layers = encode(model, tok, texts, layer="all", pooling="cls")
    assert all_layers.shape[0] == model.config.num_hidden_layers + 1
    np.testing.assert_allclose(all_layers[1], encode(model, tok, texts, layer=1, pooling="cls"), atol=1e-5)


def test_shipped_checkpoint_matches_current_code_and_data(log):
    assert log["key"] == training_key(CI, 0), (
        "checkpoints/ci was trained from other code/config/data: rerun `xalign pretrain --preset ci`"
    )
    assert checkpoint_for(CI, 0) == SHIPPED


def test_shipped_weights_hash_matches_log(log):
    assert hashlib.sha256((SHIPPED / "model.safetensors").read_bytes()).hexdigest() == log["weights_sha256"]


def test_tokenizer_training_rebuilds_the_shipped_tokenizer(ci_model, log, rebuilt_tokenizer):
    """Training the tokenizer again gives the shipped one exactly: same pieces, ids and scores."""
    _, shipped = ci_model
    assert vocab(rebuilt_tokenizer) == vocab(shipped)
    assert hashlib.sha256(json.dumps(vocab(rebuilt_tokenizer)).encode()).hexdigest() == log["tokenizer_vocab_sha256"]
    text = data.corpus("hi", "eval")[1][0]
    assert rebuilt_tokenizer(text)["input_ids"] == shipped(text)["input_ids"]


def test_first_training_steps_reproduce_logged_losses(log, rebuilt_tokenizer):
    """Re-run the first 20 steps from the logged seed, with the tokenizer trained again here: the
    shipped weights come from this code, end to end."""
    seed = log["seed"]
    batches = MLMBatches(CI, rebuilt_tokenizer, seed)
    seed_everything(seed)
    model = random_init_model(CI, seed, rebuilt_tokenizer)
    losses = train_loop(model, mlm_loss, batches, steps=20, lr=CI.train.lr, warmup=CI.train.warmup,
                        weight_decay=CI.train.weight_decay)
    np.testing.assert_allclose(losses, log["losses_first_steps"], atol=1e-4)


def test_compare_with_control_by_hand():
    held = {
        "trained": {"raw": {"de": [0.1, 0.3], "es": [0.3, 0.1]}, "centred": {"de": [0.2, 0.4], "es": [0.0, 0.4]}},
        "random_init": {"raw": {"de": [0.2, 0.2], "es": [0.2, 0.4]}, "centred": {"de": [0.1, 0.1], "es": [0.1, 0.1]}},
    }
    out = compare_with_control(held)
    assert out["raw"]["per_layer"] == {"trained": [0.2, 0.2], "random_init": [0.2, 0.3]}
    assert out["raw"]["best"] == {"trained": 0.2, "random_init": 0.3} and not out["raw"]["beats_control"]
    assert out["centred"]["best"] == {"trained": 0.4, "random_init": 0.1} and out["centred"]["beats_control"]


def test_training_log_compares_with_the_random_init_control(log):
    """The log holds held-out retrieval of the trained model and of the control, per layer, and the
    summary of the two (`versus_control`) is the one computed from them."""
    ret = log["held_out_retrieval"]
    n_hidden = CI.model.num_hidden_layers + 1
    for model in ("trained", "random_init"):
        for view in ("raw", "centred"):
            assert set(ret[model][view]) == set(CI.langs) - {"en"}
            assert all(len(v) == n_hidden and all(0 <= x <= 1 for x in v) for v in ret[model][view].values())
    assert log["versus_control"] == compare_with_control(ret)
    assert log["tokens_seen"] == CI.train.steps * CI.train.batch_size * CI.model.max_len
    assert log["curve"][-1]["step"] == CI.train.steps and log["curve"][-1]["loss"] < log["curve"][0]["loss"]


def test_masked_only_head_equals_full_head_loss(ci_model):
    model, tok = ci_model
    batch = MLMBatches(CI, tok, 0)(3)
    with torch.no_grad():
        a = mlm_loss(model, batch, masked_only=True)
        b = mlm_loss(model, batch, masked_only=False)
    assert float(a) == pytest.approx(float(b), abs=1e-5)


def test_changed_config_retrains_once_then_loads_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_CACHE_DIR", str(tmp_path))
    changes = {"model": {"hidden_size": 32, "num_hidden_layers": 1, "intermediate_size": 64},
               "train": {"steps": 3, "log_every": 1}}
    m1, _ = base_model("ci", **changes)
    cached = list((tmp_path / "models").glob("ci-*"))
    assert len(cached) == 1 and (cached[0] / "training_log.json").exists()
    m2, _ = base_model("ci", **changes)
    for (n1, p1), (n2, p2) in zip(m1.state_dict().items(), m2.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2)
    assert m1.config.hidden_size == 32


def test_hub_name_offline_and_missing_dir_get_one_line_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="not available offline"):
        load_model("xlm-roberta-base-not-cached")
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "nope"))
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            load_model(SHIPPED, device="cuda")
    model, _ = load_model(SHIPPED)  # a local HF directory, loaded as a plain encoder
    assert model.__class__.__name__ == "XLMRobertaModel"


def test_zero_shot_pos_beats_majority_on_english_and_reports_gap(ci_model):
    from xalign_utils.transfer import zero_shot_pos

    model, tok = ci_model
    table = zero_shot_pos(model, tok, test_langs=["en", "de"], max_train_sentences=400)
    assert list(table.treebank) == ["en_ewt", "en_pud", "de_pud"]
    en = table.set_index("treebank").loc["en_pud"]
    assert en.accuracy > en.majority + 0.1
    assert table.set_index("treebank").loc["en_pud", "gap"] == 0.0


def test_shipped_checkpoint_beats_the_control_on_held_out_retrieval(log):
    """Issue 3's bar, read from the log the training run wrote: on 1000 held-out paragraphs the
    trained model's best layer beats the random-init control's best layer once each language's mean
    is removed (raw cosine retrieval is reported beside it; at ci scale it is level with the control)."""
    summary = log["versus_control"]
    centred = summary["centred"]["best"]
    assert summary["centred"]["beats_control"] and centred["trained"] > 1.2 * centred["random_init"], centred
