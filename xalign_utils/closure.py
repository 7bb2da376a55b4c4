"""The package code a chapter runs: the modules its notebook imports, and theirs, read statically.

A stored run (`stored`) is stale when the code that computed it changed. Hashing the whole package made
every stored run stale on any edit (a fix in chapter 06's generation code restaled chapter 00), so the
`package` input of a chapter is the hash of the modules reachable from its notebook's imports: every
`import xalign_utils...` / `from xalign_utils... import ...` in its code cells and, transitively, every
import of the package in those modules, at any depth of the source (an import inside a function counts).
That over-approximates what a run executes, which is the safe side.

The runner (`RUNNER_MODULES`: the build, the store, the command line) is not imported by any chapter or by
any module a chapter imports (`runner_imports` lists offenders; a test keeps it empty: what chapters read
of the build, its paths and parameter defaults, lives in `layout`). So the runner's own work on a run is
not in the hash: it decides which notebook runs with which parameters (inputs of their own), joins the
seeds' rows, adds the page's seeds note and re-encodes figures when storing. A runner change that alters
what a run writes bumps `RUNNER_VERSION`, which every chapter's fingerprint includes.

Not imported by any chapter, so editing it restales nothing.
"""
from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "xalign_utils"
RUNNER_MODULES = ("build", "stored", "cli", "catalog", "nbfmt", "closure", "verdicts")
RUNNER_VERSION = 1  # bump when a runner change alters what a chapter's run writes (its stored runs go stale)

Reader = Callable[[str], "str | None"]  # repository-relative path -> text (None: no such file)


def _working_tree(path: str) -> str | None:
    p = ROOT / path
    return p.read_text(encoding="utf-8") if p.is_file() else None


def module_file(name: str, read: Reader = _working_tree) -> str | None:
    """The repository path of module `name` (`xalign_utils.kit.adapters`), or None."""
    base = name.replace(".", "/")
    for path in (f"{base}/__init__.py", f"{base}.py"):
        if read(path) is not None:
            return path
    return None


def _imports(source: str, module: str, is_package: bool, read: Reader) -> set[str]:
    """The package's modules (and their parent packages) that `source` imports, at any depth."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - (0 if is_package else 1) - (node.level - 1)]
                target = ".".join(parts + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != PACKAGE:
                continue
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names
                      if a.name != "*" and module_file(f"{target}.{a.name}", read)}
    return {".".join(m.split(".")[:i]) for m in found for i in range(1, len(m.split(".")) + 1)}


def notebook_code(text: str) -> str:
    """The Python of a notebook's code cells (IPython magics and shell lines dropped)."""
    cells = json.loads(text)["cells"]
    lines = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))


DISPLAY_TAGS = frozenset({"remove-cell", "remove-input", "remove-output", "hide-cell", "hide-input", "hide-output"})


def notebook_code_digest(text: str, path: str = "") -> str:
    """Hash of what running a notebook executes: its code cells in order (source, and metadata but for the
    tags that only shape the page, `DISPLAY_TAGS`) and the notebook's metadata. Its prose, the markdown
    cells and those display tags, is not in it: a wording fix restales no run, and the build renders the
    current prose over the outputs (`build.with_current_prose`)."""
    nb = json.loads(text)
    code = []
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        meta = dict(c.get("metadata", {}))
        tags = sorted(set(meta.pop("tags", [])) - DISPLAY_TAGS)
        code.append(["".join(c["source"]), tags, meta])
    payload = {"path": path, "code": code, "metadata": nb.get("metadata", {})}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def chapter_modules(stem: str, read: Reader = _working_tree) -> list[str]:
    """Repository paths of the package modules chapter `stem` reaches (sorted). A runner module reached is
    included, the safe side; `runner_imports` says where one is."""
    nb = read(f"notebooks/{stem}.ipynb")
    if nb is None:
        raise ValueError(f"no notebook notebooks/{stem}.ipynb; the chapters are the notebooks in notebooks/ (name without .ipynb)")
    todo, seen = list(_imports(notebook_code(nb), "__main__", False, read)), {}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(name, read)
        seen[name] = path
        if path is not None:
            todo += _imports(read(path), name, path.endswith("__init__.py"), read)
    return sorted(p for p in seen.values() if p is not None)


def runner_imports(read: Reader = _working_tree) -> list[str]:
    """`importer -> runner module` for every notebook and non-runner module of the package that imports a
    runner module (`RUNNER_MODULES`): each one puts the runner into chapters' hashes (empty by design)."""
    runner = {f"{PACKAGE}.{m}" for m in RUNNER_MODULES}
    out = []
    for path in sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "notebooks").glob("*.ipynb")):
        out += [f"{path} -> {m}" for m in sorted(_imports(notebook_code(read(path)), "__main__", False, read) & runner)]
    for p in sorted((ROOT / PACKAGE).rglob("*.py")):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        if name in runner:
            continue
        path = p.relative_to(ROOT).as_posix()
        out += [f"{path} -> {m}" for m in sorted(_imports(read(path), name, p.name == "__init__.py", read) & runner)]
    return out


def code_fingerprint(stem: str, read: Reader = _working_tree, modules: list[str] | None = None) -> str:
    """Hash of the modules `chapter_modules` lists (paths and contents; `modules`: that list, already read)
    and `RUNNER_VERSION`."""
    h = hashlib.sha256(f"runner {RUNNER_VERSION}\n".encode())
    for path in modules if modules is not None else chapter_modules(stem, read):
        h.update(path.encode())
        h.update(read(path).encode())
    return h.hexdigest()[:16]


def at_commit(commit: str) -> Reader:
    """A reader of the repository's files at `commit` (through `git show`)."""
    import subprocess

    def read(path: str) -> str | None:
        out = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, capture_output=True, text=True)
        return out.stdout if out.returncode == 0 else None

    return read
