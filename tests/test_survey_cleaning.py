"""Cleaning rules, the issues list, the log and the derived weighting variables.

tests/fixtures/survey/manual_entry.csv holds these deliberate defects (file rows):
  row 2 (101): decimal comma 7,5; district "1" for "01"; age 16
  row 3 (102): "k.A." and -9 (missing codes)
  row 4 (103): code 7 for a 4-point item; multi question left blank; opfer=nein but anzeige=ja;
               district "3" for "03"
  row 5 (104): "abc" for trust in police
  row 6 (105): age 130 (max 110); multi coded -9; sex divers
  row 7 (106): "weiß nicht" (missing label)
  row 8 (104): duplicate id 104
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.errors import InputError, ParamsError
from kit.survey.cleaning import ACTION_CODES, clean_responses
from kit.survey.codebook import load_codebook
from kit.survey.importing import read_responses

FIX = Path(__file__).parent / "fixtures" / "survey"
DISTRICTS = {"01": "Altstadt", "02": "Neustadt", "03": "Südvorstadt"}


@pytest.fixture(scope="module")
def cb():
    return load_codebook(FIX / "codebook.yaml", DISTRICTS)


@pytest.fixture(scope="module")
def raw(cb):
    return read_responses(FIX / "manual_entry.csv", cb, id_column="Fragebogen-Nr")


def log_of(result):
    return result.log.set_index("rule")[["cases", "values"]].apply(tuple, axis=1).to_dict()


def test_set_missing(cb, raw):
    res = clean_responses(raw, cb, {"out_of_range": "set_missing", "duplicates": "drop"})
    d = res.data
    assert d.index.tolist() == ["101", "102", "103", "104", "105", "106"]
    assert d.loc["101", "vertrauen"] == 7.5
    assert np.isnan(d.loc["102", "sicher_nacht"]) and np.isnan(d.loc["102", "F02_SQ001"])
    assert np.isnan(d.loc["103", "sicher_nacht"])
    assert np.isnan(d.loc["103", "anzeige"])  # consistency rule
    assert d.loc["103", "opfer"] == 2
    assert np.isnan(d.loc["104", "vertrauen"])  # first record kept, "abc" -> missing
    assert np.isnan(d.loc["105", "alter"]) and pd.isna(d.loc["105", "age_group"])
    assert np.isnan(d.loc["106", "opfer"])
    assert d[["F03_1", "F03_2", "F03_3"]].loc[["103", "105"]].isna().all().all()
    assert d["stadtteil"].tolist() == ["01", "02", "03", "01", "02", "03"]

    issues = {tuple(r) for r in res.issues[["respondent_id", "row", "item", "value", "rule"]].itertuples(index=False)}
    assert issues == {
        ("103", 4, "sicher_nacht", "7", "invalid_code"),
        ("103", 4, "anzeige", "1", "inconsistent:anzeige_ohne_opfer"),
        ("104", 5, "vertrauen", "abc", "not_numeric"),
        ("105", 6, "alter", "130", "out_of_range"),
        ("104", 8, "id", "104", "duplicate_id"),
    }
    assert set(res.issues["action"]) == {"set_missing", "keep_first"}  # codes; German in quality_view
    log = log_of(res)
    assert log["missing_code"] == (3, 6)  # 102: k.A., -9; 105: 3 x -9; 106: weiß nicht
    assert log["invalid_code"] == (1, 1)
    assert log["not_numeric"] == (1, 1)
    assert log["out_of_range"] == (1, 1)
    assert log["inconsistent:anzeige_ohne_opfer"] == (1, 1)
    assert log["duplicate_id"] == (1, 1)
    assert log["records_in"][0] == 7 and log["cases_dropped"][0] == 1 and log["cases_out"][0] == 6
    assert "description" not in res.log.columns  # codes and numbers only (numbers before words)
    assert set(res.log["action"].dropna()) <= set(ACTION_CODES)
    assert res.log.set_index("rule").at["inconsistent:anzeige_ohne_opfer", "label"]  # the codebook's label
    from kit.survey.quality_view import action_label, cleaning_table, rule_description

    words = cleaning_table(res.log).set_index("rule")
    assert all(rule_description(row) for _, row in res.log.iterrows())
    assert words.at["duplicate_id", "action"] == action_label("keep_first") == "spätere Datensätze entfernt"
    assert words.at["invalid_code", "description"] == "Ungültiger Antwortcode (nicht im Codebuch)"
    assert words.at["inconsistent:anzeige_ohne_opfer", "description"].startswith("Unplausible Kombination: ")
    assert words.at["records_in", "action"] == ""


def test_drop_case(cb, raw):
    res = clean_responses(raw, cb, {"out_of_range": "drop_case", "duplicates": "drop"})
    # 103 (invalid code, inconsistent), 104 (not numeric; its duplicate is dropped too), 105 (age)
    assert res.data.index.tolist() == ["101", "102", "106"]
    assert set(res.issues["action"]) == {"drop_case", "keep_first"}


def test_inconsistent_can_have_its_own_action(cb, raw):
    res = clean_responses(raw, cb, {"out_of_range": "set_missing", "inconsistent": "drop_case"})
    assert "103" not in res.data.index and "104" in res.data.index


def test_stop_lists_every_problem(cb, raw):
    with pytest.raises(InputError) as info:
        clean_responses(raw, cb, {"out_of_range": "stop", "duplicates": "stop"})
    found = [(p.row, p.column, str(p.value)) for p in info.value.problems]
    assert found == [(4, "sicher_nacht", "7"), (4, "anzeige", "1"), (5, "vertrauen", "abc"),
                     (6, "alter", "130"), (8, "Fragebogen-Nr", "104")]
    assert "manual_entry.csv" in str(info.value)


def test_stop_on_duplicates_only(cb, raw):
    with pytest.raises(InputError) as info:
        clean_responses(raw, cb, {"out_of_range": "set_missing", "duplicates": "stop"})
    (p,) = info.value.problems
    assert p.row == 8 and "Zeile 5" in p.expected


def test_bad_rules_are_rejected(cb, raw):
    with pytest.raises(ParamsError):
        clean_responses(raw, cb, {"out_of_range": "ignore"})
    with pytest.raises(ParamsError):
        clean_responses(raw, cb, {"dupes": "drop"})


def make_raw(cb, rows):
    """Raw frame as read_responses returns it; unspecified items blank."""
    df = pd.DataFrame([{"id": r.get("id"), **{i: r.get(i) for i in cb.items}} for r in rows], dtype=object)
    df.attrs.update(source="test.csv", first_data_row=2)
    return df


def test_derived_age_groups_sex_and_district(cb):
    ages = ["16", "34", "34,9", "35", "54", "55", "74", "75", "110", None]
    sexes = ["1", "2", "3", "1", "2", "1", "2", "-9", "1", "2"]
    rows = [{"id": str(i), "alter": a, "geschlecht": s, "stadtteil": "2"} for i, (a, s) in enumerate(zip(ages, sexes))]
    d = clean_responses(make_raw(cb, rows), cb, {}).data
    assert d["age_group"].tolist()[:9] == ["16-34", "16-34", "16-34", "35-54", "35-54", "55-74", "55-74",
                                           "75+", "75+"]
    assert pd.isna(d["age_group"].iloc[9])
    assert d["sex"].iloc[:2].tolist() == ["m", "w"]
    assert d["sex"].isna().tolist() == [False, False, True, False, False, False, False, True, False, False]
    assert set(d["district_id"]) == {"02"}


def test_multi_blank_means_not_ticked_only_when_question_answered(cb):
    rows = [
        {"id": "a", "F03_1": "1"},  # ticked one: the other two are 0
        {"id": "b"},  # nothing ticked: question missing
        {"id": "c", "F03_1": "0", "F03_2": "0", "F03_3": "0"},  # explicit "none"
        {"id": "d", "F03_1": "-9", "F03_2": "1"},  # missing code stays missing
    ]
    res = clean_responses(make_raw(cb, rows), cb, {})
    d = res.data[["F03_1", "F03_2", "F03_3"]]
    assert d.loc["a"].tolist() == [1, 0, 0]
    assert d.loc["b"].isna().all()
    assert d.loc["c"].tolist() == [0, 0, 0]
    assert np.isnan(d.loc["d", "F03_1"]) and d.loc["d", "F03_2"] == 1 and d.loc["d", "F03_3"] == 0
    assert log_of(res)["multi_blank"] == (2, 3)


def test_missing_id_gets_row_number_and_text_is_kept(cb):
    rows = [{"id": None, "anmerkung": "  Mehr Streife  "}, {"id": "7.0", "anmerkung": "k.A."}]
    res = clean_responses(make_raw(cb, rows), cb, {})
    assert res.data.index.tolist() == ["Zeile_2", "7"]
    assert res.data.loc["Zeile_2", "anmerkung"] == "Mehr Streife"
    assert pd.isna(res.data.loc["7", "anmerkung"])
    assert log_of(res)["missing_id"] == (1, 1)


def test_labels_and_unknown_district(cb):
    rows = [{"id": "1", "sicher_nacht": "Sehr  Unsicher", "stadtteil": "Neustadt"},
            {"id": "2", "stadtteil": "Mondstadt"}]
    res = clean_responses(make_raw(cb, rows), cb, {})
    assert res.data.loc["1", "sicher_nacht"] == 4
    assert res.data.loc["1", "district_id"] == "02"
    assert pd.isna(res.data.loc["2", "district_id"])
    (issue,) = res.issues.itertuples(index=False)
    assert (issue.item, issue.value, issue.rule) == ("stadtteil", "Mondstadt", "invalid_code")
