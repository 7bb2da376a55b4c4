"""Load-or-compute: a cached measurement is reused only for the same model, harness and code."""
import numpy as np
import pytest
import torch

from _helpers import ci_tokenizer, tiny_encoder
from xalign_utils import cache
from xalign_utils.harness import Harness


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_load_or_compute_computes_once_per_key_and_recomputes_a_corrupt_entry(tmp_cache):
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    assert cache.load_or_compute("things", {"a": 1}, compute) == {"value": 1}
    assert cache.load_or_compute("things", {"a": 1}, compute) == {"value": 1}
    assert cache.load_or_compute("things", {"a": 2}, compute) == {"value": 2}
    for f in (tmp_cache / "things").glob("*.pkl"):
        f.write_bytes(b"not a pickle")
    assert cache.load_or_compute("things", {"a": 1}, compute) == {"value": 3}
    assert not list((tmp_cache / "things").glob(".*"))  # no temporary files left behind


def test_model_fingerprint_follows_every_weight_and_the_tokenizer():
    tok = ci_tokenizer()
    a, b = tiny_encoder(tok, 0), tiny_encoder(tok, 0)
    assert cache.model_fingerprint(a.model, tok) == cache.model_fingerprint(b.model, tok)
    with torch.no_grad():
        next(b.model.parameters()).view(-1)[0] += 1e-6
    assert cache.model_fingerprint(a.model, tok) != cache.model_fingerprint(b.model, tok)
    assert cache.model_fingerprint(a.model, tok) != cache.model_fingerprint(a.model, None)


def test_measure_cached_reuses_a_measurement_of_the_same_model_and_harness_only(tmp_cache, monkeypatch):
    h = Harness(["en", "de"], n_fit=10, apps_train=60, pos_train_sentences=10, pos_test_sentences=5)
    tok = ci_tokenizer()
    enc = tiny_encoder(tok, 0)
    first = h.measure_cached(enc, "m", full=False)
    calls = []
    real = Harness.measure
    monkeypatch.setattr(Harness, "measure", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    again = h.measure_cached(tiny_encoder(tok, 0), "m", full=False)
    assert not calls
    assert np.array_equal(first.hits["cosine"].to_numpy(), again.hits["cosine"].to_numpy())
    h.measure_cached(tiny_encoder(tok, 1), "m", full=False)  # other weights
    h.measure_cached(enc, "m", full=True, pos=False)  # other measures
    h.k = 5
    h.measure_cached(enc, "m", full=False)  # another harness
    assert len(calls) == 3


def test_atomic_writes_leave_files_as_readable_as_an_ordinary_open(tmp_path):
    import os

    from xalign_utils import cache

    ordinary = tmp_path / "ordinary.txt"
    ordinary.write_text("x")
    atomic = tmp_path / "atomic.txt"
    cache.atomic_write_text(atomic, "x")  # made through mkstemp, whose files are 0600
    assert os.stat(atomic).st_mode & 0o777 == os.stat(ordinary).st_mode & 0o777
