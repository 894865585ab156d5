"""What a build says about itself in words: the dataset card (``README.md``, the hub's
front page of the dataset) and why a finished build holds no traces."""

from __future__ import annotations

from typing import Any

from tracer import STATUSES

from .table import SPLITS


def _renames_line(renames: int, made: int) -> list[str]:
    if not renames:
        return []
    return [
        f"- train also holds up to {renames} variants of each training program with its local variables renamed"
        f" ({made} made; ids ending ~rN; validation and test hold only the programs as their sources gave them)"
    ]


def in_status_order(counts: dict[str, int]) -> list[tuple[str, int]]:
    """Counts per outcome status in the contract's order (any unknown status last)."""
    order = {status: n for n, status in enumerate(STATUSES)}
    return sorted(counts.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def reasons(skipped: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in sorted(skipped.items(), key=lambda item: (-item[1], item[0])))


def why_empty(report: dict[str, Any]) -> str:
    """Why a finished build (its report, as saved in ``.cwm/report.json``) left no traces."""
    skipped = report.get("skipped") or {}
    found = report.get("found", 0)
    index, count = report.get("shard") or (0, 1)
    if not found and not skipped:
        return "the sources gave no programs at all"
    if not found:
        return (
            f"all {_programs(sum(skipped.values()))} the sources gave were skipped ({reasons(skipped)}); "
            "fix them and rerun the same command"
        )
    also = f"; {sum(skipped.values())} more were skipped ({reasons(skipped)})" if skipped else ""
    if count > 1 and report.get("other_shards", 0) >= found:
        return f"no program falls in shard {index}/{count} (other shards hold all {_programs(found)}){also}"
    return f"none of the {_programs(found)} the sources gave was traced{also}"


def _programs(n: int) -> str:
    return f"{n} program{'s' * (n != 1)}"


def dataset_card(
    total: int, summary: dict[str, Any], counts: dict[str, int], settings: dict[str, Any], report: dict[str, Any]
) -> str:
    by_origin, by_status, pythons = summary["origins"], summary["statuses"], summary["pythons"]
    lines = [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files:",
        *[f"  - split: {split}\n    path: data/{split}-*.parquet" for split in SPLITS if counts.get(split)],
        "tags:",
        "- code",
        "- execution-traces",
        "- cwm",
        "---",
        "",
        "# Python execution traces (cwm)",
        "",
        "Each row is one run of one Python program, recorded line by line by the",
        "cwm tracer in its sandbox: every event (`call`, `line`,",
        "`return`, `exception`) with the full local state before each line, return",
        "values, exceptions and printed output, and how the run ended. Load it with",
        '`datasets.load_dataset("parquet", data_dir=...)`; `training.data.row_trace`',
        "turns a row back into a `tracer.Trace` (then `tracer.render_cwm` gives the CWM text).",
        "",
        f"- traces: {total} ({', '.join(f'{s} {counts.get(s, 0)}' for s in SPLITS)})",
        f"- Python: {', '.join(pythons) or 'n/a'}",
        f"- limits: max_events {settings['max_events']}, wall {settings['wall_seconds']} s, "
        f"memory {settings['memory_mb']} MiB",
        f"- sources: {', '.join(settings['sources'])}",
        f"- splits by a hash of the normalized function source: {'/'.join(map(str, settings['split_percent']))} percent",
        *_renames_line(settings.get("renames", 0), report.get("renamed", 0)),
        "",
        "| origin | traces |",
        "|---|---|",
        *[f"| {origin} | {n} |" for origin, n in sorted(by_origin.items())],
        "",
        "| outcome | traces |",
        "|---|---|",
        *[f"| {status} | {n} |" for status, n in in_status_order(by_status)],
        "",
    ]
    if not total and report:
        lines.insert(lines.index("| origin | traces |") - 1, f"- no traces: {why_empty(report)}")
    skipped = report.get("skipped") or {}
    if skipped or report.get("duplicates"):
        lines += ["| not traced | programs |", "|---|---|"]
        lines += [f"| skipped: {reason} | {n} |" for reason, n in sorted(skipped.items())]
        if report.get("duplicates"):
            lines.append(f"| exact duplicates | {report['duplicates']} |")
        lines.append("")
    return "\n".join(lines)
