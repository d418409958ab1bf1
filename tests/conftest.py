import pytest
import torch

# Tiny tensors gain nothing from intra-op threads, and on a busy 2-core machine OpenMP's spinning
# threads slow them 10x: the suite runs single-threaded.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
