"""Plausibility findings that are reported, not refused (issue 13): one row each in
results/input_findings_profile.csv and in the section "Datengrundlage und Prüfungen" (input, file,
row, column, value, rule, meaning), while the data notes at the top of the report keep naming no
file or column.

Each case breaks a copy of the demo inputs the way tests/test_bad_input_plausibility.py does (its
helpers are used); the expected rows, values and texts are taken from the broken files and from
data_schemas/*.yaml (csv/json/yaml modules), not from the kit.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from shapely.geometry import box
from test_bad_input_plausibility import (
    cell,
    commune,
    district_names,
    drop_rows,
    load,
    read_rows,
    rules,
    set_cell,
    write_rows,
)

from kit import inputs_log, inputs_view
from kit.report import DASH
from kit.results import ResultStore

FINDING_COLUMNS = ["input", "file", "row", "column", "value", "rule", "meaning"]


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    from kit.demo import generate_demo

    root = tmp_path_factory.mktemp("demo")
    generate_demo(root, communes=["muldenau"])
    return root / "muldenau"


def load_logged(params: Path):
    """Load the profile inputs in a log of their own; return (inputs, log)."""
    with inputs_log.collecting() as log:
        inputs = load(params)
    return inputs, log


def written_findings(tmp_path: Path, log) -> tuple[pd.DataFrame, list[dict]]:
    """Write the stage's input checks; return the table passed to the view and the findings file
    as read with the csv module."""
    store = ResultStore(tmp_path / "out", "muldenau", stage="profile")
    table = inputs_log.write_input_checks(store, log)
    path = store.path("input_findings_profile", ".csv")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == FINDING_COLUMNS
        return table, list(reader)


def shown_section(monkeypatch, table: pd.DataFrame) -> tuple[list[pd.DataFrame], list[str]]:
    """The tables and texts the section shows for ``table``."""
    tables, texts = [], []
    monkeypatch.setattr(inputs_view, "show_table", lambda df, *a, **k: tables.append(df))
    monkeypatch.setattr(inputs_view, "show_md", texts.append)
    inputs_view.show_input_checks(table)
    return tables, texts


def findings_shown(tables: list[pd.DataFrame]) -> pd.DataFrame:
    (found,) = [t for t in tables if "Prüfregel" in t.columns]
    assert found.columns.tolist() == ["Datei", "Art", "Zeile", "Spalte", "Wert", "Prüfregel", "Bedeutung"]
    return found


def german_int(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def test_clearance_above_100_percent_in_results_and_section(tmp_path, demo_data, monkeypatch):
    c = commune(tmp_path, demo_data)
    where = {"year": 2022, "key": "892000"}
    cases = cell(c.folder / "pks.csv", where, "cases")
    row = set_cell(c.folder / "pks.csv", where, "cleared", cases + 2)
    ratio = next(r for r in rules("pks")["ratios"] if r["numerator"] == "cleared")
    exception = ratio["exceptions"][0]
    inputs, log = load_logged(c.params)
    table, rows = written_findings(tmp_path, log)
    (found,) = rows
    assert {k: found[k] for k in ("input", "file", "row", "column", "value", "rule")} == {
        "input": "pks", "file": "pks.csv", "row": str(row), "column": "cleared", "value": str(cases + 2),
        "rule": f"ratios.{ratio['id']}"}
    assert exception["name"] in found["meaning"] and " ".join(exception["note"].split()) in found["meaning"]
    # the section: one row naming file, row, column, value, the rule and what it means
    tables, texts = shown_section(monkeypatch, table)
    (shown,) = findings_shown(tables).to_dict("records")
    assert shown["Datei"] == "pks.csv" and shown["Zeile"] == german_int(row)
    assert shown["Spalte"].startswith("cleared") and shown["Wert"] == german_int(cases + 2)
    assert shown["Prüfregel"] == f"{ratio['title']} über 100 % ({exception['name']})"
    assert shown["Bedeutung"] == found["meaning"]
    assert any("Prüfhinweise" in t for t in texts)
    # the data notes at the top keep their wording: no file or column names
    note = inputs.notes["plausibility"]
    assert f"Zeile {row}" in note and ".csv" not in note and "cleared" not in note


def test_gap_between_polygons_is_a_finding_row(monkeypatch):
    import geopandas as gpd

    from kit.schemas import validate_districts

    x0, y0 = 400000.0, 5650000.0
    cells = [box(x0 + i * 1000, y0 + j * 1000, x0 + (i + 1) * 1000, y0 + (j + 1) * 1000)
             for i in range(3) for j in range(3) if (i, j) != (1, 1)]  # a 1 km² hole in the middle
    gdf = gpd.GeoDataFrame({"district_id": [str(i + 1) for i in range(8)],
                            "district_name": [f"Teil {i + 1}" for i in range(8)]}, geometry=cells, crs="EPSG:25833")
    gdf.attrs["source"] = "/daten/teile.gpkg"
    (finding,) = validate_districts(gdf).attrs["findings"]
    row = inputs_log.finding_row(finding, "districts")
    assert row["file"] == "teile.gpkg" and row["row"] is None and row["column"] == "geometry"
    assert row["rule"] == "gap_tolerance_m2" and "1.000.000 m²" in row["value"]
    assert "Teil 5" in row["meaning"]
    with inputs_log.collecting() as log:
        inputs_log.record_findings([row])
    table = log.table()
    table.attrs.update(findings=log.findings, plausibility_checked=True)
    tables, _ = shown_section(monkeypatch, table)
    (shown,) = findings_shown(tables).to_dict("records")
    assert shown["Zeile"] == DASH and shown["Spalte"] == "Geometrie" and "Lücke" in shown["Prüfregel"]


def test_unmatched_districts_reported_are_finding_rows(tmp_path, demo_data, monkeypatch):
    c = commune(tmp_path, demo_data, profile={"unmatched_districts": "report"})
    names = district_names(c.folder)
    drop_rows(c.folder / "residents.csv", district_id=3)
    header, rows = read_rows(c.folder / "residents.csv")
    col, ycol = header.index("district_id"), header.index("year")
    moved = [[*r[:col], "99", *r[col + 1:]] if r[col] == "4" else r for r in rows]
    write_rows(c.folder / "residents.csv", header, moved)
    latest = max(r[ycol] for r in moved)
    first_99 = next(i for i, r in enumerate(moved) if r[col] == "99" and r[ycol] == latest) + 2
    features = json.loads((c.folder / "districts.geojson").read_text(encoding="utf-8"))["features"]
    feature_of = {str(f["properties"]["district_id"]): i + 1 for i, f in enumerate(features)}

    _, log = load_logged(c.params)
    table, found = written_findings(tmp_path, log)
    got = {(r["input"], r["file"], r["row"], r["column"], r["value"], r["rule"]) for r in found}
    assert got == {
        ("districts", "districts.geojson", str(feature_of["3"]), "district_id", f"3 {names['3']}",
         "unmatched_districts.no_residents"),
        ("districts", "districts.geojson", str(feature_of["4"]), "district_id", f"4 {names['4']}",
         "unmatched_districts.no_residents"),
        ("residents", "residents.csv", str(first_99), "district_id", "99", "unmatched_districts.no_polygon"),
    }
    assert all("Karten" in r["meaning"] for r in found)
    tables, _ = shown_section(monkeypatch, table)
    shown = findings_shown(tables)
    assert len(shown) == 3 and f"Objekt {feature_of['3']}" in shown["Zeile"].tolist()
    assert "district_id" not in " ".join(shown.astype(str).to_numpy().ravel())  # the German title instead


def test_clean_demo_inputs_write_an_empty_findings_file_and_say_so(tmp_path, demo_data, monkeypatch):
    c = commune(tmp_path, demo_data)
    _, log = load_logged(c.params)
    table, found = written_findings(tmp_path, log)
    assert found == []
    tables, texts = shown_section(monkeypatch, table)
    assert not [t for t in tables if "Prüfregel" in t.columns]
    assert any("keine Prüfhinweise" in t for t in texts)


def test_a_stage_without_plausibility_rules_writes_no_findings(tmp_path, monkeypatch):
    with inputs_log.collecting() as log:
        inputs_log.note(tmp_path / "antworten.csv", input="survey_responses", format="csv")
    store = ResultStore(tmp_path / "out", "muldenau", stage="survey")
    table = inputs_log.write_input_checks(store, log)
    assert not store.path("input_findings_survey", ".csv").exists()
    tables, texts = shown_section(monkeypatch, table)
    assert len(tables) == 1 and not any("Prüfhinweise" in t for t in texts)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(pytest.main([__file__, "-q"]))


def test_findings_table_takes_row_numbers_as_they_come_back_from_a_results_file():
    """A row column with empty cells is float (63.0, or the text "63.0" after a CSV round trip):
    the table still shows "63", a polygon "Objekt 4", an empty row a dash (found by the notebook)."""
    findings = pd.DataFrame({"input": ["pks", "districts", "pks"], "file": ["pks.csv", "stadtteile.geojson", "pks.csv"],
                             "row": [63.0, "4.0", None], "column": ["cleared", "", ""], "value": ["101", "", ""],
                             "rule": ["clearance_above_100", "gap", "clearance_above_100"],
                             "meaning": ["Aufklärung früherer Jahre", "Lücke", "x"]})
    table = inputs_view.input_findings_table(findings)
    assert list(table["Zeile"]) == ["63", "Objekt 4", DASH]
