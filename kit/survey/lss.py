"""Draft a survey codebook from a LimeSurvey survey structure export (``.lss``).

Communes design their questionnaire in LimeSurvey. The structure export
(``.lss``: XML ``<document><LimeSurveyDocType>Survey</LimeSurveyDocType>``
with the sections ``groups``, ``questions``, ``subquestions``, ``answers``,
``surveys``, ``surveys_languagesettings`` and, from LimeSurvey 4 on,
``group_l10ns``, ``question_l10ns``, ``answer_l10ns``; older exports keep the
texts in the rows themselves, one row per language) is turned into a dict in
the codebook YAML structure (``data_schemas/README.md``), so the analyst only
checks and completes it instead of typing it.

Item ids are the column names of LimeSurvey's response exports with the
sub-question separator ``_``: a question ``Q05`` gives the item ``Q05``, its
sub-question ``SQ001`` the item ``Q05_SQ001`` (CSV heading ``Q05[SQ001]``,
which :func:`kit.survey.importing.read_responses` already maps to
``Q05_SQ001``; SPSS variable ``Q05_SQ001``). Other/comment fields become
``Q05_other`` / ``Q05_comment`` (heading ``Q05[other]`` ...).

Type mapping (LimeSurvey question type letter -> codebook type):

- ``L ! O 5 Y G`` -> ``single``; ``F H A B C E`` -> ``scale`` (one item per
  sub-question, sharing one value set); ``M P`` -> ``multi`` (one item per
  sub-question); ``N K`` -> ``numeric``; ``S T U Q`` -> ``text``;
  ``X`` (text display) and ``*`` (equation) are skipped.
- Known but not analysis-ready types get items that match their export
  columns and a review note: ``R`` ranking (one single item per rank),
  ``:`` / ``;`` number/text arrays, ``1`` dual-scale array (two batteries),
  ``D`` date, ``|`` file upload, ``I`` language switch. Any other type letter
  becomes a text item with a review note; nothing is dropped silently.

Codes: the codebook needs integer codes. Answer codes that are integers
("1", "2", ...) are kept. Others ("A1", "AO01", "-oth-") get the next free
integers after the largest integer code, in LimeSurvey's order, so a
numeric LimeSurvey code never changes its meaning. The fixed answer sets
follow LimeSurvey's own SPSS/R export (Y=1/N=2, F(weiblich)=1/M=2,
Yes/No/Uncertain = 1/2/3, Increase/Same/Decrease = 1/2/3). Whenever an item's
codes differ from LimeSurvey's, the item carries
``limesurvey_codes: {code: LimeSurvey code}``. A response export with
*answer texts* or an SPSS export imports unchanged; a CSV export with
non-numeric *answer codes* needs these codes mapped when reading (see
README, "LimeSurvey-Struktur (.lss) -> Codebuch-Entwurf").

Left to the analyst (listed by the CLI summary and in ``notes``):
``direction`` of ordered scales, ``roles`` (age, sex, district),
``consistency`` rules for filter questions, ``missing_codes`` (e.g. a code
for "weiß nicht"). Items with a remark carry ``review: <German text>``.
"""

from __future__ import annotations

import re
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml

from kit.errors import InputError, Problem, missing_file
from kit.results import atomic_write_text
from kit.survey.cleaning import DERIVED
from kit.survey.codebook import Item
from kit.survey.importing import ID_NAME, label_lookup, normalise_text

WHAT = "LimeSurvey-Strukturexport (.lss)"
EXPECTED_LSS = ("LimeSurvey-Strukturexport einer Umfrage (.lss): XML mit "
                "<document><LimeSurveyDocType>Survey</LimeSurveyDocType>")

SINGLE_LIST_TYPES = {"L", "!", "O"}
ARRAY_ANSWER_TYPES = {"F", "H"}
MULTI_TYPES = {"M", "P"}
TEXT_TYPES = {"S", "T", "U"}
SKIPPED_TYPES = {
    "X": "Textanzeige (Typ X), keine Antwortspalte",
    "*": "Gleichung (Typ *): die Spalte im Antwortexport vor dem Import entfernen",
}
TYPE_NAMES = {
    "1": "Array mit zwei Skalen", "5": "5-Punkte-Wahl", "A": "Array 5 Punkte",
    "B": "Array 10 Punkte", "C": "Array Ja/Nein/Unsicher", "D": "Datum",
    "E": "Array Zunahme/Gleich/Abnahme", "F": "Array", "G": "Geschlecht",
    "H": "Array nach Spalte", "I": "Sprachwechsel", "K": "Mehrfache Zahleneingabe",
    "L": "Liste (Optionsfelder)", "M": "Mehrfachauswahl", "N": "Zahleneingabe",
    "O": "Liste mit Kommentar", "P": "Mehrfachauswahl mit Kommentaren", "Q": "Mehrfache kurze Texte",
    "R": "Rangfolge", "S": "Kurzer Freitext", "T": "Langer Freitext", "U": "Sehr langer Freitext",
    "X": "Textanzeige", "Y": "Ja/Nein", "!": "Liste (Dropdown)", ":": "Array (Zahlen)",
    ";": "Array (Texte)", "|": "Datei-Upload", "*": "Gleichung",
}

# Fixed answer sets of LimeSurvey question types (no <answers> rows in the
# .lss). Codes as in LimeSurvey's SPSS/R export (export_helper.php), labels as
# in the German LimeSurvey interface, so "full answer text" exports match.
FIXED_SETS: dict[str, tuple[str, dict[int, str], dict[int, str] | None]] = {
    "5": ("fuenf_punkte", {i: str(i) for i in range(1, 6)}, None),
    "A": ("fuenf_punkte", {i: str(i) for i in range(1, 6)}, None),
    "B": ("zehn_punkte", {i: str(i) for i in range(1, 11)}, None),
    "Y": ("ja_nein", {1: "Ja", 2: "Nein"}, {1: "Y", 2: "N"}),
    "G": ("geschlecht", {1: "weiblich", 2: "männlich"}, {1: "F", 2: "M"}),
    "C": ("ja_nein_unsicher", {1: "Ja", 2: "Nein", 3: "Unsicher"}, {1: "Y", 2: "N", 3: "U"}),
    "E": ("zunahme_gleich_abnahme", {1: "Zunahme", 2: "Gleich", 3: "Abnahme"}, {1: "I", 2: "S", 3: "D"}),
}
OTHER_CODE = "-oth-"  # LimeSurvey's stored value for the "other" option of a list
MISSING_HINT = re.compile(r"wei(ß|ss) nicht|keine angabe|k\.\s?a\.|kann ich nicht|nicht beurteilen", re.I)
ROLE_HINTS = {
    "age": re.compile(r"\balter\b|wie alt|geburtsjahr", re.I),
    "district": re.compile(r"stadtteil|ortsteil|gemeindeteil|stadtbezirk|wohnviertel|ortschaft", re.I),
}
ROLE_DE = {"age": "Alter", "sex": "Geschlecht", "district": "Stadtteil"}
RESERVED_IDS = {ID_NAME, *DERIVED}  # respondent id and the variables cleaning derives


# ---------------------------------------------------------------------------
# text cleaning
# ---------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment (LimeSurvey stores HTML texts);
    block tags become spaces, script/style contents are dropped."""

    BLOCK = {"p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "table", "h1", "h2", "h3",
             "h4", "h5", "h6", "hr", "blockquote", "section"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in self.BLOCK:
            self.parts.append(" ")

    def handle_startendtag(self, tag, attrs):
        if tag in self.BLOCK:
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCK:
            self.parts.append(" ")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def clean_text(value: str | None) -> str:
    """HTML tags stripped, entities decoded, whitespace collapsed (NFC)."""
    if not value:
        return ""
    parser = _TextExtractor()
    parser.feed(str(value))
    parser.close()
    text = unicodedata.normalize("NFC", "".join(parser.parts))
    return re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip()


# ---------------------------------------------------------------------------
# reading the XML
# ---------------------------------------------------------------------------


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def _number(value: Any) -> int | float | None:
    try:
        number = float(str(value).strip().replace(",", "."))
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else number


def _parse(path: Path) -> ET.Element:
    if not path.exists():
        raise missing_file(path, WHAT)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise InputError(Problem(file=str(path), row=line, value=f"kein gültiges XML ({exc})",
                                 expected=EXPECTED_LSS)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(Problem(file=str(path), value=str(exc)[:200], expected=EXPECTED_LSS)) from None
    doctype = (root.findtext("LimeSurveyDocType") or "").strip()
    if root.tag != "document" or not doctype:
        raise InputError(Problem(file=str(path), value=f"XML mit Wurzelelement <{root.tag}>",
                                 expected=EXPECTED_LSS))
    if doctype != "Survey":
        kind = {"Group": "Fragengruppe (.lsg)", "Question": "Einzelfrage (.lsq)"}.get(doctype, doctype)
        raise InputError(Problem(
            file=str(path), column="LimeSurveyDocType", value=kind,
            expected=(EXPECTED_LSS + "; Gruppen oder Einzelfragen in eine Umfrage importieren und "
                      "die ganze Umfrage als .lss exportieren")))
    return root


def _sections(root: ET.Element) -> dict[str, list[dict[str, str]]]:
    """Section name -> rows as dicts (missing elements and empty tags -> "")."""
    out: dict[str, list[dict[str, str]]] = {}
    for section in root:
        rows = section.find("rows")
        if rows is not None:
            out[section.tag] = [{c.tag: (c.text or "") for c in row} for row in rows.findall("row")]
    return out


class _Survey:
    """The parts of an .lss the converter needs, independent of the DBVersion."""

    def __init__(self, root: ET.Element, language: str):
        sec = _sections(root)
        self.db_version = (root.findtext("DBVersion") or "").strip()
        surveys = sec.get("surveys") or [{}]
        self.survey_id = surveys[0].get("sid", "").strip()
        listed = [el.text.strip() for el in root.findall("languages/language") if el.text]
        base = surveys[0].get("language", "").strip() or (listed[0] if listed else "")
        extra = surveys[0].get("additional_languages", "").split()
        self.languages = list(dict.fromkeys([lang for lang in [base, *extra, *listed] if lang]))
        self.base = base
        self.requested = language
        self.language = language if language in self.languages or not self.languages else (base or self.languages[0])
        self.order = [self.language, base]

        # texts keyed by (kind, key, language)
        self.texts: dict[tuple, str] = {}
        for row in sec.get("group_l10ns", []):
            self.texts[("group", row.get("gid"), row.get("language"))] = row.get("group_name", "")
        for row in sec.get("question_l10ns", []):
            self.texts[("question", row.get("qid"), row.get("language"))] = row.get("question", "")
        for row in sec.get("surveys_languagesettings", []):
            self.texts[("title", "", row.get("surveyls_language"))] = row.get("surveyls_title", "")

        # groups (old exports: one row per language, name in the row)
        self.groups: dict[str, dict[str, str]] = {}
        for row in sec.get("groups", []):
            gid = row.get("gid", "")
            self.groups.setdefault(gid, row)
            if "group_name" in row:
                self.texts[("group", gid, row.get("language"))] = row["group_name"]

        # questions and sub-questions (old exports: text and language in the row)
        self.questions: dict[str, dict[str, str]] = {}
        self.subquestions: dict[str, list[dict[str, str]]] = {}
        seen_sub: set[str] = set()
        for row in sec.get("questions", []) + sec.get("subquestions", []):
            qid = row.get("qid", "")
            if "question" in row:
                self.texts[("question", qid, row.get("language"))] = row["question"]
            if _int(row.get("parent_qid")) == 0:
                self.questions.setdefault(qid, row)
            elif qid not in seen_sub:
                seen_sub.add(qid)
                self.subquestions.setdefault(row.get("parent_qid", ""), []).append(row)

        # answers: new exports have aid + answer_l10ns; old ones one row per language
        answer_texts: dict[tuple, str] = {}
        for row in sec.get("answer_l10ns", []):
            answer_texts[(row.get("aid"), row.get("language"))] = row.get("answer", "")
        self.answers: dict[str, list[dict[str, Any]]] = {}
        index: dict[tuple, dict[str, Any]] = {}
        for row in sec.get("answers", []):
            key = (row.get("qid", ""), _int(row.get("scale_id")), row.get("code", ""))
            entry = index.get(key)
            if entry is None:
                entry = {"code": row.get("code", "").strip(), "scale_id": key[1],
                         "sortorder": _int(row.get("sortorder")), "texts": {}}
                index[key] = entry
                self.answers.setdefault(key[0], []).append(entry)
            if "aid" in row and "answer" not in row:
                for (aid, lang), text in answer_texts.items():
                    if aid == row["aid"]:
                        entry["texts"][lang] = text
            elif "answer" in row:
                entry["texts"][row.get("language")] = row["answer"]

        # question attributes: qid -> attribute -> {language: value}
        self.attributes: dict[str, dict[str, dict[str, str]]] = {}
        for row in sec.get("question_attributes", []):
            self.attributes.setdefault(row.get("qid", ""), {}).setdefault(
                row.get("attribute", ""), {})[row.get("language") or ""] = row.get("value", "")

    # -- lookups -----------------------------------------------------------
    def text(self, kind: str, key: str) -> str:
        for lang in self.order:
            value = self.texts.get((kind, key, lang))
            if value:
                return clean_text(value)
        for (k, key2, _lang), value in self.texts.items():  # any language rather than nothing
            if k == kind and key2 == key and value:
                return clean_text(value)
        return ""

    def answer_text(self, entry: Mapping[str, Any]) -> str:
        texts = entry["texts"]
        for lang in self.order:
            if texts.get(lang):
                return clean_text(texts[lang])
        return next((clean_text(t) for t in texts.values() if t), "")

    def attribute(self, qid: str, name: str) -> str:
        values = self.attributes.get(qid, {}).get(name, {})
        for lang in (self.language, "", self.base):
            if values.get(lang, "").strip():
                return values[lang].strip()
        return next((v.strip() for v in values.values() if v.strip()), "")

    def answer_list(self, qid: str, scale_id: int = 0) -> list[dict[str, Any]]:
        rows = [a for a in self.answers.get(qid, []) if a["scale_id"] == scale_id]
        return sorted(rows, key=lambda a: a["sortorder"])

    def subs(self, qid: str, scale_id: int = 0) -> list[dict[str, str]]:
        rows = [r for r in self.subquestions.get(qid, []) if _int(r.get("scale_id")) == scale_id]
        return sorted(rows, key=lambda r: (_int(r.get("question_order")), _int(r.get("qid"))))

    def ordered_questions(self) -> list[dict[str, str]]:
        def group_order(gid: str) -> int:
            return _int(self.groups.get(gid, {}).get("group_order"), 10**6)

        return sorted(self.questions.values(), key=lambda q: (
            group_order(q.get("gid", "")), _int(q.get("gid")), _int(q.get("question_order")), _int(q.get("qid"))))


# ---------------------------------------------------------------------------
# conversion
# ---------------------------------------------------------------------------


def integer_codes(ls_codes: Sequence[str]) -> dict[str, int]:
    """LimeSurvey answer code -> integer code.

    Integer codes keep their value; the others get the next free integers
    after the largest integer code, in the given (LimeSurvey) order. If two
    codes would give the same integer ("1" and "01"), all are renumbered.
    """
    kept = {c: int(c) for c in ls_codes if re.fullmatch(r"\d+", c)}
    if len(set(kept.values())) != len(kept):
        kept = {}
    following = max(kept.values(), default=0) + 1
    out: dict[str, int] = {}
    for code in ls_codes:
        if code in kept:
            out[code] = kept[code]
        else:
            out[code] = following
            following += 1
    return out


@dataclass
class LssConversion:
    """Result of :func:`convert_lss`: the codebook dict plus what the summary needs."""

    codebook: dict[str, Any]
    source: str
    survey_id: str
    title: str
    language: str
    requested_language: str
    languages: list[str]
    n_questions: int
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (question code, reason)
    review: list[tuple[str, str]] = field(default_factory=list)    # (question/item id, note)
    direction: list[str] = field(default_factory=list)             # question ids with ordered codes
    role_hints: dict[str, list[str]] = field(default_factory=dict)  # role -> item ids
    filters: list[tuple[str, str]] = field(default_factory=list)   # (question, relevance)


class _Builder:
    def __init__(self, survey: _Survey):
        self.s = survey
        self.items: list[dict[str, Any]] = []
        self.value_sets: dict[str, dict[int, str]] = {}
        self.review: list[tuple[str, str]] = []
        self.skipped: list[tuple[str, str]] = []
        self.direction: list[str] = []
        self.filters: list[tuple[str, str]] = []
        self.role_hints: dict[str, list[str]] = {"age": [], "sex": [], "district": []}
        self.ids: set[str] = set()

    # -- helpers -------------------------------------------------------------
    def note(self, where: str, text: str, item: dict[str, Any] | None = None) -> None:
        self.review.append((where, text))
        if item is not None:
            item["review"] = f"{item['review']} {text}" if item.get("review") else text

    def add(self, item: dict[str, Any]) -> dict[str, Any]:
        if item["id"] in self.ids:
            base, n = item["id"], 2
            while f"{base}_{n}" in self.ids:
                n += 1
            item["id"] = f"{base}_{n}"
            self.note(item["id"], f"Item-id {base} kam doppelt vor, umbenannt in {item['id']}", item)
        if item["id"] in RESERVED_IDS:
            self.note(item["id"], f"Item-id '{item['id']}' ist im Kit reserviert (Fallnummer bzw. "
                      "abgeleitete Gewichtungsvariable): Fragecode in LimeSurvey ändern oder Spalte per "
                      "survey.column_map umbenennen", item)
        self.ids.add(item["id"])
        self.items.append(item)
        return item

    def value_set(self, preferred: str, values: dict[int, str]) -> str:
        for name, existing in self.value_sets.items():
            if existing == values:
                return name
        name, n = preferred, 2
        while name in self.value_sets:
            name, n = f"{preferred}_{n}", n + 1
        self.value_sets[name] = dict(values)
        return name

    def answer_values(self, q: dict[str, str], scale_id: int = 0) -> tuple[dict[int, str], dict[int, str]] | None:
        """(code -> label, code -> LimeSurvey code) from the answer options."""
        title = q["title"]
        answers = self.s.answer_list(q["qid"], scale_id)
        other = q.get("other", "N").strip().upper() == "Y" and q["type"] in SINGLE_LIST_TYPES
        if not answers and not other:
            return None
        ls_codes = [a["code"] for a in answers] + ([OTHER_CODE] if other else [])
        mapping = integer_codes(ls_codes)
        values: dict[int, str] = {}
        for a in answers:
            label = self.s.answer_text(a)
            if not label:
                label = a["code"]
                self.note(title, f"Antwort {a['code']} ohne Text: Code als Label übernommen")
            values[mapping[a["code"]]] = label
        if other:
            # a LimeSurvey export with answer texts writes "Sonstiges" (translated "Other")
            # for -oth-, whatever the label shown in the questionnaire
            values[mapping[OTHER_CODE]] = "Sonstiges"
            shown = clean_text(self.s.attribute(q["qid"], "other_replace_text"))
            if shown and shown != "Sonstiges":
                self.note(title, f"Option 'Sonstiges' heißt im Fragebogen „{shown}“; Label 'Sonstiges' "
                          "belassen, solange mit Antworttexten importiert wird")
        hints = [f"{c} ({lab})" for c, lab in values.items() if MISSING_HINT.search(lab)]
        if hints:
            self.note(title, "mögliche Fehlende-Werte-Codes, ggf. in missing_codes aufnehmen: "
                      + ", ".join(hints))
        # "01" -> 1 needs no record: the importer reads "01" as code 1
        renumbered = [ls for ls, code in mapping.items() if not (ls.isdigit() and int(ls) == code)]
        if not renumbered:
            return values, {}
        self.note(title, "LimeSurvey-Antwortcodes ("
                  + ", ".join(f"{ls}={code}" for ls, code in mapping.items())
                  + ") in ganze Zahlen umkodiert (limesurvey_codes)")
        return values, {code: ls for ls, code in mapping.items()}

    def base_item(self, q: dict[str, str], item_id: str, item_type: str, text: str,
                  question: str | None = None) -> dict[str, Any]:
        item: dict[str, Any] = {"id": item_id, "block": q["block"], "question": question or q["title"]}
        if question is None and q["_has_subitems"]:
            item["question_text"] = q["text"]
        item["text"] = text
        item["type"] = item_type
        return item

    def text_item(self, q: dict[str, str], suffix: str, text: str, question_suffix: str | None = None,
                  optional: bool = True) -> dict[str, Any]:
        title = q["title"]
        item = self.base_item(q, f"{title}_{suffix}", "text", text,
                              question=f"{title}_{question_suffix or suffix}")
        item["question_text"] = q["text"]
        if optional:
            item["optional"] = True
        return self.add(item)

    def numeric_bounds(self, item: dict[str, Any], qid: str) -> None:
        lo = _number(self.s.attribute(qid, "min_num_value_n"))
        hi = _number(self.s.attribute(qid, "max_num_value_n"))
        if lo is not None and hi is not None and lo > hi:
            return
        if lo is not None:
            item["min"] = lo
        if hi is not None:
            item["max"] = hi

    # -- one question ----------------------------------------------------------
    def question(self, row: dict[str, str]) -> None:
        qtype = row.get("type", "").strip()
        title = row.get("title", "").strip() or f"q{row.get('qid')}"
        q = dict(row)
        q["title"] = title
        q["type"] = qtype
        q["text"] = self.s.text("question", row.get("qid", ""))
        q["block"] = self.s.text("group", row.get("gid", "")) or f"Gruppe {row.get('gid', '')}".strip()
        q["_has_subitems"] = ""
        if qtype in SKIPPED_TYPES:
            self.skipped.append((title, SKIPPED_TYPES[qtype]))
            return
        if not q["text"]:
            q["text"] = title
            self.note(title, "Fragetext fehlt in der Datei: Fragecode als Text übernommen")
        if "{" in q["text"]:
            self.note(title, "Fragetext enthält einen LimeSurvey-Ausdruck ({...}): Wortlaut prüfen")
        relevance = re.sub(r"\s+", " ", row.get("relevance", "")).strip()
        if relevance not in ("", "1"):
            self.filters.append((title, relevance))
        before = len(self.items)
        handler = {
            **{t: self.single for t in SINGLE_LIST_TYPES | {"5", "Y", "G"}},
            **{t: self.battery for t in ARRAY_ANSWER_TYPES | {"A", "B", "C", "E"}},
            **{t: self.multi for t in MULTI_TYPES},
            "N": self.numeric, "K": self.multi_numeric,
            **{t: self.free_text for t in TEXT_TYPES}, "Q": self.multi_text,
            "R": self.ranking, ":": self.array_cells, ";": self.array_cells,
            "1": self.dual_scale, "D": self.other_single_column, "I": self.other_single_column,
            "|": self.upload,
        }.get(qtype, self.unknown)
        handler(q)
        if len(self.items) == before:  # e.g. an array without sub-questions: never drop a question
            item = self.add(self.base_item(q, title, "text", q["text"]))
            self.note(title, f"{TYPE_NAMES.get(qtype, 'Typ ' + qtype)} ohne Teilfragen/Antworten in der "
                      "Datei: als Freitext übernommen, bitte von Hand anlegen", item)

    def single(self, q: dict[str, str]) -> None:
        title, qtype = q["title"], q["type"]
        item = self.base_item(q, title, "single", q["text"])
        if qtype in FIXED_SETS:
            name, values, ls_codes = FIXED_SETS[qtype]
            item["values"] = self.value_set(name, values)
            if ls_codes:
                item["limesurvey_codes"] = dict(ls_codes)
        else:
            found = self.answer_values(q)
            if found is None:
                return
            values, ls_codes = found
            item["values"] = values
            if ls_codes:
                item["limesurvey_codes"] = ls_codes
        self.add(item)
        if qtype == "G" or _is_sex(self.value_labels(item)):
            self.role_hints["sex"].append(title)
        district = bool(ROLE_HINTS["district"].search(q["text"]))
        if district:
            self.role_hints["district"].append(title)
        if qtype == "5":
            self.note(title, "5-Punkte-Wahl: Codes 1-5 ohne Beschriftung, Labels ergänzen")
        n_codes = len(self.value_labels(item))
        if qtype not in ("Y", "G") and n_codes >= 3 and not district:
            self.direction.append(title)
        if q.get("other", "N").strip().upper() == "Y" and qtype in ("L", "!"):
            self.text_item(q, "other", f"{q['text']} – Sonstiges (Freitext)")
        if qtype == "O":
            self.text_item(q, "comment", f"{q['text']} – Kommentar")

    def value_labels(self, item: Mapping[str, Any]) -> dict[int, str]:
        values = item.get("values")
        return self.value_sets.get(values, {}) if isinstance(values, str) else dict(values or {})

    def battery(self, q: dict[str, str]) -> None:
        title, qtype = q["title"], q["type"]
        subs = self.s.subs(q["qid"])
        if not subs:
            return
        ls_codes: dict[int, str] = {}
        if qtype in FIXED_SETS:
            name, values, fixed_codes = FIXED_SETS[qtype]
            set_name = self.value_set(name, values)
            ls_codes = dict(fixed_codes or {})
        else:
            found = self.answer_values(q)
            if found is None:
                return
            values, ls_codes = found
            set_name = self.value_set(title, values)
        q["_has_subitems"] = "1"
        for sub in subs:
            item = self.base_item(q, f"{title}_{sub.get('title', '').strip()}", "scale",
                                  self.sub_text(q, sub))
            item["values"] = set_name
            if ls_codes:
                item["limesurvey_codes"] = dict(ls_codes)
            self.add(item)
        if len(values) >= 3 or qtype in ("A", "B"):
            self.direction.append(title)

    def sub_text(self, q: dict[str, str], sub: Mapping[str, str]) -> str:
        text = self.s.text("question", sub.get("qid", ""))
        if not text:
            text = sub.get("title", "")
            self.note(f"{q['title']}_{sub.get('title', '')}", "Teilfrage ohne Text: Code als Text übernommen")
        return text

    def multi(self, q: dict[str, str]) -> None:
        title = q["title"]
        subs = self.s.subs(q["qid"])
        q["_has_subitems"] = "1"
        for sub in subs:
            self.add(self.base_item(q, f"{title}_{sub.get('title', '').strip()}", "multi", self.sub_text(q, sub)))
            if q["type"] == "P":
                self.text_item(q, f"{sub.get('title', '').strip()}comment",
                               f"{self.sub_text(q, sub)} – Kommentar", question_suffix="comment")
        if q.get("other", "N").strip().upper() == "Y":
            item = self.text_item(q, "other", f"{q['text']} – Sonstiges (Freitext)")
            self.note(title, "Option 'Sonstiges' ist im Export ein Freitext (Spalte "
                      f"{title}[other]), keine 0/1-Spalte: Anteil 'Sonstiges' von Hand auswerten", item)
            if q["type"] == "P":
                self.text_item(q, "othercomment", f"{q['text']} – Sonstiges, Kommentar",
                               question_suffix="comment")

    def numeric(self, q: dict[str, str]) -> None:
        item = self.base_item(q, q["title"], "numeric", q["text"])
        self.numeric_bounds(item, q["qid"])
        self.add(item)
        if ROLE_HINTS["age"].search(q["text"]):
            self.role_hints["age"].append(q["title"])

    def multi_numeric(self, q: dict[str, str]) -> None:
        q["_has_subitems"] = "1"
        for sub in self.s.subs(q["qid"]):
            item = self.base_item(q, f"{q['title']}_{sub.get('title', '').strip()}", "numeric",
                                  self.sub_text(q, sub))
            self.numeric_bounds(item, q["qid"])
            self.add(item)

    def free_text(self, q: dict[str, str]) -> None:
        item = self.base_item(q, q["title"], "text", q["text"])
        item["optional"] = True
        self.add(item)

    def multi_text(self, q: dict[str, str]) -> None:
        q["_has_subitems"] = "1"
        for sub in self.s.subs(q["qid"]):
            item = self.base_item(q, f"{q['title']}_{sub.get('title', '').strip()}", "text",
                                  self.sub_text(q, sub))
            item["optional"] = True
            self.add(item)

    def ranking(self, q: dict[str, str]) -> None:
        found = self.answer_values(q)
        if found is None:
            return
        values, ls_codes = found
        limit = _int(self.s.attribute(q["qid"], "max_answers"), 0) or len(values)
        n = min(limit, len(values))
        set_name = self.value_set(q["title"], values)
        q["_has_subitems"] = "1"
        for rank in range(1, n + 1):
            item = self.base_item(q, f"{q['title']}_{rank}", "single", f"Rang {rank}")
            item["values"] = set_name
            if ls_codes:
                item["limesurvey_codes"] = dict(ls_codes)
            self.add(item)
        self.note(q["title"], "Rangfolge: je Rangplatz ein Item mit der gewählten Antwort "
                  "(Spalten Q[1], Q[2], ...); Auswertung von Hand festlegen", self.items[-1])

    def array_cells(self, q: dict[str, str]) -> None:
        rows, cols = self.s.subs(q["qid"], 0), self.s.subs(q["qid"], 1)
        kind = "numeric" if q["type"] == ":" else "text"
        q["_has_subitems"] = "1"
        for r in rows:
            for c in cols:
                code = f"{r.get('title', '').strip()}_{c.get('title', '').strip()}"
                item = self.base_item(q, f"{q['title']}_{code}", kind,
                                      f"{self.sub_text(q, r)} – {self.sub_text(q, c)}")
                if kind == "text":
                    item["optional"] = True
                self.add(item)
        if rows and cols:
            self.note(q["title"], f"{TYPE_NAMES[q['type']]}: je Zelle ein {kind}-Item; prüfen, "
                      "ob Werte eigentlich Codes sind", self.items[-1])

    def dual_scale(self, q: dict[str, str]) -> None:
        subs = self.s.subs(q["qid"])
        if not subs:
            return
        q["_has_subitems"] = "1"
        for scale_id in (0, 1):
            found = self.answer_values(q, scale_id)
            if found is None:
                continue
            values, ls_codes = found
            set_name = self.value_set(f"{q['title']}_{scale_id + 1}", values)
            for sub in subs:
                sq = sub.get("title", "").strip()
                item = self.base_item(q, f"{q['title']}_{sq}_{scale_id + 1}", "scale",
                                      f"{self.sub_text(q, sub)} (Skala {scale_id + 1})",
                                      question=f"{q['title']}_{scale_id + 1}")
                item["question_text"] = q["text"]
                item["values"] = set_name
                if ls_codes:
                    item["limesurvey_codes"] = dict(ls_codes)
                self.add(item)
            self.direction.append(f"{q['title']}_{scale_id + 1}")
        example = subs[0].get("title", "").strip()
        self.note(q["title"], "Array mit zwei Skalen: Spalten heißen im CSV-Export "
                  f"{q['title']}[{example}][1] und [2]; in survey.column_map den Items "
                  f"{q['title']}_{example}_1 usw. zuordnen")

    def other_single_column(self, q: dict[str, str]) -> None:
        item = self.add(self.base_item(q, q["title"], "text", q["text"]))
        item["optional"] = True
        self.note(q["title"], f"{TYPE_NAMES[q['type']]} (Typ {q['type']}): als Freitext übernommen", item)

    def upload(self, q: dict[str, str]) -> None:
        item = self.add(self.base_item(q, q["title"], "text", q["text"]))
        item["optional"] = True
        self.text_item(q, "filecount", f"{q['text']} – Anzahl Dateien")
        self.note(q["title"], "Datei-Upload (Typ |): Dateiangaben als Freitext übernommen; "
                  "für die Auswertung meist entbehrlich", item)

    def unknown(self, q: dict[str, str]) -> None:
        item = self.add(self.base_item(q, q["title"], "text", q["text"]))
        self.note(q["title"], f"unbekannter LimeSurvey-Fragetyp '{q['type']}': als Freitext übernommen, "
                  "Typ und Spalten von Hand prüfen", item)


def _is_sex(labels: Mapping[int, str]) -> bool:
    low = {str(v).strip().lower() for v in labels.values()}
    return any(v.startswith(("männ", "mann")) for v in low) and any(v.startswith(("weib", "frau")) for v in low)


def convert_lss(path: str | Path, language: str = "de") -> LssConversion:
    """Read a LimeSurvey structure export and build the codebook draft.

    ``language`` selects the texts; when the survey has no such language the
    base language of the survey is used (listed in the review notes).
    Raises InputError (German) for a file that is not a LimeSurvey survey
    structure export.
    """
    path = Path(path)
    root = _parse(path)
    survey = _Survey(root, language)
    if not survey.questions:
        raise InputError(Problem(file=str(path), column="questions", value="keine Fragen",
                                 expected=EXPECTED_LSS + " mit mindestens einer Frage"))
    builder = _Builder(survey)
    if survey.language != language:
        builder.review.append(("(Umfrage)", f"Sprache '{language}' nicht in der Datei "
                               f"(vorhanden: {', '.join(survey.languages)}): Texte in '{survey.language}'"))
    for row in survey.ordered_questions():
        builder.question(row)
    if not builder.items:
        raise InputError(Problem(file=str(path), column="questions",
                                 value="nur Textanzeigen/Gleichungen",
                                 expected="mindestens eine Frage mit Antworten"))
    title = survey.text("title", "") or path.stem
    role_hints = {k: v for k, v in builder.role_hints.items() if v}
    conversion = LssConversion(
        codebook={}, source=str(path), survey_id=survey.survey_id, title=title,
        language=survey.language, requested_language=language, languages=survey.languages,
        n_questions=len(survey.questions), skipped=builder.skipped, review=builder.review,
        direction=builder.direction, role_hints=role_hints, filters=builder.filters)
    data: dict[str, Any] = {
        "name": f"limesurvey_{survey.survey_id}" if survey.survey_id else re.sub(r"\W+", "_", path.stem),
        "title": title,
        "language": survey.language,
        "source": (f"Entwurf aus dem LimeSurvey-Strukturexport {path.name}"
                   + (f" (Umfrage {survey.survey_id}" if survey.survey_id else " (")
                   + (f", DBVersion {survey.db_version})" if survey.db_version else ")")),
        "notes": _notes(conversion),
        "missing_codes": [],
        "missing_labels": ["", "keine Antwort", "k.A.", "N/A"],
        "roles": {},
        "value_sets": builder.value_sets,
        "items": builder.items,
    }
    conversion.codebook = data
    return conversion


def codebook_from_lss(path: str | Path, language: str = "de") -> dict[str, Any]:
    """Codebook draft (dict in the YAML structure of ``survey_codebook.yaml``)
    from a LimeSurvey ``.lss`` file; see :func:`convert_lss`."""
    return convert_lss(path, language).codebook


# ---------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------


def _notes(conv: LssConversion) -> str:
    lines = ["Automatisch erzeugter Entwurf: vor Gebrauch prüfen und ergänzen."]
    if conv.direction:
        lines.append("direction setzen, wo die Antworten geordnet sind: " + ", ".join(conv.direction))
    lines.append("roles setzen (age, sex, district)"
                 + (": Vorschläge " + "; ".join(f"{r} = {', '.join(ids)}" for r, ids in conv.role_hints.items())
                    if conv.role_hints else ""))
    if conv.filters:
        lines.append("Filterfragen (ggf. consistency-Regeln): "
                     + "; ".join(f"{q} wenn {expr}" for q, expr in conv.filters))
    for where, text in conv.review:
        lines.append(f"{where}: {text}")
    for code, reason in conv.skipped:
        lines.append(f"{code}: übersprungen – {reason}")
    return "\n".join(lines)


class _Dumper(yaml.SafeDumper):
    """Block style, except small code maps and lists (``_Flow``); multi-line
    strings as literal blocks."""


class _FlowMap(dict):
    pass


class _FlowList(list):
    pass


_Dumper.add_representer(str, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))
_Dumper.add_representer(_FlowMap, lambda d, v: d.represent_mapping(
    "tag:yaml.org,2002:map", v.items(), flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence(
    "tag:yaml.org,2002:seq", v, flow_style=True))

ITEM_ORDER = ("id", "block", "question", "question_text", "text", "label", "type", "values",
              "direction", "min", "max", "optional", "limesurvey_codes", "review")


def _flow(value: Any) -> Any:
    if isinstance(value, Mapping):
        return _FlowMap(value)
    if isinstance(value, (list, tuple)):
        return _FlowList(value)
    return value


def _dump(obj: Any) -> str:
    # width: keep question texts on one line, as an analyst would type them
    return yaml.dump(obj, Dumper=_Dumper, allow_unicode=True, sort_keys=False,
                     default_flow_style=False, width=10_000)


def codebook_yaml(data: Mapping[str, Any]) -> str:
    """YAML text of a codebook dict: top-level keys first, then the items in
    block style, a comment line per block and a blank line between questions."""
    head: dict[str, Any] = {}
    for key, value in data.items():
        if key == "items":
            continue
        if key == "value_sets" and isinstance(value, Mapping):
            value = {name: _flow(codes) for name, codes in value.items()}
        elif isinstance(value, (list, tuple)) or (isinstance(value, Mapping) and not value):
            value = _flow(value)
        head[key] = value
    out = ["# Codebuch-Entwurf, erzeugt mit python -m kit lss-codebuch – bitte prüfen:",
           "# direction, roles, consistency und missing_codes von Hand setzen (siehe notes).",
           _dump(head).rstrip(), "", "items:"]
    block = question = None
    for n, item in enumerate(data.get("items", [])):
        if n == 0 or item.get("block") != block:
            block = item.get("block")
            out += ([""] if n else []) + [f"  # ---- {block}"]
        elif item.get("question") != question:
            out.append("")
        question = item.get("question")
        ordered = {k: _flow(item[k]) for k in ITEM_ORDER if k in item}
        ordered.update({k: _flow(v) for k, v in item.items() if k not in ordered})
        text = _dump([ordered]).rstrip()
        out.append("\n".join("  " + line for line in text.splitlines()))
    return "\n".join(out) + "\n"


def write_codebook_yaml(data: Mapping[str, Any], path: str | Path) -> Path:
    """Write the codebook dict as UTF-8 YAML (atomic: temporary file + rename)."""
    path = Path(path)
    atomic_write_text(path, codebook_yaml(data))
    return path


def summary_text(conv: LssConversion, output: str | Path | None = None) -> str:
    """German summary for the analyst: items per type, skipped questions and
    everything that needs a manual check."""
    items = conv.codebook["items"]
    by_type = Counter(it["type"] for it in items)
    questions_by_type: dict[str, set[str]] = {}
    for it in items:
        questions_by_type.setdefault(it["type"], set()).add(it["question"])
    lang = conv.language if conv.language == conv.requested_language else (
        f"{conv.language} ('{conv.requested_language}' nicht in der Datei)")
    lines = [f"Codebuch-Entwurf aus {conv.source}",
             f"Umfrage {conv.survey_id or '?'} „{conv.title}“, Sprache: {lang}"]
    if output is not None:
        lines.append(f"Geschrieben: {output}")
    lines.append(f"{conv.n_questions} Fragen in der Datei, {len(conv.skipped)} übersprungen, "
                 f"{len(items)} Items")
    lines.append("Items je Typ:")
    for item_type in ("single", "scale", "multi", "numeric", "text"):
        n = by_type.get(item_type, 0)
        nq = len(questions_by_type.get(item_type, ()))
        lines.append(f"  {item_type:<8} {n:>4} Items"
                     + (f" ({nq} {'Frage' if nq == 1 else 'Fragen'})" if n else ""))
    if conv.skipped:
        lines.append("Übersprungen:")
        lines += [f"  {code}: {reason}" for code, reason in conv.skipped]
    lines.append("Von Hand prüfen:")
    if conv.direction:
        lines.append("  direction (Richtung) setzen, wo die Antworten geordnet sind: " + ", ".join(conv.direction))
    hints = "; ".join(f"{ROLE_DE[r]}: {', '.join(ids)}" for r, ids in conv.role_hints.items())
    lines.append("  roles (age, sex, district) setzen" + (f" – Vorschläge: {hints}" if hints else ""))
    if conv.filters:
        lines.append("  Filterfragen, ggf. consistency-Regeln: "
                     + "; ".join(f"{q} (wenn {expr})" for q, expr in conv.filters))
    lines += [f"  {where}: {text}" for where, text in conv.review]
    recoded = [it["id"] for it in items if it.get("limesurvey_codes")]
    if recoded:
        if import_reads_limesurvey_codes():
            how = "ein CSV-Export mit Antwortcodes wird über limesurvey_codes umgesetzt"
        else:
            how = ("Antworten aus LimeSurvey als CSV mit „vollständigen Antworten“ (Antworttexten) "
                   "exportieren; Antwortcodes wie Y oder AO01 erkennt der Import nicht")
        lines.append(f"  {len(recoded)} Items mit LimeSurvey-Codes ≠ Codebuch-Codes (limesurvey_codes): {how}")
    lines.append("  missing_codes (z. B. Code für „weiß nicht“) und Labels kurzer Tabellen (label) ergänzen")
    return "\n".join(lines)


def import_reads_limesurvey_codes() -> bool:
    """Whether :func:`kit.survey.importing.label_lookup` maps the LimeSurvey
    codes recorded in ``limesurvey_codes`` (probed, so the summary stays right
    when the importer learns it)."""
    probe = Item(id="probe", question="probe", type="single", values={1: "a"},
                 extra={"limesurvey_codes": {1: "AO01"}})
    return label_lookup(probe).get(normalise_text("AO01")) == 1
