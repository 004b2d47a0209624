"""The paper's MNIST network: Caffe's LeNet (PAPER.md §1.1) and its Caffe solver.

conv 20@5x5 -> max-pool 2 -> conv 50@5x5 -> max-pool 2 -> fc 500 + ReLU -> fc 10, with no ReLU
after the convolutions (as in Caffe's ``lenet_train_test.prototxt``). Input is pixel/256.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable

import torch
from torch import nn

log = logging.getLogger(__name__)


class LeNet(nn.Module):
    """Caffe's MNIST LeNet. Input ``(N, 1, 28, 28)`` already scaled; output logits ``(N, K)``."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.ip1 = nn.Linear(800, 500)
        self.ip2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _max_pool2(self.conv1(x))
        x = _max_pool2(self.conv2(x))
        x = torch.relu(self.ip1(x.flatten(1)))
        return self.ip2(x)


def _max_pool2(x: torch.Tensor) -> torch.Tensor:
    """2x2 max-pooling, stride 2. On the CPU without autograd it pools in channels-last
    memory and returns to the usual layout: the same numbers (a max picks one of its inputs),
    but that kernel is several times faster (LeNet's first pool: 4.5 vs 0.8 ms for 200 images
    on 2 cores). With autograd the plain kernel keeps training as it was."""
    if x.device.type != "cpu" or (torch.is_grad_enabled() and x.requires_grad):
        return nn.functional.max_pool2d(x, 2)
    x = x.contiguous(memory_format=torch.channels_last)
    return nn.functional.max_pool2d(x, 2).contiguous()


def xavier_init_(model: nn.Module, generator: torch.Generator) -> None:
    """Caffe's ``xavier`` filler (uniform, ±sqrt(3 / fan_in)) for weights; biases 0."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            a = math.sqrt(3.0 / fan_in)
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=generator) * 2 * a - a)
                if m.bias is not None:
                    m.bias.zero_()


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """Caffe's MNIST solver (``lenet_solver.prototxt``)."""

    base_lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    gamma: float = 1e-4
    power: float = 0.75
    batch_size: int = 64
    iterations: int = 10_000
    bias_lr_mult: float = 2.0

    def lr(self, it: int) -> float:
        """Caffe's "inv" policy: base_lr * (1 + gamma * it) ** -power."""
        return self.base_lr * (1.0 + self.gamma * it) ** (-self.power)


def train_lenet(
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int = 10,
    solver: SolverConfig = SolverConfig(),
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> LeNet:
    """Train a LeNet from scratch with Caffe's SGD rule.

    Args:
        images: ``(N, 1, 28, 28)`` float32, already scaled as the network sees them (pixel/256).
        labels: ``(N,)`` int64 in [0, num_classes).
        num_classes: outputs of the last layer.
        solver: the Caffe solver settings.
        seed: seeds the Xavier initialisation and the order of the examples.
        progress: called as ``progress(iteration, loss)`` every 100 iterations.

    Returns:
        The trained network, in eval mode.
    """
    gen = torch.Generator().manual_seed(seed)
    model = LeNet(num_classes)
    xavier_init_(model, gen)
    model.train()
    params = [
        (p, solver.bias_lr_mult if name.endswith("bias") else 1.0)
        for name, p in model.named_parameters()
    ]
    history = [torch.zeros_like(p) for p, _ in params]
    n = images.shape[0]
    order = torch.randperm(n, generator=gen)
    pos = 0
    for it in range(solver.iterations):
        if pos + solver.batch_size > n:  # a new epoch: a new order
            order = torch.randperm(n, generator=gen)
            pos = 0
        idx = order[pos : pos + solver.batch_size]
        pos += solver.batch_size
        loss = nn.functional.cross_entropy(model(images[idx]), labels[idx])
        model.zero_grad(set_to_none=False)
        loss.backward()
        lr = solver.lr(it)
        with torch.no_grad():
            # Caffe: v = momentum * v + lr_mult * lr * (grad + decay * w); w -= v
            for (p, mult), v in zip(params, history):
                assert p.grad is not None  # every parameter takes part in the loss
                v.mul_(solver.momentum).add_(p.grad + solver.weight_decay * p, alpha=lr * mult)
                p.sub_(v)
        if progress is not None and (it + 1) % 100 == 0:
            progress(it + 1, float(loss))
    return model.eval()


@torch.inference_mode()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of ``model`` on preprocessed ``images``."""
    correct = 0
    for x, y in zip(images.split(2000), labels.split(2000)):
        correct += int((model(x).argmax(1) == y).sum())
    return correct / max(1, labels.shape[0])
