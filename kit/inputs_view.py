"""German section "Datengrundlage und Prüfungen": for every input file of a stage, what the
kit assumed when reading it and what it repaired (the records of :mod:`kit.inputs_log`,
as written to results/input_checks_<stage>.csv)."""

from __future__ import annotations

import re

import pandas as pd

from kit.report import DASH, fmt_int, show_md, show_table
from kit.schemas import column_titles, schema_names

FORMATS = {"csv": "Text-Tabelle (CSV)", "xlsx": "Excel-Arbeitsmappe", "xls": "Excel-Arbeitsmappe (.xls)",
           "sav": "SPSS-Datei", "yaml": "YAML-Datei", "bka_csv": "BKA-Kreistabelle (CSV)",
           "bka_xlsx": "BKA-Kreistabelle (Excel)", "geojson": "GeoJSON", "gpkg": "GeoPackage", "shp": "Shapefile",
           "json": "GeoJSON"}
ENCODINGS = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 mit Byte-Order-Mark", "cp1252": "Windows-1252 (kein gültiges UTF-8)",
             "utf-16-le": "UTF-16 (Excel „Unicode-Text“)", "utf-16-be": "UTF-16 (Big Endian)", "UTF-8": "UTF-8"}
MARKS = {"semicolon": "Semikolon", "comma": "Komma", "tab": "Tabulator", "pipe": "senkrechter Strich",
         "point": "Punkt", "space": "Leerzeichen", "apostrophe": "Apostroph", "none": "keins"}
INPUTS = {"params": "Parameter", "catalogue": "Maßnahmenkatalog", "codebook": "Codebuch", "contacts": "Wegweiser",
          "survey_responses": "Antworten der Befragung", "survey_sample": "Stichprobe", "districts": "Stadtteile",
          "residents": "Einwohner", "pks": "PKS", "pmk": "PMK", "owi": "Ordnungswidrigkeiten", "clubs": "Vereine",
          "places": "Orte", "accommodation": "Unterbringung", "education": "Bildungsausgaben", "bos": "BOS",
          "prevention": "Präventionsaktivitäten", "context": "Kreisdaten", "district_crime": "Kriminalität nach "
          "Stadtteilen", "sources": "Quellenverzeichnis", "swot_rules": "SWOT-Regeln",
          "matching_rules": "Zuordnungsregeln", "settings": "Einstellungen"}


def _n(count) -> str:
    return fmt_int(int(count))


_IDENTIFIER = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


def _column(name: str, titles: dict[str, str]) -> str:
    """A column named in a detail, as the report shows it: the schema's German title for a kit
    column (district_id -> Stadtteil-Nr.), else as the file names it; '' for a raw identifier."""
    shown = titles.get(name, name)
    return "" if _IDENTIFIER.search(shown) else shown


def _example(detail: str, titles: dict[str, str]) -> str:
    """' (z. B. Spalte „…“)' for a column detail, '' when there is none to show."""
    shown = _column(detail, titles) if detail else ""
    return f" (z. B. Spalte „{shown}“)" if shown else ""


def _spelling(detail: str, titles: dict[str, str]) -> str:
    found, _, kit_name = detail.partition("=")
    shown = _column(kit_name, titles)
    return f" (z. B. „{found}“ als „{shown}“)" if found and shown and not _IDENTIFIER.search(found) else ""


# code -> German text from (count, detail, column titles of the input's schema)
REPAIR_TEXTS = {
    "bom_removed": lambda n, d, t: "Byte-Order-Mark am Dateianfang entfernt",
    "excel_content": lambda n, d, t: f"Excel-Arbeitsmappe trotz Endung „{d}“ als Excel gelesen",
    "text_content": lambda n, d, t: f"Text-Tabelle trotz Endung „{d}“ als CSV gelesen",
    "header_below_notes": lambda n, d, t: f"Kopfzeile unter Vorbemerkungen gefunden (Zeile {d})",
    "header_spelling": lambda n, d, t: f"{_n(n)} Spaltenname(n) in anderer Schreibweise erkannt{_spelling(d, t)}",
    "numbering_column": lambda n, d, t: "führende Nummerierungsspalte (1, 2, 3 …) ohne Überschrift übergangen",
    "empty_columns": lambda n, d, t: f"{_n(n)} leere Spalte(n) ohne Überschrift übergangen",
    "short_lines": lambda n, d, t: (f"{_n(n)} Zeile(n) mit weniger Feldern als die Kopfzeile (erste: Zeile {d}); "
                                    "fehlende Felder nur in Spalten, die leer sein dürfen, als leer gelesen"),
    "whitespace_trimmed": lambda n, d, t: f"Leerzeichen am Rand von {_n(n)} Zelle(n) entfernt{_example(d, t)}",
    "thousands_separator": lambda n, d, t: f"{_n(n)} Zahl(en) mit Tausendertrennzeichen gelesen{_example(d, t)}",
    "decimal_comma": lambda n, d, t: f"{_n(n)} Zahl(en) mit Dezimalkomma gelesen{_example(d, t)}",
    "numbering_line": lambda n, d, t: f"Nummerierungszeile (1, 2, 3 …) übergangen (Zeile {d})",
    "transliterated_header": lambda n, d, t: (f"{_n(n)} Spaltenüberschrift(en) in Umschrift (ae/oe/ue) erkannt"
                                              + (f", z. B. „{d}“" if d and not _IDENTIFIER.search(d) else "")),
    "labels_to_codes": lambda n, d, t: f"{_n(n)} Antwort(en) als Text angegeben und in Codes übersetzt",
    "bracket_headings": lambda n, d, t: f"{_n(n)} LimeSurvey-Überschrift(en) der Form Frage[Teilfrage] zugeordnet",
    "system_columns_ignored": lambda n, d, t: f"{_n(n)} LimeSurvey-Systemspalte(n) nicht als Antworten gelesen",
    "absent_optional_items": lambda n, d, t: f"{_n(n)} optionale Frage(n) ohne Spalte als unbeantwortet behandelt",
}


def _parse(cell) -> list[tuple[str, str]]:
    text = "" if cell is None or (isinstance(cell, float) and pd.isna(cell)) else str(cell)
    return [tuple(part.split("=", 1)) for part in text.split(";") if "=" in part]


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or str(value) in ("", "<NA>", "nan")


def assumed_text(row: pd.Series) -> str:
    """What the kit assumed when reading one file, in German."""
    parts = []
    fmt = FORMATS.get(str(row.get("format") or ""), str(row.get("format") or "")) if not _blank(row.get("format")) else ""
    if fmt:
        sheets = [s for s in str(row.get("sheets") or "").split("|") if s] if not _blank(row.get("sheets")) else []
        if not _blank(row.get("sheet")):
            fmt += f", Tabellenblatt „{row['sheet']}“"
            if len(sheets) > 1:
                fmt += f" (von {_n(len(sheets))} Blättern)"
        if not _blank(row.get("layer")):
            fmt += f", Ebene „{row['layer']}“"
        parts.append(fmt)
    enc = row.get("encoding")
    if not _blank(enc) and str(enc) not in ("xlsx", "xls", "sav"):
        parts.append(f"Zeichenkodierung {ENCODINGS.get(str(enc), str(enc))}")
    if not _blank(row.get("separator")):
        parts.append(f"Trennzeichen {MARKS.get(str(row['separator']), str(row['separator']))}")
    source = "" if _blank(row.get("numbers")) else str(row["numbers"])
    dec = MARKS.get(str(row.get("decimal")), "") if not _blank(row.get("decimal")) else ""
    thou = MARKS.get(str(row.get("thousands")), "") if not _blank(row.get("thousands")) else ""
    if source == "params":
        parts.append(f"Zahlen laut Parametern: Dezimalzeichen {dec}, Tausendertrennzeichen {thou}")
    elif source == "separator":
        parts.append(f"Zahlen in deutscher Schreibweise (Dezimalzeichen {dec}, Tausendertrennzeichen {thou}), "
                     "wie in Dateien mit Semikolon üblich")
    elif source == "form":
        parts.append("Zahlenformat nicht festgelegt: Zahlen nach ihrer Schreibweise gelesen, mehrdeutige Werte "
                     "wie 2.000 abgelehnt")
    elif source == "cells":
        parts.append("Zahlen aus den Zahlenzellen; Zahlen in Textzellen nach ihrer Schreibweise, mehrdeutige "
                     "abgelehnt")
    elif source == "file_format":
        parts.append(f"Zahlen im Format der Datei (Dezimalzeichen {dec}"
                     + (f", Tausendertrennzeichen {thou})" if thou and thou != "keins" else ")"))
    if not _blank(row.get("header_row")):
        parts.append(f"Kopfzeile in Zeile {_n(row['header_row'])}")
    if not _blank(row.get("crs")):
        parts.append(f"Koordinatenbezugssystem {row['crs']}")
    return "; ".join(parts) or DASH


def repaired_text(row: pd.Series) -> str:
    """What the kit repaired when reading one file, in German (— for nothing)."""
    details = dict(_parse(row.get("repair_details")))
    name = "" if _blank(row.get("input")) else str(row["input"])
    titles = column_titles(name) if name in schema_names() else {}
    texts = []
    for code, count in _parse(row.get("repairs")):
        make = REPAIR_TEXTS.get(code)
        n = int(count) if str(count).isdigit() else 0
        if make:
            texts.append(make(n, details.get(code, ""), titles))
    return "; ".join(texts) or "nichts"


def input_checks_table(checks: pd.DataFrame) -> pd.DataFrame:
    """The results table (kit.inputs_log.COLUMNS) as the German report table."""
    rows = [{"Datei": r["file"], "Art": INPUTS.get(str(r["input"]), "") if not _blank(r["input"]) else "",
             "Was angenommen wurde": assumed_text(r), "Was repariert wurde": repaired_text(r)}
            for _, r in checks.iterrows()]
    return pd.DataFrame(rows, columns=["Datei", "Art", "Was angenommen wurde", "Was repariert wurde"])


def show_input_checks(checks: pd.DataFrame) -> None:
    """The section's text and table (the heading is in the notebook)."""
    show_md("Für jede gelesene Datei steht hier, wie das Kit sie gelesen hat (Format, Zeichenkodierung, "
            "Trennzeichen, Zahlenformat, Kopfzeile) und was es dabei bereinigt hat. Mehrdeutige Angaben, etwa eine "
            "Zahl wie 2.000 in einer Datei ohne festgelegtes Zahlenformat, werden nicht geraten, sondern als "
            "Fehler gemeldet. Dieselben Angaben stehen maschinenlesbar bei den Ergebnissen der Stufe.")
    if checks.empty:
        show_md("In dieser Stufe wurden keine Eingabedateien gelesen.")
        return
    table = input_checks_table(checks)
    show_table(table, caption="Datengrundlage und Prüfungen: gelesene Dateien, Annahmen und Reparaturen")
