"""Input schemas (data_schemas/*.yaml) and validation of input tables.

The schemas are Frictionless-style Table Schemas (see data_schemas/README.md).
Values are converted here, not by pandas' guessing, so that a bad cell can be
named exactly; the constraints are then checked by pandera with lazy
validation, which collects every failure at once. Each failure becomes a
`Problem` naming file, row, column, value and expectation.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml

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


def _parse_number(text: str, decimal: str) -> float:
    """Parse one cell. German files use ',' as decimal mark and '.' for thousands."""
    s = text.replace("\u00a0", "").replace(" ", "")
    if decimal == ",":
        if re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+(,\d+)?", s):
            s = s.replace(".", "")
        s = s.replace(",", ".")
    else:
        if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?", s):
            s = s.replace(",", "")
    return float(s)


def _convert_column(values: pd.Series, ftype: str, decimal: str):
    """Convert a text column; return (converted, list of (index, raw value))."""
    bad: list[tuple[int, str]] = []
    if ftype == "string":
        out = values.astype("string")
        return out, bad
    parsed = []
    for idx, raw in values.items():
        if pd.isna(raw):
            parsed.append(np.nan)
            continue
        text = str(raw).strip()
        try:
            number = _parse_number(text, decimal)
        except ValueError:
            bad.append((idx, text))
            parsed.append(np.nan)
            continue
        if ftype == "integer" and not float(number).is_integer():
            bad.append((idx, text))
            parsed.append(np.nan)
            continue
        parsed.append(number)
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
    decimal = raw.attrs.get("decimal", ".")
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
        for idx, value in bad:
            problems.append(Problem(file=source, row=_row(raw, idx), column=field["name"], value=value,
                                    expected=TYPE_LABELS[field["type"]]))
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

    key = [c for c in schema.get("primaryKey", []) if c in typed.columns]
    if key and not problems:
        dup = typed.duplicated(subset=key, keep="first")
        for idx in typed.index[dup]:
            combo = ", ".join(f"{c}={typed.at[idx, c]}" for c in key)
            problems.append(Problem(file=source, row=_row(raw, idx), column="+".join(key), value=combo,
                                    expected="jede Kombination nur einmal (doppelte Zeile)"))
    if problems:
        problems.sort(key=lambda p: (p.row or 0, p.column or ""))
        raise InputError(problems)
    # The index still maps to file rows (row = index + first_data_row) for later cross-checks.
    typed.attrs = {"source": source, "schema": name, "first_data_row": raw.attrs.get("first_data_row", 2)}
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
    out.attrs = {"source": source, "schema": "districts"}
    return out


def check_district_ids(table: pd.DataFrame, known: set[str], *, column: str = "district_id",
                       allow_empty: bool = False) -> None:
    """Cross-check: every district_id of a table exists in the district file."""
    if column not in table.columns:
        return
    source = table.attrs.get("source", "?")
    first = int(table.attrs.get("first_data_row", 2))
    problems = []
    for i, value in table[column].items():
        if pd.isna(value):
            if not allow_empty:
                problems.append(Problem(file=source, row=int(i) + first, column=column, value="(leer)",
                                        expected="Stadtteil-Nr. aus der Stadtteil-Datei"))
            continue
        if str(value) not in known:
            problems.append(Problem(file=source, row=int(i) + first, column=column, value=value,
                                    expected="eine Stadtteil-Nr. aus der Stadtteil-Datei: " + ", ".join(sorted(known))))
    if problems:
        raise InputError(problems)
