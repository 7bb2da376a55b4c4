"""English vs Fake-English (xalign_utils.fake_english): id shifting, the two ablations, the evaluation's
chance level and a few training steps."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from xalign_utils import fake_english as fe
from xalign_utils import metrics
from xalign_utils.pretrain import IGNORE
from xalign_utils.tokenize import SPECIAL_TOKENS

V = 4000
SPECIALS = list(range(len(SPECIAL_TOKENS)))


@pytest.fixture(scope="module")
def tok():
    return fe.english_tokenizer(fe.FakeConfig())


def test_bad_config_name_is_one_line_error():
    with pytest.raises(ValueError, match="unknown Fake-English config 'shard'; choose one of: shared") as e:
        fe.FakeConfig(name="shard")
    assert "\n" not in str(e.value)
    with pytest.raises(SystemExit):
        fe.main(["train", "--config", "nope"])


def test_shared_shifts_every_content_token_and_keeps_specials(tok):
    cfg = fe.FakeConfig("shared")
    en = torch.tensor([tok("The file menu opens the settings dialog.")["input_ids"]])
    fake = fe.to_fake(en, cfg, len(tok))
    content = en >= len(SPECIAL_TOKENS)
    assert content.sum() >= 5
    assert torch.equal(fake[content], en[content] + len(tok))
    assert torch.equal(fake[~content], en[~content])  # <s>, </s> shared
    assert set(en.flatten().tolist()) & set(fake.flatten().tolist()) <= set(SPECIALS)
    assert set(fake[content].tolist()).isdisjoint(range(len(tok)))


def test_no_shared_special_gives_disjoint_specials_but_pad(tok):
    cfg = fe.FakeConfig("no_shared_special")
    en = torch.tensor([SPECIALS + [10, 11, IGNORE]])
    fake = fe.to_fake(en, cfg, len(tok)).tolist()[0]
    pad = SPECIAL_TOKENS.index("<pad>")
    assert fake[:5] == [i if i == pad else i + len(tok) for i in SPECIALS]
    assert fake[5:] == [10 + len(tok), 11 + len(tok), IGNORE]
    rows = fe.FakeBatches(cfg, tok, texts=["The file menu opens the settings dialog."] * 40)
    batch = rows(0)
    fake_rows = (batch["input_ids"] >= len(tok)).any(1)
    assert fake_rows.any() and (~fake_rows).any()
    assert set(batch["input_ids"][fake_rows].unique().tolist()).isdisjoint(range(len(tok)))


def test_lang_positions_gives_fake_rows_their_own_positions(tok):
    ids = torch.tensor([[0, 50, 60, 2, 1], [0, 50, 60, 2, 1]])
    flags = torch.tensor([False, True])
    shared = fe.position_ids(ids, flags, fe.FakeConfig("shared"))
    own = fe.position_ids(ids, flags, fe.FakeConfig("lang_positions", max_len=64))
    assert shared[0].tolist() == shared[1].tolist() == [2, 3, 4, 5, 1]  # RoBERTa's ids, padding keeps 1
    assert own[0].tolist() == [2, 3, 4, 5, 1]
    assert own[1].tolist() == [66, 67, 68, 69, 1]
    cfg = fe.FakeConfig("lang_positions", max_len=64)
    conf = fe.model_config(cfg, tok)
    assert conf.vocab_size == 2 * V
    assert conf.max_position_embeddings == 2 * 64 + 2 > int(own.max())
    assert fe.model_config(fe.FakeConfig("shared", max_len=64), tok).max_position_embeddings == 66


def test_batches_are_half_fake_with_shifted_labels(tok):
    cfg = fe.FakeConfig("shared", batch_size=64)
    b = fe.FakeBatches(cfg, tok)
    batch = b(3)
    assert torch.equal(batch["input_ids"], b(3)["input_ids"])  # a pure function of (seed, step)
    fake = (batch["input_ids"] >= len(tok)).any(1)
    assert 16 < int(fake.sum()) < 48
    lab = batch["labels"]
    assert (lab[fake][lab[fake] != IGNORE] >= len(tok)).all()
    assert (lab[~fake][lab[~fake] != IGNORE] < len(tok)).all()
    assert 0.08 < float((lab != IGNORE).float().mean()) < 0.22


class _ConstantBody(torch.nn.Module):
    """Every token gets the same hidden state, whatever its id or position."""

    def forward(self, input_ids, attention_mask=None, position_ids=None, output_hidden_states=True):
        h = torch.ones(*input_ids.shape, 8)
        return SimpleNamespace(hidden_states=(h, h))


class _Constant(torch.nn.Module):
    """A degenerate encoder (the `roberta` body `embed` calls)."""

    def __init__(self):
        super().__init__()
        self.roberta = _ConstantBody()


def test_constant_encoder_scores_chance(tok):
    texts = [f"sentence number {i} of the test" for i in range(50)]
    ids = fe.eval_ids(tok, 64, texts)
    out = fe.retrieval(_Constant(), ids, fe.FakeConfig(), len(tok))
    assert out.shape == (2, 50, 2)
    assert np.allclose(out.mean(axis=(1, 2)), metrics.chance_p_at_1(50))


def test_eval_items_are_the_409_ci_sentences(tok):
    assert len(fe.eval_ids(tok, 64)) == 409


def test_tiny_config_trains_and_loss_falls(tok, tmp_path):
    torch.manual_seed(0)
    cfg = fe.FakeConfig("no_shared_special", steps=40, warmup=4, batch_size=8, max_len=32, log_every=10, lr=3e-3)
    texts = ["The file menu opens the settings dialog of the application."] * 60
    log = fe.train(cfg, tmp_path / "m", eval_points=1, texts=texts, monitor_texts=texts[:8],
                   resume_dir=tmp_path / "resume")
    assert not (tmp_path / "resume" / "curve.json").exists()  # finished runs leave no resume state
    losses = [e["loss"] for e in log["curve"]]
    assert losses[-1] < losses[0] - 1.0
    assert log["steps"] == 40 and log["tokens_seen"] == 40 * 8 * 32
    model, tok2, cfg2 = fe.load(tmp_path / "m")
    assert cfg2 == cfg and model.config.vocab_size == 2 * len(tok2)
    with pytest.raises(FileNotFoundError, match="python -m xalign_utils.fake_english train"):
        fe.load(tmp_path / "missing")


def test_a_perfectly_aligned_encoder_scores_one(tok):
    # Fake-English embedding rows copied from the English ones: both sides get the same hidden states
    cfg = fe.FakeConfig("shared")
    model = fe.new_model(cfg, tok, 0).eval()
    emb = model.roberta.embeddings.word_embeddings.weight
    with torch.no_grad():
        emb[len(tok):] = emb[:len(tok)]
    ids = fe.eval_ids(tok, 64, [f"the {w} menu opens the settings dialog" for w in
                                ("file", "edit", "view", "tools", "help", "window", "format", "insert")])
    out = fe.retrieval(model, ids, cfg, len(tok))
    assert np.allclose(out, 1.0)


def test_ablations_are_compared_by_their_gains_over_their_own_controls():
    ones, zeros = np.ones((1, 8, 2)), np.zeros((1, 8, 2))
    measured = {"shared": fe.Measured("shared", ones * 0.5, {0: ones * 0.5}),  # gain 0
                "lang_positions": fe.Measured("lang_positions", ones * 0.2, {0: zeros})}  # gain 0.2, lower raw P@1
    out = fe.comparisons(measured, metrics.Verdicts(200, 0))
    iv, verdict = out["shared vs lang_positions"]
    assert iv.diff == pytest.approx(-0.2) and verdict == "worse"  # raw P@1 would have said "better"


@pytest.mark.parametrize("shared_up", [True, False])
@pytest.mark.parametrize("controls_up", [[False, False], [True, False], [True, True]])
def test_meaning_names_only_what_the_verdicts_say(shared_up, controls_up):
    text = fe.meaning(shared_up, [False, False], controls_up)
    assert text.endswith(".") and "  " not in text
    assert ("this pipeline sees it" in text) == shared_up
    if not shared_up:
        assert (fe.LABELS["lang_positions"] in text) == controls_up[0]
        assert (fe.LABELS["no_shared_special"] in text) == controls_up[1]
        assert "at chance" not in text and "weaker than" not in text


def test_figures_are_closed_and_draw_what_they_are_given(tmp_path):
    import matplotlib.pyplot as plt

    plt.close("all")
    ones = np.ones((3, 8, 2))
    measured = {"shared": fe.Measured("shared", ones * 0.5, {0: ones * 0.25})}
    fig = fe.fig_emergence(measured)
    out = fe.comparisons(measured, metrics.Verdicts(200, 0))
    bars = fe.fig_comparisons(out)
    log = {"config": {"vocab_size": 100}, "curve": [{"step": 10, "loss": 5.0}, {"step": 20, "loss": 4.0}]}
    (tmp_path / "fake-english-shared.training_log.json").write_text(json.dumps(log))
    curves = fe.fig_training(tmp_path)
    assert plt.get_fignums() == []  # glued once by the chapter, never shown a second time
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.5, 0.5, 0.5]
    assert len(bars.axes[0].get_yticklabels()) == len(out) == 1
    loss, uniform = curves.axes[0].lines
    assert list(loss.get_ydata()) == [5.0, 4.0] and uniform.get_ydata()[0] == pytest.approx(np.log(200))
