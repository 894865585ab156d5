"""Traces as rows of a table (Arrow / Parquet / Hugging Face datasets) and back.

One row per trace: the trace contract's fields (``program``, ``events``,
``outcome`` as nested columns, ``format``) plus where the program came from
(``origin``), its ``split``, and the keys that drive splitting and
de-duplication. An event's ``locals`` is stored as a JSON object string,
since the names differ from event to event.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from tracer import Trace

from .sources import SourceProgram

EVENT = pa.struct(
    [
        ("kind", pa.string()),
        ("line", pa.int32()),
        ("source_line", pa.string()),
        ("func", pa.string()),
        ("depth", pa.int32()),
        ("locals", pa.string()),  # JSON object: name -> rendered value; null on return/exception
        ("value", pa.string()),
        ("stdout", pa.string()),
    ]
)
SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("origin", pa.string()),
        ("split", pa.string()),
        ("split_key", pa.string()),
        ("content_key", pa.string()),
        ("format", pa.int32()),
        (
            "program",
            pa.struct([("id", pa.string()), ("source", pa.string()), ("entry", pa.string()), ("python", pa.string())]),
        ),
        ("events", pa.list_(EVENT)),
        (
            "outcome",
            pa.struct(
                [
                    ("status", pa.string()),
                    ("value", pa.string()),
                    ("stdout", pa.string()),
                    ("stderr", pa.string()),
                    ("events", pa.int32()),
                    ("seconds", pa.float64()),
                    ("detail", pa.string()),
                ]
            ),
        ),
    ]
)


def trace_row(program: SourceProgram, split: str, trace: Trace) -> dict[str, Any]:
    """The row of one traced program."""
    data = trace.to_dict()
    for event in data["events"]:
        state = event.get("locals")
        event["locals"] = None if state is None else json.dumps(state, ensure_ascii=False)
    data["program"].setdefault("entry", None)
    return {
        "id": program.id,
        "origin": program.origin,
        "split": split,
        "split_key": program.split_key,
        "content_key": program.content_key,
        **data,
    }


def row_trace(row: dict[str, Any]) -> Trace:
    """The :class:`tracer.Trace` of a row (as read back from Parquet or ``datasets``)."""
    events = []
    for event in row["events"]:
        event = {k: v for k, v in event.items() if v is not None}
        if "locals" in event:
            event["locals"] = json.loads(event["locals"])
        events.append(event)
    program = {k: v for k, v in row["program"].items() if v is not None or k == "entry"}
    outcome = {k: v for k, v in row["outcome"].items() if v is not None}
    return Trace.from_dict({"format": row.get("format", 1), "program": program, "events": events, "outcome": outcome})


def table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)
