"""Stored runs: a preset's executed chapters committed to the repository, with a manifest.

The `book` preset trains for hours; its chapters are executed once (GPU when lent, else CPU chapter by
chapter) and stored in `book/runs/<preset>/<stem>/`: the executed notebook (figures re-encoded as
palette PNGs), its recorded metrics, result rows and per-item outcomes, and `run.json` saying what they
were computed from (hashes of the chapter's code cells, the package, the data manifest, the checkpoints' logs,
the parameters and the upstream chapters' outputs), at which commit, on which machine and how long it
took. `manifest.json` beside the chapters lists every `run.json`.

`xalign build --preset book` restores the stored chapters into `_build/`, executes only the chapters that
have no stored run (so an interrupted book build resumes at the chapter where it stopped), and renders;
a chapter whose inputs changed since its run is rendered from its stored run under a banner naming the
commit it was computed at; `--stale` recomputes exactly those chapters.

A chapter is stored by writing a complete new folder beside the old one and swapping the two by
renames: a process killed at any point leaves either the old run or the new one, never a mixture
(`recover` finishes or discards a swap a kill interrupted).
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import platform
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "book" / "runs"  # `$XALIGN_RUNS_DIR` stands in for it (tests, a user's own stored runs)
STORED_PRESETS = ("book",)
FILES = {"notebook": "executed.ipynb", "metrics": "metrics.json", "results": "results.csv",
         "items": "results.items.npz"}
RUN_JSON = "run.json"


def is_stored(preset: str) -> bool:
    """Whether the preset's runs are stored in the repository (`STORED_PRESETS`) rather than in `_build/`."""
    return preset in STORED_PRESETS


def runs_root() -> Path:
    import os

    return Path(os.environ.get("XALIGN_RUNS_DIR") or RUNS)


def preset_dir(preset: str, root: Path | None = None) -> Path:
    return Path(root or runs_root()) / preset


def chapter_dir(preset: str, stem: str, root: Path | None = None) -> Path:
    return preset_dir(preset, root) / stem


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def inputs_hash(inputs: dict) -> str:
    """One hash of a chapter's input components (`build.input_components`)."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def git_commit() -> str:
    """The short commit of the working tree, `+changes` when the package or notebooks differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "xalign_utils", "notebooks"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty else "") if head.returncode == 0 else "unknown"


def compress_images(nb: dict) -> int:
    """Re-encode every PNG output of an executed notebook (shown or glued) as a palette PNG when that is
    smaller (matplotlib figures have few colours); returns the bytes saved."""
    from PIL import Image

    saved = 0
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            for mime, value in list(out.get("data", {}).items()):
                if not mime.endswith("image/png"):
                    continue
                raw = base64.b64decode(value if isinstance(value, str) else "".join(value))
                img = Image.open(io.BytesIO(raw))
                buf = io.BytesIO()
                img.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(buf, "PNG", optimize=True)
                if buf.tell() < len(raw):
                    out["data"][mime] = base64.b64encode(buf.getvalue()).decode()
                    saved += len(raw) - buf.tell()
    return saved


def store(preset: str, stem: str, sources: dict[str, Path], inputs: dict, wall_s: float,
          root: Path | None = None) -> Path:
    """Store one executed chapter: `sources` maps `FILES` keys to the files the build wrote (a missing
    optional file is skipped; the notebook is required). The new folder is written completely, then
    swapped in by renames."""
    if not Path(sources.get("notebook", "")).is_file():
        raise ValueError(f"{stem}: no executed notebook to store")
    final = chapter_dir(preset, stem, root)
    new, old = final.with_name(f".{stem}.new"), final.with_name(f".{stem}.old")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    files = {}
    for key, name in FILES.items():
        src = sources.get(key)
        if src is None or not Path(src).exists():
            continue
        if key == "notebook":
            nb = json.loads(Path(src).read_text(encoding="utf-8"))
            compress_images(nb)
            (new / name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        else:
            shutil.copyfile(src, new / name)
        files[name] = digest(new / name)
    run = {"preset": preset, "chapter": stem, "hash": inputs_hash(inputs), "inputs": inputs, "files": files,
           "commit": git_commit(), "wall_s": round(float(wall_s), 1),
           "machine": f"{platform.machine()} {platform.system()}, {_cores()} cores",
           "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (new / RUN_JSON).write_text(json.dumps(run, indent=1, sort_keys=True) + "\n")
    _swap_in(new, final, old)
    _write_manifest(preset, root)
    return final


def _swap_in(new: Path, final: Path, old: Path) -> None:
    """Put the complete folder `new` in place of `final` by renames (the previous one is moved to `old`
    first and removed last): a kill leaves the old folder or the new one, never a mix."""
    if final.exists():
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _cores() -> int:
    import os

    return os.cpu_count() or 1


def recover(preset: str, root: Path | None = None) -> None:
    """Finish or discard a swap that a killed process left: a complete `.<stem>.new` with no `<stem>`
    becomes the run (the old one was already moved aside), otherwise leftovers are removed."""
    base = preset_dir(preset, root)
    if not base.exists():
        return
    for new in base.glob(".*.new"):
        stem = new.name[1:-4]
        final, old = base / stem, base / f".{stem}.old"
        if not final.exists() and _complete(new):
            new.rename(final)
        else:
            shutil.rmtree(new, ignore_errors=True)
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
    for old in base.glob(".*.old"):
        final = base / old.name[1:-4]
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:  # killed between the two renames with an incomplete new run: the old one comes back
            old.rename(final)
    _write_manifest(preset, root)


def _write_manifest(preset: str, root: Path | None = None) -> None:
    from .cache import atomic_write_text

    atomic_write_text(preset_dir(preset, root) / "manifest.json", json.dumps(manifest(preset, root), indent=1,
                                                                             sort_keys=True) + "\n")


def _complete(folder: Path) -> bool:
    run = folder / RUN_JSON
    if not run.exists():
        return False
    try:
        files = json.loads(run.read_text())["files"]
    except (ValueError, KeyError):
        return False
    return FILES["notebook"] in files and all((folder / n).exists() and digest(folder / n) == h for n, h in files.items())


def read_run(preset: str, stem: str, root: Path | None = None) -> dict | None:
    """The stored run of a chapter (its `run.json`), or None when there is none or it is incomplete."""
    folder = chapter_dir(preset, stem, root)
    return json.loads((folder / RUN_JSON).read_text()) if _complete(folder) else None


def manifest(preset: str, root: Path | None = None) -> dict:
    """{stem: run.json} of every complete stored chapter."""
    base = preset_dir(preset, root)
    runs = {}
    for folder in sorted(base.iterdir()) if base.exists() else []:
        if folder.is_dir() and not folder.name.startswith(".") and (run := read_run(preset, folder.name, root)):
            runs[folder.name] = run
    return {"preset": preset, "chapters": runs}


def changed_inputs(run: dict, inputs: dict) -> list[str]:
    """The input components that differ between a stored run and now."""
    return sorted(k for k in set(run["inputs"]) | set(inputs) if run["inputs"].get(k) != inputs.get(k))


def restore(preset: str, stem: str, targets: dict[str, Path], root: Path | None = None) -> dict | None:
    """Copy a stored chapter's files to where the build keeps them (`targets`, by `FILES` key); a target
    whose file the run lacks is removed. Returns its run, or None (nothing copied) when there is none."""
    run = read_run(preset, stem, root)
    if run is None:
        return None
    folder = chapter_dir(preset, stem, root)
    for key, target in targets.items():
        target = Path(target)
        src = folder / FILES[key]
        if src.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        else:
            target.unlink(missing_ok=True)
    return run


# ---------------------------------------------------------------- partial runs: one seed at a time

SEED_FILES = ("inputs", "metrics.json", "results.csv", "results.items.npz", "seconds")  # and its `intervals/` folder;
# `seconds`: how long the seed's run took, added to the stored run's `wall_s` when it is restored
SEED_LIST = "files.json"  # every file of a committed seed with its sha256: a seed missing one is not restored


def seed_dir(preset: str, stem: str, seed: int, root: Path | None = None) -> Path:
    """Where the finished run of one extra seed of a chapter whose combining run has not finished yet is
    committed (`partial/<preset>/<stem>/seed-<s>/`): what the combining run needs of it (its inputs stamp,
    metrics, result rows, per-item outcomes and recorded intervals), not its notebook."""
    return Path(root or runs_root()) / "partial" / preset / stem / f"seed-{seed}"


def keep_seed(preset: str, stem: str, seed: int, folder: Path, root: Path | None = None) -> Path:
    """Commit a finished seed's run (`folder`, the build's seed folder) beside the stored runs: written
    whole into a new folder, then swapped in by renames (a kill leaves the old one or none, never half)."""
    folder = Path(folder)
    if not (folder / "inputs").is_file():
        raise ValueError(f"{stem}: seed {seed} has not finished (no inputs stamp in its folder)")
    final = seed_dir(preset, stem, seed, root)
    new, old = final.with_name(f".{final.name}.new"), final.with_name(f".{final.name}.old")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    for name in SEED_FILES:
        if (folder / name).exists():
            shutil.copyfile(folder / name, new / name)
    if (folder / "intervals").is_dir():
        shutil.copytree(folder / "intervals", new / "intervals")
    listed = {f.relative_to(new).as_posix(): digest(f) for f in sorted(new.rglob("*")) if f.is_file()}
    (new / SEED_LIST).write_text(json.dumps(listed, indent=1, sort_keys=True) + "\n")
    _swap_in(new, final, old)
    return final


def restore_seed(preset: str, stem: str, seed: int, folder: Path, key: str, root: Path | None = None) -> bool:
    """Copy a committed seed's run into the build's seed `folder` when it was computed from the inputs
    `key` (the stamp last: a kill during the copy leaves a folder that does not look finished). Returns
    whether it did."""
    src = seed_dir(preset, stem, seed, root)
    if not seed_complete(src) or (src / "inputs").read_text() != key:
        return False
    folder = Path(folder)
    (folder / "inputs").unlink(missing_ok=True)
    shutil.rmtree(folder / "intervals", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    for name in SEED_FILES[1:]:
        (folder / name).unlink(missing_ok=True)
        if (src / name).exists():
            shutil.copyfile(src / name, folder / name)
    if (src / "intervals").is_dir():
        shutil.copytree(src / "intervals", folder / "intervals")
    shutil.copyfile(src / "inputs", folder / "inputs")
    return True


def seed_complete(folder: Path) -> bool:
    """Whether a committed seed has every file its list names (all that its run wrote: per-item outcomes
    too, where it wrote them), each with its digest, and the stamp and rows a combining run needs."""
    folder = Path(folder)
    try:
        listed = json.loads((folder / SEED_LIST).read_text())
    except (OSError, ValueError):
        return False
    needed = {"inputs", "results.csv"}
    return needed <= set(listed) and all((folder / n).is_file() and digest(folder / n) == h for n, h in listed.items())


def drop_seeds(preset: str, stem: str, root: Path | None = None) -> None:
    """Remove a chapter's committed seeds (its combined run is stored) and the folders left empty (one
    another process is writing into stays)."""
    base = Path(root or runs_root()) / "partial"
    shutil.rmtree(base / preset / stem, ignore_errors=True)
    for d in (base / preset, base):
        try:
            d.rmdir()
        except OSError:  # not empty, or gone
            pass


def banner(run: dict, changed: list[str]) -> dict:
    """A markdown cell for the top of a chapter rendered from a stale stored run."""
    what = ", ".join(changed) or "its inputs"
    text = (f"```{{warning}}\nThese outputs were computed at commit `{run['commit']}` ({run['finished'][:10]}, "
            f"{run['preset']} preset). Since then {what} changed, so they may not match this chapter's code; "
            f"`xalign build --preset {run['preset']} --stale` recomputes it.\n```")
    return {"cell_type": "markdown", "metadata": {"tags": ["stale-banner"]}, "source": text}


def after_title(cells: list[dict]) -> int:
    """Where a note under a chapter's title goes: after its first markdown cell (the seeds note, the stale
    banner; the build puts them back there when it renders current prose over a run)."""
    return next((i for i, c in enumerate(cells) if c["cell_type"] == "markdown"), -1) + 1


def with_banner(nb: dict, run: dict, changed: list[str]) -> dict:
    """A copy of the executed notebook `nb` with `banner` under its title (`after_title`)."""
    nb = {**nb, "cells": list(nb["cells"])}
    nb["cells"].insert(after_title(nb["cells"]), {**banner(run, changed), "id": "stale-banner"})
    return nb


def check_manifest(preset: str, stems: list[str], root: Path | None = None) -> list[str]:
    """Problems with a preset's stored runs (empty when every chapter of `stems` is stored, complete,
    and listed in `manifest.json` as its `run.json` says)."""
    problems = []
    base = preset_dir(preset, root)
    listed = json.loads((base / "manifest.json").read_text())["chapters"] if (base / "manifest.json").exists() else {}
    for stem in stems:
        run = read_run(preset, stem, root)
        if run is None:
            problems.append(f"{stem}: no complete stored run")
            continue
        for key in ("hash", "inputs", "commit", "wall_s", "machine", "finished", "files"):
            if key not in run:
                problems.append(f"{stem}: run.json lacks {key}")
        if run.get("hash") != inputs_hash(run.get("inputs", {})):
            problems.append(f"{stem}: run.json's hash is not the hash of its inputs")
        if listed.get(stem) != run:
            problems.append(f"{stem}: manifest.json does not list its run.json")
    return problems
