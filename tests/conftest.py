import atexit
import os
import shutil
import tempfile

import pytest
import torch

# The suite times toy nets on shared machines and asserts no figures: a busy machine warns instead of
# refusing (nas.latency.contention; the tests of the refusal unset it).
os.environ.setdefault("NAS_ALLOW_BUSY", "1")

# Lowered programs (nas.runtimes.store) go to a store of this run's own, not the user's ~/.cache.
if "NAS_LOWERED_CACHE" not in os.environ:
    os.environ["NAS_LOWERED_CACHE"] = tempfile.mkdtemp(prefix="nas-lowered-tests-")
    atexit.register(shutil.rmtree, os.environ["NAS_LOWERED_CACHE"], True)

# Tiny tensors gain nothing from intra-op threads, and on a busy 2-core machine OpenMP's spinning
# threads slow them 10x: the suite runs single-threaded.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
