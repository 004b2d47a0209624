"""The retraining figure: what each DNN_i learned and whether it can still be fooled."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from .figures import literal


def _series(rows: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    pts = [(int(r["round"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
    return [p[0] for p in pts], [100 * p[1] for p in pts]


def retrain_figure(rows: Sequence[Mapping[str, Any]], *, title: str = "") -> Figure:
    """Three panels over the rounds (PAPER.md §6, Fig. 10/11): clean accuracy; the shares
    of earlier fooling images and of fresh random CPPN images put in the fooling class;
    the champions' median confidence and the classes at >= 99.99 % after evolving.

    Args:
        rows: one mapping per round with the keys of a retrain ``summary.json`` round.
        title: the figure's title.
    """
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    ax1, ax2, ax3 = fig.subplots(1, 3)
    x, y = _series(rows, "clean_accuracy")
    ax1.plot(x, y, "o-", color="tab:blue")
    ax1.set_title("clean accuracy of DNN$_i$")
    x, y = _series(rows, "share_previous_fooling_in_fooling_class")
    ax2.plot(x, y, "o-", label="earlier rounds' fooling images")
    x, y = _series(rows, "share_random_cppn_in_fooling_class")
    ax2.plot(x, y, "s--", label="fresh random CPPN images")
    ax2.set_ylim(-2, 102)
    ax2.set_title('share put in the "fooling" class')
    ax2.legend(fontsize=8)
    x, y = _series(rows, "median_confidence")
    ax3.plot(x, y, "o-", color="tab:red", label="median champion confidence")
    ax3.set_ylim(-2, 102)
    ax3.set_title("evolved against DNN$_i$")
    twin = ax3.twinx()
    pts = [(int(r["round"]), float(r["classes_ge_99_99_median_over_runs"])) for r in rows]
    twin.plot([p[0] for p in pts], [p[1] for p in pts], "^:", color="tab:green",
              label="classes ≥ 99.99 % (median run)")  # fmt: skip
    twin.set_ylim(bottom=0)
    twin.set_ylabel("classes")
    twin.yaxis.set_major_locator(MaxNLocator(integer=True))
    lines = ax3.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax3.legend(lines, [ln.get_label() for ln in lines], fontsize=8, loc="lower left")
    for ax in (ax1, ax2, ax3):
        ax.set_xlabel("round i")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(PercentFormatter())
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(literal(title))
    return fig
