"""Retraining with a "fooling" class (PAPER.md §6): the rounds, their records, resume."""

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import shared_path
from fooling import create_classifier
from fooling.errors import ConfigError
from fooling.experiments.retrain import RetrainConfig, Retraining, retrain
from fooling.models.lenet import LeNet
from fooling.models.weights import resize_head
from fooling.models.zoo import save_checkpoint

TINY = [
    "--preset", "mnist-quick", "--rounds", "3", "--first-images", "40",
    "--images-per-round", "20", "--generations", "8", "--batch-size", "40",
    "--init-size", "40", "--train-iterations", "150", "--probe-images", "60", "-q",
]  # fmt: skip


def fooling(*args):
    return [sys.executable, "-m", "fooling", *args]


@pytest.fixture(scope="module")
def mnist():
    return str(shared_path("datasets", "mnist"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory, mnist):
    out = tmp_path_factory.mktemp("retrain") / "ref"
    subprocess.run(fooling("retrain", *TINY, "--data", mnist, "--out", str(out)), check=True)
    return out


def test_every_round_is_recorded(reference):
    summary = json.loads((reference / "summary.json").read_text())
    rows = summary["rounds"]
    assert [r["round"] for r in rows] == [1, 2, 3]
    # DNN_1 is the shipped lenet-mnist: 10 classes, no fooling class to measure.
    assert rows[0]["num_classes"] == 10 and rows[0]["clean_accuracy"] == pytest.approx(0.9907)
    assert rows[0]["share_random_cppn_in_fooling_class"] is None
    for r in rows[1:]:
        assert r["num_classes"] == 11
        assert 0.0 <= r["share_previous_fooling_in_fooling_class"] <= 1.0
        assert 0.0 <= r["share_random_cppn_in_fooling_class"] <= 1.0
        assert 0.5 < r["clean_accuracy"] <= 1.0
    # 40 images (2 runs x 10 classes x first/last generation), then 20 a round.
    assert [r["fooling_images_added"] for r in rows] == [40, 20, 20]
    assert [r["previous_fooling_images"] for r in rows] == [0, 40, 60]
    images = load_file(str(reference / "round_01" / "fooling.safetensors"))
    assert images["images"].shape == (40, 1, 28, 28) and images["images"].dtype == torch.uint8
    assert images["classes"].tolist() == list(range(10)) * 4
    for r in rows:  # the evolve summary agrees with the per-run confidences it came from
        evolve = json.loads((reference / f"round_{r['round']:02d}" / "evolve.json").read_text())
        conf = torch.tensor(evolve["confidences"], dtype=torch.float64)
        assert r["median_confidence"] == pytest.approx(statistics.median(conf.flatten().tolist()))
        assert r["classes_ge_99_99_best_run"] == int((conf >= 0.9999).sum(1).max())
    lines = (reference / "metrics.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("round,clean_accuracy")
    assert (reference / "rounds.png").read_bytes()[:4] == b"\x89PNG"


def test_a_retrained_network_loads_with_its_fooling_class(reference):
    clf = create_classifier("lenet-mnist", weights=reference / "round_02" / "model.safetensors")
    assert clf.num_classes == 11 and clf.spec.labels[-1] == "fooling"
    probs = clf.probs(torch.rand(4, 1, 28, 28))
    assert probs.shape == (4, 11) and torch.allclose(probs.sum(1), torch.ones(4))


def test_sigkill_inside_round_2_then_resume_gives_the_same_figures(reference, tmp_path, mnist):
    out = tmp_path / "killed"
    # Right after one of round 2's steps is written (a random one), whatever the machine's
    # speed: round 3 (training a network) is still to come.
    step = random.Random(5).choice(["model.safetensors", "eval.json", "runs/run_0000.safetensors"])
    proc = subprocess.Popen(fooling("retrain", *TINY, "--data", mnist, "--out", str(out)))
    deadline = time.time() + 120
    while not (out / "round_02" / step).exists() and time.time() < deadline:
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / "round_02").exists() and not (out / "summary.json").exists()
    spent = json.loads((out / "seconds.json").read_text())["seconds"]  # round 1's steps
    subprocess.run(fooling("retrain", "--resume", str(out), "-q"), check=True)
    a, b = (json.loads((d / "summary.json").read_text()) for d in (reference, out))
    assert a["rounds"] == b["rounds"]
    assert b["seconds"] > spent > 0  # the killed process's finished steps count too
    assert (reference / "metrics.csv").read_bytes() == (out / "metrics.csv").read_bytes()


def test_resume_recomputes_nothing_finished(reference, tmp_path, mnist):
    before = {p: p.stat().st_mtime_ns for p in reference.rglob("*.safetensors")}
    subprocess.run(fooling("retrain", "--resume", str(reference), "-q"), check=True)
    assert {p: p.stat().st_mtime_ns for p in reference.rglob("*.safetensors")} == before


def test_resume_refuses_a_dnn1_that_changed(reference, tmp_path):
    import shutil

    from fooling.models.zoo import shipped_weights

    out = tmp_path / "exp"
    shutil.copytree(reference, out)
    config = json.loads((out / "config.json").read_text())
    # The weights DNN_1 is loaded from now hold the other LeNet.
    config["retrain"]["weights"] = str(shipped_weights("lenet-mnist-b"))
    (out / "config.json").write_text(json.dumps(config))
    proc = subprocess.run(
        fooling("retrain", "--resume", str(out), "-q"), capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"fooling: error: {out} was run against other weights, mean image or labels than "
        "'lenet-mnist' loads now (relative paths in its config.json are read from the current "
        "directory)"
    ]


def test_bad_retrain_configs_are_refused():
    with pytest.raises(ConfigError, match="unknown retrain preset"):
        RetrainConfig.from_preset("cifar")
    with pytest.raises(ConfigError, match="rounds"):
        RetrainConfig(rounds=0)
    with pytest.raises(ConfigError, match="from scratch"):
        RetrainConfig(model="efficientnet-lite0")
    with pytest.raises(ConfigError, match="real images"):
        RetrainConfig.from_preset("imagenet-quick")


def test_checkpoints_with_an_extra_class_load_into_the_registry(tmp_path):
    lenet = LeNet(11)
    save_checkpoint(lenet, tmp_path / "l.safetensors", {"labels": [*map(str, range(10)), "junk"]})
    clf = create_classifier("lenet-mnist", weights=tmp_path / "l.safetensors")
    assert clf.spec.labels[-1] == "junk"  # the checkpoint's own labels win
    net = create_classifier("efficientnet-lite0").module
    old = net._fc.weight.detach().clone()
    resize_head(net, 1001)
    assert torch.equal(net._fc.weight[:1000], old)
    assert torch.allclose(net._fc.weight[1000], old.mean(0))
    save_checkpoint(net, tmp_path / "e.safetensors", {})
    big = create_classifier("efficientnet-lite0", weights=tmp_path / "e.safetensors")
    assert big.num_classes == 1001 and big.spec.labels[1000] == "fooling"


@pytest.mark.parametrize("name", ["alexnet", "caffenet"])
def test_alexnet_and_caffenet_with_a_fooling_class_load(name, tmp_path):
    from fooling.models.alexnet import AlexNet
    from fooling.models.caffenet import CaffeNet

    torch.manual_seed(0)
    net = {"alexnet": AlexNet, "caffenet": CaffeNet}[name]()
    resize_head(net, 1001)
    save_checkpoint(net, tmp_path / "n.safetensors", {})
    extra = {"mean_image": shared_path("models", "caffe", "ilsvrc_2012_mean.npy")}
    clf = create_classifier(name, weights=tmp_path / "n.safetensors",
                            **(extra if name == "caffenet" else {}))  # fmt: skip
    assert clf.num_classes == 1001 and clf.spec.labels[-1] == "fooling"
    assert clf.spec.labels[:2] == create_classifier("efficientnet-lite0").spec.labels[:2]
    probs = clf.probs(torch.rand(2, 3, 64, 64))
    assert probs.shape == (2, 1001) and torch.allclose(probs.sum(1), torch.ones(2))


def test_imagenet_fine_tuning_small_configuration(tmp_path):
    samples = shared_path("datasets", "imagenet-samples")
    photos = sorted(samples.iterdir())
    real = tmp_path / "real"
    for k in (0, 1):  # class subfolders named by index
        (real / str(k)).mkdir(parents=True)
        (real / str(k) / photos[k].name).symlink_to(photos[k])
    cfg = RetrainConfig.from_preset(
        "imagenet-quick",
        classes=(0, 1),
        first_images=4,
        images_per_round=4,
        generations=1,
        batch_size=6,
        init_size=6,
        probe_images=4,
        finetune_steps=3,
        finetune_batch=4,
        real_images=str(real),
    )
    summary = retrain(cfg, tmp_path / "out")
    r1, r2 = summary["rounds"]
    assert r1["num_classes"] == 1000 and r2["num_classes"] == 1001
    for r in (r1, r2):  # DNN_1 on the same photos: the baseline the fine-tuned DNN_2 is read by
        assert r["accuracy_on"].startswith("real images") and "not held out" in r["accuracy_on"]
        assert 0.0 <= r["clean_accuracy"] <= 1.0
    assert r2["previous_fooling_images"] == 4
    assert 0.0 <= r2["share_previous_fooling_in_fooling_class"] <= 1.0
    meta = json.loads((tmp_path / "out" / "config.json").read_text())
    assert meta["kind"] == "retrain" and meta["fooling_class"] == 1000
    dnn2 = create_classifier(
        "efficientnet-lite0", weights=tmp_path / "out" / "round_02" / "model.safetensors"
    )
    assert dnn2.spec.labels[-1] == "fooling"
    # fine-tuning moved the network: DNN_2's 1000 real-class rows differ from DNN_1's
    dnn1 = create_classifier("efficientnet-lite0")
    assert not torch.equal(dnn2.module._fc.weight[:1000], dnn1.module._fc.weight)


def test_a_round_takes_half_its_images_from_first_generations_and_half_from_last(tmp_path, mnist):
    # 6 images from runs of 2 classes x (first, last): 2 runs give 8, and the second run's
    # first and last halves are cut alike (3 + 3), not its last half dropped (4 + 2).
    cfg = RetrainConfig(classes=(3, 7), first_images=6, generations=1, batch_size=4,
                        init_size=4, data=mnist)  # fmt: skip
    job = Retraining(cfg, tmp_path)
    runs = job.round_dir(1) / "runs"
    runs.mkdir(parents=True)
    for r in range(2):  # finished runs are read back, not run again
        t = {}
        for key, level in (("first", 10), ("last", 200)):
            t[key] = torch.full((2, 1, 28, 28), level + r, dtype=torch.uint8)
            t[f"{key}_confidence"] = torch.tensor([0.5, 0.6])
        save_file(t, str(runs / f"run_{r:04d}.safetensors"))
    job.evolve(1)
    out = load_file(str(job.round_dir(1) / "fooling.safetensors"))
    levels = out["images"][:, 0, 0, 0].tolist()
    assert levels == [10, 10, 200, 200, 11, 201]  # old code: [10, 10, 200, 200, 11, 11]
    assert out["classes"].tolist() == [3, 7, 3, 7, 3, 3]
