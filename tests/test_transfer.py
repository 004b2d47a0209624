"""`fooling transfer`: champions of runs re-scored by other classifiers."""

import csv
import json
import statistics

import pytest

from fooling import EvolveConfig, evolve
from fooling.cli import main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("transfer")
    out = []
    for encoding, seed in (("direct", 0), ("direct", 1), ("cppn", 0)):
        run = base / f"{encoding}-{seed}"
        evolve(
            EvolveConfig(encoding=encoding, seed=seed, generations=4, batch_size=40, init_size=40),
            run,
        )
        out.append(run)
    return out


def test_matrix_of_runs_and_models(runs, tmp_path, capsys):
    out = tmp_path / "t"
    args = ["transfer", *map(str, runs), "--models", "lenet-mnist,lenet-mnist-b", "--out", str(out)]
    assert main(args) == 0
    assert "lenet-mnist-direct (2 runs)" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    rows = summary["rows"]
    assert [(r["run"], r["model"]) for r in rows] == [
        (str(run), m) for run in runs for m in ("lenet-mnist", "lenet-mnist-b")
    ]
    for run in runs:  # scored by its own network, a run gives back its recorded confidences
        recorded = json.loads((run / "summary.json").read_text())["confidences"]
        own = next(r for r in rows if r["run"] == str(run) and r["model"] == "lenet-mnist")
        assert own["median_confidence"] == pytest.approx(statistics.median(recorded), abs=1e-6)
        assert own["share_ge_99"] == pytest.approx(sum(c >= 0.99 for c in recorded) / 10)
    cells = json.loads((out / "transfer.json").read_text())["cells"]
    for row, cell in zip(rows, cells):
        assert row["median_confidence"] == pytest.approx(statistics.median(cell["confidences"]))
        assert row["share_top1"] == pytest.approx(sum(cell["top1"]) / len(cell["top1"]))
    pooled = {(p["setting"], p["model"]): p for p in summary["pooled"]}
    direct_b = pooled[("lenet-mnist-direct", "lenet-mnist-b")]
    assert direct_b["runs"] == 2 and direct_b["n"] == 20
    with open(out / "transfer.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)


@pytest.mark.parametrize(
    "models, needle",
    [
        ("efficientnet-lite0", "3-channel"),
        ("resnet-9000", "unknown model"),
        ("lenet-mnist@/nonexistent.safetensors", "not found"),
    ],
)
def test_incompatible_or_unknown_models_are_one_line_errors(runs, tmp_path, capsys, models, needle):
    out = tmp_path / "t"
    assert main(["transfer", str(runs[0]), "--models", models, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_folder_that_is_no_run_is_refused(tmp_path, capsys):
    assert main(["transfer", str(tmp_path), "--models", "lenet-mnist"]) == 2
    assert "config.json not found" in capsys.readouterr().err


def test_runs_of_different_settings_are_not_pooled(runs, tmp_path):
    other = tmp_path / "direct-short"
    evolve(EvolveConfig(seed=2, generations=3, batch_size=40, init_size=40), other)
    out = tmp_path / "t"
    args = ["transfer", str(runs[0]), str(runs[1]), str(other), "--models", "lenet-mnist-b"]
    assert main([*args, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    settings = [r["setting"] for r in summary["rows"]]
    long, short = "lenet-mnist-direct (generations=4)", "lenet-mnist-direct (generations=3)"
    assert settings == [long, long, short]  # seeds 0 and 1 share a setting; 3 generations not
    pooled = {p["setting"]: p["runs"] for p in summary["pooled"]}
    assert pooled == {long: 2, short: 1}


def test_a_user_model_of_another_input_size_in_evolve_ascent_and_transfer(tmp_path, capsys):
    model = ["--model", "conftest:eight_pixel_classifier", "--input-size", "8"]
    run, asc = tmp_path / "ev", tmp_path / "asc"
    small = ["--batch-size", "10", "--init-size", "10"]
    assert main(["evolve", *model, "--generations", "2", *small, "--out", str(run), "-q"]) == 0
    assert main(["ascent", *model, "--steps", "3", "--out", str(asc), "-q"]) == 0
    out = tmp_path / "t"
    assert main(["transfer", str(run), str(asc), "--models", "conftest:eight_pixel_classifier",
                 "--input-size", "8", "--out", str(out)]) == 0  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    for row, source in zip(summary["rows"], (run, asc)):  # its own model gives its figures back
        recorded = json.loads((source / "summary.json").read_text())
        assert row["median_confidence"] == pytest.approx(recorded["median"], abs=1e-6)
    capsys.readouterr()
    user = ["--models", "conftest:eight_pixel_classifier"]
    assert main(["transfer", str(run), *user, "--out", str(tmp_path / "u")]) == 2
    assert "fails on a blank 3x224x224 image" in capsys.readouterr().err
    assert main(["transfer", str(run), "--models", "lenet-mnist", "--input-size", "8",
                 "--out", str(tmp_path / "v")]) == 2  # fmt: skip
    assert "for module:factory models" in capsys.readouterr().err
