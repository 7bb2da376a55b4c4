"""Each chapter's parameters and their checks, run before any compute.

Introduced in the book's preface ("How to re-run"). A chapter's `parameters` cell holds its defaults;
the dataclass here names the same parameters and checks them. `xalign run` / `xalign build` call
`check_parameters(stem, params)` before the kernel starts, so a bad value is refused in about a second
with a one-line error, and the chapter's setup cell calls the same function, so a reader who edits the
parameters cell in JupyterLab gets the same message. Checks that need the loaded model (a layer it does
not have, a decoder without language tags) stay in the chapter.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar

from .languages import LANGUAGES, check_languages


def _positive_ints(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value!r}")


def _resamples(resamples) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 100:
        raise ValueError(f"resamples must be an integer of at least 100; got {resamples!r}")


def _langs(langs, others: int, why: str) -> list[str]:
    """ISO codes of the help corpus, English among them and at least `others` other languages."""
    langs = check_languages(langs, "lohelp")
    if "en" not in langs or len(langs) < others + 1:
        need = "and at least one other language" if others == 1 else "and at least two other languages"
        raise ValueError(f"langs must include 'en' {need} ({why})" if others else f"langs must include 'en' ({why})")
    return langs


def _pud_language(langs) -> None:
    if not any(LANGUAGES[l].pud for l in langs if l != "en"):
        raise ValueError("langs needs a non-English language with a PUD treebank (the POS task); e.g. de, es, ru, zh, hi")


def _check_reference(reference) -> None:
    """The real model a chapter measures beside the ci models: a named model, or "" for none."""
    from .hub import NAMED_REQUIREMENTS, check_model_name

    if not isinstance(reference, str) or (reference and reference not in NAMED_REQUIREMENTS):
        raise ValueError(f"reference must be one of {', '.join(map(repr, NAMED_REQUIREMENTS))} or '' (none); "
                         f"got {reference!r}")
    if reference:
        check_model_name(reference)


def _n_parallel(langs) -> int:
    """Distinct English paragraphs of the `parallel` split in every language of `langs`."""
    from . import data

    return len(data.parallel(langs, "parallel")["en"])


@dataclass
class Chapter:
    """Parameters every chapter takes (`preset`, `seed`, `langs`, `model`); subclasses add their own."""

    preset: str
    seed: int
    langs: list
    model: str

    records_results: ClassVar[bool] = True  # its variants' per-item outcomes (`record.record_results`)
    # Why this chapter cannot run the real model at scale (`-p model me5-small`), or None where it can.
    no_real_model: ClassVar[str | None] = (
        "trains the model (MLM/TLM heads, dozens of variants at the ci budget): a 118M-parameter sentence "
        "encoder without an MLM head does not fit that on CPU; notebooks 00 and 05 measure it")

    def check(self) -> Chapter:
        from .hub import NAMED_REQUIREMENTS
        from .presets import get_preset

        get_preset(self.preset)
        if self.model in NAMED_REQUIREMENTS and self.no_real_model:
            raise ValueError(f"model {self.model!r} is refused here: this chapter {self.no_real_model}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {self.seed!r}")
        return self


@dataclass
class MeasuringAlignment(Chapter):
    """00_measuring_alignment."""

    no_real_model: ClassVar[str | None] = None

    control_seeds: list | None
    n_fit: int | None
    pos_sentences: int | None
    apps_train: int | None
    pos_train: int | None
    resamples: int
    reference: str
    reference_items: int
    reference_n_fit: int
    reference_apps_train: int
    reference_pos_sentences: int
    reference_pos_train: int
    reference_tatoeba: int

    # The sizes a parameter left at None takes: for the models trained here, and for a real model at scale as
    # the chapter's own model (on CPU it is measured at the `reference_*` sizes, with one random-init control
    # of its shape: three controls at the ci sizes are more than an hour on two cores).
    CI_SIZES: ClassVar[dict] = {"control_seeds": [0, 1, 2], "n_fit": 2000, "pos_sentences": 500, "apps_train": 4000,
                                "pos_train": None}

    def sizes(self) -> dict:
        """The sizes None stands for, given the chapter's model."""
        from .hub import NAMED_REQUIREMENTS

        if self.model not in NAMED_REQUIREMENTS:
            return dict(self.CI_SIZES)
        return {"control_seeds": [0], "n_fit": self.reference_n_fit, "pos_sentences": self.reference_pos_sentences,
                "apps_train": self.reference_apps_train, "pos_train": self.reference_pos_train}

    def check(self) -> MeasuringAlignment:
        super().check()
        self.langs = _langs(self.langs, 0, "English is the source language of every comparison")
        for name, value in self.sizes().items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        _check_reference(self.reference)
        _positive_ints(reference_items=self.reference_items, reference_n_fit=self.reference_n_fit,
                       reference_apps_train=self.reference_apps_train,
                       reference_pos_sentences=self.reference_pos_sentences, reference_pos_train=self.reference_pos_train,
                       reference_tatoeba=self.reference_tatoeba)
        if not isinstance(self.control_seeds, list) or not self.control_seeds or any(
                isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.control_seeds):
            raise ValueError(f"control_seeds must be a non-empty list of non-negative integers; got {self.control_seeds!r}")
        _positive_ints(n_fit=self.n_fit, pos_sentences=self.pos_sentences, apps_train=self.apps_train)
        if self.pos_train is not None:
            _positive_ints(pos_train=self.pos_train)
        _resamples(self.resamples)
        return self


@dataclass
class ParallelData(Chapter):
    """01_parallel_data."""

    steps: int
    batch_size: int
    lr: float
    reg: float
    sizes: list
    resamples: int
    teacher: str

    def check(self) -> ParallelData:
        super().check()
        self.langs = _langs(self.langs, 1, "every pair is English-X")
        _positive_ints(steps=self.steps, batch_size=self.batch_size)
        _resamples(self.resamples)
        self.check_teacher()
        if not self.lr > 0 or self.reg < 0:
            raise ValueError(f"lr must be positive and reg non-negative; got lr={self.lr!r}, reg={self.reg!r}")
        n_par = _n_parallel(self.langs)
        if (not isinstance(self.sizes, list) or any(isinstance(n, bool) or not isinstance(n, int) or not 1 <= n < n_par
                                                    for n in self.sizes) or sorted(set(self.sizes)) != list(self.sizes)):
            raise ValueError(f"sizes must be increasing integers between 1 and {n_par - 1} (the split has {n_par} "
                             f"paragraphs); got {self.sizes}")
        return self

    def check_teacher(self) -> None:
        """The real teacher of the distillation section: a named model, or "" to skip that section."""
        from .hub import NAMED_REQUIREMENTS, check_model_name

        if not isinstance(self.teacher, str) or (self.teacher and self.teacher not in NAMED_REQUIREMENTS):
            raise ValueError(f"teacher must be one of {', '.join(map(repr, NAMED_REQUIREMENTS))} or '' (skip the "
                             f"real-teacher section); got {self.teacher!r}")
        if self.teacher:
            check_model_name(self.teacher)


REALIGN_SIZE_NAMES = ("items", "ntrex", "tatoeba", "candidates")  # a chapter's `reference_sizes`, in order


def realign_sizes(values) -> dict[str, int]:
    """The realignment section's `reference_sizes` [items, ntrex, tatoeba, candidates] (`kit.realign`) as a
    dict, checked with one-line errors."""
    if not isinstance(values, (list, tuple)) or len(values) != len(REALIGN_SIZE_NAMES):
        raise ValueError(f"reference_sizes must be a list of {len(REALIGN_SIZE_NAMES)} integers "
                         f"({', '.join(REALIGN_SIZE_NAMES)}); got {values!r}")
    out = dict(zip(REALIGN_SIZE_NAMES, values))
    for name, value in out.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"reference_{name} must be a positive integer; got {value!r}")
    if out["items"] < 2 or out["ntrex"] < 2:
        raise ValueError(f"reference_items and reference_ntrex need at least 2 (retrieval needs a distractor); "
                         f"got {out['items']}, {out['ntrex']}")
    if not out["tatoeba"] < out["candidates"] <= 1000:
        raise ValueError(f"reference_candidates must be above reference_tatoeba (the queries' translations plus "
                         f"distractors) and at most 1000 (Tatoeba's size); got {out['candidates']} for "
                         f"{out['tatoeba']} queries")
    return out


def _check_realign(reference, steps, sizes) -> None:
    """The realignment section of chapters 02 and 03 (`kit.realign`): the real model ("" skips it), its
    training steps and its evaluation sizes [items, ntrex, tatoeba, candidates]."""
    _check_reference(reference)
    _positive_ints(reference_steps=steps)
    realign_sizes(sizes)


@dataclass
class Contrastive(Chapter):
    """02_contrastive."""

    steps: int
    batch_size: int
    lr: float
    tau: float
    margin: float
    queue_size: int
    word_tau: float
    layer: int
    pooling: str
    negatives: list
    finetune_steps: int
    resamples: int
    reference: str
    reference_steps: int
    reference_sizes: list

    def check(self) -> Contrastive:
        super().check()
        _check_realign(self.reference, self.reference_steps, self.reference_sizes)
        self.langs = _langs(self.langs, 2, "pairs without English are measured")
        _positive_ints(steps=self.steps, batch_size=self.batch_size, finetune_steps=self.finetune_steps)
        if isinstance(self.queue_size, bool) or not isinstance(self.queue_size, int) or self.queue_size < 0:
            raise ValueError(f"queue_size must be a positive integer or 0; got {self.queue_size!r}")
        _resamples(self.resamples)
        if not (self.lr > 0 and self.tau > 0 and self.word_tau > 0 and self.margin >= 0):
            raise ValueError(f"lr, tau and word_tau must be positive and margin non-negative; got lr={self.lr!r}, "
                             f"tau={self.tau!r}, word_tau={self.word_tau!r}, margin={self.margin!r}")
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls'; got {self.pooling!r}")
        n_par = _n_parallel(self.langs)
        negatives = self.negatives if isinstance(self.negatives, list) else []
        if (not negatives or any(isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= n_par
                                 for b in negatives + [self.batch_size])
                or sorted(set(negatives)) != list(negatives) or self.batch_size in negatives):
            raise ValueError(f"batch_size and the sweep's negatives must be integers between 2 and {n_par} (the distinct "
                             f"English paragraphs), the sweep non-empty, increasing and without batch_size; got "
                             f"{self.batch_size}, {self.negatives}")
        return self


@dataclass
class Adapters(Chapter):
    """03_adapters."""

    ranks: list
    steps: int
    batch_size: int
    lr: float
    adapter_lr: float
    tau: float
    lang_rank: int
    lang_steps: int
    lang_batch: int
    lang_paragraphs: int
    task_rank: int
    task_steps: int
    task_batch: int
    finetune_lr: float
    resamples: int
    reference: str
    reference_steps: int
    reference_sizes: list

    def check(self) -> Adapters:
        super().check()
        _check_realign(self.reference, self.reference_steps, self.reference_sizes)
        self.langs = _langs(self.langs, 1, "tasks are trained on English")
        _pud_language(self.langs)
        if not isinstance(self.ranks, list) or not self.ranks or sorted(set(self.ranks)) != self.ranks or any(
                isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in self.ranks):
            raise ValueError(f"ranks must be a non-empty increasing list of positive integers; got {self.ranks!r}")
        _positive_ints(steps=self.steps, batch_size=self.batch_size, lang_rank=self.lang_rank, lang_steps=self.lang_steps,
                       lang_batch=self.lang_batch, lang_paragraphs=self.lang_paragraphs, task_rank=self.task_rank,
                       task_steps=self.task_steps, task_batch=self.task_batch)
        _resamples(self.resamples)
        if not (self.lr > 0 and self.adapter_lr > 0 and self.finetune_lr > 0 and self.tau > 0):
            raise ValueError(f"lr, adapter_lr, finetune_lr and tau must be positive; got {self.lr!r}, {self.adapter_lr!r}, "
                             f"{self.finetune_lr!r}, {self.tau!r}")
        n_par = _n_parallel(self.langs)
        if self.batch_size > n_par:
            raise ValueError(f"batch_size must be at most {n_par} (the distinct English paragraphs); got {self.batch_size}")
        return self


@dataclass
class Augmentation(Chapter):
    """04_augmentation."""

    p: float
    p_sweep: list
    min_count: int
    mlm_steps: int
    mlm_batch: int
    mlm_paragraphs: int
    lr: float
    resamples: int

    def check(self) -> Augmentation:
        super().check()
        self.langs = _langs(self.langs, 1, "English text is code-switched")
        _pud_language(self.langs)
        _positive_ints(mlm_steps=self.mlm_steps, mlm_batch=self.mlm_batch, mlm_paragraphs=self.mlm_paragraphs,
                       min_count=self.min_count)
        _resamples(self.resamples)
        if not self.lr > 0:
            raise ValueError(f"lr must be positive; got {self.lr!r}")
        if (not isinstance(self.p_sweep, list) or any(isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q <= 1
                                                      for q in [self.p] + self.p_sweep) or self.p in self.p_sweep):
            raise ValueError(f"p and the values of p_sweep must be in (0, 1], p_sweep without p; got p={self.p!r}, "
                             f"p_sweep={self.p_sweep!r}")
        return self


@dataclass
class Transformations(Chapter):
    """05_transformations."""

    no_real_model: ClassVar[str | None] = None

    n_fit: int
    pos_sentences: int
    resamples: int
    reference: str
    reference_items: int
    reference_n_fit: int

    def check(self) -> Transformations:
        super().check()
        self.langs = _langs(self.langs, 0, "the linear maps map every language to English")
        _positive_ints(n_fit=self.n_fit, pos_sentences=self.pos_sentences)
        _check_reference(self.reference)
        _positive_ints(reference_items=self.reference_items, reference_n_fit=self.reference_n_fit)
        _resamples(self.resamples)
        return self


@dataclass
class Generative(Chapter):
    """06_generative. Hidden-state names ('middle', 'last') are resolved against the preset's decoder
    when `model` is 'base'; for another decoder the chapter resolves them once it is loaded."""

    no_real_model: ClassVar[str | None] = ("reads a decoder trained with language tags (<en>, <de>, ...); "
                                           "me5-small is an encoder")

    align_layers: list
    weights: list
    steps: int
    batch_size: int
    lm_batch: int
    lm_paragraphs: int
    lr: float
    tau: float
    n_prompts: int
    prompt_tokens: int
    new_tokens: int
    min_letters: int
    temperature: float
    heldout: int
    lens_items: int
    n_fit: int
    resamples: int

    def check(self) -> Generative:
        super().check()
        self.langs = _langs(self.langs, 1, "the translation pairs are English-X")
        if not isinstance(self.align_layers, list) or not self.align_layers or any(
                not (l in ("middle", "last") or (isinstance(l, int) and not isinstance(l, bool))) for l in self.align_layers):
            raise ValueError(f"align_layers must be a non-empty list of 'middle', 'last' or hidden-state indices; "
                             f"got {self.align_layers!r}")
        if (not isinstance(self.weights, list) or not self.weights or sorted(set(self.weights)) != self.weights
                or any(isinstance(w, bool) or not isinstance(w, (int, float)) or not w > 0 for w in self.weights)):
            raise ValueError(f"weights must be a non-empty increasing list of positive numbers (λ = 0 is always run); "
                             f"got {self.weights!r}")
        _positive_ints(steps=self.steps, batch_size=self.batch_size, lm_batch=self.lm_batch, lm_paragraphs=self.lm_paragraphs,
                       n_prompts=self.n_prompts, prompt_tokens=self.prompt_tokens, new_tokens=self.new_tokens,
                       min_letters=self.min_letters, heldout=self.heldout, lens_items=self.lens_items, n_fit=self.n_fit)
        _resamples(self.resamples)
        if not (self.lr > 0 and self.tau > 0 and self.temperature > 0):
            raise ValueError(f"lr, tau and temperature must be positive; got {self.lr!r}, {self.tau!r}, {self.temperature!r}")
        n_par = _n_parallel(self.langs)
        if not 2 <= self.batch_size <= n_par:
            raise ValueError(f"batch_size must be between 2 and {n_par} (the distinct English paragraphs); got {self.batch_size}")
        if self.model == "base":
            from .presets import get_preset

            self.hidden_states(get_preset(self.preset).model.num_hidden_layers)
        return self

    def hidden_states(self, n_layers: int) -> list[int]:
        """`align_layers` as hidden-state indices of an `n_layers` decoder ('middle' = n // 2, 'last' = n);
        a one-line error for an index it does not have or a state named twice."""
        named = {"middle": n_layers // 2, "last": n_layers}
        out = []
        for l in self.align_layers:
            i = named.get(l, l)
            if not -(n_layers + 1) <= i <= n_layers:
                raise ValueError(f"align_layers: {l!r} is out of range for a {n_layers}-layer decoder; use 0..{n_layers}, "
                                 "'middle' or 'last'")
            out.append(i % (n_layers + 1))
        if len(set(out)) != len(out):
            raise ValueError(f"align_layers name the same hidden state twice: {self.align_layers!r} -> {out}")
        return out


@dataclass
class Synthesis:
    """07_synthesis: reads the other chapters' results, trains nothing (no languages or model of its own)."""

    records_results: ClassVar[bool] = False  # reads the others' results, records none

    preset: str
    seed: int
    resamples: int
    corr_resamples: int

    def check(self) -> Synthesis:
        from .presets import get_preset

        get_preset(self.preset)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {self.seed!r}")
        _resamples(self.resamples)
        if isinstance(self.corr_resamples, bool) or not isinstance(self.corr_resamples, int) or self.corr_resamples < 100:
            raise ValueError(f"corr_resamples must be an integer of at least 100; got {self.corr_resamples!r}")
        return self


@dataclass
class Emergence:
    """00b_emergence: measures the three committed English/Fake-English models (no languages or model of its own)."""

    records_results: ClassVar[bool] = True  # records its measured variants

    preset: str
    seed: int
    resamples: int

    def check(self) -> Emergence:
        from .presets import get_preset

        get_preset(self.preset)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {self.seed!r}")
        _resamples(self.resamples)
        return self


CHAPTERS: dict[str, type] = {
    "00_measuring_alignment": MeasuringAlignment,
    "00b_emergence": Emergence,
    "01_parallel_data": ParallelData,
    "02_contrastive": Contrastive,
    "03_adapters": Adapters,
    "04_augmentation": Augmentation,
    "05_transformations": Transformations,
    "06_generative": Generative,
    "07_synthesis": Synthesis,
}


def check_parameters(stem: str, params: Mapping):
    """The chapter's parameters (picked from `params`, e.g. the notebook's `globals()`), checked: returns
    the chapter's dataclass, or raises a one-line `ValueError` naming the parameter and what it takes.
    A notebook without a dataclass here passes through (None)."""
    cls = CHAPTERS.get(stem)
    if cls is None:
        return None
    names = [f.name for f in fields(cls)]
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"{stem} is missing parameter(s) {', '.join(missing)}; its parameters cell and "
                         f"xalign_utils.chapters.{cls.__name__} must name the same parameters")
    return cls(**{n: params[n] for n in names}).check()
