"""The report of a ``cwm bench`` run (benchmarks/report.py): the Markdown summary, the two
plots and the self-contained index page, safe against hostile sample ids, and (in headless
Chromium) an index whose sample table sorts and filters."""

from __future__ import annotations

import base64
import copy
import html
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from benchmarks.metrics import LABELS, METRICS, SINGLE_STEP_METRICS
from benchmarks.report import (
    BY_LENGTH_PLOT,
    FIRST_DIVERGENCE_PLOT,
    INDEX_FILE,
    SUMMARY_FILE,
    summary_markdown,
    write_index,
    write_plots,
    write_report,
)

HOSTILE_ID = "<script>alert(1)</script>&é"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# (value, low, high) of each of full mode's figures, in display order
FIGURES = {
    "valid_format": (98.5, 97.6, 99.3),
    "action": (61.04, 57.9, 64.1),
    "state": (41.25, 37.9, 44.6),
    "valid_json": (97.0, 95.8, 98.1),
    "key_match": (88.8, 86.9, 90.6),
    "key_value_match": (52.35, 49.1, 55.6),
    "output": (40.0, 36.6, 43.5),
}


def full_results() -> dict[str, Any]:
    return {
        "format": 1,
        "suites": ["cruxeval=../shared/data/cruxeval.jsonl", "jsonl=mine.jsonl"],
        "predictor": "copy",
        "mode": "full",
        "config": {"seed": 0, "limit": None, "max_frames": 200, "suites": ["cruxeval", "jsonl"]},
        "versions": {"cwm": "0.1.0", "python": "3.11.7", "matplotlib": "3.11.2"},
        "samples": 203,
        "skipped": {"the program failed before its entry was called": 3, "the entry timed out": 5},
        "metrics": {name: {"value": v, "low": lo, "high": hi} for name, (v, lo, hi) in FIGURES.items()},
        # frame indices 1, 2 and 7 (steps 2, 3 and 8 counted from 1); 173 diverged, 30 never
        "first_divergence": {"steps": {"1": 120, "2": 50, "7": 3}, "none": 30},
        "by_length": [
            {
                "frames": "1-5",
                "low": 1,
                "high": 5,
                "samples": 12,
                "metrics": {"state": 50.0, "action": 60.0, "output": 41.0},
            },
            {
                "frames": "6-20",
                "low": 6,
                "high": 20,
                "samples": 150,
                "metrics": {"state": 42.0, "action": 63.0, "output": 40.5},
            },
            {
                "frames": "101+",
                "low": 101,
                "high": None,
                "samples": 41,
                "metrics": {"state": 12.0, "action": 30.0, "output": 0.0},
            },
        ],
        "per_variable": [
            {"name": "x", "frames": 120, "accuracy": 55.0},
            {"name": "<i>", "frames": 80, "accuracy": 12.5},
        ],
        "real_lengths": {"frames": 12.3, "state_chars": 40.1, "action_chars": 20.2},
    }


def full_rows() -> list[dict[str, Any]]:
    def row(sample_id: str, frames: int, state: float, action: float, right: bool, first: int | None, page: Any):
        metrics = {name: 0.5 for name in METRICS} | {"state": state, "action": action, "output": float(right)}
        return {
            "id": sample_id,
            "suite": "cruxeval",
            "frames": frames,
            "metrics": metrics,
            "first_divergence": first,
            "output_right": right,
            "page": page,
        }

    return [
        row("cruxeval/sample_0", 9, 1.0, 1.0, True, None, "samples/cruxeval_sample_0.html"),
        row(HOSTILE_ID, 30, 0.25, 0.5, False, 3, "samples/hostile.html"),
        row("cruxeval/sample_2", 120, 0.125, 0.75, True, 1, None),
        row("jsonl/odd name", 4, 0.0, 0.0, False, 2, "samples/odd name#1?.html"),
    ]


EXPECTED_MARKDOWN = """\
# cwm bench: `copy` on `cruxeval=../shared/data/cruxeval.jsonl`, `jsonl=mine.jsonl`, full mode, 203 samples

| metric | value | 95% CI |
| --- | ---: | ---: |
| valid trace format | 98.5% | 97.6-99.3 |
| action exact match | 61.0% | 57.9-64.1 |
| state exact match | 41.2% | 37.9-44.6 |
| valid JSON | 97.0% | 95.8-98.1 |
| key match | 88.8% | 86.9-90.6 |
| key+value match | 52.4% | 49.1-55.6 |
| output pass@1 | 40.0% | 36.6-43.5 |

Real traces, on average: 12.3 frames, state 40.1 characters, action 20.2 characters.

First divergence (steps counted from 1): median at step 2 over the 173 that diverged; 30 of 203 (14.8%) never diverged.

Skipped 8 samples:
- the entry timed out: 5
- the program failed before its entry was called: 3

Versions: cwm `0.1.0`, python `3.11.7`, matplotlib `3.11.2`
"""


def output_results() -> dict[str, Any]:
    """Output mode: only the return value is predicted, so one figure and no divergence."""
    results = full_results()
    results.update(
        mode="output",
        predictor="openai:http://127.0.0.1:8000/v1#tiny",
        metrics={"output": {"value": 33.33, "low": 27.0, "high": 40.1}},
        skipped={},
        by_length=[{"frames": "1-5", "low": 1, "high": 5, "samples": 12, "metrics": {"output": 41.0}}],
        per_variable=[],
    )
    del results["first_divergence"]
    return results


def output_rows() -> list[dict[str, Any]]:
    return [
        {"id": sid, "suite": "cruxeval", "frames": f, "metrics": {"output": float(r)}, "first_divergence": None,
         "output_right": r, "page": None}
        for sid, f, r in ((HOSTILE_ID, 5, True), ("cruxeval/sample_1", 7, False), ("cruxeval/sample_2", 2, True))
    ]  # fmt: skip


def metric_rows(markdown: str) -> list[str]:
    """The body rows of the Markdown's metrics table."""
    lines = markdown.splitlines()
    start = lines.index("| --- | ---: | ---: |") + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("| ")), len(lines))
    return lines[start:end]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path.name} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def cells(row: str) -> list[str]:
    """The text of each cell of one table row's markup (links and escapes undone)."""
    return [html.unescape(re.sub(r"<[^>]*>", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]


def body_rows(table: str) -> list[str]:
    return table.split("<tbody>")[1].split("<tr>")[1:]


def sample_table(page: str) -> str:
    [table] = re.findall(r'<table id="samples".*?</table>', page, re.S)
    return table


# ---- the Markdown summary ----------------------------------------------------------------------


def test_summary_markdown_is_the_table_a_readme_takes() -> None:
    results = full_results()
    text = summary_markdown(results)
    assert text == EXPECTED_MARKDOWN
    assert summary_markdown(copy.deepcopy(results)) == text  # the same input, the same text
    # each figure by its LABELS name, in the run's order
    rows = metric_rows(text)
    assert [line.split(" | ")[0][2:] for line in rows] == [LABELS[m] for m in METRICS]


def test_summary_markdown_single_step_and_edge_cases() -> None:
    results = full_results()
    results.update(
        mode="single-step",
        metrics={m: {"value": 10.0 * (i + 1), "low": None, "high": None} for i, m in enumerate(SINGLE_STEP_METRICS)},
        skipped={},
        real_lengths={},
        first_divergence={"steps": {"1": 1, "4": 1}, "none": 0},
        predictor="hf:runs/`odd`/final",
    )
    text = summary_markdown(results)
    table = metric_rows(text)
    assert table == [f"| {LABELS[m]} | {10.0 * (i + 1):.1f}% | n/a |" for i, m in enumerate(SINGLE_STEP_METRICS)]
    assert "``hf:runs/`odd`/final``" in text.splitlines()[0]  # a code span its backticks cannot end
    assert "median at step 3.5 over the 2 that diverged; 0 of 2 (0.0%) never diverged" in text  # steps 2 and 5
    assert "Skipped" not in text and "Real traces" not in text


def test_a_skip_reason_is_text_not_markdown() -> None:
    results = full_results()
    results["skipped"] = {"<img src=x> | *bold*": 2}
    assert r"- \<img src=x\> \| \*bold\*: 2" in summary_markdown(results)


# ---- the plots -----------------------------------------------------------------------------------


def test_plots_are_written(tmp_path: Path) -> None:
    written = write_plots(full_results(), tmp_path)
    assert written == [tmp_path / BY_LENGTH_PLOT, tmp_path / FIRST_DIVERGENCE_PLOT]
    for path in written:
        width, height = png_size(path)
        assert width >= 400 and height >= 300
        assert path.stat().st_size > 10_000  # axes, labels, bars: not an empty canvas
    assert write_plots(full_results(), tmp_path) == written  # again: the same files
    assert [p.read_bytes() for p in written] == [p.read_bytes() for p in write_plots(full_results(), tmp_path)]


def test_a_plot_without_data_is_not_drawn(tmp_path: Path) -> None:
    no_lengths = full_results() | {"by_length": []}
    assert write_plots(no_lengths, tmp_path / "a") == [tmp_path / "a" / FIRST_DIVERGENCE_PLOT]
    assert not (tmp_path / "a" / BY_LENGTH_PLOT).exists()

    for first in (None, {"steps": {}, "none": 0}):
        no_divergence = full_results() | {"first_divergence": first}
        assert write_plots(no_divergence, tmp_path / "b") == [tmp_path / "b" / BY_LENGTH_PLOT]
        assert not (tmp_path / "b" / FIRST_DIVERGENCE_PLOT).exists()

    neither = full_results() | {"by_length": [], "first_divergence": None}
    assert write_plots(neither, tmp_path / "c") == []
    assert list((tmp_path / "c").iterdir()) == []

    never = full_results() | {"first_divergence": {"steps": {}, "none": 5}}  # no divergence at all is data too
    assert write_plots(never, tmp_path / "d") == [
        tmp_path / "d" / BY_LENGTH_PLOT,
        tmp_path / "d" / FIRST_DIVERGENCE_PLOT,
    ]


def test_many_steps_are_grouped(tmp_path: Path) -> None:
    results = full_results() | {"first_divergence": {"steps": {str(k): k % 7 + 1 for k in range(1, 900)}, "none": 3}}
    [_, path] = write_plots(results, tmp_path)
    assert png_size(path)[0] < 2000  # ranges of steps, not 900 bars


# ---- the index page ------------------------------------------------------------------------------


def test_index_is_self_contained_and_escapes_ids(tmp_path: Path) -> None:
    results, rows = full_results(), full_rows()
    written = write_report(results, rows, tmp_path)
    assert written == {
        SUMMARY_FILE: tmp_path / SUMMARY_FILE,
        BY_LENGTH_PLOT: tmp_path / BY_LENGTH_PLOT,
        FIRST_DIVERGENCE_PLOT: tmp_path / FIRST_DIVERGENCE_PLOT,
        INDEX_FILE: tmp_path / INDEX_FILE,
    }
    assert (tmp_path / SUMMARY_FILE).read_text(encoding="utf-8") == EXPECTED_MARKDOWN
    page = (tmp_path / INDEX_FILE).read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("</html>") == 1

    # nothing from outside: no script or style file, no web address, the browser told to load nothing
    assert "<script src" not in page and "<link" not in page and "@import" not in page and "url(" not in page
    assert "http://" not in page and "https://" not in page
    assert page.count("<script") == 1  # the inline sorting code, nothing else
    assert "default-src 'none'" in page
    srcs = re.findall(r'src="([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)

    # the hostile id is text: escaped in its cell and its sort key, never markup
    assert HOSTILE_ID not in page and "<script>alert" not in page
    assert html.escape(HOSTILE_ID) in page
    assert page.count("<script>") == 1 and page.count("</script>") == 1

    # a link to each row's page, where it has one; the odd file name stays one relative path
    table = sample_table(page)
    hrefs = re.findall(r'<a href="([^"]*)">', table)
    assert hrefs == ["samples/cruxeval_sample_0.html", "samples/hostile.html", "samples/odd%20name%231%3F.html"]
    assert '<td class="id" data-sort="cruxeval/sample_2">cruxeval/sample_2</td>' in table  # no page, no link
    assert len(body_rows(table)) == len(rows)

    # the plots inline, as the same bytes as the files
    for element, name in (("plot-by-length", BY_LENGTH_PLOT), ("plot-first-divergence", FIRST_DIVERGENCE_PLOT)):
        [data] = re.findall(rf'<img id="{element}" alt="[^"]*" src="data:image/png;base64,([^"]+)"', page)
        assert base64.b64decode(data) == (tmp_path / name).read_bytes()

    # the same figures as the Markdown
    [summary] = re.findall(r'<table id="summary".*?</table>', page, re.S)
    figures = re.findall(r"<td[^>]*>([^<]*)</td>", summary)
    assert figures == [c for m, (v, lo, hi) in FIGURES.items() for c in (LABELS[m], f"{v:.1f}%", f"{lo:.1f}-{hi:.1f}")]
    for line in ("median at step 2 over the 173 that diverged", "Skipped 8 samples", "12.3 frames"):
        assert line in page

    # full mode's figures per row: state, action, output right or wrong, first divergence from 1
    headings = re.findall(r"<th data-col=\"\d+\"[^>]*>([^<]*)</th>", table)
    assert headings == [
        "id",
        "suite",
        "frames",
        LABELS["state"],
        LABELS["action"],
        LABELS["output"],
        "first divergence",
    ]
    assert [cells(r) for r in body_rows(table)] == [
        ["cruxeval/sample_0", "cruxeval", "9", "100.0%", "100.0%", "right", "none"],
        [HOSTILE_ID, "cruxeval", "30", "25.0%", "50.0%", "wrong", "step 4"],
        ["cruxeval/sample_2", "cruxeval", "120", "12.5%", "75.0%", "right", "step 2"],
        ["jsonl/odd name", "cruxeval", "4", "0.0%", "0.0%", "wrong", "step 3"],
    ]


def test_index_without_plots_has_no_images(tmp_path: Path) -> None:
    path = write_index(full_results(), full_rows(), tmp_path)
    assert path == tmp_path / INDEX_FILE
    page = path.read_text(encoding="utf-8")
    assert "data:image/png" not in page and "<img" not in page


def test_a_page_path_cannot_become_a_script_url(tmp_path: Path) -> None:
    rows = full_rows()
    rows[0]["page"] = 'javascript:alert(1)"><b>x'
    page = write_index(full_results(), rows, tmp_path).read_text(encoding="utf-8")
    [href] = re.findall(r'<a href="([^"]*)">cruxeval/sample_0</a>', page)
    assert not href.lower().startswith("javascript:") and "<b>" not in page


def test_output_mode_end_to_end(tmp_path: Path) -> None:
    results, rows = output_results(), output_rows()
    written = write_report(results, rows, tmp_path)
    assert sorted(written) == sorted([SUMMARY_FILE, BY_LENGTH_PLOT, INDEX_FILE])
    assert not (tmp_path / FIRST_DIVERGENCE_PLOT).exists()
    png_size(tmp_path / BY_LENGTH_PLOT)

    text = (tmp_path / SUMMARY_FILE).read_text(encoding="utf-8")
    assert metric_rows(text) == [f"| {LABELS['output']} | 33.3% | 27.0-40.1 |"]
    assert "First divergence" not in text and "Skipped" not in text
    assert "`openai:http://127.0.0.1:8000/v1#tiny`" in text.splitlines()[0]

    page = (tmp_path / INDEX_FILE).read_text(encoding="utf-8")
    assert "<script src" not in page and html.escape(HOSTILE_ID) in page and HOSTILE_ID not in page
    assert 'href="http' not in page and 'src="http' not in page  # the server's address is text, not a link
    table = sample_table(page)
    assert "first divergence" not in table
    assert re.findall(r"<th data-col=\"\d+\"[^>]*>([^<]*)</th>", table) == ["id", "suite", "frames", LABELS["output"]]
    assert [cells(r) for r in body_rows(table)] == [
        [HOSTILE_ID, "cruxeval", "5", "right"],
        ["cruxeval/sample_1", "cruxeval", "7", "wrong"],
        ["cruxeval/sample_2", "cruxeval", "2", "right"],
    ]


# ---- in a browser ----------------------------------------------------------------------------


@pytest.mark.slow
def test_the_index_in_chromium(browser_page: Any, tmp_path: Path) -> None:
    page, seen = browser_page
    rows = full_rows()
    write_report(full_results(), rows, tmp_path)
    page.goto((tmp_path / INDEX_FILE).as_uri())

    assert page.locator("#samples tbody tr").count() == len(rows)
    ids = page.locator("#samples tbody tr td:first-child").all_text_contents()
    assert ids == [r["id"] for r in rows]  # the hostile id reads back as the text it is
    assert page.locator("#plot-by-length").evaluate("img => img.naturalWidth") > 0  # the data: image decodes
    assert page.locator("#plot-first-divergence").evaluate("img => img.naturalWidth") > 0

    # a click on "frames" sorts by it, numbers as numbers; a second click reverses
    frames = page.locator("#samples thead th", has_text="frames")
    frames.click()
    assert page.locator("#samples tbody tr td:nth-child(3)").all_text_contents() == ["4", "9", "30", "120"]
    frames.click()
    assert page.locator("#samples tbody tr td:nth-child(3)").all_text_contents() == ["120", "30", "9", "4"]
    # first divergence: steps in order, "none" (never diverged) last
    page.locator("#samples thead th", has_text="first divergence").click()
    assert page.locator("#samples tbody tr td:nth-child(7)").all_text_contents() == [
        "step 2",
        "step 3",
        "step 4",
        "none",
    ]

    # the filter keeps the rows whose id or suite holds the text
    page.fill("#filter", "SAMPLE_")
    assert page.locator("#samples tbody tr:visible").count() == 2
    assert page.inner_text("#shown") == f"2 of {len(rows)}"
    page.fill("#filter", "é")
    assert page.locator("#samples tbody tr:visible td:first-child").all_text_contents() == [HOSTILE_ID]
    page.fill("#filter", "")
    assert page.locator("#samples tbody tr:visible").count() == len(rows)

    # the link is to the sample's page, beside the index
    href = page.locator("#samples a", has_text="alert").get_attribute("href")
    assert href == "samples/hostile.html"
    assert seen == {"console": [], "errors": [], "dialogs": [], "requests": []}
