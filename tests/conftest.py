from __future__ import annotations

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


# The test machines are small and shared: one intra-op thread is much faster than two fighting
# over a loaded core for the tiny convolutions the tests run.
torch.set_num_threads(1)
