"""Common start of every stage notebook: params, output folder, report setup."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kit.params import load_params
from kit.errors import ParamsError
from kit.report import setup_notebook
from kit.results import ResultStore


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


def open_stage(commune_id: str, params_file: str, output_dir: str, stage: str) -> StageContext:
    if stage not in STAGE_IDS:
        raise ParamsError(f"Unbekannte Stufe '{stage}'; erlaubt: {', '.join(STAGE_IDS)}.")
    params = load_params(params_file)
    if params["commune_id"] != commune_id:
        raise ParamsError(
            f"Parameter passen nicht zusammen: commune_id '{commune_id}', aber {params_file} "
            f"beschreibt '{params['commune_id']}'."
        )
    out = Path(output_dir).resolve()
    setup_notebook(out, commune_id, stage)
    return StageContext(params=params, store=ResultStore(out, commune_id), output_dir=out)
