"""The report of a ``cwm bench`` run: ``summary.md``, two PNG plots and ``index.html``.

Everything here reads the run's aggregate (the ``results`` dict that ``results.json``
holds) and, for the index, one row per scored sample; nothing is measured again.

- :func:`summary_markdown`: a title, the table ``| metric | value | 95% CI |`` (each
  figure by its :data:`~benchmarks.metrics.LABELS` name), the real traces' mean
  lengths, the skipped samples and the first divergence, as Markdown to paste in a
  README (the same input gives the same text);
- :func:`write_plots`: ``accuracy_by_length.png`` and ``first_divergence.png``, drawn on
  a :class:`matplotlib.figure.Figure` with the Agg renderer (no pyplot, so no global
  backend or figure registry is touched); a plot with no data is not drawn;
- :func:`write_index`: ``index.html``, one self-contained page (inline CSS and
  JavaScript, the plots as ``data:`` PNGs, a Content-Security-Policy that loads
  nothing): the summary table and a table of every sample, sortable by a click on a
  column's heading and filterable by id or suite, each id a link to its side-by-side
  page where one was written. All text from the run is written through
  :func:`html.escape`; the script only reorders and hides rows;
- :func:`write_report`: all of them, into the run's output folder.

Steps are counted from 1, as ``cwm predict`` and the side-by-side pages count them:
``first_divergence`` holds 0-based frame indices (at least 1, since the first frame is
given), so frame index ``k`` is shown as step ``k + 1``.

Stable element ids of the index, for people and tests: ``#summary`` (the metrics table),
``#plot-by-length`` and ``#plot-first-divergence`` (the images, where drawn),
``#filter`` (the filter box), ``#shown`` (how many rows it leaves) and ``#samples`` (the
sample table, one ``tbody`` row per sample, each cell's sort key in ``data-sort``).
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .metrics import LABELS

SUMMARY_FILE = "summary.md"
INDEX_FILE = "index.html"
BY_LENGTH_PLOT = "accuracy_by_length.png"
FIRST_DIVERGENCE_PLOT = "first_divergence.png"

# the figures of each sample that the index shows, per mode ("output": right or wrong)
ROW_FIGURES = {"full": ("state", "action", "output"), "single-step": ("exact",), "output": ("output",)}
# the modes that measure where a prediction first differs
DIVERGENCE_MODES = ("full", "single-step")

_MISSING = "n/a"
_DPI = 100


class ReportError(Exception):
    """The report cannot be written as asked (the plots need matplotlib, which is not installed)."""


# ---- figures as text -------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None (absent, null, NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def format_percent(value: Any) -> str:
    """A percent figure as the report writes it: ``41.2%`` (``n/a`` when there is none)."""
    v = _number(value)
    return _MISSING if v is None else f"{v:.1f}%"


def format_interval(figure: Mapping[str, Any]) -> str:
    """A figure's 95% interval as the report writes it: ``37.9-44.6``."""
    low, high = _number(figure.get("low")), _number(figure.get("high"))
    if low is None or high is None:
        return _MISSING
    return f"{low:.1f}-{high:.1f}"


def label(metric: str) -> str:
    """The name a report gives a metric (its LABELS entry; the bare name for one it lacks)."""
    return LABELS.get(metric, metric)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _length_part(key: str, value: float) -> str:
    """One of the real traces' mean lengths: ``12.3 frames``, ``state 40.1 characters``."""
    if key == "frames":
        return f"{value:.1f} frames"
    for suffix, unit in (("_chars", "characters"), ("_tokens", "tokens")):
        if key.endswith(suffix):
            return f"{key[: -len(suffix)]} {value:.1f} {unit}"
    return f"{key} {value:.1f}"


def lengths_line(results: Mapping[str, Any]) -> str | None:
    """The real traces' mean lengths in words, or None when the run has none."""
    lengths = {k: _number(v) for k, v in (results.get("real_lengths") or {}).items()}
    parts = [_length_part(k, v) for k, v in lengths.items() if v is not None]
    return "Real traces, on average: " + ", ".join(parts) + "." if parts else None


def _divergence_counts(results: Mapping[str, Any]) -> tuple[dict[int, int], int] | None:
    """First divergences as (step counted from 1 -> samples, samples that never diverged)."""
    first = results.get("first_divergence")
    if not first:
        return None
    steps = {int(k) + 1: int(n) for k, n in (first.get("steps") or {}).items() if int(n) > 0}
    return dict(sorted(steps.items())), int(first.get("none") or 0)


def _weighted_median(counts: Mapping[int, int]) -> float:
    """The median of a distribution given as value -> count (counts > 0, at least one)."""
    total = sum(counts.values())
    middle = [(total - 1) // 2, total // 2]  # the 0-based positions of the middle one or two
    found: list[int] = []
    seen = 0
    for value, n in sorted(counts.items()):
        while middle and middle[0] < seen + n:
            found.append(value)
            middle.pop(0)
        seen += n
    return statistics.mean(found)


def divergence_line(results: Mapping[str, Any]) -> str | None:
    """Where predictions first differ, in words (median step, share never diverged), or None."""
    counts = _divergence_counts(results)
    if counts is None:
        return None
    steps, never = counts
    diverged = sum(steps.values())
    total = diverged + never
    if total == 0:
        return None
    parts = []
    if diverged:
        parts.append(f"median at step {_weighted_median(steps):g} over the {diverged} that diverged")
    parts.append(f"{never} of {total} ({100 * never / total:.1f}%) never diverged")
    return "First divergence (steps counted from 1): " + "; ".join(parts) + "."


def _skipped(results: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The reasons samples were not scored, with their counts, the most frequent first."""
    skipped = {str(k): int(n) for k, n in (results.get("skipped") or {}).items() if int(n) > 0}
    return sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0]))


def _skipped_heading(reasons: Sequence[tuple[str, int]]) -> str:
    return f"Skipped {_plural(sum(n for _, n in reasons), 'sample')}"


def skipped_line(results: Mapping[str, Any]) -> str | None:
    """The samples not scored, with their reasons (most first), or None when none was skipped."""
    reasons = _skipped(results)
    if not reasons:
        return None
    return _skipped_heading(reasons) + ": " + "; ".join(f"{r} ({n})" for r, n in reasons) + "."


def _suites(results: Mapping[str, Any]) -> list[str]:
    return [str(s) for s in results.get("suites") or []]


def title(results: Mapping[str, Any]) -> str:
    """The run in one line: predictor, suites, mode and samples scored (plain text)."""
    return (
        f"cwm bench: {results.get('predictor')} on {', '.join(_suites(results)) or 'no suite'}, "
        f"{results.get('mode')} mode, {_plural(int(results.get('samples') or 0), 'sample')}"
    )


# ---- Markdown --------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def _md_text(text: str) -> str:
    """Free text (a skip reason) that Markdown shows as written: its markup characters escaped."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _md_code(text: str) -> str:
    """``text`` as a Markdown code span, whatever backticks it holds."""
    text = " ".join(text.split())
    fence = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def summary_markdown(results: Mapping[str, Any]) -> str:
    """The run's summary as Markdown: title, metrics table, lengths, skips, first divergence."""
    suites = ", ".join(_md_code(s) for s in _suites(results)) or "no suite"
    lines = [
        f"# cwm bench: {_md_code(str(results.get('predictor')))} on {suites}, {_md_text(str(results.get('mode')))} "
        f"mode, {_plural(int(results.get('samples') or 0), 'sample')}",
        "",
        "| metric | value | 95% CI |",
        "| --- | ---: | ---: |",
    ]
    for name, figure in (results.get("metrics") or {}).items():
        lines.append(f"| {label(name)} | {format_percent(figure.get('value'))} | {format_interval(figure)} |")
    lines.append("")
    lengths = lengths_line(results)
    if lengths:
        lines += [lengths, ""]
    divergence = divergence_line(results)
    if divergence:
        lines += [divergence, ""]
    reasons = _skipped(results)
    if reasons:
        lines.append(_skipped_heading(reasons) + ":")
        lines += [f"- {_md_text(reason)}: {n}" for reason, n in reasons]
        lines.append("")
    versions = results.get("versions") or {}
    if versions:
        lines += ["Versions: " + ", ".join(f"{_md_text(str(k))} {_md_code(str(v))}" for k, v in versions.items()), ""]
    return "\n".join(lines)


# ---- plots -----------------------------------------------------------------------------------


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ReportError("the report's plots need matplotlib: pip install matplotlib (or 'cwm[train]')") from None
    return Figure


def _bucket_label(bucket: Mapping[str, Any]) -> str:
    if bucket.get("frames"):
        return str(bucket["frames"])
    low, high = bucket.get("low"), bucket.get("high")
    return f"{low}+" if high is None else f"{low}-{high}"


def _by_length_metrics(results: Mapping[str, Any]) -> list[str]:
    """The metrics the buckets hold, in the run's display order (any others after them)."""
    held: list[str] = []
    for bucket in results.get("by_length") or []:
        held += [m for m in bucket.get("metrics") or {} if m not in held]
    order = list(results.get("metrics") or {})
    return sorted(held, key=lambda m: (order.index(m) if m in order else len(order), held.index(m)))


def _save(fig: Any, path: Path) -> None:
    fig.savefig(path, format="png", dpi=_DPI, metadata={"Software": None})  # no version: the same bytes each run
    fig.clear()


def _plot_by_length(results: Mapping[str, Any], path: Path, figure_class: Any) -> bool:
    buckets = [b for b in results.get("by_length") or [] if b.get("metrics")]
    names = _by_length_metrics(results)
    if not buckets or not names:
        return False
    fig = figure_class(figsize=(max(6.0, 1.1 * len(buckets) + 3), 4.5))
    ax = fig.subplots()
    width = 0.8 / len(names)
    for j, name in enumerate(names):
        xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(buckets))]
        ys = [_number(b["metrics"].get(name)) for b in buckets]
        shown = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        bars = ax.bar([x for x, _ in shown], [y for _, y in shown], width=width, label=label(name))
        ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    ax.set_xticks(range(len(buckets)))
    ax.set_xticklabels([f"{_bucket_label(b)}\nn={int(b.get('samples') or 0)}" for b in buckets])
    ax.set_xlabel("real trace length (frames); n = samples")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Accuracy by real trace length")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    _save(fig, path)
    return True


_MAX_BARS = 40  # more distinct steps than this are grouped into ranges


def _plot_first_divergence(results: Mapping[str, Any], path: Path, figure_class: Any) -> bool:
    counts = _divergence_counts(results)
    if counts is None or (not counts[0] and not counts[1]):
        return False
    steps, never = counts
    bins: list[tuple[str, int]] = []
    if steps:
        first, last = min(steps), max(steps)
        size = max(1, math.ceil((last - first + 1) / _MAX_BARS))
        for start in range(first, last + 1, size):
            end = min(start + size - 1, last)
            n = sum(c for s, c in steps.items() if start <= s <= end)
            bins.append((str(start) if start == end else f"{start}-{end}", n))
    fig = figure_class(figsize=(max(6.0, 0.3 * len(bins) + 3), 4.5))
    ax = fig.subplots()
    xs = list(range(len(bins)))
    ax.bar(xs, [n for _, n in bins], width=0.8, color="#d9534f", label="first divergent step")
    never_x = len(bins) + 0.5 if bins else 0
    ax.bar([never_x], [never], width=0.8, color="#5cb85c", label="never diverged")
    ticks = xs[:: max(1, math.ceil(len(xs) / 20))]
    ax.set_xticks([*ticks, never_x])
    ax.set_xticklabels([bins[i][0] for i in ticks] + ["never"], rotation=45 if len(bins) > 12 else 0)
    ax.set_xlabel("first divergent step (counted from 1)")
    ax.set_ylabel("samples")
    ax.set_title(f"First divergent step: {sum(steps.values())} diverged, {never} never diverged")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    return True


def write_plots(results: Mapping[str, Any], out_dir: str | os.PathLike[str]) -> list[Path]:
    """Draw ``accuracy_by_length.png`` and ``first_divergence.png`` into ``out_dir``: those
    whose data the run has (the paths written, in that order). ReportError without matplotlib."""
    figure_class = _figure_class()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in ((BY_LENGTH_PLOT, _plot_by_length), (FIRST_DIVERGENCE_PLOT, _plot_first_divergence)):
        if draw(results, out / name, figure_class):
            written.append(out / name)
    return written


# ---- the index page --------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _row_figures(results: Mapping[str, Any]) -> tuple[str, ...]:
    mode = str(results.get("mode"))
    return ROW_FIGURES.get(mode, tuple(results.get("metrics") or {}))


def _cell(text: str, sort: Any, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f'<td{attr} data-sort="{_e(sort)}">{_e(text)}</td>'


def _sample_row(row: Mapping[str, Any], figures: Sequence[str], divergence: bool) -> str:
    sample_id = str(row.get("id"))
    page = row.get("page")
    if page:
        # a relative path, percent-encoded: no character of it can make it another URL or a scheme
        link = f'<a href="{_e(quote(str(page).replace(os.sep, "/")))}">{_e(sample_id)}</a>'
    else:
        link = _e(sample_id)
    frames = row.get("frames")
    cells = [
        f'<td class="id" data-sort="{_e(sample_id)}">{link}</td>',
        _cell(str(row.get("suite", "")), row.get("suite", "")),
        _cell(str(frames) if frames is not None else _MISSING, frames if frames is not None else -1, "num"),
    ]
    metrics = row.get("metrics") or {}
    for name in figures:
        if name == "output":
            right = row.get("output_right")
            if right is None and _number(metrics.get("output")) is not None:
                right = metrics["output"] >= 1
            text = _MISSING if right is None else ("right" if right else "wrong")
            cls = "" if right is None else ("right" if right else "wrong")
            cells.append(_cell(text, -1 if right is None else int(bool(right)), cls))
        else:
            v = _number(metrics.get(name))
            cells.append(_cell(_MISSING if v is None else f"{100 * v:.1f}%", -1 if v is None else v, "num"))
    if divergence:
        first = row.get("first_divergence")
        # never diverging sorts after every step
        cells.append(_cell("none" if first is None else f"step {int(first) + 1}", 1e18 if first is None else first))
    return "<tr>" + "".join(cells) + "</tr>"


def _summary_table(results: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{_e(label(name))}</td><td class='num'>{_e(format_percent(f.get('value')))}</td>"
        f"<td class='num'>{_e(format_interval(f))}</td></tr>"
        for name, f in (results.get("metrics") or {}).items()
    )
    return (
        '<table id="summary" class="grid"><thead><tr><th>metric</th><th>value</th><th>95% CI</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _key_values(pairs: Mapping[str, Any]) -> str:
    def shown(v: Any) -> str:
        return ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)

    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(shown(v))}</td></tr>" for k, v in pairs.items())
    return f'<table class="grid kv">{rows}</table>'


def _image(path: Path, element_id: str, alt: str) -> str:
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img id="{element_id}" alt="{_e(alt)}" src="data:image/png;base64,{data}"></figure>'


def _by_length_table(results: Mapping[str, Any]) -> str:
    buckets = results.get("by_length") or []
    names = _by_length_metrics(results)
    if not buckets:
        return ""
    head = "".join(f"<th>{_e(label(n))}</th>" for n in names)
    body = "".join(
        f"<tr><td>{_e(_bucket_label(b))}</td><td class='num'>{_e(b.get('samples', 0))}</td>"
        + "".join(f"<td class='num'>{_e(format_percent((b.get('metrics') or {}).get(n)))}</td>" for n in names)
        + "</tr>"
        for b in buckets
    )
    return (
        "<h2>By real trace length</h2>"
        f'<table class="grid"><thead><tr><th>frames</th><th>samples</th>{head}</tr></thead><tbody>{body}</tbody></table>'
    )


def _per_variable_table(results: Mapping[str, Any]) -> str:
    variables = results.get("per_variable") or []
    if not variables:
        return ""
    body = "".join(
        f"<tr><td class='val'>{_e(v.get('name'))}</td><td class='num'>{_e(v.get('frames'))}</td>"
        f"<td class='num'>{_e(format_percent(v.get('accuracy')))}</td></tr>"
        for v in variables
    )
    return (
        "<h2>State accuracy per variable (most frequent names)</h2>"
        '<table class="grid"><thead><tr><th>variable</th><th>frames</th>'
        f"<th>{_e(label('state'))}</th></tr></thead><tbody>{body}</tbody></table>"
    )


def render_index(results: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike[str]) -> str:
    """The index page as one HTML document (the plots read from ``out_dir``, where they exist)."""
    out = Path(out_dir)
    figures = _row_figures(results)
    divergence = str(results.get("mode")) in DIVERGENCE_MODES
    headings = ["id", "suite", "frames", *(label(n) for n in figures)]
    if divergence:
        headings.append("first divergence")
    head = "".join(f'<th data-col="{i}" title="sort">{_e(h)}</th>' for i, h in enumerate(headings))
    body = "\n".join(_sample_row(r, figures, divergence) for r in rows)
    notes = [line for line in (lengths_line(results), divergence_line(results), skipped_line(results)) if line]
    run = {
        "predictor": results.get("predictor"),
        "suites": _suites(results),
        "mode": results.get("mode"),
        "samples": results.get("samples"),
    }
    parts = {
        "TITLE": _e(title(results)),
        "RUN": _key_values(run),
        "SUMMARY": _summary_table(results),
        "NOTES": "".join(f"<p>{_e(n)}</p>" for n in notes),
        "PLOTS": _image(out / BY_LENGTH_PLOT, "plot-by-length", "accuracy by real trace length")
        + _image(out / FIRST_DIVERGENCE_PLOT, "plot-first-divergence", "first divergent step"),
        "TABLES": _by_length_table(results) + _per_variable_table(results),
        "CONFIG": _key_values(results.get("config") or {}),
        "VERSIONS": _key_values(results.get("versions") or {}),
        "HEAD": head,
        "ROWS": body,
        "COUNT": _e(len(rows)),
    }
    # one pass, so that nothing substituted (an id holding "@@ROWS@@") is read again
    return _SLOT.sub(lambda m: parts[m.group(1)], _PAGE.replace("@@CSS@@", _CSS).replace("@@JS@@", _JS))


def write_index(results: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``index.html`` into ``out_dir`` (UTF-8), with the plots already there inline."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / INDEX_FILE
    path.write_text(render_index(results, rows, out), encoding="utf-8")
    return path


def write_report(
    results: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    out_dir: str | os.PathLike[str],
    *,
    plots: bool = True,
) -> dict[str, Path]:
    """Write ``summary.md``, the plots (unless ``plots`` is False) and ``index.html`` into
    ``out_dir``; returns file name -> path. ReportError, before anything is written, when
    plots are asked for and matplotlib is not installed."""
    if plots:
        _figure_class()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = out / SUMMARY_FILE
    summary.write_text(summary_markdown(results), encoding="utf-8")
    written = {SUMMARY_FILE: summary}
    if plots:
        written |= {p.name: p for p in write_plots(results, out)}
    written[INDEX_FILE] = write_index(results, rows, out)
    return written


_SLOT = re.compile(r"@@(TITLE|RUN|SUMMARY|NOTES|PLOTS|TABLES|CONFIG|VERSIONS|HEAD|ROWS|COUNT)@@")

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
<header><h1>@@TITLE@@</h1></header>
<main>
<section class="top">
<div>
<h2>Run</h2>
@@RUN@@
<h2>Metrics</h2>
@@SUMMARY@@
@@NOTES@@
</div>
<div class="plots">@@PLOTS@@</div>
</section>
@@TABLES@@
<details><summary>Settings and versions</summary>
<h2>Settings</h2>
@@CONFIG@@
<h2>Versions</h2>
@@VERSIONS@@
</details>
<h2>Samples</h2>
<p class="controls"><label>filter by id or suite <input type="search" id="filter" autocomplete="off"></label>
<span id="shown">@@COUNT@@ of @@COUNT@@</span>
<span class="hint">click a column's heading to sort by it</span></p>
<table id="samples" class="grid">
<thead><tr>@@HEAD@@</tr></thead>
<tbody>
@@ROWS@@
</tbody>
</table>
</main>
<script>
@@JS@@
</script>
</body>
</html>
"""

_CSS = """
:root { color-scheme: light; --bad: #fde2e1; --good: #e3f6e5; --mute: #666; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
  background: #fafafa; }
header { padding: 10px 16px; background: #fff; border-bottom: 1px solid #ddd; }
h1 { font-size: 17px; margin: 0; word-break: break-all; }
h2 { font-size: 14px; margin: 16px 0 4px; }
main { padding: 4px 16px 24px; }
.top { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
.plots { display: flex; flex-wrap: wrap; gap: 8px; }
.plots figure { margin: 0; }
.plots img { max-width: 100%; height: auto; border: 1px solid #ddd; background: #fff; }
table.grid { border-collapse: collapse; background: #fff; }
table.grid th, table.grid td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
table.grid th { background: #f0f0f0; font-weight: 600; white-space: nowrap; }
table.kv th { text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.val, td.id { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 13px; word-break: break-all; }
td.right { background: var(--good); }
td.wrong { background: var(--bad); }
#samples thead th { cursor: pointer; user-select: none; }
#samples thead th.asc::after { content: " \\25B2"; }
#samples thead th.desc::after { content: " \\25BC"; }
.controls { display: flex; gap: 16px; align-items: center; }
#shown, .hint { color: var(--mute); }
details { margin-top: 16px; }
"""

_JS = """
"use strict";
(function () {
  const table = document.getElementById("samples");
  const body = table.tBodies[0];
  const rows = Array.prototype.slice.call(body.rows);
  const place = new Map(rows.map(function (r, i) { return [r, i]; }));  // ties keep the written order
  const shown = document.getElementById("shown");
  const filter = document.getElementById("filter");

  function key(row, col) {
    const text = row.cells[col].dataset.sort;
    const n = Number(text);
    return text !== "" && !Number.isNaN(n) ? n : String(text).toLowerCase();
  }
  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") return a - b;
    return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  }
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
    th.addEventListener("click", function () {
      const col = Number(th.dataset.col);
      const up = !th.classList.contains("asc");
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) { h.classList.remove("asc", "desc"); });
      th.classList.add(up ? "asc" : "desc");
      const order = rows.slice().sort(function (a, b) {
        return (up ? 1 : -1) * compare(key(a, col), key(b, col)) || place.get(a) - place.get(b);
      });
      order.forEach(function (r) { body.appendChild(r); });
    });
  });
  filter.addEventListener("input", function () {
    const q = filter.value.trim().toLowerCase();
    let n = 0;
    rows.forEach(function (r) {
      const hit = q === "" || (r.cells[0].textContent + " " + r.cells[1].textContent).toLowerCase().includes(q);
      r.hidden = !hit;
      if (hit) n += 1;
    });
    shown.textContent = n + " of " + rows.length;
  });
})();
"""

__all__ = [
    "BY_LENGTH_PLOT",
    "DIVERGENCE_MODES",
    "FIRST_DIVERGENCE_PLOT",
    "INDEX_FILE",
    "ROW_FIGURES",
    "SUMMARY_FILE",
    "ReportError",
    "format_interval",
    "format_percent",
    "label",
    "render_index",
    "summary_markdown",
    "title",
    "write_index",
    "write_plots",
    "write_report",
]
