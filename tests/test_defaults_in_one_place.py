"""Defaults live in params/defaults.yaml only: the code takes a setting from the commune's loaded
params, and where it is called without one (partial params), from defaults.yaml through
kit.params.setting, never from a number of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

import kit.params
from kit.errors import ResultError
from kit.params import PARAMS_DIR, CrimeFear, load_params, setting
from kit.results import ResultStore

OTHER_DEFAULTS = {"survey": {"confidence": 0.9, "crime_fear": {"min_units": 11, "batteries": ["Q07", "Q08"]}},
                  "privacy": {"min_cell": 7, "min_base_percent": 40}}


@pytest.fixture
def other_defaults(monkeypatch):
    """defaults.yaml with other values than the shipped file."""
    monkeypatch.setattr(kit.params, "_defaults", lambda: OTHER_DEFAULTS)


def test_crime_fear_settings_have_no_default_in_the_model():
    assert all(info.is_required() for info in CrimeFear.model_fields.values())
    crime_fear = load_params(PARAMS_DIR / "muldenau.yaml")["survey"]["crime_fear"]
    assert crime_fear == setting({}, "survey", "crime_fear")  # from defaults.yaml


def test_setting_prefers_the_params_and_falls_back_to_defaults_yaml(other_defaults):
    assert setting({"survey": {"crime_fear": {"min_units": 9}}}, "survey", "crime_fear", "min_units") == 9
    assert setting({"survey": {}}, "survey", "crime_fear", "min_units") == 11
    assert setting({}, "survey", "crime_fear", "batteries") == ["Q07", "Q08"]


def test_stage3_crime_fear_settings_come_from_the_params_or_defaults_yaml(tmp_path, other_defaults):
    from kit.recommend.action import ActionPlan, _crime_fear_across_communes

    store = ResultStore(tmp_path, "ohne", stage="recommend")
    assert _crime_fear_across_communes({"survey": {}}, store)[2] == (0.9, 11)
    assert _crime_fear_across_communes({"survey": {"confidence": 0.8, "crime_fear": {"min_units": 6}}},
                                       store)[2] == (0.8, 6)
    assert ActionPlan(*[None] * 5).crime_fear_settings == (0.9, 11)


def test_stage2_crime_settings_come_from_the_params_or_defaults_yaml(monkeypatch, other_defaults):
    import kit.survey.crime as crime

    seen = {}

    class Stop(Exception):
        pass

    def battery_comparison(data, weights, codebook, batteries, *rest):
        seen["batteries"] = batteries
        raise Stop

    class Public:
        confidence, night_item, breakdowns, estimates, key_indicators, name, policy = 0.95, None, {}, None, None, "X", None

    monkeypatch.setattr(crime, "battery_comparison", battery_comparison)
    monkeypatch.setattr(crime, "dark_figure", lambda *a: None)
    monkeypatch.setattr(crime, "commune_row", lambda *a: None)

    class Store:  # no stage-1 tables
        commune_dir = Path("x")

        def read_table(self, *a, **k):
            raise ResultError("fehlt")

    for params, expected in (({"survey": {}}, ["Q07", "Q08"]),
                             ({"survey": {"crime_fear": {"batteries": ["Q01", "Q02"]}}}, ["Q01", "Q02"])):
        with pytest.raises(Stop):
            crime.crime_results(params, Store(), None, None, None, Public())
        assert seen["batteries"] == expected


def test_lagebericht_names_the_communes_privacy_thresholds():
    from kit.lagebericht import suppression_text

    text = suppression_text({"privacy": {"min_cell": 7, "min_base_percent": 40}})
    assert "weniger als 7 Personen" in text and "weniger als 40 Personen" in text
    shipped = suppression_text(load_params(PARAMS_DIR / "muldenau.yaml"))
    assert f"weniger als {setting({}, 'privacy', 'min_cell')} Personen" in shipped
