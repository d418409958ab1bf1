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


@pytest.fixture
def fake_backend(monkeypatch):
    """A runtime whose 'program' is the pickled eager module: the builder's plumbing without lowering costs.
    Registered for the test only (other tests list the runtime names)."""
    import io as _io

    from nas.runtimes import RUNTIMES
    from nas.runtimes.base import Artifact, Backend, weight_bytes

    class Fake(Backend):
        name, package, extra = "fake", "torch", "fake"

        def version(self):
            return "0.1"

        def export(self, module, inputs, dtype, calibration):
            buf = _io.BytesIO()
            torch.save(module, buf)
            return Artifact(buf.getvalue(), ".pt", weight_bytes(module, dtype))

        def session(self, artifact, threads):
            module = torch.load(_io.BytesIO(artifact.data), weights_only=False)
            return lambda inputs: module(*inputs)

    monkeypatch.setitem(RUNTIMES._items, "fake", Fake)
    monkeypatch.setitem(RUNTIMES._meta, "fake", {})
    return Fake()
