"""One registry of the tidy measure names that every chapter writes (`record.record_results`), for
encoder and decoder rows alike, with the label a chapter shows and the way each measure reads.

A tidy name is a base measure, optionally followed by `_centred` (the same measure after inductive
centring: means fitted on rows that are not evaluated). Per-item outcomes (`<results>.items.npz`) use
the same names, with `@<layer>` for a hidden state other than the harness's (`p_at_1_cosine@0`) and
`p_at_1_cosine_non_english` for X→Y retrieval between two non-English languages.
`record.record_results` refuses a name that is not here, so two chapters cannot drift apart
(`p_at_1_centred` beside `p_at_1_cosine_centred` was such a drift).
"""
from __future__ import annotations

from dataclasses import dataclass

CENTRED = "_centred"


@dataclass(frozen=True)
class Measure:
    name: str
    label: str  # what the chapters' tables call it
    view: str  # "View I (weak)", "View I (strong)", "View II", "output", "representation", "bookkeeping"
    higher_is_better: bool | None  # None: neither (a description, not a quality)
    about: str


_ROWS = [
    ("p_at_1_cosine", "weak P@1", "View I (weak)", True, "en→X retrieval among the X sentences, cosine: expected hit of the top-1"),
    ("p_at_1_csls", "weak P@1 CSLS", "View I (weak)", True, "en→X retrieval with cross-domain similarity local scaling (k=10)"),
    ("p_at_1_margin", "weak P@1 margin", "View I (weak)", True, "en→X retrieval with the ratio margin (Artetxe & Schwenk 2019)"),
    ("ntrex_p_at_1_cosine", "NTREX P@1", "View I (weak)", True, "en→X retrieval among NTREX-128 news sentences (out of domain), cosine"),
    ("tatoeba_accuracy", "Tatoeba accuracy", "View I (weak)", True, "X→en Tatoeba bitext mining (the model card's test): the nearest English sentence by cosine is the translation"),
    ("mrr_cosine", "weak MRR", "View I (weak)", True, "en→X mean reciprocal rank of the translation"),
    ("strong_map", "strong mAP", "View I (strong)", True, "retrieval among all languages at once: mean average precision of the translations"),
    ("strong_p_at_1", "strong P@1", "View I (strong)", True, "retrieval among all languages at once: top-1 is a translation"),
    ("strong_same_language_bias", "same-language bias", "View I (strong)", False, "share of top-1 neighbours in the query's own language"),
    ("lid_probe", "LID probe", "representation", None, "accuracy of a linear language-ID probe (language identity kept)"),
    ("cka", "CKA", "representation", True, "linear CKA between the English and the X sentence matrices"),
    ("hubness", "hubness", "representation", False, "skew of the k-occurrence distribution (k=10)"),
    ("p_at_1_fake_english", "P@1 en↔Fake-English", "View I (weak)", True, "English↔Fake-English sentence retrieval (Dufter & Schütze 2020's positive control), cosine: expected hit of the top-1, mean of both directions"),
    ("cosine_gap", "cosine gap", "View I (weak)", True, "mean cosine of translations minus that of non-translations"),
    ("trained_parameters", "trained parameters", "bookkeeping", None, "parameters the optimiser updated"),
    ("correct_language_greedy", "correct language (greedy)", "output", True, "greedy continuation identified as the prompt's language"),
    ("correct_language_sampled", "correct language (sampled)", "output", True, "sampled continuation identified as the prompt's language"),
    ("other_script_share", "other script", "output", False, "share of a continuation's letters in another language's script"),
    ("distinct_3grams", "distinct 3-grams", "output", True, "share of distinct token 3-grams in a continuation"),
    ("perplexity", "perplexity", "output", False, "held-out perplexity (exp of the mean log perplexity)"),
    ("log_perplexity", "log perplexity", "output", False, "per held-out row: mean next-token cross-entropy (items only)"),
]
for _task, _shown, _what in (("apps", "apps", "application classification"),
                             ("apps_finetuned", "apps (fine-tuned)", "application classification, encoder fine-tuned"),
                             ("pos", "POS", "POS tagging (PUD)")):
    _ROWS += [(f"{_task}_accuracy", f"{_shown} accuracy", "View II", True, f"{_what}: zero-shot accuracy (trained on English)"),
              (f"{_task}_macro_f1", f"{_shown} macro-F1", "View II", True, f"{_what}: zero-shot macro-F1"),
              (f"{_task}_gap", f"{_shown} gap", "View II", False, f"{_what}: English accuracy minus the language's"),
              (f"{_task}_majority", f"{_shown} majority class", "View II", None, f"{_what}: accuracy of the majority class")]

MEASURES: dict[str, Measure] = {name: Measure(name, *rest) for name, *rest in _ROWS}
ITEMS_ONLY = {"p_at_1_cosine_non_english": "p_at_1_cosine"}  # per-item keys kept apart from their tidy rows


def base(name: str) -> Measure:
    """The registered measure behind a tidy or per-item name (`_centred` and `@<layer>` stripped);
    a one-line error for any other name."""
    plain = str(name).split("@", 1)[0]
    plain = ITEMS_ONLY.get(plain, plain)
    if plain.endswith(CENTRED):
        plain = plain[: -len(CENTRED)]
    if plain not in MEASURES:
        raise ValueError(f"unknown measure name {name!r}: register it in xalign_utils/measures.py (MEASURES) "
                         f"or use one of: {', '.join(MEASURES)}")
    return MEASURES[plain]


def check_names(names) -> None:
    """Refuse (one line, before anything is written) any name that is not a registered measure."""
    for name in dict.fromkeys(names):
        base(name)
