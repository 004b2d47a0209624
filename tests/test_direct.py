import os

import pytest
import torch

from fooling.encodings import DirectEncoding, create_encoding
from fooling.errors import ConfigError, UnknownNameError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_init_is_uniform_and_renders_to_8bit_levels():
    enc = DirectEncoding(channels=1, size=28)
    g = enc.init(50, gen())
    assert g.shape == (50, 1, 28, 28) and g.dtype == torch.float32
    assert 0.0 <= g.min() and g.max() < 1.0
    assert abs(float(g.mean()) - 0.5) < 0.01
    img = enc.render(g)
    levels = img * 255
    assert torch.equal(levels, levels.round())
    # trunc(255 g), as in the released code
    assert torch.equal(levels, torch.floor(g * 255))
    assert float(enc.render(torch.ones(1, 1, 28, 28)).max()) == 1.0


def test_mutation_touches_the_configured_share_of_genes():
    enc = DirectEncoding(size=64, crossover=False, mutation_rate=0.1)
    parents = torch.full((20, 1, 64, 64), 0.5)
    children = enc.vary(parents, gen(1))
    changed = (children != parents).float().mean()
    assert abs(float(changed) - 0.1) < 0.005


def test_polynomial_mutation_step_has_mean_size_one_over_eta_plus_two():
    enc = DirectEncoding(size=64, crossover=False, mutation_rate=1.0, eta_m=15)
    parents = torch.full((50, 1, 64, 64), 0.5)
    delta = (enc.vary(parents, gen(2)) - parents).abs()
    # E|delta| = 1 / (eta + 2) for the released code's unbounded variant (clip is rare at 0.5)
    assert abs(float(delta.mean()) - 1 / 17) < 0.002
    # symmetric
    assert abs(float((enc.vary(parents, gen(3)) - parents).mean())) < 0.002


def test_mutation_is_clipped_to_bounds():
    enc = DirectEncoding(size=32, crossover=False, mutation_rate=1.0, eta_m=0.5)
    g = enc.vary(torch.rand(10, 1, 32, 32, generator=gen(4)), gen(5))
    assert g.min() >= 0.0 and g.max() <= 1.0


def test_sbx_keeps_equal_genes_and_bounds_and_rate():
    enc = DirectEncoding(size=16, mutation_rate=0.0, crossover=True, crossover_rate=0.5)
    p = torch.rand(400, 1, 16, 16, generator=gen(6))
    p[1::2, :, :8] = p[0::2, :, :8]  # pairs share their left half
    c = enc.vary(p, gen(7))
    assert torch.equal(c[:, :, :8], p[:, :, :8])
    assert 0.0 <= c.min() and c.max() <= 1.0
    crossed = (c[0::2] != p[0::2]).flatten(1).any(1).float().mean()
    assert abs(float(crossed) - 0.5) < 0.1
    # SBX children spread around the parents' midpoint
    mid_p = (p[0::2] + p[1::2]) / 2
    mid_c = (c[0::2] + c[1::2]) / 2
    assert float((mid_p - mid_c).abs().mean()) < 0.02


def test_no_crossover_and_zero_rate_copy_parents():
    enc = DirectEncoding(size=8, mutation_rate=0.0, crossover=False)
    p = torch.rand(6, 1, 8, 8, generator=gen(8))
    assert torch.equal(enc.vary(p, gen(9)), p)
    enc = DirectEncoding(size=8, mutation_rate=0.0, crossover=True, crossover_rate=0.0)
    assert torch.equal(enc.vary(p, gen(9)), p)


def test_rate_halves_every_1000_generations_unless_asked_to_stay_constant():
    assert DirectEncoding().rate(999) == 0.1  # the paper's schedule by default
    assert DirectEncoding().rate(1000) == 0.05
    assert DirectEncoding().rate(2500) == 0.025
    assert DirectEncoding(halve_every=10).rate(25) == 0.025
    assert DirectEncoding(halve_every=0).rate(5000) == 0.1  # the released code
    assert "constant" in DirectEncoding(halve_every=0).settings()["mutation_schedule"]


def test_same_seed_same_offspring():
    enc = DirectEncoding(size=28)
    p = enc.init(10, gen(10))
    assert torch.equal(enc.vary(p, gen(11)), enc.vary(p, gen(11)))
    assert not torch.equal(enc.vary(p, gen(11)), enc.vary(p, gen(12)))


def test_save_load_round_trip(tmp_path):
    enc = DirectEncoding(size=28)
    g = enc.init(3, gen())
    enc.save(g, tmp_path / "g.safetensors")
    assert torch.equal(enc.load(tmp_path / "g.safetensors"), g)
    # Written in one atomic step: no hidden temporary file beside it, the usual file mode.
    assert [p.name for p in tmp_path.iterdir()] == ["g.safetensors"]
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "g.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize(
    "kwargs",
    [{"mutation_rate": 1.5}, {"crossover_rate": -0.1}, {"halve_every": -1}, {"channels": 2}],
)
def test_bad_settings_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        DirectEncoding(**kwargs)


def test_unknown_encoding_lists_the_known_ones():
    with pytest.raises(UnknownNameError, match="direct"):
        create_encoding("pixels")


@pytest.mark.parametrize("p", [1e-30, 1e-300, 5e-324])
def test_bernoulli_positions_with_a_tiny_rate_choose_nothing(p):
    from fooling.encodings.direct import bernoulli_positions

    # The geometric gaps are astronomically long: capped, not overflowed into a loop.
    assert bernoulli_positions(10**6, p, gen(14)).numel() == 0


def test_bernoulli_positions_are_independent_per_position():
    from fooling.encodings.direct import bernoulli_positions

    g = gen(13)
    counts = torch.zeros(50)
    sizes = []
    for _ in range(4000):
        pos = bernoulli_positions(50, 0.1, g)
        assert torch.all(pos[1:] > pos[:-1]) and (pos.numel() == 0 or 0 <= pos.min())
        assert pos.numel() == 0 or pos.max() < 50
        counts[pos] += 1
        sizes.append(pos.numel())
    freq = counts / 4000
    assert float((freq - 0.1).abs().max()) < 0.02  # every position about p
    sizes_t = torch.tensor(sizes, dtype=torch.float)
    assert abs(float(sizes_t.mean()) - 5.0) < 0.15  # binomial mean n p
    assert abs(float(sizes_t.var()) - 4.5) < 0.5  # binomial variance n p (1 - p)
    assert bernoulli_positions(7, 1.0, g).tolist() == list(range(7))
    assert bernoulli_positions(7, 0.0, g).numel() == 0
