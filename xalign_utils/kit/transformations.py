"""Kit of notebook 05_transformations (representation transformations).

What the chapter needs besides fitting its transforms and measuring them: the sample of fitting
text, the tables of controls (chance, TF-IDF), of verdicts and of the transfer tasks, the four
figures, the glue of numbers, intervals and verdicts into the prose, the status sentence of the
survey's finding, and the record()/record_results() calls. Every function takes what it uses as
arguments. Tested in tests/test_kit_transformations.py.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import data, metrics, plot
from ..evaluate import retrieval_hits
from ..findings import says
from ..record import glue_text, glue_verdict, record, record_results
from ..transfer import tidy

# transform name (as the chapter's tables show it) -> the key of its recorded numbers and glue names
KEYS = {"none": "none", "centring": "centring", "mean/var normalisation": "meanvar", "LIR": "lir",
        "LSAR": "lsar", "ZCA whitening": "whiten", "outlier dims removed": "outlier"}
# column of the results table -> the measure name of its rows in the book-wide results table
MEASURE_NAMES = {"weak P@1": "p_at_1_cosine", "strong mAP": "strong_map", "strong P@1": "strong_p_at_1",
                 "same-language bias": "strong_same_language_bias", "LID probe": "lid_probe"}
# the measures compared for each transform (keys of the chapter's verdict dict) -> table columns
VERDICT_COLUMNS = {"weak": "weak P@1 Δ", "strong": "strong mAP Δ",
                   "strong (random init)": "strong mAP Δ on random init",
                   "gain vs random init": "base gain − random-init gain", "LID": "LID probe Δ"}
CHANGE = ("raises", "lowers", "does not measurably change")
NO_REFERENCE = ("ref_items", "ref_n_fit", "ref_layer", "ref_none_weak_p1", "ref_none_strong_map", "ref_none_lid",
                "ref_centring_strong_map", "iv_ref_strong_centring", "ref_helped", "ref_hurt",
                "ref_whitening_note")


# ---------------------------------------------------------------- setup

def sample_fit_texts(langs: Sequence[str], n_fit: int, rng: np.random.Generator) -> dict[str, list[str]]:
    """`n_fit` `pretrain` paragraphs per language (all when fewer), drawn with `rng` in the order of
    `langs` and kept in corpus order: the text every transform is fitted on."""
    out = {}
    for lang in langs:
        pool = data.corpus(lang, "pretrain")[1]
        picked = sorted(rng.choice(len(pool), min(n_fit, len(pool)), replace=False))
        out[lang] = [pool[i] for i in picked]
    return out


def glue_setup(n_eval: int, n_fit: int, layer_base: int) -> None:
    """Glue the setup's sizes for the prose: `n_eval`, `n_fit` and `layer_base`."""
    glue_text("n_eval", str(n_eval))
    glue_text("n_fit", str(n_fit))
    glue_text("layer_base", str(layer_base))


# ---------------------------------------------------------------- every transform on the eval sentences

def verdict_frame(verdicts: Mapping[str, Mapping[str, tuple]]) -> pd.DataFrame:
    """{transform: {measure: (interval, verdict)}} (measures: `VERDICT_COLUMNS`) as a table with,
    per measure, its interval (as text) and then its verdict, one row per transform."""
    rows = {}
    for tname, res in verdicts.items():
        row = {}
        for measure, column in VERDICT_COLUMNS.items():
            iv, v = res[measure]
            row[column], row[measure] = str(iv), v
        rows[tname] = row
    return pd.DataFrame(rows).T


def chance_row(n_items: int, n_langs: int, strong_p1: bool = True) -> dict[str, float]:
    """What a random ranking scores on `n_items` parallel items in `n_langs` languages: weak P@1,
    strong mAP and P@1 (and the same-language bias) in the mixed pool, and the LID probe."""
    n_pool = n_langs * n_items - 1
    row = {"weak P@1": 1 / n_items, "strong mAP": metrics.chance_average_precision(n_langs - 1, n_pool)}
    if strong_p1:
        row["strong P@1"] = (n_langs - 1) / n_pool
    row.update({"same-language bias": (n_items - 1) / n_pool, "LID probe": 1 / n_langs})
    return row


def lexical_row(lex: Mapping[str, np.ndarray], seed: int, strong_p1: bool = True) -> dict[str, float]:
    """The measures of the TF-IDF control (`lexical.TfidfControl` encodings of the eval items, no
    model): the same columns as `chance_row`."""
    strong = metrics.strong_alignment(lex)
    row = {"weak P@1": retrieval_hits(lex).to_numpy().mean(), "strong mAP": strong["map"]}
    if strong_p1:
        row["strong P@1"] = strong["p_at_1"]
    row.update({"same-language bias": strong["same_language_bias"],
                "LID probe": metrics.language_id_probe(lex, seed)})
    return row


def controls(langs: Sequence[str], eval_texts: Mapping[str, Sequence[str]], seed: int):
    """The reference rows beside the transforms: chance and the TF-IDF control (character n-grams
    fitted on pretraining text: `lexical.TfidfControl`, no model) on the eval sentences. Returns
    (table, the fitted control, its encodings of the eval sentences)."""
    from ..lexical import TfidfControl

    lexical = TfidfControl(langs, seed=seed)
    lex = {lang: lexical.encode(t) for lang, t in eval_texts.items()}
    table = pd.DataFrame({"chance": chance_row(len(eval_texts["en"]), len(eval_texts)),
                          "TF-IDF (no model)": lexical_row(lex, seed)}).T
    return table, lexical, lex


def record_transforms(results: pd.DataFrame, verdicts: Mapping[str, Mapping[str, tuple]], controls: pd.DataFrame,
                      lir_rank: int, lsar_rank: int, n_outliers: int) -> None:
    """Record each transform's numbers (base model; strong mAP also on the random-init control) and
    glue the chosen ranks, the number of outlier dimensions (`n_outliers`: the chapter refits the
    outlier transform to count them, cheap: one mean per dimension), each transform's weak and strong
    intervals and the chance and TF-IDF references. `results` is indexed by (model, transform)."""
    for tname, key in KEYS.items():
        record(f"{key}_weak_p1", results.loc[("base", tname), "weak P@1"])
        record(f"{key}_strong_map", results.loc[("base", tname), "strong mAP"])
        record(f"{key}_lid", results.loc[("base", tname), "LID probe"])
        record(f"control_{key}_strong_map", results.loc[("random init", tname), "strong mAP"])
    record("none_bias", results.loc[("base", "none"), "same-language bias"])
    record("centring_bias", results.loc[("base", "centring"), "same-language bias"])
    glue_text("lir_rank", str(lir_rank))
    glue_text("lsar_rank", str(lsar_rank))
    glue_text("n_outliers", str(n_outliers))
    for tname, key in KEYS.items():
        if tname in verdicts:
            glue_text(f"iv_strong_{key}", str(verdicts[tname]["strong"][0]))
            glue_text(f"iv_weak_{key}", str(verdicts[tname]["weak"][0]))
    glue_text("chance_weak", f"{controls.loc['chance', 'weak P@1']:.4f}")
    glue_text("chance_strong_map", f"{controls.loc['chance', 'strong mAP']:.4f}")
    glue_text("lexical_weak_p1", f"{controls.loc['TF-IDF (no model)', 'weak P@1']:.3f}")
    glue_text("lexical_strong_map", f"{controls.loc['TF-IDF (no model)', 'strong mAP']:.3f}")


def fig_transforms(results: pd.DataFrame, n_langs: int):
    """Weak P@1, strong mAP and the LID probe of every transform, base model (blue) beside the
    random-init control (grey); dotted: LID chance. Returns the (closed) figure."""
    order = list(dict.fromkeys(results.loc["base"].index))
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8), sharey=True)
    y = np.arange(len(order))
    for ax, col in zip(axes, ["weak P@1", "strong mAP", "LID probe"]):
        ax.barh(y + 0.2, [results.loc[("base", t), col] for t in order], height=0.4, color="C0", label="base")
        ax.barh(y - 0.2, [results.loc[("random init", t), col] for t in order], height=0.4, color="0.65",
                label="random init")
        ax.set_xlabel(col)
    axes[0].set_yticks(y, order)
    axes[0].invert_yaxis()
    axes[0].set_ylabel("transform (fitted on pretraining text)")
    axes[2].axvline(1 / n_langs, color="0.2", ls=":", lw=1)
    axes[0].legend(fontsize=8)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- the real model

def full_rank(fits: Mapping[str, np.ndarray], dims: int) -> bool:
    """Whether every language has more fit rows than `dims` (ZCA whitening needs a full-rank
    covariance per language)."""
    return min(len(f) for f in fits.values()) > dims


def whitening_note(fits: Mapping[str, np.ndarray], dims: int) -> str:
    """The prose's note on ZCA whitening for the real model: run, or left out with the fewest fit
    paragraphs of any language against its `dims` dimensions."""
    n = min(len(f) for f in fits.values())
    return "it is run here" if n > dims else f"{n} paragraphs for {dims} dimensions: left out"


def reference_table(means: Mapping[tuple[str, str], Mapping[str, float]], model: str,
                    verdicts: Mapping[str, tuple], lex: Mapping[str, np.ndarray], rows: Sequence[int],
                    n_langs: int, seed: int) -> pd.DataFrame:
    """The real model's table: per transform measured on it (`means[(model, transform)]`) its weak
    P@1, strong mAP, same-language bias, LID probe and strong-mAP interval against no transform
    (`verdicts`: {transform: (interval, verdict)}), then the TF-IDF control on the same eval rows
    (`lex`: the TF-IDF encodings of every eval item, `rows`: the model's items) and chance."""
    cols = ["weak P@1", "strong mAP", "same-language bias", "LID probe"]
    table = {}
    for (name, tname), row in means.items():
        if name == model:
            table[tname] = {c: row[c] for c in cols}
            if tname in verdicts:
                table[tname]["strong mAP Δ"] = str(verdicts[tname][0])
    table["TF-IDF (no model)"] = lexical_row({lang: x[rows] for lang, x in lex.items()}, seed, strong_p1=False)
    table["chance"] = chance_row(len(rows), n_langs, strong_p1=False)
    return pd.DataFrame(table).T


def record_reference(table: pd.DataFrame, verdicts: Mapping[str, tuple], n_items: int, n_fit: int, layer: int,
                     note: str) -> None:
    """Record the real model's strong mAP and LID probe per transform and its untransformed weak P@1;
    glue its sample sizes, layer, whitening note, centring interval and which transforms raised or
    lowered its strong mAP (`verdicts`: {transform: (interval, verdict)})."""
    for tname, key in KEYS.items():
        if tname in table.index:
            record(f"ref_{key}_strong_map", table.loc[tname, "strong mAP"])
            record(f"ref_{key}_lid", table.loc[tname, "LID probe"])
    record("ref_none_weak_p1", table.loc["none", "weak P@1"])
    glue_text("ref_whitening_note", note)
    glue_text("ref_items", str(n_items))
    glue_text("ref_n_fit", str(n_fit))
    glue_text("ref_layer", str(layer))
    glue_text("iv_ref_strong_centring", table.loc["centring", "strong mAP Δ"])
    helped = [t for t, (_, v) in verdicts.items() if v == "better"]
    hurt = [t for t, (_, v) in verdicts.items() if v == "worse"]
    glue_text("ref_helped", ", ".join(helped) if helped else "none of them")
    glue_text("ref_hurt", ", ".join(hurt) if hurt else "none")


def glue_no_reference() -> None:
    """Glue "n/a" for every number and sentence of the real model's section (when it is not run)."""
    for key in NO_REFERENCE:
        glue_text(key, "n/a")


# ---------------------------------------------------------------- figures: PCA, LIR sweep

def fig_pca(raw: Mapping[str, np.ndarray], centred: Mapping[str, np.ndarray], langs: Sequence[str], k: int = 200):
    """The first two principal components of the first `k` eval sentences per language, raw and
    centred per language, coloured by language. Returns the (closed) figure."""
    from sklearn.decomposition import PCA

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, (title, space) in zip(axes, [("raw", raw), ("centred per language", centred)]):
        pts = PCA(2, random_state=0).fit_transform(np.concatenate([space[lang][:k] for lang in langs]))
        sizes = np.cumsum([0] + [len(space[lang][:k]) for lang in langs])
        for i, lang in enumerate(langs):
            ax.scatter(*pts[sizes[i]:sizes[i + 1]].T, s=5, alpha=0.6, color=plot.lang_color(lang), label=lang)
        ax.set_title(title)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    axes[0].legend(markerscale=3, fontsize=8)
    plt.close(fig)
    return fig


def sweep_table(parallel_scores: Mapping[int, float], embedded: Mapping[int, Mapping[str, np.ndarray]],
                seed: int) -> pd.DataFrame:
    """LIR's rank sweep (index r): the strong mAP on parallel-split pairs that chooses r, and the
    strong mAP and LID probe of the eval sentences after LIR of each rank (`embedded`: {r: eval
    embeddings}), shown for information only."""
    return pd.DataFrame({
        "strong mAP (parallel split: chooses r)": parallel_scores,
        "strong mAP (eval)": {r: metrics.strong_alignment(e)["map"] for r, e in embedded.items()},
        "LID probe (eval)": {r: metrics.language_id_probe(e, seed) for r, e in embedded.items()},
    }).rename_axis("r")


def fig_lir(sweep: pd.DataFrame, chosen_rank: int):
    """Each column of the LIR sweep (index: rank r) against r, with the chosen rank dotted. Returns
    the (closed) figure."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for col, c in zip(sweep.columns, ["C1", "C0", "C2"]):
        ax.plot(sweep.index, sweep[col], marker="o", label=col, color=c)
    ax.axvline(chosen_rank, color="0.3", ls=":", lw=1, label="chosen r")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xticks(list(sweep.index), [str(r) for r in sweep.index])
    ax.set_xlabel("LIR rank r (directions removed per language)")
    ax.set_ylabel("score")
    ax.legend(fontsize=8)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- linear maps

def unmapped_hits(embs: Mapping[str, np.ndarray], lang: str) -> np.ndarray:
    """Per-item hits of `lang`→en retrieval (cosine) without a map."""
    return retrieval_hits({lang: embs[lang], "en": embs["en"]}, src=lang)["en"].to_numpy()


def unmapped_p1(evals: Mapping[str, Mapping[str, np.ndarray]], names: Sequence[str],
                langs: Sequence[str]) -> dict[str, float]:
    """Per model, the X→en P@1 without a map (`unmapped_hits`), averaged over `langs`."""
    return {name: float(np.mean([unmapped_hits(evals[name], lang).mean() for lang in langs])) for name in names}


def record_maps(curve: pd.DataFrame, no_map: Mapping[str, float], top: int, map_gain: tuple, map_gain_dd: tuple) -> None:
    """Record P@1 at `top` pairs (Procrustes and least squares on the base model, Procrustes on the
    random-init control) and without a map; glue `max_pairs` and the two intervals (`iv_map`,
    Procrustes − no map; `iv_map_dd`, the base model's gain minus the control's)."""
    mean = curve.groupby(["method", "model", "pairs"])["P@1"].mean()
    glue_text("iv_map", str(map_gain[0]))
    glue_text("iv_map_dd", str(map_gain_dd[0]))
    record("procrustes_p1_max_pairs", mean[("Procrustes", "base", top)])
    record("lstsq_p1_max_pairs", mean[("least squares", "base", top)])
    record("control_procrustes_p1_max_pairs", mean[("Procrustes", "random init", top)])
    record("no_map_p1", no_map["base"])
    glue_text("max_pairs", str(top))


def fig_pairs(curve: pd.DataFrame, no_map: Mapping[str, float]):
    """Procrustes P@1 per language against the number of training pairs, base model (solid) and
    random-init control (dashed), with each model's unmapped P@1 dotted. Returns the (closed) figure."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    for name, style in [("base", {}), ("random init", {"alpha": 0.45})]:
        base = name == "base"
        for lang, g in curve[(curve.method == "Procrustes") & (curve.model == name)].groupby("lang"):
            ax.plot(g.pairs, g["P@1"], marker="o" if base else "x", color=plot.lang_color(lang),
                    label=f"{lang}→en" if base else None, ls="-" if base else "--", **style)
        ax.axhline(no_map[name], color="0.3" if base else "0.7", ls=":", lw=1, label=f"no map ({name})")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("parallel training pairs")
    ax.set_ylabel("weak P@1 (X→en, cosine)")
    ax.legend(fontsize=7, ncol=2)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- word level

def _vocabulary(lang: str) -> set[str]:
    """The lower-cased words of a language's `pretrain` text, stripped of punctuation."""
    return {w.lower().strip(".,:;()\"'") for t in data.corpus(lang, "pretrain")[1] for w in t.split()}


def unique_pairs(pairs, vocab_en: set[str], vocab_x: set[str]) -> list[tuple[str, str]]:
    """The dictionary pairs (English word, X word) whose two words both occur in the vocabularies,
    differ, and were not used by an earlier pair (each English and each X word used once)."""
    seen, seen_x, out = set(), set(), []
    for en_w, x_w in pairs:
        if en_w in vocab_en and x_w in vocab_x and en_w not in seen and x_w not in seen_x and en_w != x_w:
            seen.add(en_w)
            seen_x.add(x_w)
            out.append((en_w, x_w))
    return out


def dictionary_pairs(lang: str, rng: np.random.Generator, limit: int = 1500) -> list[tuple[str, str]]:
    """FreeDict English–`lang` pairs found in both languages' pretraining text (`unique_pairs`),
    shuffled with `rng`, at most `limit`."""
    pairs = unique_pairs(data.dictionary("en", lang), _vocabulary("en"), _vocabulary(lang))
    return [pairs[i] for i in rng.permutation(len(pairs))][:limit]


def record_words(words: pd.DataFrame) -> None:
    """Glue the languages of the word-level table and record its mean P@1 (base model without a map
    and after Procrustes, random-init control after Procrustes)."""
    glue_text("word_langs", ", ".join(words.index) if len(words) else "no language")
    record("word_no_map_p1", words["base: no map"].mean())
    record("word_procrustes_p1", words["base: Procrustes"].mean())
    record("control_word_procrustes_p1", words["random init: Procrustes"].mean())


# ---------------------------------------------------------------- view II

def transfer_table(results: Mapping[str, object], majority: str, non_en: Sequence[str]) -> pd.DataFrame:
    """Accuracy per test language of each transfer result (`transfer.TransferResult`), a row
    `majority` for the majority class of the first result, and the mean over `non_en`."""
    first = next(iter(results.values()))
    table = pd.DataFrame({**{k: v.items.mean() for k, v in results.items()},
                          majority: first.majority_items.mean()}).T
    table["mean over non-English"] = table[list(non_en)].mean(axis=1)
    return table


def record_transfer(apps: pd.DataFrame, pos: pd.DataFrame, apps_gain: tuple, pos_gain: tuple) -> None:
    """Record classification and POS across languages without and with centring, glue their
    references (random init, TF-IDF, majority) and the two centring verdicts with their intervals."""
    xling = "mean over non-English"
    record("apps_none_xling", apps.loc["none", xling])
    record("apps_centring_xling", apps.loc["centring", xling])
    record("pos_none_xling", pos.loc["none", xling])
    record("pos_centring_xling", pos.loc["centring (transductive)", xling])
    glue_verdict("apps_centring", apps_gain, "helps", "hurts", "does not measurably change")
    glue_verdict("pos_centring", pos_gain, "helps", "hurts", "does not measurably change")
    glue_text("apps_control_xling", f"{apps.loc['random init', xling]:.3f}")
    glue_text("apps_lexical_xling", f"{apps.loc['TF-IDF', xling]:.3f}")
    glue_text("apps_majority_xling", f"{apps.loc['majority class', xling]:.3f}")
    glue_text("pos_majority_xling", f"{pos.loc['majority tag', xling]:.3f}")


def transform_results(results: pd.DataFrame, layers: Mapping[str, int], n_eval: int, seed: int,
                      apps_centring, apps_layer: int) -> list[dict]:
    """The `record_results` arguments of the chapter's rows of the book-wide results table: every
    transform's measures on the base model (family transforms) and on the random-init control (family
    control), and classification with centring (`apps_centring`, a `transfer.TransferResult` at
    `apps_layer`). The chapter's hidden cell records them."""
    return [dict(variant="base", table=transform_rows(results, "base", layers["base"], n_eval),
                 family="transforms", seed=seed),
            dict(variant=f"random-init-{seed}", family="control", seed=seed,
                 table=transform_rows(results, "random init", layers["random init"], n_eval)),
            dict(variant="base-apps-centred", table=tidy(apps_centring, "apps", layer=apps_layer),
                 family="transforms", seed=seed)]


def transform_rows(results: pd.DataFrame, model: str, layer: int, n_eval: int) -> pd.DataFrame:
    """One model's rows of the results table as tidy rows: measure `<transform key>_<measure>`."""
    long = results.loc[model].reset_index().melt(id_vars="transform", var_name="what", value_name="value")
    return pd.DataFrame({"src": "all", "tgt": "all", "layer": layer, "n": n_eval,
                         "measure": [f"{KEYS[t]}_{MEASURE_NAMES[w]}" for t, w in zip(long["transform"], long["what"])],
                         "value": long["value"]})


# ---------------------------------------------------------------- what we found

def centring_status(weak: str, strong: str) -> str:
    """The survey's finding "centring-type transforms strengthen alignment", from centring's weak-P@1
    and strong-mAP verdicts against no transform (the head of `status_finding4`)."""
    if strong == "better" and weak == "better":
        return "reproduced"
    if strong == "better":
        return ("partly reproduced (strong alignment; weak retrieval "
                f"{'lower' if weak == 'worse' else 'not measurably changed'})")
    if strong == "worse":
        return "not reproduced"
    return "inconclusive"


def glue_findings(verdicts: Mapping[str, Mapping[str, tuple]], results: pd.DataFrame, lid_vs_chance: tuple,
                  *, n_langs: int) -> None:
    """Glue the sentences of "What we found": centring's verdicts (strong, weak, on the random-init
    control, against the control's gain, LID), LIR's, and `status_finding4`. `lid_vs_chance`: the
    chapter's (interval, verdict) of the per-item LID probe after centring (base model) against
    chance, 1 / `n_langs` (the verdict count is `Verdicts.glue_count`'s)."""
    c = {k: v for k, (_, v) in verdicts["centring"].items()}
    glue_text("verdict_strong", says(c["strong"], "reproduced", "contradicted", "not reproduced (inconclusive)"))
    glue_text("verdict_lir", says(verdicts["LIR"]["strong"][1], *CHANGE))
    glue_text("verdict_weak_centring", says(c["weak"], *CHANGE))
    glue_text("verdict_strong_control", says(c["strong (random init)"], *CHANGE))
    glue_verdict("gain_vs_control", verdicts["centring"]["gain vs random init"],
                 "larger than on the random-init control", "smaller than on the random-init control",
                 "not distinguishable from the gain on the random-init control")
    glue_text("lid_chance", f"{1 / n_langs:.3f}")
    glue_text("verdict_lid", says(c["LID"], *CHANGE) + " the probe's accuracy (Δ "
              + str(verdicts["centring"]["LID"][0]) + "), which "
              + says(lid_vs_chance[1], "stays above chance: the language signal is not only in the mean",
                     "falls below chance", "cannot be distinguished from chance"))
    mapped = {t: results.loc[("base", t), "strong mAP"] for t in ("none", "centring", "LIR", "LSAR")}
    glue_text("status_finding4", centring_status(c["weak"], c["strong"])
              + f": centring, weak P@1 Δ {verdicts['centring']['weak'][0]}; strong mAP {mapped['none']:.3f} → "
              f"{mapped['centring']:.3f} with centring (Δ {verdicts['centring']['strong'][0]}); "
              f"LIR {mapped['LIR']:.3f}, LSAR {mapped['LSAR']:.3f}")


# ---------------------------------------------------------------- helpers of the visible cells

def starting_model(preset: str, model: str):
    """The chapter's model: "base" is the preset's shipped pretrained checkpoint (the chapter's `seed` is
    its methods' seed, not a pretraining seed), anything else a local
    HF directory or hub name. The chapter builds its random-init control beside it and seeds everything
    (`train.seed_everything`) before."""
    from ..checkpoints import base_model
    from ..models import load_model
    from ..presets import get_preset

    return base_model(get_preset(preset).name) if model == "base" else load_model(model)


def embed_all(models: Mapping[str, object], layers: Mapping[str, int],
              texts: Mapping[str, Sequence[str]]) -> dict[str, dict[str, np.ndarray]]:
    """{model name: {lang: (n, d) embeddings at that model's layer}} of the same texts."""
    from ..evaluate import embed

    return {name: embed(m, texts, layers[name]) for name, m in models.items()}


def outcome(embs: Mapping[str, np.ndarray], hits: pd.DataFrame, strong: Mapping, lid: float,
            lid_items) -> tuple[dict, dict[str, float]]:
    """One measured eval set as (per-item outcomes, means): the outcomes ("hits": en→X retrieval
    hits, "ap": strong average precision, "lid": LID probe per item, "embs": the embeddings) feed the
    paired comparisons; the means are one row of the chapter's results table."""
    items = {"hits": hits, "ap": strong["ap_per_item"], "lid": lid_items, "embs": embs}
    row = {"weak P@1": hits.to_numpy().mean(), "strong mAP": strong["map"], "strong P@1": strong["p_at_1"],
           "same-language bias": strong["same_language_bias"], "LID probe": lid}
    return items, row


def results_table(rows: Mapping[tuple[str, str], Mapping[str, float]]) -> pd.DataFrame:
    """{(model, transform): means} as a table indexed by (model, transform)."""
    return pd.DataFrame(rows).T.rename_axis(["model", "transform"])


LIR_RANKS = (0, 1, 2, 4, 8, 16, 32)  # LIR's ranks tried (LSAR's: 0 to the number of languages - 1)


def choose_ranks(fit: Mapping[str, np.ndarray], par: Mapping[str, np.ndarray], lir_ranks: Sequence[int] = LIR_RANKS,
                 lsar_ranks: Sequence[int] | None = None) -> dict[str, tuple[int, dict[int, float]]]:
    """LIR's and LSAR's rank, each fitted on `fit` (pretrain embeddings) and scored by strong mAP on
    `par` (parallel-split pairs, never eval): {"LIR": (best rank, {rank: mAP}), "LSAR": (...)}; the
    first best rank wins a tie. LSAR's ranks default to 0 … number of languages − 1."""
    from ..methods import transforms as T

    lsar_ranks = range(len(fit)) if lsar_ranks is None else lsar_ranks
    out = {}
    for cls, ranks in [(T.LIR, lir_ranks), (T.LSAR, lsar_ranks)]:
        scores = {r: metrics.strong_alignment(cls(r=r).fit(fit).transform(par))["map"] for r in ranks}
        out[cls.__name__] = max(scores, key=scores.get), scores
    return out


def load_reference(name: str, eval_texts: Mapping[str, Sequence[str]], fit_texts: Mapping[str, Sequence[str]],
                   par: Mapping[str, Sequence[str]], n_items: int, n_fit: int, seed: int):
    """Load the real model `name`, embed its three text sets (`reference_texts`) at its layer
    (chosen on `n_fit` parallel-split pairs) and choose its LIR and LSAR ranks (`choose_ranks`).
    Returns (encoder, eval rows, layer, ranks, (evals, fits, pars))."""
    from ..evaluate import choose_layer, item_subset
    from ..models import load_model

    enc = load_model(name)
    rows = item_subset(len(eval_texts["en"]), n_items, seed)
    layer = choose_layer(enc, list(eval_texts), n=n_fit)[0]
    sets = reference_texts(eval_texts, fit_texts, par, rows, n_fit, seed)
    evals, fits, pars = (embed_all({name: enc}, {name: layer}, texts)[name] for texts in sets)
    return enc, rows, layer, choose_ranks(fits, pars), (evals, fits, pars)


def reference_texts(eval_texts: Mapping[str, Sequence[str]], fit_texts: Mapping[str, Sequence[str]],
                    par: Mapping[str, Sequence[str]], rows: Sequence[int], n_fit: int, seed: int) -> tuple[dict, dict, dict]:
    """The real model's three text sets: the eval sentences of `rows`, a seeded sample of `n_fit` of
    each language's fitting paragraphs (`evaluate.item_subset`), and the first `n_fit` parallel-split
    pairs (languages: those of `eval_texts`)."""
    from ..evaluate import item_subset

    evals = {lang: [t[i] for i in rows] for lang, t in eval_texts.items()}
    fits = {lang: [t[i] for i in item_subset(len(t), n_fit, seed)] for lang, t in fit_texts.items()}
    pars = {lang: par[lang][:n_fit] for lang in eval_texts}
    return evals, fits, pars


def hits_tables(mapped: Mapping[tuple[str, str], np.ndarray], evals: Mapping[str, Mapping[str, np.ndarray]],
                names: Sequence[str], langs: Sequence[str]) -> dict[tuple[str, str], pd.DataFrame]:
    """Per (model, "map" | "none") one items × languages table of X→en hits: with the map
    (`mapped[(model, lang)]`, per-item hits) and without it (`unmapped_hits` of `evals[model]`), over
    the languages of `langs` every model has a map for."""
    kept = [lang for lang in langs if all((n, lang) in mapped for n in names)]
    return {(n, kind): pd.DataFrame({lang: mapped[(n, lang)] if kind == "map" else unmapped_hits(evals[n], lang)
                                     for lang in kept})
            for n in names for kind in ("map", "none")}


def shuffled_pairs(model, lang: str, layer: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` `parallel`-split pairs (X, English) drawn with `rng`, embedded by `model` at `layer`."""
    p2 = data.parallel(("en", lang), "parallel")
    idx = rng.permutation(len(p2["key"]))[:n]
    return (model.encode([p2[lang][i] for i in idx], layer=layer),
            model.encode([p2["en"][i] for i in idx], layer=layer))


def word_embeddings(model, pairs: Sequence[tuple[str, str]], layer: int) -> tuple[np.ndarray, np.ndarray]:
    """The X words and the English words of `pairs` (English, X), each embedded on its own
    (`word_alignment.word_vectors`): two (n, d) arrays, X first."""
    from ..methods.word_alignment import word_vectors

    return tuple(np.concatenate(word_vectors(model, [[p[k]] for p in pairs], layer=layer)) for k in (1, 0))


def task_features(task: Mapping, encode) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The classification task's English training texts and every language's test texts encoded
    with `encode(texts)`: (train features, {lang: test features})."""
    return encode(task["train_texts"]), {lang: encode(t) for lang, t in task["test_texts"].items()}


def classify(task: Mapping, features: tuple, seed: int, transform=None):
    """`transfer.classify_features` on `features` (from `task_features`), each language's features
    first transformed by `transform` (a fitted per-language transform) when given."""
    from ..transfer import classify_features

    train, test = features
    if transform is not None:
        train, test = transform.transform({"en": train})["en"], transform.transform(test)
    return classify_features(train, task["train_y"], test, task["test_y"], len(task["labels"]), seed)


def apps_references(task: Mapping, control, lexical, layer: int, seed: int) -> dict:
    """The classification task's references: the random-init `control` at `layer` and the TF-IDF
    control (`lexical`), each through `classify`."""
    return {"random init": classify(task, task_features(task, lambda t: control.encode(t, layer=layer)), seed),
            "TF-IDF": classify(task, task_features(task, lexical.encode), seed)}


def own_statistics(feats: Mapping[str, tuple], cls):
    """A `pos_accuracy` transform that fits `cls` (a per-language transform class) on each feature
    set (English training words, each test treebank) by itself and applies it to that set:
    transductive, it reads the test inputs (never their labels)."""
    fitted = {name: cls().fit({name: f[0]}) for name, f in feats.items()}
    return lambda name, x: fitted[name].transform({name: x})[name]


def word_row(lang: str, n_pairs: int, n_test: int) -> dict:
    """The head of one language's row of the word-level table: its pair counts and chance P@1."""
    return {"lang": lang, "train pairs": n_pairs - n_test, "test pairs": n_test, "chance": 1 / n_test}
