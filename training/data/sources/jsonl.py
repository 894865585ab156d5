"""Programs from a JSON Lines file of ``{"source": ..., "entry": ..., "id"?: ...}`` records.

Also home of the JSONL reading shared by the other file-based sources: lines
are read as bytes, so one bad line (not UTF-8, not JSON, not an object, too
long) is reported by its line number instead of failing the whole file.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

from .base import Skip, SourceProgram, text_problem
from .errors import SourceError

MAX_LINE_BYTES = 64 << 20  # a longer line is skipped unread: one record must not take the host's memory
_SKIP_CHUNK = 1 << 20  # how much of an over-long line is read (and dropped) at a time


def check_file(path: str | Path) -> Path:
    """``path`` as a Path when it names a readable regular file, else :class:`SourceError`."""
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceError(f"{p}: no such file")
    if p.is_dir():
        raise SourceError(f"{p}: is a directory, expected a JSONL file")
    if not p.is_file():
        raise SourceError(f"{p}: not a regular file")
    return p


def read_lines(path: Path, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | None]]:
    """(1-based line number, raw bytes) of each non-blank line; ``.gz`` files are gunzipped.

    A line longer than ``max_line_bytes`` comes as ``None``, never read into
    memory whole. A file that cannot be opened or read (permissions, corrupt
    gzip) raises :class:`SourceError` naming the path.
    """
    try:
        with gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb") as fh:
            number = 0
            while raw := fh.readline(max_line_bytes + 1):
                number += 1
                if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                    while raw and not raw.endswith(b"\n"):  # drop the rest of the line
                        raw = fh.readline(_SKIP_CHUNK)
                    yield number, None
                elif raw.strip():
                    yield number, raw
    except (OSError, EOFError) as exc:  # OSError includes gzip.BadGzipFile; EOFError: a truncated .gz
        raise SourceError(f"{path}: cannot read: {exc or type(exc).__name__}") from exc


def parse_line(raw: bytes | None, number: int) -> tuple[dict[str, object] | None, str]:
    """(the record, "") for a line holding a JSON object, else (None, a short reason)."""
    if raw is None:
        return None, f"line over {MAX_LINE_BYTES >> 20} MiB"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8"
    if number == 1:
        text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError):  # RecursionError: arrays nested thousands deep
        return None, "bad JSON"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    return record, ""


def read_records(path: Path) -> Iterator[tuple[int, dict[str, object] | None, str]]:
    """(line number, record, "") of each good line, (line number, None, why) of each bad one."""
    for number, raw in read_lines(path):
        record, reason = parse_line(raw, number)
        yield number, record, reason


def file_stem(path: Path) -> str:
    """``data/mine.jsonl`` and ``data/mine.jsonl.gz`` -> ``mine``."""
    name = path.name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name or path.name


class JsonlSource:
    """Programs from a JSONL file: one ``{"source": str, "entry": str | null, "id"?: str}`` per line.

    ``entry`` is a call expression run after ``source`` (``null``: ``source``
    is a script) and must be present. ``id`` defaults to
    ``jsonl:<stem>/<line number>``. A bad line (not UTF-8, not JSON, not an
    object, over :data:`MAX_LINE_BYTES`, a missing or mistyped field, text
    holding a lone surrogate or a NUL byte, a repeated id) becomes a
    :class:`Skip`; a missing or unreadable file raises :class:`SourceError`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = check_file(path)
        self.name = f"jsonl:{file_stem(self.path)}"

    def programs(self) -> Iterator[SourceProgram | Skip]:
        seen: set[str] = set()
        for number, record, reason in read_records(self.path):
            default_id = f"{self.name}/{number}"
            if record is None:
                yield Skip(default_id, self.name, reason)
                continue
            item = self._program(record, default_id)
            if isinstance(item, SourceProgram):
                if item.id in seen:
                    item = Skip(item.id, self.name, "duplicate id")
                else:
                    seen.add(item.id)
            yield item

    def _program(self, record: dict[str, object], default_id: str) -> SourceProgram | Skip:
        pid = record.get("id", default_id)
        if not isinstance(pid, str) or not pid:
            return Skip(default_id, self.name, "field id is not a non-empty string")
        problem = text_problem("id", pid)
        if problem is not None:
            return Skip(default_id, self.name, problem)
        for field in ("source", "entry"):
            if field not in record:
                return Skip(pid, self.name, f"missing field {field}")
        source, entry = record["source"], record["entry"]
        if not isinstance(source, str):
            return Skip(pid, self.name, "field source is not a string")
        if entry is not None and not isinstance(entry, str):
            return Skip(pid, self.name, "field entry is not a string or null")
        problem = text_problem("source", source) or (None if entry is None else text_problem("entry", entry))
        if problem is not None:
            return Skip(pid, self.name, problem)
        if entry is not None and not entry.strip():
            return Skip(pid, self.name, "field entry is empty")
        return SourceProgram(id=pid, source=source, entry=entry, origin=self.name, function=source)
