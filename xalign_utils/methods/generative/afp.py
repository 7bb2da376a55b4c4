"""AFP-style alignment at a chosen layer (Li et al. 2024): sentence InfoNCE on one hidden state of a
decoder beside its language-modelling loss, and its training run.

Part of `xalign_utils.methods.generative` (notebook 06_generative).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ...models import Encoder, body
from .tagged import tagged_rows

__all__ = ['layer_states', 'LayerContrastLoss', 'TaggedPairBatches', 'AFPBatches', 'AFPLoss', 'train_afp']


def layer_states(model, ids: torch.Tensor, mask: torch.Tensor, layer: int, pool: torch.Tensor | None = None
                 ) -> torch.Tensor:
    """Mean-pooled hidden state `layer` (0 = embeddings) over the tokens of each row marked in `pool`
    (default: the non-padding tokens, `mask`)."""
    hidden = body(model)(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer]
    m = (mask if pool is None else pool).unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class LayerContrastLoss:
    """loss_fn(model, batch) for `TaggedPairBatches` (or `contrastive.SentencePairBatches`) batches:
    symmetric InfoNCE on the mean-pooled hidden state `layer` of both sides (pooled over `a_pool` /
    `b_pool` where the batch has them), scaled by `weight` (AFP's lambda)."""

    def __init__(self, layer: int, tau: float = 0.05, weight: float = 1.0):
        if not tau > 0 or weight < 0:
            raise ValueError(f"tau must be positive and weight non-negative; got tau={tau!r}, weight={weight!r}")
        self.layer, self.tau, self.weight = layer, tau, weight

    def __call__(self, model, batch: dict) -> torch.Tensor:
        from ..contrastive import info_nce

        a = layer_states(model, batch["a_ids"], batch["a_mask"], self.layer, batch.get("a_pool"))
        b = layer_states(model, batch["b_ids"], batch["b_mask"], self.layer, batch.get("b_pool"))
        ids = batch["ids"]
        return self.weight * info_nce(a, b, self.tau, exclude=ids[:, None] == ids[None, :])


class TaggedPairBatches:
    """batch_fn(step): `contrastive.SentencePairBatches`' pairs of distinct English paragraphs and a
    translation of each (the same draw), both sides as `tagged_rows` (`<s> <en> ...`, `<s> <xx> ...`)
    with pool masks over the text's own pieces: keys a_ids, a_mask, a_pool, b_ids, b_mask, b_pool, ids."""

    def __init__(self, tokenizer, pairs, batch_size: int = 16, max_len: int = 128, seed: int = 0):
        from ..contrastive import SentencePairBatches

        self.pairs = SentencePairBatches(tokenizer, pairs, batch_size, max_len, seed)
        self.tokenizer, self.max_len = tokenizer, max_len

    def __call__(self, step: int) -> dict:
        groups, chosen = self.pairs.choose(step)
        a = tagged_rows(self.tokenizer, [e for _, e, _ in chosen], "en", self.max_len)
        b = tagged_rows(self.tokenizer, [t for _, _, t in chosen], [lang for lang, _, _ in chosen], self.max_len)
        return {"a_ids": a[0], "a_mask": a[1], "a_pool": a[2], "b_ids": b[0], "b_mask": b[1], "b_pool": b[2],
                "ids": torch.as_tensor(groups, dtype=torch.long)}


class AFPBatches:
    """batch_fn(step): `TaggedPairBatches` translation pairs (keys a_ids, a_mask, a_pool, b_ids, b_mask,
    b_pool, ids) plus `lm_batch` packed `<s> <xx> paragraph </s>` rows of `lm_texts` (key lm_ids), the
    language of each row drawn uniformly; a pure function of (seed, step)."""

    def __init__(self, tokenizer, pairs, lm_texts: Mapping[str, Sequence[str]], batch_size: int = 16,
                 lm_batch: int = 8, max_len: int = 128, seed: int = 0):
        from ...pretrain import language_tag_ids, pack_sequences

        if lm_batch < 1:
            raise ValueError(f"lm_batch must be positive; got {lm_batch}")
        self.pairs = TaggedPairBatches(tokenizer, pairs, batch_size, max_len, seed)
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
        from ...pretrain import clm_loss

        lm = clm_loss(model, {"input_ids": batch["lm_ids"]})
        return lm if self.align.weight == 0 else lm + self.align(model, batch)


def train_afp(encoder, pairs, lm_texts: Mapping[str, Sequence[str]], layer: int, weight: float, steps: int,
              batch_size: int = 16, lm_batch: int = 8, lr: float = 1e-3, seed: int = 0, tau: float = 0.05,
              desc: str | None = None):
    """A copy of the decoder `encoder` trained `steps` steps on `AFPLoss(layer, weight)` (weight 0: the
    LM loss alone, the control of continued training); returns (Encoder, loss per step)."""
    from ...train import fit_copy

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive; got {steps} and {batch_size}")
    layer_ix = encoder.layer_index(layer)
    batches = AFPBatches(encoder.tokenizer, pairs, lm_texts, batch_size, lm_batch, min(encoder.max_length, 128), seed)
    return fit_copy(encoder, AFPLoss(layer_ix, weight, tau), batches, steps, lr=lr, seed=seed,
                    desc=desc or f"AFP layer {layer_ix}, weight {weight:g}",
                    name=f"{encoder.name} + AFP(layer {layer_ix}, {weight:g})")
