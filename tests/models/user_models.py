"""Plain nn.Module factories as a user would write them (no tempcheck imports), for the
functional-bank tests and the ``--model python:...`` end-to-end tests."""

from __future__ import annotations

import torch
from torch import nn


def mlp(num_classes: int = 10, in_channels: int = 1, image_size: int = 8, hidden: int = 32):
    d = in_channels * image_size * image_size
    return nn.Sequential(nn.Flatten(), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, num_classes))


def small_cnn(num_classes: int = 10, in_channels: int = 1, image_size: int = 8, width: int = 8,
              dropout: float = 0.2):
    """Conv–BN–ReLU, channel dropout, max-pool, conv–BN–ReLU, average pool, dropout, linear."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Dropout2d(dropout), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1, bias=False), nn.BatchNorm2d(2 * width),
        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
        nn.Linear(2 * width, num_classes),
    )


class ProjectedNet(nn.Module):
    """A fixed random projection drawn at init (a buffer, so per member and from its seed), a
    steps counter buffer updated in place in training, and a learned head."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 8,
                 dim: int = 24):
        super().__init__()
        d = in_channels * image_size * image_size
        self.register_buffer("projection", torch.randn(d, dim) / d**0.5)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.hidden = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x):
        if self.training:
            self.steps += 1
        h = torch.relu(self.hidden(x.flatten(1) @ self.projection))
        return self.head(h)


def projected(**kwargs):
    return ProjectedNet(**kwargs)


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        z = self.fc(x.flatten(1))
        if z.sum() > 0:  # a Python branch on a tensor's value
            return z
        return -z


class ReadsItem(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        z = self.fc(x.flatten(1))
        return z / float(z.abs().max().item())


class InplaceOnInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x.sub_(0.5)  # changes the caller's batch
        return self.fc(x.flatten(1))


class RandomNoise(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc(x.flatten(1) + 0.1 * torch.randn_like(x.flatten(1)))


class NotLogits(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)

    def forward(self, x):
        return self.conv(x)


class TokenBag(nn.Module):
    """Mean of token embeddings (padding excluded), then a linear head: a text classifier."""

    def __init__(self, num_classes: int = 2, vocab_size: int = 50, pad_id: int = 0,
                 dim: int = 8):
        super().__init__()
        self.pad_id = pad_id
        self.embed = nn.Embedding(vocab_size, dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, tokens):
        mask = (tokens != self.pad_id).unsqueeze(-1).float()
        h = (self.embed(tokens) * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(h)
