"""The kit of notebook 04_augmentation (dictionary code-switching): its tables, figures, records and the
glue of its numbers, intervals, verdicts and status sentences into the prose.

The chapter keeps the method (dictionaries, CoSDA-ML heads, code-switched MLM) and its measures; what is
here only arranges their results. CoSDA-ML results are `cosda_runs`: {(start, p): (apps, pos)} with
`start` "base" or "random init" and `apps` / `pos` `transfer.TransferResult`s; `cols` maps each task
("apps", "POS") to its non-English test languages. Tested in tests/test_kit_augmentation.py.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import layout, metrics, plot
from ..findings import augmentation_status, says, stand_in_status
from ..languages import LANGUAGES
from ..methods import augmentation as AM
from ..methods.word_alignment import split_words
from ..record import glue_text, glue_verdict, read_results, record, record_results
from ..transfer import tidy as transfer_tidy

CS, MLM, TLM = "code-switched MLM", "plain MLM", "TLM (notebook 01's recipe)"
RI = " (from random init)"  # the suffix of a variant trained from the random-init control
TASK_INDEX = {"apps": 0, "POS": 1}  # the place of a task's result in a CoSDA-ML run
RAISES = ("raises", "lowers", "does not measurably change")
VERSUS = ("above", "below", "not distinguishable from")
GLUED_MEASURES = {"weak P@1": "p1", "weak P@1 centred": "p1c", "strong mAP": "map", "apps accuracy": "apps",
                  "POS accuracy": "pos"}
RECORDED = {"weak P@1": "weak_p1", "weak P@1 centred": "weak_p1_centred", "strong mAP": "strong_map",
            "apps accuracy": "apps", "POS accuracy": "pos"}
SHORTS = {"base": "base", "random init": "control", CS: "csmlm", MLM: "mlm", TLM: "tlm", CS + RI: "csmlm_ri",
          MLM + RI: "mlm_ri", TLM + RI: "tlm_ri"}
SLUGS = {CS: "csmlm", MLM: "mlm-plain", TLM: "tlm-01-recipe"}


# ---------------------------------------------------------------- setup

def results_of(preset: str, stem: str, seed: int | None = None) -> pd.DataFrame:
    """The recorded results of notebook `stem` under `preset` (`record.read_results`), with `seed` only
    that training seed's rows (a preset with several seeds records each); a one-line error when it was
    not built yet (a generic helper: any chapter that reads another chapter's results)."""
    path = layout.results_file(preset, stem)
    if not path.exists():
        raise FileNotFoundError(f"this chapter reads notebook {stem[:2]}'s results ({path}); run "
                                f"`xalign build --preset {preset}` first")
    table = read_results(path)
    return table if seed is None else table[table.seed == seed].reset_index(drop=True)


def glue_parameters(harness, *, n_pairs: int, p: float, p_sweep: Sequence[float], lr: float, mlm_steps: int,
                    mlm_batch: int, min_count: int, mlm_paragraphs: int) -> dict[str, str]:
    """Glue the sizes and parameters the prose cites (task sizes from the `harness`); returns them."""
    values = {"apps_train": len(harness.apps_task["train_texts"]), "pos_train": harness.pos_train,
              "pos_test": harness.pos_test, "p": f"{p:g}", "mlm_steps": mlm_steps, "mlm_batch": mlm_batch,
              "lr": f"{lr:g}", "n_pairs": n_pairs, "min_count": min_count, "mlm_paragraphs": mlm_paragraphs,
              "p_sweep": ", ".join(f"{q:g}" for q in p_sweep)}
    return {k: glue_text(k, str(v)) for k, v in values.items()}


# ---------------------------------------------------------------- dictionaries

def dictionary_table(langs: Sequence[str], vendored: Mapping[str, Mapping], induced: Mapping[str, Mapping],
                     used: Mapping[str, Mapping], task_texts: Sequence[str], pos_sentences) -> pd.DataFrame:
    """One row per target language: sizes of the vendored and induced dictionaries, the induced one's
    precision@1 against the vendored one (NaN where none is vendored), which one is `used`, and the
    share of the words of the English task texts and POS sentences (`data.Sentence`s) the one used covers."""
    task_words = [w for t in task_texts for w in split_words(t)]
    pos_words = [w for s in pos_sentences for w in s.words]
    rows = {}
    for lang in langs:
        prec, n_shared = AM.precision_at_1(induced[lang], vendored[lang]) if lang in vendored else (np.nan, 0)
        rows[lang] = {"vendored entries": len(vendored.get(lang, {})), "induced entries": len(induced[lang]),
                      "induced precision@1": prec, "shared words": n_shared,
                      "used for augmentation": "vendored" if lang in vendored else "induced",
                      "coverage, apps texts": AM.coverage(task_words, used[lang]),
                      "coverage, POS sentences": AM.coverage(pos_words, used[lang])}
    return pd.DataFrame(rows).T


def glue_dictionaries(table: pd.DataFrame) -> dict[str, str]:
    """Glue what the prose says about the dictionaries (`dictionary_table`): which languages have no
    vendored dictionary, the range of precision@1 and of induced sizes, the coverage range."""
    missing = [LANGUAGES[lang].name for lang in table.index if table.loc[lang, "used for augmentation"] == "induced"]
    prec = table["induced precision@1"].astype(float)
    shared = table.loc[prec.notna(), "shared words"].astype(int)
    sizes = table["induced entries"].astype(int)
    cover = table["coverage, apps texts"].astype(float)
    out = {"dict_sentence": (f"There is no vendored dictionary for {', '.join(missing)}; the induced one stands in "
                             "there.") if missing else "Every language has a vendored dictionary.",
           "precision_range": (f"{prec.min():.2f} to {prec.max():.2f} (on {shared.min()} to {shared.max()} shared "
                               "words per language)") if prec.notna().any() else "not measurable",
           "induced_range": f"{sizes.min()} to {sizes.max()}",
           "coverage_min": f"{cover.min():.2f}", "coverage_max": f"{cover.max():.2f}"}
    return {k: glue_text(k, v) for k, v in out.items()}


def fig_coverage(table: pd.DataFrame):
    """Bars of the coverage of application texts and POS sentences per target language (the tick says
    which dictionary is used); the figure is closed and returned for `glue`."""
    fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
    x = np.arange(len(table))
    for k, (col, label) in enumerate((("coverage, apps texts", "application texts"),
                                      ("coverage, POS sentences", "POS sentences"))):
        ax.bar(x + (k - 0.5) * 0.38, table[col].astype(float), 0.38, color=f"C{k}", label=label)
    ax.set_xticks(x, [f"{lang}\n({table.loc[lang, 'used for augmentation']})" for lang in table.index])
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of English content-word\ntokens with an entry")
    ax.legend(fontsize=8)
    plt.close(fig)
    return fig


def switch_examples(words: Sequence[str], dictionaries: Mapping[str, Mapping], vendored: Mapping[str, Mapping],
                    p: float, seed: int) -> pd.DataFrame:
    """One sentence switched with p = 1 by each language's dictionary alone, then by all of them at
    `p` (each switched word tagged with its language)."""
    shown = {"English": " ".join(words)}
    for lang, d in dictionaries.items():
        switched, _ = AM.code_switch(words, {lang: d}, 1.0, np.random.default_rng(seed))
        shown[f"{lang} ({'vendored' if lang in vendored else 'induced'})"] = " ".join(switched)
    mixed, by = AM.code_switch(words, dictionaries, p, np.random.default_rng(seed))
    shown[f"all languages, p = {p:g}"] = " ".join(f"{w}[{lang}]" if lang else w for w, lang in zip(mixed, by))
    return pd.DataFrame({"sentence": shown})


# ---------------------------------------------------------------- CoSDA-ML

def cosda_table(cosda_runs, cols: Mapping[str, Sequence[str]], resamples: int, seed: int) -> pd.DataFrame:
    """One row per (start, p, task): non-English and English accuracy and the paired gain over p = 0
    of the same start (mean, 95 % interval over test items)."""
    rows = []
    for (start, q), runs in cosda_runs.items():
        for task, i in TASK_INDEX.items():
            res, res0 = runs[i], cosda_runs[(start, 0.0)][i]
            a, a0 = res.items[list(cols[task])].to_numpy(), res0.items[list(cols[task])].to_numpy()
            iv = metrics.paired_bootstrap(a, a0, resamples, seed)
            rows.append({"start": start, "p": q, "task": task, "accuracy": float(a.mean()),
                         "English": res.accuracy("en"), "gain": iv.diff, "low": iv.low, "high": iv.high})
    return pd.DataFrame(rows)


def accuracy_pivot(table: pd.DataFrame) -> pd.DataFrame:
    """`cosda_table` as accuracies (non-English mean and English) per start and p, one column per task."""
    return table.pivot_table(index=["start", "p"], columns="task", values=["accuracy", "English"]).round(3)


def fig_cosda(table: pd.DataFrame):
    """Per task, the gain over p = 0 against p with its interval, from each start (drawn slightly apart)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    for ax, task in zip(axes, ("apps", "POS")):
        for i, start in enumerate(("base", "random init")):
            t = table[(table.task == task) & (table.start == start)].sort_values("p")
            plot.interval_lines(t.p + (i - 0.5) * 0.02, list(zip(t.gain, t.low, t.high)), ax, color=f"C{i}",
                                label=f"from {start}")
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xlabel("switching probability p")
        ax.set_ylabel(f"zero-shot {task} accuracy gain over p = 0\n(non-English mean, 95 % interval)", fontsize=9)
        ax.legend(fontsize=8)
    plt.close(fig)
    return fig


def language_intervals(cosda_runs, p: float, cols: Mapping[str, Sequence[str]], resamples: int,
                       seed: int) -> dict[str, dict[str, tuple[float, float, metrics.Interval]]]:
    """{task: {lang: (accuracy at p = 0, accuracy at p, paired interval of the gain)}} from the base model."""
    out = {}
    for task, i in TASK_INDEX.items():
        res, res0 = cosda_runs[("base", p)][i], cosda_runs[("base", 0.0)][i]
        out[task] = {lang: (res0.items[lang].mean(), res.items[lang].mean(),
                            metrics.paired_bootstrap(res.items[lang], res0.items[lang], resamples, seed))
                     for lang in cols[task]}
    return out


def language_table(intervals) -> pd.DataFrame:
    """`language_intervals` as text: "before → after (gain [interval])", one column per task."""
    return pd.DataFrame({task: {lang: f"{a0:.3f} → {a:.3f} ({iv})" for lang, (a0, a, iv) in per.items()}
                         for task, per in intervals.items()})


def fig_cosda_langs(intervals, p: float):
    """Per task, one bar per target language: the gain at `p` with its interval (`language_intervals`)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained", sharey=True)
    for ax, (task, per) in zip(axes, intervals.items()):
        langs, ivs = list(per), [iv for _, _, iv in per.values()]
        ax.bar(np.arange(len(langs)), [iv.diff for iv in ivs],
               yerr=[[iv.diff - iv.low for iv in ivs], [iv.high - iv.diff for iv in ivs]],
               color=[plot.lang_color(lang) for lang in langs], error_kw={"lw": 0.8})
        ax.axhline(0, color="0.2", lw=0.8)
        ax.set_xticks(np.arange(len(langs)), langs)
        ax.set_title(f"{task}, p = {p:g}", fontsize=9)
    axes[0].set_ylabel("zero-shot accuracy gain over\nthe plain English head (95 % interval)")
    plt.close(fig)
    return fig


def ri_reading(base_vs_ri: str, ri_gain: str) -> str:
    """What the POS gain from the base model against that from the random-init control says
    (`base_vs_ri`: the verdict of base gain − random-init gain; `ri_gain`: the random-init gain's verdict)."""
    shared = ri_gain == "better"
    return says(base_vs_ri,
                "part of it uses what pretraining learned" + (", and the part untrained weights share comes from the "
                                                             "word forms the head sees." if shared else "."),
                "untrained weights gain more, so the gain comes from the word forms the head sees, not from pretraining.",
                "a gain that untrained weights share comes from the word forms the head sees, not from aligned "
                "representations." if shared else "neither start's gain can be told from the other's.")


def languages_moved(lang_verdicts, task: str) -> str:
    """"up for ..., down for ..." from the per-language verdicts {(task, lang): (interval, verdict)}."""
    def which(verdict):
        return ", ".join(lang for (t, lang), (_, v) in lang_verdicts.items() if t == task and v == verdict) or "none"

    return f"up for {which('better')}, down for {which('worse')}"


def glue_cosda(cosda_verdicts, base_vs_ri, lang_verdicts, english_cost, p: float) -> None:
    """Glue the CoSDA-ML intervals and verdicts, the finding's status, the random-init reading, the
    languages that move and the cost in English POS accuracy (all `compare` results)."""
    for (start, task), result in cosda_verdicts.items():
        glue_verdict(f"cosda_{'base' if start == 'base' else 'ri'}_{task.lower()}", result, *RAISES)
    status = augmentation_status({t: cosda_verdicts[("base", t)][1] for t in ("apps", "POS")})
    glue_text("status_finding9", f"{status}: CoSDA-ML at p = {p:g} from the base model, application classification "
              f"{cosda_verdicts[('base', 'apps')][0]}, POS {cosda_verdicts[('base', 'POS')][0]} (one seed)")
    for task in ("apps", "POS"):
        glue_verdict(f"base_vs_ri_{task.lower()}", base_vs_ri[task], "larger from the base model",
                     "larger from the random-init control", "not distinguishable between the two starting points")
        glue_text(f"lang_{task.lower()}", languages_moved(lang_verdicts, task))
    glue_text("ri_reading", ri_reading(base_vs_ri["POS"][1], cosda_verdicts[("random init", "POS")][1]))
    glue_verdict("english_cost", english_cost, "rises", "falls", "does not measurably change")


# ---------------------------------------------------------------- code-switched MLM and TLM

def tlm_tokens_per_step(tokenizer, pairs, *, n_pairs: int, max_len: int, mono, seed: int, steps: int = 10) -> float:
    """Mean tokens per TLM step (the pairs' attention mask plus the monolingual sequences), over the
    first `steps` batches of notebook 01's recipe (batches are built per step: nothing is consumed)."""
    from ..methods.parallel import TLMBatches

    probe = TLMBatches(tokenizer, pairs, n_pairs, max_len, seed=seed, mono=mono)
    return float(np.mean([int(b["attention_mask"].sum()) + b["mono_input_ids"].numel()
                          for b in map(probe, range(steps))]))


def summary_table(evals: Mapping, chance: Mapping[str, float], lexical: Mapping) -> pd.DataFrame:
    """Every variant's headline numbers, then chance and the TF-IDF control (rounded to 3 places)."""
    summary = pd.DataFrame({n: v.summary() for n, v in evals.items()}).T
    reference = pd.DataFrame({"chance": chance, "TF-IDF (no model)": {
        m: lexical[m] for m in ("weak P@1", "strong mAP", "apps accuracy")}}).T
    return pd.concat([summary, reference])[list(summary.columns)].round(3)


def record_summaries(evals: Mapping) -> None:
    """record() each variant's headline numbers (`SHORTS`, `RECORDED`) where measured."""
    summary = pd.DataFrame({n: v.summary() for n, v in evals.items()}).T
    for n, short in SHORTS.items():
        for col, c in RECORDED.items():
            if col in summary.columns and pd.notna(summary.loc[n, col]):
                record(f"{short}_{c}", summary.loc[n, col])


def glue_mlm(gains: pd.DataFrame, gains_ri: pd.DataFrame, cs_vs, cs_vs_ri) -> None:
    """Glue every continued-training variant's gains over the base model (`gains`), code-switched MLM
    against plain MLM and TLM (`cs_vs`: {(other, measure): result}) and the random-init results."""
    for n, key in ((CS, "cs"), (MLM, "mlm"), (TLM, "tlm")):
        for m, mk in GLUED_MEASURES.items():
            glue_verdict(f"{key}_{mk}", (gains.loc[n, f"{m} Δ"], gains.loc[n, f"{m}: verdict"]), *RAISES)
    for (other, m), result in cs_vs.items():
        glue_verdict(f"csvs_{'mlm' if other == MLM else 'tlm'}_{GLUED_MEASURES[m]}", result, *VERSUS)
    glue_verdict("csvs_ri", cs_vs_ri, *VERSUS)
    glue_text("iv_cs_ri_p1", gains_ri.loc[CS + RI, "weak P@1 Δ"])
    glue_text("iv_tlm_ri_p1", gains_ri.loc[TLM + RI, "weak P@1 Δ"])


def mlm_tokens_per_step(mlm_batch: int, max_length: int) -> int:
    """Tokens per step of `methods.augmentation.train_mlm`: `mlm_batch` packed rows of its default
    length, min(the model's maximum length, 128)."""
    return mlm_batch * min(max_length, 128)


def nb01_recipe(preset: str = "ci") -> tuple[int, int, float]:
    """Notebook 01's TLM recipe as `preset` runs it: (steps, pairs per batch, learning rate) from its parameters
    cell, with the steps the budget curves give it at a preset whose budgets come from them (`book`:
    `budget.chapter_steps`), so the re-run here matches the run notebook 01 recorded."""
    from ..layout import notebook_parameters
    from ..presets import get_preset

    p = notebook_parameters("01_parallel_data")
    steps = int(p["steps"])
    if get_preset(preset).curve_budgets:
        from ..budget import chapter_steps

        steps = (chapter_steps("01_parallel_data") or {}).get("steps", steps)
    return steps, int(p["batch_size"]), float(p["lr"])


def glue_recipe(steps: int, pairs: int, lr: float) -> str:
    """Glue `tlm_recipe`: notebook 01's recipe in words (the learning rate as 5e-4, not 0.0005)."""
    text = f"{steps} steps of {pairs} translation pairs plus 2 monolingual sequences, learning rate " \
           + f"{lr:.0e}".replace("e-0", "e-").replace("e+0", "e")
    glue_text("tlm_recipe", text)
    return text


def glue_stand_in(gains: pd.DataFrame, cs_vs, *, mlm_steps: int, mlm_batch: int, max_length: int,
                  tlm_steps: int, tlm_tokens: float) -> str:
    """Glue the status of "dictionaries can partly stand in for parallel data" with its intervals and
    budgets (`findings.stand_in_status`), and the budgets (MLM: `mlm_tokens_per_step`); returns the
    status line."""
    tokens_per_step = mlm_tokens_per_step(mlm_batch, max_length)
    measures = {"weak P@1": "weak P@1", "application classification": "apps accuracy", "POS": "POS accuracy"}
    status = stand_in_status({k: gains.loc[TLM, f"{m}: verdict"] for k, m in measures.items()},
                             {k: cs_vs[(MLM, m)][1] for k, m in measures.items()},
                             {k: cs_vs[(TLM, m)][1] for k, m in measures.items()})

    def against(other):
        return "; ".join(f"{k} {cs_vs[(other, m)][0]}" for k, m in measures.items())

    glue_text("tlm_tokens", f"{tlm_tokens:.0f}")
    glue_text("tlm_steps", str(tlm_steps))
    glue_text("tokens_per_step", str(tokens_per_step))
    return glue_text("status_stand_in", f"{status}: code-switched MLM − plain MLM {against(MLM)}; − TLM "
                     f"{against(TLM)} (one seed; code-switched MLM {mlm_steps} steps × {tokens_per_step} tokens, "
                     f"TLM {tlm_steps} steps × about {tlm_tokens:.0f} tokens)")


def glue_references(chance: Mapping[str, float], lexical: Mapping) -> None:
    """Glue chance and the TF-IDF control (the number of verdicts: `metrics.Verdicts.glue_count`)."""
    glue_text("chance_p1", f"{chance['weak P@1']:.4f}")
    glue_text("lexical_p1", f"{lexical['weak P@1']:.3f}")
    glue_text("lexical_apps", f"{lexical['apps accuracy']:.3f}")


# ---------------------------------------------------------------- notebook 01 and the records

def nb01_table(all_01: pd.DataFrame, num_layers: int) -> pd.DataFrame:
    """Notebook 01's recorded weak P@1 (cosine, last layer; mean over pairs) of its base, TLM,
    word-dictionary and distillation variants."""
    means = all_01[(all_01.measure == "p_at_1_cosine") & (all_01.layer == num_layers)].groupby("variant").value.mean()
    return pd.DataFrame({"notebook 01 (recorded)": {k: means.get(k, np.nan)
                                                    for k in ("base", "tlm", "word-dict", "distill")}})


def tlm_check(all_01: pd.DataFrame, ours: pd.DataFrame) -> pd.DataFrame:
    """This chapter's TLM re-run (`ours`: its tidy rows) against every row notebook 01 recorded for its
    TLM variant, on the rows both have (same src, tgt, layer, measure): per measure, the number of
    rows, the mean of each, and the largest |difference| over its rows. Empty when none is shared."""
    key = ["src", "tgt", "layer", "measure"]
    theirs = all_01[all_01.variant == "tlm"].set_index(key).value
    ours = ours.set_index(key).value
    shared = theirs.index.intersection(ours.index)
    both = pd.DataFrame({"re-run here": ours[shared], "notebook 01": theirs[shared]})
    both["|difference|"] = (both["re-run here"] - both["notebook 01"]).abs()
    return both.groupby(level="measure").agg(
        rows=("|difference|", "size"), **{"re-run here (mean)": ("re-run here", "mean"),
                                          "notebook 01 (mean)": ("notebook 01", "mean"),
                                          "largest |difference|": ("|difference|", "max")})


def glue_nb01(check: pd.DataFrame, all_01: pd.DataFrame, num_layers: int) -> dict[str, str]:
    """Glue whether the TLM re-run equals notebook 01's recorded rows (`check`: `tlm_check`), and
    notebook 01's word-dictionary and distillation gains."""
    if not (all_01.variant == "tlm").any():
        out = {"tlm_matches": "not comparable with (notebook 01 recorded no TLM rows)"}
    else:
        worst = float(check["largest |difference|"].max()) if len(check) else np.inf
        out = {"tlm_matches": f"equal, on all {int(check['rows'].sum())} shared measures (largest difference "
               f"{worst:.1e}), to" if worst <= 1e-9 else f"different (largest difference {worst:.3g}) from"}
    recorded = nb01_table(all_01, num_layers)["notebook 01 (recorded)"]
    for k in ("word-dict", "distill"):
        out[f"nb01_{k.replace('-', '_')}_gain"] = f"{recorded[k] - recorded['base']:+.3f}"
    return {k: glue_text(k, v) for k, v in out.items()}


def variant_results(evals: Mapping, seed: int) -> list[dict]:
    """The `record_results` arguments of every measured variant, in recording order: base, the
    random-init control, then the continued-training variants (those from random init in the control
    family). The chapter's hidden cell records them."""
    out = [dict(variant="base", table=evals["base"], family="base", seed=seed),
           dict(variant=f"random-init-{seed}", table=evals["random init"], family="control", seed=seed)]
    for n, v in evals.items():
        if n in ("base", "random init"):
            continue
        plain = n.replace(RI, "")
        ri = plain != n
        out.append(dict(variant=("random-init+" if ri else "") + SLUGS[plain], table=v,
                        family="control" if ri else "augmentation", seed=seed))
    return out


def cosda_results(cosda_runs, layer: int, seed: int) -> list[dict]:
    """The `record_results` arguments of every CoSDA-ML run (p = 0 from the base model is the base
    family, runs from random init the control family)."""
    out = []
    for (start, q), (apps, pos) in cosda_runs.items():
        rows = [transfer_tidy(apps, "apps", layer)] + ([transfer_tidy(pos, "pos", layer)] if pos is not None else [])
        name = ("" if start == "base" else "random-init+") + f"cosda-p{q:g}"
        family = "control" if start != "base" else ("base" if q == 0 else "augmentation")
        out.append(dict(variant=name, table=pd.concat(rows), family=family, seed=seed))
    return out


def record_cosda(cosda_verdicts) -> None:
    """record() the CoSDA-ML gain at p of each start and task (`cosda_verdicts`)."""
    for (start, task), (iv, _) in cosda_verdicts.items():
        record(f"cosda_{'base' if start == 'base' else 'ri'}_{task.lower()}_gain", iv.diff)
