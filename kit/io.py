"""Reading input files as analysts hand them over.

Tables are read as text first (every cell a string, nothing guessed), so that
`kit.schemas` can convert and check each value and name the exact cell when
something is wrong. German conventions are recognised: `;` separators, decimal
commas, cp1252, UTF-8 with BOM, UTF-16 with BOM (Excel "Unicode-Text"); Excel workbooks
are recognised by content, whatever their name. What a reader assumed and repaired is
noted per file in :mod:`kit.inputs_log`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from kit import inputs_log
from kit.errors import InputError, Problem, excerpt, missing_file

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
GEO_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp"}
TARGET_CRS = "EPSG:25833"  # ETRS89 / UTM 33N, the usual CRS of Saxon authorities

# Typical signs of UTF-8 text that was decoded as cp1252 and saved again.
_MOJIBAKE = ("Ã¤", "Ã¶", "Ã¼", "ÃŸ", "Ã„", "Ã–", "Ãœ", "â€“", "â€ž")


def decode_text(raw: bytes, path: str | Path) -> tuple[str, str]:
    """Decode bytes as UTF-16 (from its BOM), UTF-8 (with or without BOM), else cp1252.

    Returns (text, encoding): encoding is "utf-16-le"/"utf-16-be" (Excel's "Unicode-Text",
    always with BOM), "utf-8-sig" (BOM removed), "utf-8" or "cp1252". Raises InputError for
    an empty file, bytes that are none of these, NUL bytes (a binary file or UTF-16 without
    BOM), and doubly encoded text (UTF-8 read as cp1252 and saved again).
    """
    for bom, encoding in UTF16_BOMS.items():
        if raw.startswith(bom) and not raw.startswith(b"\xff\xfe\x00\x00"):  # (UTF-32 LE: refused below)
            try:
                text = raw[2:].decode(encoding, errors="strict")
            except UnicodeDecodeError as exc:
                raise InputError(Problem(
                    file=str(path), row=raw[:exc.start + 2].count("\n".encode(encoding)) + 1,
                    value=f"Byte-Position {exc.start + 3} der Datei",
                    expected=("Text in UTF-16 (die Datei beginnt mit einer UTF-16-Kennung, ist aber an dieser "
                              "Stelle beschädigt oder abgeschnitten; in Excel erneut als 'CSV UTF-8' speichern)"),
                )) from None
            _check_text(text, path)
            return text, encoding
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            text, encoding = raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
        except UnicodeDecodeError as bom_error:  # a BOM says UTF-8: name the byte that is not
            raise encoding_error(path, raw, bom_error.start + 3, "UTF-8 (mit BOM)") from None
    else:
        _check_nul(raw, path)
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as utf8_error:
            try:
                text, encoding = raw.decode("cp1252"), "cp1252"
            except UnicodeDecodeError as cp1252_error:
                # Name the byte of the encoding the file evidently uses: UTF-8 when the bytes
                # before the first UTF-8 error hold UTF-8 umlauts etc., else Windows-1252
                # (whose few undefined bytes, e.g. 0x81, 0x8d, 0x90, then fail).
                utf8_like = any(b >= 0x80 for b in raw[: utf8_error.start])
                pos = utf8_error.start if utf8_like else cp1252_error.start
                raise encoding_error(path, raw, pos, "UTF-8" if utf8_like else "Windows-1252") from None
            if any(marker in text for marker in _MOJIBAKE):
                # UTF-8 umlauts read as Windows-1252: a UTF-8 file with one broken byte
                raise encoding_error(path, raw, utf8_error.start, "UTF-8") from None
    _check_text(text, path)
    return text, encoding


UTF16_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}


def _check_nul(raw: bytes, path: str | Path) -> None:
    """NUL bytes never occur in a UTF-8 or Windows-1252 text table: the file is binary, or
    UTF-16/UTF-32 without its BOM."""
    pos = raw.find(b"\x00")
    if pos < 0:
        return
    raise InputError(Problem(
        file=str(path), row=raw[:pos].count(b"\n") + 1, value=f"Null-Byte an Byte-Position {pos + 1} der Datei",
        expected=("eine Text-Tabelle (CSV) in UTF-8, Windows-1252 oder UTF-16 mit Kennung (BOM); die Datei ist "
                  "binär oder in UTF-16/UTF-32 ohne Kennung gespeichert – in Excel als 'CSV UTF-8' oder .xlsx "
                  "speichern")))


def _check_text(text: str, path: str | Path) -> None:
    """After decoding: refuse an empty file, NUL characters and doubly encoded umlauts."""
    if not text.strip().strip("\ufeff").strip():
        raise InputError(Problem(file=str(path), value="Datei ist leer",
                                 expected="eine Tabelle mit Kopfzeile und Datenzeilen"))
    pos = text.find("\x00")
    if pos >= 0:
        raise InputError(Problem(
            file=str(path), row=text.count("\n", 0, pos) + 1, value="Null-Zeichen im Text",
            expected="eine Text-Tabelle ohne Null-Zeichen (binäre Datei oder falsche Kodierung?)"))
    for marker in _MOJIBAKE:
        pos = text.find(marker)
        if pos >= 0:
            line = text.count("\n", 0, pos) + 1
            raise InputError(
                Problem(
                    file=str(path),
                    row=line,
                    value=text[max(0, pos - 10) : pos + 12].strip(),
                    expected=(
                        "korrekt kodierte Umlaute (die Datei wurde offenbar doppelt "
                        "kodiert: UTF-8 als Windows-1252 gelesen und neu gespeichert)"
                    ),
                )
            )


def encoding_error(path: str | Path, raw: bytes, pos: int, encoding: str) -> InputError:
    """InputError for an undecodable byte: file, row (line), byte position and the byte."""
    line_start = raw.rfind(b"\n", 0, pos) + 1
    line = raw[:pos].count(b"\n") + 1
    column = pos - line_start + 1
    return InputError(Problem(
        file=str(path),
        row=line,
        value=f"Byte 0x{raw[pos:pos + 1].hex()} an Byte-Position {pos + 1} der Datei ({column}. Byte der Zeile)",
        expected=(f"Text in UTF-8 oder Windows-1252 (cp1252); die Datei sieht nach {encoding} aus, aber dieses "
                  f"Byte ist dort ungültig (Datei beschädigt oder gemischt kodiert? In einem Editor öffnen und "
                  f"als UTF-8 speichern)"),
    ))


def sniff_separator(text: str) -> str:
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
    except csv.Error:
        counts = {sep: sample.count(sep) for sep in ";,\t"}
        return max(counts, key=counts.get)


# ---------------------------------------------------------------------------
# Tables (CSV, XLSX)
# ---------------------------------------------------------------------------

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old Excel .xls (and other MS Office files)
XLS_SUFFIXES = {".xls"}
HEADER_SEARCH_ROWS = 30  # the header is looked for in this many rows when notes precede it
SEPARATOR_NAMES = {";": "Semikolon", ",": "Komma", "\t": "Tabulator", "|": "senkrechter Strich"}
# a text cell that may be a number with separators (ambiguity is decided in kit.schemas)
_NUMBER_LIKE = re.compile(r"^\s*[+\-\u2212]?[\d\s\u00a0\u202f]*[.,][\d\s.,\u00a0\u202f]*$")


def content_kind(raw: bytes) -> str:
    """What the bytes are, whatever the file name: "xlsx", "xls", "ods", "zip" or "text"."""
    if raw.startswith(OLE_MAGIC):
        return "xls"
    if raw.startswith(ZIP_MAGIC):
        import zipfile

        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                names = set(zf.namelist())
                if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
                    return "xlsx"
                if "mimetype" in names and b"opendocument.spreadsheet" in zf.read("mimetype"):
                    return "ods"
        except Exception:  # a damaged archive: reported as unreadable workbook below
            return "xlsx"
        return "zip"
    return "text"


def _norm_header(text) -> str:
    """Column name for matching: lower case, umlauts as ae/oe/ue/ss, letters and digits only."""
    s = str(text or "").casefold()
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        s = s.replace(a, b)
    return re.sub(r"[^0-9a-z]", "", s)


@dataclass
class _Grid:
    """Cells of a file before the header is known: per row its file row (1-based) and cells
    (text or None); ``text`` marks the cells that were text in a workbook (None for CSV)."""

    lines: list[int]
    cells: list[list[str | None]]
    text: list[list[bool]] | None = None


def _text_grid(text: str, sep: str, path: Path, skip_lines: int) -> _Grid:
    lines, cells = [], []
    reader = csv.reader(io.StringIO(text), delimiter=sep, skipinitialspace=True)
    last = 0
    try:
        for row in reader:
            start, last = last + 1, reader.line_num
            if start <= skip_lines:
                continue
            if not row or all(not c.strip() for c in row):
                continue
            lines.append(start)
            cells.append([c if c.strip() else None for c in row])
    except csv.Error as exc:
        raise InputError(Problem(file=str(path), row=reader.line_num, value=str(exc)[:80],
                                 expected="eine lesbare Text-Tabelle (CSV)")) from None
    return _Grid(lines, cells)


def _excel_cell(value) -> tuple[str | None, bool]:
    """A workbook cell as (text, is_text_cell)."""
    import datetime as _dt

    if value is None:
        return None, False
    if isinstance(value, str):
        return (value if value.strip() else None), True
    if isinstance(value, bool):
        return str(int(value)), False
    if isinstance(value, int):
        return str(value), False
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None, False
        return (str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)), False
    if isinstance(value, _dt.datetime):
        return (value.date().isoformat() if value.time() == _dt.time() else value.isoformat()), False
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat(), False
    return str(value), True


def _open_workbook(path: Path, raw: bytes, kind: str):
    """(sheet names, function name -> _Grid) for an .xlsx (openpyxl) or, with xlrd, an .xls."""
    if kind == "xls":
        import importlib.util

        if importlib.util.find_spec("xlrd") is None:
            raise InputError(Problem(file=str(path), value="altes Excel-Format (.xls, Excel 97–2003)",
                                     expected=("eine Excel-Datei im Format .xlsx: die Datei in Excel öffnen und "
                                               "unter 'Datei > Speichern unter' als 'Excel-Arbeitsmappe (.xlsx)' "
                                               "speichern (das alte .xls-Format liest das Kit nicht)")))
        try:
            book = pd.ExcelFile(io.BytesIO(raw), engine="xlrd")
            names = [str(n) for n in book.sheet_names]
        except Exception as exc:
            raise _unreadable_workbook(path, exc) from None

        def grid(name: str) -> _Grid:
            frame = book.parse(name, header=None, dtype=object)
            cells, text = [], []
            for values in frame.itertuples(index=False):
                pairs = [_excel_cell(None if (isinstance(v, float) and v != v) else v) for v in values]
                cells.append([p[0] for p in pairs])
                text.append([p[1] for p in pairs])
            return _Grid(list(range(1, len(cells) + 1)), cells, text)

        return names, grid
    if kind in ("ods", "zip"):
        what = "OpenDocument-Tabelle (.ods)" if kind == "ods" else "ZIP-Archiv"
        raise InputError(Problem(file=str(path), value=what, expected=(
            "eine Excel-Datei (.xlsx) oder eine CSV-Datei: die Datei in der Tabellenkalkulation öffnen und als "
            ".xlsx oder CSV speichern")))
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        names = [str(n) for n in book.sheetnames]
    except Exception as exc:  # openpyxl raises many types for broken files
        raise _unreadable_workbook(path, exc) from None

    def grid(name: str) -> _Grid:
        ws = book[name]
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()  # some writers state too small a used range
        lines, cells, text = [], [], []
        try:
            for i, values in enumerate(ws.iter_rows(min_row=1, values_only=True), start=1):
                pairs = [_excel_cell(v) for v in values]
                if all(p[0] is None for p in pairs):
                    continue
                lines.append(i)
                cells.append([p[0] for p in pairs])
                text.append([p[1] for p in pairs])
        except Exception as exc:
            raise _unreadable_workbook(path, exc) from None
        return _Grid(lines, cells, text)

    return names, grid


def _unreadable_workbook(path: Path, exc: Exception) -> InputError:
    return InputError(Problem(file=str(path), value=excerpt(type(exc).__name__),
                              expected="eine lesbare Excel-Datei (.xlsx); beschädigt oder kennwortgeschützt?"))


def _choose_sheet(path: Path, names: list[str], sheet) -> str:
    if isinstance(sheet, int) and not isinstance(sheet, bool) and 0 <= sheet < len(names):
        return names[sheet]
    if isinstance(sheet, str) and sheet in names:
        return sheet
    listed = ", ".join(f"'{n}'" for n in names)
    raise InputError(Problem(file=str(path), column="sheet", value=sheet, expected=(
        f"ein Tabellenblatt der Datei: {listed} (in den Parametern als Name, z. B. sheet: \"{names[0]}\", "
        f"oder als Nummer ab 0)")))


def _find_header(grid: _Grid, expected) -> int | None:
    """Index of the first row (within HEADER_SEARCH_ROWS) naming every expected column."""
    want = {_norm_header(e) for e in expected}
    if not want:
        return 0
    for i, row in enumerate(grid.cells[:HEADER_SEARCH_ROWS]):
        if want <= {_norm_header(c) for c in row if c is not None}:
            return i
    return None


def _is_numbering(values: list[str | None]) -> bool:
    """1, 2, 3, ... (or 0, 1, 2, ...): a running number, not data."""
    if not values or any(v is None or not re.fullmatch(r"\d+", v.strip()) for v in values):
        return False
    numbers = [int(v) for v in values]
    return numbers[0] in (0, 1) and numbers == list(range(numbers[0], numbers[0] + len(numbers)))


def read_table(path: str | Path, *, skip_lines: int = 0, sheet: str | int = 0, expected=(), optional=(),
               required=None, numbers: dict | None = None, input: str = "") -> pd.DataFrame:
    """Read a CSV or XLSX file with every cell as text (missing cells as <NA>).

    The kind is recognised by content: an Excel workbook named .csv is read as Excel, a text
    table named .xlsx as text (both recorded); an old .xls asks to be saved as .xlsx.

    - ``expected``: column names the caller needs. Used to find the header below lines of
      notes, to match a column name spelt with umlauts/transliterated or in other case, and to
      name every sheet of a workbook whose chosen sheet does not have them.
    - ``optional``: further column names the caller reads when present (matched in other
      spellings like ``expected``, so that an optional column is not silently lost).
    - ``required``: columns whose cells must be filled. A line with fewer fields than the
      header is an error naming the row, unless every missing field belongs to a column not in
      ``required`` (None: every column counts as required); then they are read as empty.
    - ``numbers``: the number convention stated in the params, {decimal, thousands}.

    Also refused: an empty file, a table without data rows, duplicated column names, a line
    with more (non-empty) fields than the header. What was assumed and repaired is noted in
    :mod:`kit.inputs_log`. ``df.attrs``: source, encoding, separator, decimal, numbers (the
    convention for :mod:`kit.schemas`), sheet, header_row and ``first_data_row`` (row =
    index + first_data_row is the file row of a record).
    """
    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Tabelle")
    if path.is_dir():
        raise InputError(Problem(file=str(path), expected="eine Datei (angegeben ist ein Ordner)"))
    raw = path.read_bytes()
    suffix = path.suffix.lower()
    kind = content_kind(raw)
    excel_suffix = suffix in EXCEL_SUFFIXES or suffix in XLS_SUFFIXES
    inputs_log.note(path, input=input or None)
    if kind != "text":
        if not excel_suffix:
            inputs_log.repair(path, "excel_content", 1, suffix or "-")
        grid, attrs = _read_workbook(path, raw, kind, sheet, expected)
    elif suffix in CSV_SUFFIXES or excel_suffix:
        if excel_suffix:
            inputs_log.repair(path, "text_content", 1, suffix)
        grid, attrs = _read_text(path, raw, skip_lines, expected)
    else:
        raise InputError(
            Problem(file=str(path), value=path.suffix or "(keine Endung)",
                    expected="CSV (.csv) oder Excel (.xlsx)")
        )
    return _frame(path, grid, attrs, expected, optional, required, numbers)


def _read_text(path: Path, raw: bytes, skip_lines: int, expected) -> tuple[_Grid, dict]:
    text, encoding = decode_text(raw, path)
    if text.startswith("\ufeff"):
        text = text[1:]
    if encoding.startswith("utf-16") or encoding == "utf-8-sig":
        inputs_log.repair(path, "bom_removed", 1, encoding)
    body = "\n".join(text.splitlines()[skip_lines:])
    sep = sniff_separator(body)
    grid = _text_grid(text, sep, path, skip_lines)
    if expected and _find_header(grid, expected) is None:
        # notes above the header can mislead the sniffer: take the separator that yields the header
        for other in (";", ",", "\t", "|"):
            if other != sep:
                candidate = _text_grid(text, other, path, skip_lines)
                if _find_header(candidate, expected) is not None:
                    sep, grid = other, candidate
                    break
    inputs_log.note(path, format="csv", encoding=encoding, separator=sep)
    return grid, {"encoding": encoding, "separator": sep, "decimal": "," if sep == ";" else ".", "sheet": None,
                  "kind": "csv"}


def _read_workbook(path: Path, raw: bytes, kind: str, sheet, expected) -> tuple[_Grid, dict]:
    names, load = _open_workbook(path, raw, kind)
    if not names:
        raise _unreadable_workbook(path, ValueError("keine Tabellenblätter"))
    chosen = _choose_sheet(path, names, sheet)
    grid = load(chosen)
    inputs_log.note(path, format=kind, encoding=kind, sheet=chosen, sheets=list(names))
    if expected and _find_header(grid, expected) is None and len(names) > 1:
        having = [n for n in names if n != chosen and _find_header(load(n), expected) is not None]
        listed = ", ".join(f"'{n}'" for n in names)
        hint = (f"; die erwarteten Spalten stehen im Blatt '{having[0]}' – in den Parametern wählen mit "
                f"sheet: \"{having[0]}\"" if having else
                "; das Blatt mit den Daten in den Parametern wählen, z. B. sheet: \"Daten\" (Name) oder sheet: 1 "
                "(Nummer ab 0)")
        missing = ", ".join(str(e) for e in expected)
        raise InputError(Problem(file=str(path), column=f"Tabellenblatt '{chosen}'", value=f"Blätter: {listed}",
                                 expected=f"die Spalten {missing} im gelesenen Tabellenblatt{hint}"))
    if not grid.cells:
        raise InputError(Problem(file=str(path), column=f"Tabellenblatt '{chosen}'", value="Tabellenblatt ist leer",
                                 expected="eine Tabelle mit Kopfzeile und Datenzeilen"))
    return grid, {"encoding": kind, "separator": None, "decimal": ".", "sheet": chosen, "kind": kind}


def _frame(path: Path, grid: _Grid, attrs: dict, expected, optional, required, numbers) -> pd.DataFrame:
    """The table below the header as text cells, checked for shape (see read_table)."""
    src = str(path)
    if not grid.cells:
        raise InputError(Problem(file=src, value="Datei ist leer", expected="eine Tabelle mit Kopfzeile und Datenzeilen"))
    h = _find_header(grid, expected)
    if h is None:
        h = 0  # the missing columns are named by kit.schemas.validate_table
    header_line = grid.lines[h]
    if h > 0:
        inputs_log.repair(path, "header_below_notes", 1, header_line)
    header = [("" if c is None else str(c).strip()) for c in grid.cells[h]]
    rows = grid.cells[h + 1:]
    lines = grid.lines[h + 1:]
    texts = grid.text[h + 1:] if grid.text is not None else None
    inputs_log.note(path, header_row=header_line)
    problems: list[Problem] = []

    # column names spelt differently from what the kit expects (umlauts, case, spaces)
    wanted = {_norm_header(e): str(e) for e in [*optional, *expected]}
    present = set(header)
    for j, name in enumerate(header):
        target = wanted.get(_norm_header(name))
        if target is not None and name != target and target not in present:
            inputs_log.repair(path, "header_spelling", 1, f"{name}={target}")
            header[j] = target
            present.add(target)

    width = len(header)
    # R-style row names: the header has one field fewer than every data line, which starts with 1, 2, 3 ...
    if rows and all(len(r) == width + 1 for r in rows) and _is_numbering([r[0] for r in rows]):
        rows = [r[1:] for r in rows]
        texts = [t[1:] for t in texts] if texts is not None else None
        inputs_log.repair(path, "numbering_column", 1, "")
    if texts is not None:  # workbook: a cell right of the header belongs to a column without heading
        width = max([width, *(len(r) for r in rows)])
        header += [""] * (width - len(header))
    else:
        required_norm = None if required is None else {_norm_header(c) for c in required}
        filled = [any(len(r) > j and r[j] is not None for r in rows) for j in range(width)]
        short, first_short = 0, None
        for k, (line, r) in enumerate(zip(lines, rows)):
            if len(r) > width:
                if any(c is not None for c in r[width:]):  # empty ones are trailing separators
                    sep = SEPARATOR_NAMES.get(attrs.get("separator"), attrs.get("separator"))
                    problems.append(Problem(file=src, row=line, value=f"{len(r)} Felder", expected=(
                        f"{width} Felder wie die Kopfzeile (Trennzeichen {sep}); ein Trennzeichen zu viel oder "
                        f"ein Text mit Trennzeichen ohne Anführungszeichen?")))
                rows[k] = r[:width]
            elif len(r) < width:
                missing = [header[j] for j in range(len(r), width) if header[j] and filled[j]]
                needed = [m for m in missing if required_norm is None or _norm_header(m) in required_norm]
                if needed:
                    problems.append(Problem(file=src, row=line, column=needed[0], value=f"{len(r)} Felder", expected=(
                        f"{width} Felder wie die Kopfzeile; die Zeile endet vor der Spalte '{needed[0]}' "
                        f"(abgeschnittene Zeile? es fehlen: {', '.join(needed)})")))
                elif missing:
                    short += 1
                    first_short = first_short or line
        if problems:
            raise InputError(problems)
        inputs_log.repair(path, "short_lines", short, first_short)
    rows = [list(r) + [None] * (width - len(r)) for r in rows]
    if texts is not None:
        texts = [list(t) + [False] * (width - len(t)) for t in texts]

    # columns without a heading: dropped when empty, else named like pandas does
    keep = []
    empty_dropped = 0
    for j, name in enumerate(header):
        if name:
            keep.append(j)
        elif any(r[j] is not None for r in rows):
            header[j] = f"Unnamed: {j}"
            keep.append(j)
        else:
            empty_dropped += 1
    inputs_log.repair(path, "empty_columns", empty_dropped, "")
    # a leading numbering column without heading (a row index saved with the table) holding 1, 2, 3 ...;
    # a numbering column with a heading ("Nr.") is an ordinary column (e.g. the respondent id)
    if keep and keep[0] == 0 and header[0] == "Unnamed: 0" and _is_numbering([r[0] for r in rows]):
        inputs_log.repair(path, "numbering_column", 1, "")
        keep = keep[1:]
    names = [header[j] for j in keep]
    seen: dict[str, int] = {}
    for pos, name in zip(keep, names):
        if name in seen:
            problems.append(Problem(file=src, row=header_line, column=name,
                                    value=f"Spalte {seen[name] + 1} und Spalte {pos + 1}",
                                    expected="jede Spaltenüberschrift nur einmal (welche der beiden gilt?)"))
        else:
            seen[name] = pos
    if problems:
        raise InputError(problems)

    # cells: spaces around values removed (counted: padded ids and the like)
    trimmed, trimmed_col = 0, ""
    data = []
    for r in rows:
        out = []
        for j in keep:
            v = r[j]
            if v is not None:
                s = str(v).strip()
                if s != v:
                    trimmed += 1
                    trimmed_col = trimmed_col or header[j]
                v = s or None
            out.append(v)
        data.append(out)
    inputs_log.repair(path, "whitespace_trimmed", trimmed, trimmed_col)
    first = header_line + 1
    df = pd.DataFrame(data, columns=names, index=[line - first for line in lines], dtype=str)
    df = df.dropna(how="all")  # also a line whose only values were in dropped columns
    if df.empty:
        raise InputError(Problem(file=src, row=header_line, value="keine Datenzeilen (nur die Kopfzeile)",
                                 expected="mindestens eine Datenzeile unter der Kopfzeile"))

    # the number convention for kit.schemas: stated in the params, else from the separator / the cells
    if numbers:
        convention = {"decimal": numbers.get("decimal", ","), "thousands": numbers.get("thousands") or "",
                      "source": "params"}
    elif attrs["kind"] == "csv" and attrs["separator"] == ";":
        convention = {"decimal": ",", "thousands": ".", "source": "separator"}
    elif attrs["kind"] == "csv":
        convention = {"decimal": ".", "thousands": "", "source": "form"}
    else:
        convention = {"decimal": ".", "thousands": "", "source": "cells"}
    convention["file"] = src
    if texts is not None:  # workbook: text cells that may be numbers are parsed by their form (or the params)
        cells: dict[str, list] = {}
        for idx, t, r in zip([line - first for line in lines], texts, data):
            for pos, (j, name) in enumerate(zip(keep, names)):
                if t[j] and r[pos] is not None and _NUMBER_LIKE.match(r[pos]):
                    cells.setdefault(name, []).append(int(idx))
        convention["text_cells"] = cells
    inputs_log.note(path, decimal=convention["decimal"], thousands=convention["thousands"],
                    numbers=convention["source"])
    df.attrs.update({k: v for k, v in attrs.items() if k != "kind"})
    if numbers:
        df.attrs["decimal"] = convention["decimal"]
    df.attrs["numbers"] = convention
    df.attrs["source"] = src
    df.attrs["header_row"] = header_line
    df.attrs["first_data_row"] = first
    return df


# A generous box around Germany (WGS84 degrees): district files of Saxon
# communes lie far inside. Used to catch a wrong or missing CRS statement,
# e.g. UTM metres in a GeoJSON without "crs" member (read as degrees).
GERMANY_LONLAT = (5.0, 47.0, 16.0, 55.5)


def _feature_label(gdf, i: int) -> str:
    """' (Stadtteil-Nr. 7, Altstadt)' for feature i when the file has these
    columns (also in the 10-character Shapefile spelling), else ''."""
    parts = []
    for names in (("district_id", "district_i"), ("district_name", "district_n")):
        col = next((c for c in names if c in gdf.columns), None)
        if col is not None and gdf[col].iloc[i] is not None and str(gdf[col].iloc[i]).strip():
            parts.append(str(gdf[col].iloc[i]).strip())
    if not parts:
        return ""
    return f" (Stadtteil-Nr. {', '.join(parts)})" if len(parts) == 1 else f" (Stadtteil-Nr. {parts[0]}, {parts[1]})"


def _feature_name(gdf, i: int) -> str:
    """'Stadtteil-Nr. 7, Altstadt' for feature i (or 'Objekt 8' without these columns): the value
    of a geometry problem, kept short (messages quote at most EXCERPT_CHARS of a value)."""
    label = _feature_label(gdf, i).strip()
    return label[1:-1] if label else f"Objekt {i + 1}"


def _geos_message_de(message: str) -> str:
    """A GEOS error raised while building a geometry (e.g. an unclosed ring), in German."""
    import re

    text = str(message)
    if "closed linestring" in text:
        return "Ring nicht geschlossen (erster und letzter Punkt verschieden)"
    m = re.search(r"Invalid number of points in LinearRing found (\d+)", text)
    if m:
        return f"Ring mit {m.group(1)} Punkten (eine Fläche braucht mindestens 4, der letzte gleich dem ersten)"
    return "Geometrie nicht lesbar (beschädigte Koordinatenfolge)"


def _broken_features(path: Path, layer) -> list[Problem]:
    """The features whose geometry cannot be built (unclosed ring, too few points), named by
    feature number and district; [] when the geometries are not the reason the file failed."""
    import warnings

    import shapely
    from pyogrio.raw import read as raw_read

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # GDAL's "Non closed ring detected"
            meta, _, wkbs, values = raw_read(path, layer=layer)
    except Exception:  # noqa: BLE001 - the file itself is unreadable: reported by the caller
        return []
    attrs = pd.DataFrame({str(n): v for n, v in zip(meta["fields"], values)})
    problems = []
    for i, wkb in enumerate(wkbs):
        if wkb is None:
            continue
        try:
            shapely.from_wkb(wkb)
        except Exception as exc:  # noqa: BLE001 - shapely.errors.GEOSException and friends
            problems.append(Problem(file=str(path), row=i + 1, column="geometry",
                                    value=_feature_name(attrs, i),
                                    expected=(f"geschlossene Polygon-Ringe; hier: {_geos_message_de(exc)} (im GIS "
                                              "mit 'Geometrie reparieren' bzw. 'Fix geometries' beheben)")))
    return problems


def _choose_layer(path: Path, layer):
    """The layer to read: ``layer`` (name or number from 0) when the file has it, the only layer
    otherwise; a file with several layers and none chosen is an error listing them."""
    import pyogrio

    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except Exception:  # noqa: BLE001 - unreadable files are reported by the reader
        return layer
    listed = ", ".join(f"{i}: {name}" for i, name in enumerate(layers))
    if layer is None:
        if len(layers) > 1:
            raise InputError(Problem(file=str(path), column="layer", value=f"{len(layers)} Ebenen (Layer)",
                                     expected=(f"genau eine Ebene, oder die Ebene in den Parametern angeben "
                                               f"(inputs.districts.layer: Name oder Nummer ab 0); vorhanden: {listed}")))
        return None
    if isinstance(layer, int) and not isinstance(layer, bool):
        if 0 <= layer < len(layers):
            return layers[layer]
    elif str(layer) in layers:
        return str(layer)
    raise InputError(Problem(file=str(path), column="layer", value=layer,
                             expected=f"eine Ebene (Layer) der Datei, Name oder Nummer ab 0: {listed}"))


def read_geometry(path: str | Path, *, target_crs: str = TARGET_CRS, layer: str | int | None = None):
    """Read polygons from GeoPackage / GeoJSON / Shapefile and reproject.

    Raises InputError when the file is missing or unreadable, has several
    layers and ``layer`` names none of them (listing them), has no CRS, or
    holds empty, non-polygon, unclosed or invalid geometries (naming the
    feature: row = feature number, 1-based, plus its district id and name
    where present; the GEOS reason in German), or when its coordinates do not
    lie in Germany once reprojected (a wrong or missing CRS statement).
    ``attrs["layer"]``: the layer read (None for single-layer files).
    """
    import warnings

    import geopandas as gpd
    import numpy as np
    import shapely

    from kit.schemas import geometry_reason

    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Geometrie")
    if path.suffix.lower() not in GEO_SUFFIXES:
        raise InputError(Problem(file=str(path), value=path.suffix,
                                 expected="GeoPackage (.gpkg), GeoJSON (.geojson) oder Shapefile (.shp)"))
    layer = _choose_layer(path, layer)
    try:
        with warnings.catch_warnings():
            # GDAL accepts an unclosed ring with a warning; shapely then refuses it (named below)
            warnings.filterwarnings("ignore", message="Non closed ring detected")
            gdf = gpd.read_file(path, layer=layer)
    except Exception as exc:
        broken = _broken_features(path, layer)
        if broken:
            raise InputError(broken) from None
        raise InputError(Problem(file=str(path), value=str(exc).split("\n")[0][:200],
                                 expected="lesbare Geodaten-Datei")) from None
    if gdf.crs is None:
        hint = " (beim Shapefile die .prj-Datei)" if path.suffix.lower() == ".shp" else ""
        raise InputError(Problem(file=str(path), expected=f"ein angegebenes Koordinatenbezugssystem (CRS){hint}"))
    problems = []
    for i, geom in enumerate(gdf.geometry):
        row = i + 1  # feature number, 1-based
        where = _feature_label(gdf, i)
        if geom is None or geom.is_empty:
            problems.append(Problem(file=str(path), row=row, column="geometry", value=f"leer{where}",
                                    expected="Polygon oder MultiPolygon"))
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(Problem(file=str(path), row=row, column="geometry", value=f"{geom.geom_type}{where}",
                                    expected="Polygon oder MultiPolygon"))
        elif not geom.is_valid:
            problems.append(Problem(file=str(path), row=row, column="geometry", value=_feature_name(gdf, i),
                                    expected=(f"gültige Geometrie; hier: {geometry_reason(shapely.is_valid_reason(geom))}"
                                              " (im GIS mit 'Geometrie reparieren' bzw. 'Fix geometries' beheben)")))
    if problems:
        raise InputError(problems)
    source_crs = gdf.crs.to_string()
    with np.errstate(all="ignore"):
        lonlat = gdf.to_crs("EPSG:4326").total_bounds
    lon0, lat0, lon1, lat1 = GERMANY_LONLAT
    if not (np.isfinite(lonlat).all() and lon0 <= lonlat[0] and lonlat[2] <= lon1
            and lat0 <= lonlat[1] and lonlat[3] <= lat1):
        raise InputError(Problem(
            file=str(path), column="geometry", value=f"Koordinaten {', '.join(f'{v:.6g}' for v in gdf.total_bounds)} "
                                                     f"in {source_crs}",
            expected=("Koordinaten in Deutschland im angegebenen Koordinatenbezugssystem; ist das CRS richtig "
                      "angegeben (z. B. EPSG:25833 für ETRS89/UTM 33N statt EPSG:4326)?")))
    gdf = gdf.to_crs(target_crs)
    gdf.attrs["source"] = str(path)
    gdf.attrs["first_data_row"] = 1
    gdf.attrs["layer"] = layer
    return gdf


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def xlsx_sheet(path: str | Path, sheet: str, what: str):
    """One sheet of a workbook read with openpyxl (read-only, values), for readers of files whose
    layout the kit knows (Deutschlandatlas, Destatis Gemeindeverzeichnis): a missing file, an
    unreadable workbook or a missing sheet is an InputError naming the file and the sheets there
    are. The workbook is closed when the block ends."""
    import openpyxl

    path = Path(path)
    if not path.exists():
        raise missing_file(path, what)
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - openpyxl raises many types for broken files
        raise InputError(Problem(file=str(path), expected="lesbare Excel-Datei (.xlsx)")) from None
    try:
        if sheet not in wb.sheetnames:
            raise InputError(Problem(file=str(path), column="Tabellenblatt", value=sheet,
                                     expected="Tabellenblatt " + sheet + "; vorhanden: " + ", ".join(wb.sheetnames)))
        yield wb[sheet]
    finally:
        wb.close()
