"""Dresden as a real commune (issue 12, items 1-3): params/real/dresden.yaml reads the public files
in ../shared/realdata (never copied into the repository).

Tests that need the files skip with a clear reason when the folder is absent; the checks compare
the kit with values read independently from the files (csv, json, openpyxl), not with the kit's
own readers. The "no age groups" path, the residents reader's handling of encodings, separators
and line endings, and the missing-folder message run without the real files.
"""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import BKA_2020, BKA_2022, REALDATA, REALDATA_MISSING

from kit.errors import InputError, MissingFolderError
from kit.params import PARAMS_DIR, commune_params_files, load_params

DRESDEN = PARAMS_DIR / "real" / "dresden.yaml"
RESIDENTS = REALDATA / "population" / "dresden_einwohner_stadtteil_2024_geschlecht_staatsangehoerigkeit.csv"
POLYGONS = REALDATA / "geo" / "dresden_stadtteile_osm.geojson"

needs_realdata = pytest.mark.skipif(
    not (RESIDENTS.exists() and POLYGONS.exists() and BKA_2020.exists() and BKA_2022.exists()),
    reason=REALDATA_MISSING)

NO_POLYGON = [("36", "Langebrück/Schönborn"), ("90", "Cossebaude/Mobschatz/Oberw."), ("99", "Altfranken/Gompitz")]
NO_RESIDENTS = [("33", "Flughafen/Industriegebiet Klotzsche"), ("34", "Hellerberge"), ("44", "Dresdner Heide")]


# ---------------------------------------------------------------------------
# independent readings of the files
# ---------------------------------------------------------------------------

def _raw_residents() -> dict[str, tuple[str, int]]:
    """Stadtteil number -> (name, residents), with the csv module."""
    out: dict[str, list] = {}
    with RESIDENTS.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    for r in rows[1:]:
        number, name = r[1].split(" ", 1)
        out.setdefault(number, [name, 0])[1] += int(r[6])
    return {k: (v[0], v[1]) for k, v in out.items()}


def _raw_polygons() -> dict[str, str]:
    data = json.loads(POLYGONS.read_text(encoding="utf-8"))
    return {f["properties"]["ref"]: f["properties"]["name"] for f in data["features"]}


def _bka_2022_total() -> tuple[int, float]:
    """Cases and published HZ of 'Straftaten insgesamt' for Kreis 14612 in the CSV (Latin-1,
    ';', ',' as thousands separator)."""
    text = BKA_2022.read_bytes().decode("latin-1")
    for r in csv.reader(io.StringIO(text), delimiter=";"):
        if len(r) > 6 and r[0].strip() == "------" and r[2].strip() == "14612":
            return int(r[5].replace(",", "")), float(r[6].replace(",", ""))
    raise AssertionError("Zeile 14612 / ------ nicht gefunden")


def _bka_2020_total() -> tuple[int, float, int]:
    """Cases, published HZ and the EW column of 'Straftaten insgesamt' for 14612 (openpyxl)."""
    import openpyxl

    wb = openpyxl.load_workbook(BKA_2020, read_only=True, data_only=True)
    try:
        ws = wb[wb.sheetnames[0]]
        header = None
        for row in ws.iter_rows(values_only=True):
            cells = [str(c).strip() if c is not None else "" for c in row]
            if header is None and "EW" in cells:
                header = cells
                continue
            if len(cells) > 6 and cells[0] == "------" and cells[2] in ("14612", "14612.0"):
                ew = row[header.index("EW")] if header else None
                return int(row[5]), float(row[6]), int(ew)
    finally:
        wb.close()
    raise AssertionError("Zeile 14612 / ------ nicht gefunden")


@pytest.fixture(scope="module")
def dresden():
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile

    inputs = load_profile_inputs(load_params(DRESDEN))
    return inputs, compute_profile(inputs)


# ---------------------------------------------------------------------------
# mismatches, totals, HZ (need the real files)
# ---------------------------------------------------------------------------

@needs_realdata
def test_mismatch_lists_by_number_and_name(dresden):
    inputs, result = dresden
    m = result.district_match
    got_no_polygon = [(r.district_id, r.district_name) for r in m[m["status"] == "no_polygon"].itertuples()]
    got_no_residents = [(r.district_id, r.district_name) for r in m[m["status"] == "no_residents"].itertuples()]
    assert got_no_polygon == NO_POLYGON and got_no_residents == NO_RESIDENTS
    # the same sets from the raw files (json and csv modules)
    raw_res, raw_poly = _raw_residents(), _raw_polygons()
    assert sorted(set(raw_res) - set(raw_poly)) == [d for d, _ in NO_POLYGON]
    assert sorted(set(raw_poly) - set(raw_res)) == [d for d, _ in NO_RESIDENTS]
    assert (m["status"] == "matched").sum() == len(set(raw_res) & set(raw_poly)) == 58
    for did, _ in NO_POLYGON:
        assert m.set_index("district_id").loc[did, "residents"] == raw_res[did][1]


@needs_realdata
def test_totals_keep_every_resident_and_say_what_they_include(dresden):
    from kit.profile.realdata import match_coverage
    from kit.profile.realdata_view import coverage_text

    inputs, result = dresden
    raw = _raw_residents()
    total = sum(n for _, n in raw.values())
    assert total == 573648
    assert int(result.totals["total"].iloc[-1]) == total
    assert int(result.by_district["total"].sum()) == total and len(result.by_district) == 61
    cov = match_coverage(result.district_match)
    unmatched = sum(raw[d][1] for d, _ in NO_POLYGON)
    assert (cov["total"], cov["unmatched"], cov["matched"]) == (total, unmatched, total - unmatched)
    text = coverage_text(result, "Dresden")
    for did, name in NO_POLYGON + NO_RESIDENTS:
        assert f"{did} {name}" in text
    assert "573.648" in text and "16.527" in text and "557.121" in text
    # Stadtteil 76 comes in two rows per sex and nationality (two Stadträume): added up
    assert inputs["residents"].attrs["split_districts"] == ["76"]
    assert int(result.by_district.set_index("district_id").loc["76", "total"]) == raw["76"][1] == 11516


@needs_realdata
def test_hz_beside_the_bka_hz_by_hand(dresden):
    inputs, result = dresden
    h = result.hz_comparison.set_index(["year", "key"])
    cases20, hz20, ew20 = _bka_2020_total()
    cases22, hz22 = _bka_2022_total()
    for year, cases, hz_bka in ((2020, cases20, hz20), (2022, cases22, hz22)):
        r = h.loc[(year, "000000")]
        assert r["cases"] == cases
        assert r["hz_bka"] == pytest.approx(hz_bka, abs=1e-6)
        assert r["hz_kit"] == pytest.approx(cases * 100000 / 573648, rel=1e-12)
        assert r["population_kit"] == 573648 and r["population_kit_year"] == 2024
        assert r["population_bka_year"] == year - 1
        assert r["difference"] == pytest.approx(cases * 100000 / 573648 - hz_bka, rel=1e-9)
    assert (cases20, ew20) == (48929, 556780)
    assert h.loc[(2020, "000000"), "population_bka"] == ew20 and h.loc[(2020, "000000"), "population_bka_source"] == "EW"
    # 2022: no EW column, population from cases and the published (whole-number) HZ of the total row
    assert h.loc[(2022, "000000"), "population_bka"] == round(cases22 * 100000 / hz22)
    assert h.loc[(2022, "000000"), "population_bka_source"] == "HZ"
    # on the BKA's population the kit's formula gives the published HZ back up to its rounding
    rel = (h["hz_kit_on_bka_population"] - h["hz_bka"]).abs() / h["hz_bka"]
    assert (rel[h.index.get_level_values("year") == 2020] < 1e-6).all()
    big = h[h["cases"] >= 1000]
    assert ((big["hz_kit_on_bka_population"] - big["hz_bka"]).abs() <= 0.5 + 1e-9).all()  # HZ rounded to 1


@needs_realdata
def test_missing_realdata_is_one_clear_line(tmp_path):
    text = DRESDEN.read_text(encoding="utf-8").replace("data_dir: ../shared/realdata",
                                                        f"data_dir: {tmp_path / 'fehlt' / 'realdata'}")
    params = tmp_path / "dresden.yaml"
    params.write_text(text, encoding="utf-8")
    with pytest.raises(MissingFolderError) as err:
        load_params(params)
    message = str(err.value)
    assert "\n" not in message and "fehlt" in message and str(tmp_path / "fehlt" / "realdata") in message
    assert "data_dir" in message and "Dresden" in message
    # the batch over params/ takes only params/*.yaml: params/real/ only when named
    assert DRESDEN not in commune_params_files() and all(p.parent == PARAMS_DIR for p in commune_params_files())


def test_missing_folder_message_via_the_command(tmp_path, capsys):
    """Without the real files (or with them elsewhere) `kit run` says so in one line."""
    from kit.cli import main

    text = DRESDEN.read_text(encoding="utf-8").replace("data_dir: ../shared/realdata",
                                                        f"data_dir: {tmp_path / 'nirgends'}")
    params = tmp_path / "dresden.yaml"
    params.write_text(text, encoding="utf-8")
    assert main(["run", str(params), "--output", str(tmp_path / "out"), "--kein-pdf"]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "Datenordner" in line]
    assert len(lines) == 1 and str(tmp_path / "nirgends") in lines[0] and "fehlt" in lines[0]
    assert "Traceback" not in out


# ---------------------------------------------------------------------------
# no age groups (no real files needed)
# ---------------------------------------------------------------------------

def _residents_without_age() -> pd.DataFrame:
    rows = [("1", "m", "deutsch", 100), ("1", "w", "deutsch", 120), ("1", "w", "nichtdeutsch", 30),
            ("2", "m", "deutsch", 50), ("2", "w", "nichtdeutsch", 10)]
    df = pd.DataFrame(rows, columns=["district_id", "sex", "nationality", "count"])
    df.insert(0, "year", 2024)
    return df.astype({"year": "Int64", "district_id": "string", "sex": "string", "nationality": "string",
                      "count": "Int64"})


def test_no_age_groups_shares_unknown_not_zero():
    from kit.profile import indicators as prof

    res = _residents_without_age()
    assert not prof.has_age_groups(res)
    totals = prof.population_totals(res)
    assert int(totals["total"].iloc[0]) == 310
    assert np.isnan(totals["share_65plus_pct"].iloc[0]) and np.isnan(totals["share_under18_pct"].iloc[0])
    assert totals["share_nongerman_pct"].iloc[0] == pytest.approx(100 * 40 / 310)
    assert totals["share_female_pct"].iloc[0] == pytest.approx(100 * 160 / 310)
    by = prof.population_by_district(res)
    assert by["share_65plus_pct"].isna().all() and list(by["total"]) == [250, 60]
    assert prof.age_pyramid(res).empty
    assert prof.survey_population_margins(res).empty
    ind = prof.population_indicators(res)
    assert not ind["indicator"].isin(["population_share_65plus", "population_share_under18"]).any()
    assert ind["value"].notna().all()
    # a table with age groups keeps them (the check is about the column's content)
    with_age = res.assign(age_group=pd.array(["25-34"] * len(res), dtype="string"))
    assert prof.has_age_groups(with_age) and not prof.age_pyramid(with_age).empty


def test_no_age_groups_profile_says_what_it_cannot_show():
    from types import SimpleNamespace

    from kit.profile.realdata_view import no_age_text

    ctx = pd.DataFrame({"indicator": ["bev_u18", "bev_ue65"], "value": [17.29, 21.79],
                        "region_name": ["Dresden, Stadt"] * 2})
    text = no_age_text(SimpleNamespace(context=ctx), "Dresden")
    assert "keine Altersgruppen" in text and "Bevölkerungspyramide" in text and "65 Jahren" in text
    assert "17,3 %" in text and "21,8 %" in text and "nan" not in text.lower()
    assert "Deutschlandatlas" not in no_age_text(SimpleNamespace(context=None), "Dresden")


def test_key_indicators_leave_out_unknown_age_shares():
    from kit.profile import indicators as prof
    from kit.profile.stage import key_indicators
    from types import SimpleNamespace

    res = _residents_without_age()
    result = SimpleNamespace(totals=prof.population_totals(res), pks=prof.empty_indicators(), benchmarks=None,
                             owi=None, bos=None, clubs=None, education=None, pmk_indicators=None, gaps=None,
                             reference={}, reference_label="")
    ki = key_indicators(result)
    assert "profile.share_65plus" not in set(ki["indicator"]) and "profile.share_under18" not in set(ki["indicator"])
    assert ki.set_index("indicator").loc["profile.share_nongerman", "value"] == pytest.approx(40 / 310)


# ---------------------------------------------------------------------------
# the residents reader: encoding, separator, line endings as they come
# ---------------------------------------------------------------------------

HEADER = ("Jahr;Stadtteil zus.;Stadtbezirk mit zugeordneten Ortschaften;Stadtraum;Geschlecht;"
          "Staatsangehörigkeit-1 Deutsche / Ausländer;Anzahl Einwohner")
BODY = [
    "2024;01 Innere Altstadt;StB 0 Altstadt;01 StB Altstadt;männlich;Deutsche;1034",
    "2024;01 Innere Altstadt;StB 0 Altstadt;01 StB Altstadt;weiblich;Ausländer;443",
    "2024;76 Strehlen;StB 7 Prohlis;11 Prohlis;männlich;Deutsche;1091",
    "2024;76 Strehlen;StB 7 Prohlis;12 Niedersedlitz;männlich;Deutsche;3326",
    "2024;99 Altfranken/Gompitz;StB Ortschaften;20 Ortschaften;weiblich;Ausländer;7",
]


@settings(max_examples=12, deadline=None)
@given(encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]), newline=st.sampled_from(["\n", "\r\n"]),
       sep=st.sampled_from([";", ","]), final_newline=st.booleans())
def test_residents_reader_takes_the_file_as_it_comes(tmp_path_factory, encoding, newline, sep, final_newline):
    from kit.profile.realdata import read_opendata_dresden

    lines = [HEADER, *BODY]
    if sep == ",":  # no field holds a comma here
        lines = [line.replace(";", ",") for line in lines]
    text = newline.join(lines) + (newline if final_newline else "")
    path = tmp_path_factory.mktemp("einw") / "einwohner.csv"
    path.write_bytes(text.encode(encoding))
    df = read_opendata_dresden(path)
    got = {(r.district_id, r.sex, r.nationality): int(r.count) for r in df.itertuples()}
    assert got == {("01", "m", "deutsch"): 1034, ("01", "w", "nichtdeutsch"): 443,
                   ("76", "m", "deutsch"): 1091 + 3326, ("99", "w", "nichtdeutsch"): 7}
    assert df.attrs["district_names"] == {"01": "Innere Altstadt", "76": "Strehlen", "99": "Altfranken/Gompitz"}
    assert df.attrs["split_districts"] == ["76"] and "age_group" not in df.columns


def test_residents_reader_names_row_column_value(tmp_path):
    from kit.profile.realdata import read_opendata_dresden

    bad = [*BODY[:2], BODY[2].replace("männlich", "maskulin"), BODY[3].replace(";3326", ";drei")]
    path = tmp_path / "einwohner.csv"
    path.write_text("\n".join([HEADER, *bad]), encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_opendata_dresden(path)
    message = str(err.value)
    assert "Zeile 4, Spalte 'Geschlecht': Wert 'maskulin'" in message and "männlich, weiblich oder divers" in message
    assert "Zeile 5, Spalte 'Anzahl Einwohner': Wert 'drei'" in message


# ---------------------------------------------------------------------------
# end to end: stage 1 and 3 (stage 2 entfällt) into a temporary folder
# ---------------------------------------------------------------------------

class _Text(HTMLParser):
    def __init__(self):
        super().__init__()
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        self.skip += tag in ("script", "style")
        if tag == "img":
            self.parts.append(" " + (dict(attrs).get("alt") or "") + " ")

    def handle_endtag(self, tag):
        self.skip -= tag in ("script", "style")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def _visible(path: Path) -> str:
    p = _Text()
    p.feed(path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", " ".join(p.parts))


@needs_realdata
def test_dresden_end_to_end(tmp_path, monkeypatch):
    from kit.runner import run_commune

    monkeypatch.setenv("KIT_PDF", "0")
    out = tmp_path / "output"
    status = run_commune(DRESDEN, out, force=True, log=lambda *_: None)
    states = {s.stage: s.status for s in status.stages}
    assert states == {"profile": "ok", "survey": "entfällt", "recommend": "ok"}, [s.message for s in status.stages]
    text = _visible(out / "dresden" / "1_profile.html")
    assert ("3 davon haben in der Stadtteil-Geometrie kein Polygon: 36 Langebrück/Schönborn (4.328 Einwohner), "
            "90 Cossebaude/Mobschatz/Oberw. (7.859 Einwohner) und 99 Altfranken/Gompitz (4.340 Einwohner)") in text
    assert "33 Flughafen/Industriegebiet Klotzsche, 34 Hellerberge und 44 Dresdner Heide" in text
    assert "573.648" in text and "keine Altersgruppen" in text and "Häufigkeitszahl des Kits und des BKA" in text
    assert "556.780 Einwohner am 31.12.2019" in text
    # two report years allow no early warning: said so, not "keine auffällig"
    assert "lässt sich mit diesen Jahren nicht prüfen" in text and "Keine dieser Reihen ist im letzten Jahr" not in text
    assert "Reihen ließ sich prüfen" in text and "Von 0 geprüften Reihen" not in text
    # the real files are credited as the params give them, not as a commune's register
    assert "Kartengrundlage: © OpenStreetMap contributors, ODbL 1.0" in text
    assert "Landeshauptstadt Dresden, opendata.dresden.de" in text and "Melderegister Dresden" not in text
    for page in ("1_profile.html", "3_recommend.html"):
        body = _visible(out / "dresden" / page)
        assert not re.search(r"\bnan\b|\bNaN\b|\bNone\b|Traceback|share_65plus|_pct\b", body), page
    results = out / "dresden" / "results"
    match = pd.read_csv(results / "district_match.csv", dtype={"district_id": str})
    assert sorted(match.loc[match["status"] != "matched", "district_id"]) == ["33", "34", "36", "44", "90", "99"]
    hz = pd.read_csv(results / "pks_hz_comparison.csv", dtype={"key": str})
    assert set(hz["year"]) == {2020, 2022}
    ki = pd.read_csv(results / "key_indicators_profile.csv")
    assert "profile.share_65plus" not in set(ki["indicator"]) and ki["value"].notna().all()


def test_survey_without_age_margins_stops_with_a_german_message(tmp_path):
    """A commune whose residents have no age groups cannot weight a survey by age: stage 2 says
    why instead of failing inside the raking."""
    from kit.errors import DataError
    from kit.profile import indicators as prof
    from kit.results import ResultStore
    from kit.survey.stage import compute_survey

    params = load_params(PARAMS_DIR / "muldenau.yaml")
    from kit.demo import ensure_demo_data

    ensure_demo_data(params)
    store = ResultStore(tmp_path, "muldenau", stage="profile")
    store.write_table("districts", pd.DataFrame({"district_id": ["1", "2"], "district_name": ["A", "B"]}))
    store.write_table("population_margins", prof.survey_population_margins(_residents_without_age()))
    with pytest.raises(DataError) as err:
        compute_survey(params, ResultStore(tmp_path, "muldenau", stage="survey"))
    assert "keine Altersgruppen" in str(err.value) and "Muldenau" in str(err.value)
