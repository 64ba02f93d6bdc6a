"""Errors that reach analysts. Messages are German and name file, row, column,
value and what was expected, so a bad input can be fixed without a debugger."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class Problem:
    """One defect found in an input file."""

    file: str
    row: int | None = None  # row as the analyst sees it in the file (header = 1)
    column: str | None = None
    value: object = None
    expected: str = ""

    def describe(self) -> str:
        parts = [f"Datei {self.file}"]
        if self.row is not None:
            parts.append(f"Zeile {self.row}")
        if self.column is not None:
            parts.append(f"Spalte '{self.column}'")
        where = ", ".join(parts)
        value = "" if self.value is None else f": Wert '{self.value}'"
        return f"{where}{value} – erwartet: {self.expected}"


class KitError(Exception):
    """Base class for errors the kit reports to analysts."""


class InputError(KitError):
    """An input file is missing, unreadable or does not match its schema."""

    def __init__(self, problems: list[Problem] | Problem, *, max_listed: int = 20):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        lines = [p.describe() for p in self.problems[:max_listed]]
        rest = len(self.problems) - max_listed
        if rest > 0:
            lines.append(f"... und {rest} weitere Fehler")
        head = "Eingabedaten fehlerhaft" if len(self.problems) != 1 else "Eingabedaten fehlerhaft"
        super().__init__(f"{head} ({len(self.problems)} Fehler):\n" + "\n".join(lines))


class ParamsError(KitError):
    """A params file is missing a key, names an unknown key or has a bad value."""


def missing_file(path: str | Path, what: str) -> InputError:
    return InputError(Problem(file=str(path), expected=f"vorhandene Datei ({what})"))
