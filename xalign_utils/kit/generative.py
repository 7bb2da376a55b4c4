"""The kit of chapter 06_generative (notebooks/06_generative.ipynb): what the chapter needs besides
the decoder, its AFP training and its measures.

Loading the decoder and its inputs, the hand-built tables (the language identifier's error and its
floors, chance and TF-IDF, the middle-against-other-states intervals, the variants' summary), the
figures (alignment per hidden state, the logit lens, the trade-off), the glue of numbers and verdicts
into the prose, and the `record` / `record_results` calls. The chapter keeps its method's core in
sight: the measuring calls (`methods.generative.measure_decoder`, `lens_shares`), the training calls
(`train_afp`) and every paired comparison (`metrics.Verdicts.compare`, in the chapter's order).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import metrics, plot
from ..findings import generative_status, layer_status, says
from ..methods import generative as G
from ..record import glue_text, glue_verdict, record, record_results

# The measures that exist at every hidden state (the others are read from the decoder's output).
LAYER_MEASURES = ("weak P@1", "weak P@1 centred", "strong mAP")
# Each variant against its control: measure -> higher is better (in the chapter's order of comparisons).
AGAINST = {"weak P@1": True, "weak P@1 centred": True, "strong mAP": True, "correct language": True,
           "other script": False, "distinct 3-grams": True, "log perplexity": False}
# Glue names of the middle-against-other-states intervals: measure and other state -> short key.
_MEASURE_KEY = {"weak P@1": "p1", "weak P@1 centred": "p1c", "strong mAP": "map"}
_OTHER_KEY = {"last": "last", "embeddings": "embe", "control": "ctrl", "last, normed": "norm"}
_CHANGE = ("raises", "lowers", "does not measurably change")  # says() phrases, higher is better
_CHANGE_DOWN = ("lowers", "raises", "does not measurably change")  # says() phrases, lower is better


def _left(table: pd.DataFrame):
    """A text table shown left-aligned with its line breaks kept."""
    return table.style.set_properties(**{"text-align": "left", "white-space": "pre-wrap"})


def _iv_text(result) -> str:
    """A `compare` result (interval, verdict) as 'interval (verdict)'."""
    iv, v = result
    return f"{iv} ({v})"


# ---------------------------------------------------------------- setup
def decoders(preset: str, seed: int, model: str, langs: Sequence[str]):
    """(decoder, its random-init control): the preset's shipped decoder for `model` 'base', else the
    causal LM at `model`; a one-line error when its tokenizer lacks a language tag of `langs`. The
    control is an untrained decoder of the preset's shape (torch seed `seed`) with the same tokenizer."""
    from ..checkpoints import decoder_model
    from ..models import Encoder, load_model, random_init_decoder
    from ..presets import get_preset
    from ..pretrain import language_tag_ids

    p = get_preset(preset)
    dec = decoder_model(p.name) if model == "base" else load_model(model, clm=True)
    try:
        language_tag_ids(dec.tokenizer, langs)
    except ValueError as e:
        raise ValueError(f"model must be a decoder trained with language tags (<en>, <de>, ...), as "
                         f"`xalign pretrain --decoder` makes: {e}") from None
    control = Encoder(random_init_decoder(p, seed, dec.tokenizer), dec.tokenizer,
                      f"random init decoder (seed {seed})")
    return dec, control


def inputs(tok, langs: Sequence[str], *, n_prompts: int, prompt_tokens: int, new_tokens: int,
           heldout: int, lm_paragraphs: int, row_len: int, seed: int):
    """The chapter's text, as (texts, prompts, references, rows, pairs, lm_texts): the eval sentences
    of View I; per language `n_prompts` eval paragraphs of at least `prompt_tokens + new_tokens`
    pieces and their own next `new_tokens` pieces (the human reference); `heldout` packed eval rows
    of `row_len` tokens; the `parallel` translation pairs; `lm_paragraphs` `pretrain` paragraphs per
    language for the language-modelling loss (seeded draws; nothing from eval pages is trained on)."""
    from .. import data
    from ..methods import parallel as PM

    par = data.parallel(langs, "parallel")
    sentences = data.eval_items(langs, "sentences")
    texts = {lang: sentences[lang] for lang in langs}
    prompts = {lang: G.select_prompts(tok, data.corpus(lang, "eval")[1], n_prompts, prompt_tokens + new_tokens,
                                      seed, lang) for lang in langs}
    references = {lang: G.reference_continuations(tok, prompts[lang], prompt_tokens, new_tokens) for lang in langs}
    rows = {lang: G.heldout_rows(tok, data.corpus(lang, "eval")[1], lang, heldout, row_len, seed) for lang in langs}
    pairs = PM.paragraph_pairs(par, langs, PM.sample_pairs(len(par["en"]), None, seed))
    rng = np.random.default_rng(seed)
    lm_texts = {}
    for lang in langs:
        pool = data.corpus(lang, "pretrain")[1]
        pick = sorted(rng.choice(len(pool), min(lm_paragraphs, len(pool)), replace=False))
        lm_texts[lang] = [pool[i] for i in pick]
    return texts, prompts, references, rows, pairs, lm_texts


def glue_setup(params, n_items: int, n_pairs: int, n_layers: int, row_len: int, vocab: int) -> None:
    """Glue the chapter's parameters (`params`: its checked `chapters.Generative`) and sizes for the
    prose: the eval items, pairs, layers (middle = n // 2, last = n), row length and vocabulary."""
    values = {"n_items": n_items, "n_prompts": params.n_prompts, "min_pieces": params.prompt_tokens + params.new_tokens,
              "prompt_tokens": params.prompt_tokens, "new_tokens": params.new_tokens,
              "min_letters": params.min_letters, "heldout": params.heldout, "steps": params.steps,
              "batch_size": params.batch_size, "lm_batch": params.lm_batch, "lm_paragraphs": params.lm_paragraphs,
              "lr": f"{params.lr:g}", "tau": f"{params.tau:g}", "temperature": f"{params.temperature:g}",
              "weights": ", ".join(f"{w:g}" for w in params.weights), "middle": n_layers // 2, "last": n_layers,
              "n_pairs": n_pairs, "n_layers": n_layers, "lens_items": params.lens_items, "n_fit": params.n_fit,
              "row_len": row_len, "vocab": f"{vocab:,}"}
    for key, value in values.items():
        glue_text(key, str(value))


def training_log(dec) -> dict | None:
    """The training log of the loaded decoder itself: the `training_log.json` in the directory its
    weights were loaded from (`checkpoints/<preset>-decoder/` for the shipped one, the cache for another
    seed); None when there is none (a model not made by `xalign pretrain --decoder`)."""
    import json
    from pathlib import Path

    path = Path(str(getattr(dec.model, "name_or_path", ""))) / "training_log.json"
    return json.loads(path.read_text()) if path.is_file() else None


def log_summary(log: dict | None) -> str:
    """One line of the training log: steps, tokens seen, wall time and device."""
    if log is None:
        return "no training log next to this decoder's weights"
    return (f"{log['steps']:,} steps, {log['tokens_seen'] / 1e6:.1f} M tokens, {log['wall_time_s']:.0f} s "
            f"on {log['device']}")


def log_table(log: dict | None):
    """The log's held-out perplexity per language as a one-row table (None without a log)."""
    if log is None:
        return None
    return pd.DataFrame({"held-out perplexity (training log)": log["held_out_perplexity"]}).T.round(1)


def glue_training_log(log: dict | None, model: str) -> None:
    """Glue the decoder's training log for the prose (steps, tokens, device, wall time, the training
    text's language mix), or "n/a" and a note naming `model` when it has no log."""
    if log is None:
        for key in ("dec_steps", "dec_tokens", "dec_device", "dec_wall"):
            glue_text(key, "n/a")
        glue_text("training_note", f"the training text of {model} is not known here")
        return
    glue_text("dec_steps", f"{log['steps']:,}")
    glue_text("dec_tokens", f"{log['tokens_seen'] / 1e6:.1f}")
    glue_text("dec_device", log["device"])
    glue_text("dec_wall", f"{log['wall_time_s']:.0f}")
    mix = log["training_tokens_per_language"]
    glue_text("training_note", f"this decoder's training text is {100 * mix.get('en', 0) / sum(mix.values()):.0f} "
              f"% English ({min(mix.values()) / 1e6:.2f}–{max(mix.values()) / 1e6:.2f} M pieces per language)")


# ---------------------------------------------------------------- the language identifier
def lid_table(lid, references, prompts, texts, langs: Sequence[str], min_letters: int) -> pd.DataFrame:
    """The identifier's rate on human text per language: the prompts' own next pieces, the whole
    prompt paragraphs (both with `min_letters`) and the eval sentences of View I."""
    return pd.DataFrame({
        "human continuations": {l: G.correct_language(lid, references[l], l, min_letters).mean() for l in langs},
        "whole paragraphs": {l: G.correct_language(lid, prompts[l], l, min_letters).mean() for l in langs},
        "eval sentences (View I items)": {l: G.correct_language(lid, texts[l], l, 1).mean() for l in langs},
    })


def floors(tok, prompts, references, lm_texts, langs: Sequence[str], *, n_prompts: int, prompt_tokens: int,
           new_tokens: int, seed: int) -> dict[str, dict[str, list[str]]]:
    """Continuations per language of the human text and of the two floors: repeating the prompt's
    pieces, and noise drawn by piece frequency in the `pretrain` text of all languages (seed + k for
    the k-th language)."""
    pool = [t for x in langs for t in lm_texts[x]]
    return {"human text": references,
            "floor: repeat the prompt": {l: G.copy_continuations(tok, prompts[l], prompt_tokens, new_tokens)
                                         for l in langs},
            "floor: frequency-drawn noise": {l: G.unigram_continuations(tok, pool, n_prompts, new_tokens, seed + k)
                                             for k, l in enumerate(langs)}}


def floor_table(lid, tok, continuations, langs: Sequence[str], min_letters: int) -> pd.DataFrame:
    """Per source of continuations (`floors`): the correct-language rate, the share of letters of
    another script and the share of distinct 3-grams, each the mean over languages."""
    return pd.DataFrame({name: {
        "correct language": np.mean([G.correct_language(lid, c[l], l, min_letters).mean() for l in langs]),
        "other script": np.mean([G.other_script_share(c[l], l).mean() for l in langs]),
        "distinct 3-grams": np.mean([G.distinct_ngrams(tok, c[l]).mean() for l in langs])}
        for name, c in continuations.items()}).T


def glue_lid(human: np.ndarray, human_script: np.ndarray, lid_rates: pd.DataFrame, floor_rates: pd.DataFrame,
             n_langs: int) -> None:
    """Record the identifier's rate on the human continuations (`lid_human`: the mean of `human`, the
    chapter's per-prompt outcomes) and glue the floors, the human text's other-script share (the mean
    of `human_script`), the lowest language and chance (1 / `n_langs`)."""
    glue_text("copy_rate", f"{floor_rates.loc['floor: repeat the prompt', 'correct language']:.3f}")
    glue_text("noise_rate", f"{floor_rates.loc['floor: frequency-drawn noise', 'correct language']:.3f}")
    glue_text("human_script", f"{np.mean(human_script):.3f}")
    record("lid_human", float(np.mean(human)))
    glue_text("lid_human_min", f"{lid_rates['human continuations'].min():.2f}")
    glue_text("lid_human_min_lang", lid_rates["human continuations"].idxmin())
    glue_text("lid_chance", f"{1 / n_langs:.3f}")


# ---------------------------------------------------------------- where alignment lives
def tfidf_scores(langs: Sequence[str], texts, seed: int) -> dict[str, float]:
    """The TF-IDF control (no layers) on the eval sentences: weak P@1 (cosine, CSLS), strong mAP with
    its same-language bias, and the language-ID probe."""
    from ..evaluate import retrieval_hits
    from ..lexical import TfidfControl

    tfidf = TfidfControl(langs, n_fit=500, seed=seed)
    embs = {l: tfidf.encode(texts[l]) for l in langs}
    strong = metrics.strong_alignment(embs)
    return {"weak P@1": float(retrieval_hits(embs).to_numpy().mean()),
            "weak P@1 CSLS": float(retrieval_hits(embs, scoring="csls").to_numpy().mean()),
            "strong mAP": strong["map"], "same-language bias": strong["same_language_bias"],
            "LID probe": metrics.language_id_probe(embs, seed)}


def chance_levels(n_items: int, n_langs: int) -> dict[str, float]:
    """Chance of each measure with `n_items` parallel items in `n_langs` languages (en->X)."""
    pool = n_langs * n_items - 1
    return {"weak P@1": 1 / n_items, "weak P@1 centred": 1 / n_items, "weak P@1 CSLS": 1 / n_items,
            "strong mAP": metrics.chance_average_precision(n_langs - 1, pool),
            "same-language bias": (n_items - 1) / pool, "LID probe": 1 / n_langs, "correct language": 1 / n_langs}


def reference_table(chance: Mapping[str, float], lexical: Mapping[str, float]) -> pd.DataFrame:
    """Chance and TF-IDF side by side (the View I measures only)."""
    return pd.DataFrame({"chance": chance, "TF-IDF (no layers)": lexical}).T.drop(columns="correct language")


def per_layer_table(evals, normed) -> pd.DataFrame:
    """View I at every hidden state of each measured decoder (`evals`: name -> DecoderEval) and of the
    decoder with every state through its final norm (`normed`: a LayerAlignment)."""
    return pd.concat({**{name: ev.alignment.table() for name, ev in evals.items()},
                      "base, every state through the final norm": normed.table()}, names=["model"])


def glue_references(evals, chance: Mapping[str, float], lexical: Mapping[str, float],
                    layers: Sequence[int]) -> None:
    """Record the pretrained decoder's and its control's weak P@1 (raw, centred) and strong mAP at
    `layers` (`base_*_h<L>`, `control_*_h<L>`) and glue chance and TF-IDF for the prose."""
    for name, short in (("base", "base"), ("random init", "control")):
        for layer in layers:
            for m, c in (("weak P@1", "p1"), ("weak P@1 centred", "p1_centred"), ("strong mAP", "map")):
                record(f"{short}_{c}_h{layer}", float(evals[name].outcome(m, layer).mean()))
    glue_text("chance_p1", f"{chance['weak P@1']:.4f}")
    glue_text("chance_map", f"{chance['strong mAP']:.4f}")
    glue_text("lexical_p1", f"{lexical['weak P@1']:.3f}")
    glue_text("lexical_map", f"{lexical['strong mAP']:.3f}")


def middle_table(mid_vs) -> pd.DataFrame:
    """The middle hidden state against each other state ({(measure, other): (interval, verdict)}): one
    column per other state, one row per measure."""
    others = list(dict.fromkeys(o for _, o in mid_vs))
    measures = list(dict.fromkeys(m for m, _ in mid_vs))
    return pd.DataFrame({f"middle − {o}": {m: _iv_text(mid_vs[(m, o)]) for m in measures} for o in others})


def glue_layer_status(mid_vs) -> str:
    """Glue the intervals of the middle against the last state, the embeddings, the control's middle
    and the normed last (`iv_mid_<measure>_<other>`), the measures the status reads (`layers_read`:
    those where the middle is above the control's middle) and the status itself; returns it."""
    measures = list(dict.fromkeys(m for m, _ in mid_vs))
    made = [m for m in measures if mid_vs[(m, "control")][1] == "better"]
    status = layer_status({m: mid_vs[(m, "last")][1] for m in made}, {m: mid_vs[(m, "embeddings")][1] for m in made},
                          {m: mid_vs[(m, "control")][1] for m in measures})
    glue_text("layers_read", ", ".join(made) or "none")
    glue_text("status_layers", status)
    for (m, other), result in mid_vs.items():
        glue_text(f"iv_mid_{_MEASURE_KEY[m]}_{_OTHER_KEY[other]}", _iv_text(result))
    return status


def _errorbar(ax, xs, ivs, fmt, transform=None, **kw):
    """Points at each interval's mean with its 95 % bounds (`transform` applied to all three)."""
    t = transform or (lambda v: v)
    ys = np.array([t(iv.diff) for iv in ivs])
    lo, hi = np.array([t(iv.low) for iv in ivs]), np.array([t(iv.high) for iv in ivs])
    plot.interval_lines(xs, list(zip(ys, lo, hi)), ax, fmt=fmt, **kw)
    return ys


def fig_layers(evals, normed, chance: Mapping[str, float], lexical: Mapping[str, float], resamples: int,
               seed: int):
    """Alignment at every hidden state (one panel per View I measure, 95 % intervals over items) of
    the pretrained decoder, of it with every state normed, and of the random-init control, beside
    chance and TF-IDF. Returns the (closed) figure."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.3), layout="constrained")
    for ax, m in zip(axes, LAYER_MEASURES):
        for name, la, style in (("base decoder", evals["base"].alignment, "-o"),
                                ("base, all states normed", normed, "--^"),
                                ("random init decoder", evals["random init"].alignment, ":s")):
            ivs = [metrics.mean_interval(la.outcome(m, l), resamples, seed) for l in la.layers]
            _errorbar(ax, la.layers, ivs, style, label=name)
        ax.axhline(chance[m], color="0.5", ls="--", lw=0.8, label="chance")
        if m in lexical:
            ax.axhline(lexical[m], color="C2", ls="-.", lw=0.8, label="TF-IDF (no layers)")
        ax.set_xticks(evals["base"].alignment.layers)
        ax.set_xlabel("hidden state (0 = embeddings)")
        ax.set_title(m, fontsize=9)
    axes[0].set_ylabel("score (95 % interval over items)")
    axes[0].legend(fontsize=7)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- the logit lens
def lens_class(lens, name: str, layer: int, langs: Sequence[str], cls: int) -> np.ndarray:
    """Per item of `langs` (concatenated): the share of positions whose top piece at hidden state
    `layer` of decoder `name` is of class `cls` (index into `LENS_CLASSES`; 1 = English)."""
    return np.concatenate([lens[(name, l)][layer, :, cls] for l in langs])


def lens_table(lens, n_layers: int) -> pd.DataFrame:
    """The logit-lens shares ({(model, language): (layers+1, items, classes)}) averaged over items:
    one row per (model, prompt language, hidden state), one column per class."""
    shares = pd.DataFrame({(name, l, layer): dict(zip(G.LENS_CLASSES, lens[(name, l)][layer].mean(0)))
                           for (name, l) in lens for layer in range(n_layers + 1)}).T
    shares.index.names = ["model", "prompt language", "hidden state"]
    return shares


def glue_lens(lens, lens_vs, owner: np.ndarray, langs: Sequence[str], middle: int, last: int) -> None:
    """Record the middle state's English and own-language shares on non-English input
    (`lens_english_mid`, `lens_own_mid`), glue the last's and the control's English shares, the
    intervals `lens_vs` ({"english": middle − last, "ctrl": middle − control's middle}) with their
    verdicts, and how much of the vocabulary English and any language own."""
    non_en = [l for l in langs if l != "en"]
    glue_text("lens_english_ctrl", f"{lens_class(lens, 'random init', middle, non_en, 1).mean():.3f}")
    glue_verdict("lens_ctrl", lens_vs["ctrl"], "more", "less", "no more and no less")
    record("lens_english_mid", float(lens_class(lens, "base", middle, non_en, 1).mean()))
    record("lens_own_mid", float(lens_class(lens, "base", middle, non_en, 0).mean()))
    glue_text("lens_english_last", f"{lens_class(lens, 'base', last, non_en, 1).mean():.3f}")
    glue_verdict("lens_english", lens_vs["english"], "more", "less", "no more and no less")
    glue_text("owned_share", f"{(owner >= 0).mean():.2f}")
    glue_text("english_owned", f"{(owner == list(langs).index('en')).mean():.2f}")


def fig_lens(shares: pd.DataFrame):
    """The logit lens on non-English prompts, one panel per decoder (base, random init): the share of
    positions whose top piece is of each class, per hidden state. Returns the (closed) figure."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.3), layout="constrained", sharey=True)
    for ax, name in zip(axes, ("base", "random init")):
        mine = shares.xs(name).drop(index="en", level="prompt language", errors="ignore")
        mean = mine.groupby("hidden state").mean()
        for k, cls in enumerate(G.LENS_CLASSES):
            ax.plot(mean.index, mean[cls], "-o", label=cls, color=f"C{k}")
        ax.set_xticks(mean.index)
        ax.set_xlabel("hidden state (0 = embeddings)")
        ax.set_title(f"{name} decoder, non-English prompts", fontsize=9)
    axes[0].set_ylabel("share of positions whose top piece is ...")
    axes[0].legend(fontsize=7)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- what the decoder writes
def rates_table(evals, lid_rates: pd.DataFrame, references, langs: Sequence[str]) -> pd.DataFrame:
    """Per language: each decoder's correct-language rates, other-script and 3-gram shares and
    perplexity, beside the human text's rate and other-script share."""
    rates = pd.concat({name: ev.per_language() for name, ev in evals.items()}, axis=1)
    rates[("human text", "correct language")] = lid_rates["human continuations"]
    rates[("human text", "other script")] = {l: G.other_script_share(references[l], l).mean() for l in langs}
    return rates


def glue_outputs(evals, base_vs_control) -> None:
    """Record the correct-language rates (greedy, sampled) and perplexity of the pretrained decoder
    and its control (`base_*`, `control_*`), glue their 3-gram and other-script shares and the
    pretrained-against-control interval on the correct-language rate with its verdict."""
    for name, short in (("base", "base"), ("random init", "control")):
        for m, c in (("correct language (greedy)", "greedy"), ("correct language (sampled)", "sampled")):
            record(f"{short}_{c}", float(evals[name].outcome(m).mean()))
        record(f"{short}_ppl", float(np.exp(evals[name].outcome("log perplexity").mean())), fmt=".1f")
    for name, short in (("base", "base"), ("random init", "control")):
        glue_text(f"distinct_{short}", f"{evals[name].outcome('distinct 3-grams').mean():.2f}")
        glue_text(f"script_{short}", f"{evals[name].outcome('other script').mean():.3f}")
    glue_verdict("base_control_lang", base_vs_control, "more often", "less often", "no more often")


def examples(tok, prompts, references, evals, langs: Sequence[str], prompt_tokens: int):
    """The first prompt per language with the human text's continuation and the decoders' (greedy,
    sampled; the control greedy), as a left-aligned table."""
    def prompt(text):
        return tok.decode(tok(text, add_special_tokens=False)["input_ids"][:prompt_tokens])

    table = pd.DataFrame({l: {"prompt": prompt(prompts[l][0]), "human text": references[l][0],
                              "base, greedy": evals["base"].greedy[l][0], "base, sampled": evals["base"].sampled[l][0],
                              "random init, greedy": evals["random init"].greedy[l][0]} for l in langs}).T
    return _left(table)


# ---------------------------------------------------------------- aligning a layer
def layer_name(layer: int, middle: int, last: int) -> str:
    """'middle', 'last' or 'hidden state <L>'."""
    return "middle" if layer == middle else "last" if layer == last else f"hidden state {layer}"


def variants(align_at: Sequence[int], weights: Sequence[float], middle: int, last: int):
    """The AFP runs as (name, hidden state, λ, from random init): λ = 0 (the control: language
    modelling alone), each aligned state at each strength, and from the random-init decoder its
    λ = 0 and the first state at the first strength."""
    runs = [("λ = 0", middle, 0.0, False)]
    runs += [(f"{layer_name(l, middle, last)}, λ = {w:g}", l, w, False) for l in align_at for w in weights]
    first = f"{layer_name(align_at[0], middle, last)}, λ = {weights[0]:g} (from random init)"
    return runs + [("λ = 0 (from random init)", middle, 0.0, True), (first, align_at[0], weights[0], True)]


def summary_table(evals, aligned_layer: Mapping[str, int], names: Sequence[str], middle: int,
                  last: int) -> pd.DataFrame:
    """One row per decoder of `names`: its aligned state, weak P@1 at the middle, the last and the
    aligned state, centred weak P@1 and strong mAP there, and its output measures."""
    def row(name):
        ev, layer = evals[name], aligned_layer.get(name, middle)
        return {"aligned hidden state": layer if name in aligned_layer else np.nan,
                f"weak P@1 (h{middle})": ev.outcome("weak P@1", middle).mean(),
                f"weak P@1 (h{last})": ev.outcome("weak P@1", last).mean(),
                "weak P@1 (aligned)": ev.outcome("weak P@1", layer).mean(),
                "weak P@1 centred (aligned)": ev.outcome("weak P@1 centred", layer).mean(),
                "strong mAP (aligned)": ev.outcome("strong mAP", layer).mean(),
                "correct language (greedy)": ev.outcome("correct language (greedy)").mean(),
                "correct language (sampled)": ev.outcome("correct language (sampled)").mean(),
                "other script": ev.outcome("other script").mean(),
                "distinct 3-grams": ev.outcome("distinct 3-grams").mean(),
                "perplexity": float(np.exp(ev.outcome("log perplexity").mean()))}

    summary = pd.DataFrame({n: row(n) for n in names}).T.astype(float)
    summary["aligned hidden state"] = summary["aligned hidden state"].astype("Int64")
    return summary


def record_variants(evals, runs) -> None:
    """Record each AFP run's weak P@1 and strong mAP at its aligned state, correct-language rate,
    other-script share and perplexity (`lm_only*` for λ = 0, `afp_h<L>_w<λ>[_ri]_*` otherwise)."""
    for name, layer, w, from_ri in runs:
        if w == 0:
            short = "lm_only_ri" if from_ri else "lm_only"
        else:
            short = f"afp_h{layer}_w{w:g}" + ("_ri" if from_ri else "")
        ev = evals[name]
        record(f"{short}_p1", float(ev.outcome("weak P@1", layer).mean()))
        record(f"{short}_map", float(ev.outcome("strong mAP", layer).mean()))
        record(f"{short}_lang", float(ev.outcome("correct language").mean()))
        record(f"{short}_script", float(ev.outcome("other script").mean()))
        record(f"{short}_ppl", float(np.exp(ev.outcome("log perplexity").mean())), fmt=".1f")


def outcome(ev, measure: str, layer: int) -> np.ndarray:
    """`ev.outcome(measure)`, at hidden state `layer` for the measures that have layers."""
    return ev.outcome(measure, layer if measure in LAYER_MEASURES else None)


def against_table(vs_control) -> pd.DataFrame:
    """Each variant against its control ({variant: {measure: (interval, verdict)}}): one row per
    variant, one column 'measure Δ' per measure."""
    return pd.DataFrame({n: {f"{m} Δ": _iv_text(r) for m, r in d.items()} for n, d in vs_control.items()}).T


def fig_tradeoff(evals, runs, middle: int, last: int, human_rate: float, chance_rate: float, resamples: int,
                 seed: int):
    """Weak P@1 at the aligned state against the correct-language rate (left) and the held-out
    perplexity (right, log scale), one line per aligned state from λ = 0 through each strength;
    grey: the runs from the random-init decoder. Returns the (closed) figure."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
    for ax, (m, label) in zip(axes, (("correct language", "correct-language rate\n(greedy and sampled)"),
                                    ("log perplexity", "held-out perplexity"))):
        for from_ri, marker in ((False, "o"), (True, "s")):
            mine = [r for r in runs if r[3] == from_ri]
            for layer in sorted({l for _, l, w, _ in mine if w > 0}):
                line = [n for n, _, w, _ in mine if w == 0] + [n for n, l, w, _ in mine if l == layer and w > 0]
                xs = [evals[n].outcome("weak P@1", layer).mean() for n in line]
                ivs = [metrics.mean_interval(evals[n].outcome(m), resamples, seed) for n in line]
                colour = "C0" if layer == middle else "C3" if layer == last else "C4"
                ys = _errorbar(ax, xs, ivs, marker + (":" if from_ri else "-"),
                               np.exp if m == "log perplexity" else None, color="0.55" if from_ri else colour,
                               label=f"{layer_name(layer, middle, last)} (h{layer})"
                               + (", from random init" if from_ri else ""))
                for x, y, n in zip(xs, ys, line):
                    ax.annotate(n.split(", ")[-1].replace(" (from random init)", ""), (x, y),
                                textcoords="offset points", xytext=(4, 5) if layer == middle else (4, -11),
                                fontsize=7, color="0.4" if from_ri else colour)
        if m == "correct language":
            ax.axhline(human_rate, color="C2", ls="-.", lw=0.8, label="human text")
            ax.axhline(chance_rate, color="0.5", ls="--", lw=0.8, label="chance (1/languages)")
        else:
            ax.set_yscale("log")
        ax.set_xlabel("weak P@1 en→X at the aligned hidden state")
        ax.set_ylabel(label + (" (log scale)" if m == "log perplexity" else ""))
    axes[0].legend(fontsize=7)
    plt.close(fig)
    return fig


def fig_afp_layers(evals, names: Sequence[str], chance_p1: float):
    """Weak P@1 at every hidden state after each decoder of `names`, beside chance. Returns the
    (closed) figure."""
    fig, ax = plt.subplots(figsize=(6, 3.3), layout="constrained")
    for k, n in enumerate(names):
        layers = evals[n].alignment.layers
        ax.plot(layers, [evals[n].outcome("weak P@1", l).mean() for l in layers], "-o", label=n, color=f"C{k}")
    ax.axhline(chance_p1, color="0.5", ls="--", lw=0.8, label="chance")
    ax.set_xticks(evals[names[0]].alignment.layers)
    ax.set_xlabel("hidden state (0 = embeddings)")
    ax.set_ylabel("weak P@1 en→X")
    ax.legend(fontsize=7)
    plt.close(fig)
    return fig


def lost_continuations(evals, names: Sequence[str], lid, langs: Sequence[str], control: str = "λ = 0"):
    """For the variant of `names` with the lowest correct-language rate (printed): per language, the
    first greedy continuation the identifier gives another language, beside the `control`'s
    continuation of the same prompt; a left-aligned table, or None when there is none."""
    worst = min(names, key=lambda n: evals[n].outcome("correct language").mean())
    shown = {}
    for l in langs:
        for i, got in enumerate(lid.identify(evals[worst].greedy[l])):
            if got != l:
                shown[l] = {"identified as": got or "(no letters)", "continuation": evals[worst].greedy[l][i],
                            f"the same prompt, {control}": evals[control].greedy[l][i]}
                break
    print(worst)
    if not shown:
        print("none")
        return None
    return _left(pd.DataFrame(shown).T)


# ---------------------------------------------------------------- results and findings
def decoder_results(evals, names: Sequence[str], seed: int) -> list[dict]:
    """The `record_results` arguments of each decoder of `names` (the pretrained one as 'base decoder';
    family 'base' for it and its control, 'generative' for the AFP runs). The chapter's hidden cell
    records them."""
    return [dict(variant=n if n != "base" else "base decoder", table=evals[n], seed=seed,
                 family="base" if n in ("base", "random init") else "generative") for n in names]


def variant_sentence(name: str, layer: int, d) -> str:
    """One variant against its control ({measure: (interval, verdict)}) in words."""
    def iv(m):
        return str(d[m][0])

    def v(m, *phrases):
        return says(d[m][1], *phrases)

    return (f"**{name}** {v('weak P@1', *_CHANGE)} weak P@1 at hidden state {layer} ({iv('weak P@1')}; "
            f"centred {iv('weak P@1 centred')}; strong mAP {iv('strong mAP')}), {v('correct language', *_CHANGE)} "
            f"the correct-language rate ({iv('correct language')}), {v('other script', *_CHANGE_DOWN)} the share "
            f"of letters of another script ({iv('other script')}) and {v('log perplexity', *_CHANGE_DOWN)} the "
            f"log perplexity ({iv('log perplexity')})")


def late_sentence(late_vs_mid) -> str:
    """Aligning the last state against the middle one per strength, on the correct-language rate."""
    phrases = ("the last is more often right", "the last is less often right", "no difference the interval can tell")
    return ("; ".join(f"at {k}: {iv} ({says(v, *phrases)})" for k, (iv, v) in late_vs_mid.items())
            or "not run (align_layers lacks the middle or the last)")


def ri_sentence(name: str, d) -> str:
    """The variant trained from the random-init decoder against its λ = 0 run, in words."""
    return (f"{name} {says(d['weak P@1'][1], *_CHANGE)} weak P@1 at its layer against the same steps with λ = 0 "
            f"from random init ({d['weak P@1'][0]}) and {says(d['correct language'][1], *_CHANGE)} the "
            f"correct-language rate ({d['correct language'][0]})")


def glue_findings(vs_control, *, afp: Sequence[str], ri_afp: str, late_vs_mid, lm_only,
                  aligned_layer: Mapping[str, int], steps: int, lr: float) -> str:
    """Glue the chapter's finding (`status_finding10`, `status10_short`: `findings.generative_status`
    over the variants `afp` against λ = 0 and `late_vs_mid`), the variants' sentences (`afp_sentence`,
    `late_sentence`, `ri_sentence`) and the λ = 0-against-base intervals (`iv_lmonly_*`,
    `verdict_lmonly_*`); returns the status."""
    def verdicts(m):
        return {n: vs_control[n][m][1] for n in afp}

    status = generative_status(verdicts("weak P@1"), verdicts("weak P@1 centred"), verdicts("correct language"),
                               verdicts("other script"), {k: v for k, (iv, v) in late_vs_mid.items()})
    detail = "; ".join(f"{n}: weak P@1 {vs_control[n]['weak P@1'][0]}, correct language "
                       f"{vs_control[n]['correct language'][0]}" for n in afp)
    glue_text("status_finding10", f"{status}: {detail} (against λ = 0; one seed, {steps} steps, learning rate {lr:g})")
    glue_text("status10_short", status)
    glue_text("afp_sentence", "; ".join(variant_sentence(n, aligned_layer[n], vs_control[n]) for n in afp))
    glue_text("late_sentence", late_sentence(late_vs_mid))
    glue_text("ri_sentence", ri_sentence(ri_afp, vs_control[ri_afp]))
    for m, short in (("weak P@1", "p1"), ("correct language", "lang"), ("log perplexity", "ppl")):
        glue_verdict(f"lmonly_{short}", lm_only[m], *(_CHANGE_DOWN if m == "log perplexity" else _CHANGE))
    return status


def glue_rates(evals, human: np.ndarray) -> None:
    """Glue the pretrained decoder's and its control's correct-language rates and perplexities and the
    human text's rate (`human`: the chapter's per-prompt outcomes). The verdict count is glued by
    `metrics.Verdicts.glue_count`."""
    glue_text("rate_base_greedy", f"{evals['base'].outcome('correct language (greedy)').mean():.3f}")
    glue_text("rate_base_sampled", f"{evals['base'].outcome('correct language (sampled)').mean():.3f}")
    glue_text("rate_control", f"{evals['random init'].outcome('correct language').mean():.3f}")
    glue_text("rate_human", f"{human.mean():.3f}")
    glue_text("ppl_base", f"{np.exp(evals['base'].outcome('log perplexity').mean()):.1f}")
    glue_text("ppl_control", f"{np.exp(evals['random init'].outcome('log perplexity').mean()):.0f}")
