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


@pytest.mark.parametrize("full, gain, centred, vs_full, strong, starts", [
    ("better", {"rank 1": "better", "rank 4": "better"}, {"rank 1": "better", "rank 4": "better"},
     {"rank 1": "worse", "rank 4": "inconclusive"}, {"rank 1": "worse", "rank 4": "inconclusive"},
     "reproduced (rank 4: 2.0 %"),
    ("inconclusive", {"rank 1": "better", "rank 4": "better"}, {"rank 1": "better", "rank 4": "better"},
     {"rank 1": "better", "rank 4": "better"}, {"rank 1": "better", "rank 4": "better"}, "reproduced (rank 1: 0.5 %"),
    ("better", {"rank 1": "better", "rank 4": "better"}, {"rank 1": "inconclusive", "rank 4": "better"},
     {"rank 1": "inconclusive", "rank 4": "inconclusive"}, {"rank 1": "worse", "rank 4": "worse"},
     "partly reproduced (rank 4, 2.0 % of the trained parameters, is level with full fine-tuning on weak"),
    ("better", {"rank 1": "better", "rank 4": "inconclusive"}, {"rank 1": "better", "rank 4": "better"},
     {"rank 1": "worse", "rank 4": "worse"}, {"rank 1": "worse", "rank 4": "worse"}, "partly reproduced (LoRA gains, rank 1,"),
    ("better", {"rank 1": "better", "rank 4": "inconclusive"}, {"rank 1": "inconclusive", "rank 4": "inconclusive"},
     {"rank 1": "worse", "rank 4": "worse"}, {"rank 1": "worse", "rank 4": "worse"}, "not reproduced (LoRA's raw gains, rank 1,"),
    ("better", {"rank 1": "worse", "rank 4": "inconclusive"}, {"rank 1": "worse", "rank 4": "inconclusive"},
     {"rank 1": "worse", "rank 4": "worse"}, {"rank 1": "worse", "rank 4": "worse"}, "not reproduced (full fine-tuning gains"),
    ("inconclusive", {"rank 1": "inconclusive"}, {"rank 1": "inconclusive"}, {"rank 1": "inconclusive"},
     {"rank 1": "inconclusive"}, "cannot be decided"),
])
def test_adapter_status_every_branch(full, gain, centred, vs_full, strong, starts):
    from xalign_utils.findings import adapter_status

    out = adapter_status(full, gain, centred, vs_full, strong, {"rank 1": 0.005, "rank 4": 0.02})
    assert out.startswith(starts), out
    if full != "better" and starts.startswith("reproduced"):
        assert "full fine-tuning itself shows no gain" in out


@pytest.mark.parametrize("learned, transfers, task_only, full, identity, starts", [
    ({"POS": False, "apps": False}, {}, {}, {}, "inconclusive", "cannot be decided here (no fine-tuned"),
    ({"POS": True, "apps": False}, {"POS": False}, {"POS": "better"}, {}, "inconclusive",
     "cannot be decided here (POS learned on English, but no route beats the majority class zero-shot)"),
    ({"POS": True, "apps": False}, {"POS": True}, {"POS": "better", "apps": "worse"}, {"POS": "inconclusive"},
     "inconclusive", "reproduced on POS (better than the task adapter alone, not below full fine-tuning on POS"),
    ({"apps": True}, {"apps": True}, {"apps": "better"}, {}, "inconclusive",
     "reproduced on apps (better than the task adapter alone; language identity is kept)"),
    ({"POS": True, "apps": True}, {"POS": True, "apps": True}, {"POS": "better", "apps": "inconclusive"},
     {"POS": "worse", "apps": "better"}, "inconclusive",
     "not reproduced (swapping language adapters transfers POS worse than full fine-tuning;"),
    ({"POS": True}, {"POS": True}, {"POS": "better"}, {"POS": "better"}, "better",
     "partly reproduced (better transfer on POS, but the language adapters remove"),
    ({"POS": True}, {"POS": True}, {"POS": "inconclusive"}, {"POS": "inconclusive"}, "worse",
     "not reproduced (no transfer difference the interval can tell from zero; language identity is kept (more"),
])
def test_modular_status_every_branch(learned, transfers, task_only, full, identity, starts):
    from xalign_utils.findings import modular_status

    out = modular_status(learned, transfers, task_only, full, identity)
    assert out.startswith(starts), out
    with pytest.raises(ValueError, match="unknown verdict"):
        modular_status(learned, transfers, {"POS": "yes"}, full, identity)


B, W, I = "better", "worse", "inconclusive"


@pytest.mark.parametrize("last, first, control, starts", [
    ({"weak P@1": B, "strong mAP": B}, {"weak P@1": B, "strong mAP": B}, {"weak P@1": I, "strong mAP": W},
     "cannot be decided here (at the middle hidden state the pretrained decoder is above its random-init control on no"),
    ({"weak P@1": B, "strong mAP": B}, {"weak P@1": B, "strong mAP": B}, {"weak P@1": B}, "reproduced (the middle"),
    ({"weak P@1": W, "strong mAP": W}, {"weak P@1": B, "strong mAP": B}, {"strong mAP": B}, "contradicted"),
    ({"weak P@1": B, "strong mAP": W}, {"weak P@1": B, "strong mAP": B}, {"weak P@1": B},
     "mixed (the middle hidden state peaks on weak P@1; the last is better on strong mAP)"),
    ({"weak P@1": B, "strong mAP": I}, {"weak P@1": I, "strong mAP": B}, {"weak P@1": B},
     "not reproduced (no measure peaks in the middle by more"),
    ({"weak P@1": W, "strong mAP": I}, {"weak P@1": B, "strong mAP": B}, {"weak P@1": B},
     "not reproduced (no measure peaks in the middle; the last hidden state is better on weak P@1)"),
])
def test_layer_status_every_branch(last, first, control, starts):
    from xalign_utils.findings import layer_status

    assert layer_status(last, first, control).startswith(starts)
    with pytest.raises(ValueError, match="unknown verdict"):
        layer_status({"weak P@1": "up"}, {}, {})


@pytest.mark.parametrize("raw, centred, language, script, late, starts", [
    ({"m1": I, "l1": W}, {"m1": B, "l1": B}, {"m1": W}, {}, {}, "cannot be decided here"),
    ({"m1": B}, {"m1": I}, {"m1": W}, {"m1": W}, {}, "cannot be decided here"),  # raw gain only: a shift of means
    ({"m1": B, "l1": B}, {"m1": B, "l1": B}, {"m1": I, "l1": W}, {"m1": I, "l1": W}, {"λ = 1": W},
     "reproduced (l1 gain alignment and lose correct-language output, writing more letters of another script; aligning "
     "the last hidden state costs more than the middle one at λ = 1)"),
    ({"m1": B, "l1": B}, {"m1": B, "l1": B}, {"m1": W, "l1": W}, {"m1": I, "l1": B}, {"λ = 1": I},
     "partly reproduced (m1, l1 gain alignment and lose correct-language output, but write no more letters"),
    ({"m1": B}, {"m1": B}, {"m1": I}, {"m1": W}, {"λ = 1": I}, "not reproduced (m1 gain alignment without a measurable"),
    ({"m1": I, "l1": B}, {"m1": I, "l1": B}, {"m1": W, "l1": B}, {}, {}, "not reproduced (l1 gain"),
])
def test_generative_status_every_branch(raw, centred, language, script, late, starts):
    from xalign_utils.findings import generative_status

    out = generative_status(raw, centred, language, script, late)
    assert out.startswith(starts), out
    with pytest.raises(ValueError, match="unknown verdict"):
        generative_status({"x": "more"}, {}, {}, {}, {})


def test_glue_verdict_glues_the_interval_and_the_phrase_of_its_verdict(monkeypatch):
    from xalign_utils import record
    from xalign_utils.metrics import Interval, verdict_table

    glued = {}
    monkeypatch.setattr(record, "glue_text", lambda name, text: glued.setdefault(name, text))
    iv = Interval(0.1, 0.05, 0.15, 100, 1000, 0, 0.95)
    assert record.glue_verdict("x", (iv, "worse"), "raises", "lowers", "leaves") == "lowers"
    assert glued == {"iv_x": str(iv), "verdict_x": "lowers"}
    table = verdict_table({"a − b": (iv, "better")}, "gain")
    assert list(table.columns) == ["gain", "verdict"] and table.loc["a − b", "verdict"] == "better"


def test_the_verdicts_of_a_gain_table_are_counted_row_by_row_without_its_empty_cells():
    import numpy as np
    import pandas as pd

    from xalign_utils.metrics import Verdicts

    table = pd.DataFrame({"a Δ": ["x", "y"], "a: verdict": ["better", "worse"],
                          "b: verdict": ["inconclusive", np.nan]}, index=["r1", "r2"])
    v = Verdicts()
    assert v.extend_gains(table) == ["better", "inconclusive", "worse"] and v == ["better", "inconclusive", "worse"]


def test_script_groups_leave_english_out_and_keep_the_order():
    from xalign_utils.languages import script_groups

    assert script_groups(["en", "de", "ru", "es", "zh"]) == (["de", "es"], ["ru", "zh"])
    assert script_groups(["en", "de"]) == (["de"], [])


def test_a_chapter_glues_how_many_verdicts_it_read(monkeypatch):
    from xalign_utils import record
    from xalign_utils.metrics import Verdicts

    glued = {}
    monkeypatch.setattr(record, "glue_text", lambda name, text: glued.setdefault(name, text))
    v = Verdicts()
    v.extend(["better"] * 30)
    assert v.glue_count(extra=2) == 32 and glued == {"n_verdicts": "32", "n_spurious": "1.6"}


def test_interval_lines_draw_each_mean_with_its_bounds():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pytest

    from xalign_utils import plot
    from xalign_utils.metrics import Interval

    fig, ax = plt.subplots()
    plot.interval_lines([1, 2], [Interval(0.1, 0.0, 0.3, 9, 100, 0, 0.95), (0.2, 0.15, 0.4)], ax, label="a")
    line = ax.lines[0]
    np.testing.assert_allclose(line.get_ydata(), [0.1, 0.2])
    segments = ax.collections[0].get_segments()  # the error bars: from low to high at each x
    np.testing.assert_allclose([s[:, 1] for s in segments], [[0.0, 0.3], [0.15, 0.4]])
    with pytest.raises(ValueError, match="2 positions but 1 intervals"):
        plot.interval_lines([1, 2], [(0.1, 0.0, 0.2)], ax)
    plt.close(fig)
