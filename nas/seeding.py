"""The one seeding helper: Python's, NumPy's and torch's global generators from one seed."""

from __future__ import annotations

import contextlib
import random
from typing import Iterator

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Leave Python's, NumPy's and torch's global generators as they were (for checks that draw from them)."""
    state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])
        torch.set_rng_state(state[2])
