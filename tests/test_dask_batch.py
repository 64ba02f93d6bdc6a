"""Batches on dask.distributed (kit.dask_batch): a LocalCluster on loopback gives the same
results as the local runner; a crashed task is recorded for its commune and the batch goes on;
the workers' warm kernels are stopped with the cluster."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from batch_runs import COMMUNES, produced, reference_run
from kit import runner
from kit.cli import main


def _kernels() -> list[psutil.Process]:
    """Jupyter kernels started (directly or through Dask workers) by this test process."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "ipykernel" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            pass
    return out


def test_dask_local_cluster_gives_the_same_results_as_a_local_run(tmp_path_factory, tmp_path, monkeypatch, capsys):
    ref = reference_run(tmp_path_factory)
    assert all(s.ok for s in ref.statuses)
    capsys.readouterr()
    monkeypatch.setenv("KIT_PDF", "0")  # sent to the workers with each task
    out = tmp_path / "dask"

    statuses = runner.run_batch(ref.files, out, scheduler=None, dask_local=2)

    printed = capsys.readouterr().out
    assert "lokaler Dask-Cluster mit 2 Arbeitsprozess(en)" in printed
    for i in (1, 2):  # progress of both phases, as with the local runner
        assert f"[{i}/2] " in printed
    assert printed.count("Gebietsprofil und Bürgerbefragung abgeschlossen") == 2
    assert [s.commune_id for s in statuses] == sorted(COMMUNES)
    assert [[st.status for st in s.stages] for s in statuses] == [["ok"] * 3] * 2
    assert all(s.lagebericht and not s.lagebericht_pdf for s in statuses)  # KIT_PDF=0 reached the workers
    mine, theirs = produced(out), produced(ref.output)
    assert sorted(mine) == sorted(theirs)  # the same files ...
    assert any(k.endswith("results/recommendation_comparison.csv") for k in mine)
    for name in theirs:  # ... with the same content
        assert mine[name] == theirs[name], name
    assert _kernels() == []  # no kernel left behind


def _start_warm_kernel() -> int:
    """On a worker: start its warm kernel as a notebook would; the kernel's pid."""
    from kit import warmkernel
    from kit.runner import NOTEBOOK_DIR

    kernel = warmkernel.kernel(NOTEBOOK_DIR)
    kernel.start()
    return kernel.km.provisioner.pid


def _has_warm_kernel() -> bool:
    from kit import warmkernel

    return warmkernel._KERNEL is not None


def test_the_worker_plugin_stops_the_workers_warm_kernel():
    """Removing the plugin runs its teardown, as closing the worker does: the worker, still
    alive, has no warm kernel any more and the kernel process ends."""
    import sys

    import cloudpickle

    from kit.dask_batch import PLUGIN_NAME, DaskBatch

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/
    with DaskBatch(local_workers=1) as dask:
        pid = dask.client.submit(_start_warm_kernel, pure=False).result()
        assert psutil.pid_exists(pid) and list(dask.client.run(_has_warm_kernel).values()) == [True]
        dask.client.unregister_worker_plugin(PLUGIN_NAME)
        assert list(dask.client.run(_has_warm_kernel).values()) == [False]
        gone, alive = psutil.wait_procs([psutil.Process(pid)], timeout=30) if psutil.pid_exists(pid) else ([], [])
        assert alive == []


def test_a_crashed_dask_task_is_recorded_and_the_batch_goes_on(tmp_path, capsys):
    from kit.dask_batch import DaskBatch

    out = tmp_path / "out"
    broken = tmp_path / "kaputt.yaml"
    broken.write_text("commune_id: kaputt\nname: [\n", encoding="utf-8")  # unreadable YAML
    tasks = [("gibtsnicht.yaml", str(out), False, None),  # a malformed task: raises in the worker
             (str(broken), str(out), False, None, None, None)]
    with DaskBatch(local_workers=1) as dask:
        results = runner._phase(tasks, out, 1, "abgeschlossen", dask)

    by_id = {r.commune_id: r for r in results}
    assert set(by_id) == {"gibtsnicht", "kaputt"}
    crashed = by_id["gibtsnicht"]
    assert [st.status for st in crashed.stages] == ["übersprungen"] * 3
    assert crashed.message and "Error" not in crashed.message  # the fixed German text, no class name
    assert (out / "gibtsnicht" / "status.json").is_file()
    assert "Traceback" in (out / "gibtsnicht" / "logs" / "kernel.log").read_text(encoding="utf-8")
    assert by_id["kaputt"].error_kind == "params"  # the other commune was run and recorded
    printed = capsys.readouterr().out
    assert "[1/2] " in printed and "[2/2] " in printed


def test_dask_local_needs_at_least_one_worker(capsys):
    assert main(["run", "--dask-local", "0", "--output", "/nonexistent-kit-output"]) == 1
    err = capsys.readouterr().err
    assert "--dask-local" in err and "mindestens 1" in err
    assert not Path("/nonexistent-kit-output").exists()


def test_scheduler_and_dask_local_exclude_each_other(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--dask-local", "2", "--scheduler", "tcp://127.0.0.1:1"])
