"""Checkpoints: one self-describing file, written atomically, loaded with weights_only so a file cannot run code."""

from __future__ import annotations

import errno
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
    assert payload["format"] == FORMAT and payload["version"] == 1  # a single model; ensembles are version 2
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
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(MultilabelError) as info:
        save_checkpoint(trained_small, tmp_path / "model.pt")
    assert str(info.value) == (f"cannot finish writing the checkpoint '{tmp_path / 'model.pt'}': No space left on "
                               "device; free some disk space or choose a folder on another disk")
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


# -- parts that disagree: refused at load, before they can score anything wrong ---------------------------------------

def edited(trained, tmp_path, change) -> str:
    """Save ``trained``, change its payload with ``change(payload)``, save again; the refusal message."""
    path = save_checkpoint(trained, tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    change(payload)
    torch.save(payload, path)
    return refused(path)


def _set(key, value):
    return lambda payload: payload.__setitem__(key, value(payload) if callable(value) else value)


def _config(key, value):
    return lambda payload: payload["config"].__setitem__(key, value)


@pytest.mark.parametrize("change, fragment", [
    (_set("feature_names", lambda p: p["feature_names"] + ["extra"]), "7 feature names for a net with 6 features"),
    (_set("feature_names", lambda p: p["feature_names"][:-1]), "5 feature names for a net with 6 features"),
    (_set("mean", lambda p: p["mean"][:-1]), "mean has shape (5,) for 6 features"),
    (_set("std", lambda p: torch.cat([p["std"], p["std"]])), "std has shape (12,) for 6 features"),
    (_set("mean", lambda p: torch.full_like(p["mean"], float("nan"))), "mean holds NaN or infinite values"),
    (_set("std", lambda p: torch.full_like(p["std"], float("inf"))), "std holds NaN or infinite values"),
    (_set("std", lambda p: p["std"].index_fill(0, torch.tensor([2]), 0.0)),
     "std is 0 for feature 'x2': it would make every probability NaN"),
    (_set("std", lambda p: -p["std"]), "std is -"),
    (_set("feature_names", lambda p: ["x0", "x1", "x1", "x3", "x4", "x5"]), "the feature name 'x1' appears twice"),
    (_set("label_names", lambda p: [p["label_names"][0]] * 3), "the label name 'label_0' appears twice"),
    (_set("thresholds", [0.5, 0.5, 1.5]), "thresholds must be 3 numbers in [0, 1]"),
    (_set("thresholds", [0.5, 0.5]), "thresholds must be 3 numbers in [0, 1]"),
    (_config("input_size", 5), "tensor 'net.0.weight' has shape (16, 6) where 5 -> 16 -> 3 needs (16, 5)"),
    (_config("hidden_size", 32), "tensor 'net.0.weight' has shape (16, 6) where 6 -> 32 -> 3 needs (32, 6)"),
    (_config("num_outputs", 4), "tensor 'net.3.weight' has shape (3, 16) where 6 -> 16 -> 4 needs (4, 16)"),
    (lambda p: p["state_dict"].__setitem__("net.0.weight", torch.zeros(16, 7)),
     "tensor 'net.0.weight' has shape (16, 7) where 6 -> 16 -> 3 needs (16, 6)"),
    # A last layer with 5 inputs was reported as "its weights are 6 -> 16 -> 3 but its settings say 6 ->
    # 16 -> 3"; a wrong bias or an extra tensor ended in "(RuntimeError: Error(s) in loading state_dict for MLP:)"
    (lambda p: p["state_dict"].__setitem__("net.3.weight", torch.zeros(3, 5)),
     "tensor 'net.3.weight' has shape (3, 5) where 6 -> 16 -> 3 needs (3, 16)"),
    (lambda p: p["state_dict"].__setitem__("net.0.bias", torch.zeros(15)),
     "tensor 'net.0.bias' has shape (15,) where 6 -> 16 -> 3 needs (16,)"),
    (lambda p: p["state_dict"].__setitem__("net.9.weight", torch.zeros(2)),
     "tensor 'net.9.weight' does not belong to a 6 -> 16 -> 3 net"),
], ids=["more feature names", "fewer feature names", "short mean", "long std", "NaN mean", "inf std", "zero std",
        "negative std", "duplicate features", "duplicate labels", "threshold 1.5", "two thresholds",
        "input_size vs weights", "hidden_size vs weights", "num_outputs vs weights", "first layer in_features",
        "last layer in_features", "first bias", "extra tensor"])
def test_a_checkpoint_whose_parts_disagree_is_refused_at_load(trained_small, tmp_path, change, fragment):
    message = edited(trained_small, tmp_path, change)
    assert "is a damaged multilabel checkpoint (" in message and fragment in message, message
    assert "retrain or choose another file" in message


def test_every_consistency_check_passes_on_what_save_checkpoint_writes(trained_small, small_data, tmp_path):
    """The checks refuse edited files only: a checkpoint with a constant feature (std 1 from the Standardizer)
    loads and scores finite probabilities."""
    import dataclasses

    from multilabel import Standardizer

    X = small_data.X.copy()
    X[:, 2] = 4.0
    scaler = Standardizer.fit(X)
    assert scaler.std[2] == 1.0
    model = dataclasses.replace(trained_small, standardizer=scaler)
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "model.pt"))
    assert np.isfinite(loaded.predict_proba(X)).all()


def test_a_folder_given_as_the_model_is_named_as_a_folder(tmp_path):
    assert refused(tmp_path) == f"model file '{tmp_path}' is a folder; give the path of a .pt file saved by multilabel"


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


# -- a content digest of the weights, verified at load ---------------------------------------------------------------

def _flip_inside(path, entry: str) -> None:
    """Flip one byte in the middle of the zip entry ``entry`` (a tensor's stored bytes), as a bad disk would."""
    import struct
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith(entry))
    with open(path, "r+b") as fh:
        fh.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", fh.read(4))
        at = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
        fh.seek(at)
        byte = fh.read(1)
        fh.seek(at)
        fh.write(bytes([byte[0] ^ 0x5A]))


def test_flipped_weight_bytes_are_refused_with_one_line(trained_small, tmp_path):
    path = save_checkpoint(trained_small, tmp_path / "model.pt")
    storages = sorted(n for n in zipfile.ZipFile(path).namelist() if "/data/" in n)
    assert storages
    for entry in storages:  # every tensor of the file is covered, whichever one the disk damaged
        copy = tmp_path / "copy.pt"
        copy.write_bytes(path.read_bytes())
        _flip_inside(copy, entry)
        message = refused(copy)
        assert "do not match the digest" in message and "\n" not in message, (entry, message)


def test_an_ensemble_member_with_wrong_shapes_is_named(trained_small, tmp_path):
    from multilabel.search import ensemble
    path = save_checkpoint(ensemble([trained_small, trained_small]), tmp_path / "ens.pt")
    payload = torch.load(path, weights_only=True)
    payload["members"][0]["state_dict"]["net.3.bias"] = torch.zeros(7)
    payload.pop("digest")
    torch.save(payload, path)
    assert "ensemble member 2: tensor 'net.3.bias' has shape (7,) where 6 -> 16 -> 3 needs (3,)" in refused(path)


def test_a_checkpoint_saved_before_digests_still_loads(trained_small, tmp_path):
    path = save_checkpoint(trained_small, tmp_path / "model.pt")
    payload = torch.load(path, weights_only=True)
    assert len(payload.pop("digest")) == 64
    torch.save(payload, path)
    loaded = load_checkpoint(path)
    X = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict_proba(X), trained_small.predict_proba(X))


def test_a_pickle_naming_os_system_is_refused_as_code_and_damaged_bytes_as_damaged(trained_small, tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    assert "could run code" in refused(path)
    good = save_checkpoint(trained_small, tmp_path / "model.pt")
    data = bytearray(good.read_bytes())
    data[:64] = b"garbage!" * 8  # the start of the pickled structure: not code, just damage
    path.write_bytes(bytes(data))
    message = refused(path)
    assert "could run code" not in message and "checkpoint" in message, message
