"""The CPU dropout and input-noise paths (multilabel.model): the contract nn.Dropout keeps, at a lower cost.

Each hidden unit of each row kept with probability 1-p and scaled by 1/(1-p), independently across rows and units, a
fresh mask every step, from the seeded generator; a resumed run matches an uninterrupted one (test_engine.py pins
that with dropout on: test_a_continued_run_matches_one_uninterrupted_run_of_the_same_length).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from multilabel import MLP, TrainConfig, make_synthetic, train
from multilabel.batched import StackedMLP
from multilabel.model import KEEP_BITS, keep_mask, keep_threshold, uniform_bits


@pytest.mark.parametrize("p", [1e-6, 1e-3, 0.1, 0.25, 0.3, 0.5, 0.7, 0.9, 0.999, 1 - 1e-6])
def test_the_quantized_keep_rate_is_within_1e_4_of_1_minus_p(p):
    assert abs(keep_threshold(p) / 2 ** KEEP_BITS - (1 - p)) <= 2 ** -17  # 7.6e-6, well inside 1e-4


def test_every_bit_of_the_16_bit_chunks_is_a_fair_coin():
    torch.manual_seed(0)
    bits = uniform_bits((1 << 18,)).to(torch.int32) & 0xFFFF  # 0 .. 65535
    ones = torch.stack([((bits >> b) & 1).float().mean() for b in range(16)])
    # 2^18 draws: the standard error of each share is 0.001; the sign bit used to be always 0 with a plain random_()
    assert torch.all((ones - 0.5).abs() < 0.005), ones


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.9])
def test_the_keep_rate_is_1_minus_p_within_statistical_bounds(p):
    torch.manual_seed(1)
    mask = keep_mask((4096, 512), p)
    assert mask.dtype == torch.float32 and set(mask.unique().tolist()) <= {0.0, 1.0}
    rate = keep_threshold(p) / 2 ** KEEP_BITS
    sigma = math.sqrt(rate * (1 - rate) / mask.numel())
    assert abs(mask.mean().item() - rate) < 5 * sigma


def test_masks_are_independent_across_rows_and_units():
    torch.manual_seed(2)
    mask = keep_mask((8192, 64), 0.3).numpy()
    n = mask.shape[0]
    bound = 5 / math.sqrt(n)  # |correlation| of independent 0/1 columns: about N(0, 1/n)
    units = np.corrcoef(mask, rowvar=False)  # units against units (neighbours share a random word)
    assert np.abs(units[~np.eye(64, dtype=bool)]).max() < bound
    rows = np.corrcoef(mask[0::2].ravel(), mask[1::2].ravel())[0, 1]  # each row against the next
    assert abs(rows) < 5 / math.sqrt(mask[0::2].size)
    # Four units of one row come from one 64-bit word: all 16 patterns of 4 kept/dropped show up at their rates.
    quads = mask.reshape(-1, 4) @ np.array([1, 2, 4, 8])
    counts = np.bincount(quads.astype(int), minlength=16)
    keep = keep_threshold(0.3) / 2 ** KEEP_BITS
    expected = np.array([keep ** bin(q).count("1") * (1 - keep) ** (4 - bin(q).count("1")) for q in range(16)])
    expected *= quads.size
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))


def _reference(model: MLP, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    first, last = model.net[0], model.net[-1]
    return F.linear(first(x).relu() * mask / (1 - model.dropout), last.weight, last.bias)


def test_the_training_forward_is_relu_times_mask_over_keep_and_so_are_its_gradients():
    torch.manual_seed(3)
    model = MLP(8, 32, 4, dropout=0.3).train()
    x = torch.randn(64, 8)
    torch.manual_seed(10)
    out = model(x)
    torch.manual_seed(10)
    mask = keep_mask((64, 32), 0.3)  # the same draw: same seed, same mask
    assert 0 < mask.mean() < 1
    expected = _reference(model, x, mask)
    torch.testing.assert_close(out, expected)
    grads = torch.autograd.grad(out.square().sum(), list(model.parameters()))
    expected_grads = torch.autograd.grad(expected.square().sum(), list(model.parameters()))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want)
    # Dropped units pass no gradient to their incoming weights in rows where they were dropped.
    row = x[:1]
    torch.manual_seed(11)
    model.zero_grad()
    model(row).sum().backward()
    torch.manual_seed(11)
    dropped = keep_mask((1, 32), 0.3)[0] == 0
    assert dropped.any()
    assert torch.all(model.net[0].weight.grad[dropped] == 0)


def test_the_scaled_output_is_unbiased_and_eval_adds_no_noise():
    torch.manual_seed(4)
    model = MLP(8, 64, 4, dropout=0.5, input_noise=0.3)
    x = torch.randn(16, 8)
    model.eval()
    plain = model(x)
    torch.testing.assert_close(model(x), plain)  # eval: no mask, no noise
    model.input_noise = 0.0
    model.train()
    mean = torch.stack([model(x) for _ in range(4000)]).mean(0)
    torch.testing.assert_close(mean, plain, atol=0.05, rtol=0.05)


def test_a_fresh_mask_every_step_and_the_same_masks_from_the_same_seed():
    model = MLP(8, 32, 4, dropout=0.3, input_noise=0.2).train()
    x = torch.randn(64, 8)
    torch.manual_seed(5)
    first = [model(x) for _ in range(3)]
    torch.manual_seed(5)
    again = [model(x) for _ in range(3)]
    for a, b in zip(first, again):
        assert torch.equal(a, b)
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[1], first[2])
    torch.manual_seed(6)
    assert not torch.equal(model(x), first[0])


def test_a_seeded_run_with_dropout_and_noise_gives_the_same_numbers_twice():
    data = make_synthetic(600, 6, 3, seed=1)
    config = TrainConfig(input_size=6, num_outputs=3, hidden_size=32, epochs=4, batch_size=64, dropout=0.3,
                         input_noise=0.2, refit="none", device="cpu").validate()
    one, two = train(config, data), train(config, data)
    assert [r["train_loss"] for r in one.history] == [r["train_loss"] for r in two.history]
    for name, value in one.trained.model.state_dict().items():
        assert torch.equal(two.trained.model.state_dict()[name], value)
    other = train(config.replace(seed=1), data)
    assert [r["train_loss"] for r in other.history] != [r["train_loss"] for r in one.history]


def test_stacked_members_use_the_same_mask_contract():
    torch.manual_seed(7)
    nets = [MLP(8, 32, 4, dropout=0.3) for _ in range(2)]
    stacked = StackedMLP(nets, dropout=0.3).train()
    x = torch.randn(2, 64, 8)
    torch.manual_seed(12)
    out = stacked(x)
    torch.manual_seed(12)
    mask = keep_mask((2, 64, 32), 0.3)
    hidden = torch.baddbmm(stacked.b1, x, stacked.w1).relu() * mask / 0.7
    torch.testing.assert_close(out, torch.baddbmm(stacked.b2, hidden, stacked.w2))


def test_the_refit_estimate_is_rows_times_epochs_at_the_runs_median_rate():
    from multilabel.refit import refit_expected_s
    history = [{"samples_per_s": 1000.0}, {"samples_per_s": 3000.0}, {"samples_per_s": 2000.0},
               {"samples_per_s": 10.0, "partial": True}]
    assert refit_expected_s(history, rows=5000, epochs=4) == pytest.approx(10.0)
    assert refit_expected_s([], rows=5000, epochs=4) is None
