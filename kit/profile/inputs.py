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
}


@dataclass
class ProfileInputs:
    params: dict
    districts: object  # GeoDataFrame in EPSG:25833
    tables: dict[str, pd.DataFrame | None]
    notes: dict[str, str] = field(default_factory=dict)  # German notes on absent optional inputs
    hashes: dict[str, str] = field(default_factory=dict)  # file -> sha256

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
    if not path.exists():
        raise missing_file(path, INPUT_TITLES.get(name, name))
    raw = read_table(path, sheet=spec.get("sheet", 0))
    return validate_table(raw, name)


def load_profile_inputs(params: dict) -> ProfileInputs:
    """Load every area-profile input named in the params, validated."""
    specs = params["inputs"]
    hashes: dict[str, str] = {}
    district_spec = specs["districts"]
    districts = validate_districts(read_geometry(district_spec["path"]))
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
            notes[name] = f"Für {INPUT_TITLES[name]} wurden keine Daten geliefert; der Abschnitt entfällt."
            continue
        # several files (e.g. one BKA table per year) are read alike and stacked
        specs_list = ([{**{k: v for k, v in spec.items() if k != "files"}, **f} for f in spec["files"]]
                      if spec.get("files") else [spec])
        try:
            frames = [read_input_table(name, s) for s in specs_list]
        except InputError as err:
            problems.extend(err.problems)
            continue
        table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        if "district_id" in table.columns:
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
    return ProfileInputs(params=params, districts=districts, tables=tables, notes=notes, hashes=hashes)
