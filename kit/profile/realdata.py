"""Real public files as area-profile inputs (issue #12): readers and the numbers behind the
report's statements on how the files fit together. Numbers and codes only; the German
sentences are in :mod:`kit.profile.realdata_view`.

- :func:`read_opendata_dresden`: the residents table of the Dresden open-data portal
  (Stadtteil × Geschlecht × Staatsangehörigkeit, no age groups) in the columns of
  ``data_schemas/residents.yaml``; encoding, separator and line endings as
  :func:`kit.io.read_table` finds them.
- :func:`rename_columns`: ``inputs.<name>.columns`` (schema column: file column), e.g. the
  OpenStreetMap Stadtteile with ``ref`` and ``name``.
- :func:`district_match`: Stadtteile of the residents table beside the polygons: which match,
  which have no polygon, which polygon has no residents (by number and name).
- :func:`hz_comparison`: the HZ the kit computes from cases and its population beside the HZ the
  BKA publishes, with both population bases.
- :func:`read_atlas_kreis`: Kreis indicators of the Deutschlandatlas (context).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from kit.errors import InputError, Problem, missing_file
from kit.io import read_table, xlsx_sheet
from kit.schemas import validate_table

# ---------------------------------------------------------------------------
# Column renaming (inputs.<name>.columns)
# ---------------------------------------------------------------------------


def rename_columns(table: pd.DataFrame, columns: dict[str, str], source: str) -> pd.DataFrame:
    """``columns`` maps the kit's column to the file's column; every named file column must exist.
    A kit column already in the file is replaced by the mapped one."""
    if not columns:
        return table
    missing = [f for f in columns.values() if f not in table.columns]
    if missing:
        found = ", ".join(str(c) for c in table.columns if c != "geometry")
        raise InputError([Problem(file=source, row=1, column=m,
                                  expected=f"Spalte '{m}' (in den Parametern unter columns genannt); gefunden: {found}")
                          for m in missing])
    out = table.drop(columns=[k for k in columns if k in table.columns and k not in columns.values()])
    out = out.rename(columns={v: k for k, v in columns.items()})
    out.attrs = dict(table.attrs)
    return out


# ---------------------------------------------------------------------------
# Residents from the Dresden open-data portal
# ---------------------------------------------------------------------------

DRESDEN_FORMAT = "Einwohnertabelle des Dresdner Open-Data-Portals (Stadtteil, Geschlecht, Staatsangehörigkeit)"
# normalised header start -> schema column, with the German name for errors
_DRESDEN_COLUMNS = {"jahr": ("year", "Jahr"), "stadtteil": ("district", "Stadtteil zus."),
                    "geschlecht": ("sex", "Geschlecht"), "staatsangeh": ("nationality", "Staatsangehörigkeit"),
                    "anzahl": ("count", "Anzahl Einwohner")}
SEX_CODES = {"männlich": "m", "maennlich": "m", "weiblich": "w", "divers": "d"}
NATIONALITY_CODES = {"deutsche": "deutsch", "ausländer": "nichtdeutsch", "auslaender": "nichtdeutsch"}
_DISTRICT_TEXT = re.compile(r"^\s*(\d{1,4})\s+(\S.*?)\s*$")


def _norm(text) -> str:
    return re.sub(r"\s+", " ", str(text or "")).strip().lower()


def read_opendata_dresden(path: str | Path) -> pd.DataFrame:
    """Residents of the Dresden open-data table "Bevölkerung ab Stadtteil, Hauptwohner,
    Geschlecht, Deutsche/Ausländer": year, district_id ("01"), sex (m/w/d), nationality
    (deutsch/nichtdeutsch), count, validated against the residents schema (no age_group).
    ``attrs["district_names"]``: {district_id: name as in the file} ("01 Innere Altstadt" ->
    "01", "Innere Altstadt"). Raises InputError naming file, row, column, value, expectation."""
    path = Path(path)
    if not path.exists():
        raise missing_file(path, DRESDEN_FORMAT)
    raw = read_table(path)
    source, first = str(path), int(raw.attrs.get("first_data_row", 2))
    found: dict[str, str] = {}
    for col in raw.columns:
        for start, (name, _) in _DRESDEN_COLUMNS.items():
            if _norm(col).startswith(start) and name not in found:
                found[name] = col
    missing = [title for start, (name, title) in _DRESDEN_COLUMNS.items() if name not in found]
    if missing:
        head = ", ".join(raw.columns)
        raise InputError([Problem(file=source, row=1, column=m, expected=(
            f"Spalte '{m}' der {DRESDEN_FORMAT}; gefunden: {head}")) for m in missing])
    problems: list[Problem] = []
    ids, sexes, nats = [], [], []
    names: dict[str, str] = {}
    for idx, r in raw.iterrows():
        row = int(idx) + first
        m = _DISTRICT_TEXT.match(str(r[found["district"]] if pd.notna(r[found["district"]]) else ""))
        if m is None:
            problems.append(Problem(file=source, row=row, column=found["district"], value=r[found["district"]],
                                    expected="Stadtteil als Nummer und Name, z. B. '01 Innere Altstadt'"))
            ids.append(None)
        else:
            did, dname = m.group(1), m.group(2)
            if names.setdefault(did, dname) != dname:
                problems.append(Problem(file=source, row=row, column=found["district"], value=r[found["district"]],
                                        expected=f"derselbe Name wie in früheren Zeilen mit Nr. {did} ('{names[did]}')"))
            ids.append(did)
        sex = SEX_CODES.get(_norm(r[found["sex"]]))
        if sex is None:
            problems.append(Problem(file=source, row=row, column=found["sex"], value=r[found["sex"]],
                                    expected="männlich, weiblich oder divers"))
        sexes.append(sex)
        nat = NATIONALITY_CODES.get(_norm(r[found["nationality"]]))
        if nat is None:
            problems.append(Problem(file=source, row=row, column=found["nationality"], value=r[found["nationality"]],
                                    expected="Deutsche oder Ausländer"))
        nats.append(nat)
    text = pd.DataFrame({"year": raw[found["year"]], "district_id": ids, "sex": sexes, "nationality": nats,
                         "count": raw[found["count"]]}, index=raw.index)
    text.attrs = dict(raw.attrs)
    for col, what in (("year", "Jahreszahl, z. B. 2024"), ("count", "ganze Zahl ≥ 0 (Einwohner)")):
        for idx, v in text[col].items():
            if not re.fullmatch(r"\d+", str(v if pd.notna(v) else "")):
                problems.append(Problem(file=source, row=int(idx) + first, column=found[col], value=v, expected=what))
    if problems:
        raise InputError(sorted(problems, key=lambda p: (p.row or 0, p.column or "")))
    # A Stadtteil may come in several rows per sex and nationality (the file also splits by
    # Stadtraum: 76 Strehlen lies in two), so the rows are added up per Stadtteil.
    keys = ["year", "district_id", "sex", "nationality"]
    text["count"] = text["count"].astype("int64")
    parts = text.groupby(keys, sort=False)["count"].agg(["sum", "size"]).reset_index()
    split = sorted({d for d, n in zip(parts["district_id"], parts["size"]) if n > 1}, key=_natural)
    summed = parts.drop(columns="size").rename(columns={"sum": "count"}).astype({"count": "str", "year": "str"})
    summed.attrs = {**raw.attrs, "first_data_row": first}
    typed = validate_table(summed, "residents", source=source)
    typed.attrs["district_names"] = names
    typed.attrs["split_districts"] = split  # Stadtteile given in several rows (added up)
    return typed


# ---------------------------------------------------------------------------
# Stadtteile of the statistics vs. polygons
# ---------------------------------------------------------------------------

MATCHED, NO_POLYGON, NO_RESIDENTS = "matched", "no_polygon", "no_residents"
MATCH_COLUMNS = ["district_id", "district_name", "status", "residents", "year"]


def _natural(text: str):
    s = str(text)
    return (0, int(s), s) if s.isdigit() else (1, 0, s)


def district_match(polygon_names: dict[str, str], residents: pd.DataFrame,
                   resident_names: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per Stadtteil of either side (latest year of the residents): ``status``
    matched | no_polygon (in the residents table, no polygon) | no_residents (polygon without
    residents), ``residents`` (NaN for no_residents), ``district_name`` from the polygons, else
    from the residents file. Sorted by number."""
    resident_names = resident_names or {}
    year = int(residents["year"].max())
    counts = (residents[residents["year"] == year].assign(district_id=lambda d: d["district_id"].astype(str))
              .groupby("district_id")["count"].sum().astype(float))
    rows = []
    for did in sorted(set(polygon_names) | set(counts.index), key=_natural):
        status = (MATCHED if did in polygon_names and did in counts.index
                  else NO_POLYGON if did in counts.index else NO_RESIDENTS)
        name = polygon_names.get(did) or resident_names.get(did) or ""
        rows.append({"district_id": did, "district_name": name, "status": status,
                     "residents": float(counts[did]) if did in counts.index else math.nan, "year": year})
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def match_coverage(match: pd.DataFrame) -> dict:
    """Totals behind the coverage sentence: residents in all, in Stadtteile with polygon, without."""
    res = match["residents"].fillna(0.0)
    return {"year": int(match["year"].iloc[0]) if len(match) else None,
            "total": float(res.sum()),
            "matched": float(res[match["status"] == MATCHED].sum()),
            "unmatched": float(res[match["status"] == NO_POLYGON].sum()),
            "n_matched": int((match["status"] == MATCHED).sum()),
            "n_no_polygon": int((match["status"] == NO_POLYGON).sum()),
            "n_no_residents": int((match["status"] == NO_RESIDENTS).sum())}


# ---------------------------------------------------------------------------
# HZ of the kit beside the HZ of the BKA
# ---------------------------------------------------------------------------

HZ_COLUMNS = ["year", "key", "label", "cases", "hz_kit", "population_kit", "population_kit_year", "hz_bka",
              "population_bka", "population_bka_year", "population_bka_source", "difference", "difference_pct",
              "hz_kit_on_bka_population"]


def hz_comparison(pks_table: pd.DataFrame | None, pks_indicators: pd.DataFrame) -> pd.DataFrame:
    """Per report year and key with a published HZ: the kit's HZ (cases × 100.000 / the kit's
    population, 31.12. of ``population_kit_year``) beside the BKA's (``hz_bka``; population 31.12.
    of the year before: column EW where the table has it, else cases × 100.000 / HZ of
    "Straftaten insgesamt"). ``hz_kit_on_bka_population``: the kit's formula on the BKA's
    population, which gives back the published HZ up to its rounding: the difference comes from
    the population base alone. Empty when the PKS has no BKA HZ (a commune's own table)."""
    if pks_table is None or "hz_bka" not in pks_table.columns:
        return pd.DataFrame(columns=HZ_COLUMNS)
    kit = pks_indicators[(pks_indicators["indicator"] == "pks_hz") & (pks_indicators["district_id"] == "")]
    kit = kit.set_index([kit["year"].astype(int), kit["subject"]])
    rows = []
    for year, g in pks_table.groupby("year", sort=True):
        year = int(year)
        total = g[g["key"] == "000000"]
        pop_ew = g["population_bka"].dropna() if "population_bka" in g.columns else pd.Series(dtype=float)
        if len(pop_ew):
            pop_bka, how = float(pop_ew.iloc[0]), "EW"
        elif len(total) and float(total["hz_bka"].iloc[0]) > 0:
            pop_bka, how = float(total["cases"].iloc[0]) * 100000 / float(total["hz_bka"].iloc[0]), "HZ"
        else:
            pop_bka, how = math.nan, ""
        for _, r in g.iterrows():
            key = str(r["key"])
            if pd.isna(r["hz_bka"]) or (year, key) not in kit.index:
                continue
            k = kit.loc[(year, key)]
            k = k.iloc[0] if isinstance(k, pd.DataFrame) else k
            hz_kit, hz_bka = float(k["value"]), float(r["hz_bka"])
            cases = float(r["cases"])
            label = str(k["subject_label"]) if str(k.get("subject_label", "") or "") else str(r["label"])
            rows.append({"year": year, "key": key, "label": label, "cases": cases, "hz_kit": hz_kit,
                         "population_kit": float(k["base"]),
                         "population_kit_year": int(k["base_year"]) if pd.notna(k["base_year"]) else pd.NA,
                         "hz_bka": hz_bka, "population_bka": round(pop_bka) if not math.isnan(pop_bka) else math.nan,
                         "population_bka_year": year - 1, "population_bka_source": how,
                         "difference": hz_kit - hz_bka,
                         "difference_pct": (hz_kit - hz_bka) / hz_bka * 100 if hz_bka > 0 else math.nan,
                         "hz_kit_on_bka_population": cases * 100000 / pop_bka if pop_bka > 0 else math.nan})
    out = pd.DataFrame(rows, columns=HZ_COLUMNS)
    out["population_kit_year"] = out["population_kit_year"].astype("Int64")
    return out


# ---------------------------------------------------------------------------
# Deutschlandatlas: Kreis context
# ---------------------------------------------------------------------------

ATLAS_FORMAT = "Deutschlandatlas-Daten (BMWSB/BBSR), Tabellenblatt der Kreise"
ATLAS_SHEET = "Deutschlandatlas_KRS1222"
# column -> (label, unit); the Kreis context shown in the profile
ATLAS_INDICATORS: dict[str, tuple[str, str]] = {
    "straft": ("Straftaten je 100.000 Einwohner", "je 100.000 Einw."),
    "einbr": ("Wohnungseinbrüche je 100.000 Einwohner", "je 100.000 Einw."),
    "bev_u18": ("Anteil unter 18 Jahren", "%"),
    "bev_18_65": ("Anteil 18 bis unter 65 Jahre", "%"),
    "bev_ue65": ("Anteil ab 65 Jahren", "%"),
    "bev_ausl": ("Anteil nichtdeutscher Einwohner", "%"),
    "alq": ("Arbeitslosenquote", "%"),
    "sozsich": ("Mindestsicherungsquote", "%"),
}
ATLAS_COLUMNS = ["indicator", "label", "unit", "value", "region_key", "region_name", "sheet"]


def read_atlas_kreis(path: str | Path, kreis_key: str, sheet: str | int | None = None) -> pd.DataFrame:
    """The Kreis row of the Deutschlandatlas data file (sheet ``Deutschlandatlas_KRS1222`` unless
    ``sheet`` names another) for the 5-digit ``kreis_key``: one row per indicator of
    :data:`ATLAS_INDICATORS` that the sheet has (columns :data:`ATLAS_COLUMNS`). The key column
    holds the Kreis key with three zeros and without leading zero (14612 -> 14612000)."""
    path = Path(path)
    sheet = ATLAS_SHEET if sheet in (None, 0) else sheet
    with xlsx_sheet(path, sheet, ATLAS_FORMAT) as ws:
        rows = ws.iter_rows(values_only=True)
        header = [str(c).strip() if c is not None else "" for c in next(rows)]
        wanted = int(str(kreis_key)[:5]) * 1000
        for row in rows:
            try:
                key = int(float(row[0]))
            except (TypeError, ValueError):
                continue
            if key == wanted:
                values = dict(zip(header, row))
                out = []
                for col, (label, unit) in ATLAS_INDICATORS.items():
                    v = values.get(col)
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v):
                        out.append({"indicator": col, "label": label, "unit": unit, "value": float(v),
                                    "region_key": str(kreis_key)[:5], "region_name": str(row[1] or ""),
                                    "sheet": sheet})
                return pd.DataFrame(out, columns=ATLAS_COLUMNS)
    raise InputError(Problem(file=str(path), column=header[0] if header else "Schlüssel", value=wanted,
                             expected=f"eine Zeile des Kreises {kreis_key} im Tabellenblatt {sheet}"))
