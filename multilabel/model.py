"""The network: Linear -> ReLU -> Linear, one logit per label (no sigmoid: BCEWithLogitsLoss applies it)."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """``forward(x: (n, input_size) float32) -> logits: (n, num_outputs) float32``."""

    def __init__(self, input_size: int, hidden_size: int, num_outputs: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.num_outputs = input_size, hidden_size, num_outputs
        self.net = nn.Sequential(
            nn.Linear(input_size, hidden_size),
            nn.ReLU(),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Linear(hidden_size, num_outputs),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
