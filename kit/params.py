"""Params: one typed model for every hand-written settings file.

- Commune params: ``params/defaults.yaml`` deep-merged under ``params/<commune>.yaml``,
  validated by :class:`CommuneParams` and returned by :func:`load_params` as the plain
  dict the stages use (``params["privacy"]["min_cell"]``, ``params["inputs"][name]["path"]``
  as an absolute path or None, ``params["params_file"]``, ``params["data_dir"]``).
- The measures catalogue (``params/measures.yaml``): :class:`Catalogue`, read by
  :func:`read_catalogue` (kit.recommend.rules.load_catalogue).
- A survey codebook: :class:`CodebookTop` (top level, ``roles``, the keys of every item),
  checked by :func:`codebook_problems` (kit.survey.codebook.codebook_from_dict, which checks
  what needs the other items: value sets, role and rule cross-references).

Every key has a type and a range; unknown keys are errors (a misspelt key would
otherwise be silently ignored). YAML is read with :mod:`kit.yamlio`, which refuses
duplicate keys. Every validation problem becomes a German ParamsError naming file,
line, key path, the value given (short, sanitised) and what is allowed; the
allowed text of a field is its ``description`` (one place per setting).

Input files (``inputs.*``, ``survey.responses``, ``survey.sample``) must lie inside
the commune's ``data_dir`` or one of its ``allowed_roots``; ``..`` and symlinks
out of them are refused.
"""

from __future__ import annotations

import copy
import functools
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo,
                      field_validator, model_validator)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from kit.errors import ParamsError, Problem
from kit.yamlio import YamlDocument, YamlFileError, format_loc, read_yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
PARAMS_DIR = REPO_ROOT / "params"
DEFAULTS_FILE = PARAMS_DIR / "defaults.yaml"

INPUT_NAMES = ("districts", "residents", "places", "accommodation", "clubs", "owi",
               "education", "bos", "prevention", "pks", "pmk", "context")
REQUIRED_INPUTS = ("districts", "residents", "pks")
YEAR_MIN, YEAR_MAX = 1990, 2100
MARGINS = ("age_sex", "district", "age_group", "sex")  # kit.survey.weighting.MARGIN_COLUMNS
AGE_GROUPS = ("16-34", "35-54", "55-74", "75+")  # kit.survey.codebook.AGE_GROUPS
TRIGGER_OPS = (">", ">=", "<", "<=")  # kit.recommend.rules.OPS
MAX_LISTED = 20  # problems listed in one message
VALUE_CHARS = 60  # at most this many characters of a value are quoted
PATH_CHARS = 240  # paths are quoted longer (they come from the params file, never from a data file)


def _custom(allowed: str) -> PydanticCustomError:
    """A validation error whose 'allowed' text is already German."""
    return PydanticCustomError("kit", "{allowed}", {"allowed": allowed})


class _Model(BaseModel):
    """Unknown keys are refused; no silent conversions (a text is no number, true is no 1)."""

    model_config = ConfigDict(extra="forbid", strict=True)


# ---------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------

def _int_to_text(value: Any) -> Any:
    """YAML reads unquoted 14522990 or 14999 as numbers; such keys are texts."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _path_shorthand(value: Any) -> Any:
    """``districts: districts.geojson`` is short for ``districts: {path: districts.geojson}``."""
    return {"path": value} if isinstance(value, str) else value


_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _yaml_float(value: Any) -> Any:
    """PyYAML reads 1e-10 (exponent without a dot) as text; accept it as the number it means.
    Other texts stay texts (and are refused where a number is expected)."""
    if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
        number = float(value)
        return number if math.isfinite(number) else value
    return value


Num = Annotated[float, BeforeValidator(_yaml_float)]


Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX,
                            description=f"Jahreszahl zwischen {YEAR_MIN} und {YEAR_MAX} (z. B. 2022)")]
Share = Annotated[Num, Field(gt=0, lt=1, allow_inf_nan=False,
                               description="Zahl zwischen 0 und 1 (z. B. 0.95)")]
Text = Annotated[str, Field(min_length=1, description="nicht leerer Text")]
RelPath = Annotated[str, Field(min_length=1, description="Dateiname oder Pfad (relativ zu data_dir)")]
Hz = Annotated[Num, Field(ge=0, allow_inf_nan=False,
                            description="Häufigkeitszahl (Zahl ≥ 0, Fälle je 100.000 Einwohner)")]
TextKey = Annotated[str, BeforeValidator(_int_to_text),
                    Field(min_length=1, description="Schlüssel als Text (z. B. \"14612\")")]


# ---------------------------------------------------------------------------
# commune params
# ---------------------------------------------------------------------------

class InputFile(_Model):
    """One of several files of one input (e.g. one BKA table per year)."""

    path: RelPath
    year: Year | None = None
    key: TextKey | None = None
    sheet: Annotated[int | str, Field(description="Tabellenblatt (Nummer ab 0 oder Name)")] | None = None
    format: Annotated[Literal["bka"], Field(description="'bka' (BKA-Tabelle) oder weglassen")] | None = None


InputFileT = Annotated[InputFile, BeforeValidator(_path_shorthand)]


class NumberFormat(_Model):
    """How numbers are written in an input table (kit.io.read_table, kit.schemas): needed when the
    file leaves it open, e.g. "2.000" in a ','-separated file or a text cell of a workbook."""

    decimal: Annotated[Literal[",", "."], Field(description="Dezimalzeichen: \",\" oder \".\"")]
    thousands: Annotated[Literal[".", ",", " ", "'", ""], Field(description=(
        "Tausendertrennzeichen: \".\", \",\", \" \", \"'\" oder \"\" (keins)"))] = ""

    @model_validator(mode="after")
    def _different(self):
        if self.decimal == self.thousands:
            raise _custom("verschiedene Zeichen für decimal und thousands, z. B. {decimal: \",\", thousands: \".\"}")
        return self


class InputSpec(_Model):
    """One input table: a file name, or {path: …} with options, or {files: [...]} with options."""

    path: RelPath | None = None
    files: Annotated[list[InputFileT], Field(min_length=1, description=(
        "Liste von Dateien, z. B. [{path: pks_2022.csv, year: 2022}, {path: pks_2023.csv, year: 2023}]"))] | None = None
    format: Annotated[Literal["bka", "opendata_dresden", "deutschlandatlas"], Field(description=(
        "'bka' (BKA-Tabelle), 'opendata_dresden' (Einwohnertabelle des Dresdner Open-Data-Portals), "
        "'deutschlandatlas' (Kreisdaten des Deutschlandatlas) oder weglassen"))] | None = None
    key: Annotated[TextKey, Field(description="Gemeinde-/Kreisschlüssel der BKA-Tabelle als Text (z. B. \"14612\")")] | None = None
    year: Year | None = None
    sheet: Annotated[int | str, Field(description="Tabellenblatt (Nummer ab 0 oder Name)")] | None = None
    # kit.io.read_table: the number convention when the file leaves it open ("2.000": 2 or 2000?)
    numbers: NumberFormat | None = None
    # kit.io.read_geometry: the layer of a GeoPackage with several (districts only)
    layer: Annotated[int | str, Field(description="Ebene (Layer) der Geodaten-Datei (Nummer ab 0 oder Name)")] | None = None
    # kit.profile.realdata.rename_columns: schema column -> column of the file (e.g. OSM polygons: ref, name)
    columns: Annotated[dict[str, Text], Field(description=(
        "Zuordnung Spalte des Kits: Spalte der Datei, z. B. {district_id: ref, district_name: name}"))] = {}
    # shown under charts and maps instead of the commune's register / district boundaries
    source: Annotated[str, Field(min_length=1, description=(
        "Quellenangabe der Datei, z. B. \"© OpenStreetMap contributors, ODbL 1.0\""))] | None = None
    # kit.sources: the report says which inputs are real and which synthetic (demo communes: all synthetic)
    synthetic: Annotated[bool, Field(description=(
        "true, wenn die Datei erfundene (synthetische) Daten enthält, z. B. Platzhalter, wo keine echten "
        "Daten vorliegen; false (Voreinstellung): echte Daten"))] = False
    # kit.sources: the public files this input was cut out of or computed from (kit sachsen: a commune's
    # boundary from VG250, its residents from the Destatis register); credited with their data set and licence
    derived_from: Annotated[list[RelPath], Field(min_length=1, description=(
        "Liste der Dateien, aus denen die Eingabe ausgeschnitten oder berechnet wurde, z. B. "
        "[../shared/realdata/geo/derived_sachsen_gemeinden_vg250.geojson]; der Bericht nennt dann deren "
        "Datensatz mit Quellenangabe und Lizenz (die Dateien werden nicht gelesen)"))] | None = None

    @model_validator(mode="after")
    def _path_or_files(self):
        if (self.path is None) == (self.files is None):
            raise _custom("entweder 'path' oder 'files' (nicht beides), z. B. {path: pks.csv} oder "
                          "{files: [{path: pks_2022.csv, year: 2022}]}")
        return self


InputT = Annotated[InputSpec, BeforeValidator(_path_shorthand),
                   Field(description="Dateiname (z. B. residents.csv) oder {path: …, sheet: …}")]


class Inputs(_Model):
    """The input tables of the area profile (kit/profile); districts, residents and pks are required."""

    districts: InputT
    residents: InputT
    places: InputT | None = None
    accommodation: InputT | None = None
    clubs: InputT | None = None
    owi: InputT | None = None
    education: InputT | None = None
    bos: InputT | None = None
    prevention: InputT | None = None
    pks: InputT
    pmk: InputT | None = None
    context: InputT | None = None  # Kreis indicators (format: deutschlandatlas), kit.profile.realdata


class Dominance(_Model):
    """(n, k) dominance rule for magnitude tables: a cell is sensitive when its n largest
    contributors make up more than k % of it. Reserved for the disclosure policy; not all
    tables apply it yet."""

    n: Annotated[int, Field(ge=1, le=10, description="ganze Zahl zwischen 1 und 10 (z. B. 2)")]
    k: Annotated[Num, Field(gt=0, lt=100, description="Prozent zwischen 0 und 100 (z. B. 85)")]


class Privacy(_Model):
    min_cell: Annotated[int, Field(ge=3, description="ganze Zahl ≥ 3 (z. B. 5)")]
    min_base_percent: Annotated[int, Field(ge=3, description="ganze Zahl ≥ privacy.min_cell (z. B. 30)")]
    dominance: Dominance | None = None

    @field_validator("min_base_percent")
    @classmethod
    def _base_not_below_cell(cls, value: int, info: ValidationInfo) -> int:
        cell = info.data.get("min_cell")
        if isinstance(cell, int) and value < cell:
            raise _custom(f"ganze Zahl ≥ privacy.min_cell ({cell})")
        return value


PksRefValue = Annotated[Hz | dict[Year, Hz], Field(description=(
    "Häufigkeitszahl (Zahl ≥ 0) oder je Berichtsjahr {Jahr: Häufigkeitszahl}, z. B. {2022: 6594.4}"))]


class Profile(_Model):
    years_for_mean: Annotated[int, Field(ge=1, le=10, description="ganze Zahl zwischen 1 und 10 (z. B. 3)")]
    confidence: Share
    pks_reference: Annotated[dict[Annotated[int | str, Field(description="Straftatenschlüssel (z. B. \"892000\")")],
                                  PksRefValue],
                             Field(description="Zuordnung Straftatenschlüssel: Häufigkeitszahl, z. B. "
                                               "\"892000\": 180 oder \"000000\": {2022: 6594.4}")] = {}
    pks_reference_label: Annotated[str, Field(description="Text (z. B. Sachsen)")] = ""
    # kit.profile.realdata.district_match: Stadtteile of the residents table without polygon
    unmatched_districts: Annotated[Literal["error", "report"], Field(description=(
        "error (Einwohnerzeilen mit Stadtteil-Nr. ohne Polygon sind ein Fehler) oder report (sie werden "
        "mit Nr. und Namen genannt und zählen in der Gesamtzahl, fehlen aber auf den Karten)"))] = "error"


CleaningAction = Literal["set_missing", "drop_case", "stop"]


QualityShare = Annotated[Num, Field(gt=0, lt=1, allow_inf_nan=False, description=(
    "Anteil größer 0 und kleiner 1 (z. B. 0.5 = die Hälfte der Fragen)"))]


class EmptyRule(_Model):
    """Response quality (kit.survey.quality): questionnaire without substantive answers."""

    action: Literal["drop", "flag"] = "drop"
    min_answered: QualityShare = 0.1


class IncompleteRule(_Model):
    """Not submitted / left before the last page (LimeSurvey submitdate, lastpage)."""

    action: Literal["keep", "drop"] = "keep"
    min_answered: QualityShare = 0.5
    last_page: Annotated[int, Field(ge=1, le=10_000, description=(
        "ganze Zahl ≥ 1 (Nummer der letzten Seite) oder null (höchste Seite der abgeschickten Fragebögen)"))] | None = None


class SpeedingRule(_Model):
    action: Literal["flag", "drop"] = "flag"
    max_share_of_median: Annotated[Num, Field(gt=0, lt=1, allow_inf_nan=False, description=(
        "Anteil größer 0 und kleiner 1 (z. B. 0.3 = unter 30 % der mittleren Bearbeitungszeit)"))] = 0.3


class StraightliningRule(_Model):
    action: Literal["flag", "drop"] = "flag"
    min_items: Annotated[int, Field(ge=2, le=1000, description=(
        "ganze Zahl ≥ 2 (Mindestzahl der Aussagen einer Fragebatterie, z. B. 5)"))] = 5


class Cleaning(_Model):
    out_of_range: CleaningAction = "set_missing"
    duplicates: Literal["drop", "stop"] = "drop"
    inconsistent: CleaningAction = "set_missing"
    empty: EmptyRule = EmptyRule()
    incomplete: IncompleteRule = IncompleteRule()
    speeding: SpeedingRule = SpeedingRule()
    straightlining: StraightliningRule = StraightliningRule()


class Weighting(_Model):
    margins: Annotated[list[Literal[MARGINS]], Field(min_length=1, description=(
        f"Liste aus {', '.join(MARGINS)} (mindestens einer, jeder nur einmal)"))]
    max_iter: Annotated[int, Field(ge=1, le=100_000, description="ganze Zahl zwischen 1 und 100000 (z. B. 200)")]
    tolerance: Annotated[Num, Field(gt=0, lt=1, description="Zahl größer 0 und kleiner 1 (z. B. 1.0e-10)")]
    trim_lower: Annotated[Num, Field(gt=0, lt=1, description=(
        "Zahl zwischen 0 und 1 (z. B. 0.3) oder null (ohne Kappung)"))] | None = None
    trim_upper: Annotated[Num, Field(gt=1, allow_inf_nan=False, description=(
        "Zahl größer 1 (z. B. 3.0) oder null (ohne Kappung)"))] | None = None
    margin_tolerance: Annotated[Num, Field(gt=0, le=0.2, allow_inf_nan=False, description=(
        "Anteil größer 0 und höchstens 0.2 (z. B. 0.01 = ein Prozentpunkt)"))] = 0.01
    on_margin_miss: Literal["warn", "error"] = "warn"

    @field_validator("margins")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise _custom(f"Liste aus {', '.join(MARGINS)}, jeder Rand nur einmal")
        return value

    @field_validator("trim_upper")
    @classmethod
    def _both_or_neither(cls, value: float | None, info: ValidationInfo) -> float | None:
        if "trim_lower" not in info.data:
            return value  # trim_lower itself is wrong and reported
        if (info.data["trim_lower"] is None) != (value is None):
            raise _custom("trim_lower < 1 < trim_upper (beide angeben) oder beide null (ohne Kappung)")
        return value


class Group(_Model):
    sex: Annotated[Literal["w", "m"], Field(description="w oder m")] | None = None
    age_group: Literal[AGE_GROUPS] | None = None
    district_id: Annotated[str, BeforeValidator(_int_to_text)] | None = None


class KeyIndicator(_Model):
    """item + codes: share giving one of the codes; index + above: share whose mean over the items is above."""

    id: Annotated[str, Field(pattern=r"^\w+$", description=(
        "Kennung aus Buchstaben, Ziffern und _ ohne Leerzeichen (z. B. unsafe_night)"))]
    label: Text
    item: Annotated[str, Field(min_length=1, description="Item-id aus dem Codebuch (z. B. Q05)")] | None = None
    codes: Annotated[list[int], Field(min_length=1, description="Liste ganzer Zahlen (Antwortcodes), z. B. [3, 4]")] | None = None
    index: Annotated[list[Text], Field(min_length=1, description="Liste von Item-ids, z. B. [Q21_01, Q21_02]")] | None = None
    above: Annotated[Num, Field(allow_inf_nan=False, description="Zahl (Schwelle des Mittelwerts, z. B. 2.5)")] | None = None
    group: Group | None = None

    @model_validator(mode="after")
    def _one_kind(self):
        share = self.item is not None and self.codes is not None
        index = self.index is not None and self.above is not None
        if share == index or (share and (self.index or self.above is not None)) or \
                (index and (self.item or self.codes)):
            raise _custom("entweder item + codes (z. B. {item: Q05, codes: [3, 4]}) oder "
                          "index + above (z. B. {index: [Q21_01, Q21_02], above: 2.5})")
        return self


class SampleDesign(_Model):
    """How the issued sample was drawn (kit/survey/design.py): the variance follows it."""

    type: Literal["srs", "stratified", "clustered"] = "srs"
    strata: Literal["district", "age_group", "sex"] | None = None
    population: Annotated[dict[TextKey, Annotated[Num, Field(gt=0, allow_inf_nan=False)]], Field(description=(
        "Zuordnung Schicht: Einwohnerzahl (bei Klumpen: Zahl der Klumpen), z. B. {\"11\": 4200, \"12\": 3100}; "
        "leer = aus der Bevölkerungstabelle der Stufe 1"))] = {}
    cluster: Annotated[str, Field(min_length=1, description=(
        "Spalte der Befragungsdaten mit der Klumpen-Kennung (z. B. district_id)"))] | None = None
    fpc: Annotated[bool, Field(description="true oder false")] = True
    calibration: Annotated[bool, Field(description="true oder false")] = True
    replicates: Literal["none", "jackknife", "bootstrap"] = "none"
    n_replicates: Annotated[int, Field(ge=50, le=10_000, description="ganze Zahl zwischen 50 und 10000 (z. B. 500)")] = 500
    seed: Annotated[int, Field(ge=0, description="ganze Zahl ab 0 (z. B. 20250115)")] = 20250115
    interval: Literal["korn_graubard", "logit"] = "korn_graubard"

    @model_validator(mode="after")
    def _consistent(self):
        if self.type == "stratified" and self.strata is None:
            raise _custom("bei type: stratified eine Schichtungsvariable angeben (strata: district, age_group "
                          "oder sex)")
        if self.type == "clustered" and self.cluster is None:
            raise _custom("bei type: clustered die Spalte mit der Klumpen-Kennung angeben (cluster: ...)")
        if self.type == "srs" and (self.strata is not None or self.cluster is not None):
            raise _custom("type: srs ohne strata und cluster, oder type: stratified bzw. clustered")
        return self


class CrimeFear(_Model):
    """Crime vs. feeling of safety and the two impairment batteries (kit.survey.crime_fear)."""

    min_units: Annotated[int, Field(ge=5, le=1000, description=(
        "ganze Zahl ≥ 5 (z. B. 8): so viele Stadtteile oder Kommunen braucht der Zusammenhang mindestens"))]
    batteries: Annotated[list[Text], Field(min_length=2, max_length=2, description=(
        "zwei Frage-ids aus dem Codebuch: physische Unordnung und Gruppen/Orte, z. B. [Q04, Q10]"))]


class PreviousWave(_Model):
    """An earlier wave of the same survey (kit.survey.waves): EITHER its response file (cleaned,
    weighted and estimated like the current one) OR the published results of its earlier run."""

    label: Annotated[str, BeforeValidator(_int_to_text), Field(min_length=1, description=(
        "Bezeichnung der früheren Befragung, meist das Jahr, z. B. \"2021\""))]
    responses: RelPath | None = None
    numbers: Annotated[NumberFormat, Field(description=(
        "Zahlenformat der früheren Antwortdatei, z. B. {decimal: \",\", thousands: \".\"}"))] | None = None
    codebook: RelPath | None = None
    column_map: Annotated[dict[str, Text], Field(description="Zuordnung Spaltenname: Item-id")] = {}
    population_margins: RelPath | None = None
    results: RelPath | None = None
    key_indicators: RelPath | None = None
    confidence: Share | None = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.responses is None) == (self.results is None):
            raise _custom("entweder responses (Antwortdatei der früheren Befragung) oder results (deren "
                          "veröffentlichte Ergebnisdatei survey_estimates.csv), nicht beides")
        if self.results is not None and (self.codebook or self.column_map or self.population_margins or self.numbers):
            raise _custom("codebook, column_map, numbers und population_margins nur zusammen mit responses")
        if self.responses is not None and (self.key_indicators or self.confidence is not None):
            raise _custom("key_indicators und confidence nur zusammen mit results")
        return self


class PlaceMatching(_Model):
    """Matching of the free-text answers to the commune's places and districts (kit.gazetteer)."""

    threshold: Annotated[Num, Field(ge=50, le=100, allow_inf_nan=False, description=(
        "Mindestähnlichkeit 50 bis 100 für eine Zuordnung (z. B. 88)"))] = 88.0
    review_min: Annotated[Num, Field(ge=0, le=100, allow_inf_nan=False, description=(
        "Ähnlichkeit 0 bis 100 (höchstens threshold), ab der eine Antwort zur Prüfung vorgelegt wird"))] = 65.0
    ambiguity_margin: Annotated[Num, Field(ge=0, le=20, allow_inf_nan=False, description=(
        "Abstand 0 bis 20: liegt ein zweiter Ort so nah an der besten Zuordnung, ist sie mehrdeutig"))] = 3.0
    review_dir: Annotated[str, Field(min_length=1, description=(
        "privater Ordner außerhalb von output/ für die Prüfliste (relativ zu data_dir)"))] | None = None

    @model_validator(mode="after")
    def _order(self):
        if self.review_min > self.threshold:
            raise _custom("review_min höchstens so groß wie threshold (z. B. review_min: 65, threshold: 88)")
        return self


class Survey(_Model):
    codebook: Annotated[str, Field(min_length=1, description="Pfad zum Codebuch (relativ zum Kit-Ordner)")]
    column_map: Annotated[dict[str, Text], Field(description="Zuordnung Spaltenname: Item-id")] = {}
    confidence: Share
    cleaning: Cleaning
    weighting: Weighting
    design: SampleDesign = SampleDesign()
    key_indicators: list[KeyIndicator] = []
    free_text_item: Annotated[str, Field(min_length=1, description="Item-id der Freitextfrage (z. B. Q12)")] | None = None
    free_text_topics: Annotated[dict[str, list[Text]], Field(description=(
        "Zuordnung Thema: Liste von Suchwörtern, z. B. Bahnhof/Haltestelle: [Bahnhof, Haltestelle]"))] = {}
    responses: RelPath | None = None
    # kit.survey.cleaning: the number convention of the response file when it leaves it open ("2.000": 2 or 2000?)
    numbers: Annotated[NumberFormat, Field(description=(
        "Zahlenformat der Antwortdatei, z. B. {decimal: \",\", thousands: \".\"} (nötig, wenn die Datei es "
        "offenlässt, etwa 2.000 in einer Datei mit Komma als Trennzeichen)"))] | None = None
    sample: RelPath | None = None
    # kit.sources: answers and sample made up (e.g. a test batch), not a real survey of the commune
    synthetic: Annotated[bool, Field(description=(
        "true, wenn Antworten und Stichprobe erfunden (synthetisch) sind; false (Voreinstellung): echte Befragung"))] = False
    previous_wave: PreviousWave | None = None
    district_crime: RelPath | None = None  # optional: cases by district (schema district_crime)
    crime_fear: CrimeFear  # its values come from params/defaults.yaml
    gazetteer: RelPath | None = None
    place_matching: PlaceMatching = PlaceMatching()


class SwitchOff(_Model):
    """A catalogue measure the analyst switches off for this commune (the reason is shown)."""

    id: Annotated[str, Field(min_length=1, description="id einer Maßnahme des Katalogs, z. B. saubere_stadt")]
    reason: Annotated[str, Field(min_length=1, description="Begründung (Text, erscheint im Bericht)")]


class Reword(_Model):
    """New wording of a catalogue measure for this commune."""

    title: Text | None = None
    description: Text | None = None


class Recommendations(_Model):
    catalogue: Annotated[str, Field(min_length=1, description="Pfad zum Maßnahmenkatalog (relativ zum Kit-Ordner)")]
    contacts: Annotated[str, Field(min_length=1, description=(
        "Pfad zur Datei der Ansprechpartner (Wegweiser, relativ zum Kit-Ordner)"))] = "params/contacts.yaml"
    switch_off: Annotated[list[SwitchOff], Field(description=(
        "Liste abgeschalteter Maßnahmen, z. B. [{id: saubere_stadt, reason: \"läuft bereits seit 2023\"}]"))] = []
    add: Annotated[list["Measure"], Field(description="Liste zusätzlicher Maßnahmen (Felder wie im Katalog)")] = []
    reword: Annotated[dict[str, Reword], Field(description=(
        "Zuordnung Maßnahmen-id: {title: …, description: …}"))] = {}


class CommuneParams(_Model):
    """Defaults merged under one commune's params file."""

    commune_id: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$", description=(
        "Kleinbuchstaben, Ziffern, _ oder - (wird als Ordnername verwendet), z. B. muldenau"))]
    name: Text
    ags: Annotated[str, BeforeValidator(_int_to_text), Field(pattern=r"^14[0-9]{6}$", description=(
        "8-stelliger Amtlicher Gemeindeschlüssel eines sächsischen Ortes (beginnt mit 14), "
        "in Anführungszeichen, z. B. \"14522990\""))]
    kind: Annotated[str, Field(description="Text (z. B. Kleinstadt)")] | None = None
    landkreis: Annotated[str, Field(description="Text (z. B. Landkreis Mittelsachsen)")] | None = None
    notes: Annotated[str, Field(description="Text")] | None = None
    data_dir: Annotated[str, Field(min_length=1, description="Ordner mit den Eingabedateien der Kommune")]
    demo: Annotated[bool, Field(description="true oder false")] = False
    allowed_roots: Annotated[list[Annotated[str, Field(min_length=1)]], Field(description=(
        "Liste weiterer Ordner, aus denen Eingabedateien gelesen werden dürfen (absolut oder relativ "
        "zum Kit-Ordner), z. B. [../shared/realdata]"))] = []
    inputs: Inputs
    privacy: Privacy
    profile: Profile
    survey: Survey
    recommendations: Recommendations


# ---------------------------------------------------------------------------
# measures catalogue
# ---------------------------------------------------------------------------

TRIGGER_KINDS = ("threshold", "flag", "group_difference", "batch", "reference")  # kit.recommend.rules
EVIDENCE_LEVELS = ("wirksam (Grüne Liste Stufe 3)", "wahrscheinlich wirksam (Grüne Liste Stufe 2)",
                   "Wirksamkeit theoretisch gut begründet (Grüne Liste Stufe 1)", "Good Practice (nicht evaluiert)")
TARGET_GROUPS = ("Kinder", "Jugendliche", "Frauen", "Senioren", "Familien", "Gewerbetreibende", "alle")
COST_CLASSES = ("gering", "mittel", "hoch")
TIME_FRAMES = ("kurzfristig", "mittelfristig", "langfristig")
IndicatorId = Annotated[str, Field(pattern=r"^(profile|survey)\.\S+$", description=(
    "Kennzahl aus Stufe 1 oder 2, z. B. survey.unsafe_night oder profile.hz_ratio_892000"))]


class Trigger(_Model):
    """One rule of a measure (kinds: kit.recommend.rules.evaluate_trigger)."""

    kind: Literal[TRIGGER_KINDS] = "threshold"
    indicator: IndicatorId
    op: Literal[TRIGGER_OPS] | None = None
    threshold: Annotated[Num, Field(allow_inf_nan=False, description="Zahl (Anteile als 0..1, z. B. 0.25)")] | None = None
    basis: Literal["estimate", "interval"] = "estimate"
    versus: IndicatorId | None = None
    alpha: Annotated[Num, Field(gt=0, le=0.2, allow_inf_nan=False, description="Zahl über 0 bis 0.2 (z. B. 0.05)")] = 0.05
    statistic: Literal["median", "rank"] = "median"
    rank: Annotated[int, Field(ge=1, description="ganze Zahl ≥ 1 (1 = höchster bzw. niedrigster Wert)")] = 1
    min_communes: Annotated[int, Field(ge=3, description="ganze Zahl ≥ 3")] = 3
    label: Annotated[str, Field(description="Text")] | None = None
    # kind reference on a survey indicator: the id of its comparison value in
    # kit/survey/reference_data/survey_benchmarks.csv (column reference), e.g. asskomm_sn
    reference: Annotated[str, Field(pattern=r"^[\w-]+$", description=(
        "Kennung des Vergleichswerts (Spalte reference der Referenzwerte der Befragung), z. B. asskomm_sn"))] | None = None

    @model_validator(mode="after")
    def _kind_fields(self):
        survey_reference = self.kind == "reference" and self.indicator.startswith("survey.")
        if survey_reference:
            if self.op is None or self.reference is None or self.threshold is not None:
                raise _custom("Auslöser der Art reference für eine Kennzahl der Befragung braucht op und reference "
                              "(Vergleichswert), aber keinen threshold: es entscheidet der Test gegen den "
                              "Vergleichswert, z. B. {kind: reference, indicator: survey.knows_police_advice, "
                              "op: \"<\", reference: asskomm_sn}")
        elif self.kind in ("threshold", "reference") and (self.op is None or self.threshold is None):
            raise _custom(f"Auslöser der Art {self.kind} braucht op und threshold, z. B. "
                          "{indicator: survey.unsafe_night, op: \">=\", threshold: 0.25}")
        if self.reference is not None and not survey_reference:
            raise _custom("reference (Vergleichswert der Befragung) nur bei Auslösern der Art reference für eine "
                          "Kennzahl der Befragung (survey.…)")
        if self.kind == "flag" and (self.op is not None or self.threshold is not None):
            raise _custom("Auslöser der Art flag (Frühwarnung) ohne op und threshold, z. B. "
                          "{kind: flag, indicator: profile.pks_rise_892000}")
        if self.kind == "group_difference" and self.versus is None:
            raise _custom("Auslöser der Art group_difference braucht versus (Kennzahl der Vergleichsgruppe), z. B. "
                          "{kind: group_difference, indicator: survey.unsafe_night_women, versus: survey.unsafe_night_men}")
        if self.kind == "batch" and self.op is None:
            raise _custom("Auslöser der Art batch braucht op (> oder >= : höher als die anderen Kommunen)")
        if self.kind == "reference" and not self.indicator.startswith(("profile.hz_mean_", "profile.hz_ratio_",
                                                                         "survey.")):
            raise _custom("Auslöser der Art reference nur für Häufigkeitszahlen (profile.hz_mean_… oder profile.hz_ratio_…) "
                          "oder Kennzahlen der Befragung mit Vergleichswert (survey.…)")
        return self


class Evidence(_Model):
    level: Annotated[Literal[EVIDENCE_LEVELS], Field(description="eine der vier Wirksamkeitsstufen")]
    source: Annotated[Text, Field(description="Quelle: Eintrag der Grünen Liste Prävention, Studie oder Ort der Praxis")]


class Funding(_Model):
    kommpraev: Annotated[bool, Field(description="true oder false")]
    reason: Text


class SuccessIndicator(_Model):
    text: Text
    indicator: IndicatorId | None = None


class General(_Model):
    always: Annotated[bool, Field(description="true oder false")] = False
    min_population: Annotated[int, Field(ge=1, description="ganze Zahl ≥ 1 (Einwohner)")] | None = None


class Measure(_Model):
    id: Annotated[str, Field(pattern=r"^[\w-]+$", description=(
        "Kennung aus Buchstaben, Ziffern, _ oder - ohne Leerzeichen (z. B. saubere_stadt)"))]
    title: Text
    description: Text
    topic: Text
    target_groups: Annotated[list[Literal[TARGET_GROUPS]], Field(min_length=1, description=(
        "Liste von Zielgruppen aus: " + ", ".join(TARGET_GROUPS)))]
    places: Annotated[list[Text], Field(description="Liste von Ortsarten, z. B. [Innenstadt, Park/Grünanlage]")] = []
    lead: Annotated[Text, Field(description="federführender Akteur, z. B. Ordnungsamt")]
    partners: Annotated[list[Text], Field(description="Liste von Partnern, z. B. [Polizeirevier, Vereine]")] = []
    evidence: Annotated[Evidence, Field(description=(
        "{level: eine der vier Wirksamkeitsstufen, source: Quelle}, z. B. {level: \"Good Practice (nicht evaluiert)\", "
        "source: \"praktiziert in …\"}"))]
    funding: Annotated[Funding, Field(description=(
        "{kommpraev: true oder false, reason: Begründung}, z. B. {kommpraev: true, reason: \"Präventionsprojekt\"}"))]
    cost_class: Annotated[Literal[COST_CLASSES], Field(description="gering, mittel oder hoch")]
    duration: Annotated[Text, Field(description="Text, z. B. \"6–12 Monate\"")]
    first_steps: Annotated[list[Text], Field(min_length=1, description="Liste erster Schritte")]
    time_frame: Annotated[Literal[TIME_FRAMES], Field(description="kurzfristig, mittelfristig oder langfristig")]
    success_indicator: Annotated[SuccessIndicator, Field(description=(
        "{text: woran der Erfolg zu messen ist, indicator: Kennzahl, z. B. survey.problem_litter}"))]
    prevention_topics: Annotated[list[Text], Field(description=(
        "Liste von Themen der Präventionsaktivitäten, z. B. [Verkehr]"))] = []
    general: General = General()
    logic: Literal["any", "all"] = "any"
    triggers: Annotated[list[Trigger], Field(description=(
        "Liste von Auslösern, z. B. [{indicator: survey.problem_litter, op: \">=\", threshold: 0.25}]"))] = []

    @model_validator(mode="after")
    def _triggered_or_general(self):
        if not self.triggers and not self.general.always and self.general.min_population is None:
            raise _custom("mindestens ein Auslöser (triggers) oder eine allgemeine Empfehlung "
                          "(general: {always: true} oder {min_population: …})")
        return self


Recommendations.model_rebuild()
CommuneParams.model_rebuild()


class Catalogue(_Model):
    measures: Annotated[list[Measure], Field(min_length=1, description="Liste 'measures' mit mindestens einer Maßnahme")]


# ---------------------------------------------------------------------------
# survey codebook: top level, roles and the keys of each item (kit.survey.codebook checks
# what needs the other items: value sets, cross-references, consistency rules)
# ---------------------------------------------------------------------------

ITEM_TYPES = ("single", "multi", "scale", "numeric", "text")  # kit.survey.codebook.ITEM_TYPES
DIRECTIONS = ("high_is_negative", "high_is_positive")  # kit.survey.codebook.DIRECTIONS
ROLE_NAMES = ("age", "sex", "district", "night_safety")  # kit.survey.codebook.KNOWN_ROLES
ITEM_TEXT = ("Text (Zeichenkette); Texte mit Komma, Doppelpunkt oder Klammern in Anführungszeichen setzen")

ItemRef = Annotated[str, BeforeValidator(_int_to_text), Field(min_length=1, description=(
    "id eines Items im Codebuch (z. B. Q05)"))]
ItemText = Annotated[str, Field(description=ITEM_TEXT)]
Codes = Annotated[list[int] | int, Field(description="Liste ganzer Zahlen (Antwortcodes), z. B. [1]")]


class SexCodes(_Model):
    m: Codes | None = None
    w: Codes | None = None


class Roles(_Model):
    """Which item plays which part in the analysis (weighting, breakdowns, the night-safety indicator)."""

    age: ItemRef | None = None
    sex: ItemRef | None = None
    district: ItemRef | None = None
    night_safety: ItemRef | None = None
    sex_codes: Annotated[SexCodes, Field(description="sex_codes: {m: [Codes], w: [Codes]}")] | None = None


class CodebookItem(_Model):
    """One column of the response file (data_schemas/README.md, "Survey codebook")."""

    id: Annotated[str, BeforeValidator(_int_to_text), Field(min_length=1, description="Item-id (z. B. Q05)")]
    type: Annotated[Literal[ITEM_TYPES], Field(description=f"eines von: {', '.join(ITEM_TYPES)}")]
    question: Annotated[str, BeforeValidator(_int_to_text), Field(description=(
        "id der Frage (z. B. Q10), Text"))] | None = None
    block: ItemText | None = None
    question_text: ItemText | None = None
    text: ItemText | None = None
    label: ItemText | None = None
    values: Annotated[str | dict[Any, Any], Field(description=(
        "Name eines value_sets, '@districts' oder {Code: Label}"))] | None = None
    direction: Literal[DIRECTIONS] | None = None
    min: Annotated[Num, Field(allow_inf_nan=False, description="Zahl")] | None = None
    max: Annotated[Num, Field(allow_inf_nan=False, description="Zahl")] | None = None
    optional: Annotated[bool, Field(description="true oder false")] = False
    # kit.survey.lss: LimeSurvey answer code of each integer code, and what the analyst should review
    limesurvey_codes: Annotated[dict[int, Annotated[str, BeforeValidator(_int_to_text)]], Field(description=(
        "Zuordnung Code: LimeSurvey-Code, z. B. {1: A1, 2: A2}"))] | None = None
    review: Annotated[str, Field(description="Text")] | None = None


class CodebookTop(_Model):
    name: Annotated[str, BeforeValidator(_int_to_text), Field(description="Text")] | None = None
    title: Annotated[str, Field(description="Text")] | None = None
    description: Annotated[str, Field(description="Text")] | None = None
    version: Annotated[str | int | float, Field(description="Text oder Zahl (z. B. \"2025.1\")")] | None = None
    language: Annotated[str, Field(description="Sprachkürzel (z. B. de)")] | None = None
    notes: Annotated[str, Field(description="Text")] | None = None
    source: Annotated[str, Field(description="Text")] | None = None
    references: Any = None
    missing_codes: Annotated[list[int | float | str], Field(description="Liste von Zahlen, z. B. [-9, -99]")] = []
    missing_labels: Annotated[list[str | int | float], Field(description="Liste von Texten, z. B. [k.A., weiß nicht]")] = []
    roles: Annotated[Roles, Field(description=(
        f"Zuordnung Rolle: Item-id mit den Rollen {', '.join(ROLE_NAMES)}, z. B. {{age: Q50, sex: Q51}}"))] = Roles()
    value_sets: Annotated[dict[str | int, Any], Field(description="Zuordnung Name: {Code: Label}")] = {}
    items: Annotated[list[CodebookItem], Field(min_length=1, description=(
        "nicht leere Liste 'items' von Items (id, type, …)"))]
    consistency: Annotated[list[dict[str | int, Any]], Field(description="Liste von Plausibilitätsregeln")] = []


# ---------------------------------------------------------------------------
# validation errors -> German problems
# ---------------------------------------------------------------------------

_NO_VALUE = object()


@dataclass
class ParamProblem:
    """One defect: key path, value given, what is allowed; kind value | unknown | missing | path."""

    loc: tuple
    allowed: str
    value: Any = _NO_VALUE
    kind: str = "value"
    reason: str = ""  # why the value is refused, where "not allowed" is not enough (paths)
    path: str = ""  # key path for messages (default: format_loc(loc))
    via_union: bool = False


def short_value(value: Any, limit: int = VALUE_CHARS, quote: bool = True) -> str:
    """A value for a message: at most ``limit`` characters, control characters removed."""
    if isinstance(value, str):
        text = f"'{value}'" if quote else value
    elif value is None:
        text = "null (leer)"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = repr(value)
    text = "".join(ch if ch.isprintable() else " " for ch in text if ch not in "\x00\x7f")
    return text if len(text) <= limit else text[:limit - 1] + "…"


_TAGS = {"int", "float", "str", "bool", "none", "list", "dict", "[key]"}


def _unwrap(ann: Any) -> tuple[Any, str | None]:
    """Strip Annotated (keeping the innermost description) and Optional."""
    desc = None
    while True:
        if typing.get_origin(ann) is Annotated:
            args = typing.get_args(ann)
            for meta in args[1:]:
                if isinstance(meta, FieldInfo) and meta.description:
                    desc = meta.description
            ann = args[0]
            continue
        if typing.get_origin(ann) in (Union, types.UnionType):
            members = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(members) == 1:
                ann = members[0]
                continue
        return ann, desc


def _is_model(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


@dataclass
class _Walk:
    loc: tuple  # the error location without union tags (keys as in the file, list positions from 0)
    path: str  # for messages: survey.weighting.margins[1], profile.pks_reference.892000.2022
    desc: str | None  # innermost German description of what is allowed
    parent: Any  # the model holding the last key (its fields are the allowed keys)
    end: Any  # the type at the end of the location
    via_union: bool


def _walk(root: type[BaseModel], loc: tuple) -> _Walk:
    """Follow a pydantic error location through the model."""
    ann: Any = root
    desc = None
    parent = None
    clean: list = []
    path = ""
    via_union = False
    i = 0
    while i < len(loc):
        el = loc[i]
        ann, d = _unwrap(ann)
        if d:
            desc = d
        origin = typing.get_origin(ann)
        if _is_model(ann):
            parent = ann
            if isinstance(el, str) and el in ann.model_fields:
                info = ann.model_fields[el]
                desc = info.description
                ann = Annotated[info.annotation, info] if info.description else info.annotation
                clean.append(el)
                path += ("." if path else "") + el
            elif el == ann.__name__:
                pass  # union tag
            else:
                clean.append(el)
                path += ("." if path else "") + str(el)
                ann = None
        elif origin in (list, tuple, set, frozenset):
            if isinstance(el, int):
                clean.append(el)
                path += f"[{el + 1}]"
                ann = typing.get_args(ann)[0]
            # else: a tag such as "list[int]"
        elif origin is dict:
            key_type, value_type = typing.get_args(ann)
            clean.append(el)
            path += ("." if path else "") + short_value(el, 40, quote=False)
            if i + 1 < len(loc) and loc[i + 1] == "[key]":
                ann = key_type
                i += 1
            else:
                ann = value_type
        elif origin in (Union, types.UnionType):
            # pydantic tags each member's errors with the member ("float", "dict[int,float]", a model name)
            pick = None
            for m in (a for a in typing.get_args(ann) if a is not type(None)):
                inner = _unwrap(m)[0]
                mo = typing.get_origin(inner)
                if isinstance(el, str) and ((el.startswith("dict") and mo is dict) or
                                            (el.startswith("list") and mo is list) or
                                            (_is_model(inner) and el == inner.__name__)):
                    pick = m
            ann = pick  # None: a scalar member; the description so far stays
            via_union = True
            i += 1
            continue
        elif ann is None or not (isinstance(el, str) and (el in _TAGS or "[" in el)):
            clean.append(el)
            path += f"[{el + 1}]" if isinstance(el, int) else ("." if path else "") + str(el)
        i += 1
    if ann is not None:
        ann, d = _unwrap(ann)
        desc = d or desc
    return _Walk(tuple(clean), path, desc, parent, ann, via_union)


_GENERIC = {
    "int_type": "ganze Zahl", "int_parsing": "ganze Zahl", "int_from_float": "ganze Zahl",
    "float_type": "Zahl", "float_parsing": "Zahl", "finite_number": "endliche Zahl",
    "string_type": "Text", "bool_type": "true oder false", "bool_parsing": "true oder false",
    "list_type": "Liste, z. B. [a, b]", "dict_type": "Zuordnung (Schlüssel: Wert)",
    "none_required": "leer (null)",
}


def _generic(err: dict, end: Any) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind in ("model_type", "model_attributes_type", "dataclass_type") and _is_model(end):
        return f"Zuordnung (Schlüssel: Wert) mit den Schlüsseln: {', '.join(end.model_fields)}"
    if kind in _GENERIC:
        return _GENERIC[kind]
    bounds = {"greater_than": "> {gt}", "greater_than_equal": "≥ {ge}", "less_than": "< {lt}",
              "less_than_equal": "≤ {le}"}
    if kind in bounds:
        return "Zahl " + bounds[kind].format(**ctx)
    if kind == "too_short":
        return f"mindestens {ctx.get('min_length', 1)} Eintrag/Einträge"
    if kind == "too_long":
        return f"höchstens {ctx.get('max_length')} Einträge"
    if kind == "string_too_short":
        return "nicht leerer Text"
    return "gültiger Wert (siehe README)"


def _literal_choices(end: Any, err: dict) -> str:
    if typing.get_origin(end) is Literal:
        values = typing.get_args(end)
    else:
        values = re.findall(r"'([^']*)'|(\d+)", (err.get("ctx") or {}).get("expected", ""))
        values = [a or b for a, b in values]
    return "eine von: " + ", ".join(str(v) for v in values)


def problems_from_validation(exc: ValidationError, model: type[BaseModel]) -> list[ParamProblem]:
    """Translate pydantic's errors into German problems (one per key path)."""
    out: list[ParamProblem] = []
    seen: set = set()
    for err in exc.errors(include_url=False):
        w = _walk(model, tuple(err["loc"]))
        if w.loc in seen:
            continue  # several members of a union failed on the same value
        seen.add(w.loc)
        kind = err["type"]
        value = err.get("input", _NO_VALUE)
        common = {"path": w.path, "via_union": w.via_union}
        if kind == "extra_forbidden":
            allowed = ", ".join(w.parent.model_fields) if w.parent is not None else ""
            out.append(ParamProblem(w.loc, allowed, kind="unknown", **common))
        elif kind == "missing":
            out.append(ParamProblem(w.loc, w.desc or _generic(err, w.end), kind="missing", **common))
        elif kind == "kit":
            out.append(ParamProblem(w.loc, err["ctx"]["allowed"], value, **common))
        elif kind == "literal_error":
            out.append(ParamProblem(w.loc, _literal_choices(w.end, err), value, **common))
        else:
            out.append(ParamProblem(w.loc, w.desc or _generic(err, w.end), value, **common))
    # a union member that got further into the value explains the problem better
    return [p for p in out if not (p.via_union and any(
        q.via_union and len(q.loc) > len(p.loc) and q.loc[:len(p.loc)] == p.loc for q in out))]


def describe_problem(p: ParamProblem, path: str) -> str:
    if p.kind == "unknown":
        return f"Schlüssel '{path}' ist unbekannt; erlaubt: {p.allowed}."
    if p.kind == "missing":
        return f"Pflichtangabe '{path}' fehlt; erwartet: {p.allowed}."
    limit = PATH_CHARS if p.kind == "path" else VALUE_CHARS
    value = "" if p.value is _NO_VALUE else f" {short_value(p.value, limit)}"
    reason = f" ({p.reason})" if p.reason else ""
    return f"{path}{value} ist nicht zulässig{reason}; erlaubt: {p.allowed}."


def _locate(loc: tuple, docs: list[YamlDocument]) -> tuple[str, int | None]:
    """File and line that gave the value at ``loc``: the document with the longest known
    prefix of the key path (a commune file wins ties over the defaults)."""
    best, best_len = docs[0], -1
    for doc in docs:
        for n in range(len(loc), -1, -1):
            if n == 0 or loc[:n] in doc.lines:
                if n > best_len:
                    best, best_len = doc, n
                break
    return best.source, best.line_of(loc)


def params_error(problems: list[ParamProblem], what: str, docs: list[YamlDocument],
                 where=None) -> ParamsError:
    """One ParamsError for all problems; each line names file, line, key path, value, allowed.

    ``where(loc)`` may return (prefix, path) to name e.g. the measure instead of the list position.
    """
    lines = []
    for p in problems[:MAX_LISTED]:
        source, line = _locate(p.loc, docs)
        prefix, path = where(p) if where else ("", p.path or format_loc(p.loc))
        at = f"{what} {source}" + (f", Zeile {line}" if line else "") + (f", {prefix}" if prefix else "")
        lines.append(f"{at}: {describe_problem(p, path or '(oberste Ebene)')}")
    if len(problems) > MAX_LISTED:
        lines.append(f"... und {len(problems) - MAX_LISTED} weitere Fehler")
    if len(problems) > 1:
        lines.insert(0, f"{what} fehlerhaft ({len(problems)} Fehler):")
    err = ParamsError("\n".join(lines))
    err.problems = problems
    return err


# ---------------------------------------------------------------------------
# loading commune params
# ---------------------------------------------------------------------------

def _merge(base: dict, override: dict) -> dict:
    """Deep-merge override into base (nested mappings merged, everything else replaced).
    Unknown keys pass through: the model reports them with the allowed keys."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(out.get(key), dict) and out[key] and isinstance(value, dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _root_dir(path: str) -> Path:
    """A directory from params: absolute, or relative to the kit's folder (repo root)."""
    p = Path(path)
    return p if p.is_absolute() else REPO_ROOT / p


def _confine(raw: str, base: Path, roots: list[Path], loc: tuple, problems: list[ParamProblem],
             allowed: str) -> str | None:
    """``raw`` joined to ``base`` if it resolves (following symlinks) inside one of ``roots``."""
    full = Path(raw) if Path(raw).is_absolute() else base / raw
    try:
        real = full.resolve()
    except (OSError, RuntimeError, ValueError):
        problems.append(ParamProblem(loc, allowed, raw, kind="path", reason="kein lesbarer Pfad"))
        return None
    if any(real.is_relative_to(root) for root in roots):
        return str(full)
    lexical_inside = any(Path(*_normpath(full)).is_relative_to(root) for root in roots)
    why = ("führt über eine Verknüpfung (Symlink) aus dem erlaubten Ordner hinaus" if lexical_inside
           else "liegt außerhalb der erlaubten Ordner")
    problems.append(ParamProblem(loc, allowed, raw, kind="path", reason=why))
    return None


def _normpath(path: Path) -> tuple[str, ...]:
    """Lexical normalisation (.. removed without following symlinks)."""
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if len(parts) > 1:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return tuple(parts) or ("/",)


def _check_paths(params: dict, data_dir: Path, problems: list[ParamProblem]) -> None:
    """Resolve every file path of the params and refuse those outside the allowed folders."""
    extra = [_root_dir(r).resolve() for r in params.get("allowed_roots") or []]
    params["allowed_roots"] = [str(r) for r in extra]
    data_roots = [data_dir.resolve(), *extra]
    names = ", ".join(str(r) for r in data_roots)
    allowed = (f"Datei im Datenordner data_dir ({data_dir}) oder in einem Ordner aus allowed_roots; "
               "Pfade mit '..' oder Symlinks nach außen sind nicht erlaubt")
    if extra:
        allowed += f" (erlaubt sind: {names})"
    specs: dict = {}
    inputs = params.get("inputs") or {}
    for name in INPUT_NAMES:
        spec = inputs.get(name)
        if spec is None:
            specs[name] = None
            continue
        spec = dict(spec)
        if spec.get("files"):
            files = []
            for i, f in enumerate(spec["files"]):
                f = dict(f)
                f["path"] = _confine(f["path"], data_dir, data_roots, ("inputs", name, "files", i, "path"),
                                     problems, allowed)
                files.append(f)
            spec["files"] = files
            spec["path"] = files[0]["path"]
        else:
            spec["path"] = _confine(spec["path"], data_dir, data_roots, ("inputs", name, "path"), problems, allowed)
        if spec.get("derived_from"):
            spec["derived_from"] = [_confine(f, data_dir, data_roots, ("inputs", name, "derived_from", i), problems,
                                             allowed) for i, f in enumerate(spec["derived_from"])]
        specs[name] = spec
    params["inputs"] = specs
    for key in ("responses", "sample", "gazetteer", "district_crime"):
        if params["survey"].get(key):
            params["survey"][key] = _confine(params["survey"][key], data_dir, data_roots, ("survey", key),
                                             problems, allowed)
    wave = params["survey"].get("previous_wave") or {}
    for key in ("responses", "codebook", "population_margins", "results", "key_indicators"):
        if wave.get(key):
            wave[key] = _confine(wave[key], data_dir, data_roots, ("survey", "previous_wave", key), problems, allowed)
    kit_roots = [REPO_ROOT, *data_roots]
    kit_allowed = (f"Datei im Kit-Ordner ({REPO_ROOT}), in data_dir oder in einem Ordner aus allowed_roots; "
                   "Pfade mit '..' oder Symlinks nach außen sind nicht erlaubt")
    for section, key in (("survey", "codebook"), ("recommendations", "catalogue")):
        params[section][key] = _confine(params[section][key], REPO_ROOT, kit_roots, (section, key),
                                        problems, kit_allowed)


def load_params(params_file: str | Path, defaults_file: str | Path = DEFAULTS_FILE) -> dict:
    """Load a commune's params merged over the defaults, validated and with resolved paths.

    Returns a plain dict (the model dumped; keys a file leaves out stay out, every
    input name is present, unused ones None) plus ``params_file`` and ``data_dir``
    (absolute, as text). Raises ParamsError (German) for every problem found.
    """
    params_file = Path(params_file).resolve()
    defaults = read_yaml(defaults_file, "Parameterdatei")
    own = read_yaml(params_file, "Parameterdatei")
    docs = [own, defaults]
    merged = _merge(defaults.data, own.data)
    try:
        model = CommuneParams.model_validate(merged)
    except ValidationError as exc:
        raise params_error(problems_from_validation(exc, CommuneParams), "Parameterdatei", docs) from None
    params = model.model_dump(exclude_unset=True)
    problems: list[ParamProblem] = []
    seen: dict[str, int] = {}
    for i, spec in enumerate(params["survey"].get("key_indicators") or []):
        if spec["id"] in seen:
            problems.append(ParamProblem(("survey", "key_indicators", i, "id"),
                                         f"eindeutige Kennung (schon bei key_indicators[{seen[spec['id']] + 1}])",
                                         spec["id"]))
        seen.setdefault(spec["id"], i)
    data_dir = _root_dir(params["data_dir"])
    _check_paths(params, data_dir, problems)
    if problems:
        raise params_error(problems, "Parameterdatei", docs)
    _require_roots(params, params_file, data_dir)
    params["data_dir"] = str(data_dir)
    params["params_file"] = str(params_file)
    return params


@functools.lru_cache(maxsize=1)
def _defaults() -> Any:
    return read_yaml(DEFAULTS_FILE, "Parameterdatei").data


def setting(params: Any, *path: str) -> Any:
    """``params[path[0]][path[1]]…`` of a commune's loaded params; where the params leave the key
    out (code called with partial params, e.g. a test), the value of params/defaults.yaml, so a
    default lives in that file only."""
    for source in (params, _defaults()):
        value = source
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None:
            return copy.deepcopy(value)
    raise KeyError(".".join(path))


def _require_roots(params: dict, params_file: Path, data_dir: Path) -> None:
    """The folder that input files are read from (``data_dir`` of a non-demo commune, a folder of
    ``allowed_roots``, e.g. the real data in ../shared/realdata beside the kit) must exist: one
    clear German line instead of one missing file per input."""
    from kit.errors import MissingFolderError

    specs = [s for s in (params.get("inputs") or {}).values() if s]
    used = [Path(str(s["path"])).resolve() for s in specs if s.get("path")]
    used += [Path(str(f["path"])).resolve() for s in specs for f in (s.get("files") or [])]
    roots = [Path(r) for r in params.get("allowed_roots") or []]
    if not params.get("demo"):  # a demo commune's data folder is generated on first use
        roots.append(data_dir.resolve())
    for root in roots:
        if not root.is_dir() and any(u.is_relative_to(root) for u in used):
            key = "data_dir" if root == data_dir.resolve() else "allowed_roots"
            raise MissingFolderError(
                f"Der Datenordner {root} fehlt ({key} in {params_file.name}): {params.get('name', '')} kann ohne "
                "ihn nicht ausgewertet werden; diese Daten gehören nicht zum Kit und müssen dort bereitliegen.")


def commune_params_files(params_dir: Path = PARAMS_DIR) -> list[Path]:
    """All commune params files (YAML files with a top-level commune_id)."""
    files = []
    for path in sorted(params_dir.glob("*.yaml")):
        if path.name == DEFAULTS_FILE.name:
            continue
        try:
            head = read_yaml(path, "Parameterdatei", require_mapping=False).data
        except YamlFileError:
            files.append(path)  # let load_params report the error for this commune
            continue
        if isinstance(head, dict) and "commune_id" in head:
            files.append(path)
    return files


# ---------------------------------------------------------------------------
# measures catalogue and codebook
# ---------------------------------------------------------------------------

def read_catalogue(path: str | Path) -> list[dict]:
    """The measures catalogue, validated; a list of measure dicts as written in the file."""
    doc = read_yaml(path, "Maßnahmenkatalog")
    raw = doc.data.get("measures") if isinstance(doc.data, dict) else None

    def where(p: ParamProblem) -> tuple[str, str]:
        loc = p.loc
        if len(loc) >= 2 and loc[0] == "measures" and isinstance(loc[1], int):
            m = raw[loc[1]] if isinstance(raw, list) and loc[1] < len(raw) else None
            mid = m.get("id") if isinstance(m, dict) else None
            return (f"Maßnahme Nr. {loc[1] + 1} ({short_value(mid, 40, quote=False) if mid else 'ohne id'})",
                    (p.path.split("]", 1)[1].lstrip(".") if p.path else format_loc(loc[2:])) or "Eintrag")
        return "", p.path or format_loc(loc)

    try:
        model = Catalogue.model_validate(doc.data)
    except ValidationError as exc:
        raise params_error(problems_from_validation(exc, Catalogue), "Maßnahmenkatalog", [doc], where) from None
    problems: list[ParamProblem] = []
    first: dict[str, int] = {}
    for i, m in enumerate(model.measures):
        if m.id in first:
            problems.append(ParamProblem(("measures", i, "id"),
                                         f"eindeutige id (kommt doppelt vor, schon bei Maßnahme Nr. {first[m.id] + 1})",
                                         m.id))
        first.setdefault(m.id, i)
    if problems:
        raise params_error(problems, "Maßnahmenkatalog", [doc], where)
    return [m.model_dump(exclude_unset=True) for m in model.measures]


def _value_at(data: Any, loc: tuple) -> Any:
    for key in loc:
        if isinstance(data, dict) and key in data:
            data = data[key]
        elif isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        else:
            return None
    return data


def codebook_problems(data: Any, source: str, line_of=None) -> list[Problem]:
    """Problems with the keys and values of a codebook: the top level, ``roles`` and every
    item, checked by :class:`CodebookTop`. InputError problems (file, line, key, value,
    expected), an item's problems named by its id (``Q05.tpye``) at the line of the item.
    ``line_of(loc)`` gives the line of a key path (YamlDocument.line_of), if known."""
    try:
        CodebookTop.model_validate(data)
    except ValidationError as exc:
        found = problems_from_validation(exc, CodebookTop)
    else:
        return []
    out = []
    for p in found:
        loc, column = p.loc, p.path or format_loc(p.loc)
        value = None if p.value is _NO_VALUE else short_value(p.value, quote=False)
        expected = p.allowed
        row_loc = loc
        if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
            row_loc = loc[:2]  # the line of "- id: ..."
            item_id = _value_at(data, loc[:2] + ("id",))
            if isinstance(item_id, (str, int)) and not isinstance(item_id, bool) and str(item_id).strip():
                column = ".".join([str(item_id).strip(), *(str(k) for k in loc[2:])])
        if p.kind == "unknown":
            given = _value_at(data, loc)
            value = None if given is None or isinstance(given, (dict, list)) else short_value(given, quote=False)
            expected = f"bekannter Schlüssel ({p.allowed})"
            if loc[:1] == ("roles",) and len(loc) == 2:
                expected = f"bekannte Rolle ({', '.join(ROLE_NAMES)}) oder sex_codes"
            elif row_loc != loc and given is None:  # {label: dunkle, unübersichtliche Orte} split by the comma
                value = str(loc[-1])
                expected = ("Schlüssel mit Wert – ein Komma ohne Anführungszeichen in einer {…}-Zeile teilt den "
                            "Text (z. B. label: \"dunkle, unübersichtliche Orte\")")
        out.append(Problem(file=source, row=line_of(row_loc) if line_of else None, column=column,
                           value=value, expected=expected))
    return out
