"""Load and validate one commune's inputs (params -> validated DataFrames).

Every table passes its schema (kit.schemas) and a cross-check of district ids
against the district file. Inputs are only read, never modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kit.params import REQUIRED_INPUTS
from kit.errors import InputError, Problem, missing_file
from kit.io import file_sha256, read_geometry, read_table
from kit.schemas import check_district_ids, load_schema, validate_districts, validate_table

# German names of the inputs, for notes and errors in reports.
INPUT_TITLES = {
    "districts": "Stadtteile (Geometrie)",
    "residents": "Einwohner",
    "places": "Orte des Unwohlseins",
    "accommodation": "Unterbringung und Aufenthalt",
    "clubs": "Vereinslandschaft",
    "owi": "Ordnungswidrigkeiten",
    "education": "Bildungsausgaben",
    "bos": "BOS (Polizei, Ordnungsamt, Feuerwehr, Rettung)",
    "prevention": "Präventionsaktivitäten",
    "pks": "Polizeiliche Kriminalstatistik (PKS)",
    "pmk": "Politisch motivierte Kriminalität (PMK)",
    "context": "Kreisdaten (Deutschlandatlas)",
}
# optional inputs whose absence needs no note in the report (context beside the commune's own data)
QUIET_INPUTS = ("context",)


@dataclass
class ProfileInputs:
    params: dict
    districts: object  # GeoDataFrame in EPSG:25833
    tables: dict[str, pd.DataFrame | None]
    notes: dict[str, str] = field(default_factory=dict)  # German notes on absent optional inputs
    hashes: dict[str, str] = field(default_factory=dict)  # file -> sha256
    # Stadtteile of the residents table beside the polygons (kit.profile.realdata.district_match);
    # set when profile.unmatched_districts is "report"
    district_match: pd.DataFrame | None = None

    @property
    def district_names(self) -> dict[str, str]:
        return dict(zip(self.districts["district_id"], self.districts["district_name"]))

    def __getitem__(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)


def read_input_table(name: str, spec: dict) -> pd.DataFrame:
    """Read and validate one table input described by a params spec."""
    path = Path(spec["path"])
    if spec.get("format") == "bka":
        from kit.profile.bka import read_bka_table

        if not spec.get("key") or not spec.get("year"):
            raise InputError(Problem(file=str(path), expected="in den Parametern 'key' (Gemeindeschlüssel) und 'year' für das BKA-Format"))
        raw = read_bka_table(path, key=str(spec["key"]), year=int(spec["year"]))
        return raw  # already typed in schema columns by the BKA reader
    if spec.get("format") == "opendata_dresden":
        from kit.profile.realdata import read_opendata_dresden

        return read_opendata_dresden(path)
    if spec.get("format") == "deutschlandatlas":
        from kit.profile.realdata import read_atlas_kreis

        return read_atlas_kreis(path, str(spec["key"]), spec.get("sheet"))
    if not path.exists():
        raise missing_file(path, INPUT_TITLES.get(name, name))
    raw = read_table(path, sheet=spec.get("sheet") or 0)
    if spec.get("columns"):
        from kit.profile.realdata import rename_columns

        raw = rename_columns(raw, spec["columns"], str(path))
    return validate_table(raw, name)


def load_profile_inputs(params: dict) -> ProfileInputs:
    """Load every area-profile input named in the params, validated."""
    specs = params["inputs"]
    hashes: dict[str, str] = {}
    district_spec = specs["districts"]
    geometry = read_geometry(district_spec["path"])
    if district_spec.get("columns"):
        from kit.profile.realdata import rename_columns

        geometry = rename_columns(geometry, district_spec["columns"], str(district_spec["path"]))
    districts = validate_districts(geometry)
    hashes[district_spec["path"]] = file_sha256(district_spec["path"])
    known = set(districts["district_id"])

    tables: dict[str, pd.DataFrame | None] = {}
    notes: dict[str, str] = {}
    problems: list[Problem] = []
    for name, spec in specs.items():
        if name == "districts":
            continue
        if spec is None:
            if name in REQUIRED_INPUTS:
                raise InputError(Problem(file=params["params_file"], column=f"inputs.{name}",
                                         expected=f"Angabe der Pflichteingabe {INPUT_TITLES[name]}"))
            tables[name] = None
            if name not in QUIET_INPUTS:
                notes[name] = f"Für {INPUT_TITLES[name]} wurden keine Daten geliefert; der Abschnitt entfällt."
            continue
        if name == "context" and not spec.get("key"):
            spec = {**spec, "key": str(params["ags"])[:5]}  # the commune's Kreis
        # several files (e.g. one BKA table per year) are read alike and stacked
        specs_list = ([{**{k: v for k, v in spec.items() if k != "files"}, **f} for f in spec["files"]]
                      if spec.get("files") else [spec])
        try:
            frames = [read_input_table(name, s) for s in specs_list]
        except InputError as err:
            problems.extend(err.problems)
            continue
        table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        report_unmatched = name == "residents" and params["profile"].get("unmatched_districts") == "report"
        if "district_id" in table.columns and not report_unmatched:
            optional = any(f["name"] == "district_id" and f.get("optional") for f in load_schema(name)["fields"])
            try:
                check_district_ids(table, known, allow_empty=optional)
            except InputError as err:
                problems.extend(err.problems)
                continue
        tables[name] = table
        for s in specs_list:
            hashes[s["path"]] = file_sha256(s["path"])
    if problems:
        raise InputError(problems)
    match = None
    if params["profile"].get("unmatched_districts") == "report":
        from kit.profile.realdata import district_match

        residents = tables["residents"]
        match = district_match(dict(zip(districts["district_id"], districts["district_name"])), residents,
                               residents.attrs.get("district_names"))
    return ProfileInputs(params=params, districts=districts, tables=tables, notes=notes, hashes=hashes,
                         district_match=match)
