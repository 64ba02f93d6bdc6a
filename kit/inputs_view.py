"""German section "Datengrundlage und Prüfungen": for every input file of a stage, what the
kit assumed when reading it and what it repaired (the records of :mod:`kit.inputs_log`,
as written to results/input_checks_<stage>.csv), and the findings of the plausibility rules
that are reported, not refused (results/input_findings_<stage>.csv), one row each with file,
row, column, value, rule and meaning (this appendix section may name files and columns)."""

from __future__ import annotations

import re

import pandas as pd

from kit.report import DASH, fmt_int, fmt_num, show_md, show_table
from kit.schemas import column_titles, plausibility_rules, schema_names

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
    # a row number may come as 63.0 / "63.0" (a column with empty cells is float)
    return fmt_int(int(float(count)))


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


# rules of findings that are not a ratio of data_schemas/<name>.yaml (those: rule_title)
RULE_TITLES = {
    "gap_tolerance_m2": "Lücke zwischen den Stadtteil-Flächen",
    "unmatched_districts.no_polygon": "Stadtteil der Einwohnerstatistik ohne Polygon",
    "unmatched_districts.no_residents": "Polygon ohne Einwohnerangaben",
}


def rule_title(rule: str, input_name: str) -> str:
    """The German name of a plausibility rule of a finding: a ratio (``ratios.<id>``) by its title
    and bound from the input's schema (e.g. "Aufklärungsquote über 100 % (Aufklärung von Fällen
    früherer Jahre)"), the others from :data:`RULE_TITLES`."""
    if rule in RULE_TITLES:
        return RULE_TITLES[rule]
    kind, _, rule_id = rule.partition(".")
    if kind == "ratios" and input_name in schema_names():
        for ratio in plausibility_rules(input_name).get("ratios", []):
            if ratio.get("id") == rule_id:
                bound = (f"{fmt_num(ratio['max'] * 100, 0)} %" if ratio.get("percent")
                         else fmt_num(ratio["max"], 0 if float(ratio["max"]).is_integer() else 2))
                names = ", ".join(e["name"] for e in ratio.get("exceptions", []))
                return f"{ratio['title']} über {bound}" + (f" ({names})" if names else "")
    return "Plausibilitätsregel"


def _finding_column(column: str, input_name: str) -> str:
    """The column as the file names it, with the kit's German title where that says more; a raw
    identifier of the kit (district_id) by its title only (Stadtteil-Nr.)."""
    if not column or _blank(column):
        return DASH
    if column == "geometry":
        return "Geometrie"
    title = column_titles(input_name).get(column, "") if input_name in schema_names() else ""
    if _IDENTIFIER.search(column):
        return title if title and not _IDENTIFIER.search(title) else DASH
    return f"{column} ({title})" if title and title != column and not _IDENTIFIER.search(title) else column


def _finding_value(value) -> str:
    text = "" if _blank(value) else str(value)
    return fmt_int(int(text)) if re.fullmatch(r"-?\d+", text) else (text or DASH)


def input_findings_table(findings: pd.DataFrame) -> pd.DataFrame:
    """The findings (kit.inputs_log.FINDING_COLUMNS) as the German report table."""
    rows = []
    for _, f in findings.iterrows():
        name = "" if _blank(f["input"]) else str(f["input"])
        row = "" if _blank(f["row"]) else str(f["row"])
        where = DASH if not row else (f"Objekt {_n(row)}" if name == "districts" else _n(row))
        rows.append({"Datei": f["file"], "Art": INPUTS.get(name, name), "Zeile": where,
                     "Spalte": _finding_column("" if _blank(f["column"]) else str(f["column"]), name),
                     "Wert": _finding_value(f["value"]), "Prüfregel": rule_title(str(f["rule"]), name),
                     "Bedeutung": str(f["meaning"])})
    return pd.DataFrame(rows, columns=["Datei", "Art", "Zeile", "Spalte", "Wert", "Prüfregel", "Bedeutung"])


def show_input_findings(findings: pd.DataFrame | list | None, checked: bool = True) -> None:
    """The plausibility findings of the stage: a sentence and one table row per finding; one
    sentence when the stage checked plausibility and found nothing; nothing when it checked none."""
    from kit.inputs_log import FINDING_COLUMNS

    table = findings if isinstance(findings, pd.DataFrame) else pd.DataFrame(findings or [], columns=FINDING_COLUMNS)
    if table.empty:
        if checked:
            show_md("Die Plausibilitätsregeln der Eingabedaten (z. B. Anzahlen nie negativ, Aufklärungsquote, "
                    "Stadtteile in allen Dateien) ergaben keine Prüfhinweise.")
        return
    n = len(table)
    show_md(f"**Prüfhinweise:** Die Plausibilitätsregeln der Eingabedaten haben {_n(n)} "
            f"{'Befund' if n == 1 else 'Befunde'} gemeldet, die ungewöhnlich, aber erklärbar sind. Sie sind keine "
            "Fehler und wurden nicht verändert; ausgewertet wird wie geliefert. Jede Zeile nennt Datei, Zeile, "
            "Spalte und Wert, die Regel und was der Befund bedeutet.")
    show_table(input_findings_table(table),
               caption="Prüfhinweise zu den Eingabedaten: gemeldete, nicht abgelehnte Werte")


def show_input_checks(checks: pd.DataFrame, findings: pd.DataFrame | list | None = None) -> None:
    """The section's text and tables (the heading is in the notebook): the files read and, after
    them, the plausibility findings (``findings``; default: those kit.inputs_log.write_input_checks
    passed with ``checks``)."""
    show_md("Für jede gelesene Datei steht hier, wie das Kit sie gelesen hat (Format, Zeichenkodierung, "
            "Trennzeichen, Zahlenformat, Kopfzeile) und was es dabei bereinigt hat. Mehrdeutige Angaben, etwa eine "
            "Zahl wie 2.000 in einer Datei ohne festgelegtes Zahlenformat, werden nicht geraten, sondern als "
            "Fehler gemeldet. Dieselben Angaben stehen maschinenlesbar bei den Ergebnissen der Stufe.")
    checked = bool(checks.attrs.get("plausibility_checked", findings is not None))
    findings = checks.attrs.get("findings") if findings is None else findings
    if checks.empty:
        show_md("In dieser Stufe wurden keine Eingabedateien gelesen.")
    else:
        table = input_checks_table(checks)
        show_table(table, caption="Datengrundlage und Prüfungen: gelesene Dateien, Annahmen und Reparaturen")
    if findings is not None and (checked or len(findings)):
        show_input_findings(findings, checked)
