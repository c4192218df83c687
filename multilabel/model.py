"""The network: Linear -> ReLU -> Linear, one logit per label (no sigmoid: BCEWithLogitsLoss applies it)."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """``forward(x: (n, input_size) float32) -> logits: (n, num_outputs) float32``."""

    def __init__(self, input_size: int, hidden_size: int, num_outputs: int, dropout: float = 0.0,
                 input_noise: float = 0.0) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_outputs = input_size, hidden_size, num_outputs
        # Training only: Gaussian noise of this std added to the (standardized) inputs, a regularizer like dropout.
        # Not a weight: it is not in the state dict, and eval() / a loaded checkpoint never adds it.
        self.input_noise = float(input_noise)
        self.net = nn.Sequential(
            nn.Linear(input_size, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Linear(hidden_size, num_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.input_noise > 0:
            x = x + self.input_noise * torch.randn_like(x)
        return self.net(x)
