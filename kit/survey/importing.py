"""Read survey responses as exported by survey tools and match them to the codebook.

Supported:

- LimeSurvey CSV exports, with headings as question codes (``Q05`` or
  ``Q05[SQ001]`` for sub-questions) and answers as codes or as full answer
  texts (labels are mapped to codes here; multiple choice ``Y``/``Ja``/``Yes``
  -> 1, ``N``/``Nein``/``No`` -> 0). LimeSurvey's system columns
  (``submitdate``, ``lastpage``, ``startlanguage``, ``seed``, ``token``,
  timings ...) are ignored and listed in ``attrs['ignored_columns']``; the
  paradata among them (submitdate, lastpage, startdate, datestamp,
  interviewtime) are kept as lists in ``attrs['paradata']`` for the
  response-quality rules of the cleaning (:mod:`kit.survey.quality`).
- SPSS ``.sav`` (codes; read with pyreadstat, user-defined missing values
  become empty; value labels in the file are not needed). Rows of a ``.sav``
  are case numbers: ``attrs['first_data_row'] == 1``.
- XLSX from manual entry and plain CSV with German conventions (``;``,
  decimal comma, cp1252, UTF-8 with BOM), via :func:`kit.io.read_table`.

Structure is checked here, values in :mod:`kit.survey.cleaning`. A column
that is not in the codebook (after ``column_map``) and a codebook item with no
column are both errors ("Codebuch passt nicht zur Datei"), except items
marked ``optional: true`` in the codebook: they are added as empty columns and
listed in ``attrs['absent_optional']``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from kit import inputs_log
from kit.errors import InputError, Problem, missing_file
from kit.io import CSV_SUFFIXES, EXCEL_SUFFIXES, read_table
from kit.survey.codebook import Codebook, Item

PARADATA_COLUMNS = ("submitdate", "lastpage", "startdate", "datestamp", "interviewtime")  # kit.survey.quality

SAV_SUFFIXES = {".sav", ".zsav"}

# Columns LimeSurvey adds to every response export (code headings).
LIMESURVEY_SYSTEM_COLUMNS = {
    "submitdate", "lastpage", "startlanguage", "seed", "startdate", "datestamp", "ipaddr",
    "refurl", "token", "interviewtime", "optout", "firstname", "lastname", "email",
    "emailstatus", "language", "completed", "usesleft", "validfrom", "validuntil",
}
_TIMING = re.compile(r"^(groupTime\d+|.+Time)$")
_ATTRIBUTE = re.compile(r"^attribute_\d+$")

MULTI_YES = {"y", "ja", "yes", "1", "x", "genannt", "ausgewählt", "ausgewaehlt", "zutreffend"}
MULTI_NO = {"n", "nein", "no", "0", "nicht genannt", "nicht ausgewählt", "nicht ausgewaehlt"}

ID_NAME = "id"


def normalise_text(value: str) -> str:
    """Case-, whitespace- and Unicode-insensitive key for matching labels."""
    text = unicodedata.normalize("NFC", str(value)).strip().casefold()
    return re.sub(r"\s+", " ", text)


def label_lookup(item: Item) -> dict[str, object]:
    """Normalised answer text -> code for a coded item (labels, codes, Y/N)."""
    lookup: dict[str, object] = {}
    if item.type == "multi":
        for word in MULTI_YES:
            lookup[word] = 1
        for word in MULTI_NO:
            lookup[word] = 0
        if item.text:
            lookup[normalise_text(item.text)] = 1  # some exports repeat the option text
        if item.label:
            lookup[normalise_text(item.label)] = 1
    for code, label in item.values.items():
        lookup[normalise_text(label)] = code
    # codebooks made from a LimeSurvey .lss (kit.survey.lss) keep LimeSurvey's own answer
    # codes (A1, Y, F ...) next to the integer codes, so exports with codes import too
    for code, ls_code in (item.extra.get("limesurvey_codes") or {}).items():
        lookup.setdefault(normalise_text(str(ls_code)), code)
    return lookup


def _is_system_column(name: str) -> bool:
    return (name in LIMESURVEY_SYSTEM_COLUMNS or bool(_TIMING.match(name))
            or bool(_ATTRIBUTE.match(name)))


def _bracket_candidates(name: str) -> list[str]:
    """LimeSurvey sub-question headings ``Q05[SQ001]`` -> ``Q05_SQ001``, ``Q05SQ001``."""
    m = re.fullmatch(r"(.+?)\[(.+)\]", name)
    if not m:
        return []
    base, sub = m.group(1), m.group(2)
    return [f"{base}_{sub}", f"{base}{sub}", f"{base}.{sub}"]


def _read_sav(path: Path) -> pd.DataFrame:
    import pyreadstat

    try:
        df, _meta = pyreadstat.read_sav(str(path), apply_value_formats=False)
    except Exception as exc:  # pyreadstat raises its own error types
        raise InputError(Problem(file=str(path), value=str(exc)[:200],
                                 expected="lesbare SPSS-Datei (.sav)")) from None
    df = df.astype(object).where(df.notna(), None)
    for col in df.columns:  # SPSS strings: empty string = no answer
        df[col] = [None if (isinstance(v, str) and not v.strip()) else v for v in df[col]]
    df.attrs.update({"source": str(path), "first_data_row": 1, "decimal": ".", "encoding": "sav"})
    inputs_log.note(path, format="sav", encoding=str(getattr(_meta, "file_encoding", "") or ""), numbers="file_format",
                    decimal=".")
    return df


def read_responses(path: str | Path, codebook: Codebook, column_map: Mapping[str, str] | None = None,
                   id_column: str = ID_NAME, numbers: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read a response file and match its columns to the codebook.

    Returns one row per record as in the file (duplicates are left for
    cleaning), column ``id`` (respondent id, renamed from ``id_column``)
    followed by one column per codebook item in codebook order. Values are
    raw: strings (CSV/XLSX) or numbers (SAV), with answer texts already
    replaced by their codes. ``attrs``: ``source``, ``first_data_row``,
    ``decimal``, ``numbers`` (the number convention of a CSV/XLSX, as kit.io.read_table states
    it, with workbook text cells under the item ids; ``numbers``: the params' survey.numbers),
    ``file_columns`` (item id -> the file's heading), ``format``, ``ignored_columns``,
    ``absent_optional``, ``labels_mapped`` (cells given as answer text).
    """
    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Antwortdatei der Befragung")
    suffix = path.suffix.lower()
    inputs_log.note(path, input="survey_responses")
    column_map = dict(column_map or {})
    if suffix in SAV_SUFFIXES:
        df, fmt = _read_sav(path), "sav"
    elif suffix in CSV_SUFFIXES or suffix in EXCEL_SUFFIXES:
        # the id column finds the header below notes and the sheet of a workbook (kit.io.read_table)
        id_in_file = next((str(s) for s, t in column_map.items() if t == id_column), id_column)
        df = read_table(path, expected=[id_in_file], input="survey_responses", numbers=numbers)
        fmt = "csv" if df.attrs.get("encoding") not in ("xlsx", "xls") else "xlsx"
    else:
        raise InputError(Problem(file=str(path), value=path.suffix or "(keine Endung)",
                                 expected="Antwortdatei als CSV, XLSX oder SPSS (.sav)"))
    attrs = dict(df.attrs)
    src = str(path)
    problems: list[Problem] = []

    for source_col, target in column_map.items():
        if target not in codebook.items and target != id_column:
            problems.append(Problem(file=src, column=str(source_col), value=target,
                                    expected=f"Item-id aus dem Codebuch {codebook.name} als Ziel in survey.column_map"))
    rename: dict[str, str] = {}
    ignored: list[str] = []
    unknown: list[str] = []
    for col in df.columns:
        name = str(col)
        target = column_map.get(name, name)
        if target == id_column:
            rename[col] = ID_NAME
        elif target in codebook.items:
            rename[col] = target
        elif any(c in codebook.items for c in _bracket_candidates(name)):
            rename[col] = next(c for c in _bracket_candidates(name) if c in codebook.items)
        elif _is_system_column(name) or name == "Unnamed: 0" or name.startswith("Unnamed: "):
            ignored.append(name)
        else:
            unknown.append(name)
    for name in unknown:
        problems.append(Problem(
            file=src, row=1, column=name,
            expected=(f"Codebuch passt nicht zur Datei: Spalte ist kein Item im Codebuch "
                      f"{codebook.name} (Spaltenüberschriften als Fragecodes exportieren "
                      f"oder in survey.column_map zuordnen)")))
    targets = list(rename.values())
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    for t in dupes:
        cols = [str(c) for c, v in rename.items() if v == t]
        problems.append(Problem(file=src, row=1, column=t, value=", ".join(cols),
                                expected="höchstens eine Spalte je Item"))
    if ID_NAME not in targets:
        problems.append(Problem(file=src, row=1, column=id_column, value="fehlt",
                                expected="Spalte mit der Fallnummer (Respondenten-ID)"))
    absent_optional: list[str] = []
    for item_id, item in codebook.items.items():
        if item_id in targets:
            continue
        if item.optional:
            absent_optional.append(item_id)
        else:
            problems.append(Problem(
                file=src, row=1, column=item_id, value="fehlt",
                expected=(f"Codebuch passt nicht zur Datei: Spalte für Item {item_id} "
                          f"({item.short_label[:60]}) laut Codebuch {codebook.name}")))
    if problems:
        raise InputError(problems)

    # LimeSurvey paradata for the response-quality rules (kit.survey.quality), as plain lists
    paradata = {name: [None if _blank(v) else v for v in df[col].tolist()]
                for col in df.columns for name in [str(col).strip().lower()]
                if name in PARADATA_COLUMNS and col in ignored}
    out = df.rename(columns=rename)
    out = out[[ID_NAME] + [c for c in codebook.items if c in targets]].astype(object)
    for item_id in absent_optional:
        out[item_id] = None
    out = out[[ID_NAME] + list(codebook.items)]

    labels_mapped = 0
    for item in codebook.items.values():
        if not item.is_coded or item.id in absent_optional:
            continue
        lookup = label_lookup(item)
        col = out[item.id]
        is_text = col.map(lambda v: isinstance(v, str))
        if not is_text.any():
            continue
        keys = col[is_text].map(normalise_text)
        codes = keys.map(lambda k: lookup.get(k, None))
        # a cell that already is a code stays as it is (code "1" vs label "1")
        already_code = col[is_text].map(lambda v: _looks_like_code(v, item))
        replace = codes.notna() & ~already_code
        if replace.any():
            labels_mapped += int(replace.sum())
            new = col.copy()
            new.loc[replace[replace].index] = codes[replace].map(str)
            out[item.id] = new
    out = out.replace({np.nan: None})
    convention = attrs.get("numbers")
    if convention and "text_cells" in convention:  # workbook text cells, under the item ids
        convention = {**convention, "text_cells": {rename[c]: cells for c, cells in convention["text_cells"].items()
                                                   if c in rename}}
    # what was assumed and repaired (kit.inputs_log)
    inputs_log.repair(path, "labels_to_codes", labels_mapped, "")
    bracketed = [str(c) for c, t in rename.items() if str(c) != t and _bracket_candidates(str(c))]
    inputs_log.repair(path, "bracket_headings", len(bracketed), bracketed[0] if bracketed else "")
    system = [c for c in ignored if not c.startswith("Unnamed: ")]
    inputs_log.repair(path, "system_columns_ignored", len(system), system[0] if system else "")
    inputs_log.repair(path, "absent_optional_items", len(absent_optional), absent_optional[0] if absent_optional else "")
    out.attrs = {
        **attrs,
        "source": src,
        "first_data_row": attrs.get("first_data_row", 2),
        "decimal": attrs.get("decimal", "."),
        **({"numbers": convention} if convention else {}),
        "file_columns": {t: str(c) for c, t in rename.items()},
        "format": fmt,
        "ignored_columns": ignored,
        "absent_optional": absent_optional,
        "labels_mapped": labels_mapped,
        "id_column": id_column,
        "paradata": paradata,
    }
    return out


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT


def _looks_like_code(value: str, item: Item) -> bool:
    text = value.strip()
    if item.is_district:
        return text in item.values
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        return False
    return number.is_integer() and int(number) in item.values
