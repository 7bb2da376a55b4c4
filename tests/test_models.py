"""The Encoder: tokenizer round trip, encode(), layer checks, loading local/hub models with clear errors."""
import unicodedata

import numpy as np
import pytest
import torch

from xalign_utils import data
from xalign_utils.checkpoints import base_model, shipped_checkpoint
from xalign_utils.models import Encoder, ModelLoadError, check_model_name, load_model, random_init_encoder
from xalign_utils.presets import get_preset

CI = get_preset("ci")
SHIPPED = shipped_checkpoint("ci")


@pytest.fixture(scope="module")
def ci_model():
    return base_model("ci")


def test_tokenizer_round_trip(ci_model):
    """decode(encode(text)) == text (NFKC, whitespace-normalised) unless a character is unknown (rare)."""
    tok = ci_model.tokenizer
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
    texts = [t for lang in CI.langs for t in data.corpus(lang, "eval")[1][:6]]
    batched = ci_model.encode(texts, batch_size=7)
    single = np.stack([ci_model.encode([t], batch_size=1)[0] for t in texts])
    assert batched.dtype == np.float32 and batched.shape == (len(texts), ci_model.hidden_size)
    np.testing.assert_allclose(batched, single, atol=1e-5)
    all_layers = ci_model.encode(texts, layer="all", pooling="cls")
    assert all_layers.shape[0] == ci_model.num_layers + 1
    np.testing.assert_allclose(all_layers[1], ci_model.encode(texts, layer=1, pooling="cls"), atol=1e-5)
    np.testing.assert_allclose(all_layers[-1], ci_model.encode(texts, layer=-1, pooling="cls"), atol=1e-5)


def test_mean_pooling_by_hand(ci_model):
    """Mean pooling = the average of the last hidden states over the text's tokens (specials included)."""
    text = data.corpus("de", "eval")[1][3]
    ids = ci_model.tokenizer([text], return_tensors="pt")
    with torch.no_grad():
        hidden = ci_model.model.roberta(**ids).last_hidden_state[0]
    np.testing.assert_allclose(ci_model.encode([text])[0], hidden.mean(0).numpy(), atol=1e-5)


@pytest.mark.parametrize("layer", [3, -4, 1.0, True])
def test_layer_out_of_range_is_refused_not_wrapped(ci_model, layer):
    with pytest.raises(ValueError, match="out of range for a 2-layer model; use 0..2"):
        ci_model.encode(["a text"], layer=layer)


def test_encode_refuses_bad_input(ci_model):
    with pytest.raises(ValueError, match="unknown pooling 'max'"):
        ci_model.encode(["x"], pooling="max")
    with pytest.raises(TypeError, match="wrap a single text in a list"):
        ci_model.encode("one text")
    with pytest.raises(ValueError, match="no texts"):
        ci_model.encode([])


def test_random_init_control_has_the_shape_and_tokenizer(ci_model):
    control = random_init_encoder("ci", ci_model.tokenizer, seed=1)
    assert isinstance(control, Encoder) and control.tokenizer is ci_model.tokenizer
    assert control.num_layers == ci_model.num_layers and control.parameters() == ci_model.parameters()
    other = random_init_encoder("ci", ci_model.tokenizer, seed=2)
    assert not np.allclose(control.encode(["Hallo"]), other.encode(["Hallo"]))


def test_hub_name_offline_and_missing_dir_get_one_line_errors(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="not available offline"):
        load_model("xlm-roberta-base-not-cached")
    with pytest.raises(ModelLoadError, match="not available offline"):
        check_model_name("no-such-org/no-such-model")  # checked before any compute
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        check_model_name(str(tmp_path / "empty"))
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            load_model(SHIPPED, device="cuda")
    enc = load_model(SHIPPED)  # a local HF directory, loaded as a plain encoder
    assert enc.model.__class__.__name__ == "XLMRobertaModel" and enc.encode(["x"]).shape == (1, enc.hidden_size)
