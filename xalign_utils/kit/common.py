"""What the kits of chapters 01_parallel_data and 02_contrastive share (one version, used by both):
the before/after table with its reference rows (chance, majority class / tag, TF-IDF) and the glue of
those references, the `record` of every variant's headline numbers and its `record_results` rows,
the per-language intervals with their table and figure, the glue of the script-group comparison and
the sweep table. Tested in tests/test_kit_common.py.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import metrics, plot, record
from ..languages import LANGUAGES

RI = " (from random init)"  # suffix of a variant trained from the random-init control
MAJORITY = "majority class / tag"
TFIDF = "TF-IDF (no model)"
NOT_MEASURED = "n/a"  # what a reference the chapter did not measure is glued as


# ---------------------------------------------------------------- before and after

def summary_frame(evals: Mapping) -> pd.DataFrame:
    """One row per measured variant (`VariantEval.summary()`), in the order of `evals`."""
    return pd.DataFrame({name: v.summary() for name, v in evals.items()}).T


def summary_table(evals: Mapping, chance: Mapping[str, float], lexical: Mapping,
                  lexical_measures: Sequence[str]) -> pd.DataFrame:
    """Every variant's headline numbers (`summary_frame`), then three reference rows on the variants'
    columns: chance, the majority class / tag of the base model's task heads (means over the
    non-English languages; the POS row only where the base model was measured with POS) and the
    TF-IDF control (`lexical`, on `lexical_measures`)."""
    summary = summary_frame(evals)
    base = evals["base"]
    majority = {}
    for measure, res in (("apps accuracy", base.apps), ("POS accuracy", base.pos)):
        if res is not None:
            cols = list(base.non_en(res).columns)
            majority[measure] = float(res.majority_items[cols].to_numpy().mean())
    reference = pd.DataFrame({"chance": chance, MAJORITY: majority,
                              TFIDF: {m: lexical[m] for m in lexical_measures}}).T
    return pd.concat([summary, reference])[list(summary.columns)]


def reference_text(table: pd.DataFrame, row: str, column: str, digits: int = 3) -> str:
    """One reference number of `summary_table` as text, or "n/a" where the chapter did not measure it
    (a missing column or a NaN cell: e.g. the majority tag when the base model was measured without
    POS), never the string "nan"."""
    value = table.loc[row, column] if column in table.columns else np.nan
    return NOT_MEASURED if pd.isna(value) else f"{value:.{digits}f}"


def glue_references(table: pd.DataFrame, lexical: Mapping) -> None:
    """Glue the reference numbers both chapters cite: chance (`chance_p1`, `chance_map`), the TF-IDF
    control (`lexical_p1`, `lexical_map`, `lexical_apps`) and the majority class / tag
    (`apps_majority`, `pos_majority`; "n/a" where not measured). `table`: `summary_table`'s output."""
    record.glue_text("chance_p1", reference_text(table, "chance", "weak P@1", 4))
    record.glue_text("chance_map", reference_text(table, "chance", "strong mAP", 4))
    for name, m in (("lexical_p1", "weak P@1"), ("lexical_map", "strong mAP"), ("lexical_apps", "apps accuracy")):
        record.glue_text(name, f"{lexical[m]:.3f}")
    record.glue_text("apps_majority", reference_text(table, MAJORITY, "apps accuracy"))
    record.glue_text("pos_majority", reference_text(table, MAJORITY, "POS accuracy"))


def record_summary(evals: Mapping, variant_keys: Mapping[str, str], measure_keys: Mapping[str, str]) -> list[str]:
    """`record` every variant's headline numbers as `<variant key>_<measure key>` (e.g. `tlm_weak_p1`),
    skipping measures a variant was measured without; every variant of `variant_keys` must be in
    `evals` (KeyError otherwise). Returns the names recorded, in order."""
    summary = summary_frame(evals)
    names = []
    for name, short in variant_keys.items():
        row = summary.loc[name]
        for col, c in measure_keys.items():
            if col in row.index and pd.notna(row[col]):
                record.record(f"{short}_{c}", row[col])
                names.append(f"{short}_{c}")
    return names


def variant_results(evals: Mapping, slugs: Mapping[str, str], *, seed: int, family: str,
                    families: Mapping[str, str] | None = None) -> list[dict]:
    """The `record_results` keyword arguments of the base model (family base), the random-init control
    (`random-init-<seed>`, family control), every method trained from it (`random-init+<slug>`, family
    control) and every variant trained from the base model (`slugs[name]`, family
    `families.get(name, family)`), in recording order. The chapter's hidden cell records them:
    `for r in rows: record_results(**r)`."""
    out = [dict(variant="base", table=evals["base"], family="base", seed=seed),
           dict(variant=f"random-init-{seed}", table=evals["random init"], family="control", seed=seed)]
    for name, v in evals.items():
        if name in ("base", "random init"):
            continue
        plain = name.replace(RI, "")
        ri = plain != name
        variant = ("random-init+" if ri else "") + slugs[plain]
        fam = "control" if ri else (families or {}).get(plain, family)
        out.append(dict(variant=variant, table=v, family=fam, seed=seed))
    return out


# ---------------------------------------------------------------- per language

def hit_gains(evals: Mapping, methods: Sequence[str], reference: str = "base") -> dict[str, pd.DataFrame]:
    """{method: per-item en→X hits (cosine) minus the reference's}, one column per target language."""
    ref = evals[reference].hits["cosine"]
    return {m: evals[m].hits["cosine"] - ref for m in methods}


def per_language_intervals(evals: Mapping, methods: Sequence[str], resamples: int, seed: int,
                           reference: str = "base") -> dict[str, dict[str, metrics.Interval]]:
    """{method: {language: paired interval of its en→X hits (cosine) minus the reference's}}, the
    languages in the order of the reference's hits."""
    ref = evals[reference].hits["cosine"]
    return {m: {lang: metrics.paired_bootstrap(evals[m].hits["cosine"][lang], ref[lang], resamples, seed)
                for lang in ref.columns} for m in methods}


def per_language_table(evals: Mapping, intervals: Mapping[str, Mapping], reference: str = "base") -> pd.DataFrame:
    """One row per method, one column per language ("<lang> (<script>)"): "reference → method
    (gain [95 % interval])" of en→X weak P@1 (`intervals`: `per_language_intervals`)."""
    ref = evals[reference].hits["cosine"]
    rows = {m: {f"{lang} ({LANGUAGES[lang].script})":
                f"{ref[lang].mean():.3f} → {evals[m].hits['cosine'][lang].mean():.3f} ({iv})"
                for lang, iv in ivs.items()} for m, ivs in intervals.items()}
    return pd.DataFrame(rows).T


def n_intervals(intervals: Mapping[str, Mapping]) -> int:
    """How many intervals `per_language_intervals` holds."""
    return sum(len(row) for row in intervals.values())


def fig_langs(intervals: Mapping[str, Mapping[str, metrics.Interval]]):
    """Grouped bars: per method, the weak P@1 gain of each target language with its paired interval
    (`intervals`: `per_language_intervals`). Returns the (closed) figure."""
    methods = list(intervals)
    langs = list(dict.fromkeys(lang for row in intervals.values() for lang in row))
    fig, ax = plt.subplots(figsize=(8, 3.4), layout="constrained")
    width = 0.8 / len(langs)
    for k, lang in enumerate(langs):
        ivs = [intervals[m][lang] for m in methods]
        x = np.arange(len(methods)) + (k - (len(langs) - 1) / 2) * width
        ax.bar(x, [iv.diff for iv in ivs], width,
               yerr=[[iv.diff - iv.low for iv in ivs], [iv.high - iv.diff for iv in ivs]],
               color=plot.lang_color(lang), label=f"{lang} ({LANGUAGES[lang].script})", error_kw={"lw": 0.8})
    ax.axhline(0, color="0.2", lw=0.8)
    ax.set_xticks(np.arange(len(methods)), [m.replace("word alignment ", "word align.\n") for m in methods],
                  fontsize=8)
    ax.set_ylabel("weak P@1 gain over base\n(en→X, 95 % interval)")
    ax.legend(fontsize=7, ncol=3)
    plt.close(fig)
    return fig


def glue_groups(group_rows: Mapping[str, tuple], keys: Mapping[str, str]) -> None:
    """Glue each method's same-script minus other-script gain (`iv_group_<key>`, `verdict_group_<key>`;
    `keys`: {method: glue key}), or "n/a" where the languages fall in one group (no row)."""
    for method, key in keys.items():
        if method in group_rows:
            record.glue_verdict(f"group_{key}", group_rows[method], "larger for the Latin-script languages",
                                "larger for the other scripts", "not distinguishable between the two groups")
        else:
            record.glue_text(f"iv_group_{key}", NOT_MEASURED)
            record.glue_text(f"verdict_group_{key}", "not compared (the languages fall in one group)")


# ---------------------------------------------------------------- sweeps

def sweep_table(sweep: Mapping[Hashable, object], base, resamples: int, seed: int, *,
                measures: Sequence[str], describe: Callable[[Hashable], dict]) -> pd.DataFrame:
    """Tidy rows, in the order of `sweep` ({point: VariantEval}): `describe(point)`'s columns, then
    measure, value, and the paired gain over `base` with its 95 % interval (gain, low, high)."""
    rows = []
    for point, v in sweep.items():
        for m in measures:
            iv = metrics.paired_bootstrap(np.asarray(v.outcome(m)), np.asarray(base.outcome(m)), resamples, seed)
            rows.append({**describe(point), "measure": m, "value": v.summary()[m],
                         "gain": iv.diff, "low": iv.low, "high": iv.high})
    return pd.DataFrame(rows)
