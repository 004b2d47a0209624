"""The HTML report: one self-contained page (figures and champion images embedded as base64
``data:`` URIs, no script, no network) built from run directories only.

Sections, each an element with a stable id: ``summary``, ``across-runs``, ``comparison``
(only where comparison rows are given), ``other-runs`` (only where retrain, transfer or other
kinds of run are given), ``confidence``, ``thresholds``, ``champions``, ``config``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from .. import __version__, _io
from .._stats import percent
from ..errors import FoolingError
from . import figures
from .runs import Champion, OtherRun, RunData, load_runs

GENERATOR = "fooling report"
MAX_IMAGES = 100  # champions shown per run; the most confident where a run has more
MAX_CLASS_ROWS = 30  # threshold tables list classes one by one up to this many
MAX_RUN_FIGURES = 12  # runs that get a per-class figure
TILE = 112  # champion side on the page in CSS px (as grid.png's tiles)
SECTIONS = {
    "summary": "Runs",
    "across-runs": "Across runs",
    "comparison": "Comparison with the paper",
    "other-runs": "Other runs",
    "confidence": "Confidence over generations",
    "thresholds": "Thresholds",
    "champions": "Champions",
    "config": "Configs",
}


class ReportError(FoolingError):
    """The report cannot be written, or its comparison rows are malformed."""


class _Raw(str):
    """HTML that is inserted as it is (everything else is escaped)."""


def write_report(
    runs: Sequence[str | Path] | str | Path,
    out: str | Path,
    *,
    title: str | None = None,
    comparison: Sequence[Mapping[str, Any]] | None = None,
    max_images: int = MAX_IMAGES,
) -> Path:
    """Write the HTML report of ``runs`` to ``out`` (atomically).

    Args:
        runs: run directories, or folders holding run directories (``find_runs``). Evolve
            and ascent runs get every section; other kinds (retrain, transfer) are shown
            under "Other runs" by their summary's tables and their own figures.
        out: the HTML file to write. An existing fooling report there is replaced; any other
            existing file is left alone.
        title: the page's title (default: from the runs).
        comparison: rows of a "this run vs. the paper" table, e.g. ``{"experiment": ...,
            "quantity": ..., "ours": ..., "paper": ...}``; columns in the first row's key
            order, then keys first seen in later rows.
        max_images: most champion images shown per run.

    Returns:
        ``out`` as a ``Path``.

    Raises:
        RunDirError: a run directory is missing, unfinished or malformed.
        ReportError: ``out`` cannot be written, or ``comparison`` is not a list of objects.
    """
    out = Path(out)
    if max_images < 1:
        raise ReportError(f"max_images must be at least 1, got {max_images}")
    data, others = load_runs(runs)
    rows = _check_comparison(comparison) if comparison is not None else None
    _check_out(out)
    page = render_report(data, others=others, title=title, comparison=rows, max_images=max_images)
    try:
        _io.write_text(out, page)
    except OSError as e:
        raise ReportError(f"cannot write report {out}: {e.strerror or e}") from None
    return out


def read_comparison(path: str | Path) -> list[dict[str, Any]]:
    """Read comparison rows from a JSON file: a list of objects, or ``{"rows": [...]}``.

    Raises:
        ReportError: the file is missing, is not JSON, or holds no list of objects.
    """
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"comparison file {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"cannot read comparison file {path}: {e}") from None
    if isinstance(obj, dict) and "rows" in obj:
        obj = obj["rows"]
    return _check_comparison(obj, where=str(path))


def render_report(
    runs: Sequence[RunData],
    *,
    others: Sequence[OtherRun] = (),
    title: str | None = None,
    comparison: Sequence[Mapping[str, Any]] | None = None,
    max_images: int = MAX_IMAGES,
) -> str:
    """The report page of loaded runs (``load_runs``), as one HTML string; ``runs`` are
    the evolve and ascent runs, ``others`` the rest; other arguments as ``write_report``'s."""
    if not runs and not others:
        raise ReportError("a report needs at least one run")
    n = len(runs) + len(others)
    if title is None:
        first = runs[0].name if runs else others[0].path.name
        title = f"fooling report: {first}" if n == 1 else f"fooling report: {n} runs"
    groups = _groups(runs)
    none = "<p>No evolve or ascent runs here.</p>"
    sections = [
        _section("summary", _summary(runs) if runs else none),
        _section("across-runs", _across_runs(groups)),
    ]
    if comparison is not None:
        sections.append(_section("comparison", _comparison(comparison)))
    if others:
        sections.append(_section("other-runs", _other_runs(others)))
    sections += [
        _section("confidence", _confidence(groups, runs) if runs else none),
        _section("thresholds", _thresholds(runs) if runs else none),
        _section("champions", _champions(runs, max_images) if runs else none),
        _section("config", _configs([*runs, *others])),
    ]
    optional = {"comparison": comparison is not None, "other-runs": bool(others)}
    present = [s for s in SECTIONS if optional.get(s, True)]
    nav = " · ".join(f'<a href="#{s}">{html.escape(SECTIONS[s])}</a>' for s in present)
    settings = len(groups)
    meta = f"{len(runs)} evolve or ascent run{'s' if len(runs) != 1 else ''} in {settings} "
    meta += f"setting{'s' if settings != 1 else ''}"
    if others:
        kinds = ", ".join(sorted({o.kind for o in others}))
        meta += f", {len(others)} other run{'s' if len(others) != 1 else ''} ({kinds})"
    meta = html.escape(meta) + (
        f" · written by fooling {html.escape(__version__)} from the run directories alone"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="generator" content="{GENERATOR} {html.escape(__version__)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f'<header><h1>{html.escape(title)}</h1>\n<p class="meta">{meta}</p>\n'
        f"<nav>{nav}</nav></header>\n<main>\n" + "\n".join(sections) + "\n</main>\n</body>\n"
        "</html>\n"
    )


# -- sections ------------------------------------------------------------------------------


def _summary(runs: Sequence[RunData]) -> str:
    keys = _threshold_keys(runs)
    top = keys[-1] if keys else None
    header = ["run", "kind", "model", "encoding / search", "seed", "generations", "classes"]
    header += ["median"] + [f"≥ {_pct_label(k)}" for k in keys]
    header += [f"all ≥ {_pct_label(top)} at" if top else "all classes at"]
    rows = []
    for r in runs:
        counts = r.summary.get("classes_at_or_above", {})
        reached = r.summary.get("generation_all_classes_reached", {})
        row: list[Any] = [
            _Raw(f"<code>{html.escape(str(r.path))}</code>"),
            r.kind,
            r.model,
            r.encoding,
            r.seed,
            r.length_text,
            r.num_classes,
            _cell(_pct(r.summary["median"]), "median", r.summary["median"]),
        ]
        for k in keys:
            n = counts.get(k)
            row.append(_cell("—" if n is None else f"{n} / {r.num_classes}", f"n-ge-{k}", n))
        g = reached.get(top) if top else None
        row.append(_cell(_at(g, r.unit), "all-reached", g))
        rows.append(row)
    note = (
        "<p>Median: the median over classes of the final champions' confidence. "
        "Counts: classes whose champion is at or above the confidence. Last column: the "
        "generation (ascent: step) at which every class had reached it.</p>"
    )
    return note + _table(header, rows, cls="summary")


def _across_runs(groups: Sequence[list[RunData]]) -> str:
    multi = [g for g in groups if len(g) >= 2]
    if not multi:
        return (
            "<p>No setting has two or more runs here; medians across runs need several runs "
            "of one setting (same config apart from the seed).</p>"
        )
    keys = _threshold_keys([r for g in multi for r in g])
    top = keys[-1] if keys else None
    header = ["setting", "runs", "seeds", "median", "range of medians"]
    header += [f"≥ {_pct_label(k)}" for k in keys]
    if top:
        units = sorted({g[0].unit for g in multi})
        header += [
            f"runs all ≥ {_pct_label(top)}",
            f"median {' / '.join(units)} all ≥ {_pct_label(top)}",
        ]
    rows = []
    for g in multi:
        medians = [r.summary["median"] for r in g]
        mm = statistics.median(medians)
        row: list[Any] = [
            g[0].setting_label(),
            len(g),
            ", ".join(str(r.seed) for r in g),
            _cell(_pct(mm), "median-of-medians", mm),
            _Raw(f'<td class="num">{_pct(min(medians))} – {_pct(max(medians))}</td>'),
        ]
        for k in keys:
            counts = [r.summary.get("classes_at_or_above", {}).get(k) for r in g]
            if any(c is None for c in counts):
                row.append("—")
            else:
                mc = statistics.median(counts)
                row.append(_cell(f"{mc:g} / {g[0].num_classes}", f"median-n-ge-{k}", mc))
        if top:
            reached = [r.summary.get("generation_all_classes_reached", {}).get(top) for r in g]
            done = sum(x is not None for x in reached)
            row.append(f"{done} / {len(g)}")
            # A run that never got there counts as later than every run that did.
            med = statistics.median([math.inf if x is None else x for x in reached])
            row.append(_cell("not reached" if math.isinf(med) else f"{med:g}", "median-all", med))
        rows.append(row)
    note = (
        "<p>Runs of one setting: the same resolved config apart from the seed (and the "
        "device and evaluation batching). Every number is a median over the setting's runs "
        "of their final values: the median champion confidence, and the classes at or above "
        "each confidence. In the last column a run that never got every class past the top "
        "threshold counts as later than any that did.</p>"
    )
    return note + _table(header, rows, cls="across")


def _comparison(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "<p>No comparison rows were given.</p>"
    header: list[str] = []
    for row in rows:
        header += [str(k) for k in row if str(k) not in header]
    body = [[_text(row.get(k, "")) for k in header] for row in rows]
    return _table(header, body, cls="comparison")


def _confidence(groups: Sequence[list[RunData]], runs: Sequence[RunData]) -> str:
    parts = [
        "<p>Left: the median confidence of the class champions after each generation (ascent: "
        "step), one line per run, the median across runs in black. Right: how many classes "
        "have a champion at or above the top threshold (dashed).</p>"
    ]
    for g in groups:
        t = max(g[0].thresholds)
        fig = figures.confidence_over_generations(
            [r.generation for r in g],
            [r.median for r in g],
            [r.counts[:, -1] for r in g],  # thresholds ascend: the last is the top
            [f"{r.name} (seed {r.seed})" for r in g],
            num_classes=g[0].num_classes,
            threshold=t,
            unit=g[0].unit,
            title=g[0].setting_label(),
        )
        parts.append(_figure(fig, f"median champion confidence: {g[0].setting_label()}"))
    parts.append("<h3>Class by class</h3>")
    parts.append(
        f"<p>Left: each class's champion over generations (more than "
        f"{figures.MAX_CLASS_LINES} classes: median with quartile and min–max bands). Right: "
        "the final confidence of every class (as the paper's Fig. 6); green bars are at or "
        "above the top threshold.</p>"
    )
    for r in runs[:MAX_RUN_FIGURES]:
        t = max(r.thresholds)
        fig = figures.per_class_confidence(
            r.generation,
            r.confidence,
            np.array([c.confidence for c in r.champions]),
            np.array([c.index for c in r.champions]),
            [c.label for c in r.champions],
            threshold=t,
            unit=r.unit,
            title=f"{r.path} · {r.setting_label()} · seed {r.seed}",
        )
        parts.append(_figure(fig, f"per-class confidence: {r.path}"))
    if len(runs) > MAX_RUN_FIGURES:
        parts.append(
            f'<p class="note">Per-class figures of the first {MAX_RUN_FIGURES} of '
            f"{len(runs)} runs are shown.</p>"
        )
    return "\n".join(parts)


def _thresholds(runs: Sequence[RunData]) -> str:
    parts = [
        "<p>The first generation (ascent: step) at which each class's champion reached each "
        "confidence; — where it never did. Runs with more than "
        f"{MAX_CLASS_ROWS} classes are summarised per threshold.</p>"
    ]
    for r in runs:
        keys = [r.threshold_key(t) for t in r.thresholds]
        top = max(r.thresholds)
        parts.append(f"<h3><code>{html.escape(str(r.path))}</code></h3>")
        if r.num_classes <= MAX_CLASS_ROWS:
            header = ["class", "label", "final confidence", f"found at {r.unit}"]
            header += [f"first ≥ {_pct_label(k)}" for k in keys]
            rows = [
                [c.index, c.label, _conf_cell(c.confidence, top), c.generation]
                + [_dash(c.first_generation.get(k)) for k in keys]
                for c in r.champions
            ]
            parts.append(_table(header, rows, cls="thresholds"))
        else:
            header = ["threshold", "classes reached", f"first {r.unit}", f"median {r.unit}"]
            header += [f"{r.unit} all reached"]
            rows = []
            for k in keys:
                firsts = [c.first_generation.get(k) for c in r.champions]
                got = sorted(x for x in firsts if x is not None)
                rows.append(
                    [
                        f"≥ {_pct_label(k)}",
                        f"{len(got)} / {r.num_classes}",
                        _dash(got[0] if got else None),
                        _Raw(f'<td class="num">{statistics.median(got):g}</td>')
                        if got
                        else _dash(None),
                        _dash(got[-1] if len(got) == r.num_classes else None),
                    ]
                )
            parts.append(_table(header, rows, cls="thresholds"))
    return "\n".join(parts)


def _champions(runs: Sequence[RunData], max_images: int) -> str:
    parts = [
        "<p>Each class's champion with its label and confidence (as the paper's Fig. 1, 4 "
        f"and 5). Images above {TILE} px are shown reduced; the exact 8-bit images are in "
        "each run's <code>images/</code>.</p>"
    ]
    for r in runs:
        shown = list(r.champions)
        note = ""
        if len(shown) > max_images:
            best = sorted(shown, key=lambda c: -c.confidence)[:max_images]
            shown = sorted(best, key=lambda c: c.index)
            note = (
                f'<p class="note">The {max_images} most confident of {len(r.champions)} '
                f"champions are shown; all are in <code>{html.escape(str(r.path))}/images/"
                "</code>.</p>"
            )
        tiles = [_tile(c, max(r.thresholds)) for c in shown]
        parts.append(
            f"<h3><code>{html.escape(str(r.path))}</code> · {html.escape(r.setting_label())} · "
            f"seed {html.escape(str(r.seed))}</h3>{note}\n"
            f'<div class="grid">{"".join(tiles)}</div>'
        )
    return "\n".join(parts)


def _other_runs(others: Sequence[OtherRun]) -> str:
    parts = [
        "<p>Runs of other kinds: their <code>summary.json</code> (numbers, then each list of "
        "rows as a table) and the figures they drew themselves.</p>"
    ]
    for o in others:
        parts.append(f"<h3><code>{html.escape(str(o.path))}</code> · {html.escape(o.kind)}</h3>")
        scalars = [[k, _fmt(v)] for k, v in o.summary.items() if not _is_rows(v)]
        if scalars:
            parts.append(_table(["summary", "value"], scalars, cls="other"))
        for key, value in o.summary.items():
            if _is_rows(value):
                header: list[str] = []
                for row in value:
                    header += [str(k) for k in row if str(k) not in header]
                rows = [[_fmt(row.get(k)) for k in header] for row in value]
                parts.append(f"<h4>{html.escape(str(key))}</h4>")
                parts.append(_table(header, rows, cls="other"))
        for png in o.figures:
            parts.append(
                f'<figure class="plot"><img src="{_data_uri(png.read_bytes())}" '
                f'alt="{html.escape(png.name)}"><figcaption>{html.escape(png.name)}'
                "</figcaption></figure>"
            )
    return "\n".join(parts)


def _is_rows(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _fmt(value: Any) -> str | int:
    """A summary value for a table cell: numbers kept (right-aligned), short JSON for the
    rest, long lists shortened."""
    if value is None:
        return "—"
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return _Raw(f'<td class="num">{value:.6g}</td>')
    if isinstance(value, int):
        return value
    text = json.dumps(value)
    if isinstance(value, list) and len(text) > 200:
        return f"{len(value)} values"
    return text if len(text) <= 200 else text[:199] + "…"


def _configs(runs: Sequence[RunData | OtherRun]) -> str:
    parts = []
    for r in runs:
        text = json.dumps(r.config, indent=2)
        parts.append(
            f"<details><summary><code>{html.escape(str(r.path))}</code> · "
            f"{html.escape(r.kind)} · config.json</summary>"
            f"<pre>{html.escape(text)}</pre></details>"
        )
    return "\n".join(parts)


# -- pieces --------------------------------------------------------------------------------


def _section(ident: str, body: str) -> str:
    return f'<section id="{ident}">\n<h2>{html.escape(SECTIONS[ident])}</h2>\n{body}\n</section>'


def _groups(runs: Sequence[RunData]) -> list[list[RunData]]:
    """Runs by setting, in order of first appearance."""
    groups: dict[str, list[RunData]] = {}
    for r in runs:
        groups.setdefault(r.setting(), []).append(r)
    return list(groups.values())


def _threshold_keys(runs: Sequence[RunData]) -> list[str]:
    ts = sorted({t for r in runs for t in r.thresholds})
    return [f"{t:g}" for t in ts]


def _pct(x: float) -> str:
    """A confidence in percent to 4 decimals, ``99.9953 %``, truncated (``percent``)."""
    return f"{percent(x)} %"


def _pct_label(key: str) -> str:
    return f"{100 * float(key):g} %"


def _at(g: int | None, unit: str) -> str:
    return "not reached" if g is None else f"{unit} {g}"


def _dash(x: int | None) -> int | _Raw:
    """A generation, or a dash (right-aligned as the numbers) where there is none."""
    return _Raw('<td class="num">—</td>') if x is None else x


def _conf_cell(confidence: float, top: float) -> _Raw:
    hit = ' class="num hit"' if confidence >= top else ' class="num"'
    return _Raw(f"<td{hit}>{html.escape(_pct(confidence))}</td>")


def _text(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, (dict, list)):
        return json.dumps(x)
    return str(x)


def _cell(text: str, name: str, value: Any) -> _Raw:
    """A table cell with a class naming the quantity and its exact value (for readers and
    tests that check the numbers)."""
    v = "" if value is None else repr(value)
    return _Raw(
        f'<td class="{html.escape(name)}" data-value="{html.escape(v)}">{html.escape(text)}</td>'
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, cls: str) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = []
    for row in rows:
        cells: list[str] = []
        for x in row:
            if isinstance(x, _Raw) and x.startswith("<td"):
                cells.append(x)
            elif isinstance(x, _Raw):
                cells.append(f"<td>{x}</td>")
            else:
                num = isinstance(x, (int, float)) and not isinstance(x, bool)
                cells.append(f"<td{' class=num' if num else ''}>{html.escape(_text(x))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<div class="scroll"><table class="{cls}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _figure(fig: Figure, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return (
        f'<figure class="plot"><img src="{_data_uri(buf.getvalue())}" '
        f'alt="{html.escape(alt)}"></figure>'
    )


def _tile(c: Champion, top: float) -> str:
    label = html.escape(c.label)
    conf = "conf hit" if c.confidence >= top else "conf"
    caption = (
        f'<figcaption><span class="label" title="class {c.index}: {label}">{label}</span>'
        f'<span class="{conf}">{html.escape(_pct(c.confidence))}</span></figcaption>'
    )
    if c.image is None:
        missing = '<div class="missing">image missing</div>'
        return f'<figure class="champion">{missing}{caption}</figure>'
    png = c.image.read_bytes()
    try:
        with Image.open(io.BytesIO(png)) as im:
            w, h = im.size
            if max(w, h) > TILE or im.format != "PNG":
                # keep the page small: a reduced copy (the exact PNG is in the run)
                scale = min(1.0, TILE / max(w, h))
                small = im.convert("RGB" if im.mode not in ("L", "RGB") else im.mode).resize(
                    (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX
                )
                buf = io.BytesIO()
                small.save(buf, format="PNG")
                png, w, h = buf.getvalue(), small.width, small.height
    except OSError:
        return (
            f'<figure class="champion"><div class="missing">unreadable image</div>{caption}'
            "</figure>"
        )
    # Small images are scaled up by whole pixels, drawn sharp (image-rendering: pixelated).
    zoom = max(1, TILE // max(w, h))
    alt = html.escape(f"class {c.index} ({c.label}): {_pct(c.confidence)}")
    return (
        f'<figure class="champion"><img src="{_data_uri(png)}" alt="{alt}" '
        f'width="{w * zoom}" height="{h * zoom}">{caption}</figure>'
    )


def _check_comparison(rows: Any, where: str = "comparison") -> list[dict[str, Any]]:
    if not isinstance(rows, (list, tuple)) or not all(isinstance(r, Mapping) for r in rows):
        raise ReportError(f"{where}: expected a list of objects (one per table row)")
    return [dict(r) for r in rows]


def _check_out(out: Path) -> None:
    """Refuse to replace anything at ``out`` but an earlier fooling report."""
    if out.is_dir():
        raise ReportError(f"cannot write report {out}: it is a directory")
    if out.exists():
        try:
            with open(out, "rb") as f:
                head = f.read(2048)
        except OSError as e:
            raise ReportError(f"cannot write report {out}: {e.strerror or e}") from None
        if f'name="generator" content="{GENERATOR}'.encode() not in head:
            raise ReportError(
                f"refusing to overwrite {out}: it is not a fooling report (choose another --out)"
            )


_CSS = """
:root { --fg: #1b1b1b; --muted: #5f6368; --line: #d9dce0; --head: #f3f4f6; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
  sans-serif; color: var(--fg); background: #fff; }
header { padding: 18px 32px 10px; border-bottom: 1px solid var(--line); background: #fafafa; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid
  var(--line); }
h3 { font-size: 14px; margin: 20px 0 6px; font-weight: 600; }
.meta, .note { color: var(--muted); }
nav a { margin-right: 2px; color: #1a5fb4; text-decoration: none; }
nav a:hover { text-decoration: underline; }
main { padding: 0 32px 40px; max-width: 1400px; }
p { max-width: 80em; }
code { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0 10px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align:
  top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
table.across td:first-child { min-width: 16em; }
td.num, td[data-value] { text-align: right; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fbfbfc; }
figure { margin: 0; }
figure.plot img { max-width: 100%; height: auto; display: block; margin: 8px 0 16px; }
.grid { display: flex; flex-wrap: wrap; gap: 10px 8px; margin: 6px 0 18px; }
figure.champion { width: 120px; text-align: center; }
figure.champion img { image-rendering: pixelated; display: block; margin: 0 auto;
  border: 1px solid var(--line); background: #fff; }
figcaption { font-size: 12px; line-height: 1.25; margin-top: 3px; }
figcaption .label { display: block; overflow: hidden; text-overflow: ellipsis; white-space:
  nowrap; font-weight: 600; }
figcaption .conf { display: block; color: var(--muted); font-variant-numeric: tabular-nums; }
figcaption .conf.hit, td.hit { color: #137333; font-weight: 600; }
.missing { width: 112px; height: 112px; margin: 0 auto; display: flex; align-items: center;
  justify-content: center; border: 1px dashed var(--line); color: var(--muted); font-size: 12px; }
details { margin: 6px 0; }
summary { cursor: pointer; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 8px 12px; overflow-x: auto;
  font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; max-height: 32em; }
"""
