import os

import numpy as np
import pytest

os.environ.setdefault("XALIGN_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture
def rng():
    return np.random.default_rng(0)
