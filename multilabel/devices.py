"""The devices torch can train on here, and the one a config trains on (``device="auto"``).

Kept apart from config.py so that reading or validating a TrainConfig with ``device="auto"`` (the CLI's ``--help``,
``runs``) does not import torch; asking about devices does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from .config import TrainConfig

# device="auto" and the GPU: an eager GPU step pays a fixed launch cost whatever the net's size, so without a CUDA
# graph only nets with this much arithmetic per step go to the GPU; a captured graph wins at every size once the
# training split holds one full batch (benchmarks/bench_device_choice.py; numbers in benchmarks/README.md,
# "Measurements moved out of code comments").
AUTO_GPU_MIN_MACS_PER_STEP = 2_000_000


def available_devices() -> list[str]:
    """Devices that exist here, CPU first: a subset of ['cpu', 'cuda', 'mps']."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


def resolve_device(config: TrainConfig, n_train: int | None = None) -> torch.device:
    """The torch.device a validated config trains on, for ``n_train`` training rows (unknown: None).

    ``auto`` takes CUDA where the step will be a CUDA graph (cuda_graph not 'off' and at least one full batch of
    training rows); otherwise a GPU only for nets with AUTO_GPU_MIN_MACS_PER_STEP or more per step; else the CPU.
    """
    if config.device != "auto":
        return torch.device(config.device)
    devices = available_devices()
    graphed = "cuda" in devices and config.cuda_graph != "off" and n_train is not None and n_train >= config.batch_size
    if graphed:
        return torch.device("cuda")
    if config.macs_per_step() < AUTO_GPU_MIN_MACS_PER_STEP:
        return torch.device("cpu")
    for name in ("cuda", "mps"):
        if name in devices:
            return torch.device(name)
    return torch.device("cpu")


def describe_devices() -> list[dict[str, Any]]:
    """One dict per available device: name, and for CUDA the card's name and memory in GiB."""
    out: list[dict[str, Any]] = [{"device": "cpu", "name": "CPU", "threads": torch.get_num_threads()}]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            out.append({"device": "cuda" if i == 0 else f"cuda:{i}", "name": props.name,
                        "memory_gib": round(props.total_memory / 2**30, 1)})
    if "mps" in available_devices():
        out.append({"device": "mps", "name": "Apple GPU (MPS)"})
    return out
