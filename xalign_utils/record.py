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

DEFAULT_ABS_TOL = 0.03
DEFAULT_REL_TOL = 0.05


class Formatted:
    """A value whose plain-text representation is its formatted string (glued without quotes)."""

    def __init__(self, value, fmt: str):
        self.value, self.fmt = value, fmt

    def __repr__(self) -> str:
        return format(self.value, self.fmt)


def metrics_path() -> Path:
    return Path(os.environ.get("XALIGN_METRICS_PATH", "metrics.json"))


def default_tolerance(value: float) -> float:
    """Absolute tolerance used when a notebook states none: max(0.03, 5% of |value|)."""
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
