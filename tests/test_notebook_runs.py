"""Notebooks under papermill with parameters other than the build's (runs after `xalign build`)."""
import json

import pytest

from xalign_utils import build

pytestmark = [pytest.mark.book, pytest.mark.slow]


def test_measuring_alignment_runs_on_languages_outside_the_ci_set(tmp_path):
    # smaller sizes than the build's (the point is other languages end to end, not the ci numbers)
    params = {"langs": ["en", "fi", "tr"], "control_seeds": [0], "reference": "", "n_fit": 300, "pos_sentences": 100,
              "apps_train": 800, "pos_train": 2000, "resamples": 1000}
    out = build.run("00_measuring_alignment", params, tmp_path)
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

    from xalign_utils.chapters import CHAPTERS, Chapter

    table = read_results(build.results_file("ci"))
    for stem in build.notebooks():
        if not CHAPTERS.get(stem, Chapter).records_results:  # 07 reads the others' results, records none
            assert not build.results_file("ci", stem).exists() and stem not in set(table.notebook), stem
            continue
        own = read_results(build.results_file("ci", stem))
        assert len(own) and set(own.variant) == set(table[table.notebook == stem].variant), stem
        assert len(table[table.notebook == stem]) == len(own)



def test_synthesis_reruns_from_the_collected_results_alone(tmp_path):
    out = build.run("07_synthesis", {"resamples": 1000, "corr_resamples": 200}, tmp_path)
    metrics = json.loads((out / "metrics.json").read_text())
    from xalign_utils.ledger import FINDINGS

    assert {f"f{i}_check1" for i in range(1, len(FINDINGS) + 1)} <= set(metrics)
    assert any(k.startswith("rho_weak_pos") for k in metrics)


def test_synthesis_names_the_missing_chapter_and_the_command(tmp_path):
    # the book preset is not built in CI: the setup cell stops with one line naming the first chapter
    if (build.results_file("book", "00_measuring_alignment")).exists():
        pytest.skip("the book preset was built here")
    with pytest.raises(build.BuildError) as e:
        build.run("07_synthesis", {"preset": "book", "resamples": 1000, "corr_resamples": 200}, tmp_path)
    assert ("MissingResults: chapter 00_measuring_alignment has no results for preset 'book'; build it first: "
            "xalign build --preset book --notebook 00_measuring_alignment --no-render") in str(e.value)
