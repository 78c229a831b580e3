"""Small deterministic networks and data shared by the optimizer tests."""

from __future__ import annotations

import torch
from torch import nn


class ConvNet(nn.Module):
    """A tiny network with 4-D (conv), 2-D (linear) and 1-D (bias) parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, kernel_size=3)  # weight 4-D, bias 1-D
        self.fc1 = nn.Linear(3 * 4 * 4, 8)  # 2-D + 1-D
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.conv(x)).flatten(1)
        return self.fc2(torch.tanh(self.fc1(h)))


class MatrixNet(nn.Module):
    """Only 2-D parameters (no biases), for optimizers that accept matrices only (Muon)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(12, 16, bias=False)
        self.fc2 = nn.Linear(16, 8, bias=False)
        self.fc3 = nn.Linear(8, 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)[:, :12]
        return self.fc3(torch.tanh(self.fc2(torch.tanh(self.fc1(x)))))


def make_model(kind: str, dtype: torch.dtype, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = {"conv": ConvNet, "matrix": MatrixNet}[kind]()
    return model.to(dtype)


def make_batches(dtype: torch.dtype, steps: int, seed: int = 1, batch: int = 16) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """A fixed regression data stream: a different mini-batch for every step."""
    gen = torch.Generator().manual_seed(seed)
    xs = torch.randn(steps, batch, 2, 6, 6, generator=gen, dtype=torch.float64)
    ys = torch.randn(steps, batch, 2, generator=gen, dtype=torch.float64)
    return [(x.to(dtype), y.to(dtype)) for x, y in zip(xs, ys, strict=True)]


def param_groups(model: nn.Module, group2: dict | None) -> list[dict]:
    """One group, or two groups (the last module's parameters get ``group2``'s overrides)."""
    params = list(model.parameters())
    if group2 is None:
        return [{"params": params}]
    split = len(params) - (2 if isinstance(model, ConvNet) else 1)
    return [{"params": params[:split]}, {"params": params[split:], **group2}]


def train(model: nn.Module, optimizer: torch.optim.Optimizer, batches, hook=None, use_closure: bool = False) -> list[float]:
    """Run one optimizer step per batch (MSE loss); return the losses."""
    losses = []
    for step, (x, y) in enumerate(batches):
        if hook is not None:
            hook(optimizer, step)

        def closure(x=x, y=y):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss

        if use_closure:
            loss = optimizer.step(closure)
        else:
            loss = closure()
            optimizer.step()
        losses.append(loss.item())
    return losses
