"""me5-small (`load_model("me5-small")`) on every vendored Tatoeba language: MTEB BitextMining accuracy
(xxx -> eng nearest neighbour by cosine, both sides with the "query: " prefix) beside the
intfloat/multilingual-e5-small model card's, and the difference (ours - card).

    python benchmarks/bench_me5_tatoeba.py
"""
from __future__ import annotations

import time

import torch

from xalign_utils.languages import available
from xalign_utils.me5 import MODEL_CARD_TATOEBA, tatoeba_accuracy
from xalign_utils.models import load_model


def main() -> None:
    torch.set_num_threads(2)
    enc = load_model("me5-small")
    print(f"{'lang':<6}{'ours':>8}{'card':>8}{'diff':>8}")
    t0 = time.perf_counter()
    for lang in [code for code in available("tatoeba") if code != "en"]:
        ours = tatoeba_accuracy(enc, lang)
        card = MODEL_CARD_TATOEBA.get(lang)
        diff = f"{ours - card:+8.1f}" if card is not None else f"{'-':>8}"
        print(f"{lang:<6}{ours:8.1f}{card if card is not None else '-':>8}{diff}", flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
