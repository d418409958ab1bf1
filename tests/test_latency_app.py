"""``python -m nas.latency``: Hydra config, the plain ``run`` function, and the CLI's error contract."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from nas.latency import LatencyTableError, load_table
from nas.latency.app import CONF_DIR, run
from test_latency_fixtures import synthetic_table, tiny_space

REPO = Path(__file__).resolve().parents[1]


def cfg_of(*overrides):
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return compose("latency", overrides=list(overrides))


def tiny_overrides(tmp_path, space_path):
    return [f"space.name={space_path}", "threads=1", "min_run_time=0.001", "net_min_run_time=0.001", "passes=1", "net_passes=1",
            "progress=false", f"cache_dir={tmp_path / 'cache'}"]


def test_config_uses_the_shared_groups():
    cfg = cfg_of("space=mnasnet", "batch_size=4", "threads=1")
    assert cfg.space.name == "mnasnet" and cfg.space.variant == "cifar" and cfg.device.type == "cpu"
    assert cfg.batch_size == 4 and cfg.threads == 1 and cfg.calibrate == 24 and cfg.validate == 0
    with pytest.raises(ConfigCompositionException):
        cfg_of("bogus_key=1")
    with pytest.raises(ConfigCompositionException):
        cfg_of("batch_size=many")


def test_run_builds_calibrates_and_validates(tmp_path, capsys):
    space = tiny_space(tmp_path)
    cfg = cfg_of(*tiny_overrides(tmp_path, space.source), "calibrate=4", "validate=3")
    out = run(cfg, tmp_path / "run")
    printed = capsys.readouterr().out
    table = load_table(out["table"])
    assert f"table: {out['table']}" in printed and "calibrated" in printed and "Kendall tau" in printed
    assert table.calibration.n_archs == 4 and out["validation"].raw["n"] == 3
    assert (tmp_path / "run" / "validation.png").is_file() and (tmp_path / "run" / "validation.json").is_file()
    lo, hi = out["bounds_raw"]
    assert 0 < lo < hi


def test_run_times_ops_inside_networks_when_asked(tmp_path, capsys):
    space = tiny_space(tmp_path)
    out = run(cfg_of(*tiny_overrides(tmp_path, space.source), "calibrate=3", "op_timing=net"))
    table = load_table(out["table"])
    assert table.meta["op_timing"] == "net" and table.const_ms > 0
    assert "inside" in capsys.readouterr().out and out["bounds_raw"][0] == table.const_ms


def test_run_fits_ops_on_whole_networks_when_asked(tmp_path, capsys):
    space = tiny_space(tmp_path)
    out = run(cfg_of(*tiny_overrides(tmp_path, space.source), "calibrate=3", "op_timing=fit", "fit_nets=40"))
    table = load_table(out["table"])
    assert table.meta["op_timing"] == "fit" and table.meta["fit_nets"] == 40 and not table.missing(space)
    assert "fitted on 40 networks timed whole (fit MAPE " in capsys.readouterr().out


def test_run_checks_a_table_brought_from_elsewhere(tmp_path):
    space = tiny_space(tmp_path)
    path = synthetic_table(space, fingerprint={"device_name": "Pixel 9"}).save(tmp_path / "phone.json")
    cfg = cfg_of(*tiny_overrides(tmp_path, space.source), f"table={path}", "calibrate=0")
    with pytest.raises(LatencyTableError, match="device_name: table has 'Pixel 9'"):
        run(cfg)
    with pytest.warns(UserWarning):
        out = run(cfg_of(*tiny_overrides(tmp_path, space.source), f"table={path}", "allow_mismatch=true"))
    assert out["table"] == str(path)


def test_run_writes_a_template(tmp_path):
    space = tiny_space(tmp_path)
    out = run(cfg_of(*tiny_overrides(tmp_path, space.source), f"template={tmp_path / 't.json'}"))
    assert Path(out["template"]).is_file()


def test_run_imports_hwnasbench(tmp_path):
    from nas.latency.hwnasbench import find_data

    try:
        find_data()
    except LatencyTableError:
        pytest.skip("../shared/datasets/hw-nas-bench-fbnet is absent")
    out = run(cfg_of(f"cache_dir={tmp_path}", "import_hwnasbench=eyeriss"))
    assert out["imported"]["eyeriss"]["max_rel_error"] < 1e-6
    assert load_table(out["imported"]["eyeriss"]["path"]).fingerprint["device"] == "eyeriss"


def test_cli_user_errors_exit_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "nas.latency", f"table={bad}", "calibrate=0",
                           f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and str(bad) in proc.stderr and "Traceback" not in proc.stderr
    assert bad.read_text() == "{ not json"


def test_run_refits_a_named_fit_tables_per_op_calibration_in_memory(tmp_path, capsys):
    from test_latency_fit import memory_calibrated_fit_table

    space = tiny_space(tmp_path)
    path = memory_calibrated_fit_table(space).save(tmp_path / "fit.json")
    before = path.read_bytes()
    with pytest.warns(UserWarning, match="model 'memory' re-ranks"):
        run(cfg_of(*tiny_overrides(tmp_path, space.source), f"table={path}", "calibrate=0", "allow_mismatch=true"))
    assert re.search(r"calibration \((scale|affine)\)", capsys.readouterr().out) and path.read_bytes() == before
