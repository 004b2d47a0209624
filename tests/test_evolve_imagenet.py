"""Evolution at ImageNet scale with a tiny stand-in network: 1000 classes, 256x256 colour
genomes stored as uint8, the classifier resizing to its own input, PNGs that re-score to the
recorded confidences, ``--classes`` by name, a ``module.path:factory`` model from the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from torch import nn

from fooling import EvolveConfig, create_classifier, evolve
from fooling.cli import main
from fooling.rundir import read_png

K = 1000


class Tiny(nn.Module):
    """3x32x32 -> 1000 logits: a fixed random linear map of 4x4 average-pooled colours."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.fc = nn.Linear(48, K)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(K, 48, generator=g) * 3.0)
            self.fc.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(nn.functional.adaptive_avg_pool2d(x, 4).flatten(1))


MODEL = f"{__name__}:Tiny"


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("imagenet") / "run"
    cfg = EvolveConfig(
        model=MODEL,
        input_size=32,
        size=256,
        generations=3,
        batch_size=16,
        init_size=16,
        checkpoint_every=2,
    )
    return out, evolve(cfg, out)


def test_a_1000_class_direct_archive_is_uint8_and_under_250_mb(big_run):
    out, summary = big_run
    assert summary["num_classes"] == K
    with safe_open(str(out / "champions.safetensors"), framework="pt") as f:
        champions = f.get_tensor("genomes")
    assert champions.dtype == torch.uint8 and champions.shape == (K, 3, 256, 256)
    assert champions.numel() * champions.element_size() < 250e6  # 196.6 MB
    config = json.loads((out / "config.json").read_text())
    assert config["encoding"]["genome_dtype"] == "uint8"
    assert config["encoding"]["colour"] == "hls" and config["encoding"]["size"] == 256


def test_pngs_at_256_rescore_to_the_recorded_confidences(big_run):
    out, _ = big_run
    clf = create_classifier(MODEL, input_size=32)
    archive = json.loads((out / "archive.json").read_text())["classes"]
    picks = archive[::50]
    images = torch.stack([read_png(out / e["image"]) for e in picks])
    assert images.shape[1:] == (3, 256, 256)
    probs = clf.probs(images)
    for row, e in zip(probs, picks):
        assert float(row[e["class"]]) == pytest.approx(e["confidence"], abs=1e-6)


def test_cli_user_model_with_class_names(tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"thing {k}\n" for k in range(K)))
    out = tmp_path / "run"
    args = ["evolve", "--model", MODEL, "--input-size", "32", "--labels", str(labels)]
    args += ["--classes", "thing 7,Thing 3,12", "--size", "48", "--colour", "hsv"]
    args += ["--generations", "2", "--batch-size", "8", "--init-size", "8", "-q"]
    assert main([*args, "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["targets"] == [7, 3, 12]
    assert config["target_labels"] == ["thing 7", "thing 3", "thing 12"]
    assert config["encoding"]["colour"] == "hsv" and config["encoding"]["size"] == 48
    assert "run:" in capsys.readouterr().out
    assert main([*args[:-1], "--classes", "thing 7,widget", "--out", str(tmp_path / "x")]) == 2
    assert "no class named 'widget'" in capsys.readouterr().err
