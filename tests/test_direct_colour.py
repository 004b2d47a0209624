"""The direct encoding at ImageNet scale: colour decoding (OpenCV HLS with the hue wrap, clean
HSV, RGB) and uint8 genomes (the 8-bit levels themselves)."""

from __future__ import annotations

import pytest
import torch

from fooling.encodings import DirectEncoding
from fooling.encodings.cppn import hls_bytes_to_rgb, hsv_to_rgb
from fooling.errors import ConfigError, DataError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_uint8_genomes_start_as_the_released_codes_levels():
    f = DirectEncoding(channels=3, size=16, colour="rgb")
    b = DirectEncoding(channels=3, size=16, colour="rgb", dtype="uint8")
    gf, gb = f.init(50, gen()), b.init(50, gen())
    assert gb.dtype == torch.uint8 and gb.max() <= 254  # int(g * 255) for g in [0, 1)
    assert torch.equal(gb, torch.floor(gf * 255).to(torch.uint8))  # same draws, same levels
    assert torch.equal(b.render(gb), f.render(gf))
    assert abs(float(gb.float().mean()) - 127) < 2


def test_uint8_mutation_is_unbiased_and_touches_the_configured_share():
    enc = DirectEncoding(channels=3, size=32, dtype="uint8", mutation_rate=0.1)
    parents = torch.full((20, 3, 32, 32), 128, dtype=torch.uint8)
    kids = enc.vary(parents, gen(1))
    step = kids.float() - parents.float()
    moved = step != 0
    assert 0.08 < float(moved.float().mean()) < 0.1  # ~1/16 of mutations stay in the level
    assert abs(float(step[moved].mean())) < 1.0  # no drift toward 0 or 255
    # E|delta| = 1/(eta + 2) of the range = 15 levels
    assert 13 < float(step[moved].abs().mean()) < 17
    edge = enc.vary(torch.full((4, 3, 32, 32), 255, dtype=torch.uint8), gen(2))
    assert edge.dtype == torch.uint8 and int(edge.max()) == 255


def test_uint8_sbx_keeps_levels_and_bounds():
    enc = DirectEncoding(channels=3, size=8, dtype="uint8", crossover=True, mutation_rate=0.0)
    a = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    b = torch.full((1, 3, 8, 8), 200, dtype=torch.uint8)
    kids = enc.vary(torch.cat([a, b] * 20), gen(3))
    assert kids.dtype == torch.uint8
    pairs = kids.view(20, 2, -1).float()
    crossed = (pairs[:, 0] != 0).any(1)
    assert 0 < int(crossed.sum()) < 20  # crossover rate 0.5
    same = enc.vary(torch.cat([b, b]), gen(4))
    assert torch.equal(same, torch.cat([b, b]))  # equal genes stay equal


def test_hls_rendering_is_opencvs_with_the_hue_wrap():
    enc = DirectEncoding(channels=3, size=4, colour="hls", dtype="uint8")
    g = enc.init(6, gen(5))
    assert torch.equal(enc.render(g), hls_bytes_to_rgb(g.float()))
    # hue bytes 180 and 0 are the same colour (2 degrees per byte, wrapping at 180)
    px = torch.tensor([[180, 128, 255], [0, 128, 255]], dtype=torch.uint8).view(2, 3, 1, 1)
    img = enc.render(px)
    assert torch.equal(img[0], img[1])
    assert torch.allclose(img[0].flatten(), torch.tensor([1.0, 0.0, 0.0]), atol=0.01)  # red
    f = DirectEncoding(channels=3, size=4, colour="hls")
    gf = f.init(6, gen(5))
    assert torch.equal(f.render(gf), hls_bytes_to_rgb(torch.floor(gf * 255)))


def test_hsv_and_rgb_rendering():
    hsv = DirectEncoding(channels=3, size=4, colour="hsv", dtype="uint8")
    g = hsv.init(3, gen(6))
    assert torch.equal(hsv.render(g), hsv_to_rgb(g.float() / 255))
    out = hsv.render(g)
    assert torch.equal(out, torch.round(out * 255) / 255)  # on 8-bit levels
    rgb = DirectEncoding(channels=3, size=4, colour="rgb", dtype="uint8")
    assert torch.equal(rgb.render(g), g.float() / 255)


def test_uint8_save_load_and_a_mismatched_file(tmp_path):
    enc = DirectEncoding(channels=3, size=8, dtype="uint8")
    g = enc.init(3, gen())
    enc.save(g, tmp_path / "g.safetensors")
    assert torch.equal(enc.load(tmp_path / "g.safetensors"), g)
    with pytest.raises(DataError, match="uint8"):
        DirectEncoding(channels=3, size=8).load(tmp_path / "g.safetensors")


def test_bad_colour_and_dtype():
    with pytest.raises(ConfigError, match="colour"):
        DirectEncoding(channels=3, colour="lab")
    with pytest.raises(ConfigError, match="dtype"):
        DirectEncoding(dtype="float16")


def test_uint8_sbx_next_to_level_255_stays_between_the_parents():
    # Level 255 decoded as the centre of a level (1.002) lay above SBX's bounds: the
    # spread factor went below 1 and gave NaN children, stored as level 0.
    enc = DirectEncoding(channels=3, size=8, dtype="uint8", crossover=True,
                         crossover_rate=1.0, mutation_rate=0.0)  # fmt: skip
    lo = torch.full((1, 3, 8, 8), 250, dtype=torch.uint8)
    hi = torch.full((1, 3, 8, 8), 255, dtype=torch.uint8)
    kids = enc.vary(torch.cat([lo, hi] * 16), gen(7))
    assert int(kids.min()) >= 240  # old code: half the genes were 0
    assert (kids != 250).any() and (kids != 255).any()  # crossed, not copied
    for level in (0, 128, 254, 255):  # a gene's level survives the trip through floats
        g = torch.full((1, 1, 1, 1), level, dtype=torch.uint8)
        assert int(enc._from_genes(enc._to_genes(g))) == level
