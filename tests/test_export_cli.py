"""``python -m nas.export`` on the command line: an export end to end in a real process, in-process runs,
and its user errors (one ``error:`` line, exit code 2, nothing written). The export itself:
tests/test_export.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nas.export.__main__ import main
from nas.models import create_model
from nas.space import load_space
from test_export import TOL, WIDTH, _calibrate

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.slow  # 25 s: four subprocesses; test_cli_model_in_process covers the app in the default run
def test_cli_end_to_end(tmp_path):
    space = load_space("fbnet", variant="cifar", width_mult=WIDTH)
    arch = space.sample(5)
    arch_file = arch.save(tmp_path / "found.yaml")
    child = _calibrate(space.build(arch))
    torch.save({"state_dict": child.state_dict()}, tmp_path / "ckpt.pt")
    proc = subprocess.run([sys.executable, "-m", "nas.export", f"arch={arch_file}", f"weights={tmp_path / 'ckpt.pt'}",
                           f"out={tmp_path / 'out'}"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env=ENV)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "out"
    assert {p.name for p in out.iterdir()} >= {"found.py", "weights.pt", "found.torchscript.pt", "export.json",
                                               "README.md"}
    meta = json.loads((out / "export.json").read_text())
    assert meta["choices"] == arch.choices and meta["params"] == sum(p.numel() for p in child.parameters())
    check = meta["verification"]
    diffs = check["max_abs_difference"]
    assert {"standalone", "torchscript", "fresh_interpreter_standalone", "fresh_interpreter_torchscript"} <= set(diffs)
    assert check["max_abs_logit"] > 0.05 and max(diffs.values()) <= 1e-4 * check["max_abs_logit"]  # randomised
    assert max(check["published"]["max_abs_difference"].values()) <= TOL
    weights = torch.load(out / "weights.pt", weights_only=True)
    assert all(torch.equal(weights[k], v) for k, v in child.state_dict().items())
    assert "found.py" in proc.stdout


def test_cli_model_in_process(tmp_path, capsys):
    assert main(["model=mobilenetv2_035", "variant=cifar", f"out={tmp_path / 'mbv2'}", "verify=false",
                 "onnx=false"]) == 0
    assert "exported mobilenetv2_035" in capsys.readouterr().out
    source = (tmp_path / "mbv2" / "mobilenetv2_035.py").read_text()
    assert "class MobileNetV2(nn.Module):" in source and "fresh" in (tmp_path / "mbv2" / "README.md").read_text().lower()


@pytest.fixture(scope="module")
def error_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors")
    load_space("fbnet", variant="cifar", width_mult=WIDTH).sample(0).save(root / "arch.yaml")
    torch.save({"model": create_model("mobilenetv2_035", num_classes=10, variant="cifar").state_dict()},
               root / "mbv2.pt")
    (root / "junk.pt").write_text("not a checkpoint")
    torch.save({"format": "nas-strategy-checkpoint/1", "log_records": 3, "state": {}}, root / "controller.pt")
    return root


@pytest.mark.parametrize("args, names", [
    (["arch={root}/missing.yaml"], ["missing.yaml", "arch file"]),
    (["model=mobilenet_v9"], ["mobilenet_v9", "known models"]),
    (["arch={root}/arch.yaml", "weights={root}/mbv2.pt"], ["mbv2.pt['model']", "stages."]),
    (["model=mobilenetv2_035", "variant=cifar", "num_classes=100", "weights={root}/mbv2.pt"],
     ["mbv2.pt['model']", "classifier.fc.weight", "(100, 1280)"]),
    (["model=mobilenetv2_035", "weights={root}/junk.pt"], ["junk.pt", "weights_only"]),
    (["model=mobilenetv2_035", "weights={root}/none.pt"], ["none.pt", "existing checkpoint"]),
    (["model=mobilenetv2_035", "variant=tiny"], ["variant", "imagenet, cifar"]),
    (["model=mobilenetv2_035", "arch={root}/arch.yaml"], ["exactly one of arch"]),
    (["model=mobilenetv2_035", "colour=red"], ["command line: colour: expected a key of the config", "weights"]),
    (["model=mobilenetv2_035", "seed=abc"], ["command line: seed: expected an integer, got 'abc'"]),
    (["arch={root}/arch.yaml", "variant=cifar"], ["variant: expected no value with arch="]),
    (["model=mobilenetv2_035", "num_classes=0"], ["num_classes: expected an integer >= 1"]),
    (["arch={root}/arch.yaml", "weights={root}/controller.pt"], ["controller.pt", "controller's state only"]),
], ids=["missing-arch", "unknown-model", "weights-other-net", "weights-wrong-shape", "unreadable-weights",
        "missing-weights", "bad-variant", "arch-and-model", "bad-key", "ill-typed", "variant-with-arch",
        "num-classes", "controller-checkpoint"])
def test_cli_errors(error_files, capsys, args, names):
    out = error_files / "out"
    assert main([a.format(root=error_files) for a in args] + [f"out={out}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    for n in names:
        assert n in err
    assert not out.exists()


def test_cli_error_exit_code_without_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nas.export", f"arch={tmp_path}/missing.yaml", f"out={tmp_path}/o"],
                          capture_output=True, text=True, timeout=120, env=ENV)
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()
