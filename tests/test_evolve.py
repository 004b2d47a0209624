"""End-to-end runs of `fooling evolve` at small size: run directory, re-scoring, determinism."""

import csv
import json
import statistics

import pytest
import torch

from fooling import AscentConfig, EvolveConfig, create_classifier, evolve, resume
from fooling.errors import ConfigError
from fooling.experiments.retrain import RetrainConfig
from fooling.rundir import read_png


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "r"
    summary = evolve(EvolveConfig(generations=12, seed=3, checkpoint_every=5), out)
    return out, summary


def test_run_directory_holds_every_file(run):
    out, summary = run
    for name in (
        "config.json",
        "metrics.csv",
        "archive.json",
        "champions.safetensors",
        "grid.png",
        "summary.json",
        "checkpoint/LATEST",
    ):
        assert (out / name).is_file(), name
    assert len(list((out / "images").glob("*.png"))) == 10
    config = json.loads((out / "config.json").read_text())
    assert config["classifier"]["labels"] == [str(k) for k in range(10)]
    assert config["encoding"]["crossover"] == "none"
    assert config["encoding"]["mutation_schedule"] == "halve every 1000 generations (paper)"
    assert summary["evaluations"] == 200 + 12 * 200
    assert json.loads((out / "summary.json").read_text())["median"] == summary["median"]


def test_metrics_rows_match_the_archive(run):
    out, summary = run
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["generation"]) for r in rows] == list(range(13))
    last = rows[-1]
    conf = [float(last[f"conf_{k}"]) for k in range(10)]
    assert conf == summary["confidences"]
    assert float(last["median"]) == pytest.approx(
        statistics.median(conf), rel=1e-12
    )  # the mean of the middle two
    assert int(last["n_ge_99.99"]) == sum(c >= 0.9999 for c in conf)
    # champions never get worse
    for k in range(10):
        series = [float(r[f"conf_{k}"]) for r in rows]
        assert series == sorted(series)
    archive = json.loads((out / "archive.json").read_text())
    for entry in archive["classes"]:
        g = entry["first_generation"]["0.99"]
        series = [float(r[f"conf_{entry['class']}"]) for r in rows]
        expected = next((i for i, c in enumerate(series) if c >= 0.99), -1)
        assert g == expected


def test_png_rescoring_matches_recorded_confidences(run):
    out, _ = run
    clf = create_classifier("lenet-mnist")
    archive = json.loads((out / "archive.json").read_text())
    images = torch.stack([read_png(out / e["image"]) for e in archive["classes"]])
    probs = clf.probs(images)
    for e, p in zip(archive["classes"], probs):
        assert abs(float(p[e["class"]]) - e["confidence"]) <= 1e-6
        assert e["image"].startswith(f"images/{e['class']}_{e['label']}_")


def test_a_scrambled_run_records_it_and_its_pngs_rescore_through_the_same_scramble(tmp_path):
    # The released code's grey-image bug as an ablation (PAPER.md §1.1): the network sees a
    # scrambled image, the PNGs hold the genome's own image, as the original saved them.
    out = tmp_path / "scrambled"
    evolve(EvolveConfig(generations=3, scramble=True), out)
    config = json.loads((out / "config.json").read_text())
    assert config["evolve"]["scramble"] is True
    archive = json.loads((out / "archive.json").read_text())
    images = torch.stack([read_png(out / e["image"]) for e in archive["classes"]])
    ks = torch.tensor([e["class"] for e in archive["classes"]])
    recorded = torch.tensor([e["confidence"] for e in archive["classes"]], dtype=torch.float64)
    rows = torch.arange(len(ks))
    scrambled = create_classifier("lenet-mnist", scramble=True).probs(images)[rows, ks]
    plain = create_classifier("lenet-mnist").probs(images)[rows, ks]
    assert torch.allclose(scrambled.double(), recorded, atol=1e-6)
    assert not torch.allclose(plain.double(), recorded, atol=1e-3)


class Killed(Exception):
    """Stands for a kill in the middle of a run."""


def kill_at(generation):
    """A callback that interrupts a run after ``generation``."""

    def callback(stats):
        if stats.generation == generation:
            raise Killed

    return callback


def test_same_seed_same_run_and_resume_is_exact(run, tmp_path):
    out, _ = run
    again = tmp_path / "again"
    evolve(EvolveConfig(generations=12, seed=3, checkpoint_every=5), again)
    for name in ("metrics.csv", "archive.json", "champions.safetensors"):
        assert (out / name).read_bytes() == (again / name).read_bytes(), name

    # interrupt at generation 8 (last checkpoint: generation 5), then resume
    cut = tmp_path / "cut"
    with pytest.raises(Killed):
        evolve(EvolveConfig(generations=12, seed=3, checkpoint_every=5), cut, callback=kill_at(8))
    assert (cut / "checkpoint" / "LATEST").read_text().strip() == "00000005"
    assert not (cut / "summary.json").exists()
    resume(cut)
    for name in ("metrics.csv", "archive.json", "champions.safetensors"):
        assert (out / name).read_bytes() == (cut / name).read_bytes(), name


def test_resume_refuses_a_classifier_that_changed_since_the_checkpoint(tmp_path):
    import shutil
    from importlib import resources

    from fooling.errors import RunDirError

    weights = resources.files("fooling") / "models" / "weights"
    w = tmp_path / "w.safetensors"
    shutil.copyfile(weights / "lenet-mnist.safetensors", w)
    cfg = EvolveConfig(generations=12, seed=3, checkpoint_every=5, weights=str(w))

    cut = tmp_path / "cut"
    with pytest.raises(Killed):
        evolve(cfg, cut, callback=kill_at(8))
    # The same path now holds the other LeNet: resuming would score the rest of the run
    # against another network than its first generations.
    shutil.copyfile(weights / "lenet-mnist-b.safetensors", w)
    before = {p.name: p.read_bytes() for p in (cut / "checkpoint").iterdir()}
    with pytest.raises(RunDirError, match="other weights, mean image or labels"):
        resume(cut)
    assert {p.name: p.read_bytes() for p in (cut / "checkpoint").iterdir()} == before
    shutil.copyfile(weights / "lenet-mnist.safetensors", w)  # put back: it resumes
    resume(cut)
    assert (cut / "summary.json").is_file()


def test_fingerprint_tells_weights_apart():
    a = create_classifier("lenet-mnist")
    assert a.fingerprint() == create_classifier("lenet-mnist").fingerprint()
    assert a.fingerprint() != create_classifier("lenet-mnist-b").fingerprint()
    with torch.no_grad():
        next(a.parameters())[0, 0, 0, 0] += 1e-6
    assert a.fingerprint() != create_classifier("lenet-mnist").fingerprint()


def test_api_runs_and_resumes_against_a_classifier_object(patches, tmp_path):
    from conftest import tiny_classifier
    from fooling import ascent
    from fooling.errors import RunDirError, UnknownNameError

    cfg = EvolveConfig(generations=6, seed=1, checkpoint_every=2)

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    summary = evolve(cfg, whole, classifier=patches)
    config = json.loads((whole / "config.json").read_text())
    assert config["evolve"]["model"] == "tiny" and config["classifier"]["num_classes"] == 4
    assert summary["num_classes"] == 4 and len(list((whole / "images").iterdir())) == 4
    with pytest.raises(Killed):
        evolve(cfg, cut, classifier=patches, callback=kill_at(5))
    other = tiny_classifier(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4)), 4)
    with pytest.raises(RunDirError, match="other weights"):  # same name, other network
        resume(cut, classifier=other)
    with pytest.raises(UnknownNameError, match=r"fooling.resume\(RUN_DIR, classifier=...\)"):
        resume(cut)  # as `fooling evolve --resume` would: "tiny" is no registered model
    resume(cut, classifier=patches)
    for name in ("metrics.csv", "archive.json", "champions.safetensors"):
        assert (whole / name).read_bytes() == (cut / name).read_bytes(), name

    summary = ascent(AscentConfig(steps=5), tmp_path / "asc", classifier=patches)
    assert summary["num_classes"] == 4
    assert json.loads((tmp_path / "asc" / "config.json").read_text())["ascent"]["model"] == "tiny"


def test_other_seed_differs(run, tmp_path):
    out, _ = run
    other = tmp_path / "other"
    evolve(EvolveConfig(generations=12, seed=4, checkpoint_every=5), other)  # only the seed
    assert (other / "champions.safetensors").read_bytes() != (
        out / "champions.safetensors"
    ).read_bytes()


def test_config_json_says_which_variant_ran(tmp_path):
    # The defaults are the paper's text: mutation alone, the rate halved every 1000.
    evolve(EvolveConfig(generations=1), tmp_path / "paper")
    enc = json.loads((tmp_path / "paper" / "config.json").read_text())["encoding"]
    assert enc["crossover"] == "none" and enc["halve_every"] == 1000
    assert enc["mutation_schedule"] == "halve every 1000 generations (paper)"
    # The released code: SBX, and a constant rate.
    evolve(EvolveConfig(generations=1, crossover=True, halve_every=0), tmp_path / "code")
    enc = json.loads((tmp_path / "code" / "config.json").read_text())["encoding"]
    assert enc["crossover"] == "sbx" and enc["crossover_rate"] == 0.5 and enc["eta_c"] == 10.0
    assert enc["mutation_schedule"] == "constant (released code)"


@pytest.mark.parametrize("value", [0, -3, True, 2.0, "5"])
def test_counts_must_be_positive_integers_and_true_is_not_one(value, tmp_path):
    from fooling import AscentConfig
    from fooling.errors import ConfigError
    from fooling.experiments.reproduce import ReproduceConfig
    from fooling.experiments.retrain import RetrainConfig

    for make in (
        lambda: EvolveConfig(generations=value),
        lambda: EvolveConfig(eval_batch_size=value),
        lambda: AscentConfig(steps=value),
        lambda: RetrainConfig(rounds=value),
        lambda: ReproduceConfig("mnist-direct", seeds=value),
    ):
        with pytest.raises(ConfigError, match=f"must be a positive integer, got {value!r}"):
            make()


@pytest.mark.parametrize(
    "cfg",
    [
        EvolveConfig(classes=(1, "3"), mean=(0.5,), std=(0.25,), encoding="cppn"),
        AscentConfig.from_preset("hp-1", classes=(2, 4), steps=7),
        RetrainConfig.from_preset("mnist-quick", classes=(0, 1)),
    ],
    ids=["evolve", "ascent", "retrain"],
)
def test_configs_round_trip_through_config_json_and_refuse_unknown_keys(cfg):
    d = json.loads(json.dumps(cfg.to_dict()))
    assert d["classes"] == list(cfg.classes)
    assert type(cfg).from_dict(d) == cfg
    with pytest.raises(ConfigError, match=r"^unknown config keys: bogus, typo$"):
        type(cfg).from_dict({**d, "typo": 1, "bogus": 2})
