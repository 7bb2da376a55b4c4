"""Notebooks under papermill with parameters other than the build's (runs after `xalign build`)."""
import json

import pytest

from xalign_utils import build

pytestmark = [pytest.mark.book, pytest.mark.slow]


def test_measuring_alignment_runs_on_languages_outside_the_ci_set(tmp_path):
    out = build.run("00_measuring_alignment", {"langs": ["en", "fi", "tr"]}, tmp_path)
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"base_p1_cosine", "control_p1_cosine", "pos_base_xling"} <= set(metrics)
    nb = json.loads((out / "00_measuring_alignment.ipynb").read_text())
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "fi" in "".join(injected[0]["source"])


def test_cli_refuses_bad_parameter_before_compute(capsys):
    from xalign_utils.cli import main

    assert main(["run", "00_measuring_alignment", "-p", "langs", "en"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xalign: error: parameter langs of 00_measuring_alignment must be a list")
    assert err.count("\n") == 1
