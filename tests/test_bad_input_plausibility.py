"""Plausibility rules of the inputs (issue 13, item 2): counts >= 0, counts per resident, suspects,
attempts and clearance against cases (clearance above 100 % reported with its explanation, not
refused), no key above "Straftaten insgesamt", years not in the future, duplicate keys, districts
of the geometry against the residents and the other tables in both directions, overlapping and
gapped polygons, unclosed or invalid rings, GeoPackages with several layers.

Each test breaks a copy of the demo inputs (kit.demo.generate_demo into a temporary folder) or a
small table minimally and checks that the message names file, row, column, value and the bound;
the clean demo inputs and Dresden's real files raise nothing. Expected values are computed here
from the files (csv/json modules), not with the kit's readers.
"""

from __future__ import annotations

import csv
import datetime
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from kit.errors import InputError
from kit.params import PARAMS_DIR, REPO_ROOT, load_params

RULES = REPO_ROOT / "data_schemas"
REALDATA = (REPO_ROOT / ".." / "shared" / "realdata").resolve()
DRESDEN = PARAMS_DIR / "real" / "dresden.yaml"
NEXT_YEAR = datetime.date.today().year + 1


def rules(name: str) -> dict:
    """The plausibility block of a schema, read with yaml (not with kit.schemas)."""
    return yaml.safe_load((RULES / f"{name}.yaml").read_text(encoding="utf-8"))["plausibility"]


# ---------------------------------------------------------------------------
# demo inputs in a temporary folder, edited with the csv module
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    from kit.demo import generate_demo

    root = tmp_path_factory.mktemp("demo")
    generate_demo(root, communes=["muldenau"])
    return root / "muldenau"


def commune(tmp_path: Path, demo_data: Path, *, profile: dict | None = None, inputs: dict | None = None):
    """A copy of muldenau's inputs with a params file pointing at it."""
    folder = tmp_path / "muldenau"
    shutil.copytree(demo_data, folder)
    data = yaml.safe_load((PARAMS_DIR / "muldenau.yaml").read_text(encoding="utf-8"))
    data["data_dir"] = str(folder)
    data["demo"] = False
    data.setdefault("profile", {}).update(profile or {})
    data["inputs"].update(inputs or {})
    params = tmp_path / "muldenau.yaml"
    params.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return SimpleNamespace(folder=folder, params=params)


def load(params_file: Path):
    from kit.profile.inputs import load_profile_inputs

    return load_profile_inputs(load_params(params_file))


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a demo CSV (';'-separated cp1252)."""
    with open(path, encoding="cp1252", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    return rows[0], rows[1:]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with open(path, "w", encoding="cp1252", newline="") as fh:
        csv.writer(fh, delimiter=";", lineterminator="\r\n").writerows([header, *rows])


def set_cell(path: Path, where: dict, column: str, value) -> int:
    """Set ``column`` of the one row matching ``where``; return its file row (header = 1)."""
    header, rows = read_rows(path)
    hits = [i for i, r in enumerate(rows) if all(r[header.index(c)] == str(v) for c, v in where.items())]
    assert len(hits) == 1, (where, hits)
    rows[hits[0]][header.index(column)] = str(value)
    write_rows(path, header, rows)
    return hits[0] + 2


def cell(path: Path, where: dict, column: str) -> int:
    header, rows = read_rows(path)
    (row,) = [r for r in rows if all(r[header.index(c)] == str(v) for c, v in where.items())]
    return int(row[header.index(column)])


def population(folder: Path, year: int) -> int:
    header, rows = read_rows(folder / "residents.csv")
    return sum(int(r[header.index("count")]) for r in rows if r[header.index("year")] == str(year))


def problem_at(err: InputError, row, column):
    found = [p for p in err.problems if p.row == row and p.column == column]
    assert found, f"no problem at row {row}, column {column}: {[p.describe() for p in err.problems]}"
    return found[0]


def assert_named(err: InputError, file: str, row, column, value) -> None:
    """The message names file, row, column and value (as the analyst sees it)."""
    text = str(err)
    assert file in text and f"Zeile {row}" in text and f"Spalte '{column}'" in text and f"Wert '{value}'" in text, text
    assert "Traceback" not in text and "Error" not in text


# ---------------------------------------------------------------------------
# no false alarm
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["muldenau", "elsterhain", "elbstadt"])
def test_clean_demo_inputs_raise_nothing(name, tmp_path):
    from kit.demo import generate_demo
    from kit.io import read_table
    from kit.schemas import validate_table

    generate_demo(tmp_path, communes=[name])
    data = yaml.safe_load((PARAMS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    data["data_dir"], data["demo"] = str(tmp_path / name), False
    params = tmp_path / f"{name}.yaml"
    params.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    inputs = load(params)
    assert inputs.findings == [] and "plausibility" not in inputs.notes
    crime = tmp_path / name / "district_crime.csv"
    if crime.exists():  # stage 2's table: (district, year, category) unique, years not in the future
        assert validate_table(read_table(crime), "district_crime").attrs["findings"] == []


@pytest.mark.skipif(not (REALDATA / "pks").is_dir(), reason=f"echte Daten fehlen: {REALDATA}")
def test_dresden_real_data_no_false_alarm():
    """Dresden's real files pass every rule; its unmatched Stadtteile stay reported, not refused."""
    inputs = load(DRESDEN)
    assert inputs.findings == []
    match = inputs.district_match
    assert set(match.loc[match["status"] == "no_residents", "district_id"]) == {"33", "34", "44"}
    assert set(match.loc[match["status"] == "no_polygon", "district_id"]) == {"36", "90", "99"}


# ---------------------------------------------------------------------------
# counts
# ---------------------------------------------------------------------------

def test_negative_count_in_pks_named(tmp_path, demo_data):
    c = commune(tmp_path, demo_data)
    row = set_cell(c.folder / "pks.csv", {"year": 2022, "key": "892000"}, "cases", -5)
    with pytest.raises(InputError) as err:
        load(c.params)
    problem = problem_at(err.value, row, "cases")
    assert str(problem.value) == "-5" and "0" in problem.expected
    assert_named(err.value, "pks.csv", row, "cases", "-5")


def test_cases_above_ten_times_population_refused(tmp_path, demo_data):
    c = commune(tmp_path, demo_data)
    limit = rules("pks")["per_resident"]["max"] * population(c.folder, 2023)
    row = set_cell(c.folder / "pks.csv", {"year": 2023, "key": "000000"}, "cases", limit + 1)
    with pytest.raises(InputError) as err:
        load(c.params)
    problem = problem_at(err.value, row, "cases")
    assert "je Einwohner" in problem.expected and "31.12.2023" in problem.expected
    assert_named(err.value, "pks.csv", row, "cases", limit + 1)
    # exactly at the bound is accepted
    set_cell(c.folder / "pks.csv", {"year": 2023, "key": "000000"}, "cases", limit)
    load(c.params)


def test_owi_count_against_population(tmp_path, demo_data):
    c = commune(tmp_path, demo_data)
    limit = rules("owi")["per_resident"]["max"] * population(c.folder, 2024)
    header, rows = read_rows(c.folder / "owi.csv")
    category = rows[-1][header.index("category")]
    row = set_cell(c.folder / "owi.csv", {"year": 2024, "category": category}, "count", limit + 1)
    with pytest.raises(InputError) as err:
        load(c.params)
    assert_named(err.value, "owi.csv", row, "count", limit + 1)


def test_suspects_against_cases(tmp_path, demo_data):
    c = commune(tmp_path, demo_data)
    rule = next(r for r in rules("pks")["ratios"] if r["numerator"] == "suspects")
    where = {"year": 2021, "key": "000000"}
    cases = cell(c.folder / "pks.csv", where, "cases")
    bound = rule["max"] * cases + rule["slack"]
    row = set_cell(c.folder / "pks.csv", where, "suspects", bound + 1)
    with pytest.raises(InputError) as err:
        load(c.params)
    problem = problem_at(err.value, row, "suspects")
    assert f"{bound:,}".replace(",", ".") in problem.expected
    assert_named(err.value, "pks.csv", row, "suspects", bound + 1)
    set_cell(c.folder / "pks.csv", where, "suspects", bound)
    assert load(c.params).findings == []


def test_attempts_above_cases_refused(tmp_path, demo_data):
    c = commune(tmp_path, demo_data)
    where = {"year": 2020, "key": "000000"}
    cases = cell(c.folder / "pks.csv", where, "cases")
    row = set_cell(c.folder / "pks.csv", where, "attempts", cases + 1)
    with pytest.raises(InputError) as err:
        load(c.params)
    assert_named(err.value, "pks.csv", row, "attempts", cases + 1)


def test_clearance_above_100_percent_is_reported_not_refused(tmp_path, demo_data, monkeypatch):
    c = commune(tmp_path, demo_data)
    where = {"year": 2022, "key": "892000"}
    cases = cell(c.folder / "pks.csv", where, "cases")
    row = set_cell(c.folder / "pks.csv", where, "cleared", cases + 2)
    inputs = load(c.params)
    (finding,) = inputs.findings
    exception = rules("pks")["ratios"][1]["exceptions"][0]
    assert (finding.row, finding.column, int(finding.value)) == (row, "cleared", cases + 2)
    assert exception["name"] in finding.expected
    note = inputs.notes["plausibility"]  # for the report: the input by name and the row, no file or column names
    assert "Kriminalstatistik" in note and f"Zeile {row}" in note and "früheren Jahren" in note
    assert ".csv" not in note and "cleared" not in note
    # the note reaches the report (stage 1 copies the input notes into the result)
    from kit.profile import view

    shown = []
    monkeypatch.setattr(view, "show_note", shown.append)
    view.show_data_notes(SimpleNamespace(notes=inputs.notes))
    assert any(f"Zeile {row}" in s for s in shown)


def test_clearance_beyond_the_exception_refused(tmp_path, demo_data):
    c = commune(tmp_path, demo_data)
    exception = rules("pks")["ratios"][1]["exceptions"][0]
    where = {"year": 2022, "key": "000000"}
    cases = cell(c.folder / "pks.csv", where, "cases")
    value = exception["max"] * cases + exception["slack"] + 1
    row = set_cell(c.folder / "pks.csv", where, "cleared", value)
    with pytest.raises(InputError) as err:
        load(c.params)
    assert "Aufklärungsquote" in problem_at(err.value, row, "cleared").expected
    assert_named(err.value, "pks.csv", row, "cleared", value)


def test_key_above_total_refused(tmp_path, demo_data):
    c = commune(tmp_path, demo_data)
    total = cell(c.folder / "pks.csv", {"year": 2019, "key": "000000"}, "cases")
    row = set_cell(c.folder / "pks.csv", {"year": 2019, "key": "892000"}, "cases", total + 1)
    with pytest.raises(InputError) as err:
        load(c.params)
    assert "Straftaten insgesamt" in problem_at(err.value, row, "cases").expected
    assert_named(err.value, "pks.csv", row, "cases", total + 1)


@pytest.mark.parametrize("file, where, column", [
    ("pks.csv", {"year": 2024, "key": "892000"}, "year"),
    ("residents.csv", {"year": 2024, "district_id": 1, "age_group": "0-5", "sex": "m", "nationality": "deutsch"},
     "year"),
])
def test_year_in_the_future_refused(tmp_path, demo_data, file, where, column):
    c = commune(tmp_path, demo_data)
    row = set_cell(c.folder / file, where, column, NEXT_YEAR)
    with pytest.raises(InputError) as err:
        load(c.params)
    assert "Zukunft" in problem_at(err.value, row, column).expected
    assert_named(err.value, file, row, column, NEXT_YEAR)


def test_duplicate_row_names_both_rows(tmp_path, demo_data):
    c = commune(tmp_path, demo_data)
    header, rows = read_rows(c.folder / "pks.csv")
    first = next(i for i, r in enumerate(rows) if r[:2] == ["2021", "892000"])
    write_rows(c.folder / "pks.csv", header, [*rows, rows[first]])
    with pytest.raises(InputError) as err:
        load(c.params)
    (problem,) = err.value.problems
    assert problem.row == len(rows) + 2 and f"wie Zeile {first + 2}" in problem.expected
    assert "year=2021" in str(problem.value) and "key=892000" in str(problem.value)


def test_same_year_in_two_files_refused(tmp_path, demo_data):
    c = commune(tmp_path, demo_data, inputs={"pks": {"files": [{"path": "pks.csv"}, {"path": "pks_kopie.csv"}]}})
    header, rows = read_rows(c.folder / "pks.csv")
    write_rows(c.folder / "pks_kopie.csv", header, [r for r in rows if r[0] == "2024"])
    with pytest.raises(InputError) as err:
        load(c.params)
    text = str(err.value)
    assert "pks_kopie.csv" in text and "steht schon in Datei" in text and "pks.csv" in text


def test_duplicate_district_year_category(tmp_path):
    from kit.io import read_table
    from kit.schemas import validate_table

    path = tmp_path / "district_crime.csv"
    path.write_text("district_id;year;category;cases\n1;2023;Straftaten insgesamt;10\n"
                    "2;2023;Straftaten insgesamt;4\n1;2023;Straftaten insgesamt;12\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        validate_table(read_table(path), "district_crime")
    (problem,) = err.value.problems
    assert problem.row == 4 and "wie Zeile 2" in problem.expected and "district_crime.csv" in str(err.value)


# ---------------------------------------------------------------------------
# BKA Kreis table (read by its own reader, checked by the same rules)
# ---------------------------------------------------------------------------

from helpers import BKA_HEADER  # noqa: E402

BKA_LINES = [
    "------;Straftaten insgesamt;14999;Musterstadt;LK;1,234;4,113.3;50;4.1;0;0;617;50;600;450;150;60;10",
    "899000;Straßenkriminalität;14999;Musterstadt;LK;300;1,000;30;10;0;0;60;20;50;45;5;5;10",
]


def bka_csv(path: Path, lines=BKA_LINES) -> Path:
    numbering = ";".join(str(i) for i in range(1, 19))
    path.write_bytes(("\r\n".join([numbering, BKA_HEADER, *lines]) + "\r\n").encode("latin-1"))
    return path  # file rows: numbering 1, header 2, data from 3


def test_bka_negative_count_named(tmp_path):
    """Before: a negative case count gave an HZ of -103.756 in the report."""
    from kit.profile.bka import read_bka_table

    path = bka_csv(tmp_path / "bka.csv", [BKA_LINES[0], BKA_LINES[1].replace(";300;", ";-300;")])
    with pytest.raises(InputError) as err:
        read_bka_table(path, "14999", year=2022)
    (problem,) = err.value.problems
    assert (problem.row, problem.value) == (4, -300) and "Anzahl erfasste" in problem.column
    assert "nie negativ" in problem.expected and "bka.csv" in str(err.value)


def test_bka_duplicated_kreis_row(tmp_path):
    from kit.profile.bka import read_bka_table

    path = bka_csv(tmp_path / "bka.csv", [*BKA_LINES, BKA_LINES[1]])
    with pytest.raises(InputError) as err:
        read_bka_table(path, "14999", year=2022)
    (problem,) = err.value.problems
    assert problem.row == 5 and "wie Zeile 4" in problem.expected and "899000" in str(problem.value)


def test_bka_future_year_and_clearance_finding(tmp_path):
    from kit.profile.bka import read_bka_table

    with pytest.raises(InputError) as err:
        read_bka_table(bka_csv(tmp_path / "bka.csv"), "14999", year=NEXT_YEAR)
    (problem,) = err.value.problems  # once for the file, not once per row
    assert problem.value == NEXT_YEAR and "Zukunft" in problem.expected
    # 300 cases, 310 cleared: reported with the file's column heading
    path = bka_csv(tmp_path / "bka2.csv", [BKA_LINES[0], BKA_LINES[1].replace(";60;20;", ";310;103;")])
    table = read_bka_table(path, "14999", year=2022)
    (finding,) = table.attrs["findings"]
    assert finding.row == 4 and finding.value == 310 and finding.column.startswith("Aufklaerung")


# ---------------------------------------------------------------------------
# districts: geometry against residents and the other tables
# ---------------------------------------------------------------------------

def district_names(folder: Path) -> dict[str, str]:
    data = json.loads((folder / "districts.geojson").read_text(encoding="utf-8"))
    return {str(f["properties"]["district_id"]): f["properties"]["district_name"] for f in data["features"]}


def drop_rows(path: Path, **where) -> None:
    header, rows = read_rows(path)
    write_rows(path, header, [r for r in rows if not all(r[header.index(c)] == str(v) for c, v in where.items())])


def test_polygon_without_residents_is_an_error_naming_it(tmp_path, demo_data):
    """Before: the district vanished from every total (population too low, shares recomputed)."""
    c = commune(tmp_path, demo_data)
    name = district_names(c.folder)["3"]
    drop_rows(c.folder / "residents.csv", district_id=3)
    with pytest.raises(InputError) as err:
        load(c.params)
    (problem,) = err.value.problems
    assert problem.value == f"3 {name}" and "in keinem Jahr" in problem.expected
    assert "residents.csv" in str(err.value) and "districts.geojson" in str(err.value)


def test_polygon_missing_in_one_year_names_the_year(tmp_path, demo_data):
    c = commune(tmp_path, demo_data)
    drop_rows(c.folder / "residents.csv", district_id=2, year=2022)
    with pytest.raises(InputError) as err:
        load(c.params)
    (problem,) = err.value.problems
    assert problem.value.startswith("2 ") and "im Jahr 2022" in problem.expected


def test_both_directions_in_one_error(tmp_path, demo_data):
    c = commune(tmp_path, demo_data)
    names = district_names(c.folder)
    header, rows = read_rows(c.folder / "residents.csv")
    col = header.index("district_id")
    moved = [[*r[:col], "99", *r[col + 1:]] if r[col] == "4" else r for r in rows]
    write_rows(c.folder / "residents.csv", header, moved)
    with pytest.raises(InputError) as err:
        load(c.params)
    values = {str(p.value) for p in err.value.problems}
    assert values == {"99", f"4 {names['4']}"}
    unknown = next(p for p in err.value.problems if p.value == "99")
    assert f"1 {names['1']}" in unknown.expected and "Zeilen vor" in unknown.expected  # known districts by name


def test_unmatched_districts_report_carries_on(tmp_path, demo_data):
    c = commune(tmp_path, demo_data, profile={"unmatched_districts": "report"})
    names = district_names(c.folder)
    drop_rows(c.folder / "residents.csv", district_id=3)
    inputs = load(c.params)
    missing = inputs.district_match[inputs.district_match["status"] == "no_residents"]
    assert list(missing["district_id"]) == ["3"] and list(missing["district_name"]) == [names["3"]]


def test_other_table_with_unknown_district_named(tmp_path, demo_data):
    c = commune(tmp_path, demo_data)
    header, rows = read_rows(c.folder / "places.csv")
    rows[0][header.index("district_id")] = "77"
    write_rows(c.folder / "places.csv", header, rows)
    with pytest.raises(InputError) as err:
        load(c.params)
    assert_named(err.value, "places.csv", 2, "district_id", "77")
    assert district_names(c.folder)["1"] in str(err.value)


def test_duplicated_district_id_in_geometry(tmp_path, demo_data):
    c = commune(tmp_path, demo_data)
    path = c.folder / "districts.geojson"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["features"][1]["properties"]["district_id"] = data["features"][0]["properties"]["district_id"]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError) as err:
        load(c.params)
    problem = problem_at(err.value, 2, "district_id")
    assert "mehrfach" in problem.expected and "districts.geojson" in str(err.value)


# ---------------------------------------------------------------------------
# polygons: overlaps, gaps, rings, layers
# ---------------------------------------------------------------------------

def districts_gdf(polygons, names=None):
    import geopandas as gpd

    ids = [str(i + 1) for i in range(len(polygons))]
    names = names or [f"Teil {i}" for i in ids]
    gdf = gpd.GeoDataFrame({"district_id": ids, "district_name": names}, geometry=list(polygons), crs="EPSG:25833")
    gdf.attrs["source"] = "teile.gpkg"
    return gdf


X0, Y0 = 400000.0, 5650000.0


def test_overlap_above_tolerance_names_both_districts():
    from kit.schemas import validate_districts

    tolerance = rules("districts")["overlap_tolerance_m2"]
    a = box(X0, Y0, X0 + 1000, Y0 + 1000)
    depth = 2 * tolerance / 1000  # 1000 m long: twice the tolerated area
    b = box(X0 + 1000 - depth, Y0, X0 + 2000, Y0 + 1000)
    with pytest.raises(InputError) as err:
        validate_districts(districts_gdf([a, b], ["Altstadt", "Neustadt"]))
    (problem,) = err.value.problems
    assert problem.row == 1 and "Altstadt" in str(problem.value) and "Neustadt" in problem.expected
    assert "200 m²" in problem.expected and "teile.gpkg" in str(err.value)
    # half the tolerance is accepted
    b = box(X0 + 1000 - depth / 4, Y0, X0 + 2000, Y0 + 1000)
    validate_districts(districts_gdf([a, b]))


def test_gap_inside_the_commune_is_reported():
    from kit.schemas import validate_districts

    cells = [box(X0 + i * 1000, Y0 + j * 1000, X0 + (i + 1) * 1000, Y0 + (j + 1) * 1000)
             for i in range(3) for j in range(3) if (i, j) != (1, 1)]  # a 1 km² hole in the middle
    out = validate_districts(districts_gdf(cells))
    (finding,) = out.attrs["findings"]
    assert finding.value == "Lücke von 1.000.000 m²"
    assert all(f"Stadtteil {i} " in finding.expected for i in range(1, 9))  # all eight around it
    # a hole below the tolerance (10 m x 10 m) is not reported
    tolerance = rules("districts")["gap_tolerance_m2"]
    assert 100 < tolerance
    centre = box(X0 + 1000, Y0 + 1000, X0 + 2000, Y0 + 2000).difference(box(X0 + 1500, Y0 + 1500, X0 + 1510, Y0 + 1510))
    assert validate_districts(districts_gdf([*cells, centre])).attrs["findings"] == []


def geojson_text(rings: list[list[tuple[float, float]]], names: list[str]) -> str:
    feats = [{"type": "Feature", "properties": {"district_id": str(i + 1), "district_name": n},
              "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in ring]]}}
             for i, (ring, n) in enumerate(zip(rings, names))]
    return json.dumps({"type": "FeatureCollection", "features": feats,
                       "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::25833"}}})


def test_unclosed_ring_named_by_feature_and_district(tmp_path):
    from kit.io import read_geometry

    closed = [(X0, Y0), (X0 + 1000, Y0), (X0 + 1000, Y0 + 1000), (X0, Y0)]
    unclosed = [(X0 + 2000, Y0), (X0 + 3000, Y0), (X0 + 3000, Y0 + 1000), (X0 + 2000, Y0 + 1000)]
    path = tmp_path / "offen.geojson"
    path.write_text(geojson_text([closed, unclosed], ["Altstadt", "Oberau"]), encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_geometry(path)
    (problem,) = err.value.problems
    assert problem.row == 2 and problem.value == "Stadtteil-Nr. 2, Oberau"
    assert "nicht geschlossen" in problem.expected
    text = str(err.value)
    assert "offen.geojson" in text and "GEOS" not in text and "LinearRing" not in text


def test_invalid_ring_reason_in_german(tmp_path):
    from kit.io import read_geometry

    spike = [(X0, Y0), (X0 + 1000, Y0), (X0 + 1000, Y0 + 1000), (X0 + 1000, Y0), (X0, Y0)]  # ring runs back on itself
    path = tmp_path / "spitze.geojson"
    path.write_text(geojson_text([spike], ["Altstadt"]), encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_geometry(path)
    (problem,) = err.value.problems
    assert problem.value == "Stadtteil-Nr. 1, Altstadt" and "gültige Geometrie; hier: " in problem.expected
    assert not any(w in str(err.value) for w in ("Self-intersection", "Too few points", "Ring Self"))


def test_geopackage_with_several_layers(tmp_path, demo_data):
    import geopandas as gpd

    from kit.io import read_geometry

    c = commune(tmp_path, demo_data, inputs={"districts": {"path": "teile.gpkg", "layer": "stadtteile"}})
    districts = gpd.read_file(c.folder / "districts.geojson")
    path = c.folder / "teile.gpkg"
    gpd.GeoDataFrame({"name": ["Gemeinde"]}, geometry=[districts.union_all()], crs=districts.crs).to_file(
        path, layer="gemeinde")
    districts.to_file(path, layer="stadtteile")
    with pytest.raises(InputError) as err:
        read_geometry(path)
    text = str(err.value)
    assert "teile.gpkg" in text and "gemeinde" in text and "stadtteile" in text and "layer" in text
    with pytest.raises(InputError, match="0: gemeinde, 1: stadtteile"):
        read_geometry(path, layer="flurstuecke")
    assert len(read_geometry(path, layer=1)) == len(districts)
    inputs = load(c.params)  # params: inputs.districts.layer
    assert list(inputs.districts["district_id"]) == list(districts["district_id"])


# ---------------------------------------------------------------------------
# property-based: random non-negative tables pass, any negative cell is named
# ---------------------------------------------------------------------------

KEYS = ["000000", "892000", "899000", "435000", "220000"]


@st.composite
def pks_tables(draw):
    """PKS tables that keep every rule: attempts and cleared up to the cases, suspects up to
    20 x cases + 20, per year a total at least as large as each key."""
    rows = []
    for year in draw(st.lists(st.integers(2010, NEXT_YEAR - 1), min_size=1, max_size=3, unique=True)):
        sub = []
        for key in draw(st.lists(st.sampled_from(KEYS[1:]), max_size=3, unique=True)):
            cases = draw(st.integers(0, 5000))
            sub.append([year, key, cases, draw(st.integers(0, cases)), draw(st.integers(0, cases)),
                        draw(st.integers(0, 20 * cases + 20))])
        cases = max([draw(st.integers(0, 100)), *(r[2] for r in sub)])
        largest = [max([0, *(r[i] for r in sub)]) for i in range(3, 6)]
        rows += [[year, "000000", cases, max(largest[0], draw(st.integers(0, cases))),
                  max(largest[1], draw(st.integers(0, cases))),
                  max(largest[2], draw(st.integers(0, 20 * cases + 20)))], *sub]
    return rows


COLUMNS = ["year", "key", "cases", "attempts", "cleared", "suspects"]


def raw_frame(rows) -> pd.DataFrame:
    raw = pd.DataFrame([[str(v) for v in r[:2]] + ["x"] + [str(v) for v in r[2:]] for r in rows],
                       columns=["year", "key", "label", "cases", "attempts", "cleared", "suspects"], dtype="string")
    raw.attrs = {"source": "pks.csv", "first_data_row": 2, "decimal": "."}
    return raw


@settings(max_examples=60, deadline=None)
@given(pks_tables())
def test_random_plausible_pks_tables_pass(rows):
    from kit.schemas import validate_table

    typed = validate_table(raw_frame(rows), "pks")
    assert typed.attrs["findings"] == []


@settings(max_examples=60, deadline=None)
@given(pks_tables(), st.data())
def test_any_negative_cell_is_named(rows, data):
    from kit.schemas import validate_table

    i = data.draw(st.integers(0, len(rows) - 1))
    col = data.draw(st.sampled_from(COLUMNS[2:]))
    value = -data.draw(st.integers(1, 10**6))
    rows = [list(r) for r in rows]
    rows[i][COLUMNS.index(col)] = value
    with pytest.raises(InputError) as err:
        validate_table(raw_frame(rows), "pks")
    problem = problem_at(err.value, i + 2, col)
    assert str(problem.value) == str(value)


@settings(max_examples=40, deadline=None)
@given(pks_tables(), st.data())
def test_any_negative_cell_of_a_typed_table_is_named(rows, data):
    """The BKA reader's path: check_plausibility on a typed table with the file's own rows."""
    from kit.schemas import check_plausibility

    table = pd.DataFrame([r for r in rows], columns=COLUMNS)
    i = data.draw(st.integers(0, len(rows) - 1))
    col = data.draw(st.sampled_from(COLUMNS[2:]))
    table.loc[i, col] = -data.draw(st.integers(1, 10**6))
    file_rows = [10 + 2 * k for k in range(len(rows))]
    with pytest.raises(InputError) as err:
        check_plausibility(table, "pks", source="bka.csv", rows=file_rows)
    assert problem_at(err.value, file_rows[i], col).value == table.loc[i, col]
