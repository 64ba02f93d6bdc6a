"""Deterministic demo data for three fictitious Saxon communes.

``generate_demo`` writes, per commune, every input the kit reads (districts,
residents, places, accommodation, clubs, OWi, education, BOS, prevention, PKS,
PMK, survey sample and responses) in the formats communes actually hand over,
plus ``_truth.json``: the simulated *population* values of key survey
indicators (not an input; used to show that weighting removes bias).

The communes differ on purpose:

- ``muldenau``: Kleinstadt (~8,000), tables as ``;``-separated cp1252 CSV with
  decimal commas, LimeSurvey-style response export with two documented
  defects, and no PMK file (optional input missing).
- ``elsterhain``: Mittelstadt (~40,000), UTF-8-with-BOM ``,``-CSV, clubs and
  education as XLSX.
- ``elbstadt``: Großstadt (~250,000), UTF-8 ``,``-CSV, responses as SPSS
  ``.sav`` with value labels and user-missing codes.

The same seed gives byte-identical files: GeoJSON is written with ``json``
from rounded coordinates, XLSX archives get fixed timestamps and document
properties, and the creation date ReadStat stamps into the ``.sav`` header is
overwritten with a fixed date.

The survey model (per person of the simulated 16+ register): district
incivility level -> perceived incivilities -> insecurity at night; women and
older people feel less safe; recorded crime plays no part. Response
propensity rises with age up to the late 70s and is slightly higher for
women, so unweighted estimates overstate insecurity.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from kit.demo_quality import plant_quality_cases
from kit.errors import KitError, ParamsError

DEFAULT_SEED = 20261125
DEMO_COMMUNES = ["muldenau", "elsterhain", "elbstadt"]
YEARS = tuple(range(2019, 2025))
REGISTER_YEAR = 2024  # register extract 31.12.2024 = survey frame
SURVEY_YEAR = 2025
CODEBOOK_PATH = Path(__file__).resolve().parents[1] / "data_schemas" / "survey_codebook.yaml"

REGISTER_AGE_GROUPS = ("0-5", "6-15", "16-17", "18-24", "25-34", "35-44", "45-54", "55-64",
                       "65-74", "75-84", "85+")
AGE_BOUNDS = {"0-5": (0, 5), "6-15": (6, 15), "16-17": (16, 17), "18-24": (18, 24),
              "25-34": (25, 34), "35-44": (35, 44), "45-54": (45, 54), "55-64": (55, 64),
              "65-74": (65, 74), "75-84": (75, 84), "85+": (85, 101)}
SURVEY_AGE_GROUPS = ("16-34", "35-54", "55-74", "75+")
MISSING_LABELS = {-9: "keine Angabe", -99: "weiß nicht"}

# Share of women by register age group (Saxony: young women move away, women live longer).
FEMALE_SHARE = np.array([0.487, 0.487, 0.48, 0.46, 0.46, 0.475, 0.49, 0.50, 0.525, 0.565, 0.68])
# Relative share of non-Germans by age group (young adults over-represented).
FOREIGN_AGE_PROFILE = np.array([1.2, 1.0, 1.0, 1.8, 2.0, 1.6, 0.9, 0.5, 0.25, 0.15, 0.1])
# Yearly change of an age group's share, used to project 2024 back to 2019 (ageing).
AGEING = np.array([0.004, -0.008, -0.01, 0.0, 0.006, -0.006, 0.008, -0.004, -0.008, 0.012, 0.03])


# ---------------------------------------------------------------------------
# commune specifications
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class District:
    id: str
    name: str
    weight: float  # share of the commune's residents (normalised)
    age_tilt: float  # > 0: older population, < 0: younger
    incivility: float  # latent level of physical/social disorder (about -1 .. 1.6)
    foreign: float  # multiplier of the non-German share
    ring: int  # 0 centre, 1 inner ring, 2 outer ring (for the Voronoi seeds)
    angle: float  # degrees


@dataclass(frozen=True)
class CsvStyle:
    sep: str
    encoding: str
    decimal: str
    newline: str


@dataclass(frozen=True)
class CommuneSpec:
    commune_id: str
    name: str
    kind: str
    offset: int  # added to the seed
    lonlat: tuple[float, float]
    radius_m: float
    population: int  # residents 31.12.2024
    growth: float  # yearly change of the population
    foreign_share: float
    age_shares: tuple[float, ...]  # by REGISTER_AGE_GROUPS, in %
    districts: tuple[District, ...]
    style: CsvStyle
    xlsx: tuple[str, ...]  # inputs written as XLSX instead of CSV
    responses_format: str  # "limesurvey" | "csv" | "sav"
    issued: int
    response_factor: float
    night_shares: tuple[float, float, float, float]  # sehr sicher .. sehr unsicher
    like_shares: tuple[float, float, float, float]
    trust_mean: float
    river: str
    pks_factor: float
    pks_leaf_factors: dict
    owi_parking: float  # parking tickets per 1,000 residents
    has_pmk: bool
    alcohol_ban_from: int | None
    n_places: int
    n_clubs: int
    facilities: dict  # accommodation type -> number of facilities
    bos: tuple  # (type, count, staff_lo, staff_hi)
    prevention_topics: dict  # topic -> number of activities (absent topics = gaps)
    education: dict  # area -> EUR per resident (2024); posts per 10,000 residents for social work
    info_amtsblatt: float


SMALL_TOWN_AGES = (4.5, 8.5, 1.6, 4.5, 8.5, 11.0, 12.5, 19.0, 14.5, 11.0, 4.4)
MID_TOWN_AGES = (5.0, 9.0, 1.6, 5.5, 10.5, 12.5, 11.5, 16.4, 12.5, 11.5, 4.0)
CITY_AGES = (5.8, 9.5, 1.7, 8.0, 15.5, 14.0, 11.0, 12.5, 10.0, 9.0, 3.0)

D = District
SPECS: dict[str, CommuneSpec] = {
    "muldenau": CommuneSpec(
        commune_id="muldenau", name="Muldenau", kind="Kleinstadt", offset=101,
        lonlat=(12.93, 51.07), radius_m=3600, population=8050, growth=-0.008, foreign_share=0.03,
        age_shares=SMALL_TOWN_AGES,
        districts=(
            D("1", "Kernstadt", 0.56, 0.10, 0.9, 1.6, 0, 0),
            D("2", "Oberau", 0.12, 0.30, -0.5, 0.5, 1, 20),
            D("3", "Naundorf", 0.11, 0.20, -0.3, 0.5, 1, 110),
            D("4", "Mühlgrund", 0.11, -0.35, -0.6, 0.6, 1, 200),
            D("5", "Schönfeld", 0.10, 0.40, -0.2, 0.4, 1, 290),
        ),
        style=CsvStyle(";", "cp1252", ",", "\r\n"), xlsx=(), responses_format="limesurvey",
        issued=1000, response_factor=1.05,
        night_shares=(0.38, 0.43, 0.14, 0.05), like_shares=(0.55, 0.39, 0.045, 0.015),
        trust_mean=6.0, river="Mulde",
        pks_factor=0.62,
        pks_leaf_factors={"shop": 0.75, "fare": 0.12, "drugs": 0.55, "graffiti": 0.5, "robbery": 0.45,
                          "agg_other": 0.6, "other": 0.62},
        owi_parking=30.0, has_pmk=False, alcohol_ban_from=None,
        n_places=7, n_clubs=42,
        facilities={"Obdachlosenunterkunft": 1, "Betreutes Wohnen": 1, "Gemeinschaftsunterkunft Geflüchtete": 1},
        bos=(("Polizeiposten", 1, 4, 6), ("Bürgerpolizist", 1, 1, 1),
             ("Gemeindlicher Vollzugsdienst", 1, 1, 2), ("Freiwillige Feuerwehr", 5, 18, 45),
             ("Rettungswache", 1, 12, 16)),
        prevention_topics={"Verkehr": 1, "Senioren": 2, "Einbruchschutz": 1, "Jugend": 2, "Gewalt": 1,
                           "Cybercrime": 1},
        education={"Kindertagesstätten": 510, "Grundschulen": 78, "Oberschulen": 60,
                   "Schulsozialarbeit": 2.4, "Offene Jugendarbeit": 12, "Sonstiges": 9},
        info_amtsblatt=0.5,
    ),
    "elsterhain": CommuneSpec(
        commune_id="elsterhain", name="Elsterhain", kind="Mittelstadt", offset=202,
        lonlat=(12.30, 51.17), radius_m=5200, population=40300, growth=-0.002, foreign_share=0.055,
        age_shares=MID_TOWN_AGES,
        districts=(
            D("1", "Altstadt", 0.09, 0.00, 0.7, 1.5, 0, 0),
            D("2", "Bahnhofsvorstadt", 0.11, -0.20, 1.3, 2.2, 1, 0),
            D("3", "Nordvorstadt", 0.12, 0.10, 0.2, 1.0, 1, 72),
            D("4", "Südvorstadt", 0.12, -0.10, 0.0, 1.0, 1, 144),
            D("5", "Wohngebiet Am Auwald", 0.16, 0.60, 1.0, 1.8, 1, 216),
            D("6", "Gartenstadt", 0.10, 0.20, -0.6, 0.5, 1, 288),
            D("7", "Elsterwiese", 0.09, -0.50, -0.4, 0.7, 2, 30),
            D("8", "Rödlitz", 0.07, 0.30, -0.7, 0.3, 2, 120),
            D("9", "Lauterbach", 0.07, 0.20, -0.6, 0.3, 2, 210),
            D("10", "Weißenborn", 0.07, 0.30, -0.5, 0.3, 2, 300),
        ),
        style=CsvStyle(",", "utf-8-sig", ".", "\r\n"), xlsx=("clubs", "education"),
        responses_format="csv", issued=2500, response_factor=1.0,
        night_shares=(0.35, 0.43, 0.16, 0.06), like_shares=(0.50, 0.42, 0.06, 0.02),
        trust_mean=6.1, river="Weiße Elster",
        pks_factor=0.78,
        pks_leaf_factors={"fare": 0.45, "drugs": 0.75, "graffiti": 0.8},
        owi_parking=45.0, has_pmk=True, alcohol_ban_from=None,
        n_places=14, n_clubs=140,
        facilities={"Gemeinschaftsunterkunft Geflüchtete": 2, "Obdachlosenunterkunft": 1,
                    "Frauenschutzhaus": 1, "Jugendwohngruppe": 2, "Betreutes Wohnen": 3},
        bos=(("Polizeirevier", 1, 62, 72), ("Bürgerpolizist", 2, 1, 1),
             ("Gemeindlicher Vollzugsdienst", 1, 6, 8), ("Freiwillige Feuerwehr", 6, 25, 60),
             ("Rettungswache", 2, 16, 22)),
        prevention_topics={"Gewalt": 2, "Jugend": 3, "Senioren": 2, "Einbruchschutz": 1,
                           "Sauberkeit/Ordnung": 1, "Extremismus": 2, "Häusliche Gewalt": 1,
                           "Cybercrime": 1, "Nachbarschaft": 1},
        education={"Kindertagesstätten": 530, "Grundschulen": 74, "Oberschulen": 56, "Gymnasien": 44,
                   "Schulsozialarbeit": 1.9, "Offene Jugendarbeit": 14, "Sonstiges": 10},
        info_amtsblatt=0.35,
    ),
    "elbstadt": CommuneSpec(
        commune_id="elbstadt", name="Elbstadt", kind="Großstadt", offset=303,
        lonlat=(13.33, 51.27), radius_m=9500, population=251000, growth=0.006, foreign_share=0.09,
        age_shares=CITY_AGES,
        districts=(
            D("11", "Altstadt", 0.045, -0.30, 1.2, 2.0, 0, 0),
            D("12", "Äußere Neustadt", 0.055, -0.70, 1.0, 1.8, 1, 60),
            D("13", "Bahnhofsviertel", 0.050, -0.40, 1.6, 2.6, 1, 180),
            D("21", "Südvorstadt", 0.065, -0.80, 0.4, 1.6, 1, 300),
            D("22", "Hochschulviertel", 0.050, -0.90, 0.1, 1.8, 2, 270),
            D("23", "Kaitzgrund", 0.055, 0.20, -0.5, 0.6, 2, 300),
            D("31", "Friedrichstadt", 0.060, -0.20, 0.9, 1.9, 1, 120),
            D("32", "Hafenviertel", 0.045, -0.30, 0.6, 1.4, 2, 150),
            D("33", "Elbwiesen", 0.050, 0.10, -0.3, 0.7, 2, 180),
            D("41", "Nordvorstadt", 0.065, -0.10, 0.3, 1.1, 1, 240),
            D("42", "Weinberge", 0.050, 0.40, -0.8, 0.4, 2, 30),
            D("43", "Gartenstadt Nord", 0.055, 0.30, -0.6, 0.5, 2, 60),
            D("51", "Weststadt", 0.070, 0.00, 0.2, 1.0, 2, 210),
            D("52", "Sonnenhang", 0.085, 0.60, 1.1, 1.7, 2, 240),
            D("53", "Löbnitz", 0.045, 0.30, -0.4, 0.6, 2, 120),
            D("61", "Oststadt", 0.070, 0.00, 0.3, 1.0, 2, 330),
            D("62", "Blumenau", 0.050, 0.30, -0.5, 0.5, 2, 0),
            D("63", "Schönbach", 0.035, 0.40, -0.9, 0.3, 2, 90),
        ),
        style=CsvStyle(",", "utf-8", ".", "\n"), xlsx=(), responses_format="sav",
        issued=5000, response_factor=0.9,
        night_shares=(0.31, 0.44, 0.18, 0.07), like_shares=(0.52, 0.41, 0.05, 0.02),
        trust_mean=6.3, river="Elbe",
        pks_factor=1.05,
        pks_leaf_factors={"fare": 1.5, "graffiti": 1.3, "drugs": 1.15, "robbery": 1.3, "shop": 1.1},
        owi_parking=70.0, has_pmk=True, alcohol_ban_from=2021,
        n_places=28, n_clubs=420,
        facilities={"Gemeinschaftsunterkunft Geflüchtete": 6, "Obdachlosenunterkunft": 3,
                    "Frauenschutzhaus": 2, "Jugendwohngruppe": 6, "Betreutes Wohnen": 8, "Sonstige": 2},
        bos=(("Polizeirevier", 4, 115, 190), ("Polizeiposten", 2, 8, 12), ("Bürgerpolizist", 3, 1, 1),
             ("Gemeindlicher Vollzugsdienst", 2, 20, 30), ("Berufsfeuerwehr", 3, 80, 110),
             ("Freiwillige Feuerwehr", 7, 30, 60), ("Rettungswache", 8, 20, 40)),
        prevention_topics={"Gewalt": 4, "Sucht/Alkohol": 4, "Verkehr": 3, "Einbruchschutz": 2, "Jugend": 5,
                           "Nachbarschaft": 3, "Extremismus": 3, "Häusliche Gewalt": 2, "Cybercrime": 2,
                           "Sonstiges": 1},
        education={"Kindertagesstätten": 560, "Grundschulen": 72, "Oberschulen": 52, "Gymnasien": 46,
                   "Förderschulen": 21, "Schulsozialarbeit": 1.9, "Offene Jugendarbeit": 16, "Sonstiges": 12},
        info_amtsblatt=0.2,
    ),
}
del D

STREETS = ("Bahnhofstraße", "Hauptstraße", "Lindenstraße", "Schillerstraße", "Goethestraße",
           "Karl-Liebknecht-Straße", "Bergstraße", "Mühlgasse", "Schulstraße", "Gartenstraße",
           "Poststraße", "Dresdner Straße", "Leipziger Straße", "Chemnitzer Straße", "Friedensstraße",
           "Ringstraße", "Am Anger", "Wiesenweg", "Rosa-Luxemburg-Straße", "Feldstraße")


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _cut_by_shares(latent: np.ndarray, shares: Sequence[float]) -> np.ndarray:
    """Codes 1..k so that the lowest latent values get code 1 in the given shares."""
    cum = np.cumsum(np.asarray(shares, dtype=float) / np.sum(shares))[:-1]
    cuts = np.quantile(latent, cum)
    return 1 + np.searchsorted(cuts, latent, side="right")


def _cut_fixed(latent: np.ndarray, cuts: Sequence[float]) -> np.ndarray:
    return 1 + np.searchsorted(np.asarray(cuts, dtype=float), latent, side="right")


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    exact = total * weights / weights.sum()
    base = np.floor(exact).astype(int)
    rest = total - base.sum()
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:rest]] += 1
    return base


def _transformers():
    from pyproj import Transformer

    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:25833", always_xy=True)
    to_wgs = Transformer.from_crs("EPSG:25833", "EPSG:4326", always_xy=True)
    return to_utm, to_wgs


def _survey_age_group(age: np.ndarray) -> np.ndarray:
    return np.select([age < 35, age < 55, age < 75], list(SURVEY_AGE_GROUPS[:3]), SURVEY_AGE_GROUPS[3])


# ---------------------------------------------------------------------------
# writers (deterministic)
# ---------------------------------------------------------------------------


def _format_frame(df: pd.DataFrame, decimal: str, floats: dict[str, int]) -> pd.DataFrame:
    out = {}
    for col in df.columns:
        values = df[col].tolist()
        if col in floats:
            digits = floats[col]
            out[col] = ["" if v is None or (isinstance(v, float) and math.isnan(v))
                        else f"{v:.{digits}f}".replace(".", decimal) for v in values]
        else:
            cells = []
            for v in values:
                if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
                    cells.append("")
                elif isinstance(v, (float, np.floating)) and float(v).is_integer():
                    cells.append(str(int(v)))
                else:
                    cells.append(str(v))
            out[col] = cells
    return pd.DataFrame(out, columns=list(df.columns), dtype=object)


def write_csv(df: pd.DataFrame, path: Path, style: CsvStyle, floats: dict[str, int] | None = None) -> None:
    """Write a table as text in the commune's CSV convention (no index)."""
    text = _format_frame(df, style.decimal, floats or {}).to_csv(
        index=False, sep=style.sep, lineterminator=style.newline)
    path.write_bytes(text.encode(style.encoding))


_FIXED_ZIP_TIME = (2025, 1, 15, 12, 0, 0)
_FIXED_ISO = "2025-01-15T12:00:00Z"


def write_xlsx(df: pd.DataFrame, path: Path, sheet: str = "Daten") -> None:
    """Write one sheet with fixed document properties and ZIP timestamps.

    openpyxl sets ``modified`` to the current time on save and the ZIP entries
    carry the current time as well, so the archive is rebuilt with fixed
    values to make the file byte-identical across runs.
    """
    import datetime as dt

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append([str(c) for c in df.columns])
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                cells.append(None)
            elif isinstance(v, np.generic):
                cells.append(v.item())
            else:
                cells.append(v)
        ws.append(cells)
    fixed = dt.datetime(2025, 1, 15, 12, 0, 0)
    wb.properties.creator = "kit.demo"
    wb.properties.lastModifiedBy = "kit.demo"
    wb.properties.created = fixed
    wb.properties.modified = fixed
    buf = io.BytesIO()
    wb.save(buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                              rb"\g<1>" + _FIXED_ISO.encode() + rb"\g<2>", data)
                data = re.sub(rb"(<dcterms:created[^>]*>)[^<]*(</dcterms:created>)",
                              rb"\g<1>" + _FIXED_ISO.encode() + rb"\g<2>", data)
            zi = zipfile.ZipInfo(info.filename, date_time=_FIXED_ZIP_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            dst.writestr(zi, data)
    path.write_bytes(out.getvalue())


def write_geojson(features: list[tuple[str, str, object]], path: Path, crs: str = "EPSG:25833") -> None:
    """Write (district_id, district_name, polygon) as GeoJSON with a named CRS.

    Coordinates are rounded to 0.1 m after snapping to a 0.1 m grid (which
    keeps the polygons valid); a ``crs`` member (GeoJSON 2008 style) names the
    projected CRS so GDAL/geopandas read it.
    """
    import shapely
    from shapely.geometry import mapping
    from shapely.geometry.polygon import orient

    def rnd(coords):
        if isinstance(coords[0], (int, float)):
            return [round(float(c), 1) for c in coords]
        return [rnd(c) for c in coords]

    out = []
    for district_id, name, geom in features:
        geom = shapely.set_precision(geom, 0.1)
        if geom.geom_type == "Polygon":
            geom = orient(geom, sign=1.0)
        else:
            geom = shapely.MultiPolygon([orient(g, sign=1.0) for g in geom.geoms])
        gj = mapping(geom)
        out.append({"type": "Feature",
                    "properties": {"district_id": district_id, "district_name": name},
                    "geometry": {"type": gj["type"], "coordinates": rnd(gj["coordinates"])}})
    code = crs.split(":")[1]
    doc = {"type": "FeatureCollection", "name": "districts",
           "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{code}"}},
           "features": out}
    path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


# SAV header (SPSS system file): creation date (9 bytes) at offset 92 and time
# (8 bytes) at 101, after rec_type(4) prod_name(60) layout(4) nominal_case_size(4)
# compression(4) weight_index(4) ncases(4) bias(8).
_SAV_DATE = slice(92, 101)
_SAV_TIME = slice(101, 109)


def write_sav(df: pd.DataFrame, path: Path, codebook: dict, districts: dict[str, str], file_label: str) -> None:
    """Write responses as SPSS .sav with value labels, variable labels and
    -9/-99 as user-missing; the header timestamp is fixed for reproducibility."""
    import pyreadstat

    items = {it["id"]: it for it in codebook["items"]}
    sets = codebook["value_sets"]
    data = pd.DataFrame(index=df.index)
    value_labels: dict[str, dict] = {}
    missing: dict[str, list] = {}
    formats: dict[str, str] = {}
    col_labels: list[str] = []
    for col in df.columns:
        item = items.get(col)
        if item is None:  # id
            data[col] = df[col].astype("float64")
            col_labels.append("Fragebogennummer")
            formats[col] = "F6.0"
            continue
        col_labels.append(str(item.get("label") or item.get("text"))[:120])
        if item["type"] == "text":
            data[col] = pd.Series(["" if (v is None or (isinstance(v, float) and math.isnan(v))) else str(v)
                                   for v in df[col]], index=df.index, dtype=object)
            continue
        data[col] = pd.to_numeric(df[col]).astype("float64")
        labels: dict = {}
        if item["type"] in ("single", "scale"):
            if item["values"] == "@districts":
                labels = {int(k): v for k, v in districts.items()}
            else:
                labels = {int(k): str(v) for k, v in sets[item["values"]].items()}
        elif item["type"] == "multi":
            labels = {0: "nicht genannt", 1: "genannt"}
        labels.update(MISSING_LABELS)
        value_labels[col] = labels
        missing[col] = [-99, -9]
        formats[col] = "F4.0"
    tmp = path.with_suffix(".sav.tmp")
    pyreadstat.write_sav(data, str(tmp), file_label=file_label, column_labels=col_labels,
                         variable_value_labels=value_labels, missing_ranges=missing,
                         variable_format=formats)
    raw = bytearray(tmp.read_bytes())
    tmp.unlink()
    if not (raw[:4] == b"$FL2" and re.fullmatch(rb"\d\d [A-Z][a-z]{2} \d\d", bytes(raw[_SAV_DATE]))
            and re.fullmatch(rb"\d\d:\d\d:\d\d", bytes(raw[_SAV_TIME]))):
        raise RuntimeError("Unerwarteter SAV-Dateikopf: Erstellungsdatum nicht gefunden")
    raw[_SAV_DATE] = b"15 Jan 25"
    raw[_SAV_TIME] = b"12:00:00"
    path.write_bytes(bytes(raw))


# ---------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------


def _district_polygons(spec: CommuneSpec, rng: np.random.Generator):
    import shapely
    from shapely.geometry import MultiPoint, Point, Polygon

    to_utm, _ = _transformers()
    cx, cy = to_utm.transform(*spec.lonlat)
    cx, cy = round(cx, -1), round(cy, -1)
    R = spec.radius_m
    phases = rng.uniform(0, 2 * np.pi, 3)
    theta = np.linspace(0, 2 * np.pi, 120, endpoint=False)
    r = R * (1 + 0.10 * np.sin(2 * theta + phases[0]) + 0.06 * np.sin(3 * theta + phases[1])
             + 0.03 * np.sin(5 * theta + phases[2]))
    outline = Polygon(np.column_stack([cx + r * np.cos(theta), cy + r * np.sin(theta)]))
    seeds = []
    for d in spec.districts:
        rad = {0: 0.0, 1: 0.42, 2: 0.78}[d.ring] * R
        ang = math.radians(d.angle + rng.uniform(-8, 8))
        jitter = rng.normal(0, 0.03 * R, 2)
        seeds.append((cx + rad * math.cos(ang) + jitter[0], cy + rad * math.sin(ang) + jitter[1]))
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=outline.buffer(R))
    polys = {}
    for d, seed in zip(spec.districts, seeds):
        pt = Point(seed)
        cell = next(g for g in cells.geoms if g.contains(pt))
        geom = cell.intersection(outline)
        if geom.geom_type != "Polygon":  # keep the part around the seed
            geom = max(getattr(geom, "geoms", [geom]), key=lambda g: g.area)
        polys[d.id] = geom
    return (cx, cy), outline, polys


def _points_in(poly, n: int, rng: np.random.Generator) -> np.ndarray:
    import shapely

    minx, miny, maxx, maxy = poly.bounds
    inner = poly.buffer(-30)
    inner = inner if inner.area > 0 else poly
    found: list[np.ndarray] = []
    count = 0
    while count < n:
        xy = np.column_stack([rng.uniform(minx, maxx, 4 * n + 8), rng.uniform(miny, maxy, 4 * n + 8)])
        ok = xy[shapely.contains_xy(inner, xy[:, 0], xy[:, 1])]
        found.append(ok)
        count += len(ok)
    return np.vstack(found)[:n]


def _lonlat(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, to_wgs = _transformers()
    lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
    return np.round(np.asarray(lon), 6), np.round(np.asarray(lat), 6)


# ---------------------------------------------------------------------------
# residents and the simulated register
# ---------------------------------------------------------------------------


def _residents(spec: CommuneSpec, rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """Residents table (all years) and the 2024 counts [district, age, sex(m,w,d), nat]."""
    n_d, n_a = len(spec.districts), len(REGISTER_AGE_GROUPS)
    mids = np.array([(lo + min(hi, 95)) / 2 for lo, hi in AGE_BOUNDS.values()])
    x = (mids - 45) / 25
    base = np.array(spec.age_shares, dtype=float)
    base /= base.sum()
    w = np.array([d.weight for d in spec.districts])
    w /= w.sum()
    ages = np.array([base * np.exp(0.35 * d.age_tilt * x) for d in spec.districts])
    ages /= ages.sum(axis=1, keepdims=True)
    fmult = np.array([d.foreign for d in spec.districts])
    raw_f = fmult[:, None] * FOREIGN_AGE_PROFILE[None, :]
    norm = (w[:, None] * ages * raw_f).sum()
    fshare = np.clip(spec.foreign_share * raw_f / norm, 0, 0.6)
    expected = np.zeros((n_d, n_a, 3, 2))
    for s, fem in ((0, 1 - FEMALE_SHARE), (1, FEMALE_SHARE)):
        fem_foreign = FEMALE_SHARE * np.where(np.isin(np.arange(n_a), [3, 4, 5]), 0.85, 1.0)
        sex_foreign = fem_foreign if s == 1 else 1 - fem_foreign
        expected[:, :, s, 0] = spec.population * w[:, None] * ages * fem[None, :] * (1 - fshare)
        expected[:, :, s, 1] = spec.population * w[:, None] * ages * sex_foreign[None, :] * fshare
    adult = np.isin(np.arange(n_a), [3, 4, 5, 6, 7])
    expected[:, :, 2, 0] = spec.population * w[:, None] * ages * 2.5e-5 * adult[None, :]
    counts = rng.poisson(expected)
    rows = []
    sexes = ("m", "w", "d")
    nats = ("deutsch", "nichtdeutsch")
    for year in YEARS:
        t = year - REGISTER_YEAR
        factor = ((1 + spec.growth) ** t) * (1 + AGEING * t)
        noise = np.exp(rng.normal(0, 0.015, counts.shape))
        nat_trend = np.array([1.0, max(0.5, 1 + 0.07 * t)])
        if t == 0:
            year_counts = counts
        else:
            year_counts = np.rint(counts * factor[None, :, None, None] * nat_trend[None, None, None, :]
                                  * noise).astype(int)
        for i, d in enumerate(spec.districts):
            for a, ag in enumerate(REGISTER_AGE_GROUPS):
                for s, sex in enumerate(sexes):
                    for k, nat in enumerate(nats):
                        c = int(year_counts[i, a, s, k])
                        if sex == "d" and (nat == "nichtdeutsch" or c == 0):
                            continue
                        rows.append((year, d.id, ag, sex, nat, c))
    df = pd.DataFrame(rows, columns=["year", "district_id", "age_group", "sex", "nationality", "count"])
    return df, counts


def _population(spec: CommuneSpec, counts: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Individuals aged 16+ of the 2024 register (the survey frame and the truth)."""
    parts = []
    sexes = ("m", "w", "d")
    for i, d in enumerate(spec.districts):
        for a, ag in enumerate(REGISTER_AGE_GROUPS):
            lo, hi = AGE_BOUNDS[ag]
            if hi < 16:
                continue
            for s in range(3):
                for k in range(2):
                    n = int(counts[i, a, s, k])
                    if n == 0:
                        continue
                    if ag == "85+":
                        age = np.minimum(85 + np.floor(rng.exponential(4.5, n)), 104).astype(int)
                    else:
                        age = rng.integers(lo, hi + 1, n)
                    parts.append(pd.DataFrame({"district_idx": i, "age": age, "sex": sexes[s],
                                               "foreign": k == 1}))
    pop = pd.concat(parts, ignore_index=True)
    pop["district_id"] = [spec.districts[i].id for i in pop["district_idx"]]
    return pop


# ---------------------------------------------------------------------------
# survey model
# ---------------------------------------------------------------------------


INCIVILITY_BASE = {  # item: (base, loading) for Kleinstadt / Mittelstadt / Großstadt
    "Q04_01": ((0.2, 0.2, 0.5), 0.8),   # Müll
    "Q04_02": ((-0.7, 0.0, 0.6), 0.9),  # Graffiti
    "Q04_03": ((-0.3, -0.1, 0.2), 0.8),  # Sachbeschädigung
    "Q04_04": ((0.6, 0.2, -0.3), 0.7),  # Leerstand
    "Q04_05": ((1.0, 1.0, 0.9), 0.6),   # Hundekot
    "Q04_06": ((1.0, 0.9, 0.8), 0.4),   # Raserei
    "Q04_07": ((0.5, 0.7, 1.0), 0.4),   # Falschparken
    "Q04_08": ((-0.4, -0.1, 0.3), 1.0),  # Alkohol trinkende Gruppen
    "Q04_09": ((-0.3, -0.2, 0.1), 0.9),  # Jugendliche
    "Q04_10": ((-1.2, -0.8, -0.1), 1.0),  # Drogen
}
KIND_INDEX = {"Kleinstadt": 0, "Mittelstadt": 1, "Großstadt": 2}

# victimisation in the last 12 months: (base probability, share reported)
VICTIM = {"Q18_01": (0.045, 0.40), "Q18_02": (0.035, 0.62), "Q18_03": (0.010, 0.92),
          "Q18_04": (0.060, 0.33), "Q18_05": (0.025, 0.30)}


def _simulate_answers(spec: CommuneSpec, pop: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Answers of every person of the 16+ population (codes, no item nonresponse)."""
    n = len(pop)
    kind = KIND_INDEX[spec.kind]
    age = pop["age"].to_numpy()
    agez = (age - 50) / 18
    female = np.where(pop["sex"].to_numpy() == "w", 1.0, np.where(pop["sex"].to_numpy() == "d", 0.5, 0.0))
    dinc = np.array([d.incivility for d in spec.districts])[pop["district_idx"].to_numpy()]
    ans: dict[str, np.ndarray] = {}

    # perceived incivilities: district level + person + slight age effect
    perceived = 0.8 * dinc + rng.normal(0, 0.7, n) + 0.15 * agez
    pz = (perceived - perceived.mean()) / perceived.std()
    for item, (bases, loading) in INCIVILITY_BASE.items():
        z = bases[kind] + loading * perceived + rng.normal(0, 0.8, n)
        ans[item] = _cut_fixed(z, (0.0, 1.0, 2.0))

    # victimisation (younger people and disorderly districts more often)
    victim_any = np.zeros(n, dtype=bool)
    victims = {}
    city = {0: 0.8, 1: 1.0, 2: 1.25}[kind]
    for item, (p, _) in VICTIM.items():
        bike = 1.5 if (item == "Q18_02" and kind == 2) else 1.0
        prob = p * city * bike * np.exp(0.3 * dinc) * np.where(age < 35, 1.5, np.where(age >= 65, 0.6, 1.0))
        v = rng.random(n) < np.clip(prob, 0, 0.5)
        victims[item] = v
        victim_any |= v
        ans[item] = np.where(v, 1, 2)

    # insecurity at night: incivilities, sex, age, violent victimisation; no crime-rate term
    age_eff = np.where(age >= 40, 0.03 * (age - 40), 0.01 * (40 - age))
    night_latent = (0.65 * pz + 1.2 * female + age_eff + 0.6 * victims["Q18_05"]
                    + 0.25 * victims["Q18_03"] + rng.logistic(0, 1, n))
    ans["Q05"] = _cut_by_shares(night_latent, spec.night_shares)
    nz = (night_latent - night_latent.mean()) / night_latent.std()
    ans["Q06"] = _cut_by_shares(night_latent + rng.logistic(0, 1.2, n), (0.60, 0.34, 0.045, 0.015))
    ans["Q07"] = _cut_by_shares(0.7 * nz + rng.normal(0, 1, n), (0.06, 0.56, 0.38))  # 3 = verschlechtert

    # avoidance after dark (DVS 2017: often/always men 13 %, women 45 %)
    avoid_latent = (1.3 * (ans["Q05"] - 2.0) + 1.4 * female + 0.02 * (age - 50)
                    + rng.logistic(0, 1, n))
    ans["Q08"] = _cut_by_shares(avoid_latent, (0.37, 0.34, 0.19, 0.10))

    # protective measures (multi)
    m = {
        "Q09_01": _sigmoid(-1.3 + 0.9 * nz + 0.3 * female),
        "Q09_02": _sigmoid(-2.3 + 0.8 * nz + 0.4 * (age >= 70)),
        "Q09_03": _sigmoid(-1.0 + 0.3 * agez + 1.2 * victims["Q18_03"]),
        "Q09_04": _sigmoid(-2.8 + 0.6 * female + 0.5 * nz - 0.4 * agez),
        "Q09_05": _sigmoid(-0.9 + 0.3 * nz),
    }
    any_measure = np.zeros(n, dtype=bool)
    for item, p in m.items():
        v = rng.random(n) < p
        ans[item] = v.astype(int)
        any_measure |= v
    ans["Q09_06"] = (~any_measure).astype(int)

    # impairment by groups and places: lower than by physical disorder
    for item, base in (("Q10_01", -0.7), ("Q10_02", -0.6), ("Q10_03", (-1.3, -1.1, -0.6)[kind]),
                       ("Q10_04", -0.2)):
        z = base + 0.6 * perceived + 0.3 * nz + rng.normal(0, 0.8, n)
        ans[item] = _cut_fixed(z, (0.0, 1.1, 2.1))
    uneasy = rng.random(n) < _sigmoid(-0.9 + 1.0 * nz + 0.3 * dinc)
    ans["Q11"] = np.where(uneasy, 1, 2)

    # quality of life
    like_latent = -(0.7 * pz + 0.35 * nz) + rng.normal(0, 1.0, n)
    ans["Q01"] = _cut_by_shares(-like_latent, spec.like_shares)
    ans["Q02"] = _cut_by_shares(-(like_latent + rng.normal(0, 0.8, n)), (0.18, 0.50, 0.22, 0.07, 0.03))
    ans["Q03"] = _cut_by_shares(0.8 * pz + rng.normal(0, 1, n), (0.12, 0.55, 0.33))
    ans["Q13"] = _cut_by_shares(0.5 * nz + rng.normal(0, 1, n), (0.03, 0.74, 0.23))

    # presence of police and public-order service
    seen_p = {0: (0.02, 0.08, 0.20, 0.45, 0.25), 1: (0.04, 0.14, 0.25, 0.42, 0.15),
              2: (0.08, 0.20, 0.27, 0.35, 0.10)}[kind]
    seen_o = {0: (0.01, 0.04, 0.12, 0.43, 0.40), 1: (0.02, 0.08, 0.18, 0.42, 0.30),
              2: (0.03, 0.10, 0.20, 0.40, 0.27)}[kind]
    ans["Q14"] = _cut_by_shares(-0.6 * dinc + rng.normal(0, 1, n), seen_p)
    ans["Q15"] = _cut_by_shares(-0.5 * dinc + rng.normal(0, 1, n), seen_o)
    wish_p = 0.8 * nz + 0.4 * pz + 0.2 * agez + rng.logistic(0, 1, n)
    ans["Q16"] = _cut_by_shares(-wish_p, (0.55, 0.43, 0.02))
    wish_o = 0.5 * nz + 0.6 * pz + rng.logistic(0, 1, n)
    ans["Q17"] = _cut_by_shares(-wish_o, (0.42, 0.54, 0.04))

    # trust in police 0-10
    trust = (spec.trust_mean + 0.45 * agez - 0.45 * pz - 0.25 * nz - 0.5 * victim_any
             + rng.normal(0, 2.0, n))
    ans["Q22"] = np.clip(np.rint(trust), 0, 10).astype(int)

    # reporting: distrust lowers it
    for item, (_, rep) in VICTIM.items():
        target = item.replace("Q18", "Q19")
        p = _sigmoid(np.log(rep / (1 - rep)) + 0.15 * (ans["Q22"] - 6))
        reported = rng.random(n) < p
        ans[target] = np.where(victims[item], np.where(reported, 1, 2), -1)  # -1: not asked
    online = rng.random(n)
    p_yes = _sigmoid(-1.3 - 0.5 * agez)
    ans["Q20"] = np.where(online < p_yes, 1, np.where(online < p_yes + 0.22, -99, 2))

    # neighbourhood cohesion (code 1 = full agreement)
    cohesion = 0.35 * agez - 0.45 * pz + 0.25 * (dinc < 0) + rng.normal(0, 1, n)
    for item, b in (("Q21_01", 0.0), ("Q21_02", 0.1), ("Q21_03", 0.2), ("Q21_04", 0.6), ("Q21_05", -0.5)):
        z = b - 0.9 * cohesion + rng.normal(0, 0.7, n)
        ans[item] = _cut_fixed(z, (-0.8, 0.5, 1.6))

    # political interest (code 1 = very strong)
    interest = 0.4 * agez + 0.3 * (1 - female) + rng.normal(0, 1, n)
    ans["Q23"] = _cut_by_shares(-interest, (0.15, 0.35, 0.38, 0.12))

    # information sources
    info = {"Q24_01": (0.55, 0.3), "Q24_02": (0.35, 0.8), "Q24_03": (spec.info_amtsblatt, 0.6),
            "Q24_04": (0.45, -0.2), "Q24_05": (0.18, 0.2), "Q24_06": (0.40, -0.8),
            "Q24_07": (0.25, -1.0), "Q24_08": (0.12, 0.0), "Q24_09": (0.035, 0.2)}
    for item, (p, slope) in info.items():
        ans[item] = (rng.random(n) < _sigmoid(np.log(p / (1 - p)) + slope * agez)).astype(int)

    # statistics
    ans["Q50"] = age
    sex_code = np.where(pop["sex"].to_numpy() == "m", 1, np.where(pop["sex"].to_numpy() == "w", 2, 3))
    ans["Q51"] = np.where(rng.random(n) < 0.002, 3, sex_code)
    ans["Q52"] = pop["district_id"].astype(int).to_numpy()
    born_here = rng.random(n) < 0.5
    years_here = np.where(born_here, age, np.minimum(rng.exponential(12, n), age - 15))
    ans["Q53"] = _cut_fixed(years_here, (2.0, 6.0, 10.5))
    u = rng.random(n)
    edu_old = np.select([u < 0.02, u < 0.16, u < 0.62, u < 0.80], [2, 3, 4, 5], 6)
    edu_young = np.select([u < 0.03, u < 0.10, u < 0.48, u < 0.76], [2, 3, 4, 5], 6)
    ans["Q54"] = np.where(age < 19, np.where(u < 0.7, 1, 4), np.where(age >= 60, edu_old, edu_young))
    u = rng.random(n)
    working = np.select([u < 0.84, u < 0.90, u < 0.95], [1, 2, 5], 6)
    ans["Q55"] = np.where(age < 20, np.where(u < 0.85, 3, 1), np.where(
        age < 25, np.where(u < 0.5, 3, working), np.where(age >= 66, np.where(u < 0.93, 4, 1), np.where(
            age >= 62, np.where(u < 0.5, 4, working), working))))
    u = rng.random(n)
    hh_old = np.where(u < 0.42, 1, np.where(u < 0.95, 2, 3))
    hh_mid = np.select([u < 0.2, u < 0.45, u < 0.68, u < 0.92], [1, 2, 3, 4], 5)
    hh_young = np.select([u < 0.35, u < 0.65, u < 0.85], [1, 2, 3], 4)
    ans["Q56"] = np.where(age >= 65, hh_old, np.where(age >= 30, hh_mid, hh_young))
    foreign = pop["foreign"].to_numpy()
    u = rng.random(n)
    ans["Q57"] = np.where(foreign, np.where(u < 0.9, 2, 3), np.where(u < 0.02, 3, 1))
    return pd.DataFrame(ans)


# nonresponse per item: (rate, share of it coded -99 "weiß nicht")
def _item_nonresponse() -> dict[str, tuple[float, float]]:
    rates = {"Q01": (0.02, 0.0), "Q02": (0.03, 0.0), "Q03": (0.05, 0.5), "Q05": (0.02, 0.0),
             "Q06": (0.03, 0.0), "Q07": (0.05, 0.3), "Q08": (0.04, 0.0), "Q11": (0.06, 0.0),
             "Q13": (0.05, 0.3), "Q14": (0.04, 0.5), "Q15": (0.05, 0.5), "Q16": (0.06, 0.5),
             "Q17": (0.07, 0.5), "Q20": (0.05, 0.0), "Q22": (0.08, 0.3), "Q23": (0.04, 0.0),
             "Q50": (0.02, 0.0), "Q51": (0.015, 0.0), "Q52": (0.03, 0.0), "Q53": (0.02, 0.0),
             "Q54": (0.03, 0.0), "Q55": (0.03, 0.0), "Q56": (0.04, 0.0), "Q57": (0.02, 0.0)}
    for k in range(1, 11):
        rates[f"Q04_{k:02d}"] = (0.04, 0.4)
    for k in range(1, 5):
        rates[f"Q10_{k:02d}"] = (0.05, 0.2)
    for k in range(1, 6):
        rates[f"Q18_{k:02d}"] = (0.06, 0.0)
        rates[f"Q19_{k:02d}"] = (0.08, 0.0)
        rates[f"Q21_{k:02d}"] = (0.04, 0.3)
    return rates


def _apply_nonresponse(resp: pd.DataFrame, age: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Item nonresponse as -9 / -99 (more among the oldest); filtered items stay empty."""
    out = {}
    n = len(resp)
    older = np.where(age >= 75, 1.6, 1.0)
    for col, (rate, dk) in _item_nonresponse().items():
        v = resp[col].to_numpy().astype(float)
        hit = rng.random(n) < rate * older
        code = np.where(rng.random(n) < dk, -99.0, -9.0)
        asked = v != -1
        v = np.where(hit & asked, code, v)
        v = np.where(asked, v, np.nan)
        out[col] = v
    # battery skipped as a whole (2 %)
    skip = rng.random(n) < 0.02
    for k in range(1, 11):
        out[f"Q04_{k:02d}"] = np.where(skip, -9.0, out[f"Q04_{k:02d}"])
    # a victim item not answered: the follow-up was not answered either
    for k in range(1, 6):
        vic = out[f"Q18_{k:02d}"]
        out[f"Q19_{k:02d}"] = np.where(vic == 1, out[f"Q19_{k:02d}"], np.nan)
    # multi questions: missing as a whole
    for q, rate in (("Q09", 0.05), ("Q24", 0.07)):
        cols = [c for c in resp.columns if c.startswith(q + "_")]
        hit = rng.random(n) < rate * older
        for c in cols:
            out[c] = np.where(hit, -9.0, resp[c].to_numpy().astype(float))
    # Q20 keeps its substantive -99 ("weiß nicht")
    frame = pd.DataFrame({c: out.get(c, resp[c].to_numpy().astype(float)) for c in resp.columns})
    return frame


TEXT_TEMPLATES = ("{p}", "{p}, vor allem abends", "{p} – dort stehen oft Gruppen mit Alkohol",
                  "{p} (schlecht beleuchtet)", "{p} und {q}", "{p}, nachts unheimlich",
                  "{p}, da wohne ich direkt daneben", "abends am {p}", "{p}, wenn es dunkel ist")
TEXT_NO_PLACE = ("überall, wo es dunkel ist", "Innenstadt abends", "in der Nähe vom Jugendclub",
                 "auf dem Heimweg von der Arbeit")


def _free_texts(resp: pd.DataFrame, places: pd.DataFrame, survey_places: list[int],
                rng: np.random.Generator, truth: list | None = None) -> tuple[list[str], np.ndarray]:
    """Short place descriptions for respondents who said 'ja' to Q11.

    Returns the texts (empty string = no text) and mentions per place row; ``truth``
    (optional list) receives the place rows each text names (tests of kit.gazetteer).
    """
    mentions = np.zeros(len(places), dtype=int)
    texts = []
    names = places["name"].tolist()
    pdist = places["district_id"].tolist()
    for q11, district in zip(resp["Q11"].to_numpy(), resp["Q52"].to_numpy()):
        if q11 != 1 or rng.random() > 0.65:
            texts.append("")
            continue
        if rng.random() < 0.12:
            texts.append(str(rng.choice(TEXT_NO_PLACE)))
            continue
        w = np.array([3.0 if str(pdist[i]) == str(int(district)) else 1.0 for i in survey_places])
        w /= w.sum()
        first = survey_places[int(rng.choice(len(survey_places), p=w))]
        template = str(rng.choice(TEXT_TEMPLATES))
        mentions[first] += 1
        named = [first]
        if "{q}" in template and len(survey_places) > 1:
            others = [i for i in survey_places if i != first]
            second = others[int(rng.integers(len(others)))]
            mentions[second] += 1
            named.append(second)
            texts.append(template.format(p=names[first], q=names[second]))
        else:
            texts.append(template.replace(" und {q}", "").format(p=names[first]))
        if truth is not None:
            truth.extend([[]] * (len(texts) - len(truth) - 1) + [named])
    if truth is not None:
        truth.extend([[]] * (len(texts) - len(truth)))
    return texts, mentions


def _survey(spec: CommuneSpec, pop: pd.DataFrame, answers: pd.DataFrame, rng: np.random.Generator):
    """Draw the issued sample, simulate response; return sample table, respondents, flags."""
    frame = np.flatnonzero(pop["sex"].isin(["m", "w"]).to_numpy())
    didx = pop["district_idx"].to_numpy()
    n_d = np.bincount(didx[frame], minlength=len(spec.districts)).astype(float)
    alloc = _largest_remainder(spec.issued, n_d)
    issued = []
    for i, k in enumerate(alloc):
        members = frame[didx[frame] == i]
        issued.append(np.sort(rng.choice(members, size=int(k), replace=False)))
    issued_idx = np.concatenate(issued)
    age = pop["age"].to_numpy()[issued_idx]
    female = pop["sex"].to_numpy()[issued_idx] == "w"
    # response propensity by age (peak 60-79), women slightly more often
    p = np.interp(age, [16, 30, 45, 60, 70, 79, 90, 104], [0.22, 0.24, 0.32, 0.45, 0.52, 0.47, 0.30, 0.2])
    p = p * np.where(female, 1.06, 0.95) * spec.response_factor
    responded = rng.random(len(issued_idx)) < p
    sample = pd.DataFrame({
        "district_id": pop["district_id"].to_numpy()[issued_idx],
        "age_group": _survey_age_group(age),
        "sex": pop["sex"].to_numpy()[issued_idx],
        "returned": responded.astype(int),
    })
    rows = []
    for d in spec.districts:
        for ag in SURVEY_AGE_GROUPS:
            for sex in ("m", "w"):
                sel = (sample["district_id"] == d.id) & (sample["age_group"] == ag) & (sample["sex"] == sex)
                rows.append((d.id, ag, sex, int(sel.sum()), int(sample.loc[sel, "returned"].sum())))
    table = pd.DataFrame(rows, columns=["district_id", "age_group", "sex", "issued", "returned"])
    resp_idx = issued_idx[responded]
    resp_idx = resp_idx[rng.permutation(len(resp_idx))]  # order of arrival
    return table, resp_idx


def _truth(spec: CommuneSpec, pop: pd.DataFrame, answers: pd.DataFrame) -> dict:
    q05, q01, q08, q06 = (answers[c].to_numpy() for c in ("Q05", "Q01", "Q08", "Q06"))
    sex = pop["sex"].to_numpy()
    agegrp = _survey_age_group(pop["age"].to_numpy())

    def share(mask, sel=None):
        sel = np.ones(len(mask), dtype=bool) if sel is None else sel
        return round(float(mask[sel].mean()), 6)

    night = np.isin(q05, [3, 4])
    return {
        "description": ("Simulierte Wahrheit der Grundgesamtheit (alle Einwohner ab 16 Jahren laut "
                        "Melderegister 31.12.2024) – keine Eingabedatei, nur für Tests und Demonstration."),
        "commune_id": spec.commune_id,
        "register_year": REGISTER_YEAR,
        "survey_year": SURVEY_YEAR,
        "population_16plus": int(len(pop)),
        "definitions": {
            "night_unsafe": {"item": "Q05", "codes": [3, 4], "label": "nachts eher/sehr unsicher"},
            "day_unsafe": {"item": "Q06", "codes": [3, 4], "label": "tagsüber eher/sehr unsicher"},
            "like_living": {"item": "Q01", "codes": [1, 2], "label": "lebt sehr/eher gern in der Kommune"},
            "avoid_dark": {"item": "Q08", "codes": [3, 4],
                           "label": "meidet bei Dunkelheit oft/immer die Straße"},
            "trust_police_mean": {"item": "Q22", "label": "Vertrauen in die Polizei (Mittelwert 0-10)"},
        },
        "shares": {
            "night_unsafe": share(night),
            "day_unsafe": share(np.isin(q06, [3, 4])),
            "like_living": share(np.isin(q01, [1, 2])),
            "avoid_dark": share(np.isin(q08, [3, 4])),
        },
        "means": {"trust_police_mean": round(float(answers["Q22"].mean()), 6)},
        "night_unsafe_by_sex": {s: share(night, sex == s) for s in ("m", "w")},
        "avoid_dark_by_sex": {s: share(np.isin(q08, [3, 4]), sex == s) for s in ("m", "w")},
        "night_unsafe_by_age_group": {g: share(night, agegrp == g) for g in SURVEY_AGE_GROUPS},
        "night_distribution": {str(c): share(q05 == c) for c in (1, 2, 3, 4)},
    }


def _responses_frame(spec: CommuneSpec, codebook: dict, resp: pd.DataFrame, texts: list[str],
                     rng: np.random.Generator) -> pd.DataFrame:
    cols = [it["id"] for it in codebook["items"]]
    out = pd.DataFrame({"id": np.arange(1, len(resp) + 1)})
    if spec.responses_format == "limesurvey":
        start = np.datetime64("2025-03-10T08:00:00")
        offsets = np.sort(rng.integers(0, 42 * 24 * 3600, len(resp)))
        stamps = start + offsets.astype("timedelta64[s]")
        out["submitdate"] = [str(s).replace("T", " ") for s in stamps]
        out["lastpage"] = 13
        out["startlanguage"] = "de"
    for c in cols:
        if c == "Q12":
            out[c] = texts
        else:
            out[c] = resp[c].to_numpy()
    return out


def _inject_defects(df: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, list[dict]]:
    """Two realistic data-entry defects in the small town's export (documented)."""
    n = len(df)
    dup_pos = int(rng.integers(n // 4, n // 2))
    bad_pos = int(rng.integers(n // 2, 3 * n // 4))
    while not (df.iloc[bad_pos]["Q04_02"] in (1.0, 2.0, 3.0, 4.0)):
        bad_pos += 1
    df = df.copy()
    bad_id = int(df.iloc[bad_pos]["id"])
    old = int(df.iloc[bad_pos]["Q04_02"])
    df.loc[df.index[bad_pos], "Q04_02"] = 7.0
    dup_id = int(df.iloc[dup_pos]["id"])
    df = pd.concat([df.iloc[: dup_pos + 1], df.iloc[[dup_pos]], df.iloc[dup_pos + 1:]], ignore_index=True)
    defects = [
        {"kind": "duplicate", "id": dup_id, "file_rows": [dup_pos + 2, dup_pos + 3],
         "description": "Fragebogen doppelt erfasst (identische Zeile, gleiche id)"},
        {"kind": "out_of_range", "id": bad_id, "item": "Q04_02", "value": 7, "original": old,
         "description": "Tippfehler bei der Dateneingabe: Code 7 in einer 4er-Skala"},
    ]
    return df, defects


# ---------------------------------------------------------------------------
# area profile tables
# ---------------------------------------------------------------------------

PLACE_TEMPLATES = {
    "Bahnhof/Haltestelle": ("Bahnhofsvorplatz", "Busbahnhof", "Haltestelle {street}", "Haltepunkt {district}"),
    "Park/Grünanlage": ("Stadtpark", "Grünanlage {street}", "Park am Mühlteich", "Uferweg an der {river}",
                        "Auenpark {district}"),
    "Platz/Innenstadt": ("Marktplatz", "Rathausplatz", "Platz der Einheit", "Kirchplatz {district}"),
    "Parkplatz/Parkhaus": ("Parkhaus {street}", "Parkplatz am Einkaufsmarkt {district}", "Parkplatz {street}"),
    "Unterführung/Weg": ("Unterführung {street}", "Fußweg an der Bahnlinie {district}", "Treppenweg {district}"),
    "Schule/Spielplatz": ("Spielplatz {street}", "Schulhof {district}", "Skaterpark {district}"),
    "Einkaufsbereich": ("Einkaufszentrum {district}", "Ladenzeile {street}"),
    "Wohngebiet": ("Hochhäuser {street}", "Innenhöfe {district}"),
    "Sonstiges": ("Friedhof {district}", "Festwiese {district}", "Garagenkomplex {street}"),
}
PLACE_CATEGORY_WEIGHTS = {"Bahnhof/Haltestelle": 3, "Park/Grünanlage": 3, "Platz/Innenstadt": 2,
                          "Parkplatz/Parkhaus": 1.5, "Unterführung/Weg": 2, "Schule/Spielplatz": 1.5,
                          "Einkaufsbereich": 1.2, "Wohngebiet": 1.2, "Sonstiges": 0.8}


def _places(spec: CommuneSpec, polys: dict, rng: np.random.Generator) -> tuple[pd.DataFrame, list[int]]:
    cats = list(PLACE_CATEGORY_WEIGHTS)
    cw = np.array(list(PLACE_CATEGORY_WEIGHTS.values()))
    dw = np.array([d.weight * math.exp(1.2 * d.incivility) for d in spec.districts])
    rows, used = [], set()
    tries = 0
    while len(rows) < spec.n_places and tries < 1000:
        tries += 1
        cat = cats[int(rng.choice(len(cats), p=cw / cw.sum()))]
        d = spec.districts[int(rng.choice(len(spec.districts), p=dw / dw.sum()))]
        template = str(rng.choice(PLACE_TEMPLATES[cat]))
        name = template.format(street=STREETS[int(rng.integers(len(STREETS)))], district=d.name, river=spec.river)
        if name in used:
            continue
        used.add(name)
        rows.append({"name": name, "category": cat, "district_id": d.id})
    df = pd.DataFrame(rows)
    n = len(df)
    src = rng.random(n)
    df["source"] = np.where(src < 0.6, "Befragung", np.where(src < 0.85, "Kommune", "Polizei"))
    if not (df["source"] == "Befragung").any():
        df.loc[0, "source"] = "Befragung"
    lon, lat = [], []
    for did in df["district_id"]:
        a, b = _lonlat(_points_in(polys[did], 1, rng))
        lon.append(float(a[0]))
        lat.append(float(b[0]))
    df["lon"], df["lat"] = lon, lat
    df.insert(0, "place_id", [f"O{i + 1:03d}" for i in range(n)])
    survey_places = [i for i in range(n) if df.loc[i, "source"] == "Befragung"]
    return df, survey_places


def _accommodation(spec: CommuneSpec, rng: np.random.Generator) -> pd.DataFrame:
    names = {"Gemeinschaftsunterkunft Geflüchtete": "Gemeinschaftsunterkunft {street}",
             "Obdachlosenunterkunft": "Obdachlosenunterkunft {street}",
             "Frauenschutzhaus": "Frauen- und Kinderschutzhaus",
             "Jugendwohngruppe": "Jugendwohngruppe {district}",
             "Betreutes Wohnen": "Betreutes Wohnen {street}",
             "Sonstige": "Notschlafstelle {district}"}
    size = {"Gemeinschaftsunterkunft Geflüchtete": (40, 180), "Obdachlosenunterkunft": (6, 40),
            "Frauenschutzhaus": (6, 14), "Jugendwohngruppe": (6, 10), "Betreutes Wohnen": (12, 48),
            "Sonstige": (8, 20)}
    occ_rate = {"Gemeinschaftsunterkunft Geflüchtete": {2019: 0.55, 2020: 0.5, 2021: 0.5, 2022: 0.92,
                                                        2023: 0.95, 2024: 0.8},
                "Obdachlosenunterkunft": dict.fromkeys(YEARS, 0.7),
                "Frauenschutzhaus": dict.fromkeys(YEARS, 0.85), "Jugendwohngruppe": dict.fromkeys(YEARS, 0.9),
                "Betreutes Wohnen": dict.fromkeys(YEARS, 0.93), "Sonstige": dict.fromkeys(YEARS, 0.6)}
    dw = np.array([d.weight * math.exp(0.6 * d.incivility) for d in spec.districts])
    rows, k = [], 0
    for ftype, count in spec.facilities.items():
        for j in range(count):
            k += 1
            d = spec.districts[int(rng.choice(len(spec.districts), p=dw / dw.sum()))]
            name = names[ftype].format(street=STREETS[(k * 7) % len(STREETS)], district=d.name)
            if ftype == "Frauenschutzhaus" and count > 1:
                name = f"{name} {j + 1}"
            lo, hi = size[ftype]
            places = int(rng.integers(lo, hi + 1))
            opened = 2022 if (ftype == "Gemeinschaftsunterkunft Geflüchtete" and j % 2 == 0
                              and spec.kind != "Großstadt") else int(rng.choice([2005, 2012, 2016, 2019]))
            for year in YEARS:
                if year < opened:
                    continue
                occ = int(rng.binomial(places, occ_rate[ftype][year]))
                rows.append((year, f"U{k:02d}", name, ftype, d.id, places, occ))
    df = pd.DataFrame(rows, columns=["year", "facility_id", "name", "type", "district_id", "places", "occupancy"])
    return df.sort_values(["year", "facility_id"], kind="stable").reset_index(drop=True)


CLUB_TEMPLATES = {
    "Sport": (0.30, ("SV {place} e.V.", "TSV {place} {year} e.V.", "Kegelverein {place} e.V.",
                     "Reit- und Fahrverein {place} e.V.", "Schützengesellschaft {place} e.V.",
                     "Tischtennisverein {place} e.V.", "FSV Blau-Weiß {place} e.V.", "Volleyballclub {place} e.V.",
                     "Schachclub {place} e.V.", "Laufgemeinschaft {place} e.V.")),
    "Kultur/Musik": (0.14, ("Gemischter Chor {place} e.V.", "Blasorchester {place} e.V.", "Kunstverein {place} e.V.",
                            "Theaterverein {place} e.V.", "Musikschulverein {place} e.V.")),
    "Feuerwehr/Rettung": (0.06, ("Feuerwehrverein {place} e.V.", "DRK-Ortsverein {place} e.V.",
                                 "Wasserwacht {place} e.V.")),
    "Soziales/Wohlfahrt": (0.10, ("Tafel {place} e.V.", "Volkssolidarität Ortsgruppe {place}",
                                  "Förderverein Grundschule {place} e.V.", "Hospizverein {place} e.V.",
                                  "Lebenshilfe {place} e.V.")),
    "Jugend": (0.05, ("Jugendclub {place} e.V.", "Pfadfinderstamm {place}", "Förderverein Jugendhaus {place} e.V.")),
    "Heimat/Tradition": (0.10, ("Heimatverein {place} e.V.", "Karnevalsclub {place} e.V.",
                                "Geschichtsverein {place} e.V.", "Dorfgemeinschaft {place} e.V.")),
    "Umwelt/Natur": (0.12, ("Kleingartenverein {garden} e.V.", "Angelverein {place} e.V.",
                            "NABU-Gruppe {place}", "Imkerverein {place} e.V.")),
    "Senioren": (0.05, ("Seniorenclub {place}", "Seniorenbeirat {place} e.V.")),
    "Religion": (0.03, ("CVJM {place} e.V.", "Förderverein Kirche {place} e.V.")),
    "Sonstiges": (0.05, ("Gewerbeverein {place} e.V.", "Modellbahnclub {place} e.V.",
                         "Kaninchenzüchterverein {place} e.V.")),
}
GARDENS = ("Am Bach", "Sonnenschein", "Erholung", "Frohe Zukunft", "Am Wasserturm", "Rosental",
           "Feierabend", "Glück Auf", "Waldesruh", "Einigkeit", "Wiesengrund", "Heideland")


def _clubs(spec: CommuneSpec, rng: np.random.Generator) -> pd.DataFrame:
    types = list(CLUB_TEMPLATES)
    tw = np.array([CLUB_TEMPLATES[t][0] for t in types])
    dw = np.array([d.weight for d in spec.districts])
    rows, used = [], set()
    for k in range(spec.n_clubs):
        ctype = types[int(rng.choice(len(types), p=tw / tw.sum()))]
        d = spec.districts[int(rng.choice(len(spec.districts), p=dw / dw.sum()))]
        place = spec.name if rng.random() < 0.5 else d.name
        for attempt in range(20):
            template = str(rng.choice(CLUB_TEMPLATES[ctype][1]))
            name = template.format(place=place, year=int(rng.choice([1861, 1890, 1919, 1990, 1991])),
                                   garden=str(rng.choice(GARDENS)))
            if attempt >= 10:
                name = name.replace(" e.V.", "") + f" {attempt - 9}. Abteilung e.V."
            if name not in used:
                break
        used.add(name)
        mean = {"Sport": 160, "Feuerwehr/Rettung": 45, "Umwelt/Natur": 60, "Soziales/Wohlfahrt": 70}.get(ctype, 35)
        members = int(max(7, rng.lognormal(math.log(mean), 0.6)))
        rows.append((f"V{k + 1:04d}", name, ctype, d.id, members if rng.random() > 0.2 else None))
    df = pd.DataFrame(rows, columns=["club_id", "name", "type", "district_id", "members"])
    df["members"] = df["members"].astype("Int64")
    return df


OWI_RATES = {  # per 1,000 residents and year
    "Lärm": 1.8, "Abfall/Vermüllung": 1.4, "Hunde": 1.1, "Parken": None, "Alkoholkonsumverbot": None,
    "Sondernutzung": 0.5, "Jugendschutz": 0.25, "Sonstiges": 2.5,
}


def _owi(spec: CommuneSpec, residents: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    totals = residents.groupby("year")["count"].sum()
    weights = np.array([d.weight for d in spec.districts])
    inc = float(np.dot(weights / weights.sum(), [d.incivility for d in spec.districts]))
    rows = []
    for year in YEARS:
        pop = totals[year] / 1000
        for cat, rate in OWI_RATES.items():
            if cat == "Alkoholkonsumverbot":
                if spec.alcohol_ban_from is None:
                    continue
                if year < spec.alcohol_ban_from:  # not in force: not recorded (empty), not a zero
                    rows.append((year, cat, None))
                    continue
                lam = 45.0 + 12 * (year - spec.alcohol_ban_from)
            elif cat == "Parken":
                lam = spec.owi_parking * pop * (0.8 if year in (2020, 2021) else 1.0)
            elif cat == "Sondernutzung" and spec.kind == "Kleinstadt":
                continue
            else:
                lam = rate * pop * math.exp(0.5 * inc if cat in ("Abfall/Vermüllung", "Hunde", "Lärm") else 0.0)
                if cat == "Lärm" and year in (2020, 2021):
                    lam *= 1.3
            rows.append((year, cat, int(rng.poisson(lam)) + _planted_extra(spec, "owi", cat, lam, year)))
    df = pd.DataFrame(rows, columns=["year", "category", "count"])
    df["count"] = df["count"].astype("Int64")
    return df


# Communes whose demo has recorded crime by district (optional input survey.district_crime,
# kit.survey.crime_fear). Planted truth: the district crime rate does NOT depend on the
# district's incivility (a random factor, and a centre with many offences per resident), so
# district insecurity, which the incivilities drive, has no relation with it.
DISTRICT_CRIME_COMMUNES = ("elbstadt",)
DISTRICT_CRIME_FILE = "district_crime.csv"
DISTRICT_CRIME_YEARS = (2022, 2023, 2024)


def _district_crime(spec: CommuneSpec, pks: pd.DataFrame, residents: pd.DataFrame, seed: int) -> pd.DataFrame:
    """'Straftaten insgesamt' by district: 97 % of the commune's PKS cases (the rest cannot be
    located), spread over the districts by residents x a factor independent of incivility.
    Own random stream, so every other demo file stays byte-identical."""
    rng = np.random.default_rng([seed, spec.offset, 1702])
    factor = np.exp(rng.normal(0.0, 0.35, len(spec.districts)))
    factor *= np.array([2.5 if d.ring == 0 else 1.0 for d in spec.districts])
    rows = []
    for year in DISTRICT_CRIME_YEARS:
        pop = residents[residents["year"] == year].groupby("district_id")["count"].sum()
        w = np.array([float(pop.get(d.id, 0.0)) for d in spec.districts]) * factor
        total = int(pks[(pks["year"] == year) & (pks["key"] == "000000")]["cases"].sum())
        counts = rng.multinomial(int(round(0.97 * total)), w / w.sum())
        rows += [(d.id, year, "Straftaten insgesamt", int(c)) for d, c in zip(spec.districts, counts)]
    return pd.DataFrame(rows, columns=["district_id", "year", "category", "cases"])


def _education(spec: CommuneSpec, residents: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    totals = residents.groupby("year")["count"].sum()
    rows = []
    for year in YEARS:
        infl = 1.035 ** (year - REGISTER_YEAR)
        pop = totals[year]
        for area, per_head in spec.education.items():
            posts = None
            if area == "Schulsozialarbeit":
                posts = round(per_head * pop / 10000 * (0.6 + 0.08 * (year - 2019)), 1)
                posts = max(posts, 0.5)
                amount = posts * 61500 * infl * float(rng.uniform(0.97, 1.03))
            else:
                amount = per_head * pop * infl * float(rng.uniform(0.95, 1.05))
                if area == "Offene Jugendarbeit":
                    posts = round(pop / 10000 * 1.2 * float(rng.uniform(0.9, 1.1)), 1)
            rows.append((year, area, round(amount, 2), posts))
    df = pd.DataFrame(rows, columns=["year", "area", "amount_eur", "posts_fte"])
    return df


BOS_NAMES = {"Polizeirevier": "Polizeirevier {name}{suffix}", "Polizeiposten": "Polizeiposten {district}",
             "Bürgerpolizist": "Bürgerpolizist {district}", "Gemeindlicher Vollzugsdienst": "Gemeindlicher Vollzugsdienst {name}{suffix}",
             "Berufsfeuerwehr": "Feuer- und Rettungswache {district}", "Freiwillige Feuerwehr": "Freiwillige Feuerwehr {district}",
             "Rettungswache": "Rettungswache {district}"}


def _bos(spec: CommuneSpec, polys: dict, rng: np.random.Generator) -> pd.DataFrame:
    rows, k = [], 0
    dw = np.array([d.weight for d in spec.districts])
    for btype, count, lo, hi in spec.bos:
        # fire brigades are spread over the villages, the rest sits where people live
        p = np.full(len(dw), 1.0 / len(dw)) if btype == "Freiwillige Feuerwehr" else dw / dw.sum()
        idx = rng.choice(len(spec.districts), size=count, replace=False, p=p)
        chosen = [spec.districts[int(i)] for i in sorted(idx)]
        for j, d in enumerate(chosen):
            k += 1
            suffix = "" if count == 1 else f" {['Nord', 'Süd', 'Ost', 'West', 'Mitte'][j % 5]}"
            name = BOS_NAMES[btype].format(name=spec.name, suffix=suffix, district=d.name)
            lon, lat = _lonlat(_points_in(polys[d.id], 1, rng))
            staff = int(rng.integers(lo, hi + 1))
            for year in (2023, 2024):
                s = staff if (year == 2024 or lo == hi) else max(0, staff + int(rng.integers(-2, 3)))
                rows.append((year, f"B{k:02d}", name, btype, d.id, s, float(lon[0]), float(lat[0])))
    df = pd.DataFrame(rows, columns=["year", "unit_id", "name", "type", "district_id", "staff", "lon", "lat"])
    return df.sort_values(["year", "unit_id"], kind="stable").reset_index(drop=True)


PREVENTION_CATALOGUE = {
    "Gewalt": (("Anti-Gewalt-Training an der Oberschule", "Schülerinnen und Schüler", "Polizeidirektion / Schulsozialarbeit"),
               ("Zivilcourage-Workshop", "Erwachsene", "Kriminalpräventiver Rat"),
               ("Streitschlichter-Ausbildung", "Kinder und Jugendliche", "Schulsozialarbeit"),
               ("Deeskalationstraining für Busfahrer", "Beschäftigte im ÖPNV", "Verkehrsbetrieb")),
    "Sucht/Alkohol": (("Suchtpräventionstag an Schulen", "Jugendliche", "Suchtberatungsstelle"),
                      ("Streetwork am Bahnhof", "Alkohol konsumierende Erwachsene", "Diakonie"),
                      ("Testkäufe Jugendschutz", "Einzelhandel", "Ordnungsamt"),
                      ("Elternabend Cannabis", "Eltern", "Suchtberatungsstelle")),
    "Verkehr": (("Schulwegsicherheit – Verkehrshelfer", "Grundschulkinder", "Verkehrswacht"),
                ("Geschwindigkeitsanzeigetafeln mit Auswertung", "Kraftfahrer", "Ordnungsamt"),
                ("Radfahrtraining für Senioren", "Senioren", "Verkehrswacht")),
    "Sauberkeit/Ordnung": (("Frühjahrsputz – Stadt putzt sich", "alle Einwohner", "Stadtverwaltung"),
                           ("Graffiti-Entfernung und legale Sprayflächen", "Jugendliche", "Stadtverwaltung")),
    "Einbruchschutz": (("Einbruchschutzberatung vor Ort", "Hauseigentümer und Mieter", "Polizeiliche Beratungsstelle"),
                       ("Aktionstag Wohnungseinbruch", "alle Einwohner", "Polizeidirektion")),
    "Jugend": (("Mobile Jugendarbeit", "Jugendliche im öffentlichen Raum", "Freier Träger der Jugendhilfe"),
               ("Jugendclub mit offenen Abenden", "Jugendliche", "Jugendverein"),
               ("Jugendbeteiligung – Jugendforum", "Jugendliche", "Stadtverwaltung"),
               ("Mitternachtssport", "Jugendliche und junge Erwachsene", "Sportverein")),
    "Senioren": (("Seniorensicherheitsberater", "Senioren", "Polizeiliche Beratungsstelle / Seniorenbeirat"),
                 ("Vortrag Enkeltrick und Schockanrufe", "Senioren", "Polizeidirektion")),
    "Nachbarschaft": (("Nachbarschaftsfest im Quartier", "Anwohner", "Quartiersmanagement"),
                      ("Quartiersmanagement", "Anwohner", "Stadtverwaltung"),
                      ("Nachbarschaftshilfe-Netzwerk", "alle Einwohner", "Bürgerverein")),
    "Extremismus": (("Demokratieprojekt Partnerschaft für Demokratie", "alle Einwohner", "Stadtverwaltung"),
                    ("Workshop Hass im Netz", "Jugendliche", "Landeszentrale für politische Bildung"),
                    ("Beratung gegen Rechtsextremismus", "Vereine und Schulen", "Mobile Beratung")),
    "Häusliche Gewalt": (("Interventionsstelle häusliche Gewalt", "Betroffene", "Freier Träger"),
                         ("Aktionswoche Gewalt gegen Frauen", "alle Einwohner", "Gleichstellungsbeauftragte")),
    "Cybercrime": (("Medienkompetenz-Elternabend", "Eltern", "Medienpädagogisches Zentrum"),
                   ("Sicher im Netz – Kurs für Senioren", "Senioren", "Volkshochschule")),
    "Sonstiges": (("Präventionsrat – Sitzungen und Öffentlichkeitsarbeit", "alle Einwohner", "Kriminalpräventiver Rat"),),
}


def _prevention(spec: CommuneSpec, polys: dict, rng: np.random.Generator) -> pd.DataFrame:
    rows, k = [], 0
    for topic, count in spec.prevention_topics.items():
        options = PREVENTION_CATALOGUE[topic]
        for j in range(count):
            title, target, provider = options[j % len(options)]
            if j >= len(options):
                title = f"{title} ({j // len(options) + 1})"
            k += 1
            local = rng.random() < 0.45
            lon = lat = None
            district = None
            if local:
                d = spec.districts[int(rng.integers(len(spec.districts)))]
                district = d.id
                a, b = _lonlat(_points_in(polys[d.id], 1, rng))
                lon, lat = float(a[0]), float(b[0])
            since = int(rng.integers(2008, 2025))
            rows.append((f"P{k:03d}", title, topic, target, district, provider, since, lon, lat))
    return pd.DataFrame(rows, columns=["activity_id", "title", "topic", "target_group", "district_id",
                                       "provider", "since_year", "lon", "lat"])


# PKS: disjoint "leaves" (base HZ like Saxony 2022, clearance, attempt share, suspects per cleared case)
PKS_LEAVES = {
    "shop": (380, 0.90, 0.03, 0.85), "simple_other": (700, 0.25, 0.02, 0.9),
    "wed_day": (22, 0.30, 0.40, 0.9), "wed_night": (30, 0.28, 0.45, 0.9),
    "agg_other": (1070, 0.12, 0.10, 0.8), "kv_dang": (150, 0.80, 0.05, 1.2),
    "kv_simple": (365, 0.89, 0.0, 1.05), "kv_other": (25, 0.85, 0.0, 1.0),
    "robbery": (36, 0.62, 0.15, 1.3), "sex_violence": (10, 0.85, 0.1, 1.0),
    "graffiti": (210, 0.13, 0.0, 1.0), "damage_other": (590, 0.30, 0.0, 1.0),
    "fare": (238, 0.99, 0.0, 0.75), "fraud_other": (510, 0.65, 0.10, 0.75),
    "drugs": (335, 0.90, 0.0, 0.95), "other": (1900, 0.80, 0.03, 0.85),
}
# key, label, leaves (sum) or thinning {leaf: share} (cross-cutting keys)
PKS_KEYS = (
    ("000000", "Straftaten insgesamt", tuple(PKS_LEAVES)),
    ("892000", "Gewaltkriminalität", ("robbery", "kv_dang", "sex_violence")),
    ("210000", "Raub, räuberische Erpressung und räuberischer Angriff auf Kraftfahrer §§ 249-252, 255, 316a StGB",
     ("robbery",)),
    ("220000", "Körperverletzung §§ 223-227, 229, 231 StGB", ("kv_dang", "kv_simple", "kv_other")),
    ("222000", "Gefährliche und schwere Körperverletzung, Verstümmelung weiblicher Genitalien §§ 224, 226, 226a, 231 StGB",
     ("kv_dang",)),
    ("224000", "Vorsätzliche einfache Körperverletzung § 223 StGB", ("kv_simple",)),
    ("****00", "Diebstahl insgesamt", ("shop", "simple_other", "wed_day", "wed_night", "agg_other")),
    ("3***00", "Diebstahl ohne erschwerende Umstände §§ 242, 247, 248a-c StGB", ("shop", "simple_other")),
    ("326000", "Einfacher Ladendiebstahl", ("shop",)),
    ("4***00", "Diebstahl unter erschwerenden Umständen §§ 243-244a StGB", ("wed_day", "wed_night", "agg_other")),
    ("435*00", "Wohnungseinbruchdiebstahl §§ 244 Abs. 1 Nr. 3 und Abs. 4, 244a StGB", ("wed_day", "wed_night")),
    ("436*00", "Tageswohnungseinbruchdiebstahl §§ 244 Abs. 1 Nr. 3 und Abs. 4, 244a StGB", ("wed_day",)),
    ("***300", "Diebstahl insgesamt von Fahrrädern einschl. unbefugte Ingebrauchnahme",
     {"simple_other": 0.15, "agg_other": 0.26}),
    ("510000", "Betrug §§ 263, 263a, 264, 264a, 265, 265a-e StGB", ("fare", "fraud_other")),
    ("515001", "Beförderungserschleichung", ("fare",)),
    ("674000", "Sachbeschädigung §§ 303-305a StGB", ("graffiti", "damage_other")),
    ("899500", "Sachbeschädigung durch Graffiti insgesamt", ("graffiti",)),
    ("891000", "Rauschgiftkriminalität", ("drugs",)),
    ("897000", "Cybercrime", {"fraud_other": 0.14, "other": 0.008}),
    ("899000", "Straßenkriminalität", {"simple_other": 0.25, "agg_other": 0.45, "robbery": 0.5,
                                        "kv_dang": 0.35, "graffiti": 0.95, "damage_other": 0.5}),
)
PKS_YEAR = {2019: 1.02, 2020: 0.95, 2021: 0.92, 2022: 0.98, 2023: 1.03, 2024: 1.0}
# Planted stage-1 alarm (issue 10): extra cases in the last year that the early warning should
# flag (Elsterhain: violent crime, about +80 %). Drawn from their own random stream and added
# after the regular draws, so earlier years stay byte-identical. (kind "owi" works the same way.)
# Elbstadt: OWi under the alcohol ban (in force from 2021, earlier years not recorded) about +60 %.
PLANTED_RISES = {"elsterhain": {"pks": {"robbery": 0.8, "kv_dang": 0.8, "sex_violence": 0.8}},
                 "elbstadt": {"owi": {"Alkoholkonsumverbot": 0.6}}}
PLANTED_RISE_YEAR = 2024


def _planted_extra(spec: CommuneSpec, kind: str, what: str, lam: float, year: int) -> int:
    """Extra count planted for one series of a commune (0 when nothing is planted)."""
    factor = PLANTED_RISES.get(spec.commune_id, {}).get(kind, {}).get(what, 0.0)
    if not factor or year != PLANTED_RISE_YEAR:
        return 0
    rng = np.random.default_rng([spec.offset, year, sum(map(ord, kind + what))])
    return int(rng.poisson(lam * factor))


def _pks(spec: CommuneSpec, residents: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    totals = residents.groupby("year")["count"].sum()
    rows = []
    for year in YEARS:
        leaves = {}
        for leaf, (hz, aq, att, susp) in PKS_LEAVES.items():
            f = spec.pks_factor * spec.pks_leaf_factors.get(leaf, 1.0) * PKS_YEAR[year]
            if leaf in ("shop",) and year in (2020, 2021):
                f *= 0.87
            if leaf == "fare" and year in (2020, 2021):
                f *= 0.72
            if leaf == "drugs" and year == 2024:
                f *= 0.62  # Cannabisgesetz from April 2024
            if leaf == "fraud_other":
                f *= 1.04 ** (year - REGISTER_YEAR)
            cases = int(rng.poisson(hz * totals[year] / 1e5 * f))
            cases += _planted_extra(spec, "pks", leaf, hz * totals[year] / 1e5 * f, year)
            cleared = int(rng.binomial(cases, aq))
            attempts = int(rng.binomial(cases, att))
            suspects = int(round(cleared * susp * float(rng.uniform(0.85, 1.15))))
            leaves[leaf] = (cases, attempts, cleared, suspects)
        for key, label, spec_leaves in PKS_KEYS:
            if isinstance(spec_leaves, dict):
                c = a = cl = s = 0
                for leaf, share in spec_leaves.items():
                    lc, la, lcl, ls = leaves[leaf]
                    sub = int(rng.binomial(lc, share))
                    sub_cl = int(rng.hypergeometric(lcl, lc - lcl, sub)) if sub else 0
                    sub_a = int(rng.hypergeometric(la, lc - la, sub)) if sub else 0
                    c, a, cl = c + sub, a + sub_a, cl + sub_cl
                    s += int(round(ls * sub_cl / lcl)) if lcl else 0
                s = int(round(s * 0.9))
            else:
                parts = [leaves[leaf] for leaf in spec_leaves]
                c, a, cl, s = (sum(p[i] for p in parts) for i in range(4))
                if len(parts) > 1:  # a person suspected of several offences is counted once
                    s = int(round(s * (0.7 if key == "000000" else 0.88)))
            rows.append((year, key, label, c, a, cl, s))
    return pd.DataFrame(rows, columns=["year", "key", "label", "cases", "attempts", "cleared", "suspects"])


PMK_RATES = {  # per 100,000 residents and year: Gewalt, Propaganda, Sachbeschädigung, Sonstige
    "rechts": (1.0, 12.0, 2.0, 5.0), "links": (0.6, 0.5, 3.0, 2.0),
    "ausländische Ideologie": (0.2, 0.3, 0.2, 0.8), "religiöse Ideologie": (0.05, 0.1, 0.05, 0.3),
    "sonstige Zuordnung": (0.5, 1.0, 2.0, 6.0),
}
PMK_TYPES = ("Gewaltdelikte", "Propagandadelikte", "Sachbeschädigung", "Sonstige Delikte")


def _pmk(spec: CommuneSpec, residents: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    totals = residents.groupby("year")["count"].sum()
    rows = []
    for year in YEARS:
        for area, rates in PMK_RATES.items():
            for otype, rate in zip(PMK_TYPES, rates):
                lam = rate * totals[year] / 1e5
                if area == "sonstige Zuordnung" and year in (2020, 2021, 2022):
                    lam *= 3.0  # protests during the pandemic
                if area == "links" and otype == "Sachbeschädigung" and spec.kind == "Großstadt":
                    lam *= 2.0
                rows.append((year, area, otype, int(rng.poisson(lam))))
    return pd.DataFrame(rows, columns=["year", "area", "offence_type", "count"])


# ---------------------------------------------------------------------------
# an earlier survey wave (kit.survey.waves; issue 9, item 7)
# ---------------------------------------------------------------------------

# Communes with an earlier wave: label -> planted changes. The earlier wave is an independent
# sample from the same simulated population, whose answers are the current ones except for the
# planted items: in 2021 more people felt unsafe at night (Q05) and fewer saw graffiti as a
# problem (Q04_02); every other item has the same population value in both waves. The 2021
# questionnaire did not yet ask about online reporting (Q20), so its codebook lacks that item.
PREVIOUS_WAVES = {"elsterhain": {"label": "2021", "dropped_items": ["Q20"],
                                 "planted": {"Q05": "higher_then", "Q04_02": "lower_then"}}}


def previous_wave_files(commune_id: str) -> dict[str, str]:
    """File names of the earlier wave a demo commune has (empty dict: none)."""
    wave = PREVIOUS_WAVES.get(commune_id)
    if wave is None:
        return {}
    return {"survey_responses_previous": f"survey_responses_{wave['label']}.csv",
            "survey_codebook_previous": f"survey_codebook_{wave['label']}.yaml"}


def _previous_wave_answers(answers: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The population's answers at the time of the earlier wave (planted changes only)."""
    prev = answers.copy()
    q05 = prev["Q05"].to_numpy().copy()
    u = rng.random(len(q05))
    # more insecurity at night then: about 10 percentage points more 'eher/sehr unsicher'
    q05 = np.where((q05 == 2) & (u < 0.24), 3, np.where((q05 == 3) & (u < 0.15), 4, q05))
    prev["Q05"] = q05
    q = prev["Q04_02"].to_numpy().copy()
    u = rng.random(len(q))
    # graffiti less of a problem then: about 10 points fewer 'ziemliches/großes Problem'
    q = np.where((q == 3) & (u < 0.5), 2, np.where((q == 4) & (u < 0.35), 2, q))
    prev["Q04_02"] = q
    return prev


def _write_previous_wave(spec: CommuneSpec, folder: Path, pop: pd.DataFrame, answers: pd.DataFrame,
                         codebook: dict, seed: int) -> None:
    """Response file and codebook of the commune's earlier wave (own random streams, so the
    current wave's files stay byte-identical)."""
    wave = PREVIOUS_WAVES[spec.commune_id]
    rng = dict(zip(("answers", "survey", "nonresponse"),
                   np.random.default_rng([seed, spec.offset, int(wave["label"])]).spawn(3)))
    prev = _previous_wave_answers(answers, rng["answers"])
    _, resp_idx = _survey(spec, pop, prev, rng["survey"])
    resp = prev.iloc[resp_idx].reset_index(drop=True)
    coded = _apply_nonresponse(resp, pop["age"].to_numpy()[resp_idx], rng["nonresponse"])
    dropped = set(wave["dropped_items"])
    old_codebook = dict(codebook)
    old_codebook["items"] = [it for it in codebook["items"] if it["id"] not in dropped]
    old_codebook["version"] = wave["label"]
    old_codebook["title"] = f"{codebook.get('title', 'Bürgerbefragung')} ({wave['label']})"
    responses = _responses_frame(spec, old_codebook, coded, [""] * len(coded), rng["survey"])
    files = previous_wave_files(spec.commune_id)
    write_csv(responses, folder / files["survey_responses_previous"], spec.style)
    text = yaml.safe_dump(old_codebook, allow_unicode=True, sort_keys=False, width=120)
    (folder / files["survey_codebook_previous"]).write_text(
        f"# Codebuch der Befragung {wave['label']} (Demodaten): wie 2025, ohne "
        f"{', '.join(sorted(dropped))}.\n" + text, encoding="utf-8")


# ---------------------------------------------------------------------------
# orchestration
# ---------------------------------------------------------------------------


def load_codebook_yaml(path: Path = CODEBOOK_PATH) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def input_files(commune_id: str) -> dict[str, str]:
    """File names (relative to the commune folder) of every input the demo writes."""
    spec = SPECS[commune_id]
    names = {"districts": "districts.geojson", "residents": "residents.csv"}
    for key in ("places", "accommodation", "clubs", "owi", "education", "bos", "prevention", "pks"):
        names[key] = f"{key}.xlsx" if key in spec.xlsx else f"{key}.csv"
    if spec.has_pmk:
        names["pmk"] = "pmk.csv"
    names["survey_sample"] = "survey_sample.csv"
    names["survey_responses"] = "survey_responses.sav" if spec.responses_format == "sav" else "survey_responses.csv"
    names.update(previous_wave_files(commune_id))
    if commune_id in DISTRICT_CRIME_COMMUNES:
        names["district_crime"] = DISTRICT_CRIME_FILE
    return names


def generate_commune(spec: CommuneSpec, folder: Path, seed: int, codebook: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    base = np.random.default_rng(seed + spec.offset)
    names = ("geo", "residents", "population", "answers", "survey", "nonresponse", "places", "texts",
             "accommodation", "clubs", "owi", "education", "bos", "prevention", "pks", "pmk", "defects")
    rng = dict(zip(names, base.spawn(len(names))))
    files = input_files(spec.commune_id)
    style = spec.style

    def table(key: str, df: pd.DataFrame, floats: dict[str, int] | None = None) -> None:
        path = folder / files[key]
        if path.suffix == ".xlsx":
            write_xlsx(df, path)
        else:
            write_csv(df, path, style, floats)

    _, _, polys = _district_polygons(spec, rng["geo"])
    write_geojson([(d.id, d.name, polys[d.id]) for d in spec.districts], folder / files["districts"])

    residents, counts = _residents(spec, rng["residents"])
    table("residents", residents)

    pop = _population(spec, counts, rng["population"])
    answers = _simulate_answers(spec, pop, rng["answers"])
    sample, resp_idx = _survey(spec, pop, answers, rng["survey"])
    table("survey_sample", sample)
    resp = answers.iloc[resp_idx].reset_index(drop=True)
    resp_age = pop["age"].to_numpy()[resp_idx]
    coded = _apply_nonresponse(resp, resp_age, rng["nonresponse"])

    places, survey_places = _places(spec, polys, rng["places"])
    texts, mentions = _free_texts(coded, places, survey_places, rng["texts"])
    places["mentions"] = pd.array([int(m) if s == "Befragung" else None
                                   for m, s in zip(mentions, places["source"])], dtype="Int64")
    places = places[["place_id", "name", "category", "district_id", "source", "mentions", "lon", "lat"]]
    table("places", places, {"lon": 6, "lat": 6})

    responses = _responses_frame(spec, codebook, coded, texts, rng["texts"])
    defects: list[dict] = []
    if spec.responses_format == "limesurvey":
        responses, defects = _inject_defects(responses, rng["defects"])
    # response-quality cases (empty, incomplete, speeding, straight-lining; kit.demo_quality, own random stream)
    responses, planted = plant_quality_cases(spec.commune_id, responses, codebook, seed, spec.offset,
                                             {int(d["id"]) for d in defects})
    defects += planted
    resp_path = folder / files["survey_responses"]
    if spec.responses_format == "sav":
        write_sav(responses, resp_path, codebook, {d.id: d.name for d in spec.districts},
                  file_label=f"Bürgerbefragung {spec.name} {SURVEY_YEAR} (Demodaten)")
    else:
        write_csv(responses, resp_path, style)

    if spec.commune_id in PREVIOUS_WAVES:
        _write_previous_wave(spec, folder, pop, answers, codebook, seed)
    table("accommodation", _accommodation(spec, rng["accommodation"]))
    table("clubs", _clubs(spec, rng["clubs"]))
    table("owi", _owi(spec, residents, rng["owi"]))
    table("education", _education(spec, residents, rng["education"]), {"amount_eur": 2, "posts_fte": 1})
    table("bos", _bos(spec, polys, rng["bos"]), {"lon": 6, "lat": 6})
    table("prevention", _prevention(spec, polys, rng["prevention"]), {"lon": 6, "lat": 6})
    pks = _pks(spec, residents, rng["pks"])
    table("pks", pks)
    if spec.commune_id in DISTRICT_CRIME_COMMUNES:
        write_csv(_district_crime(spec, pks, residents, seed), folder / DISTRICT_CRIME_FILE, style)
    if spec.has_pmk:
        table("pmk", _pmk(spec, residents, rng["pmk"]))

    truth = _truth(spec, pop, answers)
    truth["survey"] = {"issued": int(sample["issued"].sum()), "returned": int(sample["returned"].sum()),
                       "response_rate": round(float(sample["returned"].sum() / sample["issued"].sum()), 6),
                       "response_file_rows": int(len(responses))}
    truth["deliberate_defects"] = defects
    truth["prevention_gaps"] = sorted(set(PREVENTION_CATALOGUE) - set(spec.prevention_topics))
    (folder / "_truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    return folder


def generate_demo(out_dir: Path, seed: int = DEFAULT_SEED, communes: list[str] | None = None) -> dict[str, Path]:
    """Write the demo inputs of the given communes (default: all three) to
    ``out_dir/<commune_id>/`` and return the folder per commune.

    The same seed gives byte-identical files.
    """
    out_dir = Path(out_dir)
    communes = list(DEMO_COMMUNES if communes is None else communes)
    unknown = [c for c in communes if c not in SPECS]
    if unknown:
        raise ParamsError(f"Unbekannte Demo-Kommune(n): {', '.join(unknown)} "
                         f"(verfügbar: {', '.join(DEMO_COMMUNES)})")
    codebook = load_codebook_yaml()
    return {c: generate_commune(SPECS[c], out_dir / c, int(seed), codebook) for c in communes}


def ensure_demo_data(params: dict) -> None:
    """Built-in demo communes generate their data on first use (batch run, or a stage notebook
    opened in JupyterLab on a fresh clone). Written to a sibling folder first and renamed, so a
    half-written folder never looks complete and two processes starting at once do not mix."""
    if not params.get("demo"):
        return
    data_dir = Path(params["data_dir"])
    if data_dir.is_dir() and any(data_dir.iterdir()):
        # present: used as it is. A missing file is reported by the stage that needs it, never
        # silently generated (`python -m kit demo` regenerates the demo data on purpose).
        return
    if params["commune_id"] not in SPECS:
        raise KitError(f"Parameterdatei {params['params_file']}: 'demo: true', aber '{params['commune_id']}' ist "
                       f"keine Demo-Kommune (verfügbar: {', '.join(SPECS)}).")
    import os
    import shutil
    import tempfile

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}-", dir=data_dir.parent))
    try:
        generate_commune(SPECS[params["commune_id"]], staging, DEFAULT_SEED, load_codebook_yaml())
        if data_dir.exists() and not any(data_dir.iterdir()):
            data_dir.rmdir()
        try:
            os.rename(staging, data_dir)
        except OSError:
            if not (data_dir.exists() and any(data_dir.iterdir())):
                raise  # not a concurrent generation that finished first
    finally:
        shutil.rmtree(staging, ignore_errors=True)
