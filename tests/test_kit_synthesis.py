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
    assert glued["f1_caveats"] == ", ".join(fs[0].caveats) and "one seed" in glued["f1_caveats"]


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
    floors = pd.DataFrame(index=["chance"])
    out = kit.leaderboard(None, floors)
    assert list(out.variant) == ["chance", "a"] and "n_variants" not in glued


def test_publish_leaderboard_glues_the_count_and_writes_the_csv(glued, tmp_path):
    board = pd.DataFrame({"variant": ["chance", "a", "b"], "weak P@1": [0.01, 0.2, 0.3]})
    path = kit.publish_leaderboard(board, pd.DataFrame(index=["chance"]), tmp_path, "ci")
    assert glued["n_variants"] == "2" and path == tmp_path / "results" / "ci-leaderboard.csv"
    assert pd.read_csv(path).equals(board)


def _corr(variant_low, within_low):
    rows = []
    for how, low in (("variant means", variant_low), ("per language, within languages", within_low)):
        for task in ("pos_accuracy", "apps_accuracy"):
            rows.append({"View I measure": "weak P@1", "transfer task": task, "how": how, "rho": low + 0.2,
                         "low": low, "interval": f"{low + 0.2:+.2f} [{low:+.2f}, +0.90]", "units": 10})
    return pd.DataFrame(rows)


def test_correlation_sentences_follow_the_intervals(glued):
    points = pd.DataFrame({"notebook": ["01"] * 3, "variant": ["a", "b", "c"], "seed": [0, 0, 0],
                           "pos_accuracy": [0.3, 0.1, 0.5], "apps_accuracy": [0.2, 0.2, None]})
    floors = pd.DataFrame({"chance": {"POS accuracy": 0.05, "apps accuracy": 0.1},
                           "majority class": {"POS accuracy": 0.25, "apps accuracy": 0.15}})
    kit.publish_correlations(_corr(-0.3, -0.3), points, floors)
    assert glued["corr_summary"].startswith("Across variants, no View I measure's rank correlation")
    assert "predicts neither task" in glued["corr_summary"]
    assert glued["majority_summary"].startswith("Mean POS accuracy is above the majority class for 2 of these 3")
    assert "application accuracy for 2 of 2" in glued["majority_summary"]
    assert glued["rho_weak_pos_variant"] == pytest.approx(-0.1)
    glued.clear()
    kit.publish_correlations(_corr(0.1, 0.1), points, floors)
    assert "found for weak P@1 (POS), weak P@1 (application)" in glued["corr_summary"]
    assert "weak P@1 predicts POS and application accuracy" in glued["corr_summary"]
