"""The data sources of one commune's report, with their credit lines (issue 12 item 5).

:func:`sources` returns one row per input the report uses and per piece of the kit's own
reference data that applies to it: what it is, the credit line its licence asks for, the
licence, and whether it is real or made up (synthetic). Numbers, codes and labels only; the
German sentences and the HTML are in :mod:`kit.sources_view`.

Where the credit lines come from:

- the public data sets of an input: the file it is read from when that lies in
  ``../shared/realdata``, the files its params name in ``derived_from`` (a commune's file cut out
  of or computed from public data, as kit sachsen writes: the boundary from VG250, the residents
  from the Destatis register, the Deutschlandatlas row), and the data sets whose credit line its
  ``source:`` line contains; each looked up in ``kit/sources.yaml`` (lines copied from that
  folder's SOURCES.md). Such an input is credited with their credit lines and licences; its own
  ``source:`` line is kept, beside them or instead of them when it already contains them;
- an input with ``synthetic: true`` (or any input of a demo commune, ``demo: true``): made-up
  data. Derived from public data sets (kit sachsen's PKS: Kreis rate × population), it is
  "synthetisch (aus … abgeleitet)" with their credit lines and, as "Ausgangsdaten", their
  licences (column ``derived_from``: the data sets, German); otherwise "erfunden", no licence;
- any other input: its ``source:`` line, else "the commune's own data";
- the kit's reference data (``kit/profile/reference_data``, ``kit/survey/reference_data``):
  the rows of ``kit/sources.yaml`` for the stages the report covers.
"""

from __future__ import annotations

import fnmatch
import re
from functools import lru_cache
from pathlib import Path

import pandas as pd

from kit.params import INPUT_NAMES, REPO_ROOT
from kit.yamlio import read_yaml

SOURCES_FILE = Path(__file__).resolve().parent / "sources.yaml"
# the real public data beside the kit folder (params refer to it as ../shared/realdata)
REALDATA_DIR = (REPO_ROOT.parent / "shared" / "realdata").resolve()

COLUMNS = ["kind", "name", "label", "dataset", "attribution", "licence", "synthetic", "public", "derived_from",
           "files"]
INPUT, REFERENCE = "input", "reference"  # values of column kind

# the survey's files (params survey.*) as inputs of their own, beside inputs.*
SURVEY_INPUTS = ("survey", "previous_wave", "district_crime", "gazetteer")
SURVEY_TITLES = {"survey": "Bürgerbefragung (Antworten und Stichprobe)",
                 "previous_wave": "Frühere Befragung (zum Vergleich)",
                 "district_crime": "Fälle nach Stadtteilen (Polizei)",
                 "gazetteer": "Ortsverzeichnis (Ortsnamen)"}
# the inputs each stage report uses (None: the whole commune, as stage 3 and the Lagebericht)
STAGE_INPUTS: dict[str | None, tuple[str, ...]] = {
    "profile": INPUT_NAMES,
    "survey": ("districts", "residents", "places", *SURVEY_INPUTS),
    "recommend": (*INPUT_NAMES, *SURVEY_INPUTS),
    None: (*INPUT_NAMES, *SURVEY_INPUTS),
}
# the stages whose reference data a report shows
STAGE_REFERENCES: dict[str | None, tuple[str, ...]] = {
    "profile": ("profile",), "survey": ("survey",), "recommend": ("profile", "survey"), None: ("profile", "survey")}


@lru_cache(maxsize=4)
def _catalogue(path: str) -> dict:
    return read_yaml(path, "Quellenverzeichnis").data


def catalogue(path: str | Path = SOURCES_FILE) -> dict:
    """kit/sources.yaml as read (licences, realdata, reference, own, synthetic)."""
    return _catalogue(str(path))


def _titles() -> dict[str, str]:
    from kit.profile.inputs import INPUT_TITLES

    return {**INPUT_TITLES, **SURVEY_TITLES}


def realdata_entry(path: str | Path, realdata_dir: str | Path = REALDATA_DIR, cat: dict | None = None) -> dict | None:
    """The kit/sources.yaml entry of a file in the real-data folder (None: not in that folder or
    no entry matches)."""
    cat = catalogue() if cat is None else cat
    try:
        relative = Path(path).resolve().relative_to(Path(realdata_dir).resolve()).as_posix()
    except ValueError:
        return None
    for entry in cat.get("realdata") or []:
        if fnmatch.fnmatchcase(relative, entry["pattern"]):
            return entry
    return None


def _input_files(params: dict, name: str) -> list[tuple[str, int | None]]:
    """(absolute path, year) of every file of one input ([] when the commune has none)."""
    survey = params.get("survey") or {}
    if name in INPUT_NAMES:
        spec = (params.get("inputs") or {}).get(name) or {}
        if spec.get("files"):
            return [(str(f["path"]), f.get("year")) for f in spec["files"]]
        return [(str(spec["path"]), spec.get("year"))] if spec.get("path") else []
    if name == "survey":
        return [(str(survey[k]), None) for k in ("responses", "sample") if survey.get(k)]
    if name == "previous_wave":
        wave = survey.get("previous_wave") or {}
        return [(str(wave[k]), None) for k in ("responses", "results") if wave.get(k)]
    return [(str(survey[name]), None)] if survey.get(name) else []


def _spec(params: dict, name: str) -> dict:
    if name in INPUT_NAMES:
        return (params.get("inputs") or {}).get(name) or {}
    return (params.get("survey") or {}) if name == "survey" else {}


def _join(parts) -> str:
    return "; ".join(dict.fromkeys(p for p in parts if p))


def _and_de(items) -> str:
    items = list(dict.fromkeys(items))
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " und " + items[-1]


def _source_line_entries(line: str | None, cat: dict) -> list[tuple[dict, list[int]]]:
    """The realdata entries whose credit line the input's ``source:`` line contains (with the
    years it names where the line has {years})."""
    found = []
    for entry in (cat.get("realdata") or []) if line else []:
        head, with_years, tail = entry["attribution"].partition("{years}")
        pattern = re.escape(head) + (r"(\d{4}(?:/\d{4})*)" + re.escape(tail) if with_years else "")
        match = re.search(pattern, line)
        if match:
            found.append((entry, [int(y) for y in match.group(1).split("/")] if with_years else []))
    return found


def _public_entries(params: dict, name: str, files: list[tuple[str, int | None]], own_line: str | None,
                    realdata_dir, cat: dict) -> dict[str, tuple[dict, list[int]]]:
    """attribution template -> (realdata entry, years) of the public data sets an input is, or was
    cut out of or computed from: its files in the real-data folder, the files its params name in
    ``derived_from``, and the data sets whose credit line its ``source:`` line contains."""
    derived = [(str(f), None) for f in (_spec(params, name).get("derived_from") or [])]
    entries: dict[str, tuple[dict, list[int]]] = {}
    found = [(realdata_entry(path, realdata_dir, cat), year) for path, year in (*files, *derived)]
    pairs = [(e, [int(e.get("year", year))] if e.get("year", year) is not None else []) for e, year in found if e]
    for entry, years in (*pairs, *_source_line_entries(own_line, cat)):
        known = entries.setdefault(entry["attribution"], (entry, []))[1]
        known.extend(y for y in years if y not in known)
    return entries


def _input_row(params: dict, name: str, files: list[tuple[str, int | None]], realdata_dir, cat: dict) -> dict:
    spec = _spec(params, name)
    own_line = spec.get("source") if name in INPUT_NAMES else None
    synthetic = bool(params.get("demo")) or bool(spec.get("synthetic"))
    licences = cat.get("licences") or {}
    row = dict(kind=INPUT, name=name, label=_titles().get(name, name), synthetic=synthetic, public=False,
               derived_from="", files=tuple(dict.fromkeys(Path(p).name for p, _ in files)))
    entries = _public_entries(params, name, files, own_line, realdata_dir, cat)
    lines = [template.format(years="/".join(str(y) for y in sorted(years)))
             for template, (_, years) in entries.items()]
    attribution = own_line if own_line and all(line in own_line for line in lines) else _join([*lines, own_line])
    licence = _join(licences.get(e["licence"], e["licence"]) for e, _ in entries.values())
    if synthetic:
        made_up = cat["synthetic"]
        if not entries:
            return {**row, "dataset": made_up["dataset"], "attribution": own_line or made_up["attribution"],
                    "licence": made_up["licence"]}
        # made up from public data (kit sachsen's PKS: the Kreis rate times the population): what it was
        # derived from, with the credit line and licence of that data; the values are no real data
        from_text = _and_de([e.get("from_text") or e["dataset"] for e, _ in entries.values()])
        return {**row, "derived_from": from_text, "attribution": attribution,
                "dataset": made_up["derived_dataset"].format(from_text=from_text),
                "licence": made_up["derived_licence"].format(licence=licence)}
    if entries:
        return {**row, "public": True, "attribution": attribution, "licence": licence,
                "dataset": _join(e["dataset"] for e, _ in entries.values())}
    own = cat["own"]
    return {**row, "dataset": own["dataset"], "licence": own["licence"],
            "attribution": own_line or own["attribution"].format(commune=params.get("name") or "Kommune")}


def sources(params: dict, stage: str | None = None, *, survey_done: bool | None = None,
            realdata_dir: str | Path = REALDATA_DIR) -> pd.DataFrame:
    """The sources of one commune's report: one row per input the report uses (``kind`` =
    "input", in the order of the params) and per applicable reference data set of the kit
    (``kind`` = "reference").

    ``stage``: "profile", "survey", "recommend" or None (the whole commune, e.g. the
    Lagebericht); ``survey_done``: whether the survey was evaluated (default: the params name
    survey responses); without it the survey's inputs and reference data are left out.
    ``params``: as :func:`kit.params.load_params` returns them (absolute paths).

    Columns: kind, name (input or reference id), label, dataset, attribution (the credit line),
    licence, synthetic (made-up data), public (real public data: read from, cut out of or credited
    as a data set of the real-data folder), derived_from (German: the public data sets a synthetic
    input was derived from, "" otherwise), files (file names, for the provenance appendix only)."""
    cat = catalogue()
    if survey_done is None:
        survey_done = bool((params.get("survey") or {}).get("responses"))
    rows = []
    for name in STAGE_INPUTS[stage]:
        if name in SURVEY_INPUTS and not survey_done:
            continue
        files = _input_files(params, name)
        if files:
            rows.append(_input_row(params, name, files, realdata_dir, cat))
    licences = cat.get("licences") or {}
    for ref in cat.get("reference") or []:
        if ref["stage"] in STAGE_REFERENCES[stage] and (ref["stage"] != "survey" or survey_done):
            rows.append(dict(kind=REFERENCE, name=ref["id"], label=ref["use"], dataset=ref["dataset"],
                             attribution=ref["attribution"], licence=licences.get(ref["licence"], ref["licence"]),
                             synthetic=False, public=True, derived_from="", files=()))
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["synthetic"] = table["synthetic"].astype(bool)
    table["public"] = table["public"].astype(bool)
    return table


def real_and_synthetic(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Labels of the real and of the synthetic inputs of a sources table (reference data not
    counted: it is always real)."""
    inputs = table[table["kind"] == INPUT]
    return (inputs.loc[~inputs["synthetic"], "label"].tolist(), inputs.loc[inputs["synthetic"], "label"].tolist())
