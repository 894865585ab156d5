"""DirectorySource: top-level functions of a directory of .py files, with inputs."""

from __future__ import annotations

import ast
import bisect
import colorsys
import fractions
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("tree_sitter_python")
pytest.importorskip("hypothesis")

from training.data.sources.base import Skip, SourceProgram
from training.data.sources.directory import DirectorySource
from training.data.sources.directory.hints import value_generator as _strategy
from training.data.sources.errors import SourceError

REPO = Path(__file__).resolve().parent.parent


def write(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code).lstrip(), encoding="utf-8")
    return path


def collect(source: DirectorySource) -> tuple[list[SourceProgram], list[Skip]]:
    programs: list[SourceProgram] = []
    skips: list[Skip] = []
    for item in source.programs():
        (programs if isinstance(item, SourceProgram) else skips).append(item)
    return programs, skips


def entries(programs: list[SourceProgram], function: str) -> list[str | None]:
    return [p.entry for p in programs if p.id.rsplit("/", 1)[0].endswith(f":{function}")]


def run(program: SourceProgram) -> object:
    namespace: dict[str, object] = {}
    exec(program.source, namespace)
    assert program.entry is not None
    return eval(program.entry, namespace)


# --- inputs --------------------------------------------------------------------------------------


def test_doctest_examples_become_entries_as_written(tmp_path: Path) -> None:
    write(
        tmp_path,
        "mod.py",
        '''
        LIMIT = 10

        def add(a, b):
            """Add two numbers.

            >>> add(1, 2)
            3
            >>> add(  LIMIT, -1)
            9
            >>> mod.add(2, 3)
            5
            >>> add(
            ...     4, 5)
            9
            >>> x = 5
            >>> add(x, 1)
            6
            >>> other(3)
            >>> add(1, 2)
            3
            """
            return a + b
        ''',
    )
    programs, skips = collect(DirectorySource(str(tmp_path), examples_per_function=0))
    assert skips == []
    # single-line calls of this function only; `x` came from an earlier example; no duplicates
    assert entries(programs, "add") == ["add(1, 2)", "add(  LIMIT, -1)", "add(2, 3)"]
    by_entry = {p.entry: p for p in programs}
    assert "LIMIT = 10" in by_entry["add(  LIMIT, -1)"].source  # the example's names come along
    assert "LIMIT = 10" not in by_entry["add(1, 2)"].source
    assert [run(p) for p in programs] == [3, 9, 5]
    name = f"dir:{tmp_path.name}"
    assert [p.id for p in programs] == [f"{name}/mod.py:add/{n}" for n in range(3)]
    assert {p.origin for p in programs} == {name}
    assert len({p.function for p in programs}) == 1  # one function: one split
    assert programs[0].function.startswith("def add(a, b):")


ANNOTATED = """
def scale(xs: list[int], factor: int, label: str | None = None) -> list[int]:
    return [x * factor for x in xs]

def mixed(a: tuple[int, ...], b: dict[str, int], c: bool, d: float, e: bytes, f: set[str], g: "Optional[int]"):
    return a, b, c, d, e, f, g

def keyword_only(n: int, *, flag: bool, sep=",", **rest) -> str:
    return sep.join(["x"] * n) if flag else ""
"""


def test_annotated_parameters_get_seeded_hypothesis_inputs(tmp_path: Path) -> None:
    write(tmp_path, "typed.py", ANNOTATED)
    first, skips = collect(DirectorySource(str(tmp_path), seed=0))
    again, _ = collect(DirectorySource(str(tmp_path), seed=0))
    other_seed, _ = collect(DirectorySource(str(tmp_path), seed=1))
    assert skips == []
    assert first == again  # reproducible
    assert [p.entry for p in first] != [p.entry for p in other_seed]  # the seed decides
    for function in ("scale", "mixed", "keyword_only"):
        calls = entries(first, function)
        assert 1 < len(calls) <= 5
        assert len(set(calls)) == len(calls)
    for program in first:
        call = ast.parse(program.entry or "", mode="eval").body
        assert isinstance(call, ast.Call)
        for argument in [*call.args, *(k.value for k in call.keywords)]:
            ast.literal_eval(argument)  # every argument is a literal that round-trips
        run(program)
    assert all(e and e.startswith("scale([") for e in entries(first, "scale"))  # label keeps its default
    assert all(e and ", flag=" in e for e in entries(first, "keyword_only"))  # keyword-only by keyword
    assert all(e and "sep=" not in e for e in entries(first, "keyword_only"))


def test_inputs_do_not_depend_on_what_the_process_imported(tmp_path: Path) -> None:
    """Hypothesis mines constants from loaded local modules; the seed alone must decide."""
    write(tmp_path, "typed.py", ANNOTATED)
    here = [p.entry for p in DirectorySource(str(tmp_path), seed=5).programs() if isinstance(p, SourceProgram)]
    code = (
        "import json, sys\n"
        "from training.data.sources.directory import DirectorySource\n"
        "print(json.dumps([p.entry for p in DirectorySource(sys.argv[1], seed=5).programs()]))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == here


@pytest.mark.parametrize(
    ("annotation", "supported"),
    [
        ("int", True),
        ("list[str]", True),
        ("List[int]", True),
        ("tuple[int, str]", True),
        ("typing.Tuple[int, ...]", True),
        ("dict[str, list[int]]", True),
        ("Optional[dict[int, float]]", True),
        ("int | str | None", True),
        ("Union[int, bytes]", True),
        ("set[tuple[int, int]]", True),
        ("'str'", True),
        ("list", False),
        ("Node", False),
        ("Callable[[int], int]", False),
        ("dict[list[int], int]", False),  # unhashable keys
        ("set[list[int]]", False),
        ("list[int", False),
    ],
)
def test_annotation_strategies(annotation: str, supported: bool) -> None:
    assert (_strategy(annotation) is not None) == supported


def test_unannotated_parameters_are_guessed_from_their_use(tmp_path: Path) -> None:
    write(
        tmp_path,
        "guess.py",
        """
        def shout(text, times):
            return text.upper() * times

        def mean(values):
            return sum(values) / len(values) if values else 0.0

        def opaque(thing):
            return thing.frobnicate()

        def apply(f, x: int):
            return f(x)

        def constant():
            return 42
        """,
    )
    programs, skips = collect(DirectorySource(str(tmp_path)))
    for call in entries(programs, "shout"):
        assert call is not None
        text, times = ast.literal_eval(call[len("shout") :])
        assert isinstance(text, str) and isinstance(times, int)
    assert entries(programs, "mean")
    assert entries(programs, "constant") == ["constant()"]
    assert {s.id.rsplit(":", 1)[1]: s.reason for s in skips} == {"opaque": "no inputs", "apply": "no inputs"}


# --- what a program contains ---------------------------------------------------------------------


def test_a_program_is_the_function_plus_what_it_references(tmp_path: Path) -> None:
    write(
        tmp_path,
        "deps.py",
        '''
        """A module docstring."""
        from __future__ import annotations

        import json, math, re
        from collections import Counter, OrderedDict

        SCALE = 3
        UNUSED = 99


        class Point:
            def __init__(self, x: int, y: int) -> None:
                self.x, self.y = x, y

            def norm(self) -> float:
                return math.hypot(self.x, self.y)


        def unrelated():
            return UNUSED + len(OrderedDict())


        def helper(v: int) -> int:
            return v * SCALE + _inner(v)


        def _inner(v):
            return v + 1


        TABLE = []
        for _i in range(3):
            TABLE.append(_i * SCALE)


        def target(n: int) -> float:
            """Uses a class, a helper (and its helper and constant), a table and re."""
            counts = Counter(re.findall("a", "banana"))
            return Point(helper(n), TABLE[n % 3]).norm() + counts["a"]


        if __name__ == "__main__":
            print(target(2))
        ''',
    )
    programs, skips = collect(DirectorySource(str(tmp_path), examples_per_function=2))
    assert skips == []
    program = next(p for p in programs if p.id.endswith(":target/0"))
    source = program.source
    for needed in (
        "from __future__ import annotations",
        "import math, re",
        "from collections import Counter\n",
        "SCALE = 3",
        "class Point:",
        "def helper(",
        "def _inner(",
        "TABLE = []",
        "TABLE.append(_i * SCALE)",
        "def target(",
    ):
        assert needed in source, needed
    for unneeded in ("json", "OrderedDict", "UNUSED", "def unrelated", "__main__", "A module docstring"):
        assert unneeded not in source, unneeded
    positions = [source.index(s) for s in ("import math", "SCALE = 3", "class Point", "def helper", "def _inner")]
    assert positions == sorted(positions)  # file order
    assert source.rstrip().endswith('return Point(helper(n), TABLE[n % 3]).norm() + counts["a"]')
    assert program.function.startswith("def target(n: int) -> float:")
    for p in programs:
        run(p)
    helper = next(p for p in programs if p.id.endswith(":helper/0"))
    assert "class Point" not in helper.source and "SCALE = 3" in helper.source


# --- what is skipped -----------------------------------------------------------------------------


def test_every_skip_reason_is_counted(tmp_path: Path) -> None:
    write(
        tmp_path,
        "world.py",
        """
        import os
        from random import randint

        COUNT = 0


        def cwd(x: int) -> str:
            return os.getcwd()


        def roll(n: int) -> int:
            return randint(0, n)


        def clock(n: int) -> float:
            import time
            return time.time() * n


        def read(path: str) -> str:
            return open(path).read()


        def reads_via_helper(path: str) -> str:
            return read(path)


        def ask() -> str:
            return input()


        def bump(n: int) -> None:
            global COUNT
            COUNT += n


        def run_code(code: str) -> object:
            return eval(code)


        def opaque(thing):
            return thing.frobnicate()


        async def later(n: int) -> int:
            return n


        def shadows(input: str, time: int) -> str:
            return input * time


        def twice(n: int) -> int:
            return n


        def twice(n: int) -> int:
            return 2 * n
        """,
    )
    write(tmp_path, "broken.py", "def broken(:\n    return 1\n")
    (tmp_path / "latin1.py").write_bytes("def f(x: int):\n    return 'caf\xe9'\n".encode("latin-1"))
    (tmp_path / "dangling.py").symlink_to(tmp_path / "does-not-exist.py")
    programs, skips = collect(DirectorySource(str(tmp_path)))
    name = f"dir:{tmp_path.name}"
    assert {s.id: s.reason for s in skips} == {
        f"{name}/broken.py": "syntax error",
        f"{name}/dangling.py": "unreadable file",
        f"{name}/latin1.py": "not UTF-8",
        f"{name}/world.py:cwd": "uses os",
        f"{name}/world.py:roll": "uses random",
        f"{name}/world.py:clock": "uses time",
        f"{name}/world.py:read": "calls open()",
        f"{name}/world.py:reads_via_helper": "calls open()",
        f"{name}/world.py:ask": "calls input()",
        f"{name}/world.py:bump": "mutates globals",
        f"{name}/world.py:run_code": "calls eval()",
        f"{name}/world.py:opaque": "no inputs",
        f"{name}/world.py:later": "async function",
        f"{name}/world.py:twice": "redefined",
    }
    assert all(s.origin == name for s in skips)
    # a parameter named like a builtin or a module is not the builtin or the module
    assert {p.id.rsplit("/", 1)[0].rsplit(":", 1)[1] for p in programs} == {"shadows", "twice"}
    assert Counter(s.reason for s in skips)["calls open()"] == 2


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        DirectorySource(str(tmp_path / "nope"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SourceError):
        DirectorySource(str(tmp_path / "notes.txt"))


def test_walk_order_filters_and_single_files(tmp_path: Path) -> None:
    code = "def f(n: int) -> int:\n    return n\n"
    for rel in ("b.py", "a.py", "pkg/z.py", "pkg/tests/test_y.py", ".hidden/h.py", "pkg/__pycache__/c.py", "x.txt"):
        write(tmp_path, rel, code)
    programs, _ = collect(DirectorySource(str(tmp_path), examples_per_function=1))
    files = [p.id.split("/", 1)[1].rsplit(":", 1)[0] for p in programs]
    assert files == ["a.py", "b.py", "pkg/tests/test_y.py", "pkg/z.py"]
    limited, _ = collect(DirectorySource(str(tmp_path), examples_per_function=1, max_files=2))
    assert len(limited) == 2
    single = DirectorySource(str(tmp_path / "b.py"), examples_per_function=1)
    assert single.name == "dir:b"
    assert [p.id for p in single.programs() if isinstance(p, SourceProgram)] == ["dir:b/b.py:f/0"]


# --- the standard library ------------------------------------------------------------------------


def test_pure_standard_library_modules(tmp_path: Path) -> None:
    for module in (textwrap, fractions, colorsys, bisect):
        assert module.__file__ is not None
        shutil.copy(module.__file__, tmp_path)
    programs, skips = collect(DirectorySource(str(tmp_path)))
    assert len(programs) > 20, Counter(s.reason for s in skips)
    for program in programs:
        compile(program.source, program.id, "exec")
        compile(program.entry or "", program.id, "eval")
    ran = 0
    for program in programs[:100]:
        try:
            run(program)
        except Exception:  # some generated inputs raise: those become traces that raised
            continue
        ran += 1
    assert ran >= 0.8 * min(len(programs), 100)
    assert any(p.entry == 'shorten("Hello  world!", width=12)' for p in programs)  # `textwrap.shorten(...)`


def test_files_that_would_crash_or_hang_the_walk_are_skipped(tmp_path: Path) -> None:
    # code nested deeper than the scanner can recurse, a FIFO named *.py (reading it would
    # block forever), a NUL byte: each is skipped and counted, and the walk goes on
    write(tmp_path, "deep.py", "X = " + "(" * 3000 + "1" + ")" * 3000 + "\ndef f(a: int) -> int:\n    return a + X\n")
    write(tmp_path, "minus.py", "def g(a: int) -> int:\n    return a + " + "-" * 5000 + "1\n")
    os.mkfifo(tmp_path / "fifo.py")
    (tmp_path / "nul.py").write_bytes(b"def h(a: int) -> int:\n    return a + 1  # \x00\n")
    write(tmp_path, "ok.py", "def k(a: int) -> int:\n    return a + 1\n")
    source = DirectorySource(str(tmp_path), examples_per_function=2)
    programs, skips = collect(source)
    assert {p.id.rsplit("/", 1)[0] for p in programs} == {"dir:" + tmp_path.name + "/ok.py:k"}
    assert sorted((s.id.split("/", 1)[1], s.reason) for s in skips) == [
        ("deep.py", "nested too deeply"),
        ("fifo.py", "not a regular file"),
        ("minus.py", "nested too deeply"),
        ("nul.py", "syntax error"),
    ]
    assert (source.files_scanned, source.files_total) == (5, 5)
