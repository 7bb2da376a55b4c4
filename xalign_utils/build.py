"""Executing and rendering the book: `xalign build`, `xalign run`, `xalign check`.

Introduced in the book's preface ("How to re-run"). `build` executes every notebook of `_toc.yml`
in order with papermill (skipping notebooks whose inputs did not change), then renders the
executed copies with Jupyter Book into `_build/html`. `check` compares each notebook's
`metrics.json` with `tests/reference/<preset>/<notebook>.json`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .cache import atomic_write_text
from . import layout
from .closure import code_fingerprint
from .catalog import MARKER, catalog_markdown
from .languages import check_languages
from .presets import get_preset

ROOT = Path(__file__).resolve().parent.parent
# `layout.BUILD`: where the build keeps outputs (in `layout`, which chapters read without importing the runner)
KERNEL = "python3"
CELL_TIMEOUT_S = 900


class BuildError(RuntimeError):
    """A notebook failed, or the book did not render cleanly."""


# ---------------------------------------------------------------- the table of contents

toc_files, notebooks = layout.toc_files, layout.notebooks


def _notebook_path(stem: str) -> Path:
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    if not path.exists():
        raise BuildError(f"no notebook {stem!r}; available: {' '.join(notebooks())}")
    return path


# ---------------------------------------------------------------- what a notebook depends on

def _sha(paths) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def upstream(stem: str) -> list[str]:
    """Notebooks whose outputs `stem` reads (notebook metadata `xalign.reads`)."""
    meta = json.loads(_notebook_path(stem).read_text()).get("metadata", {}).get("xalign", {})
    return list(meta.get("reads", []))


metrics_file, results_file, items_file = layout.metrics_file, layout.results_file, layout.items_file


def collect_results(preset: str) -> Path:
    """Concatenate every executed notebook's result rows (toc order) into `_build/results/<preset>.csv`."""
    import pandas as pd

    from .record import RESULT_COLUMNS, read_results

    tables = [read_results(f) for stem in notebooks() if (f := results_file(preset, stem)).exists()]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=RESULT_COLUMNS)
    out = results_file(preset)
    atomic_write_text(out, table.to_csv(index=False))
    return out


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"


def input_components(stem: str, params: dict) -> dict:
    """Everything a notebook's outputs depend on, by name: its code (`closure.notebook_code_digest`; its
    prose is not an input: the page shows the current prose over the outputs), the package modules it imports
    (`closure.code_fingerprint`: a change to another chapter's code does not restale it), the data manifest, the
    checkpoints' training logs, its parameters, and of every notebook it reads (`xalign.reads`) the
    metrics, result rows and per-item outcomes. A stored run (`stored`) keeps these to say what changed."""
    from .closure import chapter_modules

    modules = chapter_modules(stem)
    parts = {
        "chapter code": _code_digest(stem),  # its code cells: prose is rendered over the run (`with_current_prose`)
        "package": code_fingerprint(stem, modules=modules),  # the package modules the chapter imports (`closure`), not the runner
        "data": hashlib.sha256((ROOT / "data" / "MANIFEST.tsv").read_bytes()).hexdigest(),
        "checkpoints": _sha((ROOT / "checkpoints").rglob("training_log.json")) if (ROOT / "checkpoints").exists() else "",
        "parameters": params,
    }
    if seeded(stem):  # it runs once per seed of the preset and combines them: more seeds, other intervals
        parts["seeds"] = list(get_preset(params["preset"]).seeds)
    curves = budget_curves_digest(stem)
    if curves:  # the chapter shows its methods' stored budget curves
        parts["budget curves"] = curves
    if "xalign_utils/fake_english.py" in modules:  # its figures read the probe logs beside the checkpoints
        parts["probe logs"] = _sha(sorted((ROOT / "checkpoints" / "probes").glob("fake-english-*.training_log.json")))
    for up in upstream(stem):  # what it reads of them: their outputs, and (04: 01's recipe) their code
        parts[f"{up} code"] = _code_digest(up)
        up_curves = budget_curves_digest(up)
        if up_curves:  # their budget at the preset (04 re-runs TLM at the steps 01's curves give it)
            parts[f"{up} budget curves"] = up_curves
        parts[f"{up} outputs"] = {k: _file_digest(f) for k, f in (
            ("metrics", metrics_file(params["preset"], up)), ("results", results_file(params["preset"], up)),
            ("items", items_file(params["preset"], up)))}
    return parts


def _code_digest(stem: str) -> str:
    from .closure import notebook_code_digest

    path = _notebook_path(stem)
    return notebook_code_digest(path.read_text(encoding="utf-8"), f"notebooks/{stem}.ipynb")


def budget_curves_digest(stem: str) -> str:
    """A hash of the stored budget-curve rows of the methods `stem` trains and of their per-item outcomes
    ("" when it has none): another chapter's new curves do not restale it."""
    from .budget import CURVES, chapters_of, read_curves, read_outcomes

    table = read_curves(CURVES)
    mine = table[chapters_of(table).map(lambda cs: stem in cs)]
    if mine.empty:
        return ""
    h = hashlib.sha256(mine.to_csv(index=False).encode())
    methods = set(mine.method)
    outcomes = read_outcomes(CURVES)
    for k in sorted(k for k in outcomes if k.split("|")[0] in methods):
        h.update(k.encode())
        h.update(outcomes[k].tobytes(order="C"))
    return h.hexdigest()


def input_hash(stem: str, params: dict) -> str:
    """One hash of `input_components`: a notebook whose hash did not change is not executed again."""
    from .stored import inputs_hash

    return inputs_hash(input_components(stem, params))


# ---------------------------------------------------------------- parameters

def notebook_parameters(stem: str) -> dict:
    """The notebook's `parameters` cell: name -> default value (`layout.notebook_parameters`)."""
    return layout.notebook_parameters(stem, _notebook_path(stem))


_literal = layout.literal


_EXPONENT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def parse_value(text: str):
    """A value given on the command line (`-p name value`, `--set group.field=value`): YAML, except that
    `1e-3` is a float (YAML 1.1 reads exponents without a dot as strings)."""
    value = yaml.safe_load(text)
    return float(value) if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()) else value


def validate_parameters(stem: str, overrides: dict) -> dict:
    """Defaults merged with overrides; refuses unknown names, wrong types, languages and presets (before any compute)."""
    defaults = notebook_parameters(stem)
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise ValueError(f"unknown parameter {', '.join(unknown)} for {stem}; it takes: {', '.join(defaults)}")
    params = {**defaults, **overrides}
    for name, value in overrides.items():
        default = defaults[name]
        if default is not None and value is not None and not _same_kind(default, value):
            kind = type(default).__name__
            raise ValueError(f"parameter {name} of {stem} must be {'an' if kind[0] in 'aeiou' else 'a'} {kind} "
                             f"(like {default!r}); got {type(value).__name__} {value!r}")
    if "preset" in params:
        get_preset(params["preset"])
    if params.get("langs") is not None:
        check_languages(params["langs"])
    if isinstance(params.get("model"), str):
        check_model(params["model"])
    from .chapters import check_parameters

    check_parameters(stem, params)  # the chapter's own checks, the ones its setup cell runs
    return params


def check_model(name: str) -> None:
    """Refuse a model parameter before the kernel starts (torch is not imported): a bad directory or name
    at once, a hub name that cannot be had (not cached; offline, hub unreachable or no such repository)
    within seconds."""
    from .hub import check_model as check

    check(name)


def check_inputs() -> None:
    """What every notebook reads, checked before any kernel starts: the data folder and its manifest."""
    from .data import check_data_dir

    check_data_dir()


def _same_kind(default, value) -> bool:
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, (int, float)) and isinstance(value, (int, float)):
        return isinstance(default, float) or isinstance(value, int)
    return isinstance(value, type(default))


def preset_parameters(stem: str, preset: str) -> dict:
    """Parameters the build passes: the preset and its languages (where the notebook takes them), and at a
    preset whose budgets come from the budget curves (`book`) the chapter's budget parameters read off them
    (`steps`, and e.g. `lang_steps`, `mlm_steps`: `budget.chapter_steps`)."""
    p = get_preset(preset)
    names = notebook_parameters(stem)
    params = {"preset": p.name}
    if "langs" in names:
        params["langs"] = list(p.langs)
    if p.curve_budgets:
        from .budget import chapter_steps

        for name, steps in (chapter_steps(stem) or {}).items():
            if name in names:
                params[name] = steps
    return params


# ---------------------------------------------------------------- execution

def execute(stem: str, params: dict, out_ipynb: Path, metrics_json: Path, results_csv: Path | None = None,
            notebook: Path | None = None) -> float:
    """Run one notebook (`notebook`, default the chapter `stem`'s source) with papermill into `out_ipynb`
    (atomically); returns seconds taken.

    The notebook's `record` numbers go to `metrics_json`, its `record_results` rows to
    `results_csv` (default: beside `metrics_json`) and their per-item outcomes to
    `record.items_path(results_csv)`; all four are replaced only when it succeeds (an output the
    notebook no longer writes is removed then), and a failed run leaves no partial file but the
    partial notebook."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from .record import items_path

    results_csv = results_csv or metrics_json.with_suffix(".results.csv")
    out_ipynb.parent.mkdir(parents=True, exist_ok=True)
    metrics_json.parent.mkdir(parents=True, exist_ok=True)
    results_csv.parent.mkdir(parents=True, exist_ok=True)
    tmp_metrics = metrics_json.with_suffix(".partial.json")
    tmp_results = results_csv.with_suffix(".partial.csv")
    outputs = ((tmp_metrics, metrics_json), (tmp_results, results_csv), (items_path(tmp_results), items_path(results_csv)))
    for tmp, _ in outputs:
        tmp.unlink(missing_ok=True)
    tmp_nb = out_ipynb.with_suffix(".partial.ipynb")
    env_before = dict(os.environ)
    os.environ.update({"XALIGN_METRICS_PATH": str(tmp_metrics), "XALIGN_RESULTS_PATH": str(tmp_results),
                       "XALIGN_NOTEBOOK": stem, "XALIGN_QUIET": "1",
                       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))})
    t0 = time.time()
    succeeded = False
    try:
        pm.execute_notebook(str(notebook or _notebook_path(stem)), str(tmp_nb), parameters=params, kernel_name=KERNEL,
                            cwd=str(ROOT / "notebooks"), progress_bar=False, execution_timeout=cell_timeout(params),
                            log_output=False)
        succeeded = True
    except PapermillExecutionError as e:
        raise BuildError(f"{stem} failed in cell {e.cell_index} (execution count {e.exec_count}): "
                         f"{e.ename}: {e.evalue}; the partial notebook is {_shown(tmp_nb)}") from None
    finally:
        os.environ.clear()
        os.environ.update(env_before)
        if not succeeded:  # whatever stopped it: the previous good outputs stay, no partial file is left
            for tmp, _ in outputs:
                tmp.unlink(missing_ok=True)
    hide_injected_parameters(tmp_nb)
    os.replace(tmp_nb, out_ipynb)
    publish_outputs(outputs)
    return time.time() - t0


def cell_timeout(params: dict) -> int | None:
    """Seconds one cell may run: `$XALIGN_CELL_TIMEOUT` when set (0: no limit), else `CELL_TIMEOUT_S` at
    presets with the chapters' own short budgets, and no limit at a preset whose budgets come from the
    budget curves (`book`: one training cell trains every method for 1,024-4,096 steps)."""
    env = os.environ.get("XALIGN_CELL_TIMEOUT")
    if env is not None:
        if not env.isdigit():
            raise ValueError(f"XALIGN_CELL_TIMEOUT must be a whole number of seconds (0: no limit); got {env!r}")
        return int(env) or None
    preset = params.get("preset")
    return None if preset and get_preset(preset).curve_budgets else CELL_TIMEOUT_S


def hide_injected_parameters(path: Path) -> None:
    """Tag papermill's injected-parameters cell `remove-cell`: the rendered chapter shows its parameters
    cell once (with the defaults the chapter documents), not a second cell of overrides; the executed
    notebook keeps it, so `xalign run` outputs still say what ran."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    changed = False
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
            changed = True
    if changed:
        Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


RUN_CELL_TAGS = ("injected-parameters", "seeds-note", "stale-banner")  # cells a run or the build adds


def with_current_prose(executed: dict, source: dict) -> dict | None:
    """The page of a run with its notebook's current prose: the cells of the current `source` in its order,
    markdown as written there, each code cell replaced by the run's cell of the same code (its outputs, with
    the tags of `source`, which show or hide it), and the cells the run added (`RUN_CELL_TAGS`) put back by
    the rule that placed them: the seeds note under the title (`stored.after_title`), any other
    (papermill's injected parameters) after the same code cell as in the run. Only when the run's code
    cells are the notebook's, one for one in order with the same source; else None (its outputs came from
    other code: the run keeps the prose written with it). Markdown cells may be edited, added or removed:
    a wording fix reaches the page without recomputing the chapter, and prose that reads a glue name the
    run never made fails the render (warnings are errors)."""
    import copy

    from .stored import after_title

    def added(cell: dict) -> bool:
        return any(t in cell.get("metadata", {}).get("tags", []) for t in RUN_CELL_TAGS)

    run_code = [c for c in executed["cells"] if c["cell_type"] == "code" and not added(c)]
    code = [c for c in source["cells"] if c["cell_type"] == "code"]
    if len(run_code) != len(code) or any("".join(a["source"]) != "".join(b["source"]) for a, b in zip(run_code, code)):
        return None
    notes, after_code, k = [], {}, 0  # after_code: added cells by the run's code cell they follow (-1: none)
    for cell in executed["cells"]:
        if "seeds-note" in cell.get("metadata", {}).get("tags", []):
            notes.append(copy.deepcopy(cell))
        elif added(cell):
            after_code.setdefault(k - 1, []).append(copy.deepcopy(cell))
        elif cell["cell_type"] == "code":
            k += 1
    cells, k = list(after_code.get(-1, [])), 0
    for cell in source["cells"]:
        if cell["cell_type"] == "code":
            mine = copy.deepcopy(run_code[k])
            mine["metadata"] = {m: v for m, v in mine.get("metadata", {}).items() if m != "tags"}  # papermill's stay
            if cell.get("metadata", {}).get("tags"):
                mine["metadata"]["tags"] = list(cell["metadata"]["tags"])
            cells += [mine, *after_code.get(k, [])]
            k += 1
        else:
            cells.append(copy.deepcopy(cell))
    at = after_title(cells)
    cells[at:at] = notes
    return {**copy.deepcopy({m: v for m, v in executed.items() if m != "cells"}), "cells": cells}


def publish_outputs(outputs) -> None:
    """Move each (partial, final) pair of a successful run into place; a final file whose partial the
    run did not write is removed (it belongs to an earlier run)."""
    for tmp, final in outputs:
        if tmp.exists():
            os.replace(tmp, final)
        else:
            final.unlink(missing_ok=True)


def _shown(path: Path) -> str:
    """A path relative to the project when inside it (messages never show this machine's layout)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def default_jobs() -> int:
    """Notebooks executed at once: `$XALIGN_JOBS`, else one per CPU core, at most 4 (memory)."""
    env = os.environ.get("XALIGN_JOBS")
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"XALIGN_JOBS must be a positive integer; got {env!r}")
        return int(env)
    return max(1, min(4, os.cpu_count() or 1))


def ready_notebooks(todo: list[str], running: set[str], reads) -> list[str]:
    """The notebooks of `todo` (in order) that can start now: none of the notebooks they read
    (`reads(stem)`) is still to run or running."""
    return [s for s in todo if not any(u in todo or u in running for u in reads(s))]


def _write_seconds(path: Path, seconds: float) -> None:
    """Keep how long a run took beside its stamp (written before the stamp, removed with it)."""
    atomic_write_text(path, f"{seconds:.1f}\n")


def _read_seconds(path: Path) -> float:
    """What `_write_seconds` kept; 0 where there is none (a run finished by older code)."""
    try:
        return float(Path(path).read_text())
    except (OSError, ValueError):
        return 0.0


def _die_with_parent(parent: int, every: float = 0.5) -> None:
    """Initializer of the build's worker processes: a daemon thread ends the worker (`os._exit`) once its
    parent `parent` is gone, so a build killed with SIGKILL (its own process only) leaves no worker running
    a seed or a chapter in the background, writing into folders a resumed build reuses. The worker's kernels
    follow it: ipykernel ends a kernel whose parent process has exited. The worker ignores Ctrl-C (SIGINT,
    sent to the whole foreground group): the build that started it decides (`_stop_workers`)."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


class _StopWorkersOnCtrlC:
    """`with ProcessPoolExecutor(...) as pool, _StopWorkersOnCtrlC():` kills the workers on Ctrl-C before the
    pool's own exit would wait for the chapters they run (this exit runs first)."""

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb) -> bool:
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            _stop_workers()
        return False


def _stop_workers() -> None:
    """Ctrl-C in a build: kill its worker processes at once (their kernels follow them, `_die_with_parent`),
    instead of waiting for the chapters they run. What they were writing is left as partial files that no
    run reads as finished; finished chapters and seeds are kept, so the same command resumes."""
    import multiprocessing

    for child in multiprocessing.active_children():
        child.kill()
    for child in multiprocessing.active_children():
        child.join(5)


def _execute_in_worker(stem: str, params: dict, out: Path, metrics_json: Path, results_csv: Path, threads: int,
                       seeds: tuple[int, ...] = (), key: str = "", seed_jobs: int = 1) -> float:
    """`execute` in a worker process whose kernels use `threads` CPU threads (torch, OpenMP, BLAS); with
    several `seeds`, `execute_seeds` (`seed_jobs` of them at once)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if len(seeds) > 1:
        return execute_seeds(stem, params, seeds, key, out, metrics_json, results_csv, parallel=seed_jobs)
    return execute(stem, params, out, metrics_json, results_csv)


def _execute_seed(stem: str, params: dict, folder: Path, record: str, notebook: Path | None = None) -> float:
    """One extra seed's run into `folder`, recording its intervals' outcomes under `record` (in a worker
    process of its own when seeds run side by side: the recording folder is read from the environment)."""
    from . import seeds as S

    os.environ[S.RECORD_ENV], os.environ[S.COMBINE_ENV] = record, ""
    return execute(stem, params, folder / f"{stem}.ipynb", folder / "metrics.json", folder / "results.csv", notebook)


# ---------------------------------------------------------------- several training seeds

def seeded(stem: str) -> bool:
    """Whether a preset's seeds run the chapter once each: it takes a `seed` parameter and its metadata does
    not say `xalign.seeded: false` (00b: fixed checkpoints; 07: reads the others' rows of every seed)."""
    meta = json.loads(_notebook_path(stem).read_text()).get("metadata", {}).get("xalign", {})
    return meta.get("seeded", True) and "seed" in notebook_parameters(stem)


def seed_dir(preset: str, stem: str, seed: int) -> Path:
    """Where the run of one extra training seed of a chapter is kept (its notebook, metrics, rows, intervals)."""
    return layout.BUILD / "seeds" / preset / stem / f"seed-{seed}"


def execute_seeds(stem: str, params: dict, seeds: tuple[int, ...], key: str, out_ipynb: Path, metrics_json: Path,
                  results_csv: Path, parallel: int = 1) -> float:
    """Run a chapter once per training seed and combine (`seeds` module): every seed but the first runs into
    `seed_dir` recording its intervals' outcomes (a run whose inputs did not change since is kept: a killed
    build resumes at the seed where it stopped; at a stored preset each finished seed is also committed,
    `stored.keep_seed`, so a fresh clone resumes there too); then the first seed runs into the chapter's outputs and
    combines, so its intervals and verdicts cover seeds x items. Its rows and per-item outcomes are then
    joined with the other seeds' (the results table holds every seed). With `parallel` > 1 the extra seeds
    that must run go `parallel` at a time, each in a process of its own (a chapter built alone on several
    cores); the combining run waits for them. Returns the seconds of all runs, those of seeds kept or
    restored from an earlier run included (each seed's folder keeps its `seconds`), so a stored run's
    `wall_s` is the chapter's whole cost even when its seeds ran in several sessions."""
    from . import seeds as S
    from . import stored

    total, folders, pending = 0.0, [], []
    keep = stored.is_stored(params["preset"])
    saved = {k: os.environ.get(k) for k in (S.RECORD_ENV, S.COMBINE_ENV)}

    def finished(s: int, d: Path, seconds: float) -> None:
        _write_seconds(d / "seconds", seconds)  # before the stamp, which says the seed is done
        atomic_write_text(d / "inputs", key)
        if keep:  # committed: a later session, on another machine, resumes from it
            stored.keep_seed(params["preset"], stem, s, d)

    try:
        for s in seeds[1:]:
            d = seed_dir(params["preset"], stem, s)
            folders.append(d / "intervals")
            stamp = d / "inputs"
            if stamp.exists() and stamp.read_text() == key and (d / "results.csv").exists():
                earlier = _read_seconds(d / "seconds")
                total += earlier
                print(f"{stem}: seed {s} kept from an earlier run ({earlier:.0f} s of run time, counted in the "
                      f"chapter's total)", flush=True)
                committed = stored.seed_dir(params["preset"], stem, s)
                if keep and not (stored.seed_complete(committed) and (committed / "inputs").read_text() == key):
                    stored.keep_seed(params["preset"], stem, s, d)  # finished before a kill, or by older code
                continue
            if keep and stored.restore_seed(params["preset"], stem, s, d, key):
                earlier = _read_seconds(d / "seconds")
                total += earlier
                print(f"{stem}: seed {s} restored from its committed run "
                      f"({_shown(stored.seed_dir(params['preset'], stem, s))}; {earlier:.0f} s of run time, "
                      f"counted in the chapter's total)", flush=True)
                continue
            stamp.unlink(missing_ok=True)
            (d / "seconds").unlink(missing_ok=True)  # with its stamp: a later stamp must not find an older run's
            shutil.rmtree(d / "intervals", ignore_errors=True)
            pending.append((s, d))
        if parallel > 1 and len(pending) > 1:
            from concurrent.futures import ProcessPoolExecutor, as_completed
            from multiprocessing import get_context

            print(f"{stem}: seeds {', '.join(str(s) for s, _ in pending)}, {parallel} at a time", flush=True)
            with ProcessPoolExecutor(max_workers=parallel, mp_context=get_context("spawn"),
                                     initializer=_die_with_parent, initargs=(os.getpid(),)) as pool, \
                    _StopWorkersOnCtrlC():
                source = _notebook_path(stem)  # resolved here: the workers start afresh
                futures = {pool.submit(_execute_seed, stem, {**params, "seed": s}, d, str(d / "intervals"), source): (s, d)
                           for s, d in pending}
                errors = []
                for future in as_completed(futures):  # each kept as it finishes
                    s, d = futures[future]
                    try:
                        seconds = future.result()
                    except Exception as e:  # noqa: BLE001 (a worker's error; Ctrl-C is not one: it stops the build)
                        errors.append((s, e))
                        print(f"{stem}: seed {s} failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); "
                              f"the seeds already running finish first", flush=True)
                        pool.shutdown(wait=False, cancel_futures=True)  # the queued seeds do not start
                        continue
                    total += seconds
                    finished(s, d, seconds)
                if errors:
                    if len(errors) > 1:
                        print(f"{stem}: seeds {', '.join(str(s) for s, _ in errors)} failed", flush=True)
                    raise errors[0][1]
        else:
            for s, d in pending:
                print(f"{stem}: seed {s}", flush=True)
                seconds = _execute_seed(stem, {**params, "seed": s}, d, str(d / "intervals"))
                total += seconds
                finished(s, d, seconds)
        d0 = seed_dir(params["preset"], stem, seeds[0])
        own = d0 / "intervals"
        shutil.rmtree(own, ignore_errors=True)
        os.environ[S.RECORD_ENV] = str(own)
        os.environ[S.COMBINE_ENV] = os.pathsep.join(str(f) for f in folders)
        print(f"{stem}: seed {seeds[0]}, combining seeds {', '.join(map(str, seeds))}", flush=True)
        total += execute(stem, {**params, "seed": seeds[0]}, d0 / f"{stem}.ipynb", d0 / "metrics.json",
                         d0 / "results.csv")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    S.check_complete([own, *folders])  # before the chapter's outputs are replaced: a mismatch leaves the old ones
    join_seed_rows(d0 / "results.csv", [f.parent / "results.csv" for f in folders])
    add_seeds_note(d0 / f"{stem}.ipynb", seeds)
    from .record import items_path

    for path in (out_ipynb, metrics_json, results_csv):
        path.parent.mkdir(parents=True, exist_ok=True)
    publish_outputs([(d0 / f"{stem}.ipynb", out_ipynb), (d0 / "metrics.json", metrics_json),
                     (d0 / "results.csv", results_csv), (items_path(d0 / "results.csv"), items_path(results_csv))])
    return total


def seeds_note(seeds: tuple[int, ...]) -> dict:
    """The note under the title of a chapter combined over several training seeds."""
    text = (f"```{{note}}\nThis chapter ran once per training seed ({', '.join(map(str, seeds))}: the seed of its "
            f"methods' initialisation and data order, and of whatever else the chapter draws with `seed`; the "
            f"pretrained base is the same in every run). Every interval and verdict on this page covers the "
            f"seeds and the items (`metrics.seed_item_bootstrap`), and the difference it shows is the mean over "
            f"the seeds, as are figures drawn from intervals; other single values in tables and figures are "
            f"those of seed {seeds[0]}. The results table holds every seed's rows.\n```")
    return {"cell_type": "markdown", "id": "seeds-note", "metadata": {"tags": ["seeds-note"]}, "source": text}


def add_seeds_note(path: Path, seeds: tuple[int, ...]) -> None:
    """Put `seeds_note` under the executed notebook's title (`stored.after_title`)."""
    from .stored import after_title

    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    nb["cells"].insert(after_title(nb["cells"]), seeds_note(seeds))
    atomic_write_text(path, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def join_seed_rows(results_csv: Path, others: list[Path]) -> None:
    """Add to the combining run's rows (and per-item outcomes) the other seeds' runs' rows of variants and
    seeds it does not hold: a (variant, seed) recorded by several runs (a chapter whose controls have fixed
    seeds of their own, as 00's) is kept once, from the combining run."""
    import pandas as pd

    from .record import items_path, read_items, read_results, write_items

    runs = [f for f in [results_csv, *others] if f.exists()]
    if not runs:
        return
    table = read_results(runs[0])
    items = read_items(items_path(runs[0])) if items_path(runs[0]).exists() else {}
    for f in runs[1:]:
        rows = read_results(f)
        held = set(zip(table.variant, table.seed.astype(int)))
        new = ~pd.Series([(v, int(s)) in held for v, s in zip(rows.variant, rows.seed)], index=rows.index)
        table = pd.concat([table, rows[new]], ignore_index=True)
        if items_path(f).exists():
            for k, v in read_items(items_path(f)).items():
                items.setdefault(k, v)
    atomic_write_text(results_csv, table.to_csv(index=False))
    if items:
        write_items(items_path(results_csv), items)


def build(preset: str = "ci", only: list[str] | None = None, render: bool = True, force: bool = False,
          jobs: int | None = None, stale: bool = False, stored_only: bool = False) -> None:
    """Execute changed notebooks, then render the book.

    A stored preset (`stored.STORED_PRESETS`: `book`) keeps its runs in the repository: a chapter with a
    stored run is restored from it, not executed; one whose inputs changed since is rendered from it under
    a banner naming the commit it was computed at, unless `stale` (recompute exactly those) or `force`
    (recompute all); a chapter without a stored run is executed and stored as soon as it finishes (an
    interrupted build resumes at the chapter where it stopped). With `stored_only` nothing is executed:
    every chapter must have a stored run (one line names those without), and the book renders from them.

    With `jobs` > 1 (default: `default_jobs()`), that many notebooks run at once, each kernel with
    cores // jobs threads; a notebook starts once the notebooks it reads (`xalign.reads`) are done.
    The small models of the ci preset use a second thread poorly (measured in the README), so two
    notebooks side by side on two cores finish sooner than one after the other."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    from . import stored as S

    p = get_preset(preset)
    check_inputs()
    keep = S.is_stored(p.name)
    if (stale or stored_only) and not keep:
        flag = "--stale" if stale else "--stored-only"
        raise BuildError(f"{flag} applies to stored presets ({', '.join(S.STORED_PRESETS)}); preset {p.name} "
                         f"re-executes whatever changed by itself")
    if stale and stored_only:
        raise BuildError("--stale recomputes and --stored-only never computes: give one of them")
    if keep:
        S.recover(p.name)
    if stored_only:  # render what is stored, in seconds, or say in one line what is not
        missing = [s for s in (only or notebooks()) if S.read_run(p.name, s) is None]
        if missing:
            raise BuildError(f"no stored {p.name} run of {', '.join(missing)}; `xalign build --preset {p.name} "
                             f"--notebook {missing[0]}` computes one (hours on 2 cores), or `make book PRESET=ci` "
                             f"builds the ci book")
    banners: dict[str, tuple[dict, list[str]]] = {}  # stale stored runs, for the log (render_book re-derives them)
    jobs = jobs or default_jobs()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    # one chapter alone: its extra seeds use the other workers' cores (`execute_seeds`), else one at a time
    seed_jobs = jobs if only is not None and len(only) == 1 else 1
    executed = layout.BUILD / "executed" / p.name
    stems = notebooks()
    for stem in only or []:
        _notebook_path(stem)
    todo = [s for s in stems if not only or s in only]
    position = {s: i for i, s in enumerate(stems, 1)}
    t_all = time.time()
    timings: dict[str, float | None] = {}
    done: set[str] = set()
    running: dict = {}
    failures: list[BaseException] = []

    def tag(stem: str) -> str:
        return f"[{position[stem]}/{len(stems)}] {stem}"

    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"),
                             initializer=_die_with_parent, initargs=(os.getpid(),)) as pool, \
            _StopWorkersOnCtrlC():
        while (todo and not failures) or running:
            ready = ready_notebooks(todo, set(running.values()), upstream)
            for stem in ready if not failures else []:
                if len(running) >= jobs:
                    break
                todo.remove(stem)
                params = preset_parameters(stem, p.name)
                out = executed / f"{stem}.ipynb"
                stamp = out.with_suffix(".inputs")
                parts = input_components(stem, params)  # after its upstream notebooks finished: their outputs are in it
                key = S.inputs_hash(parts)
                run = S.read_run(p.name, stem) if keep and not force else None
                if run is not None and (run["hash"] == key or not stale):
                    S.restore(p.name, stem, _targets(p.name, stem, out))
                    if run["hash"] == key:
                        S.drop_seeds(p.name, stem)  # left by a kill between storing and dropping
                    if run["hash"] != key:
                        banners[stem] = (run, S.changed_inputs(run, parts))
                    print(f"{tag(stem)}: stored run of {run['commit']}"
                          + ("" if run["hash"] == key else f" (stale: {', '.join(banners[stem][1])} changed since)"),
                          flush=True)
                    timings[stem] = None
                    done.add(stem)
                    continue
                if keep and not force and out.exists() and stamp.exists() and stamp.read_text() == key \
                        and (run is None or run["hash"] != key):  # executed, killed before it was stored
                    took = _read_seconds(stamp.with_suffix(".seconds"))  # kept beside the stamp when it ran
                    S.store(p.name, stem, _targets(p.name, stem, out), parts, took)
                    S.drop_seeds(p.name, stem)
                    print(f"{tag(stem)}: stored from its finished build", flush=True)
                    timings[stem] = None
                    done.add(stem)
                    continue
                if not keep and not force and out.exists() and stamp.exists() and stamp.read_text() == key:
                    print(f"{tag(stem)}: up to date", flush=True)
                    timings[stem] = None
                    done.add(stem)
                    continue
                stamp.unlink(missing_ok=True)  # outputs are replaced one by one: a kill between must not look done
                stamp.with_suffix(".seconds").unlink(missing_ok=True)
                print(f"{tag(stem)}: running ({', '.join(f'{k}={v}' for k, v in params.items())})", flush=True)
                future = pool.submit(_execute_in_worker, stem, params, out, metrics_file(p.name, stem),
                                     results_file(p.name, stem), threads, p.seeds if seeded(stem) else (), key,
                                     seed_jobs)
                running[future] = stem
                future.key, future.stamp, future.parts, future.out = key, stamp, parts, out
            if not running:
                if todo and not failures and not ready:
                    raise BuildError(f"notebooks wait on each other ('reads' metadata): {', '.join(todo)}")
                continue
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                stem = running.pop(future)
                try:
                    seconds = future.result()
                except Exception as e:  # noqa: BLE001 (reported after the running notebooks finish; Ctrl-C stops all)
                    print(f"{tag(stem)}: FAILED", flush=True)
                    failures.append(e)
                    continue
                if keep:  # committed beside the book, complete or not at all (before the stamp: a kill
                    # between the two leaves a stored run whose stamp is missing, never the reverse)
                    S.store(p.name, stem, _targets(p.name, stem, future.out), future.parts, seconds)
                    S.drop_seeds(p.name, stem)  # the stored run holds every seed now
                _write_seconds(future.stamp.with_suffix(".seconds"), seconds)
                atomic_write_text(future.stamp, future.key)
                timings[stem] = seconds
                done.add(stem)
                print(f"{tag(stem)}: done in {seconds:.0f} s", flush=True)
    if failures:
        raise failures[0]
    timings = {s: timings[s] for s in stems if s in timings}
    wall = time.time() - t_all
    print(f"notebooks: {wall:.0f} s ({jobs} at a time, {threads} thread(s) each); "
          f"results table: {_shown(collect_results(p.name))}", flush=True)
    rendered = render_book(p.name, timed=True) if render else None
    print(timing_table(timings, wall, rendered), flush=True)


def _targets(preset: str, stem: str, executed_ipynb: Path) -> dict[str, Path]:
    """Where the build keeps a chapter's outputs, by `stored.FILES` key."""
    return {"notebook": executed_ipynb, "metrics": metrics_file(preset, stem), "results": results_file(preset, stem),
            "items": items_file(preset, stem)}


def timing_table(timings: dict[str, float | None], wall: float | None = None, render: float | None = None) -> str:
    """The build's closing table: seconds per notebook ('up to date' where skipped), their sum, the wall
    time of executing them (less than the sum when several run at once) and of rendering the book."""
    width = max([len(k) for k in timings] + [26])
    lines = [f"{'notebook':<{width}}  seconds", f"{'-' * width}  -------"]
    lines += [f"{k:<{width}}  {'up to date' if v is None else f'{v:7.0f}'}" for k, v in timings.items()]
    lines.append(f"{'sum over notebooks':<{width}}  {sum(v for v in timings.values() if v):7.0f}")
    if wall is not None:
        lines.append(f"{'executing them (wall)':<{width}}  {wall:7.0f}")
    if render is not None:
        lines.append(f"{'rendering the book':<{width}}  {render:7.0f}")
    return "\n".join(lines)


def _sync(src: Path, dst: Path) -> None:
    """Copy a file only when its content changed (keeps mtimes, so Sphinx rebuilds incrementally)."""
    if dst.exists() and dst.read_bytes() == src.read_bytes():
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def stale_banners(preset: str) -> dict[str, tuple[dict, list[str]]]:
    """{stem: (stored run, changed input components)} of every chapter of a stored preset whose stored run
    was computed from other inputs than the current ones (their upstream outputs as restored in `_build/`)."""
    from . import stored as S

    out = {}
    if not S.is_stored(preset):
        return out
    for stem in notebooks():
        run = S.read_run(preset, stem)
        if run is not None:
            parts = input_components(stem, preset_parameters(stem, preset))
            if run["hash"] != S.inputs_hash(parts):
                out[stem] = (run, S.changed_inputs(run, parts))
    return out


def page_text(stem: str, executed_ipynb: Path, stale: tuple[dict, list[str]] | None = None) -> str:
    """The notebook the book renders for chapter `stem`: its executed notebook with the chapter's current
    prose (`with_current_prose`), under `stored.banner` when its run is `stale` (stored run, changed inputs)."""
    from .stored import with_banner

    run_nb = json.loads(Path(executed_ipynb).read_text(encoding="utf-8"))
    page = with_current_prose(run_nb, json.loads(_notebook_path(stem).read_text(encoding="utf-8"))) or run_nb
    if stale:
        page = with_banner(page, *stale)
    return json.dumps(page, indent=1, ensure_ascii=False) + "\n"


def render_book(preset: str = "ci", timed: bool = False):
    """Stage book sources + executed notebooks in `_build/src` and run `jupyter-book build` (warnings = errors).
    A chapter of a stored preset rendered from a stale stored run gets `stored.banner` under its title
    (`stale_banners`). Returns the rendered site's folder, or with `timed` the seconds the render took."""
    banners = stale_banners(preset)

    src = layout.BUILD / "src"
    executed = layout.BUILD / "executed" / preset
    wanted = set()
    for name in ("_config.yml", "_toc.yml"):
        _sync(ROOT / name, src / name)
        wanted.add(src / name)
    for f in (ROOT / "book").rglob("*"):
        if f.is_file() and "runs" not in f.relative_to(ROOT / "book").parts[:1]:  # stored runs are data
            _sync(f, src / f.relative_to(ROOT))
            wanted.add(src / f.relative_to(ROOT))
    catalog = src / "book" / "catalog.md"
    text = catalog.read_text()
    if MARKER in text:  # the method table is generated from book/methods.csv
        generated = text.replace(MARKER, catalog_markdown(ROOT / "book" / "methods.csv", notebooks()))
        stat = (ROOT / "book" / "catalog.md").stat()
        catalog.write_text(generated)
        os.utime(catalog, (stat.st_atime, max(stat.st_mtime, (ROOT / "book" / "methods.csv").stat().st_mtime)))
    for stem in notebooks():
        nb = executed / f"{stem}.ipynb"
        if not nb.exists():
            raise BuildError(f"{stem} has not been executed for preset {preset}; run `xalign build --preset {preset}`")
        staged = src / "notebooks" / f"{stem}.ipynb"
        text = page_text(stem, nb, banners.get(stem))
        if not staged.exists() or staged.read_text(encoding="utf-8") != text:  # unchanged: Sphinx skips it
            staged.parent.mkdir(parents=True, exist_ok=True)
            staged.write_text(text, encoding="utf-8")
        wanted.add(staged)
    for f in list(src.rglob("*")):
        if f.is_file() and f not in wanted and "_build" not in f.parts[len(src.parts):]:
            f.unlink()
    t0 = time.time()
    cmd = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(src), "--path-output", str(layout.BUILD / "site"),
           "-W", "-n", "--keep-going", "--builder", "html"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-6000:])
        sys.stderr.write(proc.stderr[-6000:])
        raise BuildError("jupyter-book build failed (warnings are errors); see the messages above")
    html = layout.BUILD / "site" / "_build" / "html"
    target = layout.BUILD / "html"
    tmp = layout.BUILD / ".html.new"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(html, tmp)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    print(f"book: {time.time() - t0:.0f} s -> {_shown(target)}/index.html", flush=True)
    return time.time() - t0 if timed else target


# ---------------------------------------------------------------- one notebook, other parameters

def run(stem: str, overrides: dict, out_dir: Path | None = None) -> Path:
    """Execute one notebook with changed parameters into its own folder (papermill-style): the executed
    notebook, `metrics.json`, `results.csv` and `results.items.npz` (per-item outcomes)."""
    check_inputs()
    params = validate_parameters(stem, overrides)
    tag = hashlib.sha256(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:8]
    out_dir = Path(out_dir) if out_dir else layout.BUILD / "runs" / f"{stem}-{tag}"
    seconds = execute(stem, overrides, out_dir / f"{stem}.ipynb", out_dir / "metrics.json", out_dir / "results.csv")
    print(f"{stem}: done in {seconds:.0f} s -> {_shown(out_dir)}", flush=True)
    return out_dir


# ---------------------------------------------------------------- regression

def reference_file(preset: str, stem: str) -> Path:
    return ROOT / "tests" / "reference" / preset / f"{stem}.json"


def compare(reference: dict, now: dict) -> list[dict]:
    """Rows (metric, reference, now, drift, tol, status) for one notebook."""
    rows = []
    for name in sorted(set(reference) | set(now)):
        ref, cur = reference.get(name), now.get(name)
        if ref is None:
            rows.append({"metric": name, "reference": None, "now": cur["value"], "drift": None, "tol": None, "status": "EXTRA"})
        elif cur is None:
            rows.append({"metric": name, "reference": ref["value"], "now": None, "drift": None, "tol": ref["tol"], "status": "MISSING"})
        else:
            drift = cur["value"] - ref["value"]
            rows.append({"metric": name, "reference": ref["value"], "now": cur["value"], "drift": drift,
                         "tol": ref["tol"], "status": "ok" if abs(drift) <= ref["tol"] + 1e-12 else "DRIFT"})
    return rows


def _fmt(x) -> str:
    return "-" if x is None else f"{x:+.4f}" if isinstance(x, float) and x < 0 else f"{x:.4f}" if isinstance(x, float) else str(x)


def _print_rows(stem: str, rows: list[dict], headline: str) -> None:
    print(f"\n{stem}: {headline}")
    print(f"  {'metric':<40} {'reference':>10} {'now':>10} {'drift':>10} {'tol':>8}  status")
    for r in rows:
        print(f"  {r['metric']:<40} {_fmt(r['reference']):>10} {_fmt(r['now']):>10} "
              f"{_fmt(r['drift']):>10} {_fmt(r['tol']):>8}  {r['status']}")


def check(preset: str = "ci", update: bool = False) -> int:
    """Compare every notebook's metrics with the references; print a drift table; 1 on failure."""
    p = get_preset(preset)
    if not update and not any(reference_file(p.name, stem).exists() for stem in notebooks()):
        from .stored import is_stored

        raise ValueError(f"no references for preset {p.name} (tests/reference/{p.name}/ is empty): "
                         + ("its stored runs are the record and `pytest -m book` checks them; "
                            if is_stored(p.name) else "")
                         + f"`xalign check --preset {p.name} --update` records the current metrics as references")
    failed = 0
    for stem in notebooks():
        now_file = metrics_file(p.name, stem)
        now = json.loads(now_file.read_text()) if now_file.exists() else {}
        ref_file = reference_file(p.name, stem)
        ref = json.loads(ref_file.read_text()) if ref_file.exists() else {}
        if update:
            if now != ref:
                rows = compare(ref, now)
                changed = [r for r in rows if r["status"] != "ok" or r["drift"]]
                _print_rows(stem, rows, f"reference updated ({len(now)} metrics, {len(changed)} changed)")
                ref_file.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(ref_file, json.dumps(now, indent=1, sort_keys=True) + "\n")
            continue
        if not now and not ref:
            continue
        rows = compare(ref, now)
        bad = [r for r in rows if r["status"] != "ok"]
        _print_rows(stem, rows, f"{len(rows) - len(bad)}/{len(rows)} metrics within tolerance")
        failed += bool(bad)
    if not update:
        print(f"\ncheck: {'FAILED: ' + str(failed) + ' notebook(s) drifted' if failed else 'all metrics within tolerance'}")
    return 1 if failed else 0
