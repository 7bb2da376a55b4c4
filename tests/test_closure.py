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
