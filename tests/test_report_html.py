"""The HTML page of ``cwm predict --html``: one self-contained document, safe against the
program's own text, and (in headless Chromium) a page that moves through the steps."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.compare import Comparison, compare_free, compare_single_step
from benchmarks.predictors import CopyPredictor, Task
from benchmarks.report_html import DATA_ID, render_page, write_page
from cwm.api import record_in_process
from tracer import Outcome, Program, Trace

LOOP = """def f(n):
    total = 0
    for i in range(n):
        total += i
    return total
"""

# program text that would end the data tag, open a comment, or end a JavaScript string
HOSTILE_TEXT = "</script><script>alert(1)</script><!-- & \u2028 \u2029 -->"
SCRIPT_TEXT = "</script><script>alert(1)</script><!--"
HOSTILE = f'''def g(n):
    s = "{HOSTILE_TEXT}"
    for i in range(n):
        s = s + "&amp;"
    return s
'''

_DATA_TAG = re.compile(rf'<script type="application/json" id="{DATA_ID}">(.*?)</script>', re.S)


def comparison_of(source: str, entry: str) -> Comparison:
    trace = record_in_process(source, entry)
    [prediction] = CopyPredictor().free([Task.of(trace)])
    return compare_free(trace, prediction, "copy")


@pytest.fixture(scope="module")
def loop() -> Comparison:
    return comparison_of(LOOP, "f(5)")


@pytest.fixture(scope="module")
def hostile() -> Comparison:
    return comparison_of(HOSTILE, "g(2)")


@pytest.fixture(scope="module")
def single_step(loop: Comparison) -> Comparison:
    [result] = CopyPredictor().single_step([loop.real])
    return compare_single_step(loop.real, result, "copy")


@pytest.fixture(scope="module")
def empty() -> Comparison:
    """Nothing to step through: a run that recorded no frame."""
    trace = Trace(Program("empty", "x = 1\n"), [], Outcome("crashed", detail="nothing ran"))
    return Comparison("copy", "free", trace, [], None, None, None, {})


def embedded(page: str) -> Any:
    [data] = _DATA_TAG.findall(page)
    return json.loads(data)


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def test_the_loop_diverges(loop: Comparison) -> None:
    """What the browser test relies on: a dozen steps, and the copy predictor wrong from step 2."""
    assert len(loop.steps) >= 10
    assert loop.first_divergence == 2
    assert loop.real.events[0].line != loop.real.events[loop.first_divergence].line


def test_one_document_with_no_outside_assets(loop: Comparison) -> None:
    page = render_page(loop)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<html") == 1 and page.count("</html>") == 1
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the data, the code
    markup = _DATA_TAG.sub("", page)  # the program's own text is data, not an asset
    for outside in ("http://", "https://", "src=", "href=", "@import", "url(", "//fonts", "<link"):
        assert outside not in markup, outside
    assert "default-src 'none'" in markup  # and the browser is told to load nothing


def test_the_data_round_trips(
    loop: Comparison, hostile: Comparison, single_step: Comparison, empty: Comparison
) -> None:
    for comparison in (loop, hostile, single_step, empty):
        assert embedded(render_page(comparison)) == as_json(comparison.to_dict())


def test_hostile_program_text_is_escaped(hostile: Comparison) -> None:
    assert HOSTILE_TEXT in hostile.real.program.source
    assert any(SCRIPT_TEXT in (e.locals or {}).get("s", "") for e in hostile.real.events)  # repr escapes U+2028
    page = render_page(hostile)
    for raw in ("</script><script>alert(1)", "<!--", "-->", "\u2028", "\u2029", "&amp;"):
        assert raw not in page, raw
    [data] = _DATA_TAG.findall(page)
    assert not set(data) & set("<>&") and data.isascii()
    assert embedded(page)["source"] == HOSTILE


def test_the_title_is_escaped(loop: Comparison) -> None:
    page = render_page(loop, title="<b>x & @@DATA@@</b>")
    assert "<b>x" not in page
    assert "<title>&lt;b&gt;x &amp; @@DATA@@&lt;/b&gt;</title>" in page
    assert embedded(page) == as_json(loop.to_dict())


def test_write_page(loop: Comparison, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    write_page(loop, out)
    assert out.read_text(encoding="utf-8") == render_page(loop)
    with pytest.raises(OSError):
        write_page(loop, tmp_path / "no such folder" / "page.html")


# ---- in a browser ----------------------------------------------------------------------------


def current_line(page: Any) -> int:
    return int(page.get_attribute("#source .current", "data-line"))


def slider_at(page: Any) -> int:
    return int(page.input_value("#step"))


@pytest.mark.slow
def test_the_page_in_chromium(browser_page: Any, loop: Comparison, hostile: Comparison, tmp_path: Path) -> None:
    page, seen = browser_page
    steps = loop.steps
    line_of = [s.real.line if s.real is not None else None for s in steps]
    out = tmp_path / "loop.html"
    write_page(loop, out)
    started = time.monotonic()
    page.goto(out.as_uri())

    # step 0: the real line of the call frame, nothing differing in the locals
    assert slider_at(page) == 0
    assert current_line(page) == line_of[0]
    assert page.locator("#source [data-line]").count() == len(LOOP.splitlines())
    assert "copy" in page.inner_text("#summary") and "free" in page.inner_text("#summary")

    # the arrow key moves one step, from the slider and from elsewhere on the page
    page.focus("#step")
    page.keyboard.press("ArrowRight")
    assert slider_at(page) == 1 and current_line(page) == line_of[1] != line_of[0]
    page.focus("body")
    page.keyboard.press("ArrowRight")
    assert slider_at(page) == 2 and current_line(page) == line_of[2]
    page.keyboard.press("ArrowLeft")
    assert slider_at(page) == 1

    # the slider set to a step (as a drag does): its real line, the predicted one marked apart
    k = next(i for i, s in enumerate(steps) if s.real and s.predicted and s.real.line != s.predicted.line)
    page.eval_on_selector("#step", "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", str(k))
    assert current_line(page) == line_of[k]
    predicted = steps[k].predicted
    assert predicted is not None and int(page.get_attribute("#source .predicted", "data-line")) == predicted.line
    differing = page.locator("#locals tr.diff td:first-child").all_inner_texts()
    assert differing and sorted(differing) == steps[k].differs

    # End: the last step; Home: the first
    page.keyboard.press("End")
    assert slider_at(page) == len(steps) - 1 and current_line(page) == line_of[-1]
    page.keyboard.press("Home")
    assert slider_at(page) == 0 and current_line(page) == line_of[0]

    # the divergence banner's button jumps to the first divergence
    assert f"step {loop.first_divergence + 1}" in page.inner_text("#divergence")  # 1-based, as cwm predict says
    page.click("#goto-divergence")
    assert slider_at(page) == loop.first_divergence
    assert current_line(page) == line_of[loop.first_divergence]
    assert page.locator("#locals tr.diff").count() == len(steps[loop.first_divergence].differs) > 0
    shot = tmp_path / "loop.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot of the page: {shot} ({time.monotonic() - started:.1f} s in the browser)")

    # hostile text shows as text: nothing runs, the source reads back whole
    write_page(hostile, out)
    page.goto(out.as_uri())
    lines = page.locator("#source [data-line] .code").all_text_contents()
    assert "\n".join(lines) + "\n" == HOSTILE
    step = next(i for i, s in enumerate(hostile.steps) if s.real and SCRIPT_TEXT in (s.real.locals or {}).get("s", ""))
    page.eval_on_selector("#step", "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }", str(step))
    assert SCRIPT_TEXT in page.text_content("#locals")

    assert seen == {"console": [], "errors": [], "dialogs": [], "requests": []}


@pytest.mark.slow
def test_single_step_and_empty_pages_in_chromium(
    browser_page: Any, single_step: Comparison, empty: Comparison, tmp_path: Path
) -> None:
    page, seen = browser_page
    out = tmp_path / "page.html"
    write_page(single_step, out)
    page.goto(out.as_uri())
    summary = page.inner_text("#summary")
    assert "single-step" in summary
    for name, value in single_step.metrics.items():
        assert f"{name}\n{100 * value:.1f}%" in summary or f"{name}\t{100 * value:.1f}%" in summary
    page.keyboard.press("End")
    assert slider_at(page) == len(single_step.steps) - 1
    assert current_line(page) == single_step.steps[-1].real.line  # type: ignore[union-attr]

    write_page(empty, out)
    page.goto(out.as_uri())
    assert page.locator("#step").is_disabled()
    assert page.locator("#source [data-line]").count() == 1
    assert page.locator("#source .current").count() == 0
    assert "no steps" in page.inner_text("#divergence")
    page.keyboard.press("End")  # nothing to move to, and no error either
    assert seen == {"console": [], "errors": [], "dialogs": [], "requests": []}
