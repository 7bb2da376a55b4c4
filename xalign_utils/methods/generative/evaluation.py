"""Everything measured on one decoder (`measure_decoder` -> `DecoderEval`): View I at every hidden state,
output language per prompt, held-out perplexity, with per-item outcomes and tidy rows.

Part of `xalign_utils.methods.generative` (notebook 06_generative).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ...models import Encoder
from .generation import continue_by_language, distinct_ngrams, row_log_perplexity
from .output_language import LanguageID, correct_language, other_script_share
from .tagged import LayerAlignment, layer_alignment, tagged

__all__ = ['DECODER_MEASURES', 'DecoderEval', 'measure_decoder']


DECODER_MEASURES = ("weak P@1", "weak P@1 centred", "weak P@1 CSLS", "strong mAP", "LID probe", "correct language", "correct language (greedy)",
                    "correct language (sampled)", "other script", "distinct 3-grams", "log perplexity")


class DecoderEval:
    """All measures of one decoder (`measure_decoder`): View I at every hidden state (`alignment`),
    continuations and their correct-language outcomes per language (greedy and sampled), and each
    held-out row's log perplexity per language. `outcome(measure, layer)` gives per-item outcomes for
    paired intervals; "correct language", "other script" (`other_script_share`) and "distinct 3-grams"
    (`distinct_ngrams`) are each prompt's mean over its greedy and sampled continuation."""

    def __init__(self, name, alignment, greedy, sampled, correct_greedy, correct_sampled, log_ppl,
                 other_script=None, distinct=None):
        self.name, self.alignment = name, alignment
        self.greedy, self.sampled = greedy, sampled
        self.correct_greedy, self.correct_sampled, self.log_ppl = correct_greedy, correct_sampled, log_ppl
        self.other_script, self.distinct = other_script or {}, distinct or {}

    def outcome(self, measure: str, layer: int | None = None) -> np.ndarray:
        if measure not in DECODER_MEASURES:
            raise ValueError(f"unknown measure {measure!r}; choose one of: {', '.join(DECODER_MEASURES)}")
        if measure in LayerAlignment.MEASURES:
            if layer is None:
                raise ValueError(f"{measure} is measured at every hidden state; pass layer=")
            return self.alignment.outcome(measure, layer)
        langs = list(self.correct_greedy)
        if measure == "log perplexity":
            return np.concatenate([self.log_ppl[lang] for lang in langs])
        if measure in ("other script", "distinct 3-grams"):
            table = self.other_script if measure == "other script" else self.distinct
            if not table:
                raise ValueError(f"{self.name} was measured without {measure}")
            return np.concatenate([table[lang] for lang in langs])
        g = np.concatenate([self.correct_greedy[lang] for lang in langs])
        s = np.concatenate([self.correct_sampled[lang] for lang in langs])
        return {"correct language": (g + s) / 2, "correct language (greedy)": g, "correct language (sampled)": s}[measure]

    def per_language(self) -> "pd.DataFrame":
        """Correct-language rate (greedy, sampled) and held-out perplexity per language."""
        import pandas as pd

        return pd.DataFrame({lang: {"correct language (greedy)": float(self.correct_greedy[lang].mean()),
                                    "correct language (sampled)": float(self.correct_sampled[lang].mean()),
                                    **({"other script": float(self.other_script[lang].mean())} if self.other_script else {}),
                                    **({"distinct 3-grams": float(self.distinct[lang].mean())} if self.distinct else {}),
                                    "perplexity": float(np.exp(self.log_ppl[lang].mean()))}
                             for lang in self.correct_greedy}).T

    def tidy(self) -> "pd.DataFrame":
        """Rows (src, tgt, layer, measure, value, n) for `record.record_results`: en->X weak P@1 (raw,
        centred) and strong mAP at every hidden state; per language the correct-language rates and the
        held-out perplexity (layer -1: the model's output)."""
        import pandas as pd

        rows = []
        a = self.alignment
        for i, layer in enumerate(a.layers):
            for measure, frames in (("p_at_1_cosine", a.hits), ("p_at_1_cosine_centred", a.centred)):
                for tgt in frames[i].columns:
                    rows.append(("en", tgt, layer, measure, float(frames[i][tgt].mean()), len(frames[i])))
            rows.append(("all", "all", layer, "strong_map", float(np.mean(a.ap[i])), len(a.ap[i])))
            if a.csls is not None:
                rows += [("en", tgt, layer, "p_at_1_csls", float(a.csls[i][tgt].mean()), len(a.csls[i])) for tgt in a.csls[i]]
            if a.lid is not None:
                rows.append(("all", "all", layer, "lid_probe", float(np.mean(a.lid[i])), len(a.lid[i])))
            if a.bias is not None:
                rows.append(("all", "all", layer, "strong_same_language_bias", float(a.bias[i]), len(a.ap[i])))
        for lang, table in self.per_language().iterrows():
            for measure, value in (("correct_language_greedy", table["correct language (greedy)"]),
                                   ("correct_language_sampled", table["correct language (sampled)"]),
                                   ("other_script_share", table.get("other script", np.nan)),
                                   ("distinct_3grams", table.get("distinct 3-grams", np.nan)),
                                   ("perplexity", table["perplexity"])):
                if np.isnan(value):
                    continue
                n = len(self.log_ppl[lang]) if measure == "perplexity" else len(self.correct_greedy[lang])
                rows.append((lang, lang, -1, measure, float(value), n))
        return pd.DataFrame(rows, columns=["src", "tgt", "layer", "measure", "value", "n"])

    def item_outcomes(self) -> dict[str, dict[str, np.ndarray]]:
        """Per-item outcomes behind `tidy()`'s rows (measure -> column -> float64 array), for
        `record.record_results`. Measure names are the tidy names; each array's mean is one tidy row's
        value (up to float64 summation order), except `log_perplexity`:

        - View I at every hidden state L: `p_at_1_cosine`, `p_at_1_cosine_centred`, `p_at_1_csls` with columns
          f"{lang}@{L}" (non-English target language; per parallel text, the expected en->X hit),
          `strong_map` and `lid_probe` with columns f"all@{L}" (per-item AP; per test item 0/1). Pass
          the columns of one layer to compare variants at that layer (pooling every column pools layers);
        - per language (column = the language, layer -1 in the tidy rows), one value per prompt:
          `correct_language_greedy`, `correct_language_sampled` (0/1), `other_script_share`,
          `distinct_3grams` (each prompt's mean over its greedy and sampled continuation);
        - `log_perplexity`: per language, each held-out row's log perplexity; the tidy `perplexity` is
          exp of its mean, not its mean (hence the other name).

        Not stored: `strong_same_language_bias` (a share, no items)."""
        a = self.alignment
        out: dict[str, dict[str, np.ndarray]] = {}
        for i, layer in enumerate(a.layers):
            for measure, frames in (("p_at_1_cosine", a.hits), ("p_at_1_cosine_centred", a.centred), ("p_at_1_csls", a.csls)):
                if frames is not None:
                    out.setdefault(measure, {}).update({f"{tgt}@{layer}": frames[i][tgt].to_numpy(dtype=np.float64)
                                                        for tgt in frames[i].columns})
            out.setdefault("strong_map", {})[f"all@{layer}"] = np.asarray(a.ap[i], dtype=np.float64)
            if a.lid is not None:
                out.setdefault("lid_probe", {})[f"all@{layer}"] = np.asarray(a.lid[i], dtype=np.float64)
        for measure, table in (("correct_language_greedy", self.correct_greedy), ("correct_language_sampled", self.correct_sampled),
                               ("other_script_share", self.other_script), ("distinct_3grams", self.distinct),
                               ("log_perplexity", self.log_ppl)):
            if table:
                out[measure] = {lang: np.asarray(v, dtype=np.float64) for lang, v in table.items()}
        return out


def measure_decoder(encoder: Encoder, texts: Mapping[str, Sequence[str]], prompts: Mapping[str, Sequence[str]],
                    heldout: Mapping[str, torch.Tensor], lid: LanguageID, n_fit: int = 100, seed: int = 0,
                    new_tokens: int = 24, prompt_tokens: int = 8, temperature: float = 1.0, min_letters: int = 10,
                    name: str | None = None) -> DecoderEval:
    """`layer_alignment` of the tagged decoder on parallel `texts`; greedy and sampled (torch seed
    `seed`) continuations of each language's `prompts` with their correct-language outcomes
    (`correct_language`); the log perplexity of each `heldout` row."""
    model = encoder.model.eval()
    alignment = layer_alignment(tagged(encoder, list(texts)), texts, n_fit, seed)
    greedy = continue_by_language(model, encoder.tokenizer, prompts, new_tokens, prompt_tokens=prompt_tokens)
    sampled = continue_by_language(model, encoder.tokenizer, prompts, new_tokens, sample=True, seed=seed,
                                   temperature=temperature, prompt_tokens=prompt_tokens)
    ok_g = {lang: correct_language(lid, greedy[lang], lang, min_letters) for lang in prompts}
    ok_s = {lang: correct_language(lid, sampled[lang], lang, min_letters) for lang in prompts}
    script = {lang: (other_script_share(greedy[lang], lang) + other_script_share(sampled[lang], lang)) / 2
              for lang in prompts}
    distinct = {lang: (distinct_ngrams(encoder.tokenizer, greedy[lang]) + distinct_ngrams(encoder.tokenizer, sampled[lang])) / 2
                for lang in prompts}
    log_ppl = {lang: row_log_perplexity(model, rows) for lang, rows in heldout.items()}
    return DecoderEval(name or encoder.name, alignment, greedy, sampled, ok_g, ok_s, log_ppl, script, distinct)
