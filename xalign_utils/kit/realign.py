"""Realigning a model that is already aligned (issue 30): the shared kit of notebooks 02 and 03.

Gaschi et al. (2023) ask whether alignment training still helps a model that is aligned already. Here
the real model (multilingual-e5-small, `models.load_model("me5-small")`) is trained with notebook 02's
sentence InfoNCE on the chapters' `parallel` pairs, with full fine-tuning (02) and through LoRA (03),
and measured before and after on one evaluation set (`eval_set`), per item so that every change is a
paired interval:

- in-domain: weak P@1 en→X (cosine) on a seeded sample of the eval sentence items (`data.eval_items`,
  `evaluate.item_subset`, as notebook 00 samples them for this model);
- NTREX-128 (out of domain, news): en→X P@1 among a seeded sample of sentences per language;
- Tatoeba (out of domain, the model card's test): X→en BitextMining accuracy (the nearest English
  sentence by cosine must be the translation, as `kit.measuring.tatoeba_card` scores it) for a seeded
  sample of queries per language on the card (`me5.MODEL_CARD_TATOEBA`), among `candidates` English
  sentences (the queries' own translations and a seeded sample of the others; 1000 is all of them,
  the card's setting). Fewer candidates make the task easier than the card's, so the card's number
  is a reference point, not a target, unless `candidates` is 1000.

The "before" measurement is cached (`measure_cached`, keyed by the model's weights, the evaluation
set and the package source), so 02 and 03 share it in one build. Tested in `tests/test_kit_realign.py`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import data, metrics, plot
from ..chapters import REALIGN_SIZE_NAMES, realign_sizes
from ..record import glue_text, glue_verdict, record

# shown name -> tidy measure name (`measures.py`); every one is "higher is better"
MEASURES = {"in-domain P@1": "p_at_1_cosine", "NTREX P@1": "ntrex_p_at_1_cosine",
            "Tatoeba accuracy": "tatoeba_accuracy"}
KEYS = {"in-domain P@1": "id", "NTREX P@1": "ntrex", "Tatoeba accuracy": "tatoeba"}  # glue / metric names
SUFFIX = {"full": "+infonce-full", "lora": "+infonce-lora"}  # variant = reference + suffix
SIZE_NAMES = REALIGN_SIZE_NAMES  # the order of a chapter's `reference_sizes`
# The training budget (CPU): pairs per step and tokens per text (the `parallel` pairs' median is ~9 tokens);
# learning rates common for each route, not tuned here: full fine-tuning of a BERT-sized encoder 2e-5,
# LoRA (rank 8, alpha 16, notebook 03's targets) 5e-4.
BATCH, MAX_LEN, FULL_LR, LORA_LR, LORA_RANK = 8, 32, 2e-5, 5e-4, 8
LORA = {"rank": LORA_RANK, "batch_size": BATCH, "lr": LORA_LR, "max_len": MAX_LEN}  # train_lora_contrastive
CI_SIZES = [30, 20, 25, 150]  # items, ntrex, tatoeba, candidates: the ci sizes (notebook 02's parameter)


def variant(reference: str, how: str) -> str:
    """The recorded name of `reference` realigned `how` ("full" or "lora"), e.g. me5-small+infonce-full."""
    if how not in SUFFIX:
        raise ValueError(f"unknown realignment {how!r}; use one of: {', '.join(SUFFIX)}")
    return reference + SUFFIX[how]


def check_sizes(*, items: int, ntrex: int, tatoeba: int, candidates: int, steps: int, batch: int,
                max_len: int) -> None:
    """One-line errors for the realignment sizes (the chapters' `reference_*` parameters); the four
    evaluation sizes are checked by `chapters.realign_sizes`, the chapters' parameter check."""
    for name, value in dict(steps=steps, batch=batch, max_len=max_len).items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"reference_{name} must be a positive integer; got {value!r}")
    realign_sizes([items, ntrex, tatoeba, candidates])
    if batch < 2:
        raise ValueError(f"reference_batch needs at least 2 pairs (in-batch negatives); got {batch}")


# ---------------------------------------------------------------- the evaluation set
@dataclass(frozen=True)
class EvalSet:
    """The texts every model of the section is measured on (see the module docstring)."""
    langs: tuple
    seed: int
    items: dict  # {lang: sampled eval sentence items}, row i a translation of row i
    ntrex: dict  # {lang: sampled NTREX sentences}, row i a translation of row i
    tatoeba: dict  # {lang: (queries, English candidates)}: query i's translation is candidates[i]
    card: dict  # {lang: the model card's Tatoeba accuracy (%)}

    @property
    def non_en(self) -> list[str]:
        return [l for l in self.langs if l != "en"]

    def sizes(self) -> dict[str, int]:
        t = next(iter(self.tatoeba.values()), ((), ()))
        return {"items": len(self.items["en"]), "ntrex": len(next(iter(self.ntrex.values()), ())),
                "tatoeba": len(t[0]), "candidates": len(t[1])}

    def key(self) -> dict:
        """Everything a measurement on this set depends on (texts included), for the cache."""
        from ..cache import stable_hash

        return {"langs": list(self.langs), "seed": self.seed,
                "texts": stable_hash([self.items, self.ntrex,
                                      {l: list(map(list, v)) for l, v in self.tatoeba.items()}])}


def eval_set(langs: Sequence[str], *, items: int, ntrex: int, tatoeba: int, candidates: int, seed: int) -> EvalSet:
    """The seeded evaluation set of `langs` (English first among them); NTREX and Tatoeba cover the
    languages of `langs` that they have (Tatoeba: those on the model card)."""
    from ..evaluate import item_subset
    from ..languages import LANGUAGES
    from ..me5 import MODEL_CARD_TATOEBA

    check_sizes(items=items, ntrex=ntrex, tatoeba=tatoeba, candidates=candidates, steps=1, batch=2, max_len=1)
    langs = list(langs)
    ev = data.eval_items(langs)
    rows = item_subset(len(ev["en"]), items, seed)
    in_domain = {l: [ev[l][i] for i in rows] for l in langs}
    nt_langs = [l for l in langs if LANGUAGES[l].ntrex]
    nt = data.ntrex(nt_langs) if "en" in nt_langs and len(nt_langs) > 1 else {}
    nt_rows = item_subset(len(nt["en"]), ntrex, seed) if nt else []
    out_nt = {l: [t[i] for i in nt_rows] for l, t in nt.items()}
    tat, card = {}, {}
    for l in [x for x in langs if x in MODEL_CARD_TATOEBA and LANGUAGES[x].tatoeba]:
        xs, en = data.tatoeba(l)
        q = item_subset(len(xs), tatoeba, seed)
        rest = np.setdiff1d(np.arange(len(en)), q)
        extra = np.sort(np.random.default_rng([seed, 1]).choice(rest, min(len(rest), candidates - len(q)),
                                                                 replace=False))
        tat[l] = ([xs[i] for i in q], [en[i] for i in q] + [en[i] for i in extra])
        card[l] = MODEL_CARD_TATOEBA[l]
    return EvalSet(tuple(langs), seed, in_domain, out_nt, tat, card)


def sizes(values: Sequence[int]) -> dict[str, int]:
    """A chapter's `reference_sizes` list [items, ntrex, tatoeba, candidates] as keyword arguments of
    `eval_set`, checked (one-line errors)."""
    out = realign_sizes(values)
    check_sizes(**out, steps=1, batch=BATCH, max_len=MAX_LEN)
    return out


def start(reference: str, langs: Sequence[str], reference_sizes: Sequence[int], seed: int):
    """The section's start: (the real model, its `EvalSet`, {reference: before, "random init": its
    random-init control}), both measured through `measure_cached` (the reference first: `recorded`
    reads its name from there)."""
    from ..models import load_model, random_init_like

    ref = load_model(reference)
    es = eval_set(langs, seed=seed, **sizes(reference_sizes))
    control = random_init_like(ref, seed)
    return ref, es, {reference: measure_cached(ref, es, reference),
                     "random init": measure_cached(control, es, "random init")}


def read_back(evals: dict, preset: str, stem: str, seed: int, how: str = "full") -> str | None:
    """Add to `evals` the variant (`variant(reference, how)`) that notebook `stem` recorded in this build
    (its per-item outcomes, `record.read_items`), when that notebook's "before" equals ours item by
    item (the same model, set and sizes); returns its name, or None (not recorded, or not comparable)."""
    from ..layout import items_file
    from ..record import read_items

    reference = next(iter(evals))
    path = items_file(preset, stem)
    if not path.exists():
        return None
    stored = read_items(path)
    name = variant(reference, how)
    before, after = stored.get((reference, int(seed))), stored.get((name, int(seed)))
    if before is None or after is None:
        return None
    ours = evals[reference].item_outcomes()
    if set(ours) != set(before) or any(set(ours[m]) != set(before[m]) or any(
            not np.array_equal(ours[m][c], before[m][c]) for c in ours[m]) for m in ours):
        return None
    shown = {v: k for k, v in MEASURES.items()}
    evals[name] = RealignEval(name, {shown[m]: pd.DataFrame({c: after[m][c] for c in ours[m]}) for m in ours})
    return name


def add(evals: dict, trained, reference, es: EvalSet, how: str) -> str:
    """Measure the trained copy (`as_reference`) on `es` into `evals` under its variant name; returns the name."""
    name = variant(reference.name, how)
    evals[name] = measure(as_reference(trained, reference, name), es, name)
    return name


# ---------------------------------------------------------------- measuring
@dataclass
class RealignEval:
    """One model measured on an `EvalSet`: per measure (shown name) a DataFrame of per-item hits
    (rows: items or queries; columns: the non-English language of each pair)."""
    name: str
    hits: dict

    def outcome(self, measure: str) -> np.ndarray:
        """Per-item outcomes of `measure`, for paired intervals: (items, languages) where row i is the same
        item in every language (in domain, NTREX: resampled together, as the book's protocol does), and the
        languages' queries one after another for Tatoeba (each language has its own sentences)."""
        if measure not in self.hits:
            raise KeyError(f"{measure!r} was not measured; measured: {', '.join(self.hits)}")
        x = self.hits[measure].to_numpy(dtype=np.float64)
        return x.T.ravel() if measure == "Tatoeba accuracy" else x

    def summary(self) -> dict[str, float]:
        return {m: float(h.to_numpy().mean()) for m, h in self.hits.items()}

    def tidy(self) -> pd.DataFrame:
        """Rows for `record_results`: one per measure and language (Tatoeba: X→en, the others en→X)."""
        rows = []
        for m, h in self.hits.items():
            for l in h.columns:
                src, tgt = (l, "en") if m == "Tatoeba accuracy" else ("en", l)
                rows.append({"measure": MEASURES[m], "src": src, "tgt": tgt, "layer": -1,
                             "value": float(h[l].mean()), "n": len(h)})
        return pd.DataFrame(rows)

    def item_outcomes(self) -> dict[str, dict[str, np.ndarray]]:
        return {MEASURES[m]: {str(l): h[l].to_numpy(dtype=np.float64) for l in h.columns} for m, h in self.hits.items()}


def _hits(sim: np.ndarray) -> np.ndarray:
    return metrics.retrieval_outcomes(sim)["hit"]


def measure(encoder, es: EvalSet, name: str | None = None) -> RealignEval:
    """`encoder` (its own conventions: e5's "query: " prefix, mean pooling, L2 norm) on `es`."""
    name = name or getattr(encoder, "name", "model")
    hits = {}
    emb = {l: encoder.encode(t) for l, t in es.items.items()}
    hits["in-domain P@1"] = pd.DataFrame({l: _hits(metrics.cosine_matrix(emb["en"], emb[l])) for l in es.non_en})
    if es.ntrex:
        emb = {l: encoder.encode(t) for l, t in es.ntrex.items()}
        hits["NTREX P@1"] = pd.DataFrame({l: _hits(metrics.cosine_matrix(emb["en"], emb[l]))
                                          for l in es.ntrex if l != "en"})
    if es.tatoeba:
        hits["Tatoeba accuracy"] = pd.DataFrame({
            l: _hits(metrics.cosine_matrix(encoder.encode(q), encoder.encode(c))) for l, (q, c) in es.tatoeba.items()})
    return RealignEval(name, hits)


def measure_cached(encoder, es: EvalSet, name: str | None = None) -> RealignEval:
    """`measure`, loaded from the cache when this model (weights, config, tokenizer, conventions) was
    measured on the same set by the same package source: notebooks 02 and 03 share the "before"."""
    from ..cache import load_or_compute, model_fingerprint, package_fingerprint

    key = {"model": model_fingerprint(encoder.model, encoder.tokenizer), "conventions": encoder.conventions(),
           "set": es.key(), "name": name or encoder.name, "code": package_fingerprint()}
    return load_or_compute("realign", key, lambda: measure(encoder, es, name))


def chance(es: EvalSet) -> dict[str, float]:
    """A model without information: one hit in as many candidates as each task has."""
    s = es.sizes()
    out = {"in-domain P@1": 1 / s["items"]}
    if es.ntrex:
        out["NTREX P@1"] = 1 / s["ntrex"]
    if es.tatoeba:
        out["Tatoeba accuracy"] = 1 / s["candidates"]
    return out


# ---------------------------------------------------------------- the model and its training pairs
def prefixed(pairs: Sequence[tuple[str, str, str]], encoder) -> list[tuple[str, str, str]]:
    """The training pairs with the encoder's text prefix on both sides (e5 trains and embeds "query: ...";
    training without it would move the model away from the inputs it is measured on)."""
    p = encoder.prefix
    return [(l, p + e, p + t) for l, e, t in pairs]


def as_reference(trained, reference, name: str):
    """The trained copy as an `Encoder` with the reference's conventions (prefix, pooling, L2 norm;
    `fit_copy` returns a plain one); a LoRA-wrapped model has its adapter merged in first."""
    from peft import PeftModel

    from ..methods.adapters import merged_encoder
    from ..models import Encoder

    model = trained.model
    if isinstance(model, PeftModel):
        model = merged_encoder(model, list(model.peft_config), reference.tokenizer, name).model
    return Encoder(model.eval(), reference.tokenizer, name=name, **reference.conventions())


# ---------------------------------------------------------------- tables
def table(evals: Mapping[str, RealignEval], es: EvalSet, control: str | None = None) -> pd.DataFrame:
    """Mean of each measure per model, beside chance (the random-init control is one of `evals`)."""
    rows = {n: e.summary() for n, e in evals.items()}
    rows["chance"] = chance(es)
    out = pd.DataFrame(rows).T[[m for m in MEASURES if m in rows["chance"]]]
    out.index.name = "model"
    return out


def card_table(evals: Mapping[str, RealignEval], es: EvalSet, resamples: int, seed: int) -> pd.DataFrame:
    """Tatoeba per language (%): the model card's number, then each model's accuracy with its 95 %
    interval over queries and its difference to the card."""
    rows = {}
    for l, card in es.card.items():
        row = {"model card (%)": card}
        for n, e in evals.items():
            iv = metrics.mean_interval(100 * e.hits["Tatoeba accuracy"][l].to_numpy(), resamples, seed)
            row[f"{n} (%)"] = round(iv.diff, 1)
            row[f"{n}: 95 % interval"] = f"[{iv.low:.1f}, {iv.high:.1f}]"
            if es.sizes()["candidates"] == 1000:  # the card's setting; else not comparable
                row[f"{n} − card"] = round(iv.diff - card, 1)
        rows[l] = row
    return pd.DataFrame(rows).T


def changes_table(changes: Mapping[tuple[str, str, str], tuple]) -> pd.DataFrame:
    """{(a, b, measure): (interval, verdict) of a − b} as a table (rows "a − b", measure)."""
    return pd.DataFrame([{"difference": f"{a} − {b}", "measure": m, "95 % interval": str(iv), "verdict": verdict}
                         for (a, b, m), (iv, verdict) in changes.items()]).set_index(["difference", "measure"])


def pairs(evals: Mapping[str, RealignEval]) -> list[tuple[str, str]]:
    """The comparisons of the section, (a, b) for a − b: each realigned variant in `evals` against the
    reference before training (the first entry of `evals`, as `start` puts it), then LoRA against full
    fine-tuning when both are there."""
    reference = next(iter(evals))
    done = [n for how in SUFFIX if (n := variant(reference, how)) in evals]
    out = [(n, reference) for n in done]
    if len(done) == 2:
        out.append((done[1], done[0]))
    return out


def tables(evals: Mapping[str, RealignEval], es: EvalSet, changes: Mapping, resamples: int, seed: int) -> list:
    """What the section shows: the means beside chance, Tatoeba against the card, the changes."""
    return [table(evals, es).round(3), card_table(evals, es, resamples, seed), changes_table(changes)]


# ---------------------------------------------------------------- the figure
def fig_realign(evals: Mapping[str, RealignEval], es: EvalSet, resamples: int, seed: int):
    """Three panels (in-domain, NTREX, Tatoeba per language): each model's mean with its 95 % interval
    over items; chance dotted; on Tatoeba the model card's number as a black bar."""
    measured = [m for m in MEASURES if m in next(iter(evals.values())).hits]
    fig, axes = plt.subplots(1, len(measured), figsize=(4.2 * len(measured), 3.4), squeeze=False)
    ch = chance(es)
    for ax, m in zip(axes[0], measured):
        cols = list(next(iter(evals.values())).hits[m].columns) if m == "Tatoeba accuracy" else ["all"]
        xs = np.arange(len(cols))
        for k, (n, e) in enumerate(evals.items()):
            h = e.hits[m]
            ivs = [metrics.mean_interval(h.to_numpy().T.ravel() if c == "all" else h[c].to_numpy(), resamples, seed)
                   for c in cols]
            plot.interval_lines(xs + 0.12 * (k - (len(evals) - 1) / 2), ivs, ax=ax, fmt="o", label=n)
        if m == "Tatoeba accuracy":
            ax.scatter(xs, [es.card[c] / 100 for c in cols], marker="_", s=400, color="black", label="model card",
                       zorder=3)
        ax.axhline(ch[m], ls=":", color="grey")
        ax.set_xticks(xs, [c if c != "all" else "en→X, all languages" for c in cols])
        ax.set_title(m)
        ax.set_ylabel("accuracy" if m == "Tatoeba accuracy" else "P@1")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    plt.close(fig)
    return fig


def fig_placeholder(text: str = "not run (reference = \"\")"):
    """An empty figure saying why (the section is skipped)."""
    fig, ax = plt.subplots(figsize=(4, 1))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center")
    plt.close(fig)
    return fig


# ---------------------------------------------------------------- glue and records
def glue_setup(prefix: str, es: EvalSet | None, *, steps: int, batch: int, max_len: int, lr: float,
               seconds: float | None = None, trained: int | None = None) -> None:
    """Glue the section's sizes and budget under `<prefix>_...` ("n/a" everywhere when not run)."""
    s = es.sizes() if es is not None else {}
    # the set sizes of NTREX and Tatoeba are `n_ntrex` / `n_tatoeba`: `<prefix>_ntrex` is a model's mean
    values = {"items": s.get("items"), "n_ntrex": s.get("ntrex"), "n_tatoeba": s.get("tatoeba"),
              "candidates": s.get("candidates"),
              "langs_ntrex": ", ".join(l for l in es.ntrex if l != "en") if es else None,
              "langs_tatoeba": ", ".join(es.tatoeba) if es else None, "steps": steps, "batch": batch,
              "max_len": max_len, "pairs_seen": steps * batch, "lr": f"{lr:g}",
              "seconds": None if seconds is None else f"{seconds:.0f}",
              "trained": None if trained is None else f"{trained / 1e6:.1f} M"}
    for k, v in values.items():
        glue_text(f"{prefix}_{k}", "n/a" if v is None or es is None else str(v))


def glue_changes(prefix: str, changes: Mapping[tuple[str, str, str], tuple] | None, a: str, b: str,
                 words: tuple[str, str, str] = ("raises", "lowers", "does not measurably change")) -> None:
    """Glue the change a − b of each measure as `iv_<prefix>_<measure key>` / `verdict_<prefix>_<measure key>`
    (the verdict in `words`: better, worse, inconclusive); "n/a" / "was not compared on" where not made."""
    for m, k in KEYS.items():
        r = (changes or {}).get((a, b, m))
        if r is not None:
            glue_verdict(f"{prefix}_{k}", r, *words)
        else:
            glue_text(f"iv_{prefix}_{k}", "n/a")
            glue_text(f"verdict_{prefix}_{k}", "was not compared on")


def record_values(prefix: str, evals: Mapping[str, RealignEval] | None, names: Mapping[str, str]) -> None:
    """Record (and glue) each model's mean per measure as `<prefix>_<short>_<measure key>`; `names` maps a
    short name (before, full, lora, control) to the model's name in `evals`. Without `evals` (the
    section skipped) each of those names is glued as "n/a" and nothing is recorded."""
    for short, n in names.items():
        got = evals[n].summary() if evals else {}
        for m, k in KEYS.items():
            if m in got:
                record(f"{prefix}_{short}_{k}", got[m])
            else:
                glue_text(f"{prefix}_{short}_{k}", "n/a")


def card_sentence(evals: Mapping[str, RealignEval], es: EvalSet, names: Sequence[str]) -> str:
    """Each model's Tatoeba accuracy against the card, mean over the card's languages of the set (points)."""
    if not es.tatoeba:
        return "not measured (none of the chapter's languages is on the card)"
    card = np.mean(list(es.card.values()))
    acc = {n: 100 * evals[n].summary()["Tatoeba accuracy"] for n in names}
    k = es.sizes()["candidates"]
    if k == 1000:
        parts = [f"{n} {a:.1f} % ({a - card:+.1f} points)" for n, a in acc.items()]
        return f"card {card:.1f} % (mean over {', '.join(es.card)}, 1000 candidates); ours: " + "; ".join(parts)
    parts = [f"{n} {a:.1f} %" for n, a in acc.items()]
    return (f"card {card:.1f} % (mean over {', '.join(es.card)}, among 1000 candidates); ours among {k} candidates, "
            "an easier task, so not comparable with the card: " + "; ".join(parts))


def results(evals: Mapping[str, RealignEval], families: Mapping[str, str], seed: int) -> list[dict]:
    """`record_results` keyword arguments of the models named in `families` (variant -> family), in
    that order; the chapter's hidden cell records them."""
    return [dict(variant=v, table=evals[v], family=f, seed=seed) for v, f in families.items()]
