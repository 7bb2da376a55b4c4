"""The logit lens: each hidden state through the final norm and the LM head, and which language owns
each vocabulary piece, to ask in which language each layer "thinks".

Part of `xalign_utils.methods.generative` (notebook 06_generative).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ...models import body
from .tagged import tagged_rows

__all__ = ['token_languages', 'logit_lens', 'LENS_CLASSES', 'lens_shares']


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
def logit_lens(model, ids: torch.Tensor, mask: torch.Tensor, select: torch.Tensor | None = None) -> torch.Tensor:
    """Top token id at every position read off every hidden state (layers+1, batch, seq) through the
    final norm and the LM head of a causal LM (the last hidden state is already normed in HF Llama).
    With a boolean `select` (batch, seq), only those positions: (layers+1, selected positions)."""
    result = body(model)(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    out, norm = result.hidden_states, body(model).norm
    if not torch.equal(out[-1], result.last_hidden_state):  # HF Llama's last hidden state is the normed one
        raise RuntimeError("this transformers version returns an un-normed last hidden state; logit_lens needs updating")
    pick = (lambda h: h) if select is None else (lambda h: h[select])
    tops = [model.lm_head(pick(h) if i == len(out) - 1 else norm(pick(h))).argmax(-1) for i, h in enumerate(out)]
    return torch.stack(tops)


LENS_CLASSES = ("the prompt's language", "English", "another language", "no clear owner")


def lens_shares(model, tokenizer, texts: Sequence[str], lang: str, owner: np.ndarray, langs: Sequence[str],
                max_len: int = 32, per_item: bool = False) -> np.ndarray:
    """The logit lens on `<s> <lang> text` rows: at every hidden state, the share of the text's
    positions (all but its last piece, whose next piece is the end of the text) whose top decoded piece belongs to (`LENS_CLASSES`) the prompt's language, English
    (always 0 for English prompts), another language, or no language (`owner` from
    `token_languages` over `langs`, -1 = no clear owner). Shape (layers+1, 4), pooled over all
    positions; with `per_item`, (layers+1, texts, 4), each text's own shares. Shares sum to 1."""
    langs = list(langs)
    ids, mask, pool = tagged_rows(tokenizer, texts, lang, max_len)
    select = pool.bool()  # the text's own positions, except the last (it predicts what follows the text)
    select[torch.arange(len(ids)), mask.sum(1) - 1] = False
    who = torch.as_tensor(owner)[logit_lens(model, ids, mask, select)]  # (layers+1, selected positions)
    own, en = langs.index(lang), langs.index("en") if "en" in langs and lang != "en" else -2
    classes = torch.stack([who == own, who == en, (who >= 0) & (who != own) & (who != en), who < 0], -1).float()
    if not per_item:
        return classes.mean(1).numpy()
    item = torch.arange(len(ids)).unsqueeze(1).expand_as(select)[select]  # which text each position is in
    sums = torch.zeros(classes.shape[0], len(ids), classes.shape[2]).index_add_(1, item, classes)
    return (sums / select.sum(1).clamp(min=1).view(1, -1, 1)).numpy()
