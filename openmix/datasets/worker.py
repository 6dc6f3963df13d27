"""Data-loader worker seeding."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

from openmix.registry import FUNCTIONS


@FUNCTIONS.register_module()
def seed_worker(worker_id: int) -> None:
    """Seed ``random``, ``numpy`` and ``torch`` in a loader worker from its torch seed and the rank.

    PyTorch gives each worker ``torch.initial_seed() = base_seed + worker_id``, where ``base_seed`` is drawn from
    the main process's torch RNG whenever an epoch's iterator starts (non-persistent workers). Deriving all three
    generators from it makes augmentations differ between epochs and workers, and a resume that restores the
    main RNG (``RandomStateHook``) replays them exactly. The rank is mixed in so that ranks started from the same
    run seed do not draw the same augmentations. (mmengine's default re-uses one fixed seed every epoch.)
    """
    rank = int(os.environ.get('RANK', 0))
    state = np.random.SeedSequence([torch.initial_seed() % 2**63, rank]).generate_state(2, dtype=np.uint32)
    random.seed(int(state[0]))
    np.random.seed(int(state[1]))
    torch.manual_seed(int(state[0]) << 32 | int(state[1]))
