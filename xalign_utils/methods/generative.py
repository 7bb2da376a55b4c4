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
- `continue_texts` / `continue_by_language`: greedy or sampled continuations of prompts that start
  with a language tag (one language, or every language in one batch).
- `TaggedDecoder` / `tagged`: the decoder read as a sentence encoder the way it was trained: each
  text as `<s> <xx> pieces`, hidden states mean-pooled over the text's own pieces (not `<s>`, not
  the tag); one per language in a `models.PerLanguage`, so every shared measure takes it.
  `TaggedPairBatches` feeds AFP exactly these rows, so the loss and the measures read the same states.
- `layer_alignment`: weak P@1 (raw and inductively centred) and strong mAP at every hidden state,
  with per-item outcomes for paired intervals; `lens_shares`, `correct_language`,
  `reference_continuations`, `heldout_rows`: the logit-lens, output-language and perplexity measures.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..models import Encoder, PerLanguage, body

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


# ---------------------------------------------------------------- the decoder as a sentence encoder
def tagged_rows(tokenizer, texts: Sequence[str], langs: str | Sequence[str], max_len: int = 128
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each text as the decoder's training rows start, `<s> <xx> pieces` (at most `max_len` tokens),
    right-padded: (ids, attention mask, pool mask), the pool mask marking the text's own pieces only."""
    from ..pretrain import language_tag_ids

    texts = list(texts)
    langs = [langs] * len(texts) if isinstance(langs, str) else list(langs)
    if len(langs) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(langs)} languages")
    if max_len < 3:
        raise ValueError(f"max_len must be at least 3 (<s>, the tag and one piece); got {max_len}")
    tags = language_tag_ids(tokenizer, sorted(set(langs)))
    pieces = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    rows = [[tokenizer.bos_token_id, tags[lang]] + p[: max_len - 2] for p, lang in zip(pieces, langs)]
    width = max((len(r) for r in rows), default=2)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    pool = mask.clone()
    pool[:, :2] = 0
    return ids, mask, pool


class TaggedDecoder(Encoder):
    """A decoder `Encoder` that reads every text as `<s> <lang> text` (as it was trained) and
    mean-pools each hidden state over the text's own pieces: `encode(texts, layer=, pooling="mean")`.
    HF Llama's last hidden state has passed the final RMSNorm, the others have not; `normed=True`
    sends every hidden state through that norm first (a robustness view of the layer comparison)."""

    def __init__(self, encoder: Encoder, lang: str, normed: bool = False):
        from ..pretrain import language_tag_ids

        language_tag_ids(encoder.tokenizer, [lang])  # a one-line error for a tokenizer without the tag
        super().__init__(encoder.model, encoder.tokenizer, name=f"{encoder.name} <{lang}>")
        self.lang, self.normed = lang, normed

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], layer: int | str = -1, pooling: str = "mean",
               batch_size: int = 128) -> np.ndarray:
        if pooling != "mean":
            raise ValueError(f"a tagged decoder mean-pools the text's pieces; pooling {pooling!r} is not offered")
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts; wrap a single text in a list")
        texts = list(texts)
        if not texts:
            raise ValueError("encode() got no texts")
        layers = None if layer == "all" else self.layer_index(layer)
        lengths = [len(x) for x in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        order = np.argsort(lengths, kind="stable")
        was_training = self.model.training
        self.model.eval()
        out = None
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            ids, mask, pool = tagged_rows(self.tokenizer, [texts[i] for i in idx], self.lang, self.max_length)
            hidden = body(self.model)(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            if self.normed:  # every state through the final norm, as the last one already is in HF Llama
                hidden = [body(self.model).norm(h) for h in hidden[:-1]] + [hidden[-1]]
            hs = torch.stack(hidden) if layers is None else hidden[layers].unsqueeze(0)
            m = pool.unsqueeze(0).unsqueeze(-1).to(hs.dtype)
            pooled = ((hs * m).sum(2) / m.sum(2).clamp(min=1.0)).float().numpy()
            if out is None:
                out = np.empty((pooled.shape[0], len(texts), pooled.shape[2]), dtype=np.float32)
            out[:, idx] = pooled
        self.model.train(was_training)
        return out if layers is None else out[0]


def tagged(encoder: Encoder, langs: Sequence[str], normed: bool = False) -> PerLanguage:
    """The decoder as one `TaggedDecoder` per language (one model, each language's tag), for
    `layer_alignment` and `harness.Harness.measure`."""
    return PerLanguage({lang: TaggedDecoder(encoder, lang, normed) for lang in langs}, name=encoder.name)


class LayerAlignment:
    """View I at every hidden state of one model, per-item outcomes for paired intervals:
    `hits[i]` / `centred[i]` / `csls[i]` are en->X retrieval hits (items x languages; raw cosine,
    inductively centred, CSLS), `ap[i]` strong alignment's AP per item, `lid[i]` the language-ID
    probe's per-item correctness; `bias[i]` strong alignment's same-language bias (a share, no items)."""

    MEASURES = ("weak P@1", "weak P@1 centred", "weak P@1 CSLS", "strong mAP", "LID probe")

    def __init__(self, layers, hits, centred, ap, csls=None, lid=None, bias=None):
        self.layers, self.hits, self.centred, self.ap = list(layers), hits, centred, ap
        self.csls, self.lid, self.bias = csls, lid, bias

    def outcome(self, measure: str, layer: int) -> np.ndarray:
        """Per-item outcome at hidden state `layer`: one of `MEASURES`."""
        i = self.layers.index(layer)
        if measure == "strong mAP":
            return np.asarray(self.ap[i])
        if measure == "LID probe" and self.lid is not None:
            return np.asarray(self.lid[i])
        frames = {"weak P@1": self.hits, "weak P@1 centred": self.centred, "weak P@1 CSLS": self.csls}
        if frames.get(measure) is None:
            raise ValueError(f"unknown measure {measure!r}; choose one of: {', '.join(self.MEASURES)}")
        return frames[measure][i].to_numpy().mean(1)

    def table(self) -> "pd.DataFrame":
        import pandas as pd

        out = pd.DataFrame({m: [float(self.outcome(m, l).mean()) for l in self.layers]
                            for m in self.MEASURES if m in ("weak P@1", "weak P@1 centred", "strong mAP")
                            or getattr(self, {"weak P@1 CSLS": "csls", "LID probe": "lid"}[m]) is not None},
                           index=pd.Index(self.layers, name="hidden state"))
        if self.bias is not None:
            out["same-language bias"] = self.bias
        return out


def layer_alignment(model: PerLanguage, texts: Mapping[str, Sequence[str]], n_fit: int = 100, seed: int = 0,
                    k: int = 10) -> LayerAlignment:
    """Weak P@1 en->X (raw cosine, CSLS, and raw cosine after language centring fitted on `n_fit`
    `pretrain` paragraphs per language: inductive), strong mAP with its same-language bias, and the
    language-ID probe at every hidden state, each language's parallel `texts` through its own encoder
    of `model` (e.g. `tagged(decoder, langs)`)."""
    from .. import metrics
    from ..evaluate import fit_centring, retrieval_hits

    langs = list(texts)
    embs = {lang: model[lang].encode(texts[lang], layer="all") for lang in langs}
    fits = {lang: fit_centring(model[lang], langs, "all", n_fit, seed, only=[lang]) for lang in langs}
    layers = list(range(next(iter(embs.values())).shape[0]))
    hits, centred, csls, ap, lid, bias = [], [], [], [], [], []
    for i in layers:
        e = {lang: x[i] for lang, x in embs.items()}
        hits.append(retrieval_hits(e, k=k))
        csls.append(retrieval_hits(e, scoring="csls", k=k))
        centred.append(retrieval_hits({lang: fits[lang][i].transform({lang: x})[lang] for lang, x in e.items()}, k=k))
        strong = metrics.strong_alignment(e, per_item=True)
        ap.append(strong["ap_per_item"])
        bias.append(strong["same_language_bias"])
        lid.append(metrics.language_id_probe(e, seed, per_item=True)[1])
    return LayerAlignment(layers, hits, centred, ap, csls, lid, bias)


# ---------------------------------------------------------------- alignment at a chosen layer
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
        from .contrastive import info_nce

        a = layer_states(model, batch["a_ids"], batch["a_mask"], self.layer, batch.get("a_pool"))
        b = layer_states(model, batch["b_ids"], batch["b_mask"], self.layer, batch.get("b_pool"))
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


def letters(text: str) -> int:
    """How many letters a text has (any script)."""
    return sum(c.isalpha() for c in text)


def correct_language(lid: LanguageID, texts: Sequence[str], lang: str, min_letters: int = 10) -> np.ndarray:
    """Per text: 1.0 if it has at least `min_letters` letters (enough for the identifier to judge)
    and is identified as `lang`, else 0.0; the per-item outcome of a correct-language rate (a
    fragment too short to judge counts as not shown to be in the right language)."""
    ok = np.array([letters(t) >= min_letters for t in texts], dtype=float)
    return ok * lid.rate(texts, lang)


SCRIPT_LETTERS = {"Latin": ("LATIN",), "Cyrillic": ("CYRILLIC",), "Han": ("CJK",), "Devanagari": ("DEVANAGARI",),
                  "Japanese": ("CJK", "HIRAGANA", "KATAKANA"), "Hangul": ("HANGUL",), "Arabic": ("ARABIC",)}


def other_script_share(texts: Sequence[str], lang: str) -> np.ndarray:
    """Per text: the share of its letters that are not in `lang`'s script (0 for a text without
    letters). No identifier involved: a switch between two languages of one script is invisible to
    it, a switch of script is not (help text legitimately quotes Latin product names in every script,
    so the human text's own share is the reference)."""
    import unicodedata

    from ..languages import LANGUAGES

    prefixes = SCRIPT_LETTERS.get(LANGUAGES[lang].script)
    if prefixes is None:
        raise ValueError(f"no letter table for the {LANGUAGES[lang].script} script of {lang!r}; add it to SCRIPT_LETTERS")
    out = []
    for t in texts:
        chars = [c for c in t if c.isalpha()]
        other = sum(not unicodedata.name(c, "").startswith(prefixes) for c in chars)
        out.append(other / len(chars) if chars else 0.0)
    return np.array(out)


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
    from ..pretrain import language_tag_ids, pack_sequences

    rows = pack_sequences(tokenizer, list(texts), max_len, (language_tag_ids(tokenizer, [lang])[lang],))
    if len(rows) < n:
        raise ValueError(f"the {lang} texts give {len(rows)} rows of {max_len} tokens, fewer than {n}; ask for fewer rows")
    pick = np.sort(np.random.default_rng([seed, 71]).choice(len(rows), n, replace=False))
    return torch.from_numpy(np.array(rows[pick]))


# ---------------------------------------------------------------- AFP-style training
class TaggedPairBatches:
    """batch_fn(step): `contrastive.SentencePairBatches`' pairs of distinct English paragraphs and a
    translation of each (the same draw), both sides as `tagged_rows` (`<s> <en> ...`, `<s> <xx> ...`)
    with pool masks over the text's own pieces: keys a_ids, a_mask, a_pool, b_ids, b_mask, b_pool, ids."""

    def __init__(self, tokenizer, pairs, batch_size: int = 16, max_len: int = 128, seed: int = 0):
        from .contrastive import SentencePairBatches

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
        from ..pretrain import language_tag_ids, pack_sequences

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
        from ..pretrain import clm_loss

        lm = clm_loss(model, {"input_ids": batch["lm_ids"]})
        return lm if self.align.weight == 0 else lm + self.align(model, batch)


def train_afp(encoder, pairs, lm_texts: Mapping[str, Sequence[str]], layer: int, weight: float, steps: int,
              batch_size: int = 16, lm_batch: int = 8, lr: float = 1e-3, seed: int = 0, tau: float = 0.05,
              desc: str | None = None):
    """A copy of the decoder `encoder` trained `steps` steps on `AFPLoss(layer, weight)` (weight 0: the
    LM loss alone, the control of continued training); returns (Encoder, loss per step)."""
    from ..train import fit_copy

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive; got {steps} and {batch_size}")
    layer_ix = encoder.layer_index(layer)
    batches = AFPBatches(encoder.tokenizer, pairs, lm_texts, batch_size, lm_batch, min(encoder.max_length, 128), seed)
    return fit_copy(encoder, AFPLoss(layer_ix, weight, tau), batches, steps, lr=lr, seed=seed,
                    desc=desc or f"AFP layer {layer_ix}, weight {weight:g}",
                    name=f"{encoder.name} + AFP(layer {layer_ix}, {weight:g})")


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


# ---------------------------------------------------------------- everything measured on one decoder
DECODER_MEASURES = ("weak P@1", "weak P@1 centred", "weak P@1 CSLS", "strong mAP", "LID probe", "correct language", "correct language (greedy)",
                    "correct language (sampled)", "other script", "distinct 3-grams", "log perplexity")


class DecoderEval:
    """All measures of one decoder (`measure_decoder`): View I at every hidden state (`alignment`),
    continuations and their correct-language outcomes per language (greedy and sampled), and each
    held-out row's log perplexity per language. `outcome(measure, layer)` gives per-item outcomes for
    paired intervals; "correct language", "other script" (`other_script_share`) and "distinct 3-grams"
    (`distinct_ngrams`) are each prompt's mean over its greedy and sampled continuation."""

    def __init__(self, name, alignment, greedy, sampled, correct_greedy, correct_sampled, log_ppl,
                 other_script=None, distinct=None):
        self.name, self.alignment = name, alignment
        self.greedy, self.sampled = greedy, sampled
        self.correct_greedy, self.correct_sampled, self.log_ppl = correct_greedy, correct_sampled, log_ppl
        self.other_script, self.distinct = other_script or {}, distinct or {}

    def outcome(self, measure: str, layer: int | None = None) -> np.ndarray:
        if measure not in DECODER_MEASURES:
            raise ValueError(f"unknown measure {measure!r}; choose one of: {', '.join(DECODER_MEASURES)}")
        if measure in LayerAlignment.MEASURES:
            if layer is None:
                raise ValueError(f"{measure} is measured at every hidden state; pass layer=")
            return self.alignment.outcome(measure, layer)
        langs = list(self.correct_greedy)
        if measure == "log perplexity":
            return np.concatenate([self.log_ppl[lang] for lang in langs])
        if measure in ("other script", "distinct 3-grams"):
            table = self.other_script if measure == "other script" else self.distinct
            if not table:
                raise ValueError(f"{self.name} was measured without {measure}")
            return np.concatenate([table[lang] for lang in langs])
        g = np.concatenate([self.correct_greedy[lang] for lang in langs])
        s = np.concatenate([self.correct_sampled[lang] for lang in langs])
        return {"correct language": (g + s) / 2, "correct language (greedy)": g, "correct language (sampled)": s}[measure]

    def per_language(self) -> "pd.DataFrame":
        """Correct-language rate (greedy, sampled) and held-out perplexity per language."""
        import pandas as pd

        return pd.DataFrame({lang: {"correct language (greedy)": float(self.correct_greedy[lang].mean()),
                                    "correct language (sampled)": float(self.correct_sampled[lang].mean()),
                                    **({"other script": float(self.other_script[lang].mean())} if self.other_script else {}),
                                    **({"distinct 3-grams": float(self.distinct[lang].mean())} if self.distinct else {}),
                                    "perplexity": float(np.exp(self.log_ppl[lang].mean()))}
                             for lang in self.correct_greedy}).T

    def tidy(self) -> "pd.DataFrame":
        """Rows (src, tgt, layer, measure, value, n) for `record.record_results`: en->X weak P@1 (raw,
        centred) and strong mAP at every hidden state; per language the correct-language rates and the
        held-out perplexity (layer -1: the model's output)."""
        import pandas as pd

        rows = []
        a = self.alignment
        for i, layer in enumerate(a.layers):
            for measure, frames in (("p_at_1_cosine", a.hits), ("p_at_1_centred", a.centred)):
                for tgt in frames[i].columns:
                    rows.append(("en", tgt, layer, measure, float(frames[i][tgt].mean()), len(frames[i])))
            rows.append(("all", "all", layer, "strong_map", float(np.mean(a.ap[i])), len(a.ap[i])))
            if a.csls is not None:
                rows += [("en", tgt, layer, "p_at_1_csls", float(a.csls[i][tgt].mean()), len(a.csls[i])) for tgt in a.csls[i]]
            if a.lid is not None:
                rows.append(("all", "all", layer, "lid_probe", float(np.mean(a.lid[i])), len(a.lid[i])))
            if a.bias is not None:
                rows.append(("all", "all", layer, "same_language_bias", float(a.bias[i]), len(a.ap[i])))
        for lang, table in self.per_language().iterrows():
            for measure, value in (("correct_language_greedy", table["correct language (greedy)"]),
                                   ("correct_language_sampled", table["correct language (sampled)"]),
                                   ("other_script_share", table.get("other script", np.nan)),
                                   ("distinct_3grams", table.get("distinct 3-grams", np.nan)),
                                   ("perplexity", table["perplexity"])):
                if np.isnan(value):
                    continue
                n = len(self.log_ppl[lang]) if measure == "perplexity" else len(self.correct_greedy[lang])
                rows.append((lang, lang, -1, measure, float(value), n))
        return pd.DataFrame(rows, columns=["src", "tgt", "layer", "measure", "value", "n"])

    def item_outcomes(self) -> dict[str, dict[str, np.ndarray]]:
        """Per-item outcomes behind `tidy()`'s rows (measure -> column -> float64 array), for
        `record.record_results`. Measure names are the tidy names; each array's mean is one tidy row's
        value (up to float64 summation order), except `log_perplexity`:

        - View I at every hidden state L: `p_at_1_cosine`, `p_at_1_centred`, `p_at_1_csls` with columns
          f"{lang}@{L}" (non-English target language; per parallel text, the expected en->X hit),
          `strong_map` and `lid_probe` with columns f"all@{L}" (per-item AP; per test item 0/1). Pass
          the columns of one layer to compare variants at that layer (pooling every column pools layers);
        - per language (column = the language, layer -1 in the tidy rows), one value per prompt:
          `correct_language_greedy`, `correct_language_sampled` (0/1), `other_script_share`,
          `distinct_3grams` (each prompt's mean over its greedy and sampled continuation);
        - `log_perplexity`: per language, each held-out row's log perplexity; the tidy `perplexity` is
          exp of its mean, not its mean (hence the other name).

        Not stored: `same_language_bias` (a share, no items)."""
        a = self.alignment
        out: dict[str, dict[str, np.ndarray]] = {}
        for i, layer in enumerate(a.layers):
            for measure, frames in (("p_at_1_cosine", a.hits), ("p_at_1_centred", a.centred), ("p_at_1_csls", a.csls)):
                if frames is not None:
                    out.setdefault(measure, {}).update({f"{tgt}@{layer}": frames[i][tgt].to_numpy(dtype=np.float64)
                                                        for tgt in frames[i].columns})
            out.setdefault("strong_map", {})[f"all@{layer}"] = np.asarray(a.ap[i], dtype=np.float64)
            if a.lid is not None:
                out.setdefault("lid_probe", {})[f"all@{layer}"] = np.asarray(a.lid[i], dtype=np.float64)
        for measure, table in (("correct_language_greedy", self.correct_greedy), ("correct_language_sampled", self.correct_sampled),
                               ("other_script_share", self.other_script), ("distinct_3grams", self.distinct),
                               ("log_perplexity", self.log_ppl)):
            if table:
                out[measure] = {lang: np.asarray(v, dtype=np.float64) for lang, v in table.items()}
        return out


def measure_decoder(encoder: Encoder, texts: Mapping[str, Sequence[str]], prompts: Mapping[str, Sequence[str]],
                    heldout: Mapping[str, torch.Tensor], lid: LanguageID, n_fit: int = 100, seed: int = 0,
                    new_tokens: int = 24, prompt_tokens: int = 8, temperature: float = 1.0, min_letters: int = 10,
                    name: str | None = None) -> DecoderEval:
    """`layer_alignment` of the tagged decoder on parallel `texts`; greedy and sampled (torch seed
    `seed`) continuations of each language's `prompts` with their correct-language outcomes
    (`correct_language`); the log perplexity of each `heldout` row."""
    model = encoder.model.eval()
    alignment = layer_alignment(tagged(encoder, list(texts)), texts, n_fit, seed)
    greedy = continue_by_language(model, encoder.tokenizer, prompts, new_tokens, prompt_tokens=prompt_tokens)
    sampled = continue_by_language(model, encoder.tokenizer, prompts, new_tokens, sample=True, seed=seed,
                                   temperature=temperature, prompt_tokens=prompt_tokens)
    ok_g = {lang: correct_language(lid, greedy[lang], lang, min_letters) for lang in prompts}
    ok_s = {lang: correct_language(lid, sampled[lang], lang, min_letters) for lang in prompts}
    script = {lang: (other_script_share(greedy[lang], lang) + other_script_share(sampled[lang], lang)) / 2
              for lang in prompts}
    distinct = {lang: (distinct_ngrams(encoder.tokenizer, greedy[lang]) + distinct_ngrams(encoder.tokenizer, sampled[lang])) / 2
                for lang in prompts}
    log_ppl = {lang: row_log_perplexity(model, rows) for lang, rows in heldout.items()}
    return DecoderEval(name or encoder.name, alignment, greedy, sampled, ok_g, ok_s, log_ppl, script, distinct)
