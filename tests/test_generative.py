"""Groundwork of the generative chapter: the language-ID wrapper, the layer hook (a loss at hidden
state L reaches only that state's inputs and below), the logit lens, the token-language table and
continuations of tagged prompts."""
import numpy as np
import pytest
import torch
from transformers import LlamaForCausalLM

from xalign_utils import data
from xalign_utils.checkpoints import shipped_checkpoint
from xalign_utils.methods import generative as G
from xalign_utils.models import decoder_config
from xalign_utils.presets import get_preset

LANGS = ["en", "de", "es", "ru", "zh", "hi"]


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(shipped_checkpoint("ci", arch="decoder"))


def tiny_decoder(tokenizer, layers=3, seed=0):
    cfg = get_preset("ci").with_changes(model={"hidden_size": 32, "num_hidden_layers": layers, "intermediate_size": 64})
    torch.manual_seed(seed)
    return LlamaForCausalLM(decoder_config(cfg.model, tokenizer)).eval()


def test_language_id_refuses_an_unsupported_language_in_one_line():
    with pytest.raises(ValueError, match=r"does not know 'xx'; choose from: af, am"):
        G.LanguageID(["en", "xx"])
    with pytest.raises(ValueError, match="needs at least two languages"):
        G.LanguageID(["en"])
    lid = G.LanguageID(["en", "de"])
    with pytest.raises(ValueError, match="'ru' is not one of this identifier's languages: en, de"):
        lid.rate(["Hallo"], "ru")


def test_language_id_is_accurate_on_human_text_and_says_nothing_for_no_letters():
    lid = G.LanguageID(LANGS)
    texts = {lang: list(data.corpus(lang, "parallel")[1][:30]) for lang in LANGS}
    acc = lid.accuracy(texts)
    assert set(acc) == set(LANGS) and all(a >= 0.8 for a in acc.values()), acc
    assert lid.identify(["...", "12 34"])[0] == ""
    out = lid.rate(texts["de"][:5] + texts["ru"][:5], "de")
    assert out.tolist() == [1.0] * 5 + [0.0] * 5


def test_a_loss_at_hidden_state_l_reaches_only_that_states_inputs_and_below(tokenizer):
    model = tiny_decoder(tokenizer, layers=3).train()
    pairs = [("de", "Open the file.", "Öffnen Sie die Datei."), ("es", "Close the window.", "Cierre la ventana."),
             ("de", "Save the page.", "Speichern Sie die Seite.")]
    from xalign_utils.methods.contrastive import SentencePairBatches

    batch = SentencePairBatches(tokenizer, pairs, 3, 32, seed=0)(0)
    loss = G.LayerContrastLoss(layer=2, tau=0.1)(model, batch)  # hidden state 2 = output of layers 0 and 1
    loss.backward()

    def moved(module):
        return any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in module.parameters())

    layers = model.model.layers
    assert moved(model.model.embed_tokens) and moved(layers[0]) and moved(layers[1])
    assert not moved(layers[2]) and not moved(model.model.norm)
    with pytest.raises(ValueError, match="tau must be positive"):
        G.LayerContrastLoss(1, tau=0)


def test_logit_lens_last_layer_is_the_models_own_prediction(tokenizer):
    model = tiny_decoder(tokenizer, layers=2)
    enc = tokenizer(["<de> Klicken Sie auf OK.", "<en> Click OK."], padding=True, return_tensors="pt")
    tops = G.logit_lens(model, enc["input_ids"], enc["attention_mask"])
    assert tops.shape == (3, *enc["input_ids"].shape)
    with torch.inference_mode():
        own = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.argmax(-1)
    assert torch.equal(tops[-1], own)


def test_token_languages_by_hand(tokenizer):
    table = G.token_languages(tokenizer, {"de": ["Haus Haus Haus"], "en": ["house house"]})
    de_ids = tokenizer("Haus", add_special_tokens=False)["input_ids"]
    en_ids = tokenizer("house", add_special_tokens=False)["input_ids"]
    assert all(table[i] == 0 for i in set(de_ids) - set(en_ids))
    assert all(table[i] == 1 for i in set(en_ids) - set(de_ids))
    assert table[tokenizer.convert_tokens_to_ids("<zh>")] == -1  # never seen


def test_prompts_are_tagged_like_training_rows_and_continuations_are_reproducible(tokenizer):
    tag = tokenizer.convert_tokens_to_ids("<de>")
    text = "Klicken Sie auf OK."
    tagged = tokenizer(f"<de> {text}")["input_ids"]
    plain = tokenizer(text)["input_ids"]
    assert tagged == [plain[0], tag] + plain[1:]  # <s> <de> pieces </s>, as pretrain packs them
    model = tiny_decoder(tokenizer, layers=1)
    greedy = G.continue_texts(model, tokenizer, [text], "de", max_new_tokens=5)
    assert greedy == G.continue_texts(model, tokenizer, [text], "de", max_new_tokens=5)
    a = G.continue_texts(model, tokenizer, [text], "de", max_new_tokens=5, sample=True, seed=3)
    assert a == G.continue_texts(model, tokenizer, [text], "de", max_new_tokens=5, sample=True, seed=3)
    with pytest.raises(ValueError, match="no language tag <xx>"):
        G.continue_texts(model, tokenizer, [text], "xx")
    rows = torch.tensor([tagged[:6]])
    assert np.isfinite(G.clm_perplexity(model, rows))
