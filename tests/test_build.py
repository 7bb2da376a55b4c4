"""The book pipeline without executing notebooks: parameters, recording, regression check, catalog."""
import contextlib
import json
import os
import re

import pytest
from _procs import cmdline, descendants

from xalign_utils import build, layout, record as rec
from xalign_utils.catalog import catalog_markdown, read_methods

NOTEBOOKS = sorted((build.ROOT / "notebooks").glob("*.ipynb"))


def test_toc_lists_notebooks_that_exist():
    assert build.notebooks()[0] == "00_measuring_alignment"
    for f in build.toc_files():
        assert (build.ROOT / f"{f}.md").exists() or (build.ROOT / f"{f}.ipynb").exists(), f


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_committed_clean_with_a_parameters_cell(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), "strip outputs"
    params = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    if not path.stem.startswith("_"):
        # a chapter whose parameters are not a `chapters.Chapter` (07 reads the others' results and trains
        # nothing) has no languages or model of its own
        from xalign_utils.chapters import CHAPTERS, Chapter

        trains = issubclass(CHAPTERS.get(path.stem, Chapter), Chapter)
        needed = {"preset", "seed", "langs", "model"} if trains else {"preset", "seed"}
        assert needed <= set(build.notebook_parameters(path.stem))


@pytest.mark.parametrize("overrides,match", [
    ({"lang": ["en"]}, "unknown parameter lang for 00_measuring_alignment; it takes: preset, seed, langs"),
    ({"langs": "en,fi"}, "parameter langs of 00_measuring_alignment must be a list"),
    ({"seed": "one"}, "parameter seed of 00_measuring_alignment must be an int"),
    ({"langs": ["en", "xx"]}, "unknown language 'xx'"),
    ({"preset": "huge"}, "unknown preset 'huge'"),
])
def test_bad_parameters_are_refused_before_compute(overrides, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        build.validate_parameters("00_measuring_alignment", overrides)


def test_good_parameters_merge_with_defaults():
    params = build.validate_parameters("00_measuring_alignment", {"langs": ["en", "fi", "tr"], "seed": 1})
    assert params["langs"] == ["en", "fi", "tr"] and params["seed"] == 1 and params["preset"] == "ci"


def test_record_writes_metrics_json(tmp_path, monkeypatch):
    path = tmp_path / "m.json"
    monkeypatch.setenv("XALIGN_METRICS_PATH", str(path))
    rec.record("a_metric", 0.5)
    rec.record("b_metric", 12.0, tol=0.1)
    got = json.loads(path.read_text())
    assert got == {"a_metric": {"value": 0.5, "tol": 0.025}, "b_metric": {"value": 12.0, "tol": 0.1}}
    assert repr(rec.Formatted(0.12345, ".3f")) == "0.123"
    with pytest.raises(ValueError, match="must be finite"):
        rec.record("c", float("nan"))


def test_check_fails_with_a_readable_drift_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(layout, "BUILD", tmp_path / "_build")
    monkeypatch.setattr(build, "reference_file", lambda preset, stem: tmp_path / "ref" / preset / f"{stem}.json")
    stem = build.notebooks()[0]
    now = build.metrics_file("ci", stem)
    now.parent.mkdir(parents=True)
    now.write_text(json.dumps({"p1": {"value": 0.30, "tol": 0.03}, "gap": {"value": 0.1, "tol": 0.03}}))
    assert build.check("ci", update=True) == 0  # accept as reference
    assert build.check("ci") == 0
    now.write_text(json.dumps({"p1": {"value": 0.40, "tol": 0.03}, "gap": {"value": 0.11, "tol": 0.03}}))
    assert build.check("ci") == 1
    out = capsys.readouterr().out
    assert re.search(r"p1\s+0\.3000\s+0\.4000\s+0\.1000\s+0\.0300\s+DRIFT", out)
    assert re.search(r"gap\s+0\.1000\s+0\.1100\s+0\.0100\s+0\.0300\s+ok", out)
    now.write_text(json.dumps({"p1": {"value": 0.30, "tol": 0.03}}))
    assert build.check("ci") == 1 and "MISSING" in capsys.readouterr().out


def test_check_without_references_says_so_in_one_line_instead_of_a_drift_table(tmp_path, monkeypatch, capsys):
    """`xalign check --preset book` (no references: the stored runs are the book preset's record) used to
    print every metric as EXTRA and "FAILED: 9 notebook(s) drifted"."""
    monkeypatch.setattr(layout, "BUILD", tmp_path / "_build")
    monkeypatch.setattr(build, "reference_file", lambda preset, stem: tmp_path / "ref" / preset / f"{stem}.json")
    now = build.metrics_file("book", build.notebooks()[0])
    now.parent.mkdir(parents=True)
    now.write_text(json.dumps({"p1": {"value": 0.30, "tol": 0.03}}))
    with pytest.raises(ValueError, match=r"no references for preset book .*pytest -m book.*--update"):
        build.check("book")
    assert capsys.readouterr().out == ""  # refused before any table
    assert build.check("book", update=True) == 0 and build.check("book") == 0  # recorded, then checked


def test_input_hash_changes_with_the_notebook_and_parameters():
    stem = build.notebooks()[0]
    a = build.input_hash(stem, {"preset": "ci"})
    assert a == build.input_hash(stem, {"preset": "ci"})
    assert a != build.input_hash(stem, {"preset": "ci", "langs": ["en", "de"]})


def test_method_catalog_cites_every_method():
    rows = read_methods(build.ROOT / "book" / "methods.csv")
    bib = (build.ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib, flags=re.M))
    assert len(rows) >= 40
    assert {r["key"] for r in rows} <= keys
    table = catalog_markdown(build.ROOT / "book" / "methods.csv", build.notebooks())
    assert table.count("{cite:p}") == len(rows)
    assert "{doc}`../notebooks/00_measuring_alignment`" in table


def test_a_failing_cell_names_notebook_and_cell_and_keeps_good_output(tmp_path, monkeypatch):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError('boom')")]
    src = tmp_path / "broken.ipynb"
    nbformat.write(nb, src)
    monkeypatch.setattr(build, "_notebook_path", lambda stem: src)
    out = tmp_path / "out" / "broken.ipynb"
    out.parent.mkdir()
    out.write_text("good output")
    with pytest.raises(build.BuildError, match=r"broken failed in cell \d+ .*ValueError: boom"):
        build.execute("broken", {}, out, tmp_path / "out" / "metrics.json")
    assert out.read_text() == "good output"  # the previous good output is not replaced


def test_record_results_round_trip_and_duplicate_variant(tmp_path, monkeypatch):
    import pandas as pd

    path = tmp_path / "r.csv"
    monkeypatch.setenv("XALIGN_RESULTS_PATH", str(path))
    monkeypatch.setenv("XALIGN_NOTEBOOK", "00_test")
    monkeypatch.setattr(rec, "_recorded", {})
    table = pd.DataFrame({"src": ["en", "en"], "tgt": ["de", "ru"], "layer": [2, 2],
                          "measure": ["p_at_1_cosine"] * 2, "value": [0.25, 0.125]})
    rec.record_results("base", table, family="base", seed=3, n=434)
    rec.record_results("control", pd.DataFrame({"measure": ["apps_accuracy"], "value": [0.5], "n": [633]}),
                       family="control")
    got = rec.read_results(path)
    assert list(got.columns) == rec.RESULT_COLUMNS and len(got) == 3
    row = got.iloc[0].to_dict()
    assert row == {"notebook": "00_test", "variant": "base", "family": "base", "src": "en", "tgt": "de", "layer": 2,
                   "measure": "p_at_1_cosine", "value": 0.25, "seed": 3, "n": 434}
    assert got.iloc[2][["src", "tgt", "layer", "n"]].tolist() == ["all", "all", -1, 633]
    with pytest.raises(ValueError, match=r"variant 'base' \(seed 3\) was already recorded by this notebook"):
        rec.record_results("base", table, seed=3)
    rec.record_results("base", table, seed=4)  # another seed of the same variant is another entry
    rec.record_results("base", table.assign(value=[0.5, 0.5]), seed=3, replace=True)
    assert rec.read_results(path).query("variant == 'base' and seed == 3").value.tolist() == [0.5, 0.5]
    assert len(rec.read_results(path).query("variant == 'base' and seed == 4")) == 2
    with pytest.raises(ValueError, match="columns measure and value"):
        rec.record_results("other", pd.DataFrame({"x": [1]}))
    with pytest.raises(ValueError, match="non-finite"):
        rec.record_results("nan", pd.DataFrame({"measure": ["m"], "value": [float("nan")]}))


def test_build_collects_every_notebooks_results(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.setattr(layout, "BUILD", tmp_path / "_build")
    stems = build.notebooks()
    for i, stem in enumerate(stems):
        f = build.results_file("ci", stem)
        f.parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([{"notebook": stem, "variant": f"v{i}", "family": "base", "src": "en", "tgt": "de", "layer": 0,
                       "measure": "m", "value": 0.1 * i, "seed": 0, "n": 10}]).to_csv(f, index=False)
    out = rec.read_results(build.collect_results("ci"))
    assert list(out.notebook) == stems and list(out.variant) == [f"v{i}" for i in range(len(stems))]


def test_model_parameter_is_checked_before_compute(monkeypatch):
    from xalign_utils.models import ModelLoadError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="hub model 'no-such-org/no-such-model' is not available offline"):
        build.validate_parameters("00_measuring_alignment", {"model": "no-such-org/no-such-model"})


def test_exponent_literals_are_floats_in_defaults_and_on_the_command_line():
    """`lr = 1e-3` in a parameters cell and `-p lr 1e-3` on the command line are both the float 0.001
    (YAML 1.1 alone reads them as strings, and the notebook would compare a string with 0)."""
    assert build.notebook_parameters("03_adapters")["adapter_lr"] == 5e-3
    assert build.notebook_parameters("02_contrastive")["lr"] == 1e-3
    assert build.parse_value("1e-3") == 0.001 and build.parse_value("2.5E+2") == 250.0
    assert build.parse_value("[1, 4]") == [1, 4] and build.parse_value("base") == "base"
    assert build.validate_parameters("03_adapters", {"adapter_lr": 1e-3})["adapter_lr"] == 1e-3
    from xalign_utils.cli import parse_settings
    assert parse_settings(["train.lr=1e-3"])["train"]["lr"] == 0.001


def test_parallel_build_starts_a_notebook_only_after_the_ones_it_reads():
    reads = {"00": [], "01": [], "04": ["01"], "07": ["00", "01", "04"]}.get
    assert build.ready_notebooks(["00", "01", "04", "07"], set(), reads) == ["00", "01"]
    assert build.ready_notebooks(["04", "07"], {"01"}, reads) == []
    assert build.ready_notebooks(["04", "07"], {"00"}, reads) == ["04"]
    assert build.ready_notebooks(["07"], set(), reads) == ["07"]


def test_jobs_come_from_the_environment_or_the_cores(monkeypatch):
    monkeypatch.setenv("XALIGN_JOBS", "3")
    assert build.default_jobs() == 3
    monkeypatch.setenv("XALIGN_JOBS", "zero")
    with pytest.raises(ValueError, match="XALIGN_JOBS must be a positive integer"):
        build.default_jobs()
    monkeypatch.delenv("XALIGN_JOBS")
    assert 1 <= build.default_jobs() <= 4


def test_the_timing_table_lists_every_notebook_and_the_wall_time():
    table = build.timing_table({"00_a": 12.0, "01_b": None, "02_c": 30.4}, wall=31.0, render=5.0)
    lines = table.splitlines()
    assert any(l.startswith("00_a") and l.endswith("12") for l in lines)
    assert any(l.startswith("01_b") and "up to date" in l for l in lines)
    assert any(l.startswith("sum over notebooks") and l.endswith("42") for l in lines)
    assert any(l.startswith("executing them (wall)") and l.endswith("31") for l in lines)


def _notebook(tmp_path, name, *cells):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(c) for c in cells]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


RECORDS_ITEMS = '''
import numpy as np, pandas as pd
from xalign_utils.record import record_results

class Eval:
    def __init__(self, x):
        self.x = np.asarray(x, dtype=float)
    def tidy(self):
        return pd.DataFrame({"measure": ["strong_map"], "value": [self.x.mean()], "n": [len(self.x)]})
    def item_outcomes(self):
        return {"strong_map": {"all": self.x}}

record_results("last, λ = 1", Eval([VALUES]))
'''


def test_execute_moves_the_items_file_beside_the_results_and_keeps_it_when_a_run_fails(tmp_path, monkeypatch):
    """A notebook's per-item outcomes land beside its results CSV only when it succeeds: no partial file is
    left, a failing run keeps the previous good items, a run that records none removes the stale ones."""
    sources = {"good": _notebook(tmp_path, "good", RECORDS_ITEMS.replace("VALUES", "0.25, 0.5")),
               "again": _notebook(tmp_path, "again", RECORDS_ITEMS.replace("VALUES", "0.75, 1.0"),
                                  "raise ValueError('boom')"),
               "none": _notebook(tmp_path, "none", "y = 2")}
    monkeypatch.setattr(build, "_notebook_path", lambda stem: sources[stem])
    out = tmp_path / "out"
    csv = out / "nb.csv"
    args = (out / "nb.ipynb", out / "nb.json", csv)
    build.execute("good", {}, *args)
    items = rec.items_path(csv)
    assert items == out / "nb.items.npz"
    got = rec.read_items(items)
    assert list(got) == [("last, λ = 1", 0)] and got[("last, λ = 1", 0)]["strong_map"]["all"].tolist() == [0.25, 0.5]
    assert sorted(p.name for p in out.iterdir()) == ["nb.csv", "nb.ipynb", "nb.items.npz"]  # no record(): no metrics
    good = items.read_bytes()
    with pytest.raises(build.BuildError, match="again failed"):
        build.execute("again", {}, *args)
    assert items.read_bytes() == good and rec.read_results(csv).value.tolist() == [0.375]
    assert not [p for p in out.iterdir() if ".partial." in p.name and p.suffix != ".ipynb"]  # only the partial notebook
    build.execute("none", {}, *args)
    assert not items.exists() and not csv.exists()  # the earlier run's outputs are not this run's


def test_publish_outputs_moves_what_the_run_wrote_and_removes_what_it_did_not(tmp_path):
    pairs = [(tmp_path / f"{n}.partial.x", tmp_path / f"{n}.x") for n in ("a", "b")]
    for tmp, final in pairs:
        final.write_text("old")
    pairs[0][0].write_text("new")
    build.publish_outputs(pairs)
    assert pairs[0][1].read_text() == "new" and not pairs[0][0].exists() and not pairs[1][1].exists()


def test_items_file_is_beside_the_results_file():
    assert build.items_file("ci", "01_parallel_data") == layout.BUILD / "results" / "ci" / "01_parallel_data.items.npz"
    assert build.items_file("ci", "01_parallel_data") == rec.items_path(build.results_file("ci", "01_parallel_data"))


def test_input_hash_follows_the_results_and_items_of_the_notebooks_read(tmp_path, monkeypatch):
    """07 reads every chapter's result rows and per-item outcomes: it reruns when they change."""
    monkeypatch.setattr(layout, "BUILD", tmp_path / "_build")
    monkeypatch.setattr(build, "upstream", lambda stem: ["01_parallel_data"])
    stem, params = build.notebooks()[0], {"preset": "ci"}
    hashes = [build.input_hash(stem, params)]
    results, items = build.results_file("ci", "01_parallel_data"), build.items_file("ci", "01_parallel_data")
    results.parent.mkdir(parents=True)
    results.write_text("rows")
    hashes.append(build.input_hash(stem, params))
    rec.write_items(items, {("base", 0): {"strong_map": {"all": [0.5, 0.25]}}})
    hashes.append(build.input_hash(stem, params))
    rec.write_items(items, {("base", 0): {"strong_map": {"all": [0.5, 0.5]}}})
    hashes.append(build.input_hash(stem, params))
    assert len(set(hashes)) == 4
    rec.write_items(items, {("base", 0): {"strong_map": {"all": [0.5, 0.5]}}})  # the same outcomes again
    assert build.input_hash(stem, params) == hashes[-1]


def test_the_injected_parameters_cell_is_hidden_in_the_rendered_chapter(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "a = 1", "outputs": []},
                    {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "source": "a = 2", "outputs": []}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb))
    build.hide_injected_parameters(path)
    cells = json.loads(path.read_text())["cells"]
    assert cells[0]["metadata"]["tags"] == ["parameters"]
    assert cells[1]["metadata"]["tags"] == ["injected-parameters", "remove-cell"]
    assert cells[1]["source"] == "a = 2"  # still in the executed notebook


def test_cells_may_run_for_as_long_as_the_book_budgets_need(monkeypatch):
    """A chapter at the book preset trains each method for 1,024-4,096 steps in one cell (a 900 s limit
    stopped 03's book run); the ci preset keeps its limit, and `$XALIGN_CELL_TIMEOUT` overrides both."""
    monkeypatch.delenv("XALIGN_CELL_TIMEOUT", raising=False)
    assert build.cell_timeout({"preset": "ci"}) == build.CELL_TIMEOUT_S
    assert build.cell_timeout({"preset": "book"}) is None
    assert build.cell_timeout({"steps": 10}) == build.CELL_TIMEOUT_S  # `xalign run` overrides only
    monkeypatch.setenv("XALIGN_CELL_TIMEOUT", "0")
    assert build.cell_timeout({"preset": "ci"}) is None
    monkeypatch.setenv("XALIGN_CELL_TIMEOUT", "60")
    assert build.cell_timeout({"preset": "book"}) == 60
    monkeypatch.setenv("XALIGN_CELL_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="XALIGN_CELL_TIMEOUT must be a whole number"):
        build.cell_timeout({"preset": "ci"})


def _cell(kind, source, tags=(), outputs=None):
    cell = {"cell_type": kind, "metadata": {"tags": list(tags)} if tags else {}, "source": source}
    if kind == "code":
        cell.update(outputs=outputs or [], execution_count=1 if outputs else None)
    return cell


def test_the_page_shows_the_current_prose_over_the_run_only_when_the_code_is_the_same():
    """A wording fix reaches the page without recomputing: markdown (edited, added, removed) and display tags
    come from the current notebook, outputs (and the cells the run added: injected parameters, seeds note,
    where they stood) from the run; when the code cells differ the run keeps its own prose, which matches
    its outputs."""
    out = [{"output_type": "stream", "name": "stdout", "text": "0.42\n"}]
    source = [_cell("markdown", "# Title"), _cell("code", "steps = 4", ["parameters"]),
              _cell("markdown", "Old words."), _cell("code", "print(0.42)", ["remove-input"])]
    run = {"cells": [source[0], _cell("markdown", "seeds", ["seeds-note"]), source[1],
                     _cell("code", "steps = 8", ["injected-parameters", "remove-cell"]), source[2],
                     {**source[3], "outputs": out, "execution_count": 3, "metadata": {"tags": ["remove-input"],
                                                                                        "papermill": {"duration": 1.0}}}],
           "metadata": {"papermill": {}}, "nbformat": 4, "nbformat_minor": 5}
    now = {"cells": [source[0], source[1], _cell("markdown", "New words, {glue:text}`x`."),
                     _cell("code", "print(0.42)", ["hide-input"])], "metadata": {}}
    page = build.with_current_prose(run, now)
    assert [("".join(c["source"]), c["metadata"].get("tags")) for c in page["cells"]] == [
        ("# Title", None), ("seeds", ["seeds-note"]), ("steps = 4", ["parameters"]),
        ("steps = 8", ["injected-parameters", "remove-cell"]), ("New words, {glue:text}`x`.", None),
        ("print(0.42)", ["hide-input"])]
    assert page["cells"][-1]["outputs"] == out and page["cells"][-1]["metadata"]["papermill"] == {"duration": 1.0}
    assert run["cells"][4]["source"] == "Old words."  # the run itself is untouched
    rewritten = {"cells": [_cell("markdown", "# Title"), _cell("markdown", "A new paragraph."), source[1],
                           _cell("code", "print(0.42)"), _cell("markdown", "A closing paragraph.")], "metadata": {}}
    page = build.with_current_prose(run, rewritten)  # markdown added, removed, moved: the run's cells follow
    assert [("".join(c["source"]), c["metadata"].get("tags")) for c in page["cells"]] == [
        ("# Title", None), ("seeds", ["seeds-note"]), ("A new paragraph.", None), ("steps = 4", ["parameters"]),
        ("steps = 8", ["injected-parameters", "remove-cell"]), ("print(0.42)", None), ("A closing paragraph.", None)]
    assert page["cells"][5]["outputs"] == out and page["metadata"] == run["metadata"]
    changed_code = {"cells": [*now["cells"][:3], _cell("code", "print(0.43)")], "metadata": {}}
    added_cell = {"cells": [*now["cells"], _cell("code", "y = 1")], "metadata": {}}
    code_to_markdown = {"cells": [*now["cells"][:3], _cell("markdown", "print(0.42)")], "metadata": {}}
    for other in (changed_code, added_cell, code_to_markdown):
        assert build.with_current_prose(run, other) is None


def test_a_real_chapters_inputs_ignore_its_prose_and_its_page_shows_the_new_prose(tmp_path, monkeypatch):
    """Edit a markdown cell of a chapter (00b): its input hash is unchanged (no recompute, no stale banner)
    and the page the book renders from the old run carries the edit; edit a code cell: the hash changes."""
    stem = "00b_emergence"
    nb = json.loads(build._notebook_path(stem).read_text())
    params = build.preset_parameters(stem, "ci")
    before = build.input_hash(stem, params)
    executed = tmp_path / "executed.ipynb"
    executed.write_text(json.dumps(nb))  # stands in for its run: the same cells
    md = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown" and i > 0)
    nb["cells"][md]["source"] = "A sentence the run never saw.\n"
    edited = tmp_path / f"{stem}.ipynb"
    edited.write_text(json.dumps(nb))
    monkeypatch.setattr(build, "_notebook_path", lambda s: edited)
    assert build.input_hash(stem, params) == before
    page = json.loads(build.page_text(stem, executed))
    assert page["cells"][md]["source"] == "A sentence the run never saw.\n"
    code = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and "parameters" not in c["metadata"].get("tags", []))
    nb["cells"][code]["source"] = "".join(nb["cells"][code]["source"]) + "\npass\n"
    edited.write_text(json.dumps(nb))
    assert build.input_hash(stem, params) != before


def test_the_cells_a_run_added_go_back_by_the_rule_that_placed_them():
    """The seeds note after the first markdown cell (as `add_seeds_note` puts it), the injected parameters
    after the parameters cell, even where a code cell comes before the title or the title is rewritten."""
    run = {"cells": [_cell("code", "steps = 4", ["parameters"]), _cell("code", "steps = 8", ["injected-parameters"]),
                     _cell("markdown", "# Title"), _cell("markdown", "seeds", ["seeds-note"]), _cell("code", "x = 1")],
           "metadata": {}}
    now = {"cells": [_cell("code", "steps = 4", ["parameters"]), _cell("markdown", "# A new title"),
                     _cell("markdown", "New."), _cell("code", "x = 1")], "metadata": {}}
    page = build.with_current_prose(run, now)
    assert ["".join(c["source"]) for c in page["cells"]] == ["steps = 4", "steps = 8", "# A new title", "seeds", "New.",
                                                            "x = 1"]


GLUE_READ = re.compile(r"\{glue(?::\w+)?\}`([^`:]+)|```\{glue(?::\w+)?\}\s+(\S+)")


def test_every_stored_page_keeps_its_run_cells_and_its_prose_reads_only_what_the_run_glued():
    """For each committed book run whose code is the notebook's: the page built from it has every cell of
    the run (the seeds note after the title, the injected parameters after the parameters cell) and every
    glue name its current prose reads was glued by that run, so the render cannot miss one."""
    from xalign_utils import stored

    checked = 0
    for stem in build.notebooks():
        path = stored.chapter_dir("book", stem) / stored.FILES["notebook"]
        if not path.exists():
            continue
        run = json.loads(path.read_text())
        page = build.with_current_prose(run, json.loads(build._notebook_path(stem).read_text()))
        if page is None:  # its code changed since: the page keeps the run's own prose (under a banner)
            continue
        checked += 1
        code_ids = [c["id"] for c in run["cells"] if c["cell_type"] == "code"]
        assert [c["id"] for c in page["cells"] if c["cell_type"] == "code"] == code_ids, stem
        for i, cell in enumerate(run["cells"]):
            tags = cell.get("metadata", {}).get("tags", [])
            if "injected-parameters" in tags:
                j = next(j for j, c in enumerate(page["cells"]) if c["id"] == cell["id"])
                assert "parameters" in page["cells"][j - 1]["metadata"].get("tags", []), stem
            if "seeds-note" in tags:
                first = next(j for j, c in enumerate(page["cells"]) if c["cell_type"] == "markdown")
                assert page["cells"][first + 1]["source"] == cell["source"], stem
        glued = {o["metadata"]["scrapbook"]["name"] for c in run["cells"] for o in c.get("outputs", [])
                 if "scrapbook" in o.get("metadata", {})}
        read = {a or b for c in page["cells"] if c["cell_type"] == "markdown"
                for a, b in GLUE_READ.findall("".join(c["source"]))}
        assert read and read <= glued, f"{stem} reads glue names its stored run never made: {sorted(read - glued)}"
    assert checked  # not vacuous: at least one stored chapter is current


CTRL_C_CHILD = """
import sys
from pathlib import Path
from xalign_utils import cli, layout
layout.BUILD = Path(sys.argv[1]) / "_build"
sys.exit(cli.main(["build", "--preset", "ci", "--notebook", "00b_emergence", "--no-render", "--force", "--jobs", "1"]))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads processes from /proc (Linux)")
def test_ctrl_c_stops_a_build_at_once_in_one_line_and_leaves_nothing_running(tmp_path):
    """Ctrl-C (SIGINT to the foreground group) while a chapter runs: the build ends within seconds with exit
    status 130 and one line saying what is kept, no traceback of the build, its workers or their kernels, and
    none of them left running (before, the workers' tracebacks ran to some fifty lines)."""
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", CTRL_C_CHILD, str(tmp_path)], cwd=build.ROOT, text=True,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # as in a terminal
    try:
        import select

        assert select.select([proc.stdout], [], [], 120)[0], "the build printed nothing in 120 s"
        assert "00b_emergence: running" in proc.stdout.readline()
        deadline = time.monotonic() + 120
        while not any("ipykernel" in cmdline(p) for p in descendants(proc.pid)):  # the kernel is up
            assert time.monotonic() < deadline, "no kernel started"
            time.sleep(0.5)
        time.sleep(2)  # inside the notebook
        below = descendants(proc.pid)
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        assert time.monotonic() - t0 < 30 and proc.returncode == 130, (proc.returncode, out[-2000:])
        assert "xalign: interrupted; what finished is kept" in out and "Traceback" not in out, out[-3000:]
        deadline = time.monotonic() + 30
        while any(cmdline(p) for p in below) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [cmdline(p) for p in below if cmdline(p)], "workers or kernels outlived the interrupted build"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
