"""Bad input for the readers (issue 13): every input kind the readers serve, handed over the
ways analysts do it. Each case either asserts that the message names the file and the problem,
or that the repair is recorded (kit.inputs_log) AND the data equal the clean baseline.

Baselines are written here as Python values (one small table per schema of data_schemas/);
the files are written from them with the csv module / openpyxl / pyreadstat, so the expected
data never come from the reader under test. Hypothesis feeds arbitrary small bytes and tables
to the readers: they end in a KitError or a valid result, never another exception.
"""

from __future__ import annotations

import csv
import io
import math
import re
import shutil
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kit import inputs_log, inputs_view
from kit.errors import InputError, KitError, ParamsError
from kit.io import read_table
from kit.profile.bka import read_bka_table
from kit.profile.inputs import read_input_table
from kit.results import ResultStore
from kit.schemas import AmbiguousNumber, _parse_number, load_schema, read_columns, validate_table
from kit.survey.cleaning import clean_responses
from kit.survey.codebook import load_codebook
from kit.survey.importing import read_responses

# ---------------------------------------------------------------------------
# Clean baselines: one small table per input kind (schema), as Python values
# ---------------------------------------------------------------------------

BASELINES: dict[str, tuple[list[str], list[tuple]]] = {
    "accommodation": (["year", "facility_id", "name", "type", "district_id", "places", "occupancy"],
                      [(2023, "U01", "Unterkunft Mühlgasse", "Obdachlosenunterkunft", "1", 35, 22),
                       (2023, "U02", "Frauenhaus Süd", "Frauenschutzhaus", "2", 12, 9)]),
    "bos": (["year", "unit_id", "name", "type", "district_id", "staff", "lon", "lat"],
            [(2023, "B01", "Polizeiposten Oberau", "Polizeiposten", "2", 6, 12.974548, 51.07584),
             (2023, "B02", "Feuerwehr Kernstadt", "Freiwillige Feuerwehr", "1", 45, None, None)]),
    "clubs": (["club_id", "name", "type", "district_id", "members"],
              [("V1", "SV Blau-Weiß", "Sport", "1", 1234), ("V2", "Heimatverein", "Heimat/Tradition", "2", None)]),
    "district_crime": (["district_id", "year", "category", "cases"],
                       [("1", 2022, "Diebstahl", 1234), ("2", 2022, "Diebstahl", 56)]),
    "education": (["year", "area", "amount_eur", "posts_fte"],
                  [(2022, "Kindertagesstätten", 1234567.89, None), (2022, "Schulsozialarbeit", 50000.5, 2.5)]),
    "owi": (["year", "category", "count"], [(2022, "Lärm", 1234), (2022, "Parken", 17)]),
    "pks": (["year", "key", "label", "cases", "attempts", "cleared", "suspects"],
            [(2022, "000000", "Straftaten insgesamt", 2345, 120, 1200, 900),
             (2022, "892000", "Gewaltkriminalität", 45, 3, 30, 28)]),
    "places": (["place_id", "name", "category", "district_id", "source", "mentions", "lon", "lat"],
               [("O1", "Bahnhof", "Bahnhof/Haltestelle", "1", "Befragung", 13, 12.940351, 51.042318),
                ("O2", "Stadtpark", "Park/Grünanlage", "2", "Kommune", None, None, None)]),
    "pmk": (["year", "area", "offence_type", "count"],
            [(2022, "rechts", "Propagandadelikte", 12), (2022, "links", "Sachbeschädigung", 3)]),
    "prevention": (["activity_id", "title", "topic", "target_group", "district_id", "provider", "since_year",
                    "lon", "lat"],
                   [("P1", "Verkehrshelfer", "Verkehr", "Grundschulkinder", None, "Verkehrswacht", 2018, None, None),
                    ("P2", "Nachbarschaftshilfe", "Nachbarschaft", "alle", "2", "Stadt", 2020, 12.93, 51.07)]),
    "residents": (["year", "district_id", "age_group", "sex", "nationality", "count"],
                  [(2022, "1", "16-17", "m", "deutsch", 1234), (2022, "1", "16-17", "w", "deutsch", 1180),
                   (2022, "2", "85+", "w", "nichtdeutsch", 3)]),
    "survey_sample": (["district_id", "age_group", "sex", "issued", "returned"],
                      [("1", "16-34", "m", 1200, 300), ("2", "75+", "w", 54, 16)]),
}
KINDS = sorted(BASELINES)


def test_every_table_schema_has_a_baseline():
    from kit.schemas import schema_names

    tables = {n for n in schema_names() if not load_schema(n).get("geometry")}
    assert tables == set(KINDS)


YEARS = ("year", "since_year")  # written without thousands separator, as everybody does


def _text(value, style: str, column: str = "") -> str:
    """A value as a file writes it. style 'de': 1.234.567,89; 'de_plain': 1234567,89;
    'plain': 1234567.89 (no thousands separator)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".") if style == "de" and column not in YEARS else str(value)
    text = repr(float(value))
    whole, _, frac = text.partition(".")
    if style == "plain":
        return text
    if style == "de":
        whole = f"{int(whole):,}".replace(",", ".")
    return f"{whole},{frac}"


def write_csv(path: Path, kind: str, *, sep=";", encoding="cp1252", style="de", bom=False, notes=(),
              rows=None, header=None, numbering=False, pad=False) -> Path:
    columns, baseline = BASELINES[kind]
    header = list(header or columns)
    lines = [list(notes_line) for notes_line in notes]
    lines.append([""] + header if numbering == "index" else header)  # "r": R's row names, no heading cell
    for i, row in enumerate(rows if rows is not None else baseline):
        cells = [_text(v, style, c) for c, v in zip(columns, row)]
        if pad:
            cells = [f"  {c} " if c else c for c in cells]
        lines.append([str(i + 1)] + cells if numbering else cells)
    buf = io.StringIO()
    csv.writer(buf, delimiter=sep, lineterminator="\r\n").writerows(lines)
    text = ("\ufeff" if bom else "") + buf.getvalue()
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(path: Path, kind: str, *, rows=None, sheets_before=(), notes=(), text_cells=()) -> Path:
    """Number cells as numbers; ``text_cells``: {(row, column): text} written as text cells."""
    columns, baseline = BASELINES[kind]
    wb = openpyxl.Workbook()
    first = wb.active
    for name in sheets_before:
        if first is not None:
            first.title = name
            first.append(["Hinweise zur Tabelle", "Stand 31.12."])
            first = None
        else:
            wb.create_sheet(name).append(["Hinweise"])
    ws = wb.active if first is not None else wb.create_sheet("Daten")
    for line in notes:
        ws.append(list(line))
    ws.append(columns)
    overrides = dict(text_cells)
    for i, row in enumerate(rows if rows is not None else baseline):
        ws.append([overrides.get((i, c), v) for c, v in zip(columns, row)])
    wb.save(path)
    return path


def assert_baseline(df: pd.DataFrame, kind: str, rows=None) -> None:
    """The typed table holds exactly the baseline values."""
    columns, baseline = BASELINES[kind]
    rows = rows if rows is not None else baseline
    assert list(df.columns) == columns
    assert len(df) == len(rows)
    for j, col in enumerate(columns):
        for got, want in zip(df[col].tolist(), [r[j] for r in rows]):
            if want is None:
                assert pd.isna(got), (col, got)
            elif isinstance(want, float):
                assert got == pytest.approx(want), (col, got, want)
            else:
                assert got == want, (col, got, want)


def read(path: Path, kind: str, **kw) -> tuple[pd.DataFrame, inputs_log.InputRecord]:
    """Read and validate like the profile does; return the table and the file's record."""
    with inputs_log.collecting() as log:
        df = validate_table(read_table(path, **read_columns(kind), **kw), kind)
    return df, log.records[str(path)]


def repairs(rec: inputs_log.InputRecord) -> dict[str, int]:
    return {code: r.count for code, r in rec.repairs.items()}


def error_of(func, *args, **kw) -> InputError:
    with inputs_log.collecting():
        with pytest.raises(InputError) as err:
            func(*args, **kw)
    return err.value


def _non_ascii(kind: str) -> bool:
    return any(isinstance(v, str) and not v.isascii() for row in BASELINES[kind][1] for v in row)


def _has_thousands(kind: str) -> bool:
    columns, rows = BASELINES[kind]
    return any(isinstance(v, (int, float)) and abs(v) >= 1000 and c not in YEARS
               for row in rows for c, v in zip(columns, row))


def _target_column(kind: str) -> str:
    """The column that gets the value 2000 ("2.000") in the ambiguity tests: a count where there is one."""
    special = {"education": "amount_eur", "prevention": "since_year"}
    return special.get(kind) or next(f["name"] for f in load_schema(kind)["fields"]
                                     if f["type"] == "integer" and f["name"] not in YEARS)


# ---------------------------------------------------------------------------
# Clean reading and recorded repairs, for every table kind
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_german_csv_is_read_and_the_assumptions_recorded(tmp_path, kind):
    df, rec = read(write_csv(tmp_path / f"{kind}.csv", kind), kind)
    assert_baseline(df, kind)
    assert rec.input == kind and rec.format == "csv" and rec.separator == ";" and rec.header_row == 1
    assert rec.encoding == ("cp1252" if _non_ascii(kind) else "utf-8")
    assert (rec.decimal, rec.thousands, rec.numbers) == (",", ".", "separator")
    assert ("thousands_separator" in repairs(rec)) == _has_thousands(kind)
    assert "bom_removed" not in repairs(rec) and "header_below_notes" not in repairs(rec)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("variant", ["bom_comma", "utf16le_tab", "utf16be_tab", "excel_named_csv",
                                     "notes_above_header", "numbering_column", "row_names", "padded_cells",
                                     "header_case"])
def test_repairs_are_recorded_and_the_data_equal_the_baseline(tmp_path, kind, variant):
    path = tmp_path / f"{kind}.csv"
    columns = BASELINES[kind][0]
    expected_repairs: dict[str, int] = {}
    if variant == "bom_comma":
        write_csv(path, kind, sep=",", encoding="utf-8", style="plain", bom=True)
        expected_repairs["bom_removed"] = 1
    elif variant in ("utf16le_tab", "utf16be_tab"):  # Excel "Unicode-Text": UTF-16 with BOM, tab-separated
        enc = "utf-16-le" if variant == "utf16le_tab" else "utf-16-be"
        write_csv(path, kind, sep="\t", encoding=enc, style="de_plain", bom=True)
        expected_repairs["bom_removed"] = 1
    elif variant == "excel_named_csv":
        write_xlsx(tmp_path / "x.xlsx", kind)
        shutil.move(tmp_path / "x.xlsx", path)
        expected_repairs["excel_content"] = 1
    elif variant == "notes_above_header":
        write_csv(path, kind, notes=[["Quelle: Stadtverwaltung, Stand 31.12.2023"], [], ["Hinweis: vorläufig"]])
        expected_repairs["header_below_notes"] = 1
    elif variant in ("numbering_column", "row_names"):  # a pandas / R row index saved with the table
        write_csv(path, kind, numbering="index" if variant == "numbering_column" else "r")
        expected_repairs["numbering_column"] = 1
        with inputs_log.collecting():
            assert list(read_table(path, **read_columns(kind)).columns) == columns
    elif variant == "padded_cells":
        write_csv(path, kind, pad=True)
        expected_repairs["whitespace_trimmed"] = sum(1 for row in BASELINES[kind][1] for v in row if v is not None)
    elif variant == "header_case":
        write_csv(path, kind, header=[c.upper() for c in columns])
        expected_repairs["header_spelling"] = len(columns)
    df, rec = read(path, kind)
    assert_baseline(df, kind)
    got = repairs(rec)
    for code, count in expected_repairs.items():
        assert got.get(code) == count, (code, got)
    if variant.startswith("utf16"):
        assert rec.encoding == {"utf16le_tab": "utf-16-le", "utf16be_tab": "utf-16-be"}[variant]
        assert rec.separator == "\t"
    if variant == "excel_named_csv":
        assert rec.format == "xlsx" and rec.sheet == "Sheet"
    if variant == "notes_above_header":
        assert rec.header_row == 4 and rec.repairs["header_below_notes"].detail == "4"
        assert df.attrs["first_data_row"] == 5  # file rows in later messages stay right


@pytest.mark.parametrize("kind", KINDS)
def test_workbook_with_a_notes_sheet_first_names_every_sheet(tmp_path, kind):
    path = write_xlsx(tmp_path / f"{kind}.xlsx", kind, sheets_before=["Hinweise"])
    err = error_of(read_table, path, **read_columns(kind))
    text = str(err)
    assert path.name in text and "'Hinweise'" in text and "'Daten'" in text and 'sheet: "Daten"' in text
    df, rec = read(path, kind, sheet="Daten")
    assert_baseline(df, kind)
    assert rec.sheet == "Daten" and rec.sheets == ["Hinweise", "Daten"]


# ---------------------------------------------------------------------------
# Errors naming the file and the problem, for every table kind
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("content", [b"", b"  \r\n\r\n", b"\xff\xfe", b"\xef\xbb\xbf\n"])
def test_empty_file_is_named(tmp_path, kind, content):
    path = tmp_path / f"{kind}.csv"
    path.write_bytes(content)
    err = error_of(read_table, path, **read_columns(kind))
    assert path.name in str(err) and "Datei ist leer" in str(err)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_header_only_table_is_an_error_naming_the_file(tmp_path, kind, fmt):
    path = tmp_path / f"{kind}.{fmt}"
    if fmt == "csv":
        write_csv(path, kind, rows=[])
    else:
        write_xlsx(path, kind, rows=[])
    err = error_of(read_table, path, **read_columns(kind))
    assert path.name in str(err) and "keine Datenzeilen" in str(err)


@pytest.mark.parametrize("kind", KINDS)
def test_duplicated_column_is_named(tmp_path, kind):
    columns, rows = BASELINES[kind]
    dup = columns[-1]
    path = write_csv(tmp_path / f"{kind}.csv", kind, header=columns + [dup], rows=[r + (r[-1],) for r in rows])
    err = error_of(read_table, path, **read_columns(kind))
    problem = err.problems[0]
    assert problem.column == dup and problem.row == 1 and path.name in str(err)
    assert f"Spalte {len(columns)} und Spalte {len(columns) + 1}" in str(err)


@pytest.mark.parametrize("kind", KINDS)
def test_truncated_line_is_an_error_naming_the_row(tmp_path, kind):
    columns, rows = BASELINES[kind]
    required = set(read_columns(kind)["required"])
    last = max(j for j, c in enumerate(columns) if c in required)
    path = write_csv(tmp_path / f"{kind}.csv", kind)
    lines = path.read_bytes().decode("cp1252").split("\r\n")
    lines[2] = ";".join(lines[2].split(";")[:last])  # the second data row ends before a required column
    path.write_bytes("\r\n".join(lines).encode("cp1252"))
    err = error_of(read_table, path, **read_columns(kind))
    problem = err.problems[0]
    assert (problem.row, problem.column) == (3, columns[last]) and path.name in str(err)
    assert "abgeschnittene Zeile" in str(err)


def test_short_line_missing_only_optional_cells_is_read_and_recorded(tmp_path):
    """clubs: the last column (members) may be empty; a line without it is read as empty there."""
    path = write_csv(tmp_path / "clubs.csv", "clubs")
    lines = path.read_bytes().decode("cp1252").split("\r\n")
    assert lines[2].endswith(";")
    lines[2] = lines[2][:-1]
    path.write_bytes("\r\n".join(lines).encode("cp1252"))
    df, rec = read(path, "clubs")
    assert_baseline(df, "clubs")
    assert repairs(rec)["short_lines"] == 1 and rec.repairs["short_lines"].detail == "3"


def test_line_with_more_fields_than_the_header_is_named(tmp_path):
    path = write_csv(tmp_path / "owi.csv", "owi")
    text = path.read_bytes().decode("cp1252").replace("Parken;17", "Parken;17;99")
    path.write_bytes(text.encode("cp1252"))
    err = error_of(read_table, path, **read_columns("owi"))
    assert err.problems[0].row == 3 and "4 Felder" in str(err) and "owi.csv" in str(err)


def test_trailing_empty_columns_are_dropped_and_recorded(tmp_path):
    path = write_csv(tmp_path / "owi.csv", "owi")
    text = "\r\n".join(line + ";;" if line else line for line in path.read_bytes().decode("cp1252").split("\r\n"))
    path.write_bytes(text.encode("cp1252"))
    df, rec = read(path, "owi")
    assert_baseline(df, "owi")
    assert repairs(rec)["empty_columns"] == 2


# ---------------------------------------------------------------------------
# Ambiguous numbers: an error unless the convention is stated in the params
# ---------------------------------------------------------------------------

def _with_2000(kind: str) -> tuple[str, list[tuple]]:
    columns, rows = BASELINES[kind]
    col = _target_column(kind)
    j = columns.index(col)
    changed = [tuple(2000 if k == j else v for k, v in enumerate(rows[0]))] + list(rows[1:])
    return col, changed


def _write_2000(path: Path) -> Path:
    """The value 2000 of the first data row written as "2.000" (also in a year column)."""
    text = path.read_text(encoding="utf-8")
    if "2.000" not in text:
        text = re.sub(r"(?<![\d.])2000(?![\d.])", "2.000", text, count=1)
    assert "2.000" in text
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("kind", KINDS)
def test_ambiguous_number_in_comma_separated_file_names_file_row_column_value(tmp_path, kind):
    col, rows = _with_2000(kind)
    path = _write_2000(write_csv(tmp_path / f"{kind}.csv", kind, sep=",", encoding="utf-8", style="plain", rows=rows))
    err = error_of(lambda: validate_table(read_table(path, **read_columns(kind)), kind))
    problem = next(p for p in err.problems if p.value == "2.000")
    assert (problem.row, problem.column) == (2, col) and problem.file == str(path)
    assert "numbers:" in problem.expected and "2,000" in problem.expected and "2000" in problem.expected


@pytest.mark.parametrize("kind", KINDS)
def test_stated_number_convention_reads_the_value_and_is_recorded(tmp_path, kind):
    """A ','-separated file in German notation (quoted decimals), the convention in the params."""
    col, rows = _with_2000(kind)
    path = _write_2000(write_csv(tmp_path / f"{kind}.csv", kind, sep=",", encoding="utf-8", style="de", rows=rows))
    spec = {"path": str(path), "numbers": {"decimal": ",", "thousands": "."}}
    with inputs_log.collecting() as log:
        df = read_input_table(kind, spec)
    assert_baseline(df, kind, rows)
    rec = log.records[str(path)]
    assert (rec.decimal, rec.thousands, rec.numbers, rec.input) == (",", ".", "params", kind)
    assert repairs(rec)["thousands_separator"] >= 1


@pytest.mark.parametrize("kind", KINDS)
def test_text_cell_in_workbook_is_ambiguous_unless_stated(tmp_path, kind):
    col, rows = _with_2000(kind)
    path = write_xlsx(tmp_path / f"{kind}.xlsx", kind, rows=rows, text_cells={(0, col): "2.000"})
    err = error_of(lambda: validate_table(read_table(path, **read_columns(kind)), kind))
    problem = next(p for p in err.problems if p.value == "2.000")
    assert (problem.row, problem.column) == (2, col) and path.name in str(err)
    with inputs_log.collecting():
        df = read_input_table(kind, {"path": str(path), "numbers": {"decimal": ",", "thousands": "."}})
    assert_baseline(df, kind, rows)


def test_number_cells_of_a_workbook_are_never_ambiguous(tmp_path):
    """1.234 as an Excel number is 1.234, whatever the convention of text cells."""
    rows = [(2022, "Kindertagesstätten", 1.234, 2.5)]
    path = write_xlsx(tmp_path / "education.xlsx", "education", rows=rows)
    df, rec = read(path, "education")
    assert_baseline(df, "education", rows)
    assert rec.numbers == "cells"


@pytest.mark.parametrize("text, mode, value", [
    ("2,5", "form", 2.5), ("1.234,5", "form", 1234.5), ("1,234.5", "form", 1234.5), ("1.234.567", "form", 1234567),
    ("0.500", "form", 0.5), ("12.3456", "form", 12.3456), ("−7", "form", -7), ("1 234", "form", 1234),
    ("1.234", "separator", 1234), ("2,5", "separator", 2.5), ("1.234", "machine", 1.234),
])
def test_numbers_are_read_by_their_form(text, mode, value):
    decimal = "," if mode == "separator" else "."
    assert _parse_number(text, decimal, None, mode)[0] == pytest.approx(value)


@pytest.mark.parametrize("text", ["2.000", "1,234", "-12.500", "999,000"])
def test_single_separator_before_three_digits_is_ambiguous(text):
    with pytest.raises(AmbiguousNumber):
        _parse_number(text, ".", None, "form")


@pytest.mark.parametrize("text", ["nan", "inf", "1_000", "1.2.3", "1,23,4", "12.34.567", ""])
def test_non_numbers_are_refused_in_every_mode(text):
    for mode in ("form", "separator", "machine", "params"):
        with pytest.raises(ValueError):
            _parse_number(text, ",", ".", mode)


@pytest.mark.parametrize("text, decimal, thousands, value", [
    ("1.234,5", ",", ".", 1234.5), ("1234,5", ",", ".", 1234.5), ("1 234,5", ",", " ", 1234.5),
    ("1'234.5", ".", "'", 1234.5), ("2,000", ".", ",", 2000), ("2.000", ",", "", None), ("2.5", ",", ".", None),
])
def test_stated_convention_is_strict(text, decimal, thousands, value):
    if value is None:
        with pytest.raises(ValueError):
            _parse_number(text, decimal, thousands, "params")
    else:
        assert _parse_number(text, decimal, thousands, "params")[0] == pytest.approx(value)


def test_params_accept_and_check_the_number_convention(tmp_path):
    from kit.params import load_params
    from tests.helpers import MINIMAL_PARAMS

    for name in ("d.geojson", "r.csv", "p.csv"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    good = MINIMAL_PARAMS.format(data=tmp_path).replace(
        "  pks: p.csv", "  pks: {path: p.csv, numbers: {decimal: \",\", thousands: \".\"}}")
    (tmp_path / "ok.yaml").write_text(good, encoding="utf-8")
    assert load_params(tmp_path / "ok.yaml")["inputs"]["pks"]["numbers"] == {"decimal": ",", "thousands": "."}
    (tmp_path / "bad.yaml").write_text(good.replace('thousands: "."', 'thousands: ","'), encoding="utf-8")
    with pytest.raises(ParamsError) as err:
        load_params(tmp_path / "bad.yaml")
    assert "bad.yaml" in str(err.value) and "inputs.pks.numbers" in str(err.value)


# ---------------------------------------------------------------------------
# Content instead of name: UTF-16, Excel as .csv, old .xls, binary
# ---------------------------------------------------------------------------

def test_old_xls_asks_for_xlsx(tmp_path):
    path = tmp_path / "owi.csv"  # an .xls saved with a .csv name: told by its content
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    err = error_of(read_table, path)
    assert "owi.csv" in str(err) and ".xlsx" in str(err) and "speichern" in str(err)


@pytest.mark.parametrize("content, what", [
    ("ods", "OpenDocument"), ("zip", "ZIP-Archiv"), ("broken_xlsx", "Excel"),
])
def test_other_archives_are_named(tmp_path, content, what):
    import zipfile

    path = tmp_path / "owi.xlsx"
    if content == "broken_xlsx":
        write_xlsx(path, "owi")
        path.write_bytes(path.read_bytes()[:300])
    else:
        with zipfile.ZipFile(path, "w") as zf:
            if content == "ods":
                zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
            zf.writestr("content.xml", "<x/>")
    err = error_of(read_table, path)
    assert "owi.xlsx" in str(err) and what in str(err)


@pytest.mark.parametrize("content", [
    "year;category;count\n2022;Lärm;3\n".encode("utf-16-le"),  # UTF-16 without BOM
    b"\x00\x01\x02binary\x00",
])
def test_nul_bytes_are_named(tmp_path, content):
    path = tmp_path / "owi.csv"
    path.write_bytes(content)
    err = error_of(read_table, path)
    assert "owi.csv" in str(err) and "Null-Byte" in str(err) and "UTF-16" in str(err)


def test_unknown_sheet_lists_the_sheets(tmp_path):
    path = write_xlsx(tmp_path / "owi.xlsx", "owi", sheets_before=["Hinweise"])
    err = error_of(read_table, path, sheet="Tabelle1")
    assert "'Hinweise'" in str(err) and "'Daten'" in str(err) and "owi.xlsx" in str(err)


def test_header_in_other_spelling_is_matched_and_recorded(tmp_path):
    path = tmp_path / "strassen.csv"
    path.write_bytes("Strasse;Anzahl\nHauptstraße;3\n".encode("cp1252"))
    with inputs_log.collecting() as log:
        df = read_table(path, expected=["Straße", "Anzahl"])
    assert list(df.columns) == ["Straße", "Anzahl"] and df["Straße"].tolist() == ["Hauptstraße"]
    assert log.records[str(path)].repairs["header_spelling"].detail == "Strasse:Straße"


# ---------------------------------------------------------------------------
# BKA tables
# ---------------------------------------------------------------------------

BKA_HEADER = ["Schluessel", "Straftat", "Gemeindeschluessel", "Stadt-/Landkreis", "Kreisart",
              "Anzahl erfasste Faelle", "Haeufigkeitszahl", "erfasste Faelle, davon Versuche - Anzahl",
              "erfasste Faelle, davon Versuche - Anteil in %", "mit Schusswaffe gedroht", "mit Schusswaffe geschossen",
              "Auffklaerung - Anzahl Faelle", "Aufklaerungsquote", "Tatverdaechtige insgesamt",
              "Tatverdaechtige - maennlich", "Tatverdaechtige - weiblich", "Nichtdeutsche Tatverdaechtige - Anzahl",
              "Nichtdeutsche Tatverdaechtige - Anteil in % an der Gesamtzahl"]
# key, label, Kreis, cases, HZ, attempts, cleared, suspects (invented numbers)
BKA_ROWS = [("------", "Straftaten insgesamt", "14999", 2500, 4113.3, 100, 1250, 1000),
            ("892000", "Gewaltkriminalität", "14999", 45, 74.0, 3, 30, 28)]


def _bka_line(r) -> list:
    key, label, kreis, cases, hz, attempts, cleared, suspects = r
    return [key, label, kreis, "Musterkreis", "LK", cases, hz, attempts, 4.0, 0, 0, cleared, 50.0, suspects,
            suspects - 10, 10, 5, 0.5]


def write_bka(path: Path, fmt: str = "csv") -> Path:
    rows = [list(range(1, 19)), BKA_HEADER, *[_bka_line(r) for r in BKA_ROWS]]
    if fmt == "csv":
        def cell(v):
            return f"{v:,}" if isinstance(v, int) else (f"{v:,.1f}" if isinstance(v, float) else str(v))
        text = "\r\n".join(";".join(cell(v) for v in row) for row in rows) + "\r\n"
        path.write_bytes(text.encode("cp1252"))
    else:
        wb = openpyxl.Workbook()
        for row in rows:
            wb.active.append(row)
        wb.save(path)
    return path


def _check_bka(df: pd.DataFrame) -> None:
    assert df["key"].tolist() == ["000000", "892000"]
    assert df["cases"].tolist() == [2500, 45] and df["cleared"].tolist() == [1250, 30]
    assert df["suspects"].tolist() == [1000, 28] and df["attempts"].tolist() == [100, 3]
    assert df["hz_bka"].tolist() == pytest.approx([4113.3, 74.0])


def test_bka_csv_records_what_it_assumed(tmp_path):
    path = write_bka(tmp_path / "kreise.csv")
    with inputs_log.collecting() as log:
        df = read_bka_table(path, "14999", year=2022)
    _check_bka(df)
    rec = log.records[str(path)]
    assert (rec.format, rec.encoding, rec.separator, rec.decimal, rec.thousands) == ("bka_csv", "cp1252", ";", ".", ",")
    assert rec.header_row == 2
    got = repairs(rec)
    assert got["numbering_line"] == 1 and rec.repairs["numbering_line"].detail == "1"
    assert got["transliterated_header"] >= 5


def test_bka_workbook_named_csv_is_read_as_workbook(tmp_path):
    path = write_bka(tmp_path / "x.xlsx", "xlsx")
    shutil.move(path, tmp_path / "kreise.csv")
    with inputs_log.collecting() as log:
        df = read_bka_table(tmp_path / "kreise.csv", "14999", year=2022)
    _check_bka(df)
    rec = log.records[str(tmp_path / "kreise.csv")]
    assert rec.format == "bka_xlsx" and repairs(rec)["excel_content"] == 1


def test_bka_truncated_line_names_row_and_column(tmp_path):
    path = write_bka(tmp_path / "kreise.csv")
    lines = path.read_bytes().decode("cp1252").split("\r\n")
    lines[3] = ";".join(lines[3].split(";")[:13])  # ends before "Tatverdaechtige insgesamt"
    path.write_bytes("\r\n".join(lines).encode("cp1252"))
    err = error_of(read_bka_table, path, "14999", year=2022)
    problem = err.problems[0]
    assert problem.row == 4 and problem.column == "Tatverdaechtige insgesamt" and "kreise.csv" in str(err)


@pytest.mark.parametrize("content", [b"", b"\r\n"])
def test_bka_empty_file_is_named(tmp_path, content):
    path = tmp_path / "kreise.csv"
    path.write_bytes(content)
    err = error_of(read_bka_table, path, "14999", year=2022)
    assert "kreise.csv" in str(err) and "Datei ist leer" in str(err)


# ---------------------------------------------------------------------------
# Survey responses (CSV, XLSX, SAV) and the codebook
# ---------------------------------------------------------------------------

FIX = Path(__file__).parent / "fixtures" / "survey"
DISTRICTS = {"01": "Altstadt", "02": "Neustadt", "03": "Südvorstadt"}


@pytest.fixture(scope="module")
def cb():
    with inputs_log.collecting():
        return load_codebook(FIX / "codebook.yaml", DISTRICTS)


def _clean(raw, cb) -> pd.DataFrame:
    return clean_responses(raw, cb, {}).data


@pytest.fixture(scope="module")
def survey_baseline(cb):
    with inputs_log.collecting():
        return _clean(read_responses(FIX / "limesurvey_codes.csv", cb), cb)


def _assert_same(data: pd.DataFrame, baseline: pd.DataFrame) -> None:
    cols = [c for c in baseline.columns if c != "anmerkung"]
    pd.testing.assert_frame_equal(data[cols].reset_index(drop=True), baseline[cols].reset_index(drop=True),
                                  check_dtype=False, check_index_type=False)


def test_survey_labels_and_limesurvey_columns_are_recorded(cb, survey_baseline):
    path = FIX / "limesurvey_labels.csv"
    with inputs_log.collecting() as log:
        data = _clean(read_responses(path, cb), cb)
    _assert_same(data, survey_baseline)
    got = repairs(log.records[str(path)])
    assert got["labels_to_codes"] >= 20  # every coded answer of the four respondents is a text
    assert got["bracket_headings"] == 6 and got["system_columns_ignored"] == 5
    assert log.records[str(path)].input == "survey_responses"


@pytest.mark.parametrize("fmt", ["xlsx", "xlsx_named_csv", "utf16_tab", "sav"])
def test_survey_formats_read_like_the_csv(tmp_path, cb, survey_baseline, fmt):
    table = pd.read_csv(FIX / "limesurvey_codes.csv", dtype=str, keep_default_na=False)
    if fmt == "sav":
        import pyreadstat

        path = tmp_path / "antworten.sav"
        frame = table.drop(columns=["submitdate", "startlanguage"])
        frame.columns = [re.sub(r"\[(\w+)\]", r"_\1", c) for c in frame.columns]  # SPSS names: F02_SQ001
        numeric = [c for c in frame.columns if c not in ("stadtteil", "anmerkung")]
        frame[numeric] = frame[numeric].replace("", np.nan).replace({"Y": 1}).apply(pd.to_numeric)
        pyreadstat.write_sav(frame, str(path))
    elif fmt == "utf16_tab":
        path = tmp_path / "antworten.txt"
        path.write_bytes(b"\xff\xfe" + table.to_csv(sep="\t", index=False).encode("utf-16-le"))
    else:
        path = tmp_path / "antworten.xlsx"
        table.to_excel(path, index=False)
        if fmt == "xlsx_named_csv":
            path = Path(shutil.move(path, tmp_path / "antworten.csv"))
    with inputs_log.collecting() as log:
        data = _clean(read_responses(path, cb), cb)
    _assert_same(data, survey_baseline)
    rec = log.records[str(path)]
    assert rec.format == {"sav": "sav", "utf16_tab": "csv"}.get(fmt, "xlsx")
    if fmt == "xlsx_named_csv":
        assert repairs(rec)["excel_content"] == 1
    if fmt == "utf16_tab":
        assert rec.encoding == "utf-16-le" and rec.separator == "\t"


def test_survey_bad_files_are_named(tmp_path, cb):
    header = (FIX / "limesurvey_codes.csv").read_text(encoding="utf-8").splitlines()
    cases = {
        "leer.csv": ("", "Datei ist leer"),
        "kopf.csv": (header[0] + "\n", "keine Datenzeilen"),
        "kurz.csv": ("\n".join([header[0], header[1], header[2].rsplit(",", 3)[0]]) + "\n", "abgeschnittene Zeile"),
    }
    for name, (text, problem) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        err = error_of(read_responses, path, cb)
        assert name in str(err) and problem in str(err), name
    assert err.problems[0].row == 3
    path = tmp_path / "kaputt.sav"
    path.write_bytes(b"$FL2" + bytes(50))
    err = error_of(read_responses, path, cb)
    assert "kaputt.sav" in str(err) and "SPSS" in str(err)
    # a workbook whose first sheet holds notes: the sheets are named
    path = tmp_path / "antworten.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"Hinweis": ["Befragung 2024"]}).to_excel(writer, sheet_name="Hinweise", index=False)
        pd.read_csv(FIX / "limesurvey_codes.csv", dtype=str).to_excel(writer, sheet_name="Antworten", index=False)
    err = error_of(read_responses, path, cb)
    assert "'Hinweise'" in str(err) and "'Antworten'" in str(err) and 'sheet: "Antworten"' in str(err)


@pytest.mark.parametrize("content, problem", [
    (b"", "items"), ("name: x\n".encode("utf-16"), "UTF-8"), (b"\x00\x01binary", "UTF-8"),
])
def test_codebook_bad_files_are_named(tmp_path, content, problem):
    path = tmp_path / "codebuch.yaml"
    path.write_bytes(content)
    err = error_of(load_codebook, path, DISTRICTS)
    assert "codebuch.yaml" in str(err)


def test_codebook_with_bom_is_recorded_and_equal(tmp_path, cb):
    path = tmp_path / "codebuch.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + (FIX / "codebook.yaml").read_bytes())
    with inputs_log.collecting() as log:
        other = load_codebook(path, DISTRICTS)
    assert list(other.items) == list(cb.items) and other.items["opfer"].values == cb.items["opfer"].values
    rec = log.records[str(path)]
    assert rec.input == "codebook" and rec.encoding == "utf-8-sig" and repairs(rec)["bom_removed"] == 1


@pytest.mark.parametrize("content", [b"", "- id: x\n".encode("utf-16"), b"\x00\x01\x02", b"measures: [\n"])
def test_catalogue_bad_files_are_named(tmp_path, content):
    from kit.params import read_catalogue

    path = tmp_path / "katalog.yaml"
    path.write_bytes(content)
    with inputs_log.collecting():
        with pytest.raises(KitError) as err:
            read_catalogue(path)
    assert "katalog.yaml" in str(err.value)


def test_catalogue_with_bom_is_recorded_and_equal(tmp_path):
    from kit.params import REPO_ROOT, read_catalogue

    source = REPO_ROOT / "params" / "measures.yaml"
    path = tmp_path / "katalog.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + source.read_bytes())
    with inputs_log.collecting() as log:
        assert read_catalogue(path) == read_catalogue(source)
    assert repairs(log.records[str(path)])["bom_removed"] == 1
    assert log.records[str(path)].input == "catalogue"


# ---------------------------------------------------------------------------
# The record in the results and in the report
# ---------------------------------------------------------------------------

def test_input_checks_are_written_per_stage_and_worded_in_german(tmp_path):
    notes = [["Quelle: Stadtverwaltung"]]
    owi = write_csv(tmp_path / "owi.csv", "owi", notes=notes, pad=True)
    residents = tmp_path / "residents.csv"
    write_xlsx(tmp_path / "r.xlsx", "residents")
    shutil.move(tmp_path / "r.xlsx", residents)
    with inputs_log.collecting() as log:
        read(owi, "owi")
        read(residents, "residents")
    store = ResultStore(tmp_path / "out", "testort", stage="profile")
    table = inputs_log.write_input_checks(store, log)
    written = pd.read_csv(store.path("input_checks_profile", ".csv"), dtype=str, keep_default_na=False)
    assert written["file"].tolist() == ["owi.csv", "residents.csv"]
    assert written.loc[0, "separator"] == "semicolon" and written.loc[0, "header_row"] == "2"
    assert "header_below_notes=1" in written.loc[0, "repairs"] and "excel_content=1" in written.loc[1, "repairs"]
    german = inputs_view.input_checks_table(table)
    assert german.columns.tolist() == ["Datei", "Art", "Was angenommen wurde", "Was repariert wurde"]
    owi_row, res_row = german.iloc[0], german.iloc[1]
    assert owi_row["Art"] == "Ordnungswidrigkeiten" and "Trennzeichen Semikolon" in owi_row["Was angenommen wurde"]
    assert "Kopfzeile unter Vorbemerkungen gefunden (Zeile 2)" in owi_row["Was repariert wurde"]
    assert "Excel-Arbeitsmappe trotz Endung „.csv“" in res_row["Was repariert wurde"]
    # the schema's German titles, never raw column names (district_id, age_group ...)
    text = " ".join(german.astype(str).to_numpy().ravel())
    assert not re.search(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b(?!\.csv)", text), text
    assert "„Anzahl“" in owi_row["Was repariert wurde"] or "„Kategorie“" in owi_row["Was repariert wurde"]


# ---------------------------------------------------------------------------
# Hypothesis: arbitrary small inputs end in a KitError or a valid result
# ---------------------------------------------------------------------------

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
CELL = st.text(alphabet="0123456789.,;\t\"' -aäÄßx\r\n", max_size=8)


def _ends_well(func, *args, **kw):
    try:
        with inputs_log.collecting():
            return func(*args, **kw)
    except KitError:
        return None


@FAST
@given(content=st.binary(max_size=120), suffix=st.sampled_from([".csv", ".xlsx", ".txt", ".xls"]),
       prefix=st.sampled_from([b"", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf", b"PK\x03\x04",
                               b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"year;category;count\n"]))
def test_arbitrary_bytes_end_in_a_kit_error_or_a_table(tmp_path, content, suffix, prefix):
    path = tmp_path / f"input{suffix}"
    path.write_bytes(prefix + content)
    df = _ends_well(lambda: validate_table(read_table(path, **read_columns("owi")), "owi"))
    assert df is None or list(df.columns) == ["year", "category", "count"]
    _ends_well(read_bka_table, path, "14999", year=2022)


@FAST
@given(rows=st.lists(st.lists(CELL, min_size=1, max_size=5), max_size=5),
       header=st.sampled_from(["year;category;count", "year,category,count", "year\tcategory\tcount", ""]))
def test_arbitrary_small_tables_end_in_a_kit_error_or_a_valid_table(tmp_path, rows, header):
    text = header + "\n" + "\n".join(";".join(r) for r in rows)
    for encoding in ("utf-8", "utf-16"):
        path = tmp_path / "owi.csv"
        path.write_bytes(text.encode(encoding))
        df = _ends_well(lambda: validate_table(read_table(path, **read_columns("owi")), "owi"))
        if df is not None:
            assert df["year"].between(1990, 2100).all() and (df["count"].dropna() >= 0).all()
            assert all(isinstance(v, (int, np.integer)) for v in df["year"])


@FAST
@given(content=st.binary(max_size=80), prefix=st.sampled_from([b"", b"id,sicher_nacht\n", b"\xff\xfe"]))
def test_arbitrary_survey_files_end_in_a_kit_error_or_responses(tmp_path, cb, content, prefix):
    path = tmp_path / "antworten.csv"
    path.write_bytes(prefix + content)
    raw = _ends_well(read_responses, path, cb)
    assert raw is None or list(raw.columns)[0] == "id"


@FAST
@given(value=st.text(alphabet="0123456789.,- \u00a0\u2212e", min_size=1, max_size=12),
       mode=st.sampled_from(["form", "separator", "machine", "params"]))
def test_number_parser_returns_a_finite_number_or_value_error(value, mode):
    try:
        number, _, _ = _parse_number(value, ",", ".", mode)
    except ValueError:
        return
    assert math.isfinite(number)
