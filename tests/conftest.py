import os

import pytest
import torch

# The suite times toy nets on shared machines and asserts no figures: a busy machine warns instead of
# refusing (nas.latency.contention; the tests of the refusal unset it).
os.environ.setdefault("NAS_ALLOW_BUSY", "1")

# Tiny tensors gain nothing from intra-op threads, and on a busy 2-core machine OpenMP's spinning
# threads slow them 10x: the suite runs single-threaded.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
