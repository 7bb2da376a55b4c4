"""Groundwork of the generative chapter: the language-ID wrapper, the layer hook (a loss at hidden
state L reaches only that state's inputs and below), the logit lens, the token-language table and
continuations of tagged prompts."""
import numpy as np
import pytest
import torch
from transformers import LlamaForCausalLM

from _helpers import EXACT
from xalign_utils import measures
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
    # with a norm gain that is not all ones, an intermediate state must go through the norm exactly once
    with torch.no_grad():
        model.model.norm.weight.copy_(torch.linspace(-2.0, 3.0, model.model.norm.weight.numel()))
        hidden = model.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                             output_hidden_states=True).hidden_states
        by_hand = model.lm_head(model.model.norm(hidden[1])).argmax(-1)
        raw = model.lm_head(hidden[1]).argmax(-1)
    tops = G.logit_lens(model, enc["input_ids"], enc["attention_mask"])
    assert torch.equal(tops[1], by_hand) and not torch.equal(tops[1], raw)
    assert torch.equal(tops[-1], model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits.argmax(-1))


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
    # float32 losses of O(10) computed through other code paths: a few ulp (1e-6 each)
    assert float(G.AFPLoss(1, 0.0)(model, b)) == pytest.approx(float(lm), abs=1e-6)
    align = G.LayerContrastLoss(1, 0.05, 1.0)(model, b)
    assert float(G.AFPLoss(1, 0.5)(model, b)) == pytest.approx(float(lm + 0.5 * align), abs=1e-5)
    enc = Encoder(model, tokenizer, "tiny")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trained, losses = G.train_afp(enc, pairs, lm_texts, layer=1, weight=1.0, steps=2, batch_size=3, lm_batch=2)
    assert len(losses) == 2 and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    rows = b["lm_ids"]
    per_row = G.row_log_perplexity(trained.model, rows)
    # per-row float32 means vs one pooled mean of log-probabilities (~9): relative error ~1e-7, through exp
    assert float(np.exp(per_row.mean())) == pytest.approx(G.clm_perplexity(trained.model, rows), rel=1e-5)


def test_tagged_decoder_pools_only_the_texts_own_pieces_as_training_rows_start(tokenizer):
    from xalign_utils.models import Encoder

    model = tiny_decoder(tokenizer, layers=2)
    enc = G.TaggedDecoder(Encoder(model, tokenizer, "tiny"), "de")
    short, long = "Datei öffnen.", "Klicken Sie auf OK, um das Dialogfeld zu schließen."
    pieces = tokenizer(long, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([[tokenizer.bos_token_id, tokenizer.convert_tokens_to_ids("<de>")] + pieces])
    with torch.inference_mode():
        hidden = model.model(input_ids=ids, output_hidden_states=True).hidden_states
    by_hand = torch.stack([h[0, 2:].mean(0) for h in hidden]).numpy()  # neither <s> nor the tag
    both = enc.encode([long, short], layer="all")
    assert both.shape == (3, 2, 32)
    np.testing.assert_allclose(both[:, 0], by_hand, atol=1e-5)  # float32 states of O(1), other batch shapes: ~1e-6
    np.testing.assert_allclose(enc.encode([short], layer=1)[0], both[1, 1], atol=1e-5)  # padding changes nothing
    # the tag is read (through attention) though not pooled
    assert not np.allclose(G.TaggedDecoder(Encoder(model, tokenizer, "tiny"), "es").encode([long], layer=-1)[0],
                           both[-1, 0], atol=1e-4)
    with pytest.raises(ValueError, match="pooling 'cls' is not offered"):
        enc.encode([long], pooling="cls")
    from _helpers import ci_tokenizer

    with pytest.raises(ValueError, match="no language tag for de"):
        G.TaggedDecoder(Encoder(model, ci_tokenizer(), "tiny"), "de")


def test_tagged_pair_batches_draw_as_sentence_pairs_and_tag_each_side(tokenizer):
    from xalign_utils.methods.contrastive import SentencePairBatches

    pairs = [("de", "Open the file.", "Öffnen Sie die Datei."), ("ru", "Close the window.", "Закройте окно."),
             ("de", "Save the page.", "Speichern Sie die Seite."), ("ru", "Open the file.", "Откройте файл.")]
    tagged_batches, plain = G.TaggedPairBatches(tokenizer, pairs, 2, 32, seed=1), SentencePairBatches(tokenizer, pairs, 2, 32, 1)
    tag = lambda lang: tokenizer.convert_tokens_to_ids(f"<{lang}>")
    for step in range(5):
        b, p = tagged_batches(step), plain(step)
        assert torch.equal(b["ids"], p["ids"])
        _, chosen = plain.choose(step)
        for row, (lang, en, x) in enumerate(chosen):
            assert b["a_ids"][row, :2].tolist() == [tokenizer.bos_token_id, tag("en")]
            assert b["b_ids"][row, :2].tolist() == [tokenizer.bos_token_id, tag(lang)]
            n = len(tokenizer(x, add_special_tokens=False)["input_ids"])
            assert b["b_pool"][row].tolist() == [0, 0] + [1] * n + [0] * (b["b_ids"].shape[1] - 2 - n)
            assert b["b_mask"][row, :n + 2].sum() == n + 2


class _Table:
    """A stand-in encoder: each text's vector from a table (all hidden states equal)."""

    num_layers, hidden_size = 1, 8

    def layer_index(self, layer):
        return layer % 2

    def __init__(self, table, seed=0):
        self.table, self.rng = table, np.random.default_rng(seed)

    def encode(self, texts, layer="all", pooling="mean"):
        out = np.stack([self.table.get(t, self.rng.normal(size=8)) for t in texts]).astype(np.float32)
        return np.stack([out, out]) if layer == "all" else out


def test_layer_alignment_scores_chance_for_a_collapsed_decoder_and_one_for_identical_translations(tokenizer):
    from xalign_utils import metrics
    from xalign_utils.models import Encoder, PerLanguage

    texts = {lang: list(data.parallel(["en", "de", "ru"], "eval")[lang][:40]) for lang in ("en", "de", "ru")}
    model = tiny_decoder(tokenizer, layers=2)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    la = G.layer_alignment(G.tagged(Encoder(model, tokenizer, "zero"), list(texts)), texts, n_fit=10)
    chance_ap = metrics.chance_average_precision(2, 3 * 40 - 1)
    for layer in la.layers:
        assert la.outcome("weak P@1", layer).mean() == pytest.approx(1 / 40, rel=EXACT)
        assert la.outcome("weak P@1 centred", layer).mean() == pytest.approx(1 / 40, rel=EXACT)
        assert la.outcome("weak P@1 CSLS", layer).mean() == pytest.approx(1 / 40, rel=EXACT)
        assert la.outcome("strong mAP", layer).mean() == pytest.approx(chance_ap, rel=EXACT)
        assert la.outcome("LID probe", layer).mean() == pytest.approx(1 / 3, rel=EXACT)
    assert la.table()["same-language bias"].to_numpy() == pytest.approx((40 - 1) / (3 * 40 - 1), rel=EXACT)
    vectors = np.random.default_rng(0).normal(size=(40, 8))
    same = PerLanguage({lang: _Table({t: vectors[i] for i, t in enumerate(texts[lang])}) for lang in texts})
    la = G.layer_alignment(same, texts, n_fit=10)
    assert list(la.table().index) == [0, 1] and (la.table()["weak P@1"] == 1.0).all()
    assert (la.table()["weak P@1 CSLS"] == 1.0).all() and (la.table()["LID probe"] < 0.6).all()
    assert (la.table()["strong mAP"] > 0.99).all()
    with pytest.raises(ValueError, match="unknown measure 'P@5'"):
        la.outcome("P@5", 0)


def test_lens_shares_follow_the_owner_table_and_sum_to_one(tokenizer):
    model = tiny_decoder(tokenizer, layers=2)
    langs = ["en", "de", "ru"]
    texts = ["Klicken Sie auf OK.", "Öffnen Sie die Datei."]
    everything_german = np.full(len(tokenizer), 1)
    shares = G.lens_shares(model, tokenizer, texts, "de", everything_german, langs)
    assert shares.shape == (3, 4) and np.allclose(shares[:, 0], 1.0)
    np.testing.assert_allclose(G.lens_shares(model, tokenizer, texts, "ru", everything_german, langs)[:, 2], 1.0)
    none = G.lens_shares(model, tokenizer, texts, "en", np.full(len(tokenizer), -1), langs)
    np.testing.assert_allclose(none[:, 3], 1.0)
    mixed = G.lens_shares(model, tokenizer, texts, "ru", np.arange(len(tokenizer)) % 4 - 1, langs)
    np.testing.assert_allclose(mixed.sum(1), 1.0, atol=1e-6)  # four float32 shares of one count: ~1e-7
    each = G.lens_shares(model, tokenizer, texts, "ru", np.arange(len(tokenizer)) % 4 - 1, langs, per_item=True)
    n = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    assert each.shape == (3, 2, 4)
    np.testing.assert_allclose((each * np.array(n)[None, :, None]).sum(1) / sum(n), mixed, atol=1e-6)


def test_correct_language_rate_prompts_references_and_held_out_rows(tokenizer):
    lid = G.LanguageID(["en", "de"])
    out = G.correct_language(lid, ["Das ist ein ganz normaler deutscher Satz.", "Sie", "This is plain English text."], "de")
    assert out.tolist() == [1.0, 0.0, 0.0]  # "Sie" is too short to be judged
    texts = list(data.corpus("de", "eval")[1][:200])
    picked = G.select_prompts(tokenizer, texts, 5, 20, seed=0, lang="de")
    assert len(picked) == 5 and picked == G.select_prompts(tokenizer, texts, 5, 20, seed=0)
    assert all(len(tokenizer(t, add_special_tokens=False)["input_ids"]) >= 20 for t in picked)
    with pytest.raises(ValueError, match="only .* de texts have at least 500 pieces"):
        G.select_prompts(tokenizer, texts, 5, 500, lang="de")
    refs = G.reference_continuations(tokenizer, picked, 8, 12)
    pieces = tokenizer(picked[0], add_special_tokens=False)["input_ids"]
    assert refs[0] == tokenizer.decode(pieces[8:20]).strip()
    rows = G.heldout_rows(tokenizer, texts, "de", 3, max_len=32)
    from xalign_utils.pretrain import pack_sequences

    packed = pack_sequences(tokenizer, texts, 32, (tokenizer.convert_tokens_to_ids("<de>"),)).tolist()
    assert rows.shape == (3, 32) and all(r in packed for r in rows.tolist())
    assert torch.equal(rows, G.heldout_rows(tokenizer, texts, "de", 3, max_len=32))
    assert not torch.equal(rows, G.heldout_rows(tokenizer, texts, "de", 3, max_len=32, seed=1))
    with pytest.raises(ValueError, match="fewer than 100000"):
        G.heldout_rows(tokenizer, texts, "de", 100000)


def test_measure_decoder_outcomes_agree_with_its_tables(tokenizer):
    from xalign_utils.models import Encoder

    langs = ["en", "de"]
    texts = {lang: list(data.parallel(langs, "eval")[lang][:20]) for lang in langs}
    prompts = {lang: G.select_prompts(tokenizer, data.corpus(lang, "eval")[1][:300], 4, 12, lang=lang) for lang in langs}
    heldout = {lang: G.heldout_rows(tokenizer, data.corpus(lang, "eval")[1], lang, 3, max_len=32) for lang in langs}
    enc = Encoder(tiny_decoder(tokenizer, layers=2), tokenizer, "tiny")
    ev = G.measure_decoder(enc, texts, prompts, heldout, G.LanguageID(langs), n_fit=5, new_tokens=6, prompt_tokens=4)
    assert len(ev.outcome("correct language")) == 8 and len(ev.outcome("log perplexity")) == 6
    both = ev.outcome("correct language")
    np.testing.assert_allclose(both, (ev.outcome("correct language (greedy)") + ev.outcome("correct language (sampled)")) / 2)
    table = ev.per_language()
    assert table.loc["de", "correct language (greedy)"] == ev.correct_greedy["de"].mean()
    assert table.loc["en", "perplexity"] == pytest.approx(G.clm_perplexity(enc.model, heldout["en"]), rel=1e-5)  # as above
    tidy = ev.tidy()
    assert set(tidy.measure) == {"p_at_1_cosine", "p_at_1_cosine_centred", "p_at_1_csls", "strong_map", "lid_probe",
                                 "strong_same_language_bias", "correct_language_greedy",
                                 "correct_language_sampled", "other_script_share", "distinct_3grams", "perplexity"}
    np.testing.assert_allclose(ev.outcome("other script")[:4], (G.other_script_share(ev.greedy["en"], "en")
                                                                + G.other_script_share(ev.sampled["en"], "en")) / 2)
    assert tidy[(tidy.measure == "p_at_1_cosine") & (tidy.layer == 1)].value.mean() == pytest.approx(
        ev.outcome("weak P@1", 1).mean(), rel=EXACT)  # the same hits, averaged in another order
    assert all(ev.greedy[lang] and ev.sampled[lang] for lang in langs)
    with pytest.raises(ValueError, match="pass layer="):
        ev.outcome("strong mAP")
    # per-item outcomes for record_results: every tidy row's value is its items' mean (EXACT: the same
    # float64 numbers summed in another order), perplexity is exp of the mean log perplexity
    items = ev.item_outcomes()
    measures.check_names([*items, *tidy.measure])  # the encoders' names (tests/test_harness.py), one registry
    assert set(items) == set(tidy.measure) - {"strong_same_language_bias", "perplexity"} | {"log_perplexity"}
    for row in tidy.itertuples():
        if row.measure == "strong_same_language_bias":
            continue
        if row.measure == "perplexity":
            x = items["log_perplexity"][row.tgt]
            # the tidy value averages the float32 log perplexities in float32 (stored here as float64):
            # the means differ by float32 rounding (~1e-7 of a log perplexity below 20), ~1e-6 after exp
            assert np.exp(x.mean()) == pytest.approx(row.value, rel=1e-5)
        else:
            x = items[row.measure][f"{row.tgt}@{row.layer}" if row.layer >= 0 else row.tgt]
            assert x.mean() == pytest.approx(row.value, rel=EXACT, abs=EXACT), row
        assert x.dtype == np.float64 and len(x) == row.n
    assert {len(cols) for m, cols in items.items() if m.startswith("p_at_1")} == {len(ev.alignment.layers)}
    np.testing.assert_array_equal(items["correct_language_greedy"]["de"], ev.correct_greedy["de"])
    np.testing.assert_array_equal(items["strong_map"]["all@1"], ev.outcome("strong mAP", 1))


def test_continuations_of_all_languages_in_one_batch_equal_one_language_at_a_time(tokenizer):
    model = tiny_decoder(tokenizer, layers=1)
    prompts = {"de": ["Klicken Sie auf OK, um das Dialogfeld zu schließen.", "Öffnen Sie die Datei im Editor."],
               "en": ["Click OK to close the dialog box now.", "Open the file in the editor window."]}
    together = G.continue_by_language(model, tokenizer, prompts, max_new_tokens=5, prompt_tokens=4)
    for lang, p in prompts.items():
        assert together[lang] == G.continue_texts(model, tokenizer, p, lang, max_new_tokens=5, prompt_tokens=4)
    ids = G.prompt_ids(tokenizer, prompts["de"], "de", 4)
    with torch.inference_mode():
        gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=5, min_new_tokens=5, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    assert gen.shape[1] == ids.shape[1] + 5  # full length: the end of paragraph is not allowed earlier
    sampled = G.continue_by_language(model, tokenizer, prompts, 5, sample=True, seed=1, prompt_tokens=4)
    assert sampled == G.continue_by_language(model, tokenizer, prompts, 5, sample=True, seed=1, prompt_tokens=4)


def test_script_share_repetition_and_the_floors_by_hand(tokenizer):
    assert G.other_script_share(["Klicken Sie auf OK", "Нажмите OK", "", "12 34"], "ru").tolist() == [1.0, 2 / 9, 0.0, 0.0]
    assert G.other_script_share(["点击 OK"], "zh").tolist() == [2 / 4]
    assert G.other_script_share(["फ़ाइल खोलें"], "hi")[0] == 0.0

def test_script_share_needs_a_letter_table(monkeypatch):
    monkeypatch.delitem(G.SCRIPT_LETTERS, "Hangul")
    with pytest.raises(ValueError, match="no letter table for the Hangul script of 'ko'"):
        G.other_script_share(["안녕하세요"], "ko")


def test_repetition_and_the_floors_by_hand(tokenizer):
    ids = tokenizer("Datei Datei Datei Datei Datei Datei", add_special_tokens=False)["input_ids"]
    rep = G.distinct_ngrams(tokenizer, ["Datei Datei Datei Datei Datei Datei"])[0]
    grams = [tuple(ids[i:i + 3]) for i in range(len(ids) - 2)]
    assert rep == len(set(grams)) / len(grams) and rep < 0.5  # a ratio of counts: exact
    assert G.distinct_ngrams(tokenizer, ["Öffnen Sie bitte die Datei im Editor jetzt."])[0] == 1.0
    text = "Klicken Sie auf OK, um das Dialogfeld zu schließen."
    pieces = tokenizer(text, add_special_tokens=False)["input_ids"]
    copy = G.copy_continuations(tokenizer, [text], 4, 10)[0]
    assert copy == tokenizer.decode((pieces[:4] * 3)[:10]).strip()
    noise = G.unigram_continuations(tokenizer, ["Datei Datei öffnen"], 3, 5, seed=0)
    assert len(noise) == 3 and noise == G.unigram_continuations(tokenizer, ["Datei Datei öffnen"], 3, 5, seed=0)
    seen = set(tokenizer("Datei Datei öffnen", add_special_tokens=False)["input_ids"])
    assert all(set(tokenizer(t, add_special_tokens=False)["input_ids"]) <= seen | {tokenizer.unk_token_id} for t in noise)
