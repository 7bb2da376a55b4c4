"""A shared subword tokenizer (HF `tokenizers`, Unigram) for all of a preset's languages.

Introduced in notebook 00_measuring_alignment. Trained on the `pretrain` split with language
sampling ~ n_l^alpha (alpha = 0.3, as XLM-R does), so low-resource languages get vocabulary; saved
as a `transformers.PreTrainedTokenizerFast` with XLM-R's special tokens.
"""
from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from . import data

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def language_sampling_weights(sizes: Sequence[int], alpha: float = 0.3) -> np.ndarray:
    """q_l = p_l^alpha / sum_k p_k^alpha with p_l = n_l / sum n (Conneau et al. 2020)."""
    p = np.asarray(sizes, dtype=np.float64)
    if (p <= 0).any():
        raise ValueError("every language needs at least one training text")
    p = p / p.sum()
    q = p**alpha
    return q / q.sum()


def sampled_texts(langs: Sequence[str], alpha: float = 0.3, seed: int = 0, disjoint: bool = False,
                  total: int | None = None) -> list[str]:
    """Pretraining texts resampled per language with exponent `alpha` (deterministic for `seed`)."""
    texts = {lang: data.corpus(lang, "pretrain", disjoint, tuple(langs))[1] for lang in langs}
    q = language_sampling_weights([len(t) for t in texts.values()], alpha)
    total = total or sum(len(t) for t in texts.values())
    rng = random.Random(seed)
    out: list[str] = []
    for lang, share in zip(langs, q):
        pool = list(texts[lang])
        reps, rest = divmod(int(round(share * total)), len(pool))
        out.extend(pool * reps + rng.sample(pool, rest))
    rng.shuffle(out)
    return out


def train_tokenizer(langs: Sequence[str], vocab_size: int = 8000, alpha: float = 0.3, seed: int = 0,
                    disjoint: bool = False) -> PreTrainedTokenizerFast:
    """Train a Unigram tokenizer on the preset's pretraining split; returns a fast HF tokenizer."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, unk_token="<unk>", max_piece_length=16,
        show_progress=False,
    )
    tok.train_from_iterator(sampled_texts(langs, alpha, seed, disjoint), trainer=trainer)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        mask_token="<mask>", cls_token="<s>", sep_token="</s>", model_max_length=512,
    )
