"""Checkpoints: one self-describing file, written atomically, loaded with weights_only so a file cannot run code."""

from __future__ import annotations

import io
import os
import pickle
import shlex
import zipfile

import numpy as np
import pytest
import torch

from multilabel import MultilabelError, load_checkpoint, save_checkpoint
from multilabel.checkpoint import FORMAT, VERSION


class WritesMarkerWithOpen:
    """Unpickling this calls open(marker, 'w'): the file appears if the loader runs code from the payload."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


class RunsShellCommand:
    """Unpickling this calls os.system('touch <marker>')."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(self.marker)}",))


def refused(path) -> str:
    with pytest.raises(MultilabelError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_round_trip_gives_identical_predictions_names_and_thresholds(trained_small, small_data, tmp_path):
    path = save_checkpoint(trained_small, tmp_path / "model.pt")
    loaded = load_checkpoint(path)
    np.testing.assert_array_equal(loaded.predict_proba(small_data.X), trained_small.predict_proba(small_data.X))
    assert loaded.feature_names == trained_small.feature_names
    assert loaded.label_names == trained_small.label_names
    assert loaded.thresholds == trained_small.thresholds
    assert loaded.config == trained_small.config
    np.testing.assert_array_equal(loaded.standardizer.mean, trained_small.standardizer.mean)
    np.testing.assert_array_equal(loaded.standardizer.std, trained_small.standardizer.std)
    assert loaded.metrics["micro_f1"] == trained_small.metrics["micro_f1"]


def test_checkpoint_is_a_plain_dict_that_describes_itself(trained_small, tmp_path):
    path = save_checkpoint(trained_small, tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT and payload["version"] == VERSION
    assert payload["config"]["hidden_size"] == trained_small.config.hidden_size
    assert payload["label_names"] == trained_small.label_names
    assert all(v.device.type == "cpu" for v in payload["state_dict"].values())


def test_load_from_an_uploaded_file_object(trained_small, small_data, tmp_path):
    buffer = io.BytesIO(save_checkpoint(trained_small, tmp_path / "model.pt").read_bytes())
    loaded = load_checkpoint(buffer, name="'upload.pt'")
    rows = small_data.X[:10]
    np.testing.assert_array_equal(loaded.predict_proba(rows), trained_small.predict_proba(rows))


def test_save_is_atomic_and_overwrites_without_leaving_temp_files(trained_small, tmp_path):
    target = tmp_path / "deep" / "folder" / "model.pt"
    save_checkpoint(trained_small, target)
    save_checkpoint(trained_small, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.pt"]


def test_a_failed_save_leaves_neither_a_file_nor_a_temp_file(trained_small, tmp_path, monkeypatch):
    def broken_save(obj, fh):
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(trained_small, tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make_payload, write, expected", [
    (WritesMarkerWithOpen, lambda obj, path: torch.save({"format": FORMAT, "version": 1, "config": obj}, path),
     "was refused: it holds Python objects other than weights (a pickle that could run code)"),
    (RunsShellCommand, lambda obj, path: path.write_bytes(pickle.dumps(obj, protocol=2)),
     "is not a multilabel checkpoint (not a PyTorch zip file)"),
], ids=["torch-save-open-write", "bare-pickle-os-system"])
def test_malicious_pickle_is_refused_without_running_it(tmp_path, make_payload, write, expected):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    write(make_payload(str(marker)), path)

    message = refused(path)

    assert expected in message
    assert not marker.exists()
    # The payload is live: an unsafe load really would have run it. Without this the test could pass vacuously.
    if path.read_bytes().startswith(b"PK"):
        torch.load(path, weights_only=False)
    else:
        pickle.loads(path.read_bytes())
    assert marker.exists()


@pytest.mark.parametrize("content", [
    b"", b"hello, I am text\n", np.random.default_rng(0).integers(0, 256, 2048, dtype=np.uint8).tobytes(),
    pickle.dumps({"weights": [1.0, 2.0]}),
], ids=["empty", "text", "random-bytes", "bare-pickle-of-a-dict"])
def test_a_file_that_is_not_a_torch_zip_is_not_a_checkpoint(tmp_path, recwarn, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    assert "is not a multilabel checkpoint (not a PyTorch zip file)" in refused(path)
    assert [str(w.message) for w in recwarn] == []  # nothing besides the one-line message reaches a user


def test_a_zip_that_torch_did_not_write_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "archive.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    assert "is not a multilabel checkpoint" in refused(path)


@pytest.mark.parametrize("payload", [{"weights": torch.zeros(3)}, torch.zeros(3), {"format": "other-tool"}],
                         ids=["dict", "tensor", "other-format"])
def test_a_valid_torch_file_of_another_kind_is_named_as_such(tmp_path, payload):
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    assert "is a PyTorch file but not a multilabel checkpoint" in refused(path)


def test_a_checkpoint_from_a_newer_version_asks_for_an_upgrade(tmp_path):
    path = tmp_path / "new.pt"
    torch.save({"format": FORMAT, "version": VERSION + 1}, path)
    assert "was saved by a newer multilabel" in refused(path)


def test_a_checkpoint_missing_its_parts_is_called_damaged(trained_small, tmp_path):
    path = save_checkpoint(trained_small, tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    del payload["state_dict"]["net.0.weight"]
    torch.save(payload, path)
    assert "is a damaged multilabel checkpoint" in refused(path)


def test_a_checkpoint_whose_labels_do_not_match_the_net_is_called_damaged(trained_small, tmp_path):
    path = save_checkpoint(trained_small, tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    payload["label_names"] = payload["label_names"][:-1]
    torch.save(payload, path)
    assert "label count does not match the model" in refused(path)


def test_a_missing_file_is_named(tmp_path):
    assert "does not exist" in refused(tmp_path / "nope.pt")


def test_a_saved_run_continues_from_its_checkpoint_exactly(tmp_path, small_data, make_config):
    from multilabel import train
    from multilabel.engine import ResumeState
    config = make_config(epochs=6)
    whole = train(config, small_data)
    first = train(config.replace(epochs=3), small_data)
    first.trained.resume = first.resume.to_dict()
    loaded = load_checkpoint(save_checkpoint(first.trained, tmp_path / "half.pt"))
    rest = train(config, small_data, resume=ResumeState.from_dict(loaded.resume))
    assert [r["val_loss"] for r in first.history + rest.history] == [r["val_loss"] for r in whole.history]
    np.testing.assert_array_equal(rest.trained.predict_proba(small_data.X), whole.trained.predict_proba(small_data.X))
