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


@pytest.mark.parametrize("sentence, versus, english, control, starts", [
    ("better", "better", "better", "better", "reproduced"),
    ("better", "better", "inconclusive", "better", "partly reproduced (sentence InfoNCE beats"),
    ("better", "better", "worse", "worse", "partly reproduced (sentence InfoNCE beats"),
    ("better", "better", "better", "inconclusive", "partly reproduced (sentence InfoNCE beats"),
    ("better", "inconclusive", "better", "better", "partly reproduced (English-only SimCSE beats the starting model and its"),
    ("inconclusive", "worse", "better", "better", "partly reproduced (English-only SimCSE beats the starting model and its no-dropout control; sentence InfoNCE shows no"),
    ("better", "worse", "inconclusive", "better", "not reproduced (sentence InfoNCE gains, but less than distillation"),
    ("better", "inconclusive", "better", "inconclusive", "not reproduced (sentence InfoNCE gains, but not measurably more than"),
    ("worse", "worse", "inconclusive", "better", "contradicted"),
    ("inconclusive", "inconclusive", "worse", "inconclusive", "contradicted"),
    ("inconclusive", "better", "better", "worse", "not reproduced (no contrastive"),
])
def test_contrastive_status_every_branch(sentence, versus, english, control, starts):
    from xalign_utils.findings import contrastive_status

    line = contrastive_status(sentence, versus, english, control)
    assert line.startswith(starts)
    if english == "worse" and starts.startswith("partly"):
        assert "lowers" in line
    if english == "better" and control != "better" and not starts.startswith(("reproduced", "contradicted", "not reproduced (no")):
        assert "without dropout positives" in line


def test_contrastive_status_refuses_a_non_verdict():
    from xalign_utils.findings import contrastive_status

    with pytest.raises(ValueError, match="unknown verdict"):
        contrastive_status("better", "higher", "better", "better")


@pytest.mark.parametrize("tasks, starts", [
    ({"apps": "better", "POS": "better"}, "reproduced"),
    ({"apps": "inconclusive", "POS": "better"}, "partly reproduced (code-switched task data helps POS;"),
    ({"apps": "worse", "POS": "better"}, "mixed (code-switched task data helps POS and hurts apps)"),
    ({"apps": "worse", "POS": "inconclusive"}, "contradicted"),
    ({"apps": "inconclusive", "POS": "inconclusive"}, "not reproduced"),
])
def test_augmentation_status_every_branch(tasks, starts):
    from xalign_utils.findings import augmentation_status

    assert augmentation_status(tasks).startswith(starts)


@pytest.mark.parametrize("ref, plain, vs_ref, starts", [
    ({"POS": "better"}, {"POS": "better"}, {"POS": "inconclusive"}, "reproduced on POS"),
    ({"POS": "inconclusive"}, {"POS": "better"}, {"POS": "better"}, "reproduced on POS"),
    ({"POS": "better", "p1": "better"}, {"POS": "better", "p1": "inconclusive"}, {"POS": "better", "p1": "worse"},
     "partly reproduced (on POS code-switched MLM beats plain MLM and is not below TLM; on p1 TLM gains"),
    ({"p1": "better"}, {"p1": "inconclusive"}, {"p1": "worse"}, "not reproduced (on p1 TLM gains"),
    ({"p1": "inconclusive"}, {"p1": "better"}, {"p1": "inconclusive"}, "cannot be decided here"),
    ({"p1": "better"}, {"p1": "better"}, {"p1": "worse"}, "not reproduced (on p1"),
])
def test_stand_in_status_every_branch(ref, plain, vs_ref, starts):
    from xalign_utils.findings import stand_in_status

    assert stand_in_status(ref, plain, vs_ref).startswith(starts)
