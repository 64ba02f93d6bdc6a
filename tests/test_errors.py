"""Errors reach analysts as German messages, never as Python class names or tracebacks.

- Compute code raises KitError subclasses for what bad params or data can trigger.
- A KitError inside a stage notebook is recorded by the kernel (kit.stage's IPython handler,
  logs/<stage>.error.json); the runner shows that message. An unexpected exception (a bug)
  is shown as a fixed German text; its traceback goes to logs/kernel.log only. Both are
  checked with a small stage notebook (tests/fixtures/notebooks/failing_stage.ipynb) run by
  kit.runner exactly as a real stage.
- Test runs never write into the repository's output/ (KIT_OUTPUT_DIR, set in conftest.py).
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from kit import runner
from kit.errors import (INTERNAL_ERROR_TEXT, CodebookLookupError, DataError, InputError, KitError, ParamsError,
                        Problem, ResultError, error_record)
from kit.params import PARAMS_DIR, REPO_ROOT
from kit.results import ResultStore
from kit.stage import OUTPUT_DIR_ENV, error_file

FIXTURE_NOTEBOOK = Path(__file__).parent / "fixtures" / "notebooks" / "failing_stage.ipynb"

# What an analyst must never see: a Python class name (InputError, ValueError,
# ZeroDivisionError, PapermillExecutionError ...) or a traceback.
TECHNICAL = re.compile(r"\b\w*(?:Error|Exception)\b|Traceback|File \"|line \d+, in ")


def technical_leftovers(text: str) -> list[str]:
    return [m.group(0) for m in TECHNICAL.finditer(text)]


# ---------------------------------------------------------------------------
# 1. error classes and compute code
# ---------------------------------------------------------------------------


def test_error_record_gives_message_and_kind_never_a_class_name():
    assert error_record(InputError(Problem(file="a.csv", row=3, expected="Zahl"))) == {
        "message": "Eingabedaten fehlerhaft (1 Fehler):\nDatei a.csv, Zeile 3 – erwartet: Zahl", "kind": "input"}
    assert error_record(ParamsError("Schlüssel x unbekannt"))["kind"] == "params"
    assert error_record(ResultError("Ergebnis fehlt"))["kind"] == "result"
    assert error_record(DataError("keine Jahre"))["kind"] == "data"
    bug = error_record(ZeroDivisionError("division by zero"))
    assert bug == {"message": INTERNAL_ERROR_TEXT, "kind": "internal"}
    assert not technical_leftovers(bug["message"])
    # a KitError that is also a KeyError shows its message, not KeyError's quoted repr
    assert str(CodebookLookupError("Item 'Q99' fehlt")) == "Item 'Q99' fehlt"


def _residents() -> pd.DataFrame:
    return pd.DataFrame({"year": [2023, 2023], "district_id": ["1", "1"], "age_group": ["25-34", "25-34"],
                         "sex": ["m", "w"], "count": [10, 12]})


def test_compute_errors_an_analyst_can_trigger_are_kit_errors():
    from kit.profile.indicators import survey_population_margins
    from kit.schemas import load_schema
    from kit.survey.codebook import load_codebook

    with pytest.raises(ParamsError, match="diverse"):
        survey_population_margins(_residents(), diverse="verteilen")
    with pytest.raises(DataError, match="2030"):
        survey_population_margins(_residents(), year=2030)
    with pytest.raises(DataError, match="keine Jahre"):
        survey_population_margins(_residents().iloc[0:0])
    with pytest.raises(ParamsError, match="Eingabeschema 'einwohner'"):
        load_schema("einwohner")

    codebook = load_codebook(REPO_ROOT / "data_schemas" / "survey_codebook.yaml")
    with pytest.raises(CodebookLookupError, match="Q99"):
        codebook.item("Q99")
    with pytest.raises(KitError, match="F99"):
        codebook.question_items("F99")


def test_missing_earlier_result_is_a_result_error(tmp_path):
    store = ResultStore(tmp_path, "muldenau", stage="recommend")
    with pytest.raises(ResultError, match="key_indicators_profile"):
        store.read_table("key_indicators_profile")
    with pytest.raises(ResultError, match="survey_meta"):
        store.read_json("survey_meta")


# ---------------------------------------------------------------------------
# 2. a failing stage notebook run by the runner
# ---------------------------------------------------------------------------


def _stage_notebooks(tmp_path: Path, failure: str) -> Path:
    """A notebook folder whose stage 1 is the fixture notebook, set to fail as asked."""
    nb = nbformat.read(FIXTURE_NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert 'failure = "none"' in cell.source
    cell.source = cell.source.replace('failure = "none"', f'failure = "{failure}"')
    folder = tmp_path / "notebooks"
    folder.mkdir()
    nbformat.write(nb, folder / runner.STAGES[0][1])
    return folder


def _params(tmp_path: Path) -> Path:
    data = yaml.safe_load((PARAMS_DIR / "muldenau.yaml").read_text(encoding="utf-8"))
    data["data_dir"] = str(tmp_path / "data")
    data["demo"] = False  # no demo data generation: the fixture notebook reads no input
    (tmp_path / "data").mkdir()
    path = tmp_path / "params" / "muldenau.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _run_failing_stage(tmp_path, monkeypatch, failure: str):
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", _stage_notebooks(tmp_path, failure))
    out = tmp_path / "output"
    log: list[str] = []
    status = runner.run_commune(_params(tmp_path), out, force=True, log=log.append)
    runner.write_index(out, [status])
    return status, out, log


def _shown(out: Path) -> tuple[str, str]:
    """(index.html, status.json) as text."""
    return ((out / "index.html").read_text(encoding="utf-8"),
            (out / "muldenau" / "status.json").read_text(encoding="utf-8"))


def test_internal_error_shows_german_text_and_logs_the_traceback(tmp_path, monkeypatch):
    status, out, log = _run_failing_stage(tmp_path, monkeypatch, "internal")

    assert [s.status for s in status.stages] == ["fehlgeschlagen", "übersprungen", "übersprungen"]
    stage = status.stages[0]
    assert stage.message == INTERNAL_ERROR_TEXT and stage.error_kind == "internal"
    page, status_json = _shown(out)
    assert "Interner Fehler in dieser Stufe (Programmfehler)" in page
    assert json.loads(status_json)["stages"][0]["message"] == INTERNAL_ERROR_TEXT
    for text in (page, status_json, "\n".join(log)):
        assert not technical_leftovers(text), technical_leftovers(text)
        assert "division by zero" not in text
    assert any("Interner Fehler in dieser Stufe" in line for line in log)
    # the details are in the commune's log, for whoever fixes the bug
    kernel_log = (out / "muldenau" / "logs" / "kernel.log").read_text(encoding="utf-8")
    assert "ZeroDivisionError" in kernel_log and "1 / 0" in kernel_log
    assert not error_file(out, "muldenau", "profile").exists()  # a bug is no KitError


def test_kit_error_in_notebook_shows_its_german_message(tmp_path, monkeypatch):
    status, out, log = _run_failing_stage(tmp_path, monkeypatch, "input")

    assert [s.status for s in status.stages] == ["fehlgeschlagen", "übersprungen", "übersprungen"]
    stage = status.stages[0]
    expected = ("Eingabedaten fehlerhaft (1 Fehler):\n"
                "Datei einwohner.csv, Zeile 7, Spalte 'count': Wert '-3' – erwartet: ganze Zahl ab 0")
    assert stage.message == expected and stage.error_kind == "input"
    # written by the kernel's handler, read by the runner
    record = json.loads(error_file(out, "muldenau", "profile").read_text(encoding="utf-8"))
    assert record == {"message": expected, "kind": "input"}
    page, status_json = _shown(out)
    assert "Zeile 7, Spalte 'count': Wert '-3'" in html.unescape(page)
    assert json.loads(status_json)["stages"][0]["message"] == expected
    for text in (page, status_json, "\n".join(log)):
        assert not technical_leftovers(text), technical_leftovers(text)
    # console and log: the whole message, file, row, column and value included (issue 11, item 6)
    line = next(x for x in log if "Gebietsprofil" in x)
    assert "Eingabedaten fehlerhaft (1 Fehler)" in line
    assert "Datei einwohner.csv, Zeile 7, Spalte 'count': Wert '-3'" in line
    kernel_log = (out / "muldenau" / "logs" / "kernel.log").read_text(encoding="utf-8")
    assert expected in kernel_log


def test_stage_without_error_leaves_no_error_file(tmp_path, monkeypatch):
    """The fixture notebook itself runs (so the failures above come from the failure switch)."""
    status, out, _ = _run_failing_stage(tmp_path, monkeypatch, "none")
    assert status.stages[0].status == "ok", status.stages[0].message
    assert not error_file(out, "muldenau", "profile").exists()


# ---------------------------------------------------------------------------
# 3. test runs never write into the repository's output/
# ---------------------------------------------------------------------------


def test_test_session_redirects_notebook_output():
    target = Path(os.environ[OUTPUT_DIR_ENV]).resolve()
    assert target.is_dir()
    assert not target.is_relative_to(REPO_ROOT.resolve())


def test_open_stage_writes_to_kit_output_dir(tmp_path):
    """A notebook with its default output_dir ('../output', i.e. the repository's) writes
    to $KIT_OUTPUT_DIR, in a separate process as an nbval kernel would."""
    redirected, decoy = tmp_path / "redirected", tmp_path / "decoy"
    code = ("from kit.stage import open_stage\n"
            f"ctx = open_stage('muldenau', {str(PARAMS_DIR / 'muldenau.yaml')!r}, {str(decoy)!r}, 'profile')\n"
            "ctx.store.write_table('probe', __import__('pandas').DataFrame({'a': [1]}))\n"
            "print(ctx.output_dir)\n")
    env = {**os.environ, OUTPUT_DIR_ENV: str(redirected)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip().splitlines()[-1]) == redirected.resolve()
    assert (redirected / "muldenau" / "results" / "probe.csv").is_file()
    assert not decoy.exists()


def test_batch_kernels_do_not_inherit_kit_output_dir(monkeypatch):
    monkeypatch.setenv(OUTPUT_DIR_ENV, "/somewhere/else")
    with runner._batch_environment():
        assert OUTPUT_DIR_ENV not in os.environ and os.environ["KIT_BATCH"] == "1"
    assert os.environ[OUTPUT_DIR_ENV] == "/somewhere/else"


def test_messages_quote_only_a_short_sanitised_excerpt_of_a_wrong_file(tmp_path):
    """An input path pointing at the wrong file (e.g. a system file) must not publish its content:
    the message names the file and quotes at most a short piece, without control characters."""
    from kit.io import read_table
    from kit.schemas import validate_table

    secret_line = "root:x:0:0:root:/root:/bin/bash" + "".join(f":geheim{i}" for i in range(40))
    wrong = tmp_path / "residents.csv"
    wrong.write_text(secret_line + "\n" + "daemon:x:1:1\x1b[31m:rot" * 3 + "\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        validate_table(read_table(wrong), "residents")
    message = str(err.value)
    assert str(wrong) in message and "Pflichtspalte" in message
    assert "geheim10" not in message  # the long first line is cut short
    assert "\x1b" not in message
    quoted = Problem(file="x.csv", row=2, column="sex", value="A" * 500 + "\x00\x07").describe()
    assert "A" * 60 not in quoted and "\x00" not in quoted and "\x07" not in quoted and "…" in quoted
