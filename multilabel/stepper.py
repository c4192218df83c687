"""The optimizer step and the set-up that ``engine.train`` and ``refit.refit`` share.

``Stepper`` runs one epoch of minibatch steps over a permutation of rows already on the device: batches are sliced
by index (no DataLoader for tensors already in memory), the loss is summed on the device and never read here (no
host sync per step), and on CUDA the whole step can be captured as one CUDA graph.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable, Optional, Protocol

import numpy as np
import torch
from torch import nn

from .config import TrainConfig
from .data import Dataset
from .errors import MultilabelError

POS_WEIGHT_CLIP = (0.05, 50.0)
# Stop is checked between optimizer steps this often (by time: reading a clock costs ~50 ns, an Event ~200 ns), so
# Stop takes effect within about this long plus one validation pass, even inside a long epoch.
STOP_CHECK_S = 0.1
PROGRESS_S = 0.5  # on_progress at most this often inside an epoch (never in shorter epochs)
AUTO_BATCH_DIVISOR = 16
AUTO_BATCH_RANGE = (32, 1024)


class StopFlag(Protocol):
    """What ``train`` needs of a stop signal: threading.Event and multiprocessing.Event both qualify."""

    def is_set(self) -> bool: ...


def pos_weights(Y_train: np.ndarray) -> np.ndarray:
    """negatives / positives per label, clipped to POS_WEIGHT_CLIP (a label with no positives gets the maximum)."""
    pos = Y_train.sum(axis=0)
    neg = Y_train.shape[0] - pos
    ratio = np.where(pos > 0, neg / np.maximum(pos, 1), POS_WEIGHT_CLIP[1])
    return np.clip(ratio, *POS_WEIGHT_CLIP).astype(np.float32)


def check_shapes(config: TrainConfig, data: Dataset) -> None:
    if data.X.shape[1] != config.input_size:
        raise MultilabelError(f"input_size is {config.input_size} but the data has {data.X.shape[1]} feature "
                              f"columns; set input_size to {data.X.shape[1]}")
    if data.Y.shape[1] != config.num_outputs:
        raise MultilabelError(f"num_outputs is {config.num_outputs} but the data has {data.Y.shape[1]} label "
                              f"columns; set num_outputs to {data.Y.shape[1]}")


def optimizer_kernel(device: torch.device) -> dict[str, Any]:
    """Extra keyword arguments of Adam / AdamW on ``device``: the fused kernel on a CPU (one pass over each
    parameter instead of a dozen elementwise ops: an emotions-sized training run 0.82 -> 0.69 s on one thread, the
    same best validation loss to 8 digits), torch's own default elsewhere."""
    return {"fused": True} if device.type == "cpu" else {}


def auto_batch_size(n_train: int) -> int:
    """The batch size that ``batch_size=0`` means: about 16 steps per epoch, clipped to AUTO_BATCH_RANGE."""
    return int(min(max(n_train // AUTO_BATCH_DIVISOR, AUTO_BATCH_RANGE[0]), AUTO_BATCH_RANGE[1]))


def resolve_auto(config: TrainConfig, n_train: int) -> TrainConfig:
    """``config`` with automatic values (``batch_size=0``) replaced by what they mean for ``n_train`` rows."""
    if config.batch_size == 0:
        return config.replace(batch_size=auto_batch_size(n_train))
    return config


class Stepper:
    """One optimizer step per call on a batch of row indices; losses summed on the device, never synced here."""

    def __init__(self, model: nn.Module, loss_fn: nn.Module, X: torch.Tensor, Y: torch.Tensor,
                 config: TrainConfig, device: torch.device) -> None:
        self.model, self.loss_fn, self.X, self.Y = model, loss_fn, X, Y
        self.batch_size = config.batch_size
        self.loss_sum = torch.zeros((), device=device)
        self.graph: Optional[torch.cuda.CUDAGraph] = None
        use_graph = device.type == "cuda" and config.cuda_graph != "off" and X.shape[0] >= config.batch_size
        optimizer = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
        # A captured graph bakes a float learning rate into its kernels; a tensor one can change between replays.
        lr: float | torch.Tensor = (torch.tensor(config.learning_rate, device=device)
                                    if use_graph and config.lr_schedule != "constant" else config.learning_rate)
        self.optimizer = optimizer(model.parameters(), lr=lr, weight_decay=config.weight_decay, capturable=use_graph,
                                   **optimizer_kernel(device))
        if use_graph:
            self._capture(device)

    def _eager(self, idx: torch.Tensor) -> None:
        loss = self.loss_fn(self.model(self.X.index_select(0, idx)), self.Y.index_select(0, idx))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.loss_sum.add_(loss.detach() * idx.numel())

    def _capture(self, device: torch.device) -> None:
        """Capture index_select + forward + loss + backward + Adam step as one graph (full batches only).

        Warm-up steps are needed before capture; they would move the weights, so the weights and Adam's state
        are put back afterwards and the graphed run starts from the same point as an eager one.
        """
        start = copy.deepcopy(self.model.state_dict())
        self.static_idx = torch.arange(self.batch_size, device=device)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self._eager(self.static_idx)
        torch.cuda.current_stream(device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            loss = self.loss_fn(self.model(self.X.index_select(0, self.static_idx)),
                                self.Y.index_select(0, self.static_idx))
            loss.backward()
            self.optimizer.step()
            self.loss_sum.add_(loss.detach() * self.batch_size)
        with torch.no_grad():
            for name, value in self.model.state_dict().items():
                value.copy_(start[name])
            for state in self.optimizer.state.values():
                for value in state.values():
                    if torch.is_tensor(value):
                        value.zero_()  # Adam's fresh state is all zeros, step count included
        self.graph = graph

    def load_optimizer_state(self, state: dict[str, Any]) -> None:
        """Restore a saved optimizer state; into the captured graph's own tensors when there is a graph."""
        if self.graph is None:
            self.optimizer.load_state_dict(state)
            return
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        with torch.no_grad():
            for index, saved in state["state"].items():
                for key, value in saved.items():
                    self.optimizer.state[params[int(index)]][key].copy_(value)

    def set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            if torch.is_tensor(group["lr"]):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr

    def epoch(self, perm: torch.Tensor, stop: Optional[StopFlag] = None,
              on_progress: Optional[Callable[[int, int], None]] = None) -> tuple[torch.Tensor, int]:
        """Run one pass over ``perm`` (row indices), or the part of it before ``stop`` was seen.

        Returns (mean loss over the rows trained as a 0-d device tensor, rows trained). ``stop`` is checked every
        STOP_CHECK_S and ``on_progress(steps_done, steps)`` called every PROGRESS_S, both by time.
        """
        self.loss_sum.zero_()
        n, bs = perm.numel(), self.batch_size
        steps = math.ceil(n / bs)
        watch = stop is not None or on_progress is not None
        t0 = time.perf_counter()
        next_check, next_progress = t0 + STOP_CHECK_S, t0 + PROGRESS_S
        done = n
        for step, start in enumerate(range(0, n, bs)):
            if watch and step:
                now = time.perf_counter()
                if now >= next_check:
                    next_check = now + STOP_CHECK_S
                    if stop is not None and stop.is_set():
                        done = start
                        break
                    if on_progress is not None and now >= next_progress:
                        next_progress = now + PROGRESS_S
                        on_progress(step, steps)
            idx = perm[start:start + bs]
            if self.graph is not None and idx.numel() == bs:
                self.static_idx.copy_(idx)
                self.graph.replay()
            else:
                self._eager(idx)  # the last partial batch runs eagerly (same math, no graph)
        return self.loss_sum / done, done
