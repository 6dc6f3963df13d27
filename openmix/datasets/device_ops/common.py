"""Helpers shared by the device op families: uniform draws from a device generator, a host generator derived from it."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ['uniform', 'host_generator']


def uniform(shape: Sequence[int], g: torch.Generator, device: torch.device) -> torch.Tensor:
    """``U[0, 1)`` float32 of ``shape`` on ``device``, drawn from ``g`` (a generator on that device)."""
    return torch.rand(tuple(shape), generator=g, device=device)


def host_generator(g: torch.Generator, salt: int) -> torch.Generator:
    """A CPU generator seeded from ``g``'s seed and ``salt`` (an op's position in a pipeline), for ops whose draws
    must be known on the host (RandAugment groups samples by op with host indices).

    It depends only on the seed ``g`` was created with (read on the host: no device sync), not on how far ``g`` has
    advanced, so a batch drawn from a freshly seeded ``g`` (the device loader's per-batch generator) gets the same
    host draws whenever it is drawn, e.g. after a resume.
    """
    words = np.random.SeedSequence([g.initial_seed() % 2 ** 63, int(salt)]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(words[0]) << 31 | int(words[1]) >> 1)
