"""YAML reading for every hand-written settings file (params, measures catalogue, codebooks).

PyYAML's own loaders let a second occurrence of a key silently win: a second
``privacy:`` block with ``min_cell: 1`` would switch off the small-number rule
without a word. :class:`UniqueKeyLoader` refuses every duplicate key, at any
level, and names the key path and both lines. It also records the line of every
key and list entry so that later checks (kit.params) can name the line of a bad
value.

Error messages never quote the file's content: a syntax error names line and
column only (PyYAML's own message contains an excerpt of the file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kit import inputs_log
from kit.errors import ParamsError

Loc = tuple  # key path: mapping keys and list indices (0-based)


class YamlFileError(ParamsError):
    """A settings file cannot be read as YAML (missing, encoding, syntax, duplicate key).

    Structured details for callers that report errors their own way (the codebook
    reports InputError problems): ``reason`` (missing | encoding | syntax | duplicate |
    not_mapping), ``line`` (1-based, where known), ``key_path`` and ``first_line``
    (duplicate keys), ``expected`` (German, what would be right).
    """

    def __init__(self, message: str, *, file: str = "", reason: str = "", line: int | None = None,
                 key_path: str = "", first_line: int | None = None, expected: str = ""):
        super().__init__(message)
        self.file, self.reason, self.line = file, reason, line
        self.key_path, self.first_line, self.expected = key_path, first_line, expected


def format_loc(loc: Loc) -> str:
    """Key path for messages: ``survey.weighting.margins[1]`` (list positions count from 1)."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part + 1}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys and records line numbers.

    ``self.lines`` maps a key path (tuple of keys and 0-based list indices) to
    the 1-based line of that key or list entry.
    """

    def __init__(self, stream, source: str = "<yaml>", what: str = "Datei"):
        super().__init__(stream)
        self.source, self.what = source, what
        self.lines: dict[Loc, int] = {}
        self._paths: dict[int, Loc] = {}

    # -- paths of nodes -------------------------------------------------------
    def _key_value(self, node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self.construct_object(node, deep=True)
        return None  # complex keys (lists, mappings as keys) are not used in settings files

    def index_paths(self, node, loc: Loc = ()) -> None:
        """Walk the node tree once: remember each node's key path and each key's line."""
        if id(node) in self._paths:  # an alias: first path wins
            return
        self._paths[id(node)] = loc
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self._key_value(key_node)
                if key is None:
                    continue
                child = (*loc, key)
                self.lines.setdefault(child, key_node.start_mark.line + 1)
                self.index_paths(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                child = (*loc, i)
                self.lines.setdefault(child, item.start_mark.line + 1)
                self.index_paths(item, child)

    # -- the duplicate check --------------------------------------------------
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # "<<: *anchor" merges are allowed to be overridden
                key = self._key_value(key_node)
                if key is None:
                    continue
                try:
                    hash(key)
                except TypeError:
                    continue
                line = key_node.start_mark.line + 1
                if key in seen:
                    loc = (*self._paths.get(id(node), ()), key)
                    path = format_loc(loc)
                    raise YamlFileError(
                        f"{self.what} {self.source}: Schlüssel '{path}' steht doppelt (Zeile {seen[key]} und "
                        f"Zeile {line}); bitte einen davon löschen (sonst gilt stillschweigend nur einer).",
                        file=self.source, reason="duplicate", line=line, key_path=path, first_line=seen[key],
                        expected=f"jeden Schlüssel nur einmal ('{path}' steht schon in Zeile {seen[key]})")
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


@dataclass
class YamlDocument:
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)
    source: str = ""

    def line_of(self, loc: Loc) -> int | None:
        """Line of the deepest known prefix of ``loc`` (the key itself, else its parent)."""
        loc = tuple(loc)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return None


_SYNTAX_HINT = ("häufige Ursachen: falsche Einrückung, fehlender Doppelpunkt oder Leerzeichen nach dem Schlüssel, "
                "Tabulator statt Leerzeichen, nicht geschlossene Klammer oder Anführungszeichen")


def parse_yaml(text: str, source: str = "<yaml>", what: str = "Datei") -> YamlDocument:
    """Parse YAML text with duplicate-key refusal; raises YamlFileError (German)."""
    try:
        loader = UniqueKeyLoader(text, source=source, what=what)
    except yaml.reader.ReaderError as exc:  # refused at once: a control character such as NUL
        line = text[:exc.position].count("\n") + 1 if isinstance(exc.position, int) else None
        raise YamlFileError(f"{what} {source} ist keine lesbare Textdatei: unzulässiges Steuerzeichen "
                            f"(Zeichen Nr. {exc.character:#x}) in Zeile {line}; ist es eine Textdatei in UTF-8?",
                            file=source, reason="syntax", line=line, expected="Text in UTF-8 ohne Steuerzeichen") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None, {}, source)
        loader.index_paths(node)
        data = loader.construct_document(node)
        return YamlDocument(data, dict(loader.lines), source)
    except YamlFileError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" in Zeile {mark.line + 1}, Spalte {mark.column + 1}" if mark is not None else ""
        raise YamlFileError(f"{what} {source} ist kein gültiges YAML: Syntaxfehler{where} ({_SYNTAX_HINT}).",
                            file=source, reason="syntax", line=(mark.line + 1) if mark is not None else None,
                            expected="gültiges YAML") from None
    finally:
        loader.dispose()


def read_yaml(path: str | Path, what: str = "Datei", *, require_mapping: bool = True,
              encoding: str = "utf-8-sig") -> YamlDocument:
    """Read a YAML settings file (UTF-8, BOM allowed) with duplicate-key refusal.

    ``what`` names the kind of file in messages, e.g. "Parameterdatei",
    "Maßnahmenkatalog", "Codebuch". An empty file gives ``{}`` (or None when
    ``require_mapping`` is false).
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise YamlFileError(f"{what} {source} nicht gefunden.", file=source, reason="missing",
                            expected="vorhandene Datei")
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise YamlFileError(f"{what} {source}: Zeile {line} ist nicht in UTF-8 gespeichert; bitte die Datei "
                            "im Editor als UTF-8 speichern.", file=source, reason="encoding", line=line,
                            expected="Text in UTF-8") from None
    doc = parse_yaml(text, source, what)
    inputs_log.note_yaml(path, what, bom=path.read_bytes()[:3] == b"\xef\xbb\xbf")  # kit.inputs_log
    if doc.data is None and require_mapping:
        doc.data = {}
    if require_mapping and not isinstance(doc.data, dict):
        raise YamlFileError(f"{what} {source}: erwartet auf oberster Ebene eine Zuordnung (Schlüssel: Wert), "
                            "z. B. 'name: …' in der ersten Zeile.", file=source, reason="not_mapping",
                            expected="Zuordnung (Schlüssel: Wert) auf oberster Ebene")
    return doc
