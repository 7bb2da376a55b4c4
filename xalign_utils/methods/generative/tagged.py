"""The decoder read as a sentence encoder the way it was trained (`<s> <xx> pieces`, mean-pooled over
the text's own pieces), and View I alignment at every hidden state (`layer_alignment`).

Part of `xalign_utils.methods.generative` (notebook 06_generative).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from ...models import Encoder, PerLanguage, body

__all__ = ['tagged_rows', 'TaggedDecoder', 'tagged', 'LayerAlignment', 'layer_alignment']


def tagged_rows(tokenizer, texts: Sequence[str], langs: str | Sequence[str], max_len: int = 128
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each text as the decoder's training rows start, `<s> <xx> pieces` (at most `max_len` tokens),
    right-padded: (ids, attention mask, pool mask), the pool mask marking the text's own pieces only."""
    from ...pretrain import language_tag_ids

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
        from ...pretrain import language_tag_ids

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
    from ... import metrics
    from ...evaluate import fit_centring, retrieval_hits

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
