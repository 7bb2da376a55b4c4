"""Chapter 07's kit (xalign_utils.kit.synthesis): what it glues and records, on made-up findings."""
import pandas as pd
import pytest

from xalign_utils import ledger
from xalign_utils.kit import synthesis as kit
from xalign_utils.metrics import Interval


def iv(low, high):
    return Interval((low + high) / 2, low, high, 100, 1000, 0, 0.95)


@pytest.fixture
def glued(monkeypatch):
    out = {}
    monkeypatch.setattr(kit, "glue_text", lambda name, text: out.setdefault(name, text))
    monkeypatch.setattr(kit, "record", lambda name, value, **kw: out.setdefault(name, value))
    return out


def findings():
    R, N, I = ledger.CLAIM_VERDICTS
    up = ledger.Check("01_parallel_data", "a − b", iv(0.02, 0.05), R, [0], "p_at_1_cosine")
    flat = ledger.Check("all", "c − d", iv(-0.01, 0.01), I, [0], "p_at_1_cosine")
    return [ledger.Finding(1, "claim one", "x2020", [up], "ci"), ledger.Finding(2, "claim two", "y2021", [up, flat], "ci")]


def test_publish_findings_glues_each_verdict_and_records_every_bound(glued):
    fs = findings()
    table = pd.DataFrame({"verdict": [f.verdict for f in fs]})
    counts = kit.publish_findings(fs, table)
    assert glued["f1_verdict"] == "reproduced" and glued["f2_verdict"] == "inconclusive at this scale"
    assert glued["f2_check2_low"] == -0.01 and glued["f2_check2_high"] == 0.01 and glued["f1_check1"] == 0.035
    assert glued["n_findings"] == "2" and counts.sum() == 2
    assert glued["ledger_counts"] == "1 reproduced, 1 inconclusive at this scale"
    assert glued["f1_caveats"]  # one seed at least


def test_chapter_links_and_correlation_keys():
    assert kit.chapter_link("03_adapters") == '<a href="03_adapters.html">03</a>'
    assert kit.chapter_link("all") == "all chapters"
    row = {"View I measure": "weak P@1", "transfer task": "pos_accuracy", "how": "per language, within languages"}
    assert kit.correlation_key(row) == "rho_weak_pos_within"


def test_the_ledger_figure_has_one_bar_per_check():
    fig = kit.fig_ledger(findings())
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(labels) == ["1. a − b", "2. a − b", "2. c − d"]


def test_leaderboard_drops_variants_without_any_measure(glued, monkeypatch):
    board = pd.DataFrame({"chapter": ["", "01", "01"], "variant": ["chance", "a", "b"], "seeds": [0, 1, 1],
                          "layer": [None, 2, 2], "weak P@1": [0.01, 0.2, None]})
    monkeypatch.setattr(kit.ledger, "leaderboard", lambda rows, floors: board)
    out = kit.leaderboard(None, pd.DataFrame(index=["chance"]))
    assert list(out.variant) == ["chance", "a"] and glued["n_variants"] == "1"
