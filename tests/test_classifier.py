"""The classifier wrapper's preprocessing (resize, crops, values, mean image, autocast) and
the registry's contract, on tiny modules with hand-computed references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from fooling.errors import ConfigError, UnknownNameError
from fooling.models import Classifier, ClassifierSpec, create_classifier, list_models


class Recorder(nn.Module):
    """Logits = a fixed random projection of the input; remembers the last input."""

    def __init__(self, c: int = 3, side: int = 6, k: int = 5):
        super().__init__()
        self.proj = nn.Linear(c * side * side, k)
        self.seen: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.detach().clone()
        return self.proj(x.flatten(1))


def make(crop: str = "center", **spec_kw) -> Classifier:
    torch.manual_seed(0)
    kw = dict(name="t", num_classes=5, input_channels=3, input_size=6, resize_size=8, crop=crop)
    kw.update(spec_kw)
    return Classifier(Recorder(), ClassifierSpec(**kw))


def test_input_sized_images_go_in_unchanged():
    clf = make()
    x = torch.rand(2, 3, 6, 6)
    clf.probs(x)
    assert torch.equal(clf.module.seen, x)


def test_resize_size_images_are_centre_cropped():
    clf = make()
    x = torch.rand(2, 3, 8, 8)
    clf.probs(x)
    assert torch.equal(clf.module.seen, x[:, :, 1:7, 1:7])


def test_other_sizes_are_resized_then_cropped():
    clf = make()
    x = torch.rand(1, 3, 16, 16)
    clf.probs(x)
    ref = nn.functional.interpolate(x, size=(8, 8), mode="bilinear", antialias=True)
    assert torch.allclose(clf.module.seen, ref[:, :, 1:7, 1:7], atol=1e-6)


def test_ten_crops_average_the_softmax_of_corners_centre_and_mirrors():
    clf = make("ten")
    x = torch.rand(3, 3, 8, 8)
    got = clf.probs(x)
    crops = [x[:, :, y : y + 6, c : c + 6] for y, c in [(0, 0), (0, 2), (2, 0), (2, 2), (1, 1)]]
    crops += [c.flip(-1) for c in crops]
    with torch.no_grad():
        ref = torch.stack([torch.softmax(clf.module(c), 1) for c in crops]).mean(0)
    assert torch.allclose(got, ref, atol=1e-6)
    # forward() is the log of that mean: differentiable, and softmax gives it back
    assert torch.allclose(torch.softmax(clf(x), 1), got, atol=1e-6)


def test_values_channel_order_and_mean_image():
    mean_image = torch.rand(3, 8, 8) * 50
    clf = Classifier(
        Recorder(),
        ClassifierSpec(
            name="t",
            num_classes=5,
            input_channels=3,
            input_size=6,
            scale=255.0,
            mean=(10.0, 20.0, 30.0),
            std=(2.0,),
            channel_order="BGR",
            resize_size=8,
        ),  # fmt: skip
        mean_image=mean_image,
    )
    x = torch.rand(2, 3, 6, 6)
    clf.probs(x)
    net = (x * 255.0 - torch.tensor([10.0, 20.0, 30.0]).view(1, 3, 1, 1)) / 2.0
    ref = net.flip(1) - mean_image[:, 1:7, 1:7]  # the centre window, whatever the crop
    assert torch.allclose(clf.module.seen, ref, atol=1e-4)
    zero = clf.zero_image()
    assert zero.shape == (3, 6, 6)
    clf.probs(zero.unsqueeze(0))
    inside = (zero > 0) & (zero < 1)  # unclipped pixels map exactly to zero
    assert clf.module.seen[0].flip(0)[inside].abs().max() < 1e-4


def test_batch_size_and_autocast_do_not_change_the_answer():
    clf = make("ten")
    x = torch.rand(7, 3, 8, 8)
    ref = clf.probs(x)
    clf.batch_size = 10  # one image (10 crops) per chunk
    assert torch.allclose(clf.probs(x), ref, atol=1e-6)
    clf.autocast = "bf16"
    assert torch.allclose(clf.probs(x), ref, atol=2e-2)
    with pytest.raises(ConfigError, match="autocast"):
        clf.autocast = "int8"


def test_bad_spec_values_raise_config_error():
    with pytest.raises(ConfigError, match="crop"):
        make("five")
    with pytest.raises(ConfigError, match="smaller"):
        make(resize_size=4)


# -- the registry ----------------------------------------------------------------------------

OFFLINE = ["lenet-mnist", "lenet-mnist-b", "efficientnet-lite0"]


def test_registry_lists_the_imagenet_networks():
    assert set(OFFLINE + ["alexnet", "caffenet"]) <= set(list_models())


@pytest.mark.parametrize("name", OFFLINE)
def test_registered_models_score_their_own_image_size(name):
    clf = create_classifier(name, batch_size=16)
    s = clf.spec
    assert len(s.labels) == s.num_classes == clf.num_classes
    x = torch.rand(3, s.input_channels, s.image_size, s.image_size)
    p = clf.probs(x)
    assert p.shape == (3, s.num_classes)
    assert torch.allclose(p.sum(1), torch.ones(3), atol=1e-5)
    assert p.dtype == torch.float32


def test_efficientnet_spec_is_the_documented_preprocessing():
    s = create_classifier("efficientnet-lite0").spec
    assert (s.input_size, s.resize_size, s.crop, s.channel_order) == (224, 256, "center", "RGB")
    assert (s.scale, s.mean, s.std) == (255.0, (127.0,), (128.0,))
    assert s.labels[0] == "tench" and s.labels[281] == "tabby cat"


def test_unknown_model_and_options_fail_in_one_line():
    with pytest.raises(UnknownNameError, match="known models: alexnet"):
        create_classifier("resnet-9000")
    with pytest.raises(ConfigError, match="no option input_size"):
        create_classifier("lenet-mnist", input_size=32)
    with pytest.raises(UnknownNameError, match="cannot import"):
        create_classifier("no_such_module_xyz:make")
    with pytest.raises(UnknownNameError, match="has no"):
        create_classifier("conftest:no_such_factory")


def test_user_module_factory_with_preprocessing_and_labels(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("dark\nbright\n")
    clf = create_classifier(
        "conftest:Brightness", input_size=8, input_channels=1, labels=labels, mean=(0.5,)
    )
    assert clf.spec.labels == ("dark", "bright") and clf.spec.input_size == 8
    x = torch.full((2, 1, 8, 8), 0.9)
    x[1] = 0.1
    p = clf.probs(x)
    # The wrapper subtracts the mean 0.5 first, so Brightness (which compares the image mean
    # with 0.5) sees both images, 0.9 -> 0.4 and 0.1 -> -0.4, as dark.
    assert (p[:, 0] > 0.99).all()
    raw = create_classifier("conftest:Brightness", input_size=8, input_channels=1)
    assert raw.num_classes == 2  # found by one forward pass
    assert raw.probs(x)[0, 1] > 0.99 and raw.probs(x)[1, 0] > 0.99


def test_default_forward_batch_is_small_for_imagenet_inputs_on_the_cpu():
    assert create_classifier("efficientnet-lite0").batch_size == 32
    assert create_classifier("lenet-mnist").batch_size == 1024
    assert create_classifier("efficientnet-lite0", batch_size=8).batch_size == 8
    with pytest.raises(ConfigError, match="batch size"):
        create_classifier("lenet-mnist", batch_size=0)


def test_allocator_tuning_sets_both_thresholds_once(monkeypatch):
    import ctypes

    from fooling import _alloc

    calls = []

    class Libc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(_alloc, "_done", False)
    monkeypatch.setattr(_alloc.sys, "platform", "linux")
    monkeypatch.setattr(ctypes, "CDLL", lambda name: Libc())
    assert _alloc.keep_freed_memory() is True
    assert calls == [(_alloc._M_MMAP_THRESHOLD, 1 << 30), (_alloc._M_TRIM_THRESHOLD, 1 << 30)]
    assert _alloc.keep_freed_memory() is True and len(calls) == 2  # the second call: no-op


def test_allocator_tuning_falls_back_and_reports_failure(monkeypatch):
    import ctypes

    from fooling import _alloc

    class OldGlibc:  # refuses a 1 GiB mmap threshold, takes 32 MiB
        def mallopt(self, param, value):
            return int(param != _alloc._M_MMAP_THRESHOLD or value <= 32 << 20)

    class NoGlibc:
        def __getattr__(self, name):
            raise AttributeError(name)

    monkeypatch.setattr(_alloc.sys, "platform", "linux")
    monkeypatch.setattr(_alloc, "_done", False)
    monkeypatch.setattr(ctypes, "CDLL", lambda name: OldGlibc())
    assert _alloc.keep_freed_memory() is True
    monkeypatch.setattr(_alloc, "_done", False)
    monkeypatch.setattr(ctypes, "CDLL", lambda name: NoGlibc())
    assert _alloc.keep_freed_memory() is False and _alloc._done is False


@pytest.mark.parametrize("name", ["lenet-mnist", "lenet-mnist-b"])
def test_shipped_checkpoints_score_99_percent_on_mnist_test(name):
    from conftest import shared_path
    from fooling.data.mnist import load_mnist

    images, labels = load_mnist("test", root=shared_path("datasets", "mnist"))
    clf = create_classifier(name)
    x = images.unsqueeze(1).float() / 255.0  # [0, 1] images; the wrapper feeds pixel/256
    pred = torch.cat([clf.probs(part).argmax(1) for part in x.split(2000)])
    accuracy = float((pred == labels).double().mean())
    assert accuracy >= 0.99, accuracy


def test_lenet_pools_to_the_same_logits_with_and_without_autograd():
    # Without autograd LeNet pools in channels-last memory (faster on the CPU); a max picks
    # one of its inputs, so the logits must be the same bits as the plain layout's.
    from fooling.models.lenet import LeNet, xavier_init_

    net = LeNet()
    xavier_init_(net, torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    x = torch.rand(37, 1, 28, 28, generator=g)
    x[:10] = (x[:10] > 0.5).float()  # flat regions: ties inside the pooling windows

    def plain(x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.max_pool2d(net.conv1(x), 2)
        h = nn.functional.max_pool2d(net.conv2(h), 2)
        return net.ip2(torch.relu(net.ip1(h.flatten(1))))

    with torch.no_grad():
        reference = plain(x)
        assert torch.equal(net(x), reference)
    with torch.inference_mode():
        assert torch.equal(net(x), reference)
    # With autograd: the plain kernel, the same numbers, and gradients reach the input.
    xg = x.clone().requires_grad_()
    out = net(xg)
    assert torch.equal(out.detach(), reference)
    out[:, 3].sum().backward()
    assert xg.grad is not None and float(xg.grad.abs().sum()) > 0


def test_a_16_bit_grey_mean_image_is_scaled_to_8_bits_not_clipped(tmp_path):
    from PIL import Image

    from fooling.models.weights import read_mean_image

    ramp = np.linspace(0, 65535, 28 * 28).round().astype(np.uint16).reshape(28, 28)
    Image.fromarray(ramp).save(tmp_path / "mean16.png")  # mode I;16
    mean = read_mean_image(tmp_path / "mean16.png")
    assert mean.shape == (1, 28, 28)
    assert np.array_equal(mean[0], np.round(ramp / 257.0))  # old code: 99.5 % of it was 255


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(num_classes=0), "num_classes must be a positive integer"),
        (dict(num_classes=True), "num_classes must be a positive integer"),
        (dict(input_channels=0), "input_channels must be 1 .grey. or 3"),
        (dict(input_channels=4), "input_channels must be 1 .grey. or 3"),
        (dict(input_size=0), "input size must be a positive integer"),
        (dict(scale=0.0), "scale must be a finite non-zero number"),
        (dict(scale=float("nan")), "scale must be a finite non-zero number"),
        (dict(std=(0.0,)), "std must not be zero"),
        (dict(std=(1.0, 0.0, 1.0)), "std must not be zero"),
        (dict(mean=(0.5, 0.5)), "mean needs 1 or 3 values, got 2"),
        (dict(mean=(float("inf"),)), "mean must be finite"),
    ],
)
def test_a_spec_refuses_values_no_network_can_be_scored_with(bad, message):
    # Each would otherwise surface deep inside a run, or not at all (scale 0 maps every
    # image to the same input, and the search would run on a constant).
    kw = {**dict(name="mine", num_classes=5, input_channels=3, input_size=6), **bad}
    with pytest.raises(ConfigError, match=f"^mine: {message}"):
        ClassifierSpec(**kw)
