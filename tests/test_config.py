"""Params loading: defaults merge, unknown keys and bad values are errors."""

import pytest

from kit.params import load_params
from kit.errors import ParamsError

BASE = """commune_id: testort
name: Testort
ags: "14522990"
data_dir: {data}
inputs:
  districts: d.geojson
  residents: r.csv
  pks: p.csv
"""


def write(tmp_path, text):
    path = tmp_path / "testort.yaml"
    path.write_text(text.format(data=tmp_path), encoding="utf-8")
    return path


def test_defaults_are_merged_and_paths_resolved(tmp_path):
    params = load_params(write(tmp_path, BASE + "privacy:\n  min_cell: 10\n"))
    assert params["privacy"]["min_cell"] == 10
    assert params["privacy"]["min_base_percent"] == 30  # from defaults
    assert params["inputs"]["pks"]["path"] == str(tmp_path / "p.csv")
    assert params["inputs"]["pmk"] is None


def test_unknown_key_is_an_error(tmp_path):
    with pytest.raises(ParamsError, match="privacy.min_cel"):
        load_params(write(tmp_path, BASE + "privacy:\n  min_cel: 10\n"))


def test_ags_must_be_saxon(tmp_path):
    with pytest.raises(ParamsError, match="ags"):
        load_params(write(tmp_path, BASE.replace('"14522990"', '"09162000"')))


def test_missing_required_input(tmp_path):
    with pytest.raises(ParamsError, match="inputs.pks"):
        load_params(write(tmp_path, BASE.replace("  pks: p.csv\n", "")))
