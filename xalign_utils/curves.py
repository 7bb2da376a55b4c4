"""Computing the budget curves: each method's training recipe as its chapter runs it, trained at geometric
budgets and measured on the chapters' harness (the writing side of `budget`).

Each method is trained at budgets of 64, 256, 1024, ... steps, from the ci base model and from its
random-init control (the starts its chapter trains it from), **as separate runs** (the learning-rate
schedule warms up over a tenth of the steps and decays to zero, so a 256-step run is not the 256th step of a
1024-step run), and each trained model is measured on the chapters' harness: weak P@1 en→X (cosine, last
layer, the 409 sentence items) and the help-application task (View II). One seed. Each row goes into
`budget.CURVES` as soon as it is measured, with its per-item outcomes, the chapters that train the method,
the chapter parameter its budget sets, and the commit and machine that produced it.

    python -m xalign_utils.curves --chapter 02_contrastive --budgets 64 256 1024

is resumable: rows are written atomically under a file lock, so a killed run loses at most the row it was
training and several processes may fill one file. No chapter imports this module (a test checks it): a new
recipe here restales no stored run; its rows restale the chapters that show them.
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .budget import BUDGETS, COLUMNS, CURVES, MEASURES, ROOT, STARTS, items_path, outcome_key, read_curves, read_outcomes


@dataclass(frozen=True)
class Method:
    """One trainable method as its chapters run it (`train(encoder, ctx, steps, seed, batch_size, lr)` ->
    (encoder, losses)); `fit` trains it with its own batch size and learning rate, the ones the CSV records.
    `chapters`: the notebooks that train it (space-separated); `param`: the parameter of theirs that sets its
    number of steps; `starts`: the starts its chapters train it from."""

    key: str
    chapters: str
    label: str
    batch_size: int
    lr: float
    train: Callable
    param: str = "steps"
    starts: tuple[str, ...] = STARTS
    kind: str = "encoder"  # the context it trains in (`CONTEXTS`): the shipped encoder, or the decoder
    measures: tuple[str, ...] = ("weak_p1", "apps_accuracy")  # the columns of `budget.MEASURES` it fills
    score: Callable | None = None  # (ctx, trained) -> (scores, outcomes); default `measure` on the harness

    def fit(self, encoder, ctx: dict, steps: int, seed: int):
        return self.train(encoder, ctx, steps, seed, self.batch_size, self.lr)

    def scores(self, ctx: dict, trained) -> tuple[dict, dict]:
        """Its measures of `trained` (a start, untrained, or what `fit` returned), only those it fills."""
        return self.keep(*(self.score or _harness_score)(ctx, trained))

    def keep(self, scores: dict, outcomes: dict) -> tuple[dict, dict]:
        """The scores and outcomes of the measures it fills."""
        return {c: scores[c] for c in self.measures}, {c: outcomes[c] for c in self.measures}


def _pm(method: str, label: str, **extra):
    def run(enc, ctx, steps, seed, batch_size, lr):
        from .methods import parallel as PM

        kw = {}
        if method == "tlm":
            kw["mono"] = PM.MonoMLMBatches(enc.tokenizer, ctx["langs"], batch_size=2, max_len=ctx["max_len"], seed=seed)
        if method == "word_dict":
            kw["links"] = ctx["links"]
        if method == "word_induced":  # links induced from the start's own embeddings, as in notebook 01
            kw["links"] = _cached(ctx, ("induced", id(enc)), lambda: PM.induced_links(enc, ctx["pairs"]))
        if method == "distill_teacher":
            kw["teacher"] = _cached(ctx, "teacher", lambda: _load(ctx["teacher"]))
        return PM.train_method(enc, method, ctx["pairs"], steps, batch_size, lr, seed, desc=label, **kw, **extra)
    return run


def _contrastive(method: str, label: str, **extra):
    def run(enc, ctx, steps, seed, batch_size, lr):
        from .kit.contrastive import link_sample
        from .methods import contrastive as CM
        from .methods import parallel as PM

        kw = dict(extra)
        if method == "word_contrast":  # links on notebook 02's seeded sample of pairs, from the start itself
            kw["links"] = _cached(ctx, ("word_contrast", id(enc)),
                                  lambda: PM.induced_links(enc, link_sample(ctx["pairs"], seed), -1))
        return CM.train_contrastive(enc, method, ctx["pairs"], steps, batch_size, lr, seed, desc=label, **kw)
    return run


def _lora(rank: int):
    def run(enc, ctx, steps, seed, batch_size, lr):
        from .methods import adapters as AD

        return AD.train_lora_contrastive(enc, ctx["pairs"], rank, steps, batch_size, lr, seed,
                                         desc=f"LoRA r{rank} InfoNCE")
    return run


def _language_adapters(enc, ctx, steps, seed, batch_size, lr):
    """Notebook 03's language adapters (rank 8, MLM on 200 `pretrain` paragraphs per language), measured with
    each language's texts through its own adapter (`PerLanguage`), as the chapter measures them."""
    from .kit.adapters import pretrain_sample
    from .methods import adapters as AD
    from .models import PerLanguage

    texts = _cached(ctx, "lang_texts", lambda: pretrain_sample(ctx["langs"], 200, seed))
    model, losses = AD.train_language_adapters(enc, texts, 8, steps, batch_size, lr, seed, desc="language adapters")
    routed = PerLanguage(AD.per_language_encoders(model, ctx["langs"], enc.tokenizer, "language adapters"),
                         "language adapters")
    return routed, [float(np.mean([v[i] for v in losses.values()])) for i in range(min(map(len, losses.values())))]


def _mlm(switched: bool):
    """Notebook 04's MLM on 2,000 English `pretrain` paragraphs, code-switched word by word with p = 0.5
    through the dictionaries (vendored, else induced from the base model's links), or plain."""
    def run(enc, ctx, steps, seed, batch_size, lr):
        from .methods import augmentation as AM

        texts = _cached(ctx, ("mlm_texts", switched), lambda: _mlm_texts(ctx, seed, switched))
        return AM.train_mlm(enc, texts, steps, batch_size, lr, seed,
                            desc="code-switched MLM" if switched else "plain MLM")
    return run


def _mlm_texts(ctx: dict, seed: int, switched: bool) -> list[str]:
    from . import data
    from .methods import augmentation as AM
    from .methods import parallel as PM
    from .methods.word_alignment import split_words

    rng = np.random.default_rng([seed, 3])  # as notebook 04 draws them
    pool = data.corpus("en", "pretrain")[1]
    english = [pool[i] for i in sorted(rng.choice(len(pool), min(2000, len(pool)), replace=False))]
    if not switched:
        return [" ".join(split_words(t)) for t in english]
    non_en = [lang for lang in ctx["langs"] if lang != "en"]
    vendored = AM.vendored_dictionaries(ctx["langs"])
    linked = PM.induced_links(ctx["starts"]["base"], ctx["pairs"])
    dictionaries = {}
    for lang in non_en:
        dictionaries[lang] = vendored.get(lang) or AM.induce_dictionary(
            [ex for ex, (pair_lang, _, _) in zip(linked, ctx["pairs"]) if pair_lang == lang], 2)
    return AM.code_switch_texts(english, dictionaries, 0.5, seed)


def _task_adapter(enc, ctx, steps, seed, batch_size, lr):
    """Notebook 03's task adapter alone (a fresh rank-8 LoRA and a linear head, no language adapter) trained on
    the English application task; returns its zero-shot result (scored by `_task_score`), no losses."""
    from .methods import adapters as AD
    from .models import Encoder
    from .transfer import finetune_classification

    h = ctx["harness"]
    model = Encoder(AD.with_task_adapter(enc.model, 8, seed), enc.tokenizer, enc.name)
    _, result = finetune_classification(model, h.apps_task, steps, batch_size, lr, seed, h.layer,
                                        desc="task adapter (apps)", prepare=AD.task_prepare(language_adapters=False))
    return result, []


def _task_score(ctx: dict, trained) -> tuple[dict, dict]:
    """Zero-shot application accuracy of a fine-tuned classifier (its per-item outcomes, non-English columns
    in the harness's order); an untrained start is read by the harness's frozen-feature head, the origin of
    every curve."""
    from .transfer import TransferResult

    if not isinstance(trained, TransferResult):
        return _harness_score(ctx, trained)
    items = trained.items[[c for c in trained.items.columns if c != "en"]].to_numpy(np.float32)
    return {"apps_accuracy": float(items.mean())}, {"apps_accuracy": items}


def _afp(enc, ctx, steps, seed, batch_size, lr):
    """Notebook 06's AFP on the decoder: InfoNCE at the middle hidden state with weight 1, beside the LM loss
    (lm batch 4, tau 0.05), on the `parallel` pairs and 2,000 `pretrain` paragraphs per language."""
    from .methods import generative as G

    return G.train_afp(enc, ctx["pairs"], ctx["lm_texts"], ctx["middle"], 1.0, steps, batch_size, 4, lr, seed, 0.05,
                       desc="AFP (middle, λ = 1)")


def _decoder_score(ctx: dict, trained) -> tuple[dict, dict]:
    """Notebook 06's measures of a decoder: weak P@1 en→X at the middle hidden state (tagged, raw cosine) and
    the share of greedy continuations in the prompt's language."""
    from .methods import generative as G

    ev = G.measure_decoder(trained, ctx["texts"], ctx["prompts"], ctx["rows"], ctx["lid"], 100, ctx["seed"], 24, 8,
                           1.0, 10, trained.name)
    hits = np.asarray(ev.outcome("weak P@1", ctx["middle"]), np.float32)
    correct = np.asarray(ev.outcome("correct language (greedy)"), np.float32)
    return ({"weak_p1": float(hits.mean()), "correct_language": float(correct.mean())},
            {"weak_p1": hits, "correct_language": correct})


def _harness_score(ctx: dict, model) -> tuple[dict, dict]:
    return measure(ctx["harness"], model)


def _cached(ctx: dict, key, make: Callable):
    store = ctx.setdefault("cache", {})
    if key not in store:
        store[key] = make()
    return store[key]


def _load(name: str):
    from .models import load_model

    return load_model(name)


P01, P02, P03, P04, P06 = "01_parallel_data", "02_contrastive", "03_adapters", "04_augmentation", "06_generative"
BASE = ("base",)
METHODS: dict[str, Method] = {m.key: m for m in (
    Method("tlm", P01, "TLM (+ MLM)", 16, 5e-4, _pm("tlm", "TLM")),
    Method("distill", P01, "distillation", 16, 5e-4, _pm("distill", "distillation")),
    Method("word_dict", P01, "word-level, dictionary links", 16, 5e-4, _pm("word_dict", "word-level (dictionary)")),
    Method("word_induced", P01, "word-level, induced links", 16, 5e-4, _pm("word_induced", "word-level (induced)")),
    Method("distill_teacher", P01, "distillation from me5-small", 16, 5e-4,
           _pm("distill_teacher", "distillation (real teacher)")),
    Method("infonce_01", P01, "InfoNCE at 01's rate", 16, 5e-4, _contrastive("infonce", "InfoNCE")),
    Method("infonce", f"{P02} {P03}", "sentence InfoNCE", 16, 1e-3, _contrastive("infonce", "InfoNCE")),
    Method("infonce_margin", P02, "InfoNCE + margin 0.3", 16, 1e-3,
           _contrastive("infonce", "InfoNCE + margin", margin=0.3), starts=BASE),
    Method("infonce_queue", P02, "InfoNCE + queue 64", 16, 1e-3,
           _contrastive("infonce", "InfoNCE + queue", queue_size=64), starts=BASE),
    Method("word_contrast", P02, "word-level contrastive", 16, 1e-3, _contrastive("word_contrast", "word-level contrastive")),
    Method("simcse", P02, "English-only SimCSE", 16, 1e-3, _contrastive("simcse", "simcse")),
    Method("distill_lr1e-3", P02, "distillation at 02's rate", 16, 1e-3, _pm("distill", "distillation"), starts=BASE),
    Method("lora_r1", P03, "InfoNCE through LoRA rank 1", 16, 5e-3, _lora(1), starts=BASE),
    Method("lora_infonce", P03, "InfoNCE through LoRA rank 4", 16, 5e-3, _lora(4)),
    Method("lora_r16", P03, "InfoNCE through LoRA rank 16", 16, 5e-3, _lora(16), starts=BASE),
    Method("lang_adapters", P03, "language adapters (MLM)", 8, 5e-3, _language_adapters, param="lang_steps"),
    Method("task_adapter", P03, "task adapter alone (apps)", 16, 5e-3, _task_adapter, param="task_steps",
           starts=BASE, measures=("apps_accuracy",), score=_task_score),
    Method("cs_mlm", P04, "code-switched MLM", 4, 5e-4, _mlm(True), param="mlm_steps"),
    Method("plain_mlm", P04, "plain MLM (no switching)", 4, 5e-4, _mlm(False), param="mlm_steps"),
    Method("afp", P06, "AFP, middle state, λ = 1", 16, 3e-4, _afp, kind="decoder",
           measures=("weak_p1", "correct_language"), score=_decoder_score),
)}


def check(methods: Sequence[str], budgets: Sequence[int], starts: Sequence[str]) -> None:
    """One-line errors for an unknown method or start, or a budget that is not a positive integer."""
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"unknown method {m!r}; choose from: {', '.join(METHODS)}")
    for s in starts:
        if s not in STARTS:
            raise ValueError(f"unknown start {s!r}; choose from: {', '.join(STARTS)}")
    for b in budgets:
        if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 1:
            raise ValueError(f"budgets are positive step counts; got {b!r}")


def of_chapters(chapters: Sequence[str]) -> list[str]:
    """The methods that the given chapters train (one-line error for a chapter that trains none)."""
    out = []
    for c in chapters:
        got = [k for k, m in METHODS.items() if c in m.chapters.split()]
        if not got:
            raise ValueError(f"no method of {c!r} has a recipe here; chapters with curves: "
                             f"{', '.join(sorted({x for m in METHODS.values() for x in m.chapters.split()}))}")
        out += [k for k in got if k not in out]
    return out


def _write(table: pd.DataFrame, path: Path) -> None:
    from .cache import atomic_write_text

    order = {k: i for i, k in enumerate(METHODS)}
    table = table.sort_values(["method", "start", "steps"],
                              key=lambda c: c.map(lambda m: order.get(m, len(order))) if c.name == "method" else c)
    atomic_write_text(path, table.reindex(columns=COLUMNS).to_csv(index=False, float_format="%.6g"))


def _append(row: dict, path: Path, outcomes: dict[str, np.ndarray] | None = None) -> None:
    """Add one row (and its per-item outcomes, by measure) to the stored curves under a file lock (several
    processes may fill one file), replacing a row of the same method, start, steps and seed; both files are
    rewritten atomically, the outcomes first (a row is never stored without them)."""
    import fcntl
    import os
    import tempfile

    from .cache import readable

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if outcomes:
            stored = read_outcomes(path)
            stored.update({outcome_key(row["method"], row["start"], row["steps"], row["seed"], m): np.asarray(v, np.float32)
                           for m, v in outcomes.items()})
            fd, tmp = tempfile.mkstemp(prefix=".items.", suffix=".npz", dir=path.parent)
            readable(fd)
            try:
                with os.fdopen(fd, "wb") as f:
                    np.savez_compressed(f, **stored)
                os.replace(tmp, items_path(path))
            finally:
                Path(tmp).unlink(missing_ok=True)
        table = read_curves(path)
        same = ((table.method == row["method"]) & (table.start == row["start"]) & (table.steps == row["steps"])
                & (table.seed == row["seed"]))
        table = pd.concat([table[~same].dropna(axis=1, how="all"), pd.DataFrame([row])], ignore_index=True)
        _write(table, path)


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "xalign_utils"], cwd=ROOT, capture_output=True,
                               text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+changes" if dirty else "") if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def context(langs: Sequence[str], seed: int = 0, preset: str = "ci", teacher: str = "me5-small") -> dict:
    """What every run shares: the starting models, the harness, the `parallel` pairs, dictionary links (and the
    name of the real teacher, loaded on first use)."""
    from .checkpoints import base_model
    from .harness import Harness
    from .kit.adapters import parallel_pairs
    from .methods import parallel as PM
    from .models import random_init_like
    from .presets import get_preset

    enc = base_model(get_preset(preset).name)  # the shipped base; `seed` is the methods' seed
    pairs = parallel_pairs(langs, seed)
    return {"langs": list(langs), "pairs": pairs, "max_len": get_preset(preset).model.max_len, "teacher": teacher,
            "starts": {"base": enc, "random init": random_init_like(enc, seed)},
            "links": PM.dictionary_links(pairs, PM.dictionaries_for(langs)),
            "harness": Harness(langs, layer=-1, seed=seed)}


def decoder_context(langs: Sequence[str], seed: int = 0, preset: str = "ci") -> dict:
    """Notebook 06's setting: the shipped decoder and its random-init control, its eval texts, prompts and
    held-out rows, the `parallel` pairs and the language-modelling text, the language identifier."""
    from .kit import generative as kit
    from .methods import generative as G

    dec, control = kit.decoders(preset, seed, "base", langs)
    texts, prompts, _, rows, pairs, lm_texts = kit.inputs(
        dec.tokenizer, langs, n_prompts=48, prompt_tokens=8, new_tokens=24, heldout=16, lm_paragraphs=2000,
        row_len=min(dec.max_length, 128), seed=seed)
    return {"langs": list(langs), "seed": seed, "starts": {"base": dec, "random init": control}, "texts": texts,
            "prompts": prompts, "rows": rows, "pairs": pairs, "lm_texts": lm_texts, "lid": G.LanguageID(langs),
            "middle": dec.num_layers // 2}


CONTEXTS = {"encoder": context, "decoder": decoder_context}


def measure(harness, encoder) -> tuple[dict, dict]:
    """Weak P@1 (cosine, last layer) and the application task's accuracy, means over non-English languages,
    and their per-item outcomes (items x non-English languages)."""
    ev = harness.measure(encoder, pos=False, full=False)
    s = ev.summary()
    cols = {"weak_p1": "weak P@1", "apps_accuracy": "apps accuracy"}
    outcomes = {col: np.asarray(ev.outcome(name), dtype=np.float32) for col, name in cols.items()}
    return {col: s[name] for col, name in cols.items()}, outcomes


def run(methods: Sequence[str], budgets: Sequence[int] = BUDGETS, starts: Sequence[str] = STARTS, seed: int = 0,
        langs: Sequence[str] | None = None, path: Path | str = CURVES, progress: Callable[[str], None] = print,
        ctx: dict | None = None) -> pd.DataFrame:
    """Train and measure every (method, start, budget) not yet in `path` (each method from those of `starts`
    its chapters train it from), writing each row as it is done. Also measures each start untrained
    (steps 0), the origin of every curve."""
    import torch

    from .presets import get_preset

    check(methods, budgets, starts)
    path = Path(path)
    table = read_curves(path)
    langs = list(langs or get_preset("ci").langs)
    done = {(r.method, r.start, int(r.steps), int(r.seed)) for r in table.itertuples()}
    todo = [(m, s, b) for m in methods for s in starts if s in METHODS[m].starts for b in (0, *budgets)
            if (m, s, b, seed) not in done]
    if not todo:
        return table
    contexts = {"encoder": ctx} if ctx is not None else {}  # built on first use, one per kind
    commit = _commit()  # of the code that trains, read once: later edits to the tree do not relabel rows
    untrained: dict[tuple, tuple] = {}
    for m, s, b in todo:
        meth = METHODS[m]
        if meth.kind not in contexts:
            contexts[meth.kind] = CONTEXTS[meth.kind](langs, seed)
        c = contexts[meth.kind]
        t0 = time.time()
        if b == 0:
            key = (meth.kind, s, meth.score)
            if key not in untrained:
                untrained[key] = (meth.score or _harness_score)(c, c["starts"][s])
            (scores, outcomes), loss, t_train = meth.keep(*untrained[key]), float("nan"), 0.0
        else:
            trained, losses = meth.fit(c["starts"][s], c, b, seed)
            t_train = time.time() - t0
            (scores, outcomes) = meth.scores(c, trained)
            loss = float(np.mean(losses[-max(1, len(losses) // 10):])) if len(losses) else float("nan")
        row = {"method": m, "label": meth.label, "chapter": meth.chapters, "param": meth.param, "start": s, "steps": b,
               "batch_size": meth.batch_size, "lr": meth.lr, "seed": seed, **scores, "final_loss": loss,
               "train_s": round(t_train, 1), "eval_s": round(time.time() - t0 - t_train, 1),
               "threads": torch.get_num_threads(), "commit": commit,
               "machine": f"{platform.machine()} {platform.system()}"}
        _append(row, path, outcomes)
        progress(f"{m} from {s}, {b} steps: " + ", ".join(f"{MEASURES[k]} {v:.3f}" for k, v in scores.items())
                 + f" ({t_train:.0f} s training)")
    return read_curves(path)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m xalign_utils.curves", description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", nargs="+", help="method keys (default: every method, or those of --chapter)")
    p.add_argument("--chapter", nargs="+", default=[], help="the methods these chapters train")
    p.add_argument("--budgets", nargs="+", type=int, default=list(BUDGETS))
    p.add_argument("--starts", nargs="+", default=list(STARTS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(CURVES))
    a = p.parse_args(argv)
    try:
        methods = a.methods or (of_chapters(a.chapter) if a.chapter else list(METHODS))
        check(methods, a.budgets, a.starts)
    except ValueError as e:
        p.exit(2, f"curves: error: {e}\n")
    run(methods, a.budgets, a.starts, a.seed, path=a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
