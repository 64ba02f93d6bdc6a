"""The Lagebericht (combined HTML and tagged PDF per commune) and the accessibility and offline
rules of every HTML page the kit writes (kit.htmlpost, kit.lagebericht, issue 11 items 1 and 2).

Two parts: fast checks of the HTML rules on small constructed pages (each rule broken on
purpose must be found and repaired), and one real run of the demo commune muldenau into a
temporary folder (module fixture, ~30-40 s incl. the PDF) whose stage reports, Lagebericht,
PDF and index are checked. The repository's data/ and output/ are never touched.
"""

from __future__ import annotations

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_runs import make_inputs
from kit.htmlpost import NBCONVERT_DEFAULT_ALT, accessible, external_references, problems
from kit.params import PARAMS_DIR
from kit.report import html_table
from kit.runner import STAGES, run_commune, write_index

import pandas as pd

REPORTS = [f"{nb.removesuffix('.ipynb')}.html" for _, nb, _ in STAGES]


# ---------------------------------------------------------------------------
# helpers (independent of kit.htmlpost)
# ---------------------------------------------------------------------------


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.hidden, self.parts = 0, []

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in ("script", "style", "title")

    def handle_endtag(self, tag):
        self.hidden -= tag in ("script", "style", "title")

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_text(page: str) -> str:
    p = _Text()
    p.feed(page)
    return re.sub(r"\s+", " ", " ".join(p.parts)).strip()


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def heading_levels(page: str) -> list[int]:
    return [int(h.name[1]) for h in BeautifulSoup(page, "html.parser").find_all(re.compile(r"^h[1-6]$"))]


NB_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Gebietsprofil Testdorf</title>
<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"></script>
<link rel="stylesheet" href="https://example.org/x.css">
<script type="module">const m = (await import("https://cdnjs.cloudflare.com/ajax/libs/mermaid/11.10.0/mermaid.esm.min.mjs"));</script>
<script>const ns = 1 + 1;</script>
<style>@import url("https://fonts.example.org/a.css"); .x {background: url(https://example.org/b.png)}
.y {background: url(data:image/png;base64,AAAA)}</style></head><body><main>
<h1 id="Gebietsprofil-Testdorf">Gebietsprofil Testdorf<a class="anchor-link" href="#Gebietsprofil-Testdorf">¶</a></h1>
<h2 id="Einwohner">Einwohner<a class="anchor-link" href="#Einwohner">¶</a></h2>
<h4 id="Tief">Zu tief<a class="anchor-link" href="#Tief">¶</a></h4>
TABLE
<h1 id="Zweiter">Zweite Hauptüberschrift<a class="anchor-link" href="#Zweiter">¶</a></h1>
<img src="data:image/png;base64,AAAA" alt="No description has been provided for this image">
<img src="https://tiles.example.org/1/2/3.png" alt="Kachel">
<p>Quelle: https://www.bka.de (nur genannt) und <a href="https://www.bka.de/pks">BKA</a>.</p>
</main></body></html>"""


def _table_html(caption=None) -> str:
    df = pd.DataFrame({"district": ["Nord", "Süd"], "n": [120, 80]})
    return html_table(df, {"district": ("Stadtteil", None), "n": ("Einwohner", 0)}, caption=caption)


# ---------------------------------------------------------------------------
# 1. the HTML rules on constructed pages
# ---------------------------------------------------------------------------


def test_constructed_page_breaks_every_rule_and_the_checker_finds_each():
    page = NB_PAGE.replace("TABLE", _table_html())
    found = " | ".join(problems(page))
    for expected in ("lang", "¶", "h1", "übersprungen", "ohne Beschriftung", "ohne scope",
                     "Alternativtext", "externe Ressource"):
        assert expected in found, (expected, found)


def test_post_processing_repairs_every_rule():
    page = accessible(NB_PAGE.replace("TABLE", _table_html()))
    assert problems(page) == []
    soup = BeautifulSoup(page, "html.parser")
    assert soup.html["lang"] == "de"
    assert soup.title.get_text() == "Gebietsprofil Testdorf"
    # anchors gone, ids kept (links to sections keep working)
    assert "¶" not in page and not soup.select("a.anchor-link")
    assert {"Gebietsprofil-Testdorf", "Einwohner", "Tief", "Zweiter"} <= {h.get("id") for h in soup.find_all(True)}
    assert heading_levels(page) == [1, 2, 3, 2]
    # table: column headers, the district names as row headers, a caption from its section
    table = soup.find("table")
    assert [th["scope"] for th in table.thead.find_all("th")] == ["col", "col"]
    rows = table.tbody.find_all("tr")
    assert [(r.find("th").get_text(), r.find("th")["scope"]) for r in rows] == [("Nord", "row"), ("Süd", "row")]
    assert table.caption.get_text() == "Tabelle zum Abschnitt „Zu tief“"
    # nothing loads from elsewhere; the plain mention of an address stays as text
    assert external_references(page) == []
    assert "cdnjs" not in page and "fonts.example.org" not in page and "tiles.example.org" not in page
    assert "https://www.bka.de (nur genannt)" in visible_text(page)
    assert "url(data:image/png;base64,AAAA)" in page
    assert NBCONVERT_DEFAULT_ALT not in page
    # the loader script with an address goes, a script without one stays
    assert "mermaid" not in page and "const ns = 1 + 1;" in page


def test_numeric_first_column_is_not_made_a_row_header_and_given_caption_is_kept():
    df = pd.DataFrame({"year": [2022, 2023], "n": [5, 6]})
    page = accessible("<h1>T</h1>" + html_table(df, {"year": ("Jahr", None), "n": ("Fälle", 0)}, caption="Fälle je Jahr"))
    table = BeautifulSoup(page, "html.parser").find("table")
    assert table.tbody.find("th") is None  # 2022, 2023 are numbers: data cells
    assert table.caption.get_text() == "Fälle je Jahr"
    assert problems(page) == []


def test_provenance_table_carries_its_caption():
    from kit.report import provenance_table

    page = html_table(provenance_table({"params_file": "x/muldenau.yaml"}, {"/d/pks.csv": "ab" * 32}))
    caption = BeautifulSoup(page, "html.parser").find("caption")
    assert caption is not None and caption.get_text().startswith("Herkunft der Angaben")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=15))
def test_any_heading_sequence_ends_with_one_h1_and_no_skipped_level(levels):
    page = "".join(f"<h{n}>Titel {i}</h{n}><p>x</p>" for i, n in enumerate(levels))
    fixed = heading_levels(accessible(page))
    assert len(fixed) == len(levels)
    assert fixed[0] == 1 and fixed.count(1) == 1
    assert all(b <= a + 1 for a, b in zip(fixed, fixed[1:]))
    # a level that was not skipped keeps its relative structure: a heading never rises above
    # the level it had, except a second h1 (which becomes h2)
    assert all(f <= max(n, 2) for f, n in zip(fixed[1:], levels[1:]))


# ---------------------------------------------------------------------------
# 2. one real run: stage reports, Lagebericht, PDF, index
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lagebericht")
    params = make_inputs(root, ["muldenau"])[0]  # demo data and a params copy under root
    out = root / "output"
    log: list[str] = []
    status = run_commune(params, out, force=True, log=log.append)
    write_index(out, [status])
    return {"status": status, "out": out, "dir": out / "muldenau", "log": log, "data_dir": root / "data" / "muldenau"}


def test_lagebericht_html_and_pdf_are_written(run):
    status = run["status"]
    assert status.ok, [(s.stage, s.status, s.message) for s in status.stages]
    assert status.lagebericht == "muldenau/Lagebericht_Muldenau.html"
    assert status.lagebericht_pdf == "muldenau/Lagebericht_Muldenau.pdf"
    assert (run["out"] / status.lagebericht).stat().st_size > 100_000
    assert (run["out"] / status.lagebericht_pdf).read_bytes()[:5] == b"%PDF-"
    assert any("Lagebericht: HTML und PDF erstellt" in line for line in run["log"]), run["log"]


def _all_pages(out: Path) -> list[Path]:
    return sorted(out.rglob("*.html"))


def test_every_produced_html_follows_the_rules(run):
    pages = _all_pages(run["out"])
    names = {p.name for p in pages}
    assert {"index.html", "Lagebericht_Muldenau.html", *REPORTS} <= names
    for path in pages:
        page = path.read_text(encoding="utf-8")
        assert problems(page) == [], path.name
        # independent of kit.htmlpost: no http(s) address in any src/href/url()/@import
        assert not re.findall(r"""(?:src|href|srcset|data|poster)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I), path.name
        assert not re.findall(r"""url\(\s*["']?\s*(?:https?:)?//""", page, re.I), path.name
        assert not re.findall(r"@import", page, re.I), path.name
        for script in BeautifulSoup(page, "html.parser").find_all("script"):  # e.g. import("https://…")
            assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", script.get_text(), re.I), path.name
        assert "¶" not in page, path.name
        # every table has the caption its view gave it, not kit.htmlpost's stand-in
        assert "Tabelle zum Abschnitt" not in page, path.name
        assert re.search(r'<html[^>]*\blang="de"', page), path.name


def test_lagebericht_has_title_page_contents_summary_chapters_and_appendix(run):
    page = (run["dir"] / "Lagebericht_Muldenau.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    text = visible_text(page)
    assert soup.title.get_text().startswith("Lagebericht Muldenau")
    assert soup.find("h1").get_text(strip=True) == "Lagebericht Muldenau"
    assert "Landkreis Mittelsachsen" in text and re.search(r"Stand: \d{1,2}\. \w+ \d{4}", text)
    # every table-of-contents link leads to a heading of the document
    ids = {t["id"] for t in soup.find_all(id=True)}
    toc = soup.find("nav").find_all("a")
    assert len(toc) > 15 and all(a["href"][1:] in ids for a in toc)
    assert not [a["href"] for a in soup.find_all("a", href=True) if a["href"].startswith("#") and a["href"][1:] not in ids]
    h2 = [norm(h.get_text(" ", strip=True)) for h in soup.find_all("h2")]
    assert h2[:2] == ["Inhalt", "Das Wichtigste in Kürze"]
    assert h2[2:5] == ["1 Gebietsprofil", "2 Bürgerbefragung", "3 Handlungsempfehlungen"]
    assert h2[5].startswith("Anhang")
    summary = text.split("Das Wichtigste in Kürze", 2)[2].split("1 Gebietsprofil")[0]
    images = 0
    for report in REPORTS:
        stage_page = (run["dir"] / report).read_text(encoding="utf-8")
        stage_soup = BeautifulSoup(stage_page, "html.parser")
        titles = [norm(h.get_text(" ", strip=True)) for h in stage_soup.find_all("h2")]
        # the stage's summary (text between its heading and the next h2) is in the front summary
        nxt = titles[titles.index("Das Wichtigste in Kürze") + 1]
        stage_summary = visible_text(stage_page).split("Das Wichtigste in Kürze")[1].split(nxt)[0]
        assert norm(stage_summary) in summary, report
        # every other section is a chapter section (h3) of the Lagebericht
        h3 = {norm(h.get_text(" ", strip=True)) for h in soup.find_all("h3")}
        assert set(titles) - {"Das Wichtigste in Kürze", "Herkunft der Angaben"} <= h3, report
        images += len(stage_soup.find_all("img"))
    assert len(soup.find_all("img")) == images  # every figure, inline
    assert all(img["src"].startswith("data:image/") for img in soup.find_all("img"))
    for section in ("Stichprobe und Gewichtung", "Unsicherheitsbereiche und Tests", "Geheimhaltung kleiner Zahlen",
                    "Was die Polizeiliche Kriminalstatistik sagen kann", "Datenquellen und Lizenzen",
                    "Herkunft der Angaben"):
        assert section in text, section
    assert "Datenlizenz Deutschland – Namensnennung – Version 2.0" in text


def test_appendix_lists_parameters_without_any_path(run):
    page = (run["dir"] / "Lagebericht_Muldenau.html").read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    table = next(t for t in soup.find_all("table") if t.caption.get_text().startswith("Parameter dieses Laufs"))
    rows = {(r.find_all(["th", "td"])[1].get_text(), r.find_all(["th", "td"])[2].get_text()) for r in table.tbody.find_all("tr")}
    assert ("min_cell", "5") in rows and ("min_base_percent", "30") in rows
    assert ("weighting.trim_upper", "3") in rows
    assert ("responses", "survey_responses.csv") in rows  # its name only, as in the provenance tables
    for folder in (str(run["data_dir"]), str(run["data_dir"].parent), str(PARAMS_DIR), str(run["out"])):
        assert folder not in page, re.search(f".{{300}}{re.escape(folder)}.{{80}}", page, re.S).group(0)
    assert str(run["out"]) not in page and not re.search(r"[\w.-]+/[\w.-]+\.(?:csv|yaml|sav|xlsx)", visible_text(page))
    text = visible_text(page)
    for leftover in (r"\bNaN\b", r"\bnan\b", r"\bNone\b", "Traceback", r"\bwarn\b", r"\bTrue\b", r"\bFalse\b"):
        assert not re.search(leftover, text), leftover


def test_pdf_is_tagged_titled_german_and_has_the_content(run):
    from pypdf import PdfReader

    reader = PdfReader(str(run["dir"] / "Lagebericht_Muldenau.pdf"))
    root = reader.trailer["/Root"]
    assert "/StructTreeRoot" in root
    assert root["/MarkInfo"]["/Marked"] is True or root["/MarkInfo"]["/Marked"] == True  # noqa: E712
    assert str(root["/Lang"]).startswith("de")
    assert reader.metadata.title.startswith("Lagebericht Muldenau")
    assert root["/ViewerPreferences"]["/DisplayDocTitle"]
    assert len(reader.pages) > 10
    text = " ".join(reader.pages[i].extract_text() for i in range(4))
    assert "Muldenau" in text and "Das Wichtigste in Kürze" in text
    # the structure tree holds real structure (headings, tables, figures), not one blob
    struct = reader.trailer["/Root"]["/StructTreeRoot"].get_object()
    kinds: set[str] = set()

    def walk(node, depth=0):
        node = node.get_object()
        if isinstance(node, dict):
            if "/S" in node:
                kinds.add(str(node["/S"]))
            kids = node.get("/K")
            if kids is not None and depth < 12 and len(kinds) < 40:
                for kid in (kids if isinstance(kids, list) else [kids]):
                    if hasattr(kid, "get_object") or isinstance(kid, dict):
                        walk(kid, depth + 1)

    walk(struct)
    assert {"/H1", "/Table", "/Figure"} <= kinds or {"/H1", "/Table"} <= kinds, kinds


def test_pdf_pages_are_not_blank(run):
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(run["dir"] / "Lagebericht_Muldenau.pdf"))
    for index in (0, 2):
        image = pdf[index].render(scale=0.5).to_pil().convert("L")
        pixels = list(image.getdata())
        dark = sum(v < 200 for v in pixels) / len(pixels)
        assert dark > 0.005, (index, dark)
        assert len(set(pixels)) > 10, index
    pdf.close()


def test_index_links_say_what_they_open_and_state_status_in_words(run):
    index = run["out"] / "index.html"
    page = index.read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    links = {a.get_text(" ", strip=True): a["href"] for a in soup.find_all("a", href=True)}
    assert links == {
        "Gebietsprofil Muldenau öffnen": "muldenau/1_profile.html",
        "Bürgerbefragung Muldenau öffnen": "muldenau/2_survey.html",
        "Handlungsempfehlungen Muldenau öffnen": "muldenau/3_recommend.html",
        "Lagebericht Muldenau öffnen (HTML)": "muldenau/Lagebericht_Muldenau.html",
        "Lagebericht Muldenau als PDF": "muldenau/Lagebericht_Muldenau.pdf",
    }
    for href in links.values():
        assert (index.parent / href).is_file(), href
    assert visible_text(page).count("Status: erstellt") == 3


# ---------------------------------------------------------------------------
# 3. a failing PDF, a failed rerun, the command line (on a copy of the run)
# ---------------------------------------------------------------------------


@pytest.fixture
def copy_of_run(run, tmp_path):
    target = tmp_path / "output"
    shutil.copytree(run["out"], target)
    return target


def test_missing_weasyprint_still_writes_the_html_and_fails_nothing(copy_of_run, run, monkeypatch):
    import kit.lagebericht as lb
    from kit.params import load_params
    from kit.runner import make_lagebericht, _read_status, _status_from_dict

    def no_weasyprint(*args, **kwargs):
        raise lb.PdfUnavailable("cannot load library 'pango-1.0-0'")

    monkeypatch.setattr(lb, "render_pdf", no_weasyprint)
    commune = copy_of_run / "muldenau"
    status = _status_from_dict(_read_status(commune))
    params = load_params(Path(run["status"].params_file))
    log: list[str] = []
    make_lagebericht(status, params, copy_of_run, commune, log.append)
    assert status.ok
    assert (commune / "Lagebericht_Muldenau.html").is_file()
    assert not (commune / "Lagebericht_Muldenau.pdf").exists()  # the old PDF does not stay behind
    assert status.lagebericht_pdf == ""
    assert status.lagebericht_message.startswith("PDF übersprungen: WeasyPrint oder die Pango-Bibliothek fehlt")
    assert len(log) == 1 and "PDF übersprungen" in log[0] and "pango" not in log[0]


def test_replaced_stage_removes_the_outdated_lagebericht(copy_of_run):
    from kit.runner import invalidate_stages

    commune = copy_of_run / "muldenau"
    invalidate_stages(commune, ["recommend"])
    assert not list(commune.glob("Lagebericht_*"))


def test_command_line_rebuilds_the_lagebericht(copy_of_run, capsys):
    from kit.cli import main

    commune = copy_of_run / "muldenau"
    (commune / "Lagebericht_Muldenau.html").unlink()
    assert main(["lagebericht", str(commune), "--kein-pdf"]) == 0
    assert (commune / "Lagebericht_Muldenau.html").is_file()
    assert "Lagebericht geschrieben" in capsys.readouterr().out
    assert main(["lagebericht", str(copy_of_run / "gibt-es-nicht")]) == 1
    assert "kein Lagebericht möglich" in capsys.readouterr().err
