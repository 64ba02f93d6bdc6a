"""Load and validate one commune's inputs (params -> validated DataFrames).

Every table passes its schema (kit.schemas) and a cross-check of district ids
against the district file. Inputs are only read, never modified.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kit.params import REQUIRED_INPUTS
from kit.errors import InputError, Problem, missing_file
from kit import inputs_log
from kit.io import file_sha256, read_geometry, read_table
from kit.schemas import read_columns  # the columns kit.io.read_table looks for
from kit.schemas import (check_district_coverage, check_district_ids, check_per_resident, fmt_de, load_schema,
                         population_by_year, schema_names, validate_districts, validate_table)

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
    # values the plausibility rules of data_schemas/ explain by a named exception (e.g. clearance
    # above 100 %) and gaps between the polygons: reported (notes["plausibility"]), not refused
    findings: list[Problem] = field(default_factory=list)

    @property
    def district_names(self) -> dict[str, str]:
        return dict(zip(self.districts["district_id"], self.districts["district_name"]))

    def __getitem__(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)


def read_input_table(name: str, spec: dict) -> pd.DataFrame:
    """Read and validate one table input described by a params spec."""
    path = Path(spec["path"])
    if path.is_file():
        inputs_log.note(path, input=name)  # what was assumed and repaired: kit.inputs_log
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
    # the columns the schema needs, as the file names them (inputs.<name>.columns maps them)
    raw = read_table(path, sheet=spec.get("sheet") or 0, numbers=spec.get("numbers"),
                     **read_columns(name, spec.get("columns")))
    if spec.get("columns"):
        from kit.profile.realdata import rename_columns

        raw = rename_columns(raw, spec["columns"], str(path))
    return validate_table(raw, name)


def load_profile_inputs(params: dict) -> ProfileInputs:
    """Load every area-profile input named in the params, validated."""
    specs = params["inputs"]
    hashes: dict[str, str] = {}
    district_spec = specs["districts"]
    geometry = read_geometry(district_spec["path"], layer=district_spec.get("layer"))
    inputs_log.note_geometry(district_spec["path"], geometry)
    if district_spec.get("columns"):
        from kit.profile.realdata import rename_columns

        geometry = rename_columns(geometry, district_spec["columns"], str(district_spec["path"]))
    districts = validate_districts(geometry)
    hashes[district_spec["path"]] = file_sha256(district_spec["path"])
    names = dict(zip(districts["district_id"].astype(str), districts["district_name"].astype(str)))
    findings: list[Problem] = list(districts.attrs.get("findings", []))
    finding_inputs: list[str] = ["districts"] * len(findings)  # the input of each finding, for the note
    report_unmatched = params["profile"].get("unmatched_districts") == "report"

    tables: dict[str, pd.DataFrame | None] = {}
    frames_of: dict[str, list[pd.DataFrame]] = {}
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
        for frame in frames:
            findings.extend(frame.attrs.get("findings", []))
            finding_inputs.extend([name] * len(frame.attrs.get("findings", [])))
        table = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        if len(frames) > 1:
            try:
                check_stacked_keys(name, frames)
            except InputError as err:
                problems.extend(err.problems)
                continue
        if "district_id" in table.columns and not (name == "residents" and report_unmatched):
            optional = any(f["name"] == "district_id" and f.get("optional") for f in load_schema(name)["fields"])
            try:
                check_district_ids(table, names, allow_empty=optional, districts_source=str(district_spec["path"]))
            except InputError as err:
                problems.extend(err.problems)
                if name != "residents":
                    continue
        if name == "residents" and not report_unmatched:
            # the other direction: a polygon without residents would drop out of every total
            try:
                check_district_coverage(table, names, districts_source=str(district_spec["path"]))
            except InputError as err:
                problems.extend(err.problems)
        tables[name] = table
        frames_of[name] = frames
        for s in specs_list:
            hashes[s["path"]] = file_sha256(s["path"])
    if not problems:
        # counts against the population of their year (per_resident in data_schemas/<name>.yaml)
        population = population_by_year(tables.get("residents"))
        residents_source = str((tables.get("residents") if tables.get("residents") is not None
                                else pd.DataFrame()).attrs.get("source", "Einwohner"))
        schemas = set(schema_names())
        for name, frames in frames_of.items():
            if name not in schemas or name == "residents":
                continue
            for frame in frames:
                try:
                    check_per_resident(frame, name, population, residents_source=residents_source,
                                       rows=frame.attrs.get("file_rows"), titles=frame.attrs.get("column_titles"))
                except InputError as err:
                    problems.extend(err.problems)
    if problems:
        raise InputError(problems)
    if findings:
        notes["plausibility"] = findings_note(findings, finding_inputs)
    match = None
    if params["profile"].get("unmatched_districts") == "report":
        from kit.profile.realdata import district_match

        residents = tables["residents"]
        match = district_match(dict(zip(districts["district_id"], districts["district_name"])), residents,
                               residents.attrs.get("district_names"))
    # the findings, one row each, for results/input_findings_profile.csv and "Datengrundlage und Prüfungen"
    inputs_log.record_findings([inputs_log.finding_row(p, name) for p, name in zip(findings, finding_inputs)]
                               + unmatched_district_rows(match, tables.get("residents"), districts,
                                                         str(district_spec["path"])))
    return ProfileInputs(params=params, districts=districts, tables=tables, notes=notes, hashes=hashes,
                         district_match=match, findings=findings)


def check_stacked_keys(name: str, frames: list[pd.DataFrame]) -> None:
    """Several files of one input (e.g. one BKA table per year) must not repeat a key (e.g. the
    same year twice): InputError naming both files and rows."""
    key = [c for c in load_schema(name).get("primaryKey", []) if all(c in f.columns for f in frames)]
    if not key:
        return
    seen: dict[tuple, tuple[str, int | None]] = {}
    problems = []
    for frame in frames:
        source = str(frame.attrs.get("source", name))
        rows = frame.attrs.get("file_rows")
        first = int(frame.attrs.get("first_data_row", 2))
        for pos, combo in enumerate(frame[key].itertuples(index=False, name=None)):
            row = rows[pos] if rows is not None else int(frame.index[pos]) + first
            if combo in seen and seen[combo][0] != source:
                other, other_row = seen[combo]
                problems.append(Problem(file=source, row=row, column="+".join(key),
                                        value=", ".join(f"{c}={v}" for c, v in zip(key, combo)),
                                        expected=f"jede Kombination nur einmal; steht schon in Datei {other}, "
                                                 f"Zeile {other_row} (dieselbe Datei oder dasselbe Jahr zweimal?)"))
            seen.setdefault(combo, (source, row))
    if problems:
        raise InputError(problems)


def unmatched_district_rows(match: pd.DataFrame | None, residents: pd.DataFrame | None, districts,
                            districts_source: str) -> list[dict]:
    """Under ``profile.unmatched_districts: report``: each Stadtteil of the residents table without
    polygon (its first file row in the latest year) and each polygon without residents (its
    feature number) as a finding row (kit.inputs_log.FINDING_COLUMNS)."""
    from kit.profile.realdata import NO_POLYGON, NO_RESIDENTS

    if match is None or residents is None:
        return []
    rows = []
    first = int(residents.attrs.get("first_data_row", 2))
    res_file = Path(str(residents.attrs.get("source", "residents"))).name
    ids = residents["district_id"].astype(str)
    feature = {str(d): i + 1 for i, d in enumerate(districts["district_id"])}
    for m in match.itertuples(index=False):
        shown = f"{m.district_id} {m.district_name}".strip()
        if m.status == NO_POLYGON:
            hits = residents.index[((ids == str(m.district_id)) & (residents["year"] == m.year)).to_numpy()]
            rows.append({"input": "residents", "file": res_file,
                         "row": int(hits[0]) + first if len(hits) and isinstance(hits[0], (int, np.integer)) else None,
                         "column": "district_id", "value": shown, "rule": "unmatched_districts.no_polygon",
                         "meaning": (f"Stadtteil der Einwohnerstatistik ohne Polygon in der Stadtteil-Geometrie "
                                     f"(31.12.{m.year}; profile.unmatched_districts: report): seine Einwohner zählen "
                                     "in allen Gesamtzahlen und in der Tabelle nach Stadtteilen, er fehlt aber auf "
                                     "den Karten.")})
        elif m.status == NO_RESIDENTS:
            rows.append({"input": "districts", "file": Path(districts_source).name,
                         "row": feature.get(str(m.district_id)), "column": "district_id", "value": shown,
                         "rule": "unmatched_districts.no_residents",
                         "meaning": (f"Polygon ohne Einwohnerangaben in der Einwohnerstatistik (31.12.{m.year}; "
                                     "profile.unmatched_districts: report): auf den Karten bleibt es ohne Wert.")})
    return rows


MAX_FINDINGS_LISTED = 20


def findings_note(findings: list[Problem], inputs: list[str]) -> str:
    """German note on the reported findings (values explained by a named exception, gaps) for the
    report's data notes: the input by its German name and the file row, no file or column names
    (those are in ``ProfileInputs.findings``; ``Problem.describe`` names them)."""
    lines = []
    for p, name in list(zip(findings, inputs))[:MAX_FINDINGS_LISTED]:
        where = INPUT_TITLES.get(name, name) + (f", Zeile {p.row}" if p.row is not None else "")
        number = isinstance(p.value, (int, float, np.number)) and not isinstance(p.value, bool)
        shown = fmt_de(p.value) if number and float(p.value).is_integer() else p.value
        value = "" if p.value is None or p.row is None else f" (Wert {shown})"
        what = p.value if p.row is None and p.value is not None else ""
        lines.append(f"{where}{value}: {what + ' – ' if what else ''}{p.expected}")
    rest = len(findings) - MAX_FINDINGS_LISTED
    if rest > 0:
        lines.append(f"… und {rest} weitere Hinweise")
    one = len(findings) == 1
    head = ("Prüfhinweis zu den Eingabedaten (kein Fehler, aber ungewöhnlich; ausgewertet wird wie geliefert): "
            if one else f"{len(findings)} Prüfhinweise zu den Eingabedaten (keine Fehler, aber ungewöhnlich; "
                        "ausgewertet wird wie geliefert): ")
    return head + " ".join(f"({i + 1}) {line}" if not one else line for i, line in enumerate(lines))
