"""`fooling render`: a CPPN run's champions drawn again at any resolution."""

import numpy as np
import pytest
from PIL import Image

from fooling import EvolveConfig, evolve
from fooling.cli import main


@pytest.fixture(scope="module")
def cppn_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("render") / "run"
    evolve(EvolveConfig(encoding="cppn", generations=3, batch_size=30, init_size=30), out)
    return out


def pixels(path):
    with Image.open(path) as im:
        return np.asarray(im)


def test_render_at_the_run_size_reproduces_the_saved_champions(cppn_run, tmp_path, capsys):
    assert main(["render", str(cppn_run), "--size", "28", "--out", str(tmp_path / "r")]) == 0
    assert "wrote 10 images of 28x28" in capsys.readouterr().out
    saved = sorted((cppn_run / "images").glob("*.png"))
    again = sorted((tmp_path / "r").glob("*.png"))
    assert [p.name for p in saved] == [p.name for p in again]
    for a, b in zip(saved, again):
        assert np.array_equal(pixels(a), pixels(b)), a.name


def test_render_at_high_resolution_keeps_the_picture(cppn_run):
    assert main(["render", str(cppn_run), "--size", "112"]) == 0
    big = sorted((cppn_run / "render-112").glob("*.png"))
    small = sorted((cppn_run / "images").glob("*.png"))
    assert len(big) == 10 and pixels(big[0]).shape == (112, 112)
    # normalised inputs: the same function of position, so a 4x downsample of the large
    # picture resembles the small one far more than another class's picture does.
    down = [pixels(p).reshape(28, 4, 28, 4).mean((1, 3)) for p in big]
    ref = [pixels(p).astype(float) for p in small]
    own = np.mean([np.abs(d - r).mean() for d, r in zip(down, ref)])
    other = np.mean([np.abs(d - r).mean() for d, r in zip(down, ref[1:] + ref[:1])])
    assert own < other


def test_render_refuses_a_direct_run(tmp_path, capsys):
    run = tmp_path / "direct"
    evolve(EvolveConfig(generations=1, batch_size=10, init_size=10), run)
    assert main(["render", str(run), "--size", "64"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a CPPN run" in err and len(err.splitlines()) == 1
    assert not (run / "render-64").exists()
