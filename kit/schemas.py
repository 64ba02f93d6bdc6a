"""Input schemas (data_schemas/*.yaml) and validation of input tables.

The schemas are Frictionless-style Table Schemas (see data_schemas/README.md).
Values are converted here, not by pandas' guessing, so that a bad cell can be
named exactly; the constraints are then checked by pandera with lazy
validation, which collects every failure at once. Each failure becomes a
`Problem` naming file, row, column, value and expectation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml

from kit import inputs_log
from kit.errors import EXCERPT_CHARS, InputError, ParamsError, Problem, excerpt

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "data_schemas"

TYPE_LABELS = {"integer": "ganze Zahl", "number": "Zahl", "string": "Text"}


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    path = SCHEMA_DIR / f"{name}.yaml"
    if not path.exists():
        raise ParamsError(f"Kein Eingabeschema '{name}' in {SCHEMA_DIR} (vorhanden: {', '.join(schema_names())}).")
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def schema_names() -> list[str]:
    return sorted(p.stem for p in SCHEMA_DIR.glob("*.yaml") if p.stem != "survey_codebook")


def column_titles(name: str) -> dict[str, str]:
    """Column name -> German title, for tables in reports."""
    return {f["name"]: f.get("title", f["name"]) for f in load_schema(name)["fields"]}


_INT_RE = re.compile(r"^[+-]?\d+$")


class AmbiguousNumber(ValueError):
    """A number whose value depends on a convention the file does not state: '2.000' is 2
    with a decimal point and 2000 with a thousands point."""

    def __init__(self, text: str, mark: str, whole: str, fraction: str):
        super().__init__(text)
        self.text, self.mark, self.whole, self.fraction = text, mark, whole, fraction


_MACHINE_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_SPACES = re.compile(r"[\s\u00a0\u202f]")


def _parse_number(text: str, decimal: str = ".", thousands: str | None = None,
                  mode: str = "separator") -> tuple[float, bool, bool]:
    """Parse one cell; return (number, thousands separator used, decimal comma used).

    ``mode`` says how sure the convention (``decimal``, ``thousands``) is:

    - ``params``: stated in the params; only that notation is accepted.
    - ``separator``: assumed from the file (';'-separated: German 1.234,5); thousands
      groups in the other notation are accepted where they cannot be misread (old behaviour).
    - ``form``: not known (a ','-separated file, a text cell in a workbook): a value is read
      by its form where that is unambiguous (2,5 / 1.234,5 / 1,234.5 / 1.234.567); a single
      separator followed by three digits (2.000, 1,234) raises :class:`AmbiguousNumber`.
    - ``machine``: a number cell of a workbook (decimal point, no thousands).

    Raises ValueError for anything that is not a finite number in that notation.
    """
    s = text.strip().replace("\u2212", "-")
    spaced = bool(re.search(r"\d[\s\u00a0\u202f]+\d", s))
    s = _SPACES.sub("", s)
    thou = spaced
    dec_comma = False
    if mode == "machine":
        pass
    elif mode == "params":
        d, t = decimal, thousands or ""
        tpart = rf"|\d{{1,3}}(?:{re.escape(t)}\d{{3}})+" if t and t != " " else ""
        m = re.fullmatch(rf"([+-]?)(\d+{tpart})(?:{re.escape(d)}(\d+))?", s)
        if m is None or (spaced and t != " "):
            raise ValueError(text)
        whole = m.group(2).replace(t, "") if t else m.group(2)
        thou = thou or whole != m.group(2)
        dec_comma = d == "," and m.group(3) is not None
        s = f"{m.group(1)}{whole}" + (f".{m.group(3)}" if m.group(3) is not None else "")
    elif mode == "form":
        if "." in s and "," in s:
            d = "." if s.rfind(".") > s.rfind(",") else ","
            t = "," if d == "." else "."
            m = re.fullmatch(rf"([+-]?)(\d{{1,3}}(?:{re.escape(t)}\d{{3}})+){re.escape(d)}(\d+)", s)
            if m is None:
                raise ValueError(text)
            s = f"{m.group(1)}{m.group(2).replace(t, '')}.{m.group(3)}"
            thou, dec_comma = True, d == ","
        elif "." in s or "," in s:
            c = "." if "." in s else ","
            if s.count(c) > 1:
                if not re.fullmatch(rf"[+-]?\d{{1,3}}(?:{re.escape(c)}\d{{3}})+", s):
                    raise ValueError(text)
                s, thou = s.replace(c, ""), True
            else:
                m = re.fullmatch(rf"([+-]?)(\d*){re.escape(c)}(\d+)", s)
                if m is None:
                    raise ValueError(text)
                if re.fullmatch(r"[1-9]\d{0,2}", m.group(2)) and len(m.group(3)) == 3:
                    raise AmbiguousNumber(text.strip(), c, m.group(1) + m.group(2), m.group(3))
                s, dec_comma = f"{m.group(1)}{m.group(2)}.{m.group(3)}", c == ","
    elif decimal == ",":  # separator: German, as the ';' suggests
        if re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+(,\d+)?", s):
            s, thou = s.replace(".", ""), True
        if "," in s:
            s, dec_comma = s.replace(",", "."), True
    else:  # separator with decimal point
        if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", s):
            s, thou = s.replace(",", ""), True
    if not _MACHINE_NUMBER.fullmatch(s):  # float() would also take 'nan', 'inf' and '1_000'
        raise ValueError(text)
    number = float(s)
    if not math.isfinite(number):  # 1e310
        raise ValueError(text)
    return number, thou, dec_comma


def read_columns(name: str, columns: dict | None = None) -> dict:
    """Keyword arguments for kit.io.read_table from schema ``name``: ``expected`` (the columns
    the schema needs), ``optional`` (the columns it reads when present) and ``required`` (the
    columns whose cells must be filled), as the file
    names them (``columns``: kit column -> file column, params ``inputs.<name>.columns``)."""
    in_file = columns or {}
    fields = load_schema(name)["fields"]
    return {"expected": [in_file.get(f["name"], f["name"]) for f in fields if not f.get("optional")],
            "optional": [in_file.get(f["name"], f["name"]) for f in fields if f.get("optional")],
            "required": [in_file.get(f["name"], f["name"]) for f in fields
                         if (f.get("constraints") or {}).get("required")],
            "input": name}


def _number_convention(decimal) -> dict:
    """The convention a table states in ``attrs["numbers"]`` (kit.io.read_table), or the old
    form: a decimal mark alone (',' = German with thousands points)."""
    if isinstance(decimal, dict):
        return decimal
    return {"decimal": decimal, "thousands": "." if decimal == "," else ",", "source": "separator"}


def cell_modes(convention: dict, column, index) -> list[str]:
    """The ``mode`` of :func:`_parse_number` for each cell (``index``: the labels) of one column
    of a table read by kit.io.read_table under ``convention`` (its ``attrs["numbers"]``): a
    number cell of a workbook is a machine number, a text cell of a workbook is read by its form
    (or the params' convention), a text file's cells by the convention's source (params |
    separator | form)."""
    source = convention.get("source", "separator")
    text_mode = "form" if source == "cells" else source
    if "text_cells" not in convention:
        return [text_mode] * len(index)
    text_cells = set((convention["text_cells"] or {}).get(column, ()))
    return [text_mode if idx in text_cells else "machine" for idx in index]


def parse_cell(text: str, convention: dict, mode: str | None = None) -> tuple[float, bool, bool]:
    """One number cell under a table's number convention (``attrs["numbers"]`` of
    kit.io.read_table, see :func:`cell_modes` for ``mode``): (number, thousands separator used,
    decimal comma used). Raises :class:`AmbiguousNumber` for a value like '2.000' whose meaning
    the convention leaves open, ValueError for anything else that is no number. The one number
    parser of the kit's readers: the profile tables (:func:`validate_table`) and the survey
    answers (kit.survey.cleaning) use it."""
    mode = mode or convention.get("source", "separator")
    return _parse_number(text, convention.get("decimal", "."), convention.get("thousands"),
                         "form" if mode == "cells" else mode)


def ambiguous_expected(label: str, amb: AmbiguousNumber, setting: str = "den Parametern der Eingabe") -> str:
    """What an ambiguous number cell should have been (German, for a Problem): both readings and
    where the convention is stated (``setting``, e.g. "den Parametern der Befragung (survey.numbers)")."""
    return (f"{label} in eindeutiger Schreibweise: '{amb.text}' kann {amb.whole},{amb.fraction} "
            f"(Dezimalzeichen '{amb.mark}') oder {amb.whole}{amb.fraction} (Tausendertrennzeichen "
            f"'{amb.mark}') bedeuten und das Zahlenformat der Datei ist nicht eindeutig; bitte in "
            f"{setting} angeben, z. B. numbers: {{decimal: \",\", thousands: \".\"}}")


def _convert_column(values: pd.Series, ftype: str, decimal):
    """Convert a text column; return (converted, list of (index, raw value, expected)).

    ``decimal``: the table's number convention (``attrs["numbers"]`` of kit.io.read_table) or a
    decimal mark. Cells read with thousands separators or a decimal comma are noted in
    kit.inputs_log for the table's file.
    """
    bad: list[tuple[int, str, str]] = []
    if ftype == "string":
        out = values.astype("string")
        return out, bad
    conv = _number_convention(decimal)
    source = conv.get("source", "separator")
    label = TYPE_LABELS[ftype]
    if source == "params":
        stated = (f"{label} im Zahlenformat laut Parametern (Dezimalzeichen '{conv['decimal']}', "
                  f"Tausendertrennzeichen '{conv.get('thousands') or 'keins'}')")
    parsed = []
    n_thousands = n_comma = 0
    for (idx, raw), mode in zip(values.items(), cell_modes(conv, values.name, values.index)):
        if pd.isna(raw):
            parsed.append(np.nan)
            continue
        text = str(raw).strip()
        try:
            number, thou, comma = parse_cell(text, conv, mode)
        except AmbiguousNumber as amb:
            bad.append((idx, text, ambiguous_expected(label, amb)))
            parsed.append(np.nan)
            continue
        except ValueError:
            bad.append((idx, text, stated if mode == "params" else label))
            parsed.append(np.nan)
            continue
        if ftype == "integer" and not float(number).is_integer():
            bad.append((idx, text, label))
            parsed.append(np.nan)
            continue
        n_thousands += thou
        n_comma += comma
        parsed.append(number)
    if conv.get("file"):
        inputs_log.repair(conv["file"], "thousands_separator", n_thousands, values.name)
        inputs_log.repair(conv["file"], "decimal_comma", n_comma, values.name)
    series = pd.Series(parsed, index=values.index, dtype="float64")
    if ftype == "integer":
        series = series.astype("Int64")
    return series, bad


def _checks_for(field: dict) -> list[pa.Check]:
    cons = field.get("constraints", {}) or {}
    checks = []
    if "enum" in cons:
        allowed = cons["enum"]
        checks.append(pa.Check.isin(allowed, error="einer der Werte: " + ", ".join(map(str, allowed))))
    if "minimum" in cons:
        checks.append(pa.Check.ge(cons["minimum"], error=f"Wert ≥ {cons['minimum']}"))
    if "maximum" in cons:
        checks.append(pa.Check.le(cons["maximum"], error=f"Wert ≤ {cons['maximum']}"))
    if "pattern" in cons:
        hint = cons.get("patternTitle") or f"Format {cons['pattern']}"
        checks.append(pa.Check.str_matches(cons["pattern"], error=hint))
    return checks


def _row(df: pd.DataFrame, idx) -> int | None:
    if idx is None or (isinstance(idx, float) and np.isnan(idx)):
        return None
    return int(idx) + int(df.attrs.get("first_data_row", 2))


def validate_table(raw: pd.DataFrame, name: str, *, source: str | None = None) -> pd.DataFrame:
    """Validate and type a raw text table against schema `name`.

    Returns a new DataFrame with exactly the schema's columns (optional ones
    only when present), typed: integer -> Int64, number -> float64,
    string -> string. Raises InputError listing every problem found.
    """
    schema = load_schema(name)
    source = source or raw.attrs.get("source", name)
    decimal = raw.attrs.get("numbers") or raw.attrs.get("decimal", ".")  # number convention (kit.io)
    fields = schema["fields"]
    problems: list[Problem] = []

    present = [f for f in fields if f["name"] in raw.columns]
    missing = [f["name"] for f in fields if f["name"] not in raw.columns and not f.get("optional")]
    if missing:
        found = excerpt(", ".join(map(str, raw.columns)), 2 * EXCERPT_CHARS) or "(keine)"
        for col in missing:
            problems.append(Problem(file=source, row=1, column=col, value=None,
                                    expected=f"Pflichtspalte '{col}' in der Kopfzeile (gefunden: {found})"))
        raise InputError(problems)

    typed = pd.DataFrame(index=raw.index)
    for field in present:
        converted, bad = _convert_column(raw[field["name"]], field["type"], decimal)
        for idx, value, expected in bad:
            problems.append(Problem(file=source, row=_row(raw, idx), column=field["name"], value=value,
                                    expected=expected))
        typed[field["name"]] = converted

    columns = {}
    for field in present:
        cons = field.get("constraints", {}) or {}
        columns[field["name"]] = pa.Column(
            None, checks=_checks_for(field), nullable=not cons.get("required", False),
            unique=bool(cons.get("unique", False)),
        )
    try:
        pa.DataFrameSchema(columns).validate(typed, lazy=True)
    except pa.errors.SchemaErrors as err:
        failures = err.failure_cases
        for rec in failures.itertuples(index=False):
            check = str(rec.check)
            if check == "not_nullable":
                # cells that failed type conversion are reported already
                if any(p.row == _row(raw, rec.index) and p.column == rec.column for p in problems):
                    continue
                expected, value = "ein Wert (Pflichtfeld, darf nicht leer sein)", "(leer)"
            elif check == "field_uniqueness":
                expected, value = "eindeutiger Wert (kommt mehrfach vor)", rec.failure_case
            else:
                expected, value = check, rec.failure_case
            problems.append(Problem(file=source, row=_row(raw, rec.index), column=rec.column,
                                    value=value, expected=expected))

    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.column or ""))
        raise InputError(problems)
    # Plausibility rules of the schema (duplicate keys, years, ratios, totals): data_schemas/<name>.yaml.
    # Values a named exception explains come back as findings, recorded with the table.
    findings = check_plausibility(typed, name, source=source, rows=[_row(raw, i) for i in typed.index])
    # The index still maps to file rows (row = index + first_data_row) for later cross-checks.
    typed.attrs = {"source": source, "schema": name, "first_data_row": raw.attrs.get("first_data_row", 2),
                   "findings": findings}
    return typed


def validate_districts(gdf, *, source: str | None = None):
    """Check the attribute columns of a district geometry file."""
    source = source or gdf.attrs.get("source", "districts")
    # Shapefiles (dBase) keep at most 10 characters of a field name:
    # district_id arrives as district_i, district_name as district_n.
    renames = {}
    for f in load_schema("districts")["fields"]:
        short = f["name"][:10]
        if f["name"] not in gdf.columns and short != f["name"] and short in gdf.columns:
            renames[short] = f["name"]
    if renames:
        gdf = gdf.rename(columns=renames)
    raw = pd.DataFrame({c: gdf[c].astype("string") if c in gdf.columns else None
                        for c in gdf.columns if c != gdf.geometry.name})
    raw.attrs = {"source": source, "first_data_row": 1, "decimal": "."}
    typed = validate_table(raw, "districts", source=source)
    out = gdf[[gdf.geometry.name]].copy()
    for col in typed.columns:
        out[col] = typed[col].to_numpy()
    out = out.reset_index(drop=True)
    out = out[[*typed.columns, gdf.geometry.name]]
    # overlaps (error) and gaps (findings) of the polygons, measured in metres
    metric = out if out.crs is None or out.crs.is_projected else out.to_crs("EPSG:25833")
    findings = check_district_geometry(metric, source=source) if out.crs is not None else []
    out.attrs = {"source": source, "schema": "districts", "findings": findings}
    return out


def check_district_ids(table: pd.DataFrame, known: set[str] | dict[str, str], *, column: str = "district_id",
                       allow_empty: bool = False, districts_source: str | None = None) -> None:
    """Cross-check: every district_id of a table exists in the district file.

    ``known``: the district ids, or {id: name} to name them in the message. One problem per
    unknown id (its first row, how many rows have it, its name where the table's
    ``attrs["district_names"]`` knows it)."""
    if column not in table.columns:
        return
    source = table.attrs.get("source", "?")
    first = int(table.attrs.get("first_data_row", 2))
    names = known if isinstance(known, dict) else {k: "" for k in known}
    own_names = table.attrs.get("district_names") or {}
    where = f"Stadtteil-Datei {districts_source}" if districts_source else "Stadtteil-Datei"
    problems = []
    unknown: dict[str, list] = {}
    for i, value in table[column].items():
        if pd.isna(value):
            if not allow_empty:
                problems.append(Problem(file=source, row=int(i) + first, column=column, value="(leer)",
                                        expected=f"Stadtteil-Nr. aus der {where}"))
            continue
        if str(value) not in names:
            unknown.setdefault(str(value), []).append(int(i) + first)
    for value, rows in unknown.items():
        shown = f"{value} {own_names.get(value, '')}".strip()
        more = f" (kommt in {len(rows)} Zeilen vor)" if len(rows) > 1 else ""
        problems.append(Problem(file=source, row=rows[0], column=column, value=shown,
                                expected=f"eine Stadtteil-Nr. aus der {where}: {_district_list(names)}{more}"))
    if problems:
        problems.sort(key=lambda p: p.row or 0)
        raise InputError(problems)


# ---------------------------------------------------------------------------
# Plausibility rules (key "plausibility" of data_schemas/<name>.yaml)
# ---------------------------------------------------------------------------
# Checked after the types and the field constraints: counts >= 0, years not in the future,
# duplicate keys, ratios between columns with named exceptions, no key above the total, counts
# per resident (check_per_resident, needs the residents table), every district in the residents
# (check_district_coverage) and the polygons (check_district_geometry). A violation is an
# InputError naming file, row, column, value and the bound; a value that a named exception
# explains is returned as a finding (a Problem whose ``expected`` holds the explanation) and
# reported, not refused.


@dataclass
class Finding(Problem):
    """A value a plausibility rule reports instead of refusing: ``expected`` says what it means
    (German), ``rule`` which rule of the schema's ``plausibility`` block found it
    (``ratios.<id>`` for a ratio's named exception, ``gap_tolerance_m2``; kit.inputs_view names
    it in German)."""

    rule: str = ""


def plausibility_rules(name: str) -> dict:
    return load_schema(name).get("plausibility") or {}


def current_year() -> int:
    import datetime

    return datetime.date.today().year


def fmt_de(value, decimals: int = 0) -> str:
    """German number for messages: 1.234 / 1.234,5 (kit.report is a view module, not imported here)."""
    text = f"{float(value):,.{decimals}f}"
    return text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


def _is_missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def _file_rows(table: pd.DataFrame, rows) -> dict:
    """Index label -> file row: ``rows`` (aligned with the table) or index + first_data_row."""
    if rows is not None:
        return dict(zip(table.index, rows))
    first = int(table.attrs.get("first_data_row", 2))
    return {i: (int(i) + first if isinstance(i, (int, np.integer)) else None) for i in table.index}


def _title(titles: dict, column: str) -> str:
    return titles.get(column, column)


def _bound_text(rule: dict, den_title: str, *, slack=None, ratio=None) -> str:
    ratio = rule["max"] if ratio is None else ratio
    slack = rule.get("slack", 0) if slack is None else slack
    share = f" ({fmt_de(ratio * 100)} %)" if rule.get("percent") else ""
    factor = "" if ratio == 1 else f"{fmt_de(ratio, 0 if float(ratio).is_integer() else 2)} × "
    plus = f" + {fmt_de(slack)}" if slack else ""
    return f"höchstens {factor}{den_title}{plus}{share}"


def check_plausibility(table: pd.DataFrame, name: str, *, source: str | None = None, rows=None,
                       titles: dict | None = None, group: tuple[str, ...] = ()) -> list[Problem]:
    """Apply the plausibility rules of schema ``name`` to a typed table.

    Raises InputError listing every value beyond a bound (file, row, column, value, bound).
    Returns the findings a named exception explains (reported, not refused). ``rows``: the file
    row of each table row (default index + first_data_row); ``titles``: column -> the file's
    column heading for messages (default the column name); ``group``: extra key columns (e.g.
    the Kreis of a table holding several) for duplicates and totals.
    """
    schema = load_schema(name)
    rules = schema.get("plausibility") or {}
    source = source or table.attrs.get("source", name)
    titles = dict(titles or {})
    row_of = _file_rows(table, rows)
    table = table.copy(deep=False)
    table.attrs = {}  # pandas deep-copies attrs on every operation
    problems: list[Problem] = []
    findings: list[Problem] = []
    field_types = {f["name"]: f["type"] for f in schema["fields"]}

    def numbers(col: str) -> pd.Series:
        return pd.to_numeric(table[col], errors="coerce").astype("float64")

    # counts >= 0 (and other numeric bounds of the fields: the BKA reader's output has not been
    # through validate_table), plus reader columns named in non_negative
    bounds = {}
    for f in schema["fields"]:
        cons = f.get("constraints") or {}
        if f["type"] in ("integer", "number") and ("minimum" in cons or "maximum" in cons):
            bounds[f["name"]] = (cons.get("minimum"), cons.get("maximum"))
    for col in rules.get("non_negative", []):
        bounds.setdefault(col, (0, None))
    for col, (low, high) in bounds.items():
        if col not in table.columns:
            continue
        values = numbers(col)
        for idx, v in values.items():
            if np.isnan(v):
                continue
            if low is not None and v < low:
                expected = "eine Zahl ≥ 0 (Anzahlen sind nie negativ)" if low == 0 else f"Wert ≥ {low}"
            elif high is not None and v > high:
                expected = f"Wert ≤ {high}"
            else:
                continue
            problems.append(Problem(file=source, row=row_of.get(idx), column=_title(titles, col),
                                    value=table.at[idx, col], expected=expected))

    this_year = current_year()
    for col in rules.get("not_future", []):
        if col not in table.columns:
            continue
        for idx, v in numbers(col).items():
            if not np.isnan(v) and v > this_year:
                problems.append(Problem(file=source, row=row_of.get(idx), column=_title(titles, col),
                                        value=table.at[idx, col],
                                        expected=f"ein Jahr bis {this_year} (kein Jahr in der Zukunft)"))

    key = [*group, *(c for c in schema.get("primaryKey", []) if c in table.columns)]
    if len(key) > len(group):
        first_seen: dict = {}
        for idx, combo in zip(table.index, table[key].itertuples(index=False, name=None)):
            combo = tuple(None if _is_missing(c) else c for c in combo)
            if combo in first_seen:
                shown = ", ".join(f"{c}={v}" for c, v in zip(key, combo) if c not in group)
                earlier = row_of.get(first_seen[combo])
                problems.append(Problem(
                    file=source, row=row_of.get(idx), column="+".join(_title(titles, c) for c in key if c not in group),
                    value=shown, expected=("jede Kombination nur einmal (doppelte Zeile"
                                           + (f", wie Zeile {earlier}" if earlier is not None else "") + ")")))
            else:
                first_seen[combo] = idx

    for rule in rules.get("ratios", []):
        num, den = rule["numerator"], rule["denominator"]
        if num not in table.columns or den not in table.columns:
            continue
        n, d = numbers(num), numbers(den)
        num_title, den_title = _title(titles, num), _title(titles, den)
        # negative values are named by the rule above; a ratio of them says nothing more
        over = (n > rule["max"] * d + rule.get("slack", 0)) & (n >= 0) & (d >= 0)
        for idx in table.index[over.fillna(False).to_numpy()]:
            nv, dv = n[idx], d[idx]
            share = (f"{rule['title']} {fmt_de(nv / dv * 100)} %" if rule.get("percent") and dv > 0
                     else f"{rule['title']} bei {fmt_de(dv)} {den_title}")
            exception = next((e for e in rule.get("exceptions", [])
                              if nv <= e["max"] * dv + e.get("slack", 0)), None)
            if exception is not None:
                findings.append(Finding(file=source, row=row_of.get(idx), column=num_title, value=table.at[idx, num],
                                        expected=f"{share} – {exception['name']}: {' '.join(exception['note'].split())}",
                                        rule=f"ratios.{rule.get('id', num)}"))
                continue
            widest = max([rule, *rule.get("exceptions", [])], key=lambda e: e["max"] * max(dv, 1) + e.get("slack", 0))
            problems.append(Problem(
                file=source, row=row_of.get(idx), column=num_title, value=table.at[idx, num],
                expected=(f"{num_title} {_bound_text(rule, den_title, ratio=widest['max'], slack=widest.get('slack', 0))}"
                          f", hier also höchstens {fmt_de(widest['max'] * dv + widest.get('slack', 0))} bei "
                          f"{fmt_de(dv)} {den_title} ({share}: unplausibel)")))

    total_rule = rules.get("within_total")
    if total_rule and total_rule["key"] in table.columns:
        kcol, total = total_rule["key"], str(total_rule["total"])
        per = [*group, *(c for c in schema.get("primaryKey", []) if c in table.columns and c != kcol)]
        is_total = table[kcol].astype("string") == total
        for col in total_rule["columns"]:
            if col not in table.columns:
                continue
            values = numbers(col).to_numpy()
            if per:
                tot = (table.loc[is_total.fillna(False).to_numpy(), [*per, col]].drop_duplicates(per)
                       .rename(columns={col: "_total"}))
                limit = pd.to_numeric(table[per].merge(tot, on=per, how="left")["_total"],
                                      errors="coerce").astype("float64").to_numpy()
            else:
                first_total = numbers(col)[is_total.fillna(False).to_numpy()]
                limit = np.full(len(table), first_total.iloc[0] if len(first_total) else np.nan)
            # NaN compares False; a negative total is named by the rule above
            over = (values > limit) & (limit >= 0) & ~is_total.fillna(False).to_numpy()
            for pos in np.flatnonzero(over):
                idx = table.index[pos]
                where = ", ".join(f"{c} {table.at[idx, c]}" for c in per)
                problems.append(Problem(
                    file=source, row=row_of.get(idx), column=_title(titles, col), value=table.at[idx, col],
                    expected=(f"höchstens der Wert der Zeile 'Straftaten insgesamt' ({total}"
                              + (f", {where}" if where else "") + f"): {fmt_de(limit[pos])}")))
    if problems:
        problems.sort(key=lambda p: (str(p.file), p.row or 0, p.column or ""))
        raise InputError(problems)
    return findings


def population_by_year(residents: pd.DataFrame) -> dict[int, float]:
    """Residents per year (sum of ``count``)."""
    if residents is None or residents.empty:
        return {}
    return {int(y): float(c) for y, c in residents.groupby("year")["count"].sum().items()}


def check_per_resident(table: pd.DataFrame, name: str, population: dict[int, float], *,
                       residents_source: str = "Einwohner", rows=None, titles: dict | None = None) -> None:
    """Counts of schema ``name`` against the population of their year (the nearest year the
    residents table has): more than ``per_resident.max`` per resident is refused."""
    rule = plausibility_rules(name).get("per_resident")
    if not rule or not population or "year" not in table.columns:
        return
    source = table.attrs.get("source", name)
    titles = dict(titles or {})
    row_of = _file_rows(table, rows)
    table = table.copy(deep=False)
    table.attrs = {}  # pandas deep-copies attrs on every operation
    years = sorted(population)
    problems = []
    for col in rule["columns"]:
        if col not in table.columns:
            continue
        values = pd.to_numeric(table[col], errors="coerce").astype("float64")
        for idx, v in values.items():
            y = table.at[idx, "year"]
            if np.isnan(v) or _is_missing(y):
                continue
            base_year = min(years, key=lambda t: (abs(t - int(y)), -t))
            pop = population[base_year]
            if v > rule["max"] * pop:
                problems.append(Problem(
                    file=source, row=row_of.get(idx), column=_title(titles, col), value=table.at[idx, col],
                    expected=(f"höchstens {fmt_de(rule['max'])} je Einwohner, also höchstens "
                              f"{fmt_de(rule['max'] * pop)} bei {fmt_de(pop)} Einwohnern am 31.12.{base_year} "
                              f"(Datei {residents_source}); ist die Zahl richtig übernommen?")))
    if problems:
        raise InputError(problems)


def _district_list(names: dict, ids=None, limit: int = 30) -> str:
    ids = sorted(names if ids is None else ids, key=lambda s: (0, int(s), s) if str(s).isdigit() else (1, 0, str(s)))
    shown = [f"{i} {names.get(i, '')}".strip() for i in ids[:limit]]
    more = f", … ({len(ids)} Stadtteile)" if len(ids) > limit else ""
    return ", ".join(shown) + more


def check_district_coverage(residents: pd.DataFrame, names: dict[str, str], *,
                            districts_source: str = "Stadtteile") -> None:
    """Every district of the geometry has residents in every year of the residents table
    (``covers_districts`` of data_schemas/residents.yaml); else InputError naming each missing
    district by number and name with the years. A district absent from the residents would
    silently drop out of every total."""
    if not plausibility_rules("residents").get("covers_districts") or residents is None or residents.empty:
        return
    source = residents.attrs.get("source", "residents")
    present = residents.assign(district_id=residents["district_id"].astype(str)).groupby("year")["district_id"]
    missing: dict[str, list[int]] = {}
    years = sorted(int(y) for y in residents["year"].dropna().unique())
    by_year = {int(y): set(ids) for y, ids in present.unique().items()}
    for did in names:
        gone = [y for y in years if str(did) not in by_year.get(y, set())]
        if gone:
            missing[str(did)] = gone
    if not missing:
        return
    problems = []
    for did in sorted(missing, key=lambda s: (0, int(s), s) if s.isdigit() else (1, 0, s)):
        gone = missing[did]
        when = ("in keinem Jahr" if len(gone) == len(years)
                else ("im Jahr " if len(gone) == 1 else "in den Jahren ") + ", ".join(map(str, gone)))
        problems.append(Problem(
            file=source, column="district_id", value=f"{did} {names.get(did, '')}".strip(),
            expected=(f"Einwohnerzeilen für jeden Stadtteil der Stadtteil-Geometrie ({districts_source}); dieser "
                      f"Stadtteil fehlt {when} und fiele sonst aus allen Gesamtzahlen. Gehören die Dateien zu "
                      "verschiedenen Gebietsständen, nennt profile.unmatched_districts: report die Stadtteile im "
                      "Bericht, statt abzubrechen")))
    raise InputError(problems)


# GEOS validity reasons (shapely.is_valid_reason) in German
_GEOS_REASONS = {
    "Self-intersection": "Selbstüberschneidung der Grenze",
    "Ring Self-intersection": "Ring berührt oder schneidet sich selbst",
    "Too few points": "zu wenige Punkte für eine Fläche",
    "Hole lies outside shell": "Loch liegt außerhalb der Außengrenze",
    "Nested holes": "Loch liegt in einem anderen Loch",
    "Interior is disconnected": "Löcher zerteilen die Fläche",
    "Nested shells": "Außengrenze liegt in einer anderen Außengrenze (MultiPolygon)",
    "Duplicate Rings": "doppelter Ring",
    "Invalid Coordinate": "ungültige Koordinate (NaN oder unendlich)",
    "Ring is not closed": "Ring nicht geschlossen (erster und letzter Punkt verschieden)",
}


def geometry_reason(reason: str) -> str:
    """A GEOS validity reason ('Self-intersection[412345.1 5654321.2]') in German, with the place."""
    m = re.match(r"^\s*([^\[]+?)\s*(?:\[(.*)\])?\s*$", str(reason or ""))
    if not m:
        return "ungültige Geometrie"
    text = _GEOS_REASONS.get(m.group(1), "ungültige Geometrie")
    if m.group(2):
        try:
            x, y = (float(v) for v in m.group(2).split()[:2])
            text += f" bei Koordinate ({fmt_de(x, 1)}; {fmt_de(y, 1)})"
        except ValueError:
            pass
    return text


def check_district_geometry(districts, *, source: str | None = None) -> list[Problem]:
    """Overlaps and gaps of validated district polygons (in a metric CRS, EPSG:25833).

    Two districts overlapping on more than ``overlap_tolerance_m2`` (data_schemas/districts.yaml)
    raise InputError naming both (feature numbers, ids, names, area). Holes inside the union of
    all districts larger than ``gap_tolerance_m2`` are returned as findings (reported), each
    naming the districts around it."""
    import shapely

    rules = plausibility_rules("districts")
    source = source or districts.attrs.get("source", "districts")
    geoms = np.asarray(districts.geometry.values)
    ids = [str(v) for v in districts["district_id"]]
    names = [str(v) for v in districts["district_name"]]
    label = [f"Stadtteil {i} {n}".strip() for i, n in zip(ids, names)]
    problems, findings = [], []
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if len(left):
        areas = shapely.area(shapely.intersection(geoms[left], geoms[right]))
        tolerance = float(rules.get("overlap_tolerance_m2", 0))
        for a, b, area in zip(left, right, areas):
            if area > tolerance:
                problems.append(Problem(
                    file=source, row=int(a) + 1, column="geometry", value=label[a],
                    expected=(f"Stadtteile ohne Überlappung (geduldet bis {fmt_de(tolerance)} m²); hier: überlappt "
                              f"{label[b]} (Objekt {int(b) + 1}) auf {fmt_de(area)} m², sonst zählen Orte und "
                              "Flächen doppelt")))
    if problems:
        raise InputError(problems)
    tolerance = float(rules.get("gap_tolerance_m2", 0))
    union = shapely.union_all(geoms)
    parts = getattr(union, "geoms", [union])
    for poly in parts:
        for ring in getattr(poly, "interiors", []):
            hole = shapely.Polygon(ring)
            if hole.area <= tolerance:
                continue
            around = sorted(set(tree.query(hole.buffer(1.0), predicate="intersects")))
            point = hole.representative_point()
            findings.append(Finding(
                rule="gap_tolerance_m2", file=source, column="geometry", value=f"Lücke von {fmt_de(hole.area)} m²",
                expected=(f"Fläche innerhalb der Gemeinde bei Koordinate ({fmt_de(point.x, 1)}; {fmt_de(point.y, 1)}) "
                          f"zwischen {', '.join(label[i] for i in around)}, die keinem Stadtteil zugeordnet ist; "
                          "was dort liegt (Orte, Einrichtungen), fehlt in den Auswertungen nach Stadtteilen. Ist das "
                          "gewollt (z. B. ein gemeindefreies Gebiet), ist nichts zu tun")))
    return findings
