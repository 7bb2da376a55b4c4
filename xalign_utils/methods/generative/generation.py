"""Prompts, continuations (greedy or sampled) and their baselines (copy, unigram, reference), distinct
n-grams and held-out perplexity.

Part of `xalign_utils.methods.generative` (notebook 06_generative).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ['prompt_ids', 'continue_texts', 'continue_by_language', 'copy_continuations', 'unigram_continuations', 'select_prompts', 'reference_continuations', 'heldout_rows', 'distinct_ngrams', 'clm_perplexity', 'row_log_perplexity']



def distinct_ngrams(tokenizer, texts: Sequence[str], n: int = 3) -> np.ndarray:
    """Per text: distinct piece n-grams over all piece n-grams (1 = no repetition; a text that
    repeats one piece scores about 1/pieces; 0 for a text of fewer than n pieces)."""
    out = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"] if texts else []:
        grams = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
        out.append(len(set(grams)) / len(grams) if grams else 0.0)
    return np.array(out)


def copy_continuations(tokenizer, texts: Sequence[str], prompt_tokens: int, new_tokens: int) -> list[str]:
    """The degenerate continuation that repeats the prompt's pieces to `new_tokens` pieces (what an
    echoing model writes: a floor that shows what the correct-language rate alone cannot see)."""
    out = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        p = ids[:prompt_tokens]
        out.append(tokenizer.decode((p * (new_tokens // len(p) + 1))[:new_tokens]).strip())
    return out


def unigram_continuations(tokenizer, texts: Sequence[str], n: int, new_tokens: int, seed: int = 0) -> list[str]:
    """`n` continuations of `new_tokens` pieces drawn independently by their frequency in `texts`
    (e.g. `pretrain` text of every language): noise with the corpus's piece mix, a floor for the
    language identifier (which still gives such noise a language)."""
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    counts = np.bincount(np.fromiter((t for seq in ids for t in seq), dtype=np.int64), minlength=len(tokenizer))
    rng = np.random.default_rng([seed, 73])
    draws = rng.choice(len(counts), (n, new_tokens), p=counts / counts.sum())
    return [tokenizer.decode(row.tolist()).strip() for row in draws]


def select_prompts(tokenizer, texts: Sequence[str], n: int, min_pieces: int, seed: int = 0, lang: str = "") -> list[str]:
    """`n` texts (a seeded draw, in corpus order) with at least `min_pieces` pieces; a one-line error
    when fewer exist."""
    texts = list(texts)
    lengths = [len(x) for x in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    pool = [i for i, n_pieces in enumerate(lengths) if n_pieces >= min_pieces]
    if len(pool) < n:
        raise ValueError(f"only {len(pool)} {lang + ' ' if lang else ''}texts have at least {min_pieces} pieces "
                         f"(prompt + continuation); ask for at most that many prompts or fewer tokens")
    pick = np.random.default_rng(seed).choice(len(pool), n, replace=False)
    return [texts[pool[i]] for i in sorted(pick)]


def reference_continuations(tokenizer, texts: Sequence[str], prompt_tokens: int, new_tokens: int) -> list[str]:
    """What the human text itself says after its first `prompt_tokens` pieces: its next `new_tokens`
    pieces, decoded (the reference a generated continuation is compared with)."""
    pieces = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [tokenizer.decode(p[prompt_tokens:prompt_tokens + new_tokens], skip_special_tokens=True).strip()
            for p in pieces]


def heldout_rows(tokenizer, texts: Sequence[str], lang: str, n: int, max_len: int = 128, seed: int = 0) -> torch.Tensor:
    """`n` packed `<s> <lang> paragraph </s>` rows of `max_len` tokens of `texts`, a seeded draw (in
    corpus order) over all of them, so they come from many pages (held-out text for
    `row_log_perplexity`); a one-line error when the texts give fewer."""
    from ...pretrain import language_tag_ids, pack_sequences

    rows = pack_sequences(tokenizer, list(texts), max_len, (language_tag_ids(tokenizer, [lang])[lang],))
    if len(rows) < n:
        raise ValueError(f"the {lang} texts give {len(rows)} rows of {max_len} tokens, fewer than {n}; ask for fewer rows")
    pick = np.sort(np.random.default_rng([seed, 71]).choice(len(rows), n, replace=False))
    return torch.from_numpy(np.array(rows[pick]))


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


def continue_texts(model, tokenizer, prompts: Sequence[str], lang: str, max_new_tokens: int = 32, sample: bool = False,
                   seed: int = 0, temperature: float = 1.0, prompt_tokens: int = 8, full_length: bool = True) -> list[str]:
    """Continuations (only the new text) of `prompts` cut to their first `prompt_tokens` pieces and
    started as `<s> <lang> ...` like the decoder's training rows (`prompt_ids`), all in one batch;
    greedy, or sampled at `temperature` (the whole distribution: no top-k, no top-p) with torch seed
    `seed`. `full_length`: `</s>` is not allowed before `max_new_tokens` pieces (help paragraphs are
    short; a decoder that ends after three pieces leaves nothing a language identifier can judge)."""
    return continue_by_language(model, tokenizer, {lang: prompts}, max_new_tokens, sample, seed, temperature,
                                prompt_tokens, full_length)[lang]


@torch.inference_mode()
def continue_by_language(model, tokenizer, prompts: Mapping[str, Sequence[str]], max_new_tokens: int = 32,
                         sample: bool = False, seed: int = 0, temperature: float = 1.0, prompt_tokens: int = 8,
                         full_length: bool = True) -> dict[str, list[str]]:
    """`continue_texts` for every language's prompts in one batch (all prompts have 2 + `prompt_tokens`
    tokens, so no padding): {lang: continuations}. One generation call instead of one per language."""
    ids = {lang: prompt_ids(tokenizer, p, lang, prompt_tokens) for lang, p in prompts.items()}
    batch = torch.cat(list(ids.values()))
    torch.manual_seed(seed)
    kw = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if sample else {"do_sample": False}
    if full_length:
        kw["min_new_tokens"] = max_new_tokens
    gen = model.generate(batch, attention_mask=torch.ones_like(batch), max_new_tokens=max_new_tokens,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **kw)
    texts = [tokenizer.decode(row[batch.shape[1]:], skip_special_tokens=True).strip() for row in gen]
    out, start = {}, 0
    for lang, x in ids.items():
        out[lang], start = texts[start:start + len(x)], start + len(x)
    return out


def clm_perplexity(model, ids: torch.Tensor) -> float:
    """exp(mean next-token cross-entropy) of full rows `ids` (no padding)."""
    with torch.inference_mode():
        logits = model(input_ids=ids).logits
        return float(torch.exp(F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten())))
