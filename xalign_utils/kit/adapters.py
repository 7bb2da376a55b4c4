"""The kit of notebook 03_adapters (LoRA alignment and MAD-X-style modular transfer).

What the chapter needs besides its method (`methods.adapters`) and its measures (`harness`): the
before/after and task tables, the save-and-reload check of adapters, the four figures, the glue of
its parameters, intervals and verdicts into the prose, its `record` calls, the `record_results`
arguments its hidden cell records (`variant_results`) and its
two status sentences (`findings.adapter_status`, `findings.modular_status`). Tested in
`tests/test_kit_adapters.py`.
"""
from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import metrics, plot
from ..findings import adapter_status, modular_status, says
from ..record import glue_text, glue_verdict, record
from ..train import seed_everything  # noqa: F401 (the chapter's setup: kit.seed_everything)

# the headline columns of `VariantEval.summary()` and their short names in the recorded metrics
SUMMARY_KEYS = {"weak P@1": "weak_p1", "weak P@1 centred": "weak_p1_centred", "strong mAP": "strong_map",
                "LID probe": "lid", "apps accuracy": "apps", "POS accuracy": "pos"}
# the fine-tuning routes of the task runs and their short names in glue and metric names
WAY_KEYS = {"MAD-X": "madx", "task adapter alone": "task", "full fine-tuning": "ft"}
FROZEN = ("base", "language adapters")  # the models whose frozen-feature task heads sit beside the runs
RI = " (from random init)"  # the suffix of a variant trained from the random-init control
NO_CHANGE = "does not measurably change"


# ---------------------------------------------------------------- setup
def show_source(*functions) -> None:
    """Print the source of each of `functions` (the method code a chapter shows)."""
    import inspect

    print(*map(inspect.getsource, functions), sep="\n")


def starting_evals(harness, enc, control) -> dict:
    """{"base": the starting model, "random init": its control (no POS head)}, measured through
    `Harness.measure_cached` (notebooks 03 and 04 share these measurements)."""
    return {"base": harness.measure_cached(enc, "base"),
            "random init": harness.measure_cached(control, "random init", pos=False)}


def starting_model(preset: str, model: str):
    """The model the chapter starts from: the preset's shipped base model (`model="base"`; the chapter's
    `seed` is its methods' seed, not a pretraining seed), else the
    local HF folder `model` loaded with its MLM head (the language adapters train with MLM)."""
    from ..checkpoints import base_model
    from ..models import load_model
    from ..presets import get_preset

    return base_model(get_preset(preset).name) if model == "base" else load_model(model, mlm=True)


def parallel_pairs(langs: Sequence[str], seed: int):
    """Notebook 02's training pairs: every English paragraph of the `parallel` split with its
    translations into `langs` (`methods.parallel.paragraph_pairs`, order drawn with `seed`)."""
    from .. import data
    from ..methods import parallel as PM

    par = data.parallel(langs, "parallel")
    return PM.paragraph_pairs(par, langs, PM.sample_pairs(len(par["en"]), None, seed))


def tfidf_control(harness, langs: Sequence[str], seed: int) -> dict:
    """The TF-IDF control (no neural model; fitted on 500 `pretrain` paragraphs per language)
    measured on the harness's items (`harness.measure_lexical`)."""
    from ..harness import measure_lexical
    from ..lexical import TfidfControl

    return measure_lexical(harness, TfidfControl(langs, n_fit=500, seed=seed))


def model_bytes(model) -> int:
    """The bytes of a model's weights in memory (every parameter, embeddings included)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def glue_parameters(params, *, n_apps_train: int, pos_train: int, pos_test: int, n_pairs: int,
                    n_full: int) -> None:
    """Glue the chapter's parameters for the prose (`params`: the checked `chapters.Adapters`), with
    the harness's task sizes, the number of parallel pairs and of parameters full fine-tuning trains."""
    p = params
    for key, value in (("apps_train", n_apps_train), ("pos_train", pos_train), ("pos_test", pos_test),
                       ("steps", p.steps), ("batch_size", p.batch_size), ("lr", f"{p.lr:g}"),
                       ("adapter_lr", f"{p.adapter_lr:g}"), ("tau", f"{p.tau:g}"),
                       ("ranks", ", ".join(map(str, p.ranks))), ("lang_rank", p.lang_rank),
                       ("lang_steps", p.lang_steps), ("lang_batch", p.lang_batch),
                       ("lang_paragraphs", p.lang_paragraphs), ("task_rank", p.task_rank),
                       ("task_steps", p.task_steps), ("task_batch", p.task_batch),
                       ("finetune_lr", f"{p.finetune_lr:g}"), ("n_pairs", n_pairs), ("n_full", f"{n_full:,}")):
        glue_text(key, str(value))


# ---------------------------------------------------------------- LoRA alignment
def before_after(evals: Mapping, names: Sequence[str], n_trained: Mapping[str, int], chance: Mapping[str, float],
                 lexical: Mapping, non_en: Sequence[str]) -> pd.DataFrame:
    """The headline measures of the variants `names` (with the parameters each trained: 0 for an
    untrained model), then chance, the majority class of the application task (from the base model's
    run, non-English items) and the TF-IDF control, in the variants' columns."""
    summary = pd.DataFrame({n: evals[n].summary() for n in names}).T
    summary.insert(0, "trained parameters", [n_trained.get(n, 0) for n in summary.index])
    majority = float(evals["base"].apps.majority_items[list(non_en)].to_numpy().mean())
    reference = pd.DataFrame({
        "chance": chance,
        "majority class": {"apps accuracy": majority},
        "TF-IDF (no model)": {m: lexical[m] for m in ("weak P@1", "strong mAP", "apps accuracy")}}).T
    return pd.concat([summary, reference])[list(summary.columns)]


def before_after_all(evals: Mapping, n_trained: Mapping[str, int], chance: Mapping[str, float], lexical: Mapping,
                     non_en: Sequence[str], align_names: Sequence[str], ri_names: Sequence[str]) -> pd.DataFrame:
    """`before_after` of the base model, the aligned variants, the random-init control and the variants
    trained from it, in that order."""
    return before_after(evals, ["base", *align_names, "random init", *ri_names], n_trained, chance, lexical, non_en)


# the measures of the gain table against the base model
GAIN_MEASURES = ["weak P@1", "weak P@1 centred", "weak P@1 CSLS", "strong mAP", "LID probe", "apps accuracy"]


def lora_tables(gains: pd.DataFrame, gains_ri: pd.DataFrame, vs_full: Mapping, ends: Mapping,
                lora_names: Mapping[int, str]) -> list:
    """What the LoRA comparisons show: both gain tables, each rank against full fine-tuning
    (`vs_full_table`), and the end points from base against those from random init."""
    return [gains, gains_ri, vs_full_table(vs_full, lora_names),
            metrics.verdict_table(ends, "weak P@1: from base − from random init")]


def language_table(lang_gain: Mapping, lid_change) -> pd.DataFrame:
    """The language-adapter model against the base model (`compare` results), the LID probe last."""
    return metrics.verdict_table(lang_gain | {"LID probe": lid_change}, "language adapters − base")


def short_names(lora_names: Mapping[int, str], mid: int) -> dict[str, str]:
    """Variant name -> the prefix of its recorded metrics (base, control, full, full_ri, lora<r>,
    lora<mid>_ri)."""
    return {"base": "base", "random init": "control", "full fine-tuning": "full",
            "full fine-tuning" + RI: "full_ri", **{name: f"lora{r}" for r, name in lora_names.items()},
            lora_names[mid] + RI: f"lora{mid}_ri"}


def record_before_after(table: pd.DataFrame, lora_names: Mapping[int, str], mid: int) -> list[str]:
    """Record every measured headline number of the trained and starting variants (`<short>_<measure>`,
    `short_names` and `SUMMARY_KEYS`); returns the names recorded."""
    done = []
    for name, short in short_names(lora_names, mid).items():
        for col, c in SUMMARY_KEYS.items():
            if col in table.columns and pd.notna(table.loc[name, col]):
                record(f"{short}_{c}", table.loc[name, col])
                done.append(f"{short}_{c}")
    return done


def glue_references(chance: Mapping[str, float], lexical: Mapping, lid_base: float) -> None:
    """Glue chance and the TF-IDF control's weak P@1, and the base model's and chance's LID probe."""
    glue_text("chance_p1", f"{chance['weak P@1']:.4f}")
    glue_text("lexical_p1", f"{lexical['weak P@1']:.3f}")
    glue_text("lid_base", f"{lid_base:.3f}")
    glue_text("lid_chance", f"{chance['LID probe']:.3f}")


def vs_full_table(vs_full: Mapping, lora_names: Mapping[int, str]) -> pd.DataFrame:
    """Each LoRA rank against full fine-tuning (`vs_full`: (rank, measure) -> compare result)."""
    return metrics.verdict_table({f"{lora_names[r]} − full fine-tuning, {m}": x for (r, m), x in vs_full.items()})


def iv_of(table: pd.DataFrame, name: str, measure: str) -> str:
    """The interval (as text) of `name`'s `measure` in a `harness.gain_table`."""
    return table.loc[name, f"{measure} Δ"]


def verdict_of(table: pd.DataFrame, name: str, measure: str) -> str:
    """The verdict of `name`'s `measure` in a `harness.gain_table`."""
    return table.loc[name, f"{measure}: verdict"]


def glue_lora(gains: pd.DataFrame, *, gains_ri: pd.DataFrame, vs_full: Mapping, ends: Mapping,
              lora_names: Mapping[int, str], mid: int, n_trained: Mapping[str, int], n_full: int) -> None:
    """Glue the LoRA section's sentences and intervals: each rank's weak P@1 gain and its place
    against full fine-tuning (`vs_full`: (rank, measure) -> compare result), the LID and strong mAP
    changes, full fine-tuning's gains, the gains from the random-init control (`gains_ri`), and each
    end point from the base against the same recipe's from random init (`ends`: name -> result)."""
    full = "full fine-tuning"
    glue_text("lora_sentence", "; ".join(
        f"rank {r} ({100 * n_trained[n] / n_full:.1f} % of the parameters) "
        f"{says(verdict_of(gains, n, 'weak P@1'), 'improves', 'lowers', NO_CHANGE)} it "
        f"(Δ {iv_of(gains, n, 'weak P@1')}) and is "
        f"{says(vs_full[(r, 'weak P@1')][1], 'above', 'below', 'level with')} full fine-tuning "
        f"({vs_full[(r, 'weak P@1')][0]})" for r, n in lora_names.items()))
    for key, m in (("lora_lid_sentence", "LID probe"), ("lora_map_sentence", "strong mAP")):
        glue_text(key, ", ".join(f"{iv_of(gains, n, m)} (rank {r})" for r, n in lora_names.items()))
    glue_verdict("full_p1", (iv_of(gains, full, "weak P@1"), verdict_of(gains, full, "weak P@1")),
                 "improves", "lowers", NO_CHANGE)
    for short, m in (("map", "strong mAP"), ("lid", "LID probe"), ("apps", "apps accuracy")):
        glue_text(f"iv_full_{short}", iv_of(gains, full, m))
    glue_text("mid", str(mid))
    for short, n in (("lora", lora_names[mid]), ("full", full)):
        ri = (iv_of(gains_ri, n + RI, "weak P@1"), verdict_of(gains_ri, n + RI, "weak P@1"))
        glue_verdict(f"{short}_ri", ri, "gains", "loses", NO_CHANGE)
        glue_verdict(f"ends_{short}", ends[n], "higher than", "lower than", "level with")


def lora_status(gains: pd.DataFrame, *, vs_full: Mapping, lora_names: Mapping[int, str],
                n_trained: Mapping[str, int], n_full: int, steps: int, adapter_lr: float, lr: float) -> str:
    """The status of "parameter-efficient modules reach much of the benefit at a fraction of the
    trained parameters" (`findings.adapter_status`), glued as `status_finding8` with the intervals it
    reads; returns the status alone."""
    full = "full fine-tuning"
    share = {n: n_trained[n] / n_full for n in lora_names.values()}
    status = adapter_status(verdict_of(gains, full, "weak P@1"),
                            {n: verdict_of(gains, n, "weak P@1") for n in lora_names.values()},
                            {n: verdict_of(gains, n, "weak P@1 centred") for n in lora_names.values()},
                            {n: vs_full[(r, "weak P@1")][1] for r, n in lora_names.items()},
                            {n: vs_full[(r, "strong mAP")][1] for r, n in lora_names.items()}, share)
    ranks = "; ".join(f"LoRA rank {r} ({100 * share[n]:.1f} % of the parameters) {iv_of(gains, n, 'weak P@1')}"
                      for r, n in lora_names.items())
    strong = ", ".join(f"rank {r} {vs_full[(r, 'strong mAP')][0]}" for r in lora_names)
    glue_text("status_finding8", f"{status}: weak P@1 over the base model, full fine-tuning "
              f"{iv_of(gains, full, 'weak P@1')}; {ranks}; strong mAP against full fine-tuning: {strong}"
              f" (one seed, {steps} steps; LoRA at learning rate {adapter_lr:g}, full fine-tuning at {lr:g})")
    return status


def fig_params(evals: Mapping, *, align_names: Sequence[str], ri_names: Sequence[str],
               n_trained: Mapping[str, int], resamples: int, seed: int):
    """Change against the starting model (paired 95 % interval) against trained parameters (log
    scale), one panel per measure; circles from the base, squares from the random-init control
    (weak P@1 only). Returns the (closed) figure."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained")
    for ax, m in zip(axes, ("weak P@1", "strong mAP", "LID probe")):
        for start, names, marker in (("base", align_names, "o"), ("random init", ri_names, "s")):
            if m != "weak P@1" and start != "base":
                continue
            xs = [n_trained[n] for n in names]
            ivs = [metrics.paired_bootstrap(np.asarray(evals[n].outcome(m)), np.asarray(evals[start].outcome(m)),
                                            resamples, seed) for n in names]
            plot.interval_lines(xs, ivs, ax, fmt=marker, ls="-" if start == "base" else ":",
                                label=f"from {start}")
            for x, n, iv in zip(xs, names, ivs):
                label = n.replace(RI, "").replace("LoRA ", "").replace("full fine-tuning", "full")
                ax.annotate(label, (x, iv.diff), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("trained parameters (log)")
        ax.set_title(f"Δ {m}" + (" (lower: less identity)" if m == "LID probe" else ""), fontsize=9)
    axes[0].set_ylabel("change against the starting model\n(95 % interval)")
    axes[0].legend(fontsize=7)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- adapters on disk
def save_and_reload(model, base, probes: Mapping, what: str = "adapter") -> tuple[dict[str, int], bool]:
    """Save every adapter of `model` (a `PeftModel`) as a PEFT checkpoint, load them onto a copy of
    the plain model of `base` (the `Encoder` they were trained on), and compare, while the saved files
    still exist, the pooled states of both on each probe (`probes`: adapter to switch on in both first,
    or None to compare them as they are -> texts). Returns (each adapter's size on disk in bytes,
    whether every probe gave identical outputs); a difference raises `RuntimeError` after all probes
    were compared."""
    import torch

    from ..methods import adapters as AD

    tokenizer = base.tokenizer
    with tempfile.TemporaryDirectory() as tmp:
        sizes = AD.save_adapters(model, tmp)
        again = AD.load_adapters(base.model, tmp, list(sizes))
        same = []
        for name, texts in probes.items():
            if name is not None:
                AD.activate(again, name)
                AD.activate(model, name)
            same.append(torch.equal(AD.pooled_states(again, tokenizer, texts),
                                    AD.pooled_states(model, tokenizer, texts)))
    if not all(same):
        raise RuntimeError(f"a reloaded {what} gave different outputs")
    return sizes, all(same)


def save_all(trained: Mapping, lora_names: Mapping[int, str], base, texts: Sequence[str]) -> dict:
    """`save_and_reload` of every LoRA rank's trained adapter, probed as it is on `texts`: name ->
    (sizes, identical)."""
    return {n: save_and_reload(trained[n].model, base, {None: texts}) for n in lora_names.values()}


def disk_table(saved: Mapping[str, tuple[Mapping[str, int], bool]], n_trained: Mapping[str, int],
               base_bytes: int, adapter: str = "align") -> pd.DataFrame:
    """One row per saved model (`saved`: name -> `save_and_reload`'s (sizes, identical)): the trained
    parameters, the size on disk (kB) of its adapter `adapter`, its share of the base model's bytes,
    and whether the reloaded adapter gave identical outputs (as `save_and_reload` measured it)."""
    return pd.DataFrame({n: {"trained parameters": n_trained[n], "adapter on disk (kB)": sizes[adapter] / 1e3,
                             "share of the base model": sizes[adapter] / base_bytes,
                             "reloaded outputs identical": same}
                         for n, (sizes, same) in saved.items()}).T


def glue_disk(saved: Mapping[str, tuple[Mapping[str, int], bool]], base_bytes: int, adapter: str = "align") -> None:
    """Glue the base model's size (MB) and the smallest and largest saved alignment adapter (kB)
    (`saved`: name -> `save_and_reload`'s (sizes, identical))."""
    kb = [sizes[adapter] / 1e3 for sizes, _ in saved.values()]
    glue_text("base_mb", f"{base_bytes / 1e6:.1f}")
    glue_text("disk_small", f"{min(kb):.0f}")
    glue_text("disk_large", f"{max(kb):.0f}")


# ---------------------------------------------------------------- language adapters
def pretrain_sample(langs: Sequence[str], n: int, seed: int) -> dict[str, list[str]]:
    """Per language, `n` paragraphs (all when fewer) of its `pretrain` text, drawn without
    replacement with one generator seeded by `seed`, in corpus order."""
    from .. import data

    rng = np.random.default_rng(seed)
    out = {}
    for lang in langs:
        pool = data.corpus(lang, "pretrain")[1]
        out[lang] = [pool[i] for i in sorted(rng.choice(len(pool), min(n, len(pool)), replace=False))]
    return out


def loss_change(curves: Mapping[str, Sequence[float]], steps: int) -> str:
    """The loss over the first and over the last fifth of `steps` (mean over the curves), "a → b"."""
    k = max(1, steps // 5)
    return (f"{np.mean([np.mean(c[:k]) for c in curves.values()]):.2f} → "
            f"{np.mean([np.mean(c[-k:]) for c in curves.values()]):.2f}")


def glue_language(sizes: Mapping[str, int], *, n_lang: int, curves: Mapping[str, Sequence[float]], steps: int,
                  gain: Mapping, lid_change) -> None:
    """Glue the language adapters' mean size (kB), parameters and MLM loss change, and the routed
    model's changes against the base (`gain`: measure -> compare result; `lid_change`: the LID probe's,
    "better" = lower)."""
    glue_text("lang_kb", f"{np.mean(list(sizes.values())) / 1e3:.0f}")
    glue_text("n_lang", f"{n_lang:,}")
    glue_text("lang_loss", loss_change(curves, steps))
    for m, short in (("weak P@1", "p1"), ("strong mAP", "map"), ("apps accuracy", "apps"), ("POS accuracy", "pos")):
        glue_verdict(f"lang_{short}", gain[m], "raise", "lower", "do not measurably change")
    glue_verdict("lang_lid", lid_change, "lower", "raise", "do not measurably change")


def fig_lang_curves(curves: Mapping[str, Mapping[str, Sequence[float]]]):
    """MLM loss per step of each language adapter, one panel per starting model. Returns the
    (closed) figure."""
    from ..plot import lang_color

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), layout="constrained", sharey=True)
    for ax, start in zip(axes, curves):
        for lang, c in curves[start].items():
            ax.plot(np.arange(1, len(c) + 1), c, color=lang_color(lang), lw=1.2, label=lang)
        ax.set_title(f"language adapters on the {start} model", fontsize=9)
        ax.set_xlabel("step")
    axes[0].set_ylabel("MLM loss")
    axes[0].legend(fontsize=7, ncol=2)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- task adapters
def _row(kind: str, start: str, res, cols: Sequence[str]) -> dict:
    row = {"task": kind, "start": start, "English": res.accuracy("en")}
    row.update({lang: res.accuracy(lang) for lang in cols})
    row["non-English mean"] = float(res.items[list(cols)].to_numpy().mean())
    return row


def task_table(task_runs: Mapping, evals: Mapping, cols: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Accuracy per language of every fine-tuning run (`task_runs`: (task, start, route) ->
    `TransferResult`) and of the frozen-feature heads of the models `FROZEN` (in `evals`: name ->
    `VariantEval`), with the mean over the non-English columns `cols[task]`."""
    rows = {f"{k}: {w} ({s})": _row(k, s, res, cols[k]) for (k, s, w), res in task_runs.items()}
    for name in FROZEN:
        for kind, res in (("POS", evals[name].pos), ("apps", evals[name].apps)):
            rows[f"{kind}: frozen-feature head, {name}"] = _row(kind, "base", res, cols[kind])
    return pd.DataFrame(rows).T


def by_run(results: Mapping) -> dict:
    """{(task, start, route): result} relabelled "task, route (start)" for a verdict table."""
    return {f"{k}, {w} ({s})": x for (k, s, w), x in results.items()}


def task_verdicts(learned_iv: Mapping, above_majority: Mapping, madx_vs: Mapping) -> list[pd.DataFrame]:
    """The verdict tables of the task runs: English against the majority class (`learned_iv`),
    zero-shot against it (`above_majority`), both per run, and MAD-X against each other route
    zero-shot (`madx_vs`: (task, route) -> result)."""
    return [metrics.verdict_table(by_run(learned_iv), "English − majority class"),
            metrics.verdict_table(by_run(above_majority), "zero-shot (non-English) − majority class"),
            metrics.verdict_table({f"{k}: MAD-X − {o}": x for (k, o), x in madx_vs.items()}, "zero-shot difference")]


def record_tasks(task_runs: Mapping, cols: Mapping[str, Sequence[str]]) -> None:
    """Record each run's zero-shot accuracy (mean over `cols[task]`) and its English accuracy:
    `task_<task>_<route>[_ri][_en]`."""
    for (k, s, w), res in task_runs.items():
        name = f"task_{k.lower()}_{WAY_KEYS[w]}{'' if s == 'base' else '_ri'}"
        record(name, float(res.items[list(cols[k])].to_numpy().mean()))
        record(f"{name}_en", res.accuracy("en"))


def learned_and_transferred(learned_iv: Mapping, above_majority: Mapping, ways: Sequence[str]):
    """Per task, from the base-model runs: whether every route beat the majority class on English
    (`learned_iv`), and whether any route beat it zero-shot (`above_majority`)."""
    tasks = ("POS", "apps")
    learned = {k: all(learned_iv[(k, "base", w)][1] == "better" for w in ways if (k, "base", w) in learned_iv)
               for k in tasks}
    transfers = {k: any(above_majority[(k, "base", w)][1] == "better" for w in ways
                        if (k, "base", w) in above_majority) for k in tasks}
    return learned, transfers


def learned_text(task: str, learned: bool, learned_iv: Mapping, ways: Sequence[str]) -> str:
    """Which routes learned `task` on English beyond the majority class."""
    if learned:
        return "learned by every route"
    routes = [w for w in ways if (task, "base", w) in learned_iv and learned_iv[(task, "base", w)][1] == "better"]
    if routes:
        return "learned beyond the majority class only by " + ", ".join(routes)
    return "not learned beyond the majority class by any route"


def madx_reading(verdict: str, learned: bool, transfers: bool) -> str:
    """A MAD-X comparison as read in the prose: only a task learned on English and transferred by
    some route is read."""
    if learned and transfers:
        return says(verdict, "MAD-X better", "MAD-X worse", "level")
    if learned:
        return "not read: no route beats the majority class zero-shot"
    return "not read: the task was not learned on English"


def glue_modular(task_runs: Mapping, *, ways: Sequence[str], cols: Mapping[str, Sequence[str]],
                 learned_iv: Mapping, above_majority: Mapping, madx_vs: Mapping, madx_ri) -> tuple[dict, dict]:
    """Glue the modular-transfer section: MAD-X against the other routes (`madx_vs`: (task, route) ->
    result), which routes learned each task and beat the majority class zero-shot, each route's
    zero-shot and English accuracy, and MAD-X from the base against from random init (`madx_ri`).
    Returns (learned, transfers) per task (`learned_and_transferred`)."""
    learned, transfers = learned_and_transferred(learned_iv, above_majority, ways)
    for (k, o), (iv, v) in madx_vs.items():
        key = f"madx_{k.lower()}_{WAY_KEYS[o]}"
        glue_text(f"iv_{key}", str(iv))
        glue_text(f"verdict_{key}", madx_reading(v, learned[k], transfers[k]))
    for k in ("POS", "apps"):
        kl, runs = k.lower(), [w for w in ways if (k, "base", w) in task_runs]
        glue_text(f"learned_{kl}", learned_text(k, learned[k], learned_iv, ways))
        glue_text(f"zs_{kl}", "; ".join(f"{w} {above_majority[(k, 'base', w)][0]}" for w in runs))
        glue_text(f"zs_verdict_{kl}", "beats it on at least one route" if transfers[k] else "beats it on no route")
        for w in runs:
            res = task_runs[(k, "base", w)]
            glue_text(f"acc_{kl}_{WAY_KEYS[w]}", f"{float(res.items[list(cols[k])].to_numpy().mean()):.3f}")
            glue_text(f"en_{kl}_{WAY_KEYS[w]}", f"{res.accuracy('en'):.3f}")
    glue_verdict("madx_ri", madx_ri, "above", "below", "level with")
    return learned, transfers


def glue_modular_status(learned: Mapping[str, bool], transfers: Mapping[str, bool], madx_vs: Mapping,
                        lid_verdict: str) -> str:
    """MAD-X's claim (`findings.modular_status`) from the task readings and the language adapters'
    LID-probe verdict, glued as `status_modular`; returns it."""
    return glue_text("status_modular", modular_status(
        learned, transfers, {k: madx_vs[(k, "task adapter alone")][1] for k in learned},
        {k: madx_vs[(k, "full fine-tuning")][1] for k in learned if (k, "full fine-tuning") in madx_vs},
        lid_verdict))


def fig_transfer(task_runs: Mapping, evals: Mapping, ways: Sequence[str], cols: Mapping[str, Sequence[str]]):
    """Accuracy per language (English, then the zero-shot languages) of the base model's fine-tuning
    routes and of the frozen-feature heads of the models `FROZEN` (in `evals`, hatched), with the
    majority class as black marks; one panel per task. Returns the (closed) figure."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.4), layout="constrained")
    for ax, kind in zip(axes, ("POS", "apps")):
        shown = [w for w in ways if (kind, "base", w) in task_runs] + [f"frozen head, {n}" for n in FROZEN]
        langs_k = ["en"] + list(cols[kind])
        width = 0.8 / len(shown)
        for i, w in enumerate(shown):
            if w.startswith("frozen"):
                ev = evals[w.removeprefix("frozen head, ")]
                res = ev.pos if kind == "POS" else ev.apps
            else:
                res = task_runs[(kind, "base", w)]
            ax.bar(np.arange(len(langs_k)) + (i - (len(shown) - 1) / 2) * width, [res.accuracy(l) for l in langs_k],
                   width, color=f"C{ways.index(w) if w in ways else i + 1}", label=w,
                   hatch="//" if w.startswith("frozen") else None)
        maj = task_runs[(kind, "base", "MAD-X")].majority_items
        ax.plot(np.arange(len(langs_k)), [float(maj[l].mean()) for l in langs_k], "k_", ms=14, mew=1.5,
                label="majority")
        ax.set_xticks(np.arange(len(langs_k)), langs_k)
        ax.set_title("POS tagging (PUD)" if kind == "POS" else "application classification", fontsize=9)
        ax.set_ylabel("accuracy")
    axes[0].legend(fontsize=7, ncol=2)
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- neutral or specific
def fig_tradeoff(evals: Mapping, names: Sequence[str], chance: Mapping[str, float], lexical: Mapping):
    """LID probe accuracy against weak P@1 for the variants `names`; dotted: chance, dashed: TF-IDF.
    Returns the (closed) figure."""
    fig, ax = plt.subplots(figsize=(6.5, 4), layout="constrained")
    for i, n in enumerate(names):
        s = evals[n].summary()
        ax.scatter(s["LID probe"], s["weak P@1"], s=40, color=f"C{i}", zorder=3)
        ax.annotate(n, (s["LID probe"], s["weak P@1"]), textcoords="offset points", xytext=(5, 3), fontsize=8)
    ax.axhline(chance["weak P@1"], color="0.5", ls=":", lw=1)
    ax.axhline(lexical["weak P@1"], color="0.5", ls="--", lw=1)
    ax.text(ax.get_xlim()[0], lexical["weak P@1"], " TF-IDF", va="bottom", fontsize=7, color="0.4")
    ax.set_xlabel("language-ID probe accuracy (language identity kept)")
    ax.set_ylabel("weak P@1 (en→X)")
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- the book-wide results table
def variant_slug(name: str) -> tuple[str, str]:
    """A measured variant's results name and family: "LoRA rank 4" -> ("lora-rank-4", "adapters");
    "... (from random init)" -> ("random-init+...", "control")."""
    plain = name.replace(RI, "")
    slug = plain.lower().replace(" ", "-")
    if plain != name:
        return "random-init+" + slug, "control"
    return slug, "adapters"


def task_slug(kind: str, start: str, how: str) -> tuple[str, str]:
    """A task run's results name and family: ("POS", "base", "MAD-X") -> ("task-pos-mad-x", "adapters")."""
    slug = "task-" + kind.lower() + "-" + how.lower().replace(" ", "-")
    if start != "base":
        return "random-init+" + slug, "control"
    return slug, "adapters"


def variant_results(evals: Mapping, n_trained: Mapping[str, int], task_runs: Mapping, layer: int,
                    seed: int) -> list[dict]:
    """The `record_results` keyword arguments of every measured variant (the trained ones with their
    trained parameters as an extra row) and every task run, in recording order. The chapter's hidden
    cell records them: `for r in kit.variant_results(...): record_results(**r)`."""
    from ..harness import with_rows
    from ..transfer import tidy

    out = [dict(variant="base", table=evals["base"], family="base", seed=seed),
           dict(variant=f"random-init-{seed}", table=evals["random init"], family="control", seed=seed)]
    for name, v in evals.items():
        if name in ("base", "random init"):
            continue
        slug, family = variant_slug(name)
        rows = v
        if name in n_trained:  # what the optimiser updated, beside the measures (and v's per-item outcomes)
            rows = with_rows(v, pd.DataFrame([{"src": "all", "tgt": "all", "layer": v.layer,
                                               "measure": "trained_parameters", "value": float(n_trained[name]),
                                               "n": -1}]))
        out.append(dict(variant=slug, table=rows, family=family, seed=seed))
    for (kind, start, how), res in task_runs.items():
        slug, family = task_slug(kind, start, how)
        out.append(dict(variant=slug, table=tidy(res, kind.lower(), layer), family=family, seed=seed))
    return out
