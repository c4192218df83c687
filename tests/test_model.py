"""multilabel.model: the MLP's named layers, which pages and analysis read instead of indexing ``net``."""

from __future__ import annotations

import numpy as np
import torch

from multilabel.model import MLP


def test_named_layers_are_the_first_and_last_linear_layers_and_weights_come_as_copies():
    torch.manual_seed(0)
    for dropout in (0.0, 0.3):  # with and without a Dropout module between them
        net = MLP(5, 7, 3, dropout=dropout)
        assert net.hidden_layer is net.net[0] and net.output_layer is net.net[-1]
        assert net.hidden_layer.weight.shape == (7, 5) and net.output_layer.weight.shape == (3, 7)
        w1, w2 = net.weight_matrices()
        assert w1.dtype == np.float32 and w1.shape == (7, 5) and w2.shape == (3, 7)
        w1[:] = 0  # a copy: the model keeps its weights
        assert net.hidden_layer.weight.abs().sum() > 0
        x = torch.randn(4, 5)
        net.eval()
        by_hand = torch.relu(x @ net.hidden_layer.weight.T + net.hidden_layer.bias) @ net.output_layer.weight.T
        assert torch.allclose(net(x), by_hand + net.output_layer.bias, atol=1e-6)
