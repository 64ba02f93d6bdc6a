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
