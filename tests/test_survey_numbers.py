"""Numeric survey answers follow the number rule of the profile tables (issue 13): the kit's one
parser (kit.schemas.parse_cell), an ambiguous value ("2.000" in a ','-separated file or in a text
cell of a workbook) is an InputError naming file, row, column and value unless survey.numbers states
the convention, and the convention assumed is recorded in kit.inputs_log.

Response files are written here with the csv module / openpyxl; expected numbers are written into
the files, not computed by the kit. The demo surveys are compared with the reading before issue 13
(a verbatim copy of the old parse_number below) as their baseline.
"""

from __future__ import annotations

import csv
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kit import inputs_log, inputs_view
from kit.errors import InputError, ParamsError
from kit.params import PARAMS_DIR, REPO_ROOT, load_params
from kit.survey.cleaning import clean_responses, parse_number
from kit.survey.codebook import load_codebook
from kit.survey.importing import read_responses

FIX = REPO_ROOT / "tests" / "fixtures" / "survey"
DISTRICTS = {"01": "Altstadt", "02": "Neustadt", "03": "Südvorstadt"}
GERMAN = {"decimal": ",", "thousands": "."}
ENGLISH = {"decimal": ".", "thousands": ","}


@pytest.fixture(scope="module")
def codebook(tmp_path_factory):
    """The test codebook with one numeric item without a small maximum (rent in euro)."""
    data = yaml.safe_load((FIX / "codebook.yaml").read_text(encoding="utf-8"))
    data["items"].append({"id": "miete", "block": "Wohnen", "question": "F11", "text": "Monatsmiete in Euro",
                          "type": "numeric", "min": 0, "max": 100000})
    path = tmp_path_factory.mktemp("cb") / "codebook.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_codebook(path, DISTRICTS)


HEADER = ["id", "sicher_nacht", "F02_SQ001", "F02_SQ002", "F02_SQ003", "F03_1", "F03_2", "F03_3", "opfer",
          "anzeige", "vertrauen", "alter", "geschlecht", "stadtteil", "Monatsmiete"]
COLUMN_MAP = {"Monatsmiete": "miete"}  # the file's heading differs from the item id


def answers(rent: str, trust: str = "7") -> list[list[str]]:
    return [["1", "1", "1", "2", "2", "1", "0", "0", "2", "", trust, "34", "1", "01", "650"],
            ["2", "2", "1", "2", "3", "0", "1", "0", "1", "1", "6", "51", "2", "02", rent]]


def write_csv(path: Path, rows: list[list[str]], sep: str) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=sep, lineterminator="\r\n").writerows([HEADER, *rows])
    return path


def clean(path: Path, codebook, numbers=None):
    with inputs_log.collecting() as log:
        raw = read_responses(path, codebook, COLUMN_MAP, numbers=numbers)
        result = clean_responses(raw, codebook, {})
    return result, log.records[str(path)]


def test_ambiguous_number_in_a_comma_file_is_an_error_naming_it(tmp_path, codebook):
    path = write_csv(tmp_path / "antworten.csv", answers("2.000"), ",")
    with pytest.raises(InputError) as err:
        clean(path, codebook)
    (problem,) = err.value.problems
    assert (Path(problem.file).name, problem.row, problem.column, problem.value) == ("antworten.csv", 3,
                                                                                      "Monatsmiete", "2.000")
    text = str(err.value)
    assert "antworten.csv" in text and "Zeile 3" in text and "Spalte 'Monatsmiete'" in text and "'2.000'" in text
    assert "survey.numbers" in text and "2000" in text  # both readings and where to state the convention


def test_ambiguous_number_is_an_error_even_when_bad_values_are_set_missing(tmp_path, codebook):
    path = write_csv(tmp_path / "antworten.csv", answers("1.250"), ",")
    raw = read_responses(path, codebook, COLUMN_MAP)
    with pytest.raises(InputError):
        clean_responses(raw, codebook, {"out_of_range": "set_missing"})


@pytest.mark.parametrize("numbers, rent, marks", [(GERMAN, 2000.0, ("comma", "point")),
                                                   (ENGLISH, 2.0, ("point", "comma"))])
def test_stated_convention_decides_and_is_recorded(tmp_path, codebook, numbers, rent, marks):
    path = write_csv(tmp_path / "antworten.csv", answers("2.000", trust="7"), ",")
    result, record = clean(path, codebook, numbers)
    assert result.data.loc["2", "miete"] == rent and result.data.loc["1", "miete"] == 650
    assert (record.numbers, record.decimal, record.thousands) == ("params", numbers["decimal"], numbers["thousands"])
    row = record.row()
    assert (row["decimal"], row["thousands"]) == marks
    if rent == 2000.0:
        assert record.repairs["thousands_separator"].count == 1
        assert record.repairs["thousands_separator"].detail == "Monatsmiete"
    else:
        assert "thousands_separator" not in record.repairs
    assert "Zahlen laut Parametern" in inputs_view.assumed_text(pd.Series(row))


def test_stated_convention_refuses_the_other_notation(tmp_path, codebook):
    """Under survey.numbers {decimal: ",", thousands: "."}, 7.5 is no number (set missing, listed)."""
    path = write_csv(tmp_path / "antworten.csv", answers("2.000", trust="7.5"), ",")
    result, _ = clean(path, codebook, GERMAN)
    assert math.isnan(result.data.loc["1", "vertrauen"])
    issue = result.issues[result.issues["item"] == "vertrauen"].iloc[0]
    assert (issue["row"], issue["value"], issue["rule"]) == (2, "7.5", "not_numeric")


def test_semicolon_file_is_read_as_german_and_recorded(tmp_path, codebook):
    path = write_csv(tmp_path / "antworten.csv", answers("2.000", trust="7,5"), ";")
    result, record = clean(path, codebook)
    assert result.data.loc["2", "miete"] == 2000 and result.data.loc["1", "vertrauen"] == 7.5
    assert (record.numbers, record.decimal, record.thousands) == ("separator", ",", ".")
    assert record.repairs["thousands_separator"].count == 1 and record.repairs["decimal_comma"].count == 1
    assert "deutscher Schreibweise" in inputs_view.assumed_text(pd.Series(record.row()))


def test_unambiguous_forms_in_a_comma_file(tmp_path, codebook):
    """Without a convention a value is read by its form where that is unambiguous."""
    rows = answers("1.234,5")  # the csv module quotes it
    rows[0][-1] = "12.5"
    path = write_csv(tmp_path / "antworten.csv", rows, ",")
    result, record = clean(path, codebook)
    assert result.data["miete"].tolist() == [12.5, 1234.5]
    assert record.numbers == "form"


def test_free_text_that_looks_like_a_number_is_no_error(tmp_path, codebook):
    header = [*HEADER, "anmerkung"]
    rows = [[*r, "2.000"] for r in answers("650")]
    path = tmp_path / "antworten.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    result, _ = clean(path, codebook)
    assert result.data["anmerkung"].tolist() == ["2.000", "2.000"]


def test_workbook_text_cell_is_ambiguous_number_cell_is_not(tmp_path, codebook):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for r in answers("x"):
        ws.append([int(v) if v.lstrip("-").isdigit() else (v or None) for v in r])
    ws.cell(row=2, column=len(HEADER)).value = 2000  # a number cell
    ws.cell(row=3, column=len(HEADER)).value = "2.000"  # a text cell
    path = tmp_path / "antworten.xlsx"
    wb.save(path)
    with pytest.raises(InputError) as err:
        clean(path, codebook)
    (problem,) = err.value.problems
    assert (problem.row, problem.column, problem.value) == (3, "Monatsmiete", "2.000")
    result, record = clean(path, codebook, GERMAN)
    assert result.data["miete"].tolist() == [2000, 2000] and record.numbers == "params"


# ---------------------------------------------------------------------------
# params: survey.numbers
# ---------------------------------------------------------------------------

def params_with(tmp_path: Path, survey: dict) -> Path:
    data = yaml.safe_load((PARAMS_DIR / "muldenau.yaml").read_text(encoding="utf-8"))
    data["data_dir"] = str(tmp_path)
    data["survey"].update(survey)
    path = tmp_path / "muldenau.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_params_survey_numbers(tmp_path):
    assert load_params(params_with(tmp_path, {"numbers": GERMAN}))["survey"]["numbers"] == GERMAN
    assert load_params(params_with(tmp_path, {}))["survey"].get("numbers") is None
    with pytest.raises(ParamsError) as err:
        load_params(params_with(tmp_path, {"numbers": "deutsch"}))
    assert "survey.numbers 'deutsch'" in str(err.value) and "Zahlenformat der Antwortdatei" in str(err.value)
    with pytest.raises(ParamsError) as err:
        load_params(params_with(tmp_path, {"numbers": {"decimal": ";"}}))
    assert "survey.numbers.decimal ';'" in str(err.value)
    with pytest.raises(ParamsError) as err:
        load_params(params_with(tmp_path, {"numbers": {"decimal": ",", "thousands": ","}}))
    assert "survey.numbers" in str(err.value) and "verschiedene Zeichen" in str(err.value)


# ---------------------------------------------------------------------------
# stage 2 reads survey.numbers; the demo surveys parse as before
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from kit.demo import generate_demo

    root = tmp_path_factory.mktemp("demo")
    generate_demo(root, communes=["muldenau", "elbstadt", "elsterhain"])
    return root


def demo_params(tmp_path: Path, folder: Path, name: str, survey: dict | None = None) -> dict:
    data = yaml.safe_load((PARAMS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))
    data["data_dir"] = str(folder)
    data["survey"].update(survey or {})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return load_params(path)


@pytest.fixture(scope="module")
def muldenau(tmp_path_factory, demo):
    """A copy of the demo commune with stage 1's results (stage 2 reads its districts and margins)."""
    from kit.profile.inputs import load_profile_inputs
    from kit.profile.stage import compute_profile, write_profile
    from kit.results import ResultStore

    root = tmp_path_factory.mktemp("muldenau")
    folder = root / "muldenau"
    shutil.copytree(demo / "muldenau", folder)
    store = ResultStore(root / "out", "muldenau")
    inputs = load_profile_inputs(demo_params(root, folder, "muldenau"))
    write_profile(compute_profile(inputs), store, inputs)
    return folder, store


def comma_copy(folder: Path, name: str) -> tuple[Path, int, str]:
    """The demo answers as a ','-separated file ``name`` with one age of 45 written 45.000; returns
    the file, that file row and the respondent's id."""
    with open(folder / "survey_responses.csv", encoding="cp1252", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    header = rows[0]
    age = header.index("Q50")
    pos = next(i for i, r in enumerate(rows[1:], 1) if r[age] == "45")
    rows[pos][age] = "45.000"
    path = folder / name
    with open(path, "w", encoding="cp1252", newline="") as fh:
        csv.writer(fh, delimiter=",").writerows(rows)
    return path, pos + 1, rows[pos][header.index("id")]


def test_stage2_takes_survey_numbers(tmp_path, muldenau):
    """compute_survey: a ','-separated copy of the demo answers with an age written 45.000 is refused
    naming it; with survey.numbers {decimal: ".", thousands: ","} the age is 45."""
    from kit.survey.stage import compute_survey

    folder, store = muldenau
    path, row, rid = comma_copy(folder, "antworten_komma.csv")
    with pytest.raises(InputError) as err:
        compute_survey(demo_params(tmp_path, folder, "muldenau", {"responses": path.name}), store)
    (problem,) = err.value.problems
    assert (Path(problem.file).name, problem.row, problem.column, problem.value) == (path.name, row, "Q50", "45.000")
    params = demo_params(tmp_path, folder, "muldenau", {"responses": path.name, "numbers": ENGLISH})
    result = compute_survey(params, store)
    assert result.clean.data.loc[rid, "Q50"] == 45


def test_stage1_place_mentions_take_survey_numbers(tmp_path, muldenau):
    """Stage 1 reads the answers as stage 2 does (kit.survey.places.cleaned_answers)."""
    from kit.survey.places import cleaned_answers

    folder, _ = muldenau
    path, row, rid = comma_copy(folder, "antworten_orte.csv")
    with pytest.raises(InputError) as err:
        cleaned_answers(demo_params(tmp_path, folder, "muldenau", {"responses": path.name}), {})
    assert [(p.row, p.column, p.value) for p in err.value.problems] == [(row, "Q50", "45.000")]
    params = demo_params(tmp_path, folder, "muldenau", {"responses": path.name, "numbers": ENGLISH})
    assert cleaned_answers(params, {}).loc[rid, "Q50"] == 45


def test_earlier_wave_takes_its_own_numbers(tmp_path, muldenau, monkeypatch):
    """survey.previous_wave.numbers is the convention of the earlier file (not the current one's)."""
    from kit.survey import stage
    from kit.survey.waves import load_previous_wave

    folder, store = muldenau
    path, _, _ = comma_copy(folder, "welle_2021.csv")
    seen = []

    class Seen(Exception):
        pass

    def spy(inner, _store):
        seen.append((inner["survey"]["responses"], inner["survey"].get("numbers")))
        raise Seen

    monkeypatch.setattr(stage, "compute_survey", spy)
    wave = {"label": "2021", "responses": path.name, "numbers": ENGLISH}
    params = demo_params(tmp_path, folder, "muldenau", {"numbers": GERMAN, "previous_wave": wave})
    with pytest.raises(Seen):
        load_previous_wave(params, store, None, None)
    assert seen == [(str(path), ENGLISH)]


def old_parse_number(value) -> float | None:
    """kit.survey.cleaning.parse_number before issue 13 (verbatim): the baseline."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    text = str(value).strip().replace("\u2212", "-")
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def surveys(params: dict) -> list[tuple[str, str, dict]]:
    s = params["survey"]
    out = [(s["responses"], s["codebook"], s.get("column_map") or {})]
    prev = s.get("previous_wave") or {}
    if prev.get("responses"):
        out.append((prev["responses"], prev.get("codebook") or s["codebook"], prev.get("column_map") or {}))
    return out


@pytest.mark.parametrize("name", ["muldenau", "elbstadt", "elsterhain"])
def test_demo_surveys_parse_as_before(tmp_path, demo, name):
    """Every demo response file (CSV, SAV, the earlier wave) cleans to the same data, log and issues as
    when each cell is first read by the old parse_number (cells it read as numbers become numbers,
    which the cleaning takes as they are)."""
    import json

    params = demo_params(tmp_path, demo / name, name)
    districts = {str(f["properties"]["district_id"]): f["properties"]["district_name"] for f in
                 json.loads((demo / name / "districts.geojson").read_text(encoding="utf-8"))["features"]}
    for responses, codebook_path, column_map in surveys(params):
        codebook = load_codebook(codebook_path, districts)
        raw = read_responses(responses, codebook, column_map)
        now = clean_responses(raw, codebook, params["survey"]["cleaning"])
        before_raw = raw.copy()
        cells = 0
        for item in codebook.items.values():
            if item.type != "text":
                before_raw[item.id] = [v if v is None or old_parse_number(v) is None else old_parse_number(v)
                                       for v in raw[item.id]]
                # each cell alone: the number the kit reads now is the one read before (or none in both)
                for v in raw[item.id]:
                    if v is not None:
                        now_value, old_value = parse_number(v, raw.attrs.get("numbers")), old_parse_number(v)
                        assert (now_value is None and old_value is None) or now_value == old_value, (item.id, v)
                        cells += 1
        assert cells > 1000
        before_raw.attrs = {k: v for k, v in raw.attrs.items() if k != "numbers"}
        before = clean_responses(before_raw, codebook, params["survey"]["cleaning"])
        pd.testing.assert_frame_equal(now.data, before.data)
        pd.testing.assert_frame_equal(now.log, before.log)
        keys = ["respondent_id", "row", "item", "rule", "action"]
        pd.testing.assert_frame_equal(now.issues[keys], before.issues[keys])
        assert len(now.data) > 100
