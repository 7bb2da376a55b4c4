"""View II: zero-shot cross-lingual transfer (train a head on English, test it on every language).

Introduced in notebook 00_measuring_alignment. Two tasks:

- **UPOS tagging** (`zero_shot_pos`): train on English-EWT dev (no EWT train file is vendored), test
  on EWT test and each language's PUD treebank (parallel news/wiki sentences; out of the help
  domain). The feature of a word is the hidden state of its first piece **that is not a bare "▁"**:
  the tokenizer puts "▁" before every pre-split word, and where the vocabulary has no "▁"+character
  piece (most Chinese words, half the Hindi ones) the first piece is "▁" alone, which carries nothing
  about the word. `word_pooling="mean"` averages the word's content pieces instead.
- **Help-application classification** (`zero_shot_classification`): which of 8 LibreOffice
  applications a help paragraph documents (from its page key, `text/scalc/...`; `text/shared` pages
  carry no label). Trained on English paragraphs of non-eval pages, tested unchanged on the eval
  items of every language: the same items in every language, so the transfer gap is per item. In
  domain for the help-trained models.

Both return a `TransferResult`: a tidy table per language (accuracy, macro-F1, majority baseline,
transfer gap) and per-item outcomes (`items`, one row per test item, one column per language) for
`metrics.paired_bootstrap`. Frozen encoders throughout: the head is a multinomial logistic regression.
Every head's accuracy is read off its class probabilities with ties (`metrics.tie_levels`, scale 1)
scored by their expectation, so a collapsed encoder gets 1/K on every machine.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import data
from .languages import check_languages
from .metrics import best_index, expected_hits, informative_dims
from .models import Encoder, body

UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN",
        "PUNCT", "SCONJ", "SYM", "VERB", "X"]
WORD_POOLINGS = ("first", "mean")
# Product names, often left untranslated; `mask_names=True` removes them from every text.
APPLICATION_NAMES = re.compile(r"\b(?:Calc|Writer|Impress|Draw|Math|Base|Basic|BASIC|StarBasic|Chart)\b")


@dataclass
class TransferResult:
    """`table`: one row per test set (lang, accuracy, macro_f1, majority, n, gap); `items`: per-item
    outcomes (rows: test items, columns: languages; for POS, rows are PUD sentences, each the number
    of its correctly tagged words scaled so that the column mean is the word accuracy), and the same
    for the majority-class baseline (`majority_items`)."""

    table: pd.DataFrame
    items: pd.DataFrame
    majority_items: pd.DataFrame  # the majority-class baseline's per-item outcomes, same shape as `items`

    def accuracy(self, lang: str) -> float:
        return float(self.table.set_index("lang").loc[lang, "accuracy"])


def _with_gap(table: pd.DataFrame, reference: str = "en") -> pd.DataFrame:
    """Add the transfer gap: the reference (English) row's accuracy minus each row's accuracy."""
    ref = table.loc[table.lang == reference, "accuracy"]
    table["gap"] = (float(ref.iloc[0]) - table["accuracy"]) if len(ref) else np.nan
    return table


def macro_f1(gold: np.ndarray, pred: np.ndarray) -> float:
    """Unweighted mean of per-class F1 over every class that occurs in `gold` or in `pred` (scikit-learn's
    default), so predicting a class that has no test items is penalised."""
    from sklearn.metrics import f1_score

    return float(f1_score(gold, pred, average="macro", zero_division=0))


def expected_correct(proba: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Per item, the probability that the predicted class is `gold` when ties among the top class
    probabilities are broken at random (a model with no information, whose probabilities are all
    equal, gets 1/K). Ties: `metrics.tie_levels` at scale 1 (probabilities lie in [0, 1])."""
    return expected_hits(proba, gold, 1.0)


def predicted(proba: np.ndarray) -> np.ndarray:
    """One predicted class per item (for macro-F1): the first of the tied top classes, so rounding
    never picks among them."""
    return best_index(proba, 1.0)


def softmax(logits) -> np.ndarray:
    """Class probabilities (float64) from a head's logits: what the ties are judged on."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)


# ---------------------------------------------------------------- POS

def _space_id(tokenizer) -> int | None:
    sid = tokenizer.convert_tokens_to_ids("▁")
    return None if sid is None or sid == tokenizer.unk_token_id else sid


def word_positions(enc, row: int, space_id: int | None) -> dict[int, list[int]]:
    """{word index: token positions of its content pieces} of one encoded row (a bare "▁" is not content)."""
    ids = enc["input_ids"][row]
    ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
    out: dict[int, list[int]] = {}
    for pos, w in enumerate(enc.word_ids(row)):
        if w is None:
            continue
        out.setdefault(w, [])
        if ids[pos] != space_id:
            out[w].append(pos)
    for w, positions in out.items():  # a word that is only "▁" (cannot happen for non-empty words) keeps it
        if not positions:
            out[w] = [pos for pos, x in enumerate(enc.word_ids(row)) if x == w][:1]
    return out


def word_states(encoder: Encoder, word_lists: Sequence[Sequence[str]], layer: int, batch_size: int = 64,
                order: Sequence[int] | None = None):
    """Encode pre-split sentences in batches (in `order`, default as given) and yield, per sentence,
    (its index, {word index: positions of its content pieces}, its hidden states at `layer`). Words cut
    off by truncation are missing from the positions. Call it under `torch.inference_mode()`."""
    layer = encoder.layer_index(layer)
    tok, enc_model = encoder.tokenizer, body(encoder.model)
    space_id = _space_id(tok)
    order = list(range(len(word_lists)) if order is None else order)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        enc = tok([list(word_lists[i]) for i in idx], is_split_into_words=True, truncation=True,
                  max_length=encoder.max_length, padding=True, return_tensors="pt")
        hidden = enc_model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                           output_hidden_states=True).hidden_states[layer]
        for row, i in enumerate(idx):
            yield i, word_positions(enc, row, space_id), hidden[row]


@torch.inference_mode()
def word_features(encoder: Encoder, sentences: Sequence[data.Sentence], layer: int = -1,
                  word_pooling: str = "first", batch_size: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Features of every word: (features (n_words, d), UPOS ids, sentence index of each word, words
    dropped by truncation). `word_pooling`: "first" content piece or "mean" over content pieces."""
    if word_pooling not in WORD_POOLINGS:
        raise ValueError(f"unknown word_pooling {word_pooling!r}; use one of: {', '.join(WORD_POOLINGS)}")
    feats, tags, sent_of, dropped = [], [], [], 0
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i].words))  # less padding
    for i, positions, hidden in word_states(encoder, [s.words for s in sentences], layer, batch_size, order):
        s = sentences[i]
        for w in sorted(positions):
            p = positions[w]
            vec = hidden[p[0]] if word_pooling == "first" else hidden[p].mean(0)
            feats.append(vec.float().numpy())
            tags.append(UPOS.index(s.upos[w]))
            sent_of.append(i)
        dropped += len(s.words) - len(positions)
    return np.stack(feats), np.array(tags), np.array(sent_of), dropped


def _informative(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mask of dimensions that vary beyond rounding noise, their mean, their standard deviation)."""
    mu, sd = x.mean(0), x.std(0)
    return informative_dims(x), mu, sd


def _fit_logistic(x, y, n_classes: int, seed: int, l2: float = 1e-4, iters: int = 100, balanced: bool = False):
    """Multinomial logistic regression on standardised features (L-BFGS in torch; ~10x sklearn's speed
    on the POS sets). Starts from zero weights; dimensions without variance are dropped (a collapsed
    encoder leaves no input at all, and its scores tie). Returns `scores(feats)` -> class probabilities."""
    torch.manual_seed(seed)
    keep, mu, sd = _informative(x)
    xt = torch.from_numpy((x[:, keep] - mu[keep]) / sd[keep]).float()
    yt = torch.from_numpy(y).long()
    weight = None
    if balanced:
        counts = np.bincount(y, minlength=n_classes).astype(np.float64)
        weight = torch.tensor(np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)).float()
    head = torch.nn.Linear(int(keep.sum()), n_classes)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    if keep.any():
        opt = torch.optim.LBFGS(head.parameters(), lr=1.0, max_iter=iters, line_search_fn="strong_wolfe")

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(head(xt), yt, weight=weight) + l2 * head.weight.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)

    @torch.no_grad()
    def scores(feats):
        if not keep.any():  # no information: every class scores alike
            return np.full((len(feats), n_classes), 1 / n_classes)
        return softmax(head(torch.from_numpy((feats[:, keep] - mu[keep]) / sd[keep]).float()).numpy())

    return scores


def pos_features(encoder: Encoder, test_langs: Sequence[str], layer: int = -1, max_train_sentences: int | None = None,
                 max_test_sentences: int | None = None, word_pooling: str = "first") -> dict:
    """Frozen word features for the English training set ('train') and every test treebank (the first
    `max_test_sentences` sentences of each; PUD sentences are parallel, so the same ones)."""
    test_langs = check_languages(test_langs, "pud")
    sets = {"train": data.conllu("en_ewt", "dev")[:max_train_sentences],
            "en_ewt": data.conllu("en_ewt", "test")[:max_test_sentences]}
    sets.update({f"{lang}_pud": data.conllu(f"{lang}_pud")[:max_test_sentences] for lang in test_langs})
    return {name: (*word_features(encoder, sents, layer, word_pooling), len(sents)) for name, sents in sets.items()}


def pos_accuracy(features: dict, seed: int = 0, transform: Callable | None = None) -> TransferResult:
    """Train the UPOS head on features['train'] and score every other treebank.

    `transform(set_name, feats) -> feats` (optional) is applied to every set first, e.g. per-language
    centring; set names are 'train' (English), 'en_ewt' and '<lang>_pud'. Truncated words count as
    errors; ties among the head's top scores count as expected (1/number tied).
    """
    def lang_of(name):
        return "en" if name in ("train", "en_ewt") else name.split("_")[0]

    def tf(name, x):
        return x if transform is None else transform(name, x)

    x, y, _, _, _ = features["train"]
    score = _fit_logistic(tf("train", x), y, len(UPOS), seed)
    majority_tag = Counter(y.tolist()).most_common(1)[0][0]
    rows, items, majority_items = [], {}, {}
    for name, (feats, gold, sent_of, dropped, n_sents) in features.items():
        if name == "train":
            continue
        n_words = len(gold) + dropped
        s = score(tf(name, feats))
        correct = expected_correct(s, gold)
        pred = predicted(s)
        rows.append({"lang": "en_ewt" if name == "en_ewt" else lang_of(name), "treebank": name, "n": n_words,
                     "accuracy": float(correct.sum() / n_words), "macro_f1": macro_f1(gold, pred),
                     "majority": float((gold == majority_tag).sum() / n_words), "truncated_words": dropped})
        if name.endswith("_pud"):  # parallel sentences: per-sentence outcomes, scaled to word accuracy
            for store, hit in ((items, correct), (majority_items, gold == majority_tag)):
                store[lang_of(name)] = np.bincount(sent_of, weights=hit, minlength=n_sents) * n_sents / n_words
    return TransferResult(_with_gap(pd.DataFrame(rows)), pd.DataFrame(items), pd.DataFrame(majority_items))


def zero_shot_pos(encoder: Encoder, test_langs: Sequence[str] = ("en",), seed: int = 0, layer: int = -1,
                  max_train_sentences: int | None = None, max_test_sentences: int | None = None,
                  word_pooling: str = "first") -> TransferResult:
    """Accuracy of an English-trained UPOS tagger (frozen features) per language, with the majority
    tag and the transfer gap (English-PUD accuracy minus each language's). `en_ewt` (EWT test) is
    in-domain English and reported as lang 'en_ewt'."""
    return pos_accuracy(pos_features(encoder, test_langs, layer, max_train_sentences, max_test_sentences,
                                     word_pooling), seed)


# ---------------------------------------------------------------- help-application classification

def mask_application_names(text: str) -> str:
    """The text with the LibreOffice product names (Calc, Writer, ..., often untranslated) removed."""
    return " ".join(APPLICATION_NAMES.sub(" ", text).split())


def classification_data(langs: Sequence[str], max_train: int | None = 4000, seed: int = 0,
                        mask_names: bool = False) -> dict:
    """Training texts (English, `pretrain` + `parallel` pages, never eval pages) with application
    labels, and the labelled eval items (`data.eval_items(langs, "all")`) in every language of `langs`
    (the same items, row-aligned)."""
    langs = check_languages(langs, "lohelp")
    if "en" not in langs:
        raise ValueError("the classifier is trained on English; include 'en' in langs")
    labels = list(data.APPLICATIONS)
    train = [(t, data.application_of(k)) for split in ("pretrain", "parallel")
             for k, t in zip(*data.corpus("en", split)) if data.application_of(k)]
    if max_train is not None and len(train) > max_train:
        rng = np.random.default_rng(seed)
        train = [train[i] for i in sorted(rng.choice(len(train), max_train, replace=False))]
    par = data.eval_items(langs, "all")  # the protocol's items: no normalised repeats, no quoted sentences
    keep = [i for i, k in enumerate(par["key"]) if data.application_of(k)]
    if not keep or not train:
        raise ValueError("no labelled items: the classification task needs help pages of an application")
    clean = mask_application_names if mask_names else (lambda t: t)
    return {"labels": labels, "train_texts": [clean(t) for t, _ in train],
            "train_y": np.array([labels.index(a) for _, a in train]),
            "keys": [par["key"][i] for i in keep],
            "test_texts": {lang: [clean(par[lang][i]) for i in keep] for lang in langs},
            "test_y": np.array([labels.index(data.application_of(par["key"][i])) for i in keep])}


def classify_features(train_x, train_y, test_x: dict, test_y: np.ndarray, n_classes: int, seed: int = 0) -> TransferResult:
    """Fit the head on English features and score every language. One head for every kind of feature
    (dense embeddings and sparse TF-IDF alike): scikit-learn's class-balanced multinomial logistic
    regression (L2, C=1) on standardised features (sparse ones scaled, not centred). Dimensions without
    variance are dropped; with none left the head has no information and every class scores alike.
    Accuracy counts ties among the top probabilities as expected (1/number tied)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if len(train_y) == 0 or len(test_y) == 0:
        raise ValueError("classification needs a non-empty label set for training and testing")
    sparse_x = scipy_sparse(train_x)
    if sparse_x:
        keep = np.asarray((train_x != 0).sum(0)).ravel() > 0
    else:
        train_x = np.asarray(train_x, dtype=np.float64)
        keep, _, _ = _informative(train_x)
    if keep.any():
        scaler = StandardScaler(with_mean=not sparse_x).fit(train_x[:, keep])
        clf = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
        clf.fit(scaler.transform(train_x[:, keep]), train_y)

    def scores(x):  # class probabilities; a class without training items is never predicted (0)
        if not keep.any():
            return np.full((x.shape[0], n_classes), 1 / n_classes)
        out = np.zeros((x.shape[0], n_classes))
        out[:, clf.classes_] = clf.predict_proba(scaler.transform(x[:, keep]))
        return out

    majority = Counter(train_y.tolist()).most_common(1)[0][0]
    rows, items = [], {}
    majority_items = pd.DataFrame({lang: (test_y == majority).astype(float) for lang in test_x})
    for lang, x in test_x.items():
        s = scores(x if sparse_x else np.asarray(x, dtype=np.float64))
        correct = expected_correct(s, test_y)
        rows.append({"lang": lang, "n": len(test_y), "accuracy": float(correct.mean()),
                     "macro_f1": macro_f1(test_y, predicted(s)), "majority": float((test_y == majority).mean())})
        items[lang] = correct
    return TransferResult(_with_gap(pd.DataFrame(rows)), pd.DataFrame(items), majority_items)


def scipy_sparse(x) -> bool:
    import scipy.sparse

    return scipy.sparse.issparse(x)


def zero_shot_classification(encoder, langs: Sequence[str], layer: int = -1, seed: int = 0,
                             max_train: int | None = 4000, mask_names: bool = False, pooling: str = "mean",
                             task: dict | None = None) -> TransferResult:
    """Help-application classification: an English-trained head on frozen sentence embeddings, tested
    on the eval items of every language in `langs`. `encoder` is an `Encoder` or anything with
    `.encode(texts, layer=, pooling=)` (e.g. `lexical.TfidfControl`). `task` reuses
    `classification_data(...)` across models."""
    task = task or classification_data(langs, max_train, seed, mask_names)
    kw = {} if not isinstance(encoder, Encoder) else {"layer": layer, "pooling": pooling}
    train_x = encoder.encode(task["train_texts"], **kw)
    test_x = {lang: encoder.encode(task["test_texts"][lang], **kw) for lang in task["test_texts"]}
    return classify_features(train_x, task["train_y"], test_x, task["test_y"], len(task["labels"]), seed)


def tidy(result: TransferResult, task: str, layer: int = -1) -> pd.DataFrame:
    """A transfer result as tidy rows (src='en', tgt=test language, layer, measure, value, n) for
    `record.record_results`: `<task>_accuracy`, `<task>_macro_f1`, `<task>_gap`, `<task>_majority`."""
    rows = []
    for r in result.table.itertuples():
        for m in ("accuracy", "macro_f1", "gap", "majority"):
            if hasattr(r, m) and pd.notna(getattr(r, m)):
                rows.append(("en", r.lang, layer, f"{task}_{m}", float(getattr(r, m)), int(r.n)))
    return pd.DataFrame(rows, columns=["src", "tgt", "layer", "measure", "value", "n"])


# ---------------------------------------------------------------- fine-tuning (the encoder trained too)

class _Classifier(torch.nn.Module):
    """An encoder with a linear head on its mean-pooled hidden state `layer`."""

    def __init__(self, model, n_classes: int, layer: int):
        super().__init__()
        self.model, self.layer = model, layer
        self.head = torch.nn.Linear(model.config.hidden_size, n_classes)

    def forward(self, ids, mask):
        hidden = body(self.model)(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[self.layer]
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return self.head((hidden * m).sum(1) / m.sum(1).clamp(min=1.0))


def finetune_classification(encoder: Encoder, task: dict, steps: int = 100, batch_size: int = 16, lr: float = 2e-4,
                            seed: int = 0, layer: int = -1, desc: str = "fine-tuning on English",
                            prepare: Callable | None = None) -> tuple[Encoder, TransferResult]:
    """Fine-tune a copy of `encoder` **and** a linear head on the English training texts of `task`
    (`classification_data(...)`), with class-weighted cross-entropy (the frozen-feature head is
    class-balanced too), then test the fine-tuned classifier zero-shot on every language's test
    items. Returns the fine-tuned encoder (for measuring what alignment survives) and the transfer
    result (per-item outcomes, ties counted as expected).

    The copy's parameters that require gradients train (all of them for a plain model). `prepare(model,
    lang)`, if given, is called on the copy before training (lang "en") and before each test language:
    e.g. `methods.adapters.task_prepare` switches language adapters and freezes all but the task adapter."""
    import copy

    from .train import seed_everything, train_loop

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive; got {steps} and {batch_size}")
    texts, y = task["train_texts"], np.asarray(task["train_y"])
    n_classes = len(task["labels"])
    seed_everything(seed)
    clf = _Classifier(copy.deepcopy(encoder.model), n_classes, encoder.layer_index(layer))
    if prepare is not None:
        prepare(clf.model, "en")
    counts = np.bincount(y, minlength=n_classes)
    weight = torch.tensor(np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0), dtype=torch.float32)
    tok = encoder.tokenizer

    def batches(step: int) -> dict:
        idx = np.random.default_rng([seed, 31, step]).integers(0, len(texts), batch_size)
        enc = tok([texts[i] for i in idx], truncation=True, max_length=encoder.max_length, padding=True, return_tensors="pt")
        return {"ids": enc["input_ids"], "mask": enc["attention_mask"], "y": torch.as_tensor(y[idx])}

    def loss_fn(model, b):
        return torch.nn.functional.cross_entropy(model(b["ids"], b["mask"]), b["y"], weight=weight.to(b["y"].device))

    train_loop(clf, loss_fn, batches, steps, lr=lr, warmup=max(1, steps // 10), desc=desc, log_every=max(1, steps // 5))
    clf.eval()
    test_y = np.asarray(task["test_y"])
    majority = Counter(y.tolist()).most_common(1)[0][0]
    rows, items = [], {}
    with torch.inference_mode():
        for lang, lang_texts in task["test_texts"].items():
            if prepare is not None:
                prepare(clf.model, lang)
            scores = []
            for start in range(0, len(lang_texts), 64):
                enc = tok(lang_texts[start:start + 64], truncation=True, max_length=encoder.max_length, padding=True,
                          return_tensors="pt")
                scores.append(clf(enc["input_ids"], enc["attention_mask"]).float().numpy())
            s = softmax(np.concatenate(scores))
            correct = expected_correct(s, test_y)
            rows.append({"lang": lang, "n": len(test_y), "accuracy": float(correct.mean()),
                         "macro_f1": macro_f1(test_y, predicted(s)), "majority": float((test_y == majority).mean())})
            items[lang] = correct
    majority_items = pd.DataFrame({lang: (test_y == majority).astype(float) for lang in task["test_texts"]})
    tuned = Encoder(clf.model.eval(), tok, name=f"{encoder.name} + fine-tuned on English")
    return tuned, TransferResult(_with_gap(pd.DataFrame(rows)), pd.DataFrame(items), majority_items)


class _Tagger(torch.nn.Module):
    """An encoder with a linear UPOS head on hidden state `layer` of each word's first content piece
    (the frozen-feature POS head's features, `word_features(..., word_pooling="first")`)."""

    def __init__(self, model, layer: int):
        super().__init__()
        self.model, self.layer = model, layer
        self.head = torch.nn.Linear(model.config.hidden_size, len(UPOS))

    def forward(self, ids, mask, rows, cols):
        hidden = body(self.model)(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[self.layer]
        return self.head(hidden[rows, cols])


def _tag_batch(tokenizer, sentences: Sequence[data.Sentence], max_length: int) -> dict:
    """Token ids of pre-split sentences and, per word kept by truncation, (row, first content piece,
    UPOS id, sentence index in the batch)."""
    enc = tokenizer([list(s.words) for s in sentences], is_split_into_words=True, truncation=True,
                    max_length=max_length, padding=True, return_tensors="pt")
    space_id = _space_id(tokenizer)
    rows, cols, tags = [], [], []
    for r, s in enumerate(sentences):
        for w, pos in sorted(word_positions(enc, r, space_id).items()):
            rows.append(r)
            cols.append(pos[0])
            tags.append(UPOS.index(s.upos[w]))
    return {"ids": enc["input_ids"], "mask": enc["attention_mask"], "rows": torch.tensor(rows, dtype=torch.long),
            "cols": torch.tensor(cols, dtype=torch.long), "y": torch.tensor(tags, dtype=torch.long)}


def finetune_pos(encoder: Encoder, test_langs: Sequence[str], steps: int = 100, batch_size: int = 16, lr: float = 2e-4,
                 seed: int = 0, layer: int = -1, max_train_sentences: int | None = None,
                 max_test_sentences: int | None = None, desc: str = "POS fine-tuning on English",
                 prepare: Callable | None = None) -> tuple[Encoder, TransferResult]:
    """Fine-tune a copy of `encoder` and a linear UPOS head on English-EWT sentences (the frozen-feature
    head's training set, `pos_features`), then tag every PUD test treebank zero-shot. Returns the
    fine-tuned encoder and a `TransferResult` in `pos_accuracy`'s form (per-sentence outcomes scaled to
    word accuracy; truncated words count as errors; ties count as expected). `prepare(model, lang)` as
    in `finetune_classification`."""
    import copy

    from .train import seed_everything, train_loop

    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be positive; got {steps} and {batch_size}")
    test_langs = check_languages(test_langs, "pud")
    train = data.conllu("en_ewt", "dev")[:max_train_sentences]
    seed_everything(seed)
    tagger = _Tagger(copy.deepcopy(encoder.model), encoder.layer_index(layer))
    if prepare is not None:
        prepare(tagger.model, "en")
    tok = encoder.tokenizer

    def batches(step: int) -> dict:
        idx = np.random.default_rng([seed, 37, step]).integers(0, len(train), batch_size)
        return _tag_batch(tok, [train[i] for i in idx], encoder.max_length)

    def loss_fn(model, b):
        return torch.nn.functional.cross_entropy(model(b["ids"], b["mask"], b["rows"], b["cols"]), b["y"])

    train_loop(tagger, loss_fn, batches, steps, lr=lr, warmup=max(1, steps // 10), desc=desc, log_every=max(1, steps // 5))
    tagger.eval()
    majority_tag = Counter(t for s in train for t in s.upos).most_common(1)[0][0]
    sets = {"en_ewt": ("en", data.conllu("en_ewt", "test")[:max_test_sentences])}
    sets.update({f"{lang}_pud": (lang, data.conllu(f"{lang}_pud")[:max_test_sentences]) for lang in test_langs})
    rows, items, majority_items = [], {}, {}
    with torch.inference_mode():
        for name, (lang, sents) in sets.items():
            if prepare is not None:
                prepare(tagger.model, lang)
            correct, gold, pred, sent_of = [], [], [], []
            for start in range(0, len(sents), 64):
                b = _tag_batch(tok, sents[start:start + 64], encoder.max_length)
                s = softmax(tagger(b["ids"], b["mask"], b["rows"], b["cols"]).float().numpy())
                correct.append(expected_correct(s, b["y"].numpy()))
                gold.append(b["y"].numpy())
                pred.append(predicted(s))
                sent_of.append(b["rows"].numpy() + start)
            correct, gold, pred, sent_of = (np.concatenate(x) for x in (correct, gold, pred, sent_of))
            n_words = sum(len(s.words) for s in sents)
            maj = gold == UPOS.index(majority_tag)
            rows.append({"lang": name if name == "en_ewt" else lang, "treebank": name, "n": n_words,
                         "accuracy": float(correct.sum() / n_words), "macro_f1": macro_f1(gold, pred),
                         "majority": float(maj.sum() / n_words), "truncated_words": n_words - len(gold)})
            if name.endswith("_pud"):
                for store, hit in ((items, correct), (majority_items, maj)):
                    store[lang] = np.bincount(sent_of, weights=hit, minlength=len(sents)) * len(sents) / n_words
    tuned = Encoder(tagger.model.eval(), tok, name=f"{encoder.name} + POS fine-tuned on English")
    return tuned, TransferResult(_with_gap(pd.DataFrame(rows)), pd.DataFrame(items), pd.DataFrame(majority_items))


def subset_task(task: dict, max_train: int | None, test_rows, seed: int = 0) -> dict:
    """The help-application task of `classification_data` on fewer texts: a seeded sample of at most
    `max_train` training paragraphs and the labelled test items `test_rows` (indices, every language).
    Introduced in notebook 00_measuring_alignment, where the real model at scale is measured on a sample."""
    n_train = len(task["train_texts"])
    keep = np.arange(n_train) if max_train is None or max_train >= n_train else np.sort(
        np.random.default_rng(seed).choice(n_train, max_train, replace=False))
    rows = list(test_rows)
    return {**task, "train_texts": [task["train_texts"][i] for i in keep],
            "train_y": np.asarray(task["train_y"])[keep],
            "test_texts": {lang: [t[i] for i in rows] for lang, t in task["test_texts"].items()},
            "test_y": np.asarray(task["test_y"])[rows]}
