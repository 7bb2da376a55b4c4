"""Generative models: which language a decoder writes, where its alignment lives, and AFP-style
alignment at a chosen layer (groundwork for notebook 06_generative; the decoder is
`checkpoints.decoder_model`).

- `LanguageID`: a maintained offline language identifier (`py3langid` 0.3.0, pinned: its bundled
  model is data, a new version can change every number), restricted to the languages asked about;
  an unsupported language is a one-line error naming the supported ones. Its own error is measured
  with `LanguageID.accuracy` on held-out human text before it is trusted with generated text.
- `layer_states` / `LayerContrastLoss`: sentence InfoNCE (notebook 02's `info_nce`) on mean-pooled
  hidden state `layer` of a decoder (AFP, Li et al. 2024, aligns a middle layer). The loss reads
  hidden state `layer` only, so its gradient reaches that layer's inputs and below, never the
  layers above it (tested).
- `token_languages` / `logit_lens`: the logit lens (each hidden state through the final norm and
  the LM head) and a table giving each vocabulary piece the language whose `pretrain` text uses it
  most, to ask in which language each layer "thinks".
- `continue_texts`: greedy or sampled continuations of prompts that start with a language tag.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models import body

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


# ---------------------------------------------------------------- alignment at a chosen layer
def layer_states(model, ids: torch.Tensor, mask: torch.Tensor, layer: int) -> torch.Tensor:
    """Mean-pooled hidden state `layer` (0 = embeddings) over the non-padding tokens of each row."""
    hidden = body(model)(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class LayerContrastLoss:
    """loss_fn(model, batch) for `contrastive.SentencePairBatches` batches: symmetric InfoNCE on the
    mean-pooled hidden state `layer` of both sides, scaled by `weight` (AFP's lambda)."""

    def __init__(self, layer: int, tau: float = 0.05, weight: float = 1.0):
        if not tau > 0 or weight < 0:
            raise ValueError(f"tau must be positive and weight non-negative; got tau={tau!r}, weight={weight!r}")
        self.layer, self.tau, self.weight = layer, tau, weight

    def __call__(self, model, batch: dict) -> torch.Tensor:
        from .contrastive import info_nce

        a = layer_states(model, batch["a_ids"], batch["a_mask"], self.layer)
        b = layer_states(model, batch["b_ids"], batch["b_mask"], self.layer)
        ids = batch["ids"]
        return self.weight * info_nce(a, b, self.tau, exclude=ids[:, None] == ids[None, :])


# ---------------------------------------------------------------- logit lens
def token_languages(tokenizer, texts_by_lang: Mapping[str, Sequence[str]], min_share: float = 0.5) -> np.ndarray:
    """Per vocabulary id: the index (into `texts_by_lang`'s order) of the language whose text uses the
    piece most, relative to that language's token count, if that language holds at least `min_share`
    of the piece's relative use; -1 for pieces shared without a clear owner or never seen."""
    langs = list(texts_by_lang)
    counts = np.zeros((len(langs), len(tokenizer)), dtype=np.float64)
    for i, lang in enumerate(langs):
        ids = tokenizer(list(texts_by_lang[lang]), add_special_tokens=False)["input_ids"]
        flat = np.fromiter((t for seq in ids for t in seq), dtype=np.int64)
        counts[i] = np.bincount(flat, minlength=len(tokenizer))[: len(tokenizer)] / max(1, len(flat))
    total = counts.sum(0)
    owner = counts.argmax(0)
    share = np.divide(counts.max(0), total, out=np.zeros_like(total), where=total > 0)
    return np.where((total > 0) & (share >= min_share), owner, -1)


@torch.inference_mode()
def logit_lens(model, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Top token id at every position read off every hidden state (layers+1, batch, seq) through the
    final norm and the LM head of a causal LM (the last hidden state is already normed in HF Llama)."""
    out = body(model)(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    norm = body(model).norm
    tops = [model.lm_head(h if i == len(out) - 1 else norm(h)).argmax(-1) for i, h in enumerate(out)]
    return torch.stack(tops)


# ---------------------------------------------------------------- generation
@torch.inference_mode()
def continue_texts(model, tokenizer, prompts: Sequence[str], lang: str, max_new_tokens: int = 32, sample: bool = False,
                   seed: int = 0, temperature: float = 1.0) -> list[str]:
    """Continuations (only the new text) of `prompts`, each started as `<s> <lang> prompt` like the
    decoder's training rows; greedy, or sampled at `temperature` with torch seed `seed`."""
    tag = f"<{lang}>"
    if tokenizer.convert_tokens_to_ids(tag) in (None, tokenizer.unk_token_id):
        raise ValueError(f"the tokenizer has no language tag {tag}; the decoder knows: "
                         f"{', '.join(t for t in tokenizer.all_special_tokens if len(t) == 4 and t[0] == '<')}")
    torch.manual_seed(seed)
    outs = []
    for p in prompts:
        ids = tokenizer(f"{tag} {p}", return_tensors="pt")["input_ids"][:, :-1]  # drop the closing </s>
        gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens, do_sample=sample,
                             temperature=temperature if sample else None, top_k=None if sample else None,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        outs.append(tokenizer.decode(gen[0, ids.shape[1]:], skip_special_tokens=True).strip())
    return outs


def clm_perplexity(model, ids: torch.Tensor) -> float:
    """exp(mean next-token cross-entropy) of full rows `ids` (no padding)."""
    with torch.inference_mode():
        logits = model(input_ids=ids).logits
        return float(torch.exp(F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten())))
