"""Which language a decoder writes: a maintained offline language identifier (`py3langid`, pinned)
and the output-language measures (correct language, other script).

Part of `xalign_utils.methods.generative` (notebook 06_generative).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ['LID_PACKAGE', 'LanguageID', 'letters', 'correct_language', 'SCRIPT_LETTERS', 'other_script_share']



LID_PACKAGE = "py3langid==0.3.0"


class LanguageID:
    """`py3langid` restricted to `langs` (ISO 639-1 codes): `identify(texts)` gives each text's most
    probable language among them."""

    def __init__(self, langs: Sequence[str]):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.identifier = LanguageIdentifier.from_pickled_model(MODEL_FILE, norm_probs=True)
        self.supported = tuple(sorted(self.identifier.nb_classes))
        langs = list(langs)
        unknown = [lang for lang in langs if lang not in self.supported]
        if unknown or len(langs) < 2:
            what = f"does not know {', '.join(map(repr, unknown))}" if unknown else "needs at least two languages"
            raise ValueError(f"the language identifier ({LID_PACKAGE}) {what}; choose from: {', '.join(self.supported)}")
        self.langs = tuple(langs)
        self.identifier.set_languages(list(langs))

    def identify(self, texts: Sequence[str]) -> list[str]:
        """The most probable language of each text ("" for a text without any letter or digit)."""
        if isinstance(texts, str):
            raise TypeError("identify() takes a list of texts; wrap a single text in a list")
        return [self.identifier.classify(t)[0] if any(c.isalnum() for c in t) else "" for t in texts]

    def rate(self, texts: Sequence[str], lang: str) -> np.ndarray:
        """Per text: 1.0 if identified as `lang`, else 0.0 (the per-item outcome of a correct-language rate)."""
        if lang not in self.langs:
            raise ValueError(f"{lang!r} is not one of this identifier's languages: {', '.join(self.langs)}")
        return np.array([float(x == lang) for x in self.identify(texts)])

    def accuracy(self, texts_by_lang: Mapping[str, Sequence[str]]) -> dict[str, float]:
        """Accuracy per language on texts whose language is known (the identifier's own error)."""
        return {lang: float(self.rate(texts, lang).mean()) for lang, texts in texts_by_lang.items()}


def letters(text: str) -> int:
    """How many letters a text has (any script)."""
    return sum(c.isalpha() for c in text)


def correct_language(lid: LanguageID, texts: Sequence[str], lang: str, min_letters: int = 10) -> np.ndarray:
    """Per text: 1.0 if it has at least `min_letters` letters (enough for the identifier to judge)
    and is identified as `lang`, else 0.0; the per-item outcome of a correct-language rate (a
    fragment too short to judge counts as not shown to be in the right language)."""
    ok = np.array([letters(t) >= min_letters for t in texts], dtype=float)
    return ok * lid.rate(texts, lang)


SCRIPT_LETTERS = {"Latin": ("LATIN",), "Cyrillic": ("CYRILLIC",), "Han": ("CJK",), "Devanagari": ("DEVANAGARI",),
                  "Japanese": ("CJK", "HIRAGANA", "KATAKANA"), "Hangul": ("HANGUL",), "Arabic": ("ARABIC",)}


def other_script_share(texts: Sequence[str], lang: str) -> np.ndarray:
    """Per text: the share of its letters that are not in `lang`'s script (0 for a text without
    letters). No identifier involved: a switch between two languages of one script is invisible to
    it, a switch of script is not (help text legitimately quotes Latin product names in every script,
    so the human text's own share is the reference)."""
    import unicodedata

    from ...languages import LANGUAGES

    prefixes = SCRIPT_LETTERS.get(LANGUAGES[lang].script)
    if prefixes is None:
        raise ValueError(f"no letter table for the {LANGUAGES[lang].script} script of {lang!r}; add it to SCRIPT_LETTERS")
    out = []
    for t in texts:
        chars = [c for c in t if c.isalpha()]
        other = sum(not unicodedata.name(c, "").startswith(prefixes) for c in chars)
        out.append(other / len(chars) if chars else 0.0)
    return np.array(out)
