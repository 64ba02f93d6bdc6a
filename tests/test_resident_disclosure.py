"""Resident counts by sex: no hidden count (e.g. a few "divers" in a district) can be
recomputed from everything stage 1 writes about residents.

The attacker is independent of kit.disclosure.protect: it reads the written CSV files
with the csv module, collects every published number about residents of a year and unit
(commune or district) - the tables population_totals / population_by_district (m, w, d,
total) and the indicator rows of profile_indicators (``population`` = total,
``population_share_female`` count = women, base = total) - and asks a linear program
(scipy) for the smallest and largest value each hidden count can take, given
total = m + w + d in every unit, the districts adding up to the commune and counts >= 0.
A hidden count whose minimum equals its maximum is recovered.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from tests.batch_runs import make_inputs

SEXES = ("m", "w", "d")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def published_residents(results: Path) -> dict[tuple[int, str], dict[str, float]]:
    """{(year, district_id or ""): {column: value}} of every published resident count."""
    known: dict[tuple[int, str], dict[str, float]] = defaultdict(dict)

    def put(key, col, text):
        if text not in ("", None):
            value = float(text)
            assert known[key].get(col, value) == value, (key, col)  # sources agree
            known[key][col] = value

    for r in _read(results / "population_totals.csv"):
        for col in (*SEXES, "total"):
            put((int(r["year"]), ""), col, r.get(col, ""))
    for r in _read(results / "population_by_district.csv"):
        for col in (*SEXES, "total"):
            put((int(r["year"]), r["district_id"]), col, r.get(col, ""))
    for r in _read(results / "profile_indicators.csv"):
        if not r["indicator"].startswith("population"):
            continue
        key = (int(r["year"]), r["district_id"])
        if r["indicator"] == "population":
            put(key, "total", r["count"])
        elif r["indicator"] == "population_share_female":
            put(key, "w", r["count"])
            put(key, "total", r["base"])
            if r["value"] and r["base"] and not r["count"]:
                # a share with its base is a count: rounding to the written precision must not pin it
                put(key, "w", str(round(float(r["value"]) * float(r["base"]) / 100)))
    return known


def recoverable(known, truth, min_cell: int = 5) -> list[tuple]:
    """Small counts (1 to min_cell - 1 residents, in ``truth`` but not in ``known``) that the
    published ones determine. Larger unpublished counts (e.g. the men of a district in an
    earlier year, total minus women when nobody there is "divers") name nobody."""
    found = []
    for year in sorted({y for y, _ in truth}):
        units = sorted(u for y, u in truth if y == year)
        var = {(u, c): i for i, (u, c) in enumerate((u, c) for u in units for c in (*SEXES, "total"))}
        eq, rhs = [], []
        for u in units:  # total = m + w + d
            row = np.zeros(len(var))
            row[var[(u, "total")]] = 1
            for c in SEXES:
                row[var[(u, c)]] = -1
            eq.append(row), rhs.append(0.0)
        districts = [u for u in units if u]
        if "" in units and districts:  # districts add up to the commune (every resident has one)
            for c in (*SEXES, "total"):
                row = np.zeros(len(var))
                row[var[("", c)]] = 1
                for u in districts:
                    row[var[(u, c)]] = -1
                eq.append(row), rhs.append(0.0)
        for (u, c), i in var.items():  # published values are fixed
            if c in known.get((year, u), {}):
                row = np.zeros(len(var))
                row[i] = 1
                eq.append(row), rhs.append(known[(year, u)][c])
        A, b = np.array(eq), np.array(rhs)
        for (u, c), i in var.items():
            if c in known.get((year, u), {}) or not 0 < truth[(year, u)][c] < min_cell:
                continue
            bounds = []
            for sign in (1, -1):
                cost = np.zeros(len(var))
                cost[i] = sign
                res = linprog(cost, A_eq=A, b_eq=b, bounds=[(0, None)] * len(var), method="highs")
                assert res.status == 0, res.message
                bounds.append(sign * res.fun)
            if abs(bounds[0] - bounds[1]) < 0.5:
                found.append((year, u, c, truth[(year, u)][c]))
    return found


def true_residents(residents: pd.DataFrame) -> dict[tuple[int, str], dict[str, float]]:
    res = residents.assign(count=residents["count"].astype(float), district_id=residents["district_id"].astype(str))
    truth: dict[tuple[int, str], dict[str, float]] = {}
    for by, unit in ((["year"], lambda k: ""), (["year", "district_id"], lambda k: k[1])):
        for key, g in res.groupby(by):
            key = key if isinstance(key, tuple) else (key,)
            counts = g.groupby("sex")["count"].sum()
            truth[(int(key[0]), unit(key))] = {**{s: float(counts.get(s, 0.0)) for s in SEXES},
                                               "total": float(g["count"].sum())}
    return truth


def write_stage1(params_file: Path, out: Path, edit=None) -> tuple[Path, dict]:
    from kit.params import load_params
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile, write_profile
    from kit.results import ResultStore

    inputs = load_profile_inputs(load_params(params_file))
    if edit is not None:
        edit(inputs)
    result = compute_profile(inputs)
    store = ResultStore(out, inputs.params["commune_id"], "profile")
    write_profile(result, store, inputs)
    return store.path("population_totals", ".csv").parent, true_residents(inputs["residents"])


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("residents")
    return root, make_inputs(root, communes=("muldenau", "elsterhain", "elbstadt"))


def test_no_hidden_resident_count_is_recoverable_in_the_demo(demo_files):
    root, files = demo_files
    small_d = 0
    for params_file in files:
        results, truth = write_stage1(params_file, root / "out")
        known = published_residents(results)
        assert recoverable(known, truth) == [], params_file.stem
        small_d += sum(1 for k, v in truth.items() if 0 < v["d"] < 5 and "d" not in known.get(k, {}))
    assert small_d > 0  # the demo has small "divers" counts, so the attack had something to find


def test_a_planted_divers_count_in_every_year_and_district_stays_hidden(demo_files):
    """Two "divers" residents in one district in every year, as women before: the women's
    count of the district, the commune's women and the shares must not give them back."""
    root, files = demo_files
    muldenau = next(f for f in files if f.stem == "muldenau")

    def plant(inputs):
        res = inputs["residents"]
        first = res["district_id"].astype(str).min()
        rows = res[(res["district_id"].astype(str) == first) & (res["sex"] == "w")
                   & (res["count"] > 2)].groupby("year").head(1)
        res.loc[rows.index, "count"] = res.loc[rows.index, "count"] - 2
        planted = rows.assign(sex="d", count=2)
        inputs.tables["residents"] = pd.concat([res[res["sex"] != "d"], planted], ignore_index=True)

    results, truth = write_stage1(muldenau, root / "planted", edit=plant)
    known = published_residents(results)
    planted = [k for k, v in truth.items() if v["d"] == 2]
    assert planted  # the plant took
    assert all("d" not in known.get(k, {}) for k in planted)
    assert recoverable(known, truth) == []
    # the women's share stays in the report tables: the complement is taken from the men
    totals = pd.read_csv(results / "population_totals.csv")
    assert totals["share_female_pct"].notna().all()
