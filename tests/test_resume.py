"""An interrupted batch resumes stage by stage without redoing finished work (kit.runner:
standing_stages, comparison_basis, the second phase's plan), never leaves a finished-looking
report made from mixed runs, and a batch never changes its inputs.

The first tests replace the notebooks by a recorder that writes small results (fast, every
interruption point); the last ones interrupt and resume a real batch of two demo communes and
compare the outcome with an uninterrupted run (tests/batch_runs.py)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from batch_runs import COMMUNES, input_hashes, make_inputs, produced, reference_run
from kit import runner
from kit.params import PARAMS_DIR, load_params
from kit.results import ResultStore

THREE = ["muldenau", "elsterhain", "elbstadt"]
STAGE_OF = {"1_profile": "profile", "2_survey": "survey", "3_recommend": "recommend"}


class Interrupt:
    """Raises KeyboardInterrupt (as Ctrl-C would) when the named notebook of the named commune
    is about to run."""

    def __init__(self, commune: str, notebook: str):
        self.at = (commune, notebook)

    def check(self, commune: str, notebook: str) -> None:
        if (commune, notebook) == self.at:
            raise KeyboardInterrupt


def _frozen_fingerprint(params_file, params):
    """The fingerprint without the kit's code: other work on the code during the test must not
    count as a change of these communes (what counts is tested above and in test_runner_phases)."""
    digest = hashlib.sha256(Path(params_file).read_bytes())
    for p in sorted(Path(params["data_dir"]).rglob("*")):
        if p.is_file():
            digest.update(p.name.encode() + p.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def recorder(monkeypatch, tmp_path):
    """(calls, params files, output dir, stop): notebooks replaced by a recorder whose results
    depend on the params file (so a changed commune changes what stage 3 compares with)."""
    calls: list[tuple[str, str]] = []
    stop: list[Interrupt] = []

    def execute_stage(notebook, executed, parameters, log_file=None):
        cid, nb = parameters["commune_id"], Path(notebook).stem
        for s in stop:
            s.check(cid, nb)
        calls.append((cid, nb))
        executed.parent.mkdir(parents=True, exist_ok=True)
        executed.write_text("{}", encoding="utf-8")
        stage = STAGE_OF[nb]
        store = ResultStore(parameters["output_dir"], cid, stage=stage)
        digest = hashlib.sha256(Path(parameters["params_file"]).read_bytes()).hexdigest()
        name = f"key_indicators_{stage}" if stage != "recommend" else "recommendations"
        store.write_table(name, pd.DataFrame({"indicator": [stage], "value": [int(digest[:6], 16)]}))

    def render_html(executed, target, title=None):
        target.write_text(f"<html>{title}</html>", encoding="utf-8")

    lageberichte: list[str] = []

    def make_lagebericht(status, params, output_dir, commune_dir, log=print):
        lageberichte.append(status.commune_id)
        path = commune_dir / f"Lagebericht_{status.commune_id}.html"  # the real name pattern
        path.write_text("<html></html>", encoding="utf-8")
        status.lagebericht = str(path.relative_to(output_dir))

    monkeypatch.setattr(runner, "execute_stage", execute_stage)
    monkeypatch.setattr(runner, "render_html", render_html)
    monkeypatch.setattr(runner, "make_lagebericht", make_lagebericht)
    monkeypatch.setattr(runner, "comparison_section", lambda output_dir, statuses: "")  # fake indicators
    monkeypatch.setattr(runner, "fingerprint", _frozen_fingerprint)
    monkeypatch.setattr("kit.demo.ensure_demo_data", lambda params: None)
    params = tmp_path / "params"
    params.mkdir()
    for c in THREE:
        shutil.copy(PARAMS_DIR / f"{c}.yaml", params / f"{c}.yaml")
    return calls, [params / f"{c}.yaml" for c in THREE], tmp_path / "out", stop, lageberichte


def _states(out: Path, commune: str) -> list[str]:
    return [s["status"] for s in json.loads((out / commune / "status.json").read_text(encoding="utf-8"))["stages"]]


def _interrupted(files, out, stop, commune, notebook, **kw):
    stop[:] = [Interrupt(commune, notebook)]
    with pytest.raises(KeyboardInterrupt):
        runner.run_batch(files, out, jobs=1, **kw)
    stop.clear()


def test_stopped_in_phase_1_resumes_with_the_unfinished_stages(recorder):
    calls, files, out, stop, lageberichte = recorder
    _interrupted(files, out, stop, "elsterhain", "2_survey")
    assert calls == [("muldenau", "1_profile"), ("muldenau", "2_survey"), ("elsterhain", "1_profile")]
    # status.json first: what did not run says so, no stage 3 or Lagebericht anywhere
    assert _states(out, "muldenau") == ["ok", "ok", "ausstehend"]
    assert _states(out, "elsterhain") == ["ok", "ausstehend", "ausstehend"]
    assert not list(out.glob("*/3_recommend.html")) and not (out / "index.html").exists()
    calls.clear()

    statuses = runner.run_batch(files, out, jobs=1)

    assert all(s.ok for s in statuses)
    assert sorted(calls) == sorted([("elsterhain", "2_survey"), ("elbstadt", "1_profile"), ("elbstadt", "2_survey")]
                                   + [(c, "3_recommend") for c in THREE])
    assert sorted(lageberichte) == sorted(THREE)


def test_stopped_in_phase_2_runs_only_the_missing_stage_3(recorder):
    calls, files, out, stop, lageberichte = recorder
    _interrupted(files, out, stop, "elbstadt", "3_recommend")
    assert ("muldenau", "3_recommend") in calls and ("elsterhain", "3_recommend") in calls
    # every stage 3 was marked outdated before the first one ran
    assert _states(out, "elbstadt") == ["ok", "ok", "ausstehend"]
    calls.clear()
    lageberichte.clear()

    statuses = runner.run_batch(files, out, jobs=1)

    assert all(s.ok for s in statuses)
    assert calls == [("elbstadt", "3_recommend")]
    assert lageberichte == ["elbstadt"]
    calls.clear()
    lageberichte.clear()
    runner.run_batch(files, out, jobs=1)  # finished: nothing runs
    assert calls == [] and lageberichte == []


def test_every_outdated_stage_3_is_marked_before_the_first_one_runs(recorder):
    """A changed commune reran stages 1-2; the batch stops as phase 2 starts: no commune is left
    with a stage 3 or Lagebericht that looks current but compared with the old results."""
    calls, files, out, stop, lageberichte = recorder
    runner.run_batch(files, out, jobs=1)
    text = files[2].read_text(encoding="utf-8").replace("name: Elbstadt", "name: Elbstadt an der Elbe")
    files[2].write_text(text, encoding="utf-8")
    _interrupted(files, out, stop, "muldenau", "3_recommend")
    for c in THREE:
        assert _states(out, c) == ["ok", "ok", "ausstehend"], c
        assert not (out / c / "3_recommend.html").exists() and not list((out / c).glob("Lagebericht_*"))
        assert not (out / c / "results" / "recommendations.csv").exists()


def test_a_missing_lagebericht_is_made_without_rerunning_stage_3(recorder):
    calls, files, out, stop, lageberichte = recorder
    runner.run_batch(files, out, jobs=1)
    (out / "elsterhain" / "Lagebericht_elsterhain.html").unlink()
    calls.clear()
    lageberichte.clear()
    statuses = runner.run_batch(files, out, jobs=1)
    assert calls == [] and lageberichte == ["elsterhain"]
    assert all(s.ok for s in statuses)


def test_a_deleted_report_reruns_its_stage_the_later_ones_and_every_stage_3(recorder):
    calls, files, out, stop, lageberichte = recorder
    runner.run_batch(files, out, jobs=1)
    (out / "elsterhain" / "2_survey.html").unlink()
    calls.clear()
    runner.run_batch(files, out, jobs=1)
    assert sorted(calls) == sorted([("elsterhain", "2_survey")] + [(c, "3_recommend") for c in THREE])


def test_a_recomputation_stopped_before_phase_2_still_outdates_every_comparison(recorder, monkeypatch):
    """A commune changed and its stages 1-2 ran, then the batch stopped before phase 2. In the
    next run nothing is recomputed, but every stage 3 was made against the commune's old results:
    the comparison basis says so and all of them run again."""
    calls, files, out, stop, lageberichte = recorder
    runner.run_batch(files, out, jobs=1)
    text = files[0].read_text(encoding="utf-8").replace("name: Muldenau", "name: Muldenau an der Mulde")
    files[0].write_text(text, encoding="utf-8")
    real_basis = runner.comparison_basis

    def stop_after_phase_1(output_dir):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "comparison_basis", stop_after_phase_1)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        runner.run_batch(files, out, jobs=1)
    assert sorted(calls) == [("muldenau", "1_profile"), ("muldenau", "2_survey")]
    monkeypatch.setattr(runner, "comparison_basis", real_basis)
    calls.clear()

    statuses = runner.run_batch(files, out, jobs=1)

    assert all(s.ok for s in statuses)
    assert sorted(calls) == sorted((c, "3_recommend") for c in THREE)


def test_force_reruns_everything(recorder):
    calls, files, out, stop, lageberichte = recorder
    runner.run_batch(files, out, jobs=1)
    calls.clear()
    runner.run_batch(files, out, jobs=1, force=True)
    assert len(calls) == 9


def test_one_commune_resumes_stage_by_stage(recorder):
    calls, files, out, stop, lageberichte = recorder
    stop[:] = [Interrupt("muldenau", "3_recommend")]
    with pytest.raises(KeyboardInterrupt):
        runner.run_commune(files[0], out, log=lambda m: None)
    stop.clear()
    assert _states(out, "muldenau") == ["ok", "ok", "ausstehend"]
    calls.clear()
    log: list[str] = []
    status = runner.run_commune(files[0], out, log=log.append)
    assert status.ok and calls == [("muldenau", "3_recommend")]
    calls.clear()
    log.clear()
    again = runner.run_commune(files[0], out, log=log.append)
    assert again.ok and calls == [] and any("unverändert" in m for m in log)


# -- a real batch ----------------------------------------------------------------------------


def test_a_real_batch_resumes_without_redoing_finished_work(tmp_path_factory, tmp_path, monkeypatch):
    """Stopped after muldenau's phase 1, resumed and stopped again before elsterhain's stage 3,
    resumed again: no notebook runs twice, and the outcome equals an uninterrupted run."""
    ref = reference_run(tmp_path_factory)
    monkeypatch.setenv("KIT_PDF", "0")
    monkeypatch.setattr(runner, "fingerprint", _frozen_fingerprint)
    real_execute = runner.execute_stage
    calls: list[tuple[str, str]] = []
    stop: list[Interrupt] = []

    def execute_stage(notebook, executed, parameters, log_file=None):
        for s in stop:
            s.check(parameters["commune_id"], Path(notebook).stem)
        calls.append((parameters["commune_id"], Path(notebook).stem))
        return real_execute(notebook, executed, parameters, log_file=log_file)

    monkeypatch.setattr(runner, "execute_stage", execute_stage)
    out = tmp_path / "output"
    first, second = COMMUNES

    _interrupted(ref.files, out, stop, second, "1_profile")
    assert calls == [(first, "1_profile"), (first, "2_survey")]
    assert _states(out, second) == ["ausstehend"] * 3
    calls.clear()

    _interrupted(ref.files, out, stop, second, "3_recommend")
    assert calls == [(second, "1_profile"), (second, "2_survey"), (first, "3_recommend")]
    assert _states(out, second) == ["ok", "ok", "ausstehend"]
    assert not (out / second / "3_recommend.html").exists()
    calls.clear()

    statuses = runner.run_batch(ref.files, out, jobs=1)

    assert calls == [(second, "3_recommend")]
    assert all(s.ok for s in statuses)
    mine, theirs = produced(out), produced(ref.output)
    assert sorted(mine) == sorted(theirs)
    for name in theirs:
        assert mine[name] == theirs[name], name


def test_a_batch_never_changes_its_inputs(tmp_path_factory, tmp_path):
    """Params file and data folder are byte for byte the same after a batch, also after one
    whose stage fails (issue 13, item 7)."""
    ref = reference_run(tmp_path_factory)
    assert ref.inputs_before and ref.inputs_after == ref.inputs_before
    assert any(name.endswith("survey_responses.csv") for name in ref.inputs_before)

    files = make_inputs(tmp_path, communes=COMMUNES[:1])
    residents = Path(load_params(files[0])["data_dir"]) / "residents.csv"
    lines = residents.read_bytes().split(b"\r\n")
    lines[3] = lines[3].replace(b";", b";x", 1)  # a broken cell: stage 1 fails
    residents.write_bytes(b"\r\n".join(lines))
    before = input_hashes(files)
    status = runner.run_batch(files, tmp_path / "output", jobs=1)[0]
    assert status.stages[0].status == "fehlgeschlagen"
    assert input_hashes(files) == before
