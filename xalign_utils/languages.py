"""The one table of languages: ISO 639-1 codes in the API, mapped to each source's own code.

Introduced in notebook 00_measuring_alignment. Every language list in the project is derived from
this table or from `xalign_utils.presets`; nothing else spells language codes.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1, used everywhere in the API
    name: str
    script: str
    lohelp: str | None = None  # LibreOffice-help file stem
    ntrex: str | None = None  # NTREX-128 file code
    tatoeba: str | None = None  # Tatoeba (LASER) code; pairs are with English
    pud: str | None = None  # UD PUD treebank folder
    dictionary: bool = False  # an en-XX FreeDict dictionary exists


LANGUAGES: dict[str, Language] = {
    lang.code: lang
    for lang in [
        Language("en", "English", "Latin", "en", "eng", "eng", "UD_English-PUD"),
        Language("de", "German", "Latin", "de", "deu", "deu", "UD_German-PUD", True),
        Language("es", "Spanish", "Latin", "es", "spa", "spa", "UD_Spanish-PUD", True),
        Language("fr", "French", "Latin", "fr", "fra", "fra", "UD_French-PUD", True),
        Language("ru", "Russian", "Cyrillic", "ru", "rus", "rus", "UD_Russian-PUD", True),
        Language("zh", "Chinese", "Han", "zh", "zho-CN", "cmn", "UD_Chinese-PUD"),
        Language("ja", "Japanese", "Japanese", "ja", "jpn", "jpn", "UD_Japanese-PUD", True),
        Language("ko", "Korean", "Hangul", "ko", "kor", None, None),
        Language("hi", "Hindi", "Devanagari", "hi", "hin", "hin", "UD_Hindi-PUD", True),
        Language("tr", "Turkish", "Latin", "tr", "tur", "tur", "UD_Turkish-PUD", True),
        Language("fi", "Finnish", "Latin", "fi", "fin", "fin", "UD_Finnish-PUD", True),
        Language("id", "Indonesian", "Latin", "id", "ind", "ind", "UD_Indonesian-PUD", True),
        Language("vi", "Vietnamese", "Latin", "vi", "vie", None, None),
        Language("ar", "Arabic", "Arabic", None, "arb", "ara", "UD_Arabic-PUD", True),
    ]
}


class UnknownLanguageError(ValueError):
    """A language code the project (or one of its sources) does not have."""


def check_languages(langs, source: str | None = None) -> list[str]:
    """Validate ISO 639-1 codes (optionally: available in `source`); return them as a list.

    Raises a one-line `UnknownLanguageError` that lists the available codes.
    """
    if isinstance(langs, str):
        langs = [langs]
    langs = list(langs)
    if not langs:
        raise UnknownLanguageError("no languages given; pass a list of ISO 639-1 codes such as ['en', 'de']")
    avail = available(source)
    bad = [lang for lang in langs if lang not in avail]
    if bad:
        where = f" in {source}" if source else ""
        raise UnknownLanguageError(
            f"unknown language {', '.join(map(repr, bad))}{where}; available: {' '.join(avail)}"
        )
    return langs


def available(source: str | None = None) -> list[str]:
    """Codes available overall (`source=None`) or in one source ('lohelp', 'ntrex', 'tatoeba', 'pud', 'dictionary')."""
    if source is None:
        return list(LANGUAGES)
    return [c for c, lang in LANGUAGES.items() if getattr(lang, source)]


def script_groups(langs) -> tuple[list[str], list[str]]:
    """The non-English languages of `langs` written in English's script, and the others (order kept):
    the two groups a chapter compares when it asks whether a shared script carries alignment."""
    non_en = [lang for lang in langs if lang != "en"]
    same = [lang for lang in non_en if LANGUAGES[lang].script == LANGUAGES["en"].script]
    return same, [lang for lang in non_en if lang not in same]
