"""Datasets: bundled digits, CIFAR's python layout (validated by structure), downloads, image folders."""

import hashlib
import io
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.data import BatchLoader, DataError, search_data
from nas.data.cifar import load_cifar

SHARED_CIFAR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10" / "make_cifar10.py"


def test_digits_splits_are_disjoint_and_sized():
    d = search_data("digits", resolution=32, seed=0)
    assert (len(d.weight), len(d.arch), len(d.val)) == (1150, 288, 359)
    assert d.weight.images.shape[1:] == (3, 32, 32) and d.weight.images.dtype == torch.uint8
    assert d.num_classes == 10 and d.resolution == 32
    ids = lambda part: {tuple(img.flatten().tolist()[:64:7]) + (int(l),) for img, l in zip(part.images, part.labels)}
    assert len(ids(d.arch) & ids(d.val)) < 5  # a few digits are pixel-identical duplicates in the source



def _numbered(n, first):
    """``n`` images whose first two pixels spell their number (``first`` + i)."""
    from nas.data import ImageData

    images = torch.zeros(n, 3, 8, 8, dtype=torch.uint8)
    ids = torch.arange(first, first + n)
    images[:, 0, 0, 0], images[:, 0, 0, 1] = ids % 256, ids // 256
    return ImageData(images, ids % 10, 10, (0.5,) * 3, (0.5,) * 3, "fake")


@pytest.mark.parametrize("limit_val, held", [(300, 300), (None, 400)])
def test_a_search_validates_on_training_images_not_the_test_split(monkeypatch, limit_val, held):
    from nas.data import DATASETS

    monkeypatch.setitem(DATASETS._items, "cifar10", lambda *a: (_numbered(2000, 0), _numbered(500, 10000)))
    number = lambda part: set((part.images[:, 0, 0, 0].long() + 256 * part.images[:, 0, 0, 1].long()).tolist())
    d = search_data("cifar10", "root", resolution=8, limit_val=limit_val, holdout_val=True, seed=1)
    assert len(d.val) == held and max(number(d.val)) < 2000  # held out of the 2,000 training images
    assert len(d.weight) + len(d.arch) == 2000 - held
    assert not number(d.val) & (number(d.weight) | number(d.arch))
    plain = search_data("cifar10", "root", resolution=8, limit_val=limit_val, seed=1)  # training's split: the test one
    assert min(number(plain.val)) >= 10000 and len(plain.weight) + len(plain.arch) == 2000


def test_loader_is_seeded_by_epoch():
    d = search_data("digits", limit_train=200, seed=0)
    a = BatchLoader(d.weight, 32, augment=True, seed=3)
    b = BatchLoader(d.weight, 32, augment=True, seed=3)
    a.set_epoch(2)
    b.set_epoch(2)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    b.set_epoch(3)
    assert not torch.equal(next(iter(a))[1], next(iter(b))[1])
    x, _ = next(iter(a))
    assert x.shape == (32, 3, 32, 32) and abs(float(x.mean())) < 0.5


def test_unknown_dataset_and_missing_root(tmp_path):
    with pytest.raises(DataError, match="known datasets: .*digits"):
        search_data("mnist")
    with pytest.raises(DataError, match="data.root"):
        search_data("cifar10", None)
    with pytest.raises(DataError, match=r"no cifar-10-batches-py/ there"):
        search_data("cifar10", str(tmp_path))


def _batch(n, label_key="labels", classes=10, labels=None):
    return {"data": np.zeros((n, 3072), np.uint8), label_key: labels if labels is not None else [i % classes for i in range(n)]}


def _layout(root, batches):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, content in batches.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else pickle.dumps(content))
    return root


def test_cifar_structure_errors(tmp_path):
    root = _layout(tmp_path / "a", {"data_batch_1": b"not a pickle"})
    with pytest.raises(DataError, match="data_batch_1: not a readable CIFAR batch"):
        load_cifar("cifar10", root)
    root = _layout(tmp_path / "b", {f"data_batch_{i}": _batch(4) for i in range(1, 6)} | {"test_batch": _batch(4)})
    with pytest.raises(DataError, match="hold 20 images, expected 50000"):
        load_cifar("cifar10", root)
    root = _layout(tmp_path / "c", {"data_batch_1": _batch(4, labels=[0, 1, 2, 10])})
    with pytest.raises(DataError, match=r"labels in 0..9"):
        load_cifar("cifar10", root)
    evil = pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [0], "x": print})
    root = _layout(tmp_path / "d", {"data_batch_1": evil})
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        load_cifar("cifar10", root)


def _archive(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        content = pickle.dumps(_batch(4))
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    path = tmp_path / "cifar.tar.gz"
    path.write_bytes(buf.getvalue())
    return path, hashlib.md5(buf.getvalue()).hexdigest()


def test_download_checks_md5_then_extracts(tmp_path):
    archive, md5 = _archive(tmp_path)
    root = tmp_path / "root"
    with pytest.raises(DataError, match="does not match the official"):
        load_cifar("cifar10", root, download_missing=True, url=archive.as_uri(), md5="0" * 32)
    assert not (root / "cifar-10-batches-py").exists()
    with pytest.raises(DataError, match="data_batch_2: missing"):  # extracted, then validated by structure
        load_cifar("cifar10", root, download_missing=True, url=archive.as_uri(), md5=md5)
    assert (root / "cifar-10-batches-py" / "data_batch_1").is_file()


def test_image_folder(tmp_path):
    from PIL import Image

    for cls, color in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
        (tmp_path / cls).mkdir()
        for i in range(5):
            Image.new("RGB", (40, 30), color).save(tmp_path / cls / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("ignored")
    d = search_data("imagefolder", str(tmp_path), resolution=16, val_fraction=0.2, arch_fraction=0.25)
    assert d.num_classes == 2 and d.weight.images.shape[1:] == (3, 16, 16)
    assert len(d.weight) + len(d.arch) + len(d.val) == 10
    (tmp_path / "cat" / "broken.jpg").write_bytes(b"junk")
    with pytest.raises(DataError, match="broken.jpg: not a readable image"):
        search_data("imagefolder", str(tmp_path), resolution=16)


@pytest.mark.slow  # 15 s: decodes the shared CIFAR-10 copy
@pytest.mark.skipif(not SHARED_CIFAR.is_file(), reason="../shared/datasets/cifar10 is not beside this clone")
def test_shared_cifar10_copy_loads(tmp_path):
    subprocess.run([sys.executable, str(SHARED_CIFAR), str(tmp_path)], check=True, capture_output=True)
    train, test = load_cifar("cifar10", tmp_path)
    assert train.images.shape == (50000, 3, 32, 32) and test.images.shape == (10000, 3, 32, 32)
    assert set(train.labels.unique().tolist()) == set(range(10))
