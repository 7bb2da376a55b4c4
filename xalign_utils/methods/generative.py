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


# ---------------------------------------------------------------- AFP-style training
class AFPBatches:
    """batch_fn(step): `contrastive.SentencePairBatches` translation pairs (keys a_ids, a_mask, b_ids,
    b_mask, ids) plus `lm_batch` packed `<s> <xx> paragraph </s>` rows of `lm_texts` (key lm_ids), the
    language of each row drawn uniformly; a pure function of (seed, step)."""

    def __init__(self, tokenizer, pairs, lm_texts: Mapping[str, Sequence[str]], batch_size: int = 16,
                 lm_batch: int = 8, max_len: int = 128, seed: int = 0):
        from ..pretrain import language_tag_ids, pack_sequences
        from .contrastive import SentencePairBatches

        if lm_batch < 1:
            raise ValueError(f"lm_batch must be positive; got {lm_batch}")
        self.pairs = SentencePairBatches(tokenizer, pairs, batch_size, max_len, seed)
        tags = language_tag_ids(tokenizer, list(lm_texts))
        self.rows = [pack_sequences(tokenizer, t, max_len, (tags[lang],)) for lang, t in lm_texts.items()]
        if any(len(r) == 0 for r in self.rows):
            raise ValueError(f"a language's lm_texts give no full row of {max_len} tokens; pass more text")
        self.lm_batch, self.seed = lm_batch, seed

    def __call__(self, step: int) -> dict:
        batch = self.pairs(step)
        rng = np.random.default_rng([self.seed, 61, step])
        langs = rng.integers(0, len(self.rows), self.lm_batch)
        rows = [self.rows[li][rng.integers(0, len(self.rows[li]))] for li in langs]
        batch["lm_ids"] = torch.from_numpy(np.stack(rows))
        return batch


class AFPLoss:
    """loss_fn(model, batch): the causal-LM loss on the batch's `lm_ids` plus `weight` x InfoNCE on
    hidden state `layer` of its translation pairs (AFP: align a layer while keeping the LM)."""

    def __init__(self, layer: int, weight: float, tau: float = 0.05):
        self.align = LayerContrastLoss(layer, tau, weight)

    def __call__(self, model, batch: dict) -> torch.Tensor:
        from ..pretrain import clm_loss

        lm = clm_loss(model, {"input_ids": batch["lm_ids"]})
        return lm if self.align.weight == 0 else lm + self.align(model, batch)


def train_afp(encoder, pairs, lm_texts: Mapping[str, Sequence[str]], layer: int, weight: float, steps: int,
              batch_size: int = 16, lm_batch: int = 8, lr: float = 1e-3, seed: int = 0, tau: float = 0.05,
              desc: str | None = None):
    """A copy of the decoder `encoder` trained `steps` steps on `AFPLoss(layer, weight)` (weight 0: the
    LM loss alone, the control of continued training); returns (Encoder, loss per step)."""
    import copy

    from ..models import Encoder
    from ..train import seed_everything, train_loop

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive; got {steps} and {batch_size}")
    layer_ix = encoder.layer_index(layer)
    batches = AFPBatches(encoder.tokenizer, pairs, lm_texts, batch_size, lm_batch, min(encoder.max_length, 128), seed)
    seed_everything(seed)
    model = copy.deepcopy(encoder.model).train()
    losses = train_loop(model, AFPLoss(layer_ix, weight, tau), batches, steps, lr=lr, warmup=max(1, steps // 10),
                        desc=desc or f"AFP layer {layer_ix}, weight {weight:g}", log_every=max(1, steps // 5))
    return Encoder(model.eval(), encoder.tokenizer, name=f"{encoder.name} + AFP(layer {layer_ix}, {weight:g})"), losses


@torch.inference_mode()
def row_log_perplexity(model, rows: torch.Tensor, batch_size: int = 16) -> np.ndarray:
    """Per full row (no padding): the mean next-token cross-entropy (log perplexity); the per-item
    outcome behind a held-out perplexity."""
    out = []
    for start in range(0, len(rows), batch_size):
        ids = rows[start:start + batch_size]
        logits = model(input_ids=ids).logits[:, :-1].float()
        ce = F.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten(), reduction="none").view(len(ids), -1)
        out.append(ce.mean(1).numpy())
    return np.concatenate(out)


# ---------------------------------------------------------------- generation
def prompt_ids(tokenizer, texts: Sequence[str], lang: str, prompt_tokens: int = 8) -> torch.Tensor:
    """`<s> <lang>` and the first `prompt_tokens` pieces of each text, as the decoder's training rows
    start (texts with fewer pieces are refused): one (n, 2 + prompt_tokens) tensor, no padding."""
    tag = f"<{lang}>"
    tag_id = tokenizer.convert_tokens_to_ids(tag)
    if tag_id is None or tag_id == tokenizer.unk_token_id:
        raise ValueError(f"the tokenizer has no language tag {tag}; the decoder knows: "
                         f"{', '.join(t for t in tokenizer.all_special_tokens if len(t) == 4 and t[0] == '<')}")
    rows = []
    for t in texts:
        pieces = tokenizer(t, add_special_tokens=False)["input_ids"]
        if len(pieces) < prompt_tokens:
            raise ValueError(f"a prompt has {len(pieces)} pieces, fewer than prompt_tokens={prompt_tokens}; pick longer texts")
        rows.append([tokenizer.bos_token_id, tag_id] + pieces[:prompt_tokens])
    return torch.tensor(rows, dtype=torch.long)


@torch.inference_mode()
def continue_texts(model, tokenizer, prompts: Sequence[str], lang: str, max_new_tokens: int = 32, sample: bool = False,
                   seed: int = 0, temperature: float = 1.0, prompt_tokens: int = 8) -> list[str]:
    """Continuations (only the new text) of `prompts` cut to their first `prompt_tokens` pieces and
    started as `<s> <lang> ...` like the decoder's training rows (`prompt_ids`), all in one batch;
    greedy, or sampled at `temperature` with torch seed `seed`."""
    ids = prompt_ids(tokenizer, prompts, lang, prompt_tokens)
    torch.manual_seed(seed)
    kw = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if sample else {"do_sample": False}
    gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **kw)
    return [tokenizer.decode(row[ids.shape[1]:], skip_special_tokens=True).strip() for row in gen]


def clm_perplexity(model, ids: torch.Tensor) -> float:
    """exp(mean next-token cross-entropy) of full rows `ids` (no padding)."""
    with torch.inference_mode():
        logits = model(input_ids=ids).logits
        return float(torch.exp(F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten())))
