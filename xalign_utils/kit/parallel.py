"""Kit of chapter 01_parallel_data (notebooks/01_parallel_data.ipynb): TLM, word-level alignment and
distillation on parallel text.

What the chapter needs besides its training and measuring calls: the word-link statistics and
examples, the before/after table with its reference rows, the per-language and sweep tables, the
three figures, the real-teacher section's contrasts and tables, the glue of every interval, verdict
and status sentence its prose cites, its `record` calls and the `record_results` keyword arguments
of every variant (the chapter's hidden cell makes those calls). Every function takes what it uses as arguments; the chapter's
names (variants, measures, record keys) are the constants below. What it shares with the kit of
02_contrastive (summary table and references, record calls, per-language intervals, table and figure,
script-group glue, sweep table) is `kit.common`, one version, re-exported here where the chapter calls it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import plot, record
from ..findings import parallel_data_status, says, transfer_status
from ..languages import LANGUAGES, script_groups
from ..methods.parallel import METHOD_NAMES
from . import common
from .common import (RI, fig_langs, glue_references, hit_gains, per_language_intervals,  # noqa: F401
                     per_language_table)

MLM_CONTROL = METHOD_NAMES["mlm"]
SHUFFLED_CONTROL = METHOD_NAMES["distill_shuffled"]

# record() keys: variant -> prefix, measure -> suffix (e.g. "tlm_weak_p1")
VARIANT_KEYS = {"base": "base", "TLM": "tlm", MLM_CONTROL: "mlm", "word alignment (dictionary)": "word_dict",
                "word alignment (induced)": "word_induced", "distillation": "distill",
                SHUFFLED_CONTROL: "distill_shuffled", "random init": "control", "TLM" + RI: "tlm_ri",
                "word alignment (dictionary)" + RI: "word_dict_ri", "word alignment (induced)" + RI: "word_induced_ri",
                "distillation" + RI: "distill_ri"}
MEASURE_KEYS = {"weak P@1": "weak_p1", "weak P@1 centred": "weak_p1_centred", "strong mAP": "strong_map",
                "LID probe": "lid", "apps accuracy": "apps", "POS accuracy": "pos"}
# glue keys of the four methods (iv_<key>_p1, verdict_<key>_p1, ...)
METHOD_KEYS = {"TLM": "tlm", "word alignment (dictionary)": "word_dict", "word alignment (induced)": "word_induced",
               "distillation": "distill"}
# record_results variant names of the variants trained from the base model
RESULT_SLUGS = {"TLM": "tlm", MLM_CONTROL: "mlm-unpaired", "word alignment (dictionary)": "word-dict",
                "word alignment (induced)": "word-induced", "distillation": "distill", SHUFFLED_CONTROL: "distill-shuffled"}
# gain measures glued per method, with their glue suffix (the LID probe apart: lower is better)
GAIN_KEYS = (("weak P@1", "p1"), ("strong mAP", "map"), ("apps accuracy", "apps"), ("POS accuracy", "pos"),
             ("weak P@1 centred", "p1c"))
PAIRING_KEYS = (("weak P@1", "p1"), ("weak P@1 centred", "p1c"), ("strong mAP", "map"), ("apps accuracy", "apps"),
                ("POS accuracy", "pos"))
SWEEP_MEASURES = ("weak P@1", "apps accuracy")
LEXICAL_MEASURES = ("weak P@1", "strong mAP", "apps accuracy")  # the TF-IDF row of the summary table


# ---------------------------------------------------------------- setup

def glue_setup(harness, n_par: int, n_pairs: int, steps: int, batch_size: int, lr: float, num_layers: int,
               best_layer: int, pretrain_lr: float) -> None:
    """Glue the setup numbers the prose cites: the data sizes, the training budget, the layers and
    what the harness fixed (centring paragraphs, task head sizes)."""
    texts = {"n_par": str(n_par), "n_pairs": str(n_pairs), "n_items": str(harness.n_items), "steps": str(steps),
             "batch_size": str(batch_size), "lr": f"{lr:g}", "layer": str(num_layers), "best_layer": str(best_layer),
             "lr_ratio": f"{lr / pretrain_lr:g}", "n_fit": str(harness.n_fit),
             "apps_train": str(len(harness.apps_task["train_texts"])), "pos_train": str(harness.pos_train),
             "pos_test": str(harness.pos_test)}
    for name, text in texts.items():
        record.glue_text(name, text)


# ---------------------------------------------------------------- word links

def link_stats(linked, pair_langs: Sequence[str], dictionaries: Mapping[str, Mapping[str, set]],
               langs: Sequence[str]) -> pd.DataFrame:
    """Per language: links per sentence pair, the share of links between identical strings, the
    dictionary agreement (share of links whose English word is in the dictionary and whose target
    word is one of its translations; NaN when none can be checked) and the number of checkable links.
    `linked`: (source words, target words, [(i, j), ...]) per pair; `pair_langs`: each pair's language."""
    rows = {}
    for lang in langs:
        sel = [ex for ex, pl in zip(linked, pair_langs) if pl == lang]
        n_links = sum(len(ex[2]) for ex in sel)
        same = sum(ex[0][i].lower() == ex[1][j].lower() for ex in sel for i, j in ex[2])
        d = dictionaries.get(lang, {})
        checkable = [(ex[0][i].lower(), ex[1][j].lower()) for ex in sel for i, j in ex[2] if ex[0][i].lower() in d]
        agreement = np.mean([b in d[a] for a, b in checkable]) if checkable else np.nan
        rows[lang] = {"links per pair": n_links / len(sel), "identical strings": same / max(1, n_links),
                      "dictionary agreement": agreement, "checkable links": len(checkable)}
    return pd.DataFrame(rows).T


def link_table(links: Mapping[str, list], pairs: Sequence[tuple[str, str, str]],
               dictionaries: Mapping[str, Mapping[str, set]], langs: Sequence[str]) -> pd.DataFrame:
    """`link_stats` of every link source ({source name: links per pair}), side by side (two column levels)."""
    pair_langs = [lang for lang, _, _ in pairs]
    return pd.concat({k: link_stats(v, pair_langs, dictionaries, langs) for k, v in links.items()}, axis=1)


def glue_links(table: pd.DataFrame, dictionaries: Mapping[str, Mapping[str, set]], langs: Sequence[str]) -> None:
    """Glue the link statistics the prose cites (means over languages): links per pair, identical
    strings and dictionary agreement of the aligner on the base model (`*_base`) and on the random-init
    control (`*_control`), the dictionary's links per pair overall and per script group, and which
    languages have no dictionary."""
    for source, key in (("induced (base)", "base"), ("induced (random init)", "control")):
        t = table[source]
        record.glue_text(f"links_{key}", f"{t['links per pair'].mean():.1f}")
        record.glue_text(f"links_identical_{key}", f"{t['identical strings'].mean():.2f}")
        record.glue_text(f"links_precision_{key}", f"{np.nanmean(t['dictionary agreement']):.2f}")
    per_pair = table["dictionary"]["links per pair"]
    record.glue_text("links_dictionary", f"{per_pair.mean():.1f}")
    latin, other = script_groups(langs)
    record.glue_text("dict_links_latin", f"{per_pair[latin].mean():.2f}" if latin else "n/a")
    record.glue_text("dict_links_other", f"{per_pair[other].mean():.2f}" if other else "n/a")
    missing = [LANGUAGES[lang].name for lang in langs if lang not in dictionaries]
    record.glue_text("no_dictionary", ("no dictionary for " + ", ".join(missing)) if missing
                     else "a dictionary for every language")


def link_examples(linked, pairs: Sequence[tuple[str, str, str]], langs: Sequence[str], min_links: int = 4,
                  n_words: int = 18, n_links: int = 8) -> pd.DataFrame:
    """One sentence pair per language (the first with at least `min_links` links): its first
    `n_words` English words and its first `n_links` links (English word → target word). A language
    with no such pair keeps its row, reading "none"."""
    rows = []
    for lang in langs:
        k = next((i for i, (pl, _, _) in enumerate(pairs) if pl == lang and len(linked[i][2]) >= min_links), None)
        if k is None:
            rows.append({"lang": lang, "English": f"none (no pair with {min_links} or more links)",
                         "links (English → target)": "none"})
            continue
        s, t, ls = linked[k]
        rows.append({"lang": lang, "English": " ".join(s[:n_words]),
                     "links (English → target)": ", ".join(f"{s[i]}→{t[j]}" for i, j in ls[:n_links])})
    return pd.DataFrame(rows, columns=["lang", "English", "links (English → target)"]).set_index("lang")


# ---------------------------------------------------------------- training curves

CURVE_GROUPS = (("TLM and its control", ("TLM", MLM_CONTROL)),
                ("word-level alignment", ("word alignment (dictionary)", "word alignment (induced)")),
                ("distillation and its control", ("distillation", SHUFFLED_CONTROL)))


def fig_curves(curves: Mapping[str, Sequence[float]], steps: int):
    """Training loss per step, one panel per method family: from the base model solid, from the
    random-init control dotted. Returns the (closed) figure."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for ax, (title, names) in zip(axes, CURVE_GROUPS):
        for i, n in enumerate(names):
            for suffix, style in (("", "-"), (RI, ":")):
                if n + suffix in curves:
                    label = n.replace(" (no pairing)", "").replace("distillation on ", "")
                    ax.plot(np.arange(1, steps + 1), curves[n + suffix], style, color=f"C{i}", lw=1.2,
                            label=label + (" (random init)" if suffix else ""))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("training loss")
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- before and after

def summary_table(evals: Mapping, chance: Mapping[str, float], lexical: Mapping) -> pd.DataFrame:
    """`common.summary_table` on this chapter's TF-IDF measures (`LEXICAL_MEASURES`): every variant's
    headline numbers, then chance, the majority class / tag and the TF-IDF control."""
    return common.summary_table(evals, chance, lexical, LEXICAL_MEASURES)


def record_summary(evals: Mapping) -> list[str]:
    """`record` every variant's headline numbers as `<variant key>_<measure key>` (`VARIANT_KEYS`,
    `MEASURE_KEYS`; `common.record_summary`)."""
    return common.record_summary(evals, VARIANT_KEYS, MEASURE_KEYS)


def pairing_table(pairing: Mapping[tuple[str, str], tuple]) -> pd.DataFrame:
    """{(method, measure): (interval, verdict)} as one row per method ("<method> − its control"), one
    column per measure, each cell "interval verdict"."""
    methods = dict.fromkeys(m for m, _ in pairing)
    return pd.DataFrame({f"{m} − its control": {c: f"{iv} {v}" for (mm, c), (iv, v) in pairing.items() if mm == m}
                         for m in methods}).T


# ---------------------------------------------------------------- glue of the verdicts

def glue_gains(gains: pd.DataFrame, gains_ri: pd.DataFrame, methods: Sequence[str], best_layer: int) -> None:
    """Glue each method's gains over its starting model (`harness.gain_table` rows): `iv_<key>_<m>` and
    `verdict_<key>_<m>` ("raises"/"lowers"/...; for the LID probe, where lower is better, the other way
    round), and `iv_<key>_ri_p1`, the weak P@1 gain of the same method from the random-init control."""
    keys = GAIN_KEYS + ((f"weak P@1, layer {best_layer}", "p1best"),)
    for method in methods:
        key = METHOD_KEYS[method]
        for measure, mkey in keys:
            record.glue_verdict(f"{key}_{mkey}", (gains.loc[method, f"{measure} Δ"],
                                                  gains.loc[method, f"{measure}: verdict"]),
                                "raises", "lowers", "does not measurably change")
        record.glue_verdict(f"{key}_lid", (gains.loc[method, "LID probe Δ"], gains.loc[method, "LID probe: verdict"]),
                            "lowers", "raises", "does not measurably change")
        record.glue_text(f"iv_{key}_ri_p1", gains_ri.loc[method + RI, "weak P@1 Δ"])


def repair_sentence(level: Mapping[str, tuple], methods: Sequence[str]) -> str:
    """What the base model's level against the untrained control means for the gains over it
    (`level`: {"base" and each method: (interval, verdict) against random init})."""
    if level["base"][1] != "worse":
        return ("The gains over the base model are gains over a model that is not below random weights at "
                "this layer.")
    above = [m for m in methods if level[m][1] == "better"]
    return ("At this layer monolingual pretraining left the base model less aligned than random weights, so part "
            "of every gain over the base model only repairs that; "
            + (f"{', '.join(above)} end{'s' if len(above) == 1 else ''} above the untrained control."
               if above else "no method ends above the untrained control."))


def glue_starts(level: Mapping[str, tuple], ends: Mapping[str, tuple], methods: Sequence[str]) -> None:
    """Glue each method against the untrained control (`level_<key>`), its end point from the base
    model against from random init (`ends_<key>`), the base model's level and `repair_sentence`."""
    for method in methods:
        key = METHOD_KEYS[method]
        record.glue_verdict(f"ends_{key}", ends[method], "higher from the base model than from random init",
                            "lower from the base model than from random init",
                            "not distinguishable between the two starting points")
        record.glue_verdict(f"level_{key}", level[method], "above", "below", "not distinguishable from")
    record.glue_verdict("level_base", level["base"], "above", "below", "not distinguishable from")
    record.glue_text("repair_sentence", repair_sentence(level, methods))


def glue_groups(group_rows: Mapping[str, tuple], methods: Sequence[str]) -> None:
    """`common.glue_groups` with the methods' glue keys (`group_<key>`; "n/a" when the languages fall in
    one group)."""
    common.glue_groups(group_rows, {m: METHOD_KEYS[m] for m in methods})


def tlm_sentence(tlm_gain: str, tlm_pairing: str, steps: int, num_layers: int) -> str:
    """The sentence on TLM: its gain survives its unpaired control only when both verdicts are
    "better"; a loss over the base model is said as such; otherwise no gain at this budget."""
    verdict = ("better" if tlm_gain == "better" and tlm_pairing == "better"
               else "worse" if tlm_gain == "worse" else "inconclusive")
    return says(verdict,
                "TLM's gain survives its unpaired control: the pairing itself carries signal even at this budget.",
                "TLM lowers retrieval at this budget.",
                f"At {steps} steps of a {num_layers}-layer model TLM shows no gain that its unpaired control does "
                "not also show; XLM trained TLM for days on many GPUs, and this chapter reports that rather than "
                "tuning until it does.")


def glue_pairing(pairing: Mapping[tuple[str, str], tuple], gains: pd.DataFrame, steps: int, num_layers: int) -> None:
    """Glue TLM and distillation against their no-pairing controls (`pairing_<tlm|distill>_<m>`), the
    controls' own changes over the base model (`iv_mlm_*`, `iv_shuffled_*`) and `tlm_sentence`."""
    for measure, mkey in PAIRING_KEYS:
        for method, ckey in (("TLM", "tlm"), ("distillation", "distill")):
            record.glue_verdict(f"pairing_{ckey}_{mkey}", pairing[(method, measure)], "above", "below",
                                "not distinguishable from")
    for control, ckey in ((MLM_CONTROL, "mlm"), (SHUFFLED_CONTROL, "shuffled")):
        record.glue_text(f"iv_{ckey}_p1", gains.loc[control, "weak P@1 Δ"])
        record.glue_text(f"iv_{ckey}_pos", gains.loc[control, "POS accuracy Δ"])
    record.glue_text("tlm_sentence", tlm_sentence(gains.loc["TLM", "weak P@1: verdict"],
                                                  pairing[("TLM", "weak P@1")][1], steps, num_layers))


def glue_lexical(best: str, vs_lexical: tuple) -> None:
    """Glue `tfidf_sentence`: the best method minus the TF-IDF control on weak P@1."""
    iv, v = vs_lexical
    record.glue_text("tfidf_sentence", f"{best} − TF-IDF: {iv}; every trained model is "
                     + says(v, "above", "below", "not distinguishable from") + " the lexical control")


def glue_status(gains: pd.DataFrame, pairing: Mapping[tuple[str, str], tuple], methods: Sequence[str],
                controls: Sequence[str], steps: int) -> None:
    """Glue the survey findings' status lines with the intervals they rest on (`status_finding_parallel`:
    `findings.parallel_data_status`; `status_finding5`: `findings.transfer_status`) and `helped`, the
    methods whose weak P@1 gain lies above zero. `controls`: the methods that have a no-pairing control."""
    def verdict(m, measure):
        return gains.loc[m, f"{measure}: verdict"]

    def delta(m, measure):
        return gains.loc[m, f"{measure} Δ"]

    status = parallel_data_status({m: verdict(m, "weak P@1") for m in methods},
                                  {m: pairing[(m, "weak P@1")][1] for m in controls},
                                  {m: pairing[(m, "weak P@1 centred")][1] for m in controls})
    detail = ("weak P@1 over the base model: " + "; ".join(f"{m} {delta(m, 'weak P@1')}" for m in methods)
              + "; over the no-pairing controls: " + "; ".join(f"{m} {pairing[(m, 'weak P@1')][0]}" for m in controls)
              + "; the same after centring: "
              + "; ".join(f"{m} {pairing[(m, 'weak P@1 centred')][0]}" for m in controls))
    record.glue_text("status_finding_parallel", f"{status}: {detail} (one seed, {steps} steps)")
    status5 = transfer_status({m: verdict(m, "weak P@1") for m in methods},
                              {m: [verdict(m, "apps accuracy"), verdict(m, "POS accuracy")] for m in methods})
    detail5 = "; ".join(f"{m}: weak P@1 Δ {delta(m, 'weak P@1')}, apps Δ {delta(m, 'apps accuracy')}, "
                        f"POS Δ {delta(m, 'POS accuracy')}" for m in methods)
    record.glue_text("status_finding5", f"{status5}: {detail5} (one seed, {steps} steps)")
    helped = [m for m in methods if verdict(m, "weak P@1") == "better"]
    record.glue_text("helped", ", ".join(helped) if helped else "none of the four methods")


def glue_shown(per_language: Mapping[str, Mapping], sweep: pd.DataFrame) -> int:
    """Glue how many intervals the chapter shows without a verdict (`n_shown`: the per-language
    intervals, in the table and in the figure, and the sweep's rows); returns it. The verdicts are
    counted by `Verdicts.glue_count`."""
    shown = 2 * common.n_intervals(per_language) + len(sweep)
    record.glue_text("n_shown", str(shown))
    return shown


# ---------------------------------------------------------------- how much parallel text

def sweep_table(sweep: Mapping[tuple[str, int], object], base, resamples: int, seed: int) -> pd.DataFrame:
    """`common.sweep_table` of the sweep ({(method id, paragraphs): VariantEval}) on `SWEEP_MEASURES`:
    tidy rows (method, paragraphs, measure, value, gain, low, high), each gain over `base`."""
    return common.sweep_table(sweep, base, resamples, seed, measures=SWEEP_MEASURES,
                              describe=lambda key: {"method": METHOD_NAMES[key[0]], "paragraphs": key[1]})


def sweep_values(table: pd.DataFrame) -> pd.DataFrame:
    """The sweep's values, one row per (method, paragraphs), one column per measure (rounded)."""
    return table.pivot_table(index=["method", "paragraphs"], columns="measure", values="value").round(3)


def record_sweep(sweep: Mapping[tuple[str, int], object], sizes: Sequence[int]) -> None:
    """`record` the weak P@1 of each method at each of the smaller sizes (`<method>_n<size>_weak_p1`)."""
    for method in dict.fromkeys(m for m, _ in sweep):
        for n in sizes:
            record.record(f"{method}_n{n}_weak_p1", sweep[(method, n)].summary()["weak P@1"])


def sweep_sentence(values: Mapping[tuple[str, int], float], versus_all: Mapping[tuple[str, int], tuple],
                   n_par: int) -> str:
    """One clause per smaller sweep point: its weak P@1 and the interval against all `n_par` paragraphs
    (`values`: {(method id, n): weak P@1}; `versus_all`: {(method id, n): (interval, verdict)})."""
    return "; ".join(f"{METHOD_NAMES[method]} on {n} paragraphs {values[(method, n)]:.3f} "
                     f"(− all {n_par}: {iv}, {says(v, 'higher', 'lower', 'not distinguishable')})"
                     for (method, n), (iv, v) in versus_all.items())


def glue_sweep(sweep: Mapping[tuple[str, int], object], versus_all: Mapping[tuple[str, int], tuple],
               n_par: int) -> None:
    """Glue `sweep_sentence` for the sweep points compared with the full split, and `sweep_sizes` (the
    smaller sizes, "32 or 128")."""
    values = {key: sweep[key].summary()["weak P@1"] for key in versus_all}
    record.glue_text("sweep_sentence", sweep_sentence(values, versus_all, n_par))
    sizes = sorted({n for _, n in versus_all})
    record.glue_text("sweep_sizes", " or ".join(f"{n:,}" for n in sizes))


def fig_sweep(table: pd.DataFrame):
    """Gain over base against the number of paragraphs (log axis), one panel per measure, one line per
    method, with paired 95 % intervals (`table`: `sweep_table`). Returns the (closed) figure."""
    measures = list(dict.fromkeys(table.measure))
    fig, axes = plt.subplots(1, len(measures), figsize=(10.5, 3.6), layout="constrained", squeeze=False)
    axes = axes[0]
    ticks = sorted(table.paragraphs.unique())
    for ax, m in zip(axes, measures):
        for i, method in enumerate(dict.fromkeys(table.method)):
            t = table[(table.method == method) & (table.measure == m)].sort_values("paragraphs")
            plot.interval_lines(t.paragraphs, list(zip(t.gain, t.low, t.high)), ax, color=f"C{i}",
                                label=method)
        ax.axhline(0, color="0.2", lw=0.8)
        ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("parallel paragraphs used (each with all its translations)")
        ax.set_ylabel(f"{m} gain over base (95 % interval)", fontsize=9)
    axes[0].legend(fontsize=8, loc="center right")
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- a real teacher

TEACHER_MEASURES = ("weak P@1", "apps accuracy")
SELF = METHOD_NAMES["distill"]  # self-distillation: the frozen starting model's English side is the teacher
INFONCE = "InfoNCE"
INFONCE_SLUG = "infonce-01"  # record_results name: chapter 02 records its own `infonce` at its own budget
TEACHER_SLUGS = {"me5-small": "me5"}  # record_results names: distill-teacher-<slug>
# glue key of each contrast of the section (`<key>_<p1|apps>`)
CONTRAST_KEYS = {"real teacher − self-distillation, from base": "teacher_self",
                 "real teacher − self-distillation, from random init": "teacher_self_ri",
                 "real teacher − InfoNCE, from base": "teacher_infonce",
                 "real teacher − InfoNCE, from random init": "teacher_infonce_ri",
                 "real teacher: from base − from random init": "ends_teacher",
                 "self-distillation: from base − from random init": "ends_self",
                 "InfoNCE: from base − from random init": "ends_infonce"}
TEACHER_MKEYS = {"weak P@1": "p1", "apps accuracy": "apps"}
SELF_ENDS = ("self-distillation: from base − from random init", "weak P@1")  # read above: `ends["distillation"]`


def teacher_label(teacher: str) -> str:
    """The variant name of distillation from the real teacher `teacher` (trained from the base model)."""
    return f"distillation from {teacher}"


def teacher_contrasts(teacher: str) -> dict[tuple[str, str], tuple[str, str]]:
    """{(contrast, measure): (variant a, variant b)} of the real-teacher section, each read as a − b:
    the real teacher against self-distillation and against InfoNCE from each start, and each method
    from the base model against from random init, on `TEACHER_MEASURES`. Self-distillation's weak P@1
    from base − from random init is left out: the chapter reads it above (`ends`). Empty for teacher ""."""
    if not teacher:
        return {}
    t = teacher_label(teacher)
    pairs = {}
    for suffix, where in (("", "from base"), (RI, "from random init")):
        pairs[f"real teacher − self-distillation, {where}"] = (t + suffix, SELF + suffix)
        pairs[f"real teacher − InfoNCE, {where}"] = (t + suffix, INFONCE + suffix)
    for name, short in ((t, "real teacher"), (SELF, "self-distillation"), (INFONCE, "InfoNCE")):
        pairs[f"{short}: from base − from random init"] = (name, name + RI)
    return {(label, m): ab for label, ab in pairs.items() for m in TEACHER_MEASURES if (label, m) != SELF_ENDS}


def teacher_variants(teacher: str) -> list[str]:
    """The six trained variants the section compares, in table order (none for teacher "")."""
    if not teacher:
        return []
    return [name + suffix for name in (SELF, teacher_label(teacher), INFONCE) for suffix in ("", RI)]


def teacher_table(evals: Mapping, teacher: str, chance: Mapping[str, float], lexical: Mapping) -> pd.DataFrame:
    """Weak P@1 and apps accuracy (`TEACHER_MEASURES`) of self-distillation, the real teacher and InfoNCE,
    from the base model and from random init, beside the base model, the untrained random-init control,
    chance, the majority class and the TF-IDF control (`common.summary_table`). For teacher "" a
    one-row frame saying the section was skipped."""
    if not teacher:
        return pd.DataFrame({"skipped": ["teacher = '' (no real-teacher section)"]})
    names = ["base", "random init", *teacher_variants(teacher)]
    table = common.summary_table({n: evals[n] for n in names}, chance, lexical, TEACHER_MEASURES)
    return table[list(TEACHER_MEASURES)]


def versus_table(versus: Mapping[tuple[str, str], tuple], ends: Mapping[str, tuple]) -> pd.DataFrame:
    """{(contrast, measure): (interval, verdict)} as one row per contrast, one column per measure,
    each cell "interval verdict"; the cell `SELF_ENDS` is filled from `ends[SELF]` (read above)."""
    if not versus:
        return pd.DataFrame({"skipped": ["teacher = '' (no real-teacher section)"]})
    cells = dict(versus)
    cells[SELF_ENDS] = ends[SELF]
    labels = [c for c in CONTRAST_KEYS if any((c, m) in cells for m in TEACHER_MEASURES)]
    return pd.DataFrame({m: {c: f"{cells[(c, m)][0]} {cells[(c, m)][1]}" for c in labels if (c, m) in cells}
                         for m in TEACHER_MEASURES}).loc[labels]


def teacher_sentence(verdicts: Mapping[str, str], teacher: str) -> str:
    """The section's answer on weak P@1 (`verdicts`: {contrast key: verdict}, keys of `CONTRAST_KEYS`):
    whether the real teacher beats self-distillation from each start, and InfoNCE."""
    base = says(verdicts["teacher_self"], f"Distilling {teacher} gives the student more retrieval than distilling "
                "its own English side", f"Distilling {teacher} gives the student less retrieval than distilling "
                "its own English side", f"Distilling {teacher} and distilling the student's own English side "
                "end at retrieval levels this test cannot tell apart")
    ri = says(verdicts["teacher_self_ri"], "and from random weights it also does better than the self-teacher",
              "and from random weights it also does worse than the self-teacher",
              "while from random weights the two are not distinguishable")
    nce = says(verdicts["teacher_infonce"], "; from the base model it also beats InfoNCE at the same budget",
               "; InfoNCE at the same budget, from the base model, does better",
               "; against InfoNCE at the same budget, from the base model, it is not distinguishable")
    return f"{base} when both start from the base model, {ri}{nce}."


def glue_teacher(versus: Mapping[tuple[str, str], tuple], ends: Mapping[str, tuple], evals: Mapping,
                 teacher: str) -> None:
    """Glue the section's numbers: `teacher` (the model's name), each contrast (`iv_<key>_<p1|apps>`,
    `verdict_<key>_<p1|apps>`: "above" / "below" / "not distinguishable from"; `ends_self_p1` from
    `ends`), each variant's weak P@1 and apps accuracy (`tv_<self|teacher|infonce>[_ri]_<p1|apps>`) and
    `teacher_sentence`. With teacher "" every key reads "n/a" and the sentence says the section was skipped."""
    record.glue_text("teacher", teacher or "n/a")
    keys = [(key, mk) for key in CONTRAST_KEYS.values() for mk in TEACHER_MKEYS.values()]
    shorts = [s + ri for s in ("self", "teacher", "infonce") for ri in ("", "_ri")]
    if not teacher:
        for key, mk in keys:
            record.glue_text(f"iv_{key}_{mk}", "n/a")
            record.glue_text(f"verdict_{key}_{mk}", "n/a")
        for short in shorts:
            for mk in TEACHER_MKEYS.values():
                record.glue_text(f"tv_{short}_{mk}", "n/a")
        record.glue_text("teacher_sentence", "The real-teacher section was skipped (teacher = '').")
        return
    cells = dict(versus)
    cells[SELF_ENDS] = ends[SELF]
    for (label, measure), result in cells.items():
        record.glue_verdict(f"{CONTRAST_KEYS[label]}_{TEACHER_MKEYS[measure]}", result, "above", "below",
                            "not distinguishable from")
    for short, name in zip(shorts, teacher_variants(teacher)):
        summary = evals[name].summary()
        for measure, mk in TEACHER_MKEYS.items():
            record.glue_text(f"tv_{short}_{mk}", f"{summary[measure]:.3f}")
    verdicts = {CONTRAST_KEYS[label]: v for (label, measure), (_, v) in cells.items() if measure == "weak P@1"}
    record.glue_text("teacher_sentence", teacher_sentence(verdicts, teacher))


def teacher_fit(curves: Mapping[str, Sequence[float]], teacher: str, targets: np.ndarray,
                tail: int = 5) -> dict[str, float]:
    """How much of the real teacher's targets the students fit: `cosine`, the mean cosine between two
    different target rows (`targets`: (n, d), as scaled in the loss); `floor`, the loss of predicting
    their mean for both sides (2 x the mean squared deviation from the mean row); and `end` /
    `end_ri`, the mean training loss over the last `tail` steps from the base model / from random init."""
    x = np.asarray(targets, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"teacher_fit needs at least two target rows; got shape {x.shape}")
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    n = len(x)
    cosine = float(((unit @ unit.T).sum() - n) / (n * n - n))
    t = teacher_label(teacher)
    return {"cosine": cosine, "floor": 2 * float(((x - x.mean(0)) ** 2).mean()),
            "end": float(np.mean(curves[t][-tail:])), "end_ri": float(np.mean(curves[t + RI][-tail:]))}


def glue_teacher_fit(curves: Mapping[str, Sequence[float]], teacher: str, targets: np.ndarray | None,
                     widths: tuple[int, int] | None = None, tail: int = 5) -> None:
    """Glue `teacher_fit_sentence`: the numbers of `teacher_fit` in one sentence (or that the section
    was skipped, for teacher ""), and `student_width` / `teacher_width` (`widths`; "n/a" when skipped)."""
    if not teacher:
        for key in ("student_width", "teacher_width"):
            record.glue_text(key, "n/a")
        record.glue_text("teacher_fit_sentence", "The real-teacher section was skipped (teacher = '').")
        return
    if widths is None:
        raise ValueError("glue_teacher_fit needs widths=(student width, teacher width) when a teacher ran")
    record.glue_text("student_width", str(widths[0]))
    record.glue_text("teacher_width", str(widths[1]))
    f = teacher_fit(curves, teacher, targets, tail)
    record.glue_text("teacher_fit_sentence",
                     f"{teacher}'s embeddings of the English paragraphs the runs draw share one direction (mean "
                     f"cosine {f['cosine']:.2f} between two of them): predicting their mean for every paragraph "
                     f"gives a loss of {f['floor']:.3f}; the student ends at {f['end']:.3f} from the base model "
                     f"and {f['end_ri']:.3f} from random init (mean of the last {tail} steps). "
                     + fit_conclusion(f))


def fit_conclusion(f: Mapping[str, float]) -> str:
    """Whether the section can answer its question (`f`: `teacher_fit`): only a student whose loss fell
    below that of predicting the mean target learnt anything that tells the teacher's paragraphs apart."""
    below = [name for name, key in (("the base model", "end"), ("random init", "end_ri")) if f[key] < f["floor"]]
    if not below:
        return ("Neither student's loss fell below that of the mean alone: neither learnt what tells the "
                "teacher's paragraphs apart, so at this budget the section does not answer whether a strong "
                "teacher carries alignment into the small model; the verdicts above compare students that did "
                "not learn from it.")
    if len(below) == 1:
        return (f"Only the student from {below[0]} fell below the loss of the mean alone; the other learnt "
                "nothing that tells the teacher's paragraphs apart, so its verdicts do not answer the question.")
    return "Both students fell below the loss of the mean alone: each learnt some of what tells the teacher's " \
           "paragraphs apart."


def record_teacher(evals: Mapping, teacher: str) -> list[str]:
    """`record` the weak P@1 and apps accuracy of the real teacher's and InfoNCE's variants
    (`distill_teacher[_ri]_*`, `infonce[_ri]_*`); nothing for teacher "". Returns the names recorded."""
    if not teacher:
        return []
    t = teacher_label(teacher)
    keys = {t: "distill_teacher", t + RI: "distill_teacher_ri", INFONCE: "infonce", INFONCE + RI: "infonce_ri"}
    return common.record_summary(evals, keys, {m: MEASURE_KEYS[m] for m in TEACHER_MEASURES})


def teacher_results(evals: Mapping, teacher: str, seed: int) -> list[dict]:
    """The `record_results` keyword arguments of the section's new variants: `distill-teacher-<slug>`
    (family parallel), `infonce` (family contrastive) and each from random init (`random-init+...`,
    family control). None for teacher ""."""
    if not teacher:
        return []
    slug = f"distill-teacher-{TEACHER_SLUGS.get(teacher, teacher)}"
    out = []
    for name, variant, family in ((teacher_label(teacher), slug, "parallel"), (INFONCE, INFONCE_SLUG, "contrastive")):
        out.append(dict(variant=variant, table=evals[name], family=family, seed=seed))
        out.append(dict(variant=f"random-init+{variant}", table=evals[name + RI], family="control", seed=seed))
    return out


# ---------------------------------------------------------------- results table

def variant_results(evals: Mapping, sweep: Mapping[tuple[str, int], object], n_par: int, seed: int) -> list[dict]:
    """The `record_results` keyword arguments of every variant, in recording order
    (`common.variant_results`: the base model, the random-init control and every method trained from
    it, every method trained from the base model, family parallel, `RESULT_SLUGS`), then the smaller
    sweep points (`<method>-n<size>`, with `n`). The chapter's hidden cell records them."""
    rows = common.variant_results(evals, RESULT_SLUGS, seed=seed, family="parallel")
    rows += [dict(variant=f"{method}-n{n}", table=v, family="parallel", seed=seed, n=n)
             for (method, n), v in sweep.items() if n != n_par]
    return rows
