"""Reading input files as analysts hand them over.

Tables are read as text first (every cell a string, nothing guessed), so that
`kit.schemas` can convert and check each value and name the exact cell when
something is wrong. German conventions are recognised: `;` separators, decimal
commas, cp1252 or UTF-8 with BOM.
"""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pandas as pd

from kit.errors import InputError, Problem, missing_file

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
GEO_SUFFIXES = {".gpkg", ".geojson", ".json", ".shp"}
TARGET_CRS = "EPSG:25833"  # ETRS89 / UTM 33N, the usual CRS of Saxon authorities

# Typical signs of UTF-8 text that was decoded as cp1252 and saved again.
_MOJIBAKE = ("Ã¤", "Ã¶", "Ã¼", "ÃŸ", "Ã„", "Ã–", "Ãœ", "â€“", "â€ž")


def decode_text(raw: bytes, path: str | Path) -> tuple[str, str]:
    """Decode bytes as UTF-8 (with or without BOM), else cp1252.

    Returns (text, encoding). Raises InputError for bytes that are neither,
    and for doubly encoded text (UTF-8 read as cp1252 and saved again).
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        try:
            text, encoding = raw[3:].decode("utf-8", errors="strict"), "utf-8-sig"
        except UnicodeDecodeError as bom_error:  # a BOM says UTF-8: name the byte that is not
            raise encoding_error(path, raw, bom_error.start + 3, "UTF-8 (mit BOM)") from None
    else:
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError as utf8_error:
            try:
                text, encoding = raw.decode("cp1252"), "cp1252"
            except UnicodeDecodeError as cp1252_error:
                # Name the byte of the encoding the file evidently uses: UTF-8 when the bytes
                # before the first UTF-8 error hold UTF-8 umlauts etc., else Windows-1252
                # (whose few undefined bytes, e.g. 0x81, 0x8d, 0x90, then fail).
                utf8_like = any(b >= 0x80 for b in raw[: utf8_error.start])
                pos = utf8_error.start if utf8_like else cp1252_error.start
                raise encoding_error(path, raw, pos, "UTF-8" if utf8_like else "Windows-1252") from None
            if any(marker in text for marker in _MOJIBAKE):
                # UTF-8 umlauts read as Windows-1252: a UTF-8 file with one broken byte
                raise encoding_error(path, raw, utf8_error.start, "UTF-8") from None
    for marker in _MOJIBAKE:
        pos = text.find(marker)
        if pos >= 0:
            line = text.count("\n", 0, pos) + 1
            raise InputError(
                Problem(
                    file=str(path),
                    row=line,
                    value=text[max(0, pos - 10) : pos + 12].strip(),
                    expected=(
                        "korrekt kodierte Umlaute (die Datei wurde offenbar doppelt "
                        "kodiert: UTF-8 als Windows-1252 gelesen und neu gespeichert)"
                    ),
                )
            )
    return text, encoding


def encoding_error(path: str | Path, raw: bytes, pos: int, encoding: str) -> InputError:
    """InputError for an undecodable byte: file, row (line), byte position and the byte."""
    line_start = raw.rfind(b"\n", 0, pos) + 1
    line = raw[:pos].count(b"\n") + 1
    column = pos - line_start + 1
    return InputError(Problem(
        file=str(path),
        row=line,
        value=f"Byte 0x{raw[pos:pos + 1].hex()} an Byte-Position {pos + 1} der Datei ({column}. Byte der Zeile)",
        expected=(f"Text in UTF-8 oder Windows-1252 (cp1252); die Datei sieht nach {encoding} aus, aber dieses "
                  f"Byte ist dort ungültig (Datei beschädigt oder gemischt kodiert? In einem Editor öffnen und "
                  f"als UTF-8 speichern)"),
    ))


def sniff_separator(text: str) -> str:
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
    except csv.Error:
        counts = {sep: sample.count(sep) for sep in ";,\t"}
        return max(counts, key=counts.get)


def read_table(path: str | Path, *, skip_lines: int = 0, sheet: str | int = 0) -> pd.DataFrame:
    """Read a CSV or XLSX file with every cell as text (missing cells as <NA>).

    ``df.attrs`` records the source, the encoding, separator, decimal mark and
    ``first_data_row``: the file row of the first data record (header = row 1
    unless ``skip_lines`` lines precede it), used in error messages.
    """
    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Tabelle")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        text, encoding = decode_text(path.read_bytes(), path)
        lines = text.splitlines()
        body = "\n".join(lines[skip_lines:])
        sep = sniff_separator(body)
        try:
            df = pd.read_csv(
                io.StringIO(body),
                sep=sep,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                skipinitialspace=True,
            )
        except pd.errors.ParserError as exc:
            raise InputError(
                Problem(file=str(path), value=str(exc).split("\n")[0],
                        expected=f"gleich viele Felder je Zeile, getrennt durch '{sep}'")
            ) from None
        decimal = "," if sep == ";" else "."
        attrs = {"encoding": encoding, "separator": sep, "decimal": decimal}
    elif suffix in EXCEL_SUFFIXES:
        try:
            df = pd.read_excel(path, sheet_name=sheet, dtype=str, skiprows=skip_lines)
        except Exception as exc:  # openpyxl raises many types for broken files
            raise InputError(
                Problem(file=str(path), value=type(exc).__name__, expected="lesbare Excel-Datei (.xlsx)")
            ) from None
        attrs = {"encoding": "xlsx", "separator": None, "decimal": "."}
    else:
        raise InputError(
            Problem(file=str(path), value=path.suffix or "(keine Endung)",
                    expected="CSV (.csv) oder Excel (.xlsx)")
        )
    df.columns = [str(c).strip() for c in df.columns]
    df = df.apply(lambda col: col.str.strip() if col.dtype == object or str(col.dtype).startswith("str") else col)
    df = df.dropna(how="all")  # keep the index: it maps back to the file row
    df.attrs.update(attrs)
    df.attrs["source"] = str(path)
    df.attrs["first_data_row"] = skip_lines + 2
    return df


# A generous box around Germany (WGS84 degrees): district files of Saxon
# communes lie far inside. Used to catch a wrong or missing CRS statement,
# e.g. UTM metres in a GeoJSON without "crs" member (read as degrees).
GERMANY_LONLAT = (5.0, 47.0, 16.0, 55.5)


def _feature_label(gdf, i: int) -> str:
    """' (Stadtteil-Nr. 7, Altstadt)' for feature i when the file has these
    columns (also in the 10-character Shapefile spelling), else ''."""
    parts = []
    for names in (("district_id", "district_i"), ("district_name", "district_n")):
        col = next((c for c in names if c in gdf.columns), None)
        if col is not None and gdf[col].iloc[i] is not None and str(gdf[col].iloc[i]).strip():
            parts.append(str(gdf[col].iloc[i]).strip())
    if not parts:
        return ""
    return f" (Stadtteil-Nr. {', '.join(parts)})" if len(parts) == 1 else f" (Stadtteil-Nr. {parts[0]}, {parts[1]})"


def read_geometry(path: str | Path, *, target_crs: str = TARGET_CRS):
    """Read polygons from GeoPackage / GeoJSON / Shapefile and reproject.

    Raises InputError when the file is missing or unreadable, has no CRS, or
    holds empty, non-polygon or invalid geometries (naming the feature: row =
    feature number, 1-based, plus its district id and name where present), or
    when its coordinates do not lie in Germany once reprojected (a wrong or
    missing CRS statement).
    """
    import geopandas as gpd
    import numpy as np
    import shapely

    path = Path(path)
    if not path.exists():
        raise missing_file(path, "Geometrie")
    if path.suffix.lower() not in GEO_SUFFIXES:
        raise InputError(Problem(file=str(path), value=path.suffix,
                                 expected="GeoPackage (.gpkg), GeoJSON (.geojson) oder Shapefile (.shp)"))
    try:
        gdf = gpd.read_file(path)
    except Exception as exc:
        raise InputError(Problem(file=str(path), value=str(exc).split("\n")[0][:200],
                                 expected="lesbare Geodaten-Datei")) from None
    if gdf.crs is None:
        hint = " (beim Shapefile die .prj-Datei)" if path.suffix.lower() == ".shp" else ""
        raise InputError(Problem(file=str(path), expected=f"ein angegebenes Koordinatenbezugssystem (CRS){hint}"))
    problems = []
    for i, geom in enumerate(gdf.geometry):
        row = i + 1  # feature number, 1-based
        where = _feature_label(gdf, i)
        if geom is None or geom.is_empty:
            problems.append(Problem(file=str(path), row=row, column="geometry", value=f"leer{where}",
                                    expected="Polygon oder MultiPolygon"))
        elif geom.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(Problem(file=str(path), row=row, column="geometry", value=f"{geom.geom_type}{where}",
                                    expected="Polygon oder MultiPolygon"))
        elif not geom.is_valid:
            problems.append(Problem(file=str(path), row=row, column="geometry",
                                    value=f"{shapely.is_valid_reason(geom)}{where}",
                                    expected="gültige Geometrie (keine Selbstüberschneidung)"))
    if problems:
        raise InputError(problems)
    source_crs = gdf.crs.to_string()
    with np.errstate(all="ignore"):
        lonlat = gdf.to_crs("EPSG:4326").total_bounds
    lon0, lat0, lon1, lat1 = GERMANY_LONLAT
    if not (np.isfinite(lonlat).all() and lon0 <= lonlat[0] and lonlat[2] <= lon1
            and lat0 <= lonlat[1] and lonlat[3] <= lat1):
        raise InputError(Problem(
            file=str(path), column="geometry", value=f"Koordinaten {', '.join(f'{v:.6g}' for v in gdf.total_bounds)} "
                                                     f"in {source_crs}",
            expected=("Koordinaten in Deutschland im angegebenen Koordinatenbezugssystem; ist das CRS richtig "
                      "angegeben (z. B. EPSG:25833 für ETRS89/UTM 33N statt EPSG:4326)?")))
    gdf = gdf.to_crs(target_crs)
    gdf.attrs["source"] = str(path)
    gdf.attrs["first_data_row"] = 1
    return gdf


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
