"""The verdicts two builds glued, side by side: which of a chapter's verdicts flip between presets.

A chapter glues each verdict as words (`verdict_*`: "raises", "not distinguishable from", ...) and each
survey finding's status (`status_*`: "reproduced: ..."); this module reads them from two executed
notebooks (the ci build's `_build/executed/ci/`, the book preset's stored `executed.ipynb`) and lists the
ones whose words differ. The words are compared up to the first ":" or "(" or " Δ", so a verdict whose
interval moved but whose reading did not is not a flip. `xalign verdicts` prints the table.

A runner-side tool: no chapter imports it.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

PREFIXES = ("verdict_", "status_")


def glued(path: Path | str) -> dict[str, str]:
    """{name: text} of the verdict and status glue outputs of an executed notebook."""
    out = {}
    for cell in json.loads(Path(path).read_text(encoding="utf-8"))["cells"]:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name", "")
            if name.startswith(PREFIXES):
                data = o.get("data", {})
                text = data.get("application/papermill.record/text/plain") or data.get("text/plain", "")
                out[name] = text.strip("'\"")
    return out


def reading(text: str) -> str:
    """The verdict's words without its numbers ("raises", "reproduced", "partly reproduced", ...)."""
    return re.split(r"[:(]| Δ", text)[0].strip()


def compare(a: dict[str, str], b: dict[str, str]) -> list[tuple[str, str, str]]:
    """(name, reading in a, reading in b) for every verdict both hold whose reading differs."""
    return [(k, reading(a[k]), reading(b[k])) for k in sorted(set(a) & set(b)) if reading(a[k]) != reading(b[k])]


def table(stems: list[str], a: str = "ci", b: str = "book") -> str:
    """Markdown: per chapter, how many verdicts both presets hold and which flipped (findings first)."""
    from . import layout, stored

    def executed(preset, stem):
        if stored.is_stored(preset):
            return stored.chapter_dir(preset, stem) / stored.FILES["notebook"]
        return layout.BUILD / "executed" / preset / f"{stem}.ipynb"

    lines = [f"| chapter | verdicts in both | flipped | {a} → {b} |", "|---|---|---|---|"]
    for stem in stems:
        pa, pb = executed(a, stem), executed(b, stem)
        if not (pa.exists() and pb.exists()):
            lines.append(f"| {stem} | – | – | not built at {a if not pa.exists() else b} |")
            continue
        ga, gb = glued(pa), glued(pb)
        flips = sorted(compare(ga, gb), key=lambda f: (not f[0].startswith("status_"), f[0]))
        what = "; ".join(f"`{k}`: {x} → {y}" for k, x, y in flips) or "none"
        lines.append(f"| {stem} | {len(set(ga) & set(gb))} | {len(flips)} | {what} |")
    return "\n".join(lines)
