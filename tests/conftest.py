"""Test-wide settings: one torch thread (tiny models run fastest that way on a small CPU, and
results are then independent of how many cores the machine has)."""

import torch

torch.set_num_threads(1)
