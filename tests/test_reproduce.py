"""`fooling reproduce`: an experiment's runs, its table beside the paper's, its report."""

import json
import statistics

import pytest

from fooling._stats import percent
from fooling.cli import main
from fooling.paper import PAPER

ARGS = ["reproduce", "mnist-direct", "--quick", "--seeds", "2", "--generations", "6", "-q"]


@pytest.fixture(scope="module")
def reproduction(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce") / "md"
    assert main([*ARGS, "--out", str(out)]) == 0
    return out


def test_comparison_quotes_the_runs_and_the_paper(reproduction):
    rows = json.loads((reproduction / "comparison.json").read_text())
    assert [r["quantity"] for r in rows] == [p["quantity"] for p in PAPER["mnist-direct"]]
    runs = sorted((reproduction / "runs").iterdir())
    assert [r.name for r in runs] == ["lenet-mnist-direct-s0", "lenet-mnist-direct-s1"]
    medians = [json.loads((r / "summary.json").read_text())["median"] for r in runs]
    assert rows[0]["this run"].startswith(f"{percent(statistics.median(medians), 2)} %")
    assert "generation 6" in rows[0]["this run"]  # fewer generations than the paper's 200
    assert rows[0]["paper"].startswith("99.99 % (Caffe LeNet") and "PAPER✓" in rows[0]["paper"]
    assert "our LeNet" in rows[0]["model used"]


def test_report_holds_every_run_and_the_comparison(reproduction):
    from test_report import Page

    page = Page((reproduction / "report.html").read_text())
    rows = json.loads((reproduction / "comparison.json").read_text())
    assert page.texts_in("comparison") == [str(v) for row in rows for v in row.values()]
    names = [r.name for r in sorted((reproduction / "runs").iterdir())]
    paths = [t for t in page.texts_in("summary") if "lenet-mnist-direct-s" in t]
    assert [t.rsplit("/", 1)[-1] for t in paths] == names  # the summary: one row per run


def test_a_second_call_reuses_finished_runs(reproduction, capsys):
    summary = reproduction / "runs" / "lenet-mnist-direct-s0" / "summary.json"
    before = summary.stat().st_mtime_ns
    assert main([*ARGS, "--out", str(reproduction)]) == 0
    assert summary.stat().st_mtime_ns == before


def test_other_settings_in_the_same_directory_are_refused(reproduction, capsys):
    assert main(["reproduce", "mnist-cppn", "--quick", "--out", str(reproduction), "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert "other settings" in err and len(err.splitlines()) == 1


def test_retrain_imagenet_needs_real_photos(tmp_path, capsys):
    assert main(["reproduce", "retrain-imagenet", "--quick", "--out", str(tmp_path / "x")]) == 2
    assert "--real-images" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_list_names_searches_presets_and_experiments(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "hp169" in out and "mnist-quick" in out
    assert all(name in out for name in PAPER)


@pytest.mark.parametrize("quick", [True, False])
def test_the_paper_runs_use_the_papers_cppn_inputs_and_mutation_schedule(quick, tmp_path):
    # PAPER.md §9: the CPPN exactly as §3 (raw pixel-index inputs), the direct encoding's
    # rate halved every 1000 generations (the paper's text), mutation alone.
    from fooling.experiments.config import EvolveConfig
    from fooling.experiments.reproduce import ReproduceConfig, Reproduction
    from fooling.experiments.retrain import PRESETS, RetrainConfig

    configs = {}

    class Recording(Reproduction):
        def evolve(self, name, **settings):
            configs[name] = EvolveConfig(**settings)
            return tmp_path / name

    for experiment in ("mnist-cppn", "imagenet-cppn", "mnist-direct", "imagenet-direct"):
        job = Recording(ReproduceConfig(experiment, quick=quick, seeds=1), tmp_path)
        encoding = experiment.split("-")[1]
        (job._mnist(encoding) if experiment.startswith("mnist") else job._imagenet(encoding))
    for name, cfg in configs.items():
        assert cfg.cppn_inputs == "raw" or cfg.encoding == "direct", name
        assert cfg.halve_every == 1000 and not cfg.crossover, name
    assert len(configs) == 4
    for preset in PRESETS:  # the retraining experiments evolve with the same CPPN
        assert RetrainConfig.from_preset(preset, real_images="x").cppn_inputs == "raw", preset


def test_each_paper_figure_names_the_network_the_paper_measured(tmp_path):
    from fooling.experiments.reproduce import ReproduceConfig, Reproduction

    def paper(experiment):
        job = Reproduction(ReproduceConfig("mnist-direct"), tmp_path)
        return job._compare(experiment, ["ours"], "lenet-mnist")[0]["paper"]

    # PAPER.md §7: the MNIST CPPN generation wording is recalled, not seen.
    assert paper("mnist-cppn") == "99.99 % (Caffe LeNet; §3.2, Fig. 5, PAPER-mem)"
    # The paper's gradient ascent ran on CaffeNet only, with other weights and one crop
    # (PAPER.md §5): no LeNet figure to compare with.
    assert paper("ascent-mnist").startswith(
        "no MNIST figure; 99.99 % on ImageNet (CaffeNet, caffenet-yos-weights, centre crop;"
    )
    assert paper("transfer") == (
        "some do, others are specific to DNN A (no % recalled) "
        "(Caffe LeNet and CaffeNet; §3.5, PAPER-mem)"
    )
    # The paper's 45 of 70 were Picbreeder images; ours are random genomes: both named.
    quantities = [p["quantity"] for p in PAPER["retrain-imagenet"]]
    assert "Picbreeder" in quantities[1] and "random initial CPPN genomes" in quantities[1]
