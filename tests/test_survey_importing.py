"""Reading survey responses: LimeSurvey CSV (codes and labels), SPSS, XLSX, German CSV."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit.errors import InputError
from kit.survey.cleaning import clean_responses
from kit.survey.codebook import load_codebook
from kit.survey.importing import read_responses

FIX = Path(__file__).parent / "fixtures" / "survey"
DISTRICTS = {"01": "Altstadt", "02": "Neustadt", "03": "Südvorstadt"}
ITEMS = ["sicher_nacht", "F02_SQ001", "F02_SQ002", "F02_SQ003", "F03_1", "F03_2", "F03_3", "opfer",
         "anzeige", "vertrauen", "alter", "geschlecht", "stadtteil", "anmerkung"]

# The four respondents of limesurvey_codes.csv, as codes (NaN = no answer), written out by hand.
EXPECTED = pd.DataFrame(
    {
        "sicher_nacht": [2, 3, 4, 1],
        "F02_SQ001": [1, 2, 3, 1],
        "F02_SQ002": [2, 2, 3, 1],
        "F02_SQ003": [3, 4, 4, 1],
        "F03_1": [1, 0, np.nan, 1],
        "F03_2": [0, 1, np.nan, 1],
        "F03_3": [0, 1, np.nan, 0],
        "opfer": [2, 1, 1, 2],
        "anzeige": [np.nan, 1, 2, np.nan],
        "vertrauen": [7, 5, 3, 10],
        "alter": [34, 35, 80, 55],
        "geschlecht": [1, 2, 3, 2],
    },
    index=pd.Index(["1", "2", "3", "4"], name="id"),
).astype(float)


@pytest.fixture(scope="module")
def cb():
    return load_codebook(FIX / "codebook.yaml", DISTRICTS)


def check_expected(clean):
    data = clean.data
    pd.testing.assert_frame_equal(data[EXPECTED.columns], EXPECTED, check_index_type=False)
    assert data["stadtteil"].tolist() == ["01", "02", "03", "01"]
    assert data["district_id"].tolist() == ["01", "02", "03", "01"]


def test_limesurvey_codes(cb):
    raw = read_responses(FIX / "limesurvey_codes.csv", cb)
    assert list(raw.columns) == ["id"] + ITEMS
    assert set(raw.attrs["ignored_columns"]) == {"submitdate", "lastpage", "startlanguage", "seed",
                                                 "interviewtime"}
    assert raw.attrs["first_data_row"] == 2
    assert raw.attrs["source"].endswith("limesurvey_codes.csv")
    assert raw.loc[0, "F03_1"] == "1"  # "Y" mapped to code 1
    assert raw.loc[0, "anmerkung"] == "Mehr Licht am Marktplatz"
    check_expected(clean_responses(raw, cb, {}))


def test_limesurvey_full_answer_texts_give_the_same_codes(cb):
    raw = read_responses(FIX / "limesurvey_labels.csv", cb)
    assert raw.loc[0, "sicher_nacht"] == "2"  # "eher sicher"
    assert raw.loc[2, "stadtteil"] == "03"  # "Südvorstadt"
    assert raw.attrs["labels_mapped"] > 30
    check_expected(clean_responses(raw, cb, {}))


def test_spss_sav(cb, tmp_path):
    import pyreadstat

    df = EXPECTED.reset_index()
    df["id"] = df["id"].astype(int)
    df["stadtteil"] = ["01", "02", "03", "01"]
    df["anmerkung"] = ["Mehr Licht am Marktplatz", "", "Hundekot", ""]
    path = tmp_path / "antworten.sav"
    pyreadstat.write_sav(df, str(path))
    raw = read_responses(path, cb)
    assert raw.attrs["first_data_row"] == 1
    check_expected(clean_responses(raw, cb, {}))


def test_xlsx_manual_entry_with_column_map(cb, tmp_path):
    df = EXPECTED.reset_index().rename(columns={"id": "Nr", "sicher_nacht": "Sicherheit nachts"})
    df["stadtteil"] = ["01", "02", "03", "01"]
    path = tmp_path / "eingabe.xlsx"
    df.to_excel(path, index=False)
    raw = read_responses(path, cb, column_map={"Sicherheit nachts": "sicher_nacht"}, id_column="Nr")
    assert raw.attrs["absent_optional"] == ["anmerkung"]
    assert raw["anmerkung"].isna().all()
    check_expected(clean_responses(raw, cb, {}))


def test_german_csv_cp1252(cb):
    raw = read_responses(FIX / "manual_entry.csv", cb, id_column="Fragebogen-Nr")
    assert raw.attrs["decimal"] == ","
    assert raw.attrs["absent_optional"] == ["anmerkung"]
    assert raw["id"].tolist() == ["101", "102", "103", "104", "105", "106", "104"]
    assert raw.loc[5, "opfer"] == "weiß nicht"  # cp1252 umlaut decoded
    assert raw.loc[0, "vertrauen"] == "7,5"  # raw, parsed in cleaning


def test_column_not_in_codebook_is_named(cb, tmp_path):
    text = (FIX / "limesurvey_codes.csv").read_text(encoding="utf-8")
    text = text.replace('"interviewtime"', '"Q99"', 1)
    path = tmp_path / "export.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_responses(path, cb)
    (p,) = info.value.problems
    assert p.column == "Q99" and p.row == 1
    assert "Codebuch passt nicht" in p.expected
    assert "export.csv" in str(info.value)


def test_missing_item_column_is_named(cb, tmp_path):
    df = pd.read_csv(FIX / "limesurvey_codes.csv", dtype=str).drop(columns=["opfer", "anmerkung"])
    path = tmp_path / "ohne_opfer.csv"
    df.to_csv(path, index=False)
    with pytest.raises(InputError) as info:
        read_responses(path, cb)
    # the optional free-text item may be absent, the required one may not
    assert [(p.column, p.value) for p in info.value.problems] == [("opfer", "fehlt")]
    assert "Codebuch passt nicht" in info.value.problems[0].expected


def test_missing_id_column_and_bad_column_map(cb):
    with pytest.raises(InputError) as info:
        read_responses(FIX / "manual_entry.csv", cb, column_map={"sicher_nacht": "Q_GIBTSNICHT"})
    found = {(p.column, str(p.value)) for p in info.value.problems}
    assert ("sicher_nacht", "Q_GIBTSNICHT") in found
    assert ("id", "fehlt") in found
    assert ("Fragebogen-Nr", "None") in found  # unknown column without an id mapping


def test_unsupported_file_type(cb, tmp_path):
    path = tmp_path / "antworten.json"
    path.write_text("{}")
    with pytest.raises(InputError, match="CSV, XLSX oder SPSS"):
        read_responses(path, cb)
