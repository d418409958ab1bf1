"""``python -m nas.train``: a baseline and an arch file trained end to end on digits, result.json, checkpoint,
resume determinism, export of the trained weights, and every user error (some through the Hydra CLI)."""

import json
import logging
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

import nas.train.run as train_run
from nas.data import DataError
from nas.models import create_model
from nas.profile import profile
from nas.results import TrainResult
from nas.registry import UnknownNameError
from nas.space import Arch, SpaceError, load_space
from nas.train.config import register_configs
from nas.train.run import TrainError, run_train

REPO = Path(__file__).resolve().parents[1]
CONF = str(REPO / "conf")
register_configs()

RESULT_KEYS = {"kind", "schema_version", "name", "arch_file", "model", "variant", "data", "num_classes", "epochs",
               "val_acc", "best_val_acc", "params_m", "macs_m", "latency_ms", "latency", "checkpoint", "seconds",
               "seed", "history"}
TINY = ["epochs=2", "batch_size=16", "max_steps_per_epoch=2", "data.limit_val=64", "measure_latency=false"]


def compose_train(*overrides):
    with initialize_config_dir(CONF, version_base="1.3"):
        return compose("train", overrides=list(overrides))


def tiny_cfg(out, *overrides):
    return compose_train(*TINY, f"out_dir={out}", *overrides)


@pytest.fixture
def arch_file(tmp_path):
    """A random arch of the fbnet space at CIFAR resolution, width 0.25."""
    space = load_space("fbnet", variant="cifar", width_mult=0.25)
    return space.sample(random.Random(3)).save(tmp_path / "fbnet_arch.yaml")


def test_config_defaults_and_schema():
    cfg = compose_train()
    assert (cfg.data.name, cfg.device.type, cfg.epochs, cfg.batch_size, cfg.lr) == ("digits", "cpu", 30, 128, 0.1)
    assert cfg.arch is None and cfg.model is None and cfg.latency_threads is None and cfg.measure_latency
    with pytest.raises(ConfigCompositionException):
        compose_train("epoch=3")  # misspelled key
    with pytest.raises(ConfigCompositionException):
        compose_train("epochs=many")  # ill-typed value


def test_baseline_trains_and_writes_result(tmp_path):
    out = tmp_path / "run"
    cfg = compose_train("model=mobilenetv1_025", "epochs=2", "batch_size=32", "lr=0.8", "max_steps_per_epoch=12",
                        "data.limit_val=100", "latency_threads=1", f"out_dir={out}")
    result = run_train(cfg, tmp_path / "unused")
    assert TrainResult.load(out / "result.json") == result
    assert set(json.loads((out / "result.json").read_text())) == RESULT_KEYS
    assert (result.kind, result.name, result.model, result.variant, result.arch_file) == \
        ("nas.train", "mobilenetv1_025", "mobilenetv1_025", "cifar", None)
    assert (result.data, result.epochs, result.checkpoint) == ("digits", 2, "checkpoint.pt")
    assert 0.0 <= result.val_acc <= result.best_val_acc <= 1.0
    ref = profile(create_model("mobilenetv1_025", num_classes=10, variant="cifar"), (1, 3, 32, 32))
    assert result.params_m == pytest.approx(ref.params / 1e6) and result.macs_m == pytest.approx(ref.macs / 1e6)
    lat = result.latency
    assert result.latency_ms == lat["median_ms"] > 0 and 0 < lat["min_ms"] <= lat["median_ms"]
    assert (lat["device"], lat["threads"], lat["batch_size"], lat["dtype"]) == ("cpu", 1, 1, "float32")
    assert result.seconds > 0

    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and state["best_val_acc"] == result.best_val_acc
    first, last = state["history"]
    assert (first["epoch"], last["epoch"]) == (1, 2) and last["val_acc"] == result.val_acc
    assert last["train_loss"] < first["train_loss"] - 0.1 and last["train_acc"] > 0.2  # it learns (chance 0.1)
    assert (first["lr"], last["lr"]) == (pytest.approx(0.2), pytest.approx(0.1))  # 0.8 * 32 / 128, cosine
    assert {"optimizer", "scheduler", "model", "rng"} <= set(state)
    net = create_model("mobilenetv1_025", num_classes=10, variant="cifar")
    weights = torch.load(out / "weights.pt", weights_only=True)
    assert all(w.is_contiguous() for w in weights.values())  # trained channels-last, saved and timed in NCHW
    net.load_state_dict(weights)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), state["model"].values()))
    assert list((out / "tb").glob("events.out.tfevents.*")) and (out / "config.yaml").is_file()


def test_arch_file_trains_and_exports(tmp_path, arch_file):
    from nas.export.export import export_arch

    out = tmp_path / "run"
    result = run_train(tiny_cfg(out, f"arch={arch_file}", "epochs=1"), tmp_path)
    assert (result.name, result.arch_file, result.model) == ("fbnet_arch", str(arch_file.resolve()), None)
    assert result.variant == "cifar" and result.latency is None and result.latency_ms is None
    trained = Arch.load(out / "arch.yaml")
    assert trained.choices == Arch.load(arch_file).choices and trained.space_args["num_classes"] == 10
    other = load_space("fbnet", variant="cifar", width_mult=0.25).sample(random.Random(4)).save(tmp_path / "o.yaml")
    with pytest.raises(TrainError, match=r"net: .*space 'fbnet' \(variant=cifar, width_mult=0.25, num_classes=10\) "
                                         r"whose choice s\d\.\d is '\w+', not '\w+'"):
        run_train(tiny_cfg(out, f"arch={other}", "epochs=1", f"resume={out}"), tmp_path)
    exported = export_arch(out / "arch.yaml", tmp_path / "export", weights=out / "weights.pt", onnx=False,
                           verify=False)
    assert exported.metadata["weights"]["origin"] == "file"
    w = torch.load(tmp_path / "export" / "weights.pt", weights_only=True)
    assert all(torch.equal(w[k], v) for k, v in torch.load(out / "weights.pt", weights_only=True).items())


def test_arch_num_classes_follows_the_data(tmp_path, caplog):
    space = load_space("fbnet", variant="cifar", width_mult=0.25, num_classes=100)
    path = space.sample(random.Random(1)).save(tmp_path / "a100.yaml")
    out = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="nas.train"):
        run_train(tiny_cfg(out, f"arch={path}", "epochs=1", "max_steps_per_epoch=1"), tmp_path)
    assert "has 100 classes" in caplog.text and "num_classes=10" in caplog.text
    assert Arch.load(out / "arch.yaml").space_args["num_classes"] == 10
    fc = [v for k, v in torch.load(out / "weights.pt", weights_only=True).items() if v.ndim == 2]
    assert fc[-1].shape[0] == 10


class _Stop(Exception):
    pass


def test_resume_ends_like_an_uninterrupted_run(tmp_path, monkeypatch):
    common = ["model=mobilenetv1_025", "augment=true", "seed=5", "max_steps_per_epoch=3"]
    full = run_train(tiny_cfg(tmp_path / "full", *common), tmp_path)

    real = train_run.train_epoch

    def interrupted(model, loader, opt, recipe, epoch, *args, **kwargs):
        if epoch == 1:
            raise _Stop()
        return real(model, loader, opt, recipe, epoch, *args, **kwargs)

    monkeypatch.setattr(train_run, "train_epoch", interrupted)
    with pytest.raises(_Stop):
        run_train(tiny_cfg(tmp_path / "cut", *common), tmp_path)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert not (tmp_path / "cut" / "result.json").exists()
    monkeypatch.setattr(train_run, "train_epoch", real)
    resumed = run_train(tiny_cfg(tmp_path / "other", *common, f"resume={tmp_path / 'cut'}"), tmp_path)
    assert not (tmp_path / "other").exists()  # a resumed run writes into its own directory
    assert (resumed.val_acc, resumed.best_val_acc) == (full.val_acc, full.best_val_acc)
    a = torch.load(tmp_path / "full" / "weights.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "weights.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ha = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["history"]
    hb = torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=True)["history"]
    assert ha == hb


@pytest.mark.parametrize("overrides, error, match", [
    ([], TrainError, "exactly one of arch=<arch file> or model=<baseline name>, got neither"),
    (["model=mobilenetv1_025", "arch=x.yaml"], TrainError, "got both"),
    (["model=no_such_net"], UnknownNameError, "unknown model 'no_such_net'.*known models: .*mobilenetv1_025"),
    (["model=mobilenetv1_025", "variant=tiny"], TrainError, "variant: expected one of imagenet, cifar"),
    (["arch=missing.yaml"], SpaceError, r"missing\.yaml: <file>: expected an existing arch file"),
    (["model=mobilenetv1_025", "data=cifar10", "data.root=NONE"], DataError, "data.root=.*no cifar-10-batches-py"),
    (["model=mobilenetv1_025", "variant=imagenet", "data=cifar10", "data.root=NONE"], TrainError,
     "data=cifar10: resolution: expected a net taking 32 px"),
    (["model=mobilenetv1_025", "epochs=0"], TrainError, "epochs: expected a positive integer"),
    (["model=mobilenetv1_025", "device.type=tpu"], TrainError, "device.type: expected cpu, or cuda"),
    (["model=mobilenetv1_025", "latency_threads=0"], TrainError, "latency_threads: expected a positive integer"),
])
def test_user_errors_write_nothing(tmp_path, overrides, error, match):
    overrides = [o.replace("NONE", str(tmp_path / "none")) for o in overrides]
    out = tmp_path / "run"
    with pytest.raises(error, match=match):
        run_train(tiny_cfg(out, *overrides), tmp_path)
    assert not out.exists()


def test_corrupt_or_foreign_arch_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("space: fbnet\nchoices: [unclosed\n")
    with pytest.raises(SpaceError, match=r"bad\.yaml: <file>: expected valid YAML"):
        run_train(tiny_cfg(tmp_path / "run", f"arch={bad}"), tmp_path)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("space: fbnet\nspace_args: {variant: cifar}\nchoices: {s1.0: not_an_op}\n")
    with pytest.raises(SpaceError, match=r"wrong\.yaml: choices / space_args"):
        run_train(tiny_cfg(tmp_path / "run", f"arch={wrong}"), tmp_path)
    with pytest.raises(TrainError, match="variant: expected no variant with arch="):
        run_train(tiny_cfg(tmp_path / "run", f"arch={wrong}", "variant=cifar"), tmp_path)
    assert not (tmp_path / "run").exists()


def test_resume_and_run_dir_errors_leave_the_run_untouched(tmp_path, arch_file):
    run = tmp_path / "run"
    run_train(tiny_cfg(run, "model=mobilenetv1_025", "epochs=1", "max_steps_per_epoch=1"), tmp_path)
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    with pytest.raises(TrainError, match="resume=.*checkpoint.pt: expected the directory of an earlier"):
        run_train(tiny_cfg(run, "model=mobilenetv1_025", f"resume={tmp_path / 'empty'}"), tmp_path)
    with pytest.raises(TrainError, match="net: expected a checkpoint of the net this run trains"):
        run_train(tiny_cfg(run, f"arch={arch_file}", "epochs=1", f"resume={run}"), tmp_path)
    with pytest.raises(TrainError, match=r"epochs: expected 2 \(this run's value.*got 1 in the checkpoint"):
        run_train(tiny_cfg(run, "model=mobilenetv1_025", "max_steps_per_epoch=1", f"resume={run}"), tmp_path)
    with pytest.raises(TrainError, match="expected a new run directory"):
        run_train(tiny_cfg(run, "model=mobilenetv1_025", "epochs=1"), tmp_path)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainError, match="expected a checkpoint that torch.load reads with weights_only=True"):
        run_train(tiny_cfg(run, "model=mobilenetv1_025", f"resume={tmp_path / 'junk'}"), tmp_path)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


def test_nan_loss_ends_in_one_error(tmp_path):
    with pytest.raises(TrainError, match=r"loss: expected a finite training loss .*loss is nan at epoch 1, step \d"):
        run_train(tiny_cfg(tmp_path / "run", "model=mobilenetv1_025", "lr=nan"), tmp_path)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.parametrize("args, message", [
    ([], "error: config: arch / model: expected exactly one of"),
    (["model=no_such_net"], "error: unknown model 'no_such_net'"),
    (["model=mobilenetv1_025", "data=cifar10", "data.root=NONE"], "error: data.root="),
])
def test_cli_prints_one_error_line(tmp_path, args, message):
    args = [a.replace("NONE", str(tmp_path / "none")) for a in args]
    out = subprocess.run([sys.executable, "-m", "nas.train", *args, f"out_dir={tmp_path / 'run'}"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message) and "Traceback" not in out.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_cli_trains_and_names_the_run_dir(tmp_path):
    out = subprocess.run([sys.executable, "-m", "nas.train", "model=mobilenetv1_025", *TINY, "epochs=1"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    runs = list((tmp_path / "outputs" / "train").iterdir())
    assert len(runs) == 1 and f"run dir: {runs[0]} " in out.stdout
    assert json.loads((runs[0] / "result.json").read_text())["epochs"] == 1


def test_channels_last_training_matches_the_default_layout():
    """``to_device``/``batch_to`` change the memory format only: same gradients up to rounding (in float64;
    in float32 batch-8 BatchNorm amplifies the rounding differences to ~1% of the gradient's norm)."""
    from nas.loops import batch_to, to_device

    x, y = torch.randn(8, 3, 32, 32, dtype=torch.float64), torch.randint(0, 10, (8,))
    grads = []
    for channels_last in (False, True):
        torch.manual_seed(0)
        net = create_model("mobilenetv2_035", num_classes=10, variant="cifar").double().train()
        inp = x
        if channels_last:
            net, inp = to_device(net), batch_to(x)
            assert inp.is_contiguous(memory_format=torch.channels_last)
            assert net.stem.conv.weight.is_contiguous(memory_format=torch.channels_last)
        torch.nn.functional.cross_entropy(net(inp), y).backward()
        grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert torch.allclose(grads[0], grads[1], rtol=1e-9, atol=1e-12)


def test_warmup_ramps_the_lr_step_by_step_then_hands_back_to_the_schedule():
    from nas.data import BatchLoader, load_digits_data, limit
    from nas.loops import Recipe, make_optimizer, train_epoch

    data = limit(load_digits_data(32), 64, 0)
    net = create_model("mobilenetv1_025", num_classes=10, variant="cifar")
    recipe = Recipe(epochs=3, batch_size=16, lr=0.4, warmup_epochs=1.5, augment=False)
    opt, sched = make_optimizer(net, recipe)
    loader = BatchLoader(data, recipe.batch_size, drop_last=True)
    seen = []
    for epoch in range(recipe.epochs):
        train_epoch(net, loader, opt, recipe, epoch, before_step=lambda: seen.append(opt.param_groups[0]["lr"]),
                    progress=False)
        sched.step()
    cosine = [0.4, 0.4 * 0.75, 0.4 * 0.25]  # the schedule's value per epoch (4 steps each)
    ramp = [(i + 1) / 6 for i in range(6)]
    expected = [cosine[0] * r for r in ramp[:4]] + [cosine[1] * r for r in ramp[4:]] + [cosine[1]] * 2 + [cosine[2]] * 4
    assert seen == pytest.approx(expected)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0)  # the cosine schedule ended where it would have anyway
