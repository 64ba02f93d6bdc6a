"""LimeSurvey structure export (.lss) -> codebook draft (kit.survey.lss).

The synthetic surveys are written here as XML (as LimeSurvey exports them);
the expected codebook entries are written out by hand. The real exports in
/work/shared/realdata/limesurvey are counted independently with xml.etree.
"""

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kit.errors import InputError
from kit.survey.cleaning import clean_responses
from kit.survey.codebook import codebook_from_dict, load_codebook
from kit.survey.importing import read_responses
from kit.cli import main
from kit.survey.lss import (
    clean_text,
    codebook_from_lss,
    convert_lss,
    import_reads_limesurvey_codes,
    integer_codes,
    write_codebook_yaml,
)

REAL_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "limesurvey"


# ---------------------------------------------------------------------------
# synthetic exports
# ---------------------------------------------------------------------------


def section(name, fields, rows):
    """One .lss section: <name><fields>...</fields><rows><row>...</row></rows></name>."""
    out = [f" <{name}>", "  <fields>"]
    out += [f"   <fieldname>{f}</fieldname>" for f in fields]
    out += ["  </fields>", "  <rows>"]
    for row in rows:
        out.append("   <row>")
        for f in fields:
            value = row.get(f, "")
            out.append(f"    <{f}><![CDATA[{value}]]></{f}>" if value != "" else f"    <{f}/>")
        out.append("   </row>")
    out += ["  </rows>", f" </{name}>"]
    return "\n".join(out)


Q_FIELDS = ["qid", "parent_qid", "sid", "gid", "type", "title", "preg", "other", "mandatory",
            "question_order", "scale_id", "same_default", "relevance", "modulename"]


def q(qid, gid, qtype, title, order, other="N", relevance="1", parent=0, scale=0):
    return {"qid": qid, "parent_qid": parent, "sid": 555111, "gid": gid, "type": qtype, "title": title,
            "other": other, "mandatory": "N", "question_order": order, "scale_id": scale,
            "same_default": 0, "relevance": relevance}


QUESTIONS = [
    # the group "Statistik" comes first in the file but last in the questionnaire
    q(108, 30, "N", "alter", 1),
    q(109, 30, "G", "geschlecht", 2),
    q(110, 30, "!", "stadtteil", 3),
    q(111, 30, "T", "anmerkung", 4),
    q(112, 30, "E", "F12", 5),
    q(113, 30, "Z", "F13", 6),
    q(114, 30, "K", "F14", 7),
    q(102, 10, "F", "F02", 2),
    q(101, 10, "L", "F01", 1),
    q(103, 20, "M", "F03", 1, other="Y"),
    q(104, 20, "Y", "F04", 2),
    q(105, 20, "L", "F05", 3, other="Y", relevance='((F04.NAOK == "Y"))'),
    q(106, 20, "X", "F06info", 4),
    q(107, 20, "*", "F07eq", 5),
]
SUBQUESTIONS = [
    q(203, 10, "T", "SQ003", 3, parent=102),  # order in the file != questionnaire order
    q(201, 10, "T", "SQ001", 1, parent=102),
    q(202, 10, "T", "SQ002", 2, parent=102),
    q(211, 20, "T", "SQ01", 1, parent=103),
    q(212, 20, "T", "SQ02", 2, parent=103),
    q(221, 30, "T", "SQ001", 1, parent=112),
    q(222, 30, "T", "SQ002", 2, parent=112),
    q(231, 30, "T", "SQ001", 1, parent=114),
    q(232, 30, "T", "SQ002", 2, parent=114),
]
QUESTION_TEXTS = {
    101: "<p>Wie gern leben Sie in&nbsp;Ihrer <strong>Stadt</strong>?</p>",
    102: "<p>Wie groß sind\n  folgende <em>Probleme</em> in Ihrer Wohngegend?</p>",
    103: "Was tun Sie, um sich zu schützen?",
    104: "Wurden Sie in den letzten 12 Monaten Opfer einer Straftat?",
    105: "Haben Sie die Tat angezeigt?",
    106: "<p>Vielen Dank! Nun folgen Fragen zu Ihrer Person.</p>",
    107: "{F04}",
    108: "Wie alt sind Sie?",
    109: "Ihr Geschlecht:",
    110: "In welchem <b>Stadtteil</b> wohnen Sie?",
    111: "Möchten Sie uns noch etwas mitteilen?",
    112: "Hat sich in den letzten Jahren Folgendes verändert?",
    113: "Bitte zeichnen Sie Ihre Wohngegend.",
    114: "Wie viele Personen leben in Ihrem Haushalt?",
    201: "Müll <br/>und Dreck",
    202: "Graffiti",
    203: "Hundekot",
    211: "Licht brennen lassen",
    212: "Zusätzliches Türschloss",
    221: "Kriminalität",
    222: "Polizeipräsenz",
    231: "Kinder",
    232: "Erwachsene",
}
# qid -> [(aid, code, German text)], in sort order
ANSWERS = {
    101: [(1, "A1", "sehr gern"), (2, "A2", "eher gern"), (3, "A3", "eher ungern"), (4, "A4", "sehr ungern")],
    102: [(10, "1", "kein Problem"), (11, "2", "ein geringes Problem"), (12, "3", "ein ziemliches Problem"),
          (13, "4", "ein großes Problem"), (14, "9", "weiß nicht")],
    105: [(20, "1", "ja"), (21, "2", "nein"), (22, "A9", "weiß nicht mehr")],
    110: [(30, "01", "Altstadt"), (31, "02", "Neustadt"), (32, "03", "Südvorstadt")],
}


def new_format_lss() -> str:
    """A LimeSurvey 5/6 export (DBVersion 6xx): texts in *_l10ns tables, German and English."""
    groups = [{"gid": 30, "sid": 555111, "group_order": 3}, {"gid": 10, "sid": 555111, "group_order": 1},
              {"gid": 20, "sid": 555111, "group_order": 2}]
    group_l10ns = [
        {"id": 1, "gid": 10, "group_name": "<p>Lebensqualität</p>", "language": "de"},
        {"id": 2, "gid": 20, "group_name": "Sicherheit &amp; Ordnung", "language": "de"},
        {"id": 3, "gid": 30, "group_name": " Angaben  zur Person ", "language": "de"},
        {"id": 4, "gid": 10, "group_name": "Quality of life", "language": "en"},
    ]
    question_l10ns = [{"id": n, "qid": qid, "question": text, "help": "", "language": "de"}
                      for n, (qid, text) in enumerate(QUESTION_TEXTS.items(), start=1)]
    question_l10ns.append({"id": 999, "qid": 101, "question": "How much do you like living in your town?",
                           "help": "", "language": "en"})
    answers, answer_l10ns = [], []
    for qid, rows in ANSWERS.items():
        for order, (aid, code, text) in enumerate(rows):
            answers.append({"aid": aid, "qid": qid, "code": code, "sortorder": order,
                            "assessment_value": 0, "scale_id": 0})
            answer_l10ns.append({"id": aid, "aid": aid, "answer": text, "language": "de"})
    answers.reverse()  # the file order is not the sort order
    attributes = [
        {"qid": 108, "attribute": "min_num_value_n", "value": "16", "language": ""},
        {"qid": 108, "attribute": "max_num_value_n", "value": "110", "language": ""},
        {"qid": 105, "attribute": "other_replace_text", "value": "Anderes, und zwar:", "language": "de"},
    ]
    surveys = [{"sid": 555111, "language": "de", "additional_languages": "en", "anonymized": "Y"}]
    settings = [
        {"surveyls_survey_id": 555111, "surveyls_language": "de",
         "surveyls_title": "Bürgerbefragung <b>Musterstadt</b> 2025"},
        {"surveyls_survey_id": 555111, "surveyls_language": "en", "surveyls_title": "Citizen survey"},
    ]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>', "<document>",
        " <LimeSurveyDocType>Survey</LimeSurveyDocType>", " <DBVersion>641</DBVersion>",
        " <languages>\n  <language>de</language>\n  <language>en</language>\n </languages>",
        section("answers", ["aid", "qid", "code", "sortorder", "assessment_value", "scale_id"], answers),
        section("answer_l10ns", ["id", "aid", "answer", "language"], answer_l10ns),
        section("groups", ["gid", "sid", "group_order"], groups),
        section("group_l10ns", ["id", "gid", "group_name", "language"], group_l10ns),
        section("questions", Q_FIELDS, QUESTIONS),
        section("subquestions", Q_FIELDS, SUBQUESTIONS),
        section("question_l10ns", ["id", "qid", "question", "help", "language"], question_l10ns),
        section("question_attributes", ["qid", "attribute", "value", "language"], attributes),
        section("surveys", ["sid", "language", "additional_languages", "anonymized"], surveys),
        section("surveys_languagesettings", ["surveyls_survey_id", "surveyls_language", "surveyls_title"],
                settings),
        "</document>",
    ]
    return "\n".join(parts) + "\n"


def old_format_lss() -> str:
    """A LimeSurvey 3 export (DBVersion 366): texts and language in the rows, one row per language."""
    old_q_fields = ["qid", "parent_qid", "sid", "gid", "type", "title", "question", "help", "other",
                    "mandatory", "question_order", "language", "scale_id", "relevance"]

    def oq(qid, gid, qtype, title, order, texts, parent=0):
        return [{"qid": qid, "parent_qid": parent, "sid": 777, "gid": gid, "type": qtype, "title": title,
                 "question": text, "other": "N", "mandatory": "N", "question_order": order,
                 "language": lang, "scale_id": 0, "relevance": "1"} for lang, text in texts.items()]

    groups = [{"gid": 5, "sid": 777, "group_name": "Sicherheit", "group_order": 0, "language": "de"},
              {"gid": 5, "sid": 777, "group_name": "Safety", "group_order": 0, "language": "en"}]
    questions = (oq(50, 5, "L", "S1", 1, {"de": "Wie sicher fühlen Sie sich nachts?",
                                          "en": "How safe do you feel at night?"})
                 + oq(51, 5, "A", "S2", 2, {"de": "Bewerten Sie:", "en": "Rate:"}))
    subquestions = (oq(60, 5, "T", "a", 1, {"de": "die <i>Beleuchtung</i>", "en": "the lighting"}, parent=51)
                    + oq(61, 5, "T", "b", 2, {"de": "die Sauberkeit", "en": "cleanliness"}, parent=51))
    answers = []
    for order, (code, de, en) in enumerate([("A1", "sehr sicher", "very safe"), ("A2", "eher sicher", "rather safe"),
                                            ("A3", "unsicher", "unsafe")]):
        answers += [{"qid": 50, "code": code, "answer": de, "sortorder": order, "language": "de", "scale_id": 0},
                    {"qid": 50, "code": code, "answer": en, "sortorder": order, "language": "en", "scale_id": 0}]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>', "<document>",
        " <LimeSurveyDocType>Survey</LimeSurveyDocType>", " <DBVersion>366</DBVersion>",
        " <languages>\n  <language>de</language>\n  <language>en</language>\n </languages>",
        section("answers", ["qid", "code", "answer", "sortorder", "language", "scale_id"], answers),
        section("groups", ["gid", "sid", "group_name", "group_order", "language"], groups),
        section("questions", old_q_fields, questions),
        section("subquestions", old_q_fields, subquestions),
        section("surveys", ["sid", "language", "additional_languages"],
                [{"sid": 777, "language": "de", "additional_languages": "en"}]),
        section("surveys_languagesettings", ["surveyls_survey_id", "surveyls_language", "surveyls_title"],
                [{"surveyls_survey_id": 777, "surveyls_language": "de", "surveyls_title": "Alte Befragung"},
                 {"surveyls_survey_id": 777, "surveyls_language": "en", "surveyls_title": "Old survey"}]),
        "</document>",
    ]
    return "\n".join(parts) + "\n"


@pytest.fixture(scope="module")
def lss_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("lss") / "limesurvey_survey_555111.lss"
    path.write_text(new_format_lss(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def draft(lss_file):
    return codebook_from_lss(lss_file)


def items_by_id(data):
    return {it["id"]: it for it in data["items"]}


# ---------------------------------------------------------------------------
# the synthetic survey, item by item
# ---------------------------------------------------------------------------

STEM_F02 = "Wie groß sind folgende Probleme in Ihrer Wohngegend?"
STEM_F03 = "Was tun Sie, um sich zu schützen?"
STEM_F12 = "Hat sich in den letzten Jahren Folgendes verändert?"
STEM_F14 = "Wie viele Personen leben in Ihrem Haushalt?"
EXPECTED_ITEMS = [
    {"id": "F01", "block": "Lebensqualität", "question": "F01", "text": "Wie gern leben Sie in Ihrer Stadt?",
     "type": "single", "values": {1: "sehr gern", 2: "eher gern", 3: "eher ungern", 4: "sehr ungern"},
     "limesurvey_codes": {1: "A1", 2: "A2", 3: "A3", 4: "A4"}},
    {"id": "F02_SQ001", "block": "Lebensqualität", "question": "F02", "question_text": STEM_F02,
     "text": "Müll und Dreck", "type": "scale", "values": "F02"},
    {"id": "F02_SQ002", "block": "Lebensqualität", "question": "F02", "question_text": STEM_F02,
     "text": "Graffiti", "type": "scale", "values": "F02"},
    {"id": "F02_SQ003", "block": "Lebensqualität", "question": "F02", "question_text": STEM_F02,
     "text": "Hundekot", "type": "scale", "values": "F02"},
    {"id": "F03_SQ01", "block": "Sicherheit & Ordnung", "question": "F03", "question_text": STEM_F03,
     "text": "Licht brennen lassen", "type": "multi"},
    {"id": "F03_SQ02", "block": "Sicherheit & Ordnung", "question": "F03", "question_text": STEM_F03,
     "text": "Zusätzliches Türschloss", "type": "multi"},
    {"id": "F03_other", "block": "Sicherheit & Ordnung", "question": "F03_other", "question_text": STEM_F03,
     "text": STEM_F03 + " – Sonstiges (Freitext)", "type": "text", "optional": True},
    {"id": "F04", "block": "Sicherheit & Ordnung", "question": "F04",
     "text": "Wurden Sie in den letzten 12 Monaten Opfer einer Straftat?", "type": "single",
     "values": "ja_nein", "limesurvey_codes": {1: "Y", 2: "N"}},
    {"id": "F05", "block": "Sicherheit & Ordnung", "question": "F05", "text": "Haben Sie die Tat angezeigt?",
     "type": "single", "values": {1: "ja", 2: "nein", 3: "weiß nicht mehr", 4: "Sonstiges"},
     "limesurvey_codes": {1: "1", 2: "2", 3: "A9", 4: "-oth-"}},
    {"id": "F05_other", "block": "Sicherheit & Ordnung", "question": "F05_other",
     "question_text": "Haben Sie die Tat angezeigt?", "text": "Haben Sie die Tat angezeigt? – Sonstiges (Freitext)",
     "type": "text", "optional": True},
    {"id": "alter", "block": "Angaben zur Person", "question": "alter", "text": "Wie alt sind Sie?",
     "type": "numeric", "min": 16, "max": 110},
    {"id": "geschlecht", "block": "Angaben zur Person", "question": "geschlecht", "text": "Ihr Geschlecht:",
     "type": "single", "values": "geschlecht", "limesurvey_codes": {1: "F", 2: "M"}},
    {"id": "stadtteil", "block": "Angaben zur Person", "question": "stadtteil",
     "text": "In welchem Stadtteil wohnen Sie?", "type": "single",
     "values": {1: "Altstadt", 2: "Neustadt", 3: "Südvorstadt"}},  # "01" is read as 1: no record
    {"id": "anmerkung", "block": "Angaben zur Person", "question": "anmerkung",
     "text": "Möchten Sie uns noch etwas mitteilen?", "type": "text", "optional": True},
    {"id": "F12_SQ001", "block": "Angaben zur Person", "question": "F12", "question_text": STEM_F12,
     "text": "Kriminalität", "type": "scale", "values": "zunahme_gleich_abnahme",
     "limesurvey_codes": {1: "I", 2: "S", 3: "D"}},
    {"id": "F12_SQ002", "block": "Angaben zur Person", "question": "F12", "question_text": STEM_F12,
     "text": "Polizeipräsenz", "type": "scale", "values": "zunahme_gleich_abnahme",
     "limesurvey_codes": {1: "I", 2: "S", 3: "D"}},
    {"id": "F13", "block": "Angaben zur Person", "question": "F13", "text": "Bitte zeichnen Sie Ihre Wohngegend.",
     "type": "text"},  # + review (checked separately)
    {"id": "F14_SQ001", "block": "Angaben zur Person", "question": "F14", "question_text": STEM_F14,
     "text": "Kinder", "type": "numeric"},
    {"id": "F14_SQ002", "block": "Angaben zur Person", "question": "F14", "question_text": STEM_F14,
     "text": "Erwachsene", "type": "numeric"},
]


def test_items_in_questionnaire_order(draft):
    assert [it["id"] for it in draft["items"]] == [e["id"] for e in EXPECTED_ITEMS]


@pytest.mark.parametrize("expected", EXPECTED_ITEMS, ids=[e["id"] for e in EXPECTED_ITEMS])
def test_item_matches_hand_written_entry(draft, expected):
    item = dict(items_by_id(draft)[expected["id"]])
    review = item.pop("review", None)
    assert item == expected
    if expected["id"] == "F13":
        assert "unbekannt" in review and "'Z'" in review
    elif expected["id"] == "F03_other":
        assert "Sonstiges" in review


def test_value_sets_and_top_level(draft):
    assert draft["value_sets"] == {
        "F02": {1: "kein Problem", 2: "ein geringes Problem", 3: "ein ziemliches Problem",
                4: "ein großes Problem", 9: "weiß nicht"},
        "ja_nein": {1: "Ja", 2: "Nein"},
        "geschlecht": {1: "weiblich", 2: "männlich"},
        "zunahme_gleich_abnahme": {1: "Zunahme", 2: "Gleich", 3: "Abnahme"},
    }
    assert draft["name"] == "limesurvey_555111"
    assert draft["title"] == "Bürgerbefragung Musterstadt 2025"
    assert draft["language"] == "de"
    assert draft["roles"] == {} and draft["missing_codes"] == []
    assert "direction" not in str([it.keys() for it in draft["items"]])
    # the skipped questions (text display, equation) are named in the notes, not dropped silently
    assert "F06info: übersprungen" in draft["notes"] and "F07eq: übersprungen" in draft["notes"]


def test_review_lists(lss_file):
    conv = convert_lss(lss_file)
    assert [code for code, _ in conv.skipped] == ["F06info", "F07eq"]
    assert conv.n_questions == 14
    # ordered answer sets, without yes/no, sex and the district list
    assert conv.direction == ["F01", "F02", "F05", "F12"]
    assert conv.role_hints == {"age": ["alter"], "sex": ["geschlecht"], "district": ["stadtteil"]}
    assert conv.filters == [("F05", '((F04.NAOK == "Y"))')]
    notes = dict(conv.review)
    assert "A1=1" in notes["F01"]  # renumbered codes are reported
    assert "9 (weiß nicht)" in notes["F02"]  # candidate missing code
    assert "Anderes, und zwar:" in " ".join(t for w, t in conv.review if w == "F05")


def test_draft_loads_with_codebook_from_dict(draft):
    cb = codebook_from_dict(draft, source="entwurf")
    assert cb.questions() == ["F01", "F02", "F03", "F03_other", "F04", "F05", "F05_other", "alter",
                              "geschlecht", "stadtteil", "anmerkung", "F12", "F13", "F14"]
    assert cb.question_type("F02") == "scale" and cb.question_text("F02") == STEM_F02
    assert cb.labels("F02_SQ003")[9] == "weiß nicht"
    assert cb.labels("F03_SQ01") == {0: "nicht genannt", 1: "genannt"}
    assert cb.item("alter").min == 16 and cb.item("alter").max == 110
    assert cb.item("F05").extra["limesurvey_codes"] == {1: "1", 2: "2", 3: "A9", 4: "-oth-"}
    assert cb.item("anmerkung").optional and not cb.item("F13").optional
    assert cb.blocks() == ["Lebensqualität", "Sicherheit & Ordnung", "Angaben zur Person"]


def test_analyst_completes_roles_and_direction(draft):
    data = {**draft, "roles": {"age": "alter", "sex": "geschlecht", "district": "stadtteil"}}
    data["items"] = [dict(it, values="@districts") if it["id"] == "stadtteil" else dict(it)
                     for it in draft["items"]]
    for it in data["items"]:
        if it["question"] == "F02":
            it["direction"] = "high_is_negative"
    cb = codebook_from_dict(data)
    assert cb.sex_codes == {"w": [1], "m": [2]}
    assert cb.item("F02_SQ001").direction == "high_is_negative"


def test_english_texts_with_language_en(lss_file):
    data = codebook_from_lss(lss_file, language="en")
    item = items_by_id(data)["F01"]
    assert item["text"] == "How much do you like living in your town?"
    assert item["block"] == "Quality of life"
    # no English text: falls back to the base language (German), not to an empty text
    assert items_by_id(data)["F04"]["text"] == "Wurden Sie in den letzten 12 Monaten Opfer einer Straftat?"
    assert data["title"] == "Citizen survey" and data["language"] == "en"


def test_missing_language_falls_back_to_base_language(lss_file):
    conv = convert_lss(lss_file, language="fr")
    assert conv.language == "de"
    assert items_by_id(conv.codebook)["F01"]["text"] == "Wie gern leben Sie in Ihrer Stadt?"
    assert any("Sprache 'fr' nicht in der Datei" in text for _, text in conv.review)


def test_old_dbversion_texts_in_rows(tmp_path):
    path = tmp_path / "alt.lss"
    path.write_text(old_format_lss(), encoding="utf-8")
    de = codebook_from_lss(path)
    assert de["items"] == [
        {"id": "S1", "block": "Sicherheit", "question": "S1", "text": "Wie sicher fühlen Sie sich nachts?",
         "type": "single", "values": {1: "sehr sicher", 2: "eher sicher", 3: "unsicher"},
         "limesurvey_codes": {1: "A1", 2: "A2", 3: "A3"}},
        {"id": "S2_a", "block": "Sicherheit", "question": "S2", "question_text": "Bewerten Sie:",
         "text": "die Beleuchtung", "type": "scale", "values": "fuenf_punkte"},
        {"id": "S2_b", "block": "Sicherheit", "question": "S2", "question_text": "Bewerten Sie:",
         "text": "die Sauberkeit", "type": "scale", "values": "fuenf_punkte"},
    ]
    assert de["value_sets"] == {"fuenf_punkte": {1: "1", 2: "2", 3: "3", 4: "4", 5: "5"}}
    assert de["title"] == "Alte Befragung"
    en = codebook_from_lss(path, language="en")
    assert [it["text"] for it in en["items"]] == ["How safe do you feel at night?", "the lighting", "cleanliness"]
    assert en["items"][0]["values"] == {1: "very safe", 2: "rather safe", 3: "unsafe"}
    codebook_from_dict(de)
    codebook_from_dict(en)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def test_clean_text():
    assert clean_text("<p>Wie&nbsp;gern <strong>leben</strong>\n\n Sie?</p>") == "Wie gern leben Sie?"
    assert clean_text("Zeile 1<br/>Zeile 2<br>Zeile&#160;3") == "Zeile 1 Zeile 2 Zeile 3"
    assert clean_text("<p><strong>First question</p>") == "First question"  # unclosed tag
    assert clean_text("<script>alert(1)</script>Text &amp; mehr") == "Text & mehr"
    assert clean_text("Alter < 18 Jahre") == "Alter < 18 Jahre"
    assert clean_text(None) == "" and clean_text("  ") == ""


def test_integer_codes():
    assert integer_codes(["1", "2", "3"]) == {"1": 1, "2": 2, "3": 3}
    assert integer_codes(["AO01", "AO02"]) == {"AO01": 1, "AO02": 2}
    # integer codes keep their meaning; the others follow the largest one
    assert integer_codes(["1", "2", "A9", "-oth-"]) == {"1": 1, "2": 2, "A9": 3, "-oth-": 4}
    assert integer_codes(["B", "5", "A"]) == {"B": 6, "5": 5, "A": 7}
    assert integer_codes(["1", "01"]) == {"1": 1, "01": 2}  # ambiguous: renumbered in order


# ---------------------------------------------------------------------------
# YAML file and CLI
# ---------------------------------------------------------------------------


def test_yaml_round_trip(draft, tmp_path):
    path = write_codebook_yaml(draft, tmp_path / "sub" / "codebuch.yaml")
    text = path.read_text(encoding="utf-8")
    assert "Südvorstadt" in text and "\\u" not in text  # German text kept as UTF-8
    assert "  # ---- Lebensqualität" in text
    assert yaml.safe_load(text) == draft
    cb = load_codebook(path)
    assert list(cb.items) == [e["id"] for e in EXPECTED_ITEMS]
    assert not list(tmp_path.glob("sub/.*.tmp"))  # atomic write leaves no temporary file


def test_cli_writes_codebook_and_german_summary(lss_file, tmp_path, capsys):
    out = tmp_path / "codebuch.yaml"
    assert main(["lss-codebuch", str(lss_file), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert load_codebook(out).name == "limesurvey_555111"
    # items per type, counted by hand from EXPECTED_ITEMS
    assert re.search(r"single\s+5 Items \(5 Fragen\)", printed)
    assert re.search(r"scale\s+5 Items \(2 Fragen\)", printed)
    assert re.search(r"multi\s+2 Items \(1 Frage\)", printed)
    assert re.search(r"numeric\s+3 Items \(2 Fragen\)", printed)
    assert re.search(r"text\s+4 Items \(4 Fragen\)", printed)
    assert "14 Fragen in der Datei, 2 übersprungen, 19 Items" in printed
    assert "direction (Richtung) setzen, wo die Antworten geordnet sind: F01, F02, F05, F12" in printed
    assert "6 Items mit LimeSurvey-Codes" in printed  # F01, F04, F05, geschlecht, F12_SQ001, F12_SQ002
    assert "Geschlecht: geschlecht" in printed and "Alter: alter" in printed
    assert "F13: unbekannter LimeSurvey-Fragetyp 'Z'" in printed
    assert "F07eq: Gleichung" in printed
    assert "Filterfragen" in printed and "F05" in printed


def test_cli_error_is_german_and_names_the_file(tmp_path, capsys):
    bad = tmp_path / "antworten.csv"
    bad.write_text("id;F01\n1;2\n", encoding="utf-8")
    assert main(["lss-codebuch", str(bad), "-o", str(tmp_path / "x.yaml")]) == 1
    err = capsys.readouterr().err
    assert "antworten.csv" in err and "LimeSurvey-Strukturexport" in err and ".lss" in err
    assert not (tmp_path / "x.yaml").exists()


# ---------------------------------------------------------------------------
# files that are not a LimeSurvey survey export
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("content, expected_value", [
    ("id;F01\n1;2\n", "kein gültiges XML"),
    ('<?xml version="1.0"?><html><body>Hallo</body></html>', "Wurzelelement <html>"),
    ("<document><LimeSurveyDocType>Group</LimeSurveyDocType></document>", "Fragengruppe (.lsg)"),
    ("<document><LimeSurveyDocType>Survey</LimeSurveyDocType></document>", "keine Fragen"),
])
def test_not_an_lss_gives_german_error(tmp_path, content, expected_value):
    path = tmp_path / "fragebogen.lss"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as exc:
        codebook_from_lss(path)
    message = str(exc.value)
    assert "fragebogen.lss" in message and expected_value in message
    assert "erwartet: LimeSurvey-Strukturexport" in message


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="fehlt.lss.*vorhandene Datei"):
        codebook_from_lss(tmp_path / "fehlt.lss")


def test_unsupported_types_become_items_with_review(tmp_path):
    """Ranking, number array, dual scale, date: items that match the export columns, each flagged."""
    questions = [q(1, 1, "R", "R1", 1), q(2, 1, ":", "N1", 2), q(3, 1, "1", "D1", 3), q(4, 1, "D", "DAT", 4),
                 q(5, 1, "F", "LEER", 5)]
    subs = [q(10, 1, "T", "x1", 1, parent=2), q(11, 1, "T", "y1", 1, parent=2, scale=1),
            q(12, 1, "T", "y2", 2, parent=2, scale=1), q(13, 1, "T", "s1", 1, parent=3)]
    answers = [{"aid": 1, "qid": 1, "code": "a", "sortorder": 0, "scale_id": 0},
               {"aid": 2, "qid": 1, "code": "b", "sortorder": 1, "scale_id": 0},
               {"aid": 3, "qid": 3, "code": "1", "sortorder": 0, "scale_id": 0},
               {"aid": 4, "qid": 3, "code": "2", "sortorder": 1, "scale_id": 0},
               {"aid": 5, "qid": 3, "code": "k", "sortorder": 0, "scale_id": 1}]
    texts = [{"id": i, "aid": a["aid"], "answer": f"Antwort {a['code']}", "language": "de"}
             for i, a in enumerate(answers)]
    xml = "\n".join([
        "<document>", "<LimeSurveyDocType>Survey</LimeSurveyDocType>",
        section("groups", ["gid", "group_order"], [{"gid": 1, "group_order": 1}]),
        section("questions", Q_FIELDS, questions), section("subquestions", Q_FIELDS, subs),
        section("answers", ["aid", "qid", "code", "sortorder", "scale_id"], answers),
        section("answer_l10ns", ["id", "aid", "answer", "language"], texts),
        section("surveys", ["sid", "language"], [{"sid": 1, "language": "de"}]),
        "</document>"])
    path = tmp_path / "typen.lss"
    path.write_text(xml, encoding="utf-8")
    data = codebook_from_lss(path)
    got = {it["id"]: (it["type"], it["question"]) for it in data["items"]}
    assert got == {
        "R1_1": ("single", "R1"), "R1_2": ("single", "R1"),
        "N1_x1_y1": ("numeric", "N1"), "N1_x1_y2": ("numeric", "N1"),
        "D1_s1_1": ("scale", "D1_1"), "D1_s1_2": ("scale", "D1_2"),
        "DAT": ("text", "DAT"), "LEER": ("text", "LEER"),
    }
    assert items_by_id(data)["R1_1"]["values"] == "R1"
    assert data["value_sets"]["R1"] == {1: "Antwort a", 2: "Antwort b"}
    assert data["value_sets"]["D1_2"] == {1: "Antwort k"}
    notes = data["notes"]
    for code in ("R1", "N1", "D1", "DAT", "LEER"):
        assert f"\n{code}: " in notes
    codebook_from_dict(data)


# ---------------------------------------------------------------------------
# end to end: a LimeSurvey response export imports with the generated codebook
# ---------------------------------------------------------------------------

HEADINGS = ["id", "submitdate", "lastpage", "startlanguage", "seed", "F01", "F02[SQ001]", "F02[SQ002]",
            "F02[SQ003]", "F03[SQ01]", "F03[SQ02]", "F03[other]", "F04", "F05", "F05[other]", "alter",
            "geschlecht", "stadtteil", "anmerkung", "F12[SQ001]", "F12[SQ002]", "F13", "F14[SQ001]",
            "F14[SQ002]", "interviewtime"]
# Three respondents as LimeSurvey writes them with "full answers" (German):
# multiple choice Ja/Nein, gender Weiblich/Männlich, -oth- as "Sonstiges".
FULL_ANSWERS = [
    ["1", "2025-03-01 10:00:00", "4", "de", "11", "eher gern", "kein Problem", "weiß nicht", "ein großes Problem",
     "Ja", "Nein", "", "Ja", "Sonstiges", "Polizei nicht erreichbar", "34", "Weiblich", "Neustadt",
     "Mehr Licht", "Zunahme", "Gleich", "", "1", "2", "300"],
    ["2", "2025-03-01 11:00:00", "4", "de", "12", "sehr ungern", "ein geringes Problem", "ein ziemliches Problem",
     "kein Problem", "Nein", "Nein", "Pfefferspray", "Nein", "", "", "71", "Männlich", "Südvorstadt", "",
     "Abnahme", "Abnahme", "", "0", "1", "250"],
    ["3", "2025-03-02 09:30:00", "4", "de", "13", "sehr gern", "kein Problem", "kein Problem", "kein Problem",
     "Ja", "Ja", "", "Ja", "weiß nicht mehr", "", "18", "Weiblich", "Altstadt", "", "Gleich", "Zunahme", "",
     "2", "2", "199"],
]
# The same respondents as LimeSurvey answer codes.
CODE_ANSWERS = [
    ["1", "2025-03-01 10:00:00", "4", "de", "11", "A2", "1", "9", "4", "Y", "", "", "Y", "-oth-",
     "Polizei nicht erreichbar", "34", "F", "02", "Mehr Licht", "I", "S", "", "1", "2", "300"],
    ["2", "2025-03-01 11:00:00", "4", "de", "12", "A4", "2", "3", "1", "", "", "Pfefferspray", "N", "", "",
     "71", "M", "03", "", "D", "D", "", "0", "1", "250"],
    ["3", "2025-03-02 09:30:00", "4", "de", "13", "A1", "1", "1", "1", "Y", "Y", "", "Y", "A9", "", "18", "F",
     "01", "", "S", "I", "", "2", "2", "199"],
]
# Expected codebook codes, worked out by hand from the answer lists above (NaN = not answered).
EXPECTED_CODES = pd.DataFrame({
    "F01": [2, 4, 1], "F02_SQ001": [1, 2, 1], "F02_SQ002": [9, 3, 1], "F02_SQ003": [4, 1, 1],
    "F03_SQ01": [1, 0, 1], "F03_SQ02": [0, 0, 1], "F04": [1, 2, 1], "F05": [4, np.nan, 3],
    "alter": [34, 71, 18], "geschlecht": [1, 2, 1], "stadtteil": [2, 3, 1],
    "F12_SQ001": [1, 3, 2], "F12_SQ002": [2, 3, 1], "F14_SQ001": [1, 0, 2], "F14_SQ002": [2, 1, 2],
}, index=pd.Index(["1", "2", "3"], name="id")).astype(float)


def write_csv(path, rows):
    lines = [",".join(f'"{h}"' for h in HEADINGS)]
    lines += [",".join(f'"{v}"' for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_full_answer_export_imports_with_generated_codebook(draft, tmp_path):
    cb = codebook_from_dict(draft)
    raw = read_responses(write_csv(tmp_path / "antworten.csv", FULL_ANSWERS), cb)
    assert list(raw.columns) == ["id"] + list(cb.items)
    assert set(raw.attrs["ignored_columns"]) == {"submitdate", "lastpage", "startlanguage", "seed",
                                                 "interviewtime"}
    clean = clean_responses(raw, cb, {})
    data = clean.data
    pd.testing.assert_frame_equal(data[EXPECTED_CODES.columns], EXPECTED_CODES, check_index_type=False)
    assert data["F05_other"].tolist()[0] == "Polizei nicht erreichbar"
    assert data["F03_other"].tolist()[1] == "Pfefferspray"
    assert clean.issues.empty  # every answer text was recognised


def recode_limesurvey(raw, cb):
    """What the importer would need to do with a code export: LimeSurvey code -> codebook code,
    taken from the items' ``limesurvey_codes`` (written here for the check, not part of the kit)."""
    out = raw.copy()
    for item in cb.items.values():
        ls = item.extra.get("limesurvey_codes")
        if ls:
            back = {str(v): str(k) for k, v in ls.items()}
            out[item.id] = [back.get(v, v) if isinstance(v, str) else v for v in out[item.id]]
    return out


def test_code_export_with_recorded_limesurvey_codes(draft, tmp_path):
    cb = codebook_from_dict(draft)
    raw = read_responses(write_csv(tmp_path / "codes.csv", CODE_ANSWERS), cb)
    # A code export leaves unticked boxes empty: respondent 2 ticked only "Sonstiges" (a free
    # text, no 0/1 column), so F03 counts as not answered for them (the full-answer export
    # writes "Nein" and gives 0).
    expected = EXPECTED_CODES.copy()
    expected.loc["2", ["F03_SQ01", "F03_SQ02"]] = np.nan
    direct = clean_responses(raw, cb, {})
    # the importer maps the recorded LimeSurvey codes (A1, Y, -oth-, F, I ...) itself
    assert import_reads_limesurvey_codes()
    pd.testing.assert_frame_equal(direct.data[expected.columns], expected, check_index_type=False)
    assert direct.issues.empty
    # the recorded codes translate every answer code
    clean = clean_responses(recode_limesurvey(raw, cb), cb, {})
    pd.testing.assert_frame_equal(clean.data[expected.columns], expected, check_index_type=False)
    assert clean.issues.empty


def test_equation_column_must_be_removed_before_import(draft, tmp_path):
    """Equations are skipped; a response file that still has their column is refused, naming it."""
    cb = codebook_from_dict(draft)
    path = tmp_path / "mit_gleichung.csv"
    df = pd.read_csv(write_csv(tmp_path / "a.csv", FULL_ANSWERS), dtype=str, keep_default_na=False)
    df["F07eq"] = "Y"
    df.to_csv(path, index=False)
    with pytest.raises(InputError, match="F07eq"):
        read_responses(path, cb)


# ---------------------------------------------------------------------------
# the real LimeSurvey exports
# ---------------------------------------------------------------------------

REAL_FILES = sorted(REAL_DIR.glob("*.lss")) if REAL_DIR.is_dir() else []


def strip_tags(text):
    """Independent of kit.survey.lss: regex tag removal, entity decoding, whitespace."""
    import html

    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]*>", " ", text or ""))).strip()


def independent_count(path):
    """Items expected per type and per id, counted from the XML with ElementTree alone."""
    root = ET.parse(path).getroot()

    def rows(name):
        return [{c.tag: (c.text or "") for c in row} for row in root.findall(f"{name}/rows/row")]

    parents = [r for r in rows("questions") if r["parent_qid"] == "0"]
    subs = rows("subquestions") + [r for r in rows("questions") if r["parent_qid"] != "0"]
    texts = {r["qid"]: r["question"] for r in rows("question_l10ns")}
    texts.update({r["qid"]: r["question"] for r in rows("questions") + rows("subquestions") if "question" in r})
    per_type = {"single": 0, "scale": 0, "multi": 0, "numeric": 0, "text": 0}
    expected_text = {}
    for p in parents:
        kids = [s for s in subs if s["parent_qid"] == p["qid"]]
        t, title = p["type"], p["title"]
        if t in "FHABCE":
            per_type["scale"] += len(kids)
            expected_text.update({f"{title}_{s['title']}": strip_tags(texts[s["qid"]]) for s in kids})
        elif t in "MP":
            per_type["multi"] += len(kids)
            expected_text.update({f"{title}_{s['title']}": strip_tags(texts[s["qid"]]) for s in kids})
            per_type["text"] += p["other"] == "Y"
        elif t in "L!O5YG":
            per_type["single"] += 1
            per_type["text"] += (t in "L!" and p["other"] == "Y") + (t == "O")  # other / comment
            expected_text[title] = strip_tags(texts[p["qid"]])
        elif t in "NK":
            per_type["numeric"] += len(kids) if t == "K" else 1
        elif t in ("X", "*"):
            continue
        elif t == "|":
            per_type["text"] += 2  # the upload and its file count
            expected_text[title] = strip_tags(texts[p["qid"]])
        else:
            per_type["text"] += len(kids) if t == "Q" else 1
            expected_text[title] = strip_tags(texts[p["qid"]])
    return len(parents), len(subs), per_type, expected_text


@pytest.mark.skipif(not REAL_FILES, reason="realdata/limesurvey fehlt")
@pytest.mark.parametrize("path", REAL_FILES, ids=[p.name for p in REAL_FILES])
def test_real_limesurvey_exports(path, tmp_path):
    n_parents, n_subs, per_type, expected_text = independent_count(path)
    conv = convert_lss(path)
    data = conv.codebook
    assert conv.n_questions == n_parents
    got = {t: sum(it["type"] == t for it in data["items"]) for t in per_type}
    assert got == per_type
    by_id = items_by_id(data)
    for item_id, text in expected_text.items():
        assert by_id[item_id]["text"] == text
    sub_items = [it for it in data["items"] if it.get("question_text")]
    assert len([it for it in sub_items if it["type"] in ("scale", "multi")]) <= n_subs
    # the exports are English only: texts in English, noted for the analyst
    assert data["language"] == "en"
    assert any("Sprache 'de' nicht in der Datei" in text for _, text in conv.review)
    cb = codebook_from_dict(data, source=path.name)
    written = write_codebook_yaml(data, tmp_path / "codebuch.yaml")
    assert list(load_codebook(written).items) == list(cb.items)


@pytest.mark.skipif(not (REAL_DIR / "answers.lss").exists(), reason="realdata/limesurvey fehlt")
def test_real_answers_lss_by_hand():
    """answers.lss, read by eye: Q01 multiple choice (3 options), Q02 array with codes AO01..AO05."""
    data = codebook_from_lss(REAL_DIR / "answers.lss")
    assert [it["id"] for it in data["items"]] == ["Q01_SQ001", "Q01_SQ002", "Q01_SQ003", "Q02_SQ001",
                                                   "Q02_SQ002", "Q02_SQ003", "Q02_SQ004", "Q02_SQ005"]
    assert data["value_sets"]["Q02"] == {1: "Too much", 2: "More than I like", 3: "Just Right",
                                         4: "Less than I like", 5: "Too little"}
    q2 = items_by_id(data)["Q02_SQ004"]
    assert q2["text"] == "Mouthfeel" and q2["question_text"] == "This is the second question"
    assert q2["limesurvey_codes"] == {1: "AO01", 2: "AO02", 3: "AO03", 4: "AO04", 5: "AO05"}
    assert items_by_id(data)["Q01_SQ002"]["text"] == "Second option"
    assert data["title"] == "Survey with Question Answers"
