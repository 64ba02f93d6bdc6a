"""Sources credited in every report; real and synthetic inputs stated (issue 12, item 5).

kit.sources builds the table of a commune's sources (credit line, licence, real or made up);
kit.sources_view words it; the three stage notebooks show it, the Lagebericht puts it on its
title page and in its appendix. The expected credit lines are read from
../shared/realdata/SOURCES.md itself (its list "Attribution lines"), not typed here; tests that
need that folder skip with a clear reason when it is absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import MINIMAL_PARAMS
from kit.params import INPUT_NAMES, PARAMS_DIR, REPO_ROOT, load_params
from kit.profile.inputs import INPUT_TITLES
from kit.sources import REALDATA_DIR, sources
from kit.sources_view import NOTE_CLASS, SECTION_CLASS, note_html, section_html, statement

SOURCES_MD = REALDATA_DIR / "SOURCES.md"
DRESDEN = PARAMS_DIR / "real" / "dresden.yaml"
needs_realdata = pytest.mark.skipif(
    not SOURCES_MD.exists(),
    reason=f"echte Daten fehlen: {REALDATA_DIR} (../shared/realdata neben dem Kit-Ordner) ist nicht vorhanden")


def attribution_lines() -> list[str]:
    """The quoted lines under "Attribution lines to show in the kit:" of SOURCES.md."""
    text = SOURCES_MD.read_text(encoding="utf-8")
    block = text.split("Attribution lines to show in the kit:", 1)[1].split("\n\n", 1)[0]
    return re.findall(r'^- "([^"]+)"', block, re.M)


def line_with(word: str) -> str:
    found = [line for line in attribution_lines() if word in line]
    assert len(found) == 1, (word, attribution_lines())
    return found[0]


def visible(markup: str) -> str:
    return " ".join(BeautifulSoup(markup, "html.parser").get_text(" ").split())


def params_dict(synthetic: dict[str, bool], demo: bool = False, folder: Path = Path("/daten/testort")) -> dict:
    """Params as load_params returns them (absolute paths), one file per input."""
    return {"commune_id": "testort", "name": "Testort", "demo": demo, "survey": {},
            "inputs": {name: ({"path": str(folder / f"{name}.csv"), "synthetic": flag} if name in synthetic else None)
                       for name, flag in ((n, synthetic.get(n)) for n in INPUT_NAMES)}}


# ---------------------------------------------------------------------------
# Dresden: the real files are credited with the lines of SOURCES.md
# ---------------------------------------------------------------------------


@needs_realdata
def test_dresden_sources_carry_the_attribution_lines_of_sources_md():
    table = sources(load_params(DRESDEN))
    by_input = dict(zip(table["name"], table["attribution"]))
    assert line_with("OpenStreetMap") in by_input["districts"]
    assert line_with("opendata.dresden.de") in by_input["residents"]
    # the PKS line of SOURCES.md names both report years Dresden reads (2020 and 2022)
    assert line_with("Polizeiliche Kriminalstatistik") in by_input["pks"]
    assert line_with("Deutschlandatlas") in by_input["context"]
    # the params' own source lines are shown too
    dresden = yaml.safe_load(DRESDEN.read_text(encoding="utf-8"))
    for name in ("districts", "residents"):
        assert dresden["inputs"][name]["source"] in by_input[name]
    inputs = table[table["kind"] == "input"]
    assert not inputs["synthetic"].any() and inputs["public"].all()
    # the kit's own reference data that stage 1 uses; no survey, so no survey comparison values
    refs = set(table.loc[table["kind"] == "reference", "name"])
    assert {"pks_reference", "population_reference", "population_weights"} <= refs
    assert not refs & {"dvs2017", "dvs2012", "asskomm"}
    assert statement(table).startswith("Alle Eingabedaten dieses Berichts sind echte Daten")
    assert note_html(table) == ""


@needs_realdata
def test_every_realdata_file_has_a_credit_line():
    """Every file of ../shared/realdata is known to kit/sources.yaml, and every credit line of
    SOURCES.md is used by one of them."""
    from kit.sources import catalogue, realdata_entry

    files = [p for p in REALDATA_DIR.rglob("*") if p.is_file() and p.name != "SOURCES.md"]
    assert files
    unknown = [str(p.relative_to(REALDATA_DIR)) for p in files if realdata_entry(p) is None]
    assert not unknown, unknown
    used = {realdata_entry(p)["attribution"] for p in files}
    # the {years} template of PKS stands for "2020/2022" in SOURCES.md
    used = {line.replace("{years}", "2020/2022") for line in used}
    for line in attribution_lines():
        if "(Jahr)" in line:  # VG250: "(Jahr)" is a placeholder, filled per file
            assert any(u.startswith("© GeoBasis-DE / BKG") and u.endswith("(Daten verändert)") for u in used)
        else:
            assert line in used, line
    assert {e["licence"] for e in catalogue()["realdata"]} <= set(catalogue()["licences"])


def test_pks_years_follow_the_files_read(tmp_path):
    """One PKS year -> that year in the credit line; two -> both, joined by '/'."""
    pks = lambda *years: [{"path": str(REALDATA_DIR / "pks" / f"{y}_KR-F-01-T01-Kreise-Faelle-HZ_xls.xlsx"),
                           "year": y} for y in years]
    params = params_dict({"pks": False})
    params["inputs"]["pks"] = {"path": pks(2022)[0]["path"], "files": pks(2022)}
    line = sources(params).set_index("name").loc["pks", "attribution"]
    assert "Berichtsjahr 2022, Version 1.0" in line and "2020" not in line
    params["inputs"]["pks"]["files"] = pks(2020, 2022)
    assert "Berichtsjahr 2020/2022, Version 1.0" in sources(params).set_index("name").loc["pks", "attribution"]


def test_file_outside_the_realdata_folder_is_the_communes_own(tmp_path):
    """The same file name outside ../shared/realdata is not credited as the public data set."""
    params = params_dict({"residents": False})
    params["inputs"]["residents"]["path"] = str(tmp_path / "population" / "dresden_einwohner_x.csv")
    row = sources(params).set_index("name").loc["residents"]
    assert "opendata.dresden.de" not in row["attribution"] and not row["public"] and "Testort" in row["attribution"]
    params["inputs"]["residents"]["path"] = str(REALDATA_DIR / "population" / "dresden_einwohner_x.csv")
    row = sources(params).set_index("name").loc["residents"]
    assert row["attribution"] == "Landeshauptstadt Dresden, opendata.dresden.de" and row["public"]


# ---------------------------------------------------------------------------
# real and synthetic: the one sentence
# ---------------------------------------------------------------------------


def _split(sentence: str) -> tuple[str, str]:
    """(part naming the made-up inputs, part naming the real ones) of the mixed sentence."""
    made_up, real = sentence.split(", echt ", 1)
    return made_up, real.split(";", 1)[0]


@given(st.dictionaries(st.sampled_from(INPUT_NAMES), st.booleans(), min_size=1))
@settings(max_examples=40, deadline=None)
def test_statement_names_each_input_as_real_or_synthetic(flags):
    table = sources(params_dict(flags))
    sentence = statement(table)
    made_up = [INPUT_TITLES[n] for n, f in flags.items() if f]
    real = [INPUT_TITLES[n] for n, f in flags.items() if not f]
    assert sentence.count(".") >= 1 and sentence.rstrip().endswith(".")
    if made_up and real:
        fake_part, real_part = _split(sentence)
        assert "erfunden" in fake_part
        assert all(t in fake_part and t not in real_part for t in made_up), sentence
        assert all(t in real_part and t not in fake_part for t in real), sentence
        assert note_html(table)  # prominent: the note box under the title
    elif made_up:
        assert sentence.startswith("Alle Eingabedaten dieses Berichts sind erfunden") and note_html(table)
    else:
        assert sentence.startswith("Alle Eingabedaten dieses Berichts sind echte Daten") and not note_html(table)
        assert all(t in sentence for t in real)
    assert list(table.loc[table["kind"] == "input", "synthetic"]) == [flags[n] for n in INPUT_NAMES if n in flags]


def test_synthetic_flag_in_a_params_file_reaches_the_statement(tmp_path):
    (tmp_path / "data").mkdir()
    text = MINIMAL_PARAMS.format(data=tmp_path / "data") + "  clubs: {path: vereine.csv, synthetic: true}\n"
    (tmp_path / "testort.yaml").write_text(text, encoding="utf-8")
    table = sources(load_params(tmp_path / "testort.yaml"))
    made_up, real = _split(statement(table))
    assert INPUT_TITLES["clubs"] in made_up and "erfunden" in made_up
    assert all(INPUT_TITLES[n] in real for n in ("districts", "residents", "pks"))
    note = BeautifulSoup(note_html(table), "html.parser").div
    assert NOTE_CLASS in note["class"] and INPUT_TITLES["clubs"] in note.get_text()


def test_demo_commune_counts_every_input_as_synthetic(tmp_path):
    params = load_params(PARAMS_DIR / "muldenau.yaml")
    table = sources(params)
    inputs = table[table["kind"] == "input"]
    # every input file of the params (and the survey) is there, and made up
    assert set(inputs["name"]) == {n for n in INPUT_NAMES if params["inputs"].get(n)} | {"survey"}
    assert inputs["synthetic"].all() and not inputs["public"].any()
    assert statement(table).startswith("Alle Eingabedaten dieses Berichts sind erfunden")
    # synthetic: false does not make a demo commune's data real
    demo = sources(params_dict({"residents": False}, demo=True))
    assert demo.loc[demo["kind"] == "input", "synthetic"].all()
    assert not demo.loc[demo["kind"] == "reference", "synthetic"].any()  # the kit's reference data is real


def test_survey_rows_only_when_the_survey_was_evaluated():
    params = load_params(PARAMS_DIR / "muldenau.yaml")
    without = sources(params, survey_done=False)
    assert "survey" not in set(without["name"]) and not set(without["name"]) & {"dvs2017", "dvs2012", "asskomm"}
    profile = sources(params, "profile")
    assert "survey" not in set(profile["name"]) and "pks_reference" in set(profile["name"])
    survey = sources(params, "survey")
    assert {"survey", "dvs2012"} <= set(survey["name"]) and "pks" not in set(survey["name"])


# ---------------------------------------------------------------------------
# rendering: stage reports and the Lagebericht
# ---------------------------------------------------------------------------


def _fake_dresden(tmp_path: Path, synthetic: tuple[str, ...] = ()) -> dict:
    """Dresden's params as load_params returns them, with its file paths in the real-data folder
    (the files need not exist here: only their names are looked up)."""
    data = yaml.safe_load(DRESDEN.read_text(encoding="utf-8"))
    params = {"commune_id": "dresden", "name": "Dresden", "survey": {}, "inputs": {}}
    for name, spec in data["inputs"].items():
        spec = dict(spec)
        if spec.get("files"):
            spec["files"] = [{**f, "path": str(REALDATA_DIR / f["path"])} for f in spec["files"]]
            spec["path"] = spec["files"][0]["path"]
        else:
            spec["path"] = str(REALDATA_DIR / spec["path"])
        spec["synthetic"] = name in synthetic
        params["inputs"][name] = spec
    return params


EXPECTED = {  # the credit lines of SOURCES.md (as tests above check them against the file)
    "osm": "© OpenStreetMap contributors, ODbL 1.0",
    "dresden": "Landeshauptstadt Dresden, opendata.dresden.de",
    "pks": "Quelle: Polizeiliche Kriminalstatistik (PKS), Bundeskriminalamt, Berichtsjahr 2020/2022, Version 1.0",
    "atlas": "Deutschlandatlas, BMWSB/BBSR, Stand 12/2024",
}


@needs_realdata
def test_expected_lines_are_those_of_sources_md():
    for line in EXPECTED.values():
        assert line in attribution_lines()


def test_stage_section_shows_the_lines_in_a_table(tmp_path):
    markup = section_html(sources(_fake_dresden(tmp_path), "profile"))
    soup = BeautifulSoup(markup, "html.parser")
    assert soup.div["class"] == [SECTION_CLASS] and soup.find("h3").get_text() == "Datenquellen"
    table = soup.find("table")
    assert table.caption.get_text()
    cells = [td.get_text() for td in table.find_all("td")]
    for line in EXPECTED.values():
        assert any(line in c for c in cells), line
    text = visible(markup)
    assert "Alle Eingabedaten dieses Berichts sind echte Daten" in text
    # no file name, folder or raw column name as prose for the council
    for pattern in (r"\.(?:csv|xlsx|geojson|yaml|json)\b", r"(?:^|\s)/\w", r"\b[a-z]+_[a-z0-9_]+\b", "realdata",
                    "KRS1222_"):
        assert not re.search(pattern, text), pattern


@pytest.mark.parametrize("notebook,stage", [("1_profile.ipynb", "profile"), ("2_survey.ipynb", "survey"),
                                            ("3_recommend.ipynb", "recommend")])
def test_each_stage_notebook_shows_note_and_sources(notebook, stage):
    """The note right under the title (the cell that shows the h1) and the sources in the cell
    after the heading "Herkunft der Angaben"."""
    cells = json.loads((REPO_ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    src = ["".join(c["source"]) for c in cells]
    title = next(i for i, s in enumerate(src) if 'show_md(f"# ' in s)
    assert f'show_data_note(ctx.params, "{stage}")' in src[title].split('show_md(f"# ', 1)[1]
    heading = next(i for i, s in enumerate(src) if s.strip() == "## Herkunft der Angaben")
    assert f'show_sources(ctx.params, "{stage}")' in src[heading + 1]


def _stage_page(inner: str) -> str:
    """A page shaped like nbconvert's export (outputs in .jp-OutputArea-output)."""
    return ("<html><body><main>" + "".join(f'<div class="jp-OutputArea-output">{part}</div>' for part in inner)
            + "</main></body></html>")


def test_lagebericht_credits_on_title_page_and_appendix_once(tmp_path):
    from kit.lagebericht import assemble

    params = _fake_dresden(tmp_path, synthetic=("context",))
    table = sources(params, "profile")
    commune = tmp_path / "dresden"
    commune.mkdir()
    (commune / "status.json").write_text(json.dumps({"name": "Dresden", "stages": [
        {"stage": "profile", "status": "ok"}, {"stage": "survey", "status": "entfällt"},
        {"stage": "recommend", "status": "ok"}]}), encoding="utf-8")
    for report in ("1_profile.html", "3_recommend.html"):
        (commune / report).write_text(_stage_page([
            "<h1>Bericht</h1>" + note_html(table), "<h2>Das Wichtigste in Kürze</h2><p>Kurz.</p>",
            "<h2>Einwohner</h2><p>Text.</p>", "<h2>Herkunft der Angaben</h2>" + section_html(table)]), encoding="utf-8")
    page = assemble(commune, params)
    soup = BeautifulSoup(page, "html.parser")
    title_page = soup.find("header", class_="titelseite")
    note = title_page.find("div", class_=NOTE_CLASS)
    assert note is not None and INPUT_TITLES["context"] in note.get_text() and "erfunden" in note.get_text()
    # the stages' own notes and source blocks are not repeated; the appendix has the one table
    assert len(soup.find_all(class_=NOTE_CLASS)) == 1 and not soup.find_all(class_=SECTION_CLASS)
    appendix = page.split('id="anhang-quellen"', 1)[1].split('id="anhang-herkunft"', 1)[0]
    for key in ("osm", "dresden", "pks"):
        assert EXPECTED[key] in visible(appendix), key
    # the Deutschlandatlas input is made up here; the kit's own Kreis comparison values still credit it
    assert EXPECTED["atlas"] in visible(appendix)
    assert "Datenlizenz Deutschland – Namensnennung – Version 2.0" in visible(appendix)
    assert "Deutscher Viktimisierungssurvey" not in visible(appendix)  # no survey evaluated


def test_lagebericht_title_page_of_a_real_commune_says_all_real(tmp_path):
    from kit.lagebericht import assemble

    commune = tmp_path / "dresden"
    commune.mkdir()
    (commune / "status.json").write_text(json.dumps({"name": "Dresden", "stages": []}), encoding="utf-8")
    soup = BeautifulSoup(assemble(commune, _fake_dresden(tmp_path)), "html.parser")
    title_page = soup.find("header", class_="titelseite")
    assert not title_page.find(class_=NOTE_CLASS)
    assert "Alle Eingabedaten dieses Berichts sind echte Daten" in title_page.get_text()


# ---------------------------------------------------------------------------
# public data cut out of or computed from (kit sachsen), and synthetic data derived from it
# ---------------------------------------------------------------------------

VG250 = REALDATA_DIR / "geo" / "derived_sachsen_gemeinden_vg250.geojson"
REGISTER = REALDATA_DIR / "population" / "31122021_Auszug_GV.xlsx"
ATLAS = REALDATA_DIR / "context" / "Deutschlandatlas-Daten_Stand2024-12.xlsx"
BKA = [REALDATA_DIR / "pks" / "2020_KR-F-01-T01-Kreise-Faelle-HZ_xls.xlsx",
       REALDATA_DIR / "pks" / "2022_KR-F-01-T01-Kreise-Faelle-HZ_csv.csv"]
DL_DE = "Datenlizenz Deutschland – Namensnennung – Version 2.0"
DESTATIS = "Vervielfältigung und Verbreitung, auch auszugsweise, mit Quellenangabe gestattet"


def _derived_params(synthetic_pks: bool = True, derived: bool = True) -> dict:
    """A commune's files in its own folder (not the real-data folder), as kit sachsen writes them."""
    params = params_dict({"districts": False, "residents": False, "pks": synthetic_pks, "context": False})
    if derived:
        for name, files in (("districts", [VG250]), ("residents", [REGISTER]), ("context", [ATLAS]), ("pks", BKA)):
            params["inputs"][name]["derived_from"] = [str(f) for f in files]
    return params


@needs_realdata
def test_derived_files_are_credited_to_their_data_set():
    """Files cut out of public data (boundary, register residents, Deutschlandatlas row) carry
    their data set's credit line (SOURCES.md) and licence, not "the commune's own data"."""
    table = sources(_derived_params()).set_index("name")
    own = sources(_derived_params(derived=False)).set_index("name")
    for name, word, dataset, licence in (("districts", "GeoBasis-DE", "Bundesamt für Kartographie", DL_DE),
                                         ("residents", "Destatis", "Statistisches Bundesamt", DESTATIS),
                                         ("context", "Deutschlandatlas", "Deutschlandatlas", DL_DE)):
        row = table.loc[name]
        line = line_with(word).replace(" (Jahr)", "")  # the VG250 Gemeinden file names no year
        assert line in row["attribution"] and dataset in row["dataset"], row
        assert row["licence"] == licence and row["public"] and not row["synthetic"], row
        # without derived_from (and without a source line) the same file is the commune's own
        assert own.loc[name, "dataset"] == "von der Kommune bereitgestellt"
        assert own.loc[name, "licence"] == "Daten der Kommune" and not own.loc[name, "public"]


@needs_realdata
def test_source_line_naming_a_public_data_set_credits_it():
    """Without derived_from, a source line that contains a data set's credit line credits it
    (with the report years the line names)."""
    params = params_dict({"residents": False, "pks": False, "clubs": False})
    params["inputs"]["residents"]["source"] = f"{line_with('Destatis')} (Summe zweier Gemeinden)"
    params["inputs"]["pks"]["source"] = ("Quelle: Polizeiliche Kriminalstatistik (PKS), Bundeskriminalamt, "
                                         "Berichtsjahr 2022, Version 1.0")
    params["inputs"]["clubs"]["source"] = "Vereinsregister der Stadt"
    table = sources(params).set_index("name")
    assert table.loc["residents", "licence"] == DESTATIS and table.loc["residents", "public"]
    assert table.loc["residents", "attribution"] == params["inputs"]["residents"]["source"]
    assert table.loc["pks", "licence"] == DL_DE and "Statistisches" not in table.loc["pks", "dataset"]
    assert table.loc["clubs", "dataset"] == "von der Kommune bereitgestellt" and not table.loc["clubs", "public"]


def test_synthetic_input_is_synthetic_not_a_licence():
    """A synthetic input derived from public data: "synthetisch (aus … abgeleitet)", the credit
    line and, as "Ausgangsdaten", the licence of that data; made up outright: "erfunden" and no
    licence. Neither is "frei verwendbar"."""
    table = sources(_derived_params())
    pks = table.set_index("name").loc["pks"]
    assert pks["synthetic"] and not pks["public"]
    assert pks["dataset"].startswith("synthetisch (aus der Kreis-PKS des Bundeskriminalamts abgeleitet)"), pks
    assert pks["licence"] == f"Ausgangsdaten: {DL_DE}", pks
    assert EXPECTED["pks"] in pks["attribution"]
    rows = BeautifulSoup(section_html(table), "html.parser").find("tbody").find_all("tr")
    cells = {texts[0]: texts for texts in ([td.get_text() for td in tr.find_all("td")] for tr in rows)}
    assert cells[INPUT_TITLES["pks"]][-1] == "synthetisch" and cells[INPUT_TITLES["districts"]][-1] == "echt"
    sentence = statement(table)
    assert ("Synthetisch aus öffentlichen Daten abgeleitet (keine echten Zahlen der Kommune): "
            f"{INPUT_TITLES['pks']} aus der Kreis-PKS des Bundeskriminalamts.") in sentence
    made_up = sources(params_dict({"clubs": True})).set_index("name").loc["clubs"]
    assert made_up["licence"] == "entfällt (erfundene Daten)" and made_up["derived_from"] == ""
    assert "erfunden" in made_up["dataset"]
    for frame in (table, sources(params_dict({"clubs": True}))):
        assert "frei verwendbar" not in set(frame["licence"])


def test_synthetic_marks_name_the_derivation():
    from kit.sources_view import synthetic_marks, synthetic_sentence

    marks = synthetic_marks(_derived_params())
    assert marks == {"pks": "synthetische Werte, aus der Kreis-PKS des Bundeskriminalamts abgeleitet"}
    assert synthetic_marks(_derived_params(synthetic_pks=False)) == {}
    assert synthetic_marks(params_dict({"clubs": True, "pks": False})) == {"clubs": "erfundene Werte"}
    # a demo commune (all made up, said once under the title) has no per-figure marks
    assert synthetic_marks(params_dict({"pks": True}, demo=True)) == {}
    sentence = synthetic_sentence({"name": "Testort"}, marks, ["pks", "residents"])
    assert sentence.startswith("**Synthetische Daten:** Polizeiliche Kriminalstatistik (PKS): synthetische Werte")
    assert "keine echten Zahlen von Testort" in sentence
    assert synthetic_sentence({"name": "Testort"}, marks, ["residents"]) == ""


def test_derived_from_in_a_params_file_is_resolved_and_confined(tmp_path):
    from kit.errors import ParamsError

    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "quelle.xlsx").write_bytes(b"")
    text = MINIMAL_PARAMS.format(data=data).replace(
        "  residents: r.csv\n", "  residents: {path: r.csv, derived_from: [register.xlsx]}\n")
    (tmp_path / "testort.yaml").write_text(text, encoding="utf-8")
    params = load_params(tmp_path / "testort.yaml")
    assert params["inputs"]["residents"]["derived_from"] == [str(data / "register.xlsx")]
    outside = text.replace("[register.xlsx]", "[../quelle.xlsx]")
    (tmp_path / "testort.yaml").write_text(outside, encoding="utf-8")
    with pytest.raises(ParamsError, match="derived_from"):
        load_params(tmp_path / "testort.yaml")
