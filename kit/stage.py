"""Common start of every stage notebook: params, output folder, report setup."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from kit import inputs_log
from kit.params import load_params
from kit.errors import KitError, ParamsError, error_record
from kit.report import setup_notebook
from kit.results import ResultStore, atomic_write_text

# Set (e.g. by the test session), this folder replaces a notebook's own `output_dir`, so
# notebooks run with their default parameters (nbval, JupyterLab) write there instead of
# the repository's output/. The batch runner removes it for its kernels: papermill passes
# the output folder explicitly.
OUTPUT_DIR_ENV = "KIT_OUTPUT_DIR"


# The three stages: (id, notebook, German title). The id names the package
# (kit/profile, kit/survey, kit/recommend), the notebook (notebooks/1_profile.ipynb),
# the report (output/<commune>/1_profile.html) and the stage's logs.
STAGES = [
    ("profile", "1_profile.ipynb", "Gebietsprofil"),
    ("survey", "2_survey.ipynb", "Bürgerbefragung"),
    ("recommend", "3_recommend.ipynb", "Handlungsempfehlungen"),
]
STAGE_IDS = tuple(s for s, _, _ in STAGES)


@dataclass
class StageContext:
    params: dict
    store: ResultStore
    output_dir: Path

    @property
    def name(self) -> str:
        return self.params["name"]


def resolve_output_dir(output_dir: str | Path) -> Path:
    """The output folder a stage writes to: $KIT_OUTPUT_DIR when set, else ``output_dir``."""
    return Path(os.environ.get(OUTPUT_DIR_ENV) or output_dir).resolve()


def error_file(output_dir: str | Path, commune_id: str, stage: str) -> Path:
    """output/<commune>/logs/<stage>.error.json: the German message of the KitError that
    stopped the stage (written by the kernel, read by the runner)."""
    return Path(output_dir) / commune_id / "logs" / f"{stage}.error.json"


def write_error_file(path: Path, exc: BaseException) -> None:
    atomic_write_text(path, json.dumps(error_record(exc), ensure_ascii=False, indent=2))


def _register_error_handler(path: Path) -> None:
    """In an IPython kernel: a KitError raised by any later cell is recorded in ``path`` and
    shown as its German message (no traceback). The cell still fails (IPython marks the
    execution as an error, so papermill and nbval stop), the runner reads the message from
    the file and never has to look at exception class names."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def handler(shell, etype, value, tb, tb_offset=None):
        write_error_file(path, value)
        stb = [f"Fehler: {value}"]
        shell._showtraceback(etype, value, stb)  # the error output of the cell, as IPython shows it
        return stb

    shell.set_custom_exc((KitError,), handler)


def open_stage(commune_id: str, params_file: str, output_dir: str, stage: str) -> StageContext:
    out = resolve_output_dir(output_dir)
    safe_id = re.sub(r"[^\w.-]", "_", str(commune_id)) or "_"
    safe_stage = re.sub(r"[^\w.-]", "_", str(stage)) or "_"
    errors = error_file(out, safe_id, safe_stage)
    errors.unlink(missing_ok=True)
    _register_error_handler(errors)  # first: a bad params file is reported the same way
    inputs_log.begin()  # what the readers of this stage assume and repair (kit.inputs_log)
    if stage not in STAGE_IDS:
        raise ParamsError(f"Unbekannte Stufe '{stage}'; erlaubt: {', '.join(STAGE_IDS)}.")
    params = load_params(params_file)
    if params["commune_id"] != commune_id:
        raise ParamsError(
            f"Parameter passen nicht zusammen: commune_id '{commune_id}', aber {params_file} "
            f"beschreibt '{params['commune_id']}'."
        )
    if params.get("demo"):
        from kit.demo import ensure_demo_data  # the generator only for demo communes

        ensure_demo_data(params)
    setup_notebook(out, commune_id, stage)
    return StageContext(params=params, store=ResultStore(out, commune_id, stage=stage), output_dir=out)
