"""End-to-end tests of the batch pipeline (papermill run of all stage notebooks).

One commune (muldenau) is run once through all three stages (module fixture,
~15 s); the report, privacy and batch tests share that run. Demo data are
generated into a temporary folder, so the repository's data/ and output/ are
never touched. The broken-input tests fail in stage 1 and take a few seconds.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import yaml

from kit.params import PARAMS_DIR, load_params
from kit.demo import generate_demo
from kit.io import read_table
from kit.runner import STAGES, run_batch, run_commune, write_index

REPORTS = [f"{nb.removesuffix('.ipynb')}.html" for _, nb, _ in STAGES]
LAGEBERICHT = ["Lagebericht_Muldenau.html", "Lagebericht_Muldenau.pdf"]  # linked from the index too
# results a later stage reads (stage 2 reads the margins, stage 3 the key indicators)
HANDOVER_RESULTS = ["population_margins.csv", "key_indicators_profile.csv", "key_indicators_survey.csv",
                    "survey_estimates.csv", "recommendations.csv"]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def params_copy(commune: str, data_root: Path, target_dir: Path) -> Path:
    """Copy of params/<commune>.yaml whose data_dir points to data_root/<commune>."""
    data = yaml.safe_load((PARAMS_DIR / f"{commune}.yaml").read_text(encoding="utf-8"))
    data["data_dir"] = str(data_root / commune)
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / f"{commune}.yaml"  # the runner takes the file stem as provisional id
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


class _VisibleText(HTMLParser):
    """Text a reader sees in the browser: everything outside <script>/<style>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self._hidden = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _VisibleText()
    parser.feed(page)
    parser.close()
    return re.sub(r"\s+", " ", " ".join(parser.parts))


def links(page: str) -> list[str]:
    return re.findall(r'<a\s[^>]*href="([^"]+)"', page)


@dataclass
class Run:
    params_file: Path
    data_dir: Path
    output_dir: Path
    status: object
    inputs_before: dict[str, str]
    log: list[str]

    @property
    def commune_dir(self) -> Path:
        return self.output_dir / "muldenau"


@pytest.fixture(scope="module")
def muldenau_run(tmp_path_factory) -> Run:
    root = tmp_path_factory.mktemp("pipeline")
    data_root = root / "data"
    generate_demo(data_root, communes=["muldenau"])
    params_file = params_copy("muldenau", data_root, root / "params")
    inputs_before = tree_hashes(data_root / "muldenau")
    output_dir = root / "output"
    log: list[str] = []
    status = run_commune(params_file, output_dir, force=True, log=log.append)
    write_index(output_dir, [status])
    return Run(params_file, data_root / "muldenau", output_dir, status, inputs_before, log)


# ---------------------------------------------------------------------------
# 1. full run
# ---------------------------------------------------------------------------


def test_full_run_all_stages_ok(muldenau_run):
    run = muldenau_run
    stages = run.status.stages
    assert [s.stage for s in stages] == [s for s, _, _ in STAGES]
    assert all(s.status == "ok" for s in stages), [(s.stage, s.status, s.message) for s in stages]
    assert run.status.ok

    for name in REPORTS:
        report = run.commune_dir / name
        assert report.is_file() and report.stat().st_size > 10_000, report

    status_json = json.loads((run.commune_dir / "status.json").read_text(encoding="utf-8"))
    assert [s["status"] for s in status_json["stages"]] == ["ok"] * len(STAGES)

    results = run.commune_dir / "results"
    for name in HANDOVER_RESULTS:
        table = pd.read_csv(results / name)
        assert len(table) > 0, name

    # the run only read its inputs
    assert tree_hashes(run.data_dir) == run.inputs_before


def test_population_indicator_matches_register(muldenau_run):
    """The stage-1 key indicator stage 3 reads equals the register total, summed here from the raw file."""
    residents = read_table(muldenau_run.data_dir / "residents.csv")
    years = residents["year"].astype(int)
    expected = residents.loc[years == years.max(), "count"].astype(int).sum()
    indicators = pd.read_csv(muldenau_run.commune_dir / "results" / "key_indicators_profile.csv")
    value = indicators.loc[indicators["indicator"] == "profile.population", "value"]
    assert len(value) == 1
    assert value.iloc[0] == expected


def test_index_links_the_three_reports(muldenau_run):
    index = muldenau_run.output_dir / "index.html"
    page = index.read_text(encoding="utf-8")
    hrefs = [html.unescape(h) for h in links(page)]
    assert sorted(hrefs) == sorted(f"muldenau/{name}" for name in REPORTS + LAGEBERICHT)
    for href in hrefs:
        assert (index.parent / href).is_file(), href
    assert "Muldenau" in visible_text(page)


# ---------------------------------------------------------------------------
# 2. report hygiene
# ---------------------------------------------------------------------------

# Text that must never reach a reader: pandas/Python leftovers and code.
FORBIDDEN = {
    "NaN": r"\bNaN\b",
    "nan": r"\bnan\b",  # as a word: 'Grünanlage' or 'genannt' contain 'nan'
    "<NA>": r"<NA>",
    "None": r"\bNone\b",
    "Traceback": r"Traceback",
    "Warning": r"Warning",  # UserWarning, RuntimeWarning, FutureWarning ...
    "warn": r"\bwarn(?:ings?)?\b",  # the English word only ('Warnung' would be fine German)
    "DataFrame": r"DataFrame",
    "dtype": r"dtype",
    "Error": r"Error",  # KeyError, ValueError ...
    "import": r"\bimport ",
    "from kit": r"from kit",
    "object at 0x": r"object at 0x",
    "figure repr instead of an image": r"<Figure size|Figure\(\d",
}
RAW_COLUMNS = ["district_id", "n_unweighted", "share_65plus_pct", "age_group", "n_cell", "weighted_base",
               "group_var", "subject_label"]
FILE_SUFFIX = r"\.(?:csv|xlsx|yaml|yml|json|geojson|sav|gpkg|ipynb|html)\b"


def _params_keys() -> set[str]:
    """Dotted paths of every key in params/defaults.yaml (profile.pks_reference, ...)."""
    def walk(node, prefix):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            yield path
            if isinstance(value, dict):
                yield from walk(value, path)

    defaults = yaml.safe_load((PARAMS_DIR / "defaults.yaml").read_text(encoding="utf-8"))
    return {p for p in walk(defaults, "") if "." in p}


def _snippet(text: str, match: re.Match) -> str:
    return text[max(0, match.start() - 80): match.end() + 80]


@pytest.mark.parametrize("report", REPORTS)
def test_report_has_no_technical_leftovers(muldenau_run, report):
    page = (muldenau_run.commune_dir / report).read_text(encoding="utf-8")
    text = visible_text(page)
    assert len(text) > 1000
    found = {label: _snippet(text, m) for label, pattern in FORBIDDEN.items()
             if (m := re.search(pattern, text))}
    assert not found, found
    raw = {c: _snippet(text, m) for c in RAW_COLUMNS if (m := re.search(re.escape(c), text))}
    assert not raw, raw
    # Any snake_case identifier is a raw column / indicator id, unless it is a file name
    # (the provenance table lists input files such as survey_responses.csv) or a params
    # key the analyst is pointed to on purpose (e.g. "profile.pks_reference").
    for key in sorted(_params_keys(), key=len, reverse=True):
        text = text.replace(key, "")
    ids = {m.group(0): _snippet(text, m)
           for m in re.finditer(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b(?!" + FILE_SUFFIX + ")", text)}
    assert not ids, ids
    # English decimals (a dot followed by 1-2 digits that is not part of a date like 31.12.2024);
    # version numbers of credit lines and licences ("Version 1.0", "ODbL 1.0", kit.sources) are no decimals
    english = re.findall(r"(?<![\d.])\d+\.\d{1,2}(?![\d.])", re.sub(r"\b(?:Version|ODbL) \d+\.\d+\b", "", text))
    assert not english, english


@pytest.mark.parametrize("report", REPORTS)
def test_report_contains_no_code(muldenau_run, report):
    page = (muldenau_run.commune_dir / report).read_text(encoding="utf-8")
    # nbconvert marks every code cell whose input was dropped with jp-mod-noInput; a code
    # cell with its input would contain a highlighted source block (hl-ipython3)
    code_cells = re.findall(r'class="jp-Cell jp-CodeCell[^"]*"', page)
    assert code_cells and all("jp-mod-noInput" in c for c in code_cells)
    assert "hl-ipython3" not in page
    text = visible_text(page)
    for snippet in ("commune_id =", "params_file =", "open_stage(", "kit.", "display("):
        assert snippet not in text, snippet


@pytest.mark.parametrize("report", REPORTS)
def test_report_declares_german_language(muldenau_run, report):
    """Browsers and screen readers hyphenate and pronounce by the declared language."""
    page = (muldenau_run.commune_dir / report).read_text(encoding="utf-8")
    assert re.search(r"<html[^>]*>", page).group(0) == '<html lang="de">'


def test_profile_uses_german_number_format(muldenau_run):
    text = visible_text((muldenau_run.commune_dir / REPORTS[0]).read_text(encoding="utf-8"))
    thousands = re.findall(r"(?<![\d.,])\d{1,3}(?:\.\d{3})+(?![\d.])", text)  # 7.904 (not 31.12.2024)
    decimals = re.findall(r"(?<![\d.,])\d+,\d+(?![\d.])", text)  # 31,6
    assert thousands, "kein Tausenderpunkt im Gebietsprofil"
    assert decimals, "kein Dezimalkomma im Gebietsprofil"
    # the register total is shown with a thousands separator
    residents = read_table(muldenau_run.data_dir / "residents.csv")
    years = residents["year"].astype(int)
    total = int(residents.loc[years == years.max(), "count"].astype(int).sum())
    assert total >= 1000
    assert f"{total:,}".replace(",", ".") in text
    assert not re.search(rf"(?<![\d.,]){total}(?![\d])", text)  # never as bare 7904


# ---------------------------------------------------------------------------
# 3. privacy
# ---------------------------------------------------------------------------


def test_published_survey_estimates_respect_disclosure_limits(muldenau_run):
    privacy = load_params(muldenau_run.params_file)["privacy"]
    min_cell, min_base = privacy["min_cell"], privacy["min_base_percent"]
    assert (min_cell, min_base) == (5, 30)
    est = pd.read_csv(muldenau_run.commune_dir / "results" / "survey_estimates.csv")
    assert est["suppressed"].dtype == bool
    shown = est[~est["suppressed"]]
    hidden = est[est["suppressed"]]
    assert len(shown) > 100 and len(hidden) > 0
    assert shown["n_cell"].notna().all() and shown["n_unweighted"].notna().all()
    small_cell = shown[shown["n_cell"] < min_cell]
    small_base = shown[shown["n_unweighted"] < min_base]
    assert small_cell.empty, small_cell[["item", "category", "group", "n_cell"]].head()
    assert small_base.empty, small_base[["item", "category", "group", "n_unweighted"]].head()
    # a suppressed row carries no value that could be published by mistake
    assert hidden[["estimate", "lower", "upper"]].isna().all().all()

    topics = pd.read_csv(muldenau_run.commune_dir / "results" / "survey_free_text_topics.csv")
    shown_topics = topics[~topics["suppressed"]]
    assert (shown_topics["mentions"] >= min_cell).all(), shown_topics
    assert topics.loc[topics["suppressed"], "mentions"].isna().all()


# columns of the survey report whose cells count respondents (the cleaning log's
# "Fragebögen"/"Werte" count data-quality findings, not answers, and are left out)
SURVEY_COUNT_HEADERS = {"Antworten", "Befragte", "Rücklauf", "Nennungen", "vollständige Antworten"}


def _kit_tables(page: str):
    """(caption, headers, rows of cell texts) of every kit table in an HTML text."""
    for table in re.findall(r'<table class="kit-table">(.*?)</table>', page, flags=re.S):
        cap = re.search(r"<caption>(.*?)</caption>", table, flags=re.S)
        # kit.htmlpost gives header cells a scope and makes a naming first column a row header
        head, _, body = table.partition("<tbody>")
        headers = [html.unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", head, flags=re.S)]
        rows = [[html.unescape(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, flags=re.S)]
                for tr in re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)]
        yield html.unescape(cap.group(1)) if cap else "", headers, rows


def _small_counts_in_tables(page: str, min_cell: int) -> list[str]:
    bad = []
    for caption, headers, rows in _kit_tables(page):
        for j, h in enumerate(headers):
            if h not in SURVEY_COUNT_HEADERS:
                continue
            for row in rows:
                text = row[j].replace(".", "").strip() if j < len(row) else ""
                if text.isdigit() and int(text) < min_cell:
                    bad.append(f"{caption}: {h} = {text} ({row[0]})")
    return bad


def test_no_output_file_holds_a_survey_count_below_min_cell(muldenau_run):
    """CSV, JSON, HTML report and executed notebook: no survey count below min_cell, no base
    below min_cell, and no scale figures on fewer than min_base answers."""
    privacy = load_params(muldenau_run.params_file)["privacy"]
    min_cell, min_base = privacy["min_cell"], privacy["min_base_percent"]
    results = muldenau_run.commune_dir / "results"
    est = pd.read_csv(results / "survey_estimates.csv")
    assert (est["n_cell"].dropna() >= min_cell).all() and (est["n_unweighted"].dropna() >= min_cell).all()
    assert est.loc[est["suppressed"], "n_cell"].isna().all()  # suppressed rows publish no counts
    rr = pd.read_csv(results / "survey_response_rates.csv")
    assert (rr["returned"].dropna() >= min_cell).all() and rr.loc[rr["returned"].isna(), "rate"].isna().all()
    svp = pd.read_csv(results / "survey_sample_vs_population.csv")
    assert (svp["sample_n"].dropna() >= min_cell).all()
    assert svp.loc[svp["sample_n"].isna(), "sample_share"].isna().all()
    topics = pd.read_csv(results / "survey_free_text_topics.csv")
    assert (topics["mentions"].dropna() >= min_cell).all()
    scales = pd.read_csv(results / "survey_scales.csv")
    assert (scales["n_complete"].dropna() >= min_base).all() and (scales["index_n"].dropna() >= min_base).all()
    meta = json.loads((results / "survey_meta.json").read_text(encoding="utf-8"))
    assert "missing_by_margin" not in meta["weighting"]
    # the demo's LimeSurvey export has one duplicate and one invalid code: neither count is published,
    # and neither is the number received (received minus analysed would give the removed one back)
    log = pd.read_csv(results / "survey_cleaning_log.csv")
    shown = log["cases"].dropna()
    assert ((shown == 0) | (shown >= min_cell)).all()
    assert log.loc[log["rule"].isin(["duplicate_id", "invalid_code"]), "suppressed"].all()
    assert meta["records_in"] is None and meta["cases_dropped"] is None
    for name in ("population_totals.csv", "population_by_district.csv"):
        pop = pd.read_csv(results / name)
        for col in ("m", "w", "d"):
            shown = pop[col].dropna()
            assert ((shown == 0) | (shown >= min_cell)).all(), (name, col)

    page = (muldenau_run.commune_dir / "2_survey.html").read_text(encoding="utf-8")
    tables = list(_kit_tables(page))
    assert any(set(h) & SURVEY_COUNT_HEADERS for _, h, _ in tables)  # the check sees the count columns
    assert _small_counts_in_tables(page, min_cell) == []
    nb = muldenau_run.commune_dir / "notebooks" / "2_survey.ipynb"
    html_parts = "".join(h for _, h, _ in _outputs(nb))
    assert _small_counts_in_tables(html_parts, min_cell) == []
    # the checker itself finds a small count
    assert _small_counts_in_tables('<table class="kit-table"><thead><tr><th>Gruppe</th><th>Antworten</th></tr>'
                                   '</thead><tbody><tr><td>x</td><td>3</td></tr></tbody></table>', min_cell)


def _free_texts(data_dir: Path) -> list[str]:
    """Q12 answers longer than 15 characters that exist only in the response file.

    Answers identical to a cell of another input (e.g. a place name from places.csv,
    which the profile legitimately lists) cannot prove a leak and are left out."""
    responses = read_table(data_dir / "survey_responses.csv")
    texts = {t.strip() for t in responses["Q12"].dropna() if len(t.strip()) > 15}
    elsewhere: set[str] = set()
    for path in data_dir.glob("*.csv"):
        if path.name != "survey_responses.csv":
            table = read_table(path)
            elsewhere.update(v.strip() for col in table.columns for v in table[col].dropna())
    return sorted(texts - elsewhere)


def test_free_text_answers_never_leave_the_kit(muldenau_run):
    texts = _free_texts(muldenau_run.data_dir)
    assert len(texts) >= 20  # the demo has 85 answers, most with details that occur nowhere else
    forms = {}
    for t in texts:
        # as written (UTF-8), JSON-escaped (ipynb/json with ensure_ascii) and HTML-escaped
        for variant in (t, json.dumps(t)[1:-1], html.escape(t), html.escape(t, quote=False)):
            forms[variant.encode("utf-8")] = t
    files = [p for p in muldenau_run.output_dir.rglob("*") if p.is_file()]
    suffixes = {p.suffix for p in files}
    assert {".html", ".ipynb", ".csv", ".json", ".log"} <= suffixes
    leaks = {}
    for path in files:
        content = path.read_bytes()
        for needle, text in forms.items():
            if needle in content:
                leaks.setdefault(str(path.relative_to(muldenau_run.output_dir)), set()).add(text)
    assert not leaks, leaks


# A respondent-level table shows one row per respondent. Muldenau has ~400
# respondents, while every aggregate table in the reports has at most a few dozen
# rows (items x categories, districts, topics). So an output with more than 50
# table rows (HTML <tr>, or lines of plain text / a pandas "[N rows x M columns]"
# summary) in any executed notebook is treated as microdata. Even a short
# df.head() of the responses is caught by its column headers: an output table that
# uses three or more of the response file's own column names (id, submitdate, Q01,
# Q05 ...) as headers shows questionnaire records, not labelled results.
MAX_ROWS = 50


def _outputs(nb_path: Path):
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            html_part = "".join(data.get("text/html", ""))
            text_part = "".join(data.get("text/plain", "")) + "".join(out.get("text", ""))
            text_part += "".join(out.get("traceback", []))
            yield i, html_part, text_part


def test_executed_notebooks_hold_no_respondent_level_data(muldenau_run):
    responses = read_table(muldenau_run.data_dir / "survey_responses.csv")
    assert len(responses) > 2 * MAX_ROWS  # the criterion can tell microdata from aggregates
    raw_columns = {c.strip() for c in responses.columns}
    notebooks = sorted((muldenau_run.commune_dir / "notebooks").glob("*.ipynb"))
    assert len(notebooks) == 3
    problems = []
    for nb_path in notebooks:
        for cell, html_part, text_part in _outputs(nb_path):
            where = f"{nb_path.name}, Zelle {cell}"
            n_tr = len(re.findall(r"<tr[\s>]", html_part))
            if n_tr > MAX_ROWS:
                problems.append(f"{where}: Tabelle mit {n_tr} Zeilen")
            if text_part.count("\n") > MAX_ROWS:
                problems.append(f"{where}: Textausgabe mit {text_part.count(chr(10))} Zeilen")
            for m in re.finditer(r"\[(\d+) rows x \d+ columns\]", html_part + text_part):
                if int(m.group(1)) > MAX_ROWS:
                    problems.append(f"{where}: {m.group(0)}")
            headers = {html.unescape(re.sub(r"<[^>]+>", "", h)).strip()
                       for h in re.findall(r"<th[^>]*>(.*?)</th>", html_part, flags=re.S)}
            if len(headers & raw_columns) >= 3:
                problems.append(f"{where}: Spalten der Antwortdatei {sorted(headers & raw_columns)}")
    assert not problems, problems


# ---------------------------------------------------------------------------
# 4./5. broken input in a batch
# ---------------------------------------------------------------------------

CORRUPT_LINE = 1500  # 0-based line index in elsterhain's residents.csv (line 0 = header)


def _corrupt_age_group(path: Path, line_index: int, value: bytes) -> int:
    """Replace age_group in one data line; returns the row as a spreadsheet shows it."""
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # elsterhain: UTF-8 with BOM, ',' separated, CRLF
    lines = raw.split(b"\r\n")
    header = lines[0].removeprefix(b"\xef\xbb\xbf").split(b",")
    col = header.index(b"age_group")
    fields = lines[line_index].split(b",")
    assert fields[col] in {b"0-5", b"6-15", b"16-17", b"18-24", b"25-34", b"35-44", b"45-54",
                           b"55-64", b"65-74", b"75-84", b"85+"}
    fields[col] = value
    lines[line_index] = b",".join(fields)
    path.write_bytes(b"\r\n".join(lines))
    return line_index + 1  # header = row 1, so line index i is row i + 1


def test_broken_input_fails_one_commune_not_the_batch(muldenau_run, tmp_path):
    data_root = tmp_path / "data"
    generate_demo(data_root, communes=["elsterhain"])
    residents = data_root / "elsterhain" / "residents.csv"
    row = _corrupt_age_group(residents, CORRUPT_LINE, b"16-99")
    elsterhain_params = params_copy("elsterhain", data_root, tmp_path / "params")
    before = sha256(residents)

    # Reuse the finished muldenau run: same params file and data, so the runner
    # finds an unchanged fingerprint and keeps the reports (no second 15-s run).
    out = tmp_path / "output"
    shutil.copytree(muldenau_run.output_dir, out)
    (out / "index.html").unlink()
    results = run_batch([muldenau_run.params_file, elsterhain_params], out, jobs=2)

    by_id = {r.commune_id: r for r in results}
    assert set(by_id) == {"muldenau", "elsterhain"}
    assert by_id["muldenau"].ok
    assert all((out / s.report).is_file() for s in by_id["muldenau"].stages)

    stages = by_id["elsterhain"].stages
    assert [s.status for s in stages] == ["fehlgeschlagen", "übersprungen", "übersprungen"]
    message = stages[0].message
    assert "residents.csv" in message
    assert f"Zeile {row}" in message, message
    assert "age_group" in message
    assert "16-99" in message
    assert "Traceback" not in message

    status_json = json.loads((out / "elsterhain" / "status.json").read_text(encoding="utf-8"))
    assert status_json["stages"][0]["status"] == "fehlgeschlagen"
    assert status_json["stages"][0]["message"] == message

    page = (out / "index.html").read_text(encoding="utf-8")
    text = visible_text(page)
    assert "fehlgeschlagen" in text
    assert f"Zeile {row}" in text and "16-99" in text and "residents.csv" in text
    hrefs = links(page)
    assert sorted(hrefs) == sorted(f"muldenau/{name}" for name in REPORTS + LAGEBERICHT)

    assert sha256(residents) == before  # the kit never writes to an input


def test_missing_required_file_is_named_and_index_written(muldenau_run, tmp_path):
    data_root = tmp_path / "data"
    shutil.copytree(muldenau_run.data_dir, data_root / "muldenau")
    (data_root / "muldenau" / "pks.csv").unlink()
    params = params_copy("muldenau", data_root, tmp_path / "params")
    out = tmp_path / "output"

    results = run_batch([params], out, jobs=1)

    assert len(results) == 1
    stages = results[0].stages
    assert [s.status for s in stages] == ["fehlgeschlagen", "übersprungen", "übersprungen"]
    message = stages[0].message
    assert "pks.csv" in message, message
    assert "Traceback" not in message and "FileNotFoundError" not in message
    assert not (data_root / "muldenau" / "pks.csv").exists()  # nothing invented a replacement
    index = out / "index.html"
    assert index.is_file()
    text = visible_text(index.read_text(encoding="utf-8"))
    assert "fehlgeschlagen" in text and "pks.csv" in text


@pytest.mark.parametrize("report", ["1_profile.html", "2_survey.html"])
def test_report_shows_figures_as_images(muldenau_run, report):
    page = (muldenau_run.commune_dir / report).read_text(encoding="utf-8")
    images = re.findall(r'<img[^>]+src="data:image/png;base64,', page)
    assert len(images) >= 3, f"{report}: only {len(images)} embedded figures"


def test_fmt_indicator_units():
    from kit.report import fmt_indicator

    assert fmt_indicator(0.2554, "Anteil") == "25,5\u00a0%"
    assert fmt_indicator(250568.0, "Personen") == "250.568 Personen"
    assert fmt_indicator(1.0, "ja/nein") == "ja" and fmt_indicator(0.0, "ja/nein") == "nein"
    assert fmt_indicator(7225.14, "je 100.000 Einw.") == "7.225,1 je 100.000 Einw."
    assert fmt_indicator(float("nan"), "Anteil") == "–"


def test_commune_without_survey_gets_profile_and_recommendations(muldenau_run, tmp_path):
    """No survey in the params: stage 2 is marked as not applicable (not failed) and
    stage 3 recommends from the area profile alone."""
    params = params_copy("muldenau", muldenau_run.data_dir.parent, tmp_path / "params")
    data = yaml.safe_load(params.read_text(encoding="utf-8"))
    del data["survey"]
    params.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    out = tmp_path / "output"

    status = run_batch([params], out, jobs=1)[0]

    assert [s.status for s in status.stages] == ["ok", "entfällt", "ok"]
    assert "keine Bürgerbefragung" in status.stages[1].message and "survey." not in status.stages[1].message
    assert status.ok
    results = out / "muldenau" / "results"
    assert not (results / "key_indicators_survey.csv").exists()
    recs = pd.read_csv(results / "recommendations.csv")
    rules = pd.read_csv(results / "recommendation_rules.csv")
    survey_rules = rules[rules["indicator"].str.startswith("survey.")]
    assert len(survey_rules) and not survey_rules["evaluable"].any()  # survey rules cannot be checked ...
    assert (survey_rules["reason"] == "indicator_missing").all()
    report = visible_text((out / "muldenau" / "3_recommend.html").read_text(encoding="utf-8"))
    assert "nicht prüfbar" in report and "survey." not in report  # ... and the report says so in words
    assert recs["evaluable"].any()  # profile rules (e.g. share of residents 65+) still are
    index = visible_text((out / "index.html").read_text(encoding="utf-8"))
    assert "entfällt" in index and "keine Bürgerbefragung" in index


# ---------------------------------------------------------------------------
# 6. a failed rerun leaves no stale reports or results
# ---------------------------------------------------------------------------

# A Python class name (InputError, ValueError, PapermillExecutionError ...) or a traceback.
TECHNICAL = re.compile(r"\b\w*(?:Error|Exception)\b|Traceback")


def _previous_run_copy(run: Run, tmp_path: Path) -> tuple[Path, Path]:
    """(params file, output dir): a copy of the finished muldenau run and its data, plus an
    unrelated commune folder that no rerun of muldenau may touch."""
    data_root = tmp_path / "data"
    shutil.copytree(run.data_dir, data_root / "muldenau")
    params = params_copy("muldenau", data_root, tmp_path / "params")
    out = tmp_path / "output"
    shutil.copytree(run.output_dir, out)
    other = out / "elsterhain"
    other.mkdir()
    (other / "1_profile.html").write_text("<html>anderer Lauf</html>", encoding="utf-8")
    return params, out


def _assert_no_stale_outputs(out: Path, index_text: str) -> None:
    commune = out / "muldenau"
    for name in REPORTS:
        assert not (commune / name).exists(), f"{name} eines früheren Laufs ist liegen geblieben"
    for name in HANDOVER_RESULTS:
        assert not (commune / "results" / name).exists(), f"{name} eines früheren Laufs ist liegen geblieben"
    assert links(index_text) == []
    assert (out / "elsterhain" / "1_profile.html").read_text(encoding="utf-8") == "<html>anderer Lauf</html>"


def test_failed_rerun_removes_the_previous_reports_and_results(muldenau_run, tmp_path):
    params, out = _previous_run_copy(muldenau_run, tmp_path)
    commune = out / "muldenau"
    assert all((commune / name).is_file() for name in REPORTS)  # the previous run was complete
    residents = params.parent.parent / "data" / "muldenau" / "residents.csv"
    lines = residents.read_bytes().split(b"\r\n")
    lines[3] = lines[3].replace(b";", b";x", 1)  # a broken cell in row 4: stage 1 fails now
    residents.write_bytes(b"\r\n".join(lines))

    log: list[str] = []
    status = run_commune(params, out, log=log.append)
    write_index(out, [status])

    assert [s.status for s in status.stages] == ["fehlgeschlagen", "übersprungen", "übersprungen"]
    assert not status.ok
    assert "residents.csv" in status.stages[0].message and "Zeile 4" in status.stages[0].message
    assert "früheren Laufs entfernt" in status.stages[1].message
    status_json = json.loads((commune / "status.json").read_text(encoding="utf-8"))
    assert [s["status"] for s in status_json["stages"]] == ["fehlgeschlagen", "übersprungen", "übersprungen"]
    page = (out / "index.html").read_text(encoding="utf-8")
    _assert_no_stale_outputs(out, page)
    # the later stages' executed notebooks went too; the failed one stays (it shows where)
    assert sorted(p.name for p in (commune / "notebooks").glob("*.ipynb")) == ["1_profile.ipynb"]
    for text in (visible_text(page), json.dumps(status_json, ensure_ascii=False), "\n".join(log)):
        assert not TECHNICAL.search(text), TECHNICAL.search(text)
    # a second run with the same broken input is not skipped as "unchanged"
    again = run_commune(params, out, log=log.append)
    assert [s.status for s in again.stages] == ["fehlgeschlagen", "übersprungen", "übersprungen"]


def test_rerun_with_broken_params_removes_the_previous_reports(muldenau_run, tmp_path):
    params, out = _previous_run_copy(muldenau_run, tmp_path)
    data = yaml.safe_load(params.read_text(encoding="utf-8"))
    data.setdefault("privacy", {})["min_zelle"] = 3  # a misspelt key
    params.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")

    status = run_commune(params, out, log=lambda m: None)
    write_index(out, [status])

    assert [s.status for s in status.stages] == ["übersprungen"] * 3
    assert "min_zelle" in status.message and status.error_kind == "params"
    page = (out / "index.html").read_text(encoding="utf-8")
    _assert_no_stale_outputs(out, page)
    assert "min_zelle" in visible_text(page)
    assert not TECHNICAL.search(visible_text(page))


@pytest.mark.parametrize("report", REPORTS)
def test_report_names_no_file_or_folder_before_its_provenance(muldenau_run, report):
    """Text meant for a council names no parameter file, folder or file name; only the
    provenance table at the end lists the input files with their hashes."""
    text = visible_text((muldenau_run.commune_dir / report).read_text(encoding="utf-8"))
    assert "Herkunft der Angaben" in text
    body = text.split("Herkunft der Angaben")[0]
    files = re.findall(r"[\w/.-]+" + FILE_SUFFIX, body) + re.findall(r"\bparams/|\bdata_schemas/|\boutput/", body)
    assert not files, files


def test_survey_report_opens_with_findings_and_compares_with_published_surveys(muldenau_run):
    """The survey report opens with 'Das Wichtigste in Kürze' (numbered findings with their
    intervals), compares with the national victimisation survey and shows what goes with
    feeling unsafe; the results hold the comparison and the model without per-group counts."""
    text = visible_text((muldenau_run.commune_dir / "2_survey.html").read_text(encoding="utf-8"))
    summary = text.split("Das Wichtigste in Kürze")[1].split("Rücklauf und Gewichtung")[0]
    assert summary.count("95-%-Bereich") >= 5
    assert "Deutscher Viktimisierungssurvey 2017" in summary
    assert text.index("Das Wichtigste in Kürze") < text.index("Rücklauf und Gewichtung")
    assert "Vergleich mit anderen Befragungen" in text and "Was hängt mit dem Unsicherheitsgefühl zusammen?" in text
    results = muldenau_run.commune_dir / "results"
    bench = pd.read_csv(results / "survey_benchmarks.csv")
    key = pd.read_csv(results / "key_indicators_survey.csv").set_index("indicator")
    row = bench[bench["reference"] == "dvs2017_de"].iloc[0]
    assert row["value"] == pytest.approx(key.loc["survey.unsafe_night", "value"])
    # the verdict agrees with the published interval (the reference has no sample size)
    inside = key.loc["survey.unsafe_night", "lower"] <= row["reference_value"] <= key.loc["survey.unsafe_night", "upper"]
    assert (row["verdict"] == "similar") == inside
    model = pd.read_csv(results / "survey_drivers.csv")
    assert "n" not in model.columns and (model["or"] > 0).all()


def test_survey_report_says_what_the_cleaning_excluded_and_compares_the_response_rate(muldenau_run):
    """The demo's planted response-quality cases (kit.demo_quality) are named in the report
    with their counts hidden ("weniger als 5"), and the response rate stands beside the
    ASSKomm range 30-45 % with its interval (kit.survey.response_benchmark)."""
    text = visible_text((muldenau_run.commune_dir / "2_survey.html").read_text(encoding="utf-8"))
    assert ("Von der Auswertung ausgeschlossen wurden weniger als 5 doppelt erfasste Datensätze, weniger als 5 "
            "leere Fragebögen") in text
    assert "weniger als 5 abgebrochene Online-Fragebögen" in text
    assert "weniger als 5 sehr schnell ausgefüllte Fragebögen" in text
    assert "weniger als 5 Fragebögen mit gleichförmigem Antwortmuster" in text
    rb = pd.read_csv(muldenau_run.commune_dir / "results" / "survey_response_benchmark.csv").iloc[0]
    rates = pd.read_csv(muldenau_run.commune_dir / "results" / "survey_response_rates.csv")
    total = rates[rates["margin"] == "gesamt"].iloc[0]
    assert rb["rate"] == pytest.approx(total["returned"] / total["issued"]) and rb["verdict"] == "within"
    assert re.search(r"Die Rücklaufquote von 40,6\s%\s\(95-%-Bereich 37,6–43,7\s%\) liegt innerhalb der "
                     r"Spanne, die der Landespräventionsrat Sachsen .* angibt \(30 bis 45\s%\)", text)


def test_recommendations_report_opens_with_the_measures_and_their_reasons(muldenau_run):
    """Stage 3 opens with 'Das Wichtigste in Kürze': the number of recommended measures and
    each (up to five) with the finding that triggered it, as in the result files."""
    text = visible_text((muldenau_run.commune_dir / "3_recommend.html").read_text(encoding="utf-8"))
    assert text.index("Das Wichtigste in Kürze") < text.index("Empfohlene Maßnahmen")
    summary = text.split("Das Wichtigste in Kürze")[1].split("Empfohlene Maßnahmen")[0]
    results = muldenau_run.commune_dir / "results"
    measures = pd.read_csv(results / "recommendations.csv")
    chosen = measures[measures["triggered"]]
    assert f"empfehlen die Regeln {len(chosen)} für diese Kommune" in summary
    top = chosen.sort_values("n_met", ascending=False, kind="stable").head(5)
    for title in top["title"]:
        assert f"{title} – ausgelöst durch" in summary, title


def test_reports_load_nothing_from_the_internet(muldenau_run):
    """No script, style or image of a report comes from another server (offline use, and no
    third-party request from an administration's document)."""
    for report in REPORTS:
        page = (muldenau_run.commune_dir / report).read_text(encoding="utf-8")
        assert not re.findall(r'(?:src|href)="https?://', page), report


def test_places_of_discomfort_one_count_in_both_reports(muldenau_run):
    """Issue 9, item 8: the free-text places are counted once (kit.gazetteer), under the
    disclosure policy, and stage 1 shows the same counts as stage 2's result file; the
    review list of doubtful answers is never written under output/."""
    min_cell = load_params(muldenau_run.params_file)["privacy"]["min_cell"]
    results = muldenau_run.commune_dir / "results"
    places = pd.read_csv(results / "survey_places_mentions.csv", dtype={"key": str, "district_id": str})
    shown = places.loc[~places["suppressed"], "mentions"]
    assert shown.notna().all() and (shown >= min_cell).all(), places
    assert places.loc[places["suppressed"], "mentions"].isna().all()
    assert {"place", "district", "answers"} <= set(places["level"])
    named = places[(places["level"] == "place") & ~places["suppressed"]]
    assert len(named) >= 3
    # stage 1's places table: the same number beside every place
    profile = (muldenau_run.commune_dir / "1_profile.html").read_text(encoding="utf-8")
    head, rows = next((h, rows) for _, h, rows in _kit_tables(profile) if "Ort" in h and "Nennungen" in h)
    in_profile = {r[head.index("Ort")]: r[head.index("Nennungen")] for r in rows}
    for _, r in places[places["level"] == "place"].iterrows():
        assert in_profile[r["name"]] == ("–" if r["suppressed"] else str(int(r["mentions"]))), (r["name"], in_profile)
    survey = visible_text((muldenau_run.commune_dir / "2_survey.html").read_text(encoding="utf-8"))
    top = named.sort_values(["mentions", "name"], ascending=[False, True]).iloc[0]
    assert f"Am häufigsten genannt werden {top['name']} ({int(top['mentions'])} Befragte)" in survey
    assert "Ortsverzeichnis" in survey and "Ortsverzeichnis" in visible_text(profile)
    assert not [p for p in muldenau_run.output_dir.rglob("*") if "pruef" in p.name.lower()]
