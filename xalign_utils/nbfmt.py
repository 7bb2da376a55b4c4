"""`xalign fmt`: the one normal form of a committed notebook, so that a chapter's diff shows only what changed.

Introduced in the README ("Adding a chapter"). The chapters are `.ipynb` files edited directly (in
JupyterLab or as JSON), not generated from another source; this module is what keeps them diff-friendly:

- outputs and execution counts removed (outputs belong in `_build/`);
- every cell keeps its `id`; a cell without one (or with a duplicate) gets a stable id derived from its
  position and text, never a random one, so formatting twice changes nothing;
- cell and notebook metadata kept, minus what an editor adds per session (`execution`, `collapsed`,
  `scrolled`, `ExecuteTime`);
- JSON with one-space indent, non-ASCII kept as written, sorted keys, source stored as a list of lines,
  and a final newline (what `nbformat` writes).

`tests/test_structure.py` checks that every committed notebook is in this form (`xalign fmt --check`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

VOLATILE = ("execution", "collapsed", "scrolled", "ExecuteTime")


def _lines(source) -> list[str]:
    text = "".join(source) if isinstance(source, list) else str(source)
    return text.splitlines(keepends=True)


def normal_form(nb: dict) -> dict:
    """The notebook in its committed normal form (a new dict; the input is not changed)."""
    nb = json.loads(json.dumps(nb))
    seen = set()
    for i, cell in enumerate(nb.get("cells", [])):
        cell["source"] = _lines(cell.get("source", ""))
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k not in VOLATILE}
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        cid = cell.get("id")
        if not cid or cid in seen:
            digest = hashlib.sha1(f"{i}\n{''.join(cell['source'])}".encode()).hexdigest()[:8]
            cid = f"c{i:02d}-{digest}"
        cell["id"] = cid
        seen.add(cid)
    return nb


def dumps(nb: dict) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"


def format_notebook(path: Path, check: bool = False) -> bool:
    """Rewrite `path` in normal form (atomically); with `check`, only report. True when it was not."""
    from .cache import atomic_write_text

    text = Path(path).read_text(encoding="utf-8")
    want = dumps(normal_form(json.loads(text)))
    if want == text:
        return False
    if not check:
        atomic_write_text(Path(path), want)
    return True


def format_all(paths, check: bool = False) -> list[Path]:
    """The notebooks of `paths` that were (or, with `check`, would be) rewritten."""
    return [Path(p) for p in paths if format_notebook(Path(p), check)]


HIDDEN_TAGS = ("remove-cell", "remove-input")
MAX_LINE = 76  # characters of a code line that fit the rendered code box at 1280 px (tests/test_rendered.py)


def visible_code(nb: dict) -> list[str]:
    """The non-blank code lines a reader of the rendered chapter sees (cells without a remove tag)."""
    lines = []
    for cell in nb.get("cells", []):
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.get("cell_type") == "code" and not any(t in tags for t in HIDDEN_TAGS):
            lines += [line.rstrip("\n") for line in _lines(cell.get("source", "")) if line.strip()]
    return lines
