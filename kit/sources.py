"""The data sources of one commune's report, with their credit lines (issue 12 item 5).

:func:`sources` returns one row per input the report uses and per piece of the kit's own
reference data that applies to it: what it is, the credit line its licence asks for, the
licence, and whether it is real or made up (synthetic). Numbers, codes and labels only; the
German sentences and the HTML are in :mod:`kit.sources_view`.

Where the credit lines come from (in this order):

- an input with ``synthetic: true`` (or any input of a demo commune, ``demo: true``): made-up
  data, credited as such (its ``source:`` line, if given, is shown instead);
- an input read from ``../shared/realdata``: the credit line of its dataset, looked up by file
  name in ``kit/sources.yaml`` (copied from that folder's SOURCES.md); the input's own
  ``source:`` line is kept, beside it or instead of it when it already contains the line;
- any other input: its ``source:`` line, else "the commune's own data";
- the kit's reference data (``kit/profile/reference_data``, ``kit/survey/reference_data``):
  the rows of ``kit/sources.yaml`` for the stages the report covers.
"""

from __future__ import annotations

import fnmatch
from functools import lru_cache
from pathlib import Path

import pandas as pd

from kit.params import INPUT_NAMES, REPO_ROOT
from kit.yamlio import read_yaml

SOURCES_FILE = Path(__file__).resolve().parent / "sources.yaml"
# the real public data beside the kit folder (params refer to it as ../shared/realdata)
REALDATA_DIR = (REPO_ROOT.parent / "shared" / "realdata").resolve()

COLUMNS = ["kind", "name", "label", "dataset", "attribution", "licence", "synthetic", "public", "files"]
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


def _input_row(params: dict, name: str, files: list[tuple[str, int | None]], realdata_dir, cat: dict) -> dict:
    spec = _spec(params, name)
    own_line = spec.get("source") if name in INPUT_NAMES else None
    synthetic = bool(params.get("demo")) or bool(spec.get("synthetic"))
    licences = cat.get("licences") or {}
    row = dict(kind=INPUT, name=name, label=_titles().get(name, name), synthetic=synthetic, public=False,
               files=tuple(dict.fromkeys(Path(p).name for p, _ in files)))
    if synthetic:
        made_up = cat["synthetic"]
        return {**row, "dataset": made_up["dataset"], "attribution": own_line or made_up["attribution"],
                "licence": made_up["licence"]}
    entries: dict[str, tuple[dict, list[int]]] = {}  # attribution template -> (entry, years)
    for path, year in files:
        entry = realdata_entry(path, realdata_dir, cat)
        if entry is not None:
            years = entries.setdefault(entry["attribution"], (entry, []))[1]
            y = entry.get("year", year)
            if y is not None and y not in years:
                years.append(int(y))
    if entries:
        lines = [template.format(years="/".join(str(y) for y in sorted(years)))
                 for template, (_, years) in entries.items()]
        attribution = own_line if own_line and all(line in own_line for line in lines) else _join([*lines, own_line])
        return {**row, "public": True, "attribution": attribution,
                "dataset": _join(e["dataset"] for e, _ in entries.values()),
                "licence": _join(licences.get(e["licence"], e["licence"]) for e, _ in entries.values())}
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
    licence, synthetic (made-up data), public (read from the real-data folder), files (file
    names, for the provenance appendix only)."""
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
                             synthetic=False, public=True, files=()))
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["synthetic"] = table["synthetic"].astype(bool)
    table["public"] = table["public"].astype(bool)
    return table


def real_and_synthetic(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Labels of the real and of the synthetic inputs of a sources table (reference data not
    counted: it is always real)."""
    inputs = table[table["kind"] == INPUT]
    return (inputs.loc[~inputs["synthetic"], "label"].tolist(), inputs.loc[inputs["synthetic"], "label"].tolist())
