"""The one median the project reports (``torch.median`` returns the lower of the two middle
values of an even count; the paper's and every report's median is their mean), and the one
way it writes a percentage."""

from __future__ import annotations

import math

import torch


def median(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """The median of ``x`` (over ``dim``, else all of it), the mean of the two middle values
    for an even count; float64."""
    x = x.detach().to(torch.float64)
    return torch.quantile(x, 0.5) if dim is None else torch.quantile(x, 0.5, dim=dim)


def percent(x: float, digits: int = 4) -> str:
    """``x`` in percent with ``digits`` decimals, truncated, never rounded up: a confidence
    shown as ``99.9900`` is at least 99.99 %, and ``100.0000`` is exactly 1 (rounding would
    show 0.99986 as 99.99 beside the paper's 99.99 %). No unit sign."""
    scale = 10**digits
    # A relative 1e-12 absorbs the binary error of the product (0.9999 -> 999899.9999999999)
    # and nothing a float32 confidence or a mean of two of them can hold (their spacing near
    # 1 is 6e-8): 0.99999997 stays 99.99 at 2 decimals.
    return f"{math.floor(x * 100 * scale * (1 + 1e-12)) / scale:.{digits}f}"
