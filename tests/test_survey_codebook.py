"""Survey codebook: loading, lookups and errors for malformed codebooks."""

from pathlib import Path

import pytest

from kit.errors import InputError
from kit.survey.codebook import load_codebook

FIX = Path(__file__).parent / "fixtures" / "survey"
REPO = Path(__file__).resolve().parents[1]
DISTRICTS = {"01": "Altstadt", "02": "Neustadt", "03": "Südvorstadt"}


@pytest.fixture(scope="module")
def cb():
    return load_codebook(FIX / "codebook.yaml", DISTRICTS)


def test_questions_in_questionnaire_order(cb):
    assert cb.questions() == ["F01", "F02", "F03", "F04", "F05", "F06", "F07", "F08", "F09", "F10"]
    assert [it.id for it in cb.question_items("F02")] == ["F02_SQ001", "F02_SQ002", "F02_SQ003"]
    assert cb.question_type("F03") == "multi"
    assert cb.question_text("F02").startswith("In Ihrer Wohngegend")


def test_labels_from_value_sets_inline_maps_and_multi(cb):
    assert cb.labels("sicher_nacht") == {1: "sehr sicher", 2: "eher sicher", 3: "eher unsicher",
                                         4: "sehr unsicher"}
    assert cb.labels("anzeige") == {1: "ja", 2: "nein"}
    assert cb.labels("F03_2") == {0: "nicht genannt", 1: "genannt"}
    assert cb.labels("vertrauen") == {}
    assert cb.items["vertrauen"].min == 0 and cb.items["vertrauen"].max == 10
    assert cb.items["sicher_nacht"].direction == "high_is_negative"


def test_districts_are_expanded_with_string_codes(cb):
    assert cb.labels("stadtteil") == DISTRICTS
    no_list = load_codebook(FIX / "codebook.yaml")
    assert no_list.labels("stadtteil") == {}
    assert no_list.items["stadtteil"].is_district


def test_blocks_roles_and_rules(cb):
    assert cb.block_of("F03") == "Schutz"
    assert cb.block_of("F03_2") == "Schutz"
    assert cb.blocks()[0] == "Sicherheitsgefühl"
    assert cb.roles == {"age": "alter", "sex": "geschlecht", "district": "stadtteil"}
    assert cb.sex_codes == {"m": [1], "w": [2]}
    assert cb.missing_codes == [-9, -99]
    assert cb.missing_labels == ["k.A.", "weiß nicht"]
    (rule,) = cb.consistency
    assert (rule.if_item, rule.codes, rule.then_missing) == ("opfer", (2,), ("anzeige",))
    assert cb.items["anmerkung"].optional


def test_unknown_lookups_raise(cb):
    with pytest.raises(KeyError):
        cb.question_items("F99")
    with pytest.raises(KeyError):
        cb.labels("nope")


BASE = """\
name: t
missing_codes: [-9]
value_sets:
  janein: {1: ja, 2: nein}
items:
  - id: A1
    question: A
    type: single
    values: janein
"""


def load_text(tmp_path, text, name="cb.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_codebook(path)


def problems_of(tmp_path, text):
    with pytest.raises(InputError) as info:
        load_text(tmp_path, text)
    return info.value.problems


def test_minimal_codebook_loads(tmp_path):
    cb = load_text(tmp_path, BASE)
    assert list(cb.items) == ["A1"]


def test_unknown_type_names_item_and_line(tmp_path):
    text = BASE + "  - id: B7\n    type: likert\n"
    (p,) = problems_of(tmp_path, text)
    assert p.column == "B7.type" and p.value == "likert"
    assert p.row == 10  # the line of "- id: B7"
    assert "cb.yaml" in p.file


def test_unknown_value_set_names_item(tmp_path):
    (p,) = problems_of(tmp_path, BASE + "  - id: B1\n    type: single\n    values: sicher4\n")
    assert p.column == "B1.values" and p.value == "sicher4"


def test_single_without_values(tmp_path):
    (p,) = problems_of(tmp_path, BASE + "  - id: B1\n    type: scale\n")
    assert p.column == "B1.values"


def test_non_integer_code(tmp_path):
    (p,) = problems_of(tmp_path, BASE + "  - id: B1\n    type: single\n    values: {a: x, 2: y}\n")
    assert p.column == "B1.values" and p.value == "a"


def test_duplicate_ids_and_mixed_question_types(tmp_path):
    text = BASE + "  - id: A1\n    type: numeric\n  - id: A2\n    question: A\n    type: numeric\n"
    found = {(p.column, str(p.value)) for p in problems_of(tmp_path, text)}
    assert ("A1.id", "A1") in found
    assert ("A2.type", "numeric") in found


def test_min_above_max(tmp_path):
    (p,) = problems_of(tmp_path, BASE + "  - id: N1\n    type: numeric\n    min: 10\n    max: 5\n")
    assert p.column == "N1.min"


def test_roles_and_rules_must_name_items(tmp_path):
    text = BASE + (
        "roles: {age: ALTER}\n"
        "consistency:\n"
        "  - id: r1\n    if: {item: A1, in: [1]}\n    then_missing: [ZZ]\n"
        "  - id: r2\n    if: {item: A1, in: [7]}\n    then_missing: [A1]\n"
    )
    found = {(p.column, str(p.value)) for p in problems_of(tmp_path, text)}
    assert ("roles.age", "ALTER") in found
    assert ("consistency.r1.then_missing", "ZZ") in found
    assert any(col == "consistency.r2.if" for col, _ in found)


def test_sex_role_needs_recognisable_labels(tmp_path):
    text = BASE + "  - id: S\n    type: single\n    values: {1: a, 2: b}\nroles:\n  sex: S\n"
    (p,) = problems_of(tmp_path, text)
    assert p.column.startswith("roles.sex")
    ok = load_text(tmp_path, text + "  sex_codes: {m: [1], w: [2]}\n", name="ok.yaml")
    assert ok.sex_codes == {"m": [1], "w": [2]}


def test_typo_in_top_level_key_is_reported(tmp_path):
    (p,) = problems_of(tmp_path, BASE.replace("missing_codes", "missing_code"))
    assert p.column == "missing_code"


def test_yaml_syntax_error_names_line(tmp_path):
    (p,) = problems_of(tmp_path, "name: t\nitems:\n  - id: [unclosed\n")
    assert p.row is not None and p.expected == "gültiges YAML"


@pytest.mark.skipif(not (REPO / "data_schemas" / "survey_codebook.yaml").exists(),
                    reason="data_schemas/survey_codebook.yaml noch nicht vorhanden")
def test_real_codebook_loads():
    cb = load_codebook(REPO / "data_schemas" / "survey_codebook.yaml", DISTRICTS)
    assert {"age", "sex", "district"} <= set(cb.roles)
    assert cb.items[cb.roles["district"]].is_district
    assert cb.labels(cb.roles["district"]) == DISTRICTS
    assert set(cb.sex_codes) == {"m", "w"}
    for qid in cb.questions():
        assert cb.question_items(qid)
