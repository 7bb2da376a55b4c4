"""Data registry and loaders: every file the book reads, with its sha256, licence and citation.

Introduced in notebook 00_measuring_alignment. The files live in the project's `data/` folder
(override with `XALIGN_DATA_DIR`), each listed in `data/MANIFEST.tsv`; a file is checked against
its checksum the first time a process opens it.

Splits of the LibreOffice-help corpus are made by whole help pages (never by paragraph), see
`page_splits`:

- ``eval``: held-out pages, chosen among pages translated in every `ci` language, until at least
  `EVAL_MIN_ROWS` deduplicated paragraphs are present in all of them;
- ``parallel``: the only parallel data alignment methods may use;
- ``pretrain``: monolingual text per language (a *comparable* corpus: the same pages exist in many
  languages; ``variant="disjoint"`` gives each page to one language only, ``variant="matched"``
  keeps the comparable corpus but cut to the disjoint one's size per language).

A paragraph of the `pretrain` or `parallel` split is dropped when its normalised text (`normalise`:
NFKC, case-folded, digits -> 0, punctuation and symbols removed) equals the normalised text of any
eval paragraph in any language, so "Left" cannot be learned from a "LEFT" elsewhere.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .languages import LANGUAGES, check_languages

SPLITS = ("eval", "parallel", "pretrain")
EVAL_MIN_ROWS = 1000
PARALLEL_PAGE_FRACTION = 0.2
SPLIT_SEED = 2024
_EVAL_LANGS = ("en", "de", "es", "ru", "zh", "hi")  # the ci languages; fixed so splits never move
CORPUS_VARIANTS = ("comparable", "disjoint", "matched")
SENTENCE_MIN_WORDS = 5  # eval items with at least this many English words are "sentences", the rest "terms"
# Help-page folders that name the application a page documents (the classification task's labels);
# text/shared pages are about every application and carry no label.
APPLICATIONS = ("scalc", "swriter", "simpress", "sdraw", "smath", "sbasic", "sdatabase", "schart")


class DataError(RuntimeError):
    """A missing or corrupted data file."""


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    licence: str
    citation: str
    folder: str


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in [
        Dataset("lohelp", "LibreOffice 7.4 help, paragraph-aligned by key, 13 languages", "MPL-2.0",
                "The Document Foundation, LibreOffice Help, version 7.4.", "lohelp"),
        Dataset("ntrex", "NTREX-128 news test references (WMT19 newstest)", "CC-BY-SA-4.0",
                "Federmann, Kocmi and Xin (2022). NTREX-128. SUMEval.", "ntrex"),
        Dataset("tatoeba", "Tatoeba similarity-search test sets (LASER)", "CC-BY-2.0-FR",
                "Artetxe and Schwenk (2019). Massively Multilingual Sentence Embeddings. TACL 7.", "tatoeba"),
        Dataset("ud", "Universal Dependencies PUD treebanks and English-EWT dev/test", "CC-BY-SA-3.0/4.0",
                "Zeman et al. (2017), CoNLL 2017 Shared Task; Silveira et al. (2014), EWT.", "ud"),
        Dataset("dict", "FreeDict bilingual dictionaries, English-X, single words", "GPL-2.0+/CC-BY-SA-3.0",
                "The FreeDict project (freedict.org); WikDict; JMdict.", "dict"),
    ]
}


def data_dir() -> Path:
    """The data folder: `$XALIGN_DATA_DIR`, else the project's `data/`."""
    env = os.environ.get("XALIGN_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


def check_data_dir() -> Path:
    """The data folder, refused with a one-line error (before any compute) when it or its MANIFEST.tsv is
    missing: a wrong `XALIGN_DATA_DIR` is the usual cause."""
    folder = data_dir()
    where = "XALIGN_DATA_DIR" if os.environ.get("XALIGN_DATA_DIR") else "the project's data/ folder"
    if not folder.is_dir():
        raise DataError(f"data folder {folder} does not exist ({where}); unset XALIGN_DATA_DIR or point it at "
                        "a copy of the project's data/")
    if not (folder / "MANIFEST.tsv").exists():
        raise DataError(f"data folder {folder} has no MANIFEST.tsv ({where}); point XALIGN_DATA_DIR at a copy of "
                        "the project's data/")
    return folder


def manifest() -> dict[str, dict[str, str]]:
    """MANIFEST.tsv as {relative path: row}."""
    return _manifest(str(data_dir()))


@functools.lru_cache(maxsize=None)
def _manifest(folder: str) -> dict[str, dict[str, str]]:
    path = Path(folder) / "MANIFEST.tsv"
    if not path.exists():
        raise DataError(f"data manifest missing: {path}; set XALIGN_DATA_DIR to the project's data/ folder")
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    return {row[0]: dict(zip(header, row)) for row in (line.split("\t") for line in lines[1:] if line)}


def registry() -> dict[str, list[dict[str, str]]]:
    """Dataset name -> its MANIFEST rows (path, sha256, source, licence, notes)."""
    out: dict[str, list[dict[str, str]]] = {name: [] for name in DATASETS}
    for rel, row in manifest().items():
        top = rel.split("/", 1)[0]
        if top in out:
            out[top].append(row)
    return out


def data_file(rel: str) -> Path:
    """Absolute path of a registered data file, verified against its MANIFEST sha256."""
    return _verified_file(str(data_dir()), rel)


@functools.lru_cache(maxsize=None)
def _verified_file(folder: str, rel: str) -> Path:
    entry = _manifest(folder).get(rel)
    if entry is None:
        raise DataError(f"{rel} is not listed in {Path(folder) / 'MANIFEST.tsv'}; add it with its sha256")
    path = Path(folder) / rel
    if not path.exists():
        raise DataError(f"missing data file {path} (MANIFEST entry {rel!r}); restore data/ from the repository")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != entry["sha256"]:
        raise DataError(
            f"checksum mismatch for {path}: sha256 {digest[:12]}… != MANIFEST {entry['sha256'][:12]}…; "
            "restore the file from the repository"
        )
    return path


def clear_caches() -> None:
    """Forget cached files and splits (after changing XALIGN_DATA_DIR in a running process)."""
    for fn in (_manifest, _verified_file, lohelp_rows, page_splits, _eval_normalised, _corpus, _parallel,
               _training_blob, _clean_eval_items):
        fn.cache_clear()


def _read_lines(rel: str) -> list[str]:
    path = data_file(rel)
    opener = gzip.open if rel.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


# ---------------------------------------------------------------- LibreOffice help

def page_of(key: str) -> str:
    """The help page of a paragraph key (`path#paragraph-id` -> `path`)."""
    return key.split("#", 1)[0]


def application_of(key: str) -> str | None:
    """The application a paragraph's help page documents (`text/scalc/...` -> 'scalc'); None for shared pages."""
    parts = key.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "text" and parts[1] in APPLICATIONS else None


@functools.lru_cache(maxsize=1)
def _punctuation_to_space() -> dict[int, str]:
    """str.translate table: every Unicode punctuation (P*) and symbol (S*) code point -> space."""
    import sys

    table = {}
    for c in range(sys.maxunicode + 1):
        cat = unicodedata.category(chr(c))
        if cat[0] in "PS":
            table[c] = " "
        elif cat == "Nd":
            table[c] = "0"
    return table


_ZEROS = re.compile("00+")


def normalise(text: str) -> str:
    """Text for near-duplicate detection: NFKC, case-folded, digit runs -> 0, punctuation/symbols -> space."""
    t = unicodedata.normalize("NFKC", text).casefold().translate(_punctuation_to_space())
    if "00" in t:
        t = _ZEROS.sub("0", t)
    return " ".join(t.split())


@functools.lru_cache(maxsize=None)
def lohelp_rows(lang: str) -> dict[str, str]:
    """All rows of one language as {key: text}, in file order (not deduplicated, not split)."""
    check_languages(lang, "lohelp")
    out: dict[str, str] = {}
    for line in _read_lines(f"lohelp/{LANGUAGES[lang].lohelp}.tsv.gz"):
        key, _, text = line.partition("\t")
        text = text.strip()
        if text:
            out[key] = text
    return out


def _page_rank(page: str) -> str:
    return hashlib.sha256(f"{SPLIT_SEED}:{page}".encode()).hexdigest()


@functools.lru_cache(maxsize=None)
def page_splits() -> dict[str, str]:
    """Every English help page -> 'eval' | 'parallel' | 'pretrain' (deterministic, by whole pages)."""
    en_pages = sorted({page_of(k) for k in lohelp_rows("en")}, key=_page_rank)
    rows = [lohelp_rows(lang) for lang in _EVAL_LANGS]
    common_by_page: dict[str, list[str]] = {}
    for key in rows[0]:
        if all(key in r for r in rows[1:]):
            common_by_page.setdefault(page_of(key), []).append(key)
    split: dict[str, str] = {}
    seen: list[set[str]] = [set() for _ in _EVAL_LANGS]
    n_eval = 0
    for page in en_pages:  # eval pages: in rank order, among pages translated in every ci language
        if n_eval >= EVAL_MIN_ROWS:
            break
        if page not in common_by_page:
            continue
        split[page] = "eval"
        for key in common_by_page[page]:
            texts = [r[key] for r in rows]
            if all(t not in s for t, s in zip(texts, seen)):
                n_eval += 1
                for t, s in zip(texts, seen):
                    s.add(t)
    rest = [p for p in en_pages if p not in split]
    n_parallel = round(PARALLEL_PAGE_FRACTION * len(rest))
    for i, page in enumerate(rest):
        split[page] = "parallel" if i < n_parallel else "pretrain"
    return split


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")


@functools.lru_cache(maxsize=None)
def _eval_normalised() -> frozenset[str]:
    """Normalised texts of every eval paragraph in every language: banned from the other splits."""
    splits = page_splits()
    from .languages import available

    return frozenset(normalise(t) for lang in available("lohelp") for t in
                     {t for k, t in lohelp_rows(lang).items() if splits.get(page_of(k)) == "eval"})


def _check_variant(variant: str, split: str) -> None:
    if variant not in CORPUS_VARIANTS:
        raise ValueError(f"unknown corpus variant {variant!r}; choose one of: {', '.join(CORPUS_VARIANTS)}")
    if variant != "comparable" and split != "pretrain":
        raise ValueError(f"variant={variant!r} only applies to split='pretrain'")


def _page_owner(page: str, among: tuple[str, ...]) -> str:
    """The one language of `among` a pretraining page belongs to in the disjoint corpus."""
    return among[int(_page_rank("owner:" + page), 16) % len(among)]


def corpus(lang: str, split: str = "pretrain", variant: str = "comparable",
           among: Sequence[str] | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Deduplicated LibreOffice-help paragraphs of one language and split: (keys, texts).

    `variant` (pretrain split only): "comparable" (every page in every language it exists in),
    "disjoint" (each page given to exactly one language of `among`, default the ci languages, so
    the corpus has no implicit parallel signal), or "matched" (the comparable corpus restricted to
    the pages the disjoint corpus gives to `among[0]`: the same pages in every language, about as
    much text per language as "disjoint" has; the size-matched comparison for it).
    """
    check_languages(lang, "lohelp")
    _check_split(split)
    _check_variant(variant, split)
    among = tuple(check_languages(among or _EVAL_LANGS, "lohelp"))
    if variant == "disjoint" and lang not in among:
        raise ValueError(f"language {lang!r} is not in among={among}; add it to get a disjoint share")
    return _corpus(lang, split, variant, among)


@functools.lru_cache(maxsize=None)
def _corpus(lang: str, split: str, variant: str, among: tuple[str, ...]):
    splits = page_splits()
    banned = _eval_normalised() if split != "eval" else frozenset()
    keys, texts, seen = [], [], set()
    for key, text in lohelp_rows(lang).items():
        page = page_of(key)
        if splits.get(page) != split or text in seen or (banned and normalise(text) in banned):
            continue
        if variant == "disjoint" and _page_owner(page, among) != lang:
            continue
        if variant == "matched" and _page_owner(page, among) != among[0]:
            continue
        seen.add(text)
        keys.append(key)
        texts.append(text)
    return tuple(keys), tuple(texts)


def parallel(langs: Sequence[str], split: str = "eval") -> dict[str, list[str]]:
    """Rows aligned by key and present in every language of `langs`: {'key': [...], lang: [...]}.

    Deduplicated so that no text repeats within a language (row i of every language list is the
    same paragraph). Use `split='parallel'` for training alignment methods, `'eval'` to measure.
    `langs` is any sequence of codes (a list is fine).
    """
    if isinstance(langs, str):
        langs = [langs]
    langs = tuple(check_languages(list(langs), "lohelp"))
    _check_split(split)
    out = _parallel(langs, split)
    return {k: list(v) for k, v in out.items()}


@functools.lru_cache(maxsize=None)
def _parallel(langs: tuple[str, ...], split: str) -> dict[str, tuple[str, ...]]:
    splits = page_splits()
    rows = [lohelp_rows(lang) for lang in langs]
    banned = _eval_normalised() if split != "eval" else frozenset()
    seen: list[set[str]] = [set() for _ in langs]
    out: dict[str, list[str]] = {"key": [], **{lang: [] for lang in langs}}
    for key in rows[0]:
        if splits.get(page_of(key)) != split or not all(key in r for r in rows[1:]):
            continue
        texts = [r[key] for r in rows]
        if any(t in s for t, s in zip(texts, seen)) or (banned and any(normalise(t) in banned for t in texts)):
            continue
        out["key"].append(key)
        for lang, t, s in zip(langs, texts, seen):
            out[lang].append(t)
            s.add(t)
    return {k: tuple(v) for k, v in out.items()}


def eval_items(langs: Sequence[str], kind: str = "sentences") -> dict[str, list[str]]:
    """Held-out parallel items of the eval split, by length of the English side.

    kind="sentences": items of at least `SENTENCE_MIN_WORDS` English words (sentence-level measures
    use these); "terms": the shorter ones (headings, UI labels: a word-level task of their own);
    "all": both. Items repeating an earlier item after normalisation (in any of `langs`) are dropped,
    and so are sentences whose normalised text, in any of `langs`, occurs inside a pretrain or
    parallel paragraph of that language (a sentence quoted in a longer training paragraph). `langs`
    must include 'en'.
    """
    if kind not in ("sentences", "terms", "all"):
        raise ValueError(f"unknown kind {kind!r}; choose 'sentences', 'terms' or 'all'")
    langs = list(langs)
    if "en" not in langs:
        raise ValueError("eval_items splits items by the length of their English side; include 'en' in langs")
    par = parallel(langs, "eval")
    keep = _clean_eval_items(tuple(check_languages(langs, "lohelp")))
    long = [len(t.split()) >= SENTENCE_MIN_WORDS for t in par["en"]]
    keep = [i for i in keep if kind == "all" or long[i] == (kind == "sentences")]
    return {k: [v[i] for i in keep] for k, v in par.items()}


@functools.lru_cache(maxsize=None)
def _training_blob(lang: str) -> str:
    """Every normalised pretrain and parallel paragraph of `lang`, joined (for containment checks)."""
    return "\x00".join(normalise(t) for split in ("pretrain", "parallel") for t in corpus(lang, split)[1])


@functools.lru_cache(maxsize=None)
def _clean_eval_items(langs: tuple[str, ...]) -> tuple[int, ...]:
    """Indices of `parallel(langs, 'eval')` rows that are neither normalised repeats nor quoted in training text."""
    par = parallel(langs, "eval")
    seen: list[set[str]] = [set() for _ in langs]
    keep = []
    for i, en in enumerate(par["en"]):
        norms = [normalise(par[lang][i]) for lang in langs]
        if any(n in s for n, s in zip(norms, seen)):
            continue
        for n, s in zip(norms, seen):
            s.add(n)
        if len(en.split()) >= SENTENCE_MIN_WORDS and any(n and n in _training_blob(lang) for n, lang in zip(norms, langs)):
            continue
        keep.append(i)
    return tuple(keep)


# ---------------------------------------------------------------- out-of-domain test sets

def ntrex(langs) -> dict[str, list[str]]:
    """NTREX-128 news sentences, line-aligned: {lang: [1997 sentences]}."""
    langs = check_languages(langs, "ntrex")
    out = {}
    for lang in langs:
        code = LANGUAGES[lang].ntrex
        rel = "ntrex/newstest2019-src.eng.txt.gz" if lang == "en" else f"ntrex/newstest2019-ref.{code}.txt.gz"
        out[lang] = _read_lines(rel)
    return out


def tatoeba(lang: str) -> tuple[list[str], list[str]]:
    """Tatoeba test pairs with English: (sentences in `lang`, their English translations)."""
    (lang,) = check_languages(lang, "tatoeba")
    if lang == "en":
        raise ValueError("tatoeba pairs are X-English; ask for a non-English language")
    code = LANGUAGES[lang].tatoeba
    return _read_lines(f"tatoeba/tatoeba.{code}-eng.{code}"), _read_lines(f"tatoeba/tatoeba.{code}-eng.eng")


@dataclass(frozen=True)
class Sentence:
    sent_id: str
    words: tuple[str, ...]
    upos: tuple[str, ...]


TREEBANKS = {"en_ewt": "UD_English-EWT/en_ewt-ud-{split}.conllu.gz"}


def conllu(treebank: str, split: str = "test") -> list[Sentence]:
    """Words and UPOS tags of a UD treebank: 'en_ewt' (split 'dev' or 'test') or '<lang>_pud'."""
    if treebank in TREEBANKS:
        if split not in ("dev", "test"):
            raise ValueError(f"{treebank} has splits 'dev' and 'test' here (no train file is vendored)")
        rel = "ud/" + TREEBANKS[treebank].format(split=split)
    elif treebank.endswith("_pud"):
        (lang,) = check_languages(treebank[:-4], "pud")
        folder = LANGUAGES[lang].pud
        rel = f"ud/{folder}/{lang}_pud-ud-test.conllu.gz"
    else:
        pud = " ".join(f"{c}_pud" for c in _pud_codes())
        raise ValueError(f"unknown treebank {treebank!r}; available: en_ewt {pud}")
    sents, words, tags, sid = [], [], [], ""
    for line in _read_lines(rel) + [""]:
        if line.startswith("# sent_id"):
            sid = line.split("=", 1)[1].strip()
        elif not line.strip():
            if words:
                sents.append(Sentence(sid, tuple(words), tuple(tags)))
            words, tags = [], []
        elif not line.startswith("#"):
            cols = line.split("\t")
            if cols[0].isdigit():  # skip multi-word token ranges (1-2) and empty nodes (1.1)
                words.append(cols[1])
                tags.append(cols[3])
    return sents


def _pud_codes() -> list[str]:
    return [c for c, lang in LANGUAGES.items() if lang.pud]


def dictionary(src: str, tgt: str) -> list[tuple[str, str]]:
    """Bilingual FreeDict word pairs (src word, tgt word); one side must be English."""
    src, tgt = check_languages([src, tgt])
    if "en" not in (src, tgt) or src == tgt:
        raise ValueError("dictionaries are English-X; pass src='en' or tgt='en' with another language")
    other = tgt if src == "en" else src
    check_languages(other, "dictionary")
    rel = next((r for r in (f"dict/en-{other}.tsv", f"dict/en-{other}.tsv.gz") if r in manifest()), None)
    if rel is None:
        raise DataError(f"no dictionary en-{other} in MANIFEST.tsv")
    pairs = [tuple(line.split("\t")[:2]) for line in _read_lines(rel) if "\t" in line]
    return pairs if src == "en" else [(b, a) for a, b in pairs]
