"""Real photos prove the preprocessing: EfficientNet-Lite0 through the wrapper on an even
spread of the shared ImageNet samples (one photo per class). The full figure (1000 photos,
88.6 % top-1) comes from benchmarks/imagenet_accuracy.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from conftest import shared_path
from fooling.data import image_files, imagenet_labels, load_images
from fooling.models import Classifier, create_classifier

N = 100  # every 10th class


@pytest.fixture(scope="module")
def photos():
    files = image_files(shared_path("datasets", "imagenet-samples"))
    assert len(files) == 1000
    index = list(range(0, 1000, 1000 // N))
    return load_images([files[k] for k in index], 256), torch.tensor(index), files


def test_labels_follow_the_sorted_wordnet_ids(photos):
    _, _, files = photos
    labels = imagenet_labels()
    assert len(labels) == 1000 and len(set(labels)) == 998  # two names repeat in ILSVRC
    assert files[0].name.startswith("n01440764_") and labels[0] == "tench"
    assert files[281].name.startswith("n02123045_") and labels[281] == "tabby cat"


def accuracy(clf: Classifier, images: torch.Tensor, target: torch.Tensor) -> float:
    return float((clf.probs(images).argmax(1) == target).float().mean())


def test_efficientnet_top1_on_real_photos(photos):
    images, target, _ = photos
    clf = create_classifier("efficientnet-lite0", batch_size=50)
    right = accuracy(clf, images, target)
    assert right >= 0.85, right
    # torchvision's mean/std instead of (255 x - 127) / 128: clearly worse on the same photos
    spec = dataclasses.replace(
        clf.spec, scale=1.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)
    )
    wrong = accuracy(Classifier(clf.module, spec, batch_size=50), images, target)
    assert wrong < right - 0.03, (right, wrong)


def test_16_bit_grey_images_are_scaled_not_clipped(tmp_path):
    from PIL import Image

    from fooling.data.imagenet import load_image
    from fooling.rundir import read_png

    path = tmp_path / "grey16.png"
    levels = np.array([[0, 257 * 100], [32768, 65535]], dtype=np.uint16)
    Image.fromarray(levels).save(path)
    assert Image.open(path).mode.startswith("I")
    assert (read_png(path)[0] * 255).round().tolist() == [[0, 100], [128, 255]]
    assert load_image(path, size=2)[:, :, 0].tolist() == [[0, 100], [128, 255]]
