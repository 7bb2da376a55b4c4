"""Every branch of the findings' status lines."""
import pytest

from xalign_utils.findings import parallel_data_status, says, transfer_status


def test_says_names_the_phrase_and_refuses_unknown_verdicts():
    assert says("worse", "up", "down", "level") == "down"
    with pytest.raises(ValueError, match="unknown verdict 'beter'"):
        says("beter", "up", "down", "level")


@pytest.mark.parametrize("gains, pairing, pairing_centred, starts", [
    ({"distil": "better"}, {"distil": "better"}, {"distil": "better"}, "reproduced"),
    ({"distil": "better"}, {"distil": "better"}, {"distil": "inconclusive"}, "partly reproduced (a method beats its no-pairing"),
    ({"distil": "better", "tlm": "inconclusive"}, {"distil": "inconclusive", "tlm": "better"}, {"tlm": "better"},
     "partly reproduced (methods gain over the starting model, but none"),
    ({"distil": "inconclusive", "tlm": "worse"}, {}, {}, "contradicted"),
    ({"distil": "inconclusive"}, {"distil": "better"}, {"distil": "better"}, "not reproduced"),
])
def test_parallel_data_status_every_branch(gains, pairing, pairing_centred, starts):
    assert parallel_data_status(gains, pairing, pairing_centred).startswith(starts)


def test_transfer_status_every_branch():
    assert transfer_status({"a": "inconclusive"}, {"a": ["better"]}).startswith("not reproduced (no method")
    assert transfer_status({"a": "better"}, {"a": ["better", "better"]}).startswith("not reproduced (every")
    line = transfer_status({"a": "better", "b": "better", "c": "worse"},
                           {"a": ["better", "inconclusive"], "b": ["worse", "better"], "c": ["better", "better"]})
    assert line.startswith("reproduced") and "2 of 4 task comparisons of the 2 alignment-improving" in line
