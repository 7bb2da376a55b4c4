"""The shipped decoder LM (`xalign pretrain --preset ci --decoder`, checkpoints/ci-decoder/): its
provenance, its log, loading it, and the decoder's pretraining path at a tiny size.

The tokenizer is not retrained here (about 30 s): the shared tokenizer's rebuild is tested in
test_checkpoints.py, and here the decoder's tokenizer is built from the shipped shared one and must
equal the shipped decoder's, vocabulary and language tags."""
import hashlib
import json
import math
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, LlamaForCausalLM

from _helpers import REPLAY_STEPS, replay_first_steps
from xalign_utils import checkpoints, pretrain as pretrain_mod
from xalign_utils.checkpoints import (StaleCheckpointError, checkpoint_for, decoder_model, random_init_decoder_model,
                                      read_training_log, shipped_checkpoint)
from xalign_utils.models import body, random_init_decoder
from xalign_utils.presets import get_preset
from xalign_utils.pretrain import (CLMBatches, clm_loss, decoder_tokenizer, language_tag, pretrain, training_key)

CI = get_preset("ci")
SHIPPED = shipped_checkpoint(CI, 0, "decoder")
TINY = {"model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
                  "max_len": 32},
        "train": {"steps": 6, "log_every": 1, "batch_size": 8}}


@pytest.fixture(scope="module")
def log():
    return read_training_log(SHIPPED)


@pytest.fixture(scope="module")
def tokenizer():
    """`decoder_tokenizer(ci)` built on the shipped shared tokenizer (checkpoints/ci/, which
    test_checkpoints proves the tokenizer trainer rebuilds) instead of a 30 s retraining."""
    shared = AutoTokenizer.from_pretrained(str(shipped_checkpoint(CI)), local_files_only=True)
    mp = pytest.MonkeyPatch()
    mp.setattr(pretrain_mod, "train_tokenizer", lambda *args, **kw: shared)
    pretrain_mod._decoder_tokenizer.cache_clear()
    yield decoder_tokenizer(CI, 0)
    mp.undo()
    pretrain_mod._decoder_tokenizer.cache_clear()


def vocab_sha(tok) -> str:
    return hashlib.sha256(json.dumps(json.loads(tok.backend_tokenizer.to_str())["model"]["vocab"]).encode()).hexdigest()


def test_shipped_decoder_matches_current_code_and_data(log):
    assert log["key"] == training_key(CI, 0, "decoder"), (
        "checkpoints/ci-decoder was trained from other code/config/data: rerun `xalign pretrain --preset ci --decoder`")
    assert checkpoint_for(CI, 0, train=False, arch="decoder") == SHIPPED
    # the decoder's arch is hashed only for the decoder: the encoders' keys are what they were
    assert training_key(CI, 0) == read_training_log(shipped_checkpoint(CI))["key"] != log["key"]


def test_shipped_decoder_weights_hash_matches_log(log):
    assert hashlib.sha256((SHIPPED / "model.safetensors").read_bytes()).hexdigest() == log["weights_sha256"]


def test_decoder_tokenizer_is_the_shared_one_plus_language_tags(log, tokenizer):
    shipped = AutoTokenizer.from_pretrained(str(SHIPPED), local_files_only=True)
    encoder_log = read_training_log(shipped_checkpoint(CI))
    assert vocab_sha(tokenizer) == vocab_sha(shipped) == log["tokenizer_vocab_sha256"] == encoder_log["tokenizer_vocab_sha256"]
    assert len(tokenizer) == len(shipped) == CI.model.vocab_size + len(CI.langs)
    for i, lang in enumerate(CI.langs):
        tag = language_tag(lang)
        assert tokenizer.convert_tokens_to_ids(tag) == shipped.convert_tokens_to_ids(tag) == CI.model.vocab_size + i
        assert log["language_tags"][lang] == [tag, CI.model.vocab_size + i]
    text = "<hi> " + pretrain_mod.data.corpus("hi", "eval")[1][0]
    assert tokenizer(text)["input_ids"] == shipped(text)["input_ids"]


def test_first_training_steps_reproduce_logged_losses(log, tokenizer):
    """Re-run the first REPLAY_STEPS steps here on the CPU from the logged seed: the shipped weights (trained
    on a GPU, float32, TF32 off) come from this code (a forgotten DECODER_CODE_VERSION bump fails here)."""
    seed = log["seed"]
    losses = replay_first_steps(lambda: random_init_decoder(CI, seed, tokenizer), clm_loss,
                                CLMBatches(CI, tokenizer, seed), CI, seed)
    # float32 losses of about 9 after REPLAY_STEPS updates, logged on a GPU: the default and AVX2 CPU
    # kernels both land within 5e-7 of the log; 1e-4 leaves room for other kernels' rounding
    np.testing.assert_allclose(losses, log["losses_first_steps"][:REPLAY_STEPS], atol=1e-4)


def test_decoder_log_holds_curve_perplexity_and_controls(log):
    assert log["arch"] == "decoder" and log["steps"] == CI.train.steps
    assert log["tokens_seen"] == log["steps"] * CI.train.batch_size * CI.model.max_len
    assert len(log["losses_first_steps"]) == 20
    assert {"torch", "machine", "device", "wall_time_s", "tokenizer_vocab_sha256"} <= set(log)
    curve = log["curve"]
    assert [e["step"] for e in curve] == list(range(CI.train.log_every, CI.train.steps + 1, CI.train.log_every))
    assert curve[-1]["loss"] < curve[len(curve) // 2]["loss"] < curve[0]["loss"]
    evals = [e for e in curve if "held_out_perplexity" in e]
    assert len(evals) >= 10 and evals[-1]["step"] == log["steps"]
    for e in evals:
        assert set(e["held_out_perplexity_per_language"]) == set(CI.langs)
    ppl = [e["held_out_perplexity"] for e in evals]
    assert ppl[-1] < ppl[len(ppl) // 2] < ppl[0]
    assert set(log["held_out_perplexity"]) == set(CI.langs)
    assert all(1 < p < len(CI.langs) + CI.model.vocab_size for p in log["held_out_perplexity"].values())
    n_hidden = CI.model.num_hidden_layers + 1
    for model in ("trained", "random_init"):
        for view in ("raw", "centred"):
            per = log["held_out_retrieval"][model][view]
            assert set(per) == set(CI.langs) - {"en"} and all(len(v) == n_hidden for v in per.values())


def test_decoder_model_loads_in_seconds_with_tags_as_single_tokens():
    t0 = time.time()
    enc = decoder_model("ci")
    assert time.time() - t0 < 30
    assert isinstance(enc.model, LlamaForCausalLM) and not enc.model.training
    assert type(body(enc.model)).__name__ == "LlamaModel"
    assert enc.max_length == CI.model.max_len  # a decoder's positions have no XLM-R offset
    tok = enc.tokenizer
    for i, lang in enumerate(CI.langs):
        assert tok(language_tag(lang), add_special_tokens=False)["input_ids"] == [CI.model.vocab_size + i]
    assert tok.tokenize("<de> Hallo")[0] == "<de>"
    embs = enc.encode(["Hallo Welt", "ein etwas längerer Satz, mit Komma"], layer="all")
    assert embs.shape == (CI.model.num_hidden_layers + 1, 2, CI.model.hidden_size) and np.isfinite(embs).all()


def test_stale_or_missing_decoder_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(pretrain_mod, "DECODER_CODE_VERSION", pretrain_mod.DECODER_CODE_VERSION + 1)
    with pytest.raises(StaleCheckpointError, match=r"ci-decoder was trained from other code.*--preset ci --decoder"):
        decoder_model("ci")
    monkeypatch.setattr(checkpoints, "CHECKPOINTS", tmp_path / "checkpoints")
    with pytest.raises(StaleCheckpointError, match=r"there is no checkpoints/ci-decoder.*--decoder"):
        decoder_model("ci")


def test_random_init_decoder_control_is_seeded_and_shaped_like_the_decoder():
    shipped = decoder_model("ci")
    a, b, c = (random_init_decoder_model("ci", s) for s in (1, 1, 2))
    for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
              "intermediate_size", "max_position_embeddings", "tie_word_embeddings"):
        assert getattr(a.model.config, k) == getattr(shipped.model.config, k), k
    assert len(a.tokenizer) == len(shipped.tokenizer) and not a.model.training
    for (n, p), (_, q), (_, r), (_, s) in zip(a.model.state_dict().items(), b.model.state_dict().items(),
                                              c.model.state_dict().items(), shipped.model.state_dict().items()):
        assert torch.equal(p, q), n
        if p.ndim == 2:
            assert not torch.equal(p, r) and not torch.equal(p, s), n


def test_clm_loss_is_the_shifted_cross_entropy_by_hand(tokenizer):
    preset = CI.with_changes(**TINY)
    batch = CLMBatches(preset, tokenizer, 0)(5)
    ids = batch["input_ids"]
    tag = tokenizer.convert_tokens_to_ids(language_tag(batch["lang"]))
    starts = (ids[:, :-1] == tokenizer.bos_token_id).nonzero()
    assert len(starts) and bool((ids[starts[:, 0], starts[:, 1] + 1] == tag).all())  # <s> <xx> paragraph </s>
    model = random_init_decoder(preset, 0, tokenizer)
    with torch.no_grad():
        loss = float(clm_loss(model, batch))
        logits = model(input_ids=ids).logits.double()
        total, count = 0.0, 0
        for row in range(ids.shape[0]):
            for t in range(ids.shape[1] - 1):
                z = logits[row, t]
                total += float(torch.logsumexp(z, 0) - z[ids[row, t + 1]])
                count += 1
        hf = float(model(input_ids=ids, labels=ids).loss)
    # float32 cross-entropy of about 9 over a few hundred targets vs float64 by hand: float32 logits (~1e-7
    # relative) and a float32 mean of a few hundred terms (~1e-7 x 9 x log2 terms) stay below 1e-5
    assert loss == pytest.approx(total / count, abs=1e-5) and loss == pytest.approx(hf, abs=1e-5)
    assert loss == pytest.approx(math.log(len(tokenizer)), abs=0.5)  # an untrained model: about uniform


def test_tiny_decoder_pretraining_runs_resumes_and_matches_an_uninterrupted_run(tmp_path, monkeypatch, tokenizer):
    """A tiny decoder run interrupted inside its second held-out check resumes with its first check
    kept, and ends where an uninterrupted run ends (loss curve, weights)."""
    preset = CI.with_changes(**TINY)
    real_monitor = pretrain_mod.retrieval_monitor
    calls, interrupt_at = [], [2]

    def monitor(encoder, langs, n=None, n_fit=500):  # the real monitor on a few texts (the log test covers n=500)
        calls.append(1)
        if len(calls) == interrupt_at[0]:
            raise KeyboardInterrupt("simulated interruption")
        return real_monitor(encoder, langs, n=12, n_fit=12)

    monkeypatch.setattr(pretrain_mod, "retrieval_monitor", monitor)
    resume = tmp_path / "resume"
    resume.mkdir()
    with pytest.raises(KeyboardInterrupt):
        pretrain(preset, 0, tmp_path / "a", resume_dir=resume, checkpoint_every=2, eval_points=3, arch="decoder")
    first = [e for e in json.loads((resume / "curve.json").read_text()) if "held_out_perplexity" in e]
    assert [e["step"] for e in first] == [2]
    calls.clear()
    interrupt_at[0] = None
    log = pretrain(preset, 0, tmp_path / "a", resume_dir=resume, checkpoint_every=2, eval_points=3, arch="decoder")
    evals = [e for e in log["curve"] if "held_out_perplexity" in e]
    assert [e["step"] for e in evals] == [2, 4, 6] and evals[0] == first[0]
    assert len(calls) == 2 + 1 + len(pretrain_mod.CONTROL_SEEDS)
    assert log["key"] == training_key(preset, 0, "decoder") != training_key(preset, 0)
    assert set(log["held_out_perplexity"]) == set(CI.langs) and log["tokens_seen"] == 6 * 8 * 32
    saved = LlamaForCausalLM.from_pretrained(tmp_path / "a")
    assert saved.config.hidden_size == 32 and saved.config.vocab_size == len(tokenizer)
    fresh = pretrain(preset, 0, tmp_path / "b", eval_points=3, arch="decoder")
    assert [e["loss"] for e in fresh["curve"]] == [e["loss"] for e in log["curve"]]
    assert fresh["weights_sha256"] == log["weights_sha256"]
