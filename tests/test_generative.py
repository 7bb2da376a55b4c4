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
    text = "Klicken Sie auf OK, um das Dialogfeld zu schließen."
    pieces = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert G.prompt_ids(tokenizer, [text], "de", 4).tolist() == [[tokenizer.bos_token_id, tag] + pieces[:4]]
    # the same start as a packed training row: <s> <de> pieces
    from xalign_utils.pretrain import pack_sequences
    row = pack_sequences(tokenizer, [text], 6, (tag,))[0].tolist()
    assert row == [tokenizer.bos_token_id, tag] + pieces[:4]
    model = tiny_decoder(tokenizer, layers=1)
    greedy = G.continue_texts(model, tokenizer, [text, text], "de", max_new_tokens=5, prompt_tokens=4)
    assert greedy[0] == greedy[1] and greedy == G.continue_texts(model, tokenizer, [text, text], "de", 5, prompt_tokens=4)
    a = G.continue_texts(model, tokenizer, [text], "de", max_new_tokens=5, sample=True, seed=3, prompt_tokens=4)
    assert a == G.continue_texts(model, tokenizer, [text], "de", max_new_tokens=5, sample=True, seed=3, prompt_tokens=4)
    with pytest.raises(ValueError, match="no language tag <xx>"):
        G.continue_texts(model, tokenizer, [text], "xx")
    with pytest.raises(ValueError, match="fewer than prompt_tokens=50"):
        G.prompt_ids(tokenizer, [text], "de", 50)


def test_afp_loss_is_the_lm_loss_plus_weighted_alignment_and_perplexity_items_agree(tokenizer):
    from xalign_utils.models import Encoder
    from xalign_utils.pretrain import clm_loss

    pairs = [("de", "Open the file now.", "Öffnen Sie die Datei jetzt."), ("es", "Close the window now.", "Cierre la ventana ahora."),
             ("de", "Save the page now.", "Speichern Sie die Seite jetzt.")]
    lm_texts = {lang: list(data.corpus(lang, "pretrain")[1][:10]) for lang in ("en", "de")}
    batches = G.AFPBatches(tokenizer, pairs, lm_texts, batch_size=3, lm_batch=2, max_len=16, seed=0)
    b = batches(0)
    assert b["lm_ids"].shape == (2, 16)
    tags = {tokenizer.convert_tokens_to_ids(f"<{l}>") for l in ("en", "de", "es", "ru", "zh", "hi")}
    seen = {t for step in range(20) for t in batches(step)["lm_ids"].flatten().tolist() if t in tags}
    assert seen == {tokenizer.convert_tokens_to_ids("<en>"), tokenizer.convert_tokens_to_ids("<de>")}
    model = tiny_decoder(tokenizer, layers=2)
    lm = clm_loss(model, {"input_ids": b["lm_ids"]})
    assert float(G.AFPLoss(1, 0.0)(model, b)) == pytest.approx(float(lm), abs=1e-6)
    align = G.LayerContrastLoss(1, 0.05, 1.0)(model, b)
    assert float(G.AFPLoss(1, 0.5)(model, b)) == pytest.approx(float(lm + 0.5 * align), abs=1e-5)
    enc = Encoder(model, tokenizer, "tiny")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trained, losses = G.train_afp(enc, pairs, lm_texts, layer=1, weight=1.0, steps=2, batch_size=3, lm_batch=2)
    assert len(losses) == 2 and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    rows = b["lm_ids"]
    per_row = G.row_log_perplexity(trained.model, rows)
    assert float(np.exp(per_row.mean())) == pytest.approx(G.clm_perplexity(trained.model, rows), rel=1e-5)
