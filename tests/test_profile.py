"""Stage 1 (Gebietsprofil) computations, checked against values worked out by
hand from tiny fixtures built in this file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import one, poisson_cdf, raw_demo_rows
from kit.profile import indicators as P

# ---------------------------------------------------------------------------
# Fixtures (typed as the validator returns them: Int64 numbers, string text)
# ---------------------------------------------------------------------------

RESIDENT_ROWS = [
    # year, district, age group, sex, count
    (2022, "1", "0-5", "m", 10), (2022, "1", "0-5", "w", 12),
    (2022, "1", "16-17", "m", 5), (2022, "1", "16-17", "w", 5),
    (2022, "1", "25-34", "m", 20), (2022, "1", "25-34", "w", 18), (2022, "1", "25-34", "d", 2),
    (2022, "1", "65-74", "m", 8), (2022, "1", "65-74", "w", 10),
    (2022, "1", "85+", "w", 10),                                   # district 1: 100
    (2022, "2", "18-24", "m", 30), (2022, "2", "18-24", "w", 30),
    (2022, "2", "45-54", "m", 20), (2022, "2", "75-84", "w", 20),  # district 2: 100
    (2021, "1", "25-34", "m", 20), (2021, "1", "25-34", "w", 20), (2021, "1", "65-74", "w", 40),
    (2021, "2", "18-24", "m", 50), (2021, "2", "18-24", "w", 50),  # 2021: 180
]


def typed(rows, columns, types):
    return pd.DataFrame(rows, columns=columns).astype(types)


@pytest.fixture
def residents():
    return typed(RESIDENT_ROWS, ["year", "district_id", "age_group", "sex", "count"],
                 {"year": "Int64", "district_id": "string", "age_group": "string", "sex": "string",
                  "count": "Int64"})




# ---------------------------------------------------------------------------
# Indicator table
# ---------------------------------------------------------------------------


def test_empty_indicators_has_columns_and_types():
    empty = P.empty_indicators()
    assert list(empty.columns) == P.indicator_columns
    assert len(empty) == 0
    assert str(empty["year"].dtype) == "Int64"
    assert empty["value"].dtype == np.float64


def test_make_indicators_fills_defaults():
    ind = P.make_indicators([{"indicator": "x", "value": 2, "year": None}])
    row = ind.iloc[0]
    assert row["district_id"] == "" and row["flag"] == "" and row["note"] == ""
    assert pd.isna(row["year"]) and math.isnan(row["lower"])
    assert row["value"] == 2.0


def test_format_period_and_german_numbers():
    assert P.format_period([2022]) == "2022"
    assert P.format_period([2022, 2020, 2021]) == "2020–2022"
    assert P.format_period([2018, 2020]) == "2018, 2020"
    from kit.report import fmt_num

    assert fmt_num(1234.5, 1) == "1.234,5"


# ---------------------------------------------------------------------------
# Statistics helpers
# ---------------------------------------------------------------------------


def test_rate_per():
    assert P.rate_per(5, 200, 1000) == 25.0
    assert math.isnan(P.rate_per(5, 0, 1000))
    s = P.rate_per(pd.Series([1, 2], index=["a", "b"]), pd.Series([10, 0], index=["a", "b"]), 100)
    assert s["a"] == 10.0 and math.isnan(s["b"])


def test_poisson_interval_matches_table_values():
    # published exact-interval tables: x = 9 -> 4.115 to 17.084(8); x = 0 -> 0 to 3.689 (to 3 decimals)
    lo, hi = P.poisson_interval(9)
    assert lo == pytest.approx(4.115, abs=1e-3)
    assert hi == pytest.approx(17.084, abs=1e-3)  # 17.0848
    lo0, hi0 = P.poisson_interval(0)
    assert lo0 == 0.0 and hi0 == pytest.approx(3.689, abs=1e-3)




def test_poisson_interval_tail_probabilities():
    # defining property of the exact interval: each tail holds 2.5 %
    for x in (1, 4, 23):
        lo, hi = P.poisson_interval(x)
        assert 1 - poisson_cdf(x - 1, lo) == pytest.approx(0.025, abs=1e-9)
        assert poisson_cdf(x, hi) == pytest.approx(0.025, abs=1e-9)


def _poisson_quantile(q: float, mu: float) -> int:
    k = 0
    while poisson_cdf(k, mu) < q:
        k += 1
    return k


def _trends(series: dict, population: dict | None = None, subject: str = "a") -> dict:
    counts = pd.DataFrame({"subject": subject, "year": list(series), "count": list(series.values())})
    return P.early_warning_trends(counts, "owi", population=population)[subject]


@pytest.mark.parametrize("latest, flag", [(25, "rise"), (17, "within_chance"), (4, "within_chance"), (2, "fall")])
def test_early_warning_trends_alone_is_at_least_as_wide_as_poisson(latest, flag):
    """A series alone with equal base years (no own variability) keeps at least the Poisson
    range around the mean of the previous years (hand: central 95 % of Poisson(10) is 4 .. 17)."""
    result = _trends({2019: 10, 2020: 10, 2021: 10, 2022: latest})
    assert _poisson_quantile(0.025, 10) == 4 and _poisson_quantile(0.975, 10) == 17
    assert result["expected"] == pytest.approx(10.0)
    assert result["lower"] <= 4 + 1 and result["upper"] >= 17 - 1
    assert result["flag"] == flag
    assert result["period"] == "2019–2021" and result["year"] == 2022 and result["count"] == latest
    assert result["note"] == ""  # the flag says it; no sentence in compute output
    from kit.profile.view import trend_text

    text = trend_text(result)
    head = {"rise": "Auffälliger Anstieg", "fall": "Auffälliger Rückgang",
            "within_chance": "Im Rahmen der üblichen Schwankungen"}[flag]
    assert text.startswith(f"{head}: 2022 {latest} Fälle; bei gleichbleibender Lage wie 2019–2021 waren etwa 10 zu "
                           "erwarten, üblich wären 4 bis ")
    assert ("Hinweis zum Hinschauen, kein Beweis" in text) == (flag != "within_chance")
    assert "signifikant" not in text.lower()


def test_early_warning_trends_range_shown_as_whole_counts_never_contains_a_flagged_count():
    from kit.profile.view import trend_text

    result = {"flag": "fall", "year": 2024, "count": 14.0, "expected": 24.4, "lower": 14.41, "upper": 36.1,
              "period": "2019–2023", "note": ""}
    assert "üblich wären 15 bis 36." in trend_text(result)


def test_early_warning_trends_uses_up_to_five_previous_years():
    # 2016 (100) is outside the window of 5 years before 2022; 2017-2021 are the base
    result = _trends({2016: 100, 2017: 10, 2018: 10, 2019: 10, 2020: 10, 2021: 10, 2022: 25})
    assert result["expected"] == pytest.approx(10.0) and result["period"] == "2017–2021"
    assert result["flag"] == "rise"


def test_early_warning_trends_population_adjusted():
    counts = {2019: 10, 2020: 10, 2021: 10, 2022: 20}
    assert _trends(counts)["flag"] == "rise"
    # the town doubled: 10 per 1,000 before, so 20 expected in 2022
    result = _trends(counts, population={2019: 1000, 2020: 1000, 2021: 1000, 2022: 2000})
    assert result["expected"] == pytest.approx(20.0)
    assert result["flag"] == "within_chance"


def test_early_warning_trends_too_few_years():
    from kit.profile.view import trend_text

    result = _trends({2021: 10, 2022: 30})
    assert result["flag"] == "" and result["note"] == "trend_missing_years"
    assert result["period"] == "2017–2021" and result["available"] == [2021]
    assert math.isnan(result["expected"]) and math.isnan(result["upper"])
    assert trend_text(result) == ("Keine Trendaussage: Dafür werden Werte aus mindestens 3 der 5 Vorjahre "
                                  "2017–2021 benötigt (vorhanden: 2021).")


def test_early_warning_trends_gap_in_previous_years_still_three_of_five():
    # 2020 missing: 2017, 2018, 2019, 2021 are four of the five years before 2022
    result = _trends({2017: 10, 2018: 10, 2019: 10, 2021: 10, 2022: 40})
    assert result["flag"] == "rise" and result["period"] == "2017, 2018, 2019, 2021"


def test_early_warning_trends_no_base_counts():
    from kit.profile.view import trend_text

    result = _trends({2019: 0, 2020: 0, 2021: 0, 2022: 5})
    assert result["flag"] == "" and result["note"] == "trend_no_base_counts"
    assert trend_text(result) == "In den Vorjahren kein Fall: kein Vergleichsniveau, keine Trendaussage."


# ---------------------------------------------------------------------------
# Population
# ---------------------------------------------------------------------------


def test_population_totals(residents):
    tot = P.population_totals(residents).set_index("year")
    row = tot.loc[2022]
    # hand: 100 + 100; m = 10+5+20+8+30+20 = 93; w = 12+5+18+10+10+30+20 = 105; d = 2
    assert (row["total"], row["m"], row["w"], row["d"]) == (200, 93, 105, 2)
    assert row["share_under18_pct"] == pytest.approx(32 / 200 * 100)  # 0-5 and 16-17
    assert row["share_65plus_pct"] == pytest.approx(48 / 200 * 100)   # 65-74, 85+, 75-84
    assert row["change"] == 20
    assert row["change_pct"] == pytest.approx(20 / 180 * 100)
    assert pd.isna(tot.loc[2021, "change"])
    assert "share_nongerman_pct" not in tot.columns


def test_population_totals_nationality():
    res = typed([(2022, "1", "25-34", "m", "deutsch", 90), (2022, "1", "25-34", "m", "nichtdeutsch", 10),
                 (2022, "1", "35-44", "w", "nichtdeutsch", 5), (2022, "1", "35-44", "w", "deutsch", 95)],
                ["year", "district_id", "age_group", "sex", "nationality", "count"],
                {"year": "Int64", "count": "Int64", "nationality": "string"})
    tot = P.population_totals(res)
    assert tot["share_nongerman_pct"].iloc[0] == pytest.approx(15 / 200 * 100)


def test_population_by_district(residents):
    by = P.population_by_district(residents, 2021).set_index("district_id")
    assert by.loc["1", "total"] == 80 and by.loc["2", "total"] == 100
    assert by.loc["1", "share_of_commune_pct"] == pytest.approx(80 / 180 * 100)
    assert by.loc["1", "share_65plus_pct"] == pytest.approx(50.0)
    latest = P.population_by_district(residents)
    assert set(latest["year"]) == {2022}


def test_population_unknown_year(residents):
    with pytest.raises(ValueError, match="2030"):
        P.population_by_district(residents, 2030)


def test_age_pyramid(residents):
    pyr = P.age_pyramid(residents, 2022, district_id="1")
    mw = pyr[pyr["sex"].isin(["m", "w"])]
    assert len(mw) == 22  # all 11 register groups for m and for w
    assert one(pyr, age_group="25-34", sex="m")["count"] == 20
    assert one(pyr, age_group="35-44", sex="w")["count"] == 0
    d_rows = pyr[pyr["sex"] == "d"]
    assert list(d_rows["age_group"].astype(str)) == ["25-34"] and d_rows["count"].iloc[0] == 2
    assert one(pyr, age_group="0-5", sex="w")["share_pct"] == pytest.approx(12.0)
    assert pyr["count"].sum() == 100
    whole = P.age_pyramid(residents, 2022)
    assert one(whole, age_group="18-24", sex="w")["count"] == 30
    with pytest.raises(ValueError):
        P.age_pyramid(residents, 2022, district_id="9")


def test_survey_population_margins_distribute(residents):
    mar = P.survey_population_margins(residents)  # latest year 2022
    assert len(mar) == 2 * 4 * 2
    # district 1, 16-34: 16-17 (5 m, 5 w) + 25-34 (20 m, 18 w, 2 d split 20:18)
    m = 5 + 20 + 2 * 20 / 38
    w = 5 + 18 + 2 * 18 / 38
    assert one(mar, district_id="1", age_group="16-34", sex="m")["population"] == pytest.approx(m)
    assert one(mar, district_id="1", age_group="16-34", sex="w")["population"] == pytest.approx(w)
    assert one(mar, district_id="1", age_group="55-74", sex="w")["population"] == 10  # 65-74
    assert one(mar, district_id="2", age_group="75+", sex="w")["population"] == 20   # 75-84
    assert one(mar, district_id="2", age_group="35-54", sex="w")["population"] == 0
    assert mar["population"].sum() == pytest.approx(200 - 22)  # all but the 0-5 year olds


def test_survey_population_margins_drop(residents):
    mar = P.survey_population_margins(residents, 2022, diverse="drop")
    assert one(mar, district_id="1", age_group="16-34", sex="m")["population"] == 25
    assert mar["population"].sum() == pytest.approx(178 - 2)


# ---------------------------------------------------------------------------
# OWi, clubs, accommodation, BOS, education
# ---------------------------------------------------------------------------

POP = pd.Series({2019: 200, 2020: 200, 2021: 200, 2022: 200})


def test_owi_rates_and_trend():
    owi = typed([(2019, "Abfall/Vermüllung", 10), (2020, "Abfall/Vermüllung", 10), (2021, "Abfall/Vermüllung", 10),
                 (2022, "Abfall/Vermüllung", 30), (2022, "Lärm", 9)],
                ["year", "category", "count"], {"year": "Int64", "category": "string", "count": "Int64"})
    ind = P.owi_rates(owi, POP)
    noise = one(ind, indicator="owi_per_1000", subject="Lärm", year=2022)
    assert noise["value"] == pytest.approx(9 * 1000 / 200)
    assert noise["lower"] == pytest.approx(4.115 * 1000 / 200, abs=0.01)
    assert noise["upper"] == pytest.approx(17.084 * 1000 / 200, abs=0.01)
    total = one(ind, indicator="owi_per_1000", subject="", year=2022)
    assert total["count"] == 39 and total["value"] == pytest.approx(39 * 1000 / 200)
    trend = one(ind, indicator="owi_trend", subject="Abfall/Vermüllung")
    assert trend["flag"] == "rise" and trend["year"] == 2022
    assert one(ind, indicator="owi_trend", subject="Lärm")["flag"] == ""  # one year only


def test_owi_population_accepts_population_totals_frame(residents):
    owi = typed([(2022, "Hunde", 4)], ["year", "category", "count"], {"year": "Int64", "count": "Int64"})
    ind = P.owi_rates(owi, P.population_totals(residents))
    assert one(ind, indicator="owi_per_1000", subject="Hunde")["value"] == pytest.approx(4 * 1000 / 200)


def test_club_rates(residents):
    clubs = typed([("V1", "SV Blau", "Sport", "1", 50), ("V2", "TSV Rot", "Sport", "1", 30),
                   ("V3", "Chor", "Kultur/Musik", "1", None), ("V4", "FC Grün", "Sport", "2", 10)],
                  ["club_id", "name", "type", "district_id", "members"], {"members": "Int64"})
    ind = P.club_rates(clubs, residents, 2022)
    rates = ind[ind["indicator"] == "clubs_per_1000"]
    assert one(rates, district_id="1", subject="Sport")["value"] == pytest.approx(2 * 1000 / 100)
    assert one(rates, district_id="1", subject="")["value"] == pytest.approx(3 * 1000 / 100)
    assert one(rates, district_id="2", subject="Kultur/Musik")["value"] == 0
    assert one(rates, district_id="", subject="Sport")["value"] == pytest.approx(3 * 1000 / 200)
    assert one(rates, district_id="", subject="")["count"] == 4
    members = one(ind, indicator="club_members_per_1000", subject="")
    assert members["value"] == pytest.approx(90 * 1000 / 200)
    assert members["note"] == "members_elsewhere"
    known = one(ind, indicator="clubs_members_known", subject="")
    assert (known["value"], known["base"]) == (3, 4)  # members known for 3 of 4 clubs


def test_accommodation_summary_protects_womens_shelters(residents):
    acc = typed([(2022, "A", "Haus A", "Gemeinschaftsunterkunft Geflüchtete", "1", 50, 40),
                 (2022, "B", "Haus B", "Frauenschutzhaus", "1", 10, 12),
                 (2022, "C", "Haus C", "Obdachlosenunterkunft", "2", 20, 5)],
                ["year", "facility_id", "name", "type", "district_id", "places", "occupancy"],
                {"year": "Int64", "places": "Int64", "occupancy": "Int64"})
    ind = P.accommodation_summary(acc, residents)
    district_rows = ind[ind["district_id"] != ""]
    assert "Frauenschutzhaus" not in set(district_rows["subject"])
    assert one(ind, indicator="accommodation_places", district_id="1", subject="")["value"] == 50
    occ = one(ind, indicator="accommodation_occupancy_pct", district_id="", subject="")
    assert occ["value"] == pytest.approx(57 / 80 * 100)
    shelter = one(ind, indicator="accommodation_occupancy_pct", district_id="", subject="Frauenschutzhaus")
    assert shelter["value"] == pytest.approx(120.0) and shelter["note"] == "over_capacity"
    from kit.profile.view import note_text

    assert "Überbelegung" in note_text(shelter)
    per = one(ind, indicator="accommodation_places_per_1000", district_id="", subject="")
    assert per["value"] == pytest.approx(80 * 1000 / 200)
    assert one(ind, indicator="accommodation_facilities", district_id="", subject="")["value"] == 3


def test_bos_staff_rates_latest_year():
    bos = typed([(2021, "P0", "Revier alt", "Polizeirevier", "1", 99),
                 (2022, "P1", "Revier", "Polizeirevier", "1", 20),
                 (2022, "G1", "GVD", "Gemeindlicher Vollzugsdienst", "1", 4),
                 (2022, "F1", "FF Mitte", "Freiwillige Feuerwehr", "2", 40)],
                ["year", "unit_id", "name", "type", "district_id", "staff"], {"year": "Int64", "staff": "Int64"})
    ind = P.bos_staff_rates(bos, pd.Series({2021: 20000, 2022: 20000}))
    assert set(ind["year"]) == {2022}
    assert one(ind, indicator="bos_staff_per_10000", subject="Polizeirevier")["value"] == pytest.approx(10.0)
    # full-time posts and volunteer members apart, never one sum of both
    assert one(ind, indicator="bos_fulltime_per_10000", subject="")["value"] == pytest.approx(24 / 20000 * 10000)
    assert one(ind, indicator="bos_volunteer_per_10000", subject="")["value"] == pytest.approx(40 / 20000 * 10000)
    assert "" not in set(ind.loc[ind["indicator"] == "bos_staff_per_10000", "subject"])
    assert one(ind, indicator="bos_units", subject="")["value"] == 3
    volunteers = one(ind, indicator="bos_staff_per_10000", subject="Freiwillige Feuerwehr")
    assert volunteers["note"] == "volunteer_members"
    from kit.profile.view import note_text

    assert "Mitglieder" in note_text(volunteers)


def test_education_per_resident():
    edu = pd.DataFrame({"year": pd.array([2022, 2022], dtype="Int64"),
                        "area": ["Grundschulen", "Schulsozialarbeit"],
                        "amount_eur": [100000.0, 50000.0], "posts_fte": [np.nan, 2.5]})
    ind = P.education_per_resident(edu, pd.Series({2022: 20000}))
    assert one(ind, indicator="education_eur_per_resident", subject="Grundschulen")["value"] == 5.0
    assert one(ind, indicator="education_eur_per_resident", subject="")["value"] == 7.5
    fte = one(ind, indicator="education_fte_per_10000", subject="Schulsozialarbeit")
    assert fte["value"] == pytest.approx(1.25)


def test_population_fallback_is_noted():
    edu = pd.DataFrame({"year": pd.array([2023], dtype="Int64"), "area": ["Grundschulen"], "amount_eur": [1000.0]})
    ind = P.education_per_resident(edu, pd.Series({2021: 500, 2022: 100}))
    row = one(ind, indicator="education_eur_per_resident", subject="")
    assert row["value"] == 10.0 and row["note"] == "population_fallback" and row["base_year"] == 2022
    from kit.profile.view import note_text

    assert note_text(row) == "Einwohnerzahl vom 31.12.2022 verwendet (31.12.2023 nicht vorhanden)."


# ---------------------------------------------------------------------------
# Prevention gaps
# ---------------------------------------------------------------------------


def test_problem_topics_from_indicators():
    ind = P.make_indicators([
        dict(indicator="owi_trend", label="OWi", subject="Abfall/Vermüllung", subject_label="Abfall/Vermüllung",
             flag="rise", note="Anstieg", period="2019–2021"),
        dict(indicator="owi_trend", label="OWi", subject="Lärm", subject_label="Lärm", flag="within_chance"),
        dict(indicator="pks_hz_reference", label="HZ", subject="892000", subject_label="Gewaltkriminalität",
             flag="above_reference", district_id="2"),
        dict(indicator="pks_trend", label="Fälle", subject="515001", flag="rise"),  # no rule: ignored
    ])
    probs = P.problem_topics_from_indicators(ind)
    assert list(zip(probs["topic"], probs["district_id"])) == [("Gewalt", "2"), ("Sauberkeit/Ordnung", "")]
    assert list(probs["subject"]) == ["892000", "Abfall/Vermüllung"]  # the evidence rows themselves
    from kit.profile.view import problem_evidence

    words = problem_evidence(probs).set_index("topic")
    assert "Abfall/Vermüllung" in words.loc["Sauberkeit/Ordnung", "evidence"]


def test_prevention_gap_matrix():
    """Rules of kit.profile.gaps (more cases in test_gaps_bos_pmk.py)."""
    from kit.profile import gaps as G

    prevention = pd.DataFrame({
        "activity_id": ["1", "2"], "title": ["Saubere Stadt", "Gewaltprävention an Schulen"],
        "topic": ["Sauberkeit/Ordnung", "Gewalt"], "target_group": ["alle", "Jugend"],
        "district_id": pd.array(["1", pd.NA], dtype="string"), "provider": ["Stadt", "Polizei"],
        "since_year": [2020, 2018]})
    problems = pd.DataFrame({"topic": ["Sauberkeit/Ordnung", "Gewalt", "Verkehr"],
                             "district_id": ["2", "", "1"]})
    table = G.gap_table(prevention, problems, districts=["1", "2", "3"])
    mat = G.gap_matrix(table)
    assert list(mat.columns) == ["1", "2", "3"]
    assert list(mat.index) == ["Gewalt", "Verkehr", "Sauberkeit/Ordnung"]  # schema order
    assert list(mat.loc["Sauberkeit/Ordnung"]) == ["activity", "gap", "no_signal"]
    # a commune-wide activity fills no district; a commune-wide signal applies to every district
    assert list(mat.loc["Gewalt"]) == ["gap"] * 3
    assert list(mat.loc["Verkehr"]) == ["gap", "no_signal", "no_signal"]
    from kit.profile.view import GAP_TEXT

    assert (GAP_TEXT["activity"], GAP_TEXT["gap"]) == ("Aktivität vor Ort", "Lücke")


# ---------------------------------------------------------------------------
# Population indicators, BOS over the years
# ---------------------------------------------------------------------------


def test_population_female_share(residents):
    tot = P.population_totals(residents).set_index("year")
    assert tot.loc[2022, "share_female_pct"] == pytest.approx(105 / 200 * 100)  # w = 105 (see above)
    by = P.population_by_district(residents, 2022).set_index("district_id")
    # district 2: w = 30 (18-24) + 20 (75-84) of 100
    assert by.loc["2", "share_female_pct"] == pytest.approx(50.0)


def test_population_indicators(residents):
    ind = P.population_indicators(residents)
    assert one(ind, indicator="population", year=2022, district_id="")["value"] == 200
    assert one(ind, indicator="population", year=2021, district_id="2")["value"] == 100
    # district 1 2022: under 18 = 0-5 (22) + 16-17 (10) = 32 of 100; 65+ = 18 + 10 = 28
    u18 = one(ind, indicator="population_share_under18", year=2022, district_id="1")
    assert (u18["value"], u18["count"], u18["base"]) == (pytest.approx(32.0), 32, 100)
    assert one(ind, indicator="population_share_65plus", year=2022, district_id="1")["value"] == pytest.approx(28.0)
    # commune 2021: w = 20 + 40 + 50 = 110 of 180
    assert one(ind, indicator="population_share_female", year=2021, district_id="")["value"] == \
        pytest.approx(110 / 180 * 100)
    assert "population_share_nongerman" not in set(ind["indicator"])  # no nationality column
    assert set(ind["unit"]) == {"Personen", "%"}


def test_population_indicators_nongerman_base_is_known_nationality():
    res = typed([(2022, "1", "25-34", "m", "deutsch", 90), (2022, "1", "25-34", "m", "nichtdeutsch", 10),
                 (2022, "1", "35-44", "w", None, 100)],
                ["year", "district_id", "age_group", "sex", "nationality", "count"],
                {"year": "Int64", "count": "Int64", "nationality": "string"})
    row = one(P.population_indicators(res), indicator="population_share_nongerman", district_id="")
    assert (row["value"], row["count"], row["base"]) == (pytest.approx(10.0), 10, 100)


def test_bos_staff_rates_by_year():
    bos = typed([(2021, "P1", "Revier", "Polizeirevier", "1", 30),
                 (2022, "P1", "Revier", "Polizeirevier", "1", 20),
                 (2022, "G1", "GVD", "Gemeindlicher Vollzugsdienst", "1", 4)],
                ["year", "unit_id", "name", "type", "district_id", "staff"], {"year": "Int64", "staff": "Int64"})
    ind = P.bos_staff_rates_by_year(bos, pd.Series({2021: 15000, 2022: 20000}))
    assert one(ind, indicator="bos_fulltime_per_10000", subject="", year=2021)["value"] == pytest.approx(20.0)
    assert one(ind, indicator="bos_fulltime_per_10000", subject="", year=2022)["value"] == pytest.approx(12.0)
    assert "bos_volunteer_per_10000" not in set(ind["indicator"])  # no volunteer brigade in the file
    assert one(ind, indicator="bos_units", subject="", year=2022)["value"] == 2


# ---------------------------------------------------------------------------
# Interactive map (folium, no tile server), checked without a browser
# ---------------------------------------------------------------------------


def _map_fixture():
    import geopandas as gpd
    from shapely.geometry import Point, box

    # two districts in EPSG:25833 near Dresden (metres)
    districts = gpd.GeoDataFrame({"district_id": ["1", "2"], "district_name": ["Altstadt", "Südvorstadt"]},
                                 geometry=[box(410000, 5650000, 412000, 5652000), box(412000, 5650000, 414000, 5652000)],
                                 crs="EPSG:25833")
    places = gpd.GeoDataFrame({"popup": ["<b>Bahnhofsvorplatz</b><br>Art: Bahnhof/Haltestelle"],
                               "tooltip": ["Bahnhofsvorplatz"]},
                              geometry=[Point(411000, 5651000)], crs="EPSG:25833")
    bos = gpd.GeoDataFrame({"popup": ["<b>Polizeirevier</b><br>Personal 2024: 1.234"], "tooltip": ["Revier"]},
                           geometry=[Point(413000, 5651500)], crs="EPSG:25833")
    return districts, places, bos


def _walk(element):
    for child in element._children.values():
        yield child
        yield from _walk(child)


def test_interactive_map_layers_without_tiles():
    import folium
    from pyproj import Transformer

    from kit.profile import webmap

    districts, places, bos = _map_fixture()
    m = webmap.district_map(districts, {"1": "<b>Altstadt</b><br>Einwohner 2024: 11.188"},
                              {"Orte des Unwohlseins": (places, "#b00020"),
                               "Polizei, Ordnungsamt, Feuerwehr, Rettung": (bos, "#2f5d8a"),
                               "Präventionsaktivitäten": (None, "#1f7a3a")})  # empty layer is left out
    elements = list(_walk(m))
    assert not any(isinstance(e, folium.TileLayer) for e in elements)  # no tile server
    groups = [getattr(e, "layer_title", e.layer_name) for e in elements if isinstance(e, folium.FeatureGroup)]
    assert groups == ["Stadtteile", "Orte des Unwohlseins", "Polizei, Ordnungsamt, Feuerwehr, Rettung"]
    assert sum(isinstance(e, folium.LayerControl) for e in elements) == 1
    # the point is placed at its WGS84 position, computed here with pyproj directly
    lon, lat = Transformer.from_crs("EPSG:25833", "EPSG:4326", always_xy=True).transform(411000, 5651000)
    markers = [e for e in elements if isinstance(e, folium.CircleMarker)]
    assert len(markers) == 2
    assert markers[0].location == pytest.approx([lat, lon], abs=1e-9)
    html = m.get_root().render()
    assert "{z}" not in html and "L.tileLayer" not in html  # no tile URL template, no tile layer call
    assert "Einwohner 2024: 11.188" in html and "Art: Bahnhof/Haltestelle" in html
    assert "Personal 2024: 1.234" in html


# ---------------------------------------------------------------------------
# Stage 1 in-process on demo data: display, missing optional inputs, results
# ---------------------------------------------------------------------------


class Captured:
    """What the display functions showed: HTML/Markdown text and figures."""

    def __init__(self):
        self.texts: list[str] = []
        self.figures = 0
        self.other: list[object] = []

    def __call__(self, *objs, **_kwargs):
        from IPython.display import HTML, Markdown
        from matplotlib.figure import Figure

        for obj in objs:
            if isinstance(obj, (HTML, Markdown)):
                self.texts.append(obj.data)
                self.figures += obj.data.count('<figure class="kit-figure"')  # kit.figures.show_figure
            elif isinstance(obj, Figure):
                self.figures += 1
            else:
                self.other.append(obj)

    @property
    def text(self) -> str:
        import html as _html
        import re

        return _html.unescape(re.sub(r"<[^>]+>", " ", " ".join(self.texts)))


@pytest.fixture
def capture(monkeypatch):
    import IPython.display

    cap = Captured()
    monkeypatch.setattr(IPython.display, "display", cap)
    return cap


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    from kit.demo import generate_demo

    root = tmp_path_factory.mktemp("demo")
    generate_demo(root / "data", communes=["muldenau"])
    return root


def demo_params(root, drop=(), profile=None, name="muldenau"):
    """Params file for the demo commune muldenau with data in root, without the inputs in ``drop``."""
    import yaml

    from kit.params import PARAMS_DIR

    data = yaml.safe_load((PARAMS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    data["data_dir"] = str(root / "data" / name)
    data["demo"] = False
    for key in drop:
        data["inputs"].pop(key)
    if profile:
        data["profile"] = profile
    path = root / f"{name}-{'-'.join(drop) or 'alle'}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run_profile(params_file):
    from kit.params import load_params
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile

    inputs = load_profile_inputs(load_params(params_file))
    return inputs, compute_profile(inputs)


def show_all(result, inputs):
    from kit.profile import view as view

    view.show_data_notes(result)
    view.show_population(result, inputs)
    view.show_districts(result, inputs)
    view.show_pks(result, inputs.params)
    view.show_pmk(result)
    view.show_owi(result)
    view.show_clubs(result, inputs)
    view.show_accommodation(result, inputs)
    view.show_bos(result)
    view.show_education(result)
    view.show_prevention(result, inputs)
    view.show_trends(result)


def assert_clean(text: str):
    import re

    for pattern in (r"\bNaN\b", r"\bnan\b", r"<NA>", r"\bNone\b", r"\bsubject_label\b", r"\bdistrict_id\b"):
        assert not re.search(pattern, text), pattern


@pytest.mark.parametrize("drop, note", [
    (("clubs",), "Vereinslandschaft"),
    (("owi", "education"), "Ordnungswidrigkeiten"),
    (("bos", "places", "prevention", "accommodation"), "Präventionsaktivitäten"),
])
def test_missing_optional_inputs_give_notes(demo_root, capture, drop, note):
    from kit.profile.inputs import INPUT_TITLES

    inputs, result = run_profile(demo_params(demo_root, drop=drop))
    for name in drop:
        assert inputs[name] is None and name in result.notes
    show_all(result, inputs)
    text = capture.text
    for name in drop:
        # the note appears at the top and again in the section
        assert text.count(f"Für {INPUT_TITLES[name]} wurden keine Daten geliefert") >= 2, name
    assert note in text
    assert "Straftaten insgesamt" in text and capture.figures >= 4
    assert_clean(text)


def test_missing_required_input_is_an_error(demo_root):
    from kit.errors import ParamsError

    with pytest.raises(ParamsError, match="inputs.pks"):
        run_profile(demo_params(demo_root, drop=("pks",)))




def test_report_tables_show_hand_computed_values(demo_root, capture):
    """Suspects, OWi by year, clubs by district, education by year, BOS per 10,000 in the report,
    each recomputed here from the raw demo files."""
    from kit.report import fmt_num

    inputs, result = run_profile(demo_params(demo_root))
    data = demo_root / "data" / "muldenau"
    res = raw_demo_rows(data / "residents.csv")
    pop = {}
    for r in res:
        pop[int(r["year"])] = pop.get(int(r["year"]), 0) + int(r["count"])
    show_all(result, inputs)
    html = " ".join(capture.texts)

    pks = {(int(r["year"]), r["key"]): r for r in raw_demo_rows(data / "pks.csv")}
    first_year = min(y for y, _ in pks)
    assert f"<td class=\"num\">{fmt_num(int(pks[(first_year, '000000')]['suspects']))}</td>" in html
    assert "Tatverdächtige nach Jahren" in html and "Häufigkeitszahl (Fälle je 100.000 Einwohner) nach Jahren" in html

    owi = raw_demo_rows(data / "owi.csv")
    parking = sum(int(r["count"]) for r in owi if int(r["year"]) == first_year and r["category"] == "Parken")
    assert fmt_num(parking * 1000 / pop[first_year], 1) in html
    ind = result.owi
    row = one(ind, indicator="owi_per_1000", subject="Parken", year=first_year)
    assert row["value"] == pytest.approx(parking * 1000 / pop[first_year])

    clubs = raw_demo_rows(data / "clubs.csv")
    latest = max(pop)
    d_pop = sum(int(r["count"]) for r in res if int(r["year"]) == latest and r["district_id"] == "1")
    sport_1 = sum(1 for c in clubs if c["district_id"] == "1" and c["type"] == "Sport")
    assert one(result.clubs, indicator="clubs_per_1000", district_id="1", subject="Sport")["value"] == \
        pytest.approx(sport_1 * 1000 / d_pop)
    assert "Vereine je 1.000 Einwohner nach Stadtteil und Art" in html

    edu = raw_demo_rows(data / "education.csv")
    eur = sum(float(r["amount_eur"].replace(".", "").replace(",", ".")) for r in edu if int(r["year"]) == first_year)
    assert one(result.education, indicator="education_eur_per_resident", subject="", year=first_year)["value"] == \
        pytest.approx(eur / pop[first_year])
    assert fmt_num(eur / pop[first_year], 2) in html

    bos = raw_demo_rows(data / "bos.csv")
    for year in sorted({int(b["year"]) for b in bos}):
        staff = sum(int(b["staff"]) for b in bos if int(b["year"]) == year and b["type"] != "Freiwillige Feuerwehr")
        assert one(result.bos, indicator="bos_fulltime_per_10000", subject="", year=year)["value"] == \
            pytest.approx(staff * 10000 / pop[year])
        assert fmt_num(staff * 10000 / pop[year], 1) in html
    assert_clean(capture.text)


def test_notebook_keeps_interactive_map_out_of_the_report():
    import nbformat

    from kit.params import REPO_ROOT

    nb = nbformat.read(REPO_ROOT / "notebooks" / "1_profile.ipynb", as_version=4)
    map_cells = [c for c in nb.cells if "interactive_map" in c.source or "Interaktive Karte" in c.source]
    assert len(map_cells) == 2
    assert all("remove_cell" in c.metadata.get("tags", []) for c in map_cells)


def test_results_hold_every_indicator(demo_root, tmp_path):
    from kit.results import ResultStore
    from kit.profile.stage import write_profile

    inputs, result = run_profile(demo_params(demo_root))
    store = ResultStore(tmp_path, "muldenau")
    write_profile(result, store, inputs)
    ind = pd.read_csv(store.path("profile_indicators", ".csv"), dtype={"subject": str, "district_id": str},
                      keep_default_na=False, na_values=[""])
    ind["subject"] = ind["subject"].fillna("")
    ind["district_id"] = ind["district_id"].fillna("")
    have = set(ind["indicator"])
    for name in ("population", "population_share_under18", "population_share_65plus", "population_share_female",
                 "population_share_nongerman", "pks_cases", "pks_hz", "pks_clearance", "pks_suspects",
                 "pks_hz_mean", "pks_trend", "owi_per_1000", "owi_trend", "clubs_per_1000",
                 "accommodation_places", "bos_staff_per_10000", "education_eur_per_resident"):
        assert name in have, name
    res = raw_demo_rows(demo_root / "data" / "muldenau" / "residents.csv")
    years = sorted({int(r["year"]) for r in res})
    # every year for OWi, education and population; BOS for every year in its file
    for indicator in ("owi_per_1000", "education_eur_per_resident", "population"):
        assert sorted(ind.loc[(ind["indicator"] == indicator) & (ind["subject"] == ""), "year"]
                      .dropna().astype(int).unique()) == years, indicator
    bos_years = sorted({int(b["year"]) for b in raw_demo_rows(demo_root / "data" / "muldenau" / "bos.csv")})
    assert sorted(ind.loc[ind["indicator"] == "bos_staff_per_10000", "year"].astype(int).unique()) == bos_years
    # clubs by district and type
    clubs = ind[ind["indicator"] == "clubs_per_1000"]
    assert set(clubs["district_id"]) == set(inputs.districts["district_id"]) | {""}
    # a population share per district, recomputed from the raw file
    latest = years[-1]
    d1 = [r for r in res if int(r["year"]) == latest and r["district_id"] == "1"]
    old = sum(int(r["count"]) for r in d1 if r["age_group"] in ("65-74", "75-84", "85+"))
    row = ind[(ind["indicator"] == "population_share_65plus") & (ind["district_id"] == "1") & (ind["year"] == latest)]
    assert row["value"].iloc[0] == pytest.approx(old / sum(int(r["count"]) for r in d1) * 100)
    # key indicators for stage 3
    key = pd.read_csv(store.path("key_indicators_profile", ".csv"))
    for name in ("profile.population", "profile.bos_fulltime_per_10000", "profile.clubs_per_1000",
                 "profile.education_eur_per_resident", "profile.share_nongerman"):
        assert name in set(key["indicator"]), name


def test_problem_evidence_names_the_year_of_a_rise():
    ind = P.make_indicators([dict(indicator="owi_trend", label="Ordnungswidrigkeiten: Entwicklung", year=2022,
                                  period="2019–2021", subject="Lärm", subject_label="Lärm", flag="rise")])
    from kit.profile.view import problem_evidence

    evidence = problem_evidence(P.problem_topics_from_indicators(ind))["evidence"].iloc[0]
    assert "(2022 gegenüber 2019–2021)" in evidence


# ---------------------------------------------------------------------------
# Boundary: the district-id cross-check between the inputs and the district geometry
# ---------------------------------------------------------------------------


def _demo_copy(demo_root, tmp_path):
    import shutil

    shutil.copytree(demo_root / "data" / "muldenau", tmp_path / "data" / "muldenau")
    return tmp_path


def _edit_cell(path, data_row: int, column: str, value: str) -> str:
    """Set one cell of a demo CSV (';', cp1252); data_row 1 is file line 2. Returns the old value."""
    lines = path.read_text(encoding="cp1252").splitlines()
    header = lines[0].split(";")
    cells = lines[data_row].split(";")
    old, cells[header.index(column)] = cells[header.index(column)], value
    lines[data_row] = ";".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="cp1252")
    return old


def test_unknown_district_id_is_refused_with_file_row_column_value(demo_root, tmp_path):
    from kit.errors import InputError

    root = _demo_copy(demo_root, tmp_path)
    data = root / "data" / "muldenau"
    assert _edit_cell(data / "residents.csv", 3, "district_id", "99") != "99"  # file line 4
    _edit_cell(data / "clubs.csv", 2, "district_id", "0")                     # file line 3
    with pytest.raises(InputError) as err:
        run_profile(demo_params(root))
    found = {(Path(p.file).name, p.row, p.column, str(p.value)) for p in err.value.problems}
    assert found == {("residents.csv", 4, "district_id", "99"), ("clubs.csv", 3, "district_id", "0")}
    message = str(err.value)
    assert "residents.csv, Zeile 4, Spalte 'district_id': Wert '99'" in message
    assert "Stadtteil-Nr. aus der Stadtteil-Datei" in message


def test_district_ids_exactly_those_of_the_geometry_pass(demo_root, tmp_path):
    """Every id of the geometry is accepted (the boundary on the other side), an empty
    district is accepted where the schema makes it optional (prevention: whole commune)
    and refused where it is required (residents)."""
    import geopandas as gpd

    from kit.errors import InputError

    root = _demo_copy(demo_root, tmp_path)
    data = root / "data" / "muldenau"
    known = sorted(gpd.read_file(data / "districts.geojson")["district_id"].astype(str))
    lines = (data / "residents.csv").read_text(encoding="cp1252").splitlines()
    used = {line.split(";")[1] for line in lines[1:]}
    assert used == set(known)  # the demo uses every district, and only those
    _edit_cell(data / "prevention.csv", 1, "district_id", "")  # optional: allowed empty
    inputs, _ = run_profile(demo_params(root))
    assert set(inputs["residents"]["district_id"].astype(str)) == set(known)
    _edit_cell(data / "residents.csv", 1, "district_id", "")
    with pytest.raises(InputError) as err:
        run_profile(demo_params(root))
    (p,) = err.value.problems
    assert (Path(p.file).name, p.row, p.column) == ("residents.csv", 2, "district_id")
