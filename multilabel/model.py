"""The network: Linear -> ReLU -> Linear, one logit per label (no sigmoid: BCEWithLogitsLoss applies it)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

# Dropout masks on the CPU come from 16-bit chunks of random 64-bit words: a unit is kept when its chunk is below
# keep_threshold(p). torch's bernoulli_ (behind nn.Dropout) asks the generator once per element; one 64-bit word
# covers four elements, which makes the mask about 10x cheaper (benchmarks/bench_dropout.py). The keep rate is
# keep_threshold(p) / 2**16, within 2**-17 (7.6e-6) of 1-p.
KEEP_BITS = 16


def keep_threshold(p: float) -> int:
    """Chunks (uniform on 0 .. 2**KEEP_BITS - 1) below this are kept: the keep rate is this / 2**KEEP_BITS."""
    return round((1.0 - p) * 2 ** KEEP_BITS)


def uniform_bits(shape: tuple[int, ...], generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """An int16 CPU tensor of ``shape``, every element uniform on -2**15 .. 2**15 - 1 and independent of the others:
    four per 64-bit word drawn from ``generator`` (torch's default generator if None)."""
    n = 1
    for size in shape:
        n *= size
    # random_(min, None) on int64 draws all 64 bits; a plain random_() leaves the sign bit 0.
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-2 ** 63, None, generator=generator)
    return words.view(torch.int16)[:n].view(shape)


def keep_mask(shape: tuple[int, ...], p: float, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """A float32 CPU tensor of ``shape``: 1.0 with probability keep_threshold(p) / 2**16 (1-p to 7.6e-6), else 0.0,
    independently per element. Not scaled: the caller applies 1/(1-p) where it is cheapest."""
    threshold = keep_threshold(p)
    if threshold >= 2 ** KEEP_BITS:  # p below 2**-17: every unit kept (keep rate 1, within 7.6e-6 of 1-p)
        return torch.ones(shape)
    # The comparison writes float 0/1 straight away: a bool mask would cost a conversion, and float * bool is slow.
    return torch.lt(uniform_bits(shape, generator), threshold - 2 ** (KEEP_BITS - 1), out=torch.empty(shape))


class MaskedReLU(torch.autograd.Function):
    """``relu(pre * mask)`` for a 0/1 ``mask``, written over ``pre`` (a layer's fresh output that nothing else keeps).

    Backward passes the gradient where the output is positive: a dropped unit's output is 0, so that one test covers
    the ReLU and the mask, and neither the mask nor a second pass over the gradient is needed.
    """

    @staticmethod
    def forward(ctx: Any, pre: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.mark_dirty(pre)
        out = pre.mul_(mask).relu_()
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        (out,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad, out, 0.0), None


def masked_relu(pre: torch.Tensor, p: float) -> torch.Tensor:
    """Dropout after a ReLU on the CPU, unscaled: ``relu(pre)`` with each element kept with probability 1-p (see
    keep_mask) and 0 otherwise. ``pre``: a fresh layer output, overwritten. The caller scales by 1/(1-p)."""
    return MaskedReLU.apply(pre, keep_mask(pre.shape, p))


def add_noise(x: torch.Tensor, std: float) -> torch.Tensor:
    """``x`` plus Gaussian noise of standard deviation ``std`` from torch's default generator (one fused add)."""
    return torch.add(x, torch.randn_like(x), alpha=std)


class MLP(nn.Module):
    """``forward(x: (n, input_size) float32) -> logits: (n, num_outputs) float32``."""

    def __init__(self, input_size: int, hidden_size: int, num_outputs: int, dropout: float = 0.0,
                 input_noise: float = 0.0) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_outputs = input_size, hidden_size, num_outputs
        # Training only: Gaussian noise of this std added to the (standardized) inputs, a regularizer like dropout.
        # Not a weight: it is not in the state dict, and eval() / a loaded checkpoint never adds it.
        self.input_noise = float(input_noise)
        self.dropout = float(dropout)
        self.net = nn.Sequential(
            nn.Linear(input_size, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Linear(hidden_size, num_outputs),
        )

    @property
    def hidden_layer(self) -> nn.Linear:
        """The input -> hidden layer: weight (hidden_size, input_size), bias (hidden_size,)."""
        return self.net[0]

    @property
    def output_layer(self) -> nn.Linear:
        """The hidden -> logits layer: weight (num_outputs, hidden_size), bias (num_outputs,)."""
        return self.net[-1]

    def weight_matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of the two weight matrices as float32 numpy arrays: (hidden_size, input_size) and
        (num_outputs, hidden_size), the shapes ``analysis.network_picture`` takes."""
        return (self.hidden_layer.weight.detach().cpu().numpy().copy(),
                self.output_layer.weight.detach().cpu().numpy().copy())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.net(x)
        if self.input_noise > 0:
            x = add_noise(x, self.input_noise)
        if self.dropout > 0 and x.device.type == "cpu":
            # Fast CPU dropout: a 0/1 mask from keep_mask; the 1/(1-p) scale goes into the (small) output weight
            # instead of a pass over the (batch, hidden) activations: (h * m / (1-p)) W^T == (h * m) (W / (1-p))^T.
            first, last = self.hidden_layer, self.output_layer
            hidden = masked_relu(first(x), self.dropout)
            return F.linear(hidden, last.weight * (1.0 / (1.0 - self.dropout)), last.bias)
        return self.net(x)  # GPUs: nn.Dropout's fused kernel (and CUDA graphs) already make the mask cheap
