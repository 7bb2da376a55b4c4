"""Where a build keeps a chapter's outputs, and a chapter's parameter defaults: what chapters read of the
build (another chapter's results, 01's recipe) without importing the runner (`build`).

Kept apart from `build` so that a chapter's stored run depends on these few lines (`closure`), not on the
whole runner: an edit to how the build orchestrates runs does not restale a chapter that only reads paths.
Tests redirect `BUILD` here (`monkeypatch.setattr(layout, "BUILD", ...)`).
"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "_build"


def toc_files() -> list[str]:
    """Every file of `_toc.yml`, in reading order (paths without suffix, relative to the root)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    out = [toc["root"]]

    def walk(entries):
        for e in entries or []:
            if "file" in e:
                out.append(e["file"])
            walk(e.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return out


def notebooks() -> list[str]:
    """Stems of the notebooks in `_toc.yml`, in order."""
    return [Path(f).name for f in toc_files() if (ROOT / f"{f}.ipynb").exists()]


def metrics_file(preset: str, stem: str) -> Path:
    """One notebook's recorded numbers (`record.record`)."""
    return BUILD / "metrics" / preset / f"{stem}.json"


def results_file(preset: str, stem: str | None = None) -> Path:
    """One notebook's result rows (`record_results`), or with `stem=None` the collected table."""
    return BUILD / "results" / (f"{preset}.csv" if stem is None else f"{preset}/{stem}.csv")


def items_file(preset: str, stem: str) -> Path:
    """One notebook's per-item outcomes (`record.items_path` of its `results_file`, read with `record.read_items`)."""
    from .record import items_path

    return items_path(results_file(preset, stem))


def notebook_path(stem: str) -> Path:
    path = ROOT / "notebooks" / f"{stem}.ipynb"
    if not path.exists():
        raise ValueError(f"no notebook {stem!r}; available: {' '.join(notebooks())}")
    return path


def notebook_parameters(stem: str, path: Path | None = None) -> dict:
    """The notebook's `parameters` cell: name -> default value."""
    import papermill as pm

    return {name: literal(p["default"])
            for name, p in pm.inspect_notebook(str(path or notebook_path(stem))).items()}


def literal(text: str):
    """A parameters-cell default as Python reads it (`5e-3` is a float; YAML would keep it a string)."""
    import ast

    import yaml

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text
