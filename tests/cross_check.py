"""Record programs with every tracer backend of this interpreter and report.

Standard library only: it runs under any interpreter cwm supports (3.10+),
with the ``tracer`` package of this checkout (found from this file's place).

Input (stdin): a JSON object ``{"programs": [...], "full": bool}`` or just a
JSON list of programs; a program is ``{"name", "source", "entry",
"max_events"?, "max_output"?}``.

Output (stdout): one line ``CROSS_CHECK_JSON {...}`` with

- ``python``: the interpreter version, ``backends``: the backends run;
- ``results``: per program ``name``, ``mismatch`` (where the backends'
  traces differ, ``None`` when identical or when there is one backend),
  ``errors`` (a backend that raised instead of returning a trace),
  ``side_effects`` (state the run left changed: recursion limit, trace
  function, sys.stdout, sys.monitoring tools, a recorder never freed), and with ``full`` the
  ``traces`` (backend -> :meth:`tracer.Trace.to_dict`, without
  ``outcome.seconds``).

The side effects are undone after each program so that one program's damage
does not spill into the next.

    python tests/cross_check.py < programs.json
"""

from __future__ import annotations

import gc
import json
import sys
import traceback
import weakref
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracer import Program, Recorder, available_backends

MARKER = "CROSS_CHECK_JSON "


def trace_dict(trace) -> dict:
    data = trace.to_dict()
    data["outcome"].pop("seconds", None)
    return data


def first_difference(a: dict, b: dict) -> str | None:
    if a == b:
        return None
    for i, (x, y) in enumerate(zip(a["events"], b["events"], strict=False)):
        if x != y:
            return f"event {i}: {json.dumps(x)} != {json.dumps(y)}"
    if len(a["events"]) != len(b["events"]):
        return f"{len(a['events'])} != {len(b['events'])} events"
    if a["outcome"] != b["outcome"]:
        return f"outcome: {json.dumps(a['outcome'])} != {json.dumps(b['outcome'])}"
    return "program differs"


def _monitoring_tools() -> list:
    mon = getattr(sys, "monitoring", None)
    if mon is None:
        return []
    return [mon.get_tool(i) for i in range(6)]


def run_one(program: dict, backends: list[str], full: bool) -> dict:
    kwargs = {"max_events": program.get("max_events", 10_000)}
    if program.get("max_output") is not None:
        kwargs["max_output"] = program["max_output"]
    traces: dict[str, dict] = {}
    errors: list[str] = []
    side_effects: list[str] = []
    for backend in backends:
        limit, tracefunc, stdout, stderr = sys.getrecursionlimit(), sys.gettrace(), sys.stdout, sys.stderr
        tools = _monitoring_tools()
        try:
            recorder = Recorder(Program("program", program["source"], program.get("entry")), backend=backend, **kwargs)
            freed = weakref.ref(recorder)
            trace = recorder.run()
            del recorder
            traces[backend] = trace_dict(trace)
            gc.collect()
            if freed() is not None:
                side_effects.append(f"{backend}: the run's recorder is never freed")
        except BaseException as exc:  # a tracer crash is a finding
            errors.append(f"{backend}: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        finally:
            if sys.getrecursionlimit() != limit:
                side_effects.append(f"{backend}: recursion limit {limit} -> {sys.getrecursionlimit()}")
                sys.setrecursionlimit(limit)
            if sys.gettrace() is not tracefunc:
                side_effects.append(f"{backend}: trace function left set")
                sys.settrace(tracefunc)
            if sys.stdout is not stdout or sys.stderr is not stderr:
                side_effects.append(f"{backend}: sys.stdout/sys.stderr not restored")
                sys.stdout, sys.stderr = stdout, stderr
            if _monitoring_tools() != tools:
                side_effects.append(f"{backend}: sys.monitoring tools {tools} -> {_monitoring_tools()}")
    mismatch = None
    if len(traces) == len(backends) > 1:
        first, *rest = backends
        for other in rest:
            diff = first_difference(traces[first], traces[other])
            if diff is not None:
                mismatch = f"{first} vs {other}: {diff}"
                break
    result = {"name": program["name"], "mismatch": mismatch, "errors": errors, "side_effects": side_effects}
    if full:
        result["traces"] = traces
    return result


def main() -> int:
    request = json.load(sys.stdin)
    if isinstance(request, list):
        request = {"programs": request}
    full = bool(request.get("full", False))
    backends = available_backends()
    real_stdout = sys.stdout
    results = [run_one(program, backends, full) for program in request["programs"]]
    report = {
        "python": ".".join(map(str, sys.version_info[:3])),
        "backends": backends,
        "results": results,
    }
    real_stdout.write(MARKER + json.dumps(report) + "\n")
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
