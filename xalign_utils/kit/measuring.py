"""The kit of chapter 00_measuring_alignment (notebooks/00_measuring_alignment.ipynb).

What the chapter needs besides its measurements: the tables it displays, its figures, the glue of its
numbers, intervals and verdicts into the prose, its `record` / `record_results` calls and the status
sentences of its three findings. Every verdict phrase is chosen from a verdict here, never typed for
one outcome. It also holds the few measuring helpers the chapter calls for several models (the
controls' mean over seeds, a protocol's embeddings at its chosen layer, Tatoeba retrieval) and the real
model's repeat of both View II tasks at its own sizes. Tested in `tests/test_kit_measuring.py`.

A paired comparison is `(metrics.Interval, verdict)`, as `metrics.Verdicts.compare` returns it; the
chapter collects them in one dict `{name: (interval, verdict)}` whose names are the glue keys of the
prose (`iv_<name>`, `verdict_<name>`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import data, metrics, plot
from ..evaluate import alignment_table, centre_layers, embed, parallel_texts, retrieval_hits, scripts_of
from ..findings import says
from ..languages import LANGUAGES, check_languages
from ..record import glue_text, glue_verdict, record, record_results
from ..transfer import tidy

VIEWS = ("raw", "centred")
N_OOD = 500  # out-of-domain sentences (NTREX) or pairs (Tatoeba) per language
SAME = "cannot be distinguished from"
NOT_DIST = "not distinguishable from"
MEAN_NON_EN = "mean over non-English"

# verdict_<name> phrases (better, worse, inconclusive) of the comparisons whose glue key is their name
PHRASES = {
    "centred": ("beats", "loses to", SAME),
    "raw": ("beats", "loses to", SAME),
    "lexical": ("beats", "is below", SAME),
    "strong_centring": ("raises", "lowers", "does not measurably change"),
    "lid_chance": ("above", "below", NOT_DIST),
    "apps": ("beats", "loses to", SAME),
    "apps_maj": ("above", "below", NOT_DIST),
    "pos": ("better than", "worse than", NOT_DIST),
    "pos_maj": ("above", "below", NOT_DIST),
    "ref_weak": ("above", "below", "level with"),
    "ref_strong_weak": ("above", "below", NOT_DIST),
    "ref_lid": ("above", "below", NOT_DIST),
    "ref_apps": ("above", "below", "level with"),
    "ref_pos": ("above", "below", "level with"),
}
# comparisons glued under another verdict name: name -> (glue key, phrases)
RENAMED = {"ntrex": ("verdict_ood", ("beats", "loses to", SAME))}
MATCHED = ("give more alignment than", "give less alignment than", "cannot be distinguished in alignment from")
CORPUS_COMPARISONS = ("matched_disjoint", "comparable_matched", "matched_disjoint_apps")

# every glue key of the real-model section ("n/a" when it is not run)
REF_KEYS = ("ref_layers", "ref_width", "ref_vocab", "ref_params", "ref_speed", "ref_items", "ref_n_fit", "ref_tatoeba",
            "ref_card_summary", "ref_apps_train", "ref_pos_sentences", "ref_pos_train", "ref_p1_raw", "ref_p1_csls",
            "ref_layer_raw", "ref_base_p1_raw", "ref_strong_map", "ref_lid", "ref_apps_xling", "ref_pos_xling",
            "iv_ref_weak", "iv_ref_strong", "iv_ref_strong_weak", "iv_ref_lid", "iv_ref_apps", "iv_ref_pos",
            "verdict_ref_weak", "verdict_ref_strong_weak", "verdict_ref_lid", "verdict_ref_apps", "verdict_ref_pos",
            "ref_lid_reading", "ref_model_label")
PRETRAIN_KEYS = ("pretrain_tokens_m", "unique_tokens_m", "pretrain_minutes", "pretrain_threads", "pretrain_steps",
                 "heldout_best_step", "heldout_final", "heldout_best")


def _closed(fig):
    """Close `fig` in pyplot (it is glued, not shown) and return it."""
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- small helpers of the measurements

def layer_of(p, view: str) -> int:
    """The layer a protocol (`evaluate.Protocol`) chose for `view` ("raw" or "centred")."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; choose one of: {', '.join(VIEWS)}")
    return p.layer_raw if view == "raw" else p.layer_centred


def at_layer(p, view: str, layer: int | None = None) -> dict:
    """{lang: (n, d)} eval embeddings of a protocol, raw or centred (its pretraining-text means), at
    `layer` (default: the layer the protocol chose for that view)."""
    layer = layer_of(p, view) if layer is None else layer
    e = p.embeddings if view == "raw" else centre_layers(p.embeddings, p.centring)
    return {l: x[layer] for l, x in e.items()}


def control_mean(by_name: dict, names) -> object:
    """The random-init control's per-item outcome: the mean over its seeds `names` of `by_name[name]`."""
    names = list(names)
    if not names:
        raise ValueError("control_mean needs at least one control")
    return sum(by_name[c] for c in names) / len(names)


def control_hits(proto: dict, names, view: str):
    """The controls' per-item hits (`hits_raw` or `hits_centred` of their protocols), mean over seeds."""
    layer_of(proto[list(names)[0]], view)  # refuses an unknown view
    return control_mean({c: getattr(proto[c], f"hits_{view}") for c in names}, names)


def control_items(results: dict, names):
    """The controls' per-item outcomes of a transfer task (`TransferResult.items`), mean over seeds."""
    return control_mean({c: results[c].items for c in names}, names)


def strong_ap(embs: dict) -> np.ndarray:
    """Per-item average precision of strong alignment over the mixed pool (`metrics.strong_alignment`)."""
    return metrics.strong_alignment(embs, per_item=True)["ap_per_item"]


def centred_hits(encoder, protocol, texts: dict) -> pd.DataFrame:
    """en→X retrieval hits of `texts` embedded by `encoder`, centred with the protocol's means, at the
    protocol's centred layer."""
    embs = centre_layers(embed(encoder, texts), protocol.centring)
    return retrieval_hits({l: x[protocol.layer_centred] for l, x in embs.items()})


def per_lang(hits: pd.DataFrame, non_en) -> dict:
    """Mean hit rate per target language and over all of them ("mean")."""
    return {**{l: hits[l].mean() for l in non_en}, "mean": hits.to_numpy().mean()}


# ---------------------------------------------------------------- the toy space and the collapsed model

def strong_table(strong: dict) -> pd.DataFrame:
    """One row per space of `{name: metrics.strong_alignment(space)}`: strong P@1, mAP, same-language bias."""
    return pd.DataFrame({name: {"strong P@1": s["p_at_1"], "strong mAP": s["map"],
                                "same-language bias": s["same_language_bias"]} for name, s in strong.items()}).T


def record_toy(toy_weak: float, toy_strong: dict) -> None:
    """Record the toy space's numbers the prose cites (weak P@1; strong P@1 raw, centred and after LIR)."""
    record("toy_weak_p1", toy_weak)
    record("toy_strong_p1", toy_strong["toy space"]["p_at_1"])
    record("toy_strong_bias", toy_strong["toy space"]["same_language_bias"])
    record("toy_centred_strong_p1", toy_strong["language means subtracted"]["p_at_1"])
    record("toy_lir_strong_p1", toy_strong["LIR, r = 1"]["p_at_1"])


def fig_toy(views: dict, per_lang_points: int = 150):
    """Two principal components of the toy space and of its centred version, coloured by language."""
    from sklearn.decomposition import PCA

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
    for ax, title in zip(axes, ["toy space", "language means subtracted"]):
        space = views[title]
        k = per_lang_points
        pts = PCA(2, random_state=0).fit_transform(np.concatenate([space[l][:k] for l in space]))
        for i, l in enumerate(space):
            ax.scatter(*pts[i * k:(i + 1) * k].T, s=6, color=plot.lang_color(l), label=l)
        ax.set_title(title)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    axes[0].legend(markerscale=3)
    return _closed(fig)


def collapsed_table(table: pd.DataFrame, pair: tuple[str, str], n: int) -> pd.DataFrame:
    """A collapsed model's measures (`evaluate.alignment_table` of identical vectors, `n` items per
    language) beside chance: weak P@1 and MRR of the language `pair` (src, tgt), strong mAP over the pool
    of every language of `table`, the LID probe."""
    a, b = pair
    langs = set(table.src) - {"all"}
    t = table.set_index(["src", "tgt", "measure"]).value
    if (a, b, "p_at_1_cosine") not in t:
        raise ValueError(f"the table has no weak measures from {a!r} to {b!r}")
    return pd.DataFrame({
        "collapsed model": [t[(a, b, "p_at_1_cosine")], t[(a, b, "mrr_cosine")], t[("all", "all", "strong_map")],
                            t[("all", "all", "lid_probe")]],
        "chance": [1 / n, metrics.chance_mrr(n), metrics.chance_average_precision(len(langs) - 1, len(langs) * n - 1),
                   1 / len(langs)],
    }, index=["weak P@1", "MRR", "strong mAP", "language-ID probe"])


# ---------------------------------------------------------------- the protocol and the base model

def items_table(items: dict) -> pd.DataFrame:
    """The eval item sets (`{kind: data.eval_items(...)}`): size, median English words, an example."""
    return pd.DataFrame({kind: [len(v["key"]), float(np.median([len(t.split()) for t in v["en"]])), v["en"][0],
                                v["de"][0] if "de" in v else ""] for kind, v in items.items()},
                        index=["items (every language)", "median English words", "example (en)", "example (de)"])


def glue_protocol(n_fit: int, min_words: int, n_layers: int, n_sentences: int, n_terms: int) -> None:
    """Glue the protocol's sizes the prose cites."""
    for name, value in (("n_fit", n_fit), ("min_words", min_words), ("n_layers", n_layers),
                        ("n_sentences", n_sentences), ("n_terms", n_terms)):
        glue_text(name, str(value))


def per_layer_table(proto: dict) -> pd.DataFrame:
    """Every model's per-layer mean en→X P@1 on eval (raw, centred, transductive), side by side."""
    return pd.concat({name: p.per_layer for name, p in proto.items()}, axis=1)


def fig_layers(proto: dict, names, lex_hits: pd.DataFrame, n_items: int):
    """P@1 per layer, raw and centred: the base model, the band of the controls `names`, TF-IDF, chance
    and the layer each view chose on the parallel split."""
    base = proto["base"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for ax, view in zip(axes, VIEWS):
        x = base.per_layer.index
        ax.plot(x, base.per_layer[view], marker="o", color="C0", label="base")
        band = np.array([proto[c].per_layer[view] for c in names])
        ax.fill_between(x, band.min(0), band.max(0), color="0.6", alpha=0.35, label=f"random init ({len(band)} seeds)")
        if view == "centred":
            ax.plot(x, base.per_layer["centred_transductive"], ls=":", color="C0",
                    label="base, centring fitted on the eval rows (transductive)")
        ax.axhline(lex_hits.to_numpy().mean(), color="C3", ls="--", lw=1, label="TF-IDF (no model)")
        ax.axhline(1 / n_items, color="0.2", ls=":", lw=1, label="chance")
        chosen = layer_of(base, view)
        ax.scatter([chosen], [base.per_layer[view][chosen]], s=120, facecolors="none", edgecolors="k",
                   label="layer chosen on parallel split")
        ax.set_xticks(list(x))
        ax.set_xlabel("layer (0 = embeddings)")
        ax.set_title(f"{view} embeddings")
    axes[0].set_ylabel("en→X P@1, eval sentences (mean over X)")
    axes[1].legend(fontsize=7, loc="upper left")
    return _closed(fig)


def headline_table(base, ctrl: dict, lex_hits: pd.DataFrame, non_en, n_items: int) -> pd.DataFrame:
    """en→X P@1 per target language and mean: base and control (`ctrl[view]`, mean of seeds), centred
    and raw, TF-IDF and chance."""
    chance = 1 / n_items
    return pd.DataFrame({
        "base (centred)": per_lang(base.hits_centred, non_en),
        "random init (centred, mean of seeds)": per_lang(ctrl["centred"], non_en),
        "base (raw)": per_lang(base.hits_raw, non_en),
        "random init (raw, mean of seeds)": per_lang(ctrl["raw"], non_en),
        "TF-IDF (no model)": per_lang(lex_hits, non_en),
        "chance": {**{l: chance for l in non_en}, "mean": chance},
    }).T


def script_table(base, ctrl: dict, lex_hits: pd.DataFrame, non_en, compare) -> pd.DataFrame:
    """Per script of the target languages: centred P@1 of the base model (its protocol), the control
    (`ctrl["centred"]`, mean of seeds) and TF-IDF, and base − control as a paired interval with its
    verdict (`compare`, called once per script in the order of `scripts_of`)."""
    base_hits, ctrl_hits = base.hits_centred, ctrl["centred"]
    rows = {}
    for script, ls in scripts_of(non_en).items():
        iv, v = compare(base_hits[ls], ctrl_hits[ls])
        rows[script] = {"languages": " ".join(ls), "base": base_hits[ls].to_numpy().mean(),
                        "random init": ctrl_hits[ls].to_numpy().mean(), "TF-IDF": lex_hits[ls].to_numpy().mean(),
                        "base − random init": str(iv), "verdict": v}
    return pd.DataFrame(rows).T


def record_headline(proto: dict, names, lex_hits: pd.DataFrame, n_items: int, resamples: int, seed: int) -> None:
    """Record and glue the headline numbers (base and control P@1, raw and centred, TF-IDF, the
    transductive bound, chance), the base model's own interval half-width, its layers and the
    controls' band over seeds."""
    base = proto["base"]
    record("base_p1_centred", base.p_at_1("centred"))
    single = metrics.mean_interval(base.hits_centred.to_numpy(), resamples, seed)
    glue_text("halfwidth_p1", f"{(single.high - single.low) / 2:.3f}")
    record("control_p1_centred", control_hits(proto, names, "centred").to_numpy().mean())
    record("base_p1_raw", base.p_at_1("raw"))
    record("control_p1_raw", control_hits(proto, names, "raw").to_numpy().mean())
    record("lexical_p1", lex_hits.to_numpy().mean())
    record("base_p1_transductive", base.per_layer["centred_transductive"].max())
    record("chance_retrieval", 1 / n_items, fmt=".4f")
    glue_text("layer_centred", str(base.layer_centred))
    glue_text("layer_raw", str(base.layer_raw))
    band = sorted(proto[c].p_at_1("centred") for c in names)
    glue_text("control_band_centred", f"{band[0]:.3f} – {band[-1]:.3f}")


# ---------------------------------------------------------------- every View I measure

def view_one(embs: dict, layer: int, seed: int, n_items: int):
    """Every View I measure of `{lang: (n, d)}` embeddings at one layer: (a column for the chapter's
    table: weak P@1 with three scorings, MRR, strong mAP and P@1, same-language bias, LID probe, CKA
    with English, hubness; the tidy `evaluate.alignment_table` with `n` = `n_items`)."""
    t = alignment_table(embs, layers=[layer], k=10, seed=seed)
    t["n"] = n_items
    en = t[t.src == "en"].groupby("measure").value.mean()
    pooled = t[t.src == "all"].set_index("measure").value
    return {"weak P@1 (cosine)": en["p_at_1_cosine"], "weak P@1 (CSLS)": en["p_at_1_csls"],
            "weak P@1 (margin)": en["p_at_1_margin"], "MRR (cosine)": en["mrr_cosine"],
            "strong mAP": pooled["strong_map"], "strong P@1": pooled["strong_p_at_1"],
            "same-language bias": pooled["strong_same_language_bias"], "language-ID probe": pooled["lid_probe"],
            "CKA (en vs X)": t[(t.measure == "cka") & ((t.src == "en") | (t.tgt == "en"))].value.mean(),
            "hubness (k-occurrence skew)": en["hubness"]}, t


def protocol_view(p, view: str, seed: int, n_items: int):
    """`view_one` of a protocol's eval embeddings, raw or centred, at the layer it chose for that view."""
    return view_one(at_layer(p, view), layer_of(p, view), seed, n_items)


def view_one_chance(n_langs: int, n_items: int) -> list:
    """Chance for each row of `view_one`'s column (NaN for CKA and hubness, which have none)."""
    n_pool = n_langs * n_items - 1
    chance = 1 / n_items
    return [chance, chance, chance, metrics.chance_mrr(n_items), metrics.chance_average_precision(n_langs - 1, n_pool),
            (n_langs - 1) / n_pool, (n_items - 1) / n_pool, 1 / n_langs, np.nan, np.nan]


def view1_table(measured: dict, names, n_langs: int, n_items: int) -> pd.DataFrame:
    """The View I table from `{(model, view): view_one(...)}` (TF-IDF under ("TF-IDF", "—")): base raw
    and centred, the controls `names` (mean of seeds) raw and centred, TF-IDF, chance."""
    def seeds(view):
        return pd.DataFrame({c: measured[(c, view)][0] for c in names}).mean(axis=1)

    table = pd.DataFrame({"base, raw": measured[("base", "raw")][0], "base, centred": measured[("base", "centred")][0],
                          "random init, raw": seeds("raw"), "random init, centred": seeds("centred"),
                          "TF-IDF": measured[("TF-IDF", "—")][0]})
    table["chance"] = view_one_chance(n_langs, n_items)
    return table


def record_view1(view1: pd.DataFrame, n_langs: int) -> None:
    """Record the View I numbers the prose cites (strong mAP, LID probe, same-language bias, CSLS P@1)."""
    for key, col in [("base_strong_map", "base, raw"), ("base_strong_map_centred", "base, centred"),
                     ("control_strong_map", "random init, raw"), ("lexical_strong_map", "TF-IDF")]:
        record(key, view1.loc["strong mAP", col])
    record("base_lid_probe", view1.loc["language-ID probe", "base, raw"])
    record("base_lid_probe_centred", view1.loc["language-ID probe", "base, centred"])
    record("control_lid_probe", view1.loc["language-ID probe", "random init, raw"])
    record("base_same_lang_bias", view1.loc["same-language bias", "base, raw"])
    record("base_p1_csls", view1.loc["weak P@1 (CSLS)", "base, raw"])
    record("control_p1_csls", view1.loc["weak P@1 (CSLS)", "random init, raw"])
    glue_text("lid_chance", f"{1 / n_langs:.3f}")


def fig_strong(view1: pd.DataFrame):
    """Horizontal bars of strong mAP, same-language bias and LID accuracy per model and view; dotted: chance."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
    show = ["base, raw", "base, centred", "random init, raw", "random init, centred", "TF-IDF"]
    colors = ["C0", "C9", "0.45", "0.7", "C3"]
    for ax, (measure, label) in zip(axes, [("strong mAP", "strong mAP"), ("same-language bias", "same-language bias"),
                                           ("language-ID probe", "language-ID probe accuracy")]):
        ax.barh(show[::-1], view1.loc[measure, show[::-1]], color=colors[::-1])
        if np.isfinite(view1.loc[measure, "chance"]):
            ax.axvline(view1.loc[measure, "chance"], color="0.2", ls=":", lw=1)
        ax.set_xlabel(label)
    axes[0].set_ylabel("model, embeddings")
    return _closed(fig)


# ---------------------------------------------------------------- terms and out of domain

def terms_table(term_hits: dict, term_ctrl: pd.DataFrame, non_en) -> pd.DataFrame:
    """P@1 on the terms set per target language: base and control (centred), TF-IDF."""
    return pd.DataFrame({"base (centred)": per_lang(term_hits["base"], non_en),
                         "random init (centred)": per_lang(term_ctrl, non_en),
                         "TF-IDF": per_lang(term_hits["TF-IDF"], non_en)}).T


def record_terms(term_hits: dict, term_ctrl: pd.DataFrame) -> None:
    """Record the terms numbers (base, control, TF-IDF P@1) and glue chance on the terms set."""
    record("terms_base_p1", term_hits["base"].to_numpy().mean())
    record("terms_control_p1", term_ctrl.to_numpy().mean())
    record("terms_lexical_p1", term_hits["TF-IDF"].to_numpy().mean())
    glue_text("chance_terms", f"{1 / len(term_ctrl):.4f}")


def ood_languages(langs) -> list[str]:
    """The chapter's languages that NTREX-128 has, and Arabic (never in pretraining)."""
    return check_languages([l for l in langs if LANGUAGES[l].ntrex] + ["ar"], "ntrex")


def ood_texts(langs, n: int) -> tuple[dict, dict]:
    """The out-of-domain texts, the first `n` of each: NTREX-128 `{lang: sentences}` for `ood_languages`,
    and `tatoeba_pairs` for those of them that Tatoeba has."""
    ood = ood_languages(langs)
    return {l: t[:n] for l, t in data.ntrex(ood).items()}, tatoeba_pairs(ood, n)


def tatoeba_pairs(langs, n: int) -> dict:
    """{lang: (first n sentences, their n English translations)} of Tatoeba, for the non-English
    languages of `langs` that Tatoeba has."""
    return {l: tuple(t[:n] for t in data.tatoeba(l)) for l in langs if l != "en" and LANGUAGES[l].tatoeba}


def tatoeba_hits(encoder, pairs: dict, layer: int = -1) -> pd.Series:
    """X→en retrieval hits (CSLS) on each language's Tatoeba pairs (`tatoeba_pairs`), one Series keyed by
    (language, item); `layer` is passed to `encoder.encode` (TF-IDF ignores it)."""
    out = [retrieval_hits({l: encoder.encode(xs, layer=layer), "en": encoder.encode(en, layer=layer)},
                          src=l, scoring="csls")["en"] for l, (xs, en) in pairs.items()]
    return pd.concat(out, keys=list(pairs))


def ood_table(ntrex_hits: dict, nt_ctrl: pd.DataFrame, tatoeba: dict, tat_ctrl: pd.Series) -> pd.DataFrame:
    """Per language: NTREX en→X and Tatoeba X→en P@1 (CSLS) of the base model, the control, TF-IDF."""
    return pd.DataFrame({
        "NTREX en→X: base": ntrex_hits["base"].mean(), "NTREX: random init": nt_ctrl.mean(),
        "NTREX: TF-IDF": ntrex_hits["TF-IDF"].mean(),
        "Tatoeba X→en: base": tatoeba["base"].groupby(level=0).mean(),
        "Tatoeba: random init": tat_ctrl.groupby(level=0).mean(),
        "Tatoeba: TF-IDF": tatoeba["TF-IDF"].groupby(level=0).mean()})


def record_ood(ntrex_hits: dict, nt_ctrl: pd.DataFrame, tatoeba: dict, tat_ctrl: pd.Series, n_ood: int) -> None:
    """Record and glue the out-of-domain numbers (NTREX, Arabic among them, and Tatoeba)."""
    glue_text("n_ood", str(n_ood))
    record("ntrex_base_p1_csls", ntrex_hits["base"].to_numpy().mean())
    record("ntrex_control_p1_csls", nt_ctrl.to_numpy().mean())
    record("ntrex_base_p1_ar", ntrex_hits["base"]["ar"].mean())
    record("tatoeba_base_p1_csls", tatoeba["base"].mean())
    record("tatoeba_control_p1_csls", tat_ctrl.mean())
    glue_text("chance_ood", f"{1 / len(nt_ctrl):.4f}")
    glue_text("ntrex_control_p1_ar", f"{nt_ctrl['ar'].mean():.3f}")
    glue_text("ntrex_lexical_p1_ar", f"{ntrex_hits['TF-IDF']['ar'].mean():.3f}")


# ---------------------------------------------------------------- View II

def apps_tasks(langs, max_train: int, seed: int) -> tuple[dict, dict]:
    """The help-application task (`transfer.classification_data`) as it is, and with product names masked."""
    from ..transfer import classification_data

    return tuple(classification_data(langs, max_train, seed=seed, mask_names=m) for m in (False, True))


def apps_table(apps: dict, apps_ctrl: pd.DataFrame, masked: dict, non_en) -> pd.DataFrame:
    """Application accuracy per test language and mean over non-English: base, control, TF-IDF, the
    majority class, and base and TF-IDF with product names masked."""
    acc = pd.DataFrame({"base": apps["base"].items.mean(), "random init (mean of seeds)": apps_ctrl.mean(),
                        "TF-IDF": apps["TF-IDF"].items.mean(), "majority class": apps["base"].majority_items.mean(),
                        "base, names masked": masked["base"].items.mean(),
                        "TF-IDF, names masked": masked["TF-IDF"].items.mean()}).T
    acc[MEAN_NON_EN] = acc[non_en].mean(axis=1)
    return acc


def record_apps(acc: pd.DataFrame, base_result, task: dict) -> None:
    """Record the application numbers (`apps_table` and the base model's result) and glue the sizes."""
    record("apps_base_en", base_result.accuracy("en"))
    record("apps_base_xling", acc.loc["base", MEAN_NON_EN])
    record("apps_control_xling", acc.loc["random init (mean of seeds)", MEAN_NON_EN])
    record("apps_lexical_xling", acc.loc["TF-IDF", MEAN_NON_EN])
    record("apps_majority_xling", acc.loc["majority class", MEAN_NON_EN])
    record("apps_masked_base_xling", acc.loc["base, names masked", MEAN_NON_EN])
    record("apps_base_macro_f1_en", float(base_result.table.set_index("lang").loc["en", "macro_f1"]))
    glue_text("n_apps", str(len(task["test_y"])))
    glue_text("n_apps_train", str(len(task["train_y"])))


def fig_apps(apps: dict, apps_ctrl: pd.DataFrame, langs, seed: int):
    """Application accuracy per test language with 95 % bootstrap intervals: the base model, the control
    (mean of seeds), TF-IDF and the majority class."""
    systems = {"base": (apps["base"].items, "C0"), "random init": (apps_ctrl, "0.55"),
               "TF-IDF": (apps["TF-IDF"].items, "C3"), "majority": (apps["base"].majority_items, "0.85")}
    fig, ax = plt.subplots(figsize=(9, 3.6))
    x = np.arange(len(langs))
    width = 0.8 / len(systems)
    for i, (name, (its, color)) in enumerate(systems.items()):
        ivs = [metrics.mean_interval(its[l].to_numpy(), resamples=2000, seed=seed) for l in langs]
        err = [[iv.diff - iv.low for iv in ivs], [iv.high - iv.diff for iv in ivs]]
        ax.bar(x + (i - (len(systems) - 1) / 2) * width, [iv.diff for iv in ivs], width=width, color=color,
               label=name, yerr=err, capsize=2)
    ax.set_xticks(x, langs)
    ax.set_xlabel("test language (head trained on English only)")
    ax.set_ylabel("application accuracy")
    ax.legend(fontsize=8, ncol=4)
    return _closed(fig)


def pud_languages(langs) -> tuple[list[str], list[str]]:
    """The chapter's languages that have a PUD treebank (the POS test sets), and those of them other
    than English."""
    pud = [l for l in langs if LANGUAGES[l].pud]
    return pud, [l for l in pud if l != "en"]


def pos_table(pos: dict, pos_ctrl: pd.DataFrame, pud_non_en) -> pd.DataFrame:
    """POS accuracy per PUD language and mean over non-English: base, control, the majority tag."""
    table = pd.DataFrame({"base": pos["base"].items.mean(), "random init (mean of seeds)": pos_ctrl.mean(),
                          "majority tag": pos["base"].majority_items.mean()}).T
    table[MEAN_NON_EN] = table[pud_non_en].mean(axis=1)
    return table


def segmentation_table(tokenizer, pud_langs, n_sentences: int) -> pd.DataFrame:
    """What the POS feature can read per language (`tokenize.segmentation_stats` of the first
    `n_sentences` PUD sentences' words): pieces per word, share with <unk>, share whose first piece is
    a bare ▁."""
    from ..tokenize import segmentation_stats

    seg = pd.DataFrame({l: segmentation_stats(tokenizer, [w for s in data.conllu(f"{l}_pud")[:n_sentences]
                                                          for w in s.words])
                        for l in pud_langs}).T[["fertility", "unk", "bare_space_first"]]
    seg.columns = ["pieces per word", "share with an <unk> piece", "share whose first piece is a bare ▁"]
    return seg


def record_pos(table: pd.DataFrame, seg: pd.DataFrame, n_sentences: int) -> None:
    """Record the POS numbers (`pos_table`) and glue the test size and the language with most <unk>."""
    glue_text("pos_sentences", str(n_sentences))
    record("pos_base_en", table.loc["base", "en"])
    record("pos_base_xling", table.loc["base", MEAN_NON_EN])
    record("pos_control_xling", table.loc["random init (mean of seeds)", MEAN_NON_EN])
    record("pos_majority_xling", table.loc["majority tag", MEAN_NON_EN])
    glue_text("unk_worst", f"{seg.iloc[:, 1].idxmax()} ({seg.iloc[:, 1].max():.0%} of words)")


# ---------------------------------------------------------------- the pretraining logs and the corpora

def training_log(preset: str, corpus: str = "comparable") -> dict:
    """The training log shipped beside a base model (`corpus`: "comparable", the preset's own, or one of
    the comparison corpora "matched", "disjoint"); the shipped pretraining seed (0)."""
    from ..checkpoints import checkpoint_for, read_training_log
    from ..presets import get_preset

    p = get_preset(preset)
    return read_training_log(checkpoint_for(p if corpus == "comparable" else p.variant(corpus), 0, train=False))


def fig_pretrain(log: dict | None, model: str):
    """The base model's training log: MLM loss (training batches, held-out) and the log's retrieval check
    beside the controls' band; a one-line figure saying there is no log when `log` is None."""
    if log is None:
        fig, ax = plt.subplots(figsize=(6, 1))
        ax.axis("off")
        ax.text(0, 0.5, f"{model}: no xalign training log")
        return _closed(fig)
    curve = pd.DataFrame(log["curve"])
    evals = curve.dropna(subset=["held_out_mlm_loss"])
    per_step = log["tokens_seen"] / log["steps"] / 1e6
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    axes[0].plot(curve.step * per_step, curve.loss, color="C0", label="training batches")
    axes[0].plot(evals.step * per_step, evals.held_out_mlm_loss, marker="o", color="C1",
                 label="held-out (parallel split)")
    axes[0].set_ylabel("MLM loss (masked tokens)")
    axes[1].plot(evals.step * per_step, evals.p_at_1_last_centred, marker="o", color="C0",
                 label="base, centred, last layer")
    ctrl_last = [np.mean([v[-1] for v in c["centred"].values()])
                 for c in log["held_out_retrieval"]["random_init_seeds"].values()]
    axes[1].axhspan(min(ctrl_last), max(ctrl_last), color="0.6", alpha=0.35, label="random init (seeds)")
    axes[1].set_ylabel("en→X P@1, eval sentences")
    for ax in axes:
        ax.set_xlabel("tokens seen (millions)")
        ax.legend(fontsize=8)
    return _closed(fig)


def glue_pretrain(log: dict | None) -> None:
    """Glue the training log's facts the prose cites (steps, tokens, time, held-out loss); "n/a" without one."""
    if log is None:
        for name in PRETRAIN_KEYS:
            glue_text(name, "n/a")
        return
    evals = pd.DataFrame(log["curve"]).dropna(subset=["held_out_mlm_loss"])
    best = evals.loc[evals.held_out_mlm_loss.idxmin()]
    for name, text in (("pretrain_tokens_m", f"{log['tokens_seen'] / 1e6:.1f}"),
                       ("unique_tokens_m", f"{sum(log['training_tokens_per_language'].values()) / 1e6:.1f}"),
                       ("pretrain_minutes", str(round(log["wall_time_s"] / 60))),
                       ("pretrain_threads", str(log["threads"])), ("pretrain_steps", str(log["steps"])),
                       ("heldout_best_step", str(int(best.step))),
                       ("heldout_final", f"{evals.held_out_mlm_loss.iloc[-1]:.2f}"),
                       ("heldout_best", f"{best.held_out_mlm_loss:.2f}")):
        glue_text(name, text)


def corpus_comparisons(compare, corpora: dict, corpus_apps: dict, non_en) -> dict:
    """The corpus comparisons, paired (`compare`, three calls in this order): centred P@1 matched −
    disjoint, comparable (the base model) − matched, and application accuracy in the non-English
    languages matched − disjoint. `corpora`, `corpus_apps`: {corpus: protocol}, {corpus: application
    result}. Returns {name: (interval, verdict)}."""
    hits = {c: p.hits_centred for c, p in corpora.items()}
    acc = {c: a.items[non_en] for c, a in corpus_apps.items()}
    return {"matched_disjoint": compare(hits["matched"], hits["disjoint"]),
            "comparable_matched": compare(hits["comparable"], hits["matched"]),
            "matched_disjoint_apps": compare(acc["matched"], acc["disjoint"])}


def corpus_logs(preset: str) -> dict:
    """The training logs of the comparison models ("matched", "disjoint") and of the base model
    ("comparable"), in that order."""
    return {c: training_log(preset, c) for c in ("matched", "disjoint", "comparable")}


def token_sizes(logs: dict, langs) -> pd.DataFrame:
    """Training tokens (thousands) per corpus and language of `langs`, from the training logs `{corpus: log}`."""
    sizes = pd.DataFrame({c: log["training_tokens_per_language"] for c, log in logs.items()}).T
    return sizes[[l for l in langs if l in sizes.columns]] / 1e3  # languages the base models trained on


def sizes_table(logs: dict, langs) -> pd.DataFrame:
    """`token_sizes` as whole thousands, for display."""
    return token_sizes(logs, langs).round(0).astype(int).rename_axis("training tokens (thousands)")


def corpus_table(protocols: dict, apps: dict, non_en) -> pd.DataFrame:
    """Centred and raw P@1 and application accuracy per pretraining corpus (`protocols`, `apps`: {corpus:
    protocol}, {corpus: application result})."""
    return pd.DataFrame({c: {"centred P@1": p.p_at_1("centred"), "raw P@1": p.p_at_1("raw"),
                             "apps accuracy (non-English)": apps[c].items[non_en].to_numpy().mean()}
                         for c, p in protocols.items()}).T


def glue_corpora(logs: dict | None, table: pd.DataFrame | None, langs=()) -> None:
    """Record and glue the corpus comparison (training steps, the size ratio over `langs`, P@1 and accuracy
    of `matched` and `disjoint` from `corpus_table`); "n/a" everywhere when it was not run (`logs` None:
    not the base model)."""
    if logs is None:
        for name in ("matched_steps", "disjoint_steps", "steps_note", "size_ratio"):
            glue_text(name, "n/a")
        for name in CORPUS_COMPARISONS:
            glue_text(f"iv_{name}", "n/a (only for the base model)")
        for c in ("matched", "disjoint"):
            glue_text(f"{c}_p1_centred", "n/a")
        return
    steps = {c: logs[c]["steps"] for c in ("matched", "disjoint")}
    glue_text("matched_steps", str(steps["matched"]))
    glue_text("disjoint_steps", str(steps["disjoint"]))
    glue_text("steps_note", "the same budget, so *matched vs disjoint* measures comparability alone"
              if steps["matched"] == steps["disjoint"] else "different budgets: *matched vs disjoint* is confounded")
    sizes = token_sizes(logs, langs)
    glue_text("size_ratio", f"{sizes.loc['comparable'].sum() / sizes.loc['matched'].sum():.1f}")
    for c in ("matched", "disjoint"):
        record(f"{c}_p1_centred", table.loc[c, "centred P@1"])
        record(f"{c}_apps_xling", table.loc[c, "apps accuracy (non-English)"])


# ---------------------------------------------------------------- the real model at scale

def glue_reference_model(ref_enc) -> None:
    """Glue the real model's shape and speed (help sentences a second); with `ref_enc` None (the
    section is not run) every key of the section is "n/a"."""
    if ref_enc is None:
        for key in REF_KEYS:
            glue_text(key, "n/a")
        return
    sample = parallel_texts(["en", "de"])["de"][:40]
    t0 = time.perf_counter()
    ref_enc.encode(sample)
    glue_text("ref_speed", f"{len(sample) / (time.perf_counter() - t0):.0f}")
    glue_text("ref_layers", str(ref_enc.num_layers))
    glue_text("ref_width", str(ref_enc.hidden_size))
    glue_text("ref_vocab", f"{len(ref_enc.tokenizer):,}")
    glue_text("ref_params", f"{ref_enc.parameters() / 1e6:.0f}")


def card_row(hit: np.ndarray, candidates: int, card: float, resamples: int, seed: int) -> dict:
    """One language of the model-card check: accuracy (%) of the Tatoeba queries `hit` with its interval,
    the card's number and the difference."""
    iv = metrics.mean_interval(100 * hit, resamples, seed)
    return {"queries": len(hit), "candidates": candidates, "accuracy (%)": iv.diff,
            "95 % interval (queries)": f"[{iv.low:.1f}, {iv.high:.1f}]", "model card (%)": card,
            "ours − card": iv.diff - card}


def card_summary(card: pd.DataFrame) -> str:
    """How far our Tatoeba accuracies are from the card's, and how many are within 2 points."""
    if not len(card):
        return "not measured (none of the chapter's languages is on the card)"
    diffs = card["ours − card"].astype(float)
    return (f"from {diffs.min():+.1f} to {diffs.max():+.1f} points ({', '.join(card.index)}); "
            f"{int((diffs.abs() <= 2).sum())} of {len(card)} within the 2 points this project asks of the conversion")


def tatoeba_card(ref_enc, langs, n_queries: int, resamples: int, seed: int) -> pd.DataFrame | None:
    """The model card's Tatoeba check (X→en by cosine among all the English sentences, `n_queries` queries)
    for the chapter's languages on the card, one row per language (`card_row`). None when there is no real
    model (`ref_enc` None: the section is not run)."""
    from ..me5 import MODEL_CARD_TATOEBA

    if ref_enc is None:
        return None
    rows = {}
    for l in [x for x in langs if x in MODEL_CARD_TATOEBA]:
        xs, en_side = data.tatoeba(l)
        sim = metrics.cosine_matrix(ref_enc.encode(xs[:n_queries]), ref_enc.encode(en_side))
        rows[l] = card_row(metrics.retrieval_outcomes(sim)["hit"], len(en_side), MODEL_CARD_TATOEBA[l], resamples, seed)
    return pd.DataFrame(rows).T


def record_card(card: pd.DataFrame | None) -> None:
    """Record each language's Tatoeba accuracy of `tatoeba_card` (`ref_tatoeba_<lang>`) and glue the summary
    (`ref_card_summary`); nothing when the section is not run (`card` None)."""
    if card is None:
        return
    for l, row in card.iterrows():
        record(f"ref_tatoeba_{l}", row["accuracy (%)"], fmt=".1f", tol=1.0)  # 10 of 1,000 queries
    glue_text("ref_card_summary", card_summary(card))


@dataclass(frozen=True)
class Sample:
    """Where the real model meets the ci model: the sampled eval item `rows`, the chapter's `langs`, the
    seed and the ci model's `label` (its name in the tables)."""
    rows: np.ndarray
    langs: tuple
    seed: int
    label: str

    @property
    def non_en(self) -> list[str]:
        return [l for l in self.langs if l != "en"]

    @property
    def pud_non_en(self) -> list[str]:
        """The non-English languages with a PUD treebank (`pud_languages`)."""
        return pud_languages(self.langs)[1]


def ci_label(model: str, name: str) -> str:
    """The ci model's name beside the real model: "ci base" for the base model, else its `name`."""
    return "ci base" if model == "base" else name


def reference_view1(ref, proto: dict, names, lex_embs: dict, rows, seed: int, n_items: int, reference: str,
                    label: str) -> pd.DataFrame:
    """View I on the sampled items `rows`: the real model `ref` (raw and centred, its own protocol on those
    rows), the ci base model (`label`) raw and centred, the controls `names` raw (mean of seeds), TF-IDF,
    chance."""
    def on_rows(p, view):
        return {l: x[rows] for l, x in at_layer(p, view).items()}

    base = proto["base"]
    four = {f"{reference}, raw": protocol_view(ref, "raw", seed, n_items)[0],
            f"{reference}, centred": protocol_view(ref, "centred", seed, n_items)[0],
            f"{label}, raw": view_one(on_rows(base, "raw"), base.layer_raw, seed, n_items)[0],
            f"{label}, centred": view_one(on_rows(base, "centred"), base.layer_centred, seed, n_items)[0],
            "random init, raw": pd.DataFrame({c: view_one(on_rows(proto[c], "raw"), proto[c].layer_raw, seed,
                                                          n_items)[0] for c in names}).mean(axis=1),
            "TF-IDF": view_one({l: e[rows] for l, e in lex_embs.items()}, -1, seed, n_items)[0]}
    chance = view_one_chance(len(lex_embs), len(rows))[:8]
    four["chance"] = dict(zip(list(four[f"{reference}, raw"])[:8], chance))
    return pd.DataFrame(four)


def reference_tables(sample: Sample, ref, ref_apps: dict, ref_pos: dict, *, proto: dict, names, lex_embs: dict,
                     n_items: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`reference_view1` and `reference_view2` on `sample`: the four models' View I and View II tables (the
    real model's name is its protocol's, `ref.name`; the controls `names` of `proto`, TF-IDF `lex_embs`)."""
    return (reference_view1(ref, proto, names, lex_embs, sample.rows, sample.seed, n_items, ref.name, sample.label),
            reference_view2(ref_apps, ref_pos, names, ref.name, sample.non_en, sample.pud_non_en))


def reference_view2(ref_apps: dict, ref_pos: dict, names, reference: str, non_en, pud_non_en) -> pd.DataFrame:
    """Zero-shot accuracy in the non-English languages per model (applications; POS where the model has
    word features), the controls `names` as their mean, and the majority class or tag (of the heads
    trained on `reference`'s features: the same English labels for every model)."""
    apps_col, pos_col = "apps accuracy (non-English)", "POS accuracy (non-English)"
    view2 = {name: {apps_col: r.items[non_en].to_numpy().mean()} for name, r in ref_apps.items()}
    for name, r in ref_pos.items():
        view2[name][pos_col] = r.items[pud_non_en].to_numpy().mean()
    view2["random init"] = pd.DataFrame({c: view2.pop(c) for c in names}).mean(axis=1).to_dict()
    view2["majority class / tag"] = {apps_col: ref_apps[reference].majority_items[non_en].to_numpy().mean(),
                                     pos_col: ref_pos[reference].majority_items[pud_non_en].to_numpy().mean()}
    return pd.DataFrame(view2)


def fig_reference(four: pd.DataFrame, view2: pd.DataFrame, reference: str, label: str, n_rows: int):
    """The real model, the ci base model, its control and TF-IDF on the same items: View I measures (black:
    chance) and View II accuracies (black: majority class or tag)."""
    shown = {reference: (f"{reference}, raw", reference, "C2"), label: (f"{label}, raw", label, "C0"),
             "random init (ci)": ("random init, raw", "random init", "0.55"), "TF-IDF": ("TF-IDF", "TF-IDF", "C3")}
    measures = ["weak P@1 (cosine)", "weak P@1 (CSLS)", "strong mAP", "language-ID probe"]
    tasks = ["apps accuracy (non-English)", "POS accuracy (non-English)"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    x = np.arange(len(measures))
    for i, (name, (col, v2, color)) in enumerate(shown.items()):
        axes[0].bar(x + (i - 1.5) * 0.2, [four[col][m] for m in measures], width=0.2, color=color, label=name)
        axes[1].bar(np.arange(2) + (i - 1.5) * 0.2, [view2[v2].get(t, np.nan) for t in tasks], width=0.2, color=color)
    axes[0].scatter(x, [four["chance"][m] for m in measures], marker="_", s=400, color="k", zorder=3, label="chance")
    axes[1].scatter(np.arange(2), [view2["majority class / tag"][t] for t in tasks], marker="_", s=400, color="k",
                    zorder=3)
    axes[0].set_xticks(x, ["weak P@1\n(cosine)", "weak P@1\n(CSLS)", "strong mAP", "language-ID\nprobe"])
    axes[0].set_ylabel(f"score on {n_rows} eval items")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", bbox_to_anchor=(0.5, 0.98), ncol=5, fontsize=8)
    axes[1].set_xticks(np.arange(2), ["applications", "POS"])
    axes[1].set_ylabel("zero-shot accuracy, non-English")
    return _closed(fig)


def fig_reference_layers(ref, proto: dict, names, lex_embs: dict, rows, reference: str, label: str):
    """Weak alignment per layer, raw and centred: the real model on the sampled items `rows` (left), the ci
    base model with the controls' raw band on all items (right); dashed red: TF-IDF, dotted: chance."""
    base = proto["base"]
    n_items = lex_embs["en"].shape[0]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [3, 1]})
    for view, ls in (("raw", "-"), ("centred", "--")):
        axes[0].plot(ref.per_layer.index, ref.per_layer[view], ls=ls, marker="o", color="C2",
                     label=f"{reference}, {view}")
        axes[1].plot(base.per_layer.index, base.per_layer[view], ls=ls, marker="o", color="C0",
                     label=f"{label}, {view}")
    band = np.array([proto[c].per_layer["raw"] for c in names])
    axes[1].fill_between(base.per_layer.index, band.min(0), band.max(0), color="0.6", alpha=0.35,
                         label="random init, raw")
    lex_rows = {l: e[rows] for l, e in lex_embs.items()}
    for ax, lex, n_cand in ((axes[0], lex_rows, len(rows)), (axes[1], lex_embs, n_items)):
        ax.axhline(retrieval_hits(lex).to_numpy().mean(), color="C3", ls="--", lw=1)
        ax.axhline(1 / n_cand, color="0.2", ls=":", lw=1)
        ax.set_xlabel("layer (0 = embeddings)")
        ax.set_title(f"{n_cand} candidates per language", fontsize=9)
    axes[0].set_xticks(list(ref.per_layer.index))
    axes[1].set_xticks(list(base.per_layer.index))
    axes[0].set_ylabel("en→X P@1 (mean over X)")
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=7)
    return _closed(fig)


def fig_placeholder(text: str = "not run (no reference model)"):
    """A one-line figure standing in for a section that was not run."""
    fig, ax = plt.subplots(figsize=(4, 1))
    ax.text(0.5, 0.5, text, ha="center", va="center")
    ax.axis("off")
    return _closed(fig)


def reference_tasks(sample: Sample, ref_enc, models: dict, lexical, task: dict, *, params) -> tuple[dict, dict, int]:
    """Both View II tasks at the real model's sizes, each head trained on English for every model alike:
    the real model `ref_enc` (as `params.reference`), the ci base model `models["base"]` (as
    `sample.label`) and the other `models` (its controls); applications (`params.reference_apps_train`
    training paragraphs of `task`, `params.reference_items` seeded test items; TF-IDF `lexical` too) and
    POS on the PUD languages of `sample.langs` (`params.reference_pos_train` EWT sentences,
    `params.reference_pos_sentences` PUD sentences). `params`: the chapter's parameters. Returns
    (applications, POS), each {model: TransferResult}, and the number of application training paragraphs."""
    from ..evaluate import item_subset
    from ..transfer import subset_task, zero_shot_classification, zero_shot_pos

    langs, seed = list(sample.langs), sample.seed
    models = {params.reference: ref_enc, sample.label: models["base"]} | {
        n: m for n, m in models.items() if n != "base"}
    sub = subset_task(task, params.reference_apps_train, item_subset(len(task["test_y"]), params.reference_items,
                                                                     seed), seed)
    apps = {n: zero_shot_classification(m, langs, seed=seed, task=sub)
            for n, m in (models | {"TF-IDF": lexical}).items()}
    pud_langs = pud_languages(langs)[0]
    pos = {n: zero_shot_pos(m, pud_langs, seed=seed, max_train_sentences=params.reference_pos_train,
                            max_test_sentences=params.reference_pos_sentences)
           for n, m in models.items()}
    return apps, pos, len(sub["train_texts"])


REF_COMPARISONS = ("ref_weak", "ref_strong", "ref_strong_weak", "ref_lid", "ref_apps", "ref_pos")


def reference_comparisons(sample: Sample, compare, ref, base, *, apps: dict, pos: dict):
    """The real model `ref` against the ci model `base` (as `sample.label` in `apps`, `pos`) on the same
    items `sample.rows`, paired (`compare`, six calls in this order, `REF_COMPARISONS`): weak P@1 (raw),
    strong mAP, its strong mAP against its own weak P@1, the LID probe against chance, applications, POS.
    Only computes. Returns ({"ref_<name>": (interval, verdict)}, {measure: value})."""
    reference, label, non_en, pud_non_en = ref.name, sample.label, sample.non_en, sample.pud_non_en
    ref_raw = at_layer(ref, "raw")
    base_raw = {l: x[sample.rows] for l, x in at_layer(base, "raw").items()}
    hits_ref, hits_base = retrieval_hits(ref_raw), retrieval_hits(base_raw)
    ap_ref, ap_base = strong_ap(ref_raw), strong_ap(base_raw)
    out = {"ref_weak": compare(hits_ref, hits_base), "ref_strong": compare(ap_ref, ap_base),
           "ref_strong_weak": compare(ap_ref, hits_ref.to_numpy().mean(axis=1))}
    lid, lid_items = metrics.language_id_probe(ref_raw, sample.seed, per_item=True)
    out["ref_lid"] = compare(lid_items, np.full_like(lid_items, 1 / len(ref_raw)))
    out["ref_apps"] = compare(apps[reference].items[non_en], apps[label].items[non_en])
    out["ref_pos"] = compare(pos[reference].items[pud_non_en], pos[label].items[pud_non_en])
    values = {"ref_p1_raw": float(hits_ref.to_numpy().mean()), "ref_strong_map": float(ap_ref.mean()),
              "ref_lid": lid, "ref_base_p1_raw": float(hits_base.to_numpy().mean())}
    return out, values


def record_reference(values: dict, four: pd.DataFrame, view2: pd.DataFrame, lid_verdict: str, reference: str,
                     sizes: dict) -> None:
    """Record the real model's numbers (`values` of `reference_comparisons`, the View I and View II tables),
    glue its sizes (`sizes`: {glue key: value}) and the reading of its LID verdict."""
    ref_weak = four[f"{reference}, raw"]
    record("ref_p1_raw", values["ref_p1_raw"])
    record("ref_p1_csls", ref_weak["weak P@1 (CSLS)"])
    record("ref_strong_map", values["ref_strong_map"])
    record("ref_same_language_bias", ref_weak["same-language bias"])
    record("ref_lid", values["ref_lid"])
    record("ref_base_p1_raw", values["ref_base_p1_raw"])
    record("ref_apps_xling", view2[reference]["apps accuracy (non-English)"])
    record("ref_pos_xling", view2[reference]["POS accuracy (non-English)"])
    for name, value in sizes.items():
        glue_text(name, str(value))
    glue_text("ref_lid_reading", says(lid_verdict,
                                      "so alignment at this scale has not erased the language of a sentence",
                                      "which no model should do",
                                      "so the language of a sentence is not recoverable from it"))


# ---------------------------------------------------------------- the book-wide results table

def results_rows(p, apps_result, non_en, n_items: int, pos_result=None, view1_tables=()) -> pd.DataFrame:
    """One model variant's tidy rows: its View I tables (`(view, table)`; centred measures get the suffix
    `_centred`), per-language centred eval P@1, the application task and (if given) POS."""
    rows = [t.assign(measure=t.measure + ("" if view == "raw" else "_centred")) for view, t in view1_tables]
    rows.append(pd.DataFrame({"src": "en", "tgt": list(non_en), "layer": p.layer_centred, "measure": "eval_p1_centred",
                              "value": [p.hits_centred[l].mean() for l in non_en], "n": n_items}))
    rows.append(tidy(apps_result, "apps"))
    if pos_result is not None:
        rows.append(tidy(pos_result, "pos"))
    return pd.concat(rows, ignore_index=True)


def reference_results(ref, rows, seed: int, ref_apps: dict, ref_pos: dict, reference: str,
                      n_items: int) -> list[dict]:
    """The real model's `record_results` arguments (View I raw on the sampled items, applications, POS),
    family "reference"; the chapter's hidden cell records them."""
    table = protocol_view(ref, "raw", seed, n_items)[1].assign(n=len(rows))
    return [dict(variant=reference, table=pd.concat([table, tidy(ref_apps[reference], "apps"),
                                                     tidy(ref_pos[reference], "pos")], ignore_index=True),
                 family="reference", seed=seed)]


def chapter_results(proto: dict, measured: dict, apps: dict, pos: dict, *, control_seeds, names,
                    corpus_p: dict, corpus_apps: dict, non_en, n_items: int, seed: int) -> list[dict]:
    """The `record_results` arguments of every model variant this chapter evaluates, in recording order:
    the base model, each control seed (`control_seeds`, named `names`), TF-IDF and the corpus variants
    (`corpus_p`, `corpus_apps`: {corpus: protocol}, {corpus: application result}; "comparable" is the base
    model, not recorded twice). The chapter's hidden cell records them into the book-wide results table."""
    def tables(name):
        return [(view, measured[(name, view)][1]) for view in VIEWS]

    out = [dict(variant="base", family="base", seed=seed,
                table=results_rows(proto["base"], apps["base"], non_en, n_items, pos["base"], tables("base")))]
    for s, c in zip(control_seeds, names):
        out.append(dict(variant=f"random-init-{s}", family="control", seed=s,
                        table=results_rows(proto[c], apps[c], non_en, n_items, pos[c], tables(c))))
    lexical = pd.concat([measured[("TF-IDF", "—")][1], tidy(apps["TF-IDF"], "apps")], ignore_index=True)
    out.append(dict(variant="tfidf", table=lexical, family="lexical"))
    for corpus, p in corpus_p.items():
        if corpus != "comparable":
            out.append(dict(variant=f"base-{corpus}", family="base", seed=seed,
                            table=results_rows(p, corpus_apps[corpus], non_en, n_items)))
    return out


# ---------------------------------------------------------------- verdicts and findings

def glue_verdicts(verdicts: dict) -> None:
    """Glue every comparison of `verdicts` ({name: (interval, verdict)}): `iv_<name>` always, and its
    verdict phrase (`PHRASES`, `RENAMED`, the corpus comparison's `verdict_matched`)."""
    for name, result in verdicts.items():
        if name in PHRASES:
            glue_verdict(name, result, *PHRASES[name])
        else:
            glue_text(f"iv_{name}", str(result[0]))
        if name in RENAMED:
            key, phrases = RENAMED[name]
            glue_text(key, says(result[1], *phrases))
    if "matched_disjoint" in verdicts:
        glue_text("verdict_matched", says(verdicts["matched_disjoint"][1], *MATCHED))
    else:  # not the base model: no corpus variants
        glue_text("verdict_matched", "were not measured against")


def script_reading(scripts: pd.DataFrame) -> str:
    """How the per-script verdicts (`script_table`) read, chosen from the verdicts."""
    shared = {s: r["verdict"] for s, r in scripts.iterrows() if s == "Latin"}
    other = {s: r["verdict"] for s, r in scripts.iterrows() if s != "Latin"}
    if any(v == "better" for v in other.values()):
        return (f"Languages in a script other than English's align beyond the control too "
                f"({', '.join(s for s, v in other.items() if v == 'better')}), though their help text also carries "
                "Latin-script names and UI terms shared with English.")
    if shared.get("Latin") == "better":
        return ("Only the languages that share English's script align beyond the control, as shared sub-words "
                "would predict.")
    if any(r["verdict"] == "worse" for _, r in scripts.iterrows()):
        return "No script aligns beyond the control, and some fall below it, the Latin-script languages included."
    return "No script aligns beyond the control, the Latin-script languages included."


def glue_scripts(scripts: pd.DataFrame, lex_hits: pd.DataFrame, lex_verdict: str) -> None:
    """Glue the per-script verdicts, their reading, the lexical heading and the script where TF-IDF does best."""
    glue_text("verdict_scripts", "; ".join(f"{s} ({r['languages']}): {r['verdict']}" for s, r in scripts.iterrows()))
    glue_text("script_reading", script_reading(scripts))
    glue_text("heading_lexical", says(lex_verdict, "The model beats shared strings.",
                                      "Shared strings explain more than the model.",
                                      "The model cannot be told apart from shared strings."))
    by_script = {s: lex_hits[r["languages"].split()].to_numpy().mean() for s, r in scripts.iterrows()}
    best = max(by_script, key=by_script.get)
    glue_text("lexical_best_script", f"{best} ({scripts.loc[best, 'languages']}), where TF-IDF retrieves "
                                     f"{by_script[best]:.3f}")


def finding1_status(centred: str, raw: str, matched_disjoint: str | None) -> str:
    """Finding 1, alignment from pretraining (either view beats the control), helped by comparable data
    (matched beats disjoint; None: not measured)."""
    aligned = "better" in (centred, raw)
    if aligned and matched_disjoint == "better":
        return "reproduced"
    if aligned:
        return "partly reproduced (alignment, but no measured help from comparable data)"
    if "worse" in (centred, raw):
        return "not reproduced"
    return "inconclusive"


def finding2_status(lid: str, strong_centring: str) -> str:
    """Finding 2, language identity stays encoded (the LID probe beats chance) and the raw space is not
    strongly aligned (centring raises strong mAP at the same layer)."""
    if lid == "better" and strong_centring == "better":
        return "reproduced"
    if lid != "better":
        return "not reproduced" if lid == "worse" else "inconclusive"
    return "partly reproduced (language identity encoded; centring does not raise strong mAP)"


def finding3_status(versus_last: str, versus_first: str) -> str:
    """Finding 3, the middle layer aligns best: it beats both the last and the embedding layer."""
    if versus_last == "better" and versus_first == "better":
        return "reproduced"
    return "not reproduced" if "worse" in (versus_last, versus_first) else "inconclusive"


def middle_layer_comparisons(base, compare, *, last: int) -> dict:
    """Centred P@1 at the middle layer (`last // 2`) against the last layer `last` and the embedding layer
    (`compare`, two calls, in this order). Only computes. Returns {"middle_last": (interval, verdict),
    "middle_embeddings": (interval, verdict)}."""
    middle = last // 2
    centred = centre_layers(base.embeddings, base.centring)
    hits = {i: retrieval_hits({l: x[i] for l, x in centred.items()}) for i in (0, middle, last)}
    return {"middle_last": compare(hits[middle], hits[last]), "middle_embeddings": compare(hits[middle], hits[0])}


def glue_findings(verdicts: dict, view1: pd.DataFrame, lex_hits: pd.DataFrame, base, *, n_langs: int,
                  middle: dict, last: int) -> None:
    """The three findings' status lines, from the verdicts (`verdicts`; `middle`: the middle-layer
    comparisons of `middle_layer_comparisons` with `last` layers). Glue only."""
    iv_c, v_c = verdicts["centred"]
    iv_r, v_r = verdicts["raw"]
    md = verdicts.get("matched_disjoint")
    finding1 = finding1_status(v_c, v_r, md[1] if md else None)
    glue_text("status_finding1", f"{finding1}: base − random init, centred P@1 {iv_c}, raw {iv_r}; matched − "
                                 f"disjoint corpus {md[0] if md else 'not measured'}; TF-IDF P@1 "
                                 f"{lex_hits.to_numpy().mean():.3f}")
    iv_lid, v_lid = verdicts["lid_chance"]
    iv_strong, v_strong = verdicts["strong_centring"]
    lid = view1.loc["language-ID probe", "base, raw"]
    bias = view1.loc["same-language bias", "base, raw"]
    glue_text("status_finding2", f"{finding2_status(v_lid, v_strong)}: LID probe {lid:.3f} (chance {1 / n_langs:.3f}; "
                                 f"{iv_lid}), same-language bias {bias:.3f}, strong mAP centred − raw at layer "
                                 f"{base.layer_centred}: {iv_strong}")
    (iv_ml, v_ml), (iv_mf, v_mf) = middle["middle_last"], middle["middle_embeddings"]
    glue_text("status_finding3", f"{finding3_status(v_ml, v_mf)} with {last} layers: centred P@1 at the "
                                 f"middle layer {last // 2} − last layer {iv_ml}, − embedding layer {iv_mf}; the "
                                 f"parallel split picks layer {base.layer_centred}")
