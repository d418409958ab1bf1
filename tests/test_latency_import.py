"""Tables from elsewhere: HW-NAS-Bench import against HELP's published latencies, the documented
template, and the predictor fitted from whole-network measurements."""

import json

import numpy as np
import pytest

from nas.latency import LatencyTableError, load_table, op_key
from nas.latency.calibrate import sample_archs
from nas.latency.predictor import FittedPredictor
from test_latency_fixtures import synthetic_table, tiny_space

try:
    from nas.latency.hwnasbench import find_data
    DATA = find_data()
except LatencyTableError:
    DATA = None
needs_data = pytest.mark.skipif(DATA is None, reason="../shared/datasets/hw-nas-bench-fbnet is absent")


@needs_data
@pytest.mark.parametrize("device", ["raspi4", "pixel3", "eyeriss", "fpga"])
def test_imported_table_reproduces_published_latencies(tmp_path, device):
    from nas.latency.hwnasbench import archs_of, hwnasbench_space, import_table, load_help

    codes, lat = load_help()
    space = hwnasbench_space()
    table = load_table(import_table(device).save(tmp_path / f"{device}.json"))  # through the file format
    assert len(codes) == 5000
    pred = table.predict_many(space, archs_of(space, codes))
    assert np.max(np.abs(pred / lat[device] - 1)) < 1e-6
    # cost vectors give the same numbers, and the bounds hold every published latency
    const, vectors = table.cost_vectors(space)
    labels = [d.label for d in space.decisions]
    via_vectors = const + np.array([sum(vectors[l][c] for l, c in zip(labels, row)) for row in codes])
    assert np.allclose(via_vectors, lat[device], rtol=1e-9)
    lo, hi = table.bounds(space)
    assert lo <= lat[device].min() and lat[device].max() <= hi
    assert table.fingerprint["device"] == device and table.const_covers == ["stem", "head"]


@needs_data
def test_import_refuses_an_end_to_end_device():
    from nas.latency.hwnasbench import import_table

    with pytest.raises(LatencyTableError, match="raspi4, pixel3"):
        import_table("gold_6226")


def test_missing_data_is_a_clear_error(tmp_path):
    from nas.latency.hwnasbench import import_table

    with pytest.raises(LatencyTableError, match="fbnet_help.npz"):
        import_table("raspi4", data_dir=tmp_path)


@needs_data
def test_predictor_on_a_non_additive_device():
    from nas.latency.hwnasbench import evaluate_predictor

    (row,) = evaluate_predictor(["titan_rtx_1"], train_frac=0.2, correction="off")
    assert row["n_train"] == 1000 and row["n_test"] == 4000
    assert row["additive_mape"] < 2.0 and row["additive_within"] > 95 and row["additive_kendall_tau"] > 0.8


def test_predictor_recovers_an_additive_device(tmp_path):
    space = tiny_space(tmp_path)
    truth = synthetic_table(space, seed=3)
    train, test = sample_archs(space, 60, "train", 0), sample_archs(space, 20, "test", 0)
    rng = np.random.default_rng(0)
    y = truth.predict_many(space, train, False) * (1 + 0.01 * rng.standard_normal(len(train)))
    y[:3] *= 3  # outliers: the robust fit ignores them
    p = FittedPredictor.fit(space, train, y)
    acc = p.evaluate(space, test, truth.predict_many(space, test, False))
    assert acc["additive"]["mape"] < 3 and acc["additive"]["kendall_tau"] > 0.9
    table = p.to_table({"device": "phone"})
    assert table.predict_many(space, test) == pytest.approx([p.predict_additive(space, a) for a in test])
    back = FittedPredictor.load(p.save(tmp_path / "p.json"))
    assert back.predict(space, test[0]) == pytest.approx(p.predict(space, test[0]))


def test_predictor_refuses_ops_it_never_saw(tmp_path):
    space = tiny_space(tmp_path)
    truth = synthetic_table(space)
    no_skip = [a for a in sample_archs(space, 60, "train", 0) if "skip" not in a.choices.values()]
    p = FittedPredictor.fit(space, no_skip, truth.predict_many(space, no_skip, False))
    arch = space.make_arch({d.label: "skip" for d in space.decisions})
    with pytest.raises(LatencyTableError, match="no training architecture used it"):
        p.predict(space, arch)


def test_template_lists_every_key_and_loads_once_filled(tmp_path):
    from nas.latency.app import write_template

    space = tiny_space(tmp_path)
    path = write_template(space, tmp_path / "phone.json")
    data = json.loads(path.read_text())
    assert set(data["entries"]) == set(synthetic_table(space).entries)
    with pytest.raises(LatencyTableError, match=r"entries\['.*'\]: expected a finite number"):
        load_table(path)
    for i, e in enumerate(data["entries"].values()):
        e["ms"] = 0.1 + i
    data["fingerprint"].update(device="phone", device_name="Pixel 9", date="2025-01-01")
    path.write_text(json.dumps(data))
    table = load_table(path)
    arch = space.sample(0)
    assert table.predict(space, arch) == pytest.approx(
        sum(data["entries"][op_key(u)]["ms"] for u in table.uses(space, arch)))
