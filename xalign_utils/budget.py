"""Budget curves: how much training each method needs before its verdicts stop moving (the reading side).

Every method chapter trains its methods for a few dozen steps in the `ci` preset; a verdict read at
that budget may be an artefact of it. `xalign_utils.curves` trains each method at geometric budgets (64,
256, 1024, ... steps), from the ci base model and from its random-init control, as separate runs, and
measures each trained model; the rows are stored as a small CSV (`CURVES`, one row per method x start x
budget, with its chapters, the parameter its budget sets, the commit and machine that produced it) and the
per-item outcomes beside it. This module reads them: `choose_budget` turns a curve into the book preset's
budget by a stated rule, `chapter_budgets` gives each chapter's budget parameters at the book preset
(capped at what its seeds afford in one session), and the tables, figure and glue show them in the
method's chapter.

The chapters import this module and not `curves` (which holds the training recipes): adding a method's
curve is a change to the stored data of its own chapters, not to the code of every chapter that shows
curves (`closure`).

Introduced in notebook 01_parallel_data ("How much training each method needs").
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
CURVES = ROOT / "book" / "runs" / "budget-curves.csv"  # per-item outcomes beside it: `items_path(CURVES)`
BUDGETS = (64, 256, 1024, 4096)
STARTS = ("base", "random init")
COLUMNS = ["method", "label", "chapter", "param", "start", "steps", "batch_size", "lr", "seed", "weak_p1",
           "apps_accuracy", "correct_language", "final_loss", "train_s", "eval_s", "threads", "commit", "machine"]
MEASURES = {"weak_p1": "weak P@1", "apps_accuracy": "apps accuracy", "correct_language": "correct language"}
COMPUTE = "python -m xalign_utils.curves"  # the command that (re)computes stored rows


def read_curves(path: Path | str = CURVES) -> pd.DataFrame:
    """The stored curves (empty, with the columns, when there are none yet)."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    table = pd.read_csv(path)
    missing = sorted(set(COLUMNS) - set(table.columns) - set(MEASURES))
    if missing:
        raise ValueError(f"{path.name} lacks columns {', '.join(missing)}; recompute it with {COMPUTE}")
    for col in MEASURES:  # a measure no stored method fills
        if col not in table:
            table[col] = np.nan
    return table


def chapters_of(table: pd.DataFrame) -> pd.Series:
    """Per row, the chapters that train its method (the `chapter` column lists them, space-separated)."""
    return table.chapter.astype(str).str.split()


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
    """`choose_budget` per method, on each start and measure it was measured on (`outcomes`:
    `read_outcomes`; a measure a method's rows leave empty is not read); the book budget is the largest of
    them (a method's verdicts, on the base and on its random-init control, should have stopped moving on
    every curve that is read), and `why` names the curve that decided it. `param` is the chapter parameter
    that budget sets. One seed per curve (one-line errors for a curve without its untrained point, missing
    outcomes, or several seeds)."""
    rows = []
    for m, g in table.groupby("method", sort=False):
        fix = f"recompute it with {COMPUTE} --methods {m}"
        if g.groupby(["start", "steps"]).size().max() > 1:
            raise ValueError(f"{m}: several seeds per budget; book_budgets reads one seed (filter the table by seed)")
        picks, gain = {}, False
        for s in g.start.unique():
            rows_s = g[g.start == s]
            if 0 not in set(rows_s.steps):
                raise ValueError(f"{m} from {s} has no untrained (steps 0) row; {fix}")
            for col in filled(rows_s):  # a method is read on the measures it was measured on
                name = MEASURES[col]
                keys = {int(r.steps): outcome_key(m, s, r.steps, r.seed, col) for r in rows_s.itertuples()}
                missing = [k for k in keys.values() if k not in outcomes]
                if missing:
                    raise ValueError(f"no per-item outcomes for {missing[0]}; {fix}")
                curve = {b: outcomes[k] for b, k in keys.items()}
                picks[(s, name)] = choose_budget(curve, resamples, seed)
                if s == "base" and col == filled(g)[0]:
                    gain = measurable_gain(curve, resamples, seed)
        if not picks:
            raise ValueError(f"{m} has no measured values; {fix}")
        (start, measure), (steps, why) = max(picks.items(), key=lambda kv: kv[1][0])
        first = MEASURES[filled(g)[0]]
        rows.append({"method": m, "label": label_of(g), "param": param_of(g), "book steps": steps,
                     **{f"{s}, {n}": p[0] for (s, n), p in picks.items()}, "why": f"{measure} from {start}: {why}",
                     f"{first} gain from base": "measurable" if gain else "none measurable"})
    return pd.DataFrame(rows).set_index("method")


def filled(rows: pd.DataFrame) -> list[str]:
    """The measures (`MEASURES` columns) that `rows` hold values of, in `MEASURES` order."""
    return [c for c in MEASURES if c in rows and rows[c].notna().any()]


def label_of(rows: pd.DataFrame) -> str:
    """A method's label as its rows store it."""
    return str(rows.label.iloc[0]) if "label" in rows and rows.label.notna().any() else str(rows.method.iloc[0])


def param_of(rows: pd.DataFrame) -> str:
    """The chapter parameter a method's budget sets (`steps` unless its rows say otherwise)."""
    return str(rows.param.iloc[0]) if "param" in rows and rows.param.notna().any() else "steps"


# A chapter's book run (every seed) must fit one working session: 2 h on the 2-core machine. Built alone
# (`xalign build --preset book --notebook X`), a chapter runs its extra seeds side by side, one thread each,
# and then the first seed, which combines them (`build.execute_seeds`): 3 seeds on 2 cores take two rounds
# of one seed's run, so 3 seeds may cost 3/2 x 2 h of one core (`session_limit`). The curves' timings are
# of one thread, like each seed's run.
SESSION_S = 7200
CORES = 2


def session_limit(seeds: int, cores: int = CORES, session_s: float = SESSION_S) -> float:
    """Seconds of one core that `seeds` runs of a chapter may cost to finish within `session_s` on `cores`
    cores: the extra seeds run `cores` at a time, then the combining first seed."""
    if seeds < 1 or cores < 1:
        raise ValueError(f"seeds and cores must be at least 1; got {seeds}, {cores}")
    rounds = math.ceil((seeds - 1) / cores) + 1
    return session_s * seeds / rounds


def training_cost(table: pd.DataFrame, seeds: int) -> pd.Series:
    """Seconds of training per stored budget, as the curves timed it (`train_s`, one thread, summed over the
    methods and starts in `table`), times `seeds` runs. An estimate from below of a chapter's run: it also
    trains variants with no curve (controls, sweeps), evaluates, and runs its references."""
    if seeds < 1:
        raise ValueError(f"seeds must be at least 1; got {seeds}")
    if "train_s" not in table:
        raise ValueError(f"the curves carry no train_s timings; recompute them with {COMPUTE}")
    cost = table[table.steps > 0].groupby("steps").train_s.sum().sort_index() * seeds
    if cost.empty:
        raise ValueError(f"no trained rows to time; recompute the curves with {COMPUTE}")
    return cost


def _cost_at(table: pd.DataFrame, budgets: dict[str, int], seeds: int) -> float:
    """Seconds of training of `seeds` runs when each parameter trains its budget (`budgets`: param -> steps):
    every method and start at the stored budget its parameter trains (the nearest stored one at or below it),
    and beyond a method's largest stored budget its time there scaled by the steps (linear)."""
    total = 0.0
    for (m, s), g in table[table.steps > 0].groupby(["method", "start"], sort=False):
        want = budgets.get(param_of(g), 0)
        g = g.sort_values("steps")
        at = g[g.steps <= want]
        if at.empty:
            continue
        last = at.iloc[-1]
        total += float(last.train_s) * (want / float(last.steps) if int(last.steps) == int(g.steps.max()) else 1.0)
    return total * seeds


def affordable_steps(table: pd.DataFrame, seeds: int, limit_s: float | None = None) -> int:
    """The largest stored budget whose `training_cost` fits `limit_s` (default: `session_limit`; the smallest
    when none does)."""
    limit_s = session_limit(seeds) if limit_s is None else limit_s
    cost = training_cost(table, seeds)
    fits = cost[cost <= limit_s]
    return int(fits.index.max()) if not fits.empty else int(cost.index.min())


def capped(table: pd.DataFrame, picks: dict[str, int], seeds: int,
           limit_s: float | None = None) -> dict[str, tuple[int, str]]:
    """Each parameter's pick (`picks`: param -> the largest `book_budgets` of its methods) capped, when the
    chapter's training at those picks (`_cost_at`, `seeds` runs) does not fit `limit_s` (default
    `session_limit(seeds)`), at the largest stored
    budget `c` such that every parameter trained at min(pick, c) fits (the issue's "or the largest you can
    afford, said so"). The estimate sums the curves' timings of the methods that have curves. Returns
    param -> (steps, why)."""
    limit_s = session_limit(seeds) if limit_s is None else limit_s
    need = _cost_at(table, picks, seeds)
    h = f"{limit_s / 3600:.1f} h of one core ({SESSION_S / 3600:.0f} h on {CORES} cores)"
    if need <= limit_s:
        return {p: (b, f"read off the curves below ({need / 3600:.1f} h of training for {seeds} seeds by "
                       f"the curves' timings, within {h})") for p, b in picks.items()}
    ceilings = sorted({int(b) for b in table.steps if b > 0}, reverse=True)
    for c in ceilings:
        at = {p: min(b, c) for p, b in picks.items()}
        cost = _cost_at(table, at, seeds)
        if cost <= limit_s:
            break
    else:  # not even the smallest stored budget fits: train that and say so
        at = {p: min(b, ceilings[-1]) for p, b in picks.items()}
        cost = _cost_at(table, at, seeds)
        return {p: (at[p], f"the curves ask for {b:,} steps ({need / 3600:.1f} h for {seeds} seeds by the "
                           f"curves' timings); even the smallest stored budget ({cost / 3600:.1f} h) exceeds "
                           f"{h}: the smallest measured, not a plateau") for p, b in picks.items()}
    return {p: (at[p], f"read off the curves below ({b:,} steps)" if at[p] == b else
                (f"the curves ask for {b:,} steps; the chapter's training at its picks would take "
                 f"{need / 3600:.1f} h for {seeds} seeds by the curves' timings (the methods with curves), "
                 f"so it is capped at the largest stored budget that fits {h} ({cost / 3600:.1f} h): the "
                 f"largest afforded, not a plateau")) for p, b in picks.items()}


def chapter_budgets(chapter: str, path: Path | str = CURVES, resamples: int = 10_000,
                    seeds: int | None = None) -> dict[str, tuple[int, str]] | None:
    """The training budget of each budget parameter of `chapter` (`steps`, and e.g. `lang_steps`) at a preset
    whose budgets come from the curves (`Preset.curve_budgets`: `book`) and why: per parameter the largest
    book budget of the methods it trains (one parameter trains all of them), `capped` for the book preset's
    seeds. None for a chapter without stored curves."""
    table = read_curves(path)
    if not chapters_of(table).map(lambda cs: chapter in cs).any():
        return None
    from .presets import get_preset

    table = of_chapter(table, chapter)
    picks = book_budgets(table, read_outcomes(path), resamples, seed=0)
    per_param = {p: int(g["book steps"].max()) for p, g in picks.groupby("param", sort=False)}
    return capped(table, per_param, seeds or len(get_preset("book").seeds))


def chapter_steps(chapter: str, path: Path | str = CURVES, resamples: int = 10_000) -> dict[str, int] | None:
    """`chapter_budgets`' steps per parameter (None for a chapter without curves: it keeps its defaults)."""
    got = chapter_budgets(chapter, path, resamples)
    return None if got is None else {p: steps for p, (steps, _) in got.items()}


def of_chapter(table: pd.DataFrame, chapter: str) -> pd.DataFrame:
    """The stored rows of the methods `chapter` trains (one-line error when it has none)."""
    rows = table[chapters_of(table).map(lambda cs: chapter in cs)]
    if rows.empty:
        raise ValueError(f"no budget curves stored for {chapter}; compute them with {COMPUTE} --chapter {chapter}")
    return rows


def curve_table(table: pd.DataFrame) -> pd.DataFrame:
    """Weak P@1 and application accuracy per method and start (rows) and budget (columns)."""
    labels = {m: label_of(g) for m, g in table.groupby("method", sort=False)}
    out = table.assign(method=table.method.map(labels))
    return out.pivot_table(index=["method", "start"], columns="steps", values=filled(table), sort=False,
                           dropna=False).rename(columns=MEASURES, level=0).dropna(how="all", axis=1)


def glue_key(param: str, name: str) -> str:
    """The glue key of `name` for the methods whose budget `param` sets: `budget_<name>` for `steps`,
    `budget_<prefix>_<name>` for `<prefix>_steps` (e.g. `budget_lang_book_steps`)."""
    return f"budget_{name}" if param == "steps" else f"budget_{param.removesuffix('_steps')}_{name}"


def glue_chapter(table: pd.DataFrame, picks: pd.DataFrame, steps: int | dict[str, int], outcomes: dict[str, np.ndarray],
                 preset: str = "ci", resamples: int = 10_000, seed: int = 0) -> dict[str, str]:
    """Glue what the chapter's prose says about its curves, per budget parameter (`steps`: the chapter's value of
    each, {param: value}; an int is the `steps` parameter), under `glue_key(param, name)`:
    - `run_steps` (the chapter's value) and `run_why` (where that budget comes from);
    - `largest` (the largest budget measured), `picks` (each method's book budget and why, from
      `book_budgets`) and `chapter_steps` (the largest of them), and `book_steps` / `book_why`: what the
      parameter trains at the book preset (`capped`: that largest pick, or the largest afforded);
    - `ci_steps` (the stored budget nearest the chapter's) and `ci_gain`: per method, from the base, the gain
      over the untrained model on its first measure (weak P@1 where measured) at that budget and at the
      largest, each with its paired 95 % interval over the same items;
    and `budget_commit` (the code that computed the curves)."""
    from . import metrics
    from .presets import get_preset
    from .record import glue_text

    run = steps if isinstance(steps, dict) else {"steps": int(steps)}
    per_param = {p: int(g["book steps"].max()) for p, g in picks.groupby("param", sort=False)}
    unknown = sorted(set(per_param) - set(run))
    if unknown:
        raise ValueError(f"give the chapter's value of {', '.join(unknown)} (steps={{name: value}})")
    book = capped(table, per_param, len(get_preset("book").seeds))
    curve_set = get_preset(preset).curve_budgets
    texts = {"budget_commit": ", ".join(sorted(set(table.commit.astype(str))))}
    for param, pick in per_param.items():
        rows = table[table.method.isin(picks.index[picks.param == param])]
        gains = []
        measured = sorted(set(rows.steps) - {0})
        near = min(measured, key=lambda b: (abs(b - run[param]), b))  # the stored budget closest to the chapter's
        for m, g in rows[rows.start == "base"].groupby("method", sort=False):
            col = filled(g)[0]
            at = {int(r.steps): outcomes.get(outcome_key(m, "base", r.steps, r.seed, col)) for r in g.itertuples()}
            top = max(at)
            if at.get(0) is None or at.get(near) is None or at.get(top) is None:
                continue
            iv_near = metrics.compare(at[near], at[0], resamples, seed)[0]
            iv_top = metrics.compare(at[top], at[0], resamples, seed)[0]
            what = "" if col == "weak_p1" else f" ({MEASURES[col]})"
            gains.append(f"{label_of(g)}{what} {iv_near}" + ("" if top == near else f" (at {top:,}: {iv_top})"))
        book_steps, book_why = book[param]
        mine = picks[picks.param == param]
        got = {"run_steps": f"{run[param]:,}",
               "run_why": f"the book budget, {book_why}" if curve_set else f"the {preset} preset's budget, set by CPU time",
               "book_steps": f"{book_steps:,}", "book_why": book_why,
               "largest": f"{int(rows.steps.max()):,}",
               "picks": "; ".join(f"{r['label']}, {int(r['book steps']):,} steps ({r['why']})" for _, r in mine.iterrows()),
               "chapter_steps": f"{pick:,}", "ci_steps": f"{near:,}",
               "ci_gain": "; ".join(gains) or "no method has both points"}
        texts.update({glue_key(param, k): v for k, v in got.items()})
    for k, v in texts.items():
        glue_text(k, v)
    return texts


def fig_curves(table: pd.DataFrame, chapter: str | None = None, outcomes: dict[str, np.ndarray] | None = None):
    """Each measure the table's methods fill (weak P@1, application accuracy, correct output language) against
    training steps (log scale, ticks at the measured budgets;
    the untrained model is the point labelled 0 at the left), from the base (solid) and from random init
    (dashed), one colour per method; with `outcomes`, each point's 95 % interval over items."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    from . import metrics

    if chapter is not None:
        table = of_chapter(table, chapter)
    n = table.method.nunique()
    shown = {c: MEASURES[c] for c in filled(table)}
    fig, axes = plt.subplots(1, len(shown), figsize=(4.5 * len(shown), 3.4 + 0.18 * max(0, n - 3)), squeeze=False)
    axes = axes[0]
    colours = dict(zip(table.method.unique(), plt.rcParams["axes.prop_cycle"].by_key()["color"] * 3))
    budgets = sorted(set(table.steps) - {0})
    left = budgets[0] / 4 if budgets else 1  # where the untrained point is drawn
    for ax, (col, name) in zip(axes, shown.items()):
        for (m, s), g in table.groupby(["method", "start"], sort=False):
            g = g[g[col].notna()].sort_values("steps")
            if g.empty:
                continue
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
    labels = {m: label_of(g) for m, g in table.groupby("method", sort=False)}
    handles = [Line2D([], [], color=colours[m], label=labels[m]) for m in colours]
    handles += [Line2D([], [], color="0.3", linestyle="-", marker="o", markersize=3, label="from the base"),
                Line2D([], [], color="0.3", linestyle="--", marker="s", markersize=3, label="from random init")]
    if n <= 3:
        axes[0].legend(handles=handles, fontsize=7)
        fig.tight_layout()
    else:  # many methods: one legend under both panels
        fig.legend(handles=handles, fontsize=7, loc="lower center", ncol=3, frameon=False)
        fig.tight_layout(rect=(0, 0.055 * ((len(handles) + 2) // 3), 1, 1))
    plt.close(fig)
    return fig


