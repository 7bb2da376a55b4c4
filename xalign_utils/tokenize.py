"""A shared subword tokenizer (a SentencePiece Unigram model, as XLM-R's) for all of a preset's languages.

Introduced in notebook 00_measuring_alignment. Trained on the `pretrain` split with language
sampling ~ n_l^alpha (alpha = 0.3, as XLM-R does), so low-resource languages get vocabulary; saved
as a `transformers.PreTrainedTokenizerFast` (HF `tokenizers` Unigram) with XLM-R's special tokens.

The vocabulary and scores come from `sentencepiece`'s trainer, run on one thread with no sentence
sampling: its output is a pure function of the input, so `xalign pretrain` rebuilds the shipped
tokenizer bit for bit. HF `tokenizers`' own UnigramTrainer is not: two runs on the same texts give
the same pieces with different scores and ids (measured; the cause is its hash-map order), which
would make every full pretraining re-run train on other token ids.
"""
from __future__ import annotations

import functools
import io
import random
from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
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


def sampled_texts(langs: Sequence[str], alpha: float = 0.3, seed: int = 0, total: int | None = None) -> list[str]:
    """Pretraining texts (the comparable corpus) resampled per language with exponent `alpha`
    (deterministic for `seed`)."""
    texts = {lang: data.corpus(lang, "pretrain")[1] for lang in langs}
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
                    character_coverage: float = 1.0, byte_fallback: bool = False) -> PreTrainedTokenizerFast:
    """Train a Unigram tokenizer on the preset's (comparable) pretraining split; returns a fast HF tokenizer.

    Deterministic, so a process trains each configuration once and reuses it (do not mutate it)."""
    return _train_tokenizer(tuple(langs), vocab_size, alpha, seed, character_coverage, byte_fallback)


@functools.lru_cache(maxsize=8)
def _train_tokenizer(langs: tuple[str, ...], vocab_size: int, alpha: float, seed: int,
                     character_coverage: float, byte_fallback: bool) -> PreTrainedTokenizerFast:
    """Train a Unigram tokenizer on the preset's (comparable) pretraining split; returns a fast HF tokenizer.

    Every corpus variant of a preset (comparable, disjoint, matched) shares this one tokenizer, so
    comparing them measures the training text alone. `character_coverage` < 1 leaves the rarest
    characters out of the base alphabet (sentencepiece's own option; they become <unk>, or UTF-8
    byte pieces with `byte_fallback`, which spends 256 ids on them).

    Deterministic: the same texts give the same pieces, scores and ids in every process."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.set_random_generator_seed(seed)
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sampled_texts(langs, alpha, seed)), model_writer=model,
        model_type="unigram", vocab_size=vocab_size, max_sentencepiece_length=16,
        character_coverage=character_coverage, byte_fallback=byte_fallback,
        normalization_rule_name="nfkc", num_threads=1, input_sentence_size=0, shuffle_input_sentence=False,
        max_sentence_length=1 << 20, bos_id=0, pad_id=1, eos_id=2, unk_id=3, bos_piece="<s>",
        pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>", user_defined_symbols=["<mask>"], minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    vocab = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    assert [p for p, _ in vocab[: len(SPECIAL_TOKENS)]] == SPECIAL_TOKENS, vocab[:5]
    tok = Tokenizer(models.Unigram(vocab, unk_id=SPECIAL_TOKENS.index("<unk>"), byte_fallback=byte_fallback))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = (decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace()]) if byte_fallback
                   else decoders.Metaspace())
    tok.add_special_tokens(SPECIAL_TOKENS)
    bos, eos = tok.token_to_id("<s>"), tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        mask_token="<mask>", cls_token="<s>", sep_token="</s>", model_max_length=512,
    )


def word_pieces(tokenizer, words: Sequence[str]) -> list[list[str]]:
    """The pieces each word becomes when the tokenizer sees it as a pre-split word (as the POS task does)."""
    enc = tokenizer([list(words)], is_split_into_words=True, add_special_tokens=False)
    pieces: list[list[str]] = [[] for _ in words]
    for tok_id, w in zip(enc["input_ids"][0], enc.word_ids(0)):
        if w is not None:
            pieces[w].append(tokenizer.convert_ids_to_tokens(tok_id))
    return pieces


def segmentation_stats(tokenizer, words: Sequence[str]) -> dict[str, float]:
    """How a tokenizer cuts words (Rust et al. 2021): `fertility` (pieces per word, a bare "▁" piece
    counted), `single_chars` (share of words of >= 2 characters cut into single characters only),
    `bare_space_first` (share of words whose first piece is a bare "▁", which carries no content),
    `unk` (share of words with an <unk> piece), `bytes` (share with a UTF-8 byte piece)."""
    words = [w for w in words if w.strip()]
    if not words:
        raise ValueError("segmentation_stats needs at least one non-empty word")
    cuts = []
    for start in range(0, len(words), 2000):
        cuts.extend(word_pieces(tokenizer, words[start:start + 2000]))
    unk = tokenizer.unk_token
    content = [[p for p in ps if p != "▁"] for ps in cuts]
    return {
        "words": len(words),
        "fertility": float(np.mean([len(ps) for ps in cuts])),
        "single_chars": float(np.mean([len(w) >= 2 and all(len(p.lstrip("▁")) == 1 for p in c)
                                       for w, c in zip(words, content)])),
        "bare_space_first": float(np.mean([bool(ps) and ps[0] == "▁" for ps in cuts])),
        "unk": float(np.mean([unk in ps for ps in cuts])),
        "bytes": float(np.mean([any(p.startswith("<0x") for p in ps) for ps in cuts])),
    }
