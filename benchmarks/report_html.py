"""One self-contained HTML page for a :class:`~benchmarks.compare.Comparison`: what
``cwm predict --html OUT.html`` writes.

The page needs nothing from outside: its CSS and JavaScript are inline, it loads no
font, script or image, and it opens from disk with no network. The comparison
travels inside it as JSON (exactly :meth:`Comparison.to_dict`), in a
``<script type="application/json" id="cwm-data">`` tag, with ``<``, ``>``, ``&``
and every non-ASCII character written as ``\\uXXXX`` escapes, so that no program
text (``</script>``, ``<!--``, U+2028...) can end the tag or reach the DOM as
markup; the script builds every text node with ``textContent``.

Stable element ids, for people and tests: ``#step`` (the range slider over the
steps), ``#source`` (the program, one element per line with ``data-line="N"``; the
current step's real line has the class ``current``, its predicted line, where
another, ``predicted``), ``#locals`` (predicted vs real, differing rows ``diff``),
``#summary`` and ``#divergence`` (with the button ``#goto-divergence``).
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from functools import cache
from typing import Any

from .compare import Comparison

DATA_ID = "cwm-data"  # the id of the script tag holding the comparison's JSON

# characters that could end the data tag or open markup; JSON writes them as \uXXXX
_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def _finite(value: Any) -> Any:
    """``value`` with non-finite floats as None: JSON.parse refuses NaN and Infinity."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def embed_json(data: Any) -> str:
    """``data`` as JSON that is safe inside a ``<script>`` element.

    ``ensure_ascii`` writes every non-ASCII character (U+2028 and U+2029 included) as an
    escape; ``<``, ``>`` and ``&`` appear in JSON only inside strings, where the same
    escapes mean the same characters."""
    text = json.dumps(_finite(data), ensure_ascii=True, allow_nan=False)
    for char, escape in _UNSAFE.items():
        text = text.replace(char, escape)
    return text


def default_title(comparison: Comparison) -> str:
    return f"{comparison.real.program.id}: {comparison.predictor} ({comparison.mode})"


def render_page(comparison: Comparison, title: str | None = None) -> str:
    """The comparison as one HTML document, with no external assets."""
    values = {
        "TITLE": html.escape(title if title is not None else default_title(comparison)),
        "DATA": embed_json(comparison.to_dict()),
    }
    # one pass, so that nothing substituted (a title holding "@@DATA@@") is read again
    return _SLOT.sub(lambda m: values[m.group(1)], _template())


def write_page(comparison: Comparison, path: str | os.PathLike[str], title: str | None = None) -> None:
    """Write :func:`render_page` to ``path`` (UTF-8); an OSError goes to the caller."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(render_page(comparison, title))


_SLOT = re.compile(r"@@(TITLE|DATA)@@")


@cache
def _template() -> str:
    """The page with its fixed parts (style, script, the data tag's id) in place."""
    return _PAGE.replace("@@CSS@@", _CSS).replace("@@JS@@", _JS).replace("@@DATA_ID@@", DATA_ID)


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'; img-src data:">
<title>@@TITLE@@</title>
<style>
@@CSS@@
</style>
</head>
<body>
<header>
<h1>@@TITLE@@</h1>
<div id="divergence" class="banner"></div>
</header>
<main>
<section class="left">
<div class="controls">
<button type="button" id="prev" title="previous step (Left arrow)">&larr;</button>
<div class="track">
<input type="range" id="step" min="0" max="0" value="0" step="1" aria-label="step">
<div id="timeline" aria-hidden="true"></div>
</div>
<button type="button" id="next" title="next step (Right arrow)">&rarr;</button>
<span id="position"></span>
</div>
<p class="hint">Left/Right arrows: one step; Home/End: first/last step.
<span class="legend"><span class="swatch real"></span>real line
<span class="swatch predicted"></span>predicted line, where another</span></p>
<pre id="source"></pre>
</section>
<section class="right">
<h2>Step</h2>
<table id="frame" class="grid"></table>
<h2>Locals</h2>
<table id="locals" class="grid"></table>
<h2>Summary</h2>
<div id="summary"></div>
<details id="raw"><summary>Predictor output</summary><pre id="text"></pre></details>
</section>
</main>
<script type="application/json" id="@@DATA_ID@@">@@DATA@@</script>
<script>
@@JS@@
</script>
</body>
</html>
"""

_CSS = """
:root { color-scheme: light; --line: #fff3b0; --pred: #d8e8ff; --bad: #fde2e1; --good: #e3f6e5; --mute: #666; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
  background: #fafafa; }
header { padding: 10px 16px; background: #fff; border-bottom: 1px solid #ddd; }
h1 { font-size: 17px; margin: 0 0 6px; }
h2 { font-size: 14px; margin: 14px 0 4px; }
main { display: flex; gap: 16px; padding: 12px 16px; align-items: flex-start; }
.left { flex: 3; min-width: 0; }
.right { flex: 2; min-width: 0; }
pre, code, td.val { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 13px; }
.banner { padding: 6px 10px; border-radius: 4px; }
.banner.bad { background: var(--bad); border: 1px solid #e6a5a1; }
.banner.good { background: var(--good); border: 1px solid #9fd3a6; }
.banner button { margin-left: 8px; }
.controls { display: flex; align-items: center; gap: 8px; }
.track { flex: 1; position: relative; padding-bottom: 10px; }
#step { width: 100%; margin: 0; }
#timeline { position: absolute; left: 0; right: 0; bottom: 0; height: 6px; display: flex; }
#timeline span { flex: 1; background: var(--good); }
#timeline span.differs { background: #e8837c; }
#timeline span.first { background: #b3261e; }
#position { min-width: 7em; text-align: right; color: var(--mute); }
.hint { color: var(--mute); margin: 4px 0 8px; font-size: 12px; }
.legend { margin-left: 12px; }
.swatch { display: inline-block; width: 10px; height: 10px; margin: 0 3px 0 8px; border: 1px solid #bbb; }
.swatch.real { background: var(--line); }
.swatch.predicted { background: var(--pred); }
#source { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 6px 0; margin: 0;
  max-height: 75vh; overflow: auto; }
#source .src { display: flex; padding: 0 8px; white-space: pre; }
#source .src .no { color: #999; width: 3.5em; flex: none; text-align: right; padding-right: 1em;
  user-select: none; }
#source .src.predicted { background: var(--pred); }
#source .src.current { background: var(--line); }
#source .src.current.predicted { background: linear-gradient(90deg, var(--line) 70%, var(--pred)); }
#source .src .mark { margin-left: 1.5em; color: var(--mute); font-family: system-ui, sans-serif; font-size: 12px; }
table.grid { border-collapse: collapse; width: 100%; background: #fff; }
table.grid th, table.grid td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top;
  word-break: break-all; }
table.grid th { background: #f0f0f0; font-weight: 600; word-break: normal; white-space: nowrap; }
tr.diff td { background: var(--bad); }
td.missing { color: #999; font-style: italic; }
.right-answer { color: #1b5e20; font-weight: 600; }
.wrong-answer { color: #b3261e; font-weight: 600; }
.same { color: #1b5e20; }
.notsame { color: #b3261e; }
#summary dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
#summary dt { color: var(--mute); }
#summary dd { margin: 0; }
#summary ul { margin: 6px 0 0; padding-left: 18px; }
#text { white-space: pre-wrap; word-break: break-all; background: #fff; border: 1px solid #ddd; padding: 6px; }
"""

_JS = """
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("@@DATA_ID@@").textContent);
  const steps = data.steps || [];
  const first = data.first_divergence;
  const slider = document.getElementById("step");
  const source = document.getElementById("source");

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function row(table, cells, cls) {
    const tr = el("tr", null, cls);
    cells.forEach(function (c) {
      if (c instanceof Node) tr.appendChild(c); else tr.appendChild(el("td", c));
    });
    table.appendChild(tr);
    return tr;
  }
  function shown(value) { return value === null || value === undefined ? "\\u2014" : value; }

  // the program, one element per line
  const lines = String(data.source || "").split(/\\r\\n|\\r|\\n/);  // Python's line ends, no others
  if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  const lineNodes = {};
  lines.forEach(function (text, i) {
    const div = el("div", null, "src");
    div.dataset.line = String(i + 1);
    div.appendChild(el("span", i + 1, "no"));
    div.appendChild(el("span", text, "code"));
    source.appendChild(div);
    lineNodes[i + 1] = div;
  });

  // divergence banner
  const banner = document.getElementById("divergence");
  if (steps.length === 0) {
    banner.className = "banner";
    banner.appendChild(el("span", "Nothing to compare: the comparison has no steps."));
  } else if (first === null || first === undefined) {
    banner.className = "banner good";
    banner.appendChild(el("span", "No divergence: every step of the prediction matches the real trace."));
  } else {
    banner.className = "banner bad";
    banner.appendChild(el("span", "The prediction first differs from the real trace at step " + (first + 1) + "."));
    const go = el("button", "Go to step " + (first + 1));
    go.type = "button";
    go.id = "goto-divergence";
    go.addEventListener("click", function () { show(first); slider.focus(); });
    banner.appendChild(go);
  }

  // the slider and its track: one cell per step (a few thousand at most)
  slider.max = String(Math.max(steps.length - 1, 0));
  slider.disabled = steps.length === 0;
  const timeline = document.getElementById("timeline");
  if (steps.length > 0 && steps.length <= 4000) {
    steps.forEach(function (s, i) {
      const cell = el("span", null, (s.same ? "" : "differs") + (i === first ? " first" : ""));
      cell.title = "step " + (i + 1) + (s.same ? "" : ": differs");
      timeline.appendChild(cell);
    });
  } else if (first !== null && first !== undefined && steps.length > 1) {
    const mark = el("span", null, "first");
    mark.style.position = "absolute";
    mark.style.width = "3px";
    mark.style.height = "6px";
    mark.style.left = (100 * first / (steps.length - 1)) + "%";
    timeline.appendChild(mark);
  }

  // the summary
  const summary = document.getElementById("summary");
  const dl = el("dl");
  function item(name, value, cls) { dl.appendChild(el("dt", name)); dl.appendChild(el("dd", value, cls)); }
  item("predictor", data.predictor);
  item("mode", data.mode);
  item("program", data.real.program.id + (data.real.program.entry ? ": " + data.real.program.entry : ""));
  item("real outcome", data.real.outcome.status);
  item("steps", "real " + data.real.events.length + ", compared " + steps.length);
  item("first divergence", first === null || first === undefined ? "none" : "step " + (first + 1));
  Object.keys(data.metrics || {}).forEach(function (name) {
    const v = data.metrics[name];
    item(name, typeof v === "number" ? (100 * v).toFixed(1) + "%" : shown(v));
  });
  item("real return", shown(data.real_return));
  item("predicted return", shown(data.predicted_return));
  item("return value", data.output_right ? "right" : "wrong", data.output_right ? "right-answer" : "wrong-answer");
  summary.appendChild(dl);
  if (data.errors && data.errors.length) {
    summary.appendChild(el("h2", "Errors reading the prediction"));
    const ul = el("ul");
    data.errors.forEach(function (e) { ul.appendChild(el("li", e)); });
    summary.appendChild(ul);
  }
  if (data.text) document.getElementById("text").textContent = data.text;
  else document.getElementById("raw").hidden = true;

  // one step
  const frame = document.getElementById("frame");
  const locals = document.getElementById("locals");
  const position = document.getElementById("position");
  function field(e, name) { return e ? e[name] : null; }
  function show(index) {
    if (steps.length === 0) { position.textContent = "no steps"; return; }
    const i = Math.min(Math.max(Number(index) || 0, 0), steps.length - 1);
    slider.value = String(i);
    const s = steps[i], r = s.real, p = s.predicted;
    position.textContent = "step " + (i + 1) + " / " + steps.length;  // 1-based, as cwm predict counts

    Object.keys(lineNodes).forEach(function (n) { lineNodes[n].classList.remove("current", "predicted"); });
    source.querySelectorAll(".mark").forEach(function (m) { m.remove(); });
    const realLine = r ? lineNodes[r.line] : null;
    const predLine = p ? lineNodes[p.line] : null;
    if (realLine) realLine.classList.add("current");
    if (predLine && predLine !== realLine) {
      predLine.classList.add("predicted");
      predLine.appendChild(el("span", "\\u2190 predicted", "mark"));
    }
    const target = realLine || predLine;
    if (target) target.scrollIntoView({ block: "nearest" });

    frame.replaceChildren();
    row(frame, [el("th", ""), el("th", "predicted"), el("th", "real")]);
    const verdict = el("td", s.same ? "same" : "differs", s.same ? "same" : "notsame");
    verdict.colSpan = 2;
    row(frame, [el("th", "step " + (i + 1)), verdict]);
    [["kind", "kind"], ["line", "line"], ["action", "source_line"], ["function", "func"], ["depth", "depth"],
     ["value", "value"], ["stdout", "stdout"]].forEach(function (f) {
      const a = field(p, f[1]), b = field(r, f[1]);
      if (f[1] === "value" || f[1] === "stdout") { if (a === null && b === null) return; }
      const cells = [el("th", f[0]), el("td", shown(a), "val" + (p ? "" : " missing")),
                     el("td", shown(b), "val" + (r ? "" : " missing"))];
      row(frame, cells, a !== b && p && r ? "diff" : "");
    });
    if (!p) row(frame, [el("th", "note"), el("td", s.error || "no predicted frame here")]).lastChild.colSpan = 2;
    else if (!r) row(frame, [el("th", "note"), el("td", "the prediction runs past the real trace")])
      .lastChild.colSpan = 2;
    else if (s.error) row(frame, [el("th", "error"), el("td", s.error)]).lastChild.colSpan = 2;

    locals.replaceChildren();
    row(locals, [el("th", "name"), el("th", "predicted"), el("th", "real")]);
    const rl = (r && r.locals) || {}, pl = (p && p.locals) || {};
    const names = Object.keys(rl);
    Object.keys(pl).forEach(function (n) { if (!(n in rl)) names.push(n); });
    const differs = new Set(s.differs || []);
    if (names.length === 0) {
      const none = el("td", "no locals in this frame", "missing");
      none.colSpan = 3;
      row(locals, [none]);
    }
    names.forEach(function (n) {
      const has = [n in pl, n in rl];
      row(locals, [el("td", n, "val"), el("td", has[0] ? pl[n] : "absent", has[0] ? "val" : "missing"),
                   el("td", has[1] ? rl[n] : "absent", has[1] ? "val" : "missing")],
          differs.has(n) ? "diff" : "");
    });
  }

  slider.addEventListener("input", function () { show(slider.value); });
  document.getElementById("prev").addEventListener("click", function () { show(Number(slider.value) - 1); });
  document.getElementById("next").addEventListener("click", function () { show(Number(slider.value) + 1); });
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const moves = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity };
    if (!(ev.key in moves)) return;
    ev.preventDefault();  // the slider's own handling too: one step per key, the same everywhere
    const d = moves[ev.key];
    show(d === -Infinity ? 0 : d === Infinity ? steps.length - 1 : Number(slider.value) + d);
  });
  show(0);
})();
"""

__all__ = ["DATA_ID", "default_title", "embed_json", "render_page", "write_page"]
