"""``bench/export_runtimes.py``: a format failing its check is recorded and the net exported again without it."""

from types import SimpleNamespace

import pytest

from nas.errors import NasError
from nas.export.runtimes import FormatError
from bench_script import load_bench_script


def load_bench():
    return load_bench_script("export_runtimes")


def fake_export(bad):
    calls = []

    def run(formats):
        calls.append(list(formats))
        for f in formats:
            if f in bad:
                raise FormatError(f, "verification", "top-1 agreement >= 99% with the eager net on 1000 images", "0.0%")
        return SimpleNamespace(metadata={"runtimes": {"eager": {"ms": 1.0}, **{f: {"ms": 0.5} for f in formats}}})
    return run, calls


def test_a_failing_format_is_recorded_and_the_rest_exported_again():
    bench = load_bench()
    run, calls = fake_export({"executorch_int8"})
    info = bench.export_checked(run, ["onnx", "executorch_int8", "onnx_int8"])
    assert calls == [["onnx", "executorch_int8", "onnx_int8"], ["onnx", "onnx_int8"]]
    assert "top-1 agreement" in info["executorch_int8"]["error"] and "ms" not in info["executorch_int8"]
    assert info["onnx"] == {"ms": 0.5} and info["onnx_int8"] == {"ms": 0.5}


def test_an_error_not_naming_a_format_is_not_swallowed():
    bench = load_bench()

    def run(formats):
        raise NasError("arch.yaml", "choices", "a valid arch")
    with pytest.raises(NasError, match="arch.yaml"):
        bench.export_checked(run, ["onnx"])
