"""The pure-Python Caffe reader: the paper's own LeNet weights (99.18 % on MNIST test), its
mean image, and a CaffeNet with random weights round-tripped through .caffemodel files written
here in both of Caffe's formats."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from caffe_proto import caffemodel
from conftest import shared_path
from fooling.errors import DataError
from fooling.models import create_classifier
from fooling.models.caffe import read_binaryproto, read_caffemodel
from fooling.models.caffenet import CaffeNet


@pytest.fixture(scope="module")
def mnist_test():
    from fooling.data import load_mnist

    root = shared_path("datasets", "mnist")
    return load_mnist("test", root=root, download=False)


def test_paper_lenet_caffemodel_scores_99_18_percent(mnist_test):
    weights = shared_path("models", "caffe", "lenet_iter_10000.caffemodel")
    clf = create_classifier("lenet-mnist", weights=weights)
    images, labels = mnist_test
    pred = clf.probs(images.unsqueeze(1).float() / 255.0).argmax(1)
    assert int((pred == labels).sum()) == 9918


def test_released_query_preprocessing_subtracts_the_mnist_mean(mnist_test, monkeypatch):
    folder = shared_path("models", "caffe")
    mean = read_binaryproto(folder / "mnist_mean.binaryproto")
    assert mean.shape == (1, 28, 28) and abs(float(mean.mean()) - 33.318) < 1e-3
    weights = folder / "lenet_iter_10000.caffemodel"
    mean_file = folder / "mnist_mean.binaryproto"
    clf = create_classifier("lenet-mnist", weights=weights, mean_image=mean_file)
    assert clf.spec.mean_image.startswith("mnist_mean.binaryproto")
    zero = clf.zero_image()  # the image the network sees as all zeros is the mean itself
    assert torch.allclose(zero * 255.0, torch.from_numpy(mean) * 255 / 256 * 256 / 255, atol=1e-4)
    # without a file, the mean is computed from the MNIST training set: the same image
    monkeypatch.setenv("FOOLING_DATA", str(shared_path("datasets", "mnist")))
    computed = create_classifier("lenet-mnist", weights=weights, subtract_mean=True)
    assert torch.allclose(computed.zero_image(), zero, atol=1e-5)
    images, labels = mnist_test
    acc = clf.probs(images[:2000].unsqueeze(1).float() / 255).argmax(1) == labels[:2000]
    assert acc.float().mean() > 0.95  # the mismatch costs a few points (PAPER.md §1.1)


def _as_released_caffe_read_it(images: torch.Tensor) -> torch.Tensor:
    """The grey-image bug of PAPER.md §1.1, pixel by pixel: channel 0 of a 3-byte read at
    (h, w) is byte 28 h + 3 w of the 28x28 image; past its end (heap memory), 0 here."""
    flat = images.flatten(1)
    seen = torch.zeros_like(flat)
    for h in range(28):
        for w in range(28):
            if 28 * h + 3 * w < 28 * 28:
                seen[:, 28 * h + w] = flat[:, 28 * h + 3 * w]
    return seen.view_as(images)


def test_scrambled_lenet_sees_the_image_as_the_released_code_fed_it(tmp_path):
    plain = create_classifier("lenet-mnist")
    scrambled = create_classifier("lenet-mnist", scramble=True)
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(scrambled.probs(x), plain.probs(_as_released_caffe_read_it(x)))
    # A vertical bar stays a vertical bar, in another column; a horizontal bar becomes three
    # short segments (PAPER.md §1.1).
    bars = torch.zeros(2, 1, 28, 28)
    bars[0, 0, :, 6] = 1.0
    bars[1, 0, 10, :] = 1.0
    seen = _as_released_caffe_read_it(bars)
    assert seen[0, 0, :, 2].eq(1).all() and int(seen[0].sum()) == 28
    assert [int(seen[1, 0, h].sum()) for h in (8, 9, 10)] == [9, 9, 10]
    assert plain.fingerprint() != scrambled.fingerprint()  # a resume tells them apart
    # A mean image is subtracted after the scramble, at the positions the network sees.
    mean = np.random.default_rng(1).uniform(0, 100, (1, 28, 28)).astype(np.float32)
    np.save(tmp_path / "mean.npy", mean)
    with_mean = create_classifier("lenet-mnist", scramble=True, mean_image=tmp_path / "mean.npy")
    seen = _as_released_caffe_read_it(x) * (255 / 256) - torch.from_numpy(mean) / 256
    expected = torch.softmax(plain.module(seen), 1)
    assert torch.allclose(with_mean.probs(x), expected, atol=1e-6)


def caffenet_layers(net: CaffeNet) -> list:
    out = []
    for name in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        m = getattr(net, name)
        kind = "Convolution" if name.startswith("conv") else "InnerProduct"
        out.append((name, kind, [m.weight.detach().numpy(), m.bias.detach().numpy()]))
        out.append((name.replace("conv", "relu").replace("fc", "relu"), "ReLU", []))
    return out


@pytest.fixture(scope="module")
def random_caffenet():
    torch.manual_seed(0)
    net = CaffeNet().eval()
    with torch.no_grad():  # keep the logits in a range where the softmax is not one-hot
        net.fc8.weight.mul_(1e-3)
    return net


@pytest.mark.parametrize("v1", [True, False], ids=["V1-layers", "new-layer"])
def test_caffenet_round_trips_through_a_caffemodel(v1, random_caffenet, tmp_path):
    path = tmp_path / "net.caffemodel"
    path.write_bytes(caffemodel(caffenet_layers(random_caffenet), v1=v1))
    layers = read_caffemodel(path)
    assert list(layers)[:2] == ["conv1", "conv2"] and "relu1" not in layers
    mean = shared_path("models", "caffe", "ilsvrc_2012_mean.npy")
    clf = create_classifier("caffenet", weights=path, mean_image=mean)
    assert clf.spec.crop == "ten" and clf.spec.channel_order == "BGR"
    for a, b in zip(clf.module.parameters(), random_caffenet.parameters()):
        assert torch.equal(a, b)
    # The paper's pipeline by hand: 10 crops of 227 from the 256 image (4 corners, centre,
    # mirrors), RGB -> BGR on 0-255, minus the mean image's centre 227 window, softmax mean.
    image = torch.rand(1, 3, 256, 256)
    m = torch.from_numpy(np.load(mean).astype(np.float32))[:, 14:241, 14:241]
    corners = [(0, 0), (0, 29), (29, 0), (29, 29), (14, 14)]
    crops = [image[:, :, y : y + 227, x : x + 227] for y, x in corners]
    crops += [c.flip(-1) for c in crops]
    with torch.no_grad():
        ref = torch.stack(
            [torch.softmax(random_caffenet(c.flip(1) * 255.0 - m), 1) for c in crops]
        ).mean(0)
    assert torch.allclose(clf.probs(image), ref, atol=1e-6)


def test_corrupt_and_foreign_caffemodels_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.caffemodel"
    bad.write_bytes(b"\x12\xff\xff\xff\x7f" + b"\x00" * 20)
    with pytest.raises(DataError, match="not a valid .caffemodel"):
        create_classifier("lenet-mnist", weights=bad)
    lenet = shared_path("models", "caffe", "lenet_iter_10000.caffemodel")
    mean = shared_path("models", "caffe", "ilsvrc_2012_mean.npy")
    with pytest.raises(DataError, match="does not fit CaffeNet") as e:
        create_classifier("caffenet", weights=lenet, mean_image=mean)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "data",
    [b"\x2a\x03\x00\x00\x80", b"\x42\x05" + bytes(5), b"\x28\x07"],
    ids=["float data of 3 bytes", "double data of 5 bytes", "float data as a varint"],
)
def test_float_data_of_a_bad_length_is_a_data_error(data, tmp_path):
    path = tmp_path / "odd.binaryproto"
    path.write_bytes(data)
    with pytest.raises(DataError, match="not a valid .binaryproto"):
        read_binaryproto(path)
