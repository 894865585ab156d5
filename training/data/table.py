"""Traces as rows of a table (Arrow / Parquet / Hugging Face datasets) and back.

One row per trace: the trace contract's fields (``program``, ``events``,
``outcome`` as nested columns, ``format``) plus where the program came from
(``origin``), its ``split``, and the keys that drive splitting and
de-duplication. An event's ``locals`` is stored as a JSON object string,
since the names differ from event to event.
"""

from __future__ import annotations

import json
import json.encoder
from operator import attrgetter
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
SPLITS = ("train", "validation", "test")  # the split column's values, in this order
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


class TraceBatch:
    """Rows of traces gathered column by column, turned into one Arrow table at once.

    Cheaper than a list of nested dicts: the events of every trace go into flat
    columns, and Arrow builds the nested ``events`` column from them and offsets.
    """

    _EVENT_FIELDS = ("kind", "line", "source_line", "func", "depth", "locals", "value", "stdout")

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.offsets = [0]
        self.columns: dict[str, list[Any]] = {name: [] for name in self._EVENT_FIELDS}

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, program: SourceProgram, split: str, trace: Trace) -> None:
        # column by column, each filled by one C-level extend (this runs for every
        # event of a build, on the host, beside the sandboxes)
        events = trace.events
        columns = self.columns
        for name, get in _GETTERS:
            columns[name].extend(map(get, events))
        encode = _encode_locals
        columns["locals"].extend([None if names is None else encode(names) for names in map(_LOCALS, events)])
        self.offsets.append(self.offsets[-1] + len(trace.events))
        self.rows.append(
            {
                "id": program.id,
                "origin": program.origin,
                "split": split,
                "split_key": program.split_key,
                "content_key": program.content_key,
                "format": trace.format,
                "program": dict(vars(trace.program)),
                "outcome": dict(vars(trace.outcome)),
            }
        )

    def to_table(self) -> pa.Table:
        events = pa.StructArray.from_arrays(
            [pa.array(self.columns[name], type=EVENT.field(name).type) for name in self._EVENT_FIELDS],
            fields=list(EVENT),
        )
        listed = pa.ListArray.from_arrays(pa.array(self.offsets, type=pa.int32()), events)
        head = pa.Table.from_pylist(self.rows, schema=SCHEMA.remove(SCHEMA.get_field_index("events")))
        return head.add_column(SCHEMA.get_field_index("events"), SCHEMA.field("events"), listed)

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]


_LOCALS = attrgetter("locals")
_GETTERS = tuple((name, attrgetter(name)) for name in TraceBatch._EVENT_FIELDS if name != "locals")


def _json_object_encoder() -> Any:
    """JSON text of a dict of str -> str, as fast as this machine allows.

    orjson where installed (the ``data`` extra: about 5x faster); else the
    standard library's C encoder, made once and reused (``JSONEncoder.encode``
    builds a new one on every call; the object's values are strings, so no
    circular check is needed). Both write UTF-8 text, not ``\\u`` escapes.
    """
    try:
        import orjson
    except ImportError:
        pass
    else:
        dumps = orjson.dumps

        def encode_fast(names: dict[str, str]) -> str:
            return dumps(names).decode()

        return encode_fast
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # an interpreter without the _json accelerator
        return json.JSONEncoder(ensure_ascii=False).encode
    make_chunks = c_make_encoder(
        None, json.JSONEncoder().default, json.encoder.encode_basestring, None, ": ", ", ", False, False, True
    )
    join = "".join

    def encode(names: dict[str, str]) -> str:
        return join(make_chunks(names, 0))

    return encode


_encode_locals = _json_object_encoder()


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
