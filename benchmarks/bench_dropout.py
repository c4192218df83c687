"""Ways to draw a dropout mask (and input noise) on the CPU, side by side in one run (issue 24).

The contract every variant keeps: each hidden unit of each row kept with probability 1-p and scaled by 1/(1-p),
independently across rows and units, a fresh mask every step, from a seeded torch.Generator. Three tables (median
milliseconds of --repeats timed calls after a warm-up, rows interleaved so a busy neighbour hits them alike):

  mask      the mask alone for a (batch, hidden) float32 activation
  step      one training step of Linear(in, hidden) -> ReLU -> dropout -> Linear(hidden, out), BCE loss, fused AdamW:
            forward + backward + optimizer step, the work of one engine step
  noise     Gaussian noise for a (batch, in) input

    python benchmarks/bench_dropout.py                       # 4096 x 64 -> 512 -> 16, p 0.3: about 30 s
    python benchmarks/bench_dropout.py --batch 1024 --hidden 256 --repeats 50
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from multilabel.model import KEEP_BITS, MLP, add_noise, keep_threshold, uniform_bits  # noqa: E402


def timed(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each callable, calls interleaved across the callables."""
    for fn in fns.values():
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def box_muller(n: int, d: int, gen: torch.Generator) -> torch.Tensor:
    """(n, d) standard normals from int64 words: two 32-bit uniforms per word, Box-Muller (an alternative)."""
    m = (n * d + 1) // 2
    words = torch.empty(m, dtype=torch.int64).random_(-2 ** 63, None, generator=gen).view(torch.int32).view(m, 2)
    u = words.to(torch.float32).add_(2.0 ** 31 + 0.5).mul_(2.0 ** -32)
    r = u[:, 0].log_().mul_(-2.0).sqrt_()
    theta = u[:, 1].mul_(2 * math.pi)
    return torch.cat([r * theta.cos(), r * theta.sin()])[:n * d].view(n, d)


class BoolMaskDropout(torch.autograd.Function):
    """A custom autograd Function: the mask drawn once as bool, kept for backward (the issue's suggestion)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(mask)
        ctx.scale = scale
        return x.mul(mask).mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (mask,) = ctx.saved_tensors
        return grad.mul(mask).mul_(ctx.scale), None, None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--inputs", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--outputs", type=int, default=16)
    ap.add_argument("--p", type=float, default=0.3, help="dropout probability (default 0.3, TrainConfig's)")
    ap.add_argument("--noise", type=float, default=0.5, help="input noise std for the noise table")
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n, d, h, o, p = args.batch, args.inputs, args.hidden, args.outputs, args.p
    keep, scale = 1 - p, 1 / (1 - p)
    gen = torch.Generator().manual_seed(0)
    print(f"torch {torch.__version__}, CPU, {torch.get_num_threads()} threads; batch {n}, {d} -> {h} -> {o}, p {p}; "
          f"median ms of {args.repeats} interleaved calls")
    threshold = keep_threshold(p)
    print(f"shipped 16-bit mask: keep if a 16-bit chunk < {threshold} of 2^{KEEP_BITS}: keep rate "
          f"{threshold / 2 ** KEEP_BITS:.8f} (1-p = {keep:.8f}, off by {abs(threshold / 2 ** KEEP_BITS - keep):.2e})\n")

    x = torch.randn(n, h)
    u8_threshold = round(keep * 256)

    def chunks_bool() -> torch.Tensor:
        return uniform_bits((n, h), gen) < threshold - 2 ** 15

    def chunks_float() -> torch.Tensor:
        out = torch.empty(n, h)
        return torch.lt(uniform_bits((n, h), gen), threshold - 2 ** 15, out=out)

    masks = {
        "F.dropout (nn.Dropout)": lambda: F.dropout(x, p, True),
        "bernoulli_ float": lambda: torch.empty(n, h).bernoulli_(keep, generator=gen),
        "bernoulli_ bool": lambda: torch.empty(n, h, dtype=torch.bool).bernoulli_(keep, generator=gen),
        "rand < 1-p": lambda: torch.rand(n, h, generator=gen) < keep,
        f"uint8 random_ < {u8_threshold} (8-bit)": lambda: torch.empty(n, h, dtype=torch.uint8).random_(generator=gen)
        < u8_threshold,
        "int32 words, 16-bit chunks -> bool": lambda: torch.empty(n * h // 2, dtype=torch.int32).random_(
            -2 ** 31, None, generator=gen).view(torch.int16).view(n, h) < threshold - 2 ** 15,
        "int64 words, 16-bit chunks -> bool": chunks_bool,
        "int64 words, 16-bit chunks -> float (shipped)": chunks_float,
    }
    print("mask alone (batch x hidden)")
    for key, ms in timed(masks, args.repeats).items():
        print(f"  {key:<48} {ms:8.2f}")
    print(f"  (8-bit: keep rate {u8_threshold / 256:.6f}, off by {abs(u8_threshold / 256 - keep):.1e}: over 1e-4)")

    torch.manual_seed(0)
    X, Y = torch.randn(n, d), (torch.rand(n, o) < 0.3).float()
    loss_fn = nn.BCEWithLogitsLoss()

    def stepper(hidden: Callable[[torch.Tensor, nn.Linear], torch.Tensor],
                model: nn.Module | None = None) -> Callable[[], None]:
        torch.manual_seed(0)
        first, last = nn.Linear(d, h), nn.Linear(h, o)
        params = list(first.parameters()) + list(last.parameters())
        opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1.0, fused=True)

        def step() -> None:
            loss = loss_fn(hidden(first(X).relu_(), last), Y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    def shipped_step() -> Callable[[], None]:
        torch.manual_seed(0)
        model = MLP(d, h, o, p).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1.0, fused=True)

        def step() -> None:
            loss = loss_fn(model(X), Y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return step

    def float_mask(s: float) -> torch.Tensor:
        return torch.lt(uniform_bits((n, h), gen), threshold - 2 ** 15, out=torch.empty(n, h)).mul_(s)

    steps = {
        "no dropout": stepper(lambda a, last: last(a)),
        "nn.Dropout": stepper(lambda a, last: last(F.dropout(a, p, True))),
        "bernoulli_ float mask, a * mask / (1-p)": stepper(
            lambda a, last: last(a * torch.empty(n, h).bernoulli_(keep, generator=gen) * scale)),
        "chunks -> bool, a * mask * scale (autograd)": stepper(lambda a, last: last(a * chunks_bool() * scale)),
        "chunks -> bool, autograd.Function (mask reused)": stepper(
            lambda a, last: last(BoolMaskDropout.apply(a, chunks_bool(), scale))),
        "chunks -> float {0, 1/(1-p)}, a * mask": stepper(lambda a, last: last(a * float_mask(scale))),
        "chunks -> float {0, 1}, a * mask, scale in W2": stepper(
            lambda a, last: F.linear(a * float_mask(1.0), last.weight * scale, last.bias)),
        "shipped: relu(pre * mask) in place, scale in W2": shipped_step(),
    }
    print("\ntraining step (forward + backward + fused AdamW)")
    step_ms = timed(steps, args.repeats)
    base = step_ms["no dropout"]
    for key, ms in step_ms.items():
        print(f"  {key:<48} {ms:8.2f}   {base / ms:5.2f}x no-dropout speed")

    xin = torch.randn(n, d)
    noises = {
        "x + std * randn_like(x)": lambda: xin + args.noise * torch.randn_like(xin),
        "randn with generator": lambda: xin + args.noise * torch.randn(n, d, generator=gen),
        "Box-Muller from int64 words": lambda: xin + args.noise * box_muller(n, d, gen),
        "shipped add_noise (randn, fused add)": lambda: add_noise(xin, args.noise),
    }
    print(f"\ninput noise (batch x {d})")
    for key, ms in timed(noises, args.repeats).items():
        print(f"  {key:<48} {ms:8.2f}")


if __name__ == "__main__":
    main()
