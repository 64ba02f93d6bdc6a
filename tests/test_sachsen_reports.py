"""The reports of `python -m kit sachsen` read as a council member reads them (issue 12 follow-ups).

A sample of two communes is built from ../shared/realdata and run through the command into a
tmp folder: Jahnatal (a Gemeinde: synthetic PKS, Kreis rate × population; one district) and
Dresden (kreisfreie Stadt: real PKS from the BKA tables). The tests read the rendered HTML:

- every PKS figure of Jahnatal's summary and PKS section is marked as synthetic where it stands,
  Dresden's are not;
- the files kit sachsen cut out of public data (boundary, register residents, Deutschlandatlas
  row) are credited to their data set with its credit line (from SOURCES.md) and licence, not
  as the commune's own data; the synthetic PKS is "synthetisch (aus … abgeleitet)", with no
  licence of its own;
- a commune with one district is never said to have "1 Stadtteile".

Tests that need the real data skip with a clear reason when it is absent.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup

from kit.params import REPO_ROOT
from kit.report import fmt_count, fmt_districts, fmt_int

REALDATA = (REPO_ROOT / ".." / "shared" / "realdata").resolve()
SOURCES_MD = REALDATA / "SOURCES.md"
needs_realdata = pytest.mark.skipif(
    not SOURCES_MD.exists() or not (REALDATA / "geo" / "derived_sachsen_gemeinden_vg250.geojson").exists(),
    reason=f"echte Daten fehlen: {REALDATA} (../shared/realdata neben dem Kit-Ordner) ist nicht vorhanden")

JAHNATAL, DRESDEN = "14522275", "14612000"
MARK = "synthetische Werte, aus der Kreis-PKS des Bundeskriminalamts abgeleitet"
DL_DE = "Datenlizenz Deutschland – Namensnennung – Version 2.0"
DESTATIS = "Vervielfältigung und Verbreitung, auch auszugsweise, mit Quellenangabe gestattet"


# ---------------------------------------------------------------------------
# the wording function (no real data needed)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 1, 2, 7, 1234])
def test_district_count_wording(n):
    expected = "1 Stadtteil" if n == 1 else f"{fmt_int(n)} Stadtteile"
    assert fmt_districts(n) == expected
    assert fmt_districts(n, dative=True) == ("1 Stadtteil" if n == 1 else f"{fmt_int(n)} Stadtteilen")
    assert fmt_count(n, "Fall", "Fälle") == ("1 Fall" if n == 1 else f"{fmt_int(n)} Fälle")


def test_finding_of_a_synthetic_input_is_marked_where_its_figures_stand():
    """The mark goes into the parenthesis right after the finding's figures, for the inputs its
    area rests on only."""
    from kit.profile.view import finding_mark, finding_text

    marks = {"pks": MARK}
    row = {"finding": "hz_level", "area": "pks", "subject_label": "Straftaten insgesamt", "year": 2022,
           "count": 176, "value": 3657.0, "lower": 3136.0, "upper": 4239.0}
    assert finding_mark(row, marks) == MARK
    assert finding_mark({**row, "area": "population"}, marks) == ""
    text = finding_text(row, None, synthetic=finding_mark(row, marks))
    assert f"Häufigkeitszahl 3.657** ({MARK}; 95-%-Zufallsintervall 3.136 bis 4.239)" in text, text
    assert "synthetisch" not in finding_text(row, None)
    people = {"finding": "population", "area": "population", "year": 2021, "value": 4813}
    assert "**4.813 Einwohner** (erfundene Werte) am" in finding_text(people, None, synthetic="erfundene Werte")


# ---------------------------------------------------------------------------
# the sample, built and run through the command
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    from kit.cli import main

    root = tmp_path_factory.mktemp("sachsen_berichte")
    data, out = root / "daten", root / "ausgabe"
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KIT_PDF", "0")
        with contextlib.redirect_stdout(printed):
            code = main(["sachsen", "--auswahl", JAHNATAL, DRESDEN, "--daten", str(data), "--output", str(out),
                         "--kein-pdf", "--jobs", "2"])
    assert code == 0, printed.getvalue()[-3000:]
    folders = {ags: next(out.glob(f"{ags}-*")) for ags in (JAHNATAL, DRESDEN)}
    params = {ags: yaml.safe_load(next((data / "params").glob(f"{ags}-*.yaml")).read_text(encoding="utf-8"))
              for ags in (JAHNATAL, DRESDEN)}
    return {"folders": folders, "params": params}


def _soup(path: Path) -> BeautifulSoup:
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    return soup


def _text(node) -> str:
    return " ".join(node.get_text(" ").split())


def _section(soup: BeautifulSoup, heading: str) -> list:
    """The elements after the h2 ``heading`` up to the next h2 (in document order)."""
    h2 = next(h for h in soup.find_all("h2") if _text(h) == heading)
    nodes = []
    for node in h2.find_all_next():
        if node.name == "h2":
            break
        nodes.append(node)
    return nodes


def _blocks(nodes: list) -> list[str]:
    """Texts of the paragraphs, list items, captions and figure captions among ``nodes``."""
    return [_text(n) for n in nodes if n.name in ("p", "li", "caption", "figcaption")]


def _pks_figures(folder: Path) -> set[str]:
    """The commune's own PKS figures of all offences (cases and HZ, every year) as the report
    writes them (German format, whole numbers: all are above 100 here)."""
    ind = pd.read_csv(folder / "results" / "profile_indicators.csv", dtype={"subject": str, "district_id": str})
    total = ind[(ind["subject"] == "000000") & ind["indicator"].isin(["pks_cases", "pks_hz"])
                & ind["district_id"].fillna("").astype(str).eq("")]
    values = {fmt_int(v) for v in total["value"].dropna()}
    assert values and all(len(v) >= 3 for v in values), values
    return values


def _states_figure(block: str, figures: set[str]) -> bool:
    return any(re.search(rf"(?<![\d.,]){re.escape(f)}(?![\d,]|\.\d)", block) for f in figures)


@needs_realdata
def test_synthetic_pks_is_marked_in_the_summary(sample):
    soup = _soup(sample["folders"][JAHNATAL] / "1_profile.html")
    summary = _section(soup, "Das Wichtigste in Kürze")
    items = [_text(n) for n in summary if n.name == "li"]
    pks_items = [t for t in items if re.search(r"Häufigkeitszahl|Fälle|Straftat", t)]
    assert len(pks_items) >= 3, items
    for item in pks_items:
        assert MARK in item, item
    # the register's residents are real: their finding carries no mark
    residents = [t for t in items if "Einwohner" in t and "Häufigkeitszahl" not in t]
    assert residents and not any("synthetisch" in t for t in residents), residents
    # one sentence above the list says which input is synthetic and that its figures are marked
    intro = " ".join(_blocks(summary))
    assert "Synthetische Daten:" in intro and "keine echten Zahlen von Jahnatal" in intro


@needs_realdata
def test_every_pks_figure_of_the_pks_section_is_marked(sample):
    folder = sample["folders"][JAHNATAL]
    soup = _soup(folder / "1_profile.html")
    section = _section(soup, "Polizeiliche Kriminalstatistik (PKS)")
    blocks = _blocks(section)
    figures = _pks_figures(folder)
    stating = [b for b in blocks if _states_figure(b, figures)]
    assert len(stating) >= 2, blocks  # the overview's and the comparison's sentences
    for block in stating:
        assert MARK in block, block
    # every table and the chart of the section show the commune's PKS figures: each caption says so
    captions = [_text(n) for n in section if n.name in ("caption", "figcaption")]
    assert len(captions) >= 7, captions  # overview, comparison, 4 tables by year, the chart
    for caption in captions:
        assert MARK in caption, caption
    # the chart's alt text states the figures too
    alts = [img.get("alt", "") for img in soup.find_all("img") if "Zufallsintervall" in img.get("alt", "")
            and img in section]
    assert alts and all(MARK in a for a in alts), alts


@needs_realdata
def test_real_pks_commune_is_not_marked(sample):
    folder = sample["folders"][DRESDEN]
    soup = _soup(folder / "1_profile.html")
    for heading in ("Das Wichtigste in Kürze", "Polizeiliche Kriminalstatistik (PKS)"):
        nodes = _section(soup, heading)
        text = " ".join(_blocks(nodes))
        assert any(_states_figure(b, _pks_figures(folder)) for b in _blocks(nodes)), heading
        assert "synthetisch" not in text.lower() and "erfunden" not in text.lower(), heading
    assert "synthetisch" not in _text(soup).lower()


def _attribution_lines() -> list[str]:
    text = SOURCES_MD.read_text(encoding="utf-8")
    block = text.split("Attribution lines to show in the kit:", 1)[1].split("\n\n", 1)[0]
    return re.findall(r'^- "([^"]+)"', block, re.MULTILINE)


def _line_with(word: str) -> str:
    found = [line for line in _attribution_lines() if word in line]
    assert len(found) == 1, (word, _attribution_lines())
    return found[0]


def _sources_rows(soup: BeautifulSoup) -> dict[str, dict[str, str]]:
    table = next(t for t in soup.find_all("table") if t.caption and "Datenquellen" in _text(t.caption))
    heads = [_text(th) for th in table.thead.find_all("th")]
    # the first cell of a row may be a row header (th)
    rows = [dict(zip(heads, (_text(c) for c in tr.find_all(["th", "td"])))) for tr in table.tbody.find_all("tr")]
    return {r["Angabe"]: r for r in rows}


@needs_realdata
def test_derived_public_data_is_credited_to_its_data_set(sample):
    vg250 = _line_with("GeoBasis-DE").replace(" (Jahr)", "")  # the Gemeinden file names no year
    destatis = _line_with("Destatis")
    atlas = _line_with("Deutschlandatlas")
    pks = _line_with("Polizeiliche Kriminalstatistik")
    for ags in (JAHNATAL, DRESDEN):
        folder = sample["folders"][ags]
        name = sample["params"][ags]["name"]
        for page in ("1_profile.html", f"Lagebericht_{name}.html"):
            soup = _soup(folder / page)
            rows = _sources_rows(soup)
            districts, residents = rows["Stadtteile (Geometrie)"], rows["Einwohner"]
            context = rows["Kreisdaten (Deutschlandatlas)"]
            assert "Bundesamt für Kartographie und Geodäsie" in districts["Quelle"], districts
            assert vg250 in districts["Quellenangabe"] and districts["Lizenz"] == DL_DE, districts
            assert "Statistisches Bundesamt" in residents["Quelle"], residents
            assert destatis in residents["Quellenangabe"] and residents["Lizenz"] == DESTATIS, residents
            assert "Deutschlandatlas" in context["Quelle"], context
            assert atlas in context["Quellenangabe"] and context["Lizenz"] == DL_DE, context
            assert all(r["Daten"] == "echt" for r in (districts, residents, context))
            # nothing is credited as the commune's own data (kit/sources.yaml "own"), nothing as "free to use"
            for row in rows.values():
                assert row["Quelle"] != "von der Kommune bereitgestellt" and row["Lizenz"] != "Daten der Kommune", row
            assert "frei verwendbar" not in _text(soup), page
            made_up = rows["Polizeiliche Kriminalstatistik (PKS)"]
            if ags == JAHNATAL:
                assert made_up["Quelle"].startswith("synthetisch (aus der Kreis-PKS des Bundeskriminalamts "
                                                    "abgeleitet)"), made_up
                assert made_up["Daten"] == "synthetisch" and pks in made_up["Quellenangabe"], made_up
                assert made_up["Lizenz"] == f"Ausgangsdaten: {DL_DE}", made_up
            else:
                assert made_up["Daten"] == "echt" and made_up["Lizenz"] == DL_DE, made_up
    # what kit sachsen wrote: the files each input was cut out of or computed from
    derived = {k: [Path(p).name for p in v.get("derived_from", [])]
               for k, v in sample["params"][JAHNATAL]["inputs"].items()}
    assert derived == {"districts": ["derived_sachsen_gemeinden_vg250.geojson"],
                       "residents": ["31122021_Auszug_GV.xlsx"],
                       "pks": ["2020_KR-F-01-T01-Kreise-Faelle-HZ_xls.xlsx", "2022_KR-F-01-T01-Kreise-Faelle-HZ_csv.csv"],
                       "context": ["Deutschlandatlas-Daten_Stand2024-12.xlsx"]}


@needs_realdata
def test_one_district_is_never_plural(sample):
    for ags in (JAHNATAL, DRESDEN):
        folder = sample["folders"][ags]
        name = sample["params"][ags]["name"]
        for page in ("1_profile.html", "3_recommend.html", f"Lagebericht_{name}.html"):
            html = (folder / page).read_text(encoding="utf-8")
            assert not re.search(r"(?<![\d.])1 Stadtteile", html), (ags, page)
        soup = _soup(folder / "1_profile.html")
        text = " ".join(_blocks(_section(soup, "Stadtteile und Orte des Unwohlseins")))
        assert f"Die Daten beschreiben {name} als ein einziges Gebiet" in text, text
