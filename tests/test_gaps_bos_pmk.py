"""Issue 8, items 5 and 6: the gap matrix (kit.profile.gaps, combined with the survey in
kit.recommend.gaps), BOS full-time staff vs volunteers, PMK by phenomenon area and offence type.

Constructed cases check the rules of the matrix; the demo communes (generated into a temporary
folder, stages 1 to 3 in process) are checked against their raw input files, read here with
the csv module and plain pandas arithmetic."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.profile import gaps as G
from kit.recommend import gaps as RG

from helpers import one

COMMUNES = ("muldenau", "elsterhain", "elbstadt")


# ---------------------------------------------------------------------------
# Gap matrix: constructed cases
# ---------------------------------------------------------------------------


def _inventory(rows):
    return pd.DataFrame(rows, columns=["activity_id", "title", "topic", "district_id"]).assign(
        district_id=lambda d: pd.array(d["district_id"], dtype="string"))


INVENTORY = _inventory([
    ("V1", "Verkehrshelfer", "Verkehr", None),            # commune-wide
    ("V2", "Tempo-Tafel Oberau", "Verkehr", "2"),         # located in district 2
    ("G1", "Streitschlichter", "Gewalt", "3"),            # located in district 3
    ("G2", "Anti-Gewalt-Tag", "Gewalt", None),            # commune-wide
    ("J1", "Jugendclub", "Jugend", "1"),                  # topic without any signal
])
SIGNALS = pd.DataFrame({"topic": ["Verkehr", "Gewalt", "Gewalt"], "district_id": ["", "1", "3"]})


def status(table, topic, district):
    return one(table, topic=topic, district_id=district)["status"]


def test_commune_wide_activity_does_not_fill_a_district_gap():
    table = G.gap_table(INVENTORY, SIGNALS, districts=["1", "2", "3"])
    # Verkehr: commune-wide signal applies to every district; V1 (no district) fills none of them
    assert status(table, "Verkehr", "1") == G.GAP
    assert status(table, "Verkehr", "3") == G.GAP
    assert one(table, topic="Verkehr", district_id="1")["signal"] == G.SIGNAL_COMMUNE
    # Gewalt: district 1 has its own signal and only the commune-wide G2: still a gap
    assert status(table, "Gewalt", "1") == G.GAP
    assert one(table, topic="Gewalt", district_id="1")["signal"] == G.SIGNAL_DISTRICT
    # the commune-wide activities are listed separately
    wide = G.commune_wide_activities(INVENTORY, ["Gewalt", "Verkehr"]).set_index("topic")
    assert wide.loc["Verkehr", "activity_ids"] == "V1" and wide.loc["Gewalt", "activity_ids"] == "G2"
    assert G.gap_count(table) == 3


def test_a_located_activity_fills_its_district():
    table = G.gap_table(INVENTORY, SIGNALS, districts=["1", "2", "3"])
    verkehr_2 = one(table, topic="Verkehr", district_id="2")
    assert (verkehr_2["status"], verkehr_2["n_activities"], verkehr_2["activity_ids"]) == (G.ACTIVITY, 1, "V2")
    assert status(table, "Gewalt", "3") == G.ACTIVITY
    # Gewalt has no commune-wide signal: district 2 without a signal of its own is no gap
    assert status(table, "Gewalt", "2") == G.NO_SIGNAL


def test_topics_without_a_signal_are_absent():
    table = G.gap_table(INVENTORY, SIGNALS, districts=["1", "2", "3"])
    assert list(dict.fromkeys(table["topic"])) == ["Gewalt", "Verkehr"]  # schema order, no Jugend
    assert list(G.gap_matrix(table).index) == ["Gewalt", "Verkehr"]
    assert list(G.gap_matrix(table).columns) == ["1", "2", "3"]
    assert G.gap_table(INVENTORY, SIGNALS.iloc[0:0], districts=["1", "2"]).empty


def test_profile_view_states_the_rule_and_shows_only_signal_topics(capture):
    from kit.profile.view import show_gap_matrix

    table = G.gap_table(INVENTORY, SIGNALS, districts=["1", "2", "3"])
    show_gap_matrix(table, INVENTORY, {"1": "Kernstadt", "2": "Oberau", "3": "Naundorf"},
                    caption="Lückenmatrix")
    text = capture.text
    assert "nur Themen mit einem Problemanzeichen" in text and "hier 2 von 12 Themen" in text
    assert "füllen keinen Stadtteil" in text and "gilt für jeden Stadtteil" in text
    assert "3 von 6 Feldern" in text
    assert "Jugend" not in text and "Jugendclub" not in text
    assert "Verkehrshelfer" in text and "Anti-Gewalt-Tag" in text  # commune-wide, listed separately
    assert "Lücke (Anzeichen im Stadtteil)" in text  # Gewalt in Kernstadt: the district's own signal


# ---------------------------------------------------------------------------
# Survey signals and the combined matrix (stage 3)
# ---------------------------------------------------------------------------

SPECS = [
    {"id": "problem_speeding", "label": "Raserei ist ein Problem", "item": "Q04_06", "codes": [3, 4]},
    {"id": "problem_alcohol_groups", "label": "Alkohol trinkende Gruppen", "item": "Q04_08", "codes": [3, 4]},
    {"id": "unsafe_night", "label": "nachts unsicher", "item": "Q05", "codes": [3, 4]},  # no topic
]
KEY = pd.DataFrame([
    {"indicator": "survey.problem_speeding", "label": "Raserei", "value": 0.60, "lower": 0.55, "upper": 0.65,
     "unit": "Anteil", "source": "Bürgerbefragung"},
    {"indicator": "survey.problem_alcohol_groups", "label": "Alkohol", "value": 0.12, "lower": 0.09,
     "upper": 0.15, "unit": "Anteil", "source": "Bürgerbefragung"},
    {"indicator": "survey.unsafe_night", "label": "nachts", "value": 0.9, "lower": 0.85, "upper": 0.95,
     "unit": "Anteil", "source": "Bürgerbefragung"},
])


def _estimate(item, group, estimate, lower, upper, suppressed=False, category="3+4", group_var="Q52"):
    return {"item": item, "category": category, "group_var": group_var, "group": group,
            "estimate": estimate, "lower": lower, "upper": upper, "suppressed": suppressed}  # the flag alone counts


ESTIMATES = pd.DataFrame([
    _estimate("Q04_06", "Oberau", 0.70, 0.60, 0.80),
    _estimate("Q04_06", "Naundorf", 0.70, 0.60, 0.80, suppressed=True),     # too few answers: no signal
    _estimate("Q04_08", "Oberau", 0.50, 0.40, 0.60),                         # only district above
    _estimate("Q04_08", "Naundorf", 0.50, 0.20, 0.70),                       # interval reaches below 25 %
    _estimate("Q04_08", "Kernstadt", 0.50, 0.40, 0.60, category="4"),        # other answer codes
    _estimate("Q04_08", "Kernstadt", 0.50, 0.40, 0.60, group_var="sex"),     # not the district breakdown
])
NAMES = {"1": "Kernstadt", "2": "Oberau", "3": "Naundorf"}


def test_survey_thresholds_come_from_the_catalogue():
    catalogue = [{"id": "m", "triggers": [{"indicator": "survey.problem_speeding", "op": ">=", "threshold": 0.3,
                                           "basis": "interval"},
                                          {"indicator": "survey.problem_speeding", "op": ">=", "threshold": 0.5}]}]
    trig = RG.survey_triggers(catalogue)
    assert (trig["survey.problem_speeding"]["threshold"], trig["survey.problem_speeding"]["basis"]) == (0.3, "interval")
    assert trig["survey.problem_drugs"]["threshold"] == RG.DEFAULT_SURVEY_TRIGGER["threshold"]
    assert not trig["survey.problem_drugs"]["from_catalogue"]


def test_combined_matrix_picks_up_survey_problem_topics():
    sig = RG.survey_signals(KEY, ESTIMATES, SPECS, RG.survey_triggers([]), {v: k for k, v in NAMES.items()}, "Q52")
    met = sig[sig["met"]]
    assert set(zip(met["topic"], met["district_id"])) == {("Verkehr", ""), ("Verkehr", "2"), ("Sucht/Alkohol", "2")}
    combined = RG.combined_gaps(INVENTORY.iloc[0:0], None, sig, NAMES)
    table = combined.table
    assert list(dict.fromkeys(table["topic"])) == ["Sucht/Alkohol", "Verkehr"]
    assert set(table["sources"]) == {G.SOURCE_SURVEY, ""}
    # Verkehr: commune-wide survey signal -> every district; Oberau has its own, Naundorf's is suppressed
    assert [one(table, topic="Verkehr", district_id=d)["signal"] for d in ("1", "2", "3")] == \
        [G.SIGNAL_COMMUNE, G.SIGNAL_DISTRICT, G.SIGNAL_COMMUNE]
    # Sucht/Alkohol: below the threshold for the commune, above in Oberau only
    assert [status(table, "Sucht/Alkohol", d) for d in ("1", "2", "3")] == [G.NO_SIGNAL, G.GAP, G.NO_SIGNAL]
    # profile signals and survey signals together; a located activity fills its district
    combined = RG.combined_gaps(INVENTORY, SIGNALS, sig, NAMES)
    assert list(dict.fromkeys(combined.table["topic"])) == ["Gewalt", "Sucht/Alkohol", "Verkehr"]
    assert status(combined.table, "Verkehr", "2") == G.ACTIVITY
    assert one(combined.table, topic="Verkehr", district_id="1")["sources"] == "profile;survey"


def test_stage3_view_words_the_survey_signals(capture):
    from kit.recommend.view import show_gaps

    sig = RG.survey_signals(KEY, ESTIMATES, SPECS, RG.survey_triggers([]), {v: k for k, v in NAMES.items()}, "Q52")
    show_gaps(RG.combined_gaps(INVENTORY, None, sig, NAMES))
    text = capture.text
    assert "Raserei ist ein Problem: ganze Kommune 60,0" in text and "Oberau 70,0" in text
    assert "Alkohol trinkende Gruppen: über der Schwelle in Oberau 50,0" in text
    assert "unter der Schwelle: Alkohol trinkende Gruppen" in text
    assert "nachts unsicher" not in text  # no prevention topic


# ---------------------------------------------------------------------------
# Demo communes: stages 1 to 3 in process, checked against the raw files
# ---------------------------------------------------------------------------


def read_raw(path: Path) -> pd.DataFrame:
    """A demo CSV read without the kit: UTF-8 (with or without BOM) or Windows-1252, ';' or ','."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252")
    header = text.splitlines()[0]
    sep = ";" if header.count(";") > header.count(",") else ","
    rows = list(csv.DictReader(io.StringIO(text), delimiter=sep))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Every demo commune: params, inputs, stage-1 result, the result store after stages 1-3 and
    the combined gaps."""
    import yaml

    from kit.demo import generate_demo
    from kit.params import PARAMS_DIR, load_params
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile, write_profile
    from kit.recommend.stage import compute_gaps, compute_recommendations, write_gaps, write_recommendations
    from kit.results import ResultStore
    from kit.survey.stage import compute_survey, write_survey

    root = tmp_path_factory.mktemp("gaps")
    folders = generate_demo(root / "data")
    out = {}
    for commune in COMMUNES:
        data = yaml.safe_load((PARAMS_DIR / f"{commune}.yaml").read_text(encoding="utf-8"))
        data["data_dir"] = str(folders[commune].resolve())
        data["demo"] = False
        path = root / f"{commune}.yaml"
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        params = load_params(path)
        inputs = load_profile_inputs(params)
        result = compute_profile(inputs)
        store = ResultStore(root / "output", commune)
        write_profile(result, store, inputs)
        write_survey(compute_survey(params, store).public, store)
        write_recommendations(compute_recommendations(params, store), store)
        gaps = compute_gaps(params, store)
        write_gaps(gaps, store)
        out[commune] = {"params": params, "inputs": inputs, "result": result, "store": store, "gaps": gaps,
                        "data": folders[commune], "output": root / "output"}
    return out


def _expected_status(table: pd.DataFrame, inventory: pd.DataFrame, signals: pd.DataFrame) -> list[str]:
    """The status of each row of ``table`` from the raw inventory and the signals (topic, district_id)."""
    located = {(t, d) for t, d in zip(inventory["topic"], inventory["district_id"]) if d.strip()}
    with_signal = {(t, d) for t, d in zip(signals["topic"], signals["district_id"])}
    out = []
    for topic, district in zip(table["topic"], table["district_id"]):
        if (topic, district) in located:
            out.append("activity")
        elif (topic, district) in with_signal or (topic, "") in with_signal:
            out.append("gap")
        else:
            out.append("no_signal")
    return out


@pytest.mark.parametrize("commune", COMMUNES)
def test_demo_gaps_match_the_raw_inventory(demo, commune):
    d = demo[commune]
    inventory = read_raw(d["data"] / "prevention.csv")
    gaps = d["gaps"]
    survey = gaps.survey_signals
    signals = pd.concat([
        d["result"].problems[["topic", "district_id"]],
        survey.loc[survey["met"], ["topic", "district_id"]]], ignore_index=True).astype(str)
    table = gaps.table
    assert list(table["status"]) == _expected_status(table, inventory, signals)
    # every topic with a signal has its row, every district its column; no other topic
    assert set(table["topic"]) == set(signals["topic"])
    assert set(table["district_id"]) == set(d["inputs"].districts["district_id"].astype(str))
    # the data has gaps: a topic with a signal and a district without a located activity of it
    located = set(zip(inventory["topic"], inventory["district_id"]))
    data_gaps = {(t, x) for t in set(signals["topic"]) for x in set(table["district_id"]) if (t, x) not in located
                 and ((t, x) in set(zip(signals["topic"], signals["district_id"]))
                      or (t, "") in set(zip(signals["topic"], signals["district_id"])))}
    assert data_gaps, "the demo data should contain a gap"
    shown = set(zip(table.loc[table["status"] == "gap", "topic"], table.loc[table["status"] == "gap", "district_id"]))
    assert shown == data_gaps
    # the stage-1 matrix follows the same rule on the profile signals alone
    profile = d["result"].gaps
    assert list(profile["status"]) == _expected_status(
        profile, inventory, d["result"].problems[["topic", "district_id"]].astype(str))
    # written for later use: codes only
    written = pd.read_csv(d["store"].path("prevention_gaps_combined", ".csv"), dtype=str, keep_default_na=False)
    assert set(written["status"]) <= set(G.STATUS_CODES)


@pytest.mark.parametrize("commune", COMMUNES)
def test_demo_combined_gaps_feed_the_gap_measure(demo, commune):
    d = demo[commune]
    rules = pd.read_csv(d["store"].path("recommendation_rules", ".csv"))
    measures = pd.read_csv(d["store"].path("recommendations", ".csv")).set_index("measure_id")
    row = one(rules, measure_id="praeventionsluecken", indicator="survey.prevention_gaps")
    n_gaps = int((d["gaps"].table["status"] == "gap").sum())
    assert row["value"] == n_gaps and bool(row["met"]) == (n_gaps >= 1)
    assert bool(measures.loc["praeventionsluecken", "triggered"]) == (n_gaps >= 1 or G.gap_count(d["result"].gaps) >= 1)


@pytest.mark.parametrize("commune", COMMUNES)
def test_demo_survey_district_signals_use_only_published_estimates(demo, commune):
    d = demo[commune]
    est = pd.read_csv(d["store"].path("survey_estimates", ".csv"), dtype={"category": str, "group": str})
    names = {str(k): v for k, v in d["inputs"].district_names.items()}
    survey = d["gaps"].survey_signals
    local = survey[survey["district_id"] != ""]
    assert len(local)
    for _, r in local.iterrows():
        spec = next(s for s in d["params"]["survey"]["key_indicators"] if f"survey.{s['id']}" == r["indicator"])
        row = est[(est["item"] == spec["item"]) & (est["group"] == names[r["district_id"]])
                  & (est["category"] == "+".join(str(c) for c in spec["codes"]))]
        assert len(row) == 1 and not bool(row["suppressed"].iloc[0])
        assert row["estimate"].iloc[0] == pytest.approx(r["value"])
        assert bool(r["met"]) == (row["lower"].iloc[0] >= r["threshold"])  # interval rule of the catalogue


# ---------------------------------------------------------------------------
# BOS: full-time staff and volunteers
# ---------------------------------------------------------------------------


def test_bos_rates_separate_full_time_staff_from_volunteers():
    from kit.profile.indicators import bos_staff_rates

    bos = pd.DataFrame({"year": [2022] * 4, "unit_id": ["P", "G", "F1", "F2"], "name": ["a", "b", "c", "d"],
                        "type": ["Polizeirevier", "Gemeindlicher Vollzugsdienst", "Freiwillige Feuerwehr",
                                 "Freiwillige Feuerwehr"],
                        "district_id": ["1"] * 4, "staff": [20, 4, 30, 10]})
    ind = bos_staff_rates(bos, pd.Series({2022: 20000}))
    full = one(ind, indicator="bos_fulltime_per_10000", subject="")
    vol = one(ind, indicator="bos_volunteer_per_10000", subject="")
    assert (full["value"], full["count"]) == (pytest.approx(24 * 10000 / 20000), 24)
    assert (vol["value"], vol["count"], vol["note"]) == (pytest.approx(40 * 10000 / 20000), 40, "volunteer_members")
    # no total that adds members of the volunteer brigade to full-time posts
    staff = ind[ind["indicator"] == "bos_staff_per_10000"]
    assert "" not in set(staff["subject"])
    assert not np.isclose(ind["value"], 64 * 10000 / 20000).any()


@pytest.mark.parametrize("commune", COMMUNES)
def test_demo_bos_split_equals_pandas_on_the_raw_file(demo, commune):
    from kit.profile.indicators import BOS_VOLUNTEER_TYPES
    from kit.profile.stage import key_indicators

    d = demo[commune]
    bos = read_raw(d["data"] / "bos.csv")
    bos["staff"] = bos["staff"].astype(int)
    bos["volunteer"] = bos["type"] == "Freiwillige Feuerwehr"
    residents = read_raw(d["data"] / "residents.csv")
    population = residents.assign(count=residents["count"].astype(int)).groupby("year")["count"].sum()
    expected = bos.groupby(["year", "volunteer"])["staff"].sum().unstack(fill_value=0)
    expected = expected.div(population.reindex(expected.index), axis=0) * 10000
    result = d["result"].bos
    for year, row in expected.iterrows():
        assert one(result, indicator="bos_fulltime_per_10000", year=int(year))["value"] == \
            pytest.approx(row[False])
        if row.get(True, 0):
            assert one(result, indicator="bos_volunteer_per_10000", year=int(year))["value"] == \
                pytest.approx(row[True])
    assert set(BOS_VOLUNTEER_TYPES) == {"Freiwillige Feuerwehr"}
    # the key indicator compared across communes is the full-time staff of the latest year
    key = key_indicators(d["result"]).set_index("indicator")
    latest = expected.iloc[-1]
    assert key.loc["profile.bos_fulltime_per_10000", "value"] == pytest.approx(latest[False])
    assert "profile.bos_staff_per_10000" not in key.index
    assert not np.isclose(key["value"].astype(float), latest[False] + latest.get(True, 0)).any()


def test_comparison_across_communes_uses_full_time_staff(demo):
    from kit.indicators import compare_key_indicators

    first = next(iter(demo.values()))
    comp = compare_key_indicators(first["output"], [(c, c) for c in COMMUNES])
    bos = comp[comp["indicator"].str.contains("bos")]
    assert set(bos["indicator"]) == {"profile.bos_fulltime_per_10000", "profile.bos_volunteer_per_10000"}
    full = bos[bos["indicator"] == "profile.bos_fulltime_per_10000"].set_index("commune_id")["value"]
    for commune in COMMUNES:
        raw = read_raw(demo[commune]["data"] / "bos.csv")
        residents = read_raw(demo[commune]["data"] / "residents.csv")
        year = max(raw["year"])
        staff = raw[(raw["year"] == year) & (raw["type"] != "Freiwillige Feuerwehr")]["staff"].astype(int).sum()
        pop = residents[residents["year"] == year]["count"].astype(int).sum()
        assert full[commune] == pytest.approx(staff * 10000 / pop)


def test_demo_bos_report_says_what_is_compared(demo, capture):
    from kit.profile.view import show_bos
    from kit.report import fmt_num

    result = demo["muldenau"]["result"]
    show_bos(result)
    text = capture.text
    full = one(result.bos, indicator="bos_fulltime_per_10000", year=int(result.bos["year"].max()))
    vol = one(result.bos, indicator="bos_volunteer_per_10000", year=int(result.bos["year"].max()))
    assert f"{fmt_num(full['value'], 1)} hauptamtliche Kräfte" in text
    assert f"{fmt_num(vol['value'], 1)} Mitglieder der Freiwilligen Feuerwehr" in text
    assert "nutzt nur das hauptamtliche Personal" in text
    assert fmt_num(full["value"] + vol["value"], 1) not in text  # never added up


# ---------------------------------------------------------------------------
# PMK by phenomenon area and offence type
# ---------------------------------------------------------------------------


def test_pmk_by_area_and_type_fills_the_schema_grid():
    from kit.profile.pks import PMK_AREAS, PMK_OFFENCE_TYPES, pmk_by_area_and_type

    pmk = pd.DataFrame({"year": [2022, 2022, 2023], "area": ["rechts", "rechts", "links"],
                        "offence_type": ["Propagandadelikte", "Propagandadelikte", "Gewaltdelikte"],
                        "count": [3, 4, 2]})
    out = pmk_by_area_and_type(pmk)
    assert len(out) == 2 * len(PMK_AREAS) * len(PMK_OFFENCE_TYPES)
    assert one(out, year=2022, area="rechts", offence_type="Propagandadelikte")["count"] == 7
    assert one(out, year=2023, area="rechts", offence_type="Propagandadelikte")["count"] == 0
    assert list(out[out["year"] == 2022]["area"].drop_duplicates()) == PMK_AREAS


@pytest.mark.parametrize("commune", ["elsterhain", "elbstadt"])
def test_demo_pmk_table_and_figure_show_offence_types_with_input_sums(demo, commune, capture, monkeypatch):
    from kit import figures
    from kit.profile.view import show_pmk

    d = demo[commune]
    raw = read_raw(d["data"] / "pmk.csv")
    raw["count"] = raw["count"].astype(int)
    raw["year"] = raw["year"].astype(int)
    types = d["result"].pmk_types
    merged = types.merge(raw.groupby(["year", "area", "offence_type"], as_index=False)["count"].sum(),
                         on=["year", "area", "offence_type"], how="left", suffixes=("", "_raw"))
    assert (merged["count"].astype(int) == merged["count_raw"].fillna(0).astype(int)).all()
    assert int(types["count"].sum()) == int(raw["count"].sum())

    drawn = []
    monkeypatch.setattr(figures, "show_figure", lambda fig, **kw: drawn.append(fig))
    show_pmk(d["result"])
    year = raw["year"].max()
    latest = raw[raw["year"] == year]
    html = " ".join(capture.texts)
    for offence, n in latest.groupby("offence_type")["count"].sum().items():
        assert f"<th>{offence}</th>" in html
    by_type = latest.groupby("offence_type")["count"].sum()
    total_row = "<td>Insgesamt</td>" + "".join(f'<td class="num">{n}</td>' for n in by_type.reindex(
        ["Gewaltdelikte", "Propagandadelikte", "Sachbeschädigung", "Sonstige Delikte"]))
    assert total_row in html.replace("\n", "")
    text = capture.text
    assert f"{year} wurden {latest['count'].sum()} Fälle politisch motivierter Kriminalität erfasst" in text
    # the chart: one stacked bar per area, one colour per offence type, widths = input counts
    assert len(drawn) == 1
    ax = drawn[0].axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["Gewaltdelikte", "Propagandadelikte", "Sachbeschädigung", "Sonstige Delikte"]
    widths: dict[float, float] = {}
    for patch in ax.patches:
        y = round(patch.get_y() + patch.get_height() / 2, 6)
        widths[y] = widths.get(y, 0.0) + patch.get_width()
    ticks = {round(pos, 6): t.get_text() for pos, t in zip(ax.get_yticks(), ax.get_yticklabels())}
    by_area = latest.groupby("area")["count"].sum()
    for y, w in widths.items():
        assert w == pytest.approx(by_area.get(ticks[y], 0))


@pytest.fixture
def capture(monkeypatch):
    import IPython.display

    from test_profile import Captured

    cap = Captured()
    monkeypatch.setattr(IPython.display, "display", cap)
    return cap
