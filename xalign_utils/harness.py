"""Before/after measurement of trained variants, shared by the method chapters (01-04, 06).

Introduced in notebook 01_parallel_data. `Harness` fixes everything a comparison must hold constant
(languages, the eval sentences, the layer, the View II task data, the seed); `Harness.measure(encoder)`
returns a `VariantEval` with **per-item** outcomes, so any two variants can be compared with
`metrics.compare` (a paired bootstrap over the same items), and tidy rows for `record.record_results`.

Protocol (README, "How the book measures"), as in notebook 00:
- eval sentences: `data.eval_items(langs, "sentences")`; nothing trained or fitted on them;
- the layer is fixed before any training (default: the last hidden state, the one the method
  objectives act on), never chosen on eval;
- centring: each language's mean over `n_fit` `pretrain` paragraphs, fitted per model (inductive);
- weak P@1 en->X with cosine (raw and centred) and CSLS; strong mAP and same-language bias over the
  pooled languages (raw); the LID probe (train/test halves of the items);
- View II: help-application classification (English head on `pretrain`+`parallel` pages, tested on
  the eval items) and, unless `pos=False`, zero-shot UPOS on PUD.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import data, metrics
from .evaluate import embed, fit_centring, retrieval_hits
from .languages import LANGUAGES, check_languages
from .models import PerLanguage
from .transfer import TransferResult, classification_data, classify_features, pos_accuracy, pos_features, tidy, word_features

@dataclass
class VariantEval:
    """One model measured by a `Harness`. `hits[view]`: eval items x target languages (expected en->X
    hits; views "cosine", "centred", "csls" at the harness's layer, and "cosine layer L" at its
    `also_layer`); `ap`: per-item strong AP; `lid`: per-test-item LID correctness; `apps` / `pos`:
    the View II results (`pos` is None when skipped)."""

    name: str
    layer: int
    hits: dict[str, pd.DataFrame]
    ap: np.ndarray | None  # None: measured with full=False (weak P@1 and the application task only)
    bias: float
    lid: np.ndarray | None
    apps: TransferResult
    pos: TransferResult | None = None

    def non_en(self, result: TransferResult) -> pd.DataFrame:
        return result.items[[c for c in result.items.columns if c != "en"]]

    def summary(self) -> dict[str, float]:
        """The headline numbers (means over non-English languages where per language)."""
        out = {_view_name(v): float(h.to_numpy().mean()) for v, h in self.hits.items()}
        if self.ap is not None:
            out.update({"strong mAP": float(self.ap.mean()), "same-language bias": self.bias,
                        "LID probe": float(self.lid.mean())})
        out["apps accuracy"] = float(self.non_en(self.apps).to_numpy().mean())
        if self.pos is not None:
            out["POS accuracy"] = float(self.non_en(self.pos).to_numpy().mean())
        return out

    def outcome(self, measure: str):
        """Per-item outcomes behind a headline measure (the input of `metrics.compare`)."""
        table = {_view_name(v): h for v, h in self.hits.items()}
        table.update({"strong mAP": self.ap, "LID probe": self.lid, "apps accuracy": self.non_en(self.apps),
                      "POS accuracy": None if self.pos is None else self.non_en(self.pos)})
        for m in ("weak P@1 centred", "weak P@1 CSLS"):
            table.setdefault(m, None)
        if measure not in table:
            raise ValueError(f"no per-item outcome for {measure!r}; choose one of: {', '.join(table)}")
        if table[measure] is None:
            raise ValueError(f"{self.name} was measured without {measure} (pos=False or full=False)")
        return table[measure]

    def tidy(self) -> pd.DataFrame:
        """Tidy rows (src, tgt, layer, measure, value, n) for `record.record_results`."""
        rows = []
        for view, h in self.hits.items():
            name = {"cosine": "p_at_1_cosine", "centred": "p_at_1_cosine_centred", "csls": "p_at_1_csls"}.get(view, "p_at_1_cosine")
            layer = int(view.split()[-1]) if view.startswith("cosine layer") else self.layer
            for col in h.columns:
                src, tgt = col.split("→") if "→" in col else ("en", col)
                rows.append((src, tgt, layer, name, float(h[col].mean()), len(h)))
        if self.ap is not None:
            n = len(self.ap)
            rows += [("all", "all", self.layer, "strong_map", float(self.ap.mean()), n),
                     ("all", "all", self.layer, "strong_same_language_bias", self.bias, n),
                     ("all", "all", self.layer, "lid_probe", float(self.lid.mean()), len(self.lid))]
        tables = [pd.DataFrame(rows, columns=["src", "tgt", "layer", "measure", "value", "n"])]
        tables += [tidy(res, task, self.layer) for task, res in (("apps", self.apps), ("pos", self.pos)) if res is not None]
        return pd.concat(tables, ignore_index=True)

    def item_outcomes(self) -> dict[str, dict[str, np.ndarray]]:
        """Per-item outcomes behind `tidy()`'s rows (measure -> column -> float64 array), for
        `record.record_results`: each array's mean is the value of one tidy row (up to float64
        summation order). Measures with the tidy names:

        - `p_at_1_cosine`, `p_at_1_cosine_centred`, `p_at_1_csls`: columns the non-English target
          languages, one value per eval item: the expected en->X hit at the harness's layer;
        - `p_at_1_cosine@<L>` (with `also_layer`): the same at hidden state L (tidy: `p_at_1_cosine`,
          layer L); `p_at_1_cosine_non_english` (with `non_english`): columns "de→ru", ... (tidy:
          `p_at_1_cosine`, src de, tgt ru). Kept apart so that pooling the columns of `p_at_1_cosine`
          gives the headline en->X weak P@1 and nothing else;
        - `strong_map` (column "all": each item's AP), `lid_probe` (column "all": each test item 0/1);
        - `apps_accuracy`, `apps_majority`: columns the non-English languages, per test item;
        - `pos_accuracy`, `pos_majority`: columns the non-English PUD languages, one value per PUD
          sentence: its correctly tagged words scaled so that the column mean is the word accuracy
          (`transfer.pos_accuracy`; sentences, not words, are the unit a paired bootstrap resamples).

        Not stored: `strong_same_language_bias`, `*_macro_f1`, `*_gap` (no per-item form) and the
        English rows of the transfer tasks."""
        def cols(frame: pd.DataFrame) -> dict[str, np.ndarray]:
            return {str(c): frame[c].to_numpy(dtype=np.float64) for c in frame.columns}

        out: dict[str, dict[str, np.ndarray]] = {}
        for view, h in self.hits.items():
            name = {"cosine": "p_at_1_cosine", "centred": "p_at_1_cosine_centred", "csls": "p_at_1_csls",
                    NON_ENGLISH: "p_at_1_cosine_non_english"}.get(view)
            if name is None:  # "cosine layer L"
                name = f"p_at_1_cosine@{int(view.split()[-1])}"
            out[name] = cols(h)
        if self.ap is not None:
            out["strong_map"] = {"all": np.asarray(self.ap, dtype=np.float64)}
            out["lid_probe"] = {"all": np.asarray(self.lid, dtype=np.float64)}
        for task, res in (("apps", self.apps), ("pos", self.pos)):
            if res is not None:
                out[f"{task}_accuracy"] = cols(self.non_en(res))
                out[f"{task}_majority"] = cols(res.majority_items[[c for c in res.majority_items.columns if c != "en"]])
        return out


@dataclass
class WithRows:
    """An evaluation (`VariantEval`, `generative.DecoderEval`) plus tidy rows of its own that have no
    per-item outcomes (e.g. the number of trained parameters): what `record.record_results` takes."""

    evaluation: object
    rows: pd.DataFrame

    def tidy(self) -> pd.DataFrame:
        return pd.concat([self.evaluation.tidy(), self.rows], ignore_index=True)

    def item_outcomes(self) -> dict[str, dict[str, np.ndarray]]:
        return self.evaluation.item_outcomes()


def with_rows(evaluation, *rows: pd.DataFrame) -> WithRows:
    """`evaluation` recorded with extra tidy rows (src, tgt, layer, measure, value, n) beside its own;
    the per-item outcomes are the evaluation's."""
    return WithRows(evaluation, pd.concat(rows, ignore_index=True))


NON_ENGLISH = "cosine non-English"  # the view of X→Y retrieval between two non-English languages


def _view_name(view: str) -> str:
    return {"cosine": "weak P@1", "centred": "weak P@1 centred", "csls": "weak P@1 CSLS",
            NON_ENGLISH: "weak P@1 X→Y (no English)"}.get(view, view.replace("cosine layer", "weak P@1, layer"))


class Harness:
    """Everything a before/after comparison holds fixed; `measure(encoder)` runs it on one model.
    `also_layer`: a second hidden state at which raw cosine weak P@1 is reported too (e.g. the layer
    the starting model's retrieval is best at, chosen on the `parallel` split before any training).
    `non_english`: also measure raw cosine X→Y retrieval for every ordered pair of non-English
    languages (view "cosine non-English", columns "de→ru", ...: does alignment to English carry over
    to pairs that never met in training?)."""

    def __init__(self, langs: Sequence[str], layer: int = -1, seed: int = 0, n_fit: int = 100,
                 apps_train: int = 500, pos_train_sentences: int = 150, pos_test_sentences: int = 60, k: int = 10,
                 also_layer: int | None = None, non_english: bool = False):
        self.langs = check_languages(langs, "lohelp")
        if "en" not in self.langs or len(self.langs) < 2:
            raise ValueError("the harness retrieves en->X and trains its heads on English; include 'en' and another language")
        for name, v in (("n_fit", n_fit), ("apps_train", apps_train), ("pos_train_sentences", pos_train_sentences),
                        ("pos_test_sentences", pos_test_sentences)):
            if v < 1:
                raise ValueError(f"{name} must be positive; got {v}")
        self.layer, self.seed, self.n_fit, self.k, self.also_layer = layer, seed, n_fit, k, also_layer
        non_en = [l for l in self.langs if l != "en"]
        self.non_english_pairs = [(a, b) for a in non_en for b in non_en if a != b] if non_english else []
        sentences = data.eval_items(self.langs, "sentences")
        self.texts = {lang: sentences[lang] for lang in self.langs}
        self.apps_task = classification_data(self.langs, apps_train, seed)
        # every eval item is encoded once: the sentence items (View I) and the labelled items (the
        # application task) are both subsets of the "all" items, in order
        self.items = data.eval_items(self.langs, "all")
        where = {(k, t): i for i, (k, t) in enumerate(zip(self.items["key"], self.items["en"]))}
        self.sentence_rows = [where[(k, t)] for k, t in zip(sentences["key"], sentences["en"])]
        self.apps_rows = [i for i, k in enumerate(self.items["key"]) if data.application_of(k)]
        assert self.apps_task["test_texts"]["en"] == [self.items["en"][i] for i in self.apps_rows]
        self.rows = sorted(set(self.sentence_rows) | set(self.apps_rows))  # only these are encoded
        at = {r: i for i, r in enumerate(self.rows)}
        self._sent, self._apps = [at[r] for r in self.sentence_rows], [at[r] for r in self.apps_rows]
        self.pos_langs = [l for l in self.langs if LANGUAGES[l].pud]
        self.pos_train, self.pos_test = pos_train_sentences, pos_test_sentences

    @property
    def n_items(self) -> int:
        return len(self.texts["en"])

    def measure(self, encoder, name: str | None = None, pos: bool = True, full: bool = True) -> VariantEval:
        """All measures of one model; `pos=False` skips POS, `full=False` keeps only raw cosine weak P@1
        and the application task (for sweeps)."""
        layer = encoder.layer_index(self.layer)
        per_lang = isinstance(encoder, PerLanguage)  # each language's texts through its own encoder
        of = (lambda lang: encoder[lang]) if per_lang else (lambda lang: encoder)
        stacked = {lang: embed(of(lang), {lang: [self.items[lang][r] for r in self.rows]}, "all")[lang]
                   for lang in self.langs}
        every = {lang: e[layer] for lang, e in stacked.items()}
        embs = {lang: e[self._sent] for lang, e in every.items()}
        hits = {"cosine": retrieval_hits(embs, k=self.k)}
        if self.also_layer is not None:
            other = encoder.layer_index(self.also_layer)
            hits[f"cosine layer {other}"] = retrieval_hits({l: e[other][self._sent] for l, e in stacked.items()}, k=self.k)
        if self.non_english_pairs:
            hits[NON_ENGLISH] = pd.DataFrame({f"{a}→{b}": retrieval_hits({a: embs[a], b: embs[b]}, src=a, k=self.k)[b]
                                              for a, b in self.non_english_pairs})
        strong, lid = {"ap_per_item": None, "same_language_bias": float("nan")}, None
        if full:
            if per_lang:  # each language's mean from its own encoder, on the paragraphs a single model gets
                centred = {lang: fit_centring(of(lang), self.langs, layer, self.n_fit, self.seed, only=[lang])
                           .transform({lang: e})[lang] for lang, e in embs.items()}
            else:
                centred = fit_centring(encoder, self.langs, layer, self.n_fit, self.seed).transform(embs)
            strong = metrics.strong_alignment(embs, per_item=True)
            _, lid = metrics.language_id_probe(embs, self.seed, per_item=True)
            hits.update({"centred": retrieval_hits(centred, k=self.k), "csls": retrieval_hits(embs, scoring="csls", k=self.k)})
        task = self.apps_task
        train_x = of("en").encode(task["train_texts"], layer=layer)
        test_x = {lang: e[self._apps] for lang, e in every.items()}
        apps = classify_features(train_x, task["train_y"], test_x, task["test_y"], len(task["labels"]), self.seed)
        pos_result = None
        if pos and full and self.pos_langs:
            if per_lang:  # English training set through the English encoder, each test set through its own
                feats = pos_features(of("en"), ["en"], layer, self.pos_train, self.pos_test)
                for lang in self.pos_langs:
                    sents = data.conllu(f"{lang}_pud")[:self.pos_test]
                    feats[f"{lang}_pud"] = (*word_features(of(lang), sents, layer), len(sents))
            else:
                feats = pos_features(encoder, self.pos_langs, layer, self.pos_train, self.pos_test)
            pos_result = pos_accuracy(feats, self.seed)
        return VariantEval(name or getattr(encoder, "name", "model"), layer, hits, strong["ap_per_item"],
                           strong["same_language_bias"], lid, apps, pos_result)

    def config(self) -> dict:
        """Everything besides the model that a measurement depends on (the cache key of `measure_cached`)."""
        return {"langs": self.langs, "layer": self.layer, "seed": self.seed, "n_fit": self.n_fit, "k": self.k,
                "apps_train": len(self.apps_task["train_texts"]), "pos_train": self.pos_train, "pos_test": self.pos_test,
                "also_layer": self.also_layer, "non_english": self.non_english_pairs}

    def measure_cached(self, encoder, name: str | None = None, pos: bool = True, full: bool = True) -> VariantEval:
        """`measure`, loaded from the cache when this model (weights, config, tokenizer: `cache.model_fingerprint`)
        was measured before by the same harness and package source. The chapters measure their starting
        models (the base and its random-init control) this way: 03 and 04 share one measurement."""
        from .cache import load_or_compute, model_fingerprint, package_fingerprint

        key = {"model": model_fingerprint(encoder.model, encoder.tokenizer), "harness": self.config(),
               "pos": pos, "full": full, "name": name or getattr(encoder, "name", "model"), "code": package_fingerprint()}
        return load_or_compute("measurements", key, lambda: self.measure(encoder, name, pos, full))

    def chance(self) -> dict[str, float]:
        """What a model without information scores on each headline measure (the LID probe: 1/L; the
        task heads: a uniform guess over the labels, which is what a collapsed model gets)."""
        from .transfer import UPOS

        n, L = self.n_items, len(self.langs)
        pool = L * n - 1
        return {"weak P@1": 1 / n, "weak P@1 centred": 1 / n, "weak P@1 CSLS": 1 / n, "weak P@1 X→Y (no English)": 1 / n,
                "strong mAP": metrics.chance_average_precision(L - 1, pool),
                "same-language bias": (n - 1) / pool, "LID probe": 1 / L,
                "apps accuracy": 1 / len(self.apps_task["labels"]), "POS accuracy": 1 / len(UPOS)}


def gain_table(variants: dict[str, VariantEval], reference: str, measures: Sequence[str], resamples: int = 10_000,
               seed: int = 0, higher_is_better: dict[str, bool] | None = None) -> pd.DataFrame:
    """For every variant except `reference`: each measure's paired difference against `reference`
    (mean [95 % interval]) and its verdict, from `metrics.compare` on per-item outcomes."""
    higher_is_better = higher_is_better or {}
    ref = variants[reference]
    rows = {}
    for name, v in variants.items():
        if name == reference:
            continue
        row = {}
        for m in measures:
            iv, verdict = metrics.compare(np.asarray(v.outcome(m)), np.asarray(ref.outcome(m)), resamples, seed,
                                          higher_is_better.get(m, True))
            row[f"{m} Δ"], row[f"{m}: verdict"] = str(iv), verdict
        rows[name] = row
    return pd.DataFrame(rows).T


def measure_lexical(harness: Harness, control) -> dict:
    """The TF-IDF control (`lexical.TfidfControl`) on the harness's items: en->X hits (cosine), strong
    mAP, and the application task; the measures that need a model (centring, POS) are left out."""
    embs = {lang: control.encode(harness.texts[lang]) for lang in harness.langs}
    task = harness.apps_task
    apps = classify_features(control.encode(task["train_texts"]), task["train_y"],
                             {lang: control.encode(t) for lang, t in task["test_texts"].items()}, task["test_y"],
                             len(task["labels"]), harness.seed)
    hits = retrieval_hits(embs, k=harness.k)
    apps_items = apps.items[[c for c in apps.items.columns if c != "en"]]
    return {"hits": hits, "apps": apps, "weak P@1": float(hits.to_numpy().mean()),
            "strong mAP": metrics.strong_alignment(embs)["map"], "apps accuracy": float(apps_items.to_numpy().mean()),
            "apps majority": float(apps.majority_items[apps_items.columns].to_numpy().mean())}
