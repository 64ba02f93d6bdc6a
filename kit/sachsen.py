"""All Saxon communes as one batch from real public data (issue 12, item 4).

``python -m kit sachsen`` calls :func:`build_sachsen` and then :func:`kit.runner.run_batch`.
The builder reads the real files in ``../shared/realdata`` (never copied into the repository,
see its SOURCES.md) and writes, per VG250 Gemeinde, a small data folder and a params file:

- ``<folder>/<id>/districts.geojson``: the commune's VG250 boundary as its single district
  (id = AGS), coordinates as in the source file;
- ``<folder>/<id>/residents.csv``: residents 31.12.2021 by sex from the Destatis register
  (Gemeindeverzeichnis, rows of Satzart 60); no age groups (the profile says what it cannot show);
- ``<folder>/<id>/pks.csv`` (communes in a Landkreis only): a SYNTHETIC PKS: per year and key
  the Kreis's rate (cases, attempts, cleared cases, suspects per resident of the BKA Kreis table
  2020 and 2022) times the commune's population, rounded. The commune's own PKS is not public;
  the params mark this input ``synthetic: true`` and its ``source`` says what it is.
  The three kreisfreie Städte read their real PKS from the BKA tables (``format: bka``);
- ``<folder>/params/<id>.yaml``: the commune's params (real AGS and name, Kreis context from the
  Deutschlandatlas, sources credited per input: ``source`` and, for the files cut out of or computed
  from the real data, ``derived_from`` (kit.sources credits their data set and licence), no survey
  unless ``survey=True``).

The join of the register (419 Saxon rows, Gebietsstand 31.12.2021) with the boundaries (418,
after the merger of Ostrau and Zschaitz-Ottewig into Jahnatal on 1 January 2023) is written as
``<folder>/abgleich.csv`` and ``abgleich.md`` (:func:`join_report_markdown`). Every file is
written only when its bytes change, so a second build changes nothing and the runner skips
unchanged communes.

Numbers come from :func:`join_communes`, :func:`kreis_rates` and :func:`synthetic_pks`
(DataFrames); the German texts of the join report and of the params comments are made here, as
kit.demo does for the demo communes' params.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from kit.errors import InputError, KitError, MissingFolderError, Problem, missing_file
from kit.io import xlsx_sheet
from kit.params import REPO_ROOT

REALDATA = REPO_ROOT.parent / "shared" / "realdata"
DEFAULT_FOLDER = REPO_ROOT / "data" / "sachsen"
DEFAULT_OUTPUT = REPO_ROOT / "output" / "sachsen"

# files inside the realdata folder (SOURCES.md)
GEOMETRY_FILE = "geo/derived_sachsen_gemeinden_vg250.geojson"
REGISTER_FILE = "population/31122021_Auszug_GV.xlsx"
REGISTER_SHEET = "Onlineprodukt_Gemeinden"
BKA_FILES: tuple[tuple[str, int], ...] = (("pks/2020_KR-F-01-T01-Kreise-Faelle-HZ_xls.xlsx", 2020),
                                          ("pks/2022_KR-F-01-T01-Kreise-Faelle-HZ_csv.csv", 2022))
ATLAS_FILE = "context/Deutschlandatlas-Daten_Stand2024-12.xlsx"
ATLAS_SHEET = "Deutschlandatlas_KRS1222"
CONTEXT_FILE = "kreis_kontext.xlsx"  # per commune: header and the Kreis's row of ATLAS_SHEET

# attribution lines (SOURCES.md)
SOURCE_GEOMETRY = "© GeoBasis-DE / BKG (Daten verändert); Verwaltungsgebiete VG250, dl-de/by-2-0"
SOURCE_REGISTER = "© Statistisches Bundesamt (Destatis), 2022; Gemeindeverzeichnis, Gebietsstand 31.12.2021"
SOURCE_PKS = ("Quelle: Polizeiliche Kriminalstatistik (PKS), Bundeskriminalamt, Berichtsjahr 2020/2022, "
              "Version 1.0")
SOURCE_ATLAS = "Deutschlandatlas, BMWSB/BBSR, Stand 12/2024"

LAND = "14"
REGISTER_YEAR = 2021
# Destatis "Textkennzeichen" of Satzart 60 -> kind of commune
COMMUNE_KINDS = {"60": "Markt", "61": "Kreisfreie Stadt", "63": "Stadt", "64": "Gemeinde",
                 "67": "Große Kreisstadt"}
KREISFREI = "61"


@dataclass(frozen=True)
class Merger:
    """A key change after the register's Gebietsstand: ``parts`` merged into ``ags``."""

    ags: str
    name: str
    parts: tuple[tuple[str, str], ...]  # (AGS, name) of the former communes
    date: str  # in German form, e.g. 01.01.2023


# Known key changes between the register (31.12.2021) and the boundaries. A boundary without
# register row that is not explained here stays out of the batch and is named in the join report.
MERGERS: tuple[Merger, ...] = (
    Merger("14522275", "Jahnatal", (("14522450", "Ostrau"), ("14522620", "Zschaitz-Ottewig")), "01.01.2023"),
)

# join status codes (abgleich.csv)
MATCHED = "matched"              # one boundary, one register row
MERGED = "merged"                # boundary of a merger: population = sum of its former communes
MERGED_PART = "merged_part"      # register row of a former commune (in MERGED)
NO_REGISTER = "no_register_row"  # boundary without register row, no known merger: not built
NO_BOUNDARY = "no_boundary"      # register row without boundary, no known merger
JOIN_COLUMNS = ["ags", "name", "name_register", "kreis_key", "status", "register_rows", "population",
                "male", "female", "merged_into", "built"]


# ---------------------------------------------------------------------------
# reading the real files
# ---------------------------------------------------------------------------

def require_realdata(realdata: str | Path = REALDATA) -> Path:
    """The realdata folder, or MissingFolderError (one German line) when it or a needed file is absent."""
    root = Path(realdata)
    if not root.is_dir():
        raise MissingFolderError(
            f"Der Datenordner {root} fehlt: die echten öffentlichen Daten (../shared/realdata neben dem "
            "Kit-Ordner) gehören nicht zum Kit und müssen dort bereitliegen, sonst lassen sich die sächsischen "
            "Gemeinden nicht aufbauen.")
    missing = [f for f in (GEOMETRY_FILE, REGISTER_FILE, ATLAS_FILE, *(p for p, _ in BKA_FILES))
               if not (root / f).is_file()]
    if missing:
        raise MissingFolderError(f"Im Datenordner {root} fehlen: {', '.join(missing)} (siehe SOURCES.md dort).")
    return root


def read_boundaries(path: str | Path) -> list[dict]:
    """The Saxon Gemeinden of the VG250 GeoJSON: list of {ags, name, geometry} (geometry as
    GeoJSON dict, coordinates untouched), in file order."""
    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Gemeindegrenzen (VG250, GeoJSON)")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(Problem(file=str(path), value=str(exc)[:80], expected="lesbare GeoJSON-Datei")) from None
    out, problems = [], []
    for i, feat in enumerate(doc.get("features") or []):
        props = feat.get("properties") or {}
        ags, name = str(props.get("AGS") or ""), str(props.get("GEN") or "").strip()
        if not re.fullmatch(r"\d{8}", ags) or not name:
            problems.append(Problem(file=str(path), row=i + 1, column="AGS/GEN", value=f"{ags} {name}",
                                    expected="8-stelliger Amtlicher Gemeindeschlüssel und Gemeindename"))
            continue
        if ags.startswith(LAND):
            out.append({"ags": ags, "name": name, "geometry": feat.get("geometry")})
    if problems:
        raise InputError(problems)
    return out


_REGISTER_HEADER = {0: "satzart", 2: "amtlicherregionalschluessel", 7: "gemeindename", 9: "bevoelkerung"}


def _norm(text) -> str:
    s = "" if text is None else str(text).lower()
    for a, b in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        s = s.replace(a, b)
    return re.sub(r"[^a-z0-9]", "", s)


def read_register(path: str | Path, land: str = LAND) -> pd.DataFrame:
    """The Gemeinden (Satzart 60) of one Land from the Destatis Gemeindeverzeichnis extract
    (GV-ISys, sheet ``Onlineprodukt_Gemeinden``): ags, name, kind_code (Textkennzeichen),
    kreis_key, area_km2, population, male, female (31.12.2021), row (row number in the sheet).
    ``attrs["kreis_names"]``: {Kreis key: name} from the Satzart 40 rows."""
    path = Path(path)
    with xlsx_sheet(path, REGISTER_SHEET, "Gemeindeverzeichnis (Destatis, XLSX)") as ws:
        rows = list(ws.iter_rows(values_only=True))
    header = next((i for i, r in enumerate(rows[:20]) if _norm(r[0]).startswith("satz")), None)
    if header is None:
        raise InputError(Problem(file=str(path), column="Satzart", expected=(
            "Kopfzeile des Gemeindeverzeichnisses mit 'Satzart' in Spalte A (GV-ISys-Auszug)")))
    for col, want in _REGISTER_HEADER.items():
        got = _norm(rows[header][col] if col < len(rows[header]) else "")
        if not got.startswith(want[:10]):
            raise InputError(Problem(file=str(path), row=header + 1, column=f"Spalte {col + 1}",
                                     value=rows[header][col] if col < len(rows[header]) else "",
                                     expected=f"Spaltenkopf '{want}' wie im GV-ISys-Auszug"))
    records, kreise, problems = [], {}, []
    for i, r in enumerate(rows[header + 1:], start=header + 2):
        satzart = str(r[0] or "").strip()
        if str(r[2] or "").strip() != land:
            continue
        if satzart == "40":
            kreise[f"{r[2]}{r[3]}{r[4]}"] = str(r[7] or "").strip()
        if satzart != "60":
            continue
        ags = f"{r[2]}{r[3]}{r[4]}{r[6]}"
        values = []
        for col, what in ((9, "Bevölkerung insgesamt"), (10, "männlich"), (11, "weiblich")):
            v = r[col]
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                problems.append(Problem(file=str(path), row=i, column=what, value=v, expected="ganze Zahl ≥ 0"))
                v = 0
            values.append(v)
        if not re.fullmatch(r"\d{8}", ags):
            problems.append(Problem(file=str(path), row=i, column="Amtlicher Regionalschlüssel", value=ags,
                                    expected="Land, RB, Kreis und Gemeinde ergeben 8 Ziffern"))
        elif values[0] != values[1] + values[2]:
            problems.append(Problem(file=str(path), row=i, column="Bevölkerung insgesamt", value=values[0],
                                    expected=f"männlich + weiblich = {values[1] + values[2]}"))
        records.append({"ags": ags, "name": str(r[7] or "").strip(), "kind_code": str(r[1] or "").strip(),
                         "kreis_key": ags[:5], "area_km2": float(r[8] or 0.0), "population": values[0],
                         "male": values[1], "female": values[2], "row": i})
    if problems:
        raise InputError(problems)
    if not records:
        raise InputError(Problem(file=str(path), column="Satzart", value=land,
                                 expected=f"Zeilen der Satzart 60 (Gemeinden) des Landes {land}"))
    out = pd.DataFrame(records)
    out.attrs["kreis_names"] = kreise
    out.attrs["source"] = str(path)
    return out


def read_atlas_sheet(path: str | Path, land: str = LAND, sheet: str = ATLAS_SHEET) -> tuple[list, dict[str, tuple]]:
    """The header and the rows of the Land's Kreise of the Deutschlandatlas Kreis sheet:
    (header, {5-digit Kreis key: row as in the file}). The key column holds the Kreis key with
    three zeros and without leading zero (14612000)."""
    path = Path(path)
    with xlsx_sheet(path, sheet, "Deutschlandatlas-Daten (XLSX)") as ws:
        rows = ws.iter_rows(values_only=True)
        header = list(next(rows))
        kreise = {}
        for row in rows:
            key = row[0]
            if isinstance(key, (int, float)) and not isinstance(key, bool) and str(int(key)).startswith(land) \
                    and int(key) % 1000 == 0:
                kreise[str(int(key) // 1000)] = tuple(row)
    return header, kreise


def _xlsx_bytes(header: list, rows: list[tuple], sheet: str) -> bytes:
    """A small XLSX (one sheet) with fixed timestamps (kit.demo.write_xlsx), as bytes."""
    import tempfile

    from kit.demo import write_xlsx

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "t.xlsx"
        write_xlsx(pd.DataFrame(list(rows), columns=[str(h) for h in header]), target, sheet=sheet)
        return target.read_bytes()


# ---------------------------------------------------------------------------
# the join: register rows beside boundaries
# ---------------------------------------------------------------------------

def join_communes(boundaries: Sequence[dict], register: pd.DataFrame,
                  mergers: Iterable[Merger] = MERGERS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Register rows joined to the boundaries by AGS.

    Returns (communes, report). ``communes``: one row per boundary that has a population (ags,
    name from the boundary, name_register, kind_code, kreis_key, population, male, female,
    status MATCHED or MERGED, parts: AGS of merged register rows, geometry). ``report``: one row
    per boundary and per register row without boundary (columns :data:`JOIN_COLUMNS`),
    sorted by AGS; register rows of a merger follow their new commune."""
    reg = register.set_index("ags", drop=False)
    by_new = {m.ags: m for m in mergers}
    part_of = {a: m for m in mergers for a, _ in m.parts}
    boundary_keys = {b["ags"] for b in boundaries}
    communes, report = [], []
    used: set[str] = set()
    for b in sorted(boundaries, key=lambda b: b["ags"]):
        ags = b["ags"]
        base = {"ags": ags, "name": b["name"], "kreis_key": ags[:5]}
        if ags in reg.index:
            r = reg.loc[ags]
            used.add(ags)
            communes.append({**base, "name_register": r["name"], "kind_code": r["kind_code"], "status": MATCHED,
                             "population": int(r["population"]), "male": int(r["male"]), "female": int(r["female"]),
                             "parts": (), "geometry": b["geometry"]})
            report.append({**base, "name_register": r["name"], "status": MATCHED, "register_rows": 1,
                           "population": int(r["population"]), "male": int(r["male"]), "female": int(r["female"]),
                           "merged_into": "", "built": True})
            continue
        merger = by_new.get(ags)
        parts = [a for a, _ in merger.parts if a in reg.index and a not in boundary_keys] if merger else []
        if merger and len(parts) == len(merger.parts):
            rows = reg.loc[parts]
            used.update(parts)
            kinds = set(rows["kind_code"])
            pop = {k: int(rows[k].sum()) for k in ("population", "male", "female")}
            communes.append({**base, "name_register": " + ".join(rows["name"]), "status": MERGED,
                             "kind_code": kinds.pop() if len(kinds) == 1 else "64", **pop,
                             "parts": tuple(parts), "geometry": b["geometry"]})
            report.append({**base, "name_register": " + ".join(rows["name"]), "status": MERGED,
                           "register_rows": len(parts), **pop, "merged_into": "", "built": True})
            for a in parts:
                r = reg.loc[a]
                report.append({"ags": a, "name": r["name"], "name_register": r["name"], "kreis_key": a[:5],
                               "status": MERGED_PART, "register_rows": 1, "population": int(r["population"]),
                               "male": int(r["male"]), "female": int(r["female"]), "merged_into": ags,
                               "built": False})
            continue
        report.append({**base, "name_register": "", "status": NO_REGISTER, "register_rows": 0,
                       "population": pd.NA, "male": pd.NA, "female": pd.NA, "merged_into": "", "built": False})
    for ags in sorted(set(reg.index) - used):
        r = reg.loc[ags]
        m = part_of.get(ags)
        report.append({"ags": ags, "name": r["name"], "name_register": r["name"], "kreis_key": ags[:5],
                       "status": NO_BOUNDARY, "register_rows": 1, "population": int(r["population"]),
                       "male": int(r["male"]), "female": int(r["female"]),
                       "merged_into": m.ags if m else "", "built": False})
    rep = pd.DataFrame(report, columns=JOIN_COLUMNS)
    for col in ("population", "male", "female"):
        rep[col] = rep[col].astype("Int64")
    return pd.DataFrame(communes), rep


# ---------------------------------------------------------------------------
# Kreis PKS and the synthetic commune PKS
# ---------------------------------------------------------------------------

RATE_COLUMNS = ["year", "key", "label", "cases", "attempts", "cleared", "suspects", "population", "region_key",
                "region_name", "kreisart", "hz_bka"]
PKS_COLUMNS = ["year", "key", "label", "cases", "attempts", "cleared", "suspects"]


def kreis_rates(files: Iterable[tuple[Path, int]], land: str = LAND) -> pd.DataFrame:
    """Every key of every Kreis of the Land in the BKA tables, with the population behind the
    BKA's HZ (2020: column EW, 31.12.2019; 2022: cases × 100.000 / HZ of the total row,
    31.12.2021; :func:`kit.profile.bka._kreis_population`). Columns :data:`RATE_COLUMNS`."""
    from kit.profile.bka import _kreis_population, read_bka_all

    parts = []
    for path, year in files:
        table = read_bka_all(path, year)
        table = table[table["region_key"].str[:2] == land]
        pop = _kreis_population(table, Path(path)).set_index("region_key")["population"]
        parts.append(table.assign(population=table["region_key"].map(pop).astype("int64"))[RATE_COLUMNS])
    out = pd.concat(parts, ignore_index=True)
    out["region_key"] = out["region_key"].astype(str)
    out["key"] = out["key"].astype(str)
    return out


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(x, dtype=float) + 0.5).astype("int64")


def synthetic_pks(rates: pd.DataFrame, kreis_key: str, population: int) -> pd.DataFrame:
    """The commune's synthetic PKS: per year and key of its Kreis the Kreis's cases, attempts,
    cleared cases and suspects per resident times ``population``, rounded half up (so a key
    never exceeds a key that contains it, nor cleared cases the cases). Columns
    :data:`PKS_COLUMNS`, in the order of the BKA table."""
    k = rates[rates["region_key"] == str(kreis_key)]
    if k.empty:
        raise KitError(f"Kreis {kreis_key} fehlt in den BKA-Kreistabellen; die PKS der Gemeinde kann nicht aus "
                       "den Kreisraten geschätzt werden.")
    share = float(population) / k["population"].astype(float).to_numpy()
    out = pd.DataFrame({"year": k["year"].astype(int).to_numpy(), "key": k["key"].to_numpy(),
                        "label": k["label"].astype(str).to_numpy()})
    for col in ("cases", "attempts", "cleared", "suspects"):
        values = k[col].astype(float).fillna(0.0).to_numpy()
        out[col] = _round_half_up(values * share)
    return out[PKS_COLUMNS]


# ---------------------------------------------------------------------------
# optional: a synthetic survey (python -m kit sachsen --mit-befragung)
# ---------------------------------------------------------------------------

# demo commune whose survey model a commune of this many residents borrows (kit.demo.SPECS)
SURVEY_TEMPLATES: tuple[tuple[int, str], ...] = ((20000, "muldenau"), (100000, "elsterhain"))
SURVEY_LARGE = "elbstadt"
SURVEY_FRAME_CAP = 40000   # at most this many simulated residents (a scaled copy of the population)
SURVEY_SEED = 20261125


def synthetic_survey(c: dict) -> dict[str, pd.DataFrame]:
    """A made-up survey for a real commune (only with ``--mit-befragung``), from the demo
    generator's survey model (:mod:`kit.demo`): residents 31.12.2021 whose totals by sex are the
    register's and whose age groups and nationality follow the demo commune of similar size
    (weighting needs age groups, the register has none), a simulated population of at most
    :data:`SURVEY_FRAME_CAP` residents, the drawn sample and the coded answers.
    Returns {"residents", "survey_responses", "survey_sample"}; all marked synthetic in the params."""
    from dataclasses import replace

    from kit import demo

    template = next((t for limit, t in SURVEY_TEMPLATES if c["population"] < limit), SURVEY_LARGE)
    base = demo.SPECS[template]
    district = demo.District(c["ags"], c["name"], 1.0, 0.0, 0.3, 1.0, 0, 0.0)
    spec = replace(base, commune_id=commune_id(c["ags"], c["name"]), name=c["name"], population=int(c["population"]),
                   growth=0.0, districts=(district,), responses_format="csv")
    rng = dict(zip(("residents", "population", "answers", "survey", "nonresponse", "texts"),
                   np.random.default_rng([SURVEY_SEED, int(c["ags"])]).spawn(6)))
    _, counts = demo._residents(spec, rng["residents"])  # (district, age group, sex m/w/d, nationality)
    counts[:, :, 2, :] = 0  # the register counts men and women only
    for s, total in ((0, c["male"]), (1, c["female"])):
        cell = counts[0, :, s, :].astype(float).ravel() + 1e-9
        counts[0, :, s, :] = demo._largest_remainder(int(total), cell).reshape(counts[0, :, s, :].shape)
    rows = [(REGISTER_YEAR, c["ags"], ag, sex, nat, int(counts[0, a, s, k]))
            for a, ag in enumerate(demo.REGISTER_AGE_GROUPS) for s, sex in enumerate(("m", "w"))
            for k, nat in enumerate(("deutsch", "nichtdeutsch"))]
    residents = pd.DataFrame(rows, columns=["year", "district_id", "age_group", "sex", "nationality", "count"])
    frame = counts
    if counts.sum() > SURVEY_FRAME_CAP:
        frame = demo._largest_remainder(SURVEY_FRAME_CAP, counts.astype(float).ravel()).reshape(counts.shape)
    pop = demo._population(spec, frame, rng["population"])
    answers = demo._simulate_answers(spec, pop, rng["answers"])
    adults = int(pop["sex"].isin(["m", "w"]).sum())
    spec = replace(spec, issued=int(min(base.issued, max(50, adults // 4))))
    sample, resp_idx = demo._survey(spec, pop, answers, rng["survey"])
    resp = answers.iloc[resp_idx].reset_index(drop=True)
    coded = demo._apply_nonresponse(resp, pop["age"].to_numpy()[resp_idx], rng["nonresponse"])
    responses = demo._responses_frame(spec, demo.load_codebook_yaml(), coded, [""] * len(coded), rng["texts"])
    return {"residents": residents, "survey_responses": demo._format_frame(responses, ".", {}),
            "survey_sample": sample}


# ---------------------------------------------------------------------------
# writing one commune
# ---------------------------------------------------------------------------

_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "ae", "Ö": "oe", "Ü": "ue"})


def commune_id(ags: str, name: str) -> str:
    """Folder name of a commune: AGS and a plain-ASCII slug of its name, e.g. 14522275-jahnatal."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.translate(_TRANSLIT).lower()).strip("-")
    return f"{ags}-{slug}" if slug else ags


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` atomically unless the file already holds exactly these bytes."""
    from kit.results import atomic_write_bytes

    if path.exists() and path.read_bytes() == data:
        return False
    atomic_write_bytes(path, data)
    return True


def _csv_bytes(df: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    df.to_csv(buf, sep=";", index=False, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    return buf.getvalue().encode("utf-8")


def _geojson_bytes(ags: str, name: str, geometry: dict) -> bytes:
    doc = {"type": "FeatureCollection", "name": f"Gemeinde {ags}",
           "features": [{"type": "Feature", "properties": {"district_id": ags, "district_name": name},
                         "geometry": geometry}]}
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _inside_repo(path: Path) -> bool:
    try:
        path.resolve().relative_to(REPO_ROOT.resolve())
        return True
    except ValueError:
        return False


def _as_param_path(path: Path) -> str:
    """A folder for params: relative to the kit's folder where it lies below the kit's parent
    (e.g. ../shared/realdata), else absolute."""
    path = path.resolve()
    try:
        return os.path.relpath(path, REPO_ROOT.resolve()) if path.is_relative_to(REPO_ROOT.resolve().parent) \
            else str(path)
    except ValueError:
        return str(path)


def _fmt_int(x) -> str:
    return f"{int(x):,}".replace(",", ".")


@dataclass
class Built:
    """What :func:`build_sachsen` made (numbers; the CLI words them)."""

    folder: Path
    params_files: list[Path] = field(default_factory=list)  # the selection, sorted by AGS
    communes: pd.DataFrame | None = None                    # every commune built (all 418)
    join: pd.DataFrame | None = None                        # the join report rows
    written: int = 0                                        # files whose bytes changed
    register_rows: int = 0
    boundaries: int = 0


def _params_text(c: dict, cid: str, data_dir: str, realdata_param: str, files_rel: dict[str, str],
                 kreis_name: str, hashes: dict[str, str], survey: dict | None) -> str:
    """The params YAML of one commune (German comments; deterministic)."""
    kreisfrei = c["kind_code"] == KREISFREI
    kind = COMMUNE_KINDS.get(c["kind_code"], "Gemeinde")
    pop = _fmt_int(c["population"])
    inputs: dict = {
        "districts": {"path": "districts.geojson", "source": SOURCE_GEOMETRY,
                      "derived_from": [files_rel[GEOMETRY_FILE]]},
        "residents": {"path": "residents.csv", "source": SOURCE_REGISTER, "derived_from": [files_rel[REGISTER_FILE]]},
    }
    if c["status"] == MERGED:
        inputs["residents"]["source"] = (f"{SOURCE_REGISTER} (Summe der Gemeinden "
                                         f"{' und '.join(c['name_register'].split(' + '))}, die am "
                                         f"{_merger(c['ags']).date} zu {c['name']} zusammengeschlossen wurden)")
    if survey:
        inputs["residents"] = {"path": "residents.csv", "source": (
            f"Gesamtzahl und Geschlecht: {SOURCE_REGISTER}; Altersgruppen und Staatsangehörigkeit synthetisch "
            "(Demo-Generator des Kits, keine echten Daten)"), "derived_from": [files_rel[REGISTER_FILE]]}
        inputs["residents"]["synthetic"] = True
    if kreisfrei:
        inputs["pks"] = {"format": "bka", "key": c["kreis_key"],
                         "files": [{"path": files_rel[p], "year": y} for p, y in BKA_FILES],
                         "source": SOURCE_PKS}
    else:
        inputs["pks"] = {"path": "pks.csv", "source": (
            f"Synthetisch, keine echten Zahlen der Gemeinde: Raten {_genitive(kreis_name)} aus der PKS des BKA "
            f"(Kreistabellen 2020 und 2022) × {pop} Einwohner der Gemeinde (31.12.2021); {SOURCE_PKS}"),
            "synthetic": True, "derived_from": [files_rel[p] for p, _ in BKA_FILES]}
    inputs["context"] = {"path": CONTEXT_FILE, "format": "deutschlandatlas", "sheet": ATLAS_SHEET,
                         "source": f"{SOURCE_ATLAS} (Zeile des Kreises aus dem Tabellenblatt KRS1222)",
                         "derived_from": [files_rel[ATLAS_FILE]]}
    if kreisfrei:
        notes = (f"{kind} (zugleich ein Kreis); echte öffentliche Daten: Gemeindegrenze (VG250), Einwohner "
                 f"31.12.2021 nach Geschlecht (Gemeindeverzeichnis), PKS der Stadt aus den BKA-Kreistabellen 2020 "
                 "und 2022, Kreisdaten des Deutschlandatlas.")
    else:
        notes = (f"{kind} im {kreis_name}; echt: Gemeindegrenze (VG250), Einwohner 31.12.2021 nach Geschlecht "
                 f"(Gemeindeverzeichnis), Vergleichswerte des Kreises und Sachsens (BKA-Kreistabellen 2020 und 2022), "
                 "Kreisdaten des Deutschlandatlas. SYNTHETISCH: die PKS der Gemeinde (die Polizei veröffentlicht "
                 "keine Gemeindezahlen; geschätzt als Kreisrate × Einwohnerzahl, daher gleicht ihre "
                 "Häufigkeitszahl der des Kreises und sagt nichts über die Gemeinde selbst).")
    if c["status"] == MERGED:
        m = _merger(c["ags"])
        notes += (f" {c['name']} entstand am {m.date} aus " + " und ".join(f"{n} ({a})" for a, n in m.parts)
                  + f"; die Einwohnerzahl ist die Summe ihrer beiden Zeilen im Gemeindeverzeichnis ({pop}).")
    if survey:
        notes += (" Die Bürgerbefragung und die Altersgruppen der Einwohner sind SYNTHETISCH (Demo-Generator): "
                  "keine Befunde über die Gemeinde.")
    else:
        notes += " Keine Bürgerbefragung (Stufe 2 entfällt)."
    doc: dict = {"commune_id": cid, "name": c["name"], "ags": c["ags"], "kind": kind}
    if not kreisfrei:
        doc["landkreis"] = kreis_name
    doc.update({"data_dir": data_dir, "allowed_roots": [realdata_param], "notes": notes, "inputs": inputs})
    if survey:
        doc["survey"] = survey
    head = [f"# {c['name']} ({c['ags']}): erzeugt von `python -m kit sachsen` (kit/sachsen.py), nicht von Hand ändern.",
            "# Echte öffentliche Daten aus ../shared/realdata (SOURCES.md dort); synthetische Eingaben sind mit",
            "# 'synthetic: true' markiert und ihre Quellenangabe sagt, was sie sind.",
            "# Quelldateien (SHA-256, erste 16 Zeichen; ändert sich eine, rechnet der nächste Lauf neu):"]
    head += [f"#   {name}: {digest[:16]}" for name, digest in sorted(hashes.items())]
    body = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=110, default_flow_style=False)
    return "\n".join(head) + "\n" + body


def _merger(ags: str) -> Merger:
    return next(m for m in MERGERS if m.ags == ags)


def _genitive(kreis_name: str) -> str:
    """'Landkreis Mittelsachsen' -> 'des Landkreises Mittelsachsen', 'Erzgebirgskreis' -> 'des Erzgebirgskreises'."""
    if kreis_name.startswith("Landkreis "):
        return "des Landkreises " + kreis_name[len("Landkreis "):]
    if kreis_name.endswith("kreis"):
        return f"des {kreis_name}es"
    return f"des Kreises {kreis_name}"


_SOURCE_CACHE: dict[tuple, object] = {}


def _cached(what: str, read, path: Path, *args):
    """``read(path, *args)`` once per process while the file is unchanged (size, mtime): a second
    build in the same process (tests, an interactive session) does not parse the 8-s BKA table
    again. The result is shared: callers must not change it."""
    stat = Path(path).stat()
    key = (what, str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns, args)
    if key not in _SOURCE_CACHE:
        _SOURCE_CACHE[key] = read(path, *args)
    return _SOURCE_CACHE[key]


def read_sources(realdata: str | Path = REALDATA) -> tuple[list[dict], pd.DataFrame]:
    """The boundaries (:func:`read_boundaries`) and the register (:func:`read_register`) of the
    realdata folder, read once per process while the files are unchanged."""
    root = require_realdata(realdata)
    return (_cached("boundaries", read_boundaries, root / GEOMETRY_FILE),
            _cached("register", read_register, root / REGISTER_FILE))


def build_sachsen(realdata: str | Path = REALDATA, folder: str | Path = DEFAULT_FOLDER,
                  auswahl: Sequence[str] | None = None, survey: bool = False) -> Built:
    """Build every Saxon commune (or the AGS in ``auswahl``) into ``folder``; the join report
    covers all of them. Raises MissingFolderError when the real data are absent and KitError
    for an AGS of ``auswahl`` that is no commune of the batch."""
    root = require_realdata(realdata)
    folder = Path(folder)
    boundaries, register = read_sources(root)
    communes, join = join_communes(boundaries, register)
    built = Built(folder=folder, communes=communes, join=join, register_rows=len(register),
                  boundaries=len(boundaries))
    wanted = list(dict.fromkeys(str(a).strip() for a in (auswahl or [])))
    if wanted:
        known = set(communes["ags"])
        unknown = [a for a in wanted if a not in known]
        if unknown:
            hint = {r.ags: r for r in join.itertuples()}
            why = [f"{a} ({hint[a].name}, aufgegangen in {hint[a].merged_into})" if a in hint and hint[a].merged_into
                   else a for a in unknown]
            raise KitError(f"Unbekannte Gemeindeschlüssel in --auswahl: {', '.join(why)}; erwartet: 8-stellige "
                           f"AGS einer der {len(communes)} sächsischen Gemeinden (z. B. 14612000 für Dresden).")
        selected = communes[communes["ags"].isin(wanted)]
    else:
        selected = communes
    rates = pd.concat([_cached("bka", lambda path, year: kreis_rates([(path, year)]), root / p, y)
                       for p, y in BKA_FILES], ignore_index=True)
    header, atlas = _cached("atlas", read_atlas_sheet, root / ATLAS_FILE)
    context_bytes = {k: _xlsx_bytes(header, [atlas[k]], ATLAS_SHEET) for k in sorted(set(selected["kreis_key"]))
                     if k in atlas}
    no_context = sorted(set(selected["kreis_key"]) - set(context_bytes))
    if no_context:
        raise InputError(Problem(file=str(root / ATLAS_FILE), column=ATLAS_SHEET, value=", ".join(no_context),
                                 expected="eine Zeile je sächsischem Kreis"))
    from kit.profile.reference import kreis_for_ags

    kreis_names = {k: kreis_for_ags(k + "000").region_name or register.attrs["kreis_names"].get(k, k)
                   for k in sorted(set(communes["kreis_key"]))}
    hashes = {f: _cached("sha256", _sha256, root / f) for f in (REGISTER_FILE, ATLAS_FILE, *(p for p, _ in BKA_FILES))}
    realdata_param = _as_param_path(root)
    written = 0
    params_dir = folder / "params"
    for c in selected.to_dict("records"):
        cid = commune_id(c["ags"], c["name"])
        data_dir = folder / cid
        # file names relative to data_dir inside the kit's folder (portable), else absolute; the BKA files
        # are read, the others credited as what the commune's files were cut out of (inputs.*.derived_from)
        files_rel = {f: (os.path.relpath((root / f).resolve(), data_dir.resolve()) if _inside_repo(data_dir)
                         else str((root / f).resolve()))
                     for f in (*(p for p, _ in BKA_FILES), GEOMETRY_FILE, REGISTER_FILE, ATLAS_FILE)}
        written += _write_if_changed(data_dir / "districts.geojson", _geojson_bytes(c["ags"], c["name"], c["geometry"]))
        # the Kreis's row of the Deutschlandatlas (reading the whole 3,5-MB file costs 1-3 s per commune)
        written += _write_if_changed(data_dir / CONTEXT_FILE, context_bytes[c["kreis_key"]])
        survey_spec = None
        if survey:
            made = synthetic_survey(c)
            for name, table in made.items():
                written += _write_if_changed(data_dir / f"{name}.csv", _csv_bytes(table))
            survey_spec = {"responses": "survey_responses.csv", "sample": "survey_sample.csv", "synthetic": True}
        else:
            for stale in ("survey_responses.csv", "survey_sample.csv"):
                if (data_dir / stale).exists():
                    (data_dir / stale).unlink()
            residents = pd.DataFrame({"year": REGISTER_YEAR, "district_id": c["ags"], "sex": ["m", "w"],
                                      "count": [c["male"], c["female"]]})
            written += _write_if_changed(data_dir / "residents.csv", _csv_bytes(residents))
        if c["kind_code"] != KREISFREI:
            written += _write_if_changed(data_dir / "pks.csv",
                                         _csv_bytes(synthetic_pks(rates, c["kreis_key"], c["population"])))
        data_param = _as_param_path(data_dir) if _inside_repo(data_dir) else str(data_dir.resolve())
        text = _params_text(c, cid, data_param, realdata_param, files_rel, kreis_names[c["kreis_key"]], hashes,
                            survey_spec)
        target = params_dir / f"{cid}.yaml"
        written += _write_if_changed(target, text.encode("utf-8"))
        built.params_files.append(target)
    written += _write_if_changed(folder / "abgleich.csv", _csv_bytes(join_table_de(join)))
    written += _write_if_changed(folder / "abgleich.md", join_report_markdown(built).encode("utf-8"))
    built.written = written
    return built


# ---------------------------------------------------------------------------
# the join report (German)
# ---------------------------------------------------------------------------

STATUS_DE = {MATCHED: "zugeordnet", MERGED: "zusammengelegt (Summe der Registerzeilen)",
             MERGED_PART: "im Register, seit dem Zusammenschluss ohne eigene Grenze",
             NO_REGISTER: "Grenze ohne Registerzeile (nicht aufgebaut)",
             NO_BOUNDARY: "Registerzeile ohne Grenze (nicht aufgebaut)"}


def join_table_de(join: pd.DataFrame) -> pd.DataFrame:
    """abgleich.csv: the join rows with German column names and status words."""
    out = join.copy()
    out["status_text"] = out["status"].map(STATUS_DE)
    out["built"] = out["built"].map({True: "ja", False: "nein"})
    return out.rename(columns={"ags": "AGS", "name": "Name (VG250)", "name_register": "Name (Gemeindeverzeichnis)",
                               "kreis_key": "Kreis", "status": "Status", "status_text": "Status (Text)",
                               "register_rows": "Registerzeilen", "population": "Einwohner 31.12.2021",
                               "male": "männlich", "female": "weiblich", "merged_into": "aufgegangen in",
                               "built": "im Batch"})


def join_summary(built: Built) -> list[str]:
    """The join report as German lines (printed by the CLI, head of abgleich.md)."""
    j, c = built.join, built.communes
    n_match = int((j["status"] == MATCHED).sum())
    lines = [(f"Abgleich Gemeindeverzeichnis (Destatis, Gebietsstand 31.12.2021: {built.register_rows} sächsische "
              f"Gemeinden) mit den Gemeindegrenzen (VG250: {built.boundaries} Gemeinden): {len(c)} Gemeinden im "
              f"Batch, {n_match} davon mit genau einer Registerzeile.")]
    for r in j[j["status"] == MERGED].itertuples():
        m = _merger(r.ags)
        parts = [j[j["ags"] == a].iloc[0] for a, _ in m.parts]
        lines.append(
            f"Schlüsseländerung: {r.name} ({r.ags}) entstand am {m.date} aus "
            + " und ".join(f"{p['name']} ({p['ags']}, {_fmt_int(p['population'])} Einwohner)" for p in parts)
            + f"; Einwohnerzahl 31.12.2021 = Summe der {len(parts)} Registerzeilen = {_fmt_int(r.population)}. "
            f"Daher hat das Register {built.register_rows} Zeilen und die Grenzdatei {built.boundaries} Gemeinden "
            f"({built.register_rows} − {len(parts)} + 1 = {built.register_rows - len(parts) + 1}).")
    for r in j[j["status"] == NO_REGISTER].itertuples():
        lines.append(f"Ohne Registerzeile und ohne bekannten Zusammenschluss: {r.name} ({r.ags}) – nicht aufgebaut "
                     "(keine echte Einwohnerzahl).")
    for r in j[j["status"] == NO_BOUNDARY].itertuples():
        lines.append(f"Registerzeile ohne Grenze: {r.name} ({r.ags}, {_fmt_int(r.population)} Einwohner) – nicht "
                     "aufgebaut.")
    kreisfrei = c[c["kind_code"] == KREISFREI]
    lines.append(f"PKS: echt für die {len(kreisfrei)} kreisfreien Städte ("
                 + ", ".join(f"{r.name} {r.ags}" for r in kreisfrei.itertuples())
                 + f"; BKA-Kreistabellen 2020 und 2022); SYNTHETISCH für die übrigen {len(c) - len(kreisfrei)} "
                 "Gemeinden (Kreisrate × Einwohnerzahl, in den Parametern als synthetisch markiert – keine echten "
                 "Gemeindezahlen).")
    return lines


def join_report_markdown(built: Built) -> str:
    """abgleich.md: the summary lines, the special rows as a table, spelling differences."""
    j = built.join
    out = ["# Abgleich der sächsischen Gemeinden", "",
           *[f"- {line}" for line in join_summary(built)], "",
           "Quellen: " + SOURCE_REGISTER + "; " + SOURCE_GEOMETRY + "; " + SOURCE_PKS + ".", "",
           "## Zeilen ohne 1:1-Zuordnung", "",
           "| AGS | Name | Status | Einwohner 31.12.2021 | aufgegangen in |", "|---|---|---|---:|---|"]
    for r in j[j["status"] != MATCHED].itertuples():
        pop = "" if pd.isna(r.population) else _fmt_int(r.population)
        out.append(f"| {r.ags} | {r.name} | {STATUS_DE[r.status]} | {pop} | {r.merged_into} |")
    spelled = j[(j["status"] == MATCHED) & (j["name_register"].str.split(",").str[0].str.strip() != j["name"])]
    if len(spelled):
        out += ["", "## Abweichende Schreibweise (Zuordnung über den AGS)", "",
                "| AGS | Name (VG250) | Name (Gemeindeverzeichnis) |", "|---|---|---|"]
        out += [f"| {r.ags} | {r.name} | {r.name_register} |" for r in spelled.itertuples()]
    out += ["", f"Alle Zeilen: abgleich.csv ({len(j)} Zeilen).", ""]
    return "\n".join(out)


# ---------------------------------------------------------------------------
# command line: python -m kit sachsen
# ---------------------------------------------------------------------------

def _display(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT.resolve()))
    except ValueError:
        return str(path)


def run_command(args) -> int:
    """``python -m kit sachsen``: build (idempotently) and run the batch; German output."""
    from kit.runner import run_batch

    root = require_realdata(args.realdata)  # one German line and exit code 1 when absent (kit.cli.main)
    folder = Path(args.daten)
    what = f" ({len(args.auswahl)} ausgewählt)" if args.auswahl else ""
    print(f"Baue die sächsischen Gemeinden{what} aus {root} nach {_display(folder)} auf …", flush=True)
    built = build_sachsen(root, folder, auswahl=args.auswahl, survey=args.mit_befragung)
    for line in join_summary(built):
        print(line)
    print(f"Abgleich: {_display(folder / 'abgleich.md')} und abgleich.csv; {len(built.params_files)} "
          f"Parameterdateien in {_display(folder / 'params')} ({built.written} Dateien neu geschrieben).", flush=True)
    if args.nur_aufbauen:
        return 0
    if args.dask_local is not None and args.dask_local < 1:
        raise KitError(f"Option --dask-local: {args.dask_local} ist keine gültige Anzahl; erwartet wird eine "
                       "Anzahl Arbeitsprozesse von mindestens 1, z. B. --dask-local 2.")
    if args.kein_pdf:
        os.environ["KIT_PDF"] = "0"  # read by kit.runner.make_lagebericht (also in worker processes)
    extra = {}
    if args.dask_local is not None:
        extra["dask_local"] = args.dask_local  # kit.runner: a local Dask cluster instead of --jobs
    statuses = run_batch(built.params_files, args.output, jobs=args.jobs, force=args.force, **extra)
    failed = [s for s in statuses if not s.ok]
    print(f"Fertig: {len(statuses) - len(failed)} von {len(statuses)} Gemeinden vollständig. "
          f"Übersicht: {Path(args.output) / 'index.html'}; Abgleich: {_display(folder / 'abgleich.md')}")
    for s in failed:
        bad = [st for st in s.stages if st.status not in ("ok", "entfällt")]
        why = s.message or "; ".join(f"{st.title}: {st.message.splitlines()[0] if st.message else st.status}"
                                     for st in bad)
        print(f"  nicht vollständig: {s.name or s.commune_id} – {why}")
    return 1 if failed else 0

