"""The code a chapter's stored run depends on: the package modules its notebook reaches by imports."""
import json

import pytest

from xalign_utils import closure as C


def _nb(*cells):
    return json.dumps({"cells": [{"cell_type": "code", "source": c} for c in cells]})


def _reader(files):
    return lambda path: files.get(path)


PKG = {
    "xalign_utils/__init__.py": "",
    "xalign_utils/metrics.py": "import numpy\nfrom .cache import x\n",
    "xalign_utils/cache.py": "",
    "xalign_utils/budget.py": "from .metrics import y\n",
    "xalign_utils/build.py": "from .budget import z\n",
    "xalign_utils/kit/__init__.py": "from . import tools\n",
    "xalign_utils/kit/tools.py": "def f():\n    from ..lazy import g\n",
    "xalign_utils/lazy.py": "",
    "xalign_utils/methods/__init__.py": "from .a import *\n",
    "xalign_utils/methods/a.py": "",
}


def test_modules_follow_imports_at_any_depth():
    files = {**PKG, "notebooks/ch.ipynb": _nb("%matplotlib inline\nfrom xalign_utils import kit\n",
                                              "import xalign_utils.metrics as M")}
    got = C.chapter_modules("ch", _reader(files))
    assert got == sorted(["xalign_utils/__init__.py", "xalign_utils/kit/__init__.py", "xalign_utils/kit/tools.py",
                          "xalign_utils/lazy.py", "xalign_utils/metrics.py", "xalign_utils/cache.py"])
    # a chapter that imports the runner gets it in its hash (and what it imports): the safe side
    files["notebooks/ch.ipynb"] = _nb("from xalign_utils import build")
    assert {"xalign_utils/build.py", "xalign_utils/budget.py"} <= set(C.chapter_modules("ch", _reader(files)))


def test_no_chapter_and_no_module_a_chapter_may_import_reaches_the_runner():
    """What chapters read of the build lives in `layout`; the runner stays out of every chapter's hash."""
    assert C.runner_imports() == []


def test_fingerprint_moves_with_the_chapters_code_only():
    files = {**PKG, "notebooks/ch.ipynb": _nb("from xalign_utils.metrics import y")}
    before = C.code_fingerprint("ch", _reader(files))
    assert C.code_fingerprint("ch", _reader({**files, "xalign_utils/budget.py": "changed"})) == before
    assert C.code_fingerprint("ch", _reader({**files, "xalign_utils/cache.py": "changed"})) != before
    assert C.code_fingerprint("ch", _reader({**files, "notebooks/ch.ipynb": _nb("import xalign_utils.lazy")})) != before


def test_runner_version_restales_every_chapter(monkeypatch):
    files = {**PKG, "notebooks/ch.ipynb": _nb("from xalign_utils.metrics import y")}
    before = C.code_fingerprint("ch", _reader(files))
    monkeypatch.setattr(C, "RUNNER_VERSION", C.RUNNER_VERSION + 1)
    assert C.code_fingerprint("ch", _reader(files)) != before


def test_star_import_and_missing_notebook():
    files = {**PKG, "notebooks/ch.ipynb": _nb("from xalign_utils.methods import a")}
    assert "xalign_utils/methods/a.py" in C.chapter_modules("ch", _reader(files))
    with pytest.raises(ValueError, match="notebooks/"):
        C.chapter_modules("nope", _reader(files))


def test_real_chapters():
    """The measuring chapter does not reach the budget curves; the parallel-data chapter does."""
    assert "xalign_utils/budget.py" not in C.chapter_modules("00_measuring_alignment")
    assert "xalign_utils/metrics.py" in C.chapter_modules("00_measuring_alignment")
    assert "xalign_utils/budget.py" in C.chapter_modules("01_parallel_data")
    for stem in ("02_contrastive", "03_adapters", "04_augmentation", "07_synthesis"):  # they read the build's paths
        assert not any(p.endswith(("/build.py", "/stored.py")) for p in C.chapter_modules(stem))
        assert "xalign_utils/layout.py" in C.chapter_modules(stem)


def _notebook(cells, metadata=None):
    return json.dumps({"cells": cells, "metadata": metadata or {"xalign": {"reads": []}}, "nbformat": 4,
                       "nbformat_minor": 5})


def _md(text):
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def _code(text, tags=()):
    return {"cell_type": "code", "metadata": {"tags": list(tags)} if tags else {}, "source": text, "outputs": [],
            "execution_count": None}


def test_the_code_digest_follows_what_runs_and_not_the_prose():
    """Markdown and the tags that only show or hide a cell are prose (a wording fix restales no run); code,
    the parameters tag (where papermill injects), cell order and the notebook's metadata are not."""
    base = [_md("# Title"), _code("steps = 4", ["parameters"]), _md("Some prose."), _code("x = steps", ["remove-input"])]
    digest = C.notebook_code_digest(_notebook(base))
    prose = [_md("# A new title"), base[1], _md("Other words, {glue:text}`x`."), _code("x = steps"), _md("More.")]
    assert C.notebook_code_digest(_notebook(prose)) == digest
    runs = {"code": [base[0], base[1], base[2], _code("x = 2 * steps", ["remove-input"])],
            "parameters tag": [base[0], _code("steps = 4"), base[2], base[3]],
            "order": [base[0], base[3], base[2], base[1]],
            "an execution tag": [base[0], base[1], base[2], _code("x = steps", ["remove-input", "raises-exception"])]}
    for what, cells in runs.items():
        assert C.notebook_code_digest(_notebook(cells)) != digest, what
    assert C.notebook_code_digest(_notebook(base, {"xalign": {"reads": ["01_parallel_data"]}})) != digest
    assert C.notebook_code_digest(_notebook(base), "notebooks/a.ipynb") != C.notebook_code_digest(_notebook(base), "notebooks/b.ipynb")
