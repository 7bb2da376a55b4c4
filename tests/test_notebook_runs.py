"""Notebooks under papermill with parameters other than the build's (runs after `xalign build`)."""
import json

import pytest

from xalign_utils import build

pytestmark = [pytest.mark.book, pytest.mark.slow]


def test_measuring_alignment_runs_on_languages_outside_the_ci_set(tmp_path):
    out = build.run("00_measuring_alignment", {"langs": ["en", "fi", "tr"], "control_seeds": [0]}, tmp_path)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"base_p1_centred", "control_p1_centred", "apps_base_xling", "pos_base_xling"} <= set(metrics)
    import pandas as pd

    results = pd.read_csv(out / "results.csv")
    assert set(results.variant) >= {"base", "random-init-0", "tfidf"} and set(results.tgt) >= {"fi", "tr"}
    nb = json.loads((out / "00_measuring_alignment.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "fi" in "".join(injected[0]["source"])


def test_cli_refuses_bad_parameter_before_compute(capsys):
    from xalign_utils.cli import main

    assert main(["run", "00_measuring_alignment", "-p", "langs", "en"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xalign: error: parameter langs of 00_measuring_alignment must be a list")
    assert err.count("\n") == 1


def test_collected_results_hold_every_notebooks_variants():
    from xalign_utils.record import read_results

    table = read_results(build.results_file("ci"))
    for stem in build.notebooks():
        own = read_results(build.results_file("ci", stem))
        assert len(own) and set(own.variant) == set(table[table.notebook == stem].variant), stem
        assert len(table[table.notebook == stem]) == len(own)


@pytest.mark.parametrize("overrides, match", [
    ({"sizes": [32, 600]}, r"sizes must be increasing integers between 1 and \d+"),
    ({"steps": 0}, "steps must be a positive integer"),
    ({"langs": ["de", "ru"]}, "langs must include 'en'"),
])
def test_parallel_data_refuses_bad_parameters_before_training(tmp_path, overrides, match):
    """The chapter's own checks run in its setup cell, before the base model is loaded or anything trains."""
    with pytest.raises(build.BuildError, match=match):
        build.run("01_parallel_data", overrides, tmp_path)


@pytest.mark.parametrize("overrides, match", [
    ({"negatives": [4, 2]}, r"batch_size and the sweep's negatives must be integers between 2 and \d+"),
    ({"tau": 0.0}, "lr, tau and word_tau must be positive"),
    ({"langs": ["en", "de"]}, "at least two other languages"),
    ({"pooling": "max"}, "pooling must be 'mean' or 'cls'"),
])
def test_contrastive_refuses_bad_parameters_before_training(tmp_path, overrides, match):
    with pytest.raises(build.BuildError, match=match):
        build.run("02_contrastive", overrides, tmp_path)


@pytest.mark.parametrize("overrides, match", [
    ({"p": 1.5}, r"p and the values of p_sweep must be in \(0, 1\]"),
    ({"mlm_steps": 0}, "mlm_steps must be a positive integer"),
])
def test_augmentation_refuses_bad_parameters_before_training(tmp_path, overrides, match):
    with pytest.raises(build.BuildError, match=match):
        build.run("04_augmentation", overrides, tmp_path)


@pytest.mark.parametrize("overrides, match", [
    ({"ranks": [4, 0]}, "ranks must be a non-empty increasing list of positive integers"),
    ({"lang_steps": -1}, "lang_steps must be a positive integer"),
    ({"adapter_lr": 0.0}, "lr, adapter_lr, finetune_lr and tau must be positive"),
])
def test_adapters_refuse_bad_parameters_before_training(tmp_path, overrides, match):
    with pytest.raises(build.BuildError, match=match):
        build.run("03_adapters", overrides, tmp_path)


@pytest.mark.parametrize("overrides, match", [
    ({"weights": [10.0, 1.0]}, "weights must be a non-empty increasing list of positive numbers"),
    ({"align_layers": [1, "middle"]}, r"align_layers name the same hidden state twice"),
])
def test_generative_refuses_bad_parameters_before_training(tmp_path, overrides, match):
    with pytest.raises(build.BuildError, match=match):
        build.run("06_generative", overrides, tmp_path)
