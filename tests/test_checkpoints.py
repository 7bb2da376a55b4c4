"""The shipped checkpoints and their provenance; retraining, caching and resuming."""
import hashlib
import json

import numpy as np
import pytest
import torch

from _helpers import REPLAY_STEPS, replay_first_steps
from xalign_utils import data, pretrain as pretrain_mod
from xalign_utils.checkpoints import base_model, checkpoint_for, read_training_log, shipped_checkpoint
from xalign_utils.evaluate import compare_with_control
from xalign_utils.models import random_init_model
from xalign_utils.presets import get_preset
from xalign_utils.pretrain import MLMBatches, mlm_loss, preset_tokenizer, pretrain, training_key

CI = get_preset("ci")
VARIANTS = {corpus: CI.variant(corpus) for corpus in data.CORPUS_VARIANTS}
TINY = {"model": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64},
        "train": {"steps": 6, "log_every": 1}}


@pytest.fixture(scope="module")
def logs():
    """The training logs `xalign pretrain --preset ci [--corpus ...]` wrote beside the shipped weights."""
    return {corpus: read_training_log(shipped_checkpoint(p)) for corpus, p in VARIANTS.items()}


@pytest.fixture(scope="module")
def rebuilt_tokenizer(logs):
    """The ci tokenizer trained again here, from the pretraining split (about 20 s)."""
    return preset_tokenizer(CI, logs["comparable"]["seed"])


def vocab(tok) -> list:
    return json.loads(tok.backend_tokenizer.to_str())["model"]["vocab"]


@pytest.mark.parametrize("corpus", data.CORPUS_VARIANTS)
def test_shipped_checkpoint_matches_current_code_and_data(logs, corpus):
    preset = VARIANTS[corpus]
    assert logs[corpus]["key"] == training_key(preset, 0), (
        f"{shipped_checkpoint(preset).name} was trained from other code/config/data: rerun "
        f"`xalign pretrain --preset ci --corpus {corpus}`"
    )
    assert checkpoint_for(preset, 0) == shipped_checkpoint(preset)


@pytest.mark.parametrize("corpus", data.CORPUS_VARIANTS)
def test_shipped_weights_hash_matches_log(logs, corpus):
    weights = (shipped_checkpoint(VARIANTS[corpus]) / "model.safetensors").read_bytes()
    assert hashlib.sha256(weights).hexdigest() == logs[corpus]["weights_sha256"]


def test_tokenizer_training_rebuilds_the_shipped_tokenizer_shared_by_every_variant(logs, rebuilt_tokenizer):
    """Training the tokenizer again gives the shipped one exactly (pieces, ids, scores), and the
    disjoint and matched models use that same tokenizer."""
    digest = hashlib.sha256(json.dumps(vocab(rebuilt_tokenizer)).encode()).hexdigest()
    for corpus in data.CORPUS_VARIANTS:
        assert logs[corpus]["tokenizer_vocab_sha256"] == digest, corpus
    shipped = base_model("ci").tokenizer
    assert vocab(rebuilt_tokenizer) == vocab(shipped)
    text = data.corpus("hi", "eval")[1][0]
    assert rebuilt_tokenizer(text)["input_ids"] == shipped(text)["input_ids"]


@pytest.mark.parametrize("corpus", ["comparable", "disjoint"])
def test_first_training_steps_reproduce_logged_losses(logs, rebuilt_tokenizer, corpus):
    """Re-run the first REPLAY_STEPS steps from the logged seed, with the tokenizer trained again here: the
    shipped weights come from this code, end to end (a forgotten TRAINING_CODE_VERSION bump fails here)."""
    log, preset = logs[corpus], VARIANTS[corpus]
    seed = log["seed"]
    losses = replay_first_steps(lambda: random_init_model(preset, seed, rebuilt_tokenizer), mlm_loss,
                                MLMBatches(preset, rebuilt_tokenizer, seed), preset, seed)
    # float32 losses of about 9 after REPLAY_STEPS updates: the default and AVX2 CPU kernels both land
    # within 5e-7 of the logged ones; 1e-4 leaves room for other kernels' rounding
    np.testing.assert_allclose(losses, log["losses_first_steps"][:REPLAY_STEPS], atol=1e-4)


def test_training_log_holds_curve_held_out_loss_and_controls(logs):
    log = logs["comparable"]
    ret = log["held_out_retrieval"]
    n_hidden = CI.model.num_hidden_layers + 1
    for model in ("trained", "random_init"):
        for view in ("raw", "centred"):
            assert set(ret[model][view]) == set(CI.langs) - {"en"}
            assert all(len(v) == n_hidden and all(0 <= x <= 1 for x in v) for v in ret[model][view].values())
    assert set(ret["random_init_seeds"]) == {str(s) for s in pretrain_mod.CONTROL_SEEDS}
    assert log["versus_control"] == compare_with_control(ret)
    assert log["tokens_seen"] == log["steps"] * CI.train.batch_size * CI.model.max_len
    assert set(log["held_out_mlm_loss"]) == set(CI.langs)
    evals = [e for e in log["curve"] if "held_out_mlm_loss" in e]
    assert len(evals) >= 10 and evals[-1]["step"] == log["steps"]
    assert log["curve"][-1]["loss"] < log["curve"][0]["loss"]


def test_compare_with_control_by_hand():
    held = {
        "trained": {"raw": {"de": [0.1, 0.3], "es": [0.3, 0.1]}, "centred": {"de": [0.2, 0.4], "es": [0.0, 0.4]}},
        "random_init": {"raw": {"de": [0.2, 0.2], "es": [0.2, 0.4]}, "centred": {"de": [0.1, 0.1], "es": [0.1, 0.1]}},
    }
    out = compare_with_control(held)
    assert out["raw"]["per_layer"] == {"trained": [0.2, 0.2], "random_init": [0.2, 0.3]}
    assert out["raw"]["best"] == {"trained": 0.2, "random_init": 0.3} and not out["raw"]["beats_control"]
    assert out["centred"]["best"] == {"trained": 0.4, "random_init": 0.1} and out["centred"]["beats_control"]


def test_masked_only_head_equals_full_head_loss():
    model = base_model("ci")
    batch = MLMBatches(CI, model.tokenizer, 0)(3)
    with torch.no_grad():
        a = mlm_loss(model.model, batch, masked_only=True)
        b = mlm_loss(model.model, batch, masked_only=False)
    # one float32 cross-entropy (about 9), the vocabulary projection on masked rows vs all rows (other
    # GEMM shapes): at most (masked tokens) x unit roundoff x 9, far below 1e-5
    assert float(a) == pytest.approx(float(b), abs=1e-5)


def test_training_key_ignores_logging_but_not_the_recipe():
    assert training_key(CI.with_changes(train={"log_every": 7}), 0) == training_key(CI, 0)
    assert training_key(CI.with_changes(model={"dropout": 0.1}), 0) != training_key(CI, 0)
    assert training_key(CI, 1) != training_key(CI, 0)


def test_unknown_config_field_is_refused():
    with pytest.raises(ValueError, match="unknown model field hidden; choose from: vocab_size"):
        CI.with_changes(model={"hidden": 3})
    with pytest.raises(ValueError, match="unknown corpus 'both'"):
        CI.with_changes(train={"corpus": "both"})


def cheap_monitor(encoder, langs, n=None, n_fit=500):
    """Stands in for `evaluate.retrieval_monitor` where a test checks the training bookkeeping, not retrieval:
    the same structure, with a number that follows every weight (so a resumed run must match a fresh one)."""
    w = round(float(sum(p.detach().double().sum() for p in encoder.model.parameters())), 6)
    per = {lang: [w] * (encoder.num_layers + 1) for lang in langs if lang != "en"}
    return {"n": 1, "raw": per, "centred": per}


def test_changed_config_retrains_once_then_loads_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(pretrain_mod, "retrieval_monitor", cheap_monitor)
    m1 = base_model("ci", **TINY)
    cached = list((tmp_path / "models").glob("ci-*"))
    assert len(cached) == 1 and (cached[0] / "training_log.json").exists()
    m2 = base_model("ci", **TINY)
    for (n1, p1), (n2, p2) in zip(m1.model.state_dict().items(), m2.model.state_dict().items()):
        assert n1 == n2 and torch.equal(p1, p2)
    assert m1.hidden_size == 32


def test_resumed_pretraining_keeps_the_checks_logged_before_the_interruption(tmp_path, monkeypatch):
    """Interrupt a run inside its second held-out check, resume it: the first check's entry survives,
    it is not recomputed, and the finished curve is the same as an uninterrupted run's."""
    preset = CI.with_changes(**TINY)
    real_monitor = cheap_monitor
    calls, interrupt_at = [], [2]

    def monitor(*args, **kw):
        calls.append(1)
        if len(calls) == interrupt_at[0]:
            raise KeyboardInterrupt("simulated interruption")
        return real_monitor(*args, **kw)

    monkeypatch.setattr(pretrain_mod, "retrieval_monitor", monitor)
    resume = tmp_path / "resume"
    resume.mkdir()
    with pytest.raises(KeyboardInterrupt):
        pretrain(preset, 0, tmp_path / "a", resume_dir=resume, checkpoint_every=2, eval_points=3)
    first = [e for e in json.loads((resume / "curve.json").read_text()) if "held_out_mlm_loss" in e]
    assert [e["step"] for e in first] == [2]
    calls.clear()
    interrupt_at[0] = None  # the resumed run is not interrupted
    log = pretrain(preset, 0, tmp_path / "a", resume_dir=resume, checkpoint_every=2, eval_points=3)
    evals = [e for e in log["curve"] if "held_out_mlm_loss" in e]
    assert [e["step"] for e in evals] == [2, 4, 6] and evals[0] == first[0]
    assert len(calls) == 2 + 1 + len(pretrain_mod.CONTROL_SEEDS)  # steps 4 and 6, final model, controls
    monkeypatch.setattr(pretrain_mod, "retrieval_monitor", real_monitor)
    fresh = pretrain(preset, 0, tmp_path / "b", eval_points=3)
    assert [e["loss"] for e in fresh["curve"]] == [e["loss"] for e in log["curve"]]
    assert fresh["weights_sha256"] == log["weights_sha256"]


def test_the_book_preset_uses_the_shipped_ci_models_with_three_seeds():
    from xalign_utils.checkpoints import base_model, shipped_checkpoint
    from xalign_utils.pretrain import training_key

    book, ci = get_preset("book"), get_preset("ci")
    assert book.langs == ci.langs and book.model == ci.model and book.seeds == (0, 1, 2)
    assert training_key(book, 0) == training_key(ci, 0)  # the same recipe: the shipped weights are its weights
    assert shipped_checkpoint(book) == shipped_checkpoint(ci)
    assert base_model("book").name == "ci"  # loaded, never trained


def test_another_pretraining_seed_of_a_shipped_recipe_is_refused_not_trained_silently(tmp_path, monkeypatch):
    """A chapter's `seed` is its methods' seed; a base model of another pretraining seed takes hours, so
    `base_model` names the command instead of starting it (before any compute)."""
    import pytest

    from xalign_utils.checkpoints import StaleCheckpointError, base_model

    monkeypatch.setenv("XALIGN_CACHE_DIR", str(tmp_path))
    with pytest.raises(StaleCheckpointError, match=r"xalign pretrain --preset ci --seed 1`"):
        base_model("ci", seed=1)
    assert not any(tmp_path.rglob("*.safetensors"))
    assert base_model("ci").num_layers == 2  # the shipped one loads
