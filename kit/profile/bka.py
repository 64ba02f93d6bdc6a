"""The BKA district table KR-F-01-T01 ("Kreise - Fälle - HZ").

- :func:`read_bka_table` reads it as CSV or XLSX and returns one Kreis in the
  columns of ``data_schemas/pks.yaml``; :func:`read_bka_all` reads every
  Kreis of it at once.
- :func:`bka_reference` derives reference HZ (a Land from its Kreise, or
  one Kreis) for ``profile.pks_reference``; :func:`reference_yaml` writes
  them as a YAML snippet (command ``python -m kit pks-referenz``).
"""


from __future__ import annotations

import csv
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from kit.errors import InputError, Problem, missing_file
from kit import inputs_log
from kit.io import content_kind, decode_text
from kit.schemas import check_plausibility, current_year
from kit.profile.pks import SUMMARY_KEYS, TOTAL_KEY

# ---------------------------------------------------------------------------
# BKA table reader
# ---------------------------------------------------------------------------

# Hand-written rather than pandas.read_csv / kit.io.read_table: the header
# has to be found (a numbering line precedes it in the CSV; the XLSX has title
# rows and a four-row header with merged cells), the BKA's header spellings
# vary ("Auffklaerung", "Gemeinde-schlüssel"), and errors must name the file row.
_BKA_FORMAT = "BKA-Kreistabelle KR-F-01-T01 (Fälle, HZ)"
_MISSING_MARKERS = {"", "#DIV/0!", "#NV", "#N/A", "#WERT!", "#VALUE!", "-", "–", "."}
_KEY_RE = re.compile(r"^[0-9*\-]{6}$")


def _norm(text) -> str:
    """Header text -> lower-case ASCII letters and digits only."""
    s = "" if text is None else str(text).lower()
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        s = s.replace(a, b)
    return re.sub(r"[^a-z0-9]", "", s)


# column -> (German description for errors, predicate on the normalised
# header parts joined together). The BKA spells "Auffklaerung" in the CSV.
_COLUMN_SPECS = {
    "key": ("Schluessel / Schlüssel", lambda h, parts: h == "schluessel"),
    "label": ("Straftat", lambda h, parts: h == "straftat"),
    "region_key": ("Gemeindeschluessel / Gemeindeschlüssel", lambda h, parts: "gemeindeschluessel" in h),
    "cases": ("Anzahl erfasste Faelle / Fälle", lambda h, parts: "anzahlerfasstefaelle" in h),
    "hz": ("Haeufigkeitszahl / HZ", lambda h, parts: h in ("haeufigkeitszahl", "hz")),
    "attempts": ("erfasste Faelle, davon Versuche - Anzahl", lambda h, parts: "versuche" in h and "anzahl" in h),
    "cleared": ("Aufklaerung - Anzahl Faelle",
                lambda h, parts: ("aufklaerung" in h or "auffklaerung" in h) and "anzahl" in h),
    "suspects": ("Tatverdaechtige insgesamt",
                 lambda h, parts: "tatverdaechtige" in h and "insgesamt" in h and "nichtdeutsch" not in h),
}
_OPTIONAL_SPECS = {
    "region_name": lambda h, parts: "stadtlandkreis" in h,
    "kreisart": lambda h, parts: h == "kreisart",
    "population": lambda h, parts: bool(parts) and parts[-1] == "ew",
}


def _is_numbering_row(row: list) -> bool:
    head = [str(c).strip() if c is not None else "" for c in row[:3]]
    return head == ["1", "2", "3"]


def _find_header(rows: list[list], path: Path) -> int:
    for i, row in enumerate(rows[:30]):
        normed = [_norm(c) for c in row]
        if "schluessel" in normed and any("gemeindeschluessel" in c for c in normed):
            return i
    raise InputError(Problem(file=str(path), expected=(
        f"Kopfzeile der {_BKA_FORMAT} mit den Spalten 'Schluessel' und 'Gemeindeschluessel' "
        "in den ersten 30 Zeilen")))


def _header_parts(rows: list[list], header: int, data_start: int) -> list[list[str]]:
    """Per column the normalised header texts from the header row down to the
    first data row (numbering rows skipped). The first header row is filled to
    the right, as merged cells (e.g. 'Aufklärung' over 'Anzahl Fälle' and 'AQ')
    leave the later cells empty."""
    width = max(len(r) for r in rows[header:data_start])
    parts: list[list[str]] = [[] for _ in range(width)]
    last = ""
    for j in range(width):
        cell = rows[header][j] if j < len(rows[header]) else None
        if cell is not None and str(cell).strip() != "":
            last = _norm(cell)
            parts[j].append(last)
        elif last and header + 1 < data_start:  # only spread group headers of multi-row headers
            parts[j].append(last)
    for r in range(header + 1, data_start):
        if _is_numbering_row(rows[r]):
            continue
        for j, cell in enumerate(rows[r]):
            if cell is not None and _norm(cell):
                parts[j].append(_norm(cell))
    return parts


def _locate_columns(parts: list[list[str]], path: Path, header_row: int) -> dict[str, int | None]:
    joined = ["".join(p) for p in parts]
    found: dict[str, int | None] = {}
    problems = []
    for name, (title, pred) in _COLUMN_SPECS.items():
        idx = next((j for j, h in enumerate(joined) if pred(h, parts[j])), None)
        if idx is None:
            problems.append(Problem(file=str(path), row=header_row, column=title,
                                    expected=f"Spalte '{title}' in der Kopfzeile ({_BKA_FORMAT})"))
        found[name] = idx
    if problems:
        raise InputError(problems)
    for name, pred in _OPTIONAL_SPECS.items():
        found[name] = next((j for j, h in enumerate(joined) if pred(h, parts[j])), None)
    return found


def _region_key(value) -> str:
    """Kreis key as 5-digit text: 1001, '1001', 1001.0, '01001' -> '01001'."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value) or not value.is_integer():
            return str(value)
        value = int(value)
    s = str(value).strip()
    if re.fullmatch(r"\d+\.0", s):
        s = s[:-2]
    return s.zfill(5) if s.isdigit() and len(s) <= 5 else s


def _number(value, integer: bool):
    """Parse a BKA cell: ',' thousands separator, '.' decimal point, '#DIV/0!'
    and empty as missing. Returns (number or NaN, ok)."""
    if value is None:
        return math.nan, True
    if isinstance(value, bool):
        return math.nan, False
    if isinstance(value, (int, float, np.integer, np.floating)):
        x = float(value)
    else:
        s = str(value).strip().replace("\u00a0", "").replace(" ", "")
        if s in _MISSING_MARKERS or s.startswith("="):
            return math.nan, True
        if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", s):
            s = s.replace(",", "")
        try:
            x = float(s)
        except ValueError:
            return math.nan, False
    if integer and not (math.isnan(x) or x.is_integer()):
        return math.nan, False
    return x, True


def _read_bka_rows(path: Path) -> tuple[list[list], int | None, int]:
    """Rows of the file as lists of cells, the report year stated in the file
    (XLSX 'Berichtszeitraum'), and the file row number of rows[0]. CSV or XLSX is told by
    the content (a workbook named .csv is read as a workbook); noted in kit.inputs_log."""
    suffix = path.suffix.lower()
    raw = path.read_bytes()
    kind = content_kind(raw)
    if kind == "text" and suffix in (".csv", ".txt", ".xlsx", ".xlsm", ".xls"):
        text, encoding = decode_text(raw, path)
        inputs_log.note(path, format="bka_csv", encoding=encoding, separator=";", decimal=".", thousands=",",
                        numbers="file_format")
        if suffix not in (".csv", ".txt"):
            inputs_log.repair(path, "text_content", 1, suffix)
        if encoding != "utf-8" and encoding != "cp1252":
            inputs_log.repair(path, "bom_removed", 1, encoding)
        rows = list(csv.reader(io.StringIO(text), delimiter=";"))
        return rows, None, 1
    if kind == "xlsx" and suffix in (".csv", ".txt", ".xlsx", ".xlsm", ".xls"):
        import openpyxl

        try:
            # data_only: cached values instead of formulas (the 2020 table
            # computes HZ with '=(F10*100000)/W10').
            wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for broken files
            raise InputError(Problem(file=str(path), value=type(exc).__name__,
                                     expected="lesbare Excel-Datei (.xlsx)")) from None
        try:
            ws = wb.worksheets[0]
            rows = [list(r) for r in ws.iter_rows(values_only=True)]
            inputs_log.note(path, format="bka_xlsx", encoding="xlsx", sheet=str(ws.title),
                            sheets=[str(n) for n in wb.sheetnames], numbers="cells", decimal=".", thousands="")
        finally:
            wb.close()
        if suffix not in (".xlsx", ".xlsm"):
            inputs_log.repair(path, "excel_content", 1, suffix)
        year = None
        for row in rows[:15]:
            for cell in row:
                m = re.search(r"Berichtszeitraum:\s*\d{1,2}\.\d{1,2}\.(\d{4})\s*bis\s*\d{1,2}\.\d{1,2}\.(\d{4})",
                              str(cell or ""))
                if m:
                    year = int(m.group(2))
        return rows, year, 1
    if kind == "xls":
        raise InputError(Problem(file=str(path), value="altes Excel-Format (.xls)", expected=(
            f"{_BKA_FORMAT} als CSV oder als Excel-Arbeitsmappe .xlsx (in Excel öffnen und als .xlsx speichern)")))
    raise InputError(Problem(file=str(path), value=path.suffix or "(keine Endung)",
                             expected=f"{_BKA_FORMAT} als CSV (.csv) oder Excel (.xlsx)"))


def _note_layout(path: Path, rows: list[list], header: int, data_start: int, first_row: int, cols: dict) -> None:
    """kit.inputs_log: header row, numbering lines skipped, title rows above the header,
    header texts written with ae/oe/ue (the CSV form) matched to the BKA's column names."""
    inputs_log.note(path, header_row=header + first_row)
    numbering = [i for i in range(data_start) if rows[i] and _is_numbering_row(rows[i])]
    inputs_log.repair(path, "numbering_line", len(numbering), numbering[0] + first_row if numbering else "")
    notes = [i for i in range(header) if i not in numbering and any(c is not None and str(c).strip() for c in rows[i])]
    inputs_log.repair(path, "header_below_notes", 1 if notes else 0, header + first_row)
    texts = [str(rows[header][j]) for j in cols.values() if j is not None and j < len(rows[header])
             and rows[header][j] is not None]
    transliterated = [t for t in texts if re.search(r"(ae|oe|ue|ss)", t) and not re.search(r"[äöüß]", t)
                      and re.search(r"(?i)(schluessel|faelle|haeufigkeit|auff?klaerung|verdaechtig)", t)]
    inputs_log.repair(path, "transliterated_header", len(transliterated), transliterated[0] if transliterated else "")


BKA_REGION_COLUMNS = ["region_key", "region_name", "kreisart"]


class FileRows(tuple):
    """The file row of each table row (``attrs["file_rows"]``). Immutable, so pandas' deep copy
    of attrs on every operation shares it instead of copying 16.000 numbers."""

    def __deepcopy__(self, memo):
        return self


def _parse_bka(path: Path, year: int | None, wanted: str | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Parse the BKA Kreis table once.

    Returns the Kreis rows (all Kreise, or only Kreis ``wanted``) in the
    columns of :func:`read_bka_table` plus region_key, region_name and
    kreisart, and {Kreis key: name} of the Kreise not returned. Cells of
    rows that are not returned are not checked, so a defect elsewhere in
    the file does not stop reading one Kreis.
    """
    rows, file_year, first_row = _read_bka_rows(path)
    header = _find_header(rows, path)
    data_start = header + 1
    while data_start < len(rows) and not (rows[data_start] and _KEY_RE.match(str(rows[data_start][0] or "").strip())):
        data_start += 1
    parts = _header_parts(rows, header, data_start)
    cols = _locate_columns(parts, path, header + first_row)
    _note_layout(path, rows, header, data_start, first_row, cols)
    if year is None:
        if file_year is None:
            raise InputError(Problem(file=str(path), column="year", expected=(
                "Angabe des Berichtsjahres (Parameter 'year'): die CSV-Fassung der BKA-Tabelle nennt es nicht")))
        year = file_year
    elif file_year is not None and int(year) != file_year:
        raise InputError(Problem(file=str(path), column="year", value=year, expected=(
            f"das Berichtsjahr der Datei ({file_year}, laut 'Berichtszeitraum')")))
    year = int(year)
    if year > current_year():
        raise InputError(Problem(file=str(path), column="year", value=year,
                                 expected=f"ein Berichtsjahr bis {current_year()} (kein Jahr in der Zukunft)"))

    def cell(row, name):
        j = cols.get(name)
        return row[j] if j is not None and j < len(row) else None

    records, problems, file_rows = [], [], []
    others: dict[str, str] = {}
    for i in range(data_start, len(rows)):
        row = rows[i]
        rkey = _region_key(cell(row, "region_key"))
        if not rkey:
            continue
        if wanted is not None and rkey != wanted:
            if rkey not in others:
                others[rkey] = str(cell(row, "region_name") or "").strip()
            continue
        file_row = i + first_row
        cut = [_COLUMN_SPECS[n][0] for n, j in cols.items() if n in _COLUMN_SPECS and j is not None and j >= len(row)]
        if cut:  # a truncated line: its last cells would silently read as empty
            problems.append(Problem(file=str(path), row=file_row, column=cut[0], value=f"{len(row)} Felder",
                                    expected=(f"{len(rows[header])} Felder wie die Kopfzeile (abgeschnittene Zeile? "
                                              f"es fehlen: {', '.join(cut)})")))
            continue
        rec = {"year": year, "region_key": rkey, "region_name": str(cell(row, "region_name") or "").strip(),
               "kreisart": str(cell(row, "kreisart") or "").strip()}
        raw_key = str(cell(row, "key") or "").strip()
        rec["key"] = TOTAL_KEY if set(raw_key) == {"-"} else raw_key
        if not re.fullmatch(r"[0-9*]{6}", rec["key"]):
            problems.append(Problem(file=str(path), row=file_row, column="Schluessel", value=raw_key,
                                    expected="6-stelliger Straftatenschlüssel (Ziffern und *)"))
        rec["label"] = " ".join(str(cell(row, "label") or "").split())
        for name in ("cases", "attempts", "cleared", "suspects", "hz", "population"):
            if name == "population" and cols["population"] is None:
                rec[name] = math.nan
                continue
            integer = name != "hz"
            x, ok = _number(cell(row, name), integer)
            if not ok or (name == "cases" and math.isnan(x)):
                title = _COLUMN_SPECS[name][0] if name in _COLUMN_SPECS else "EW"
                problems.append(Problem(file=str(path), row=file_row, column=title, value=cell(row, name),
                                        expected="ganze Zahl" if integer else "Zahl"))
            rec[name] = x
        records.append(rec)
        file_rows.append(file_row)
    if problems:
        raise InputError(problems)
    names = ["year", "key", "label", "cases", "attempts", "cleared", "suspects", "hz", "population",
             *BKA_REGION_COLUMNS]
    df = pd.DataFrame.from_records(records, columns=names)
    out = pd.DataFrame({
        "year": pd.array(df["year"], dtype="Int64"),
        "key": pd.array(df["key"], dtype="string"),
        "label": pd.array(df["label"], dtype="string"),
        "cases": pd.array(df["cases"].astype("float64").round(), dtype="Int64"),
        "attempts": pd.array(df["attempts"].astype("float64").round(), dtype="Int64"),
        "cleared": pd.array(df["cleared"].astype("float64").round(), dtype="Int64"),
        "suspects": pd.array(df["suspects"].astype("float64").round(), dtype="Int64"),
        "hz_bka": df["hz"].astype("float64"),
        "population_bka": pd.array(df["population"].astype("float64").round(), dtype="Int64"),
        "region_key": pd.array(df["region_key"], dtype="string"),
        "region_name": pd.array(df["region_name"], dtype="string"),
        "kreisart": pd.array(df["kreisart"], dtype="string"),
    })
    # Plausibility rules of data_schemas/pks.yaml (counts >= 0, attempts/clearance/suspects against
    # cases, no key above the total, no Kreis row twice), naming the BKA file's rows and columns
    titles = {name: title for name, (title, _) in _COLUMN_SPECS.items()}
    titles.update(hz_bka=_COLUMN_SPECS["hz"][0], population_bka="EW", year="Berichtsjahr")
    findings = check_plausibility(out, "pks", source=str(path), rows=file_rows, titles=titles, group=("region_key",))
    out.attrs.update(findings=findings, file_rows=FileRows(file_rows), column_titles=titles)
    return out, others


def read_bka_all(path: str | Path, year: int | None = None) -> pd.DataFrame:
    """Every Kreis row of the BKA table KR-F-01-T01 (CSV or XLSX), parsed once.

    Columns as :func:`read_bka_table` (year, key, label, cases, attempts,
    cleared, suspects, hz_bka, population_bka) plus ``region_key`` (5-digit
    Kreis key, e.g. "01001"), ``region_name`` and ``kreisart`` (e.g. "KfS",
    "LK"), in file order. ``year`` as for :func:`read_bka_table` (required
    for the CSV). ``attrs``: source, year. Raises InputError naming the file
    and row for any defect in any Kreis row.
    """
    path = Path(path)
    if not path.exists():
        raise missing_file(path, _BKA_FORMAT)
    out, _ = _parse_bka(path, year)
    if out.empty:
        raise InputError(Problem(file=str(path), column="Gemeindeschluessel",
                                 expected=f"Zeilen mit Kreisschlüsseln ({_BKA_FORMAT})"))
    out.attrs.update(source=str(path), year=int(out["year"].iloc[0]))
    return out


def read_bka_table(path: str | Path, key: str | int, year: int | None = None) -> pd.DataFrame:
    """Read one Kreis from the BKA table KR-F-01-T01 (CSV or XLSX).

    CSV: ';'-separated, Latin-1/cp1252, a numbering line "1;2;...;18" before
    the ASCII header, ',' as thousands separator, '.' as decimal point,
    '#DIV/0!' for undefined shares. XLSX: the BKA layout with title rows,
    a multi-row header and a numbering row; the report year is read from
    "Berichtszeitraum" when ``year`` is not given (the CSV states no year,
    so there ``year`` is required).

    ``key`` is the 5-digit Kreis key (Gemeindeschlüssel column), with or
    without leading zero, as text or number: 14612, "14612", 1001, "01001".

    Returns the schema columns (year, key, label, cases, attempts, cleared,
    suspects) plus ``hz_bka`` (the HZ published by the BKA) and
    ``population_bka`` (population column "EW" where the table has one, as
    in 2020; else <NA>), in file order. The total "------" becomes "000000".
    ``attrs`` holds source, region_key, region_name, kreisart.
    Raises InputError naming the file when the key is absent, a column is
    missing or a number cannot be read.
    """
    path = Path(path)
    if not path.exists():
        raise missing_file(path, _BKA_FORMAT)
    wanted = _region_key(key)
    if not re.fullmatch(r"\d{5}", wanted):
        raise InputError(Problem(file=str(path), column="Gemeindeschluessel", value=key,
                                 expected="5-stelliger Kreisschlüssel, z. B. 14612 für Dresden "
                                          "(die BKA-Kreistabelle enthält keine Gemeinden)"))
    table, others = _parse_bka(path, year, wanted)
    if table.empty:
        same_land = [f"{k} {v}" for k, v in sorted(others.items()) if k[:2] == wanted[:2]]
        hint = f"; Kreise mit gleicher Landesnummer in der Datei: {', '.join(same_land)}" if same_land else ""
        raise InputError(Problem(file=str(path), column="Gemeindeschluessel", value=key,
                                 expected=f"ein in der Datei vorhandener Kreisschlüssel ({len(others)} Kreise "
                                          f"gefunden){hint}"))
    out = table.drop(columns=BKA_REGION_COLUMNS)
    last = table.iloc[-1]
    out.attrs.update(source=str(path), region_key=wanted, region_name=str(last["region_name"]),
                     kreisart=str(last["kreisart"]))
    return out


def population_from_bka(pks_bka: pd.DataFrame) -> pd.DataFrame:
    """Population behind the BKA HZ, for Kreis-level runs without a
    residents table.

    Uses the "EW" column where present, else cases * 100,000 / HZ of
    "Straftaten insgesamt" (the largest count, so the rounding of the
    published HZ matters least: about +-0.5 / HZ relative). The BKA HZ of
    report year Y refers to the population at 31.12. of Y-1, so the result
    has year = Y - 1 and fits ``pks_indicators(..., population_lag=1)``.
    Returns DataFrame(year, total).
    """
    rows = []
    for y, g in pks_bka.groupby("year"):
        pop = g["population_bka"].dropna()
        if len(pop):
            total = float(pop.iloc[0])
        else:
            tot = g[g["key"] == TOTAL_KEY]
            if tot.empty or not (tot["hz_bka"].iloc[0] > 0):
                continue
            total = float(tot["cases"].iloc[0]) * 100000 / float(tot["hz_bka"].iloc[0])
        rows.append({"year": int(y) - 1, "total": round(total)})
    return pd.DataFrame({"year": pd.array([r["year"] for r in rows], dtype="Int64"),
                         "total": pd.array([r["total"] for r in rows], dtype="Int64")})


# ---------------------------------------------------------------------------
# Reference values (Land or Kreis HZ) for profile.pks_reference
# ---------------------------------------------------------------------------

# First two digits of the Kreis key.
LAND_NAMES: dict[str, str] = {
    "01": "Schleswig-Holstein", "02": "Hamburg", "03": "Niedersachsen", "04": "Bremen",
    "05": "Nordrhein-Westfalen", "06": "Hessen", "07": "Rheinland-Pfalz", "08": "Baden-Württemberg",
    "09": "Bayern", "10": "Saarland", "11": "Berlin", "12": "Brandenburg", "13": "Mecklenburg-Vorpommern",
    "14": "Sachsen", "15": "Sachsen-Anhalt", "16": "Thüringen",
}
_KREISART_NAMES = {"KfS": "Kreisfreie Stadt", "LK": "Landkreis"}
REFERENCE_COLUMNS = ["key", "label", "hz", "cases", "population"]


def _kreis_population(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Population behind the BKA HZ per Kreis: DataFrame(region_key,
    population, source) with source "EW" or "HZ".

    The CSV version of the table has no population column, so the population
    is derived from the Kreis's total row "Straftaten insgesamt":
    cases * 100,000 / HZ (the largest count, so the rounding of the published
    HZ matters least). Where the table has the column "EW" (as in 2020), that
    is used. Rounded to whole persons; one value per Kreis, for all its keys.
    """
    out, problems = [], []
    for rkey, g in table.groupby("region_key", sort=False):
        name = str(g["region_name"].iloc[0])
        tot = g[g["key"] == TOTAL_KEY]
        if tot.empty:
            problems.append(Problem(file=str(path), column="Schluessel", value=f"{rkey} {name}",
                                    expected="eine Zeile '------' (Straftaten insgesamt) je Kreis, aus der die "
                                             "Einwohnerzahl folgt"))
            continue
        t = tot.iloc[0]
        if not pd.isna(t["population_bka"]) and int(t["population_bka"]) > 0:
            out.append((rkey, int(t["population_bka"]), "EW"))
        elif not pd.isna(t["hz_bka"]) and t["hz_bka"] > 0:
            out.append((rkey, round(float(t["cases"]) * 100000 / float(t["hz_bka"])), "HZ"))
        else:
            problems.append(Problem(file=str(path), column="Haeufigkeitszahl", value=t["hz_bka"],
                                    expected=f"HZ > 0 in der Zeile 'Straftaten insgesamt' von {rkey} {name}, "
                                             "um die Einwohnerzahl zu berechnen"))
    if problems:
        raise InputError(problems)
    return pd.DataFrame(out, columns=["region_key", "population", "source"])


def _kreis_label(name: str, kreisart: str) -> str:
    kind = _KREISART_NAMES.get(kreisart, kreisart)
    return f"{name} ({kind})" if kind else name


def bka_reference(path: str | Path, year: int | None = None, land: str | int = "14",
                  kreis: str | int | None = None) -> pd.DataFrame:
    """Reference HZ per Straftatenschlüssel from the BKA table KR-F-01-T01.

    With ``kreis`` (5-digit Kreis key): the HZ the BKA publishes for that
    Kreis. Otherwise the HZ of the Land whose Kreis keys start with ``land``
    ("14" Sachsen), computed from its Kreise: sum of cases / sum of
    population * 100,000, each Kreis's population derived from its total
    row (see :func:`_kreis_population`); per key, the Kreise that have a row
    for it. Cases that the BKA assigns to no Kreis are missing from the
    Kreis table, so the Land HZ can lie slightly below that of the BKA's
    Land table.

    Returns DataFrame(key, label, hz, cases, population) in file order;
    ``attrs``: source, year, region_key, reference_label (German name for
    ``profile.pks_reference_label``), kreise (number of Kreise),
    population_source ("EW", "HZ" or "EW, HZ"), mode ("land" or "kreis").
    Raises InputError (German, naming the file and the available Länder or
    Kreise) for an unknown Land or Kreis.
    """
    path = Path(path)
    table = read_bka_all(path, year)
    if kreis is not None:
        wanted = _region_key(kreis)
        sel = table[table["region_key"] == wanted] if re.fullmatch(r"\d{5}", wanted) else table.iloc[:0]
        if sel.empty:
            kreise = table.drop_duplicates("region_key")
            same = kreise[kreise["region_key"].str[:2] == wanted[:2]]
            listed = same if len(same) else kreise.head(5)
            names = ", ".join(f"{k} {n}" for k, n in zip(listed["region_key"], listed["region_name"]))
            where = (f"Kreise mit gleicher Landesnummer: {names}" if len(same)
                     else f"z. B. {names}")
            raise InputError(Problem(file=str(path), column="Gemeindeschluessel", value=kreis,
                                     expected=f"ein 5-stelliger Kreisschlüssel der Datei ({len(kreise)} Kreise; "
                                              f"{where})"))
        pop = _kreis_population(sel, path)
        population = int(pop["population"].iloc[0])
        out = pd.DataFrame({
            "key": sel["key"].to_numpy(), "label": sel["label"].to_numpy(),
            "hz": sel["hz_bka"].astype("float64").to_numpy(), "cases": sel["cases"].to_numpy(),
            "population": pd.array([population] * len(sel), dtype="Int64"),
        })
        first = sel.iloc[0]
        attrs = dict(region_key=wanted, mode="kreis", kreise=1, population_source=str(pop["source"].iloc[0]),
                     reference_label=_kreis_label(str(first["region_name"]), str(first["kreisart"])))
    else:
        code = str(land).strip()
        code = code.zfill(2) if code.isdigit() and len(code) <= 2 else code
        sel = table[table["region_key"].str[:2] == code]
        if sel.empty:
            present = sorted(set(table["region_key"].str[:2]))
            names = ", ".join(f"{c} {LAND_NAMES.get(c, '?')}" for c in present)
            raise InputError(Problem(file=str(path), column="Gemeindeschluessel", value=land,
                                     expected=f"eine Landesnummer (erste zwei Ziffern des Kreisschlüssels), "
                                              f"zu der die Datei Kreise enthält: {names}"))
        pop = _kreis_population(sel, path)
        rows = sel[["key", "label", "cases", "region_key"]].merge(pop, on="region_key", how="left")
        grouped = rows.groupby("key", sort=False).agg(label=("label", "first"), cases=("cases", "sum"),
                                                      population=("population", "sum"))
        out = pd.DataFrame({
            "key": grouped.index.to_numpy(), "label": grouped["label"].to_numpy(),
            "hz": (grouped["cases"].astype("float64") * 100000 / grouped["population"].astype("float64")).to_numpy(),
            "cases": grouped["cases"].to_numpy(), "population": grouped["population"].to_numpy(),
        })
        attrs = dict(region_key=code, mode="land", kreise=len(pop),
                     population_source=", ".join(sorted(set(pop["source"]))),
                     reference_label=LAND_NAMES.get(code, f"Land {code}"))
    out = out.astype({"key": "string", "label": "string", "hz": "float64", "cases": "Int64",
                      "population": "Int64"})
    out.attrs.update(source=str(path), year=int(table["year"].iloc[0]), **attrs)
    return out


def _normalise_pks_key(text) -> str:
    """Key as typed on the command line: '------' and '0' -> '000000'."""
    s = str(text).strip()
    if s and set(s) == {"-"}:
        return TOTAL_KEY
    return s.zfill(6) if s.isdigit() and len(s) < 6 else s


def reference_yaml(reference: pd.DataFrame, keys: list[str] | None = None) -> str:
    """YAML snippet for the params file from :func:`bka_reference`:
    ``profile.pks_reference`` in the per-year form {key: {year: HZ}} (keys
    quoted, HZ rounded to one decimal) and ``profile.pks_reference_label``,
    preceded by German comment lines naming source and method.

    ``keys``: Straftatenschlüssel to include (None: the summary keys of
    :data:`SUMMARY_KEYS` in the table, else all; ["alle"]: all keys).
    Raises InputError for keys not in the table.
    """
    a = reference.attrs
    source, year = Path(a.get("source", "")), int(a["year"])
    available = list(reference["key"])
    if keys is None:
        wanted = [k for k in SUMMARY_KEYS if k in available] or available
    elif [str(k).strip().lower() for k in keys] == ["alle"]:
        wanted = available
    else:
        wanted = list(dict.fromkeys(_normalise_pks_key(k) for k in keys))
        unknown = [k for k in wanted if k not in available]
        if unknown:
            raise InputError([Problem(file=str(source), column="Schluessel", value=k,
                                      expected=f"ein Straftatenschlüssel der Datei: {', '.join(available)}")
                              for k in unknown])
    rows = reference.set_index("key")
    label = str(a.get("reference_label", ""))
    if a.get("mode") == "kreis":
        method = [f"Methode: HZ, wie das BKA sie für {label} (Kreisschlüssel {a['region_key']}) veröffentlicht."]
    else:
        pop = ("Spalte EW der Tabelle" if a.get("population_source") == "EW" else
               "Fälle * 100.000 / HZ der Zeile 'Straftaten insgesamt' (die CSV-Fassung hat keine Einwohnerspalte)"
               if a.get("population_source") == "HZ" else
               "Spalte EW, wo vorhanden, sonst Fälle * 100.000 / HZ der Zeile 'Straftaten insgesamt'")
        method = [f"Methode: HZ für {label} aus den {a.get('kreise')} Kreisen berechnet: "
                  "Summe der Fälle / Summe der Einwohner * 100.000;",
                  f"  Einwohner je Kreis: {pop}.",
                  "  Fälle, die das BKA keinem Kreis zuordnet, fehlen in der Kreistabelle; die HZ kann daher",
                  "  etwas unter der HZ der Landestabelle liegen."]
    lines = [
        "# PKS-Referenzwerte (HZ = Fälle je 100.000 Einwohner), erzeugt mit: python -m kit pks-referenz",
        f"# Quelle: Bundeskriminalamt, Polizeiliche Kriminalstatistik {year}, Tabelle KR-F-01-T01 "
        f"(Kreise, Fälle, HZ); Datei {source.name}",
        *(f"# {m}" for m in method),
        f"# Die HZ des Berichtsjahres {year} beziehen sich auf die Einwohner am 31.12.{year - 1}; "
        f"verglichen wird nur mit dem Jahr {year}.",
        "# Hat die Parameterdatei schon einen Abschnitt 'profile:', nur die Zeilen darunter dort einfügen.",
        "profile:",
        "  pks_reference:",
    ]
    for k in wanted:
        r = rows.loc[k]
        text = " ".join(str(r["label"]).split())
        if pd.isna(r["hz"]):
            lines.append(f"    # {k}: keine HZ in der Tabelle ({text})")
            continue
        lines.append(f'    "{k}": {{{year}: {round(float(r["hz"]), 1):.1f}}}  # {text}')
    lines.append(f"  pks_reference_label: {json.dumps(label, ensure_ascii=False)}")
    return "\n".join(lines) + "\n"
