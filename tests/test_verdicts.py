"""Verdicts of two builds side by side: read from glue outputs, compared by their words, not numbers."""
import json

from xalign_utils import verdicts as V


def _nb(path, **glue):
    outs = [{"output_type": "display_data", "data": {"application/papermill.record/text/plain": repr(v)},
             "metadata": {"scrapbook": {"name": k, "mime_prefix": "application/papermill.record/"}}}
            for k, v in glue.items()]
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "", "outputs": outs}]}))
    return path


def test_only_readings_that_differ_are_flips(tmp_path):
    a = V.glued(_nb(tmp_path / "a.ipynb", verdict_x="raises", verdict_y="lowers (Δ -0.1 [-0.2, -0.05])",
                    status_finding1="reproduced: a − b +0.1 [+0.05, +0.15]", iv_x="+0.1 [+0.05, +0.15]",
                    verdict_only_a="raises"))
    b = V.glued(_nb(tmp_path / "b.ipynb", verdict_x="does not measurably change", verdict_y="lowers (Δ -0.3 [-0.4, -0.2])",
                    status_finding1="partly reproduced (one of two checks)"))
    assert "iv_x" not in a and a["verdict_x"] == "raises"
    assert V.compare(a, b) == [("status_finding1", "reproduced", "partly reproduced"),
                               ("verdict_x", "raises", "does not measurably change")]
    assert V.reading("InfoNCE Δ +0.1") == "InfoNCE"
