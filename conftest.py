"""Test session set-up for tests/ and the nbval runs over notebooks/.

nbval executes the stage notebooks with their default parameters (`output_dir = "../output"`),
in kernels that inherit this process's environment. KIT_OUTPUT_DIR, honoured by
`kit.stage.open_stage`, sends everything those runs write to a temporary folder, so a test run
never touches the repository's own output/ (the analyst's reports). The batch runner removes
the variable for its own kernels: it passes the output folder explicitly.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from kit.stage import OUTPUT_DIR_ENV

# Property tests draw the same examples on every run (CI must not pass or fail by the luck of the
# draw); a failure found once is pinned with @example. HYPOTHESIS_PROFILE=explore draws anew.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO_OUTPUT = Path(__file__).resolve().parent / "output"

_saved: dict[str, str | None] = {}
_LISTING = pytest.StashKey[dict]()


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def pytest_configure(config):
    _saved["env"] = os.environ.get(OUTPUT_DIR_ENV)
    _saved["dir"] = tempfile.mkdtemp(prefix="kit-test-output-")
    os.environ[OUTPUT_DIR_ENV] = _saved["dir"]
    config.stash[_LISTING] = _listing(REPO_OUTPUT)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say so when output/ changed during the session (a notebook run that ignored
    KIT_OUTPUT_DIR, or a `python -m kit demo` running at the same time)."""
    before = config.stash.get(_LISTING, None)
    if before is None:
        return
    after = _listing(REPO_OUTPUT)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        terminalreporter.write_line(
            f"WARNUNG: {len(changed)} Datei(en) in {REPO_OUTPUT} während der Tests verändert, z. B. "
            f"{', '.join(changed[:5])}", yellow=True)


def pytest_unconfigure(config):
    if "dir" in _saved:
        shutil.rmtree(_saved.pop("dir"), ignore_errors=True)
    before = _saved.pop("env", None)
    if before is None:
        os.environ.pop(OUTPUT_DIR_ENV, None)
    else:
        os.environ[OUTPUT_DIR_ENV] = before


# tests/fixtures holds notebooks the tests run through the runner themselves (nbval must not)
collect_ignore_glob = ["tests/fixtures/*"]


@pytest.fixture(autouse=True)
def _close_figures():
    """Figures a test draws without showing them are closed after it, so they do not pile up
    in the test process (matplotlib warns beyond 20 open figures)."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
