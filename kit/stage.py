"""Common start of every stage notebook: params, output folder, report setup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import load_params
from .errors import ParamsError
from .report import setup_notebook
from .results import ResultStore


@dataclass
class StageContext:
    params: dict
    store: ResultStore
    output_dir: Path

    @property
    def name(self) -> str:
        return self.params["name"]


def open_stage(commune_id: str, params_file: str, output_dir: str, stage: str) -> StageContext:
    params = load_params(params_file)
    if params["commune_id"] != commune_id:
        raise ParamsError(
            f"Parameter passen nicht zusammen: commune_id '{commune_id}', aber {params_file} "
            f"beschreibt '{params['commune_id']}'."
        )
    out = Path(output_dir).resolve()
    setup_notebook(out, commune_id, stage)
    return StageContext(params=params, store=ResultStore(out, commune_id), output_dir=out)
