"""Presets (`ci`, `book`, `paper`): languages, model shapes and budgets, chosen by name everywhere.

Introduced in notebook 00_measuring_alignment; see the preset table in the README's "Presets" section.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .data import CORPUS_VARIANTS
from .languages import check_languages


@dataclass(frozen=True)
class ModelConfig:
    """Shape of an XLM-R-style encoder pretrained by this project."""

    vocab_size: int = 8000
    hidden_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 2
    intermediate_size: int = 512
    max_len: int = 128  # tokens per packed training sequence
    dropout: float = 0.1  # hidden and attention dropout (XLM-R's 0.1; ci uses 0: it underfits, see README)
    character_coverage: float = 1.0  # sentencepiece's share of characters kept in the base alphabet
    byte_fallback: bool = False  # characters outside it become UTF-8 byte pieces instead of <unk>


@dataclass(frozen=True)
class TrainConfig:
    """MLM pretraining budget (monolingual batches, no parallel signal)."""

    steps: int = 6000
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 300
    weight_decay: float = 0.01
    mask_prob: float = 0.15
    lang_alpha: float = 0.3  # language sampling exponent, as in XLM-R
    corpus: str = "comparable"  # or "disjoint" / "matched" (data.CORPUS_VARIANTS)
    log_every: int = 50


@dataclass(frozen=True)
class Preset:
    name: str
    langs: tuple[str, ...]
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    seeds: tuple[int, ...] = (0,)
    hub_models: tuple[str, ...] = ()
    description: str = ""
    comparison_steps: int | None = None  # step budget of the matched/disjoint comparison models (None: the preset's)
    models: str | None = None  # the preset whose shipped checkpoints this one uses (None: its own)
    curve_budgets: bool = False  # chapters with budget curves train `budget.chapter_steps` steps (else their default)

    def to_dict(self) -> dict:
        return asdict(self)

    def variant(self, corpus: str) -> "Preset":
        """The recipe of the preset's `corpus` variant as shipped: the comparison models ("matched",
        "disjoint") train `comparison_steps` steps; "comparable" is the preset itself."""
        if corpus == "comparable":
            return self.with_changes(train={"corpus": corpus})
        return self.with_changes(train={"corpus": corpus, "steps": self.comparison_steps or self.train.steps})

    def with_changes(self, model: dict | None = None, train: dict | None = None, **kw) -> "Preset":
        """A copy with some model/train fields changed (a user-changed config retrains and caches)."""
        for name, fields, given in (("model", ModelConfig, model), ("train", TrainConfig, train)):
            unknown = sorted(set(given or {}) - set(fields.__dataclass_fields__))
            if unknown:
                raise ValueError(f"unknown {name} field {', '.join(unknown)}; "
                                 f"choose from: {', '.join(fields.__dataclass_fields__)}")
        if train and "corpus" in train:
            if train["corpus"] not in CORPUS_VARIANTS:
                raise ValueError(f"unknown corpus {train['corpus']!r}; choose one of: {', '.join(CORPUS_VARIANTS)}")
        return replace(
            self,
            model=replace(self.model, **(model or {})),
            train=replace(self.train, **(train or {})),
            **kw,
        )


CI_LANGS = ("en", "de", "es", "ru", "zh", "hi")
BOOK_LANGS = CI_LANGS + ("fr", "ja", "ko", "tr", "fi", "id")

PRESETS: dict[str, Preset] = {
    "ci": Preset(
        "ci",
        CI_LANGS,
        ModelConfig(dropout=0.0),
        TrainConfig(steps=4000),
        seeds=(0,),
        description="2 layers x 128, 6 languages; whole book <= 20 min cold on 2 CPU cores",
        comparison_steps=2000,
    ),
    # The ci models, languages and corpus, and 3 seeds. The chapters with budget curves (01-03) train the
    # budget read off them (`budget.chapter_steps`); the chapters do not loop over the seeds yet (README).
    # No larger architecture: on the same 2.5M-token corpus it would not align better (emergence from MLM is
    # reported at >= 1e8 tokens).
    "book": Preset(
        "book",
        CI_LANGS,
        ModelConfig(dropout=0.0),
        TrainConfig(steps=4000),
        seeds=(0, 1, 2),
        description="the ci models and languages, method budgets from the budget curves, 3 seeds; stored runs",
        comparison_steps=2000,
        models="ci",
        curve_budgets=True,
    ),
    "paper": Preset(
        "paper",
        BOOK_LANGS + ("vi",),
        ModelConfig(),
        TrainConfig(),
        seeds=(0, 1, 2),
        hub_models=("xlm-roberta-base", "bert-base-multilingual-cased", "sentence-transformers/LaBSE",
                    "google/mt5-small", "bigscience/bloom-560m"),
        description="hub models on one GPU; multi-GPU through `accelerate launch`",
    ),
}


class UnknownPresetError(ValueError):
    """A preset name that is not in PRESETS."""


def get_preset(name: str | Preset) -> Preset:
    """The preset called `name` (one-line error listing the presets if unknown)."""
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise UnknownPresetError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    p = PRESETS[name]
    check_languages(p.langs)
    return p
