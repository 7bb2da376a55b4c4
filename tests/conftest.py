import os

import numpy as np
import pytest

os.environ.setdefault("XALIGN_QUIET", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

if os.environ.get("PYTEST_XDIST_WORKER"):  # several test processes share the cores: one share each
    import torch

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
