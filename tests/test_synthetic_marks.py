"""Figures computed from an input marked ``synthetic: true`` (kit sachsen: the PKS of 415
communes is Kreis rate x population) are marked where stage 3 and the Lagebericht state them:
the key indicators carry it in their source (stage 1), the rule evidence, the SWOT points and the
comparison table say "synthetisch". A real input's figures are never marked."""

from __future__ import annotations

import math

import pandas as pd

from kit.profile.stage import SOURCE_SYNTHETIC, mark_synthetic_indicators
from kit.profile.view import OFFICIAL_COUNT, REGISTER_COUNT, population_basis
from kit.recommend import view, view_plan


def _indicators() -> pd.DataFrame:
    return pd.DataFrame({
        "indicator": ["profile.population", "profile.hz_mean_000000", "profile.hz_ratio_892000", "profile.pks_rise_000000",
                      "profile.owi_rate_gesamt", "profile.share_under18"],
        "label": ["Einwohner", "HZ", "HZ-Verhältnis", "Anstieg", "OWi", "unter 18"],
        "value": [4813.0, 3823.0, 0.55, 0.0, 12.0, 0.16], "lower": math.nan, "upper": math.nan,
        "unit": ["Personen", "je 100.000 Einw.", "× Referenz", "ja/nein", "je 1.000 Einw.", "Anteil"],
        "source": "Gebietsprofil"})


def _params(**synthetic) -> dict:
    return {"name": "Jahnatal", "inputs": {name: {"path": f"{name}.csv", "synthetic": flag}
                                          for name, flag in synthetic.items()}}


def test_only_the_indicators_of_a_synthetic_input_are_marked():
    out = mark_synthetic_indicators(_indicators(), _params(pks=True, residents=False, owi=False))
    marked = set(out.loc[out["source"] == SOURCE_SYNTHETIC, "indicator"])
    assert marked == {"profile.hz_mean_000000", "profile.hz_ratio_892000", "profile.pks_rise_000000"}
    out = mark_synthetic_indicators(_indicators(), _params(pks=False, residents=True))
    assert set(out.loc[out["source"] == SOURCE_SYNTHETIC, "indicator"]) == {"profile.population", "profile.share_under18"}


def test_real_inputs_and_demo_communes_are_not_marked_figure_by_figure():
    assert (mark_synthetic_indicators(_indicators(), _params(pks=False))["source"] == "Gebietsprofil").all()
    demo = {**_params(pks=True), "demo": True}  # the demo's note says once that all of it is made up
    assert (mark_synthetic_indicators(_indicators(), demo)["source"] == "Gebietsprofil").all()


def _rule(source: str) -> dict:
    return {"indicator": "profile.hz_ratio_892000", "label": "HZ Gewaltkriminalität im Verhältnis zu Sachsen",
            "value": 0.53, "lower": 0.17, "upper": 1.25, "unit": view.RATIO_UNIT, "kind": "threshold", "op": ">",
            "threshold": 1.0, "compared": "lower", "source": source, "evaluable": True, "met": False}


def test_rule_evidence_says_synthetic_only_for_synthetic_sources():
    assert "synthetisch" in view.rule_text(_rule(SOURCE_SYNTHETIC))
    assert "synthetisch" in view.value_text(_rule(SOURCE_SYNTHETIC))
    assert "synthetisch" not in view.rule_text(_rule("Gebietsprofil"))


def test_swot_point_and_comparison_table_say_synthetic():
    point = {"category": "strength", "kind": "reference", "indicator": "profile.hz_ratio_000000",
             "label": "HZ Straftaten insgesamt 2022 im Verhältnis zu Sachsen", "value": 0.55, "lower": 0.48,
             "upper": 0.64, "unit": view.RATIO_UNIT, "compared_with": "reference", "comparison_value": 1.0,
             "comparison_label": "Sachsen", "comparison_year": math.nan, "n": math.nan, "detail": "", "rule": 13}
    assert "synthetisch" in view_plan.swot_point_text(pd.Series({**point, "source": SOURCE_SYNTHETIC}), {})
    assert "synthetisch" not in view_plan.swot_point_text(pd.Series({**point, "source": "Gebietsprofil"}), {})
    comp = pd.DataFrame([{"indicator": "profile.hz_mean_000000", "label": "HZ Straftaten insgesamt", "unit": "je 100.000 Einw.",
                          "value": 3823.0, "lower": math.nan, "upper": math.nan, "n_communes": 1, "batch_min": math.nan,
                          "batch_median": math.nan, "batch_max": math.nan, "rank_desc": 1.0, "batch_communes": "j",
                          "reference_value": 6594.3, "reference_label": "Sachsen", "reference_year": 2022,
                          "reference_source": "", "source": s} for s in (SOURCE_SYNTHETIC, "Gebietsprofil")])
    values = list(view_plan.comparison_table(comp)["value"])
    assert "synthetisch" in values[0] and "synthetisch" not in values[1]


def test_population_basis_names_the_official_estimate_for_destatis_data():
    destatis = {"inputs": {"residents": {"path": "r.csv", "source": "© Statistisches Bundesamt (Destatis), 2022; "
                                                                    "Gemeindeverzeichnis"}}}
    assert population_basis(destatis) == OFFICIAL_COUNT
    assert population_basis({"inputs": {"residents": {"path": "r.csv"}}}) == REGISTER_COUNT
    assert population_basis({}) == REGISTER_COUNT
