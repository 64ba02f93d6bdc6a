"""Kernel side of the warm kernels (kit.warmkernel): runs INSIDE the Jupyter kernel.

kit.warmkernel loads this file into the kernel under the module name ``_kit_warm_reset``
(not ``kit.…``, so the purge below never removes it), calls :func:`bootstrap` once after the
kernel has started and :func:`reset` before every stage notebook. After a reset the kernel is
as a fresh kernel would be for the next notebook, except that the third-party libraries stay
imported (that is the time a warm kernel saves). What is made fresh, and why:

- the user namespace, ``In``/``Out``, the history session and the execution counter
  (IPython's ``reset(new_session=True)``; ``%reset -f`` keeps the counter);
- every module of the kit (``kit`` and ``kit.*``) and every other module imported since the
  bootstrap that is not an installed library (e.g. a helper next to a notebook): removed from
  ``sys.modules``, so the next notebook imports them anew and module state such as the figure
  counter in kit.figures, caches or attributes a notebook set on a module is gone;
- process state that notebooks or the kit change and a fresh kernel would not have: IPython's
  custom exception handler (kit.stage's error-file handler), event callbacks, display
  formatters registered per type, AST transformers; the environment variables (as the runner
  would pass them to a cold kernel now), the working directory, ``sys.path`` and ``sys.argv``;
  warning filters, ``warnings.showwarning`` and the logging configuration (kit.report's warnings
  log handler, which is also closed); matplotlib's figures and rcParams, pandas options, numpy's
  error and print settings; the global random generators of ``random`` and numpy are seeded
  from fresh entropy, as in a new process.

Restoring a snapshot is hand-written here because no library offers "forget what this notebook
did" for a live interpreter; the alternative, a new kernel per stage, is the cost being removed.
"""

from __future__ import annotations

import copy
import gc
import logging
import os
import sys
import sysconfig
import warnings

_BASE: dict = {}
PURGE_PREFIXES = ("kit",)  # package names always re-imported


def _library_roots() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    import site

    roots.update(getattr(site, "getsitepackages", lambda: [])())
    user = getattr(site, "getusersitepackages", lambda: None)()
    if user:
        roots.add(user)
    return tuple(os.path.realpath(r) + os.sep for r in roots if r)


def _loggers() -> dict:
    manager = logging.root.manager
    out = {"": logging.root}
    out.update({name: lg for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)})
    return out


def _logger_state() -> dict:
    return {name: (list(lg.handlers), lg.level, lg.propagate, lg.disabled, list(lg.filters))
            for name, lg in _loggers().items()}


def _formatter_state(shell) -> dict:
    state = {}
    for mime, fmt in shell.display_formatter.formatters.items():
        state[mime] = (dict(getattr(fmt, "type_printers", {})), dict(getattr(fmt, "deferred_printers", {})))
    return state


def bootstrap(warm_imports: tuple[str, ...] = ("numpy", "pandas", "matplotlib", "matplotlib.pyplot")) -> None:
    """Import the heavy libraries once and take the snapshot every reset returns to."""
    import importlib

    for name in warm_imports:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    from IPython import get_ipython

    shell = get_ipython()
    _BASE.clear()
    _BASE.update(
        modules=set(sys.modules), roots=_library_roots(), environ=dict(os.environ), cwd=os.getcwd(),
        path=list(sys.path), argv=list(sys.argv), filters=list(warnings.filters),
        showwarning=warnings.showwarning, loggers=_logger_state(),
        custom_exc=(shell.custom_exceptions, shell.CustomTB) if shell else None,
        events={k: list(v) for k, v in shell.events.callbacks.items()} if shell else {},
        formatters=_formatter_state(shell) if shell else {},
        ast=list(shell.ast_transformers) if shell else [],
    )
    if "matplotlib" in sys.modules:
        import matplotlib

        rc = dict(matplotlib.rcParams.copy())
        rc.pop("backend", None)
        _BASE["rc"] = rc
    if "pandas" in sys.modules:
        from pandas._config import config as pd_config

        _BASE["pandas"] = copy.deepcopy(pd_config._global_config)
    if "numpy" in sys.modules:
        import numpy as np

        _BASE["numpy"] = (np.geterr(), np.get_printoptions())


def _is_library(module, roots) -> bool:
    file = getattr(module, "__file__", None)
    if not file:
        return True  # built-in or namespace package: no code of the project
    return os.path.realpath(file).startswith(roots)


def purge_modules() -> list[str]:
    """Remove the kit's modules and every non-library module imported since the bootstrap."""
    base, roots = _BASE.get("modules", set()), _BASE.get("roots", ())
    gone = []
    for name, module in list(sys.modules.items()):
        own = name.split(".")[0] in PURGE_PREFIXES
        if own or (name not in base and module is not None and not _is_library(module, roots)):
            del sys.modules[name]
            gone.append(name)
    return gone


def _restore_logging() -> None:
    logging.captureWarnings(False)
    saved = _BASE["loggers"]
    for name, lg in _loggers().items():
        handlers, level, propagate, disabled, filters = saved.get(name, ([], logging.NOTSET, True, False, []))
        for h in lg.handlers:
            if h not in handlers:
                try:
                    h.close()
                except Exception:  # noqa: BLE001 - a handler that cannot close must not stop the reset
                    pass
        lg.handlers[:] = handlers
        lg.setLevel(level)
        lg.propagate, lg.disabled = propagate, disabled
        lg.filters[:] = filters


def reset(cwd: str, parent_env_at_start: dict, parent_env_now: dict) -> None:
    """Make the kernel equivalent to a fresh one (see the module text)."""
    from IPython import get_ipython

    shell = get_ipython()
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    if shell is not None:
        shell.reset(new_session=True)
        shell.custom_exceptions, shell.CustomTB = _BASE["custom_exc"]
        for event, callbacks in _BASE["events"].items():
            shell.events.callbacks[event][:] = callbacks
        for mime, (types, deferred) in _BASE["formatters"].items():
            fmt = shell.display_formatter.formatters.get(mime)
            if fmt is not None and hasattr(fmt, "type_printers"):
                fmt.type_printers.clear()
                fmt.type_printers.update(types)
                fmt.deferred_printers.clear()
                fmt.deferred_printers.update(deferred)
        shell.ast_transformers[:] = _BASE["ast"]
    for name in ("last_type", "last_value", "last_traceback", "last_exc"):
        if hasattr(sys, name):
            delattr(sys, name)
    purge_modules()
    # environment as a cold kernel started now would see it: the runner's current environment
    # plus what the kernel launcher itself set (e.g. the inline matplotlib backend)
    own = {k: v for k, v in _BASE["environ"].items() if parent_env_at_start.get(k) != v}
    os.environ.clear()
    os.environ.update({**parent_env_now, **own})
    os.chdir(cwd)
    sys.path[:] = _BASE["path"]
    sys.argv[:] = _BASE["argv"]
    _restore_logging()
    warnings.showwarning = _BASE["showwarning"]
    warnings.filters[:] = _BASE["filters"]
    if hasattr(warnings, "_filters_mutated"):
        warnings._filters_mutated()  # the registries of warnings shown before are void
    if "rc" in _BASE:
        import matplotlib

        if hasattr(matplotlib.rcParams, "_update_raw"):
            matplotlib.rcParams._update_raw(_BASE["rc"])  # as matplotlib's own rc_context restores
        else:
            dict.update(matplotlib.rcParams, _BASE["rc"])
    if "pandas" in _BASE:
        from pandas._config import config as pd_config

        pd_config._global_config.clear()
        pd_config._global_config.update(copy.deepcopy(_BASE["pandas"]))
    if "numpy" in _BASE:
        import numpy as np

        np.seterr(**_BASE["numpy"][0])
        np.set_printoptions(**_BASE["numpy"][1])
        np.random.seed(None)
    import random

    random.seed()
    gc.collect()
