"""Test-wide settings and the fixtures many test files share.

One torch thread: tiny models run fastest that way on a small CPU, and results are then
independent of how many cores the machine has. ``digits`` is the embedded dataset, loaded once
per session (helpers in tests/support.py).
"""

import pytest
import torch

import support

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def digits():
    """The embedded digits dataset (train / val / test splits)."""
    return support.digits()
