"""Noise corruptions: gaussian, shot (Poisson), impulse (salt and pepper) and the extra
speckle noise. Each is ``f(x, parameter, job) -> y`` on ``(N, C, H, W)`` in [0, 1]."""

from __future__ import annotations

import torch


def _gaussian_noise(x, c, job):
    return x + c * job.randn(*x.shape)


def _shot_noise(x, c, job):
    rate = (x * c).to(job.generator.device, torch.float32)
    return torch.poisson(rate, generator=job.generator).to(x.device, x.dtype) / c


def _impulse_noise(x, c, job):
    # skimage s&p: flip with probability c, then salt or pepper with probability 1/2 each
    u = job.rand(*x.shape)
    return torch.where(u < c / 2, torch.ones_like(x), torch.where(u < c, torch.zeros_like(x), x))


def _speckle_noise(x, c, job):
    return x + x * c * job.randn(*x.shape)
