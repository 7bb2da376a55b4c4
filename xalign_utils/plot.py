"""One look for every figure: a colour per language (the same across the book) and small helpers.

Introduced in notebook 00_measuring_alignment.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .languages import LANGUAGES

_CMAP = plt.get_cmap("tab20")
PALETTE = {code: _CMAP(i % 20) for i, code in enumerate(LANGUAGES)}
CONTROL_STYLE = {"color": "0.55", "linestyle": "--"}


def lang_color(lang: str):
    """The book-wide colour of a language."""
    return PALETTE.get(lang, "0.3")


def setup() -> None:
    """Matplotlib defaults for the book (readable sizes, high-dpi PNG)."""
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 160, "axes.spines.top": False,
                         "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3,
                         "figure.figsize": (7, 3.8), "font.size": 10})


def layer_curves(table: pd.DataFrame, measure: str, ax=None, control: pd.DataFrame | None = None,
                 src: str = "en", chance: float | None = None, ylabel: str | None = None):
    """One line per target language: `measure` (src -> tgt) against layer; dashed: the control."""
    ax = ax or plt.gca()
    t = table[(table.measure == measure) & (table.src == src)]
    for tgt, g in t.groupby("tgt"):
        ax.plot(g.layer, g.value, marker="o", color=lang_color(tgt), label=f"{src}→{tgt}")
    if control is not None:
        c = control[(control.measure == measure) & (control.src == src)].groupby("layer").value.mean()
        ax.plot(c.index, c.values, label="random-init (mean)", **CONTROL_STYLE)
    if chance is not None:
        ax.axhline(chance, color="0.2", linestyle=":", linewidth=1, label="chance")
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel(ylabel or measure)
    ax.set_xticks(sorted(t.layer.unique()))
    ax.legend(fontsize=8, ncol=2)
    return ax


def heatmap(matrix: pd.DataFrame, ax=None, title: str = "", fmt: str = ".2f", cmap: str = "viridis"):
    """Annotated heat map of a src x tgt matrix."""
    ax = ax or plt.gca()
    im = ax.imshow(matrix.values, cmap=cmap, vmin=np.nanmin(matrix.values), vmax=np.nanmax(matrix.values))
    ax.set_xticks(range(matrix.shape[1]), matrix.columns)
    ax.set_yticks(range(matrix.shape[0]), matrix.index)
    ax.grid(False)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            v = matrix.values[i, j]
            if np.isfinite(v):
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=8, color="w")
    ax.set_title(title)
    plt.colorbar(im, ax=ax, fraction=0.046)
    return ax


VERDICT_COLORS = {"better": "tab:green", "reproduced": "tab:green", "worse": "tab:red", "not reproduced": "tab:red",
                  "inconclusive": "0.45", "inconclusive at this scale": "0.45"}


def interval_bars(labels, intervals, verdicts=None, ax=None, xlabel: str = "difference a − b (95 % interval)"):
    """One horizontal bar per paired interval (`metrics.Interval`: mean and bounds), top to bottom in the
    order given, coloured by its verdict; the vertical line is 0 (no difference)."""
    ax = ax or plt.gca()
    y = np.arange(len(labels))[::-1]
    for yi, iv, v in zip(y, intervals, verdicts or [None] * len(labels)):
        color = VERDICT_COLORS.get(v, "tab:blue")
        ax.plot([iv.low, iv.high], [yi, yi], color=color, linewidth=3, solid_capstyle="butt")
        ax.plot([iv.diff], [yi], "o", color=color, markersize=4)
    ax.axvline(0, color="0.2", linewidth=1)
    ax.set_yticks(y, labels)
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", visible=False)
    return ax


def _bounds(intervals):
    """(means, lows, highs) of `metrics.Interval`s or of (mean, low, high) triples."""
    rows = [(iv.diff, iv.low, iv.high) if hasattr(iv, "diff") else tuple(iv) for iv in intervals]
    if not rows:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    return tuple(np.asarray(col, dtype=float) for col in zip(*rows))


def interval_lines(xs, intervals, ax=None, fmt: str = "o-", label: str | None = None, **kw):
    """A curve through the means of paired intervals at positions `xs` (a budget, a layer, a size), each
    with its bounds as an error bar: `metrics.Interval`s or (mean, low, high) triples. The companion of
    `interval_bars` for intervals along an axis; returns the axes."""
    ax = ax or plt.gca()
    mean, low, high = _bounds(intervals)
    if len(mean) != len(xs):
        raise ValueError(f"{len(xs)} positions but {len(mean)} intervals")
    ax.errorbar(xs, mean, yerr=[mean - low, high - mean], fmt=fmt, capsize=3, label=label, **kw)
    return ax
