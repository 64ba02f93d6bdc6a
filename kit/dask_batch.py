"""Batch tasks on dask.distributed: `python -m kit run --scheduler ADDRESS` or `--dask-local N`.

The runner (kit.runner.run_batch) hands the same per-commune tasks it gives its process pool
(phase 1: stages 1-2 of a commune; phase 2: stage 3 and the Lagebericht) to a Dask cluster
instead: an existing one (a scheduler address, e.g. tcp://10.0.0.5:8786) or a LocalCluster of
N worker processes with one thread each, on loopback, without dashboard. The tasks' results
(kit.runner.CommuneStatus) come back to this process, which prints the progress lines, writes
the index and decides what phase 2 has to do, exactly as with the process pool.

Each Dask worker keeps one warm kernel (kit.warmkernel), started on its first notebook and
stopped by a worker plugin when the worker closes (the process pool's ``worker_init`` does the
same for its workers). A worker runs one commune at a time even when it has several threads
(papermill changes the process's working directory; one kernel per process).

The workers must see the same files under the same paths as this process (params, data,
output folder): on one machine always, on several only with a shared file system. The kit's
KIT_* settings of this process (KIT_PDF, KIT_WARM, KIT_CELL_TIMEOUT) are sent with every task.

dask is imported only here, and this module only when one of the two options is used.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

from kit.errors import KitError

# settings the runner and its kernels read from the environment; sent along with each task
SENT_ENV = ("KIT_PDF", "KIT_WARM", "KIT_CELL_TIMEOUT")

PLUGIN_NAME = "kit-warm-kernel"
_ONE_AT_A_TIME = threading.Lock()  # one commune per worker process (see the module docstring)


def run_task(task: tuple, env: dict[str, str | None]):
    """One runner task on a Dask worker, with the client's KIT_* settings."""
    from kit import runner

    with _ONE_AT_A_TIME, runner.temporary_environment(env):
        return runner._run_one(task)


def _plugin_class():
    from distributed.diagnostics.plugin import WorkerPlugin

    class WarmKernelPlugin(WorkerPlugin):
        """Stops the worker's warm kernel when the worker closes (started on first use)."""

        name = PLUGIN_NAME

        async def teardown(self, worker):
            import asyncio

            from kit.warmkernel import shutdown

            # in a thread of its own: stopping the kernel blocks, the worker's event loop must not
            await asyncio.get_running_loop().run_in_executor(None, shutdown)

    return WarmKernelPlugin


class DaskBatch:
    """A connection to a Dask cluster for one batch (a context manager): ``address`` of a running
    scheduler, or ``local_workers`` > 0 for a LocalCluster started here and closed at the end."""

    def __init__(self, address: str | None = None, local_workers: int = 0):
        if not address and local_workers < 1:
            raise ValueError("address or local_workers needed")
        self.address = address
        self.local_workers = local_workers
        self.cluster = None
        self.client = None

    def describe(self) -> str:
        """German, for the batch's first line."""
        if self.address:
            return f"Dask-Scheduler {self.address}"
        return f"lokaler Dask-Cluster mit {self.local_workers} Arbeitsprozess(en)"

    def __enter__(self) -> DaskBatch:
        import logging

        from distributed import Client, LocalCluster

        try:
            if self.address:
                try:
                    self.client = Client(self.address, timeout="60s")
                except (OSError, TimeoutError) as exc:
                    raise KitError(f"Der Dask-Scheduler {self.address} ist nicht erreichbar (Option --scheduler); "
                                   "erwartet wird die Adresse eines laufenden Schedulers, z. B. "
                                   "tcp://10.0.0.5:8786.") from exc
            else:
                # loopback only; no dashboard, and the scheduler's plain HTTP endpoint on a free port
                self.cluster = LocalCluster(n_workers=self.local_workers, threads_per_worker=1, processes=True,
                                            host="127.0.0.1", dashboard_address=None,
                                            scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                                            silence_logs=logging.ERROR)
                self.client = Client(self.cluster)
            self.client.register_plugin(_plugin_class()())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def run(self, tasks: list[tuple]) -> Iterator[tuple[tuple, object]]:
        """(task, result) in the order the tasks finish; the result is the exception when the
        task raised or its worker died (the runner records that for the commune)."""
        from distributed import as_completed

        env = {name: os.environ.get(name) for name in SENT_ENV}
        futures = {}
        for task in tasks:
            # pure=False: a new key each time, never the result of an earlier identical task
            fut = self.client.submit(run_task, task, env, pure=False)
            futures[fut] = task
        for fut in as_completed(futures):
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - recorded per commune by the runner
                result = exc
            finally:
                fut.release()
            yield futures[fut], result
