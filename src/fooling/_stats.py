"""The one median the project reports (``torch.median`` returns the lower of the two middle
values of an even count; the paper's and every report's median is their mean)."""

from __future__ import annotations

import torch


def median(x: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """The median of ``x`` (over ``dim``, else all of it), the mean of the two middle values
    for an even count; float64."""
    x = x.detach().to(torch.float64)
    return torch.quantile(x, 0.5) if dim is None else torch.quantile(x, 0.5, dim=dim)
