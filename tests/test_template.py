"""notebooks/_template.ipynb, the skeleton a new chapter is copied from (README, "Adding a chapter"):
its code names only what the package has, and it runs under papermill as `xalign run` runs it."""
import ast
import importlib
import json
import re
import time

import pytest

from xalign_utils import build

STEM = "_template"
TEMPLATE = build.ROOT / "notebooks" / f"{STEM}.ipynb"
HEADLINE = "method_weak_p1"
FIGURE = "fig_template_gains"


def code_cells() -> list[tuple[str, str]]:
    nb = json.loads(TEMPLATE.read_text())
    return [(c["id"], "".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code"]


def _resolve(module: str, name: str):
    """`from module import name`: an attribute of the module or a submodule (None when neither)."""
    mod = importlib.import_module(module)
    if hasattr(mod, name):
        return getattr(mod, name)
    try:
        return importlib.import_module(f"{module}.{name}")
    except ModuleNotFoundError:
        return None


def test_template_code_compiles_and_names_only_what_the_package_has():
    """Every `from xalign_utils... import X` resolves, and every `alias.attr` read off an imported
    package module (`PM.distillation_loss`, `metrics.compare`) exists."""
    missing, modules = [], {}
    for cid, source in code_cells():
        tree = ast.parse(source, filename=f"{STEM} cell {cid}")
        compile(tree, f"{STEM} cell {cid}", "exec")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0 and node.module, f"cell {cid}: relative import"
                for alias in node.names:
                    obj = _resolve(node.module, alias.name)
                    if obj is None:
                        missing.append(f"cell {cid}: from {node.module} import {alias.name}")
                    elif node.module.split(".")[0] == "xalign_utils" and type(obj).__name__ == "module":
                        modules[alias.asname or alias.name] = obj
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    obj = importlib.import_module(alias.name)
                    if alias.name.split(".")[0] == "xalign_utils" and alias.asname:
                        modules[alias.asname] = obj
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules
                    and not hasattr(modules[node.value.id], node.attr)):
                missing.append(f"cell {cid}: {node.value.id}.{node.attr}")
    assert not missing, "the template names what the package does not have: " + "; ".join(missing)
    assert modules, "the template imports no xalign_utils module"


def test_template_parameters_are_the_chapters_common_ones_plus_a_small_budget():
    params = build.notebook_parameters(STEM)
    assert {"preset", "seed", "langs", "model", "steps"} <= set(params)
    assert params["preset"] == "ci" and 1 <= params["steps"] <= 50


@pytest.mark.book
@pytest.mark.slow
def test_template_runs_records_its_headline_and_glues_its_figure(tmp_path, monkeypatch):
    # a cache of its own, so that the base model's and the control's measurements really run
    monkeypatch.setenv("XALIGN_CACHE_DIR", str(tmp_path / "cache"))
    t0 = time.time()
    out = build.run(STEM, {"steps": 10}, tmp_path / "run")
    print(f"{STEM}: {time.time() - t0:.0f} s under papermill")

    metrics = json.loads((out / "metrics.json").read_text())
    assert {"base_weak_p1", "control_weak_p1", HEADLINE} <= set(metrics)
    assert 0 <= metrics[HEADLINE]["value"] <= 1 and metrics[HEADLINE]["tol"] > 0

    import pandas as pd

    results = pd.read_csv(out / "results.csv")
    assert set(results.notebook) == {STEM}
    assert set(results.variant) == {"base", "random-init-0", "distill"}

    nb = json.loads((out / f"{STEM}.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "steps = 10" in "".join(injected[0]["source"])
    glued = {o["metadata"]["scrapbook"]["name"]: o["data"] for c in nb["cells"] if c["cell_type"] == "code"
             for o in c.get("outputs", []) if "scrapbook" in o.get("metadata", {})}
    assert any(k.endswith("image/png") for k in glued.get(FIGURE, {})), f"{FIGURE} was not glued as a figure"
    assert HEADLINE in glued
    # every {glue:}/{glue:text}/{glue:figure} name the prose cites was glued by the run
    prose = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    cited = set(re.findall(r"\{glue:(?:text)?\}`([A-Za-z0-9_]+)`", prose)) | set(re.findall(r"\{glue:figure\} (\w+)", prose))
    assert cited and not cited - set(glued), f"cited but not glued: {sorted(cited - set(glued))}"
