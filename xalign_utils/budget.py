"""Budget curves: how much training each method needs before its verdicts stop moving.

Every method chapter trains its methods for a few dozen steps in the `ci` preset; a verdict read at
that budget may be an artefact of it. This module trains each method at geometric budgets (64, 256,
1024, ... steps), from the ci base model and from its random-init control, **as separate runs** (the
learning-rate schedule warms up over a tenth of the steps and decays to zero, so a 256-step run is not
the 256th step of a 1024-step run), and measures each trained model on the chapters' harness: weak P@1
en→X (cosine, last layer, the 409 sentence items) and the help-application task (View II). One seed.

The curves are stored as a small CSV (`CURVES`, one row per method × start × budget, with the commit
and machine that produced it) and shown in each method's chapter; `choose_budget` turns a curve into
the book preset's budget by a stated rule. `python -m xalign_utils.budget` (re)computes the missing rows
and is resumable: each row is written atomically as soon as it is measured, so a killed run loses at
most the row it was training.

Introduced in notebook 02_contrastive ("How much training each method needs").
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
CURVES = ROOT / "book" / "runs" / "budget-curves.csv"  # per-item outcomes beside it: `items_path(CURVES)`
BUDGETS = (64, 256, 1024, 4096)
STARTS = ("base", "random init")
COLUMNS = ["method", "chapter", "start", "steps", "batch_size", "lr", "seed", "weak_p1", "apps_accuracy",
           "final_loss", "train_s", "eval_s", "threads", "commit", "machine"]
MEASURES = {"weak_p1": "weak P@1", "apps_accuracy": "apps accuracy"}


@dataclass(frozen=True)
class Method:
    """One trainable method as its chapter runs it (`train(encoder, ctx, steps, seed, batch_size, lr)` ->
    (encoder, losses)); `fit` trains it with its own batch size and learning rate, the ones the CSV records."""

    key: str
    chapter: str
    label: str
    batch_size: int
    lr: float
    train: Callable

    def fit(self, encoder, ctx: dict, steps: int, seed: int):
        return self.train(encoder, ctx, steps, seed, self.batch_size, self.lr)


def _tlm(enc, ctx, steps, seed, batch_size, lr):
    from .methods import parallel as PM

    mono = PM.MonoMLMBatches(enc.tokenizer, ctx["langs"], batch_size=2, max_len=ctx["max_len"], seed=seed)
    return PM.train_method(enc, "tlm", ctx["pairs"], steps, batch_size, lr, seed, mono=mono, desc="TLM")


def _distill(enc, ctx, steps, seed, batch_size, lr):
    from .methods import parallel as PM

    return PM.train_method(enc, "distill", ctx["pairs"], steps, batch_size, lr, seed, desc="distillation")


def _word_dict(enc, ctx, steps, seed, batch_size, lr):
    from .methods import parallel as PM

    return PM.train_method(enc, "word_dict", ctx["pairs"], steps, batch_size, lr, seed, links=ctx["links"],
                           desc="word-level (dictionary)")


def _contrastive(method):
    def run(enc, ctx, steps, seed, batch_size, lr):
        from .methods import contrastive as CM

        return CM.train_contrastive(enc, method, ctx["pairs"], steps, batch_size, lr, seed, desc=method)
    return run


def _lora(enc, ctx, steps, seed, batch_size, lr):
    from .methods import adapters as AM

    return AM.train_lora_contrastive(enc, ctx["pairs"], 4, steps, batch_size, lr, seed, desc="LoRA r4 InfoNCE")


METHODS: dict[str, Method] = {m.key: m for m in (
    Method("tlm", "01_parallel_data", "TLM (+ MLM)", 16, 5e-4, _tlm),
    Method("distill", "01_parallel_data", "distillation", 16, 5e-4, _distill),
    Method("word_dict", "01_parallel_data", "word-level, dictionary links", 16, 5e-4, _word_dict),
    Method("infonce", "02_contrastive", "sentence InfoNCE", 16, 1e-3, _contrastive("infonce")),
    Method("simcse", "02_contrastive", "English-only SimCSE", 16, 1e-3, _contrastive("simcse")),
    Method("lora_infonce", "03_adapters", "InfoNCE through LoRA rank 4", 16, 5e-3, _lora),
)}


def check(methods: Sequence[str], budgets: Sequence[int], starts: Sequence[str]) -> None:
    """One-line errors for an unknown method or start, or a budget that is not a positive integer."""
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}; choose from: {', '.join(METHODS)}")
    for s in starts:
        if s not in STARTS:
            raise ValueError(f"unknown start {s!r}; choose from: {', '.join(STARTS)}")
    for b in budgets:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
            raise ValueError(f"budgets are positive step counts; got {b!r}")


def read_curves(path: Path | str = CURVES) -> pd.DataFrame:
    """The stored curves (empty, with the columns, when there are none yet)."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    table = pd.read_csv(path)
    missing = sorted(set(COLUMNS) - set(table.columns))
    if missing:
        raise ValueError(f"{path.name} lacks columns {', '.join(missing)}; recompute it with python -m xalign_utils.budget")
    return table


def _write(table: pd.DataFrame, path: Path) -> None:
    from .cache import atomic_write_text

    order = {k: i for i, k in enumerate(METHODS)}
    table = table.sort_values(["method", "start", "steps"], key=lambda c: c.map(order) if c.name == "method" else c)
    atomic_write_text(path, table[COLUMNS].to_csv(index=False, float_format="%.6g"))


def items_path(path: Path | str) -> Path:
    """Where the per-item outcomes of the curves in `path` are kept (`<name>.items.npz`)."""
    path = Path(path)
    return path.with_name(path.stem + ".items.npz")


def outcome_key(method: str, start: str, steps: int, seed: int, measure: str) -> str:
    return f"{method}|{start}|{int(steps)}|{int(seed)}|{measure}"


def read_outcomes(path: Path | str = CURVES) -> dict[str, np.ndarray]:
    """{`outcome_key`: per-item outcomes (items x target languages)} of the stored curves."""
    f = items_path(path)
    if not f.exists():
        return {}
    with np.load(f) as z:
        return {k: z[k] for k in z.files}


def _append(row: dict, path: Path, outcomes: dict[str, np.ndarray] | None = None) -> None:
    """Add one row (and its per-item outcomes, by measure) to the stored curves under a file lock (several
    processes may fill one file), replacing a row of the same method, start, steps and seed; both files are
    rewritten atomically, the outcomes first (a row is never stored without them)."""
    import fcntl
    import os
    import tempfile

    from .cache import readable

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if outcomes:
            stored = read_outcomes(path)
            stored.update({outcome_key(row["method"], row["start"], row["steps"], row["seed"], m): np.asarray(v, np.float32)
                           for m, v in outcomes.items()})
            fd, tmp = tempfile.mkstemp(prefix=".items.", suffix=".npz", dir=path.parent)
            readable(fd)
            try:
                with os.fdopen(fd, "wb") as f:
                    np.savez_compressed(f, **stored)
                os.replace(tmp, items_path(path))
            finally:
                Path(tmp).unlink(missing_ok=True)
        table = read_curves(path)
        same = ((table.method == row["method"]) & (table.start == row["start"]) & (table.steps == row["steps"])
                & (table.seed == row["seed"]))
        table = pd.concat([table[~same].dropna(axis=1, how="all"), pd.DataFrame([row])], ignore_index=True)
        _write(table, path)


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "xalign_utils"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+changes" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def context(langs: Sequence[str], seed: int = 0, preset: str = "ci") -> dict:
    """What every run shares: the starting models, the harness, the `parallel` pairs, dictionary links."""
    from .checkpoints import base_model
    from .harness import Harness
    from .kit.adapters import parallel_pairs
    from .methods import parallel as PM
    from .models import random_init_like
    from .presets import get_preset

    enc = base_model(get_preset(preset).name)  # the shipped base; `seed` is the methods' seed
    pairs = parallel_pairs(langs, seed)
    return {"langs": list(langs), "pairs": pairs, "max_len": get_preset(preset).model.max_len,
            "starts": {"base": enc, "random init": random_init_like(enc, seed)},
            "links": PM.dictionary_links(pairs, PM.dictionaries_for(langs)),
            "harness": Harness(langs, layer=-1, seed=seed)}


def measure(harness, encoder) -> tuple[dict, dict]:
    """Weak P@1 (cosine, last layer) and the application task's accuracy, means over non-English languages,
    and their per-item outcomes (items x non-English languages)."""
    ev = harness.measure(encoder, pos=False, full=False)
    s = ev.summary()
    outcomes = {col: np.asarray(ev.outcome(name), dtype=np.float32) for col, name in MEASURES.items()}
    return {"weak_p1": s["weak P@1"], "apps_accuracy": s["apps accuracy"]}, outcomes


def run(methods: Sequence[str], budgets: Sequence[int] = BUDGETS, starts: Sequence[str] = STARTS, seed: int = 0,
        langs: Sequence[str] | None = None, path: Path | str = CURVES, progress: Callable[[str], None] = print,
        ctx: dict | None = None) -> pd.DataFrame:
    """Train and measure every (method, start, budget) not yet in `path`, writing each row as it is done.
    Also measures each start untrained (steps 0), the origin of every curve."""
    import torch

    from .presets import get_preset

    check(methods, budgets, starts)
    path = Path(path)
    table = read_curves(path)
    langs = list(langs or get_preset("ci").langs)
    done = {(r.method, r.start, int(r.steps), int(r.seed)) for r in table.itertuples()}
    todo = [(m, s, b) for m in methods for s in starts for b in (0, *budgets) if (m, s, b, seed) not in done]
    if not todo:
        return table
    ctx = ctx or context(langs, seed)
    commit = _commit()  # of the code that trains, read once: later edits to the tree do not relabel rows
    untrained: dict[str, dict] = {}
    for m, s, b in todo:
        meth = METHODS[m]
        t0 = time.time()
        if b == 0:
            if s not in untrained:
                untrained[s] = measure(ctx["harness"], ctx["starts"][s])
            (scores, outcomes), loss, t_train = untrained[s], float("nan"), 0.0
        else:
            trained, losses = meth.fit(ctx["starts"][s], ctx, b, seed)
            t_train = time.time() - t0
            (scores, outcomes), loss = measure(ctx["harness"], trained), float(np.mean(losses[-max(1, len(losses) // 10):]))
        row = {"method": m, "chapter": meth.chapter, "start": s, "steps": b, "batch_size": meth.batch_size,
               "lr": meth.lr, "seed": seed, **scores, "final_loss": loss, "train_s": round(t_train, 1),
               "eval_s": round(time.time() - t0 - t_train, 1), "threads": torch.get_num_threads(),
               "commit": commit, "machine": f"{platform.machine()} {platform.system()}"}
        _append(row, path, outcomes)
        progress(f"{m} from {s}, {b} steps: weak P@1 {scores['weak_p1']:.3f}, apps {scores['apps_accuracy']:.3f} "
                 f"({t_train:.0f} s training)")
    return read_curves(path)


def choose_budget(outcomes: dict[int, np.ndarray], resamples: int = 10_000, seed: int = 0) -> tuple[int, str]:
    """The book budget from one curve, given as per-item outcomes by budget (0 = the untrained model):
    the smallest budget from which the curve stops moving, i.e. no larger budget differs from it
    measurably on the same items (for every larger budget the paired 95 % interval of larger − this covers
    0: `metrics.compare` says "inconclusive"; a measurable fall counts as moving, like a rise). When every
    budget is followed by a measurably different one, the largest budget measured, labelled by its last
    step ("still climbing" / "still falling" / "still moving"): the largest afforded, not a plateau. The
    intervals are over items for one training run each: run-to-run noise is not in them. Returns (steps, why)."""
    from . import metrics

    if 0 not in outcomes or len(outcomes) < 2:
        raise ValueError("a curve needs the untrained outcomes (steps 0) and at least one budget")
    budgets = sorted(b for b in outcomes if b != 0)
    if len(budgets) == 1:
        return budgets[0], "the only budget measured"
    for i, b in enumerate(budgets[:-1]):
        later = [(nxt, *metrics.compare(outcomes[nxt], outcomes[b], resamples, seed)) for nxt in budgets[i + 1:]]
        if all(v == "inconclusive" for _, _, v in later):
            nxt, iv, _ = later[0]
            return b, f"no larger budget differs; {nxt:,} steps − {b:,}: {iv}"
    iv, v = metrics.compare(outcomes[budgets[-1]], outcomes[budgets[-2]], resamples, seed)
    moving = {"better": "still climbing", "worse": "still falling"}.get(v, "still moving")
    return budgets[-1], f"{moving} at the largest budget measured ({budgets[-1]:,} − {budgets[-2]:,}: {iv})"


def measurable_gain(outcomes: dict[int, np.ndarray], resamples: int = 10_000, seed: int = 0) -> bool:
    """Whether any budget of a curve is measurably better than its untrained model (paired interval)."""
    from . import metrics

    return any(metrics.compare(outcomes[b], outcomes[0], resamples, seed)[1] == "better" for b in outcomes if b)


def book_budgets(table: pd.DataFrame, outcomes: dict[str, np.ndarray], resamples: int = 10_000,
                 seed: int = 0) -> pd.DataFrame:
    """`choose_budget` per method, on each start and measure (`outcomes`: `read_outcomes`); the book budget
    is the largest of them (a method's verdicts, on the base and on its random-init control, should have
    stopped moving on every curve that is read), and `why` names the curve that decided it. One seed per
    curve (one-line errors for a curve without its untrained point, missing outcomes, or several seeds)."""
    rows = []
    for m, g in table.groupby("method", sort=False):
        fix = f"recompute it with python -m xalign_utils.budget --methods {m}"
        if g.groupby(["start", "steps"]).size().max() > 1:
            raise ValueError(f"{m}: several seeds per budget; book_budgets reads one seed (filter the table by seed)")
        picks = {}
        for s in g.start.unique():
            rows_s = g[g.start == s]
            if 0 not in set(rows_s.steps):
                raise ValueError(f"{m} from {s} has no untrained (steps 0) row; {fix}")
            for col, name in MEASURES.items():
                keys = {int(r.steps): outcome_key(m, s, r.steps, r.seed, col) for r in rows_s.itertuples()}
                missing = [k for k in keys.values() if k not in outcomes]
                if missing:
                    raise ValueError(f"no per-item outcomes for {missing[0]}; {fix}")
                curve = {b: outcomes[k] for b, k in keys.items()}
                picks[(s, name)] = choose_budget(curve, resamples, seed)
                if (s, col) == ("base", "weak_p1"):
                    gain = measurable_gain(curve, resamples, seed)
        (start, measure), (steps, why) = max(picks.items(), key=lambda kv: kv[1][0])
        rows.append({"method": m, "label": METHODS[m].label if m in METHODS else m, "book steps": steps,
                     **{f"{s}, {n}": p[0] for (s, n), p in picks.items()}, "why": f"{measure} from {start}: {why}",
                     "weak P@1 gain from base": "measurable" if "base" in set(g.start) and gain else "none measurable"})
    return pd.DataFrame(rows).set_index("method")


SESSION_S = 7200  # a chapter's book run (every seed) must fit one working session: 2 h on the 2-core machine


def training_cost(table: pd.DataFrame, seeds: int) -> pd.Series:
    """Seconds of training per stored budget, as the curves timed it (`train_s`, one thread, summed over the
    methods and starts in `table`), times `seeds` runs. An estimate from below of a chapter's run: it also
    trains variants with no curve, evaluates, and runs its controls."""
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1; got {seeds}")
    if "train_s" not in table:
        raise ValueError("the curves carry no train_s timings; recompute them with python -m xalign_utils.budget")
    cost = table[table.steps > 0].groupby("steps").train_s.sum().sort_index() * seeds
    if cost.empty:
        raise ValueError("no trained rows to time; recompute the curves with python -m xalign_utils.budget")
    return cost


def affordable_steps(table: pd.DataFrame, seeds: int, limit_s: float = SESSION_S) -> int:
    """The largest stored budget whose `training_cost` fits `limit_s` (the smallest when none does)."""
    cost = training_cost(table, seeds)
    fits = cost[cost <= limit_s]
    return int(fits.index.max()) if not fits.empty else int(cost.index.min())


def capped(table: pd.DataFrame, pick: int, seeds: int) -> tuple[int, str]:
    """`pick` (the largest of a chapter's `book_budgets`) capped at `affordable_steps` for `seeds` runs when
    that is smaller (the issue's "or the largest you can afford, said so"), and why."""
    cap, cost = affordable_steps(table, seeds), training_cost(table, seeds)
    if cap >= pick:
        return pick, "read off the curves below"
    return cap, (f"the curves ask for {pick:,} steps, {cost[pick] / 3600:.1f} h of one core for {seeds} seeds by "
                 f"their timings; capped at the largest stored budget that fits {SESSION_S / 3600:.0f} h "
                 f"({cost[cap] / 3600:.1f} h): the largest afforded, not a plateau")


def chapter_budget(chapter: str, path: Path | str = CURVES, resamples: int = 10_000,
                   seeds: int | None = None) -> tuple[int, str] | None:
    """The training budget (`steps` parameter) of `chapter` at a preset whose budgets come from the curves
    (`Preset.curve_budgets`: `book`) and why: the largest book budget of the chapter's methods (one `steps`
    trains all of them), `capped` for the book preset's seeds. None for a chapter without curves."""
    if not any(m.chapter == chapter for m in METHODS.values()):
        return None
    from .presets import get_preset

    table = of_chapter(read_curves(path), chapter)
    pick = int(book_budgets(table, read_outcomes(path), resamples, seed=0)["book steps"].max())
    return capped(table, pick, seeds or len(get_preset("book").seeds))


def chapter_steps(chapter: str, path: Path | str = CURVES, resamples: int = 10_000) -> int | None:
    """`chapter_budget`'s steps (None for a chapter without curves: it keeps its own default)."""
    got = chapter_budget(chapter, path, resamples)
    return None if got is None else got[0]


def of_chapter(table: pd.DataFrame, chapter: str) -> pd.DataFrame:
    """The stored rows of the methods `chapter` trains (one-line error when it has none)."""
    rows = table[table.chapter == chapter]
    if rows.empty:
        raise ValueError(f"no budget curves stored for {chapter}; compute them with "
                         f"python -m xalign_utils.budget --methods {' '.join(m.key for m in METHODS.values() if m.chapter == chapter) or '...'}")
    return rows


def curve_table(table: pd.DataFrame) -> pd.DataFrame:
    """Weak P@1 and application accuracy per method and start (rows) and budget (columns)."""
    out = table.assign(method=table.method.map(lambda m: METHODS[m].label if m in METHODS else m))
    return out.pivot_table(index=["method", "start"], columns="steps", values=list(MEASURES), sort=False).rename(
        columns=MEASURES, level=0)


def glue_chapter(table: pd.DataFrame, picks: pd.DataFrame, steps: int, outcomes: dict[str, np.ndarray],
                 preset: str = "ci", resamples: int = 10_000, seed: int = 0) -> dict[str, str]:
    """Glue what the chapter's prose says about its curves:
    - `budget_run_steps` (the chapter's `steps`) and `budget_run_why` (where that budget comes from);
    - `budget_commit` (the code that computed the curves), `budget_largest`;
    - `budget_picks` (each method's book budget and why, from `book_budgets`) and `budget_chapter_steps`
      (the largest of them), and `budget_book_steps` / `budget_book_why`: what one `steps` parameter trains
      at the book preset (`capped`: that largest pick, or the largest afforded);
    - `budget_ci_steps` (the stored budget nearest `steps`) and `budget_ci_gain`: per method, from the base,
      the weak P@1 gain over the untrained model at that budget and at the largest, each with its paired
      95 % interval over the same items."""
    from . import metrics
    from .presets import get_preset
    from .record import glue_text

    gains = []
    measured = sorted(set(table.steps) - {0})
    near = min(measured, key=lambda b: (abs(b - steps), b))  # the stored budget closest to the chapter's
    for m, g in table[table.start == "base"].groupby("method", sort=False):
        label = METHODS[m].label if m in METHODS else m
        at = {int(r.steps): outcomes.get(outcome_key(m, "base", r.steps, r.seed, "weak_p1")) for r in g.itertuples()}
        top = max(at)
        if at.get(0) is None or at.get(near) is None or at.get(top) is None:
            continue
        iv_near = metrics.compare(at[near], at[0], resamples, seed)[0]
        iv_top = metrics.compare(at[top], at[0], resamples, seed)[0]
        gains.append(f"{label} {iv_near}" + ("" if top == near else f" (at {top:,}: {iv_top})"))
    curve_set = get_preset(preset).curve_budgets
    book_steps, book_why = capped(table, int(picks["book steps"].max()), len(get_preset("book").seeds))
    texts = {"budget_run_steps": f"{steps:,}",
             "budget_run_why": (f"the book budget, {book_why}" if curve_set
                                else f"the {preset} preset's budget, set by CPU time"),
             "budget_book_steps": f"{book_steps:,}", "budget_book_why": book_why,
             "budget_commit": ", ".join(sorted(set(table.commit.astype(str)))),
             "budget_largest": f"{int(table.steps.max()):,}",
             "budget_picks": "; ".join(f"{r['label']}, {int(r['book steps']):,} steps ({r['why']})" for _, r in picks.iterrows()),
             "budget_chapter_steps": f"{int(picks['book steps'].max()):,}",
             "budget_ci_steps": f"{near:,}",
             "budget_ci_gain": "; ".join(gains) or "no method has both points"}
    for k, v in texts.items():
        glue_text(k, v)
    return texts


def fig_curves(table: pd.DataFrame, chapter: str | None = None, outcomes: dict[str, np.ndarray] | None = None):
    """Weak P@1 and application accuracy against training steps (log scale, ticks at the measured budgets;
    the untrained model is the point labelled 0 at the left), from the base (solid) and from random init
    (dashed), one colour per method; with `outcomes`, each point's 95 % interval over items."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from . import metrics

    if chapter is not None:
        table = table[table.chapter == chapter]
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.4))
    colours = dict(zip(table.method.unique(), plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3))
    budgets = sorted(set(table.steps) - {0})
    left = budgets[0] / 4 if budgets else 1  # where the untrained point is drawn
    for ax, (col, name) in zip(axes, MEASURES.items()):
        for (m, s), g in table.groupby(["method", "start"], sort=False):
            g = g.sort_values("steps")
            x = g.steps.replace(0, left).to_numpy(float)
            y = g[col].to_numpy(float)
            style = dict(color=colours[m], markersize=3, linestyle="-" if s == "base" else "--",
                         marker="o" if s == "base" else "s")
            keys = [outcome_key(m, s, r.steps, r.seed, col) for r in g.itertuples()]
            if outcomes is not None and all(k in outcomes for k in keys):
                ivs = [metrics.mean_interval(outcomes[k], 2_000, 0) for k in keys]
                err = np.array([[v - iv.low for v, iv in zip(y, ivs)], [iv.high - v for v, iv in zip(y, ivs)]])
                ax.errorbar(x, y, yerr=np.clip(err, 0, None), capsize=2, elinewidth=0.8, **style)
            else:
                ax.plot(x, y, **style)
        ax.set_xscale("log", base=2)
        ax.set_xticks([left, *budgets], ["0", *(f"{b:,}" for b in budgets)])
        ax.minorticks_off()
        ax.set_xlabel("training steps (0: untrained)")
        ax.set_ylabel(name)
    handles = [Line2D([], [], color=colours[m], label=METHODS[m].label if m in METHODS else m) for m in colours]
    handles += [Line2D([], [], color="0.3", linestyle="-", marker="o", markersize=3, label="from the base"),
                Line2D([], [], color="0.3", linestyle="--", marker="s", markersize=3, label="from random init")]
    axes[0].legend(handles=handles, fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xalign_utils.budget", description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", nargs="+", default=list(METHODS))
    p.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    p.add_argument("--starts", nargs="+", default=list(STARTS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(CURVES))
    a = p.parse_args(argv)
    try:
        check(a.methods, a.budgets, a.starts)
    except ValueError as e:
        p.exit(2, f"budget: error: {e}\n")
    run(a.methods, a.budgets, a.starts, a.seed, path=a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
