"""Several copies of one net trained at once: stacked weights and batched matmuls (``torch.baddbmm``).

k members of the same configuration (different seeds) are one model with weights of shape (k, ...): every step
gathers each member's own minibatch (its own permutation of the rows), runs one batched forward and backward, and
one optimizer step updates all members. Adam and AdamW work elementwise, so each member gets exactly the update it
would get alone (same initial weights, same batch order; only floating-point summation order differs). On a CPU the
win is fewer, larger kernels and one Python step for k members; on a GPU, k times fewer launches.
"""

from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .checkpoint import TrainedModel
from .config import TrainConfig
from .data import Dataset
from .errors import MultilabelError
from .model import MLP, add_noise, masked_relu
from .refit import all_rows_on_device
from .stepper import StopFlag, optimizer_kernel, pos_weights


class StackedMLP(nn.Module):
    """k Linear-ReLU-Linear nets as one module: ``forward(x: (k, b, input)) -> logits (k, b, outputs)``."""

    def __init__(self, nets: Sequence[MLP], dropout: float = 0.0, input_noise: float = 0.0) -> None:
        super().__init__()
        first, last = zip(*[(net.net[0], net.net[-1]) for net in nets])
        self.w1 = nn.Parameter(torch.stack([m.weight.detach().T for m in first]).contiguous())  # (k, in, h)
        self.b1 = nn.Parameter(torch.stack([m.bias.detach() for m in first]).unsqueeze(1).contiguous())  # (k, 1, h)
        self.w2 = nn.Parameter(torch.stack([m.weight.detach().T for m in last]).contiguous())  # (k, h, out)
        self.b2 = nn.Parameter(torch.stack([m.bias.detach() for m in last]).unsqueeze(1).contiguous())  # (k, 1, out)
        self.dropout, self.input_noise = dropout, input_noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.input_noise > 0:  # as MLP.forward (each member's rows get their own noise)
            x = add_noise(x, self.input_noise)
        pre = torch.baddbmm(self.b1, x, self.w1)
        if self.training and self.dropout > 0 and x.device.type == "cpu":
            # MLP.forward's CPU dropout: a cheap 0/1 mask with the ReLU, the scale in the output weight
            return torch.baddbmm(self.b2, masked_relu(pre, self.dropout), self.w2 * (1.0 / (1.0 - self.dropout)))
        hidden = pre.relu()
        if self.training and self.dropout > 0:
            hidden = F.dropout(hidden, self.dropout, True)
        return torch.baddbmm(self.b2, hidden, self.w2)

    @torch.no_grad()
    def unstack(self, dropout: float = 0.0) -> list[MLP]:
        """The members as ordinary MLPs (CPU copies)."""
        k, d_in, h = self.w1.shape
        out = []
        for i in range(k):
            net = MLP(d_in, h, self.w2.shape[2], dropout)
            net.net[0].weight.copy_(self.w1[i].T)
            net.net[0].bias.copy_(self.b1[i, 0])
            net.net[-1].weight.copy_(self.w2[i].T)
            net.net[-1].bias.copy_(self.b2[i, 0])
            out.append(net.eval())
        return out


def refit_seeds(config: TrainConfig, data: Dataset, epochs: int, seeds: Sequence[int],
                thresholds: Optional[list[float]] = None, stop: Optional[StopFlag] = None,
                on_epoch: Optional[Callable[[int], None]] = None) -> list[TrainedModel]:
    """``refit.refit`` for each seed in ``seeds`` (config's other knobs shared), trained together as one stacked
    model. Member i starts from the weights and follows the batch order that ``refit(config.replace(seed=s))``
    would. ``on_epoch(epoch)`` after each epoch. Returns one TrainedModel per seed (join them with
    ``search.ensemble``)."""
    if epochs < 1 or not seeds:
        raise MultilabelError(f"refit_seeds needs at least 1 epoch and 1 seed, got {epochs} and {list(seeds)}")
    config, device, standardizer, X, Y = all_rows_on_device(config, data)
    nets, gens = [], []
    for seed in seeds:
        torch.manual_seed(seed)
        nets.append(MLP(config.input_size, config.hidden_size, config.num_outputs, config.dropout))
        gen = torch.Generator(device=device)
        gen.manual_seed(seed)
        gens.append(gen)
    model = StackedMLP(nets, config.dropout, config.input_noise).to(device)
    pw = torch.from_numpy(pos_weights(data.Y)).to(device) if config.pos_weight == "auto" else None
    optimizer_cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_cls(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay,
                              **optimizer_kernel(device))
    n, bs, k = data.num_rows, config.batch_size, len(seeds)
    model.train()
    for epoch in range(1, epochs + 1):
        if config.lr_schedule == "cosine":
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / config.epochs))
        perms = torch.stack([torch.randperm(n, device=device, generator=g) for g in gens])  # (k, n)
        for start in range(0, n, bs):
            idx = perms[:, start:start + bs]  # (k, b): each member's own rows
            logits = model(X[idx])
            # Each member's mean loss, summed: every member's gradient is the one it would get alone.
            loss = F.binary_cross_entropy_with_logits(logits, Y[idx], pos_weight=pw, reduction="none")
            loss = loss.mean(dim=(1, 2)).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if stop is not None and stop.is_set():
            break
        if on_epoch is not None:
            on_epoch(epoch)
    cut = list(thresholds) if thresholds is not None else [0.5] * config.num_outputs
    return [TrainedModel(model=net, config=config.replace(epochs=epochs, seed=seed),
                         feature_names=list(data.feature_names), label_names=list(data.label_names),
                         standardizer=standardizer, thresholds=list(cut),
                         metrics={"refit_epochs": epochs, "rows": data.num_rows, "batched": k})
            for seed, net in zip(seeds, model.cpu().unstack(config.dropout))]
