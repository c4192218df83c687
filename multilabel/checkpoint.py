"""A trained model with everything needed to use it, saved atomically and loaded without running code."""

from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Union

import numpy as np
import torch

from .config import TrainConfig
from .data import Standardizer
from .errors import MultilabelError
from .model import MLP
from .paths import atomic_path, os_error_message

FORMAT = "multilabel-checkpoint"
VERSION = 2  # 2: ensembles (a "members" list); a single model is still written as version 1
PathOrFile = Union[str, os.PathLike, IO[bytes]]


@dataclass
class TrainedModel:
    """A model plus its feature and label names, normalization, per-label thresholds and metrics."""

    model: MLP
    config: TrainConfig
    feature_names: list[str]
    label_names: list[str]
    standardizer: Standardizer
    thresholds: list[float]
    metrics: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    # engine.ResumeState.to_dict() of the run's last epoch (last weights, optimizer and RNG state), so the run can be
    # continued with more epochs; None where the file was saved without it.
    resume: dict[str, Any] | None = None
    # Ensemble: more nets on the same inputs; probabilities are the mean over model + members.
    members: list[MLP] = field(default_factory=list)
    member_configs: list[TrainConfig] = field(default_factory=list)

    @property
    def nets(self) -> list[MLP]:
        """Every net whose sigmoid outputs are averaged: ``model`` first, then the ensemble's other members."""
        return [self.model, *self.members]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def predict_proba(self, X: np.ndarray, batch_rows: int = 65536) -> np.ndarray:
        """Sigmoid probabilities. ``X``: (n, num_features) raw (unstandardized) float -> (n, num_labels) float32."""
        for net in self.nets:
            net.eval()
        device = self.device
        X_np = np.asarray(X, dtype=np.float32)  # a transposed (column-major) view is fine: matmul takes it as is
        X_t = torch.from_numpy(X_np if X_np.flags.writeable else X_np.copy())  # torch warns on read-only arrays
        mean = torch.from_numpy(np.asarray(self.standardizer.mean, dtype=np.float32)).to(device)
        std = torch.from_numpy(np.asarray(self.standardizer.std, dtype=np.float32)).to(device)
        out = torch.empty((X_t.shape[0], len(self.label_names)), dtype=torch.float32)
        for start in range(0, X_t.shape[0], batch_rows):
            # Standardize batch by batch on the device: no full-size temporary copies of X.
            chunk = (X_t[start:start + batch_rows].to(device, non_blocking=True) - mean) / std
            probs = torch.sigmoid(self.model(chunk))
            for net in self.members:  # an ensemble: the mean of the members' probabilities
                probs += torch.sigmoid(net(chunk))
            out[start:start + batch_rows] = (probs / len(self.nets) if self.members else probs).cpu()
        return out.numpy()

    def to(self, device: str | torch.device) -> TrainedModel:
        for net in self.nets:
            net.to(device)
        return self


def save_checkpoint(trained: TrainedModel, path: str | os.PathLike) -> Path:
    """Write one self-describing file atomically (a temp file in the same folder, then rename)."""
    path = Path(path)
    doing = f"writing the checkpoint {str(path)!r}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a read-only folder: one line
        raise MultilabelError(os_error_message(exc, doing)) from None
    # fsynced: the best weights of a run must survive a power cut; disk full: one line, no partial file left
    with atomic_path(path, durable=True, doing=doing) as tmp, open(tmp, "wb") as fh:
        torch.save(_payload(trained), fh)
    return path


def _payload(trained: TrainedModel) -> dict[str, Any]:
    """The checkpoint's content: a plain dict that describes itself (see the module docstring)."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": trained.config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in trained.model.state_dict().items()},
        "feature_names": list(trained.feature_names),
        "label_names": list(trained.label_names),
        "mean": torch.from_numpy(np.asarray(trained.standardizer.mean, dtype=np.float32)),
        "std": torch.from_numpy(np.asarray(trained.standardizer.std, dtype=np.float32)),
        "thresholds": [float(t) for t in trained.thresholds],
        "metrics": trained.metrics,
        "run_id": trained.run_id,
    }
    if trained.resume is not None:
        payload["resume"] = trained.resume
    if trained.members:  # an ensemble is format version 2
        configs = trained.member_configs or [trained.config] * len(trained.members)
        payload["version"] = 2
        payload["members"] = [{"config": c.to_dict(), "state_dict": {k: v.detach().cpu() for k, v in
                                                                     net.state_dict().items()}}
                              for c, net in zip(configs, trained.members)]
    else:
        payload["version"] = 1
    payload["digest"] = weights_digest(payload)
    return payload


def load_checkpoint(source: PathOrFile, device: str | torch.device = "cpu", name: str | None = None) -> TrainedModel:
    """Read a checkpoint with ``torch.load(weights_only=True)``: a file carrying code is refused, never run."""
    label = name or (f"'{os.fspath(source)}'" if isinstance(source, (str, os.PathLike))
                     else f"'{getattr(source, 'name', 'the uploaded file')}'")
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        raise MultilabelError(f"model file {label} is a folder; give the path of a .pt file saved by multilabel")
    if isinstance(source, (str, os.PathLike)) and not Path(source).is_file():
        raise MultilabelError(f"model file {label} does not exist; give the path of a .pt file saved by multilabel")
    if not _is_zip(source):
        # torch.save writes a zip; anything else (a bare pickle, random bytes, text) is refused before torch.load,
        # which would print a warning about a bare pickle's protocol on top of our one-line message.
        raise MultilabelError(f"{label} is not a multilabel checkpoint (not a PyTorch zip file); choose a .pt file "
                              "saved by multilabel")
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():  # no global (code) named: bytes that do not unpickle, a damaged file
            raise MultilabelError(f"{label} is a damaged checkpoint (its contents do not unpickle); retrain or "
                                  "choose another file") from None
        raise MultilabelError(f"{label} was refused: it holds Python objects other than weights (a pickle that "
                              "could run code); only load checkpoints saved by multilabel") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, AttributeError, KeyError) as exc:
        raise MultilabelError(f"{label} is not a multilabel checkpoint ({type(exc).__name__}); choose a .pt file "
                              "saved by multilabel") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise MultilabelError(f"{label} is a PyTorch file but not a multilabel checkpoint; choose a .pt file "
                              "saved by multilabel")
    if payload.get("version", 0) > VERSION:
        raise MultilabelError(f"{label} was saved by a newer multilabel (format {payload['version']}); upgrade")
    try:
        config = TrainConfig.from_dict(payload["config"])
        state = payload["state_dict"]
        _check_parts(payload, config, label)
        stored_digest = payload.get("digest")  # absent in checkpoints saved before digests: they still load
        if stored_digest is not None and stored_digest != weights_digest(payload):
            raise MultilabelError(f"{label} is damaged: its weights do not match the digest saved with them "
                                  "(bytes changed on disk or in transfer); retrain or choose another copy")
        model = MLP(config.input_size, config.hidden_size, config.num_outputs, config.dropout)
        model.load_state_dict(state)
        trained = TrainedModel(
            model=model, config=config, feature_names=list(payload["feature_names"]),
            label_names=list(payload["label_names"]),
            standardizer=Standardizer(payload["mean"].numpy(), payload["std"].numpy()),
            thresholds=[float(t) for t in payload["thresholds"]], metrics=payload.get("metrics") or {},
            run_id=payload.get("run_id"), resume=payload.get("resume"))
        for i, member in enumerate(payload.get("members") or [], start=2):  # ensemble members (version 2)
            member_config = TrainConfig.from_dict(member["config"])
            if (member_config.input_size, member_config.num_outputs) != (config.input_size, config.num_outputs):
                raise MultilabelError(
                    f"{label} is a damaged multilabel checkpoint (ensemble member {i} is {member_config.input_size} "
                    f"-> {member_config.num_outputs} but the first model is {config.input_size} -> "
                    f"{config.num_outputs}); retrain or choose another file")
            problem = state_problem(member["state_dict"], member_config, member=f"ensemble member {i}: ")
            if problem:
                raise MultilabelError(f"{label} is a damaged multilabel checkpoint ({problem}); retrain or choose "
                                      "another file")
            net = MLP(member_config.input_size, member_config.hidden_size, member_config.num_outputs,
                      member_config.dropout)
            net.load_state_dict(member["state_dict"])
            trained.members.append(net)
            trained.member_configs.append(member_config)
    except (KeyError, TypeError, RuntimeError, AttributeError, ValueError) as exc:
        if isinstance(exc, MultilabelError):
            raise
        raise MultilabelError(f"{label} is a damaged multilabel checkpoint ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:120]}); retrain or choose another file") from None
    return trained.to(device)


def weights_digest(payload: Any) -> str:
    """sha256 over every tensor of a checkpoint's payload (weights, members, normalization, resume state), each
    with its place in the payload, dtype and shape, in a fixed order. torch.load does not check the bytes of a
    tensor (a zip entry's CRC is not verified), so a flipped byte would otherwise load as a wrong weight."""
    digest = hashlib.sha256()

    def walk(value: Any, where: str) -> None:
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            digest.update(f"{where}:{t.dtype}:{tuple(t.shape)}".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                if not (where == "" and key == "digest"):
                    walk(value[key], f"{where}/{key}")
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(item, f"{where}/{i}")

    walk(payload, "")
    return digest.hexdigest()


def state_problem(state: Any, config: TrainConfig, member: str = "") -> str | None:
    """What is wrong with ``state`` as the weights of the net ``config`` describes, naming the tensor and the
    shapes (e.g. "tensor 'net.3.weight' has shape (2, 5) where 4 -> 256 -> 2 needs (2, 256)"); None if nothing."""
    with torch.device("meta"):  # shapes only: no memory for the weights
        wanted = {k: tuple(v.shape) for k, v in MLP(config.input_size, config.hidden_size, config.num_outputs,
                                                     config.dropout).state_dict().items()}
    net = f"{config.input_size} -> {config.hidden_size} -> {config.num_outputs}"
    if not isinstance(state, dict):
        return f"{member}its weights are not a dict of tensors"
    for key, shape in wanted.items():
        value = state.get(key)
        if value is None:
            return f"{member}tensor {key!r} is missing"
        if not isinstance(value, torch.Tensor):
            return f"{member}{key!r} is a {type(value).__name__}, not a tensor"
        if tuple(value.shape) != shape:
            return f"{member}tensor {key!r} has shape {tuple(value.shape)} where {net} needs {shape}"
    extra = sorted(set(state) - set(wanted), key=str)
    if extra:
        return f"{member}tensor {extra[0]!r} does not belong to a {net} net"
    return None


def _check_parts(payload: dict[str, Any], config: TrainConfig, label: str) -> None:
    """Refuse a checkpoint whose parts disagree, before it can score anything wrong.

    Names, normalization, thresholds and weights must all describe one net: len(feature_names) == input_size ==
    len(mean) == len(std) == the first layer's in_features; len(label_names) == num_outputs == len(thresholds) ==
    the last layer's out_features; the hidden layer's size matches; names are unique; mean and std are finite and
    std > 0 (the Standardizer never writes a zero std: it would turn every probability into NaN).
    """
    def damaged(what: str) -> MultilabelError:
        return MultilabelError(f"{label} is a damaged multilabel checkpoint ({what}); retrain or choose another file")

    problem = state_problem(payload["state_dict"], config)
    if problem:
        raise damaged(problem)
    for key, count, what in (("feature_names", config.input_size, "features"),
                             ("label_names", config.num_outputs, "labels")):
        names = payload[key]
        if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
            raise damaged(f"{key} is not a list of names")
        if len(names) != count:
            raise damaged(f"{len(names)} {key.replace('_', ' ')} for a net with {count} {what}"
                          + ("; label count does not match the model" if key == "label_names" else ""))
        repeated = sorted({n for n in names if list(names).count(n) > 1})
        if repeated:
            raise damaged(f"the {what[:-1]} name {repeated[0]!r} appears twice")
    for key in ("mean", "std"):
        values = payload[key]
        if not isinstance(values, torch.Tensor) or values.shape != (config.input_size,):
            got = tuple(values.shape) if isinstance(values, torch.Tensor) else type(values).__name__
            raise damaged(f"{key} has shape {got} for {config.input_size} features")
        if not torch.isfinite(values).all():
            raise damaged(f"{key} holds NaN or infinite values")
    std = payload["std"]
    if (std <= 0).any():
        j = int(torch.nonzero(std <= 0)[0, 0])
        raise damaged(f"std is {float(std[j]):g} for feature {payload['feature_names'][j]!r}: it would make every "
                      "probability NaN")
    thresholds = payload["thresholds"]
    if (not isinstance(thresholds, (list, tuple)) or len(thresholds) != config.num_outputs
            or not all(isinstance(t, (int, float)) and 0.0 <= t <= 1.0 for t in thresholds)):
        raise damaged(f"thresholds must be {config.num_outputs} numbers in [0, 1], one per label")


def _is_zip(source: PathOrFile) -> bool:
    if isinstance(source, (str, os.PathLike)):
        return zipfile.is_zipfile(source)
    start = source.tell()
    try:
        return zipfile.is_zipfile(source)
    finally:
        source.seek(start)
