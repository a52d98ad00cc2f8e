"""The one error type of the data layer: every problem found, each naming its file."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


class DataWarning(UserWarning):
    """Input that was accepted after a conversion (grayscale, RGBA, 16-bit, 0/1-coded mask)."""


@dataclass(frozen=True)
class Problem:
    """One problem with one file or folder (``path`` is None for problems of no single file)."""

    path: Path | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path is not None else self.message


class DataError(ValueError):
    """Bad input data: lists every problem found, each with its file.

    ``problems`` holds the :class:`Problem` list; ``str(err)`` is a summary line followed by one
    line per problem, so a user sees everything to fix at once instead of one file per run.
    """

    def __init__(self, problems: Iterable[Problem] | Problem | str, context: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(None, problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        self.context = context
        super().__init__(self._format())

    def _format(self) -> str:
        n = len(self.problems)
        head = f"{n} data problem{'s' if n != 1 else ''}"
        if self.context:
            head += f" in {self.context}"
        if n == 1 and self.problems[0].path is None:
            return f"{head}: {self.problems[0].message}"
        return head + ":\n" + "\n".join(f"  - {p}" for p in self.problems)


def summarise(paths: Sequence[object], limit: int = 8) -> str:
    """``a, b, c and 12 more``: file lists in warnings stay readable for big datasets."""
    names = [str(p) for p in paths[:limit]]
    more = len(paths) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")
