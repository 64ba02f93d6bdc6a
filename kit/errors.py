"""Errors that reach analysts. Messages are German and name file, row, column,
value and what was expected, so a bad input can be fixed without a debugger."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


EXCERPT_CHARS = 60  # at most this many characters of a file's content are quoted in a message


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """Text from an input file for an error message: control characters replaced, at most
    ``limit`` characters. Messages reach index.html, so they quote only a short, sanitised
    piece of what a file holds (a path pointing at the wrong file must not publish it)."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value) if ch not in "\x00\x7f")
    return text if len(text) <= limit else text[:limit - 1] + "…"


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
        value = "" if self.value is None else f": Wert '{excerpt(self.value)}'"
        return f"{where}{value} – erwartet: {self.expected}"


class KitError(Exception):
    """Base class for errors the kit reports to analysts.

    The message (``str(exc)``) is German and is all an analyst sees: the runner and
    ``index.html`` show it, never the class name. ``kind`` says what to fix (the
    runner records it in status.json); subclasses set their own.
    """

    kind = "kit"

    def __str__(self) -> str:
        # plain message also for subclasses that are KeyErrors too (KeyError would quote it)
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class InputError(KitError):
    """An input file is missing, unreadable or does not match its schema."""

    kind = "input"

    def __init__(self, problems: list[Problem] | Problem, *, max_listed: int = 20):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        lines = [p.describe() for p in self.problems[:max_listed]]
        rest = len(self.problems) - max_listed
        if rest > 0:
            lines.append(f"... und {rest} weitere Fehler")
        head = "Eingabedaten fehlerhaft" if len(self.problems) != 1 else "Eingabedaten fehlerhaft"
        super().__init__(f"{head} ({len(self.problems)} Fehler):\n" + "\n".join(lines))


class MissingFolderError(KitError):
    """A folder the params read input files from (``allowed_roots``, e.g. ../shared/realdata)
    does not exist: one German line naming the folder and the params file."""

    kind = "input"


class ParamsError(KitError, ValueError):
    """A params file (or codebook, measures catalogue) is missing a key, names an unknown
    key or has a bad value. Also a ValueError, as the builtin it replaces in compute code."""

    kind = "params"


class CodebookLookupError(ParamsError, KeyError):
    """An item or question id (from params or a rule) that the codebook does not have.
    Also a KeyError, as the builtin it replaces."""


class DataError(KitError, ValueError):
    """Input data that passed their schema but do not fit together or with the params,
    e.g. a table without any year, or a year or district the data do not contain."""

    kind = "data"


class ResultError(KitError):
    """A result of an earlier stage is missing (the earlier stage has not run or failed)."""

    kind = "result"


# Shown instead of an unexpected exception (a bug): the traceback goes to the log only.
INTERNAL_ERROR_TEXT = ("Interner Fehler in dieser Stufe (Programmfehler) – Details in logs/kernel.log. "
                       "Bitte den Fehler mit dieser Protokolldatei melden.")
INTERNAL_KIND = "internal"


def error_record(exc: BaseException) -> dict:
    """{"message": German text, "kind": ...} for an exception: the message of a KitError,
    a fixed German text (no class name, no traceback) for anything else."""
    if isinstance(exc, KitError):
        return {"message": str(exc), "kind": exc.kind}
    return {"message": INTERNAL_ERROR_TEXT, "kind": INTERNAL_KIND}


def missing_file(path: str | Path, what: str) -> InputError:
    return InputError(Problem(file=str(path), expected=f"vorhandene Datei ({what})"))
