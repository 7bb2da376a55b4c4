"""Bad input is refused before any kernel starts, in seconds: a hub model that cannot be had (no network,
no HF_HUB_OFFLINE) and a data folder that does not exist. The bound of 15 s is the issue's; both take
about a second without load (no torch import, a bounded connection attempt)."""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xalign_utils import hub

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args, env_changes=None, drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_changes or {})
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "xalign_utils.cli", *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    return proc, time.monotonic() - t0


def test_the_reachability_check_gives_up_at_its_timeout(monkeypatch):
    import threading

    released = threading.Event()

    def hang(*args, **kwargs):  # a connection attempt that never answers (until the test ends)
        released.wait(30)
        raise OSError("never answered")

    monkeypatch.setattr(socket, "create_connection", hang)
    t0 = time.monotonic()
    try:
        assert hub.reachable(timeout=0.5) is False
        assert time.monotonic() - t0 < 5
    finally:
        released.set()


def test_an_unreachable_hub_model_is_refused_in_one_line(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(hub, "reachable", lambda timeout=hub.TIMEOUT_S: False)
    with pytest.raises(hub.HubUnavailableError, match=r"hub model 'no-such-org/no-such-model' is not in the local HF "
                                                      r"cache and huggingface.co cannot be reached") as e:
        hub.check_model("no-such-org/no-such-model")
    assert "\n" not in str(e.value)


def test_cli_refuses_a_hub_model_it_cannot_get_within_15_s(tmp_path):
    proc, seconds = run_cli("run", "00_measuring_alignment", "-p", "model", "no-such-org/no-such-model",
                            "--out", str(tmp_path / "out"), drop=("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("xalign: error: hub model 'no-such-org/no-such-model'") and proc.stderr.count("\n") == 1
    assert seconds < 15, seconds
    assert not (tmp_path / "out").exists()  # no kernel ran, nothing was written


def test_cli_refuses_a_missing_data_folder_within_15_s(tmp_path):
    proc, seconds = run_cli("run", "00_measuring_alignment", "--out", str(tmp_path / "out"),
                            env_changes={"XALIGN_DATA_DIR": str(tmp_path / "nonexistent")})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("xalign: error: data folder") and "XALIGN_DATA_DIR" in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert seconds < 15, seconds
    assert not (tmp_path / "out").exists()
