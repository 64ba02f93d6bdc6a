"""Small helpers shared by the tests (independent of the kit's own code)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pandas as pd

# The smallest commune params file the typed model accepts ({data}: the data folder), for tests
# that add one block and check how it is validated.
MINIMAL_PARAMS = """commune_id: testort
name: Testort
ags: "14522990"
data_dir: {data}
inputs:
  districts: d.geojson
  residents: r.csv
  pks: p.csv
"""


def one(ind: pd.DataFrame, **where) -> pd.Series:
    """The single row of an indicator table matching every column=value."""
    sel = ind
    for col, val in where.items():
        sel = sel[sel[col] == val]
    assert len(sel) == 1, f"expected one row for {where}, got {len(sel)}"
    return sel.iloc[0]


def poisson_cdf(k: int, mu: float) -> float:
    """P(X <= k) by summing the probability mass, independently of scipy."""
    term, total = math.exp(-mu), 0.0
    for i in range(k + 1):
        total += term
        term *= mu / (i + 1)
    return total


def raw_demo_rows(path: Path) -> list[dict]:
    """Rows of a demo CSV (';'-separated cp1252, as muldenau writes them) read with the csv module."""
    with open(path, encoding="cp1252", newline="") as fh:
        return list(csv.DictReader(fh, delimiter=";"))


# The BKA Kreis table's CSV header (ASCII spelling, as the BKA writes it), for tables written in tests
BKA_HEADER = ("Schluessel;Straftat;Gemeindeschluessel;Stadt-/Landkreis;Kreisart;Anzahl erfasste Faelle;"
              "Haeufigkeitszahl;erfasste Faelle, davon Versuche - Anzahl;erfasste Faelle, davon Versuche - Anteil in %;"
              "mit Schusswaffe gedroht;mit Schusswaffe geschossen;Auffklaerung - Anzahl Faelle;Aufklaerungsquote;"
              "Tatverdaechtige insgesamt;Tatverdaechtige - maennlich;Tatverdaechtige - weiblich;"
              "Nichtdeutsche Tatverdaechtige - Anzahl;Nichtdeutsche Tatverdaechtige - Anteil in % an der Gesamtzahl")

# ../shared/realdata beside the kit folder: read there, never copied (tests skip without it)
REALDATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "realdata").resolve()
BKA_2020 = REALDATA / "pks" / "2020_KR-F-01-T01-Kreise-Faelle-HZ_xls.xlsx"
BKA_2022 = REALDATA / "pks" / "2022_KR-F-01-T01-Kreise-Faelle-HZ_csv.csv"
REALDATA_MISSING = f"echte Daten fehlen: {REALDATA} (../shared/realdata neben dem Kit-Ordner) ist nicht vorhanden"
