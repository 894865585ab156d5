"""The tracer under the other interpreters cwm supports, and on all of CRUXEval.

Each interpreter found (pyenv's 3.10 / 3.12 / 3.13, ``python3.X`` on PATH,
and any listed in ``CWM_EXTRA_PYTHONS``, colon-separated) runs
tests/cross_check.py in a subprocess on the catalogue of tests/programs.py
and on every CRUXEval sample, recording each with every backend it has:

- the catalogue's expected sequences and states hold there too (with the
  per-version expectations where CPython differs);
- where both backends exist (3.12+), they give identical traces on the
  catalogue (but for the programs whose traces differ by design,
  ``backend_specific``) and on all CRUXEval samples;
- no run leaves state behind (recursion limit, trace function, stdout).

On the host interpreter, every CRUXEval trace (default backend) must be valid
against the JSON Schema and return CRUXEval's expected output. Interpreters
or data that are absent are skipped.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tracer import load_schema, record

from .shared_data import CRUXEVAL

try:
    from tests import programs as catalogue
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    import programs as catalogue

# The fast suite runs what production runs: the catalogue under the sandbox's Python (3.13)
# with its backend (monitoring), and the backends' agreement there; the rest is slow.
SANDBOX_LIKE = (3, 13)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CROSS_CHECK = HERE / "cross_check.py"

PYENV = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
PYENV_PINNED = {10: "3.10.13", 12: "3.12.1", 13: "3.13.0"}
TIMEOUT = 300


# -- interpreters -----------------------------------------------------------------------------
def _probe(path: str) -> str | None:
    """The interpreter's version ("3.12.1"), or None when it cannot run or is too old."""
    try:
        out = subprocess.run(
            [path, "-c", "import sys; print('.'.join(map(str, sys.version_info[:3])))"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    version = out.stdout.strip()
    if out.returncode != 0 or not version or catalogue.parse_python(version) < (3, 10):
        return None
    return version


def _candidates() -> list[str]:
    paths: list[str] = []
    for minor, pinned in PYENV_PINNED.items():
        pinned_path = PYENV / pinned / "bin" / "python"
        found = [pinned_path] if pinned_path.exists() else sorted(PYENV.glob(f"3.{minor}.*/bin/python"))[-1:]
        if not found and (which := shutil.which(f"python3.{minor}")):
            found = [Path(which)]
        paths.extend(str(p) for p in found)
    extra = os.environ.get("CWM_EXTRA_PYTHONS", "")
    paths.extend(p for p in extra.split(os.pathsep) if p.strip())
    return paths


@functools.cache
def interpreters() -> list[tuple[str, str, tuple[int, int]]]:
    """(label, path, (major, minor)) of every usable interpreter, deduplicated."""
    found: list[tuple[str, str, tuple[int, int]]] = []
    seen: set[str] = set()
    for path in _candidates():
        resolved = str(Path(path).resolve())
        if resolved in seen:
            continue
        seen.add(resolved)
        version = _probe(path)
        if version is None:
            continue
        label = version if all(label != version for label, _, _ in found) else f"{version}@{path}"
        found.append((label, path, catalogue.parse_python(version)))
    return found


def backends_of(version: tuple[int, int]) -> list[str]:
    return ["settrace", "monitoring"] if version >= (3, 12) else ["settrace"]


def run_cross_check(path: str, programs: list[dict[str, Any]], full: bool) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
    out = subprocess.run(
        [path, str(CROSS_CHECK)],
        input=json.dumps({"programs": programs, "full": full}),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=str(REPO),
        env=env,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("CROSS_CHECK_JSON ")]
    assert out.returncode == 0 and lines, f"cross_check.py failed under {path}:\n{out.stderr[-4000:]}"
    return json.loads(lines[-1][len("CROSS_CHECK_JSON ") :])


@functools.cache
def catalogue_report(path: str, version: tuple[int, int]) -> dict[str, dict[str, Any]]:
    jobs = [p.job() for p in catalogue.CATALOGUE if version >= p.min_version]
    report = run_cross_check(path, jobs, full=True)
    return {result["name"]: result for result in report["results"]}


def cruxeval_rows() -> list[dict[str, Any]]:
    if not CRUXEVAL.exists():
        pytest.skip(f"no CRUXEval data at {CRUXEVAL}")
    with CRUXEVAL.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def cruxeval_jobs() -> list[dict[str, Any]]:
    return [
        {"name": row.get("id", f"sample_{i}"), "source": row["code"], "entry": f"f({row['input']})"}
        for i, row in enumerate(cruxeval_rows())
    ]


def _catalogue_cases() -> list[tuple[Any, ...]]:
    return [
        (label, path, version, program.name, backend)
        for label, path, version in interpreters()
        for program in catalogue.CATALOGUE
        if version >= program.min_version
        for backend in backends_of(version)
    ]


def _agreement_cases() -> list[tuple[Any, ...]]:
    return [
        (label, path, version, program.name)
        for label, path, version in interpreters()
        if version >= (3, 12)
        for program in catalogue.CATALOGUE
        if version >= program.min_version
    ]


# -- the catalogue elsewhere --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("label", "path", "version", "name", "backend"),
    [
        pytest.param(
            *case,
            id="-".join([case[0], case[3], case[4]]),
            marks=[] if case[2] == SANDBOX_LIKE and case[4] == "monitoring" else [pytest.mark.slow],
        )
        for case in _catalogue_cases()
    ]
    or [pytest.param(None, None, None, None, None, marks=pytest.mark.skip(reason="no other interpreter found"))],
)
def test_catalogue_under_interpreter(
    label: str, path: str, version: tuple[int, int], name: str, backend: str, request: pytest.FixtureRequest
) -> None:
    program = catalogue.BY_NAME[name]
    catalogue.mark_known_bugs(request, program.known_bugs(version, backend))
    result = catalogue_report(path, version)[name]
    errors = [e for e in result["errors"] if e.startswith(f"{backend}:")]
    assert not errors, errors[0]
    side_effects = [s for s in result["side_effects"] if s.startswith(f"{backend}:")]
    data = result["traces"][backend]
    problems = catalogue.check_trace(program, data, version, backend) + [f"left behind: {s}" for s in side_effects]
    assert not problems, f"{name} ({backend}, Python {label}):\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("label", "path", "version", "name"),
    [
        pytest.param(
            *case, id="-".join([case[0], case[3]]), marks=[] if case[2] == SANDBOX_LIKE else [pytest.mark.slow]
        )
        for case in _agreement_cases()
    ]
    or [pytest.param(None, None, None, None, marks=pytest.mark.skip(reason="no interpreter with sys.monitoring"))],
)
def test_catalogue_backends_agree(
    label: str, path: str, version: tuple[int, int], name: str, request: pytest.FixtureRequest
) -> None:
    program = catalogue.BY_NAME[name]
    if program.backend_specific:
        pytest.skip(f"the backends differ by design: {program.backend_specific}")
    catalogue.mark_known_bugs(request, program.known_disagreements(version, backends_of(version)))
    result = catalogue_report(path, version)[name]
    assert not result["errors"], result["errors"][0]
    assert result["mismatch"] is None, f"{name} under Python {label}: {result['mismatch']}"


# -- CRUXEval elsewhere ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(
    ("label", "path"),
    [pytest.param(label, path, id=label) for label, path, version in interpreters() if version >= (3, 12)]
    or [pytest.param(None, None, marks=pytest.mark.skip(reason="no interpreter with sys.monitoring"))],
)
def test_cruxeval_backends_agree(label: str, path: str) -> None:
    jobs = cruxeval_jobs()
    report = run_cross_check(path, jobs, full=False)
    assert report["backends"] == ["settrace", "monitoring"]
    assert len(report["results"]) == len(jobs)
    bad = [r for r in report["results"] if r["mismatch"] or r["errors"] or r["side_effects"]]
    details = "\n".join(f"{r['name']}: {r['mismatch'] or r['errors'] or r['side_effects']}" for r in bad[:10])
    assert not bad, f"{len(bad)} of {len(jobs)} CRUXEval samples differ under Python {label}:\n{details}"


# -- CRUXEval on the host ------------------------------------------------------------------------------
@pytest.mark.slow
def test_cruxeval_traces_are_valid_and_faithful() -> None:
    """Every CRUXEval trace (default backend) fits the schema and returns the expected output."""
    rows = cruxeval_rows()
    schema = load_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    invalid, wrong = [], []
    for i, row in enumerate(rows):
        name = row.get("id", f"sample_{i}")
        trace = record(row["code"], f"f({row['input']})", id=name)
        data = trace.to_dict()
        error = jsonschema.exceptions.best_match(validator.iter_errors(data))
        if error is not None:
            invalid.append(f"{name}: {error.message} at {list(error.path)}")
        problems = catalogue.structural_problems(data)
        if problems:
            invalid.append(f"{name}: {problems[0]}")
        if trace.outcome.status != "returned":
            wrong.append(f"{name}: {trace.outcome.status} {trace.outcome.value}")
            continue
        try:
            got, expected = ast.literal_eval(trace.outcome.value or ""), ast.literal_eval(row["output"])
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):  # capped, or not a literal
            continue
        if got != expected or type(got) is not type(expected):
            wrong.append(f"{name}: returned {trace.outcome.value}, CRUXEval says {row['output']}")
    assert not invalid, f"{len(invalid)} invalid traces, e.g.:\n" + "\n".join(invalid[:10])
    assert not wrong, f"{len(wrong)} runs differ from CRUXEval's output, e.g.:\n" + "\n".join(wrong[:10])
