"""paths.atomic_path / atomic_write: the target holds the old bytes or the new ones, never half; nothing is left."""

import errno
import os

import numpy as np
import pytest

from multilabel.errors import MultilabelError
from multilabel.paths import atomic_path, atomic_write


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "job.json"
    target.write_text("old")
    atomic_write(target, '{"new": 1}', durable=True)
    assert target.read_text() == '{"new": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_the_half(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("the writer died")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_an_os_error_is_one_line_naming_the_file(tmp_path):
    target = tmp_path / "out.csv"
    with pytest.raises(MultilabelError) as err:
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"x")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert str(err.value).startswith(f"cannot finish writing {str(target)!r}: No space left on device")
    assert "\n" not in str(err.value) and not list(tmp_path.iterdir())


def test_numpy_keeps_the_temporary_name_so_the_rename_finds_it(tmp_path):
    target = tmp_path / "run.val.npz"
    with atomic_path(target) as tmp:
        np.savez(tmp, a=np.arange(3))  # np.savez appends .npz unless the name already ends in it
    with np.load(target) as saved:
        assert saved["a"].tolist() == [0, 1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["run.val.npz"]
