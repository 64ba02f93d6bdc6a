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


# --- the typed model (kit.params.CodebookTop, Roles, CodebookItem): typos are refused --------


def test_unknown_role_is_refused_naming_the_role_and_the_roles_there_are(tmp_path):
    (p,) = problems_of(tmp_path, BASE + "roles: {nightsafety: A1}\n")
    assert (p.column, p.value, p.row) == ("roles.nightsafety", "A1", 10)
    assert p.expected == "bekannte Rolle (age, sex, district, night_safety) oder sex_codes"
    assert "cb.yaml" in p.file


def test_role_naming_a_missing_item_is_refused_with_the_items_there_are(tmp_path):
    (p,) = problems_of(tmp_path, BASE + "  - id: A2\n    type: numeric\nroles:\n  night_safety: Q05\n")
    assert (p.column, p.value, p.row) == ("roles.night_safety", "Q05", 13)
    assert p.expected == "id eines Items im Codebuch (vorhanden: A1, A2)"
    many = BASE + "".join(f"  - id: Q{n:02d}\n    type: numeric\n" for n in range(1, 30)) + "roles: {age: Q005}\n"
    (p,) = problems_of(tmp_path, many)
    assert p.expected == ("id eines Items im Codebuch (vorhanden: A1, Q01, Q02, Q03, Q04, Q05, Q06, Q07, Q08, "
                          "Q09, …, Q29; 30 Items); gemeint: Q05?")


def test_item_with_an_unknown_key_is_refused_naming_item_key_and_allowed_keys(tmp_path):
    (p,) = problems_of(tmp_path, BASE + "  - id: B7\n    tpye: single\n    type: numeric\n")
    assert (p.column, p.value, p.row) == ("B7.tpye", "single", 10)
    assert p.expected.startswith("bekannter Schlüssel (id, type, question, block, question_text, text, label, "
                                 "values, direction, min, max, optional")
    message = str(InputError([p]))
    assert "Spalte 'B7.tpye': Wert 'single' – erwartet: bekannter Schlüssel (id, type," in message


def test_item_values_of_the_wrong_kind_are_refused(tmp_path):
    found = {(p.column, p.value, p.expected) for p in problems_of(
        tmp_path, BASE + "  - id: B8\n    type: numeric\n    optional: ja\n    direction: up\n")}
    assert ("B8.optional", "ja", "true oder false") in found
    assert ("B8.direction", "up", "eine von: high_is_negative, high_is_positive") in found


def test_bad_codebook_fails_its_commune_with_the_message_and_the_others_finish(tmp_path, monkeypatch, capsys):
    """python -m kit run (kit.runner.run_batch): the commune whose codebook has a misspelt role
    fails with the German message, the other commune of the batch finishes. The notebooks are
    replaced by a stand-in whose survey stage loads the codebook as kit.survey.stage does."""
    import html

    import yaml

    from kit import runner
    from kit.params import PARAMS_DIR, load_params

    text = (REPO / "data_schemas" / "survey_codebook.yaml").read_text(encoding="utf-8")
    assert "  night_safety: Q05 " in text
    bad_codebook = tmp_path / "codebook_bad.yaml"
    bad_codebook.write_text(text.replace("  night_safety: Q05 ", "  nightsafety: Q05 "), encoding="utf-8")
    files = []
    for name in ("muldenau", "kaputt"):
        raw = yaml.safe_load((PARAMS_DIR / "muldenau.yaml").read_text(encoding="utf-8"))
        raw["commune_id"] = name
        if name == "kaputt":
            raw["survey"]["codebook"], raw["allowed_roots"] = str(bad_codebook), [str(tmp_path)]
            raw["name"] = "Kaputt"
        files.append(tmp_path / "params" / f"{name}.yaml")
        files[-1].parent.mkdir(exist_ok=True)
        files[-1].write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")

    def execute_stage(notebook, executed, parameters, log_file=None):
        if Path(notebook).stem == "2_survey":
            load_codebook(load_params(parameters["params_file"])["survey"]["codebook"])
        executed.parent.mkdir(parents=True, exist_ok=True)
        executed.write_text("{}", encoding="utf-8")

    monkeypatch.setattr(runner, "execute_stage", execute_stage)
    monkeypatch.setattr(runner, "render_html", lambda executed, target, title=None: target.write_text("<p></p>"))
    monkeypatch.setattr(runner, "make_lagebericht", lambda *a, **k: None)
    monkeypatch.setattr(runner, "publication_check", lambda *a, **k: None)
    monkeypatch.setattr("kit.demo.ensure_demo_data", lambda params: None)
    statuses = {s.commune_id: s for s in runner.run_batch(files, tmp_path / "output", jobs=1)}

    assert [st.status for st in statuses["muldenau"].stages] == ["ok", "ok", "ok"]
    kaputt = statuses["kaputt"]
    assert not kaputt.ok and [st.status for st in kaputt.stages] == ["ok", "fehlgeschlagen", "übersprungen"]
    expected = (f"Datei {bad_codebook}, Zeile 32, Spalte 'roles.nightsafety': Wert 'Q05' – erwartet: "
                "bekannte Rolle (age, sex, district, night_safety) oder sex_codes")
    assert expected in kaputt.stages[1].message
    assert expected in capsys.readouterr().out
    assert expected in html.unescape((tmp_path / "output" / "index.html").read_text(encoding="utf-8"))


def test_every_real_limesurvey_draft_loads(tmp_path):
    """The drafts kit.survey.lss writes from the real .lss files load (limesurvey_codes and review
    are known item keys)."""
    from helpers import REALDATA, REALDATA_MISSING

    from kit.survey.codebook import codebook_from_dict
    from kit.survey.lss import codebook_from_lss, codebook_yaml

    files = sorted(REALDATA.glob("**/*.lss"))
    if not files:
        pytest.skip(REALDATA_MISSING)
    for path in files:
        draft = codebook_from_lss(path)
        assert codebook_from_dict(draft, source=str(path)).items
        written = tmp_path / f"{path.stem}.yaml"
        written.write_text(codebook_yaml(draft), encoding="utf-8")
        assert list(load_codebook(written).items) == [it["id"] for it in draft["items"]]


def test_the_demo_codebooks_load(tmp_path):
    from kit.demo import generate_demo

    generate_demo(tmp_path, communes=["elsterhain"])
    found = sorted(tmp_path.glob("**/*codebook*.yaml"))
    assert found  # elsterhain has an earlier wave with its own codebook
    for path in [REPO / "data_schemas" / "survey_codebook.yaml", *found]:
        cb = load_codebook(path, DISTRICTS)
        assert cb.role_item("night_safety") is not None and cb.role_item("night_safety").id == "Q05"


def test_codebook_constants_agree_with_the_typed_model():
    from kit.params import DIRECTIONS as P_DIRECTIONS
    from kit.params import ITEM_TYPES as P_ITEM_TYPES
    from kit.params import ROLE_NAMES, CodebookItem, Roles
    from kit.survey.codebook import DIRECTIONS, EXTRA_ITEM_KEYS, ITEM_KEYS, ITEM_TYPES, KNOWN_ROLES

    assert tuple(KNOWN_ROLES) == ROLE_NAMES and set(Roles.model_fields) == {*KNOWN_ROLES, "sex_codes"}
    assert set(CodebookItem.model_fields) == ITEM_KEYS | set(EXTRA_ITEM_KEYS)
    assert (ITEM_TYPES, DIRECTIONS) == (P_ITEM_TYPES, P_DIRECTIONS)
