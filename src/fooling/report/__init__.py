"""Reports of finished runs: figures and one self-contained HTML page.

Reads run directories only (``config.json``, ``summary.json``, ``archive.json``,
``metrics.csv``, ``images/``; for other kinds of run, such as retrain and transfer, their
``summary.json`` and top-level PNGs): never the classifier, the encoding or the search.
"""

from .html import ReportError, read_comparison, render_report, write_report
from .runs import Champion, OtherRun, RunData, find_runs, load_run, load_runs

__all__ = [
    "Champion",
    "OtherRun",
    "ReportError",
    "RunData",
    "find_runs",
    "load_run",
    "load_runs",
    "read_comparison",
    "render_report",
    "write_report",
]
