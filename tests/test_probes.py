"""Probe bookkeeping: equal-compute step counts and the probe table (no training here)."""
import pytest

from xalign_utils import probes


def test_equal_compute_plans_by_hand():
    costs = {"base": 1.2, "twice as slow": 2.4, "fast": 0.4}
    assert probes.equal_compute_plans(costs, 1400) == {"base": 1400, "twice as slow": 700, "fast": 4200}


def test_probe_presets_are_changes_of_the_ci_recipe():
    assert probes.probe_preset("base") == probes.get_preset("ci")
    deep = probes.probe_preset("deep-4x96")
    assert (deep.model.num_hidden_layers, deep.model.hidden_size) == (4, 96)
    with pytest.raises(ValueError, match="unknown probe 'huge'; choose one of: base"):
        probes.probe_preset("huge")


def test_probe_table_reports_intervals_and_verdicts():
    iv = {"diff": -0.02, "low": -0.03, "high": -0.01, "n": 4, "resamples": 10, "seed": 0, "confidence": 0.95}
    row = {"name": "base", "steps": 10, "train_minutes": 1.0, "tokens_m": 0.1, "parameters": 1e6,
           "held_out_mlm_final": 5.0, "held_out_mlm_best": 5.0, "held_out_mlm_best_step": 10,
           "centred": {"trained": 0.05, "layer": 1, "control": [0.07], "diff": iv, "hits": [0.0, 0.1, 0.1, 0.0]},
           "raw": {"diff": iv}, "by_script": {"Latin": {"diff": iv}}, "apps": {"trained": 0.1, "control": [0.2], "diff": iv}}
    other = dict(row, name="other", centred=dict(row["centred"], hits=[0.0, 0.1, 0.1, 0.0]))
    table = probes.probe_table([row, other])
    assert "-0.020 [-0.030, -0.010] worse" in table
    assert "+0.000 [+0.000, +0.000] inconclusive" in table  # other vs base: the same items, the same hits
    assert table.count("\n") == 4
