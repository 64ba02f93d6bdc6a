"""Warm kernels: one Jupyter kernel per batch worker process, reused for every stage notebook.

A cold run starts a new kernel for each stage of each commune and imports pandas, matplotlib,
scipy … anew each time (about half of a commune's CPU time). Here each worker process keeps ONE
kernel (jupyter_client's AsyncKernelManager) for its lifetime. Before every notebook the kernel is
reset (kit/warm_reset.py, run inside the kernel: fresh user namespace and execution counter, the
kit's modules re-imported, process state such as the error handler, warning and logging set-up,
matplotlib/pandas/numpy settings, environment and working directory as a cold kernel would have
them). The notebooks themselves are unchanged and run through papermill exactly as before — only
papermill's nbclient engine gets the warm kernel instead of starting its own ("kit_warm" below),
so the executed notebooks and reports are the same as from a cold run.

A kernel that dies, or a stage that exceeds the time limit per cell, is replaced by a new kernel;
the stage fails with a German message (KernelAborted), recorded by the runner like any failure.
The kernel's own output (start-up chatter, low-level warnings) goes to a worker-level file and is
appended to the commune's logs/kernel.log after each stage.

Switch off with KIT_WARM=0 (a new kernel per stage, as before; used by the tests and the benchmark
to compare).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from kit.errors import INTERNAL_KIND, KitError

RESET_MODULE = Path(__file__).with_name("warm_reset.py")
KERNEL_NAME = "python3"
START_TIMEOUT = 120  # seconds for a kernel to start and answer
RESET_TIMEOUT = 120  # seconds for a reset (normally well under one)
WARM_ENV = "KIT_WARM"  # "0": a new kernel for every stage
CELL_TIMEOUT_ENV = "KIT_CELL_TIMEOUT"  # seconds one notebook cell may run (default below)
DEFAULT_CELL_TIMEOUT = 1800


def enabled() -> bool:
    return os.environ.get(WARM_ENV, "1") != "0"


def cell_timeout() -> int:
    try:
        return max(1, int(os.environ.get(CELL_TIMEOUT_ENV, DEFAULT_CELL_TIMEOUT)))
    except ValueError:
        return DEFAULT_CELL_TIMEOUT


class KernelAborted(KitError):
    """The kernel of a stage died or a cell ran past the time limit: the stage is stopped, the
    commune's failure recorded; the worker continues with a new kernel. German message; the
    technical cause (chained) goes to the commune's log."""

    kind = INTERNAL_KIND


def _de_int(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def translate(exc: BaseException, timeout: int) -> KernelAborted | None:
    """The German failure for a dead kernel or a time-out (None for any other exception)."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    if isinstance(exc, DeadKernelError) or (isinstance(exc, RuntimeError) and "Kernel died" in str(exc)):
        return KernelAborted(
            "Der Rechenkern dieser Stufe wurde unerwartet beendet (zum Beispiel, weil der Arbeitsspeicher "
            "nicht reichte); die Stufe wurde abgebrochen. Details in logs/kernel.log.")
    if isinstance(exc, (CellTimeoutError, TimeoutError)):
        return KernelAborted(
            f"Zeitlimit überschritten: ein Schritt dieser Stufe lief länger als {_de_int(timeout)} Sekunden; "
            "die Stufe wurde abgebrochen. Details in logs/kernel.log.")
    return None


def _register_engine() -> str:
    """papermill engine "kit_warm": papermill's nbclient engine, but with the caller's kernel
    manager (a running kernel), and the per-run kernel client closed afterwards (nbclient leaves
    it open when it does not own the kernel)."""
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger
    from papermill.utils import merge_kwargs, remove_args

    class WarmEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, log_output=False, stdout_file=None,
                                     stderr_file=None, start_timeout=60, execution_timeout=None, **kwargs):
            # as NBClientEngine.execute_managed_notebook (papermill 2.x), keeping hold of the client
            failed_path = kwargs.pop("failed_notebook_path", None)
            kwargs = remove_args(["input_path"], **kwargs)
            safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
            final_kwargs = merge_kwargs(
                safe_kwargs, timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
                startup_timeout=start_timeout, kernel_name=kernel_name, log=logger, log_output=log_output,
                stdout_file=stdout_file, stderr_file=stderr_file)
            client = PapermillNotebookClient(nb_man, **final_kwargs)
            try:
                return client.execute()
            except BaseException:
                # papermill writes the notebook only after a normal end (saving after every cell is
                # switched off): a dead kernel or a time-out must still leave it, to show where
                if failed_path:
                    from papermill.iorw import write_ipynb

                    write_ipynb(nb_man.nb, failed_path)
                raise
            finally:
                if client.kc is not None:
                    client.kc.stop_channels()

    papermill_engines.register("kit_warm", WarmEngine)
    return "kit_warm"


class WarmKernel:
    """One kernel, reset before each notebook; restarted when it died or hangs."""

    def __init__(self, cwd: str | Path):
        self.cwd = str(cwd)
        self.km = None
        self.kc = None
        self.started = 0  # how many kernels this object has started (1 + restarts)
        self.runs = 0
        fd, name = tempfile.mkstemp(prefix="kit-kernel-", suffix=".log")
        os.close(fd)
        self._log_path = Path(name)
        self._relayed = 0
        self._engine = _register_engine()

    # -- life cycle --------------------------------------------------------------------------
    def start(self) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self.km = AsyncKernelManager(kernel_name=KERNEL_NAME)
        self._env_at_start = dict(os.environ)  # the runner's (batch) environment the kernel inherits
        with open(self._log_path, "ab") as out:  # the kernel's stdout/stderr, appended
            run_sync(self.km.start_kernel)(cwd=self.cwd, stdout=out, stderr=out)
        self.kc = self.km.blocking_client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=START_TIMEOUT)
        self.started += 1
        self._run_code(
            "import importlib.util as _u, sys as _s\n"
            f"_spec = _u.spec_from_file_location('_kit_warm_reset', {str(RESET_MODULE)!r})\n"
            "_m = _u.module_from_spec(_spec); _s.modules['_kit_warm_reset'] = _m; _spec.loader.exec_module(_m)\n"
            "_m.bootstrap()\n", START_TIMEOUT)

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:  # noqa: BLE001 - closing a broken connection is best effort
                pass
            self.kc = None
        if self.km is not None:
            try:
                if self.km.has_kernel:
                    run_sync(self.km.shutdown_kernel)(now=True)
            except Exception:  # noqa: BLE001 - the process may be gone already
                pass
            self.km = None

    def close(self) -> None:
        self.shutdown()
        self._log_path.unlink(missing_ok=True)

    def restart(self) -> None:
        self.shutdown()
        self.start()

    def alive(self) -> bool:
        from jupyter_core.utils import run_sync

        return self.km is not None and self.km.has_kernel and bool(run_sync(self.km.is_alive)())

    # -- running -----------------------------------------------------------------------------
    def _run_code(self, code: str, timeout: float) -> None:
        reply = self.kc.execute_interactive(code, silent=True, store_history=False, allow_stdin=False,
                                            timeout=timeout, output_hook=lambda msg: None)
        content = reply.get("content", {})
        if content.get("status") != "ok":
            raise RuntimeError("Kernel-Reset fehlgeschlagen: " + "\n".join(content.get("traceback", [])
                                                                        or [str(content.get("evalue", ""))]))

    def reset(self, cwd: str) -> None:
        self._run_code(f"__import__('_kit_warm_reset').reset({cwd!r}, {self._env_at_start!r}, "
                       f"{dict(os.environ)!r})", RESET_TIMEOUT)

    def _ready(self, cwd: str) -> None:
        """A kernel that is alive and reset; one new kernel if that fails."""
        if not self.alive():
            self.restart()
        try:
            self.reset(cwd)
        except Exception:  # noqa: BLE001 - a kernel that cannot reset is replaced
            self.restart()
            self.reset(cwd)

    def execute(self, notebook: Path, executed: Path, parameters: dict, log_file: Path | None = None,
                timeout: int | None = None) -> None:
        """papermill.execute_notebook through this kernel (raises as papermill does, or
        KernelAborted when the kernel died or a cell timed out)."""
        import papermill as pm

        timeout = timeout or cell_timeout()
        cwd = str(Path(notebook).resolve().parent)
        try:
            self._ready(cwd)
            self.runs += 1
            pm.execute_notebook(str(notebook), str(executed), parameters=parameters, kernel_name=KERNEL_NAME,
                                cwd=cwd, progress_bar=False, log_output=False, engine_name=self._engine,
                                km=self.km, execution_timeout=timeout,
                                # the notebook is written once at the end (also after a failure, by
                                # papermill's own finally), not after every cell: ~20 % of a stage's time
                                request_save_on_cell_execute=False, failed_notebook_path=str(executed))
        except Exception as exc:
            aborted = translate(exc, timeout)
            if aborted is not None or not self.alive():
                self.restart()  # the next notebook gets a new kernel
                raise (aborted or translate_dead()) from exc
            raise
        finally:
            self.relay_log(log_file)

    def relay_log(self, log_file: Path | None) -> None:
        """Append what the kernel printed since the last relay to the commune's kernel log."""
        try:
            with open(self._log_path, "rb") as fh:
                fh.seek(self._relayed)
                new = fh.read()
        except OSError:
            return
        self._relayed += len(new)
        if new and log_file is not None:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            with open(log_file, "ab") as out:
                out.write(new)


def translate_dead() -> KernelAborted:
    from nbclient.exceptions import DeadKernelError

    return translate(DeadKernelError("Kernel died"), 0)


# -- one kernel per process -------------------------------------------------------------------
_KERNEL: WarmKernel | None = None
_OWNER = 0  # the process that started _KERNEL


def kernel(cwd: str | Path) -> WarmKernel:
    """This process's warm kernel (started on first use)."""
    global _KERNEL, _OWNER
    if _KERNEL is None or _OWNER != os.getpid():  # a forked worker never drives its parent's kernel
        _KERNEL, _OWNER = WarmKernel(cwd), os.getpid()
        import atexit

        atexit.register(shutdown)
    return _KERNEL


def shutdown() -> None:
    """Stop this process's warm kernel (end of a batch, end of a worker)."""
    global _KERNEL
    if _KERNEL is not None and _OWNER == os.getpid():
        _KERNEL.close()
    _KERNEL = None


def worker_init() -> None:
    """ProcessPoolExecutor initializer: stop the worker's kernel when the worker ends (a worker
    process does not run atexit handlers; multiprocessing's finalizers it does)."""
    from multiprocessing.util import Finalize

    Finalize(None, shutdown, exitpriority=10)


__all__ = ["KernelAborted", "WarmKernel", "cell_timeout", "enabled", "kernel", "shutdown", "translate", "worker_init"]
