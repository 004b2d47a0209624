"""CaffeNet, the paper's ImageNet network (PAPER.md §1.2; BVLC ``bvlc_reference_caffenet``).

conv1 96@11x11/4 -> ReLU -> max-pool 3/2 -> LRN(5, 1e-4, 0.75) -> conv2 256@5x5 pad 2, group 2
-> ReLU -> max-pool 3/2 -> LRN -> conv3 384@3x3 pad 1 -> ReLU -> conv4 384@3x3 pad 1, group 2
-> ReLU -> conv5 256@3x3 pad 1, group 2 -> ReLU -> max-pool 3/2 -> fc6 4096 -> ReLU -> fc7 4096
-> ReLU -> fc8 1000 (dropout is off at test time). Pooling comes before LRN, unlike the AlexNet
paper. Input: BGR, 0-255, the ImageNet mean image subtracted, 227x227. Submodules carry the
Caffe layer names, so a ``.caffemodel`` loads by name (``fooling.models.caffe``).
"""

from __future__ import annotations

import torch
from torch import nn

# The BVLC release (models/bvlc_reference_caffenet/readme.md in Caffe: caffemodel_url, sha1),
# and Caffe's ImageNet mean (python/caffe/imagenet/ilsvrc_2012_mean.npy: 3x256x256 BGR).
WEIGHTS_URL = "http://dl.caffe.berkeleyvision.org/bvlc_reference_caffenet.caffemodel"
WEIGHTS_SHA1 = "4c8d77deb20ea792f84eb5e6d0a11ca0a8660a46"
MEAN_URL = (
    "https://raw.githubusercontent.com/BVLC/caffe/master/python/caffe/imagenet/ilsvrc_2012_mean.npy"
)
MEAN_SHA256 = "97eefba7e046ee097121ad18564329636d2f9c153b748c7313653cae8594a149"


class CaffeNet(nn.Module):
    """The BVLC reference CaffeNet. Input ``(N, 3, 227, 227)`` mean-subtracted BGR on the
    0-255 scale; logits ``(N, K)`` (fc8)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.fc6 = nn.Linear(256 * 6 * 6, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, num_classes)
        # Caffe's LRN: x / (1 + alpha / n * sum over n channels of x^2) ^ beta.
        self.norm = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)

    @staticmethod
    def _pool(x: torch.Tensor) -> torch.Tensor:
        # Caffe rounds pooled sizes up (exact at 227: 55 -> 27 -> 13 -> 6).
        return nn.functional.max_pool2d(x, 3, 2, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        relu = torch.relu
        x = self.norm(self._pool(relu(self.conv1(x))))
        x = self.norm(self._pool(relu(self.conv2(x))))
        x = relu(self.conv3(x))
        x = relu(self.conv4(x))
        x = self._pool(relu(self.conv5(x)))
        x = relu(self.fc6(x.flatten(1)))
        x = relu(self.fc7(x))
        return self.fc8(x)
