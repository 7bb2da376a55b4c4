"""View II: zero-shot cross-lingual transfer of a UPOS tagger (train on English, test everywhere).

Introduced in notebook 00_measuring_alignment. The head reads the first sub-word of each word.
With `finetune=False` the encoder is frozen and the head is a multinomial logistic regression on
its features; with `finetune=True` encoder and linear head are trained together (train_loop).
The vendored data has no EWT train file, so the head is trained on English-EWT **dev** and tested
on EWT test (in-domain English) and on each language's PUD treebank (parallel news/wiki text).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from . import data
from .languages import check_languages
from .models import _encoder

UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
        "PUNCT", "SCONJ", "SYM", "VERB", "X"]


def _word_batch(tokenizer, sentences, max_length: int):
    enc = tokenizer([list(s.words) for s in sentences], is_split_into_words=True, truncation=True,
                    max_length=max_length, padding=True, return_tensors="pt")
    firsts = []  # (row, token position, word index) of each word's first sub-word
    for row in range(len(sentences)):
        seen = set()
        for pos, w in enumerate(enc.word_ids(row)):
            if w is not None and w not in seen:
                seen.add(w)
                firsts.append((row, pos, w))
    return enc, firsts


@torch.inference_mode()
def word_features(model, tokenizer, sentences: Sequence[data.Sentence], layer: int = -1,
                  batch_size: int = 64) -> tuple[np.ndarray, np.ndarray, int]:
    """First-sub-word features of every word: (features (n_words, d), UPOS ids, words dropped by truncation)."""
    enc_model = _encoder(model)
    max_length = getattr(model.config, "max_position_embeddings", 514) - 2
    feats, tags, dropped = [], [], 0
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i].words))  # less padding
    sentences = [sentences[i] for i in order]  # word order inside the output follows this order
    for start in range(0, len(sentences), batch_size):
        batch = sentences[start:start + batch_size]
        enc, firsts = _word_batch(tokenizer, batch, max_length)
        hidden = enc_model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                           output_hidden_states=True).hidden_states[layer]
        rows, pos, words = map(np.array, zip(*firsts))
        feats.append(hidden[rows, pos].float().numpy())
        tags.extend(UPOS.index(batch[r].upos[w]) for r, w in zip(rows, words))
        dropped += sum(len(s.words) for s in batch) - len(firsts)
    return np.concatenate(feats), np.array(tags), dropped


def _fit_frozen(x, y, seed, l2: float = 1e-4, iters: int = 100):
    """Multinomial logistic regression (standardised features, L-BFGS in torch; ~10x sklearn's speed here)."""
    torch.manual_seed(seed)
    mu, sd = x.mean(0), x.std(0) + 1e-6
    xt = torch.from_numpy((x - mu) / sd).float()
    yt = torch.from_numpy(y).long()
    head = torch.nn.Linear(x.shape[1], len(UPOS))
    opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(xt), yt) + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)

    @torch.no_grad()
    def predict(feats):
        return head(torch.from_numpy((feats - mu) / sd).float()).argmax(1).numpy()

    return predict


def _finetune(model, tokenizer, train_sents, seed, steps, lr, layer):
    """Fine-tune encoder + linear head on English; returns (model, head)."""
    import copy

    from .train import seed_everything, train_loop

    seed_everything(seed)
    model = copy.deepcopy(model)
    enc_model = _encoder(model)
    head = torch.nn.Linear(model.config.hidden_size, len(UPOS))
    max_length = model.config.max_position_embeddings - 2
    rng = np.random.default_rng(seed)

    def batch_fn(step):
        idx = rng.integers(0, len(train_sents), 32)
        enc, firsts = _word_batch(tokenizer, [train_sents[i] for i in idx], max_length)
        rows, pos, words = map(np.array, zip(*firsts))
        y = torch.tensor([UPOS.index(train_sents[idx[r]].upos[w]) for r, w in zip(rows, words)])
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"],
                "rows": torch.from_numpy(rows), "pos": torch.from_numpy(pos), "y": y}

    class Tagger(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc, self.head = enc_model, head

        def forward(self, b):
            h = self.enc(input_ids=b["input_ids"], attention_mask=b["attention_mask"],
                         output_hidden_states=True).hidden_states[layer]
            return self.head(h[b["rows"], b["pos"]])

    tagger = Tagger()
    train_loop(tagger, lambda m, b: torch.nn.functional.cross_entropy(m(b), b["y"]), batch_fn, steps, lr=lr,
               warmup=steps // 10, desc="fine-tune POS")
    return model, head


def pos_features(model, tokenizer, test_langs: Sequence[str], layer: int = -1,
                 max_train_sentences: int | None = None,
                 max_test_sentences: int | None = None) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Frozen first-sub-word features for the English training set ('train') and every test treebank
    (the first `max_test_sentences` sentences of each; PUD sentences are parallel, so the same ones)."""
    test_langs = check_languages(test_langs, "pud")
    sets = {"train": data.conllu("en_ewt", "dev")[:max_train_sentences],
            "en_ewt": data.conllu("en_ewt", "test")[:max_test_sentences]}
    sets.update({f"{lang}_pud": data.conllu(f"{lang}_pud")[:max_test_sentences] for lang in test_langs})
    return {name: word_features(model, tokenizer, sents, layer) for name, sents in sets.items()}


def _with_gap(rows: list[dict]) -> pd.DataFrame:
    """Rows as a table plus the transfer gap: English-PUD accuracy minus each row's accuracy."""
    table = pd.DataFrame(rows)
    en = table.loc[table.treebank == "en_pud", "accuracy"]
    table["gap"] = (float(en.iloc[0]) - table["accuracy"]) if len(en) else np.nan
    return table


def pos_accuracy(features: dict, seed: int = 0, transform=None) -> pd.DataFrame:
    """Train the UPOS head on features['train'] and score every other treebank.

    `transform(lang, feats) -> feats` (optional) is applied to every set first, e.g. per-language
    centring; the training set is English.
    """
    def tf(name, x):
        return x if transform is None else transform("en" if name in ("train", "en_ewt") else name.split("_")[0], x)

    x, y, _ = features["train"]
    classify = _fit_frozen(tf("train", x), y, seed)
    majority_tag = Counter(y.tolist()).most_common(1)[0][0]
    rows = []
    for name, (feats, gold, dropped) in features.items():
        if name == "train":
            continue
        n_words = len(gold) + dropped
        acc = float((classify(tf(name, feats)) == gold).sum() / n_words)  # truncated words count as errors
        rows.append({"lang": "en" if name == "en_ewt" else name.split("_")[0], "treebank": name, "words": n_words,
                     "accuracy": acc, "majority": float((gold == majority_tag).sum() / n_words),
                     "truncated_words": dropped})
    return _with_gap(rows)


def zero_shot_pos(model, tokenizer, train: str = "en_ewt", test_langs: Sequence[str] = ("en",), seed: int = 0,
                  layer: int = -1, finetune: bool = False, steps: int = 300, lr: float = 5e-4,
                  max_train_sentences: int | None = None, max_test_sentences: int | None = None) -> pd.DataFrame:
    """Accuracy of an English-trained UPOS tagger per language (PUD), with controls and the transfer gap.

    Columns: lang, treebank, words, accuracy, majority (always predicting the most frequent English
    training tag), gap (English-PUD accuracy minus this language's), truncated_words. `en_ewt` test
    is reported as treebank 'en_ewt' (in-domain English).
    """
    if train != "en_ewt":
        raise ValueError("only train='en_ewt' (its dev file) is vendored")
    test_langs = check_languages(test_langs, "pud")
    if not finetune:
        return pos_accuracy(pos_features(model, tokenizer, test_langs, layer, max_train_sentences,
                                         max_test_sentences), seed)
    train_sents = data.conllu("en_ewt", "dev")[:max_train_sentences]
    model, head = _finetune(model, tokenizer, train_sents, seed, steps, lr, layer)
    features = pos_features(model, tokenizer, test_langs, layer, max_train_sentences, max_test_sentences)
    rows = []
    for name, (feats, gold, dropped) in features.items():
        if name == "train":
            continue
        with torch.no_grad():
            pred = head(torch.from_numpy(feats)).argmax(1).numpy()
        n_words = len(gold) + dropped
        rows.append({"lang": "en" if name == "en_ewt" else name.split("_")[0], "treebank": name, "words": n_words,
                     "accuracy": float((pred == gold).sum() / n_words), "truncated_words": dropped})
    return _with_gap(rows)
