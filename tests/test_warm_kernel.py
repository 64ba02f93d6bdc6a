"""Warm kernels (kit.warmkernel): one kernel per worker, reset before every notebook.

- No state carries over: a fixture notebook leaves state of every kind behind in run 1
  (variable, module attribute, figure counter, environment, rcParams, pandas and numpy settings,
  warning filter, logging, IPython exception handler and event callback, open figure, sys.path,
  working directory) and run 2 in the same kernel asserts that none of it is left; without the
  reset the same check fails (so it can fail).
- A warm run of a real stage gives the same executed notebook and the same HTML report as a cold
  run (ignoring execution times, ids and the output folder's path).
- A kernel that dies, or a cell past the time limit, fails that commune's stage with a German
  message; the kernel is replaced and the batch goes on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
import yaml
from papermill.exceptions import PapermillExecutionError

from kit import runner, warmkernel
from kit.params import PARAMS_DIR, REPO_ROOT

FIXTURE = Path(__file__).parent / "fixtures" / "notebooks" / "warm_kernel.ipynb"


def _outputs_text(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == "stream"]


def _kernel_pid(path: Path) -> int:
    return int(next(t for t in _outputs_text(path) if t.startswith("Rechenkern")).split()[1])


@pytest.fixture
def warm(tmp_path):
    kernel = warmkernel.WarmKernel(FIXTURE.parent)
    yield kernel
    kernel.close()


def test_nothing_carries_over_from_one_notebook_to_the_next(warm, tmp_path):
    log = tmp_path / "kernel.log"
    warm.execute(FIXTURE, tmp_path / "run1.ipynb", {"run": "leave"}, log_file=log)
    warm.execute(FIXTURE, tmp_path / "run2.ipynb", {"run": "check"}, log_file=log)
    assert "kein Zustand übrig\n" in _outputs_text(tmp_path / "run2.ipynb")
    # it really was the same kernel process (warm), started once
    assert _kernel_pid(tmp_path / "run1.ipynb") == _kernel_pid(tmp_path / "run2.ipynb")
    assert warm.started == 1 and warm.runs == 2
    # the execution counter starts at 1 again, as in a new kernel
    counts = [c.execution_count for c in nbformat.read(tmp_path / "run2.ipynb", 4).cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    # the kernel's start-up output went to the given log
    assert log.exists()

    # the check is real: without the reset, the state of run 1 is found
    warm.execute(FIXTURE, tmp_path / "run3.ipynb", {"run": "leave"})
    warm.reset = lambda cwd: None
    with pytest.raises(PapermillExecutionError) as err:
        warm.execute(FIXTURE, tmp_path / "run4.ipynb", {"run": "check"})
    for what in ("variable", "module attribute", "figure counter", "environment", "rcParams", "exception handler"):
        assert f"'{what}'" in str(err.value)


def _normalised_notebook(path: Path, out: Path) -> list:
    """Cells with their sources and outputs; no execution counts, ids, timings or paths."""
    nb = nbformat.read(path, as_version=4)
    cells = []
    for cell in nb.cells:
        outputs = []
        for o in cell.get("outputs", []):
            o = {k: v for k, v in o.items() if k not in ("execution_count",)}
            outputs.append(o)
        cells.append({"type": cell.cell_type, "source": cell.source, "outputs": outputs})
    return json.loads(json.dumps(cells).replace(str(out), "<OUT>"))


def _normalised_html(text: str, out: Path) -> str:
    text = text.replace(str(out), "<OUT>")
    return re.sub(r'\bid="[^"]*"', 'id=""', text)


def _stage1(out: Path, commune: str, log: Path) -> tuple[Path, Path]:
    executed = out / commune / "notebooks" / "1_profile.ipynb"
    runner.execute_stage(runner.NOTEBOOK_DIR / "1_profile.ipynb", executed,
                         {"commune_id": commune, "params_file": str(PARAMS_DIR / f"{commune}.yaml"),
                          "output_dir": str(out)}, log_file=log)
    report = out / commune / "1_profile.html"
    runner.render_html(executed, report, title=f"Gebietsprofil {commune}")
    return executed, report


def test_a_warm_stage_gives_the_same_notebook_and_report_as_a_cold_one(tmp_path, monkeypatch):
    if not (REPO_ROOT / "data" / "demo" / "muldenau").is_dir():
        pytest.skip("Demodaten fehlen (python -m kit demo erzeugt sie)")
    cold_out, warm_out = tmp_path / "cold", tmp_path / "warm"
    monkeypatch.setenv(warmkernel.WARM_ENV, "0")
    cold_nb, cold_html = _stage1(cold_out, "muldenau", tmp_path / "cold.log")

    monkeypatch.setenv(warmkernel.WARM_ENV, "1")
    warmkernel.shutdown()
    try:
        _stage1(warm_out, "elbstadt", tmp_path / "warm.log")  # another commune first, in the same kernel
        warm_nb, warm_html = _stage1(warm_out, "muldenau", tmp_path / "warm.log")
        kernel = warmkernel.kernel(runner.NOTEBOOK_DIR)
        assert kernel.started == 1 and kernel.runs == 2  # both ran in one warm kernel
    finally:
        warmkernel.shutdown()

    cold_cells, warm_cells = _normalised_notebook(cold_nb, cold_out), _normalised_notebook(warm_nb, warm_out)
    assert len(cold_cells) == len(warm_cells)
    for i, (c, w) in enumerate(zip(cold_cells, warm_cells)):
        assert c == w, f"Zelle {i} unterscheidet sich"
    # figures are there (so the comparison covers images) and the counters restart at 1
    assert sum(o.get("data", {}).get("text/html", "").count("data:image/png;base64,")
               for c in warm_cells for o in c["outputs"]) >= 3
    counts = [c.execution_count for c in nbformat.read(warm_nb, 4).cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    assert (_normalised_html(cold_html.read_text(encoding="utf-8"), cold_out)
            == _normalised_html(warm_html.read_text(encoding="utf-8"), warm_out))


def _fixture_stages(tmp_path: Path, kill_for: str, sleep_for: str) -> Path:
    """Three stage notebooks from the fixture: stage 1 kills the kernel of ``kill_for``, stage 2
    sleeps past the time limit for ``sleep_for``."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for i, (_, name, _) in enumerate(runner.STAGES):
        nb = nbformat.read(FIXTURE, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        cell.source = (cell.source.replace('kill_for = ""', f'kill_for = "{kill_for if i == 0 else ""}"')
                       .replace('sleep_for = ""', f'sleep_for = "{sleep_for if i == 1 else ""}"'))
        nbformat.write(nb, folder / name)
    return folder


def _fixture_params(tmp_path: Path, communes: list[str]) -> list[Path]:
    files = []
    for c in communes:
        data = yaml.safe_load((PARAMS_DIR / f"{c}.yaml").read_text(encoding="utf-8"))
        data["data_dir"] = str(tmp_path / "data" / c)
        data["demo"] = False  # the fixture notebook reads no input
        (tmp_path / "data" / c).mkdir(parents=True)
        path = tmp_path / "params" / f"{c}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
        files.append(path)
    return files


def test_a_dead_or_hanging_kernel_fails_its_commune_and_the_batch_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", _fixture_stages(tmp_path, kill_for="elsterhain",
                                                                sleep_for="muldenau"))
    monkeypatch.setattr(runner, "make_lagebericht", lambda *a, **k: None)
    monkeypatch.setattr(runner, "comparison_section", lambda *a, **k: "")
    monkeypatch.setenv(warmkernel.WARM_ENV, "1")
    monkeypatch.setenv(warmkernel.CELL_TIMEOUT_ENV, "6")  # the fixture sleeps 60 s
    warmkernel.shutdown()
    out = tmp_path / "out"
    files = _fixture_params(tmp_path, ["muldenau", "elsterhain", "elbstadt"])
    statuses = {s.commune_id: s for s in runner.run_batch(files, out, jobs=1)}

    mul, els, elb = statuses["muldenau"], statuses["elsterhain"], statuses["elbstadt"]
    assert [s.status for s in mul.stages] == ["ok", "fehlgeschlagen", "übersprungen"]
    assert mul.stages[1].message.startswith("Zeitlimit überschritten: ein Schritt dieser Stufe lief länger als 6 Sekunden")
    assert [s.status for s in els.stages] == ["fehlgeschlagen", "übersprungen", "übersprungen"]
    assert els.stages[0].message.startswith("Der Rechenkern dieser Stufe wurde unerwartet beendet")
    assert elb.ok, [(s.stage, s.status, s.message) for s in elb.stages]  # the batch went on
    # the technical cause is in the commune's log, not in the message
    assert "DeadKernelError" in (out / "elsterhain" / "logs" / "kernel.log").read_text(encoding="utf-8")
    assert "DeadKernelError" not in els.stages[0].message
    # kernels: muldenau's stage 1 and elsterhain's stage 1 ran in a new kernel after the time-out,
    # elbstadt in a new one after the kill; elbstadt's three stages share one warm kernel
    pid = lambda c, nb: _kernel_pid(out / c / "notebooks" / nb)  # noqa: E731
    elb_pids = {pid("elbstadt", nb) for _, nb, _ in runner.STAGES}
    assert len(elb_pids) == 1
    assert len({pid("muldenau", "1_profile.ipynb"), pid("elsterhain", "1_profile.ipynb"), *elb_pids}) == 3
    assert warmkernel._KERNEL is None  # run_batch stopped its kernel
