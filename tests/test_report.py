"""`fooling report`: the HTML page built from run directories alone."""

from __future__ import annotations

import ast
import base64
import json
import shutil
import statistics
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import fooling
from fooling.cli import main
from fooling.errors import RunDirError
from fooling.report import ReportError, find_runs, load_run, write_report

SECTIONS = ("summary", "across-runs", "confidence", "thresholds", "champions", "config")
SEEDS = (0, 1, 2)


class Page(HTMLParser):
    """Tags, ids, <img> sources and table cells (with their class and text) of a page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.open: list[str] = []
        self.ids: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.cells: list[tuple[str | None, str | None, str]] = []  # (class, data-value, text)
        self._cell: list | None = None
        self.section: str | None = None
        self.sections_of_imgs: list[str | None] = []
        self.sections_of_cells: list[str | None] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag not in ("img", "meta", "br", "hr", "link", "input"):
            self.open.append(tag)
        if a.get("id"):
            self.ids.append(a["id"])
        if tag == "section":
            self.section = a.get("id")
        if tag == "img":
            self.imgs.append(a)
            self.sections_of_imgs.append(self.section)
        if tag == "td":
            self._cell = [a.get("class"), a.get("data-value"), ""]

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes <{self.open[-1:]}>"
        self.open.pop()
        if tag == "td":
            self.cells.append(tuple(self._cell))
            self.sections_of_cells.append(self.section)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[2] += data

    def cell(self, name: str) -> list[str]:
        return [text for cls, _, text in self.cells if cls == name]

    def texts_in(self, section: str) -> list[str]:
        """The text of every table cell in the section with id ``section``, in order."""
        return [c[2] for c, s in zip(self.cells, self.sections_of_cells) if s == section]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Three tiny evolve runs of one setting, one of another, and one tiny ascent run."""
    root = tmp_path_factory.mktemp("report") / "runs"
    out = {}
    for s in SEEDS:
        out[f"e{s}"] = root / f"evolve-s{s}"
        fooling.evolve(
            fooling.EvolveConfig(generations=3, seed=s, batch_size=20, init_size=20),
            out[f"e{s}"],
        )
    out["other"] = root / "evolve-4gen"
    fooling.evolve(
        fooling.EvolveConfig(generations=4, seed=0, batch_size=20, init_size=20, classes=(3, 7)),
        out["other"],
    )
    out["ascent"] = root / "ascent"
    fooling.ascent(fooling.AscentConfig.from_preset("hp-1", classes=(0, 1), steps=5), out["ascent"])
    return out


@pytest.fixture(scope="module")
def page(runs, tmp_path_factory) -> tuple[Path, str, Page]:
    html_path = tmp_path_factory.mktemp("html") / "report.html"
    comparison = [
        {"experiment": "MNIST direct", "quantity": "median", "ours": "0.2 %", "paper": "99.99 %"},
        {"experiment": "ImageNet CPPN", "quantity": "median", "ours": "—", "note": "<not run>"},
    ]
    order = [runs[k] for k in ("e0", "e1", "e2", "other", "ascent")]
    assert write_report(order, html_path, title="Tiny & runs", comparison=comparison) == html_path
    text = html_path.read_text()
    return html_path, text, Page(text)


def summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text())


def shown(text: str, value: float) -> bool:
    """``text`` is ``value`` in percent to 4 decimals, truncated (never rounded up)."""
    number, unit = text.split(" ")
    return (
        unit == "%"
        and len(number.split(".")[1]) == 4
        and 0 <= 100 * value - float(number) < 1e-4 + 1e-9
    )


def test_every_section_is_present_and_tags_balance(page):
    _, text, p = page
    assert text.startswith("<!DOCTYPE html>")
    for ident in (*SECTIONS, "comparison"):
        assert p.ids.count(ident) == 1, ident
    assert not p.open  # every element closed (the parser checks the nesting)
    assert "<title>Tiny &amp; runs</title>" in text
    assert "http://" not in text and "https://" not in text  # nothing fetched when opened


def test_every_image_is_an_embedded_png_or_an_existing_file(page):
    html_path, _, p = page
    assert p.imgs
    for img in p.imgs:
        src = img["src"]
        assert src and img.get("alt")
        if src.startswith("data:"):
            head, _, data = src.partition(",")
            assert head == "data:image/png;base64"
            assert base64.b64decode(data, validate=True).startswith(b"\x89PNG\r\n\x1a\n")
        else:
            assert "://" not in src and (html_path.parent / src).is_file(), src


def test_champion_grid_shows_every_champion_with_label_and_confidence(page, runs):
    _, text, p = page
    champion_imgs = [i for i, s in zip(p.imgs, p.sections_of_imgs) if s == "champions"]
    archives = [
        json.loads((runs[k] / "archive.json").read_text())["classes"]
        for k in ("e0", "e1", "e2", "other", "ascent")
    ]
    assert len(champion_imgs) == sum(len(a) for a in archives)
    first = archives[0][0]
    head = f"class {first['class']} ({first['label']}): "
    assert champion_imgs[0]["alt"].startswith(head)
    assert shown(champion_imgs[0]["alt"][len(head) :], first["confidence"])
    # the embedded bytes are the run's own PNG (28x28 images are not re-encoded)
    png = (runs["e0"] / first["image"]).read_bytes()
    assert champion_imgs[0]["src"] == "data:image/png;base64," + base64.b64encode(png).decode()
    assert "image-rendering: pixelated" in text


@pytest.mark.parametrize(
    "value, text",
    [
        (0.9999, "99.9900 %"),
        (0.99989999, "99.9899 %"),
        (0.99999999, "99.9999 %"),
        (1.0, "100.0000 %"),
        (0.5, "50.0000 %"),
    ],
)
def test_confidences_are_truncated_never_rounded_up(value, text):
    from fooling.report.html import _pct

    assert _pct(value) == text


@pytest.mark.parametrize(
    "value, digits, text",
    [
        (0.99986, 2, "99.98"),  # not "99.99" beside the paper's 99.99 %
        (0.99999997, 2, "99.99"),
        (0.9999995, 0, "99"),
        (0.29, 2, "29.00"),  # 0.29 * 100 = 28.999999999999996
        (0.9999, 4, "99.9900"),
        (1.0, 2, "100.00"),
    ],
)
def test_every_percentage_the_tool_writes_is_truncated(value, digits, text):
    from fooling._stats import percent

    assert percent(value, digits) == text


def test_png_names_and_the_cli_never_round_a_confidence_up():
    from fooling.cli import _pct
    from fooling.experiments.reproduce import _pct as compared
    from fooling.rundir import image_name

    assert image_name(3, "three", 0.99995) == "3_three_99.9950.png"
    assert image_name(3, "three", 0.999999996) == "3_three_99.9999.png"
    assert _pct(0.99986) == "99.98%" and compared(0.99986) == "99.98 %"
    assert compared(0.995, 0) == "99 %"


def test_summary_numbers_equal_the_runs_summary_json(page, runs):
    _, _, p = page
    order = [runs[k] for k in ("e0", "e1", "e2", "other", "ascent")]
    sums = [summary(r) for r in order]
    medians = p.cell("median")
    assert len(medians) == len(sums)
    assert all(shown(text, s["median"]) for text, s in zip(medians, sums)), medians
    assert p.cell("n-ge-0.9999")[: len(sums)] == [
        f"{s['classes_at_or_above']['0.9999']} / {s['num_classes']}" for s in sums
    ]
    reached = [s["generation_all_classes_reached"]["0.9999"] for s in sums]
    want = [
        "not reached" if g is None else f"{'step' if s['kind'] == 'ascent' else 'generation'} {g}"
        for g, s in zip(reached, sums)
    ]
    assert p.cell("all-reached") == want


def test_across_runs_is_the_median_of_one_settings_runs(page, runs):
    _, _, p = page
    sums = [summary(runs[f"e{s}"]) for s in SEEDS]
    # only the three runs of one setting form a group: the others are alone in theirs
    (text,) = p.cell("median-of-medians")
    assert shown(text, statistics.median(s["median"] for s in sums))
    counts = statistics.median(s["classes_at_or_above"]["0.99"] for s in sums)
    assert p.cell("median-n-ge-0.99") == [f"{counts:g} / 10"]


def test_comparison_rows_render_in_the_first_rows_key_order(page):
    _, text, p = page
    section = text[text.index('<section id="comparison">') :]
    section = section[: section.index("</section>")]
    heads = [h.split("</th>")[0] for h in section.split("<th>")[1:]]
    assert heads == ["experiment", "quantity", "ours", "paper", "note"]
    cells = [text for _, _, text in Page(section.replace("</section>", "")).cells]
    assert cells == [
        *["MNIST direct", "median", "0.2 %", "99.99 %", ""],
        *["ImageNet CPPN", "median", "—", "", "<not run>"],
    ]
    assert "<td>&lt;not run&gt;</td>" in section  # text is escaped


def test_thresholds_list_first_crossings_from_archive(page, runs):
    _, text, _ = page
    section = text[text.index('<section id="thresholds">') :]
    section = section[: section.index("</section>")]
    assert section.count("<table") == 5
    assert str(runs["ascent"]) in section and "found at step" in section


def test_many_classes_are_summarised_and_capped(runs, tmp_path):
    """A 30+ class run (as an ImageNet run of 1000) gets a threshold summary, a band figure
    and at most ``max_images`` champions."""
    run = tmp_path / "wide"
    shutil.copytree(runs["e0"], run)
    archive = json.loads((run / "archive.json").read_text())
    k = len(archive["classes"])
    archive["classes"] = [
        dict(c, **{"class": c["class"] + k * i}) for i in range(4) for c in archive["classes"]
    ]
    (run / "archive.json").write_text(json.dumps(archive))
    lines = (run / "metrics.csv").read_text().splitlines()
    head = lines[0].split(",")
    conf = [h for h in head if h.startswith("conf_")]
    extra = [f"conf_{j}" for j in range(k, 4 * k)]
    rows = [
        ",".join(r.split(",") + [r.split(",")[head.index(conf[j % k])] for j in range(k, 4 * k)])
        for r in lines[1:]
    ]
    (run / "metrics.csv").write_text("\n".join([",".join(head + extra), *rows]) + "\n")
    out = write_report([run], tmp_path / "r.html", max_images=7)
    text = out.read_text()
    p = Page(text)
    assert sum(s == "champions" for s in p.sections_of_imgs) == 7
    assert "The 7 most confident of 40 champions are shown" in text
    section = text[text.index('<section id="thresholds">') :]
    assert "classes reached" in section


def test_cli_writes_report_from_a_folder_of_runs(runs, tmp_path, capsys):
    out = tmp_path / "sub" / "report.html"
    root = runs["e0"].parent
    assert main(["report", str(root), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {out}"
    p = Page(out.read_text())
    assert set(SECTIONS) <= set(p.ids) and "comparison" not in p.ids
    assert len(p.cell("median")) == 5  # every run directory under runs/
    # a report may be written again over itself
    assert main(["report", str(runs["e0"]), "--out", str(out)]) == 0
    assert len(Page(out.read_text()).cell("median")) == 1


def test_cli_comparison_file(runs, tmp_path, capsys):
    rows = [{"quantity": "median", "ours": "1 %", "paper": "99.99 %"}]
    (tmp_path / "c.json").write_text(json.dumps(rows))
    out = tmp_path / "r.html"
    argv = ["report", str(runs["e1"]), "--out", str(out), "--comparison", str(tmp_path / "c.json")]
    assert main(argv) == 0
    assert Page(out.read_text()).texts_in("comparison") == ["median", "1 %", "99.99 %"]


def bad_comparison(t: Path) -> str:
    (t / "bad.json").write_text('{"quantity": 1}')
    return str(t / "bad.json")


def not_a_report(t: Path) -> str:
    (t / "notes.html").write_text("<p>mine</p>")
    return str(t / "notes.html")


BAD = {
    "not a run directory": (lambda t, r: [str(t)], "not a run directory"),
    "missing run": (lambda t, r: [str(t / "nope")], "not found"),
    "unfinished run": (lambda t, r: [str(unfinished(t, r))], "did not finish"),
    "missing metrics": (lambda t, r: [str(without(t, r, "metrics.csv"))], "metrics.csv"),
    "corrupt archive": (lambda t, r: [str(corrupt(t, r))], "archive.json"),
    "unfinished retrain run": (lambda t, r: [str(retrain_run(t, done=False))], "did not finish"),
    "out is a directory": (lambda t, r: [str(r), "--out-dir"], "is a directory"),
    "out is another file": (lambda t, r: [str(r), "--out", not_a_report(t)], "refusing"),
    "bad comparison": (lambda t, r: [str(r), "--comparison", bad_comparison(t)], "list of"),
    "NaN median": (lambda t, r: [str(edited(t, r, "summary.json", "median", float("nan")))],
                   "not a probability"),
    "infinite confidence": (
        lambda t, r: [str(edited(t, r, "archive.json", "confidence", float("inf")))],
        "not a probability",
    ),
}  # fmt: skip


def edited(t: Path, run: Path, name: str, key: str, value: float) -> Path:
    """A copy of ``run`` whose ``name`` holds ``value`` at ``key`` (in archive.json: the
    first class's), written as Python writes JSON (NaN, Infinity)."""
    copy = t / f"edited-{name}"
    shutil.copytree(run, copy)
    doc = json.loads((copy / name).read_text())
    (doc["classes"][0] if name == "archive.json" else doc)[key] = value
    (copy / name).write_text(json.dumps(doc))
    return copy


def retrain_run(t: Path, done: bool = True) -> Path:
    """A run of another kind, as ``fooling retrain`` leaves it: a summary with a list of
    rows, and a figure it drew itself."""
    from PIL import Image

    run = t / "retrain"
    run.mkdir()
    (run / "config.json").write_text('{"kind": "retrain"}')
    if done:
        rounds = [
            {"round": 1, "clean_accuracy": 0.9907, "median_confidence": 0.99995},
            {"round": 2, "clean_accuracy": 0.9911, "median_confidence": None},
        ]
        summary = {"kind": "retrain", "model": "lenet-mnist", "rounds": rounds, "seconds": 2.5}
        (run / "summary.json").write_text(json.dumps(summary))
        Image.new("RGB", (40, 20), "red").save(run / "rounds.png")
    return run


def unfinished(t: Path, run: Path) -> Path:
    return without(t, run, "summary.json")


def without(t: Path, run: Path, name: str) -> Path:
    copy = t / f"copy-{name}"
    shutil.copytree(run, copy)
    (copy / name).unlink()
    return copy


def corrupt(t: Path, run: Path) -> Path:
    copy = t / "corrupt"
    shutil.copytree(run, copy)
    (copy / "archive.json").write_text('{"thresholds": [0.99], "classes": [{"label": "x"}]}')
    return copy


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(case, runs, tmp_path, capsys):
    make, words = BAD[case]
    argv = make(tmp_path, runs["e0"])
    if argv[-1] == "--out-dir":
        argv = [argv[0], "--out", str(tmp_path)]
    elif "--out" not in argv:
        argv += ["--out", str(tmp_path / "r.html")]
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["report", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fooling: error: ") and words in err, err
    assert not (tmp_path / "r.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing left behind


def test_load_run_reads_both_kinds(runs):
    e = load_run(runs["e0"])
    assert e.kind == "evolve" and e.unit == "generation" and e.num_classes == 10
    assert e.confidence.shape == (4, 10) and e.counts.shape == (4, 3)
    assert e.median[-1] == pytest.approx(summary(runs["e0"])["median"])
    a = load_run(runs["ascent"])
    assert a.kind == "ascent" and a.unit == "step" and a.num_classes == 2
    assert a.confidence.shape[1] == 2 and a.encoding == "gradient ascent hp-1"
    assert [c.image.is_file() for c in a.champions] == [True, True]
    assert len({load_run(runs[f"e{s}"]).setting() for s in SEEDS}) == 1
    assert load_run(runs["other"]).setting() != e.setting()


def test_find_runs_expands_folders_in_order_once(runs):
    root = runs["e0"].parent
    found = find_runs([runs["e1"], root])
    assert found[0] == runs["e1"]
    assert sorted(found) == sorted(runs.values()) and len(found) == len(runs)
    with pytest.raises(RunDirError, match="no run directories given"):
        find_runs([])
    assert find_runs(str(runs["e0"])) == [runs["e0"]]  # one path, not its characters


def test_other_kinds_of_run_show_their_summary_and_figures(runs, tmp_path):
    shutil.copytree(runs["e0"], tmp_path / "b-evolve")
    retrain_run(tmp_path)  # tmp_path/retrain
    (tmp_path / "notes").mkdir()  # no config.json: not a run
    assert find_runs([tmp_path]) == [tmp_path / "b-evolve", tmp_path / "retrain"]
    with pytest.raises(RunDirError, match="holds no run directories"):
        find_runs([tmp_path / "notes"])
    with pytest.raises(RunDirError, match="holds a retrain run"):
        load_run(tmp_path / "retrain")
    text = write_report([tmp_path], tmp_path / "r.html").read_text()
    p = Page(text)
    assert set(SECTIONS) | {"other-runs"} <= set(p.ids)
    assert len(p.cell("median")) == 1  # the evolve run alone in the runs table
    other = text[text.index('<section id="other-runs">') :]
    other = Page(other[: other.index("</section>")])
    png = (tmp_path / "retrain" / "rounds.png").read_bytes()
    assert [i["src"] for i in other.imgs] == [
        "data:image/png;base64," + base64.b64encode(png).decode()
    ]
    cells = [text for _, _, text in other.cells]
    assert cells[:6] == ["kind", "retrain", "model", "lenet-mnist", "seconds", "2.5"]
    assert cells[6:] == ["1", "0.9907", "0.99995", "2", "0.9911", "—"]  # the rounds table
    # a report of other runs alone still has every section
    alone = Page(write_report([tmp_path / "retrain"], tmp_path / "s.html").read_text())
    assert set(SECTIONS) | {"other-runs"} <= set(alone.ids)


def test_write_report_refuses_a_comparison_that_is_not_rows(runs, tmp_path):
    with pytest.raises(ReportError, match="list of objects"):
        write_report([runs["e0"]], tmp_path / "r.html", comparison={"a": 1})  # type: ignore[arg-type]


def test_report_reads_files_only():
    """The report package never imports the models, the search or the experiments."""
    banned = ("fooling.models", "fooling.search", "fooling.experiments")
    folder = Path(fooling.__file__).parent / "report"
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = "fooling." + (node.module or "") if node.level >= 2 else node.module or ""
                if node.level == 1:
                    base = "fooling.report." + (node.module or "")
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for n in names:
                assert not n.startswith(banned), f"{path.name} imports {n}"


def test_large_champions_are_embedded_reduced(runs, tmp_path):
    """ImageNet-sized champions (256 px) are embedded as 112 px copies, so a 1000-class page
    stays small; 28 px ones are embedded as they are and drawn larger."""
    import io

    from PIL import Image

    run = tmp_path / "big"
    shutil.copytree(runs["e0"], run)
    first = json.loads((run / "archive.json").read_text())["classes"][0]
    Image.new("RGB", (256, 256), (200, 30, 30)).save(run / first["image"])
    p = Page(write_report([run], tmp_path / "r.html").read_text())
    imgs = [i for i, s in zip(p.imgs, p.sections_of_imgs) if s == "champions"]
    sizes = []
    for img in imgs:
        data = base64.b64decode(img["src"].partition(",")[2])
        with Image.open(io.BytesIO(data)) as im:
            sizes.append((im.size, img["width"]))
    assert sizes[0] == ((112, 112), "112")
    assert sizes[1:] == [((28, 28), "112")] * 9


def test_labels_are_drawn_literally_in_figures():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from fooling.report.figures import per_class_confidence

    labels = [r"$\foo$", "$x$ cost", "_hidden", "plain"]
    conf = np.linspace(0.1, 0.9, 8).reshape(2, 4)
    fig = per_class_confidence(np.arange(2), conf, conf[-1], np.arange(4), labels,
                               title="$\\bar$ run")  # fmt: skip
    FigureCanvasAgg(fig).draw()  # an unknown mathtext symbol would raise here
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(legend) == 4  # "_hidden" is not dropped
    assert [t.replace("\\$", "$").strip() for t in legend] == labels


def test_the_classes_given_and_the_default_are_one_setting_when_they_resolve_alike(tmp_path):
    cfg = dict(generations=1, batch_size=20, init_size=20)
    fooling.evolve(fooling.EvolveConfig(seed=0, **cfg), tmp_path / "default")
    fooling.evolve(fooling.EvolveConfig(seed=1, classes=tuple(range(10)), **cfg), tmp_path / "all")
    fooling.evolve(fooling.EvolveConfig(seed=2, classes=(0, 1, 2, 3, 4), **cfg), tmp_path / "half")
    default, given, half = (load_run(tmp_path / n) for n in ("default", "all", "half"))
    assert default.setting() == given.setting() != half.setting()
    from fooling.experiments.transfer import _setting_labels

    configs = [json.loads((tmp_path / n / "config.json").read_text()) for n in ("default", "all")]
    assert len(set(_setting_labels(configs))) == 1
