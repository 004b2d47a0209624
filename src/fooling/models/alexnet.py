"""AlexNet in torchvision's layout (one tower, 64/192/384/256/256 channels, no LRN), so the
official torchvision weights load by their state-dict keys -- without torchvision.

It is a substitute for the paper's CaffeNet (PAPER.md §1.2), not a replica: ``caffenet`` is
the paper's network.
"""

from __future__ import annotations

import torch
from torch import nn

# torchvision's AlexNet_Weights.IMAGENET1K_V1; the hex digits in the name are the leading
# digits of the file's sha256 (checked on download).
URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class AlexNet(nn.Module):
    """torchvision's ``alexnet``. Input ``(N, 3, 224, 224)`` normalised RGB; logits ``(N, K)``."""

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))
