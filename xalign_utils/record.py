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

from .cache import atomic_write_text, readable

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


def glue_verdict(key: str, result, better: str, worse: str, inconclusive: str) -> str:
    """Glue a `compare` result (interval, verdict) for the prose: `iv_<key>` the interval and
    `verdict_<key>` the phrase for its verdict (`findings.says`). Returns the phrase."""
    from .findings import says

    iv, verdict = result
    glue_text(f"iv_{key}", str(iv))
    return glue_text(f"verdict_{key}", says(verdict, better, worse, inconclusive))


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


def items_path(results_csv: str | Path) -> Path:
    """Where the per-item outcomes beside a results CSV go: `x.csv` -> `x.items.npz`."""
    return Path(results_csv).with_suffix(".items.npz")


def record_results(variant: str, table, family: str = "base", seed: int = 0, n: int | None = None,
                   replace: bool = False):
    """Append the tidy rows of one evaluated model variant to this notebook's results file.

    `table` is either a DataFrame with columns `measure` and `value` and optionally `src`, `tgt`,
    `layer`, `n` (as `evaluate_alignment` and `transfer.tidy` produce), or an evaluation object
    (`harness.VariantEval`, `generative.DecoderEval`): its `.tidy()` gives the rows and its
    `.item_outcomes()` (measure -> column -> 1-D per-item outcomes) goes to the items file beside the
    results file (`items_path`, read back with `read_items`), so that a later chapter can compare any
    two variants on the same items (`metrics.compare`). A DataFrame stores no per-item outcomes.

    Every row gets the notebook, variant, family and seed; `xalign build` collects every notebook's
    rows into `_build/results/<preset>.csv` (schema: `RESULT_COLUMNS`, see the README). A (variant,
    seed) recorded twice by one run of a notebook is an error (pass `replace=True` when re-running a
    cell on purpose: its rows and per-item outcomes are replaced). The first call of a run starts both
    files afresh (a stale items file of an earlier run is removed).
    """
    import pandas as pd

    if not variant or not isinstance(variant, str):
        raise ValueError("record_results needs a variant name (a non-empty string)")
    outcomes = None
    if not isinstance(table, pd.DataFrame) and callable(getattr(table, "tidy", None)):
        if callable(getattr(table, "item_outcomes", None)):
            outcomes = _checked_outcomes(variant, table.item_outcomes())
        table = table.tidy()
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
    _record_items(items_path(path), variant, seed, outcomes, first_write)
    seen.add((variant, seed))
    return rows


def _checked_outcomes(variant: str, outcomes) -> dict[str, dict[str, "np.ndarray"]]:
    """`item_outcomes()` as measure -> column -> finite 1-D float64 arrays (refused otherwise)."""
    import numpy as np

    checked = {}
    for measure, columns in dict(outcomes).items():
        if not isinstance(measure, str) or not measure:
            raise ValueError(f"variant {variant!r}: per-item measure names must be non-empty strings; got {measure!r}")
        checked[measure] = {}
        for column, values in dict(columns).items():
            if not isinstance(column, str) or not column:
                raise ValueError(f"variant {variant!r}, {measure}: column names must be non-empty strings; got {column!r}")
            arr = np.asarray(values, dtype=np.float64)
            if arr.ndim != 1 or not len(arr):
                raise ValueError(f"variant {variant!r}, {measure} [{column}]: per-item outcomes must be a non-empty "
                                 f"1-D array; got shape {arr.shape}")
            if not np.isfinite(arr).all():
                raise ValueError(f"variant {variant!r}, {measure} [{column}]: per-item outcomes must be finite")
            checked[measure][column] = arr
    return checked


def _record_items(path: Path, variant: str, seed: int, outcomes, first_write: bool) -> None:
    """Add (or, for the same variant and seed, replace) one variant's per-item outcomes in `path`."""
    stored = read_items(path) if path.exists() and not first_write else {}
    dropped = stored.pop((variant, int(seed)), None) is not None
    if outcomes:
        stored[(variant, int(seed))] = outcomes
    elif not dropped and not (first_write and path.exists()):
        return  # nothing stored for this variant, nothing stale to drop: the file is left as it is
    if stored:
        write_items(path, stored)
    else:
        path.unlink(missing_ok=True)


_INDEX = "index"  # the npz member holding the JSON list of [variant, seed, measure, column], one per array


def write_items(path: str | Path, items: dict) -> None:
    """Write {(variant, seed): {measure: {column: 1-D array}}} to `path` (atomically, byte-reproducible).

    The file is an npz archive (`np.load` reads it): member `index` is a JSON list of [variant, seed,
    measure, column], and member `a<i>` the float64 outcomes of the i-th entry, so names may hold any
    character. Members carry a fixed timestamp, so the same outcomes give the same bytes (the build
    hashes this file to decide whether chapters that read it must rerun)."""
    import tempfile
    import zipfile

    import numpy as np

    path = Path(path)
    index, arrays = [], []
    for (variant, seed), measures in sorted(items.items(), key=lambda kv: (kv[0][0], int(kv[0][1]))):
        for measure in sorted(measures):
            for column in sorted(measures[measure]):
                index.append([variant, int(seed), measure, column])
                arrays.append(np.ascontiguousarray(measures[measure][column], dtype=np.float64))
    members = [(_INDEX, np.array(json.dumps(index, ensure_ascii=False)))]
    members += [(f"a{i}", a) for i, a in enumerate(arrays)]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    readable(fd)
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, arr in members:
                info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_items(path: str | Path) -> dict[tuple[str, int], dict[str, dict[str, "np.ndarray"]]]:
    """A notebook's per-item outcomes (`items_path` of its results CSV): {(variant, seed): {measure:
    {column: float64 1-D array}}}, as `record_results` stored them."""
    import numpy as np

    out: dict = {}
    with np.load(path, allow_pickle=False) as npz:
        if _INDEX not in npz.files:
            raise ValueError(f"{path} is not a per-item outcomes file (no {_INDEX!r} member)")
        for i, (variant, seed, measure, column) in enumerate(json.loads(str(npz[_INDEX]))):
            out.setdefault((variant, int(seed)), {}).setdefault(measure, {})[column] = npz[f"a{i}"]
    return out


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
