"""Chapter 07 (synthesis): the glue of its correlations, ledger and controls, its figures, and the
leaderboard file. The logic (checks, verdicts, correlations) lives in `xalign_utils.ledger`."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from .. import ledger, plot
from ..record import glue_text, record

HOW = {"variant means": "variant", "per language, pooled": "pooled", "per language, within languages": "within"}
TASK_LABEL = {"pos_accuracy": "POS accuracy", "apps_accuracy": "apps accuracy"}


def languages(rows: pd.DataFrame) -> list[str]:
    """English and the target languages of chapter 01's weak P@1 rows (the languages it was built with)."""
    mine = rows[(rows.notebook == "01_parallel_data") & (rows.measure == "p_at_1_cosine") & (rows.tgt != "en")]
    return ["en", *sorted(mine.tgt.unique())]


def leaderboard(rows: pd.DataFrame, floors: pd.DataFrame) -> pd.DataFrame:
    """`ledger.leaderboard` without the variants that have none of its measures."""
    board = ledger.leaderboard(rows, floors)
    return board.dropna(how="all", subset=[c for c in board.columns
                                           if c not in ("chapter", "variant", "seeds", "layer")])


def publish_leaderboard(board: pd.DataFrame, floors: pd.DataFrame, build_dir: Path, preset: str) -> Path:
    """Glue how many variants the leaderboard lists (`n_variants`, the floor rows not counted) and
    write it as a CSV (`write_leaderboard`); returns the file."""
    glue_text("n_variants", str(len(board) - len(floors)))
    return write_leaderboard(board, build_dir, preset)


def write_leaderboard(board: pd.DataFrame, build_dir: Path, preset: str) -> Path:
    """The leaderboard as `<build>/results/<preset>-leaderboard.csv` (for readers who sort elsewhere)."""
    from ..cache import atomic_write_text

    path = Path(build_dir) / "results" / f"{preset}-leaderboard.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, board.to_csv(index=False))
    return path


def correlation_key(row) -> str:
    """`rho_<measure>_<task>_<how>`, e.g. `rho_weak_pos_within`."""
    return (f"rho_{row['View I measure'].split()[0].lower()}_{row['transfer task'].split('_')[0]}"
            f"_{HOW[row['how']]}")


def publish_correlations(corr: pd.DataFrame, points: pd.DataFrame, floors: pd.DataFrame) -> str:
    """Record every ρ (tolerance 0.1: a rank correlation over 20-40 variants moves ~0.05 per swapped
    pair), glue its interval, and glue the two summary sentences (`corr_summary`, `majority_summary`),
    each chosen from the intervals and counts. Returns both sentences."""
    for _, r in corr.iterrows():
        key = correlation_key(r)
        record(key, r.rho, tol=0.1)
        glue_text(key + "_iv", r.interval)
    task = {"pos_accuracy": "POS", "apps_accuracy": "application"}
    variant = corr[corr.how == "variant means"]
    above = [f"{r['View I measure']} ({task[r['transfer task']]})" for _, r in variant[variant.low > 0].iterrows()]
    summary = ("Across variants, a rank correlation above zero is found for " + ", ".join(above) + "." if above
               else "Across variants, no View I measure's rank correlation with either task is distinguishable "
                    "from zero.")
    within = corr[corr.how == "per language, within languages"]
    kept = [task[t] for t in within[within.low > 0]["transfer task"]]
    summary += (f" Within languages, weak P@1 predicts {' and '.join(kept)} accuracy" if kept else
                " Within languages, weak P@1 predicts neither task distinguishably from zero") + \
        " (the language partialled out); which measure predicts best is not tested (no paired interval of ρ differences)."
    glue_text("corr_summary", summary)
    means = points.groupby(["notebook", "variant", "seed"])[list(ledger.TRANSFER)].mean()
    beat = {t: int((means[t].dropna() > floors["majority class"][n]).sum()) for t, n in TASK_LABEL.items()}
    majority = (f"Mean POS accuracy is above the majority class for {beat['pos_accuracy']} of these "
                f"{means.pos_accuracy.notna().sum()} variants, application accuracy for {beat['apps_accuracy']} of "
                f"{means.apps_accuracy.notna().sum()}: at this scale the heads read little that transfers, so these "
                "correlations rest on small differences near the floor.")
    glue_text("majority_summary", majority)
    return summary + " " + majority


def fig_alignment_transfer(points: pd.DataFrame, floors: pd.DataFrame):
    """View I (columns) against View II (rows): per variant and language for weak P@1 (coloured by
    target language), per variant for the pooled measures; dotted chance, dashed the majority class."""
    fig, axes = plt.subplots(2, 3, figsize=(10, 6), sharey="row")
    for row, task in enumerate(ledger.TRANSFER):
        for ax, measure in zip(axes[row], ledger.VIEW_ONE):
            p = points.dropna(subset=[task])
            if measure != "weak P@1":  # pooled measures: one point per variant, mean transfer over languages
                p = p.groupby(["notebook", "variant", "seed"], as_index=False).agg({measure: "first", task: "mean"})
                ax.scatter(p[measure], p[task], s=18, color="0.3")
            else:
                for lang, g in p.groupby("lang"):
                    ax.scatter(g[measure], g[task], s=14, color=plot.lang_color(lang), label=lang)
            ax.axhline(floors["chance"][TASK_LABEL[task]], color="0.2", linestyle=":", linewidth=1)
            ax.axhline(floors["majority class"][TASK_LABEL[task]], color="C3", linestyle="--", linewidth=1)
            ax.set_xlabel(measure)
            ax.set_ylabel(task.replace("_", " ") if measure == "weak P@1" else "")
    axes[0, 0].legend(fontsize=7, ncol=2, title="target")
    fig.tight_layout()
    plt.close(fig)
    return fig


def publish_findings(findings, table: pd.DataFrame) -> pd.Series:
    """Glue each finding's verdict, evidence and caveats (`f<N>_verdict`, ...), record every check's
    interval (`f<N>_check<i>`, `_low`, `_high`) and glue the verdict counts of the ledger `table`
    (`ledger.ledger_table`); returns the counts."""
    for f in findings:
        glue_text(f"f{f.number}_verdict", f.verdict)
        glue_text(f"f{f.number}_evidence", f.evidence())
        glue_text(f"f{f.number}_caveats", ", ".join(f.caveats) or "none")
        for i, c in enumerate(f.checks):
            for bound in ("diff", "low", "high"):
                record(f"f{f.number}_check{i + 1}" + ("" if bound == "diff" else f"_{bound}"),
                       getattr(c.interval, bound))
    counts = table.verdict.value_counts()
    glue_text("ledger_counts", ", ".join(f"{n} {v}" for v, n in counts.items()))
    glue_text("n_findings", str(len(findings)))
    return counts


def chapter_link(chapter: str) -> str:
    """The ledger's link to a chapter page ("all" for checks that read every chapter)."""
    if chapter == "all":
        return "all chapters"
    if " vs " in chapter:  # a check across two chapters
        return " vs ".join(chapter_link(c) for c in chapter.split(" vs "))
    return f'<a href="{chapter}.html">{chapter.split("_")[0]}</a>'  # 00b_emergence -> 00b


def fig_ledger(findings):
    """Every check of the ledger as a paired interval, numbered by finding, coloured by its verdict."""
    checks = [(f"{f.number}. {c.text}", c) for f in findings for c in f.checks]
    fig, ax = plt.subplots(figsize=(9, 0.34 * len(checks) + 1))
    plot.interval_bars([t if len(t) < 70 else t[:67] + "…" for t, _ in checks], [c.interval for _, c in checks],
                       [c.verdict for _, c in checks], ax)
    plt.close(fig)
    return fig


def publish_controls(controls: pd.DataFrame) -> None:
    """Glue how many random-init reruns agree with the base's verdict; record each rerun's difference."""
    glue_text("ri_same", f"{(controls.verdict == controls['random-init verdict']).sum()} of {len(controls)}")
    for i, iv in enumerate(controls["from random init"]):
        record(f"ri_check{i + 1}", iv.diff)


def publish_pretraining(pretraining: pd.DataFrame):
    """Glue how often the base start is worse / better on weak P@1 and draw those intervals."""
    weak = pretraining.dropna(subset=["p_at_1_cosine"])
    glue_text("pretrain_worse", f"{(weak['p_at_1_cosine verdict'] == 'worse').sum()} of {len(weak)}")
    glue_text("pretrain_better", f"{(weak['p_at_1_cosine verdict'] == 'better').sum()}")
    fig, ax = plt.subplots(figsize=(8, 0.34 * len(weak) + 1))
    plot.interval_bars(weak.chapter + " " + weak.method, list(weak.p_at_1_cosine),
                       list(weak["p_at_1_cosine verdict"]), ax,
                       xlabel="weak P@1 en→X: on the base − on the random-init control (95 % interval)")
    plt.close(fig)
    return fig


def publish_ends(checks) -> dict[int, str]:
    """Glue the checks at both ends of scale (`ledger.end_checks`), one sentence list per finding they bear
    on (`ends_f<N>`, "none" where a finding has none in this build) and their count (`n_end_checks`); record
    each interval (`end<i>`, `_low`, `_high`). Returns {finding: its sentence}."""
    from ..ledger import FINDINGS

    by = {}
    for i, (e, c) in enumerate(checks):
        by.setdefault(e.finding, []).append(f"{c.text}: {c.interval}, {c.verdict} (chapter {e.chapter.split('_')[0]})")
        for bound in ("diff", "low", "high"):
            record(f"end{i + 1}" + ("" if bound == "diff" else f"_{bound}"), getattr(c.interval, bound))
    out = {n: "; ".join(by.get(n, [])) or "none in this build" for n in range(1, len(FINDINGS) + 1)}
    for n, text in out.items():
        glue_text(f"ends_f{n}", text)
    glue_text("n_end_checks", str(len(checks)))
    return out
