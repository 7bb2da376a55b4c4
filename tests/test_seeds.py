"""Intervals over training seeds (xalign_utils.seeds): runs of a chapter record the outcomes behind each
interval, the combining run resamples seeds then items, and runs that do not line up are refused."""
import contextlib
import json
from pathlib import Path

import numpy as np
import pytest
from _procs import alive

from xalign_utils import build, layout, metrics, seeds


@pytest.fixture
def clean(monkeypatch):
    monkeypatch.delenv(seeds.RECORD_ENV, raising=False)
    monkeypatch.delenv(seeds.COMBINE_ENV, raising=False)
    seeds.reset()
    yield monkeypatch
    seeds.reset()


def outcomes(seed: int, shift: float = 0.1, n: int = 60):
    rng = np.random.default_rng(seed)
    a = rng.random((n, 3))
    return a, a - shift - 0.01 * seed


def interval_site(a, b):  # one call site, as a chapter's cell would be
    return metrics.paired_bootstrap(a, b, 2000, 0)


def one_run(env, record, combine, a, b, intervals: int = 1):
    """One run of a 'chapter' making `intervals` intervals: the same call site in every run, as in a notebook."""
    env.setenv(seeds.RECORD_ENV, str(record))
    env.setenv(seeds.COMBINE_ENV, ":".join(str(c) for c in combine))
    seeds.reset()
    for _ in range(intervals):
        iv = interval_site(a, b)
    return iv


def test_without_seed_runs_an_interval_is_the_items_bootstrap(clean):
    a, b = outcomes(0)
    assert interval_site(a, b) == metrics.seed_item_bootstrap(a[None], b[None], 2000, 0)
    assert seeds.outcomes_of_every_seed(a, b) is None


def test_the_combining_run_resamples_seeds_then_items_over_every_seeds_outcomes(clean, tmp_path):
    others = [tmp_path / "seed-1", tmp_path / "seed-2"]
    for s, combine in ((1, []), (2, []), (0, others)):  # the other seeds' runs record, seed 0 combines
        got = one_run(clean, tmp_path / f"seed-{s}", combine, *outcomes(s))
    runs = [outcomes(s) for s in (0, 1, 2)]
    want = metrics.seed_item_bootstrap(np.stack([r[0] for r in runs]), np.stack([r[1] for r in runs]), 2000, 0)
    assert got == want
    assert got.diff == pytest.approx(0.1 + 0.01 * (0 + 1 + 2) / 3)  # the mean over seeds, not seed 0's 0.1
    assert seeds.check_complete([tmp_path / f"seed-{s}" for s in (0, 1, 2)]) == 1


def test_identical_seeds_give_the_items_interval_and_a_collapsed_pair_gives_zero(clean, tmp_path):
    a, b = outcomes(0)
    items_only = metrics.paired_bootstrap(a, b, 2000, 0).diff
    flat = np.full((40, 2), 0.25)
    got = {}
    for name, (x, y) in {"seed": (a, b), "flat": (flat, flat)}.items():
        for s, combine in ((1, []), (0, [tmp_path / f"{name}-1"])):
            got[name] = one_run(clean, tmp_path / f"{name}-{s}", combine, x, y)
    assert got["seed"].diff == pytest.approx(items_only)
    iv = got["flat"]
    assert (iv.diff, iv.low, iv.high) == (0, 0, 0) and metrics.verdict(iv) == "inconclusive"


def test_runs_whose_intervals_do_not_line_up_are_refused(clean, tmp_path):
    one, zero = tmp_path / "seed-1", tmp_path / "seed-0"
    runs = [(1, [], 60, 1, None),
            (0, [one], 50, 1, "differs between seeds"),  # other shapes
            (0, [one], 60, 2, "no counterpart"),  # a second interval the other seed never made
            (0, [one], 60, 1, None)]
    for s, combine, n, k, error in runs:
        with pytest.raises(seeds.SeedMismatchError, match=error) if error else contextlib.nullcontext():
            one_run(clean, tmp_path / f"seed-{s}", combine, *outcomes(s, n=n), intervals=k)
    seeds.reset()
    with pytest.raises(seeds.SeedMismatchError, match="differs between seeds"):
        metrics.paired_bootstrap(*outcomes(0))  # another call site at the same position
    one_run(clean, tmp_path / "seed-1", [], *outcomes(1), intervals=2)
    with pytest.raises(seeds.SeedMismatchError, match="different numbers"):
        seeds.check_complete([zero, one])  # seed 1 made an interval the combining run did not


NOTEBOOK = {
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# A tiny chapter"},
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "seed = 0\nextra = False",
         "outputs": [], "execution_count": None},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": (
            "import numpy as np, pandas as pd\n"
            "from xalign_utils import metrics\n"
            "from xalign_utils.record import record, record_results\n"
            "rng = np.random.default_rng(seed)\n"
            "a = rng.random(50)\n"
            "iv = metrics.paired_bootstrap(a, a - 0.1 - 0.01 * seed, 1000, 0)\n"
            "if extra and seed == 1:\n"
            "    metrics.paired_bootstrap(a, a, 1000, 0)\n"
            "record('diff', iv.diff, tol=0.0)\n"
            "record_results('method', pd.DataFrame({'measure': ['m'], 'value': [a.mean()]}), seed=seed)\n"
            "record_results('control', pd.DataFrame({'measure': ['m'], 'value': [0.5]}), seed=0)\n")},
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def tiny_chapter(tmp_path, monkeypatch):
    """`NOTEBOOK` as chapter "tiny", its build and stored runs under `tmp_path` (never the repository's);
    returns the folder for its outputs."""
    monkeypatch.setenv("XALIGN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(layout, "BUILD", tmp_path / "_build")
    nb = tmp_path / "tiny.ipynb"
    nb.write_text(json.dumps(NOTEBOOK))
    monkeypatch.setattr(build, "_notebook_path", lambda stem: nb)
    return tmp_path / "out"


def test_a_chapter_runs_once_per_seed_combines_and_resumes_at_the_seed(tmp_path, monkeypatch, capsys):
    """`build.execute_seeds` on a small notebook over seeds 0, 1, 2: the combining run's interval is the mean
    over seeds, the rows hold every seed once (a fixed-seed control once), a second call keeps the seeds'
    runs, and runs whose intervals do not line up fail the chapter."""
    out = tiny_chapter(tmp_path, monkeypatch)
    args = ("tiny", {"preset": "book"}, (0, 1, 2), "key-1", out / "tiny.ipynb", out / "m.json", out / "r.csv")
    build.execute_seeds(*args)
    assert json.loads((out / "m.json").read_text())["diff"]["value"] == pytest.approx(0.11)
    shown = json.loads((out / "tiny.ipynb").read_text())["cells"]
    assert "once per training seed (0, 1, 2:" in "".join(shown[1]["source"])  # said on the page
    from xalign_utils.record import read_results

    rows = read_results(out / "r.csv")
    assert sorted(zip(rows.variant, rows.seed)) == [("control", 0), ("method", 0), ("method", 1), ("method", 2)]
    capsys.readouterr()
    build.execute_seeds(*args)  # same inputs: seeds 1 and 2 are kept, seed 0 runs again to combine
    said = capsys.readouterr().out
    assert "seed 1 kept" in said and "seed 2 kept" in said
    monkeypatch.setattr(build, "notebook_parameters", lambda stem: {"seed": 0, "extra": False})
    with pytest.raises(Exception, match="different numbers|no counterpart|differs between seeds"):
        build.execute_seeds("tiny", {"preset": "book", "extra": True}, (0, 1), "key-2", out / "tiny.ipynb",
                            out / "m.json", out / "r.csv")
    assert json.loads((out / "m.json").read_text())["diff"]["value"] == pytest.approx(0.11)  # the good run stays


def test_seeds_side_by_side_combine_to_the_same_result(tmp_path, monkeypatch, capsys):
    """With `parallel` = 2 the extra seeds run at once, each in a process of its own: the same combined
    interval, the same rows, and each finished seed committed, as one at a time."""
    from xalign_utils import stored
    from xalign_utils.record import read_results

    out = tiny_chapter(tmp_path, monkeypatch)
    args = ("tiny", {"preset": "book"}, (0, 1, 2), "key-1", out / "tiny.ipynb", out / "m.json", out / "r.csv")
    build.execute_seeds(*args, parallel=2)
    assert "seeds 1, 2, 2 at a time" in capsys.readouterr().out
    assert json.loads((out / "m.json").read_text())["diff"]["value"] == pytest.approx(0.11)
    rows = read_results(out / "r.csv")
    assert sorted(zip(rows.variant, rows.seed)) == [("control", 0), ("method", 0), ("method", 1), ("method", 2)]
    for s in (1, 2):
        assert (stored.seed_dir("book", "tiny", s) / "inputs").read_text() == "key-1"


def test_a_seed_failing_side_by_side_is_said_at_once_and_stops_the_chapter(tmp_path, monkeypatch, capsys):
    """With the seeds side by side, a seed that fails is printed when it fails (not only after the others
    finish), the build raises its error, and no combining run replaces the chapter's outputs."""
    out = tiny_chapter(tmp_path, monkeypatch)
    nb = json.loads((tmp_path / "tiny.ipynb").read_text())
    nb["cells"][2]["source"] += "assert seed != 2, 'seed two breaks'\n"
    (tmp_path / "tiny.ipynb").write_text(json.dumps(nb))
    args = ("tiny", {"preset": "book"}, (0, 1, 2), "key-1", out / "tiny.ipynb", out / "m.json", out / "r.csv")
    with pytest.raises(build.BuildError, match="seed two breaks"):
        build.execute_seeds(*args, parallel=2)
    said = capsys.readouterr().out
    assert "tiny: seed 2 failed (BuildError: tiny failed in cell" in said and "combining" not in said
    assert not (out / "m.json").exists()


def test_finished_seeds_are_committed_and_a_fresh_clone_resumes_from_them(tmp_path, monkeypatch, capsys):
    """At a stored preset each finished extra seed is also written beside the stored runs (no notebook);
    with the build folder gone (a fresh clone) the next run restores seeds 1 and 2 from there instead of
    running them, only under the same inputs key, and combines to the same interval."""
    from xalign_utils import stored

    runs = tmp_path / "runs"
    out = tiny_chapter(tmp_path, monkeypatch)
    args = ("tiny", {"preset": "book"}, (0, 1, 2), "key-1", out / "tiny.ipynb", out / "m.json", out / "r.csv")
    first = build.execute_seeds(*args)
    took = {}
    for s in (1, 2):
        kept = stored.seed_dir("book", "tiny", s)
        assert (kept / "inputs").read_text() == "key-1" and any((kept / "intervals").iterdir())
        assert not list(kept.glob("*.ipynb"))  # small: no notebook
        took[s] = float((kept / "seconds").read_text())
    assert 0 < took[1] + took[2] < first  # seed 0 ran too
    for s in (1, 2):  # as if each had taken 1000 s in an earlier session (its list of digests follows)
        kept = stored.seed_dir("book", "tiny", s)
        (kept / "seconds").write_text("1000.0\n")
        listed = json.loads((kept / stored.SEED_LIST).read_text())
        (kept / stored.SEED_LIST).write_text(json.dumps({**listed, "seconds": stored.digest(kept / "seconds")}))
    import shutil

    shutil.rmtree(tmp_path / "_build")
    capsys.readouterr()
    again = build.execute_seeds(*args)
    said = capsys.readouterr().out
    assert 2000 < again < 2000 + 5 * first  # the restored seeds' seconds count: a stored wall_s is the whole cost
    assert "seed 1 restored from its committed run" in said and "seed 2 restored" in said
    assert "tiny: seed 1\n" not in said
    assert json.loads((out / "m.json").read_text())["diff"]["value"] == pytest.approx(0.11)
    shutil.rmtree(tmp_path / "_build")
    capsys.readouterr()
    build.execute_seeds("tiny", {"preset": "book"}, (0, 1, 2), "key-2", *args[4:])  # other inputs: runs again
    said = capsys.readouterr().out
    assert "restored" not in said and "tiny: seed 1\n" in said
    assert (stored.seed_dir("book", "tiny", 1) / "inputs").read_text() == "key-2"
    next((stored.seed_dir("book", "tiny", 2) / "intervals").iterdir()).unlink()  # an incomplete commit is not a seed
    assert not stored.seed_complete(stored.seed_dir("book", "tiny", 2))
    assert stored.restore_seed("book", "tiny", 2, tmp_path / "x", "key-2") is False
    shutil.rmtree(tmp_path / "_build")
    capsys.readouterr()
    build.execute_seeds("tiny", {"preset": "book"}, (0, 1, 2), "key-2", *args[4:])
    said = capsys.readouterr().out
    assert "seed 1 restored" in said and "tiny: seed 2\n" in said  # seed 2 runs again and is committed whole
    assert stored.seed_complete(stored.seed_dir("book", "tiny", 2))
    (stored.seed_dir("book", "tiny", 1) / "inputs").unlink()  # a seed kept in _build but not committed ...
    capsys.readouterr()
    build.execute_seeds("tiny", {"preset": "book"}, (0, 1, 2), "key-2", *args[4:])
    assert "seed 1 kept" in capsys.readouterr().out
    assert stored.seed_complete(stored.seed_dir("book", "tiny", 1))  # ... is committed when it is kept
    stored.drop_seeds("book", "tiny")
    assert not (runs / "partial").exists()
    assert stored.restore_seed("book", "tiny", 1, tmp_path / "x", "key-2") is False


CHILD = """
import json, sys
from pathlib import Path
from xalign_utils import build, layout
tmp = Path(sys.argv[1])
layout.BUILD = tmp / "_build"
build._notebook_path = lambda stem: tmp / "slow.ipynb"
out = tmp / "out"
build.execute_seeds("slow", {"preset": "book"}, (0, 1, 2), "key", out / "slow.ipynb", out / "m.json", out / "r.csv")
"""


def test_a_seeded_chapter_killed_with_sigkill_resumes_at_the_seed_where_it_stopped(tmp_path):
    """Kill the chapter's runs (SIGKILL, whole process group) while seed 2 runs: seed 1's finished run is
    kept, nothing of seed 2 or of the chapter's outputs is left as if complete; run again, it runs seeds 2 and
    0 only and combines all three."""
    import os
    import signal
    import subprocess
    import sys
    import time

    nb = json.loads(json.dumps(NOTEBOOK))
    nb["cells"][2]["source"] += "import time\ntime.sleep(8 if seed == 2 else 0)\n"
    (tmp_path / "slow.ipynb").write_text(json.dumps(nb))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XALIGN_RUNS_DIR": str(tmp_path / "runs")}
    cmd = [sys.executable, "-c", CHILD, str(tmp_path)]
    proc = subprocess.Popen(cmd, env=env, cwd=build.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    seen = ""
    while "slow: seed 2" not in seen:
        line = proc.stdout.readline()
        assert line, seen
        seen += line
    time.sleep(4)  # inside seed 2's notebook
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    seeds_dir = tmp_path / "_build" / "seeds" / "book" / "slow"
    assert (seeds_dir / "seed-1" / "inputs").exists() and not (seeds_dir / "seed-2" / "inputs").exists()
    assert not (tmp_path / "out" / "m.json").exists()
    again = subprocess.run(cmd, env=env, cwd=build.ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "seed 1 kept" in again.stdout and "slow: seed 2" in again.stdout
    assert json.loads((tmp_path / "out" / "m.json").read_text())["diff"]["value"] == pytest.approx(0.11)


CHILD_PARALLEL = CHILD.replace('out / "r.csv")', 'out / "r.csv", parallel=2)')  # the seeds side by side


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
def test_seeds_run_side_by_side_end_with_a_build_killed_alone(tmp_path):
    """SIGKILL to the build's own process only (not its group, as `kill PID` would): the seeds' worker
    processes and their kernels end within seconds instead of running on, unseen, into folders a resumed
    build reuses."""
    import os
    import signal
    import subprocess
    import sys
    import time

    nb = json.loads(json.dumps(NOTEBOOK))
    nb["cells"][2]["source"] += (
        "import os, time\n"
        "from pathlib import Path\n"
        "Path(os.environ['PIDS_DIR'], f'seed-{seed}').write_text(f'{os.getpid()} {os.getppid()}')\n"
        "time.sleep(600 if seed else 0)\n")  # killed long before
    (tmp_path / "slow.ipynb").write_text(json.dumps(nb))
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XALIGN_RUNS_DIR": str(tmp_path / "runs"), "PIDS_DIR": str(pids_dir)}
    assert "parallel=2" in CHILD_PARALLEL
    log = tmp_path / "build.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", CHILD_PARALLEL, str(tmp_path)], env=env, cwd=build.ROOT,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300  # two kernels starting on a loaded machine
        while len(list(pids_dir.iterdir())) < 2:  # both seeds' kernels are inside their cell
            started = sorted(f.name for f in pids_dir.iterdir())
            assert proc.poll() is None and time.monotonic() < deadline, \
                f"the seeds did not both start (inside their cell: {started}); the build printed:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        pids = {int(p) for f in pids_dir.iterdir() for p in f.read_text().split()}  # kernels and workers
        assert len(pids) == 4 and proc.pid not in pids
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30
        while any(alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [p for p in pids if alive(p)], "workers or kernels outlived the killed build"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        for f in pids_dir.iterdir():
            for p in f.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(p), signal.SIGKILL)


def run_cell(source: str, filename: str) -> str:
    """Execute `source` as a kernel would a cell (compiled under a temporary file name kept in linecache)
    and return the call site `seeds.call_site` sees from inside it."""
    import linecache

    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    scope = {"seeds": seeds}
    exec(compile(source, filename, "exec"), scope)
    return scope["site"]


def test_call_sites_tell_cells_apart_but_not_the_kernels_file_names():
    cell = "x = 1\nsite = seeds.call_site()\n"
    other = "y = 2\nsite = seeds.call_site()\n"  # the same line at the same place, in another cell
    assert run_cell(cell, "/tmp/ipykernel_1/111.py") == run_cell(cell, "/tmp/ipykernel_2/222.py")
    assert run_cell(cell, "/tmp/ipykernel_1/111.py") != run_cell(other, "/tmp/ipykernel_1/333.py")
    assert "site = seeds.call_site()" in run_cell(cell, "/tmp/ipykernel_1/111.py")


def test_a_choice_read_off_each_seeds_outcomes_must_be_the_same_in_every_seed(clean, tmp_path):
    assert seeds.agree("best method", "TLM") == "TLM"  # no seed runs: nothing recorded
    for s, choice in ((1, "TLM"), (2, "distillation")):
        clean.setenv(seeds.RECORD_ENV, str(tmp_path / f"seed-{s}" / "intervals"))
        seeds.agree("best method", choice)
    clean.setenv(seeds.RECORD_ENV, str(tmp_path / "seed-0" / "intervals"))
    clean.setenv(seeds.COMBINE_ENV, str(tmp_path / "seed-1" / "intervals"))
    assert seeds.agree("best method", "TLM") == "TLM"
    clean.setenv(seeds.COMBINE_ENV, f"{tmp_path / 'seed-1' / 'intervals'}:{tmp_path / 'seed-2' / 'intervals'}")
    with pytest.raises(seeds.SeedMismatchError, match=r"chose differently for 'best method'.*seed-2: distillation"):
        seeds.agree("best method", "TLM")
    with pytest.raises(seeds.SeedMismatchError, match="not made"):
        seeds.agree("a choice only seed 0 makes", 3)
