"""CRUXEval: 800 short functions ``f`` with one input each (a local JSONL file or the Hub)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from .base import Skip, SourceProgram, text_problem
from .errors import SourceError
from .jsonl import check_file, read_records

HUB_ID = "cruxeval-org/cruxeval"
_FIELDS = ("id", "code", "input")
_FILE_SUFFIXES = (".jsonl", ".json", ".gz", ".jsonl.gz")


def _looks_like_path(arg: str) -> bool:
    """True when ``arg`` is meant as a file, not a Hub id such as ``owner/name``."""
    if Path(arg).expanduser().exists():
        return True
    return (
        arg.startswith(("/", "./", "../", "~", "\\"))
        or arg.endswith(_FILE_SUFFIXES)
        or arg.count("/") > 1
        or "\\" in arg
    )


class CruxEvalSource:
    """CRUXEval programs: ``source`` is the sample's ``code``, ``entry`` is ``f(<input>)``.

    ``path_or_hub`` is a local JSONL file (fields ``code``, ``input``,
    ``output``, ``id`` such as ``sample_0``) or, when it names no local file,
    a Hugging Face Hub dataset id loaded with ``datasets`` (its ``test``
    split). Ids are ``cruxeval/<sample id>``. A bad line (as for
    :class:`~training.data.sources.jsonl.JsonlSource`) or a row missing a field, or
    whose text holds a lone surrogate or a NUL byte, becomes a :class:`Skip`; a
    missing or unreadable file, or a Hub that cannot be reached, raises
    :class:`SourceError`.
    """

    name = "cruxeval"

    def __init__(self, path_or_hub: str | Path = HUB_ID) -> None:
        self.path: Path | None = None
        self.hub_id: str | None = None
        if isinstance(path_or_hub, Path) or _looks_like_path(path_or_hub):
            self.path = check_file(path_or_hub)
        else:
            self.hub_id = path_or_hub

    def programs(self) -> Iterator[SourceProgram | Skip]:
        if self.path is not None:
            rows: Iterable[tuple[int, Mapping[str, object] | None, str]] = read_records(self.path)
        else:
            rows = ((number, row, "") for number, row in enumerate(self._load_hub(), 1))
        for number, row, reason in rows:
            yield Skip(f"cruxeval/row_{number}", self.name, reason) if row is None else self._program(row, number)

    def _load_hub(self) -> Iterable[Mapping[str, object]]:
        assert self.hub_id is not None
        try:
            import datasets
            from datasets.exceptions import DatasetsError
        except ImportError as exc:
            raise SourceError(
                f"loading {self.hub_id!r} from the Hugging Face Hub needs the 'datasets' package;"
                " install it (pip install 'cwm[data]') or pass a local CRUXEval JSONL file"
            ) from exc
        try:
            return datasets.load_dataset(self.hub_id, split="test")
        except ConnectionError as exc:
            raise SourceError(
                f"could not reach the Hugging Face Hub to load {self.hub_id!r} ({exc});"
                " pass a local CRUXEval JSONL file instead"
            ) from exc
        except (OSError, ValueError, DatasetsError) as exc:
            raise SourceError(
                f"could not load {self.hub_id!r} from the Hugging Face Hub ({type(exc).__name__}: {exc});"
                " pass a local CRUXEval JSONL file instead"
            ) from exc

    def _program(self, row: Mapping[str, object], number: int) -> SourceProgram | Skip:
        sample = row.get("id")
        pid = f"cruxeval/{sample}" if isinstance(sample, str) and sample else f"cruxeval/row_{number}"
        for field in _FIELDS:
            if field not in row or row[field] is None:
                return Skip(pid, self.name, f"missing field {field}")
            problem = text_problem(field, row[field])
            if problem is not None:
                return Skip(pid if field != "id" else f"cruxeval/row_{number}", self.name, problem)
        code, arguments = str(row["code"]), str(row["input"])
        return SourceProgram(id=pid, source=code, entry=f"f({arguments})", origin=self.name, function=code)
