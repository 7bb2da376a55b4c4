"""Stored runs (xalign_utils.stored): a chapter is stored whole or not at all, a killed swap is
recovered, stale runs are named, and a book build killed with SIGKILL resumes where it stopped."""
import base64
import io
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from xalign_utils import build, stored

INPUTS = {"chapter code": "a", "package": "b", "parameters": {"preset": "book"}}


def png(colours: int = 3) -> str:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    palette = rng.integers(0, 255, (colours, 3), dtype=np.uint8)
    img = Image.fromarray(palette[rng.integers(0, colours, (60, 80))])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def executed(tmp_path, name="nb.ipynb", text="x"):
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Title"},
                    {"cell_type": "code", "metadata": {}, "source": "1", "outputs": [
                        {"output_type": "display_data", "metadata": {}, "data": {"image/png": png(), "text/plain": text}}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / name
    path.write_text(json.dumps(nb))
    (tmp_path / "m.json").write_text('{"p1": 0.5}')
    return {"notebook": path, "metrics": tmp_path / "m.json", "results": tmp_path / "absent.csv"}


def test_a_stored_chapter_has_its_files_run_json_and_manifest(tmp_path):
    root = tmp_path / "runs"
    stored.store("book", "00_x", executed(tmp_path), INPUTS, 12.34, root)
    run = stored.read_run("book", "00_x", root)
    assert run["hash"] == stored.inputs_hash(INPUTS) and run["wall_s"] == 12.3 and run["inputs"] == INPUTS
    assert set(run["files"]) == {"executed.ipynb", "metrics.json"}  # the missing results file is skipped
    assert stored.check_manifest("book", ["00_x"], root) == []
    assert stored.check_manifest("book", ["00_x", "01_y"], root) == ["01_y: no complete stored run"]


def test_restore_copies_the_run_and_removes_what_it_lacks(tmp_path):
    root = tmp_path / "runs"
    stored.store("book", "00_x", executed(tmp_path), INPUTS, 1, root)
    targets = {"notebook": tmp_path / "b" / "nb.ipynb", "metrics": tmp_path / "b" / "m.json",
               "results": tmp_path / "b" / "r.csv"}
    targets["results"].parent.mkdir()
    targets["results"].write_text("old")
    assert stored.restore("book", "00_x", targets, root)["commit"]
    assert targets["metrics"].read_text() == '{"p1": 0.5}' and not targets["results"].exists()
    assert stored.restore("book", "01_missing", targets, root) is None


def test_figures_are_stored_as_smaller_palette_pngs(tmp_path):
    from PIL import Image

    nb = json.loads(executed(tmp_path)["notebook"].read_text())
    before = nb["cells"][1]["outputs"][0]["data"]["image/png"]
    assert stored.compress_images(nb) > 0
    after = nb["cells"][1]["outputs"][0]["data"]["image/png"]
    img = Image.open(io.BytesIO(base64.b64decode(after)))
    assert img.mode == "P" and img.size == (80, 60) and len(after) < len(before)


def test_a_tampered_run_is_not_a_run(tmp_path):
    root = tmp_path / "runs"
    folder = stored.store("book", "00_x", executed(tmp_path), INPUTS, 1, root)
    (folder / "metrics.json").write_text('{"p1": 0.9}')
    assert stored.read_run("book", "00_x", root) is None
    assert stored.check_manifest("book", ["00_x"], root) == ["00_x: no complete stored run"]


@pytest.mark.parametrize("state", ["new complete, old aside", "new incomplete, old aside", "both present"])
def test_recover_finishes_or_undoes_a_swap_a_kill_interrupted(tmp_path, state):
    root = tmp_path / "runs"
    folder = stored.store("book", "00_x", executed(tmp_path, text="old"), INPUTS, 1, root)
    new = stored.store("book", "tmp", executed(tmp_path, text="new"), {**INPUTS, "package": "c"}, 1, root)
    old_run, new_run = stored.read_run("book", "00_x", root), stored.read_run("book", "tmp", root)
    new.rename(folder.with_name(".00_x.new"))
    if state != "both present":
        folder.rename(folder.with_name(".00_x.old"))
    if state == "new incomplete, old aside":
        (folder.with_name(".00_x.new") / "run.json").unlink()
    stored.recover("book", root)
    want = new_run if state == "new complete, old aside" else old_run
    assert stored.read_run("book", "00_x", root)["hash"] == want["hash"]
    assert sorted(p.name for p in (root / "book").iterdir() if p.name.startswith(".")) == []


def test_a_stale_run_is_rendered_under_a_banner_naming_its_commit(tmp_path):
    root = tmp_path / "runs"
    stored.store("book", "00_x", executed(tmp_path), INPUTS, 1, root)
    run = stored.read_run("book", "00_x", root)
    changed = stored.changed_inputs(run, {**INPUTS, "package": "changed"})
    assert changed == ["package"]
    nb = stored.with_banner(json.loads((root / "book" / "00_x" / "executed.ipynb").read_text()), run, changed)
    text = nb["cells"][1]["source"]
    assert nb["cells"][0]["source"] == "# Title" and run["commit"] in text and "package changed" in text
    assert "xalign build --preset book --stale" in text


def test_stale_is_refused_for_a_preset_that_is_not_stored():
    with pytest.raises(build.BuildError, match="--stale applies to stored presets"):
        build.build("ci", stale=True, render=False)


def test_a_book_build_killed_with_sigkill_resumes_and_never_stores_a_partial_run(tmp_path):
    """`xalign build --preset book` on one chapter (00b, about half a minute), killed with SIGKILL while
    the notebook runs: nothing is stored; run again, it executes and stores the chapter; a third run
    restores it without executing; with the stored run gone, a fourth stores it from the finished build,
    with the seconds that build took."""
    env = {**os.environ, "XALIGN_RUNS_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "xalign_utils.cli", "build", "--preset", "book", "--notebook", "00b_emergence",
           "--no-render", "--force", "--jobs", "1"]
    proc = subprocess.Popen(cmd, env=env, cwd=build.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    first = proc.stdout.readline()
    assert "00b_emergence: running" in first, first
    time.sleep(5)  # inside the notebook
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert stored.read_run("book", "00b_emergence", tmp_path) is None
    assert not any((tmp_path / "book").glob("*")) if (tmp_path / "book").exists() else True
    again = subprocess.run(cmd[:-3] + ["--jobs", "1"], env=env, cwd=build.ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "00b_emergence: done" in again.stdout
    assert stored.check_manifest("book", ["00b_emergence"], tmp_path) == []
    third = subprocess.run(cmd[:-3] + ["--jobs", "1"], env=env, cwd=build.ROOT, capture_output=True, text=True)
    assert third.returncode == 0 and "00b_emergence: stored run of" in third.stdout, third.stdout
    wall = stored.read_run("book", "00b_emergence", tmp_path)["wall_s"]
    assert wall > 0
    import shutil

    shutil.rmtree(tmp_path / "book" / "00b_emergence")  # its build finished, its stored run is gone
    fourth = subprocess.run(cmd[:-3] + ["--jobs", "1"], env=env, cwd=build.ROOT, capture_output=True, text=True)
    assert fourth.returncode == 0 and "00b_emergence: stored from its finished build" in fourth.stdout, fourth.stdout
    assert stored.read_run("book", "00b_emergence", tmp_path)["wall_s"] == wall  # its seconds, not 0


def test_every_stale_stored_chapter_gets_a_banner_when_the_book_renders(tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_RUNS_DIR", str(tmp_path))
    stem = "00b_emergence"
    params = build.preset_parameters(stem, "book")
    current = build.input_components(stem, params)
    stored.store("book", stem, executed(tmp_path), current, 1)
    assert build.stale_banners("book") == {}  # computed from today's inputs: no banner
    stored.store("book", stem, executed(tmp_path), {**current, "package": "an older package"}, 1)
    (run, changed), = build.stale_banners("book").values()
    assert changed == ["package"] and run["chapter"] == stem
    assert build.stale_banners("ci") == {}  # ci runs are not stored


def test_the_chapters_that_show_budget_curves_depend_on_them():
    params = {"preset": "ci", "langs": ["en", "de"]}
    assert "budget curves" in build.input_components("02_contrastive", params)
    assert "budget curves" not in build.input_components("00_measuring_alignment", params)


def test_the_committed_book_runs_are_complete_listed_and_cover_the_presets_seeds():
    """Every chapter stored in `book/runs/book/` is complete (its files hash as run.json says), listed in
    manifest.json, small, and, where the chapter runs per seed, holds every seed's rows and says so."""
    from xalign_utils.presets import get_preset
    from xalign_utils.record import read_results

    base = stored.RUNS / "book"
    stems = sorted(d.name for d in base.iterdir() if d.is_dir()) if base.exists() else []
    assert set(stems) <= set(build.notebooks()), "a stored run of a chapter that is not in the book"
    assert stored.check_manifest("book", stems, stored.RUNS) == []
    seeds = set(get_preset("book").seeds)
    for stem in stems:
        folder = base / stem
        assert sum(f.stat().st_size for f in folder.iterdir()) < 8e6, f"{stem}: stored run over 8 MB"
        rows = read_results(folder / "results.csv") if (folder / "results.csv").exists() else None
        if build.seeded(stem):
            assert rows is not None and seeds <= set(rows.seed.astype(int)), f"{stem}: not every seed's rows"
            text = (folder / "executed.ipynb").read_text()
            assert '"seeds-note"' in text, f"{stem}: the page does not say its intervals cover the seeds"


def test_the_committed_partial_runs_are_whole_seeds_of_chapters_not_yet_stored():
    """`book/runs/partial/book/<chapter>/seed-<s>/` holds finished extra seeds (stamp, rows, intervals) of
    chapters whose combined run is not stored yet (a stored one drops them), seeds of the preset but not
    the combining seed 0, and no notebooks."""
    from xalign_utils.presets import get_preset

    base = stored.RUNS / "partial" / "book"
    extra = {f"seed-{s}" for s in get_preset("book").seeds[1:]}
    for chapter in sorted(base.iterdir()) if base.exists() else []:
        assert chapter.name in build.notebooks() and build.seeded(chapter.name), chapter.name
        run = stored.read_run("book", chapter.name, stored.RUNS)
        for seed in chapter.iterdir():
            if seed.name.startswith("."):
                continue
            assert seed.name in extra, f"{chapter.name}/{seed.name}"
            assert stored.seed_complete(seed), f"{chapter.name}/{seed.name}: a file is missing or differs"
            assert (seed / "intervals").is_dir() and not list(seed.glob("*.ipynb"))
            assert run is None or run["hash"] != (seed / "inputs").read_text(), f"{chapter.name}: stored and partial"


def test_stored_only_renders_nothing_it_would_have_to_compute(tmp_path, monkeypatch):
    """`--stored-only` (`make book` at the book preset) refuses, before any work, to build a book with a
    chapter that has no stored run, naming it and the commands; it is refused for a preset not stored."""
    monkeypatch.setenv("XALIGN_RUNS_DIR", str(tmp_path))
    with pytest.raises(build.BuildError, match=r"no stored book run of 00_measuring_alignment, .*07_synthesis; "
                                               r"`xalign build --preset book --notebook 00_measuring_alignment`"):
        build.build("book", stored_only=True, render=False)
    with pytest.raises(build.BuildError, match="--stored-only applies to stored presets"):
        build.build("ci", stored_only=True, render=False)


def test_a_seeded_chapters_inputs_name_the_presets_seeds(monkeypatch):
    """A chapter run once per seed and combined depends on which seeds: more seeds at the book preset restale
    it (they did not: the seeds were in no input); a chapter that is not seeded (00b) does not list them."""
    import dataclasses

    from xalign_utils import presets

    params = build.preset_parameters("01_parallel_data", "book")
    assert build.input_components("01_parallel_data", params)["seeds"] == [0, 1, 2]
    for stem in build.notebooks():  # the committed runs say which seeds they combined: the preset's
        run = stored.read_run("book", stem)
        if run is not None and build.seeded(stem):
            assert run["inputs"]["seeds"] == list(presets.get_preset("book").seeds), stem
    before = build.input_hash("01_parallel_data", params)
    monkeypatch.setitem(presets.PRESETS, "book", dataclasses.replace(presets.PRESETS["book"], seeds=(0, 1, 2, 3)))
    assert build.input_hash("01_parallel_data", params) != before
    assert "seeds" not in build.input_components("00b_emergence", build.preset_parameters("00b_emergence", "book"))
