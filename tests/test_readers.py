"""Reading every accepted file variant: kit.io.read_table / read_geometry
followed by kit.schemas.validate_table / validate_districts.

Fixtures are written here into tmp_path (small, with pandas/geopandas or as
raw bytes), so each test states exactly what an analyst might hand over.
Expected values are the numbers written into the fixture; reprojected
coordinates are checked against pyproj called directly.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import Point, Polygon, box

from kit.errors import InputError
from kit.io import read_geometry, read_table
from kit.schemas import validate_districts, validate_table

# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------

# Education spending: a number column (amount_eur), an optional number
# column (posts_fte) and German text with umlauts (area "Kindertagesstätten").
EDU_ROWS = [
    # year, area, amount_eur, posts_fte
    (2022, "Kindertagesstätten", 1234567.89, None),
    (2022, "Schulsozialarbeit", 50000.5, 2.5),
    (2023, "Förderschulen", 999.0, 0.75),
]


def _check_education(df: pd.DataFrame) -> None:
    assert list(df.columns) == ["year", "area", "amount_eur", "posts_fte"]
    assert df["year"].tolist() == [2022, 2022, 2023]
    assert df["area"].tolist() == ["Kindertagesstätten", "Schulsozialarbeit", "Förderschulen"]
    assert df["amount_eur"].tolist() == pytest.approx([1234567.89, 50000.5, 999.0])
    assert pd.isna(df["posts_fte"].iloc[0])
    assert df["posts_fte"].iloc[1:].tolist() == pytest.approx([2.5, 0.75])
    assert str(df["year"].dtype) == "Int64" and str(df["amount_eur"].dtype) == "float64"


def _write(path, text: str, encoding: str):
    path.write_bytes(text.encode(encoding))
    return path


GERMAN_CSV = ("year;area;amount_eur;posts_fte\r\n"
              "2022;Kindertagesstätten;1.234.567,89;\r\n"
              "2022;Schulsozialarbeit;50.000,5;2,5\r\n"
              "2023;Förderschulen;999;0,75\r\n")
COMMA_CSV = ("year,area,amount_eur,posts_fte\n"
             "2022,Kindertagesstätten,1234567.89,\n"
             "2022,Schulsozialarbeit,50000.5,2.5\n"
             "2023,Förderschulen,999,0.75\n")


@pytest.mark.parametrize("name, text, encoding, sep, decimal", [
    ("utf8_comma.csv", COMMA_CSV, "utf-8", ",", "."),
    ("utf8_semicolon.csv", GERMAN_CSV, "utf-8", ";", ","),
    ("bom_semicolon.csv", "\ufeff" + GERMAN_CSV, "utf-8", ";", ","),
    ("bom_comma.csv", "\ufeff" + COMMA_CSV, "utf-8", ",", "."),
    ("cp1252_semicolon.csv", GERMAN_CSV, "cp1252", ";", ","),
    ("cp1252_comma.csv", COMMA_CSV, "cp1252", ",", "."),
])
def test_csv_variants(tmp_path, name, text, encoding, sep, decimal):
    raw = read_table(_write(tmp_path / name, text, encoding))
    assert raw.attrs["separator"] == sep and raw.attrs["decimal"] == decimal
    assert raw.attrs["encoding"] == {"utf-8": "utf-8-sig" if text.startswith("\ufeff") else "utf-8",
                                     "cp1252": "cp1252"}[encoding]
    _check_education(validate_table(raw, "education"))


def test_csv_bom_header_is_clean(tmp_path):
    """The BOM must not stick to the first column name (it would then be missing)."""
    raw = read_table(_write(tmp_path / "bom.csv", "\ufeff" + GERMAN_CSV, "utf-8"))
    assert raw.columns[0] == "year"


def test_csv_decimal_comma_and_thousands_in_integers(tmp_path):
    """OWi counts with a thousands point in a ';' file (cp1252, 'Lärm')."""
    path = _write(tmp_path / "owi.csv", "year;category;count\n2022;Lärm;1.234\n2022;Parken;17\n", "cp1252")
    df = validate_table(read_table(path), "owi")
    assert df["count"].tolist() == [1234, 17] and df["category"].tolist() == ["Lärm", "Parken"]


def test_csv_error_names_file_row_column_value(tmp_path):
    text = GERMAN_CSV.replace("50.000,5", "fünfzig")
    path = _write(tmp_path / "bildung.csv", text, "cp1252")
    with pytest.raises(InputError) as err:
        validate_table(read_table(path), "education")
    problem = err.value.problems[0]
    assert (problem.row, problem.column, problem.value, problem.expected) == (3, "amount_eur", "fünfzig", "Zahl")
    assert "bildung.csv" in str(err.value) and "Zeile 3" in str(err.value)


# Characters that exist in Windows-1252 but not in Latin-1 (bytes 0x80 €, 0x84 „, 0x93 “,
# 0x96 –: C1 control characters in Latin-1), as Excel writes them in a German ";" CSV.
CP1252_ONLY = ("club_id;name;type;district_id;members\r\n"
               "1;„Kickers“ Muldenau – Jugend (Beitrag 5 €);Sport;1;1.234\r\n"
               "2;Förderverein – Grundschule;Soziales/Wohlfahrt;2;17\r\n")
CP1252_NAMES = ["„Kickers“ Muldenau – Jugend (Beitrag 5 €)", "Förderverein – Grundschule"]


def test_cp1252_only_characters_are_read_correctly(tmp_path):
    raw_bytes = CP1252_ONLY.encode("cp1252")
    assert {b"\x80", b"\x84", b"\x93", b"\x96"} <= {raw_bytes[i:i + 1] for i in range(len(raw_bytes))}
    raw = read_table(_write(tmp_path / "vereine.csv", CP1252_ONLY, "cp1252"))
    assert raw.attrs["encoding"] == "cp1252" and raw.attrs["separator"] == ";"
    assert raw["name"].tolist() == CP1252_NAMES
    assert not any("\u0080" <= ch <= "\u009f" for ch in "".join(raw["name"]))  # no C1 controls (Latin-1)
    df = validate_table(raw, "clubs")
    assert df["name"].tolist() == CP1252_NAMES


@pytest.mark.parametrize("content, row, bad, looks_like", [
    # Windows-1252 (ä = 0xe4 in row 2) with 0x81, a byte Windows-1252 does not define, in row 4
    (b"year;area\r\n2022;M\xe4rz\r\n2022;ok\r\n2023;ab\x81c\r\n", 4, b"\x81", "Windows-1252"),
    # UTF-8 (ä = 0xc3 0xa4 in row 2) with a stray Windows-1252 € (0x80) in row 3
    (b"year,area\n2022,M\xc3\xa4rz\n2023,5 \x80\n", 3, b"\x80", "UTF-8"),
    # UTF-8 with BOM and a Windows-1252 ä (0xe4) in row 2
    (b"\xef\xbb\xbfyear,area\n2022,M\xe4rz\n", 2, b"\xe4", "UTF-8 (mit BOM)"),
])
def test_broken_encoding_names_file_row_and_byte(tmp_path, content, row, bad, looks_like):
    path = tmp_path / "kaputt.csv"
    path.write_bytes(content)
    assert content.count(bad) == 1
    position = content.index(bad) + 1  # 1-based, as the message counts
    with pytest.raises(InputError) as err:
        read_table(path)
    problem = err.value.problems[0]
    assert problem.file == str(path) and problem.row == row
    assert f"Byte 0x{bad.hex()} an Byte-Position {position} " in problem.value
    assert f"sieht nach {looks_like} aus" in problem.expected
    assert "kaputt.csv" in str(err.value) and f"Zeile {row}" in str(err.value)


def test_xlsx(tmp_path):
    """Excel with real number cells (float and int) and text cells."""
    path = tmp_path / "bildung.xlsx"
    pd.DataFrame(EDU_ROWS, columns=["year", "area", "amount_eur", "posts_fte"]).to_excel(path, index=False)
    raw = read_table(path)
    assert raw.attrs["encoding"] == "xlsx" and raw.attrs["decimal"] == "."
    _check_education(validate_table(raw, "education"))


def test_xlsx_error_names_sheet_row(tmp_path):
    path = tmp_path / "owi.xlsx"
    pd.DataFrame({"year": [2022, 2022], "category": ["Lärm", "Lärmbelästigung"], "count": [3, 4]}).to_excel(
        path, index=False)
    with pytest.raises(InputError) as err:
        validate_table(read_table(path), "owi")
    problem = err.value.problems[0]
    assert (problem.row, problem.column, problem.value) == (3, "category", "Lärmbelästigung")
    assert "Lärm" in problem.expected


# ---------------------------------------------------------------------------
# Geometry
# ---------------------------------------------------------------------------

# Two districts of Dresden as small squares, given in EPSG:25833 (metres) and
# transformed by pyproj into the CRS of each fixture file.
UTM_SQUARES = [box(411000, 5654000, 412000, 5655000), box(412000, 5654000, 413000, 5655000)]
CORNER_25833 = UTM_SQUARES[0].exterior.coords[0]  # (412000, 5654000): box() starts at (maxx, miny)


def _to_crs(geom, crs: str):
    t = Transformer.from_crs("EPSG:25833", crs, always_xy=True)
    return Polygon([t.transform(x, y) for x, y in geom.exterior.coords])


def _districts(crs: str | None, geoms=None) -> gpd.GeoDataFrame:
    geoms = geoms or [_to_crs(g, crs or "EPSG:25833") for g in UTM_SQUARES]
    return gpd.GeoDataFrame({"district_id": ["11", "12"], "district_name": ["Altstadt", "Äußere Neustadt"]},
                            geometry=geoms, crs=crs)


def _write_geo(gdf: gpd.GeoDataFrame, path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Shapefile field names are shortened; writing without a CRS
        gdf.to_file(path)
    return str(path)


@pytest.mark.parametrize("suffix, crs", [
    (".gpkg", "EPSG:4326"), (".geojson", "EPSG:4326"), (".shp", "EPSG:4326"),
    (".gpkg", "EPSG:31468"), (".geojson", "EPSG:31468"), (".shp", "EPSG:31468"),
    (".gpkg", "EPSG:25833"),
])
def test_geometry_formats_are_reprojected(tmp_path, suffix, crs):
    source = _districts(crs)
    path = _write_geo(source, tmp_path / f"stadtteile{suffix}")
    gdf = validate_districts(read_geometry(path))
    assert gdf.crs.to_epsg() == 25833
    assert list(gdf["district_id"]) == ["11", "12"]
    assert list(gdf["district_name"]) == ["Altstadt", "Äußere Neustadt"]  # also the 10-character Shapefile names
    # a corner written in the source CRS comes back at the position pyproj gives, independently
    corner_src = source.geometry.iloc[0].exterior.coords[0]
    expected = Transformer.from_crs(crs, "EPSG:25833", always_xy=True).transform(*corner_src)
    got = gdf.geometry.iloc[0].exterior.coords[0]
    assert got == pytest.approx(expected, abs=1e-3)  # millimetres
    assert got == pytest.approx(CORNER_25833, abs=0.01)  # and the round trip holds


def test_invalid_polygon_names_feature(tmp_path):
    bowtie = Polygon([(411000, 5654000), (412000, 5655000), (412000, 5654000), (411000, 5655000)])
    path = _write_geo(_districts("EPSG:25833", [UTM_SQUARES[0], bowtie]), tmp_path / "kaputt.geojson")
    with pytest.raises(InputError) as err:
        read_geometry(path)
    problem = err.value.problems[0]
    assert problem.row == 2 and problem.column == "geometry"
    assert "12" in problem.value and "Äußere Neustadt" in problem.value
    # the GEOS reason in German with the place (kit.schemas.geometry_reason), not the raw message
    assert "Selbstüberschneidung" in problem.expected and "Self-intersection" not in str(err.value)
    text = str(err.value)
    assert "kaputt.geojson" in text and "Zeile 2" in text and "gültige Geometrie" in text


def test_point_instead_of_polygon(tmp_path):
    path = _write_geo(_districts("EPSG:25833", [Point(411500, 5654500), UTM_SQUARES[1]]), tmp_path / "punkte.gpkg")
    with pytest.raises(InputError) as err:
        read_geometry(path)
    problem = err.value.problems[0]
    assert problem.row == 1 and problem.value.startswith("Point") and "Altstadt" in problem.value
    assert problem.expected == "Polygon oder MultiPolygon"
    assert "punkte.gpkg" in str(err.value)


@pytest.mark.parametrize("suffix", [".shp", ".gpkg"])
def test_missing_crs(tmp_path, suffix):
    path = _write_geo(_districts(None, list(UTM_SQUARES)), tmp_path / f"ohne_crs{suffix}")
    with pytest.raises(InputError) as err:
        read_geometry(path)
    assert f"ohne_crs{suffix}" in str(err.value) and "Koordinatenbezugssystem" in str(err.value)


def test_wrong_crs_statement(tmp_path):
    """UTM metres declared as WGS84 degrees (a GeoJSON without 'crs' member is read as EPSG:4326)."""
    wrong = _districts("EPSG:25833", list(UTM_SQUARES)).set_crs("EPSG:4326", allow_override=True)
    path = _write_geo(wrong, tmp_path / "utm_als_grad.geojson")
    with pytest.raises(InputError) as err:
        read_geometry(path)
    assert "utm_als_grad.geojson" in str(err.value) and "Deutschland" in str(err.value)


def test_district_attributes_are_checked(tmp_path):
    gdf = _districts("EPSG:25833")
    gdf["district_id"] = ["11", "11"]
    with pytest.raises(InputError) as err:
        validate_districts(read_geometry(_write_geo(gdf, tmp_path / "doppelt.gpkg")))
    assert err.value.problems[0].column == "district_id" and "doppelt.gpkg" in str(err.value)
    gdf = _districts("EPSG:25833").drop(columns="district_name")
    with pytest.raises(InputError) as err:
        validate_districts(read_geometry(_write_geo(gdf, tmp_path / "ohne_namen.gpkg")))
    assert err.value.problems[0].column == "district_name"


def test_xlsx_sheet_names_the_file_and_the_sheets_it_has(tmp_path):
    """The reader of the known workbooks (Deutschlandatlas, Gemeindeverzeichnis): a missing sheet,
    an unreadable workbook and a missing file are German errors naming the file."""
    import openpyxl

    from kit.errors import InputError
    from kit.io import xlsx_sheet

    path = tmp_path / "atlas.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Hinweise"
    wb.create_sheet("KRS1222").append(["gkz", "name"])
    wb.save(path)
    with xlsx_sheet(path, "KRS1222", "Deutschlandatlas") as ws:
        assert next(ws.iter_rows(values_only=True)) == ("gkz", "name")
    with pytest.raises(InputError) as err:
        with xlsx_sheet(path, "Deutschlandatlas_KRS1222", "Deutschlandatlas"):
            pass
    assert "atlas.xlsx" in str(err.value) and "Hinweise" in str(err.value) and "KRS1222" in str(err.value)
    broken = tmp_path / "kaputt.xlsx"
    broken.write_bytes(b"kein Excel")
    with pytest.raises(InputError, match="kaputt.xlsx"):
        with xlsx_sheet(broken, "KRS1222", "Deutschlandatlas"):
            pass
    with pytest.raises(InputError, match="fehlt.xlsx"):
        with xlsx_sheet(tmp_path / "fehlt.xlsx", "KRS1222", "Deutschlandatlas"):
            pass
