"""The publication check (kit/checker.py, `python -m kit check`).

One demo commune (muldenau: LimeSurvey CSV with ids, submission times and free-text answers)
runs once through the real batch (module fixture, HTML only; the batch itself runs the check at
its end). The clean output must give no finding; copies of it with one planted leak each must
give that leak, named by file, place and kind; and the batch hook must mark a commune with a
leak as failed. What is planted comes from the commune's own response file (read here with
pandas, independently of the kit's survey import).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from disclosure_attack import _range
from hypothesis import given, settings
from hypothesis import strategies as st

from batch_runs import make_inputs
from kit import checker
from kit.checker import (
    KIND_DATE,
    KIND_DIFFERENCING,
    KIND_FREE_TEXT,
    KIND_ID,
    KIND_RECORDS,
    KIND_SMALL,
    check_output,
    mark_failed,
    recoverable,
)
from kit.cli import main
from kit.runner import (
    _read_status,
    _status_from_dict,
    publication_check,
    run_batch,
    write_index,
)

COMMUNE = "muldenau"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("checker")
    params = make_inputs(root, [COMMUNE])[0]  # demo data and a params copy under root
    checked = []

    def spy(status, output_dir, params=None):  # the batch's own check, recorded
        report = mark_failed(status, output_dir, params)
        checked.append((status.commune_id, report.ok))
        return report

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KIT_PDF", "0")
        mp.setattr(checker, "mark_failed", spy)
        statuses = run_batch([params], root / "output", jobs=1, force=True)
    return {"root": root, "output": root / "output", "statuses": statuses, "checked": checked,
            "responses": root / "data" / COMMUNE / "survey_responses.csv"}


@pytest.fixture(scope="module")
def raw(run) -> pd.DataFrame:
    """The response file as LimeSurvey wrote it (semicolon, Windows-1252), read without the kit."""
    return pd.read_csv(run["responses"], sep=";", encoding="cp1252", dtype=str, keep_default_na=False)


@pytest.fixture
def leak(run, tmp_path) -> Path:
    """A copy of the clean output to plant a leak in; returns the commune folder."""
    out = tmp_path / "output"
    shutil.copytree(run["output"], out)
    return out / COMMUNE


def found(out: Path, kind: str, file_part: str) -> pd.DataFrame:
    f = check_output(out).findings
    return f[(f["kind"] == kind) & f["file"].str.contains(file_part, regex=False)]


def long_answer(raw: pd.DataFrame) -> tuple[str, int]:
    """The free-text answer (Q12) with the most words, and its file row (header = 1)."""
    words = raw["Q12"].str.split().str.len().fillna(0)
    i = int(words.idxmax())
    assert words[i] >= 6
    return raw.at[i, "Q12"], i + 2


# ---------------------------------------------------------------------------
# the clean demo output
# ---------------------------------------------------------------------------


def test_clean_demo_output_has_no_findings(run):
    report = check_output(run["output"])
    assert report.findings.empty, report.findings.to_string()
    assert report.notes == []
    assert report.files > 40  # reports, notebooks, results, logs were all read
    assert run["checked"] == [(COMMUNE, True)]  # the batch ran its own check and it passed the commune
    assert [s.ok for s in run["statuses"]] == [True]
    assert main(["check", str(run["output"])]) == 0


def test_secrets_come_from_the_response_file(run, raw):
    """Without the response file's values nothing could be found: ids, times, answers are read."""
    from kit.checker import load_secrets
    from kit.params import load_params

    params = load_params(run["root"] / "params" / f"{COMMUNE}.yaml")
    secrets, notes = load_secrets(params)
    assert notes == []
    assert set(secrets.ids) == set(raw["id"])
    assert len(secrets.times) == len({t[:16] for c in ("submitdate", "startdate", "datestamp")
                                      for t in raw[c] if t})
    _, row = long_answer(raw)
    assert any(origin.startswith(f"survey_responses.csv, Zeile {row},") for origin in secrets.answers.values())
    assert 407 in secrets.records


def test_years_dates_and_register_counts_are_no_findings(leak):
    """A year, a day without time and a small resident count are published legitimately."""
    page = leak / "2_survey.html"
    page.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", "<p>Befragung 2025, Stand 10.03.2025, Fragebogen 2021</p></body>"), encoding="utf-8")
    pop = leak / "results" / "population_by_district.csv"
    df = pd.read_csv(pop, dtype=str)
    df.loc[0, "d"] = "3"
    df.to_csv(pop, index=False)
    assert check_output(leak.parent).findings.empty


# ---------------------------------------------------------------------------
# planted leaks
# ---------------------------------------------------------------------------


def test_free_text_answer_in_html_report(leak, raw):
    answer, row = long_answer(raw)
    # as an editor might paste it: other case, typographic quotes, HTML entities
    pasted = "„" + answer.upper().replace("ß", "&szlig;") + "“"
    page = leak / "2_survey.html"
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", f"<p>Eine Stimme: {pasted}</p></body>"),
                    encoding="utf-8")
    hits = found(leak.parent, KIND_FREE_TEXT, "2_survey.html")
    assert len(hits) == 1
    assert f"Zeile {row}," in hits["detail"].iloc[0]
    assert answer not in hits.to_string()  # the finding does not publish the answer again


def test_respondent_id_in_log(leak, raw):
    rid = raw["id"].iloc[16]
    log = leak / "logs" / "survey.warnings.log"
    log.write_text(log.read_text(encoding="utf-8") + f"Warnung: Fallnummer {rid} übersprungen\n", encoding="utf-8")
    hits = found(leak.parent, KIND_ID, "logs/survey.warnings.log")
    assert len(hits) == 1
    assert hits["location"].iloc[0] == f"Zeile {log.read_text(encoding='utf-8').count(chr(10))}"
    assert "Zeile 18" in hits["detail"].iloc[0]


def test_submitdate_in_csv(leak, raw):
    stamp = raw["submitdate"].iloc[41]
    csv = leak / "results" / "survey_free_text_topics.csv"
    df = pd.read_csv(csv, dtype=str)
    df.loc[2, "topic"] = f"{df.loc[2, 'topic']} (eingegangen {stamp})"
    df.to_csv(csv, index=False)
    hits = found(leak.parent, KIND_DATE, "survey_free_text_topics.csv")
    assert len(hits) == 1
    assert hits["location"].iloc[0] == "Zeile 4"


def test_submitdate_in_german_writing(leak, raw):
    ts = pd.Timestamp(raw["submitdate"].iloc[7])
    page = leak / "3_recommend.html"
    page.write_text(page.read_text(encoding="utf-8").replace(
        "</body>", f"<p>Rückmeldung vom {ts:%d.%m.%Y} um {ts:%H.%M} Uhr</p></body>"), encoding="utf-8")
    assert len(found(leak.parent, KIND_DATE, "3_recommend.html")) == 1


def _estimates(leak: Path) -> tuple[Path, pd.DataFrame]:
    path = leak / "results" / "survey_estimates.csv"
    return path, pd.read_csv(path, dtype=str, keep_default_na=False)


def test_small_survey_cell_unsuppressed(leak):
    path, df = _estimates(leak)
    hidden = df.index[(df["suppressed"] == "True") & (df["kind"] == "distribution") & (df["n_unweighted"] != "")]
    i = int(hidden[0])
    df.loc[i, ["n_cell", "estimate", "suppressed"]] = ["2", "0.01", "False"]
    df.to_csv(path, index=False)
    hits = found(leak.parent, KIND_SMALL, "survey_estimates.csv")
    assert hits["location"].str.startswith(f"Zeile {i + 2} ({df.at[i, 'item']} ").any()
    assert hits["location"].str.endswith("Spalte n_cell").all()


def _block_with_two_hidden(df: pd.DataFrame):
    """An item x group whose distribution hides exactly two categories (base and the rest shown)."""
    df = df.assign(gv=df["group_var"])
    for _, b in df[df["kind"] != "mean"].groupby(["item", "gv", "group"], sort=False):
        hidden = b[b["n_cell"] == ""]
        single = hidden["category"].str.fullmatch(r"\d+")
        if len(hidden) == 2 and single.all() and (hidden["kind"] == "distribution").all() \
                and (b["n_unweighted"] != "").all():
            dist = b[(b["kind"] == "distribution") & b["category"].str.fullmatch(r"\d+")]
            rest = int(b["n_unweighted"].iloc[0]) - dist["n_cell"].replace("", "0").astype(int).sum()
            if rest >= 2 + 5:
                return hidden.index.tolist(), rest
    raise AssertionError("no block with two hidden categories in the demo output")


def test_suppressed_cell_recoverable_from_its_complement(leak):
    path, df = _estimates(leak)
    (a, b), rest = _block_with_two_hidden(df)
    df.loc[a, ["n_cell", "estimate", "suppressed"]] = [str(rest - 2), "0.05", "False"]  # not small itself
    df.to_csv(path, index=False)
    hits = found(leak.parent, KIND_DIFFERENCING, "survey_estimates.csv")
    assert hits["location"].str.startswith(f"Zeile {b + 2} ").any()
    assert not found(leak.parent, KIND_SMALL, "survey_estimates.csv")["location"].str.startswith(
        f"Zeile {a + 2} ").any()


def test_multiple_choice_option_ticked_by_almost_everyone(leak):
    """A published option whose "not ticked" (base minus ticked) is a small count."""
    path, df = _estimates(leak)
    i = int(df.index[(df["kind"] == "multi") & (df["n_cell"] != "") & (df["n_unweighted"] != "")][0])
    df.loc[i, "n_cell"] = str(int(df.at[i, "n_unweighted"]) - 3)
    df.to_csv(path, index=False)
    hits = found(leak.parent, KIND_DIFFERENCING, "survey_estimates.csv")
    assert hits["location"].str.startswith(f"Zeile {i + 2} ").any()


def test_response_rate_reveals_hidden_return(leak):
    path = leak / "results" / "survey_response_rates.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    i = 3
    df.loc[i, "returned"] = ""  # hidden, but its rate (returned / issued) stays
    df.to_csv(path, index=False)
    hits = found(leak.parent, KIND_DIFFERENCING, "survey_response_rates.csv")
    assert hits["location"].str.startswith(f"Zeile {i + 2} ").any()


def test_row_level_table_of_respondents(leak, raw):
    raw[["Q01", "Q05", "Q50", "Q51"]].to_csv(leak / "results" / "antworten.csv", index=False)
    hits = found(leak.parent, KIND_RECORDS, "results/antworten.csv")
    assert hits["detail"].str.contains("Spalten der Antwortdatei").any()
    assert hits["detail"].str.contains(f"({len(raw)})", regex=False).any()  # one row per questionnaire


def test_row_level_table_in_report(leak, raw):
    rows = "".join(f"<tr><td>{r.Q05}</td><td>{r.Q50}</td><td>{r.Q51}</td><td>{r.Q52}</td></tr>"
                   for r in raw.head(8).itertuples())
    table = f"<table><tr><th>Q05</th><th>Q50</th><th>Q51</th><th>Q52</th></tr>{rows}</table>"
    page = leak / "Lagebericht_Muldenau.html"
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", table + "</body>"), encoding="utf-8")
    assert len(found(leak.parent, KIND_RECORDS, "Lagebericht_Muldenau.html")) == 1


def test_small_count_in_report_table(leak):
    """The count columns of the survey report tables (here: returns by group)."""
    page = leak / "2_survey.html"
    text = page.read_text(encoding="utf-8")
    m = re.search(r"<td>(\d+)</td>(<td class=\"num\">[\d,]+\s*%</td>)", text)  # a return next to its rate
    page.write_text(text[:m.start()] + "<td>3</td>" + m.group(2) + text[m.end():], encoding="utf-8")
    hits = found(leak.parent, KIND_SMALL, "2_survey.html")
    assert hits["location"].str.contains("Rücklauf").any()


def test_free_text_in_pdf(leak, raw, tmp_path):
    weasyprint = pytest.importorskip("weasyprint")
    answer, _ = long_answer(raw)
    pdf = leak / "Lagebericht_Muldenau.pdf"
    weasyprint.HTML(string=f"<p>Bericht</p><p>{answer}</p>").write_pdf(pdf)
    assert len(found(leak.parent, KIND_FREE_TEXT, "Lagebericht_Muldenau.pdf")) == 1
    weasyprint.HTML(string="<p>Bericht ohne Antworten</p>").write_pdf(pdf)
    assert found(leak.parent, KIND_FREE_TEXT, "Lagebericht_Muldenau.pdf").empty


def test_answer_in_executed_notebook_output(leak, raw):
    import json

    answer, _ = long_answer(raw)
    nb_path = leak / "notebooks" / "2_survey.ipynb"
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
    cell.setdefault("outputs", []).append({"output_type": "stream", "name": "stdout", "text": [answer + "\n"]})
    nb_path.write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
    hits = found(leak.parent, KIND_FREE_TEXT, "notebooks/2_survey.ipynb")
    assert len(hits) == 1 and hits["location"].iloc[0].startswith("Zelle")


def test_cli_names_the_leak_and_fails(leak, raw, capsys):
    log = leak / "logs" / "kernel.log"
    log.write_text(f"id={raw['id'].iloc[3]}\n", encoding="utf-8")
    assert main(["check", str(leak.parent)]) == 1
    out = capsys.readouterr().out
    assert "muldenau/logs/kernel.log · Zeile 1: Fallnummer" in out
    assert "1 Befund." in out


# ---------------------------------------------------------------------------
# the batch hook
# ---------------------------------------------------------------------------


def test_batch_marks_commune_with_leak_failed(leak, raw):
    answer, _ = long_answer(raw)
    page = leak / "2_survey.html"
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", f"<p>{answer}</p></body>"), encoding="utf-8")
    out = leak.parent
    statuses = [_status_from_dict(_read_status(leak))]
    assert statuses[0].ok
    publication_check(out, statuses)
    st = statuses[0]
    assert not st.ok
    survey = next(s for s in st.stages if s.stage == "survey")
    assert survey.status == "fehlgeschlagen"
    assert survey.message.startswith("Veröffentlichungsprüfung: muldenau/2_survey.html · Text: Freitextantwort")
    assert [s.status for s in st.stages if s.stage != "survey"] == ["ok", "ok"]  # their files are clean
    assert st.lagebericht == ""  # the combined report is not offered
    assert _read_status(leak)["stages"][1]["status"] == "fehlgeschlagen"  # status.json says so too
    index = write_index(out, statuses).read_text(encoding="utf-8")
    assert "Veröffentlichungsprüfung" in index and answer not in index
    assert "0 von 1 Kommunen vollständig" in index


def test_batch_check_leaves_clean_commune_alone(run, tmp_path):
    out = tmp_path / "output"
    shutil.copytree(run["output"], out)
    statuses = [_status_from_dict(_read_status(out / COMMUNE))]
    before = (out / COMMUNE / "status.json").read_bytes()
    publication_check(out, statuses)
    assert statuses[0].ok and (out / COMMUNE / "status.json").read_bytes() == before


# ---------------------------------------------------------------------------
# the differencing rule against an independent attacker
# ---------------------------------------------------------------------------


@st.composite
def tables(draw):
    """An answer distribution with its base, a collapsed category, and a random set of hidden cells."""
    cells = draw(st.lists(st.integers(0, 12), min_size=2, max_size=6))
    hide = draw(st.lists(st.booleans(), min_size=len(cells) + 2, max_size=len(cells) + 2))
    return cells, hide


@settings(max_examples=150, deadline=None)
@given(tables())
def test_recoverable_agrees_with_linear_programming_attacker(table):
    cells, hide = table
    k = len(cells)
    values = [*cells, sum(cells), cells[-2] + cells[-1]]  # categories, base, collapsed last two
    relations = [{k: 1.0, **{i: -1.0 for i in range(k)}}, {k + 1: 1.0, k - 2: -1.0, k - 1: -1.0}]
    known = [None if h else float(v) for v, h in zip(values, hide)]
    got = recoverable(known, relations)
    A = np.zeros((2, k + 2))
    for r, rel in enumerate(relations):
        for j, a in rel.items():
            A[r, j] = a
    fixed = {j: v for j, v in enumerate(known) if v is not None}
    for v in range(k + 2):
        if known[v] is not None:
            continue
        lo, hi = _range(A, np.zeros(2), fixed, k + 2, v)
        if hi - lo < 0.5:
            assert v in got and got[v] == pytest.approx(values[v])
        else:
            assert v not in got


def test_recoverable_many_equals_one_by_one():
    systems = [([None, 3.0, 10.0], [{2: 1.0, 0: -1.0, 1: -1.0}]),
               ([None, None, 10.0], [{2: 1.0, 0: -1.0, 1: -1.0}]),
               ([None, None, 0.0], [{2: 1.0, 0: -1.0, 1: -1.0}]),
               ([None, 2.0, 1.0], [{2: 1.0, 0: -1.0, 1: -1.0}])]  # contradictory numbers: nothing to say
    assert checker.recoverable_many(systems) == [recoverable(*s) for s in systems] == \
        [{0: 7.0}, {}, {0: 0.0, 1: 0.0}, {}]

