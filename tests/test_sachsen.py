"""All Saxon communes as a batch from real data (issue 12, item 4): kit/sachsen.py and
`python -m kit sachsen`.

Tests that need ../shared/realdata skip with a clear reason when it is absent. Their checks
compare the kit's results with values read independently from the source files (json, csv,
openpyxl), never through the kit's readers. The join logic, the synthetic PKS and the
missing-folder message are also tested without the real files.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import BKA_2020, BKA_2022, REALDATA, REALDATA_MISSING


GEOMETRY = REALDATA / "geo" / "derived_sachsen_gemeinden_vg250.geojson"
REGISTER = REALDATA / "population" / "31122021_Auszug_GV.xlsx"
ATLAS = REALDATA / "context" / "Deutschlandatlas-Daten_Stand2024-12.xlsx"

needs_realdata = pytest.mark.skipif(
    not all(p.exists() for p in (GEOMETRY, REGISTER, BKA_2020, BKA_2022, ATLAS)),
    reason=REALDATA_MISSING)

CHEMNITZ, RATHEN, JAHNATAL = "14511000", "14628310", "14522275"  # kreisfreie Stadt, smallest Gemeinde, merger
OSTRAU, ZSCHAITZ = "14522450", "14522620"
SAMPLE = [CHEMNITZ, RATHEN, JAHNATAL]


# ---------------------------------------------------------------------------
# independent readings of the source files
# ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _raw_register() -> dict[str, tuple[str, int, int, int]]:
    """AGS -> (name, population, male, female) of the Saxon rows of Satzart 60 (openpyxl)."""
    import openpyxl

    wb = openpyxl.load_workbook(REGISTER, read_only=True, data_only=True)
    try:
        out = {}
        for r in wb["Onlineprodukt_Gemeinden"].iter_rows(values_only=True):
            if r[0] == "60" and r[2] == "14":
                out[f"{r[2]}{r[3]}{r[4]}{r[6]}"] = (r[7], r[9], r[10], r[11])
        return out
    finally:
        wb.close()


@functools.lru_cache(maxsize=1)
def _raw_bka_2022() -> dict[tuple[str, str], tuple[int, float]]:
    """(Kreis key, offence key) -> (cases, published HZ) of the Saxon rows of the 2022 CSV
    (Latin-1, ';', ',' as thousands separator; the total is written '------')."""
    text = BKA_2022.read_bytes().decode("latin-1")
    out = {}
    for r in csv.reader(io.StringIO(text), delimiter=";"):
        if len(r) > 6 and r[2].strip().startswith("14") and len(r[2].strip()) == 5:
            key = "000000" if r[0].strip() == "------" else r[0].strip()
            out[(r[2].strip(), key)] = (int(r[5].replace(",", "")), float(r[6].replace(",", "")))
    return out


@functools.lru_cache(maxsize=1)
def _raw_bka_2020_totals() -> dict[str, tuple[int, float, int]]:
    """Kreis key -> (cases, HZ, EW) of 'Straftaten insgesamt' for the Saxon Kreise (openpyxl)."""
    import openpyxl

    wb = openpyxl.load_workbook(BKA_2020, read_only=True, data_only=True)
    try:
        header, out = None, {}
        for row in wb[wb.sheetnames[0]].iter_rows(values_only=True):
            cells = [str(c).strip() if c is not None else "" for c in row]
            if header is None and "EW" in cells:
                header = cells
                continue
            kreis = cells[2].removesuffix(".0") if len(cells) > 2 else ""
            if len(cells) > 6 and cells[0] == "------" and kreis.startswith("14") and len(kreis) == 5:
                out[kreis] = (int(row[5]), float(row[6]), int(row[header.index("EW")]))
        return out
    finally:
        wb.close()


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


# ---------------------------------------------------------------------------
# join and synthetic PKS (no real files needed)
# ---------------------------------------------------------------------------

def _register_frame(rows: list[tuple[str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame([{"ags": a, "name": f"Gemeinde {a}", "kind_code": "64", "kreis_key": a[:5], "area_km2": 1.0,
                          "population": m + w, "male": m, "female": w, "row": i + 7}
                         for i, (a, m, w) in enumerate(rows)])


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(min_value=3, max_value=12))
def test_join_matches_merges_and_names_what_is_left(data, n):
    from kit.sachsen import (
        MATCHED,
        MERGED,
        MERGED_PART,
        NO_BOUNDARY,
        NO_REGISTER,
        Merger,
        join_communes,
    )

    numbers = data.draw(st.lists(st.integers(100, 999), min_size=n + 3, max_size=n + 3, unique=True))
    ags = [f"14522{k}" for k in numbers]
    new, part_a, part_b, others = ags[0], ags[1], ags[2], ags[3:]
    people = {a: (data.draw(st.integers(0, 50000)), data.draw(st.integers(0, 50000))) for a in ags}
    in_boundaries = {a: data.draw(st.booleans()) for a in others}
    in_register = {a: data.draw(st.booleans()) or not in_boundaries[a] for a in others}
    boundaries = [{"ags": new, "name": "Neu", "geometry": None}]
    boundaries += [{"ags": a, "name": f"G{a}", "geometry": None} for a in others if in_boundaries[a]]
    register = _register_frame([(a, *people[a]) for a in (part_a, part_b, *others) if a in (part_a, part_b)
                                or in_register[a]])
    merger = Merger(new, "Neu", ((part_a, "A"), (part_b, "B")), "01.01.2023")
    communes, report = join_communes(boundaries, register, [merger])

    status = dict(zip(report["ags"], report["status"]))
    assert status[new] == MERGED and status[part_a] == status[part_b] == MERGED_PART
    for a in others:
        expected = (MATCHED if in_boundaries[a] and in_register[a] else NO_REGISTER if in_boundaries[a]
                    else NO_BOUNDARY)
        assert status[a] == expected
    built = communes.set_index("ags")
    assert set(built.index) == {new} | {a for a in others if in_boundaries[a] and in_register[a]}
    assert built.loc[new, "population"] == sum(people[part_a]) + sum(people[part_b])
    assert built.loc[new, "male"] == people[part_a][0] + people[part_b][0]
    for a in built.index.drop(new):
        assert (built.loc[a, "male"], built.loc[a, "female"]) == people[a]
    # every boundary and every register row appears once in the report
    assert sorted(report["ags"]) == sorted({b["ags"] for b in boundaries} | set(register["ags"]))
    assert report.loc[report["ags"].isin([part_a, part_b]), "merged_into"].eq(new).all()


@settings(max_examples=60, deadline=None)
@given(population=st.integers(0, 700000), kreis_pop=st.integers(50000, 700000),
       total=st.integers(0, 80000), sub_share=st.floats(0, 1), clear_share=st.floats(0, 1))
def test_synthetic_pks_is_the_kreis_rate_times_the_population(population, kreis_pop, total, sub_share, clear_share):
    from kit.sachsen import synthetic_pks

    sub = int(total * sub_share)
    cleared = int(total * clear_share)
    rates = pd.DataFrame({"year": [2022, 2022], "key": ["000000", "892000"], "label": ["insgesamt", "Gewalt"],
                          "cases": [total, sub], "attempts": [0, 0], "cleared": [cleared, min(cleared, sub)],
                          "suspects": [cleared, 0], "population": [kreis_pop] * 2, "region_key": ["14522"] * 2,
                          "region_name": ["X"] * 2, "kreisart": ["LK"] * 2, "hz_bka": [float("nan")] * 2})
    pks = synthetic_pks(rates, "14522", population).set_index("key")
    assert pks.loc["000000", "cases"] == _round_half_up(total * population / kreis_pop)
    assert pks.loc["892000", "cases"] <= pks.loc["000000", "cases"]  # a key within another stays within it
    assert (pks["cleared"] <= pks["cases"]).all() and (pks[["cases", "cleared", "suspects"]] >= 0).all().all()
    if population:  # the commune's rate equals the Kreis's up to rounding
        assert abs(pks.loc["000000", "cases"] / population - total / kreis_pop) <= 0.5 / population + 1e-12


@settings(max_examples=3, deadline=None)
@given(male=st.integers(150, 6000), female=st.integers(150, 6000))
def test_optional_survey_keeps_the_register_totals(male, female):
    """--mit-befragung: the synthetic residents add up to the register's men and women, and the
    sample and responses fit each other."""
    from kit.sachsen import synthetic_survey

    c = {"ags": "14522275", "name": "Jahnatal", "population": male + female, "male": male, "female": female}
    made = synthetic_survey(c)
    res = made["residents"]
    assert res.groupby("sex")["count"].sum().to_dict() == {"m": male, "w": female}
    assert set(res["year"]) == {2021} and set(res["district_id"]) == {"14522275"}
    assert res["age_group"].nunique() == 11 and (res["count"] >= 0).all()
    sample, responses = made["survey_sample"], made["survey_responses"]
    assert len(responses) == sample["returned"].sum() > 0 and (sample["returned"] <= sample["issued"]).all()
    assert set(responses["Q52"]) <= {"14522275", "-9", ""}  # the district, or "keine Angabe"
    again = synthetic_survey(c)  # deterministic
    assert all(again[k].equals(made[k]) for k in made)


def test_missing_realdata_is_one_german_line(tmp_path, capsys):
    from kit.cli import main

    missing = tmp_path / "fehlt" / "realdata"
    assert main(["sachsen", "--realdata", str(missing), "--daten", str(tmp_path / "d"),
                 "--output", str(tmp_path / "o")]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and str(missing) in lines[0] and "fehlt" in lines[0]
    assert "Traceback" not in captured.err + captured.out and not (tmp_path / "d").exists()


# ---------------------------------------------------------------------------
# with the real files
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample built and run through the command (HTML only), with what it printed."""
    from kit.cli import main

    root = tmp_path_factory.mktemp("sachsen")
    data, out = root / "daten", root / "ausgabe"
    argv = ["sachsen", "--auswahl", *SAMPLE, "--daten", str(data), "--output", str(out), "--kein-pdf", "--jobs", "2"]
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KIT_PDF", "0")  # the command sets it for its workers; restored afterwards
        with contextlib.redirect_stdout(printed):
            code = main(argv)
    return {"code": code, "data": data, "out": out, "printed": printed.getvalue()}


def _cid(ags: str, data: Path) -> str:
    return next(p.stem for p in (data / "params").glob(f"{ags}-*.yaml"))


def _results(sample, ags: str, name: str) -> pd.DataFrame:
    return pd.read_csv(sample["out"] / _cid(ags, sample["data"]) / "results" / name,
                       dtype={"subject": str, "key": str, "district_id": str})


def _visible_text(path: Path) -> str:
    from html.parser import HTMLParser

    class _Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts, self.skip = [], 0

        def handle_starttag(self, tag, attrs):
            self.skip += tag in ("script", "style")

        def handle_endtag(self, tag):
            self.skip -= tag in ("script", "style")

        def handle_data(self, d):
            if not self.skip:
                self.parts.append(d)

    p = _Text()
    p.feed(path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", " ".join(p.parts))


@needs_realdata
def test_sample_runs_with_register_population(sample):
    assert sample["code"] == 0, sample["printed"][-3000:]
    raw = _raw_register()
    for ags in SAMPLE:
        status = json.loads((sample["out"] / _cid(ags, sample["data"]) / "status.json").read_text(encoding="utf-8"))
        states = {s["stage"]: s["status"] for s in status["stages"]}
        assert states == {"profile": "ok", "survey": "entfällt", "recommend": "ok"}, status
        totals = _results(sample, ags, "population_totals.csv").set_index("year")
        expected = ([raw[OSTRAU][i] + raw[ZSCHAITZ][i] for i in (1, 2, 3)] if ags == JAHNATAL
                    else list(raw[ags][1:]))
        assert [int(totals.loc[2021, c]) for c in ("total", "m", "w")] == expected
    assert _raw_register()[RATHEN][1] < 1000  # the small Gemeinde is small


@needs_realdata
def test_kreisfreie_stadt_has_its_real_bka_pks(sample):
    ind = _results(sample, CHEMNITZ, "profile_indicators.csv")
    cases = ind[(ind["indicator"] == "pks_cases") & (ind["subject"] == "000000")].set_index("year")["value"]
    raw22, raw20 = _raw_bka_2022()[("14511", "000000")], _raw_bka_2020_totals()["14511"]
    assert cases.loc[2022] == raw22[0] and cases.loc[2020] == raw20[0]
    hz = _results(sample, CHEMNITZ, "pks_hz_comparison.csv").set_index(["year", "key"])
    assert hz.loc[(2022, "000000"), "hz_bka"] == pytest.approx(raw22[1])
    assert hz.loc[(2020, "000000"), "hz_bka"] == pytest.approx(raw20[1])
    assert hz.loc[(2020, "000000"), "population_bka"] == raw20[2]
    params = yaml.safe_load((sample["data"] / "params" / f"{_cid(CHEMNITZ, sample['data'])}.yaml").read_text("utf-8"))
    assert params["inputs"]["pks"]["format"] == "bka" and not params["inputs"]["pks"].get("synthetic")
    assert not any(spec.get("synthetic") for spec in params["inputs"].values())


@needs_realdata
def test_gemeinde_pks_is_synthetic_and_never_shown_as_real(sample):
    raw = _raw_register()
    for ags, kreis in ((RATHEN, "14628"), (JAHNATAL, "14522")):
        pop = raw[ags][1] if ags != JAHNATAL else raw[OSTRAU][1] + raw[ZSCHAITZ][1]
        ind = _results(sample, ags, "profile_indicators.csv")
        total = ind[ind["subject"] == "000000"]
        cases = total[total["indicator"] == "pks_cases"].set_index("year")["value"]
        c22, hz22 = _raw_bka_2022()[(kreis, "000000")]
        c20, hz20, ew20 = _raw_bka_2020_totals()[kreis]
        # synthetic: the Kreis's cases per resident (BKA population) times the commune's residents
        assert cases.loc[2020] == _round_half_up(c20 * pop / ew20)
        assert cases.loc[2022] == _round_half_up(c22 * pop / round(c22 * 100000 / hz22))
        # the Kreis and Saxony references are the real BKA values
        kreis_ref = total[total["indicator"] == "pks_hz_kreis"].set_index("year")["reference"]
        assert kreis_ref.loc[2022] == pytest.approx(hz22, abs=0.51)  # the CSV rounds the HZ to whole numbers
        assert kreis_ref.loc[2020] == pytest.approx(hz20, abs=0.006)
        land20 = _raw_bka_2020_totals()
        land_hz20 = sum(v[0] for v in land20.values()) * 100000 / sum(v[2] for v in land20.values())
        land_ref = total[total["indicator"] == "pks_hz_land"].set_index("year")["reference"]
        assert land_ref.loc[2020] == pytest.approx(land_hz20, abs=0.006)
        params_file = sample["data"] / "params" / f"{_cid(ags, sample['data'])}.yaml"
        params = yaml.safe_load(params_file.read_text(encoding="utf-8"))
        assert params["inputs"]["pks"]["synthetic"] is True and "Synthetisch" in params["inputs"]["pks"]["source"]
        assert [k for k, v in params["inputs"].items() if v.get("synthetic")] == ["pks"]
        # every report says the PKS is made up
        folder = sample["out"] / _cid(ags, sample["data"])
        for page in ("1_profile.html", "3_recommend.html", f"Lagebericht_{params['name']}.html"):
            text = _visible_text(folder / page)
            assert re.search(r"erfunden \(synthetisch erzeugt\).{0,120}Polizeiliche Kriminalstatistik", text), page
        profile = _visible_text(folder / "1_profile.html")  # charts credit the synthetic PKS as such
        assert "Quelle: Synthetisch, keine echten Zahlen der Gemeinde" in profile
        assert f"Polizeiliche Kriminalstatistik (PKS) für {params['name']}" not in profile
    chemnitz = _visible_text(sample["out"] / _cid(CHEMNITZ, sample["data"]) / "1_profile.html")
    assert "erfunden (synthetisch" not in chemnitz and "Alle Eingabedaten dieses Berichts sind echte Daten" in chemnitz


@needs_realdata
def test_join_report_names_the_merger_and_419_vs_418(sample):
    printed = sample["printed"]
    md = (sample["data"] / "abgleich.md").read_text(encoding="utf-8")
    for text in (printed, md):
        assert "Jahnatal (14522275) entstand am 01.01.2023 aus Ostrau (14522450" in text
        assert "Zschaitz-Ottewig (14522620" in text
        assert "419 Zeilen" in text and "418 Gemeinden" in text
        raw = _raw_register()
        merged = raw[OSTRAU][1] + raw[ZSCHAITZ][1]
        assert f"Summe der 2 Registerzeilen = {merged:,}".replace(",", ".") in text
    table = pd.read_csv(sample["data"] / "abgleich.csv", sep=";", dtype=str)
    assert len(table) == 420
    rows = table.set_index("AGS")
    assert rows.loc[OSTRAU, "aufgegangen in"] == rows.loc[ZSCHAITZ, "aufgegangen in"] == JAHNATAL
    assert rows.loc[JAHNATAL, "Status"] == "merged" and (table["Status"] == "matched").sum() == 417


@needs_realdata
def test_build_is_idempotent_and_deterministic(sample, tmp_path):
    from kit.sachsen import build_sachsen

    def snapshot(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    built = build_sachsen(REALDATA, sample["data"], auswahl=SAMPLE)
    assert built.written == 0  # nothing changed, so the runner skips the communes
    other = build_sachsen(REALDATA, tmp_path / "neu", auswahl=SAMPLE)
    assert other.written > 0
    first, second = snapshot(sample["data"]), snapshot(tmp_path / "neu")
    assert set(first) == set(second)
    # the data files are byte-identical; the params differ only in the data_dir line
    for name, data in first.items():
        if name.startswith("params/"):
            strip = [re.sub(rb"(?m)^data_dir: .*$", b"", d) for d in (data, second[name])]
            assert strip[0] == strip[1], name
        else:
            assert data == second[name], name


@needs_realdata
def test_exactly_418_communes_with_unique_keys():
    """No batch run (after the sample only because the files are then already parsed)."""
    from kit.sachsen import commune_id, join_communes, read_sources

    raw_geo = json.loads(GEOMETRY.read_text(encoding="utf-8"))
    raw_ags = [f["properties"]["AGS"] for f in raw_geo["features"]]
    communes, report = join_communes(*read_sources(REALDATA))  # what build_sachsen joins
    assert len(communes) == 418 == len(set(communes["ags"]))
    assert set(communes["ags"]) == set(raw_ags)
    ids = [commune_id(a, n) for a, n in zip(communes["ags"], communes["name"])]
    assert len(set(ids)) == 418  # Bernsdorf is there twice, in different Kreise
    raw = _raw_register()
    assert len(raw) == 419 and len(report) == 420  # 418 boundaries + the two merged register rows
    matched = communes[communes["status"] == "matched"]
    assert len(matched) == 417
    assert all(int(r.population) == raw[r.ags][1] for r in matched.itertuples())
    assert sorted(set(raw) - set(raw_ags)) == [OSTRAU, ZSCHAITZ] and sorted(set(raw_ags) - set(raw)) == [JAHNATAL]
