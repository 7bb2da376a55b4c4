"""The kit of chapter 06_generative (xalign_utils/kit/generative.py) on small made-up decoders: its
tables, figures, the runs it names, the sentences for every verdict, and what it glues and records."""
import json
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from xalign_utils.kit import generative as kit  # noqa: E402
from xalign_utils.methods import generative as G  # noqa: E402
from xalign_utils.metrics import Interval  # noqa: E402

LANGS = ["en", "de", "ru"]
LAYERS = [0, 1, 2]
MIDDLE, LAST = 1, 2
ITEMS, PROMPTS, ROWS = 12, 6, 4


@pytest.fixture
def sink(monkeypatch, tmp_path):
    """What the kit glues (name -> plain text) and, under "recorded", what it writes to metrics.json."""
    import myst_nb

    glued = {}

    def fake_glue(name, value, display=True):
        glued[name] = repr(value)

    monkeypatch.setattr(myst_nb, "glue", fake_glue)
    path = tmp_path / "metrics.json"
    monkeypatch.setenv("XALIGN_METRICS_PATH", str(path))
    monkeypatch.setenv("XALIGN_RESULTS_PATH", str(tmp_path / "results.csv"))
    return SimpleNamespace(glued=glued, recorded=lambda: json.loads(path.read_text()) if path.exists() else {})


class WordLID:
    """A stand-in identifier: a text's language is its first word ("" without one)."""

    def identify(self, texts):
        return [t.split()[0] if t.split() else "" for t in texts]

    def rate(self, texts, lang):
        return np.array([float(x == lang) for x in self.identify(texts)])


class WordTokenizer:
    """A stand-in tokenizer: one piece per word of a fixed vocabulary."""

    def __init__(self, words):
        self.vocab = list(dict.fromkeys(words))

    def __call__(self, texts, add_special_tokens=False):
        if isinstance(texts, str):
            return {"input_ids": [self.vocab.index(w) for w in texts.split()]}
        return {"input_ids": [[self.vocab.index(w) for w in t.split()] for t in texts]}

    def decode(self, ids, skip_special_tokens=False):
        return " ".join(self.vocab[i] for i in ids)

    def __len__(self):
        return len(self.vocab)


def decoder_eval(name, level, seed):
    """A DecoderEval whose alignment rises with `level`, with continuations labelled by language."""
    rng = np.random.default_rng(seed)

    def frames(p):
        return [pd.DataFrame({l: (rng.random(ITEMS) < p + 0.1 * i).astype(float) for l in LANGS[1:]}) for i in LAYERS]

    alignment = G.LayerAlignment(LAYERS, frames(level), frames(level / 2), [rng.random(ITEMS) * level for _ in LAYERS],
                                 bias=[0.5 for _ in LAYERS])
    greedy = {l: [f"{l if k % 3 else 'en'} greedy {k}" for k in range(PROMPTS)] for l in LANGS}
    sampled = {l: [f"{l} sampled {k}" for k in range(PROMPTS)] for l in LANGS}
    correct = {l: (rng.random(PROMPTS) < 0.5 + level).astype(float) for l in LANGS}
    return G.DecoderEval(name, alignment, greedy, sampled, correct, dict(correct),
                         {l: rng.random(ROWS) + 3 - level for l in LANGS},
                         {l: rng.random(PROMPTS) * 0.1 for l in LANGS}, {l: rng.random(PROMPTS) for l in LANGS})


@pytest.fixture(scope="module")
def runs():
    return kit.variants([MIDDLE, LAST], [1.0, 10.0], MIDDLE, LAST)


@pytest.fixture(scope="module")
def evals(runs):
    names = ["base", "random init", *(n for n, *_ in runs)]
    return {n: decoder_eval(n, 0.05 * (i + 1), i) for i, n in enumerate(names)}


def result(verdict):
    diff, low, high = {"better": (0.1, 0.05, 0.15), "worse": (-0.1, -0.15, -0.05),
                       "inconclusive": (0.0, -0.05, 0.05)}[verdict]
    return Interval(diff, low, high, 10, 100, 0, 0.95), verdict


def test_variants_name_the_control_every_aligned_state_and_strength_and_the_random_init_pair(runs):
    assert runs == [("λ = 0", 1, 0.0, False), ("middle, λ = 1", 1, 1.0, False), ("middle, λ = 10", 1, 10.0, False),
                    ("last, λ = 1", 2, 1.0, False), ("last, λ = 10", 2, 10.0, False),
                    ("λ = 0 (from random init)", 1, 0.0, True), ("middle, λ = 1 (from random init)", 1, 1.0, True)]
    named = kit.variants([0], [0.5], MIDDLE, LAST)
    assert named[1][0] == "hidden state 0, λ = 0.5" and named[-1][0] == "hidden state 0, λ = 0.5 (from random init)"


def test_chance_levels_and_the_reference_table():
    chance = kit.chance_levels(10, 2)
    assert chance["weak P@1"] == chance["weak P@1 centred"] == 0.1
    assert chance["correct language"] == chance["LID probe"] == 0.5
    assert chance["same-language bias"] == pytest.approx(9 / 19)
    table = kit.reference_table(chance, {"weak P@1": 0.3, "strong mAP": 0.2})
    assert list(table.index) == ["chance", "TF-IDF (no layers)"] and "correct language" not in table.columns
    assert table.loc["TF-IDF (no layers)", "weak P@1"] == 0.3


def test_outcome_passes_the_layer_only_to_measures_with_layers(evals):
    ev = evals["base"]
    assert np.array_equal(kit.outcome(ev, "weak P@1", LAST), ev.outcome("weak P@1", LAST))
    assert np.array_equal(kit.outcome(ev, "log perplexity", LAST), ev.outcome("log perplexity"))
    assert list(kit.AGAINST) == ["weak P@1", "weak P@1 centred", "strong mAP", "correct language", "other script",
                                 "distinct 3-grams", "log perplexity"]
    assert not kit.AGAINST["other script"] and not kit.AGAINST["log perplexity"]


def test_middle_table_and_layer_status_glue_every_interval(sink):
    mid_vs = {}
    for m in kit.LAYER_MEASURES:
        mid_vs[m, "last"], mid_vs[m, "embeddings"] = result("better"), result("better")
    for m in kit.LAYER_MEASURES:
        mid_vs[m, "control"], mid_vs[m, "last, normed"] = result("better"), result("inconclusive")
    table = kit.middle_table(mid_vs)
    assert list(table.columns) == ["middle − last", "middle − embeddings", "middle − control", "middle − last, normed"]
    assert list(table.index) == list(kit.LAYER_MEASURES)
    assert table.loc["strong mAP", "middle − last"] == "+0.100 [+0.050, +0.150] (better)"
    status = kit.glue_layer_status(mid_vs)
    assert status.startswith("reproduced") and sink.glued["status_layers"] == status
    assert sink.glued["layers_read"] == "weak P@1, weak P@1 centred, strong mAP"
    keys = {f"iv_mid_{m}_{o}" for m in ("p1", "p1c", "map") for o in ("last", "embe", "ctrl", "norm")}
    assert keys <= set(sink.glued)
    assert sink.glued["iv_mid_p1c_norm"].endswith("(inconclusive)")
    for m in kit.LAYER_MEASURES:
        mid_vs[m, "control"] = result("worse")
    kit.glue_layer_status(mid_vs)
    assert sink.glued["layers_read"] == "none" and sink.glued["status_layers"].startswith("cannot be decided")


def test_lid_tables_floors_and_their_glue(sink):
    lid = WordLID()
    words = "en de ru one two three four five six seven eight".split()
    tok = WordTokenizer(words)
    prompts = {l: [f"{l} one two three four five six seven"] * 2 for l in LANGS}
    references = {"en": ["en five six", "en seven eight"], "de": ["de five six", "en five"], "ru": ["ru six", "ru six"]}
    texts = {l: [f"{l} one", f"{l} two"] for l in LANGS}
    rates = kit.lid_table(lid, references, prompts, texts, LANGS, min_letters=2)
    assert list(rates.columns) == ["human continuations", "whole paragraphs", "eval sentences (View I items)"]
    assert rates.loc["de", "human continuations"] == 0.5 and rates.loc["ru", "whole paragraphs"] == 1.0
    lm_texts = {l: ["one two three", "four five six"] for l in LANGS}
    conts = kit.floors(tok, prompts, references, lm_texts, LANGS, n_prompts=2, prompt_tokens=2, new_tokens=5, seed=0)
    assert list(conts) == ["human text", "floor: repeat the prompt", "floor: frequency-drawn noise"]
    assert conts["floor: repeat the prompt"]["de"][0] == "de one de one de"
    with pytest.raises(TypeError):  # the sizes and the seed are keyword-only
        kit.floors(tok, prompts, references, lm_texts, LANGS, 2, 2, 5, 0)
    assert all(len(conts["floor: frequency-drawn noise"][l]) == 2 for l in LANGS)
    table = kit.floor_table(lid, tok, conts, LANGS, min_letters=2)
    assert list(table.columns) == ["correct language", "other script", "distinct 3-grams"]
    assert table.loc["floor: repeat the prompt", "correct language"] == 1.0
    assert table.loc["floor: repeat the prompt", "distinct 3-grams"] == pytest.approx(2 / 3)
    human = np.array([1.0, 1.0, 1.0, 0.0, 1.0, 1.0])  # the chapter's per-prompt outcomes
    kit.glue_lid(human, np.array([0.0, 0.5, 0.1]), rates, table, n_langs=3)
    assert sink.recorded()["lid_human"]["value"] == pytest.approx(5 / 6) and sink.glued["human_script"] == "0.200"
    assert sink.glued["lid_human_min_lang"] == "de" and sink.glued["lid_human_min"] == "0.50"
    assert sink.glued["copy_rate"] == "1.000" and sink.glued["lid_chance"] == "0.333"


def test_glue_setup_glues_the_parameters_as_the_prose_cites_them(sink):
    params = SimpleNamespace(n_prompts=48, prompt_tokens=8, new_tokens=24, min_letters=10, heldout=16, steps=64,
                             batch_size=16, lm_batch=4, lm_paragraphs=2000, lr=3e-4, tau=0.05, temperature=1.0,
                             weights=[1.0, 10.0], lens_items=200, n_fit=100)
    kit.glue_setup(params, n_items=409, n_pairs=500, n_layers=4, row_len=128, vocab=8006)
    assert sink.glued["min_pieces"] == "32" and sink.glued["lr"] == "0.0003" and sink.glued["weights"] == "1, 10"
    assert (sink.glued["middle"], sink.glued["last"], sink.glued["vocab"]) == ("2", "4", "8,006")
    assert len(sink.glued) == 23


def test_per_layer_and_reference_glue_record_both_decoders_at_each_layer(sink, evals):
    normed = evals["λ = 0"].alignment
    table = kit.per_layer_table({n: evals[n] for n in ("base", "random init")}, normed)
    assert list(table.index.get_level_values("model").unique()) == ["base", "random init",
                                                                    "base, every state through the final norm"]
    assert "same-language bias" in table.columns
    kit.glue_references(evals, kit.chance_levels(ITEMS, 3), {"weak P@1": 0.25, "strong mAP": 0.125}, (0, MIDDLE, LAST))
    rec = sink.recorded()
    assert len(rec) == 18 and rec["control_p1_centred_h2"]["value"] == pytest.approx(
        evals["random init"].outcome("weak P@1 centred", 2).mean())
    assert sink.glued["lexical_map"] == "0.125" and sink.glued["chance_p1"] == f"{1 / ITEMS:.4f}"


def test_lens_class_table_glue_and_figure(sink):
    rng = np.random.default_rng(0)
    lens = {}
    for name in ("base", "random init"):
        for l in LANGS:
            x = rng.random((3, 5, 4))
            lens[(name, l)] = x / x.sum(-1, keepdims=True)
    english = kit.lens_class(lens, "base", MIDDLE, ["de", "ru"], 1)
    assert english.shape == (10,) and english[0] == lens[("base", "de")][MIDDLE, 0, 1]
    shares = kit.lens_table(lens, n_layers=2)
    assert shares.index.names == ["model", "prompt language", "hidden state"] and list(shares.columns) == list(G.LENS_CLASSES)
    assert len(shares) == 2 * 3 * 3
    kit.glue_lens(lens, {"english": result("better"), "ctrl": result("inconclusive")}, np.array([0, 0, 1, -1]),
                  LANGS, MIDDLE, LAST)
    assert sink.glued["verdict_lens_english"] == "more" and sink.glued["verdict_lens_ctrl"] == "no more and no less"
    assert sink.glued["english_owned"] == "0.50" and sink.glued["owned_share"] == "0.75"
    assert sink.recorded()["lens_english_mid"]["value"] == pytest.approx(english.mean())
    fig = kit.fig_lens(shares)
    assert [ax.get_title() for ax in fig.axes] == ["base decoder, non-English prompts",
                                                   "random init decoder, non-English prompts"]
    assert len(fig.axes[0].lines) == len(G.LENS_CLASSES)


def test_rates_outputs_and_examples(sink, evals):
    lid_rates = pd.DataFrame({"human continuations": {l: 0.9 for l in LANGS}})
    references = {l: [f"{l} human"] * PROMPTS for l in LANGS}
    two = {n: evals[n] for n in ("base", "random init")}
    rates = kit.rates_table(two, lid_rates, references, LANGS)
    assert ("human text", "correct language") in rates.columns and ("base", "perplexity") in rates.columns
    kit.glue_outputs(two, result("worse"))
    assert sink.glued["verdict_base_control_lang"] == "less often" and "iv_base_control_lang" in sink.glued
    assert {"base_greedy", "base_sampled", "base_ppl", "control_greedy", "control_sampled", "control_ppl"} == set(
        sink.recorded())
    tok = WordTokenizer([w for l in LANGS for w in (l, "one", "two", "three")])
    prompts = {l: [f"{l} one two three"] for l in LANGS}
    styled = kit.examples(tok, prompts, references, two, LANGS, prompt_tokens=2)
    assert styled.data.loc["ru", "prompt"] == "ru one"
    assert list(styled.data.columns) == ["prompt", "human text", "base, greedy", "base, sampled", "random init, greedy"]


def test_summary_table_and_recorded_variants(sink, evals, runs):
    aligned = {n: layer for n, layer, *_ in runs}
    names = ["base", "random init", *aligned]
    table = kit.summary_table(evals, aligned, names, MIDDLE, LAST)
    assert list(table.index) == names and str(table["aligned hidden state"].dtype) == "Int64"
    assert table["aligned hidden state"].isna().tolist()[:2] == [True, True]
    assert table.loc["last, λ = 10", "weak P@1 (aligned)"] == table.loc["last, λ = 10", "weak P@1 (h2)"]
    kit.record_variants(evals, runs)
    rec = sink.recorded()
    assert {k.rsplit("_", 1)[0] for k in rec} == {"lm_only", "lm_only_ri", "afp_h1_w1", "afp_h1_w10", "afp_h2_w1",
                                                 "afp_h2_w10", "afp_h1_w1_ri"}
    assert rec["afp_h2_w10_p1"]["value"] == pytest.approx(evals["last, λ = 10"].outcome("weak P@1", 2).mean())


@pytest.mark.parametrize("verdict,words", [
    ("better", ("raises weak P@1", "raises the correct-language rate", "lowers the share", "lowers the log")),
    ("worse", ("lowers weak P@1", "lowers the correct-language rate", "raises the share", "raises the log")),
    ("inconclusive", ("does not measurably change weak P@1", "does not measurably change the correct")),
])
def test_sentences_say_what_each_verdict_means(verdict, words):
    d = {m: result(verdict) for m in kit.AGAINST}
    sentence = kit.variant_sentence("middle, λ = 1", 1, d)
    assert sentence.startswith("**middle, λ = 1** ") and "at hidden state 1" in sentence
    assert all(w in sentence for w in words), sentence
    assert kit.ri_sentence("x", d).startswith(f"x {words[0].split(' weak')[0]} weak P@1 at its layer")
    late = kit.late_sentence({"λ = 1": result(verdict)})
    assert late.startswith("at λ = 1: ") and {"better": "more often right", "worse": "less often right",
                                              "inconclusive": "no difference"}[verdict] in late
    assert kit.late_sentence({}).startswith("not run")


def test_glue_findings_and_rates_glue_what_the_prose_cites(sink, evals, runs):
    afp = [n for n, _, w, ri in runs if w > 0 and not ri]
    ri_afp = "middle, λ = 1 (from random init)"
    vs_control = {n: {m: result("better") for m in kit.AGAINST} for n in [*afp, ri_afp]}
    for n in afp:
        vs_control[n]["correct language"] = vs_control[n]["other script"] = result("worse")
    late = {"λ = 1": result("worse"), "λ = 10": result("inconclusive")}
    lm_only = {"weak P@1": result("inconclusive"), "correct language": result("better"),
               "log perplexity": result("worse")}
    aligned = {n: layer for n, layer, *_ in runs}
    with pytest.raises(TypeError):  # keyword-only after the intervals
        kit.glue_findings(vs_control, afp, ri_afp, late, lm_only, aligned, 64, 3e-4)
    status = kit.glue_findings(vs_control, afp=afp, ri_afp=ri_afp, late_vs_mid=late, lm_only=lm_only,
                               aligned_layer=aligned, steps=64, lr=3e-4)
    assert status.startswith("reproduced") and "at λ = 1" in status
    assert sink.glued["status10_short"] == status
    assert sink.glued["status_finding10"].endswith("(against λ = 0; one seed, 64 steps, learning rate 0.0003)")
    assert sink.glued["afp_sentence"].count("**") == 2 * len(afp)
    assert (sink.glued["verdict_lmonly_p1"], sink.glued["verdict_lmonly_lang"], sink.glued["verdict_lmonly_ppl"]) == (
        "does not measurably change", "raises", "raises")
    kit.glue_rates(evals, np.array([1.0, 0.0, 1.0, 1.0]))
    assert sink.glued["rate_human"] == "0.750" and "n_verdicts" not in sink.glued  # Verdicts.glue_count glues it


def test_training_log_is_the_one_next_to_the_loaded_weights(sink, tmp_path):
    log = {"steps": 12000, "tokens_seen": 3.25e6, "device": "cpu", "wall_time_s": 4321.4,
           "training_tokens_per_language": {"en": 3e5, "de": 1e5, "ru": 1e5, "zh": 5e5},
           "held_out_perplexity": {"en": 12.34, "de": 20.0}}
    (tmp_path / "training_log.json").write_text(json.dumps(log))
    dec = SimpleNamespace(model=SimpleNamespace(name_or_path=str(tmp_path)))
    got = kit.training_log(dec)
    assert got == log
    assert kit.log_summary(got) == "12,000 steps, 3.2 M tokens, 4321 s on cpu"
    assert kit.log_table(got).loc["held-out perplexity (training log)", "en"] == 12.3
    kit.glue_training_log(got, "base")
    assert (sink.glued["dec_steps"], sink.glued["dec_tokens"], sink.glued["dec_wall"]) == ("12,000", "3.2", "4321")
    assert sink.glued["training_note"] == "this decoder's training text is 30 % English (0.10–0.50 M pieces per language)"
    bare = SimpleNamespace(model=SimpleNamespace(name_or_path=str(tmp_path / "elsewhere")))
    assert kit.training_log(bare) is None and kit.log_table(None) is None
    kit.glue_training_log(None, "my-model")
    assert sink.glued["dec_steps"] == "n/a" and sink.glued["training_note"].endswith("my-model is not known here")


def test_figures_have_their_axes_labels_and_lines(evals, runs):
    chance = kit.chance_levels(ITEMS, 3)
    fig = kit.fig_layers(evals, evals["λ = 0"].alignment, chance, {"weak P@1": 0.2, "strong mAP": 0.1}, 200, 0)
    assert [ax.get_title() for ax in fig.axes] == list(kit.LAYER_MEASURES)
    assert fig.axes[0].get_ylabel() == "score (95 % interval over items)"
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels == ["chance", "TF-IDF (no layers)", "base decoder", "base, all states normed", "random init decoder"]
    fig = kit.fig_tradeoff(evals, runs, MIDDLE, LAST, 0.9, 1 / 3, 200, 0)
    left, right = fig.axes
    assert right.get_yscale() == "log" and right.get_ylabel() == "held-out perplexity (log scale)"
    assert left.get_xlabel() == "weak P@1 en→X at the aligned hidden state"
    assert left.get_legend_handles_labels()[1] == ["human text", "chance (1/languages)", "middle (h1)", "last (h2)",
                                                   "middle (h1), from random init"]
    assert {t.get_text() for t in left.texts} == {"λ = 0", "λ = 1", "λ = 10"}
    fig = kit.fig_afp_layers(evals, ["base", "λ = 0", "middle, λ = 1"], 0.1)
    assert fig.axes[0].get_legend_handles_labels()[1] == ["base", "λ = 0", "middle, λ = 1", "chance"]


def test_lost_continuations_show_the_worst_variants_first_wrong_continuation(evals, capsys):
    names = ["middle, λ = 1", "last, λ = 10"]
    worst = min(names, key=lambda n: evals[n].outcome("correct language").mean())
    styled = kit.lost_continuations(evals, names, WordLID(), LANGS)
    assert capsys.readouterr().out.strip() == worst
    table = styled.data
    assert list(table.index) == ["de", "ru"]  # English continuations are all identified as English here
    assert table.loc["de", "identified as"] == "en" and table.loc["de", "continuation"] == "en greedy 0"
    assert table.loc["de", "the same prompt, λ = 0"] == evals["λ = 0"].greedy["de"][0]


def test_decoder_results_name_the_pretrained_decoder_and_the_families(sink, evals, tmp_path):
    from xalign_utils import record as rec

    names = ["base", "random init", "λ = 0"]
    rec._recorded.pop(str((tmp_path / "results.csv").resolve()), None)
    for r in kit.decoder_results(evals, names, seed=0):
        rec.record_results(**r)
    table = pd.read_csv(tmp_path / "results.csv")
    assert table.groupby("variant").family.first().to_dict() == {"base decoder": "base", "random init": "base",
                                                                 "λ = 0": "generative"}
