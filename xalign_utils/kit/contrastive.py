"""Kit of notebooks/02_contrastive.ipynb (sentence InfoNCE, word-level contrast, English-only SimCSE).

Everything the chapter needs besides its methods and its measures: the tables built from its
measurements, its figures, the glue of its parameters, intervals and verdicts into the prose, its
status sentences, its `record` calls and the `record_results` arguments its hidden cell records
(`variant_results`). The chapter keeps the training calls,
the `Harness.measure` calls and every `compare` (in the order it counts its verdicts); the functions
here only read what those return. What it shares with the kit of 01_parallel_data is `kit.common`
(re-exported here where the chapter calls it). Tested in tests/test_kit_contrastive.py.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import metrics, plot
from ..evaluate import retrieval_hits
from ..findings import contrastive_status, says, transfer_status
from ..harness import measure_lexical, with_rows
from ..languages import LANGUAGES
from ..lexical import TfidfControl
from ..record import glue_text, glue_verdict, record
from ..transfer import tidy as transfer_tidy
from . import common
from ..models import random_init_like  # noqa: F401 (the chapter's setup: kit.random_init_like)
from ..train import seed_everything  # noqa: F401 (kit.seed_everything)
from .adapters import parallel_pairs, show_source, starting_model  # noqa: F401 (02 starts as 03 does)
from .common import (MAJORITY, RI, fig_langs, hit_gains, per_language_intervals,  # noqa: F401
                     per_language_table)

XY = "weak P@1 X→Y (no English)"
THREE = ("sentence InfoNCE", "word-level contrastive", "English-only SimCSE")  # the methods proper
# glue keys of the methods (iv_<key>_<measure>, verdict_<key>_<measure>, ...)
KEYS = {"sentence InfoNCE": "infonce", "InfoNCE + margin": "margin", "InfoNCE + queue": "queue",
        "word-level contrastive": "word", "English-only SimCSE": "simcse", "distillation": "distill",
        "SimCSE without dropout (control)": "nodrop"}
# record() names: <variant short>_<measure short>
SHORTS = {"base": "base", "random init": "control", "sentence InfoNCE": "infonce",
          "InfoNCE + margin": "infonce_margin", "InfoNCE + queue": "infonce_queue",
          "word-level contrastive": "word", "English-only SimCSE": "simcse",
          "SimCSE without dropout (control)": "simcse_nodrop", "distillation": "distill",
          "sentence InfoNCE (from random init)": "infonce_ri",
          "word-level contrastive (from random init)": "word_ri",
          "English-only SimCSE (from random init)": "simcse_ri"}
COLS = {"weak P@1": "weak_p1", XY: "weak_p1_xy", "weak P@1 centred": "weak_p1_centred",
        "strong mAP": "strong_map", "LID probe": "lid", "apps accuracy": "apps", "POS accuracy": "pos"}
# record_results variant names
SLUGS = {"sentence InfoNCE": "infonce", "InfoNCE + margin": "infonce-margin", "InfoNCE + queue": "infonce-queue",
         "word-level contrastive": "word-contrast", "English-only SimCSE": "simcse", "distillation": "distill",
         "SimCSE without dropout (control)": "simcse-nodropout"}
N_LINK_PAIRS = 512  # pairs whose word links are induced (for time), cited in the prose as n_link_pairs
# record_results families other than "contrastive" of the variants trained from the base model
FAMILIES = {"SimCSE without dropout (control)": "control", "distillation": "parallel"}
LEXICAL_MEASURES = ("weak P@1", XY, "strong mAP", "apps accuracy")  # the TF-IDF row of the summary table
SWEEP_MEASURES = ("weak P@1", "apps accuracy")
ABOVE = ("above", "below", "not distinguishable from")


# ---------------------------------------------------------------- setup and data

def glue_setup(params, harness, n_par: int, n_pairs: int, layer_ix: int, best_layer: int,
               n_link_pairs: int = N_LINK_PAIRS) -> dict[str, str]:
    """Glue the chapter's sizes and parameters for the prose (`steps`, `tau`, `n_pairs`, ...).
    `params`: the checked parameters (`check_parameters("02_contrastive", ...)`); `harness`: the
    chapter's `Harness`. Returns {glue name: text}."""
    p = params
    values = {"n_par": n_par, "n_pairs": n_pairs, "n_items": harness.n_items, "steps": p.steps,
              "batch_size": p.batch_size, "lr": f"{p.lr:g}", "tau": f"{p.tau:g}", "margin": f"{p.margin:g}",
              "queue_size": p.queue_size, "word_tau": f"{p.word_tau:g}", "layer": layer_ix,
              "best_layer": best_layer, "apps_train": len(harness.apps_task["train_texts"]),
              "pos_train": harness.pos_train, "pos_test": harness.pos_test, "finetune_steps": p.finetune_steps,
              "n_non_en_pairs": len(harness.non_english_pairs), "pooling": p.pooling,
              "n_link_pairs": min(n_link_pairs, n_pairs), "n_drawn": p.steps * p.batch_size,
              "sweep_batches": ", ".join(map(str, p.negatives)),
              "sweep_negatives": ", ".join(str(b - 1) for b in sorted(p.negatives + [p.batch_size]))}
    return {key: glue_text(key, str(value)) for key, value in values.items()}


def link_sample(pairs: Sequence, seed: int, n: int = N_LINK_PAIRS) -> list:
    """A seeded sample of min(n, len(pairs)) of `pairs`, kept in their order: the pairs whose word
    links are induced (the word-level runs draw their training pairs from them)."""
    idx = np.random.default_rng(seed).choice(len(pairs), min(len(pairs), n), replace=False)
    return [pairs[i] for i in sorted(idx)]


def lexical_control(harness, seed: int) -> dict:
    """The TF-IDF control (no model) on the harness's items: `harness.measure_lexical` (en→X hits,
    strong mAP, the application task) plus its X→Y weak P@1 between non-English languages."""
    tfidf = TfidfControl(harness.langs, n_fit=500, seed=seed)
    lexical = measure_lexical(harness, tfidf)
    lexical[XY] = lexical_xy(harness, tfidf)
    return lexical


def lexical_xy(harness, tfidf) -> float:
    """The TF-IDF control's raw weak P@1 between non-English languages (X→Y, the harness's
    `non_english_pairs`), the lexical counterpart of the models' X→Y retrieval."""
    embs = {lang: tfidf.encode(harness.texts[lang]) for lang in harness.langs if lang != "en"}
    return float(np.mean([retrieval_hits({a: embs[a], b: embs[b]}, src=a)[b].mean()
                          for a, b in harness.non_english_pairs]))


# ---------------------------------------------------------------- before and after

def summary_table(evals: Mapping, chance: Mapping[str, float], lexical: Mapping) -> pd.DataFrame:
    """The headline table (`common.summary_table` on `LEXICAL_MEASURES`): every variant's summary,
    then chance, the majority class / tag of the base model's task heads (non-English mean) and the
    TF-IDF control, on the variants' columns."""
    return common.summary_table(evals, chance, lexical, LEXICAL_MEASURES)


def record_summary(evals: Mapping) -> list[str]:
    """`record` each variant's headline measures (`<variant>_<measure>`, e.g. `infonce_weak_p1`;
    `common.record_summary` with `SHORTS`, `COLS`); returns the names recorded."""
    return common.record_summary(evals, SHORTS, COLS)


def glue_references(table: pd.DataFrame, lexical: Mapping) -> None:
    """`common.glue_references` (chance, TF-IDF, majority baselines of `summary_table`), plus the
    chance and base-model levels of the language-ID probe and the TF-IDF control's X→Y retrieval."""
    common.glue_references(table, lexical)
    glue_text("lid_chance", common.reference_text(table, "chance", "LID probe"))
    glue_text("lid_base", common.reference_text(table, "base", "LID probe"))
    glue_text("lexical_xy", f"{lexical[XY]:.3f}")


CURVE_PANELS = {"sentence InfoNCE": ["sentence InfoNCE", "InfoNCE + margin", "InfoNCE + queue"],
                "word-level contrastive": ["word-level contrastive"],
                "English-only SimCSE": ["English-only SimCSE", "SimCSE without dropout (control)"]}


def fig_curves(curves: Mapping[str, Sequence[float]], steps: int):
    """Training loss per step, one panel per method family (`CURVE_PANELS`); solid: from the base
    model, dotted: the same method from random init (each where it was run)."""
    fig, axes = plt.subplots(1, len(CURVE_PANELS), figsize=(11, 3.2), layout="constrained")
    x = np.arange(1, steps + 1)
    for ax, (title, names) in zip(axes, CURVE_PANELS.items()):
        for colour, name in enumerate(names):
            if name in curves:
                ax.plot(x, curves[name], "-", color=f"C{colour}", lw=1.2, label=name)
            if name + RI in curves:
                ax.plot(x, curves[name + RI], ":", color=f"C{colour}", lw=1.2, label=f"{name} (random init)")
        ax.set(title=title, xlabel="step")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("training loss")
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- comparisons

def comparison_tables(vs_distill: Mapping, simcse_control: Mapping, level: Mapping, ends: Mapping) -> list:
    """The tables of the comparisons beside the gains (one row per `compare` result)."""
    return [metrics.verdict_table({f"{v} − distillation, {m}": r for (v, m), r in vs_distill.items()}),
            metrics.verdict_table({f"SimCSE − no-dropout control, {m}": r for m, r in simcse_control.items()}),
            metrics.verdict_table(level, "weak P@1 − untrained random init"),
            metrics.verdict_table(ends, "weak P@1: from base − from random init")]


def glue_gains(gains: pd.DataFrame, gains_ri: pd.DataFrame, best_layer: int) -> None:
    """Glue `iv_<method>_<measure>` / `verdict_<method>_<measure>` from the gain tables (raises /
    lowers; for the LID probe "lowers" is the gain), the POS intervals and the random-init gains."""
    raised = ("raises", "lowers", "does not measurably change")
    measures = (("weak P@1", "p1"), (XY, "xy"), ("strong mAP", "map"), ("apps accuracy", "apps"),
                ("weak P@1 centred", "p1c"), ("weak P@1 CSLS", "csls"), (f"weak P@1, layer {best_layer}", "p1best"))
    for method, key in KEYS.items():
        for measure, mkey in measures:
            glue_verdict(f"{key}_{mkey}", _cell(gains, method, measure), *raised)
        glue_verdict(f"{key}_lid", _cell(gains, method, "LID probe"), "lowers", "raises", raised[2])
    for method in THREE:
        glue_text(f"iv_{KEYS[method]}_pos", gains.loc[method, "POS accuracy Δ"])
        glue_text(f"iv_{KEYS[method]}_ri_p1", gains_ri.loc[method + RI, "weak P@1 Δ"])


def _cell(gains: pd.DataFrame, method: str, measure: str) -> tuple[str, str]:
    return gains.loc[method, f"{measure} Δ"], gains.loc[method, f"{measure}: verdict"]


def glue_comparisons(vs_distill: Mapping, simcse_control: Mapping, level: Mapping, ends: Mapping,
                     vs_lexical, best: str) -> None:
    """Glue the comparisons beside the gains: against distillation, SimCSE against its control,
    each model against the untrained control (and the sentence it makes), each method's end point
    from the base model against from random init, and the headline method against TF-IDF."""
    short = {"weak P@1": "p1", XY: "xy", "strong mAP": "map", "weak P@1 centred": "p1c"}
    for (v, m), result in vs_distill.items():
        glue_verdict(f"vs_distill_{KEYS[v]}_{short[m]}", result, *ABOVE)
    for m, result in simcse_control.items():
        glue_verdict(f"simcse_control_{short[m]}", result, *ABOVE)
    for m, result in level.items():
        glue_verdict(f"level_{KEYS.get(m, m)}", result, *ABOVE)
    glue_text("level_sentence", level_sentence(level))
    for method, result in ends.items():
        glue_verdict(f"ends_{KEYS[method]}", result, "higher from the base model than from random init",
                     "lower from the base model than from random init",
                     "not distinguishable between the two starting points")
    glue_text("tfidf_sentence", f"{best} − TF-IDF: {vs_lexical[0]}; sentence InfoNCE is "
              + says(vs_lexical[1], *ABOVE) + " the lexical control")


def level_sentence(level: Mapping) -> str:
    """Where the base model and the trained models stand against the untrained control."""
    above = [m for m in level if m != "base" and level[m][1] == "better"]
    first = ("At this layer monolingual pretraining left the base model below untrained weights, so part of "
             "every gain over the base model only repairs that; " if level["base"][1] == "worse" else
             "The base model is not below the untrained control at this layer; ")
    if not above:
        return first + "no trained model ends above the untrained control."
    return first + f"{', '.join(above)} end{'s' if len(above) == 1 else ''} above the untrained control."


# ---------------------------------------------------------------- transitivity

def xy_ratio(variant, base, en_verdict: str) -> str:
    """X→Y gain per en→X gain over the base model, read only when the en→X gain is established."""
    if en_verdict != "better":
        return "n/a (no en→X gain)"
    s, b = variant.summary(), base.summary()
    return f"{(s[XY] - b[XY]) / (s['weak P@1'] - b['weak P@1']):.2f}"


def xy_ratios(evals: Mapping, gains: pd.DataFrame, methods: Sequence[str]) -> dict[str, str]:
    """`xy_ratio` of each method, read against its en→X weak-P@1 verdict in `gains`."""
    return {n: xy_ratio(evals[n], evals["base"], gains.loc[n, "weak P@1: verdict"]) for n in methods}


def xy_table(xy: Mapping, evals: Mapping, gains: pd.DataFrame) -> pd.DataFrame:
    """Per method of `xy` ({method: X→Y `compare` result against the base model}): the X→Y gain,
    its verdict and the X→Y / en→X ratio (`xy_ratios`)."""
    ratios = xy_ratios(evals, gains, list(xy))
    return pd.DataFrame({n: {"X→Y gain": str(iv), "verdict": v, "X→Y gain / en→X gain": ratios[n]}
                         for n, (iv, v) in xy.items()}).T


def p1_matrix(variant, langs: Sequence[str]) -> pd.DataFrame:
    """Weak P@1 per measured direction (rows: query language; en→X and X→Y between non-English
    languages; NaN where not measured)."""
    m = pd.DataFrame(np.nan, index=list(langs), columns=list(langs))
    for lang in variant.hits["cosine"].columns:
        m.loc["en", lang] = variant.hits["cosine"][lang].mean()
    for col in variant.hits["cosine non-English"].columns:
        a, b = col.split("→")
        m.loc[a, b] = variant.hits["cosine non-English"][col].mean()
    return m


def p1_change(base, trained, langs: Sequence[str]) -> pd.DataFrame:
    """`p1_matrix` of `trained` minus that of `base` (per measured direction)."""
    return p1_matrix(trained, langs) - p1_matrix(base, langs)


def glue_transitivity(xy: Mapping, evals: Mapping, gains: pd.DataFrame) -> None:
    """Glue `verdict_xy_<method>` (rises / falls) and `ratio_<method>` (`xy_ratios`)."""
    ratios = xy_ratios(evals, gains, list(xy))
    for method, (_, v) in xy.items():
        glue_text(f"verdict_xy_{KEYS[method]}", says(v, "rises", "falls", "shows no measurable change"))
        glue_text(f"ratio_{KEYS[method]}", ratios[method])


def fig_weak_strong(evals: Mapping, names: Sequence[str], resamples: int, seed: int):
    """Change against the base model per variant (paired 95 % intervals), one panel per measure,
    bars coloured by verdict (for the LID probe, lower is the better direction)."""
    show = ["weak P@1", XY, "strong mAP", "LID probe"]
    fig, axes = plt.subplots(1, len(show), figsize=(12, 3.4), layout="constrained", sharey=True)
    for ax, m in zip(axes, show):
        ivs = [metrics.paired_bootstrap(np.asarray(evals[n].outcome(m)), np.asarray(evals["base"].outcome(m)),
                                        resamples, seed) for n in names]
        verdicts = [metrics.verdict(iv, m != "LID probe") for iv in ivs]
        plot.interval_bars(list(names), ivs, verdicts, ax=ax, xlabel="change against base")
        ax.set_title(f"Δ {m}" + (" (lower: less identity)" if m == "LID probe" else ""), fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
    plt.close(fig)
    return fig


def fig_transitivity(base, trained, langs: Sequence[str]):
    """Weak P@1 per measured direction (`p1_matrix`) of the base model and of `trained` (sentence
    InfoNCE), side by side on one colour scale."""
    before, after = p1_matrix(base, langs), p1_matrix(trained, langs)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), layout="constrained")
    vmax = max(float(np.nanmax(m.to_numpy(dtype=float))) for m in (before, after))
    for ax, m, title in zip(axes, (before, after), ("base model", "after sentence InfoNCE")):
        im = ax.imshow(m.to_numpy(dtype=float), vmin=0, vmax=vmax, cmap="viridis")
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if np.isfinite(m.iloc[i, j]):
                    ax.text(j, i, f"{m.iloc[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if m.iloc[i, j] < 0.6 * vmax else "black")
        ax.set_xticks(range(m.shape[1]), m.columns)
        ax.set_yticks(range(m.shape[0]), m.index)
        ax.set_xlabel("retrieved language")
        ax.set_title(title, fontsize=9)
        ax.grid(False)
    axes[0].set_ylabel("query language")
    fig.colorbar(im, ax=axes, shrink=0.8, label="weak P@1")
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- how many negatives

def sweep_table(sweep: Mapping, base, resamples: int, seed: int) -> pd.DataFrame:
    """Per batch size of the sweep (`common.sweep_table`, in batch order): weak P@1 and application
    accuracy, and the paired gain over the base model with its 95 % interval (columns batch,
    negatives per row, measure, value, gain, low, high)."""
    return common.sweep_table(dict(sorted(sweep.items())), base, resamples, seed, measures=SWEEP_MEASURES,
                              describe=lambda b: {"batch": b, "negatives per row": b - 1})


def sweep_summary(sweep: Mapping) -> pd.DataFrame:
    """Weak P@1 and application accuracy per number of in-batch negatives (batch size − 1) of the
    sweep ({batch size: measured model})."""
    rows = [{"negatives per row": b - 1, "measure": m, "value": v.summary()[m]}
            for b, v in sorted(sweep.items()) for m in SWEEP_MEASURES]
    return pd.DataFrame(rows).pivot_table(index="negatives per row", columns="measure", values="value").round(3)


def record_sweep(sweep: Mapping, negatives: Sequence[int], neg_result, smallest: int, largest: int) -> str:
    """`record` the sweep's weak P@1 (`infonce_batch<b>_weak_p1`) and glue `neg_sentence` (the largest
    batch against the smallest); returns the sentence."""
    for b in negatives:
        record(f"infonce_batch{b}_weak_p1", sweep[b].summary()["weak P@1"])
    return glue_text("neg_sentence", f"batch {largest} − batch {smallest}: {neg_result[0]}, " + says(
        neg_result[1], "the larger batch aligns more at this budget", "the larger batch aligns less at this budget",
        "no difference the interval can tell from zero"))


def fig_negatives(sweep: Mapping, base, resamples: int, seed: int):
    """Gain over the base model (paired 95 % interval, `sweep_table`) against the number of in-batch
    negatives (log axis), per measure."""
    table = sweep_table(sweep, base, resamples, seed)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    for ax, m in zip(axes, SWEEP_MEASURES):
        t = table[table.measure == m].sort_values("batch")
        plot.interval_lines(t["negatives per row"], list(zip(t.gain, t.low, t.high)), ax)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(t["negatives per row"], [str(x) for x in t["negatives per row"]])
        ax.set_xlabel("in-batch negatives per row (batch size − 1)")
        ax.set_ylabel(f"{m} gain over base\n(95 % interval)", fontsize=9)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- related and distant languages

def glue_groups(latin: Sequence[str], other: Sequence[str], group_rows: Mapping,
                methods: Sequence[str] = THREE) -> None:
    """Glue the two language groups' names (`latin_langs`, `other_langs`) and, per method, the Latin −
    other gain comparison (`common.glue_groups`: `iv_group_<method>`, `verdict_group_<method>`; "n/a"
    where the languages fall in one group)."""
    glue_text("latin_langs", ", ".join(LANGUAGES[l].name for l in latin) or "none")
    glue_text("other_langs", ", ".join(LANGUAGES[l].name for l in other) or "none")
    common.glue_groups(group_rows, {m: KEYS[m] for m in methods})


# ---------------------------------------------------------------- fine-tuning

def finetune_table(evals: Mapping, ft_eval: Mapping, ft_result: Mapping, langs: Sequence[str]) -> pd.DataFrame:
    """Per fine-tuned model: weak P@1 before and after fine-tuning, the classifier's English
    accuracy, its zero-shot accuracy (non-English mean) and its accuracy per non-English language."""
    non_en = [l for l in langs if l != "en"]
    rows = {}
    for name in ft_eval:
        res = ft_result[name]
        rows[name] = {"weak P@1 before fine-tuning": evals[name].summary()["weak P@1"],
                      "weak P@1 after": ft_eval[name].summary()["weak P@1"],
                      "English accuracy (fine-tuned)": res.accuracy("en"),
                      "zero-shot accuracy (non-English mean)": float(res.items[non_en].to_numpy().mean())}
        rows[name].update({lang: res.accuracy(lang) for lang in non_en})
    return pd.DataFrame(rows).T


def finetune_tables(learned: Mapping, survive: Mapping) -> list:
    """The fine-tuning comparisons as tables: did each classifier learn the English task, and how
    much alignment each aligned model lost, kept and transferred."""
    return [pd.DataFrame({n: {"English accuracy − majority class": f"{iv} {v}"} for n, (iv, v) in learned.items()}).T,
            pd.DataFrame({n: {"weak P@1: after − before fine-tuning": f"{s['lost'][0]} {s['lost'][1]}",
                              "weak P@1 after fine-tuning − base after fine-tuning": f"{s['kept'][0]} {s['kept'][1]}",
                              "zero-shot accuracy − base's (fine-tuned)": f"{s['transfer'][0]} {s['transfer'][1]}"}
                          for n, s in survive.items()}).T]


def task_learned(learned: Mapping, name: str) -> bool:
    """Whether both `name`'s and the base model's fine-tuned classifiers beat the majority class on
    English (only then is their zero-shot difference read as task transfer)."""
    return learned[name][1] == "better" and learned["base"][1] == "better"


def glue_finetune(learned: Mapping, survive: Mapping, table: pd.DataFrame) -> None:
    """`record` the fine-tuned models' numbers (`ft_<model>_weak_p1`, `_apps`, `_apps_en`) and glue
    the fine-tuning comparisons for the prose."""
    for name, short in (("base", "base"), ("sentence InfoNCE", "infonce"), ("word-level contrastive", "word")):
        record(f"ft_{short}_weak_p1", table.loc[name, "weak P@1 after"])
        record(f"ft_{short}_apps", table.loc[name, "zero-shot accuracy (non-English mean)"])
        record(f"ft_{short}_apps_en", table.loc[name, "English accuracy (fine-tuned)"])
    glue_text("ft_learned_base", says(learned["base"][1], "beats", "falls below", "does not measurably beat"))
    glue_text("iv_ft_learned_base", str(learned["base"][0]))
    for name, s in survive.items():
        key = KEYS[name]
        glue_verdict(f"lost_{key}", s["lost"], "rises", "falls", "does not measurably change")
        glue_verdict(f"kept_{key}", s["kept"], "stays above", "ends below", "is not distinguishable from")
        glue_text(f"iv_ft_transfer_{key}", str(s["transfer"][0]))
        if task_learned(learned, name):
            glue_text(f"ft_transfer_{key}", says(s["transfer"][1], "transfers better than", "transfers worse than",
                                                 "does not measurably differ from") + " the fine-tuned base classifier")
        else:
            glue_text(f"ft_transfer_{key}", "is not read against the fine-tuned base classifier as task transfer "
                      "(one of them does not beat the majority class on English)")
    glue_verdict("lost_base", survive["sentence InfoNCE"]["lost_base"], "rises", "falls", "does not measurably change")
    glue_text("ft_en_base", f"{table.loc['base', 'English accuracy (fine-tuned)']:.3f}")
    glue_text("ft_zs_base", f"{table.loc['base', 'zero-shot accuracy (non-English mean)']:.3f}")


def fig_finetune(evals: Mapping, ft_eval: Mapping, ft_result: Mapping, langs: Sequence[str],
                 chance_p1: float, majority: float):
    """Left: en→X weak P@1 before and after fine-tuning per model; right: the fine-tuned classifiers'
    accuracy per language, beside the majority class."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    for i, name in enumerate(ft_eval):
        before, after = evals[name].summary()["weak P@1"], ft_eval[name].summary()["weak P@1"]
        axes[0].plot([0, 1], [before, after], "o-", color=f"C{i}", label=name)
    axes[0].axhline(chance_p1, color="0.5", ls=":", lw=1, label="chance")
    axes[0].set_xticks([0, 1], ["before fine-tuning", "after"])
    axes[0].set_ylabel("weak P@1 (en→X)")
    axes[0].legend(fontsize=7)
    width = 0.8 / len(ft_eval)
    for i, name in enumerate(ft_eval):
        acc = [ft_result[name].accuracy(l) for l in langs]
        axes[1].bar(np.arange(len(langs)) + (i - (len(ft_eval) - 1) / 2) * width, acc, width, color=f"C{i}",
                    label=name)
    axes[1].axhline(majority, color="0.3", ls="--", lw=0.8, label="majority class")
    axes[1].set_xticks(np.arange(len(langs)), list(langs))
    axes[1].set_ylabel("accuracy of the fine-tuned classifier")
    axes[1].legend(fontsize=7)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- display plumbing

# the measures of the gain table against the base model (the chapter adds the best layer's weak P@1)
GAIN_MEASURES = ["weak P@1", "weak P@1 X→Y (no English)", "weak P@1 centred", "weak P@1 CSLS", "strong mAP",
                 "LID probe", "apps accuracy"]


def best_layer(encoder, langs: Sequence[str]) -> int:
    """The hidden state where the untrained `encoder` retrieves best on `parallel`-split pairs
    (`evaluate.choose_layer`)."""
    from ..evaluate import choose_layer

    return choose_layer(encoder, langs)[0]


def lexical_table(vs_lexical, best: str) -> pd.DataFrame:
    """The headline method against the TF-IDF control (a `compare` result) as a one-row table."""
    return metrics.verdict_table({f"{best} − TF-IDF, weak P@1": vs_lexical})


def transitivity_tables(xy: Mapping, evals: Mapping, gains: pd.DataFrame, best: str, langs: Sequence[str]) -> list:
    """`xy_table`, then the per-direction P@1 change of `best` (`p1_change`, rounded)."""
    return [xy_table(xy, evals, gains), p1_change(evals["base"], evals[best], langs).round(3)]


def sweep_tables(sweep: Mapping, neg_iv) -> list:
    """`sweep_summary`, then the largest batch against the smallest (a `compare` result)."""
    return [sweep_summary(sweep),
            metrics.verdict_table({f"batch {max(sweep)} − batch {min(sweep)}, weak P@1": neg_iv})]


def finetune_display(learned: Mapping, survive: Mapping, evals: Mapping, ft_eval: Mapping, ft_result: Mapping,
                     langs: Sequence[str]) -> list:
    """`finetune_tables`, then `finetune_table` (rounded)."""
    return [*finetune_tables(learned, survive), finetune_table(evals, ft_eval, ft_result, langs).round(3)]


def n_parallel(langs: Sequence[str]) -> int:
    """Distinct English paragraphs of the `parallel` split in every language of `langs`."""
    from .. import data

    return len(data.parallel(langs, "parallel")["en"])


# ---------------------------------------------------------------- results and findings

def variant_results(evals: Mapping, sweep: Mapping, negatives: Sequence[int], ft_eval: Mapping,
                    ft_result: Mapping, seed: int, layer_ix: int) -> list[dict]:
    """The `record_results` keyword arguments of every measured variant (`common.variant_results`:
    base, controls, methods; `FAMILIES`), then the batch sweep and the fine-tuned models with their
    classifiers' rows, in recording order. The chapter's hidden cell records them:
    `for r in kit.variant_results(...): record_results(**r)`."""
    out = common.variant_results(evals, SLUGS, seed=seed, family="contrastive", families=FAMILIES)
    for b in negatives:
        out.append(dict(variant=f"infonce-batch{b}", table=sweep[b], family="contrastive", seed=seed, n=b))
    for name, v in ft_eval.items():
        rows = with_rows(v, transfer_tidy(ft_result[name], "apps_finetuned", layer_ix))  # v's per-item outcomes too
        out.append(dict(variant=("base" if name == "base" else SLUGS[name]) + "+finetuned", table=rows,
                        family="contrastive", seed=seed))
    return out


def glue_status(gains: pd.DataFrame, vs_distill: Mapping, simcse_control: Mapping, learned: Mapping,
                survive: Mapping, table: pd.DataFrame, steps: int) -> tuple[str, str]:
    """Glue the two findings' statuses (`status_finding6`: contrastive objectives strongest, English-only
    carries over; `status_finding5`: alignment gains more reliable than transfer gains) with the
    intervals they rest on; returns (status6, status5)."""
    def verdict(m, measure):
        return gains.loc[m, f"{measure}: verdict"]

    def delta(m, measure):
        return gains.loc[m, f"{measure} Δ"]

    infonce, simcse = "sentence InfoNCE", "English-only SimCSE"
    status6 = contrastive_status(verdict(infonce, "weak P@1"), vs_distill[(infonce, "weak P@1")][1],
                                 verdict(simcse, "weak P@1"), simcse_control["weak P@1"][1])
    glue_text("status_finding6", f"{status6}: weak P@1 over the base model, sentence InfoNCE "
              f"{delta(infonce, 'weak P@1')}, English-only SimCSE {delta(simcse, 'weak P@1')} (− its no-dropout "
              f"control {simcse_control['weak P@1'][0]}); InfoNCE − distillation at the same budget "
              f"{vs_distill[(infonce, 'weak P@1')][0]} (one seed, {steps} steps)")
    aligners = ["sentence InfoNCE", "word-level contrastive"]
    tasks = {m: [verdict(m, "apps accuracy"), verdict(m, "POS accuracy")]
             + ([survive[m]["transfer"][1]] if task_learned(learned, m) else []) for m in aligners}
    status5 = transfer_status({m: verdict(m, "weak P@1") for m in aligners}, tasks)
    glue_text("status_finding5", f"{status5}: " + "; ".join(
        f"{m}: weak P@1 Δ {delta(m, 'weak P@1')}, apps Δ {delta(m, 'apps accuracy')}, "
        f"POS Δ {delta(m, 'POS accuracy')}" for m in aligners)
        + f" (one seed, {steps} steps; the base model's frozen-feature heads score "
        f"{table.loc['base', 'apps accuracy']:.3f} and {table.loc['base', 'POS accuracy']:.3f} against majority "
        f"baselines {table.loc[MAJORITY, 'apps accuracy']:.3f} and {table.loc[MAJORITY, 'POS accuracy']:.3f})")
    return status6, status5
