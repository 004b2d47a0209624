"""`fooling reproduce`: an experiment's runs, its table beside the paper's, its report."""

import json
import statistics

import pytest

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
    assert rows[0]["this run"].startswith(f"{100 * statistics.median(medians):.2f} %")
    assert "generation 6" in rows[0]["this run"]  # fewer generations than the paper's 200
    assert rows[0]["paper"].startswith("99.99 % (Caffe LeNet") and "PAPER✓" in rows[0]["paper"]
    assert "our LeNet" in rows[0]["model used"]


def test_report_holds_every_run_and_the_comparison(reproduction):
    page = (reproduction / "report.html").read_text()
    assert 'id="comparison"' in page and 'id="champions"' in page
    assert page.count("lenet-mnist-direct-s") >= 2


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
