"""The Lagebericht: one combined document per commune, as self-contained HTML and tagged PDF.

Assembled after the three stages of a commune (kit.runner) or by hand with
``python -m kit lagebericht output/<commune>``. Nothing is recomputed: the document is put
together from what the stages wrote,

- the three executed stage reports (output/<id>/1_profile.html …): their sections become the
  chapters, their "Das Wichtigste in Kürze" sections the summary at the front and their
  "Herkunft der Angaben" tables the provenance in the appendix;
- results/survey_meta.json (sample and weighting figures for the methods appendix) and the
  commune's parameters (a readable table in the appendix; paths of personal data are never
  shown).

This is a view module: it phrases German text and lays out HTML, it computes no statistic.
The HTML holds every image and style inline and loads nothing (kit.htmlpost checks and
enforces that, together with the accessibility rules). The PDF is rendered from the same HTML
with WeasyPrint as tagged PDF/UA-1; without WeasyPrint (or Pango) the HTML is still written.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import logging
import re
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup, Tag

from kit import __version__
from kit.htmlpost import HEADINGS, apply_rules, soup_of
from kit.results import atomic_write_bytes, atomic_write_text

SUMMARY_HEADING = "Das Wichtigste in Kürze"
PROVENANCE_HEADING = "Herkunft der Angaben"
FILE_PREFIX = "Lagebericht_"
# stage id -> report file and chapter title (as kit.stage.STAGES, repeated here so the module
# can be used on an output folder without importing the notebook machinery)
CHAPTERS = [("profile", "1_profile.html", "Gebietsprofil"),
            ("survey", "2_survey.html", "Bürgerbefragung"),
            ("recommend", "3_recommend.html", "Handlungsempfehlungen")]
ABSENT = {"survey": "es wurde keine Bürgerbefragung ausgewertet"}
MONTHS = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
          "Oktober", "November", "Dezember"]


@dataclass
class LageberichtResult:
    html: Path | None = None
    pdf: Path | None = None
    html_seconds: float = 0.0
    pdf_seconds: float = 0.0
    message: str = ""  # German; "" when HTML and PDF were written


# ---------------------------------------------------------------------------
# file names
# ---------------------------------------------------------------------------


def file_stem(name: str) -> str:
    """'Bad Düben' -> 'Lagebericht_Bad_Dueben' (ASCII: the file travels by mail and zip)."""
    text = name.translate(str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_") or "Kommune"
    return FILE_PREFIX + text


def remove_lagebericht(commune_dir: Path) -> bool:
    """Remove an earlier run's Lagebericht (HTML and PDF); True when something was removed."""
    removed = False
    for path in list(Path(commune_dir).glob(f"{FILE_PREFIX}*.html")) + list(Path(commune_dir).glob(f"{FILE_PREFIX}*.pdf")):
        path.unlink(missing_ok=True)
        removed = True
    return removed


# ---------------------------------------------------------------------------
# reading the stage reports
# ---------------------------------------------------------------------------


@dataclass
class Section:
    heading: Tag | None  # the h2 that opens it (None: the text before the first h2)
    nodes: list

    @property
    def title(self) -> str:
        return _text(self.heading) if self.heading is not None else ""


def _text(tag: Tag) -> str:
    return " ".join(tag.get_text(" ", strip=True).replace("¶", "").split())


def stage_sections(page: str) -> tuple[list[Section], list[str]]:
    """The sections of an executed stage report (split at its h2 headings) and the CSS its
    outputs brought along. nbconvert's cell wrappers, prompts, its own style sheet and scripts,
    the report's h1 title and stderr outputs are left behind."""
    soup = soup_of(page)
    root = soup.find("main") or soup.body or soup
    styles: list[str] = []
    nodes: list = []
    for out in root.select(".jp-MarkdownOutput, .jp-OutputArea-output"):
        if "stderr" in (out.get("data-mime-type") or ""):
            continue
        for child in list(out.children):
            if isinstance(child, Tag) and child.name == "style":
                styles.append(child.get_text())
            elif isinstance(child, Tag) and child.name == "script":
                continue
            elif isinstance(child, Tag) or str(child).strip():
                nodes.append(child.extract())
    sections = [Section(None, [])]
    for node in nodes:
        if isinstance(node, Tag) and node.name == "h1":
            continue  # the stage's own title: the chapter heading replaces it
        if isinstance(node, Tag) and node.name == "h2":
            sections.append(Section(node, []))
        else:
            sections[-1].nodes.append(node)
    return sections, styles


def _shift_headings(nodes: list, by: int) -> None:
    for node in nodes:
        if not isinstance(node, Tag):
            continue
        found = [node] if node.name in HEADINGS else []
        for h in found + node.find_all(HEADINGS):
            h.name = f"h{min(6, int(h.name[1]) + by)}"


def _slug(text: str) -> str:
    """An ASCII id: browsers accept any id, but PDF link targets must match byte for byte after
    URL encoding, which umlauts, brackets and question marks do not survive."""
    text = text.translate(str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}))
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-").lower() or "abschnitt"


def _prefix_ids(nodes: list, prefix: str) -> None:
    """Ids of the three reports collide ('abbildung-1', 'Das-Wichtigste-in-Kürze'): each chapter's
    ids get the chapter prefix (as ASCII) and its in-page links follow them."""
    tags = [tag for node in nodes if isinstance(node, Tag) for tag in [node, *node.find_all(True)]]
    renamed: dict[str, str] = {}
    for tag in tags:
        if tag.get("id"):
            new = f"{prefix}-{_slug(tag['id'])}"
            while new in renamed.values():
                new += "-x"
            renamed[tag["id"]] = new
            tag["id"] = new
    for tag in tags:
        href = tag.get("href")
        if tag.name == "a" and isinstance(href, str) and href.startswith("#") and len(href) > 1:
            tag["href"] = "#" + renamed.get(href[1:], f"{prefix}-{_slug(href[1:])}")


# ---------------------------------------------------------------------------
# appendix parts (German text from results and parameters; nothing is computed here)
# ---------------------------------------------------------------------------


def _de_num(x, decimals: int = 1) -> str:
    from kit.report import fmt_num

    return fmt_num(x, decimals)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


MARGIN_DE = {"age_sex": "Altersgruppe und Geschlecht", "district": "Stadtteil", "age": "Altersgruppe",
             "sex": "Geschlecht"}
INTERVAL_DE = {"korn_graubard": "Korn-Graubard-Intervalle (Beta-Verteilung auf der effektiven Fallzahl)",
               "logit": "Logit-Intervalle auf der effektiven Fallzahl"}


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def sample_text(meta: dict, params: dict, survey_done: bool) -> str:
    if not survey_done or not meta:
        return _p("Für diese Kommune liegt keine Bürgerbefragung vor; der Bericht stützt sich auf das Gebietsprofil "
                  "und die daraus abgeleiteten Empfehlungen.")
    parts = []
    n = meta.get("respondents")
    w = meta.get("weighting") or {}
    if n:
        parts.append(f"Ausgewertet wurden die Antworten von {_de_num(n, 0)} Befragten, die aus dem Melderegister "
                     "zufällig ausgewählt und angeschrieben worden waren (Rücklauf und Bereinigung: Kapitel 2).")
    margins = [MARGIN_DE.get(m, m) for m in (w.get("margins") or [])]
    if margins:
        parts.append("Weil nicht alle Gruppen gleich häufig antworten, werden die Antworten gewichtet: "
                     f"Die Gewichte werden durch Raking (iterative proportionale Anpassung) so bestimmt, dass die "
                     f"Befragten nach {' sowie nach '.join(margins)} der Einwohnerschaft laut Gebietsprofil "
                     "entsprechen.")
    trim = w.get("trimming") or {}
    if trim.get("lower") and trim.get("upper"):
        parts.append(f"Einzelne Gewichte werden auf das {_de_num(trim['lower'], 1)}- bis {_de_num(trim['upper'], 1)}-Fache "
                     "des mittleren Gewichts begrenzt, damit wenige Befragte das Ergebnis nicht dominieren.")
    if w.get("deff") and w.get("n_eff"):
        parts.append(f"Die Gewichtung kostet Genauigkeit: Der Designeffekt nach Kish beträgt {_de_num(w['deff'], 2)}, "
                     f"die Ergebnisse sind also so genau wie bei etwa {_de_num(w['n_eff'], 0)} ungewichteten Befragten "
                     "(effektive Fallzahl).")
    parts.append("Alle Anteile der Befragung sind gewichtete Anteile an den Befragten, die die Frage beantwortet haben.")
    return _p(" ".join(parts))


def intervals_text(params: dict, survey_done: bool) -> str:
    conf = (params.get("survey") or {}).get("confidence") or (params.get("profile") or {}).get("confidence") or 0.95
    level = _de_num(100 * float(conf), 0)
    interval = ((params.get("survey") or {}).get("design") or {}).get("interval", "korn_graubard")
    parts = [f"Zahlen aus einer Stichprobe und kleine Fallzahlen schwanken zufällig. Der Bericht gibt deshalb "
             f"{level}-%-Bereiche an: Bereiche, die den wahren Wert bei wiederholter Erhebung in {level} von 100 Fällen "
             "einschließen würden."]
    if survey_done:
        parts.append(f"Für Anteile der Befragung sind das {INTERVAL_DE.get(interval, 'Intervalle auf der effektiven Fallzahl')}; "
                     "Unterschiede zwischen Gruppen (z. B. Frauen und Männer) prüft der Rao-Scott-Test, der die "
                     "Designeffekte von Stichprobenplan und Gewichtung berücksichtigt.")
    parts.append("Für Fallzahlen der Polizeilichen Kriminalstatistik und Häufigkeitszahlen gelten Poisson-Bereiche. "
                 "Ein Wert heißt nur dann „höher“ oder „niedriger“ als ein Vergleichswert, wenn sein Bereich den "
                 "Vergleichswert nicht einschließt. Ein solcher Unterschied sagt nichts darüber, wie wichtig er ist; "
                 "und bei vielen Vergleichen sind einzelne Zufallsbefunde zu erwarten.")
    return _p(" ".join(parts))


def suppression_text(params: dict) -> str:
    from kit.disclosure import policy_from_params

    policy = policy_from_params(params)  # the commune's privacy settings (defaults.yaml merged in)
    min_cell, min_base = policy.min_cell, policy.min_base
    return _p(f"Zum Schutz der Befragten und der Einwohner weist der Bericht keine Zelle mit weniger als "
              f"{_de_num(min_cell, 0)} Personen aus und keinen Anteil auf einer Grundlage von weniger als "
              f"{_de_num(min_base, 0)} Personen. Damit eine verdeckte Zahl nicht aus veröffentlichten Summen "
              "zurückgerechnet werden kann, werden bei Bedarf weitere Zellen verdeckt (sekundäre Geheimhaltung). "
              "Verdeckte Werte erscheinen als „–“. Freitextantworten werden nie wörtlich wiedergegeben, sondern nur "
              "als gezählte Themen; Angaben einzelner Befragter verlassen die Auswertung nicht.")


def pks_text() -> str:
    items = [
        "Die Polizeiliche Kriminalstatistik (PKS) zählt nur die der Polizei bekannt gewordenen und von ihr "
        "bearbeiteten Straftaten (Hellfeld). Was nicht angezeigt oder entdeckt wird, fehlt (Dunkelfeld); "
        "die Befragung zu Opfererfahrungen und Anzeigeverhalten gibt dazu Hinweise.",
        "Sie hängt vom Anzeigeverhalten und von der Kontrolltätigkeit der Polizei ab: Kontrolldelikte wie "
        "Ladendiebstahl, Leistungserschleichung oder Rauschgiftdelikte steigen mit mehr Kontrollen, ohne dass "
        "mehr geschieht.",
        "Gezählt wird am Tatort und bei Abschluss der Ermittlungen, nicht zum Tatzeitpunkt. Taten von Pendlern, "
        "Besuchern und Durchreisenden zählen mit; die Häufigkeitszahl (Fälle je 100.000 Einwohner) ist deshalb "
        "in Orten mit viel Publikumsverkehr höher, ohne dass die Einwohner gefährdeter sind.",
        "In kleinen Kommunen springt die Häufigkeitszahl zufällig: wenige Fälle mehr oder weniger verändern sie "
        "stark. Der Bericht zeigt deshalb Fallzahlen, Mehrjahresmittel und Bereiche neben der Häufigkeitszahl.",
        "Die PKS sagt nichts über das Sicherheitsgefühl. Registrierte Kriminalität und Unsicherheitsgefühl "
        "hängen oft nur schwach zusammen; das Gefühl wird stärker von wahrgenommenen Ordnungsstörungen "
        "(Müll, Vandalismus, Raserei) geprägt — deshalb die Befragung.",
        "Änderungen von Gesetzen, Erfassungsregeln oder Gebietsgrenzen können Zeitreihen brechen.",
    ]
    return "<ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in items) + "</ul>"


def _data_note(params: dict, survey_done: bool) -> str:
    """The title page's sentence on real and made-up inputs: a note box when any input is made up."""
    from kit.sources import sources
    from kit.sources_view import note_html, statement

    table = sources(params, survey_done=survey_done)
    return note_html(table) or f'<p class="meta">{html.escape(statement(table))}</p>'


def _without_stage_sources(nodes: list) -> list:
    """A stage report's note on made-up inputs and its "Datenquellen" block are left out: the
    Lagebericht says both once for the whole commune (title page, appendix)."""
    from kit.sources_view import NOTE_CLASS, SECTION_CLASS

    return [n for n in nodes if not (isinstance(n, Tag) and {NOTE_CLASS, SECTION_CLASS} & set(n.get("class") or []))]


def sources_table(params: dict, survey_done: bool = True) -> str:
    """The statement which inputs are real and which made up, and the table of every source of the
    commune's report with its credit line and licence (kit.sources: the commune's inputs, the real
    public data they come from, and the kit's reference data that applies)."""
    from kit.sources import sources
    from kit.sources_view import statement, table_html

    table = sources(params, survey_done=survey_done)
    return _p(statement(table)) + table_html(table)


# ---------------------------------------------------------------------------
# parameters as a readable table
# ---------------------------------------------------------------------------

SECTION_DE = {"privacy": "Geheimhaltung", "profile": "Gebietsprofil", "survey": "Bürgerbefragung",
              "recommendations": "Handlungsempfehlungen", "inputs": "Eingabedateien"}
TOP_DE = {"commune_id": "Kennung", "name": "Name", "ags": "Amtlicher Gemeindeschlüssel", "kind": "Gemeindetyp",
          "landkreis": "Landkreis", "notes": "Anmerkungen", "demo": "Demodaten"}
VALUE_DE = {"drop": "entfernen", "keep": "behalten", "flag": "markieren", "set_missing": "als fehlend werten",
            "drop_case": "Fall entfernen", "stop": "abbrechen", "warn": "Hinweis im Bericht", "error": "abbrechen",
            "stratified": "geschichtet", "srs": "einfache Zufallsstichprobe", "clustered": "Klumpenstichprobe",
            "district": "Stadtteil", "age_group": "Altersgruppe", "sex": "Geschlecht", "age_sex": "Altersgruppe × Geschlecht",
            "none": "keine", "jackknife": "Jackknife", "bootstrap": "Bootstrap", "korn_graubard": "Korn-Graubard",
            "logit": "Logit", "any": "eine Regel genügt", "all": "alle Regeln"}
SKIP_KEYS = {"data_dir", "params_file", "allowed_roots"}


def _flatten(node, prefix=""):
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, node


def _looks_like_path(value) -> bool:
    """A file or folder of the params (load_params makes them absolute); not a label such as
    'lebt sehr/eher gern'."""
    if not isinstance(value, str) or len(value) > 400 or "\n" in value:
        return False
    return Path(value).is_absolute() or bool(re.fullmatch(r"[^\s]+\.[A-Za-z0-9]{2,5}", value) and ("/" in value or "\\" in value))


def _value_text(key: str, value) -> str:
    if value is None or value == [] or value == {}:
        return "–"
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e7):
            mantissa, exp = f"{value:.1e}".split("e")
            return f"{mantissa.replace('.', ',')} · 10^{int(exp)}"
        return _de_num(value, 0 if isinstance(value, int) or float(value).is_integer() else
                       min(4, len(repr(float(value)).split(".")[1])))
    if isinstance(value, list):
        return "; ".join(_value_text(key, v) for v in value)
    if isinstance(value, dict):
        if "id" in value and "label" in value:
            return f"{value['label']}"
        return "; ".join(f"{k}: {_value_text(key, v)}" for k, v in value.items())
    if _looks_like_path(value):
        return Path(value).name  # the file's name as in the provenance tables, never its folder
    return VALUE_DE.get(str(value), str(value))


def parameter_rows(params: dict) -> list[tuple[str, str, str]]:
    """(Bereich, Einstellung, Wert) for every parameter of the commune; no path is shown: a
    file by its name only (as in the stages' provenance tables), no folder, no data_dir."""
    rows = []
    for key, value in _flatten(params):
        top = key.split(".")[0]
        if top in SKIP_KEYS:
            continue
        if top in TOP_DE and "." not in key:
            area, name = "Kommune", TOP_DE[top]
        else:
            area = SECTION_DE.get(top, top)
            name = key.split(".", 1)[1] if "." in key else key
            if top == "inputs":
                name = name.removesuffix(".path")
        rows.append((area, name, _value_text(key, value)))
    rows.append(("Kommune", "Parameterdatei", Path(str(params.get("params_file", ""))).name or "–"))
    return rows


def parameters_table(params: dict) -> str:
    import pandas as pd
    from kit.report import html_table

    df = pd.DataFrame(parameter_rows(params), columns=["area", "name", "value"])
    return html_table(df, {"area": ("Bereich", None), "name": ("Einstellung", None), "value": ("Wert", None)},
                      caption="Parameter dieses Laufs (Voreinstellungen und Angaben der Kommune)")


# ---------------------------------------------------------------------------
# assembly
# ---------------------------------------------------------------------------

CSS = """
:root { color-scheme: light; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #1a1a1a; line-height: 1.45;
       max-width: 60em; margin: 0 auto; padding: 1.5em; font-size: 11pt; }
h1 { font-size: 1.9em; margin: 0.2em 0 0.4em 0; }
h2 { font-size: 1.45em; margin-top: 1.8em; border-bottom: 2px solid #6a8caf; padding-bottom: 0.15em; }
h3 { font-size: 1.2em; margin-top: 1.4em; }
h4 { font-size: 1.05em; margin-top: 1.2em; }
h5, h6 { font-size: 1em; }
a { color: #1d4f91; }
img { max-width: 100%; height: auto; }
figure { margin: 0.8em 0 1.4em 0; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em 0; font-size: 0.9em; max-width: 100%; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3em; caption-side: top; }
th { background: #e8eef4; text-align: left; padding: 3px 7px; vertical-align: top; }
thead th { border-bottom: 2px solid #6a8caf; }
tbody th { background: #f4f7fa; font-weight: 600; }
td { padding: 3px 7px; border-bottom: 1px solid #dde3ea; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.kit-note { background: #fff8e5; border-left: 4px solid #e0a800; padding: 0.5em 0.8em; margin: 0.6em 0; }
.titelseite { min-height: 20em; padding: 3em 0 2em 0; border-bottom: 3px solid #1d4f91; margin-bottom: 2em; }
.titelseite .art { font-size: 1.1em; letter-spacing: 0.05em; text-transform: uppercase; color: #1d4f91; margin: 0; }
.titelseite .meta { font-size: 1.05em; margin: 0.3em 0; }
nav.inhalt ol { padding-left: 1.4em; list-style: none; }
nav.inhalt li { margin: 0.15em 0; }
.entfaellt { font-style: italic; }
@page { size: A4; margin: 20mm 18mm 22mm 18mm;
        @bottom-right { content: "Seite " counter(page) " von " counter(pages); font-size: 9pt; color: #444;
                        font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
        @bottom-left { content: string(kommune); font-size: 9pt; color: #444;
                       font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; } }
@page :first { @bottom-right { content: none; } @bottom-left { content: none; } }
@media print {
  body { max-width: none; padding: 0; font-size: 10pt; }
  .titelseite { min-height: 0; padding-top: 6cm; border-bottom: none; page-break-after: always; break-after: page; }
  .titelseite h1 { string-set: kommune content(); }
  nav.inhalt { page-break-after: always; break-after: page; }
  h2.kapitel { page-break-before: always; break-before: page; }
  h2, h3, h4 { page-break-after: avoid; break-after: avoid; }
  figure, img { page-break-inside: avoid; break-inside: avoid; }
  table { page-break-inside: auto; font-size: 8.5pt; }
  thead { display: table-header-group; }
  tr { page-break-inside: avoid; break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def _date_de(day: _dt.date) -> str:
    return f"{day.day}. {MONTHS[day.month - 1]} {day.year}"


def _status(commune_dir: Path) -> dict:
    return _read_json(Path(commune_dir) / "status.json")


def assemble(commune_dir: Path, params: dict, *, day: _dt.date | None = None) -> str:
    """The Lagebericht of one commune as a complete HTML document (text)."""
    commune_dir = Path(commune_dir)
    status = _status(commune_dir)
    stages = {s.get("stage"): s for s in status.get("stages", [])}
    name = params.get("name") or status.get("name") or commune_dir.name
    landkreis = params.get("landkreis") or ""
    day = day or _dt.date.today()
    title = f"Lagebericht {name}"

    soup = BeautifulSoup("<!DOCTYPE html><html lang=\"de\"><head><meta charset=\"utf-8\"></head><body></body></html>",
                         "html.parser")
    head, body = soup.head, soup.body
    t = soup.new_tag("title")
    t.string = f"{title} – Sicherheitsanalyse"
    head.append(t)
    for meta_name, content in (("description", f"Sicherheitsanalyse {name}: Gebietsprofil, Bürgerbefragung, "
                                "Handlungsempfehlungen, Methoden"), ("generator", f"Sicherheitsanalyse-Kit {__version__}")):
        head.append(soup.new_tag("meta", attrs={"name": meta_name, "content": content}))

    def frag(markup: str) -> list:
        return list(BeautifulSoup(markup, "html.parser").contents)

    # title page; what is real and what made up stands on it (a note box when anything is made up)
    where = f"{html.escape(landkreis)}" if landkreis else ""
    data_note = _data_note(params, stages.get("survey", {}).get("status") == "ok")
    body.extend(frag(
        f'<header class="titelseite"><p class="art">Sicherheitsanalyse</p><h1 id="titel">{html.escape(title)}</h1>'
        f'<p class="meta">Kommune: {html.escape(name)}</p>'
        + (f'<p class="meta">{where}</p>' if where else "")
        + f'<p class="meta">Stand: {_date_de(day)}</p>' + data_note +
        f'<p class="meta">Gebietsprofil, Bürgerbefragung und Handlungsempfehlungen in einem Dokument; '
        f'erstellt mit dem Sicherheitsanalyse-Kit, Version {html.escape(__version__)}.</p></header>'))
    toc = soup.new_tag("nav", attrs={"class": "inhalt", "aria-labelledby": "inhalt"})
    body.append(toc)

    main = soup.new_tag("main")
    body.append(main)
    styles: list[str] = []
    summary_parts: list[tuple[str, list]] = []
    provenance_parts: list[tuple[str, list]] = []
    chapters: list[tuple[str, str, list]] = []  # (id, title, nodes)
    for number, (stage, report_name, chapter_title) in enumerate(CHAPTERS, 1):
        st = stages.get(stage, {})
        report = commune_dir / report_name
        cid = f"kapitel-{number}"
        if st.get("status") != "ok" or not report.exists():
            reason = ABSENT.get(stage, "für diesen Teil liegt kein Bericht vor")  # not the status message: it names parameters
            note = f'<p class="entfaellt">Dieser Teil entfällt für {html.escape(name)}: {html.escape(reason)}.</p>'
            summary_parts.append((chapter_title, frag(note)))
            chapters.append((cid, f"{number} {chapter_title}", frag(note)))
            continue
        sections, css = stage_sections(report.read_text(encoding="utf-8"))
        styles += css
        nodes: list = []
        for section in sections:
            section.nodes = _without_stage_sources(section.nodes)
            if section.title == SUMMARY_HEADING:
                summary_parts.append((chapter_title, section.nodes))
            elif section.title == PROVENANCE_HEADING:
                provenance_parts.append((chapter_title, section.nodes))
            else:
                nodes += ([section.heading] if section.heading is not None else []) + section.nodes
        _shift_headings(nodes, 1)
        _prefix_ids(nodes, f"k{number}")
        chapters.append((cid, f"{number} {chapter_title}", nodes))

    # "Das Wichtigste in Kürze" of all three stages
    main.extend(frag(f'<h2 id="kurzfassung">{SUMMARY_HEADING}</h2><p>Die wichtigsten Ergebnisse der drei Teile; '
                     "die Kapitel 1 bis 3 belegen sie mit Zahlen, Bereichen und Abbildungen.</p>"))
    for i, (chapter_title, nodes) in enumerate(summary_parts, 1):
        main.extend(frag(f'<h3 id="kurzfassung-{i}">{html.escape(chapter_title)}</h3>'))
        _shift_headings(nodes, 2)
        _prefix_ids(nodes, f"kurz{i}")
        main.extend(nodes)

    for cid, chapter_title, nodes in chapters:
        main.extend(frag(f'<h2 class="kapitel" id="{cid}">{html.escape(chapter_title)}</h2>'))
        main.extend(nodes)

    # appendix: methods, interpretation, sources, provenance
    meta = _read_json(commune_dir / "results" / "survey_meta.json")
    survey_done = stages.get("survey", {}).get("status") == "ok"
    appendix = (
        '<h2 class="kapitel" id="anhang">Anhang: Methoden und Lesehilfe</h2>'
        "<p>Wie die Zahlen dieses Berichts entstanden sind und wie sie zu lesen sind.</p>"
        '<h3 id="anhang-stichprobe">Stichprobe und Gewichtung</h3>' + sample_text(meta, params, survey_done)
        + '<h3 id="anhang-intervalle">Unsicherheitsbereiche und Tests</h3>' + intervals_text(params, survey_done)
        + '<h3 id="anhang-geheimhaltung">Geheimhaltung kleiner Zahlen</h3>' + suppression_text(params)
        + '<h3 id="anhang-pks">Was die Polizeiliche Kriminalstatistik sagen kann – und was nicht</h3>' + pks_text()
        + '<h3 id="anhang-quellen">Datenquellen und Lizenzen</h3>'
        "<p>Die Tabelle nennt jede Quelle, wofür der Bericht sie verwendet, und ihre Lizenz mit der "
        "geforderten Quellenangabe.</p>" + sources_table(params, survey_done)
        + f'<h3 id="anhang-herkunft">{PROVENANCE_HEADING}</h3>'
        "<p>Welche Eingaben und welche Einstellungen dieser Bericht verwendet hat: je Teil die Kit-Version, das "
        "Datum und die Prüfsummen der Eingabedateien (so lässt sich prüfen, ob ein späterer Lauf dieselben Daten "
        "hatte), danach alle Parameter des Laufs.</p>")
    main.extend(frag(appendix))
    for i, (chapter_title, nodes) in enumerate(provenance_parts, 1):
        main.extend(frag(f'<h4 id="herkunft-{i}">{html.escape(chapter_title)}</h4>'))
        _shift_headings(nodes, 2)
        _prefix_ids(nodes, f"herkunft{i}")
        main.extend(nodes)
    main.extend(frag('<h4 id="herkunft-parameter">Parameter</h4><p>Alle Einstellungen dieses Laufs mit ihrem Wert. '
                     "Dateien werden nur mit ihrem Namen genannt, ohne Ordner.</p>"
                     + parameters_table(params)))

    # table of contents: chapters (h2) and their sections (h3)
    items, current = [], None
    for h in main.find_all(["h2", "h3"]):
        if not h.get("id"):
            h["id"] = f"abschnitt-{len(items) + 1}"
        link = f'<a href="#{html.escape(h["id"], quote=True)}">{html.escape(_text(h))}</a>'
        if h.name == "h2":
            current = [link, []]
            items.append(current)
        elif current is not None:
            current[1].append(link)
    toc_html = '<h2 id="inhalt">Inhalt</h2><ol>' + "".join(
        f"<li>{link}" + (f"<ol>{''.join(f'<li>{s}</li>' for s in subs)}</ol>" if subs else "") + "</li>"
        for link, subs in items) + "</ol>"
    toc.extend(frag(toc_html))

    style = soup.new_tag("style")
    unique = list(dict.fromkeys(s.strip() for s in styles if s.strip()))
    style.string = CSS + "\n".join(unique)
    head.append(style)
    apply_rules(soup, title=f"{title} – Sicherheitsanalyse")
    return str(soup)


# ---------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------


class PdfUnavailable(RuntimeError):
    """WeasyPrint (or the Pango library it needs) is missing."""


def _offline_fetcher():
    """A WeasyPrint URL fetcher that fetches data: URLs only (nothing from disk or network)."""
    try:
        from weasyprint.urls import URLFetcher  # WeasyPrint 68 and later
    except ImportError:
        from weasyprint import default_url_fetcher

        def fetch(url, *args, **kwargs):
            if not url.startswith("data:"):
                raise ValueError(f"nur eingebettete Inhalte erlaubt: {url[:60]}")
            return default_url_fetcher(url, *args, **kwargs)

        return fetch
    return URLFetcher(allowed_protocols={"data"})


def render_pdf(page: str, target: Path, log_file: Path | None = None) -> float:
    """Tagged PDF/UA-1 of the HTML with WeasyPrint; returns the seconds it took. Only data: URLs
    may be fetched (the HTML holds everything inline). WeasyPrint's messages go to the log file."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: Pango/GObject libraries not found
        raise PdfUnavailable(str(exc)) from exc
    start = time.perf_counter()
    loggers = [logging.getLogger(n) for n in ("weasyprint", "weasyprint.progress", "fontTools")]
    saved = [(lg, lg.handlers[:], lg.propagate) for lg in loggers]
    handler = logging.FileHandler(log_file, encoding="utf-8") if log_file else logging.NullHandler()
    try:
        for lg in loggers:
            lg.handlers[:] = [handler]
            lg.propagate = False
        document = HTML(string=page, base_url=str(target.parent), url_fetcher=_offline_fetcher())
        data = document.write_pdf(pdf_variant="pdf/ua-1", pdf_tags=True)
    finally:
        for lg, handlers, propagate in saved:
            lg.handlers[:] = handlers
            lg.propagate = propagate
        handler.close()
    atomic_write_bytes(target, data)
    return time.perf_counter() - start


# ---------------------------------------------------------------------------
# entry points
# ---------------------------------------------------------------------------


def build_lagebericht(commune_dir: str | Path, params: dict | None = None, *, pdf: bool = True) -> LageberichtResult:
    """Write output/<id>/Lagebericht_<Name>.html (and .pdf) for one commune whose stages have run.

    Raises kit.errors.ResultError when the commune has no status.json or no stage report; a
    PDF that cannot be made is not an error: the result's message says so in German."""
    from kit.errors import ResultError

    commune_dir = Path(commune_dir)
    status = _status(commune_dir)
    if not status or not any((commune_dir / r).exists() for _, r, _ in CHAPTERS):
        raise ResultError(f"Ordner {commune_dir}: kein Lagebericht möglich – erwartet: der Ausgabeordner einer "
                          "Kommune, deren Stufen gelaufen sind (mit status.json und den Stufenberichten)")
    if params is None:
        params = _params_for(status)
    result = LageberichtResult()
    start = time.perf_counter()
    page = assemble(commune_dir, params)
    stem = file_stem(params.get("name") or status.get("name") or commune_dir.name)
    remove_lagebericht(commune_dir)
    result.html = commune_dir / f"{stem}.html"
    atomic_write_text(result.html, page)
    result.html_seconds = time.perf_counter() - start
    if not pdf:
        result.message = "PDF nicht erstellt (abgeschaltet)"
        return result
    target = commune_dir / f"{stem}.pdf"
    log_file = commune_dir / "logs" / "lagebericht.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        result.pdf_seconds = render_pdf(page, target, log_file)
        result.pdf = target
    except PdfUnavailable:
        result.message = ("PDF übersprungen: WeasyPrint oder die Pango-Bibliothek fehlt; "
                          "der Lagebericht liegt als HTML vor")
    except Exception as exc:  # noqa: BLE001 - a failing PDF never fails the commune
        with open(log_file, "a", encoding="utf-8") as fh:
            fh.write(f"PDF fehlgeschlagen: {type(exc).__name__}: {exc}\n")
        result.message = "PDF konnte nicht erstellt werden (Einzelheiten im Protokoll); der Lagebericht liegt als HTML vor"
    return result


def _params_for(status: dict) -> dict:
    """The commune's parameters for the appendix (from the params file named in status.json);
    when that file cannot be read any more, a minimal set from status.json."""
    from kit.params import load_params

    try:
        return load_params(status["params_file"])
    except Exception:  # noqa: BLE001 - the Lagebericht still says what it can
        return {"name": status.get("name", ""), "commune_id": status.get("commune_id", "")}
