"""Drawn inputs of a directory's functions: a seed alone decides them, by a documented means."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pytest.importorskip("tree_sitter_python")

from training.data.sources.base import SourceProgram
from training.data.sources.directory import DirectorySource
from training.data.sources.directory.calls import generated_calls
from training.data.sources.directory.hints import value_generator

TYPED = """\
def scale(xs: list[int], factor: int, label: str | None = None) -> list[int]:
    return [x * factor for x in xs]

def keyword_only(n: int, *, flag: bool, sep=",", **rest) -> str:
    return sep.join(["x"] * n) if flag else ""
"""


class OnlyRandom(random.Random):
    """A Random whose every method but random() fails: their results may change between Python versions."""

    def __getattribute__(self, name: str) -> object:
        allowed = ("random", "seed", "__init__", "__class__", "getstate", "setstate", "gauss_next", "VERSION")
        if name in {m for m in dir(random.Random) if not m.startswith("__")} - set(allowed):
            raise AssertionError(f"generation used Random.{name}, whose sequence Python does not promise")
        return super().__getattribute__(name)


ANNOTATIONS = ("int", "float", "bool", "str", "bytes", "list[int]", "set[str]", "dict[str, int] | None")
MORE = ("tuple[int, ...]", "tuple[int, str]", "Optional[list[float]]")


@pytest.mark.parametrize("annotation", [*ANNOTATIONS, *MORE])
def test_generators_draw_only_from_random_the_one_sequence_python_promises(annotation: str) -> None:
    generate = value_generator(annotation)
    assert generate is not None
    rng, again = OnlyRandom(7), random.Random(7)
    assert [generate(rng) for _ in range(20)] == [generate(again) for _ in range(20)]


def test_the_same_seed_gives_the_same_calls_pinned() -> None:
    """Pinned values: a change to how inputs are drawn changes every dataset built from a directory, so it shows here."""
    from training.data.sources.directory.calls import Param

    params = [Param("n", "int", False, "positional"), Param("flag", "bool", False, "keyword_only")]
    calls = generated_calls("f", params, 3, seed=12345)
    assert calls == generated_calls("f", params, 3, seed=12345)
    assert calls != generated_calls("f", params, 3, seed=12346)
    assert calls == PINNED


PINNED = ["f(-980, flag=False)", "f(-263, flag=True)", "f(-677, flag=True)"]


def test_a_directory_gives_the_same_programs_for_the_same_seed(tmp_path: Path) -> None:
    (tmp_path / "typed.py").write_text(TYPED)
    first = [p for p in DirectorySource(tmp_path, seed=3).programs() if isinstance(p, SourceProgram)]
    again = [p for p in DirectorySource(tmp_path, seed=3).programs() if isinstance(p, SourceProgram)]
    other = [p for p in DirectorySource(tmp_path, seed=4).programs() if isinstance(p, SourceProgram)]
    assert first == again
    assert [p.entry for p in first] != [p.entry for p in other]
    assert len({p.entry for p in first}) == len(first) == 10  # five distinct calls of each function
