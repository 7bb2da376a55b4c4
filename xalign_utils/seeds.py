"""Intervals over training seeds inside a chapter: each seed is a run of the chapter, the last combines.

A preset with several seeds (`book`: 0, 1, 2) runs a chapter once per training seed (the `seed`
parameter: initialisation and data order of every method, and the random-init control; the pretrained
base is the shipped one). The chapter's code does not change: every interval it computes goes through
`metrics.paired_bootstrap`, and

- a run with `$XALIGN_SEED_RECORD` set writes each call's two per-item outcome arrays, in call order,
  into that folder (`00000.npz`, `00001.npz`, ...), with a signature of the call site;
- a run with `$XALIGN_SEED_COMBINE` (folders of other seeds' runs, `os.pathsep`-separated) stacks its own
  outcomes of the i-th call with theirs, so the interval is `metrics.seed_item_bootstrap` over
  (seeds, items): seeds resampled, then items, and the difference shown is the mean over seeds.

So the combining run (`xalign build` makes it seed 0, after the others) shows every interval and
verdict over seeds x items, while single values (a table of weak P@1 per variant) are its own seed's.
The calls must line up: the same call site and shapes at every position, and as many calls in every
run (`check_complete`); a chapter whose comparisons depend on a seed's results cannot be combined and
says so in one line.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

RECORD_ENV = "XALIGN_SEED_RECORD"
COMBINE_ENV = "XALIGN_SEED_COMBINE"
_count = {"calls": 0}


class SeedMismatchError(RuntimeError):
    """The runs of a chapter over several seeds made different comparisons."""


def reset() -> None:
    """Start counting calls afresh (a new run in the same process: tests)."""
    _count["calls"] = 0


def call_site(depth: int = 4) -> str:
    """Where `paired_bootstrap` was called from, the same in every seed's run of a chapter and different for
    different comparisons: for each caller outside this module and `metrics` (innermost first, up to and
    including the notebook cell), its function, line number and the text of that line; for a notebook cell
    also a hash of the whole cell (two cells with the same line at the same place differ). File paths are
    left out: kernels compile cells to temporary files."""
    import hashlib
    import linecache

    here = os.path.abspath(__file__)
    skip = {here, os.path.join(os.path.dirname(here), "metrics.py")}
    frame, parts = sys._getframe(1), []
    while frame is not None and len(parts) < depth:
        name = frame.f_code.co_filename
        if os.path.abspath(name) not in skip:
            text = linecache.getline(name, frame.f_lineno).strip()
            part = f"{frame.f_code.co_name}:{frame.f_lineno}:{text}"
            if frame.f_code.co_name == "<module>":  # a cell (or a script): the end of the chapter's own frames
                whole = "".join(linecache.getlines(name))
                parts.append(f"{part}#{hashlib.sha256(whole.encode()).hexdigest()[:12]}")
                break
            parts.append(part)
        frame = frame.f_back
    return " < ".join(parts)


def _dirs(env: str) -> list[Path]:
    return [Path(p) for p in os.environ.get(env, "").split(os.pathsep) if p]


def _write(folder: Path, i: int, a: np.ndarray, b: np.ndarray, site: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{i:05d}.npz"
    tmp = folder / f".{i:05d}.tmp.npz"
    np.savez_compressed(tmp, a=a, b=b, site=np.array(site))
    os.replace(tmp, final)


def _run(folder: Path) -> str:
    """A seed run's name for messages: `seed-1` for `.../seed-1/intervals`."""
    return Path(folder).parent.name if Path(folder).name == "intervals" else Path(folder).name


def outcomes_of_every_seed(a, b) -> tuple[np.ndarray, np.ndarray] | None:
    """Called by `metrics.paired_bootstrap` with one run's outcomes. Records them when this run records;
    when it combines, returns (A, B) of shape (seeds, n[, k]) with this run's outcomes first, else None."""
    record, combine = _dirs(RECORD_ENV), _dirs(COMBINE_ENV)
    if not record and not combine:
        return None
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    i = _count["calls"]
    _count["calls"] += 1
    site = call_site()
    for folder in record:
        if i == 0:  # a new run: an earlier run's recordings in the folder are stale
            for stale in Path(folder).glob("[0-9]*.npz"):
                stale.unlink()
        _write(folder, i, a, b, site)
    if not combine:
        return None
    stack_a, stack_b = [a], [b]
    for folder in combine:
        path = folder / f"{i:05d}.npz"
        if not path.exists():
            raise SeedMismatchError(f"interval {i + 1} ({site}) has no counterpart in the run of {_run(folder)}, "
                                    f"which made {recorded(folder)}: the chapter makes other comparisons under "
                                    f"other seeds (a choice read off a seed's outcomes); make every seed's run "
                                    f"compare the same things")
        with np.load(path, allow_pickle=False) as other:
            oa, ob, osite = other["a"], other["b"], str(other["site"])
        if osite != site or oa.shape != a.shape or ob.shape != b.shape:
            raise SeedMismatchError(f"interval {i + 1} differs between seeds: here {site} {a.shape}, in "
                                    f"{_run(folder)} {osite} {oa.shape}: the chapter makes other comparisons under "
                                    f"other seeds (a choice read off a seed's outcomes); make every seed's run "
                                    f"compare the same things")
        stack_a.append(oa)
        stack_b.append(ob)
    return np.stack(stack_a), np.stack(stack_b)


def agree(label: str, value):
    """A choice a chapter reads off its own outcomes (which method is best, ...), returned unchanged. Over
    several seeds the runs must make the same choice, or the combined intervals would pool comparisons of
    different things under one label: the recording runs write it, and the combining run refuses (one
    line naming the choices) when a seed chose otherwise. Without seed runs it does nothing."""
    record, combine = _dirs(RECORD_ENV), _dirs(COMBINE_ENV)
    slug = "".join(c if c.isalnum() else "-" for c in label)
    for folder in record:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".choice-{slug}.tmp"
        tmp.write_text(json.dumps({"label": label, "value": value}, default=str))
        os.replace(tmp, folder / f"choice-{slug}.json")
    chosen = {}
    for folder in combine:
        path = folder / f"choice-{slug}.json"
        chosen[_run(folder)] = json.loads(path.read_text())["value"] if path.exists() else "(not made)"
    if any(v != json.loads(json.dumps(value, default=str)) for v in chosen.values()):
        said = "; ".join(f"{k}: {v}" for k, v in {"this run": value, **chosen}.items())
        raise SeedMismatchError(f"the seeds chose differently for {label!r} ({said}); a verdict about one choice "
                                f"cannot pool runs that made another: fix the choice in advance (a parameter)")
    return value


def recorded(folder: Path) -> int:
    """How many intervals a run recorded into `folder`."""
    return len(list(Path(folder).glob("[0-9]*.npz")))


def check_complete(folders: list[Path]) -> int:
    """The number of intervals every seed's run recorded (the same in all, else `SeedMismatchError`)."""
    counts = {f"{Path(f).parent.name}/{Path(f).name}": recorded(f) for f in folders}
    if len(set(counts.values())) > 1:
        raise SeedMismatchError(f"the seeds' runs made different numbers of intervals ({json.dumps(counts)}); "
                                f"they cannot be combined")
    return next(iter(counts.values()), 0)
