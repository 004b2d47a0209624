"""Gradient ascent (PAPER.md §5): the step rule against a float64 reference, decay, blur, masks,
per-class stop, determinism, the run directory and the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from torch import nn

from conftest import Patches, tiny_classifier
from fooling import create_classifier
from fooling.cli import main
from fooling.errors import ConfigError
from fooling.experiments.ascent import PRESETS, AscentConfig, ascent, mean_image
from fooling.models import Classifier, ClassifierSpec
from fooling.rundir import read_png
from fooling.search.gradient import GradientAscent, gaussian_blur, gaussian_kernel1d, quantize


class TinyNet(nn.Module):
    """A small nonlinear network with fixed random weights: conv + tanh + linear, K = 4."""

    def __init__(self, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(1, 3, 3)
        self.fc = nn.Linear(3 * 6 * 6, 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.tanh(self.conv(x)).flatten(1))


@pytest.fixture
def tiny() -> Classifier:
    return tiny_classifier(TinyNet(), 4).eval()


def start_and_mean(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    start = 0.2 + 0.6 * torch.rand(1, 8, 8, generator=gen)
    mean = 0.3 + 0.2 * torch.rand(1, 8, 8, generator=gen)  # a per-pixel mean image
    return start, mean


def reference(model: nn.Module, target: int, start, mean, steps: int, **s) -> torch.Tensor:
    """The released code's loop, one class, in float64 and pixel units (0-255, X = x - mean)."""
    net = model.double()
    M = mean.double() * 255
    X = start.double() * 255 - M
    for ii in range(steps):
        X = torch.clamp(X + M, 0, 255) - M
        Xg = X.clone().requires_grad_(True)
        logits = net(((Xg + M) / 255).unsqueeze(0))[0]
        p = torch.softmax(logits, 0)
        obj = p[target] if s.get("objective", "prob") == "prob" else logits[target]
        (g,) = torch.autograd.grad(obj, Xg)
        if ii == steps - 1:
            break
        if s.get("lr") is not None:
            lr = s["lr"]
        else:
            desired = min(s["early_prog"], s["late_prog_mult"] * (1 - float(p[target].detach())))
            lr = min(s["max_lr"], desired / float((g * g).sum()))
        X = (X + lr * g) * (1 - s.get("decay", 0.0))
    return (X + M) / 255


SETTINGS = {
    "progress": dict(early_prog=0.02, late_prog_mult=0.1, max_lr=1e7, decay=0.01),
    "capped": dict(early_prog=0.03, late_prog_mult=0.05, max_lr=2e4, decay=0.0),
    "logit": dict(early_prog=0.02, late_prog_mult=0.1, max_lr=1e7, objective="logit"),
    "constant": dict(early_prog=0.02, late_prog_mult=0.1, max_lr=1e7, lr=3e4),
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_step_rule_matches_float64_reference_in_pixel_units(name, tiny):
    s = SETTINGS[name]
    start, mean = start_and_mean()
    steps = 4
    ga = GradientAscent(steps=steps, start="image", **s)
    result = ga(tiny, [0, 1, 2, 3], mean, start_image=start)
    assert result.steps_run.tolist() == [steps] * 4
    for k in range(4):
        ref = reference(TinyNet(), k, start, mean, steps, **s)
        got = result.final[k].double()
        moved = (ref - start.double()).abs().max()
        assert moved > 1e-3  # the steps did something
        assert torch.allclose(got, ref, atol=2e-6, rtol=0), (k, (got - ref).abs().max())


def test_capped_setting_binds_and_units_convert(tiny):
    """In [0, 1] units the cap is max_lr / 255^2; the 'capped' case must actually be capped."""
    start, mean = start_and_mean()
    ga = GradientAscent(start="image", **SETTINGS["capped"])
    g, p, _ = ga.gradient(tiny, start.unsqueeze(0).repeat(4, 1, 1, 1), torch.arange(4))
    lr = ga.step_size(p, g.flatten(1).pow(2).sum(1))
    capped = lr == 2e4 / 255**2
    assert capped.any() and not capped.all()
    # the predicted first-order gain of an uncapped step is exactly the desired one
    free = GradientAscent(start="image", early_prog=0.02, late_prog_mult=0.1, max_lr=1e30)
    lr = free.step_size(p, g.flatten(1).pow(2).sum(1))
    gain = lr * g.flatten(1).pow(2).sum(1)
    desired = torch.clamp(0.1 * (1 - p), max=0.02)
    assert torch.allclose(gain, desired, rtol=1e-5)


def test_decay_shrinks_the_centred_image_by_exactly_one_minus_decay(tiny):
    start, mean = start_and_mean()
    # max_lr = 0: the gradient step is zero, only the decay acts
    ga = GradientAscent(steps=4, start="image", max_lr=0.0, decay=0.1)
    result = ga(tiny, [0, 3], mean, start_image=start)
    expected = mean + 0.9**3 * (start - mean)
    for k in range(2):
        assert torch.allclose(result.final[k], expected, atol=1e-6, rtol=0)


def test_blur_of_an_impulse_is_a_normalised_gaussian():
    for sigma in (0.5, 1.0, 2.0):
        impulse = torch.zeros(1, 1, 41, 41, dtype=torch.float64)
        impulse[0, 0, 20, 20] = 1.0
        out = gaussian_blur(impulse, sigma)[0, 0]
        assert float(out.sum()) == pytest.approx(1.0, abs=1e-12)
        k = gaussian_kernel1d(sigma)
        r = (k.numel() - 1) // 2
        assert r == int(4 * sigma + 0.5)
        x = torch.arange(-r, r + 1, dtype=torch.float64)
        assert torch.allclose(
            k, torch.exp(-(x**2) / (2 * sigma**2)) / torch.exp(-(x**2) / (2 * sigma**2)).sum()
        )
        patch = out[20 - r : 21 + r, 20 - r : 21 + r]
        assert torch.allclose(patch, torch.outer(k, k), atol=1e-15)
        assert float(out.sum() - patch.sum()) == pytest.approx(0.0, abs=1e-15)
        coords = torch.arange(41, dtype=torch.float64) - 20
        var_x = float((out.sum(0) * coords**2).sum())
        if sigma >= 1:  # a sampled Gaussian narrower than a pixel has a smaller variance
            assert var_x == pytest.approx(sigma**2, rel=2e-3)


def test_blur_matches_scipy_reflect_mode_and_keeps_constants():
    gen = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 9, 11, generator=gen, dtype=torch.float64)
    sigma = 1.3
    k = gaussian_kernel1d(sigma).numpy()
    r = (len(k) - 1) // 2
    # scipy.ndimage's mode="reflect" is numpy's pad mode "symmetric": c b a | a b c
    ref = np.pad(img.numpy(), ((0, 0), (0, 0), (r, r), (r, r)), mode="symmetric")
    ref = np.apply_along_axis(lambda v: np.correlate(v, k, "valid"), 3, ref)
    ref = np.apply_along_axis(lambda v: np.correlate(v, k, "valid"), 2, ref)
    assert np.allclose(gaussian_blur(img, sigma).numpy(), ref, atol=1e-12)
    const = torch.full((1, 1, 7, 7), 0.37, dtype=torch.float64)
    assert torch.allclose(gaussian_blur(const, 1.0), const, atol=1e-15)
    with pytest.raises(ConfigError, match="blur radius"):
        gaussian_blur(torch.zeros(1, 1, 4, 4), 1.0)


def test_blur_every_k_steps_in_the_loop(tiny):
    start, mean = start_and_mean()
    blur = dict(start="image", max_lr=0.0, blur_radius=0.7)
    once = GradientAscent(steps=2, **blur)(tiny, [1], mean, start_image=start).final[0]
    expected = mean + gaussian_blur((start - mean).unsqueeze(0), 0.7)[0]
    assert torch.allclose(once, expected.clamp(0, 1), atol=1e-6)
    # blur_every=2: steps 0 and 2 blur, step 1 does not
    three = GradientAscent(steps=4, blur_every=2, **blur)(tiny, [1], mean, start_image=start)
    c = (start - mean).unsqueeze(0)
    c = gaussian_blur(gaussian_blur(c, 0.7), 0.7)
    assert torch.allclose(three.final[0], (mean + c[0]).clamp(0, 1), atol=1e-6)


def test_percentile_masks_zero_the_smallest_pixels(tiny):
    start, mean = start_and_mean()
    ga = GradientAscent(steps=2, start="image", max_lr=0.0, small_norm_percentile=50.0)
    final = ga(tiny, [2], mean, start_image=start).final[0]
    centred = (start - mean).abs().flatten()
    at_mean = (final - mean).abs().flatten() < 1e-7
    assert int(at_mean.sum()) == 32  # half of 64 pixels
    assert float(centred[at_mean].max()) < float(centred[~at_mean].min())
    # |benefit| = |sum_c -g X|: the kept pixels have the larger |g X|
    ga = GradientAscent(steps=2, start="image", max_lr=0.0, px_abs_benefit_percentile=20.0)
    final = ga(tiny, [2], mean, start_image=start).final[0]
    g, _, _ = ga.gradient(tiny, start.unsqueeze(0), torch.tensor([2]))
    benefit = (g[0] * (start - mean)).abs().flatten()
    zeroed = (final - mean).abs().flatten() < 1e-7
    assert 12 <= int(zeroed.sum()) <= 13
    assert float(benefit[zeroed].max()) <= float(benefit[~zeroed].min())


def test_released_presets():
    assert PRESETS["hp-1"]["decay"] == 0 and PRESETS["hp-1"]["steps"] == 500
    assert PRESETS["hp169"]["late_prog_mult"] == 0.02 and PRESETS["hp169"]["blur_radius"] == 0
    assert PRESETS["hp188"]["blur_radius"] == 0.4 and PRESETS["hp188"]["blur_every"] == 2
    p = PRESETS["hp360"]
    assert (
        p["small_norm_percentile"],
        p["px_abs_benefit_percentile"],
        p["px_benefit_percentile"],
    ) == (20.0, 20.0, 0.0)
    assert all(v["max_lr"] == 1e7 for v in PRESETS.values())
    cfg = AscentConfig.from_preset("hp188", steps=50)
    assert cfg.steps == 50 and cfg.blur_radius == 0.4 and cfg.decay == 0.001
    assert AscentConfig.from_dict(cfg.to_dict()) == cfg


def test_mean_image_is_the_zero_of_the_preprocessing():
    lenet = create_classifier("lenet-mnist")
    assert torch.equal(mean_image(lenet), torch.zeros(1, 28, 28))
    spec = ClassifierSpec(
        name="lite",
        num_classes=2,
        input_channels=3,
        input_size=4,
        scale=255.0,
        mean=(127.0,),
        std=(128.0,),
    )
    clf = Classifier(nn.Sequential(nn.Flatten(), nn.Linear(48, 2)), spec)
    m = mean_image(clf)
    assert torch.allclose(m, torch.full((3, 4, 4), 127 / 255))
    assert clf.preprocess(m.unsqueeze(0)).abs().max() < 1e-6


def test_per_class_stop_freezes_the_image():
    clf = tiny_classifier(Patches(), 4)
    mean = torch.zeros(1, 8, 8)
    # patch 0 starts brightest, so the classes reach the stop at different steps
    start = torch.linspace(0.6, 0.1, 8).view(1, 8, 1).expand(1, 8, 8).contiguous()

    def run(steps):
        ga = GradientAscent(steps=steps, stop_at=0.999, start="image")
        return ga(clf, [0, 1, 2, 3], mean, start_image=start)

    short, long = run(60), run(150)
    stopped = long.steps_run < 150
    assert stopped.all() and len(set(long.steps_run.tolist())) > 1
    assert torch.equal(long.steps_run, long.first_crossing_quantized[1] + 1)  # the 0.999 row
    assert (long.confidence >= 0.999).all()
    assert torch.equal(long.images, quantize(long.final))
    early = short.steps_run < 60
    assert early.any() and not early.all()
    # a target that stopped in the short run did not move in the long one
    assert torch.equal(short.final[early], long.final[early])
    for k in range(4):  # its probability stays put after the stop
        after = long.prob_history[int(long.steps_run[k]) - 1 :, k]
        assert (after == after[0]).all()


def test_zero_gradient_stops_a_target():
    class Flat(nn.Module):
        def forward(self, x):
            return torch.zeros(x.shape[0], 3) + 0 * x.flatten(1)[:, :3]

    res = GradientAscent(steps=10)(tiny_classifier(Flat(), 3), [0, 2], torch.zeros(1, 8, 8))
    assert res.steps_run.tolist() == [1, 1]
    assert res.history.shape[0] == 1


def test_same_seed_same_result_other_seed_differs(tiny):
    mean = torch.full((1, 8, 8), 0.5)
    run = lambda s: GradientAscent(steps=6)(  # noqa: E731
        tiny, [0, 1, 2, 3], mean, generator=torch.Generator().manual_seed(s)
    )
    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a.final, b.final) and torch.equal(a.history, b.history)
    assert not torch.equal(a.final, c.final)
    # one start image shared by all targets, drawn with std 1/255
    start = GradientAscent().start_images(mean, generator=torch.Generator().manual_seed(1))
    assert 0.5 / 255 < float((start - mean).std()) < 2 / 255


def test_batched_equals_single_class_runs(tiny):
    start, mean = start_and_mean()
    ga = GradientAscent(steps=5, start="image")
    both = ga(tiny, [0, 3], mean, start_image=start)
    one = ga(tiny, [3], mean, start_image=start)
    assert torch.allclose(both.final[1], one.final[0], atol=1e-6)


# -- the run directory and the CLI --------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ascent") / "r"
    summary = ascent(AscentConfig(steps=30, seed=3), out)
    return out, summary


def test_run_directory_matches_the_evolve_format(run):
    out, summary = run
    for name in ("config.json", "metrics.csv", "archive.json", "grid.png", "summary.json"):
        assert (out / name).is_file(), name
    assert len(list((out / "images").glob("*.png"))) == 10
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "ascent" and config["ascent"]["preset"] == "hp-1"
    assert config["classifier"]["labels"] == [str(k) for k in range(10)]
    evolve_keys = {
        "kind",
        "model",
        "encoding",
        "seed",
        "generations",
        "evaluations",
        "num_classes",
        "median",
        "min",
        "max",
        "classes_at_or_above",
        "generation_all_classes_reached",
        "seconds_all_classes_reached",
        "seconds",
        "seconds_per_generation",
        "confidences",
    }
    assert evolve_keys <= set(summary)
    assert summary["generations"] == 29 and summary["evaluations"] == 300
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["generation"]) for r in rows] == list(range(30))
    archive = json.loads((out / "archive.json").read_text())
    for e in archive["classes"]:
        series = [float(r[f"conf_{e['class']}"]) for r in rows]
        assert series == sorted(series)  # the champion never gets worse
        assert abs(series[-1] - e["confidence"]) <= 1e-6
        expected = next((i for i, c in enumerate(series) if c >= 0.99), -1)
        assert e["first_generation"]["0.99"] == expected
    # The median of 10 confidences is the mean of the middle two, as evolve and transfer
    # report it (torch.median would give the lower one).
    middle = sorted(summary["confidences"])[4:6]
    assert summary["median"] == pytest.approx(sum(middle) / 2, abs=1e-12)
    assert float(rows[-1]["median"]) == pytest.approx(summary["median"], abs=1e-12)


def test_png_rescoring_matches_recorded_confidences(run):
    out, summary = run
    clf = create_classifier("lenet-mnist")
    archive = json.loads((out / "archive.json").read_text())
    images = torch.stack([read_png(out / e["image"]) for e in archive["classes"]])
    probs = clf.probs(images)
    for e, p in zip(archive["classes"], probs):
        assert abs(float(p[e["class"]]) - e["confidence"]) <= 1e-6
    assert [e["confidence"] for e in archive["classes"]] == summary["confidences"]


@pytest.mark.slow
def test_lenet_all_classes_reach_9999_after_quantisation_within_500_steps(tmp_path):
    out = tmp_path / "r"
    summary = ascent(AscentConfig(steps=500, stop_at=0.9999), out)
    assert summary["classes_at_or_above"]["0.9999"] == 10
    assert summary["generation_all_classes_reached"]["0.9999"] is not None
    archive = json.loads((out / "archive.json").read_text())
    images = torch.stack([read_png(out / e["image"]) for e in archive["classes"]])
    probs = create_classifier("lenet-mnist").probs(images)
    assert (probs[torch.arange(10), torch.arange(10)] >= 0.9999).all()


@pytest.mark.parametrize("model", ["lenet-mnist", "lenet-mnist-b", "efficientnet-lite0"])
def test_every_offline_model_of_the_registry(model, tmp_path):
    """A few steps on each registered classifier that needs no download; PNGs re-score."""
    out = tmp_path / "r"
    ascent(AscentConfig(model=model, classes=(1, 7), steps=10), out)
    archive = json.loads((out / "archive.json").read_text())
    images = torch.stack([read_png(out / e["image"]) for e in archive["classes"]])
    clf = create_classifier(model)
    assert images.shape[1:] == (clf.spec.input_channels, clf.spec.input_size, clf.spec.input_size)
    probs = clf.probs(images)
    for e, p in zip(archive["classes"], probs):
        assert abs(float(p[e["class"]]) - e["confidence"]) <= 1e-6
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    for k in (1, 7):  # the ascent climbs (its first steps need not: the linear step overshoots)
        assert float(rows[-1][f"prob_{k}"]) > float(rows[0][f"prob_{k}"])


def test_cli_smoke(tmp_path, capsys):
    out = tmp_path / "a"
    assert (
        main(
            [
                "ascent",
                "--classes",
                "0-2",
                "--steps",
                "4",
                "--preset",
                "hp360",
                "--out",
                str(out),
                "-q",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "steps to ≥99.99% (8-bit)" in text and "median" in text
    config = json.loads((out / "config.json").read_text())
    assert config["ascent"]["steps"] == 4 and config["ascent"]["small_norm_percentile"] == 20


def test_cli_never_overwrites_a_run(run, capsys):
    out, _ = run
    before = (out / "summary.json").read_bytes()
    assert main(["ascent", "--steps", "2", "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    # an ascent run does not resume: no hint that it could
    assert err.endswith("already holds another run; choose another --out")
    assert (out / "summary.json").read_bytes() == before


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_gpu_matches_cpu(tiny):
    start, mean = start_and_mean()
    ga = GradientAscent(steps=5, start="image", decay=0.01, blur_radius=0.5)
    cpu = ga(tiny, [0, 1, 2, 3], mean, start_image=start)
    gpu = ga(tiny.cuda(), [0, 1, 2, 3], mean.cuda(), start_image=start.cuda())
    assert torch.allclose(cpu.final, gpu.final.cpu(), atol=1e-5)
