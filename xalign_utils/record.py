"""`record(name, value)`: one call that glues a number for the prose and logs it for regression.

Introduced in notebook 00_measuring_alignment. The value is glued with myst-nb (prose cites it as
{glue:}`name`, so the text changes with the data) and written to the notebook's `metrics.json`
(`$XALIGN_METRICS_PATH`, set by `xalign build`/`xalign run`; `./metrics.json` otherwise), which
`xalign check` compares with `tests/reference/<preset>/`.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .cache import atomic_write_text

DEFAULT_ABS_TOL = 0.01  # float differences across CPUs move a P@1 on 409 items by far less; 0.03 let small values change sign
DEFAULT_REL_TOL = 0.05


class Formatted:
    """A value whose plain-text representation is its formatted string (glued without quotes)."""

    def __init__(self, value, fmt: str):
        self.value, self.fmt = value, fmt

    def __repr__(self) -> str:
        return format(self.value, self.fmt)


def glue_text(name: str, text: str) -> str:
    """Glue a sentence for the prose as plain text (cite it with {glue:text}`name`, no quotes, no
    code font): verdicts and statuses computed by the notebook, never typed."""
    from myst_nb import glue as _glue

    _glue(name, Text(text), display=False)
    return text


class Text:
    """A string whose text/plain representation is the string itself (not its quoted repr)."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def metrics_path() -> Path:
    return Path(os.environ.get("XALIGN_METRICS_PATH", "metrics.json"))


def default_tolerance(value: float) -> float:
    """Absolute tolerance used when a notebook states none: max(0.01, 5% of |value|)."""
    return max(DEFAULT_ABS_TOL, DEFAULT_REL_TOL * abs(value))


def record(name: str, value, fmt: str = ".3f", tol: float | None = None, glue: bool = True):
    """Glue `value` (formatted with `fmt`) as `name` and store it (with its tolerance) in metrics.json."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"metric name {name!r} must be letters, digits and underscores")
    if isinstance(value, (int, float)) or hasattr(value, "item"):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"metric {name!r} is {value}; a recorded number must be finite")
    else:
        raise TypeError(f"record() takes numbers; got {type(value).__name__} for {name!r}")
    if glue:
        try:
            from myst_nb import glue as _glue

            _glue(name, Formatted(value, fmt), display=False)
        except ImportError:  # pragma: no cover - myst-nb is a dependency
            pass
    path = metrics_path()
    current = json.loads(path.read_text()) if path.exists() else {}
    current[name] = {"value": value, "tol": default_tolerance(value) if tol is None else float(tol)}
    atomic_write_text(path, json.dumps(current, indent=1, sort_keys=True) + "\n")
    return value


# ---------------------------------------------------------------- the book-wide results table

RESULT_COLUMNS = ["notebook", "variant", "family", "src", "tgt", "layer", "measure", "value", "seed", "n"]
_recorded: dict[str, set[tuple[str, int]]] = {}  # results file -> (variant, seed) recorded by this process


def results_path() -> Path:
    """Where this notebook's result rows go: `$XALIGN_RESULTS_PATH` (set by the build), else ./results.csv."""
    return Path(os.environ.get("XALIGN_RESULTS_PATH", "results.csv"))


def notebook_name() -> str:
    """The running notebook's stem (`$XALIGN_NOTEBOOK`, set by the build), else 'interactive'."""
    return os.environ.get("XALIGN_NOTEBOOK", "interactive")


def record_results(variant: str, table, family: str = "base", seed: int = 0, n: int | None = None,
                   replace: bool = False):
    """Append the tidy rows of one evaluated model variant to this notebook's results file.

    `table` has columns `measure` and `value` and optionally `src`, `tgt`, `layer`, `n` (as
    `evaluate_alignment` and `transfer.tidy` produce). Every row gets the notebook, variant, family
    and seed; `xalign build` collects every notebook's rows into `_build/results/<preset>.csv`
    (schema: `RESULT_COLUMNS`, see the README). A (variant, seed) recorded twice by one run of a
    notebook is an error (pass `replace=True` when re-running a cell on purpose).
    """
    import pandas as pd

    if not variant or not isinstance(variant, str):
        raise ValueError("record_results needs a variant name (a non-empty string)")
    missing = {"measure", "value"} - set(table.columns)
    if missing:
        raise ValueError(f"record_results needs columns measure and value; missing {', '.join(sorted(missing))}")
    path = results_path()
    seen = _recorded.setdefault(str(path.resolve()), set())
    first_write = not seen
    if (variant, seed) in seen and not replace:
        raise ValueError(f"variant {variant!r} (seed {seed}) was already recorded by this notebook; give it another "
                         "name (or pass replace=True when re-running a cell)")
    rows = pd.DataFrame({
        "notebook": notebook_name(), "variant": variant, "family": family,
        "src": table["src"] if "src" in table else "all", "tgt": table["tgt"] if "tgt" in table else "all",
        "layer": table["layer"] if "layer" in table else -1, "measure": table["measure"],
        "value": table["value"].astype(float), "seed": seed,
        "n": table["n"] if "n" in table else (n if n is not None else -1),
    })[RESULT_COLUMNS]
    if not np_finite(rows["value"]):
        raise ValueError(f"variant {variant!r} has non-finite values; a recorded number must be finite")
    old = pd.read_csv(path) if path.exists() and not first_write else pd.DataFrame(columns=RESULT_COLUMNS)
    if replace:
        old = old[(old.variant != variant) | (old.seed != seed)]
    out = pd.concat([old, rows], ignore_index=True) if len(old) else rows
    atomic_write_text(path, out.to_csv(index=False))
    seen.add((variant, seed))
    return rows


def np_finite(values) -> bool:
    import numpy as np

    return bool(np.isfinite(np.asarray(values, dtype=float)).all())


def read_results(path: str | Path):
    """A results CSV (one notebook's or the collected table) as a DataFrame with `RESULT_COLUMNS`."""
    import pandas as pd

    table = pd.read_csv(path)
    missing = set(RESULT_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"{path} is not a results table (missing {', '.join(sorted(missing))})")
    return table[RESULT_COLUMNS]
