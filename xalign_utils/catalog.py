"""The method catalog: `book/methods.csv` rendered as a MyST table with citations (book chapter "Method catalog")."""
from __future__ import annotations

import csv
from pathlib import Path

COLUMNS = ["method", "family", "year", "venue", "base_model", "data", "granularity", "objective", "stage",
           "evaluation", "notebook"]
HEADERS = ["Method", "Family", "Year", "Venue", "Base model", "Data needed", "Granularity", "Objective",
           "From scratch / continued / fine-tune / post-hoc", "Evaluated on", "Runs in"]
MARKER = "<!-- catalog-table -->"


def read_methods(path: Path) -> list[dict[str, str]]:
    """Rows of methods.csv; refuses rows with missing required fields."""
    rows = list(csv.DictReader(Path(path).open(encoding="utf-8")))
    for i, r in enumerate(rows, 2):
        missing = [c for c in ["key"] + COLUMNS[:-1] if not r.get(c)]
        if missing:
            raise ValueError(f"{path}:{i}: missing {', '.join(missing)}")
    return rows


def catalog_markdown(path: Path, notebooks: list[str]) -> str:
    """A Markdown table of every method; each cites its primary paper; links notebooks that exist."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for r in sorted(read_methods(path), key=lambda r: (r["family"], int(r["year"]), r["method"])):
        nb = r.get("notebook", "")
        where = f"{{doc}}`../notebooks/{nb}`" if nb in notebooks else (f"planned: `{nb}`" if nb else "—")
        values = [f"{cell(r['method'])} {{cite:p}}`{r['key']}`"] + [cell(r[c]) for c in COLUMNS[1:-1]] + [where]
        lines.append("| " + " | ".join(values) + " |")
    return "\n".join(lines) + "\n"
