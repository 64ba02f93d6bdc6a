"""Batch order: stage 3 compares a commune with the other communes of the batch, so every
commune's stages 1 and 2 run before any commune's stage 3; an unchanged commune is skipped only
when no commune of the batch was rerun. The notebooks are replaced by a recorder (the real
execution is covered by test_pipeline)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kit import runner
from kit.params import PARAMS_DIR

COMMUNES = ["muldenau", "elsterhain", "elbstadt"]


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    calls: list[tuple[str, str]] = []

    def execute_stage(notebook, executed, parameters, log_file=None):
        calls.append((parameters["commune_id"], Path(notebook).stem))
        executed.parent.mkdir(parents=True, exist_ok=True)
        executed.write_text("{}", encoding="utf-8")

    def render_html(executed, target, title=None):
        target.write_text("<html></html>", encoding="utf-8")

    monkeypatch.setattr(runner, "execute_stage", execute_stage)
    monkeypatch.setattr(runner, "render_html", render_html)
    monkeypatch.setattr(runner, "make_lagebericht", lambda *a, **k: None)
    monkeypatch.setattr("kit.demo.ensure_demo_data", lambda params: None)
    params = tmp_path / "params"
    params.mkdir()
    for c in COMMUNES:
        shutil.copy(PARAMS_DIR / f"{c}.yaml", params / f"{c}.yaml")
    return calls, [params / f"{c}.yaml" for c in COMMUNES], tmp_path / "out"


def _last_index(calls, stage):
    return max(i for i, (_, s) in enumerate(calls) if s == stage)


def test_every_commune_has_stages_1_and_2_before_any_stage_3(recorded):
    calls, files, out = recorded
    statuses = runner.run_batch(files, out, jobs=1)
    assert all(s.ok for s in statuses), [(s.commune_id, [(x.stage, x.status, x.message) for x in s.stages])
                                         for s in statuses]
    assert sorted(calls) == sorted((c, s) for c in COMMUNES for s in ("1_profile", "2_survey", "3_recommend"))
    first_stage3 = min(i for i, (_, s) in enumerate(calls) if s == "3_recommend")
    assert _last_index(calls, "2_survey") < first_stage3 and _last_index(calls, "1_profile") < first_stage3


def test_unchanged_batch_is_skipped_but_a_changed_commune_reruns_every_stage_3(recorded):
    calls, files, out = recorded
    runner.run_batch(files, out, jobs=1)
    calls.clear()
    runner.run_batch(files, out, jobs=1)
    assert calls == []  # nothing changed: nothing runs
    # one commune's params change: its stages 1-2 rerun, and stage 3 of all three (comparisons)
    text = files[0].read_text(encoding="utf-8").replace("name: Muldenau", "name: Muldenau an der Mulde")
    files[0].write_text(text, encoding="utf-8")
    statuses = runner.run_batch(files, out, jobs=1)
    assert all(s.ok for s in statuses)
    assert sorted(c for c, s in calls if s != "3_recommend") == ["muldenau", "muldenau"]
    assert sorted(c for c, s in calls if s == "3_recommend") == sorted(COMMUNES)


def test_a_failing_first_phase_skips_that_communes_stage_3_only(recorded, monkeypatch):
    calls, files, out = recorded
    record = runner.execute_stage

    def failing(notebook, executed, parameters, log_file=None):
        record(notebook, executed, parameters, log_file)
        if parameters["commune_id"] == "elsterhain" and Path(notebook).stem == "2_survey":
            raise RuntimeError("kaputt")

    monkeypatch.setattr(runner, "execute_stage", failing)
    statuses = {s.commune_id: s for s in runner.run_batch(files, out, jobs=1)}
    assert [st.status for st in statuses["elsterhain"].stages] == ["ok", "fehlgeschlagen", "übersprungen"]
    assert statuses["muldenau"].ok and statuses["elbstadt"].ok
    assert ("elsterhain", "3_recommend") not in calls


def test_console_shows_the_whole_german_error_and_calls_the_commune_failed(recorded, monkeypatch, capsys):
    """A failing stage's message has one line per defect (file, row, column, value): the console
    shows every line, and the progress line says "fehlgeschlagen", not "abgeschlossen"."""
    from kit.errors import InputError, Problem

    calls, files, out = recorded
    recorder = runner.execute_stage

    def failing(notebook, executed, parameters, log_file=None):
        if parameters["commune_id"] == "muldenau" and Path(notebook).stem == "1_profile":
            raise InputError([Problem(file="owi.csv", row=7, column="count", value="-3", expected="Zahl >= 0"),
                              Problem(file="bos.csv", row=12, column="staff", value="zwölf", expected="ganze Zahl")])
        recorder(notebook, executed, parameters, log_file)

    monkeypatch.setattr(runner, "execute_stage", failing)
    runner.run_batch(files[:2], out, jobs=1)
    console = capsys.readouterr().out
    for part in ("owi.csv", "Zeile 7", "'count'", "'-3'", "bos.csv", "Zeile 12", "'zwölf'"):
        assert part in console, (part, console)
    progress = [line for line in console.splitlines() if line.startswith("[") and "Muldenau" in line]
    assert progress and all("fehlgeschlagen" in line and "abgeschlossen" not in line for line in progress), progress


def test_a_stage_without_survey_says_why_without_parameter_names():
    """The reason reaches the index and the console: German words, no settings key."""
    import re

    reason = runner.not_applicable("survey", {"survey": {}})
    assert "Bürgerbefragung" in reason
    assert not re.search(r"\b[a-z_]+\.[a-z_]+\b|\(|params", reason), reason
    assert runner.not_applicable("survey", {"survey": {"responses": "antworten.csv"}}) == ""


def test_temporary_environment_sets_removes_and_restores_even_on_error(monkeypatch):
    import os

    monkeypatch.setenv("KIT_PDF", "1")
    monkeypatch.delenv("KIT_WARM", raising=False)
    with pytest.raises(RuntimeError):
        with runner.temporary_environment({"KIT_PDF": None, "KIT_WARM": "0"}):
            assert "KIT_PDF" not in os.environ and os.environ["KIT_WARM"] == "0"
            raise RuntimeError("a task fails")
    assert os.environ["KIT_PDF"] == "1" and "KIT_WARM" not in os.environ
