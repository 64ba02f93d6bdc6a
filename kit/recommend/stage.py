"""Stage 3, Handlungsempfehlungen: the measures catalogue applied to the key
indicators of stages 1 and 2, with the prevention activities on record."""

from __future__ import annotations

import pandas as pd

from kit.recommend import gaps as gaps_rec
from kit.recommend.action import compute_action_plan, write_action_plan  # noqa: F401  (action plan, SWOT, comparison)
from kit.recommend import rules as rec
from kit.recommend import catalogue as cat
from kit.recommend.contacts import load_contacts, measure_contacts
from kit.recommend.gaps import CombinedGaps
from kit.indicators import collect_key_indicators
from kit.results import ResultStore


def compute_recommendations(params: dict, store: ResultStore) -> rec.Recommendations:
    """Every measure of the catalogue with its rule results (see kit.recommend.rules.recommend).
    With a survey, the count of the combined gap matrix (:func:`compute_gaps`) is one more finding
    (kit.recommend.gaps.GAP_INDICATOR)."""
    indicators = collect_key_indicators(store)
    gaps = compute_gaps(params, store)
    if gaps is not None and gaps.survey_signals is not None:
        indicators = pd.concat([indicators, gaps_rec.gap_indicator(gaps)], ignore_index=True)
    cfg = params["recommendations"]
    catalogue = rec.load_catalogue(cfg["catalogue"])
    # the commune's overrides (switch off, add, reword), then every indicator id checked
    catalogue, switched_off, origin, reworded = cat.apply_overrides(
        catalogue, cfg, f"Parameterdatei {params.get('params_file', '')}".strip())
    cat.check_indicators(catalogue, params, f"Maßnahmenkatalog {cfg['catalogue']}")
    inventory = store.read_table("prevention_inventory", dtype=str) if store.exists("prevention_inventory") else None
    names = {}
    if store.exists("districts"):
        districts = store.read_table("districts", dtype=str)
        names = dict(zip(districts["district_id"], districts["district_name"]))
    batch = cat.batch_indicators(store.commune_dir.parent, store.commune_dir.name)
    result = rec.recommend(catalogue, indicators, inventory, names, batch=batch, switched_off=switched_off,
                           origin=origin, reworded=reworded)
    contacts = load_contacts(cfg.get("contacts") or "params/contacts.yaml")
    result.contacts = measure_contacts(catalogue, contacts, params.get("ags"), params.get("landkreis"))
    return result


def write_recommendations(result: rec.Recommendations, store: ResultStore) -> None:
    """results/recommendations.csv (one row per measure), recommendation_rules.csv (one row
    per measure x trigger) and recommendation_activities.csv (activities each measure builds on)."""
    store.write_table("recommendations", result.measures)
    store.write_table("recommendation_rules", result.rules)
    store.write_table("recommendation_activities", result.activities)
    if result.contacts is not None:
        store.write_table("recommendation_contacts", result.contacts)


def compute_gaps(params: dict, store: ResultStore) -> CombinedGaps | None:
    """The combined gap matrix (kit.recommend.gaps): the profile's problem signals and, when
    stage 2 has run, the survey's problem indicators above their threshold, against the
    prevention inventory. None when stage 1 recorded no inventory."""
    if not store.exists("prevention_inventory"):
        return None
    inventory = store.read_table("prevention_inventory", dtype=str)
    names = {}
    if store.exists("districts"):
        districts = store.read_table("districts", dtype=str)
        names = dict(zip(districts["district_id"], districts["district_name"]))
    profile = None
    if store.exists("prevention_signals"):
        profile = gaps_rec.read_profile_signals(
            store.read_table("prevention_signals", dtype=str).fillna(""))
    survey = None
    if store.exists("key_indicators_survey") and params.get("survey"):
        from kit.survey.codebook import load_codebook

        estimates = None
        if store.exists("survey_estimates"):
            estimates = store.read_table("survey_estimates", dtype={"item": str, "group_var": str, "group": str,
                                                                    "category": str})
        role = load_codebook(params["survey"]["codebook"], names).role_item("district")
        catalogue = rec.load_catalogue(params["recommendations"]["catalogue"])
        survey = gaps_rec.survey_signals(store.read_table("key_indicators_survey"), estimates,
                                         params["survey"]["key_indicators"], gaps_rec.survey_triggers(catalogue),
                                         {name: did for did, name in names.items()},
                                         role.id if role is not None else None)
    return gaps_rec.combined_gaps(inventory, profile, survey, names)


def write_gaps(gaps: CombinedGaps | None, store: ResultStore) -> None:
    """results/prevention_gaps_combined.csv (topic x district, status codes) and
    prevention_signals_survey.csv (every survey problem indicator checked)."""
    if gaps is None:
        return
    store.write_table("prevention_gaps_combined", gaps.table)
    if gaps.survey_signals is not None:
        store.write_table("prevention_signals_survey", gaps.survey_signals)
