"""`xalign fmt`: the committed normal form of a notebook (xalign_utils.nbfmt)."""
import json

from xalign_utils import nbfmt
from xalign_utils.build import ROOT


def _nb(cells):
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def test_outputs_go_ids_stay_and_missing_ids_are_stable():
    nb = _nb([
        {"cell_type": "code", "id": "keep-me", "metadata": {"scrolled": True, "tags": ["x"]}, "source": "a = 1\nb = 2",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "1"}], "execution_count": 3},
        {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "text"]},
        {"cell_type": "markdown", "id": "keep-me", "metadata": {}, "source": "duplicate id"},
    ])
    out = nbfmt.normal_form(nb)
    code, md, dup = out["cells"]
    assert code["outputs"] == [] and code["execution_count"] is None
    assert code["id"] == "keep-me" and code["metadata"] == {"tags": ["x"]}
    assert code["source"] == ["a = 1\n", "b = 2"]
    assert md["id"].startswith("c01-") and dup["id"].startswith("c02-") and dup["id"] != "keep-me"
    assert nbfmt.normal_form(nb)["cells"][1]["id"] == md["id"]  # derived from position and text, not random
    assert nbfmt.dumps(nbfmt.normal_form(out)) == nbfmt.dumps(out)  # idempotent
    assert nb["cells"][0]["outputs"]  # the input is not changed


def test_format_rewrites_only_what_is_not_normal(tmp_path):
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(_nb([{"cell_type": "code", "id": "a", "metadata": {}, "source": "1",
                                     "outputs": [], "execution_count": 7}])))
    assert nbfmt.format_all([path], check=True) == [path]
    assert "execution_count\": 7" in path.read_text()  # --check only reports
    assert nbfmt.format_all([path]) == [path]
    assert nbfmt.format_all([path], check=True) == []


def test_committed_notebooks_are_in_normal_form():
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(paths) >= 9
    assert nbfmt.format_all(paths, check=True) == [], "run `xalign fmt`"


def test_visible_code_counts_the_non_blank_lines_of_cells_a_reader_sees():
    from xalign_utils.nbfmt import visible_code

    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": ["a = 1\n", "\n", "b = 2\n"]},
                    {"cell_type": "code", "metadata": {"tags": ["remove-cell"]}, "source": "glue('x', 1)"},
                    {"cell_type": "code", "metadata": {"tags": ["remove-input"]}, "source": "fig = plot()"},
                    {"cell_type": "code", "metadata": {"tags": ["hide-input"]}, "source": "c = 3"},
                    {"cell_type": "markdown", "metadata": {}, "source": "# text"}]}
    assert visible_code(nb) == ["a = 1", "b = 2", "c = 3"]
