"""Params: one typed model (kit.params) for commune params, the measures catalogue and the
codebook's top level; YAML without duplicate keys (kit.yamlio); input paths confined to data_dir.

Every refusal is a German ParamsError naming file, line, key path, the value and what is allowed.
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import MINIMAL_PARAMS
from kit.errors import InputError, ParamsError
from kit.params import (AGE_GROUPS, INPUT_NAMES, MARGINS, REPO_ROOT, TRIGGER_OPS, CodebookTop, Inputs, Measure,
                        Trigger, load_params, short_value)

BASE = MINIMAL_PARAMS

# what a message must never contain: pydantic's English, class names, Python reprs of errors
ENGLISH = re.compile(r"Input should|validation error|Field required|Extra inputs|pydantic|ValidationError|"
                     r"type=|Value error|Traceback", re.I)


def write(tmp_path, text, name="testort.yaml"):
    path = tmp_path / name
    path.write_text(text.replace("{data}", str(tmp_path)), encoding="utf-8")
    return path


def refused(tmp_path, text, name="testort.yaml") -> str:
    """The German message of the ParamsError that loading ``text`` raises."""
    with pytest.raises(ParamsError) as info:
        load_params(write(tmp_path, text, name))
    message = str(info.value)
    assert not ENGLISH.search(message), message
    return message


def line_of(text: str, needle: str, data: Path) -> int:
    """1-based line of the first line containing ``needle`` in the formatted params text."""
    lines = text.replace("{data}", str(data)).splitlines()
    return next(i for i, line in enumerate(lines, 1) if needle in line)


# ---------------------------------------------------------------------------
# loading and merging
# ---------------------------------------------------------------------------


def test_defaults_are_merged_and_paths_resolved(tmp_path):
    params = load_params(write(tmp_path, BASE + "privacy:\n  min_cell: 10\n"))
    assert params["privacy"]["min_cell"] == 10
    assert params["privacy"]["min_base_percent"] == 30  # from defaults
    assert params["inputs"]["pks"]["path"] == str(tmp_path / "p.csv")
    assert params["inputs"]["pmk"] is None
    assert set(params["inputs"]) == set(INPUT_NAMES)
    assert params["data_dir"] == str(tmp_path)
    assert params["params_file"] == str((tmp_path / "testort.yaml").resolve())
    assert params["survey"]["codebook"] == str(REPO_ROOT / "data_schemas" / "survey_codebook.yaml")
    assert "responses" not in params["survey"]  # no survey given: stage 2 'entfällt'


@pytest.mark.parametrize("commune", ["muldenau", "elsterhain", "elbstadt"])
def test_shipped_params_keep_their_shape(commune):
    params = load_params(REPO_ROOT / "params" / f"{commune}.yaml")
    raw = yaml.safe_load((REPO_ROOT / "params" / f"{commune}.yaml").read_text(encoding="utf-8"))
    data_dir = REPO_ROOT / raw["data_dir"]
    assert params["data_dir"] == str(data_dir)
    for name in INPUT_NAMES:
        if name in raw["inputs"]:
            assert params["inputs"][name] == {"path": str(data_dir / raw["inputs"][name])}
        else:
            assert params["inputs"][name] is None
    assert params["survey"]["responses"] == str(data_dir / raw["survey"]["responses"])
    defaults = yaml.safe_load((REPO_ROOT / "params" / "defaults.yaml").read_text(encoding="utf-8"))
    assert params["survey"]["key_indicators"] == defaults["survey"]["key_indicators"]  # dumped as written
    assert params["survey"]["weighting"] == defaults["survey"]["weighting"]


def test_constants_agree_with_the_code_that_uses_them():
    from kit.params import Evidence
    from kit.recommend.rules import EVIDENCE_LEVELS, MEASURE_KEYS, OPS, TRIGGER_KEYS
    from kit.survey.codebook import AGE_GROUPS as CODEBOOK_AGE_GROUPS
    from kit.survey.codebook import TOP_KEYS
    from kit.survey.weighting import MARGIN_COLUMNS

    assert set(MARGINS) == set(MARGIN_COLUMNS)
    assert set(TRIGGER_OPS) == set(OPS)
    assert set(Evidence.model_fields["level"].annotation.__args__) == set(EVIDENCE_LEVELS)
    assert set(Measure.model_fields) == MEASURE_KEYS and set(Trigger.model_fields) == TRIGGER_KEYS
    assert tuple(AGE_GROUPS) == tuple(CODEBOOK_AGE_GROUPS)
    assert set(CodebookTop.model_fields) == TOP_KEYS
    assert tuple(Inputs.model_fields) == INPUT_NAMES


# ---------------------------------------------------------------------------
# duplicate keys
# ---------------------------------------------------------------------------


def test_second_privacy_block_is_refused_naming_both_lines(tmp_path):
    text = BASE + "privacy:\n  min_cell: 10\nsurvey:\n  confidence: 0.9\nprivacy:\n  min_cell: 1\n"
    message = refused(tmp_path, text)
    first = line_of(text, "privacy:", tmp_path)
    second = first + 4
    assert f"Schlüssel 'privacy' steht doppelt (Zeile {first} und Zeile {second})" in message
    assert "testort.yaml" in message and "löschen" in message


def test_second_survey_block_is_refused(tmp_path):
    text = BASE + "survey:\n  responses: a.csv\nprivacy:\n  min_cell: 5\nsurvey:\n  confidence: 0.9\n"
    message = refused(tmp_path, text)
    first = line_of(text, "survey:", tmp_path)
    assert f"'survey' steht doppelt (Zeile {first} und Zeile {first + 4})" in message


def test_nested_duplicate_key_names_the_key_path(tmp_path):
    text = BASE + "survey:\n  weighting:\n    max_iter: 50\n    tolerance: 1.0e-8\n    max_iter: 5\n"
    message = refused(tmp_path, text)
    first = line_of(text, "max_iter: 50", tmp_path)
    assert f"'survey.weighting.max_iter' steht doppelt (Zeile {first} und Zeile {first + 2})" in message


def test_duplicate_key_inside_a_list_entry(tmp_path):
    text = BASE + "survey:\n  key_indicators:\n    - {id: a, label: A, item: Q01, codes: [1], item: Q02}\n"
    message = refused(tmp_path, text)
    assert "'survey.key_indicators[1].item' steht doppelt" in message


def test_duplicate_key_in_the_defaults_is_refused(tmp_path):
    defaults = tmp_path / "defaults.yaml"
    defaults.write_text((REPO_ROOT / "params" / "defaults.yaml").read_text(encoding="utf-8")
                        + "privacy:\n  min_cell: 1\n", encoding="utf-8")
    first = line_of(defaults.read_text(encoding="utf-8"), "privacy:", tmp_path)
    with pytest.raises(ParamsError, match=rf"defaults\.yaml: Schlüssel 'privacy' steht doppelt \(Zeile {first} und"):
        load_params(write(tmp_path, BASE), defaults_file=defaults)


# ---------------------------------------------------------------------------
# types and ranges
# ---------------------------------------------------------------------------


def test_wrong_type_names_file_line_key_value_and_what_is_allowed(tmp_path):
    text = BASE + "privacy:\n  min_cell: zehn\n"
    message = refused(tmp_path, text)
    line = line_of(text, "min_cell", tmp_path)
    assert message == (f"Parameterdatei {tmp_path / 'testort.yaml'}, Zeile {line}: privacy.min_cell 'zehn' "
                       "ist nicht zulässig; erlaubt: ganze Zahl ≥ 3 (z. B. 5).")


@pytest.mark.parametrize("snippet, key, value, allowed", [
    ("privacy:\n  min_cell: -3\n", "privacy.min_cell", "-3", "ganze Zahl ≥ 3"),
    ("privacy:\n  min_cell: 2\n", "privacy.min_cell", "2", "ganze Zahl ≥ 3"),
    ("privacy:\n  min_cell: 5.0\n", "privacy.min_cell", "5.0", "ganze Zahl ≥ 3"),
    ("privacy:\n  min_cell: true\n", "privacy.min_cell", "true", "ganze Zahl ≥ 3"),
    ("privacy:\n  min_cell: 10\n  min_base_percent: 8\n", "privacy.min_base_percent", "8",
     "ganze Zahl ≥ privacy.min_cell (10)"),
    ("profile:\n  confidence: 95\n", "profile.confidence", "95", "Zahl zwischen 0 und 1 (z. B. 0.95)"),
    ("survey:\n  confidence: 0\n", "survey.confidence", "0", "Zahl zwischen 0 und 1 (z. B. 0.95)"),
    ("survey:\n  confidence: 1.0\n", "survey.confidence", "1.0", "Zahl zwischen 0 und 1"),
    ("survey:\n  confidence: '0.9'\n", "survey.confidence", "'0.9'", "Zahl zwischen 0 und 1"),
    ("profile:\n  years_for_mean: 0\n", "profile.years_for_mean", "0", "ganze Zahl zwischen 1 und 10"),
    ("survey:\n  weighting:\n    trim_lower: 3.0\n    trim_upper: 0.3\n", "survey.weighting.trim_lower", "3.0",
     "Zahl zwischen 0 und 1"),
    ("survey:\n  weighting:\n    trim_lower: 1.0\n    trim_upper: 1.0\n", "survey.weighting.trim_upper", "1.0",
     "Zahl größer 1"),
    ("survey:\n  weighting:\n    trim_lower: null\n", "survey.weighting.trim_upper", "3.0",
     "beide null"),
    ("survey:\n  weighting:\n    margins: [foo]\n", "survey.weighting.margins[1]", "'foo'",
     "eine von: age_sex, district, age_group, sex"),
    ("survey:\n  weighting:\n    margins: []\n", "survey.weighting.margins", "[]", "mindestens einer"),
    ("survey:\n  weighting:\n    margins: [sex, sex]\n", "survey.weighting.margins", "['sex', 'sex']",
     "jeder Rand nur einmal"),
    ("survey:\n  weighting:\n    max_iter: 0\n", "survey.weighting.max_iter", "0", "ganze Zahl zwischen 1"),
    ("survey:\n  weighting:\n    tolerance: 0\n", "survey.weighting.tolerance", "0", "Zahl größer 0"),
    ("survey:\n  cleaning:\n    duplicates: keep\n", "survey.cleaning.duplicates", "'keep'", "eine von: drop, stop"),
    ("survey:\n  key_indicators:\n    - {id: a, label: A, item: Q01}\n", "survey.key_indicators[1]", "",
     "entweder item + codes"),
    ("survey:\n  key_indicators:\n    - {id: a, label: A, item: Q01, codes: [3], group: {sex: f}}\n",
     "survey.key_indicators[1].group.sex", "'f'", "eine von: w, m"),
    ("profile:\n  pks_reference:\n    '892000': hoch\n", "profile.pks_reference.892000", "'hoch'",
     "Häufigkeitszahl (Zahl ≥ 0)"),
])
def test_out_of_range_values_are_refused(tmp_path, snippet, key, value, allowed):
    message = refused(tmp_path, BASE + snippet)
    assert f"{key} {value}".rstrip() in message and "ist nicht zulässig" in message
    assert allowed in message.split("erlaubt: ", 1)[1]


def test_key_indicator_ids_are_unique(tmp_path):
    text = BASE + ("survey:\n  key_indicators:\n    - {id: a, label: A, item: Q01, codes: [1]}\n"
                   "    - {id: a, label: B, index: [Q21_01], above: 2.5}\n")
    message = refused(tmp_path, text)
    assert f"Zeile {line_of(text, 'label: B', tmp_path)}: survey.key_indicators[2].id 'a' ist nicht zulässig" in message
    assert "schon bei key_indicators[1]" in message


def test_several_problems_are_reported_at_once(tmp_path):
    message = refused(tmp_path, BASE + "privacy:\n  min_cell: 1\nprofile:\n  confidence: 95\n")
    assert message.startswith("Parameterdatei fehlerhaft (2 Fehler):")
    assert "privacy.min_cell 1" in message and "profile.confidence 95" in message


def test_problem_in_the_defaults_names_the_defaults_file(tmp_path):
    message = refused(tmp_path, BASE + "privacy:\n  min_cell: 40\n")
    line = line_of((REPO_ROOT / "params" / "defaults.yaml").read_text(encoding="utf-8"), "min_base_percent:", tmp_path)
    assert f"defaults.yaml, Zeile {line}: privacy.min_base_percent 30 ist nicht zulässig" in message


def test_unknown_key_is_an_error(tmp_path):
    message = refused(tmp_path, BASE + "privacy:\n  min_cel: 10\n")
    assert "Schlüssel 'privacy.min_cel' ist unbekannt; erlaubt: min_cell, min_base_percent, dominance." in message


def test_unknown_top_level_key_lists_the_allowed_keys(tmp_path):
    message = refused(tmp_path, BASE + "privcy:\n  min_cell: 10\n")
    assert "Schlüssel 'privcy' ist unbekannt" in message and "privacy" in message and "allowed_roots" in message


def test_unknown_inputs_name(tmp_path):
    message = refused(tmp_path, BASE + "  bevoelkerung: b.csv\n")
    assert "Schlüssel 'inputs.bevoelkerung' ist unbekannt" in message
    assert "erlaubt: " + ", ".join(INPUT_NAMES) in message


def test_unknown_input_option(tmp_path):
    message = refused(tmp_path, BASE + "  owi: {path: o.csv, blatt: 2}\n")
    assert "'inputs.owi.blatt' ist unbekannt; erlaubt: path, files, format, key, year, sheet" in message


def test_ags_must_be_saxon(tmp_path):
    message = refused(tmp_path, BASE.replace('"14522990"', '"09162000"'))
    assert "ags '09162000'" in message and "beginnt mit 14" in message


def test_missing_required_input(tmp_path):
    message = refused(tmp_path, BASE.replace("  pks: p.csv\n", ""))
    assert "Pflichtangabe 'inputs.pks' fehlt" in message


@pytest.mark.parametrize("snippet, key, value", [
    ("  owi: {files: [{path: owi.csv, year: 1850}]}\n", "inputs.owi.files[1].year", "1850"),
    ("  owi: {path: owi.csv, year: 2200}\n", "inputs.owi.year", "2200"),
    ("profile:\n  pks_reference:\n    '892000': {2222: 180}\n", "profile.pks_reference.892000.2222", "2222"),
])
def test_years_must_be_plausible(tmp_path, snippet, key, value):
    text = BASE + snippet if snippet.startswith("  ") else BASE + snippet
    message = refused(tmp_path, text)
    assert f"{key} {value} ist nicht zulässig; erlaubt: Jahreszahl zwischen 1990 und 2100" in message


def test_quoted_value_is_short_and_without_control_characters(tmp_path):
    evil = "x\\u001b[31m" + "A" * 200 + "\\u0007"
    message = refused(tmp_path, BASE + f'privacy:\n  min_cell: "{evil}"\n')
    value = message.split("privacy.min_cell ", 1)[1].split(" ist nicht zulässig")[0]
    assert len(value) <= 60 and value.endswith("…")
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in message)
    assert short_value("a\nb\x00c") == "'a bc'"


# ---------------------------------------------------------------------------
# properties (hypothesis)
# ---------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=-10**6, max_value=10**6))
def test_min_cell_below_three_is_refused_and_any_other_accepted(tmp_path, n):
    path = write(tmp_path, BASE + f"privacy:\n  min_cell: {n}\n  min_base_percent: {max(n, 3)}\n")
    if n < 3:
        with pytest.raises(ParamsError, match=rf"privacy\.min_cell {n} ist nicht zulässig; erlaubt: ganze Zahl ≥ 3"):
            load_params(path)
    else:
        assert load_params(path)["privacy"]["min_cell"] == n


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-1000, 1000)),
       st.sampled_from(["profile", "survey"]))
def test_confidence_is_refused_outside_zero_one(tmp_path, value, section):
    path = write(tmp_path, BASE + f"{section}:\n  confidence: {value!r}\n")
    if 0 < value < 1:
        assert math.isclose(load_params(path)[section]["confidence"], float(repr(value)) if isinstance(value, float)
                            else value)
    else:
        with pytest.raises(ParamsError, match=rf"{section}\.confidence .* erlaubt: Zahl zwischen 0 und 1"):
            load_params(path)


# ---------------------------------------------------------------------------
# input paths stay inside data_dir
# ---------------------------------------------------------------------------


def test_dotdot_escape_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    text = BASE.replace("data_dir: {data}", f"data_dir: {data}").replace("pks: p.csv", "pks: ../../../../etc/passwd")
    message = refused(tmp_path, text)
    assert "inputs.pks.path '../../../../etc/passwd' ist nicht zulässig (liegt außerhalb der erlaubten Ordner)" in message
    assert f"data_dir ({data})" in message and "root:" not in message


def test_absolute_path_outside_is_refused(tmp_path):
    outside = tmp_path / "elsewhere" / "pks.csv"
    outside.parent.mkdir()
    outside.write_text("geheim;1\n", encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    text = BASE.replace("data_dir: {data}", f"data_dir: {data}").replace("pks: p.csv", f"pks: {outside}")
    message = refused(tmp_path, text)
    assert f"inputs.pks.path '{outside}'" in message and "außerhalb" in message
    assert "geheim" not in message  # never the file's content


def test_survey_files_are_confined_too(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    text = BASE.replace("data_dir: {data}", f"data_dir: {data}") + \
        "survey:\n  responses: antworten.csv\n  sample: ../stichprobe.csv\n"
    message = refused(tmp_path, text)
    assert "survey.sample '../stichprobe.csv' ist nicht zulässig" in message
    assert "survey.responses" not in message


def test_symlink_out_of_data_dir_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    secret = tmp_path / "secret.csv"
    secret.write_text("streng geheim\n", encoding="utf-8")
    (data / "pks.csv").symlink_to(secret)
    (data / "sub").symlink_to(tmp_path, target_is_directory=True)
    text = BASE.replace("data_dir: {data}", f"data_dir: {data}").replace("pks: p.csv", "pks: pks.csv") + \
        "  owi: sub/secret.csv\n  places: ok/../places.csv\n"
    message = refused(tmp_path, text)
    assert "inputs.pks.path 'pks.csv' ist nicht zulässig (führt über eine Verknüpfung (Symlink)" in message
    assert "inputs.owi.path 'sub/secret.csv' ist nicht zulässig" in message
    assert "places" not in message  # '..' that stays inside is fine
    assert "streng geheim" not in message


def test_symlink_inside_data_dir_is_fine(tmp_path):
    data = tmp_path / "data"
    (data / "2023").mkdir(parents=True)
    (data / "2023" / "pks.csv").write_text("x\n", encoding="utf-8")
    (data / "pks.csv").symlink_to(data / "2023" / "pks.csv")
    text = BASE.replace("data_dir: {data}", f"data_dir: {data}").replace("pks: p.csv", "pks: pks.csv")
    assert load_params(write(tmp_path, text))["inputs"]["pks"]["path"] == str(data / "pks.csv")


def test_allowed_roots_permit_an_outside_folder(tmp_path):
    shared = tmp_path / "shared" / "pks"
    shared.mkdir(parents=True)
    data = tmp_path / "data"
    data.mkdir()
    files = f"{{format: bka, key: 14612, files: [{{path: {shared / 'a.csv'}, year: 2021}}, {{path: b.csv, year: 2022}}]}}"
    text = (BASE.replace("data_dir: {data}", f"data_dir: {data}\nallowed_roots: [{shared}]")
            .replace("pks: p.csv", f"pks: {files}"))
    params = load_params(write(tmp_path, text))
    assert [f["path"] for f in params["inputs"]["pks"]["files"]] == [str(shared / "a.csv"), str(data / "b.csv")]
    assert params["inputs"]["pks"]["path"] == str(shared / "a.csv")
    assert params["inputs"]["pks"]["files"][0]["year"] == 2021
    # without the setting the same file is refused; another folder stays refused
    message = refused(tmp_path, text.replace(f"allowed_roots: [{shared}]", f"allowed_roots: [{tmp_path / 'x'}]"))
    assert "inputs.pks.files[1].path" in message and "außerhalb" in message


def test_allowed_roots_relative_to_the_kit_folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    text = (BASE.replace("data_dir: {data}", f"data_dir: {data}\nallowed_roots: [data_schemas]")
            .replace("pks: p.csv", f"pks: {REPO_ROOT / 'data_schemas' / 'pks.yaml'}"))
    assert load_params(write(tmp_path, text))["allowed_roots"] == [str(REPO_ROOT / "data_schemas")]


def test_codebook_and_catalogue_stay_in_the_kit_or_data_folders(tmp_path):
    message = refused(tmp_path, BASE + "survey:\n  codebook: /etc/hosts\n"
                      "recommendations:\n  catalogue: ../../katalog.yaml\n")
    assert "survey.codebook '/etc/hosts' ist nicht zulässig" in message
    assert "recommendations.catalogue '../../katalog.yaml' ist nicht zulässig" in message


# ---------------------------------------------------------------------------
# measures catalogue and codebook
# ---------------------------------------------------------------------------

CATALOGUE = """measures:
  - id: a
    title: A
    description: d
    topic: Verkehr
    evidence: {level: "wirksam (Grüne Liste Stufe 3)", source: s}
    target_groups: [alle]
    lead: Ordnungsamt
    funding: {kommpraev: false, reason: r}
    cost_class: gering
    duration: 3 Monate
    first_steps: [los]
    time_frame: kurzfristig
    success_indicator: {text: t}
    triggers:
      - {indicator: survey.problem_speeding, op: ">=", threshold: 0.3}
  - id: b
    title: B
    description: d
    topic: Verkehr
    evidence: {level: "Good Practice (nicht evaluiert)", source: s}
    target_groups: [alle]
    lead: Ordnungsamt
    funding: {kommpraev: false, reason: r}
    cost_class: gering
    duration: 3 Monate
    first_steps: [los]
    time_frame: kurzfristig
    success_indicator: {text: t}
    triggers:
      - {indicator: profile.share_65plus, op: ">", threshold: 0.2, basis: interval}
"""


def catalogue_refused(tmp_path, text) -> str:
    from kit.recommend.rules import load_catalogue

    path = tmp_path / "m.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_catalogue(path)
    assert not ENGLISH.search(str(info.value)), str(info.value)
    return str(info.value)


def test_catalogue_loads_in_its_old_shape(tmp_path):
    from kit.recommend.rules import load_catalogue

    path = tmp_path / "m.yaml"
    path.write_text(CATALOGUE, encoding="utf-8")
    assert load_catalogue(path) == yaml.safe_load(CATALOGUE)["measures"]


def test_catalogue_duplicate_measure_id(tmp_path):
    message = catalogue_refused(tmp_path, CATALOGUE.replace("id: b", "id: a"))
    assert "m.yaml, Zeile 17, Maßnahme Nr. 2 (a): id 'a' ist nicht zulässig" in message
    assert "kommt doppelt vor, schon bei Maßnahme Nr. 1" in message


def test_catalogue_duplicate_yaml_key(tmp_path):
    message = catalogue_refused(tmp_path, CATALOGUE.replace("    topic: Verkehr\n    evidence: {level: \"wirksam",
                                                            "    topic: Verkehr\n    topic: X\n    evidence: {level: \"wirksam"))
    assert "Maßnahmenkatalog" in message and "'measures[1].topic' steht doppelt (Zeile 5 und Zeile 6)" in message


def test_catalogue_bad_trigger_op_and_values(tmp_path):
    message = catalogue_refused(tmp_path, CATALOGUE.replace('op: ">"', 'op: "=>"'))
    assert "Maßnahme Nr. 2 (b): triggers[1].op '=>' ist nicht zulässig; erlaubt: eine von: >, >=, <, <=" in message
    message = catalogue_refused(tmp_path, CATALOGUE.replace("threshold: 0.3", "threshold: hoch")
                                .replace('level: "Good Practice (nicht evaluiert)"', "level: 4"))
    assert "Maßnahme Nr. 1 (a): triggers[1].threshold 'hoch' ist nicht zulässig; erlaubt: Zahl" in message
    assert ("Maßnahme Nr. 2 (b): evidence.level 4 ist nicht zulässig; erlaubt: eine von: wirksam (Grüne Liste Stufe 3), "
            "wahrscheinlich wirksam (Grüne Liste Stufe 2)") in message
    message = catalogue_refused(tmp_path, CATALOGUE.replace("basis: interval", "basis: intervall"))
    assert "triggers[1].basis 'intervall'" in message and "estimate, interval" in message
    message = catalogue_refused(tmp_path, CATALOGUE.replace("    topic: Verkehr\n", "    thema: Verkehr\n", 1))
    assert "Schlüssel 'thema' ist unbekannt" in message and "Pflichtangabe 'topic' fehlt" in message


def test_codebook_duplicate_key_names_both_lines(tmp_path):
    from kit.survey.codebook import load_codebook

    path = tmp_path / "cb.yaml"
    path.write_text("name: t\nvalue_sets:\n  jn: {1: ja, 2: nein}\nitems:\n  - id: A1\n    question: A\n"
                    "    type: single\n    values: jn\n    type: multi\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_codebook(path)
    (p,) = info.value.problems
    assert p.row == 9 and p.column == "items[1].type" and "Zeile 7" in p.expected
    assert "Zeile 9" in str(info.value) and "Zeile 7" in str(info.value)


def test_codebook_top_level_is_typed(tmp_path):
    from kit.survey.codebook import load_codebook

    path = tmp_path / "cb.yaml"
    path.write_text("name: t\nmissing_codes: -9\nitems:\n  - {id: A1, question: A, type: numeric}\n",
                    encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_codebook(path)
    (p,) = info.value.problems
    assert p.column == "missing_codes" and p.row == 2 and p.value == "-9" and "Liste von Zahlen" in p.expected


# ---------------------------------------------------------------------------
# from python -m kit run: the commune is marked failed, the others go on
# ---------------------------------------------------------------------------


def test_batch_marks_a_bad_params_file_failed_and_runs_the_others(tmp_path):
    from kit.demo import generate_demo
    from kit.runner import run_batch

    generate_demo(tmp_path / "data", communes=["muldenau"])
    raw = yaml.safe_load((REPO_ROOT / "params" / "muldenau.yaml").read_text(encoding="utf-8"))
    raw["data_dir"] = str(tmp_path / "data" / "muldenau")
    del raw["survey"]  # no survey: profile and recommendations only (fast)
    good = tmp_path / "params" / "muldenau.yaml"
    good.parent.mkdir()
    good.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    bad_text = good.read_text(encoding="utf-8").replace("commune_id: muldenau", "commune_id: kaputt") + \
        "privacy:\n  min_cell: 5\nprivacy:\n  min_cell: 1\n"
    bad = tmp_path / "params" / "kaputt.yaml"
    bad.write_text(bad_text, encoding="utf-8")
    n = len(bad_text.splitlines())

    statuses = {s.commune_id: s for s in run_batch([bad, good], tmp_path / "output", jobs=1)}
    expected = f"Schlüssel 'privacy' steht doppelt (Zeile {n - 3} und Zeile {n - 1})"
    failed = statuses["kaputt"]
    assert not failed.ok and expected in failed.message
    assert all(s.status != "ok" for s in failed.stages)
    status_file = json.loads((tmp_path / "output" / "kaputt" / "status.json").read_text(encoding="utf-8"))
    assert expected in status_file["message"]
    assert statuses["muldenau"].stages[0].status == "ok"
    page = html.unescape((tmp_path / "output" / "index.html").read_text(encoding="utf-8"))
    assert expected in page and "ParamsError" not in page and "YamlFileError" not in page


@pytest.mark.parametrize("snippet, key, value, allowed", [
    ("survey:\n  weighting:\n    margin_tolerance: 0\n", "survey.weighting.margin_tolerance", "0",
     "Anteil größer 0 und höchstens 0.2"),
    ("survey:\n  weighting:\n    margin_tolerance: 0.5\n", "survey.weighting.margin_tolerance", "0.5",
     "Anteil größer 0 und höchstens 0.2"),
    ("survey:\n  weighting:\n    margin_tolerance: -0.01\n", "survey.weighting.margin_tolerance", "-0.01",
     "Anteil größer 0 und höchstens 0.2"),
    ("survey:\n  weighting:\n    margin_tolerance: eng\n", "survey.weighting.margin_tolerance", "'eng'",
     "Anteil größer 0 und höchstens 0.2"),
    ("survey:\n  weighting:\n    on_margin_miss: stop\n", "survey.weighting.on_margin_miss", "'stop'",
     "eine von: warn, error"),
])
def test_margin_miss_settings_are_checked(tmp_path, snippet, key, value, allowed):
    message = refused(tmp_path, BASE + snippet)
    assert f"{key} {value}" in message and "ist nicht zulässig" in message
    assert allowed in message.split("erlaubt: ", 1)[1]


def test_margin_miss_settings_default_and_override(tmp_path):
    params = load_params(write(tmp_path, BASE))
    assert params["survey"]["weighting"]["margin_tolerance"] == 0.01
    assert params["survey"]["weighting"]["on_margin_miss"] == "warn"
    params = load_params(write(tmp_path, BASE + "survey:\n  weighting:\n    margin_tolerance: 0.2\n"
                                              "    on_margin_miss: error\n"))
    assert params["survey"]["weighting"]["margin_tolerance"] == 0.2
    assert params["survey"]["weighting"]["on_margin_miss"] == "error"


def test_index_marks_a_commune_with_refused_params_failed_with_the_message(tmp_path):
    import html as html_mod

    from kit.runner import run_commune, write_index

    bad = tmp_path / "kaputt.yaml"
    bad.write_text(BASE + "privacy:\n  min_zelle: 3\n", encoding="utf-8")
    status = run_commune(bad, tmp_path / "output", log=lambda m: None)
    write_index(tmp_path / "output", [status])
    page = html_mod.unescape((tmp_path / "output" / "index.html").read_text(encoding="utf-8"))
    assert "fehlgeschlagen – Parameter fehlerhaft: Parameterdatei" in page and "min_zelle" in page
    assert "übersprungen" not in page and page.count(">fehlgeschlagen</span>") == 3
