"""Publication check of an output folder (``python -m kit check OUTPUT_DIR``).

Everything a commune's folder holds is read as a reader of the output would see it:
HTML reports (visible text and tables, not scripts or embedded images), PDF text
(pypdfium2), executed notebooks (cell sources and outputs, images skipped), CSV,
JSON, XLSX, logs and any other text file. The checker then looks for what must
never be published, per commune:

- survey cells under the minimum of the commune's :class:`kit.disclosure.DisclosurePolicy`:
  counts of fewer than ``min_cell`` respondents, bases below ``min_cell``, shares and
  means on bases below ``min_base``, in the survey result files the kit writes
  (``SURVEY_TABLES``) and in report tables with a survey count heading
  (``HTML_COUNT_HEADINGS``). Register counts (residents, police statistics) are not
  survey cells and are not checked here;
- hidden survey counts that the published numbers of the same table determine
  (:func:`recoverable`: exact over the non-negative reals, as a linear-programming
  attacker would compute them): an answer distribution and its base, collapsed
  categories, a multiple-choice option and its complement ("not ticked"), the margins
  of the response rates, the sample counts and the cleaning log, a hidden count next
  to a published share of a known base;
- free-text answers of the commune's survey (and of an earlier wave), read with the
  kit's own survey import: every answer with at least ``FREE_TEXT_MIN_WORDS`` words
  beyond the names of the commune's places and districts is searched for, normalised
  like the place matching (case, umlauts, punctuation), in every text of the output;
- row-level records: a table with several columns of the response file (question
  codes, LimeSurvey system columns), with personal columns (name, date of birth,
  address ...), or whose rows correspond 1:1 to the respondents;
- respondent ids: ids written next to a word such as "ID", "Fallnummer" or
  "Fragebogen-Nr.", a column of ids, and ids that cannot be mistaken for an ordinary
  number (letters, or at least six digits) anywhere;
- times of submission: the LimeSurvey paradata (submitdate, startdate, datestamp) to
  the minute, in ISO or German writing, and a column listing several submission days.

Findings are a DataFrame (``FINDING_COLUMNS``; kind and detail in German). A detail
never repeats the leaked value itself (it names the row of the response file
instead), so a finding can be shown in the batch index without publishing it again.

What the checker cannot see: text inside images (figures are PNG), differencing
between different tables or groups (see kit.disclosure), small cells in tables it
does not know as survey tables, respondent ids that are small plain numbers written
without a word naming them, and free-text answers that were paraphrased or cut to
fewer words than the minimum.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from kit.disclosure import DisclosurePolicy, policy_from_params

FINDING_COLUMNS = ["commune", "file", "location", "kind", "detail"]

KIND_SMALL = "kleine Zelle"
KIND_DIFFERENCING = "Differenzbildung"
KIND_FREE_TEXT = "Freitextantwort"
KIND_RECORDS = "Einzeldatensätze"
KIND_ID = "Fallnummer"
KIND_DATE = "Abgabezeitpunkt"

FREE_TEXT_MIN_WORDS = 4  # words of an answer beyond place and district names
DISTINCTIVE_ID_DIGITS = 6  # purely numeric ids this long are searched for anywhere
RECORD_COLUMNS_MIN = 3  # columns of the response file that make a table row-level
ROW_LEVEL_MIN_ROWS = 20  # a table with as many rows as respondents is row-level from this size on
DATE_COLUMN_MIN = 3  # distinct submission days in one column

SKIP_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svgz", ".ico", ".woff", ".woff2", ".ttf", ".otf", ".zip",
                 ".gz", ".parquet", ".pkl", ".feather", ".sqlite", ".db"}
MAX_TEXT_BYTES = 50_000_000  # larger files are not read (noted)

# headings of the LimeSurvey system columns and of person-level registers
SYSTEM_COLUMNS = {"submitdate", "startdate", "datestamp", "lastpage", "startlanguage", "seed", "ipaddr",
                  "refurl", "token", "interviewtime", "optout", "firstname", "lastname", "email",
                  "emailstatus", "usesleft", "validfrom", "validuntil"}
PERSONAL_COLUMNS = {"vorname", "nachname", "familienname", "geburtsdatum", "geburtstag", "geburtsname",
                    "anschrift", "hausnummer", "wohnanschrift", "ipaddr", "ip-adresse", "ip_adresse",
                    "firstname", "lastname", "birthdate", "date_of_birth", "token", "email", "e-mail-adresse"}
ID_COLUMNS = {"id", "respondent", "respondent_id", "respondentid", "response_id", "responseid", "case_id",
              "fallnummer", "fall-nr", "fall-nr.", "fallnr", "fragebogennummer", "fragebogen-nr",
              "fragebogen-nr.", "befragten-id", "befragtenid", "lfd_nr", "lfd. nr.", "token"}

# a respondent id written next to a word naming it ("ID 17", "Fallnummer: 17", "Fragebogen-Nr. 17")
ID_CONTEXT = re.compile(
    r"(?<![\w-])(?:id|respondent(?:en)?(?:[-_ ]?(?:id|nr\.?|nummer))?|response[-_ ]?id|case[-_ ]?id|"
    r"fall(?:nummer|[-_ ]?nr\.?)|fragebogen(?:nummer|[-_ ]?nr\.?)|befragte[rn]?[-_ ]?(?:id|nr\.?))"
    r"\s*[:=#]?\s*(?:nr\.?\s*)?[\"'„“]?([A-Za-z0-9][\w./-]*)",
    re.IGNORECASE)
ISO_TIME = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})(?!\d)")
GERMAN_TIME = re.compile(r"(?<!\d)(\d{1,2})\.(\d{1,2})\.(\d{4}),?\s+(?:um\s+)?(\d{1,2})[:.](\d{2})(?!\d)")
ISO_DAY = re.compile(r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[ T][\d:.]+)?\s*$")
GERMAN_DAY = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{4})(?:,?\s+[\d:.]+)?\s*$")
DAY_START = re.compile(r"\s*\d{1,4}[-.]\d{1,2}[-.]\d{1,4}")
GERMAN_INT = re.compile(r"^[+]?\d{1,3}(?:[.\u202f\u00a0 ]\d{3})*$|^\d+$")

# report tables (HTML) whose column counts respondents: heading -> (zero is small, base column)
HTML_COUNT_HEADINGS = {"Rücklauf": (True, False), "Befragte": (True, False), "Nennungen": (True, False),
                       "Fragebögen": (False, False), "Werte": (False, False), "Antworten": (True, True)}
HTML_MIN_BASE_HEADINGS = ("vollständige Antworten",)
HTML_SHARE_HEADINGS = ("Anteil", "Mittelwert", "Mittelwert-Index")

STAGE_FILE_PREFIX = {"1_": "profile", "2_": "survey", "3_": "recommend"}


# ---------------------------------------------------------------------------
# findings
# ---------------------------------------------------------------------------


@dataclass
class Report:
    """Findings of a check (``FINDING_COLUMNS``) and German notes on what could not be checked."""

    findings: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    files: int = 0

    @property
    def ok(self) -> bool:
        return self.findings.empty


class _Collector:
    """Findings of one commune; the same finding at several places of a file is one row."""

    def __init__(self, commune: str):
        self.commune = commune
        self.rows: dict[tuple, dict] = {}
        self.notes: list[str] = []

    def add(self, file: str, location: str, kind: str, detail: str) -> None:
        key = (file, kind, detail)
        if key in self.rows:
            if location not in self.rows[key]["places"]:
                self.rows[key]["places"].append(location)
            return
        self.rows[key] = {"commune": self.commune, "file": file, "places": [location], "kind": kind,
                          "detail": detail}

    def frame(self) -> pd.DataFrame:
        rows = []
        for r in self.rows.values():
            more = len(r["places"]) - 1
            location = r["places"][0] + (f" (und {more} weitere Stelle{'n' if more > 1 else ''})" if more else "")
            rows.append({**{k: v for k, v in r.items() if k != "places"}, "location": location})
        return pd.DataFrame(rows, columns=FINDING_COLUMNS)


# ---------------------------------------------------------------------------
# what must not be published: from the commune's survey responses (in memory only)
# ---------------------------------------------------------------------------


@dataclass
class Secrets:
    """Values of the commune's response files the output must not contain. Values map to
    "file, row" so a finding can name where the value came from without repeating it."""

    answers: dict[str, str] = field(default_factory=dict)  # normalised free-text answer -> origin
    ids: dict[str, str] = field(default_factory=dict)  # respondent id -> origin
    times: dict[str, str] = field(default_factory=dict)  # "YYYY-MM-DD HH:MM" -> origin
    days: dict[str, str] = field(default_factory=dict)  # "YYYY-MM-DD" -> origin
    columns: set[str] = field(default_factory=set)  # response-file headings and item ids (case-folded)
    records: set[int] = field(default_factory=set)  # numbers of records (per file)

    distinctive_ids: dict[str, str] = field(default_factory=dict)  # ids that are no ordinary number


def _distinctive_id(value: str) -> bool:
    v = value.strip()
    if len(v) < 4:
        return False
    if re.fullmatch(r"\d+", v):
        return len(v) >= DISTINCTIVE_ID_DIGITS
    return bool(re.search(r"[A-Za-z]", v)) or len(re.sub(r"\D", "", v)) >= DISTINCTIVE_ID_DIGITS


def _id_text(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    return text or None


def _minute(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d %H:%M")


_COMBINING = re.compile(r"[\u0300-\u036f]+")
_NON_WORD = re.compile(r"[\W_]+")
_STREET = re.compile(r"\bstr\b")
_STREET_JOIN = re.compile(r"\b(?!(?:am|an|auf|bei|beim|das|dem|den|der|die|im|in|zum|zur)\b)(\w+) (strasse|gasse|allee)\b")


def fold(text: object) -> str:
    """Comparable form of a text for the free-text search: case, ß/ss, umlauts (ä = ae = a),
    accents, punctuation and spacing do not matter; "Str." = "Straße", "Goethe-Straße" =
    "Goethestraße" (as in the place matching, :func:`kit.gazetteer.normalize`, but fast enough
    for whole reports)."""
    s = unicodedata.normalize("NFKD", str(text).casefold())
    s = _NON_WORD.sub(" ", _COMBINING.sub("", s))
    s = s.replace("ae", "a").replace("oe", "o").replace("ue", "u")
    s = _STREET_JOIN.sub(r"\1\2", _STREET.sub("strasse", s))
    return " ".join(s.split())


def _gazetteer_aliases(params: dict, districts: Mapping[str, str]) -> list[str]:
    """Normalised names of the commune's districts and places (public, not free text)."""
    names = [fold(n) for n in districts.values()]
    try:
        from kit.survey.places import gazetteer_from_params, read_places

        g = gazetteer_from_params(params, dict(districts), read_places(params))
        names += [fold(n) for n in g.entries["name"].astype(str).tolist() + g.aliases["alias"].astype(str).tolist()]
    except Exception:  # noqa: BLE001, S110 - the names only shorten answers; without them more are searched
        pass
    return sorted({n for n in names if n}, key=len, reverse=True)


def _response_sources(params: dict) -> list[tuple[str, str, Mapping]]:
    """(responses, codebook, column_map) of the current and an earlier wave."""
    survey = params.get("survey") or {}
    out = []
    if survey.get("responses"):
        out.append((survey["responses"], survey["codebook"], survey.get("column_map") or {}))
    prev = survey.get("previous_wave") or {}
    if prev.get("responses"):
        out.append((prev["responses"], prev.get("codebook") or survey["codebook"], prev.get("column_map") or {}))
    return out


def load_secrets(params: dict, districts: Mapping[str, str] | None = None) -> tuple[Secrets, list[str]]:
    """Free-text answers, ids and submission times of the commune's response files (kit.survey import).
    Returns the secrets and German notes on files that could not be read."""
    from kit.survey.codebook import load_codebook
    from kit.survey.importing import read_responses

    secrets, notes = Secrets(), []
    districts = dict(districts or {})
    aliases = None
    for responses, codebook_path, column_map in _response_sources(params):
        path = Path(responses)
        try:
            codebook = load_codebook(codebook_path, districts or None)
            raw = read_responses(path, codebook, column_map)
        except Exception as exc:  # noqa: BLE001 - the check goes on without this file
            notes.append(f"{path.name}: Antwortdatei nicht lesbar ({str(exc).splitlines()[0][:200]}); "
                         "Freitexte, Fallnummern und Abgabezeitpunkte daraus nicht geprüft.")
            continue
        first = int(raw.attrs.get("first_data_row", 2))
        secrets.records.add(len(raw))
        secrets.columns |= {str(c).casefold() for c in codebook.items}
        secrets.columns |= {str(c).casefold() for c in column_map}
        secrets.columns |= {str(c).casefold() for c in raw.attrs.get("ignored_columns", [])
                            if str(c).casefold() in SYSTEM_COLUMNS}

        def origin(i: int, name: str = path.name, first: int = first) -> str:
            return f"{name}, Zeile {first + i}"

        for i, v in enumerate(raw["id"].tolist()):
            text = _id_text(v)
            if text:
                secrets.ids.setdefault(text, origin(i))
        for name in ("submitdate", "startdate", "datestamp"):
            values = (raw.attrs.get("paradata") or {}).get(name) or []
            stamps = pd.to_datetime(pd.Series(values, dtype=object), errors="coerce", format="mixed")
            for i, ts in enumerate(stamps):
                if pd.notna(ts):
                    secrets.times.setdefault(_minute(ts), origin(i))
                    secrets.days.setdefault(ts.strftime("%Y-%m-%d"), origin(i))
        text_items = [it.id for it in codebook.items.values() if it.type == "text"]
        if text_items and aliases is None:
            aliases = _gazetteer_aliases(params, districts)
        for item in text_items:
            for i, v in enumerate(raw[item].tolist()):
                if not isinstance(v, str) or not v.strip():
                    continue
                norm = fold(v)
                rest = f" {norm} "
                for alias in aliases or []:
                    rest = rest.replace(f" {alias} ", " ")
                if len(rest.split()) >= FREE_TEXT_MIN_WORDS:
                    secrets.answers.setdefault(norm, f"{origin(i)}, Frage {item}")
    secrets.distinctive_ids = {i: o for i, o in secrets.ids.items() if _distinctive_id(i)}
    return secrets, notes


# ---------------------------------------------------------------------------
# reading the output as a reader sees it
# ---------------------------------------------------------------------------


@dataclass
class Text:
    location: str
    text: str


@dataclass
class Table:
    location: str
    frame: pd.DataFrame  # every cell as text
    html: bool = False  # a report table (German number format)


_DATA_URI = re.compile(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=\s]{100,}")


class _PageReader(HTMLParser):
    """Visible text and tables of an HTML page (stdlib parser: several times faster than a tree)."""

    HIDDEN = frozenset({"script", "style", "noscript", "template"})

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hidden = 0
        self.text: list[str] = []
        self.open: list[dict] = []
        self.tables: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
            return
        self.text.append(" ")
        if tag == "table":
            self.open.append({"rows": [], "row": None, "cell": None, "caption": None, "in_caption": False})
        elif self.open:
            t = self.open[-1]
            if tag == "tr":
                t["row"] = []
                t["rows"].append(t["row"])
            elif tag in ("td", "th"):
                if t["row"] is None:
                    t["row"] = []
                    t["rows"].append(t["row"])
                t["cell"] = []
                t["row"].append(t["cell"])
            elif tag == "caption":
                t["caption"], t["in_caption"] = [], True

    def handle_endtag(self, tag):
        if tag in self.HIDDEN:
            self.hidden = max(0, self.hidden - 1)
            return
        self.text.append(" ")
        if not self.open:
            return
        t = self.open[-1]
        if tag == "table":
            self.tables.append(self.open.pop())
        elif tag in ("td", "th"):
            t["cell"] = None
        elif tag == "tr":
            t["row"], t["cell"] = None, None
        elif tag == "caption":
            t["in_caption"] = False

    def handle_data(self, data):
        if self.hidden:
            return
        self.text.append(data)
        if self.open:
            t = self.open[-1]
            if t["cell"] is not None:
                t["cell"].append(data)
            elif t["in_caption"]:
                t["caption"].append(data)


def _squash(parts: Sequence[str]) -> str:
    return re.sub(r"\s+", " ", " ".join(parts)).strip()


def _html_parts(page: str, where: str) -> tuple[list[Text], list[Table]]:
    reader = _PageReader()
    reader.feed(_DATA_URI.sub("data:", page))
    reader.close()
    tables = []
    for k, t in enumerate(reader.tables, 1):
        rows = [[_squash(c) for c in r] for r in t["rows"] if r]
        if not rows:
            continue
        title = _squash(t["caption"] or [])
        head, body = rows[0], rows[1:]
        width = max(len(r) for r in rows)
        head = head + [f"Spalte {i + 1}" for i in range(len(head), width)]
        body = [r + [""] * (width - len(r)) for r in body]
        frame = pd.DataFrame(body, columns=_unique(head))
        label = f"{where}Tabelle {k}" + (f" „{title[:60]}“" if title else "")
        tables.append(Table(label, frame, html=True))
    return [Text(f"{where}Text".strip(), "".join(reader.text))], tables


def _unique(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        n = str(n)
        if n in seen:
            seen[n] += 1
            out.append(f"{n} ({seen[n]})")
        else:
            seen[n] = 0
            out.append(n)
    return out


def _notebook_parts(data: dict) -> tuple[list[Text], list[Table]]:
    texts, tables = [], []

    def joined(v) -> str:
        return "".join(v) if isinstance(v, list) else str(v)

    for i, cell in enumerate(data.get("cells") or [], 1):
        where = f"Zelle {i}"
        texts.append(Text(f"{where} (Quelltext)", joined(cell.get("source", ""))))
        for out in cell.get("outputs") or []:
            kind = out.get("output_type")
            if kind == "stream":
                texts.append(Text(f"{where} (Ausgabe)", joined(out.get("text", ""))))
            elif kind == "error":
                texts.append(Text(f"{where} (Fehler)", " ".join([out.get("ename", ""), out.get("evalue", ""),
                                                                  *out.get("traceback", [])])))
            for mime, value in (out.get("data") or {}).items():
                if mime == "text/html":
                    t, tb = _html_parts(joined(value), f"{where}, ")
                    texts += t
                    tables += tb
                elif mime.startswith("text/") or mime in ("application/json",):
                    texts.append(Text(f"{where} (Ausgabe)", joined(value) if not isinstance(value, dict)
                                      else json.dumps(value, ensure_ascii=False)))
    return texts, tables


def _json_tables(data, where: str = "") -> list[Table]:
    """Lists of records inside a JSON document as tables."""
    out = []
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        frame = pd.DataFrame(data).astype(str)
        out.append(Table(where or "Liste", frame))
    if isinstance(data, dict):
        for k, v in data.items():
            out += _json_tables(v, f"{where}/{k}" if where else str(k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            if isinstance(v, (dict, list)):
                out += _json_tables(v, f"{where}[{i}]")
    return out


def _read_csv(text: str) -> pd.DataFrame | None:
    import io

    from kit.io import sniff_separator

    try:
        sep = sniff_separator(text)
    except Exception:  # noqa: BLE001
        sep = ","
    try:
        return pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except Exception:  # noqa: BLE001 - a text file that is no table is still searched as text
        return None


def _pdf_text(path: Path) -> list[Text]:
    try:
        import pypdfium2 as pdfium
    except ImportError:  # pragma: no cover - a dependency of the kit's PDF test
        from pypdf import PdfReader

        return [Text(f"Seite {i}", p.extract_text() or "") for i, p in enumerate(PdfReader(str(path)).pages, 1)]
    pdf = pdfium.PdfDocument(str(path))
    try:
        out = []
        for i in range(len(pdf)):
            page = pdf[i]
            textpage = page.get_textpage()
            out.append(Text(f"Seite {i + 1}", textpage.get_text_range()))
            textpage.close()
            page.close()
        return out
    finally:
        pdf.close()


def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def read_output_file(path: Path) -> tuple[list[Text], list[Table]]:
    """The texts and tables a reader of ``path`` sees (empty for images and binaries)."""
    suffix = path.suffix.lower()
    if suffix in SKIP_SUFFIXES or path.stat().st_size > MAX_TEXT_BYTES:
        return [], []
    if suffix == ".pdf":
        return _pdf_text(path), []
    if suffix in (".xlsx", ".xlsm", ".xls"):
        sheets = pd.read_excel(path, sheet_name=None, dtype=str, keep_default_na=False)
        tables = [Table(f"Blatt {name}", df) for name, df in sheets.items()]
        return [Text(t.location, t.frame.to_csv(index=False)) for t in tables], tables
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        return [], []
    text = _decode(raw)
    if suffix in (".html", ".htm", ".xhtml", ".svg"):
        return _html_parts(text, "")
    if suffix == ".ipynb":
        try:
            return _notebook_parts(json.loads(text))
        except ValueError:
            return [Text("", text)], []
    if suffix == ".json":
        try:
            data = json.loads(text)
        except ValueError:
            return [Text("", text)], []
        return [Text("", json.dumps(data, ensure_ascii=False))], _json_tables(data)
    if suffix in (".csv", ".tsv", ".txt") or suffix == "":
        frame = _read_csv(text) if suffix in (".csv", ".tsv") else None
        return [Text("", text)], ([Table("", frame)] if frame is not None else [])
    return [Text("", text)], []


# ---------------------------------------------------------------------------
# checks on texts
# ---------------------------------------------------------------------------


def _check_text(doc: Text, file: str, secrets: Secrets, out: _Collector) -> None:
    raw = doc.text
    if not raw.strip():
        return
    where = doc.location or "Text"

    def at(pos: int) -> str:  # a plain text file (log, CSV): the line
        return where if doc.location else f"Zeile {raw.count(chr(10), 0, pos) + 1}"

    if secrets.answers:
        norm = f" {fold(raw)} "
        for answer, origin in secrets.answers.items():
            if f" {answer} " in norm:
                out.add(file, where, KIND_FREE_TEXT,
                        f"Freitextantwort aus der Befragung ({origin}) steht wörtlich im Text.")
    if secrets.ids:
        for m in ID_CONTEXT.finditer(raw):
            value = m.group(1).rstrip(".,;:)")
            if value in secrets.ids:
                out.add(file, at(m.start()), KIND_ID, f"Fallnummer eines Fragebogens ({secrets.ids[value]}) steht "
                                              "neben einer Bezeichnung wie „ID“ oder „Fallnummer“.")
        distinctive = secrets.distinctive_ids
        if distinctive:
            tokens = set(re.findall(r"[\w./-]+", raw))
            tokens |= {t.strip(".,;:-/") for t in tokens}
            for value in tokens & set(distinctive):
                out.add(file, where, KIND_ID, f"Fallnummer eines Fragebogens ({distinctive[value]}) steht im Text.")
    if secrets.times:
        for m in ISO_TIME.finditer(raw):
            _time_hit(f"{m.group(1)}-{m.group(2)}-{m.group(3)} {int(m.group(4)):02d}:{m.group(5)}",
                      file, at(m.start()), secrets, out)
        for m in GERMAN_TIME.finditer(raw):
            _time_hit(f"{m.group(3)}-{int(m.group(2)):02d}-{int(m.group(1)):02d} {int(m.group(4)):02d}:{m.group(5)}",
                      file, at(m.start()), secrets, out)


def _time_hit(key: str, file: str, where: str, secrets: Secrets, out: _Collector) -> None:
    if key in secrets.times:
        out.add(file, where, KIND_DATE,
                f"Zeitpunkt, zu dem ein Fragebogen abgeschickt oder begonnen wurde ({secrets.times[key]}).")


# ---------------------------------------------------------------------------
# checks on tables: row-level records, id and date columns
# ---------------------------------------------------------------------------


def _norm_heading(name) -> str:
    return re.sub(r"\s+", " ", str(name)).strip().casefold()


def _check_table_records(table: Table, file: str, secrets: Secrets, respondents: set[int],
                         out: _Collector) -> None:
    frame = table.frame
    where = table.location or "Tabelle"
    heads = {c: _norm_heading(c) for c in frame.columns}
    personal = [c for c, h in heads.items() if h in PERSONAL_COLUMNS or h in SYSTEM_COLUMNS]
    if personal:
        out.add(file, where, KIND_RECORDS, "Tabelle mit personenbezogenen Spalten (" + ", ".join(
            map(str, personal[:5])) + "): Einzeldatensätze von Befragten oder Einwohnern.")
    answer_cols = [c for c, h in heads.items() if h in secrets.columns]
    if len(answer_cols) >= RECORD_COLUMNS_MIN and len(frame):
        out.add(file, where, KIND_RECORDS, f"Tabelle mit {len(answer_cols)} Spalten der Antwortdatei "
                                           f"(z. B. {', '.join(map(str, answer_cols[:3]))}): Antworten einzelner "
                                           "Befragter.")
    if len(frame) >= ROW_LEVEL_MIN_ROWS and len(frame) in respondents and frame.shape[1] >= 2:
        out.add(file, where, KIND_RECORDS, f"Tabelle mit genau so vielen Zeilen ({len(frame)}) wie Fragebögen: "
                                           "jede Zeile entspricht einem Befragten.")
    for col, h in heads.items():
        values = frame[col].astype(str).str.strip()
        if secrets.ids and h in ID_COLUMNS:
            hits = values[values.isin(secrets.ids.keys())]
            if len(hits) >= 1 and (len(hits) >= 3 or len(hits) == len(values)):
                out.add(file, f"{where}, Spalte {col}", KIND_ID,
                        f"Spalte mit {len(hits)} Fallnummern von Fragebögen (z. B. {secrets.ids[hits.iloc[0]]}).")
        if secrets.days and len(values):
            dated = values[values.str.match(DAY_START)].unique()[:5000]
            days = {d for d in (_day_of(v) for v in dated) if d in secrets.days}
            if len(days) >= DATE_COLUMN_MIN:
                out.add(file, f"{where}, Spalte {col}", KIND_DATE,
                        f"Spalte mit {len(days)} Tagen, an denen Fragebögen abgeschickt wurden "
                        f"(z. B. {secrets.days[min(days)]}).")


def _day_of(value: str) -> str | None:
    m = ISO_DAY.match(value)
    if m:
        return f"{m.group(1)}-{m.group(2)}-{m.group(3)}"
    m = GERMAN_DAY.match(value)
    if m:
        return f"{m.group(3)}-{int(m.group(2)):02d}-{int(m.group(1)):02d}"
    return None


# ---------------------------------------------------------------------------
# differencing: hidden counts fixed by the published ones
# ---------------------------------------------------------------------------


def recoverable(known: Sequence[float | None], relations: Sequence[Mapping[int, float]]) -> dict[int, float]:
    """Hidden quantities (``None`` in ``known``) that the linear relations ``sum(coef * x) = 0``
    and the known values determine, over all non-negative solutions, with their values
    (:func:`recoverable_many` for one system)."""
    return recoverable_many([(known, relations)])[0]


def _system(known, relations):
    unknown = [j for j, v in enumerate(known) if v is None or (isinstance(v, float) and np.isnan(v))]
    if not unknown or not relations:
        return None
    pos = {j: i for i, j in enumerate(unknown)}
    A = np.zeros((len(relations), len(unknown)))
    b = np.zeros(len(relations))
    for r, rel in enumerate(relations):
        for j, a in rel.items():
            if j in pos:
                A[r, pos[j]] += a
            else:
                b[r] -= a * float(known[j])
    rows = np.abs(A).sum(axis=1) > 0
    if not rows.any():
        return None
    return unknown, A[rows], b[rows]


def recoverable_many(systems: Sequence[tuple[Sequence[float | None], Sequence[Mapping[int, float]]]]
                     ) -> list[dict[int, float]]:
    """:func:`recoverable` for many independent systems (e.g. every item x group of a table) with one
    linear programme: it finds the hidden quantities that can be positive at all (the others are 0 in
    every solution; maximise the sum of t_j <= y_j, t_j <= 1 over the cone of scaled solutions
    A y = s b, s >= 1, y >= 0, separately per system). With those zeros fixed, a quantity is
    determined iff its unit vector lies in the row space of the remaining equalities. A system whose
    published numbers contradict its relations gives no finding here."""
    from scipy import sparse
    from scipy.linalg import null_space
    from scipy.optimize import linprog

    built = [_system(k, r) for k, r in systems]
    live = [i for i, s in enumerate(built) if s is not None]
    out: list[dict[int, float]] = [{} for _ in systems]
    if not live:
        return out
    n_tot = sum(len(built[i][0]) for i in live)
    offset = 0
    y_cols, s_col = [], n_tot * 2
    eq_rows, eq_cols, eq_vals = [], [], []
    row0 = 0
    for k, i in enumerate(live):
        unknown, A, b = built[i]
        n, m = A.shape[1], A.shape[0]
        rr, cc = np.nonzero(A)
        eq_rows += (rr + row0).tolist()
        eq_cols += (cc + offset).tolist()
        eq_vals += A[rr, cc].tolist()
        nz = np.flatnonzero(b)
        eq_rows += (nz + row0).tolist()
        eq_cols += [s_col + k] * len(nz)
        eq_vals += (-b[nz]).tolist()
        y_cols.append(offset)
        offset += n
        row0 += m
    n_var = 2 * n_tot + len(live)
    A_eq = sparse.csr_matrix((eq_vals, (eq_rows, eq_cols)), shape=(row0, n_var))
    eye = sparse.identity(n_tot, format="csr")
    A_ub = sparse.hstack([-eye, eye, sparse.csr_matrix((n_tot, len(live)))], format="csr")
    c = np.r_[np.zeros(n_tot), -np.ones(n_tot), np.zeros(len(live))]
    bounds = [(0, None)] * n_tot + [(0, 1)] * n_tot + [(1, None)] * len(live)
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(n_tot), A_eq=A_eq, b_eq=np.zeros(row0), bounds=bounds,
                  method="highs")
    if res.status != 0:  # some system is inconsistent: solve them one by one
        if len(live) == 1:
            return out
        for i in live:
            out[i] = recoverable_many([systems[i]])[0]
        return out
    t = res.x[n_tot:2 * n_tot]
    for k, i in enumerate(live):
        unknown, A, b = built[i]
        n = A.shape[1]
        zero = t[y_cols[k]:y_cols[k] + n] < 0.5
        M = np.vstack([A, np.eye(n)[zero]]) if zero.any() else A
        rhs = np.r_[b, np.zeros(int(zero.sum()))]
        sol = np.linalg.lstsq(M, rhs, rcond=None)[0]
        N = null_space(M)
        touched = np.abs(A).sum(axis=0) > 0
        for v, j in enumerate(unknown):
            if touched[v] and (N.size == 0 or np.abs(N[v]).max() < 1e-9):
                out[i][j] = float(max(round(sol[v], 6), 0.0))
    return out


# ---------------------------------------------------------------------------
# the survey result files
# ---------------------------------------------------------------------------


def _num(series: pd.Series) -> pd.Series:
    return pd.to_numeric(series.replace({"": None}), errors="coerce")


def _shown(x) -> bool:
    return x is not None and not pd.isna(x)


def _check_estimates(df: pd.DataFrame, file: str, policy: DisclosurePolicy, out: _Collector) -> None:
    need = {"item", "group", "category", "n_unweighted", "n_cell", "estimate", "kind"}
    if not need <= set(df.columns):
        return
    df = df.reset_index(drop=True)
    n = _num(df["n_unweighted"])
    cell = _num(df["n_cell"])
    est = _num(df["estimate"])
    kinds = df["kind"].astype(str).to_numpy()
    cats = df["category"].astype(str).replace({"nan": ""}).to_numpy()
    gv = df["group_var"].astype(str).replace({"nan": ""}) if "group_var" in df.columns else pd.Series("", df.index)

    def where(i: int, col: str) -> str:
        label = " / ".join(x for x in (str(df.at[i, "item"]), gv.iat[i], str(df.at[i, "group"]),
                                       cats[i] and f"Kategorie {cats[i]}") if x)
        return f"Zeile {i + 2} ({label}), Spalte {col}"

    for i in range(len(df)):
        if kinds[i] != "mean" and _shown(cell.iat[i]) and policy.small_count(cell.iat[i]):
            out.add(file, where(i, "n_cell"), KIND_SMALL,
                    f"Zelle mit weniger als {policy.min_cell} Befragten veröffentlicht.")
        if _shown(n.iat[i]) and policy.small_count(n.iat[i]):
            out.add(file, where(i, "n_unweighted"), KIND_SMALL,
                    f"Basis mit weniger als {policy.min_cell} Befragten veröffentlicht.")
        if _shown(est.iat[i]) and _shown(n.iat[i]) and not policy.base_ok(n.iat[i]):
            out.add(file, where(i, "estimate"), KIND_SMALL,
                    f"{'Mittelwert' if kinds[i] == 'mean' else 'Anteil'} auf einer Basis von weniger als "
                    f"{policy.min_base} Befragten veröffentlicht.")
        if _shown(est.iat[i]) and not _shown(n.iat[i]):
            out.add(file, where(i, "estimate"), KIND_SMALL, "Wert veröffentlicht, obwohl seine Basis verborgen ist.")
    # differencing within each item x group (answer categories, collapsed categories, base)
    blocks = []
    keys = [df["item"].astype(str), gv, df["group"].astype(str)]
    for idx in df.groupby(keys, sort=False).indices.values():
        idx = [int(i) for i in idx if kinds[i] != "mean"]
        if idx:
            blocks += _estimate_blocks(idx, kinds, cats, cell, n, where)
    hidden = [blk for blk in blocks if any(v is None for v in blk[0][:blk[4] + 1])]
    solved = dict(zip(map(id, hidden), recoverable_many([(blk[0], blk[1]) for blk in hidden])))
    for blk in blocks:
        known, _, complements, names, base = blk
        if id(blk) in solved:
            found = solved[id(blk)]
        else:  # nothing hidden: only the complements
            found = {v: known[base] - known[k] for v, k in complements.items()}
        for v, value in found.items():
            if v in complements:
                if policy.small_count(value):
                    out.add(file, names[complements[v]], KIND_DIFFERENCING,
                            f"Basis minus veröffentlichte Zelle ergibt weniger als {policy.min_cell} Befragte "
                            "(nicht genannt / übrige Kategorien).")
            else:
                out.add(file, names[v], KIND_DIFFERENCING,
                        "Verborgene Zahl lässt sich aus den veröffentlichten Zellen und der Basis derselben "
                        "Frage und Gruppe ausrechnen.")


class _Names:
    """Locations of a block's rows, phrased only when a finding needs one."""

    def __init__(self, idx, where):
        self.idx, self.where = idx, where

    def __getitem__(self, k: int) -> str:
        return self.where(self.idx[k], "n_cell") if k < len(self.idx) else self.where(self.idx[0], "n_unweighted")


def _estimate_blocks(idx, kinds, cats, cell, n, where) -> list[tuple]:
    """(known, relations, complements, names, base position) of one item x group (per base)."""
    bases = n.iloc[idx].dropna().unique()
    if len(bases) > 1:  # several bases in one group: one block per base
        return [blk for b in bases for blk in _estimate_blocks([i for i in idx if n.iat[i] == b], kinds, cats,
                                                                cell, n, where)]
    known: list[float | None] = [float(cell.iat[i]) if _shown(cell.iat[i]) else None for i in idx]
    base = len(known)
    known.append(float(bases[0]) if len(bases) else None)
    names = _Names(idx, where)
    relations: list[dict[int, float]] = []
    complements: dict[int, int] = {}
    single = {cats[i]: k for k, i in enumerate(idx) if kinds[i] in ("distribution", "multi") and "+" not in cats[i]}
    dist = [k for k, i in enumerate(idx) if kinds[i] == "distribution" and "+" not in cats[i]]
    if dist:  # the categories of a distribution add up to its base (every code is listed)
        relations.append({base: 1.0, **{k: -1.0 for k in dist}})
    for k, i in enumerate(idx):
        parts = cats[i].split("+")
        if kinds[i] == "multi" or ("+" in cats[i] and not all(p in single for p in parts)):
            known.append(None)  # ticked + not ticked = base
            complements[len(known) - 1] = k
            relations.append({base: 1.0, k: -1.0, len(known) - 1: -1.0})
        elif "+" in cats[i]:
            rel = {k: 1.0}
            for p in parts:
                rel[single[p]] = rel.get(single[p], 0.0) - 1.0
            relations.append(rel)
    return [(known, relations, complements, names, base)]


def _check_margins(df: pd.DataFrame, file: str, col: str, share_col: str | None, total: float | None,
                   total_label: str, policy: DisclosurePolicy, out: _Collector, zero_is_small: bool = True,
                   margin_col: str = "margin", total_margin: str | None = None, share_base: str | None = None) -> None:
    """A count column by margin: small counts, hidden counts next to a shown share, and categories of a
    margin that add up to the total (hidden ones determined)."""
    if col not in df.columns:
        return
    df = df.reset_index(drop=True)
    counts = _num(df[col])
    labels = df.get("label", df.get(margin_col, pd.Series([""] * len(df)))).astype(str)
    for i, c in enumerate(counts):
        if _shown(c) and policy.small_count(c, zero_is_small):
            out.add(file, f"Zeile {i + 2} ({labels.iat[i]}), Spalte {col}", KIND_SMALL,
                    f"Zahl von weniger als {policy.min_cell} Befragten veröffentlicht.")
        if share_col and share_col in df.columns and not _shown(c) and _shown(_num(df[share_col]).iat[i]):
            base = _num(df[share_base]).iat[i] if share_base else total
            if _shown(base):
                out.add(file, f"Zeile {i + 2} ({labels.iat[i]}), Spalte {share_col}", KIND_DIFFERENCING,
                        f"Verborgene Zahl in {col} lässt sich aus dem veröffentlichten Anteil und der Basis "
                        "ausrechnen.")
    if margin_col not in df.columns:
        return
    if total_margin is not None:
        tot = df.index[df[margin_col].astype(str) == total_margin]
        if len(tot) != 1:
            return
        total = counts.iat[int(tot[0])]
        t_idx: int | None = int(tot[0])
    else:
        t_idx = None
    for margin, idx in df.groupby(margin_col, sort=False).indices.items():
        if str(margin) == str(total_margin):
            continue
        known: list[float | None] = [float(counts.iat[i]) if _shown(counts.iat[i]) else None for i in idx]
        known.append(float(total) if _shown(total) else None)
        rel = {len(idx): 1.0, **{k: -1.0 for k in range(len(idx))}}
        if all(v is not None for v in known) and abs(known[-1] - sum(known[:-1])) > 1e-9:
            continue  # the categories do not add up to the total (a category not shown): no relation
        for v in recoverable(known, [rel]):
            row = int(idx[v]) if v < len(idx) else t_idx
            where = f"Zeile {row + 2} ({labels.iat[row]}), Spalte {col}" if row is not None else total_label
            out.add(file, where, KIND_DIFFERENCING,
                    f"Verborgene Zahl ist die Differenz aus {total_label} und den veröffentlichten Zahlen "
                    f"der Gruppe „{margin}“.")


def _check_cleaning_log(df: pd.DataFrame, file: str, policy: DisclosurePolicy, out: _Collector) -> None:
    if not {"rule", "cases"} <= set(df.columns):
        return
    df = df.reset_index(drop=True)
    for col in ("cases", "values", "removed"):
        if col in df.columns:
            for i, v in enumerate(_num(df[col])):
                if _shown(v) and policy.small_count(v, zero_is_small=False):
                    out.add(file, f"Zeile {i + 2} ({df.at[i, 'rule']}), Spalte {col}", KIND_SMALL,
                            f"Zahl von 1 bis {policy.min_cell - 1} Fragebögen veröffentlicht.")
    rule = df["rule"].astype(str).tolist()
    pos = {r: i for i, r in enumerate(rule)}
    if not {"records_in", "cases_dropped", "cases_out"} <= set(pos):
        return
    cases = _num(df["cases"])
    removed = _num(df["removed"]) if "removed" in df.columns else pd.Series(np.nan, index=df.index)
    removes = (df["removes"].astype(str).str.lower() == "true").to_numpy() if "removes" in df.columns else \
        np.zeros(len(df), dtype=bool)
    known: list[float | None] = [float(c) if _shown(c) else None for c in cases]
    for i in np.flatnonzero(removes):
        known[i] = float(removed.iat[i]) if _shown(removed.iat[i]) else None
    relations = [{pos["records_in"]: 1.0, pos["cases_out"]: -1.0, pos["cases_dropped"]: -1.0}]
    if removes.any() and "removed" in df.columns:
        relations.append({pos["cases_dropped"]: 1.0, **{int(i): -1.0 for i in np.flatnonzero(removes)}})
    for v in recoverable(known, relations):
        out.add(file, f"Zeile {v + 2} ({rule[v]}), Spalte cases", KIND_DIFFERENCING,
                    "Verborgene Zahl ergibt sich aus eingelesenen, entfernten und ausgewerteten Fragebögen.")


def _check_bases(df: pd.DataFrame, file: str, rules: Sequence[tuple[str, str | None]], policy: DisclosurePolicy,
                 out: _Collector, label_col: str | None = None) -> None:
    """(base column, value column): the base below min_cell is small; the value on a base below
    min_base is a share on too small a base (value None: the base itself needs min_base)."""
    df = df.reset_index(drop=True)
    for base_col, value_col in rules:
        if base_col not in df.columns:
            continue
        base = _num(df[base_col])
        values = _num(df[value_col]) if value_col and value_col in df.columns else None
        for i, b in enumerate(base):
            label = f" ({df.at[i, label_col]})" if label_col and label_col in df.columns else ""
            if not _shown(b):
                continue
            if value_col is None:
                if not policy.base_ok(b):
                    out.add(file, f"Zeile {i + 2}{label}, Spalte {base_col}", KIND_SMALL,
                            f"Zahl unter der Mindestbasis von {policy.min_base} Befragten veröffentlicht.")
                continue
            if policy.small_count(b):
                out.add(file, f"Zeile {i + 2}{label}, Spalte {base_col}", KIND_SMALL,
                        f"Basis mit weniger als {policy.min_cell} Befragten veröffentlicht.")
            if values is not None and _shown(values.iat[i]) and not policy.base_ok(b):
                out.add(file, f"Zeile {i + 2}{label}, Spalte {value_col}", KIND_SMALL,
                        f"Anteil auf einer Basis von weniger als {policy.min_base} Befragten veröffentlicht.")


def _check_meta(data: dict, file: str, policy: DisclosurePolicy, out: _Collector) -> None:
    for key in ("respondents", "records_in"):
        v = data.get(key)
        if isinstance(v, (int, float)) and policy.small_count(v):
            out.add(file, key, KIND_SMALL, f"Zahl von weniger als {policy.min_cell} Befragten veröffentlicht.")
    v = data.get("cases_dropped")
    if isinstance(v, (int, float)) and policy.small_count(v, zero_is_small=False):
        out.add(file, "cases_dropped", KIND_SMALL, f"Zahl von 1 bis {policy.min_cell - 1} Fragebögen veröffentlicht.")
    if all(isinstance(data.get(k), (int, float)) for k in ("records_in", "respondents")) and \
            data.get("cases_dropped") is None:
        dropped = data["records_in"] - data["respondents"]
        if policy.small_count(dropped, zero_is_small=False):
            out.add(file, "cases_dropped", KIND_DIFFERENCING,
                    "Verborgene Zahl entfernter Fragebögen ist die Differenz aus eingelesenen und ausgewerteten.")


SURVEY_TABLES = ("survey_estimates.csv", "survey_cleaning_log.csv", "survey_response_rates.csv",
                 "survey_sample_vs_population.csv", "survey_free_text_topics.csv", "survey_places_mentions.csv",
                 "survey_scales.csv", "survey_dark_figure.csv", "survey_meta.json")


def _check_result_file(name: str, data, file: str, policy: DisclosurePolicy, respondents: float | None,
                       out: _Collector) -> None:
    if name == "survey_meta.json" and isinstance(data, dict):
        _check_meta(data, file, policy, out)
        return
    if not isinstance(data, pd.DataFrame):
        return
    if name == "survey_estimates.csv":
        _check_estimates(data, file, policy, out)
    elif name == "survey_cleaning_log.csv":
        _check_cleaning_log(data, file, policy, out)
    elif name == "survey_response_rates.csv":
        _check_margins(data, file, "returned", "rate", None, "Rücklauf gesamt", policy, out,
                       total_margin="gesamt", share_base="issued")
    elif name == "survey_sample_vs_population.csv":
        _check_margins(data, file, "sample_n", "sample_share", respondents, "Zahl der Befragten", policy, out)
    elif name == "survey_free_text_topics.csv":
        d = data.rename(columns={"topic": "label"})
        total = _num(d.loc[d["label"] == "Antworten insgesamt", "mentions"]) if "label" in d.columns else None
        t = float(total.iat[0]) if total is not None and len(total) and _shown(total.iat[0]) else None
        _check_margins(d, file, "mentions", "share", t, "Antworten insgesamt", policy, out, margin_col="__none__")
    elif name == "survey_places_mentions.csv":
        d = data.rename(columns={"name": "label"})
        _check_margins(d, file, "mentions", None, None, "", policy, out, margin_col="__none__")
    elif name == "survey_scales.csv":
        _check_bases(data, file, [("n_complete", None), ("index_n", None)], policy, out, label_col="question")
    elif name == "survey_dark_figure.csv":
        _check_bases(data, file, [("prevalence_n", "prevalence"), ("reporting_n", "reporting_rate")], policy, out,
                     label_col="offence")


# ---------------------------------------------------------------------------
# report tables (HTML) with survey counts
# ---------------------------------------------------------------------------


def _german_int(text: str) -> int | None:
    t = text.strip()
    if not GERMAN_INT.match(t):
        return None
    return int(re.sub(r"\D", "", t))


def _german_number(text: str) -> float | None:
    t = text.strip().replace("%", "").replace("\u202f", "").replace("\u00a0", "").strip()
    if not re.fullmatch(r"[+-−]?[\d.]*\d(,\d+)?", t):
        return None
    return float(t.replace(".", "").replace(",", ".").replace("−", "-"))


def _check_html_table(table: Table, file: str, policy: DisclosurePolicy, out: _Collector) -> None:
    frame = table.frame
    heads = {str(c): str(c).strip() for c in frame.columns}
    counts = [c for c, h in heads.items() if h in HTML_COUNT_HEADINGS]
    min_base = [c for c, h in heads.items() if h in HTML_MIN_BASE_HEADINGS]
    shares = [c for c, h in heads.items() if h in HTML_SHARE_HEADINGS]
    if not counts and not min_base:
        return
    for i in range(len(frame)):
        label = str(frame.iat[i, 0])[:50]
        for col in counts:
            zero_small, is_base = HTML_COUNT_HEADINGS[heads[col]]
            v = _german_int(str(frame.at[frame.index[i], col]))
            if v is None:
                continue
            if policy.small_count(v, zero_is_small=zero_small):
                out.add(file, f"{table.location}, Zeile „{label}“, Spalte {col}", KIND_SMALL,
                        f"Zahl von weniger als {policy.min_cell} Befragten veröffentlicht.")
            if is_base and not policy.base_ok(v):
                for s in shares:
                    if _german_number(str(frame.at[frame.index[i], s])) is not None:
                        out.add(file, f"{table.location}, Zeile „{label}“, Spalte {s}", KIND_SMALL,
                                f"{heads[s]} auf einer Basis von weniger als {policy.min_base} Befragten "
                                "veröffentlicht.")
        for col in min_base:
            v = _german_int(str(frame.at[frame.index[i], col]))
            if v is not None and not policy.base_ok(v):
                out.add(file, f"{table.location}, Zeile „{label}“, Spalte {col}", KIND_SMALL,
                        f"Zahl unter der Mindestbasis von {policy.min_base} Befragten veröffentlicht.")


# ---------------------------------------------------------------------------
# one commune, a whole output folder
# ---------------------------------------------------------------------------


def _params_of(commune_dir: Path) -> tuple[dict | None, str | None]:
    from kit.params import PARAMS_DIR, load_params

    candidates = []
    try:
        status = json.loads((commune_dir / "status.json").read_text(encoding="utf-8"))
        if status.get("params_file"):
            candidates.append(Path(status["params_file"]))
    except (OSError, ValueError):
        pass
    candidates.append(PARAMS_DIR / f"{commune_dir.name}.yaml")
    problem = None
    for path in candidates:
        if path.exists():
            try:
                return load_params(path), None
            except Exception as exc:  # noqa: BLE001
                problem = f"{path.name}: {str(exc).splitlines()[0][:200]}"
    return None, problem or "keine Parameterdatei gefunden"


def _policy(params: dict | None, meta: dict | None) -> DisclosurePolicy:
    if params is not None:
        return policy_from_params(params)
    if isinstance(meta, dict) and isinstance(meta.get("privacy"), dict):
        try:
            return policy_from_params({"privacy": meta["privacy"]})
        except (KeyError, TypeError, ValueError):
            pass
    from kit.params import DEFAULTS_FILE
    from kit.yamlio import read_yaml

    return policy_from_params(read_yaml(DEFAULTS_FILE, "Parameterdatei").data)


def _districts(commune_dir: Path) -> dict[str, str]:
    path = commune_dir / "results" / "districts.csv"
    try:
        df = pd.read_csv(path, dtype=str)
        return dict(zip(df["district_id"], df["district_name"]))
    except (OSError, KeyError, ValueError):
        return {}


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def check_commune(commune_dir: str | Path, params: dict | None = None, commune: str | None = None) -> Report:
    """Check one commune's output folder (``output/<id>``). ``params``: the commune's loaded params
    (default: the file named in its status.json, else params/<id>.yaml)."""
    return _check_commune(Path(commune_dir), params, commune)[0]


def _check_commune(commune_dir: Path, params: dict | None, commune: str | None) -> tuple[Report, Secrets]:
    start = time.perf_counter()
    commune = commune or commune_dir.name
    out = _Collector(commune)
    problem = None
    if params is None:
        params, problem = _params_of(commune_dir)
    meta = None
    try:
        meta = json.loads((commune_dir / "results" / "survey_meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    policy = _policy(params, meta)
    if params is None:
        out.notes.append(f"{commune}: Parameter nicht lesbar ({problem}); Mindestzahlen aus den Ergebnissen bzw. den "
                         "Voreinstellungen, Freitexte, Fallnummern und Abgabezeitpunkte nicht geprüft.")
        secrets = Secrets()
    else:
        secrets, notes = load_secrets(params, _districts(commune_dir))
        out.notes += [f"{commune}: {n}" for n in notes]
    respondents = {int(n) for n in secrets.records}
    n_respondents = meta.get("respondents") if isinstance(meta, dict) else None
    if not isinstance(n_respondents, (int, float)):
        n_respondents = None
    if n_respondents is not None:
        respondents.add(int(n_respondents))
    files = _files(commune_dir)
    for path in files:
        rel = str(path.relative_to(commune_dir.parent))
        try:
            texts, tables = read_output_file(path)
        except Exception as exc:  # noqa: BLE001 - an unreadable file is named, the check goes on
            out.notes.append(f"{rel}: nicht lesbar ({str(exc).splitlines()[0][:120] if str(exc) else 'Fehler'}); "
                             "nicht geprüft.")
            continue
        for doc in texts:
            _check_text(doc, rel, secrets, out)
        for table in tables:
            _check_table_records(table, rel, secrets, respondents, out)
            if table.html:
                _check_html_table(table, rel, policy, out)
        if path.name in SURVEY_TABLES:
            data = meta if path.name == "survey_meta.json" else (tables[0].frame if tables else None)
            if data is not None:
                _check_result_file(path.name, data, rel, policy, n_respondents, out)
    return Report(out.frame(), out.notes, round(time.perf_counter() - start, 2), len(files)), secrets


def commune_dirs(output_dir: str | Path) -> list[Path]:
    """The commune folders of an output folder (those with a status.json or a results folder)."""
    output_dir = Path(output_dir)
    return sorted(p for p in output_dir.iterdir()
                  if p.is_dir() and ((p / "status.json").exists() or (p / "results").is_dir()))


def check_output(output_dir: str | Path, communes: Iterable[str] | None = None) -> Report:
    """Check every commune folder of ``output_dir`` (or only ``communes``); files directly in
    ``output_dir`` (index, comparison table) are searched for every commune's free text, ids
    and submission times."""
    from kit.errors import InputError, Problem

    start = time.perf_counter()
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        raise InputError(Problem(file=str(output_dir), value="Ordner nicht gefunden", expected=(
            "Ausgabeordner des Kits mit je einem Unterordner pro Kommune, z. B. output")))
    wanted = set(communes) if communes else None
    frames, notes, n_files = [], [], 0
    secrets_all: list[tuple[str, Secrets]] = []
    for folder in commune_dirs(output_dir):
        if wanted is not None and folder.name not in wanted:
            continue
        rep, secrets = _check_commune(folder, None, None)
        frames.append(rep.findings)
        notes += rep.notes
        n_files += rep.files
        secrets_all.append((folder.name, secrets))
    if wanted is not None:
        missing = sorted(wanted - {c for c, _ in secrets_all})
        notes += [f"{c}: kein Ordner in {output_dir}; nicht geprüft." for c in missing]
    else:
        for path in sorted(p for p in output_dir.iterdir() if p.is_file()):
            n_files += 1
            texts, tables = read_output_file(path)
            for commune, secrets in secrets_all:
                col = _Collector(commune)
                for doc in texts:
                    _check_text(doc, path.name, secrets, col)
                for table in tables:
                    _check_table_records(table, path.name, secrets, set(), col)
                frames.append(col.frame())
    frames = [f for f in frames if len(f)]
    findings = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=FINDING_COLUMNS)
    return Report(findings, notes, round(time.perf_counter() - start, 2), n_files)


# ---------------------------------------------------------------------------
# the batch: a finding marks the commune failed
# ---------------------------------------------------------------------------

STATUS_PREFIX = "Veröffentlichungsprüfung"


def _stage_of(rel: str, manifest: Mapping[str, list[str]]) -> str | None:
    name = Path(rel).name
    for prefix, stage in STAGE_FILE_PREFIX.items():
        if name.startswith(prefix):
            return stage
    for stage, files in manifest.items():
        if name in files:
            return stage
    if "/logs/" in f"/{rel}":
        for stage in STAGE_FILE_PREFIX.values():
            if name.startswith(stage + "."):
                return stage
    return None


def finding_text(row: Mapping) -> str:
    """One finding as a German line (no leaked value in it)."""
    return f"{row['file']} · {row['location']}: {row['kind']} – {row['detail']}"


def mark_failed(status, output_dir: str | Path, params: dict | None = None) -> Report:
    """Check the commune of a batch status (kit.runner.CommuneStatus) and, on findings, mark the
    stages whose files leak as failed (files of no stage, e.g. the Lagebericht or the kernel
    log: every completed stage), say why in German and withdraw the Lagebericht links. Returns
    the check's report; the status object is changed in place."""
    from kit.results import read_manifest

    commune_dir = Path(output_dir) / status.commune_id
    if not commune_dir.is_dir():
        return Report(pd.DataFrame(columns=FINDING_COLUMNS))
    try:
        report = check_commune(commune_dir, params=params, commune=status.commune_id)
    except Exception:  # noqa: BLE001 - a check that could not run must not pass the output as clean
        import traceback

        log = commune_dir / "logs" / "kernel.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{STATUS_PREFIX}: interner Fehler\n{traceback.format_exc()}\n")
        report = Report(pd.DataFrame([{"commune": status.commune_id, "file": "", "location": "",
                                       "kind": "Prüfung nicht möglich",
                                       "detail": "Interner Fehler der Prüfung (Details in logs/kernel.log)."}],
                                     columns=FINDING_COLUMNS))
    if report.ok:
        return report
    try:
        manifest = read_manifest(commune_dir / "results")
    except Exception:  # noqa: BLE001
        manifest = {}
    by_stage: dict[str | None, list[dict]] = {}
    for row in report.findings.to_dict("records"):
        by_stage.setdefault(_stage_of(row["file"], manifest), []).append(row)
    n = len(report.findings)
    for st in status.stages:
        rows = by_stage.get(st.stage, []) + ([] if st.status not in ("ok",) else by_stage.get(None, []))
        if not rows:
            continue
        more = f" (und {len(rows) - 1} weitere)" if len(rows) > 1 else ""
        st.status = "fehlgeschlagen"
        st.error_kind = "privacy"
        st.message = f"{STATUS_PREFIX}: {finding_text(rows[0])}{more}"
    status.message = (f"{STATUS_PREFIX}: {n} Befund{'e' if n != 1 else ''} – diese Ausgabe darf so nicht "
                      "veröffentlicht werden (Prüfung: python -m kit check).")
    if status.lagebericht or status.lagebericht_pdf:
        status.lagebericht, status.lagebericht_pdf = "", ""
        status.lagebericht_message = f"{STATUS_PREFIX}: nicht freigegeben, siehe Befunde."
    return report


__all__ = ["FINDING_COLUMNS", "Report", "Secrets", "check_commune", "check_output", "finding_text",
           "load_secrets", "mark_failed", "read_output_file", "recoverable"]
