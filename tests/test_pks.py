"""PKS indicators, the BKA table reader and the PMK summary.

Statistics are checked against values computed by hand (HZ, rates) or by an
independent method (the exact Poisson interval by bisection on the Poisson
probabilities, without scipy). The BKA reader is checked on fixtures written
here with invented numbers, and on the real BKA tables in
../shared/realdata/pks/ when they are present (read independently with the
csv module and openpyxl).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from kit.errors import InputError
from helpers import one, poisson_cdf, raw_demo_rows
from kit.profile.bka import population_from_bka, read_bka_table
from kit.profile.pks import CONTROL_KEYS, SUMMARY_KEYS, pks_indicators, pmk_summary

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "pks"
REAL_CSV = REALDATA / "2022_KR-F-01-T01-Kreise-Faelle-HZ_csv.csv"
REAL_XLSX_2022 = REALDATA / "2022_KR-F-01-T01-Kreise-Faelle-HZ_xls.xlsx"
REAL_XLSX_2020 = REALDATA / "2020_KR-F-01-T01-Kreise-Faelle-HZ_xls.xlsx"






def _exact_interval_by_bisection(x: int, alpha: float = 0.05) -> tuple[float, float]:
    """Exact Poisson interval found by bisection on the tail probabilities."""
    def solve(f, lo, hi):
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return (lo + hi) / 2
    lower = 0.0 if x == 0 else solve(lambda mu: (1 - poisson_cdf(x - 1, mu)) - alpha / 2, 0.0, 10 * x + 10)
    upper = solve(lambda mu: alpha / 2 - poisson_cdf(x, mu), 0.0, 10 * x + 10)
    return lower, upper


# ---------------------------------------------------------------------------
# Indicators
# ---------------------------------------------------------------------------


def pks_fixture() -> pd.DataFrame:
    rows = [
        # year, key, label, cases, attempts, cleared, suspects
        (2019, "892000", "Gewaltkriminalität", 5, 1, 4, 6),
        (2020, "892000", "Gewaltkriminalität", 8, 0, 9, 7),   # clearance above 100 %
        (2021, "892000", "Gewaltkriminalität", 6, 2, 6, 5),
        (2022, "892000", "Gewaltkriminalität", 9, 3, 7, 8),
        (2019, "899000", "Straßenkriminalität", 10, 0, 2, 2),
        (2020, "899000", "Straßenkriminalität", 10, 0, 2, 2),
        (2021, "899000", "Straßenkriminalität", 10, 0, 2, 2),
        (2022, "899000", "Straßenkriminalität", 30, 0, 6, 5),
        (2019, "674000", "Sachbeschädigung", 20, 0, 4, 4),
        (2020, "674000", "Sachbeschädigung", 20, 0, 4, 4),
        (2021, "674000", "Sachbeschädigung", 20, 0, 4, 4),
        (2022, "674000", "Sachbeschädigung", 5, 0, 0, 0),
        (2022, "515001", "Beförderungserschleichung", 40, 0, 40, 38),
    ]
    df = pd.DataFrame(rows, columns=["year", "key", "label", "cases", "attempts", "cleared", "suspects"])
    return df.astype({"year": "Int64", "key": "string", "label": "string", "cases": "Int64",
                      "attempts": "Int64", "cleared": "Int64", "suspects": "Int64"})


# population at 31.12.; 2022 differs so that a wrong year shows up. No 2018:
# the 2019 PKS falls back to 31.12.2019.
POPULATION = pd.DataFrame({"year": pd.array([2019, 2020, 2021, 2022], dtype="Int64"),
                           "total": pd.array([100000, 100000, 100000, 200000], dtype="Int64")})


@pytest.fixture(scope="module")
def indicators():
    return pks_indicators(pks_fixture(), POPULATION, years_for_mean=3,
                          reference={"892000": 500.0, "899000": 10.0, "674000": 5.0}, reference_label="Sachsen")


def test_hz_uses_previous_year_population(indicators):
    hz = one(indicators, indicator="pks_hz", subject="892000", year=2022)
    assert hz["value"] == pytest.approx(9 * 100000 / 100000)  # population of 31.12.2021
    assert hz["base"] == 100000 and hz["count"] == 9
    # x = 9: exact interval 4.115 to 17.085 (table), scaled to 100,000 residents
    assert hz["lower"] == pytest.approx(4.115, abs=1e-3)
    assert hz["upper"] == pytest.approx(17.085, abs=1e-3)


def test_population_fallback_noted(indicators):
    hz2019 = one(indicators, indicator="pks_hz", subject="892000", year=2019)
    assert hz2019["base"] == 100000 and hz2019["note"] == "population_fallback" and hz2019["base_year"] == 2019
    from kit.profile.view import note_text

    assert "Einwohnerzahl vom 31.12.2019 verwendet (31.12.2018 nicht vorhanden)" in note_text(hz2019)


def test_clearance_suspects_attempts(indicators):
    cl = one(indicators, indicator="pks_clearance", subject="892000", year=2020)
    assert cl["value"] == pytest.approx(9 / 8 * 100) and cl["value"] > 100
    assert cl["note"] == "clearance_earlier_years"
    from kit.profile.view import note_text

    assert "früheren Jahren" in note_text(cl)
    assert one(indicators, indicator="pks_clearance", subject="892000", year=2022)["value"] == pytest.approx(700 / 9)
    assert one(indicators, indicator="pks_suspects", subject="892000", year=2022)["value"] == 8
    assert one(indicators, indicator="pks_attempts_share", subject="892000", year=2022)["value"] == \
        pytest.approx(3 / 9 * 100)
    assert one(indicators, indicator="pks_cases", subject="892000", year=2021)["value"] == 6


def test_multi_year_mean_with_exact_interval(indicators):
    mean = one(indicators, indicator="pks_cases_mean", subject="892000")
    total = 8 + 6 + 9  # 2020-2022
    lo, hi = _exact_interval_by_bisection(total)
    assert mean["period"] == "2020–2022" and pd.isna(mean["year"])
    assert mean["value"] == pytest.approx(total / 3)
    assert mean["lower"] == pytest.approx(lo / 3, rel=1e-6)
    assert mean["upper"] == pytest.approx(hi / 3, rel=1e-6)
    hz_mean = one(indicators, indicator="pks_hz_mean", subject="892000")
    person_years = 100000 + 100000 + 100000  # 31.12.2019, 2020, 2021 (lag 1)
    assert hz_mean["value"] == pytest.approx(total * 100000 / person_years)
    assert hz_mean["upper"] == pytest.approx(hi * 100000 / person_years, rel=1e-6)


def test_multi_year_mean_window_is_calendar_years():
    pks = pks_fixture()
    pks = pks[(pks["key"] == "892000") & (pks["year"] != 2020)]  # 2019, 2021, 2022
    ind = pks_indicators(pks, POPULATION)
    mean = one(ind, indicator="pks_cases_mean")
    assert mean["period"] == "2021–2022" and mean["value"] == pytest.approx((6 + 9) / 2)
    assert mean["note"] == "mean_fewer_years"
    assert one(ind, indicator="pks_trend")["flag"] == ""  # 2019-2021 incomplete


@pytest.mark.parametrize("key, flag", [("892000", "within_chance"), ("899000", "rise"), ("674000", "fall")])
def test_trend_flags(indicators, key, flag):
    # hand: 892000 mean(5, 8, 6) = 6.33 -> 9 is ordinary; 899000 mean 10 -> 30 > 17;
    # 674000 mean 20 -> 5 < 12 (2.5 % quantile of Poisson(20)); population constant for 2018-2021
    trend = one(indicators, indicator="pks_trend", subject=key)
    assert trend["flag"] == flag and trend["year"] == 2022


@pytest.mark.parametrize("key, flag", [("892000", "below_reference"), ("899000", "above_reference"),
                                       ("674000", "like_reference")])
def test_reference_comparison(indicators, key, flag):
    # 892000: HZ 9 (4.1-17.1) vs 500; 899000: HZ 30 (20.2-42.8) vs 10; 674000: HZ 5 (1.6-11.7) vs 5
    row = one(indicators, indicator="pks_hz_reference", subject=key, year=2022)
    assert row["flag"] == flag and row["note"] == ""
    assert row["reference"] == {"892000": 500, "899000": 10, "674000": 5}[key]
    from kit.profile.view import note_text

    text = note_text(row, reference_label="Sachsen")
    assert "Referenz (Sachsen)" in text
    assert text.startswith({"below_reference": "Unter dem Referenzwert", "above_reference": "Über dem Referenzwert",
                            "like_reference": "Im Rahmen des Referenzwerts"}[flag])


def test_reference_only_for_latest_year_with_plain_key(indicators):
    assert len(indicators[indicators["indicator"] == "pks_hz_reference"]) == 3


def test_reference_by_year():
    ind = pks_indicators(pks_fixture(), POPULATION, reference={("899000", 2021): 10.0})
    row = one(ind, indicator="pks_hz_reference", subject="899000")
    assert row["year"] == 2021 and row["flag"] == "like_reference"  # HZ 10 vs 10


def test_control_offence_note(indicators):
    assert "515001" in CONTROL_KEYS and "326000" in CONTROL_KEYS and "326*00" in CONTROL_KEYS
    rows = indicators[indicators["subject"] == "515001"]
    assert len(rows) and rows["note"].str.contains("control_offence").all()
    assert not indicators[indicators["subject"] == "892000"]["note"].str.contains("control_offence").any()
    from kit.profile.view import note_text

    assert note_text(rows.iloc[0]).startswith("Kontrolldelikt:")


def test_summary_keys_labels(indicators):
    assert SUMMARY_KEYS["000000"] == "Straftaten insgesamt" and SUMMARY_KEYS["****00"] == "Diebstahl insgesamt"
    assert one(indicators, indicator="pks_cases", subject="892000", year=2022)["subject_label"] == "Gewaltkriminalität"


# ---------------------------------------------------------------------------
# BKA reader: fixtures written here (invented numbers)
# ---------------------------------------------------------------------------

from helpers import BKA_HEADER  # noqa: E402

BKA_LINES = [
    "------;Straftaten insgesamt;1001;Anderswo;KfS;2,500;2,500;100;4;0;0;1,250;50;1,000;800;200;100;10",
    "------;Straftaten insgesamt;14999;Musterstadt;LK;1,234;4,113.3;50;4.1;0;0;617;50;600;450;150;60;10",
    "899000;Straßenkriminalität;14999;Musterstadt;LK;300;1,000;30;10;0;0;60;20;50;45;5;5;10",
    "211000;Raub auf Geldinstitute;14999;Musterstadt;LK;0;0;0;#DIV/0!;0;0;0;#DIV/0!;0;0;0;0;#DIV/0!",
]


def write_bka_csv(path: Path, header: str = BKA_HEADER, lines=BKA_LINES) -> Path:
    numbering = ";".join(str(i) for i in range(1, 19))
    path.write_bytes(("\r\n".join([numbering, header, *lines]) + "\r\n").encode("latin-1"))
    return path


def test_bka_csv_fixture(tmp_path):
    path = write_bka_csv(tmp_path / "kreise.csv")
    df = read_bka_table(path, "14999", year=2021)
    assert list(df.columns[:7]) == ["year", "key", "label", "cases", "attempts", "cleared", "suspects"]
    assert list(df["key"]) == ["000000", "899000", "211000"]
    total = df.iloc[0]
    assert (total["year"], total["cases"], total["attempts"], total["cleared"], total["suspects"]) == \
        (2021, 1234, 50, 617, 600)
    assert total["hz_bka"] == pytest.approx(4113.3)
    assert df.iloc[1]["label"] == "Straßenkriminalität"  # Latin-1 decoded
    assert df.iloc[1]["hz_bka"] == 1000.0
    assert df.iloc[2]["cases"] == 0
    assert df.attrs["region_name"] == "Musterstadt" and df.attrs["kreisart"] == "LK"
    # key without leading zero, as int, or with it: all the same Kreis
    assert read_bka_table(path, 1001, year=2021)["cases"].iloc[0] == 2500
    assert read_bka_table(path, "01001", year=2021)["cases"].iloc[0] == 2500


def test_bka_csv_population_from_hz(tmp_path):
    df = read_bka_table(write_bka_csv(tmp_path / "k.csv"), "14999", year=2021)
    pop = population_from_bka(df)
    assert list(pop["year"]) == [2020]  # HZ of 2021 refers to 31.12.2020
    assert pop["total"].iloc[0] == round(1234 * 100000 / 4113.3)


def test_bka_key_absent_names_file_and_key(tmp_path):
    path = write_bka_csv(tmp_path / "kreise.csv")
    with pytest.raises(InputError) as err:
        read_bka_table(path, "14612", year=2021)
    text = str(err.value)
    assert "kreise.csv" in text and "14612" in text and "14999 Musterstadt" in text


def test_bka_missing_column(tmp_path):
    header = BKA_HEADER.replace("Tatverdaechtige insgesamt", "TV")
    path = write_bka_csv(tmp_path / "kaputt.csv", header=header)
    with pytest.raises(InputError) as err:
        read_bka_table(path, "14999", year=2021)
    assert "kaputt.csv" in str(err.value) and "Tatverdaechtige insgesamt" in str(err.value)


def test_bka_bad_number_names_row(tmp_path):
    lines = [BKA_LINES[1].replace("1,234", "viele")]
    path = write_bka_csv(tmp_path / "k.csv", lines=lines)
    with pytest.raises(InputError) as err:
        read_bka_table(path, "14999", year=2021)
    problem = err.value.problems[0]
    assert problem.row == 3 and problem.value == "viele"  # numbering line 1, header 2, data 3


def test_bka_csv_needs_year(tmp_path):
    with pytest.raises(InputError, match="Berichtsjahr"):
        read_bka_table(write_bka_csv(tmp_path / "k.csv"), "14999")


def write_bka_xlsx(path: Path, report_year: int) -> Path:
    """The BKA XLSX layout: title rows 1-4, header rows 5-8 with merged group
    headers, numbering row 9, data from row 10 (invented numbers)."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "T01_Kreise"
    ws.append(["Polizeiliche Kriminalstatistik"] + [None] * 11 + ["Tabelle 01"])
    ws.append(["Fälle - ausgewählte Straftaten"])
    ws.append(["HZ (Häufigkeitszahl): Fälle pro 100.000 Einwohner"])
    ws.append(["V1.0 erstellt am: 01.02.2023"] + [None] * 11
              + [f"Berichtszeitraum: 01.01.{report_year} bis 31.12.{report_year}"])
    ws.append(["Schlüssel", "Straftat", "Gemeinde-schlüssel", "Stadt-/Landkreis", "Kreisart", "Anzahl erfasste Fälle",
               "HZ", "erfasste Fälle davon: Versuche", None, "mit Schusswaffe", None, "Aufklärung", None,
               "Tatverdächtige", None, None, "Nichtdeutsche Tatverdächtige", None, "Sort", None, None, None, None])
    ws.append([None] * 23)
    ws.append([None] * 9 + ["gedroht", "geschossen", "Anzahl Fälle", "AQ", "insgesamt", "männlich", "weiblich",
                            "Anzahl", "Anteil an TV insg. in %"])
    ws.append([None] * 7 + ["Anzahl", "in %"] + [None] * 11 + ["GemSchl.", "Gem", "EW"])
    ws.append(list(range(1, 19)) + [None] * 4 + [f"31.12.{report_year - 1}"])
    ws.append(["------", "Straftaten insgesamt", "14999", "Musterstadt", "LK", 1234, 4113.333, 50, 4.05, 0, 0,
               617, 50.0, 600, 450, 150, 60, 10.0, 0, None, "14999", "Musterstadt", 30000])
    ws.append(["674000", "Sachbeschädigung", "14999", "Musterstadt", "LK", 90, 300.0, 3, 3.3, 0, 0,
               18, 20.0, 15, 14, 1, 2, 13.3, 1, None, "14999", "Musterstadt", 30000])
    ws.merge_cells("H5:I6")
    ws.merge_cells("L5:M6")
    wb.save(path)
    return path


def test_bka_xlsx_fixture(tmp_path):
    path = write_bka_xlsx(tmp_path / "kreise.xlsx", 2021)
    df = read_bka_table(path, 14999)
    assert list(df["year"]) == [2021, 2021]  # from "Berichtszeitraum"
    tot = df.iloc[0]
    assert (tot["key"], tot["cases"], tot["attempts"], tot["cleared"], tot["suspects"]) == \
        ("000000", 1234, 50, 617, 600)
    assert tot["population_bka"] == 30000
    assert df.iloc[1]["label"] == "Sachbeschädigung" and df.iloc[1]["cleared"] == 18
    pop = population_from_bka(df)
    assert list(pop["year"]) == [2020] and pop["total"].iloc[0] == 30000
    with pytest.raises(InputError, match="2021"):
        read_bka_table(path, 14999, year=2022)


# ---------------------------------------------------------------------------
# BKA reader: the real BKA tables (read independently here)
# ---------------------------------------------------------------------------


def _csv_row(path: Path, region: str, key: str) -> list[str]:
    with open(path, encoding="latin-1", newline="") as fh:
        for row in csv.reader(fh, delimiter=";"):
            if len(row) > 2 and row[2] == region and row[0] == key:
                return row
    raise AssertionError(f"{region}/{key} not in {path}")


def _int(text: str) -> int:
    return int(text.replace(",", ""))


@pytest.mark.skipif(not REAL_CSV.exists(), reason=f"real BKA CSV not present: {REAL_CSV}")
def test_real_bka_csv_dresden_2022():
    df = read_bka_table(REAL_CSV, "14612", year=2022)
    expected = _csv_row(REAL_CSV, "14612", "------")
    total = df[df["key"] == "000000"].iloc[0]
    assert total["cases"] == _int(expected[5])
    assert total["hz_bka"] == float(expected[6].replace(",", ""))
    assert total["attempts"] == _int(expected[7])
    assert total["cleared"] == _int(expected[11])
    assert total["suspects"] == _int(expected[13])
    assert total["cases"] == 47123  # as printed in the BKA table
    violent = df[df["key"] == "892000"].iloc[0]
    assert violent["cases"] == _int(_csv_row(REAL_CSV, "14612", "892000")[5])
    assert df.attrs["region_name"] == "Dresden"
    # every key of the Dresden block once
    with open(REAL_CSV, encoding="latin-1", newline="") as fh:
        n_rows = sum(1 for row in csv.reader(fh, delimiter=";") if len(row) > 2 and row[2] == "14612")
    assert len(df) == n_rows and df["key"].is_unique
    # a Kreis with a leading zero: Flensburg
    assert read_bka_table(REAL_CSV, "01001", year=2022)["cases"].iloc[0] == \
        _int(_csv_row(REAL_CSV, "1001", "------")[5])


@pytest.mark.skipif(not REAL_XLSX_2022.exists() or not REAL_CSV.exists(), reason="real BKA tables 2022 not present")
def test_real_bka_xlsx_2022_matches_csv():
    xlsx = read_bka_table(REAL_XLSX_2022, 14612)
    csv_df = read_bka_table(REAL_CSV, 14612, year=2022)
    assert set(xlsx["year"]) == {2022}
    merged = xlsx.merge(csv_df, on="key", suffixes=("_x", "_c"))
    assert len(merged) == len(csv_df)
    for col in ("cases", "attempts", "cleared", "suspects"):
        assert (merged[f"{col}_x"] == merged[f"{col}_c"]).all(), col
    # the CSV rounds the HZ to whole numbers
    assert ((merged["hz_bka_x"] - merged["hz_bka_c"]).abs() <= 0.5 + 1e-9).all()


@pytest.mark.skipif(not REAL_XLSX_2020.exists(), reason=f"real BKA XLSX 2020 not present: {REAL_XLSX_2020}")
def test_real_bka_xlsx_2020_population_and_hz():
    import openpyxl

    wb = openpyxl.load_workbook(REAL_XLSX_2020, read_only=True, data_only=True)
    try:
        row = next(r for r in wb.active.iter_rows(min_row=10, values_only=True)
                   if r[2] == "14612" and r[0] == "------")
    finally:
        wb.close()
    df = read_bka_table(REAL_XLSX_2020, "14612")
    total = df[df["key"] == "000000"].iloc[0]
    assert total["year"] == 2020
    assert total["cases"] == row[5] and total["population_bka"] == row[22]
    assert total["hz_bka"] == pytest.approx(row[5] * 100000 / row[22])
    # our HZ from the BKA population equals the published one
    ind = pks_indicators(df[df["key"] == "000000"], population_from_bka(df))
    assert one(ind, indicator="pks_hz", year=2020)["value"] == pytest.approx(total["hz_bka"])


# ---------------------------------------------------------------------------
# The whole BKA table and reference values (Land / Kreis HZ) for params
# ---------------------------------------------------------------------------

# A second Sachsen Kreis (invented numbers) next to 14999 Musterstadt, so that
# the Land HZ is a real aggregate. By hand:
#   population 14999 = round(1,234 * 100,000 / 4,113.3) = round(30,000.24) = 30,000
#   population 14888 = 3,000 * 100,000 / 6,000 = 50,000
#   000000: (1,234 + 3,000) / 80,000 * 100,000 = 5,292.5
#   899000: (300 + 600) / 80,000 * 100,000 = 1,125.0
#   211000: only 14999 has the row: 0 / 30,000 -> 0.0
REF_LINES = BKA_LINES + [
    "------;Straftaten insgesamt;14888;Beispielstadt;KfS;3,000;6,000;90;3;0;0;1,800;60;1,500;1,200;300;200;13.3",
    "899000;Straßenkriminalität;14888;Beispielstadt;KfS;600;1,200;20;3.3;0;0;120;20;100;90;10;10;10",
]


def test_read_bka_all_fixture(tmp_path):
    from kit.profile.bka import read_bka_all

    path = write_bka_csv(tmp_path / "kreise.csv", lines=REF_LINES)
    df = read_bka_all(path, year=2021)
    assert list(df.columns) == ["year", "key", "label", "cases", "attempts", "cleared", "suspects", "hz_bka",
                                "population_bka", "region_key", "region_name", "kreisart"]
    assert list(df["region_key"]) == ["01001", "14999", "14999", "14999", "14888", "14888"]
    assert list(df["region_name"]) == ["Anderswo"] + ["Musterstadt"] * 3 + ["Beispielstadt"] * 2
    assert list(df["kreisart"]) == ["KfS", "LK", "LK", "LK", "KfS", "KfS"]
    assert list(df["key"]) == ["000000", "000000", "899000", "211000", "000000", "899000"]
    assert list(df["cases"]) == [2500, 1234, 300, 0, 3000, 600]
    assert set(df["year"]) == {2021} and df.attrs["year"] == 2021
    # read_bka_table gives the same rows for one Kreis, without the region columns
    one_kreis = read_bka_table(path, "14888", year=2021)
    expected = df[df["region_key"] == "14888"].drop(columns=["region_key", "region_name", "kreisart"])
    pd.testing.assert_frame_equal(one_kreis.reset_index(drop=True), expected.reset_index(drop=True))
    assert one_kreis.attrs["region_name"] == "Beispielstadt" and one_kreis.attrs["kreisart"] == "KfS"


def test_read_bka_all_reports_defects_in_any_kreis(tmp_path):
    from kit.profile.bka import read_bka_all

    lines = [BKA_LINES[0].replace("2,500;2,500", "viele;2,500"), *BKA_LINES[1:]]
    path = write_bka_csv(tmp_path / "k.csv", lines=lines)
    with pytest.raises(InputError) as err:
        read_bka_all(path, year=2021)
    assert err.value.problems[0].row == 3 and err.value.problems[0].value == "viele"
    # one Kreis is still read when another Kreis has a defect (behaviour of read_bka_table kept)
    assert read_bka_table(path, "14999", year=2021)["cases"].iloc[0] == 1234
    with pytest.raises(InputError, match="Berichtsjahr"):
        read_bka_all(write_bka_csv(tmp_path / "k2.csv"))


def test_bka_reference_land_fixture(tmp_path):
    from kit.profile.bka import bka_reference

    path = write_bka_csv(tmp_path / "kreise.csv", lines=REF_LINES)
    ref = bka_reference(path, year=2021).set_index("key")
    assert list(ref.columns) == ["label", "hz", "cases", "population"]
    assert list(ref.index) == ["000000", "899000", "211000"]
    assert ref.loc["000000", "hz"] == pytest.approx(5292.5)
    assert (ref.loc["000000", "cases"], ref.loc["000000", "population"]) == (4234, 80000)
    assert ref.loc["899000", "hz"] == pytest.approx(1125.0) and ref.loc["899000", "cases"] == 900
    assert ref.loc["211000", "hz"] == 0.0 and ref.loc["211000", "population"] == 30000
    assert ref.loc["899000", "label"] == "Straßenkriminalität"
    attrs = bka_reference(path, year=2021).attrs
    assert (attrs["reference_label"], attrs["year"], attrs["kreise"], attrs["population_source"]) == \
        ("Sachsen", 2021, 2, "HZ")
    # another Land, given as number without leading zero: Kreis 1001 alone (2,500 cases, HZ 2,500)
    other = bka_reference(path, year=2021, land=1).set_index("key")
    assert other.loc["000000", "hz"] == pytest.approx(2500.0) and other.loc["000000", "population"] == 100000
    assert other.attrs["reference_label"] == "Schleswig-Holstein"


def test_bka_reference_kreis_fixture(tmp_path):
    from kit.profile.bka import bka_reference

    path = write_bka_csv(tmp_path / "kreise.csv", lines=REF_LINES)
    ref = bka_reference(path, year=2021, kreis=14999)
    assert list(ref["key"]) == ["000000", "899000", "211000"]
    assert list(ref["hz"]) == [4113.3, 1000.0, 0.0]  # as published in the fixture
    assert list(ref["population"]) == [30000] * 3
    assert ref.attrs["reference_label"] == "Musterstadt (Landkreis)"


def test_bka_reference_errors_name_file_and_choices(tmp_path):
    from kit.profile.bka import bka_reference

    path = write_bka_csv(tmp_path / "kreise.csv", lines=REF_LINES)
    with pytest.raises(InputError) as err:
        bka_reference(path, year=2021, land="15")
    text = str(err.value)
    assert "kreise.csv" in text and "'15'" in text and "01 Schleswig-Holstein, 14 Sachsen" in text
    with pytest.raises(InputError) as err:
        bka_reference(path, year=2021, kreis="14612")
    text = str(err.value)
    assert "kreise.csv" in text and "14612" in text and "14888 Beispielstadt" in text and "14999 Musterstadt" in text
    with pytest.raises(InputError, match="vorhandene Datei"):
        bka_reference(tmp_path / "fehlt.csv", year=2021)
    # a Kreis without the total row has no population
    lines = [line for line in REF_LINES if not line.startswith("------;Straftaten insgesamt;14888")]
    with pytest.raises(InputError, match="14888 Beispielstadt"):
        bka_reference(write_bka_csv(tmp_path / "ohne.csv", lines=lines), year=2021)


def _run_cli(capsys, *args) -> tuple[int, str, str]:
    from kit.cli import main

    rc = main(["pks-referenz", *map(str, args)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def _params_with(snippet: str, tmp_path: Path) -> dict:
    """The snippet merged into a copy of params/muldenau.yaml, loaded as the kit loads params."""
    import yaml

    from kit.params import load_params

    base = (Path(__file__).resolve().parents[1] / "params" / "muldenau.yaml").read_text(encoding="utf-8")
    assert "profile" not in yaml.safe_load(base)  # the snippet adds the section
    path = tmp_path / "muldenau.yaml"
    path.write_text(base.rstrip("\n") + "\n\n" + snippet, encoding="utf-8")
    return load_params(path)


def test_cli_reference_yaml_loads_into_params(tmp_path, capsys):
    import yaml

    from kit.profile.stage import reference_from_params

    bka = write_bka_csv(tmp_path / "kreise.csv", lines=REF_LINES)
    rc, out, err = _run_cli(capsys, bka, "--jahr", 2021, "--land", 14, "--schluessel", "000000", "899000")
    assert rc == 0, err
    assert yaml.safe_load(out) == {"profile": {"pks_reference": {"000000": {2021: 5292.5}, "899000": {2021: 1125.0}},
                                               "pks_reference_label": "Sachsen"}}
    comments = [line for line in out.splitlines() if line.startswith("#")]
    assert any("Quelle" in c and "kreise.csv" in c and "2021" in c for c in comments)
    assert any("Methode" in c and "Summe der Fälle / Summe der Einwohner" in c for c in comments)
    assert '"000000": {2021: 5292.5}' in out  # key quoted, HZ with one decimal
    params = _params_with(out, tmp_path)
    assert reference_from_params(params) == {"000000": {2021: 5292.5}, "899000": {2021: 1125.0}}
    assert params["profile"]["pks_reference_label"] == "Sachsen"

    # the per-year form: compared only in report year 2021, not in 2022
    pks = pd.DataFrame({"year": [2021, 2022], "key": ["899000", "899000"], "label": ["Straßenkriminalität"] * 2,
                        "cases": [12, 30], "cleared": [6, 6], "suspects": [5, 5]})
    pop = pd.DataFrame({"year": [2020, 2021], "total": [1000, 1000]})
    ind = pks_indicators(pks, pop, reference=reference_from_params(params), reference_label="Sachsen")
    rows = ind[ind["indicator"] == "pks_hz_reference"]
    assert list(rows["year"]) == [2021] and rows["reference"].iloc[0] == 1125.0
    from kit.profile.view import note_text

    assert note_text(rows.iloc[0], reference_label="Sachsen").count("1.125") == 1  # German number format


def test_cli_default_and_all_keys_and_output_file(tmp_path, capsys):
    import yaml

    bka = write_bka_csv(tmp_path / "kreise.csv", lines=REF_LINES)
    rc, out, _ = _run_cli(capsys, bka, "--jahr", 2021)
    assert rc == 0
    # default: the summary keys in the table (211000 is none)
    assert list(yaml.safe_load(out)["profile"]["pks_reference"]) == ["000000", "899000"]
    rc, out_all, _ = _run_cli(capsys, bka, "--jahr", 2021, "--schluessel", "alle")
    assert list(yaml.safe_load(out_all)["profile"]["pks_reference"]) == ["000000", "899000", "211000"]
    target = tmp_path / "sub" / "referenz.yaml"
    rc, msg, _ = _run_cli(capsys, bka, "--jahr", 2021, "--ausgabe", target)
    assert rc == 0 and str(target) in msg
    assert target.read_text(encoding="utf-8") == out
    assert not [p for p in target.parent.iterdir() if p.name != "referenz.yaml"]  # no temporary file left


def test_cli_kreis_through_module_entry_point(tmp_path):
    import subprocess
    import sys

    import yaml

    bka = write_bka_csv(tmp_path / "kreise.csv", lines=REF_LINES)
    proc = subprocess.run([sys.executable, "-m", "kit", "pks-referenz", str(bka), "--jahr", "2021",
                           "--kreis", "14999", "--schluessel", "0", "899000"],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(proc.stdout) == {"profile": {
        "pks_reference": {"000000": {2021: 4113.3}, "899000": {2021: 1000.0}},
        "pks_reference_label": "Musterstadt (Landkreis)"}}


@pytest.mark.parametrize("args, expected", [
    (["--land", "15"], ["kreise.csv", "14 Sachsen"]),
    (["--kreis", "14612"], ["kreise.csv", "14612", "14999 Musterstadt"]),
    (["--schluessel", "892000"], ["kreise.csv", "892000", "000000, 899000, 211000"]),
])
def test_cli_errors_in_german(tmp_path, capsys, args, expected):
    bka = write_bka_csv(tmp_path / "kreise.csv", lines=REF_LINES)
    rc, out, err = _run_cli(capsys, bka, "--jahr", 2021, *args)
    assert rc == 1 and out == "" and err.startswith("Fehler: ")
    for text in expected:
        assert text in err


def test_cli_missing_file_and_year(tmp_path, capsys):
    rc, _, err = _run_cli(capsys, tmp_path / "fehlt.csv", "--jahr", 2022)
    assert rc == 1 and "fehlt.csv" in err and "vorhandene Datei" in err
    rc, _, err = _run_cli(capsys, write_bka_csv(tmp_path / "k.csv"))
    assert rc == 1 and "--jahr" in err


def _land_from_raw_csv(path: Path, land: str, key: str) -> tuple[int, int]:
    """(cases, population) of a Land for a key, straight from the BKA CSV:
    population per Kreis = round(cases * 100,000 / HZ) of its '------' row."""
    with open(path, encoding="latin-1", newline="") as fh:
        rows = [r for r in csv.reader(fh, delimiter=";") if len(r) > 6 and r[2].isdigit()
                and r[2].zfill(5).startswith(land)]
    population = {r[2]: round(_int(r[5]) * 100000 / float(r[6].replace(",", ""))) for r in rows if r[0] == "------"}
    chosen = [r for r in rows if r[0] == key]
    return sum(_int(r[5]) for r in chosen), sum(population[r[2]] for r in chosen)


@pytest.mark.skipif(not REAL_CSV.exists(), reason=f"real BKA CSV not present: {REAL_CSV}")
def test_real_bka_csv_sachsen_reference(tmp_path, capsys):
    from kit.profile.bka import bka_reference, read_bka_all
    from kit.profile.stage import reference_from_params

    ref = bka_reference(REAL_CSV, year=2022, land="14").set_index("key")
    assert ref.attrs["kreise"] == 13
    expected = {}
    for key, raw_key in (("000000", "------"), ("892000", "892000")):
        cases, population = _land_from_raw_csv(REAL_CSV, "14", raw_key)
        assert (ref.loc[key, "cases"], ref.loc[key, "population"]) == (cases, population)
        expected[key] = cases / population * 100000
        assert ref.loc[key, "hz"] == pytest.approx(expected[key], rel=1e-12)
    assert ref.loc["000000", "cases"] == 266609
    # Statistisches Landesamt Sachsen, 31.12.2021: 4,043,002 residents
    assert ref.loc["000000", "population"] == pytest.approx(4043002, rel=1e-3)
    assert round(expected["000000"], 1) == 6594.4 and round(expected["892000"], 1) == 194.7

    # the whole table: every Kreis row of the file
    with open(REAL_CSV, encoding="latin-1", newline="") as fh:
        raw = [r for r in csv.reader(fh, delimiter=";") if len(r) > 2 and r[2].isdigit() and len(r[2]) >= 4]
    df = read_bka_all(REAL_CSV, year=2022)
    assert len(df) == len(raw) and df["region_key"].nunique() == len({r[2] for r in raw}) == 400

    rc, out, err = _run_cli(capsys, REAL_CSV, "--jahr", 2022, "--schluessel", "000000", "892000")
    assert rc == 0, err
    params = _params_with(out, tmp_path)
    assert reference_from_params(params) == {k: {2022: round(v, 1)} for k, v in expected.items()}


@pytest.mark.skipif(not REAL_XLSX_2020.exists(), reason=f"real BKA XLSX 2020 not present: {REAL_XLSX_2020}")
def test_real_bka_xlsx_2020_reference_uses_ew_column():
    import openpyxl

    from kit.profile.bka import bka_reference

    wb = openpyxl.load_workbook(REAL_XLSX_2020, read_only=True, data_only=True)
    try:
        totals = [r for r in wb.active.iter_rows(min_row=10, values_only=True)
                  if r[0] == "------" and str(r[2]).startswith("14")]
    finally:
        wb.close()
    cases, population = sum(r[5] for r in totals), sum(r[22] for r in totals)
    ref = bka_reference(REAL_XLSX_2020, land=14)
    total = ref[ref["key"] == "000000"].iloc[0]
    assert ref.attrs["year"] == 2020 and ref.attrs["population_source"] == "EW"
    assert (total["cases"], total["population"]) == (cases, population)
    assert total["hz"] == pytest.approx(cases * 100000 / population, rel=1e-12)


# ---------------------------------------------------------------------------
# PMK
# ---------------------------------------------------------------------------


def test_pmk_summary():
    pmk = pd.DataFrame({
        "year": pd.array([2021, 2021, 2021, 2022], dtype="Int64"),
        "area": ["rechts", "rechts", "links", "religiöse Ideologie"],
        "offence_type": ["Propagandadelikte", "Gewaltdelikte", "Sachbeschädigung", "Sonstige Delikte"],
        "count": pd.array([7, 2, 3, 1], dtype="Int64"),
    })
    out = pmk_summary(pmk).set_index("year")
    assert list(out.columns) == ["links", "rechts", "ausländische Ideologie", "religiöse Ideologie",
                                 "sonstige Zuordnung", "Insgesamt"]
    assert out.loc[2021, "rechts"] == 9 and out.loc[2021, "links"] == 3 and out.loc[2021, "Insgesamt"] == 12
    assert out.loc[2022, "rechts"] == 0 and out.loc[2022, "Insgesamt"] == 1
    by_type = pmk_summary(pmk, by="offence_type").set_index("year")
    assert by_type.loc[2021, "Gewaltdelikte"] == 2 and by_type.loc[2021, "Insgesamt"] == 12


def test_pmk_indicators():
    from kit.profile.pks import pmk_indicators

    pmk = pd.DataFrame({"year": pd.array([2021, 2021, 2022], dtype="Int64"),
                        "area": ["rechts", "links", "rechts"], "offence_type": ["Propagandadelikte"] * 3,
                        "count": pd.array([4, 2, 7], dtype="Int64")})
    ind = pmk_indicators(pmk)
    assert one(ind, indicator="pmk_cases", year=2021, subject="rechts")["value"] == 4
    assert one(ind, indicator="pmk_cases", year=2021, subject="")["value"] == 6
    assert one(ind, indicator="pmk_cases", year=2022, subject="links")["value"] == 0  # no row: 0
    assert one(ind, indicator="pmk_cases", year=2022, subject="")["subject_label"] == "alle Phänomenbereiche"


# ---------------------------------------------------------------------------
# Tables over the years (stage 1 assembly)
# ---------------------------------------------------------------------------


def test_pks_year_tables(indicators):
    from types import SimpleNamespace

    from kit.profile.stage import indicator_by_year, pks_group_keys, pks_year_table

    result = SimpleNamespace(pks=indicators)
    assert pks_group_keys(result) == ["892000", "899000", "674000"]  # fixture keys of the summary groups
    cases = pks_year_table(result, "pks_cases").set_index("key")
    assert list(cases.columns) == ["label", 2019, 2020, 2021, 2022]
    assert list(cases.loc["892000", [2019, 2020, 2021, 2022]]) == [5, 8, 6, 9]
    hz = pks_year_table(result, "pks_hz").set_index("key")
    assert hz.loc["899000", 2022] == pytest.approx(30 * 100000 / 100000)  # 31.12.2021: 100,000
    suspects = pks_year_table(result, "pks_suspects").set_index("key")
    assert list(suspects.loc["892000", [2019, 2020, 2021, 2022]]) == [6, 7, 5, 8]
    clearance = indicator_by_year(indicators, "pks_clearance", subjects=["892000"]).set_index("subject")
    assert clearance.loc["892000", 2020] == pytest.approx(9 / 8 * 100)


def test_pks_group_keys_fallback():
    from types import SimpleNamespace

    from kit.profile.indicators import make_indicators
    from kit.profile.stage import pks_group_keys

    def with_keys(*keys):
        return SimpleNamespace(pks=make_indicators(
            [dict(indicator="pks_cases", subject=k, year=2022, value=1.0) for k in keys]))

    # the BKA Kreis table has 222000/224000 and 730000 instead of 220000 and 891000
    assert pks_group_keys(with_keys("000000", "222000", "224000", "730000")) == ["000000", "730000", "222000", "224000"]
    assert pks_group_keys(with_keys("220000", "222000", "891000", "730000")) == ["891000", "220000"]


# ---------------------------------------------------------------------------
# Params: reference values and the BKA format as input
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    from kit.demo import generate_demo

    root = tmp_path_factory.mktemp("pksdemo")
    generate_demo(root, communes=["muldenau"])
    return root / "muldenau"


def _params_text(data_dir: Path, extra: str = "", pks: str = "pks.csv") -> str:
    return f"""commune_id: muldenau
name: Muldenau
ags: "14522990"
data_dir: {data_dir}
inputs:
  districts: districts.geojson
  residents: residents.csv
  owi: owi.csv
  pks: {pks}
{extra}"""




def test_reference_from_params_in_report(demo_data, tmp_path, monkeypatch):
    import IPython.display
    from IPython.display import HTML, Markdown

    from kit.params import load_params
    from kit.profile.inputs import load_profile_inputs
    from kit.report import fmt_num
    from kit.profile.stage import compute_profile, key_indicators
    from kit.profile.view import show_pks

    pks = {(int(r["year"]), r["key"]): int(r["cases"]) for r in raw_demo_rows(demo_data / "pks.csv")}
    latest = max(y for y, _ in pks)
    pop_prev = sum(int(r["count"]) for r in raw_demo_rows(demo_data / "residents.csv") if int(r["year"]) == latest - 1)
    n_total, n_violent = pks[(latest, "000000")], pks[(latest, "892000")]
    hz_total = n_total * 100000 / pop_prev
    lo, hi = _exact_interval_by_bisection(n_total)
    ref_total = round(hi * 100000 / pop_prev * 1.5)   # far above the interval: below_reference
    ref_violent = round(n_violent * 100000 / pop_prev)  # the own HZ: like_reference
    # YAML as an analyst writes it: 000000 unquoted is read as the number 0, 892000 as a number
    extra = f"""profile:
  pks_reference:
    000000: {ref_total}
    892000: {ref_violent}
  pks_reference_label: "Sachsen {latest}"
"""
    path = tmp_path / "muldenau.yaml"
    path.write_text(_params_text(demo_data, extra), encoding="utf-8")
    params = load_params(path)
    result = compute_profile(load_profile_inputs(params))

    total = one(result.pks, indicator="pks_hz_reference", subject="000000")
    assert total["year"] == latest and total["value"] == pytest.approx(hz_total)
    # the interval of the comparison contains the year-to-year swings: negative binomial with the
    # commune's pooled PKS dispersion (the same as for the shipped Land values), wider than the
    # exact Poisson interval of the year; its lower bound is the mean whose NB tail P(X >= cases)
    # is 2.5 % (scipy, independent of the kit's incomplete-beta code)
    from scipy import stats

    info = result.benchmark_info
    a = info.dispersion
    assert info.method == "nb_pooled" and a > 0
    mu_lo = total["lower"] * pop_prev / 100000
    assert stats.nbinom.sf(n_total - 1, 1 / a, 1 / (1 + a * mu_lo)) == pytest.approx(0.025, abs=1e-6)
    assert total["lower"] < lo * 100000 / pop_prev
    assert total["flag"] == "below_reference"
    assert one(result.pks, indicator="pks_hz_reference", subject="892000")["flag"] == "like_reference"
    key = key_indicators(result).set_index("indicator")
    assert key.loc["profile.hz_ratio_000000", "value"] == pytest.approx(hz_total / ref_total)

    shown = []
    monkeypatch.setattr(IPython.display, "display",
                        lambda *objs, **kw: shown.extend(o.data for o in objs if isinstance(o, (HTML, Markdown))))
    show_pks(result, params)
    text = " ".join(shown)
    assert f"HZ Sachsen {latest}" in text and "Vergleich mit der Referenz" in text
    assert fmt_num(ref_total, 0) in text and "Unter dem Referenzwert" in text


def test_reference_values_must_be_numbers(demo_data, tmp_path):
    from kit.params import load_params
    from kit.errors import ParamsError
    from kit.profile.stage import reference_from_params

    path = tmp_path / "muldenau.yaml"
    path.write_text(_params_text(demo_data, 'profile:\n  pks_reference:\n    "892000": hoch\n'), encoding="utf-8")
    with pytest.raises(ParamsError, match="892000"):
        reference_from_params(load_params(path))


def test_bka_format_through_params(demo_data, tmp_path):
    from kit.params import load_params
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile

    bka = write_bka_csv(tmp_path / "kreise.csv")
    pks = f"{{path: {bka}, format: bka, key: 14999, year: 2021}}"
    path = tmp_path / "muldenau.yaml"
    # the BKA table lies outside data_dir: allowed_roots names its folder
    path.write_text(_params_text(demo_data, f"allowed_roots: [{tmp_path}]\n", pks=pks), encoding="utf-8")
    inputs = load_profile_inputs(load_params(path))
    df = inputs["pks"]
    assert list(df["key"]) == ["000000", "899000", "211000"]
    assert (df["cases"].iloc[0], df["cleared"].iloc[0], df["suspects"].iloc[0]) == (1234, 617, 600)
    assert str(bka) in inputs.hashes
    # the stage runs on it: HZ of 2021 with the commune's population of 31.12.2020
    result = compute_profile(inputs)
    pop2020 = sum(int(r["count"]) for r in raw_demo_rows(demo_data / "residents.csv") if int(r["year"]) == 2020)
    assert one(result.pks, indicator="pks_hz", subject="000000", year=2021)["value"] == \
        pytest.approx(1234 * 100000 / pop2020)


def test_bka_format_params_need_key_and_year(demo_data, tmp_path):
    from kit.params import load_params
    from kit.profile.inputs import load_profile_inputs

    bka = write_bka_csv(tmp_path / "kreise.csv")
    path = tmp_path / "muldenau.yaml"
    path.write_text(_params_text(demo_data, f"allowed_roots: [{tmp_path}]\n", pks=f"{{path: {bka}, format: bka}}"),
                    encoding="utf-8")
    with pytest.raises(InputError, match="key"):
        load_profile_inputs(load_params(path))


@pytest.mark.skipif(not REAL_CSV.exists(), reason=f"real BKA CSV not present: {REAL_CSV}")
def test_real_bka_csv_through_params(demo_data, tmp_path):
    from kit.profile.inputs import read_input_table
    from kit.params import load_params

    pks = f"{{path: {REAL_CSV}, format: bka, key: 14612, year: 2022}}"
    path = tmp_path / "dresden.yaml"
    path.write_text(_params_text(demo_data, f"allowed_roots: [{REALDATA}]\n", pks=pks), encoding="utf-8")
    spec = load_params(path)["inputs"]["pks"]
    df = read_input_table("pks", spec)
    expected = _csv_row(REAL_CSV, "14612", "892000")
    violent = df[df["key"] == "892000"].iloc[0]
    assert (violent["cases"], violent["cleared"], violent["suspects"]) == \
        (_int(expected[5]), _int(expected[11]), _int(expected[13]))
    assert set(df["year"]) == {2022} and df.attrs["region_name"] == "Dresden"


def test_bka_tables_of_several_years_through_params(demo_data, tmp_path):
    """One BKA table per year (inputs.pks.files): stacked, each year's HZ on its own population."""
    from kit.params import load_params
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile

    first = write_bka_csv(tmp_path / "kreise_2021.csv")
    second = write_bka_csv(tmp_path / "kreise_2022.csv",
                           lines=[line.replace("Musterstadt;LK;1,234", "Musterstadt;LK;1,300") for line in BKA_LINES])
    pks = (f"{{format: bka, key: 14999, files: [{{path: {first}, year: 2021}}, "
           f"{{path: {second}, year: 2022}}]}}")
    path = tmp_path / "muldenau.yaml"
    path.write_text(_params_text(demo_data, f"allowed_roots: [{tmp_path}]\n", pks=pks), encoding="utf-8")
    inputs = load_profile_inputs(load_params(path))
    df = inputs["pks"]
    assert sorted(set(df["year"])) == [2021, 2022]
    assert str(first) in inputs.hashes and str(second) in inputs.hashes
    result = compute_profile(inputs)
    pops = {}
    for r in raw_demo_rows(demo_data / "residents.csv"):
        pops[int(r["year"])] = pops.get(int(r["year"]), 0) + int(r["count"])
    total = df[df["key"] == "000000"].set_index("year")["cases"]
    for year in (2021, 2022):
        assert one(result.pks, indicator="pks_hz", subject="000000", year=year)["value"] == \
            pytest.approx(total[year] * 100000 / pops[year - 1])
    assert total[2022] != total[2021]


def test_input_needs_path_or_files_not_both(demo_data, tmp_path):
    from kit.params import load_params
    from kit.errors import ParamsError

    path = tmp_path / "muldenau.yaml"
    path.write_text(_params_text(demo_data, pks="{format: bka, key: 14999}"), encoding="utf-8")
    with pytest.raises(ParamsError, match="'path' oder 'files'"):
        load_params(path)
