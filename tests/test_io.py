"""nas.io: atomic writes leave no temp file behind and give files the mode a plain open() would."""

import os
import stat

import pytest

from nas.io import atomic_torch_save, atomic_write_text, write_json

WRITERS = {
    "text": lambda p: atomic_write_text(p, "x\n"),
    "json": lambda p: write_json(p, {"a": 1}),
    "torch": lambda p: atomic_torch_save({"a": 1}, p),
}


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_new_file_gets_the_umask_mode_not_0600(tmp_path, umask_022, kind):
    path = WRITERS[kind](tmp_path / "sub" / "f")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(path.parent) == ["f"]


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_replaced_file_keeps_its_own_mode(tmp_path, umask_022, kind):
    path = tmp_path / "f"
    path.write_text("old")
    path.chmod(0o640)
    WRITERS[kind](path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    from nas.io import atomic_write

    path = tmp_path / "f"
    path.write_text("old")

    def boom(tmp):
        open(tmp, "w").write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(path, boom)
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["f"]
