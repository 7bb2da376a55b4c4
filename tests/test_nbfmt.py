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


def test_every_chapter_shows_at_most_150_lines_of_code_none_wider_than_its_box():
    # issue "Chapters a newcomer can read and change": the reader sees the method's core and what is
    # measured; bookkeeping lives in xalign_utils.kit (tests/test_kit_*.py). The rendered check of the
    # width is tests/test_rendered.py::test_no_code_line_is_wider_than_its_box.
    import json
    from pathlib import Path

    from xalign_utils.nbfmt import MAX_LINE, visible_code

    for path in sorted(Path(__file__).parents[1].glob("notebooks/*.ipynb")):
        lines = visible_code(json.loads(path.read_text(encoding="utf-8")))
        assert len(lines) <= 150, f"{path.name} shows {len(lines)} lines of code (at most 150)"
        wide = [line for line in lines if len(line) > MAX_LINE]
        assert not wide, f"{path.name}: {len(wide)} code line(s) wider than {MAX_LINE}, e.g. {wide[0]!r}"


def test_every_figure_caption_says_what_to_look_for():
    # a caption names what is drawn and tells the reader what to look at ("Look for/at ...")
    import json
    import re
    from pathlib import Path

    for path in sorted(Path(__file__).parents[1].glob("notebooks/*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        prose = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        for name, body in re.findall(r"```\{glue:figure\}\s*(\S+)\n(.*?)```", prose, re.S):
            caption = "\n".join(line for line in body.splitlines() if not line.startswith(":"))
            assert re.search(r"\b[Ll]ook (for|at)\b", caption), f"{path.name}: the caption of {name} does not say what to look for"


def test_no_visible_cell_glues_or_records():
    # glue, record() and the kit's glue_*/publish_*/record_* functions run in cells tagged remove-cell
    # (figures: remove-input); the rendered check is tests/test_rendered.py::test_no_glue_cell_is_shown
    import json
    import re
    from pathlib import Path

    glue = re.compile(r"(?<![\w.])(glue|glue_text|glue_verdict|record|record_results)\(|"
                      r"\.(glue_\w*|publish\w*|record\w*)\(")
    for path in sorted(Path(__file__).parents[1].glob("notebooks/*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for i, cell in enumerate(nb["cells"]):
            tags = cell.get("metadata", {}).get("tags", [])
            if cell["cell_type"] != "code" or "remove-cell" in tags or "remove-input" in tags:
                continue
            hit = glue.search("".join(cell["source"]))
            assert not hit, f"{path.name} cell {i} is shown and glues or records ({hit.group(0)})"
