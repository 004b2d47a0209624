"""The report's figures. Each function takes data and returns a ``matplotlib.figure.Figure``;
the caller saves it (DESIGN.md rule 6). Figures are built on ``Figure`` directly, not through
``pyplot``, so no global state or GUI backend is touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

# Per-class lines stay readable up to this many classes; above it a band is drawn instead.
MAX_CLASS_LINES = 20
_WIDTH = 10.0  # inches; at 100 dpi the PNG is 1000 px wide, shown at most 100 % of the page


def literal(text: object) -> str:
    """``text`` as matplotlib should draw it, literally: ``$`` would start mathtext (and
    an unknown symbol aborts the figure), and a legend drops labels that begin with ``_``."""
    s = str(text).replace("$", r"\$")
    return " " + s if s.startswith("_") else s


def confidence_over_generations(
    generations: Sequence[np.ndarray],
    medians: Sequence[np.ndarray],
    reached: Sequence[np.ndarray],
    labels: Sequence[str],
    *,
    num_classes: int,
    threshold: float = 0.9999,
    unit: str = "generation",
    title: str = "",
) -> Figure:
    """Median champion confidence over generations, one line per run (the paper's Fig. 4),
    beside the number of classes at or above ``threshold``.

    Where two or more runs share one generation axis, their median across runs is drawn
    as a thick black line on both panels.

    Args:
        generations: per run, ``(G_r,)`` the generation (or step) of each row.
        medians: per run, ``(G_r,)`` the median champion confidence in [0, 1].
        reached: per run, ``(G_r,)`` classes whose champion is at or above ``threshold``.
        labels: per run, the legend entry.
        num_classes: classes per run (the right panel's top).
        threshold: the confidence of the right panel.
        unit: the x axis's unit, ``"generation"`` or ``"step"``.
        title: the figure's title.

    Returns:
        The figure, two panels side by side.
    """
    fig = Figure(figsize=(_WIDTH, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    many = len(medians) > 8  # a legend for many runs hides the lines
    alpha = 0.5 if len(medians) > 1 else 1.0
    for x, m, n, label in zip(generations, medians, reached, labels):
        left.plot(x, m, lw=1.2, alpha=alpha, label=None if many else literal(label))
        right.step(x, n, where="post", lw=1.2, alpha=alpha)
    same_axis = len(generations) > 1 and all(
        len(x) == len(generations[0]) and np.array_equal(x, generations[0]) for x in generations
    )
    if same_axis:
        x = generations[0]
        left.plot(x, np.median(np.stack(medians), axis=0), "k", lw=2.4, label="median of runs")
        right.step(x, np.median(np.stack(reached), axis=0), "k", where="post", lw=2.4)
    left.axhline(threshold, color="0.4", ls="--", lw=0.8)
    left.set_ylim(0, 1.02)
    left.yaxis.set_major_formatter(PercentFormatter(1.0))
    left.set_xlabel(unit)
    left.set_ylabel("median champion confidence")
    right.set_ylim(0, num_classes * 1.04 + 0.1)
    right.set_xlabel(unit)
    right.set_ylabel(f"classes ≥ {100 * threshold:g} %")
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (left, right):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, lw=0.4, alpha=0.5)
    if left.get_legend_handles_labels()[0]:
        left.legend(fontsize=7, loc="lower right")
    if title:
        fig.suptitle(literal(title), fontsize=11)
    return fig


def per_class_confidence(
    generation: np.ndarray,
    confidence: np.ndarray,
    final: np.ndarray,
    classes: np.ndarray,
    labels: Sequence[str],
    *,
    threshold: float = 0.9999,
    unit: str = "generation",
    title: str = "",
    max_lines: int = MAX_CLASS_LINES,
) -> Figure:
    """One run's champions class by class: confidence over generations (one line per class
    up to ``max_lines`` classes, else the min–max and quartile bands around the median), and
    the final confidence of every class (the paper's Fig. 6).

    Args:
        generation: ``(G,)`` the generation (or step) of each row.
        confidence: ``(G, K)`` each class's champion confidence after each row (NaN: unknown).
        final: ``(K,)`` each class's final champion confidence.
        classes: ``(K,)`` the class indices (the right panel's x axis).
        labels: ``(K,)`` the class names.
        threshold: drawn as a dashed line.
        unit: the x axis's unit of the left panel.
        title: the figure's title.
        max_lines: most classes drawn as separate lines.

    Returns:
        The figure, two panels side by side.
    """
    fig = Figure(figsize=(_WIDTH, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    k = confidence.shape[1]
    if np.isnan(confidence).all():
        left.text(0.5, 0.5, "no per-class columns in metrics.csv", ha="center", va="center")
    elif k <= max_lines:
        for j in range(k):
            left.plot(generation, confidence[:, j], lw=1.1, label=literal(str(labels[j])[:16]))
        # beside the panel, not over the lines
        left.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    else:
        lo, q1, med, q3, hi = np.nanpercentile(confidence, [0, 25, 50, 75, 100], axis=1)
        left.fill_between(generation, lo, hi, color="C0", alpha=0.15, lw=0, label="min–max")
        left.fill_between(generation, q1, q3, color="C0", alpha=0.35, lw=0, label="quartiles")
        left.plot(generation, med, color="C0", lw=1.6, label="median")
        left.legend(fontsize=7, loc="lower right")
    left.set_xlabel(unit)
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_ylabel("champion confidence")
    colours = np.where(final >= threshold, "C2", "C0")
    if k <= 60:
        right.bar(np.arange(k), final, color=colours, width=0.8)
        step = max(1, k // 20)
        right.set_xticks(np.arange(k)[::step], [str(c) for c in classes[::step]], fontsize=7)
        right.set_xlabel("class")
    else:  # many classes: index on x as the paper's Fig. 6; thin bars touch
        right.bar(classes, final, color=colours, width=1.0)
        right.set_xlabel("class index")
    right.set_ylabel("final champion confidence")
    for ax in (left, right):
        ax.set_ylim(0, 1.02)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.axhline(threshold, color="0.4", ls="--", lw=0.8)
        ax.grid(True, axis="y", lw=0.4, alpha=0.5)
    if title:
        fig.suptitle(literal(title), fontsize=11)
    return fig
